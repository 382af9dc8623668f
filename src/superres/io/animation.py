"""Animations in and out: GIF (composed as browsers show it), APNG, animated WebP, video.

Reading
-------
:func:`open_animation` returns an :class:`AnimationReader`. Its ``info`` (an
:class:`AnimationInfo`: canvas size, frame count, durations, loop count, whether
transparency can occur) is known before any pixel is decoded, and iterating the
reader yields :class:`Frame` objects one at a time, so a long animation is never
decoded into memory as a whole. Video files (MP4, WebM, MOV, ...) go to
:mod:`superres.io.video`, which needs PyAV (``pip install 'superres[video]'``).

GIF frames are composed by this module (Pillow only decodes each frame's LZW
data, wrapped in a one-frame GIF), following what Chrome, Firefox and Safari do:

* the canvas starts transparent; the background colour index is ignored;
* a frame is drawn at its offset, clipped to the canvas, with its local colour
  table or else the global one; pixels of its transparent index are not drawn;
* after its delay a frame is disposed: 0 (unspecified) and 1 (none) leave it,
  2 (background) clears its rectangle to transparent, 3 (previous) restores the
  rectangle to what it was before the frame was drawn (4, which some old
  encoders write for "previous", is read as 3; 5-7 as none);
* a first frame larger than the logical screen enlarges the canvas;
* a delay of 0 or 10 ms is shown for 100 ms (the browsers' minimum, see
  :func:`browser_delay_ms`); the same rule is applied to APNG and WebP delays;
* a file cut short keeps the frames before the damage, with a warning.

APNG and WebP are read through Pillow, which composes them.

Writing
-------
:class:`AnimationWriter` (and :func:`write_animation` for an iterable of
frames) streams frames into a temporary file beside the target that is renamed
into place on :meth:`~AnimationWriter.close`; the format comes from the
extension (:data:`ANIMATION_OUTPUTS`) and an existing file is never replaced
without ``overwrite=True``.

* GIF: own container, frames LZW-coded by Pillow. Each frame stores only the
  rectangle that changed, with unchanged pixels inside it transparent (they keep
  what is shown), a palette made for the changed pixels (``palette="adaptive"``,
  a local table per frame) or one global palette from the first frames
  (``palette="global"``), optional Floyd-Steinberg ``dither``. Alpha becomes
  1-bit (opaque where alpha >= 128); pixels that turn transparent are cleared
  through the previous frame's disposal. Frame count, delays and loop count are
  kept.
* APNG: own chunk writer, each frame's changed rectangle, lossless.
* WebP: libwebp's animation encoder (lossy ``quality``, or lossless).
* MP4/MOV/WebM/MKV: :class:`superres.io.video.VideoEncoder`.

``loop`` follows the GIF convention everywhere: 0 = forever, ``None`` = play
once, N = repeat N more times (APNG/WebP store plays = N + 1).

Layout
------
This module is the entry point: it picks a codec by content (reading) or by
extension (writing). Frame types and the reader/encoder protocols are in
:mod:`.frames`; each codec has its own module: :mod:`.gif`, :mod:`.apng`,
:mod:`.webp`, :mod:`.pillow_reader` (APNG/WebP/stills read through Pillow) and
:mod:`.video`. A new codec is a :class:`~superres.io.frames.FrameEncoder`
(and/or a function returning an :class:`AnimationReader`) in a new module, one
entry in :data:`ANIMATION_OUTPUTS` and one branch in :func:`open_animation` /
:meth:`AnimationWriter._start`.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

from ..errors import InputError, OutputError
from ..fileio import file_mode, temporary_path
from .apng import ApngEncoder
from .frames import (
    ANIMATION_OUTPUTS,
    DEFAULT_DELAY_MS,
    VIDEO_EXTENSIONS,
    VIDEO_INSTALL_HINT,
    Animation,
    AnimationInfo,
    AnimationReader,
    Frame,
    FrameEncoder,
    absdiff_max,
    browser_delay_ms,
    frames_from_objects,
)
from .gif import GifEncoder, open_gif
from .images import DEFAULT_MAX_PIXELS
from .pillow_reader import open_pillow
from .webp import WebpEncoder

__all__ = ["Frame", "AnimationInfo", "Animation", "AnimationReader", "open_animation", "read_animation",
           "AnimationWriter", "write_animation", "check_animation_output", "browser_delay_ms",
           "ANIMATION_OUTPUTS", "VIDEO_EXTENSIONS", "DEFAULT_DELAY_MS", "VIDEO_INSTALL_HINT", "absdiff_max",
           "frames_from_objects"]


# ---------------------------------------------------------------------------
# opening
# ---------------------------------------------------------------------------

def _sniff(head: bytes) -> str:
    if head[:6] in (b"GIF87a", b"GIF89a"):
        return "GIF"
    if head[:8] == b"\x89PNG\r\n\x1a\n":
        return "PNG"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "WEBP"
    if head[4:8] == b"ftyp" or head[:4] == b"\x1aE\xdf\xa3" or (head[:4] == b"RIFF" and head[8:12] == b"AVI "):
        return "VIDEO"
    return ""


def open_animation(path: str | os.PathLike, *, max_pixels: int | None = DEFAULT_MAX_PIXELS) -> AnimationReader:
    """Open an animated GIF, APNG, WebP, any still image Pillow reads, or a video file.

    Raises :class:`~superres.errors.InputError` (an :class:`InputError`) for missing, empty, unreadable or oversized files
    (``max_pixels`` bounds the canvas), and names the install command when a
    video needs PyAV.
    """
    path = Path(path)
    if not path.exists():
        raise InputError(f"{path}: no such file")
    if path.is_dir():
        raise InputError(f"{path}: is a folder; give an animation file (GIF, APNG, WebP or video)")
    if path.stat().st_size == 0:
        raise InputError(f"{path}: the file is empty (0 bytes)")
    with open(path, "rb") as f:
        head = f.read(16)
    kind = _sniff(head)
    if kind == "GIF":
        return open_gif(path, max_pixels)
    if kind == "VIDEO" or (not kind and path.suffix.lower() in VIDEO_EXTENSIONS):
        from .video import (
            open_video,  # needs PyAV; raises InputError naming the install command
        )

        return open_video(path, max_pixels=max_pixels)
    return open_pillow(path, max_pixels)


def read_animation(source, *, durations: int | list[int] | None = None, loop: int | None = 0,
                   max_pixels: int | None = DEFAULT_MAX_PIXELS) -> Animation:
    """All frames of ``source`` in memory: a path, or an iterable of frames.

    Frames may be :class:`Frame` objects, PIL images or uint8 arrays (H, W, 3|4),
    all the same size; ``durations`` (ms, one number or one per frame; default
    100) and ``loop`` apply to frames given directly.
    """
    if isinstance(source, (str, os.PathLike)):
        with open_animation(source, max_pixels=max_pixels) as reader:
            return Animation(list(reader), reader.info)
    frames, info = frames_from_objects(source, durations=durations, loop=loop)
    return Animation(list(frames), info)


# ---------------------------------------------------------------------------
# writing
# ---------------------------------------------------------------------------

def check_animation_output(path: str | os.PathLike, overwrite: bool = False) -> Path:
    """Validate an animation output path before any work (raises :class:`OutputError`)."""
    from .images import check_output_path

    return check_output_path(path, overwrite, formats=ANIMATION_OUTPUTS, kind="animation")


class AnimationWriter:
    """Write an animation frame by frame; the file appears, complete, on :meth:`close`.

    Args:
        path: output file; its extension picks the format (:data:`ANIMATION_OUTPUTS`).
        loop: 0 = forever (default), None = play once, N = repeat N more times.
        overwrite: replace an existing file.
        palette: GIF only: ``adaptive`` (a colour table per frame, best colours) or
            ``global`` (one table from the first frames: smaller, steadier colours).
        dither: GIF only: Floyd-Steinberg dithering (smoother gradients, larger files).
        quality: WebP/video quality 0-100 (WebP default 90; video: see :mod:`.video`).
        lossless: WebP lossless.
        alpha: APNG: store an alpha channel (default True; False flattens onto white).
        audio_from: video only: copy the audio of this video file.
        fps: video only: nominal frame rate (timestamps follow the frame durations).
    """

    def __init__(self, path: str | os.PathLike, *, loop: int | None = 0, overwrite: bool = False,
                 palette: str = "adaptive", dither: bool = False, quality: int | None = None,
                 lossless: bool = False, alpha: bool | None = None, audio_from: str | os.PathLike | None = None,
                 fps: float | None = None) -> None:
        self.path = check_animation_output(path, overwrite)
        self.format = ANIMATION_OUTPUTS[self.path.suffix.lower()]
        if palette not in ("adaptive", "global"):
            raise ValueError(f"palette must be 'adaptive' or 'global', got {palette!r}")
        if self.format == "VIDEO":
            from .video import require_av

            require_av(f"writing {self.path.suffix} video", OutputError)
        self.opts = {"loop": loop, "palette": palette, "dither": dither, "quality": quality, "lossless": lossless,
                     "alpha": alpha, "audio_from": audio_from, "fps": fps}
        self.overwrite = overwrite
        self.frames_written = 0
        self.size: tuple[int, int] | None = None
        self._enc: FrameEncoder | None = None
        self._fp = None
        self._tmp: Path | None = None
        self._alpha_warned = False

    def _start(self, size: tuple[int, int]) -> None:
        self._tmp = temporary_path(self.path)  # renamed into place by close()
        o = self.opts
        if self.format == "VIDEO":
            from .video import VideoEncoder

            self._enc = VideoEncoder(self._tmp, size, container=self.path.suffix.lower(), fps=o["fps"],
                                     quality=o["quality"], audio_from=o["audio_from"])
            return
        self._fp = open(self._tmp, "w+b")
        if self.format == "GIF":
            self._enc = GifEncoder(self._fp, size, o["loop"], o["palette"], o["dither"])
        elif self.format == "APNG":
            self._enc = ApngEncoder(self._fp, size, o["loop"], o["alpha"])
        else:
            self._enc = WebpEncoder(self._fp, size, o["loop"], o["quality"], o["lossless"])

    def write(self, frame, duration_ms: int | None = None) -> None:
        """Add one frame (a :class:`Frame`, PIL image or uint8 array); durations default to 100 ms."""
        fr = Frame.from_any(frame, DEFAULT_DELAY_MS if duration_ms is None else duration_ms, self.frames_written)
        if duration_ms is not None and isinstance(frame, Frame):
            fr = Frame(fr.rgb, fr.alpha, int(duration_ms), fr.index)
        if self.size is None:
            self.size = fr.size
            try:
                self._start(fr.size)
            except BaseException:
                self.abort()
                raise
        elif fr.size != self.size:
            self.abort()
            raise InputError(f"frame {self.frames_written} is {fr.size[0]}x{fr.size[1]} but the animation is "
                             f"{self.size[0]}x{self.size[1]}; all frames must be the same size")
        try:
            self._enc.add(fr)
        except BaseException:
            self.abort()
            raise
        self.frames_written += 1

    def close(self) -> Path:
        """Finish the file and move it into place; returns its path."""
        if self._enc is None:
            self.abort()
            raise OutputError(f"{self.path}: no frames were written")
        try:
            self._enc.finish()
            if self._fp is not None:
                self._fp.flush()
                self._fp.close()
                self._fp = None
            os.chmod(self._tmp, file_mode())
            if self.path.exists() and not self.overwrite:  # appeared while we worked
                raise OutputError(f"{self.path} already exists; pass --overwrite to replace it")
            os.replace(self._tmp, self.path)
        except BaseException as e:
            self.abort()
            if isinstance(e, OSError) and not isinstance(e, OutputError):
                raise OutputError(f"cannot write {self.path}: {e.strerror or e}") from None
            raise
        self._tmp = None
        self._enc = None
        return self.path

    def abort(self) -> None:
        """Drop the partial file (nothing appears at ``path``)."""
        if self._fp is not None:
            try:
                self._fp.close()
            except OSError:
                pass
            self._fp = None
        if self._enc is not None and hasattr(self._enc, "abort"):
            self._enc.abort()
        self._enc = None
        if self._tmp is not None:
            self._tmp.unlink(missing_ok=True)
            self._tmp = None

    def __enter__(self) -> "AnimationWriter":
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()


def write_animation(frames: Iterable, path: str | os.PathLike, *, durations: int | list[int] | None = None,
                    **options) -> Path:
    """Write ``frames`` (Frames, PIL images or uint8 arrays) to ``path``; options as :class:`AnimationWriter`.

    ``frames`` may be a generator: frames are written as they come. ``durations``
    (ms, one number or one per frame) overrides the frames' own.
    """
    writer = AnimationWriter(path, **options)
    try:
        for i, fr in enumerate(frames):
            d = durations[i] if isinstance(durations, (list, tuple)) else durations
            writer.write(fr, d)
    except BaseException:
        writer.abort()
        raise
    return writer.close()
