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


# --- visible artefacts (superres.artefacts) on images the test makes ----------------------------

#: shipped files known to fail the artefact test, by sha256, with the figures measured on them
#: (``python benchmarks/artefacts.py``). The xfail is strict and tied to the file: a replaced
#: file runs as a normal case, and must pass.
#: Empty since 2026-12-07: the last entry was the srgan-x4-fast of 2026-11-29 (pink/green dot grid, chroma
#: excess 6.11 > 2.0 levels here, 14.79 on training-photo crops), replaced by issue 21's, which passes.
KNOWN_ARTEFACTS: dict[str, str] = {}


def _artefact_cases():
    cases = []
    for e in SHIPPED:
        sha = hashlib.sha256(e.weights.path.read_bytes()).hexdigest()
        marks = [pytest.mark.xfail(strict=True, reason=KNOWN_ARTEFACTS[sha])] if sha in KNOWN_ARTEFACTS else []
        cases.append(pytest.param(e, marks=marks, id=e.name))
    return cases


@pytest.fixture(scope="module")
def artefact_scenes():
    """(reference, x4-smaller input) for the synthetic bark, water, fur, edges, flat colours and grey text."""
    from superres.artefacts import synthetic_scenes
    from superres.resize import imresize

    out = []
    for hr in synthetic_scenes(192, seed=0).values():
        lr = imresize(torch.from_numpy(hr).permute(2, 0, 1).float(), scale=0.25).round().clamp(0, 255)
        out.append((hr, lr.byte().permute(1, 2, 0).numpy()))
    return out


@pytest.mark.skipif(not SHIPPED, reason="no trained weights are installed in this checkout")
@pytest.mark.parametrize("entry", _artefact_cases())
def test_shipped_model_has_no_visible_artefacts(entry, artefact_scenes):
    """No stripes, hatching or dots tied to the 4x4 grid, no colour fringes, flat colours and
    grey text keep their colour (thresholds: superres.artefacts.THRESHOLDS)."""
    from superres.api import make_upscaler
    from superres.artefacts import measure

    up = make_upscaler(entry.name, device="cpu", precision="fp32")
    report = measure([(up.upscale_array(lr), hr) for hr, lr in artefact_scenes])
    assert not report.failures(), f"{entry.name}: " + "; ".join(report.failures())


@pytest.mark.skipif(not SHIPPED, reason="no trained weights are installed in this checkout")
@pytest.mark.parametrize("entry", SHIPPED, ids=lambda e: e.name)
def test_engine_uses_the_border_treatment_recorded_in_the_card(entry):
    import superres
    from superres.inference import Upscaler

    border = entry.weights.card().get("extra", {}).get("border")
    up = Upscaler(superres.load_model(entry.name), device="cpu")
    if border is None:  # not measured yet: the architecture's default, reflection pre-padding
        assert up.pre_pad == 8
    else:
        assert up.pre_pad == (0 if border["treatment"] == "zero" else border["pad"])
