"""The ncnn reader (superres.ncnn): tiny .param/.bin pairs written here, fp32, fp16 and quantised
storage, every supported layer type, hostile files, the engine around it, and the ncnn runtime as
the reference (skipped with a reason when the ncnn package is not installed)."""

from __future__ import annotations

import importlib.util
import struct
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from superres.errors import ModelError
from superres.ncnn import NCNN_TOOLS_PREPADDING, load_ncnn, parse_param, run_ncnn_runtime

HAS_NCNN = importlib.util.find_spec("ncnn") is not None
needs_ncnn = pytest.mark.skipif(not HAS_NCNN, reason="the ncnn package is not installed (pip install 'superres[ncnn]'): "
                                                     "no reference runtime to compare with")
FP16_TAG = 0x01306B47


# --- writing ncnn files -----------------------------------------------------------------------------

class Writer:
    """Builds a .param text and its .bin, layer by layer (weights random, reproducible)."""

    def __init__(self, storage: str = "fp32", seed: int = 0):
        self.lines: list[str] = []
        self.bin = bytearray()
        self.blobs: set[str] = set()
        self.storage = storage
        self.rng = np.random.default_rng(seed)

    def layer(self, kind: str, name: str, ins: list[str], outs: list[str], params: str = "") -> None:
        self.lines.append(f"{kind:<24} {name:<24} {len(ins)} {len(outs)} {' '.join(ins + outs)} {params}".rstrip())
        self.blobs.update(outs)

    def flagged(self, values: np.ndarray) -> None:
        """A kernel blob: 4-byte storage flag, then the data, padded to 4 bytes."""
        v = values.astype(np.float32).ravel()
        if self.storage == "fp16":
            data = struct.pack("<I", FP16_TAG) + v.astype("<f2").tobytes()
        elif self.storage == "q8":
            table = np.linspace(v.min(), v.max(), 256, dtype=np.float32)
            idx = np.abs(v[:, None] - table[None]).argmin(1).astype(np.uint8)
            data = struct.pack("<I", 1) + table.astype("<f4").tobytes() + idx.tobytes()
        else:
            data = struct.pack("<I", 0) + v.astype("<f4").tobytes()
        self.bin += data + b"\0" * (-len(data) % 4)

    def raw(self, values: np.ndarray) -> None:
        self.bin += values.astype("<f4").ravel().tobytes()

    def conv(self, name: str, src: str, dst: str, cin: int, cout: int, k: int = 3, pad: int = 1, extra: str = "",
             group: int = 1, kind: str = "Convolution", bias: bool = True) -> None:
        n = cout * cin // group * k * k
        g = f" 7={group}" if kind.endswith("DepthWise") else ""
        self.layer(kind, name, [src], [dst], f"0={cout} 1={k} 4={pad} 5={int(bias)} 6={n}{g} {extra}".rstrip())
        self.flagged(self.rng.normal(0, 0.3 / np.sqrt(cin * k * k / group), n))
        if bias:
            self.raw(self.rng.normal(0, 0.05, cout))

    def save(self, folder: Path, name: str = "model", blob_count: int | None = None,
             layer_count: int | None = None) -> Path:
        param = folder / f"{name}.param"
        n_layers = len(self.lines) if layer_count is None else layer_count
        n_blobs = len(self.blobs) if blob_count is None else blob_count
        param.write_text(f"7767517\n{n_layers} {n_blobs}\n" + "\n".join(self.lines) + "\n")
        (folder / f"{name}.bin").write_bytes(bytes(self.bin))
        return param


def zoo(storage: str = "fp32") -> Writer:
    """A small x4 network using every supported layer type (output = learned residual + nearest x4)."""
    w = Writer(storage)
    w.layer("Input", "in", [], ["data"], "0=0 1=0 2=3")
    w.layer("Split", "split_in", ["data"], ["d0", "d1"])
    w.conv("conv0", "d0", "c0", 3, 8, extra="9=2 -23310=1,2.000000e-01")  # fused LeakyReLU
    w.layer("Split", "split0", ["c0"], ["c0a", "c0b", "c0c"])
    w.conv("dw", "c0a", "dw", 8, 8, pad=2, group=4, kind="ConvolutionDepthWise", extra="2=2")  # dilated, grouped
    w.layer("PReLU", "prelu", ["dw"], ["pr"], "0=8")
    w.raw(w.rng.uniform(0.05, 0.3, 8))
    w.layer("Eltwise", "elt", ["pr", "c0b"], ["el"], "0=1 -23301=2,5.000000e-01,1.000000e+00")
    w.layer("BinaryOp", "mul_s", ["el"], ["bs"], "0=2 1=1 2=7.500000e-01")
    w.layer("ReLU", "leaky", ["bs"], ["lr"], "0=1.000000e-01")
    w.layer("Pooling", "pool", ["lr"], ["pl"], "0=0 1=2 2=2")  # max 2x2 stride 2
    w.layer("Deconvolution", "up", ["pl"], ["dc"], f"0=8 1=4 3=2 4=1 5=1 6={8 * 8 * 16}")
    w.flagged(w.rng.normal(0, 0.1, 8 * 8 * 16))
    w.raw(w.rng.normal(0, 0.05, 8))
    w.layer("Padding", "pad", ["dc"], ["pd"], "0=1 1=1 2=1 3=1 4=2")  # reflect
    w.layer("Crop", "crop", ["pd"], ["cr"], "0=1 1=1 6=1 7=1 3=-233 4=-233 5=-233")
    w.layer("Clip", "clip", ["cr"], ["cl"], "0=-1.000000e+00 1=1.000000e+00")
    w.layer("Concat", "cat", ["cl", "c0c"], ["ct"], "0=0")
    w.conv("conv1", "ct", "c1", 16, 8, k=1, pad=0)
    w.layer("Sigmoid", "sig", ["c1"], ["sg"])
    w.layer("Interp", "bil", ["sg"], ["bi"], "0=2 1=2.000000e+00 2=2.000000e+00")  # bilinear x2
    w.layer("Noop", "noop", ["bi"], ["np"])
    w.conv("conv2", "np", "c2", 8, 12)
    w.layer("PixelShuffle", "ps", ["c2"], ["ps"], "0=2")
    w.layer("Interp", "near", ["d1"], ["nr"], "0=1 1=4.000000e+00 2=4.000000e+00")  # nearest x4
    w.layer("BinaryOp", "add", ["ps", "nr"], ["output"], "0=0")
    return w


def simple(storage: str = "fp32") -> Writer:
    """conv -> PixelShuffle x2, nothing else: checked against plain torch."""
    w = Writer(storage)
    w.layer("Input", "in", [], ["data"])
    w.conv("conv", "data", "c", 3, 12)
    w.layer("PixelShuffle", "ps", ["c"], ["output"], "0=2")
    return w


# --- reading ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("storage", ["fp32", "fp16", "q8"])
def test_simple_model_equals_torch(tmp_path, storage):
    w = simple(storage)
    param = w.save(tmp_path)
    net = load_ncnn(param)
    assert (net.info.scale, net.info.in_channels, net.info.out_channels) == (2, 3, 3)
    raw = np.frombuffer(bytes(w.bin), dtype=np.uint8)
    if storage == "fp32":
        weight = torch.from_numpy(raw[4:4 + 4 * 324].view("<f4").copy())
    elif storage == "fp16":
        weight = torch.from_numpy(raw[4:4 + 2 * 324].view("<f2").astype(np.float32))
    else:
        table = raw[4:4 + 1024].view("<f4")
        weight = torch.from_numpy(table[raw[1028:1028 + 324]].copy())
    bias = torch.from_numpy(raw[-48:].view("<f4").copy())
    x = torch.rand(1, 3, 9, 11)
    ref = F.pixel_shuffle(F.conv2d(x, weight.view(12, 3, 3, 3), bias, padding=1), 2)
    with torch.no_grad():
        assert torch.allclose(net(x), ref, atol=1e-6)


def test_zoo_runs_and_scale_is_probed(tmp_path):
    param = zoo().save(tmp_path, name="not_x2_whatever")  # the name says nothing; the probe does
    net = load_ncnn(param)
    assert net.info.scale == 4 and net.info.tile_multiple == 2
    assert net.info.border_pad == NCNN_TOOLS_PREPADDING
    with torch.no_grad():
        y = net(torch.rand(1, 3, 8, 12))
    assert y.shape == (1, 3, 32, 48) and torch.isfinite(y).all()


def test_param_syntax_arrays_and_floats(tmp_path):
    graph = parse_param(zoo().save(tmp_path))
    conv0 = next(layer for layer in graph.layers if layer.name == "conv0")
    assert conv0.params[9] == 2 and conv0.params[10] == [pytest.approx(0.2)]
    assert isinstance(conv0.params[0], int)
    assert graph.input == "data" and graph.output == "output"


# --- the ncnn runtime as the reference ---------------------------------------------------------------

@needs_ncnn
@pytest.mark.parametrize("storage", ["fp32", "fp16", "q8"])
def test_zoo_matches_the_ncnn_runtime(tmp_path, storage):
    param = zoo(storage).save(tmp_path)
    img = np.random.default_rng(1).random((20, 28, 3), dtype=np.float32)
    ref = run_ncnn_runtime(param, img, prepadding=0)
    with torch.no_grad():
        ours = load_ncnn(param)(torch.from_numpy(img).permute(2, 0, 1)[None])[0].permute(1, 2, 0).clamp(0, 1).numpy()
    assert ours.shape == ref.shape
    assert np.abs(ours - ref).max() < 1 / 255


@needs_ncnn
def test_engine_output_equals_the_ncnn_tools(tmp_path):
    """The engine (tiled, border treatment from info) against what the ncnn tools do: reflect-pad 10, run, crop."""
    from superres.inference import Upscaler

    param = zoo().save(tmp_path)
    img = (np.random.default_rng(2).random((26, 34, 3)) * 255).astype(np.uint8)
    ref = run_ncnn_runtime(param, img.astype(np.float32) / 255)
    for tile in (None, 16):
        out = Upscaler(load_ncnn(param), device="cpu", tile=tile, precision="fp32").upscale_array(img)
        diff = np.abs(out.astype(np.float32) / 255 - ref)
        assert diff.max() <= 1 / 255 + 1e-6, (tile, diff.max() * 255)


# --- hostile files ---------------------------------------------------------------------------------

@pytest.fixture
def nothing_read(monkeypatch):
    """Hostile files must be refused before any weight is read (so before any large allocation)."""
    def refuse(*args, **kwargs):
        raise AssertionError("a weight was read from a file that should have been refused first")

    monkeypatch.setattr("superres.ncnn._read_blob", refuse)


def _expect(param: Path, pattern: str) -> str:
    with pytest.raises(ModelError, match=pattern) as info:
        load_ncnn(param)
    msg = str(info.value)
    assert "\n" not in msg and str(param.parent) in msg
    return msg


def test_truncated_bin(tmp_path, nothing_read):
    param = simple().save(tmp_path)
    b = param.with_suffix(".bin")
    b.write_bytes(b.read_bytes()[:-10])
    _expect(param, "truncated")


def test_bin_longer_than_needed(tmp_path, nothing_read):
    param = simple().save(tmp_path)
    b = param.with_suffix(".bin")
    b.write_bytes(b.read_bytes() + b"\0" * 8)
    _expect(param, "8 bytes too many")


def test_blob_never_produced(tmp_path, nothing_read):
    w = simple()
    w.lines[-1] = w.lines[-1].replace(" c ", " ghost ")
    _expect(w.save(tmp_path), "reads blob 'ghost', which no layer produces")


def test_cycle(tmp_path, nothing_read):
    w = Writer()
    w.layer("Input", "in", [], ["data"])
    w.layer("BinaryOp", "a", ["data", "b_out"], ["a_out"], "0=0")
    w.layer("BinaryOp", "b", ["a_out"], ["b_out"], "0=0 1=1 2=1.0")
    w.layer("Sigmoid", "s", ["a_out"], ["output"])
    _expect(w.save(tmp_path), "cycle")


def test_absurd_dimensions_refused_before_allocation(tmp_path, nothing_read):
    w = Writer()
    w.layer("Input", "in", [], ["data"])
    w.layer("Convolution", "huge", ["data"], ["output"], f"0=1000000 1=3 4=1 5=0 6={1_000_000 * 27}")
    w.bin += struct.pack("<I", 0) + b"\0" * 64
    _expect(w.save(tmp_path), "output channels 1000000 is outside")


def test_layer_count_mismatch(tmp_path, nothing_read):
    _expect(simple().save(tmp_path, layer_count=5), "header says 5 layers but the file has 3")


def test_blob_count_mismatch(tmp_path, nothing_read):
    _expect(simple().save(tmp_path, blob_count=2), "header says 2 blobs but the layers produce 3")


def test_unsupported_layer_names_type_and_file(tmp_path, nothing_read):
    w = simple()
    w.lines.insert(2, "Softmax                  sm                       1 1 c cs")
    w.lines[-1] = w.lines[-1].replace(" c ", " cs ")
    w.blobs.add("cs")
    msg = _expect(w.save(tmp_path, layer_count=4), "layer type 'Softmax'")
    assert "model.param" in msg


def test_not_an_ncnn_file(tmp_path, nothing_read):
    bad = tmp_path / "x.param"
    bad.write_text("hello\n")
    (tmp_path / "x.bin").write_bytes(b"")
    _expect(bad, "not an ncnn .param file")


def test_cli_reports_a_hostile_file_in_one_line_with_exit_code_2(tmp_path, capsys):
    from PIL import Image

    from superres.cli import main

    param = simple().save(tmp_path)
    b = param.with_suffix(".bin")
    b.write_bytes(b.read_bytes()[:-10])
    Image.new("RGB", (8, 8)).save(tmp_path / "in.png")
    assert main(["upscale", str(tmp_path / "in.png"), "-o", str(tmp_path / "out.png"), "--model", str(param)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "truncated" in err and not (tmp_path / "out.png").exists()


# --- the engine around it ----------------------------------------------------------------------------

def test_upscale_command_runs_an_ncnn_model_tiled_with_alpha(tmp_path):
    from PIL import Image

    from superres.cli import main

    param = zoo().save(tmp_path)
    rgba = (np.random.default_rng(3).random((18, 22, 4)) * 255).astype(np.uint8)
    Image.fromarray(rgba, "RGBA").save(tmp_path / "in.png")
    for tile, out in ((None, "a.png"), (12, "b.png")):
        args = ["upscale", str(tmp_path / "in.png"), "-o", str(tmp_path / out), "--model", str(param)]
        main(args + (["--tile", str(tile)] if tile else []))
    a, b = (np.asarray(Image.open(tmp_path / f)) for f in ("a.png", "b.png"))
    assert a.shape == (72, 88, 4) and np.abs(a.astype(int) - b).max() <= 1


def test_sixteen_bit_and_animation_inputs_run_through_an_ncnn_model(tmp_path):
    from PIL import Image

    from superres.cli import main
    from superres.io.images import Picture, read_image, write_image

    param = zoo().save(tmp_path)
    deep = (np.random.default_rng(5).random((10, 12, 3)) * 65535).astype(np.uint16)
    write_image(Picture(deep), tmp_path / "deep.png")
    assert main(["upscale", str(tmp_path / "deep.png"), "-o", str(tmp_path / "deep_x4.png"), "-m", str(param),
                 "-q"]) == 0
    out = read_image(tmp_path / "deep_x4.png")
    assert out.bits == 16 and out.size == (48, 40)
    frames = [Image.fromarray((np.random.default_rng(i).random((8, 10, 3)) * 255).astype(np.uint8))
              for i in range(3)]
    frames[0].save(tmp_path / "a.gif", save_all=True, append_images=frames[1:], duration=100, loop=0)
    assert main(["animate", str(tmp_path / "a.gif"), "-o", str(tmp_path / "a_x4.gif"), "-m", str(param), "-q"]) == 0
    with Image.open(tmp_path / "a_x4.gif") as g:
        assert g.size == (40, 32) and g.n_frames == 3


def test_onnxruntime_backend_runs_an_ncnn_model(tmp_path):
    pytest.importorskip("onnxruntime", reason="onnxruntime is not installed")
    pytest.importorskip("onnx", reason="onnx is not installed")
    from superres.inference import Upscaler

    param = zoo().save(tmp_path)
    img = (np.random.default_rng(4).random((16, 20, 3)) * 255).astype(np.uint8)
    a = Upscaler(load_ncnn(param), device="cpu", precision="fp32").upscale_array(img)
    b = Upscaler(load_ncnn(param), device="cpu", backend="onnxruntime").upscale_array(img)
    assert np.abs(a.astype(int) - b).max() <= 1


def srvgg(storage: str = "fp32", n_conv: int = 2, feat: int = 8) -> Writer:
    """SRVGGNetCompact as Real-ESRGAN's ncnn export writes it (conv/PReLU chain, PixelShuffle, + nearest x4)."""
    w = Writer(storage)
    w.layer("Input", "in", [], ["data"])
    w.layer("Split", "split", ["data"], ["d0", "d1"])
    src, cin = "d0", 3
    for i in range(n_conv + 1):
        w.conv(f"conv{i}", src, f"c{i}", cin, feat)
        w.layer("PReLU", f"prelu{i}", [f"c{i}"], [f"p{i}"], f"0={feat}")
        w.raw(w.rng.uniform(0.05, 0.3, feat))
        src, cin = f"p{i}", feat
    w.conv("last", src, "last", feat, 48)
    w.layer("PixelShuffle", "ps", ["last"], ["ps"], "0=4")
    w.layer("Interp", "up", ["d1"], ["up"], "0=1 1=4.000000e+00 2=4.000000e+00")
    w.layer("BinaryOp", "add", ["ps", "up"], ["output"], "0=0")
    return w


def test_an_ncnn_export_of_a_known_architecture_becomes_that_architecture(tmp_path):
    from superres.ncnn import to_architecture

    net = load_ncnn(srvgg("fp16").save(tmp_path))
    model = to_architecture(net, "srvgg")
    assert model.args["num_conv"] == 2 and model.info.arch == "srvgg"
    x = torch.rand(1, 3, 10, 13)
    with torch.no_grad():
        assert torch.allclose(model(x), net(x).clamp(0, 1), atol=1e-5)
    with pytest.raises(ModelError, match="do not have the shape of a rrdbnet network"):
        to_architecture(net, "rrdbnet")
    other = tmp_path / "other"
    other.mkdir()
    with pytest.raises(ModelError, match="not that architecture|shape of a srvgg"):
        to_architecture(load_ncnn(zoo().save(other)), "srvgg")


def shrinking(storage: str = "fp32") -> Writer:
    """A waifu2x / Real-CUGAN-style net: unpadded convolutions (it eats 2 px a side), x2 PixelShuffle, and a
    skip connection cropped to the output by a two-input Crop (the reference blob's size)."""
    w = Writer(storage)
    w.layer("Input", "in", [], ["data"])
    w.layer("Split", "split", ["data"], ["d0", "d1"])
    w.conv("c1", "d0", "c1", 3, 8, pad=0, extra="9=1")  # ReLU fused
    w.conv("c2", "c1", "c2", 8, 12, pad=0)
    w.layer("PixelShuffle", "ps", ["c2"], ["ps"], "0=2")
    w.layer("Split", "split_ps", ["ps"], ["ps0", "ps1"])  # ncnn: one consumer per blob (ops run in place)
    w.layer("Interp", "up", ["d1"], ["up"], "0=2 1=2.000000e+00 2=2.000000e+00")  # bilinear x2
    w.layer("Crop", "crop", ["up", "ps0"], ["cr"], "0=4 1=4")  # to the residual's size, 4 px in
    w.layer("BinaryOp", "add", ["ps1", "cr"], ["output"], "0=0")
    return w


def test_a_network_that_eats_its_border_is_mirrored_like_its_tools(tmp_path):
    from superres.inference import Upscaler

    net = load_ncnn(shrinking().save(tmp_path))
    assert (net.info.scale, net.shrink, net.info.border_pad) == (2, 2, 0)
    img = (np.random.default_rng(6).random((18, 23, 3)) * 255).astype(np.uint8)
    out = Upscaler(net, device="cpu", precision="fp32").upscale_array(img)
    assert out.shape == (36, 46, 3)
    if HAS_NCNN:  # the tools' way: mirror by what the net eats, run, nothing to crop
        ref = run_ncnn_runtime(tmp_path / "model.param", img.astype(np.float32) / 255, prepadding=2)
        assert np.abs(out.astype(np.float32) / 255 - ref).max() <= 1 / 255 + 1e-6
    tiled = Upscaler(net, device="cpu", precision="fp32", tile=8).upscale_array(img)
    assert np.abs(tiled.astype(int) - out).max() <= 1
