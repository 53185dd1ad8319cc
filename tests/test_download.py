"""The real download code, against a real HTTP server on loopback."""

import dataclasses
import http.server
import os
import threading
from functools import partial

import numpy as np
import pytest

from digitnet import data as data_module
from digitnet.data import DATASETS, load_split, locate
from digitnet.download import download_dataset
from digitnet.errors import DataError

from conftest import MNIST_DIR


class Handler(http.server.SimpleHTTPRequestHandler):
    failures_left = {}  # path -> number of 503s still to send
    corrupt = False

    def do_GET(self):
        remaining = self.failures_left.get(self.path, 0)
        if remaining:
            self.failures_left[self.path] = remaining - 1
            self.send_error(503, "try again")
            return
        if self.corrupt:
            body = b"\x1f\x8b" + b"not really gzip" * 10
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            return
        super().do_GET()

    def log_message(self, *args):
        pass


@pytest.fixture
def server():
    handler = partial(Handler, directory=str(MNIST_DIR))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    Handler.failures_left, Handler.corrupt = {}, False
    yield f"http://127.0.0.1:{httpd.server_address[1]}/"
    httpd.shutdown()
    httpd.server_close()


def info_with(*mirrors):
    return dataclasses.replace(DATASETS["mnist"], mirrors=mirrors)


def test_download_from_local_mirror(server, tmp_path):
    dest = download_dataset(info_with(server), tmp_path / "cache", progress=False)
    x, y = load_split(dest, "test", DATASETS["mnist"])
    assert x.shape == (10000, 784) and y[:10].tolist() == [7, 2, 1, 0, 4, 1, 4, 9, 5, 9]
    assert sorted(p.name for p in dest.iterdir()) == sorted(p.name for p in MNIST_DIR.glob("*.gz"))


def test_retries_after_server_errors(server, tmp_path):
    Handler.failures_left = {"/t10k-labels-idx1-ubyte.gz": 2}
    dest = download_dataset(info_with(server), tmp_path / "cache", retries=3, backoff=0.01, progress=False)
    assert (dest / "t10k-labels-idx1-ubyte.gz").is_file()
    assert Handler.failures_left["/t10k-labels-idx1-ubyte.gz"] == 0


def test_falls_back_to_next_mirror(server, tmp_path):
    dead = "http://127.0.0.1:9/"  # discard port: connection refused
    dest = download_dataset(info_with(dead, server), tmp_path / "cache", retries=1, progress=False)
    assert len(list(dest.glob("*.gz"))) == 4


def test_bad_content_leaves_no_file(server, tmp_path):
    Handler.corrupt = True
    dest = tmp_path / "cache"
    with pytest.raises(DataError) as err:
        download_dataset(info_with(server), dest, retries=2, backoff=0.01, progress=False)
    assert "train-images-idx3-ubyte" in str(err.value) and "\n" not in str(err.value)
    assert list(dest.iterdir()) == []  # no half-written or temporary files


def test_all_mirrors_down(tmp_path):
    with pytest.raises(DataError, match="could not download"):
        download_dataset(info_with("http://127.0.0.1:9/"), tmp_path / "c", retries=2, backoff=0.01,
                         progress=False)
    assert list((tmp_path / "c").iterdir()) == []


def test_locate_downloads_into_user_cache(server, tmp_path, monkeypatch):
    monkeypatch.setattr(data_module, "REPO_DATA_DIR", tmp_path / "no-repo-data")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    monkeypatch.delenv("DIGITNET_DATA_DIR", raising=False)
    monkeypatch.setitem(data_module.DATASETS, "mnist", info_with(server))
    folder = locate("mnist")
    assert folder == tmp_path / "xdg" / "digitnet" / "mnist"
    d = data_module.load_dataset("mnist", validation_size=100)
    assert d.source == str(folder) and np.all(d.y_test[:3] == [7, 2, 1])


# --- failures midway: nothing partial is left (issue 31) ----------------------------------

class TruncatingHandler(Handler):
    """Promises the whole shipped file, sends half of it, then hangs up."""

    def do_GET(self):
        body = (MNIST_DIR / self.path.lstrip("/")).read_bytes()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body[: len(body) // 2])
        self.close_connection = True


@pytest.fixture
def serve():
    """``serve(handler)``: the URL of another server on loopback, shut down after the test."""
    servers = []

    def start(handler):
        httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        threading.Thread(target=httpd.serve_forever, daemon=True).start()
        servers.append(httpd)
        return f"http://127.0.0.1:{httpd.server_address[1]}/"

    yield start
    for httpd in servers:
        httpd.shutdown()
        httpd.server_close()


def test_a_connection_lost_midway_is_retried_then_one_line_and_leaves_nothing(serve, tmp_path):
    """A half-downloaded file kept, its temporary file left, or the error not a DataError."""
    dest = tmp_path / "cache"
    with pytest.raises(DataError) as err:
        download_dataset(info_with(serve(TruncatingHandler)), dest, stems=["t10k-labels-idx1-ubyte"],
                         retries=2, backoff=0.01, progress=False)
    assert "could not download mnist t10k-labels-idx1-ubyte.gz" in str(err.value)
    assert "\n" not in str(err.value)
    assert list(dest.iterdir()) == []


class _CtrlCAfterFirstChunk:
    def __init__(self, *args):
        self.chunks = 0

    def update(self, n):
        self.chunks += 1
        if self.chunks == 2:
            raise KeyboardInterrupt

    def close(self):
        pass


@pytest.mark.parametrize("when", ["while receiving", "while checking", "before the rename"])
def test_ctrl_c_at_any_moment_leaves_no_partial_file(server, tmp_path, monkeypatch, when):
    """An interrupted download leaving its ``.download-*.part`` file (or a partial target) behind."""
    from digitnet import download

    seen = []
    if when == "while receiving":
        monkeypatch.setattr(download, "_progress_bar", _CtrlCAfterFirstChunk)
    elif when == "while checking":
        def check(tmp, *args):
            seen.append(tmp.stat().st_size)                 # the whole download is there
            raise KeyboardInterrupt

        monkeypatch.setattr(download, "_check_idx", check)
    else:
        def replace(src, dst):
            seen.append(os.path.getsize(src))
            raise KeyboardInterrupt

        monkeypatch.setattr(download.os, "replace", replace)
    dest = tmp_path / "cache"
    with pytest.raises(KeyboardInterrupt):
        download_dataset(info_with(server), dest, stems=["train-images-idx3-ubyte"], progress=False)
    whole = (MNIST_DIR / "train-images-idx3-ubyte.gz").stat().st_size
    assert seen == ([] if when == "while receiving" else [whole])
    assert list(dest.iterdir()) == []


def test_a_checksum_mismatch_leaves_no_file(serve, tmp_path):
    """Well-formed IDX with other content (another dataset's file under this name): refused, removed."""
    from digitnet.idx import write_idx

    other = tmp_path / "served"
    other.mkdir()
    write_idx(other / "t10k-labels-idx1-ubyte.gz", np.zeros(10000, np.uint8))
    info = info_with(serve(partial(Handler, directory=str(other))))
    assert not info.download_md5                          # MNIST: only the content hash tells
    dest = tmp_path / "cache"
    with pytest.raises(DataError, match="checksum mismatch") as err:
        download_dataset(info, dest, stems=["t10k-labels-idx1-ubyte"], retries=1, progress=False)
    assert "\n" not in str(err.value)
    assert list(dest.iterdir()) == []
