"""RRDBNet: the ESRGAN / Real-ESRGAN generator, in BasicSR's layout.

Wang et al., "ESRGAN: Enhanced Super-Resolution Generative Adversarial
Networks", ECCV Workshops 2018, arXiv:1809.00219 (the network, figure 4);
Wang et al., "Real-ESRGAN: Training Real-World Blind Super-Resolution with
Pure Synthetic Data", ICCV Workshops 2021, arXiv:2107.10833 (the x2 / x1
variants that pixel-unshuffle their input).

This module exists so that weights people already have (``RealESRGAN_x4plus.pth``,
``RealESRGAN_x2plus.pth``, ESRGAN, BasicSR checkpoints) run in superres; see
:mod:`superres.convert`. superres never trains it. Parameter names are
BasicSR's (``conv_first``, ``body.N.rdbK.convJ``, ``conv_body``, ``conv_upK``,
``conv_hr``, ``conv_last``) so those state dicts load unchanged.

Layout: [pixel-unshuffle by ``pixel_unshuffle``] conv3x3; ``num_block``
residual-in-residual dense blocks (three dense blocks of five convs each with
LeakyReLU 0.2, residuals scaled by 0.2); conv3x3 plus the long skip; ``n_up``
stages of nearest x2 + conv3x3 + LeakyReLU 0.2; conv3x3 + LeakyReLU; conv3x3
to the output. Input and output are RGB in [0, 1] (clamped in eval mode).
The net scale is ``2**n_up / pixel_unshuffle``; inputs whose sides are not a
multiple of ``pixel_unshuffle`` are reflect-padded and the output cropped, as
Real-ESRGAN's inference code does.
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F

from .base import Border, ModelInfo

__all__ = ["RRDBNet", "RRDB", "ResidualDenseBlock"]


class ResidualDenseBlock(nn.Module):
    """Five densely connected 3x3 convs; output scaled by 0.2 plus the input."""

    def __init__(self, num_feat: int = 64, num_grow_ch: int = 32) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(num_feat, num_grow_ch, 3, 1, 1)
        self.conv2 = nn.Conv2d(num_feat + num_grow_ch, num_grow_ch, 3, 1, 1)
        self.conv3 = nn.Conv2d(num_feat + 2 * num_grow_ch, num_grow_ch, 3, 1, 1)
        self.conv4 = nn.Conv2d(num_feat + 3 * num_grow_ch, num_grow_ch, 3, 1, 1)
        self.conv5 = nn.Conv2d(num_feat + 4 * num_grow_ch, num_feat, 3, 1, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        feats = [x]
        for conv in (self.conv1, self.conv2, self.conv3, self.conv4):
            feats.append(F.leaky_relu(conv(torch.cat(feats, 1)), 0.2))
        return self.conv5(torch.cat(feats, 1)) * 0.2 + x


class RRDB(nn.Module):
    """Residual in residual dense block: three dense blocks, residual scaled by 0.2."""

    def __init__(self, num_feat: int = 64, num_grow_ch: int = 32) -> None:
        super().__init__()
        self.rdb1 = ResidualDenseBlock(num_feat, num_grow_ch)
        self.rdb2 = ResidualDenseBlock(num_feat, num_grow_ch)
        self.rdb3 = ResidualDenseBlock(num_feat, num_grow_ch)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.rdb3(self.rdb2(self.rdb1(x))) * 0.2 + x


class RRDBNet(nn.Module):
    """ESRGAN / Real-ESRGAN generator (16.7 M parameters at the defaults).

    Args:
        scale: output scale (1, 2, 4 or 8 in the published models).
        num_feat / num_block / num_grow_ch: width, RRDB count, dense growth channels.
        in_channels / out_channels: image channels (3 = RGB).
        pixel_unshuffle: input space-to-depth factor; default BasicSR's rule
            (4 for scale 1, 2 for scale 2, else 1).
    """

    def __init__(self, scale: int = 4, num_feat: int = 64, num_block: int = 23, num_grow_ch: int = 32,
                 in_channels: int = 3, out_channels: int = 3, pixel_unshuffle: int | None = None) -> None:
        super().__init__()
        if pixel_unshuffle is None:
            pixel_unshuffle = {1: 4, 2: 2}.get(scale, 1)
        total = scale * pixel_unshuffle
        n_up = int(round(math.log2(total))) if total >= 1 else 0
        if n_up < 1 or 2 ** n_up != total:
            raise ValueError(f"RRDBNet: scale {scale} x pixel_unshuffle {pixel_unshuffle} must be a power of two >= 2")
        self.args = dict(scale=scale, num_feat=num_feat, num_block=num_block, num_grow_ch=num_grow_ch,
                         in_channels=in_channels, out_channels=out_channels, pixel_unshuffle=pixel_unshuffle)
        self.scale = scale
        self.unshuffle = pixel_unshuffle
        self.n_up = n_up
        # peak activations: HR features (num_feat at (2**n_up)^2 per unshuffled pixel), a few alive at once
        hr_px = (scale ** 2)
        per_px = 4 * num_feat * hr_px * 4 + 4 * (2 * num_feat + 5 * num_grow_ch) * 3
        self.info = ModelInfo(
            arch="rrdbnet", scale=scale, in_channels=in_channels, out_channels=out_channels,
            tile_multiple=pixel_unshuffle, receptive_pad=24, border=Border.ZERO, border_pad=0,
            paper="Wang et al., ESRGAN, ECCVW 2018, arXiv:1809.00219; Real-ESRGAN, ICCVW 2021, arXiv:2107.10833",
            bytes_per_lr_pixel=int(per_px),
        )
        self.conv_first = nn.Conv2d(in_channels * pixel_unshuffle ** 2, num_feat, 3, 1, 1)
        self.body = nn.Sequential(*[RRDB(num_feat, num_grow_ch) for _ in range(num_block)])
        self.conv_body = nn.Conv2d(num_feat, num_feat, 3, 1, 1)
        for i in range(1, n_up + 1):
            self.add_module(f"conv_up{i}", nn.Conv2d(num_feat, num_feat, 3, 1, 1))
        self.conv_hr = nn.Conv2d(num_feat, num_feat, 3, 1, 1)
        self.conv_last = nn.Conv2d(num_feat, out_channels, 3, 1, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, w = x.shape[-2:]
        u = self.unshuffle
        if u > 1:
            ph, pw = (-h) % u, (-w) % u
            if ph or pw:
                mode = "reflect" if min(h, w) > max(ph, pw) else "replicate"
                x = F.pad(x, (0, pw, 0, ph), mode=mode)
            x = F.pixel_unshuffle(x, u)
        feat = self.conv_first(x)
        feat = feat + self.conv_body(self.body(feat))
        for i in range(1, self.n_up + 1):
            conv = getattr(self, f"conv_up{i}")
            feat = F.leaky_relu(conv(F.interpolate(feat, scale_factor=2, mode="nearest")), 0.2)
        out = self.conv_last(F.leaky_relu(self.conv_hr(feat), 0.2))
        if u > 1:
            out = out[..., : h * self.scale, : w * self.scale]
        if not self.training:
            out = out.clamp(0.0, 1.0)
        return out
