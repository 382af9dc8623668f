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
        repeats = max(repeats, 10)  # ~25 ms a call: cheap, and the reference every ratio divides by
        out["nchw_gflops"] = flops / timeit(lambda: conv(x), repeats, warmup=2) / 1e9
        conv_cl = conv.to(memory_format=torch.channels_last)
        x_cl = x.contiguous(memory_format=torch.channels_last)
        out["channels_last_gflops"] = flops / timeit(lambda: conv_cl(x_cl), repeats, warmup=2) / 1e9
        with torch.autocast("cpu", dtype=torch.bfloat16):
            out["channels_last_bf16_gflops"] = flops / timeit(lambda: conv_cl(x_cl), repeats, warmup=2) / 1e9
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


def get_model(name: str):
    """The installed model, or (not installed) the architecture as initialised, as a
    :class:`superres.models.ModelDescriptor` (its card steers ``Upscaler``; ``.module`` is the bare
    network): speed and memory do not depend on the weights, quality does (quality rows skip those)."""
    from superres.models.base import describe
    from superres.registry import create_model, get_entry, load_model

    if get_entry(name).available():
        return load_model(name)
    return describe(create_model(name, pretrained=False), name=name)


def _bench_compiled(model, x, ref, t_plain: float, repeats: int, row: dict) -> None:
    """torch.compile (inductor), float32 channels-last; compile time reported separately."""
    try:
        from superres.inference.optimize import optimize_for_inference

        fast = optimize_for_inference(model.module, torch.device("cpu"), True)
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
        with torch.no_grad():
            row["compiled_fp32_maxdiff_255"] = float((compiled(xc).clamp(0, 1) - ref).abs().max() * 255)
    except Exception as e:  # noqa: BLE001
        row["compile_note"] = f"{type(e).__name__}: {e}"[:120]


def bench_model(name: str, repeats: int, big: bool, compile_: bool) -> dict:
    from superres.inference import Upscaler
    from superres.registry import get_entry

    model = get_model(name)
    row: dict = {"model": name, "params": sum(p.numel() for p in model.parameters()),
                 "weights": "installed" if get_entry(name).available() else "untrained (speed only)"}
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
        # pre_pad=0: the same pixels as the plain way (the default reflection pre-pad of 8 LR
        # pixels only changes the border, and costs (272/256)^2 - 1 = 13% more work here)
        up = Upscaler(model, tile=0, precision=precision, device="cpu", pre_pad=0)
        t = timeit(lambda: up(x), repeats)
        y = up(x)
        row[f"{precision}_mp_s"] = 1024 * 1024 / t / 1e6
        row[f"{precision}_speedup"] = t_plain / t
        row[f"{precision}_gflops"] = flops / t / 1e9 if flops else None
        row[f"{precision}_maxdiff_255"] = float((y - ref).abs().max() * 255)
    try:  # the optional ONNX Runtime backend (float32)
        up = Upscaler(model, tile=0, precision="fp32", device="cpu", backend="onnxruntime", pre_pad=0)
        up(x)  # exports the graph for this shape
        t = timeit(lambda: up(x), repeats)
        row["onnxruntime_mp_s"] = 1024 * 1024 / t / 1e6
        row["onnxruntime_speedup"] = t_plain / t
        row["onnxruntime_maxdiff_255"] = float((up(x) - ref).abs().max() * 255)
    except Exception as e:  # noqa: BLE001  (reported in the table, not fatal to the suite)
        row["onnxruntime_note"] = f"{type(e).__name__}: {e}"[:120]
    if not compile_:
        row["compile_note"] = "not measured (only for --profile-model, to keep the suite short)"
    else:
        _bench_compiled(model, x, ref, t_plain, repeats, row)
    if big:
        lr = (np.random.default_rng(0).random((1080, 1920, 3)) * 255).astype(np.uint8)
        up = Upscaler(model, precision="auto", device="cpu", batch_tiles=1)
        t0 = time.perf_counter()
        up.upscale_array(lr)
        row["tiled_1080p_mp_s"] = 7680 * 4320 / (time.perf_counter() - t0) / 1e6
        row["tiled_1080p_precision"] = up.precision
    return row


def layer_times(model, x, ctx, repeats: int, other: str) -> tuple[float, list[dict]]:
    """Mean wall time of ``model(x)`` under ``ctx()`` and its split over leaf modules, grouped by kind,
    kernel, channels and output resolution (e.g. "Conv2d 9x9 64->3 @1024x1024"; quantised convolutions
    too). The first pass is a warm-up. What the hooks do not see is one row labelled ``other``.
    Returns (seconds per pass, rows of {"layer", "seconds", "share"}, slowest first)."""
    groups: dict[str, float] = {}
    starts: dict[int, float] = {}

    def key(mod, out) -> str:
        res = f"@{out.shape[-2]}x{out.shape[-1]}"
        k = getattr(mod, "kernel_size", None)
        if k is not None and hasattr(mod, "in_channels"):
            k = k if isinstance(k, tuple) else (k, k)
            return f"{type(mod).__name__} {k[0]}x{k[1]} {mod.in_channels}->{mod.out_channels} {res}"
        return f"{type(mod).__name__} {res}"

    def pre(mod, inp):
        starts[id(mod)] = time.perf_counter()

    def post(mod, inp, out):
        k = key(mod, out)
        groups[k] = groups.get(k, 0.0) + time.perf_counter() - starts[id(mod)]

    leaves = [m for m in model.modules() if not list(m.children())]
    handles = [h for m in leaves for h in (m.register_forward_pre_hook(pre), m.register_forward_hook(post))]
    totals = []
    try:
        with torch.inference_mode():
            for i in range(repeats + 1):
                if i == 1:  # the first pass is a warm-up
                    groups.clear()
                    totals.clear()
                t = time.perf_counter()
                with ctx():
                    model(x)
                totals.append(time.perf_counter() - t)
    finally:
        for h in handles:
            h.remove()
    n, total = len(totals), sum(totals)
    rows = sorted(({"layer": k, "seconds": v / n, "share": v / total} for k, v in groups.items()),
                  key=lambda r: -r["seconds"])
    rows.append({"layer": f"other ({other})", "seconds": (total - sum(groups.values())) / n,
                 "share": 1 - sum(groups.values()) / total})
    return total / n, rows


def profile_model(name: str, precision: str = "fp32", size: int = 256, repeats: int = 3) -> dict:
    """Where the time of the project's path goes: wall time per layer kind.

    Every leaf module of the inference-ready network (BatchNorm folded,
    channels-last) is timed with forward hooks; layers are grouped by kind, kernel
    and the resolution they run at (e.g. "Conv2d 9x9 64->3 @1024x1024"). What the
    hooks do not see (residual adds, the final clamp, Python glue) is "other".
    """
    from superres.inference.optimize import optimize_for_inference

    model = optimize_for_inference(get_model(name).module, torch.device("cpu"), True)
    x = torch.rand(1, 3, size, size).contiguous(memory_format=torch.channels_last)
    ctx = (lambda: torch.autocast("cpu", dtype=torch.bfloat16)) if precision == "bf16" else torch.no_grad
    total, rows = layer_times(model, x, ctx, repeats, other="interpolation, adds, clamp, glue")
    return {"model": name, "precision": precision, "input": f"{size}x{size}", "total_s": total,
            "rows": rows}


def precision_quality(names: list[str], folders: list[Path]) -> list[dict]:
    """PSNR-Y / SSIM-Y / LPIPS of each model in float32 and bfloat16 on the benchmark sets.

    This is the check behind ``precision=auto``: bfloat16 is the default only for
    models where it costs at most 0.05 dB PSNR and 0.005 LPIPS.
    """
    from superres.evaluate import evaluate_model
    from superres.lpips import cached_lpips

    lp = cached_lpips("alex")
    rows = []
    for name in names:
        if name in ("bicubic", "bilinear", "nearest"):
            continue
        for folder in folders:
            row: dict = {"model": name, "dataset": folder.name}
            for precision in ("fp32", "bf16"):
                s = evaluate_model(name, folder, lpips=lp if lp is not None else False, device="cpu",
                                   precision=precision).summary()
                row[precision] = {k: s[k] for k in ("psnr", "ssim", "lpips")}
            a, b = row["fp32"], row["bf16"]
            row["psnr_drop"] = a["psnr"] - b["psnr"]
            row["lpips_rise"] = (b["lpips"] - a["lpips"]) if a["lpips"] is not None else None
            rows.append(row)
    return rows


def model_ref(name: str, tmp: str) -> str:
    """A name or path make_upscaler accepts: the registry name when installed, else a weights
    file of the untrained architecture (for speed/memory figures only)."""
    from superres.registry import get_entry
    from superres.weights import save_weights

    if get_entry(name).available():
        return name
    return str(save_weights(get_model(name).module, Path(tmp) / f"{name}.safetensors"))


def peak_memory(model: str, size=(4000, 3000)) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        return _peak_memory(model_ref(model, tmp), size) | {"model": model}


def _peak_memory(model: str, size) -> dict:
    code = f"""
import resource, time, numpy as np, superres
from superres.api import make_upscaler
superres.tune_allocator()  # as the CLI runs
rng = np.random.default_rng(0)
lr = (rng.random(({size[1]}, {size[0]}, 3)) * 255).astype(np.uint8)
up = make_upscaler({model!r}, device="cpu")
t = time.perf_counter()
out = up.upscale_array(lr)
secs = time.perf_counter() - t
# VmHWM (this process's own peak), not ru_maxrss: on Linux ru_maxrss survives exec, so a child
# of this big benchmark process would report the parent's peak
try:
    kb = next(int(l.split()[1]) for l in open("/proc/self/status") if l.startswith("VmHWM:"))
except (OSError, StopIteration):
    kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(out.shape, secs, kb)
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
        ref = model_ref(model, tmp)
        t = time.perf_counter()
        upscale_animation(p, model=ref)
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


def targets(res: dict, name: str) -> list[dict]:
    """Issue #6's targets for ``name`` (the default model), checked against this run's numbers."""
    row = next((r for r in res["models"] if r["model"] == name), None)
    if row is None:
        return []
    ref = res["conv"]["channels_last_gflops"]
    out = [
        {"target": "fp32 path >= 1.25x the plain way", "measured": f"{row['fp32_speedup']:.2f}x",
         "met": row["fp32_speedup"] >= 1.25},
        {"target": "fp32 path within 1/255 of the plain way", "measured": f"{row['fp32_maxdiff_255']:.3f}/255",
         "met": row["fp32_maxdiff_255"] <= 1.0},
        {"target": "fp32 path >= 60% of channels-last conv GFLOP/s",
         "measured": f"{row['fp32_gflops']:.1f} / {ref:.1f} = {row['fp32_gflops'] / ref:.0%}",
         "met": row["fp32_gflops"] / ref >= 0.60},
        {"target": "bf16 path >= 1.8x the plain way", "measured": f"{row['bf16_speedup']:.2f}x",
         "met": row["bf16_speedup"] >= 1.8},
    ]
    for q in res.get("quality", []):
        if q["model"] == name and q["dataset"].lower() == "set5":
            out.append({"target": "bf16 Set5 PSNR within 0.05 dB of fp32", "measured": f"{q['psnr_drop']:+.3f} dB",
                        "met": abs(q["psnr_drop"]) <= 0.05})
            if q["lpips_rise"] is not None:
                out.append({"target": "bf16 Set5 LPIPS within 0.005 of fp32", "measured": f"{q['lpips_rise']:+.4f}",
                            "met": abs(q["lpips_rise"]) <= 0.005})
    fast = next((r for r in res["models"] if r["model"] == "srgan-x4-fast"), None)
    if fast is not None and name == "srgan-x4":
        for key, what in (("bf16_mp_s", "256x256, bf16"), ("tiled_1080p_mp_s", "1080p tiled, auto")):
            if row.get(key) and fast.get(key):
                ratio = fast[key] / row[key]
                out.append({"target": f"srgan-x4-fast >= 8x srgan-x4 output MP/s ({what})",
                            "measured": f"{fast[key]:.2f} / {row[key]:.2f} = {ratio:.2f}x "
                                        f"(multiply-adds: {row['gflop_per_256px_input'] / fast['gflop_per_256px_input']:.2f}x fewer)",
                            "met": ratio >= 8})
    return out


def to_markdown(res: dict) -> str:
    m = res["machine"]
    lines = [f"# superres benchmark results", "",
             f"Machine: {m['cpu']}, {m['logical_cores']} logical cores, torch {m['torch']} "
             f"({m['torch_threads']} threads), features: {', '.join(m['cpu_features']) or 'none'}; "
             f"allocator: {'big blocks kept in the heap, as the CLI runs' if m.get('malloc_tuned') else 'default'}.",
             f"Command: `{res['command']}`; {res['date']}; total {res['wall_s']:.0f} s.",
             f"Weights from `{res.get('weights_dir', '?')}` (speed does not depend on the weights; quality does).", "",
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
        note = "" if r.get("weights", "installed") == "installed" else " (untrained: speed only)"
        lines.append(f"| {r['model']}{note} | {r['params']:,} | {r['plain_mp_s']:.3f} | {r['fp32_mp_s']:.3f} | "
                     f"{r['fp32_speedup']:.2f}x | {g or 0:.1f} | {eff} | {r['fp32_maxdiff_255']:.2f}/255 | "
                     f"{r['bf16_mp_s']:.3f} | {r['bf16_speedup']:.2f}x | {big} |")
    lines += ["", "## Other backends, 256x256 -> 1024x1024 (output MP/s, float32)", "",
              "| model | ONNX Runtime | speed-up vs plain | max diff | torch.compile | speed-up | max diff | compile time |",
              "|---|---|---|---|---|---|---|---|"]
    for r in res["models"]:
        ort = (f"{r['onnxruntime_mp_s']:.3f} | {r['onnxruntime_speedup']:.2f}x | {r['onnxruntime_maxdiff_255']:.2f}/255"
               if "onnxruntime_mp_s" in r else f"{r.get('onnxruntime_note', '-')} | - | -")
        comp = (f"{r['compiled_fp32_mp_s']:.3f} | {r['compiled_fp32_speedup']:.2f}x | "
                f"{r['compiled_fp32_maxdiff_255']:.2f}/255 | {r['compile_s']:.0f} s"
                if "compiled_fp32_mp_s" in r else f"{r.get('compile_note', '-')} | - | - | -")
        lines.append(f"| {r['model']} | {ort} | {comp} |")
    if res.get("quality"):
        lines += ["", "## bfloat16 vs float32 quality (PSNR-Y / SSIM-Y / LPIPS, LR = the sets' LR_bicubic_x4)", "",
                  "| model | set | fp32 | bf16 | PSNR drop | LPIPS rise |", "|---|---|---|---|---|---|"]

        def fmt(d):
            lp = f"{d['lpips']:.4f}" if d["lpips"] is not None else "-"
            return f"{d['psnr']:.3f} / {d['ssim']:.4f} / {lp}"

        for r in res["quality"]:
            rise = f"{r['lpips_rise']:+.4f}" if r["lpips_rise"] is not None else "-"
            lines.append(f"| {r['model']} | {r['dataset']} | {fmt(r['fp32'])} | {fmt(r['bf16'])} | "
                         f"{r['psnr_drop']:+.3f} dB | {rise} |")
    for prof in res.get("profile", []):
        lines += ["", f"## Where the time goes: {prof['model']}, {prof['precision']}, {prof['input']} input "
                  f"({prof['total_s'] * 1000:.0f} ms per pass)", "", "| layer (kind, kernel, output size) | ms | share |",
                  "|---|---|---|"]
        for r in prof["rows"]:
            lines.append(f"| {r['layer']} | {r['seconds'] * 1000:.1f} | {r['share']:.1%} |")
    if res.get("targets"):
        lines += ["", "## Targets (issue #6), from the numbers above", "", "| target | measured | met |", "|---|---|---|"]
        for t in res["targets"]:
            lines.append(f"| {t['target']} | {t['measured']} | {'yes' if t['met'] else 'no'} |")
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
    ap.add_argument("--models", default="srgan-x4,srgan-x4-fast,srcnn-x4,bicubic",
                    help="models to measure (srresnet-x4 is the same network as srgan-x4: same speed)")
    ap.add_argument("--gif-models", default="srgan-x4,srgan-x4-fast,bicubic", help="models for the GIF frames/s")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--memory-model", default="srgan-x4-fast",
                    help="model for the 4000x3000 peak-memory run (srgan-x4 takes about 5 minutes there)")
    ap.add_argument("--skip", default="",
                    help="comma list of sections to skip: big,quality,profile,memory,gif,training")
    ap.add_argument("--data", nargs="*", default=[str(ROOT.parent / "shared/data/bench/Set5"),
                                                  str(ROOT.parent / "shared/data/bench/Set14")],
                    help="benchmark sets for the bf16-vs-fp32 quality check (skipped when absent)")
    ap.add_argument("--profile-model", default="srgan-x4", help="model whose per-layer time is profiled")
    args = ap.parse_args()
    import superres
    from superres.registry import get_entry

    skip = set(filter(None, args.skip.split(",")))
    t0 = time.perf_counter()
    malloc_tuned = superres.tune_allocator()  # measure the path as the command line runs it (superres._alloc)
    res = {"machine": machine() | {"malloc_tuned": malloc_tuned},
           "command": " ".join([Path(sys.argv[0]).as_posix()] + sys.argv[1:]),
           "date": time.strftime("%Y-%m-%d %H:%M")}
    from superres.registry import weights_dir

    wd = weights_dir()
    res["weights_dir"] = os.path.relpath(wd, ROOT) if wd.is_relative_to(ROOT) else str(wd)
    res["conv"] = conv_throughput(args.repeats)
    names = []
    for n in args.models.split(","):
        try:
            if not get_entry(n).available():
                print(f"{n}: weights not installed; speed and memory measured with untrained weights",
                      file=sys.stderr)
            names.append(n)
        except superres.ModelError as e:
            print(f"skipping {n}: {e}", file=sys.stderr)
    installed = [n for n in names if get_entry(n).available()]
    res["models"] = []
    for n in names:
        print(f"model {n} ...", file=sys.stderr)
        res["models"].append(bench_model(n, args.repeats, big="big" not in skip, compile_=n == args.profile_model))
    sets = [Path(d) for d in args.data if Path(d).is_dir()]
    res["quality"] = [] if "quality" in skip or not sets else precision_quality(installed, sets)
    res["profile"] = [] if "profile" in skip or args.profile_model not in names else [
        profile_model(args.profile_model, p) for p in ("fp32", "bf16")]
    if "profile" not in skip and args.profile_model != "srgan-x4-fast" and "srgan-x4-fast" in names:
        res["profile"].append(profile_model("srgan-x4-fast", "bf16"))  # where the compact model's time goes
    res["targets"] = targets(res, args.profile_model)
    res["memory"] = [] if "memory" in skip else [peak_memory(args.memory_model)]
    gif_models = [n for n in args.gif_models.split(",") if n in names]
    res["gif"] = [] if "gif" in skip else [g for g in (gif_fps(n) for n in gif_models) if g]
    res["training"] = [] if "training" in skip else training_speed(4)
    res["wall_s"] = time.perf_counter() - t0
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(to_markdown(res))
    out.with_suffix(".json").write_text(json.dumps(res, indent=2))
    print(out.read_text())


if __name__ == "__main__":
    main()
