"""SRCNN: three convolutions on a bicubic-enlarged image.

Dong, Loy, He, Tang, "Image Super-Resolution Using Deep Convolutional Networks",
TPAMI 2016 (ECCV 2014), arXiv:1501.00092.

The network enlarges its LR input with bicubic interpolation (MATLAB-style, see
:mod:`superres.resize`) and then applies conv f1 x f1 (n1) + ReLU, conv f2 x f2
(n2) + ReLU, conv f3 x f3 (out). Defaults are the paper's 9-5-5 with n1=64,
n2=32. Convolutions are zero-padded so the output has the enlarged size; the
paper trained on the valid region, which the training recipe reproduces by
shaving the border before the loss.

``residual=True`` adds the enlarged input to the last layer's output (the
network learns the residual, as in VDSR); the plain paper network is
``residual=False``.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from ..resize import imresize
from .base import ModelInfo

__all__ = ["SRCNN"]


class SRCNN(nn.Module):
    def __init__(
        self,
        scale: int = 4,
        n1: int = 64,
        n2: int = 32,
        f1: int = 9,
        f2: int = 5,
        f3: int = 5,
        channels: int = 3,
        residual: bool = False,
    ) -> None:
        super().__init__()
        for name, f in (("f1", f1), ("f2", f2), ("f3", f3)):
            if f % 2 == 0:
                raise ValueError(f"SRCNN filter size {name}={f} must be odd")
        self.args = dict(scale=scale, n1=n1, n2=n2, f1=f1, f2=f2, f3=f3,
                         channels=channels, residual=residual)
        self.scale = scale
        self.residual = residual
        self.info = ModelInfo(
            arch="srcnn", scale=scale, in_channels=channels, out_channels=channels,
            receptive_pad=(f1 + f2 + f3) // (2 * scale) + 4,
            paper="Dong et al., TPAMI 2016, arXiv:1501.00092",
            # it runs at the output resolution: scale^2 pixels of n1 + n1 + n2 float32 maps per
            # LR pixel at the peak (measured 8.5 KB at x4: 10 KB here)
            bytes_per_lr_pixel=int(4 * scale * scale * (2 * n1 + n2)),
        )
        self.conv1 = nn.Conv2d(channels, n1, f1, padding=f1 // 2)
        self.conv2 = nn.Conv2d(n1, n2, f2, padding=f2 // 2)
        self.conv3 = nn.Conv2d(n2, channels, f3, padding=f3 // 2)

    def enlarge(self, x: torch.Tensor) -> torch.Tensor:
        """Bicubic x``scale`` of the LR input (the network's actual input)."""
        return imresize(x, scale=self.scale, kernel="bicubic")

    def forward_enlarged(self, up: torch.Tensor) -> torch.Tensor:
        """Run the three layers on an already enlarged image."""
        y = self.conv3(F.relu(self.conv2(F.relu(self.conv1(up)))))
        if self.residual:
            y = y + up
        if not self.training:
            y = y.clamp(0.0, 1.0)
        return y

    def forward(self, x: torch.Tensor, enlarged: bool = False) -> torch.Tensor:
        """LR image in, x``scale`` image out; ``enlarged=True`` if ``x`` is already enlarged."""
        return self.forward_enlarged(x if enlarged else self.enlarge(x))
