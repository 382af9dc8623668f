"""int8 calibration and quality gate for the shipped models (issue 24).

For each model: calibrate the int8 network (``superres.inference.quantize``) on LR crops of
the *training* photos (``../shared/data/train-hr``, never Set5/Set14), then score fp32 and
int8 on Set5 and Set14 (PSNR-Y, LPIPS; LR = ``ops.degrade``, as ``superres eval``). The gate:
PSNR at most 0.05 dB below fp32 and LPIPS at most 0.005 above it, on both sets. The result
(qparams, figures, ``ok``) goes into the card beside the weights
(``src/superres/pretrained/<name>.json``, ``extra.int8``), the table into MODELS.md
(``<!-- int8:begin -->`` block) and ``benchmarks/int8_gate.json``; 4x-nearest crops
fp32 | int8 | |difference| x8 go to ``benchmarks/int8_crops/<model>.png``.

Quality only (no timing), so a background job need not be paused::

    PYTHONPATH=src TORCH_HOME=../shared/weights python benchmarks/int8_gate.py \\
        --models srgan-x4 srgan-x4-fast srresnet-x4 srcnn-x4
"""

from __future__ import annotations

import argparse
import json
import time
import warnings
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from real_photos import fill_block

from superres.evaluate import evaluate_model
from superres.fileio import atomic_write_bytes
from superres.inference.optimize import cpu_name, optimize_for_inference
from superres.inference.quantize import INT8_ROUTE, calibrate_int8
from superres.lpips import LPIPS
from superres.ops import degrade, enlarge_nearest
from superres.registry import load_model

ROOT = Path(__file__).resolve().parent.parent
#: what each row of int8_gate.json records of the run that measured it
MEASURED_KEYS = ("command", "date", "cpu", "torch")
SHARED = ROOT.parent / "shared" / "data"
PSNR_DROP, LPIPS_RISE = 0.05, 0.005


def calibration_batches(folder: Path, photos: int, crop: int, seed: int = 0) -> list[torch.Tensor]:
    """One LR crop (``crop`` px) per training photo, first ``photos`` photos by name."""
    rng = np.random.default_rng(seed)
    out = []
    for f in sorted(p for p in folder.iterdir() if p.suffix.lower() in (".png", ".jpg", ".jpeg"))[:photos]:
        lr = degrade(np.asarray(Image.open(f).convert("RGB")), 4)
        h, w = lr.shape[:2]
        y, x = int(rng.integers(0, h - crop + 1)), int(rng.integers(0, w - crop + 1))
        out.append(torch.from_numpy(np.ascontiguousarray(lr[y:y + crop, x:x + crop])).permute(2, 0, 1)[None]
                   .float() / 255)
    return out


def crops(desc, hr_path: Path, out: Path) -> None:
    """fp32 | int8 | |diff| x8 of a 48x48 SR crop, each shown 4x nearest."""
    from superres.api import make_upscaler

    hr = np.asarray(Image.open(hr_path).convert("RGB"))
    hr = hr[:hr.shape[0] // 4 * 4, :hr.shape[1] // 4 * 4]
    lr = degrade(hr, 4)
    a = make_upscaler(desc, device="cpu", precision="fp32").upscale_array(lr)
    b = make_upscaler(desc, device="cpu", precision="int8").upscale_array(lr)
    cy, cx = a.shape[0] // 2 - 24, a.shape[1] // 2 - 24
    pa, pb = a[cy:cy + 48, cx:cx + 48], b[cy:cy + 48, cx:cx + 48]
    d = np.clip(np.abs(pa.astype(int) - pb.astype(int)) * 8, 0, 255).astype(np.uint8)
    row = np.concatenate([enlarge_nearest(p, 4) for p in (pa, pb, d)], axis=1)
    out.parent.mkdir(parents=True, exist_ok=True)
    import io

    buf = io.BytesIO()
    Image.fromarray(row).save(buf, format="PNG")
    atomic_write_bytes(out, buf.getvalue())


def gate(name: str, photos: int, crop: int, lp) -> dict:
    desc = load_model(name)
    base = optimize_for_inference(desc.module, torch.device("cpu"), channels_last=False, prelu=False)
    t = time.perf_counter()
    _, entry = calibrate_int8(base, calibration_batches(SHARED / "train-hr", photos, crop))
    entry["calibration"] = {"data": "train-hr", "photos": photos, "lr_crop": crop, "seconds": time.perf_counter() - t}
    desc.card.extra["int8"] = dict(entry, ok=True)  # so the engine runs it while we measure
    rows = {}
    for ds in ("Set5", "Set14"):
        f = evaluate_model(desc, SHARED / "bench" / ds, precision="fp32", device="cpu", lpips=lp).summary()
        q = evaluate_model(desc, SHARED / "bench" / ds, precision="int8", device="cpu", lpips=lp).summary()
        rows[ds] = {"fp32": [f["psnr"], f["lpips"]], "int8": [q["psnr"], q["lpips"]],
                    "psnr_drop": f["psnr"] - q["psnr"], "lpips_rise": q["lpips"] - f["lpips"]}
    ok = all(r["psnr_drop"] <= PSNR_DROP and r["lpips_rise"] <= LPIPS_RISE for r in rows.values())
    worst = max(rows.items(), key=lambda kv: kv[1]["psnr_drop"])
    entry.update(ok=ok, gate={"psnr_drop_max_db": PSNR_DROP, "lpips_rise_max": LPIPS_RISE, "sets": rows},
                 gate_note=f"{worst[0]} PSNR {worst[1]['psnr_drop']:+.3f} dB")
    crops(desc, sorted((SHARED / "bench" / "Set14").rglob("*.png"))[2], ROOT / "benchmarks" / "int8_crops"
          / f"{name}.png")
    return entry


def what_if_vnni(name: str, photos: int, crop: int, lp) -> dict:
    """Quality of full 8-bit activations without AVX2's saturation (the reference network: float
    convolutions between quantise/dequantise), i.e. what VNNI kernels would compute. Not a fast path."""
    desc = load_model(name)
    base = optimize_for_inference(desc.module, torch.device("cpu"), channels_last=False, prelu=False)
    net, _ = calibrate_int8(base, calibration_batches(SHARED / "train-hr", photos, crop), full_range_reference=True)
    net.info, net.card, net.name = desc.info, desc.card, f"{name} int8 (8-bit reference)"
    rows = {}
    for ds in ("Set5", "Set14"):
        q = evaluate_model(net, SHARED / "bench" / ds, precision="fp32", device="cpu", lpips=lp).summary()
        rows[ds] = [q["psnr"], q["lpips"]]
    return rows


def openvino_nncf(name: str, photos: int, crop: int, lp) -> dict:
    """OpenVINO int8 (NNCF's default post-training quantisation of the exported graph, calibrated on
    the same training crops) against OpenVINO fp32 of the same graph: the plain forward pass, no border
    padding, so both sides see the same network. Quality only."""
    import nncf
    import openvino as ov

    from superres.evaluate import benchmark_files
    from superres.inference.onnx import onnx_bytes
    from superres.metrics import score

    desc = load_model(name)
    core = ov.Core()
    graph = onnx_bytes(desc.module)  # dynamic h, w
    data = nncf.Dataset([b.numpy() for b in calibration_batches(SHARED / "train-hr", photos, crop)])
    nets = {"fp32": core.read_model(graph, b""),
            "int8": nncf.quantize(core.read_model(graph, b""), data, subset_size=photos)}
    rows = {}
    for ds in ("Set5", "Set14"):
        sums = {k: [0.0, 0.0] for k in nets}
        files = benchmark_files(SHARED / "bench" / ds)
        for f in files:
            hr = np.asarray(Image.open(f).convert("RGB"))
            hr = hr[:hr.shape[0] // 4 * 4, :hr.shape[1] // 4 * 4]
            lr = degrade(hr, 4).astype(np.float32).transpose(2, 0, 1)[None] / 255
            for k, net in nets.items():
                c = core.compile_model(net, "CPU", {"INFERENCE_PRECISION_HINT": "f32"})
                y = np.clip(np.asarray(c({0: lr})[0])[0].transpose(1, 2, 0) * 255, 0, 255).round().astype(np.uint8)
                sc = score(y, hr, 4, lpips=lp)
                sums[k][0] += sc.psnr
                sums[k][1] += sc.lpips
        n = len(files)
        rows[ds] = {k: [v[0] / n, v[1] / n] for k, v in sums.items()}
        rows[ds]["psnr_drop"] = rows[ds]["fp32"][0] - rows[ds]["int8"][0]
        rows[ds]["lpips_rise"] = rows[ds]["int8"][1] - rows[ds]["fp32"][1]
    return rows


def table(results: dict) -> str:
    lines = ["| model | set | fp32 PSNR / LPIPS | int8 PSNR / LPIPS | PSNR drop | LPIPS rise | int8 offered |",
             "|---|---|---|---|---|---|---|"]
    for name, e in results.items():
        for ds, r in e["gate"]["sets"].items():
            lines.append(f"| {name} | {ds} | {r['fp32'][0]:.3f} / {r['fp32'][1]:.4f} | {r['int8'][0]:.3f} / "
                         f"{r['int8'][1]:.4f} | {r['psnr_drop']:+.3f} dB | {r['lpips_rise']:+.4f} | "
                         f"{'yes' if e['ok'] else 'no'} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models", nargs="+", default=["srgan-x4", "srgan-x4-fast", "srresnet-x4", "srcnn-x4"])
    ap.add_argument("--photos", type=int, default=32)
    ap.add_argument("--crop", type=int, default=64)
    ap.add_argument("--no-cards", action="store_true", help="measure only; leave the cards and MODELS.md alone")
    ap.add_argument("--what-if-vnni", action="store_true",
                    help="only score the 8-bit reference network (what VNNI kernels compute) against the "
                         "fp32 figures in benchmarks/int8_gate.json; writes benchmarks/int8_vnni_what_if.json")
    ap.add_argument("--openvino-nncf", action="store_true",
                    help="only gate OpenVINO int8 (NNCF) against OpenVINO fp32; writes benchmarks/int8_openvino_gate.json")
    ns = ap.parse_args()
    warnings.filterwarnings("ignore", category=UserWarning)
    torch.manual_seed(0)
    lp = LPIPS(net="alex")
    def side_study(flag: str, out_name: str, measure) -> None:
        """Run ``measure(name)`` (per-set rows with psnr_drop / lpips_rise) for every model, print the
        drops and write them with the command that produced them to ``benchmarks/out_name``."""
        out = {}
        for name in ns.models:
            out[name] = measure(name)
            print(name, {ds: (round(v["psnr_drop"], 3), round(v["lpips_rise"], 4)) for ds, v in out[name].items()},
                  flush=True)
        cmd = f"PYTHONPATH=src TORCH_HOME=../shared/weights python benchmarks/int8_gate.py {flag} --models " \
            + " ".join(ns.models)
        atomic_write_bytes(ROOT / "benchmarks" / out_name,
                           (json.dumps({"command": cmd, "models": out}, indent=2) + "\n").encode())

    if ns.openvino_nncf:
        side_study("--openvino-nncf", "int8_openvino_gate.json", lambda name: openvino_nncf(name, ns.photos, ns.crop, lp))
        return
    if ns.what_if_vnni:
        done = json.loads((ROOT / "benchmarks" / "int8_gate.json").read_text())["models"]

        def vnni(name: str) -> dict:
            sets = done[name]["gate"]["sets"]
            return {ds: {"fp32": sets[ds]["fp32"], "int8_8bit_reference": r, "int8_7bit_avx2": sets[ds]["int8"],
                         "psnr_drop": sets[ds]["fp32"][0] - r[0], "lpips_rise": r[1] - sets[ds]["fp32"][1]}
                    for ds, r in what_if_vnni(name, ns.photos, ns.crop, lp).items()}

        side_study("--what-if-vnni", "int8_vnni_what_if.json", vnni)
        return
    results = {}
    for name in ns.models:
        results[name] = gate(name, ns.photos, ns.crop, lp)
        print(name, "ok" if results[name]["ok"] else "FAILS", results[name]["gate_note"], flush=True)
    meta = {"cpu": cpu_name(), "torch": torch.__version__, "route": INT8_ROUTE, "command":
            "PYTHONPATH=src TORCH_HOME=../shared/weights python benchmarks/int8_gate.py --models "
            + " ".join(ns.models), "date": time.strftime("%Y-%m-%d %H:%M")}
    for e in results.values():  # each row says when and how it was measured (a partial rerun keeps the rest)
        e["measured"] = {k: meta[k] for k in MEASURED_KEYS}
    summary = {n: {k: v for k, v in e.items() if k != "qparams"} for n, e in results.items()}
    if ns.no_cards:
        record(summary, meta, ns.photos, ns.crop, models_md=False)
        return
    for name, entry in results.items():
        path = ROOT / "src" / "superres" / "pretrained" / f"{name}.json"
        card = json.loads(path.read_text())
        card.setdefault("extra", {})["int8"] = entry
        atomic_write_bytes(path, (json.dumps(card, indent=2, sort_keys=True) + "\n").encode())
    record(summary, meta, ns.photos, ns.crop)


def record(summary: dict, meta: dict, photos: int, crop: int, models_md: bool = True) -> None:
    """Write ``summary`` (per model, without qparams) into benchmarks/int8_gate.json and the MODELS.md
    table. Models measured before and not this time keep their recorded rows, each with the command
    and date that made it, so gating one model after a retrain does not drop the others."""
    out = ROOT / "benchmarks" / "int8_gate.json"
    merged = {}
    if out.is_file():
        before = json.loads(out.read_text())
        for n, e in before.get("models", {}).items():
            e.setdefault("measured", {k: before["meta"][k] for k in MEASURED_KEYS})
            merged[n] = e
    merged.update(summary)  # a re-measured model takes its old place in the order
    atomic_write_bytes(out, (json.dumps({"meta": meta, "models": merged}, indent=2) + "\n").encode())
    if not models_md:
        return
    runs: dict[str, list[str]] = {}  # the command(s) that made the table's rows
    for n, e in merged.items():
        m = e["measured"]
        runs.setdefault(f"`{m['command']}` on {m['cpu']} ({m['date']})", []).append(n)
    made = "; ".join(f"{', '.join(names)}: {how}" for how, names in runs.items())
    fill_block(ROOT / "MODELS.md", "int8", f"Made by {made}; route: {INT8_ROUTE}; calibrated on {photos} LR "
               f"crops of {crop} px from the training photos. Gate: PSNR-Y drop <= 0.05 dB and LPIPS rise "
               "<= 0.005 on both sets.\n\n" + table(merged))


if __name__ == "__main__":
    main()
