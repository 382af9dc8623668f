"""Interpolation baselines (nearest, bilinear, bicubic, Lanczos) as models.

Classic resampling with the same interface as the learned networks, so every
command can compare against them. Kernels and border handling follow MATLAB's
``imresize`` (see :mod:`superres.resize`); bicubic is Keys' cubic with a=-0.5
(R. Keys, "Cubic convolution interpolation for digital image processing",
IEEE TASSP 1981).
"""

from __future__ import annotations

import torch
from torch import nn

from ..resize import KERNELS, imresize
from .base import ModelInfo, estimate_bytes_per_lr_pixel

__all__ = ["Interpolation"]


class Interpolation(nn.Module):
    def __init__(self, mode: str = "bicubic", scale: int = 4, channels: int = 3) -> None:
        super().__init__()
        if mode not in KERNELS:
            raise ValueError(f"unknown interpolation {mode!r}; choose from {', '.join(KERNELS)}")
        self.args = dict(mode=mode, scale=scale, channels=channels)
        self.mode = mode
        self.scale = scale
        self.info = ModelInfo(
            arch="interpolation", scale=scale, in_channels=channels, out_channels=channels,
            receptive_pad=4, trainable=False, bytes_per_lr_pixel=estimate_bytes_per_lr_pixel(channels, scale), paper="Keys, IEEE TASSP 1981" if mode == "bicubic" else "",
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = imresize(x, scale=self.scale, kernel=self.mode)
        return y.clamp(0.0, 1.0)
