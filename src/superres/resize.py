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

__all__ = ["KERNELS", "BicubicProjection", "bicubic_phase_taps", "bicubic_shrink_taps", "imresize", "resize_matrix",
           "symmetric_pad"]


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


# --- the same bicubic resizes as convolutions (any input size in one traced graph) --------------

def bicubic_phase_taps(scale: int) -> torch.Tensor:
    """``(scale, 5)`` float64: row ``p`` weights input pixels ``i-2 .. i+2`` for output pixel
    ``scale*i + p`` of MATLAB's bicubic x``scale`` enlargement (away from the border)."""
    n = 16  # any length >= 5 has an interior row block; the weights do not depend on n there
    m = resize_matrix(n, scale * n, "bicubic", True, torch.float64)
    i = n // 2
    taps = m[scale * i:scale * (i + 1), i - 2:i + 3]
    # all of each row's weight lies inside the 5 taps (the kernel's support is 4 input pixels)
    if not torch.allclose(taps.sum(1), torch.ones(scale, dtype=torch.float64), atol=1e-12):
        raise RuntimeError(f"bicubic x{scale} needs more than 5 taps per phase")
    return taps


def bicubic_shrink_taps(scale: int) -> tuple[torch.Tensor, int]:
    """``(taps, first)``: output pixel ``j`` of MATLAB's antialiased bicubic 1/``scale`` reduction
    is ``taps`` (float64, about 4 * ``scale`` of them) times input pixels ``scale*j + first ..``
    (away from the border; the stretched kernel spans 4 * scale input pixels)."""
    n = 16
    m = resize_matrix(scale * n, n, "bicubic", True, torch.float64)
    j = n // 2
    nz = torch.nonzero(m[j].abs() > 0).ravel()
    lo, hi = int(nz.min()), int(nz.max())
    return m[j, lo:hi + 1].clone(), lo - scale * j


def symmetric_pad(x: torch.Tensor, left: int, right: int, top: int, bottom: int) -> torch.Tensor:
    """Pad the last two axes with MATLAB's 'symmetric' rule (mirror including the edge: x[-1] = x[0]).

    Built from one-pixel slices, so a traced graph (ONNX) keeps any input size; each pad must be at
    most the axis's length."""
    h, w = int(x.shape[-2]), int(x.shape[-1])
    if max(left, right) > w or max(top, bottom) > h:
        raise ValueError(f"a symmetric pad of {max(left, right, top, bottom)} needs an image at least that size, "
                         f"got {h}x{w}")
    cols = [x[..., :, k:k + 1] for k in range(left - 1, -1, -1)] + [x]
    cols += [x[..., :, -1 - k:(-k or None)] for k in range(right)]  # from the end: no size in the graph
    x = torch.cat(cols, dim=-1) if left or right else x
    rows = [x[..., k:k + 1, :] for k in range(top - 1, -1, -1)] + [x]
    rows += [x[..., -1 - k:(-k or None), :] for k in range(bottom)]
    return torch.cat(rows, dim=-2) if top or bottom else x


class BicubicProjection(torch.nn.Module):
    """``sr + enlarge(lr - shrink(sr))``: one back-projection step (Irani & Peleg 1991) with the
    training degradation (MATLAB's antialiased bicubic 1/``scale``) and bicubic x``scale``.

    It puts the input's low frequencies back into an x``scale`` output: wherever ``shrink(sr)``
    differs from ``lr`` only smoothly (a flat colour that drifted, a cast), the step removes the
    difference exactly, while detail above the input's resolution, which ``shrink`` averages
    away, is left as it is. Bahat & Michaeli (CVPR 2020, "Explorable Super Resolution") append
    such a consistency layer to GAN generators, and train through it, so that the network spends
    itself on detail only. Parameter-free; its two resizes are depthwise convolutions on
    symmetric padding, equal to :func:`imresize`'s (border included), computed in float32, so
    a traced graph keeps dynamic sizes. Inputs under 2 pixels on a side take :func:`imresize`.
    """

    def __init__(self, scale: int, channels: int = 3) -> None:
        super().__init__()
        self.scale, self.channels = int(scale), int(channels)
        s, c = self.scale, self.channels
        down, first = bicubic_shrink_taps(s)
        self.pad = (-first, len(down) - s + first)  # before, after: len(down) - s in all
        down = down.float()
        self.register_buffer("down_w", down.reshape(1, 1, 1, -1).repeat(c, 1, 1, 1), persistent=False)
        self.register_buffer("down_h", down.reshape(1, 1, -1, 1).repeat(c, 1, 1, 1), persistent=False)
        taps = bicubic_phase_taps(s)  # (s, 5)
        k = (taps[:, None, :, None] * taps[None, :, None, :]).reshape(s * s, 1, 5, 5)  # phase p*s + q
        self.register_buffer("up", k.float().repeat(c, 1, 1, 1), persistent=False)  # ch*s*s + p*s + q

    @classmethod
    def ending(cls, project: bool, scale: int, in_channels: int, out_channels: int) -> "BicubicProjection | None":
        """The projection a generator with ``project`` ends with, or None; the one check for its
        channel counts (it pulls the output toward the input, so they must match)."""
        if not project:
            return None
        if in_channels != out_channels:
            raise ValueError(f"project=True needs as many output channels as input channels "
                             f"(got {in_channels} in, {out_channels} out); leave project off")
        return cls(scale, out_channels)

    def shrink(self, sr: torch.Tensor) -> torch.Tensor:
        """MATLAB ``imresize(sr, 1/scale, 'bicubic')`` (float32)."""
        s = self.scale
        a, b = self.pad
        x = symmetric_pad(sr, a, b, a, b)
        x = torch.nn.functional.conv2d(x, self.down_w, stride=(1, s), groups=self.channels)
        return torch.nn.functional.conv2d(x, self.down_h, stride=(s, 1), groups=self.channels)

    def enlarge(self, lr: torch.Tensor) -> torch.Tensor:
        """MATLAB ``imresize(lr, scale, 'bicubic')`` (float32)."""
        y = torch.nn.functional.conv2d(symmetric_pad(lr, 2, 2, 2, 2), self.up, groups=self.channels)
        return torch.nn.functional.pixel_shuffle(y, self.scale)

    def forward(self, sr: torch.Tensor, lr: torch.Tensor) -> torch.Tensor:
        h, w = int(lr.shape[-2]), int(lr.shape[-1])
        dtype = sr.dtype
        sr, lr = sr.float(), lr.float()
        if h < 2 or w < 2:
            return (sr + imresize(lr - imresize(sr, size=(h, w)), size=tuple(sr.shape[-2:]))).to(dtype)
        with torch.autocast(sr.device.type, enabled=False):
            return (sr + self.enlarge(lr - self.shrink(sr))).to(dtype)
