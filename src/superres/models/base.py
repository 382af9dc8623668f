"""Typed metadata shared by every architecture (the descriptor the engine reads)."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum


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


@dataclass(frozen=True)
class ModelInfo:
    """What the inference engine needs to know about a network.

    Attributes:
        arch: registry name of the architecture (e.g. ``"srresnet"``).
        scale: upscaling factor the network produces natively.
        in_channels / out_channels: image channels in and out (3 = RGB).
        tile_multiple: tile sizes should be a multiple of this (1 = any).
        receptive_pad: input pixels of context a tile needs on each side for
            its centre to equal the untiled result (a tiling hint, not exact
            for BatchNorm-free deep nets whose receptive field is larger).
        border / border_pad: the border treatment the engine applies (:class:`Border`) and,
            for ``REFLECT``, its width in LR pixels.
        trainable: False for parameter-free interpolation baselines.
        paper: citation of the method.
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
    extra: dict = field(default_factory=dict)
