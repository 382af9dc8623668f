"""``superres eval``: PSNR/SSIM/LPIPS and speed of models on benchmark folders."""

from __future__ import annotations

import argparse

from .common import add_offline_option, non_negative_int

HELP = "measure PSNR/SSIM/LPIPS and speed of models on benchmark folders"
EPILOG = """\
examples:
  superres eval --data bench/Set5 bench/Set14
  superres eval --models srgan-x4,srresnet-x4,srcnn-x4,bicubic --data Set5 Set14 --out results.md
                                  # (names: the sets 'superres data bench' downloaded)
  superres eval --models my.safetensors,bicubic --data photos/ --out r.csv r.json --per-image

Each DIR holds HR/ and optionally LR_bicubic_x4/ (same file names); a bare set name (Set5, Set14,
BSD100, Urban100) means that set in the folder 'superres data bench' fills ($SUPERRES_BENCH); without LR_bicubic_x4/ the
LR images are made with superres's MATLAB-style bicubic. A plain folder of images is taken as HR.
Metrics follow the literature: the SR output is rounded to 8 bits, 4 px of border are shaved,
PSNR/SSIM on the BT.601 luma (Y) channel (--rgb: on RGB); LPIPS is AlexNet v0.1 on the same
images (lower is better). Without the LPIPS weights (see TORCH_HOME) LPIPS is reported as
unavailable, never as a number. Speed is inference time per image and output megapixels per
second (model only, after one warm-up run). Models whose weights are not installed are skipped
with a note. --out writes .md, .csv or .json by extension (per-image rows in CSV and JSON);
existing files are not replaced without --overwrite. Exit codes: 0 done, 2 usage error.
"""

DEFAULT_MODELS = "srgan-x4,srresnet-x4,srcnn-x4,bicubic"
_FORMATS = (".md", ".csv", ".json")


def _models(text: str) -> list[str]:
    names = [n.strip() for n in text.split(",") if n.strip()]
    if not names:
        raise argparse.ArgumentTypeError("expected a comma-separated list of models")
    return names


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("eval", help=HELP, description=HELP, epilog=EPILOG,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    add_offline_option(p)
    p.add_argument("-m", "--models", type=_models, default=_models(DEFAULT_MODELS), metavar="A,B,...",
                   help=f"registry names or weights files (.safetensors, Keras .h5, BasicSR/Real-ESRGAN .pth, ncnn .param) (default: {DEFAULT_MODELS})")
    p.add_argument("--data", nargs="+", required=True, metavar="DIR",
                   help="benchmark folders (HR/ [+ LR_bicubic_x4/]) or folders of images")
    p.add_argument("-o", "--out", action="extend", nargs="+", default=[], metavar="FILE",
                   help="write results to FILE (.md, .csv or .json by extension; several allowed, "
                        "e.g. --out results.{md,csv,json})")
    p.add_argument("--per-image", action="store_true", help="print per-image rows on the terminal too")
    p.add_argument("--rgb", action="store_true", help="PSNR/SSIM on RGB instead of the Y channel")
    p.add_argument("--no-lpips", action="store_true", help="skip LPIPS")
    p.add_argument("--device", default="auto", help="auto (default), cpu, cuda, cuda:N or mps")
    p.add_argument("--tile", type=non_negative_int, default=None, metavar="N",
                   help="LR tile size (default: from a memory budget; 0 = never tile)")
    p.add_argument("--precision", default="fp32", choices=["fp32", "bf16", "fp16", "int8"],
                   help="arithmetic precision (default fp32, the reference)")
    p.add_argument("--overwrite", action="store_true", help="replace existing --out files")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    p.set_defaults(_handler=run)


def _check_outputs(paths: list[str], overwrite: bool):
    from pathlib import Path

    from ..errors import OutputError

    outs = []
    for s in paths:
        p = Path(s)
        if p.suffix.lower() not in _FORMATS:
            raise OutputError(f"{p}: unknown results format {p.suffix or '(no extension)'!r}; "
                              "use .md, .csv or .json")
        if p.is_dir():
            raise OutputError(f"{p} is a folder")
        if p.exists() and not overwrite:
            raise OutputError(f"{p} already exists; pass --overwrite to replace it, or choose another name")
        outs.append(p)
    return outs


def run(ns: argparse.Namespace) -> int:
    import sys
    import warnings
    from pathlib import Path

    from ..compare import select_models
    from ..errors import InputError
    from ..evaluate import benchmark_files, evaluate_model
    from ..reports.text import format_per_image, format_table
    from ..datasets import resolve_bench_dir
    from .common import progress_enabled, route_warnings

    outs = _check_outputs(ns.out, ns.overwrite)
    ns.data = [str(resolve_bench_dir(d)) for d in ns.data]  # "Set5" -> the folder 'superres data bench' made
    for d in ns.data:
        if not Path(d).is_dir():
            raise InputError(f"{d} is not a folder (expected a benchmark folder holding HR/)")
        benchmark_files(d)  # fails early on an empty folder
    models, notes = select_models(ns.models)
    for note in notes:
        print(f"note: {note}", file=sys.stderr)
    lp, lpips_note = None, ""
    if not ns.no_lpips:
        from ..lpips import LPIPS, LPIPSUnavailable

        try:
            lp = LPIPS(net="alex")
        except LPIPSUnavailable as e:
            lpips_note = f"LPIPS unavailable: {e}"
            print(f"note: {lpips_note}", file=sys.stderr)
    show = progress_enabled(ns.quiet)
    results = []
    with warnings.catch_warnings():
        route_warnings(ns.quiet)
        for d in ns.data:
            n_images = len(benchmark_files(d))
            for m in models:
                bar = None
                if show:
                    from tqdm import tqdm

                    bar = tqdm(total=n_images, desc=f"{Path(d).name} {m}", unit="img", file=sys.stderr,
                               leave=False)

                def progress(done: int, total: int, bar=bar) -> None:
                    if bar is not None:
                        bar.update(done - bar.n)

                try:
                    r = evaluate_model(m, d, model_name=m, lpips=lp if lp is not None else False,
                                       device=ns.device, tile=ns.tile, precision=ns.precision,
                                       y_channel=not ns.rgb, progress=progress)
                finally:
                    if bar is not None:
                        bar.close()
                r.dataset = Path(d).resolve().name or str(d)
                if ns.no_lpips:
                    r.lpips_note = "LPIPS not computed (--no-lpips)"
                elif lpips_note:
                    r.lpips_note = lpips_note
                for note in r.notes:
                    print(f"note: {r.dataset} {m}: {note}", file=sys.stderr)
                results.append(r)
    channel = "RGB" if ns.rgb else "Y"
    print(format_table(results, channel))
    if ns.per_image:
        print()
        print(format_per_image(results, channel))
    if lpips_note:
        from ..errors import FETCH_WEIGHTS_COMMAND

        print(f"LPIPS: NOT MEASURED, its weights are missing (see the note above; fix: {FETCH_WEIGHTS_COMMAND}); "
              "shown as n/a. PSNR/SSIM alone favour smooth output over GAN detail.")
    meta = {"command": "superres " + " ".join(sys.argv[1:]) if sys.argv and sys.argv[0].endswith("superres")
            else None, "channel": channel, "shave_px": sorted({r.scale for r in results}), "skipped": notes, "lpips_note": lpips_note}
    for p in outs:
        write_results(results, p, meta, overwrite=ns.overwrite)
        print(f"wrote {p}")
    return 0


# --- files (the tables themselves are in superres.reports.text) -----------------------------------

def write_results(results, path, meta: dict, overwrite: bool = False) -> None:
    """Write results as .md, .csv (one row per image, then one mean row per model) or .json, atomically."""
    import csv
    import io
    import json

    from ..errors import OutputError
    from ..fileio import atomic_write_bytes
    from ..reports.text import markdown, summary_rows

    if path.exists() and not overwrite:
        raise OutputError(f"{path} already exists; pass --overwrite to replace it, or choose another name")
    ext = path.suffix.lower()
    if ext == ".md":
        text = markdown(results, meta)
    elif ext == ".csv":
        buf = io.StringIO()
        w = csv.writer(buf, lineterminator="\n")
        w.writerow(["dataset", "model", "image", "psnr", "ssim", "lpips", "seconds", "out_mp", "lr_source"])
        num = lambda v, spec: "" if v is None else format(v, spec)  # noqa: E731
        for r in results:
            for row in r.rows:
                w.writerow([r.dataset, r.model, row["image"], num(row["psnr"], ".4f"), num(row["ssim"], ".5f"),
                            num(row["lpips"], ".5f"), num(row["seconds"], ".4f"), num(row["out_mp"], ".4f"),
                            row["lr_source"]])
        for s in summary_rows(results):
            w.writerow([s["dataset"], s["model"], "(mean)", num(s["psnr"], ".4f"), num(s["ssim"], ".5f"),
                        num(s["lpips"], ".5f"), num(s["seconds_per_image"], ".4f"), "", ""])
        text = buf.getvalue()
    else:
        doc = {"settings": meta, "summary": summary_rows(results),
               "per_image": [{"dataset": r.dataset, "model": r.model, **row} for r in results for row in r.rows],
               "notes": {f"{r.dataset}/{r.model}": r.notes for r in results if r.notes}}
        text = json.dumps(_finite(doc), indent=2, allow_nan=False) + "\n"
    atomic_write_bytes(path, text.encode("utf-8"))


def _finite(v):
    """``v`` with non-finite floats (PSNR of identical images is inf) replaced by None, for strict JSON."""
    import math

    if isinstance(v, float):
        return v if math.isfinite(v) else None
    if isinstance(v, dict):
        return {k: _finite(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_finite(x) for x in v]
    return v
