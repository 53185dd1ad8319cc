"""Saving and loading trained models as ``.npz`` files.

A model file is an ordinary NumPy ``.npz`` archive holding

* one array per parameter: ``layer0.W`` (784, H1), ``layer0.b`` (H1,), ...;
* ``metadata``: UTF-8 JSON bytes (a uint8 array) with the architecture, the
  preprocessing, the dataset and class names, the hyperparameters, the final
  metrics, the digitnet version and a SHA-256 of the weights.

Nothing in it needs pickle, so it is loaded with ``allow_pickle=False``: a
model file from a stranger cannot run code. Loading checks everything it
relies on and reports any problem as one line naming the file.
"""

from __future__ import annotations

import hashlib
import json
import zipfile
import zlib
from pathlib import Path

import numpy as np

from . import __version__
from .errors import ModelFileError
from .fileio import atomic_open
from .model import Architecture, Network, build_mlp

FORMAT = "digitnet-model"
FORMAT_VERSION = 1
PREPROCESSING = {
    "input": "28x28 grayscale, flattened row by row to 784 values",
    "scale": "pixel / 255, float in [0, 1], 0 = background, 1 = ink",
}


def weights_sha256(named: list[tuple[str, np.ndarray]]) -> str:
    """A hash of parameter names, dtypes, shapes and values, in order."""
    digest = hashlib.sha256()
    for name, array in named:
        digest.update(f"{name}:{array.dtype.str}:{array.shape};".encode())
        digest.update(np.ascontiguousarray(array).tobytes())
    return digest.hexdigest()


def save_model(path: str | Path, model: Network, metadata: dict | None = None) -> Path:
    """Write ``model`` and ``metadata`` to ``path`` atomically.

    Parameters
    ----------
    path : str or Path
        Destination, conventionally ``model.npz``.
    model : Network
        Must carry its ``architecture``.
    metadata : dict, optional
        Extra JSON-serialisable information (dataset, config, metrics...).

    Returns
    -------
    Path
    """
    path = Path(path)
    named = model.named_parameters()
    meta = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "digitnet_version": __version__,
        "architecture": model.architecture.to_dict(),
        "preprocessing": PREPROCESSING,
        **(metadata or {}),
        "dtype": str(model.dtype),
        "weights_sha256": weights_sha256(named),
    }
    arrays = dict(named)
    arrays["metadata"] = np.frombuffer(json.dumps(meta).encode("utf-8"), dtype=np.uint8)
    with atomic_open(path, "wb") as f:
        np.savez(f, **arrays)
    return path


def load_model(path: str | Path) -> tuple[Network, dict]:
    """Load a model file written by :func:`save_model`.

    Returns
    -------
    model : Network
        Ready for ``predict_proba``.
    metadata : dict

    Raises
    ------
    ModelFileError
        Missing, corrupt, tampered with, or not a digitnet model.
    """
    path = Path(path)
    if not path.is_file():
        raise ModelFileError(f"{path}: model file not found")
    try:
        _check_members(path)
        with np.load(path, allow_pickle=False) as archive:
            arrays = {name: archive[name] for name in archive.files}
    except ModelFileError:
        raise
    except (zipfile.BadZipFile, zlib.error, ValueError, OSError, EOFError, KeyError, MemoryError) as err:
        raise ModelFileError(f"{path}: not a readable .npz model file ({_short(err)})") from None

    meta = _read_metadata(path, arrays.pop("metadata", None))
    try:
        arch_dict = meta["architecture"]
        arch = Architecture(
            input_size=int(arch_dict["input_size"]), hidden=tuple(int(h) for h in arch_dict["hidden"]),
            output_size=int(arch_dict["output_size"]), dropout=float(arch_dict.get("dropout", 0)),
            input_dropout=float(arch_dict.get("input_dropout", 0)),
        )
        dtype = np.dtype(meta.get("dtype", "float32"))
    except (KeyError, TypeError, ValueError, AttributeError) as err:
        raise ModelFileError(f"{path}: metadata has no valid architecture ({_short(err)})") from None
    if dtype not in (np.float32, np.float64) or min(arch.sizes) < 1:
        raise ModelFileError(f"{path}: unsupported dtype {dtype} or layer sizes {arch.sizes}")

    # Check every stored array against the architecture before building anything,
    # so a metadata that claims enormous layers allocates nothing.
    sizes = arch.sizes
    expected = {}
    for i, (fan_in, fan_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        expected[f"layer{i}.W"], expected[f"layer{i}.b"] = (fan_in, fan_out), (fan_out,)
    if set(arrays) != set(expected):
        extra, missing = sorted(set(arrays) - set(expected)), sorted(set(expected) - set(arrays))
        raise ModelFileError(f"{path}: arrays do not match the architecture "
                             f"(missing {missing}, unexpected {extra})")
    for name, shape in expected.items():
        stored = arrays[name]
        if stored.shape != shape or stored.dtype != dtype:
            raise ModelFileError(f"{path}: {name} is {stored.dtype} {stored.shape}, "
                                 f"architecture needs {dtype} {shape}")
        if not np.all(np.isfinite(stored)):
            raise ModelFileError(f"{path}: {name} holds NaN or infinite values")
    model = build_mlp(arch, np.random.default_rng(0), dtype)
    named = model.named_parameters()
    for name, target in named:
        target[...] = arrays[name]
    if meta.get("weights_sha256") != weights_sha256(named):
        raise ModelFileError(f"{path}: weights do not match their recorded SHA-256 (modified or corrupt)")
    return model, meta


MAX_MODEL_BYTES = 2 * 1024**3


def _check_members(path: Path) -> None:
    """Check each array's header against its stored size before NumPy reads it.

    An ``.npz`` member whose header claims a huge shape would otherwise make
    NumPy reserve that much memory before noticing the data is not there.
    """
    with zipfile.ZipFile(path) as archive:
        members = archive.infolist()
        if sum(m.file_size for m in members) > MAX_MODEL_BYTES:
            raise ModelFileError(f"{path}: archive is larger than {MAX_MODEL_BYTES:,} bytes")
        for member in members:
            with archive.open(member) as f:
                try:
                    version = np.lib.format.read_magic(f)
                    reader = (np.lib.format.read_array_header_1_0 if version == (1, 0)
                              else np.lib.format.read_array_header_2_0)
                    shape, _, dtype = reader(f, max_header_size=10000)
                except Exception as err:  # noqa: BLE001 - any parse failure of untrusted bytes
                    raise ModelFileError(f"{path}: {member.filename} has no valid array header "
                                         f"({type(err).__name__})") from None
                if dtype.hasobject:
                    raise ModelFileError(f"{path}: {member.filename} holds Python objects")
                data_bytes = int(np.prod(shape, dtype=np.float64)) * dtype.itemsize
                if f.tell() + data_bytes != member.file_size:
                    raise ModelFileError(f"{path}: {member.filename} is truncated or malformed "
                                         f"(header shape {shape})")


def _read_metadata(path: Path, raw) -> dict:
    if raw is None:
        raise ModelFileError(f"{path}: not a digitnet model (no metadata)")
    if raw.dtype != np.uint8 or raw.ndim != 1:
        raise ModelFileError(f"{path}: metadata is not a byte array")
    try:
        meta = json.loads(raw.tobytes().decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise ModelFileError(f"{path}: metadata is not valid JSON ({_short(err)})") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise ModelFileError(f"{path}: not a digitnet model (format {meta.get('format') if isinstance(meta, dict) else None!r})")
    if meta.get("format_version") != FORMAT_VERSION:
        raise ModelFileError(f"{path}: model format version {meta.get('format_version')!r} "
                             f"is not supported (expected {FORMAT_VERSION})")
    return meta


def _short(err: Exception) -> str:
    return str(err).splitlines()[0][:120] if str(err) else type(err).__name__
