"""The ``superres`` command line.

Each subcommand lives in its own module with two functions: ``register(sub)``
adds its argparse parser (cheap: no torch import) and ``run(ns) -> int`` does
the work, importing heavy modules lazily and calling library functions with
explicit arguments. ``superres --help`` therefore imports neither torch nor
training or video code.

Exit codes (one table for every command, defined with the error classes in
:mod:`superres.errors`): 0 success, 1 an input could not be used (the others in
a multi-input run were done), 2 the command cannot run as given and nothing was
written (argparse, bad option values, unknown model, output exists), 130
interrupted.
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
    "serve": "serve",
}


def build_parser(commands: dict[str, str] | None = None) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="superres",
        description="Single-image 4x super-resolution with SRGAN, SRResNet and SRCNN. "
        "Run 'superres COMMAND --help' for a command's options.",
    )
    parser.add_argument("--version", action="version", version=f"superres {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module in (commands or COMMANDS).values():
        importlib.import_module(f".{module}", __name__).register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    from ..errors import ExitCode, SuperResError

    parser = build_parser()
    ns = parser.parse_args(argv)
    if not getattr(ns, "command", None):
        parser.print_help()
        return ExitCode.USAGE
    from .._alloc import tune_allocator

    tune_allocator()  # big tensors stay in the heap between layers (see superres._alloc)
    import contextlib

    from ..catalogue import offline_mode

    try:
        with offline_mode() if getattr(ns, "offline", False) else contextlib.nullcontext():
            return int(ns._handler(ns) or 0)
    except SuperResError as e:
        print(f"superres {ns.command}: error: {e}", file=sys.stderr)
        return int(e.exit_code)
    except (MemoryError, RuntimeError) as e:  # an allocation failure not turned into OutOfMemory by the command
        from ..errors import is_out_of_memory

        if not is_out_of_memory(e):
            raise
        print(f"superres {ns.command}: error: out of memory; use a smaller --tile (e.g. --tile 128) "
              "or a smaller input", file=sys.stderr)
        return ExitCode.INPUT
    except KeyboardInterrupt as e:  # a command may say how to resume in the exception's message
        print(f"superres {ns.command}: interrupted{'; ' + str(e) if str(e) else ''}", file=sys.stderr)
        return ExitCode.INTERRUPTED


if __name__ == "__main__":  # python -m superres.cli
    sys.exit(main())
