"""Side-by-side animation frames: [input enlarged with nearest | panel | panel ...] with a label bar."""

from __future__ import annotations

import numpy as np

from ..io.frames import Frame
from ..ops import enlarge_nearest

__all__ = ["CompareBuilder"]


class CompareBuilder:
    """Side-by-side frames: [input enlarged with nearest | panel | panel ...], with a label bar.

    Every panel is shown at the output size, so the low- and high-resolution
    versions appear at the same width.
    """

    GAP = 4  # pixels between panels

    def __init__(self, scale: int, lr_size: tuple[int, int], labels: list[str]) -> None:
        from PIL import Image, ImageDraw, ImageFont

        self.scale = scale
        w, h = lr_size
        self.pw, self.ph = w * scale, h * scale
        self.labels = labels
        n = len(labels)
        self.width = n * self.pw + (n - 1) * self.GAP
        size = int(max(10, min(22, self.pw // 12)))
        try:
            font = ImageFont.load_default(size=size)
        except TypeError:  # pragma: no cover - Pillow without FreeType sizing
            font = ImageFont.load_default()
        self.bar_h = size + 10
        self.height = self.ph + self.bar_h
        bar = Image.new("RGB", (self.width, self.bar_h), (32, 32, 32))
        draw = ImageDraw.Draw(bar)
        for i, text in enumerate(labels):
            x0 = i * (self.pw + self.GAP)
            while text and draw.textlength(text, font=font) > self.pw - 8:
                text = text[:-2] + "…" if len(text) > 2 else ""
            tw = draw.textlength(text, font=font)
            draw.text((x0 + (self.pw - tw) / 2, 4), text, fill=(255, 255, 255), font=font)
        self.bar = np.asarray(bar)

    def __call__(self, lr: Frame, panels: list[Frame]) -> Frame:
        rgb = np.full((self.height, self.width, 3), 32, np.uint8)
        rgb[:self.bar_h] = self.bar
        has_alpha = lr.alpha is not None or any(p.alpha is not None for p in panels)
        alpha = np.full((self.height, self.width), 255, np.uint8) if has_alpha else None
        near = Frame(enlarge_nearest(lr.rgb, self.scale), enlarge_nearest(lr.alpha, self.scale) if lr.alpha is not None else None)
        for i, p in enumerate([near, *panels]):
            x0 = i * (self.pw + self.GAP)
            rgb[self.bar_h:, x0:x0 + self.pw] = p.rgb
            if alpha is not None and p.alpha is not None:
                alpha[self.bar_h:, x0:x0 + self.pw] = p.alpha
        return Frame(rgb, alpha, lr.duration_ms, lr.index)
