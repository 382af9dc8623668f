"""``superres serve``: a local web app to drop an image or GIF, compare before/after and download."""

from __future__ import annotations

import argparse

from .common import non_negative_int, positive_float, positive_int

HELP = "a local web app: drop an image or GIF, compare before/after with a slider, download"
EPILOG = """\
examples:
  superres serve                          http://127.0.0.1:7860/ (or another free port, printed)
  superres serve --port 8080 --model srresnet-x4
  superres serve --host 0.0.0.0           reachable from other machines (prints a warning)

Needs Gradio: pip install "superres[web]". The page upscales images (PNG, JPEG, WebP,
TIFF, BMP; transparency and 16 bits kept) and animated GIF/WebP/APNG with the same
engine as 'superres upscale' and 'superres animate', shows a before/after slider,
'what the GAN added' (as 'superres compare --diff'), an HR mode that shrinks your
photo 1/4 and scores PSNR/SSIM/LPIPS (as 'superres compare'), and offers the result
for download under the commands' file names (photo_x4.png, cat_x4.gif, photo_compare.png).

Jobs run one at a time (--concurrency) and up to --queue-size more wait their turn.
Uploads and results live in one temporary folder, removed when the server stops
(Ctrl+C). There is no login: keep the default host unless you trust the network.
"""


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("serve", help=HELP, description=HELP, epilog=EPILOG,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--host", default="127.0.0.1",
                   help="address to listen on (default 127.0.0.1: this machine only)")
    p.add_argument("--port", type=positive_int, default=None,
                   help="port (default: 7860 if free, else any free port; the address is printed)")
    p.add_argument("-m", "--model", default=None,
                   help="model selected when the page opens (default: srgan-x4, or the best installed)")
    p.add_argument("--max-upload-mb", type=positive_float, default=50.0, metavar="MB",
                   help="refuse uploads larger than this (default 50)")
    p.add_argument("--max-pixels", type=positive_int, default=None, metavar="N",
                   help="refuse images/animation frames larger than N pixels (default 4,000,000: the 4x "
                        "output of a bigger input is more than a browser tab shows well)")
    p.add_argument("--concurrency", type=positive_int, default=1, metavar="N",
                   help="jobs that run at the same time (default 1; each uses all CPU threads)")
    p.add_argument("--queue-size", type=positive_int, default=16, metavar="N",
                   help="jobs that may wait for their turn; more are refused with a message (default 16)")
    p.add_argument("--device", default="auto", help="auto (default), cpu, cuda, cuda:N or mps")
    p.add_argument("--tile", type=non_negative_int, default=None, metavar="N",
                   help="LR tile size in pixels (default: from a memory budget; 0 = never tile)")
    p.add_argument("--precision", default="auto", choices=["auto", "fp32", "bf16", "fp16", "int8"],
                   help="arithmetic precision, as for 'superres upscale' (default auto)")
    p.add_argument("--open", action="store_true", help="open the page in a browser")
    p.add_argument("-q", "--quiet", action="store_true", help="print only the address")
    p.set_defaults(_handler=run)


def run(ns: argparse.Namespace) -> int:
    from ..web.app import serve
    from ..web.jobs import SERVE_MAX_PIXELS, ServeSettings

    settings = ServeSettings(max_pixels=ns.max_pixels or SERVE_MAX_PIXELS, max_upload_mb=ns.max_upload_mb,
                             device=ns.device, tile=ns.tile, precision=ns.precision)
    # library warnings about an upload (e.g. an animated PNG read as one frame) become notes in
    # the page (superres.web.jobs), so stderr keeps Python's default warning filters
    return serve(settings, host=ns.host, port=ns.port, model=ns.model, concurrency=ns.concurrency,
                 queue_size=ns.queue_size, open_browser=ns.open, quiet=ns.quiet)
