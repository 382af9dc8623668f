"""``superres data bench``: the x4 benchmark sets, downloaded from a local server (127.0.0.1 only).

The test builds a small stand-in for the EDSR ``benchmark.tar`` (same layout, a few tiny PNGs),
serves it from a thread, and pins its SHA-256 the way the real catalogue entry pins the real
archive's. Nothing leaves the machine.
"""

from __future__ import annotations

import hashlib
import http.server
import io
import re
import tarfile
import threading
from dataclasses import replace
from pathlib import Path
from typing import Iterator

import numpy as np
import pytest
from PIL import Image

from superres.cli import main
from superres.errors import InputError
from superres import datasets as D
from superres.download import RemoteFile

SETS = {"Set5": 2, "Set14": 3, "B100": 1, "Urban100": 1}


def _png(seed: int, w: int, h: int) -> bytes:
    rng = np.random.default_rng(seed)
    buf = io.BytesIO()
    Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8)).save(buf, "PNG")
    return buf.getvalue()


def _add(tf: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    tf.addfile(info, io.BytesIO(data))


def make_archive(path: Path, *, evil: bool = False) -> bytes:
    """A miniature EDSR benchmark.tar: benchmark/<set>/HR/<n>.png + LR_bicubic/X{2,4}/<n>x{2,4}.png."""
    with tarfile.open(path, "w") as tf:
        for folder, n in SETS.items():
            for i in range(n):
                name = f"img{i}"
                _add(tf, f"benchmark/{folder}/HR/{name}.png", _png(i, 32, 24))
                _add(tf, f"benchmark/{folder}/LR_bicubic/X4/{name}x4.png", _png(100 + i, 8, 6))
                _add(tf, f"benchmark/{folder}/LR_bicubic/X2/{name}x2.png", _png(200 + i, 16, 12))
        if evil:  # a member that would escape the folder if its path were used
            _add(tf, "benchmark/Set5/HR/../../../escaped.png", _png(7, 4, 4))
            link = tarfile.TarInfo("benchmark/Set5/HR/link.png")
            link.type, link.linkname = tarfile.SYMTYPE, "/etc/passwd"
            tf.addfile(link)
    return path.read_bytes()


class _Handler(http.server.BaseHTTPRequestHandler):
    root: Path
    ranges: list

    def log_message(self, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        self.ranges.append(self.headers.get("Range"))
        path = self.root / self.path.lstrip("/")
        if not path.is_file():
            self.send_error(404)
            return
        data = path.read_bytes()
        m = re.fullmatch(r"bytes=(\d+)-", self.headers.get("Range") or "")
        start = int(m.group(1)) if m else 0
        self.send_response(206 if m else 200)
        if m:
            self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        self.send_header("Content-Length", str(len(data) - start))
        self.end_headers()
        self.wfile.write(data[start:])


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[str, bytes, list]]:
    root = tmp_path / "srv"
    root.mkdir()
    data = make_archive(root / "benchmark.tar")
    ranges: list = []
    handler = type("H", (_Handler,), {"root": root, "ranges": ranges})
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}", data, ranges
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=5)


@pytest.fixture
def pinned(served, monkeypatch: pytest.MonkeyPatch) -> RemoteFile:
    """The catalogue entry pinned to the test archive (as the real one is pinned to the real archive)."""
    url, data, _ = served
    remote = replace(D.BENCHMARK_ARCHIVE, url=url + "/benchmark.tar",
                     sha256=hashlib.sha256(data).hexdigest(), size=len(data))
    monkeypatch.setattr(D, "BENCHMARK_ARCHIVE", remote)
    monkeypatch.setattr(D.fetch_benchmarks, "__kwdefaults__", {**D.fetch_benchmarks.__kwdefaults__,
                                                                "remote": remote})
    return remote


def test_catalogue_is_pinned() -> None:
    """The real entry carries a SHA-256 and a size, so unverified data is never accepted."""
    r = D.BENCHMARK_ARCHIVE
    assert r.url.startswith("https://") and re.fullmatch(r"[0-9a-f]{64}", r.sha256 or "") and r.size


def test_data_bench_downloads_unpacks_and_names_resolve(served, pinned, tmp_path, monkeypatch, capsys) -> None:
    url, data, ranges = served
    dest = tmp_path / "bench"
    monkeypatch.setenv("SUPERRES_BENCH", str(dest))
    assert main(["data", "bench", "-q"]) == 0
    out = capsys.readouterr().out
    for s, n in (("Set5", 2), ("Set14", 3), ("BSD100", 1), ("Urban100", 1)):
        assert f"{s}: {n} HR" in out
        hr = sorted(p.name for p in (dest / s / "HR").iterdir())
        lr = sorted(p.name for p in (dest / s / "LR_bicubic_x4").iterdir())
        assert hr == lr == [f"img{i}.png" for i in range(n)]  # LR renamed to its HR's name
    with Image.open(dest / "Set14" / "LR_bicubic_x4" / "img2.png") as im:
        assert im.size == (8, 6)
    assert (dest / "benchmark.tar").read_bytes() == data
    assert not [p for p in dest.iterdir() if p.name.startswith(".") or p.suffix == ".part"]

    # names resolve in that folder; a second run downloads nothing
    assert D.resolve_bench_dir("Set5") == dest / "Set5"
    assert D.resolve_bench_dir("b100") == dest / "BSD100"
    n = len(ranges)
    assert main(["data", "bench", "-q"]) == 0
    assert len(ranges) == n


def test_resumes_a_partial_download(served, pinned, tmp_path) -> None:
    url, data, ranges = served
    dest = tmp_path / "b"
    dest.mkdir()
    (dest / "benchmark.tar.part").write_bytes(data[: len(data) // 3])
    folders = D.fetch_benchmarks(dest, ["Set5"], progress=False)
    assert folders == [dest / "Set5"]
    assert ranges == [f"bytes={len(data) // 3}-"]
    assert not (dest / "Set14").exists()  # only the sets asked for


def test_refuses_an_archive_that_does_not_match_the_pin(served, tmp_path, capsys) -> None:
    """--base-url to a server holding another file: the real pin applies, the file is refused."""
    url, data, _ = served
    dest = tmp_path / "b"
    assert main(["data", "bench", "--to", str(dest), "--base-url", url, "-q"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "benchmark.tar" in err[0] and ("expected 250112000" in err[0] or "SHA-256" in err[0])
    assert not (dest / "benchmark.tar").exists() and not (dest / "Set5").exists()


def test_unsafe_members_are_never_written_outside(tmp_path: Path) -> None:
    arch = tmp_path / "a" / "benchmark.tar"
    arch.parent.mkdir()
    make_archive(arch, evil=True)
    dest = tmp_path / "a" / "out"
    D.extract_benchmarks(arch, dest, ["Set5"])
    assert sorted(p.name for p in (dest / "Set5" / "HR").iterdir()) == ["img0.png", "img1.png"]
    assert not list(tmp_path.rglob("escaped.png"))


def test_eval_and_export_resolve_set_names(tmp_path, monkeypatch, capsys) -> None:
    monkeypatch.setenv("SUPERRES_BENCH", str(tmp_path / "none"))
    with pytest.raises(InputError, match=r"superres data bench"):
        D.resolve_bench_dir("Set5")
    # a missing input: exit 1 in the exit-code table (superres.errors)
    assert main(["eval", "--models", "bicubic", "--data", "Set14", "--no-lpips"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "superres data bench" in err[0] and "Set14" in err[0]
    # a real folder with that name in the working directory wins; an unknown name stays a path
    (tmp_path / "Set5").mkdir()
    monkeypatch.chdir(tmp_path)
    assert D.resolve_bench_dir("Set5") == Path("Set5")
    assert D.resolve_bench_dir("holiday") == Path("holiday")

    # with the set present, eval runs on it by name
    bench = tmp_path / "bench"
    s5 = bench / "Set5"
    (s5 / "HR").mkdir(parents=True)
    Image.fromarray(np.full((32, 32, 3), 128, np.uint8)).save(s5 / "HR" / "a.png")
    monkeypatch.setenv("SUPERRES_BENCH", str(bench))
    monkeypatch.chdir(tmp_path / "Set5")  # no ./Set5 here
    assert main(["eval", "--models", "bicubic", "--data", "Set5", "--no-lpips", "-q"]) == 0
    assert "Set5" in capsys.readouterr().out


def test_help_names_every_set_without_importing_the_downloader(capsys) -> None:
    with pytest.raises(SystemExit):
        main(["data", "bench", "--help"])
    text = capsys.readouterr().out
    for s in D.BENCHMARK_SETS:
        assert s in text
    assert "benchmark.tar" in D.BENCHMARK_ARCHIVE.url and f"{D.BENCHMARK_ARCHIVE.size / 1e6:.0f} MB" in " ".join(text.split())


def test_readme_eval_command_runs_as_written_after_data_bench(served, pinned, tmp_path, monkeypatch, capsys) -> None:
    """The README's `superres data bench` + `superres eval ... --data Set5 Set14` lines, verbatim."""
    import shlex

    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    lines = [ln.split("#")[0].strip() for ln in readme.splitlines()
             if ln.startswith("superres ") and (" --data Set5 Set14" in ln or ln.split("#")[0].strip() ==
                                                 "superres data bench")]
    bench_lines = [ln for ln in lines if ln == "superres data bench"]
    # (the "bring your own weights" line names the user's own .h5 files: not runnable here)
    eval_lines = [ln for ln in lines if ln.startswith("superres eval") and ".h5" not in ln and ".pth" not in ln]
    assert bench_lines and eval_lines
    monkeypatch.setenv("SUPERRES_BENCH", str(tmp_path / "bench"))
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "empty_torch_home"))
    monkeypatch.chdir(tmp_path)
    assert main(shlex.split(bench_lines[0])[1:] + ["-q"]) == 0
    for line in eval_lines:
        assert main(shlex.split(line)[1:] + ["-q"]) == 0, line
        out = capsys.readouterr().out
        assert "Set5" in out and "Set14" in out
