"""The ``superres`` command line.

Each subcommand lives in its own module with two functions: ``register(sub)``
adds its argparse parser (cheap: no torch import) and ``run(ns) -> int`` does
the work, importing heavy modules lazily and calling library functions with
explicit arguments. ``superres --help`` therefore imports neither torch nor
training or video code.

Exit codes: 0 success, 1 some inputs failed, 2 usage error (argparse, bad
option values, unknown model).
"""

from __future__ import annotations

import argparse
import importlib
import sys

from .._version import __version__

#: subcommand -> module (in the order shown by --help)
COMMANDS = {
    "upscale": "upscale",
    "models": "models",
    "compare": "compare",
    "eval": "evaluate",
    "animate": "animate",
    "train": "train",
    "train-gpu": "train_gpu",
    "export": "export",
    "convert": "convert",
    "data": "data",
}


def build_parser(commands: dict[str, str] | None = None) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="superres",
        description="Single-image 4x super-resolution with SRGAN, SRResNet and SRCNN. "
        "Run 'superres COMMAND --help' for a command's options.",
    )
    parser.add_argument("--version", action="version", version=f"superres {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, module in (commands or COMMANDS).items():
        try:
            mod = importlib.import_module(f".{module}", __name__)
        except ModuleNotFoundError as e:
            if e.name == f"{__name__}.{module}":  # subcommand not written yet
                continue
            raise
        mod.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    from ..errors import SuperResError

    parser = build_parser()
    ns = parser.parse_args(argv)
    if not getattr(ns, "command", None):
        parser.print_help()
        return 2
    from .._alloc import tune_allocator

    tune_allocator()  # big tensors stay in the heap between layers (see superres._alloc)
    try:
        return int(ns._handler(ns) or 0)
    except SuperResError as e:
        print(f"superres {ns.command}: error: {e}", file=sys.stderr)
        return getattr(e, "exit_code", 2 if ns.command != "upscale" else 1)
    except KeyboardInterrupt:
        print(f"superres {ns.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # python -m superres.cli
    sys.exit(main())
