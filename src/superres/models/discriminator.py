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

__all__ = ["Discriminator", "UNetDiscriminatorSN"]


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


class UNetDiscriminatorSN(nn.Module):
    """U-Net discriminator with spectral normalisation (Real-ESRGAN, Wang et al. ICCVW 2021, fig. 6).

    Instead of one real/fake logit per image it returns a logit *per pixel* (N, 1, H, W): the
    generator is told where an output looks fake, which steadies GAN training on small batches.
    Spectral normalisation (Miyato et al. 2018) on every inner convolution bounds D's Lipschitz
    constant in place of BatchNorm. Three stride-2 stages down, three bilinear x2 stages up with
    additive skips, then two 3x3 convolutions and a 3x3 head. Any input whose sides are multiples
    of 8 works. ``channels`` (Real-ESRGAN: 64) is the cost knob: D's multiply-adds scale with its square.
    """

    def __init__(self, in_channels: int = 3, channels: int = 64) -> None:
        super().__init__()
        from torch.nn.utils import spectral_norm as sn

        self.args = dict(in_channels=in_channels, channels=channels)
        self.info = ModelInfo(arch="unet_discriminator_sn", scale=1, in_channels=in_channels, out_channels=1,
                              paper="Wang et al., Real-ESRGAN, ICCVW 2021")
        c = channels
        self.conv0 = nn.Conv2d(in_channels, c, 3, 1, 1)
        self.conv1 = sn(nn.Conv2d(c, c * 2, 4, 2, 1, bias=False))
        self.conv2 = sn(nn.Conv2d(c * 2, c * 4, 4, 2, 1, bias=False))
        self.conv3 = sn(nn.Conv2d(c * 4, c * 8, 4, 2, 1, bias=False))
        self.conv4 = sn(nn.Conv2d(c * 8, c * 4, 3, 1, 1, bias=False))
        self.conv5 = sn(nn.Conv2d(c * 4, c * 2, 3, 1, 1, bias=False))
        self.conv6 = sn(nn.Conv2d(c * 2, c, 3, 1, 1, bias=False))
        self.conv7 = sn(nn.Conv2d(c, c, 3, 1, 1, bias=False))
        self.conv8 = sn(nn.Conv2d(c, c, 3, 1, 1, bias=False))
        self.conv9 = nn.Conv2d(c, 1, 3, 1, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[-1] % 8 or x.shape[-2] % 8:
            raise ValueError(f"U-Net discriminator needs sides divisible by 8, got {tuple(x.shape[-2:])}")
        act = nn.functional.leaky_relu
        up = lambda t: nn.functional.interpolate(t, scale_factor=2, mode="bilinear", align_corners=False)  # noqa: E731
        x0 = act(self.conv0(x * 2.0 - 1.0), 0.2)
        x1 = act(self.conv1(x0), 0.2)
        x2 = act(self.conv2(x1), 0.2)
        x3 = act(self.conv3(x2), 0.2)
        x4 = act(self.conv4(up(x3)), 0.2) + x2
        x5 = act(self.conv5(up(x4)), 0.2) + x1
        x6 = act(self.conv6(up(x5)), 0.2) + x0
        out = act(self.conv7(x6), 0.2)
        out = act(self.conv8(out), 0.2)
        return self.conv9(out)
