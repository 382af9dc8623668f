"""Named models: ``create_model(name)`` over a registry of small builder functions.

Two registries, one on top of the other:

* :data:`superres.models.ARCHITECTURES` maps an *architecture* name (``"srresnet"``,
  the ``arch`` stored in every weights file) to its class; :func:`superres.weights.load_weights`
  uses it to rebuild any weights file without being told the architecture.
* this module maps a *model* name (``"srgan-x4"``) to a builder of one of those
  architectures plus, optionally, a :class:`PretrainedWeights` record naming the
  safetensors file shipped inside the package (``superres/pretrained/``), its
  licence and the card beside it (which holds the file's sha256). Several models
  may share an architecture (srgan-x4 and srresnet-x4 are both ``srresnet``).

``load_model(name_or_path)`` accepts a registry name or a path to a weights file
(superres format, or a foreign layout understood by :mod:`superres.convert`) and
returns a :class:`~superres.models.ModelDescriptor`: the module with its typed
info, card and name.
"""

from __future__ import annotations

import difflib
import json
import os
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .errors import ModelError

if TYPE_CHECKING:
    from .models.base import ModelDescriptor

__all__ = ["ModelEntry", "PretrainedWeights", "register_model", "create_model", "load_model",
           "interpolate_models", "load_with_controls", "STRENGTH_PAIRS",
           "list_models", "get_entry", "resolve", "DEFAULT_MODEL", "default_model", "weights_dir",
           "fallback_note", "looks_like_weights_path", "WEIGHTS_SUFFIXES"]

#: file suffixes taken as weights paths rather than (misspelt) model names
WEIGHTS_SUFFIXES = (".safetensors", ".pth", ".pt", ".h5", ".hdf5", ".ckpt", ".param")

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
    #: scale and parameter count known without building the network (parameter-free baselines);
    #: models with weights read theirs from the weights header (``superres models`` never builds them)
    scale: int | None = None
    params: int | None = None

    def available(self) -> bool:
        return self.weights is None or self.weights.installed()


_REGISTRY: dict[str, ModelEntry] = {}


def register_model(name: str, description: str, weights: str | None = None, license: str = "MIT",
                   tags: tuple[str, ...] = (), scale: int | None = None, params: int | None = None) -> Callable:
    """Decorator: register ``builder`` under ``name`` (with a shipped weights file, if any).

    ``scale``/``params`` may declare what the built network has, so listing models needs no torch
    (tests check the declaration against the built network).
    """

    def deco(builder: Callable) -> Callable:
        if name in _REGISTRY:
            raise ValueError(f"model {name!r} registered twice")
        pw = PretrainedWeights(weights, license) if weights else None
        _REGISTRY[name] = ModelEntry(name, builder, description, pw, tags, scale, params)
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
    register_model(_mode, _desc, tags=("interpolation",), scale=4, params=0)(_interp(_mode))


# --- lookup -----------------------------------------------------------------------------------

def list_models() -> list[ModelEntry]:
    return list(_REGISTRY.values())


def resolve(name: str) -> ModelEntry | None:
    """The registry entry of ``name``, or None when it is not a registered name (e.g. a path)."""
    return _REGISTRY.get(str(name))


def looks_like_weights_path(name: str) -> bool:
    """Whether ``name`` is meant as a file (a weights suffix, a folder separator, or an existing path)."""
    p = Path(str(name)).expanduser()
    return p.suffix in WEIGHTS_SUFFIXES or os.sep in str(name) or p.exists()


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
                     "BasicSR/Real-ESRGAN .pth, ncnn .param with its .bin)")


def default_model() -> str:
    """:data:`DEFAULT_MODEL` if its weights are installed, else the best installed fallback."""
    for name in PREFERENCE:
        if get_entry(name).available():
            return name
    return "bicubic"


def fallback_note(chosen: str) -> str | None:
    """The note a command prints when no model was named and the default's weights are missing."""
    if chosen == DEFAULT_MODEL:
        return None
    return f"{DEFAULT_MODEL} weights are not installed; using {chosen}"


def create_model(name: str, pretrained: bool = True, device: str = "cpu"):
    """Build the named model's network (a module, eval mode); with ``pretrained`` load its shipped weights.

    ``pretrained=False`` returns the architecture randomly initialised (for training).
    :func:`load_model` returns the same network with its typed metadata.
    """
    entry = get_entry(name)
    model = entry.builder()
    if pretrained and entry.weights is not None:
        if not entry.weights.installed():
            raise ModelError(
                f"model {name!r} has no weights installed ({entry.weights.path} is missing); "
                f"reinstall superres or use another model "
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
        # the card beside the file when it was measured after export; load_model puts it into the typed
        # ModelInfo.border the engine reads
        # the same for the int8 calibration and its quality gate (benchmarks/int8_gate.py)
        side = entry.weights.card().get("extra", {})
        for key in ("border", "int8"):
            if side.get(key) and getattr(model, "card", None) is not None and key not in model.card.extra:
                model.card.extra[key] = side[key]
    return model.eval().to(device)


def load_model(name_or_path: str | os.PathLike, device: str = "cpu") -> ModelDescriptor:
    """A ready model (a :class:`~superres.models.ModelDescriptor`) from a registry name, a catalogue
    name (third-party weights, fetched and verified on first use: :mod:`superres.catalogue`) or a
    weights file path. A border treatment recorded in the card becomes the typed ``info.border``."""
    from .models.base import describe

    s = str(name_or_path)
    if s in _REGISTRY:
        module = create_model(s, pretrained=True, device=device)
        return describe(module, name=s)
    from . import catalogue

    entry = catalogue.find(s)
    if entry is not None:
        if entry.kind != "model":
            raise ModelError(f"{s!r} holds {entry.description}: weights for a loss or metric, not a "
                             "super-resolution model")
        path = catalogue.ensure(s)[0]
        module = _load_file(path)
        if path.suffix == ".param" and entry.arch != "ncnn":  # the fallback files of an upstream architecture
            from .ncnn import to_architecture

            module = to_architecture(module, entry.arch)
        return describe(module.eval().to(device), name=s)
    p = Path(s).expanduser()
    if not looks_like_weights_path(s):
        get_entry(s)  # raises with suggestions
    if not p.exists():
        raise ModelError(f"weights file {p} not found")
    if p.is_dir():
        raise ModelError(f"{p} is a folder; give a weights file (.safetensors, .h5, .pth, ncnn .param)")
    if p.suffix.lower() in (".param", ".bin"):
        return describe(_load_file(p).eval().to(device), name=p.stem)
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
    return describe(model, name=p.stem)


def _load_file(path: Path):
    """A foreign model file as a module: an ncnn ``.param`` (+ ``.bin``) or a checkpoint :mod:`convert` reads."""
    if path.suffix.lower() in (".param", ".bin"):
        from .ncnn import load_ncnn

        return load_ncnn(path)
    from .convert import load_foreign

    return load_foreign(path)


def interpolate_models(a, b, t: float, device: str = "cpu") -> ModelDescriptor:
    """Network interpolation (ESRGAN, Wang et al. 2018; Real-ESRGAN's DNI): ``(1 - t) * a + t * b``,
    parameter by parameter, for two models (names, paths, descriptors or modules) of the same
    architecture; a :class:`~superres.models.ModelDescriptor`.

    ``t = 0`` is ``a``, ``t = 1`` is ``b``. Integer buffers (BatchNorm counters) are taken from ``a``.
    The result carries the info and card (with them the border treatment) of the nearer end point.
    """
    import copy

    from .models.base import ModelDescriptor, describe

    t = float(t)
    if not 0.0 <= t <= 1.0:
        raise ModelError(f"interpolation weight must be between 0 and 1, got {t}")
    da = describe(a if not isinstance(a, (str, os.PathLike)) else load_model(a))
    db = describe(b if not isinstance(b, (str, os.PathLike)) else load_model(b))
    # SRResNet's project=True (an output projection without parameters) does not make another network:
    # the mix keeps it when either end has it (srgan-x4 has, srresnet-x4, an MSE model, has no need)
    shape_a, shape_b = ({k: v for k, v in d.args.items() if k != "project"} for d in (da, db))
    if (da.info.arch, shape_a) != (db.info.arch, shape_b):
        raise ModelError(f"cannot interpolate {da.name} and {db.name}: they are different networks")
    sa, sb = da.state_dict(), db.state_dict()
    mixed = {k: (v.lerp(sb[k].to(v.dtype), t) if v.is_floating_point() else v) for k, v in sa.items()}
    module = copy.deepcopy(db.module if db.args.get("project") and not da.args.get("project") else da.module)
    module.load_state_dict(mixed)
    near = db if t >= 0.5 else da
    return ModelDescriptor(module.eval().to(device), near.info, f"{da.name}~{db.name}@{t:g}",
                           copy.deepcopy(near.card))


#: ``--strength`` pair: the GAN model blended with its MSE-trained starting point (ESRGAN interpolation)
STRENGTH_PAIRS: dict[str, tuple[str, str]] = {
    "srgan-x4": ("srresnet-x4", "srgan-x4"),
    "course-srgan": ("course-srresnet", "course-srgan"),  # the course's SRGAN was fine-tuned from its SRResNet
}


def load_with_controls(name: str, *, strength: float | None = None, denoise: float | None = None,
                       device: str = "cpu") -> ModelDescriptor:
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
        return replace(model, name=f"{name}@strength={strength:g}")
    if denoise is not None:
        pair = DENOISE_PAIRS.get(name)
        if pair is None:
            raise ModelError(f"--denoise works with {', '.join(DENOISE_PAIRS)}, not {name!r}")
        if denoise == 1.0:  # Real-ESRGAN's rule: strength 1 is the model itself, no companion needed
            return load_model(name, device=device)
        model = interpolate_models(pair[0], pair[1], denoise, device=device)
        return replace(model, name=f"{name}@denoise={denoise:g}")
    return load_model(name, device=device)
