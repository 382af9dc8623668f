"""Tiny line charts drawn with Pillow (no matplotlib dependency)."""

from __future__ import annotations

import math

from PIL import Image, ImageDraw

__all__ = ["line_chart"]

_COLOURS = [(31, 119, 180), (255, 127, 14), (44, 160, 44), (214, 39, 40), (148, 103, 189), (140, 86, 75)]


def line_chart(series: dict[str, list[tuple[float, float]]], title: str = "", xlabel: str = "step",
               size: tuple[int, int] = (640, 360), log_y: bool = False) -> Image.Image:
    """A chart of named (x, y) series; returns an RGB image."""
    w, h = size
    im = Image.new("RGB", size, "white")
    d = ImageDraw.Draw(im)
    left, right, top, bottom = 64, 16, 28, 40
    pts = [(x, y) for s in series.values() for x, y in s if y is not None and math.isfinite(y)
           and (not log_y or y > 0)]
    d.text((left, 6), title, fill="black")
    if not pts:
        d.text((left, h // 2), "no data yet", fill="gray")
        return im
    fy = (lambda v: math.log10(v)) if log_y else (lambda v: v)
    x0, x1 = min(p[0] for p in pts), max(p[0] for p in pts)
    y0, y1 = min(fy(p[1]) for p in pts), max(fy(p[1]) for p in pts)
    if x1 == x0:
        x1 = x0 + 1
    if y1 == y0:
        y1 = y0 + 1e-9 + abs(y0) * 0.01
    sx = lambda v: left + (v - x0) / (x1 - x0) * (w - left - right)  # noqa: E731
    sy = lambda v: h - bottom - (fy(v) - y0) / (y1 - y0) * (h - top - bottom)  # noqa: E731
    d.rectangle([left, top, w - right, h - bottom], outline=(180, 180, 180))
    for i in range(5):
        yv = y0 + (y1 - y0) * i / 4
        yy = h - bottom - (h - top - bottom) * i / 4
        label = f"{10 ** yv:.3g}" if log_y else f"{yv:.4g}"
        d.text((4, yy - 6), label, fill="black")
        d.line([left, yy, w - right, yy], fill=(235, 235, 235))
    d.text((left, h - bottom + 6), f"{x0:g}", fill="black")
    d.text((w - right - 60, h - bottom + 6), f"{x1:g} {xlabel}", fill="black")
    for i, (name, s) in enumerate(series.items()):
        c = _COLOURS[i % len(_COLOURS)]
        ok = [(sx(x), sy(y)) for x, y in s if y is not None and math.isfinite(y) and (not log_y or y > 0)]
        if len(ok) > 1:
            d.line(ok, fill=c, width=2)
        elif ok:
            d.ellipse([ok[0][0] - 2, ok[0][1] - 2, ok[0][0] + 2, ok[0][1] + 2], fill=c)
        d.text((left + 8 + 110 * i, top + 4), name, fill=c)
    return im
