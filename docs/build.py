"""Regenerate every measured figure and table in the docs from the shipped weights.

    python docs/build.py                      # everything (several minutes on a 2-core CPU)
    python docs/build.py --only eval text     # some steps
    python docs/build.py --list               # the steps, their outputs and models

Steps (each runs the product's own command on ``src/superres/pretrained/*.safetensors``):

* ``eval``      ``superres eval`` of every shipped model + bicubic on Set5 and Set14
                -> docs/eval_x4.md, docs/eval_x4.json (the one source of the measured numbers)
* ``compare``   ``superres compare examples/images/chelsea.png --diff`` -> docs/images/compare_chelsea.png
* ``gif``       the README's side-by-side animation (a synthetic scene, our own pixels)
                -> examples/synthetic_compare.gif
* ``animation`` ``benchmarks/animation.py`` on the ../shared test GIFs -> docs/animation_x4.md/json
* ``artefacts`` ``benchmarks/artefacts.py`` on the bundled photos and synthetic scenes: the worst windows
                -> docs/images/artefacts/artefact_crops_{photos,synthetic}.png, figures.json, and
                MODELS.md's artefact table (grid / chroma / colour per model)
* ``texture``   the same, the most textured windows, beside the course's SRGAN (catalogue ``course-srgan``)
                -> docs/images/texture/texture_crops_{photos,synthetic}.png
* ``notebook``  examples/srgan_walkthrough.ipynb executed in place, outputs included (needs nbclient)
* ``text``      the measured tables and the "Which model?" text in README.md and MODELS.md,
                generated from docs/eval_x4.json, and README's speed table from benchmarks/results.json
                (``benchmarks/run.py`` measures it; rerun that first when the engine or a network changes)

Every step records in docs/figures.json the SHA-256 of each weights file it used;
``tests/test_docs.py`` checks those against the shipped files, so docs made with other
weights fail the suite until this script is run again.

Needs: the LPIPS weights (``superres models --fetch lpips``, or TORCH_HOME; ``../shared/weights``
is used when TORCH_HOME is unset and it exists), and Set5/Set14 (``--bench DIR``; default
``../shared/data/bench`` when present, else the folder ``superres data bench`` fills).
"""

from __future__ import annotations

import argparse
import datetime as _dt
import hashlib
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
PRETRAINED = ROOT / "src" / "superres" / "pretrained"
MANIFEST = ROOT / "docs" / "figures.json"
EVAL_JSON = ROOT / "docs" / "eval_x4.json"
EVAL_MD = ROOT / "docs" / "eval_x4.md"
ANIM_JSON = ROOT / "docs" / "animation_x4.json"
ANIM_MD = ROOT / "docs" / "animation_x4.md"
COMPARE_PNG = ROOT / "docs" / "images" / "compare_chelsea.png"
EXAMPLE_GIF = ROOT / "examples" / "synthetic_compare.gif"
RESULTS_JSON = ROOT / "benchmarks" / "results.json"

#: The trained models, in table order (bicubic is measured too, as the baseline).
MODELS = ("srgan-x4", "srgan-x4-fast", "srresnet-x4", "srcnn-x4")
BASELINE = "bicubic"
DEFAULT_MODEL = "srgan-x4"
GAN_MODELS = ("srgan-x4", "srgan-x4-fast")
SETS = ("Set5", "Set14")
COMPARE_MODELS = ("bicubic", "srcnn-x4", "srresnet-x4", "srgan-x4")  # superres compare's default panels
ANIMATION_MODELS = ("srgan-x4", "bicubic")
ANIMATION_GIFS = ("imageio_newtonscradle.gif", "pillow_chi.gif")

#: The quality bars each model was trained against (MODELS.md); "met?" is computed from the eval.
TARGETS: dict[str, list[dict]] = {
    "srgan-x4": [
        {"what": "LPIPS", "kind": "max", "metric": "lpips", "bars": {"Set5": 0.15, "Set14": 0.25}},
        {"what": "PSNR within 3 dB of srresnet-x4", "kind": "gap", "metric": "psnr", "ref": "srresnet-x4",
         "max_gap": 3.0},
    ],
    "srresnet-x4": [{"what": "PSNR", "kind": "min", "metric": "psnr", "bars": {"Set5": 30.5, "Set14": 27.3}}],
    "srcnn-x4": [{"what": "PSNR", "kind": "min", "metric": "psnr", "bars": {"Set5": 29.8}}],
    "srgan-x4-fast": [
        {"what": "LPIPS within 0.03 of srgan-x4", "kind": "near", "metric": "lpips", "ref": "srgan-x4",
         "max_gap": 0.03},
        {"what": "speed >= 8x srgan-x4", "kind": "speed", "prefix": "srgan-x4-fast >= 8x"},
    ],
}


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def shipped_hashes(names=MODELS) -> dict[str, str]:
    return {n: sha256(PRETRAINED / f"{n}.safetensors") for n in names}


# --------------------------------------------------------------------------------------------
# text: generated from docs/eval_x4.json (no torch needed; tests/test_docs.py renders it too)
# --------------------------------------------------------------------------------------------

def load_summary(path: Path = EVAL_JSON) -> dict[tuple[str, str], dict]:
    doc = json.loads(path.read_text())
    return {(s["dataset"], s["model"]): s for s in doc["summary"]}


def _speed_targets(results: dict | None) -> list[dict]:
    return [t for t in (results or {}).get("targets", []) if t["target"].startswith("srgan-x4-fast >= 8x")]


def check_targets(summary: dict, results: dict | None) -> dict[str, list[tuple[str, bool | None, str]]]:
    """Per model: (target text, met (None = not measured), measured text)."""
    out: dict[str, list[tuple[str, bool | None, str]]] = {}
    for model, targets in TARGETS.items():
        rows = []
        for t in targets:
            if t["kind"] in ("max", "min"):
                bars = t["bars"]
                vals = {s: summary[(s, model)][t["metric"]] for s in bars}
                ok = all(vals[s] is not None and (vals[s] <= b if t["kind"] == "max" else vals[s] >= b)
                         for s, b in bars.items())
                fmt = ".3f" if t["metric"] == "lpips" else ".2f"
                sign = "<=" if t["kind"] == "max" else ">="
                text = f"{t['what']} {sign} " + " / ".join(f"{b:g}" for b in bars.values()) + \
                    (" (" + " / ".join(bars) + ")")
                short = [f"{s} {format(vals[s] - b, '+' + fmt)}" for s, b in bars.items()
                         if not (vals[s] <= b if t["kind"] == "max" else vals[s] >= b)]
                rows.append((text, ok, "yes" if ok else "no (" + ", ".join(short) + ")"))
            elif t["kind"] in ("gap", "near"):
                gaps = {s: summary[(s, t["ref"])][t["metric"]] - summary[(s, model)][t["metric"]] for s in SETS}
                if t["kind"] == "gap":
                    ok = all(g <= t["max_gap"] for g in gaps.values())
                    measured = "gap " + " / ".join(f"{g:.2f}" for g in gaps.values()) + " dB"
                else:  # within max_gap of ref, or better (lower)
                    ok = all(-g <= t["max_gap"] for g in gaps.values())
                    measured = " / ".join(f"{-g:+.3f}" for g in gaps.values()) + f" vs {t['ref']}"
                rows.append((t["what"], ok, ("yes, " if ok else "no, ") + measured))
            elif t["kind"] == "speed":
                found = _speed_targets(results)
                if not found:
                    rows.append((t["what"], None, "not measured (benchmarks/run.py)"))
                else:
                    ok = all(x["met"] for x in found)
                    measured = "; ".join(x["measured"].split(" (")[0] for x in found)
                    rows.append((t["what"], ok, ("yes, " if ok else "no, ") + measured +
                                 " (benchmarks/results.md)"))
        out[model] = rows
    return out


def _best(summary: dict, metric: str, models, lower: bool) -> str:
    def key(m):
        vals = [summary[(s, m)][metric] for s in SETS]
        return sum(vals) / len(vals)
    return (min if lower else max)(models, key=key)


def _pair(summary: dict, model: str, metric: str, spec: str) -> str:
    return " / ".join(format(summary[(s, model)][metric], spec) for s in SETS)


def _speedup(results: dict | None) -> str | None:
    found = _speed_targets(results)
    ratios = []
    for x in found:
        try:
            ratios.append(float(x["measured"].split("=")[1].split("x")[0]))
        except (IndexError, ValueError):
            pass
    if not ratios:
        return None
    lo, hi = min(ratios), max(ratios)
    return f"{lo:.1f}x" if abs(hi - lo) < 0.05 else f"{lo:.1f}-{hi:.1f}x"


def render_speed(results: dict | None) -> str:
    """README's speed table and the fast model's ratio, from benchmarks/results.json."""
    if not results or not results.get("models"):
        return "Not measured yet: run `python benchmarks/run.py --out benchmarks/results.md`."
    mach = results["machine"]
    bf16_native = "avx512_bf16" in mach.get("cpu_features", []) or "amx_bf16" in mach.get("cpu_features", [])
    gif = {g["model"]: g["frames_per_s"] for g in results.get("gif", [])}
    lines = [f"Measured by `python {results['command']}` on {mach['cpu']} ({mach['logical_cores']} cores, "
             f"{', '.join(mach.get('cpu_features', [])) or 'no AVX-512'}), torch {mach['torch']}, "
             f"{mach['torch_threads']} threads, on {results['date'].split()[0]}; full table, profiles and method in "
             "[benchmarks/results.md](benchmarks/results.md). Output megapixels per second:", "",
             "| model | 256x256 -> 1024x1024, plain PyTorch fp32 | ours fp32 | ours bf16"
             + (" (`auto` here)" if bf16_native else "") + " | 1920x1080 -> 7680x4320, tiled | GIF 200x150, frames/s |",
             "|---|---:|---:|---:|---:|---:|"]
    for m in results["models"]:
        lines.append(f"| {m['model']} | {m['plain_mp_s']:.2f} | {m['fp32_mp_s']:.2f} ({m['fp32_speedup']:.2f}x) | "
                     f"{m['bf16_mp_s']:.2f} ({m['bf16_speedup']:.2f}x) | {m['tiled_1080p_mp_s']:.2f} "
                     f"({m['tiled_1080p_precision']}) | "
                     + (f"{gif[m['model']]:.2f}" if m["model"] in gif else "-") + " |")
    by = {m["model"]: m for m in results["models"]}
    if "srgan-x4" in by and "srgan-x4-fast" in by:
        big, fast = by["srgan-x4"], by["srgan-x4-fast"]
        best = "bf16_mp_s" if bf16_native else "fp32_mp_s"
        ratios = [fast[best] / big[best], fast["tiled_1080p_mp_s"] / big["tiled_1080p_mp_s"]]
        parts = [f"{ratios[0]:.1f}x at 256x256", f"{ratios[1]:.1f}x tiled at 1080p"]
        if "srgan-x4" in gif and "srgan-x4-fast" in gif:
            ratios.append(gif["srgan-x4-fast"] / gif["srgan-x4"])
            parts.append(f"{ratios[2]:.1f}x on the GIF")
        macs = big["gflop_per_256px_input"] / fast["gflop_per_256px_input"]
        lines += ["", f"srgan-x4-fast is {min(ratios):.1f}-{max(ratios):.1f}x faster than srgan-x4 "
                  f"({', '.join(parts)}) and needs {macs:.1f}x fewer multiply-adds."]
    return "\n".join(lines)


def render_blocks(summary: dict, results: dict | None) -> dict[str, str]:
    """The generated blocks of README.md and MODELS.md, by marker name."""
    met = check_targets(summary, results)
    short = [m for m in MODELS if any(ok is False for _, ok, _ in met[m])]
    words = {0: "None", 1: "One", 2: "Two", 3: "Three", 4: "All four"}

    def why(m):
        return ", ".join(t.split(" <=")[0].split(" >=")[0] for t, ok, _ in met[m] if ok is False)

    if short:
        status = (f"{words.get(len(short), str(len(short)))} of them {'is' if len(short) == 1 else 'are'} "
                  "still short of at least one quality bar we set (" +
                  "; ".join(f"{m}: {why(m)}" for m in short) + "): see [MODELS.md](MODELS.md).")
    else:
        status = "All of them meet the quality bars we set: see [MODELS.md](MODELS.md)."

    best_lp = _best(summary, "lpips", MODELS, lower=True)
    best_psnr = _best(summary, "psnr", MODELS, lower=False)
    rest_psnr = [m for m in MODELS if m not in GAN_MODELS and m != best_psnr]
    speed = _speedup(results)
    lines = [f"**Which model?** From the measured table below (Set5 / Set14; LPIPS: lower is perceptually "
             f"closer, PSNR: higher is closer in pixels):"]
    if best_lp == DEFAULT_MODEL:
        lines.append(f"`{DEFAULT_MODEL}` (the default) for the most natural detail on photos "
                     f"(LPIPS {_pair(summary, DEFAULT_MODEL, 'lpips', '.3f')}).")
    else:
        lines.append(f"`{best_lp}` measures the best LPIPS ({_pair(summary, best_lp, 'lpips', '.3f')}, against "
                     f"{_pair(summary, DEFAULT_MODEL, 'lpips', '.3f')} for the default `{DEFAULT_MODEL}`)"
                     + (f" and runs {speed} faster on a CPU" if speed and best_lp == "srgan-x4-fast" else "")
                     + f": prefer it for photos, animations and large images. `{DEFAULT_MODEL}`, the paper's "
                     "full-size generator, stays the default; on these sets it does not beat "
                     f"`{best_lp}`.")
    lines.append(f"`{best_psnr}` when you want the measurably closest pixels (PSNR "
                 f"{_pair(summary, best_psnr, 'psnr', '.2f')} dB; smoother, nothing invented), e.g. for "
                 "measurement or as a baseline" +
                 (f"; `{rest_psnr[0]}` ({_pair(summary, rest_psnr[0], 'psnr', '.2f')} dB) is tiny on disk "
                  "but slow, because it runs at the output resolution" if rest_psnr else "") + ".")
    lines.append("`bicubic` when speed is all that matters. Speeds are in [Speed](#speed) below.")
    which = " ".join(lines)

    def bold(metric, model, s, spec, lower):
        vals = {m: summary[(s, m)][metric] for m in (*MODELS, BASELINE)}
        best = (min if lower else max)(v for v in vals.values() if v is not None)
        v = vals[model]
        text = "n/a" if v is None else format(v, spec)
        return f"**{text}**" if v == best else text

    table = ["| dataset | model | PSNR-Y (dB) | SSIM-Y | LPIPS |", "|---|---|---:|---:|---:|"]
    for s in SETS:
        for m in (*MODELS, BASELINE):
            table.append(f"| {s} | {m} | {bold('psnr', m, s, '.2f', False)} | {bold('ssim', m, s, '.4f', False)} | "
                         f"{bold('lpips', m, s, '.4f', True)} |")

    mtable = ["| model | Set5 PSNR / SSIM / LPIPS | Set14 PSNR / SSIM / LPIPS | target | met? |",
              "|---|---|---|---|---|"]
    for m in (BASELINE, *MODELS):
        cells = [" / ".join([format(summary[(s, m)]["psnr"], ".2f"), format(summary[(s, m)]["ssim"], ".3f"),
                             format(summary[(s, m)]["lpips"], ".3f")]) for s in SETS]
        tg = "; ".join(t for t, _, _ in met.get(m, [])) or "-"
        ok = "; ".join(f"{t.split(' <=')[0].split(' >=')[0]}: {r}" for t, _, r in met.get(m, [])) or "-"
        name = f"{m} (default)" if m == DEFAULT_MODEL else m
        mtable.append(f"| {name} | {cells[0]} | {cells[1]} | {tg} | {ok} |")
    return {"status": status, "which-model": which, "eval-table": "\n".join(table),
            "models-table": "\n".join(mtable), "speed": render_speed(results)}


BLOCK_FILES = {"status": "README.md", "which-model": "README.md", "eval-table": "README.md",
               "speed": "README.md", "models-table": "MODELS.md"}


def _markers(name: str) -> tuple[str, str]:
    return f"<!-- docs/build.py: {name} -->", f"<!-- /docs/build.py: {name} -->"


def read_block(text: str, name: str) -> str | None:
    start, end = _markers(name)
    if start not in text or end not in text:
        return None
    return text.split(start, 1)[1].split(end, 1)[0].strip("\n")


def replace_block(text: str, name: str, body: str) -> str:
    start, end = _markers(name)
    if start not in text or end not in text:
        raise SystemExit(f"docs/build.py: markers for {name!r} not found ({start} ... {end})")
    head, rest = text.split(start, 1)
    _, tail = rest.split(end, 1)
    return f"{head}{start}\n{body}\n{end}{tail}"


# --------------------------------------------------------------------------------------------
# steps that run the models
# --------------------------------------------------------------------------------------------

def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT / "src") + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    if not env.get("TORCH_HOME") and (SHARED / "weights").is_dir():
        env["TORCH_HOME"] = str(SHARED / "weights")
    env.pop("SUPERRES_WEIGHTS_DIR", None)  # never a user's override: the shipped files only
    return env


def _run(args: list[str], env: dict[str, str]) -> None:
    print("+ " + " ".join(args), file=sys.stderr, flush=True)
    r = subprocess.run(args, cwd=ROOT, env=env, check=False)
    if r.returncode != 0:
        raise SystemExit(f"docs/build.py: command failed (exit {r.returncode}): {' '.join(args)}")


def _require_lpips(env: dict[str, str]) -> None:
    code = ("import sys; from superres.lpips import cached_lpips; "
            "sys.exit(0 if cached_lpips('alex') is not None else 3)")
    if subprocess.run([sys.executable, "-c", code], env=env, check=False).returncode != 0:
        raise SystemExit("docs/build.py: the LPIPS weights are not cached (TORCH_HOME="
                         f"{env.get('TORCH_HOME', '(unset)')}); the docs report LPIPS, so run "
                         "`superres models --fetch lpips` or set TORCH_HOME first")


def _bench_dirs(bench: str | None) -> list[Path]:
    if bench:
        root = Path(bench)
    elif (SHARED / "data" / "bench").is_dir():
        root = SHARED / "data" / "bench"
    else:
        sys.path.insert(0, str(ROOT / "src"))
        from superres.datasets import bench_dir

        root = bench_dir()
    dirs = [root / s for s in SETS]
    missing = [str(d) for d in dirs if not (d / "HR").is_dir()]
    if missing:
        raise SystemExit(f"docs/build.py: {', '.join(missing)} missing; run `superres data bench` or pass --bench DIR")
    return dirs


def _now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")


def _machine() -> str:
    from superres.inference.optimize import cpu_name

    return f"{cpu_name()}, {os.cpu_count()} CPUs"


def step_eval(env, args) -> dict:
    dirs = _bench_dirs(args.bench)
    _require_lpips(env)
    models = ",".join((*MODELS, BASELINE))
    load0 = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as tmp:
        md, js = Path(tmp) / "eval_x4.md", Path(tmp) / "eval_x4.json"
        cmd = [sys.executable, "-m", "superres", "eval", "--models", models, "--data", *map(str, dirs),
               "--out", str(md), str(js), "-q"]
        _run(cmd, env)
        doc = json.loads(js.read_text())
        if doc["settings"].get("lpips_note"):
            raise SystemExit(f"docs/build.py: LPIPS was not measured ({doc['settings']['lpips_note']})")
        shown = (f"superres eval --models {models} --data " + " ".join(f"BENCH/{d.name}" for d in dirs)
                 + " --out docs/eval_x4.md docs/eval_x4.json")
        doc["settings"]["command"] = shown
        doc["settings"]["generated_by"] = "python docs/build.py --only eval"
        doc["settings"]["weights_sha256"] = shipped_hashes()
        doc["settings"]["machine"] = _machine()
        doc["settings"]["date"] = _now()
        EVAL_JSON.write_text(json.dumps(doc, indent=2) + "\n")
        text = md.read_text().splitlines()
        head = [text[0], "",
                f"Generated by `python docs/build.py` on {_now()} from the shipped weights "
                "(SHA-256 in [figures.json](figures.json)); BENCH = Set5/Set14 with HR/ and LR_bicubic_x4/ "
                "(`superres data bench`). s/image and MP/s are fp32 wall times on " + _machine() + ", a machine "
                f"shared with other work (load average {load0:.1f} -> {os.getloadavg()[0]:.1f}): they vary "
                "from run to run; the speed figures are in "
                "[benchmarks/results.md](../benchmarks/results.md).", "", f"`{shown}`"]
        EVAL_MD.write_text("\n".join(head + text[1:]) + "\n")
    return {"docs/eval_x4.md": {"command": shown, "models": list(MODELS)},
            "docs/eval_x4.json": {"command": shown, "models": list(MODELS)}}


def step_compare(env, args) -> dict:
    rel = COMPARE_PNG.relative_to(ROOT)
    _require_lpips(env)
    cmd = [sys.executable, "-m", "superres", "compare", "examples/images/chelsea.png", "--diff", "-o", str(rel),
           "--overwrite", "-q"]
    _run(cmd, env)
    return {str(rel): {"command": f"superres compare examples/images/chelsea.png --diff -o {rel}",
                       "models": [m for m in COMPARE_MODELS if m in MODELS]}}


def step_gif(env, args) -> dict:
    rel = EXAMPLE_GIF.relative_to(ROOT)
    cmd = [sys.executable, "benchmarks/animation.py", "--example", str(rel), "--model", DEFAULT_MODEL]
    _run(cmd, env)
    return {str(rel): {"command": " ".join(cmd[1:]), "models": [DEFAULT_MODEL]}}


def _load_note(rows: list[dict]) -> str:
    """Say how busy the machine was: wall times and frames/s depend on it, flicker and bytes do not."""
    seen: dict[str, list] = {}
    for r in rows:
        seen.setdefault(r["input"], r.get("load_avg_1min"))
    parts = [f"{g}: {'not recorded' if la is None else f'{la[0]:g} -> {la[1]:g}'}" for g, la in seen.items()]
    busy = any(la is None or max(la) > (os.cpu_count() or 1) for la in seen.values())
    return ("Load average (1 min) before -> after each GIF's cases: " + "; ".join(parts) + f" ({os.cpu_count()} CPUs)."
            + (" **The machine was shared with other work while these ran: wall s and frames/s are slower "
               "than on an idle machine** (flicker and output bytes do not depend on it); see "
               "[benchmarks/results.md](../benchmarks/results.md) for speed." if busy else "") + "\n\n")


def step_animation(env, args) -> dict:
    gifs = list(ANIMATION_GIFS) if args.gif is None else args.gif  # --gif alone: rewrite from recorded rows
    missing = [g for g in gifs if not (SHARED / "data" / "gif" / g).is_file()]
    if missing:
        raise SystemExit(f"docs/build.py: {', '.join(missing)} not in {SHARED / 'data' / 'gif'}; "
                         "the animation figures are measured on those test GIFs")
    rows = json.loads(ANIM_JSON.read_text()) if ANIM_JSON.is_file() else []
    hashes = shipped_hashes()
    for g in gifs:
        with tempfile.TemporaryDirectory() as tmp:
            out = Path(tmp) / "rows.json"
            cmd = [sys.executable, "benchmarks/animation.py", "--inputs", str(SHARED / "data" / "gif" / g),
                   "--threads", str(args.threads), "--json", str(out), "--out", str(Path(tmp) / "o")]
            for m in ANIMATION_MODELS:
                cmd += ["--model", m]
            load0 = os.getloadavg()[0]
            _run(cmd, env)
            load = [round(load0, 1), round(os.getloadavg()[0], 1)]
            new = json.loads(out.read_text())
        for r in new:
            r.pop("output", None)
            r["weights_sha256"] = hashes.get(r["model"])
            r["date"] = _now()
            r["load_avg_1min"] = load  # before and after: other work on the machine slows wall times
        rows = [r for r in rows if r["input"] != g] + new
    # rows without this script's record (date, weights) predate it: their weights are unknown
    rows = [r for r in rows if r.get("date") and (r["model"] not in MODELS or r.get("weights_sha256"))]
    order = {g: i for i, g in enumerate(ANIMATION_GIFS)}
    rows.sort(key=lambda r: (order.get(r["input"], 99), ANIMATION_MODELS.index(r["model"])
                             if r["model"] in ANIMATION_MODELS else 99, r["stabilize"]))
    ANIM_JSON.write_text(json.dumps(rows, indent=2) + "\n")
    sys.path.insert(0, str(ROOT / "benchmarks"))
    from animation import table  # benchmarks/animation.py: one table format for both

    cmd = (f"python benchmarks/animation.py --inputs ../shared/data/gif/GIF "
           f"{' '.join('--model ' + m for m in ANIMATION_MODELS)} --threads {args.threads} --json ...")
    ANIM_MD.write_text(
        "# superres animate: measured figures\n\n"
        f"Generated by `python docs/build.py --only animation` from the shipped weights (SHA-256 in "
        f"[figures.json](figures.json)); each GIF measured by `{cmd}` (each case in a fresh process; "
        f"{_machine()}, {args.threads} torch threads; dates per row in animation_x4.json). Flicker: mean "
        "|output change| (0-255) over output pixels whose input did not change within 2 LR pixels (bicubic's "
        "reach: bicubic reads 0); \"change near input changes\" counts the pixels next to them too (there the "
        "output must change: the picture moves).\n\n" + _load_note(rows) + table(rows) + "\n")
    used = sorted({r["model"] for r in rows if r["model"] in MODELS})
    per_row = {}
    for r in rows:
        if r["model"] in MODELS:
            per_row.setdefault(r["model"], set()).add(r.get("weights_sha256"))
    mixed = {m: sorted(map(str, v)) for m, v in per_row.items() if len(v) > 1}
    entry = {"command": cmd, "models": used}
    if mixed:
        entry["mixed_weights"] = mixed
    return {"docs/animation_x4.md": entry, "docs/animation_x4.json": entry}


NOTEBOOK = ROOT / "examples" / "srgan_walkthrough.ipynb"
NOTEBOOK_MODELS = ("srgan-x4", "srresnet-x4", "srcnn-x4")  # what its compare/animation cells use


def step_notebook(env, args) -> dict:
    rel = NOTEBOOK.relative_to(ROOT)
    code = f"""
import nbclient, nbformat
nb = nbformat.read({str(NOTEBOOK)!r}, as_version=4)
nbclient.NotebookClient(nb, timeout=600, kernel_name="python3",
                        resources={{"metadata": {{"path": {str(NOTEBOOK.parent)!r}}}}}).execute()
for cell in nb.cells:
    cell.get("metadata", {{}}).pop("execution", None)
errors = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", []) if o.get("output_type") == "error"]
if errors:
    raise SystemExit("the notebook raised: " + errors[0].get("evalue", ""))
nbformat.write(nb, {str(NOTEBOOK)!r})
"""
    _require_lpips(env)
    _run([sys.executable, "-c", code], env)
    return {str(rel): {"command": f"execute {rel} in place (nbclient)", "models": list(NOTEBOOK_MODELS)}}


def step_text(env, args) -> dict:
    summary = load_summary()
    results = json.loads(RESULTS_JSON.read_text()) if RESULTS_JSON.is_file() else None
    blocks = render_blocks(summary, results)
    for fname in sorted(set(BLOCK_FILES.values())):
        path = ROOT / fname
        text = path.read_text()
        for name, body in blocks.items():
            if BLOCK_FILES[name] == fname:
                text = replace_block(text, name, body)
        path.write_text(text)
    doc = json.loads(EVAL_JSON.read_text())
    src = doc["settings"].get("weights_sha256", {})
    command = "python docs/build.py --only text (from docs/eval_x4.json and benchmarks/results.json)"
    return {f"{f}#measured": {"command": command,
                              "models": list(MODELS), "weights_sha256": src, "text": True}
            for f in sorted(set(BLOCK_FILES.values()))}


ARTEFACT_DIR = ROOT / "docs" / "images" / "artefacts"
ARTEFACT_MODELS = ["srresnet-x4", "srgan-x4", "srgan-x4-fast"]


def _mosaics(env, folder: Path, models: list[str], pick: str, foreign: str | None = None) -> dict:
    """``benchmarks/artefacts.py --pick PICK`` on the bundled photos and the synthetic scenes: one
    labelled 4x-nearest mosaic per set in ``folder`` (bicubic | models | [foreign] | reference)."""
    rel = folder.relative_to(ROOT)
    stem = "artefact_crops" if pick == "worst" else "texture_crops"
    cmd = [sys.executable, "benchmarks/artefacts.py", *models, *([foreign] if foreign else []), "--photos",
           "examples/images", "--names", "chelsea", "coffee", "--pick", pick, "--crops", str(rel), "--rows", "6",
           "--overwrite", "--json", str(rel / "figures.json")]
    _run(cmd, env)
    entry: dict = {"command": " ".join(cmd[1:]), "models": models}
    if foreign:
        from superres import catalogue

        entry["foreign_sha256"] = {foreign: catalogue.get(foreign).files[0].sha256}
    return {str(rel / f"{stem}_{kind}.png"): entry for kind in ("photos", "synthetic")}


def render_artefact_table(figures: dict) -> str:
    """MODELS.md's artefact table from ``benchmarks/artefacts.py --json`` (``figures.json``): per model,
    grid / chroma / colour on each set, and the verdict (the failures, or clean)."""
    sets = list(figures["sets"])
    th = figures["thresholds"]
    lines = ["| model | " + " | ".join(f"{s} grid / chroma / colour" for s in sets) + " | verdict |",
             "|---|" + "---|" * len(sets) + "---|",
             "| threshold | " + " | ".join(f"{th['grid']} / {th['chroma']} / {th['colour']}" for _ in sets) + " | |"]
    for model in figures["models"]:
        cells, fails = [], []
        for s in sets:
            f = figures["sets"][s][model]
            cells.append(" / ".join((f"**{f[k]:.2f}**" if f[k] > th[k] else f"{f[k]:.2f}")
                                    for k in ("grid", "chroma", "colour")))
            fails += [f"{s}: {x}" for x in f["failures"]]
        lines.append(f"| {model} | " + " | ".join(cells) + f" | {'; '.join(fails) or 'clean'} |")
    return "\n".join(lines)


def step_artefacts(env, args) -> dict:
    """Labelled 4x-nearest mosaics (bicubic | models | reference) of the worst windows the artefact
    measure finds on the bundled photos (fur, fabric, text on a mug) and the synthetic scenes, and
    MODELS.md's artefact table from the same run's figures."""
    entries = _mosaics(env, ARTEFACT_DIR, [m for m in ARTEFACT_MODELS if m in MODELS], "worst")
    path = ROOT / "MODELS.md"
    table = render_artefact_table(json.loads((ARTEFACT_DIR / "figures.json").read_text()))
    path.write_text(replace_block(path.read_text(), "artefact-table", table))
    entries["MODELS.md#artefact-table"] = {**next(iter(entries.values())), "text": True}
    return entries


TEXTURE_DIR = ROOT / "docs" / "images" / "texture"
#: what a viewer compares on fur, fabric and the synthetic bark/water/text: ours beside the course's SRGAN
#: (a catalogue entry, fetched and verified on first use by the benchmark; needs the keras extra for h5py)
TEXTURE_MODELS = ["srgan-x4", "srgan-x4-fast"]
TEXTURE_FOREIGN = "course-srgan"


def step_texture(env, args) -> dict:
    """Labelled 4x-nearest mosaics (bicubic | srgan-x4 | srgan-x4-fast | course SRGAN | reference) of the
    most textured windows of the bundled photos and the synthetic scenes: what each model draws there."""
    return _mosaics(env, TEXTURE_DIR, [m for m in TEXTURE_MODELS if m in MODELS], "textured", TEXTURE_FOREIGN)


STEPS = {"eval": step_eval, "compare": step_compare, "gif": step_gif, "animation": step_animation,
         "artefacts": step_artefacts, "texture": step_texture, "notebook": step_notebook, "text": step_text}


def update_manifest(entries: dict) -> None:
    doc = json.loads(MANIFEST.read_text()) if MANIFEST.is_file() else {}
    doc["about"] = ("Written by docs/build.py: for each generated doc figure, the command, when, and the "
                    "SHA-256 of every shipped weights file it used. tests/test_docs.py checks them against "
                    "src/superres/pretrained/.")
    figs = doc.setdefault("figures", {})
    hashes = shipped_hashes()
    for path, e in entries.items():
        rec = {"command": e["command"], "date": _now(),
               "weights_sha256": e.get("weights_sha256") or {m: hashes[m] for m in e["models"]}}
        if e.get("mixed_weights"):
            rec["mixed_weights"] = e["mixed_weights"]
        if e.get("foreign_sha256"):  # catalogue weights of other projects it used (not shipped, so not checked)
            rec["foreign_sha256"] = e["foreign_sha256"]
        if not e.get("text"):
            rec["sha256"] = sha256(ROOT / path)
        figs[path] = rec
    doc["figures"] = dict(sorted(figs.items()))
    MANIFEST.write_text(json.dumps(doc, indent=2) + "\n")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter,
                                 epilog="\n".join(__doc__.splitlines()[2:]))
    ap.add_argument("--only", nargs="+", choices=list(STEPS), metavar="STEP",
                    help=f"run these steps only ({', '.join(STEPS)}); default: all, in that order")
    ap.add_argument("--bench", metavar="DIR", help="folder holding Set5/ and Set14/ (HR/ + LR_bicubic_x4/)")
    ap.add_argument("--gif", nargs="*", metavar="NAME",
                    help=f"animation step: measure only these of {ANIMATION_GIFS} (keeping the other GIFs' "
                         "recorded rows); --gif alone rewrites the docs from the recorded rows")
    ap.add_argument("--threads", type=int, default=2, help="torch threads for the animation cases (default 2)")
    ap.add_argument("--list", action="store_true", help="list the steps and exit")
    args = ap.parse_args(argv)
    if args.list:
        for name, fn in STEPS.items():
            print(f"{name:10s} {fn.__name__}")
        return 0
    env = _env()
    steps = args.only or list(STEPS)
    if "text" not in steps and "eval" in steps:
        steps.append("text")  # the text follows the numbers, always
    for name in STEPS:
        if name in steps:
            update_manifest(STEPS[name](env, args))
            print(f"docs/build.py: {name} done", file=sys.stderr, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
