"""Reading IDX files, the simple binary format MNIST is distributed in.

An IDX file is a 4-byte magic number, one big-endian uint32 size per
dimension, then the data in C order::

    magic = 0x00 0x00 <type code> <number of dimensions>
    images: 0x00000803  ->  uint8, 3 dims (count, rows, cols)
    labels: 0x00000801  ->  uint8, 1 dim  (count,)

Files may be gzip-compressed, any number of times over (detected from their
first bytes, not their name: a failed or repeated download often leaves a file
gzipped twice, or a raw file named ``.gz``). Something that is not IDX at all
(an HTML error page saved under the file's name, a text or CSV file, a zip
archive) is named as such. The reader never trusts the header: it refuses sizes beyond a limit,
reads the data in chunks so that a header claiming terabytes allocates
nothing, and reports a truncated or over-long file as an error naming it.
"""

from __future__ import annotations

import gzip
import hashlib
import math
import struct
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .errors import DataError

# IDX type code -> big-endian NumPy dtype.
IDX_DTYPES = {
    0x08: np.dtype(">u1"),
    0x09: np.dtype(">i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
IMAGES_MAGIC = 0x00000803
LABELS_MAGIC = 0x00000801

# No dataset digitnet reads comes near this; a header claiming more is corrupt.
MAX_DATA_BYTES = 2 * 1024**3
_CHUNK = 1 << 20
_GZIP_MAGIC = b"\x1f\x8b"
_MAX_GZIP_LAYERS = 8
# What a file that is not IDX often is instead, from its first bytes.
_OTHER_FORMATS = ((b"PK\x03\x04", "it is a zip archive: unpack it first"),
                  (b"BZh", "it is bzip2-compressed: decompress it first (bunzip2)"),
                  (b"\xfd7zXZ\x00", "it is xz-compressed: decompress it first (unxz)"),
                  (b"7z\xbc\xaf\x27\x1c", "it is a 7-Zip archive: unpack it first"),
                  (b"\x89PNG", "it is a PNG image"),
                  (b"%PDF", "it is a PDF document"))


@dataclass(frozen=True)
class IdxFile:
    """The content of one IDX file.

    Attributes
    ----------
    data : ndarray
        The array, in native byte order, with the shape the header gives.
    magic : int
        The 4-byte magic number, e.g. ``0x00000803`` for images.
    sha256 : str
        Hex SHA-256 of the decompressed file content (header included).
    """

    data: np.ndarray
    magic: int
    sha256: str


def read_idx(path: str | Path, expected_magic: int | None = None) -> IdxFile:
    """Read a raw or gzip-compressed IDX file.

    Parameters
    ----------
    path : str or Path
        The file. Gzip compression is detected from its content.
    expected_magic : int, optional
        If given, any other magic number is an error (e.g. a label file
        passed where images are expected).

    Returns
    -------
    IdxFile
        ``data`` has the header's shape, e.g. ``(60000, 28, 28)`` uint8.

    Raises
    ------
    DataError
        Missing file, not gzip/IDX, wrong magic, absurd header sizes,
        truncated data or trailing bytes; the message names the file.

    Examples
    --------
    >>> labels = read_idx("data/mnist/t10k-labels-idx1-ubyte.gz", LABELS_MAGIC)
    >>> labels.data[:10]
    array([7, 2, 1, 0, 4, 1, 4, 9, 5, 9], dtype=uint8)
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: file not found")
    try:
        with open(path, "rb") as raw:
            stream, layers = raw, 0
            while stream.read(2) == _GZIP_MAGIC:     # gzip, maybe gzip inside gzip
                stream.seek(0)
                layers += 1
                if layers > _MAX_GZIP_LAYERS:
                    raise DataError(f"{path}: more than {_MAX_GZIP_LAYERS} layers of gzip")
                stream = gzip.GzipFile(fileobj=stream, mode="rb")
            stream.seek(0)
            # A raw file's size is known: check the header against it up front.
            limit = None if layers else path.stat().st_size
            return _parse(stream, path, expected_magic, limit)
    except (gzip.BadGzipFile, EOFError, zlib.error) as err:
        raise DataError(f"{path}: corrupt gzip data ({err})") from None
    except OSError as err:
        raise DataError(f"{path}: cannot read ({err.strerror or err})") from None


def _parse(stream, path: Path, expected_magic: int | None, file_size: int | None) -> IdxFile:
    """Parse header and data from an open binary stream."""
    digest = hashlib.sha256()
    head = _read_exactly(stream, 4, path, digest, what="the 4-byte magic number")
    zero, type_code, ndim = struct.unpack(">HBB", head)
    magic = struct.unpack(">I", head)[0]
    if zero != 0 or type_code not in IDX_DTYPES or ndim == 0:
        raise DataError(f"{path}: not an IDX file: {_describe(bytes(head) + stream.read(508), magic)}")
    if expected_magic is not None and magic != expected_magic:
        raise DataError(
            f"{path}: wrong magic number 0x{magic:08x}, expected 0x{expected_magic:08x}"
        )
    dims = struct.unpack(f">{ndim}I", _read_exactly(stream, 4 * ndim, path, digest, "the header"))
    dtype = IDX_DTYPES[type_code]
    n_bytes = math.prod(dims) * dtype.itemsize  # exact integer, however absurd the dims
    # A zero dimension makes the product 0; the others must still be sane.
    if n_bytes > MAX_DATA_BYTES or math.prod(d for d in dims if d) * dtype.itemsize > MAX_DATA_BYTES:
        raise DataError(f"{path}: header claims an absurd size {dims} ({n_bytes:,} bytes)")
    header_bytes = 4 + 4 * ndim
    if file_size is not None and file_size != header_bytes + n_bytes:
        problem = "truncated" if file_size < header_bytes + n_bytes else "too long"
        raise DataError(
            f"{path}: {problem}: header {dims} needs {header_bytes + n_bytes:,} bytes, "
            f"file has {file_size:,}"
        )
    payload = _read_exactly(stream, n_bytes, path, digest, f"{n_bytes:,} data bytes for shape {dims}")
    if stream.read(1):
        raise DataError(f"{path}: extra bytes after the {n_bytes:,} data bytes for shape {dims}")
    data = np.frombuffer(payload, dtype=dtype).reshape(dims)
    return IdxFile(data.astype(dtype.newbyteorder("="), copy=False), magic, digest.hexdigest())


def _describe(start: bytes, magic: int) -> str:
    """What a file that is not IDX looks like, from its first bytes."""
    for signature, what in _OTHER_FORMATS:
        if start.startswith(signature):
            return what
    if start[257:262] == b"ustar":                      # a tar archive (a .tar.gz, once ungzipped)
        return "it is a tar archive: unpack it first (tar -xf)"
    text = start.lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    if text.startswith((b"<!doctype html", b"<head", b"<?xml")) or b"<html" in text:   # (first 512 bytes)
        return "it is an HTML page (a failed download or an error page?): open it in a browser to read it"
    decoded = start.decode("utf-8", errors="replace")   # the last character may be cut in two
    if decoded.strip() and all(c.isprintable() or c in "\r\n\t" for c in decoded[:-1]):
        first_line = decoded.splitlines()[0][:60]
        kind = "a CSV file" if first_line.count(",") >= 2 else "a text file"
        return f"it is {kind} (it starts {first_line!r})"
    return f"unknown content (magic number 0x{magic:08x})"


def _read_exactly(stream, n: int, path: Path, digest, what: str) -> bytearray:
    """Read n bytes in chunks (never trusting n for allocation), hashing them."""
    buffer = bytearray()
    while len(buffer) < n:
        chunk = stream.read(min(_CHUNK, n - len(buffer)))
        if not chunk:
            raise DataError(f"{path}: truncated: expected {what}, got {len(buffer):,} bytes")
        buffer += chunk
        digest.update(chunk)
    return buffer


def write_idx(path: str | Path, array: np.ndarray, compress: bool | None = None) -> None:
    """Write ``array`` as an IDX file (gzip if ``compress`` or the name ends in .gz).

    Used by the tests to make small and broken files; not atomic.
    """
    path = Path(path)
    codes = {dtype.newbyteorder("="): code for code, dtype in IDX_DTYPES.items()}
    native = np.dtype(array.dtype).newbyteorder("=")
    if native not in codes:
        raise ValueError(f"IDX cannot store dtype {array.dtype}")
    header = struct.pack(">HBB", 0, codes[native], array.ndim)
    header += struct.pack(f">{array.ndim}I", *array.shape)
    body = header + np.ascontiguousarray(array, dtype=IDX_DTYPES[codes[native]]).tobytes()
    if compress is None:
        compress = path.suffix == ".gz"
    path.write_bytes(gzip.compress(body) if compress else body)
