"""Training pairs: HR photos -> (LR, HR) crops, made fast on a 2-core machine.

Each HR image is decoded once, cropped to a multiple of the scale, and its LR
version is made with MATLAB-style bicubic (:func:`superres.resize.imresize`,
antialiased) over the *whole* image, exactly as benchmark LR sets are made. Both
are stored as uint8 ``.npy`` files in a cache folder and memory-mapped, so a
training step only slices arrays: no JPEG decoding, no resizing, no worker
processes. (Cropping the LR from the whole-image downscale also avoids the
border artefacts of downscaling each small crop.) For SRCNN, the bicubic
re-enlargement of the LR image (the network's input) is cached as well.

Corrupt, unreadable or too-small images are skipped with a warning naming them.
"""

from __future__ import annotations

import hashlib
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ..fileio import atomic_write
from ..io.images import IMAGE_EXTENSIONS
from ..ops import degrade, enlarge

__all__ = ["IMAGE_EXTENSIONS", "find_images", "read_rgb", "PairCache", "PairSampler", "load_validation"]



def find_images(dirs: list[str | Path]) -> list[Path]:
    """All images below ``dirs`` (recursive), sorted for reproducibility."""
    out: list[Path] = []
    for d in dirs:
        d = Path(d)
        if d.is_file():
            out.append(d)
            continue
        if not d.is_dir():
            raise FileNotFoundError(f"training data folder {d} does not exist")
        out += [p for p in d.rglob("*") if p.suffix.lower() in IMAGE_EXTENSIONS and p.is_file()]
    return sorted(set(out))


def read_rgb(path: Path) -> np.ndarray:
    from PIL import Image, ImageOps

    with Image.open(path) as im:
        im = ImageOps.exif_transpose(im)
        if im.mode in ("I;16", "I;16B", "I;16L", "I"):
            arr = np.asarray(im, dtype=np.float64)
            arr = np.round(arr / (65535.0 if arr.max() > 255 else 1.0) * 255.0).astype(np.uint8)
            return np.repeat(arr[:, :, None], 3, axis=2)
        return np.asarray(im.convert("RGB"), dtype=np.uint8)


@dataclass
class CachedImage:
    source: Path
    hr: np.ndarray  # (H, W, 3) uint8, memory-mapped
    lr: np.ndarray  # (H/s, W/s, 3) uint8
    up: np.ndarray | None  # (H, W, 3) bicubic re-enlargement (SRCNN only)


class PairCache:
    """Decoded HR/LR arrays for a list of images, built once and memory-mapped."""

    def __init__(self, paths: list[Path], scale: int, cache_dir: str | Path, min_side: int,
                 with_enlarged: bool = False, progress: bool = True) -> None:
        self.scale = scale
        self.images: list[CachedImage] = []
        self.skipped: list[tuple[Path, str]] = []
        cache_dir = Path(cache_dir)
        cache_dir.mkdir(parents=True, exist_ok=True)
        it = paths
        if progress:
            from tqdm import tqdm

            it = tqdm(paths, desc="caching training images", unit="img", leave=False)
        for p in it:
            try:
                st = p.stat()
                key = hashlib.sha1(f"{p.resolve()}|{st.st_size}|{st.st_mtime_ns}|x{scale}|v1".encode()).hexdigest()[:20]
                files = {k: cache_dir / f"{key}.{k}.npy" for k in ("hr", "lr", "up")}
                need = ["hr", "lr"] + (["up"] if with_enlarged else [])
                if not all(files[k].exists() for k in need):
                    hr = read_rgb(p)
                    h, w = (hr.shape[0] // scale) * scale, (hr.shape[1] // scale) * scale
                    if min(h, w) < max(min_side, scale * 4):
                        raise ValueError(f"too small ({hr.shape[1]}x{hr.shape[0]}, need a side >= {min_side})")
                    hr = np.ascontiguousarray(hr[:h, :w])
                    lr = degrade(hr, scale)
                    arrays = {"hr": hr, "lr": lr}
                    if with_enlarged:
                        arrays["up"] = enlarge(lr, scale)
                    for k, a in arrays.items():
                        # a uniquely named temporary (mkstemp, O_EXCL) renamed into place: ranks on
                        # several nodes may share this folder, and a reader never sees half a file
                        atomic_write(files[k], lambda f, a=a: np.save(f, a))
                hr = np.load(files["hr"], mmap_mode="r")
                if min(hr.shape[:2]) < min_side:
                    raise ValueError(f"too small ({hr.shape[1]}x{hr.shape[0]}, need a side >= {min_side})")
                self.images.append(CachedImage(
                    p, hr, np.load(files["lr"], mmap_mode="r"),
                    np.load(files["up"], mmap_mode="r") if with_enlarged else None,
                ))
            except Exception as e:  # noqa: BLE001 - any unreadable file is skipped, and named
                self.skipped.append((p, f"{type(e).__name__}: {e}"))
                warnings.warn(f"skipping training image {p}: {e}", stacklevel=2)
        if not self.images:
            raise ValueError("no usable training images (all were skipped or none were found)")


class PairSampler:
    """Random aligned (LR, HR) crops with flips / 90-degree rotations.

    ``lr_input=True`` (SRResNet/SRGAN) returns LR crops of ``hr_crop/scale``;
    ``lr_input=False`` (SRCNN) returns crops of the bicubic-enlarged image the
    same size as the HR crop, at any pixel offset.
    Images are drawn with probability proportional to their area.
    """

    def __init__(self, cache: PairCache, hr_crop: int, batch_size: int, seed: int,
                 augment: bool = True, lr_input: bool = True) -> None:
        self.cache, self.hr_crop, self.batch_size = cache, hr_crop, batch_size
        self.augment, self.lr_input, self.scale = augment, lr_input, cache.scale
        areas = np.array([im.hr.shape[0] * im.hr.shape[1] for im in cache.images], dtype=np.float64)
        self.p = areas / areas.sum()
        self.rng = np.random.default_rng(seed)

    def state(self) -> dict:
        return self.rng.bit_generator.state

    def set_state(self, state: dict) -> None:
        self.rng.bit_generator.state = state

    def _one(self) -> tuple[np.ndarray, np.ndarray]:
        im = self.cache.images[self.rng.choice(len(self.p), p=self.p)]
        s, c = self.scale, self.hr_crop
        if self.lr_input:
            lc = c // s
            y = int(self.rng.integers(0, im.lr.shape[0] - lc + 1))
            x = int(self.rng.integers(0, im.lr.shape[1] - lc + 1))
            lr = im.lr[y:y + lc, x:x + lc]
            hr = im.hr[y * s:(y + lc) * s, x * s:(x + lc) * s]
        else:
            y = int(self.rng.integers(0, im.hr.shape[0] - c + 1))
            x = int(self.rng.integers(0, im.hr.shape[1] - c + 1))
            lr = im.up[y:y + c, x:x + c]
            hr = im.hr[y:y + c, x:x + c]
        if self.augment:
            if self.rng.random() < 0.5:
                lr, hr = lr[:, ::-1], hr[:, ::-1]
            if self.rng.random() < 0.5:
                lr, hr = lr[::-1], hr[::-1]
            if self.rng.random() < 0.5:
                lr, hr = lr.transpose(1, 0, 2), hr.transpose(1, 0, 2)
        return lr, hr

    def batch(self) -> tuple[torch.Tensor, torch.Tensor]:
        """(lr, hr) float32 tensors in [0, 1], shape (N, 3, h, w)."""
        pairs = [self._one() for _ in range(self.batch_size)]
        lr = np.stack([p[0] for p in pairs])
        hr = np.stack([p[1] for p in pairs])
        to_t = lambda a: torch.from_numpy(a).permute(0, 3, 1, 2).float().div_(255.0)  # noqa: E731
        return to_t(lr), to_t(hr)


def load_validation(dirs: list[str | Path] | None, scale: int, max_side: int,
                    fallback: list[Path] | None = None) -> list[tuple[str, torch.Tensor, torch.Tensor]]:
    """Validation (name, lr, hr) tensors (1, 3, h, w) in [0, 1].

    A folder with ``HR/`` and ``LR_bicubic_x{scale}/`` subfolders (benchmark
    layout) uses the provided LR; any other folder (or ``fallback`` paths) is
    HR only and LR is made with our bicubic. Large images are centre-cropped to
    ``max_side`` so validation stays quick.
    """
    items: list[tuple[str, np.ndarray, np.ndarray | None]] = []
    for d in dirs or []:
        d = Path(d)
        hr_dir, lr_dir = d / "HR", d / f"LR_bicubic_x{scale}"
        if hr_dir.is_dir():
            for p in find_images([hr_dir]):
                lr_p = lr_dir / p.name
                items.append((f"{d.name}/{p.stem}", read_rgb(p), read_rgb(lr_p) if lr_p.exists() else None))
        else:
            items += [(p.stem, read_rgb(p), None) for p in find_images([d])]
    for p in fallback or []:
        try:
            items.append((p.stem, read_rgb(p), None))
        except Exception as e:  # noqa: BLE001 - a bad held-out file must not stop training
            warnings.warn(f"skipping validation image {p}: {e}", stacklevel=2)
    out = []
    for name, hr, lr in items:
        h, w = (hr.shape[0] // scale) * scale, (hr.shape[1] // scale) * scale
        if min(h, w) < 4 * scale:
            warnings.warn(f"skipping validation image {name}: too small ({hr.shape[1]}x{hr.shape[0]})", stacklevel=2)
            continue
        if lr is not None and (lr.shape[0] * scale, lr.shape[1] * scale) != (h, w):
            lr = None
        m = (max_side // scale) * scale
        if h > m or w > m:  # centre crop, aligned to the scale grid
            y0, x0 = ((h - min(h, m)) // 2 // scale) * scale, ((w - min(w, m)) // 2 // scale) * scale
            hr = hr[y0:y0 + min(h, m), x0:x0 + min(w, m)]
            if lr is not None:
                lr = lr[y0 // scale:(y0 + min(h, m)) // scale, x0 // scale:(x0 + min(w, m)) // scale]
            h, w = hr.shape[:2]
        hr = np.ascontiguousarray(hr[:h, :w])
        if lr is None:
            lr = degrade(hr, scale)
        to_t = lambda a: torch.from_numpy(np.array(a, copy=True)).permute(2, 0, 1)[None].float() / 255.0  # noqa: E731  (decoded arrays may be read-only)
        out.append((name, to_t(lr), to_t(hr)))
    return out
