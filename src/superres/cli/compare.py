"""``superres compare``: bicubic vs SRCNN vs SRResNet vs SRGAN (vs the original), as a figure and a report."""

from __future__ import annotations

import argparse

from .common import add_offline_option, non_negative_int, pixel_count

HELP = "compare upscalers side by side (PNG figure, optional HTML report)"
EPILOG = """\
examples:
  superres compare photo.png                  HR mode: shrink 1/4, upscale back, score vs the original
  superres compare small.png --lr             LR mode: the input is already small; no reference metrics
  superres compare photo.png --diff --html    add 'what the GAN added' and a report with a slider
  superres compare photo.png --models bicubic,srgan-x4 --crop 120,80,96,96 -o cmp.png

HR mode (default): the input is shrunk 1/4 with MATLAB-style bicubic, upscaled back by each
method and compared with the original: PSNR/SSIM on luma (4 px border shaved) and LPIPS.
Panels: [bicubic | SRCNN | SRResNet | SRGAN | original]. LR mode (--lr): [input (nearest) |
bicubic | SRGAN | ...], each with a no-reference sharpness figure.
Below the panels, the same crop of each (the most detailed region, or --crop x,y,w,h in output
pixels) is enlarged with nearest-neighbour. Models whose weights are not installed are skipped
with a note. LPIPS needs the AlexNet and LPIPS v0.1 weights (cached under TORCH_HOME); without
them it is reported as unavailable, never as a number.
Outputs are never overwritten without --overwrite. Exit codes: 0 done, 2 usage or input error.
"""


def crop_box(text: str) -> tuple[int, int, int, int]:
    parts = text.replace(" ", "").split(",")
    try:
        vals = tuple(int(p) for p in parts)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected x,y,w,h (whole numbers), got {text!r}") from None
    if len(vals) != 4:
        raise argparse.ArgumentTypeError(f"expected 4 numbers x,y,w,h, got {text!r}")
    if vals[0] < 0 or vals[1] < 0 or vals[2] <= 0 or vals[3] <= 0:
        raise argparse.ArgumentTypeError(f"x,y must be >= 0 and w,h > 0, got {text!r}")
    return vals  # type: ignore[return-value]


def model_list(text: str) -> list[str]:
    names = [n.strip() for n in text.split(",") if n.strip()]
    if not names:
        raise argparse.ArgumentTypeError("expected a comma-separated list of models")
    return names


def model_pair(text: str) -> tuple[str, str]:
    names = model_list(text)
    if len(names) != 2:
        raise argparse.ArgumentTypeError(f"expected two models GAN,REFERENCE, got {text!r}")
    return names[0], names[1]


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("compare", help=HELP, description=HELP, epilog=EPILOG,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("input", metavar="INPUT", help="image file")
    p.add_argument("--lr", action="store_true",
                   help="the input is already low resolution: upscale it, no reference metrics")
    add_offline_option(p)
    p.add_argument("-m", "--models", type=model_list, default=None, metavar="A,B,...",
                   help="methods in panel order: registry names or weights files (.safetensors, Keras .h5, BasicSR/Real-ESRGAN .pth, ncnn .param) (default: "
                        "bicubic,srcnn-x4,srresnet-x4,srgan-x4; with --lr bicubic,srgan-x4,srresnet-x4,srcnn-x4)")
    p.add_argument("-o", "--output", metavar="PATH",
                   help="figure path (.png, .jpg, .webp; default: INPUT_compare.png beside the input)")
    p.add_argument("--html", nargs="?", const="", default=None, metavar="PATH",
                   help="also write a self-contained HTML report (default path: the figure's, .html)")
    p.add_argument("--crop", type=crop_box, default=None, metavar="X,Y,W,H",
                   help="region for the zoomed crops, in output pixels (default: the most detailed region)")
    p.add_argument("--diff", action="store_true",
                   help="add a 'what the GAN added' heat map (SRGAN vs SRResNet, see --diff-models)")
    p.add_argument("--diff-models", type=model_pair, default=None, metavar="GAN,REF",
                   help="the two models the heat map compares (default: srgan-x4,srresnet-x4)")
    p.add_argument("--no-lpips", action="store_true", help="skip LPIPS (faster; HR mode)")
    p.add_argument("--title", default=None, help="figure title")
    p.add_argument("--device", default="auto", help="auto (default), cpu, cuda, cuda:N or mps")
    p.add_argument("--tile", type=non_negative_int, default=None, metavar="N",
                   help="LR tile size (default: from a memory budget; 0 = never tile)")
    p.add_argument("--precision", default="fp32", choices=["fp32", "bf16", "fp16"],
                   help="arithmetic precision (default fp32: a comparison measures, so it must not depend on the CPU)")
    p.add_argument("--max-pixels", type=pixel_count, default=None, metavar="N",
                   help="refuse inputs larger than N pixels (default 50,000,000)")
    p.add_argument("--overwrite", action="store_true", help="replace existing output files")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar or summary")
    p.set_defaults(_handler=run)


def _outputs(ns: argparse.Namespace):
    from pathlib import Path

    from ..errors import OutputError
    from ..io.images import check_output_path

    src = Path(ns.input)
    fig = Path(ns.output) if ns.output else src.with_name(f"{src.stem}_compare.png")
    check_output_path(fig, ns.overwrite)
    if fig.resolve() == src.resolve():
        raise OutputError(f"{fig} is the input; choose another output name")
    html = None
    if ns.html is not None:
        html = Path(ns.html) if ns.html else fig.with_suffix(".html")
        if html.suffix.lower() not in (".html", ".htm"):
            raise OutputError(f"{html}: the report must be an .html file")
        if html.exists() and not ns.overwrite:
            raise OutputError(f"{html} already exists; pass --overwrite to replace it, or choose another name")
        if html.is_dir():
            raise OutputError(f"{html} is a folder")
    return fig, html


def run(ns: argparse.Namespace) -> int:
    import sys
    import warnings
    from pathlib import Path

    from ..compare import DEFAULT_DIFF, DEFAULT_HR_MODELS, DEFAULT_LR_MODELS, compare_hr, compare_lr, load_rgb
    from ..compare import render_figure, render_html
    from ..io.images import DEFAULT_MAX_PIXELS
    from ..fileio import atomic_write_bytes
    from .common import progress_enabled, route_warnings

    fig_path, html_path = _outputs(ns)  # fail before any work
    models = ns.models or list(DEFAULT_LR_MODELS if ns.lr else DEFAULT_HR_MODELS)
    diff = (ns.diff_models or DEFAULT_DIFF) if (ns.diff or ns.diff_models) else None
    bar = None
    if progress_enabled(ns.quiet):
        from tqdm import tqdm

        bar = tqdm(total=len(models), desc="compare", unit="model", file=sys.stderr, leave=False)

    def progress(done: int, total: int, name: str) -> None:
        if bar is not None:
            bar.n = done
            bar.set_postfix_str(name, refresh=True)

    with warnings.catch_warnings():
        route_warnings(ns.quiet)
        rgb, read_notes = load_rgb(ns.input, ns.max_pixels or DEFAULT_MAX_PIXELS)
        name = Path(ns.input).name
        kw = dict(name=name, crop=ns.crop, diff=diff, device=ns.device, tile=ns.tile,
                  precision=ns.precision, progress=progress)
        try:
            if ns.lr:
                comp = compare_lr(rgb, models, **kw)
            else:
                comp = compare_hr(rgb, models, lpips=not ns.no_lpips, **kw)
        finally:
            if bar is not None:
                bar.close()
        comp.notes[:0] = read_notes
        import io

        fig = render_figure(comp, title=ns.title)
        buf = io.BytesIO()
        fmt = {".jpg": "JPEG", ".jpeg": "JPEG", ".webp": "WEBP"}.get(fig_path.suffix.lower(), "PNG")
        fig.save(buf, format=fmt, **({"quality": 95} if fmt != "PNG" else {}))
        atomic_write_bytes(fig_path, buf.getvalue())
        if html_path is not None:
            atomic_write_bytes(html_path, render_html(comp, title=ns.title).encode("utf-8"))
    if not ns.quiet:
        _summary(comp)
        print(f"wrote {fig_path}" + (f" and {html_path}" if html_path else ""))
    return 0


def _summary(comp) -> None:
    from ..reports.text import fmt_value, short_lpips_note

    for note in comp.notes:
        print(f"note: {note}")
    if comp.mode == "hr":
        missing = "unavailable" in comp.lpips_note
        if comp.lpips_note:
            # the full message once: what is missing, where it was looked for, the command that fixes it
            print(f"note: {comp.lpips_note if missing else short_lpips_note(comp.lpips_note)}")
        print(f"{'method':<24}{'PSNR-Y':>9}{'SSIM-Y':>9}{'LPIPS':>8}{'time s':>9}")
        for p in comp.methods:
            print(f"{p.label:<24}{fmt_value(p.psnr, '.2f'):>9}{fmt_value(p.ssim, '.4f'):>9}{fmt_value(p.lpips, '.4f'):>8}"
                  f"{fmt_value(p.seconds, '.2f'):>9}")
        if missing:
            print("LPIPS: NOT MEASURED (its weights are missing, see the note above). PSNR/SSIM alone favour "
                  "smooth output: do not rank the GAN models (srgan-x4, srgan-x4-fast) on them.")
    else:
        print(f"{'method':<24}{'sharpness':>10}{'time s':>9}")
        for p in comp.panels:
            print(f"{p.label:<24}{fmt_value(p.sharpness, '.2f'):>10}{fmt_value(p.seconds, '.2f'):>9}")
