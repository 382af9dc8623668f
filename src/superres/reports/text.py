"""Numbers as text, and the tables of ``superres eval``: one formatting rule for every report.

A metric that could not be computed is shown as ``n/a``, never as a number.
"""

from __future__ import annotations

import math

__all__ = ["fmt_value", "short_lpips_note", "summary_rows", "format_table", "format_per_image", "markdown"]


def fmt_value(v: float | None, spec: str, unit: str = "") -> str:
    """``v`` formatted with ``spec`` (and ``unit``); ``n/a`` for None, ``inf`` for an infinite PSNR."""
    if v is None:
        return "n/a"
    if math.isinf(v):
        return "inf" + unit
    return format(v, spec) + unit


def short_lpips_note(note: str) -> str:
    """The reason part of an LPIPS message, without its long 'Fix:' hint."""
    head = note.split(" Fix:")[0]
    return head if len(head) <= 300 else head[:297] + "..."


# ---------------------------------------------------------------------------------------------
# superres eval: mean and per-image tables (terminal), the Markdown report
# ---------------------------------------------------------------------------------------------

def summary_rows(results) -> list[dict]:
    return [r.summary() for r in results]


def format_table(results, channel: str = "Y") -> str:
    """Mean results as an aligned terminal table."""
    head = ["dataset", "model", "images", f"PSNR-{channel}", f"SSIM-{channel}", "LPIPS", "s/image", "MP/s"]
    rows = []
    for s in summary_rows(results):
        rows.append([s["dataset"], s["model"], str(s["images"]), fmt_value(s["psnr"], ".2f"), fmt_value(s["ssim"], ".4f"),
                     fmt_value(s["lpips"], ".4f"), fmt_value(s["seconds_per_image"], ".3f"), fmt_value(s["mp_per_s"], ".2f")])
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(head)]
    fmt = lambda cells: "  ".join(c.ljust(w) if i < 2 else c.rjust(w)  # noqa: E731
                                  for i, (c, w) in enumerate(zip(cells, widths)))
    return "\n".join([fmt(head), fmt(["-" * w for w in widths])] + [fmt(r) for r in rows])


def format_per_image(results, channel: str = "Y") -> str:
    head = ["dataset", "model", "image", f"PSNR-{channel}", f"SSIM-{channel}", "LPIPS", "seconds"]
    rows = [[r.dataset, r.model, row["image"], fmt_value(row["psnr"], ".2f"), fmt_value(row["ssim"], ".4f"),
             fmt_value(row["lpips"], ".4f"), fmt_value(row["seconds"], ".3f")] for r in results for row in r.rows]
    widths = [max(len(h), *(len(x[i]) for x in rows)) if rows else len(h) for i, h in enumerate(head)]
    fmt = lambda cells: "  ".join(c.ljust(w) if i < 3 else c.rjust(w)  # noqa: E731
                                  for i, (c, w) in enumerate(zip(cells, widths)))
    return "\n".join([fmt(head), fmt(["-" * w for w in widths])] + [fmt(x) for x in rows])


def markdown(results, meta: dict) -> str:
    ch = meta.get("channel", "Y")
    lines = ["# superres eval", ""]
    if meta.get("command"):
        lines += [f"`{meta['command']}`", ""]
    scales = sorted({r.scale for r in results})
    shave = (f"{scales[0]} px" if len(scales) == 1 else
             "as many pixels as each model's scale (" + ", ".join(f"{x} px" for x in scales) + ")")
    lines += [f"PSNR/SSIM on {'luma (Y, BT.601)' if ch == 'Y' else 'RGB'}, 8-bit output, {shave} of border "
              "shaved; LPIPS AlexNet v0.1 (lower is better); time = model inference per image.", ""]
    lines += [f"| dataset | model | images | PSNR-{ch} (dB) | SSIM-{ch} | LPIPS | s/image | MP/s |",
              "|---|---|---:|---:|---:|---:|---:|---:|"]
    for s in summary_rows(results):
        lines.append(f"| {s['dataset']} | {s['model']} | {s['images']} | {fmt_value(s['psnr'], '.2f')} | "
                     f"{fmt_value(s['ssim'], '.4f')} | {fmt_value(s['lpips'], '.4f')} | {fmt_value(s['seconds_per_image'], '.3f')} | "
                     f"{fmt_value(s['mp_per_s'], '.2f')} |")
    notes = list(meta.get("skipped", []))
    if meta.get("lpips_note"):
        notes.append(meta["lpips_note"].split(" Fix:")[0])
    for r in results:
        notes += [f"{r.dataset} {r.model}: {n}" for n in r.notes]
    if notes:
        lines += [""] + [f"- {n}" for n in notes]
    datasets = list(dict.fromkeys(r.dataset for r in results))
    for ds in datasets:
        rs = [r for r in results if r.dataset == ds]
        lines += ["", f"## {ds}: per image (PSNR-{ch} / SSIM-{ch} / LPIPS)", "",
                  "| image | " + " | ".join(r.model for r in rs) + " |",
                  "|---|" + "---:|" * len(rs)]
        images = list(dict.fromkeys(row["image"] for r in rs for row in r.rows))
        by = {(r.model, row["image"]): row for r in rs for row in r.rows}
        for im in images:
            cells = []
            for r in rs:
                row = by.get((r.model, im))
                cells.append("" if row is None else
                             f"{fmt_value(row['psnr'], '.2f')} / {fmt_value(row['ssim'], '.4f')} / {fmt_value(row['lpips'], '.3f')}")
            lines.append(f"| {im} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"
