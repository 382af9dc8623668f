"""Evaluate models on benchmark folders: PSNR-Y, SSIM-Y, LPIPS and speed.

A benchmark folder holds ``HR/`` and optionally ``LR_bicubic_x{scale}/`` with
the same file names (the Set5/Set14/DIV2K layout); when the LR folder is absent
the LR images are made with our MATLAB-style bicubic. A plain folder of images
is treated as HR only. Images are processed one at a time, so folders of any
size fit in memory.

Conventions (those of the SR literature): the SR output is rounded to 8 bits,
``scale`` pixels of border are shaved, PSNR/SSIM are on the BT.601 Y channel;
LPIPS (AlexNet, v0.1) is computed on the same shaved RGB images. When LPIPS
weights cannot be obtained, LPIPS is reported as unavailable with the reason,
never as a number.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .io.images import IMAGE_EXTENSIONS
from .metrics import score
from .ops import degrade

__all__ = ["BenchImage", "iter_benchmark", "evaluate_model", "EvalResult"]



@dataclass
class BenchImage:
    name: str
    hr: np.ndarray  # (H, W, 3) uint8, cropped to a multiple of scale
    lr: np.ndarray  # (H/s, W/s, 3) uint8
    lr_source: str  # "provided" or "bicubic (superres)"


def _rgb(path: Path) -> np.ndarray:
    from PIL import Image

    with Image.open(path) as im:
        return np.asarray(im.convert("RGB"))


def benchmark_files(folder: str | Path) -> list[Path]:
    folder = Path(folder)
    hr_dir = folder / "HR" if (folder / "HR").is_dir() else folder
    if not hr_dir.is_dir():
        from .errors import InputError

        raise InputError(f"benchmark folder {folder} does not exist")
    files = sorted(p for p in hr_dir.iterdir() if p.suffix.lower() in IMAGE_EXTENSIONS and p.is_file())
    if not files:
        from .errors import InputError

        raise InputError(f"{hr_dir} holds no images (expected HR/ with PNG files, or a folder of images)")
    return files


def iter_benchmark(folder: str | Path, scale: int = 4) -> Iterator[BenchImage]:
    """Yield (HR, LR) pairs of a benchmark folder, one at a time."""
    folder = Path(folder)
    lr_dir = folder / f"LR_bicubic_x{scale}"
    for hr_path in benchmark_files(folder):
        hr = _rgb(hr_path)
        h, w = (hr.shape[0] // scale) * scale, (hr.shape[1] // scale) * scale
        hr = np.ascontiguousarray(hr[:h, :w])
        lr_path = lr_dir / hr_path.name
        if not lr_path.exists():
            alt = list(lr_dir.glob(f"{hr_path.stem}*")) if lr_dir.is_dir() else []
            lr_path = alt[0] if alt else lr_path
        lr = _rgb(lr_path) if lr_path.exists() else None
        if lr is not None and lr.shape[:2] == (h // scale, w // scale):
            yield BenchImage(hr_path.stem, hr, lr, "provided")
        else:
            yield BenchImage(hr_path.stem, hr, degrade(hr, scale), "bicubic (superres)")


@dataclass
class EvalResult:
    model: str
    dataset: str
    rows: list[dict] = field(default_factory=list)
    lpips_note: str = ""
    notes: list[str] = field(default_factory=list)  # per-image problems (too small for a metric...)
    scale: int = 4  # the model's scale: also the pixels of border shaved before PSNR/SSIM/LPIPS

    def mean(self, key: str) -> float | None:
        vals = [r[key] for r in self.rows if r.get(key) is not None]
        return float(np.mean(vals)) if vals else None

    def summary(self) -> dict:
        secs = sum(r["seconds"] for r in self.rows)
        mp = sum(r["out_mp"] for r in self.rows)
        return {"model": self.model, "dataset": self.dataset, "images": len(self.rows),
                "psnr": self.mean("psnr"), "ssim": self.mean("ssim"), "lpips": self.mean("lpips"),
                "lpips_note": self.lpips_note, "seconds": secs,
                "seconds_per_image": secs / len(self.rows) if self.rows else None,
                "mp_per_s": mp / secs if secs else None}


def evaluate_model(model, folder: str | Path, *, model_name: str = "", scale: int | None = None,
                   lpips=True, device: str = "auto", tile: int | None = None, precision: str = "fp32",
                   y_channel: bool = True, warmup: bool = True,
                   progress: Callable[[int, int], None] | None = None) -> EvalResult:
    """Evaluate ``model`` (module, registry name or path) on one benchmark folder.

    ``lpips``: True (build the AlexNet LPIPS model), False (skip), or a ready
    :class:`superres.lpips.LPIPS` instance to share between calls. When the
    weights are missing, rows hold ``lpips=None`` and ``lpips_note`` says why.
    ``y_channel=False`` gives the RGB variants of PSNR/SSIM. ``warmup`` runs the
    model once on a small input first so the first image's time is not inflated.
    Images too small for SSIM (11 px after shaving) or LPIPS (31 px) get None for
    that metric and a note, instead of stopping the evaluation.
    """
    from .api import make_upscaler

    up = make_upscaler(model, device=device, tile=tile, precision=precision)
    s = scale or up.scale
    name = model_name or up.name
    result = EvalResult(name, Path(folder).name, scale=s)
    lp = None
    if lpips is not None and not isinstance(lpips, bool):
        lp = lpips
    elif lpips:
        from .lpips import LPIPS, LPIPSUnavailable

        try:
            lp = LPIPS(net="alex")
        except LPIPSUnavailable as e:  # reported as unavailable, never silently zero
            result.lpips_note = f"LPIPS unavailable: {e}"
    files = benchmark_files(folder)
    notes: list[str] = []
    for i, item in enumerate(iter_benchmark(folder, s)):
        if warmup and i == 0:
            up.upscale_array(np.ascontiguousarray(item.lr[:16, :16]))
        t0 = time.perf_counter()
        sr = up.upscale_array(item.lr)
        secs = time.perf_counter() - t0
        sc = score(sr, item.hr, s, lpips=lp, y_channel=y_channel)
        row = {"image": item.name, "psnr": sc.psnr, "ssim": sc.ssim, "lpips": sc.lpips, "seconds": secs,
               "out_mp": sr.shape[0] * sr.shape[1] / 1e6, "lr_source": item.lr_source}
        for key, why in sc.errors.items():
            notes.append(f"{item.name}: {key.upper()} not computed ({why})")
        result.rows.append(row)
        if progress:
            progress(i + 1, len(files))
    result.notes = notes
    return result
