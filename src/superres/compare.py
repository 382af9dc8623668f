"""Side-by-side comparisons of upscalers: one PNG figure and a self-contained HTML report.

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

Figures are drawn with Pillow (no matplotlib): titles are wrapped to their
column, so they never overlap, and panels are shown at a display size that
keeps small inputs legible (integer nearest enlargement) and large inputs on
one screen (Lanczos reduction; the crops stay at full resolution).

Models whose weights are not installed are skipped with a note; asking only
for missing models is an error (:class:`~superres.errors.ModelError`).
"""

from __future__ import annotations

import base64
import html
import io
import math
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageFont

from .errors import InputError, ModelError, UsageError

__all__ = [
    "Panel", "Comparison", "DEFAULT_HR_MODELS", "DEFAULT_LR_MODELS", "DEFAULT_DIFF",
    "select_models", "compare_hr", "compare_lr", "auto_crop", "sharpness", "diff_heatmap",
    "render_figure", "render_html", "load_rgb", "method_label",
]

#: methods shown by default, in panel order
DEFAULT_HR_MODELS = ("bicubic", "srcnn-x4", "srresnet-x4", "srgan-x4")
DEFAULT_LR_MODELS = ("bicubic", "srgan-x4", "srresnet-x4", "srcnn-x4")
#: (GAN output, PSNR-oriented output) compared by the "what the GAN added" panel
DEFAULT_DIFF = ("srgan-x4", "srresnet-x4")

#: luma difference shown at full heat in the diff panel (levels of 255)
DIFF_FULL_SCALE = 48

_LABELS = {
    "bicubic": "Bicubic", "nearest": "Nearest", "bilinear": "Bilinear", "lanczos": "Lanczos",
    "srcnn-x4": "SRCNN", "srresnet-x4": "SRResNet", "srgan-x4": "SRGAN",
}

_BG = (255, 255, 255)
_INK = (20, 20, 20)
_GREY = (100, 100, 100)
_NOTE = (150, 60, 0)
_MARK = (255, 214, 0)


def method_label(name: str) -> str:
    """Display name of a model name or weights path (``srgan-x4`` -> ``SRGAN``)."""
    if name in _LABELS:
        return _LABELS[name]
    p = Path(name)
    return p.stem if p.suffix else name


# ---------------------------------------------------------------------------------------------
# data
# ---------------------------------------------------------------------------------------------

@dataclass
class Panel:
    """One image of a comparison and what is known about it.

    ``image`` is (H, W, 3) uint8 at the output size. Metrics are None when they
    do not apply (LR mode, the original itself) or could not be computed.
    """

    key: str  # model name/path, or "original", "input", "diff"
    label: str
    image: np.ndarray
    kind: str = "model"  # "model", "original", "input", "diff"
    psnr: float | None = None
    ssim: float | None = None
    lpips: float | None = None
    seconds: float | None = None
    sharpness: float | None = None
    caption: str = ""  # extra line under the title


@dataclass
class Comparison:
    """Everything a figure or report shows; built by :func:`compare_hr` / :func:`compare_lr`."""

    mode: str  # "hr" or "lr"
    name: str  # what was compared (file name)
    scale: int
    lr_size: tuple[int, int]  # (width, height)
    out_size: tuple[int, int]
    panels: list[Panel]
    crop: tuple[int, int, int, int]  # x, y, w, h in output pixels
    crop_auto: bool = True
    diff: Panel | None = None
    notes: list[str] = field(default_factory=list)
    lpips_note: str = ""  # why LPIPS is missing, if it is

    def panel(self, key: str) -> Panel | None:
        for p in self.panels:
            if p.key == key:
                return p
        return None

    @property
    def methods(self) -> list[Panel]:
        return [p for p in self.panels if p.kind == "model"]

    def slider_pair(self) -> tuple[Panel, Panel] | None:
        """(left, right) panels of the before/after slider: bicubic vs SRGAN when present.

        Falls back to the nearest-enlarged input (LR mode) or the first method for
        the left side, and to the last learned method (or the original) for the right.
        """
        methods = self.methods
        left = self.panel("bicubic") or self.panel("input") or (methods[0] if methods else None)
        right = self.panel("srgan-x4")
        if right is None:
            others = [p for p in methods if p is not left and p.key not in _INTERPOLATIONS]
            right = others[-1] if others else (self.panel("original") or next(
                (p for p in methods if p is not left), None))
        if left is None or right is None or left is right:
            return None
        return left, right


_INTERPOLATIONS = ("bicubic", "nearest", "bilinear", "lanczos")


# ---------------------------------------------------------------------------------------------
# models and metrics
# ---------------------------------------------------------------------------------------------

def select_models(names: Sequence[str]) -> tuple[list[str], list[str]]:
    """Split requested models into usable ones and one-line notes about skipped ones.

    Registry models whose weights are not installed are skipped with a note;
    unknown names and missing weight files are errors, and so is a request
    in which every model is missing (:class:`ModelError`).
    """
    from .registry import _REGISTRY, get_entry

    usable: list[str] = []
    notes: list[str] = []
    missing: list[str] = []
    for name in names:
        name = str(name).strip()
        if not name or name in usable:
            continue
        if name in _REGISTRY:
            entry = get_entry(name)
            if not entry.available():
                missing.append(name)
                notes.append(f"{name} skipped: weights not installed ({entry.weights.path})")
                continue
        else:
            p = Path(name).expanduser()
            looks_like_path = p.suffix in (".safetensors", ".pth", ".pt", ".h5", ".ckpt") or os.sep in name
            if not looks_like_path and not p.exists():
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
            "their weights ship with superres releases once trained. Try --models bicubic, "
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
    from .api import _model  # the cached model, not a new upscaler

    return int(_model(name, device).info.scale)


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
        from .metrics import psnr, ssim

        s = self.shave
        try:
            p.psnr = psnr(p.image, self.ref, shave=s)
            p.ssim = ssim(p.image, self.ref, shave=s)
        except ValueError as e:
            self._note(f"PSNR/SSIM not computed: {e}")
        if not self.use_lpips or self.lpips_note:
            return
        from .lpips import LPIPSUnavailable, lpips_distance

        a = self.ref[s:-s, s:-s] if s else self.ref
        b = p.image[s:-s, s:-s] if s else p.image
        try:
            p.lpips = lpips_distance(np.ascontiguousarray(b), np.ascontiguousarray(a))
        except LPIPSUnavailable as e:
            self.lpips_note = str(e)
        except InputError as e:
            self.lpips_note = f"LPIPS not computed: {e}"

    def _note(self, text: str) -> None:
        if text not in self.notes:
            self.notes.append(text)


def _short_lpips_note(note: str) -> str:
    """The reason part of an LPIPS message, without its long 'Fix:' hint."""
    head = note.split(" Fix:")[0]
    return head if len(head) <= 300 else head[:297] + "..."


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
               precision: str = "fp32", skip_missing: bool = True,
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
    from .api import resize_array

    lr = resize_array(hr, (wc // s, hc // s), "bicubic")
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
               device: str = "auto", tile: int | None = None, precision: str = "fp32",
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
    big = np.repeat(np.repeat(lr, s, axis=0), s, axis=1)
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


# ---------------------------------------------------------------------------------------------
# figure
# ---------------------------------------------------------------------------------------------

@lru_cache(maxsize=16)
def _font(size: int):
    try:
        return ImageFont.load_default(size=size)  # scalable (Pillow >= 10.1 with FreeType)
    except (TypeError, OSError, ImportError, AttributeError):  # pragma: no cover - old or FreeType-less Pillow
        return ImageFont.load_default()


_NBSP = "\u00a0"  # keeps a metric's name and value on one line; drawn as a space


def _text_w(text: str, font) -> int:
    if not text:
        return 0
    x0, _, x1, _ = font.getbbox(text.replace(_NBSP, " "))
    return int(math.ceil(x1 - min(0, x0)))


def _line_h(font) -> int:
    x0, y0, x1, y1 = font.getbbox("Ag|y")
    return int(math.ceil(y1 - min(0, y0))) + max(3, int(getattr(font, "size", 12) * 0.3))


def wrap_text(text: str, font, width: int) -> list[str]:
    """Lines of ``text`` no wider than ``width`` pixels (long words are broken).

    Breaks only at plain spaces: join words with a no-break space to keep them together.
    """
    lines: list[str] = []
    width = max(8, int(width))
    for para in text.split("\n"):
        cur = ""
        for word in para.split(" "):
            if not word and not cur:
                continue
            cand = f"{cur} {word}" if cur else word
            if _text_w(cand, font) <= width:
                cur = cand
                continue
            if cur:
                lines.append(cur)
            while _text_w(word, font) > width and len(word) > 1:
                k = len(word) - 1
                while k > 1 and _text_w(word[:k], font) > width:
                    k -= 1
                lines.append(word[:k])
                word = word[k:]
            cur = word
        lines.append(cur)
    return lines


@dataclass
class _Block:
    """Wrapped lines with their fonts and colours; knows its height."""

    lines: list[tuple[str, object, tuple[int, int, int]]] = field(default_factory=list)

    def add(self, text: str, size: int, colour, width: int) -> "_Block":
        f = _font(size)
        for ln in wrap_text(text, f, width):
            self.lines.append((ln, f, colour))
        return self

    @property
    def height(self) -> int:
        return sum(_line_h(f) for _, f, _ in self.lines)

    def draw(self, d: ImageDraw.ImageDraw, x: int, y: int, boxes: list | None = None) -> int:
        for text, f, colour in self.lines:
            shown = text.replace(_NBSP, " ")
            tx = x - min(0, int(math.floor(f.getbbox(shown)[0]))) if shown else x  # glyphs overhanging left
            d.text((tx, y), shown, font=f, fill=colour)
            if boxes is not None and shown:
                boxes.append(d.textbbox((tx, y), shown, font=f))
            y += _line_h(f)
        return y


def _fmt(v: float | None, spec: str, unit: str = "") -> str:
    if v is None:
        return "n/a"
    if math.isinf(v):
        return "inf" + unit
    return format(v, spec) + unit


def panel_metric_text(comp: Comparison, p: Panel) -> str:
    """The metric line shown under a panel's title."""
    if p.kind == "diff" or p.kind == "original":
        return p.caption
    nb = _NBSP
    if comp.mode == "lr":
        s = f"sharpness{nb}{_fmt(p.sharpness, '.1f')}"
        return f"{p.caption}; {s}" if p.caption else s
    parts = [f"PSNR{nb}{_fmt(p.psnr, '.2f', nb + 'dB')}", f"SSIM{nb}{_fmt(p.ssim, '.3f')}",
             f"LPIPS{nb}{_fmt(p.lpips, '.3f')}"]
    return "  ".join(parts)


def _fit(img: Image.Image, w: int, h: int) -> Image.Image:
    if (w, h) == img.size:
        return img
    if w >= img.width and h >= img.height:
        return img.resize((w, h), Image.NEAREST)
    return img.resize((w, h), Image.LANCZOS)


def _display_factor(w: int, h: int, box_w: int, box_h: int) -> float:
    f = min(box_w / w, box_h / h)
    return float(math.floor(f)) if f >= 1 else f


def render_figure(comp: Comparison, *, title: str | None = None, max_width: int = 2600,
                  panel_width: int = 480, min_column: int = 240) -> Image.Image:
    """The comparison as one RGB figure: titled panels, then the zoomed crops, then notes.

    Panels share one display size: small outputs are enlarged by a whole number
    with nearest (pixels stay square), large ones reduced with Lanczos to fit
    ``panel_width`` (crops are always taken at full resolution). Titles wrap
    within their column, so they never run into each other.
    """
    panels = comp.panels + ([comp.diff] if comp.diff else [])
    n = len(panels)
    margin, gap = 16, 14
    ow, oh = comp.out_size
    col_target = int(max(min_column, min(panel_width, (max_width - 2 * margin - gap * (n - 1)) / n)))
    f = _display_factor(ow, oh, col_target, int(col_target * 1.25))
    dw, dh = max(1, round(ow * f)), max(1, round(oh * f))
    colw = max(dw, min_column)
    ncols = n
    if 2 * margin + n * colw + (n - 1) * gap > max_width:
        per_row = max(1, (max_width - 2 * margin + gap) // (colw + gap))
        rows_needed = math.ceil(n / per_row)
        ncols = math.ceil(n / rows_needed)
    fig_w = 2 * margin + ncols * colw + (ncols - 1) * gap

    cx, cy, cw, ch = comp.crop
    kz = min(colw / cw, max(colw, 160) / ch)
    kz = float(math.floor(kz)) if kz >= 1 else kz
    zw, zh = max(1, round(cw * kz)), max(1, round(ch * kz))

    # header
    mode_line = (f"{comp.name}: shrunk 1/{comp.scale} with bicubic to {comp.lr_size[0]}x{comp.lr_size[1]}, "
                 f"upscaled x{comp.scale} back to {ow}x{oh} and compared with the original"
                 if comp.mode == "hr" else
                 f"{comp.name}: low-resolution input {comp.lr_size[0]}x{comp.lr_size[1]} upscaled "
                 f"x{comp.scale} to {ow}x{oh}")
    head = _Block().add(title or "Super-resolution comparison", 24, _INK, fig_w - 2 * margin)
    head.add(mode_line, 16, _GREY, fig_w - 2 * margin)
    if comp.mode == "hr":
        head.add(f"PSNR and SSIM on luma (Y, BT.601) with {comp.scale} px of border shaved: higher is closer "
                 "to the original. LPIPS (AlexNet v0.1): lower is perceptually closer.", 16, _GREY,
                 fig_w - 2 * margin)

    # column blocks
    blocks = []
    for p in panels:
        b = _Block().add(p.label, 20, _INK, colw)
        line = panel_metric_text(comp, p)
        if line:
            b.add(line, 15, _INK if p.kind == "model" else _GREY, colw)
        if p.seconds is not None:
            b.add(f"{p.seconds:.2f} s", 14, _GREY, colw)
        blocks.append(b)
    crop_caption = _Block().add(
        f"{'auto-chosen detailed' if comp.crop_auto else 'requested'} crop {cw}x{ch} at ({cx}, {cy}), "
        f"enlarged x{kz:g} with nearest" if kz >= 1 else
        f"crop {cw}x{ch} at ({cx}, {cy}), reduced to fit", 15, _GREY, fig_w - 2 * margin)

    notes = list(comp.notes)
    if comp.mode == "hr" and comp.lpips_note:
        notes.append(_short_lpips_note(comp.lpips_note) if "unavailable" in comp.lpips_note else comp.lpips_note)
    foot = _Block()
    for t in notes:
        foot.add(f"Note: {t}", 14, _NOTE, fig_w - 2 * margin)

    rows = [panels[i:i + ncols] for i in range(0, n, ncols)]
    row_blocks = [blocks[i:i + ncols] for i in range(0, n, ncols)]
    row_heights = []
    for rb in row_blocks:
        th = max(b.height for b in rb)
        row_heights.append((th, th + 6 + dh + gap))
    fig_h = (margin + head.height + gap + sum(rh for _, rh in row_heights) + crop_caption.height + 6
             + len(rows) * (zh + gap) + (foot.height + gap if notes else 0) + margin)
    fig = Image.new("RGB", (fig_w, fig_h), _BG)
    d = ImageDraw.Draw(fig)
    y = head.draw(d, margin, margin) + gap

    def col_x(j: int) -> int:
        return margin + j * (colw + gap)

    # panels
    layout: dict = {"columns": [], "titles": [], "images": []}
    for row, rb, (th, rh) in zip(rows, row_blocks, row_heights):
        for j, (p, b) in enumerate(zip(row, rb)):
            x = col_x(j)
            boxes: list = []
            b.draw(d, x, y, boxes)
            layout["columns"].append((x, x + colw))
            layout["titles"].append(boxes)
            img = _fit(Image.fromarray(p.image), dw, dh)
            ix = x + (colw - dw) // 2
            iy = y + th + 6
            fig.paste(img, (ix, iy))
            layout["images"].append((ix, iy, ix + dw, iy + dh))
            _mark(d, ix + cx * f, iy + cy * f, ix + (cx + cw) * f, iy + (cy + ch) * f)
        y += rh
    # crops
    y = crop_caption.draw(d, margin, y) + 6
    for row in rows:
        for j, p in enumerate(row):
            tile = Image.fromarray(np.ascontiguousarray(p.image[cy:cy + ch, cx:cx + cw]))
            z = _fit(tile, zw, zh)
            x = col_x(j) + (colw - zw) // 2
            fig.paste(z, (x, y))
            d.rectangle([x - 1, y - 1, x + zw, y + zh], outline=(200, 200, 200))
        y += zh + gap
    if notes:
        foot.draw(d, margin, y)
    fig.info["superres_layout"] = layout  # panel columns, title text boxes, image boxes (for tests)
    return fig


def _mark(d: ImageDraw.ImageDraw, x0: float, y0: float, x1: float, y1: float) -> None:
    """Outline the crop region on a displayed panel (at least 8 px so it stays visible)."""
    cxm, cym = (x0 + x1) / 2, (y0 + y1) / 2
    hw, hh = max(4.0, (x1 - x0) / 2), max(4.0, (y1 - y0) / 2)
    box = [round(cxm - hw), round(cym - hh), round(cxm + hw) - 1, round(cym + hh) - 1]
    d.rectangle([box[0] - 1, box[1] - 1, box[2] + 1, box[3] + 1], outline=(0, 0, 0), width=1)
    d.rectangle(box, outline=_MARK, width=2)


# ---------------------------------------------------------------------------------------------
# HTML report
# ---------------------------------------------------------------------------------------------

#: embedded panel images wider than this are reduced (the PNG figure keeps full-resolution crops)
HTML_MAX_WIDTH = 1280


def _png_data_uri(arr: np.ndarray, max_width: int | None = HTML_MAX_WIDTH) -> tuple[str, bool]:
    im = Image.fromarray(arr)
    reduced = False
    if max_width and im.width > max_width:
        im = im.resize((max_width, max(1, round(im.height * max_width / im.width))), Image.LANCZOS)
        reduced = True
    buf = io.BytesIO()
    im.save(buf, format="PNG", optimize=False, compress_level=6)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii"), reduced


_CSS = """
body{font-family:system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;margin:24px;color:#141414;background:#fff}
h1{font-size:1.5em;margin:0 0 .3em}
p.sub{color:#555;margin:.2em 0}
.grid{display:grid;gap:14px;margin:16px 0;overflow-x:auto}
.grid figure{margin:0;min-width:0;display:flex;flex-direction:column}
.grid figcaption{font-size:.95em;margin-bottom:6px;flex:1}
.grid figcaption b{font-size:1.1em}
.grid img{width:100%;height:auto;display:block;border:1px solid #ddd}
.px{image-rendering:pixelated;image-rendering:crisp-edges}
table{border-collapse:collapse;margin:12px 0}
th,td{border:1px solid #ccc;padding:4px 10px;text-align:right}
th:first-child,td:first-child{text-align:left}
td.best{font-weight:bold;background:#eaf6ea}
.notes li{color:#963c00}
.ba{position:relative;max-width:960px;user-select:none;touch-action:none;cursor:ew-resize;border:1px solid #ccc}
.ba img{display:block;width:100%;height:auto}
.ba .over{position:absolute;inset:0;overflow:hidden}
.ba .over img{position:absolute;left:0;top:0}
.ba .handle{position:absolute;top:0;bottom:0;width:3px;margin-left:-1px;background:#ffd600;box-shadow:0 0 0 1px #000}
.ba .tag{position:absolute;top:8px;padding:2px 8px;background:rgba(0,0,0,.65);color:#fff;font-size:.9em;
border-radius:3px}
.ba .tag.l{left:8px}.ba .tag.r{right:8px}
#ba-range{width:100%;max-width:960px;display:block;margin:8px 0 0}
"""

# left image below, right image on top clipped to the part right of the handle
_JS = """
(function(){
  var box=document.getElementById('ba'), over=document.getElementById('ba-over'),
      handle=document.getElementById('ba-handle'), range=document.getElementById('ba-range');
  function set(v){v=Math.max(0,Math.min(100,+v));over.style.clipPath='inset(0 0 0 '+v+'%)';
    handle.style.left=v+'%';if(+range.value!==v)range.value=v;box.dataset.pos=v;}
  range.addEventListener('input',function(){set(range.value);});
  var drag=false;
  function at(e){var r=box.getBoundingClientRect();set((e.clientX-r.left)/r.width*100);}
  box.addEventListener('pointerdown',function(e){e.preventDefault();drag=true;
    box.setPointerCapture(e.pointerId);at(e);});
  box.addEventListener('pointermove',function(e){if(drag)at(e);});
  box.addEventListener('pointerup',function(){drag=false;});
  box.addEventListener('pointercancel',function(){drag=false;});
  box.addEventListener('dragstart',function(e){e.preventDefault();});
  var m=/slider=(\\d+(?:\\.\\d+)?)/.exec(location.hash);
  set(m?m[1]:range.value);
})();
"""


def _table_rows(comp: Comparison) -> tuple[list[str], list[list[str]]]:
    methods = comp.methods
    if comp.mode == "hr":
        header = ["method", "PSNR-Y (dB)", "SSIM-Y", "LPIPS", "sharpness", "time (s)"]
        best = {
            "psnr": max((p.psnr for p in methods if p.psnr is not None), default=None),
            "ssim": max((p.ssim for p in methods if p.ssim is not None), default=None),
            "lpips": min((p.lpips for p in methods if p.lpips is not None), default=None),
        }
        rows = []
        for p in methods:
            cells = [html.escape(p.label)]
            for key, spec in (("psnr", ".2f"), ("ssim", ".4f"), ("lpips", ".4f")):
                v = getattr(p, key)
                cls = ' class="best"' if v is not None and v == best[key] and len(methods) > 1 else ""
                cells.append(f"<td{cls}>{_fmt(v, spec)}</td>")
            cells += [f"<td>{_fmt(p.sharpness, '.2f')}</td>", f"<td>{_fmt(p.seconds, '.2f')}</td>"]
            rows.append(cells)
        orig = comp.panel("original")
        if orig is not None:
            rows.append(["Original (reference)", "<td>-</td>", "<td>-</td>", "<td>-</td>",
                         f"<td>{_fmt(orig.sharpness, '.2f')}</td>", "<td>-</td>"])
        return header, rows
    header = ["method", "sharpness", "time (s)"]
    rows = [[html.escape(p.label), f"<td>{_fmt(p.sharpness, '.2f')}</td>",
             f"<td>{'-' if p.kind == 'input' else _fmt(p.seconds, '.2f')}</td>"]
            for p in comp.panels if p.kind in ("model", "input")]
    return header, rows


def render_html(comp: Comparison, *, title: str | None = None) -> str:
    """A self-contained HTML report (images embedded): panels, zoomed crops, a slider, the metric table."""
    esc = html.escape
    panels = comp.panels + ([comp.diff] if comp.diff else [])
    n = len(panels)
    ow, oh = comp.out_size
    cx, cy, cw, ch = comp.crop
    px_class = ' class="px"' if ow < 480 else ""
    reduced_any = False
    figs, crops = [], []
    for p in panels:
        uri, reduced = _png_data_uri(p.image)
        reduced_any |= reduced
        cap = f"<b>{esc(p.label)}</b><br>{esc(panel_metric_text(comp, p))}"
        if p.seconds is not None:
            cap += f"<br><small>{p.seconds:.2f} s</small>"
        figs.append(f'<figure data-key="{esc(p.key)}"><figcaption>{cap}</figcaption>'
                    f'<img{px_class} src="{uri}" alt="{esc(p.label)}"></figure>')
        curi, _ = _png_data_uri(np.ascontiguousarray(p.image[cy:cy + ch, cx:cx + cw]), None)
        crops.append(f'<figure><figcaption><b>{esc(p.label)}</b></figcaption>'
                     f'<img class="px" src="{curi}" alt="{esc(p.label)} crop"></figure>')
    cols = f"grid-template-columns:repeat({n},minmax(180px,1fr))"
    header, rows = _table_rows(comp)
    table = "<table><tr>" + "".join(f"<th>{esc(h)}</th>" for h in header) + "</tr>" + "".join(
        f"<tr><td>{r[0]}</td>{''.join(r[1:])}</tr>" for r in rows) + "</table>"
    notes = list(comp.notes)
    if comp.mode == "hr" and comp.lpips_note:
        notes.append(comp.lpips_note)
    if reduced_any:
        notes.append(f"panels wider than {HTML_MAX_WIDTH} px are shown reduced here; the crops are "
                     "at full resolution")
    pair = comp.slider_pair()
    slider = ""
    if pair:
        left, right = pair
        luri, _ = _png_data_uri(left.image)
        ruri, _ = _png_data_uri(right.image)
        slider = (
            f"<h2>Before / after: {esc(left.label)} | {esc(right.label)}</h2>"
            "<p class=\"sub\">Drag across the image or move the slider: left of the line is "
            f"{esc(left.label)}, right of it {esc(right.label)}.</p>"
            f'<div class="ba" id="ba" data-pos="50"><img{px_class} draggable="false" src="{luri}" '
            f'alt="{esc(left.label)}"><div class="over" id="ba-over"><img{px_class} draggable="false" '
            f'src="{ruri}" alt="{esc(right.label)}"></div>'
            f'<div class="handle" id="ba-handle" style="left:50%"></div>'
            f'<span class="tag l">{esc(left.label)}</span><span class="tag r">{esc(right.label)}</span></div>'
            '<input type="range" id="ba-range" min="0" max="100" step="0.5" value="50" '
            f'aria-label="position of the divide between {esc(left.label)} and {esc(right.label)}">'
        )
    if comp.mode == "hr":
        sub = (f"{esc(comp.name)}: shrunk 1/{comp.scale} with bicubic to {comp.lr_size[0]}x{comp.lr_size[1]}, "
               f"upscaled x{comp.scale} back to {ow}x{oh}, compared with the original. PSNR/SSIM on luma "
               f"(BT.601) with {comp.scale} px of border shaved (higher = closer); LPIPS AlexNet v0.1 "
               "(lower = perceptually closer).")
    else:
        sub = (f"{esc(comp.name)}: low-resolution input {comp.lr_size[0]}x{comp.lr_size[1]} upscaled "
               f"x{comp.scale} to {ow}x{oh}. There is no original to compare with, so no reference metrics.")
    crop_line = (f"{'Auto-chosen detailed region' if comp.crop_auto else 'Requested region'}: "
                 f"{cw}x{ch} px at ({cx}, {cy}), enlarged with nearest-neighbour.")
    parts = [
        "<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{esc(title or 'Super-resolution comparison')}: {esc(comp.name)}</title>",
        f"<style>{_CSS}</style></head><body>",
        f"<h1>{esc(title or 'Super-resolution comparison')}</h1>", f'<p class="sub">{sub}</p>',
        "<h2>Metrics</h2>", table,
        slider,
        "<h2>Panels</h2>", f'<div class="grid" style="{cols}">{"".join(figs)}</div>',
        f"<h2>Zoomed crops</h2><p class=\"sub\">{esc(crop_line)}</p>",
        f'<div class="grid" style="{cols}">{"".join(crops)}</div>',
    ]
    if notes:
        parts.append('<h2>Notes</h2><ul class="notes">' + "".join(f"<li>{esc(t)}</li>" for t in notes) + "</ul>")
    if pair:
        parts.append(f"<script>{_JS}</script>")
    parts.append("</body></html>")
    return "\n".join(parts)
