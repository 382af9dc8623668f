"""The Gradio page of ``superres serve`` and the server's life cycle.

The page has one upload box, the settings (model with its one-line
description, the GAN strength for models that have one, mode, output scale,
alpha, the "before" enlargement, the heat map)
and the results: a before/after slider, the heat map, the HR-mode figure with
its PSNR/SSIM/LPIPS table, the input and output animations at the same width,
and the download. The work itself is :mod:`superres.web.jobs`.

Gradio reads ``GRADIO_TEMP_DIR`` when it is imported, so :func:`serve` creates
the :class:`~superres.web.jobs.Workspace` and points that variable into it
before importing Gradio: every upload and result lands in one temporary folder,
removed when the server stops.
"""

from __future__ import annotations

import ipaddress
import os
import socket
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from ..errors import SuperResError
from .jobs import (
    ServeSettings,
    Workspace,
    animation_html,
    animation_job,
    check_upload,
    compare_job,
    model_choices,
    upscale_image_job,
)

__all__ = ["build_app", "serve", "run_job", "PageResult", "is_loopback", "pick_port", "GRADIO_HINT", "MODES"]

GRADIO_HINT = 'superres serve needs Gradio: pip install "superres[web]"'
#: the port tried first (Gradio's usual one), before any free port
PREFERRED_PORT = 7860
MODES = {"upscale": "Upscale this image", "hr": "Compare with the original (shrink 1/4, upscale back)"}

_CSS = """
#sr-status p { margin: 0.2em 0; }
.sr-anim img { max-width: 100%; }
"""


def import_gradio():
    try:
        import gradio as gr
    except ImportError:
        raise SuperResError(GRADIO_HINT) from None
    return gr


def is_loopback(host: str) -> bool:
    """True when ``host`` only accepts connections from this machine."""
    if host in ("localhost", "localhost.localdomain"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        pass
    try:  # a host name: loopback only if every address it resolves to is
        addrs = {a[4][0] for a in socket.getaddrinfo(host, None)}
    except OSError:
        return False
    return bool(addrs) and all(ipaddress.ip_address(a.split("%")[0]).is_loopback for a in addrs)


def pick_port(host: str, preferred: int = PREFERRED_PORT) -> int:
    """``preferred`` if it is free on ``host``, else a free port the system picks."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    for port in (preferred, 0):
        with socket.socket(family, socket.SOCK_STREAM) as s:
            try:
                s.bind((host, port))
            except OSError:
                continue
            return s.getsockname()[1]
    raise SuperResError(f"cannot bind to {host}: no free port (is the address one of this machine's?)")


def _file_url(path: Path) -> str:
    return f"/gradio_api/file={path}"


@dataclass
class PageResult:
    """What one press of **Upscale** shows: plain values, so it is tested without Gradio."""

    status: str  # Markdown: "**Done:** ..." with notes, or "**Error:** ..."
    ok: bool = False
    slider: tuple[str, str] | None = None  # (before, after) image paths
    slider_label: str = ""
    animation: str = ""  # HTML: input and output at the same width
    figure: str | None = None  # HR-mode figure
    table: str = ""  # HR-mode metrics, Markdown
    heatmap: str | None = None
    heatmap_label: str = ""
    download: str | None = None


def run_job(file: str | None, settings: ServeSettings, workspace: Workspace, *, model: str, hr: bool = False,
            outscale: float | None = None, alpha: str = "bicubic", before: str = "nearest",
            heatmap: bool = False, lpips: bool = True, strength: float | None = None, progress=None) -> PageResult:
    """Check the upload, run the right job and say what happened; never raises for a bad upload.

    ``strength`` is the GAN strength (0..1, as ``--strength``) for the models that have one; 1 (or
    None) is the model itself. The server works offline: it offers only what is installed or cached.
    """
    from ..catalogue import offline_mode

    name = Path(file).name if file else None
    try:
        choices = {c.name: c for c in model_choices()}
        if model not in choices:  # the page offers only these; a hand-made request may not
            raise SuperResError(f"model {model!r} is not one of this server's: {', '.join(choices)}")
        if strength is not None and not 0.0 <= float(strength) <= 1.0:
            raise SuperResError(f"GAN strength must be between 0 and 1, got {strength}")
        if strength is not None and (float(strength) == 1.0 or not choices[model].strength or hr):
            strength = None  # 1 is the model itself; models without a partner have no strength
        with offline_mode():
            return _run(file, name, settings, workspace, model=model, hr=hr, outscale=outscale, alpha=alpha,
                        before=before, heatmap=heatmap, lpips=lpips,
                        strength=None if strength is None else float(strength), progress=progress)
    except SuperResError as e:
        return PageResult(_error(str(e)))
    except MemoryError:
        return PageResult(_error("out of memory: try a smaller image, or start the server with --tile 128"))
    except (RuntimeError, ValueError, OSError) as e:  # unexpected: say so in the page, keep serving
        first = (str(e).strip().splitlines() or [type(e).__name__])[0]
        if file:
            first = first.replace(str(file), name or "")
        return PageResult(_error(f"{name or 'the upload'}: failed ({type(e).__name__}: {first})"))


def _run(file, name, settings: ServeSettings, workspace: Workspace, *, model: str, hr: bool, outscale, alpha: str,
         before: str, heatmap: bool, lpips: bool, strength: float | None, progress) -> PageResult:
    """The job behind :func:`run_job`, after its checks."""
    kind = check_upload(file, settings, name)
    job_dir = workspace.job_dir()
    if kind == "animation":
        job = animation_job(file, name, job_dir, settings, model=model, strength=strength,
                            progress=progress)
        r = PageResult(_status(f"**Done:** {job.summary()}", job.notes), animation=animation_html(
            _file_url(job.input), _file_url(job.download), job.in_size, job.out_size, job.model))
    elif hr:
        job = compare_job(file, name, job_dir, settings, model=model, lpips=lpips, heatmap=heatmap,
                          progress=progress)
        r = PageResult(_status(f"**Done:** {name} shrunk 1/4 and upscaled back, scored against the "
                               "original", job.notes), figure=str(job.figure), table=job.table_markdown())
        if job.before is not None:
            r.slider = (str(job.before), str(job.after))
            r.slider_label = f"{job.slider_labels[0]} | {job.slider_labels[1]} (drag to compare)"
    else:
        scale = float(outscale) if outscale else None
        job = upscale_image_job(file, name, job_dir, settings, model=model, outscale=scale, alpha=alpha,
                                before=before, heatmap=heatmap, strength=strength, progress=progress)
        r = PageResult(_status(f"**Done:** {job.summary()}", job.notes), slider=(str(job.before),
                       str(job.after)), slider_label=f"input ({before}) | {job.model} (drag to compare)")
    if getattr(job, "heatmap", None) is not None:
        r.heatmap, r.heatmap_label = str(job.heatmap), job.heatmap_label
    r.download, r.ok = str(job.download), True
    return r


def build_app(settings: ServeSettings, workspace: Workspace, *, model: str | None = None,
              concurrency: int = 1, queue_size: int = 16):
    """The Gradio Blocks app (not launched). ``model`` preselects a model in the picker."""
    gr = import_gradio()

    choices = model_choices()
    names = [c.name for c in choices]
    if model is not None and model not in names:
        raise SuperResError(f"--model {model}: not an installed model; choose one of {', '.join(names)}")
    default = model or names[0]
    has_strength = {c.name: c.strength for c in choices}

    def run(file, model_name, mode, outscale, alpha, before, heat, lpips, strength, progress=gr.Progress()):
        def report(what: str, done: int, total: int | None) -> None:
            if total:
                progress((done, total), desc=f"{what} {done}/{total}", unit=what)
            else:
                progress(None, desc=f"{what} {done}", unit=what)

        r = run_job(file, settings, workspace, model=model_name, hr=mode == MODES["hr"], outscale=outscale,
                    alpha=alpha, before=before, heatmap=bool(heat), lpips=bool(lpips),
                    strength=strength if has_strength.get(model_name) else None, progress=report)
        hidden = gr.update(visible=False, value=None)
        slider = gr.update(visible=True, value=r.slider, label=r.slider_label) if r.slider else hidden
        anim = gr.update(visible=True, value=r.animation) if r.animation else gr.update(visible=False, value="")
        figure = gr.update(visible=True, value=r.figure) if r.figure else hidden
        table = gr.update(visible=True, value=r.table) if r.table else gr.update(visible=False, value="")
        heat_u = gr.update(visible=True, value=r.heatmap, label=r.heatmap_label) if r.heatmap else hidden
        dl = gr.update(visible=True, value=r.download) if r.download else hidden
        return r.status, slider, anim, figure, table, heat_u, dl

    size = f"{settings.max_upload_mb:g} MB" if settings.max_upload_mb >= 1 else f"{settings.max_upload_mb * 1e3:g} kB"
    jobs = "one job at a time" if concurrency == 1 else f"{concurrency} jobs at a time"
    limits = f"Up to {size} and {settings.max_pixels / 1e6:g} megapixels per file; {jobs}"
    with gr.Blocks(title="superres", analytics_enabled=False) as demo:
        gr.Markdown("## superres: 4x super-resolution\nDrop an image (PNG, JPEG, WebP, TIFF; transparency "
                    "and 16 bits kept) or an animated GIF, WebP or APNG, then press **Upscale**. "
                    f"{limits}, the rest wait in a queue of {queue_size}.")
        with gr.Row():
            with gr.Column(scale=1, min_width=320):
                # no file_types filter: Gradio would drop another type silently; check_upload names it
                upload = gr.File(label="Image or animation", type="filepath", elem_id="sr-upload")
                model_dd = gr.Dropdown(choices=[(c.label, c.name) for c in choices], value=default,
                                       label="Model", elem_id="sr-model",
                                       info="installed models and cached third-party ones, with their "
                                            "one-line description")
                strength = gr.Slider(0, 1, value=1, step=0.05, label="GAN strength", elem_id="sr-strength",
                                     visible=has_strength.get(default, False),
                                     info="0 = the MSE-trained model (smooth, highest PSNR) .. 1 = the GAN "
                                          "(sharpest, may invent detail); as --strength")
                mode = gr.Radio(list(MODES.values()), value=MODES["upscale"], label="Mode", elem_id="sr-mode",
                                info="compare: your photo is the reference; scores PSNR, SSIM and LPIPS")
                outscale = gr.Number(value=4, minimum=0.25, maximum=16, step=0.5, label="Output scale",
                                     elem_id="sr-outscale",
                                     info="the model's own is 4; others resize its output (as --outscale)")
                alpha = gr.Radio(["bicubic", "model"], value="bicubic", label="Transparency (alpha)",
                                 info="upscale the alpha channel with bicubic or through the model")
                before = gr.Radio(["nearest", "bicubic"], value="nearest", label="Slider's 'before' side",
                                  info="the input enlarged to the output size with this")
                heat = gr.Checkbox(value=False, label="Show what the GAN added", elem_id="sr-heatbox",
                                   info="heat map of SRGAN vs SRResNet, as `superres compare --diff` "
                                        "(runs both models: slower)")
                lpips = gr.Checkbox(value=True, label="Score LPIPS too", visible=False, elem_id="sr-lpips",
                                    info="needs the AlexNet and LPIPS v0.1 weights (cached under TORCH_HOME)")
                go = gr.Button("Upscale", variant="primary", elem_id="sr-run")
            with gr.Column(scale=2):
                status = gr.Markdown("", elem_id="sr-status")
                slider = gr.ImageSlider(label="before | after", type="filepath", visible=False,
                                        elem_id="sr-slider", max_height=720)
                anim = gr.HTML("", visible=False, elem_id="sr-anim")
                figure = gr.Image(label="comparison figure", type="filepath", visible=False,
                                  elem_id="sr-figure", format="png")
                table = gr.Markdown("", visible=False, elem_id="sr-table")
                heatmap = gr.Image(label="what the GAN added", type="filepath", visible=False,
                                   elem_id="sr-heat", format="png")
                download = gr.File(label="Download", visible=False, elem_id="sr-download", interactive=False)
        def mode_changed(m, model_name):  # show the settings that apply to the chosen mode and model
            up = m != MODES["hr"]
            return (gr.update(visible=up), gr.update(visible=up), gr.update(visible=up), gr.update(visible=not up),
                    gr.update(visible=up and has_strength.get(model_name, False)))

        for control in (mode, model_dd):
            control.change(mode_changed, inputs=[mode, model_dd], outputs=[outscale, alpha, before, lpips, strength],
                           queue=False)
        go.click(run, inputs=[upload, model_dd, mode, outscale, alpha, before, heat, lpips, strength],
                 outputs=[status, slider, anim, figure, table, heatmap, download],
                 concurrency_limit=concurrency, show_progress="full")
    demo.queue(max_size=queue_size, default_concurrency_limit=concurrency)
    return demo


def _status(head: str, notes: list[str]) -> str:
    return "\n".join([head, *(f"- {n}" for n in notes)])


def _error(msg: str) -> str:
    return f"**Error:** {msg}"


def serve(settings: ServeSettings, *, host: str = "127.0.0.1", port: int | None = None,
          model: str | None = None, concurrency: int = 1, queue_size: int = 16,
          open_browser: bool = False, quiet: bool = False) -> int:
    """Run the app until interrupted (Ctrl+C or SIGTERM); the workspace is removed on the way out."""
    import signal

    if not is_loopback(host):
        print(f"superres serve: warning: listening on {host}, not this machine only: anyone who can "
              "reach it can use the app (there is no login); use --host 127.0.0.1 to keep it local",
              file=sys.stderr)
    if port is None:
        port = pick_port(host)
    elif pick_port(host, port) != port:
        raise SuperResError(f"port {port} on {host} is in use; choose another --port, or leave it out to get a "
                            "free one")
    ws = Workspace()
    saved_env = {k: os.environ.get(k) for k in ("GRADIO_TEMP_DIR", "GRADIO_ANALYTICS_ENABLED")}
    os.environ["GRADIO_TEMP_DIR"] = str(ws.uploads)  # read by Gradio at import: uploads land in ws
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

    def stop(signum, frame):  # SIGTERM cleans up like Ctrl+C
        raise KeyboardInterrupt

    old_term = signal.signal(signal.SIGTERM, stop)
    demo = None
    try:
        gr = import_gradio()
        demo = build_app(settings, ws, model=model, concurrency=concurrency, queue_size=queue_size)
        theme = gr.themes.Default(font=["system-ui", "sans-serif"], font_mono=["ui-monospace", "monospace"])
        demo.launch(server_name=host, server_port=port, prevent_thread_lock=True, quiet=True,
                    inbrowser=open_browser, max_file_size=int(settings.max_upload_mb * 1e6),
                    allowed_paths=[str(ws.root)], show_error=True, theme=theme, css=_CSS,
                    footer_links=[], ssr_mode=False)
        shown = "127.0.0.1" if host in ("0.0.0.0", "::") else host
        shown = f"[{shown}]" if ":" in shown else shown
        print(f"superres serve: running on http://{shown}:{port}/ (Ctrl+C to stop; files in {ws.root})",
              flush=True)
        while True:
            time.sleep(0.5)
    except KeyboardInterrupt:
        if not quiet:
            print("superres serve: stopping", file=sys.stderr)
    finally:
        signal.signal(signal.SIGTERM, old_term)
        if demo is not None:
            demo.close()
        ws.cleanup()
        for k, v in saved_env.items():  # serve() may run inside a longer-lived process (tests, notebooks)
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    return 0
