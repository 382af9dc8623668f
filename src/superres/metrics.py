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

:func:`score` is the one place an SR result is scored against its original
(``superres eval``, ``superres compare`` and training validation all call it):
PSNR-Y and SSIM-Y as above, and LPIPS on the same shaved, 8-bit-rounded RGB
images.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import torch
from torch.nn import functional as F

__all__ = ["psnr", "ssim", "rgb_to_y", "to_uint8_array", "score", "Scores"]


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


@dataclass
class Scores:
    """What :func:`score` measured; a metric that could not be computed is None, with the reason in ``errors``."""

    psnr: float | None = None
    ssim: float | None = None
    lpips: float | None = None
    errors: dict[str, str] = field(default_factory=dict)  # metric -> why it is missing


def score(sr, hr, shave: int = 4, *, lpips=None, y_channel: bool = True) -> Scores:
    """PSNR, SSIM and LPIPS of an SR result against its original, by the literature's conventions.

    Both images are rounded to 8 bits and ``shave`` pixels of border are dropped
    (the scale, by convention); PSNR/SSIM are on BT.601 luma (RGB with
    ``y_channel=False``), LPIPS on the RGB images. ``lpips``: None (not computed);
    a callable taking the two shaved (H, W, 3) uint8 arrays (SR first) and returning
    a distance, such as :func:`superres.lpips.lpips_distance`; or an LPIPS module
    (:class:`superres.lpips.LPIPS`), run on them as tensors in [0, 1] on its device.
    A metric that cannot be computed (image too small, LPIPS input rejected) is None
    and ``errors`` says why; LPIPS weights that cannot be obtained raise
    :class:`superres.lpips.LPIPSUnavailable` from the callable, for the caller to report.
    """
    out = Scores()
    for key, fn in (("psnr", psnr), ("ssim", ssim)):
        try:
            setattr(out, key, fn(sr, hr, shave=shave, y_channel=y_channel))
        except ValueError as e:
            out.errors[key] = str(e)
    if lpips is None:
        return out
    a, b = to_uint8_array(sr), to_uint8_array(hr)
    if shave:
        a, b = a[shave:-shave, shave:-shave], b[shave:-shave, shave:-shave]
    a8 = np.ascontiguousarray(a.astype(np.uint8))
    b8 = np.ascontiguousarray(b.astype(np.uint8))
    from .errors import InputError

    try:
        if isinstance(lpips, torch.nn.Module):
            dev = next(iter(lpips.buffers()), torch.empty(0)).device
            ta = torch.from_numpy(a8).permute(2, 0, 1)[None].float() / 255
            tb = torch.from_numpy(b8).permute(2, 0, 1)[None].float() / 255
            with torch.inference_mode():
                out.lpips = float(lpips(ta.to(dev), tb.to(dev)).item())
        else:
            out.lpips = float(lpips(a8, b8))
    except InputError as e:
        out.errors["lpips"] = str(e)
    return out
