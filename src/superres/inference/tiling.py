"""Tiling maths, free of torch: where to read each tile and what to paste back.

A tile's *core* is the part of the LR image it is responsible for; its
*window* is the core plus ``pad`` pixels of context on each side, read from
the image. The network runs on the window and only the output of the core is
pasted, so tile borders see the same context the untiled network would (up to
``pad``), and no seam appears. Windows at the image border are shifted inwards
rather than shrunk, so every window has the same size and tiles can be batched.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

__all__ = ["Tile", "plan_tiles", "axis_spans"]


@dataclass(frozen=True)
class Tile:
    """One tile, all coordinates half-open, in LR pixels unless noted."""

    win_y: tuple[int, int]  # window rows read from the (pre-padded) LR image
    win_x: tuple[int, int]
    core_y: tuple[int, int]  # core rows in the LR image
    core_x: tuple[int, int]

    def crop(self, scale: int) -> tuple[slice, slice]:
        """Slices of the window's *output* that hold the core."""
        return (slice((self.core_y[0] - self.win_y[0]) * scale, (self.core_y[1] - self.win_y[0]) * scale),
                slice((self.core_x[0] - self.win_x[0]) * scale, (self.core_x[1] - self.win_x[0]) * scale))

    def paste(self, scale: int) -> tuple[slice, slice]:
        """Slices of the full output where the core goes."""
        return (slice(self.core_y[0] * scale, self.core_y[1] * scale),
                slice(self.core_x[0] * scale, self.core_x[1] * scale))

    @property
    def window_shape(self) -> tuple[int, int]:
        return self.win_y[1] - self.win_y[0], self.win_x[1] - self.win_x[0]


def axis_spans(length: int, tile: int, pad: int, multiple: int = 1) -> list[tuple[tuple[int, int], tuple[int, int]]]:
    """(window, core) spans along one axis of ``length`` pixels.

    Cores are balanced (ceil(length / n) each, last one shorter) and cover the
    axis exactly once; every window is ``core + 2 * pad`` long (or the whole axis
    when that is shorter), shifted inwards at the ends. With ``multiple`` > 1
    (a pixel-unshuffle network's factor) cores, pads and window starts are
    multiples of it, so every window sees the same pixel grid as the whole
    image; the last window then reaches the end of the axis and may be up to
    ``multiple - 1`` pixels longer than the others.
    """
    if length <= 0 or tile <= 0 or pad < 0 or multiple < 1:
        raise ValueError(f"bad tiling: length={length}, tile={tile}, pad={pad}, multiple={multiple}")
    m = int(multiple)
    n = max(1, math.ceil(length / tile))
    core = -(-math.ceil(length / n) // m) * m
    pad = -(-pad // m) * m
    win = min(length, core + 2 * pad)
    spans = []
    for i in range(n):
        c0, c1 = i * core, min(length, (i + 1) * core)
        if c0 >= c1:
            break
        w0 = min(max(0, c0 - pad), length - win)
        w1 = w0 + win
        w0 -= w0 % m  # only when shifted in from the end; the window still ends there
        spans.append(((w0, w1), (c0, c1)))
    return spans


def plan_tiles(height: int, width: int, tile: int, pad: int, multiple: int = 1) -> list[Tile]:
    """All tiles for an LR image of ``height`` x ``width``, row-major (see :func:`axis_spans`)."""
    return [Tile(wy, wx, cy, cx)
            for wy, cy in axis_spans(height, tile, pad, multiple)
            for wx, cx in axis_spans(width, tile, pad, multiple)]
