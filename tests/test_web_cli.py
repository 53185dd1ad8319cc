"""`digitnet serve` as a user runs it: a real process on a real port."""

import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

pytest.importorskip("uvicorn", reason="the web extras are not installed")

from web_helpers import SHIPPED


def _free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _listening_addresses(port):
    """IPv4 addresses listening on ``port``, from /proc/net/tcp (state 0A = LISTEN)."""
    found = set()
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        local, state = line.split()[1], line.split()[3]
        address, hex_port = local.split(":")
        if state == "0A" and int(hex_port, 16) == port:
            found.add(socket.inet_ntoa(bytes.fromhex(address)[::-1]))
    return found


def _serve(*args, cwd=None):
    return subprocess.Popen([sys.executable, "-m", "digitnet", "serve", *map(str, args)], cwd=cwd,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_serve_shows_the_page_on_loopback_and_stops_cleanly():
    port = _free_port()
    server = _serve(SHIPPED, "--port", port)
    try:
        line = server.stdout.readline()
        assert f"http://127.0.0.1:{port}/" in line
        deadline = time.monotonic() + 20
        while True:
            try:
                page = urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2).read().decode()
                break
            except OSError:
                assert time.monotonic() < deadline and server.poll() is None, server.stderr.read()
                time.sleep(0.1)
        assert "drawing pad" in page
        # Bound to loopback only, as the kernel's table of listening sockets shows.
        assert _listening_addresses(port) == {"127.0.0.1"}
    finally:
        server.send_signal(signal.SIGINT)
        assert server.wait(15) == 0
    assert "Traceback" not in server.stderr.read()


def test_default_model_message_text(tmp_path):
    code = ("import sys; from pathlib import Path; import digitnet.web.serve as s, digitnet.cli as c; "
            f"s.REPO = Path({str(tmp_path)!r}); sys.exit(c.main(['serve']))")
    result = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True)
    assert result.returncode == 1
    assert "models/mnist-best-augmented.npz not found" in result.stderr and "make train" in result.stderr
    assert "Traceback" not in result.stderr


def test_port_in_use_is_one_line():
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = subprocess.run([sys.executable, "-m", "digitnet", "serve", str(SHIPPED),
                                 "--port", str(port)],
                                capture_output=True, text=True, timeout=60)
    assert result.returncode == 1
    assert result.stderr.strip().count("\n") == 0 and "cannot listen" in result.stderr


def test_bad_model_file_is_one_line(tmp_path):
    bad = tmp_path / "model.npz"
    bad.write_bytes(b"not a model")
    result = subprocess.run([sys.executable, "-m", "digitnet", "serve", str(bad),
                             "--port", str(_free_port())],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 1 and str(bad) in result.stderr and "Traceback" not in result.stderr
