"""Animated WebP: libwebp's animation encoder through Pillow.

(WebP files are read through Pillow, which composes them: :mod:`.pillow_reader`.)
"""

from __future__ import annotations

from ..errors import OutputError
from .frames import Frame, FrameEncoder, plays_from_loop

__all__ = ["WebpEncoder"]


class WebpEncoder(FrameEncoder):
    """Animated WebP through libwebp's animation encoder (compressed frames are kept until the end)."""

    def __init__(self, fp, size: tuple[int, int], loop: int | None, quality: int | None = None,
                 lossless: bool = False) -> None:
        from PIL import features

        if not features.check("webp"):
            raise OutputError("this Pillow has no WebP support; write .gif or .png instead")
        self.fp = fp
        self.size = size
        self.loop = loop
        self.quality = 90 if quality is None else int(quality)
        self.lossless = lossless
        self.time = 0
        self.count = 0
        self.enc = None
        self.frames: list | None = None  # fallback: Pillow's public save_all (holds the frames)
        try:
            from PIL import _webp

            kmin, kmax = (9, 17) if lossless else (3, 5)  # libwebp's gif2webp defaults
            self.enc = _webp.WebPAnimEncoder(size, 0, plays_from_loop(loop), False, kmin, kmax, False, False)
        except Exception:  # noqa: BLE001 - private API changed: use the public one
            self.frames, self.durations = [], []

    def add(self, frame: Frame) -> None:
        from PIL import Image

        im = Image.fromarray(frame.rgba() if frame.alpha is not None else frame.rgb)
        im = im.convert("RGBA")
        if self.enc is not None:
            self.enc.add(im.getim(), self.time, self.lossless, self.quality, 100, 4)
        else:
            self.frames.append(im)
            self.durations.append(frame.duration_ms)
        self.time += int(frame.duration_ms)
        self.count += 1

    def finish(self) -> None:
        if self.count == 0:
            raise OutputError("no frames to write")
        if self.enc is not None:
            self.enc.add(None, self.time, self.lossless, self.quality, 100, 0)
            data = self.enc.assemble(b"", b"", b"")
            if data is None:
                raise OutputError("the WebP encoder failed")
            self.fp.write(data)
        else:
            first, *rest = self.frames
            first.save(self.fp, "WEBP", save_all=True, append_images=rest, duration=self.durations,
                       loop=plays_from_loop(self.loop), quality=self.quality,
                       lossless=self.lossless)
