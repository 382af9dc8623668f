"""Helpers shared by subcommands (argparse-free library calls stay in the library)."""

from __future__ import annotations

import argparse
import sys
import warnings


def add_model_options(p: argparse.ArgumentParser, default: str | None = None) -> None:
    p.add_argument("-m", "--model", default=default,
                   help="model name (see 'superres models'; third-party names such as course-srgan are "
                        "fetched and verified on first use) or a weights file: superres .safetensors, "
                        "Keras .h5 (SRGAN course generators), BasicSR/Real-ESRGAN .pth, or an ncnn model's "
                        ".param (its .bin beside it: the files of Upscayl, realesrgan-ncnn-vulkan, waifu2x-ncnn); "
                        "default: srgan-x4 (or the best installed model if its weights are missing)")
    p.add_argument("--tile", type=non_negative_int, default=None, metavar="N",
                   help="LR tile size in pixels (default: chosen from a memory budget; 0 = never tile)")
    p.add_argument("--tile-pad", type=non_negative_int, default=None, metavar="N",
                   help="context pixels read around each tile (default: the model's receptive hint)")
    p.add_argument("--device", default="auto", help="auto (default), cpu, cuda, cuda:N or mps")
    p.add_argument("--precision", default="auto", choices=["auto", "fp32", "bf16", "fp16", "int8"],
                   help="arithmetic precision; auto (default) uses bf16 on CPUs with native bfloat16 "
                        "(fp16 on CUDA) only for models whose card shows it loses no quality, else fp32; "
                        "int8 (CPU) for models that passed the int8 gate (MODELS.md), picked by auto "
                        "only on CPUs with VNNI")
    p.add_argument("--backend", default="torch", choices=["torch", "onnxruntime", "openvino"],
                   help="torch (default), onnxruntime or openvino: the network exported to ONNX and run by "
                        "ONNX Runtime / OpenVINO on the CPU, float32 (needs pip install \"superres[onnx]\" / "
                        "\"superres[openvino]\"; openvino measured 1.1-1.2x faster than torch "
                        "float32 for srgan-x4 and srcnn-x4 on a 2-core AVX2 CPU: benchmarks/results.md)")
    add_offline_option(p)


def add_offline_option(p: argparse.ArgumentParser) -> None:
    p.add_argument("--offline", action="store_true",
                   help="never touch the network: third-party models (see 'superres models') must already be "
                        "in the cache (also SUPERRES_OFFLINE=1)")


def add_control_options(p: argparse.ArgumentParser) -> None:
    """--strength / --denoise: network interpolation between two models of one architecture."""
    p.add_argument("--strength", type=unit_float, default=None, metavar="S",
                   help="GAN strength for srgan-x4, 0..1: blends the weights of srresnet-x4 (0: smooth, "
                        "highest PSNR) and srgan-x4 (1: full GAN texture); see MODELS.md for its curve")
    p.add_argument("--denoise", type=unit_float, default=None, metavar="D",
                   help="denoise strength for realesr-general-x4v3, 0..1 (Real-ESRGAN's -dn): blends its "
                        "weak-denoise companion (0: keeps noise) and the model itself (1: strongest denoise)")


def unit_float(text: str) -> float:
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number between 0 and 1, got {text!r}") from None
    if not 0.0 <= v <= 1.0:
        raise argparse.ArgumentTypeError(f"must be between 0 and 1, got {text}")
    return v


#: --help text shared by upscale and animate: which model for graphics (figures: benchmarks/graphics.py)
GRAPHICS_HELP = """\
graphics (flat colours, text, dithering, screenshots, logos): use
  --model srcnn-x4 --color-fix   (least invented texture; colours kept exactly)
The GAN models (srgan-x4, srgan-x4-fast) invent photo texture: on graphics they
tint grey text (mean chroma 5 levels, 1 in 100 pixels 33+) and add texture to
dithered areas. --color-fix takes the colour from bicubic and only the
brightness detail from the model: grey stays grey with any model, and photos
lose nothing (Set5 RGB PSNR +0.2 dB for srgan-x4). Pixel art: --model nearest.
"""


def add_color_fix_option(p: argparse.ArgumentParser) -> None:
    p.add_argument("--color-fix", action="store_true",
                   help="colour (chroma) from bicubic, detail (luma) from the model: keeps grey grey and flat "
                        "colours flat; recommended for graphics and text")


def positive_int(text: str) -> int:
    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if v <= 0:
        raise argparse.ArgumentTypeError(f"must be positive, got {v}")
    return v


def non_negative_int(text: str) -> int:
    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if v < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, got {v}")
    return v


def int_in_range(lo: int, hi: int):
    """An argparse type accepting whole numbers lo..hi."""

    def parse(text: str) -> int:
        try:
            v = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
        if not lo <= v <= hi:
            raise argparse.ArgumentTypeError(f"must be between {lo} and {hi}, got {v}")
        return v

    parse.__name__ = f"int_{lo}_{hi}"
    return parse


def pixel_count(text: str) -> int:
    """An argparse type for pixel counts: 50000000, 50_000_000 or 5e7."""
    try:
        v = float(text.replace("_", ""))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of pixels (e.g. 50000000 or 5e7), got {text!r}") from None
    if not (v >= 1 and v != float("inf") and v == int(v)):
        raise argparse.ArgumentTypeError(f"must be a positive whole number of pixels, got {text!r}")
    return int(v)


def positive_float(text: str) -> float:
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not (v > 0 and v != float("inf")):
        raise argparse.ArgumentTypeError(f"must be a positive finite number, got {text!r}")
    return v


def route_warnings(quiet: bool = False) -> None:
    """Print library warnings as one 'warning: ...' line each on stderr."""

    def show(message, category, filename, lineno, file=None, line=None):  # noqa: ANN001
        if not quiet:
            print(f"superres: warning: {message}", file=sys.stderr)

    warnings.showwarning = show
    warnings.simplefilter("default")
    warnings.filterwarnings("ignore", message=".*NumPy array is not writable.*")


def progress_enabled(quiet: bool) -> bool:
    return not quiet and sys.stderr.isatty()
