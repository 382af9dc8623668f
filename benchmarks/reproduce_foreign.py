"""Do foreign models reproduce their own numbers through superres? The plain forward pass against the engine.

    TORCH_HOME=../shared/weights /work/bench.sh python benchmarks/reproduce_foreign.py course-srgan course-srresnet

For each catalogue model (fetched on first use, or already cached) and each benchmark folder it
prints the mean Set5/Set14 PSNR (Y channel, 4 px shaved, output rounded to 8 bits) of

* ``original``: the network's plain forward pass on the whole LR image, as the authors' code runs it
  (krasserm's ``resolve_single``: ``model(lr)``; Real-ESRGAN's ``inference_realesrgan.py``: pre_pad 0),
  written out below in a few lines of PyTorch;
* ``superres eval``: ``superres.evaluate.evaluate_model``, i.e. the engine with the border treatment
  the model's descriptor records (``Border.ZERO`` for these);
* ``old engine``: the engine as it was before (reflection pre-padding of 8 LR pixels for every model).

and writes the table to docs/reproduce_foreign.md and MODELS.md's ``reproduce`` block. The Keras/BasicSR files are converted to PyTorch
by superres.convert (tests/test_convert.py checks the conversion layer by layer).
"""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT.parent / "shared" / "data" / "bench"


def original_psnr(model, folder: Path) -> float:
    """The authors' way: one plain forward pass per image, no padding, 8-bit output."""
    from PIL import Image

    from superres.metrics import psnr

    scores = []
    for hr_path in sorted((folder / "HR").iterdir()):
        lr = np.array(Image.open(folder / "LR_bicubic_x4" / hr_path.name).convert("RGB"))
        hr = np.array(Image.open(hr_path).convert("RGB"))
        x = torch.from_numpy(lr).permute(2, 0, 1)[None].float() / 255
        with torch.no_grad():
            y = model(x).clamp(0, 1)
        sr = (y[0].permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)
        scores.append(psnr(sr, hr, shave=4))
    return float(np.mean(scores))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("models", nargs="+")
    ap.add_argument("--data", nargs="+", default=["Set5", "Set14"])
    ap.add_argument("--out", default=str(ROOT / "docs" / "reproduce_foreign.md"))
    ns = ap.parse_args()
    from superres.evaluate import evaluate_model
    from superres.models.base import Border
    from superres.registry import load_model

    lines = ["| model | data | original forward pass | superres eval | old engine (reflect pre-pad 8) |",
             "|---|---|---|---|---|"]
    for name in ns.models:
        model = load_model(name)
        for ds in ns.data:
            folder = DATA / ds
            orig = original_psnr(model, folder)
            engine = evaluate_model(model, folder, lpips=False, device="cpu", tile=0).summary()["psnr"]
            old = dataclasses.replace(model, info=dataclasses.replace(model.info, border=Border.REFLECT,
                                                                       border_pad=8))
            before = evaluate_model(old, folder, lpips=False, device="cpu", tile=0).summary()["psnr"]
            lines.append(f"| {name} | {ds} | {orig:.2f} | {engine:.2f} | {before:.2f} |")
            print(lines[-1], flush=True)
    from real_photos import fill_block  # same folder

    fill_block(ROOT / "MODELS.md", "reproduce", "\n".join(lines) + "\n")
    Path(ns.out).write_text("# Foreign models: original forward pass vs superres eval (PSNR-Y, dB)\n\n"
                            "Written by `python benchmarks/reproduce_foreign.py " + " ".join(ns.models) + "`.\n\n"
                            + "\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
