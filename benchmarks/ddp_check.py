"""Check distributed training the way a multi-node run starts it: ``torchrun`` with c10d
rendezvous, gloo on CPU, every rank on one shared folder (run folder + data cache).

    /work/bench.sh python benchmarks/ddp_check.py        # writes ddp_check.json here

Four launches of ``superres train srresnet`` with a tiny config (8 channels, 1
block, 32-pixel crops) on six small generated photos:

1. two torchrun agents started side by side, each ``--nnodes 2 --nproc-per-node 1
   --rdzv-backend c10d`` (two "nodes" on this machine: what two machines would
   run), 4 steps, a checkpoint every 2;
2. ``--resume`` with the same two-agent launch, to step 6;
3. ``--resume`` with one agent and ``--nproc-per-node 2`` (the single-node,
   multi-GPU shape), to step 8;
4. ``--resume`` on one process (a different world size), to step 10, exporting
   the generator.

After each launch it checks: every process exited 0; the checkpoint's step and
world size; one set of cache files per image and no temporary files left; the
log's resume events; the exported generator. It exits 1 if any check fails.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
TINY = ["channels=8", "n_blocks=1", "hr_crop=32", "batch_size=2", "val_every=2", "log_every=1", "ckpt_every=2",
        "val_max_side=64", "threads=1"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def photos(folder: Path, n: int = 6) -> None:
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:96, 0:128]
    for i in range(n):
        base = np.stack([np.sin(xx / (7 + i)) , np.cos(yy / (5 + i)), np.sin((xx + yy) / 11)], axis=2)
        img = (base * 90 + 128 + rng.normal(0, 6, base.shape)).clip(0, 255).astype(np.uint8)
        Image.fromarray(img).save(folder / f"photo{i}.png")


def torchrun(nnodes: int, nproc: int, args: list[str], env: dict) -> tuple[list[int], float, str]:
    """Start ``nnodes`` torchrun agents on one c10d rendezvous; return their exit codes, seconds, stderr tail.

    ``--`` ends torchrun's own options: without it torchrun reads ``--run`` as an
    ambiguous abbreviation of its ``--run-path`` and refuses to start.
    """
    port = free_port()
    cmd = ["torchrun", "--nnodes", str(nnodes), "--nproc-per-node", str(nproc), "--rdzv-backend", "c10d",
           "--rdzv-endpoint", f"127.0.0.1:{port}", "--rdzv-id", f"superres-check-{port}", "--local-addr",
           "127.0.0.1", "-m", "superres", "--", "train", *args]
    t0 = time.perf_counter()
    procs = [subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
             for _ in range(nnodes)]
    outs = [p.communicate(timeout=600)[0] for p in procs]
    return [p.returncode for p in procs], time.perf_counter() - t0, "\n".join(o[-3000:] for o in outs)


def main() -> int:
    import torch

    from superres.training.train import load_checkpoint

    work = Path(tempfile.mkdtemp(prefix="superres-ddp-"))
    shared = work / "shared"  # stands for the filesystem every node mounts
    data, run, cache = shared / "photos", shared / "runs" / "tiny", shared / "cache"
    photos(data)
    env = {**os.environ, "OMP_NUM_THREADS": "1", "GLOO_SOCKET_IFNAME": "lo",
           "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT / "src"), os.environ.get("PYTHONPATH")]))}
    sets = [a for kv in TINY for a in ("--set", kv)]
    launches = [
        ("2 agents x 1 process (--nnodes 2), new run to step 4", 2, 1,
         ["srresnet", "--data", str(data), "--run", str(run), "--cache", str(cache), "--no-progress", *sets,
          "--set", "max_steps=4"], 4, 2),
        ("2 agents x 1 process (--nnodes 2), --resume to step 6", 2, 1,
         ["--resume", str(run), "--cache", str(cache), "--no-progress", "--set", "max_steps=6"], 6, 2),
        ("1 agent x 2 processes (--nproc-per-node 2), --resume to step 8", 1, 2,
         ["--resume", str(run), "--cache", str(cache), "--no-progress", "--set", "max_steps=8"], 8, 2),
        ("1 agent x 1 process, --resume to step 10 (another world size: crop streams restart)", 1, 1,
         ["--resume", str(run), "--cache", str(cache), "--no-progress", "--set", "max_steps=10",
          "--export", str(work / "tiny.safetensors")], 10, 1),
    ]
    results, ok = [], True
    for name, nnodes, nproc, args, want_step, want_world in launches:
        codes, secs, tail = torchrun(nnodes, nproc, args, env)
        row = {"launch": name, "exit_codes": codes, "seconds": round(secs, 1)}
        checks = {"all exited 0": all(c == 0 for c in codes)}
        if checks["all exited 0"]:
            ck = load_checkpoint(run)
            row.update(step=ck["step"], world_size=ck["world_size"], samplers=len(ck["rng"]["samplers"]))
            checks["checkpoint step"] = ck["step"] == want_step
            checks["world size"] = ck["world_size"] == want_world
            files = sorted(p.name for p in cache.iterdir())
            keys = {f.split(".")[0] for f in files}
            row["cache_files"] = len(files)
            # 6 photos, 1 held out for validation (never cached): 5 images x (hr, lr), written once
            checks["one hr+lr pair per training image, no temporaries"] = (
                len(keys) == 5 and files == sorted(f"{k}.{kind}.npy" for k in keys for kind in ("hr", "lr")))
            events = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
            row["events"] = [e.get("event") for e in events if e.get("event")]
            checks["no partial files in the run folder"] = not any(p.name.endswith(".tmp") for p in run.rglob("*"))
        if not all(checks.values()):
            row["log_tail"] = tail
        if "another world size" in name:
            checks["warned that the crop streams restart"] = "crop streams start afresh" in tail
        row["checks"] = checks
        ok &= all(checks.values())
        results.append(row)
        print(json.dumps(row), file=sys.stderr)
    exported = work / "tiny.safetensors"
    final = {"torch": torch.__version__, "backend": "gloo (CPU)", "cpus": os.cpu_count(), "launches": results,
             "exported_generator": exported.exists(), "all_checks_passed": bool(ok and exported.exists()),
             "command_shape": "torchrun --nnodes N --nproc-per-node P --rdzv-backend c10d --rdzv-endpoint HOST:PORT "
                              "--rdzv-id ID -m superres -- train ..."}
    (HERE / "ddp_check.json").write_text(json.dumps(final, indent=2) + "\n")
    shutil.rmtree(work, ignore_errors=True)
    print(json.dumps(final, indent=2))
    return 0 if final["all_checks_passed"] else 1


if __name__ == "__main__":
    sys.exit(main())
