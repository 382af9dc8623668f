"""Tests of animation I/O (superres.io.animation): GIF composition as browsers show it, writing.

Every GIF here is made by :func:`gif_bytes`, an independent writer that emits
"uncompressed" LZW (a clear code every few literals), so the tests do not rely
on the encoder they check. Expected frames are written out pixel by pixel.
"""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from superres.errors import InputError, OutputError
from superres.io.animation import (
    AnimationWriter,
    Frame,
    browser_delay_ms,
    open_animation,
    read_animation,
    write_animation,
)
from superres.io.gif import scan_gif as _scan_gif

# palette used by most tests: index -> colour
BLACK, RED, GREEN, BLUE, WHITE = (0, 0, 0), (255, 0, 0), (0, 255, 0), (0, 0, 255), (255, 255, 255)
PAL = [BLACK, RED, GREEN, BLUE]


# --- an independent GIF writer ----------------------------------------------------------------

def lzw_uncompressed(indices: np.ndarray, min_size: int) -> bytes:
    """GIF image data (min code size + sub-blocks + terminator) without compression."""
    clear, eoi, size = 1 << min_size, (1 << min_size) + 1, min_size + 1
    run = (1 << min_size) - 2  # literals between clear codes: the code size never grows
    codes = []
    for i, v in enumerate(np.asarray(indices, np.uint8).reshape(-1).tolist()):
        if i % run == 0:
            codes.append(clear)
        codes.append(v)
    codes.append(eoi)
    acc = nbits = 0
    out = bytearray()
    for c in codes:
        acc |= c << nbits
        nbits += size
        while nbits >= 8:
            out.append(acc & 255)
            acc >>= 8
            nbits -= 8
    if nbits:
        out.append(acc & 255)
    data = bytearray([min_size])
    for i in range(0, len(out), 255):
        chunk = out[i:i + 255]
        data += bytes([len(chunk)]) + chunk
    return bytes(data + b"\x00")


def table(colors) -> tuple[bytes, int]:
    bits = max(1, (len(colors) - 1).bit_length())
    padded = list(colors) + [BLACK] * ((1 << bits) - len(colors))
    return b"".join(bytes(c) for c in padded), bits


def gif_bytes(width: int, height: int, frames: list[dict], palette=PAL, loop: int | None = 0,
              trailer: bool = True) -> bytes:
    """A GIF; each frame: idx (2-D array), x, y, disposal, delay (cs), transparent, palette (local), interlace."""
    out = bytearray(b"GIF89a")
    if palette is not None:
        gct, bits = table(palette)
        out += struct.pack("<HHBBB", width, height, 0x80 | ((bits - 1) << 4) | (bits - 1), 0, 0) + gct
    else:
        out += struct.pack("<HHBBB", width, height, 0, 0, 0)
    if loop is not None:
        out += b"\x21\xff\x0bNETSCAPE2.0\x03\x01" + struct.pack("<H", loop) + b"\x00"
    for f in frames:
        idx = np.asarray(f["idx"], np.uint8)
        h, w = idx.shape
        t = f.get("transparent")
        flags = (f.get("disposal", 1) << 2) | (1 if t is not None else 0)
        out += struct.pack("<BBBBHBB", 0x21, 0xF9, 4, flags, f.get("delay", 10), t or 0, 0)
        packed = 0
        lct = b""
        colors = f.get("palette")
        if colors is not None:
            lct, bits = table(colors)
            packed = 0x80 | (bits - 1)
        rows = idx
        if f.get("interlace"):
            packed |= 0x40
            order = [*range(0, h, 8), *range(4, h, 8), *range(2, h, 4), *range(1, h, 2)]
            rows = idx[order]
        out += b"\x2c" + struct.pack("<HHHHB", f.get("x", 0), f.get("y", 0), w, h, packed) + lct
        ncolors = len(colors if colors is not None else palette)
        out += lzw_uncompressed(rows, max(2, (ncolors - 1).bit_length()))
    if trailer:
        out += b"\x3b"
    return bytes(out)


def write_gif(path: Path, *args, **kw) -> Path:
    path.write_bytes(gif_bytes(*args, **kw))
    return path


def full(w, h, v):
    return np.full((h, w), v, np.uint8)


def rgba_of(colors_alpha: dict, idx: np.ndarray) -> np.ndarray:
    """Expected RGBA from an index map: {index: (r, g, b, a)}."""
    out = np.zeros(idx.shape + (4,), np.uint8)
    for k, v in colors_alpha.items():
        out[idx == k] = v
    return out


def frames_rgba(path: Path) -> list[np.ndarray]:
    return [f.rgba() for f in read_animation(path).frames]


# --- the test writer itself agrees with Pillow --------------------------------------------------

def test_helper_writes_gifs_pillow_reads(tmp_path):
    idx = np.arange(12, dtype=np.uint8).reshape(3, 4) % 4
    p = write_gif(tmp_path / "a.gif", 4, 3, [{"idx": idx}])
    with Image.open(p) as im:
        assert np.array_equal(np.asarray(im), idx)


# --- composition ---------------------------------------------------------------------------------

def test_disposal_none_keeps_earlier_frames(tmp_path):
    p = write_gif(tmp_path / "none.gif", 6, 4, [
        {"idx": full(6, 4, 1)},
        {"idx": full(2, 2, 3), "x": 1, "y": 1, "disposal": 1},
        {"idx": full(1, 1, 2), "x": 5, "y": 3, "disposal": 1},
    ])
    f = frames_rgba(p)
    exp = np.zeros((4, 6, 4), np.uint8)
    exp[:] = (*RED, 255)
    assert np.array_equal(f[0], exp)
    exp[1:3, 1:3] = (*BLUE, 255)
    assert np.array_equal(f[1], exp)
    exp[3, 5] = (*GREEN, 255)
    assert np.array_equal(f[2], exp)


def test_disposal_background_clears_to_transparent(tmp_path):
    # browsers ignore the background colour: the rectangle becomes transparent
    p = write_gif(tmp_path / "bg.gif", 6, 4, [
        {"idx": full(6, 4, 1), "disposal": 1},
        {"idx": full(2, 2, 3), "x": 1, "y": 1, "disposal": 2},
        {"idx": full(1, 1, 2), "x": 0, "y": 0, "disposal": 1},
    ])
    f = frames_rgba(p)
    exp = np.zeros((4, 6, 4), np.uint8)
    exp[:] = (*RED, 255)
    exp[1:3, 1:3] = (*BLUE, 255)
    assert np.array_equal(f[1], exp)
    exp[1:3, 1:3] = 0  # cleared
    exp[0, 0] = (*GREEN, 255)
    assert np.array_equal(f[2], exp)


def test_disposal_previous_restores(tmp_path):
    p = write_gif(tmp_path / "prev.gif", 6, 4, [
        {"idx": full(6, 4, 1), "disposal": 1},
        {"idx": full(2, 2, 3), "x": 1, "y": 1, "disposal": 3},
        {"idx": full(1, 1, 2), "x": 5, "y": 0, "disposal": 3},
        {"idx": full(1, 1, 3), "x": 0, "y": 3, "disposal": 1},
    ])
    f = frames_rgba(p)
    red = np.zeros((4, 6, 4), np.uint8)
    red[:] = (*RED, 255)
    exp = red.copy()
    exp[1:3, 1:3] = (*BLUE, 255)
    assert np.array_equal(f[1], exp)
    exp = red.copy()
    exp[0, 5] = (*GREEN, 255)  # the blue square was restored away
    assert np.array_equal(f[2], exp)
    exp = red.copy()
    exp[3, 0] = (*BLUE, 255)  # and the green pixel too
    assert np.array_equal(f[3], exp)


def test_disposal_previous_on_first_frame_restores_transparency(tmp_path):
    p = write_gif(tmp_path / "prev0.gif", 4, 4, [
        {"idx": full(2, 2, 1), "disposal": 3},
        {"idx": full(1, 1, 2), "x": 3, "y": 3, "disposal": 1},
    ])
    f = frames_rgba(p)
    assert f[0][0, 0, 3] == 255 and f[0][3, 3, 3] == 0  # outside the first frame: transparent
    exp = np.zeros((4, 4, 4), np.uint8)
    exp[3, 3] = (*GREEN, 255)
    assert np.array_equal(f[1], exp)


def test_disposal_4_is_read_as_previous(tmp_path):
    p = write_gif(tmp_path / "d4.gif", 3, 3, [
        {"idx": full(3, 3, 1)},
        {"idx": full(1, 1, 3), "x": 1, "y": 1, "disposal": 4},
        {"idx": full(1, 1, 2), "x": 0, "y": 0},
    ])
    f = frames_rgba(p)
    assert tuple(f[2][1, 1]) == (*RED, 255)


def test_transparency_shows_what_is_below(tmp_path):
    idx2 = np.array([[0, 3], [3, 0]], np.uint8)  # index 0 transparent in frame 2
    p = write_gif(tmp_path / "t.gif", 2, 2, [
        {"idx": full(2, 2, 1)},
        {"idx": idx2, "transparent": 0},
    ])
    f = frames_rgba(p)
    exp = rgba_of({0: (*RED, 255), 3: (*BLUE, 255)}, idx2)
    assert np.array_equal(f[1], exp)


def test_transparent_first_frame_and_per_frame_transparent_index(tmp_path):
    idx1 = np.array([[0, 1], [1, 0]], np.uint8)
    idx2 = np.array([[2, 2], [1, 3]], np.uint8)  # frame 2: index 2 transparent, 0 would be opaque
    p = write_gif(tmp_path / "t2.gif", 2, 2, [
        {"idx": idx1, "transparent": 0},
        {"idx": idx2, "transparent": 2},
    ])
    a = read_animation(p)
    assert a.info.has_alpha
    f = [fr.rgba() for fr in a.frames]
    assert np.array_equal(f[0], rgba_of({0: (0, 0, 0, 0), 1: (*RED, 255)}, idx1))
    exp = np.array([[(0, 0, 0, 0), (*RED, 255)], [(*RED, 255), (*BLUE, 255)]], np.uint8)
    assert np.array_equal(f[1], exp)


def test_local_palettes_override_the_global_one(tmp_path):
    idx = np.array([[0, 1]], np.uint8)
    p = write_gif(tmp_path / "lct.gif", 2, 1, [
        {"idx": idx},
        {"idx": idx, "palette": [WHITE, (10, 20, 30)]},
        {"idx": idx},  # back to the global table
    ])
    f = frames_rgba(p)
    assert [tuple(px[:3]) for px in f[0][0]] == [BLACK, RED]
    assert [tuple(px[:3]) for px in f[1][0]] == [WHITE, (10, 20, 30)]
    assert [tuple(px[:3]) for px in f[2][0]] == [BLACK, RED]


def test_no_global_palette_only_local_ones(tmp_path):
    p = write_gif(tmp_path / "nogct.gif", 2, 1, [{"idx": np.array([[0, 1]]), "palette": [GREEN, BLUE]}],
                  palette=None)
    assert [tuple(px[:3]) for px in frames_rgba(p)[0][0]] == [GREEN, BLUE]


def test_offsets_are_clipped_to_the_canvas(tmp_path):
    p = write_gif(tmp_path / "clip.gif", 4, 3, [
        {"idx": full(4, 3, 1)},
        {"idx": full(3, 3, 3), "x": 2, "y": 1},  # hangs over the right and bottom edges
    ])
    f = frames_rgba(p)[1]
    assert f.shape == (3, 4, 4)
    assert np.all(f[1:, 2:, :3] == BLUE) and np.all(f[0, :, :3] == RED) and np.all(f[:, :2, :3] == RED)


def test_first_frame_larger_than_screen_enlarges_the_canvas(tmp_path):
    p = write_gif(tmp_path / "big0.gif", 2, 2, [{"idx": full(4, 3, 1), "x": 1, "y": 1}])
    a = read_animation(p)
    assert a.info.size == (4, 3)
    assert np.all(a.frames[0].rgb == RED) and a.frames[0].alpha is None


def test_interlaced_frames(tmp_path):
    idx = (np.arange(10 * 3).reshape(10, 3) % 4).astype(np.uint8)
    p = write_gif(tmp_path / "il.gif", 3, 10, [{"idx": idx, "interlace": True}])
    exp = rgba_of({i: (*c, 255) for i, c in enumerate(PAL)}, idx)
    assert np.array_equal(frames_rgba(p)[0], exp)


def test_loop_count_and_durations(tmp_path):
    fr = [{"idx": full(2, 2, i % 4), "delay": d} for i, d in enumerate([0, 1, 2, 5, 100])]
    a = read_animation(write_gif(tmp_path / "l3.gif", 2, 2, fr, loop=3))
    assert a.info.loop == 3
    assert a.durations_ms == [100, 100, 20, 50, 1000]  # 0 and 10 ms are shown for 100 ms
    assert read_animation(write_gif(tmp_path / "once.gif", 2, 2, fr, loop=None)).info.loop is None
    assert read_animation(write_gif(tmp_path / "inf.gif", 2, 2, fr, loop=0)).info.loop == 0


def test_browser_delay_rule():
    assert [browser_delay_ms(v) for v in (0, 10, 11, 20, 1000)] == [100, 100, 11, 20, 1000]


def test_single_frame_gif(tmp_path):
    a = read_animation(write_gif(tmp_path / "one.gif", 3, 2, [{"idx": full(3, 2, 2)}], loop=None))
    assert len(a.frames) == 1 and a.info.n_frames == 1 and np.all(a.frames[0].rgb == GREEN)


def test_truncated_gif_keeps_complete_frames_with_warning(tmp_path):
    data = gif_bytes(4, 4, [{"idx": full(4, 4, i)} for i in range(4)])
    cut = len(data) - 30  # inside the last frame's data
    p = tmp_path / "cut.gif"
    p.write_bytes(data[:cut])
    with pytest.warns(UserWarning, match="truncated"):
        a = read_animation(p)
    assert len(a.frames) == 3
    assert np.all(a.frames[2].rgb == PAL[2])


def test_gif_without_trailer_reads_all_frames_with_warning(tmp_path):
    p = tmp_path / "notrailer.gif"
    p.write_bytes(gif_bytes(2, 2, [{"idx": full(2, 2, 1)}, {"idx": full(2, 2, 2)}], trailer=False))
    with pytest.warns(UserWarning, match="trailer"):
        a = read_animation(p)
    assert len(a.frames) == 2


def test_truncated_inside_first_frame_is_an_error(tmp_path):
    data = gif_bytes(8, 8, [{"idx": full(8, 8, 1)}])
    p = tmp_path / "cut0.gif"
    p.write_bytes(data[:-20])
    with pytest.raises(InputError, match="no complete frame"):
        read_animation(p)


def test_damaged_lzw_data_keeps_earlier_frames(tmp_path):
    good = gif_bytes(2, 2, [{"idx": full(2, 2, 1)}], trailer=False)
    bad = bytearray(gif_bytes(2, 2, [{"idx": full(2, 2, 2)}], loop=None)[13 + 12:])  # frame 2 only
    bad[bad.index(b"\x2c") + 10] = 12  # LZW minimum code size 12: invalid
    p = tmp_path / "badlzw.gif"
    p.write_bytes(good + bytes(bad))
    with pytest.warns(UserWarning, match="cannot be decoded"):
        a = read_animation(p)
    assert len(a.frames) == 1


def test_canvas_over_the_pixel_limit(tmp_path):
    p = write_gif(tmp_path / "huge.gif", 4000, 3000, [{"idx": full(2, 2, 1)}])
    with pytest.raises(InputError, match="max-pixels"):
        open_animation(p, max_pixels=1_000_000)
    assert open_animation(p, max_pixels=None).info.size == (4000, 3000)


def test_not_an_animation(tmp_path):
    p = tmp_path / "x.gif"
    p.write_bytes(b"hello, not an image")
    with pytest.raises(InputError, match="not an animation"):
        open_animation(p)
    (tmp_path / "empty.gif").write_bytes(b"")
    with pytest.raises(InputError, match="empty"):
        open_animation(tmp_path / "empty.gif")
    with pytest.raises(InputError, match="no such file"):
        open_animation(tmp_path / "missing.gif")


def test_frames_are_streamed(tmp_path):
    p = write_gif(tmp_path / "s.gif", 2, 2, [{"idx": full(2, 2, i % 4)} for i in range(5)])
    with open_animation(p) as r:
        assert r.info.n_frames == 5 and r.info.durations_ms == [100] * 5
        it = iter(r)
        first = next(it)
        assert first.index == 0 and np.all(first.rgb == PAL[0])


# --- writing -------------------------------------------------------------------------------------

def moving_square(n=6, w=24, h=16, alpha=False):
    """Frames: a fixed noisy background (< 255 colours) with a white square moving right."""
    rng = np.random.default_rng(1)
    bg = (rng.integers(0, 4, (h, w, 3)) * 64).astype(np.uint8)  # 64 colours
    frames = []
    for i in range(n):
        rgb = bg.copy()
        rgb[4:8, 2 * i:2 * i + 4] = 255
        a = None
        if alpha:
            a = np.full((h, w), 255, np.uint8)
            a[:, (3 * i) % w] = 0  # a transparent column that moves: pixels turn transparent again
        frames.append(Frame(rgb, a, 40 + 10 * i, i))
    return frames


def same_frames(a: list[Frame], b: list[Frame]) -> None:
    assert len(a) == len(b)
    for x, y in zip(a, b):
        xa, ya = x.rgba(), y.rgba()
        assert np.array_equal(xa[:, :, 3] >= 128, ya[:, :, 3] >= 128)
        op = xa[:, :, 3] >= 128
        assert np.array_equal(xa[op][:, :3], ya[op][:, :3])


@pytest.mark.parametrize("alpha", [False, True])
def test_gif_round_trip_is_exact_for_few_colours(tmp_path, alpha):
    frames = moving_square(alpha=alpha)
    p = write_animation(frames, tmp_path / "rt.gif", loop=2)
    a = read_animation(p)
    same_frames(frames, a.frames)
    assert a.durations_ms == [f.duration_ms for f in frames]
    assert a.info.loop == 2


def test_gif_stores_only_changed_rectangles(tmp_path):
    frames = moving_square(n=5)
    p = write_animation(frames, tmp_path / "small.gif")
    scan = _scan_gif(p.read_bytes())
    assert (scan.images[0].width, scan.images[0].height) == (24, 16)
    for img in scan.images[1:]:
        assert img.width <= 6 and img.height == 4  # the square's old and new place only


def test_gif_alpha_is_thresholded_and_cleared(tmp_path):
    rgb = np.full((4, 4, 3), 200, np.uint8)
    a1 = np.full((4, 4), 255, np.uint8)
    a2 = a1.copy()
    a2[0, 0] = 100  # below 128: transparent
    a2[1, 1] = 140  # above: opaque
    p = write_animation([Frame(rgb, a1), Frame(rgb, a2), Frame(rgb, a1)], tmp_path / "a.gif")
    f = frames_rgba(p)
    assert f[0][0, 0, 3] == 255 and f[1][0, 0, 3] == 0 and f[1][1, 1, 3] == 255 and f[2][0, 0, 3] == 255


def test_gif_many_colours_palette_modes_and_dither(tmp_path):
    y, x = np.mgrid[0:32, 0:48]
    frames = []
    for i in range(3):
        rgb = np.dstack([(x * 5 + i * 7) % 256, (y * 8) % 256, (x + y) * 3 % 256]).astype(np.uint8)
        frames.append(Frame(rgb, None, 100, i))
    sizes = {}
    for name, kw in {"adaptive": {}, "global": {"palette": "global"}, "dither": {"dither": True}}.items():
        p = write_animation(frames, tmp_path / f"{name}.gif", **kw)
        sizes[name] = p.stat().st_size
        back = read_animation(p).frames
        assert len(back) == 3
        err = np.mean([np.abs(b.rgb.astype(int) - f.rgb).mean() for b, f in zip(back, frames)])
        assert err < 8, (name, err)
    assert sizes["dither"] != sizes["adaptive"]  # dithering changes the pixels


def test_gif_from_arrays_and_pil_images(tmp_path):
    arr = np.zeros((5, 6, 3), np.uint8)
    im = Image.new("RGBA", (6, 5), (1, 2, 3, 255))
    p = write_animation([arr, im], tmp_path / "mixed.gif", durations=[30, 40], loop=None)
    a = read_animation(p)
    assert a.durations_ms == [30, 40] and a.info.loop is None
    assert tuple(a.frames[1].rgb[0, 0]) == (1, 2, 3)


def test_short_frames_warn_in_gif(tmp_path):
    frames = [Frame(np.full((2, 2, 3), i * 40, np.uint8), None, 15, i) for i in range(4)]
    with pytest.warns(UserWarning, match="20 ms"):
        p = write_animation(frames, tmp_path / "fast.gif")
    assert read_animation(p).durations_ms == [20, 20, 20, 20]


def test_apng_round_trip(tmp_path):
    frames = moving_square(alpha=True)
    p = write_animation(frames, tmp_path / "a.png", loop=0)
    with Image.open(p) as im:
        assert im.format == "PNG" and im.n_frames == len(frames) and im.info.get("loop") == 0
    a = read_animation(p)
    same_frames(frames, a.frames)
    assert a.durations_ms == [f.duration_ms for f in frames] and a.info.loop == 0
    once = read_animation(write_animation(frames[:2], tmp_path / "once.apng", loop=None))
    assert once.info.loop is None


def test_webp_round_trip(tmp_path):
    from PIL import features

    if not features.check("webp"):
        pytest.skip("Pillow without WebP")
    frames = moving_square(alpha=True)
    a = read_animation(write_animation(frames, tmp_path / "a.webp", lossless=True, loop=1))
    assert sum(a.durations_ms) == sum(f.duration_ms for f in frames)  # libwebp may merge equal frames
    same_frames(frames, a.frames)
    assert a.info.loop == 1


def test_writer_never_overwrites_and_is_atomic(tmp_path):
    p = tmp_path / "out.gif"
    p.write_bytes(b"keep")
    with pytest.raises(OutputError, match="overwrite"):
        AnimationWriter(p)

    def boom():
        yield Frame(np.zeros((2, 2, 3), np.uint8))
        raise RuntimeError("stop")

    q = tmp_path / "new.gif"
    with pytest.raises(RuntimeError):
        write_animation(boom(), q)
    assert not q.exists() and p.read_bytes() == b"keep"
    assert [f.name for f in tmp_path.iterdir()] == ["out.gif"]  # no temporary files left
    write_animation([np.zeros((2, 2, 3), np.uint8)], p, overwrite=True)
    assert read_animation(p).info.n_frames == 1


def test_writer_rejects_bad_extensions_and_mixed_sizes(tmp_path):
    with pytest.raises(OutputError, match="unknown animation format"):
        AnimationWriter(tmp_path / "x.jpg")
    with pytest.raises(InputError, match="same size"):
        write_animation([np.zeros((2, 2, 3), np.uint8), np.zeros((3, 2, 3), np.uint8)], tmp_path / "m.gif")
    assert not (tmp_path / "m.gif").exists()

