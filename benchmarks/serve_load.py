"""Load test of ``superres serve`` on 127.0.0.1 (issue 24).

Starts ``python -m superres serve`` in a subprocess with its own TMPDIR, then sends, all at once
(one thread each, through ``gradio_client``, as the page's Upscale button does):

* ``--clients`` uploads of a photo of about ``--megapixels`` MP (a training photo resized, JPEG);
* ``--corrupt`` corrupt uploads (a PNG header followed by noise);
* ``--oversize`` uploads over the server's ``--max-upload-mb`` limit.

A client told "queue is full" waits ``--retry-wait`` s and tries again, at most ``--retries``
times (what a person would do with "busy, try again"). Bounded: every request has a timeout,
the whole run a deadline (``--deadline``); then the server gets SIGTERM and the run checks
that its TMPDIR is empty (temp files left). Reports per kind: outcomes, latency p50/p95
(submission to answer, retries included), the "queue full" answers, the server's peak RSS
(VmHWM). Writes ``--out`` (.json) and a Markdown table beside it (.md).

Needs Gradio (``pip install 'superres[web]'``). Timed: pause background jobs for the run::

    PYTHONPATH=src /work/venv-web/bin/python benchmarks/serve_load.py --model srgan-x4-fast
"""

from __future__ import annotations

import argparse
import json
import os
import re
import select
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
MODE = "Upscale this image"  # superres.web.app.MODES["upscale"]


def make_inputs(d: Path, megapixels: float, corrupt: int, oversize_mb: float) -> dict[str, Path]:
    photos = sorted((ROOT.parent / "shared" / "data" / "train-hr").glob("*.jpg"))
    if photos:
        im = Image.open(photos[0]).convert("RGB")
    else:  # no shared data: a synthetic photo-like image
        yy, xx = np.mgrid[0:800, 0:1200]
        im = Image.fromarray(np.stack([np.sin(xx / 9.0) * 100 + 128, np.cos(yy / 7.0) * 100 + 128,
                                       (xx * yy) % 256], -1).clip(0, 255).astype(np.uint8))
    f = (megapixels * 1e6 / (im.width * im.height)) ** 0.5
    im = im.resize((max(8, round(im.width * f)), max(8, round(im.height * f))), Image.BICUBIC)
    photo = d / "photo.jpg"
    im.save(photo, quality=90)
    out = {"photo": photo}
    for i in range(corrupt):
        bad = d / f"corrupt{i}.png"
        bad.write_bytes(b"\x89PNG\r\n\x1a\n" + np.random.default_rng(i).bytes(2000))
        out[f"corrupt{i}"] = bad
    big = d / "oversize.png"  # noise does not compress: a PNG of the wanted byte size
    side = int((oversize_mb * 1.3e6 / 3) ** 0.5) + 1
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (side, side, 3), dtype=np.uint8)).save(big)
    out["oversize"] = big
    return out


def start_server(tmp: Path, args: list[str], timeout: float = 180) -> tuple[subprocess.Popen, str, Path]:
    env = {**os.environ, "TMPDIR": str(tmp), "GRADIO_ANALYTICS_ENABLED": "False"}
    proc = subprocess.Popen([sys.executable, "-m", "superres", "serve", "--device", "cpu", *args],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env)
    line, deadline = "", time.monotonic() + timeout
    while "running on" not in line:
        left = deadline - time.monotonic()
        if left <= 0 or proc.poll() is not None:
            proc.kill()
            raise SystemExit(f"superres serve did not start: {line!r}")
        if select.select([proc.stdout], [], [], left)[0]:
            line = proc.stdout.readline()
    m = re.search(r"running on (http://\S+/) \(Ctrl\+C to stop; files in (.+)\)", line)
    return proc, m.group(1), Path(m.group(2))


def peak_rss_mb(pid: int) -> float | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def classify(status: str) -> str:
    if status.startswith("**Done:**"):
        return "upscaled"
    if "upload limit" in status or "too large" in status.lower():
        return "refused: over the size limit"
    return "refused: " + re.sub(r"^\*\*Error:\*\* ", "", status).split(":")[-1].strip()[:60]


def one_request(url: str, kind: str, path: Path, model: str, timeout: float, retries: int, retry_wait: float,
                deadline: float, record: list) -> None:
    from gradio_client import Client, handle_file

    t0 = time.monotonic()
    busy = 0
    outcome, message = "no answer", ""
    if kind == "oversize":  # straight to the server's upload route: gradio_client would refuse it itself
        import httpx

        with open(path, "rb") as f:
            r = httpx.post(url + "gradio_api/upload", files={"files": (path.name, f)}, timeout=timeout)
        outcome = "refused: over the size limit" if r.status_code == 413 else f"HTTP {r.status_code}"
        record.append({"kind": kind, "outcome": outcome, "seconds": time.monotonic() - t0, "busy_answers": 0,
                       "message": f"HTTP {r.status_code}: {r.text[:120]}"})
        return
    for attempt in range(retries + 1):
        try:
            client = Client(url, verbose=False, download_files=False)
            job = client.submit(handle_file(str(path)), model, MODE, 4, "bicubic", "nearest", False, False, 1,
                                api_name="/run")
            result = job.result(timeout=max(1.0, min(timeout, deadline - time.monotonic())))
            message = str(result[0])
            outcome = classify(message)
        except Exception as e:  # the client's own error types: recorded as the outcome, never hidden
            message = f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}"
            low = message.lower()
            if "queue is full" in low:
                busy += 1
                outcome = "busy: queue full, try again"
                if attempt < retries and time.monotonic() + retry_wait < deadline:
                    time.sleep(retry_wait)
                    continue
            elif "413" in low or "too large" in low or "file size" in low or "max_file_size" in low:
                outcome = "refused: over the size limit"
            elif "timeout" in low or "timed out" in low:
                outcome = "no answer (timeout)"
            else:
                outcome = "client error"
        break
    record.append({"kind": kind, "outcome": outcome, "seconds": time.monotonic() - t0, "busy_answers": busy,
                   "message": message[:160]})


def pct(values: list[float], q: float) -> float | None:
    if not values:
        return None
    v = sorted(values)
    return v[min(len(v) - 1, round(q * (len(v) - 1)))]


def run_load(ns) -> dict:
    work = Path(tempfile.mkdtemp(prefix="serve-load-"))
    inputs, srv_tmp = work / "inputs", work / "server-tmp"
    inputs.mkdir()
    srv_tmp.mkdir()
    files = make_inputs(inputs, ns.megapixels, ns.corrupt, ns.max_upload_mb * 1.5)
    proc, url, workspace = start_server(srv_tmp, ["--model", ns.model, "--max-upload-mb", str(ns.max_upload_mb),
                                                  "--queue-size", str(ns.queue_size), "--precision", ns.precision,
                                                  "-q"])
    t_start = time.monotonic()
    deadline = t_start + ns.deadline
    jobs = ([("photo", files["photo"])] * ns.clients + [("corrupt", files[f"corrupt{i}"]) for i in range(ns.corrupt)]
            + [("oversize", files["oversize"])] * ns.oversize)
    order = np.random.default_rng(0).permutation(len(jobs))  # kinds mixed in
    record: list[dict] = []
    threads = [threading.Thread(target=one_request, daemon=True,
                                args=(url, *jobs[i], ns.model, ns.timeout, ns.retries, ns.retry_wait, deadline,
                                      record)) for i in order]
    for t in threads:
        t.start()
    for t in threads:
        t.join(max(0.0, deadline - time.monotonic()) + 5)
    wall = time.monotonic() - t_start
    rss = peak_rss_mb(proc.pid)
    alive_before_stop = proc.poll() is None
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(30)
        stopped = "SIGTERM"
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        stopped = "killed after 30 s"
    left = [str(p.relative_to(srv_tmp)) for p in srv_tmp.rglob("*")]
    unanswered = len(jobs) - len(record)
    kinds = {}
    for kind in ("photo", "corrupt", "oversize"):
        rows = [r for r in record if r["kind"] == kind]
        outcomes: dict[str, int] = {}
        for r in rows:
            outcomes[r["outcome"]] = outcomes.get(r["outcome"], 0) + 1
        secs = [r["seconds"] for r in rows if r["outcome"] in ("upscaled",) or r["outcome"].startswith("refused")]
        kinds[kind] = {"sent": sum(1 for j in jobs if j[0] == kind), "answered": len(rows), "outcomes": outcomes,
                       "busy_answers": sum(r["busy_answers"] for r in rows),
                       "p50_s": pct(secs, 0.5), "p95_s": pct(secs, 0.95)}
    for t in threads:
        t.join(0)
    import shutil

    shutil.rmtree(work, ignore_errors=True)
    return {"settings": {k: v for k, v in vars(ns).items() if k != "out"}, "url": url, "wall_s": wall,
            "requests": len(jobs), "answered": len(record), "unanswered_threads": unanswered,
            "server_alive_until_stop": alive_before_stop, "server_stopped_by": stopped,
            "server_peak_rss_mb": rss, "temp_files_left": left, "workspace_removed": not workspace.exists(),
            "kinds": kinds, "busy_messages": sorted({r["message"] for r in record
                                                      if r["outcome"].startswith("busy")}),
            "refusal_messages": sorted({r["message"] for r in record if r["outcome"].startswith("refused")})[:6],
            "photo_megapixels": ns.megapixels}


def to_markdown(res: dict) -> str:
    s = res["settings"]
    lines = [f"# `superres serve` under load ({res['date']})", "",
             f"Command: `{res['command']}`; {res.get('conditions', '')}",
             f"Server: `superres serve --model {s['model']} --precision {s['precision']} --max-upload-mb "
             f"{s['max_upload_mb']} --queue-size {s['queue_size']}` (one job at a time) on 127.0.0.1; "
             f"CPU: {res.get('cpu', '?')}.",
             f"Sent at once: {s['clients']} photos of {s['megapixels']} MP (JPEG), {s['corrupt']} corrupt "
             f"uploads, {s['oversize']} over the size limit; a client told \"queue full\" retries after "
             f"{s['retry_wait']} s, at most {s['retries']} times; deadline {s['deadline']} s.", "",
             "| kind | sent | answered | outcomes | 'queue full' answers | p50 s | p95 s |",
             "|---|---|---|---|---|---|---|"]
    for kind, k in res["kinds"].items():
        outs = ", ".join(f"{n} {o}" for o, n in sorted(k["outcomes"].items()))
        f = (lambda v: "-" if v is None else f"{v:.1f}")
        lines.append(f"| {kind} | {k['sent']} | {k['answered']} | {outs} | {k['busy_answers']} | "
                     f"{f(k['p50_s'])} | {f(k['p95_s'])} |")
    lines += ["", f"- Requests answered: {res['answered']} of {res['requests']} in {res['wall_s']:.0f} s; "
              f"server alive to the end: {res['server_alive_until_stop']}; stopped by {res['server_stopped_by']}.",
              f"- Queue full answers: {res['busy_messages'] or 'none'}.",
              f"- Refusals said: {res['refusal_messages']}.",
              f"- Server peak RSS (VmHWM): {res['server_peak_rss_mb']:.0f} MB." if res["server_peak_rss_mb"]
              else "- Server peak RSS: not readable.",
              f"- Temp files left in the server's TMPDIR after it stopped: {len(res['temp_files_left'])}; "
              f"workspace removed: {res['workspace_removed']}.",
              "- Latency: submission to answer, retries after \"queue full\" included."]
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="srgan-x4-fast")
    ap.add_argument("--precision", default="auto")
    ap.add_argument("--clients", type=int, default=20)
    ap.add_argument("--corrupt", type=int, default=10)
    ap.add_argument("--oversize", type=int, default=5)
    ap.add_argument("--megapixels", type=float, default=1.0)
    ap.add_argument("--max-upload-mb", type=float, default=2.0)
    ap.add_argument("--queue-size", type=int, default=16)
    ap.add_argument("--retries", type=int, default=2)
    ap.add_argument("--retry-wait", type=float, default=20.0)
    ap.add_argument("--timeout", type=float, default=300.0, help="per request, seconds")
    ap.add_argument("--deadline", type=float, default=420.0, help="whole run, seconds")
    ap.add_argument("--conditions", default="", help="free text for the report (e.g. background job paused)")
    ap.add_argument("--out", default=None, help=".json (and .md beside it); default: print only")
    ns = ap.parse_args()
    res = run_load(ns)
    res["date"] = time.strftime("%Y-%m-%d %H:%M")
    res["command"] = "PYTHONPATH=src python benchmarks/serve_load.py " + " ".join(sys.argv[1:])
    res["conditions"] = ns.conditions
    from superres.inference.optimize import cpu_name

    res["cpu"] = cpu_name()
    md = to_markdown(res)
    print(md)
    if ns.out:
        from superres.fileio import atomic_write_bytes

        out = Path(ns.out)
        atomic_write_bytes(out, (json.dumps(res, indent=2) + "\n").encode())
        atomic_write_bytes(out.with_suffix(".md"), md.encode())
    ok = (res["answered"] == res["requests"] and not res["temp_files_left"] and res["server_alive_until_stop"])
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
