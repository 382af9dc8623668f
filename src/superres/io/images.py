"""Reading and writing still images without losing what the user had.

:func:`read_image` returns a :class:`Picture`: the colour pixels as an
``(H, W, C)`` uint8 or uint16 array (C = 3 for colour, 1 for grayscale), the
alpha channel separately, the bit depth, and the metadata we carry (ICC
profile, EXIF). Modes are handled explicitly:

====================  =====================================================
input mode            handling
====================  =====================================================
RGB, L                as is (grayscale stays grayscale in the output)
RGBA, LA, PA          alpha split off and upscaled separately
P                     converted to RGB (RGBA when it has transparency)
1                     converted to L
CMYK                  converted to RGB, with a warning (colours are naive)
YCbCr, LAB, HSV       converted to RGB
I;16 (16-bit gray)    kept 16-bit
16-bit RGB/RGBA       read with full precision (PNG and TIFF) and kept 16-bit
I, F (32-bit)         integer images within 0..65535 are treated as 16-bit;
                      anything else is rejected with a message
====================  =====================================================

EXIF orientation is applied on reading (the EXIF orientation tag is reset on
writing). :func:`write_image` picks the format from the extension, never
overwrites unless asked, and writes through a temporary file in the target
folder that is renamed into place, so an interrupted run leaves no partial file.
"""

from __future__ import annotations

import os
import struct
import sys
import warnings
import zlib
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from ..errors import InputError, OutOfMemory, OutputError
from ..fileio import atomic_write

__all__ = ["Picture", "read_image", "image_header", "check_pixels", "write_image", "from_pil", "to_pil",
           "DEFAULT_MAX_PIXELS", "OUTPUT_FORMATS", "IMAGE_EXTENSIONS", "UPSCALE_INPUT_EXTENSIONS", "check_output_path"]

#: refuse inputs larger than this many pixels (a decompression-bomb guard); --max-pixels changes it
DEFAULT_MAX_PIXELS = 50_000_000

#: output extension -> (Pillow format, supports alpha, supports 16-bit)
OUTPUT_FORMATS = {
    ".png": ("PNG", True, True),
    ".jpg": ("JPEG", False, False),
    ".jpeg": ("JPEG", False, False),
    ".webp": ("WEBP", True, False),
    ".bmp": ("BMP", False, False),
    ".tif": ("TIFF", True, True),
    ".tiff": ("TIFF", True, True),
}

#: still-image files found in folders (upscale, eval, training data): the formats written, read back
IMAGE_EXTENSIONS = frozenset(OUTPUT_FORMATS)

#: what `superres upscale` (locally or on Ray) takes from a folder: still images, and GIFs (their
#: first frame; `superres animate` does the rest)
UPSCALE_INPUT_EXTENSIONS = IMAGE_EXTENSIONS | {".gif"}


@dataclass
class Picture:
    """Pixels plus what must survive the round trip.

    Attributes:
        color: (H, W, 3) or (H, W, 1) array, uint8 or uint16.
        alpha: (H, W) array of the same dtype, or None.
        icc_profile / exif: raw bytes to carry to the output (may be None).
        source_mode: the Pillow mode of the file, for messages.
        path: where it was read from, if anywhere.
    """

    color: np.ndarray
    alpha: np.ndarray | None = None
    icc_profile: bytes | None = None
    exif: bytes | None = None
    source_mode: str = ""
    path: Path | None = None
    info: dict = field(default_factory=dict)

    @property
    def bits(self) -> int:
        return 16 if self.color.dtype == np.uint16 else 8

    @property
    def size(self) -> tuple[int, int]:
        """(width, height)."""
        return self.color.shape[1], self.color.shape[0]

    @property
    def grayscale(self) -> bool:
        return self.color.shape[2] == 1

    def with_pixels(self, color: np.ndarray, alpha: np.ndarray | None) -> "Picture":
        return replace(self, color=color, alpha=alpha)


# ---------------------------------------------------------------------------
# reading
# ---------------------------------------------------------------------------

def _rawmode(args) -> str:
    if isinstance(args, str):
        return args
    if isinstance(args, tuple) and args and isinstance(args[0], str):
        return args[0]
    return ""


def _with_rawmode(args, rawmode: str):
    if isinstance(args, str):
        return rawmode
    return (rawmode,) + tuple(args[1:])


def _swap_rawmode(rawmode: str) -> str:
    """``RGB;16B`` <-> ``RGB;16L``; native order (``;16N``, what Pillow uses for
    libtiff-decoded, i.e. compressed, TIFFs) is resolved to the host's order first."""
    rawmode = rawmode.replace("16N", "16L" if sys.byteorder == "little" else "16B")
    return rawmode.replace("16B", "16§").replace("16L", "16B").replace("16§", "16L")


def _read_rgb16(path: Path) -> np.ndarray | None:
    """Full-precision 16-bit RGB(A) or gray+alpha via Pillow, as (H, W, C) uint16.

    Pillow turns 16-bit RGB into 8-bit RGB by keeping each sample's high byte;
    decoding again with the rawmode's byte order swapped keeps the low byte.
    16-bit gray+alpha PNG (rawmode ``LA;16B``, opened as RGBA) is decoded once
    with rawmode ``RGBA`` (same 32 bits a pixel), which yields all four bytes.
    Returns None if the file's decoder does not expose a 16-bit rawmode.
    """
    from PIL import Image

    with Image.open(path) as im:
        raws = {_rawmode(t.args) for t in im.tile}
        if raws == {"LA;16B"}:
            im.tile = [t._replace(args=_with_rawmode(t.args, "RGBA")) for t in im.tile]
            im.load()
            b = np.asarray(im).astype(np.uint16)
            return np.dstack([(b[:, :, 0] << 8) | b[:, :, 1], (b[:, :, 2] << 8) | b[:, :, 3]])
    if not raws or not all(";16" in r and r.split(";")[0] in ("RGB", "RGBA") for r in raws):
        return None
    planes = []
    for swap in (False, True):
        with Image.open(path) as im:
            if swap:
                im.tile = [t._replace(args=_with_rawmode(t.args, _swap_rawmode(_rawmode(t.args))))
                           for t in im.tile]
            im.load()
            planes.append(np.asarray(im).astype(np.uint16))
    return (planes[0] << 8) | planes[1]


def _is_16bit_rgb(im) -> bool:
    if im.mode not in ("RGB", "RGBA"):
        return False
    if im.format == "PNG":
        return any(";16" in _rawmode(t.args) for t in im.tile)
    if im.format == "TIFF":
        bps = im.tag_v2.get(258) if hasattr(im, "tag_v2") else None
        return bool(bps) and max(bps if isinstance(bps, tuple) else (bps,)) == 16
    return False


def _probe(path: Path) -> tuple[int, int, str]:
    """(width, height, format) from the file's header, without decoding the pixels."""
    from PIL import Image, UnidentifiedImageError

    if not path.exists():
        raise InputError(f"{path}: no such file")
    if path.is_dir():
        raise InputError(f"{path}: is a folder, not an image file (pass the folder as an input to process "
                         "every image in it)")
    if path.stat().st_size == 0:
        raise InputError(f"{path}: the file is empty (0 bytes)")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            old_limit = Image.MAX_IMAGE_PIXELS
            Image.MAX_IMAGE_PIXELS = None  # our own limit replaces Pillow's
            try:
                with Image.open(path) as probe:
                    return probe.size[0], probe.size[1], probe.format
            finally:
                Image.MAX_IMAGE_PIXELS = old_limit
    except UnidentifiedImageError:
        raise InputError(f"{path}: not an image Pillow can read (PNG, JPEG, WebP, BMP, TIFF, GIF), "
                         "or the file is damaged") from None
    except Exception as e:  # noqa: BLE001 - a damaged file can make a Pillow plugin raise anything
        raise InputError(f"{path}: cannot read: {_damaged(e)}") from None


def check_pixels(path: Path, w: int, h: int, max_pixels: int | None) -> None:
    """Refuse an image over ``max_pixels`` (the decompression-bomb guard) or under 2x2 (:class:`InputError`)."""
    if max_pixels and w * h > max_pixels:
        if max_pixels >= 100_000:
            size = f"{w * h / 1e6:.1f} megapixels, over the limit of {max_pixels / 1e6:.1f} MP"
        else:
            size = f"{w * h:,} pixels, over the limit of {max_pixels:,}"
        raise InputError(f"{path}: {w}x{h} is {size}; raise it with --max-pixels if this is intended")
    if w < 2 or h < 2:
        raise InputError(f"{path}: {w}x{h} is too small to upscale (need at least 2x2 pixels)")


def image_header(path: str | os.PathLike, max_pixels: int | None = None) -> tuple[int, int, bool]:
    """(width, height, has_alpha) of an image file as :func:`read_image` would return it
    (EXIF orientation applied), read from its header only: nothing is decoded, so a
    decompression bomb costs nothing. Raises :class:`InputError`, also for an image
    over ``max_pixels`` (None: no limit) or under 2x2."""
    from PIL import Image

    path = Path(path)
    w, h, fmt = _probe(path)
    check_pixels(path, w, h, max_pixels)
    old_limit = Image.MAX_IMAGE_PIXELS
    Image.MAX_IMAGE_PIXELS = None
    try:
        with Image.open(path) as im:
            alpha = "A" in im.mode or "transparency" in im.info
            if fmt == "PNG":  # Pillow's getexif() decodes a PNG to find a late eXIf chunk: read the early one only
                exif = Image.Exif()
                if im.info.get("exif"):
                    exif.load(im.info["exif"])
            else:
                exif = im.getexif()
            if exif.get(0x0112, 1) in (5, 6, 7, 8):
                w, h = h, w
    except MemoryError:
        raise OutOfMemory(f"{path}: out of memory reading the header of this {w}x{h} image") from None
    except Exception as e:  # noqa: BLE001 - a damaged file can make a Pillow plugin raise anything
        raise InputError(f"{path}: cannot read: {_damaged(e)}") from None
    finally:
        Image.MAX_IMAGE_PIXELS = old_limit
    return w, h, alpha


def read_image(path: str | os.PathLike, max_pixels: int | None = DEFAULT_MAX_PIXELS) -> Picture:
    """Read an image file into a :class:`Picture` (raises :class:`InputError`)."""
    from PIL import Image, ImageOps

    path = Path(path)
    w, h, fmt = _probe(path)
    check_pixels(path, w, h, max_pixels)
    old_limit = Image.MAX_IMAGE_PIXELS
    Image.MAX_IMAGE_PIXELS = None
    try:
        with Image.open(path) as im:
            rgb16 = _is_16bit_rgb(im)
            if getattr(im, "is_animated", False) and getattr(im, "n_frames", 1) > 1:
                warnings.warn(f"{path.name} is animated ({im.n_frames} frames); only the first frame is "
                              "upscaled (use `superres animate` for all of them)", stacklevel=2)
            im.load()
            im_t = ImageOps.exif_transpose(im)
            pic = from_pil(im_t)
            pic.path = path
            pic.info["format"] = fmt
            exif = im.getexif()
            orientation = exif.get(0x0112, 1)
            pic.exif = _exif_for_output(exif)
        if rgb16:
            full = _read_rgb16(path)
            if full is not None:
                full = _exif_apply_array(full, orientation)
                ncolor = 1 if full.shape[2] == 2 else 3
                pic.color = np.ascontiguousarray(full[:, :, :ncolor])
                pic.alpha = np.ascontiguousarray(full[:, :, ncolor]) if full.shape[2] in (2, 4) else None
                if ncolor == 1:
                    pic.source_mode = "LA"
    except InputError as e:
        raise InputError(f"{path}: {e}") from None
    except MemoryError:
        raise OutOfMemory(f"{path}: out of memory decoding this {w}x{h} image ({w * h / 1e6:,.1f} MP); "
                          "lower --max-pixels to refuse such files, or use a machine with more memory") from None
    except Exception as e:  # noqa: BLE001 - a damaged file can make a Pillow decoder raise anything
        raise InputError(f"{path}: cannot decode: {_damaged(e)}") from None
    finally:
        Image.MAX_IMAGE_PIXELS = old_limit
    return pic


def _damaged(e: BaseException) -> str:
    msg = str(e) or type(e).__name__
    if "truncat" in msg.lower() or "broken" in msg.lower() or not isinstance(e, OSError) \
            or "decoder" in msg.lower():
        return f"the file is truncated or damaged ({msg})"
    return msg


#: TIFF tags that describe the pixel layout of the file they came from; a TIFF's
#: EXIF (Pillow's ``getexif`` of a TIFF is its first IFD) must not carry them to
#: the output: they would describe the wrong size/layout and break TIFF writing
_LAYOUT_TAGS = (254, 255, 256, 257, 258, 259, 262, 263, 266, 273, 277, 278, 279, 280, 281, 284, 317,
                320, 322, 323, 324, 325, 338, 339, 340, 341, 347, 530, 531, 532, 34675)


def _exif_for_output(exif) -> bytes | None:
    """EXIF bytes to carry: orientation reset to 1 (already applied), layout tags removed."""
    if not exif:
        return None
    for tag in _LAYOUT_TAGS:
        if tag in exif:
            del exif[tag]
    exif[0x0112] = 1  # orientation already applied
    return exif.tobytes()


def _exif_with_size(exif: bytes | None, width: int, height: int) -> bytes | None:
    """EXIF bytes whose PixelXDimension/PixelYDimension state the output size."""
    if not exif:
        return exif
    from PIL import Image

    e = Image.Exif()
    e.load(exif)
    ifd = e.get_ifd(0x8769)  # Exif sub-IFD holds 0xA002 / 0xA003
    if 0xA002 not in ifd and 0xA003 not in ifd:
        return exif  # nothing to correct: keep the bytes exactly as read
    ifd[0xA002], ifd[0xA003] = width, height
    return e.tobytes()


def _exif_apply_array(arr: np.ndarray, o: int) -> np.ndarray:
    """Apply EXIF orientation ``o`` to a raw array read separately."""
    ops = {2: lambda a: a[:, ::-1], 3: lambda a: a[::-1, ::-1], 4: lambda a: a[::-1],
           5: lambda a: a.transpose(1, 0, 2), 6: lambda a: a.transpose(1, 0, 2)[:, ::-1],
           7: lambda a: a.transpose(1, 0, 2)[::-1, ::-1], 8: lambda a: a.transpose(1, 0, 2)[::-1]}
    return np.ascontiguousarray(ops[o](arr)) if o in ops else arr


def from_pil(im) -> Picture:
    """Convert a PIL image to a :class:`Picture` (handles every mode explicitly)."""
    mode = im.mode
    icc = im.info.get("icc_profile")
    if mode == "P" or mode == "PA":
        has_alpha = mode == "PA" or "transparency" in im.info
        im = im.convert("RGBA" if has_alpha else "RGB")
    elif mode == "1":
        im = im.convert("L")
    elif mode == "CMYK":
        warnings.warn("CMYK image converted to RGB with a simple formula; colours may shift "
                      "(convert it with a colour-managed editor for exact colours)", stacklevel=3)
        im = im.convert("RGB")
        icc = None  # the CMYK profile does not describe the RGB result
    elif mode in ("YCbCr", "LAB", "HSV", "RGBX", "RGBa", "La"):
        im = im.convert("RGBA" if mode in ("RGBa",) else ("LA" if mode == "La" else "RGB"))
    mode2 = im.mode
    if mode2 in ("I;16", "I;16L", "I;16B", "I;16N"):
        arr = np.asarray(im).astype(np.uint16)
        return Picture(arr[:, :, None], None, icc, None, mode)
    if mode2 == "I":
        arr = np.asarray(im)
        if arr.min() < 0 or arr.max() > 65535:
            raise InputError(f"32-bit integer image with values {arr.min()}..{arr.max()} is not supported; "
                             "save it as 8- or 16-bit")
        return Picture(arr.astype(np.uint16)[:, :, None], None, icc, None, mode)
    if mode2 == "F":
        raise InputError("32-bit floating-point images are not supported; save it as 8- or 16-bit PNG/TIFF")
    arr = np.asarray(im)
    if mode2 == "RGB":
        return Picture(arr, None, icc, None, mode)
    if mode2 == "RGBA":
        return Picture(np.ascontiguousarray(arr[:, :, :3]), np.ascontiguousarray(arr[:, :, 3]), icc, None, mode)
    if mode2 == "L":
        return Picture(arr[:, :, None], None, icc, None, mode)
    if mode2 == "LA":
        return Picture(np.ascontiguousarray(arr[:, :, :1]), np.ascontiguousarray(arr[:, :, 1]), icc, None, mode)
    raise InputError(f"image mode {mode!r} is not supported; convert it to RGB or grayscale first")


def to_pil(pic: Picture):
    """A PIL image of ``pic`` (16-bit colour becomes 8-bit: PIL cannot hold it)."""
    from PIL import Image

    color, alpha = pic.color, pic.alpha
    if pic.bits == 16 and pic.grayscale and alpha is None:
        return Image.fromarray(color[:, :, 0].astype(np.uint16))  # I;16
    if pic.bits == 16:
        color = _to8(color)
        alpha = _to8(alpha) if alpha is not None else None
    if pic.grayscale:
        base = color[:, :, 0]
        return Image.fromarray(np.dstack([base, alpha])) if alpha is not None else Image.fromarray(base)
    return Image.fromarray(np.dstack([color, alpha])) if alpha is not None else Image.fromarray(color)


def _to8(a: np.ndarray) -> np.ndarray:
    return ((a.astype(np.uint32) * 255 + 32767) // 65535).astype(np.uint8)


# ---------------------------------------------------------------------------
# writing
# ---------------------------------------------------------------------------

def check_output_path(path: str | os.PathLike, overwrite: bool = False, formats=None,
                      kind: str = "output") -> Path:
    """Validate an output file path before any work is done (raises :class:`OutputError`).

    ``formats`` is the collection of allowed extensions (default: the still-image
    :data:`OUTPUT_FORMATS`); ``kind`` names them in the message (e.g. "animation").
    """
    formats = OUTPUT_FORMATS if formats is None else formats
    path = Path(path)
    ext = path.suffix.lower()
    if ext not in formats:
        raise OutputError(f"{path}: unknown {kind} format {ext or '(no extension)'!r}; use one of "
                          f"{', '.join(sorted(formats))}")
    if path.is_dir():
        raise OutputError(f"{path} is a folder; give an output file name")
    if path.exists() and not overwrite:
        raise OutputError(f"{path} already exists; pass --overwrite to replace it, or choose another name")
    parent = path.parent if str(path.parent) else Path(".")
    if parent.exists() and not parent.is_dir():
        raise OutputError(f"{parent} is not a folder")
    if parent.exists() and not os.access(parent, os.W_OK | os.X_OK):
        raise OutputError(f"cannot write to folder {parent} (permission denied); choose another output folder")
    return path


def _png16(color: np.ndarray, alpha: np.ndarray | None, icc: bytes | None, exif: bytes | None = None) -> bytes:
    """Encode 16-bit RGB/RGBA/gray(+alpha) PNG (Pillow cannot write 16-bit colour)."""
    planes = color if alpha is None else np.dstack([color, alpha])
    h, w, c = planes.shape
    ctype = {1: 0, 2: 4, 3: 2, 4: 6}[c]
    rows = planes.astype(">u2").reshape(h, w * c)
    raw = np.zeros((h, 1 + w * c * 2), dtype=np.uint8)
    raw[:, 1:] = rows.view(np.uint8).reshape(h, w * c * 2)
    # "Up" filter (type 2) on every row compresses photos well and is vectorised
    raw[1:, 1:] = raw[1:, 1:] - raw[:-1, 1:]
    raw[1:, 0] = 2

    def chunk(t: bytes, d: bytes) -> bytes:
        return struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d) & 0xFFFFFFFF)

    out = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 16, ctype, 0, 0, 0))
    if icc:
        out += chunk(b"iCCP", b"ICC profile\x00\x00" + zlib.compress(icc))
    if exif:
        out += chunk(b"eXIf", exif[6:] if exif.startswith(b"Exif\x00\x00") else exif)
    out += chunk(b"IDAT", zlib.compress(raw.tobytes(), 6)) + chunk(b"IEND", b"")
    return out


def _tiff16(color: np.ndarray, alpha: np.ndarray | None, icc: bytes | None) -> bytes:
    """Encode an uncompressed baseline TIFF with 16-bit samples (RGB/RGBA/gray)."""
    planes = color if alpha is None else np.dstack([color, alpha])
    h, w, c = planes.shape
    data = planes.astype("<u2").tobytes()
    entries = []  # (tag, type, count, value-bytes)
    SHORT, LONG, UNDEF = 3, 4, 7

    def add(tag, typ, values):
        fmt = {SHORT: "<H", LONG: "<I"}.get(typ)
        payload = b"".join(struct.pack(fmt, v) for v in values) if fmt else values
        entries.append((tag, typ, len(values), payload))

    add(256, LONG, [w])
    add(257, LONG, [h])
    add(258, SHORT, [16] * c)
    add(259, SHORT, [1])  # no compression
    add(262, SHORT, [2 if c >= 3 else 1])  # RGB or min-is-black
    add(273, LONG, [0])  # strip offset, patched below
    add(277, SHORT, [c])
    add(278, LONG, [h])
    add(279, LONG, [len(data)])
    add(284, SHORT, [1])
    if alpha is not None:
        add(338, SHORT, [2])  # extra sample = unassociated alpha
    if icc:
        add(34675, UNDEF, icc)
    entries.sort()
    ifd_off = 8
    ifd_len = 2 + 12 * len(entries) + 4
    extra_off = ifd_off + ifd_len
    extra = b""
    blobs = []
    for tag, typ, count, payload in entries:
        if len(payload) > 4:
            blobs.append((tag, extra_off + len(extra)))
            extra += payload + (b"\x00" if len(payload) % 2 else b"")
    data_off = extra_off + len(extra)
    ifd = struct.pack("<H", len(entries))
    blob_at = dict(blobs)
    for tag, typ, count, payload in entries:
        if tag == 273:
            payload = struct.pack("<I", data_off)
        if tag in blob_at:
            ifd += struct.pack("<HHII", tag, typ, count, blob_at[tag])
        else:
            ifd += struct.pack("<HHI", tag, typ, count) + payload.ljust(4, b"\x00")
    ifd += struct.pack("<I", 0)
    return b"II*\x00" + struct.pack("<I", ifd_off) + ifd + extra + data


def write_image(pic: Picture, path: str | os.PathLike, *, quality: int | None = None,
                overwrite: bool = False, keep_metadata: bool = False) -> Path:
    """Write ``pic`` to ``path`` atomically; the format comes from the extension.

    The ICC profile is always carried (colours would change without it); EXIF
    only with ``keep_metadata``. 16-bit pictures stay 16-bit in PNG and TIFF and
    are reduced to 8 bits (with a warning) for formats that cannot hold them;
    alpha is dropped with a warning for JPEG and BMP.
    """
    path = check_output_path(path, overwrite)
    fmt, has_alpha, has_16 = OUTPUT_FORMATS[path.suffix.lower()]
    if pic.alpha is not None and not has_alpha:
        warnings.warn(f"{path.name}: {fmt} has no transparency; the alpha channel is dropped "
                      "(use .png, .webp or .tif to keep it)", stacklevel=2)
        pic = pic.with_pixels(pic.color, None)
    if pic.bits == 16 and not has_16:
        warnings.warn(f"{path.name}: {fmt} cannot store 16 bits per channel; writing 8-bit "
                      "(use .png or .tif to keep 16 bits)", stacklevel=2)
        pic = pic.with_pixels(_to8(pic.color), _to8(pic.alpha) if pic.alpha is not None else None)
    if pic.bits == 16 and not (pic.grayscale and pic.alpha is None):
        exif = _exif_with_size(pic.exif, *pic.size) if keep_metadata else None
        if fmt == "PNG":
            data = _png16(pic.color, pic.alpha, pic.icc_profile, exif)
        else:
            if exif:
                warnings.warn(f"{path.name}: EXIF is not written to 16-bit colour TIFF files "
                              "(use .png to keep it)", stacklevel=2)
            color = pic.color
            if pic.grayscale:
                # Pillow (and so superres) cannot open 16-bit gray+alpha TIFF; store it as RGBA
                color = np.repeat(color, 3, axis=2)
            data = _tiff16(color, pic.alpha, pic.icc_profile)
        atomic_write(path, lambda f: f.write(data))
        return path
    im = to_pil(pic)
    params: dict = {}
    if pic.icc_profile:
        params["icc_profile"] = pic.icc_profile
    if keep_metadata and pic.exif:
        params["exif"] = _exif_with_size(pic.exif, *pic.size)
    if fmt in ("JPEG", "WEBP"):
        params["quality"] = 95 if quality is None else int(quality)
        if fmt == "JPEG":
            params["subsampling"] = 0 if params["quality"] >= 90 else 2
    elif quality is not None and fmt == "PNG":
        params["compress_level"] = max(0, min(9, int(quality)))
    if fmt == "TIFF":
        params["compression"] = "tiff_deflate"
    atomic_write(path, lambda f: im.save(f, format=fmt, **params))
    return path
