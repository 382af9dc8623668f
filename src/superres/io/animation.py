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
"""

from __future__ import annotations

import io
import os
import struct
import tempfile
import warnings
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import InputError, OutputError
from .images import DEFAULT_MAX_PIXELS

__all__ = ["Frame", "AnimationInfo", "Animation", "AnimationReader", "open_animation", "read_animation",
           "AnimationWriter", "write_animation", "check_animation_output", "browser_delay_ms",
           "ANIMATION_OUTPUTS", "VIDEO_EXTENSIONS", "DEFAULT_DELAY_MS", "VIDEO_INSTALL_HINT", "absdiff_max",
           "frames_from_objects"]

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


def _check_pixels(path: Path, w: int, h: int, max_pixels: int | None, what: str = "") -> None:
    if max_pixels and w * h > max_pixels:
        raise InputError(f"{path}: {what}{w}x{h} is {w * h:,} pixels, over the limit of {max_pixels:,}; "
                         "raise it with --max-pixels if this is intended")


def open_animation(path: str | os.PathLike, *, max_pixels: int | None = DEFAULT_MAX_PIXELS) -> AnimationReader:
    """Open an animated GIF, APNG, WebP, any still image Pillow reads, or a video file.

    Raises :class:`InputError` for missing, empty, unreadable or oversized files
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
        return _open_gif(path, max_pixels)
    if kind == "VIDEO" or (not kind and path.suffix.lower() in VIDEO_EXTENSIONS):
        from .video import (
            open_video,  # needs PyAV; raises InputError naming the install command
        )

        return open_video(path, max_pixels=max_pixels)
    return _open_pillow(path, max_pixels)


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


# ---------------------------------------------------------------------------
# GIF reading
# ---------------------------------------------------------------------------

class _Truncated(Exception):
    pass


@dataclass
class _GifImage:
    left: int
    top: int
    width: int
    height: int
    interlace: bool
    palette: bytes | None  # local colour table, else None (use the global one)
    data: tuple[int, int]  # byte span: LZW minimum code size + sub-blocks + terminator
    disposal: int = 0
    delay_cs: int = 0
    transparent: int | None = None


@dataclass
class _GifScan:
    width: int
    height: int
    palette: bytes | None
    images: list[_GifImage]
    loop: int | None
    damage: str = ""  # why reading stopped early, if it did
    comment: str = ""


def _skip_sub_blocks(data: bytes, pos: int) -> int:
    """Position after the sub-block chain starting at ``pos`` (raises _Truncated)."""
    n = len(data)
    while True:
        if pos >= n:
            raise _Truncated
        size = data[pos]
        pos += 1 + size
        if size == 0:
            return pos
        if pos > n:
            raise _Truncated


def _scan_gif(data: bytes) -> _GifScan:
    """Parse the block structure of a GIF (no pixels are decoded)."""
    if len(data) < 13:
        raise InputError("the GIF header is cut off")
    w, h, packed, _bg, _aspect = struct.unpack_from("<HHBBB", data, 6)
    pos = 13
    gct = None
    if packed & 0x80:
        n = 3 * (2 << (packed & 7))
        gct = data[pos:pos + n]
        if len(gct) < n:
            raise InputError("the GIF global colour table is cut off")
        pos += n
    scan = _GifScan(w, h, gct, [], None)
    gce: tuple[int, int, int | None] | None = None  # disposal, delay, transparent index
    comments = []
    try:
        while True:
            if pos >= len(data):
                scan.damage = "the file ends without the GIF trailer (it may be truncated)"
                break
            block = data[pos]
            if block == 0x3B:  # trailer
                break
            if block == 0x21:  # extension
                if pos + 1 >= len(data):
                    raise _Truncated
                label = data[pos + 1]
                pos += 2
                if label == 0xF9 and pos < len(data) and data[pos] >= 4 and pos + 5 <= len(data):
                    p, delay, tidx = struct.unpack_from("<BHB", data, pos + 1)
                    disposal = (p >> 2) & 7
                    gce = ({4: 3}.get(disposal, disposal if disposal <= 3 else 1), delay,
                           tidx if p & 1 else None)
                elif label == 0xFF and pos < len(data) and data[pos] == 11:
                    ident = data[pos + 1:pos + 12]
                    sub = pos + 12
                    if ident in (b"NETSCAPE2.0", b"ANIMEXTS1.0") and sub + 4 <= len(data) \
                            and data[sub] >= 3 and data[sub + 1] == 1:
                        scan.loop = struct.unpack_from("<H", data, sub + 2)[0]
                elif label == 0xFE:
                    comments.append(_sub_block_bytes(data, pos))
                pos = _skip_sub_blocks(data, pos)
                continue
            if block == 0x2C:  # image descriptor
                if pos + 10 > len(data):
                    raise _Truncated
                left, top, iw, ih, p = struct.unpack_from("<HHHHB", data, pos + 1)
                pos += 10
                lct = None
                if p & 0x80:
                    n = 3 * (2 << (p & 7))
                    if pos + n > len(data):
                        raise _Truncated
                    lct = data[pos:pos + n]
                    pos += n
                start = pos
                if pos >= len(data):
                    raise _Truncated
                pos = _skip_sub_blocks(data, pos + 1)
                disposal, delay, tidx = gce or (0, 0, None)
                scan.images.append(_GifImage(left, top, iw, ih, bool(p & 0x40), lct, (start, pos),
                                             disposal, delay, tidx))
                gce = None
                continue
            scan.damage = f"unexpected byte 0x{block:02x} at offset {pos} (the file is damaged)"
            break
    except _Truncated:
        scan.damage = "the file is truncated"
    scan.comment = b"".join(comments).decode("latin-1", "replace")
    return scan


def _sub_block_bytes(data: bytes, pos: int) -> bytes:
    out = []
    n = len(data)
    while pos < n and data[pos]:
        out.append(data[pos + 1:pos + 1 + data[pos]])
        pos += 1 + data[pos]
    return b"".join(out)


#: a colour table for the one-frame GIFs handed to Pillow: 256 entries, not grayscale,
#: so Pillow keeps the frame in mode P and its pixel values are the raw indices
_DUMMY_PALETTE = bytes(v for i in range(256) for v in (i, 255 - i, (i * 7) & 255))


def _decode_indices(data: bytes, img: _GifImage) -> np.ndarray:
    """The (height, width) colour indices of one GIF image, decoded by Pillow."""
    from PIL import Image

    mini = b"".join([
        b"GIF89a", struct.pack("<HHBBB", img.width, img.height, 0xF7, 0, 0), _DUMMY_PALETTE,
        b"\x2c", struct.pack("<HHHHB", 0, 0, img.width, img.height, 0x40 if img.interlace else 0),
        data[img.data[0]:img.data[1]], b"\x3b",
    ])
    with Image.open(io.BytesIO(mini)) as im:
        im.load()
        if im.mode != "P" or im.size != (img.width, img.height):  # pragma: no cover - Pillow changed
            raise ValueError(f"unexpected decode of a GIF frame (mode {im.mode})")
        return np.asarray(im)


def _palette_lut(table: bytes | None) -> np.ndarray:
    """(256, 3) uint8 lookup; indices past the table's end show black (as browsers do)."""
    lut = np.zeros((256, 3), np.uint8)
    if table:
        pal = np.frombuffer(table, np.uint8)[:768].reshape(-1, 3)
        lut[:len(pal)] = pal
    return lut


def _open_gif(path: Path, max_pixels: int | None) -> AnimationReader:
    data = path.read_bytes()
    try:
        scan = _scan_gif(data)
    except InputError as e:
        raise InputError(f"{path}: {e}") from None
    if not scan.images:
        why = f": {scan.damage}" if scan.damage else ""
        raise InputError(f"{path}: the GIF holds no complete frame{why}")
    w, h = scan.width, scan.height
    first = scan.images[0]
    if w < first.width or h < first.height:  # browsers enlarge the screen to the first frame
        w, h = max(w, first.width), max(h, first.height)
        first.left = first.top = 0
    _check_pixels(path, w, h, max_pixels)
    for i, img in enumerate(scan.images):
        _check_pixels(path, img.width, img.height, max_pixels, f"frame {i}: ")
    if w < 1 or h < 1:
        raise InputError(f"{path}: the GIF canvas is {w}x{h}; nothing to show")
    durations = [browser_delay_ms(img.delay_cs * 10) for img in scan.images]
    covers = first.left == 0 and first.top == 0 and first.width >= w and first.height >= h
    has_alpha = (not covers or any(img.transparent is not None or img.disposal in (2, 3)
                                   for img in scan.images))
    info = AnimationInfo("GIF", (w, h), len(scan.images), durations, scan.loop, has_alpha, path=path,
                         comment=scan.comment)
    if scan.damage:
        info.extra["damage"] = scan.damage
    return AnimationReader(info, _compose_gif(path, data, scan, (w, h), durations, has_alpha))


def _compose_gif(path: Path, data: bytes, scan: _GifScan, size: tuple[int, int], durations: list[int],
                 has_alpha: bool) -> Iterator[Frame]:
    w, h = size
    canvas = np.zeros((h, w, 4), np.uint8)  # transparent black
    global_lut = _palette_lut(scan.palette)
    warned = False
    for i, img in enumerate(scan.images):
        x0, y0 = min(img.left, w), min(img.top, h)
        x1, y1 = min(img.left + img.width, w), min(img.top + img.height, h)
        saved = canvas[y0:y1, x0:x1].copy() if img.disposal == 3 else None
        if img.width and img.height:
            try:
                idx = _decode_indices(data, img)
            except Exception as e:  # noqa: BLE001 - Pillow raises OSError/ValueError/SyntaxError on bad data
                msg = f"frame {i + 1} of {len(scan.images)} cannot be decoded ({str(e) or type(e).__name__})"
                if i == 0:
                    raise InputError(f"{path}: {msg}; the GIF is damaged") from None
                warnings.warn(f"{path}: {msg}; keeping the {i} frame{'s' if i != 1 else ''} before it",
                              stacklevel=2)
                warned = True
                break
            if img.palette is None and scan.palette is None:
                warnings.warn(f"{path}: frame {i + 1} has no colour table; drawing it in black", stacklevel=2)
            lut = _palette_lut(img.palette) if img.palette is not None else global_lut
            idx = idx[:y1 - y0, :x1 - x0]
            region = canvas[y0:y1, x0:x1]
            if img.transparent is None:
                region[:, :, :3] = lut[idx]
                region[:, :, 3] = 255
            else:
                draw = idx != img.transparent
                region[draw, :3] = lut[idx[draw]]
                region[draw, 3] = 255
        alpha = canvas[:, :, 3].copy() if has_alpha else None
        if alpha is not None and alpha.min() == 255:
            alpha = None
        yield Frame(canvas[:, :, :3].copy(), alpha, durations[i], i)
        if img.disposal == 2:
            canvas[y0:y1, x0:x1] = 0
        elif img.disposal == 3:
            canvas[y0:y1, x0:x1] = saved
    if scan.damage and not warned:
        n = len(scan.images)
        if "trailer" in scan.damage:
            warnings.warn(f"{path}: {scan.damage}; read {n} frame{'s' if n != 1 else ''}", stacklevel=2)
        else:
            warnings.warn(f"{path}: {scan.damage}; keeping the {n} complete frame{'s' if n != 1 else ''} "
                          "before the damage", stacklevel=2)


# ---------------------------------------------------------------------------
# APNG, WebP and other Pillow formats
# ---------------------------------------------------------------------------

def _loop_from_plays(plays) -> int | None:
    """APNG/WebP store how many times to play (0 = forever); convert to the GIF convention."""
    if plays is None:
        return None
    plays = int(plays)
    return 0 if plays == 0 else (None if plays == 1 else plays - 1)


def _plays_from_loop(loop: int | None) -> int:
    return 1 if loop is None else (0 if loop == 0 else loop + 1)


def _open_pillow(path: Path, max_pixels: int | None) -> AnimationReader:
    from PIL import Image, UnidentifiedImageError

    old = Image.MAX_IMAGE_PIXELS
    Image.MAX_IMAGE_PIXELS = None  # our own limit replaces Pillow's
    try:
        im = Image.open(path)
    except UnidentifiedImageError:
        raise InputError(f"{path}: not an animation superres can read (GIF, APNG, WebP, or video: "
                         f"{', '.join(sorted(VIDEO_EXTENSIONS))})") from None
    except Exception as e:  # noqa: BLE001 - damaged files make Pillow plugins raise anything
        raise InputError(f"{path}: cannot read: the file is truncated or damaged ({e})") from None
    finally:
        Image.MAX_IMAGE_PIXELS = old
    try:
        w, h = im.size
        _check_pixels(path, w, h, max_pixels)
        if w < 1 or h < 1:
            raise InputError(f"{path}: the image is {w}x{h}; nothing to show")
        try:
            n = int(getattr(im, "n_frames", 1))
        except Exception as e:  # noqa: BLE001
            raise InputError(f"{path}: cannot count frames: the file is truncated or damaged ({e})") from None
        loop = _loop_from_plays(im.info.get("loop", 1 if n == 1 else 0)) if im.format in ("PNG", "WEBP") \
            else im.info.get("loop")
        has_alpha = im.mode in ("RGBA", "LA", "PA", "RGBa", "La") or "transparency" in im.info \
            or im.format == "WEBP" and n > 1
        info = AnimationInfo(im.format or "", (w, h), n, None, loop, has_alpha, path=path)
    except BaseException:
        im.close()
        raise
    return AnimationReader(info, _pillow_frames(path, im, n, has_alpha, info), im.close)


def _pillow_frames(path: Path, im, n: int, has_alpha: bool, info: AnimationInfo) -> Iterator[Frame]:
    from PIL import Image, ImageOps

    durations = []
    old = Image.MAX_IMAGE_PIXELS
    for i in range(n):
        Image.MAX_IMAGE_PIXELS = None
        try:
            im.seek(i)
            im.load()
            frame = ImageOps.exif_transpose(im) if n == 1 else im
            rgba = np.asarray(frame.convert("RGBA" if has_alpha else "RGB"))
        except Exception as e:  # noqa: BLE001 - truncated/damaged frame
            if i == 0:
                raise InputError(f"{path}: cannot decode: the file is truncated or damaged ({e})") from None
            warnings.warn(f"{path}: frame {i + 1} of {n} cannot be decoded ({e}); keeping the {i} "
                          f"frame{'s' if i != 1 else ''} before it", stacklevel=2)
            break
        finally:
            Image.MAX_IMAGE_PIXELS = old
        d = browser_delay_ms(float(im.info.get("duration") or 0))
        durations.append(d)
        yield Frame.from_any(rgba, d, i)
    info.durations_ms = durations


# ---------------------------------------------------------------------------
# writing
# ---------------------------------------------------------------------------

def check_animation_output(path: str | os.PathLike, overwrite: bool = False) -> Path:
    """Validate an animation output path before any work (raises :class:`OutputError`)."""
    from .images import check_output_path

    return check_output_path(path, overwrite, formats=ANIMATION_OUTPUTS, kind="animation")


def _bbox(mask: np.ndarray) -> tuple[int, int, int, int] | None:
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


def _union(a, b):
    if a is None:
        return b
    if b is None:
        return a
    return min(a[0], b[0]), min(a[1], b[1]), max(a[2], b[2]), max(a[3], b[3])


class _Encoder:
    """Backend interface: ``add(frame)`` then ``finish()``; writes to an open binary file."""

    def add(self, frame: Frame) -> None:  # pragma: no cover - interface
        raise NotImplementedError

    def finish(self) -> None:  # pragma: no cover - interface
        raise NotImplementedError


@dataclass
class _PendingGif:
    rgb: np.ndarray  # the frame's source colour inside rect
    draw: np.ndarray  # pixels inside rect that are drawn
    rect: tuple[int, int, int, int]
    delay_cs: int
    disposal: int = 1


class _GifEncoder(_Encoder):
    """Streaming GIF writer; see the module docstring for what it optimises.

    Change detection compares each frame with the source colour last drawn at
    every pixel (not with the quantised colour on screen), so quantisation error
    does not make static pixels redraw, and slow drifts still update once they
    exceed ``tolerance``. One frame is held back because a frame's disposal
    (clear to transparent or not) depends on the next frame.
    """

    def __init__(self, fp, size: tuple[int, int], loop: int | None, palette: str = "adaptive",
                 dither: bool = False, tolerance: int = 2, global_frames: int = 8) -> None:
        if palette not in ("adaptive", "global"):
            raise ValueError(f"palette must be 'adaptive' or 'global', got {palette!r}")
        self.fp = fp
        self.w, self.h = size
        self.loop = loop
        self.palette_mode = palette
        self.dither = dither
        self.tolerance = int(tolerance)
        self.global_frames = global_frames
        self.opaque = np.zeros((self.h, self.w), bool)  # what the viewer's canvas shows as opaque
        self.ref = np.zeros((self.h, self.w, 3), np.uint8)  # source colour last drawn at each pixel
        self.pending: _PendingGif | None = None
        self.buffer: list[Frame] | None = [] if palette == "global" else None
        self.global_pal: np.ndarray | None = None
        self.header_written = False
        self.time_ms = 0.0  # source time of the next frame's start
        self.time_cs = 0  # written time, in hundredths
        self.short_frames = 0

    # -- palettes ------------------------------------------------------------
    def _make_palette(self, pixels: np.ndarray, colors: int = 255) -> np.ndarray:
        """(n, 3) uint8 palette (n <= colors) for an (N, 3) array of colours.

        When the colours are few enough they are the palette (exact); otherwise
        median cut on a strided sample.
        """
        from PIL import Image

        if len(pixels) == 0:
            return np.zeros((1, 3), np.uint8)
        uniq = np.unique(_pack(pixels))
        if len(uniq) <= colors:
            return _unpack(uniq)
        if len(pixels) > 400_000:  # a strided sample is plenty for 255 colours
            pixels = pixels[:: len(pixels) // 400_000 + 1]
        strip = Image.fromarray(np.ascontiguousarray(pixels[None, :, :]), "RGB")
        q = strip.quantize(colors=colors, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE)
        used = np.unique(np.asarray(q))
        pal = np.frombuffer(bytes(q.getpalette() or []), np.uint8).reshape(-1, 3)
        return pal[used[used < len(pal)]]

    def _indices(self, rgb: np.ndarray, draw: np.ndarray, pal: np.ndarray) -> np.ndarray:
        """Indices into ``pal`` for the (h, w, 3) colours: exact when every drawn colour is in
        the palette, else nearest colour (Pillow), optionally Floyd-Steinberg dithered."""
        from PIL import Image

        keys = _pack(pal)
        order = np.argsort(keys)
        packed = _pack(rgb)
        pos = np.clip(np.searchsorted(keys[order], packed), 0, len(keys) - 1)
        exact = keys[order][pos] == packed
        if exact[draw].all():
            return order[pos].astype(np.uint8)
        pimg = Image.new("P", (1, 1))
        flat = pal.reshape(-1).tobytes()
        pimg.putpalette(flat + flat[-3:] * (256 - len(pal)))  # pad with a repeat of the last colour
        im = Image.fromarray(np.ascontiguousarray(rgb), "RGB")
        dither = Image.Dither.FLOYDSTEINBERG if self.dither else Image.Dither.NONE
        idx = np.asarray(im.quantize(palette=pimg, dither=dither)).copy()
        np.minimum(idx, len(pal) - 1, out=idx)  # padding entries repeat the last colour
        return idx

    # -- output ----------------------------------------------------------------
    def _write_header(self) -> None:
        flags = 0
        gct = b""
        if self.global_pal is not None:
            bits = _table_bits(len(self.global_pal) + 1)
            flags = 0x80 | ((bits - 1) << 4) | (bits - 1)  # global table, colour resolution, size
            gct = _table_bytes(self.global_pal, bits)
        self.fp.write(b"GIF89a" + struct.pack("<HHBBB", self.w, self.h, flags, 0, 0) + gct)
        if self.loop is not None:
            self.fp.write(b"\x21\xff\x0bNETSCAPE2.0\x03\x01" + struct.pack("<H", min(int(self.loop), 65535))
                          + b"\x00")
        self.header_written = True

    def _emit(self, p: _PendingGif) -> None:
        if not self.header_written:
            self._write_header()
        x0, y0, x1, y1 = p.rect
        drawn = p.rgb[p.draw]
        pal = self.global_pal if self.global_pal is not None else self._make_palette(drawn)
        if p.draw.any():
            idx = self._indices(p.rgb, p.draw, pal)
        else:
            idx = np.zeros(p.draw.shape, np.uint8)
        t = len(pal)  # transparent index: one past the colours
        idx[~p.draw] = t
        bits = _table_bits(t + 1)
        lzw, interlaced = _lzw_data(idx, pal, t, bits)
        packed = 0x40 if interlaced else 0
        gce = struct.pack("<BBBBHBB", 0x21, 0xF9, 4, (p.disposal << 2) | 1, p.delay_cs, t, 0)
        desc = b"\x2c" + struct.pack("<HHHH", x0, y0, x1 - x0, y1 - y0)
        if self.global_pal is not None:
            self.fp.write(gce + desc + bytes([packed]) + lzw)
        else:
            self.fp.write(gce + desc + bytes([packed | 0x80 | (bits - 1)]) + _table_bytes(pal, bits) + lzw)

    # -- frames ----------------------------------------------------------------
    def add(self, frame: Frame) -> None:
        if self.buffer is not None:  # global palette: collect the first frames to build it
            self.buffer.append(frame)
            if len(self.buffer) >= self.global_frames:
                self._flush_buffer()
            return
        self._add(frame)

    def _flush_buffer(self) -> None:
        frames, self.buffer = self.buffer or [], None
        samples = []
        for f in frames:
            px = f.rgb.reshape(-1, 3)
            if f.alpha is not None:
                px = px[f.alpha.reshape(-1) >= 128]
            samples.append(px[:: max(1, len(px) // 50_000)])
        self.global_pal = self._make_palette(np.concatenate(samples) if samples else np.zeros((0, 3), np.uint8))
        for f in frames:
            self._add(f)

    def _delay_cs(self, duration_ms: int) -> int:
        """Hundredths for this frame: cumulative rounding (no drift), at least 2 (browsers show 0-1 as 100 ms)."""
        self.time_ms += duration_ms
        target = round(self.time_ms / 10)
        d = max(2, target - self.time_cs)
        if duration_ms < 20:
            self.short_frames += 1
        self.time_cs += d
        return min(d, 65535)

    def _add(self, frame: Frame) -> None:
        rgb = frame.rgb
        opaque = frame.alpha >= 128 if frame.alpha is not None else np.ones(rgb.shape[:2], bool)
        p = self.pending
        if p is not None:
            clear = self.opaque & ~opaque  # shown now, transparent next: clear through disposal
            cb = _bbox(clear)
            if cb is not None:
                p.disposal = 2
                nx0, ny0, nx1, ny1 = _union(p.rect, cb)
                if (nx0, ny0, nx1, ny1) != p.rect:  # widen the stored rectangle (new pixels are not drawn)
                    x0, y0, x1, y1 = p.rect
                    rgb_w = np.zeros((ny1 - ny0, nx1 - nx0, 3), np.uint8)
                    draw_w = np.zeros((ny1 - ny0, nx1 - nx0), bool)
                    rgb_w[y0 - ny0:y1 - ny0, x0 - nx0:x1 - nx0] = p.rgb
                    draw_w[y0 - ny0:y1 - ny0, x0 - nx0:x1 - nx0] = p.draw
                    p.rgb, p.draw, p.rect = rgb_w, draw_w, (nx0, ny0, nx1, ny1)
                x0, y0, x1, y1 = p.rect
                self.opaque[y0:y1, x0:x1] = False
            self._emit(p)
        changed = absdiff_max(rgb, self.ref) > self.tolerance
        draw = opaque & (changed | ~self.opaque)
        rect = _bbox(draw) or (0, 0, 1, 1)
        self.opaque |= draw
        self.ref[draw] = rgb[draw]
        x0, y0, x1, y1 = rect
        self.pending = _PendingGif(rgb[y0:y1, x0:x1].copy(), draw[y0:y1, x0:x1].copy(), rect,
                                   self._delay_cs(frame.duration_ms))

    def finish(self) -> None:
        if self.buffer is not None:
            self._flush_buffer()
        if self.pending is not None:
            self._emit(self.pending)
            self.pending = None
        if not self.header_written:
            self._write_header()
        self.fp.write(b"\x3b")
        if self.short_frames:
            warnings.warn(f"{self.short_frames} frame(s) shorter than 20 ms are shown for 20 ms in GIF "
                          "(browsers show shorter GIF delays as 100 ms); use .mp4 or .webp to keep the timing",
                          stacklevel=3)


def _pack(rgb: np.ndarray) -> np.ndarray:
    """(..., 3) uint8 colours -> (...) uint32 keys."""
    rgb = rgb.astype(np.uint32)
    return (rgb[..., 0] << 16) | (rgb[..., 1] << 8) | rgb[..., 2]


def _unpack(keys: np.ndarray) -> np.ndarray:
    return np.stack([(keys >> 16) & 255, (keys >> 8) & 255, keys & 255], axis=-1).astype(np.uint8)


def _table_bits(n: int) -> int:
    """Bits of a GIF colour table holding n entries (1..8)."""
    return max(1, (max(n, 2) - 1).bit_length())


def _table_bytes(pal: np.ndarray, bits: int) -> bytes:
    table = np.zeros((1 << bits, 3), np.uint8)
    table[:len(pal)] = pal
    return table.tobytes()


def _lzw_data(idx: np.ndarray, pal: np.ndarray, transparent: int, bits: int) -> tuple[bytes, bool]:
    """LZW minimum code size + sub-blocks + terminator for an index image (coded by Pillow),
    and whether Pillow interlaced it."""
    from PIL import Image

    im = Image.fromarray(np.ascontiguousarray(idx), "P")
    table = np.zeros((1 << bits, 3), np.uint8)
    table[:len(pal)] = pal
    im.putpalette(table.tobytes())
    buf = io.BytesIO()
    im.save(buf, "GIF", optimize=False, transparency=transparent, interlace=False)
    data = buf.getvalue()
    scan = _scan_gif(data)
    img = scan.images[0]
    written = img.palette or scan.palette or b""
    # Pillow must have kept our indices: same colours first, same transparent index
    if written[:3 * len(pal)] != pal.tobytes() or img.transparent not in (transparent, None):
        raise RuntimeError("Pillow remapped the GIF palette; cannot splice the frame")  # pragma: no cover
    return data[img.data[0]:img.data[1]], img.interlace


class _ApngEncoder(_Encoder):
    """Streaming APNG: the first frame full, later frames only their changed rectangle."""

    def __init__(self, fp, size: tuple[int, int], loop: int | None, alpha: bool | None = None,
                 compress_level: int = 6) -> None:
        self.fp = fp
        self.w, self.h = size
        self.loop = loop
        self.alpha = alpha
        self.level = compress_level
        self.prev: np.ndarray | None = None
        self.seq = 0
        self.count = 0
        self.actl_pos = 0

    def _chunk(self, kind: bytes, body: bytes) -> None:
        self.fp.write(struct.pack(">I", len(body)) + kind + body
                      + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF))

    def _png_idat(self, pixels: np.ndarray) -> list[bytes]:
        from PIL import Image

        buf = io.BytesIO()
        Image.fromarray(np.ascontiguousarray(pixels)).save(buf, "PNG", compress_level=self.level)
        data = buf.getvalue()
        out, pos = [], 8
        while pos < len(data):
            n, kind = struct.unpack_from(">I4s", data, pos)
            if kind == b"IDAT":
                out.append(data[pos + 8:pos + 8 + n])
            pos += 12 + n
        return out

    def add(self, frame: Frame) -> None:
        if self.alpha is None:  # unknown: later frames may turn transparent, so keep an alpha channel
            self.alpha = True
        px = frame.rgba() if self.alpha else _flatten(frame)
        if self.count == 0:
            self.fp.write(b"\x89PNG\r\n\x1a\n")
            self._chunk(b"IHDR", struct.pack(">IIBBBBB", self.w, self.h, 8, 6 if self.alpha else 2, 0, 0, 0))
            self.actl_pos = self.fp.tell()
            self._chunk(b"acTL", struct.pack(">II", 0, _plays_from_loop(self.loop)))  # frame count patched later
            rect = (0, 0, self.w, self.h)
        else:
            rect = _bbox((px != self.prev).any(axis=2)) or (0, 0, 1, 1)
        x0, y0, x1, y1 = rect
        d = max(1, min(65535, int(frame.duration_ms)))
        self._chunk(b"fcTL", struct.pack(">IIIIIHHBB", self.seq, x1 - x0, y1 - y0, x0, y0, d, 1000, 0, 0))
        self.seq += 1
        for part in self._png_idat(px[y0:y1, x0:x1]):
            if self.count == 0:
                self._chunk(b"IDAT", part)
            else:
                self._chunk(b"fdAT", struct.pack(">I", self.seq) + part)
                self.seq += 1
        self.prev = px
        self.count += 1

    def finish(self) -> None:
        if self.count == 0:
            raise OutputError("no frames to write")
        self._chunk(b"IEND", b"")
        end = self.fp.tell()
        self.fp.seek(self.actl_pos)
        self._chunk(b"acTL", struct.pack(">II", self.count, _plays_from_loop(self.loop)))
        self.fp.seek(end)


def _flatten(frame: Frame, background=(255, 255, 255)) -> np.ndarray:
    """RGB of a frame composited over ``background`` (for formats without transparency)."""
    if frame.alpha is None:
        return frame.rgb
    a = frame.alpha.astype(np.float32)[:, :, None] / 255.0
    bg = np.asarray(background, np.float32)
    return np.round(frame.rgb * a + bg * (1 - a)).astype(np.uint8)


class _WebpEncoder(_Encoder):
    """Animated WebP through libwebp's animation encoder (compressed frames are kept until the end)."""

    def __init__(self, fp, size: tuple[int, int], loop: int | None, quality: int | None = None,
                 lossless: bool = False) -> None:
        from PIL import features

        if not features.check("webp"):
            raise OutputError("this Pillow has no WebP support; write .gif or .png instead")
        self.fp = fp
        self.size = size
        self.loop = loop
        self.quality = 90 if quality is None else int(quality)
        self.lossless = lossless
        self.time = 0
        self.count = 0
        self.enc = None
        self.frames: list | None = None  # fallback: Pillow's public save_all (holds the frames)
        try:
            from PIL import _webp

            kmin, kmax = (9, 17) if lossless else (3, 5)  # libwebp's gif2webp defaults
            self.enc = _webp.WebPAnimEncoder(size, 0, _plays_from_loop(loop), False, kmin, kmax, False, False)
        except Exception:  # noqa: BLE001 - private API changed: use the public one
            self.frames, self.durations = [], []

    def add(self, frame: Frame) -> None:
        from PIL import Image

        im = Image.fromarray(frame.rgba() if frame.alpha is not None else frame.rgb)
        im = im.convert("RGBA")
        if self.enc is not None:
            self.enc.add(im.getim(), self.time, self.lossless, self.quality, 100, 4)
        else:
            self.frames.append(im)
            self.durations.append(frame.duration_ms)
        self.time += int(frame.duration_ms)
        self.count += 1

    def finish(self) -> None:
        if self.count == 0:
            raise OutputError("no frames to write")
        if self.enc is not None:
            self.enc.add(None, self.time, self.lossless, self.quality, 100, 0)
            data = self.enc.assemble(b"", b"", b"")
            if data is None:
                raise OutputError("the WebP encoder failed")
            self.fp.write(data)
        else:
            first, *rest = self.frames
            first.save(self.fp, "WEBP", save_all=True, append_images=rest, duration=self.durations,
                       loop=_plays_from_loop(self.loop), quality=self.quality,
                       lossless=self.lossless)


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
        self._enc: _Encoder | None = None
        self._fp = None
        self._tmp: Path | None = None
        self._alpha_warned = False

    def _start(self, size: tuple[int, int]) -> None:
        parent = self.path.parent if str(self.path.parent) else Path(".")
        try:
            parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix=f".{self.path.name}.", suffix=".part", dir=parent)
        except OSError as e:
            raise OutputError(f"cannot write to {parent}: {e.strerror or e}") from None
        self._tmp = Path(tmp)
        o = self.opts
        if self.format == "VIDEO":
            os.close(fd)
            from .video import VideoEncoder

            self._enc = VideoEncoder(self._tmp, size, container=self.path.suffix.lower(), fps=o["fps"],
                                     quality=o["quality"], audio_from=o["audio_from"])
            return
        self._fp = os.fdopen(fd, "w+b")
        if self.format == "GIF":
            self._enc = _GifEncoder(self._fp, size, o["loop"], o["palette"], o["dither"])
        elif self.format == "APNG":
            self._enc = _ApngEncoder(self._fp, size, o["loop"], o["alpha"])
        else:
            self._enc = _WebpEncoder(self._fp, size, o["loop"], o["quality"], o["lossless"])

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
            os.chmod(self._tmp, 0o644 & ~_umask())
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


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask
