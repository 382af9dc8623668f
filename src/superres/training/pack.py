"""A training pack: everything a training run needs, in one file small enough to carry.

``superres data pack OUT.pack --data DIR...`` writes one safetensors file holding

* the training photos, re-encoded (JPEG 4:4:4 at high quality by default) and, when they
  do not fit the size budget otherwise, resized so that no long side exceeds one cap
  found by search (small images are never resized);
* the held-out validation slice of the same photos (the fixed every-k-th rule of
  :func:`superres.training.train.held_out_split`, as ``superres train`` uses without
  ``--val``), as lossless PNG centre crops of the *original* photos, so the metrics a
  pack run reports are comparable with a folder run's;
* the VGG16 convolutions the content loss needs (up to the deepest configured layer), in
  float16;
* optionally the LPIPS AlexNet backbone (float16) and linear heads, so validation can
  report LPIPS on a machine with no network.

Each piece is a 1-D ``uint8`` tensor (encoded image bytes) or a weight tensor; the
safetensors metadata holds a JSON manifest: what was done to the photos, their sources,
sizes and SHA-256s, the VGG source and layer, and the budget. :func:`read_pack` checks
every SHA-256. Set5/Set14 are never packed: they are test sets, measured at export only.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch

from .._version import __version__
from ..errors import InputError, OutputError, SuperResError
from .data import find_images, load_validation, read_rgb

__all__ = ["PACK_FORMAT", "PACK_VERSION", "PackError", "Pack", "build_pack", "read_pack", "vgg_layer_index",
           "CODECS", "LPIPS_BACKBONE_FILE", "decode"]

PACK_FORMAT = "superres-train-pack"
PACK_VERSION = 1
CODECS = ("jpeg", "webp", "png")
LPIPS_BACKBONE_FILE = "alexnet-owt-7be5be79.pth"  # torchvision's file name, where LPIPS looks in a cache
_MANIFEST_SLACK = 64 * 1024  # bytes kept free for the manifest and safetensors' header (+1 KB per image)


class PackError(SuperResError):
    """A training pack cannot be built or read."""


@dataclass
class Pack:
    """A read pack: encoded training photos, validation crops and loss/metric weights."""

    path: Path
    manifest: dict[str, Any]
    train: list[tuple[str, bytes]]  # (name, encoded image)
    val: list[tuple[str, bytes]]  # (name, PNG of the HR centre crop)
    vgg: dict[str, torch.Tensor]  # torchvision ``features.N.*`` layout, float16
    lpips_backbone: dict[str, torch.Tensor] = field(default_factory=dict)  # alexnet ``features.N.*``
    lpips_head: dict[str, torch.Tensor] = field(default_factory=dict)  # ``linK.model.1.weight``

    @property
    def vgg_layer(self) -> str:
        return self.manifest["vgg"]["layer"]


def vgg_layer_index(layer: str) -> tuple[int, int]:
    """``convI_J`` -> (I, J), for comparing depths."""
    try:
        i, j = (int(s) for s in layer.removeprefix("conv").split("_"))
    except ValueError:
        raise PackError(f"a VGG layer is named convI_J (e.g. conv3_3), got {layer!r}") from None
    return i, j


def _sha(b: bytes) -> str:
    return hashlib.sha256(b).hexdigest()


def _encode(arr: np.ndarray, codec: str, quality: int) -> bytes:
    from PIL import Image

    im = Image.fromarray(arr)
    buf = io.BytesIO()
    if codec == "jpeg":  # 4:4:4: chroma subsampling would blur the colour edges the model learns from
        im.save(buf, format="JPEG", quality=quality, subsampling=0)  # (optimize=True fails on noisy images)
    elif codec == "webp":
        im.save(buf, format="WEBP", quality=quality, method=6)
    else:
        im.save(buf, format="PNG", optimize=False, compress_level=9)
    return buf.getvalue()


def _decode(b: bytes) -> np.ndarray:
    from PIL import Image

    with Image.open(io.BytesIO(b)) as im:
        return np.asarray(im.convert("RGB"), dtype=np.uint8)


def _shrink(arr: np.ndarray, cap: int) -> np.ndarray:
    """Resize so the long side is at most ``cap`` (PIL bicubic, antialiased when shrinking)."""
    from PIL import Image

    h, w = arr.shape[:2]
    if max(h, w) <= cap:
        return arr
    f = cap / max(h, w)
    size = (max(1, round(w * f)), max(1, round(h * f)))
    return np.asarray(Image.fromarray(arr).resize(size, Image.Resampling.BICUBIC))


def _vgg_tensors(weights: Path, layer: str) -> dict[str, torch.Tensor]:
    from .losses import VGGFeatures, load_torchvision_features

    try:
        state = load_torchvision_features(str(weights), "vgg16")
        trunk = VGGFeatures("vgg16", layer, state)
    except ValueError as e:
        raise PackError(f"VGG16 weights {weights}: {e}") from None
    return {f"features.{k}": v.detach().to(torch.float16).contiguous() for k, v in trunk.features.state_dict().items()}


def _default_hub() -> Path:
    return Path(torch.hub.get_dir()) / "checkpoints"


def _lpips_tensors() -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor], str]:
    """LPIPS AlexNet backbone (float16) and linear heads from the local caches only, or empty with a reason."""
    from ..lpips import cached_lpips

    model = cached_lpips("alex")
    if model is None:
        return {}, {}, (f"LPIPS AlexNet weights are not cached under {torch.hub.get_dir()} "
                        "(set TORCH_HOME to a folder holding them)")
    sd = model.state_dict()
    backbone = {k.removeprefix("net."): v.to(torch.float16).contiguous() for k, v in sd.items() if k.startswith("net.")}
    heads = {k: v.float().contiguous() for k, v in sd.items() if k.startswith("lin")}
    return backbone, heads, f"AlexNet features (float16) and LPIPS v0.1 heads from the cache under {torch.hub.get_dir()}"


def build_pack(out: str | Path, data: list[str | Path], *, max_mb: float = 40.0, codec: str = "jpeg",
               quality: int = 92, vgg_weights: str | Path | None = None, vgg_layer: str = "conv3_3",
               lpips: bool = True, val_count: int = 8, val_max_side: int = 512, scale: int = 4,
               min_side: int = 96, overwrite: bool = False,
               progress: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Write a training pack to ``out`` (atomically); returns its manifest.

    ``max_mb`` (10^6 bytes) bounds the whole file. ``vgg_layer`` is the deepest VGG16
    layer any loss of the intended run uses. ``lpips`` packs the LPIPS AlexNet weights
    when they are in the local caches (they are skipped, with a note, otherwise).
    """
    say = progress or (lambda _msg: None)
    out = Path(out)
    if out.exists() and not overwrite:
        raise OutputError(f"{out} exists; pass overwrite=True (--overwrite) to replace it")
    if codec not in CODECS:
        raise PackError(f"codec must be one of {', '.join(CODECS)}, got {codec!r}")
    if not 1 <= quality <= 100:
        raise PackError(f"quality must be in 1..100, got {quality}")
    if max_mb <= 0:
        raise PackError(f"max_mb must be positive, got {max_mb}")
    vgg_layer_index(vgg_layer)  # a clear error for a malformed name
    max_bytes = int(max_mb * 1e6)
    t0 = time.time()

    paths = find_images(data)
    if len(paths) < 2:
        raise InputError(f"need at least two images below {', '.join(map(str, data))} (found {len(paths)})")
    roots = [Path(d) for d in data]

    def name_of(p: Path) -> str:  # "folder/relative/path", unique across the data folders
        for r in roots:
            if r.is_dir() and p.is_relative_to(r):
                return f"{r.name}/{p.relative_to(r).as_posix()}"
        return p.name

    # -- the validation slice: lossless centre crops of the original photos --
    from .train import held_out_split

    train_paths, held = held_out_split(paths, val_count)
    val_items = load_validation(None, scale, val_max_side, fallback=held)
    tensors: dict[str, torch.Tensor] = {}
    val_entries = []
    for k, (_stem, _lr, hr) in enumerate(val_items):
        arr = (hr[0].permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)
        b = _encode(arr, "png", 100)
        src = held[k] if len(val_items) == len(held) else None
        val_entries.append({"name": name_of(src) if src else _stem, "source": str(src or _stem),
                            "size": [int(arr.shape[1]), int(arr.shape[0])], "bytes": len(b), "sha256": _sha(b)})
        tensors[f"val/{k:05d}"] = torch.frombuffer(bytearray(b), dtype=torch.uint8)
    say(f"validation slice: {len(val_entries)} images ({sum(e['bytes'] for e in val_entries) / 1e6:.1f} MB as PNG)")

    # -- loss and metric weights --
    hub = _default_hub()
    vgg_src = Path(vgg_weights) if vgg_weights else hub / "vgg16-397923af.pth"
    if not vgg_src.is_file():
        raise PackError(f"VGG16 weights not found at {vgg_src}; pass --vgg-weights PATH (torchvision's "
                        "vgg16-397923af.pth) or set TORCH_HOME to a cache holding hub/checkpoints/vgg16-397923af.pth")
    vgg = _vgg_tensors(vgg_src, vgg_layer)
    tensors.update({f"vgg/{k}": v for k, v in vgg.items()})
    lp_note = "not packed (--no-lpips)"
    lp_bb: dict[str, torch.Tensor] = {}
    if lpips:
        lp_bb, lp_hd, lp_note = _lpips_tensors()
        tensors.update({f"lpips_alex/{k}": v for k, v in lp_bb.items()})
        tensors.update({f"lpips_alex_head/{k}": v for k, v in lp_hd.items()})
    fixed = sum(t.numel() * t.element_size() for t in tensors.values())
    budget = max_bytes - fixed - _MANIFEST_SLACK - 1024 * len(paths)
    say(f"VGG16 up to {vgg_layer} + LPIPS + validation: {fixed / 1e6:.1f} MB; {budget / 1e6:.1f} MB left for photos")
    if budget < 64 * 1024:
        raise PackError(f"only {max(0, budget) / 1e6:.1f} MB of the {max_mb:g} MB budget is left for training photos "
                        f"after VGG16 up to {vgg_layer}{', LPIPS' if lp_bb else ''} and the validation slice; raise "
                        "--max-mb, pack a shallower --vgg-layer or leave LPIPS out (--no-lpips)")

    # -- training photos: decode once, then find the long-side cap that fits the budget --
    originals: list[tuple[Path, np.ndarray]] = []
    skipped = []
    for p in train_paths:
        try:
            arr = read_rgb(p)
        except Exception as e:  # noqa: BLE001 - unreadable files are skipped and named, as in training
            skipped.append({"source": str(p), "reason": f"{type(e).__name__}: {e}"})
        else:
            if min(arr.shape[:2]) >= min_side:
                originals.append((p, arr))
                continue
            skipped.append({"source": str(p), "reason": f"too small ({arr.shape[1]}x{arr.shape[0]}, "
                                                        f"need a side >= {min_side})"})
        warnings.warn(f"skipping training image {p}: {skipped[-1]['reason']}", stacklevel=2)
    if not originals:
        raise InputError("no usable training images (all were unreadable or too small)")
    say(f"{len(originals)} training photos decoded ({len(skipped)} skipped)")

    longest = max(max(a.shape[:2]) for _, a in originals)

    def encode_all(c: int) -> tuple[dict, int]:
        sizes = {}
        for i, (_p, arr) in enumerate(originals):
            small = _shrink(arr, c)
            key = (i, small.shape[:2])
            if key not in encoded:
                encoded[key] = _encode(small, codec, quality)
            sizes[i] = (key, len(encoded[key]))
        return sizes, sum(n for _, n in sizes.values())

    def fit_cap(sizes: dict, c: int) -> int:
        # each photo's bytes scale about with its area: model the total as its bytes per pixel x its
        # area under a cap, and bisect for the cap that fits with 1.5% to spare
        bpp = [sizes[i][1] / (a.shape[0] * a.shape[1] * min(1.0, c / max(a.shape[:2])) ** 2)
               for i, (_p, a) in enumerate(originals)]
        lo, hi = 1.0, float(longest)
        for _ in range(40):
            mid = (lo + hi) / 2
            total = sum(q * a.shape[0] * a.shape[1] * min(1.0, mid / max(a.shape[:2])) ** 2
                        for q, (_p, a) in zip(bpp, originals))
            lo, hi = (mid, hi) if total <= 0.985 * budget else (lo, mid)
        return int(lo)

    encoded: dict = {}
    tries: list[dict] = []
    cap, best = longest, None  # best: (cap, sizes) of the largest cap that fits
    for _attempt in range(8):
        sizes, total = encode_all(cap)
        tries.append({"long_side_cap": cap, "bytes": total})
        say(f"long side <= {cap} px: {total / 1e6:.1f} MB")
        if total <= budget and (best is None or cap > best[0]):
            best = (cap, sizes)
        if total <= budget and (cap == longest or total >= 0.95 * budget):
            break
        nxt = fit_cap(sizes, cap)
        if total > budget:
            nxt = min(nxt, cap - 1)
        failed = [t["long_side_cap"] for t in tries if t["bytes"] > budget]
        if any(t["long_side_cap"] == nxt for t in tries) or (failed and nxt >= min(failed)):
            if best is not None:
                break
            nxt = min(nxt, min(failed) - 1)
        if nxt < min_side:
            raise PackError(f"the photos cannot fit {budget / 1e6:.1f} MB even with long sides of {min_side} px; "
                            "raise --max-mb, lower --quality or pass fewer folders")
        cap = nxt
    if best is None:
        raise PackError(f"could not fit the photos into {budget / 1e6:.1f} MB in 8 tries; lower --quality")
    cap, sizes = best
    for k in [k for k in encoded if k not in {key for key, _ in sizes.values()}]:
        del encoded[k]

    train_entries = []
    for i, (p, arr) in enumerate(originals):
        key, _n = sizes[i]
        b = encoded[key]
        h, w = key[1]
        train_entries.append({"name": name_of(p), "source": str(p), "original_size": [int(arr.shape[1]), int(arr.shape[0])],
                              "size": [int(w), int(h)], "resized": (h, w) != arr.shape[:2],
                              "bytes": len(b), "sha256": _sha(b)})
        tensors[f"train/{i:05d}"] = torch.frombuffer(bytearray(b), dtype=torch.uint8)
    del originals, encoded

    vgg_bytes = sum(t.numel() * t.element_size() for t in vgg.values())
    manifest = {
        "format": PACK_FORMAT, "version": PACK_VERSION, "superres": __version__,
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "build_seconds": None,
        "data": [str(d) for d in data], "scale": scale, "max_mb": max_mb,
        "train": {
            "images": train_entries, "skipped": skipped,
            "encoding": {
                "codec": codec, "quality": quality if codec != "png" else None,
                "chroma": "4:4:4" if codec == "jpeg" else ("4:2:0" if codec == "webp" else "lossless"),
                "long_side_cap": cap if cap < longest else None,
                "resized_images": sum(e["resized"] for e in train_entries),
                "what": (f"photos with a long side above {cap} px were resized to {cap} px (PIL bicubic, "
                         "antialiased), the rest kept their size; all re-encoded as "
                         + (f"{codec.upper()} q{quality}" if codec != "png" else "PNG"))
                if cap < longest else ("no photo resized; all re-encoded as "
                                       + (f"{codec.upper()} q{quality}" if codec != "png" else "PNG")),
                "fit_tries": tries,
            },
        },
        "val": {"images": val_entries, "rule": f"held_out_split(sorted images of --data, {val_count}): every k-th, "
                                              "excluded from training",
                "crop": f"centre crop of the original photo, at most {val_max_side} px, multiple of {scale}",
                "codec": "png"},
        "vgg": {"net": "vgg16", "layer": vgg_layer, "source": str(vgg_src), "dtype": "float16", "bytes": vgg_bytes,
                "sha256": {k: _sha(v.numpy().tobytes()) for k, v in vgg.items()}},
        "lpips": ({"net": "alex", "source": lp_note, "backbone_dtype": "float16",
                   "sha256": {k: _sha(v.numpy().tobytes()) for k, v in tensors.items() if k.startswith("lpips")}}
                  if lp_bb else {"note": lp_note}),
    }
    manifest["build_seconds"] = round(time.time() - t0, 1)
    from safetensors.torch import save_file

    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.{os.getpid()}.tmp")
    try:
        save_file(tensors, str(tmp), metadata={"format": PACK_FORMAT, "manifest": json.dumps(manifest)})
        size = tmp.stat().st_size
        mask = os.umask(0)
        os.umask(mask)
        os.chmod(tmp, 0o666 & ~mask)
        if size >= max_bytes:
            raise PackError(f"the pack came out at {size / 1e6:.2f} MB, over the {max_mb:g} MB budget; "
                            "lower --quality or --max-mb")
        os.replace(tmp, out)
    finally:
        tmp.unlink(missing_ok=True)
    manifest["file_bytes"] = size
    say(f"wrote {out}: {size / 1e6:.2f} MB ({len(train_entries)} training photos, {len(val_entries)} validation crops)")
    return manifest


def read_pack(path: str | Path, verify: bool = True) -> Pack:
    """Open a pack; ``verify`` checks every stored SHA-256 (about 0.1 s for 40 MB)."""
    from safetensors import SafetensorError, safe_open

    path = Path(path)
    if not path.is_file():
        raise InputError(f"training pack {path} not found (build one with 'superres data pack')")
    try:
        with safe_open(str(path), framework="pt") as f:
            meta = f.metadata() or {}
            if meta.get("format") != PACK_FORMAT:
                raise PackError(f"{path} is not a superres training pack (no '{PACK_FORMAT}' metadata)")
            manifest = json.loads(meta["manifest"])
            if int(manifest.get("version", 0)) > PACK_VERSION:
                raise PackError(f"{path} is a version {manifest['version']} pack; this superres reads up to "
                                f"{PACK_VERSION}: update superres")
            tensors = {k: f.get_tensor(k) for k in f.keys()}
    except (SafetensorError, json.JSONDecodeError, KeyError) as e:
        raise PackError(f"{path} cannot be read as a training pack: {e}") from None

    def blobs(prefix: str, entries: list[dict]) -> list[tuple[str, bytes]]:
        out = []
        for k, e in enumerate(entries):
            t = tensors.get(f"{prefix}/{k:05d}")
            if t is None:
                raise PackError(f"{path}: {prefix} image {k} ({e['name']}) is missing; rebuild the pack")
            b = t.numpy().tobytes()
            if verify and _sha(b) != e["sha256"]:
                raise PackError(f"{path}: {prefix} image {e['name']} is corrupt (SHA-256 mismatch); rebuild or "
                                "copy the pack again")
            out.append((e["name"], b))
        return out

    train = blobs("train", manifest["train"]["images"])
    val = blobs("val", manifest["val"]["images"])
    vgg = {k.removeprefix("vgg/"): v for k, v in tensors.items() if k.startswith("vgg/")}
    sums = {**manifest["vgg"]["sha256"], **{k: v for k, v in manifest.get("lpips", {}).get("sha256", {}).items()}}
    if verify:
        for k, t in tensors.items():
            name = k.removeprefix("vgg/") if k.startswith("vgg/") else k
            if (k.startswith("vgg/") or k.startswith("lpips")) and _sha(t.numpy().tobytes()) != sums.get(name):
                raise PackError(f"{path}: tensor {k} is corrupt (SHA-256 mismatch); rebuild or copy the pack again")
    return Pack(path, manifest, train, val, vgg,
                {k.removeprefix("lpips_alex/"): v for k, v in tensors.items() if k.startswith("lpips_alex/")},
                {k.removeprefix("lpips_alex_head/"): v for k, v in tensors.items() if k.startswith("lpips_alex_head/")})


def decode(blob: bytes) -> np.ndarray:
    """An encoded pack image as an (H, W, 3) uint8 array."""
    return _decode(blob)
