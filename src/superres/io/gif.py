"""GIF: reading (composed as browsers show it) and a streaming, change-rectangle encoder.

See :mod:`superres.io.animation` for the composition rules and what the
encoder optimises. Pillow only decodes/encodes each frame's LZW data; the
container, disposal and palettes are handled here.
"""

from __future__ import annotations

import io
import struct
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import InputError
from .frames import (
    AnimationInfo,
    AnimationReader,
    Frame,
    FrameEncoder,
    absdiff_max,
    bbox,
    browser_delay_ms,
    check_pixels,
    union_box,
)

__all__ = ["open_gif", "scan_gif", "GifEncoder"]


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


def scan_gif(data: bytes) -> _GifScan:
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


def open_gif(path: Path, max_pixels: int | None) -> AnimationReader:
    data = path.read_bytes()
    try:
        scan = scan_gif(data)
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
    check_pixels(path, w, h, max_pixels)
    for i, img in enumerate(scan.images):
        check_pixels(path, img.width, img.height, max_pixels, f"frame {i}: ")
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
# GIF writing
# ---------------------------------------------------------------------------

@dataclass
class _PendingGif:
    rgb: np.ndarray  # the frame's source colour inside rect
    draw: np.ndarray  # pixels inside rect that are drawn
    rect: tuple[int, int, int, int]
    delay_cs: int
    disposal: int = 1


class GifEncoder(FrameEncoder):
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
            cb = bbox(clear)
            if cb is not None:
                p.disposal = 2
                nx0, ny0, nx1, ny1 = union_box(p.rect, cb)
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
        rect = bbox(draw) or (0, 0, 1, 1)
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
    scan = scan_gif(data)
    img = scan.images[0]
    written = img.palette or scan.palette or b""
    # Pillow must have kept our indices: same colours first, same transparent index
    if written[:3 * len(pal)] != pal.tobytes() or img.transparent not in (transparent, None):
        raise RuntimeError("Pillow remapped the GIF palette; cannot splice the frame")  # pragma: no cover
    return data[img.data[0]:img.data[1]], img.interlace
