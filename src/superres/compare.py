"""Side-by-side comparisons of upscalers: running the methods, scoring them, choosing the crop.

What is built here is a :class:`~superres.reports.comparison.Comparison`; the PNG
figure and the HTML report that show it are drawn by :mod:`superres.reports`
(:func:`render_figure`, :func:`render_html`, re-exported here).

Two modes, both built here as a library (the ``superres compare`` command and
the walkthrough notebook call the same functions):

* **HR mode** (:func:`compare_hr`): the input is a high-resolution original.
  It is shrunk 1/scale with the project's MATLAB-style bicubic, upscaled back
  by every method, and each result is scored against the original (PSNR-Y and
  SSIM-Y on the 8-bit result with ``scale`` px of border shaved, LPIPS AlexNet
  v0.1 on the same shaved RGB images; the conventions of :mod:`superres.evaluate`).
  Panels: [method ... | original].
* **LR mode** (:func:`compare_lr`): the input is already low resolution, so
  there is no reference and no reference metric. Panels: [input enlarged with
  nearest | method ...], each with a no-reference sharpness figure (mean
  gradient magnitude of luma: detail, real or invented).

Below the panels, the same crop of every panel (the most detailed region of
the image unless given) is enlarged with nearest-neighbour so single pixels
are visible. Optionally a "what the GAN added" heat map shows where the GAN
output departs from the PSNR-oriented output (SRGAN vs SRResNet by default).

Models whose weights are not installed are skipped with a note; asking only
for missing models is an error (:class:`~superres.errors.ModelError`).
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
from PIL import Image, ImageFilter

from .errors import InputError, ModelError, UsageError
from .ops import degrade, enlarge_nearest
from .reports.comparison import Comparison, Panel, method_label
from .reports.figure import render_figure
from .reports.html import render_html

__all__ = [
    "Panel", "Comparison", "DEFAULT_HR_MODELS", "DEFAULT_LR_MODELS", "DEFAULT_DIFF",
    "select_models", "compare_hr", "compare_lr", "auto_crop", "sharpness", "diff_heatmap",
    "render_figure", "render_html", "load_rgb", "method_label",
]

DEFAULT_PRECISION = "fp32"  # a comparison measures: the numbers must not depend on the CPU

#: methods shown by default, in panel order
DEFAULT_HR_MODELS = ("bicubic", "srcnn-x4", "srresnet-x4", "srgan-x4")
DEFAULT_LR_MODELS = ("bicubic", "srgan-x4", "srresnet-x4", "srcnn-x4")
#: (GAN output, PSNR-oriented output) compared by the "what the GAN added" panel
DEFAULT_DIFF = ("srgan-x4", "srresnet-x4")

#: luma difference shown at full heat in the diff panel (levels of 255)
DIFF_FULL_SCALE = 48

# ---------------------------------------------------------------------------------------------
# models and metrics
# ---------------------------------------------------------------------------------------------

def select_models(names: Sequence[str]) -> tuple[list[str], list[str]]:
    """Split requested models into usable ones and one-line notes about skipped ones.

    Registry models whose weights are not installed are skipped with a note;
    unknown names and missing weight files are errors, and so is a request
    in which every model is missing (:class:`ModelError`).
    """
    from .registry import get_entry, looks_like_weights_path, resolve

    usable: list[str] = []
    notes: list[str] = []
    missing: list[str] = []
    for name in names:
        name = str(name).strip()
        if not name or name in usable:
            continue
        entry = resolve(name)
        if entry is not None:
            if not entry.available():
                missing.append(name)
                notes.append(f"{name} skipped: weights not installed ({entry.weights.path})")
                continue
        else:
            p = Path(name).expanduser()
            if not looks_like_weights_path(name):
                from .catalogue import find

                if find(name) is not None:  # a third-party model, fetched on first use
                    usable.append(name)
                    continue
                get_entry(name)  # raises with suggestions
            if not p.is_file():
                raise ModelError(f"weights file {p} not found")
        usable.append(name)
    if not usable:
        raise ModelError(
            f"none of the requested models is installed ({', '.join(missing) or 'none given'}); "
            "reinstall superres or try --models bicubic, "
            "or see 'superres models'"
        )
    return usable, notes


def _upscale(name: str, lr: np.ndarray, kwargs: dict, scale: int | None = None) -> tuple[np.ndarray, float]:
    from .api import make_upscaler

    up = make_upscaler(name, **kwargs)
    if scale is not None and up.scale != scale:
        raise ModelError(f"{name} upscales x{up.scale}, the other models x{scale}: "
                         "models of different scales cannot share a figure")
    t0 = time.perf_counter()
    out = up.upscale_array(lr)
    return out, time.perf_counter() - t0


def _model_scale(name: str, device: str) -> int:
    from .api import cached_model  # the cached model, not a new upscaler

    return int(cached_model(name, device).info.scale)


def sharpness(img: np.ndarray) -> float:
    """No-reference sharpness: mean gradient magnitude of BT.601 luma (levels per pixel).

    Higher means more high-frequency content: real detail, noise, ringing or
    invented texture alike, so compare it between methods, not as a quality score.
    """
    from .metrics import rgb_to_y, to_uint8_array

    y = rgb_to_y(to_uint8_array(img))
    if min(y.shape) < 2:
        return 0.0
    gx = y[:-1, 1:] - y[:-1, :-1]
    gy = y[1:, :-1] - y[:-1, :-1]
    return float(np.mean(np.sqrt(gx * gx + gy * gy)))


class _Scorer:
    """PSNR/SSIM/LPIPS of panels against a reference, with notes instead of crashes."""

    def __init__(self, ref: np.ndarray, shave: int, use_lpips: bool) -> None:
        self.ref = ref
        self.shave = shave
        self.use_lpips = use_lpips
        self.lpips_note = "" if use_lpips else "LPIPS not computed (turned off)"
        self.notes: list[str] = []

    def score(self, p: Panel) -> None:
        from . import lpips as lpips_mod
        from .lpips import LPIPSUnavailable
        from .metrics import score

        use = self.use_lpips and not self.lpips_note
        try:
            # looked up on the module at call time, so it can be replaced (tests, other backbones)
            sc = score(p.image, self.ref, self.shave, lpips=lpips_mod.lpips_distance if use else None)
        except LPIPSUnavailable as e:
            self.lpips_note = str(e)
            sc = score(p.image, self.ref, self.shave)
        p.psnr, p.ssim = sc.psnr, sc.ssim
        why = sc.errors.get("psnr") or sc.errors.get("ssim")
        if why:
            self._note(f"PSNR/SSIM not computed: {why}")
        if "lpips" in sc.errors:
            self.lpips_note = f"LPIPS not computed: {sc.errors['lpips']}"
        p.lpips = sc.lpips

    def _note(self, text: str) -> None:
        if text not in self.notes:
            self.notes.append(text)


# ---------------------------------------------------------------------------------------------
# crop and diff
# ---------------------------------------------------------------------------------------------

def default_crop_size(out_w: int, out_h: int, scale: int) -> int:
    """Side of the zoomed crop in output pixels: a quarter of the short side, 16..192, multiple of scale."""
    side = max(16, min(192, min(out_w, out_h) // 4))
    side = max(scale, side - side % scale)
    return min(side, out_w, out_h)


def auto_crop(lr: np.ndarray, scale: int, size: int | tuple[int, int] | None = None) -> tuple[int, int, int, int]:
    """The most detailed region for the zoomed crops, as (x, y, w, h) in output pixels.

    Chosen on the LR image (what every method starts from): the window with the
    largest sum of luma gradient magnitude, a little away from the border.
    """
    from .metrics import rgb_to_y, to_uint8_array

    h, w = lr.shape[:2]
    out_w, out_h = w * scale, h * scale
    if size is None:
        cw = ch = default_crop_size(out_w, out_h, scale)
    elif isinstance(size, int):
        cw = ch = size
    else:
        cw, ch = size
    cw, ch = min(cw, out_w), min(ch, out_h)
    lw, lh = max(1, math.ceil(cw / scale)), max(1, math.ceil(ch / scale))
    y = rgb_to_y(to_uint8_array(lr))
    g = np.zeros_like(y)
    if h > 1 and w > 1:
        g[:-1, :-1] = np.abs(y[:-1, 1:] - y[:-1, :-1]) + np.abs(y[1:, :-1] - y[:-1, :-1])
    # summed-area table: the sum over every lh x lw window
    sat = np.pad(g.cumsum(0).cumsum(1), ((1, 0), (1, 0)))
    sums = sat[lh:, lw:] - sat[:-lh, lw:] - sat[lh:, :-lw] + sat[:-lh, :-lw]
    # keep away from the border where the methods' padding differs (when there is room)
    m = 2
    if sums.shape[0] > 2 * m and sums.shape[1] > 2 * m:
        inner = np.full_like(sums, -1.0)
        inner[m:-m, m:-m] = sums[m:-m, m:-m]
        sums = inner
    iy, ix = np.unravel_index(int(np.argmax(sums)), sums.shape)
    x0 = min(int(ix) * scale, out_w - cw)
    y0 = min(int(iy) * scale, out_h - ch)
    return x0, y0, cw, ch


def _check_crop(crop: Sequence[int], out_w: int, out_h: int) -> tuple[int, int, int, int]:
    x, y, w, h = (int(v) for v in crop)
    if w <= 0 or h <= 0:
        raise UsageError(f"crop {x},{y},{w},{h}: width and height must be positive")
    if x < 0 or y < 0 or x + w > out_w or y + h > out_h:
        raise UsageError(f"crop {x},{y},{w},{h} lies outside the {out_w}x{out_h} output "
                         "(give x,y,w,h in output pixels)")
    return x, y, w, h


# perceptually ordered dark -> bright colour map (after matplotlib's 'inferno')
_CMAP = np.array([(0, 0, 4), (40, 11, 84), (101, 21, 110), (159, 42, 99), (212, 72, 66),
                  (245, 125, 21), (250, 193, 39), (252, 255, 164)], dtype=np.float64)


def _colormap(v: np.ndarray) -> np.ndarray:
    """(H, W) in [0, 1] -> (H, W, 3) float RGB in 0..255."""
    xs = np.linspace(0, 1, len(_CMAP))
    return np.stack([np.interp(v, xs, _CMAP[:, c]) for c in range(3)], axis=-1)


def diff_heatmap(gan: np.ndarray, ref: np.ndarray, full_scale: float = DIFF_FULL_SCALE) -> tuple[np.ndarray, dict]:
    """Heat map of where ``gan`` departs from ``ref`` (both (H, W, 3) uint8).

    The absolute luma difference, lightly blurred (so texture reads as regions,
    not speckle), is coloured from dark (same) to bright yellow (``full_scale``
    levels or more) over a dimmed grey copy of ``ref`` so the scene stays
    recognisable. Returns the RGB uint8 image and statistics (mean, p99, share
    of pixels over 10 levels).
    """
    from .metrics import rgb_to_y, to_uint8_array

    ya = rgb_to_y(to_uint8_array(gan))
    yb = rgb_to_y(to_uint8_array(ref))
    d = np.abs(ya - yb)
    stats = {"mean": float(d.mean()), "p99": float(np.percentile(d, 99)),
             "over10": float((d > 10).mean())}
    blurred = np.asarray(Image.fromarray(np.clip(d, 0, 255).astype(np.uint8)).filter(ImageFilter.GaussianBlur(1.2)),
                         dtype=np.float64)
    v = np.clip(np.maximum(blurred, d * 0.5) / full_scale, 0, 1)
    heat = _colormap(v)
    grey = (yb - 16) / 219 * 255 * 0.45
    alpha = np.sqrt(v)[:, :, None]
    out = heat * alpha + grey[:, :, None] * (1 - alpha)
    return np.clip(np.round(out), 0, 255).astype(np.uint8), stats


# ---------------------------------------------------------------------------------------------
# building comparisons
# ---------------------------------------------------------------------------------------------

def load_rgb(path: str | os.PathLike, max_pixels: int | None = None) -> tuple[np.ndarray, list[str]]:
    """An image file as (H, W, 3) uint8 RGB, with notes on what was dropped (alpha, 16 bits)."""
    from .io.images import DEFAULT_MAX_PIXELS, read_image, to_pil

    pic = read_image(Path(path), max_pixels=DEFAULT_MAX_PIXELS if max_pixels is None else max_pixels)
    notes = []
    if pic.alpha is not None:
        notes.append("transparency ignored (compared on the colour channels)")
    if pic.bits == 16:
        notes.append("16-bit input compared at 8 bits")
    im = to_pil(pic.with_pixels(pic.color, None)).convert("RGB")
    return np.asarray(im), notes


def _as_rgb8(img) -> np.ndarray:
    if isinstance(img, Image.Image):
        return np.asarray(img.convert("RGB"))
    arr = np.asarray(img)
    if arr.ndim == 2:
        arr = arr[:, :, None]
    if arr.ndim != 3 or arr.shape[2] not in (1, 3, 4):
        raise InputError(f"expected an (H, W, 3) RGB image, got shape {arr.shape}")
    if arr.dtype != np.uint8:
        if np.issubdtype(arr.dtype, np.floating):
            arr = np.round(np.clip(arr, 0, 1) * 255)
        elif arr.dtype == np.uint16:
            arr = np.round(arr / 257.0)
        arr = arr.astype(np.uint8)
    if arr.shape[2] == 1:
        arr = np.repeat(arr, 3, axis=2)
    return np.ascontiguousarray(arr[:, :, :3])


def _run_methods(lr: np.ndarray, names: Sequence[str], kwargs: dict, scale: int,
                 progress) -> dict[str, tuple[np.ndarray, float]]:
    outs = {}
    for i, name in enumerate(names):
        if progress:
            progress(i, len(names), name)
        outs[name] = _upscale(name, lr, kwargs, scale)
    if progress:
        progress(len(names), len(names), "")
    return outs


def _diff_panel(outs: dict, diff: tuple[str, str] | None, lr: np.ndarray, kwargs: dict, scale: int,
                notes: list[str]) -> Panel | None:
    if not diff:
        return None
    gan, ref = diff
    try:
        usable, _ = select_models([gan, ref])
    except ModelError:
        usable = []
    lacking = [n for n in (gan, ref) if n not in usable]
    if lacking:
        notes.append(f"'what the GAN added' panel skipped: it needs {gan} and {ref}; "
                     f"{' and '.join(lacking)} {'is' if len(lacking) == 1 else 'are'} not installed")
        return None
    for n in (gan, ref):
        if n not in outs:
            outs[n] = _upscale(n, lr, kwargs, scale)
    heat, st = diff_heatmap(outs[gan][0], outs[ref][0])
    return Panel(
        "diff", f"What the GAN added: {method_label(gan)} vs {method_label(ref)}", heat, kind="diff",
        caption=(f"|luma difference|, bright = {DIFF_FULL_SCALE}+ levels; mean {st['mean']:.1f}, "
                 f"{st['over10'] * 100:.0f}% of pixels differ by >10"),
    )


def compare_hr(hr, models: Sequence[str] = DEFAULT_HR_MODELS, *, name: str = "image",
               crop: Sequence[int] | None = None, diff: tuple[str, str] | None = None,
               lpips: bool = True, device: str = "auto", tile: int | None = None,
               precision: str = DEFAULT_PRECISION, skip_missing: bool = True,
               progress: Callable[[int, int, str], None] | None = None) -> Comparison:
    """Shrink a high-resolution image 1/scale (bicubic), upscale it back with each model, score against it.

    ``hr`` is an (H, W, 3) uint8 array, a PIL image or a path. ``models`` are
    registry names or weight paths (missing weights are skipped with a note
    when ``skip_missing``). ``crop`` is (x, y, w, h) in pixels of the original;
    None picks the most detailed region. ``diff`` = (GAN model, PSNR model) adds
    the "what the GAN added" heat map (e.g. :data:`DEFAULT_DIFF`).
    """
    notes: list[str] = []
    if isinstance(hr, (str, os.PathLike)):
        name = Path(hr).name if name == "image" else name
        hr, read_notes = load_rgb(hr)
        notes += read_notes
    hr = _as_rgb8(hr)
    names, skipped = select_models(models) if skip_missing else (list(models), [])
    notes = skipped + notes
    kwargs = dict(device=device, tile=tile, precision=precision)
    s = _model_scale(names[0], device)
    h, w = hr.shape[:2]
    hc, wc = h - h % s, w - w % s
    if hc < 2 * s or wc < 2 * s:
        raise InputError(f"{w}x{h} is too small to shrink 1/{s} (need at least {2 * s}x{2 * s}); "
                         "for a low-resolution input use LR mode (--lr)")
    if (hc, wc) != (h, w):
        notes.append(f"original cropped from {w}x{h} to {wc}x{hc} (a multiple of {s})")
        hr = np.ascontiguousarray(hr[:hc, :wc])
    lr = degrade(hr, s)  # the LR image of a benchmark pair, as superres eval makes it
    outs = _run_methods(lr, names, kwargs, s, progress)
    scorer = _Scorer(hr, s, lpips)
    panels = []
    for n in names:
        out, secs = outs[n]
        p = Panel(n, method_label(n), out, seconds=secs, sharpness=sharpness(out))
        scorer.score(p)
        panels.append(p)
    panels.append(Panel("original", "Original", hr, kind="original", sharpness=sharpness(hr),
                        caption=f"reference, {wc}x{hc}"))
    dpanel = _diff_panel(outs, diff, lr, kwargs, s, notes)
    box = _check_crop(crop, wc, hc) if crop is not None else auto_crop(lr, s)
    notes += scorer.notes
    return Comparison("hr", name, s, (wc // s, hc // s), (wc, hc), panels, box, crop is None, dpanel, notes,
                      scorer.lpips_note)


def compare_lr(lr, models: Sequence[str] = DEFAULT_LR_MODELS, *, name: str = "image",
               crop: Sequence[int] | None = None, diff: tuple[str, str] | None = None,
               device: str = "auto", tile: int | None = None, precision: str = DEFAULT_PRECISION,
               skip_missing: bool = True,
               progress: Callable[[int, int, str], None] | None = None) -> Comparison:
    """Upscale an already low-resolution image with each model; no reference, so no reference metrics.

    The first panel is the input enlarged with nearest-neighbour to the output
    size; every panel carries a no-reference :func:`sharpness` figure. ``crop``
    is (x, y, w, h) in output pixels.
    """
    notes: list[str] = []
    if isinstance(lr, (str, os.PathLike)):
        name = Path(lr).name if name == "image" else name
        lr, read_notes = load_rgb(lr)
        notes += read_notes
    lr = _as_rgb8(lr)
    if min(lr.shape[:2]) < 2:
        raise InputError(f"{lr.shape[1]}x{lr.shape[0]} is too small to upscale (need at least 2x2)")
    names, skipped = select_models(models) if skip_missing else (list(models), [])
    notes = skipped + notes
    kwargs = dict(device=device, tile=tile, precision=precision)
    s = _model_scale(names[0], device)
    h, w = lr.shape[:2]
    outs = _run_methods(lr, names, kwargs, s, progress)
    big = enlarge_nearest(lr, s)
    panels = [Panel("input", "Input", big, kind="input", sharpness=sharpness(big),
                    caption=f"{w}x{h}, shown at x{s} with nearest")]
    for n in names:
        out, secs = outs[n]
        panels.append(Panel(n, method_label(n), out, seconds=secs, sharpness=sharpness(out)))
    notes.append("No reference: this input has no high-resolution original, so PSNR, SSIM and LPIPS "
                 "cannot be computed. Sharpness is the mean luma gradient (higher = more fine detail, "
                 "real or invented).")
    dpanel = _diff_panel(outs, diff, lr, kwargs, s, notes)
    box = _check_crop(crop, w * s, h * s) if crop is not None else auto_crop(lr, s)
    return Comparison("lr", name, s, (w, h), (w * s, h * s), panels, box, crop is None, dpanel, notes,
                      "no reference image")


