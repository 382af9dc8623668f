"""SRResNet / SRGAN generator as built by the Keras project krasserm/super-resolution.

Ledig et al., "Photo-Realistic Single Image Super-Resolution Using a Generative
Adversarial Network", CVPR 2017, arXiv:1609.04802 (figure 4, generator), in the
Keras/TF2 implementation of M. Krasser's ``super-resolution`` project
(``model/srgan.py``: ``sr_resnet`` / ``generator``), whose DIV2K-trained
``pre_generator.h5`` (SRResNet, MSE) and ``gan_generator.h5`` (SRGAN) SRGAN
courses hand out.

Present so that those ``.h5`` files run in superres (see
:mod:`superres.convert`, which reads them with h5py, no TensorFlow); superres
never trains it. It differs from :class:`superres.models.SRResNet` where the
Keras model does:

* PReLU slopes are per channel (Keras ``PReLU(shared_axes=[1, 2])``), not one
  shared parameter;
* BatchNorm uses Keras' epsilon (1e-3, the default) instead of PyTorch's 1e-5;
* the last 9x9 convolution ends in ``tanh`` (the file's ``[-1, 1]`` output);
* the upsampling uses ``tf.nn.depth_to_space``, whose channel order (DCR)
  differs from :class:`torch.nn.PixelShuffle`; the converter permutes the
  upsampling convolution's output channels so that PixelShuffle here gives
  exactly the Keras result.

Value ranges: Keras takes RGB in [0, 255] and divides by 255 (``normalize_01``),
and maps the tanh output back with ``(y + 1) * 127.5``. Here the input is RGB in
[0, 1] (the same numbers as ``x / 255``) and the output ``(y + 1) / 2`` is RGB in
[0, 1] (clamped in eval mode).
"""

from __future__ import annotations

import math

import torch
from torch import nn

from .base import Border, ModelInfo, estimate_bytes_per_lr_pixel

__all__ = ["KerasSRResNet"]


class _KerasResBlock(nn.Module):
    def __init__(self, channels: int, eps: float) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(channels, channels, 3, padding=1)
        self.bn1 = nn.BatchNorm2d(channels, eps=eps)
        self.act = nn.PReLU(channels)
        self.conv2 = nn.Conv2d(channels, channels, 3, padding=1)
        self.bn2 = nn.BatchNorm2d(channels, eps=eps)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.bn2(self.conv2(self.act(self.bn1(self.conv1(x)))))


class _KerasUpsample(nn.Module):
    def __init__(self, channels: int, factor: int = 2) -> None:
        super().__init__()
        self.conv = nn.Conv2d(channels, channels * factor * factor, 3, padding=1)
        self.shuffle = nn.PixelShuffle(factor)
        self.act = nn.PReLU(channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.shuffle(self.conv(x)))


class KerasSRResNet(nn.Module):
    """krasserm's ``sr_resnet(num_filters, num_res_blocks)`` (1.55 M parameters at 64/16).

    Args:
        scale: 2, 4 or 8 (one x2 stage per factor of two; the project uses 4).
        channels / n_blocks: ``num_filters`` / ``num_res_blocks``.
        head_kernel / tail_kernel: first and last kernel sizes (9 in the project).
        bn_eps: BatchNorm epsilon (Keras default 1e-3).
        tanh: whether the last convolution ends in tanh (it does in the project).
    """

    def __init__(self, scale: int = 4, channels: int = 64, n_blocks: int = 16, head_kernel: int = 9,
                 tail_kernel: int = 9, bn_eps: float = 1e-3, tanh: bool = True) -> None:
        super().__init__()
        if scale not in (2, 4, 8):
            raise ValueError(f"KerasSRResNet scale must be 2, 4 or 8, got {scale}")
        self.args = dict(scale=scale, channels=channels, n_blocks=n_blocks, head_kernel=head_kernel,
                         tail_kernel=tail_kernel, bn_eps=bn_eps, tanh=tanh)
        self.tanh = tanh
        self.info = ModelInfo(
            arch="keras_srresnet", scale=scale, receptive_pad=24, border=Border.ZERO, border_pad=0,
            bytes_per_lr_pixel=estimate_bytes_per_lr_pixel(channels, scale),
            paper="Ledig et al., CVPR 2017, arXiv:1609.04802 (Keras implementation of krasserm/super-resolution)",
        )
        self.head = nn.Conv2d(3, channels, head_kernel, padding=head_kernel // 2)
        self.head_act = nn.PReLU(channels)
        self.body = nn.Sequential(*[_KerasResBlock(channels, bn_eps) for _ in range(n_blocks)])
        self.body_conv = nn.Conv2d(channels, channels, 3, padding=1)
        self.body_bn = nn.BatchNorm2d(channels, eps=bn_eps)
        self.upsample = nn.Sequential(*[_KerasUpsample(channels) for _ in range(int(math.log2(scale)))])
        self.tail = nn.Conv2d(channels, 3, tail_kernel, padding=tail_kernel // 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        feat = self.head_act(self.head(x))
        feat = feat + self.body_bn(self.body_conv(self.body(feat)))
        y = self.tail(self.upsample(feat))
        if self.tanh:
            y = torch.tanh(y)
        y = (y + 1.0) * 0.5
        if not self.training:
            y = y.clamp(0.0, 1.0)
        return y
