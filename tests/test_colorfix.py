"""The colour fix (--color-fix): chroma from bicubic, luma from the model (issue 15: grey text turned green)."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

import superres
from superres.api import make_upscaler, upscale_picture
from superres.colorfix import fix_chroma
from superres.io.images import Picture
from superres.models.base import ModelInfo


class GreenTint(nn.Module):
    """A stand-in for a GAN that tints what it upscales (+G, -R) and adds grey texture."""

    def __init__(self) -> None:
        super().__init__()
        self.info = ModelInfo(arch="tint", scale=4, receptive_pad=2, trainable=False)

    def forward(self, x):
        y = nn.functional.interpolate(x, scale_factor=4, mode="bicubic", align_corners=False)
        texture = (torch.arange(y.shape[-1]) % 2).float() * 0.05
        return y + torch.tensor([-0.02, 0.06, 0.0]).view(1, 3, 1, 1) + texture


def grey_text(h: int = 12, w: int = 20) -> np.ndarray:
    rng = np.random.default_rng(0)
    a = np.where(rng.random((h, w)) < 0.3, 137, 240).astype(np.uint8)
    return np.repeat(a[:, :, None], 3, axis=2)


def test_grey_stays_grey_and_the_models_luma_detail_is_kept():
    lr = grey_text()
    up = make_upscaler(GreenTint(), device="cpu", precision="fp32")
    raw = up.upscale_array(lr).astype(int)
    assert (raw.max(2) - raw.min(2)).mean() > 5  # the tint is there without the fix
    fixed = fix_chroma(up.upscale_array(lr), lr).astype(int)
    assert (fixed.max(2) - fixed.min(2)).max() <= 1  # grey (rounding aside)
    luma = lambda a: a @ np.array([0.299, 0.587, 0.114])  # noqa: E731
    assert np.abs(luma(fixed) - luma(raw)).mean() < 1.0  # the detail (luma) is the model's


def test_flat_colours_stay_put_and_grayscale_passes_through():
    lr = np.zeros((8, 8, 3), np.uint8)
    lr[:, :4] = (200, 40, 40)
    lr[:, 4:] = (30, 90, 200)
    out = fix_chroma(np.full((32, 32, 3), 128, np.uint8), lr)  # an output with no colour at all
    # the colour comes back in the flat interior (the luma stays the output's)
    assert out[8:24, 2:10, 0].mean() > out[8:24, 2:10, 2].mean() + 60
    assert out[8:24, 22:30, 2].mean() > out[8:24, 22:30, 0].mean() + 60
    gray = np.full((16, 16, 1), 77, np.uint16)
    assert fix_chroma(gray, gray[:4, :4]) is gray


def test_api_and_cli_take_color_fix(tmp_path):
    from PIL import Image

    from superres.cli import main

    lr = grey_text()
    pic = Picture(lr)
    up = make_upscaler(GreenTint(), device="cpu", precision="fp32")
    out = upscale_picture(pic, up, color_fix=True).color.astype(int)
    assert (out.max(2) - out.min(2)).max() <= 1
    src = tmp_path / "g.png"
    Image.fromarray(lr).save(src)
    assert main(["upscale", str(src), "--model", "bicubic", "--color-fix", "-q"]) == 0
    assert (tmp_path / "g_x4.png").is_file()
    assert superres.upscale(lr, "bicubic", color_fix=True).shape == (48, 80, 3)
