"""The Python API: ``upscale`` for paths, PIL images and arrays, ``apply_srgan``, and ``make_upscaler``.

``upscale`` goes through :func:`upscale_picture`, which the CLI uses too: colour
through the network (tiled as needed), alpha separately (bicubic by default,
or through the network), grayscale kept grayscale, 16-bit kept 16-bit, and an
optional final resize for scales other than the model's own.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .errors import InputError, SuperResError
from .inference import Upscaler
from .inference.upscaler import DEFAULT_PRECISION
from .io.images import DEFAULT_MAX_PIXELS, Picture, from_pil, read_image, to_pil
from .models.base import ModelDescriptor
from .ops import bleed, resize_array

__all__ = ["upscale", "upscale_picture", "apply_srgan", "make_upscaler", "make_upscaler_checked", "resize_array",
           "output_size", "check_output_size", "cached_model"]

_CACHE: dict[tuple, Any] = {}


def cached_model(name_or_model, device: str = "cpu", *, strength: float | None = None,
                 denoise: float | None = None) -> ModelDescriptor | torch.nn.Module:
    """The loaded model for a name or path (one kept in memory, reloaded when its file changes);
    a module or descriptor is returned as it is. ``strength`` / ``denoise`` blend the named model
    with its partner as ``--strength`` / ``--denoise`` do (:func:`~superres.registry.load_with_controls`)."""
    from .errors import ModelError
    from .registry import default_model, load_with_controls

    if isinstance(name_or_model, (torch.nn.Module, ModelDescriptor)):
        if strength is not None or denoise is not None:
            raise ModelError("strength= and denoise= blend a named model with its partner: pass the model's "
                             "name (e.g. 'srgan-x4'), not a loaded module")
        return name_or_model
    name = default_model() if name_or_model in (None, "default") else str(name_or_model)
    key = (name, str(device), _weights_stamp(name), strength, denoise)
    if key not in _CACHE:
        _CACHE.clear()  # keep one model resident, not one per name ever used
        _CACHE[key] = load_with_controls(name, strength=strength, denoise=denoise)
    return _CACHE[key]


def _weights_stamp(name: str) -> tuple:
    """Identity of the weights file behind a name or path, so a replaced file is reloaded."""
    from .registry import resolve

    entry = resolve(name)
    path = entry.weights.path if (entry and entry.weights) else (Path(name) if entry is None else None)
    try:
        st = path.stat() if path is not None else None
    except OSError:
        st = None
    return (str(path), st.st_mtime_ns, st.st_size) if st else (str(path),)


def make_upscaler(model="srgan-x4", *, device: str = "auto", tile: int | None = None,
                  tile_pad: int | None = None, precision: str = DEFAULT_PRECISION, batch_tiles: int = 1,
                  backend: str = "torch", strength: float | None = None, denoise: float | None = None) -> Upscaler:
    """An :class:`Upscaler` for a model name, path, descriptor or module (``backend``: torch, onnxruntime or openvino;
    ``strength`` / ``denoise``: see :func:`cached_model`)."""
    return Upscaler(cached_model(model, device, strength=strength, denoise=denoise), device=device, tile=tile,
                    tile_pad=tile_pad, precision=precision, batch_tiles=batch_tiles, backend=backend)


def make_upscaler_checked(model, *, device: str = "auto", tile: int | None = None, tile_pad: int | None = None,
                          precision: str = DEFAULT_PRECISION, backend: str = "torch") -> Upscaler:
    """:func:`make_upscaler` for commands: any failure to build the model becomes one
    :class:`~superres.errors.ModelError` line (exit code 2), never a traceback."""
    from .errors import ModelError

    try:
        return make_upscaler(model, device=device, tile=tile, tile_pad=tile_pad, precision=precision,
                             backend=backend)
    except SuperResError as e:
        if isinstance(e, ModelError):
            raise
        raise ModelError(str(e)) from None  # whatever went wrong, the model cannot be used: exit code 2
    except (RuntimeError, ValueError, OSError) as e:  # e.g. weights that do not fit the architecture
        lines = [ln.strip() for ln in str(e).splitlines() if ln.strip()] or [type(e).__name__]
        first = lines[0] + (" " + lines[1] if lines[0].endswith(":") and len(lines) > 1 else "")
        raise ModelError(f"cannot load model {str(model)!r}: {first} (do the weights belong to this model?)") from None


def output_size(width: int, height: int, scale: int, outscale: float | None = None) -> tuple[int, int]:
    """(width, height) of the upscaled image: ``scale`` times, or ``outscale`` times (rounded) if given."""
    if outscale and abs(outscale - scale) > 1e-9:
        return round(width * outscale), round(height * outscale)
    return width * scale, height * scale


def _physical_memory() -> int | None:
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):  # not POSIX: no guard beyond the pixel limit
        return None


def check_output_size(width: int, height: int, scale: int, outscale: float | None = None, *,
                      max_pixels: int | None = DEFAULT_MAX_PIXELS, channels: int = 3,
                      name: str = "") -> tuple[int, int]:
    """The output size of a ``width`` x ``height`` input, refused before any work when unusable.

    Raises :class:`InputError` when the output would be empty (``outscale`` too
    small) or larger than ``scale * scale * max_pixels`` (the pixel limit
    scaled like the image), and :class:`~superres.errors.OutOfMemory` when its
    buffers alone (float32 model output, the final array, the resize's float
    planes) would not fit in this machine's memory. ``name`` prefixes messages.
    """
    from .errors import OutOfMemory

    W, H = output_size(width, height, scale, outscale)
    scaled = f"--outscale {outscale:g}" if outscale else f"x{scale}"
    if W < 1 or H < 1:
        raise InputError(f"{name}{scaled} would make a {W}x{H} image from {width}x{height}; "
                         f"use an --outscale of at least {1 / min(width, height):.3g}")
    limit = max_pixels * scale * scale if max_pixels else None
    if limit and W * H > limit:
        big = limit >= 100_000_000
        size = (f"{W * H / 1e6:,.0f} MP), over the output limit of {limit / 1e6:,.0f} MP" if big
                else f"{W * H:,} pixels), over the output limit of {limit:,}")
        raise InputError(f"{name}{scaled} would make a {W}x{H} image ({size} ({scale * scale} x --max-pixels); "
                         "use a smaller --outscale, or raise --max-pixels if this is intended")
    native = width * height * scale * scale * channels
    need = native * (4 + 1)  # float32 model output + the uint8 result
    if (W, H) != (width * scale, height * scale):
        need += native * 4 // channels + W * height * scale * 4 + W * H * (4 + channels)  # one float plane at a time
    ram = _physical_memory()
    if ram and need > ram:
        raise OutOfMemory(f"{name}a {W}x{H} output needs about {need / 2**30:,.1f} GiB, more than this machine's "
                          f"{ram / 2**30:,.1f} GiB of memory; use a smaller --outscale or a smaller input "
                          "(--tile bounds the model's working memory, not the output's)")
    return W, H


def upscale_picture(pic: Picture, upscaler: Upscaler, *, alpha: str = "bicubic", outscale: float | None = None,
                    progress=None, max_pixels: int | None = None, color_fix: bool = False) -> Picture:
    """Upscale a :class:`Picture` (colour, alpha, bit depth and metadata handled).

    The output size is checked first (:func:`check_output_size`; ``max_pixels``
    None = no pixel limit, only the memory check). ``color_fix`` takes the
    colour (chroma) from the bicubic enlargement and only the luma from the
    model (:func:`superres.colorfix.fix_chroma`): grey stays grey, flat colours
    stay put (for graphics, text and dithering).
    """
    if alpha not in ("bicubic", "model"):
        raise SuperResError(f"alpha must be 'bicubic' or 'model', got {alpha!r}")
    s = upscaler.scale
    h, w = pic.color.shape[:2]
    size = check_output_size(w, h, s, outscale, max_pixels=max_pixels,
                             channels=3 + (pic.alpha is not None))
    src = pic.color
    if pic.alpha is not None:
        # the colour hidden under fully transparent pixels (often black) would otherwise
        # bleed into visible edges as a dark fringe; visible pixels are left unchanged
        src = bleed(src, pic.alpha)
    color = upscaler.upscale_array(src, progress=progress)
    if color_fix:
        from .colorfix import fix_chroma

        color = fix_chroma(color, src)
    a = None
    if pic.alpha is not None:
        if alpha == "model":
            a = upscaler.upscale_array(pic.alpha[:, :, None])[:, :, 0]
        else:
            a = resize_array(pic.alpha, (w * s, h * s), "bicubic")
    if size != (w * s, h * s):
        kernel = "bicubic" if outscale < s else "lanczos"
        color = resize_array(color, size, kernel)
        a = resize_array(a, size, kernel) if a is not None else None
    return pic.with_pixels(color, a)


def _array_to_picture(arr: np.ndarray) -> tuple[Picture, str]:
    if not isinstance(arr, np.ndarray):
        raise InputError(f"expected a NumPy array, got {type(arr).__name__}")
    kind = "uint"
    if arr.ndim == 2:
        arr = arr[:, :, None]
    if arr.ndim != 3 or arr.shape[2] not in (1, 2, 3, 4):
        raise InputError(f"array must be (H, W), (H, W, 1|2|3|4); got shape {arr.shape}")
    if arr.dtype == np.uint8 or arr.dtype == np.uint16:
        data = arr
    elif np.issubdtype(arr.dtype, np.floating):
        kind = "float"
        if arr.size and (np.nanmin(arr) < -1e-3 or np.nanmax(arr) > 1 + 1e-3):
            raise InputError("float arrays must hold values in [0, 1] (divide 8-bit data by 255)")
        data = np.round(np.clip(arr, 0, 1) * 65535).astype(np.uint16)
    else:
        raise InputError(f"unsupported array dtype {arr.dtype}; use uint8, uint16 or float in [0, 1]")
    if min(data.shape[:2]) < 2:
        raise InputError(f"{data.shape[1]}x{data.shape[0]} is too small to upscale (need at least 2x2)")
    color_c = 1 if data.shape[2] in (1, 2) else 3
    color = np.ascontiguousarray(data[:, :, :color_c])
    alpha = np.ascontiguousarray(data[:, :, color_c]) if data.shape[2] in (2, 4) else None
    return Picture(color, alpha), kind


def upscale(image, model="srgan-x4", *, outscale: float | None = None, tile: int | None = None,
            device: str = "auto", alpha: str = "bicubic", precision: str = DEFAULT_PRECISION,
            max_pixels: int | None = DEFAULT_MAX_PIXELS, progress=None, color_fix: bool = False,
            strength: float | None = None, denoise: float | None = None):
    """Upscale ``image`` with ``model`` and return the result as the same kind.

    ``image`` may be a path (returns a PIL image), a PIL image (returns a PIL
    image of the same mode family) or a NumPy array (H, W[, C]) of uint8,
    uint16 or float in [0, 1] (returns the same dtype and channel count).
    ``model`` is a registry name (see ``superres models``), a weights path or a
    module; ``outscale`` sets a final scale other than the model's; ``color_fix``
    keeps the input's colours (see :func:`upscale_picture`; for graphics). ``strength`` (0..1) is
    the GAN strength, as ``--strength``: ``srgan-x4`` blended with ``srresnet-x4`` (0 = srresnet-x4,
    1 = srgan-x4; ``course-srgan`` likewise); ``denoise`` (0..1) is Real-ESRGAN's, as ``--denoise``
    (``realesr-general-x4v3``).
    """
    up = make_upscaler(model, device=device, tile=tile, precision=precision, strength=strength, denoise=denoise)
    if isinstance(image, (str, os.PathLike)):
        pic = read_image(Path(image), max_pixels=max_pixels)
        return to_pil(upscale_picture(pic, up, alpha=alpha, outscale=outscale, progress=progress,
                                               max_pixels=max_pixels, color_fix=color_fix))
    if isinstance(image, np.ndarray):
        pic, kind = _array_to_picture(image)
        out = upscale_picture(pic, up, alpha=alpha, outscale=outscale, progress=progress,
                                               max_pixels=max_pixels, color_fix=color_fix)
        planes = out.color if out.alpha is None else np.dstack([out.color, out.alpha])
        if image.ndim == 2:
            planes = planes[:, :, 0]
        if kind == "float":
            return (planes.astype(np.float32) / 65535.0).astype(image.dtype)
        return planes
    try:
        from PIL import Image
    except ImportError:  # pragma: no cover - Pillow is a dependency
        Image = None
    if Image is not None and isinstance(image, Image.Image):
        w, h = image.size
        if max_pixels and w * h > max_pixels:
            raise InputError(f"{w}x{h} is over the {max_pixels / 1e6:.1f} MP limit; pass max_pixels=")
        if w < 2 or h < 2:
            raise InputError(f"{w}x{h} is too small to upscale (need at least 2x2)")
        return to_pil(upscale_picture(from_pil(image), up, alpha=alpha, outscale=outscale, progress=progress,
                                      max_pixels=max_pixels, color_fix=color_fix))
    raise InputError(f"cannot upscale a {type(image).__name__}; pass a path, PIL image or NumPy array")


def apply_srgan(lr: np.ndarray, model="srgan-x4") -> np.ndarray:
    """Course-material helper: uint8 RGB (H, W, 3) in, uint8 RGB (4H, 4W, 3) out.

    Notebooks written against an ``apply_srgan`` helper (a Keras SRGAN generator
    applied to one LR image) run unchanged: the result is the generator's output
    rounded to uint8. Float input is accepted as 0..255 values.
    """
    arr = np.asarray(lr)
    if arr.ndim != 3 or arr.shape[2] != 3:
        raise InputError(f"apply_srgan expects an RGB array of shape (H, W, 3), got {arr.shape}")
    if arr.dtype != np.uint8:
        arr = np.clip(np.round(arr.astype(np.float64)), 0, 255).astype(np.uint8)
    up = make_upscaler(model)
    return up.upscale_array(np.ascontiguousarray(arr))
