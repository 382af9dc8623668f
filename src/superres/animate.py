"""Super-resolving animations: :func:`upscale_animation` and the pipeline behind ``superres animate``.

Frames stream from a reader (:mod:`superres.io.animation`, :mod:`superres.io.video`)
through the shared :class:`~superres.inference.Upscaler` in small batches
(whole frames stacked into one (N, 3, H, W) tensor, or one tiled frame at a time
when a frame is large) and on to the writers, so memory stays bounded by a few
frames however long the animation is. A frame identical to the previous one is
not run through the network again.

GAN output can flicker: the network sees the whole neighbourhood of a pixel,
so a moving object changes the texture it invents around it, and noise changes
it everywhere. :class:`FlickerMeter` measures this as the mean absolute
frame-to-frame change of the output (0-255) over pixels whose input did not
change within :data:`FLICKER_SUPPORT` LR pixels (bicubic's reach): a change
there is not explained by the input, so bicubic reads 0 and a model's figure is
texture it invented differently. (Counting the pixels next to input changes, as
this figure once did, made bicubic read several units on moving text and hid
what ``--stabilize`` removes.) :class:`Stabilizer` removes it without blurring: where the input has
not changed since the output there was last refreshed (up to ``threshold``, in
a window widened by ``margin`` LR pixels), the previous output is reused
exactly; elsewhere the new output is taken as it is. Every output pixel is
therefore one the network produced; nothing is averaged.

:class:`CompareBuilder` makes the side-by-side frames [input enlarged with
nearest | bicubic | model], labelled, and :func:`write_compare_page` an HTML page
showing the input and the outputs at the same CSS width.
"""

from __future__ import annotations

import html
import os
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .errors import OutputError
from .io.animation import (
    ANIMATION_OUTPUTS,
    AnimationInfo,
    AnimationWriter,
    Frame,
    absdiff_max,
    check_animation_output,
    frames_from_objects,
    open_animation,
)
from .io.images import DEFAULT_MAX_PIXELS

__all__ = ["upscale_animation", "AnimationResult", "Stabilizer", "FlickerMeter", "CompareBuilder",
           "iter_upscaled", "auto_batch", "bleed", "compare_html", "write_compare_page", "AnimateOptions",
           "AnimateReport", "animate_file", "default_output", "side_outputs"]

#: at most this many frames go through the network at once
MAX_BATCH = 8


# ---------------------------------------------------------------------------
# stabilising and measuring flicker
# ---------------------------------------------------------------------------

def _lr_change(a: Frame, b_rgb: np.ndarray, b_alpha: np.ndarray | None, threshold: int) -> np.ndarray:
    """(h, w) bool: where frame ``a`` differs from (b_rgb, b_alpha) by more than ``threshold``."""
    d = absdiff_max(a.rgb, b_rgb)
    if a.alpha is not None or b_alpha is not None:
        aa = a.alpha if a.alpha is not None else np.full(d.shape, 255, np.uint8)
        ba = b_alpha if b_alpha is not None else np.full(d.shape, 255, np.uint8)
        np.maximum(d, absdiff_max(aa, ba), out=d)
    return d > threshold


def _dilate(mask: np.ndarray, r: int) -> np.ndarray:
    """Square binary dilation by ``r`` pixels (separable running OR)."""
    if r <= 0 or not mask.any():
        return mask
    out = mask.copy()
    for axis in (0, 1):
        src = out.copy()
        n = src.shape[axis]
        for k in range(1, r + 1):
            if k >= n:
                break
            lo = [slice(None)] * 2
            hi = [slice(None)] * 2
            lo[axis], hi[axis] = slice(0, n - k), slice(k, n)
            out[tuple(lo)] |= src[tuple(hi)]
            out[tuple(hi)] |= src[tuple(lo)]
    return out


def _enlarge(a: np.ndarray, s: int) -> np.ndarray:
    """Nearest-neighbour enlargement of the first two axes by ``s``."""
    return np.repeat(np.repeat(a, s, axis=0), s, axis=1)


class Stabilizer:
    """Reuse the previous output where the input has not changed (flicker removal without blur).

    Args:
        scale: the model's scale.
        threshold: LR change (0-255, per channel) still counted as unchanged; 3 absorbs
            video noise and palette jitter, 0 means exactly equal.
        margin: LR pixels around every change that are refreshed too, so the new
            output meets the kept one where the network no longer sees the change.
    """

    def __init__(self, scale: int, threshold: int = 3, margin: int = 2) -> None:
        self.scale = int(scale)
        self.threshold = int(threshold)
        self.margin = int(margin)
        self.ref_rgb: np.ndarray | None = None  # LR input when each output pixel was last refreshed
        self.ref_alpha: np.ndarray | None = None
        self.prev: Frame | None = None
        self.refreshed = 0.0  # share of output pixels refreshed, summed over frames

    def __call__(self, lr: Frame, hr: Frame) -> Frame:
        if self.prev is None:
            self.ref_rgb = lr.rgb.copy()
            self.ref_alpha = lr.alpha.copy() if lr.alpha is not None else None
            self.prev = hr
            self.refreshed += 1.0
            return hr
        changed = _dilate(_lr_change(lr, self.ref_rgb, self.ref_alpha, self.threshold), self.margin)
        self.refreshed += float(changed.mean())
        if changed.all():
            out = hr
        elif not changed.any():
            out = Frame(self.prev.rgb, self.prev.alpha, hr.duration_ms, hr.index)
        else:
            m = _enlarge(changed, self.scale)
            rgb = self.prev.rgb.copy()
            rgb[m] = hr.rgb[m]
            alpha = None
            if hr.alpha is not None or self.prev.alpha is not None:
                alpha = (self.prev.alpha.copy() if self.prev.alpha is not None
                         else np.full(m.shape, 255, np.uint8))
                alpha[m] = hr.alpha[m] if hr.alpha is not None else 255
                if alpha.min() == 255:
                    alpha = None
            out = Frame(rgb, alpha, hr.duration_ms, hr.index)
        self.ref_rgb[changed] = lr.rgb[changed]
        if lr.alpha is not None or self.ref_alpha is not None:
            if self.ref_alpha is None:
                self.ref_alpha = np.full(changed.shape, 255, np.uint8)
            self.ref_alpha[changed] = lr.alpha[changed] if lr.alpha is not None else 255
        self.prev = out
        return out


#: LR pixels around an input change whose output may change because of it: bicubic's kernel
#: reach at any scale (Keys cubic, 2 taps each side). The flicker figure ignores them.
FLICKER_SUPPORT = 2


class FlickerMeter:
    """Mean absolute frame-to-frame change of the output (0-255) not explained by the input.

    For every frame after the first, the LR pixels that are opaque and equal (up to
    ``threshold``) to the previous frame's, and whose neighbours within ``margin``
    pixels are too, are enlarged to the output grid, and the mean over their output
    pixels and channels of |out_k - out_k-1| is accumulated. 0 means perfectly
    steady. With the default ``margin`` (:data:`FLICKER_SUPPORT`) bicubic measures
    0, so what a model shows is change it invented away from any input change;
    ``margin=0`` also counts pixels next to moving edges, where bicubic changes
    too (a figure of how much the picture moves, not of flicker).
    """

    def __init__(self, scale: int, threshold: int = 0, margin: int = FLICKER_SUPPORT) -> None:
        self.scale = int(scale)
        self.threshold = int(threshold)
        self.margin = int(margin)
        self.prev_lr: Frame | None = None
        self.prev_hr: np.ndarray | None = None
        self.total = 0.0
        self.count = 0

    def update(self, lr: Frame, hr: Frame) -> None:
        if self.prev_lr is not None:
            static = ~_dilate(_lr_change(lr, self.prev_lr.rgb, self.prev_lr.alpha, self.threshold), self.margin)
            if lr.alpha is not None:
                static &= lr.alpha >= 128
            if static.any():
                m = _enlarge(static, self.scale)
                d = np.maximum(hr.rgb, self.prev_hr)
                d -= np.minimum(hr.rgb, self.prev_hr)  # |difference| without an int16 copy
                self.total += float(np.sum(d, dtype=np.int64, where=m[:, :, None])) / 3.0
                self.count += int(m.sum())
        self.prev_lr = lr
        self.prev_hr = hr.rgb

    @property
    def value(self) -> float | None:
        return self.total / self.count if self.count else None


# ---------------------------------------------------------------------------
# the upscaling pipeline
# ---------------------------------------------------------------------------

def auto_batch(upscaler, height: int, width: int, max_batch: int = MAX_BATCH) -> int:
    """Frames per network call: 0 when a frame needs tiling (one tiled frame at a time),
    else as many as fit the upscaler's memory budget (activations + float output), at most ``max_batch``."""
    from .inference.upscaler import _bytes_per_lr_pixel

    if len(upscaler.plan(height, width)) > 1:
        return 0
    s, p = upscaler.scale, upscaler.pre_pad
    hp, wp = height + 2 * p, width + 2 * p
    per_frame = hp * wp * _bytes_per_lr_pixel(upscaler.model) + 2 * 3 * hp * wp * s * s * 4
    budget = upscaler.memory_budget_mb * 2**20
    return int(max(1, min(max_batch, budget // max(1, per_frame))))


def bleed(rgb: np.ndarray, alpha: np.ndarray | None, steps: int = 8) -> np.ndarray:
    """``rgb`` with the colour under fully transparent pixels spread in from the nearest visible ones.

    A composed GIF is black under its transparent pixels; upscaled as it is, that
    black bleeds into the visible edges as a dark fringe. Each step gives the
    transparent pixels next to known ones the mean of those neighbours; what is
    left after ``steps`` gets the mean visible colour. Visible pixels are unchanged.
    """
    if alpha is None:
        return rgb
    known = alpha > 0
    if known.all() or not known.any():
        return rgb
    out = rgb.astype(np.float64 if rgb.dtype == np.uint16 else np.float32)
    h, w = known.shape
    for _ in range(steps):
        acc = np.zeros_like(out)
        cnt = np.zeros((h, w), np.float32)
        kv = out * known[:, :, None]
        for (ys, yd), (xs, xd) in (((slice(None), slice(None)), (slice(1, None), slice(None, -1))),
                                   ((slice(None), slice(None)), (slice(None, -1), slice(1, None))),
                                   ((slice(1, None), slice(None, -1)), (slice(None), slice(None))),
                                   ((slice(None, -1), slice(1, None)), (slice(None), slice(None)))):
            acc[yd, xd] += kv[ys, xs]
            cnt[yd, xd] += known[ys, xs]
        new = ~known & (cnt > 0)
        if not new.any():
            break
        out[new] = acc[new] / cnt[new][:, None]
        known = known | new
    if not known.all():
        out[~known] = out[known].mean(axis=0)
    res = np.round(out).astype(rgb.dtype)  # keep the bit depth (uint8 or uint16)
    res[alpha > 0] = rgb[alpha > 0]
    return res


def _run_batch(upscaler, frames: list[Frame], batch: int) -> list[np.ndarray]:
    """uint8 (sH, sW, 3) outputs for LR frames (stacked when ``batch``, else tiled one by one).

    Colour under transparent pixels is filled in first (:func:`bleed`), so no dark fringe."""
    import torch

    rgbs = [bleed(f.rgb, f.alpha) for f in frames]
    if batch == 0:
        return [upscaler.upscale_array(r) for r in rgbs]
    with torch.inference_mode():
        x = torch.from_numpy(np.stack(rgbs)).permute(0, 3, 1, 2).float().div_(255.0)
        y = upscaler(x)
        del x
        y = y.mul_(255.0).round_().clamp_(0, 255).to(torch.uint8).permute(0, 2, 3, 1)
        return [np.ascontiguousarray(t.numpy()) for t in y]


def _upscale_alpha(alpha: np.ndarray | None, scale: int) -> np.ndarray | None:
    if alpha is None:
        return None
    from .api import resize_array

    h, w = alpha.shape
    a = resize_array(alpha, (w * scale, h * scale), "bicubic")
    return None if a.min() == 255 else a


def _same(a: Frame, b: Frame | None) -> bool:
    if b is None or a.rgb.shape != b.rgb.shape or not np.array_equal(a.rgb, b.rgb):
        return False
    if a.alpha is None or b.alpha is None:
        return a.alpha is None and b.alpha is None
    return np.array_equal(a.alpha, b.alpha)


@dataclass
class _Stats:
    frames: int = 0
    reused: int = 0  # frames equal to the previous one: the network was not run


def iter_upscaled(frames: Iterable[Frame], upscaler, *, batch: int | None = None, stats: _Stats | None = None
                  ) -> Iterator[tuple[Frame, Frame]]:
    """(LR frame, HR frame) pairs, in order; frames go through the network ``batch`` at a time
    (default :func:`auto_batch`); a frame equal to the previous one reuses its output."""
    stats = stats if stats is not None else _Stats()
    s = upscaler.scale
    pending: list[tuple[Frame, bool]] = []
    last_lr: Frame | None = None
    last_out: tuple[np.ndarray, np.ndarray | None] | None = None
    n_batch = batch

    def flush():
        nonlocal last_out
        todo = [f for f, dup in pending if not dup]
        outs = iter(_run_batch(upscaler, todo, n_batch) if todo else [])
        for f, dup in pending:
            stats.frames += 1
            if dup:
                stats.reused += 1
            else:
                last_out = (next(outs), _upscale_alpha(f.alpha, s))
            yield f, Frame(last_out[0], last_out[1], f.duration_ms, f.index)
        pending.clear()

    for fr in frames:
        if n_batch is None:
            n_batch = auto_batch(upscaler, fr.rgb.shape[0], fr.rgb.shape[1])
        dup = _same(fr, last_lr)
        pending.append((fr, dup))
        last_lr = fr
        n = max(1, n_batch)
        if sum(not d for _, d in pending) >= n or len(pending) >= 4 * n:  # repeats wait, but not forever
            yield from flush()
    if pending:
        yield from flush()


# ---------------------------------------------------------------------------
# side by side
# ---------------------------------------------------------------------------

class CompareBuilder:
    """Side-by-side frames: [input enlarged with nearest | panel | panel ...], with a label bar.

    Every panel is shown at the output size, so the low- and high-resolution
    versions appear at the same width.
    """

    GAP = 4  # pixels between panels

    def __init__(self, scale: int, lr_size: tuple[int, int], labels: list[str]) -> None:
        from PIL import Image, ImageDraw, ImageFont

        self.scale = scale
        w, h = lr_size
        self.pw, self.ph = w * scale, h * scale
        self.labels = labels
        n = len(labels)
        self.width = n * self.pw + (n - 1) * self.GAP
        size = int(max(10, min(22, self.pw // 12)))
        try:
            font = ImageFont.load_default(size=size)
        except TypeError:  # pragma: no cover - Pillow without FreeType sizing
            font = ImageFont.load_default()
        self.bar_h = size + 10
        self.height = self.ph + self.bar_h
        bar = Image.new("RGB", (self.width, self.bar_h), (32, 32, 32))
        draw = ImageDraw.Draw(bar)
        for i, text in enumerate(labels):
            x0 = i * (self.pw + self.GAP)
            while text and draw.textlength(text, font=font) > self.pw - 8:
                text = text[:-2] + "…" if len(text) > 2 else ""
            tw = draw.textlength(text, font=font)
            draw.text((x0 + (self.pw - tw) / 2, 4), text, fill=(255, 255, 255), font=font)
        self.bar = np.asarray(bar)

    def __call__(self, lr: Frame, panels: list[Frame]) -> Frame:
        rgb = np.full((self.height, self.width, 3), 32, np.uint8)
        rgb[:self.bar_h] = self.bar
        has_alpha = lr.alpha is not None or any(p.alpha is not None for p in panels)
        alpha = np.full((self.height, self.width), 255, np.uint8) if has_alpha else None
        near = Frame(_enlarge(lr.rgb, self.scale), _enlarge(lr.alpha, self.scale) if lr.alpha is not None else None)
        for i, p in enumerate([near, *panels]):
            x0 = i * (self.pw + self.GAP)
            rgb[self.bar_h:, x0:x0 + self.pw] = p.rgb
            if alpha is not None and p.alpha is not None:
                alpha[self.bar_h:, x0:x0 + self.pw] = p.alpha
        return Frame(rgb, alpha, lr.duration_ms, lr.index)


#: media type of each file kind a compare page shows (for data: URIs)
_MEDIA_TYPES = {".gif": "image/gif", ".png": "image/png", ".apng": "image/apng", ".webp": "image/webp",
                ".mp4": "video/mp4", ".m4v": "video/mp4", ".mov": "video/quicktime", ".webm": "video/webm",
                ".mkv": "video/x-matroska"}

#: a compare page embeds its files (input, outputs) when together they are at most this many bytes
EMBED_LIMIT = 64 * 2**20


def compare_html(input_path: str | os.PathLike, outputs: list[tuple[str, str | os.PathLike]], *,
                 base: str | os.PathLike | None = None, width: int | None = None, title: str = "",
                 compare: str | os.PathLike | None = None, note: str = "",
                 embed_limit: int | None = EMBED_LIMIT) -> str:
    """HTML showing the input and each (label, output) at the same CSS width.

    The page is self-contained: the input and the outputs are embedded as
    ``data:`` URIs, so it can be moved or mailed on its own. When together they
    are larger than ``embed_limit`` bytes (browsers get slow on huge pages), the
    input is still embedded and files in the page's folder ``base`` (where the
    outputs are written) are linked by bare name, so the page works as long as
    it stays beside them. The input is enlarged by the browser with
    ``image-rendering: pixelated`` (nearest), so what differs is only what the
    upscaler added.
    """
    import base64

    base = Path(base) if base is not None else Path(".")
    files = [Path(input_path), *(Path(p) for _, p in outputs), *([Path(compare)] if compare is not None else [])]
    total = sum(f.stat().st_size for f in files if f.is_file())
    embed_all = embed_limit is None or total <= embed_limit

    def data_uri(p: Path) -> str:
        kind = _MEDIA_TYPES.get(p.suffix.lower(), "application/octet-stream")
        return f"data:{kind};base64," + base64.b64encode(p.read_bytes()).decode("ascii")

    def ref(p, is_input: bool = False) -> str:
        p = Path(p)
        if embed_all or (is_input and p.stat().st_size <= (embed_limit or 0)):
            return data_uri(p)
        if p.resolve().parent == base.resolve():
            return html.escape(p.name, quote=True)
        return html.escape(Path(os.path.relpath(p.resolve(), base.resolve())).as_posix(), quote=True)

    def media(p, cls: str = "", is_input: bool = False) -> str:
        src = ref(p, is_input)
        c = f' class="{cls}"' if cls else ""
        if Path(p).suffix.lower() in (".mp4", ".m4v", ".mov", ".webm", ".mkv"):
            return f'<video{c} src="{src}" autoplay loop muted playsinline controls></video>'
        return f'<img{c} src="{src}" alt="">'

    w = int(width or 640)
    name = html.escape(Path(input_path).name)
    figs = [f'<figure>{media(input_path, "px", is_input=True)}<figcaption>input: {name}</figcaption></figure>']
    for label, p in outputs:
        figs.append(f"<figure>{media(p)}<figcaption>{html.escape(label)}</figcaption></figure>")
    side = f'<h2>Side by side</h2>\n<p>{media(compare, "wide")}</p>\n' if compare is not None else ""
    t = html.escape(title or f"superres: {Path(input_path).name}")
    linked = "" if embed_all else (f" The outputs ({total / 2**20:.0f} MB together) are linked, not embedded: "
                                   "keep this page beside them.")
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{t}</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 16px; }}
.row {{ display: flex; flex-wrap: wrap; gap: 12px; }}
figure {{ margin: 0; }}
figure img, figure video {{ width: {w}px; height: auto; display: block; background: #eee; }}
.px {{ image-rendering: pixelated; }}
.wide {{ max-width: 100%; height: auto; }}
figcaption {{ font-size: 14px; padding: 4px 0; }}
</style></head><body>
<h1>{t}</h1>
<p>All animations are shown at the same CSS width ({w} px). {html.escape(note)}{linked}</p>
<div class="row">
{chr(10).join(figs)}
</div>
{side}</body></html>
"""


def write_compare_page(path: str | os.PathLike, input_path, outputs: list[tuple[str, str | os.PathLike]], *,
                       overwrite: bool = False, **kw) -> Path:
    """Write :func:`compare_html` to ``path`` atomically (never replacing a file without ``overwrite``)."""
    from .io.images import _atomic_write

    path = Path(path)
    if path.exists() and not overwrite:
        raise OutputError(f"{path} already exists; pass --overwrite to replace it, or choose another name")
    text = compare_html(input_path, outputs, base=path.parent, **kw).encode()
    _atomic_write(path, lambda f: f.write(text))
    return path


# ---------------------------------------------------------------------------
# the Python API
# ---------------------------------------------------------------------------

@dataclass
class AnimationResult:
    """What :func:`upscale_animation` returns.

    Attributes:
        frames: the upscaled frames (uint8; empty when streamed to ``output`` only).
        info: the source's :class:`~superres.io.animation.AnimationInfo`.
        model: model name; scale: its factor.
        seconds: wall time of reading, upscaling and writing.
        bicubic: bicubic frames when asked for (``bicubic=True``).
        flicker / flicker_bicubic: :class:`FlickerMeter` values (0-255; None with one frame): output
            change more than :data:`FLICKER_SUPPORT` LR pixels from any input change (bicubic: 0).
        flicker_near: the same counting the pixels next to input changes too (``margin=0``);
            bicubic is not 0 there, so this says how much the picture moves, not how it flickers.
        reused: frames equal to their predecessor (not run through the network).
        path: the file written, when ``output`` was given.
    """

    frames: list[Frame]
    info: AnimationInfo
    model: str
    scale: int
    seconds: float
    n_frames: int
    bicubic: list[Frame] | None = None
    flicker: float | None = None
    flicker_bicubic: float | None = None
    reused: int = 0
    path: Path | None = None
    flicker_near: float | None = None
    extra: dict = field(default_factory=dict)

    @property
    def fps(self) -> float:
        """Frames processed per second (wall time)."""
        return self.n_frames / self.seconds if self.seconds > 0 else float("inf")

    @property
    def durations_ms(self) -> list[int]:
        return [f.duration_ms for f in self.frames]

    @property
    def loop(self) -> int | None:
        return self.info.loop

    def save(self, path: str | os.PathLike, **options) -> Path:
        """Write the frames (options as :class:`~superres.io.animation.AnimationWriter`; loop kept)."""
        from .io.animation import write_animation

        options.setdefault("loop", self.info.loop)
        return write_animation(self.frames, path, **options)


def _resolve_model(model) -> tuple[str, object]:
    from .registry import default_model

    if model is None or model == "default":
        return default_model(), None
    if isinstance(model, (str, os.PathLike)):
        return str(model), None
    return getattr(model, "name", type(model).__name__), model


def upscale_animation(source, model=None, *, durations: int | list[int] | None = None, loop: int | None = 0,
                      device: str = "auto", tile: int | None = None, tile_pad: int | None = None,
                      precision: str = "auto", batch: int | None = None, stabilize: bool = False,
                      stabilize_threshold: int = 3, stabilize_margin: int = 2, bicubic: bool = False,
                      color_fix: bool = False,
                      output: str | os.PathLike | None = None, keep_frames: bool | None = None,
                      max_pixels: int | None = DEFAULT_MAX_PIXELS,
                      progress: Callable[[int, int | None], None] | None = None, **write_options) -> AnimationResult:
    """Upscale every frame of an animation.

    Args:
        source: a path (GIF, APNG, WebP, video) or frames (PIL images, uint8 arrays
            (H, W, 3|4) or :class:`~superres.io.animation.Frame`), all one size.
        model: registry name, weights path or module; default: srgan-x4, or the best
            installed model when its weights are missing.
        durations / loop: for frames given directly (ms; default 100 ms, loop forever).
        batch: frames per network call (default: from the memory budget).
        stabilize: reuse the previous output where the input did not change
            (:class:`Stabilizer`, with ``stabilize_threshold`` and ``stabilize_margin``).
        bicubic: also return bicubic frames (``result.bicubic``) and their flicker.
        color_fix: colour (chroma) from bicubic, detail (luma) from the model
            (:func:`superres.colorfix.fix_chroma`; for graphics and text).
        output: also write the result here, streaming (format from the extension;
            ``write_options`` as :class:`~superres.io.animation.AnimationWriter`).
        keep_frames: keep the frames in ``result.frames`` (default: only when no
            ``output`` is given, so a long animation written to a file never sits in memory).
        progress: called as ``progress(done, total)`` after each frame (total may be None).

    Returns:
        an :class:`AnimationResult` with the frames, timing and flicker figures.
    """
    from .api import make_upscaler

    name, module = _resolve_model(model)
    up = make_upscaler(module if module is not None else name, device=device, tile=tile, tile_pad=tile_pad,
                       precision=precision)
    bic = _bicubic_upscaler(up.scale, device, tile) if bicubic else None
    keep = (output is None) if keep_frames is None else keep_frames
    t0 = time.perf_counter()
    if isinstance(source, (str, os.PathLike)):
        reader = open_animation(source, max_pixels=max_pixels)
        frames_in: Iterable[Frame] = reader
        info = reader.info
        closer = reader.close
    else:
        frames, info = frames_from_objects(source, durations=durations, loop=loop)
        frames_in, closer = frames, None
    writer = None
    if output is not None:
        write_options.setdefault("loop", info.loop)
        if info.format == "VIDEO" and info.path is not None and \
                ANIMATION_OUTPUTS.get(Path(output).suffix.lower()) == "VIDEO":
            write_options.setdefault("audio_from", info.path)
            write_options.setdefault("fps", info.fps)
        writer = AnimationWriter(output, **write_options)
    stab = Stabilizer(up.scale, stabilize_threshold, stabilize_margin) if stabilize else None
    meter, meter_near = FlickerMeter(up.scale), FlickerMeter(up.scale, margin=0)
    meter_b = FlickerMeter(up.scale) if bic is not None else None
    out_frames: list[Frame] = []
    bic_frames: list[Frame] | None = [] if bic is not None else None
    stats = _Stats()
    try:
        lr_stream = _tee_bicubic(frames_in, bic, bic_frames, meter_b, keep)
        for lr, hr in iter_upscaled(lr_stream, up, batch=batch, stats=stats):
            if color_fix:
                hr = _fix_colours(lr, hr)
            if stab is not None:
                hr = stab(lr, hr)
            meter.update(lr, hr)
            meter_near.update(lr, hr)
            if writer is not None:
                writer.write(hr)
            if keep:
                out_frames.append(hr)
            if progress is not None:
                progress(stats.frames, info.n_frames)
        path = writer.close() if writer is not None else None
    except BaseException:
        if writer is not None:
            writer.abort()
        raise
    finally:
        if closer is not None:
            closer()
    seconds = time.perf_counter() - t0
    return AnimationResult(out_frames, info, name, up.scale, seconds, stats.frames, bic_frames, meter.value,
                           meter_b.value if meter_b is not None else None, stats.reused, path, meter_near.value)


def _fix_colours(lr: Frame, hr: Frame) -> Frame:
    """``hr`` with the colour (chroma) of ``lr`` enlarged by bicubic (:func:`superres.colorfix.fix_chroma`)."""
    from .colorfix import fix_chroma

    return Frame(fix_chroma(hr.rgb, lr.rgb), hr.alpha, hr.duration_ms, hr.index)


def _bicubic_upscaler(scale: int, device: str, tile: int | None):
    """The bicubic baseline at the model's scale (the registry's ``bicubic`` is 4x)."""
    from .api import make_upscaler
    from .models import Interpolation

    model = Interpolation("bicubic", scale=scale)
    model.name = "bicubic"
    return make_upscaler(model, device=device, tile=tile, precision="fp32")


def _tee_bicubic(frames: Iterable[Frame], bic, store: list | None, meter: FlickerMeter | None, keep: bool):
    """Pass LR frames through, computing bicubic frames (and their flicker) on the side."""
    if bic is None:
        yield from frames
        return
    for lr, hb in iter_upscaled(frames, bic):
        meter.update(lr, hb)
        if keep:
            store.append(hb)
        yield lr


# ---------------------------------------------------------------------------
# the command's work (superres animate)
# ---------------------------------------------------------------------------

@dataclass
class AnimateOptions:
    model: str | None = None
    tile: int | None = None
    tile_pad: int | None = None
    device: str = "auto"
    precision: str = "auto"
    backend: str = "torch"
    batch: int | None = None
    compare: bool = False
    also_bicubic: bool = False
    stabilize: bool = False
    stabilize_threshold: int = 3
    stabilize_margin: int = 2
    color_fix: bool = False
    palette: str = "adaptive"
    dither: bool = False
    quality: int | None = None
    overwrite: bool = False
    max_pixels: int | None = DEFAULT_MAX_PIXELS
    quiet: bool = False
    progress: bool = False


@dataclass
class AnimateReport:
    """What :func:`animate_file` did (the CLI prints it; the benchmark records it)."""

    input: Path
    output: Path
    model: str
    frames: int
    lr_size: tuple[int, int]
    hr_size: tuple[int, int]
    seconds: float
    bytes: int
    flicker: float | None
    flicker_bicubic: float | None
    reused: int
    extra_outputs: list[Path] = field(default_factory=list)
    flicker_near: float | None = None  # FlickerMeter(margin=0): also next to input changes (bicubic > 0)

    @property
    def fps(self) -> float:
        return self.frames / self.seconds if self.seconds > 0 else float("inf")


def default_output(src: Path, info_format: str | None = None) -> Path:
    """``<stem>_x4<ext>`` beside the input, keeping its kind of file."""
    ext = src.suffix.lower()
    if ext not in ANIMATION_OUTPUTS:
        ext = ".mp4" if info_format == "VIDEO" else ".gif"
    return src.with_name(f"{src.stem}_x4{ext}")


def side_outputs(output: Path, compare: bool, also_bicubic: bool) -> dict[str, Path]:
    """Paths of the extra files: ``bicubic``, ``compare`` and ``html`` beside the output."""
    out = {}
    if also_bicubic:
        out["bicubic"] = output.with_name(f"{output.stem}_bicubic{output.suffix}")
    if compare:
        out["compare"] = output.with_name(f"{output.stem}_compare{output.suffix}")
        out["html"] = output.with_name(f"{output.stem}_compare.html")
    return out


def _load(name: str, opts: AnimateOptions):
    from .api import make_upscaler_checked

    return make_upscaler_checked(name, device=opts.device, tile=opts.tile, tile_pad=opts.tile_pad,
                                 precision=opts.precision, backend=opts.backend)


def animate_file(src: str | os.PathLike, output: str | os.PathLike | None, opts: AnimateOptions) -> AnimateReport:
    """Read ``src``, upscale every frame, write ``output`` (and the bicubic/compare files), streaming.

    Raises :class:`InputError` (exit code 1) for a bad input and other
    :class:`SuperResError` (exit code 2) for usage problems; nothing is left
    behind when it fails.
    """
    from .registry import default_model

    src = Path(src)
    t0 = time.perf_counter()
    reader = open_animation(src, max_pixels=opts.max_pixels)
    with reader:
        info = reader.info
        out = Path(output) if output is not None else default_output(src, info.format)
        if out.is_dir():
            out = out / default_output(src, info.format).name
        extra = side_outputs(out, opts.compare, opts.also_bicubic)
        targets = [out, *extra.values()]
        for p in targets:
            if p.resolve() == src.resolve():
                raise OutputError(f"{p}: the output would be the input itself; choose another -o "
                                  "(inputs are never overwritten)")
            if p.suffix.lower() == ".html":
                if p.exists() and not opts.overwrite:
                    raise OutputError(f"{p} already exists; pass --overwrite to replace it, or choose another name")
            else:
                check_animation_output(p, opts.overwrite)
        name = opts.model or default_model()
        if opts.model is None and name != "srgan-x4" and not opts.quiet:
            print(f"superres: note: srgan-x4 weights are not installed; using {name}", file=sys.stderr)
        up = _load(name, opts)
        s = up.scale
        need_bic = (opts.compare or opts.also_bicubic) and name != "bicubic"
        bic = _bicubic_upscaler(s, opts.device, opts.tile) if need_bic else None
        w, h = info.size
        to_video = ANIMATION_OUTPUTS[out.suffix.lower()] == "VIDEO"
        wopts = {"loop": info.loop, "overwrite": opts.overwrite, "palette": opts.palette, "dither": opts.dither,
                 "quality": opts.quality, "alpha": info.has_alpha, "fps": info.fps}
        writers: dict[str, AnimationWriter] = {}
        audio = src if info.format == "VIDEO" and info.audio else None
        writers["main"] = AnimationWriter(out, audio_from=audio if to_video else None, **wopts)
        if "bicubic" in extra:
            writers["bicubic"] = AnimationWriter(extra["bicubic"], audio_from=audio if to_video else None, **wopts)
        if "compare" in extra:
            writers["compare"] = AnimationWriter(extra["compare"], audio_from=audio if to_video else None, **wopts)
        labels = [f"input {w}x{h} (nearest x{s})", "bicubic", name] if name != "bicubic" else \
            [f"input {w}x{h} (nearest x{s})", "bicubic"]
        builder = CompareBuilder(s, (w, h), labels) if opts.compare else None
        stab = Stabilizer(s, opts.stabilize_threshold, opts.stabilize_margin) if opts.stabilize else None
        meter, meter_near = FlickerMeter(s), FlickerMeter(s, margin=0)
        meter_b = FlickerMeter(s) if bic is not None else None
        stats = _Stats()
        bar = None
        if opts.progress:
            from tqdm import tqdm

            bar = tqdm(total=info.n_frames, unit="frame", desc=src.name, dynamic_ncols=True)
        try:
            bic_iter = None
            if bic is not None:
                # bicubic and the model see the same LR frames; bicubic runs at most a batch ahead
                bic_pairs = iter_upscaled(reader, bic)
                bic_buf: dict[int, Frame] = {}

                def lr_stream():
                    for lr, hb in bic_pairs:
                        bic_buf[lr.index] = hb
                        yield lr

                bic_iter = lr_stream()
            frames_in = bic_iter if bic_iter is not None else reader
            for lr, hr in iter_upscaled(frames_in, up, batch=opts.batch, stats=stats):
                if opts.color_fix:
                    hr = _fix_colours(lr, hr)
                if stab is not None:
                    hr = stab(lr, hr)
                meter.update(lr, hr)
                meter_near.update(lr, hr)
                writers["main"].write(hr)
                hb = hr if name == "bicubic" else (bic_buf.pop(lr.index) if bic is not None else None)
                if meter_b is not None:
                    meter_b.update(lr, hb)
                if "bicubic" in writers:
                    writers["bicubic"].write(hb)
                if builder is not None:
                    panels = [hb, hr] if name != "bicubic" else [hr]
                    writers["compare"].write(builder(lr, panels))
                if bar is not None:
                    bar.update(1)
            for wr in writers.values():
                wr.close()
        except BaseException:
            for wr in writers.values():
                wr.abort()
            raise
        finally:
            if bar is not None:
                bar.close()
        written = [extra[k] for k in ("bicubic", "compare") if k in extra]
        if "html" in extra:
            outputs = [(f"bicubic ({w * s}x{h * s})", extra["bicubic"])] if "bicubic" in extra else []
            outputs.append((f"{name} ({w * s}x{h * s})", out))
            write_compare_page(extra["html"], src, outputs, overwrite=opts.overwrite,
                               width=min(w * s, 640), compare=extra.get("compare"),
                               title=f"{src.name}: {name} x{s}",
                               note="The input is enlarged by the browser with nearest-neighbour (pixelated).")
            written.append(extra["html"])
    seconds = time.perf_counter() - t0
    return AnimateReport(src, out, name, stats.frames, (w, h), (w * s, h * s), seconds, out.stat().st_size,
                         meter.value, meter_b.value if meter_b is not None else None, stats.reused, written,
                         meter_near.value)
