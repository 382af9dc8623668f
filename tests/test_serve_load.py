"""A short run of benchmarks/serve_load.py: 3 clients with tiny images, one corrupt and one
oversize upload, a queue of 1: every request answered (upscaled, refused or "queue full"),
the server alive to the end and no file left in its TMPDIR."""

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

if importlib.util.find_spec("gradio") is None or importlib.util.find_spec("gradio_client") is None:
    pytest.skip("Gradio not installed (pip install 'superres[web]'): the load test drives a real server",
                allow_module_level=True)

ROOT = Path(__file__).resolve().parents[1]


def test_serve_load_short(tmp_path):
    out = tmp_path / "load.json"
    cmd = [sys.executable, str(ROOT / "benchmarks" / "serve_load.py"), "--model", "srcnn-x4", "--clients", "3",
           "--corrupt", "1", "--oversize", "1", "--megapixels", "0.003", "--max-upload-mb", "0.05",
           "--queue-size", "1", "--retries", "1", "--retry-wait", "2", "--timeout", "90", "--deadline", "150",
           "--out", str(out)]
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=240, env=env)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    res = json.loads(out.read_text())
    assert res["answered"] == res["requests"] == 5
    assert res["temp_files_left"] == [] and res["workspace_removed"] and res["server_alive_until_stop"]
    kinds = res["kinds"]
    assert kinds["oversize"]["outcomes"] == {"refused: over the size limit": 1}
    assert all(o.startswith(("refused", "busy")) for o in kinds["corrupt"]["outcomes"])
    assert set(kinds["photo"]["outcomes"]) <= {"upscaled", "busy: queue full, try again"}
    assert kinds["photo"]["outcomes"].get("upscaled", 0) >= 1
    assert all("try again" in m for m in res["busy_messages"])
    assert out.with_suffix(".md").read_text().startswith("# `superres serve` under load")
