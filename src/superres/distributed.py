"""Batch upscaling on a Ray cluster: ``superres upscale SRC -o DST --ray [ADDRESS]``.

Needs the optional extra ``pip install 'superres[ray]'`` (Ray Data). The shape:

* the driver lists the inputs (a local folder, files, glob patterns, or an
  object-store URI that pyarrow understands: ``s3://``, ``gs://``, ``file://``
  ...) and plans one output per input, the way ``superres upscale`` names them;
* outputs that already exist are skipped there (writes are atomic, so a file at
  its final name is complete), and temporary files left by an interrupted run
  are removed, so a rerun redoes only what is missing;
* the rest goes into a Ray dataset of paths, and ``map_batches`` runs
  :class:`UpscaleWorker`, a callable class that loads the model once per actor
  (an actor pool of ``workers``, one GPU each when the cluster has GPUs);
* each actor does the local command's per-file work (:func:`upscale_file`:
  :func:`~superres.io.images.read_image`, :func:`~superres.api.upscale_picture`,
  :func:`~superres.io.images.write_image`; GIFs through
  :func:`~superres.animate.animate_file`), so the outputs are byte for byte the
  local command's, and returns one small record per file;
* a file that fails is one ``failed`` record with its message, never a failed
  job; the driver streams the records into a JSONL manifest.

The Python entry point is :func:`upscale_dataset`. Local paths must be visible
at the same absolute path on every node (a shared filesystem) when joining a
multi-node cluster; object-store URIs work from anywhere.
"""

from __future__ import annotations

import glob
import json
import os
import socket
import sys
import tempfile
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable

from .errors import InputError, OutputError, SuperResError
from .fileio import file_mode, temporary_path
from .io.images import DEFAULT_MAX_PIXELS, OUTPUT_FORMATS
from .io.images import UPSCALE_INPUT_EXTENSIONS as INPUT_EXTENSIONS

__all__ = ["BatchOptions", "BatchSummary", "UpscaleWorker", "upscale_dataset", "upscale_file", "plan_batch",
           "summarize", "records_from_manifest", "RECORD_FIELDS", "MANIFEST_NAME", "RAY_INSTALL_HINT"]

RAY_INSTALL_HINT = "pip install 'superres[ray]'"
#: written into DST unless another path (or none) is asked for
MANIFEST_NAME = "superres-manifest.jsonl"
#: inputs the driver picks up (the extensions ``superres upscale`` reads from a folder)
#: inputs that go through the animation pipeline (output keeps the extension: every frame, durations, loop)
ANIMATION_EXTENSIONS = (".gif",)
#: pyarrow filesystems whose writes appear whole or not at all (no rename needed)
_OBJECT_STORES = ("s3", "gcs", "abfs")
#: one record per file, in this order in the manifest
RECORD_FIELDS = ("input", "output", "status", "error", "seconds", "size", "pixels_in", "pixels_out", "frames",
                 "warnings", "worker", "peak_rss_mb")


@dataclass(frozen=True)
class BatchOptions:
    """Per-file settings; each has the meaning of the ``superres upscale`` option of the same name."""

    model: str | None = None  # None: the default model (srgan-x4, or the best installed one)
    tile: int | None = None
    tile_pad: int | None = None
    device: str = "auto"
    precision: str = "auto"
    backend: str = "torch"
    suffix: str = "_x4"
    out_format: str | None = None  # stills: png (default), jpg, webp, tif, bmp; GIFs stay GIF
    outscale: float | None = None
    alpha: str = "bicubic"
    quality: int | None = None
    keep_metadata: bool = False
    max_pixels: int | None = DEFAULT_MAX_PIXELS
    overwrite: bool = False
    color_fix: bool = False


# ---------------------------------------------------------------------------
# where files live: the local filesystem, or a pyarrow filesystem
# ---------------------------------------------------------------------------

@dataclass(frozen=True)
class _Place:
    """A folder or file: ``fs`` None means the local filesystem (``path`` absolute)."""

    fs: Any
    path: str
    shown: str  # as the user wrote it, for messages and records

    @property
    def local(self) -> bool:
        return self.fs is None

    def show(self, path: str) -> str:
        """``path`` (below :attr:`path`) in the user's spelling."""
        if path == self.path:
            return self.shown
        rel = path[len(self.path):].lstrip("/" if not self.local else os.sep)
        return self.shown.rstrip("/") + "/" + rel if not self.local else os.path.join(self.shown, rel)


def _is_uri(text: str) -> bool:
    head, sep, _ = text.partition("://")
    return bool(sep) and head.isascii() and head.replace("+", "").isalnum()


def _place(target, filesystem=None) -> _Place:
    """Resolve a local path, a URI or a path in ``filesystem`` (a ``pyarrow.fs.FileSystem``)."""
    text = os.fspath(target)
    if filesystem is not None:
        import pyarrow.fs as pafs

        if isinstance(filesystem, pafs.LocalFileSystem):
            return _Place(None, os.path.abspath(text), text)
        return _Place(filesystem, text.rstrip("/") or "/", text)
    if _is_uri(text):
        import pyarrow.fs as pafs

        try:
            fs, path = pafs.FileSystem.from_uri(text)
        except Exception as e:  # noqa: BLE001 - pyarrow raises ArrowInvalid/OSError/ValueError by scheme
            raise InputError(f"{text}: not a location pyarrow can open ({_first_line(e)}); use a local "
                             "folder or an s3://, gs://, hdfs:// or file:// URI") from None
        if isinstance(fs, pafs.LocalFileSystem):  # file:// is the local filesystem: plain atomic writes
            return _Place(None, os.path.abspath(path), text)
        return _Place(fs, path.rstrip("/"), text)
    return _Place(None, os.path.abspath(text), text)


def _first_line(e: BaseException) -> str:
    text = str(e).strip()
    return text.splitlines()[0] if text else type(e).__name__


def _info(place: _Place, path: str) -> tuple[str, int]:
    """("file" | "dir" | "missing", size) of ``path``."""
    if place.local:
        try:
            st = os.stat(path)
        except FileNotFoundError:
            return "missing", 0
        except OSError as e:
            raise InputError(f"{place.show(path)}: cannot read: {e.strerror or e}") from None
        return ("dir" if os.path.isdir(path) else "file"), st.st_size
    import pyarrow.fs as pafs

    try:
        fi = place.fs.get_file_info(path)
    except Exception as e:  # noqa: BLE001 - network/permission errors of any filesystem
        raise InputError(f"{place.show(path)}: cannot read: {_first_line(e)}") from None
    kind = {pafs.FileType.File: "file", pafs.FileType.Directory: "dir"}.get(fi.type, "missing")
    return kind, fi.size or 0


def _walk(place: _Place, root: str, recursive: bool) -> list[tuple[str, int]]:
    """(path, size) of every file below ``root`` (sorted)."""
    out: list[tuple[str, int]] = []
    if place.local:
        for dirpath, dirnames, filenames in os.walk(root):
            dirnames.sort()
            for name in filenames:
                p = os.path.join(dirpath, name)
                try:
                    out.append((p, os.stat(p).st_size))
                except OSError:
                    continue  # vanished while listing
            if not recursive:
                break
        return sorted(out)
    import pyarrow.fs as pafs

    try:
        infos = place.fs.get_file_info(pafs.FileSelector(root, recursive=recursive, allow_not_found=True))
    except Exception as e:  # noqa: BLE001
        raise InputError(f"{place.show(root)}: cannot list: {_first_line(e)}") from None
    return sorted((fi.path, fi.size or 0) for fi in infos if fi.type == pafs.FileType.File)


def _join(place: _Place, *parts: str) -> str:
    if place.local:
        return os.path.join(*parts)
    return "/".join(p.strip("/") if i else p.rstrip("/") for i, p in enumerate(parts) if p)


def _split(place: _Place, path: str) -> tuple[str, str]:
    if place.local:
        return os.path.split(path)
    head, _, tail = path.rpartition("/")
    return head, tail


def _hidden(rel: str) -> bool:
    """Dot-files and dot-folders (macOS ._* files, temporary .part files) are never inputs."""
    return any(part.startswith(".") for part in rel.replace(os.sep, "/").split("/"))


# ---------------------------------------------------------------------------
# planning (on the driver)
# ---------------------------------------------------------------------------

@dataclass
class _Plan:
    jobs: list[dict]  # to run on the cluster
    done: list[dict]  # records decided on the driver (skipped outputs, unusable inputs, clashes)
    removed_parts: int  # temporary files of an interrupted run, removed
    dst: _Place
    src_fs: list  # the pyarrow filesystems of non-local inputs; a job's "fs" indexes it (-1: local)


def _record(src: str, dst: str | None, status: str, error: str | None = None, **kw) -> dict:
    rec = dict.fromkeys(RECORD_FIELDS)
    rec.update(input=src, output=dst, status=status, error=error, seconds=0.0, size=0, pixels_in=0,
               pixels_out=0, frames=0, warnings=None, worker=None, peak_rss_mb=0.0)
    rec.update(kw)
    return rec


def plan_batch(inputs, dst, opts: BatchOptions = BatchOptions(), *, recursive: bool = False,
               filesystem=None, dst_filesystem=None, manifest_name: str | None = MANIFEST_NAME) -> _Plan:
    """List the inputs and decide each one's output, on the driver (no Ray needed).

    ``inputs``: a folder, a file, a glob pattern (local only) or a URI, or a list
    of them. Returns the jobs still to run and the records already decided.
    """
    items = [inputs] if isinstance(inputs, (str, os.PathLike)) else list(inputs)
    if not items:
        raise InputError("no inputs given; pass a folder, files or a URI")
    ext = "." + (opts.out_format or "png").lower().lstrip(".")
    if ext not in OUTPUT_FORMATS:
        raise OutputError(f"unknown output format {opts.out_format!r}; use one of "
                          f"{', '.join(sorted(e.lstrip('.') for e in OUTPUT_FORMATS))}")
    out = _place(dst, dst_filesystem)
    kind, _ = _info(out, out.path)
    if kind == "file":
        raise OutputError(f"-o {out.shown} is a file; distributed runs write into a folder (or URI prefix)")
    if kind == "missing" and os.path.splitext(out.path)[1].lower() in OUTPUT_FORMATS:
        raise OutputError(f"-o {out.shown} looks like a file name; distributed runs write into a folder")

    found: list[tuple[_Place, str, str]] = []  # (place, file path, path relative to its base folder)
    done: list[dict] = []
    for item in items:
        text = os.fspath(item)
        if filesystem is None and not _is_uri(text) and any(ch in text for ch in "*?[") \
                and not os.path.exists(text):
            matches = sorted(glob.glob(text, recursive=recursive))
            files = [m for m in matches if os.path.isfile(m)]
            if not files:
                done.append(_record(text, None, "failed", f"{text}: the pattern matches "
                                    f"{'only folders' if matches else 'nothing'}; no image files to upscale"))
            for f in files:
                p = _place(f)
                found.append((p, p.path, os.path.basename(p.path)))
            continue
        src = _place(text, filesystem)
        kind, _ = _info(src, src.path)
        if kind == "missing":
            done.append(_record(src.shown, None, "failed", f"{src.shown}: no such file or folder"))
        elif kind == "file":
            found.append((src, src.path, _split(src, src.path)[1]))
        else:
            if _same_place(src, out):
                raise OutputError(f"-o {out.shown} is the input folder; choose another folder (outputs "
                                  "written beside the inputs would become inputs of the next run)")
            n0 = len(found)
            for path, _size in _walk(src, src.path, recursive):
                if _below(src, path, out):
                    continue  # earlier results when the output folder lies inside this one
                rel = path[len(src.path):].lstrip("/" if not src.local else os.sep)
                if _hidden(rel) or os.path.splitext(rel)[1].lower() not in INPUT_EXTENSIONS:
                    continue
                found.append((src, path, rel))
            if len(found) == n0:
                hint = "" if recursive else " (use --recursive for sub-folders)"
                done.append(_record(src.shown, None, "failed", f"{src.shown}: is a folder with no images "
                                    f"({', '.join(sorted(INPUT_EXTENSIONS))}){hint}"))

    existing = dict(_walk(out, out.path, True)) if kind == "dir" else {}
    inputs_seen: set[tuple[int, str]] = set()
    claimed: dict[str, str] = {}
    all_inputs = {(id(p.fs), path) for p, path, _ in found}
    filesystems: list = []
    jobs: list[dict] = []
    wanted: set[str] = set()
    for src, path, rel in found:
        key = (id(src.fs), path)
        if key in inputs_seen:  # a file named twice is done once
            continue
        inputs_seen.add(key)
        rel_dir, name = os.path.split(rel.replace(os.sep, "/"))
        stem, in_ext = os.path.splitext(name)
        animated = in_ext.lower() in ANIMATION_EXTENSIONS
        target = _join(out, out.path, *([rel_dir] if rel_dir else []), f"{stem}{opts.suffix}"
                       f"{in_ext.lower() if animated else ext}")
        shown_in, shown_out = src.show(path), out.show(target)
        wanted.add(target)
        if (id(out.fs), target) in all_inputs:
            done.append(_record(shown_in, shown_out, "failed", f"{shown_in}: the output {shown_out} is an input "
                                "of this run; choose another -o or --suffix (inputs are never overwritten)"))
            continue
        if target in claimed:
            done.append(_record(shown_in, shown_out, "failed", f"{shown_in}: the output {shown_out} would also "
                                f"be written from {claimed[target]}; give the inputs different names"))
            continue
        claimed[target] = shown_in
        size = existing.get(target)
        if size and not opts.overwrite:  # atomic writes: a file at its final name is complete
            done.append(_record(shown_in, shown_out, "skipped", size=size))
            continue
        if not src.local and not any(f is src.fs for f in filesystems):
            filesystems.append(src.fs)
        jobs.append({"src": path, "dst": target, "src_shown": shown_in, "dst_shown": shown_out, "animated": animated,
                     "fs": -1 if src.local else next(i for i, f in enumerate(filesystems) if f is src.fs),
                     # a 0-byte file at the output name is not a finished output: replace it
                     "overwrite": opts.overwrite or size == 0})
    if manifest_name:
        wanted.add(_join(out, out.path, manifest_name))
    removed = _remove_partials(out, existing, wanted)
    return _Plan(jobs, done, removed, out, filesystems)


def _same_place(a: _Place, b: _Place) -> bool:
    if a.local and b.local:
        return os.path.realpath(a.path) == os.path.realpath(b.path)
    return a.fs is b.fs and a.path.rstrip("/") == b.path.rstrip("/")


def _below(src: _Place, path: str, out: _Place) -> bool:
    if src.local != out.local or (not src.local and src.fs is not out.fs):
        return False
    root = out.path.rstrip("/" if not out.local else os.sep) + ("/" if not out.local else os.sep)
    if not (root.startswith(src.path.rstrip("/" if not src.local else os.sep)) and root != src.path):
        return False
    return path.startswith(root)


def _remove_partials(out: _Place, existing: dict[str, int], wanted: set[str]) -> int:
    """Delete ``.<name>.*.part`` files that an interrupted run left next to the outputs it was writing."""
    removed = 0
    for path in existing:
        folder, name = _split(out, path)
        if not (name.startswith(".") and name.endswith(".part")):
            continue
        target_name = name[1:-len(".part")].rsplit(".", 1)[0]  # .NAME.RANDOM.part -> NAME
        if _join(out, folder, target_name) not in wanted:
            continue  # not ours: leave it alone
        try:
            if out.local:
                os.unlink(path)
            else:
                out.fs.delete_file(path)
            removed += 1
        except (OSError, FileNotFoundError):
            continue
    return removed


# ---------------------------------------------------------------------------
# the per-file work (in each actor)
# ---------------------------------------------------------------------------

def _peak_rss_mb() -> float:
    try:
        import resource

        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # KiB on Linux
    except (ImportError, OSError):  # pragma: no cover - not on Windows
        return 0.0


def upscale_file(src: str, dst: str, upscaler, opts: BatchOptions = BatchOptions(), *, animated: bool = False,
                 overwrite: bool | None = None, model_name: str | None = None) -> dict:
    """The local command's work for one local file, as a record (never raises for a bad input).

    Stills: :func:`read_image` -> :func:`upscale_picture` -> :func:`write_image`
    (atomic), exactly as ``superres upscale`` does; animations:
    :func:`~superres.animate.animate_file`, exactly as ``superres animate`` does.
    """
    from .api import upscale_picture
    from .io.images import check_output_path, read_image, write_image

    overwrite = opts.overwrite if overwrite is None else overwrite
    rec = _record(src, dst, "done")
    t0 = time.perf_counter()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        warnings.filterwarnings("ignore", message=".*NumPy array is not writable.*")
        try:
            if animated:
                from .animate import AnimateOptions, animate_file

                rep = animate_file(src, dst, AnimateOptions(
                    model=model_name or opts.model, tile=opts.tile, tile_pad=opts.tile_pad, device=opts.device,
                    precision=opts.precision, backend=opts.backend, quality=opts.quality, overwrite=overwrite,
                    max_pixels=opts.max_pixels, quiet=True, progress=False, color_fix=opts.color_fix))
                w, h = rep.lr_size
                ow, oh = rep.hr_size
                rec.update(frames=rep.frames, pixels_in=w * h * rep.frames, pixels_out=ow * oh * rep.frames)
            else:
                check_output_path(dst, overwrite)
                pic = read_image(src, max_pixels=opts.max_pixels)
                out = upscale_picture(pic, upscaler, alpha=opts.alpha, outscale=opts.outscale,
                                      max_pixels=opts.max_pixels, color_fix=opts.color_fix)
                write_image(out, dst, quality=opts.quality, overwrite=overwrite, keep_metadata=opts.keep_metadata)
                rec.update(frames=1, pixels_in=pic.size[0] * pic.size[1], pixels_out=out.size[0] * out.size[1])
            rec["size"] = os.path.getsize(dst)
        except SuperResError as e:
            rec.update(status="failed", error=str(e) if src in str(e) else f"{src}: {e}")
        except MemoryError:
            rec.update(status="failed", error=f"{src}: out of memory; use a smaller --tile")
        except (RuntimeError, ValueError, OSError) as e:  # not expected: recorded, and the rest go on
            first = _first_line(e)
            msg = "out of memory; use a smaller --tile" if "out of memory" in first.lower() else \
                f"failed ({type(e).__name__}: {first})"
            rec.update(status="failed", error=f"{src}: {msg}")
    notes = [str(w.message) for w in caught]
    rec.update(seconds=time.perf_counter() - t0, warnings="; ".join(notes) if notes else None)
    return rec


def _run_job(job: dict, upscaler, opts: BatchOptions, src_fs: list, dst_fs, model_name: str) -> dict:
    """One planned file: stage it through a local folder when the input or output is not local."""
    src, dst = job["src"], job["dst"]
    fs = src_fs[job["fs"]] if job["fs"] >= 0 else None
    overwrite = bool(job["overwrite"])
    shown = {src: job["src_shown"], dst: job["dst_shown"]}
    if not overwrite and _exists(dst_fs, dst):  # another run wrote it since the plan was made
        return _record(job["src_shown"], job["dst_shown"], "skipped", size=_size(dst_fs, dst))
    with tempfile.TemporaryDirectory(prefix="superres-") as tmp:
        local_src, local_dst = src, dst
        try:
            if fs is not None:
                local_src = os.path.join(tmp, "in", src.rpartition("/")[2])
                os.makedirs(os.path.dirname(local_src))
                _download(fs, src, local_src)
            if dst_fs is not None:
                local_dst = os.path.join(tmp, "out", dst.rpartition("/")[2])
        except (OSError, InputError) as e:
            return _record(job["src_shown"], job["dst_shown"], "failed",
                           f"{job['src_shown']}: cannot read: {_first_line(e)}")
        shown[local_src], shown[local_dst] = job["src_shown"], job["dst_shown"]
        rec = upscale_file(local_src, local_dst, upscaler, opts, animated=job["animated"], overwrite=overwrite,
                           model_name=model_name)
        if rec["status"] == "done" and dst_fs is not None:
            try:
                _upload(dst_fs, local_dst, dst)
            except OSError as e:
                rec.update(status="failed", error=f"{job['dst_shown']}: cannot write: {_first_line(e)}")
    for key in ("input", "output", "error", "warnings"):  # staging paths -> the user's names
        if rec[key]:
            for real, user in sorted(shown.items(), key=lambda kv: -len(kv[0])):
                rec[key] = rec[key].replace(real, user)
    return rec


def _plain(v):
    """A NumPy scalar from a Ray batch as the Python value (JSON-ready)."""
    return v.item() if hasattr(v, "item") else v


def _exists(fs, path: str) -> bool:
    if fs is None:
        return os.path.exists(path)
    import pyarrow.fs as pafs

    return fs.get_file_info(path).type != pafs.FileType.NotFound


def _size(fs, path: str) -> int:
    if fs is None:
        return os.path.getsize(path)
    return fs.get_file_info(path).size or 0


def _download(fs, path: str, local: str) -> None:
    with fs.open_input_stream(path) as f, open(local, "wb") as g:
        while chunk := f.read(1 << 22):
            g.write(chunk)


def _upload(fs, local: str, path: str) -> None:
    """Copy a finished local file to ``path``; nothing appears at ``path`` unless it is whole.

    Object stores publish an object only when its upload completes; other
    filesystems get a temporary ``.<name>.<random>.part`` renamed into place.
    """
    folder, name = path.rpartition("/")[0], path.rpartition("/")[2]
    if folder:
        fs.create_dir(folder, recursive=True)
    target = path if fs.type_name in _OBJECT_STORES else \
        f"{folder}/.{name}.{os.urandom(4).hex()}.part" if folder else f".{name}.{os.urandom(4).hex()}.part"
    try:
        with open(local, "rb") as f, fs.open_output_stream(target) as g:
            while chunk := f.read(1 << 22):
                g.write(chunk)
        if target != path:
            fs.move(target, path)
    except BaseException:
        if target != path:
            try:
                fs.delete_file(target)
            except OSError:
                pass  # already gone; a rerun removes any leftover
        raise


class UpscaleWorker:
    """The callable class behind ``map_batches``: loads the model once, then upscales one batch of paths."""

    def __init__(self, opts: BatchOptions, model_name: str, src_fs: list | None = None, dst_fs=None,
                 threads: int | None = None):
        import torch

        from .api import make_upscaler_checked

        if threads:
            torch.set_num_threads(int(threads))
        self.opts, self.model_name, self.src_fs, self.dst_fs = opts, model_name, list(src_fs or []), dst_fs
        self.upscaler = make_upscaler_checked(model_name, device=opts.device, tile=opts.tile,
                                              tile_pad=opts.tile_pad, precision=opts.precision,
                                              backend=opts.backend)
        self.worker = f"{socket.gethostname()}:{os.getpid()}"

    def __call__(self, batch: dict) -> dict:
        n = len(batch["src"])
        records = []
        for i in range(n):
            job = {k: _plain(v[i]) for k, v in batch.items()}
            rec = _run_job(job, self.upscaler, self.opts, self.src_fs, self.dst_fs, self.model_name)
            rec.update(worker=self.worker, peak_rss_mb=_peak_rss_mb())
            records.append(rec)
        return {k: [r[k] for r in records] for k in RECORD_FIELDS}


# ---------------------------------------------------------------------------
# the driver
# ---------------------------------------------------------------------------

@dataclass
class BatchSummary:
    total: int
    done: int
    skipped: int
    failed: int
    seconds: float  # from the start of the Ray work to the last record (0 when nothing ran)
    startup_seconds: float  # connecting to / starting Ray
    mp_in: float
    mp_out: float
    workers: int

    @property
    def images_per_s(self) -> float:
        return self.done / self.seconds if self.seconds > 0 else 0.0

    @property
    def mp_per_s(self) -> float:
        return self.mp_in / self.seconds if self.seconds > 0 else 0.0

    def line(self, model: str) -> str:
        parts = [f"upscaled {self.done}/{self.total} file{'s' if self.total != 1 else ''} with {model}"]
        if self.skipped:
            parts.append(f", {self.skipped} already done")
        if self.failed:
            parts.append(f", {self.failed} failed")
        if self.done:
            parts.append(f" on {self.workers} Ray worker{'s' if self.workers != 1 else ''} in {self.seconds:.1f} s: "
                         f"{self.images_per_s:.2f} images/s, {self.mp_per_s:.3f} MP/s in "
                         f"({self.mp_in:.2f} MP in, {self.mp_out:.2f} MP out; Ray start-up "
                         f"{self.startup_seconds:.1f} s)")
        return "".join(parts)


def summarize(records: list[dict], seconds: float = 0.0, startup_seconds: float = 0.0,
              workers: int = 0) -> BatchSummary:
    done = [r for r in records if r["status"] == "done"]
    return BatchSummary(
        total=len(records), done=len(done), skipped=sum(r["status"] == "skipped" for r in records),
        failed=sum(r["status"] == "failed" for r in records), seconds=seconds, startup_seconds=startup_seconds,
        mp_in=sum(r["pixels_in"] or 0 for r in done) / 1e6, mp_out=sum(r["pixels_out"] or 0 for r in done) / 1e6,
        workers=workers)


def _import_ray():
    try:
        import ray
        import ray.data  # noqa: F401 - the extra installs ray[data]
    except ImportError as e:
        raise SuperResError(f"Ray is not installed ({e.name or 'ray'} missing); {RAY_INSTALL_HINT}") from None
    return ray


def _connect(address: str | None) -> tuple[Any, bool, float]:
    """(ray, started_here, seconds): join ``address`` (auto, ray://host:port, host:port) or start locally."""
    import logging

    ray = _import_ray()
    t0 = time.perf_counter()
    if ray.is_initialized():
        return ray, False, 0.0
    kwargs = dict(include_dashboard=False, logging_level=logging.WARNING, configure_logging=True)
    if address in (None, "", "local"):
        # workers started here inherit this environment (PYTHONPATH included), so they import this superres
        try:
            ray.init(**kwargs)
        except Exception as e:  # noqa: BLE001 - Ray raises many types when it cannot start
            raise SuperResError(f"cannot start a local Ray instance: {_first_line(e)}") from None
    else:
        try:
            ray.init(address=address, **kwargs)
        except Exception as e:  # noqa: BLE001
            raise SuperResError(f"cannot join the Ray cluster at {address}: {_first_line(e)} (start one with "
                                "'ray start --head', or omit the address for a local instance)") from None
    return ray, True, time.perf_counter() - t0


def _check_model(name: str, opts: BatchOptions) -> None:
    """Fail on the driver with one line (unknown model, bad weights) before any actor starts."""
    from .api import make_upscaler_checked

    make_upscaler_checked(name, device="cpu", tile=opts.tile, tile_pad=opts.tile_pad, precision="fp32",
                          backend=opts.backend)


def _pool_size(ray, workers: int | None, cpus: float, gpus: float, started_here: bool) -> int:
    res = ray.cluster_resources()
    have_cpu, have_gpu = res.get("CPU", 0.0), res.get("GPU", 0.0)
    fit = int(have_gpu // gpus) if gpus else int(have_cpu // cpus)
    if workers is None:
        return max(1, fit)
    if workers > fit:
        what = f"{workers * gpus:g} GPUs" if gpus else f"{workers * cpus:g} CPUs"
        have = f"{have_gpu:g} GPUs" if gpus else f"{have_cpu:g} CPUs"
        msg = f"--workers {workers} needs {what} but the Ray cluster has {have}"
        if started_here and not gpus:
            raise SuperResError(msg + "; use fewer workers or --cpus-per-worker")
        warnings.warn(msg + "; the extra workers wait until the cluster grows", stacklevel=3)
    return workers


class _Manifest:
    """Records as JSON lines, streamed to a temporary file and moved into place when the run ends."""

    def __init__(self, target: str | None, place: _Place | None):
        self.target, self.place, self.fp, self.tmp = target, place, None, None
        if target is None:
            return
        name = os.path.basename(target.rstrip("/"))
        if place is None or place.local:  # beside the target, renamed into place
            self.tmp = str(temporary_path(Path(os.path.dirname(target) or ".") / name))
        else:  # staged locally, uploaded when the run ends
            fd, self.tmp = tempfile.mkstemp(prefix=f".{name}.", suffix=".part")
            os.close(fd)
        self.fp = open(self.tmp, "w", encoding="utf-8")

    def write(self, rec: dict) -> None:
        if self.fp is not None:
            self.fp.write(json.dumps({k: rec[k] for k in RECORD_FIELDS}) + "\n")
            self.fp.flush()

    def close(self) -> None:
        if self.fp is None:
            return
        self.fp.close()
        self.fp = None
        os.chmod(self.tmp, file_mode())  # mkstemp makes it private; a manifest is as readable as the outputs
        try:
            if self.place is None or self.place.local:
                os.replace(self.tmp, self.target)
            else:
                _upload(self.place.fs, self.tmp, self.target)
        finally:
            if os.path.exists(self.tmp):
                os.unlink(self.tmp)


def upscale_dataset(paths_or_uri, dst, model: str | None = None, workers: int | None = None, *,
                    address: str | None = None, recursive: bool = False, overwrite: bool = False,
                    filesystem=None, dst_filesystem=None, manifest: str | os.PathLike | bool = True,
                    cpus_per_worker: float = 1.0, gpus_per_worker: float | None = None, progress: bool = False,
                    options: BatchOptions | None = None, on_record=None, stats: dict | None = None,
                    **per_file) -> list[dict]:
    """Upscale every image below ``paths_or_uri`` into ``dst`` on Ray; returns one record per file.

    ``paths_or_uri``: a folder, file, local glob pattern or URI (``s3://bucket/photos``),
    or a list of them; ``dst``: a folder or URI prefix. ``model`` and the other
    per-file settings (``suffix``, ``out_format``, ``outscale``, ``alpha``,
    ``quality``, ``tile``, ``device``, ``precision`` ...: see :class:`BatchOptions`)
    have the meanings of ``superres upscale``'s options.

    ``address``: None or "local" starts a local Ray instance (unless one is
    already running in this process); "auto" or "ray://host:port" joins a
    cluster. ``workers``: the actor pool size (default: as many as the cluster
    fits, one per ``cpus_per_worker`` CPUs, or one per GPU when it has GPUs).
    ``filesystem``/``dst_filesystem``: a ``pyarrow.fs.FileSystem`` the paths
    live in, instead of a local path or URI.

    Outputs that already exist are skipped (``overwrite=True`` redoes them).
    ``manifest``: True writes ``DST/superres-manifest.jsonl``, a path writes
    there, False writes none. Each record is a dict with :data:`RECORD_FIELDS`;
    ``status`` is "done", "skipped" or "failed" (with ``error``). ``on_record``
    is called with each record as it arrives; ``stats``, if given, is filled
    with the timings (``startup_seconds``, ``seconds``, ``workers``).
    """
    from .registry import default_model

    if options is None:
        options = BatchOptions(model=model, overwrite=overwrite, **per_file)
    elif per_file or model is not None or overwrite:
        raise TypeError("pass either options= or the per-file keyword arguments, not both")
    name = options.model or default_model()
    if cpus_per_worker <= 0:
        raise SuperResError(f"cpus_per_worker must be positive, got {cpus_per_worker}")
    if workers is not None and workers < 1:
        raise SuperResError(f"workers must be 1 or more, got {workers}")
    manifest_name = None
    if manifest is True:
        manifest_name = MANIFEST_NAME
    elif manifest:
        mplace = _place(manifest)
        manifest_name = os.path.basename(mplace.path)
    plan = plan_batch(paths_or_uri, dst, options, recursive=recursive, filesystem=filesystem,
                      dst_filesystem=dst_filesystem, manifest_name=manifest_name)
    _check_model(name, options)
    if manifest is True:
        target, mplace = _join(plan.dst, plan.dst.path, MANIFEST_NAME), plan.dst
    elif manifest:
        target = mplace.path
    else:
        target, mplace = None, None
    if stats is not None:
        stats.update(startup_seconds=0.0, seconds=0.0, workers=0, removed_parts=plan.removed_parts,
                     model=name)
    records: list[dict] = []
    book = _Manifest(target, mplace)
    bar = None
    try:
        for rec in plan.done:
            records.append(rec)
            book.write(rec)
            if on_record is not None:
                on_record(rec)
        if not plan.jobs:
            return records
        ray, started_here, startup = _connect(address)
        try:
            gpus = gpus_per_worker
            if gpus is None:
                gpus = 1.0 if ray.cluster_resources().get("GPU", 0) and options.device in ("auto", "cuda") else 0.0
            size = _pool_size(ray, workers, cpus_per_worker, gpus, started_here)
            if stats is not None:
                stats.update(startup_seconds=startup, workers=size)
            n = len(plan.jobs)
            ctx = ray.data.DataContext.get_current()
            ctx.enable_progress_bars = False  # the project's bar below counts files, not blocks
            ctx.print_on_execution_start = False
            ctx.enable_auto_log_stats = False
            import logging

            logging.getLogger("ray.data").setLevel(logging.WARNING)
            # its one message is "Progress bars disabled", which we did on purpose
            logging.getLogger("ray.data._internal.progress").setLevel(logging.ERROR)
            ds = ray.data.from_items(plan.jobs, override_num_blocks=min(n, max(8 * size, -(-n // 64))))
            remote_args = {"num_cpus": cpus_per_worker}
            if gpus:
                remote_args["num_gpus"] = gpus
            ds = ds.map_batches(
                UpscaleWorker, batch_size=1, compute=ray.data.ActorPoolStrategy(size=size),
                fn_constructor_kwargs={"opts": options, "model_name": name, "src_fs": plan.src_fs,
                                       "dst_fs": plan.dst.fs, "threads": max(1, int(cpus_per_worker))},
                **remote_args)
            if progress:
                from tqdm import tqdm

                bar = tqdm(total=n, unit="img", desc=f"upscaling on {size} Ray worker{'s' if size != 1 else ''}",
                           dynamic_ncols=True)
            t0 = time.perf_counter()
            try:
                for rec in ds.iter_rows():
                    rec = {k: _plain(rec[k]) for k in RECORD_FIELDS}
                    records.append(rec)
                    book.write(rec)
                    if on_record is not None:
                        on_record(rec)
                    if bar is not None:
                        bar.update(1)
                        if rec["status"] == "failed":
                            bar.write(f"superres upscale: error: {rec['error']}", file=sys.stderr)
            except ray.exceptions.RayError as e:  # a worker died or could not start: per-file errors never get here
                finished = sum(r["status"] == "done" for r in records)
                raise SuperResError(f"the Ray job failed after {finished} file(s): {_first_line(e)}; the finished "
                                    "files are kept and the same command continues from there") from None
            if stats is not None:
                stats["seconds"] = time.perf_counter() - t0
        finally:
            if started_here:
                ray.shutdown()
    finally:
        if bar is not None:
            bar.close()
        book.close()
    return records


def records_from_manifest(path: str | os.PathLike) -> Iterable[dict]:
    """Read a manifest back (one record per line)."""
    with open(path, encoding="utf-8") as f:
        for line in f:
            if line.strip():
                yield json.loads(line)
