"""Colour from the input, detail from the model: the fix for colour a model makes up.

A GAN can shift colours where the input has none to give: on flat areas, grey
text and dithered graphics (issue 15 saw grey 137/137/137 text come out
132/151/137). :func:`fix_chroma` converts the model's output to YCbCr and
replaces its chroma (Cb, Cr) with the chroma of the bicubic enlargement of the
input; the luma (Y), which carries the detail the model added, is kept. This is
how SRCNN-era models were applied (luma only): the eye resolves far less colour
detail than brightness detail, so photos lose nothing visible, while grey stays
exactly grey and a flat colour stays that colour (up to bicubic's rounding).
"""

from __future__ import annotations

import numpy as np
import torch

__all__ = ["fix_chroma"]

# ITU-R BT.601 full range (JPEG): rows give Y, Cb, Cr from R, G, B
_RGB2YCC = torch.tensor([[0.299, 0.587, 0.114], [-0.168736, -0.331264, 0.5], [0.5, -0.418688, -0.081312]])
_YCC2RGB = torch.linalg.inv(_RGB2YCC)


def fix_chroma(out: np.ndarray, lr: np.ndarray) -> np.ndarray:
    """``out`` (H', W', 3) with the chroma of ``lr`` (H, W, 3) enlarged by bicubic; same dtype.

    Grayscale (C = 1) is returned as it is (it has no chroma); uint8 and uint16
    are accepted, and ``out`` may be any size (the input is enlarged to it).
    """
    from .resize import imresize

    if out.ndim != 3 or out.shape[2] != 3:
        return out
    maxval = 65535.0 if out.dtype == np.uint16 else 255.0
    lr_max = 65535.0 if lr.dtype == np.uint16 else 255.0
    o = torch.from_numpy(np.ascontiguousarray(out)).float().div_(maxval)  # (H', W', 3)
    i = torch.from_numpy(np.ascontiguousarray(lr)).float().div_(lr_max)
    i_cc = (i @ _RGB2YCC[1:].T).permute(2, 0, 1)  # (2, H, W)
    o_ycc = o @ _RGB2YCC.T
    del o
    o_ycc[:, :, 1:] = imresize(i_cc, size=tuple(out.shape[:2]), kernel="bicubic").permute(1, 2, 0)
    rgb = (o_ycc @ _YCC2RGB.T).clamp_(0, 1).mul_(maxval).round_()
    return rgb.numpy().astype(out.dtype)
