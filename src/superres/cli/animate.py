"""``superres animate``: upscale an animated GIF, APNG, WebP or video, frame by frame."""

from __future__ import annotations

import argparse

from .common import (GRAPHICS_HELP, add_color_fix_option, add_model_options, int_in_range, non_negative_int,
                     pixel_count, positive_int)

HELP = "upscale an animated GIF/APNG/WebP or a video (MP4, WebM, MOV), optionally side by side"
EPILOG = """\
examples:
  superres animate cat.gif                          writes cat_x4.gif beside it
  superres animate cat.gif -o big.gif --compare     also big_compare.gif + big_compare.html
  superres animate cat.gif -o big.webp --also-bicubic --stabilize
  superres animate clip.mp4 -o clip_x4.mp4          (needs: pip install 'superres[video]')

GIF frames are composed as browsers show them (disposal, transparency, offsets,
local palettes); frame count, durations and the loop count are kept. The output
format comes from -o's extension: .gif, .png (APNG), .webp, .mp4/.mov/.mkv
(H.264) or .webm (VP9); a video's audio is copied into video outputs.

--compare writes OUTPUT_compare.EXT, [input enlarged with nearest | bicubic |
model] with labels, and OUTPUT_compare.html, which shows the input and the
output at the same CSS width. --also-bicubic writes OUTPUT_bicubic.EXT.
--stabilize reuses the previous output where the input did not change, which
removes GAN texture flicker without blurring. The summary line gives the
flicker figure: the mean |change| (0-255) between consecutive output frames,
over output pixels whose input did not change within 2 LR pixels (bicubic's
reach; nearer to a change the output must change). Bicubic reads 0; a model's
figure is texture it invented differently from frame to frame; --stabilize
brings it to 0.

%s
Existing files are never overwritten without --overwrite. Exit codes: 0 done,
1 the input could not be used, 2 the command cannot run as given (nothing
written; e.g. an output exists), 130 interrupted.
"""

EPILOG = EPILOG % GRAPHICS_HELP


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("animate", help=HELP, description=HELP, epilog=EPILOG,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("input", metavar="INPUT", help="animated GIF, APNG, WebP, or a video file")
    p.add_argument("-o", "--output", metavar="PATH",
                   help="output file; its extension picks the format (default: INPUT_x4 with the input's "
                        "extension, beside it)")
    add_model_options(p)
    p.add_argument("--compare", action="store_true",
                   help="also write a labelled side-by-side animation and an HTML page")
    add_color_fix_option(p)
    p.add_argument("--also-bicubic", action="store_true", help="also write the bicubic upscale (OUTPUT_bicubic.EXT)")
    p.add_argument("--stabilize", action="store_true",
                   help="reuse the previous output where the input did not change (removes flicker, no blur)")
    p.add_argument("--stabilize-threshold", type=int_in_range(0, 255), default=3, metavar="N",
                   help="input change (0-255) still treated as unchanged (default 3)")
    p.add_argument("--stabilize-margin", type=non_negative_int, default=2, metavar="N",
                   help="input pixels around each change that are refreshed too (default 2)")
    p.add_argument("--palette", choices=["adaptive", "global"], default="adaptive",
                   help="GIF colours: a palette per frame (default) or one for the whole animation")
    p.add_argument("--dither", action="store_true", help="GIF: Floyd-Steinberg dithering (smoother, larger)")
    p.add_argument("--quality", type=int_in_range(0, 100), default=None,
                   help="WebP/video quality 0-100 (WebP default 90; video default = CRF 18)")
    p.add_argument("--batch", type=positive_int, default=None, metavar="N",
                   help="frames per network call (default: from the memory budget, at most 8)")
    p.add_argument("--overwrite", action="store_true", help="replace existing output files")
    p.add_argument("--max-pixels", type=pixel_count, default=None, metavar="N",
                   help="refuse canvases larger than N pixels (default 50,000,000)")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar or summary")
    p.set_defaults(_handler=run)


def run(ns: argparse.Namespace) -> int:
    import sys
    import warnings
    from pathlib import Path

    from ..animate import AnimateOptions, animate_file
    from ..errors import OutOfMemory, is_out_of_memory
    from ..io.images import DEFAULT_MAX_PIXELS
    from .common import progress_enabled, route_warnings

    opts = AnimateOptions(
        model=ns.model, tile=ns.tile, tile_pad=ns.tile_pad, device=ns.device, precision=ns.precision,
        backend=ns.backend,
        batch=ns.batch, compare=ns.compare, also_bicubic=ns.also_bicubic, stabilize=ns.stabilize,
        stabilize_threshold=ns.stabilize_threshold, stabilize_margin=ns.stabilize_margin, palette=ns.palette,
        dither=ns.dither, quality=ns.quality, overwrite=ns.overwrite, color_fix=ns.color_fix,
        max_pixels=DEFAULT_MAX_PIXELS if ns.max_pixels is None else ns.max_pixels, quiet=ns.quiet,
    )
    bar = None

    def progress(done: int, total: int | None) -> None:  # called with 0 once the input is open
        nonlocal bar
        if bar is None:
            from tqdm import tqdm

            bar = tqdm(total=total, unit="frame", desc=Path(ns.input).name, dynamic_ncols=True)
        bar.update(done - bar.n)

    def note(text: str) -> None:
        print(f"superres: note: {text}", file=sys.stderr)

    with warnings.catch_warnings():  # restores the caller's warning state (main() may run in-process)
        route_warnings(ns.quiet)
        try:
            rep = animate_file(ns.input, Path(ns.output) if ns.output else None, opts,
                               note=None if ns.quiet else note,
                               progress=progress if progress_enabled(ns.quiet) else None)
        except OutOfMemory:
            raise
        except (MemoryError, RuntimeError) as e:
            if not is_out_of_memory(e):
                raise
            raise OutOfMemory(f"{ns.input}: out of memory; use a smaller --tile (e.g. --tile 128) "
                              "or --batch 1") from None
        finally:
            if bar is not None:
                bar.close()
    if not ns.quiet:
        flick = ""
        if rep.flicker is not None:
            flick = f"; flicker {rep.flicker:.2f}"
            if rep.flicker_bicubic is not None:
                flick += f" (bicubic {rep.flicker_bicubic:.2f})"
        also = "".join(f", {p}" for p in rep.extra_outputs)
        print(f"animated {rep.frames} frame{'s' if rep.frames != 1 else ''} {rep.lr_size[0]}x{rep.lr_size[1]} -> "
              f"{rep.hr_size[0]}x{rep.hr_size[1]} with {rep.model} in {rep.seconds:.1f} s "
              f"({rep.fps:.1f} frames/s){flick} -> {rep.output} ({rep.bytes / 1e6:.2f} MB){also}", file=sys.stderr)
    return 0
