"""SRVGGNetCompact: Real-ESRGAN's small VGG-style network.

Wang et al., "Real-ESRGAN: Training Real-World Blind Super-Resolution with
Pure Synthetic Data", ICCV Workshops 2021, arXiv:2107.10833 (the compact
model behind ``realesr-general-x4v3.pth`` and ``realesr-animevideov3.pth``).

Present so that such weights run in superres (see :mod:`superres.convert`);
superres never trains it. Parameter names follow BasicSR (``body.K``) so its
state dicts load unchanged.

Layout: conv3x3 + activation, ``num_conv`` x (conv3x3 + activation), conv3x3
to ``out_channels * scale**2``, PixelShuffle(scale), plus the nearest-neighbour
enlarged input. Activations are per-channel PReLU (``act_type="prelu"``, the
published models), ReLU or LeakyReLU 0.1. RGB in [0, 1] in and out (clamped in
eval mode).
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from .base import Border, ModelInfo

__all__ = ["SRVGGNetCompact"]


class SRVGGNetCompact(nn.Module):
    def __init__(self, scale: int = 4, num_feat: int = 64, num_conv: int = 16, in_channels: int = 3,
                 out_channels: int = 3, act_type: str = "prelu") -> None:
        super().__init__()
        if act_type not in ("prelu", "relu", "leakyrelu"):
            raise ValueError(f"act_type must be prelu, relu or leakyrelu, got {act_type!r}")
        if scale < 1:
            raise ValueError(f"scale must be >= 1, got {scale}")
        self.args = dict(scale=scale, num_feat=num_feat, num_conv=num_conv, in_channels=in_channels,
                         out_channels=out_channels, act_type=act_type)
        self.scale = scale
        per_px = 4 * num_feat * 3 + 4 * out_channels * scale ** 2 * 3
        self.info = ModelInfo(
            arch="srvgg", scale=scale, in_channels=in_channels, out_channels=out_channels,
            receptive_pad=num_conv + 4, border=Border.ZERO, border_pad=0,
            paper="Wang et al., Real-ESRGAN, ICCVW 2021, arXiv:2107.10833",
            bytes_per_lr_pixel=int(per_px),
        )

        def act() -> nn.Module:
            if act_type == "prelu":
                return nn.PReLU(num_parameters=num_feat)
            if act_type == "relu":
                return nn.ReLU()
            return nn.LeakyReLU(0.1)

        layers: list[nn.Module] = [nn.Conv2d(in_channels, num_feat, 3, 1, 1), act()]
        for _ in range(num_conv):
            layers += [nn.Conv2d(num_feat, num_feat, 3, 1, 1), act()]
        layers.append(nn.Conv2d(num_feat, out_channels * scale * scale, 3, 1, 1))
        self.body = nn.ModuleList(layers)
        self.upsampler = nn.PixelShuffle(scale)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = x
        for layer in self.body:
            out = layer(out)
        out = self.upsampler(out) + F.interpolate(x, scale_factor=self.scale, mode="nearest")
        if not self.training:
            out = out.clamp(0.0, 1.0)
        return out
