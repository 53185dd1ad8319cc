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

import contextlib
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

# Header names of the label column, as tutorials, Kaggle and scikit-learn users write them.
LABEL_NAMES = ("label", "labels", "class", "target", "digit", "y")
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
    skip : int
        Lines before the first data row (:func:`data_lines` gives each row's line).
    """

    path: Path
    images: np.ndarray
    labels: np.ndarray | None
    header: bool
    skip: int = 0


def is_csv(path: str | Path) -> bool:
    """Whether ``path`` is named like a CSV file (``.csv`` or ``.csv.gz``)."""
    name = Path(path).name.lower()
    return name.endswith((".csv", ".csv.gz"))


def read_digits_csv(path: str | Path, n_features: int | None = None) -> CsvDigits:
    """Read a digits CSV file in either layout (see the module docstring).

    Also taken as they come: ``;`` or tab separators, quoted cells, a
    byte-order mark, CRLF line ends, blank lines, a trailing separator on
    every row, pandas' unnamed index column, and whole numbers written as
    floats (``5.0``).

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
    found = _first_line(path)
    if found is None:
        raise DataError(f"{path}: empty file, no rows")
    first, first_index = found
    delimiter = next((d for d in (",", ";", "\t") if d in first), ",")
    cells = [cell.strip().strip('"').strip() for cell in first.split(delimiter)]
    header = any(cell and not _is_number(cell) for cell in cells)   # words, not a missing value
    columns = list(range(len(cells)))
    if len(cells) > 1 and cells[-1] == "":            # every row ends with a separator
        columns.pop()
    if header and len(columns) > 1 and (cells[0] == "" or cells[0].lower().startswith("unnamed")):
        columns.pop(0)                                  # pandas' index column
    names = [cells[c].lower() for c in columns] if header else None
    if names is not None:
        label_at = next((names.index(n) for n in LABEL_NAMES if n in names), None)
    else:
        label_at = _label_column_without_header(path, len(columns), n_features)
    n_pixels = len(columns) - (label_at is not None)
    if n_pixels < 1:
        raise DataError(f"{path}: the header names no pixel columns")
    if n_features is not None and n_pixels != n_features:
        hint = ""
        if header and label_at is None and n_pixels == n_features + 1:
            hint = (f" (if the first column, {cells[columns[0]]!r}, holds the labels, name it "
                    f"'label' in the header)")
        raise DataError(f"{path}: rows hold {n_pixels} pixels, the network expects {n_features}{hint}")
    skip = first_index + 1 if header else first_index
    layout = _Layout(path, delimiter, skip, columns, cells if header else None)
    # usecols only when a column is dropped: without it NumPy also checks every row's length.
    used = columns if len(columns) < len(cells) else None
    values = None
    for dtype in (np.int64, np.float64):   # integers parse twice as fast; "5.0" needs floats
        try:
            with warnings.catch_warnings(), _source(path) as source:   # "no data": said below, in one line
                warnings.simplefilter("ignore", UserWarning)
                values = np.loadtxt(source, delimiter=delimiter, skiprows=skip, usecols=used, ndmin=2,
                                    dtype=dtype, quotechar='"', comments=None, encoding="utf-8-sig")
            break
        except ValueError:
            continue
    if values is None:
        raise layout.problem()
    if values.size == 0:
        raise DataError(f"{path}: no data rows" + (" after the header" if header else ""))
    whole = np.isfinite(values) & (values == np.round(values)) if values.dtype.kind == "f" else True
    if not np.all(whole):
        row, col = np.argwhere(~whole)[0]
        pixel_values = values if label_at is None else np.delete(values, label_at, axis=1)
        fractions = np.nanmax(np.abs(pixel_values)) <= 1
        scaled = " (pixels scaled to 0-1? multiply them by 255)" if fractions else ""
        raise DataError(f"{layout.where(row, col)}: {values[row, col]:g} is not a whole number{scaled}")
    pixel_at = [i for i in range(len(columns)) if i != label_at]
    if label_at is None:
        pixels = values
    else:
        pixels = values[:, 1:] if label_at == 0 else values[:, pixel_at]
    bad = (pixels < 0) | (pixels > 255)
    if bad.any():
        row, col = np.argwhere(bad)[0]
        value = pixels[row, col]
        raise DataError(f"{layout.where(row, pixel_at[col])}: pixel value {value:g} outside 0-255")
    labels = None if label_at is None else values[:, label_at].astype(np.int64)
    return CsvDigits(path, pixels.astype(np.uint8), labels, header, skip)


@dataclass
class _Layout:
    """Where the rows and cells of a file are, to name them in errors."""

    path: Path
    delimiter: str
    skip: int                   # lines before the first data row
    columns: list[int]          # the file's columns that are read
    header: list[str] | None

    def where(self, row: int, used_column: int) -> str:
        """``path: line L, column C (name)`` for data row ``row`` and read column ``used_column``."""
        column = self.columns[used_column]
        name = f" ({self.header[column]})" if self.header and self.header[column] else ""
        return f"{self.path}: line {data_lines(self.path, self.skip)[row]}, column {column + 1}{name}"

    def problem(self) -> DataError:
        """Read the file again with Python's csv module to find the first bad line and cell."""
        width = max(self.columns) + 1
        with _open_text(self.path) as f:
            reader = csv.reader(f, delimiter=self.delimiter)
            for number, row in enumerate(reader, start=1):
                if number <= self.skip or not row:
                    continue
                if not any(cell.strip() for cell in row):
                    what = "only separators" if len(row) > 1 else "only spaces"
                    return DataError(f"{self.path}: line {number}: no values, {what}: delete the row")
                if len(row) < width or (len(row) > width and any(c.strip() for c in row[width:])):
                    return DataError(f"{self.path}: line {number}: {len(row)} values, expected {width}")
                for column in self.columns:
                    try:
                        float(row[column])
                    except ValueError:
                        name = f" ({self.header[column]})" if self.header and self.header[column] else ""
                        return DataError(f"{self.path}: line {number}, column {column + 1}{name}: "
                                         f"{row[column].strip()!r} is not a whole number")
        return DataError(f"{self.path}: not a CSV file of whole numbers")


def data_lines(path: str | Path, skip: int) -> list[int]:
    """The line number (from 1) of each data row: blank lines and the first ``skip`` lines are not rows."""
    numbers = []
    with _open_text(Path(path)) as f:
        for number, line in enumerate(f, start=1):
            if number > skip and line.strip():
                numbers.append(number)
    return numbers


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


def _source(path: Path):
    """What np.loadtxt reads: the path itself (fastest), or a text stream for gzip of any case."""
    if path.name.lower().endswith(".gz"):
        return _open_text(path)
    return contextlib.nullcontext(str(path))


def _first_line(path: Path) -> tuple[str, int] | None:
    """The first line that is not blank, and how many lines come before it."""
    try:
        with _open_text(path) as f:
            for index, line in enumerate(f):
                if line.strip():
                    return line.strip(), index
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
        if n_columns < 2:       # a label and 0x0 pixels, as the square test below would read it
            raise DataError(f"{path}: one value a row and no header: no pixels (a row is the pixels, "
                            "or a label then the pixels)")
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


def read_labelled_csv(path: str | Path, n_features: int | None = None,
                      purpose: str = "training") -> tuple[np.ndarray, np.ndarray]:
    """``(images, labels)`` of a file that must have a label column (to train or evaluate on).

    See :func:`read_digits_csv`: images (n, n_features) uint8, labels (n,) int64.

    Raises
    ------
    DataError
        As :func:`read_digits_csv`, or no label column (Kaggle's ``test.csv``).
    """
    table = read_digits_csv(path, n_features)
    if table.labels is None:
        raise DataError(f"{path}: no label column (Kaggle's test.csv has none): {purpose} needs labelled "
                        "rows; to predict labels, use digitnet predict MODEL FILE --submission OUT.csv")
    return table.images, table.labels
