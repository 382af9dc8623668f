"""Artefact check for x4 generators: colour bias and the periodic (sub-pixel) grid.

    python benchmarks/artefacts.py srgan-x4 runs/srgan-x4/snapshots/step_0000500.safetensors ...

What it measures, for each model (registry name or weights file):

* ``smooth dB``: PSNR on a smooth synthetic image (the one tests/test_pretrained.py uses), and
  nearest-neighbour's on the same image. A sound model beats nearest by a wide margin.
* ``bias R/G/B``: mean signed error per channel on that image, in levels (0-255). A colour
  shift shows here first.
* ``grid``: a x4 network paints each LR pixel as a 4x4 block; if the error depends on the
  position inside the block, the output carries a periodic pattern. We average the signed
  error over all blocks for each of the 16 positions (per channel) and report the spread
  (max - min, levels) of those 16 means: on the smooth image, and on Set5 when given
  (``--data``). Bicubic's spread is the floor for a model with no pattern.

Not part of the test suite; it reads weights and benchmark images. Numbers are levels on 0-255.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parent.parent


def smooth_pair() -> tuple[np.ndarray, np.ndarray]:
    from superres.resize import imresize

    yy, xx = np.mgrid[0:128, 0:128] / 128.0
    hr = np.stack([0.5 + 0.4 * np.sin(6 * xx + 3 * yy), 0.5 + 0.4 * np.cos(5 * yy), 0.3 + 0.3 * xx], -1)
    hr8 = (hr * 255).round().astype(np.uint8)
    lr = imresize(torch.from_numpy(hr8).permute(2, 0, 1).float(), scale=0.25).round().clamp(0, 255)
    return lr.byte().permute(1, 2, 0).numpy(), hr8


def phase_spread(sr: np.ndarray, hr: np.ndarray, scale: int = 4, border: int = 8) -> float:
    """Max over channels of (max - min) of the mean signed error at each of the scale^2 phases."""
    e = sr.astype(np.float64) - hr.astype(np.float64)
    e = e[border:e.shape[0] - border, border:e.shape[1] - border]
    h, w = (e.shape[0] // scale) * scale, (e.shape[1] // scale) * scale
    e = e[:h, :w].reshape(h // scale, scale, w // scale, scale, -1)
    means = e.mean(axis=(0, 2))  # (scale, scale, C)
    return float((means.max(axis=(0, 1)) - means.min(axis=(0, 1))).max())


def check(model: str, data: Path | None) -> dict:
    import superres
    from superres.api import make_upscaler
    from superres.metrics import psnr

    up = make_upscaler(model, device="cpu", precision="fp32")
    lr, hr = smooth_pair()
    sr = up.upscale_array(lr)
    err = sr.astype(np.float64) - hr.astype(np.float64)
    row = {"model": str(model), "smooth_psnr": psnr(sr, hr),
           "smooth_psnr_nearest": psnr(superres.upscale(lr, model="nearest"), hr),
           "bias_rgb": [float(err[..., c].mean()) for c in range(3)],
           "grid_smooth": phase_spread(sr, hr)}
    if data is not None:
        from superres.evaluate import iter_benchmark

        spreads = [phase_spread(up.upscale_array(item.lr), item.hr) for item in iter_benchmark(data, 4)]
        row["grid_data"] = float(np.mean(spreads))
    return row


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("models", nargs="+", help="registry names or weights files")
    ap.add_argument("--data", default=str(ROOT.parent / "shared/data/bench/Set5"),
                    help="benchmark set for the grid figure on real images ('' to skip)")
    ap.add_argument("--json", help="also write the rows here")
    args = ap.parse_args()
    data = Path(args.data) if args.data and Path(args.data).is_dir() else None
    rows = [check(m, data) for m in ["bicubic", *args.models]]
    print("| model | smooth dB (nearest) | bias R / G / B | grid smooth | grid Set5 |")
    print("|---|---|---|---|---|")
    for r in rows:
        b = " / ".join(f"{v:+.2f}" for v in r["bias_rgb"])
        g = f"{r['grid_data']:.2f}" if "grid_data" in r else "-"
        print(f"| {r['model']} | {r['smooth_psnr']:.2f} ({r['smooth_psnr_nearest']:.2f}) | {b} | "
              f"{r['grid_smooth']:.2f} | {g} |")
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
