"""Tests of ``superres upscale`` and ``superres models`` (in-process, tiny images, cheap models)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from superres.cli import main

ERR = "superres upscale: error:"


# --- helpers ------------------------------------------------------------------------------------

@pytest.fixture(autouse=True)
def _isolated(tmp_path_factory, monkeypatch):
    """No shipped weights (default model = bicubic) and no model cached between tests."""
    import superres.api

    empty = tmp_path_factory.mktemp("no_weights")
    monkeypatch.setenv("SUPERRES_WEIGHTS_DIR", str(empty))
    superres.api._CACHE.clear()
    yield
    superres.api._CACHE.clear()


def make_image(path: Path, w: int = 8, h: int = 8, mode: str = "RGB", seed: int = 0, **save) -> Path:
    rng = np.random.default_rng(seed)
    channels = {"RGB": 3, "RGBA": 4, "L": 1}[mode]
    arr = rng.integers(0, 256, (h, w, channels), dtype=np.uint8)
    im = Image.fromarray(arr[:, :, 0] if channels == 1 else arr, mode)
    path.parent.mkdir(parents=True, exist_ok=True)
    im.save(path, **save)
    return path


def cli(capsys, *args) -> tuple[int, str]:
    """Run ``superres ARGS`` in-process; (exit code, stderr). argparse errors exit via SystemExit."""
    try:
        rc = main([str(a) for a in args])
    except SystemExit as e:
        rc = e.code if isinstance(e.code, int) else 1
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err
    return rc, captured.err


def error_lines(err: str) -> list[str]:
    return [ln for ln in err.splitlines() if ln.startswith(ERR)]


def listing(folder: Path) -> set[str]:
    """Every file and folder below ``folder`` (hidden ones included)."""
    return {str(p.relative_to(folder)) for p in folder.rglob("*")}


def size_of(path: Path) -> tuple[int, int]:
    with Image.open(path) as im:
        return im.size


@pytest.fixture
def tiny_weights(tmp_path) -> Path:
    from superres.models import SRResNet
    from superres.weights import save_weights

    return save_weights(SRResNet(scale=4, channels=8, n_blocks=1), tmp_path / "weights" / "tiny.safetensors")


# --- normal use -----------------------------------------------------------------------------------

def test_single_file_default_output_beside_input(tmp_path, capsys):
    src = make_image(tmp_path / "photo.png", 8, 6)
    rc, err = cli(capsys, "upscale", src, "--model", "bicubic")
    assert rc == 0
    out = tmp_path / "photo_x4.png"
    assert size_of(out) == (32, 24)
    with Image.open(out) as im:
        assert im.format == "PNG"
    # summary line: images, megapixels, seconds
    summary = err.strip().splitlines()[-1]
    assert "1/1 image" in summary and "MP" in summary and " s" in summary
    assert listing(tmp_path) == {"photo.png", "photo_x4.png"}


def test_output_file_extension_picks_jpeg(tmp_path, capsys):
    src = make_image(tmp_path / "a.png")
    rc, _ = cli(capsys, "upscale", src, "-o", tmp_path / "big.jpg", "--model", "bicubic")
    assert rc == 0
    with Image.open(tmp_path / "big.jpg") as im:
        assert im.format == "JPEG" and im.size == (32, 32)


def test_several_inputs_into_output_folder(tmp_path, capsys):
    a = make_image(tmp_path / "in" / "a.png")
    b = make_image(tmp_path / "in" / "b.jpg", 6, 4)
    rc, err = cli(capsys, "upscale", a, b, "-o", f"{tmp_path / 'out'}/", "--model", "bicubic")
    assert rc == 0, err
    assert listing(tmp_path / "out") == {"a_x4.png", "b_x4.png"}
    assert size_of(tmp_path / "out" / "b_x4.png") == (24, 16)
    assert "2/2 images" in err


def test_folder_non_recursive_and_recursive_mirrors_subfolders(tmp_path, capsys):
    src = tmp_path / "shots"
    make_image(src / "a.png")
    make_image(src / "sub" / "b.png")
    make_image(src / "sub" / "deeper" / "c.jpg")
    (src / "notes.txt").write_text("not an image, skipped in folders")

    rc, err = cli(capsys, "upscale", src, "-o", tmp_path / "flat", "--model", "bicubic")
    assert rc == 0, err
    assert listing(tmp_path / "flat") == {"a_x4.png"}

    rc, err = cli(capsys, "upscale", src, "-o", tmp_path / "tree", "--recursive", "--model", "bicubic")
    assert rc == 0, err
    assert listing(tmp_path / "tree") == {"a_x4.png", "sub", "sub/b_x4.png", "sub/deeper",
                                          "sub/deeper/c_x4.png"}


def test_folder_without_output_writes_beside_each_image(tmp_path, capsys):
    make_image(tmp_path / "a.png")
    make_image(tmp_path / "sub" / "b.png")
    rc, err = cli(capsys, "upscale", tmp_path, "-r", "--model", "bicubic")
    assert rc == 0, err
    assert (tmp_path / "a_x4.png").is_file() and (tmp_path / "sub" / "b_x4.png").is_file()


def test_glob_pattern(tmp_path, capsys):
    make_image(tmp_path / "a.png")
    make_image(tmp_path / "b.png")
    make_image(tmp_path / "c.jpg")
    rc, err = cli(capsys, "upscale", str(tmp_path / "*.png"), "-o", tmp_path / "out", "--model", "bicubic")
    assert rc == 0, err
    assert listing(tmp_path / "out") == {"a_x4.png", "b_x4.png"}


@pytest.mark.parametrize("outscale, size", [("2", (16, 12)), ("8", (64, 48)), ("3", (24, 18))])
def test_outscale(tmp_path, capsys, outscale, size):
    src = make_image(tmp_path / "a.png", 8, 6)
    rc, err = cli(capsys, "upscale", src, "--outscale", outscale, "--model", "bicubic")
    assert rc == 0, err
    assert size_of(tmp_path / "a_x4.png") == size


def test_format_webp_and_suffix(tmp_path, capsys):
    src = make_image(tmp_path / "a.png")
    rc, err = cli(capsys, "upscale", src, "--format", "webp", "--suffix", "_big", "--model", "bicubic")
    assert rc == 0, err
    with Image.open(tmp_path / "a_big.webp") as im:
        assert im.format == "WEBP" and im.size == (32, 32)


def test_learned_model_from_weights_file_and_tiling(tmp_path, capsys, tiny_weights):
    src = make_image(tmp_path / "a.png", 12, 10)
    rc, err = cli(capsys, "upscale", src, "--model", tiny_weights, "-o", tmp_path / "whole.png", "--tile", "0")
    assert rc == 0, err
    rc, err = cli(capsys, "upscale", src, "--model", tiny_weights, "-o", tmp_path / "tiled.png",
                  "--tile", "6", "--tile-pad", "8")
    assert rc == 0, err
    whole = np.asarray(Image.open(tmp_path / "whole.png")).astype(int)
    tiled = np.asarray(Image.open(tmp_path / "tiled.png")).astype(int)
    assert whole.shape == (40, 48, 3)
    assert np.abs(whole - tiled).max() <= 1


def test_default_model_is_srgan_x4_when_installed(tmp_path, capsys, monkeypatch):
    from superres.models import SRResNet
    from superres.weights import save_weights

    wdir = tmp_path / "w"
    save_weights(SRResNet(), wdir / "srgan-x4.safetensors")  # full-size architecture, random weights
    monkeypatch.setenv("SUPERRES_WEIGHTS_DIR", str(wdir))
    src = make_image(tmp_path / "a.png", 16, 16)
    rc, err = cli(capsys, "upscale", src)
    assert rc == 0, err
    assert "note" not in err and "with srgan-x4" in err
    assert size_of(tmp_path / "a_x4.png") == (64, 64)

    assert main(["models"]) == 0
    srgan = next(ln for ln in capsys.readouterr().out.splitlines() if ln[1:].startswith("srgan-x4"))
    assert srgan.startswith("*") and "NOT INSTALLED" not in srgan


def test_default_model_falls_back_with_one_line_note(tmp_path, capsys):
    src = make_image(tmp_path / "a.png")
    rc, err = cli(capsys, "upscale", src)  # the autouse fixture points at an empty weights folder
    assert rc == 0, err
    notes = [ln for ln in err.splitlines() if "note" in ln]
    assert len(notes) == 1 and "srgan-x4" in notes[0] and "bicubic" in notes[0]
    assert (tmp_path / "a_x4.png").is_file()


def test_registry_weights_that_do_not_fit_give_one_error_line(tmp_path, capsys, monkeypatch):
    from superres.models import SRCNN
    from superres.weights import save_weights

    wdir = tmp_path / "w"
    # a different architecture under srgan-x4's file name (weights files describe themselves,
    # so a narrower SRResNet would load; an SRCNN must not)
    save_weights(SRCNN(scale=4, n1=8, n2=4), wdir / "srgan-x4.safetensors")
    monkeypatch.setenv("SUPERRES_WEIGHTS_DIR", str(wdir))
    src = make_image(tmp_path / "in" / "a.png")
    rc, err = cli(capsys, "upscale", src, "--model", "srgan-x4")
    assert rc == 2
    assert len(err.strip().splitlines()) == 1 and err.startswith(ERR) and "srgan-x4" in err
    assert listing(tmp_path / "in") == {"a.png"}


def test_quiet_prints_nothing(tmp_path, capsys):
    src = make_image(tmp_path / "a.png")
    rc, err = cli(capsys, "upscale", src, "-q")
    assert rc == 0 and err == ""


def test_warning_state_is_restored(tmp_path, capsys):
    before_show, before_filters = warnings.showwarning, list(warnings.filters)
    src = make_image(tmp_path / "a.png", mode="RGBA")
    rc, err = cli(capsys, "upscale", src, "-o", tmp_path / "a.jpg", "--model", "bicubic")
    assert rc == 0
    assert "superres: warning:" in err and "alpha" in err  # JPEG drops transparency, one line
    assert warnings.showwarning is before_show and warnings.filters == before_filters


# --- exit codes and partial failure ---------------------------------------------------------------

def test_good_and_corrupt_file_in_folder(tmp_path, capsys):
    src = tmp_path / "in"
    make_image(src / "good.png")
    (src / "bad.png").write_bytes(b"\x89PNG\r\n\x1a\n garbage")
    rc, err = cli(capsys, "upscale", src, "-o", tmp_path / "out", "--model", "bicubic")
    assert rc == 1
    errors = error_lines(err)
    assert len(errors) == 1 and "bad.png" in errors[0]
    assert listing(tmp_path / "out") == {"good_x4.png"}
    assert "1/2 images" in err


def test_each_failed_input_named_on_its_own_line(tmp_path, capsys):
    good = make_image(tmp_path / "good.png")
    (tmp_path / "empty").mkdir()
    rc, err = cli(capsys, "upscale", tmp_path / "missing.png", good, tmp_path / "empty",
                  str(tmp_path / "zz*.png"), "--model", "bicubic")
    assert rc == 1
    errors = error_lines(err)
    assert len(errors) == 3
    assert any("missing.png" in e for e in errors)
    assert any("empty" in e and "no images" in e for e in errors)
    assert any("zz*.png" in e for e in errors)
    assert (tmp_path / "good_x4.png").is_file()


def test_unknown_option_is_usage_error(tmp_path, capsys):
    src = make_image(tmp_path / "a.png")
    rc, err = cli(capsys, "upscale", src, "--bogus")
    assert rc == 2 and "--bogus" in err
    assert listing(tmp_path) == {"a.png"}


@pytest.mark.parametrize("args", [["--tile", "-1"], ["--quality", "101"], ["--outscale", "0"],
                                  ["--outscale", "inf"], ["--max-pixels", "0"], ["--format", "gif"]])
def test_bad_option_values_are_usage_errors(tmp_path, capsys, args):
    src = make_image(tmp_path / "a.png")
    rc, err = cli(capsys, "upscale", src, "--model", "bicubic", *args)
    assert rc == 2 and "error:" in err
    assert listing(tmp_path) == {"a.png"}


def test_unknown_model_suggests_closest_name(tmp_path, capsys):
    src = make_image(tmp_path / "a.png")
    rc, err = cli(capsys, "upscale", src, "--model", "srgan_x4")
    assert rc == 2
    assert len(err.strip().splitlines()) == 1 and err.startswith(ERR)
    assert "'srgan-x4'" in err
    assert listing(tmp_path) == {"a.png"}


def test_named_model_without_weights_is_usage_error(tmp_path, capsys):
    src = make_image(tmp_path / "a.png")
    rc, err = cli(capsys, "upscale", src, "--model", "srresnet-x4")
    assert rc == 2 and err.startswith(ERR) and "no weights" in err
    assert len(err.strip().splitlines()) == 1
    assert listing(tmp_path) == {"a.png"}


# --- bad inputs: one clear line each, no traceback, non-zero, no partial output ------------------

def _truncated(tmp_path: Path, name: str, fmt: str) -> Path:
    full = make_image(tmp_path / f"full.{fmt}", 64, 64, seed=1)
    data = full.read_bytes()
    full.unlink()
    p = tmp_path / "in" / name
    p.parent.mkdir(exist_ok=True)
    p.write_bytes(data[: len(data) // 2])
    return p


def _bad_input(kind: str, tmp_path: Path) -> tuple[list, str]:
    """(extra CLI args, text expected in the error line) for one kind of bad input."""
    d = tmp_path / "in"
    d.mkdir(exist_ok=True)
    if kind == "missing":
        return [d / "nope.png"], "no such file"
    if kind == "empty_folder":
        (d / "empty").mkdir()
        return [d / "empty"], "no images"
    if kind == "not_an_image":
        (d / "notes.png").write_text("hello, I am text")
        return [d / "notes.png"], "not an image"
    if kind == "truncated_png":
        return [_truncated(tmp_path, "cut.png", "png")], "cut.png"
    if kind == "truncated_png_header":
        full = make_image(tmp_path / "f.png", 16, 16)
        (d / "cut.png").write_bytes(full.read_bytes()[:40])
        full.unlink()
        return [d / "cut.png"], "cut.png"
    if kind == "truncated_jpeg":
        return [_truncated(tmp_path, "cut.jpg", "jpg")], "cut.jpg"
    if kind == "zero_bytes":
        (d / "zero.png").write_bytes(b"")
        return [d / "zero.png"], "empty"
    if kind == "too_many_pixels":
        return [make_image(d / "big.png", 20, 20), "--max-pixels", "100"], "--max-pixels"
    if kind == "one_pixel":
        return [make_image(d / "dot.png", 1, 1)], "too small"
    if kind == "output_is_a_folder":
        src = make_image(d / "a.png")
        (d / "a_x4.png").mkdir()
        return [src, "--overwrite"], "folder"
    raise AssertionError(kind)


BAD_INPUTS = ["missing", "empty_folder", "not_an_image", "truncated_png", "truncated_png_header",
              "truncated_jpeg", "zero_bytes", "too_many_pixels", "one_pixel", "output_is_a_folder"]


@pytest.mark.parametrize("kind", BAD_INPUTS)
def test_bad_input_gives_one_error_line(tmp_path, capsys, kind):
    args, expected = _bad_input(kind, tmp_path)
    before = listing(tmp_path)
    rc, err = cli(capsys, "upscale", *args, "--model", "bicubic")
    assert rc != 0
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith(ERR) and expected in lines[0], err
    assert listing(tmp_path) == before  # no output, no hidden .part file


@pytest.mark.parametrize("kind", [k for k in BAD_INPUTS if k != "output_is_a_folder"])
def test_bad_input_with_output_folder_leaves_it_empty(tmp_path, capsys, kind):
    args, _ = _bad_input(kind, tmp_path)
    out = tmp_path / "out"
    out.mkdir()
    rc, err = cli(capsys, "upscale", *args, "-o", f"{out}/", "--model", "bicubic")
    assert rc != 0 and len(error_lines(err)) == 1
    assert listing(out) == set()


@pytest.mark.parametrize("several", [False, True])
def test_output_folder_that_cannot_be_created(tmp_path, capsys, several):
    srcs = [make_image(tmp_path / "a.png")] + ([make_image(tmp_path / "b.png")] if several else [])
    blocker = tmp_path / "out"
    blocker.write_text("a file where the output folder should be")
    before = listing(tmp_path)
    target = f"{blocker}/" if several else blocker / "x.png"
    rc, err = cli(capsys, "upscale", *srcs, "-o", target, "--model", "bicubic")
    assert rc != 0
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(ERR) and "out" in lines[0]
    assert listing(tmp_path) == before
    assert blocker.read_text() == "a file where the output folder should be"


def test_several_inputs_with_single_file_output_is_refused(tmp_path, capsys):
    a, b = make_image(tmp_path / "a.png"), make_image(tmp_path / "b.png")
    rc, err = cli(capsys, "upscale", a, b, "-o", tmp_path / "one.png", "--model", "bicubic")
    assert rc == 2 and err.startswith(ERR) and "folder" in err
    assert listing(tmp_path) == {"a.png", "b.png"}


def test_model_path_that_is_a_folder(tmp_path, capsys):
    src = make_image(tmp_path / "a.png")
    rc, err = cli(capsys, "upscale", src, "--model", tmp_path)
    assert rc == 2 and err.startswith(ERR) and len(err.strip().splitlines()) == 1


# --- never overwrite ------------------------------------------------------------------------------

def test_existing_output_is_not_overwritten_without_flag(tmp_path, capsys):
    src = make_image(tmp_path / "a.png")
    existing = tmp_path / "a_x4.png"
    existing.write_bytes(b"precious")
    rc, err = cli(capsys, "upscale", src, "--model", "bicubic")
    assert rc == 2  # the exit-code table: an existing output stops the run before any work
    assert len(error_lines(err)) == 1 and "--overwrite" in err
    assert existing.read_bytes() == b"precious"
    assert listing(tmp_path) == {"a.png", "a_x4.png"}

    rc, err = cli(capsys, "upscale", src, "--model", "bicubic", "--overwrite")
    assert rc == 0, err
    assert size_of(existing) == (32, 32)
    assert listing(tmp_path) == {"a.png", "a_x4.png"}


@pytest.mark.parametrize("spelling", ["same", "dotted"])
def test_output_equal_to_input_is_refused_even_with_overwrite(tmp_path, capsys, spelling, monkeypatch):
    src = make_image(tmp_path / "a.png")
    data = src.read_bytes()
    monkeypatch.chdir(tmp_path)
    target = src if spelling == "same" else Path(".") / "sub" / ".." / "a.png"
    (tmp_path / "sub").mkdir()
    rc, err = cli(capsys, "upscale", src, "-o", target, "--overwrite", "--model", "bicubic")
    assert rc != 0
    assert len(error_lines(err)) == 1 and "input" in err
    assert src.read_bytes() == data


def test_empty_suffix_beside_input_is_refused(tmp_path, capsys):
    src = make_image(tmp_path / "a.png")
    data = src.read_bytes()
    rc, err = cli(capsys, "upscale", src, "--suffix", "", "--overwrite", "--model", "bicubic")
    assert rc == 1 and len(error_lines(err)) == 1
    assert src.read_bytes() == data


def test_output_that_is_another_input_is_never_overwritten(tmp_path, capsys):
    a = make_image(tmp_path / "a.png", seed=1)
    b = make_image(tmp_path / "a_x4.png", seed=2)  # an input named like a's output
    data = b.read_bytes()
    rc, err = cli(capsys, "upscale", tmp_path, "--overwrite", "--model", "bicubic")
    assert rc == 1
    errors = error_lines(err)
    assert len(errors) == 1 and str(a) in errors[0]
    assert b.read_bytes() == data
    assert (tmp_path / "a_x4_x4.png").is_file()


def test_two_inputs_with_the_same_output_name(tmp_path, capsys):
    make_image(tmp_path / "a.png", seed=1)
    make_image(tmp_path / "a.jpg", seed=2)
    rc, err = cli(capsys, "upscale", tmp_path / "a.png", tmp_path / "a.jpg", "--overwrite", "--model", "bicubic")
    assert rc == 1
    errors = error_lines(err)
    assert len(errors) == 1 and "a.jpg" in errors[0]
    assert listing(tmp_path) == {"a.png", "a.jpg", "a_x4.png"}


def test_rerun_into_subfolder_does_not_upscale_earlier_results(tmp_path, capsys):
    make_image(tmp_path / "a.png")
    out = tmp_path / "big"
    assert cli(capsys, "upscale", tmp_path, "-r", "-o", out, "--model", "bicubic")[0] == 0
    rc, err = cli(capsys, "upscale", tmp_path, "-r", "-o", out, "--model", "bicubic", "--overwrite")
    assert rc == 0, err
    assert listing(out) == {"a_x4.png"}


def test_hidden_files_in_folders_are_skipped(tmp_path, capsys):
    make_image(tmp_path / "a.png")
    (tmp_path / "._a.png").write_bytes(b"\x00\x05\x16\x07 AppleDouble")
    (tmp_path / ".a.png.x1y2.part").write_bytes(b"")
    rc, err = cli(capsys, "upscale", tmp_path, "-o", tmp_path / "out", "--model", "bicubic")
    assert rc == 0, err
    assert listing(tmp_path / "out") == {"a_x4.png"}


# --- superres models --------------------------------------------------------------------------------

def test_models_lists_every_registry_model(capsys):
    from superres.registry import list_models

    rc = main(["models"])
    out = capsys.readouterr().out
    assert rc == 0
    lines = out.splitlines()
    for entry in list_models():
        row = next(ln for ln in lines if ln[1:].split()[:1] == [entry.name])
        assert "x4" in row
        if entry.weights is not None:  # a model that needs weights
            assert "NOT INSTALLED" in row  # the autouse fixture hides every weights file
        else:
            assert "NOT INSTALLED" not in row
    srgan = next(ln for ln in lines if ln[1:].startswith("srgan-x4"))
    assert "1,549,462" in srgan
    bicubic = next(ln for ln in lines if ln[1:].startswith("bicubic"))
    assert bicubic.startswith("*")  # the default when no weights are installed


def test_models_marks_installed_weights(tmp_path, capsys, monkeypatch):
    from superres.models import SRCNN
    from superres.weights import save_weights

    save_weights(SRCNN(scale=4), tmp_path / "srcnn-x4.safetensors")
    monkeypatch.setenv("SUPERRES_WEIGHTS_DIR", str(tmp_path))
    rc = main(["models"])
    out = capsys.readouterr().out
    assert rc == 0
    srcnn = next(ln for ln in out.splitlines() if ln[1:].startswith("srcnn-x4"))
    assert "NOT INSTALLED" not in srcnn and "MB" in srcnn and srcnn.startswith("*")


def test_models_details(capsys):
    rc = main(["models", "srresnet-x4"])
    out = capsys.readouterr().out
    assert rc == 0
    assert out.startswith("srresnet-x4:")
    assert "x4" in out and "1,549,462 parameters" in out and "NOT INSTALLED" in out


def test_models_json(capsys):
    from superres.registry import list_models

    assert main(["models", "--json"]) == 0
    all_rows = json.loads(capsys.readouterr().out)
    rows = [r for r in all_rows if r["source"] == "shipped"]
    assert [r["name"] for r in rows] == [e.name for e in list_models()]
    fetchable = {r["name"]: r for r in all_rows if r["source"] == "catalogue"}
    assert {"course-srgan", "realesrgan-x4plus", "lpips", "vgg16", "vgg19"} <= set(fetchable)
    assert fetchable["course-srgan"]["license"] == "Apache-2.0"
    by_name = {r["name"]: r for r in rows}
    assert by_name["srresnet-x4"]["params"] == 1_549_462 and by_name["srresnet-x4"]["installed"] is False
    assert by_name["bicubic"] == {**by_name["bicubic"], "scale": 4, "params": 0, "installed": True,
                                  "weights": None}

    assert main(["models", "bicubic", "--json"]) == 0
    one = json.loads(capsys.readouterr().out)
    assert one["name"] == "bicubic" and one["scale"] == 4


def test_models_unknown_name(capsys):
    rc = main(["models", "srgan_x4"])
    err = capsys.readouterr().err
    assert rc == 2 and err.startswith("superres models: error:") and "'srgan-x4'" in err
    assert "Traceback" not in err


# --- console script and import cost ---------------------------------------------------------------

def test_console_script_and_help_import_cost(tmp_path):
    env = {**os.environ, "SUPERRES_WEIGHTS_DIR": str(tmp_path)}
    exe = Path(sys.executable).with_name("superres")
    cmd = [str(exe)] if exe.exists() else [sys.executable, "-m", "superres"]
    r = subprocess.run([*cmd, "--version"], capture_output=True, text=True, env=env, timeout=120)
    assert r.returncode == 0, r.stderr
    from superres._version import __version__

    assert r.stdout.strip() == f"superres {__version__}"

    code = r"""
import contextlib, io, sys
import superres.cli as cli
cli.build_parser()
for argv in (["--help"], ["upscale", "--help"], ["models", "--help"]):
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        try:
            cli.main(argv)
        except SystemExit as e:
            assert e.code == 0, (argv, e.code)
    assert "usage: superres" in buf.getvalue()
heavy = sorted(m for m in sys.modules
               if m == "torch" or m.startswith(("torch.", "superres.training", "torchvision"))
               or "video" in m or m.split(".")[0] in ("cv2", "av", "imageio"))
print(",".join(heavy))
"""
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "", f"--help imported heavy modules: {r.stdout.strip()}"


# --- resuming, name collisions, output size (issue 15) -------------------------------------------

def test_skip_existing_resumes_keeps_complete_outputs_and_redoes_damaged_ones(tmp_path, capsys):
    src = tmp_path / "in"
    for i, name in enumerate("abc"):
        make_image(src / f"{name}.png", seed=i)
    out = tmp_path / "out"
    rc, err = cli(capsys, "upscale", src / "a.png", "-o", out / "a_x4.png", "--model", "bicubic")
    assert rc == 0, err
    done = (out / "a_x4.png").stat().st_mtime_ns
    full = make_image(tmp_path / "tmp.png", 32, 32, seed=9).read_bytes()
    (out / "b_x4.png").write_bytes(full[: len(full) // 2])  # cut off, as a copy by another tool might be
    rc, err = cli(capsys, "upscale", src, "-o", out, "--model", "bicubic")
    assert rc == 2 and "2 of 3 outputs already exist" in err and "--skip-existing" in err
    rc, err = cli(capsys, "upscale", src, "-o", out, "--model", "bicubic", "--skip-existing")
    assert rc == 0, err
    assert (out / "a_x4.png").stat().st_mtime_ns == done  # complete: kept as it was
    assert size_of(out / "b_x4.png") == (32, 32) and size_of(out / "c_x4.png") == (32, 32)
    with Image.open(out / "b_x4.png") as im:
        im.load()  # redone: decodes fully now
    assert "b_x4.png is not a complete image" in err and "3/3 images" in err and "1 kept" in err
    assert listing(out) == {"a_x4.png", "b_x4.png", "c_x4.png"}


def test_interrupt_then_skip_existing_finishes_the_run(tmp_path, capsys, monkeypatch):
    import superres.io.images as images

    src = tmp_path / "in"
    for i in range(3):
        make_image(src / f"{i}.png", seed=i)
    real, calls = images.write_image, []

    def interrupt_on_second(*a, **k):
        if calls:
            raise KeyboardInterrupt
        calls.append(1)
        return real(*a, **k)

    monkeypatch.setattr(images, "write_image", interrupt_on_second)
    rc, err = cli(capsys, "upscale", src, "-o", tmp_path / "out", "--model", "bicubic")
    assert rc == 130
    assert "interrupted; 1 of 3 outputs are complete (no partial files); run the same command with " \
           "--skip-existing to do the other 2" in err
    monkeypatch.setattr(images, "write_image", real)
    rc, err = cli(capsys, "upscale", src, "-o", tmp_path / "out", "--model", "bicubic", "--skip-existing")
    assert rc == 0 and "1 kept" in err
    assert listing(tmp_path / "out") == {"0_x4.png", "1_x4.png", "2_x4.png"}


def test_format_keep_separates_a_png_and_a_jpg(tmp_path, capsys):
    make_image(tmp_path / "in" / "a.png", seed=1)
    make_image(tmp_path / "in" / "a.jpg", seed=2)
    rc, err = cli(capsys, "upscale", tmp_path / "in", "-o", tmp_path / "out", "--model", "bicubic")
    assert rc == 1
    (line,) = error_lines(err)
    assert "a.png" in line and "a.jpg" in line and "--format keep" in line and "-o with a folder" not in line
    rc, err = cli(capsys, "upscale", tmp_path / "in", "-o", tmp_path / "out2", "--model", "bicubic",
                  "--format", "keep")
    assert rc == 0, err
    assert listing(tmp_path / "out2") == {"a_x4.png", "a_x4.jpg"}
    with Image.open(tmp_path / "out2" / "a_x4.jpg") as im:
        assert im.format == "JPEG"


def test_output_size_guard_in_the_api():
    import superres
    from superres.api import check_output_size
    from superres.errors import InputError, OutOfMemory

    arr = np.zeros((8, 8, 3), np.uint8)
    with pytest.raises(InputError, match="0x0"):
        superres.upscale(arr, "bicubic", outscale=0.001)
    with pytest.raises(InputError, match="over the output limit"):
        superres.upscale(arr, "bicubic", outscale=400, max_pixels=50)
    assert check_output_size(8, 8, 4, 0.5, max_pixels=64) == (4, 4)
    with pytest.raises(OutOfMemory, match="GiB"):
        check_output_size(100_000, 100_000, 4, max_pixels=None)
    assert issubclass(OutOfMemory, MemoryError) and OutOfMemory.exit_code == 1
