"""Colour error of every shipped model on flat and graphic content (issue 15: grey text turned green).

    /work/bench.sh python benchmarks/graphics.py                 # markdown table on stdout
    /work/bench.sh python benchmarks/graphics.py --json out.json --models srgan-x4 bicubic

Three synthetic LR images, made here (no data files), each upscaled x4 on the CPU in fp32:

* ``flat``: 24 flat patches (greys, primaries, pastels, darks), 16x16 LR pixels each. For each patch
  the mean output colour inside it (4 LR pixels in from its edges, beyond any model's reach to the
  neighbours at these sizes... nearly: see ``flat worst``) is compared with the input colour.
  ``flat |err|``: mean over patches and channels of |mean out - in| (levels, 0-255);
  ``flat worst``: the largest channel error of any patch, and that patch's input colour.
* ``text``: grey text (137,137,137) on a light grey (240) background, the issue's case, drawn
  with Pillow's built-in bitmap font. Every input pixel is grey (R=G=B), so any chroma in the
  output is colour the model made up. ``text chroma``: mean over output pixels of
  max(R,G,B) - min(R,G,B); ``p99``: its 99th percentile; ``text rgb``: the mean output colour
  where the input (nearest-enlarged) is text, eroded by one LR pixel (137/137/137 is right).
* ``dither``: a colour gradient Floyd-Steinberg-dithered to 8 colours (a dithered logo's
  texture). The eye sees the local mean, so ``dither |err|`` compares the mean colour of each
  8x8 LR block (32x32 output block) in and out (levels); ``invented`` is the standard deviation
  of (output - bicubic): the texture a model adds on top of the plain enlargement.

Bicubic and nearest are the references (nearest is exact on flat colours; bicubic nearly).
The "+ color fix" rows repeat each model with the engine's colour fix (``--color-fix``:
:func:`superres.colorfix.fix_chroma`, chroma from bicubic, luma from the model). To check the
fix costs photos nothing, ``photo RGB dB`` is the mean RGB PSNR (4 px shaved) on a benchmark
folder with ``HR/`` and ``LR_bicubic_x4/`` (``--photos``, default ``../shared/data/bench/Set5``;
"-" when absent).
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parent.parent

SHIPPED = ["srgan-x4", "srgan-x4-fast", "srresnet-x4", "srcnn-x4"]
REFERENCES = ["bicubic", "nearest"]

PATCHES = [(137, 137, 137), (64, 64, 64), (200, 200, 200), (250, 250, 250), (12, 12, 12), (128, 128, 128),
           (255, 0, 0), (0, 255, 0), (0, 0, 255), (255, 255, 0), (0, 255, 255), (255, 0, 255),
           (255, 204, 204), (204, 255, 204), (204, 204, 255), (255, 240, 200), (30, 60, 120), (120, 30, 60),
           (60, 120, 30), (230, 160, 120), (90, 90, 100), (20, 40, 20), (180, 150, 110), (100, 160, 220)]


def flat_image() -> np.ndarray:
    """6 x 4 patches of 16x16 LR pixels."""
    img = np.zeros((4 * 16, 6 * 16, 3), np.uint8)
    for i, c in enumerate(PATCHES):
        y, x = divmod(i, 6)
        img[y * 16:(y + 1) * 16, x * 16:(x + 1) * 16] = c
    return img


def text_image() -> tuple[np.ndarray, np.ndarray]:
    """(LR RGB, bool mask of text pixels): grey 137 text on grey 240, the issue's colours."""
    from PIL import Image, ImageDraw, ImageFont

    im = Image.new("L", (160, 48), 240)
    d = ImageDraw.Draw(im)
    font = ImageFont.load_default()
    d.text((4, 4), "Grey text 137 on 240", fill=137, font=font)
    d.text((4, 18), "superres x4 - 0123456789", fill=137, font=font)
    d.text((4, 32), "ILLUSTRATION  mmm  www", fill=137, font=font)
    a = np.asarray(im)
    return np.repeat(a[:, :, None], 3, axis=2), a == 137


def dither_image() -> np.ndarray:
    """A colour gradient dithered (Floyd-Steinberg) to an 8-colour palette."""
    from PIL import Image

    yy, xx = np.mgrid[0:64, 0:96] / np.array([63.0, 95.0])[:, None, None]
    grad = np.stack([40 + 200 * xx, 60 + 150 * yy, 200 - 150 * xx * yy], -1).round().astype(np.uint8)
    pal = Image.new("P", (1, 1))
    colours = [0, 0, 0, 255, 255, 255, 200, 40, 40, 40, 160, 60, 40, 60, 200, 240, 220, 60, 120, 120, 120,
               230, 150, 200]
    pal.putpalette(colours + colours[-3:] * (256 - len(colours) // 3))
    q = Image.fromarray(grad, "RGB").quantize(palette=pal, dither=Image.Dither.FLOYDSTEINBERG)
    return np.asarray(q.convert("RGB"))


def _erode(mask: np.ndarray, r: int) -> np.ndarray:
    out = mask.copy()
    for dy in range(-r, r + 1):
        for dx in range(-r, r + 1):
            out &= np.roll(np.roll(mask, dy, 0), dx, 1)
    return out


def measure(name: str, color_fix: bool = False, photos: Path | None = None) -> dict:
    from superres.api import make_upscaler

    up = make_upscaler(name, device="cpu", precision="fp32")
    run = up.upscale_array
    if color_fix:
        from superres.colorfix import fix_chroma

        def run(a):  # noqa: F811 - the fixed variant
            return fix_chroma(up.upscale_array(a), a)

    bic = make_upscaler("bicubic", device="cpu", precision="fp32").upscale_array
    s = up.scale
    row: dict = {"model": name + (" + color fix" if color_fix else "")}
    t0 = time.perf_counter()

    flat = flat_image()
    out = run(flat).astype(np.float64)
    errs, worst = [], (0.0, None)
    for i, c in enumerate(PATCHES):
        y, x = divmod(i, 6)
        inner = out[(y * 16 + 4) * s:((y + 1) * 16 - 4) * s, (x * 16 + 4) * s:((x + 1) * 16 - 4) * s]
        e = np.abs(inner.reshape(-1, 3).mean(0) - np.array(c))
        errs.append(e.mean())
        if e.max() > worst[0]:
            worst = (float(e.max()), c)
    row["flat_err"] = float(np.mean(errs))
    row["flat_worst"] = worst[0]
    row["flat_worst_colour"] = list(worst[1]) if worst[1] else None

    text, mask = text_image()
    out = run(text).astype(np.int32)
    chroma = out.max(2) - out.min(2)
    row["text_chroma"] = float(chroma.mean())
    row["text_chroma_p99"] = float(np.percentile(chroma, 99))
    inner = np.repeat(np.repeat(_erode(mask, 0), s, 0), s, 1)
    # text strokes are 1 LR pixel wide: the centre of each enlarged text pixel, not its edges
    centre = np.zeros_like(inner)
    centre[1::s, 1::s] = True
    centre[2::s, 2::s] = True
    sel = inner & centre
    row["text_rgb"] = [round(float(v), 1) for v in out[sel].mean(0)]

    dith = dither_image()
    out = run(dith).astype(np.float64)
    b = bic(dith).astype(np.float64)
    h, w = dith.shape[:2]
    lr_means = dith.astype(np.float64).reshape(h // 8, 8, w // 8, 8, 3).mean((1, 3))
    out_means = out.reshape(h // 8, 8 * s, w // 8, 8 * s, 3).mean((1, 3))
    row["dither_err"] = float(np.abs(out_means - lr_means).mean())
    row["invented"] = float((out - b).std())
    row["photo_psnr"] = None
    if photos is not None and (photos / "HR").is_dir():
        from PIL import Image

        from superres.metrics import psnr

        def _rgb(path: Path) -> np.ndarray:
            with Image.open(path) as im:
                return np.asarray(im.convert("RGB"))

        vals = []
        for hr_path in sorted((photos / "HR").glob("*.png")):
            lr_path = photos / "LR_bicubic_x4" / hr_path.name
            if not lr_path.is_file() or s != 4:
                continue
            hr = _rgb(hr_path)
            sr = run(_rgb(lr_path))
            hh, ww = min(hr.shape[0], sr.shape[0]), min(hr.shape[1], sr.shape[1])
            vals.append(psnr(sr[:hh, :ww], hr[:hh, :ww], shave=4, y_channel=False))
        row["photo_psnr"] = float(np.mean(vals)) if vals else None
    row["seconds"] = time.perf_counter() - t0
    return row


def table(rows: list[dict]) -> str:
    lines = ["| model | flat \\|err\\| | flat worst (colour) | text chroma (p99) | text rgb (137/137/137) | "
             "dither \\|err\\| | invented | photo RGB dB |",
             "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        wc = "/".join(str(v) for v in r["flat_worst_colour"]) if r["flat_worst_colour"] else "-"
        lines.append(f"| {r['model']} | {r['flat_err']:.2f} | {r['flat_worst']:.1f} ({wc}) | "
                     f"{r['text_chroma']:.2f} ({r['text_chroma_p99']:.0f}) | "
                     f"{'/'.join(f'{v:.0f}' for v in r['text_rgb'])} | {r['dither_err']:.2f} | "
                     f"{r['invented']:.2f} | "
                     f"{'-' if r['photo_psnr'] is None else format(r['photo_psnr'], '.2f')} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--models", nargs="+", default=SHIPPED + REFERENCES,
                    help="registry names or weights files (default: the shipped models, bicubic, nearest)")
    ap.add_argument("--no-color-fix", action="store_true", help="leave out the rows with the engine's chroma fix")
    ap.add_argument("--json", type=Path, help="also write the rows as JSON here")
    ap.add_argument("--photos", type=Path, default=ROOT.parent / "shared" / "data" / "bench" / "Set5",
                    help="benchmark folder (HR/, LR_bicubic_x4/) for the photo PSNR column")
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    rows = []
    for m in args.models:
        rows.append(measure(m, photos=args.photos))
        if not args.no_color_fix and m not in REFERENCES:
            rows.append(measure(m, color_fix=True, photos=args.photos))
        print(f"{rows[-1]['model']}: {rows[-1]['seconds']:.1f} s", file=sys.stderr)
    print(f"CPU fp32, torch {torch.__version__}, {platform.processor() or platform.machine()}; "
          f"command: python benchmarks/graphics.py {' '.join(argv or sys.argv[1:])}\n")
    print(table(rows))
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
