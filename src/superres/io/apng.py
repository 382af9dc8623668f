"""APNG: a streaming encoder writing the first frame whole and later frames as their changed rectangle.

(APNG files are read through Pillow, which composes them: :mod:`.pillow_reader`.)
"""

from __future__ import annotations

import io
import struct
import zlib

import numpy as np

from ..errors import OutputError
from .frames import Frame, FrameEncoder, bbox, flatten, plays_from_loop

__all__ = ["ApngEncoder"]


class ApngEncoder(FrameEncoder):
    """Streaming APNG: the first frame full, later frames only their changed rectangle."""

    def __init__(self, fp, size: tuple[int, int], loop: int | None, alpha: bool | None = None,
                 compress_level: int = 6) -> None:
        self.fp = fp
        self.w, self.h = size
        self.loop = loop
        self.alpha = alpha
        self.level = compress_level
        self.prev: np.ndarray | None = None
        self.seq = 0
        self.count = 0
        self.actl_pos = 0

    def _chunk(self, kind: bytes, body: bytes) -> None:
        self.fp.write(struct.pack(">I", len(body)) + kind + body
                      + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF))

    def _png_idat(self, pixels: np.ndarray) -> list[bytes]:
        from PIL import Image

        buf = io.BytesIO()
        Image.fromarray(np.ascontiguousarray(pixels)).save(buf, "PNG", compress_level=self.level)
        data = buf.getvalue()
        out, pos = [], 8
        while pos < len(data):
            n, kind = struct.unpack_from(">I4s", data, pos)
            if kind == b"IDAT":
                out.append(data[pos + 8:pos + 8 + n])
            pos += 12 + n
        return out

    def add(self, frame: Frame) -> None:
        if self.alpha is None:  # unknown: later frames may turn transparent, so keep an alpha channel
            self.alpha = True
        px = frame.rgba() if self.alpha else flatten(frame)
        if self.count == 0:
            self.fp.write(b"\x89PNG\r\n\x1a\n")
            self._chunk(b"IHDR", struct.pack(">IIBBBBB", self.w, self.h, 8, 6 if self.alpha else 2, 0, 0, 0))
            self.actl_pos = self.fp.tell()
            self._chunk(b"acTL", struct.pack(">II", 0, plays_from_loop(self.loop)))  # frame count patched later
            rect = (0, 0, self.w, self.h)
        else:
            rect = bbox((px != self.prev).any(axis=2)) or (0, 0, 1, 1)
        x0, y0, x1, y1 = rect
        d = max(1, min(65535, int(frame.duration_ms)))
        self._chunk(b"fcTL", struct.pack(">IIIIIHHBB", self.seq, x1 - x0, y1 - y0, x0, y0, d, 1000, 0, 0))
        self.seq += 1
        for part in self._png_idat(px[y0:y1, x0:x1]):
            if self.count == 0:
                self._chunk(b"IDAT", part)
            else:
                self._chunk(b"fdAT", struct.pack(">I", self.seq) + part)
                self.seq += 1
        self.prev = px
        self.count += 1

    def finish(self) -> None:
        if self.count == 0:
            raise OutputError("no frames to write")
        self._chunk(b"IEND", b"")
        end = self.fp.tell()
        self.fp.seek(self.actl_pos)
        self._chunk(b"acTL", struct.pack(">II", self.count, plays_from_loop(self.loop)))
        self.fp.seek(end)
