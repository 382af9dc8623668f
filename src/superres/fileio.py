"""Writing files safely: every output goes to a temporary file beside it, renamed into place.

A reader never sees a half-written file, and a failed or interrupted write
leaves nothing behind (the temporary file is removed). Files get the usual
``0644 & ~umask`` permissions (``mkstemp`` alone would make them private).
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

from .errors import OutputError

__all__ = ["atomic_write", "atomic_write_bytes", "temporary_path", "file_mode"]


def file_mode() -> int:
    """Permissions for a new file: 0644 less the process umask."""
    mask = os.umask(0)
    os.umask(mask)
    return 0o644 & ~mask


def temporary_path(path: Path, suffix: str = ".part") -> Path:
    """A new, empty hidden file beside ``path`` (``.NAME.XXXX.part``) for writing, then renaming."""
    parent = path.parent if str(path.parent) else Path(".")
    try:
        parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=suffix, dir=parent)
    except OSError as e:
        raise OutputError(f"cannot write to {parent}: {e.strerror or e}") from None
    os.close(fd)
    return Path(tmp)


def atomic_write(path: str | os.PathLike, writer: Callable[[BinaryIO], object]) -> Path:
    """Call ``writer(f)`` on a temporary file beside ``path``, then rename it to ``path``.

    Raises :class:`~superres.errors.OutputError` (an ``OSError``) when the folder
    cannot be written; nothing is left behind on any failure.
    """
    path = Path(path)
    tmp = temporary_path(path)
    try:
        with open(tmp, "wb") as f:
            writer(f)
        os.chmod(tmp, file_mode())
        os.replace(tmp, path)
    except BaseException as e:
        tmp.unlink(missing_ok=True)
        if isinstance(e, OSError) and not isinstance(e, OutputError):
            raise OutputError(f"cannot write {path}: {e.strerror or e}") from None
        raise
    return path


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    """Write ``data`` to ``path`` via a temporary file renamed into place."""
    return atomic_write(path, lambda f: f.write(data))
