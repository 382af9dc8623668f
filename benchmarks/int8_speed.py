"""Throughput of fp32 / bf16 / int8 (torch) and OpenVINO / ONNX Runtime, in one run (issue 24).

Each path runs the same LR input (``--size`` px square, one image, no tiling) through the
network as the engine builds it (``Upscaler``: folds, channels-last; int8 = the card's
calibrated network, ``superres.inference.quantize``); the median of ``--repeats`` passes
after one warm-up. OpenVINO and ONNX Runtime run the exported ONNX graph (float32; OpenVINO
int8 through NNCF when ``nncf`` is installed, calibrated on the same training crops as
torch's). Then a per-layer breakdown of fp32 and int8 (forward hooks on leaf modules;
quantise/dequantise and adds are "other").

Timed: pause any background job for the run::

    PYTHONPATH=src python benchmarks/int8_speed.py --models srgan-x4 --size 128
"""

from __future__ import annotations

import argparse
import contextlib
import json
import time
import warnings
from pathlib import Path

import numpy as np
import torch

from int8_gate import calibration_batches
from run import layer_times, machine, timeit

from superres.api import make_upscaler
from superres.fileio import atomic_write_bytes
from superres.inference.onnx import onnx_bytes
from superres.registry import load_model

ROOT = Path(__file__).resolve().parent.parent


def profile(model: torch.nn.Module, x: torch.Tensor, ctx, repeats: int = 2) -> dict:
    total, rows = layer_times(model, x, ctx, repeats, other="quantise/dequantise, adds, clamp, glue")
    return {"total_ms": 1e3 * total, "rows": [{"layer": r["layer"], "ms": 1e3 * r["seconds"], "share": r["share"]}
                                             for r in rows]}


def openvino_paths(model, x: np.ndarray, repeats: int, calib) -> dict:
    try:
        import openvino as ov
    except ImportError:
        return {"note": "openvino not installed"}
    core = ov.Core()
    net = core.read_model(onnx_bytes(model, size=x.shape[-2:]), b"")
    out = {"version": ov.get_version()}

    def run(compiled, label):
        req = compiled.create_infer_request()
        t = timeit(lambda: req.infer({0: x}), repeats)
        out[label] = {"seconds": t, "y": req.get_output_tensor(0).data.copy()}

    run(core.compile_model(net, "CPU", {"INFERENCE_PRECISION_HINT": "f32"}), "openvino fp32")
    caps = core.get_property("CPU", "OPTIMIZATION_CAPABILITIES")
    out["cpu_capabilities"] = list(caps)
    if "BF16" in caps:
        run(core.compile_model(net, "CPU", {"INFERENCE_PRECISION_HINT": "bf16"}), "openvino bf16")
    else:
        out["openvino bf16"] = {"note": f"CPU plugin offers no BF16 here (capabilities: {', '.join(caps)})"}
    try:
        import nncf
    except ImportError:
        out["openvino int8"] = {"note": "nncf not installed"}
        return out
    data = nncf.Dataset([b.numpy() for b in calib])
    qnet = nncf.quantize(core.read_model(onnx_bytes(model, size=calib[0].shape[-2:]), b""), data,
                         subset_size=len(calib))
    qnet.reshape({0: list(x.shape)})
    run(core.compile_model(qnet, "CPU"), "openvino int8 (NNCF)")
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models", nargs="+", default=["srgan-x4"])
    ap.add_argument("--size", type=int, default=128)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--no-openvino", action="store_true")
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "int8_speed.json"))
    ns = ap.parse_args()
    warnings.filterwarnings("ignore")
    t0 = time.time()
    res = {"machine": machine(), "size": ns.size, "repeats": ns.repeats, "models": {},
           "command": "PYTHONPATH=src python benchmarks/int8_speed.py --models " + " ".join(ns.models)
           + f" --size {ns.size} --repeats {ns.repeats}"}
    x = torch.rand(1, 3, ns.size, ns.size, generator=torch.Generator().manual_seed(0))
    calib = calibration_batches(ROOT.parent / "shared" / "data" / "train-hr", 32, ns.size)
    for name in ns.models:
        desc = load_model(name)
        gate_ok = bool(desc.card.extra.get("int8", {}).get("ok"))
        if "int8" in desc.card.extra and not gate_ok:  # measured anyway, so the table says what it would give
            desc.card.extra["int8"] = dict(desc.card.extra["int8"], ok=True)
        mp = (ns.size * desc.info.scale) ** 2 / 1e6
        row, outs = {}, {}
        for prec in ("fp32", "bf16", "int8"):
            try:
                up = make_upscaler(desc, device="cpu", precision=prec, tile=0)
            except Exception as e:  # int8 not offered: recorded, not fatal
                row[prec] = {"note": str(e)}
                continue
            up(x[:, :, :16, :16])
            t = timeit(lambda: outs.__setitem__(prec, up(x)), ns.repeats)
            row[prec] = {"seconds": t, "mp_per_s": mp / t}
        ref = outs["fp32"]
        for prec, y in outs.items():
            row[prec]["max_diff_255"] = float((y - ref).abs().max()) * 255
        backends = ("onnxruntime",) + (() if ns.no_openvino else ("openvino",))
        for backend in backends:  # the shipped backends, as the engine runs them (border padding included)
            label = f"{backend} backend fp32"
            try:
                up = make_upscaler(desc, device="cpu", backend=backend, tile=0)
                y = up(x)
                t = timeit(lambda: up(x), ns.repeats)
                row[label] = {"seconds": t, "mp_per_s": mp / t, "max_diff_255": float((y - ref).abs().max()) * 255}
            except Exception as e:  # an optional runtime missing: recorded
                row[label] = {"note": str(e)}
        if not ns.no_openvino:
            with torch.inference_mode():  # the graph alone has no border padding: compare with the bare network
                raw = desc.module.eval()(x).clamp(0, 1)
            ov = openvino_paths(desc.module, x.numpy(), ns.repeats, calib)
            for k, v in ov.items():
                if isinstance(v, dict) and "seconds" in v:
                    y = torch.from_numpy(v.pop("y")).clamp(0, 1)
                    v.update(mp_per_s=mp / v["seconds"], max_diff_255=float((y - raw).abs().max()) * 255)
                row[k] = v
        for prec in ("fp32", "int8"):
            if "seconds" in row.get(prec, {}):
                up = make_upscaler(desc, device="cpu", precision=prec, tile=0)
                xi = x.contiguous(memory_format=torch.channels_last) if up.channels_last else x
                row[f"profile {prec}"] = profile(up.model, xi, contextlib.nullcontext)
        row["int8_gate_passed"] = gate_ok
        res["models"][name] = row
        print(name, {k: round(v.get("mp_per_s", 0), 3) for k, v in row.items() if isinstance(v, dict)}, flush=True)
    res["total_s"] = time.time() - t0
    atomic_write_bytes(Path(ns.out), (json.dumps(res, indent=2) + "\n").encode())


if __name__ == "__main__":
    main()
