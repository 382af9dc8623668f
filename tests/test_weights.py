import hashlib
import json

import pytest
import torch

import superres
from superres.errors import ModelError
from superres.models import SRCNN, SRResNet
from superres.weights import ModelCard, load_weights, read_header, save_weights


def test_roundtrip_rebuilds_without_naming_the_architecture(tmp_path):
    m = SRResNet(channels=8, n_blocks=2).eval()
    card = ModelCard(name="t", arch="srresnet", args=m.args, scale=4, training_data="none", steps=3)
    p = save_weights(m, tmp_path / "t.safetensors", card)
    back = load_weights(p)
    assert isinstance(back, SRResNet) and back.args == m.args
    x = torch.rand(1, 3, 6, 6)
    assert torch.allclose(back(x), m(x), atol=2e-3)  # float16 storage
    meta = read_header(p)
    assert meta["format"] == "superres" and meta["arch"] == "srresnet"
    side = json.loads((tmp_path / "t.json").read_text())
    assert side["sha256"] == hashlib.sha256(p.read_bytes()).hexdigest()
    assert back.card.steps == 3


def test_float32_storage_is_exact(tmp_path):
    m = SRCNN().eval()
    p = save_weights(m, tmp_path / "s.safetensors", dtype=torch.float32)
    back = superres.load_model(p)
    for (k, a), (_, b) in zip(m.state_dict().items(), back.state_dict().items()):
        assert torch.equal(a, b), k


def test_foreign_safetensors_rejected_with_a_reason(tmp_path):
    from safetensors.torch import save_file

    save_file({"w": torch.zeros(2)}, str(tmp_path / "x.safetensors"))
    with pytest.raises(ModelError, match="superres"):
        load_weights(tmp_path / "x.safetensors")


def test_garbage_file_is_a_model_error(tmp_path):
    p = tmp_path / "bad.safetensors"
    p.write_bytes(b"not a safetensors file at all")
    with pytest.raises(ModelError):
        superres.load_model(p)


def test_registry_unknown_name_suggests_closest():
    with pytest.raises(ModelError, match="srgan-x4"):
        superres.load_model("srgan_x4")
    with pytest.raises(ModelError, match="Available"):
        superres.create_model("nonsense-model")


def test_registry_builds_named_architectures_untrained():
    g = superres.create_model("srgan-x4", pretrained=False)
    assert sum(p.numel() for p in g.parameters()) == 1_549_462
    assert superres.create_model("bicubic").info.scale == 4


def test_registry_loads_installed_weights(tmp_path, monkeypatch):
    monkeypatch.setenv("SUPERRES_WEIGHTS_DIR", str(tmp_path))
    from superres.registry import default_model

    assert default_model() == "bicubic"  # nothing installed
    m = SRResNet().eval()
    save_weights(m, tmp_path / "srresnet-x4.safetensors")
    assert default_model() == "srresnet-x4"
    loaded = superres.load_model("srresnet-x4")
    x = torch.rand(1, 3, 5, 5)
    assert torch.allclose(loaded(x), m(x), atol=5e-3)
    with pytest.raises(ModelError, match="no weights installed"):
        superres.load_model("srgan-x4")


def test_lazy_top_level_api():
    assert "upscale" in superres.__all__ and callable(superres.upscale)
    with pytest.raises(AttributeError):
        superres.no_such_thing  # noqa: B018
