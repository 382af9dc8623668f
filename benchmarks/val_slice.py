"""Score generators on the held-out validation slice of the training photos (issue 13).

    TORCH_HOME=../shared/weights python benchmarks/val_slice.py srresnet-x4 srgan-x4 runs/x/generator.safetensors \
        --data ../shared/data/train-hr ../shared/data/train-291 [--json out.json]

The slice is the one `superres train` holds out when it is given no --val (training.train.held_out_split:
8 fixed images, centre-cropped to 512 px, LR made with MATLAB-style bicubic), scored exactly as a run's
validation scores it: PSNR-Y / SSIM-Y with `scale` px shaved, LPIPS (AlexNet v0.1) on the 8-bit-rounded
output. This is what recipes and checkpoints are chosen on; Set5/Set14 are measured only at export.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def main(argv: list[str] | None = None) -> int:
    import torch

    import superres
    from superres.lpips import LPIPSUnavailable, cached_lpips
    from superres.training.config import make_config
    from superres.training.data import find_images, load_validation
    from superres.training.train import held_out_split, validate

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("models", nargs="+", help="registry names or .safetensors files")
    ap.add_argument("--data", nargs="+", default=[str(ROOT.parent / "shared/data/train-hr"),
                                                  str(ROOT.parent / "shared/data/train-291")])
    ap.add_argument("--json", help="also write the rows here")
    args = ap.parse_args(argv)
    cfg = make_config("srresnet")
    _, held = held_out_split(find_images(args.data), cfg.val_count)
    val = load_validation(None, cfg.scale, cfg.val_max_side, fallback=held)
    try:
        lp = cached_lpips("alex")
    except LPIPSUnavailable as e:
        print(f"note: no LPIPS ({e})", file=sys.stderr)
        lp = None
    rows = []
    print(f"held-out slice: {', '.join(n for n, _, _ in val)}")
    print("| model | PSNR-Y | SSIM-Y | LPIPS |\n|---|---:|---:|---:|")
    for name in args.models:
        model = superres.load_model(name).eval()
        with torch.inference_mode():
            p, s, _, l = validate(model, val, cfg, torch.device("cpu"), lpips=lp)
        rows.append({"model": name, "psnr": p, "ssim": s, "lpips": l})
        print(f"| {name} | {p:.3f} | {s:.4f} | {l:.4f} |" if l is not None else f"| {name} | {p:.3f} | {s:.4f} | n/a |",
              flush=True)
    if args.json:
        Path(args.json).write_text(json.dumps({"slice": [n for n, _, _ in val], "rows": rows}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
