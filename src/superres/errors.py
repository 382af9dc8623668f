"""Exceptions raised by superres.

Every error a user can cause derives from :class:`SuperResError` and carries a
message that says what is wrong and how to fix it; the CLI prints that message
on one line and exits non-zero.
"""

from __future__ import annotations

__all__ = ["SuperResError", "InputError", "ModelError", "OutputError", "WeightsUnavailable",
           "FETCH_WEIGHTS_COMMAND", "torch_home"]

#: The one command that puts every third-party ImageNet weight file superres uses into the cache.
FETCH_WEIGHTS_COMMAND = "superres models --fetch lpips vgg16 vgg19"


class SuperResError(Exception):
    """Base class for all errors that are the user's to fix."""


class InputError(SuperResError, ValueError):
    """An input image/file cannot be used (missing, corrupt, unsupported, too large)."""


class ModelError(SuperResError, KeyError):
    """A model name or weights file cannot be resolved or loaded."""

    def __str__(self) -> str:  # KeyError would add quotes around the message
        return str(self.args[0]) if self.args else ""


class OutputError(SuperResError, OSError):
    """An output path cannot be written (exists, not writable, bad extension)."""


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
