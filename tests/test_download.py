"""Tests for superres.download (generic downloading), superres.datasets and ``superres data div2k``.

A local HTTP server (127.0.0.1, ephemeral port, in a thread: the ``http_server``
fixture of conftest.py) serves a small fake DIV2K zip; it honours ``Range``
requests unless told not to, and records the Range header of every request.
Nothing leaves the machine.
"""

from __future__ import annotations

import hashlib
import zipfile
from pathlib import Path

import pytest
from PIL import Image

from conftest import Server
from superres.errors import SuperResError
from superres.datasets import fetch_div2k
from superres.download import ChecksumError, DownloadError, RemoteFile, download, extract_zip


def _make_zip(path: Path, folder: str, n: int = 2) -> bytes:
    with zipfile.ZipFile(path, "w") as zf:
        for i in range(1, n + 1):
            img = Image.new("RGB", (24, 16), (10 * i, 100, 200))
            png = path.parent / f"{i:04d}.png"
            img.save(png)
            zf.write(png, f"{folder}/{i:04d}.png")
            png.unlink()
    return path.read_bytes()


@pytest.fixture
def server(tmp_path: Path, http_server) -> Server:
    root = tmp_path / "srv"
    root.mkdir()
    _make_zip(root / "DIV2K_train_HR.zip", "DIV2K_train_HR", 3)
    _make_zip(root / "DIV2K_valid_HR.zip", "DIV2K_valid_HR", 1)
    return http_server(root)


def _remote(server: Server, name: str = "DIV2K_train_HR.zip", **kw: object) -> RemoteFile:
    return RemoteFile(url=f"{server.url}/{name}", filename=name, **kw)  # type: ignore[arg-type]


def test_fetch_div2k_downloads_and_extracts(server: Server, tmp_path: Path) -> None:
    out = tmp_path / "data"
    folders = fetch_div2k(out, progress=False, base_url=server.url + "/")
    assert folders == [out / "DIV2K_train_HR", out / "DIV2K_valid_HR"]
    assert sorted(p.name for p in folders[0].iterdir()) == ["0001.png", "0002.png", "0003.png"]
    assert [p.name for p in folders[1].iterdir()] == ["0001.png"]
    with Image.open(folders[0] / "0002.png") as im:
        assert im.size == (24, 16)
    zip_bytes = (server.root / "DIV2K_train_HR.zip").read_bytes()
    assert (out / "DIV2K_train_HR.zip").read_bytes() == zip_bytes
    digest = hashlib.sha256(zip_bytes).hexdigest()
    assert (out / "DIV2K_train_HR.zip.sha256").read_text().split() == [digest, "DIV2K_train_HR.zip"]
    assert not list(out.glob("*.part")) and not list(out.glob(".*"))

    # a second run touches neither the network nor the files
    n_requests = len(server.ranges)
    assert fetch_div2k(out, progress=False, base_url=server.url) == folders
    assert len(server.ranges) == n_requests


def test_existing_verified_file_is_not_downloaded_again(server: Server, tmp_path: Path) -> None:
    data = (server.root / "DIV2K_train_HR.zip").read_bytes()
    remote = _remote(server, sha256=hashlib.sha256(data).hexdigest(), size=len(data))
    download(remote, tmp_path, progress=False)
    n_requests = len(server.ranges)
    assert download(remote, tmp_path, progress=False).read_bytes() == data
    assert len(server.ranges) == n_requests


def test_resume_from_partial_file(server: Server, tmp_path: Path) -> None:
    data = (server.root / "DIV2K_train_HR.zip").read_bytes()
    half = len(data) // 2
    (tmp_path / "DIV2K_train_HR.zip.part").write_bytes(data[:half])
    remote = _remote(server, sha256=hashlib.sha256(data).hexdigest(), size=len(data))
    path = download(remote, tmp_path, progress=False)
    assert server.ranges == [f"bytes={half}-"]
    assert path == tmp_path / "DIV2K_train_HR.zip"
    assert path.read_bytes() == data
    assert not (tmp_path / "DIV2K_train_HR.zip.part").exists()


def test_complete_part_file_answered_416(server: Server, tmp_path: Path) -> None:
    data = (server.root / "DIV2K_train_HR.zip").read_bytes()
    (tmp_path / "DIV2K_train_HR.zip.part").write_bytes(data)
    path = download(_remote(server), tmp_path, progress=False)  # size unknown: must ask the server
    assert server.ranges == [f"bytes={len(data)}-"]
    assert path.read_bytes() == data


def test_server_ignoring_range_restarts_from_zero(server: Server, tmp_path: Path) -> None:
    server.honour_range = False
    data = (server.root / "DIV2K_train_HR.zip").read_bytes()
    garbage = b"garbage that must not survive"
    (tmp_path / "DIV2K_train_HR.zip.part").write_bytes(garbage)
    path = download(_remote(server), tmp_path, progress=False)
    assert server.ranges == [f"bytes={len(garbage)}-"]  # it asked to resume, got a plain 200
    assert path.read_bytes() == data


def test_checksum_mismatch_raises_and_leaves_no_file(server: Server, tmp_path: Path) -> None:
    remote = _remote(server, sha256="0" * 64)
    with pytest.raises(ChecksumError, match="SHA-256 mismatch") as info:
        download(remote, tmp_path, progress=False)
    assert isinstance(info.value, SuperResError)
    assert "\n" not in str(info.value)
    assert not (tmp_path / "DIV2K_train_HR.zip").exists()
    assert not (tmp_path / "DIV2K_train_HR.zip.part").exists()


def test_wrong_size_raises(server: Server, tmp_path: Path) -> None:
    with pytest.raises(ChecksumError, match="expected 12345"):
        download(_remote(server, size=12345), tmp_path, progress=False)
    assert not (tmp_path / "DIV2K_train_HR.zip").exists()


def test_http_404_is_a_clear_error(server: Server, tmp_path: Path) -> None:
    with pytest.raises(DownloadError, match=r"HTTP 404.*download missing\.zip manually"):
        download(_remote(server, "missing.zip"), tmp_path, progress=False)


def test_connection_refused_says_how_to_resume(tmp_path: Path) -> None:
    # bind then close a socket: nothing listens on that port afterwards
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    remote = RemoteFile(f"http://127.0.0.1:{port}/x.zip", "x.zip", None, None)
    with pytest.raises(DownloadError, match="Run the same command again to resume") as info:
        download(remote, tmp_path, progress=False, timeout=2)
    assert "\n" not in str(info.value)


def _zip_with(tmp_path: Path, member: str) -> Path:
    path = tmp_path / "bad.zip"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("ok/fine.txt", "fine")
        zf.writestr(member, "evil")
    return path


@pytest.mark.parametrize("member", ["../evil", "ok/../../evil", "/abs/evil", "..\\evil", "C:/evil"])
def test_extract_rejects_unsafe_members(tmp_path: Path, member: str) -> None:
    path = _zip_with(tmp_path, member)
    out = tmp_path / "out"
    with pytest.raises(DownloadError, match="unsafe member"):
        extract_zip(path, out)
    assert not (tmp_path / "evil").exists()
    assert not out.exists() or not any(out.iterdir())


def test_extract_is_idempotent_and_atomic(tmp_path: Path) -> None:
    archive = tmp_path / "DIV2K_valid_HR.zip"
    _make_zip(archive, "DIV2K_valid_HR", 2)
    out = tmp_path / "out"
    first = extract_zip(archive, out)
    assert first == out / "DIV2K_valid_HR"
    assert sorted(p.name for p in first.iterdir()) == ["0001.png", "0002.png"]
    (first / "0001.png").unlink()  # an existing folder is taken as complete
    assert extract_zip(archive, out) == first
    assert [p.name for p in first.iterdir()] == ["0002.png"]
    assert [p.name for p in out.iterdir()] == ["DIV2K_valid_HR"]  # no temp folders left


def test_extract_flat_zip_goes_to_stem_folder(tmp_path: Path) -> None:
    archive = tmp_path / "flat.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("a.txt", "a")
        zf.writestr("b.txt", "b")
    assert extract_zip(archive, tmp_path / "out") == tmp_path / "out" / "flat"
    assert (tmp_path / "out" / "flat" / "b.txt").read_text() == "b"


def test_extract_corrupt_zip(tmp_path: Path) -> None:
    bad = tmp_path / "bad.zip"
    bad.write_bytes(b"not a zip at all")
    with pytest.raises(DownloadError, match="not a readable zip archive"):
        extract_zip(bad, tmp_path / "out")


def test_fetch_div2k_rejects_unknown_split(tmp_path: Path) -> None:
    with pytest.raises(DownloadError, match="unknown DIV2K split"):
        fetch_div2k(tmp_path, splits=["test"], progress=False, base_url="http://127.0.0.1:9")


def test_cli_data_div2k(server: Server, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from superres.cli import main

    out = tmp_path / "cli"
    assert main(["data", "div2k", "--to", str(out), "--base-url", server.url, "--quiet"]) == 0
    stdout = capsys.readouterr().out
    assert "DIV2K train: 3 images" in stdout and "DIV2K valid: 1 images" in stdout
    assert (out / "DIV2K_train_HR" / "0003.png").is_file()
    assert (out / "DIV2K_valid_HR" / "0001.png").is_file()


def test_cli_data_div2k_single_split_with_progress(server: Server, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from superres.cli import main

    out = tmp_path / "cli"
    assert main(["data", "div2k", "--to", str(out), "--splits", "valid", "--base-url", server.url]) == 0
    captured = capsys.readouterr()
    assert "sha256 " in captured.err
    assert (out / "DIV2K_valid_HR").is_dir() and not (out / "DIV2K_train_HR").exists()


def test_cli_bad_split_is_one_line_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from superres.cli import main

    assert main(["data", "div2k", "--to", str(tmp_path), "--splits", "train,test"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("superres data: error: --splits") and err.count("\n") == 1


def test_cli_data_help_is_light() -> None:
    import subprocess
    import sys

    code = (
        "import sys; from superres.cli import build_parser; build_parser({'data': 'data'}); "
        "bad = [m for m in ('torch', 'numpy', 'superres.datasets', 'superres.download') if m in sys.modules]; "
        "print(bad); sys.exit(1 if bad else 0)"
    )
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert res.returncode == 0, res.stdout + res.stderr
