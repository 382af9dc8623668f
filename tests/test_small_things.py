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


def test_long_run_curve_counts_each_run_to_its_last_checkpoint(tmp_path: Path) -> None:
    """A run's hours end at its checkpoint's wall time, not at its last logged row: a run stopped
    between log rows must not lose the steps after it from the chain's total."""
    import importlib.util
    import json

    import torch

    path = Path(__file__).resolve().parent.parent / "benchmarks" / "long_run_curve.py"
    spec = importlib.util.spec_from_file_location("long_run_curve", path)
    curve = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(curve)
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
