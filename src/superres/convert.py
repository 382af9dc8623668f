"""Run weights people already have: foreign checkpoints -> superres modules.

:func:`load_foreign` reads a weights file that superres did not write, works out
its architecture and hyper-parameters from layer names and tensor shapes (as
spandrel does), and returns a ready network of :mod:`superres.models` (with
``.args`` and ``.info``), so every command (upscale, compare, animate, eval)
runs it through the shared :class:`~superres.inference.Upscaler`: RGB in [0, 1]
in, RGB in [0, 1] out. :func:`convert` stores the result in superres' own
format with a model card stating origin and licence as given by the user.

Understood layouts (:data:`LAYOUTS`):

* Keras HDF5 generators of krasserm/super-resolution (SRResNet / SRGAN,
  EDSR, WDSR-A/B), full-model or weights-only ``.h5``, read with h5py (no
  TensorFlow; ``pip install superres[keras]``). Keras kernels (kh, kw, in, out)
  become PyTorch's (out, in, kh, kw); convolutions feeding
  ``tf.nn.depth_to_space`` get their output channels permuted (TF's DCR order
  -> PixelShuffle's), BatchNorm keeps Keras' epsilon, PReLU keeps its
  per-channel slopes, WDSR's weight normalisation is folded into the kernels,
  and each model's own input/output normalisation is reproduced.
* PyTorch state dicts (``.pth``/``.pt``/``.ckpt``, loaded with
  ``torch.load(weights_only=True)``; or ``.safetensors``) of BasicSR's
  ``RRDBNet`` (ESRGAN, Real-ESRGAN x4plus/x2plus/anime_6B; also old ESRGAN
  ``model.N`` keys), ``SRVGGNetCompact`` (realesr-general-x4v3,
  realesr-animevideov3) and ``MSRResNet``, bare or wrapped in ``params_ema`` /
  ``params`` / ``state_dict``.

Foreign weights belong to their owners: superres never ships them, and never
uses them to train, initialise or distil its own models.
"""

from __future__ import annotations

import json
import math
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from .errors import ModelError, OutputError

__all__ = ["LAYOUTS", "ForeignModel", "detect", "load_foreign", "convert", "read_state_dict",
           "supported_layouts_text"]

#: layout id -> what it is (shown in errors and ``superres convert --help``)
LAYOUTS: dict[str, str] = {
    "keras-srresnet": "Keras .h5 SRResNet/SRGAN generator of krasserm/super-resolution "
                      "(pre_generator.h5, gan_generator.h5; full model or weights-only)",
    "keras-edsr": "Keras .h5 EDSR of krasserm/super-resolution (edsr(scale, num_filters, num_res_blocks))",
    "keras-wdsr": "Keras .h5 WDSR-A/B of krasserm/super-resolution (weight-normalised convolutions)",
    "basicsr-rrdbnet": "PyTorch RRDBNet: ESRGAN / Real-ESRGAN (RealESRGAN_x4plus.pth, _x2plus, _anime_6B), "
                       "BasicSR keys conv_first/body.N.rdbK/conv_body/conv_upK or old ESRGAN keys model.N",
    "basicsr-srvgg": "PyTorch SRVGGNetCompact of Real-ESRGAN (realesr-general-x4v3.pth, realesr-animevideov3.pth)",
    "basicsr-msrresnet": "PyTorch MSRResNet of BasicSR (conv_first/body.N.conv1/upconv1/conv_hr/conv_last)",
}


def supported_layouts_text() -> str:
    return "; ".join(f"{k} ({v})" for k, v in LAYOUTS.items())


@dataclass
class ForeignModel:
    """A recognised foreign checkpoint: which layout, and the superres module built from it."""

    layout: str
    model: nn.Module
    file_format: str  # "keras-h5", "torch", "safetensors"
    notes: list[str] = field(default_factory=list)


# --- reading files --------------------------------------------------------------------------------

_HDF5_MAGIC = b"\x89HDF\r\n\x1a\n"


def _sniff(path: Path) -> str:
    try:
        with open(path, "rb") as f:
            head = f.read(16)
    except OSError as e:
        raise ModelError(f"{path}: cannot read ({e.strerror or e})") from None
    if head.startswith(_HDF5_MAGIC):
        return "hdf5"
    if head[:2] == b"PK" or head[:1] == b"\x80":
        return "torch"  # zip (torch.save >= 1.6) or legacy pickle
    if len(head) >= 9 and head[8:9] == b"{":
        return "safetensors"
    return "unknown"


def _found_tensors(state: dict[str, Any]) -> str:
    keys = list(state)
    shown = ", ".join(f"{k} {tuple(state[k].shape)}" for k in keys[:4])
    return f"a PyTorch state dict of {len(keys)} tensors ({shown}{', ...' if len(keys) > 4 else ''})"


def _unwrap(obj: Any) -> tuple[dict[str, torch.Tensor], str]:
    """The state dict inside BasicSR / Lightning style wrappers; 'module.' prefixes removed."""
    wrapper = ""
    for _ in range(3):
        if not isinstance(obj, dict):
            break
        for key in ("params_ema", "params", "state_dict", "model_state_dict", "generator", "netG", "g_ema"):
            if isinstance(obj.get(key), dict) and obj[key]:
                obj, wrapper = obj[key], (f"{wrapper}/{key}" if wrapper else key)
                break
        else:
            break
    if not isinstance(obj, dict):
        raise ModelError(f"expected a state dict (a dict of tensors), found {type(obj).__name__}")
    state = {str(k): v for k, v in obj.items() if isinstance(v, torch.Tensor)}
    if state and all(k.startswith("module.") for k in state):
        state = {k[len("module."):]: v for k, v in state.items()}
    return state, wrapper


def _pickle_reason(e: BaseException) -> str:
    """The part of torch's weights_only refusal that says what was refused, whole and on one line.

    torch's text is several paragraphs: a generic preamble (which suggests
    ``weights_only=False``, advice we do not repeat), the reason (e.g. "Trying to
    load unsupported GLOBAL posix.system ..."), and a link. Sentences are kept
    whole; nothing is cut mid-sentence.
    """
    paras = [" ".join(p.split()) for p in str(e).split("\n\n") if p.strip()]
    reason = next((p for p in paras if "GLOBAL" in p or "nsupported" in p or "not an allowed" in p), None)
    if reason is None and paras:
        reason = paras[0].split(". ")[0].rstrip(".")  # the first whole sentence
    return (reason or type(e).__name__).rstrip(".")


def read_state_dict(path: str | os.PathLike) -> tuple[dict[str, torch.Tensor], str]:
    """Tensors of a ``.pth``/``.pt``/``.ckpt`` (weights_only) or ``.safetensors`` file, float32.

    Returns (state, wrapper) where wrapper names the unwrapped key (``params_ema`` ...) or "".
    """
    path = Path(path)
    kind = _sniff(path)
    if kind == "safetensors":
        from safetensors.torch import load_file

        try:
            obj = load_file(str(path), device="cpu")
        except Exception as e:  # safetensors raises its own error types
            raise ModelError(f"{path}: unreadable safetensors file ({e})") from None
    elif kind == "torch":
        import pickle

        try:
            obj = torch.load(path, map_location="cpu", weights_only=True)
        except pickle.UnpicklingError as e:
            raise ModelError(
                f"{path}: refused by torch.load(weights_only=True): it pickles Python objects, not just tensors "
                f"({_pickle_reason(e)}). Load it where it was made and save model.state_dict() "
                "(or use safetensors)"
            ) from None
        except (RuntimeError, EOFError, ValueError, OSError) as e:
            raise ModelError(f"{path}: not a readable PyTorch file ({str(e).splitlines()[0][:160]})") from None
    else:
        raise ModelError(f"{path}: not a PyTorch, safetensors or Keras HDF5 file")
    try:
        state, wrapper = _unwrap(obj)
    except ModelError as e:
        raise ModelError(f"{path}: {e}") from None
    state = {k: (v.float() if v.is_floating_point() else v) for k, v in state.items()}
    return state, wrapper


# --- BasicSR / Real-ESRGAN state dicts ------------------------------------------------------------

def _seq_indices(state: dict, prefix: str) -> list[int]:
    pat = re.compile(re.escape(prefix) + r"(\d+)\.")
    return sorted({int(m.group(1)) for k in state if (m := pat.match(k))})


def _old_esrgan_to_new(state: dict) -> dict:
    """Old ESRGAN keys (model.0, model.1.sub.N.RDBk.convj.0, model.3 ...) -> BasicSR RRDBNet keys."""
    nb = max(_seq_indices(state, "model.1.sub."))
    tops = sorted(i for i in _seq_indices(state, "model.") if i >= 2)
    if len(tops) < 3:
        raise ModelError("old-ESRGAN keys without upsampling/HR convolutions")
    ups, hr, last = tops[:-2], tops[-2], tops[-1]
    names = {0: "conv_first", hr: "conv_hr", last: "conv_last"}
    names.update({i: f"conv_up{n + 1}" for n, i in enumerate(ups)})
    out = {}
    rdb = re.compile(r"model\.1\.sub\.(\d+)\.RDB(\d)\.conv(\d)\.0\.(weight|bias)$")
    for k, v in state.items():
        if m := rdb.match(k):
            out[f"body.{m[1]}.rdb{m[2]}.conv{m[3]}.{m[4]}"] = v
        elif k.startswith(f"model.1.sub.{nb}."):
            out["conv_body." + k.rsplit(".", 1)[1]] = v
        elif (m := re.match(r"model\.(\d+)\.(weight|bias)$", k)) and int(m[1]) in names:
            out[f"{names[int(m[1])]}.{m[2]}"] = v
        else:
            raise ModelError(f"unexpected old-ESRGAN key {k}")
    return out


def _detect_torch(state: dict) -> tuple[str, type, dict, dict, list[str]] | None:
    from .models import MSRResNet, RRDBNet, SRVGGNetCompact

    keys = set(state)
    notes: list[str] = []
    if "model.0.weight" in keys and any(".RDB1." in k for k in keys):
        state = _old_esrgan_to_new(state)
        keys = set(state)
        notes.append("old ESRGAN key names mapped to BasicSR's")
    if "conv_first.weight" in keys and "body.0.rdb1.conv1.weight" in keys and "conv_last.weight" in keys:
        w0 = state["conv_first.weight"]
        out_ch = state["conv_last.weight"].shape[0]
        in_ch = w0.shape[1]
        unshuffle = math.isqrt(in_ch // out_ch) if in_ch % out_ch == 0 else 0
        if unshuffle not in (1, 2, 4) or unshuffle ** 2 * out_ch != in_ch:
            raise ModelError(f"RRDBNet with {in_ch} input channels for {out_ch} output channels: "
                             "not a pixel-unshuffle factor of 1, 2 or 4")
        n_up = len({m[1] for k in keys if (m := re.match(r"conv_up(\d+)\.weight$", k))})
        scale_num = 2 ** n_up
        if scale_num % unshuffle:
            raise ModelError(f"RRDBNet with {n_up} upsampling convs and pixel-unshuffle {unshuffle}")
        args = dict(scale=scale_num // unshuffle, num_feat=int(w0.shape[0]),
                    num_block=len(_seq_indices(state, "body.")),
                    num_grow_ch=int(state["body.0.rdb1.conv1.weight"].shape[0]),
                    in_channels=int(out_ch), out_channels=int(out_ch), pixel_unshuffle=unshuffle)
        return "basicsr-rrdbnet", RRDBNet, args, state, notes
    if "body.0.weight" in keys and "body.1.weight" in keys and state["body.1.weight"].ndim == 1:
        idx = _seq_indices(state, "body.")
        last = idx[-1]
        num_feat, in_ch = state["body.0.weight"].shape[:2]
        out_total = state[f"body.{last}.weight"].shape[0]
        scale = math.isqrt(out_total // in_ch) if out_total % in_ch == 0 else 0
        if scale < 1 or scale * scale * in_ch != out_total or last % 2:
            raise ModelError(f"SRVGGNetCompact-like keys but last conv has {out_total} channels for {in_ch} "
                             "input channels (expected channels x scale^2)")
        args = dict(scale=scale, num_feat=int(num_feat), num_conv=(last - 2) // 2, in_channels=int(in_ch),
                    out_channels=int(in_ch), act_type="prelu")
        return "basicsr-srvgg", SRVGGNetCompact, args, state, notes
    if "recon_trunk.0.conv1.weight" in keys and "conv_first.weight" in keys:  # mmsr / early BasicSR names
        state = {k.replace("recon_trunk.", "body.").replace("HRconv.", "conv_hr."): v for k, v in state.items()}
        keys = set(state)
        notes.append("mmsr key names (recon_trunk, HRconv) mapped to BasicSR's")
    if "conv_first.weight" in keys and "body.0.conv1.weight" in keys and "upconv1.weight" in keys:
        nf, in_ch = state["conv_first.weight"].shape[:2]
        if "upconv2.weight" in keys:
            scale = 4
        else:
            up = state["upconv1.weight"].shape[0]
            scale = math.isqrt(up // nf)
            if scale not in (2, 3) or scale * scale * nf != up:
                raise ModelError(f"MSRResNet-like keys but upconv1 has {up} channels for {nf} features")
        args = dict(scale=int(scale), num_feat=int(nf), num_block=len(_seq_indices(state, "body.")),
                    in_channels=int(in_ch), out_channels=int(state["conv_last.weight"].shape[0]))
        return "basicsr-msrresnet", MSRResNet, args, state, notes
    return None


# --- Keras HDF5 -----------------------------------------------------------------------------------

def _h5py():
    try:
        import h5py
    except ModuleNotFoundError:
        raise ModelError("reading Keras .h5 weights needs h5py: pip install superres[keras]") from None
    return h5py


def _strs(v: Any) -> list[str]:
    if isinstance(v, (bytes, str)):
        v = [v]
    return [x.decode("utf8") if isinstance(x, bytes) else str(x) for x in v]


@dataclass
class _KLayer:
    name: str
    weights: dict[str, np.ndarray]  # basename (kernel, bias, gamma, ...) -> array
    weight_names: list[str]
    config: dict = field(default_factory=dict)
    class_name: str = ""

    @property
    def kind(self) -> str | None:
        w = self.weights
        if not w:
            return None
        kernel = w.get("kernel", w.get("v"))
        if "g" in w and kernel is not None and kernel.ndim == 4:
            return "wnconv"
        if kernel is not None:
            return {4: "conv", 2: "dense"}.get(kernel.ndim, "other")
        if "moving_mean" in w:
            return "bn"
        if "alpha" in w:
            return "prelu"
        return "other"

    @property
    def kernel(self) -> np.ndarray:
        return self.weights["kernel"] if "kernel" in self.weights else self.weights["v"]

    def describe(self) -> str:
        shapes = ", ".join(f"{k} {tuple(v.shape)}" for k, v in self.weights.items())
        return f"{self.name} ({shapes})"


def _read_keras(path: Path) -> tuple[list[_KLayer], bool]:
    """Layers (in the file's order) of a legacy Keras HDF5 file; and whether a model config was present."""
    h5py = _h5py()
    try:
        f = h5py.File(path, "r")
    except OSError as e:
        raise ModelError(f"{path}: unreadable HDF5 file ({e})") from None
    with f:
        root = f["model_weights"] if "model_weights" in f else f
        if "layer_names" not in root.attrs:
            found = ", ".join(list(root.keys())[:6])
            raise ModelError(
                f"{path}: HDF5 file without Keras 'layer_names' (top-level groups: {found or 'none'}); superres "
                f"reads Keras 2 / tf.keras .h5 files (model.save('x.h5') or model.save_weights('x.h5')). "
                "Understood layouts: " + supported_layouts_text()
            )
        configs: dict[str, tuple[str, dict]] = {}
        raw = f.attrs.get("model_config")
        if raw is not None:
            try:
                cfg = json.loads(raw.decode("utf8") if isinstance(raw, bytes) else str(raw))
                for layer in cfg.get("config", {}).get("layers", []):
                    c = layer.get("config", {})
                    configs[c.get("name", layer.get("name", ""))] = (layer.get("class_name", ""), c)
            except (ValueError, AttributeError):
                configs = {}
        layers = []
        for name in _strs(root.attrs["layer_names"]):
            g = root[name]
            wnames = _strs(g.attrs.get("weight_names", []))
            weights = {}
            for wn in wnames:
                base = wn.rsplit("/", 1)[-1].split(":")[0]
                weights[base] = np.asarray(g[wn])
            cls, c = configs.get(name, ("", {}))
            layers.append(_KLayer(name, weights, wnames, c, cls))
    return layers, bool(configs)


def _t(a: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(a, dtype=np.float32))


def _conv(prefix: str, layer: _KLayer, shuffle: int = 1, kernel: np.ndarray | None = None) -> dict:
    """Keras conv -> PyTorch ``prefix.weight/bias``; ``shuffle`` = depth_to_space factor after it."""
    k = layer.kernel if kernel is None else kernel
    w = _t(k).permute(3, 2, 0, 1)  # (kh, kw, in, out) -> (out, in, kh, kw)
    b = _t(layer.weights["bias"]) if "bias" in layer.weights else torch.zeros(w.shape[0])
    if shuffle > 1:
        # TF depth_to_space reads channel (i*r + j)*C + c for output (c, i, j); PixelShuffle reads c*r*r + i*r + j
        r2 = shuffle * shuffle
        c_out = w.shape[0] // r2
        t = torch.arange(w.shape[0])
        perm = (t % r2) * c_out + t // r2
        w, b = w[perm], b[perm]
    return {f"{prefix}.weight": w.contiguous(), f"{prefix}.bias": b.contiguous()}


def _bn(prefix: str, layer: _KLayer) -> dict:
    w = layer.weights
    n = w["moving_mean"].shape[0]
    return {f"{prefix}.weight": _t(w["gamma"]) if "gamma" in w else torch.ones(n),
            f"{prefix}.bias": _t(w["beta"]) if "beta" in w else torch.zeros(n),
            f"{prefix}.running_mean": _t(w["moving_mean"]),
            f"{prefix}.running_var": _t(w["moving_variance"]),
            f"{prefix}.num_batches_tracked": torch.tensor(0, dtype=torch.long)}


def _prelu(prefix: str, layer: _KLayer, channels: int) -> dict:
    a = _t(layer.weights["alpha"]).reshape(-1)
    if a.numel() == 1:
        a = a.expand(channels).clone()
    if a.numel() != channels:
        raise ModelError(f"PReLU {layer.name} has {a.numel()} slopes for {channels} channels "
                         "(only shared_axes=[1, 2] PReLU is supported)")
    return {f"{prefix}.weight": a}


def _wn_kernel(layer: _KLayer) -> np.ndarray:
    """Fold tfa.layers.WeightNormalization: kernel = l2_normalize(v, axes 0..2) * g."""
    v = layer.kernel.astype(np.float64)
    norm = np.sqrt(np.maximum((v ** 2).sum(axis=(0, 1, 2)), 1e-12))
    g = layer.weights["g"].astype(np.float64).reshape(-1)
    init = layer.weights.get("initialized")
    if init is not None and not bool(np.asarray(init).reshape(-1)[0]):
        g = norm  # never run: tfa sets g = ||v|| on the first call (data_init=False)
    return (v / norm * g).astype(np.float32)


def _keras_srresnet(layers: list[_KLayer], has_config: bool):
    from .models import KerasSRResNet

    L = [x for x in layers if x.kind]
    kinds = [x.kind for x in L]
    if kinds[:2] != ["conv", "prelu"] or "bn" not in kinds:
        return None
    i, blocks = 2, []
    while kinds[i:i + 5] == ["conv", "bn", "prelu", "conv", "bn"]:
        blocks.append(L[i:i + 5])
        i += 5
    if kinds[i:i + 2] != ["conv", "bn"]:
        return None
    body_conv, body_bn = L[i], L[i + 1]
    i += 2
    ups = []
    while kinds[i:i + 2] == ["conv", "prelu"]:
        ups.append(L[i:i + 2])
        i += 2
    if i != len(L) - 1 or kinds[i] != "conv" or not ups:
        return None
    head, head_act, tail = L[0], L[1], L[-1]
    kh = head.kernel.shape
    ch = kh[3]
    if kh[2] != 3 or tail.kernel.shape[2:] != (ch, 3):
        raise ModelError(f"SRResNet-like Keras layers but head {kh} / tail {tail.kernel.shape} are not RGB")
    for up, _ in ups:
        if up.kernel.shape[2:] != (ch, 4 * ch):
            raise ModelError(f"upsampling conv {up.name} has shape {up.kernel.shape}; expected (3, 3, {ch}, {4 * ch})")
    notes = []
    eps = float(body_bn.config.get("epsilon", 1e-3)) if body_bn.config else 1e-3
    act = tail.config.get("activation", "tanh") if tail.config else "tanh"
    if act not in ("tanh", "linear"):
        raise ModelError(f"last conv {tail.name} has activation {act!r}; expected tanh (or linear)")
    if not has_config:
        notes.append("weights-only .h5: assumed krasserm's sr_resnet (input /255, BatchNorm epsilon 1e-3, "
                     "tanh output -> (y + 1) * 127.5)")
    model = KerasSRResNet(scale=2 ** len(ups), channels=int(ch), n_blocks=len(blocks), head_kernel=int(kh[0]),
                          tail_kernel=int(tail.kernel.shape[0]), bn_eps=eps, tanh=act == "tanh")
    sd = {}
    sd.update(_conv("head", head))
    sd.update(_prelu("head_act", head_act, ch))
    for b, (c1, n1, a, c2, n2) in enumerate(blocks):
        sd.update(_conv(f"body.{b}.conv1", c1))
        sd.update(_bn(f"body.{b}.bn1", n1))
        sd.update(_prelu(f"body.{b}.act", a, ch))
        sd.update(_conv(f"body.{b}.conv2", c2))
        sd.update(_bn(f"body.{b}.bn2", n2))
    sd.update(_conv("body_conv", body_conv))
    sd.update(_bn("body_bn", body_bn))
    for u, (conv, a) in enumerate(ups):
        sd.update(_conv(f"upsample.{u}.conv", conv, shuffle=2))
        sd.update(_prelu(f"upsample.{u}.act", a, ch))
    sd.update(_conv("tail", tail))
    return "keras-srresnet", model, sd, notes


def _keras_edsr(layers: list[_KLayer], has_config: bool):
    from .models import KerasEDSR

    L = [x for x in layers if x.kind]
    if len(L) < 5 or any(x.kind != "conv" for x in L):
        return None
    head, tail = L[0], L[-1]
    if head.kernel.shape[2] != 3 or tail.kernel.shape[3] != 3:
        return None
    ch = head.kernel.shape[3]
    ups = []
    j = len(L) - 2
    while j > 0 and L[j].kernel.shape[3] != ch:
        ups.insert(0, L[j])
        j -= 1
    body = L[1:j + 1]
    factors = []
    for up in ups:
        r = math.isqrt(up.kernel.shape[3] // ch)
        if r * r * ch != up.kernel.shape[3] or up.kernel.shape[2] != ch:
            return None
        m = re.search(r"scale_(\d)", up.name)
        if m and int(m.group(1)) != r:
            raise ModelError(f"{up.name}: name says x{m.group(1)} but its shape {up.kernel.shape} says x{r}")
        factors.append(r)
    scale = {(2,): 2, (3,): 3, (2, 2): 4}.get(tuple(factors))
    if scale is None or len(body) % 2 != 1 or any(x.kernel.shape != (3, 3, ch, ch) for x in body):
        return None
    n_blocks = (len(body) - 1) // 2
    notes = ["EDSR residual scaling is a Keras Lambda and not stored in .h5 files: assumed none (the default)"]
    model = KerasEDSR(scale=scale, channels=int(ch), n_blocks=n_blocks)
    sd = {}
    sd.update(_conv("head", head))
    for b in range(n_blocks):
        sd.update(_conv(f"body.{b}.conv1", body[2 * b]))
        sd.update(_conv(f"body.{b}.conv2", body[2 * b + 1]))
    sd.update(_conv("body_conv", body[-1]))
    for u, (up, r) in enumerate(zip(ups, factors)):
        sd.update(_conv(f"upsample.{2 * u}", up, shuffle=r))
    sd.update(_conv("tail", tail))
    return "keras-edsr", model, sd, notes


def _keras_wdsr(layers: list[_KLayer], has_config: bool):
    from .models import KerasWDSR

    L = [x for x in layers if x.kind]
    if len(L) < 4 or any(x.kind != "wnconv" for x in L):
        return None
    shapes = [x.kernel.shape for x in L]
    skip = [x for x, s in zip(L, shapes) if s[:3] == (5, 5, 3)]
    head = [x for x, s in zip(L, shapes) if s[:3] == (3, 3, 3)]
    if len(skip) != 1 or len(head) != 1:
        return None
    skip, head = skip[0], head[0]
    out = skip.kernel.shape[3]
    scale = math.isqrt(out // 3)
    if scale * scale * 3 != out:
        return None
    ch = head.kernel.shape[3]
    tails = [x for x in L if x.kernel.shape == (3, 3, ch, out)]
    if len(tails) != 1:
        return None
    tail = tails[0]
    body = [x for x in L if x is not skip and x is not head and x is not tail]
    if not body:
        return None
    if body[0].kernel.shape[0] == 1:  # WDSR-B: 1x1 expand, 1x1 linear, 3x3
        block, per = "b", 3
    else:
        block, per = "a", 2
    if len(body) % per:
        return None
    n_blocks = len(body) // per
    expansion = body[0].kernel.shape[3] // ch
    model = KerasWDSR(scale=scale, channels=int(ch), n_blocks=n_blocks, expansion=int(expansion), block=block)
    sd = {}
    sd.update(_conv("head", head, kernel=_wn_kernel(head)))
    for b in range(n_blocks):
        for j in range(per):
            layer = body[b * per + j]
            sd.update(_conv(f"body.{b}.conv{j + 1}", layer, kernel=_wn_kernel(layer)))
    sd.update(_conv("main_tail", tail, shuffle=scale, kernel=_wn_kernel(tail)))
    sd.update(_conv("skip", skip, shuffle=scale, kernel=_wn_kernel(skip)))
    notes = ["weight normalisation folded into the kernels",
             "WDSR residual scaling is a Keras Lambda and not stored in .h5 files: assumed none (the default)"]
    return "keras-wdsr", model, sd, notes


def _summarise_keras(layers: list[_KLayer]) -> str:
    counts: dict[str, int] = {}
    for x in layers:
        if x.kind:
            counts[x.kind] = counts.get(x.kind, 0) + 1
    names = {"conv": "Conv2D", "wnconv": "weight-normalised Conv2D", "bn": "BatchNormalization",
             "prelu": "PReLU", "dense": "Dense", "other": "other weighted"}
    parts = ", ".join(f"{n} {names[k]}" for k, n in counts.items()) or "no weighted layers"
    weighted = [x for x in layers if x.kind]
    first = f"; first: {weighted[0].describe()}" if weighted else ""
    hint = " (Dense layers: this looks like a discriminator or classifier, not a generator)" \
        if counts.get("dense") else ""
    return f"a Keras HDF5 file with {parts}{first}{hint}"


# --- entry points ---------------------------------------------------------------------------------

def _load_into(model: nn.Module, state: dict, layout: str, path: Path) -> None:
    from .weights import check_state_fits

    check_state_fits(model, state, f"{path}: recognised as {layout} but ",
                     f"{layout} with {json.dumps(model.args, sort_keys=True)}",
                     hint="the file is damaged or a variant superres does not know")
    model.load_state_dict(state, strict=True)


def detect(path: str | os.PathLike) -> ForeignModel:
    """Recognise a foreign weights file and build its superres module (eval mode, on CPU)."""
    path = Path(path)
    if not path.is_file():
        raise ModelError(f"weights file {path} not found")
    kind = _sniff(path)
    if kind == "hdf5":
        layers, has_config = _read_keras(path)
        for matcher in (_keras_srresnet, _keras_edsr, _keras_wdsr):
            hit = matcher(layers, has_config)
            if hit:
                layout, model, sd, notes = hit
                _load_into(model, sd, layout, path)
                return _finish(ForeignModel(layout, model, "keras-h5", notes))
        found = _summarise_keras(layers)
    elif kind in ("torch", "safetensors"):
        if kind == "safetensors":
            from .weights import read_header

            if read_header(path).get("format") == "superres":
                raise ModelError(f"{path} is already a superres weights file: load it with superres.load_model "
                                 "or superres.weights.load_weights")
        state, wrapper = read_state_dict(path)
        try:
            hit = _detect_torch(state)
        except ModelError as e:
            raise ModelError(f"{path}: {e}") from None
        if hit:
            layout, cls, args, sd, notes = hit
            if wrapper:
                notes.insert(0, f"weights taken from the {wrapper!r} entry")
            try:
                model = cls(**args)
            except ValueError as e:
                raise ModelError(f"{path}: recognised as {layout} but unsupported: {e}") from None
            _load_into(model, sd, layout, path)
            return _finish(ForeignModel(layout, model, kind, notes))
        found = _found_tensors(state) + (f" (inside {wrapper!r})" if wrapper else "")
    else:
        with open(path, "rb") as f:
            head = f.read(8)
        raise ModelError(f"{path}: unrecognised weights layout: not a safetensors, PyTorch or Keras HDF5 file "
                         f"(it starts with bytes {head!r}); superres reads its own .safetensors, Keras .h5 and "
                         f"BasicSR/Real-ESRGAN .pth ({', '.join(LAYOUTS)})")
    raise ModelError(f"{path}: unrecognised weights layout: found {found}. superres understands its own "
                     f".safetensors and: {supported_layouts_text()}")


def _finish(fm: ForeignModel) -> ForeignModel:
    fm.model.card = None
    fm.model.foreign = {"layout": fm.layout, "format": fm.file_format, "notes": list(fm.notes)}
    fm.model.eval()
    return fm


def load_foreign(path: str | os.PathLike) -> nn.Module:
    """A ready superres module (eval mode, CPU) from a foreign weights file; see :data:`LAYOUTS`."""
    return detect(path).model


def convert(src: str | os.PathLike, out: str | os.PathLike, *, license: str = "", source: str = "",
            name: str = "", description: str = "", dtype: torch.dtype = torch.float32,
            overwrite: bool = False):
    """Write a foreign checkpoint as a superres ``.safetensors`` file plus model card.

    The card records the layout, the original file's name and sha256, and the
    licence and source exactly as given (``"not stated"`` when empty); it also
    marks the weights as foreign (``extra.foreign = true``). Returns
    (path, card, max_abs_diff) where the last is the largest difference between
    the converted file reloaded and the foreign model on a test input.
    """
    from ._version import __version__
    from .weights import ModelCard, load_weights, save_weights, sha256_file

    src, out = Path(src), Path(out)
    if out.suffix != ".safetensors":
        raise OutputError(f"{out}: the output must end in .safetensors")
    if out.exists() and not overwrite:
        raise OutputError(f"{out} exists; pass --overwrite to replace it")
    if out.exists() and src.exists() and out.resolve() == src.resolve():
        raise OutputError(f"{out}: output and input are the same file")
    fm = detect(src)
    model = fm.model
    card = ModelCard(
        name=name or out.stem, arch=model.info.arch, args=model.args, scale=int(model.info.scale),
        description=description or f"{LAYOUTS[fm.layout].split(' (')[0]} converted from {src.name}",
        training_data="not recorded (foreign weights; see source)",
        recipe="not trained by superres: foreign weights converted with `superres convert`",
        license=license or "not stated", source=source or "not stated",
        extra={"foreign": True, "layout": fm.layout,
               "converted_from": {"file": src.name, "format": fm.file_format, "sha256": sha256_file(src)},
               "conversion_notes": fm.notes, "converted_with": f"superres {__version__}"},
    )
    save_weights(model, out, card, dtype=dtype)
    back = load_weights(out)
    g = torch.Generator().manual_seed(0)
    x = torch.rand(1, model.info.in_channels, 20, 20, generator=g)
    with torch.inference_mode():
        diff = float((back(x) - model(x)).abs().max())
    return out, card, diff
