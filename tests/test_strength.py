"""Network interpolation: --strength (srresnet-x4 .. srgan-x4) and --denoise (Real-ESRGAN's DNI)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from superres.cli import main
from superres.errors import ModelError
from superres.models import SRResNet
from superres.registry import interpolate_models, load_with_controls
from superres.weights import save_weights


def _pair():
    a, b = SRResNet(scale=4, channels=8, n_blocks=1), SRResNet(scale=4, channels=8, n_blocks=1)
    with torch.no_grad():
        for p in b.parameters():
            p.add_(0.05 * torch.randn_like(p))
    return a.eval(), b.eval()


def test_interpolation_endpoints_and_midpoint():
    a, b = _pair()
    for t, want in ((0.0, a), (1.0, b)):
        got = interpolate_models(a, b, t)
        for k, v in got.state_dict().items():
            assert torch.allclose(v.float(), want.state_dict()[k].float(), atol=1e-6), k
    mid = interpolate_models(a, b, 0.25).state_dict()
    w = "head.0.weight" if "head.0.weight" in mid else next(k for k in mid if k.endswith("weight"))
    assert torch.allclose(mid[w], 0.75 * a.state_dict()[w] + 0.25 * b.state_dict()[w], atol=1e-6)
    before = a.state_dict()[w].clone()
    interpolate_models(a, b, 0.5)
    assert torch.equal(a.state_dict()[w], before)


def test_interpolation_keeps_the_output_projection_of_either_end():
    """srgan-x4 ends with the parameter-free projection, srresnet-x4 does not: still one network to mix,
    and every blend projects (the shipped pair since 2026-12-06)."""
    a, b = _pair()
    gan = SRResNet(scale=4, channels=8, n_blocks=1, project=True).eval()
    gan.load_state_dict(b.state_dict())
    for t in (0.0, 0.3, 1.0):
        mixed = interpolate_models(a, gan, t)
        assert mixed.module.project is not None
    x = torch.rand(1, 3, 10, 10)
    with torch.no_grad():
        assert torch.allclose(interpolate_models(a, gan, 1.0)(x), gan(x), atol=1e-6)


def test_interpolation_refuses_different_networks_and_bad_weights():
    a, _ = _pair()
    other = SRResNet(scale=4, channels=4, n_blocks=1)
    with pytest.raises(ModelError, match="different networks"):
        interpolate_models(a, other, 0.5)
    with pytest.raises(ModelError, match="between 0 and 1"):
        interpolate_models(a, a, 1.5)


def test_controls_need_the_right_model():
    with pytest.raises(ModelError, match="--strength works with srgan-x4"):
        load_with_controls("bicubic", strength=0.5)
    with pytest.raises(ModelError, match="--denoise works with realesr-general-x4v3"):
        load_with_controls("srgan-x4", denoise=0.5)
    with pytest.raises(ModelError, match="not both"):
        load_with_controls("srgan-x4", strength=0.5, denoise=0.5)


def test_cli_strength_blends_the_shipped_pair(tmp_path, monkeypatch):
    a, b = _pair()
    wdir = tmp_path / "w"
    save_weights(a, wdir / "srresnet-x4.safetensors")
    save_weights(b, wdir / "srgan-x4.safetensors")
    monkeypatch.setenv("SUPERRES_WEIGHTS_DIR", str(wdir))
    img = tmp_path / "in.png"
    Image.fromarray((np.random.default_rng(0).random((12, 10, 3)) * 255).astype(np.uint8)).save(img)
    outs = {}
    for s in ("0", "0.5", "1"):
        out = tmp_path / f"out{s}.png"
        assert main(["upscale", str(img), "-o", str(out), "--model", "srgan-x4", "--strength", s, "-q",
                     "--device", "cpu"]) == 0
        outs[s] = np.asarray(Image.open(out)).astype(int)
    plain = tmp_path / "plain.png"
    assert main(["upscale", str(img), "-o", str(plain), "--model", "srresnet-x4", "-q", "--device", "cpu"]) == 0
    assert np.abs(outs["0"] - np.asarray(Image.open(plain)).astype(int)).max() <= 1
    assert np.abs(outs["0.5"] - outs["0"]).max() > 0 and np.abs(outs["0.5"] - outs["1"]).max() > 0


def test_cli_strength_out_of_range_is_a_usage_error(tmp_path, capsys):
    with pytest.raises(SystemExit) as e:
        main(["upscale", "x.png", "--strength", "2"])
    assert e.value.code == 2 and "between 0 and 1" in capsys.readouterr().err


def test_api_upscale_takes_strength_like_the_cli(tmp_path, monkeypatch):
    import superres

    a, b = _pair()
    wdir = tmp_path / "w"
    save_weights(a, wdir / "srresnet-x4.safetensors")
    save_weights(b, wdir / "srgan-x4.safetensors")
    monkeypatch.setenv("SUPERRES_WEIGHTS_DIR", str(wdir))
    img = (np.random.default_rng(0).random((12, 10, 3)) * 255).astype(np.uint8)
    half = superres.upscale(img, strength=0.5, device="cpu").astype(int)
    blend = superres.upscale(img, model=interpolate_models(a, b, 0.5), device="cpu").astype(int)
    assert np.abs(half - blend).max() <= 1
    zero = superres.upscale(img, "srgan-x4", strength=0.0, device="cpu").astype(int)
    assert np.abs(zero - superres.upscale(img, "srresnet-x4", device="cpu").astype(int)).max() <= 1
    with pytest.raises(ModelError, match="--denoise works with realesr-general-x4v3"):
        superres.upscale(img, denoise=0.5, device="cpu")
    with pytest.raises(ModelError, match="pass the model's name"):
        superres.upscale(img, model=a, strength=0.5, device="cpu")
