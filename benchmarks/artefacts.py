"""Artefacts a viewer sees in x4 upscales: grid-tied stripes/dots, colour fringes, colour shifts.

    python benchmarks/artefacts.py                                     # every shipped model
    python benchmarks/artefacts.py srresnet-x4 srgan-x4 srgan-x4-fast gan_generator.h5 --crops crops/

(on the shared development machine: prefix ``/work/bench.sh``; about 2-4 minutes for five models).
bicubic, then each model given (registry names or weights files; default: every shipped model),
upscales two sets of images made x4 smaller with the project's MATLAB-style bicubic, in fp32 on
the CPU:

* ``photos``: the most textured 384x384 crop of each of 18 training photographs chosen for bark,
  wood, rope, water, fur, text and fine detail (``--photos``, ``--names``);
* ``synthetic``: the scenes of :func:`superres.artefacts.synthetic_scenes` (bark, water, fur,
  edges, flat colours, grey text) that ``tests/test_pretrained.py`` also uses.

and the table gives, per set, the figures of :mod:`superres.artefacts` (levels, 0-255; the 95th
percentile over all 32x32 windows of the set):

* ``grid``: pattern at the multiples of 1/4 cycle/px (period 4 and 2 px) beyond the reference's
  own energy there, worst channel (luma, green-magenta or red-blue) in brackets;
* ``chroma``: colour detail in the x4 imaging bands beyond the reference's (fringes, dots);
* ``colour``: largest colour shift on flat or grey areas;

with the thresholds of :data:`superres.artefacts.THRESHOLDS` and a verdict. ``--crops DIR``
writes, per set, a labelled 4x-nearest mosaic of the worst windows, each model's in turn
(bicubic | models ... | reference), with each panel's window figures. The photo mosaic shows
crops of the training photographs: do not commit it (``../shared`` is not redistributable);
``--photos examples/images --names chelsea coffee`` gives one of shippable images. ``--pick textured``
shows the reference's most textured windows instead (``texture_crops_<set>.png``): what the models
draw on fur, bark and water, not only where they fail.

The photos are training data and only used here to look and calibrate; the published
numbers (Set5/Set14) come from ``superres eval``. Needs ``../shared`` for the photos (skipped
with a note when absent).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent

#: training photos with the textures people see artefacts on (bark, dead wood, lizard on wood,
#: rope, waves, sea, waterfall, lake, kitten, walrus, otter, sign with text, road sign, circuit
#: board, seeds, grass, leaves, autumn leaves)
PHOTOS = ("0130", "0134", "0041", "0066", "0025", "0032", "0135", "0011", "0101", "0031", "0104", "0048",
          "0126", "0103", "0050", "0158", "0001", "0087")


def gradient(img: np.ndarray) -> np.ndarray:
    """|d/dx| + |d/dy| of the grey image (one row and column shorter): how textured each pixel is."""
    g = img.astype(np.float32).mean(2)
    return np.abs(np.diff(g, axis=1))[:-1] + np.abs(np.diff(g, axis=0))[:, :-1]


def textured_crop(img: np.ndarray, size: int) -> np.ndarray:
    """The ``size`` x ``size`` crop (on a 128 px lattice) with the largest median gradient."""
    grad = gradient(img)
    best, at = -1.0, (0, 0)
    for y in range(0, max(1, img.shape[0] - size + 1), 128):
        for x in range(0, max(1, img.shape[1] - size + 1), 128):
            v = float(np.median(grad[y:y + size, x:x + size]))
            if v > best:
                best, at = v, (y, x)
    y, x = at
    return np.ascontiguousarray(img[y:y + size, x:x + size])


def downscale(hr: np.ndarray, scale: int = 4) -> np.ndarray:
    """x``scale`` smaller with the project's bicubic (MATLAB imresize), rounded to uint8."""
    import torch

    from superres.resize import imresize

    t = torch.from_numpy(np.ascontiguousarray(hr)).permute(2, 0, 1).float()
    return imresize(t, scale=1 / scale).round().clamp(0, 255).byte().permute(1, 2, 0).numpy()


def load_sets(photos: Path | None, names: list[str], size: int) -> dict[str, dict[str, np.ndarray]]:
    from PIL import Image

    from superres.artefacts import synthetic_scenes

    sets: dict[str, dict[str, np.ndarray]] = {}
    if photos is not None:
        imgs = {}
        for n in names:
            hits = sorted(photos.glob(n + ".*")) if not Path(n).suffix else [photos / n]
            if not hits or not hits[0].is_file():
                raise SystemExit(f"error: no photo {n!r} in {photos} (give --names that exist)")
            with Image.open(hits[0]) as im:
                imgs[hits[0].stem] = textured_crop(np.asarray(im.convert("RGB")), size)
        sets["photos"] = imgs
    sets["synthetic"] = synthetic_scenes()
    return sets


def label(model: str) -> str:
    p = Path(model)
    return p.stem if p.suffix else model


def run_model(model: str, images: dict[str, np.ndarray], lrs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    from superres.api import make_upscaler

    up = make_upscaler(model, device="cpu", precision="fp32")
    return {k: up.upscale_array(lrs[k]) for k in images}


def texture(ref: np.ndarray, mp) -> np.ndarray:
    """Per window of ``mp`` (an ArtefactMap of this reference): the median absolute luma gradient of
    the reference inside it, the same measure :func:`textured_crop` ranks crops by."""
    grad = gradient(ref)
    out = np.zeros(mp.score().shape, np.float32)
    for i, j in np.ndindex(out.shape):
        y, x = mp.origin(i, j)
        out[i, j] = float(np.median(grad[y:y + mp.window, x:x + mp.window]))
    return out


def mosaic(path: Path, models: list[str], outs: dict[str, dict[str, np.ndarray]], refs: dict[str, np.ndarray],
           reports: dict, rows: int = 8, context: int = 8, zoom: int = 4, pick: str = "worst") -> None:
    """Labelled 4x-nearest mosaic of ``rows`` windows, none near another. ``pick="worst"``: each
    model's worst windows by the artefact measure in turn (bicubic's too when it is the only model);
    ``pick="textured"``: each image's most textured windows of the reference in turn, whatever the
    models did there (what a viewer of fur, bark or water looks at)."""
    from PIL import Image, ImageDraw

    if pick not in ("worst", "textured"):
        raise ValueError(f"pick must be 'worst' or 'textured', not {pick!r}")
    mp0 = reports[models[0]]["maps"]
    ranked = {}
    if pick == "worst":
        judged = [m for m in models if m != "bicubic"] or models
        for m in judged:  # every window of every image, worst first
            c = []
            for name in refs:
                score = reports[m]["maps"][name].score()
                c += [(float(score[i, j]), name, int(i), int(j)) for i, j in np.ndindex(score.shape)]
            ranked[m] = sorted(c, key=lambda t: -t[0])
    else:
        judged = list(refs)
        for name in judged:  # every window of this image, most textured first
            score = texture(refs[name], mp0[name])
            ranked[name] = sorted(((float(score[i, j]), name, int(i), int(j)) for i, j in np.ndindex(score.shape)),
                                  key=lambda t: -t[0])
    chosen: list[tuple] = []  # (model it is worst for, image, i, j)

    def free(name, i, j):  # windows 2 apart at least: neighbours share most of their (pooled) spectra
        mp = mp0[name]
        far = 2 * mp.window
        return all(name != d[1] or abs(i - d[2]) * mp.stride >= far or abs(j - d[3]) * mp.stride >= far
                   for d in chosen)

    pos = {m: 0 for m in judged}
    while len(chosen) < rows and any(pos[m] < len(ranked[m]) for m in judged):
        for m in judged:
            while pos[m] < len(ranked[m]) and not free(*ranked[m][pos[m]][1:]):
                pos[m] += 1
            if pos[m] < len(ranked[m]) and len(chosen) < rows:
                chosen.append((m,) + ranked[m][pos[m]][1:])
    cols = models + ["reference"]
    any_map = mp0[chosen[0][1]]
    side = (any_map.window + 2 * context) * zoom
    head, gap = 40, 6
    sheet = Image.new("RGB", (len(cols) * (side + gap), len(chosen) * (side + head + gap)), "white")
    draw = ImageDraw.Draw(sheet)
    for r, (worst_for, name, i, j) in enumerate(chosen):
        mp = reports[models[0]]["maps"][name]
        y0, x0 = mp.origin(i, j)
        y0, x0 = max(0, y0 - context), max(0, x0 - context)
        top = r * (side + head + gap)
        for c, m in enumerate(cols):
            img = refs[name] if m == "reference" else outs[m][name]
            crop = img[y0:y0 + side // zoom, x0:x0 + side // zoom]
            tile = Image.fromarray(np.ascontiguousarray(crop)).resize((crop.shape[1] * zoom, crop.shape[0] * zoom),
                                                                      Image.NEAREST)
            sheet.paste(tile, (c * (side + gap), top + head))
            text = f"{label(m)}"
            if m != "reference":
                mm = reports[m]["maps"][name]
                text += f"\ngrid {mm.grid[i, j].max():.1f} chroma {mm.chroma[i, j]:.1f}"
            else:
                why = "most textured" if pick == "textured" else f"worst of {label(worst_for)}"
                text += f"\n{name} y{y0} x{x0}\n{why}"
            draw.multiline_text((c * (side + gap) + 2, top), text, fill="black", spacing=2)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".png")
    os.close(fd)
    try:
        sheet.save(tmp, format="PNG")
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("models", nargs="*", help="registry names or weights files (default: every shipped model)")
    ap.add_argument("--photos", default=str(ROOT.parent / "shared/data/train-hr"),
                    help="folder of photographs ('' to skip the photo set)")
    ap.add_argument("--names", nargs="+", default=list(PHOTOS), help="photo file names (stems) to crop")
    ap.add_argument("--size", type=int, default=384, help="crop size in px (multiple of 4)")
    ap.add_argument("--crops", metavar="DIR", help="write artefact_crops_<set>.png mosaics of the worst windows here")
    ap.add_argument("--rows", type=int, default=8, help="windows per mosaic")
    ap.add_argument("--pick", choices=("worst", "textured"), default="worst",
                    help="which windows --crops shows: each model's worst by the artefact measure "
                         "(artefact_crops_<set>.png) or the most textured of the reference "
                         "(texture_crops_<set>.png)")
    ap.add_argument("--overwrite", action="store_true", help="replace mosaics already in --crops DIR")
    ap.add_argument("--json", help="also write the figures here")
    args = ap.parse_args(argv)

    from superres.artefacts import THRESHOLDS, measure
    from superres.registry import list_models

    if args.size % 4 or args.size < 64:
        ap.error("--size must be a multiple of 4 and at least 64")
    named = args.models or [e.name for e in list_models() if e.weights is not None and e.weights.installed()]
    models = list(dict.fromkeys(["bicubic", *named]))  # bicubic first, each model once
    for m in models:
        if Path(m).suffix and not Path(m).is_file():
            ap.error(f"no weights file {m}")
    photos = Path(args.photos) if args.photos else None
    if photos is not None and not photos.is_dir():
        print(f"note: {photos} not found; photo set skipped", file=sys.stderr)
        photos = None
    crops = Path(args.crops) if args.crops else None
    sets = load_sets(photos, args.names, args.size)
    stem = "artefact_crops" if args.pick == "worst" else "texture_crops"
    if crops is not None and not args.overwrite:
        for s in sets:
            if (crops / f"{stem}_{s}.png").exists():
                ap.error(f"{crops / f'{stem}_{s}.png'} exists (add --overwrite to replace it)")

    results: dict = {}
    th = THRESHOLDS
    for sname, refs in sets.items():
        lrs = {k: downscale(v) for k, v in refs.items()}
        outs, reports = {}, {}
        for m in models:
            t = time.perf_counter()
            outs[m] = run_model(m, refs, lrs)
            rep = measure([(outs[m][k], refs[k]) for k in refs])
            reports[m] = {"report": rep, "maps": dict(zip(refs, rep.maps)), "seconds": time.perf_counter() - t}
            print(f"  {sname}: {label(m)} done in {reports[m]['seconds']:.0f} s", file=sys.stderr, flush=True)
        print(f"\n### {sname}: {len(refs)} images, {reports[models[0]]['report'].windows} windows of 32x32 px\n")
        print(f"| model | grid (worst channel) | chroma | colour | verdict |")
        print("|---|---|---|---|---|")
        print(f"| threshold | {th.grid} | {th.chroma} | {th.colour} | |")
        for m in models:
            r = reports[m]["report"]
            fails = r.failures()
            verdict = "clean" if not fails else "ARTEFACTS: " + "; ".join(f.split(" >")[0] for f in fails)
            print(f"| {label(m)} | {r.grid:.2f} ({r.grid_channel}) | {r.chroma:.2f} | {r.colour:.2f} | {verdict} |")
        results[sname] = {label(m): {**reports[m]["report"].as_dict(), "failures": reports[m]["report"].failures()}
                          for m in models}
        if crops is not None:
            path = crops / f"{stem}_{sname}.png"
            mosaic(path, models, outs, refs, reports, rows=args.rows, pick=args.pick)
            print(f"\n{'worst' if args.pick == 'worst' else 'most textured'} windows: {path}")
    if args.json:
        Path(args.json).write_text(json.dumps({"models": models, "photos": list(args.names) if photos else [],
                                               "size": args.size, "thresholds": th.__dict__, "sets": results},
                                              indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
