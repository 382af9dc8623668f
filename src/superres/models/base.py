"""Typed metadata shared by every architecture (the descriptor the engine reads)."""

from __future__ import annotations

from dataclasses import dataclass, field


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
        trainable: False for parameter-free interpolation baselines.
        paper: citation of the method.
    """

    arch: str
    scale: int
    in_channels: int = 3
    out_channels: int = 3
    tile_multiple: int = 1
    receptive_pad: int = 16
    trainable: bool = True
    paper: str = ""
    extra: dict = field(default_factory=dict)
