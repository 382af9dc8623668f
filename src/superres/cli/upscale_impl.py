"""The work behind ``superres upscale`` (imported only when the command runs)."""

from __future__ import annotations

import glob
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from ..errors import InputError, OutputError, SuperResError, is_out_of_memory
from ..inference.upscaler import DEFAULT_PRECISION
from ..io.images import OUTPUT_FORMATS
from ..io.images import UPSCALE_INPUT_EXTENSIONS as INPUT_EXTENSIONS


@dataclass
class UpscaleOptions:
    model: str | None = None
    tile: int | None = None
    tile_pad: int | None = None
    device: str = "auto"
    precision: str = DEFAULT_PRECISION
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
    skip_existing: bool = False
    color_fix: bool = False
    strength: float | None = None  # GAN strength (srgan-x4: 0 = srresnet-x4 .. 1 = srgan-x4)
    denoise: float | None = None  # Real-ESRGAN denoise strength (realesr-general-x4v3)


@dataclass
class Job:
    src: Path
    dst: Path | None
    error: str | None = None
    skip: bool = False  # --skip-existing found a complete output


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
    """One :class:`Job` per input; a job whose output would clash is given its error here.

    ``opts.out_format`` "keep" writes each output in its input's format (PNG for
    formats that cannot be written, such as GIF), so ``a.png`` and ``a.jpg`` get
    ``a_x4.png`` and ``a_x4.jpg``.
    """

    def ext_for(src: Path) -> str:
        if opts.out_format == "keep":
            return src.suffix.lower() if src.suffix.lower() in OUTPUT_FORMATS else ".png"
        return "." + (opts.out_format or "png")
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
        ext = ext_for(src)
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
            other = claimed[key]
            hint = ("pass --format keep to write each output in its input's format"
                    if other.stem == src.stem and other.suffix.lower() != src.suffix.lower()
                    and opts.out_format != "keep" else "rename one of them")
            job.error = (f"{src}: its output {dst} would also be written from {other} "
                         f"(both are named {dst.name}); {hint}")
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

    model = model_name
    if opts.strength is not None or opts.denoise is not None:
        from ..registry import load_with_controls

        # a wrong pairing or a missing model is a usage error: ModelError's own exit code (2)
        model = load_with_controls(model_name, strength=opts.strength, denoise=opts.denoise)
    return make_upscaler_checked(model, device=opts.device, tile=opts.tile, tile_pad=opts.tile_pad,
                                 precision=opts.precision, backend=opts.backend)


def refuse_existing(jobs: list[Job]) -> None:
    """Without --overwrite or --skip-existing, an existing output stops the run before any work (exit 2)."""
    existing = [j for j in jobs if j.error is None and j.dst.exists() and not j.dst.is_dir()]
    if not existing:
        return
    if len(jobs) == 1:
        raise OutputError(f"{existing[0].dst} already exists; pass --overwrite to replace it, or choose another name")
    more = f", {existing[1].dst}" + (", ..." if len(existing) > 2 else "") if len(existing) > 1 else ""
    raise OutputError(f"{len(existing)} of {len(jobs)} outputs already exist ({existing[0].dst}{more}); pass "
                      "--skip-existing to keep them and do the rest (e.g. after an interrupted run), or "
                      "--overwrite to replace them")


def existing_output_state(job: Job, scale: int, outscale: float | None) -> str | None:
    """For --skip-existing: None if ``job.dst`` is a complete output (the whole file decodes, at the size
    this run would write), "damaged: ..." if it does not decode (it is redone), else why it is not ours."""
    from PIL import Image

    from ..api import output_size
    from ..io.images import image_header

    try:
        w, h, _ = image_header(job.src)
    except InputError:
        return "damaged: the input cannot be read"  # not skippable; processing reports the input's error
    want = output_size(w, h, scale, outscale)
    old = Image.MAX_IMAGE_PIXELS
    Image.MAX_IMAGE_PIXELS = None
    try:
        with Image.open(job.dst) as im:
            im.load()  # a truncated file fails here
            got = im.size
    except Exception as e:  # noqa: BLE001 - whatever a damaged file makes Pillow raise, it is not complete
        return f"damaged: {str(e) or type(e).__name__}"
    finally:
        Image.MAX_IMAGE_PIXELS = old
    if got != want:
        return (f"{job.dst} exists but is {got[0]}x{got[1]}, not the {want[0]}x{want[1]} this run writes; "
                "pass --overwrite to replace it, or choose another -o/--suffix")
    return None


def upscale_paths(inputs: list[str], output: Path | None, opts: UpscaleOptions,
                  output_is_dir: bool = False) -> int:
    """Upscale every input; returns the exit code (0 all done, 1 some inputs failed).

    Usage problems that concern the whole run (unknown model, unusable -o, an
    existing output without --overwrite/--skip-existing) raise
    :class:`SuperResError` (exit code 2) before any work; problems with one
    input are printed as one ``superres upscale: error:`` line each and the
    rest go on. With ``opts.skip_existing`` an input whose output is complete
    is skipped (and counted as done), so an interrupted run can be resumed.
    """
    from ..api import check_output_size, upscale_picture
    from ..io.images import check_output_path, image_header, read_image, write_image
    from ..registry import default_model, fallback_note
    from .common import progress_enabled

    def report(msg: str, kind: str = "error") -> None:
        line = f"superres upscale: {kind}: {msg}"
        if file_bar is not None:
            file_bar.write(line, file=sys.stderr)
        else:
            print(line, file=sys.stderr)

    file_bar = None
    skip = output if output is not None and (output_is_dir or output.is_dir() or not output.suffix) else None
    found, input_errors = expand_inputs(inputs, opts.recursive, skip=skip)
    jobs = plan_outputs(found, output, opts, output_is_dir=output_is_dir)
    check_output_folder(output, [j for j in jobs if j.error is None])
    if not opts.overwrite and not opts.skip_existing:
        refuse_existing(jobs)
    model_name = opts.model or default_model()
    note = fallback_note(model_name) if opts.model is None else None
    if note and not opts.quiet:
        print(f"superres: note: {note}", file=sys.stderr)
    upscaler = _load_upscaler(model_name, opts)
    for msg in input_errors:
        report(msg)
    redo: set[int] = set()  # jobs whose existing output is damaged: written again
    if opts.skip_existing and not opts.overwrite:
        for i, job in enumerate(jobs):
            if job.error is None and job.dst.is_file():
                state = existing_output_state(job, upscaler.scale, opts.outscale)
                if state is None:
                    job.skip = True
                elif state.startswith("damaged:"):
                    redo.add(i)
                    if not opts.quiet and "input cannot be read" not in state:
                        report(f"{job.dst} is not a complete image ({state[9:]}); upscaling it again", "note")
                else:
                    job.error = state
    skipped = sum(j.skip for j in jobs)
    show = progress_enabled(opts.quiet)
    if show and len(jobs) - skipped > 1:
        from tqdm import tqdm

        file_bar = tqdm(total=len(jobs) - skipped, unit="img", desc="upscaling", dynamic_ncols=True)
    failures = len(input_errors)
    done_now = 0
    mp_in = mp_out = 0.0
    t0 = time.perf_counter()
    try:
        for i, job in enumerate(jobs):
            if job.skip:
                continue
            tile_bar = None
            replace = opts.overwrite or i in redo
            try:
                if job.error:
                    raise OutputError(job.error)
                check_output_path(job.dst, replace)
                w, h, alpha = image_header(job.src, max_pixels=opts.max_pixels)
                check_output_size(w, h, upscaler.scale, opts.outscale, max_pixels=opts.max_pixels,
                                  channels=3 + alpha, name=f"{job.src}: ")
                pic = read_image(job.src, max_pixels=opts.max_pixels)
                tiles = upscaler.plan(*pic.color.shape[:2])
                if show and file_bar is None and len(tiles) > 4:
                    from tqdm import tqdm

                    tile_bar = tqdm(total=len(tiles), unit="tile", desc=job.src.name, dynamic_ncols=True,
                                    leave=False)
                cb = (lambda done, total: tile_bar.update(done - tile_bar.n)) if tile_bar else None
                out = upscale_picture(pic, upscaler, alpha=opts.alpha, outscale=opts.outscale, progress=cb,
                                      max_pixels=opts.max_pixels, color_fix=opts.color_fix)
                write_image(out, job.dst, quality=opts.quality, overwrite=replace,
                            keep_metadata=opts.keep_metadata)
                done_now += 1
                mp_in += pic.size[0] * pic.size[1] / 1e6
                mp_out += out.size[0] * out.size[1] / 1e6
            except SuperResError as e:
                failures += 1
                job.error = str(e)
                report(str(e) if str(job.src) in str(e) else f"{job.src}: {e}")
            except (MemoryError, RuntimeError, ValueError, OSError) as e:  # not expected: report it, go on
                failures += 1
                job.error = str(e)
                first = str(e).strip().splitlines()[0] if str(e).strip() else ""
                if is_out_of_memory(e):
                    report(f"{job.src}: out of memory while upscaling; use a smaller --tile (e.g. --tile 128)"
                           + (" or a smaller --outscale" if opts.outscale else ""))
                else:
                    report(f"{job.src}: failed ({type(e).__name__}: {first})")
            finally:
                if tile_bar is not None:
                    tile_bar.close()
            if file_bar:
                file_bar.update(1)
    except KeyboardInterrupt:
        if file_bar:
            file_bar.close()
        left = len(jobs) - skipped - done_now
        raise KeyboardInterrupt(f"{done_now + skipped} of {len(jobs)} outputs are complete (no partial files); "
                                f"run the same command with --skip-existing to do the other {left}") from None
    if file_bar:
        file_bar.close()
    total = len(jobs) + len(input_errors)
    done = total - failures
    if not opts.quiet and (done or total > 1):  # one failed input: its error line says it all
        secs = time.perf_counter() - t0
        where = f" -> {jobs[0].dst}" if total == 1 and done else (f" -> {output}" if output and done else "")
        kept = f", {skipped} kept (--skip-existing)" if skipped else ""
        print(f"upscaled {done}/{total} image{'s' if total != 1 else ''} with {model_name}{kept} "
              f"({mp_in:.2f} MP in, {mp_out:.2f} MP out) in {secs:.1f} s{where}", file=sys.stderr)
    return 0 if failures == 0 else 1
