"""``superres export``: a training run -> shipped weights (.safetensors) + model card;
``--onnx``: any model -> an ONNX graph."""

from __future__ import annotations

import argparse

HELP = "export a training run as a .safetensors weights file with a model card (or any model as ONNX)"


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("export", help=HELP, description=HELP + ". Metrics in the card are measured by "
                       "superres' own evaluation on the --eval folders.")
    p.add_argument("run_dir", metavar="RUN_DIR", help="a run folder written by 'superres train' (with --onnx: "
                   "also a model name or weights file)")
    p.add_argument("-o", "--output", required=True, metavar="FILE.safetensors",
                   help="output file (.safetensors; with --onnx, .onnx)")
    p.add_argument("--onnx", action="store_true",
                   help="write an ONNX graph (float32, BatchNorm folded, card in its metadata) for other "
                        "runtimes; needs pip install \"superres[onnx]\"")
    p.add_argument("--size", metavar="HxW", help="with --onnx: fix the LR input size (needed by models "
                   "whose graph depends on it: srcnn-x4, interpolation)")
    p.add_argument("--name", help="model name recorded in the card (default: output file stem)")
    p.add_argument("--eval", nargs="*", default=[], metavar="DIR",
                   help="benchmark folders (HR/ + LR_bicubic_x4/), or set names (Set5 Set14: see 'superres data bench'), to measure PSNR/SSIM/LPIPS on")
    p.add_argument("--license", default="MIT", help="licence of the weights (default MIT)")
    p.add_argument("--description", default="", help="one line for 'superres models'")
    p.add_argument("--training-data", default="", help="description of the training data for the card")
    p.add_argument("--snapshot", type=int, metavar="STEP",
                   help="export the generator snapshot saved at this validation step instead of the latest "
                        "checkpoint (the card says so)")
    p.add_argument("--overwrite", action="store_true")
    p.set_defaults(_handler=run)


def run(ns: argparse.Namespace) -> int:
    import json
    import sys
    from pathlib import Path

    from ..errors import SuperResError
    from ..training.export import export_run

    if ns.onnx:
        return _run_onnx(ns)
    if ns.size:
        raise SuperResError("--size only applies with --onnx")
    if not ns.output.endswith(".safetensors"):
        raise SuperResError("--output must end in .safetensors (or give --onnx for an .onnx graph)")
    from ..datasets import resolve_bench_dir

    eval_dirs = [str(resolve_bench_dir(d)) for d in ns.eval] if ns.eval else ns.eval
    try:
        out, card = export_run(ns.run_dir, ns.output, name=ns.name or Path(ns.output).stem, eval_dirs=eval_dirs,
                               license=ns.license, description=ns.description, training_data=ns.training_data,
                               overwrite=ns.overwrite, snapshot=ns.snapshot)
    except FileNotFoundError as e:
        raise SuperResError(str(e)) from None
    if card.metrics:  # measured only with --eval; an empty dict is not worth a line
        print(json.dumps(card.metrics, indent=2))
    notes = {m.get("lpips_note") for m in card.metrics.values() if isinstance(m, dict) and m.get("lpips_note")}
    for note in sorted(notes):  # once, however many --eval sets
        print(f"note: {note}", file=sys.stderr)
    print(f"wrote {out} ({card.dtype}) and {Path(out).with_suffix('.json')}", file=sys.stderr)
    return 0


def _run_onnx(ns: argparse.Namespace) -> int:
    import sys
    from pathlib import Path

    from ..errors import SuperResError

    if ns.eval:
        raise SuperResError("--eval applies to run exports; evaluate an ONNX model's source with superres eval")
    size = None
    if ns.size:
        try:
            h, w = (int(v) for v in ns.size.lower().split("x"))
            if h < 1 or w < 1:
                raise ValueError
        except ValueError:
            raise SuperResError(f"--size must be HxW in LR pixels, e.g. 270x480, got {ns.size!r}") from None
        size = (h, w)
    src = Path(ns.run_dir)
    if src.is_dir():
        from ..training.export import model_from_run

        try:
            model = model_from_run(src)
        except FileNotFoundError as e:
            raise SuperResError(str(e)) from None
    else:
        from ..registry import load_model

        model = load_model(ns.run_dir)
    from ..inference.onnx import export_onnx

    out = export_onnx(model, ns.output, overwrite=ns.overwrite, size=size)
    shape = f"LR input {size[0]}x{size[1]}" if size else "any input size"
    print(f"wrote {out} ({shape})", file=sys.stderr)
    return 0
