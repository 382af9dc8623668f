"""Write synthetic graphics (flat colour shapes, text, a few gradients) as extra GAN training images.

    python scripts/flat_graphics.py runs/flat-graphics --count 48 --size 1024 --seed 1

(48 x 1024^2 px: ~9% of the crops beside the 485 MP of ../shared/data, which are drawn by area)

Photos hold no perfectly flat areas, so nothing in a photo-only objective fixes what a generator does
to a flat colour; issue 21's long run drifted there (saturated flats 4-5 levels more saturated after
1,500 steps) while its output on photos stayed within a level. Mixed into ``--data``, these images
pin it. They are drawn with another seed and other shapes than the artefact test's scenes
(``superres.artefacts.synthetic_scenes``, seed 0), which stay held out.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw


def graphic(rng: np.random.Generator, size: int) -> Image.Image:
    """One image: a flat or graded ground, then 6-20 flat shapes, lines and words in random colours."""
    col = lambda: tuple(int(c) for c in rng.integers(0, 256, 3))  # noqa: E731
    im = Image.new("RGB", (size, size), col())
    if rng.random() < 0.25:  # a smooth vertical gradient ground
        a, b = np.array(col(), float), np.array(col(), float)
        t = np.linspace(0, 1, size)[:, None, None]
        im = Image.fromarray(np.broadcast_to(a + (b - a) * t, (size, size, 3)).round().astype(np.uint8))
    d = ImageDraw.Draw(im)
    for _ in range(int(rng.integers(6, 21))):
        x0, y0 = (int(v) for v in rng.integers(-size // 4, size, 2))
        w, h = (int(v) for v in rng.integers(size // 10, size // 2, 2))
        kind = rng.integers(0, 5)
        if kind == 0:
            d.rectangle([x0, y0, x0 + w, y0 + h], fill=col())
        elif kind == 1:
            d.ellipse([x0, y0, x0 + w, y0 + h], fill=col())
        elif kind == 2:
            pts = [(int(x0 + rng.integers(0, w)), int(y0 + rng.integers(0, h))) for _ in range(3)]
            d.polygon(pts, fill=col())
        elif kind == 3:
            d.line([x0, y0, x0 + w, y0 + h], fill=col(), width=int(rng.integers(1, 8)))
        else:
            d.text((x0, y0), "".join(chr(int(c)) for c in rng.integers(65, 91, 6)), fill=col())
    return im


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("out", type=Path)
    ap.add_argument("--count", type=int, default=48)
    ap.add_argument("--size", type=int, default=384)
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args(argv)
    if args.seed == 0:
        sys.exit("seed 0 is the artefact test's: pick another")
    rng = np.random.default_rng(args.seed)
    args.out.mkdir(parents=True, exist_ok=True)
    for i in range(args.count):
        dst = args.out / f"graphic_{i:03d}.png"
        if dst.exists():
            sys.exit(f"{dst} exists: give an empty folder")
        graphic(rng, args.size).save(dst)
    print(f"wrote {args.count} images to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
