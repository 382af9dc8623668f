"""The work behind ``superres upscale`` (imported only when the command runs)."""

from __future__ import annotations

import glob
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from ..errors import InputError, ModelError, OutputError, SuperResError
from ..io.images import OUTPUT_FORMATS

INPUT_EXTENSIONS = {".png", ".jpg", ".jpeg", ".webp", ".bmp", ".tif", ".tiff", ".gif"}


@dataclass
class UpscaleOptions:
    model: str | None = None
    tile: int | None = None
    tile_pad: int | None = None
    device: str = "auto"
    precision: str = "fp32"
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


def expand_inputs(inputs: list[str], recursive: bool) -> list[tuple[Path, Path | None]]:
    """(file, base folder or None) for every input; raises if nothing matched."""
    found: list[tuple[Path, Path | None]] = []
    for item in inputs:
        p = Path(item)
        if any(ch in item for ch in "*?[") and not p.exists():
            matches = sorted(glob.glob(item, recursive=recursive))
            if not matches:
                raise InputError(f"no files match {item!r}")
            found += [(Path(m), None) for m in matches if Path(m).is_file()]
        elif p.is_dir():
            pattern = "**/*" if recursive else "*"
            files = sorted(f for f in p.glob(pattern) if f.is_file() and f.suffix.lower() in INPUT_EXTENSIONS)
            if not files:
                raise InputError(f"folder {p} holds no images{'' if recursive else ' (use --recursive for sub-folders)'}")
            found += [(f, p) for f in files]
        else:
            found.append((p, None))  # missing files are reported per input
    return found


def plan_outputs(found: list[tuple[Path, Path | None]], output: Path | None, opts: UpscaleOptions) -> list[Job]:
    ext = "." + (opts.out_format or "png")
    ext = {".jpg": ".jpg", ".tif": ".tif"}.get(ext, ext)
    single_file_out = (output is not None and output.suffix.lower() in OUTPUT_FORMATS and not output.is_dir())
    if single_file_out and len(found) != 1:
        raise OutputError(f"-o {output} is a file name but there are {len(found)} inputs; give a folder")
    if output is not None and output.suffix and output.suffix.lower() not in OUTPUT_FORMATS and not output.is_dir():
        raise OutputError(f"-o {output}: unknown image extension {output.suffix!r}; use one of "
                          f"{', '.join(sorted(OUTPUT_FORMATS))} or give a folder")
    jobs = []
    for src, base in found:
        if single_file_out:
            dst = output
        elif output is not None:
            rel = src.relative_to(base).parent if base is not None else Path()
            dst = output / rel / f"{src.stem}{opts.suffix}{ext}"
        else:
            dst = src.with_name(f"{src.stem}{opts.suffix}{ext}")
        jobs.append(Job(src, dst))
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


def upscale_paths(inputs: list[str], output: Path | None, opts: UpscaleOptions) -> int:
    from ..api import make_upscaler, upscale_picture
    from ..io.images import check_output_path, read_image, write_image
    from ..registry import default_model
    from .common import progress_enabled

    found = expand_inputs(inputs, opts.recursive)
    jobs = plan_outputs(found, output, opts)
    check_output_folder(output, jobs)
    model_name = opts.model or default_model()
    if opts.model is None and model_name != "srgan-x4" and not opts.quiet:
        print(f"superres: note: srgan-x4 weights are not installed; using {model_name}", file=sys.stderr)
    try:
        upscaler = make_upscaler(model_name, device=opts.device, tile=opts.tile, tile_pad=opts.tile_pad,
                                 precision=opts.precision)
    except ModelError as e:
        e.exit_code = 2
        raise
    show = progress_enabled(opts.quiet)
    file_bar = None
    if show and len(jobs) > 1:
        from tqdm import tqdm

        file_bar = tqdm(total=len(jobs), unit="img", desc="upscaling", dynamic_ncols=True)
    failures = 0
    mp_in = mp_out = 0.0
    t0 = time.perf_counter()
    for job in jobs:
        try:
            if job.dst.resolve() == job.src.resolve():
                raise OutputError(f"output {job.dst} is the input itself; choose another name (inputs are never overwritten)")
            check_output_path(job.dst, opts.overwrite)
            pic = read_image(job.src, max_pixels=opts.max_pixels)
            tiles = upscaler.plan(*pic.color.shape[:2])
            tile_bar = None
            if show and file_bar is None and len(tiles) > 4:
                from tqdm import tqdm

                tile_bar = tqdm(total=len(tiles), unit="tile", desc=job.src.name, dynamic_ncols=True, leave=False)
            cb = (lambda done, total: tile_bar.update(done - tile_bar.n)) if tile_bar else None
            out = upscale_picture(pic, upscaler, alpha=opts.alpha, outscale=opts.outscale, progress=cb)
            if tile_bar:
                tile_bar.close()
            write_image(out, job.dst, quality=opts.quality, overwrite=opts.overwrite,
                        keep_metadata=opts.keep_metadata)
            mp_in += pic.size[0] * pic.size[1] / 1e6
            mp_out += out.size[0] * out.size[1] / 1e6
        except SuperResError as e:
            failures += 1
            job.error = str(e)
            msg = str(e) if str(job.src) in str(e) else f"{job.src}: {e}"
            (file_bar.write if file_bar else lambda m: print(m, file=sys.stderr))(f"superres upscale: error: {msg}")
        except MemoryError:
            failures += 1
            print(f"superres upscale: error: {job.src}: out of memory; use a smaller --tile", file=sys.stderr)
        if file_bar:
            file_bar.update(1)
    if file_bar:
        file_bar.close()
    done = len(jobs) - failures
    if not opts.quiet:
        secs = time.perf_counter() - t0
        where = f" -> {jobs[0].dst}" if len(jobs) == 1 and done else (f" -> {output}" if output and done else "")
        print(f"upscaled {done}/{len(jobs)} image{'s' if len(jobs) != 1 else ''} with {model_name} "
              f"({mp_in:.2f} MP in, {mp_out:.2f} MP out) in {secs:.1f} s{where}", file=sys.stderr)
    return 0 if failures == 0 else 1
