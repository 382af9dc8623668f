"""Reading APNG, animated WebP and still images through Pillow (which composes their frames)."""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from ..errors import InputError
from .frames import (
    VIDEO_EXTENSIONS,
    AnimationInfo,
    AnimationReader,
    Frame,
    browser_delay_ms,
    check_pixels,
    loop_from_plays,
)

__all__ = ["open_pillow"]


def open_pillow(path: Path, max_pixels: int | None) -> AnimationReader:
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
        check_pixels(path, w, h, max_pixels)
        if w < 1 or h < 1:
            raise InputError(f"{path}: the image is {w}x{h}; nothing to show")
        try:
            n = int(getattr(im, "n_frames", 1))
        except Exception as e:  # noqa: BLE001
            raise InputError(f"{path}: cannot count frames: the file is truncated or damaged ({e})") from None
        loop = loop_from_plays(im.info.get("loop", 1 if n == 1 else 0)) if im.format in ("PNG", "WEBP") \
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
