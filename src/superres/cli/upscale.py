"""``superres upscale``: upscale images, folders and glob patterns."""

from __future__ import annotations

import argparse
from pathlib import Path

from .common import (GRAPHICS_HELP, add_color_fix_option, add_control_options, add_model_options, int_in_range,
                     pixel_count, positive_float)
from .upscale_ray import EPILOG as RAY_EPILOG
from .upscale_ray import add_options as add_ray_options

HELP = "upscale images 4x (files, folders, glob patterns)"
EPILOG = """\
examples:
  superres upscale photo.jpg                    writes photo_x4.png beside it
  superres upscale photo.jpg -o big.webp --quality 90
  superres upscale shots/ -o shots_x4/ --recursive
  superres upscale '*.png' --model srresnet-x4 --outscale 2
  superres upscale scan.tif --alpha model       (alpha through the network too)

--outscale F gives a final scale other than the model's native 4 (e.g. 2, 3 or 8):
the model output is resized with Lanczos (up) or antialiased bicubic (down).
The output size is checked before any work: at most 16 x --max-pixels, and it
must fit in memory.

Existing files are never overwritten without --overwrite, and an input is never
overwritten at all. An existing output stops the run before any work, unless
--skip-existing keeps it (when it is complete: the whole file decodes, at the
size this run would write; a damaged one is written again), which resumes an
interrupted run.

%s
Exit codes: 0 all done, 1 some inputs failed (each named on its own line; the
rest were done), 2 the command cannot run as given (nothing written), 130
interrupted. See "Exit codes" in the README.
"""

EPILOG = EPILOG % GRAPHICS_HELP + "\n" + RAY_EPILOG


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("upscale", help=HELP, description=HELP, epilog=EPILOG,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("inputs", nargs="+", metavar="INPUT", help="image files, folders or glob patterns")
    p.add_argument("-o", "--output", metavar="PATH",
                   help="output file (one input) or folder (default: beside each input, with --suffix)")
    add_model_options(p)
    add_control_options(p)
    p.add_argument("--suffix", default="_x4", help="added to output names (default: _x4)")
    p.add_argument("--format", choices=["png", "jpg", "webp", "tif", "bmp", "keep"], default=None,
                   help="output format when -o is a folder or omitted (default: png); keep = each "
                        "input's own format (a.png -> a_x4.png, a.jpg -> a_x4.jpg)")
    p.add_argument("--outscale", type=positive_float, default=None, metavar="F",
                   help="final scale factor if not the model's (e.g. 2, 3, 8)")
    add_color_fix_option(p)
    p.add_argument("--alpha", choices=["bicubic", "model"], default="bicubic",
                   help="how to upscale transparency (default: bicubic)")
    p.add_argument("--quality", type=int_in_range(0, 100), default=None,
                   help="JPEG/WebP quality 0-100 (default 95); PNG: zlib level 0-9")
    p.add_argument("-r", "--recursive", action="store_true", help="descend into sub-folders")
    existing = p.add_mutually_exclusive_group()
    existing.add_argument("--overwrite", action="store_true", help="replace existing output files")
    existing.add_argument("--skip-existing", action="store_true",
                          help="keep outputs that already exist and are complete; do the rest (resumes an "
                               "interrupted run)")
    p.add_argument("--keep-metadata", action="store_true", help="copy EXIF metadata (ICC is always kept)")
    p.add_argument("--max-pixels", type=pixel_count, default=None, metavar="N",
                   help="refuse inputs larger than N pixels (default 50,000,000)")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bars or summary")
    add_ray_options(p)
    p.set_defaults(_handler=run, _parser=p)


def run(ns: argparse.Namespace) -> int:
    import os
    import warnings

    from .common import route_warnings
    from .upscale_impl import UpscaleOptions, upscale_paths
    from .upscale_ray import check_ray_options

    check_ray_options(ns._parser, ns)
    if ns.ray is not None:
        from .upscale_ray import run as run_ray

        return run_ray(ns)
    if ns.max_pixels is None:
        from ..io.images import DEFAULT_MAX_PIXELS

        ns.max_pixels = DEFAULT_MAX_PIXELS
    opts = UpscaleOptions(
        model=ns.model, tile=ns.tile, tile_pad=ns.tile_pad, device=ns.device, precision=ns.precision,
        backend=ns.backend,
        suffix=ns.suffix, out_format=ns.format, outscale=ns.outscale, alpha=ns.alpha, quality=ns.quality,
        recursive=ns.recursive, overwrite=ns.overwrite, keep_metadata=ns.keep_metadata,
        max_pixels=ns.max_pixels, quiet=ns.quiet, skip_existing=ns.skip_existing,
        color_fix=ns.color_fix,
        strength=ns.strength, denoise=ns.denoise,
    )
    # a trailing slash always means a folder, even for a name like "out.png/"
    output_is_dir = bool(ns.output) and ns.output.endswith(("/", os.sep))
    with warnings.catch_warnings():  # restores the caller's warning state (main() may run in-process)
        route_warnings(ns.quiet)
        return upscale_paths(ns.inputs, Path(ns.output) if ns.output else None, opts,
                             output_is_dir=output_is_dir)
