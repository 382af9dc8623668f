"""``superres export``: a training run -> shipped weights (.safetensors) + model card."""

from __future__ import annotations

import argparse

HELP = "export a training run as a .safetensors weights file with a model card"


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("export", help=HELP, description=HELP + ". Metrics in the card are measured by "
                       "superres' own evaluation on the --eval folders.")
    p.add_argument("run_dir", metavar="RUN_DIR", help="a run folder written by 'superres train'")
    p.add_argument("-o", "--output", required=True, metavar="FILE.safetensors")
    p.add_argument("--name", help="model name recorded in the card (default: output file stem)")
    p.add_argument("--eval", nargs="*", default=[], metavar="DIR",
                   help="benchmark folders (HR/ + LR_bicubic_x4/) to measure PSNR/SSIM/LPIPS on")
    p.add_argument("--license", default="MIT", help="licence of the weights (default MIT)")
    p.add_argument("--description", default="", help="one line for 'superres models'")
    p.add_argument("--training-data", default="", help="description of the training data for the card")
    p.add_argument("--overwrite", action="store_true")
    p.set_defaults(_handler=run)


def run(ns: argparse.Namespace) -> int:
    import json
    import sys
    from pathlib import Path

    from ..errors import SuperResError
    from ..training.export import export_run

    if not ns.output.endswith(".safetensors"):
        raise SuperResError("--output must end in .safetensors")
    try:
        out, card = export_run(ns.run_dir, ns.output, name=ns.name or Path(ns.output).stem, eval_dirs=ns.eval,
                               license=ns.license, description=ns.description, training_data=ns.training_data,
                               overwrite=ns.overwrite)
    except FileNotFoundError as e:
        raise SuperResError(str(e)) from None
    print(json.dumps(card.metrics, indent=2))
    print(f"wrote {out} ({card.dtype}) and {Path(out).with_suffix('.json')}", file=sys.stderr)
    return 0
