"""int8 inference: post-training static quantisation of the convolutions (x86).

The route is PyTorch's FX graph mode quantisation with the ``x86`` backend
(``torch.ao.quantization.quantize_fx``: fbgemm/oneDNN ``quantized::conv2d``
kernels, run eagerly, no ``torch.compile``). Weights are int8 per output
channel (from the weights alone); activations are uint8 per tensor with the
scale and zero point found by calibration on *training* photos
(``benchmarks/int8_gate.py``), never on the benchmark sets.

Calibration is done once, by the benchmark that also runs the quality gate,
and its result is stored in the model card (``extra.int8``: one
``[scale, zero_point]`` per activation observer, the gate's figures and
``ok``). :func:`quantize_int8` rebuilds the quantised network from those
numbers, so ``--precision int8`` needs no data and gives the same network on
every machine. A model whose card has no passing ``int8`` entry does not
offer int8 (``Upscaler``'s ``int8_offered``).

What stays float32: the convolution that produces the image (its output
would otherwise be rounded to 256 levels over a range wider than [0, 1]:
coarser than the 8-bit output, i.e. banding), and modules marked
``keep_float`` (CompactSR's bicubic skip). Networks FX cannot trace
(shape-dependent Python: CompactSR's wrapper, SRCNN's enlargement) get each
convolution quantised on its own (quantise -> int8 conv -> dequantise).

Speed: on CPUs without VNNI (AVX2 only) fbgemm multiplies uint8 x int8 with
``vpmaddubsw``, whose 16-bit sums saturate; the x86 qconfig therefore uses
7-bit activations (``reduce_range``) everywhere, and the gate is measured with
them. AVX-512 VNNI / AVX-VNNI (``vpdpbusd``) does the same work in one
instruction with 32-bit sums: ``auto`` picks int8 only on such CPUs
(:func:`superres.inference.optimize.cpu_has_vnni`).
"""

from __future__ import annotations

import copy
import operator
import warnings
from collections.abc import Iterable

import torch
from torch import nn

from ..errors import ModelError

__all__ = ["quantize_int8", "calibrate_int8", "INT8_ROUTE", "REDUCE_RANGE"]

#: what benchmarks/results.md and the card record as the route
# the converted network calls torch.quantize_per_tensor, which warns on every first call that
# quantised tensors are deprecated: int8 runs would print it; only that message is silenced
warnings.filterwarnings("ignore", message=r"torch\.quantize_per_tensor, torch\.quantize_per_channel",
                        category=UserWarning)

#: 7-bit activations. Without VNNI, fbgemm's vpmaddubsw saturates with full 8-bit ones: measured
#: here (AVX2) srgan-x4 fell from 31.7 to 25.8 dB on a Set5 image with False, 31.4 dB with True.
REDUCE_RANGE = True

INT8_ROUTE = "torch.ao FX graph mode, x86 backend (fbgemm), per-channel int8 weights, per-tensor uint8 activations"


def _output_conv(model: nn.Module, example: torch.Tensor) -> str | None:
    """Name of the last convolution to run (the one that produces the image)."""
    order: list[str] = []
    names = {m: n for n, m in model.named_modules()}
    hooks = [m.register_forward_hook(lambda mod, i, o: order.append(names[mod]))
             for m in model.modules() if isinstance(m, nn.Conv2d)]
    try:
        with torch.no_grad():
            model(example)
    finally:
        for h in hooks:
            h.remove()
    return order[-1] if order else None


def _float_names(model: nn.Module, example: torch.Tensor) -> set[str]:
    keep = {n for n, m in model.named_modules() if getattr(m, "keep_float", False)}
    last = _output_conv(model, example)
    if last is not None:
        keep.add(last)
    return keep


class _FloatPReLU(nn.Module):
    """PReLU run in float32 between quantised convolutions. PyTorch's quantised PReLU loses
    per-channel slopes here (Set5 PSNR 11 dB) and its FX lowering fails when excluded, so
    PReLUs become this leaf, which FX leaves alone (dequantise -> PReLU -> quantise)."""

    def __init__(self, act: nn.PReLU) -> None:
        super().__init__()
        self.weight = nn.Parameter(act.weight.detach().clone(), requires_grad=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return nn.functional.prelu(x, self.weight)


def _float_prelus(model: nn.Module) -> nn.Module:
    for module in list(model.modules()):
        for name, child in list(module._modules.items()):
            if isinstance(child, nn.PReLU):
                module._modules[name] = _FloatPReLU(child)
    return model


def _fx_prepare(model: nn.Module, example: torch.Tensor, keep: set[str], reduce_range: bool) -> nn.Module | None:
    from torch.ao.quantization import get_default_qconfig_mapping
    from torch.ao.quantization.fx.custom_config import PrepareCustomConfig
    from torch.ao.quantization.quantize_fx import prepare_fx

    # the residual stream stays float32: its long skip carries large values whose small per-block
    # updates 7-bit activations (see the module doc) round away (Set5 PSNR 11 dB with it quantised)
    mapping = (get_default_qconfig_mapping("x86").set_global(_qconfig(reduce_range)).set_object_type(operator.add, None)
               .set_object_type(torch.add, None))
    for name in keep:
        mapping = mapping.set_module_name(name, None)
    try:
        custom = PrepareCustomConfig().set_non_traceable_module_classes([_FloatPReLU])
        return prepare_fx(_float_prelus(copy.deepcopy(model)), mapping, (example,), prepare_custom_config=custom)
    except (torch.fx.proxy.TraceError, TypeError, RuntimeError, AttributeError, NotImplementedError):
        return None  # shape-dependent Python in forward: the per-convolution route below


def _qconfig(reduce_range: bool = REDUCE_RANGE):
    """x86's default qconfig (histogram observer, per-channel symmetric int8 weights), with
    activations on 7 bits when ``reduce_range`` (:data:`REDUCE_RANGE`)."""
    from torch.ao.quantization import QConfig
    from torch.ao.quantization.observer import HistogramObserver, default_per_channel_weight_observer

    return QConfig(activation=HistogramObserver.with_args(reduce_range=reduce_range),
                   weight=default_per_channel_weight_observer)


class _QuantConv(nn.Module):
    """quantise -> conv -> dequantise around one convolution (eager mode)."""

    def __init__(self, conv: nn.Conv2d, reduce_range: bool = REDUCE_RANGE) -> None:
        super().__init__()
        from torch.ao.quantization import DeQuantStub, QuantStub

        self.quant, self.conv, self.dequant = QuantStub(), conv, DeQuantStub()
        self.qconfig = _qconfig(reduce_range)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.dequant(self.conv(self.quant(x.float())))


def _eager_prepare(model: nn.Module, keep: set[str], reduce_range: bool) -> nn.Module:
    from torch.ao.quantization import prepare

    model = copy.deepcopy(model)
    for name, module in list(model.named_modules()):
        for child_name, child in list(module._modules.items()):
            full = f"{name}.{child_name}" if name else child_name
            if isinstance(child, nn.Conv2d) and full not in keep and child.padding_mode == "zeros":
                module._modules[child_name] = _QuantConv(child, reduce_range)
    return prepare(model, inplace=False)


def _prepare(model: nn.Module, example: torch.Tensor, reduce_range: bool = REDUCE_RANGE) -> tuple[nn.Module, str]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.simplefilter("ignore", UserWarning)
        return _prepare_quietly(model, example, reduce_range)


def _prepare_quietly(model: nn.Module, example: torch.Tensor, reduce_range: bool) -> tuple[nn.Module, str]:
    torch.backends.quantized.engine = "x86"
    model = model.float().cpu().eval().to(memory_format=torch.contiguous_format)
    keep = _float_names(model, example)
    prepared = _fx_prepare(model, example, keep, reduce_range)
    if prepared is not None:
        return prepared, "fx"
    return _eager_prepare(model, keep, reduce_range), "per-conv"


def _observers(prepared: nn.Module) -> dict[str, nn.Module]:
    from torch.ao.quantization.observer import ObserverBase

    return {n: m for n, m in prepared.named_modules() if isinstance(m, ObserverBase)
            and not n.endswith("weight_fake_quant")}


def _convert(prepared: nn.Module, mode: str, reference: bool = False) -> nn.Module:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.simplefilter("ignore", UserWarning)
        return _convert_quietly(prepared, mode, reference)


def _convert_quietly(prepared: nn.Module, mode: str, reference: bool) -> nn.Module:
    if mode == "fx":
        from torch.ao.quantization.quantize_fx import convert_fx

        if reference:  # quantise/dequantise around float ops: integer arithmetic without saturation
            from torch.ao.quantization.quantize_fx import convert_to_reference_fx

            return convert_to_reference_fx(prepared).eval()
        return convert_fx(prepared).eval()
    from torch.ao.quantization import convert

    return convert(prepared, inplace=False, is_reference=reference).eval()


def calibrate_int8(model: nn.Module, batches: Iterable[torch.Tensor], *, full_range_reference: bool = False
                   ) -> tuple[nn.Module, dict]:
    """Calibrate on ``batches`` ((N, C, h, w) float in [0, 1]: LR crops of training photos).

    ``model`` is the float network as the engine runs it (:func:`optimize_for_inference`'s
    folds, no channels-last needed). Returns the int8 network and the card entry
    (``route``, ``mode``, ``qparams``) that :func:`quantize_int8` rebuilds it from.

    ``full_range_reference=True`` is a what-if for VNNI CPUs: 8-bit activations, and the
    reference network (float convolutions between quantise/dequantise: the integer result
    without AVX2's saturation). Its quality is what full-range int8 kernels would give; it is
    not a fast path and its entry is not for a card.
    """
    batches = list(batches)
    if not batches:
        raise ValueError("calibration needs at least one batch")
    prepared, mode = _prepare(model, batches[0][:1], reduce_range=not full_range_reference)
    with torch.no_grad():
        for b in batches:
            prepared(b.float())
    qparams = {}
    for name, obs in _observers(prepared).items():
        if not hasattr(obs, "calculate_qparams") or getattr(obs, "dtype", None) != torch.quint8:
            continue
        scale, zp = obs.calculate_qparams()
        qparams[name] = [float(scale.reshape(-1)[0]), int(zp.reshape(-1)[0])]
    entry = {"route": INT8_ROUTE, "mode": mode, "qparams": qparams}
    return _convert(prepared, mode, reference=full_range_reference), entry


def quantize_int8(model: nn.Module, entry: dict) -> nn.Module:
    """The int8 network from a card's ``extra.int8`` entry (see :func:`calibrate_int8`)."""
    from torch.ao.quantization.observer import FixedQParamsObserver

    c = int(getattr(getattr(model, "info", None), "in_channels", 3))
    prepared, mode = _prepare(model, torch.rand(1, c, 16, 16, generator=torch.Generator().manual_seed(0)))
    qparams = entry.get("qparams") or {}
    observers = {n: o for n, o in _observers(prepared).items() if getattr(o, "dtype", None) == torch.quint8}
    if mode != entry.get("mode") or set(observers) != set(qparams):
        raise ModelError("the card's int8 calibration does not match this network (it was made for another "
                         "version); rerun benchmarks/int8_gate.py")
    for name, obs in observers.items():
        scale, zp = qparams[name]
        fixed = FixedQParamsObserver(scale=scale, zero_point=zp, dtype=torch.quint8,
                                     quant_min=obs.quant_min, quant_max=obs.quant_max)
        parent_name, _, attr = name.rpartition(".")
        parent = prepared.get_submodule(parent_name) if parent_name else prepared
        setattr(parent, attr, fixed)
    return _convert(prepared, mode)
