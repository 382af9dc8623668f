"""SRResNet, the SRGAN generator.

Ledig et al., "Photo-Realistic Single Image Super-Resolution Using a Generative
Adversarial Network", CVPR 2017, arXiv:1609.04802, figure 4 (generator).

Layout (exactly the paper's): conv 9x9 (64) + PReLU; ``n_blocks`` residual blocks
of conv3x3-BN-PReLU-conv3x3-BN with identity skip; conv3x3-BN plus the long skip
from the head; log2(scale) upsampling stages of conv3x3 (64 -> 256),
PixelShuffle x2 and PReLU; conv 9x9 to 3 channels.

Value ranges: the paper scales LR inputs to [0, 1] and HR targets to [-1, 1].
We keep both conventions inside the network: the input is RGB in [0, 1]; the
last convolution produces an image in [-1, 1] (linear, no tanh: a tanh
saturates and slows MSE pre-training, and the paper does not require it), which
``forward`` maps back to [0, 1] with ``(y + 1) / 2``. In eval mode the output
is clamped to [0, 1]; in training mode it is not, so gradients are not cut.

``project=True`` (not in the paper) ends the network with one bicubic back-projection
step, :class:`superres.resize.BicubicProjection`: the output's low frequencies are put
back to the input's, so colours cannot drift, and training through it leaves the
network only the detail to learn (issue 21: a GAN-trained SRResNet shifted flat
colours by 4 levels, which no loss anchor held).
"""

from __future__ import annotations

import math

import torch
from torch import nn

from ..resize import BicubicProjection
from .base import ModelInfo

__all__ = ["SRResNet", "ResidualBlock"]


class ResidualBlock(nn.Module):
    """conv3x3 - BN - PReLU - conv3x3 - BN, plus the identity skip."""

    def __init__(self, channels: int = 64) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(channels, channels, 3, padding=1)
        self.bn1 = nn.BatchNorm2d(channels)
        self.act = nn.PReLU()
        self.conv2 = nn.Conv2d(channels, channels, 3, padding=1)
        self.bn2 = nn.BatchNorm2d(channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.bn2(self.conv2(self.act(self.bn1(self.conv1(x)))))


class UpsampleBlock(nn.Module):
    """conv3x3 (C -> 4C), PixelShuffle x2, PReLU: one x2 stage."""

    def __init__(self, channels: int = 64) -> None:
        super().__init__()
        self.conv = nn.Conv2d(channels, channels * 4, 3, padding=1)
        self.shuffle = nn.PixelShuffle(2)
        self.act = nn.PReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.shuffle(self.conv(x)))


class SRResNet(nn.Module):
    """The SRResNet / SRGAN generator (about 1.55 M parameters at the defaults).

    Args:
        scale: 2, 4 or 8 (one x2 PixelShuffle stage per factor of two).
        channels: feature channels (64 in the paper).
        n_blocks: residual blocks (16 in the paper).
        in_channels / out_channels: image channels (3 = RGB).
        project: end with a bicubic back-projection onto the input (see the module doc; needs
            in_channels == out_channels). Parameter-free, so weights load either way.
    """

    def __init__(
        self,
        scale: int = 4,
        channels: int = 64,
        n_blocks: int = 16,
        in_channels: int = 3,
        out_channels: int = 3,
        project: bool = False,
    ) -> None:
        super().__init__()
        if scale not in (2, 4, 8):
            raise ValueError(f"SRResNet scale must be 2, 4 or 8, got {scale}")
        self.args = dict(
            scale=scale, channels=channels, n_blocks=n_blocks,
            in_channels=in_channels, out_channels=out_channels,
        )
        projection = BicubicProjection.ending(project, scale, in_channels, out_channels)
        if project:  # only when set, so files without it load in older versions too
            self.args["project"] = True
        self.info = ModelInfo(
            arch="srresnet", scale=scale, in_channels=in_channels,
            out_channels=out_channels, receptive_pad=24 + 6 * bool(project),  # the projection reads ~5 LR px
            paper="Ledig et al., CVPR 2017, arXiv:1609.04802",
            # peak working memory per LR pixel for tiling: two float32 maps of 4*channels at
            # the last stage's input resolution, plus the low-resolution trunk (measured 9.7 KB
            # at the defaults, x4, with the inference rewrites; 10.8 KB here)
            bytes_per_lr_pixel=int(4 * 4 * channels * (scale // 2) ** 2 * 2.2 + 4 * channels * 6),
        )
        self.head = nn.Sequential(nn.Conv2d(in_channels, channels, 9, padding=4), nn.PReLU())
        self.body = nn.Sequential(*[ResidualBlock(channels) for _ in range(n_blocks)])
        self.body_tail = nn.Sequential(
            nn.Conv2d(channels, channels, 3, padding=1), nn.BatchNorm2d(channels)
        )
        self.upsample = nn.Sequential(
            *[UpsampleBlock(channels) for _ in range(int(math.log2(scale)))]
        )
        self.tail = nn.Conv2d(channels, out_channels, 9, padding=4)
        self.project = projection

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x * 1.0  # keep the caller's tensor untouched by in-place ops below
        feat = self.head(x)
        feat = feat + self.body_tail(self.body(feat))
        y = self.tail(self.upsample(feat))
        y = (y + 1.0) * 0.5  # [-1, 1] -> [0, 1]
        if self.project is not None:
            y = self.project(y, x)
        if not self.training:
            y = y.clamp(0.0, 1.0)
        return y
