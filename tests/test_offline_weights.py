"""Offline behaviour with the third-party ImageNet weights (LPIPS AlexNet, the VGG content loss).

No network: every download raises as it does on a machine without access, and TORCH_HOME is
empty. Each command must say once what is missing, where it looked (TORCH_HOME) and the one
command that fixes it, and never end in a traceback.
"""

from __future__ import annotations

from pathlib import Path
from urllib.error import URLError

import numpy as np
import pytest
import torch
from PIL import Image

from superres.cli import main
from superres.errors import FETCH_WEIGHTS_COMMAND


@pytest.fixture(autouse=True)
def offline(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> list[str]:
    from superres import lpips as L

    tried: list[str] = []

    def no_network(url: str, *args, **kwargs):
        tried.append(url)
        raise URLError("[Errno -2] Name or service not known")

    monkeypatch.setattr(torch.hub, "download_url_to_file", no_network)
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "empty_torch_home"))
    L.clear_cache()
    yield tried
    L.clear_cache()


def _photo(path: Path, size: int = 64) -> Path:
    rng = np.random.default_rng(0)
    small = rng.integers(0, 256, (size // 8, size // 8, 3), dtype=np.uint8)
    Image.fromarray(small).resize((size, size), Image.BICUBIC).save(path)
    return path


def test_compare_says_plainly_that_lpips_is_missing(tmp_path: Path, capsys, offline) -> None:
    img = _photo(tmp_path / "p.png")
    assert main(["compare", str(img), "--models", "bicubic,nearest", "-o", str(tmp_path / "c.png")]) == 0
    cap = capsys.readouterr()
    text = cap.out + cap.err
    assert "Downloading" not in text
    assert text.count(FETCH_WEIGHTS_COMMAND) == 1  # said once, with the fix
    assert "TORCH_HOME" in text and "alexnet-owt-7be5be79.pth" in text
    assert "LPIPS: NOT MEASURED" in cap.out
    assert len(offline) == 1  # the network was tried once, not per image


def test_eval_says_plainly_that_lpips_is_missing(tmp_path: Path, capsys) -> None:
    hr = tmp_path / "set" / "HR"
    hr.mkdir(parents=True)
    for i in range(2):
        _photo(hr / f"{i}.png")
    assert main(["eval", "--models", "bicubic", "--data", str(tmp_path / "set"), "-q"]) == 0
    cap = capsys.readouterr()
    assert "LPIPS: NOT MEASURED" in cap.out and FETCH_WEIGHTS_COMMAND in cap.out
    assert cap.err.count("LPIPS(alex) unavailable") == 1 and "Downloading" not in cap.err


def _srgan_args(tmp_path: Path) -> list[str]:
    from superres.models import SRResNet
    from superres.weights import save_weights

    photos = tmp_path / "photos"
    photos.mkdir()
    for i in range(2):
        _photo(photos / f"{i}.png", 96)
    init = save_weights(SRResNet(channels=8, n_blocks=1), tmp_path / "init.safetensors", dtype=torch.float32)
    return ["train", "srgan", "--data", str(photos), "--run", str(tmp_path / "run"), "--cache", str(tmp_path / "c"),
            "--no-progress"] + [x for kv in (f"init_from={init}", "channels=8", "n_blocks=1", "hr_crop=32",
                                             "batch_size=2", "max_steps=1", "threads=1")
                                for x in ("--set", kv)]


def _one_error_line(err: str) -> str:
    lines = [ln for ln in err.strip().splitlines() if ln.strip() and "caching training images" not in ln]
    assert len(lines) == 1, err
    assert "Traceback" not in err
    return lines[0]


def test_train_srgan_offline_is_one_line_exit_2(tmp_path: Path, capsys, offline) -> None:
    assert main(_srgan_args(tmp_path)) == 2
    line = _one_error_line(capsys.readouterr().err)
    assert "VGG" in line and "TORCH_HOME" in line and FETCH_WEIGHTS_COMMAND in line
    assert "vgg19-dcbb9e9d.pth" in line and "vgg16-397923af.pth" in line
    assert len(offline) == 2  # VGG19, then the VGG16 fallback


def test_vgg_weights_path_is_a_file_never_a_url(tmp_path: Path, capsys, offline) -> None:
    missing = tmp_path / "nonexistent.pth"
    assert main(_srgan_args(tmp_path) + ["--set", f"vgg_weights={missing}"]) == 2
    line = _one_error_line(capsys.readouterr().err)
    assert f"vgg_weights={missing}: no such file" in line and "url" not in line.lower()
    assert offline == []  # nothing was downloaded

    # an existing local file is read as a file (a torchvision-layout state dict)
    from superres.training.losses import VGGFeatures, build_vgg

    ref = VGGFeatures("vgg16", "conv2_2")
    path = tmp_path / "vgg16.pth"
    torch.save({f"features.{k}": v for k, v in ref.features.state_dict().items()}, path)
    vgg, used = build_vgg("vgg16", "conv2_2", str(path))
    assert str(path) in used and offline == []
    torch.testing.assert_close(vgg.features[0].weight, ref.features[0].weight)
