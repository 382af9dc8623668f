"""Named models: ``create_model(name)`` over a registry of small builder functions.

Each entry pairs a builder (which constructs the architecture) with optional
pretrained weights: a :class:`PretrainedWeights` record naming the
safetensors file shipped inside the package (``superres/pretrained/``), its
sha256, licence and card. ``load_model(name_or_path)`` accepts a registry name
or a path to a weights file (superres format, or a foreign layout understood by
:mod:`superres.convert` when present).
"""

from __future__ import annotations

import difflib
import json
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from .errors import ModelError

__all__ = ["ModelEntry", "PretrainedWeights", "register_model", "create_model", "load_model",
           "interpolate_models", "load_with_controls", "STRENGTH_PAIRS",
           "list_models", "get_entry", "DEFAULT_MODEL", "default_model", "weights_dir"]

#: the model used when none is named (falls back down PREFERENCE when its weights are missing)
DEFAULT_MODEL = "srgan-x4"
PREFERENCE = ("srgan-x4", "srgan-x4-fast", "srresnet-x4", "srcnn-x4", "bicubic")


def weights_dir() -> Path:
    """Folder holding the shipped weights (``SUPERRES_WEIGHTS_DIR`` overrides it)."""
    env = os.environ.get("SUPERRES_WEIGHTS_DIR")
    if env:
        return Path(env)
    return Path(str(resources.files("superres") / "pretrained"))


@dataclass(frozen=True)
class PretrainedWeights:
    """Metadata of a shipped weights file."""

    file: str  # file name inside weights_dir()
    license: str = "MIT"
    mean: tuple[float, float, float] = (0.0, 0.0, 0.0)  # input normalisation (none: RGB in [0, 1])
    std: tuple[float, float, float] = (1.0, 1.0, 1.0)

    @property
    def path(self) -> Path:
        return weights_dir() / self.file

    @property
    def card_path(self) -> Path:
        return self.path.with_suffix(".json")

    def installed(self) -> bool:
        return self.path.is_file()

    def card(self) -> dict[str, Any]:
        try:
            return json.loads(self.card_path.read_text())
        except (OSError, ValueError):
            return {}


@dataclass(frozen=True)
class ModelEntry:
    name: str
    builder: Callable[[], Any]
    description: str
    weights: PretrainedWeights | None = None
    tags: tuple[str, ...] = field(default_factory=tuple)

    @property
    def needs_weights(self) -> bool:
        return self.weights is not None

    def available(self) -> bool:
        return self.weights is None or self.weights.installed()


_REGISTRY: dict[str, ModelEntry] = {}


def register_model(name: str, description: str, weights: str | None = None, license: str = "MIT",
                   tags: tuple[str, ...] = ()) -> Callable:
    """Decorator: register ``builder`` under ``name`` (with a shipped weights file, if any)."""

    def deco(builder: Callable) -> Callable:
        if name in _REGISTRY:
            raise ValueError(f"model {name!r} registered twice")
        pw = PretrainedWeights(weights, license) if weights else None
        _REGISTRY[name] = ModelEntry(name, builder, description, pw, tags)
        return builder

    return deco


# --- builders ---------------------------------------------------------------------------------

@register_model("srgan-x4", "SRGAN generator (SRResNet trained with VGG + adversarial loss): sharpest "
                "textures, may invent detail", weights="srgan-x4.safetensors", tags=("gan", "default"))
def _srgan_x4():
    from .models import SRResNet

    return SRResNet(scale=4)


@register_model("srresnet-x4", "SRResNet trained with MSE: highest PSNR, smoother textures",
                weights="srresnet-x4.safetensors", tags=("psnr",))
def _srresnet_x4():
    from .models import SRResNet

    return SRResNet(scale=4)


@register_model("srgan-x4-fast", "compact SRGAN (16 conv+PReLU layers at low resolution, bicubic skip): "
                "several times faster on CPU, for animations and big images", weights="srgan-x4-fast.safetensors",
                tags=("gan", "fast"))
def _srgan_x4_fast():
    from .models import CompactSR

    return CompactSR(scale=4)


@register_model("srcnn-x4", "SRCNN 9-5-5 on a bicubic-enlarged input (learns the residual over bicubic): "
                "the classic 3-layer baseline",
                weights="srcnn-x4.safetensors", tags=("psnr", "small"))
def _srcnn_x4():
    from .models import SRCNN

    return SRCNN(scale=4)


def _interp(mode: str) -> Callable:
    def build():
        from .models import Interpolation

        return Interpolation(mode=mode, scale=4)

    build.__name__ = f"_{mode}"
    return build


for _mode, _desc in (("nearest", "nearest-neighbour (blocky; shows the pixels)"),
                     ("bilinear", "bilinear interpolation"),
                     ("bicubic", "bicubic interpolation (MATLAB imresize, a=-0.5): the standard baseline"),
                     ("lanczos", "Lanczos-3 interpolation")):
    register_model(_mode, _desc, tags=("interpolation",))(_interp(_mode))


# --- lookup -----------------------------------------------------------------------------------

def list_models() -> list[ModelEntry]:
    return list(_REGISTRY.values())


def get_entry(name: str) -> ModelEntry:
    if name in _REGISTRY:
        return _REGISTRY[name]
    from .catalogue import names as catalogue_names

    fetchable = catalogue_names("model")
    if name in fetchable:
        raise ModelError(f"{name!r} is a third-party model from the catalogue (fetched on first use), not a "
                         "shipped one; load it with superres.load_model or --model")
    close = difflib.get_close_matches(name, [*_REGISTRY, *fetchable], n=1, cutoff=0.5)
    hint = f" Did you mean {close[0]!r}?" if close else ""
    raise ModelError(f"unknown model {name!r}.{hint} Available: {', '.join(_REGISTRY)}; fetchable: "
                     f"{', '.join(fetchable)} (or a path to a weights file: superres .safetensors, Keras .h5, "
                     "BasicSR/Real-ESRGAN .pth)")


def default_model() -> str:
    """:data:`DEFAULT_MODEL` if its weights are installed, else the best installed fallback."""
    for name in PREFERENCE:
        if get_entry(name).available():
            return name
    return "bicubic"


def create_model(name: str, pretrained: bool = True, device: str = "cpu"):
    """Build the named model; with ``pretrained`` load its shipped weights (eval mode).

    ``pretrained=False`` returns the architecture randomly initialised (for training).
    """
    entry = get_entry(name)
    model = entry.builder()
    if pretrained and entry.weights is not None:
        if not entry.weights.installed():
            raise ModelError(
                f"model {name!r} has no weights installed ({entry.weights.path} is missing); "
                f"they ship with superres releases once trained. Use another model "
                f"(installed: {', '.join(e.name for e in list_models() if e.available())}) or --model PATH"
            )
        from .weights import load_weights

        loaded = load_weights(entry.weights.path)
        # the file's own arguments rule (e.g. SRCNN trained with residual=True); the builder
        # only fixes the architecture, which must match
        if loaded.info.arch != model.info.arch or loaded.info.scale != model.info.scale:
            raise ModelError(f"{entry.weights.path}: holds a {loaded.info.arch} x{loaded.info.scale} network, "
                             f"not {name}'s {model.info.arch} x{model.info.scale}; reinstall superres or "
                             "remove the file")
        model = loaded
        # the border treatment that measured best (benchmarks/real_photos.py --border-study), recorded in
        # the card beside the file when it was measured after export; the engine follows it
        border = entry.weights.card().get("extra", {}).get("border")
        if border and getattr(model, "card", None) is not None and "border" not in model.card.extra:
            model.card.extra["border"] = border
    model.name = name
    return model.eval().to(device)


def load_model(name_or_path: str | os.PathLike, device: str = "cpu"):
    """A ready model from a registry name, a catalogue name (third-party weights, fetched and verified
    on first use: :mod:`superres.catalogue`) or a weights file path."""
    s = str(name_or_path)
    if s in _REGISTRY:
        return create_model(s, pretrained=True, device=device)
    from . import catalogue

    entry = catalogue.find(s)
    if entry is not None:
        if entry.kind != "model":
            raise ModelError(f"{s!r} holds {entry.description}: weights for a loss or metric, not a "
                             "super-resolution model")
        path = catalogue.ensure(s)[0]
        from .convert import load_foreign

        model = load_foreign(path).eval().to(device)
        model.name = s
        return model
    p = Path(s).expanduser()
    looks_like_path = p.suffix in (".safetensors", ".pth", ".pt", ".h5", ".hdf5", ".ckpt") or os.sep in s or p.exists()
    if not looks_like_path:
        get_entry(s)  # raises with suggestions
    if not p.exists():
        raise ModelError(f"weights file {p} not found")
    if p.is_dir():
        raise ModelError(f"{p} is a folder; give a weights file (.safetensors, .h5, .pth)")
    from .weights import load_weights, read_header

    try:  # a superres file is recognised by its header whatever its name ends with
        ours = p.suffix.lower() not in (".pth", ".pt", ".h5", ".hdf5", ".ckpt") and \
            read_header(p).get("format") == "superres"
    except ModelError:
        ours = False
    if ours:
        model = load_weights(p, device=device)
    else:
        try:
            from .convert import load_foreign  # interoperability layer (optional module)
        except ModuleNotFoundError:
            raise ModelError(f"{p}: not a superres weights file (expected .safetensors written by superres)") from None
        model = load_foreign(p).eval().to(device)
    model.name = p.stem
    return model


def interpolate_models(a, b, t: float, device: str = "cpu"):
    """Network interpolation (ESRGAN, Wang et al. 2018; Real-ESRGAN's DNI): ``(1 - t) * a + t * b``,
    parameter by parameter, for two models (names, paths or modules) of the same architecture.

    ``t = 0`` is ``a``, ``t = 1`` is ``b``. Integer buffers (BatchNorm counters) are taken from ``a``.
    """
    t = float(t)
    if not 0.0 <= t <= 1.0:
        raise ModelError(f"interpolation weight must be between 0 and 1, got {t}")
    ma = a if not isinstance(a, (str, os.PathLike)) else load_model(a)
    mb = b if not isinstance(b, (str, os.PathLike)) else load_model(b)
    ia, ib = getattr(ma, "info", None), getattr(mb, "info", None)
    if (getattr(ia, "arch", None), getattr(ma, "args", None)) != (getattr(ib, "arch", None), getattr(mb, "args", None)):
        raise ModelError(f"cannot interpolate {getattr(ma, 'name', a)} and {getattr(mb, 'name', b)}: "
                         "they are different networks")
    sa, sb = ma.state_dict(), mb.state_dict()
    mixed = {k: (v.lerp(sb[k].to(v.dtype), t) if v.is_floating_point() else v) for k, v in sa.items()}
    import copy

    out = copy.deepcopy(ma)
    out.load_state_dict(mixed)
    # the card (and with it the border treatment the engine uses) of the nearer end point
    out.card = copy.deepcopy(getattr(mb if t >= 0.5 else ma, "card", None))
    out.name = f"{getattr(ma, 'name', 'a')}~{getattr(mb, 'name', 'b')}@{t:g}"
    return out.eval().to(device)


#: ``--strength`` pair: the GAN model blended with its MSE-trained starting point (ESRGAN interpolation)
STRENGTH_PAIRS: dict[str, tuple[str, str]] = {
    "srgan-x4": ("srresnet-x4", "srgan-x4"),
    "course-srgan": ("course-srresnet", "course-srgan"),  # the course's SRGAN was fine-tuned from its SRResNet
}


def load_with_controls(name: str, *, strength: float | None = None, denoise: float | None = None,
                       device: str = "cpu"):
    """``name`` with the GAN ``strength`` (0 = srresnet-x4 .. 1 = srgan-x4) or Real-ESRGAN ``denoise``
    (0 = weak-denoise companion .. 1 = realesr-general-x4v3) applied by network interpolation."""
    from .catalogue import DENOISE_PAIRS

    if strength is not None and denoise is not None:
        raise ModelError("give --strength or --denoise, not both")
    if strength is not None:
        pair = STRENGTH_PAIRS.get(name)
        if pair is None:
            pairs = "; ".join(f"{k}: {a} .. {b}" for k, (a, b) in STRENGTH_PAIRS.items())
            raise ModelError(f"--strength works with {', '.join(STRENGTH_PAIRS)} (it blends {pairs}), "
                             f"not {name!r}")
        model = interpolate_models(pair[0], pair[1], strength, device=device)
        model.name = f"{name}@strength={strength:g}"
        return model
    if denoise is not None:
        pair = DENOISE_PAIRS.get(name)
        if pair is None:
            raise ModelError(f"--denoise works with {', '.join(DENOISE_PAIRS)}, not {name!r}")
        if denoise == 1.0:  # Real-ESRGAN's rule: strength 1 is the model itself, no companion needed
            return load_model(name, device=device)
        model = interpolate_models(pair[0], pair[1], denoise, device=device)
        model.name = f"{name}@denoise={denoise:g}"
        return model
    return load_model(name, device=device)
