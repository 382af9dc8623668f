"""Figures for ``superres animate``: wall time, frames/s, output bytes, peak memory, flicker.

Every case runs in a fresh Python process (so its peak resident memory, VmHWM,
is that case's, imports and model included) through the same code path as the
command (:func:`superres.animate.animate_file`), once plainly and once with
``--stabilize``. The flicker figures are :class:`superres.animate.FlickerMeter`
values (mean |output change|, 0-255): "flicker" over output pixels more than 2
LR pixels from any input change (bicubic's reach: bicubic measures 0 there),
"near" counting the pixels next to input changes too (bicubic is not 0 there:
that part is the picture moving, not flicker).

    python benchmarks/animation.py                              # default cases, markdown table
    python benchmarks/animation.py --model srgan-x4 --model bicubic
    python benchmarks/animation.py --random-srresnet            # + a full-size random SRResNet
    python benchmarks/animation.py --long                       # + the generated 300-frame 160x120 GIF
    python benchmarks/animation.py --example examples/synthetic_compare.gif
    python benchmarks/animation.py --inputs my.gif --json out.json --threads 4

Inputs default to ``../shared/data/gif/{imageio_newtonscradle,pillow_chi}.gif``
(skipped with a message when ``../shared`` is absent). A random SRResNet has
the trained one's speed and memory but not its output, so its flicker says
nothing about the trained SRGAN: re-measure that when the weights ship.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHARED_GIFS = ROOT.parent / "shared" / "data" / "gif"
DEFAULT_INPUTS = ["imageio_newtonscradle.gif", "pillow_chi.gif"]


# --- synthetic animations (our own pixels: free to ship) ------------------------------------------

def synthetic_frames(n: int, width: int, height: int, seed: int = 0):
    """RGB uint8 frames of a small scene: a brick wall, a sign, a striped ball bouncing, a turning wheel.

    Drawn at 4x and shrunk with the MATLAB-style bicubic (antialiased), like an LR
    training image, so an upscaler has real detail to restore.
    """
    import math

    import numpy as np
    import torch
    from PIL import Image, ImageDraw, ImageFont

    from superres.resize import imresize

    W, H = width * 4, height * 4
    rng = np.random.default_rng(seed)
    base = Image.new("RGB", (W, H))
    d = ImageDraw.Draw(base)
    for y in range(H // 2):  # sky gradient
        c = int(120 + 100 * y / (H / 2))
        d.line([(0, y), (W, y)], fill=(c // 2, c // 2 + 40, 255))
    bh, bw = max(8, H // 16), max(16, W // 10)
    for row, y in enumerate(range(H // 2, H, bh)):  # bricks with mortar and speckle
        off = (row % 2) * bw // 2
        for x in range(-off, W, bw):
            tone = rng.integers(-25, 25)
            d.rectangle([x + 2, y + 2, x + bw - 2, y + bh - 2], fill=(170 + tone, 70 + tone // 2, 50))
    arr = np.asarray(base).astype(np.int16)
    arr[H // 2:] += rng.integers(-12, 12, (H - H // 2, W, 1)).astype(np.int16)
    base = Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8))
    d = ImageDraw.Draw(base)
    try:
        font = ImageFont.load_default(size=max(10, H // 7))
    except TypeError:  # pragma: no cover
        font = ImageFont.load_default()
    d.rectangle([W // 20, H // 12, W // 20 + W * 2 // 5, H // 12 + H // 5], fill=(250, 250, 240), outline=(0, 0, 0),
                width=3)
    d.text((W // 20 + 10, H // 12 + 6), "superres", fill=(20, 20, 20), font=font)
    frames = []
    for i in range(n):
        im = base.copy()
        d = ImageDraw.Draw(im)
        t = i / max(1, n)
        r = H // 8
        cx = int(r + (W - 2 * r) * (0.5 - 0.5 * math.cos(2 * math.pi * t)))
        cy = int(H * 0.55 - abs(math.sin(4 * math.pi * t)) * H * 0.3)
        ball = Image.new("RGB", (2 * r + 1, 2 * r + 1), (240, 200, 40))
        bd = ImageDraw.Draw(ball)
        for k in range(-2 * r, 2 * r, max(4, r // 3)):  # stripes, clipped to the ball by the mask below
            bd.line([(k, 0), (k + r // 2, 2 * r)], fill=(200, 60, 30), width=2)
        mask = Image.new("L", ball.size, 0)
        ImageDraw.Draw(mask).ellipse([0, 0, 2 * r, 2 * r], fill=255)
        im.paste(ball, (cx - r, cy - r), mask)
        d.ellipse([cx - r, cy - r, cx + r, cy + r], outline=(60, 40, 0), width=3)
        wx, wy, wr = W * 4 // 5, H // 4, H // 6  # turning wheel
        for s in range(4):
            a = 2 * math.pi * (t + s / 4)
            d.line([(wx, wy), (wx + wr * math.cos(a), wy + wr * math.sin(a))], fill=(30, 30, 30), width=4)
        d.ellipse([wx - 5, wy - 5, wx + 5, wy + 5], fill=(30, 30, 30))
        x = torch.from_numpy(np.array(im)).permute(2, 0, 1).float()[None] / 255
        lr = imresize(x, size=(height, width), kernel="bicubic").clamp(0, 1)
        frames.append((lr[0].permute(1, 2, 0).numpy() * 255).round().astype(np.uint8))
    return frames


def make_long_gif(path: Path, n: int = 300, width: int = 160, height: int = 120) -> Path:
    """The generated n-frame GIF (cached: made once)."""
    if path.exists():
        return path
    from superres.io.animation import write_animation

    write_animation(synthetic_frames(n, width, height), path, durations=40, overwrite=True)
    return path


# --- one case in a fresh process ----------------------------------------------------------------------

def child(spec: dict) -> dict:
    import resource

    import torch

    torch.set_num_threads(spec["threads"])
    from superres.animate import AnimateOptions, animate_file
    from superres.api import make_upscaler

    if spec["model"] == NOISY:
        _register_noisy()

    make_upscaler(spec["model"], device="cpu")  # load (and cache) the model before measuring
    base_rss = _status_mb("VmRSS")
    opts = AnimateOptions(model=spec["model"], device="cpu", stabilize=spec["stabilize"], quiet=True,
                          overwrite=True, precision="fp32")
    t = time.perf_counter()
    rep = animate_file(spec["input"], spec["output"], opts)
    wall = time.perf_counter() - t
    # VmHWM, not ru_maxrss: on Linux ru_maxrss survives exec, so it can report the parent's peak
    peak = _status_mb("VmHWM") or resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"frames": rep.frames, "lr": list(rep.lr_size), "hr": list(rep.hr_size), "wall_s": wall,
            "fps": rep.frames / wall, "bytes": rep.bytes, "peak_rss_mb": peak, "base_rss_mb": base_rss,
            "flicker": rep.flicker, "flicker_near": rep.flicker_near, "reused": rep.reused}


NOISY = "noisy-bicubic"


def _register_noisy() -> None:
    """A flicker stand-in (NOT a GAN): bicubic plus fresh uniform noise of +-3/255 on every call.

    It only shows what --stabilize does to texture that changes from call to call.
    """
    import torch

    from superres.models import Interpolation
    from superres.registry import register_model

    class NoisyBicubic(Interpolation):
        def forward(self, x):
            y = super().forward(x)
            return (y + (torch.rand_like(y) - 0.5) * (6 / 255)).clamp(0, 1)

    register_model(NOISY, "bicubic + per-call noise (flicker demo)", tags=("demo",))(lambda: NoisyBicubic())


def _status_mb(field: str) -> float | None:
    """A memory figure of this process from /proc/self/status (Linux), in MB."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return None


def run_case(inp: Path, model: str, stabilize: bool, out_dir: Path, threads: int, label: str) -> dict:
    out = out_dir / f"{inp.stem}__{Path(label).stem}{'__stab' if stabilize else ''}.gif"
    spec = {"input": str(inp), "output": str(out), "model": model, "stabilize": stabilize, "threads": threads}
    env = dict(os.environ, OMP_NUM_THREADS=str(threads))
    r = subprocess.run([sys.executable, __file__, "--child", json.dumps(spec)], capture_output=True, text=True,
                       env=env, check=False)
    if r.returncode != 0:
        raise SystemExit(f"case {inp.name} / {label} failed:\n{r.stderr[-2000:]}")
    res = json.loads(r.stdout.strip().splitlines()[-1])
    res.update(input=inp.name, model=label, stabilize=stabilize, output=str(out))
    return res


def fmt(v, spec="{:.2f}"):
    return "n/a" if v is None else spec.format(v)


def _current(r: dict) -> dict:
    """A row in today's terms: rows recorded before the flicker figure changed (issue 15) have
    "flicker" counting pixels next to input changes and "flicker_far" the figure now called flicker."""
    if "flicker_far" in r and "flicker_near" not in r:
        r = {**r, "flicker": r["flicker_far"], "flicker_near": r["flicker"]}
        r.pop("flicker_far")
    return r


def table(rows: list[dict]) -> str:
    rows = [_current(r) for r in rows]
    head = ("| input | frames | model | stabilize | wall s | frames/s | output bytes | peak RSS MB "
            "(after load) | flicker | change near input changes |\n|---|---|---|---|---|---|---|---|---|---|")
    lines = [head]
    for r in rows:
        lines.append(f"| {r['input']} ({r['lr'][0]}x{r['lr'][1]}) | {r['frames']} | {r['model']} | "
                     f"{'yes' if r['stabilize'] else 'no'} | {r['wall_s']:.1f} | {r['fps']:.2f} | {r['bytes']:,} | "
                     f"{fmt(r['peak_rss_mb'], '{:.0f}')} ({fmt(r['base_rss_mb'], '{:.0f}')}) | {fmt(r['flicker'])} | "
                     f"{fmt(r['flicker_near'])} |")
    return "\n".join(lines)


def make_example(path: Path, model: str | None, frames: int = 24) -> None:
    """The README side-by-side GIF of the synthetic scene: [input nearest | bicubic | model]."""
    from superres.animate import AnimateOptions, animate_file
    from superres.io.animation import write_animation

    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "scene.gif"
        write_animation(synthetic_frames(frames, 96, 64), src, durations=80)
        out = Path(tmp) / "scene_x4.gif"
        rep = animate_file(src, out, AnimateOptions(model=model, compare=True, overwrite=True, quiet=True))
        cmp = out.with_name("scene_x4_compare.gif")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(cmp.read_bytes())
    print(f"{path}: {path.stat().st_size:,} bytes, model {rep.model}, {rep.frames} frames", file=sys.stderr)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--child", help=argparse.SUPPRESS)
    ap.add_argument("--model", action="append", help="model name or weights path (repeatable); "
                    "default: bicubic and the best installed model")
    ap.add_argument("--random-srresnet", action="store_true",
                    help="also measure a full-size randomly initialised SRResNet (srgan-x4's speed and memory)")
    ap.add_argument("--flicker-demo", action="store_true",
                    help=f"also measure {NOISY!r}: bicubic + fresh noise per frame, a stand-in for GAN flicker")
    ap.add_argument("--inputs", nargs="*", help="animation files (default: the ../shared GIFs)")
    ap.add_argument("--long", action="store_true", help="also the generated 300-frame 160x120 GIF")
    ap.add_argument("--long-models", nargs="*", default=None,
                    help="models for the 300-frame GIF (default: the same as --model)")
    ap.add_argument("--stabilize", choices=["both", "no", "yes"], default="both",
                    help="run each case plainly, with --stabilize, or both (default)")
    ap.add_argument("--threads", type=int, default=1, help="torch threads per case (default 1)")
    ap.add_argument("--out", type=Path, default=None, help="folder for outputs (default: a temporary one)")
    ap.add_argument("--json", type=Path, help="also write the rows as JSON")
    ap.add_argument("--example", type=Path, help="write the README side-by-side GIF here and exit")
    args = ap.parse_args()
    if args.child:
        print(json.dumps(child(json.loads(args.child))))
        return
    sys.path.insert(0, str(ROOT / "src"))
    if args.example:
        make_example(args.example, args.model[0] if args.model else None)
        return
    from superres.registry import default_model

    out_dir = args.out or Path(tempfile.mkdtemp(prefix="superres-anim-bench-"))
    out_dir.mkdir(parents=True, exist_ok=True)
    models = [(m, Path(m).name) for m in (args.model or sorted({"bicubic", default_model()}))]
    if args.random_srresnet:
        from superres.models import SRResNet
        from superres.weights import save_weights

        p = out_dir / "random_srresnet_full.safetensors"
        if not p.exists():
            save_weights(SRResNet(), p)
        models.append((str(p), "random SRResNet (full size)"))
    if args.flicker_demo:
        models.append((NOISY, NOISY + " (demo)"))
    inputs = [Path(p) for p in args.inputs] if args.inputs else []
    if not args.inputs:
        if SHARED_GIFS.is_dir():
            inputs = [SHARED_GIFS / n for n in DEFAULT_INPUTS]
        else:
            print(f"note: {SHARED_GIFS} is absent; pass --inputs (or --long for the generated GIF)", file=sys.stderr)
    cases = [(inp, m) for inp in inputs for m in models]
    if args.long:
        long_gif = make_long_gif(out_dir / "generated_300x160x120.gif")
        long_models = models if args.long_models is None else [(m, Path(m).name) for m in args.long_models]
        cases += [(long_gif, m) for m in long_models]
    rows = []
    for inp, (model, label) in cases:
        for stab in {"both": (False, True), "no": (False,), "yes": (True,)}[args.stabilize]:
            t = time.perf_counter()
            rows.append(run_case(inp, model, stab, out_dir, args.threads, label))
            print(f"  {inp.name} / {label} / stabilize={stab}: {time.perf_counter() - t:.0f} s", file=sys.stderr)
    print(table(rows))
    print(f"\noutputs in {out_dir}; {args.threads} torch thread(s) per case; "
          f"{os.cpu_count()} CPUs; torch threads and load affect wall time", file=sys.stderr)
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
