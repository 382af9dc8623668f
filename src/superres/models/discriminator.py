"""The SRGAN discriminator.

Ledig et al., "Photo-Realistic Single Image Super-Resolution Using a Generative
Adversarial Network", CVPR 2017, arXiv:1609.04802, figure 4 (discriminator).

conv3x3 64 + LeakyReLU(0.2); seven conv3x3-BN-LeakyReLU blocks, stride
alternating 2/1/2/1... and channels doubling 64 -> 512; dense 1024 +
LeakyReLU(0.2); dense 1. ``forward`` returns the *logit*; apply a sigmoid for
the paper's probability (``probability``), and train with
``BCEWithLogitsLoss`` for numerical stability.

Input images are RGB in [0, 1] and are mapped to [-1, 1] inside, matching the
paper's HR scaling. The dense layer needs a fixed input size, given as
``crop_size`` (96 in the paper); any multiple of 16 works.
"""

from __future__ import annotations

import torch
from torch import nn

from .base import ModelInfo

__all__ = ["Discriminator"]


class Discriminator(nn.Module):
    def __init__(self, crop_size: int = 96, in_channels: int = 3, channels: int = 64) -> None:
        super().__init__()
        if crop_size % 16 or crop_size < 16:
            raise ValueError(f"discriminator crop_size must be a multiple of 16, got {crop_size}")
        self.args = dict(crop_size=crop_size, in_channels=in_channels, channels=channels)
        self.info = ModelInfo(arch="srgan_discriminator", scale=1, in_channels=in_channels,
                              out_channels=1, paper="Ledig et al., CVPR 2017")
        layers: list[nn.Module] = [
            nn.Conv2d(in_channels, channels, 3, padding=1),
            nn.LeakyReLU(0.2, inplace=True),
        ]
        # (out_channels, stride) for the seven conv-BN-LeakyReLU blocks
        plan = [
            (channels, 2),
            (channels * 2, 1), (channels * 2, 2),
            (channels * 4, 1), (channels * 4, 2),
            (channels * 8, 1), (channels * 8, 2),
        ]
        c_in = channels
        for c_out, stride in plan:
            layers += [
                nn.Conv2d(c_in, c_out, 3, stride=stride, padding=1, bias=False),
                nn.BatchNorm2d(c_out),
                nn.LeakyReLU(0.2, inplace=True),
            ]
            c_in = c_out
        self.features = nn.Sequential(*layers)
        side = crop_size // 16
        self.classifier = nn.Sequential(
            nn.Flatten(),
            nn.Linear(c_in * side * side, 1024),
            nn.LeakyReLU(0.2, inplace=True),
            nn.Linear(1024, 1),
        )
        self.crop_size = crop_size

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[-2:] != (self.crop_size, self.crop_size):
            raise ValueError(
                f"discriminator expects {self.crop_size}x{self.crop_size} crops, "
                f"got {tuple(x.shape[-2:])}; build it with crop_size={x.shape[-1]}"
            )
        return self.classifier(self.features(x * 2.0 - 1.0)).squeeze(1)

    def probability(self, x: torch.Tensor) -> torch.Tensor:
        """D(x) in (0, 1): the paper's sigmoid output."""
        return torch.sigmoid(self.forward(x))
