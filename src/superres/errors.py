"""Exceptions raised by superres.

Every error a user can cause derives from :class:`SuperResError` and carries a
message that says what is wrong and how to fix it; the CLI prints that message
on one line and exits non-zero.
"""

from __future__ import annotations

__all__ = ["SuperResError", "InputError", "ModelError", "OutputError"]


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
