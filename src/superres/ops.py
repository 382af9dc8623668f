"""Pure image operations on NumPy arrays: resizing, degrading, enlarging, bleeding colour.

The lowest layer of the package above :mod:`superres.resize` (MATLAB-style
``imresize``): NumPy and torch only, no file I/O, no models. Everything that
resizes or degrades an image (the API, the animation pipeline, compare,
evaluate and training) uses these functions, so one convention holds
everywhere; in particular :func:`degrade` is *the* LR image of a benchmark or
training pair.
"""

from __future__ import annotations

import numpy as np
import torch

from .resize import imresize

__all__ = ["resize_array", "degrade", "enlarge", "enlarge_nearest", "bleed"]


def resize_array(arr: np.ndarray, size: tuple[int, int], kernel: str = "bicubic") -> np.ndarray:
    """Resize an (H, W[, C]) uint8/uint16/float array to ``size`` = (width, height)."""
    w, h = size
    squeeze = arr.ndim == 2
    a = arr[:, :, None] if squeeze else arr
    maxval = {np.dtype(np.uint8): 255.0, np.dtype(np.uint16): 65535.0}.get(a.dtype)
    out = np.empty((h, w, a.shape[2]), dtype=a.dtype)
    for c in range(a.shape[2]):  # one channel at a time bounds the float copy
        t = torch.from_numpy(np.ascontiguousarray(a[:, :, c])).float()
        if maxval:
            t = t / maxval
        r = imresize(t, size=(h, w), kernel=kernel).clamp_(0, 1)
        out[:, :, c] = (r * maxval).round_().numpy().astype(a.dtype) if maxval else r.numpy().astype(a.dtype)
    return out[:, :, 0] if squeeze else out


def _to_uint8(t: torch.Tensor) -> np.ndarray:
    return t.round().clamp(0, 255).to(torch.uint8).permute(1, 2, 0).numpy()


def degrade(hr: np.ndarray, scale: int) -> np.ndarray:
    """The LR image of a pair: MATLAB bicubic x1/scale of an (H, W, 3) uint8 image
    (H, W multiples of scale), as the benchmark ``LR_bicubic_xN`` sets are made."""
    t = torch.from_numpy(np.array(hr, copy=True)).permute(2, 0, 1).to(torch.float32)
    return _to_uint8(imresize(t, scale=1.0 / scale, kernel="bicubic"))


def enlarge(lr: np.ndarray, scale: int) -> np.ndarray:
    """MATLAB bicubic x``scale`` of an (h, w, 3) uint8 image (SRCNN's input)."""
    t = torch.from_numpy(np.array(lr, copy=True)).permute(2, 0, 1).to(torch.float32)
    return _to_uint8(imresize(t, scale=float(scale), kernel="bicubic"))


def enlarge_nearest(a: np.ndarray, s: int) -> np.ndarray:
    """Nearest-neighbour enlargement of the first two axes by ``s`` (shows the pixels)."""
    return np.repeat(np.repeat(a, s, axis=0), s, axis=1)


def bleed(rgb: np.ndarray, alpha: np.ndarray | None, steps: int = 8) -> np.ndarray:
    """``rgb`` with the colour under fully transparent pixels spread in from the nearest visible ones.

    A composed GIF is black under its transparent pixels; upscaled as it is, that
    black bleeds into the visible edges as a dark fringe. Each step gives the
    transparent pixels next to known ones the mean of those neighbours; what is
    left after ``steps`` gets the mean visible colour. Visible pixels are unchanged.
    """
    if alpha is None:
        return rgb
    known = alpha > 0
    if known.all() or not known.any():
        return rgb
    out = rgb.astype(np.float64 if rgb.dtype == np.uint16 else np.float32)
    h, w = known.shape
    for _ in range(steps):
        acc = np.zeros_like(out)
        cnt = np.zeros((h, w), np.float32)
        kv = out * known[:, :, None]
        for (ys, yd), (xs, xd) in (((slice(None), slice(None)), (slice(1, None), slice(None, -1))),
                                   ((slice(None), slice(None)), (slice(None, -1), slice(1, None))),
                                   ((slice(1, None), slice(None, -1)), (slice(None), slice(None))),
                                   ((slice(None, -1), slice(1, None)), (slice(None), slice(None)))):
            acc[yd, xd] += kv[ys, xs]
            cnt[yd, xd] += known[ys, xs]
        new = ~known & (cnt > 0)
        if not new.any():
            break
        out[new] = acc[new] / cnt[new][:, None]
        known = known | new
    if not known.all():
        out[~known] = out[known].mean(axis=0)
    res = np.round(out).astype(rgb.dtype)  # keep the bit depth (uint8 or uint16)
    res[alpha > 0] = rgb[alpha > 0]
    return res
