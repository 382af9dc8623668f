"""Border treatment from the model descriptor, and exact tiling for pixel-unshuffle models.

Small hand-written networks on synthetic images: a foreign-style model (``Border.ZERO``) must
come out of the engine exactly as its plain forward pass (the original code's), tiled within
1/255 of untiled; our own models keep the reflection pre-padding; RRDBNet x1/x2 (pixel unshuffle)
tile on their unshuffle grid.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn
from torch.nn import functional as F

from superres.inference import Upscaler
from superres.inference.tiling import axis_spans
from superres.models import ARCHITECTURES, Border, ModelInfo
from superres.models.srvgg import SRVGGNetCompact


class _ZeroPadNet(nn.Module):
    """Three 3x3 zero-padded convolutions and a x2 pixel shuffle: receptive radius 3 LR pixels."""

    def __init__(self, border: Border = Border.ZERO) -> None:
        super().__init__()
        self.info = ModelInfo(arch="test", scale=2, receptive_pad=4, border=border,
                              border_pad=0 if border is Border.ZERO else 8)
        self.body = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.Conv2d(8, 8, 3, padding=1), nn.ReLU(),
                                  nn.Conv2d(8, 12, 3, padding=1), nn.PixelShuffle(2))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x) + F.interpolate(x, scale_factor=2, mode="nearest")


def _image(h: int = 37, w: int = 29) -> torch.Tensor:
    yy, xx = torch.meshgrid(torch.linspace(0, 1, h), torch.linspace(0, 1, w), indexing="ij")
    img = torch.stack([0.5 + 0.4 * torch.sin(9 * xx + 4 * yy), yy, 0.5 + 0.3 * torch.cos(7 * xx * yy)])
    return (img + 0.05 * torch.rand(3, h, w)).clamp(0, 1)[None]


def test_foreign_architectures_declare_a_plain_forward_pass():
    for arch, kwargs in (("rrdbnet", {"num_feat": 4, "num_block": 1, "num_grow_ch": 4}),
                         ("srvgg", {"num_feat": 4, "num_conv": 1}),
                         ("keras_srresnet", {"channels": 4, "n_blocks": 1}),
                         ("msrresnet", {"num_feat": 4, "num_block": 1})):
        assert ARCHITECTURES[arch](**kwargs).info.border is Border.ZERO, arch
    for arch, kwargs in (("srresnet", {"channels": 4, "n_blocks": 1}), ("compact", {}), ("srcnn", {})):
        info = ARCHITECTURES[arch](**kwargs).info
        assert info.border is Border.REFLECT and info.border_pad == 8, arch


@pytest.mark.parametrize("optimize", [False, True])
def test_zero_border_untiled_equals_the_original_forward_pass(optimize):
    net = _ZeroPadNet().eval()
    x = _image()
    with torch.no_grad():
        ref = net(x).clamp(0, 1)
    up = Upscaler(net, device="cpu", tile=0, optimize=optimize)
    assert up.pre_pad == 0
    out = up(x)
    if optimize:
        assert (out - ref).abs().max() < 1e-6
    else:
        assert torch.equal(out, ref)


def test_zero_border_tiled_equals_untiled():
    net = _ZeroPadNet().eval()
    x = _image(45, 38)
    untiled = Upscaler(net, device="cpu", tile=0, optimize=False)(x)
    tiled_up = Upscaler(net, device="cpu", tile=11, tile_pad=4, optimize=False)
    assert len(tiled_up.plan(45, 38)) > 4
    assert (tiled_up(x) - untiled).abs().max() < 1e-6  # context covers the receptive field: exact
    # and with less context than the receptive field the difference stays small at tile seams
    short = Upscaler(net, device="cpu", tile=11, tile_pad=2, optimize=False)(x)
    assert (short - untiled).abs().max() < 0.5  # (sanity: the same image, not garbage)
    arr = (x[0].permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)
    a = Upscaler(net, device="cpu", tile=0, optimize=False).upscale_array(arr)
    b = tiled_up.upscale_array(arr)
    assert np.abs(a.astype(int) - b.astype(int)).max() <= 1  # within 1/255


def test_reflect_border_is_kept_for_our_own_models(tiny_srresnet):
    x = _image(20, 24)
    up = Upscaler(tiny_srresnet, device="cpu", tile=0, optimize=False)
    assert up.pre_pad == 8
    with torch.no_grad():
        ref = tiny_srresnet(F.pad(x, (8, 8, 8, 8), mode="reflect")).clamp(0, 1)[:, :, 32:-32, 32:-32]
    assert torch.allclose(up(x), ref, atol=1e-6)
    # an explicit pre_pad still wins, and a descriptor switched to ZERO runs the plain pass
    assert Upscaler(tiny_srresnet, device="cpu", pre_pad=3).pre_pad == 3
    tiny_srresnet.info = dataclasses.replace(tiny_srresnet.info, border=Border.ZERO)
    with torch.no_grad():
        plain = tiny_srresnet(x).clamp(0, 1)
    assert torch.allclose(Upscaler(tiny_srresnet, device="cpu", tile=0, optimize=False)(x), plain, atol=1e-6)


@pytest.mark.parametrize("length,tile,pad,m", [(37, 10, 3, 2), (50, 16, 5, 4), (8, 100, 4, 4), (23, 7, 0, 2)])
def test_axis_spans_respect_the_tile_multiple(length, tile, pad, m):
    spans = axis_spans(length, tile, pad, multiple=m)
    covered = []
    for (w0, w1), (c0, c1) in spans:
        assert w0 % m == 0 and c0 % m == 0
        assert w0 <= c0 < c1 <= w1 <= length
        assert c0 - w0 >= min(c0, pad) and w1 - c1 >= min(length - c1, pad)
        covered.extend(range(c0, c1))
    assert covered == list(range(length))


@pytest.mark.parametrize("scale", [1, 2])
def test_pixel_unshuffle_rrdbnet_tiles_exactly(scale):
    net = ARCHITECTURES["rrdbnet"](scale=scale, num_feat=8, num_block=1, num_grow_ch=4).eval()
    m = net.info.tile_multiple
    assert m == {1: 4, 2: 2}[scale]
    x = _image(27, 34)  # not multiples of the unshuffle factor
    with torch.no_grad():
        ref = net(x).clamp(0, 1)
    untiled = Upscaler(net, device="cpu", tile=0, optimize=False)(x)
    assert torch.equal(untiled, ref)
    # context: 1 + 5*... convs at the unshuffled resolution; 40 LR pixels cover this tiny network's field
    tiled = Upscaler(net, device="cpu", tile=9, tile_pad=40, optimize=False)
    assert len(tiled.plan(27, 34)) > 4
    assert (tiled(x) - untiled).abs().max() < 1e-5
    arr = (x[0].permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)
    assert np.abs(tiled.upscale_array(arr).astype(int)
                  - Upscaler(net, device="cpu", tile=0, optimize=False).upscale_array(arr).astype(int)).max() <= 1


def test_eval_reproduces_the_plain_forward_pass_numbers(tmp_path):
    """``superres eval`` on a foreign-style model gives the PSNR of its original forward pass."""
    from superres.evaluate import evaluate_model
    from superres.metrics import psnr

    net = SRVGGNetCompact(scale=4, num_feat=8, num_conv=2).eval()
    with torch.no_grad():
        for p in net.parameters():
            p.mul_(3.0)  # make the border matter: a network far from the nearest-neighbour skip
    (tmp_path / "HR").mkdir()
    (tmp_path / "LR_bicubic_x4").mkdir()
    expected = []
    for i in range(3):
        hr = (_image(48, 40)[0].permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)
        lr = np.asarray(Image.fromarray(hr).resize((10, 12), Image.BICUBIC))
        Image.fromarray(hr).save(tmp_path / "HR" / f"{i}.png")
        Image.fromarray(lr).save(tmp_path / "LR_bicubic_x4" / f"{i}.png")
        x = torch.from_numpy(np.array(lr)).permute(2, 0, 1)[None].float() / 255
        with torch.no_grad():  # the original code: one plain forward pass, rounded to 8 bits
            sr = (net(x).clamp(0, 1)[0].permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)
        expected.append(psnr(sr, hr, shave=4))
    res = evaluate_model(net, tmp_path, lpips=False, device="cpu", tile=0)
    assert abs(res.summary()["psnr"] - float(np.mean(expected))) < 0.02
    # the old engine behaviour (reflection pre-padding) moves the number
    reflect = dataclasses.replace(net.info, border=Border.REFLECT, border_pad=8)
    net.info = reflect
    moved = evaluate_model(net, tmp_path, lpips=False, device="cpu", tile=0).summary()["psnr"]
    assert abs(moved - float(np.mean(expected))) > 0.02


def test_card_records_the_border_our_model_measured_best_with(tiny_srresnet):
    from superres.weights import ModelCard

    assert Upscaler(tiny_srresnet, device="cpu").pre_pad == 8
    tiny_srresnet.card = ModelCard(name="t", arch="srresnet", args={}, scale=4,
                                   extra={"border": {"treatment": "zero", "pad": 0}})
    assert Upscaler(tiny_srresnet, device="cpu").pre_pad == 0
    tiny_srresnet.card.extra["border"] = {"treatment": "reflect", "pad": 6}
    assert Upscaler(tiny_srresnet, device="cpu").pre_pad == 6
