"""Do real ncnn models give, through superres, what the ncnn runtime gives? Per pixel, on real images.

    PYTHONPATH=src python benchmarks/ncnn_check.py                       # the catalogue's cached ncnn files
    PYTHONPATH=src python benchmarks/ncnn_check.py path/to/model.param ...  # any ncnn models

Needs the ``ncnn`` package (``pip install ncnn``, CPU). For each model and each image (a crop of
every Set5 LR image, ``--size`` px) it compares

* ``tools``: what realesrgan-ncnn-vulkan / Upscayl do: reflect-pad the image by 10 px, run the ncnn
  runtime, crop (``superres.ncnn.run_ncnn_runtime``), against ``superres upscale``'s engine
  (``Upscaler``, the border treatment from ``info.border``), untiled and with ``--tile`` tiles;
* ``plain``: the ncnn runtime on the unpadded image (its convolutions zero-pad at the border),
  against the same engine output: how far into the image the two border treatments differ.

It prints, per model, the largest difference in 8-bit levels over the whole image and the width
of the border band outside which every pixel is within 1/255, and writes docs/ncnn_check.md.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT.parent / "shared" / "data" / "bench" / "Set5" / "LR_bicubic_x4"


def band(diff: np.ndarray, tol: float = 1.0) -> int:
    """Output pixels at the border outside which ``diff`` (8-bit levels) stays within ``tol``."""
    bad = np.argwhere(diff.max(axis=-1) > tol + 1e-6)
    if not len(bad):
        return 0
    h, w = diff.shape[:2]
    return int(max(min(y, h - 1 - y, x, w - 1 - x) for y, x in bad)) + 1


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("models", nargs="*", help=".param files (default: the catalogue's cached ncnn models)")
    ap.add_argument("--images", default=str(DATA))
    ap.add_argument("--size", type=int, default=96, help="crop side in LR pixels (default 96)")
    ap.add_argument("--tile", type=int, default=48)
    ap.add_argument("--out", default=str(ROOT / "docs" / "ncnn_check.md"))
    ns = ap.parse_args()

    import torch
    from PIL import Image

    from superres import catalogue
    from superres.inference import Upscaler
    from superres.ncnn import load_ncnn, run_ncnn_runtime

    torch.set_num_threads(2)
    models = [Path(m) for m in ns.models]
    if not models:
        for name in catalogue.names("model"):
            files = catalogue.find(name).fallback or ()
            paths = [catalogue.file_path(f) for f in files]
            if paths and paths[0].suffix == ".param" and all(p.is_file() for p in paths):
                models.append(paths[0])
    if not models:
        raise SystemExit("no ncnn models: give .param files, or fetch realesrgan-x4plus / realesr-animevideov3")
    images = sorted(Path(ns.images).glob("*.png"))
    rows = ["| model | images | engine vs tools, untiled (max levels) | tiled ({t} px) | "
            "engine vs plain ncnn: max levels | border band beyond 1/255 (HR px) |".format(t=ns.tile),
            "|---|---|---|---|---|---|"]
    for param in models:
        net = load_ncnn(param)
        worst = {"untiled": 0.0, "tiled": 0.0, "plain": 0.0, "band": 0}
        for path in images:
            img = np.asarray(Image.open(path).convert("RGB"))[:ns.size, :ns.size]
            x = img.astype(np.float32) / 255
            tools = run_ncnn_runtime(param, x) * 255
            plain = run_ncnn_runtime(param, x, prepadding=0) * 255
            for key, tile in (("untiled", None), ("tiled", ns.tile)):
                out = Upscaler(net, device="cpu", tile=tile, precision="fp32").upscale_array(img).astype(np.float32)
                # the runtime's output rounded as the tools write it, against our 8-bit output
                worst[key] = max(worst[key], float(np.abs(out - np.round(tools)).max()))
                if key == "untiled":
                    d = np.abs(out - np.round(plain))
                    worst["plain"] = max(worst["plain"], float(d.max()))
                    worst["band"] = max(worst["band"], band(d))
        line = (f"| {param.name} | {len(images)} x {ns.size}px | {worst['untiled']:.0f} | {worst['tiled']:.0f} | "
                f"{worst['plain']:.0f} | {worst['band']} |")
        print(line, flush=True)
        rows.append(line)
    text = ("# ncnn models through superres vs the ncnn runtime\n\n"
            f"Written by `python benchmarks/ncnn_check.py {' '.join(m.name for m in models)} --size {ns.size} "
            f"--tile {ns.tile}` (ncnn package on CPU, float32; crops of "
            f"{Path(ns.images).parent.name} LR). Differences in 8-bit levels (1 = 1/255). \"tools\" = the "
            "ncnn runtime with the ncnn tools' border treatment (reflect-pad 10 LR px, run, crop), which "
            "superres records for ncnn models; \"plain\" = the ncnn runtime on the unpadded image.\n\n"
            + "\n".join(rows) + "\n")
    Path(ns.out).write_text(text)
    print(f"wrote {ns.out}")


if __name__ == "__main__":
    main()
