"""The weights shipped inside the package: integrity, cards, and sane output."""

import hashlib

import numpy as np
import pytest
import torch

from superres.registry import list_models, weights_dir

SHIPPED = [e for e in list_models() if e.weights is not None and e.weights.installed()]


def test_weights_folder_holds_only_registered_files():
    known = {e.weights.file for e in list_models() if e.weights is not None}
    for p in weights_dir().glob("*.safetensors"):
        assert p.name in known, f"{p.name} is not a registered model"


@pytest.mark.skipif(not SHIPPED, reason="no trained weights are installed in this checkout")
@pytest.mark.parametrize("entry", SHIPPED, ids=lambda e: e.name)
def test_shipped_weights_match_their_card(entry):
    card = entry.weights.card()
    data = entry.weights.path.read_bytes()
    assert card["sha256"] == hashlib.sha256(data).hexdigest()
    for key in ("arch", "args", "scale", "training_data", "recipe", "steps", "wall_time_hours", "hardware",
                "metrics", "license"):
        assert card.get(key) not in (None, "", {}), key
    assert {"Set5", "Set14"} <= set(card["metrics"])
    assert len(data) < 8_000_000  # small enough to ship inside the package


@pytest.mark.skipif(not SHIPPED, reason="no trained weights are installed in this checkout")
@pytest.mark.parametrize("entry", SHIPPED, ids=lambda e: e.name)
def test_shipped_model_beats_nearest_on_a_smooth_image(entry):
    """A trained model reconstructs a smooth synthetic image far better than nearest-neighbour."""
    import superres
    from superres.metrics import psnr
    from superres.resize import imresize

    yy, xx = np.mgrid[0:128, 0:128] / 128.0
    hr = np.stack([0.5 + 0.4 * np.sin(6 * xx + 3 * yy), 0.5 + 0.4 * np.cos(5 * yy), 0.3 + 0.3 * xx], -1)
    hr8 = (hr * 255).round().astype(np.uint8)
    lr = imresize(torch.from_numpy(hr8).permute(2, 0, 1).float(), scale=0.25).round().clamp(0, 255)
    lr8 = lr.byte().permute(1, 2, 0).numpy()
    sr = superres.upscale(lr8, model=entry.name)
    near = superres.upscale(lr8, model="nearest")
    assert psnr(sr, hr8) > psnr(near, hr8) + 3
