"""A bounded load test of ``POST /api/predict`` on loopback.

Starts ``digitnet serve`` as its own process, then drives it from separate
client processes (so the client's Python does not share the server's GIL)
for a fixed time with persistent HTTP/1.1 connections, and reports requests
per second, p50/p90/p99 latency and the error count. Two request kinds are
mixed: the page's own (a drawn digit as a base64 PNG, preprocessed) and a
28x28 pixel array.

Usage::

    python bench/load_test.py [--model models/mnist-best-augmented.npz] [--seconds 30] [--clients 4]
        [--markdown]   # append the figures to BENCHMARKS.md
"""

from __future__ import annotations

import argparse
import base64
import http.client
import io
import json
import multiprocessing
import os
import platform
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]


def _drawn_digit_png() -> bytes:
    """A 7 drawn with a thick pen on a white 280x280 canvas, as the page sends it."""
    from PIL import Image, ImageDraw

    image = Image.new("L", (280, 280), 255)
    ImageDraw.Draw(image).line([(70, 60), (210, 60), (120, 230)], fill=0, width=20, joint="curve")
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def _bodies() -> list[bytes]:
    png = base64.b64encode(_drawn_digit_png()).decode()
    pixels = np.zeros((28, 28))
    pixels[6:22, 13:15] = 1.0                                   # a 1
    return [json.dumps({"image": "data:image/png;base64," + png}).encode(),
            json.dumps({"pixels": pixels.tolist()}).encode()]


def _client(port: int, seconds: float, queue) -> None:
    bodies = _bodies()
    latencies, errors, i = [], 0, 0
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    stop = time.perf_counter() + seconds
    while time.perf_counter() < stop:
        body = bodies[i % len(bodies)]
        i += 1
        started = time.perf_counter()
        try:
            connection.request("POST", "/api/predict", body, {"Content-Type": "application/json"})
            response = connection.getresponse()
            payload = response.read()
            ok = response.status == 200 and b'"digit"' in payload
        except (OSError, http.client.HTTPException):
            ok = False
            connection.close()
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        latencies.append(time.perf_counter() - started)
        errors += not ok
    queue.put((latencies, errors))


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def run(model: Path, seconds: float, clients: int) -> dict:
    port = _free_port()
    server = subprocess.Popen([sys.executable, "-m", "digitnet", "serve", str(model), "--port", str(port)],
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1):
                    break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    raise SystemExit(f"server did not start: {server.stdout.read()}") from None
                time.sleep(0.1)
        queue = multiprocessing.get_context("spawn").Queue()
        workers = [multiprocessing.get_context("spawn").Process(target=_client, args=(port, seconds, queue))
                   for _ in range(clients)]
        started = time.perf_counter()
        for w in workers:
            w.start()
        results = [queue.get() for _ in workers]
        elapsed = time.perf_counter() - started
        for w in workers:
            w.join()
    finally:
        server.terminate()
        server.wait(10)
    latencies = np.array([t for r in results for t in r[0]]) * 1000
    return {"model": str(model), "seconds": round(elapsed, 1), "clients": clients,
            "requests": int(len(latencies)), "errors": int(sum(r[1] for r in results)),
            "requests_per_second": round(len(latencies) / elapsed, 1),
            "p50_ms": round(float(np.percentile(latencies, 50)), 2),
            "p90_ms": round(float(np.percentile(latencies, 90)), 2),
            "p99_ms": round(float(np.percentile(latencies, 99)), 2),
            "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}",
            "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())}


def markdown(r: dict) -> str:
    return "\n".join([
        "## Web API load (`POST /api/predict`)",
        "",
        f"`python bench/load_test.py --seconds {r['seconds']:.0f} --clients {r['clients']} --markdown` "
        f"({r['date']}; {r['machine']}; server and clients on the same 2 cores, loopback):",
        "",
        "| model | clients | seconds | requests | errors | requests/s | p50 | p90 | p99 |",
        "|---|---|---|---|---|---|---|---|---|",
        f"| {Path(r['model']).name} | {r['clients']} | {r['seconds']} | {r['requests']:,} | {r['errors']} "
        f"| {r['requests_per_second']} | {r['p50_ms']} ms | {r['p90_ms']} ms | {r['p99_ms']} ms |",
        "",
        "Requests alternate between the page's own (a drawn 7 as a base64 PNG, preprocessed) and "
        "a 28x28 pixel array; one uvicorn worker; each client keeps one HTTP/1.1 connection open.",
        "",
    ])


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", type=Path, default=REPO / "models" / "mnist-best-augmented.npz")
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--markdown", action="store_true", help="append the figures to BENCHMARKS.md")
    args = parser.parse_args(argv)
    result = run(args.model, args.seconds, args.clients)
    print(json.dumps(result, indent=1))
    out = REPO / "bench" / "results" / "load.json"
    out.write_text(json.dumps(result, indent=1) + "\n")
    if args.markdown:
        section = markdown(result)
        path = REPO / "BENCHMARKS.md"
        text = path.read_text()
        start = text.find("## Web API load")
        if start >= 0:  # replace the previous run's section
            end = text.find("\n## ", start + 1)
            text = text[:start] + text[end + 1:] if end >= 0 else text[:start]
        path.write_text(text.rstrip("\n") + "\n\n" + section)
    return 1 if result["errors"] else 0


if __name__ == "__main__":
    sys.exit(main())
