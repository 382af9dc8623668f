"""Typed metadata shared by every architecture, and the descriptor the engine reads.

:class:`ModelInfo` is what an architecture says about itself (set by its
constructor); :class:`ModelDescriptor` is what :func:`superres.load_model`
returns: the module plus its info, its model card (when the weights carry one)
and its name. The inference engine reads these typed fields only.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from enum import Enum
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import torch
    from torch import nn

    from ..weights import ModelCard

__all__ = ["Border", "ModelInfo", "ModelDescriptor", "describe", "estimate_bytes_per_lr_pixel",
           "with_card_border"]


class Border(str, Enum):
    """How the image border is treated when the network runs (a property of how its authors run it).

    ``ZERO``: a plain forward pass; each convolution zero-pads, as in the
    original code of the Keras SRGAN course and Real-ESRGAN (``pre_pad=0``), so
    outputs equal the original code's. ``REFLECT``: the whole LR image is
    reflect-padded by ``ModelInfo.border_pad`` pixels, run, and the result
    cropped (our own models: it measured better at the border; see their cards).
    """

    ZERO = "zero"
    REFLECT = "reflect"


def estimate_bytes_per_lr_pixel(channels: int, scale: int) -> int:
    """Rough peak float32 activation bytes per LR pixel of a ``channels``-wide network upscaling
    by ``scale`` (widest tensors: 4*channels at scale/2 resolution, a few alive at once)."""
    return int(4 * channels * 4 * (scale / 2) ** 2 * 3 + 4 * channels * 6)


@dataclass(frozen=True)
class ModelInfo:
    """What the inference engine needs to know about a network.

    Attributes:
        arch: registry name of the architecture (e.g. ``"srresnet"``).
        scale: upscaling factor the network produces natively.
        in_channels / out_channels: image channels in and out (3 = RGB).
        tile_multiple: tile windows start at and span multiples of this many LR pixels
            (pixel-unshuffle networks: their unshuffle factor), so tiling is exact (1 = any).
        receptive_pad: input pixels of context a tile needs on each side for
            its centre to equal the untiled result (a tiling hint, not exact
            for BatchNorm-free deep nets whose receptive field is larger).
        border / border_pad: the border treatment the engine applies (:class:`Border`) and,
            for ``REFLECT``, its width in LR pixels.
        trainable: False for parameter-free interpolation baselines.
        paper: citation of the method.
        bytes_per_lr_pixel: peak working memory per LR pixel (float32), for choosing
            tiles from the memory budget; 0 = unknown (a 64-channel estimate is used).
        tile_hint: an LR tile side measured to run faster than the largest that fits
            the memory budget (its big tensors stay in cache); 0 = none.
    """

    arch: str
    scale: int
    in_channels: int = 3
    out_channels: int = 3
    tile_multiple: int = 1
    receptive_pad: int = 16
    border: Border = Border.REFLECT
    border_pad: int = 8
    trainable: bool = True
    paper: str = ""
    bytes_per_lr_pixel: int = 0
    tile_hint: int = 0

    @property
    def extra(self) -> dict[str, int]:
        """The engine hints as a dict (read-only view, for code written against the old field)."""
        return {k: v for k, v in (("bytes_per_lr_pixel", self.bytes_per_lr_pixel),
                                  ("tile_hint", self.tile_hint)) if v}


@dataclass(frozen=True, eq=False)
class ModelDescriptor:
    """A loaded model: the module with its typed metadata (after spandrel's ``ModelDescriptor``).

    Attributes:
        module: the network (eval mode).
        info: its :class:`ModelInfo`.
        name: registry name, or the weights file's stem.
        card: the :class:`~superres.weights.ModelCard` stored with the weights, if any.

    Calling it runs the module; ``eval()``, ``to()``, ``state_dict()`` and
    ``parameters()`` act on the module, and other attributes (``args``,
    ``training`` ...) are read from it, so code written for the bare module
    keeps working.
    """

    module: nn.Module
    info: ModelInfo
    name: str
    card: ModelCard | None = None

    @property
    def scale(self) -> int:
        return int(self.info.scale)

    @property
    def reduced_precision_ok(self) -> bool:
        """Whether the card records that bf16/fp16 passed the exporter's quality check."""
        return bool(self.card is not None and self.card.extra.get("reduced_precision_ok"))

    @property
    def args(self) -> dict[str, Any]:
        return dict(getattr(self.module, "args", {}))

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        return self.module(x)

    def eval(self) -> ModelDescriptor:
        self.module.eval()
        return self

    def to(self, *args, **kwargs) -> ModelDescriptor:
        self.module.to(*args, **kwargs)
        return self

    def state_dict(self, *args, **kwargs):
        return self.module.state_dict(*args, **kwargs)

    def parameters(self, recurse: bool = True):
        return self.module.parameters(recurse)

    def __getattr__(self, name: str):
        if name == "module":  # not set yet (copy/pickle): no recursion
            raise AttributeError(name)
        return getattr(self.module, name)


def describe(model: Any, name: str | None = None) -> ModelDescriptor:
    """A :class:`ModelDescriptor` for a descriptor (returned as is) or a bare module.

    A bare module needs ``info`` (every superres architecture has it); its
    ``card`` and ``name`` attributes are taken when present.
    """
    if isinstance(model, ModelDescriptor):
        return model
    info = getattr(model, "info", None)
    if not isinstance(info, ModelInfo):
        raise TypeError(f"{type(model).__name__} has no superres ModelInfo (.info); wrap it in a superres "
                        "architecture or pass scale= to Upscaler")
    card = getattr(model, "card", None)
    return ModelDescriptor(model, with_card_border(info, card),
                           name or getattr(model, "name", None) or type(model).__name__, card)


def with_card_border(info: ModelInfo, card: ModelCard | None) -> ModelInfo:
    """``info`` with the border treatment the card records (our own models: the one that measured
    better at export, ``card.extra["border"] = {"treatment": "zero"|"reflect", "pad": N}``), so
    the engine reads it from the typed ``border`` / ``border_pad`` fields; ``info`` unchanged when
    the card records none."""
    chosen = card.extra.get("border") if card is not None else None
    if not isinstance(chosen, dict) or chosen.get("treatment") not in (Border.ZERO.value, Border.REFLECT.value):
        return info
    border = Border(chosen["treatment"])
    return replace(info, border=border, border_pad=0 if border is Border.ZERO else int(chosen.get("pad", 8)))
