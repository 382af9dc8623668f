"""Markdown A/B table from training runs' own logs (metrics.jsonl), for MODELS.md.

    python benchmarks/ab_table.py runs/gan-ab-shipped runs/gan-ab-esrgan ... [--step N]

One row per run: its recipe differences, the validation-slice figures of the EMA and the raw
weights at step N (default: the last validation all runs share), and s/step as logged.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def load(run: Path) -> tuple[dict, list[dict]]:
    cfg = json.loads((run / "config.json").read_text())
    rows = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines() if x.strip()]
    return cfg, rows


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("runs", nargs="+", type=Path)
    ap.add_argument("--step", type=int, default=0, help="compare at this step (default: last common one)")
    args = ap.parse_args(argv)
    loaded = {r: load(r) for r in args.runs}
    steps = [{x["step"] for x in rows if "val_psnr" in x} for _, rows in loaded.values()]
    common = set.intersection(*steps) if steps else set()
    step = args.step or (max(common) if common else 0)
    keys = ("content", "gan_loss", "discriminator", "d_channels", "adv_weight", "pixel_loss", "pixel_weight",
            "consistency_weight", "grid_weight", "ldl_weight", "ema_decay")
    print(f"Validation slice (8 held-out training photos), step {step}; EMA weights, raw weights in brackets.\n")
    print("| run | recipe | PSNR-Y | LPIPS | s/step |\n|---|---|---:|---:|---:|")
    for run, (cfg, rows) in loaded.items():
        val = next((x for x in rows if x.get("step") == step and "val_psnr" in x), None)
        sps = [x["s_per_step"] for x in rows if "s_per_step" in x and x["step"] <= step]
        shown = keys if cfg.get("recipe") == "srgan" else ("pixel_loss", "ema_decay", "lr", "lr_schedule")
        recipe = ", ".join(f"{k}={cfg[k]}" for k in shown if k in cfg and cfg[k] not in (0, 0.0, "", None))
        if val is None:
            print(f"| {run.name} | {recipe} | - | - | - |")
            continue
        lp = f"{val['val_lpips']:.4f}" if "val_lpips" in val else "n/a"
        if "val_raw_psnr" in val:
            psnr = f"{val['val_psnr']:.2f} ({val['val_raw_psnr']:.2f})"
            lp += f" ({val['val_raw_lpips']:.4f})" if "val_raw_lpips" in val else ""
        else:
            psnr = f"{val['val_psnr']:.2f}"
        print(f"| {run.name} | {recipe} | {psnr} | {lp} | {sps[-1]:.2f} |" if sps else f"| {run.name} | {recipe} | {psnr} | {lp} | - |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
