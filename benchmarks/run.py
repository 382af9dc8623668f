"""The superres benchmark suite: one command, one machine, one table.

    python benchmarks/run.py --out benchmarks/results.md      (writes .md and .json)

Measures, in one run on the current machine (not part of the test suite; run it
on an idle machine: numbers taken while something else computes are wrong):

* the machine's dense convolution throughput: GFLOP/s of a 3x3 conv 64->64 on a
  1x64x256x256 float32 tensor, NCHW and channels-last: the reference for "how
  close to the limit";
* for each installed model and bicubic: output megapixels/s for 256x256 ->
  1024x1024 and (tiled) 1920x1080 -> 7680x4320 through the project's path, model
  GFLOP/s and efficiency (model GFLOP/s / channels-last conv GFLOP/s);
* the same network run the plain way (float32 eager ``model.eval()`` under
  ``torch.no_grad()``, default memory format, untiled) as the in-run baseline,
  the speed-up of the project's path over it and the max difference (in 1/255);
* peak resident memory upscaling a 4000x3000 image (a fresh subprocess);
* GIF frames/s on a generated 36-frame 200x150 GIF;
* training seconds/step for each recipe and data-loader samples/s.

Times are medians over repeats after a warm-up. Ratios (speed-up, efficiency)
are what to compare across machines.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parent.parent


def machine() -> dict:
    cpu = platform.processor() or platform.machine()
    flags = ""
    try:
        text = Path("/proc/cpuinfo").read_text()
        for line in text.splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
            if line.startswith("flags"):
                flags = line
                break
    except OSError:
        pass
    feats = [f for f in ("avx2", "avx512f", "avx512_bf16", "amx_bf16", "amx_tile") if f" {f}" in flags]
    return {"cpu": cpu, "logical_cores": os.cpu_count(), "torch_threads": torch.get_num_threads(),
            "torch": torch.__version__, "python": platform.python_version(), "cpu_features": feats,
            "cuda": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None}


def timeit(fn, repeats: int = 5, warmup: int = 1) -> float:
    for _ in range(warmup):
        fn()
    ts = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t)
    return statistics.median(ts)


def conv_throughput(repeats: int) -> dict:
    conv = torch.nn.Conv2d(64, 64, 3, padding=1).eval()
    x = torch.rand(1, 64, 256, 256)
    flops = 2 * 64 * 64 * 9 * 256 * 256
    out = {}
    with torch.no_grad():
        out["nchw_gflops"] = flops / timeit(lambda: conv(x), repeats) / 1e9
        conv_cl = conv.to(memory_format=torch.channels_last)
        x_cl = x.contiguous(memory_format=torch.channels_last)
        out["channels_last_gflops"] = flops / timeit(lambda: conv_cl(x_cl), repeats) / 1e9
        with torch.autocast("cpu", dtype=torch.bfloat16):
            out["channels_last_bf16_gflops"] = flops / timeit(lambda: conv_cl(x_cl), repeats) / 1e9
    return out


def count_flops(model: torch.nn.Module, h: int, w: int) -> float:
    """Multiply-adds x 2 of every Conv2d (and Linear) for one (1, 3, h, w) input."""
    total = 0

    def hook(mod, inp, out):
        nonlocal total
        if isinstance(mod, torch.nn.Conv2d):
            k = mod.kernel_size[0] * mod.kernel_size[1] * (mod.in_channels // mod.groups)
            total += 2 * k * out.numel()

    hs = [m.register_forward_hook(hook) for m in model.modules() if isinstance(m, torch.nn.Conv2d)]
    with torch.no_grad():
        model.eval()(torch.rand(1, 3, h, w))
    for handle in hs:
        handle.remove()
    return float(total)


def bench_model(name: str, repeats: int, big: bool) -> dict:
    import superres
    from superres.inference import Upscaler

    model = superres.load_model(name)
    row: dict = {"model": name, "params": sum(p.numel() for p in model.parameters())}
    x = torch.rand(1, 3, 256, 256)
    flops = count_flops(model, 256, 256)
    row["gflop_per_256px_input"] = flops / 1e9
    # the plain way: fp32 eager, default memory format, untiled
    with torch.no_grad():
        model.eval()
        t_plain = timeit(lambda: model(x), repeats)
        ref = model(x).clamp(0, 1)
    row["plain_mp_s"] = 1024 * 1024 / t_plain / 1e6
    for precision in ("fp32", "bf16"):
        up = Upscaler(model, tile=0, precision=precision, device="cpu")
        t = timeit(lambda: up(x), repeats)
        y = up(x)
        row[f"{precision}_mp_s"] = 1024 * 1024 / t / 1e6
        row[f"{precision}_speedup"] = t_plain / t
        row[f"{precision}_gflops"] = flops / t / 1e9 if flops else None
        row[f"{precision}_maxdiff_255"] = float((y - ref).abs().max() * 255)
    try:  # the optional ONNX Runtime backend (float32)
        up = Upscaler(model, tile=0, precision="fp32", device="cpu", backend="onnxruntime")
        up(x)  # exports the graph for this shape
        t = timeit(lambda: up(x), repeats)
        row["onnxruntime_mp_s"] = 1024 * 1024 / t / 1e6
        row["onnxruntime_speedup"] = t_plain / t
        row["onnxruntime_maxdiff_255"] = float((up(x) - ref).abs().max() * 255)
    except Exception as e:  # noqa: BLE001  (reported in the table, not fatal to the suite)
        row["onnxruntime_note"] = f"{type(e).__name__}: {e}"[:120]
    try:  # torch.compile (inductor), float32 channels-last, compile time reported separately
        from superres.inference.optimize import optimize_for_inference

        fast = optimize_for_inference(model, torch.device("cpu"), True)
        compiled = torch.compile(fast)
        xc = x.contiguous(memory_format=torch.channels_last)
        t0 = time.perf_counter()
        with torch.no_grad():
            compiled(xc)
        row["compile_s"] = time.perf_counter() - t0
        with torch.no_grad():
            t = timeit(lambda: compiled(xc), repeats)
        row["compiled_fp32_mp_s"] = 1024 * 1024 / t / 1e6
        row["compiled_fp32_speedup"] = t_plain / t
    except Exception as e:  # noqa: BLE001
        row["compile_note"] = f"{type(e).__name__}: {e}"[:120]
    if big:
        lr = (np.random.default_rng(0).random((1080, 1920, 3)) * 255).astype(np.uint8)
        up = Upscaler(model, precision="auto", device="cpu", batch_tiles=1)
        t0 = time.perf_counter()
        up.upscale_array(lr)
        row["tiled_1080p_mp_s"] = 7680 * 4320 / (time.perf_counter() - t0) / 1e6
        row["tiled_1080p_precision"] = up.precision
    return row


def peak_memory(model: str, size=(4000, 3000)) -> dict:
    code = f"""
import resource, time, numpy as np, superres
from superres.api import make_upscaler
rng = np.random.default_rng(0)
lr = (rng.random(({size[1]}, {size[0]}, 3)) * 255).astype(np.uint8)
up = make_upscaler({model!r}, device="cpu")
t = time.perf_counter()
out = up.upscale_array(lr)
print(out.shape, time.perf_counter() - t, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
"""
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    shape, secs, rss = r.stdout.strip().rsplit(" ", 2)[0], *r.stdout.split()[-2:]
    return {"model": model, "input": f"{size[0]}x{size[1]}", "seconds": float(secs),
            "peak_rss_mb": int(rss) / 1024}


def gif_fps(model: str) -> dict | None:
    try:
        from superres import upscale_animation
    except (ImportError, AttributeError):
        return None
    from PIL import Image

    rng = np.random.default_rng(0)
    frames = [Image.fromarray((rng.random((150, 200, 3)) * 255).astype(np.uint8)).convert("P") for _ in range(36)]
    with tempfile.TemporaryDirectory() as tmp:
        p = Path(tmp) / "g.gif"
        frames[0].save(p, save_all=True, append_images=frames[1:], duration=40, loop=0)
        t = time.perf_counter()
        upscale_animation(p, model=model)
        secs = time.perf_counter() - t
    return {"model": model, "frames": 36, "size": "200x150", "frames_per_s": 36 / secs}


def training_speed(steps: int) -> list[dict]:
    from PIL import Image

    from superres.training.config import make_config
    from superres.training.data import PairCache, PairSampler, find_images

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp) / "photos"
        d.mkdir()
        rng = np.random.default_rng(0)
        for i in range(4):
            Image.fromarray((rng.random((480, 640, 3)) * 255).astype(np.uint8)).save(d / f"{i}.png")
        cache = PairCache(find_images([d]), 4, Path(tmp) / "cache", min_side=96, with_enlarged=True, progress=False)
        s = PairSampler(cache, 96, 16, seed=0)
        n = 50
        t = time.perf_counter()
        for _ in range(n):
            s.batch()
        rows.append({"what": "data loader (96px crops)", "samples_per_s": n * 16 / (time.perf_counter() - t)})
        from superres.training.train import train

        for recipe, over in (("srresnet", {}), ("srcnn", {}),
                             ("srgan", {"init_from": "", "vgg_net": "vgg16", "vgg_layer": "conv5_3"})):
            for precision in ("fp32", "bf16"):
                cfg = dict(max_steps=steps, val_every=0, log_every=1, ckpt_every=10_000, precision=precision,
                           keep_snapshots=False)
                cfg.update(over)
                if recipe == "srgan":
                    from superres.models import SRResNet
                    from superres.training import losses
                    from superres.weights import save_weights

                    init = save_weights(SRResNet(), Path(tmp) / f"init{precision}.safetensors")
                    cfg["init_from"] = str(init)
                    try:  # real VGG16 when a torch hub cache has it, else random weights (same speed)
                        losses.load_torchvision_features(losses.VGG_URLS["vgg16"], "vgg16")
                    except Exception:  # noqa: BLE001 - speed does not depend on the weights
                        orig = losses.build_vgg
                        losses.build_vgg = lambda net, layer, w: (losses.VGGFeatures(net, layer), "random")
                run = Path(tmp) / f"run_{recipe}_{precision}"
                train(recipe, [d], run, overrides=cfg, cache_dir=Path(tmp) / "cache", progress=False)
                logs = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines() if '"loss"' in x]
                # median of per-step times after the first (warm-up) step
                per = [r["s_per_step"] for r in logs[1:]] or [logs[-1]["s_per_step"]]
                c = make_config(recipe, overrides=cfg)
                rows.append({"what": f"train {recipe} {precision} (batch {c.batch_size}, crop {c.hr_crop})",
                             "s_per_step": statistics.median(per)})
    return rows


def to_markdown(res: dict) -> str:
    m = res["machine"]
    lines = [f"# superres benchmark results", "",
             f"Machine: {m['cpu']}, {m['logical_cores']} logical cores, torch {m['torch']} "
             f"({m['torch_threads']} threads), features: {', '.join(m['cpu_features']) or 'none'}.",
             f"Command: `{res['command']}`; {res['date']}; total {res['wall_s']:.0f} s.", "",
             "## Convolution throughput (3x3, 64->64, 1x64x256x256)", "",
             "| layout | GFLOP/s |", "|---|---|"]
    c = res["conv"]
    lines += [f"| NCHW fp32 | {c['nchw_gflops']:.1f} |", f"| channels-last fp32 | {c['channels_last_gflops']:.1f} |",
              f"| channels-last bf16 | {c['channels_last_bf16_gflops']:.1f} |", ""]
    lines += ["## Models, 256x256 -> 1024x1024 (output MP/s)", "",
              "| model | params | plain fp32 | ours fp32 | speed-up | GFLOP/s | eff. | max diff | ours bf16 | speed-up | 1080p tiled (auto) |",
              "|---|---|---|---|---|---|---|---|---|---|---|"]
    ref = c["channels_last_gflops"]
    for r in res["models"]:
        g = r.get("fp32_gflops")
        eff = f"{g / ref:.0%}" if g else "-"
        big = f"{r['tiled_1080p_mp_s']:.2f} ({r['tiled_1080p_precision']})" if "tiled_1080p_mp_s" in r else "-"
        lines.append(f"| {r['model']} | {r['params']:,} | {r['plain_mp_s']:.3f} | {r['fp32_mp_s']:.3f} | "
                     f"{r['fp32_speedup']:.2f}x | {g or 0:.1f} | {eff} | {r['fp32_maxdiff_255']:.2f}/255 | "
                     f"{r['bf16_mp_s']:.3f} | {r['bf16_speedup']:.2f}x | {big} |")
    lines += ["", "## Other backends, 256x256 -> 1024x1024 (output MP/s, float32)", "",
              "| model | ONNX Runtime | speed-up vs plain | max diff | torch.compile | speed-up | compile time |",
              "|---|---|---|---|---|---|---|"]
    for r in res["models"]:
        ort = (f"{r['onnxruntime_mp_s']:.3f} | {r['onnxruntime_speedup']:.2f}x | {r['onnxruntime_maxdiff_255']:.2f}/255"
               if "onnxruntime_mp_s" in r else f"{r.get('onnxruntime_note', '-')} | - | -")
        comp = (f"{r['compiled_fp32_mp_s']:.3f} | {r['compiled_fp32_speedup']:.2f}x | {r['compile_s']:.0f} s"
                if "compiled_fp32_mp_s" in r else f"{r.get('compile_note', '-')} | - | -")
        lines.append(f"| {r['model']} | {ort} | {comp} |")
    lines += ["", "## Peak memory", "", "| model | input | seconds | peak RSS |", "|---|---|---|---|"]
    for r in res["memory"]:
        lines.append(f"| {r['model']} | {r['input']} | {r['seconds']:.1f} | {r['peak_rss_mb']:.0f} MB |")
    if res.get("gif"):
        lines += ["", "## Animation", "", "| model | frames | size | frames/s |", "|---|---|---|---|"]
        for r in res["gif"]:
            lines.append(f"| {r['model']} | {r['frames']} | {r['size']} | {r['frames_per_s']:.2f} |")
    lines += ["", "## Training", "", "| what | figure |", "|---|---|"]
    for r in res["training"]:
        v = f"{r['samples_per_s']:.0f} samples/s" if "samples_per_s" in r else f"{r['s_per_step']:.3f} s/step"
        lines.append(f"| {r['what']} | {v} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default="benchmarks/results.md")
    ap.add_argument("--models", default="srgan-x4,srgan-x4-fast,srresnet-x4,srcnn-x4,bicubic")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--memory-model", default="srgan-x4", help="model for the 4000x3000 peak-memory run")
    ap.add_argument("--skip", default="", help="comma list of sections to skip: big,memory,gif,training")
    args = ap.parse_args()
    import superres
    from superres.registry import get_entry

    skip = set(filter(None, args.skip.split(",")))
    t0 = time.perf_counter()
    res = {"machine": machine(), "command": " ".join([Path(sys.argv[0]).as_posix()] + sys.argv[1:]),
           "date": time.strftime("%Y-%m-%d %H:%M")}
    res["conv"] = conv_throughput(args.repeats)
    names = []
    for n in args.models.split(","):
        try:
            if get_entry(n).available():
                names.append(n)
            else:
                print(f"skipping {n}: weights not installed", file=sys.stderr)
        except superres.ModelError as e:
            print(f"skipping {n}: {e}", file=sys.stderr)
    res["models"] = []
    for n in names:
        print(f"model {n} ...", file=sys.stderr)
        res["models"].append(bench_model(n, args.repeats, big="big" not in skip))
    res["memory"] = [] if "memory" in skip else [peak_memory(args.memory_model)]
    res["gif"] = [] if "gif" in skip else [g for g in (gif_fps(n) for n in names if n != "bicubic") if g]
    res["training"] = [] if "training" in skip else training_speed(4)
    res["wall_s"] = time.perf_counter() - t0
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(to_markdown(res))
    out.with_suffix(".json").write_text(json.dumps(res, indent=2))
    print(out.read_text())


if __name__ == "__main__":
    main()
