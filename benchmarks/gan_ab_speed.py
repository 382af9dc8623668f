"""Seconds per training step of each GAN-stage A/B arm and of the SRResNet recipes (issue 13).

    python benchmarks/gan_ab_speed.py [--steps 12] [--json out.json]

Each arm's config (examples/training/gan-ab/*.toml, plus srresnet with MSE and with L1) runs `--steps`
steps on four random 480x640 photos the script makes (speed does not depend on the pixels), with a
randomly initialised generator and VGG16 (speed does not depend on the weights either). The figure is
the wall time per step after the first two (warm-up), on this machine, 2 threads. Run it on an idle
machine: a training run or tests in the background change it.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--steps", type=int, default=12)
    ap.add_argument("--json")
    args = ap.parse_args(argv)
    import torch
    from PIL import Image

    from superres.models import SRResNet
    from superres.training import losses
    from superres.training.config import load_config_file
    from superres.training.train import train
    from superres.weights import save_weights

    torch.set_num_threads(2)
    losses.build_vgg = lambda net, layer, w: (losses.VGGFeatures(net, layer), "random")  # same cost as ImageNet's
    arms = {"srresnet (mse)": ("srresnet", {}), "srresnet (l1, ema)": ("srresnet", {"pixel_loss": "l1", "ema_decay": 0.999})}
    for f in sorted((ROOT / "examples/training/gan-ab").glob("*.toml")):
        arms[f"srgan {f.stem}"] = ("srgan", load_config_file(f))
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp) / "photos"
        d.mkdir()
        rng = np.random.default_rng(0)
        for i in range(4):
            Image.fromarray((rng.random((480, 640, 3)) * 255).astype(np.uint8)).save(d / f"{i}.png")
        init = save_weights(SRResNet(), Path(tmp) / "init.safetensors")
        for i, (name, (recipe, over)) in enumerate(arms.items()):
            cfg = {**over, "max_steps": args.steps, "val_every": 0, "log_every": 1, "ckpt_every": 10_000,
                   "keep_snapshots": False, "precision": "bf16", "threads": 2}
            if recipe == "srgan":
                cfg["init_from"] = str(init)
            run = Path(tmp) / f"run{i}"
            train(recipe, [d], run, overrides=cfg, cache_dir=Path(tmp) / "cache", progress=False)
            logs = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines() if '"loss"' in x]
            t = {r["step"]: r["s_per_step"] * r["step"] for r in logs}
            per = (t[args.steps] - t[2]) / (args.steps - 2)
            rows.append({"recipe": name, "s_per_step": per})
            print(f"| {name} | {per:.2f} |", flush=True)
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
