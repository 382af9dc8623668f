"""The HTML report in a real browser: load it, move the before/after slider, check the screenshot changed.

Headless Chromium is driven over the DevTools protocol through
``--remote-debugging-pipe`` (JSON messages on file descriptors 3 and 4), so no
websocket or browser-automation package is needed. The test is skipped, with
the reason, when no Chromium/Chrome binary is installed (Debian: ``apt-get
install chromium``; ``SUPERRES_CHROMIUM=/path/to/chrome`` picks one).
"""

from __future__ import annotations

import base64
import io
import json
import os
import select
import shutil
import signal
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable", "chrome")


def find_browser() -> str | None:
    env = os.environ.get("SUPERRES_CHROMIUM")
    if env:
        return env if Path(env).is_file() else shutil.which(env)
    for name in BROWSERS:
        path = shutil.which(name)
        if path:
            return path
    return None


def _high_fd(fd: int) -> int:
    import fcntl

    high = fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 10)
    os.close(fd)
    return high


class CDP:
    """A minimal Chrome DevTools Protocol client over --remote-debugging-pipe."""

    def __init__(self, browser: str, profile: Path, width: int = 1100, height: int = 900) -> None:
        cmd_r, self._cmd_w = os.pipe()  # we write commands; the browser reads fd 3
        self._res_r, res_w = os.pipe()  # the browser writes fd 4; we read
        # move the browser's ends above 9 so the dup2s below cannot clobber each other
        cmd_r, res_w = _high_fd(cmd_r), _high_fd(res_w)
        args = [browser, "--headless", "--no-sandbox", "--disable-gpu", "--remote-debugging-pipe",
                "--no-first-run", "--no-default-browser-check", "--disable-extensions",
                "--disable-background-networking", "--disable-dev-shm-usage", "--hide-scrollbars",
                "--force-device-scale-factor=1", f"--window-size={width},{height}",
                f"--user-data-dir={profile}", "about:blank"]
        self.pid = os.posix_spawn(browser, args, os.environ, file_actions=[
            (os.POSIX_SPAWN_DUP2, cmd_r, 3), (os.POSIX_SPAWN_DUP2, res_w, 4),
            (os.POSIX_SPAWN_OPEN, 0, os.devnull, os.O_RDONLY, 0),
            (os.POSIX_SPAWN_OPEN, 1, os.devnull, os.O_WRONLY, 0),
            (os.POSIX_SPAWN_OPEN, 2, os.devnull, os.O_WRONLY, 0),
        ])
        os.close(cmd_r)
        os.close(res_w)
        self._buf = b""
        self._next = 0
        self.session: str | None = None

    def _read_message(self, deadline: float) -> dict:
        while b"\0" not in self._buf:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("no answer from the browser")
            ready, _, _ = select.select([self._res_r], [], [], left)
            if ready:
                chunk = os.read(self._res_r, 1 << 20)
                if not chunk:
                    raise RuntimeError("the browser closed the DevTools pipe")
                self._buf += chunk
        msg, self._buf = self._buf.split(b"\0", 1)
        return json.loads(msg)

    def send(self, method: str, params: dict | None = None, timeout: float = 15.0, session: bool = True) -> dict:
        self._next += 1
        msg = {"id": self._next, "method": method, "params": params or {}}
        if session and self.session:
            msg["sessionId"] = self.session
        os.write(self._cmd_w, json.dumps(msg).encode() + b"\0")
        deadline = time.monotonic() + timeout
        while True:
            reply = self._read_message(deadline)
            if reply.get("id") == self._next:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply.get("result", {})

    def open(self, url: str, width: int, height: int) -> None:
        target = self.send("Target.createTarget", {"url": "about:blank"}, session=False)["targetId"]
        self.session = self.send("Target.attachToTarget", {"targetId": target, "flatten": True},
                                 session=False)["sessionId"]
        self.send("Emulation.setDeviceMetricsOverride",
                  {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False})
        self.send("Page.enable")
        self.send("Page.navigate", {"url": url})
        deadline = time.monotonic() + 15
        while self.eval("document.readyState") != "complete":
            if time.monotonic() > deadline:
                raise TimeoutError(f"{url} did not finish loading")
            time.sleep(0.05)

    def eval(self, expression: str):
        r = self.send("Runtime.evaluate", {"expression": expression, "returnByValue": True})
        if "exceptionDetails" in r:
            raise RuntimeError(f"{expression}: {r['exceptionDetails']}")
        return r["result"].get("value")

    def mouse(self, kind: str, x: float, y: float, buttons: int = 1) -> None:
        self.send("Input.dispatchMouseEvent", {"type": kind, "x": x, "y": y, "button": "left",
                                               "buttons": buttons, "clickCount": 1})

    def drag(self, x0: float, y0: float, x1: float, y1: float, steps: int = 8) -> None:
        self.mouse("mouseMoved", x0, y0, buttons=0)
        self.mouse("mousePressed", x0, y0)
        for i in range(1, steps + 1):
            t = i / steps
            self.mouse("mouseMoved", x0 + (x1 - x0) * t, y0 + (y1 - y0) * t)
        self.mouse("mouseReleased", x1, y1, buttons=0)

    def screenshot(self, clip: dict) -> np.ndarray:
        data = self.send("Page.captureScreenshot", {"format": "png", "clip": {**clip, "scale": 1}})["data"]
        return np.asarray(Image.open(io.BytesIO(base64.b64decode(data))).convert("RGB")).astype(np.int16)

    def close(self) -> None:
        try:
            self.send("Browser.close", session=False, timeout=5)
        except Exception:  # noqa: BLE001 - the browser may already be gone
            pass
        deadline = time.monotonic() + 5
        while os.waitpid(self.pid, os.WNOHANG) == (0, 0):
            if time.monotonic() > deadline:
                os.kill(self.pid, signal.SIGKILL)
                os.waitpid(self.pid, 0)
                break
            time.sleep(0.05)
        os.close(self._cmd_w)
        os.close(self._res_r)


def start_browser(tmp_path_factory, *size: int) -> CDP:
    """A headless Chromium driven over CDP, or a skip saying why there is none (shared by the
    browser tests of this module and of tests/test_serve_browser.py)."""
    path = find_browser()
    if path is None:
        pytest.skip("no Chromium/Chrome installed (apt-get install chromium, or set SUPERRES_CHROMIUM)")
    cdp = CDP(path, tmp_path_factory.mktemp("chromium-profile"), *size)
    try:
        cdp.send("Browser.getVersion", session=False, timeout=30)
    except (TimeoutError, RuntimeError) as e:
        cdp.close()
        pytest.skip(f"{path} did not start in headless mode: {e}")
    return cdp


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    cdp = start_browser(tmp_path_factory)
    yield cdp
    cdp.close()


@pytest.fixture(scope="module")
def report(tmp_path_factory) -> Path:
    """An HR-mode report of a detailed synthetic image: bicubic vs a tiny random network."""
    from superres.compare import compare_hr, render_html
    from superres.models import SRResNet
    from superres.weights import save_weights

    import torch

    torch.manual_seed(0)
    d = tmp_path_factory.mktemp("report")
    net = save_weights(SRResNet(scale=4, channels=8, n_blocks=1), d / "tinygan.safetensors")
    yy, xx = np.mgrid[0:96, 0:128]
    hr = np.stack([(np.sin(xx / 3.0) * 120 + 128), (np.cos(yy / 2.5) * 120 + 128),
                   ((xx * yy) % 256)], axis=-1).clip(0, 255).astype(np.uint8)
    comp = compare_hr(hr, ["bicubic", str(net)], name="synthetic.png", lpips=False, device="cpu")
    left, right = comp.slider_pair()
    assert (left.key, right.key) == ("bicubic", str(net))
    path = d / "report.html"
    path.write_text(render_html(comp), encoding="utf-8")
    return path


def test_slider_moves_and_changes_the_picture(browser: CDP, report: Path) -> None:
    t0 = time.monotonic()
    browser.open(report.as_uri(), 1100, 900)
    assert browser.eval("document.images.length") >= 6  # slider (2) + panels (3) + crops (3)
    assert browser.eval("Array.from(document.images).every(i => i.complete && i.naturalWidth > 0)")
    browser.eval("document.getElementById('ba').scrollIntoView({block: 'start'})")
    box = browser.eval("(() => {const r = document.getElementById('ba').getBoundingClientRect();"
                       "return {x: r.left, y: r.top, width: r.width, height: r.height};})()")
    rng = browser.eval("(() => {const r = document.getElementById('ba-range').getBoundingClientRect();"
                       "return {x: r.left, y: r.top, width: r.width, height: r.height};})()")
    assert box["width"] > 100 and box["height"] > 50
    clip = {k: box[k] for k in ("x", "y", "width", "height")}
    assert browser.eval("document.getElementById('ba-range').value") == "50"
    before = browser.screenshot(clip)

    # drag the range thumb from the middle to 90 %
    ry = rng["y"] + rng["height"] / 2
    browser.drag(rng["x"] + rng["width"] / 2, ry, rng["x"] + rng["width"] * 0.9, ry)
    pos = float(browser.eval("document.getElementById('ba-range').value"))
    assert pos > 75, pos
    assert float(browser.eval("document.getElementById('ba').dataset.pos")) == pytest.approx(pos)
    after = browser.screenshot(clip)
    w = after.shape[1]
    # the band between 55 % and 75 % went from the right image (network) to the left one (bicubic)
    band = np.s_[:, int(w * 0.55):int(w * 0.75)]
    assert np.abs(after[band] - before[band]).mean() > 5
    # the outer left and right parts did not change
    assert np.abs(after[:, : int(w * 0.45)] - before[:, : int(w * 0.45)]).mean() < 1
    assert np.abs(after[:, int(w * 0.95):] - before[:, int(w * 0.95):]).mean() < 1

    # dragging on the picture itself moves the divide too
    cy = box["y"] + box["height"] / 2
    browser.drag(box["x"] + box["width"] * 0.8, cy, box["x"] + box["width"] * 0.1, cy)
    assert float(browser.eval("document.getElementById('ba-range').value")) < 20
    third = browser.screenshot(clip)
    assert np.abs(third[:, int(w * 0.2):int(w * 0.7)] - after[:, int(w * 0.2):int(w * 0.7)]).mean() > 5
    assert time.monotonic() - t0 < 20


def test_report_panels_share_one_display_width(browser: CDP, report: Path) -> None:
    browser.open(report.as_uri(), 1100, 900)
    widths = browser.eval("Array.from(document.querySelectorAll('.grid')[0].querySelectorAll('img'))"
                          ".map(i => Math.round(i.getBoundingClientRect().width))")
    assert len(widths) == 3 and len(set(widths)) == 1 and widths[0] > 100
    # no external resources: the report is self-contained
    assert browser.eval("Array.from(document.images).every(i => i.src.startsWith('data:image/png;base64,'))")
    assert browser.eval("document.querySelectorAll('link[rel=stylesheet], script[src]').length") == 0
