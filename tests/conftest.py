import http.server
import importlib.util
import os
import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import torch

# Tests run on CPU with tiny models; keep them deterministic and light.
torch.set_num_threads(min(2, os.cpu_count() or 1))

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture
def load_script(monkeypatch):
    """``load_script("benchmarks/run.py")``: a script of the repository (benchmarks/, docs/, scripts/),
    imported by path as a module of its own; its folder is on sys.path for the test, so the script's
    imports of its siblings (``from real_photos import ...``) work."""
    def load(relative: str):
        path = REPO / relative
        monkeypatch.syspath_prepend(str(path.parent))
        spec = importlib.util.spec_from_file_location(f"script_{path.parent.name}_{path.stem}", path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module
    return load


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


@pytest.fixture
def tiny_srresnet():
    from superres.models import SRResNet

    return SRResNet(scale=4, channels=8, n_blocks=1).eval()


# --- a local HTTP server (127.0.0.1 only) for download tests ---------------------------------------

@dataclass
class Server:
    url: str
    root: Path
    ranges: list[str | None] = field(default_factory=list)  # Range header of each GET
    honour_range: bool = True
    cut_after: int | None = None  # the next GET sends only this many body bytes, then drops the connection


class _Handler(http.server.BaseHTTPRequestHandler):
    server_state: Server  # set on a per-server subclass

    def log_message(self, format: str, *args: object) -> None:  # keep test output quiet
        pass

    def do_GET(self) -> None:
        state = self.server_state
        state.ranges.append(self.headers.get("Range"))
        rel = self.path.lstrip("/")
        path = state.root / rel
        if ".." in rel.split("/") or not path.is_file():
            self.send_error(404)
            return
        data = path.read_bytes()
        rng = self.headers.get("Range")
        m = re.fullmatch(r"bytes=(\d+)-", rng or "")
        if m and state.honour_range:
            start = int(m.group(1))
            if start >= len(data):
                self.send_response(416)
                self.send_header("Content-Range", f"bytes */{len(data)}")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            body = data[start:]
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        else:
            body = data
            self.send_response(200)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Accept-Ranges", "bytes" if state.honour_range else "none")
        self.end_headers()
        if state.cut_after is not None:  # an interrupted transfer
            body, state.cut_after = body[:state.cut_after], None
            self.wfile.write(body)
            self.wfile.flush()
            self.close_connection = True
            return
        self.wfile.write(body)



@pytest.fixture
def http_server() -> Iterator:
    """Factory: ``http_server(folder)`` serves ``folder`` on 127.0.0.1 (an ephemeral port) in a thread,
    honouring ``Range: bytes=N-``; every request's Range header is recorded in ``.ranges``."""
    servers = []

    def start(root: Path) -> Server:
        state = Server(url="", root=Path(root))
        handler = type("Handler", (_Handler,), {"server_state": state})
        httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        state.url = f"http://127.0.0.1:{httpd.server_address[1]}"
        thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
        thread.start()
        servers.append((httpd, thread))
        return state

    yield start
    for httpd, thread in servers:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=5)
