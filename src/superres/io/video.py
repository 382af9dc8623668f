"""Video in and out through PyAV (the optional ``video`` extra: ``pip install 'superres[video]'``).

Frames are decoded one at a time (:func:`open_video` yields
:class:`~superres.io.animation.Frame` objects as RGB, each with its display
time from the timestamps), so a long video never sits in memory decoded.
:class:`VideoEncoder` encodes frames as they come: H.264 (``libx264``, CRF) for
MP4/MOV/MKV, VP9 for WebM, with timestamps from the frame durations (variable
frame rate is kept), and copies the audio of a source video into the output
(re-encoded to AAC/Opus when the container cannot hold the source codec).

PyAV is imported only when a video is opened or written (:func:`require_av`),
and nothing imports this module before that, so ``import superres`` and
``superres --help`` work without PyAV; a missing PyAV is an error that names
the install command.
"""

from __future__ import annotations

import os
import warnings
from fractions import Fraction
from pathlib import Path

import numpy as np

from ..errors import InputError, OutputError, SuperResError
from .frames import (
    VIDEO_INSTALL_HINT,
    AnimationInfo,
    AnimationReader,
    Frame,
    FrameEncoder,
    check_pixels,
    flatten,
)
from .images import DEFAULT_MAX_PIXELS

__all__ = ["require_av", "open_video", "VideoEncoder", "CONTAINERS"]

#: output extension -> (PyAV container format, video codec, audio codec for re-encoding)
CONTAINERS = {
    ".mp4": ("mp4", "libx264", "aac"),
    ".m4v": ("mp4", "libx264", "aac"),
    ".mov": ("mov", "libx264", "aac"),
    ".mkv": ("matroska", "libx264", "aac"),
    ".webm": ("webm", "libvpx-vp9", "libopus"),
}

#: audio codecs each container takes as they are (others are re-encoded)
_COPYABLE_AUDIO = {
    "mp4": {"aac", "mp3", "alac", "ac3", "eac3", "opus", "flac"},
    "mov": {"aac", "mp3", "alac", "ac3", "pcm_s16le", "pcm_s16be", "pcm_s24le"},
    "matroska": {"aac", "mp3", "opus", "vorbis", "flac", "ac3", "eac3", "pcm_s16le"},
    "webm": {"opus", "vorbis"},
}


def require_av(what: str = "reading video", error: type[SuperResError] = InputError):
    """Import and return PyAV, or raise ``error`` naming the install command."""
    try:
        import av
    except ImportError:
        raise error(f"{what} needs PyAV, which is not installed; install it with: {VIDEO_INSTALL_HINT}") from None
    return av


def _first_line(e: BaseException) -> str:
    text = str(e).strip()
    return text.splitlines()[0] if text else type(e).__name__


def open_video(path: str | os.PathLike, *, max_pixels: int | None = DEFAULT_MAX_PIXELS) -> AnimationReader:
    """Open a video file; the reader yields RGB frames with their display durations."""
    path = Path(path)
    av = require_av(f"reading {path.suffix or 'video'} files")
    try:
        container = av.open(str(path))
    except Exception as e:  # noqa: BLE001 - FFmpeg errors come in many types
        raise InputError(f"{path}: not a video PyAV can read, or the file is damaged ({_first_line(e)})") from None
    try:
        if not container.streams.video:
            raise InputError(f"{path}: the file has no video stream")
        vs = container.streams.video[0]
        w, h = vs.codec_context.width, vs.codec_context.height
        check_pixels(path, w, h, max_pixels)
        if w < 1 or h < 1:
            raise InputError(f"{path}: the video has no picture size; the file is damaged")
        rate = vs.average_rate or vs.guessed_rate
        fps = float(rate) if rate else None
        n = int(vs.frames or 0)
        if not n and vs.duration and vs.time_base and fps:
            n = max(1, round(float(vs.duration * vs.time_base) * fps))
        elif not n and container.duration and fps:
            n = max(1, round(container.duration / 1_000_000 * fps))
        info = AnimationInfo("VIDEO", (w, h), n or None, None, None, False, fps=fps,
                             audio=bool(container.streams.audio), path=path)
        info.extra["codec"] = vs.codec_context.name
    except BaseException:
        container.close()
        raise
    return AnimationReader(info, _frames(path, container, vs, fps), container.close)


def _frames(path: Path, container, vs, fps: float | None):
    vs.thread_type = "AUTO"
    default_ms = 1000.0 / fps if fps else 40.0
    pending = None  # (rgb, time in s): a frame's duration is known when the next one arrives
    index = 0
    try:
        for frame in container.decode(vs):
            t = frame.time
            rgb = frame.to_ndarray(format="rgb24")
            if pending is not None:
                prev_rgb, prev_t = pending
                ms = (t - prev_t) * 1000.0 if (t is not None and prev_t is not None) else default_ms
                yield Frame(prev_rgb, None, max(1, round(ms if ms > 0 else default_ms)), index)
                index += 1
            pending = (rgb, t)
    except Exception as e:  # noqa: BLE001 - a damaged stream stops decoding
        if pending is None and index == 0:
            raise InputError(f"{path}: cannot decode the video ({_first_line(e)})") from None
        warnings.warn(f"{path}: decoding stopped after {index + (pending is not None)} frames "
                      f"({_first_line(e)}); the file may be truncated", stacklevel=2)
    if pending is not None:
        yield Frame(pending[0], None, max(1, round(default_ms)), index)


class VideoEncoder(FrameEncoder):
    """Encode frames into a video file as they come (used by :class:`~superres.io.animation.AnimationWriter`).

    Args:
        path: the file to write (may be a temporary name; ``container`` says the format).
        size: (width, height); odd sizes are padded by one pixel (4:2:0 needs even sizes).
        container: the target extension (``.mp4``, ``.webm`` ...), see :data:`CONTAINERS`.
        fps: nominal frame rate (default: from the first frame's duration).
        quality: 0-100, mapped to CRF = round(51 * (100 - quality) / 100); default CRF 18
            for H.264 (visually lossless), 32 for VP9.
        audio_from: copy the first audio stream of this file.
    """

    def __init__(self, path: str | os.PathLike, size: tuple[int, int], *, container: str = ".mp4",
                 fps: float | None = None, quality: int | None = None,
                 audio_from: str | os.PathLike | None = None) -> None:
        self.av = require_av(f"writing {container} video", OutputError)
        if container not in CONTAINERS:
            raise OutputError(f"unknown video format {container!r}; use one of {', '.join(sorted(CONTAINERS))}")
        self.fmt, self.vcodec, self.acodec = CONTAINERS[container]
        self.path = Path(path)
        self.size = size
        self.fps = fps
        self.quality = quality
        self.audio_from = Path(audio_from) if audio_from else None
        self.out = None
        self.vs = None
        self.audio = None  # (source container, source stream, output stream, transcode?)
        self.time_ms = 0
        self.count = 0
        self.alpha_warned = False

    def _open(self, first: Frame) -> None:
        av = self.av
        try:
            self.out = av.open(str(self.path), "w", format=self.fmt)
        except Exception as e:  # noqa: BLE001
            raise OutputError(f"cannot write {self.path}: {_first_line(e)}") from None
        fps = self.fps or 1000.0 / max(1, first.duration_ms)
        rate = Fraction(fps).limit_denominator(1001)
        vs = self.out.add_stream(self.vcodec, rate=rate)
        w, h = self.size
        vs.width, vs.height = w + (w % 2), h + (h % 2)
        vs.pix_fmt = "yuv420p"
        vs.codec_context.time_base = Fraction(1, 1000)
        vs.time_base = Fraction(1, 1000)
        if self.vcodec == "libx264":
            crf = 18 if self.quality is None else round(51 * (100 - self.quality) / 100)
            vs.options = {"crf": str(crf), "preset": "medium"}
        else:
            crf = 32 if self.quality is None else round(63 * (100 - self.quality) / 100)
            vs.options = {"crf": str(crf), "b": "0", "deadline": "good", "cpu-used": "4", "row-mt": "1"}
        self.vs = vs
        if self.audio_from is not None:
            self._add_audio()

    def _add_audio(self) -> None:
        try:
            src = self.av.open(str(self.audio_from))
        except Exception as e:  # noqa: BLE001
            warnings.warn(f"{self.audio_from}: audio not copied ({_first_line(e)})", stacklevel=3)
            return
        if not src.streams.audio:
            src.close()
            return
        ain = src.streams.audio[0]
        name = ain.codec_context.name
        if name in _COPYABLE_AUDIO.get(self.fmt, set()):
            aout = self.out.add_stream_from_template(ain)
            self.audio = (src, ain, aout, False)
        else:
            aout = self.out.add_stream(self.acodec, rate=ain.codec_context.sample_rate or 48000)
            warnings.warn(f"{self.audio_from.name}: {name} audio cannot be stored in {self.fmt}; "
                          f"re-encoding it to {aout.codec_context.name}", stacklevel=3)
            self.audio = (src, ain, aout, True)

    def add(self, frame: Frame) -> None:
        av = self.av
        if self.out is None:
            self._open(frame)
        if frame.alpha is not None and not self.alpha_warned:
            warnings.warn(f"{self.fmt} video has no transparency; transparent pixels are drawn on white "
                          "(write .gif, .png or .webp to keep it)", stacklevel=3)
            self.alpha_warned = True
        rgb = flatten(frame)
        w, h = self.size
        if w % 2 or h % 2:
            rgb = np.pad(rgb, ((0, h % 2), (0, w % 2), (0, 0)), mode="edge")
        vf = av.VideoFrame.from_ndarray(np.ascontiguousarray(rgb), format="rgb24")
        vf.pts = self.time_ms
        vf.time_base = Fraction(1, 1000)
        for packet in self.vs.encode(vf):
            self.out.mux(packet)
        self.time_ms += max(1, int(frame.duration_ms))
        self.count += 1

    def _copy_audio(self) -> None:
        src, ain, aout, transcode = self.audio
        end = self.time_ms / 1000.0  # do not run past the (possibly cut) video
        try:
            if not transcode:
                for packet in src.demux(ain):
                    if packet.dts is None:
                        continue
                    if packet.pts is not None and float(packet.pts * ain.time_base) > end:
                        break
                    packet.stream = aout
                    self.out.mux(packet)
            else:
                for frame in src.decode(ain):
                    if frame.time is not None and frame.time > end:
                        break
                    frame.pts = None
                    for packet in aout.encode(frame):
                        self.out.mux(packet)
                for packet in aout.encode(None):
                    self.out.mux(packet)
        finally:
            src.close()

    def finish(self) -> None:
        if self.out is None:
            raise OutputError("no frames to write")
        try:
            for packet in self.vs.encode(None):
                self.out.mux(packet)
            if self.audio is not None:
                self._copy_audio()
        finally:
            self.out.close()
            self.out = None

    def abort(self) -> None:
        if self.audio is not None:
            self.audio[0].close()
            self.audio = None
        if self.out is not None:
            try:
                self.out.close()
            except Exception:  # noqa: BLE001, S110 - already failing; the partial file is removed
                pass
            self.out = None
