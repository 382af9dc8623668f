"""Tests of superres.compare (HR and LR comparisons, crops, heat map, figure, HTML) and ``superres compare``.

Models are interpolation baselines, tiny random networks saved as weight files,
or full-size random SRResNets installed under the registry names through
SUPERRES_WEIGHTS_DIR (on tiny images, so they stay fast).
"""

from __future__ import annotations

import itertools
import re
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from superres import compare as C
from superres.cli import main
from superres.errors import InputError, ModelError, UsageError
from superres.metrics import psnr, ssim


@pytest.fixture(autouse=True)
def _isolated(tmp_path_factory, monkeypatch):
    """No shipped weights and no model cached between tests; LPIPS off unless a test sets it up."""
    import superres.api
    from superres import lpips as L

    empty = tmp_path_factory.mktemp("no_weights")
    monkeypatch.setenv("SUPERRES_WEIGHTS_DIR", str(empty))
    superres.api._CACHE.clear()
    L.clear_cache()

    def unavailable(net):
        raise L.LPIPSUnavailable(f"LPIPS({net}) unavailable: test without weights")

    monkeypatch.setattr(L, "_fetch_backbone", unavailable)
    yield
    superres.api._CACHE.clear()
    L.clear_cache()


def photo(w: int = 48, h: int = 40, seed: int = 0) -> np.ndarray:
    """A smooth image with one textured patch (so the detailed region is known)."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w]
    base = np.stack([xx * 200 / w + 20, yy * 200 / h + 20, np.full((h, w), 90.0)], axis=-1)
    img = base.copy()
    py, px = h // 2, w // 2
    img[py:py + h // 4, px:px + w // 4] += rng.normal(0, 60, (h // 4, w // 4, 3))
    return np.clip(img, 0, 255).astype(np.uint8)


@pytest.fixture
def tiny_model(tmp_path) -> str:
    from superres.models import SRResNet
    from superres.weights import save_weights

    return str(save_weights(SRResNet(scale=4, channels=8, n_blocks=1), tmp_path / "w" / "tinynet.safetensors"))


@pytest.fixture
def registry_weights(tmp_path, monkeypatch) -> Path:
    """srgan-x4 and srresnet-x4 installed (full-size random SRResNets), srcnn-x4 missing."""
    import torch

    from superres.models import SRResNet
    from superres.weights import save_weights

    d = tmp_path / "weights"
    torch.manual_seed(1)
    save_weights(SRResNet(), d / "srgan-x4.safetensors")
    torch.manual_seed(2)
    save_weights(SRResNet(), d / "srresnet-x4.safetensors")
    monkeypatch.setenv("SUPERRES_WEIGHTS_DIR", str(d))
    return d


def cli(capsys, *args) -> tuple[int, str, str]:
    try:
        rc = main([str(a) for a in args])
    except SystemExit as e:
        rc = e.code if isinstance(e.code, int) else 1
    out = capsys.readouterr()
    assert "Traceback" not in out.err
    return rc, out.out, out.err


# --- model selection --------------------------------------------------------------------------------

def test_select_models_skips_missing_weights_with_a_note(tiny_model):
    names, notes = C.select_models(["bicubic", "srgan-x4", tiny_model, "bicubic"])
    assert names == ["bicubic", tiny_model]
    assert len(notes) == 1 and notes[0].startswith("srgan-x4 skipped: weights not installed")


def test_select_models_errors():
    with pytest.raises(ModelError, match="none of the requested models is installed"):
        C.select_models(["srgan-x4", "srresnet-x4"])
    with pytest.raises(ModelError, match="Did you mean 'bicubic'"):
        C.select_models(["bicubik"])
    with pytest.raises(ModelError, match="not found"):
        C.select_models(["missing/model.safetensors"])


def test_method_labels():
    assert [C.method_label(n) for n in ("srgan-x4", "srresnet-x4", "srcnn-x4", "bicubic")] == \
        ["SRGAN", "SRResNet", "SRCNN", "Bicubic"]
    assert C.method_label("/x/my_run.safetensors") == "my_run"


# --- HR mode -------------------------------------------------------------------------------------------

def test_hr_mode_panels_metrics_and_crop(tiny_model):
    from superres.api import resize_array

    hr = photo(50, 41)  # not a multiple of 4: cropped to 48x40 with a note
    comp = C.compare_hr(hr, ["bicubic", tiny_model], name="p.png", device="cpu")
    assert comp.mode == "hr" and comp.scale == 4
    assert comp.out_size == (48, 40) and comp.lr_size == (12, 10)
    assert [p.key for p in comp.panels] == ["bicubic", tiny_model, "original"]
    assert [p.label for p in comp.panels] == ["Bicubic", "tinynet", "Original"]
    assert any("cropped from 50x41 to 48x40" in n for n in comp.notes)
    ref = hr[:40, :48]
    np.testing.assert_array_equal(comp.panel("original").image, ref)
    # bicubic panel = our bicubic x4 of our bicubic 1/4, scored with the literature's conventions
    lr = resize_array(ref, (12, 10), "bicubic")
    bic = comp.panel("bicubic")
    assert bic.image.shape == (40, 48, 3) and bic.image.dtype == np.uint8
    assert bic.psnr == pytest.approx(psnr(bic.image, ref, shave=4))
    assert bic.ssim == pytest.approx(ssim(bic.image, ref, shave=4))
    assert bic.seconds is not None and bic.seconds >= 0
    assert bic.psnr > comp.panel(tiny_model).psnr  # a random network is worse than bicubic
    assert comp.panel("original").psnr is None
    # LPIPS unavailable (the autouse fixture): reported with the reason, never as a number
    assert all(p.lpips is None for p in comp.panels)
    assert "unavailable" in comp.lpips_note
    x, y, w, h = comp.crop
    assert 0 <= x and 0 <= y and x + w <= 48 and y + h <= 40 and w > 0 and h > 0
    assert comp.crop_auto
    up = resize_array(lr, (48, 40), "bicubic")
    assert np.abs(up.astype(int) - bic.image.astype(int)).mean() < 3  # same method, border handling aside


def test_hr_mode_lpips_when_available(tiny_model, monkeypatch):
    from superres import lpips as L

    calls = []

    def fake(a, b, net="alex"):
        calls.append((a.shape, b.shape))
        return 0.25

    monkeypatch.setattr(L, "lpips_distance", fake)
    comp = C.compare_hr(photo(48, 48), ["bicubic"], device="cpu")
    assert comp.panel("bicubic").lpips == 0.25 and comp.lpips_note == ""
    assert calls == [((40, 40, 3), (40, 40, 3))]  # 4 px border shaved, as for PSNR/SSIM
    off = C.compare_hr(photo(48, 48), ["bicubic"], device="cpu", lpips=False)
    assert off.panel("bicubic").lpips is None and "turned off" in off.lpips_note


def test_hr_mode_rejects_tiny_inputs_and_bad_crops():
    with pytest.raises(InputError, match="too small to shrink"):
        C.compare_hr(photo(7, 30), ["bicubic"], device="cpu")
    with pytest.raises(UsageError, match="outside"):
        C.compare_hr(photo(48, 40), ["bicubic"], crop=(40, 0, 16, 16), device="cpu")


def test_requested_crop_is_used():
    comp = C.compare_hr(photo(48, 40), ["nearest"], crop=(4, 8, 12, 10), device="cpu", lpips=False)
    assert comp.crop == (4, 8, 12, 10) and not comp.crop_auto


def test_hr_mode_from_a_file_with_alpha(tmp_path):
    rgba = np.dstack([photo(32, 32), np.full((32, 32), 200, np.uint8)])
    path = tmp_path / "a.png"
    Image.fromarray(rgba, "RGBA").save(path)
    comp = C.compare_hr(path, ["bicubic"], device="cpu", lpips=False)
    assert comp.name == "a.png"
    assert any("transparency ignored" in n for n in comp.notes)


# --- LR mode -------------------------------------------------------------------------------------------

def test_lr_mode_panels_have_no_reference_metrics(tiny_model):
    lr = photo(20, 12)
    comp = C.compare_lr(lr, ["bicubic", tiny_model], name="small.png", device="cpu")
    assert comp.mode == "lr" and comp.out_size == (80, 48) and comp.lr_size == (20, 12)
    assert [p.key for p in comp.panels] == ["input", "bicubic", tiny_model]
    inp = comp.panels[0]
    np.testing.assert_array_equal(inp.image, np.repeat(np.repeat(lr, 4, axis=0), 4, axis=1))
    assert all(p.psnr is None and p.ssim is None and p.lpips is None for p in comp.panels)
    assert all(p.sharpness is not None for p in comp.panels)
    assert any(n.startswith("No reference") for n in comp.notes)
    assert comp.slider_pair()[0].key == "bicubic" and comp.slider_pair()[1].key == tiny_model


def test_sharpness_ranks_blur_below_detail():
    rng = np.random.default_rng(0)
    sharp = rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)
    blurred = np.asarray(Image.fromarray(sharp).resize((8, 8), Image.BOX).resize((32, 32), Image.BICUBIC))
    assert C.sharpness(sharp) > 2 * C.sharpness(blurred)
    assert C.sharpness(np.full((9, 9, 3), 77, np.uint8)) == 0.0
    # a hand-computed case: a vertical step of 100 levels of grey in luma units
    step = np.zeros((3, 3, 3), np.uint8)
    step[:, 2] = 100
    dy = 100 * (65.481 + 128.553 + 24.966) / 255
    assert C.sharpness(step) == pytest.approx(dy / 2)  # 4 gradient samples, 2 cross the step


# --- auto crop and heat map -----------------------------------------------------------------------------

def test_auto_crop_finds_the_detailed_region():
    lr = np.full((40, 60, 3), 120, np.uint8)
    rng = np.random.default_rng(3)
    lr[25:33, 8:16] = rng.integers(0, 256, (8, 8, 3))
    x, y, w, h = C.auto_crop(lr, 4, size=32)
    assert (w, h) == (32, 32)
    # the crop (output pixels) covers the textured block (LR 8..16 x 25..33 -> output 32..64 x 100..132)
    assert x <= 32 and x + w >= 64 and y <= 100 and y + h >= 132
    assert C.default_crop_size(64, 64, 4) == 16
    assert C.default_crop_size(2000, 1336, 4) == 192
    assert C.default_crop_size(240, 640, 4) == 60


def test_diff_heatmap_shows_where_outputs_differ():
    ref = np.full((40, 40, 3), 128, np.uint8)
    gan = ref.copy()
    gan[10:20, 22:32] = 255
    heat, stats = C.diff_heatmap(gan, ref)
    assert heat.shape == (40, 40, 3) and heat.dtype == np.uint8
    inside = heat[12:18, 24:30].astype(float).mean()
    outside = heat[30:, :10].astype(float).mean()
    assert inside > outside + 100
    assert stats["over10"] == pytest.approx(100 / 1600)
    same, st = C.diff_heatmap(ref, ref)
    assert st["mean"] == 0 and np.ptp(same) == 0  # no difference: a flat dimmed copy


def test_diff_panel_skipped_with_a_note_when_models_are_missing():
    comp = C.compare_hr(photo(32, 32), ["bicubic"], diff=C.DEFAULT_DIFF, device="cpu", lpips=False)
    assert comp.diff is None
    assert any("'what the GAN added' panel skipped" in n and "srgan-x4" in n for n in comp.notes)


def test_diff_panel_with_registry_models(registry_weights):
    comp = C.compare_lr(photo(12, 10), ["bicubic", "srgan-x4"], diff=C.DEFAULT_DIFF, device="cpu")
    assert [p.key for p in comp.panels] == ["input", "bicubic", "srgan-x4"]  # srresnet ran for the diff only
    assert comp.diff is not None and comp.diff.kind == "diff"
    assert comp.diff.image.shape == (40, 48, 3)
    assert "SRGAN vs SRResNet" in comp.diff.label


def test_default_models_skip_what_is_not_installed(registry_weights):
    comp = C.compare_hr(photo(32, 32), device="cpu", lpips=False)
    assert [p.key for p in comp.panels] == ["bicubic", "srresnet-x4", "srgan-x4", "original"]
    assert any(n.startswith("srcnn-x4 skipped") for n in comp.notes)


# --- figure ------------------------------------------------------------------------------------------

def _fake_comparison(w: int, h: int, n_methods: int = 4, mode: str = "hr", label: str | None = None,
                     diff: bool = False) -> C.Comparison:
    rng = np.random.default_rng(0)
    img = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
    panels = [C.Panel(f"m{i}", label or f"Method {i}", img, psnr=30.0 + i, ssim=0.8, lpips=None, seconds=0.1,
                      sharpness=5.0) for i in range(n_methods)]
    if mode == "hr":
        panels.append(C.Panel("original", "Original", img, kind="original", caption=f"reference, {w}x{h}"))
    else:
        panels.insert(0, C.Panel("input", "Input", img, kind="input", caption="shown with nearest"))
    d = C.Panel("diff", "What the GAN added: SRGAN vs SRResNet", img, kind="diff", caption="x") if diff else None
    crop = (0, 0, min(16, w), min(16, h))
    return C.Comparison(mode, "x.png", 4, (w // 4, h // 4), (w, h), panels, crop, True, d,
                        ["a note that is fairly long " * 6], "LPIPS(alex) unavailable: because. Fix: do this")


def _check_layout(fig: Image.Image) -> None:
    layout = fig.info["superres_layout"]
    cols = layout["columns"]
    # every title line stays inside its own column ...
    for (x0, x1), boxes in zip(cols, layout["titles"]):
        assert boxes, "each panel has a title"
        for b in boxes:
            assert x0 <= b[0] and b[2] <= x1, (b, x0, x1)
    # ... so titles of different panels never overlap
    all_boxes = [(i, b) for i, boxes in enumerate(layout["titles"]) for b in boxes]
    for (i, a), (j, b) in itertools.combinations(all_boxes, 2):
        if i != j:
            assert a[2] <= b[0] or b[2] <= a[0] or a[3] <= b[1] or b[3] <= a[1], (a, b)
    # images lie below their titles and inside the figure
    for (ix0, iy0, ix1, iy1), boxes in zip(layout["images"], layout["titles"]):
        assert max(b[3] for b in boxes) <= iy0
        assert 0 <= ix0 and ix1 <= fig.width and iy1 <= fig.height


@pytest.mark.parametrize("w,h", [(64, 64), (2000, 1336), (240, 640), (640, 240), (64, 1000)])
def test_figure_layout_for_small_large_portrait_landscape(w, h):
    comp = _fake_comparison(w, h, label="A method with a very long name_that_has_no_spaces_at_all_in_it",
                            diff=True)
    fig = C.render_figure(comp)
    _check_layout(fig)
    layout = fig.info["superres_layout"]
    widths = {x1 - x0 for x0, _, x1, _ in layout["images"]}
    assert len(widths) == 1  # every panel at the same display width
    dw = widths.pop()
    if w <= 64:
        assert dw >= 64 * 2 or h > 4 * w  # small outputs are enlarged (whole-number nearest)
    assert fig.width <= 2600
    assert min(x1 - x0 for x0, x1 in layout["columns"]) >= 200  # room for readable titles


def test_figure_enlarges_small_panels_with_nearest_and_keeps_pixels():
    comp = _fake_comparison(64, 64, n_methods=1)
    fig = C.render_figure(comp)
    ix0, iy0, ix1, iy1 = fig.info["superres_layout"]["images"][0]
    k = (ix1 - ix0) // 64
    assert k >= 3 and ix1 - ix0 == 64 * k
    shown = np.asarray(fig)[iy0 + 8:iy1 - 8, ix0 + 8:ix1 - 8]  # away from the crop marker
    src = comp.panels[0].image
    expect = np.repeat(np.repeat(src, k, 0), k, 1)[8:-8, 8:-8]
    mask = np.all(shown == expect, axis=-1).mean()
    assert mask > 0.95


def test_many_panels_wrap_into_rows():
    comp = _fake_comparison(400, 300, n_methods=12)
    fig = C.render_figure(comp)
    _check_layout(fig)
    assert fig.width <= 2600
    tops = {iy0 for _, iy0, _, _ in fig.info["superres_layout"]["images"]}
    assert len(tops) >= 2


def test_wrap_text_respects_width_and_keeps_no_break_spaces():
    from superres.reports import figure as F  # the figure's text layout (was in superres.compare)

    font = F._font(16)
    text = "PSNR\u00a028.42\u00a0dB  SSIM\u00a00.810  LPIPS\u00a0n/a " + "x" * 80
    lines = F.wrap_text(text, font, 120)
    assert all(F._text_w(ln, font) <= 120 for ln in lines)
    assert any("PSNR\u00a028.42\u00a0dB" in ln for ln in lines)
    assert "".join(lines).replace(" ", "").count("x") == 80


# --- HTML ----------------------------------------------------------------------------------------------

def test_html_report_is_self_contained(tiny_model):
    comp = C.compare_hr(photo(48, 40), ["bicubic", tiny_model], name="p<1>.png", diff=(tiny_model, "bicubic"),
                        device="cpu")
    doc = C.render_html(comp, title="Cat & co")
    assert doc.startswith("<!DOCTYPE html>")
    assert "Cat &amp; co" in doc and "p&lt;1&gt;.png" in doc
    assert not re.search(r'(src|href)="(?!data:)', doc)  # every resource embedded
    assert doc.count("data:image/png;base64,") == 2 * 4 + 2  # panels + crops (3 + diff), slider pair
    assert 'id="ba-range"' in doc and "<table>" in doc and "PSNR-Y" in doc
    assert "LPIPS(alex) unavailable" in doc
    lr = C.compare_lr(photo(16, 12), ["bicubic"], device="cpu")
    doc = C.render_html(lr)
    assert "no reference metrics" in doc and "PSNR" not in doc.split("<h2>Metrics</h2>")[1].split("</table>")[0]


# --- CLI -------------------------------------------------------------------------------------------------

def _save(path: Path, arr: np.ndarray) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(arr).save(path)
    return path


def test_cli_hr_mode_writes_figure_and_report(tmp_path, capsys, tiny_model):
    src = _save(tmp_path / "photo.png", photo(48, 40))
    rc, out, err = cli(capsys, "compare", src, "--models", f"bicubic,srgan-x4,{tiny_model}", "--html", "-q")
    assert rc == 0, err
    fig, html = tmp_path / "photo_compare.png", tmp_path / "photo_compare.html"
    assert fig.is_file() and html.is_file() and out == ""
    with Image.open(fig) as im:
        assert im.mode == "RGB" and im.width >= 3 * 200
    assert "data:image/png;base64," in html.read_text()
    assert not list(tmp_path.glob(".*tmp"))  # atomic writes leave no temporary file

    # never overwritten without --overwrite, checked before any work
    before = fig.read_bytes()
    rc, out, err = cli(capsys, "compare", src, "--models", "bicubic")
    assert rc == 2 and "already exists" in err and "--overwrite" in err
    assert fig.read_bytes() == before
    rc, out, err = cli(capsys, "compare", src, "--models", "nearest", "--overwrite", "--crop", "0,0,8,8")
    assert rc == 0 and fig.read_bytes() != before
    assert "wrote" in out and "Nearest" in out


def test_cli_reports_skipped_models_and_lpips(tmp_path, capsys):
    src = _save(tmp_path / "photo.png", photo(48, 40))
    rc, out, err = cli(capsys, "compare", src, "-o", tmp_path / "c.png")
    assert rc == 0, err
    assert "note: srgan-x4 skipped: weights not installed" in out
    assert "note: srcnn-x4 skipped" in out and "note: srresnet-x4 skipped" in out
    assert "LPIPS(alex) unavailable" in out and "n/a" in out
    assert (tmp_path / "c.png").is_file()


def test_cli_lr_mode_and_diff(tmp_path, capsys, registry_weights):
    src = _save(tmp_path / "small.png", photo(12, 10))
    rc, out, err = cli(capsys, "compare", src, "--lr", "--diff", "-o", tmp_path / "s.png", "--html",
                       tmp_path / "s.html")
    assert rc == 0, err
    assert "No reference" in out and "sharpness" in out
    assert "srcnn-x4 skipped" in out
    with Image.open(tmp_path / "s.png") as im:
        assert im.width > 4 * 200  # input, bicubic, SRGAN, SRResNet (+ diff)
    assert "What the GAN added" in (tmp_path / "s.html").read_text()


@pytest.mark.parametrize("args,message", [
    (["--models", "srgan-x4"], "none of the requested models is installed"),
    (["--models", "bicubik"], "Did you mean 'bicubic'"),
    (["--crop", "40,0,16,16"], "outside"),
    (["--html", "report.txt"], "must be an .html file"),
    (["-o", "out.xyz"], "unknown output format"),
])
def test_cli_errors_are_one_line(tmp_path, capsys, args, message, monkeypatch):
    monkeypatch.chdir(tmp_path)
    src = _save(tmp_path / "p.png", photo(48, 40))
    rc, out, err = cli(capsys, "compare", src, *args)
    assert rc == 2
    lines = [ln for ln in err.splitlines() if ln.startswith("superres compare: error:")]
    assert len(lines) == 1 and message in lines[0], err
    assert not (tmp_path / "p_compare.png").exists()


def test_cli_bad_crop_syntax_is_a_usage_error(tmp_path, capsys):
    src = _save(tmp_path / "p.png", photo(16, 16))
    rc, out, err = cli(capsys, "compare", src, "--crop", "1,2,3")
    assert rc == 2 and "x,y,w,h" in err
