"""The data sets superres downloads: DIV2K (training) and the x4 benchmark sets (evaluation).

:func:`fetch_div2k` downloads and unpacks the DIV2K HR archives, and
:func:`fetch_benchmarks` Set5, Set14, BSD100 and Urban100 (HR + MATLAB-bicubic x4 LR, one
pinned archive), which ``--data Set5`` then finds by name (:func:`resolve_bench_dir`).
Downloading and unpacking themselves are :mod:`superres.download`'s.

No torch or numpy here: ``superres data`` stays light.
"""

from __future__ import annotations

import os
import shutil
import tarfile
import tempfile
import zipfile
from dataclasses import replace
from pathlib import Path, PurePosixPath
from typing import Iterable

from .download import CHUNK, DownloadError, RemoteFile, download, extract_zip, say

__all__ = [
    "DIV2K",
    "DIV2K_BASE_URL",
    "fetch_div2k",
    "BENCHMARK_SETS",
    "BENCHMARK_ARCHIVE",
    "bench_dir",
    "canonical_set",
    "resolve_bench_dir",
    "extract_benchmarks",
    "fetch_benchmarks",
]

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
                say(f"{folder} already exists, skipping DIV2K {split}")
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
    from .errors import InputError

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
            say(f"{', '.join(wanted)} already in {to_dir}, nothing to download")
        return [to_dir / s for s in wanted]
    if base_url:
        remote = replace(remote, url=base_url.rstrip("/") + "/" + remote.filename)
    archive = download(remote, to_dir, progress=progress, timeout=timeout)
    folders = extract_benchmarks(archive, to_dir, wanted, progress=progress)
    if not keep_archive:
        archive.unlink(missing_ok=True)
        archive.with_name(archive.name + ".sha256").unlink(missing_ok=True)
    return folders
