"""Image quality metrics as the SR literature reports them.

PSNR and SSIM are computed on the Y channel of YCbCr (ITU-R BT.601, studio
range: ``Y = 16 + 65.481 R + 128.553 G + 24.966 B`` for RGB in [0, 1]) after
rounding both images to 8 bits and shaving ``shave`` pixels of border (the
scale factor, by convention). SSIM follows Wang et al. 2004 / the reference
MATLAB code: 11x11 Gaussian window (sigma 1.5), K1 = 0.01, K2 = 0.03, L = 255,
'valid' filtering. ``y_channel=False`` gives the RGB variants (mean over
channels).

Inputs are NumPy arrays (H, W, 3) uint8 or float in [0, 1], or torch tensors
(3, H, W) / (1, 3, H, W) in [0, 1].
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch.nn import functional as F

__all__ = ["psnr", "ssim", "rgb_to_y", "to_uint8_array"]


def to_uint8_array(img) -> np.ndarray:
    """(H, W, C) float64 array of 8-bit values (rounded) from any supported input."""
    if isinstance(img, torch.Tensor):
        t = img.detach().float().cpu()
        if t.ndim == 4:
            if t.shape[0] != 1:
                raise ValueError("metrics take one image, not a batch")
            t = t[0]
        arr = (t.clamp(0, 1) * 255.0).round().permute(1, 2, 0).numpy()
    else:
        arr = np.asarray(img)
        if arr.dtype == np.uint8:
            arr = arr.astype(np.float64)
        elif arr.dtype == np.uint16:
            arr = np.round(arr.astype(np.float64) / 257.0)
        else:
            arr = np.round(np.clip(arr.astype(np.float64), 0, 1) * 255.0)
        if arr.ndim == 2:
            arr = arr[:, :, None]
    return arr.astype(np.float64)


def rgb_to_y(arr: np.ndarray) -> np.ndarray:
    """BT.601 luma of an 8-bit-valued RGB array, range [16, 235]."""
    if arr.shape[2] == 1:
        return arr[:, :, 0]
    return 16.0 + (65.481 * arr[:, :, 0] + 128.553 * arr[:, :, 1] + 24.966 * arr[:, :, 2]) / 255.0


def _prepare(a, b, shave: int, y_channel: bool) -> tuple[np.ndarray, np.ndarray]:
    a, b = to_uint8_array(a), to_uint8_array(b)
    if a.shape != b.shape:
        raise ValueError(f"images differ in size: {a.shape} vs {b.shape}")
    if y_channel:
        a, b = rgb_to_y(a)[:, :, None], rgb_to_y(b)[:, :, None]
    if shave:
        if a.shape[0] <= 2 * shave or a.shape[1] <= 2 * shave:
            raise ValueError(f"image {a.shape[1]}x{a.shape[0]} too small to shave {shave} px")
        a, b = a[shave:-shave, shave:-shave], b[shave:-shave, shave:-shave]
    return a, b


def psnr(a, b, shave: int = 4, y_channel: bool = True) -> float:
    """PSNR in dB (inf for identical images)."""
    a, b = _prepare(a, b, shave, y_channel)
    mse = float(np.mean((a - b) ** 2))
    return math.inf if mse == 0 else 10.0 * math.log10(255.0**2 / mse)


def _gaussian_1d(size: int = 11, sigma: float = 1.5) -> torch.Tensor:
    x = torch.arange(size, dtype=torch.float64) - (size - 1) / 2
    g = torch.exp(-(x**2) / (2 * sigma**2))
    return g / g.sum()


def _gaussian_window(size: int = 11, sigma: float = 1.5) -> torch.Tensor:
    """The 2-D window (outer product of the 1-D Gaussian), shape (1, 1, size, size)."""
    g = _gaussian_1d(size, sigma)
    return (g[:, None] * g[None, :])[None, None]


def _filter_valid(t: torch.Tensor, g: torch.Tensor) -> torch.Tensor:
    """'Valid' 2-D Gaussian filtering of (N, H, W), separably: the same sums as the 2-D
    window, several times faster."""
    t = F.conv2d(t[:, None], g.view(1, 1, -1, 1))
    return F.conv2d(t, g.view(1, 1, 1, -1))[:, 0]


def ssim(a, b, shave: int = 4, y_channel: bool = True) -> float:
    """Mean SSIM (Wang et al. 2004), averaged over channels for RGB."""
    a, b = _prepare(a, b, shave, y_channel)
    if min(a.shape[:2]) < 11:
        raise ValueError("SSIM needs images of at least 11x11 after shaving")
    g = _gaussian_1d()
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
    vals = []
    for c in range(a.shape[2]):
        x = torch.from_numpy(np.ascontiguousarray(a[:, :, c]))
        y = torch.from_numpy(np.ascontiguousarray(b[:, :, c]))
        # the five local statistics in one batch: E[x], E[y], E[x^2], E[y^2], E[xy]
        stats = _filter_valid(torch.stack([x, y, x * x, y * y, x * y]), g)
        mu_x, mu_y = stats[0], stats[1]
        sxx = stats[2] - mu_x**2
        syy = stats[3] - mu_y**2
        sxy = stats[4] - mu_x * mu_y
        m = ((2 * mu_x * mu_y + c1) * (2 * sxy + c2)) / ((mu_x**2 + mu_y**2 + c1) * (sxx + syy + c2))
        vals.append(float(m.mean()))
    return float(np.mean(vals))
