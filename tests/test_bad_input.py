"""Table-driven bad-input suite (issue 15): every case runs one ``superres`` command in-process and asserts

* the exit code (the table in ``superres.errors`` / README "Exit codes"),
* one message line: exactly one ``error:`` line on stderr holding the expected text (and, outside
  argparse's own usage errors, nothing else on stderr), no traceback,
* no partial or temporary file: the files that exist afterwards are the ones before plus exactly
  the expected outputs (hidden ``.part``/``.tmp`` files included in the comparison),
* the inputs untouched: every file that existed before has the same bytes, mode and mtime.

``python -m pytest tests/test_bad_input.py -v`` lists the cases; ``CASES`` is the table.
"""

from __future__ import annotations

import hashlib
import json
import os
import struct
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import pytest
from PIL import Image

from superres.cli import main

# --- fixtures the cases build on -------------------------------------------------------------------


def png(path: Path, w: int = 8, h: int = 8, seed: int = 0, mode: str = "RGB") -> Path:
    rng = np.random.default_rng(seed)
    arr = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(arr).convert(mode).save(path)
    return path


def gif(path: Path, n: int = 3, w: int = 8, h: int = 6) -> Path:
    frames = []
    for i in range(n):
        a = np.full((h, w, 3), 200, np.uint8)
        a[2:4, i:i + 2] = (20, 20, 220)
        frames.append(Image.fromarray(a))
    path.parent.mkdir(parents=True, exist_ok=True)
    frames[0].save(path, save_all=True, append_images=frames[1:], duration=50, loop=0)
    return path


def bomb_png(path: Path, w: int, h: int) -> Path:
    """A tiny file whose header claims a w x h RGB image (a decompression bomb's header)."""
    def chunk(t: bytes, d: bytes) -> bytes:
        return struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d) & 0xFFFFFFFF)

    data = (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(b"\x00" * 64)) + chunk(b"IEND", b""))
    path.write_bytes(data)
    return path


def tiny_weights(path: Path) -> Path:
    from superres.models import SRResNet
    from superres.weights import save_weights

    return save_weights(SRResNet(scale=4, channels=8, n_blocks=1), path)


def mismatched_weights(path: Path) -> Path:
    """A superres-format file whose header says 16 channels but whose tensors have 8."""
    from safetensors.torch import load_file, save_file

    from superres.weights import read_header

    good = tiny_weights(path.with_name("good.safetensors"))
    meta = read_header(good)
    meta["args"] = json.dumps({**json.loads(meta["args"]), "channels": 16})
    save_file(load_file(str(good)), str(path), metadata=meta)
    good.unlink()
    good.with_suffix(".json").unlink(missing_ok=True)
    return path


def pickle_weights(path: Path) -> Path:
    import torch

    class Evil:  # unpickling would call os.getcwd: refused by weights_only=True
        def __reduce__(self):
            return (os.getcwd, ())

    torch.save({"w": Evil()}, path)
    return path


def bench(root: Path, n: int = 1, size: int = 16) -> Path:
    for sub, s in (("HR", size), ("LR_bicubic_x4", size // 4)):
        for i in range(n):
            png(root / sub / f"img{i}.png", s, s, seed=i)
    return root


def root_user() -> bool:
    return hasattr(os, "geteuid") and os.geteuid() == 0


# --- the table --------------------------------------------------------------------------------------

@dataclass
class Case:
    id: str
    setup: Callable[[Path], list]  # builds the files in the work folder, returns the command line
    code: int
    message: str  # text the one error line must contain
    new: set = field(default_factory=set)  # files (relative) the command may leave behind
    patch: Callable | None = None  # patch(monkeypatch) before running (simulated faults)
    argparse: bool = False  # argparse's own error: its usage lines come before the one error line
    skip_root: bool = False  # permission cases mean nothing to root


def _oom_in_network(mp):
    from superres.inference import Upscaler

    def boom(self, x, progress=None):
        raise RuntimeError("[enforce fail at alloc_cpu.cpp:117] data. DefaultCPUAllocator: can't allocate memory: "
                           "you tried to allocate 10485760000 bytes. Error code 12 (Cannot allocate memory)")
    mp.setattr(Upscaler, "__call__", boom)  # frames (animate)
    mp.setattr(Upscaler, "upscale_array", boom)  # pictures (upscale)


def _oom_in_decoder(mp):
    def boom(self, *a, **k):
        raise MemoryError()
    mp.setattr(Image.Image, "load", boom)


def _ctrl_c_after_first(mp):
    import superres.io.images as images

    real = images.write_image
    calls = []

    def write_then_interrupt(*a, **k):
        if calls:
            raise KeyboardInterrupt
        calls.append(1)
        return real(*a, **k)
    mp.setattr(images, "write_image", write_then_interrupt)


def _chmod(path: Path, mode: int) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    path.chmod(mode)
    return path


U = ["upscale", "--model", "bicubic"]
A = ["animate", "--model", "bicubic"]

CASES = [
    # --- upscale: inputs -----------------------------------------------------------------------
    Case("upscale-missing-file", lambda d: [*U, d / "nope.png"], 1, "nope.png: no such file"),
    Case("upscale-empty-file", lambda d: [*U, _touch(d / "e.png")], 1, "the file is empty (0 bytes)"),
    Case("upscale-garbage", lambda d: [*U, _write(d / "g.png", b"\x89PNG\r\n\x1a\n garbage")], 1,
         "g.png: cannot read: the file is truncated or damaged"),
    Case("upscale-text-named-jpg", lambda d: [*U, _write(d / "t.jpg", b"hello, I am text\n" * 10)], 1,
         "not an image Pillow can read"),
    Case("upscale-truncated-png", lambda d: [*U, _truncate(png(d / "t.png", 64, 64), 0.5)], 1,
         "truncated or damaged"),
    Case("upscale-1x1", lambda d: [*U, png(d / "one.png", 1, 1)], 1, "1x1 is too small to upscale"),
    Case("upscale-over-max-pixels", lambda d: [*U, png(d / "big.png", 40, 30), "--max-pixels", "1000"], 1,
         "1,200 pixels, over the limit of 1,000; raise it with --max-pixels"),
    Case("upscale-bomb-over-default-limit", lambda d: [*U, bomb_png(d / "bomb.png", 60000, 60000)], 1,
         "3600.0 megapixels, over the limit of 50.0 MP"),
    Case("upscale-bomb-max-pixels-4e9", lambda d: [*U, bomb_png(d / "bomb.png", 60000, 60000), "--max-pixels", "4e9"],
         1, "GiB of memory; use a smaller --outscale or a smaller input"),
    Case("upscale-empty-folder", lambda d: [*U, _mkdir(d / "empty")], 1, "is a folder with no images"),
    Case("upscale-glob-matches-nothing", lambda d: [*U, str(d / "zz*.png")], 1, "the pattern matches nothing"),
    Case("upscale-decoder-out-of-memory", lambda d: [*U, png(d / "a.png")], 1,
         "out of memory decoding this 8x8 image", patch=_oom_in_decoder),
    Case("upscale-network-out-of-memory", lambda d: [*U, png(d / "a.png")], 1,
         "out of memory while upscaling; use a smaller --tile", patch=_oom_in_network),
    # --- upscale: output size ----------------------------------------------------------------------
    Case("upscale-outscale-400", lambda d: [*U, png(d / "a.png", 128, 128), "--outscale", "400"], 1,
         "--outscale 400 would make a 51200x51200 image (2,621 MP), over the output limit of 800 MP (16 x --max-pixels)"),
    Case("upscale-outscale-0.001", lambda d: [*U, png(d / "a.png"), "--outscale", "0.001"], 1,
         "--outscale 0.001 would make a 0x0 image from 8x8"),
    # --- upscale: outputs ----------------------------------------------------------------------------
    Case("upscale-output-exists", lambda d: [*U, png(d / "a.png"), "-o", _write(d / "a_x4.png", b"mine")],
         2, "a_x4.png already exists; pass --overwrite to replace it"),
    Case("upscale-some-outputs-exist", lambda d: [*U, _folder_with_one_done(d), "-o", d / "out"], 2,
         "1 of 2 outputs already exist"),
    Case("upscale-skip-existing-wrong-size", lambda d: [*U, _folder_with_one_done(d, size=(5, 5)), "-o", d / "out",
                                                        "--skip-existing"], 1,
         "exists but is 5x5, not the 32x32 this run writes", new={"out/b_x4.png"}),
    Case("upscale-o-unknown-extension", lambda d: [*U, png(d / "a.png"), "-o", d / "a.xyz"], 2,
         "unknown image extension '.xyz'"),
    Case("upscale-o-file-for-two-inputs", lambda d: [*U, png(d / "a.png"), png(d / "b.png"), "-o", d / "o.png"], 2,
         "is a file name but there are 2 inputs; give a folder"),
    Case("upscale-o-folder-below-a-file", lambda d: [*U, png(d / "a.png"), "-o", str(_write(d / "f", b"x")) + "/sub/"],
         2, "is a file"),
    Case("upscale-o-unwritable-folder", lambda d: [*U, png(d / "a.png"), "-o", str(_chmod(d / "ro", 0o555)) + "/"],
         2, "permission denied", skip_root=True),
    Case("upscale-output-is-the-input", lambda d: [*U, png(d / "a.png"), "--suffix", "", "--overwrite"], 1,
         "the output would be the input itself"),
    Case("upscale-name-collision-png-jpg", lambda d: [*U, png(d / "a.png"), _jpg(d / "a.jpg"), "-o", d / "out"], 1,
         "would also be written from", new={"out/a_x4.png"}),
    Case("upscale-interrupted", lambda d: [*U, png(d / "a.png"), png(d / "b.png", seed=1), "-o", d / "out"], 130,
         "run the same command with --skip-existing", new={"out/a_x4.png"}, patch=_ctrl_c_after_first),
    # --- upscale: models and weights -----------------------------------------------------------------
    Case("upscale-unknown-model", lambda d: ["upscale", png(d / "a.png"), "--model", "srgann-x4"], 2,
         "Did you mean 'srgan-x4'"),
    Case("upscale-weights-missing", lambda d: ["upscale", png(d / "a.png"), "--model", d / "w.safetensors"], 2,
         "not found"),
    Case("upscale-weights-garbage", lambda d: ["upscale", png(d / "a.png"), "--model",
                                               _write(d / "w.safetensors", b"\x00" * 64)], 2,
         "w.safetensors: unrecognised weights layout: not a safetensors, PyTorch or Keras HDF5 file"),
    Case("upscale-foreign-weights-shape-mismatch", lambda d: ["upscale", png(d / "a.png"), "--model",
                                                              _bad_msrresnet(d / "bad.pth")], 2,
         "recognised as basicsr-msrresnet but shape mismatch: tensor"),
    Case("upscale-weights-shape-mismatch", lambda d: ["upscale", png(d / "a.png"), "--model",
                                                      mismatched_weights(d / "w.safetensors")], 2,
         "shape mismatch: tensor 'head.0.weight' is [8, 3, 9, 9] in the file but srresnet"),
    Case("upscale-weights-pickle", lambda d: ["upscale", png(d / "a.png"), "--model", pickle_weights(d / "evil.pth")],
         2, "(Trying to load unsupported GLOBAL posix.getcwd whose module posix is blocked). Load it where"),
    # --- upscale: options (argparse) ---------------------------------------------------------------------
    Case("upscale-outscale-0", lambda d: [*U, png(d / "a.png"), "--outscale", "0"], 2, "must be a positive finite",
         argparse=True),
    Case("upscale-outscale-nan", lambda d: [*U, png(d / "a.png"), "--outscale", "nan"], 2,
         "must be a positive finite", argparse=True),
    Case("upscale-tile-negative", lambda d: [*U, png(d / "a.png"), "--tile", "-1"], 2, "must be 0 or more",
         argparse=True),
    Case("upscale-max-pixels-0", lambda d: [*U, png(d / "a.png"), "--max-pixels", "0"], 2,
         "positive whole number of pixels", argparse=True),
    Case("upscale-max-pixels-words", lambda d: [*U, png(d / "a.png"), "--max-pixels", "lots"], 2,
         "expected a number of pixels", argparse=True),
    Case("upscale-quality-101", lambda d: [*U, png(d / "a.png"), "--quality", "101"], 2,
         "must be between 0 and 100", argparse=True),
    Case("upscale-format-gif", lambda d: [*U, png(d / "a.png"), "--format", "gif"], 2, "invalid choice: 'gif'",
         argparse=True),
    Case("upscale-overwrite-and-skip-existing", lambda d: [*U, png(d / "a.png"), "--overwrite", "--skip-existing"], 2,
         "not allowed with argument", argparse=True),
    # --- animate ------------------------------------------------------------------------------------------
    Case("animate-missing", lambda d: [*A, d / "nope.gif"], 1, "nope.gif"),
    Case("animate-garbage", lambda d: [*A, _write(d / "g.gif", b"not a gif at all")], 1, "g.gif"),
    Case("animate-cut-in-the-first-frame", lambda d: [*A, _truncate(gif(d / "t.gif"), 0.2)], 1, "t.gif"),
    Case("animate-canvas-over-max-pixels", lambda d: [*A, gif(d / "m.gif", w=40, h=30), "--max-pixels", "1000"], 1,
         "--max-pixels"),
    Case("animate-output-exists", lambda d: [*A, gif(d / "m.gif"), "-o", _write(d / "o.gif", b"mine")], 2,
         "o.gif already exists; pass --overwrite"),
    Case("animate-output-is-input", lambda d: [*A, gif(d / "m.gif"), "-o", d / "m.gif", "--overwrite"], 2,
         "the output would be the input itself"),
    Case("animate-unknown-extension", lambda d: [*A, gif(d / "m.gif"), "-o", d / "o.xyz"], 2, "o.xyz"),
    Case("animate-unknown-model", lambda d: ["animate", gif(d / "m.gif"), "--model", "bicubik"], 2,
         "Did you mean 'bicubic'"),
    Case("animate-compare-page-exists", lambda d: [*A, gif(d / "m.gif"), "-o", d / "o.gif", "--compare",
                                                   "-q", _write(d / "o_compare.html", b"mine").name and "-q"], 2,
         "o_compare.html already exists"),
    Case("animate-threshold-300", lambda d: [*A, gif(d / "m.gif"), "--stabilize-threshold", "300"], 2,
         "must be between 0 and 255", argparse=True),
    Case("animate-network-out-of-memory", lambda d: [*A, gif(d / "m.gif")], 1,
         "out of memory; use a smaller --tile", patch=_oom_in_network),
    # --- compare ------------------------------------------------------------------------------------------
    Case("compare-missing", lambda d: ["compare", d / "nope.png", "-m", "bicubic", "--no-lpips"], 1, "nope.png"),
    Case("compare-crop-outside", lambda d: ["compare", png(d / "p.png", 12, 10), "-m", "bicubic", "--no-lpips",
                                            "--crop", "40,0,16,16", "-o", d / "c.png"], 2, "outside"),
    Case("compare-output-exists", lambda d: ["compare", png(d / "p.png", 12, 10), "-m", "bicubic", "--no-lpips",
                                             "-o", _write(d / "c.png", b"mine")], 2, "c.png already exists"),
    Case("compare-html-not-html", lambda d: ["compare", png(d / "p.png", 12, 10), "-m", "bicubic", "--no-lpips",
                                             "-o", d / "c.png", "--html", d / "r.txt"], 2, "must be an .html file"),
    Case("compare-network-out-of-memory", lambda d: ["compare", png(d / "p.png", 12, 10), "-m", "bicubic",
                                                     "--no-lpips", "-o", d / "c.png"], 1,
         "out of memory; use a smaller --tile", patch=_oom_in_network),
    # --- eval ---------------------------------------------------------------------------------------------
    Case("eval-data-missing", lambda d: ["eval", "-m", "bicubic", "--no-lpips", "--data", d / "nope"], 1,
         "is not a folder"),
    Case("eval-data-empty", lambda d: ["eval", "-m", "bicubic", "--no-lpips", "--data", _mkdir(d / "empty")], 1,
         "holds no images"),
    Case("eval-set-not-downloaded", lambda d: ["eval", "-m", "bicubic", "--no-lpips", "--data", "Set14"], 1,
         "superres data bench", patch=lambda mp: mp.setenv("SUPERRES_BENCH", "/nonexistent/bench")),
    Case("eval-results-exist", lambda d: ["eval", "-m", "bicubic", "--no-lpips", "--data", bench(d / "B"),
                                          "-o", _write(d / "r.md", b"keep me")], 2, "r.md already exists"),
    Case("eval-results-format", lambda d: ["eval", "-m", "bicubic", "--no-lpips", "--data", bench(d / "B"),
                                           "-o", d / "r.txt"], 2, "unknown results format"),
    # --- convert ------------------------------------------------------------------------------------------
    Case("convert-pickle", lambda d: ["convert", pickle_weights(d / "evil.pth"), d / "o.safetensors"], 2,
         "refused by torch.load(weights_only=True)"),
    Case("convert-not-safetensors-out", lambda d: ["convert", pickle_weights(d / "evil.pth"), d / "o.bin"], 2,
         ".safetensors"),
    Case("convert-output-exists", lambda d: ["convert", pickle_weights(d / "evil.pth"),
                                             _write(d / "o.safetensors", b"mine")], 2, "exists"),
    # --- models --------------------------------------------------------------------------------------------
    Case("models-unknown-name", lambda d: ["models", "srgann-x4"], 2, "Did you mean 'srgan-x4'"),
]


def _write(path: Path, data: bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def _touch(path: Path) -> Path:
    return _write(path, b"")


def _mkdir(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    return path


def _truncate(path: Path, keep: float) -> Path:
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * keep)])
    return path


def _jpg(path: Path) -> Path:
    png(path.with_suffix(".tmp.png"), seed=5)
    Image.open(path.with_suffix(".tmp.png")).save(path, format="JPEG")
    path.with_suffix(".tmp.png").unlink()
    return path


def _bad_msrresnet(path: Path) -> Path:
    """A BasicSR MSRResNet checkpoint with one tensor of the wrong shape."""
    import torch

    from superres.models.msrresnet import MSRResNet

    sd = MSRResNet(scale=4, num_feat=8, num_block=2).state_dict()
    sd["body.1.conv2.weight"] = torch.zeros(8, 8, 5, 5)
    torch.save(sd, path)
    return path


def _folder_with_one_done(d: Path, size: tuple[int, int] = (32, 32)) -> Path:
    """in/a.png, in/b.png, and out/a_x4.png already there (a finished output, or a stranger's file)."""
    png(d / "in" / "a.png")
    png(d / "in" / "b.png", seed=1)
    png(d / "out" / "a_x4.png", *size, seed=2)
    return d / "in"


# --- the runner -------------------------------------------------------------------------------------

def snapshot(folder: Path) -> dict[str, tuple]:
    out = {}
    for p in folder.rglob("*"):
        st = p.lstat()
        rel = str(p.relative_to(folder))
        out[rel] = (hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() else "dir", st.st_mode, st.st_mtime_ns)
    return out


@pytest.fixture(autouse=True)
def _isolated(tmp_path_factory, monkeypatch):
    """No shipped weights (default model = bicubic) and no model cached between cases."""
    import superres.api

    monkeypatch.setenv("SUPERRES_WEIGHTS_DIR", str(tmp_path_factory.mktemp("no_weights")))
    superres.api._CACHE.clear()
    yield
    superres.api._CACHE.clear()


def test_the_table_has_at_least_40_cases_with_unique_names():
    assert len(CASES) >= 40 and len({c.id for c in CASES}) == len(CASES)


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_input(case: Case, tmp_path, capsys, monkeypatch):
    if case.skip_root and root_user():
        pytest.skip("root may write anywhere: a permission case means nothing here")
    work = tmp_path / "work"
    work.mkdir()
    args = [str(a) for a in case.setup(work)]
    before = snapshot(work)
    if case.patch is not None:
        case.patch(monkeypatch)
    monkeypatch.chdir(work)
    try:
        rc = main(args)
    except SystemExit as e:  # argparse
        rc = e.code if isinstance(e.code, int) else 1
    finally:
        monkeypatch.undo()  # restore the patched functions before the checks read any file
        for p in work.rglob("*"):
            if p.is_dir():
                p.chmod(0o755)
    err = capsys.readouterr().err
    assert "Traceback" not in err, err
    lines = [ln for ln in err.splitlines() if ln.strip()]
    errors = [ln for ln in lines if "error:" in ln or ": interrupted" in ln]
    assert rc == case.code, err
    assert len(errors) == 1 and case.message in errors[0], err
    if not case.argparse:  # nothing but the one line; a run that did some inputs adds its summary
        assert len([ln for ln in lines if not (case.new and ln.startswith("upscaled "))]) == 1, err
    after = snapshot(work)
    for rel, state in before.items():  # inputs (and every other file there before) untouched
        if state[0] != "dir":
            assert after.get(rel, (None,))[0] == state[0] and after[rel][2] == state[2], f"{rel} changed"
    created = {rel for rel in after if rel not in before and after[rel][0] != "dir"}
    assert created == case.new, f"left behind: {created - case.new}; missing: {case.new - created}"
