"""Issue-21 probe table: validation figures, colour shift and the artefact measure of GAN-stage runs.

    TORCH_HOME=../shared/weights python benchmarks/probe_table.py runs/probe-* [--step 500] [--json out.json]

For each run folder, at validation step N (default: the last one every run has), the EMA snapshot
(``snapshots/step_N.safetensors``) is scored:

* ``PSNR-Y`` / ``LPIPS``: as the run logged them on the held-out slice (EMA; raw weights in brackets);
* ``mean shift R/G/B``: the per-channel mean of (output - reference) in levels (0-255) over all 8
  held-out images (4 px shaved): a learned colour cast shows here;
* ``flat shift``: the largest colour shift on flat or grey areas of those images
  (:func:`superres.artefacts.colour_shift`);
* ``grid`` / ``chroma`` / ``colour``: :func:`superres.artefacts.measure` on the synthetic scenes
  (bark, water, fur, edges, flat colours, grey text), with the verdict against its thresholds.

``--last`` scores each run at its own last validation instead of a common step (runs of a fixed
time reach different steps). With it, a second table compares the runs **per CPU-hour** (issue 21's
step-cost A/B): CPU seconds per step (``train_cpu_s`` in ``metrics.jsonl``: the trainer's CPU time
without validations, all threads), and the EMA's validation LPIPS at fixed CPU-hours, interpolated
linearly between its validations and the start model's score at 0 h (blank past the run's end).

    TORCH_HOME=../shared/weights python benchmarks/probe_table.py runs/probe-a-* runs/probe-b-* --last \
        --start srresnet-x4 --json runs/ab.json

The slice is held out of training (``training.train.held_out_split``); Set5/Set14 are not used.
Needs ``../shared`` for the slice.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent


def run_rows(run: Path) -> tuple[dict, list[dict]]:
    cfg = json.loads((run / "config.json").read_text())
    rows = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines() if x.strip()]
    return cfg, rows


HEADER = ("| run | changes from the srgan defaults | PSNR-Y | LPIPS | mean shift R/G/B | flat shift | "
          "grid / chroma / colour (synthetic) | s/step |\n|---|---|---:|---:|---|---:|---|---:|")


def table_row(row: dict) -> str:
    """One Markdown row of a measured (or saved, ``--from-json``) probe."""
    lp = f"{row['lpips']:.3f} ({row['raw_lpips']:.3f})" if row["raw_lpips"] is not None else f"{row['lpips']:.3f}"
    ps = f"{row['psnr']:.2f} ({row['raw_psnr']:.2f})" if row["raw_psnr"] is not None else f"{row['psnr']:.2f}"
    fails, a, m = row["failures"], row["artefacts"], row["mean_shift"]
    verdict = "clean" if not fails else "FAIL " + "; ".join(f.split(" >")[0] for f in fails)
    sp = f"{row['s_per_step']:.2f}" if row["s_per_step"] else ""
    return (f"| {row['run']} | {row['changes']} | {ps} | {lp} | {m[0]:+.1f} / {m[1]:+.1f} / {m[2]:+.1f} | "
            f"{row['flat_shift']:.1f} | {a['grid']:.2f} / {a['chroma']:.2f} / {a['colour']:.2f} {verdict} | {sp} |")


HOURS = (0.1, 0.2, 0.3, 0.4, 0.5)
COST_HEADER = ("| run | px per step | steps | CPU s/step | CPU-h | " + " | ".join(f"LPIPS at {h:g} h" for h in HOURS)
               + " | LPIPS gained per CPU-h |\n|---|---:|---:|---:|---:|" + "---:|" * len(HOURS) + "---:|")


def lpips_at(curve: list[list[float]], hours: float) -> float | None:
    """Linear interpolation of ``curve`` ([[cpu_h, lpips], ...], sorted) at ``hours``; None past its end."""
    for (h0, l0), (h1, l1) in zip(curve, curve[1:]):
        if h0 <= hours <= h1:
            return l0 + (l1 - l0) * (hours - h0) / max(h1 - h0, 1e-12)
    return None


def cost_row(row: dict) -> str:
    """One Markdown row of the per-CPU-hour table (needs the row's ``curve``)."""
    curve = row["curve"]
    at = [lpips_at(curve, h) for h in HOURS]
    gain = (curve[0][1] - curve[-1][1]) / curve[-1][0] if curve[-1][0] > 0 else 0.0
    return (f"| {row['run']} | {row['px_per_step']:,} | {row['step']:,} | {row['cpu_s_per_step']:.2f} | "
            f"{curve[-1][0]:.2f} | " + " | ".join("" if v is None else f"{v:.3f}" for v in at) + f" | {gain:.3f} |")


def to_uint8(t) -> np.ndarray:
    return (t.clamp(0, 1)[0].permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)


def slice_and_scenes(data: list[str]):
    """(config, validation slice, synthetic scenes, their x4-smaller inputs): what the probes are scored on."""
    import torch

    from superres.artefacts import synthetic_scenes
    from superres.resize import imresize
    from superres.training.config import make_config
    from superres.training.data import find_images, load_validation
    from superres.training.train import held_out_split

    cfg0 = make_config("srresnet")
    _, held = held_out_split(find_images(data), cfg0.val_count)
    val = load_validation(None, cfg0.scale, cfg0.val_max_side, fallback=held)
    scenes = synthetic_scenes()
    scene_lr = {k: imresize(torch.from_numpy(v).permute(2, 0, 1)[None].float() / 255, scale=0.25).clamp(0, 1)
                for k, v in scenes.items()}
    return cfg0, val, scenes, scene_lr


def main(argv: list[str] | None = None) -> int:
    import torch

    import superres
    from superres.artefacts import colour_shift as flat_shift
    from superres.artefacts import measure
    from superres.training.config import make_config

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("runs", nargs="*", type=Path)
    ap.add_argument("--step", type=int, default=0, help="validation step to compare (default: last common)")
    ap.add_argument("--data", nargs="+", default=[str(ROOT.parent / "shared/data/train-hr"),
                                                  str(ROOT.parent / "shared/data/train-291")])
    ap.add_argument("--models", nargs="*", default=["srresnet-x4", "srgan-x4"],
                    help="registry models scored the same way, as reference rows (default: the probes' start and "
                         "the shipped srgan-x4)")
    ap.add_argument("--last", action="store_true",
                    help="score each run at its own last validation, and add the per-CPU-hour table")
    ap.add_argument("--start", default="srresnet-x4",
                    help="the model the runs started from: its slice LPIPS is each curve's point at 0 h (--last)")
    ap.add_argument("--json", help="also write the rows here")
    ap.add_argument("--from-json", nargs="+", metavar="FILE",
                    help="print the table of rows saved by earlier --json runs (no measuring); 'runs' are ignored")
    args = ap.parse_args(argv)
    if args.from_json:
        seen = {}
        for f in args.from_json:
            for row in json.loads(Path(f).read_text())["rows"]:
                seen[row["run"]] = row  # a later file's row of the same run wins
        print(HEADER)
        for row in seen.values():
            print(table_row(row))
        if any(row.get("curve") for row in seen.values()):
            print("\n" + COST_HEADER)
            for row in seen.values():
                if row.get("curve"):
                    print(cost_row(row))
        return 0
    loaded = {r: run_rows(r) for r in args.runs}
    steps = [{x["step"] for x in rows if "val_psnr" in x} for _, rows in loaded.values()]
    common = set.intersection(*steps) if steps else set()
    step = args.step or (max(common) if common else 0)
    cfg0, val, scenes, scene_lr = slice_and_scenes(args.data)
    keys = ("batch_size", "hr_crop", "vgg_layer", "vgg_scale", "content", "adv_weight", "gan_loss", "discriminator", "pixel_loss", "pixel_weight",
            "consistency_weight", "grid_weight", "ldl_weight", "freeze_bn", "clamp_output", "warmup_steps", "d_channels",
            "perceptual_layers", "extra_data", "project", "chroma_weight")
    base = make_config("srgan", overrides={"init_from": "x"}).to_dict()
    out = []
    at = "each run at its last validation" if args.last else f"step {step}"
    print(f"Held-out slice (8 training photos never trained on), {at}; EMA (raw in brackets).\n")
    print(HEADER)
    from superres.lpips import cached_lpips
    from superres.training.train import validate

    lp_net = cached_lpips("alex")
    start_lpips = None
    if args.last:
        with torch.inference_mode():
            start_lpips = validate(superres.load_model(args.start).eval(), val, cfg0, torch.device("cpu"),
                                   lpips=lp_net)[3]
    for name in args.models:  # reference rows: scored here as a run's validation scores its EMA
        with torch.inference_mode():
            p, _, _, lp = validate(superres.load_model(name).eval(), val, cfg0, torch.device("cpu"), lpips=lp_net)
        loaded[Path(name)] = ({"reference": name}, [{"step": step, "val_psnr": p, "val_lpips": lp}])
    for run, (cfg, rows) in loaded.items():
        if args.last and "reference" not in cfg:
            step = max((x["step"] for x in rows if "val_psnr" in x), default=0)
        v = next((x for x in rows if x.get("step") == step and "val_psnr" in x), None)
        snap = run / "snapshots" / f"step_{step:07d}.safetensors"
        if "reference" in cfg:
            snap = Path(cfg["reference"])
        elif v is None or not snap.is_file():
            print(f"| {run.name} | no validation / snapshot at step {step} | | | | | | |")
            continue
        model = superres.load_model(str(snap)).eval()
        errs, flats = [], []
        with torch.inference_mode():
            for _name, lr, hr in val:
                sr = to_uint8(model(lr).float())[4:-4, 4:-4].astype(np.float64)
                ref = to_uint8(hr)[4:-4, 4:-4].astype(np.float64)
                errs.append((sr - ref).reshape(-1, 3))
                flats.append(flat_shift(sr, ref))
            pairs = [(to_uint8(model(scene_lr[k]).float()), scenes[k]) for k in scenes]
        mean = np.concatenate(errs).mean(0)
        rep = measure(pairs)
        fails = rep.failures()
        sps = [x["s_per_step"] for x in rows if "s_per_step" in x and x["step"] <= step]
        changes = "(shipped model)" if "reference" in cfg else ", ".join(f"{k}={cfg[k]:.4g}" if isinstance(cfg[k], float) else f"{k}={cfg[k]}"
                            for k in keys if k in cfg and cfg[k] != base.get(k))
        row = {"run": run.name, "step": step, "changes": changes, "psnr": v["val_psnr"], "lpips": v.get("val_lpips"),
               "raw_psnr": v.get("val_raw_psnr"), "raw_lpips": v.get("val_raw_lpips"), "mean_shift": mean.tolist(),
               "flat_shift": max(flats), "artefacts": rep.as_dict(), "failures": fails,
               "s_per_step": sps[-1] if sps else None}
        timed = [x for x in rows if "val_lpips" in x and "train_cpu_s" in x and x["step"] <= step]
        if args.last and timed and "reference" not in cfg:
            row["curve"] = [[0.0, start_lpips]] + [[x["train_cpu_s"] / 3600, x["val_lpips"]] for x in timed]
            row["cpu_s_per_step"] = timed[-1]["train_cpu_s"] / max(1, step)
            row["px_per_step"] = int(cfg["batch_size"]) * int(cfg["hr_crop"]) ** 2
        out.append(row)
        print(table_row(row), flush=True)
    costed = [r for r in out if r.get("curve")]
    if costed:
        print("\nPer CPU-hour (train_cpu_s: the trainer's CPU time without validations; LPIPS of the EMA on the slice,"
              f" interpolated; 0 h = {args.start}, {start_lpips:.3f})\n")
        print(COST_HEADER)
        for r in costed:
            print(cost_row(r))
    if args.json:
        Path(args.json).write_text(json.dumps({"step": step, "rows": out}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
