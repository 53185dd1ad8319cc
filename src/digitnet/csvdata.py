"""Digits in CSV files: Kaggle's "Digit Recognizer" layout and the header-less one.

Two layouts are in wide use, both one image per row, pixels row by row
(0-255, 784 of them for 28x28):

* Kaggle's: a header row. ``train.csv`` is ``label,pixel0,...,pixel783``;
  ``test.csv`` the same without ``label``. A submission is ``ImageId,Label``
  with 1-based ids (:func:`write_submission`).
* Header-less (``mnist_train.csv``, ``mnist_test.csv`` of many tutorials):
  the label first, then the pixels; or pixels only.

The layout is told from the first row: a row with a cell that is not a number
is a header (``label`` names the label column); without one, a row of
``n_features + 1`` values (785 for MNIST) starts with the label. Parsing is
NumPy's own C reader (``np.loadtxt``: 42,000 rows in about a second); when it
refuses a row, the file is read again line by line to say exactly where and
why: a :class:`~digitnet.errors.DataError` naming the file, the line and
the column.
"""

from __future__ import annotations

import csv
import gzip
import io
import math
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .errors import DataError
from .fileio import atomic_open

MNIST_PIXELS = 28 * 28


@dataclass
class CsvDigits:
    """The images (and labels, when the file has them) of a digits CSV file.

    Attributes
    ----------
    path : Path
    images : ndarray of uint8, shape (n, n_features)
    labels : ndarray of int64, shape (n,), or None
    header : bool
        Whether the file starts with a header row.
    """

    path: Path
    images: np.ndarray
    labels: np.ndarray | None
    header: bool


def is_csv(path: str | Path) -> bool:
    """Whether ``path`` is named like a CSV file (``.csv`` or ``.csv.gz``)."""
    name = Path(path).name.lower()
    return name.endswith((".csv", ".csv.gz"))


def read_digits_csv(path: str | Path, n_features: int | None = None) -> CsvDigits:
    """Read a digits CSV file in either layout (see the module docstring).

    Parameters
    ----------
    path : str or Path
        ``.csv``, or ``.csv.gz``.
    n_features : int, optional
        Pixels per image the caller expects (a trained network's input
        size); without a header it also tells whether a label comes first.
        Default: 784 when the row length does not say otherwise.

    Returns
    -------
    CsvDigits

    Raises
    ------
    DataError
        Missing or empty file, a header without pixel columns, a row with
        the wrong number of values, a cell that is not a whole number, or a
        pixel outside 0-255; the message names the file, the line and the
        column.
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: file not found")
    first = _first_line(path)
    if first is None:
        raise DataError(f"{path}: empty file, no rows")
    cells = [cell.strip() for cell in first.split(",")]
    header = any(cell and not _is_number(cell) for cell in cells)   # words, not a missing value
    if header:
        names = [cell.lower() for cell in cells]
        label_column = names.index("label") if "label" in names else None
        n_columns = len(names)
    else:
        n_columns = len(cells)
        label_column = _label_column_without_header(path, n_columns, n_features)
    n_pixels = n_columns - (label_column is not None)
    if n_pixels < 1:
        raise DataError(f"{path}: the header names no pixel columns")
    if n_features is not None and n_pixels != n_features:
        raise DataError(f"{path}: rows hold {n_pixels} pixels, the network expects {n_features}")
    try:
        with warnings.catch_warnings():   # "input contained no data": said below, in one line
            warnings.simplefilter("ignore", UserWarning)
            # NumPy opens .gz itself; utf-8-sig drops the byte-order mark Excel writes.
            values = np.loadtxt(path, delimiter=",", skiprows=int(header), dtype=np.int64, ndmin=2,
                                encoding="utf-8-sig")
    except ValueError:
        raise _locate_problem(path, header, n_columns) from None
    if values.size == 0:
        raise DataError(f"{path}: no data rows" + (" after the header" if header else ""))
    if values.shape[1] != n_columns:   # every row agreed with each other, not with the first line
        raise DataError(f"{path}: line {1 + int(header)}: {values.shape[1]} values, "
                        f"the header has {n_columns}")
    pixel_columns = [c for c in range(n_columns) if c != label_column]
    # A slice (no copy) in the usual layouts, label first or absent.
    if label_column is None:
        pixels = values
    else:
        pixels = values[:, 1:] if label_column == 0 else values[:, pixel_columns]
    bad = (pixels < 0) | (pixels > 255)
    if bad.any():
        row, col = np.argwhere(bad)[0]
        column = pixel_columns[col]
        raise DataError(f"{path}: line {row + 1 + int(header)}, column {column + 1}"
                        f"{_column_name(first, column, header)}: pixel value {pixels[row, col]} "
                        "outside 0-255")
    labels = None if label_column is None else values[:, label_column].copy()
    return CsvDigits(path, pixels.astype(np.uint8), labels, header)


def write_submission(path: str | Path, labels: np.ndarray) -> Path:
    """Write Kaggle's submission file ``ImageId,Label`` (ids from 1), atomically.

    ``labels`` (n,): the predicted label of each row of ``test.csv``, in order.
    """
    path = Path(path)
    rows = "".join(f"{i},{label}\n" for i, label in enumerate(np.asarray(labels).tolist(), start=1))
    try:
        with atomic_open(path, "w") as f:
            f.write("ImageId,Label\n" + rows)
    except OSError as err:
        raise DataError(f"{path}: cannot write the submission ({err.strerror or err})") from None
    return path


def _open_text(path: Path):
    raw = gzip.open(path, "rb") if path.name.lower().endswith(".gz") else open(path, "rb")
    return io.TextIOWrapper(raw, encoding="utf-8-sig", errors="strict", newline="")


def _first_line(path: Path) -> str | None:
    try:
        with _open_text(path) as f:
            for line in f:
                if line.strip():
                    return line.strip()
    except (OSError, EOFError, UnicodeDecodeError, gzip.BadGzipFile) as err:
        raise DataError(f"{path}: cannot read as text CSV ({err})") from None
    return None


def _is_number(cell: str) -> bool:
    try:
        return math.isfinite(float(cell))
    except ValueError:
        return False


def _label_column_without_header(path: Path, n_columns: int, n_features: int | None) -> int | None:
    """0 when the first value of a header-less row is the label, None when all are pixels."""
    expected = n_features or (MNIST_PIXELS if n_columns in (MNIST_PIXELS, MNIST_PIXELS + 1) else None)
    if expected is None:
        if math.isqrt(n_columns - 1) ** 2 == n_columns - 1:
            return 0
        if math.isqrt(n_columns) ** 2 == n_columns:
            return None
        raise DataError(f"{path}: {n_columns} values a row and no header: add a header row "
                        "(label,pixel0,pixel1,...) to say which column is the label")
    if n_columns == expected + 1:
        return 0
    if n_columns == expected:
        return None
    raise DataError(f"{path}: line 1: {n_columns} values, expected {expected} pixels "
                    f"(or a label and {expected} pixels)")


def _column_name(first_line: str, column: int, header: bool) -> str:
    if not header:
        return ""
    names = first_line.split(",")
    return f" ({names[column].strip()})" if column < len(names) else ""


def _locate_problem(path: Path, header: bool, n_columns: int) -> DataError:
    """Read the file again with Python's csv module to find the first bad line and cell."""
    first_line = _first_line(path) or ""
    with _open_text(path) as f:
        for number, row in enumerate(csv.reader(f), start=1):
            if number == 1 and header or not any(cell.strip() for cell in row):
                continue
            if len(row) != n_columns:
                return DataError(f"{path}: line {number}: {len(row)} values, expected {n_columns}")
            for column, cell in enumerate(row):
                try:
                    int(cell)
                except ValueError:
                    name = _column_name(first_line, column, header)
                    return DataError(f"{path}: line {number}, column {column + 1}{name}: {cell.strip()!r} "
                                     "is not a whole number")
    return DataError(f"{path}: not a CSV file of whole numbers")


def csv_dataset(path: str | Path, validation_size: int = 5000, train_limit: int | None = None,
                test_fraction: float = 0.1, split_seed: int = 0):
    """A labelled CSV file (Kaggle's ``train.csv``, ``mnist_train.csv``) as a :class:`~digitnet.data.Dataset`.

    Split by :func:`digitnet.data.labelled_dataset`: ``test_fraction`` of the
    rows held out as a test set, ``validation_size`` of the rest validate.

    Raises
    ------
    DataError
        As :func:`read_digits_csv`; no label column; too few rows for the split.
    """
    from .data import labelled_dataset

    path = Path(path)
    table = read_digits_csv(path)
    if table.labels is None:
        raise DataError(f"{path}: no label column (Kaggle's test.csv has none): training needs labelled "
                        "rows, such as Kaggle's train.csv")
    return labelled_dataset(path.name, str(path), table.images, table.labels, validation_size,
                            train_limit, test_fraction, split_seed)
