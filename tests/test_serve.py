"""``superres serve``'s work without a browser: uploads, jobs, file names, messages (and the app, with Gradio)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from superres.cli import main
from superres.errors import InputError, SuperResError
from superres.web.app import PageResult, is_loopback, pick_port, run_job
from superres.web.jobs import (
    ServeSettings,
    Workspace,
    animation_html,
    animation_job,
    check_upload,
    compare_job,
    model_choices,
    upscale_image_job,
)


@pytest.fixture
def ws(tmp_path):
    w = Workspace(tmp_path)
    yield w
    w.cleanup()


@pytest.fixture
def settings():
    return ServeSettings(device="cpu", precision="fp32")


@pytest.fixture
def no_weights(tmp_path_factory, monkeypatch):
    """No shipped weights: the installed models are the interpolations, bicubic the default."""
    import superres.api

    monkeypatch.setenv("SUPERRES_WEIGHTS_DIR", str(tmp_path_factory.mktemp("no_weights")))
    monkeypatch.setenv("SUPERRES_HOME", str(tmp_path_factory.mktemp("empty_cache")))  # no cached catalogue models
    superres.api._CACHE.clear()
    yield
    superres.api._CACHE.clear()


def pattern(w: int = 24, h: int = 16) -> np.ndarray:
    yy, xx = np.mgrid[0:h, 0:w]
    return np.stack([(np.sin(xx / 3.0) * 120 + 128), (np.cos(yy / 2.5) * 120 + 128), ((xx * yy) % 256)],
                    axis=-1).clip(0, 255).astype(np.uint8)


def save(arr: np.ndarray, path: Path, **kw) -> Path:
    Image.fromarray(arr).save(path, **kw)
    return path


def gif(path: Path, n: int = 3, w: int = 12, h: int = 8) -> Path:
    frames = [Image.fromarray(np.roll(pattern(w, h), 2 * i, axis=1)) for i in range(n)]
    frames[0].save(path, save_all=True, append_images=frames[1:], duration=[80, 120, 200][:n] + [100] * (n - 3),
                   loop=0)
    return path


# --- uploads --------------------------------------------------------------------------------------

def test_check_upload_tells_images_from_animations(tmp_path, settings):
    assert check_upload(save(pattern(), tmp_path / "a.png"), settings) == "image"
    assert check_upload(save(pattern(), tmp_path / "a.jpg"), settings) == "image"
    assert check_upload(save(pattern(), tmp_path / "a.webp"), settings) == "image"
    assert check_upload(gif(tmp_path / "anim.gif"), settings) == "animation"
    one = tmp_path / "one.gif"
    Image.fromarray(pattern()).save(one)
    assert check_upload(one, settings) == "image"  # a one-frame GIF is a still
    apng = tmp_path / "anim.png"
    fr = [Image.fromarray(np.roll(pattern(), i, axis=0)) for i in range(3)]
    fr[0].save(apng, save_all=True, append_images=fr[1:], duration=100)
    assert check_upload(apng, settings) == "animation"
    webp = tmp_path / "anim.webp"
    fr[0].save(webp, save_all=True, append_images=fr[1:], duration=100, lossless=True)
    assert check_upload(webp, settings) == "animation"
    assert check_upload(save(pattern(), tmp_path / "scan.tif"), settings) == "image"
    assert check_upload(save(pattern(), tmp_path / "old.bmp"), settings) == "image"


def test_animated_webp_and_apng_keep_their_format(tmp_path, ws, settings, no_weights):
    fr = [Image.fromarray(np.roll(pattern(), i, axis=0)) for i in range(3)]
    fr[0].save(tmp_path / "wave.webp", save_all=True, append_images=fr[1:], duration=100, lossless=True)
    fr[0].save(tmp_path / "wave.png", save_all=True, append_images=fr[1:], duration=100)
    for name in ("wave.webp", "wave.png"):
        r = run_job(str(tmp_path / name), settings, ws, model="bicubic")
        assert r.ok and r.animation, r.status
        out = Path(r.download)
        assert out.name == name.replace("wave", "wave_x4")
        with Image.open(out) as im:
            assert im.size == (96, 64) and im.n_frames == 3


def test_check_upload_messages_name_the_users_file_not_the_server_path(tmp_path, settings):
    junk = tmp_path / "srv-tmp" / "holiday.png"
    junk.parent.mkdir()
    junk.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(100)))
    with pytest.raises(InputError) as e:
        check_upload(junk, settings, "holiday.png")
    assert str(e.value).startswith("holiday.png:") and "damaged" in str(e.value)
    assert "srv-tmp" not in str(e.value)


def test_check_upload_refuses_bad_uploads_with_a_clear_message(tmp_path):
    s = ServeSettings(max_upload_mb=0.001, max_pixels=300)
    big = tmp_path / "big.png"
    big.write_bytes(os.urandom(2000))
    with pytest.raises(InputError, match=r"big.png is 2.0 kB, over this server's upload limit of 0.001 MB "
                                         r"\(start it with a larger --max-upload-mb\)"):
        check_upload(big, s)
    txt = tmp_path / "notes.txt"
    txt.write_text("hello")
    with pytest.raises(InputError, match=r"notes.txt: unsupported file type .txt; drop a PNG, JPEG"):
        check_upload(txt, s)
    empty = tmp_path / "empty.gif"
    empty.touch()
    with pytest.raises(InputError, match="empty"):
        check_upload(empty, s)
    with pytest.raises(InputError, match="no file"):
        check_upload(None, s)
    # a truncated GIF and an oversized one
    good = gif(tmp_path / "cut.gif", w=24, h=16)
    good.write_bytes(good.read_bytes()[:60])
    with pytest.raises(InputError, match="cut.gif"):
        check_upload(good, ServeSettings())
    with pytest.raises(InputError, match=r"over the limit of 300.*start the server with a larger --max-pixels"):
        check_upload(gif(tmp_path / "wide.gif", w=24, h=16), ServeSettings(max_pixels=300))


def test_image_over_the_pixel_limit_and_truncated_image_fail_with_a_message(tmp_path, ws, no_weights):
    src = save(pattern(40, 30), tmp_path / "photo.png")
    r = run_job(str(src), ServeSettings(max_pixels=1000), ws, model="bicubic")
    assert not r.ok and r.download is None
    assert r.status.startswith("**Error:** photo.png: 40x30 is 1,200 pixels, over the limit of 1,000")
    assert "start the server with a larger --max-pixels" in r.status
    jpg = save(pattern(64, 48), tmp_path / "cut.jpg", quality=90)
    jpg.write_bytes(jpg.read_bytes()[:300])
    r = run_job(str(jpg), ServeSettings(), ws, model="bicubic")
    assert not r.ok and r.status.startswith("**Error:** cut.jpg:") and "truncated" in r.status


# --- models ---------------------------------------------------------------------------------------

def test_model_choices_are_the_installed_models_default_first(no_weights):
    names = [c.name for c in model_choices()]
    assert names[0] == "bicubic"
    assert set(names) == {"bicubic", "nearest", "bilinear", "lanczos"}
    c = model_choices()[0]
    assert c.label == f"bicubic: {c.description}" and "MATLAB" in c.description


def test_cached_catalogue_models_join_the_picker_with_their_strength(no_weights, tmp_path, monkeypatch):
    from superres import catalogue

    monkeypatch.setenv("SUPERRES_HOME", str(tmp_path / "home"))

    def cache(name: str) -> None:
        for f in catalogue.get(name).files:
            catalogue.file_path(f).parent.mkdir(parents=True, exist_ok=True)
            catalogue.file_path(f).write_bytes(b"cached")

    cache("course-srgan")
    by_name = {c.name: c for c in model_choices()}
    assert "course-srgan" in by_name and not by_name["course-srgan"].strength  # its partner is not cached
    assert "realesrgan-x4plus" not in by_name
    cache("course-srresnet")
    by_name = {c.name: c for c in model_choices()}
    assert by_name["course-srgan"].strength and not by_name["course-srresnet"].strength
    assert not by_name["bicubic"].strength


def test_gan_strength_in_the_page_blends_like_the_cli(tmp_path, ws, settings, monkeypatch):
    import torch

    import superres.api
    from superres.models import SRResNet
    from superres.registry import interpolate_models
    from superres.weights import save_weights

    a, b = SRResNet(scale=4, channels=8, n_blocks=1).eval(), SRResNet(scale=4, channels=8, n_blocks=1).eval()
    with torch.no_grad():
        for q in b.parameters():
            q.add_(0.05 * torch.randn_like(q))
    wdir = tmp_path / "w"
    save_weights(a, wdir / "srresnet-x4.safetensors")
    save_weights(b, wdir / "srgan-x4.safetensors")
    monkeypatch.setenv("SUPERRES_WEIGHTS_DIR", str(wdir))
    monkeypatch.setenv("SUPERRES_HOME", str(tmp_path / "home"))
    superres.api._CACHE.clear()
    assert {c.name: c.strength for c in model_choices()}["srgan-x4"]
    src = save(pattern(), tmp_path / "photo.png")
    r = run_job(str(src), settings, ws, model="srgan-x4", strength=0.5)
    assert r.ok and "srgan-x4 (GAN strength 0.5)" in r.status
    want = superres.upscale(np.asarray(Image.open(src).convert("RGB")), interpolate_models(a, b, 0.5), device="cpu")
    assert np.abs(np.asarray(Image.open(r.download)).astype(int) - want).max() <= 1
    full = run_job(str(src), settings, ws, model="srgan-x4", strength=1.0)
    assert full.ok and "GAN strength" not in full.status  # 1 is the model itself
    bad = run_job(str(src), settings, ws, model="srgan-x4", strength=1.5)
    assert not bad.ok and "between 0 and 1" in bad.status
    superres.api._CACHE.clear()


def test_model_choices_with_shipped_weights_start_with_the_default():
    from superres.registry import default_model, get_entry

    if not get_entry("srgan-x4").available():
        pytest.skip("srgan-x4 weights not installed")
    choices = model_choices()
    assert choices[0].name == default_model() == "srgan-x4"
    assert {"srgan-x4", "srresnet-x4", "bicubic"} <= {c.name for c in choices}


# --- images -----------------------------------------------------------------------------------------

def test_image_job_matches_superres_upscale(tmp_path, ws, settings, no_weights):
    src = save(pattern(), tmp_path / "photo.png")
    job = upscale_image_job(src, "photo.png", ws.job_dir(), settings, model="bicubic")
    assert job.download.name == "photo_x4.png" and job.download.parent.parent == ws.results
    assert job.in_size == (24, 16) and job.out_size == (96, 64)
    ref = tmp_path / "cli.png"
    assert main(["upscale", str(src), "-o", str(ref), "-m", "bicubic", "-q", "--device", "cpu",
                 "--precision", "fp32"]) == 0
    assert np.array_equal(np.asarray(Image.open(job.download)), np.asarray(Image.open(ref)))
    # the slider: the input enlarged with nearest (exact pixel repetition) and the output, same size
    b, a = np.asarray(Image.open(job.before)), np.asarray(Image.open(job.after))
    assert b.shape == a.shape == (64, 96, 3)
    assert np.array_equal(b, np.repeat(np.repeat(pattern(), 4, 0), 4, 1))
    assert np.array_equal(a, np.asarray(Image.open(ref)))


def test_image_job_progress_counts_tiles(tmp_path, ws, no_weights):
    src = save(pattern(40, 40), tmp_path / "p.png")
    seen = []
    s = ServeSettings(device="cpu", precision="fp32", tile=16)
    upscale_image_job(src, "p.png", ws.job_dir(), s, model="bicubic", progress=lambda *a: seen.append(a))
    tiles = [a for a in seen if a[0] == "tiles"]
    n = tiles[0][2]
    assert n > 4 and tiles[0] == ("tiles", 0, n) and tiles[-1] == ("tiles", n, n)
    assert [d for _, d, _ in tiles] == sorted(d for _, d, _ in tiles)


def test_image_job_keeps_alpha_and_16_bits_and_honours_outscale(tmp_path, ws, settings, no_weights):
    rgba = np.dstack([pattern(), np.tile(np.linspace(0, 255, 24).astype(np.uint8), (16, 1))])
    src = save(rgba, tmp_path / "logo.png")
    job = upscale_image_job(src, "logo.png", ws.job_dir(), settings, model="bicubic", outscale=2,
                            before="bicubic")
    out = Image.open(job.download)
    assert out.mode == "RGBA" and out.size == (48, 32)
    assert Image.open(job.before).size == Image.open(job.after).size == (48, 32)
    assert any("transparency" in n for n in job.notes)

    deep = (pattern().astype(np.uint16) * 257)[:, :, 0]
    src16 = tmp_path / "scan.png"
    Image.fromarray(deep).save(src16)
    job = upscale_image_job(src16, "scan.png", ws.job_dir(), settings, model="bicubic")
    from superres import read_image

    pic = read_image(job.download)
    assert pic.bits == 16 and pic.size == (96, 64)
    assert Image.open(job.after).mode in ("RGB", "L")  # the preview is 8-bit
    assert any("16-bit" in n for n in job.notes)


def test_heatmap_is_what_superres_compare_diff_draws(tmp_path, ws, settings):
    from superres.compare import DEFAULT_DIFF, compare_lr
    from superres.registry import get_entry

    if not all(get_entry(n).available() for n in DEFAULT_DIFF):
        pytest.skip("srgan-x4 / srresnet-x4 weights not installed")
    src = save(pattern(12, 10), tmp_path / "cat.png")
    job = upscale_image_job(src, "cat.png", ws.job_dir(), settings, model="bicubic", heatmap=True)
    ref = compare_lr(pattern(12, 10), list(DEFAULT_DIFF), diff=DEFAULT_DIFF, device="cpu")
    assert np.array_equal(np.asarray(Image.open(job.heatmap)), ref.diff.image)
    assert job.heatmap_label == "What the GAN added: SRGAN vs SRResNet"
    assert any(n.startswith("What the GAN added: SRGAN vs SRResNet: |luma difference|") for n in job.notes)


def test_heatmap_without_the_models_is_a_note(tmp_path, ws, settings, no_weights):
    src = save(pattern(), tmp_path / "cat.png")
    job = upscale_image_job(src, "cat.png", ws.job_dir(), settings, model="bicubic", heatmap=True)
    assert job.heatmap is None and any("'what the GAN added' compares srgan-x4 and srresnet-x4" in n for n in job.notes)


# --- HR mode ------------------------------------------------------------------------------------------

def test_compare_job_is_superres_compare(tmp_path, ws, settings):
    import torch

    from superres.compare import compare_hr
    from superres.models import SRResNet
    from superres.weights import save_weights

    torch.manual_seed(0)
    net = save_weights(SRResNet(scale=4, channels=8, n_blocks=1), tmp_path / "tiny.safetensors")
    src = save(pattern(32, 24), tmp_path / "photo.png")
    job = compare_job(src, "photo.png", ws.job_dir(), settings, model=str(net), lpips=False)
    assert job.download.name == "photo_compare.png"
    ref = compare_hr(pattern(32, 24), ["bicubic", str(net)], lpips=False, device="cpu")
    assert [r[0] for r in job.rows] == [p.label for p in ref.methods] == ["Bicubic", "tiny"]
    assert [r[1] for r in job.rows] == pytest.approx([p.psnr for p in ref.methods])
    table = job.table_markdown()
    assert "| Bicubic |" in table and "n/a" in table  # LPIPS off
    fig = Image.open(job.figure)
    assert fig.width > 3 * 32  # three panels: bicubic, tiny, original
    assert Image.open(job.before).size == Image.open(job.after).size == (32, 24)


# --- animations ---------------------------------------------------------------------------------------

def test_animation_job_is_superres_animate(tmp_path, ws, settings, no_weights):
    from superres import read_animation

    src = gif(tmp_path / "cat.gif")
    seen = []
    job = animation_job(src, "cat.gif", ws.job_dir(), settings, model="bicubic",
                        progress=lambda *a: seen.append(a))
    assert job.download.name == "cat_x4.gif" and job.frames == 3 and job.out_size == (48, 32)
    assert seen[-1] == ("frames", 3, 3)
    ref = tmp_path / "cli.gif"
    assert main(["animate", str(src), "-o", str(ref), "-m", "bicubic", "-q", "--device", "cpu",
                 "--precision", "fp32"]) == 0
    ours, theirs = read_animation(job.download), read_animation(ref)
    assert [f.duration_ms for f in ours.frames] == [f.duration_ms for f in theirs.frames] == [80, 120, 200]
    for a, b in zip(ours.frames, theirs.frames):
        assert np.array_equal(a.rgb, b.rgb)


def test_animation_html_shows_both_at_the_same_width():
    page = animation_html("/f/in.gif", "/f/out.gif", (12, 8), (48, 32), "srgan-x4")
    assert page.count("width:48px") == 2 and "pixelated" in page
    assert animation_html("/a", "/b", (400, 300), (1600, 1200), "m").count("width:640px") == 2


def test_run_job_dispatches_and_reports(tmp_path, ws, settings, no_weights):
    r = run_job(str(gif(tmp_path / "cat.gif")), settings, ws, model="bicubic")
    assert r.ok and r.animation and r.download.endswith("cat_x4.gif") and r.slider is None
    assert r.status.startswith("**Done:** 3 frames, 12x8 -> 48x32 with bicubic")
    r = run_job(str(save(pattern(), tmp_path / "p.png")), settings, ws, model="nearest", before="bicubic")
    assert r.ok and r.slider and r.download.endswith("p_x4.png") and "input (bicubic) | nearest" in r.slider_label
    r = run_job(str(save(pattern(32, 24), tmp_path / "hr.png")), settings, ws, model="bicubic", hr=True,
                lpips=False)
    assert r.ok and r.figure and "| Bicubic |" in r.table and r.download.endswith("hr_compare.png")
    r = run_job(str(save(pattern(32, 24), tmp_path / "b.png")), settings, ws, model="bicubic", hr=True,
                lpips=False)
    assert r.ok and r.slider_label == "Bicubic | Original (drag to compare)"  # bicubic alone: vs the original
    r = run_job(None, settings, ws, model="bicubic")
    assert r == PageResult("**Error:** no file: drop an image or an animation on the upload box first")
    r = run_job(str(tmp_path / "p.png"), settings, ws, model=str(tmp_path / "p.png"))  # not from the page
    assert not r.ok and r.status.startswith("**Error:** model ") and "is not one of this server's" in r.status


# --- the command and the app --------------------------------------------------------------------------

def test_loopback_and_port():
    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("localhost")
    assert not is_loopback("0.0.0.0") and not is_loopback("192.168.1.20")
    port = pick_port("127.0.0.1")
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", port))  # it was free


def test_serve_help_needs_neither_torch_nor_gradio():
    code = ("import sys; from superres.cli import main\n"
            "try:\n    main(['serve', '--help'])\nexcept SystemExit:\n    pass\n"
            "print(' '.join(m for m in ('torch', 'gradio') if m in sys.modules), file=sys.stderr)")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                       env={**os.environ, "PYTHONPATH": str(Path(__file__).parents[1] / "src")})
    assert r.returncode == 0, r.stderr
    assert "--max-upload-mb" in r.stdout and "--queue-size" in r.stdout
    assert r.stderr.strip() == ""


def test_serve_without_gradio_says_how_to_install(monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "gradio", None)  # import gradio -> ImportError
    assert main(["serve", "--port", str(pick_port("127.0.0.1", 0))]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1] == 'superres serve: error: superres serve needs Gradio: pip install "superres[web]"'


def test_serve_warns_when_not_loopback(monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "gradio", None)
    main(["serve", "--host", "0.0.0.0", "--port", str(pick_port("0.0.0.0", 0))])
    assert "warning: listening on 0.0.0.0, not this machine only" in capsys.readouterr().err


def test_serve_refuses_a_port_in_use(capsys):
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        assert main(["serve", "--port", str(port)]) == 2
    assert f"port {port} on 127.0.0.1 is in use" in capsys.readouterr().err


def test_serve_leaves_the_environment_as_it_was(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "gradio", None)
    monkeypatch.delenv("GRADIO_TEMP_DIR", raising=False)
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    import tempfile

    monkeypatch.setattr(tempfile, "tempdir", None)  # re-read TMPDIR
    main(["serve", "--port", str(pick_port("127.0.0.1", 0))])
    assert "GRADIO_TEMP_DIR" not in os.environ
    assert list(tmp_path.iterdir()) == []  # the workspace was removed


def test_build_app_has_the_controls(ws, settings, no_weights, monkeypatch):
    monkeypatch.setenv("GRADIO_TEMP_DIR", str(ws.uploads))  # where Gradio puts its files at import
    pytest.importorskip("gradio", reason="Gradio not installed (pip install 'superres[web]')")
    from superres.web.app import build_app

    demo = build_app(settings, ws, concurrency=1, queue_size=3)
    ids = {getattr(b, "elem_id", None) for b in demo.blocks.values()}
    assert {"sr-upload", "sr-model", "sr-slider", "sr-download", "sr-status", "sr-heat", "sr-strength"} <= ids
    strength = next(b for b in demo.blocks.values() if getattr(b, "elem_id", None) == "sr-strength")
    assert strength.label == "GAN strength" and strength.value == 1 and not strength.visible  # bicubic has none
    model = next(b for b in demo.blocks.values() if getattr(b, "elem_id", None) == "sr-model")
    assert model.value == "bicubic"
    assert demo._queue.max_size == 3
    with pytest.raises(SuperResError, match="not an installed model"):
        build_app(settings, ws, model="srgan-x4")
