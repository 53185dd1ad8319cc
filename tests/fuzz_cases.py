"""The contracts that fuzzing checks, shared by tests/test_fuzz.py and tools/fuzz.py.

Each ``check_*`` function feeds one input to a loader and asserts the
documented outcome: either a valid result, or the documented error type
with a one-line message naming the file. Anything else (another exception,
a crash, a hang, a huge allocation) is a failure.
"""

from __future__ import annotations

import gzip
import io
import struct
from pathlib import Path

import numpy as np
from hypothesis import strategies as st
from PIL import Image

from digitnet.errors import DataError, ImageError, ModelFileError
from digitnet.idx import read_idx
from digitnet.model import Architecture, build_mlp
from digitnet.modelfile import load_model, save_model
from digitnet.preprocess import image_to_input, to_mnist


def _one_line_naming(err: Exception, path: Path) -> None:
    message = str(err)
    assert "\n" not in message, message
    assert str(path) in message, message


def check_idx_bytes(data: bytes, path: Path) -> None:
    path.write_bytes(data)
    try:
        content = read_idx(path)
    except DataError as err:
        _one_line_naming(err, path)
        return
    assert content.data.size * content.data.itemsize <= len(data) * 1100 + 10  # gzip can expand ~1000x


def check_model_bytes(data: bytes, path: Path) -> None:
    path.write_bytes(data)
    try:
        model, meta = load_model(path)
    except ModelFileError as err:
        _one_line_naming(err, path)
        return
    probs = model.predict_proba(np.zeros((1, model.n_features_in), model.dtype))
    assert np.all(np.isfinite(probs))


def check_image_bytes(data: bytes, path: Path) -> None:
    path.write_bytes(data)
    try:
        x = image_to_input(path)
    except ImageError as err:
        _one_line_naming(err, path)
        return
    assert x.shape == (784,) and np.all(np.isfinite(x)) and x.min() >= 0 and x.max() <= 1 + 1e-6


def check_gray_array(gray: np.ndarray) -> None:
    try:
        x = to_mnist(gray)
    except ImageError as err:
        assert "\n" not in str(err)
        return
    assert x.shape == (28, 28) and x.dtype == np.float32
    assert np.all(np.isfinite(x)) and x.min() >= 0 and x.max() <= 1.0 + 1e-6


# --- seeds: small valid files that mutations start from ----------------------------------

def idx_seed(compress: bool) -> bytes:
    body = struct.pack(">IIII", 0x803, 2, 28, 28) + bytes(range(256)) * 6 + bytes(32)
    return gzip.compress(body) if compress else body


def model_seed(tmp: Path) -> bytes:
    model = build_mlp(Architecture(input_size=6, hidden=(3,), output_size=2), np.random.default_rng(0))
    return save_model(tmp / "seed-model.npz", model, {"dataset": "mnist"}).read_bytes()


def image_seed(fmt: str) -> bytes:
    rng = np.random.default_rng(0)
    pixels = np.full((24, 20), 255, np.uint8)
    pixels[4:20, 9:12] = 0
    pixels = np.clip(pixels.astype(int) + rng.integers(-20, 20, pixels.shape), 0, 255).astype(np.uint8)
    out = io.BytesIO()
    Image.fromarray(pixels).save(out, format=fmt)
    return out.getvalue()


@st.composite
def mutated(draw, seed: bytes):
    """The seed with a few random byte flips, insertions, deletions or a cut."""
    data = bytearray(seed)
    for _ in range(draw(st.integers(1, 4))):
        kind = draw(st.sampled_from(["flip", "insert", "delete", "cut", "overwrite"]))
        at = draw(st.integers(0, max(0, len(data) - 1)))
        if kind == "flip" and data:
            data[at] ^= draw(st.integers(1, 255))
        elif kind == "insert":
            data[at:at] = draw(st.binary(min_size=1, max_size=8))
        elif kind == "delete" and data:
            del data[at:at + draw(st.integers(1, 16))]
        elif kind == "cut":
            del data[at:]
        elif kind == "overwrite":
            chunk = draw(st.binary(min_size=1, max_size=8))
            data[at:at + len(chunk)] = chunk
    return bytes(data)


def absurd_idx_header():
    """IDX headers whose sizes are huge or inconsistent, followed by a little data."""
    return st.builds(
        lambda magic_type, ndim, dims, tail, compress: (
            (gzip.compress if compress else bytes)(
                struct.pack(">HBB", 0, magic_type, ndim) + b"".join(struct.pack(">I", d) for d in dims[:ndim])
                + tail)),
        st.sampled_from([0x08, 0x09, 0x0B, 0x0C, 0x0D, 0x0E, 0x07, 0xFF]),
        st.integers(0, 4),
        st.lists(st.integers(0, 2**32 - 1), min_size=4, max_size=4),
        st.binary(max_size=64),
        st.booleans(),
    )


gray_arrays = st.builds(
    lambda h, w, seed, kind: _gray(h, w, seed, kind),
    st.integers(1, 60), st.integers(1, 60), st.integers(0, 2**32 - 1),
    st.sampled_from(["uniform", "noise", "blob", "line", "constant", "extreme"]),
)


def _gray(h, w, seed, kind):
    rng = np.random.default_rng(seed)
    if kind == "uniform":
        return np.full((h, w), rng.random())
    if kind == "noise":
        return rng.random((h, w))
    if kind == "constant":
        return np.zeros((h, w))
    if kind == "extreme":
        return rng.choice([0.0, 1.0], size=(h, w))
    gray = np.ones((h, w)) * rng.uniform(0.5, 1)
    if kind == "blob":
        gray[rng.integers(0, h):, rng.integers(0, w):] = rng.uniform(0, 0.4)
    else:
        gray[:, rng.integers(0, w)] = 0.0
    return gray
