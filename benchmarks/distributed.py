"""Figures for ``superres upscale --ray``: throughput with 1 and 2 Ray workers against the
local command on the same images, Ray's start-up overhead, and peak memory per worker.

    /work/bench.sh python benchmarks/distributed.py                 # writes distributed.{json,md} here
    python benchmarks/distributed.py --count 50 --size 128 --model srgan-x4

The inputs are ``--count`` LR images of ``--size``x``--size`` pixels: the centre of
each photograph in ``../shared/data/train-hr`` reduced 4x with Pillow's bicubic
(synthetic noise-and-gradient images when ``../shared`` is absent; the JSON says
which). Every case upscales the same files into an empty folder:

* ``local``: ``superres upscale IN -o OUT -m MODEL`` in a fresh process, with
  torch's default threads (one per core), then with ``OMP_NUM_THREADS=1``.
  ``wall`` includes the interpreter, imports and model load; ``work`` is the
  command's own "in X s" figure.
* ``ray WxC``: :func:`superres.distributed.upscale_dataset` with W actors of C
  CPUs each (C torch threads), on one local Ray instance started once. ``wall``
  is the call (listing, actor start, model load per actor, upscaling, manifest);
  Ray's own start (``ray.init``) is reported separately as ``ray_init_s``.

Each Ray case's outputs are compared byte for byte with the local command's.
Peak memory: ``ru_maxrss`` of the local command's process, and of each Ray
actor process (reported in every record by the actor itself).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
SHARED = ROOT.parent / "shared" / "data" / "train-hr"
if not SHARED.is_dir():
    SHARED = Path("/work/shared/data/train-hr")


def make_inputs(folder: Path, count: int, size: int) -> str:
    folder.mkdir(parents=True)
    photos = sorted(SHARED.glob("*.jpg"))[:count] if SHARED.is_dir() else []
    if len(photos) == count:
        for i, p in enumerate(photos):
            with Image.open(p) as im:
                im = im.convert("RGB")
                w, h = im.size
                s = size * 4
                left, top = (w - s) // 2, (h - s) // 2
                hr = im.crop((left, top, left + s, top + s))
                hr.resize((size, size), Image.BICUBIC).save(folder / f"{i:03d}.png")
        return f"centre {size * 4}x{size * 4} crops of the first {count} photographs in shared/data/train-hr, " \
               f"reduced 4x (Pillow bicubic) to {size}x{size}"
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:size, 0:size]
    for i in range(count):
        base = (np.stack([xx, yy, xx + yy], axis=2) * (i + 1) % 256).astype(np.float64)
        img = np.clip(base + rng.normal(0, 20, base.shape), 0, 255).astype(np.uint8)
        Image.fromarray(img).save(folder / f"{i:03d}.png")
    return f"{count} synthetic {size}x{size} gradient+noise images (../shared absent)"


#: ``superres upscale ...`` as ``python -m superres`` runs it, printing the process's peak RSS at the end
LOCAL = ("import resource, sys; from superres.cli import main; rc = main(sys.argv[1:]); "
         "print('peak_rss_kib', resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, file=sys.stderr); sys.exit(rc)")


def run_local(src: Path, out: Path, model: str, threads: int | None) -> dict:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT / "src"),
                                                                    os.environ.get("PYTHONPATH")]))}
    if threads:
        env["OMP_NUM_THREADS"] = str(threads)  # torch's intra-op threads
    else:
        env.pop("OMP_NUM_THREADS", None)
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-c", LOCAL, "upscale", str(src), "-o", str(out), "-m", model],
                          capture_output=True, text=True, env=env)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise SystemExit(f"local command failed:\n{proc.stderr}")
    m = re.search(r"in ([0-9.]+) s", proc.stderr)
    peak = re.search(r"peak_rss_kib (\d+)", proc.stderr)
    return {"wall_s": wall, "work_s": float(m.group(1)) if m else None, "threads": threads or os.cpu_count(),
            "peak_rss_mb": int(peak.group(1)) / 1024.0 if peak else None,
            "summary": [ln for ln in proc.stderr.splitlines() if ln.startswith("upscaled")][-1]}


def run_ray(src: Path, out: Path, model: str, workers: int, cpus: float) -> dict:
    from superres.distributed import summarize, upscale_dataset

    stats: dict = {}
    arrivals: list[float] = []
    t0 = time.perf_counter()
    recs = upscale_dataset(str(src), str(out), model=model, workers=workers, cpus_per_worker=cpus,
                           stats=stats, on_record=lambda r: arrivals.append(time.perf_counter()))
    wall = time.perf_counter() - t0
    s = summarize(recs, stats["seconds"], stats["startup_seconds"], stats["workers"])
    if s.failed or s.done != len(recs):
        raise SystemExit(f"ray run {workers}x{cpus}: {s.failed} failed, {s.skipped} skipped")
    per_worker: dict[str, float] = {}
    for r in recs:
        per_worker[r["worker"]] = max(per_worker.get(r["worker"], 0.0), r["peak_rss_mb"])
    busy = sum(r["seconds"] for r in recs)
    return {"wall_s": wall, "first_record_s": arrivals[0] - t0, "busy_s": busy,
            "overhead_s": wall - busy / workers, "peak_rss_mb_per_worker": sorted(per_worker.values()),
            "mp_in": s.mp_in, "mp_out": s.mp_out}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--count", type=int, default=50)
    ap.add_argument("--size", type=int, default=128, help="LR side in pixels (outputs are 4x)")
    ap.add_argument("--model", default="srgan-x4")
    ap.add_argument("--json", default=str(HERE / "distributed.json"))
    ap.add_argument("--md", default=str(HERE / "distributed.md"))
    args = ap.parse_args()
    sys.path.insert(0, str(ROOT / "src"))
    os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT / "src"), os.environ.get("PYTHONPATH")]))
    import ray

    work = Path(tempfile.mkdtemp(prefix="superres-bench-ray-"))
    try:
        src = work / "in"
        data = make_inputs(src, args.count, args.size)
        mp = args.count * args.size * args.size / 1e6
        results: dict = {"machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                                     "ray": ray.__version__, "loadavg_before": os.getloadavg()[0]},
                         "model": args.model, "images": args.count, "lr_size": args.size, "mp_in": mp,
                         "data": data, "cases": {}}
        print(f"{args.count} images, {mp:.2f} MP in, model {args.model}", file=sys.stderr)
        for threads in (None, 1):
            name = "local" if threads is None else f"local {threads} thread"
            local = run_local(src, work / name.replace(" ", "_"), args.model, threads)
            results["cases"][name] = local
            print(f"{name}: {local}", file=sys.stderr)
        t0 = time.perf_counter()
        ray.init(num_cpus=os.cpu_count(), include_dashboard=False, logging_level="WARNING")
        results["ray_init_s"] = time.perf_counter() - t0
        try:
            for workers, cpus in ((1, 1.0), (1, 2.0), (2, 1.0)):
                if workers * cpus > (os.cpu_count() or 1):
                    continue
                name = f"ray {workers}x{cpus:g}"
                out = work / name.replace(" ", "_")
                r = run_ray(src, out, args.model, workers, cpus)
                same = all((out / p.name).read_bytes() == p.read_bytes() for p in (work / "local").glob("*.png"))
                r["identical_to_local"] = same
                results["cases"][name] = r
                print(f"{name}: {r}", file=sys.stderr)
        finally:
            ray.shutdown()
    finally:
        shutil.rmtree(work, ignore_errors=True)
    results["machine"]["loadavg_after"] = os.getloadavg()[0]
    for c in results["cases"].values():
        c["images_per_s"] = args.count / c["wall_s"]
        c["mp_per_s"] = mp / c["wall_s"]
    Path(args.json).write_text(json.dumps(results, indent=2) + "\n")
    Path(args.md).write_text(markdown(results) + "\n")
    print(markdown(results))
    return 0


def markdown(r: dict) -> str:
    lines = [f"Model {r['model']}, {r['images']} images of {r['lr_size']}x{r['lr_size']} "
             f"({r['mp_in']:.2f} MP in, x4 out) on {r['machine']['cpus']} CPU cores "
             f"(load average {r['machine']['loadavg_before']:.1f} before, {r['machine']['loadavg_after']:.1f} after); "
             f"data: {r['data']}. `ray.init` (local instance) took {r['ray_init_s']:.1f} s, not counted below.",
             "",
             "| case | wall s | images/s | MP/s in | first result s | overhead s | peak RSS per process MB "
             "| same bytes as local |",
             "|---|---:|---:|---:|---:|---:|---|---|"]
    for name, c in r["cases"].items():
        if name.startswith("local"):
            lines.append(f"| local command (1 process, {c['threads']} torch thread(s)) | {c['wall_s']:.1f} | "
                         f"{c['images_per_s']:.2f} | {c['mp_per_s']:.3f} | - | "
                         f"{c['wall_s'] - c['work_s']:.1f} (start-up + model load; work {c['work_s']:.1f} s) | "
                         f"{c['peak_rss_mb']:.0f} | - |")
        else:
            w, cpus = name.split()[1].split("x")
            lines.append(f"| Ray, {w} worker(s) x {cpus} CPU | {c['wall_s']:.1f} | {c['images_per_s']:.2f} | "
                         f"{c['mp_per_s']:.3f} | {c['first_record_s']:.1f} | {c['overhead_s']:.1f} | "
                         f"{', '.join(f'{m:.0f}' for m in c['peak_rss_mb_per_worker'])} | "
                         f"{'yes' if c['identical_to_local'] else 'NO'} |")
    lines += ["", "overhead = wall - (sum of per-file seconds) / workers: actor start, model load, scheduling, "
              "listing and the manifest."]
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
