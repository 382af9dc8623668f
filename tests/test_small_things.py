"""Small output fixes found by a new user: each one asserts the text a user reads."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from superres.cli import main


def test_eval_markdown_names_the_shaved_border_in_pixels(tmp_path: Path, monkeypatch, capsys) -> None:
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "empty"))
    hr = tmp_path / "set" / "HR"
    hr.mkdir(parents=True)
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (48, 48, 3), dtype=np.uint8)).save(hr / "a.png")
    out = tmp_path / "r.md"
    assert main(["eval", "--models", "bicubic", "--data", str(tmp_path / "set"), "--no-lpips", "-q",
                 "--out", str(out)]) == 0
    text = out.read_text()
    assert "4 px of border shaved" in text and "`scale`" not in text


def test_export_prints_no_empty_metrics(tmp_path: Path, capsys) -> None:
    from superres.training.train import train

    photos = tmp_path / "p"
    photos.mkdir()
    for i in range(2):
        Image.fromarray(np.random.default_rng(i).integers(0, 256, (64, 64, 3), dtype=np.uint8)).save(photos / f"{i}.png")
    run = train("srcnn", [photos], tmp_path / "run", overrides={"max_steps": 1, "batch_size": 2, "threads": 1,
                                                                 "val_every": 100, "ckpt_every": 100},
                cache_dir=tmp_path / "c", progress=False).run_dir
    capsys.readouterr()
    assert main(["export", str(run), "-o", str(tmp_path / "m.safetensors")]) == 0
    cap = capsys.readouterr()
    assert "{}" not in cap.out + cap.err
    assert "wrote" in cap.err


@pytest.mark.parametrize("argv", [["upscale", "IN", "--model", "nosuch-x4", "-o", "OUT"]])
def test_unknown_model_message_names_every_weights_format(tmp_path: Path, capsys, argv) -> None:
    img = tmp_path / "in.png"
    Image.fromarray(np.zeros((16, 16, 3), np.uint8)).save(img)
    argv = [str(img) if a == "IN" else str(tmp_path / "o.png") if a == "OUT" else a for a in argv]
    assert main(argv) != 0
    err = capsys.readouterr().err
    assert ".safetensors" in err and ".h5" in err and ".pth" in err
    assert not (tmp_path / "o.png").exists()


def test_model_help_names_every_weights_format(capsys) -> None:
    for cmd in ("upscale", "compare", "eval"):
        with pytest.raises(SystemExit):
            main([cmd, "--help"])
        text = " ".join(capsys.readouterr().out.split())
        assert ".h5" in text and ".pth" in text, cmd


def test_long_run_curve_counts_each_run_to_its_last_checkpoint(tmp_path: Path, load_script) -> None:
    """A run's hours end at its checkpoint's wall time, not at its last logged row: a run stopped
    between log rows must not lose the steps after it from the chain's total."""
    import json

    import torch

    curve = load_script("benchmarks/long_run_curve.py")
    a, b = tmp_path / "a", tmp_path / "b"
    for run, rows, ck in [
        (a, [{"step": 100, "elapsed_s": 360.0, "val_psnr": 30.0, "val_lpips": 0.3}], {"step": 110, "elapsed_s": 396.0}),
        (b, [{"step": 50, "elapsed_s": 180.0, "val_psnr": 30.5, "val_lpips": 0.25},
             {"step": 75, "elapsed_s": 270.0, "loss": 1.0}], {"step": 80, "elapsed_s": 288.0}),
    ]:
        run.mkdir()
        (run / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
        torch.save(ck, run / "ckpt.pt")
    rows, total = curve.chain_rows([a, b])
    assert [round(r["hours"], 4) for r in rows] == [0.1, round((396 + 180) / 3600, 4)]
    assert total == pytest.approx((396 + 288) / 3600)


def test_real_photo_advice_follows_the_measured_figures(load_script) -> None:
    """README's real-photo advice is written from docs/real_photos.json: swap which GAN model scores the
    lower clean LPIPS, or which model keeps the best PSNR on noise, and the advice changes with it."""
    bench = load_script("benchmarks/real_photos.py")

    def rows(fast_lpips: float, srcnn_noise_psnr: float) -> dict:
        base = {"srgan-x4": (30.0, 0.13), "srgan-x4-fast": (29.0, fast_lpips), "srresnet-x4": (30.4, 0.22),
                "srcnn-x4": (29.8, 0.26), "bicubic": (28.4, 0.34), "course-srgan": (29.2, 0.09),
                "srgan-x4@strength=0.75": (30.3, 0.16), "srgan-x4@strength=0.5": (30.4, 0.19)}
        out = []
        for m, (psnr, lpips) in base.items():
            for cond, dp in (("clean", 0.0), ("jpeg95", -0.4), ("jpeg75", -2.5), ("jpeg50", -3.5), ("noise5", -1.0)):
                p = psnr + dp
                if m == "srcnn-x4" and cond == "noise5":
                    p = srcnn_noise_psnr
                out.append({"model": m, "condition": cond, "data": "Set5", "psnr": p, "lpips": lpips})
        return {"rows": out}

    text = bench.render_advice(rows(fast_lpips=0.15, srcnn_noise_psnr=28.0))
    assert "`srgan-x4` for the most detail" in text and "(LPIPS 0.130 clean" in text
    assert "`srresnet-x4`: with noise of sigma 5" in text
    text = bench.render_advice(rows(fast_lpips=0.11, srcnn_noise_psnr=29.9))
    assert "`srgan-x4-fast` for the most detail" in text and "(LPIPS 0.110 clean" in text
    assert "`srcnn-x4`: with noise of sigma 5" in text
    assert all(len(line) <= 100 for line in text.splitlines())
    with pytest.raises(SystemExit, match="no srcnn-x4 / noise5 / Set5 row"):
        bench.render_advice({"rows": [r for r in rows(0.15, 28.0)["rows"]
                                      if not (r["model"] == "srcnn-x4" and r["condition"] == "noise5")]})


def test_benchmark_profile_runs_on_the_registry_models(load_script) -> None:
    """benchmarks/run.py profiles the network inside the descriptor load_model returns: after the
    registry began returning descriptors, its profile crashed at the end of a 13-minute run."""
    bench = load_script("benchmarks/run.py")
    for name in ("srgan-x4", "srgan-x4-fast"):
        out = bench.profile_model(name, "fp32", size=16, repeats=1)
        assert out["total_s"] > 0 and out["rows"] and abs(sum(r["share"] for r in out["rows"]) - 1) < 0.05
