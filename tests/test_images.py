"""Tests for superres.io.images: reading and writing still images.

Every test makes its own tiny images in ``tmp_path``. 16-bit PNG and TIFF files
are also built here by hand (independent encoders below: all five PNG filter
types, Adam7 interlacing, little/big-endian and deflate-compressed TIFF), and
the module's own 16-bit output is checked with an independent decoder, because
the reader gets 16-bit colour out of Pillow by decoding twice with the byte
order of the raw mode swapped.
"""

from __future__ import annotations

import os
import struct
import warnings
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageOps

from superres.errors import InputError, OutputError
from superres.io import images as images_mod
from superres.io.images import Picture, from_pil, read_image, to_pil, write_image

RNG = np.random.default_rng(1234)


# ---------------------------------------------------------------------------
# helpers: independent PNG / TIFF encoders and decoders
# ---------------------------------------------------------------------------

def _paeth(a: int, b: int, c: int) -> int:
    p = a + b - c
    pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
    if pa <= pb and pa <= pc:
        return a
    return b if pb <= pc else c


def _predict(ft: int, a: int, b: int, c: int) -> int:
    return (0, a, b, (a + b) // 2, _paeth(a, b, c))[ft]


def _filter_rows(rows: list[bytes], bpp: int, filters) -> bytes:
    out = bytearray()
    prev = bytes(len(rows[0]))
    for k, row in enumerate(rows):
        ft = filters[k % len(filters)]
        f = bytearray(len(row))
        for i in range(len(row)):
            a = row[i - bpp] if i >= bpp else 0
            c = prev[i - bpp] if i >= bpp else 0
            f[i] = (row[i] - _predict(ft, a, prev[i], c)) & 0xFF
        out += bytes([ft]) + f
        prev = row
    return bytes(out)


def _unfilter(data: bytes, height: int, stride: int, bpp: int) -> bytes:
    out = bytearray()
    prev = bytearray(stride)
    pos = 0
    for _ in range(height):
        ft = data[pos]
        line = bytearray(data[pos + 1:pos + 1 + stride])
        pos += 1 + stride
        for i in range(stride):
            a = line[i - bpp] if i >= bpp else 0
            c = prev[i - bpp] if i >= bpp else 0
            line[i] = (line[i] + _predict(ft, a, prev[i], c)) & 0xFF
        out += line
        prev = line
    return bytes(out)


def _chunk(t: bytes, d: bytes) -> bytes:
    return struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d) & 0xFFFFFFFF)


ADAM7 = ((0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2), (0, 1, 1, 2))


def make_png16(planes: np.ndarray, filters=(0, 1, 2, 3, 4), interlace: bool = False,
               extra_chunks: list[tuple[bytes, bytes]] = ()) -> bytes:
    """A 16-bit PNG of ``planes`` (H, W, C), rows filtered with ``filters`` in turn."""
    h, w, c = planes.shape
    ctype = {1: 0, 2: 4, 3: 2, 4: 6}[c]
    bpp = 2 * c
    if interlace:
        subs = [planes[y0::dy, x0::dx] for x0, y0, dx, dy in ADAM7]
    else:
        subs = [planes]
    raw = b""
    for sub in subs:
        if sub.size == 0:
            continue
        rows = [sub[y].astype(">u2").tobytes() for y in range(sub.shape[0])]
        raw += _filter_rows(rows, bpp, filters)
    ihdr = struct.pack(">IIBBBBB", w, h, 16, ctype, 0, 0, 1 if interlace else 0)
    out = b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", ihdr)
    for t, d in extra_chunks:
        out += _chunk(t, d)
    return out + _chunk(b"IDAT", zlib.compress(raw)) + _chunk(b"IEND", b"")


def png_chunks(data: bytes) -> list[tuple[bytes, bytes]]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, out = 8, []
    while pos < len(data):
        (n,) = struct.unpack(">I", data[pos:pos + 4])
        t = data[pos + 4:pos + 8]
        d = data[pos + 8:pos + 8 + n]
        (crc,) = struct.unpack(">I", data[pos + 8 + n:pos + 12 + n])
        assert crc == zlib.crc32(t + d) & 0xFFFFFFFF
        out.append((t, d))
        pos += 12 + n
    return out


def decode_png16(data: bytes) -> np.ndarray:
    """Independent decoder for non-interlaced 16-bit PNG: (H, W, C) uint16."""
    chunks = png_chunks(data)
    assert chunks[0][0] == b"IHDR"
    w, h, depth, ctype, _, _, interlace = struct.unpack(">IIBBBBB", chunks[0][1])
    assert depth == 16 and interlace == 0
    c = {0: 1, 4: 2, 2: 3, 6: 4}[ctype]
    idat = zlib.decompress(b"".join(d for t, d in chunks if t == b"IDAT"))
    raw = _unfilter(idat, h, w * c * 2, c * 2)
    return np.frombuffer(raw, dtype=">u2").reshape(h, w, c).astype(np.uint16)


def make_tiff16(planes: np.ndarray, byteorder: str = "<", compress: bool = False,
                extra_tags: list[tuple[int, int, list[int]]] = ()) -> bytes:
    """A baseline 16-bit TIFF (one strip), little (``<``) or big (``>``) endian, optionally deflated."""
    h, w, c = planes.shape
    data = planes.astype(byteorder + "u2").tobytes()
    if compress:
        data = zlib.compress(data)
    tags = [(256, 4, [w]), (257, 4, [h]), (258, 3, [16] * c), (259, 3, [8 if compress else 1]),
            (262, 3, [2 if c >= 3 else 1]), (273, 4, [0]), (277, 3, [c]), (278, 4, [h]),
            (279, 4, [len(data)]), (284, 3, [1])]
    if c in (2, 4):
        tags.append((338, 3, [2]))
    tags = sorted(tags + list(extra_tags))
    bo = byteorder
    fmt = {3: "H", 4: "I"}
    n = len(tags)
    extra_off = 8 + 2 + 12 * n + 4
    extra, blobs = b"", {}
    for tag, typ, vals in tags:
        payload = struct.pack(bo + fmt[typ] * len(vals), *vals)
        if len(payload) > 4:
            blobs[tag] = extra_off + len(extra)
            extra += payload
    data_off = extra_off + len(extra)
    ifd = struct.pack(bo + "H", n)
    for tag, typ, vals in tags:
        if tag == 273:
            vals = [data_off]
        payload = struct.pack(bo + fmt[typ] * len(vals), *vals)
        if tag in blobs:
            ifd += struct.pack(bo + "HHII", tag, typ, len(vals), blobs[tag])
        else:
            ifd += struct.pack(bo + "HHI", tag, typ, len(vals)) + payload.ljust(4, b"\0")
    ifd += struct.pack(bo + "I", 0)
    head = (b"II*\0" if bo == "<" else b"MM\0*") + struct.pack(bo + "I", 8)
    return head + ifd + extra + data


def parse_tiff(data: bytes) -> tuple[dict[int, tuple], str]:
    """Independent TIFF IFD0 parser: {tag: values}, byte order."""
    bo = {b"II": "<", b"MM": ">"}[data[:2]]
    assert struct.unpack(bo + "H", data[2:4])[0] == 42
    (off,) = struct.unpack(bo + "I", data[4:8])
    (n,) = struct.unpack(bo + "H", data[off:off + 2])
    sizes = {1: ("B", 1), 2: ("c", 1), 3: ("H", 2), 4: ("I", 4), 7: ("B", 1)}
    tags = {}
    for k in range(n):
        e = data[off + 2 + 12 * k: off + 14 + 12 * k]
        tag, typ, count = struct.unpack(bo + "HHI", e[:8])
        f, sz = sizes[typ]
        raw = e[8:12] if count * sz <= 4 else data[struct.unpack(bo + "I", e[8:12])[0]:][:count * sz]
        tags[tag] = raw[:count * sz] if typ in (2, 7) else struct.unpack(bo + f * count, raw[:count * sz])
    return tags, bo


def decode_tiff16(data: bytes) -> np.ndarray:
    tags, bo = parse_tiff(data)
    w, h, c = tags[256][0], tags[257][0], tags[277][0]
    assert set(tags[258]) == {16} and tags[259] == (1,)
    raw = b"".join(data[o:o + n] for o, n in zip(tags[273], tags[279]))
    return np.frombuffer(raw, dtype=bo + "u2").reshape(h, w, c).astype(np.uint16)


def rand16(h: int, w: int, c: int) -> np.ndarray:
    a = RNG.integers(0, 65536, (h, w, c), dtype=np.uint16)
    a[0, 0] = 0
    a[-1, -1] = 65535
    return a


def rand8(h: int, w: int, c: int | None = None) -> np.ndarray:
    shape = (h, w) if c is None else (h, w, c)
    return RNG.integers(0, 256, shape, dtype=np.uint8)


def srgb_icc() -> bytes:
    try:
        from PIL import ImageCms

        return ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    except Exception:  # pragma: no cover - Pillow built without littlecms
        return b"\0\0\0\x80fake-icc-profile" + bytes(range(112))


def exif_with(orientation: int | None = None, make: str | None = None) -> Image.Exif:
    ex = Image.Exif()
    if orientation is not None:
        ex[0x0112] = orientation
    if make is not None:
        ex[0x010F] = make
    return ex


def exif_chunk(ex: Image.Exif) -> tuple[bytes, bytes]:
    b = ex.tobytes()
    return (b"eXIf", b[6:] if b.startswith(b"Exif\0\0") else b)


def leftovers(folder: Path, keep: set[str]) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name not in keep)


@pytest.fixture(scope="module")
def bicubic():
    from superres.api import make_upscaler

    return make_upscaler("bicubic", device="cpu")


# ---------------------------------------------------------------------------
# formats in and out
# ---------------------------------------------------------------------------

LOSSLESS_SAVE = {
    "png": ("PNG", {}),
    "bmp": ("BMP", {}),
    "tif": ("TIFF", {}),
    "webp": ("WEBP", {"lossless": True}),
}


@pytest.mark.parametrize("ext", sorted(LOSSLESS_SAVE))
def test_read_lossless_formats_rgb(tmp_path, ext):
    a = rand8(5, 7, 3)
    fmt, kw = LOSSLESS_SAVE[ext]
    p = tmp_path / f"in.{ext}"
    Image.fromarray(a).save(p, format=fmt, **kw)
    pic = read_image(p)
    assert pic.color.dtype == np.uint8 and pic.color.shape == (5, 7, 3)
    assert pic.alpha is None and pic.bits == 8 and pic.size == (7, 5) and not pic.grayscale
    assert np.array_equal(pic.color, a)
    assert pic.info["format"] == fmt and pic.path == p and pic.source_mode == "RGB"


@pytest.mark.parametrize("compression", ["tiff_deflate", "tiff_lzw", "packbits"])
def test_read_compressed_tiff(tmp_path, compression):
    a = rand8(6, 5, 3)
    p = tmp_path / "in.tif"
    Image.fromarray(a).save(p, compression=compression)
    assert np.array_equal(read_image(p).color, a)


def test_read_jpeg(tmp_path):
    a = np.zeros((16, 16, 3), np.uint8)
    a[:, 8:] = (200, 100, 50)
    p = tmp_path / "in.jpg"
    Image.fromarray(a).save(p, quality=100, subsampling=0)
    pic = read_image(p)
    assert pic.color.shape == (16, 16, 3) and pic.color.dtype == np.uint8
    assert np.abs(pic.color.astype(int) - a).max() <= 8
    assert pic.info["format"] == "JPEG"


def test_read_gif_palette(tmp_path):
    a = rand8(4, 6)
    p = tmp_path / "in.gif"
    Image.fromarray(a, "L").convert("P").save(p)
    pic = read_image(p)
    assert pic.color.shape == (4, 6, 3) and pic.color.dtype == np.uint8


@pytest.mark.parametrize("ext,fmt", [(".png", "PNG"), (".jpg", "JPEG"), (".jpeg", "JPEG"), (".webp", "WEBP"),
                                     (".bmp", "BMP"), (".tif", "TIFF"), (".tiff", "TIFF"), (".PNG", "PNG"),
                                     (".JPG", "JPEG")])
def test_output_format_from_extension(tmp_path, ext, fmt):
    a = rand8(5, 6, 3)
    out = write_image(Picture(a), tmp_path / f"out{ext}")
    assert out == tmp_path / f"out{ext}"
    with Image.open(out) as im:
        assert im.format == fmt and im.size == (6, 5) and im.mode == "RGB"
        if fmt in ("PNG", "BMP", "TIFF"):
            assert np.array_equal(np.asarray(im), a)


@pytest.mark.parametrize("ext", [".jpg", ".webp"])
def test_quality_changes_lossy_output(tmp_path, ext):
    a = rand8(32, 32, 3)
    lo = write_image(Picture(a), tmp_path / f"lo{ext}", quality=5)
    hi = write_image(Picture(a), tmp_path / f"hi{ext}", quality=100)
    assert lo.stat().st_size < hi.stat().st_size
    err_lo = np.abs(read_image(lo).color.astype(int) - a).mean()
    err_hi = np.abs(read_image(hi).color.astype(int) - a).mean()
    assert err_hi < err_lo


@pytest.mark.parametrize("name", ["out.gif", "out.xyz", "out", "out.png.part"])
def test_unknown_output_extension(tmp_path, name):
    with pytest.raises(OutputError, match=r"unknown output format.*\.png"):
        write_image(Picture(rand8(3, 3, 3)), tmp_path / name)
    assert list(tmp_path.iterdir()) == []


def test_check_output_path_rejects_unknown_extension_before_work(tmp_path):
    with pytest.raises(OutputError):
        images_mod.check_output_path(tmp_path / "x.exr")
    assert images_mod.check_output_path(tmp_path / "x.png") == tmp_path / "x.png"


# ---------------------------------------------------------------------------
# modes
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("ext", [".png", ".tif"])
def test_rgba_alpha_split_and_written_back(tmp_path, ext):
    a = rand8(5, 6, 4)
    p = tmp_path / f"in{ext}"
    Image.fromarray(a, "RGBA").save(p)
    pic = read_image(p)
    assert pic.color.shape == (5, 6, 3) and pic.alpha.shape == (5, 6)
    assert pic.color.flags["C_CONTIGUOUS"] and pic.alpha.flags["C_CONTIGUOUS"]
    assert np.array_equal(pic.color, a[:, :, :3]) and np.array_equal(pic.alpha, a[:, :, 3])
    out = write_image(pic, tmp_path / f"out{ext}")
    with Image.open(out) as im:
        assert im.mode == "RGBA"
        assert np.array_equal(np.asarray(im), a)


def test_rgba_to_webp_keeps_alpha(tmp_path):
    a = rand8(8, 8, 4)
    a[:, :, 3] = 0
    a[:4, :, 3] = 255
    out = write_image(Picture(a[:, :, :3].copy(), a[:, :, 3].copy()), tmp_path / "o.webp", quality=100)
    back = read_image(out)
    assert back.alpha is not None
    assert np.abs(back.alpha.astype(int) - a[:, :, 3]).max() <= 2


def test_la_alpha_split_and_written_back(tmp_path):
    a = rand8(5, 6, 2)
    p = tmp_path / "in.png"
    Image.fromarray(a, "LA").save(p)
    pic = read_image(p)
    assert pic.grayscale and pic.color.shape == (5, 6, 1) and pic.alpha.shape == (5, 6)
    assert np.array_equal(pic.color[:, :, 0], a[:, :, 0]) and np.array_equal(pic.alpha, a[:, :, 1])
    out = write_image(pic, tmp_path / "out.png")
    with Image.open(out) as im:
        assert im.mode == "LA"
        assert np.array_equal(np.asarray(im), a)


def _alpha_pattern(h: int, w: int) -> np.ndarray:
    al = np.zeros((h, w), np.uint8)
    al[:, : w // 2] = 255
    return al


@pytest.mark.parametrize("alpha_mode", ["bicubic", "model"])
@pytest.mark.parametrize("mode", ["RGBA", "LA"])
def test_alpha_round_trip_through_upscale_picture(tmp_path, bicubic, alpha_mode, mode):
    from superres.api import upscale_picture

    h, w = 10, 12
    nc = 3 if mode == "RGBA" else 1
    color = rand8(h, w, nc)
    al = _alpha_pattern(h, w)
    src = tmp_path / "in.png"
    Image.fromarray(np.dstack([color, al]), mode).save(src)

    pic = read_image(src)
    up = upscale_picture(pic, bicubic, alpha=alpha_mode)
    assert up.color.shape == (4 * h, 4 * w, nc) and up.color.dtype == np.uint8
    assert up.alpha is not None and up.alpha.shape == (4 * h, 4 * w) and up.alpha.dtype == np.uint8

    out = write_image(up, tmp_path / "out.png")
    with Image.open(out) as im:
        assert im.mode == mode and im.size == (4 * w, 4 * h)
    back = read_image(out)
    assert back.size == (4 * w, 4 * h)
    assert np.array_equal(back.color, up.color) and np.array_equal(back.alpha, up.alpha)
    # opaque half stays opaque, transparent half stays transparent (away from the edge)
    assert back.alpha[:, : 4 * w // 2 - 8].min() >= 254
    assert back.alpha[:, 4 * w // 2 + 8:].max() <= 1


def test_grayscale_stays_grayscale(tmp_path):
    a = rand8(5, 6)
    p = tmp_path / "in.png"
    Image.fromarray(a, "L").save(p)
    pic = read_image(p)
    assert pic.grayscale and pic.color.shape == (5, 6, 1) and pic.alpha is None
    assert np.array_equal(pic.color[:, :, 0], a)
    for ext in (".png", ".jpg", ".tif", ".bmp"):
        out = write_image(pic, tmp_path / f"out{ext}")
        with Image.open(out) as im:
            assert im.mode == "L", ext
    with Image.open(tmp_path / "out.png") as im:
        assert np.array_equal(np.asarray(im), a)


def test_grayscale_upscaled_png_is_mode_l(tmp_path, bicubic):
    from superres.api import upscale_picture

    p = tmp_path / "in.png"
    Image.fromarray(rand8(6, 7), "L").save(p)
    up = upscale_picture(read_image(p), bicubic)
    assert up.color.shape == (24, 28, 1)
    with Image.open(write_image(up, tmp_path / "out.png")) as im:
        assert im.mode == "L" and im.size == (28, 24)


def test_palette_without_transparency_to_rgb(tmp_path):
    idx = RNG.integers(0, 4, (5, 6), dtype=np.uint8)
    pal = [10, 20, 30, 40, 50, 60, 70, 80, 90, 250, 240, 230]
    im = Image.frombytes("P", (6, 5), idx.tobytes())
    im.putpalette(pal + [0] * (768 - len(pal)))
    p = tmp_path / "in.png"
    im.save(p)
    pic = read_image(p)
    assert pic.alpha is None and pic.color.shape == (5, 6, 3) and pic.source_mode == "P"
    expect = np.array(pal, np.uint8).reshape(4, 3)[idx]
    assert np.array_equal(pic.color, expect)


def test_palette_with_transparency_to_rgba(tmp_path):
    idx = np.array([[0, 1, 2], [2, 1, 0]], np.uint8)
    idx = np.repeat(np.repeat(idx, 2, 0), 2, 1)
    im = Image.frombytes("P", (idx.shape[1], idx.shape[0]), idx.tobytes())
    im.putpalette([255, 0, 0, 0, 255, 0, 0, 0, 255] + [0] * 759)
    p = tmp_path / "in.png"
    im.save(p, transparency=1)
    pic = read_image(p)
    assert pic.color.shape == (4, 6, 3) and pic.alpha is not None
    assert np.array_equal(pic.alpha, np.where(idx == 1, 0, 255))
    assert np.array_equal(pic.color[idx == 0], np.tile([255, 0, 0], ((idx == 0).sum(), 1)))
    with Image.open(write_image(pic, tmp_path / "out.png")) as out:
        assert out.mode == "RGBA"


def test_one_bit_to_l(tmp_path):
    bits = RNG.integers(0, 2, (6, 9)).astype(bool)
    p = tmp_path / "in.png"
    Image.fromarray(bits).save(p)
    with Image.open(p) as im:
        assert im.mode == "1"
    pic = read_image(p)
    assert pic.grayscale and pic.color.dtype == np.uint8 and pic.alpha is None
    assert np.array_equal(pic.color[:, :, 0], np.where(bits, 255, 0))


def test_cmyk_to_rgb_with_warning_and_icc_dropped(tmp_path):
    p = tmp_path / "in.jpg"
    Image.fromarray(rand8(8, 8, 4), "CMYK").save(p, icc_profile=b"cmyk-profile-bytes")
    with Image.open(p) as im:
        assert im.mode == "CMYK" and im.info.get("icc_profile")
    with pytest.warns(UserWarning, match="CMYK"):
        pic = read_image(p)
    assert pic.color.shape == (8, 8, 3) and pic.icc_profile is None and pic.source_mode == "CMYK"
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        out = write_image(pic, tmp_path / "out.png")
    with Image.open(out) as im:
        assert im.mode == "RGB" and "icc_profile" not in im.info


def test_gray16_png_kept_through_upscale(tmp_path, bicubic):
    from superres.api import upscale_picture

    a = np.full((6, 8), 1000, np.uint16)
    a[:, 4:] = 60000
    a[0, 0] = 12345
    p = tmp_path / "in.png"
    Image.fromarray(a).save(p)
    with Image.open(p) as im:
        assert im.mode in ("I;16", "I")
    pic = read_image(p)
    assert pic.color.dtype == np.uint16 and pic.color.shape == (6, 8, 1) and pic.bits == 16
    assert np.array_equal(pic.color[:, :, 0], a)

    up = upscale_picture(pic, bicubic)
    assert up.color.dtype == np.uint16 and up.color.shape == (24, 32, 1)
    assert up.color.max() > 255
    out = write_image(up, tmp_path / "out.png")
    data = out.read_bytes()
    assert struct.unpack(">IIBB", png_chunks(data)[0][1][:10])[2:] == (16, 0)  # 16-bit gray
    back = read_image(out)
    assert back.color.dtype == np.uint16 and back.grayscale
    assert np.array_equal(back.color, up.color)
    assert back.color[0, -1, 0] == 60000 and back.color[-1, 0, 0] == 1000


def test_gray16_tiff_round_trip(tmp_path):
    a = rand16(5, 7, 1)
    out = write_image(Picture(a), tmp_path / "g.tif")
    with Image.open(out) as im:
        assert im.mode.startswith("I;16") and im.size == (7, 5)
    back = read_image(out)
    assert back.color.dtype == np.uint16 and np.array_equal(back.color, a)


# ---------------------------------------------------------------------------
# 16-bit colour
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("channels", [3, 4])
def test_png16_written_by_module_is_standard(tmp_path, channels):
    a = rand16(5, 7, channels)
    pic = Picture(a[:, :, :3].copy(), a[:, :, 3].copy() if channels == 4 else None)
    out = write_image(pic, tmp_path / "o.png")
    with Image.open(out) as im:
        assert im.format == "PNG" and im.size == (7, 5) and im.mode == ("RGB" if channels == 3 else "RGBA")
        im.load()
        # Pillow keeps the high byte of each sample
        assert np.array_equal(np.asarray(im), (a >> 8).astype(np.uint8))
    data = out.read_bytes()
    w, h, depth, ctype = struct.unpack(">IIBB", png_chunks(data)[0][1][:10])
    assert (w, h, depth, ctype) == (7, 5, 16, 2 if channels == 3 else 6)
    assert np.array_equal(decode_png16(data), a)
    back = read_image(out)
    assert back.color.dtype == np.uint16 and np.array_equal(back.color, a[:, :, :3])
    if channels == 4:
        assert back.alpha.dtype == np.uint16 and np.array_equal(back.alpha, a[:, :, 3])
    else:
        assert back.alpha is None


def test_png16_gray_alpha_written_and_read(tmp_path):
    a = rand16(5, 6, 2)
    out = write_image(Picture(a[:, :, :1].copy(), a[:, :, 1].copy()), tmp_path / "o.png")
    assert np.array_equal(decode_png16(out.read_bytes()), a)
    back = read_image(out)
    assert back.grayscale and back.color.dtype == np.uint16
    assert np.array_equal(back.color[:, :, 0], a[:, :, 0]) and np.array_equal(back.alpha, a[:, :, 1])


@pytest.mark.parametrize("channels", [1, 2, 3, 4])
@pytest.mark.parametrize("filters", [(0,), (1,), (2,), (3,), (4,), (1, 2, 3, 4, 0)])
def test_read_hand_made_png16_all_filters(tmp_path, channels, filters):
    a = rand16(6, 5, channels)
    p = tmp_path / "in.png"
    data = make_png16(a, filters=filters)
    assert np.array_equal(decode_png16(data), a)  # the test's own encoder/decoder agree
    p.write_bytes(data)
    pic = read_image(p)
    ncolor = 1 if channels <= 2 else 3
    assert pic.color.dtype == np.uint16 and pic.color.shape == (6, 5, ncolor)
    assert np.array_equal(pic.color, a[:, :, :ncolor])
    if channels in (2, 4):
        assert pic.alpha.dtype == np.uint16 and np.array_equal(pic.alpha, a[:, :, -1])
    else:
        assert pic.alpha is None


@pytest.mark.parametrize("channels", [2, 3, 4])
def test_read_hand_made_interlaced_png16(tmp_path, channels):
    a = rand16(9, 10, channels)
    p = tmp_path / "in.png"
    p.write_bytes(make_png16(a, filters=(4, 1, 3, 2), interlace=True))
    with Image.open(p) as im:
        assert im.info.get("interlace")
    pic = read_image(p)
    full = pic.color if pic.alpha is None else np.dstack([pic.color, pic.alpha])
    assert full.dtype == np.uint16 and np.array_equal(full, a)


@pytest.mark.parametrize("channels", [3, 4])
def test_tiff16_written_by_module_is_standard(tmp_path, channels):
    a = rand16(5, 7, channels)
    pic = Picture(a[:, :, :3].copy(), a[:, :, 3].copy() if channels == 4 else None)
    out = write_image(pic, tmp_path / "o.tif")
    with Image.open(out) as im:
        assert im.format == "TIFF" and im.size == (7, 5) and im.mode == ("RGB" if channels == 3 else "RGBA")
        im.load()
        assert np.array_equal(np.asarray(im), (a >> 8).astype(np.uint8))
    data = out.read_bytes()
    tags, _ = parse_tiff(data)
    assert tags[258] == (16,) * channels and tags[277] == (channels,)
    assert np.array_equal(decode_tiff16(data), a)
    back = read_image(out)
    full = back.color if back.alpha is None else np.dstack([back.color, back.alpha])
    assert full.dtype == np.uint16 and np.array_equal(full, a)


def test_tiff16_gray_alpha_readable(tmp_path):
    a = rand16(4, 5, 2)
    out = write_image(Picture(a[:, :, :1].copy(), a[:, :, 1].copy()), tmp_path / "o.tif")
    with Image.open(out) as im:
        assert im.size == (5, 4)
    back = read_image(out)
    assert back.color.dtype == np.uint16 and back.alpha is not None
    for c in range(back.color.shape[2]):
        assert np.array_equal(back.color[:, :, c], a[:, :, 0])
    assert np.array_equal(back.alpha, a[:, :, 1])


@pytest.mark.parametrize("channels", [3, 4])
@pytest.mark.parametrize("byteorder", ["<", ">"])
@pytest.mark.parametrize("compress", [False, True], ids=["raw", "deflate"])
def test_read_hand_made_tiff16(tmp_path, channels, byteorder, compress):
    a = rand16(5, 6, channels)
    p = tmp_path / "in.tif"
    data = make_tiff16(a, byteorder, compress)
    if not compress:
        assert np.array_equal(decode_tiff16(data), a)
    p.write_bytes(data)
    pic = read_image(p)
    full = pic.color if pic.alpha is None else np.dstack([pic.color, pic.alpha])
    assert full.dtype == np.uint16 and np.array_equal(full, a)


@pytest.mark.parametrize("ext", [".png", ".tif"])
def test_rgb16_round_trip_through_upscale_picture(tmp_path, bicubic, ext):
    from superres.api import upscale_picture

    a = rand16(6, 7, 4)
    src = tmp_path / "in.png"
    src.write_bytes(make_png16(a))
    up = upscale_picture(read_image(src), bicubic)
    assert up.color.dtype == np.uint16 and up.color.shape == (24, 28, 3) and up.alpha.shape == (24, 28)
    back = read_image(write_image(up, tmp_path / f"out{ext}"))
    assert np.array_equal(back.color, up.color) and np.array_equal(back.alpha, up.alpha)
    assert back.color.dtype == np.uint16


@pytest.mark.parametrize("ext", [".jpg", ".webp", ".bmp"])
def test_16bit_to_8bit_format_warns(tmp_path, ext):
    a = np.zeros((8, 8, 3), np.uint16)
    a[:, :4] = 257 * 200
    a[:, 4:] = 257 * 40
    with pytest.warns(UserWarning, match="16 bits"):
        out = write_image(Picture(a), tmp_path / f"o{ext}", quality=100)
    back = read_image(out)
    assert back.color.dtype == np.uint8
    assert np.abs(back.color.astype(int) - a // 257).max() <= 6


def test_gray16_to_jpeg_warns_and_is_l(tmp_path):
    a = np.full((8, 8, 1), 257 * 99, np.uint16)
    with pytest.warns(UserWarning, match="16 bits"):
        out = write_image(Picture(a), tmp_path / "o.jpg")
    with Image.open(out) as im:
        assert im.mode == "L"
        assert abs(int(np.asarray(im).mean()) - 99) <= 2


@pytest.mark.parametrize("ext", [".jpg", ".bmp"])
def test_alpha_dropped_for_formats_without_it(tmp_path, ext):
    a = rand8(5, 6, 4)
    with pytest.warns(UserWarning, match="alpha"):
        out = write_image(Picture(a[:, :, :3].copy(), a[:, :, 3].copy()), tmp_path / f"o{ext}")
    with Image.open(out) as im:
        assert im.mode == "RGB"


def test_alpha16_to_jpeg_both_warnings(tmp_path):
    a = rand16(5, 6, 4)
    with warnings.catch_warnings(record=True) as rec:
        warnings.simplefilter("always")
        out = write_image(Picture(a[:, :, :3].copy(), a[:, :, 3].copy()), tmp_path / "o.jpg")
    msgs = " | ".join(str(w.message) for w in rec)
    assert "alpha" in msgs and "16 bits" in msgs
    with Image.open(out) as im:
        assert im.mode == "RGB"


def test_write_does_not_modify_picture(tmp_path):
    a = rand16(4, 4, 4)
    pic = Picture(a[:, :, :3].copy(), a[:, :, 3].copy())
    with pytest.warns(UserWarning):
        write_image(pic, tmp_path / "o.jpg")
    assert pic.color.dtype == np.uint16 and pic.alpha is not None


def test_float_tiff_rejected(tmp_path):
    p = tmp_path / "f.tif"
    Image.fromarray(np.linspace(0, 1, 20, dtype=np.float32).reshape(4, 5)).save(p)
    with pytest.raises(InputError, match="floating-point") as e:
        read_image(p)
    assert "f.tif" in str(e.value)


def test_int32_tiff_in_16bit_range_becomes_uint16(tmp_path):
    a = (np.arange(20, dtype=np.int32).reshape(4, 5) * 3000)
    p = tmp_path / "i.tif"
    Image.fromarray(a).save(p)
    with Image.open(p) as im:
        assert im.mode == "I"
    pic = read_image(p)
    assert pic.color.dtype == np.uint16 and pic.grayscale and np.array_equal(pic.color[:, :, 0], a)


@pytest.mark.parametrize("bad", [-1, 70000])
def test_int32_tiff_out_of_range_rejected(tmp_path, bad):
    a = np.zeros((4, 5), np.int32)
    a[1, 1] = bad
    p = tmp_path / "i.tif"
    Image.fromarray(a).save(p)
    with pytest.raises(InputError, match="32-bit integer"):
        read_image(p)


def test_to_pil_from_pil(tmp_path):
    a = rand8(4, 5, 4)
    im = to_pil(Picture(a[:, :, :3].copy(), a[:, :, 3].copy()))
    assert im.mode == "RGBA" and np.array_equal(np.asarray(im), a)
    g16 = rand16(4, 5, 1)
    im16 = to_pil(Picture(g16))
    assert im16.mode == "I;16" and np.array_equal(np.asarray(im16), g16[:, :, 0])
    rgb16 = to_pil(Picture(np.full((2, 2, 3), 65535, np.uint16)))
    assert rgb16.mode == "RGB" and np.asarray(rgb16).min() == 255
    pic = from_pil(Image.fromarray(a, "RGBA"))
    assert np.array_equal(pic.alpha, a[:, :, 3])
    for mode in ("YCbCr", "HSV", "RGBX"):
        assert from_pil(Image.new(mode, (3, 2))).color.shape == (2, 3, 3)
    assert from_pil(Image.new("RGBa", (3, 2))).alpha.shape == (2, 3)
    assert from_pil(Image.new("La", (3, 2))).color.shape == (2, 3, 1)


# ---------------------------------------------------------------------------
# EXIF and ICC
# ---------------------------------------------------------------------------

def test_jpeg_exif_orientation_applied(tmp_path):
    a = np.zeros((16, 32, 3), np.uint8)  # 32 wide, 16 tall; left half dark, right half bright
    a[:, 16:] = 230
    p = tmp_path / "o6.jpg"
    Image.fromarray(a).save(p, exif=exif_with(6, "Cam"), quality=100)
    pic = read_image(p)
    assert pic.color.shape == (32, 16, 3) and pic.size == (16, 32)
    # orientation 6 = rotate 90 degrees clockwise: the left (dark) half ends on top
    assert pic.color[:12].mean() < 30 and pic.color[20:].mean() > 200
    with Image.open(p) as im:
        ref = np.asarray(ImageOps.exif_transpose(im))
    assert np.array_equal(pic.color, ref)
    ex = Image.Exif()
    ex.load(pic.exif)
    assert ex.get(0x0112) == 1 and ex.get(0x010F) == "Cam"


@pytest.mark.parametrize("orientation", range(1, 9))
def test_png16_exif_orientation_applied(tmp_path, orientation):
    a = rand16(4, 6, 3)
    p = tmp_path / "in.png"
    p.write_bytes(make_png16(a, extra_chunks=[exif_chunk(exif_with(orientation))]))
    pic = read_image(p)
    with Image.open(p) as im:
        im.load()
        assert im.getexif().get(0x0112) == orientation
        ref8 = np.asarray(ImageOps.exif_transpose(im))
    assert pic.color.dtype == np.uint16
    assert np.array_equal((pic.color >> 8).astype(np.uint8), ref8)
    if orientation == 6:
        assert np.array_equal(pic.color, np.rot90(a, -1))


def test_tiff16_orientation_tag_applied(tmp_path):
    a = rand16(4, 6, 3)
    p = tmp_path / "in.tif"
    p.write_bytes(make_tiff16(a, extra_tags=[(274, 3, [6])]))
    pic = read_image(p)
    assert np.array_equal(pic.color, np.rot90(a, -1))


@pytest.mark.parametrize("ext", [".jpg", ".png", ".webp"])
def test_exif_dropped_unless_keep_metadata(tmp_path, ext):
    p = tmp_path / "in.jpg"
    Image.fromarray(rand8(8, 12, 3)).save(p, exif=exif_with(6, "Cam"))
    pic = read_image(p)
    assert pic.exif
    plain = write_image(pic, tmp_path / f"plain{ext}")
    with Image.open(plain) as im:
        im.load()
        assert not im.getexif() and "exif" not in im.info
    kept = write_image(pic, tmp_path / f"kept{ext}", keep_metadata=True)
    with Image.open(kept) as im:
        im.load()
        ex = im.getexif()
        assert ex.get(0x010F) == "Cam" and ex.get(0x0112) == 1
        assert im.size == (8, 12)
    # orientation 1 in the output: a viewer must not rotate it again
    assert read_image(kept).size == (8, 12)


def test_tiff_exif_kept_without_layout_tags(tmp_path):
    p = tmp_path / "in.tif"
    Image.fromarray(rand8(6, 8, 3)).save(p, exif=exif_with(1, "Cam"))
    pic = read_image(p)
    for ext in (".tif", ".jpg", ".png"):
        out = write_image(pic, tmp_path / f"out{ext}", keep_metadata=True)
        with Image.open(out) as im:
            im.load()
            ex = im.getexif()
            assert ex.get(0x010F) == "Cam"
            assert im.size == (8, 6)
            if ext != ".tif":
                assert 256 not in ex and 273 not in ex  # no stale ImageWidth / StripOffsets


def test_png16_keep_metadata_writes_exif(tmp_path):
    a = rand16(4, 5, 3)
    pic = Picture(a, exif=exif_with(1, "Cam").tobytes())
    plain = write_image(pic, tmp_path / "plain.png")
    assert b"eXIf" not in [t for t, _ in png_chunks(plain.read_bytes())]
    kept = write_image(pic, tmp_path / "kept.png", keep_metadata=True)
    with Image.open(kept) as im:
        im.load()
        assert im.getexif().get(0x010F) == "Cam"
    assert np.array_equal(read_image(kept).color, a)


ICC_CASES = [(".png", 8), (".jpg", 8), (".webp", 8), (".tif", 8), (".png", 16), (".tif", 16)]


@pytest.mark.parametrize("ext,bits", ICC_CASES)
def test_icc_profile_carried(tmp_path, ext, bits):
    icc = srgb_icc()
    a = rand8(5, 6, 3) if bits == 8 else rand16(5, 6, 3)
    out = write_image(Picture(a, icc_profile=icc), tmp_path / f"o{ext}")
    with Image.open(out) as im:
        assert im.info.get("icc_profile") == icc
    assert read_image(out).icc_profile == icc
    if ext == ".png" and bits == 16:
        chunks = dict(png_chunks(out.read_bytes()))
        _name, rest = chunks[b"iCCP"].split(b"\0", 1)
        assert rest[0] == 0 and zlib.decompress(rest[1:]) == icc


def test_icc_read_from_input(tmp_path):
    icc = srgb_icc()
    p = tmp_path / "in.png"
    Image.fromarray(rand8(4, 4, 3)).save(p, icc_profile=icc)
    assert read_image(p).icc_profile == icc
    p16 = tmp_path / "in16.png"
    p16.write_bytes(make_png16(rand16(4, 4, 3), extra_chunks=[(b"iCCP", b"x\0\0" + zlib.compress(icc))]))
    assert read_image(p16).icc_profile == icc


# ---------------------------------------------------------------------------
# bad input
# ---------------------------------------------------------------------------

def _valid_bytes(tmp_path: Path, fmt: str, size=(24, 24)) -> bytes:
    p = tmp_path / f"valid.{fmt.lower()}"
    Image.fromarray(rand8(size[1], size[0], 3)).save(p, format=fmt)
    data = p.read_bytes()
    p.unlink()
    return data


def test_missing_file(tmp_path):
    with pytest.raises(InputError, match="no such file"):
        read_image(tmp_path / "nope.png")


def test_directory(tmp_path):
    with pytest.raises(InputError, match="folder"):
        read_image(tmp_path)


def test_zero_byte_file(tmp_path):
    p = tmp_path / "empty.png"
    p.write_bytes(b"")
    with pytest.raises(InputError, match="empty"):
        read_image(p)


def test_text_file(tmp_path):
    p = tmp_path / "notes.png"
    p.write_text("this is not an image\n" * 10)
    with pytest.raises(InputError, match="not an image") as e:
        read_image(p)
    assert "notes.png" in str(e.value)


@pytest.mark.parametrize("fmt", ["PNG", "JPEG"])
def test_truncated_half(tmp_path, fmt):
    data = _valid_bytes(tmp_path, fmt, (48, 48))
    p = tmp_path / f"cut.{fmt.lower()}"
    p.write_bytes(data[: len(data) // 2])
    with pytest.raises(InputError) as e:
        read_image(p)
    msg = str(e.value).lower()
    assert "cut." in msg and ("truncated" in msg or "damaged" in msg or "not an image" in msg)


@pytest.mark.filterwarnings("ignore::UserWarning")  # Pillow warns about damaged TIFF tags
@pytest.mark.parametrize("fmt", ["PNG", "JPEG", "TIFF", "WEBP", "BMP", "GIF"])
def test_truncated_anywhere_raises_only_input_error(tmp_path, fmt):
    data = _valid_bytes(tmp_path, fmt)
    p = tmp_path / f"cut.{fmt.lower()}"
    for frac in (0.05, 0.2, 0.4, 0.6, 0.8, 0.95):
        p.write_bytes(data[: max(1, int(len(data) * frac))])
        try:
            read_image(p)
        except InputError:
            pass  # any other exception type fails the test


@pytest.mark.filterwarnings("ignore::UserWarning")  # Pillow warns about damaged TIFF tags
@pytest.mark.parametrize("fmt", ["PNG", "JPEG", "TIFF"])
def test_corrupted_bytes_raise_only_input_error(tmp_path, fmt):
    data = bytearray(_valid_bytes(tmp_path, fmt))
    rng = np.random.default_rng(7)
    p = tmp_path / f"bad.{fmt.lower()}"
    for _ in range(6):
        bad = bytearray(data)
        pos = rng.integers(8, len(bad), 12)
        for i in pos:
            bad[i] ^= 0xFF
        p.write_bytes(bytes(bad))
        try:
            read_image(p)
        except InputError:
            pass


def test_over_max_pixels(tmp_path):
    p = tmp_path / "big.png"
    Image.new("RGB", (40, 30)).save(p)
    with pytest.raises(InputError, match="--max-pixels") as e:
        read_image(p, max_pixels=1000)
    assert "40x30" in str(e.value)
    assert read_image(p, max_pixels=1200).size == (40, 30)
    assert read_image(p, max_pixels=None).size == (40, 30)


@pytest.mark.parametrize("size", [(1, 1), (1, 5), (5, 1)])
def test_too_small(tmp_path, size):
    p = tmp_path / "tiny.png"
    Image.new("RGB", size).save(p)
    with pytest.raises(InputError, match="too small"):
        read_image(p)


def test_input_error_is_not_other_type(tmp_path):
    # InputError is the one type the CLI catches; it is also a ValueError for API users
    with pytest.raises(ValueError):
        read_image(tmp_path / "missing.png")


# ---------------------------------------------------------------------------
# writing: overwrite, atomicity, permissions
# ---------------------------------------------------------------------------

def test_never_overwrites_without_flag(tmp_path):
    out = tmp_path / "o.png"
    out.write_bytes(b"precious")
    with pytest.raises(OutputError, match="already exists"):
        write_image(Picture(rand8(3, 3, 3)), out)
    assert out.read_bytes() == b"precious"
    write_image(Picture(rand8(3, 3, 3)), out, overwrite=True)
    with Image.open(out) as im:
        assert im.format == "PNG"
    assert leftovers(tmp_path, {"o.png"}) == []


def test_never_overwrites_16bit_without_flag(tmp_path):
    out = tmp_path / "o.png"
    out.write_bytes(b"precious")
    with pytest.raises(OutputError):
        write_image(Picture(rand16(3, 3, 3)), out)
    assert out.read_bytes() == b"precious"


def test_no_temp_files_after_success(tmp_path):
    for ext in (".png", ".jpg", ".tif"):
        write_image(Picture(rand8(3, 4, 3)), tmp_path / f"o{ext}")
    write_image(Picture(rand16(3, 4, 3)), tmp_path / "o16.png")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["o.jpg", "o.png", "o.tif", "o16.png"]


def _current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def test_output_file_permissions(tmp_path):
    out = write_image(Picture(rand8(3, 3, 3)), tmp_path / "o.png")
    mode = out.stat().st_mode & 0o777
    from superres.fileio import file_mode

    assert mode == file_mode() == 0o644 & ~_current_umask()


def test_creates_missing_parent_folders(tmp_path):
    out = write_image(Picture(rand8(3, 3, 3)), tmp_path / "a" / "b" / "o.png")
    assert out.is_file()


@pytest.mark.parametrize("exc,expected", [(OSError(28, "No space left on device"), OutputError),
                                          (RuntimeError("boom"), RuntimeError),
                                          (KeyboardInterrupt(), KeyboardInterrupt)])
@pytest.mark.parametrize("existing", [False, True])
def test_failure_mid_write_leaves_nothing(tmp_path, monkeypatch, exc, expected, existing):
    out = tmp_path / "o.png"
    if existing:
        out.write_bytes(b"old")

    def bad_save(self, fp, *args, **kwargs):
        fp.write(b"\x89PNG\r\n\x1a\npartial data")
        raise exc

    monkeypatch.setattr(Image.Image, "save", bad_save)
    with pytest.raises(expected) as e:
        write_image(Picture(rand8(4, 4, 3)), out, overwrite=existing)
    if expected is OutputError:
        assert "o.png" in str(e.value) and "No space left" in str(e.value)
    if existing:
        assert out.read_bytes() == b"old"
    else:
        assert not out.exists()
    assert leftovers(tmp_path, {"o.png"}) == []
    assert not list(tmp_path.glob("*.part")) and not list(tmp_path.glob(".*.part"))


def test_failure_in_rename_leaves_nothing_16bit(tmp_path, monkeypatch):
    def bad_replace(src, dst):
        raise OSError(5, "Input/output error")

    monkeypatch.setattr(images_mod.os, "replace", bad_replace)
    with pytest.raises(OutputError, match="Input/output error"):
        write_image(Picture(rand16(4, 4, 3)), tmp_path / "o.png")
    assert list(tmp_path.iterdir()) == []


def test_temp_file_creation_denied(tmp_path, monkeypatch):
    def denied(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    import tempfile

    monkeypatch.setattr(tempfile, "mkstemp", denied)
    with pytest.raises(OutputError, match="Permission denied"):
        write_image(Picture(rand8(3, 3, 3)), tmp_path / "o.png")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() == 0,
                    reason="root ignores file permissions")
def test_unwritable_folder(tmp_path):
    d = tmp_path / "ro"
    d.mkdir()
    d.chmod(0o500)
    try:
        with pytest.raises(OutputError, match="permission denied|Permission denied"):
            write_image(Picture(rand8(3, 3, 3)), d / "o.png")
        assert list(d.iterdir()) == []
    finally:
        d.chmod(0o700)


def test_unwritable_folder_reported_before_writing(tmp_path, monkeypatch):
    # the check_output_path branch, also when running as root (os.access says no)
    monkeypatch.setattr(images_mod.os, "access", lambda path, mode: False)
    with pytest.raises(OutputError, match="permission denied"):
        write_image(Picture(rand8(3, 3, 3)), tmp_path / "o.png")
    assert list(tmp_path.iterdir()) == []


def test_output_path_is_folder(tmp_path):
    d = tmp_path / "x.png"
    d.mkdir()
    with pytest.raises(OutputError):
        write_image(Picture(rand8(3, 3, 3)), d)
    with pytest.raises(OutputError, match="folder"):
        write_image(Picture(rand8(3, 3, 3)), d, overwrite=True)
    assert d.is_dir()


def test_output_parent_is_a_file(tmp_path):
    f = tmp_path / "file.txt"
    f.write_text("x")
    with pytest.raises(OutputError, match="not a folder"):
        write_image(Picture(rand8(3, 3, 3)), f / "o.png")
    assert f.read_text() == "x"
