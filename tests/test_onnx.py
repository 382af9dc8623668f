"""ONNX export and the ONNX Runtime backend (skipped when the optional extra is missing)."""

import numpy as np
import pytest
import torch

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

from superres.inference import Upscaler  # noqa: E402
from superres.inference.onnx import OrtRunner, export_onnx  # noqa: E402
from superres.models import SRCNN, CompactSR, SRResNet  # noqa: E402
from superres.weights import save_weights  # noqa: E402


def _bn_trained(m):
    """Give BatchNorm layers non-trivial running statistics so folding is exercised."""
    m.train()
    with torch.no_grad():
        for _ in range(3):
            m(torch.rand(2, 3, 12, 12))
    return m.eval()


@pytest.mark.parametrize("make", [lambda: _bn_trained(SRResNet(channels=8, n_blocks=2)),
                                  lambda: _bn_trained(SRResNet(channels=8, n_blocks=1, project=True)),
                                  lambda: CompactSR(num_feat=8, num_conv=3),
                                  lambda: CompactSR(num_feat=8, num_conv=3, project=True),
                                  lambda: SRCNN(n1=8, n2=4)])
def test_ort_backend_matches_torch(make):
    torch.manual_seed(0)
    m = make()
    x = torch.rand(1, 3, 37, 29)
    ref = Upscaler(m, tile=0, precision="fp32", device="cpu")(x)
    got = Upscaler(m, tile=0, precision="fp32", device="cpu", backend="onnxruntime")(x)
    assert got.shape == ref.shape
    assert float((got - ref).abs().max()) < 2e-4
    # tiled: equal-size tiles share one exported graph
    up = Upscaler(m, tile=16, tile_pad=4, precision="fp32", device="cpu", backend="onnxruntime")
    tiled_ref = Upscaler(m, tile=16, tile_pad=4, precision="fp32", device="cpu")(x)
    assert float((up(x) - tiled_ref).abs().max()) < 2e-4
    assert len(up._ort._sessions) <= 2


def test_export_dynamic_graph_and_metadata(tmp_path):
    m = _bn_trained(SRResNet(channels=8, n_blocks=1))
    out = export_onnx(m, tmp_path / "m.onnx")
    proto = onnx.load(str(out))
    meta = {p.key: p.value for p in proto.metadata_props}
    assert meta["superres_scale"] == "4" and meta["superres_arch"] == "srresnet"
    sess = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    for h, w in [(10, 13), (31, 17)]:  # any size, batch 2
        x = torch.rand(2, 3, h, w)
        (y,) = sess.run(["sr"], {"lr": x.numpy()})
        with torch.no_grad():
            assert np.abs(y - m(x).numpy()).max() < 2e-4
    with pytest.raises(Exception, match="exists"):
        export_onnx(m, out)


def test_size_dependent_model_needs_a_fixed_size(tmp_path):
    from superres.errors import SuperResError

    m = SRCNN(n1=8, n2=4).eval()  # its bicubic enlargement is a size-dependent matrix product
    with pytest.raises(SuperResError, match="--size"):
        export_onnx(m, tmp_path / "c.onnx")
    out = export_onnx(m, tmp_path / "c.onnx", size=(20, 30))
    sess = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    x = torch.rand(1, 3, 20, 30)
    with torch.no_grad():
        assert np.abs(sess.run(["sr"], {"lr": x.numpy()})[0] - m(x).numpy()).max() < 2e-4


def test_compact_model_exports_one_graph_for_any_size(tmp_path):
    """CompactSR's bicubic skip goes out as a low-resolution conv, so its graph is size-free."""
    m = CompactSR(num_feat=8, num_conv=2).eval()
    out = export_onnx(m, tmp_path / "c.onnx")
    sess = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    for h, w in [(5, 9), (23, 16)]:
        x = torch.rand(2, 3, h, w)
        with torch.no_grad():
            assert np.abs(sess.run(["sr"], {"lr": x.numpy()})[0] - m(x).numpy()).max() < 2e-4


def test_cli_export_onnx_and_upscale_backend(tmp_path):
    from PIL import Image

    from superres.cli import main

    w = save_weights(_bn_trained(SRResNet(channels=8, n_blocks=1)), tmp_path / "tiny.safetensors",
                     dtype=torch.float32)
    assert main(["export", "--onnx", str(w), "-o", str(tmp_path / "tiny.onnx")]) == 0
    assert (tmp_path / "tiny.onnx").stat().st_size > 1000
    assert main(["export", "--onnx", str(w), "-o", str(tmp_path / "tiny.txt")]) != 0
    img = tmp_path / "in.png"
    Image.fromarray((np.random.default_rng(0).random((20, 24, 3)) * 255).astype(np.uint8)).save(img)
    a, b = tmp_path / "a.png", tmp_path / "b.png"
    assert main(["upscale", str(img), "-m", str(w), "-o", str(a), "--precision", "fp32", "-q"]) == 0
    assert main(["upscale", str(img), "-m", str(w), "-o", str(b), "--backend", "onnxruntime", "-q"]) == 0
    diff = np.abs(np.asarray(Image.open(a), np.int16) - np.asarray(Image.open(b), np.int16))
    assert diff.max() <= 1


def test_ort_backend_refuses_reduced_precision():
    with pytest.raises(ValueError, match="float32"):
        Upscaler(SRResNet(channels=8, n_blocks=1), device="cpu", precision="bf16", backend="onnxruntime")


def test_missing_onnxruntime_names_the_install(monkeypatch):
    import builtins

    from superres.errors import SuperResError

    real = builtins.__import__

    def fake(name, *a, **k):
        if name == "onnxruntime":
            raise ImportError("no onnxruntime")
        return real(name, *a, **k)

    monkeypatch.setattr(builtins, "__import__", fake)
    with pytest.raises(SuperResError, match=r"superres\[onnx\]"):
        OrtRunner(SRResNet(channels=8, n_blocks=1))


@pytest.mark.parametrize("make", [lambda: _bn_trained(SRResNet(channels=8, n_blocks=2)),
                                  lambda: _bn_trained(SRResNet(channels=8, n_blocks=1, project=True)),
                                  lambda: CompactSR(num_feat=8, num_conv=3),
                                  lambda: SRCNN(n1=8, n2=4)])
def test_openvino_backend_matches_torch(make):
    pytest.importorskip("openvino", reason="OpenVINO not installed (pip install 'superres[openvino]')")
    torch.manual_seed(0)
    m = make()
    x = torch.rand(1, 3, 37, 29)
    ref = Upscaler(m, tile=16, tile_pad=4, precision="fp32", device="cpu")(x)
    up = Upscaler(m, tile=16, tile_pad=4, precision="auto", device="cpu", backend="openvino")
    assert up.precision == "fp32"
    assert float((up(x) - ref).abs().max()) < 2e-4


def test_missing_openvino_names_the_install(monkeypatch):
    import builtins

    from superres.errors import SuperResError
    from superres.inference.onnx import OvRunner

    real = builtins.__import__

    def fake(name, *a, **k):
        if name == "openvino":
            raise ImportError("no openvino")
        return real(name, *a, **k)

    monkeypatch.setattr(builtins, "__import__", fake)
    with pytest.raises(SuperResError, match=r"superres\[openvino\]"):
        OvRunner(SRResNet(channels=8, n_blocks=1))
    with pytest.raises(ValueError, match="float32"):
        Upscaler(SRResNet(channels=8, n_blocks=1), device="cpu", precision="int8", backend="openvino")
