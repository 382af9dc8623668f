"""EDSR and WDSR as built by the Keras project krasserm/super-resolution.

* EDSR: Lim, Son, Kim, Nah, Lee, "Enhanced Deep Residual Networks for Single
  Image Super-Resolution", CVPR Workshops 2017, arXiv:1707.02921
  (``model/edsr.py``: ``edsr(scale, num_filters, num_res_blocks)``).
* WDSR: Yu, Fan, Yang, Xu, Wang, Wang, Huang, "Wide Activation for Efficient and
  Accurate Image Super-Resolution", arXiv:1808.08718, 2018
  (``model/wdsr.py``: ``wdsr_a`` / ``wdsr_b``, weight-normalised convolutions).

Present so that the project's ``.h5`` weights run in superres (see
:mod:`superres.convert`); superres never trains these. The converter maps the
Keras kernels, folds WDSR's weight normalisation (``v / ||v|| * g``) into plain
kernels, and permutes the output channels of every convolution that feeds
``tf.nn.depth_to_space`` so that :class:`torch.nn.PixelShuffle` gives the same
pixels.

Value ranges: both Keras models take RGB in [0, 255] and normalise with
``(x - DIV2K_mean) / 127.5``, and denormalise with ``y * 127.5 + DIV2K_mean``.
Here input and output are RGB in [0, 1]: the same maps are ``2 * (x - mean)``
and ``y / 2 + mean`` with the mean in [0, 1] units. Output clamped in eval mode.

Residual scaling (``res_block_scaling``) is a Keras ``Lambda`` and is not stored
in ``.h5`` weight files; it defaults to none (1.0), the project's default.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from .base import Border, ModelInfo, estimate_bytes_per_lr_pixel

__all__ = ["KerasEDSR", "KerasWDSR", "DIV2K_RGB_MEAN"]

#: krasserm's ``DIV2K_RGB_MEAN`` (in [0, 1] units)
DIV2K_RGB_MEAN = (0.4488, 0.4371, 0.4040)


def _upsample_factors(scale: int) -> list[int]:
    return {2: [2], 3: [3], 4: [2, 2]}[scale]


class _EDSRBlock(nn.Module):
    def __init__(self, channels: int, res_scale: float) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(channels, channels, 3, padding=1)
        self.conv2 = nn.Conv2d(channels, channels, 3, padding=1)
        self.res_scale = res_scale

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.conv2(F.relu(self.conv1(x)))
        return x + (y * self.res_scale if self.res_scale != 1.0 else y)


class _Normalised(nn.Module):
    """Shared input/output normalisation of krasserm's EDSR/WDSR."""

    rgb_mean: torch.Tensor

    def _set_mean(self, rgb_mean) -> None:
        self.register_buffer("rgb_mean", torch.tensor(rgb_mean, dtype=torch.float32).view(1, 3, 1, 1),
                             persistent=False)

    def _normalise(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.rgb_mean) * 2.0

    def _denormalise(self, y: torch.Tensor) -> torch.Tensor:
        y = y * 0.5 + self.rgb_mean
        if not self.training:
            y = y.clamp(0.0, 1.0)
        return y


class KerasEDSR(_Normalised):
    """krasserm's ``edsr(scale, num_filters=64, num_res_blocks=8, res_block_scaling=None)``."""

    def __init__(self, scale: int = 4, channels: int = 64, n_blocks: int = 8, res_scale: float = 1.0,
                 rgb_mean: tuple[float, float, float] = DIV2K_RGB_MEAN) -> None:
        super().__init__()
        if scale not in (2, 3, 4):
            raise ValueError(f"KerasEDSR scale must be 2, 3 or 4, got {scale}")
        rgb_mean = tuple(float(v) for v in rgb_mean)
        self.args = dict(scale=scale, channels=channels, n_blocks=n_blocks, res_scale=float(res_scale),
                         rgb_mean=list(rgb_mean))
        self.info = ModelInfo(
            border=Border.ZERO, border_pad=0, arch="keras_edsr", scale=scale, receptive_pad=2 * n_blocks + 6,
            bytes_per_lr_pixel=estimate_bytes_per_lr_pixel(channels, scale),
            paper="Lim et al., EDSR, CVPRW 2017, arXiv:1707.02921 (Keras implementation of "
                  "krasserm/super-resolution)",
        )
        self._set_mean(rgb_mean)
        self.head = nn.Conv2d(3, channels, 3, padding=1)
        self.body = nn.Sequential(*[_EDSRBlock(channels, float(res_scale)) for _ in range(n_blocks)])
        self.body_conv = nn.Conv2d(channels, channels, 3, padding=1)
        ups: list[nn.Module] = []
        for f in _upsample_factors(scale):
            ups += [nn.Conv2d(channels, channels * f * f, 3, padding=1), nn.PixelShuffle(f)]
        self.upsample = nn.Sequential(*ups)
        self.tail = nn.Conv2d(channels, 3, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        feat = self.head(self._normalise(x))
        feat = feat + self.body_conv(self.body(feat))
        return self._denormalise(self.tail(self.upsample(feat)))


class _WDSRBlockA(nn.Module):
    def __init__(self, channels: int, expansion: int, res_scale: float) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(channels, channels * expansion, 3, padding=1)
        self.conv2 = nn.Conv2d(channels * expansion, channels, 3, padding=1)
        self.res_scale = res_scale

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.conv2(F.relu(self.conv1(x)))
        return x + (y * self.res_scale if self.res_scale != 1.0 else y)


class _WDSRBlockB(nn.Module):
    def __init__(self, channels: int, expansion: int, res_scale: float, linear: float = 0.8) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(channels, channels * expansion, 1)
        self.conv2 = nn.Conv2d(channels * expansion, int(channels * linear), 1)
        self.conv3 = nn.Conv2d(int(channels * linear), channels, 3, padding=1)
        self.res_scale = res_scale

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.conv3(self.conv2(F.relu(self.conv1(x))))
        return x + (y * self.res_scale if self.res_scale != 1.0 else y)


class KerasWDSR(_Normalised):
    """krasserm's ``wdsr_a`` / ``wdsr_b`` (weight normalisation folded into the kernels)."""

    def __init__(self, scale: int = 4, channels: int = 32, n_blocks: int = 8, expansion: int = 6,
                 block: str = "b", res_scale: float = 1.0,
                 rgb_mean: tuple[float, float, float] = DIV2K_RGB_MEAN) -> None:
        super().__init__()
        if block not in ("a", "b"):
            raise ValueError(f"KerasWDSR block must be 'a' or 'b', got {block!r}")
        if scale < 2:
            raise ValueError(f"KerasWDSR scale must be >= 2, got {scale}")
        rgb_mean = tuple(float(v) for v in rgb_mean)
        self.args = dict(scale=scale, channels=channels, n_blocks=n_blocks, expansion=expansion, block=block,
                         res_scale=float(res_scale), rgb_mean=list(rgb_mean))
        self.info = ModelInfo(
            border=Border.ZERO, border_pad=0, arch="keras_wdsr", scale=scale,
            receptive_pad=(2 if block == "a" else 1) * n_blocks + 6,
            paper="Yu et al., WDSR, arXiv:1808.08718, 2018 (Keras implementation of krasserm/super-resolution)",
            bytes_per_lr_pixel=int(4 * channels * expansion * 3 + 4 * 3 * scale * scale * 6),
        )
        self._set_mean(rgb_mean)
        cls = _WDSRBlockA if block == "a" else _WDSRBlockB
        self.head = nn.Conv2d(3, channels, 3, padding=1)
        self.body = nn.Sequential(*[cls(channels, expansion, float(res_scale)) for _ in range(n_blocks)])
        self.main_tail = nn.Conv2d(channels, 3 * scale * scale, 3, padding=1)
        self.skip = nn.Conv2d(3, 3 * scale * scale, 5, padding=2)
        self.shuffle = nn.PixelShuffle(scale)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self._normalise(x)
        m = self.shuffle(self.main_tail(self.body(self.head(x))))
        s = self.shuffle(self.skip(x))
        return self._denormalise(m + s)
