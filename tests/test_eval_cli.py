"""Tests of ``superres eval`` and the evaluation library it drives (tiny folders, cheap models).

The last test checks the published bicubic baselines on Set5/Set14 when the
project's shared benchmark data is present, and is skipped otherwise.
"""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from superres.cli import main
from superres.evaluate import evaluate_model, iter_benchmark
from superres.metrics import psnr, ssim

ERR = "superres eval: error:"
SHARED_BENCH = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "bench"


@pytest.fixture(autouse=True)
def _isolated(tmp_path_factory, monkeypatch):
    """No shipped weights, no model cache, no network for LPIPS (unavailable unless a test installs weights)."""
    import superres.api
    from superres import lpips as L

    monkeypatch.setenv("SUPERRES_WEIGHTS_DIR", str(tmp_path_factory.mktemp("no_weights")))
    monkeypatch.setenv("TORCH_HOME", str(tmp_path_factory.mktemp("empty_torch_home")))

    def no_download(url, dst, *args, **kwargs):
        raise OSError(f"network disabled in tests ({url})")

    def no_hub(url, *args, **kwargs):
        raise OSError(f"network disabled in tests ({url})")

    monkeypatch.setattr(torch.hub, "download_url_to_file", no_download)
    real_load = torch.hub.load_state_dict_from_url

    def cached_only(url, *args, **kwargs):  # a file already in the hub cache loads; nothing downloads
        cached = Path(torch.hub.get_dir()) / "checkpoints" / Path(url).name
        if not cached.is_file():
            no_hub(url)
        return real_load(url, *args, **kwargs)

    monkeypatch.setattr(torch.hub, "load_state_dict_from_url", cached_only)
    superres.api._CACHE.clear()
    L.clear_cache()
    yield
    superres.api._CACHE.clear()
    L.clear_cache()


def make_bench(root: Path, n: int = 3, size: int = 48, with_lr: bool = True, seed: int = 0) -> Path:
    """A benchmark folder: HR/ with smooth-ish images, LR_bicubic_x4/ made with our bicubic."""
    from superres.training.data import degrade

    rng = np.random.default_rng(seed)
    (root / "HR").mkdir(parents=True)
    if with_lr:
        (root / "LR_bicubic_x4").mkdir()
    for i in range(n):
        noise = rng.normal(0, 1, (size // 4, size // 4, 3))
        base = np.asarray(Image.fromarray(np.uint8(np.clip(noise * 50 + 128, 0, 255))).resize((size, size),
                                                                                          Image.BICUBIC))
        hr = np.clip(base.astype(float) + rng.normal(0, 6, base.shape), 0, 255).astype(np.uint8)
        Image.fromarray(hr).save(root / "HR" / f"img{i:03d}.png")
        if with_lr:
            Image.fromarray(degrade(hr, 4)).save(root / "LR_bicubic_x4" / f"img{i:03d}.png")
    return root


def fake_lpips_home(root: Path) -> Path:
    """A TORCH_HOME holding random AlexNet features + LPIPS heads in the official layouts."""
    g = torch.Generator().manual_seed(0)
    convs = {0: (64, 3, 11), 3: (192, 64, 5), 6: (384, 192, 3), 8: (256, 384, 3), 10: (256, 256, 3)}
    sd = {}
    for i, (co, ci, k) in convs.items():
        sd[f"features.{i}.weight"] = torch.randn(co, ci, k, k, generator=g) * math.sqrt(2.0 / (ci * k * k))
        sd[f"features.{i}.bias"] = torch.zeros(co)
    ckpt = root / "hub" / "checkpoints"
    ckpt.mkdir(parents=True)
    torch.save(sd, ckpt / "alexnet-owt-7be5be79.pth")
    (root / "lpips-v0.1").mkdir()
    heads = {f"lin{k}.model.1.weight": torch.rand(1, c, 1, 1, generator=g) * 0.1
             for k, c in enumerate((64, 192, 384, 256, 256))}
    torch.save(heads, root / "lpips-v0.1" / "alex.pth")
    return root


def cli(capsys, *args) -> tuple[int, str, str]:
    try:
        rc = main([str(a) for a in args])
    except SystemExit as e:
        rc = e.code if isinstance(e.code, int) else 1
    out = capsys.readouterr()
    assert "Traceback" not in out.err
    return rc, out.out, out.err


# --- metrics by hand ---------------------------------------------------------------------------------

def test_ssim_of_one_window_by_hand():
    """11x11 images: a single SSIM window, computed here with plain NumPy from the definition."""
    rng = np.random.default_rng(5)
    x = rng.integers(0, 256, (11, 11)).astype(np.float64)
    y = np.clip(x + rng.normal(0, 30, x.shape), 0, 255).round()
    g = np.exp(-((np.arange(11) - 5) ** 2) / (2 * 1.5**2))
    w = np.outer(g, g) / np.outer(g, g).sum()
    mx, my = (w * x).sum(), (w * y).sum()
    vx, vy = (w * x * x).sum() - mx**2, (w * y * y).sum() - my**2
    cxy = (w * x * y).sum() - mx * my
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
    expect = (2 * mx * my + c1) * (2 * cxy + c2) / ((mx**2 + my**2 + c1) * (vx + vy + c2))
    got = ssim(x[:, :, None].astype(np.uint8), y[:, :, None].astype(np.uint8), shave=0, y_channel=False)
    assert got == pytest.approx(expect, rel=1e-12)


def test_psnr_y_of_a_uniform_offset_by_hand():
    a = np.full((12, 12, 3), 100, np.uint8)
    b = a.copy()
    b[..., 1] += 3  # G + 3 -> Y + 3 * 128.553 / 255 everywhere
    dy = 3 * 128.553 / 255
    assert psnr(a, b, shave=1) == pytest.approx(10 * math.log10(255**2 / dy**2))
    assert psnr(a, b, shave=1, y_channel=False) == pytest.approx(10 * math.log10(255**2 / 3.0))


# --- library -------------------------------------------------------------------------------------------

def test_evaluate_model_matches_direct_metrics(tmp_path):
    bench = make_bench(tmp_path / "B")
    r = evaluate_model("bicubic", bench, lpips=False, device="cpu")
    assert r.dataset == "B" and [row["image"] for row in r.rows] == ["img000", "img001", "img002"]
    for row, item in zip(r.rows, iter_benchmark(bench, 4)):
        assert item.lr_source == "provided"
        from superres.api import make_upscaler

        sr = make_upscaler("bicubic", device="cpu").upscale_array(item.lr)
        assert row["psnr"] == pytest.approx(psnr(sr, item.hr, shave=4))
        assert row["ssim"] == pytest.approx(ssim(sr, item.hr, shave=4))
        assert row["lpips"] is None and row["out_mp"] == pytest.approx(48 * 48 / 1e6)
    s = r.summary()
    assert s["psnr"] == pytest.approx(np.mean([row["psnr"] for row in r.rows]))
    assert s["mp_per_s"] > 0 and s["seconds_per_image"] > 0


def test_missing_lr_folder_uses_our_bicubic_and_small_images_do_not_stop_it(tmp_path):
    bench = make_bench(tmp_path / "B", n=2, with_lr=False)
    tiny = np.random.default_rng(1).integers(0, 256, (12, 12, 3), dtype=np.uint8)
    Image.fromarray(tiny).save(bench / "HR" / "tiny.png")  # 4 px after shaving: too small for SSIM
    r = evaluate_model("nearest", bench, lpips=False, device="cpu")
    assert {row["lr_source"] for row in r.rows} == {"bicubic (superres)"}
    row = [row for row in r.rows if row["image"] == "tiny"][0]
    assert row["psnr"] is not None and row["ssim"] is None
    assert any(n.startswith("tiny: SSIM not computed") for n in r.notes)
    assert r.mean("psnr") is not None


# --- CLI -------------------------------------------------------------------------------------------------

def test_cli_table_and_all_output_formats(tmp_path, capsys):
    bench = make_bench(tmp_path / "Set", n=2)
    out_md, out_csv, out_json = tmp_path / "r.md", tmp_path / "r.csv", tmp_path / "r.json"
    rc, out, err = cli(capsys, "eval", "--models", "bicubic,nearest", "--data", bench,
                       "--out", out_md, out_csv, "-o", out_json, "--per-image")  # results.{md,csv} + -o
    assert rc == 0, err
    lines = out.splitlines()
    assert lines[0].split() == ["dataset", "model", "images", "PSNR-Y", "SSIM-Y", "LPIPS", "s/image", "MP/s"]
    bic = next(ln for ln in lines if ln.startswith("Set ") and " bicubic " in ln).split()
    ref = evaluate_model("bicubic", bench, lpips=False, device="cpu").summary()
    assert float(bic[3]) == pytest.approx(ref["psnr"], abs=0.006) and bic[5] == "n/a"
    assert "img001" in out  # --per-image
    assert "LPIPS unavailable" in err and "LPIPS: NOT MEASURED" in out

    md = out_md.read_text()
    assert "| Set | bicubic | 2 |" in md and "## Set: per image" in md and "| img000 |" in md
    rows = list(csv.DictReader(out_csv.open()))
    assert len(rows) == 2 * 2 + 2  # per image per model, then one mean row per model
    assert rows[0]["dataset"] == "Set" and rows[0]["lpips"] == "" and rows[-1]["image"] == "(mean)"
    doc = json.loads(out_json.read_text())
    assert {s["model"] for s in doc["summary"]} == {"bicubic", "nearest"}
    assert len(doc["per_image"]) == 4 and doc["per_image"][0]["lpips"] is None
    assert doc["settings"]["lpips_note"].startswith("LPIPS unavailable")
    assert all(s["lpips"] is None and s["lpips_note"] for s in doc["summary"])


def test_cli_lpips_when_weights_are_cached(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(fake_lpips_home(tmp_path / "th")))
    bench = make_bench(tmp_path / "B", n=2)
    rc, out, err = cli(capsys, "eval", "--models", "bicubic", "--data", bench, "-o", tmp_path / "r.json")
    assert rc == 0, err
    doc = json.loads((tmp_path / "r.json").read_text())
    vals = [row["lpips"] for row in doc["per_image"]]
    assert all(isinstance(v, float) and v > 0 for v in vals)
    assert doc["summary"][0]["lpips"] == pytest.approx(np.mean(vals))
    assert "LPIPS unavailable" not in err


def test_cli_several_folders_many_images_progress(tmp_path, capsys):
    """A folder of 120 images is evaluated one image at a time (rows for every image, bounded memory)."""
    big = make_bench(tmp_path / "Many", n=120, size=16, with_lr=False)
    small = make_bench(tmp_path / "Few", n=2)
    rc, out, err = cli(capsys, "eval", "-m", "nearest", "--data", big, small, "--no-lpips",
                       "--out", tmp_path / "r.csv")
    assert rc == 0, err
    rows = list(csv.DictReader((tmp_path / "r.csv").open()))
    assert sum(r["dataset"] == "Many" and r["image"] != "(mean)" for r in rows) == 120
    assert sum(r["dataset"] == "Few" and r["image"] != "(mean)" for r in rows) == 2
    assert "Many" in out and "Few" in out


def test_evaluate_reports_progress_for_each_image(tmp_path):
    bench = make_bench(tmp_path / "B", n=4, size=16, with_lr=False)
    seen = []
    evaluate_model("nearest", bench, lpips=False, device="cpu", progress=lambda i, n: seen.append((i, n)))
    assert seen == [(1, 4), (2, 4), (3, 4), (4, 4)]


def test_cli_rgb_variant(tmp_path, capsys):
    bench = make_bench(tmp_path / "B", n=1)
    rc, out, err = cli(capsys, "eval", "-m", "bicubic", "--data", bench, "--rgb", "--no-lpips")
    assert rc == 0 and "PSNR-RGB" in out and "SSIM-RGB" in out


def test_cli_skips_models_without_weights(tmp_path, capsys, monkeypatch):
    from superres.models import SRResNet
    from superres.weights import save_weights

    wdir = tmp_path / "weights"
    save_weights(SRResNet(), wdir / "srresnet-x4.safetensors")  # full size: registry names need it
    monkeypatch.setenv("SUPERRES_WEIGHTS_DIR", str(wdir))
    bench = make_bench(tmp_path / "B", n=1, size=16)
    rc, out, err = cli(capsys, "eval", "--data", bench, "--no-lpips")  # the default four models
    assert rc == 0, err
    assert "note: srgan-x4 skipped: weights not installed" in err and "note: srcnn-x4 skipped" in err
    models = [ln.split()[1] for ln in out.splitlines()[2:] if ln.strip()]
    assert models == ["srresnet-x4", "bicubic"]


def test_cli_tiny_network_by_path(tmp_path, capsys):
    from superres.models import SRResNet
    from superres.weights import save_weights

    w = save_weights(SRResNet(scale=4, channels=8, n_blocks=1), tmp_path / "tiny.safetensors")
    bench = make_bench(tmp_path / "B", n=1, size=32)
    rc, out, err = cli(capsys, "eval", "-m", f"{w},bicubic", "--data", bench, "--no-lpips")
    assert rc == 0, err
    assert str(w) in out


@pytest.mark.parametrize("args,message", [
    (["-m", "srgan-x4"], "none of the requested models is installed"),
    (["-m", "bicubik"], "Did you mean 'bicubic'"),
    (["--out", "r.txt"], "unknown results format"),
])
def test_cli_errors_are_one_line(tmp_path, capsys, args, message):
    bench = make_bench(tmp_path / "B", n=1, size=16)
    rc, out, err = cli(capsys, "eval", "--data", bench, "--no-lpips", *args)
    assert rc == 2
    lines = [ln for ln in err.splitlines() if ln.startswith(ERR)]
    assert len(lines) == 1 and message in lines[0], err


def test_cli_missing_or_empty_data_folder(tmp_path, capsys):
    rc, out, err = cli(capsys, "eval", "-m", "bicubic", "--data", tmp_path / "nope")
    assert rc == 1 and "is not a folder" in err  # an input that cannot be used (the exit-code table)
    (tmp_path / "empty").mkdir()
    rc, out, err = cli(capsys, "eval", "-m", "bicubic", "--data", tmp_path / "empty")
    assert rc == 1 and "holds no images" in err


def test_cli_never_overwrites_results_without_flag(tmp_path, capsys):
    bench = make_bench(tmp_path / "B", n=1, size=16)
    out_md = tmp_path / "r.md"
    out_md.write_text("keep me")
    rc, out, err = cli(capsys, "eval", "-m", "nearest", "--data", bench, "--no-lpips", "--out", out_md)
    assert rc == 2 and "already exists" in err and out_md.read_text() == "keep me"
    rc, out, err = cli(capsys, "eval", "-m", "nearest", "--data", bench, "--no-lpips", "--out", out_md,
                       "--overwrite")
    assert rc == 0 and out_md.read_text().startswith("# superres eval")
    assert not list(tmp_path.glob(".r.md.*"))


def test_identical_images_give_inf_psnr_and_strict_json(tmp_path, capsys):
    """nearest x4 of a nearest /4 image of 4x4 blocks reproduces it exactly: PSNR inf, JSON null."""
    (tmp_path / "B" / "HR").mkdir(parents=True)
    (tmp_path / "B" / "LR_bicubic_x4").mkdir()
    lr = np.random.default_rng(0).integers(0, 256, (8, 8, 3), dtype=np.uint8)
    Image.fromarray(np.repeat(np.repeat(lr, 4, 0), 4, 1)).save(tmp_path / "B" / "HR" / "a.png")
    Image.fromarray(lr).save(tmp_path / "B" / "LR_bicubic_x4" / "a.png")
    rc, out, err = cli(capsys, "eval", "-m", "nearest", "--data", tmp_path / "B", "--no-lpips",
                       "-o", tmp_path / "r.json")
    assert rc == 0, err
    doc = json.loads((tmp_path / "r.json").read_text())
    assert doc["per_image"][0]["psnr"] is None and "inf" in out


# --- acceptance on the shared benchmarks (skipped without them) ------------------------------------------

@pytest.mark.skipif(not (SHARED_BENCH / "Set5" / "LR_bicubic_x4").is_dir(),
                    reason="shared Set5/Set14 benchmark data not present (../shared/data/bench)")
def test_pil_bicubic_matches_published_baselines():
    def mean_metrics(name: str) -> tuple[float, float]:
        ps, ss = [], []
        for hr_path in sorted((SHARED_BENCH / name / "HR").glob("*.png")):
            with Image.open(hr_path) as hr_im, Image.open(SHARED_BENCH / name / "LR_bicubic_x4" / hr_path.name) as lr:
                hr = hr_im.convert("RGB")
                sr = np.asarray(lr.convert("RGB").resize(hr.size, Image.BICUBIC))
                ps.append(psnr(sr, np.asarray(hr), shave=4))
                ss.append(ssim(sr, np.asarray(hr), shave=4))
        return float(np.mean(ps)), float(np.mean(ss))

    p5, s5 = mean_metrics("Set5")
    assert p5 == pytest.approx(28.42, abs=0.03) and s5 == pytest.approx(0.810, abs=0.003)
    p14, _ = mean_metrics("Set14")
    assert p14 == pytest.approx(26.09, abs=0.05)
