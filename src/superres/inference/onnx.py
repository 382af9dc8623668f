"""ONNX export and an ONNX Runtime backend for the upscaler.

``export_onnx`` writes any superres model (BatchNorm folded, float32) as an ONNX
graph with dynamic batch/height/width, so it can run in other runtimes; the
model card travels in the file's metadata. ``OrtRunner`` runs such a graph with
ONNX Runtime's CPU provider and is what ``Upscaler(backend="onnxruntime")`` (and
``superres upscale --backend onnxruntime``) uses in place of eager PyTorch;
tiling, padding and alpha handling stay the engine's.

ONNX Runtime is an optional extra: ``pip install "superres[onnx]"``. Whether it
is faster than the PyTorch path depends on the machine: ``benchmarks/run.py``
measures both.
"""

from __future__ import annotations

import io
import json
import os
import warnings
from pathlib import Path

import numpy as np
import torch
from torch import nn

from ..errors import ModelError, SuperResError
from ..fileio import atomic_write
from ..models.base import describe

__all__ = ["export_onnx", "onnx_bytes", "OrtRunner", "OvRunner", "require_onnxruntime", "require_openvino", "OPSET"]

OPSET = 17
INSTALL_HINT = 'pip install "superres[onnx]"'
OPENVINO_HINT = 'pip install "superres[openvino]"'


def require_onnxruntime():
    try:
        import onnxruntime
    except ImportError:
        raise SuperResError(f"the onnxruntime backend needs ONNX Runtime: {INSTALL_HINT}") from None
    return onnxruntime


def require_openvino():
    try:
        import openvino
    except ImportError:
        raise SuperResError(f"the openvino backend needs OpenVINO: {OPENVINO_HINT}") from None
    return openvino


def onnx_bytes(model: nn.Module, opset: int = OPSET, size: tuple[int, int] | None = None) -> bytes:
    """The model as a serialized ONNX graph: float32, BatchNorm folded, input ``lr``
    (N, C, h, w) in [0, 1], output ``sr`` (N, C, s*h, s*w).

    ``size=None``: N, h and w are dynamic (CompactSR too: its bicubic skip is exported
    as the low-resolution convolution of ``fold_bicubic_skip``). Models whose forward
    computes resize matrices from the input size (SRCNN's enlargement, the
    interpolation baselines) trace those as constants, so for them give
    ``size=(h, w)`` and get a graph for that input size only (``export_onnx`` checks).
    """
    try:
        import onnx  # noqa: F401  (the exporter needs it)
    except ImportError:
        raise SuperResError(f"ONNX export needs the onnx package: {INSTALL_HINT}") from None
    from .optimize import fold_batchnorm, fold_bicubic_skip, fuse_shuffle_tail

    fast = fold_bicubic_skip(fuse_shuffle_tail(fold_batchnorm(model))).float().cpu().eval()
    info = getattr(model, "info", None)
    c = int(getattr(info, "in_channels", 3))
    x = torch.rand(1, c, *(size or (24, 28)))
    dynamic = None if size else {"lr": {0: "n", 2: "h", 3: "w"}, "sr": {0: "n", 2: "H", 3: "W"}}
    buf = io.BytesIO()
    with warnings.catch_warnings():  # the TorchScript exporter announces its deprecation
        warnings.simplefilter("ignore")
        torch.onnx.export(fast, (x,), buf, input_names=["lr"], output_names=["sr"], opset_version=opset,
                          dynamo=False, dynamic_axes=dynamic)
    return buf.getvalue()


def _shape_agnostic(model: nn.Module, graph: bytes) -> bool:
    """Does a dynamic-shape graph give the PyTorch model's output at a size it was not traced at?"""
    ort = require_onnxruntime()
    c = int(getattr(getattr(model, "info", None), "in_channels", 3))
    x = torch.rand(1, c, 19, 33, generator=torch.Generator().manual_seed(0))
    try:
        sess = ort.InferenceSession(graph, providers=["CPUExecutionProvider"])
        (y,) = sess.run(["sr"], {"lr": x.numpy()})
    except Exception:  # ORT's own error types: a shape baked into the graph fails here
        return False
    from .optimize import fold_batchnorm

    with torch.no_grad():
        ref = fold_batchnorm(model).float().cpu().eval()(x)
    return y.shape == tuple(ref.shape) and float(np.abs(y - ref.numpy()).max()) < 1e-3


def export_onnx(model: nn.Module, path: str | os.PathLike, *, overwrite: bool = False, opset: int = OPSET,
                size: tuple[int, int] | None = None) -> Path:
    """Write ``model`` as ONNX to ``path`` (atomically), with its name, scale and card as metadata.

    ``size=None`` writes a graph for any input size, after checking with ONNX Runtime
    that it really is one (else: an error asking for ``size``); ``size=(h, w)`` writes
    a graph for LR inputs of exactly that size.
    """

    from ..errors import OutputError

    path = Path(path)
    if path.suffix.lower() != ".onnx":
        raise OutputError(f"{path}: an ONNX file must end in .onnx")
    if path.exists() and not overwrite:
        raise OutputError(f"{path} exists; pass --overwrite to replace it")
    if not path.parent.is_dir():
        raise OutputError(f"{path.parent} is not a folder")
    desc = describe(model)
    model = desc.module
    graph = onnx_bytes(model, opset, size)
    if size is None and not _shape_agnostic(model, graph):
        raise SuperResError(f"{getattr(getattr(model, 'info', None), 'arch', 'this model')} computes resize "
                            "matrices from the input size, so its ONNX graph is fixed to one size: "
                            "give the LR input size (--size HxW)")
    import onnx

    proto = onnx.load_model_from_string(graph)
    card = desc.card
    meta = {"superres_scale": str(desc.info.scale), "superres_arch": str(desc.info.arch),
            "superres_name": str(desc.name or getattr(card, "name", "") or "")}
    if card is not None:
        meta["superres_card"] = json.dumps(card.to_dict())
    for k, v in meta.items():
        entry = proto.metadata_props.add()
        entry.key, entry.value = k, v
    return atomic_write(path, lambda f: onnx.save_model(proto, f))


class OrtRunner:
    """Callable (N, C, h, w) float tensor -> (N, C, sh, sw) float tensor through ONNX Runtime (CPU).

    One graph per input shape, exported on first use (the upscaler's tiles share one
    shape, an animation's frames another), so every model runs, including those whose
    graphs are fixed to a size.
    """

    def __init__(self, model: nn.Module, threads: int | None = None) -> None:
        self._ort = require_onnxruntime()
        self.model = model
        self.threads = int(threads or torch.get_num_threads())
        self._sessions: dict[tuple[int, ...], object] = {}

    def session(self, shape: tuple[int, ...]):
        sess = self._sessions.get(shape)
        if sess is None:
            ort = self._ort
            opts = ort.SessionOptions()
            opts.intra_op_num_threads = self.threads
            opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
            graph = onnx_bytes(self.model, size=shape[-2:])
            try:
                sess = ort.InferenceSession(graph, sess_options=opts, providers=["CPUExecutionProvider"])
            except Exception as e:  # ORT raises its own exception types (Fail, InvalidGraph, ...)
                raise ModelError(f"ONNX Runtime cannot load the exported graph: {type(e).__name__}: {e}") from None
            if len(self._sessions) >= 8:  # bounded: tiles and frames come in few shapes
                self._sessions.pop(next(iter(self._sessions)))
            self._sessions[shape] = sess
        return sess

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        arr = np.ascontiguousarray(x.detach().float().cpu().numpy())
        outs = [self.session((1, *arr.shape[1:])).run(["sr"], {"lr": arr[i:i + 1]})[0] for i in range(len(arr))]
        return torch.from_numpy(np.concatenate(outs))


class OvRunner:
    """Callable (N, C, h, w) float tensor -> (N, C, sh, sw) float tensor through OpenVINO's CPU plugin.

    The same exported graph as :class:`OrtRunner` (float32, one compiled model per input shape,
    at most 8 kept), compiled with ``INFERENCE_PRECISION_HINT=f32`` so results do not depend on
    the CPU (OpenVINO would otherwise pick bf16 on CPUs that have it). Measured faster than eager
    PyTorch float32 for the small models on an AVX2 CPU (``benchmarks/int8_speed.py``).
    """

    def __init__(self, model: nn.Module, threads: int | None = None) -> None:
        self._ov = require_openvino()
        self._core = self._ov.Core()
        self.model = model
        self.threads = int(threads or torch.get_num_threads())
        self._compiled: dict[tuple[int, ...], object] = {}

    def compiled(self, shape: tuple[int, ...]):
        net = self._compiled.get(shape)
        if net is None:
            graph = onnx_bytes(self.model, size=shape[-2:])
            config = {"INFERENCE_PRECISION_HINT": "f32", "INFERENCE_NUM_THREADS": self.threads}
            try:
                net = self._core.compile_model(self._core.read_model(graph, b""), "CPU", config)
            except RuntimeError as e:  # OpenVINO reports unsupported graphs as RuntimeError
                raise ModelError(f"OpenVINO cannot compile the exported graph: {str(e).splitlines()[0]}") from None
            if len(self._compiled) >= 8:
                self._compiled.pop(next(iter(self._compiled)))
            self._compiled[shape] = net
        return net

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        arr = np.ascontiguousarray(x.detach().float().cpu().numpy())
        net = self.compiled((1, *arr.shape[1:]))
        outs = [np.array(net({0: arr[i:i + 1]})[0]) for i in range(len(arr))]
        return torch.from_numpy(np.concatenate(outs))
