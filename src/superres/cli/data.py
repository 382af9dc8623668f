"""``superres data``: download training and benchmark data sets; pack training photos for a GPU machine.

``superres data bench [--to DIR]`` fetches the standard x4 benchmark sets
(Set5, Set14, BSD100, Urban100: HR + MATLAB-bicubic LR) as one SHA-256-pinned
archive and unpacks them to ``DIR/<Set>/{HR,LR_bicubic_x4}``; ``superres eval
--data Set5`` then finds them by name.

``superres data div2k --to DIR`` fetches the DIV2K high-resolution archives
(800 training + 100 validation PNGs, about 3.9 GB of zips), resuming an
interrupted download, and unpacks them to ``DIR/DIV2K_train_HR`` and
``DIR/DIV2K_valid_HR``. The download code (:mod:`superres.datasets`)
is imported only when the command runs.

``superres data pack OUT.pack --data DIR...`` writes one file (< 40 MB by default) with the
training photos, their held-out validation slice and the VGG16/LPIPS weights a run needs
(:mod:`superres.training.pack`), for ``superres train-gpu`` on a machine with no network.
"""

from __future__ import annotations

import argparse
import sys

from ..errors import SuperResError

_DIV2K_SPLITS = ("train", "valid")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "data",
        help="download training and benchmark data sets (DIV2K; Set5, Set14, BSD100, Urban100); pack photos "
             "for a GPU run",
        description="Download training and benchmark data sets, or pack training photos for 'superres train-gpu'. "
        "Run 'superres data DATASET --help' for options.",
    )
    p.set_defaults(_handler=_no_dataset, data_parser=p)
    dsub = p.add_subparsers(dest="dataset", metavar="DATASET")

    d = dsub.add_parser(
        "div2k",
        help="DIV2K high-resolution images (800 train + 100 valid PNGs, ~3.9 GB)",
        description=(
            "Download the DIV2K high-resolution archives (DIV2K_train_HR.zip, ~3.5 GB; "
            "DIV2K_valid_HR.zip, ~0.45 GB) from data.vision.ee.ethz.ch and unpack them to "
            "DIR/DIV2K_train_HR and DIR/DIV2K_valid_HR. An interrupted download resumes "
            "when the command is run again; splits already unpacked are skipped. The "
            "SHA-256 of each archive is printed and saved as DIR/<archive>.sha256. "
            "Without network access, download the zips by other means into DIR and run "
            "the command: they are used as is."
        ),
        epilog="DIV2K: Agustsson & Timofte, NTIRE 2017. The images are for academic research only.",
    )
    d.add_argument("--to", required=True, metavar="DIR", help="folder to download and unpack into (created if needed)")
    d.add_argument(
        "--splits",
        default="train,valid",
        metavar="LIST",
        help="comma-separated splits to fetch: train, valid (default: train,valid)",
    )
    d.add_argument(
        "--base-url",
        metavar="URL",
        help="download from this mirror instead of the official server (the archives' file names are appended)",
    )
    d.add_argument(
        "--delete-archives",
        action="store_true",
        help="delete each zip once unpacked (saves ~3.9 GB; unpacked splits are never downloaded again)",
    )
    d.add_argument("--timeout", type=float, default=30.0, metavar="S", help="network timeout in seconds (default: 30)")
    d.add_argument("-q", "--quiet", action="store_true", help="no progress bars or messages (errors are still shown)")
    d.set_defaults(_handler=run)

    # Help text stays static: building the parser must not import the download module.
    sets = "Set5, Set14, BSD100, Urban100"  # superres.datasets.BENCHMARK_SETS (a test checks)
    b = dsub.add_parser(
        "bench",
        help="the x4 benchmark sets Set5, Set14, BSD100, Urban100 (HR + MATLAB-bicubic LR, one 250 MB archive)",
        description=(
            f"Download the standard x4 super-resolution benchmark sets ({sets}): HR images and the "
            "MATLAB-bicubic x4 LR images the published tables use, from the EDSR authors' archive "
            "(cv.snu.ac.kr/research/EDSR/benchmark.tar, 250 MB, SHA-256 pinned: a file that does not "
            "match is refused). They are unpacked to DIR/<Set>/HR and DIR/<Set>/LR_bicubic_x4, which "
            "'superres eval --data Set5 Set14', 'superres export --eval Set5' and 'superres train --val "
            "Set5' find by name. An interrupted download resumes when the command is run again; sets "
            "already unpacked are skipped. Without network access, put benchmark.tar into DIR by other "
            "means and run the command: it is checked and used."
        ),
        epilog=(
            "default DIR: $SUPERRES_BENCH if set, else $XDG_DATA_HOME/superres/bench "
            "(~/.local/share/superres/bench). With --to elsewhere, set SUPERRES_BENCH=DIR so that names "
            "resolve there. The images are research data sets (Set5: Bevilacqua et al. 2012; Set14: "
            "Zeyde et al. 2010; BSD100: Martin et al. 2001; Urban100: Huang et al. 2015), for evaluation only."
        ),
    )
    b.add_argument("--to", metavar="DIR", help="folder to download and unpack into (default: see below)")
    b.add_argument("--sets", default=sets.replace(" ", ""), metavar="LIST",
                   help=f"comma-separated sets to unpack (default: {sets.replace(' ', '')})")
    b.add_argument("--base-url", metavar="URL",
                   help="download benchmark.tar from this mirror (the SHA-256 pin still applies)")
    b.add_argument("--delete-archive", action="store_true", help="delete benchmark.tar once unpacked")
    b.add_argument("--timeout", type=float, default=30.0, metavar="S", help="network timeout in seconds (default: 30)")
    b.add_argument("-q", "--quiet", action="store_true", help="no progress bars or messages (errors are still shown)")
    b.set_defaults(_handler=run_bench)


    k = dsub.add_parser(
        "pack",
        help="one file (< 40 MB) with training photos, their validation slice and the VGG16/LPIPS weights",
        description=(
            "Pack training photos for 'superres train-gpu' on a machine with no network: the photos re-encoded "
            "(JPEG 4:4:4 q92 by default) and, if they do not fit the budget otherwise, the largest ones resized "
            "to one long-side cap found by search; the fixed held-out validation slice (every k-th photo, as "
            "'superres train' uses without --val) as lossless centre crops; VGG16 up to the layer the SRGAN "
            "stage needs, in float16; LPIPS AlexNet weights when cached. The file's metadata records what was "
            "done, every source and a SHA-256 per item. Written to a temporary file, then renamed into place."
        ),
        epilog="example: TORCH_HOME=../shared/weights superres data pack gpu/train.pack "
               "--data ../shared/data/train-hr ../shared/data/train-291",
    )
    k.add_argument("output", metavar="OUT.pack", help="the pack file to write")
    k.add_argument("--data", nargs="+", required=True, metavar="DIR", help="folders of HR photos (searched recursively)")
    k.add_argument("--max-mb", type=float, default=40.0, metavar="MB",
                   help="size budget of the whole file in MB (10^6 bytes; default 40)")
    k.add_argument("--codec", choices=["jpeg", "webp", "png"], default="jpeg",
                   help="how photos are stored (default jpeg, 4:4:4; webp is 4:2:0; png is lossless)")
    k.add_argument("--quality", type=int, default=92, metavar="Q", help="jpeg/webp quality 1-100 (default 92)")
    k.add_argument("--vgg-layer", metavar="convI_J",
                   help="deepest VGG16 layer to pack (default: the deepest the train-gpu SRGAN stage uses)")
    k.add_argument("--vgg-weights", metavar="FILE",
                   help="torchvision VGG16 weights (default: vgg16-397923af.pth in the torch hub cache, TORCH_HOME)")
    k.add_argument("--no-lpips", action="store_true", help="leave the LPIPS AlexNet weights out (about 5 MB)")
    k.add_argument("--val-count", type=int, default=8, metavar="N", help="held-out validation photos (default 8)")
    k.add_argument("--min-side", type=int, metavar="PX",
                   help="leave out photos whose short side is below this (default: the largest train-gpu crop)")
    k.add_argument("--overwrite", action="store_true", help="replace OUT.pack if it exists")
    k.add_argument("-q", "--quiet", action="store_true", help="no progress messages")
    k.set_defaults(_handler=run_pack)


def run_pack(ns: argparse.Namespace) -> int:
    import json

    from ..training.gpu import GPU_SRGAN, GPU_SRRESNET, default_pack_vgg_layer
    from ..training.pack import build_pack

    if ns.quality < 1 or ns.quality > 100:
        raise SuperResError(f"--quality must be in 1..100, got {ns.quality}")
    if ns.val_count < 1:
        raise SuperResError(f"--val-count must be at least 1, got {ns.val_count}")
    say = None if ns.quiet else (lambda m: print(m, file=sys.stderr))
    try:
        m = build_pack(ns.output, ns.data, max_mb=ns.max_mb, codec=ns.codec, quality=ns.quality,
                       vgg_weights=ns.vgg_weights, vgg_layer=ns.vgg_layer or default_pack_vgg_layer(),
                       lpips=not ns.no_lpips, val_count=ns.val_count, overwrite=ns.overwrite, progress=say,
                       min_side=ns.min_side or max(GPU_SRRESNET["hr_crop"], GPU_SRGAN["hr_crop"]))
    except FileNotFoundError as e:
        raise SuperResError(str(e)) from None
    print(json.dumps({"pack": ns.output, "bytes": m["file_bytes"], "train_images": len(m["train"]["images"]),
                      "val_images": [e["name"] for e in m["val"]["images"]], "what": m["train"]["encoding"]["what"],
                      "vgg": f"vgg16 up to {m['vgg']['layer']}", "lpips": "lpips" in m and "net" in m["lpips"]},
                     indent=2))
    return 0


def _no_dataset(ns: argparse.Namespace) -> int:
    ns.data_parser.print_help(sys.stderr)
    return 2


def _parse_splits(text: str) -> list[str]:
    splits = [s.strip().lower() for s in text.split(",") if s.strip()]
    bad = [s for s in splits if s not in _DIV2K_SPLITS]
    if bad or not splits:
        raise SuperResError(
            f"--splits: unknown split(s) {', '.join(bad) or '(none given)'}; "
            f"choose from {', '.join(_DIV2K_SPLITS)} (comma-separated)"
        )
    return splits


def run(ns: argparse.Namespace) -> int:
    if ns.dataset != "div2k":  # only one data set so far; argparse rejects others
        return _no_dataset(ns)
    splits = _parse_splits(ns.splits)
    if ns.timeout <= 0:
        raise SuperResError(f"--timeout must be positive, got {ns.timeout}")

    from ..datasets import fetch_div2k

    folders = fetch_div2k(
        ns.to,
        splits=splits,
        progress=not ns.quiet,
        base_url=ns.base_url,
        keep_archives=not ns.delete_archives,
        timeout=ns.timeout,
    )
    for split, folder in zip(dict.fromkeys(splits), folders):
        n = sum(1 for f in folder.iterdir() if f.suffix.lower() == ".png")
        print(f"DIV2K {split}: {n} images in {folder}")
    return 0


def run_bench(ns: argparse.Namespace) -> int:
    if ns.timeout <= 0:
        raise SuperResError(f"--timeout must be positive, got {ns.timeout}")
    from pathlib import Path

    from ..datasets import bench_dir, fetch_benchmarks

    sets = [x.strip() for x in ns.sets.split(",") if x.strip()]
    to = Path(ns.to).expanduser() if ns.to else bench_dir()
    folders = fetch_benchmarks(to, sets, progress=not ns.quiet, base_url=ns.base_url,
                               keep_archive=not ns.delete_archive, timeout=ns.timeout)
    for folder in folders:
        n = sum(1 for f in (folder / "HR").iterdir() if f.suffix.lower() == ".png")
        print(f"{folder.name}: {n} HR + LR_bicubic_x4 images in {folder}")
    if to.resolve() != bench_dir().resolve():
        print(f"note: names like --data {folders[0].name} look in {bench_dir()}; to use {to}, "
              f"set SUPERRES_BENCH={to}", file=sys.stderr)
    return 0
