"""Frames, animation metadata and the reader/encoder protocols shared by every codec.

The lowest layer of animation I/O: :class:`Frame` (one composed RGB(A) frame),
:class:`AnimationInfo` (what is known before any pixel is decoded),
:class:`AnimationReader` (iterate it for frames, one at a time; close it when
done) and :class:`FrameEncoder` (``add(frame)`` then ``finish()``, writing to an
open binary file). Each codec lives in its own module on top of this one:
:mod:`.gif`, :mod:`.apng`, :mod:`.webp` (APNG/WebP/still images are read
through Pillow by :mod:`.pillow_reader`) and :mod:`.video`; :mod:`.animation`
picks one by content or extension.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import InputError

__all__ = ["Frame", "AnimationInfo", "Animation", "AnimationReader", "FrameEncoder", "browser_delay_ms",
           "frames_from_objects", "check_pixels", "flatten", "absdiff_max", "bbox", "union_box",
           "loop_from_plays", "plays_from_loop", "ANIMATION_OUTPUTS", "VIDEO_EXTENSIONS", "DEFAULT_DELAY_MS",
           "VIDEO_INSTALL_HINT"]

#: shown for frames whose delay is 0 or 10 ms, as Chrome, Firefox and Safari do
DEFAULT_DELAY_MS = 100

#: file extensions read (and written) as video through PyAV
VIDEO_EXTENSIONS = {".mp4", ".m4v", ".mov", ".webm", ".mkv", ".avi"}

#: output extension -> format
ANIMATION_OUTPUTS = {".gif": "GIF", ".png": "APNG", ".apng": "APNG", ".webp": "WEBP",
                     ".mp4": "VIDEO", ".m4v": "VIDEO", ".mov": "VIDEO", ".webm": "VIDEO", ".mkv": "VIDEO"}

VIDEO_INSTALL_HINT = "pip install 'superres[video]'"


def browser_delay_ms(ms: float) -> int:
    """The delay browsers actually show for a frame that asks for ``ms`` milliseconds.

    Chrome, Firefox and Safari show frames of 0 or 10 ms (GIF delays of 0 or 1
    hundredths) for 100 ms, so animations made for old fast viewers do not race.
    """
    ms = round(ms)
    return DEFAULT_DELAY_MS if ms <= 10 else ms


# ---------------------------------------------------------------------------
# frames and metadata
# ---------------------------------------------------------------------------

@dataclass
class Frame:
    """One composed frame of an animation.

    Attributes:
        rgb: (H, W, 3) uint8 colour.
        alpha: (H, W) uint8 opacity, or None when the frame is fully opaque.
        duration_ms: how long the frame is shown (after :func:`browser_delay_ms`).
        index: position in the animation (0-based).
    """

    rgb: np.ndarray
    alpha: np.ndarray | None = None
    duration_ms: int = DEFAULT_DELAY_MS
    index: int = 0

    @property
    def size(self) -> tuple[int, int]:
        """(width, height)."""
        return self.rgb.shape[1], self.rgb.shape[0]

    def rgba(self) -> np.ndarray:
        """(H, W, 4) uint8, alpha 255 where the frame has none."""
        a = self.alpha if self.alpha is not None else np.full(self.rgb.shape[:2], 255, np.uint8)
        return np.dstack([self.rgb, a])

    def to_pil(self):
        from PIL import Image

        return Image.fromarray(self.rgba() if self.alpha is not None else self.rgb)

    @classmethod
    def from_any(cls, obj, duration_ms: int = DEFAULT_DELAY_MS, index: int = 0) -> "Frame":
        """A Frame from a Frame, a PIL image or an (H, W[, 1|3|4]) uint8 array."""
        if isinstance(obj, Frame):
            return obj
        arr = obj
        if not isinstance(obj, np.ndarray):
            try:
                from PIL import Image
            except ImportError:  # pragma: no cover - Pillow is a dependency
                Image = None
            if Image is None or not isinstance(obj, Image.Image):
                raise InputError(f"cannot use a {type(obj).__name__} as an animation frame; pass PIL images "
                                 "or uint8 arrays (H, W, 3|4)")
            has_a = obj.mode in ("RGBA", "LA", "PA") or "transparency" in obj.info
            arr = np.asarray(obj.convert("RGBA" if has_a else "RGB"))
        if arr.dtype != np.uint8:
            raise InputError(f"animation frames must be uint8 arrays, got {arr.dtype}")
        if arr.ndim == 2:
            arr = arr[:, :, None]
        if arr.ndim != 3 or arr.shape[2] not in (1, 3, 4):
            raise InputError(f"animation frames must be (H, W), (H, W, 3) or (H, W, 4); got shape {arr.shape}")
        if arr.shape[2] == 1:
            arr = np.repeat(arr, 3, axis=2)
        rgb = np.ascontiguousarray(arr[:, :, :3])
        alpha = np.ascontiguousarray(arr[:, :, 3]) if arr.shape[2] == 4 else None
        if alpha is not None and alpha.min() == 255:
            alpha = None
        return cls(rgb, alpha, int(duration_ms), index)


@dataclass
class AnimationInfo:
    """What is known about an animation before its pixels are decoded.

    Attributes:
        format: ``GIF``, ``PNG`` (APNG), ``WEBP``, another Pillow format, or ``VIDEO``.
        size: canvas (width, height).
        n_frames: frame count (for video an estimate from the container, None if unknown).
        durations_ms: per-frame display time after :func:`browser_delay_ms` (None for video).
        loop: 0 = forever, None = play once, N = repeat N more times.
        has_alpha: transparency can occur in some frame.
        fps: average frame rate (video), or None.
        audio: the file has an audio stream (video).
        path: the file read, if any.
        comment: the GIF comment, if any.
    """

    format: str
    size: tuple[int, int]
    n_frames: int | None
    durations_ms: list[int] | None = None
    loop: int | None = 0
    has_alpha: bool = False
    fps: float | None = None
    audio: bool = False
    path: Path | None = None
    comment: str = ""
    extra: dict = field(default_factory=dict)

    @property
    def total_ms(self) -> int | None:
        return sum(self.durations_ms) if self.durations_ms is not None else None


@dataclass
class Animation:
    """Frames held in memory plus their :class:`AnimationInfo`."""

    frames: list[Frame]
    info: AnimationInfo

    @property
    def durations_ms(self) -> list[int]:
        return [f.duration_ms for f in self.frames]


class AnimationReader:
    """Iterate the frames of an animation file one at a time (use as a context manager)."""

    def __init__(self, info: AnimationInfo, frames: Iterator[Frame], closer=None) -> None:
        self.info = info
        self._frames = frames
        self._closer = closer

    def __iter__(self) -> Iterator[Frame]:
        return self._frames

    def close(self) -> None:
        if self._closer is not None:
            self._closer()
            self._closer = None

    def __enter__(self) -> "AnimationReader":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class FrameEncoder:
    """Backend interface: ``add(frame)`` then ``finish()``; writes to an open binary file."""

    def add(self, frame: Frame) -> None:  # pragma: no cover - interface
        raise NotImplementedError

    def finish(self) -> None:  # pragma: no cover - interface
        raise NotImplementedError


def check_pixels(path: Path, w: int, h: int, max_pixels: int | None, what: str = "") -> None:
    if max_pixels and w * h > max_pixels:
        raise InputError(f"{path}: {what}{w}x{h} is {w * h:,} pixels, over the limit of {max_pixels:,}; "
                         "raise it with --max-pixels if this is intended")


def frames_from_objects(objs, *, durations: int | list[int] | None = None,
                        loop: int | None = 0) -> tuple[list[Frame], AnimationInfo]:
    """Frames and an :class:`AnimationInfo` for in-memory frames (see :func:`read_animation`)."""
    if isinstance(objs, np.ndarray) and objs.ndim == 4:
        objs = list(objs)
    objs = list(objs)
    if not objs:
        raise InputError("no frames given")
    if isinstance(durations, (list, tuple)) and len(durations) != len(objs):
        raise InputError(f"{len(durations)} durations for {len(objs)} frames; give one per frame or one number")
    frames = []
    for i, obj in enumerate(objs):
        d = durations[i] if isinstance(durations, (list, tuple)) else durations
        if d is None:
            d = obj.duration_ms if isinstance(obj, Frame) else DEFAULT_DELAY_MS
        fr = Frame.from_any(obj)
        fr = Frame(fr.rgb, fr.alpha, browser_delay_ms(d), i)
        if frames and fr.size != frames[0].size:
            raise InputError(f"frame {i} is {fr.size[0]}x{fr.size[1]} but frame 0 is "
                             f"{frames[0].size[0]}x{frames[0].size[1]}; all frames must be the same size")
        frames.append(fr)
    info = AnimationInfo("FRAMES", frames[0].size, len(frames), [f.duration_ms for f in frames], loop,
                         any(f.alpha is not None for f in frames))
    return frames, info


def loop_from_plays(plays) -> int | None:
    """APNG/WebP store how many times to play (0 = forever); convert to the GIF convention."""
    if plays is None:
        return None
    plays = int(plays)
    return 0 if plays == 0 else (None if plays == 1 else plays - 1)


def plays_from_loop(loop: int | None) -> int:
    return 1 if loop is None else (0 if loop == 0 else loop + 1)


def bbox(mask: np.ndarray) -> tuple[int, int, int, int] | None:
    """(x0, y0, x1, y1) of the True pixels, or None."""
    rows = np.flatnonzero(mask.any(axis=1))
    if not len(rows):
        return None
    cols = np.flatnonzero(mask.any(axis=0))
    return int(cols[0]), int(rows[0]), int(cols[-1]) + 1, int(rows[-1]) + 1


def absdiff_max(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(h, w) uint8: the largest per-channel |a - b| of two (h, w, c) uint8 arrays (fast, no int16 copy)."""
    d = np.maximum(a, b)
    d -= np.minimum(a, b)
    if d.ndim == 2:
        return d
    out = d[:, :, 0].copy()
    for c in range(1, d.shape[2]):
        np.maximum(out, d[:, :, c], out=out)
    return out


def union_box(a, b):
    if a is None:
        return b
    if b is None:
        return a
    return min(a[0], b[0]), min(a[1], b[1]), max(a[2], b[2]), max(a[3], b[3])


def flatten(frame: Frame, background=(255, 255, 255)) -> np.ndarray:
    """RGB of a frame composited over ``background`` (for formats without transparency)."""
    if frame.alpha is None:
        return frame.rgb
    a = frame.alpha.astype(np.float32)[:, :, None] / 255.0
    bg = np.asarray(background, np.float32)
    return np.round(frame.rgb * a + bg * (1 - a)).astype(np.uint8)
