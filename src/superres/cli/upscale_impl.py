"""The work behind ``superres upscale`` (imported only when the command runs)."""

from __future__ import annotations

import glob
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from ..errors import OutputError, SuperResError
from ..io.images import OUTPUT_FORMATS

INPUT_EXTENSIONS = {".png", ".jpg", ".jpeg", ".webp", ".bmp", ".tif", ".tiff", ".gif"}


@dataclass
class UpscaleOptions:
    model: str | None = None
    tile: int | None = None
    tile_pad: int | None = None
    device: str = "auto"
    precision: str = "fp32"
    backend: str = "torch"
    suffix: str = "_x4"
    out_format: str | None = None
    outscale: float | None = None
    alpha: str = "bicubic"
    quality: int | None = None
    recursive: bool = False
    overwrite: bool = False
    keep_metadata: bool = False
    max_pixels: int | None = None
    quiet: bool = False


@dataclass
class Job:
    src: Path
    dst: Path | None
    error: str | None = None


def _hidden(path: Path, base: Path) -> bool:
    """True for dot-files and files in dot-folders below ``base`` (macOS ._* files, .part temp files)."""
    return any(part.startswith(".") for part in path.relative_to(base).parts)


def _inside(path: Path, folder: Path | None) -> bool:
    if folder is None:
        return False
    try:
        path.resolve().relative_to(folder)
        return True
    except ValueError:
        return False


def expand_inputs(inputs: list[str], recursive: bool,
                  skip: Path | None = None) -> tuple[list[tuple[Path, Path | None]], list[str]]:
    """(file, base folder or None) for every input file, and one error message per input that matched nothing.

    Folders give their image files (sorted; hidden files and, with ``skip``, files
    under the output folder are left out); glob patterns give the files they
    match; anything else is passed through, so a missing file is reported when
    its turn comes. A file named twice is kept once.
    """
    found: list[tuple[Path, Path | None]] = []
    errors: list[str] = []
    skip = skip.resolve() if skip is not None else None
    for item in inputs:
        p = Path(item)
        if any(ch in item for ch in "*?[") and not p.exists():
            matches = [Path(m) for m in sorted(glob.glob(item, recursive=recursive))]
            files = [m for m in matches if m.is_file()]
            if not files:
                what = "only folders" if matches else "nothing"
                errors.append(f"{item}: the pattern matches {what}; no image files to upscale")
            found += [(f, None) for f in files]
        elif p.is_dir():
            pattern = "**/*" if recursive else "*"
            # leave out earlier results when the output folder lies inside this one (not when it is this one)
            skip_here = skip if skip is not None and skip != p.resolve() else None
            files = sorted(f for f in p.glob(pattern)
                           if f.is_file() and f.suffix.lower() in INPUT_EXTENSIONS
                           and not _hidden(f, p) and not _inside(f, skip_here))
            if not files:
                hint = "" if recursive else " (use --recursive for sub-folders)"
                errors.append(f"{p}: is a folder with no images ({', '.join(sorted(INPUT_EXTENSIONS))}){hint}")
            found += [(f, p) for f in files]
        else:
            found.append((p, None))  # missing files are reported per input
    seen: set[Path] = set()
    unique = []
    for f, base in found:
        key = f.resolve()
        if key not in seen:
            seen.add(key)
            unique.append((f, base))
    return unique, errors


def plan_outputs(found: list[tuple[Path, Path | None]], output: Path | None, opts: UpscaleOptions,
                 output_is_dir: bool = False) -> list[Job]:
    """One :class:`Job` per input; a job whose output would clash is given its error here."""
    ext = "." + (opts.out_format or "png")
    single_file_out = (output is not None and not output_is_dir and output.suffix.lower() in OUTPUT_FORMATS
                       and not output.is_dir())
    if single_file_out and len(found) > 1:
        raise OutputError(f"-o {output} is a file name but there are {len(found)} inputs; give a folder")
    if (output is not None and not output_is_dir and output.suffix
            and output.suffix.lower() not in OUTPUT_FORMATS and not output.is_dir()):
        raise OutputError(f"-o {output}: unknown image extension {output.suffix!r}; use one of "
                          f"{', '.join(sorted(OUTPUT_FORMATS))} or give a folder")
    inputs = {src.resolve(): src for src, _ in found}
    claimed: dict[Path, Path] = {}
    jobs = []
    for src, base in found:
        if single_file_out:
            dst = output
        elif output is not None:
            rel = src.relative_to(base).parent if base is not None else Path()
            dst = output / rel / f"{src.stem}{opts.suffix}{ext}"
        else:
            dst = src.with_name(f"{src.stem}{opts.suffix}{ext}")
        job = Job(src, dst)
        key = dst.resolve()
        if key == src.resolve():
            job.error = (f"{src}: the output would be the input itself; choose another -o or --suffix "
                         "(inputs are never overwritten)")
        elif key in inputs:
            job.error = (f"{src}: the output {dst} is another input of this run; choose another -o or "
                         "--suffix (inputs are never overwritten)")
        elif key in claimed:
            job.error = (f"{src}: the output {dst} would also be written from {claimed[key]}; "
                         "give the inputs different names or use -o with a folder")
        else:
            claimed[key] = src
        jobs.append(job)
    return jobs


def check_output_folder(output: Path | None, jobs: list[Job]) -> None:
    """Fail early (one line) when the output folder cannot be created or written."""
    import os

    folders = {j.dst.parent for j in jobs if j.dst is not None}
    for folder in sorted(folders):
        probe = folder
        while not probe.exists() and probe != probe.parent:
            probe = probe.parent
        if not probe.is_dir():
            raise OutputError(f"cannot create output folder {folder}: {probe} is a file")
        if not os.access(probe, os.W_OK | os.X_OK):
            raise OutputError(f"cannot write to {probe} (permission denied); choose another output folder with -o")


def _load_upscaler(model_name: str, opts: UpscaleOptions):
    from ..api import make_upscaler_checked

    return make_upscaler_checked(model_name, device=opts.device, tile=opts.tile, tile_pad=opts.tile_pad,
                                 precision=opts.precision, backend=opts.backend)


def upscale_paths(inputs: list[str], output: Path | None, opts: UpscaleOptions,
                  output_is_dir: bool = False) -> int:
    """Upscale every input; returns the exit code (0 all done, 1 some inputs failed).

    Usage problems that concern the whole run (unknown model, unusable -o) raise
    :class:`SuperResError` with ``exit_code`` 2; problems with one input are
    printed as one ``superres upscale: error:`` line each and the rest go on.
    """
    from ..api import upscale_picture
    from ..io.images import check_output_path, read_image, write_image
    from ..registry import default_model
    from .common import progress_enabled

    def report(msg: str) -> None:
        line = f"superres upscale: error: {msg}"
        if file_bar is not None:
            file_bar.write(line, file=sys.stderr)
        else:
            print(line, file=sys.stderr)

    file_bar = None
    skip = output if output is not None and (output_is_dir or output.is_dir() or not output.suffix) else None
    found, input_errors = expand_inputs(inputs, opts.recursive, skip=skip)
    jobs = plan_outputs(found, output, opts, output_is_dir=output_is_dir)
    check_output_folder(output, [j for j in jobs if j.error is None])
    model_name = opts.model or default_model()
    if opts.model is None and model_name != "srgan-x4" and not opts.quiet:
        print(f"superres: note: srgan-x4 weights are not installed; using {model_name}", file=sys.stderr)
    upscaler = _load_upscaler(model_name, opts)
    for msg in input_errors:
        report(msg)
    show = progress_enabled(opts.quiet)
    if show and len(jobs) > 1:
        from tqdm import tqdm

        file_bar = tqdm(total=len(jobs), unit="img", desc="upscaling", dynamic_ncols=True)
    failures = len(input_errors)
    mp_in = mp_out = 0.0
    t0 = time.perf_counter()
    for job in jobs:
        tile_bar = None
        try:
            if job.error:
                raise OutputError(job.error)
            check_output_path(job.dst, opts.overwrite)
            pic = read_image(job.src, max_pixels=opts.max_pixels)
            tiles = upscaler.plan(*pic.color.shape[:2])
            if show and file_bar is None and len(tiles) > 4:
                from tqdm import tqdm

                tile_bar = tqdm(total=len(tiles), unit="tile", desc=job.src.name, dynamic_ncols=True, leave=False)
            cb = (lambda done, total: tile_bar.update(done - tile_bar.n)) if tile_bar else None
            out = upscale_picture(pic, upscaler, alpha=opts.alpha, outscale=opts.outscale, progress=cb)
            write_image(out, job.dst, quality=opts.quality, overwrite=opts.overwrite,
                        keep_metadata=opts.keep_metadata)
            mp_in += pic.size[0] * pic.size[1] / 1e6
            mp_out += out.size[0] * out.size[1] / 1e6
        except SuperResError as e:
            failures += 1
            job.error = str(e)
            report(str(e) if str(job.src) in str(e) else f"{job.src}: {e}")
        except MemoryError:
            failures += 1
            job.error = "out of memory"
            report(f"{job.src}: out of memory; use a smaller --tile")
        except (RuntimeError, ValueError, OSError) as e:  # not expected: report it and go on with the rest
            failures += 1
            job.error = str(e)
            first = str(e).strip().splitlines()[0] if str(e).strip() else ""
            if "out of memory" in first.lower():
                report(f"{job.src}: out of memory; use a smaller --tile")
            else:
                report(f"{job.src}: failed ({type(e).__name__}: {first})")
        finally:
            if tile_bar is not None:
                tile_bar.close()
        if file_bar:
            file_bar.update(1)
    if file_bar:
        file_bar.close()
    total = len(jobs) + len(input_errors)
    done = total - failures
    if not opts.quiet and (done or total > 1):  # one failed input: its error line says it all
        secs = time.perf_counter() - t0
        where = f" -> {jobs[0].dst}" if total == 1 and done else (f" -> {output}" if output and done else "")
        print(f"upscaled {done}/{total} image{'s' if total != 1 else ''} with {model_name} "
              f"({mp_in:.2f} MP in, {mp_out:.2f} MP out) in {secs:.1f} s{where}", file=sys.stderr)
    return 0 if failures == 0 else 1
