"""Exceptions raised by superres, and the exit codes of the ``superres`` command.

Every error a user can cause derives from :class:`SuperResError` and carries a
message that says what is wrong and how to fix it; the CLI prints that message
on one line and exits with the error class's ``exit_code``.

Exit codes (the one table; README "Exit codes" shows the same, and every
command follows it):

====  ===========================================================================
code  meaning
====  ===========================================================================
0     success (with ``--skip-existing``, skipped complete outputs count as done)
1     an input could not be used: missing, unreadable, damaged, too large, or out
      of memory while processing it; in a multi-input run the other inputs were
      still done and each failed one is named on its own line
2     the command cannot run as given and nothing was written: a bad option or
      value, an unknown model or unusable weights file, an output that already
      exists (without ``--overwrite``/``--skip-existing``) or cannot be written
130   interrupted (Ctrl-C); finished outputs are complete, no partial file is left
====  ===========================================================================
"""

from __future__ import annotations

import enum

__all__ = ["ExitCode", "SuperResError", "InputError", "UsageError", "ModelError", "OutputError", "OutOfMemory",
           "is_out_of_memory", "WeightsUnavailable", "FETCH_WEIGHTS_COMMAND", "torch_home"]

#: The one command that puts every third-party ImageNet weight file superres uses into the cache.
FETCH_WEIGHTS_COMMAND = "superres models --fetch lpips vgg16 vgg19"


class ExitCode(enum.IntEnum):
    """Exit codes of the ``superres`` command (see the module docstring)."""

    OK = 0
    INPUT = 1
    USAGE = 2
    INTERRUPTED = 130


class SuperResError(Exception):
    """Base class for all errors that are the user's to fix (exit code 2 unless a subclass says otherwise)."""

    exit_code: int = ExitCode.USAGE


class InputError(SuperResError, ValueError):
    """An input image/file cannot be used (missing, corrupt, unsupported, too large)."""

    exit_code = ExitCode.INPUT


class OutOfMemory(InputError, MemoryError):
    """An input is too large to process in the memory there is (the message names the setting to change)."""


class UsageError(SuperResError, ValueError):
    """An option value that cannot be used (e.g. a crop outside the image); nothing was done."""

    exit_code = ExitCode.USAGE


class ModelError(SuperResError, KeyError):
    """A model name or weights file cannot be resolved or loaded."""

    exit_code = ExitCode.USAGE

    def __str__(self) -> str:  # KeyError would add quotes around the message
        return str(self.args[0]) if self.args else ""


class OutputError(SuperResError, OSError):
    """An output path cannot be written (exists, not writable, bad extension)."""

    exit_code = ExitCode.USAGE


def is_out_of_memory(exc: BaseException) -> bool:
    """True for a failed allocation: Python's MemoryError, or torch's CPU/CUDA allocator RuntimeError."""
    if isinstance(exc, MemoryError):
        return True
    text = str(exc).lower()
    return isinstance(exc, RuntimeError) and ("out of memory" in text or "can't allocate memory" in text)


class WeightsUnavailable(SuperResError):
    """Third-party ImageNet weights (LPIPS's AlexNet, the VGG content loss) are missing.

    They are not shipped in the package: they are read from the torch hub cache
    under ``TORCH_HOME`` (or downloaded into it). The message names the missing
    file, where it was looked for, and :data:`FETCH_WEIGHTS_COMMAND`.
    """


def torch_home() -> str:
    """The folder torch.hub caches into: $TORCH_HOME, else $XDG_CACHE_HOME/torch, else ~/.cache/torch.

    (The rule of :func:`torch.hub.get_dir` without importing torch.)
    """
    import os

    default = os.path.join(os.getenv("XDG_CACHE_HOME", "~/.cache"), "torch")
    return os.path.expanduser(os.getenv("TORCH_HOME", default))
