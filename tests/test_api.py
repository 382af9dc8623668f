"""The Python API: superres.upscale for paths / PIL / arrays, and apply_srgan."""

import numpy as np
import pytest
import torch
from PIL import Image

import superres
from superres.errors import InputError
from superres.models import SRResNet
from superres.weights import save_weights


@pytest.fixture
def installed_srgan(tmp_path, monkeypatch):
    """A full-size (random) srgan-x4 installed in a temporary weights folder."""
    import superres.api

    torch.manual_seed(0)
    model = SRResNet().eval()
    save_weights(model, tmp_path / "srgan-x4.safetensors", dtype=torch.float32)
    monkeypatch.setenv("SUPERRES_WEIGHTS_DIR", str(tmp_path))
    superres.api._CACHE.clear()
    yield model
    superres.api._CACHE.clear()


def test_array_kinds_round_trip():
    rng = np.random.default_rng(0)
    u8 = (rng.random((6, 7, 3)) * 255).astype(np.uint8)
    out = superres.upscale(u8, model="bicubic")
    assert out.dtype == np.uint8 and out.shape == (24, 28, 3)
    u16 = (rng.random((6, 7)) * 65535).astype(np.uint16)
    out16 = superres.upscale(u16, model="bicubic")
    assert out16.dtype == np.uint16 and out16.shape == (24, 28)
    f32 = rng.random((6, 7, 4)).astype(np.float32)  # RGBA float
    of = superres.upscale(f32, model="bicubic")
    assert of.dtype == np.float32 and of.shape == (24, 28, 4) and 0 <= of.min() and of.max() <= 1
    # bicubic of a constant is the constant
    const = np.full((5, 5, 3), 77, np.uint8)
    assert (superres.upscale(const, model="bicubic") == 77).all()


def test_pil_and_path_inputs(tmp_path):
    im = Image.fromarray(np.zeros((8, 10), np.uint8), mode="L")
    out = superres.upscale(im, model="bicubic")
    assert isinstance(out, Image.Image) and out.mode == "L" and out.size == (40, 32)
    rgba = Image.new("RGBA", (9, 6), (10, 20, 30, 128))
    assert superres.upscale(rgba, model="bicubic").mode == "RGBA"
    p = tmp_path / "a.png"
    Image.new("RGB", (5, 4), (1, 2, 3)).save(p)
    out = superres.upscale(p, model="bicubic", outscale=2)
    assert out.size == (10, 8)


def test_bad_inputs_raise_input_error():
    with pytest.raises(InputError, match="float"):
        superres.upscale(np.full((4, 4, 3), 2.0, np.float32), model="bicubic")
    with pytest.raises(InputError, match="too small"):
        superres.upscale(np.zeros((1, 1, 3), np.uint8), model="bicubic")
    with pytest.raises(InputError, match="dtype"):
        superres.upscale(np.zeros((4, 4, 3), np.int64), model="bicubic")
    with pytest.raises(InputError, match="cannot upscale"):
        superres.upscale(12345, model="bicubic")


def test_apply_srgan_course_semantics(installed_srgan):
    rng = np.random.default_rng(1)
    lr = (rng.random((12, 10, 3)) * 255).astype(np.uint8)
    sr = superres.apply_srgan(lr)
    assert sr.dtype == np.uint8 and sr.shape == (48, 40, 3)
    # equals the generator's output rounded to uint8, away from the borders (the engine
    # reflect-pads the image; the generator's receptive field is ~40 LR pixels)
    big = (rng.random((100, 100, 3)) * 255).astype(np.uint8)
    with torch.no_grad():
        ref = installed_srgan(torch.from_numpy(big).permute(2, 0, 1)[None].float() / 255)
    ref = (ref[0].permute(1, 2, 0).numpy() * 255).round()
    c = slice(45 * 4, 55 * 4)
    assert np.abs(superres.apply_srgan(big)[c, c].astype(float) - ref[c, c]).max() <= 1
    # float input holding 0..255 values is accepted too (notebooks often pass float arrays)
    assert (superres.apply_srgan(lr.astype(np.float64)) == sr).all()
    with pytest.raises(InputError, match="H, W, 3"):
        superres.apply_srgan(lr[:, :, 0])


def test_default_model_is_srgan_when_installed(installed_srgan):
    from superres.registry import default_model

    assert default_model() == "srgan-x4"
    out = superres.upscale(np.zeros((4, 4, 3), np.uint8))
    assert out.shape == (16, 16, 3)


def test_transparent_pixels_do_not_darken_visible_edges():
    # visible red square on a transparent background whose hidden colour is black
    rgba = np.zeros((16, 16, 4), np.uint8)
    rgba[4:12, 4:12] = (255, 0, 0, 255)
    out = superres.upscale(rgba, model="bicubic")
    inside_edge = out[17:47, 17:19]  # the first visible columns of the square, 4x
    assert inside_edge[..., 3].min() > 128 and inside_edge[..., 0].min() >= 250


def test_16bit_rgba_keeps_its_depth():
    rgba = np.zeros((8, 8, 4), np.uint16)
    rgba[2:6, 2:6] = (60000, 1000, 30000, 65535)
    out = superres.upscale(rgba, model="bicubic")
    assert out.dtype == np.uint16 and out[12, 12, 0] == 60000


def test_animated_gif_to_upscale_warns(tmp_path):
    from PIL import Image

    frames = [Image.new("RGB", (8, 8), (i * 80, 0, 0)) for i in range(3)]
    p = tmp_path / "a.gif"
    frames[0].save(p, save_all=True, append_images=frames[1:], duration=50)
    with pytest.warns(UserWarning, match="superres animate"):
        superres.upscale(p, model="bicubic")
