"""MSRResNet: BasicSR's "modified SRResNet" (no BatchNorm).

Ledig et al., "Photo-Realistic Single Image Super-Resolution Using a Generative
Adversarial Network", CVPR 2017, arXiv:1609.04802 (SRResNet), with the changes
of Wang et al., "ESRGAN", ECCV Workshops 2018, arXiv:1809.00219 and of
Lim et al., "Enhanced Deep Residual Networks for Single Image
Super-Resolution" (EDSR), CVPR Workshops 2017, arXiv:1707.02921: BatchNorm
removed, ReLU residual blocks, LeakyReLU 0.1 elsewhere, and the bilinearly
enlarged input added to the output.

Present so that BasicSR ``MSRResNet`` weights run in superres (see
:mod:`superres.convert`); superres never trains it. Parameter names are
BasicSR's (``conv_first``, ``body.N.conv1/conv2``, ``upconv1/2``, ``conv_hr``,
``conv_last``). RGB in [0, 1] in and out (clamped in eval mode).
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from .base import Border, ModelInfo

__all__ = ["MSRResNet"]


class ResidualBlockNoBN(nn.Module):
    """conv3x3 - ReLU - conv3x3 plus the identity."""

    def __init__(self, num_feat: int = 64) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(num_feat, num_feat, 3, 1, 1)
        self.conv2 = nn.Conv2d(num_feat, num_feat, 3, 1, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv2(F.relu(self.conv1(x)))


class MSRResNet(nn.Module):
    def __init__(self, scale: int = 4, num_feat: int = 64, num_block: int = 16, in_channels: int = 3,
                 out_channels: int = 3) -> None:
        super().__init__()
        if scale not in (2, 3, 4):
            raise ValueError(f"MSRResNet scale must be 2, 3 or 4, got {scale}")
        self.args = dict(scale=scale, num_feat=num_feat, num_block=num_block, in_channels=in_channels,
                         out_channels=out_channels)
        self.scale = scale
        self.info = ModelInfo(
            arch="msrresnet", scale=scale, in_channels=in_channels, out_channels=out_channels,
            receptive_pad=24, border=Border.ZERO, border_pad=0,
            bytes_per_lr_pixel=int(4 * num_feat * scale * scale * 3 + 4 * num_feat * 6),
            paper="Ledig et al., CVPR 2017, arXiv:1609.04802 (SRResNet), BN-free as in BasicSR / "
                  "Wang et al., ESRGAN, arXiv:1809.00219",
        )
        self.conv_first = nn.Conv2d(in_channels, num_feat, 3, 1, 1)
        self.body = nn.Sequential(*[ResidualBlockNoBN(num_feat) for _ in range(num_block)])
        if scale == 4:
            self.upconv1 = nn.Conv2d(num_feat, num_feat * 4, 3, 1, 1)
            self.upconv2 = nn.Conv2d(num_feat, num_feat * 4, 3, 1, 1)
            self.pixel_shuffle = nn.PixelShuffle(2)
        else:
            self.upconv1 = nn.Conv2d(num_feat, num_feat * scale * scale, 3, 1, 1)
            self.pixel_shuffle = nn.PixelShuffle(scale)
        self.conv_hr = nn.Conv2d(num_feat, num_feat, 3, 1, 1)
        self.conv_last = nn.Conv2d(num_feat, out_channels, 3, 1, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.body(F.leaky_relu(self.conv_first(x), 0.1))
        out = F.leaky_relu(self.pixel_shuffle(self.upconv1(out)), 0.1)
        if self.scale == 4:
            out = F.leaky_relu(self.pixel_shuffle(self.upconv2(out)), 0.1)
        out = self.conv_last(F.leaky_relu(self.conv_hr(out), 0.1))
        out = out + F.interpolate(x, scale_factor=self.scale, mode="bilinear", align_corners=False)
        if not self.training:
            out = out.clamp(0.0, 1.0)
        return out
