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

:class:`AnimationPipeline` is the one frame loop: :func:`upscale_animation`
(frames or a file in, frames or a file out) and :func:`animate_file` (a file in,
the output plus bicubic/side-by-side/HTML files out; what ``superres animate``
runs) both run it, so the API and the command give the same frames. The side-by-side frames (:class:`~superres.reports.frames.CompareBuilder`)
and the HTML page (:func:`~superres.reports.html.write_compare_page`) are
reports, re-exported here.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .errors import OutputError
from .inference.upscaler import DEFAULT_PRECISION, MAX_FRAMES_PER_BATCH
from .io.animation import (
    ANIMATION_OUTPUTS,
    AnimationInfo,
    AnimationWriter,
    Frame,
    check_animation_output,
    absdiff_max,
    frames_from_objects,
    open_animation,
)
from .io.images import DEFAULT_MAX_PIXELS
from .ops import bleed, enlarge_nearest, resize_array
from .reports.frames import CompareBuilder
from .reports.html import EMBED_LIMIT, compare_html, write_compare_page

__all__ = ["upscale_animation", "AnimationResult", "AnimationPipeline", "Stabilizer", "FlickerMeter",
           "CompareBuilder", "iter_upscaled", "auto_batch", "bleed", "compare_html", "write_compare_page",
           "bicubic_upscaler", "FLICKER_SUPPORT", "EMBED_LIMIT", "AnimateOptions", "AnimateReport", "animate_file", "default_output", "side_outputs"]

#: at most this many frames go through the network at once
MAX_BATCH = MAX_FRAMES_PER_BATCH


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
            m = enlarge_nearest(changed, self.scale)
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
                m = enlarge_nearest(static, self.scale)
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
    """Frames per network call (:meth:`Upscaler.frames_per_batch <superres.inference.Upscaler.frames_per_batch>`):
    0 when a frame needs tiling, else as many as fit the memory budget, at most ``max_batch``."""
    return upscaler.frames_per_batch(height, width, max_batch)


def _run_batch(upscaler, frames: list[Frame], batch: int) -> list[np.ndarray]:
    """uint8 (sH, sW, 3) outputs for LR frames; colour under transparent pixels is filled in
    first (:func:`~superres.ops.bleed`), so no dark fringe."""
    return upscaler.upscale_batch([bleed(f.rgb, f.alpha) for f in frames], batch)


def _upscale_alpha(alpha: np.ndarray | None, scale: int) -> np.ndarray | None:
    if alpha is None:
        return None
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


class AnimationPipeline:
    """The one frame loop behind :func:`upscale_animation` and ``superres animate``.

    Iterating :meth:`run` over LR frames yields ``(lr, hr, bicubic)`` triples in
    order: ``hr`` from ``upscaler`` (colour from bicubic when ``color_fix``, then
    stabilised when a :class:`Stabilizer` is given), ``bicubic`` from the ``bicubic``
    upscaler (None without one; ``hr`` itself when ``model_is_bicubic``). Flicker is
    measured on the way (:attr:`flicker`, :attr:`flicker_near`, :attr:`flicker_bicubic`) and
    :attr:`stats` counts frames and reused repeats. Writing, keeping frames and
    progress are the caller's.

    Bicubic and the model see the same LR frames; bicubic runs at most a batch ahead.
    """

    def __init__(self, upscaler, *, bicubic=None, model_is_bicubic: bool = False, batch: int | None = None,
                 stabilizer: Stabilizer | None = None, color_fix: bool = False) -> None:
        s = upscaler.scale
        self.upscaler = upscaler
        self.bicubic = bicubic
        self.model_is_bicubic = model_is_bicubic
        self.batch = batch
        self.stabilizer = stabilizer
        self.color_fix = color_fix
        self.stats = _Stats()
        self.meter, self.meter_near = FlickerMeter(s), FlickerMeter(s, margin=0)
        self.meter_bicubic = FlickerMeter(s) if bicubic is not None else None

    def run(self, frames: Iterable[Frame]) -> Iterator[tuple[Frame, Frame, Frame | None]]:
        bic_buf: dict[int, Frame] = {}
        lr_stream: Iterable[Frame] = frames
        if self.bicubic is not None:
            def tee(pairs):
                for lr, hb in pairs:
                    bic_buf[lr.index] = hb
                    yield lr

            lr_stream = tee(iter_upscaled(frames, self.bicubic))
        for lr, hr in iter_upscaled(lr_stream, self.upscaler, batch=self.batch, stats=self.stats):
            if self.color_fix:
                hr = _fix_colours(lr, hr)
            if self.stabilizer is not None:
                hr = self.stabilizer(lr, hr)
            self.meter.update(lr, hr)
            self.meter_near.update(lr, hr)
            if self.model_is_bicubic:
                hb = hr
            else:
                hb = bic_buf.pop(lr.index) if self.bicubic is not None else None
            if self.meter_bicubic is not None and hb is not None:
                self.meter_bicubic.update(lr, hb)
            yield lr, hr, hb

    @property
    def flicker(self) -> float | None:
        return self.meter.value

    @property
    def flicker_near(self) -> float | None:
        return self.meter_near.value

    @property
    def flicker_bicubic(self) -> float | None:
        return self.meter_bicubic.value if self.meter_bicubic is not None else None


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
                      precision: str = DEFAULT_PRECISION, batch: int | None = None, stabilize: bool = False,
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
    pipe = AnimationPipeline(up, bicubic=bicubic_upscaler(up.scale, device, tile) if bicubic else None,
                             batch=batch,
                             stabilizer=Stabilizer(up.scale, stabilize_threshold, stabilize_margin) if stabilize
                             else None, color_fix=color_fix)
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
    out_frames: list[Frame] = []
    bic_frames: list[Frame] | None = [] if bicubic else None
    try:
        for _lr, hr, hb in pipe.run(frames_in):
            if writer is not None:
                writer.write(hr)
            if keep:
                out_frames.append(hr)
                if bic_frames is not None:
                    bic_frames.append(hb)
            if progress is not None:
                progress(pipe.stats.frames, info.n_frames)
        path = writer.close() if writer is not None else None
    except BaseException:
        if writer is not None:
            writer.abort()
        raise
    finally:
        if closer is not None:
            closer()
    seconds = time.perf_counter() - t0
    return AnimationResult(out_frames, info, name, up.scale, seconds, pipe.stats.frames, bic_frames, pipe.flicker,
                           pipe.flicker_bicubic, pipe.stats.reused, path, pipe.flicker_near)


def _fix_colours(lr: Frame, hr: Frame) -> Frame:
    """``hr`` with the colour (chroma) of ``lr`` enlarged by bicubic (:func:`superres.colorfix.fix_chroma`)."""
    from .colorfix import fix_chroma

    return Frame(fix_chroma(hr.rgb, lr.rgb), hr.alpha, hr.duration_ms, hr.index)


def bicubic_upscaler(scale: int, device: str = "auto", tile: int | None = None):
    """The bicubic baseline at the model's scale (the registry's ``bicubic`` is 4x), always fp32."""
    from .api import make_upscaler
    from .models import Interpolation
    from .models.base import describe

    return make_upscaler(describe(Interpolation("bicubic", scale=scale), name="bicubic"), device=device, tile=tile,
                         precision="fp32")


# ---------------------------------------------------------------------------
# file to files (what superres animate runs)
# ---------------------------------------------------------------------------

@dataclass
class AnimateOptions:
    model: str | None = None
    tile: int | None = None
    tile_pad: int | None = None
    device: str = "auto"
    precision: str = DEFAULT_PRECISION
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


def animate_file(src: str | os.PathLike, output: str | os.PathLike | None, opts: AnimateOptions, *,
                 note: Callable[[str], None] | None = None,
                 progress: Callable[[int, int | None], None] | None = None) -> AnimateReport:
    """Read ``src``, upscale every frame, write ``output`` (and the bicubic/compare files), streaming.

    The file-to-files form of :func:`upscale_animation` (the same :class:`AnimationPipeline`),
    which ``superres animate`` runs: output names and checks, one writer per output, the
    side-by-side frames and the HTML page. ``note(text)`` receives remarks for the user (the
    default model's weights missing); ``progress(done, total)`` is called after each frame
    (``superres animate`` draws its bar with it). Without a callback, ``opts.progress`` shows a
    plain progress bar on stderr.

    Raises :class:`~superres.errors.InputError` (exit code 1) for an input
    that cannot be read and other :class:`~superres.errors.SuperResError` (exit code 2)
    for usage problems; nothing is left behind when it fails.
    """
    from .registry import default_model, fallback_note

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
        remark = fallback_note(name) if opts.model is None else None
        if remark and note is not None:
            note(remark)
        up = _load(name, opts)
        s = up.scale
        need_bic = (opts.compare or opts.also_bicubic) and name != "bicubic"
        bic = bicubic_upscaler(s, opts.device, opts.tile) if need_bic else None
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
        pipe = AnimationPipeline(up, bicubic=bic, model_is_bicubic=name == "bicubic", batch=opts.batch,
                                 stabilizer=stab, color_fix=opts.color_fix)
        bar = None
        if opts.progress and progress is None:
            from tqdm import tqdm

            bar = tqdm(total=info.n_frames, unit="frame", desc=src.name, dynamic_ncols=True)
        try:
            if progress is not None:
                progress(0, info.n_frames)
            for lr, hr, hb in pipe.run(reader):
                writers["main"].write(hr)
                if "bicubic" in writers:
                    writers["bicubic"].write(hb)
                if builder is not None:
                    panels = [hb, hr] if name != "bicubic" else [hr]
                    writers["compare"].write(builder(lr, panels))
                if bar is not None:
                    bar.update(1)
                if progress is not None:
                    progress(pipe.stats.frames, info.n_frames)
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
    return AnimateReport(src, out, name, pipe.stats.frames, (w, h), (w * s, h * s), seconds, out.stat().st_size,
                         pipe.flicker, pipe.flicker_bicubic, pipe.stats.reused, written, pipe.flicker_near)
