"""The data a comparison report shows: :class:`Comparison` of :class:`Panel` images.

Built by :func:`superres.compare.compare_hr` / :func:`~superres.compare.compare_lr`
(the running part), drawn by :mod:`.figure` (PNG) and :mod:`.html` (self-contained page).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

__all__ = ["Panel", "Comparison", "method_label", "INTERPOLATIONS"]

_LABELS = {
    "bicubic": "Bicubic", "nearest": "Nearest", "bilinear": "Bilinear", "lanczos": "Lanczos",
    "srcnn-x4": "SRCNN", "srresnet-x4": "SRResNet", "srgan-x4": "SRGAN",
}


INTERPOLATIONS = ("bicubic", "nearest", "bilinear", "lanczos")


def method_label(name: str) -> str:
    """Display name of a model name or weights path (``srgan-x4`` -> ``SRGAN``)."""
    if name in _LABELS:
        return _LABELS[name]
    p = Path(name)
    return p.stem if p.suffix else name


@dataclass
class Panel:
    """One image of a comparison and what is known about it.

    ``image`` is (H, W, 3) uint8 at the output size. Metrics are None when they
    do not apply (LR mode, the original itself) or could not be computed.
    """

    key: str  # model name/path, or "original", "input", "diff"
    label: str
    image: np.ndarray
    kind: str = "model"  # "model", "original", "input", "diff"
    psnr: float | None = None
    ssim: float | None = None
    lpips: float | None = None
    seconds: float | None = None
    sharpness: float | None = None
    caption: str = ""  # extra line under the title


@dataclass
class Comparison:
    """Everything a figure or report shows; built by :func:`compare_hr` / :func:`compare_lr`."""

    mode: str  # "hr" or "lr"
    name: str  # what was compared (file name)
    scale: int
    lr_size: tuple[int, int]  # (width, height)
    out_size: tuple[int, int]
    panels: list[Panel]
    crop: tuple[int, int, int, int]  # x, y, w, h in output pixels
    crop_auto: bool = True
    diff: Panel | None = None
    notes: list[str] = field(default_factory=list)
    lpips_note: str = ""  # why LPIPS is missing, if it is

    def panel(self, key: str) -> Panel | None:
        for p in self.panels:
            if p.key == key:
                return p
        return None

    @property
    def methods(self) -> list[Panel]:
        return [p for p in self.panels if p.kind == "model"]

    def slider_pair(self) -> tuple[Panel, Panel] | None:
        """(left, right) panels of the before/after slider: bicubic vs SRGAN when present.

        Falls back to the nearest-enlarged input (LR mode) or the first method for
        the left side, and to the last learned method (or the original) for the right.
        """
        methods = self.methods
        left = self.panel("bicubic") or self.panel("input") or (methods[0] if methods else None)
        right = self.panel("srgan-x4")
        if right is None:
            others = [p for p in methods if p is not left and p.key not in INTERPOLATIONS]
            right = others[-1] if others else (self.panel("original") or next(
                (p for p in methods if p is not left), None))
        if left is None or right is None or left is right:
            return None
        return left, right
