"""The work behind ``superres serve``, free of any web framework (so it is tested without one).

Every function here calls the library's public API, the same code the commands
run: :func:`~superres.api.upscale_picture` (``superres upscale``),
:func:`~superres.compare.compare_hr` / :func:`~superres.compare.compare_lr` and
:func:`~superres.compare.render_figure` (``superres compare``),
:func:`~superres.animate.upscale_animation` (``superres animate``). Nothing is
upscaled, compared or animated a second way.

Uploads and results live in a :class:`Workspace`, one temporary folder that is
removed when the server stops; nothing is written outside it. Problems with an
upload raise :class:`~superres.errors.InputError` with a message that names the
file as the user called it (not the server's temporary path).
"""

from __future__ import annotations

import html
import shutil
import tempfile
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import InputError, SuperResError
from ..io.images import UPSCALE_INPUT_EXTENSIONS

__all__ = ["ServeSettings", "Workspace", "ModelChoice", "model_choices", "model_label", "check_upload", "ImageJob",
           "upscale_image_job", "CompareJob", "compare_job", "AnimationJob", "animation_job",
           "IMAGE_EXTENSIONS", "ANIMATION_EXTENSIONS", "public_message", "animation_html", "SERVE_MAX_PIXELS"]

#: still-image uploads (what ``superres upscale`` reads)
IMAGE_EXTENSIONS = tuple(sorted(UPSCALE_INPUT_EXTENSIONS))  # what superres upscale takes
#: uploads that may be animated (the first three may also be stills)
ANIMATION_EXTENSIONS = (".gif", ".png", ".apng", ".webp")

#: the server's default pixel limit: a 2000x2000 input gives a 64 MP output, about the most a
#: browser tab shows comfortably and a CPU upscales in minutes (the commands allow 50 MP)
SERVE_MAX_PIXELS = 4_000_000

#: progress(what, done, total): what is "tiles", "frames" or "models"; total may be None
Progress = Callable[[str, int, "int | None"], None]


@dataclass
class ServeSettings:
    """Limits and engine options of one server (from ``superres serve``'s options)."""

    max_pixels: int = SERVE_MAX_PIXELS
    max_upload_mb: float = 50.0
    device: str = "auto"
    tile: int | None = None
    precision: str = "auto"


class Workspace:
    """A temporary folder for uploads and results, removed by :meth:`cleanup`."""

    def __init__(self, parent: str | Path | None = None) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="superres-serve-", dir=parent))
        self.uploads = self.root / "uploads"  # the web framework's own upload cache
        self.results = self.root / "results"
        self.uploads.mkdir()
        self.results.mkdir()

    def job_dir(self) -> Path:
        """A fresh folder for one job's files (two jobs never share a file name)."""
        return Path(tempfile.mkdtemp(prefix="job-", dir=self.results))

    def cleanup(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self) -> "Workspace":
        return self

    def __exit__(self, *exc) -> None:
        self.cleanup()


# ---------------------------------------------------------------------------------------------
# models
# ---------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class ModelChoice:
    name: str
    description: str  # the registry's (or catalogue's) one-line description
    strength: bool = False  # has a GAN strength control (``--strength``: its MSE-trained partner is here too)

    @property
    def label(self) -> str:
        return f"{self.name}: {self.description}"


def model_choices() -> list[ModelChoice]:
    """Installed models (weights present, or none needed), the default first, then the catalogue's
    third-party models already in the cache (the server never downloads)."""
    from .. import catalogue
    from ..registry import STRENGTH_PAIRS, default_model, list_models

    default = default_model()
    entries = [e for e in list_models() if e.available()]
    entries.sort(key=lambda e: e.name != default)  # stable: registry order otherwise
    found = [(e.name, e.description) for e in entries]
    found += [(e.name, e.description) for e in catalogue.CATALOGUE.values() if e.kind == "model" and
              catalogue.is_cached(e)]
    here = {name for name, _ in found}
    return [ModelChoice(name, desc, name in STRENGTH_PAIRS and set(STRENGTH_PAIRS[name]) <= here)
            for name, desc in found]


def model_label(model: str, strength: float | None) -> str:
    """How a job names its model: ``srgan-x4`` or ``srgan-x4 (GAN strength 0.5)``."""
    return model if strength is None else f"{model} (GAN strength {strength:g})"


# ---------------------------------------------------------------------------------------------
# uploads
# ---------------------------------------------------------------------------------------------

def public_message(err: BaseException, path: str | Path | None, name: str | None) -> str:
    """The error's text with the server's temporary path replaced by the uploaded file's name."""
    msg = str(err)
    if path is not None and name:
        msg = msg.replace(str(path), name)
    return msg


def check_upload(path: str | Path | None, settings: ServeSettings, name: str | None = None) -> str:
    """``"image"`` or ``"animation"`` for an uploaded file, or :class:`InputError` saying what is wrong.

    Checks, in order: a file was given; its size against ``max_upload_mb``; its
    type by extension; then opens it (corrupt or truncated files and canvases
    over ``max_pixels`` fail here). GIF, PNG (APNG) and WebP files with more than
    one frame are animations; everything else is an image.
    """
    if path is None:
        raise InputError("no file: drop an image or an animation on the upload box first")
    path = Path(path)
    name = name or path.name
    if not path.is_file():
        raise InputError(f"{name}: the upload did not arrive; try again")
    size = path.stat().st_size
    if size > settings.max_upload_mb * 1e6:
        shown = f"{size / 1e6:.1f} MB" if size >= 1e6 else f"{size / 1e3:.1f} kB"
        raise InputError(f"{name} is {shown}, over this server's upload limit of "
                         f"{settings.max_upload_mb:g} MB (start it with a larger --max-upload-mb)")
    if size == 0:
        raise InputError(f"{name}: the file is empty (0 bytes)")
    ext = path.suffix.lower()
    if ext not in IMAGE_EXTENSIONS and ext not in ANIMATION_EXTENSIONS:
        raise InputError(f"{name}: unsupported file type {ext or '(no extension)'}; drop a PNG, JPEG, WebP, "
                         "TIFF or BMP image, or an animated GIF, WebP or APNG")
    if ext in ANIMATION_EXTENSIONS:
        from ..io.animation import open_animation

        try:
            with open_animation(path, max_pixels=settings.max_pixels) as reader:
                frames = reader.info.n_frames
        except SuperResError as e:
            if ext in (".png", ".webp"):  # most are stills: say what is wrong with it as an image
                _read_picture(path, name, settings)
            raise InputError(_limit_hint(public_message(e, path, name))) from None
        if frames is not None and frames > 1:
            return "animation"
    return "image"


def _limit_hint(msg: str) -> str:
    # the library suggests the commands' --max-pixels, which `superres serve` has too
    return msg.replace("raise it with --max-pixels", "start the server with a larger --max-pixels")


def _read_picture(path: Path, name: str, settings: ServeSettings):
    from .. import read_image

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            pic = read_image(path, max_pixels=settings.max_pixels)
        except SuperResError as e:
            raise InputError(_limit_hint(public_message(e, path, name))) from None
    notes = [public_message(w.message, path, name) for w in caught]
    return pic, notes


def _display_image(pic):
    """An 8-bit PIL image of a Picture for the browser (16-bit grey has no 8-bit PIL mode of its own)."""
    from ..io.images import to_pil

    if pic.bits == 16 and pic.grayscale and pic.alpha is None:
        pic = pic.with_pixels(np.repeat(pic.color, 3, axis=2), None)  # to_pil reduces RGB16 to 8 bits
    im = to_pil(pic)
    return im if im.mode in ("RGB", "RGBA", "L", "LA") else im.convert("RGBA")


def _save_png(im, path: Path) -> Path:
    im.save(path, format="PNG", compress_level=1)  # display copies: fast beats small
    return path


def _stem(name: str) -> str:
    return Path(name).stem or "image"


# ---------------------------------------------------------------------------------------------
# images
# ---------------------------------------------------------------------------------------------

@dataclass
class ImageJob:
    """Files and figures of an upscaled image."""

    download: Path  # <stem>_x4.png, as `superres upscale` names it (16-bit and alpha kept)
    before: Path  # the input enlarged to the output size (nearest or bicubic), 8-bit PNG
    after: Path  # the model's output, 8-bit PNG for display
    model: str
    in_size: tuple[int, int]
    out_size: tuple[int, int]
    seconds: float
    heatmap: Path | None = None
    heatmap_label: str = ""  # "What the GAN added: SRGAN vs SRResNet"
    notes: list[str] = field(default_factory=list)

    def summary(self) -> str:
        (w, h), (W, H) = self.in_size, self.out_size
        return f"{w}x{h} -> {W}x{H} with {self.model} in {self.seconds:.1f} s"


def upscale_image_job(path: str | Path, name: str, out_dir: Path, settings: ServeSettings, *,
                      model: str, outscale: float | None = None, alpha: str = "bicubic",
                      before: str = "nearest", heatmap: bool = False, strength: float | None = None,
                      progress: Progress | None = None) -> ImageJob:
    """Upscale one image as ``superres upscale NAME -m MODEL --outscale F --alpha A [--strength S]`` does.

    Also returns the input enlarged to the output size with ``before``
    (``nearest`` or ``bicubic``, the registry's interpolation models) for the
    slider, and with ``heatmap`` the "what the GAN added" map that
    ``superres compare --lr --diff`` draws.
    """
    from .. import Interpolation, make_upscaler, upscale_picture, write_image

    if before not in ("nearest", "bicubic"):
        raise SuperResError(f"before must be 'nearest' or 'bicubic', got {before!r}")
    path = Path(path)
    t0 = time.perf_counter()
    pic, notes = _read_picture(path, name, settings)
    up = make_upscaler(model, device=settings.device, tile=settings.tile, precision=settings.precision,
                       strength=strength)
    if outscale is not None and abs(outscale - up.scale) < 1e-9:
        outscale = None
    tiles = len(up.plan(*pic.color.shape[:2]))
    cb = (lambda done, total: progress("tiles", done, total)) if progress is not None else None
    if progress is not None:
        progress("tiles", 0, tiles)
    out = upscale_picture(pic, up, alpha=alpha, outscale=outscale, progress=cb)
    seconds = time.perf_counter() - t0
    download = out_dir / f"{_stem(name)}_x4.png"  # the command's default name (suffix _x4, PNG)
    write_image(out, download)
    after = _save_png(_display_image(out), out_dir / "after.png")
    # the input enlarged to the same size by the interpolation model (the registry's nearest/bicubic),
    # at the final scale itself when it is whole, so "nearest" stays pure nearest
    final = outscale if outscale is not None else up.scale
    k = int(round(final)) if abs(final - round(final)) < 1e-9 else up.scale
    interp = make_upscaler(Interpolation(before, scale=k), device="cpu", tile=settings.tile, precision="fp32")
    big = upscale_picture(pic, interp, alpha="bicubic", outscale=None if k == final else final)
    before_png = _save_png(_display_image(big), out_dir / "before.png")
    job = ImageJob(download, before_png, after, model_label(model, strength), pic.size, out.size, seconds,
                   notes=notes)
    if pic.alpha is not None:
        job.notes.append(f"transparency upscaled with {alpha}")
    if pic.bits == 16:
        job.notes.append("16-bit input: the download keeps 16 bits per channel (the preview shows 8)")
    if heatmap:
        _add_heatmap(job, path, name, out_dir, settings, progress)
    return job


def _add_heatmap(job: ImageJob, path: Path, name: str, out_dir: Path, settings: ServeSettings,
                 progress: Progress | None) -> None:
    from ..compare import DEFAULT_DIFF, compare_lr, load_rgb

    installed = {c.name for c in model_choices()}
    lacking = [n for n in DEFAULT_DIFF if n not in installed]
    if lacking:
        job.notes.append(f"'what the GAN added' compares {' and '.join(DEFAULT_DIFF)}; the weights of "
                         f"{' and '.join(lacking)} are not installed")
        return
    rgb, _ = load_rgb(path, settings.max_pixels)
    cb = (lambda done, total, _name: progress("models", done, total)) if progress is not None else None
    comp = compare_lr(rgb, list(DEFAULT_DIFF), name=name, diff=DEFAULT_DIFF, device=settings.device,
                      tile=settings.tile, progress=cb)
    if comp.diff is None:
        job.notes += [n for n in comp.notes if "GAN added" in n]
        return
    job.heatmap = _save_png(_pil(comp.diff.image), out_dir / "gan_added.png")
    job.heatmap_label = comp.diff.label
    job.notes.append(f"{comp.diff.label}: {comp.diff.caption}")


def _pil(arr: np.ndarray):
    from PIL import Image

    return Image.fromarray(arr)


# ---------------------------------------------------------------------------------------------
# HR mode: shrink 1/4, upscale back, compare with the original
# ---------------------------------------------------------------------------------------------

@dataclass
class CompareJob:
    download: Path  # <stem>_compare.png, the figure `superres compare` writes
    figure: Path
    before: Path | None  # slider pair (bicubic | model), 8-bit PNGs
    after: Path | None
    rows: list[tuple[str, float | None, float | None, float | None, float | None]]  # label, PSNR, SSIM, LPIPS, s
    heatmap: Path | None = None
    heatmap_label: str = ""  # "What the GAN added: SRGAN vs SRResNet"
    notes: list[str] = field(default_factory=list)
    slider_labels: tuple[str, str] = ("", "")

    def table_markdown(self) -> str:
        def f(v, spec):
            return "n/a" if v is None else format(v, spec)

        lines = ["| method | PSNR-Y (dB) | SSIM-Y | LPIPS | time (s) |", "|---|---:|---:|---:|---:|"]
        lines += [f"| {html.escape(label)} | {f(p, '.2f')} | {f(s, '.4f')} | {f(lp, '.4f')} | {f(t, '.2f')} |"
                  for label, p, s, lp, t in self.rows]
        return "\n".join(lines)


def compare_job(path: str | Path, name: str, out_dir: Path, settings: ServeSettings, *, model: str,
                lpips: bool = True, heatmap: bool = False, progress: Progress | None = None) -> CompareJob:
    """``superres compare NAME --models bicubic,MODEL [--diff]``: panels [bicubic | MODEL | original]."""
    from ..compare import DEFAULT_DIFF, compare_hr, load_rgb, render_figure

    path = Path(path)
    try:
        rgb, notes = load_rgb(path, settings.max_pixels)
    except SuperResError as e:
        raise InputError(_limit_hint(public_message(e, path, name))) from None
    models = ["bicubic"] if model == "bicubic" else ["bicubic", model]
    cb = (lambda done, total, _name: progress("models", done, total)) if progress is not None else None
    comp = compare_hr(rgb, models, name=name, diff=DEFAULT_DIFF if heatmap else None, lpips=lpips,
                      device=settings.device, tile=settings.tile, progress=cb)
    comp.notes[:0] = notes
    download = out_dir / f"{_stem(name)}_compare.png"  # the command's default name
    render_figure(comp).save(download, format="PNG")
    pair = comp.slider_pair()
    before = after = None
    if pair is not None:
        before = _save_png(_pil(pair[0].image), out_dir / "before.png")
        after = _save_png(_pil(pair[1].image), out_dir / "after.png")
    rows = [(p.label, p.psnr, p.ssim, p.lpips, p.seconds) for p in comp.methods]
    job = CompareJob(download, download, before, after, rows, notes=list(comp.notes),
                     slider_labels=(pair[0].label, pair[1].label) if pair is not None else ("", ""))
    if comp.lpips_note and lpips:
        job.notes.append(f"LPIPS: {comp.lpips_note}")
    if comp.diff is not None:
        job.heatmap = _save_png(_pil(comp.diff.image), out_dir / "gan_added.png")
        job.heatmap_label = comp.diff.label
        job.notes.append(f"{comp.diff.label}: {comp.diff.caption}")
    return job


# ---------------------------------------------------------------------------------------------
# animations
# ---------------------------------------------------------------------------------------------

@dataclass
class AnimationJob:
    input: Path
    download: Path  # <stem>_x4.<ext>, as `superres animate` names it
    model: str
    frames: int
    in_size: tuple[int, int]
    out_size: tuple[int, int]
    seconds: float
    notes: list[str] = field(default_factory=list)

    def summary(self) -> str:
        (w, h), (W, H) = self.in_size, self.out_size
        return (f"{self.frames} frames, {w}x{h} -> {W}x{H} with {self.model} in {self.seconds:.1f} s "
                f"({self.frames / max(self.seconds, 1e-9):.1f} frames/s)")


def animation_job(path: str | Path, name: str, out_dir: Path, settings: ServeSettings, *, model: str,
                  strength: float | None = None, progress: Progress | None = None) -> AnimationJob:
    """``superres animate NAME -m MODEL [--strength S]``: every frame, timing and loop kept, same format out."""
    from .. import upscale_animation
    from ..api import cached_model
    from ..animate import default_output

    path = Path(path)
    src_name = Path(name).name if Path(name).suffix else f"{name}{path.suffix}"
    out = out_dir / default_output(Path(src_name)).name
    cb = (lambda done, total: progress("frames", done, total)) if progress is not None else None
    try:
        net = model if strength is None else cached_model(model, settings.device, strength=strength)
        res = upscale_animation(path, net, device=settings.device, tile=settings.tile,
                                precision=settings.precision, output=out, max_pixels=settings.max_pixels,
                                progress=cb)
    except InputError as e:
        raise InputError(_limit_hint(public_message(e, path, name))) from None
    w, h = res.info.size
    s = res.scale
    notes = []
    if res.reused:
        notes.append(f"{res.reused} frame{'s' if res.reused != 1 else ''} repeated the previous one "
                     "(not run through the network again)")
    return AnimationJob(path, out, model_label(model, strength), res.n_frames, (w, h), (w * s, h * s), res.seconds,
                        notes)


def animation_html(input_url: str, output_url: str, in_size: tuple[int, int], out_size: tuple[int, int],
                   model: str, width: int | None = None) -> str:
    """Input and output animations at the same CSS width, the input enlarged by the browser with
    nearest-neighbour (``image-rendering: pixelated``), as ``superres animate --compare``'s page shows them."""
    w = int(width or min(out_size[0], 640))  # as `superres animate --compare`'s page
    (iw, ih), (ow, oh) = in_size, out_size
    fig = ('<figure style="margin:0"><img src="{src}" alt="{alt}" class="{cls}" '
           'style="width:{w}px;height:auto;display:block;background:#eee;{extra}">'
           '<figcaption style="font-size:14px;padding:4px 0">{cap}</figcaption></figure>')
    a = fig.format(src=html.escape(input_url, quote=True), alt="input", cls="sr-anim-in", w=w,
                   extra="image-rendering:pixelated;", cap=html.escape(f"input {iw}x{ih} (shown with nearest)"))
    b = fig.format(src=html.escape(output_url, quote=True), alt="output", cls="sr-anim-out", w=w, extra="",
                   cap=html.escape(f"{model} {ow}x{oh}"))
    return (f'<div class="sr-anim" style="display:flex;flex-wrap:wrap;gap:12px">{a}{b}</div>'
            f'<p style="font-size:13px">Both are shown at the same width ({w} px).</p>')
