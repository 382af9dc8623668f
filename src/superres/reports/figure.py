"""The comparison figure: titled panels, zoomed crops and notes, drawn with Pillow (no matplotlib).

Titles are wrapped to their column, so they never overlap, and panels are shown
at a display size that keeps small inputs legible (integer nearest enlargement)
and large inputs on one screen (Lanczos reduction; the crops stay at full resolution).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from .comparison import Comparison, Panel
from .text import fmt_value, short_lpips_note

__all__ = ["render_figure", "panel_metric_text", "wrap_text"]

_BG = (255, 255, 255)
_INK = (20, 20, 20)
_GREY = (100, 100, 100)
_NOTE = (150, 60, 0)
_MARK = (255, 214, 0)


@lru_cache(maxsize=16)
def _font(size: int):
    try:
        return ImageFont.load_default(size=size)  # scalable (Pillow >= 10.1 with FreeType)
    except (TypeError, OSError, ImportError, AttributeError):  # pragma: no cover - old or FreeType-less Pillow
        return ImageFont.load_default()


_NBSP = "\u00a0"  # keeps a metric's name and value on one line; drawn as a space


def _text_w(text: str, font) -> int:
    if not text:
        return 0
    x0, _, x1, _ = font.getbbox(text.replace(_NBSP, " "))
    return int(math.ceil(x1 - min(0, x0)))


def _line_h(font) -> int:
    x0, y0, x1, y1 = font.getbbox("Ag|y")
    return int(math.ceil(y1 - min(0, y0))) + max(3, int(getattr(font, "size", 12) * 0.3))


def wrap_text(text: str, font, width: int) -> list[str]:
    """Lines of ``text`` no wider than ``width`` pixels (long words are broken).

    Breaks only at plain spaces: join words with a no-break space to keep them together.
    """
    lines: list[str] = []
    width = max(8, int(width))
    for para in text.split("\n"):
        cur = ""
        for word in para.split(" "):
            if not word and not cur:
                continue
            cand = f"{cur} {word}" if cur else word
            if _text_w(cand, font) <= width:
                cur = cand
                continue
            if cur:
                lines.append(cur)
            while _text_w(word, font) > width and len(word) > 1:
                k = len(word) - 1
                while k > 1 and _text_w(word[:k], font) > width:
                    k -= 1
                lines.append(word[:k])
                word = word[k:]
            cur = word
        lines.append(cur)
    return lines


@dataclass
class _Block:
    """Wrapped lines with their fonts and colours; knows its height."""

    lines: list[tuple[str, object, tuple[int, int, int]]] = field(default_factory=list)

    def add(self, text: str, size: int, colour, width: int) -> "_Block":
        f = _font(size)
        for ln in wrap_text(text, f, width):
            self.lines.append((ln, f, colour))
        return self

    @property
    def height(self) -> int:
        return sum(_line_h(f) for _, f, _ in self.lines)

    def draw(self, d: ImageDraw.ImageDraw, x: int, y: int, boxes: list | None = None) -> int:
        for text, f, colour in self.lines:
            shown = text.replace(_NBSP, " ")
            tx = x - min(0, int(math.floor(f.getbbox(shown)[0]))) if shown else x  # glyphs overhanging left
            d.text((tx, y), shown, font=f, fill=colour)
            if boxes is not None and shown:
                boxes.append(d.textbbox((tx, y), shown, font=f))
            y += _line_h(f)
        return y




def panel_metric_text(comp: Comparison, p: Panel) -> str:
    """The metric line shown under a panel's title."""
    if p.kind == "diff" or p.kind == "original":
        return p.caption
    nb = _NBSP
    if comp.mode == "lr":
        s = f"sharpness{nb}{fmt_value(p.sharpness, '.1f')}"
        return f"{p.caption}; {s}" if p.caption else s
    parts = [f"PSNR{nb}{fmt_value(p.psnr, '.2f', nb + 'dB')}", f"SSIM{nb}{fmt_value(p.ssim, '.3f')}",
             f"LPIPS{nb}{fmt_value(p.lpips, '.3f')}"]
    return "  ".join(parts)


def _fit(img: Image.Image, w: int, h: int) -> Image.Image:
    if (w, h) == img.size:
        return img
    if w >= img.width and h >= img.height:
        return img.resize((w, h), Image.NEAREST)
    return img.resize((w, h), Image.LANCZOS)


def _display_factor(w: int, h: int, box_w: int, box_h: int) -> float:
    f = min(box_w / w, box_h / h)
    return float(math.floor(f)) if f >= 1 else f


def render_figure(comp: Comparison, *, title: str | None = None, max_width: int = 2600,
                  panel_width: int = 480, min_column: int = 240) -> Image.Image:
    """The comparison as one RGB figure: titled panels, then the zoomed crops, then notes.

    Panels share one display size: small outputs are enlarged by a whole number
    with nearest (pixels stay square), large ones reduced with Lanczos to fit
    ``panel_width`` (crops are always taken at full resolution). Titles wrap
    within their column, so they never run into each other.
    """
    panels = comp.panels + ([comp.diff] if comp.diff else [])
    n = len(panels)
    margin, gap = 16, 14
    ow, oh = comp.out_size
    col_target = int(max(min_column, min(panel_width, (max_width - 2 * margin - gap * (n - 1)) / n)))
    f = _display_factor(ow, oh, col_target, int(col_target * 1.25))
    dw, dh = max(1, round(ow * f)), max(1, round(oh * f))
    colw = max(dw, min_column)
    ncols = n
    if 2 * margin + n * colw + (n - 1) * gap > max_width:
        per_row = max(1, (max_width - 2 * margin + gap) // (colw + gap))
        rows_needed = math.ceil(n / per_row)
        ncols = math.ceil(n / rows_needed)
    fig_w = 2 * margin + ncols * colw + (ncols - 1) * gap

    cx, cy, cw, ch = comp.crop
    kz = min(colw / cw, max(colw, 160) / ch)
    kz = float(math.floor(kz)) if kz >= 1 else kz
    zw, zh = max(1, round(cw * kz)), max(1, round(ch * kz))

    # header
    mode_line = (f"{comp.name}: shrunk 1/{comp.scale} with bicubic to {comp.lr_size[0]}x{comp.lr_size[1]}, "
                 f"upscaled x{comp.scale} back to {ow}x{oh} and compared with the original"
                 if comp.mode == "hr" else
                 f"{comp.name}: low-resolution input {comp.lr_size[0]}x{comp.lr_size[1]} upscaled "
                 f"x{comp.scale} to {ow}x{oh}")
    head = _Block().add(title or "Super-resolution comparison", 24, _INK, fig_w - 2 * margin)
    head.add(mode_line, 16, _GREY, fig_w - 2 * margin)
    if comp.mode == "hr":
        head.add(f"PSNR and SSIM on luma (Y, BT.601) with {comp.scale} px of border shaved: higher is closer "
                 "to the original. LPIPS (AlexNet v0.1): lower is perceptually closer.", 16, _GREY,
                 fig_w - 2 * margin)

    # column blocks
    blocks = []
    for p in panels:
        b = _Block().add(p.label, 20, _INK, colw)
        line = panel_metric_text(comp, p)
        if line:
            b.add(line, 15, _INK if p.kind == "model" else _GREY, colw)
        if p.seconds is not None:
            b.add(f"{p.seconds:.2f} s", 14, _GREY, colw)
        blocks.append(b)
    crop_caption = _Block().add(
        f"{'auto-chosen detailed' if comp.crop_auto else 'requested'} crop {cw}x{ch} at ({cx}, {cy}), "
        f"enlarged x{kz:g} with nearest" if kz >= 1 else
        f"crop {cw}x{ch} at ({cx}, {cy}), reduced to fit", 15, _GREY, fig_w - 2 * margin)

    notes = list(comp.notes)
    if comp.mode == "hr" and comp.lpips_note:
        notes.append(short_lpips_note(comp.lpips_note) if "unavailable" in comp.lpips_note else comp.lpips_note)
    foot = _Block()
    for t in notes:
        foot.add(f"Note: {t}", 14, _NOTE, fig_w - 2 * margin)

    rows = [panels[i:i + ncols] for i in range(0, n, ncols)]
    row_blocks = [blocks[i:i + ncols] for i in range(0, n, ncols)]
    row_heights = []
    for rb in row_blocks:
        th = max(b.height for b in rb)
        row_heights.append((th, th + 6 + dh + gap))
    fig_h = (margin + head.height + gap + sum(rh for _, rh in row_heights) + crop_caption.height + 6
             + len(rows) * (zh + gap) + (foot.height + gap if notes else 0) + margin)
    fig = Image.new("RGB", (fig_w, fig_h), _BG)
    d = ImageDraw.Draw(fig)
    y = head.draw(d, margin, margin) + gap

    def col_x(j: int) -> int:
        return margin + j * (colw + gap)

    # panels
    layout: dict = {"columns": [], "titles": [], "images": []}
    for row, rb, (th, rh) in zip(rows, row_blocks, row_heights):
        for j, (p, b) in enumerate(zip(row, rb)):
            x = col_x(j)
            boxes: list = []
            b.draw(d, x, y, boxes)
            layout["columns"].append((x, x + colw))
            layout["titles"].append(boxes)
            img = _fit(Image.fromarray(p.image), dw, dh)
            ix = x + (colw - dw) // 2
            iy = y + th + 6
            fig.paste(img, (ix, iy))
            layout["images"].append((ix, iy, ix + dw, iy + dh))
            _mark(d, ix + cx * f, iy + cy * f, ix + (cx + cw) * f, iy + (cy + ch) * f)
        y += rh
    # crops
    y = crop_caption.draw(d, margin, y) + 6
    for row in rows:
        for j, p in enumerate(row):
            tile = Image.fromarray(np.ascontiguousarray(p.image[cy:cy + ch, cx:cx + cw]))
            z = _fit(tile, zw, zh)
            x = col_x(j) + (colw - zw) // 2
            fig.paste(z, (x, y))
            d.rectangle([x - 1, y - 1, x + zw, y + zh], outline=(200, 200, 200))
        y += zh + gap
    if notes:
        foot.draw(d, margin, y)
    fig.info["superres_layout"] = layout  # panel columns, title text boxes, image boxes (for tests)
    return fig


def _mark(d: ImageDraw.ImageDraw, x0: float, y0: float, x1: float, y1: float) -> None:
    """Outline the crop region on a displayed panel (at least 8 px so it stays visible)."""
    cxm, cym = (x0 + x1) / 2, (y0 + y1) / 2
    hw, hh = max(4.0, (x1 - x0) / 2), max(4.0, (y1 - y0) / 2)
    box = [round(cxm - hw), round(cym - hh), round(cxm + hw) - 1, round(cym + hh) - 1]
    d.rectangle([box[0] - 1, box[1] - 1, box[2] + 1, box[3] + 1], outline=(0, 0, 0), width=1)
    d.rectangle(box, outline=_MARK, width=2)
