"""``superres serve`` end to end: the real command, a real headless Chromium, uploads through the page.

The server runs as ``python -m superres serve`` in a subprocess with its own
TMPDIR; Chromium is driven over the DevTools protocol with the small client of
``test_html_browser.py``. The test uploads a small image (Chelsea the cat from
``examples/images``, shrunk 1/4, or a synthetic pattern without it), waits for
the result, checks the slider and the download link, downloads the file through
the browser and checks it is 4x the input; then an over-limit upload, a corrupt
file and a text file (errors in the page) and an animated GIF (the server still serves, input and
output at the same width). Stopping the server must remove its folder.

Skipped, with the reason, without Gradio (``pip install "superres[web]"``) or
Chromium. ``SUPERRES_SCREENSHOTS=DIR`` also runs a server at the default limits
and saves the page with the image, with the GIF and in compare mode there (the
README's screenshots: ``SUPERRES_SCREENSHOTS=docs/images``).
"""

from __future__ import annotations

import base64
import importlib.util
import os
import re
import select
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from test_html_browser import CDP, start_browser

if importlib.util.find_spec("gradio") is None:  # not imported here: Gradio writes to its temp folder on import
    pytest.skip("Gradio not installed (pip install 'superres[web]')", allow_module_level=True)

ROOT = Path(__file__).resolve().parents[1]
UPLOAD_LIMIT_MB = 0.05  # 50 kB: the test image and GIF fit, the noise PNG does not


def small_inputs(d: Path) -> tuple[Path, Path, Path, Path]:
    """(image, animated GIF, corrupt PNG, over-limit PNG)."""
    cat = ROOT / "examples" / "images" / "chelsea.png"
    if cat.is_file():
        im = Image.open(cat).convert("RGB")
        lr = im.resize((im.width // 4, im.height // 4), Image.BICUBIC)  # 112x75
    else:
        yy, xx = np.mgrid[0:75, 0:112]
        lr = Image.fromarray(np.stack([(np.sin(xx / 3.0) * 120 + 128), (np.cos(yy / 2.5) * 120 + 128),
                                       ((xx * yy) % 256)], -1).clip(0, 255).astype(np.uint8))
    image = d / "chelsea_small.png"
    lr.save(image)
    frames = [lr.crop((x, 14, x + 64, 62)) for x in range(0, 48, 8)]
    anim = d / "chelsea_pan.gif"
    frames[0].save(anim, save_all=True, append_images=frames[1:], duration=150, loop=0)
    bad = d / "broken.png"
    bad.write_bytes(image.read_bytes()[:16] + os.urandom(400))
    noise = d / "noise.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (120, 160, 3), dtype=np.uint8)).save(noise)
    assert image.stat().st_size < UPLOAD_LIMIT_MB * 1e6 and anim.stat().st_size < UPLOAD_LIMIT_MB * 1e6
    assert noise.stat().st_size > UPLOAD_LIMIT_MB * 1e6
    return image, anim, bad, noise


def start_server(tmp_path_factory, *args: str) -> dict:
    """``python -m superres serve ARGS`` in a subprocess with its own TMPDIR and an empty catalogue cache."""
    tmp = tmp_path_factory.mktemp("serve-tmp")  # the server's TMPDIR: its workspace goes here
    log = tmp_path_factory.mktemp("serve-log") / "stderr.txt"
    src = str(ROOT / "src")
    env = {**os.environ, "TMPDIR": str(tmp), "SUPERRES_HOME": str(tmp_path_factory.mktemp("serve-home")),
           "PYTHONPATH": src + (os.pathsep + os.environ["PYTHONPATH"] if os.environ.get("PYTHONPATH") else "")}
    with open(log, "w") as err:
        proc = subprocess.Popen([sys.executable, "-m", "superres", "serve", "--device", "cpu", *args],
                                stdout=subprocess.PIPE, stderr=err, text=True, env=env)
    line, deadline = "", time.monotonic() + 120  # importing Gradio takes a while on a busy machine
    while "running on" not in line:
        left = deadline - time.monotonic()
        if left <= 0 or proc.poll() is not None:
            proc.kill()
            pytest.fail(f"superres serve did not start: {line!r}\n{log.read_text()[-2000:]}")
        if select.select([proc.stdout], [], [], left)[0]:
            line = proc.stdout.readline()
    m = re.search(r"running on (http://127\.0\.0\.1:(\d+)/) \(Ctrl\+C to stop; files in (.+)\)", line)
    assert m, line
    info = {"url": m.group(1), "workspace": Path(m.group(3)), "tmp": tmp, "proc": proc, "log": log}
    assert info["workspace"].parent == tmp
    return info


def stop_server(info: dict) -> None:
    if info["proc"].poll() is None:
        info["proc"].kill()
        info["proc"].wait()


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    info = start_server(tmp_path_factory, "--max-upload-mb", str(UPLOAD_LIMIT_MB))  # a tiny limit, to hit it
    yield info
    stop_server(info)


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    cdp = start_browser(tmp_path_factory, 1280, 1000)
    yield cdp
    cdp.close()


def wait_for(browser: CDP, expr: str, timeout: float = 60, what: str = ""):
    deadline = time.monotonic() + timeout
    while True:
        v = browser.eval(expr)
        if v:
            return v
        if time.monotonic() > deadline:
            raise TimeoutError(f"waited {timeout:.0f} s for {what or expr}")
        time.sleep(0.2)


def fresh_page(browser: CDP, url: str) -> None:
    if browser.session is None:
        browser.open(url, 1280, 1000)
    else:
        browser.send("Page.navigate", {"url": url})
        time.sleep(0.3)
    wait_for(browser, "!!document.querySelector('#sr-upload input[type=file]')", 30, "the upload box")


def upload(browser: CDP, path: Path) -> None:
    root = browser.send("DOM.getDocument", {"depth": 0})["root"]["nodeId"]
    node = browser.send("DOM.querySelector", {"nodeId": root, "selector": "#sr-upload input[type=file]"})["nodeId"]
    browser.send("DOM.setFileInputFiles", {"files": [str(path)], "nodeId": node})


def run_and_wait(browser: CDP, path: Path) -> str:
    upload(browser, path)
    wait_for(browser, f"document.querySelector('#sr-upload').innerText.includes({path.stem!r})", 30,
             f"{path.name} to upload")
    browser.eval("document.querySelector('#sr-run').click()")
    # the status box may still hold the progress overlay's text above the message for a moment
    return wait_for(browser, "(() => { const m = document.querySelector('#sr-status').innerText"
                             ".match(/(Done|Error):[\\s\\S]*/); return m ? m[0] : ''; })()", 120, "the result")


def download(browser: CDP, selector: str, folder: Path) -> Path:
    """Click the download link like a user and return the file the browser saved."""
    folder.mkdir(exist_ok=True)
    browser.send("Browser.setDownloadBehavior", {"behavior": "allow", "downloadPath": str(folder)},
                 session=False)
    name = browser.eval(f"document.querySelector({selector!r}).closest('tr').querySelector('.filename')"
                        ".getAttribute('aria-label')")
    browser.eval(f"document.querySelector({selector!r}).click()")
    target = folder / name
    deadline = time.monotonic() + 30
    while not (target.is_file() and target.stat().st_size > 0):
        if time.monotonic() > deadline:
            raise TimeoutError(f"the browser did not save {name} (folder: {sorted(folder.iterdir())})")
        time.sleep(0.2)
    time.sleep(0.3)  # let the browser finish the rename
    return target


def screenshot(browser: CDP, name: str) -> None:
    folder = os.environ.get("SUPERRES_SCREENSHOTS")
    if not folder:
        return
    browser.eval("window.scrollTo(0, 0)")
    h = browser.eval("Math.min(document.documentElement.scrollHeight, 1500)")
    data = browser.send("Page.captureScreenshot", {"format": "png",
                                                   "captureBeyondViewport": True,
                                                   "clip": {"x": 0, "y": 0, "width": 1280, "height": h,
                                                            "scale": 1}})["data"]
    Path(folder).mkdir(parents=True, exist_ok=True)
    (Path(folder) / name).write_bytes(base64.b64decode(data))


def test_serve_in_a_browser(server, browser, tmp_path):
    image, anim, bad, noise = small_inputs(tmp_path)
    notes = tmp_path / "notes.txt"
    notes.write_text("not a picture\n")
    w, h = Image.open(image).size

    # 1. an image: slider, download link, and the downloaded file is 4x the input
    fresh_page(browser, server["url"])
    wait_for(browser, "!!document.querySelector('#sr-heatbox input')", 30, "the heat map box")
    browser.eval("document.querySelector('#sr-heatbox input').click()")  # and "what the GAN added"
    status = run_and_wait(browser, image)
    assert status.startswith("Done:") and f"{w}x{h} -> {4 * w}x{4 * h}" in status, status
    imgs = wait_for(browser, "(() => { const a = Array.from(document.querySelectorAll('#sr-slider img'));"
                             " return a.length >= 2 && a.every(i => i.complete && i.naturalWidth > 0)"
                             " ? a.map(i => [i.naturalWidth, i.naturalHeight]) : null; })()", 30, "the slider")
    assert imgs[:2] == [[4 * w, 4 * h], [4 * w, 4 * h]]  # before and after, at the output size
    if "'what the GAN added' compares" not in status:  # srgan-x4 and srresnet-x4 installed: the heat map
        heat = wait_for(browser, "(() => { const i = document.querySelector('#sr-heat img');"
                                 " return i && i.complete && i.naturalWidth > 0 ? i.naturalWidth : 0; })()",
                        30, "the heat map")
        assert heat == 4 * w
    assert browser.eval("!!document.querySelector('#sr-download a.download-link')")
    got = download(browser, "#sr-download a.download-link", tmp_path / "downloads")
    assert got.name == f"{image.stem}_x4.png"  # the CLI's name
    with Image.open(got) as out:
        assert out.size == (4 * w, 4 * h)

    # 2. an upload over --max-upload-mb: the page says so
    fresh_page(browser, server["url"])
    upload(browser, noise)
    toast = wait_for(browser, "(() => { const t = document.body.innerText;"
                              " return t.includes('exceed the maximum allowed size') ? t : ''; })()", 20,
                     "the upload-limit message")
    assert "noise.png" in toast

    # 3. a corrupt file: a clear error in the page ...
    fresh_page(browser, server["url"])
    status = run_and_wait(browser, bad)
    assert status.startswith("Error: broken.png:") and "damaged" in status, status
    assert not browser.eval("!!document.querySelector('#sr-download a.download-link')")

    # an unsupported type: named in the page
    fresh_page(browser, server["url"])
    status = run_and_wait(browser, notes)
    assert status.startswith("Error: notes.txt: unsupported file type .txt; drop a PNG, JPEG"), status

    # ... and the server still serves the next request: an animated GIF, in and out at one width
    fresh_page(browser, server["url"])
    status = run_and_wait(browser, anim)
    assert status.startswith("Done: 6 frames, 64x48 -> 256x192"), status
    widths = wait_for(browser, "(() => { const a = Array.from(document.querySelectorAll('.sr-anim img'));"
                               " return a.length == 2 && a.every(i => i.complete && i.naturalWidth > 0)"
                               " ? a.map(i => [Math.round(i.getBoundingClientRect().width), i.naturalWidth])"
                               " : null; })()", 30, "the animations")
    assert widths == [[256, 64], [256, 256]]  # same width on the page; the input enlarged 4x
    gif = download(browser, "#sr-download a.download-link", tmp_path / "downloads")
    assert gif.name == "chelsea_pan_x4.gif"
    with Image.open(gif) as g:
        assert g.size == (256, 192) and g.n_frames == 6

    # 4. HR mode: shrink 1/4, upscale back, the figure and the PSNR/SSIM table (LPIPS off: no weights here)
    fresh_page(browser, server["url"])
    browser.eval("Array.from(document.querySelectorAll('#sr-mode label')).find(l => l.innerText.includes("
                 "'Compare with the original')).click()")
    wait_for(browser, "!!document.querySelector('#sr-lpips input')", 10, "the LPIPS box")
    browser.eval("document.querySelector('#sr-lpips input').click()")
    status = run_and_wait(browser, image)
    assert status.startswith(f"Done: {image.name} shrunk 1/4"), status
    table = wait_for(browser, "(() => { const t = document.querySelector('#sr-table');"
                              " return t ? t.innerText : ''; })()", 30, "the metrics table")
    assert "PSNR-Y" in table and "Bicubic" in table
    fig = wait_for(browser, "(() => { const i = document.querySelector('#sr-figure img');"
                            " return i && i.complete && i.naturalWidth > 0 ? i.naturalWidth : 0; })()",
                   30, "the figure")
    assert fig > 3 * (w - w % 4)  # three panels: bicubic, the model, the original
    got = download(browser, "#sr-download a.download-link", tmp_path / "downloads")
    assert got.name == f"{image.stem}_compare.png"

    # stopping the server removes its folder and leaves nothing in its TMPDIR
    proc = server["proc"]
    assert server["workspace"].is_dir()
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=30) == 0, server["log"].read_text()[-2000:]
    assert not server["workspace"].exists()
    assert list(server["tmp"].iterdir()) == []


def has_gan_pair() -> bool:
    from superres.registry import get_entry

    return get_entry("srgan-x4").available() and get_entry("srresnet-x4").available()


def test_readme_screenshots_at_default_limits(tmp_path_factory, browser, tmp_path):
    """The README's pictures of the page, from a server started as a user starts it (default limits)."""
    if not os.environ.get("SUPERRES_SCREENSHOTS"):
        pytest.skip("set SUPERRES_SCREENSHOTS=DIR to save the README's screenshots there")
    image, anim, _, _ = small_inputs(tmp_path)
    info = start_server(tmp_path_factory)
    try:
        fresh_page(browser, info["url"])
        assert "Up to 50 MB" in browser.eval("document.body.innerText")  # the defaults, not a test's limit
        wait_for(browser, "!!document.querySelector('#sr-heatbox input')", 30, "the heat map box")
        assert browser.eval("!!document.querySelector('#sr-strength')") == has_gan_pair()  # the GAN strength slider
        browser.eval("document.querySelector('#sr-heatbox input').click()")
        assert run_and_wait(browser, image).startswith("Done:")
        wait_for(browser, "(() => { const a = Array.from(document.querySelectorAll('#sr-slider img'));"
                          " return a.length >= 2 && a.every(i => i.complete && i.naturalWidth > 0); })()", 30,
                 "the slider")
        screenshot(browser, "serve_image.png")
        fresh_page(browser, info["url"])
        assert run_and_wait(browser, anim).startswith("Done:")
        wait_for(browser, "(() => { const a = Array.from(document.querySelectorAll('.sr-anim img'));"
                          " return a.length == 2 && a.every(i => i.complete && i.naturalWidth > 0); })()", 30,
                 "the animations")
        screenshot(browser, "serve_gif.png")
    finally:
        stop_server(info)
