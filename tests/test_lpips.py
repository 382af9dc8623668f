"""Tests for superres.lpips (LPIPS v0.1, Zhang et al. 2018).

All tests but the last build the network from random weights written to temporary
files in the official key layouts (torchvision ``alexnet().features`` /
``vgg16().features`` keys, LPIPS ``lin{k}.model.1.weight`` heads), so they need
neither network access nor the project's shared weights. The last test uses the
real weights when they are present and is skipped otherwise.
"""

from __future__ import annotations

import math
from pathlib import Path
from urllib.error import URLError

import numpy as np
import pytest
import torch
from torch.nn import functional as F

from superres import lpips as L
from superres.errors import InputError, SuperResError
from superres.lpips import LPIPS, LPIPSUnavailable, lpips_distance, normalize_tensor

ALEX_CONVS = {0: (64, 3, 11), 3: (192, 64, 5), 6: (384, 192, 3), 8: (256, 384, 3), 10: (256, 256, 3)}
VGG_CONVS = {
    0: (64, 3), 2: (64, 64), 5: (128, 64), 7: (128, 128), 10: (256, 128), 12: (256, 256), 14: (256, 256),
    17: (512, 256), 19: (512, 512), 21: (512, 512), 24: (512, 512), 26: (512, 512), 28: (512, 512),
}
HEAD_CHANNELS = {"alex": (64, 192, 384, 256, 256), "vgg": (64, 128, 256, 512, 512)}

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "weights"  # ../shared beside the repo


def _fake_backbone(net: str, seed: int = 0, dtype: torch.dtype = torch.float32) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    sd: dict[str, torch.Tensor] = {}
    if net == "alex":
        convs = {i: (co, ci, k) for i, (co, ci, k) in ALEX_CONVS.items()}
    else:
        convs = {i: (co, ci, 3) for i, (co, ci) in VGG_CONVS.items()}
    for i, (co, ci, k) in convs.items():
        std = math.sqrt(2.0 / (ci * k * k))
        sd[f"features.{i}.weight"] = (torch.randn(co, ci, k, k, generator=g) * std).to(dtype)
        sd[f"features.{i}.bias"] = (torch.randn(co, generator=g) * 0.01).to(dtype)
    # A full torchvision file also holds classifier tensors: they must be ignored.
    sd["classifier.1.weight"] = torch.zeros(4, 4)
    return sd


def _fake_heads(net: str, seed: int = 1) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return {
        f"lin{k}.model.1.weight": torch.rand(1, c, 1, 1, generator=g) * 0.1
        for k, c in enumerate(HEAD_CHANNELS[net])
    }


@pytest.fixture(autouse=True)
def _isolated(monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    """No network, an empty TORCH_HOME, and no model cached across tests."""

    def no_download(url: str, dst: str, *args, **kwargs) -> None:
        raise URLError(f"network disabled in tests ({url})")

    monkeypatch.setattr(torch.hub, "download_url_to_file", no_download)
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "empty_torch_home"))
    L.clear_cache()
    yield
    L.clear_cache()


@pytest.fixture(scope="module")
def alex_files(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    d = tmp_path_factory.mktemp("alex")
    torch.save(_fake_backbone("alex"), d / "alexnet-owt-7be5be79.pth")
    torch.save(_fake_heads("alex"), d / "alex.pth")
    return d / "alexnet-owt-7be5be79.pth", d / "alex.pth"


@pytest.fixture(scope="module")
def alex(alex_files: tuple[Path, Path]) -> LPIPS:
    return LPIPS("alex", backbone_weights=alex_files[0], head_weights=alex_files[1])


def _images(n: int = 2, size: int = 40, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.rand(n, 3, size, size, generator=g)


# --------------------------------------------------------------------------- basics


def test_identical_images_give_exactly_zero(alex: LPIPS) -> None:
    x = _images(3)
    with torch.no_grad():
        d = alex(x, x.clone())
    assert torch.equal(d, torch.zeros(3))


def test_symmetric_and_positive(alex: LPIPS) -> None:
    x, y = _images(2, seed=1), _images(2, seed=2)
    with torch.no_grad():
        dxy, dyx = alex(x, y), alex(y, x)
    torch.testing.assert_close(dxy, dyx, rtol=1e-6, atol=0.0)
    assert (dxy > 0).all()


def test_shapes_and_batching(alex: LPIPS) -> None:
    x, y = _images(4, size=48, seed=3), _images(4, size=48, seed=4)
    with torch.no_grad():
        batch = alex(x, y)
        single = torch.cat([alex(x[i : i + 1], y[i : i + 1]) for i in range(4)])
        unbatched = alex(x[0], y[0])
    assert batch.shape == (4,)
    assert unbatched.shape == (1,)
    torch.testing.assert_close(batch, single, rtol=1e-5, atol=1e-7)
    torch.testing.assert_close(unbatched, batch[:1], rtol=1e-5, atol=1e-7)
    # Non-square inputs work too.
    with torch.no_grad():
        assert alex(_images(1, 64)[..., :40], _images(1, 64, seed=9)[..., :40]).shape == (1,)


def test_input_validation(alex: LPIPS) -> None:
    x = _images(1, 40)
    with pytest.raises(InputError, match="differ in shape"):
        alex(x, _images(1, 48))
    with pytest.raises(InputError, match="RGB"):
        alex(x[:, :1], x[:, :1])
    with pytest.raises(InputError, match="at least 31x31"):
        alex(x[..., :30, :30], x[..., :30, :30])


def test_gradients_reach_the_input_but_not_the_weights(alex: LPIPS) -> None:
    x = _images(1, 40, seed=5).requires_grad_(True)
    y = _images(1, 40, seed=6)
    alex(x, y).sum().backward()
    assert x.grad is not None and torch.isfinite(x.grad).all() and x.grad.abs().sum() > 0
    assert all(not p.requires_grad for p in alex.parameters())
    assert not alex.training


def test_lpips_distance_inputs(alex_files: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    home = tmp_path / "home"
    (home / "hub" / "checkpoints").mkdir(parents=True)
    (home / "lpips-v0.1").mkdir()
    (home / "hub" / "checkpoints" / "alexnet-owt-7be5be79.pth").write_bytes(alex_files[0].read_bytes())
    (home / "lpips-v0.1" / "alex.pth").write_bytes(alex_files[1].read_bytes())
    monkeypatch.setenv("TORCH_HOME", str(home))

    rng = np.random.default_rng(0)
    a = rng.integers(0, 256, size=(33, 41, 3), dtype=np.uint8)
    b = rng.integers(0, 256, size=(33, 41, 3), dtype=np.uint8)
    ta = torch.from_numpy(a).permute(2, 0, 1).float() / 255
    tb = torch.from_numpy(b).permute(2, 0, 1).float() / 255

    d_np = lpips_distance(a, b)
    assert isinstance(d_np, float) and d_np > 0
    assert lpips_distance(a, a) == 0.0
    assert lpips_distance(ta, tb) == pytest.approx(d_np, rel=1e-5)
    assert lpips_distance(ta[None], tb[None]) == pytest.approx(d_np, rel=1e-5)
    with pytest.raises(InputError, match="batch"):
        lpips_distance(torch.stack([ta, ta]), torch.stack([tb, tb]))
    with pytest.raises(InputError):
        lpips_distance(a[:, :, :1], b[:, :, :1])
    assert len(L._MODELS) == 1  # built once, reused


# --------------------------------------------------------------------------- reference


def test_normalize_tensor_by_hand() -> None:
    f = torch.tensor([3.0, 4.0, 0.0]).view(1, 3, 1, 1)
    torch.testing.assert_close(normalize_tensor(f).flatten(), torch.tensor([0.6, 0.8, 0.0]))
    assert torch.equal(normalize_tensor(torch.zeros(1, 5, 2, 2)), torch.zeros(1, 5, 2, 2))


def test_first_layer_matches_hand_computation(alex_files: tuple[Path, Path], tmp_path: Path) -> None:
    """Zero all heads but lin0 and recompute layer 1 independently in float64 NumPy."""
    heads = _fake_heads("alex", seed=7)
    for k in range(1, 5):
        heads[f"lin{k}.model.1.weight"].zero_()
    torch.save(heads, tmp_path / "heads.pth")
    model = LPIPS("alex", backbone_weights=alex_files[0], head_weights=tmp_path / "heads.pth")

    x, y = _images(1, 31, seed=11), _images(1, 31, seed=12)
    with torch.no_grad():
        got = float(model(x, y)[0])

    bb = _fake_backbone("alex")
    w = bb["features.0.weight"].double().numpy()  # (64, 3, 11, 11)
    bias = bb["features.0.bias"].double().numpy()
    lin = heads["lin0.model.1.weight"].double().numpy().reshape(64)
    shift = np.array([-0.030, -0.088, -0.188]).reshape(3, 1, 1)
    scale = np.array([0.458, 0.448, 0.450]).reshape(3, 1, 1)

    def layer1(img: torch.Tensor) -> np.ndarray:
        a = (2.0 * img[0].double().numpy() - 1.0 - shift) / scale
        a = np.pad(a, ((0, 0), (2, 2), (2, 2)))  # padding 2
        n = (a.shape[1] - 11) // 4 + 1  # stride 4
        out = np.zeros((64, n, n))
        for i in range(n):
            for j in range(n):
                patch = a[:, 4 * i : 4 * i + 11, 4 * j : 4 * j + 11]
                out[:, i, j] = np.tensordot(w, patch, axes=([1, 2, 3], [0, 1, 2])) + bias
        out = np.maximum(out, 0.0)
        return out / (np.sqrt((out**2).sum(axis=0, keepdims=True)) + 1e-10)

    fx, fy = layer1(x), layer1(y)
    assert fx.shape == (64, 7, 7)
    expected = float(np.mean(np.tensordot(lin, (fx - fy) ** 2, axes=(0, 0))))
    assert got == pytest.approx(expected, rel=1e-4)


def test_vgg_variant_with_float16_weights(tmp_path: Path) -> None:
    # The distributed VGG16 file is float16: it must load (as float32).
    torch.save(_fake_backbone("vgg", dtype=torch.float16), tmp_path / "vgg16.pth")
    torch.save(_fake_heads("vgg"), tmp_path / "vgg.pth")
    model = LPIPS("vgg16", backbone_weights=tmp_path / "vgg16.pth", head_weights=tmp_path / "vgg.pth")
    assert model.net_name == "vgg"
    assert all(p.dtype == torch.float32 for p in model.parameters())
    x, y = _images(2, 16, seed=1), _images(2, 16, seed=2)
    with torch.no_grad():
        d = model(x, y)
        assert torch.equal(model(x, x), torch.zeros(2))
    assert d.shape == (2,) and (d > 0).all()
    with pytest.raises(InputError, match="at least 16x16"):
        model(x[..., :15, :15], y[..., :15, :15])


# --------------------------------------------------------------------------- weights


def test_unknown_net_is_rejected() -> None:
    with pytest.raises(SuperResError, match="unknown LPIPS network"):
        LPIPS("squeeze")


def test_missing_weights_raise_helpful_error(tmp_path: Path) -> None:
    assert issubclass(LPIPSUnavailable, SuperResError)
    # Nothing in TORCH_HOME and no network (autouse fixture).
    with pytest.raises(LPIPSUnavailable) as info:
        LPIPS("alex")
    msg = str(info.value)
    assert "alexnet-owt-7be5be79.pth" in msg and "TORCH_HOME" in msg
    assert "superres models --fetch lpips" in msg  # the one command that fixes it
    assert "network disabled" in msg  # the reason is given
    assert "\n" not in msg  # one line
    # Explicit path that does not exist.
    with pytest.raises(LPIPSUnavailable, match="does not exist.*TORCH_HOME"):
        LPIPS("alex", backbone_weights=tmp_path / "nope.pth", head_weights=tmp_path / "nope2.pth")
    # lpips_distance must raise too (callers report "unavailable", never 0).
    img = np.zeros((32, 32, 3), np.uint8)
    with pytest.raises(LPIPSUnavailable):
        lpips_distance(img, img)


def test_heads_missing_only(alex_files: tuple[Path, Path], tmp_path: Path) -> None:
    with pytest.raises(LPIPSUnavailable) as info:
        LPIPS("alex", backbone_weights=alex_files[0])
    msg = str(info.value)
    assert "lpips-v0.1" in msg and "lpips_v0.1_alex.pth" in msg and "TORCH_HOME" in msg


def test_wrong_or_corrupt_files_raise(alex_files: tuple[Path, Path], tmp_path: Path) -> None:
    torch.save(_fake_heads("vgg"), tmp_path / "vgg_heads.pth")
    with pytest.raises(LPIPSUnavailable, match="shape"):
        LPIPS("alex", backbone_weights=alex_files[0], head_weights=tmp_path / "vgg_heads.pth")
    torch.save({"classifier.1.weight": torch.zeros(2)}, tmp_path / "no_features.pth")
    with pytest.raises(LPIPSUnavailable, match="lack"):
        LPIPS("alex", backbone_weights=tmp_path / "no_features.pth", head_weights=alex_files[1])
    (tmp_path / "garbage.pth").write_bytes(b"not a checkpoint")
    with pytest.raises(LPIPSUnavailable, match="cannot read"):
        LPIPS("alex", backbone_weights=tmp_path / "garbage.pth", head_weights=alex_files[1])


def test_loading_through_torch_home(
    alex_files: tuple[Path, Path], alex: LPIPS, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    home = tmp_path / "cache"
    ckpt = home / "hub" / "checkpoints"
    ckpt.mkdir(parents=True)
    (ckpt / "alexnet-owt-7be5be79.pth").write_bytes(alex_files[0].read_bytes())
    monkeypatch.setenv("TORCH_HOME", str(home))
    x, y = _images(1, 40, seed=21), _images(1, 40, seed=22)
    with torch.no_grad():
        ref = alex(x, y)

    # Heads as $TORCH_HOME/lpips-v0.1/alex.pth.
    (home / "lpips-v0.1").mkdir()
    (home / "lpips-v0.1" / "alex.pth").write_bytes(alex_files[1].read_bytes())
    with torch.no_grad():
        torch.testing.assert_close(LPIPS("alex")(x, y), ref, rtol=0, atol=0)

    # Heads in the hub cache under the name a download would give them.
    (home / "lpips-v0.1" / "alex.pth").unlink()
    (ckpt / "lpips_v0.1_alex.pth").write_bytes(alex_files[1].read_bytes())
    with torch.no_grad():
        torch.testing.assert_close(LPIPS("alex")(x, y), ref, rtol=0, atol=0)

    # No heads cached: they are downloaded from the official URL into the hub cache.
    (ckpt / "lpips_v0.1_alex.pth").unlink()
    calls: list[tuple[str, str]] = []

    def fake_download(url: str, dst: str, *args, **kwargs) -> None:
        calls.append((url, dst))
        Path(dst).write_bytes(alex_files[1].read_bytes())

    monkeypatch.setattr(torch.hub, "download_url_to_file", fake_download)
    with torch.no_grad():
        torch.testing.assert_close(LPIPS("alex")(x, y), ref, rtol=0, atol=0)
    assert calls == [(L.HEAD_URLS["alex"], str(ckpt / "lpips_v0.1_alex.pth"))]


# --------------------------------------------------------------------------- real weights


def _real_paths(net: str) -> tuple[Path, Path]:
    bb = SHARED / "hub" / "checkpoints" / ("alexnet-owt-7be5be79.pth" if net == "alex" else "vgg16-397923af.pth")
    return bb, SHARED / "lpips-v0.1" / f"{net}.pth"


def _gaussian_blur(x: torch.Tensor, sigma: float) -> torch.Tensor:
    r = int(math.ceil(3 * sigma))
    t = torch.arange(-r, r + 1, dtype=torch.float32)
    k = torch.exp(-(t**2) / (2 * sigma**2))
    k = k / k.sum()
    x = F.pad(x, (r, r, r, r), mode="reflect")
    x = F.conv2d(x, k.view(1, 1, 1, -1).repeat(3, 1, 1, 1), groups=3)
    return F.conv2d(x, k.view(1, 1, -1, 1).repeat(3, 1, 1, 1), groups=3)


@pytest.mark.parametrize("net", ["alex", "vgg"])
def test_real_weights_rank_blur_worse_than_mild_noise(net: str) -> None:
    bb, hd = _real_paths(net)
    image = SHARED.parent / "data" / "bench" / "Set5" / "HR" / "butterfly.png"
    if not (bb.is_file() and hd.is_file() and image.is_file()):
        pytest.skip("real LPIPS weights / Set5 image not present (../shared beside the repository)")
    from PIL import Image

    arr = np.asarray(Image.open(image).convert("RGB"), dtype=np.float32)[:128, :128] / 255.0
    ref = torch.from_numpy(arr).permute(2, 0, 1)[None].contiguous()
    g = torch.Generator().manual_seed(0)
    noisy = (ref + torch.randn(ref.shape, generator=g) * (4 / 255)).clamp(0, 1)
    blurred = _gaussian_blur(ref, sigma=2.0)

    model = LPIPS(net, backbone_weights=bb, head_weights=hd)
    with torch.no_grad():
        d_same = float(model(ref, ref)[0])
        d_noise = float(model(ref, noisy)[0])
        d_blur = float(model(ref, blurred)[0])
    assert d_same == 0.0
    assert 0.0 < d_noise < d_blur, (d_noise, d_blur)
    assert d_blur > 0.1  # strong blur is far from the reference on a published-scale metric


def test_failed_download_is_tried_and_said_once(monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    """Offline, a command scoring many images tries the network once, prints nothing itself,
    and every later attempt raises the same one-line message."""
    calls: list[str] = []

    def offline(url: str, dst: str, *args, **kwargs) -> None:
        calls.append(url)
        raise URLError("Name or service not known")

    monkeypatch.setattr(torch.hub, "download_url_to_file", offline)
    errors = []
    for _ in range(3):
        with pytest.raises(LPIPSUnavailable) as info:
            L._get_model("alex")
        errors.append(str(info.value))
    assert calls == [L.BACKBONE_URLS["alex"]]
    assert len(set(errors)) == 1 and "Name or service not known" in errors[0]
    out = capsys.readouterr()
    assert "Downloading" not in out.out + out.err
