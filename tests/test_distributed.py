"""Batch upscaling on Ray (superres.distributed, ``superres upscale --ray``).

The Ray tests share one local instance (``ray.init(num_cpus=2)``, started once per
session: Ray's start-up is the slow part) and tiny images made here. They skip
with a reason when Ray is not installed (``pip install 'superres[ray]'``); the
planning and usage tests below them need no Ray.
"""

from __future__ import annotations

import importlib.util
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import superres
from superres.cli import main
from superres.distributed import MANIFEST_NAME, BatchOptions, plan_batch, upscale_dataset

HAVE_RAY = importlib.util.find_spec("ray") is not None
needs_ray = pytest.mark.skipif(not HAVE_RAY, reason="Ray is not installed (pip install 'superres[ray]')")
SRC_DIR = str(Path(superres.__file__).resolve().parents[1])  # the superres the Ray workers must import


def _model() -> str:
    """A real (small, shipped) network when its weights are installed, else bicubic."""
    from superres.registry import get_entry

    return "srcnn-x4" if get_entry("srcnn-x4").available() else "bicubic"


def _images(folder: Path, n: int = 3, size=(20, 14), seed: int = 0) -> list[Path]:
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    out = []
    for i in range(n):
        p = folder / f"img{i}.png"
        Image.fromarray(rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)).save(p)
        out.append(p)
    return out


def _gif(path: Path, seed: int = 1) -> Path:
    rng = np.random.default_rng(seed)
    frames = [Image.fromarray(rng.integers(0, 256, (10, 12, 3), dtype=np.uint8)) for _ in range(3)]
    path.parent.mkdir(parents=True, exist_ok=True)
    frames[0].save(path, save_all=True, append_images=frames[1:], duration=[80, 120, 100], loop=0)
    return path


def _manifest(folder: Path) -> list[dict]:
    return [json.loads(line) for line in (folder / MANIFEST_NAME).read_text().splitlines()]


@pytest.fixture(scope="session")
def ray_local():
    if not HAVE_RAY:
        pytest.skip("Ray is not installed (pip install 'superres[ray]')")
    import ray

    # workers are new processes: make them import the superres under test, not another installed copy
    os.environ["PYTHONPATH"] = os.pathsep.join(p for p in (SRC_DIR, os.environ.get("PYTHONPATH")) if p)
    ray.init(num_cpus=2, include_dashboard=False, logging_level="WARNING")
    yield ray
    ray.shutdown()


# --- on Ray ----------------------------------------------------------------------------------------

@needs_ray
def test_outputs_equal_the_local_commands_and_a_second_run_does_nothing(ray_local, tmp_path):
    src = tmp_path / "in"
    _images(src, 3)
    rgba = np.random.default_rng(5).integers(0, 256, (9, 11, 4), dtype=np.uint8)
    Image.fromarray(rgba, "RGBA").save(src / "alpha.png")
    _images(src / "sub", 1, seed=3)
    _gif(src / "anim.gif")
    model = _model()

    ref = tmp_path / "ref"
    assert main(["upscale", str(src), "-o", str(ref), "-r", "-m", model, "-q"]) == 0
    (ref / "anim_x4.png").unlink()  # the still command reads a GIF's first frame ...
    assert main(["animate", str(src / "anim.gif"), "-o", str(ref / "anim_x4.gif"), "-m", model, "-q"]) == 0

    out = tmp_path / "out"
    assert main(["upscale", str(src), "-o", str(out), "-r", "-m", model, "-q", "--ray", "--workers", "2"]) == 0
    produced = sorted(p.relative_to(out) for p in out.rglob("*") if p.is_file() and p.name != MANIFEST_NAME)
    expected = sorted(p.relative_to(ref) for p in ref.rglob("*") if p.is_file())
    assert produced == expected  # ... the Ray run sends it through the animation pipeline instead
    for rel in expected:
        assert (out / rel).read_bytes() == (ref / rel).read_bytes(), rel
    with Image.open(out / "anim_x4.gif") as im:
        assert im.n_frames == 3
    recs = _manifest(out)
    assert sorted(r["status"] for r in recs) == ["done"] * 6
    gif = next(r for r in recs if r["input"].endswith("anim.gif"))
    assert gif["frames"] == 3 and gif["pixels_out"] == 3 * 48 * 40 and gif["size"] > 0

    mtimes = {p: p.stat().st_mtime_ns for p in out.rglob("*.*") if p.name != MANIFEST_NAME}
    stats: dict = {}
    again = upscale_dataset(str(src), str(out), model=model, recursive=True, stats=stats)
    assert [r["status"] for r in again] == ["skipped"] * 6
    assert stats["workers"] == 0  # nothing to do: no actor was started
    assert {p: p.stat().st_mtime_ns for p in mtimes} == mtimes


@needs_ray
def test_an_ncnn_model_runs_on_ray_as_locally(ray_local, tmp_path):
    from test_ncnn import zoo

    param = zoo().save(tmp_path)  # an ncnn .param + .bin pair, loaded by path on every worker
    src = tmp_path / "in"
    _images(src, 2, size=(16, 12))
    ref, out = tmp_path / "ref", tmp_path / "out"
    assert main(["upscale", str(src), "-o", str(ref), "-m", str(param), "-q"]) == 0
    assert main(["upscale", str(src), "-o", str(out), "-m", str(param), "-q", "--ray", "--workers", "1"]) == 0
    for p in sorted(ref.iterdir()):
        assert (out / p.name).read_bytes() == p.read_bytes(), p.name


@needs_ray
def test_a_corrupt_file_is_one_failed_record_and_uris_work(ray_local, tmp_path, capsys):
    import pyarrow.fs as pafs

    src = tmp_path / "in"
    _images(src, 2)
    (src / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n this is not an image")
    (tmp_path / "remote").mkdir()
    # a file:// URI in, and out through a pyarrow filesystem that is not the local one (staged + renamed)
    bucket = pafs.SubTreeFileSystem(str(tmp_path / "remote"), pafs.LocalFileSystem())
    recs = upscale_dataset(f"file://{src}", "x4", model="bicubic", workers=1, dst_filesystem=bucket)
    by_name = {Path(r["input"]).name: r for r in recs}
    assert by_name["broken.png"]["status"] == "failed"
    assert "broken.png" in by_name["broken.png"]["error"] and "damaged" in by_name["broken.png"]["error"]
    assert "superres-" not in by_name["broken.png"]["error"]  # no staging paths in messages
    assert [by_name[f"img{i}.png"]["status"] for i in range(2)] == ["done", "done"]
    written = sorted(p.name for p in (tmp_path / "remote" / "x4").iterdir())
    assert written == ["img0_x4.png", "img1_x4.png", MANIFEST_NAME]  # no .part left behind
    local = tmp_path / "local"
    assert main(["upscale", str(src / "img0.png"), "-o", str(local) + "/", "-m", "bicubic", "-q"]) == 0
    assert (tmp_path / "remote" / "x4" / "img0_x4.png").read_bytes() == (local / "img0_x4.png").read_bytes()

    # the command: one error line for the file, a summary, exit code 1
    code = main(["upscale", str(src), "-o", str(tmp_path / "cli"), "-m", "bicubic", "--ray"])
    err = capsys.readouterr().err
    assert code == 1
    assert "superres upscale: error:" in err and "broken.png" in err
    assert "upscaled 2/3 files with bicubic, 1 failed" in err and "images/s" in err


@needs_ray
def test_a_run_killed_midway_is_finished_by_running_it_again(ray_local, tmp_path):
    src = tmp_path / "in"
    _images(src, 10, size=(96, 96))
    out = tmp_path / "out"
    out.mkdir()
    # a temporary file an earlier kill left behind mid-write
    (out / ".img3_x4.png.k1ll3d.part").write_bytes(b"half a png")
    address = ray_local.get_runtime_context().gcs_address
    cmd = [sys.executable, "-m", "superres", "upscale", str(src), "-o", str(out), "-m", _model(), "-q",
           f"--ray={address}", "--workers", "1"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            env={**os.environ, "OMP_NUM_THREADS": "1"})
    deadline = time.monotonic() + 120
    while not list(out.glob("img*_x4.png")) and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    assert proc.poll() is None, "the run ended before it could be killed: " + proc.stderr.read().decode()[-500:]
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    time.sleep(2)  # the dead driver's actors are stopped by Ray
    first = sorted(p.name for p in out.glob("img*_x4.png"))
    assert 1 <= len(first) < 10

    recs = upscale_dataset(str(src), str(out), model=_model(), workers=1)
    statuses = {Path(r["output"]).name: r["status"] for r in recs}
    assert all(statuses[n] == "skipped" for n in first)
    assert sorted(statuses.values()).count("done") == 10 - len(first)
    assert sorted(p.name for p in out.iterdir()) == sorted([f"img{i}_x4.png" for i in range(10)] + [MANIFEST_NAME])
    for p in out.glob("*.png"):
        with Image.open(p) as im:
            im.load()
            assert im.size == (384, 384)


# --- planning and usage (no Ray needed) -------------------------------------------------------------

def test_plan_names_outputs_like_the_local_command_and_skips_finished_ones(tmp_path):
    src = tmp_path / "in"
    _images(src, 2)
    _images(src / "deep", 1)
    _gif(src / "a.gif")
    (src / ".hidden.png").write_bytes(b"x")
    (src / "notes.txt").write_text("not an image")
    out = tmp_path / "out"
    (out / "deep").mkdir(parents=True)
    (out / "img0_x4.webp").write_bytes(b"done before")
    (out / "img1_x4.webp").write_bytes(b"")  # 0 bytes: not a finished output
    (out / ".img1_x4.webp.abc123.part").write_bytes(b"partial")
    (out / ".someone-elses.tmp.part").write_bytes(b"not ours")
    plan = plan_batch(str(src), str(out), BatchOptions(out_format="webp"), recursive=True)
    jobs = {Path(j["dst"]).relative_to(out).as_posix(): j for j in plan.jobs}
    assert sorted(jobs) == ["a_x4.gif", "deep/img0_x4.webp", "img1_x4.webp"]
    assert jobs["a_x4.gif"]["animated"] and not jobs["deep/img0_x4.webp"]["animated"]
    assert jobs["img1_x4.webp"]["overwrite"] and not jobs["a_x4.gif"]["overwrite"]
    assert [(Path(r["output"]).name, r["status"]) for r in plan.done] == [("img0_x4.webp", "skipped")]
    assert plan.removed_parts == 1
    assert not (out / ".img1_x4.webp.abc123.part").exists() and (out / ".someone-elses.tmp.part").exists()
    assert jobs["deep/img0_x4.webp"]["src_shown"] == os.path.join(str(src), "deep", "img0.png")
    # --overwrite redoes the finished one too
    again = plan_batch(str(src), str(out), BatchOptions(out_format="webp", overwrite=True), recursive=True)
    assert len(again.jobs) == 4 and not again.done


def test_plan_refuses_bad_destinations_and_reports_empty_inputs(tmp_path):
    from superres.errors import InputError, OutputError

    src = tmp_path / "in"
    _images(src, 1)
    with pytest.raises(OutputError, match="input folder"):
        plan_batch(str(src), str(src))
    with pytest.raises(OutputError, match="folder"):
        plan_batch(str(src), str(tmp_path / "x.png"))
    (tmp_path / "empty").mkdir()
    plan = plan_batch([str(tmp_path / "empty"), str(tmp_path / "missing"), str(tmp_path / "*.jpg")],
                      str(tmp_path / "o"))
    assert not plan.jobs and [r["status"] for r in plan.done] == ["failed"] * 3
    assert "no images" in plan.done[0]["error"] and "no such file" in plan.done[1]["error"]
    with pytest.raises(InputError, match="pyarrow"):
        plan_batch("nosuchscheme://bucket/x", str(tmp_path / "o"))
    # an output folder inside the input folder is not read back as input
    _images(src / "x4", 1)
    assert [Path(j["src"]).name for j in plan_batch(str(src), str(src / "x4"), recursive=True).jobs] == ["img0.png"]


def test_ray_options_need_ray_and_a_real_address(tmp_path, capsys):
    img = _images(tmp_path / "in", 1)[0]
    with pytest.raises(SystemExit) as e:
        main(["upscale", str(img), "--workers", "2"])
    assert e.value.code == 2 and "only apply with --ray" in capsys.readouterr().err
    with pytest.raises(SystemExit) as e:
        main(["upscale", str(img), "-o", str(tmp_path / "o"), "--ray=photos/"])
    assert e.value.code == 2 and "not a Ray address" in capsys.readouterr().err
    assert main(["upscale", str(img), "--ray", "-m", "bicubic"]) == 2
    assert "--ray needs -o" in capsys.readouterr().err


def test_missing_ray_is_one_line_with_the_install_hint(tmp_path, monkeypatch, capsys):
    _images(tmp_path / "in", 1)
    monkeypatch.setitem(sys.modules, "ray", None)  # as if not installed
    assert main(["upscale", str(tmp_path / "in"), "-o", str(tmp_path / "o"), "--ray", "-m", "bicubic"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("superres upscale: error: Ray is not installed") and "superres[ray]" in err[-1]
