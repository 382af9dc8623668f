"""A compact SR generator for CPUs and animations (``srgan-x4-fast``).

A plain stack of 3x3 convolutions + PReLU that runs entirely at the low
resolution, one PixelShuffle to the output size, and a bicubic skip: the
network only predicts the residual over bicubic. It follows the idea of
Real-ESRGAN's compact network (Wang et al., "Real-ESRGAN: Training Real-World
Blind Super-Resolution with Pure Synthetic Data", ICCVW 2021, arXiv:2107.10833),
with a bicubic instead of nearest skip (a better starting point for PSNR), and is
trained by superres with the SRGAN recipe (Ledig et al. 2017: MSE pre-training,
then VGG content + adversarial loss). There is no BatchNorm and nothing runs at
the high resolution except PixelShuffle and the skip, so it costs ~6x fewer
multiply-adds than SRResNet and tiles cheaply (receptive field ``num_conv + 2``).

``project=True`` ends it with the bicubic back-projection SRResNet has
(:class:`superres.resize.BicubicProjection`, issue 21): the bicubic skip starts the
network at the input's colours, but nothing keeps a GAN-trained residual from drifting
them (a fixed-sign gradient on the last bias moves it by about lr per Adam step); the
projection puts the output's low frequencies back to the input's.
"""

from __future__ import annotations

import torch
from torch import nn

from ..resize import BicubicProjection, imresize
from .base import ModelInfo

__all__ = ["CompactSR"]


class CompactSR(nn.Module):
    def __init__(self, scale: int = 4, num_feat: int = 48, num_conv: int = 16, in_channels: int = 3,
                 out_channels: int = 3, project: bool = False) -> None:
        super().__init__()
        if scale < 1 or num_feat < 1 or num_conv < 1:
            raise ValueError(f"bad CompactSR arguments: scale={scale}, num_feat={num_feat}, num_conv={num_conv}")
        self.args = dict(scale=scale, num_feat=num_feat, num_conv=num_conv, in_channels=in_channels,
                         out_channels=out_channels)
        projection = BicubicProjection.ending(project, scale, in_channels, out_channels)
        if project:  # only when set, so files without it load in older versions too
            self.args["project"] = True
        self.scale = scale
        self.info = ModelInfo(
            arch="compact", scale=scale, in_channels=in_channels, out_channels=out_channels,
            receptive_pad=num_conv + 4 + 6 * bool(project),  # the projection reads ~5 LR px
            paper="after Real-ESRGAN's compact network, arXiv:2107.10833",
            bytes_per_lr_pixel=int(4 * num_feat * 4 + 4 * out_channels * scale**2 * 4),
            # fastest LR tile on a 2-core CPU, 1080p input, bf16 (output MP/s): 192: 4.1,
            # 384: 4.8, 560: 3.7, 796 (the 1 GB memory budget's size): 3.3
            tile_hint=384,
        )
        layers: list[nn.Module] = [nn.Conv2d(in_channels, num_feat, 3, padding=1), nn.PReLU(num_feat)]
        for _ in range(num_conv - 1):
            layers += [nn.Conv2d(num_feat, num_feat, 3, padding=1), nn.PReLU(num_feat)]
        layers.append(nn.Conv2d(num_feat, out_channels * scale * scale, 3, padding=1))
        self.body = nn.Sequential(*layers)
        self.upsample = nn.PixelShuffle(scale)
        self.project = projection
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """He initialisation for PReLU(0.25) and a small last layer, so training can start.

        With PyTorch's default init each conv shrinks the signal's spread ~1.7x, so after
        17 layers the residual is ~1e-4 of the input: MSE training from there stayed at
        exactly bicubic for 8,000 steps. Variance-preserving init keeps the features
        alive; the last conv is scaled by 0.1 so the untrained network starts near bicubic.
        """
        convs = [m for m in self.body if isinstance(m, nn.Conv2d)]
        for conv in convs:
            nn.init.kaiming_normal_(conv.weight, a=0.25, mode="fan_in", nonlinearity="leaky_relu")
            nn.init.zeros_(conv.bias)
        with torch.no_grad():
            convs[-1].weight.mul_(0.1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.upsample(self.body(x)) + imresize(x, scale=self.scale, kernel="bicubic")
        if self.project is not None:
            y = self.project(y, x)
        if not self.training:
            y = y.clamp(0.0, 1.0)
        return y
