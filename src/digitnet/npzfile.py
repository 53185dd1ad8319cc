"""Safe ``.npz`` archives: named arrays plus JSON metadata, hashed, written atomically.

Model files and checkpoints are both stored this way. An archive holds

* any number of numeric arrays under their names;
* ``metadata``: UTF-8 JSON bytes (a uint8 array) whose ``format`` names the
  kind of file and whose ``content_sha256`` hashes every other array (names,
  dtypes, shapes and bytes), so tampering and corruption are detected.

Reading never uses pickle (``allow_pickle=False``) and checks each member's
header against its stored size before NumPy allocates anything, so a hostile
or broken file costs a clear error, not a crash or a huge allocation.
"""

from __future__ import annotations

import hashlib
import json
import math
import zipfile
import zlib
from pathlib import Path
from typing import Any

import numpy as np

from .errors import ModelFileError
from .fileio import atomic_open

MAX_ARCHIVE_BYTES = 2 * 1024**3


def content_sha256(arrays: dict[str, np.ndarray]) -> str:
    """A hash of array names, dtypes, shapes and values, in name order."""
    digest = hashlib.sha256()
    for name in sorted(arrays):
        array = np.ascontiguousarray(arrays[name])
        digest.update(f"{name}:{array.dtype.str}:{array.shape};".encode())
        digest.update(array.tobytes())
    return digest.hexdigest()


def save_npz(path: str | Path, arrays: dict[str, np.ndarray], metadata: dict) -> Path:
    """Write ``arrays`` and ``metadata`` (JSON-serialisable) to ``path`` atomically.

    The temporary file is fsynced before it is renamed over ``path``, so a
    crash at any moment leaves either the previous file or the new one.
    """
    path = Path(path)
    if "metadata" in arrays:
        raise ValueError("'metadata' is reserved for the JSON metadata")
    meta = {**metadata, "content_sha256": content_sha256(arrays)}
    # Any: NumPy's stubs also match **payload against savez's `allow_pickle: bool`
    # keyword; these names are array names, never that one.
    payload: dict[str, Any] = dict(arrays)
    payload["metadata"] = np.frombuffer(json.dumps(meta).encode("utf-8"), dtype=np.uint8)
    with atomic_open(path, "wb") as f:
        np.savez(f, **payload)
    return path


def load_npz(path: str | Path, kind: str, versions: tuple[int, ...] = (1,),
             error=ModelFileError) -> tuple[dict[str, np.ndarray], dict]:
    """Read an archive written by :func:`save_npz` and check what it claims.

    Parameters
    ----------
    path : str or Path
    kind : str
        Expected ``metadata["format"]``, e.g. ``"digitnet-model"``.
    versions : tuple of int
        Accepted ``metadata["format_version"]`` values.
    error : exception class
        Raised, with a one-line message naming the file, for any problem.

    Returns
    -------
    arrays : dict of str -> ndarray
    metadata : dict
    """
    path = Path(path)
    if not path.is_file():
        raise error(f"{path}: file not found")
    try:
        _check_members(path, error)
        with np.load(path, allow_pickle=False) as archive:
            arrays = {name: archive[name] for name in archive.files}
    except error:
        raise
    except (zipfile.BadZipFile, zlib.error, ValueError, OSError, EOFError, KeyError,
            MemoryError, NotImplementedError, RuntimeError) as err:
        # RuntimeError: a member flagged as encrypted; NotImplementedError: an
        # unknown compression method. Both mean "not a file we wrote".
        raise error(f"{path}: not a readable .npz file ({_short(err)})") from None

    meta = _read_metadata(path, arrays.pop("metadata", None), kind, versions, error)
    if meta.get("content_sha256") != content_sha256(arrays):
        raise error(f"{path}: content does not match its recorded SHA-256 (modified or corrupt)")
    for name, array in arrays.items():
        if array.dtype.kind == "f" and not np.all(np.isfinite(array)):
            raise error(f"{path}: {name} holds NaN or infinite values")
    return arrays, meta


def _check_members(path: Path, error) -> None:
    """Check each array's header against its stored size before NumPy reads it.

    An ``.npz`` member whose header claims a huge shape would otherwise make
    NumPy reserve that much memory before noticing the data is not there.
    """
    with zipfile.ZipFile(path) as archive:
        members = archive.infolist()
        if sum(m.file_size for m in members) > MAX_ARCHIVE_BYTES:
            raise error(f"{path}: archive is larger than {MAX_ARCHIVE_BYTES:,} bytes")
        for member in members:
            with archive.open(member) as f:
                try:
                    version = np.lib.format.read_magic(f)
                    reader = (np.lib.format.read_array_header_1_0 if version == (1, 0)
                              else np.lib.format.read_array_header_2_0)
                    shape, _, dtype = reader(f, max_header_size=10000)
                except Exception as err:  # any parse failure of untrusted bytes
                    raise error(f"{path}: {member.filename} has no valid array header "
                                f"({type(err).__name__})") from None
                if dtype.hasobject:
                    raise error(f"{path}: {member.filename} holds Python objects")
                data_bytes = math.prod(shape) * dtype.itemsize
                if f.tell() + data_bytes != member.file_size:
                    raise error(f"{path}: {member.filename} is truncated or malformed "
                                f"(header shape {shape})")


def _read_metadata(path: Path, raw, kind: str, versions, error) -> dict:
    if raw is None:
        raise error(f"{path}: not a {kind} file (no metadata)")
    if raw.dtype != np.uint8 or raw.ndim != 1:
        raise error(f"{path}: metadata is not a byte array")
    try:
        meta = json.loads(raw.tobytes().decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as err:
        raise error(f"{path}: metadata is not valid JSON ({_short(err)})") from None
    found = meta.get("format") if isinstance(meta, dict) else None
    if found != kind:
        raise error(f"{path}: not a {kind} file (format {found!r})")
    if meta.get("format_version") not in versions:
        raise error(f"{path}: {kind} format version {meta.get('format_version')!r} "
                    f"is not supported (expected {versions[-1]})")
    return meta


def _short(err: Exception) -> str:
    text = str(err).splitlines()[0][:120] if str(err) else ""
    return text or type(err).__name__
