"""Seconds per training step of the two stages of ``superres train-gpu``, on whatever device runs it.

    /work/bench.sh python benchmarks/gpu_stages.py --pack gpu/train.pack --steps 4     # this CPU
    python benchmarks/gpu_stages.py --pack gpu/train.pack --steps 50                    # on a GPU

Each stage runs with exactly the config ``train-gpu`` gives it (``GPU_SRRESNET`` / ``GPU_SRGAN``
plus any ``--srresnet-set`` / ``--srgan-set`` changes; batch 64 by default) through the project's
``train()`` with the pack's device sampler, no validation and no checkpoints, for ``--warmup``
untimed steps (cuDNN autotuning, allocator) and then ``--steps`` timed ones. The SRGAN stage
starts from the shipped srresnet-x4 (the same network the SRResNet stage continues). Reported:
the median and mean wall seconds per timed step (data sampling included), the sampler's share, and
the process's CPU seconds per step (set-up included; less sensitive to a shared machine's load).
Not part of the test suite; it reads a pack.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

import torch


def time_stage(recipe: str, over: dict, images: list, pack_name: str, warmup: int, steps: int, run: Path) -> dict:
    from superres.training.config import make_config
    from superres.training.gpu import DeviceSampler
    from superres.training.train import train

    over = {**over, "max_steps": warmup + steps, "val_every": 0, "log_every": 1, "ckpt_every": 10**9,
            "keep_snapshots": False}
    cfg = make_config(recipe, None, over)
    sampler = DeviceSampler(images, cfg.hr_crop, cfg.batch_size, cfg.scale, seed=1, note=f"pack {pack_name}")
    t0, c0 = time.time(), time.process_time()
    train(recipe, [pack_name], run, overrides=cfg.to_dict(), progress=False, sampler=sampler, val_images=[])
    wall, cpu = time.time() - t0, time.process_time() - c0
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    rows = [r for r in rows if "s_per_step" in r]
    ends = [r["s_per_step"] * r["step"] for r in rows]  # cumulative seconds at each step
    per = [b - a for a, b in zip([0.0, *ends[:-1]], ends)][warmup:]
    data = [r["data_s_per_step"] for r in rows][warmup:]
    return {"recipe": recipe, "batch_size": cfg.batch_size, "hr_crop": cfg.hr_crop, "precision": cfg.precision,
            "channels_last": cfg.channels_last, "timed_steps": len(per),
            "s_per_step_median": statistics.median(per), "s_per_step_mean": statistics.fmean(per),
            "sampler_s_per_step": statistics.fmean(data), "wall_s_incl_setup": round(wall, 1),
            # CPU seconds of this process (all threads) per step, set-up and warm-up included: on a shared
            # machine this moves less with other processes' load than the wall time does
            "process_cpu_s_per_step_incl_setup": round(cpu / (warmup + steps), 2),
            "threads": torch.get_num_threads()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--pack", required=True)
    ap.add_argument("--device", default="auto")
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--steps", type=int, default=4)
    ap.add_argument("--stages", nargs="+", default=["srresnet", "srgan"], choices=["srresnet", "srgan"])
    ap.add_argument("--srresnet-set", nargs="+", default=[])
    ap.add_argument("--srgan-set", nargs="+", default=[])
    ap.add_argument("--json", help="also write the results here")
    ns = ap.parse_args()

    from superres.registry import get_entry
    from superres.training.gpu import decode_to_device, stage_overrides, write_pack_weights
    from superres.training.pack import read_pack
    from superres.training.train import pick_device

    dev = pick_device(ns.device)
    if dev.type == "cuda":
        torch.backends.cudnn.benchmark = True
        torch.backends.cuda.matmul.allow_tf32 = True
    one, two = stage_overrides(ns.srresnet_set, ns.srgan_set)
    pack = read_pack(ns.pack)
    t0 = time.time()
    images, skipped = decode_to_device(pack, dev, max(int(one["hr_crop"]), int(two["hr_crop"])))
    decode_s = time.time() - t0
    hw = torch.cuda.get_device_name(dev) if dev.type == "cuda" else f"CPU, {torch.get_num_threads()} threads"
    out = {"device": str(dev), "hardware": hw, "torch": torch.__version__, "pack": ns.pack,
           "train_images": len(images), "decode_to_device_s": round(decode_s, 1), "stages": []}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        vgg = write_pack_weights(pack, tmp / "w")
        init = str(get_entry("srresnet-x4").weights.path)
        for recipe in ns.stages:
            over = dict(one if recipe == "srresnet" else two)
            over.update(device=str(dev), init_from=init)
            if recipe == "srgan":
                over["vgg_weights"] = str(vgg)
            r = time_stage(recipe, over, images, Path(ns.pack).name, ns.warmup, ns.steps, tmp / recipe)
            print(f"{recipe}: batch {r['batch_size']} x {r['hr_crop']}px, {r['precision']}: "
                  f"{r['s_per_step_median']:.3f} s/step (median of {r['timed_steps']}; sampler "
                  f"{r['sampler_s_per_step']:.3f} s)", flush=True)
            out["stages"].append(r)
    print(json.dumps(out, indent=2))
    if ns.json:
        Path(ns.json).write_text(json.dumps(out, indent=2) + "\n")


if __name__ == "__main__":
    main()
