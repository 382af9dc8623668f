"""Image resizing that matches MATLAB's ``imresize``.

SR papers make their LR images with MATLAB ``imresize(hr, 1/4, 'bicubic')``:
the Keys cubic kernel (a = -0.5), antialiasing when shrinking (the kernel is
stretched by 1/scale), and symmetric (mirror) padding at the borders. Benchmarks
such as Set5/Set14 ``LR_bicubic_x4`` were made that way, so training pairs must
be too, or a model learns the wrong degradation.

The resize is separable: for each axis we build a dense ``(out, in)`` weight
matrix once and apply it as a matrix product. That is exact, works on any
device, and is fast for the sizes we use (a 2040 px axis gives a 510x2040
matrix).

Kernels: ``nearest`` (box), ``bilinear`` (triangle), ``bicubic`` (Keys, a=-0.5),
``lanczos`` (Lanczos-3).
"""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np
import torch

__all__ = ["KERNELS", "imresize", "resize_matrix"]


def _cubic(x: np.ndarray) -> np.ndarray:
    a = -0.5
    ax = np.abs(x)
    ax2, ax3 = ax * ax, ax * ax * ax
    return ((a + 2) * ax3 - (a + 3) * ax2 + 1) * (ax <= 1) + (
        a * ax3 - 5 * a * ax2 + 8 * a * ax - 4 * a
    ) * ((ax > 1) & (ax <= 2))


def _triangle(x: np.ndarray) -> np.ndarray:
    ax = np.abs(x)
    return (1 - ax) * (ax <= 1)


def _box(x: np.ndarray) -> np.ndarray:
    return ((x >= -0.5) & (x < 0.5)).astype(np.float64)


def _lanczos3(x: np.ndarray) -> np.ndarray:
    out = np.sinc(x) * np.sinc(x / 3.0)
    return out * (np.abs(x) < 3)


#: name -> (kernel function, kernel width in input pixels at scale 1)
KERNELS = {
    "nearest": (_box, 1.0),
    "bilinear": (_triangle, 2.0),
    "bicubic": (_cubic, 4.0),
    "lanczos": (_lanczos3, 6.0),
}


@lru_cache(maxsize=64)
def _matrix_np(in_len: int, out_len: int, kernel: str, antialias: bool) -> np.ndarray:
    if kernel not in KERNELS:
        raise ValueError(f"unknown kernel {kernel!r}; choose from {', '.join(KERNELS)}")
    fn, width = KERNELS[kernel]
    scale = out_len / in_len
    if scale < 1 and antialias and kernel != "nearest":
        h = lambda x: scale * fn(scale * x)  # noqa: E731 - stretched kernel
        width = width / scale
    else:
        h = fn
    # MATLAB's contributions(): output pixel x (1-based) maps to input u.
    x = np.arange(1, out_len + 1, dtype=np.float64)
    u = x / scale + 0.5 * (1 - 1 / scale)
    left = np.floor(u - width / 2)
    taps = int(math.ceil(width)) + 2
    idx = left[:, None] + np.arange(taps)[None, :]  # 1-based input indices
    if kernel == "nearest":
        # MATLAB's box kernel picks exactly one pixel; avoid half-open ties.
        first = np.argmax(np.abs(u[:, None] - idx) < 0.5 + 1e-9, axis=1)
        w = np.zeros(idx.shape)
        w[np.arange(out_len), first] = 1.0
    else:
        w = h(u[:, None] - idx)
    w = w / w.sum(axis=1, keepdims=True)
    # symmetric padding: mirror out-of-range indices back into [1, in_len]
    mirror = np.concatenate([np.arange(1, in_len + 1), np.arange(in_len, 0, -1)])
    idx0 = mirror[np.mod(idx - 1, 2 * in_len).astype(np.int64)] - 1
    m = np.zeros((out_len, in_len), dtype=np.float64)
    np.add.at(m, (np.repeat(np.arange(out_len), taps), idx0.ravel()), w.ravel())
    return m


def resize_matrix(in_len: int, out_len: int, kernel: str = "bicubic", antialias: bool = True,
                  dtype: torch.dtype = torch.float32, device: torch.device | str = "cpu") -> torch.Tensor:
    """The ``(out_len, in_len)`` weight matrix that resizes one axis."""
    return torch.from_numpy(_matrix_np(in_len, out_len, kernel, antialias)).to(device=device, dtype=dtype)


def imresize(x: torch.Tensor, scale: float | None = None, size: tuple[int, int] | None = None,
             kernel: str = "bicubic", antialias: bool = True) -> torch.Tensor:
    """Resize a ``(..., H, W)`` float tensor like MATLAB ``imresize``.

    Give either ``scale`` (output size = ceil(H * scale), as MATLAB does) or
    ``size=(out_h, out_w)``. The result is not clamped or rounded: bicubic and
    Lanczos overshoot slightly, and callers that need [0, 1] clamp themselves.
    """
    if (scale is None) == (size is None):
        raise ValueError("give exactly one of scale or size")
    h, w = int(x.shape[-2]), int(x.shape[-1])  # plain ints, also under tracing (ONNX export)
    if size is None:
        out_h, out_w = int(math.ceil(h * scale - 1e-9)), int(math.ceil(w * scale - 1e-9))
    else:
        out_h, out_w = size
    if out_h < 1 or out_w < 1:
        raise ValueError(f"resize of {h}x{w} gives an empty image ({out_h}x{out_w})")
    compute = x.dtype if x.dtype in (torch.float32, torch.float64) else torch.float32
    y = x.to(compute)
    # MATLAB resizes the axis with the smaller scale first; equal scales: rows first.
    if out_h != h or kernel == "nearest":
        mh = resize_matrix(h, out_h, kernel, antialias, compute, x.device)
        y = torch.matmul(mh, y)
    if out_w != w or kernel == "nearest":
        mw = resize_matrix(w, out_w, kernel, antialias, compute, x.device)
        y = torch.matmul(y, mw.T)
    return y.to(x.dtype) if x.dtype.is_floating_point else y
