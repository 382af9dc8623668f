"""The int8 path: calibration, rebuilding from the card, the gate's say, and ``auto``."""

import pytest
import torch

from superres.errors import SuperResError
from superres.inference import Upscaler
from superres.inference import optimize as opt
from superres.inference.optimize import optimize_for_inference
from superres.inference.quantize import calibrate_int8, quantize_int8
from superres.inference.upscaler import resolve_precision
from superres.models import SRCNN, CompactSR, SRResNet
from superres.weights import ModelCard

CPU = torch.device("cpu")


def _calibrated(model):
    g = torch.Generator().manual_seed(0)
    base = optimize_for_inference(model.eval(), CPU, channels_last=False, prelu=False)
    batches = [torch.rand(1, 3, 12, 12, generator=g) for _ in range(3)]
    return base, *calibrate_int8(base, batches)


@pytest.mark.parametrize("make, mode", [(lambda: SRResNet(channels=8, n_blocks=2), "fx"),
                                        (lambda: CompactSR(num_feat=8, num_conv=2), "per-conv"),
                                        (lambda: SRCNN(), "per-conv")])
def test_int8_rebuilt_from_the_card_equals_the_calibrated_one_and_stays_close(make, mode):
    torch.manual_seed(0)
    model = make()
    base, q, entry = _calibrated(model)
    assert entry["mode"] == mode and entry["qparams"]
    again = quantize_int8(base, entry)
    x = torch.rand(1, 3, 10, 14, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        ref, a, b = base(x), q(x), again(x)
    assert torch.equal(a, b)  # the card's numbers give the same network on every machine
    assert a.shape == ref.shape
    assert (a - ref).abs().mean() < 0.03


def test_the_image_producing_convolution_stays_float():
    base, q, _ = _calibrated(SRResNet(channels=8, n_blocks=1))
    assert type(q.tail.conv) is torch.nn.Conv2d  # float: no 256-level rounding of the image
    assert any("quantized" in type(m).__module__ for m in q.modules())


def test_a_card_from_another_network_is_refused():
    _, _, entry = _calibrated(SRResNet(channels=8, n_blocks=2))
    other = optimize_for_inference(SRResNet(channels=8, n_blocks=3).eval(), CPU, channels_last=False, prelu=False)
    with pytest.raises(SuperResError, match="does not match"):
        quantize_int8(other, entry)


def _with_card(model, entry):
    model.card = ModelCard(name="tiny", arch="srresnet", args={}, scale=4, extra={"int8": entry})
    return model


def test_upscaler_int8_only_for_models_that_passed_the_gate():
    model = SRResNet(channels=8, n_blocks=1).eval()
    with pytest.raises(SuperResError, match="no int8 calibration"):
        Upscaler(model, device="cpu", precision="int8")
    _, _, entry = _calibrated(model)
    with pytest.raises(SuperResError, match="failed the int8 quality gate"):
        Upscaler(_with_card(model, dict(entry, ok=False)), device="cpu", precision="int8")
    up = Upscaler(_with_card(model, dict(entry, ok=True)), device="cpu", precision="int8", tile=0)
    y = up(torch.rand(1, 3, 9, 11))
    assert y.shape == (1, 3, 36, 44) and 0 <= float(y.min()) and float(y.max()) <= 1
    with pytest.raises(ValueError, match="float32 only"):
        Upscaler(model, device="cpu", precision="int8", backend="onnxruntime")


def test_auto_picks_int8_only_with_vnni_and_a_passed_gate(monkeypatch):
    model = SRResNet(channels=8, n_blocks=1).eval()
    _, _, entry = _calibrated(model)
    _with_card(model, dict(entry, ok=True))
    monkeypatch.setattr(opt, "_cpu_flags", lambda: {"avx2", "fma"})
    assert resolve_precision("auto", model, CPU) == "fp32"  # AVX2 only: int8 is not picked by itself
    monkeypatch.setattr(opt, "_cpu_flags", lambda: {"avx2", "avx512_vnni"})
    assert resolve_precision("auto", model, CPU) == "int8"
    model.card.extra["int8"]["ok"] = False
    assert resolve_precision("auto", model, CPU) == "fp32"


@pytest.mark.parametrize("flags, vnni", [({"avx512_vnni"}, True), ({"avx_vnni"}, True), ({"amx_int8"}, True),
                                         ({"avx2", "fma", "f16c"}, False), (set(), False)])
def test_cpu_has_vnni(monkeypatch, flags, vnni):
    monkeypatch.setattr(opt, "_cpu_flags", lambda: flags)
    assert opt.cpu_has_vnni() is vnni


def test_full_range_reference_is_a_what_if_not_a_card_entry():
    model = SRResNet(channels=8, n_blocks=1).eval()
    base = optimize_for_inference(model, CPU, channels_last=False, prelu=False)
    g = torch.Generator().manual_seed(0)
    ref_net, entry = calibrate_int8(base, [torch.rand(1, 3, 12, 12, generator=g)], full_range_reference=True)
    assert all(zp >= 0 for _, zp in entry["qparams"].values())
    assert not any("quantized.modules" in type(m).__module__ for m in ref_net.modules())  # float reference ops
    x = torch.rand(1, 3, 9, 9, generator=g)
    with torch.no_grad():
        assert (ref_net(x) - base(x)).abs().mean() < 0.03


def test_gate_rerun_for_one_model_keeps_the_others_rows(tmp_path, monkeypatch, load_script):
    """benchmarks/int8_gate.py after a retrain gates only that model: the recorded rows of the others
    stay in the JSON and the MODELS.md table, each with the command and date that made it."""
    import json
    import sys

    gate = load_script("benchmarks/int8_gate.py")  # it imports its sibling real_photos
    monkeypatch.setattr(gate, "ROOT", tmp_path)
    (tmp_path / "benchmarks").mkdir()

    def entry(psnr: float, ok: bool) -> dict:
        sets = {ds: {"fp32": [psnr, 0.2], "int8": [psnr - 0.01, 0.2], "psnr_drop": 0.01, "lpips_rise": 0.0}
                for ds in ("Set5", "Set14")}
        return {"ok": ok, "gate": {"sets": sets}}

    old_meta = {"command": "gate --models a b", "date": "2026-01-01 00:00", "cpu": "cpu", "torch": "t"}
    (tmp_path / "benchmarks" / "int8_gate.json").write_text(
        json.dumps({"meta": old_meta, "models": {"a": entry(30.0, True), "b": entry(28.0, False)}}))
    (tmp_path / "MODELS.md").write_text("x\n<!-- int8:begin -->\nold\n<!-- int8:end -->\ny\n")
    meta = {"command": "gate --models b", "date": "2026-02-02 00:00", "cpu": "cpu", "torch": "t"}
    new_b = dict(entry(29.5, True), measured=meta)
    gate.record({"b": new_b}, meta, 32, 64)

    models = json.loads((tmp_path / "benchmarks" / "int8_gate.json").read_text())["models"]
    assert list(models) == ["a", "b"]  # the order of the table does not move
    assert models["a"]["measured"]["date"] == "2026-01-01 00:00" and models["a"]["ok"]
    assert models["b"]["measured"]["date"] == "2026-02-02 00:00" and models["b"]["ok"]
    md = (tmp_path / "MODELS.md").read_text()
    assert "old" not in md and md.startswith("x\n") and md.endswith("y\n")
    assert "| a | Set5 | 30.000" in md and "| b | Set5 | 29.500" in md and "| 28.000" not in md
    assert "a: `gate --models a b`" in md and "b: `gate --models b`" in md
    sys.modules.pop("real_photos", None)
