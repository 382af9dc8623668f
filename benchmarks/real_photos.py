"""Real-photo guidance: how each model degrades on JPEG-compressed and noisy inputs.

    TORCH_HOME=../shared/weights /work/bench.sh python benchmarks/real_photos.py measure \
        --models srgan-x4 srresnet-x4 --conditions clean jpeg95 jpeg75 jpeg50 noise5
    python benchmarks/real_photos.py render      # docs/real_photos.md + the MODELS.md blocks + cards

What it measures: for every model (shipped names, catalogue names such as ``course-srgan``,
weights files, or ``srgan-x4@strength=0.5`` / ``realesr-general-x4v3@denoise=0.5``) on Set5 and
Set14 (``../shared/data/bench``), the provided MATLAB-bicubic LR images, degraded as a camera or a
web upload would degrade them:

* ``clean``: unchanged;
* ``jpeg95`` / ``jpeg75`` / ``jpeg50``: saved as JPEG by Pillow at that quality (4:2:0 chroma
  subsampling, Pillow's default, as phones and browsers do) and decoded again;
* ``noise5``: additive Gaussian noise, sigma 5 levels of 255, seed 0, rounded to 8 bits;

then PSNR (Y channel, 4 px shaved, 8-bit output) and LPIPS (AlexNet v0.1) of the output against the
clean HR image, with ``superres.evaluate.evaluate_model`` (the code behind ``superres eval``).
Untiled, fp32, CPU. ``--border zero|reflect`` overrides the model's border treatment (for the
border comparison of our own models, ``measure --border-study``).

Results accumulate in ``docs/real_photos.json`` (re-running a model replaces its rows), so the
work can be split into runs of a few minutes each; ``render`` turns the JSON into
``docs/real_photos.md``, fills the marked blocks of MODELS.md and README's real-photo advice, and
writes the catalogue models'
measured cards (``src/superres/catalogue_cards.json``). Rerun both after replacing weights.
"""

from __future__ import annotations

import argparse
import dataclasses
import io
import json
import platform
import re
import tempfile
import textwrap
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT.parent / "shared" / "data" / "bench"
JSON_OUT = ROOT / "docs" / "real_photos.json"
MD_OUT = ROOT / "docs" / "real_photos.md"
CARDS = ROOT / "src" / "superres" / "catalogue_cards.json"
CONDITIONS = ("clean", "jpeg95", "jpeg75", "jpeg50", "noise5")
STRENGTHS = (0.0, 0.25, 0.5, 0.75, 1.0)


def degrade(lr: np.ndarray, condition: str, seed: int = 0) -> np.ndarray:
    """The LR image as a real photo pipeline would hand it over (see the module docstring)."""
    from PIL import Image

    if condition == "clean":
        return lr
    m = re.fullmatch(r"jpeg(\d+)", condition)
    if m:
        buf = io.BytesIO()
        Image.fromarray(lr).save(buf, format="JPEG", quality=int(m.group(1)))
        buf.seek(0)
        with Image.open(buf) as im:
            return np.asarray(im.convert("RGB"))
    m = re.fullmatch(r"noise(\d+)", condition)
    if m:
        rng = np.random.default_rng(seed)
        noisy = lr.astype(np.float64) + rng.normal(0.0, float(m.group(1)), lr.shape)
        return np.clip(np.round(noisy), 0, 255).astype(np.uint8)
    raise SystemExit(f"unknown condition {condition!r}; choose from {', '.join(CONDITIONS)}")


def degraded_folder(src: Path, condition: str, tmp: Path) -> Path:
    """A Set5-layout folder (HR/ + LR_bicubic_x4/) whose LR images are degraded."""
    from PIL import Image

    if condition == "clean":
        return src
    out = tmp / condition / src.name
    (out / "LR_bicubic_x4").mkdir(parents=True, exist_ok=True)
    (out / "HR").mkdir(exist_ok=True)
    for i, hr in enumerate(sorted((src / "HR").iterdir())):
        (out / "HR" / hr.name).symlink_to(hr)
        with Image.open(src / "LR_bicubic_x4" / hr.name) as im:
            lr = np.asarray(im.convert("RGB"))
        Image.fromarray(degrade(lr, condition, seed=i)).save(out / "LR_bicubic_x4" / hr.name)
    return out


def build(spec: str, border: str | None):
    """A model from a spec: name or path, optionally ``@strength=S`` / ``@denoise=D``."""
    from superres.models.base import Border
    from superres.registry import load_with_controls

    name, _, control = spec.partition("@")
    kwargs = {}
    if control:
        key, _, value = control.partition("=")
        if key not in ("strength", "denoise"):
            raise SystemExit(f"{spec}: expected NAME@strength=S or NAME@denoise=D")
        kwargs[key] = float(value)
    model = load_with_controls(name, **kwargs)
    if border is not None:  # a descriptor (frozen): a copy with the other typed border field
        b = Border(border)
        model = dataclasses.replace(model, info=dataclasses.replace(
            model.info, border=b, border_pad=8 if b is Border.REFLECT else 0))
    return model


def measure(ns: argparse.Namespace) -> None:
    import torch

    from superres.evaluate import evaluate_model
    from superres.lpips import LPIPS

    torch.set_num_threads(ns.threads)
    lp = LPIPS(net="alex")
    machine = f"{platform.machine()} CPU, torch {torch.__version__}, {ns.threads} threads"
    borders = ("reflect", "zero") if ns.border_study else (ns.border,)
    folders: dict[tuple[str, str], Path] = {}  # each degraded set made once, shared by every model
    with tempfile.TemporaryDirectory() as tmp:
        for spec in ns.models:
            for border in borders:
                model = build(spec, border)
                label = spec if border is None else f"{spec}#border={border}"
                for cond in ns.conditions:
                    for ds in ns.data:
                        if (ds, cond) not in folders:
                            folders[ds, cond] = degraded_folder(DATA / ds, cond, Path(tmp))
                        folder = folders[ds, cond]
                        t0 = time.perf_counter()
                        res = evaluate_model(model, folder, model_name=label, lpips=lp, device="cpu", tile=0)
                        s = res.summary()
                        save_row({"model": label, "condition": cond, "data": ds, "psnr": s["psnr"],
                                  "ssim": s["ssim"], "lpips": s["lpips"], "images": len(res.rows)}, machine)
                        print(f"{label:40s} {cond:7s} {ds:6s} PSNR {s['psnr']:.2f}  LPIPS {s['lpips']:.3f}  "
                              f"({time.perf_counter() - t0:.0f} s)", flush=True)


def save_row(row: dict, machine: str) -> None:
    """Add (or replace) one result in JSON_OUT, under a lock: runs may overlap."""
    import fcntl

    with open(JSON_OUT.with_suffix(".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        results = json.loads(JSON_OUT.read_text()) if JSON_OUT.is_file() else {"rows": []}
        key = (row["model"], row["condition"], row["data"])
        results["rows"] = [r for r in results["rows"] if (r["model"], r["condition"], r["data"]) != key] + [row]
        results["machine"] = machine
        tmp = JSON_OUT.with_suffix(".tmp")
        tmp.write_text(json.dumps(results, indent=1) + "\n")
        tmp.replace(JSON_OUT)


# --- rendering -------------------------------------------------------------------------------------

def _cell(rows: dict, model: str, cond: str) -> str:
    parts = []
    for ds in ("Set5", "Set14"):
        r = rows.get((model, cond, ds))
        parts.append(f"{r['psnr']:.2f} / {r['lpips']:.3f}" if r else "-")
    return " ; ".join(parts)


def render_tables(results: dict) -> dict[str, str]:
    rows = {(r["model"], r["condition"], r["data"]): r for r in results["rows"]}
    models = list(dict.fromkeys(r["model"] for r in results["rows"]))
    plain = [m for m in models if "#" not in m and "@" not in m]
    head = "| model | " + " | ".join(CONDITIONS) + " |\n|---|" + "---|" * len(CONDITIONS) + "\n"
    real = head + "".join(f"| {m} | " + " | ".join(_cell(rows, m, c) for c in CONDITIONS) + " |\n" for m in plain)

    curve = "| strength | Set5 PSNR / LPIPS | Set14 PSNR / LPIPS |\n|---|---|---|\n"
    for s in STRENGTHS:
        m = f"srgan-x4@strength={s:g}"
        # the end points are the two models themselves (interpolation weight 0 or 1 gives their weights
        # bit for bit), so their own rows stand for them when not measured under the @strength name
        if not any(k[0] == m for k in rows) and s in (0.0, 1.0):
            m = "srresnet-x4" if s == 0.0 else "srgan-x4"
        if any(k[0] == m for k in rows):
            curve += f"| {s:g} | " + " | ".join(
                (f"{rows[(m, 'clean', ds)]['psnr']:.2f} / {rows[(m, 'clean', ds)]['lpips']:.3f}"
                 if (m, "clean", ds) in rows else "-") for ds in ("Set5", "Set14")) + " |\n"

    border = ("| model | reflect (pad 8) Set5 ; Set14 PSNR / LPIPS | zero (plain forward) Set5 ; Set14 | kept |\n"
              "|---|---|---|---|\n")
    for m in dict.fromkeys(k.split("#")[0] for k in models if "#border=" in k):
        r, z = rows.get((m + "#border=reflect", "clean", "Set5")), rows.get((m + "#border=zero", "clean", "Set5"))
        kept = "-" if not (r and z) else ("**zero**" if z["psnr"] > r["psnr"] + 0.01 else "**reflect**")
        border += (f"| {m} | {_cell(rows, m + '#border=reflect', 'clean')} | "
                   f"{_cell(rows, m + '#border=zero', 'clean')} | {kept} |\n")

    cat = "| model | Set5 PSNR / SSIM / LPIPS | Set14 PSNR / SSIM / LPIPS |\n|---|---|---|\n"
    from superres.catalogue import names

    for m in names("model"):
        if (m, "clean", "Set5") in rows:
            cat += f"| {m} | " + " | ".join(
                "{psnr:.2f} / {ssim:.3f} / {lpips:.3f}".format(**rows[(m, "clean", ds)]) if (m, "clean", ds) in rows
                else "-" for ds in ("Set5", "Set14")) + " |\n"
    return {"real-photos": real, "strength": curve, "border": border, "catalogue": cat}


OURS = ("srgan-x4", "srgan-x4-fast", "srresnet-x4", "srcnn-x4")


def render_advice(results: dict) -> str:
    """README's "Which model for real photos?" list, every figure and comparison read from the results (Set5).

    The advice follows the figures: which GAN model is the most detailed is the one with the lower clean
    LPIPS, which model to use on noise the one of ours with the highest PSNR at sigma 5, and so on.
    """
    rows = {(r["model"], r["condition"], r["data"]): r for r in results["rows"]}

    def get(m: str, cond: str) -> dict:
        r = rows.get((m, cond, "Set5"))
        if r is None:
            raise SystemExit(f"docs/real_photos.json has no {m} / {cond} / Set5 row: run "
                             f"`python benchmarks/real_photos.py measure --models {m}` first")
        return r

    gans = sorted(("srgan-x4", "srgan-x4-fast"), key=lambda m: get(m, "clean")["lpips"])
    detail, other = gans
    s1 = get("srgan-x4", "clean")
    strength = {s: get(f"srgan-x4@strength={s}", "clean") for s in ("0.75", "0.5")}
    s0 = get("srresnet-x4", "clean")
    noisy = max(OURS, key=lambda m: get(m, "noise5")["psnr"])
    gan_noise = min(get(m, "noise5")["lpips"] for m in gans)
    bic = {c: get("bicubic", c) for c in ("noise5", "jpeg75", "jpeg50")}
    course_clean, course_noise = get("course-srgan", "clean"), get("course-srgan", "noise5")
    below75 = [m for m in OURS if get(m, "jpeg75")["psnr"] < bic["jpeg75"]["psnr"]]
    over50 = max(get(m, "jpeg50")["psnr"] for m in OURS) - bic["jpeg50"]["psnr"]
    lp50 = [get(m, "jpeg50")["lpips"] for m in OURS]

    def lp(m: str, cond: str) -> str:
        return f"{get(m, cond)['lpips']:.3f}"

    def gap(r: dict) -> str:
        return f"{r['psnr'] - s1['psnr']:+.1f} dB"

    text = (
        f"- *Clean or high-quality photos* (PNG, JPEG quality 95 and up): `{detail}` for the most detail "
        f"(LPIPS {lp(detail, 'clean')} clean, {lp(detail, 'jpeg95')} at JPEG 95; `{other}`: "
        f"{lp(other, 'clean')} / {lp(other, 'jpeg95')}); `srgan-x4-fast` for animations, video, large images "
        f"and everyday photos on a CPU (several times faster: [Speed](#speed)). If srgan-x4's texture looks too "
        f"strong, `superres upscale --strength 0.75` gives LPIPS {strength['0.75']['lpips']:.3f} against "
        f"{s1['lpips']:.3f} at {gap(strength['0.75'])}, `--strength 0.5` {strength['0.5']['lpips']:.3f} at "
        f"{gap(strength['0.5'])}, and `srresnet-x4` (strength 0) {s0['lpips']:.3f} at {gap(s0)}.\n"
        f"- *Noisy photos* (phone cameras in low light): `{noisy}`: with noise of sigma 5 it keeps the highest "
        f"PSNR of ours ({get(noisy, 'noise5')['psnr']:.1f} dB, bicubic {bic['noise5']['psnr']:.1f})"
        + (f"; the GAN models keep a better LPIPS ({gan_noise:.3f} against {lp(noisy, 'noise5')}) but draw some "
           "noise as texture" if gan_noise < get(noisy, "noise5")["lpips"] else "")
        + f". The course's `course-srgan` is the sharpest on clean input (LPIPS {course_clean['lpips']:.3f}) and "
        f"{course_noise['psnr']:.1f} dB on noise ("
        + ("below" if course_noise["psnr"] < bic["noise5"]["psnr"] else "above") + " bicubic).\n"
        "- *Heavily compressed JPEG* (quality 75 and below): no model here was trained to remove JPEG "
        "artefacts, and all of them enlarge the blocks: at quality 75 "
        + (", ".join(f"`{m}`" for m in below75) + (" falls" if len(below75) == 1 else " fall")
           + f" below bicubic's PSNR ({bic['jpeg75']['psnr']:.1f} dB)"
           if below75 else f"all of ours stay above bicubic's PSNR ({bic['jpeg75']['psnr']:.1f} dB)")
        + f"; at quality 50 the best of ours is {over50:+.1f} dB from bicubic's {bic['jpeg50']['psnr']:.1f} dB, "
        f"though all still look closer to the original than bicubic (LPIPS {min(lp50):.2f}-{max(lp50):.2f} "
        f"against {bic['jpeg50']['lpips']:.2f}). Models trained on such degradations (the Real-ESRGAN entries of "
        "the catalogue) target exactly this case.\n")
    return "".join(textwrap.fill(item, width=100, subsequent_indent="  ", break_on_hyphens=False) + "\n"
                   for item in text.splitlines())


def write_cards(results: dict) -> None:
    from superres.catalogue import names

    rows = {(r["model"], r["condition"], r["data"]): r for r in results["rows"]}
    cards = {}
    for m in names("model"):
        metrics = {ds: {k: rows[(m, "clean", ds)][k] for k in ("psnr", "ssim", "lpips")}
                   for ds in ("Set5", "Set14") if (m, "clean", ds) in rows}
        if metrics:
            cards[m] = {"metrics": metrics, "measured_with": "benchmarks/real_photos.py (superres.evaluate: "
                        "PSNR/SSIM on Y, 4 px shaved, LPIPS AlexNet v0.1; provided MATLAB-bicubic LR)"}
    CARDS.write_text(json.dumps(cards, indent=1, sort_keys=True) + "\n")


def write_border_cards(results: dict) -> list[str]:
    """Record the border study in the shipped models' cards (``extra.border``), which the engine follows.

    Rule (as ``superres export`` applies it): the architecture's default (reflect) stays unless the plain
    forward pass (zero) gains more than 0.01 dB PSNR on Set5.
    """
    from superres.weights import atomic_write_bytes

    rows = {(r["model"], r["condition"], r["data"]): r for r in results["rows"]}
    changed = []
    for card_path in sorted((ROOT / "src" / "superres" / "pretrained").glob("*.json")):
        name = card_path.stem
        psnr = {b: {ds: rows[(f"{name}#border={b}", "clean", ds)]["psnr"] for ds in ("Set5", "Set14")
                    if (f"{name}#border={b}", "clean", ds) in rows} for b in ("reflect", "zero")}
        if "Set5" not in psnr["reflect"] or "Set5" not in psnr["zero"]:
            continue
        zero = psnr["zero"]["Set5"] > psnr["reflect"]["Set5"] + 0.01
        card = json.loads(card_path.read_text())
        card.setdefault("extra", {})["border"] = {
            "treatment": "zero" if zero else "reflect", "pad": 0 if zero else 8, "dataset": "Set5", "psnr": psnr,
            "measured_with": "benchmarks/real_photos.py measure --border-study (clean LR, PSNR-Y)"}
        atomic_write_bytes(card_path, (json.dumps(card, indent=2, sort_keys=True) + "\n").encode())
        changed.append(f"{name}: {'zero' if zero else 'reflect'}")
    return changed


def render(ns: argparse.Namespace) -> None:
    results = json.loads(JSON_OUT.read_text())
    tables = render_tables(results)
    MD_OUT.write_text(
        "# Real-photo inputs: PSNR / LPIPS against HR\n\n"
        "Written by `python benchmarks/real_photos.py render` from docs/real_photos.json "
        f"({results.get('machine', '')}). Each cell: Set5 ; Set14, PSNR (dB, Y) / LPIPS (AlexNet).\n"
        "LR = the provided MATLAB-bicubic images, degraded as named (see the script's docstring).\n\n"
        + tables["real-photos"] + "\n## GAN strength (srgan-x4 --strength)\n\n" + tables["strength"]
        + "\n## Border treatment of our own models\n\n" + tables["border"]
        + "\n## Catalogue models (clean LR)\n\n" + tables["catalogue"])
    for key, table in tables.items():
        fill_block(ROOT / "MODELS.md", key, table)
    fill_block(ROOT / "README.md", "real-photo-advice", render_advice(results))
    write_cards(results)
    borders = write_border_cards(results)
    print(f"wrote {MD_OUT}, MODELS.md (marked blocks), {CARDS}; border treatment in the cards: "
          f"{', '.join(borders) or 'none measured'}")


def fill_block(path: Path, key: str, table: str) -> None:
    """Replace the text between ``<!-- key:begin -->`` and ``<!-- key:end -->`` in ``path``."""
    text = path.read_text()
    pat = re.compile(rf"(<!-- {key}:begin -->\n).*?(<!-- {key}:end -->)", re.S)
    if not pat.search(text):
        raise SystemExit(f"{path}: no <!-- {key}:begin --> ... <!-- {key}:end --> block")
    path.write_text(pat.sub(lambda m: m.group(1) + table + m.group(2), text))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    m = sub.add_parser("measure")
    m.add_argument("--models", nargs="+", required=True)
    m.add_argument("--conditions", nargs="+", default=list(CONDITIONS))
    m.add_argument("--data", nargs="+", default=["Set5", "Set14"])
    m.add_argument("--border", choices=["zero", "reflect"], default=None,
                   help="override the model's border treatment (default: its own)")
    m.add_argument("--border-study", action="store_true", help="measure both border treatments")
    m.add_argument("--threads", type=int, default=2)
    m.set_defaults(fn=measure)
    r = sub.add_parser("render")
    r.set_defaults(fn=render)
    ns = ap.parse_args()
    ns.fn(ns)


if __name__ == "__main__":
    main()
