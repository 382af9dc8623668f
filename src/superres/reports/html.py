"""HTML reports: the comparison page of ``superres compare`` and the page of ``superres animate --compare``.

Both are single files: the comparison page embeds its images (PNG data URIs)
and a before/after slider; the animation page links the animations beside it.
"""

from __future__ import annotations

import base64
import html
import io
import os
from pathlib import Path

import numpy as np
from PIL import Image

from ..errors import OutputError
from ..fileio import atomic_write_bytes
from .comparison import Comparison
from .figure import panel_metric_text
from .text import fmt_value

__all__ = ["render_html", "compare_html", "write_compare_page", "HTML_MAX_WIDTH", "EMBED_LIMIT"]


#: embedded panel images wider than this are reduced (the PNG figure keeps full-resolution crops)
HTML_MAX_WIDTH = 1280


def _png_data_uri(arr: np.ndarray, max_width: int | None = HTML_MAX_WIDTH) -> tuple[str, bool]:
    im = Image.fromarray(arr)
    reduced = False
    if max_width and im.width > max_width:
        im = im.resize((max_width, max(1, round(im.height * max_width / im.width))), Image.LANCZOS)
        reduced = True
    buf = io.BytesIO()
    im.save(buf, format="PNG", optimize=False, compress_level=6)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii"), reduced


_CSS = """
body{font-family:system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;margin:24px;color:#141414;background:#fff}
h1{font-size:1.5em;margin:0 0 .3em}
p.sub{color:#555;margin:.2em 0}
.grid{display:grid;gap:14px;margin:16px 0;overflow-x:auto}
.grid figure{margin:0;min-width:0;display:flex;flex-direction:column}
.grid figcaption{font-size:.95em;margin-bottom:6px;flex:1}
.grid figcaption b{font-size:1.1em}
.grid img{width:100%;height:auto;display:block;border:1px solid #ddd}
.px{image-rendering:pixelated;image-rendering:crisp-edges}
table{border-collapse:collapse;margin:12px 0}
th,td{border:1px solid #ccc;padding:4px 10px;text-align:right}
th:first-child,td:first-child{text-align:left}
td.best{font-weight:bold;background:#eaf6ea}
.notes li{color:#963c00}
.ba{position:relative;max-width:960px;user-select:none;touch-action:none;cursor:ew-resize;border:1px solid #ccc}
.ba img{display:block;width:100%;height:auto}
.ba .over{position:absolute;inset:0;overflow:hidden}
.ba .over img{position:absolute;left:0;top:0}
.ba .handle{position:absolute;top:0;bottom:0;width:3px;margin-left:-1px;background:#ffd600;box-shadow:0 0 0 1px #000}
.ba .tag{position:absolute;top:8px;padding:2px 8px;background:rgba(0,0,0,.65);color:#fff;font-size:.9em;
border-radius:3px}
.ba .tag.l{left:8px}.ba .tag.r{right:8px}
#ba-range{width:100%;max-width:960px;display:block;margin:8px 0 0}
"""

# left image below, right image on top clipped to the part right of the handle
_JS = """
(function(){
  var box=document.getElementById('ba'), over=document.getElementById('ba-over'),
      handle=document.getElementById('ba-handle'), range=document.getElementById('ba-range');
  function set(v){v=Math.max(0,Math.min(100,+v));over.style.clipPath='inset(0 0 0 '+v+'%)';
    handle.style.left=v+'%';if(+range.value!==v)range.value=v;box.dataset.pos=v;}
  range.addEventListener('input',function(){set(range.value);});
  var drag=false;
  function at(e){var r=box.getBoundingClientRect();set((e.clientX-r.left)/r.width*100);}
  box.addEventListener('pointerdown',function(e){e.preventDefault();drag=true;
    box.setPointerCapture(e.pointerId);at(e);});
  box.addEventListener('pointermove',function(e){if(drag)at(e);});
  box.addEventListener('pointerup',function(){drag=false;});
  box.addEventListener('pointercancel',function(){drag=false;});
  box.addEventListener('dragstart',function(e){e.preventDefault();});
  var m=/slider=(\\d+(?:\\.\\d+)?)/.exec(location.hash);
  set(m?m[1]:range.value);
})();
"""


def _table_rows(comp: Comparison) -> tuple[list[str], list[list[str]]]:
    methods = comp.methods
    if comp.mode == "hr":
        header = ["method", "PSNR-Y (dB)", "SSIM-Y", "LPIPS", "sharpness", "time (s)"]
        best = {
            "psnr": max((p.psnr for p in methods if p.psnr is not None), default=None),
            "ssim": max((p.ssim for p in methods if p.ssim is not None), default=None),
            "lpips": min((p.lpips for p in methods if p.lpips is not None), default=None),
        }
        rows = []
        for p in methods:
            cells = [html.escape(p.label)]
            for key, spec in (("psnr", ".2f"), ("ssim", ".4f"), ("lpips", ".4f")):
                v = getattr(p, key)
                cls = ' class="best"' if v is not None and v == best[key] and len(methods) > 1 else ""
                cells.append(f"<td{cls}>{fmt_value(v, spec)}</td>")
            cells += [f"<td>{fmt_value(p.sharpness, '.2f')}</td>", f"<td>{fmt_value(p.seconds, '.2f')}</td>"]
            rows.append(cells)
        orig = comp.panel("original")
        if orig is not None:
            rows.append(["Original (reference)", "<td>-</td>", "<td>-</td>", "<td>-</td>",
                         f"<td>{fmt_value(orig.sharpness, '.2f')}</td>", "<td>-</td>"])
        return header, rows
    header = ["method", "sharpness", "time (s)"]
    rows = [[html.escape(p.label), f"<td>{fmt_value(p.sharpness, '.2f')}</td>",
             f"<td>{'-' if p.kind == 'input' else fmt_value(p.seconds, '.2f')}</td>"]
            for p in comp.panels if p.kind in ("model", "input")]
    return header, rows


def render_html(comp: Comparison, *, title: str | None = None) -> str:
    """A self-contained HTML report (images embedded): panels, zoomed crops, a slider, the metric table."""
    esc = html.escape
    panels = comp.panels + ([comp.diff] if comp.diff else [])
    n = len(panels)
    ow, oh = comp.out_size
    cx, cy, cw, ch = comp.crop
    px_class = ' class="px"' if ow < 480 else ""
    reduced_any = False
    figs, crops = [], []
    for p in panels:
        uri, reduced = _png_data_uri(p.image)
        reduced_any |= reduced
        cap = f"<b>{esc(p.label)}</b><br>{esc(panel_metric_text(comp, p))}"
        if p.seconds is not None:
            cap += f"<br><small>{p.seconds:.2f} s</small>"
        figs.append(f'<figure data-key="{esc(p.key)}"><figcaption>{cap}</figcaption>'
                    f'<img{px_class} src="{uri}" alt="{esc(p.label)}"></figure>')
        curi, _ = _png_data_uri(np.ascontiguousarray(p.image[cy:cy + ch, cx:cx + cw]), None)
        crops.append(f'<figure><figcaption><b>{esc(p.label)}</b></figcaption>'
                     f'<img class="px" src="{curi}" alt="{esc(p.label)} crop"></figure>')
    cols = f"grid-template-columns:repeat({n},minmax(180px,1fr))"
    header, rows = _table_rows(comp)
    table = "<table><tr>" + "".join(f"<th>{esc(h)}</th>" for h in header) + "</tr>" + "".join(
        f"<tr><td>{r[0]}</td>{''.join(r[1:])}</tr>" for r in rows) + "</table>"
    notes = list(comp.notes)
    if comp.mode == "hr" and comp.lpips_note:
        notes.append(comp.lpips_note)
    if reduced_any:
        notes.append(f"panels wider than {HTML_MAX_WIDTH} px are shown reduced here; the crops are "
                     "at full resolution")
    pair = comp.slider_pair()
    slider = ""
    if pair:
        left, right = pair
        luri, _ = _png_data_uri(left.image)
        ruri, _ = _png_data_uri(right.image)
        slider = (
            f"<h2>Before / after: {esc(left.label)} | {esc(right.label)}</h2>"
            "<p class=\"sub\">Drag across the image or move the slider: left of the line is "
            f"{esc(left.label)}, right of it {esc(right.label)}.</p>"
            f'<div class="ba" id="ba" data-pos="50"><img{px_class} draggable="false" src="{luri}" '
            f'alt="{esc(left.label)}"><div class="over" id="ba-over"><img{px_class} draggable="false" '
            f'src="{ruri}" alt="{esc(right.label)}"></div>'
            f'<div class="handle" id="ba-handle" style="left:50%"></div>'
            f'<span class="tag l">{esc(left.label)}</span><span class="tag r">{esc(right.label)}</span></div>'
            '<input type="range" id="ba-range" min="0" max="100" step="0.5" value="50" '
            f'aria-label="position of the divide between {esc(left.label)} and {esc(right.label)}">'
        )
    if comp.mode == "hr":
        sub = (f"{esc(comp.name)}: shrunk 1/{comp.scale} with bicubic to {comp.lr_size[0]}x{comp.lr_size[1]}, "
               f"upscaled x{comp.scale} back to {ow}x{oh}, compared with the original. PSNR/SSIM on luma "
               f"(BT.601) with {comp.scale} px of border shaved (higher = closer); LPIPS AlexNet v0.1 "
               "(lower = perceptually closer).")
    else:
        sub = (f"{esc(comp.name)}: low-resolution input {comp.lr_size[0]}x{comp.lr_size[1]} upscaled "
               f"x{comp.scale} to {ow}x{oh}. There is no original to compare with, so no reference metrics.")
    crop_line = (f"{'Auto-chosen detailed region' if comp.crop_auto else 'Requested region'}: "
                 f"{cw}x{ch} px at ({cx}, {cy}), enlarged with nearest-neighbour.")
    parts = [
        "<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{esc(title or 'Super-resolution comparison')}: {esc(comp.name)}</title>",
        f"<style>{_CSS}</style></head><body>",
        f"<h1>{esc(title or 'Super-resolution comparison')}</h1>", f'<p class="sub">{sub}</p>',
        "<h2>Metrics</h2>", table,
        slider,
        "<h2>Panels</h2>", f'<div class="grid" style="{cols}">{"".join(figs)}</div>',
        f"<h2>Zoomed crops</h2><p class=\"sub\">{esc(crop_line)}</p>",
        f'<div class="grid" style="{cols}">{"".join(crops)}</div>',
    ]
    if notes:
        parts.append('<h2>Notes</h2><ul class="notes">' + "".join(f"<li>{esc(t)}</li>" for t in notes) + "</ul>")
    if pair:
        parts.append(f"<script>{_JS}</script>")
    parts.append("</body></html>")
    return "\n".join(parts)


# ---------------------------------------------------------------------------------------------
# the animation page (superres animate --compare)
# ---------------------------------------------------------------------------------------------

#: media type of each file kind a compare page shows (for data: URIs)
_MEDIA_TYPES = {".gif": "image/gif", ".png": "image/png", ".apng": "image/apng", ".webp": "image/webp",
                ".mp4": "video/mp4", ".m4v": "video/mp4", ".mov": "video/quicktime", ".webm": "video/webm",
                ".mkv": "video/x-matroska"}

#: a compare page embeds its files (input, outputs) when together they are at most this many bytes
EMBED_LIMIT = 64 * 2**20


def compare_html(input_path: str | os.PathLike, outputs: list[tuple[str, str | os.PathLike]], *,
                 base: str | os.PathLike | None = None, width: int | None = None, title: str = "",
                 compare: str | os.PathLike | None = None, note: str = "",
                 embed_limit: int | None = EMBED_LIMIT) -> str:
    """HTML showing the input and each (label, output) at the same CSS width.

    The page is self-contained: the input and the outputs are embedded as
    ``data:`` URIs, so it can be moved or mailed on its own. When together they
    are larger than ``embed_limit`` bytes (browsers get slow on huge pages), the
    input is still embedded and files in the page's folder ``base`` (where the
    outputs are written) are linked by bare name, so the page works as long as
    it stays beside them. The input is enlarged by the browser with
    ``image-rendering: pixelated`` (nearest), so what differs is only what the
    upscaler added.
    """
    import base64

    base = Path(base) if base is not None else Path(".")
    files = [Path(input_path), *(Path(p) for _, p in outputs), *([Path(compare)] if compare is not None else [])]
    total = sum(f.stat().st_size for f in files if f.is_file())
    embed_all = embed_limit is None or total <= embed_limit

    def data_uri(p: Path) -> str:
        kind = _MEDIA_TYPES.get(p.suffix.lower(), "application/octet-stream")
        return f"data:{kind};base64," + base64.b64encode(p.read_bytes()).decode("ascii")

    def ref(p, is_input: bool = False) -> str:
        p = Path(p)
        if embed_all or (is_input and p.stat().st_size <= (embed_limit or 0)):
            return data_uri(p)
        if p.resolve().parent == base.resolve():
            return html.escape(p.name, quote=True)
        return html.escape(Path(os.path.relpath(p.resolve(), base.resolve())).as_posix(), quote=True)

    def media(p, cls: str = "", is_input: bool = False) -> str:
        src = ref(p, is_input)
        c = f' class="{cls}"' if cls else ""
        if Path(p).suffix.lower() in (".mp4", ".m4v", ".mov", ".webm", ".mkv"):
            return f'<video{c} src="{src}" autoplay loop muted playsinline controls></video>'
        return f'<img{c} src="{src}" alt="">'

    w = int(width or 640)
    name = html.escape(Path(input_path).name)
    figs = [f'<figure>{media(input_path, "px", is_input=True)}<figcaption>input: {name}</figcaption></figure>']
    for label, p in outputs:
        figs.append(f"<figure>{media(p)}<figcaption>{html.escape(label)}</figcaption></figure>")
    side = f'<h2>Side by side</h2>\n<p>{media(compare, "wide")}</p>\n' if compare is not None else ""
    t = html.escape(title or f"superres: {Path(input_path).name}")
    linked = "" if embed_all else (f" The outputs ({total / 2**20:.0f} MB together) are linked, not embedded: "
                                   "keep this page beside them.")
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{t}</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 16px; }}
.row {{ display: flex; flex-wrap: wrap; gap: 12px; }}
figure {{ margin: 0; }}
figure img, figure video {{ width: {w}px; height: auto; display: block; background: #eee; }}
.px {{ image-rendering: pixelated; }}
.wide {{ max-width: 100%; height: auto; }}
figcaption {{ font-size: 14px; padding: 4px 0; }}
</style></head><body>
<h1>{t}</h1>
<p>All animations are shown at the same CSS width ({w} px). {html.escape(note)}{linked}</p>
<div class="row">
{chr(10).join(figs)}
</div>
{side}</body></html>
"""


def write_compare_page(path: str | os.PathLike, input_path, outputs: list[tuple[str, str | os.PathLike]], *,
                       overwrite: bool = False, **kw) -> Path:
    """Write :func:`compare_html` to ``path`` atomically (never replacing a file without ``overwrite``)."""
    path = Path(path)
    if path.exists() and not overwrite:
        raise OutputError(f"{path} already exists; pass --overwrite to replace it, or choose another name")
    atomic_write_bytes(path, compare_html(input_path, outputs, base=path.parent, **kw).encode())
    return path
