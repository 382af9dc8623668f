"""Validation LPIPS / PSNR of a GAN run against its training hours, across the runs of a restart chain.

    python benchmarks/long_run_curve.py runs/probe-p11-unet-consist300-grid runs/srgan-x4-long \\
        --out docs/images/training/issue21-long-run.png

The runs are given in chain order: each one started from the previous one's restart point
(``scripts/restart_point.py``), so its hours are added to the hours of the runs before it. A run's hours
are the ``elapsed_s`` of its ``metrics.jsonl`` rows (wall time over all its sessions, validations
included); rows written before the trainer logged it get the run's mean rate, pro rata (the table marks
them "~"). Prints a Markdown table (cumulative hours, step, EMA and raw PSNR-Y / LPIPS on the held-out
slice of the training photos) and draws the LPIPS curve with ``--target`` (the shipped srgan-x4's slice
LPIPS, measured by ``benchmarks/probe_table.py``) as a line.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def chain_rows(runs: list[Path]) -> tuple[list[dict], float]:
    """The validation rows of ``runs`` with ``hours`` (cumulative over the chain) and ``estimated``."""
    out, offset = [], 0.0
    for run in runs:
        rows = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines() if x.strip()]
        timed = [r for r in rows if "elapsed_s" in r and r.get("step")]
        end_s = None
        ckpt = run / "ckpt.pt"
        if ckpt.is_file():  # the run's wall time up to its last checkpoint: past the last logged row
            import torch

            ck = torch.load(ckpt, map_location="cpu", weights_only=True)
            end_s = float(ck.get("elapsed_s", 0.0))
        if timed:
            rate = timed[-1]["elapsed_s"] / timed[-1]["step"]  # seconds per step, validations included
        elif end_s is not None:
            rate = end_s / max(1, int(ck["step"]))
        else:
            raise SystemExit(f"{run}: no elapsed_s in metrics.jsonl and no ckpt.pt to take the wall time from")
        last_s = 0.0
        for r in rows:
            if "val_psnr" not in r:
                continue
            est = "elapsed_s" not in r
            s = r["step"] * rate if est else r["elapsed_s"]
            last_s = max(last_s, s)
            out.append({**r, "run": run.name, "hours": offset + s / 3600, "estimated": est})
        offset += max(last_s, end_s or 0.0, timed[-1]["elapsed_s"] if timed else 0.0) / 3600
    return out, offset


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("runs", nargs="+", type=Path, help="run folders in chain order")
    ap.add_argument("--target", type=float, default=0.242,
                    help="LPIPS line to draw (default: the srgan-x4 of 2026-11-29 on the slice, which the long run "
                         "had to beat; benchmarks/probe_table.py)")
    ap.add_argument("--target-label", default="srgan-x4 of 2026-11-29", help="what the --target line is")
    ap.add_argument("--out", type=Path, help="write the LPIPS-against-hours chart here (PNG)")
    args = ap.parse_args(argv)
    rows, total = chain_rows(args.runs)
    print(f"{total:.2f} h of training over {len(args.runs)} run(s); validation on the held-out slice, EMA (raw)\n")
    print("| hours | run | step | PSNR-Y | LPIPS |\n|---:|---|---:|---:|---:|")
    for r in rows:
        raw_p, raw_l = r.get("val_raw_psnr"), r.get("val_raw_lpips")
        print(f"| {'~' if r['estimated'] else ''}{r['hours']:.2f} | {r['run']} | {r['step']:,} | "
              f"{r['val_psnr']:.2f}" + (f" ({raw_p:.2f})" if raw_p is not None else "") + " | "
              + (f"{r['val_lpips']:.3f}" if r.get("val_lpips") is not None else "")
              + (f" ({raw_l:.3f})" if raw_l is not None else "") + " |")
    if args.out:
        sys.path.insert(0, str(ROOT / "src"))
        from superres.fileio import atomic_write
        from superres.plot import line_chart

        pts = [(r["hours"], r.get("val_lpips")) for r in rows]
        xs = [p[0] for p in pts] or [0.0]
        im = line_chart({"EMA LPIPS (held-out slice)": pts,
                         f"{args.target_label} ({args.target:.3f})": [(min(xs), args.target), (max(xs), args.target)]},
                        title="issue 21 long run: validation LPIPS (alex, lower is better)",
                        xlabel="hours of training (wall)")
        args.out.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(args.out, lambda f: im.save(f, format="PNG"))
        print(f"\nwrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
