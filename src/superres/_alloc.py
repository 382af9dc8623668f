"""Process-wide allocator setting for big-tensor inference (glibc only).

glibc's malloc serves blocks above a threshold (at most 32 MB by its own
adaptation) with ``mmap`` and hands them back with ``munmap`` when freed, and it
trims free memory off the heap top. A super-resolution forward pass allocates
and frees tensors of tens to hundreds of MB (SRResNet's 256-channel map at half
the output size is 134-268 MB per 256x256 tile), so every layer of every tile
paid again for fresh, zero-filled pages. Raising both thresholds keeps that
memory in the process for the next layer: on the 2-core benchmark machine
srgan-x4 (bf16, 256x256 input) went from ~975 to ~800 ms per image and
srgan-x4-fast from ~140 to ~128 ms. The memory stays mapped until the process
exits, which suits the command line; library users opt in by calling
:func:`tune_allocator` themselves.

``SUPERRES_MALLOC=default`` in the environment turns it off.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import sys

__all__ = ["tune_allocator"]

_M_TRIM_THRESHOLD = -1  # mallopt parameter numbers from glibc's malloc.h
_M_MMAP_THRESHOLD = -3
_tuned = False


def tune_allocator(threshold: int = 1 << 30) -> bool:
    """Keep freed blocks below ``threshold`` bytes in the heap; True when applied.

    A no-op (False) off Linux, on C libraries without ``mallopt`` (e.g. musl) and
    when ``SUPERRES_MALLOC`` is ``default``/``off``/``0``.
    """
    global _tuned
    if _tuned:
        return True
    if os.environ.get("SUPERRES_MALLOC", "").strip().lower() in ("default", "off", "0"):
        return False
    if not sys.platform.startswith("linux"):
        return False
    try:
        mallopt = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6").mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    value = min(int(threshold), 2**31 - 1)
    _tuned = mallopt(_M_MMAP_THRESHOLD, value) == 1 and mallopt(_M_TRIM_THRESHOLD, value) == 1
    return _tuned
