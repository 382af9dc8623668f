"""The superres weights format: self-describing safetensors plus a model card.

A weights file is a ``.safetensors`` file whose header metadata holds

* ``format = "superres"`` and ``format_version`` (an integer, currently 1),
* ``arch``: an architecture name from :data:`superres.models.ARCHITECTURES`,
* ``args``: JSON of the constructor arguments,
* ``card``: JSON of the model card (optional; also written beside the file as
  ``<name>.json`` for humans and code hosts),
* ``params``: the network's parameter count (files written before it existed: counted
  from the tensor shapes, BatchNorm statistics excluded; see :func:`weights_summary`).

so :func:`load_weights` rebuilds the network without the user naming it. Tensors
are stored as float16 when that loses less than a given tolerance (checked by
the exporter), otherwise float32; they are loaded back as float32.

Nothing here unpickles: safetensors only. (``torch.load`` elsewhere in the
project is always called with ``weights_only=True``.)
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any


from .errors import ModelError
from .fileio import atomic_write_bytes

if TYPE_CHECKING:  # torch is imported by the functions that need it: reading headers stays light
    import torch
    from torch import nn

__all__ = ["FORMAT_VERSION", "ModelCard", "save_weights", "load_weights", "read_header", "sha256_file",
           "check_state_fits", "weights_summary", "WeightsSummary"]

FORMAT_VERSION = 1


@dataclass
class ModelCard:
    """Human-facing facts about a set of weights (stored as JSON)."""

    name: str
    arch: str
    args: dict
    scale: int
    description: str = ""
    training_data: str = ""
    recipe: str = ""
    steps: int | None = None
    wall_time_hours: float | None = None
    hardware: str = ""
    metrics: dict = field(default_factory=dict)
    license: str = ""
    source: str = ""
    dtype: str = "float16"
    sha256: str = ""
    extra: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return {k: v for k, v in self.__dict__.items()}

    @classmethod
    def from_dict(cls, d: dict) -> "ModelCard":
        known = {k: d[k] for k in cls.__dataclass_fields__ if k in d}
        extra = {k: v for k, v in d.items() if k not in cls.__dataclass_fields__}
        card = cls(**known)
        card.extra.update(extra)
        return card


def sha256_file(path: str | os.PathLike, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def save_weights(model: nn.Module, path: str | os.PathLike, card: ModelCard | None = None,
                 dtype: torch.dtype | None = None) -> Path:
    """Save ``model`` (which must have ``.args`` and ``.info.arch``) as superres safetensors.

    Returns the path. If ``card`` is given, its ``sha256`` is filled in and it is
    embedded in the header and written beside the file as ``<stem>.json``.
    """
    import torch
    from safetensors.torch import save as st_save

    dtype = torch.float16 if dtype is None else dtype  # float16 unless told otherwise
    path = Path(path)
    arch = model.info.arch
    state = {k: v.detach().to("cpu").contiguous() for k, v in model.state_dict().items()}
    state = {k: (v.to(dtype) if v.is_floating_point() else v) for k, v in state.items()}
    meta = {"format": "superres", "format_version": str(FORMAT_VERSION), "arch": arch,
            "args": json.dumps(model.args, sort_keys=True),
            "params": str(sum(p.numel() for p in model.parameters()))}
    if card is not None:
        card.dtype = str(dtype).replace("torch.", "")
        card.sha256 = ""  # the hash covers the file, which embeds the card without it
        meta["card"] = json.dumps(card.to_dict(), sort_keys=True)
    data = st_save(state, metadata=meta)
    atomic_write_bytes(path, data)
    if card is not None:
        card.sha256 = hashlib.sha256(data).hexdigest()
        atomic_write_bytes(path.with_suffix(".json"),
                           (json.dumps(card.to_dict(), indent=2, sort_keys=True) + "\n").encode())
    return path


def _read_full_header(path: Path) -> dict:
    try:
        with open(path, "rb") as f:
            n = int.from_bytes(f.read(8), "little")
            if n <= 0 or n > 100_000_000:
                raise ValueError("bad header length")
            return json.loads(f.read(n))
    except (OSError, ValueError) as e:
        raise ModelError(f"{path}: not a safetensors file ({e}); superres weights are .safetensors") from e


def read_header(path: str | os.PathLike) -> dict[str, str]:
    """The safetensors header metadata of ``path`` (no tensors are read)."""
    return _read_full_header(Path(path)).get("__metadata__", {}) or {}


#: state-dict entries that are statistics, not parameters
_BUFFER_SUFFIXES = (".running_mean", ".running_var", ".num_batches_tracked")


@dataclass(frozen=True)
class WeightsSummary:
    """What a superres weights file says about its network, read from the header alone."""

    arch: str
    args: dict
    scale: int
    params: int


def weights_summary(path: str | os.PathLike) -> WeightsSummary:
    """Architecture, arguments, scale and parameter count of a weights file, without loading it
    (or importing torch): ``superres models`` lists models this way."""
    header = _read_full_header(Path(path))
    meta = header.get("__metadata__", {}) or {}
    args = json.loads(meta.get("args", "{}"))
    if "params" in meta:
        params = int(meta["params"])
    else:
        params = 0
        for key, t in header.items():
            if key != "__metadata__" and not key.endswith(_BUFFER_SUFFIXES):
                n = 1
                for d in t.get("shape", []):
                    n *= int(d)
                params += n
    return WeightsSummary(meta.get("arch", ""), args, int(args.get("scale", 0)), params)


def check_state_fits(model: nn.Module, state: dict[str, torch.Tensor], prefix: str = "",
                     what: str = "the model",
                     hint: str = "the file's header does not describe its tensors (re-export the weights, or "
                                 "convert the original checkpoint)") -> None:
    """Raise a one-line :class:`ModelError` unless ``state`` has exactly ``model``'s tensors and shapes.

    The first mismatching tensor is named (in the model's order), with both
    shapes, instead of torch's multi-line list of every difference.
    """
    own = model.state_dict()
    for k, v in own.items():
        if k in state and tuple(state[k].shape) != tuple(v.shape):
            n = sum(1 for j, w in own.items() if j in state and tuple(state[j].shape) != tuple(w.shape))
            more = f" (and {n - 1} more)" if n > 1 else ""
            raise ModelError(f"{prefix}shape mismatch: tensor {k!r} is {list(state[k].shape)} in the file but "
                             f"{what} needs {list(v.shape)}{more}; {hint}")
    missing = [k for k in own if k not in state]
    unexpected = [k for k in state if k not in own]
    if missing or unexpected:
        parts = ([f"missing tensor {missing[0]!r}" + (f" (and {len(missing) - 1} more)" if len(missing) > 1 else "")]
                 if missing else []) + \
                ([f"unexpected tensor {unexpected[0]!r}" + (f" (and {len(unexpected) - 1} more)"
                                                           if len(unexpected) > 1 else "")] if unexpected else [])
        raise ModelError(f"{prefix}weights do not match {what}: {', '.join(parts)}; {hint}")


def load_weights(path: str | os.PathLike, device: str | torch.device = "cpu") -> nn.Module:
    """Rebuild and return the network stored in a superres ``.safetensors`` file (eval mode)."""
    from safetensors.torch import load_file

    from .models import ARCHITECTURES

    path = Path(path)
    if not path.is_file():
        raise ModelError(f"{path}: weights file not found")
    meta = read_header(path)
    if meta.get("format") != "superres":
        raise ModelError(
            f"{path}: no superres header (format={meta.get('format')!r}); "
            "convert foreign checkpoints with `superres convert`"
        )
    version = int(meta.get("format_version", "0"))
    if version > FORMAT_VERSION:
        raise ModelError(f"{path}: format version {version} is newer than this superres "
                         f"understands ({FORMAT_VERSION}); upgrade superres")
    arch = meta.get("arch", "")
    if arch not in ARCHITECTURES:
        raise ModelError(f"{path}: unknown architecture {arch!r}; known: {', '.join(ARCHITECTURES)}")
    try:
        args: dict[str, Any] = json.loads(meta.get("args", "{}"))
        model = ARCHITECTURES[arch](**args)
    except (TypeError, ValueError) as e:
        raise ModelError(f"{path}: the header's {arch} arguments are unusable ({e}); re-export the weights") from None
    try:
        state = load_file(str(path), device="cpu")
    except Exception as e:  # noqa: BLE001 - safetensors raises its own error type (truncated, bad offsets)
        raise ModelError(f"{path}: unreadable safetensors file ({' '.join(str(e).split())}); "
                         "the file may be truncated: download or export it again") from None
    state = {k: (v.float() if v.is_floating_point() else v) for k, v in state.items()}
    check_state_fits(model, state, f"{path}: ", f"{arch} with {json.dumps(args, sort_keys=True)}")
    model.load_state_dict(state)
    model.card = ModelCard.from_dict(json.loads(meta["card"])) if "card" in meta else None
    return model.eval().to(device)
