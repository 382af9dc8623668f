"""Tests of ``superres animate`` and ``superres.upscale_animation`` (tiny frames, cheap models).

GIFs are made with the independent writer in test_animation.py; videos (when
PyAV is installed) are made here with PyAV.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from test_animation import full, gif_bytes, write_gif
from torch import nn
from torch.nn import functional as F

import superres
from superres.animate import FlickerMeter, Stabilizer, iter_upscaled, upscale_animation
from superres.cli import main
from superres.errors import InputError
from superres.inference import Upscaler
from superres.io.animation import Frame, read_animation, write_animation
from superres.models.base import ModelInfo

ERR = "superres animate: error:"


@pytest.fixture(autouse=True)
def _isolated(tmp_path_factory, monkeypatch):
    """No shipped weights (default model = bicubic) and no model cached between tests."""
    import superres.api

    monkeypatch.setenv("SUPERRES_WEIGHTS_DIR", str(tmp_path_factory.mktemp("no_weights")))
    superres.api._CACHE.clear()
    yield
    superres.api._CACHE.clear()


@pytest.fixture(autouse=True)
def _one_thread():
    """Tiny frames: one thread is faster than two (and far faster on a busy machine)."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


@pytest.fixture
def tiny_weights(tmp_path) -> Path:
    from superres.models import SRResNet
    from superres.weights import save_weights

    return save_weights(SRResNet(scale=4, channels=8, n_blocks=1), tmp_path / "weights" / "tiny.safetensors")


class NoisyUp(nn.Module):
    """A stand-in for a GAN that invents different texture on every call (flicker)."""

    def __init__(self, amount: float = 0.1) -> None:
        super().__init__()
        self.amount = amount
        self.info = ModelInfo(arch="noisy", scale=4, receptive_pad=4, trainable=False)

    def forward(self, x):
        y = F.interpolate(x, scale_factor=4, mode="nearest")
        return y + torch.rand_like(y) * self.amount


def cli(capsys, *args) -> tuple[int, str]:
    try:
        rc = main([str(a) for a in args])
    except SystemExit as e:
        rc = e.code if isinstance(e.code, int) else 1
    err = capsys.readouterr().err
    assert "Traceback" not in err
    return rc, err


def moving_gif(path: Path, n: int = 4, w: int = 8, h: int = 6, **kw) -> Path:
    """A red canvas with a blue 2x2 square moving right, one frame per step."""
    frames = [{"idx": full(w, h, 1), "delay": 5}]
    for i in range(1, n):
        frames.append({"idx": full(2, 2, 3), "x": i, "y": 2, "disposal": 3 if i < n - 1 else 1, "delay": 5})
    return write_gif(path, w, h, frames, **kw)


def square_frames(n: int = 5, w: int = 10, h: int = 8) -> list[np.ndarray]:
    rng = np.random.default_rng(0)
    bg = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
    out = []
    for i in range(n):
        f = bg.copy()
        f[2:4, i:i + 2] = 255
        out.append(f)
    return out


# --- Python API ------------------------------------------------------------------------------------

def test_api_frames_match_the_engine_and_keep_timing(tiny_srresnet):
    frames = square_frames()
    r = superres.upscale_animation(frames, tiny_srresnet, durations=[20, 30, 40, 50, 0], loop=2, device="cpu")
    assert len(r.frames) == 5 and r.frames[0].rgb.shape == (32, 40, 3) and r.frames[0].rgb.dtype == np.uint8
    assert r.durations_ms == [20, 30, 40, 50, 100] and r.loop == 2  # 0 ms is shown for 100 ms
    assert r.seconds > 0 and r.fps > 0 and r.n_frames == 5 and r.scale == 4
    up = Upscaler(tiny_srresnet, device="cpu")
    for lr, hr in zip(frames, r.frames):  # batching does not change a pixel
        assert np.array_equal(up.upscale_array(lr), hr.rgb)


def test_api_tiled_frames_equal_untiled(tiny_srresnet):
    frames = square_frames(2, 12, 10)
    whole = upscale_animation(frames, tiny_srresnet, device="cpu", tile=0)
    tiled = upscale_animation(frames, tiny_srresnet, device="cpu", tile=8, tile_pad=8)
    for a, b in zip(whole.frames, tiled.frames):
        assert np.abs(a.rgb.astype(int) - b.rgb).max() <= 1


def test_api_reads_a_path_keeps_alpha_and_writes(tmp_path):
    p = write_gif(tmp_path / "t.gif", 4, 3, [{"idx": np.array([[0, 1, 1, 0]] * 3), "transparent": 0},
                                            {"idx": full(4, 3, 2)}], loop=5)
    r = upscale_animation(p, "bicubic", bicubic=True)
    assert r.info.loop == 5 and len(r.frames) == 2 and len(r.bicubic) == 2
    assert r.frames[0].alpha is not None and r.frames[0].alpha[:, 0].max() < 128
    assert r.frames[1].alpha is None
    out = r.save(tmp_path / "out.gif")
    back = read_animation(out)
    assert back.info.loop == 5 and back.info.size == (16, 12) and back.frames[0].alpha[5, 0] == 0


def test_no_dark_fringe_next_to_transparency(tmp_path):
    """The black under transparent GIF pixels must not bleed into the visible edge."""
    idx = np.array([[1, 1, 1, 0, 0, 0]] * 4, np.uint8)  # red | transparent
    p = write_gif(tmp_path / "half.gif", 6, 4, [{"idx": idx, "transparent": 0}])
    hr = upscale_animation(p, "bicubic").frames[0]
    visible = hr.alpha >= 128
    assert visible[:, :12].all() and hr.rgb[visible][:, 0].min() >= 250  # still red up to the edge


def test_api_streams_to_a_file_without_keeping_frames(tmp_path):
    r = upscale_animation(square_frames(3), "bicubic", output=tmp_path / "o.webp", quality=80)
    assert r.frames == [] and r.path == tmp_path / "o.webp" and read_animation(r.path).info.size == (40, 32)


def test_api_rejects_bad_frames():
    with pytest.raises(InputError, match="same size"):
        upscale_animation([np.zeros((4, 4, 3), np.uint8), np.zeros((5, 4, 3), np.uint8)], "bicubic")
    with pytest.raises(InputError, match="no frames"):
        upscale_animation([], "bicubic")
    with pytest.raises(InputError, match="uint8"):
        upscale_animation([np.zeros((4, 4, 3), np.float32)], "bicubic")


def test_repeated_frames_are_not_recomputed(tiny_srresnet):
    f = square_frames(2)
    r = upscale_animation([f[0], f[0], f[1], f[1], f[1]], tiny_srresnet, device="cpu")
    assert r.reused == 3
    assert np.array_equal(r.frames[0].rgb, r.frames[1].rgb) and np.array_equal(r.frames[2].rgb, r.frames[4].rgb)


def test_memory_is_bounded_by_the_batch(tiny_srresnet):
    """The pipeline pulls at most one batch of frames ahead of what it has yielded."""
    up = Upscaler(tiny_srresnet, device="cpu")
    pulled = 0

    def source():
        nonlocal pulled
        rng = np.random.default_rng(0)
        for i in range(40):
            pulled += 1
            yield Frame(rng.integers(0, 256, (6, 6, 3), dtype=np.uint8), None, 100, i)

    most = 0
    for k, (lr, hr) in enumerate(iter_upscaled(source(), up, batch=4), start=1):
        most = max(most, pulled - k)
    assert most <= 4 and pulled == 40


# --- flicker and the stabiliser ------------------------------------------------------------------

def test_flicker_meter_bicubic_is_steady_away_from_motion():
    frames = [Frame(f, None, 100, i) for i, f in enumerate(square_frames(4, 16, 12))]
    up = Upscaler(superres.load_model("bicubic"), device="cpu")
    near, far = FlickerMeter(4, margin=0), FlickerMeter(4)
    for lr, hr in iter_upscaled(frames, up):
        near.update(lr, hr)
        far.update(lr, hr)
    assert near.value > 0  # next to the moving square bicubic changes too
    assert far.value == 0  # bicubic's kernel reaches 2 LR pixels: nothing changes beyond


def test_stabilizer_removes_flicker_without_blending():
    frames = [Frame(f, None, 100, i) for i, f in enumerate(square_frames(6, 16, 12))]
    up = Upscaler(NoisyUp(), device="cpu")
    plain, steady = FlickerMeter(4), FlickerMeter(4)
    stab = Stabilizer(4, threshold=0, margin=1)
    prev_out = None
    for lr, hr in iter_upscaled(frames, up, batch=1):
        plain.update(lr, hr)
        out = stab(lr, hr)
        steady.update(lr, out)
        # every output pixel is the new network output or the previous output, never a mix
        if prev_out is not None:
            new = np.all(out.rgb == hr.rgb, axis=2)
            kept = np.all(out.rgb == prev_out.rgb, axis=2)
            assert np.all(new | kept)
        prev_out = out
    assert plain.value > 5  # the noisy model flickers everywhere
    assert steady.value < plain.value / 3


def graphic_frames(n: int = 10, w: int = 40, h: int = 24) -> list[np.ndarray]:
    """Issue 15's case in small: static grey text and icons on a plain background, one icon moving."""
    rng = np.random.default_rng(3)
    base = np.full((h, w, 3), 240, np.uint8)
    text = rng.random((6, 30)) < 0.4
    base[2:8, 4:34][text] = 137  # grey "text"
    base[12:18, 4:10] = (200, 40, 40)  # a red icon
    frames = []
    for i in range(n):
        f = base.copy()
        f[14:20, 12 + 2 * i:18 + 2 * i] = (30, 90, 200)  # a blue icon moving right
        frames.append(f)
    return frames


def test_flicker_figure_ignores_changes_explained_by_the_input_and_stabilize_brings_it_to_0():
    """bicubic read 8.9 (it cannot flicker) and --stabilize seemed to do nothing: both were pixels
    next to moving edges, which the output must change; the figure now leaves them out."""
    frames = graphic_frames()
    bic = upscale_animation(frames, "bicubic", durations=50)
    near = FlickerMeter(4, margin=0)
    lr_frames = [Frame(f, None, 50, i) for i, f in enumerate(frames)]
    for lr, hr in zip(lr_frames, bic.frames):
        near.update(lr, hr)
    assert near.value > 0.5 and bic.flicker_near == pytest.approx(near.value)  # the old figure
    assert bic.flicker == 0  # the figure: bicubic has no flicker
    noisy = upscale_animation(frames, NoisyUp(0.2), durations=50)
    steady = upscale_animation(frames, NoisyUp(0.2), durations=50, stabilize=True)
    assert noisy.flicker > 5 and steady.flicker == 0
    assert steady.flicker_near < noisy.flicker_near  # only the refreshed band next to the moving icon


def test_stabilizer_keeps_the_output_where_the_input_is_unchanged():
    rgb = np.zeros((8, 8, 3), np.uint8)
    rgb2 = rgb.copy()
    rgb2[0, 0] = 200
    stab = Stabilizer(2, threshold=3, margin=1)
    hr1 = Frame(np.full((16, 16, 3), 10, np.uint8))
    hr2 = Frame(np.full((16, 16, 3), 90, np.uint8))
    stab(Frame(rgb), hr1)
    out = stab(Frame(rgb2), hr2)
    assert np.all(out.rgb[:4, :4] == 90)  # the changed pixel and its 1-pixel margin, at 2x
    assert np.all(out.rgb[4:, :] == 10) and np.all(out.rgb[:, 4:] == 10)
    rgb3 = rgb2.copy()
    rgb3[7, 7] = 2  # below the threshold: unchanged
    out3 = stab(Frame(rgb3), Frame(np.full((16, 16, 3), 200, np.uint8)))
    assert np.array_equal(out3.rgb, out.rgb)


# --- the command ---------------------------------------------------------------------------------

def test_cli_default_model_note_output_keeps_timing(tmp_path, capsys):
    src = moving_gif(tmp_path / "m.gif", loop=7)
    rc, err = cli(capsys, "animate", src)
    assert rc == 0, err
    assert "using bicubic" in err and "animated 4 frames 8x6 -> 32x24" in err and "frames/s" in err
    a = read_animation(tmp_path / "m_x4.gif")
    assert a.info.n_frames == 4 and a.info.size == (32, 24) and a.info.loop == 7 and a.durations_ms == [50] * 4
    assert np.all(a.frames[0].rgb[:, :, 0] > 200)  # red stays red


def test_cli_compare_and_also_bicubic(tmp_path, capsys, tiny_weights):
    src = moving_gif(tmp_path / "m.gif")
    out = tmp_path / "out" / "big.gif"
    rc, err = cli(capsys, "animate", src, "-o", out, "--model", tiny_weights, "--compare", "--also-bicubic", "-q")
    assert rc == 0, err
    assert err == ""  # -q: nothing on stderr
    cmp = read_animation(out.with_name("big_compare.gif"))
    # [input nearest | bicubic | model], each 32 px wide, 4 px gaps, a label bar on top
    assert cmp.info.size[0] == 3 * 32 + 2 * 4 and cmp.info.size[1] > 24 and cmp.info.n_frames == 4
    first = cmp.frames[0].rgb
    bar = cmp.info.size[1] - 24
    assert np.all(first[bar:, :32] == (255, 0, 0))  # the input, enlarged with nearest
    assert (first[:bar] > 128).any()  # label text
    bic = read_animation(out.with_name("big_bicubic.gif"))
    assert bic.info.n_frames == 4 and bic.info.size == (32, 24)
    html = out.with_name("big_compare.html").read_text()
    # self-contained: every file is embedded, in the order input, bicubic, model, side by side
    import base64
    import re

    uris = re.findall(r'src="data:image/gif;base64,([^"]+)"', html)
    files = [src, out.with_name("big_bicubic.gif"), out, out.with_name("big_compare.gif")]
    assert [base64.b64decode(u) for u in uris] == [f.read_bytes() for f in files]
    assert "width: 32px" in html and "pixelated" in html and "../" not in html


def test_cli_compare_with_bicubic_model_has_two_panels(tmp_path, capsys):
    src = moving_gif(tmp_path / "m.gif")
    rc, err = cli(capsys, "animate", src, "-o", tmp_path / "o.png", "--compare", "--model", "bicubic")
    assert rc == 0, err
    cmp = read_animation(tmp_path / "o_compare.png")
    assert cmp.info.format == "PNG" and cmp.info.size[0] == 2 * 32 + 4 and cmp.info.n_frames == 4


def test_cli_stabilize_and_output_formats(tmp_path, capsys):
    src = moving_gif(tmp_path / "m.gif", n=3)
    for name in ("o.webp", "o.apng"):
        rc, err = cli(capsys, "animate", src, "-o", tmp_path / name, "--stabilize", "--palette", "global")
        assert rc == 0, err
        assert "flicker" in err
        assert read_animation(tmp_path / name).info.size == (32, 24)
    rc, err = cli(capsys, "animate", src, "-o", tmp_path / "d.gif", "--dither", "--palette", "global")
    assert rc == 0, err


def test_compare_page_over_the_embed_limit_links_outputs_beside_it(tmp_path):
    from superres.animate import compare_html

    (tmp_path / "in").mkdir()
    (tmp_path / "out").mkdir()
    src = moving_gif(tmp_path / "in" / "m.gif")
    out = tmp_path / "out" / "big.gif"
    out.write_bytes(src.read_bytes() * 4)
    page = compare_html(src, [("model", out)], base=out.parent, embed_limit=src.stat().st_size)
    assert page.count("data:image/gif;base64,") == 1  # the input, which lives elsewhere, is embedded
    assert 'src="big.gif"' in page and "../" not in page and "keep this page beside them" in page


def test_cli_never_overwrites(tmp_path, capsys):
    src = moving_gif(tmp_path / "m.gif")
    (tmp_path / "o_compare.html").write_text("mine")
    rc, err = cli(capsys, "animate", src, "-o", tmp_path / "o.gif", "--compare")
    assert rc == 2 and "o_compare.html already exists" in err and "--overwrite" in err
    assert not (tmp_path / "o.gif").exists()  # checked before any work
    rc, err = cli(capsys, "animate", src, "-o", src, "--overwrite")
    assert rc == 2 and "input itself" in err
    rc, err = cli(capsys, "animate", src, "-o", tmp_path / "m_x4.gif")
    assert rc == 0, err
    rc, err = cli(capsys, "animate", src)
    assert rc == 2 and "m_x4.gif already exists" in err
    rc, err = cli(capsys, "animate", src, "-o", tmp_path / "o.gif", "--compare", "--overwrite")
    assert rc == 0, err
    assert (tmp_path / "o_compare.html").read_text() != "mine"


def test_cli_single_frame_gif_works_like_an_image(tmp_path, capsys):
    src = write_gif(tmp_path / "one.gif", 3, 2, [{"idx": full(3, 2, 2)}], loop=None)
    rc, err = cli(capsys, "animate", src)
    assert rc == 0, err
    a = read_animation(tmp_path / "one_x4.gif")
    assert a.info.n_frames == 1 and a.info.size == (12, 8) and np.all(a.frames[0].rgb == (0, 255, 0))


def test_cli_zero_delays_get_the_browser_minimum(tmp_path, capsys):
    src = write_gif(tmp_path / "z.gif", 2, 2, [{"idx": full(2, 2, i), "delay": 0} for i in range(3)])
    rc, err = cli(capsys, "animate", src)
    assert rc == 0, err
    assert read_animation(tmp_path / "z_x4.gif").durations_ms == [100, 100, 100]


def test_cli_truncated_gif_keeps_frames_with_warning(tmp_path, capsys):
    data = gif_bytes(4, 4, [{"idx": full(4, 4, i % 4)} for i in range(4)])
    src = tmp_path / "cut.gif"
    src.write_bytes(data[:-30])
    rc, err = cli(capsys, "animate", src)
    assert rc == 0, err
    assert "superres: warning:" in err and "truncated" in err
    assert read_animation(tmp_path / "cut_x4.gif").info.n_frames == 3


@pytest.mark.parametrize("case, message", [
    ("missing", "no such file"),
    ("garbage", "not an animation"),
    ("cut0", "no complete frame"),
    ("huge", "--max-pixels"),
])
def test_cli_bad_inputs_one_line_exit_1(tmp_path, capsys, case, message):
    src = tmp_path / f"{case}.gif"
    if case == "garbage":
        src.write_bytes(b"not a gif at all")
    elif case == "cut0":
        src.write_bytes(gif_bytes(8, 8, [{"idx": full(8, 8, 1)}])[:-20])
    elif case == "huge":
        write_gif(src, 3000, 3000, [{"idx": full(2, 2, 1)}])
    rc, err = cli(capsys, "animate", src, "--max-pixels", "1000000")
    lines = [ln for ln in err.splitlines() if ln.startswith(ERR)]
    assert rc == 1 and len(lines) == 1 and message in lines[0], err
    assert list(tmp_path.glob("*_x4*")) == []


def test_cli_unknown_model_is_a_usage_error(tmp_path, capsys):
    rc, err = cli(capsys, "animate", moving_gif(tmp_path / "m.gif"), "--model", "srgann-x4")
    assert rc == 2 and "Did you mean 'srgan-x4'" in err


def test_cli_progress_bar(tmp_path, capsys):
    from superres.animate import AnimateOptions, animate_file

    rep = animate_file(moving_gif(tmp_path / "m.gif"), tmp_path / "p.gif",
                       AnimateOptions(model="bicubic", progress=True, quiet=True))
    err = capsys.readouterr().err
    assert "frame" in err and "4/4" in err and rep.frames == 4 and rep.bytes > 0


def test_import_superres_cli_does_not_import_heavy_or_video_modules():
    code = ("import sys, superres.cli; superres.cli.build_parser(); "
            "bad = [m for m in ('av', 'torch', 'numpy', 'PIL', 'superres.io.video', 'superres.animate') "
            "if m in sys.modules]; print(bad); sys.exit(1 if bad else 0)")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False)
    assert r.returncode == 0, r.stdout + r.stderr


# --- video ---------------------------------------------------------------------------------------

def test_video_without_pyav_names_the_install_command(tmp_path, capsys, monkeypatch):
    src = tmp_path / "clip.mp4"
    src.write_bytes(b"\x00\x00\x00\x18ftypmp42" + b"\x00" * 64)
    monkeypatch.setitem(sys.modules, "av", None)  # import av now raises ImportError
    rc, err = cli(capsys, "animate", src)
    assert rc == 1 and "pip install 'superres[video]'" in err
    rc, err = cli(capsys, "animate", moving_gif(tmp_path / "m.gif"), "-o", tmp_path / "o.mp4")
    assert rc == 2 and "pip install 'superres[video]'" in err and not (tmp_path / "o.mp4").exists()


def make_video(path: Path, n: int = 6, w: int = 16, h: int = 12, audio: bool = True, rate: int = 10) -> Path:
    av = pytest.importorskip("av", reason="PyAV (the video extra) is not installed")
    out = av.open(str(path), "w")
    vs = out.add_stream("libx264", rate=rate)
    vs.width, vs.height, vs.pix_fmt = w, h, "yuv420p"
    aus = out.add_stream("aac", rate=16000) if audio else None
    for i in range(n):
        arr = np.full((h, w, 3), 40, np.uint8)
        arr[:, (2 * i) % w:(2 * i) % w + 4] = 230
        for pkt in vs.encode(av.VideoFrame.from_ndarray(arr, format="rgb24")):
            out.mux(pkt)
    for pkt in vs.encode(None):
        out.mux(pkt)
    if aus is not None:
        t = np.arange(int(16000 * n / rate)) / 16000
        fr = av.AudioFrame.from_ndarray((np.sin(2 * np.pi * 440 * t) * 0.3).astype(np.float32)[None], format="fltp",
                                        layout="mono")
        fr.sample_rate, fr.pts = 16000, 0
        for pkt in aus.encode(fr):
            out.mux(pkt)
        for pkt in aus.encode(None):
            out.mux(pkt)
    out.close()
    return path


def test_video_to_video_keeps_audio_and_frames(tmp_path, capsys):
    av = pytest.importorskip("av", reason="PyAV (the video extra) is not installed")
    src = make_video(tmp_path / "clip.mp4")
    rc, err = cli(capsys, "animate", src, "--compare")
    assert rc == 0, err
    with av.open(str(tmp_path / "clip_x4.mp4")) as c:
        kinds = sorted(s.type for s in c.streams)
        v = c.streams.video[0]
        assert kinds == ["audio", "video"] and (v.codec_context.width, v.codec_context.height) == (64, 48)
        assert sum(1 for _ in c.decode(video=0)) == 6
    with av.open(str(tmp_path / "clip_x4_compare.mp4")) as c:
        assert c.streams.video[0].codec_context.width == 2 * 64 + 4
    assert "<video" in (tmp_path / "clip_x4_compare.html").read_text()


def test_video_to_gif_and_gif_to_video(tmp_path, capsys):
    pytest.importorskip("av", reason="PyAV (the video extra) is not installed")
    src = make_video(tmp_path / "clip.mp4", audio=False)
    rc, err = cli(capsys, "animate", src, "-o", tmp_path / "clip.gif")
    assert rc == 0, err
    a = read_animation(tmp_path / "clip.gif")
    assert a.info.n_frames == 6 and a.durations_ms == [100] * 6 and a.info.size == (64, 48)
    rc, err = cli(capsys, "animate", moving_gif(tmp_path / "m.gif"), "-o", tmp_path / "m.webm")
    assert rc == 0, err
    v = read_animation(tmp_path / "m.webm")
    assert v.info.size == (32, 24) and len(v.frames) == 4


def test_video_reader_streams_frames(tmp_path):
    pytest.importorskip("av", reason="PyAV (the video extra) is not installed")
    from superres.io.animation import open_animation

    with open_animation(make_video(tmp_path / "c.mp4", n=8, audio=False)) as r:
        assert r.info.format == "VIDEO" and r.info.n_frames == 8 and r.info.fps == 10
        it = iter(r)
        f0 = next(it)
        assert f0.rgb.shape == (12, 16, 3) and f0.duration_ms == 100


def test_write_video_api(tmp_path):
    pytest.importorskip("av", reason="PyAV (the video extra) is not installed")
    frames = [Frame(np.full((9, 11, 3), 20 * i, np.uint8), None, 50, i) for i in range(5)]  # odd size
    p = write_animation(frames, tmp_path / "o.mp4")
    back = read_animation(p)
    assert len(back.frames) == 5 and back.frames[0].rgb.shape == (10, 12, 3)  # padded to even for 4:2:0


def test_animate_color_fix_keeps_grey_grey(tmp_path, capsys):
    frames = [np.repeat(f[:, :, :1], 3, axis=2) for f in graphic_frames(3)]  # all grey
    res = upscale_animation(frames, NoisyUp(0.2), durations=50, color_fix=True)
    rgb = res.frames[-1].rgb.astype(int)
    assert (rgb.max(2) - rgb.min(2)).max() <= 1
    src = tmp_path / "g.gif"
    write_animation(frames, src, durations=50)
    rc, err = cli(capsys, "animate", src, "--color-fix", "-q")
    assert rc == 0, err
