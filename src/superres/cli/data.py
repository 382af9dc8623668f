"""``superres data``: download training data sets.

``superres data div2k --to DIR`` fetches the DIV2K high-resolution archives
(800 training + 100 validation PNGs, about 3.9 GB of zips), resuming an
interrupted download, and unpacks them to ``DIR/DIV2K_train_HR`` and
``DIR/DIV2K_valid_HR``. The download code (:mod:`superres.training.download`)
is imported only when the command runs.
"""

from __future__ import annotations

import argparse
import sys

from ..errors import SuperResError

_DIV2K_SPLITS = ("train", "valid")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "data",
        help="download training data sets (DIV2K)",
        description="Download training data sets. Run 'superres data DATASET --help' for options.",
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

    from ..training.download import fetch_div2k

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
