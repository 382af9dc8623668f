"""Download and unpack data sets (DIV2K; the x4 benchmark sets), resumably and verifiably.

:func:`download` streams one :class:`RemoteFile` with :mod:`urllib` into
``<dest>/<filename>.part``. An interrupted download resumes where it stopped
(HTTP ``Range``), also when the server ignores ranges (it then starts again
from zero). The finished file is checked against its known size and SHA-256
and only then moved into place with :func:`os.replace`, so a file under its
final name is always complete. The SHA-256 actually computed is printed and
written next to the file as ``<filename>.sha256`` (``sha256sum`` format), so
users can pin it.

:func:`extract_member` copies one named member out of a ``.tar.gz`` or
``.zip`` archive (regular files only: no links, no device files, no absolute
or ``..`` paths), verifying its size and SHA-256 while it streams, into a
temporary file renamed into place only when it matches. :func:`extract_zip` unpacks an archive safely (no absolute or ``..`` member
paths) into a temporary folder that is renamed into place when complete;
:func:`fetch_div2k` does both for the DIV2K HR archives, and
:func:`fetch_benchmarks` for Set5, Set14, BSD100 and Urban100 (HR + MATLAB-bicubic
x4 LR, one pinned archive), which ``--data Set5`` then finds by name
(:func:`resolve_bench_dir`). Every failure a user
can fix raises :class:`DownloadError` (a :class:`~superres.errors.SuperResError`)
with a one-line message that says what to do.

No torch or numpy here: ``superres data`` stays light.
"""

from __future__ import annotations

import hashlib
import http.client
import os
import re
import shutil
import sys
import tarfile
import tempfile
import urllib.error
import urllib.request
import zipfile
from dataclasses import dataclass, replace
from pathlib import Path, PurePosixPath, PureWindowsPath
from typing import Any, BinaryIO, Iterable
from zlib import error as zlib_error

from .._version import __version__
from ..errors import SuperResError

__all__ = [
    "RemoteFile",
    "DownloadError",
    "ChecksumError",
    "DIV2K",
    "DIV2K_BASE_URL",
    "download",
    "sha256_file",
    "extract_zip",
    "extract_member",
    "member_problem",
    "verify_file",
    "fetch_div2k",
    "BENCHMARK_SETS",
    "BENCHMARK_ARCHIVE",
    "bench_dir",
    "canonical_set",
    "resolve_bench_dir",
    "extract_benchmarks",
    "fetch_benchmarks",
]

CHUNK = 1 << 20  # 1 MiB per read
USER_AGENT = f"superres/{__version__} (+python-urllib)"


class DownloadError(SuperResError):
    """A file could not be downloaded, verified or unpacked."""


class ChecksumError(DownloadError):
    """A downloaded file does not have the expected size or SHA-256."""


@dataclass(frozen=True)
class RemoteFile:
    """A file to download: where from, its local name, and what it must hash to.

    ``sha256`` (lower-case hex) and ``size`` (bytes) are checked when given;
    ``None`` means unknown (the computed SHA-256 is then only reported).
    """

    url: str
    filename: str
    sha256: str | None = None
    size: int | None = None


DIV2K_BASE_URL = "https://data.vision.ee.ethz.ch/cvl/DIV2K/"

#: The DIV2K high-resolution archives (Agustsson & Timofte, NTIRE 2017), by split.
#: Each zip holds one folder named like the archive (``DIV2K_train_HR/0001.png``
#: ... 800 images; ``DIV2K_valid_HR/`` 100 images).
#: sha256/size are None: they could not be computed when this catalogue was
#: written (no network access). Downloads still print and record the SHA-256 they
#: compute (``<file>.sha256``); pin it here once confirmed from a trusted copy.
DIV2K: dict[str, RemoteFile] = {
    "train": RemoteFile(DIV2K_BASE_URL + "DIV2K_train_HR.zip", "DIV2K_train_HR.zip", None, None),
    "valid": RemoteFile(DIV2K_BASE_URL + "DIV2K_valid_HR.zip", "DIV2K_valid_HR.zip", None, None),
}


#: The standard x4 benchmark sets, as named in papers (and in ``superres eval --data NAME``).
BENCHMARK_SETS: tuple[str, ...] = ("Set5", "Set14", "BSD100", "Urban100")
_SET_ALIASES = {"set5": "Set5", "set14": "Set14", "bsd100": "BSD100", "b100": "BSD100", "urban100": "Urban100"}
_EDSR_FOLDER = {"Set5": "Set5", "Set14": "Set14", "BSD100": "B100", "Urban100": "Urban100"}

#: The EDSR authors' benchmark archive (Lim et al., CVPRW 2017): ``benchmark/{Set5,Set14,B100,Urban100}/``
#: each with ``HR/`` and MATLAB-``imresize`` bicubic ``LR_bicubic/X{2,3,4}/`` (``<name>x4.png``), the
#: LR images the published x4 tables are measured on.
#: Pins, not computed here (this machine cannot reach the server):
#: - SHA-256 and size: recorded and checked against a download in YeapJieShen/single-image-super-resolution
#:   (tests/utils/test_imresize.py and tests/reference/fetch_urban100.py: "SHA-256 of the full
#:   250112000-byte tar: 80c21c33...fd93e8").
#: - Independent cross-reference, the same URL pinned by MD5 4ace41d33c2384b97e6b320cd0afd6ba in
#:   Coloquinte/torchSR (torchsr/datasets/benchmarks.py). Only the SHA-256 and size are checked.
BENCHMARK_ARCHIVE = RemoteFile(
    "https://cv.snu.ac.kr/research/EDSR/benchmark.tar",
    "benchmark.tar",
    sha256="80c21c333bbf6ceb5308b7243761f8284478274413a97b96f1d63e9045fd93e8",
    size=250_112_000,
)


def _say(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def _fmt_bytes(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} GiB"  # unreachable, keeps type checkers happy


def sha256_file(path: str | Path) -> str:
    """SHA-256 (hex) of a file, read in chunks."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(CHUNK), b""):
            h.update(block)
    return h.hexdigest()


def _network_error(remote: RemoteFile, part: Path, dest_dir: Path, reason: object) -> DownloadError:
    have = part.stat().st_size if part.exists() else 0
    kept = f" ({_fmt_bytes(have)} kept in {part})" if have else ""
    return DownloadError(
        f"could not download {remote.url}: {reason}{kept}. Run the same command again to "
        f"resume, or download {remote.filename} manually into {dest_dir} and run it again "
        "(a complete file there is used as is)"
    )


def verify_file(path: Path, remote: RemoteFile, *, delete: bool) -> str:
    """Check size and SHA-256 of ``path``; returns the computed SHA-256.

    On mismatch ``path`` is removed if ``delete`` and :class:`ChecksumError` is raised.
    """
    size = path.stat().st_size
    if remote.size is not None and size != remote.size:
        if delete:
            path.unlink(missing_ok=True)
        raise ChecksumError(
            f"{remote.filename}: size is {size} bytes, expected {remote.size}"
            + ("; the partial file was deleted, run again to download it afresh" if delete else "")
        )
    digest = sha256_file(path)
    if remote.sha256 is not None and digest != remote.sha256.lower():
        if delete:
            path.unlink(missing_ok=True)
        raise ChecksumError(
            f"{remote.filename}: SHA-256 mismatch (got {digest}, expected {remote.sha256.lower()})"
            + ("; the corrupt download was deleted, run again to download it afresh" if delete else "")
        )
    return digest


def _record_sha256(final: Path, digest: str, progress: bool) -> None:
    sidecar = final.with_name(final.name + ".sha256")
    try:
        sidecar.write_text(f"{digest}  {final.name}\n")
    except OSError as e:  # the download itself is fine; just say it could not be recorded
        _say(f"warning: could not write {sidecar}: {e}")
    if progress:
        _say(f"sha256 {digest}  {final.name}")


def _content_range(value: str | None) -> tuple[int | None, int | None]:
    """(first byte, total size) from a ``Content-Range`` header; None where absent or ``*``."""
    m = re.match(r"\s*bytes\s+(\d+|\*)(?:-\d+)?/(\d+|\*)", value or "")
    if not m:
        return None, None
    start = int(m.group(1)) if m.group(1) != "*" else None
    total = int(m.group(2)) if m.group(2) != "*" else None
    return start, total


def _open(remote: RemoteFile, offset: int, timeout: float) -> Any:
    headers = {"User-Agent": USER_AGENT, "Accept-Encoding": "identity"}
    if offset > 0:
        headers["Range"] = f"bytes={offset}-"
    req = urllib.request.Request(remote.url, headers=headers)
    return urllib.request.urlopen(req, timeout=timeout)  # noqa: S310 (http/https/file only by design)


def _stream(resp: Any, out: BinaryIO, bar: Any, part: Path) -> None:
    """Copy ``resp`` into ``out`` chunk by chunk (read errors propagate as network errors)."""
    while True:
        block = resp.read(CHUNK)
        if not block:
            return
        try:
            out.write(block)
        except OSError as e:
            raise DownloadError(f"cannot write {part}: {e} (free some disk space and run again to resume)") from e
        bar.update(len(block))


def download(remote: RemoteFile, dest_dir: str | Path, progress: bool = True, timeout: float = 30) -> Path:
    """Download ``remote`` into ``dest_dir`` (created if needed); returns the final path.

    Resumes ``<filename>.part`` left by an interrupted run. If ``<filename>``
    already exists and matches the known size/SHA-256, nothing is downloaded (a
    file without known checksum is trusted: only verified downloads get its
    name). A mismatching existing file is replaced by a fresh download.
    """
    from tqdm.auto import tqdm  # light, but only needed here

    dest_dir = Path(dest_dir)
    name = remote.filename
    if not name or name != Path(name).name or name in (".", ".."):
        raise DownloadError(f"invalid file name {name!r} for {remote.url}: expected a bare file name")
    try:
        dest_dir.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise DownloadError(f"cannot create {dest_dir}: {e}") from e
    final = dest_dir / name
    part = dest_dir / (name + ".part")

    if final.is_file():
        if remote.sha256 is None and remote.size is None:
            if progress:
                _say(f"{final} already exists, skipping download")
            return final
        try:
            digest = verify_file(final, remote, delete=False)
        except ChecksumError as e:
            _say(f"{e}: downloading it again")
            final.unlink()
        else:
            if progress:
                _say(f"{final} already exists and is verified, skipping download")
            _record_sha256(final, digest, progress=False)
            return final

    restarts = 0
    while True:
        offset = part.stat().st_size if part.is_file() else 0
        if remote.size is not None and offset > remote.size:  # cannot be a prefix of the file
            part.unlink()
            offset = 0
        try:
            if remote.size is not None and offset == remote.size:
                break  # already complete: only verification left
            try:
                resp = _open(remote, offset, timeout)
            except urllib.error.HTTPError as e:
                if e.code != 416 or offset == 0:
                    raise
                # Range not satisfiable: the .part is already whole (or the file changed).
                _, total = _content_range(e.headers.get("Content-Range") if e.headers else None)
                e.close()
                if total is None or total == offset:
                    break
                if restarts:
                    raise
                restarts += 1
                part.unlink()
                continue
            with resp:
                status = resp.status
                length = resp.headers.get("Content-Length")
                length_n = int(length) if length and length.isdigit() else None
                if offset and status == 206:
                    start, total = _content_range(resp.headers.get("Content-Range"))
                    if start != offset:  # not the range we asked for: start over
                        if restarts:
                            raise DownloadError(f"{remote.url}: server sent a range starting at {start}, asked for {offset}")
                        restarts += 1
                        part.unlink()
                        continue
                    if total is None and length_n is not None:
                        total = offset + length_n
                    mode = "ab"
                else:
                    # Plain 200 (server ignored Range, or a fresh download): start from zero.
                    if offset and progress:
                        _say(f"{remote.url}: server does not support resuming, restarting from zero")
                    offset = 0
                    total = length_n
                    mode = "wb"
                if total is None:
                    total = remote.size
                if remote.size is not None and total is not None and total != remote.size:
                    raise ChecksumError(
                        f"{remote.filename}: server reports {total} bytes, expected {remote.size}; "
                        "the URL may point to a different file"
                    )
                with open(part, mode) as out, tqdm(
                    total=total,
                    initial=offset,
                    unit="B",
                    unit_scale=True,
                    unit_divisor=1024,
                    desc=name,
                    disable=not progress,
                    leave=True,
                ) as bar:
                    _stream(resp, out, bar, part)
            got = part.stat().st_size
            if total is not None and got < total:
                raise _network_error(remote, part, dest_dir, f"connection closed after {got} of {total} bytes")
            break
        except urllib.error.HTTPError as e:
            hint = " (check the URL)" if e.code in (401, 403, 404, 410) else ""
            raise _network_error(remote, part, dest_dir, f"HTTP {e.code} {e.reason}{hint}") from e
        except urllib.error.URLError as e:
            raise _network_error(remote, part, dest_dir, e.reason) from e
        except (http.client.HTTPException, TimeoutError, ConnectionError) as e:
            raise _network_error(remote, part, dest_dir, f"{type(e).__name__}: {e}") from e
        except OSError as e:
            if e.filename is not None:  # a local file system error, not the network
                raise DownloadError(f"cannot write {e.filename}: {e.strerror}") from e
            raise _network_error(remote, part, dest_dir, e) from e

    if not part.is_file():
        raise _network_error(remote, part, dest_dir, "nothing was received")
    digest = verify_file(part, remote, delete=True)
    os.replace(part, final)
    _record_sha256(final, digest, progress)
    return final


def member_problem(name: str) -> str | None:
    """Why a zip member name is unsafe to extract, or None if it is fine."""
    if not name:
        return "empty name"
    posix = name.replace("\\", "/")
    if posix.startswith("/") or PureWindowsPath(name).drive or PureWindowsPath(name).root:
        return "absolute path"
    if ".." in PurePosixPath(posix).parts:
        return "'..' in path"
    return None


def extract_zip(path: str | Path, dest_dir: str | Path, *, progress: bool = False) -> Path:
    """Unpack zip ``path`` into ``dest_dir``; returns the folder holding its contents.

    If every member lies in one top-level folder (as in the DIV2K archives),
    that folder becomes ``dest_dir/<folder>``; otherwise the contents go to
    ``dest_dir/<archive stem>``. Extraction happens in a hidden temporary
    folder inside ``dest_dir`` that is renamed into place only when complete,
    so if the result folder exists it is whole and nothing is done again.
    Archives with absolute or ``..`` member paths are rejected.
    """
    path = Path(path)
    dest_dir = Path(dest_dir)
    try:
        zf = zipfile.ZipFile(path)
    except FileNotFoundError as e:
        raise DownloadError(f"{path}: no such archive") from e
    except (zipfile.BadZipFile, OSError) as e:
        raise DownloadError(
            f"{path}: not a readable zip archive ({e}); delete it and download it again"
        ) from e
    with zf:
        infos = zf.infolist()
        for info in infos:
            problem = member_problem(info.filename)
            if problem:
                raise DownloadError(f"{path}: refusing to extract unsafe member {info.filename!r} ({problem})")
        parts = [PurePosixPath(i.filename.replace("\\", "/")).parts for i in infos]
        tops = {p[0] for p in parts if p}
        # one top-level folder: every member is inside it, or is that folder's own entry
        single = len(tops) == 1 and all(len(p) > 1 or i.is_dir() for p, i in zip(parts, infos))
        top = next(iter(tops)) if single else path.stem
        target = dest_dir / top
        if target.is_dir():
            return target
        if target.exists():
            raise DownloadError(f"cannot extract {path}: {target} exists and is not a folder")
        try:
            dest_dir.mkdir(parents=True, exist_ok=True)
            tmp = Path(tempfile.mkdtemp(prefix=f".{top}.extract-", dir=dest_dir))
        except OSError as e:
            raise DownloadError(f"cannot create a folder in {dest_dir}: {e}") from e
        try:
            from tqdm.auto import tqdm

            with tqdm(infos, desc=f"extract {path.name}", unit="file", disable=not progress) as bar:
                for info in bar:
                    zf.extract(info, tmp)
            os.rename(tmp / top if single else tmp, target)
        except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError) as e:
            raise DownloadError(f"{path}: corrupt archive ({e}); delete it and download it again") from e
        except OSError as e:
            raise DownloadError(f"cannot extract {path} into {dest_dir}: {e}") from e
        finally:
            if tmp.exists():
                shutil.rmtree(tmp, ignore_errors=True)
    return target


def _open_member(archive: Path, member: str) -> tuple[Any, Any]:
    """(container, readable stream) of ``member`` in a .tar.gz/.tgz/.tar or .zip/.whl archive."""
    problem = member_problem(member)
    if problem:
        raise DownloadError(f"refusing to extract {member!r} from {archive} ({problem})")
    if zipfile.is_zipfile(archive):
        zf = zipfile.ZipFile(archive)
        try:
            info = zf.getinfo(member)
        except KeyError:
            zf.close()
            raise DownloadError(f"{archive}: has no member {member!r} (a different archive?)") from None
        mode = (info.external_attr >> 16) & 0o170000
        if info.is_dir() or mode not in (0, 0o100000):  # 0: made on a system without Unix modes
            zf.close()
            raise DownloadError(f"{archive}: member {member!r} is not a regular file; refusing to extract it")
        return zf, zf.open(info)
    try:
        tf = tarfile.open(archive, "r:*")
    except (tarfile.TarError, OSError) as e:
        raise DownloadError(f"{archive}: not a readable tar or zip archive ({e}); "
                            "delete it and download it again") from e
    info = None
    for candidate in (member, "./" + member):  # archives made with `tar -C dir .` prefix "./"
        try:
            info = tf.getmember(candidate)
            break
        except KeyError:
            continue
    if info is None:
        tf.close()
        raise DownloadError(f"{archive}: has no member {member!r} (a different archive?)")
    if not info.isreg():  # symlinks, hard links, devices, folders
        tf.close()
        raise DownloadError(f"{archive}: member {member!r} is not a regular file; refusing to extract it")
    stream = tf.extractfile(info)
    if stream is None:
        tf.close()
        raise DownloadError(f"{archive}: cannot read member {member!r}")
    return tf, stream


def extract_member(archive: str | Path, member: str, dest: str | Path, expected: RemoteFile) -> Path:
    """Copy ``member`` of ``archive`` to ``dest`` if it matches ``expected``'s size and SHA-256.

    Nothing but ``dest`` is written (via a temporary file in its folder, renamed
    into place after the check), so member paths can never escape the target
    folder; links and other non-regular members are refused. On a mismatch the
    temporary file is deleted and :class:`ChecksumError` is raised.
    """
    from ..fileio import atomic_write

    archive, dest = Path(archive), Path(dest)
    container, stream = _open_member(archive, member)

    def copy_checked(out: BinaryIO) -> None:
        h = hashlib.sha256()
        size = 0
        for block in iter(lambda: stream.read(CHUNK), b""):
            h.update(block)
            size += len(block)
            out.write(block)
        digest = h.hexdigest()
        if expected.size is not None and size != expected.size:
            raise ChecksumError(f"{archive.name}:{member}: size is {size} bytes, expected {expected.size}; "
                                "not extracted")
        if expected.sha256 is not None and digest != expected.sha256.lower():
            raise ChecksumError(f"{archive.name}:{member}: SHA-256 mismatch (got {digest}, expected "
                                f"{expected.sha256.lower()}); not extracted")

    try:
        with container, stream:
            atomic_write(dest, copy_checked)  # a temporary file in dest's folder, renamed after the check
    except (tarfile.TarError, zipfile.BadZipFile, EOFError, zlib_error) as e:
        raise DownloadError(f"{archive}: corrupt archive ({e}); delete it and download it again") from e
    except OSError as e:  # OutputError from atomic_write included
        raise DownloadError(f"cannot extract {member!r} to {dest}: {e.strerror or e}") from e
    return dest


def fetch_div2k(
    to_dir: str | Path,
    splits: Iterable[str] = ("train", "valid"),
    progress: bool = True,
    base_url: str | None = None,
    *,
    keep_archives: bool = True,
    timeout: float = 30,
) -> list[Path]:
    """Download and unpack the DIV2K HR archives; returns the image folders, in ``splits`` order.

    ``to_dir/DIV2K_<split>_HR/`` holds the PNGs. A split whose folder already
    exists is skipped. ``base_url`` replaces the official server (a mirror, or
    a local server in tests); the catalogue's checksums still apply.
    ``keep_archives=False`` deletes each zip once unpacked (saves ~3.9 GB).
    """
    splits = list(splits)
    unknown = [s for s in splits if s not in DIV2K]
    if unknown or not splits:
        raise DownloadError(
            f"unknown DIV2K split(s) {', '.join(map(repr, unknown)) or '(none given)'}: choose from {', '.join(DIV2K)}"
        )
    to_dir = Path(to_dir)
    out: list[Path] = []
    for split in dict.fromkeys(splits):  # de-duplicated, order kept
        remote = DIV2K[split]
        if base_url:
            remote = replace(remote, url=base_url.rstrip("/") + "/" + remote.filename)
        folder = to_dir / Path(remote.filename).stem
        if folder.is_dir():
            if progress:
                _say(f"{folder} already exists, skipping DIV2K {split}")
            out.append(folder)
            continue
        archive = download(remote, to_dir, progress=progress, timeout=timeout)
        folder = extract_zip(archive, to_dir, progress=progress)
        if not keep_archives:
            archive.unlink(missing_ok=True)
        out.append(folder)
    return out


# --- the x4 benchmark sets ------------------------------------------------------------------------

def bench_dir() -> Path:
    """Where ``superres data bench`` puts the sets by default, and where ``--data Set5`` looks.

    ``$SUPERRES_BENCH`` if set, else ``$XDG_DATA_HOME/superres/bench`` (``~/.local/share/superres/bench``).
    """
    env = os.environ.get("SUPERRES_BENCH")
    if env:
        return Path(env).expanduser()
    base = os.environ.get("XDG_DATA_HOME") or os.path.join("~", ".local", "share")
    return Path(base).expanduser() / "superres" / "bench"


def canonical_set(name: str) -> str | None:
    """``"set5"``, ``"B100"``... -> the set's name (``"Set5"``, ``"BSD100"``); None if not a known set."""
    return _SET_ALIASES.get(name.strip().lower())


def resolve_bench_dir(text: str | os.PathLike) -> Path:
    """A ``--data``/``--eval`` argument as a folder: an existing folder as is, else a set name in :func:`bench_dir`.

    A known set name (Set5, Set14, BSD100/B100, Urban100) that is not downloaded yet raises
    :class:`~superres.errors.InputError` saying how to get it; anything else is returned unchanged
    (the caller reports a missing folder).
    """
    from ..errors import InputError

    p = Path(text).expanduser()
    if p.is_dir() or os.sep in str(text) or (os.altsep and os.altsep in str(text)):
        return p
    root = bench_dir()
    name = canonical_set(str(text)) or str(text)
    if (root / name).is_dir():
        return root / name
    if canonical_set(str(text)):
        raise InputError(
            f"{text} is not a folder here and the benchmark set {name} is not in {root} "
            "(set SUPERRES_BENCH to choose that folder); run `superres data bench` to download "
            f"{', '.join(BENCHMARK_SETS)} there"
        )
    return p


def _parse_sets(sets: Iterable[str]) -> list[str]:
    names, bad = [], []
    for s in sets:
        c = canonical_set(s)
        (names if c else bad).append(c or s)
    if bad or not names:
        raise DownloadError(
            f"unknown benchmark set(s) {', '.join(map(repr, bad)) or '(none given)'}: "
            f"choose from {', '.join(BENCHMARK_SETS)}"
        )
    return list(dict.fromkeys(names))


def _bench_member(name: str) -> tuple[str, str, str] | None:
    """(set, "HR" | "LR_bicubic_x4", file name) for an archive member we keep, else None."""
    parts = PurePosixPath(name.replace("\\", "/")).parts
    if parts and parts[0] == ".":
        parts = parts[1:]
    if len(parts) < 4 or parts[0] != "benchmark":
        return None
    by_folder = {v: k for k, v in _EDSR_FOLDER.items()}
    set_name, rest, fname = by_folder.get(parts[1]), parts[2:-1], parts[-1]
    if set_name is None or fname.startswith(".") or not fname.lower().endswith(".png"):
        return None
    if rest == ("HR",):
        return set_name, "HR", fname
    if rest == ("LR_bicubic", "X4"):
        stem = fname[:-4]
        # EDSR names the LR image <name>x4.png; superres pairs LR and HR by the same file name
        return set_name, "LR_bicubic_x4", (stem[:-2] if stem.endswith("x4") else stem) + ".png"
    return None


def extract_benchmarks(archive: str | Path, dest_dir: str | Path, sets: Iterable[str] = BENCHMARK_SETS,
                       *, progress: bool = False) -> list[Path]:
    """Unpack the x4 sets of the EDSR ``benchmark.tar`` into ``dest_dir/<Set>/{HR,LR_bicubic_x4}``.

    Only regular ``.png`` files under ``benchmark/<set>/HR/`` and ``benchmark/<set>/LR_bicubic/X4/``
    are read, and each is written under a name built from its base name alone (no member path is
    ever used as a path). Each set is assembled in a hidden temporary folder and renamed into place
    when complete; a set whose folder exists is left alone.
    """
    from tqdm.auto import tqdm

    archive, dest_dir = Path(archive), Path(dest_dir)
    wanted = _parse_sets(sets)
    todo = [s for s in wanted if not (dest_dir / s).is_dir()]
    if not todo:
        return [dest_dir / s for s in wanted]
    for s in todo:
        if (dest_dir / s).exists():
            raise DownloadError(f"cannot unpack {s}: {dest_dir / s} exists and is not a folder")
    try:
        dest_dir.mkdir(parents=True, exist_ok=True)
        tmps = {s: Path(tempfile.mkdtemp(prefix=f".{s}.extract-", dir=dest_dir)) for s in todo}
    except OSError as e:
        raise DownloadError(f"cannot create a folder in {dest_dir}: {e}") from e
    try:
        try:
            tf = tarfile.open(archive)
        except (tarfile.TarError, OSError) as e:
            raise DownloadError(f"{archive}: not a readable tar archive ({e}); delete it and run again") from e
        counts = {s: {"HR": 0, "LR_bicubic_x4": 0} for s in todo}
        with tf, tqdm(desc=f"extract {archive.name}", unit="file", disable=not progress) as bar:
            for member in tf:
                kept = _bench_member(member.name)
                if kept is None or kept[0] not in tmps or not member.isfile():
                    continue
                set_name, sub, fname = kept
                out = tmps[set_name] / sub / fname
                out.parent.mkdir(exist_ok=True)
                src = tf.extractfile(member)
                if src is None:
                    continue
                with src, open(out, "wb") as f:
                    shutil.copyfileobj(src, f, CHUNK)
                counts[set_name][sub] += 1
                bar.update(1)
        for s in todo:
            if not counts[s]["HR"] or not counts[s]["LR_bicubic_x4"]:
                raise DownloadError(
                    f"{archive}: holds no benchmark/{_EDSR_FOLDER[s]}/HR and LR_bicubic/X4 images; "
                    "is this the EDSR benchmark.tar?"
                )
            os.rename(tmps[s], dest_dir / s)
    except (tarfile.TarError, EOFError, zipfile.BadZipFile) as e:
        raise DownloadError(f"{archive}: corrupt archive ({e}); delete it and run again") from e
    except OSError as e:
        raise DownloadError(f"cannot unpack {archive} into {dest_dir}: {e}") from e
    finally:
        for tmp in tmps.values():
            if tmp.exists():
                shutil.rmtree(tmp, ignore_errors=True)
    return [dest_dir / s for s in wanted]


def fetch_benchmarks(
    to_dir: str | Path | None = None,
    sets: Iterable[str] = BENCHMARK_SETS,
    progress: bool = True,
    base_url: str | None = None,
    *,
    keep_archive: bool = True,
    timeout: float = 30,
    remote: RemoteFile = BENCHMARK_ARCHIVE,
) -> list[Path]:
    """Download (resumably, SHA-256 checked) and unpack the x4 benchmark sets; returns their folders.

    ``to_dir`` defaults to :func:`bench_dir`. Sets already unpacked are skipped, and nothing is
    downloaded when all are. ``base_url`` replaces the server (a mirror, or a local server in
    tests): the pinned size and SHA-256 still apply, so a different file is refused.
    """
    to_dir = Path(to_dir).expanduser() if to_dir is not None else bench_dir()
    wanted = _parse_sets(sets)
    if all((to_dir / s).is_dir() for s in wanted):
        if progress:
            _say(f"{', '.join(wanted)} already in {to_dir}, nothing to download")
        return [to_dir / s for s in wanted]
    if base_url:
        remote = replace(remote, url=base_url.rstrip("/") + "/" + remote.filename)
    archive = download(remote, to_dir, progress=progress, timeout=timeout)
    folders = extract_benchmarks(archive, to_dir, wanted, progress=progress)
    if not keep_archive:
        archive.unlink(missing_ok=True)
        archive.with_name(archive.name + ".sha256").unlink(missing_ok=True)
    return folders
