"""MNIST and its relatives: finding the files, checking them, loading them.

The datasets known by name (MNIST, Fashion-MNIST, KMNIST, QMNIST, EMNIST's
six splits) are described in :mod:`digitnet.datasets`: their files, how to
read them and their checksums.

Images stay ``uint8`` in memory (60,000 x 784 bytes = 47 MB for MNIST) and are
scaled to float32 in [0, 1] one batch at a time by
:func:`digitnet.inputs.to_float`, so no float copy of the whole set is ever
made during training.

Where the files are looked for, in order:

1. ``data_dir`` (``--data-dir``) or the ``DIGITNET_DATA_DIR`` environment
   variable: a folder holding the dataset's files (with EMNIST's
   ``gzip/`` folder, all six splits are in one place), or a folder with a
   subfolder named after the dataset;
2. the repository's own ``data/<dataset>/`` (MNIST is shipped there);
3. the user cache, ``$XDG_CACHE_HOME/digitnet/<dataset>`` (default
   ``~/.cache/digitnet/<dataset>``);
4. a download from the dataset's public mirrors into that cache
   (see :mod:`digitnet.download`).

Every file's *decompressed* content is checked against a known SHA-256 where
one is known (MNIST, Fashion-MNIST), so a recompressed copy is accepted and a
corrupted one is named in the error; downloads of the others are checked
against their published MD5. Files
the user points at (``data_dir``, ``DIGITNET_DATA_DIR``) that are not the known
ones, such as an own IDX export, are used as they are and named in
``Dataset.unverified``; their image size and classes come from the files.
The names may be spelled otherwise (``train-images.idx3-ubyte``), and
``load_dataset(splits=("test",))`` reads only the test files.
"""

from __future__ import annotations

import math
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .datasets import DATASETS, MNIST_FILES, DatasetInfo
from .errors import DataError
from .idx import read_idx

__all__ = ["DATASETS", "Dataset", "DatasetInfo", "MNIST_FILES", "dataset_info", "load_dataset",
           "load_split", "locate"]

# src/digitnet/data.py -> the repository root, where data/mnist is shipped.
REPO_DATA_DIR = Path(__file__).resolve().parents[2] / "data"


@dataclass
class Dataset:
    """A dataset split into train, validation and test parts.

    Attributes
    ----------
    name : str
        ``"mnist"`` or ``"fashion-mnist"``; ``"arrays"`` for :func:`digitnet.fit`; a CSV
        file's or a picture folder's name.
    x_train, x_val, x_test : ndarray, shape (n, n_features)
        uint8 pixels (flattened images, 0 = background, 255 = full ink) or floats.
    y_train, y_val, y_test : ndarray of int64, shape (n,)
        Class indices 0 .. K-1.
    classes : tuple
        The label of each class index (ints 0-9 for MNIST, names for Fashion-MNIST).
    source : str
        The folder, CSV file or picture folder the data was read from (``"arrays"`` for arrays).
    w_train : ndarray of float64, shape (n_train,), or None
        Sample weights of the training examples, mean 1 (None: all equal);
        see :mod:`digitnet.losses`.
    unverified : tuple of str
        Files given by the user whose content is not the dataset's known
        one (checksum): used, and named in a note.
    image_shape : tuple of int, or None
        (height, width) of one image when the files say it (IDX); see ``shape_2d``.
    """

    name: str
    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    classes: tuple
    source: str
    w_train: np.ndarray | None = None
    unverified: tuple[str, ...] = ()
    image_shape: tuple[int, int] | None = None

    @property
    def n_features(self) -> int:
        return int(self.x_train.shape[1])

    @property
    def shape_2d(self) -> tuple[int, int] | None:
        """(height, width) of one image: as the files give it, else square when the size is a square."""
        return self.image_shape or square_shape(self.n_features)


def square_shape(n_features: int) -> tuple[int, int] | None:
    """(side, side) when ``n_features`` is a square number (784 -> (28, 28)), else None."""
    side = math.isqrt(n_features)
    return (side, side) if side * side == n_features and side > 0 else None


def dataset_info(name: str) -> DatasetInfo:
    """Look up a dataset by name, with a clear error for an unknown one."""
    if name not in DATASETS:
        raise DataError(f"unknown dataset {name!r}; choose one of {', '.join(DATASETS)}")
    return DATASETS[name]


def cache_dir(name: str) -> Path:
    """The per-user cache folder for a dataset (XDG convention)."""
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "digitnet" / name


def find_file(folder: Path, stem: str) -> Path | None:
    """The file for ``stem`` in ``folder``, gzipped or raw, or None.

    The official names come first; then any spelling that differs only in
    case, separators or a ``.gz`` suffix, such as ``train-images.idx3-ubyte``
    (7-Zip and Windows browsers unpack the files with a dot) or
    ``train_images_idx3_ubyte``. The reader tells gzip from raw by content.
    """
    for candidate in (folder / f"{stem}.gz", folder / stem):
        if candidate.is_file():
            return candidate
    if not folder.is_dir():
        return None
    same = [p for p in folder.iterdir() if _squash(p.name) == _squash(stem)]
    matches = sorted(p for p in same if p.is_file())
    if matches:
        return matches[0]
    # Kaggle's copy of MNIST unpacks each file into a folder of its own name:
    # t10k-images-idx3-ubyte/t10k-images-idx3-ubyte.
    inside = sorted(p for sub in same if sub.is_dir() for p in sub.iterdir()
                    if p.is_file() and _squash(p.name) == _squash(stem))
    return inside[0] if inside else None


def _squash(name: str) -> str:
    """A file name without case, separators or ``.gz``.

    ``Train-Images.idx3-ubyte.gz`` -> ``trainimagesidx3ubyte``.
    """
    name = name.lower()
    name = name[:-3] if name.endswith(".gz") else name
    return re.sub(r"[-._ ]", "", name)


SPLITS = ("train", "test")


def _stems(info: DatasetInfo, splits: tuple[str, ...]) -> list[str]:
    """The file stems of ``splits``: images and labels of each."""
    unknown = set(splits) - set(SPLITS)
    if unknown:
        raise DataError(f"unknown split {sorted(unknown)[0]!r}; splits are train and test")
    return info.stems(splits)


def _has_all(folder: Path, stems: list[str]) -> bool:
    return all(find_file(folder, stem) for stem in stems)


def locate(name: str, data_dir: str | Path | None = None, download: bool = True,
           splits: tuple[str, ...] = SPLITS) -> Path:
    """Find (or fetch) the folder holding a dataset's files for ``splits``.

    Parameters
    ----------
    name : str
        A name from :data:`digitnet.datasets.DATASETS` (``"mnist"``, ``"emnist-letters"``...).
    data_dir : str or Path, optional
        Folder given by the user; ``DIGITNET_DATA_DIR`` is used when None.
        An explicit folder is not silently replaced by another one.
    download : bool
        Whether to download into the user cache when nothing is found.
    splits : tuple of str
        The splits needed, ``("train", "test")`` or one of them: evaluating
        needs only the two test files.

    Returns
    -------
    Path
        A folder holding the files of ``splits``.

    Raises
    ------
    DataError
        Unknown dataset, a missing file in ``data_dir`` (named), nothing found
        and no download allowed, or a failed download.
    """
    info = dataset_info(name)
    stems = _stems(info, splits)
    explicit = data_dir or os.environ.get("DIGITNET_DATA_DIR")
    if explicit:
        folder = Path(explicit).expanduser()
        for candidate in (folder / name, folder, folder / "gzip"):   # gzip/: EMNIST's archive unpacked
            if candidate.is_dir() and _has_all(candidate, stems):
                return candidate
        if not folder.is_dir():
            raise DataError(f"{folder}: data folder not found")
        missing = [s for s in stems if not find_file(folder, s)]
        others = [other for other, known in DATASETS.items() if other != name and known.files != info.files
                  and any(_has_all(c, known.stems(splits)) for c in (folder, folder / "gzip"))]
        hint = f" (it holds {others[0]} files: add --dataset {others[0]})" if others else ""
        raise DataError(f"{folder}: missing {name} file {missing[0]}[.gz]{hint}")
    for candidate in (REPO_DATA_DIR / name, cache_dir(name)):
        if _has_all(candidate, stems):
            return candidate
    if not download:
        raise DataError(f"{name} not found in {REPO_DATA_DIR / name} or {cache_dir(name)}")
    from .download import download_dataset

    return download_dataset(info, cache_dir(name), stems=stems)


def read_checked(path: Path, magic: int, expected_sha256: str | None):
    """Read one IDX file and compare its content hash with the known value."""
    content = read_idx(path, expected_magic=magic)
    if not _matches(content.sha256, expected_sha256):
        raise _mismatch(path, content.sha256, expected_sha256)
    return content.data


def _matches(actual: str, expected: str | None) -> bool:
    return not expected or actual == expected


def _mismatch(path: Path, actual: str, expected: str | None) -> DataError:
    return DataError(f"{path}: checksum mismatch: content SHA-256 {actual[:16]}..., "
                     f"expected {(expected or '')[:16]}... (corrupt or a different dataset)")


def class_names(info: DatasetInfo, folder: Path) -> tuple[tuple | None, int]:
    """The classes of a dataset's files in ``folder``, and the label of the first one.

    A mapping file beside the images (EMNIST's ``emnist-letters-mapping.txt``,
    lines ``label code [code ...]``) gives them: each class is named by its
    first character code, and classes that are all digits are the ints 0-9,
    as MNIST's. Otherwise the description's ``classes`` and ``label_offset``.

    Raises
    ------
    DataError
        A mapping file that is not lines of integers, or whose labels are not
        consecutive.
    """
    path = find_file(folder, info.mapping_file) if info.mapping_file else None
    if path is None:
        return info.classes, info.label_offset
    try:
        rows = [line.split() for line in path.read_text(encoding="ascii").splitlines() if line.strip()]
        table = {int(row[0]): int(row[1]) for row in rows}
    except (ValueError, IndexError, UnicodeDecodeError):
        raise DataError(f"{path}: not a class mapping file (lines of 'label character-code')") from None
    labels = sorted(table)
    if not labels or labels != list(range(labels[0], labels[0] + len(labels))):
        raise DataError(f"{path}: the labels {labels[:3]}... are not consecutive")
    names = tuple(chr(table[label]) for label in labels)
    if all(name.isdigit() for name in names):
        return tuple(int(name) for name in names), labels[0]
    return names, labels[0]


def load_split(folder: str | Path, split: str, info: DatasetInfo | None = None,
               unverified: list[str] | None = None, check_range: bool = True):
    """Load ``split`` ("train" or "test") of a dataset from a folder.

    Returns ``(images, labels)``; see :func:`_read_split` for the details.
    """
    images, labels, _ = _read_split(folder, split, info, unverified, check_range)
    return images, labels


def _read_split(folder: str | Path, split: str, info: DatasetInfo | None = None,
                unverified: list[str] | None = None, check_range: bool = True):
    """Load ``split`` ("train" or "test") of a dataset from a folder.

    Parameters
    ----------
    info : DatasetInfo, optional
        The dataset's description: file names, checksums, orientation, label
        layout and classes. Default: MNIST's names and classes, no checksums.
    unverified : list, optional
        Without it a checksum mismatch is an error; with it the names of
        such files are appended to it and the files are used.
    check_range : bool
        Labels must be those of the known classes (False: any label from
        the first class's on, for files of one's own).

    Returns
    -------
    images : ndarray of uint8, shape (n, height * width)
        784 values for MNIST's 28x28; other sizes are kept as the file has
        them; transposed images (EMNIST) are turned upright.
    labels : ndarray of int64, shape (n,)
        Class indices: the file's labels minus the first class's label.
    image_shape : tuple of int
        (height, width) of one image, upright.

    Raises
    ------
    DataError
        A missing, corrupt or mismatched file, images and labels of
        different counts, labels out of range; the message names the file.
    """
    folder = Path(folder)
    info = info or DatasetInfo(name="idx", classes=DATASETS["mnist"].classes)
    stems = info.stems((split,))
    paths = []
    for stem in stems:
        path = find_file(folder, stem)
        if path is None:
            raise DataError(f"{folder / stem}[.gz]: file not found")
        paths.append(path)
    content = [read_idx(path, expected_magic=info.magic(stem)) for stem, path in zip(stems, paths)]
    for stem, path, item in zip(stems, paths, content):
        known = info.sha256.get(stem)
        if unverified is not None and item.sha256 != known:    # other content, or none known
            unverified.append(path.name)
        elif not _matches(item.sha256, known):
            raise _mismatch(path, item.sha256, known)
    images, labels = content[0].data, content[1].data
    if images.dtype != np.uint8 or images.ndim != 3:
        raise DataError(f"{paths[0]}: expected uint8 images (count, height, width), got "
                        f"{images.dtype} {images.shape}")
    if labels.ndim == 2:                  # QMNIST's table: the class, then writer and series ids
        labels = labels[:, 0]
    if labels.ndim != 1 or labels.dtype.kind not in "iu":
        raise DataError(f"{paths[1]}: expected a 1-d label array, got {labels.dtype} {labels.shape}")
    if len(images) != len(labels):
        raise DataError(
            f"{paths[1]}: {len(labels):,} labels for {len(images):,} images in {paths[0].name}"
        )
    if info.transposed:                   # stored column by column: turn upright
        images = images.transpose(0, 2, 1)
    classes, offset = class_names(info, folder)
    labels = labels.astype(np.int64)
    if labels.size:
        low, high = int(labels.min()), int(labels.max())
        top = offset + len(classes) - 1 if classes is not None and check_range else None
        if low < offset or (top is not None and high > top):
            bad = low if low < offset else high
            span = f"{offset}-{top}" if top is not None else f"{offset} and above"
            raise DataError(f"{paths[1]}: label {bad} out of range {span}")
    height, width = images.shape[1:]     # not -1: numpy cannot infer it for a file of 0 images
    return np.ascontiguousarray(images).reshape(len(images), height * width), labels - offset, (height, width)


def load_dataset(
    name: str = "mnist",
    data_dir: str | Path | None = None,
    validation_size: int = 5000,
    split_seed: int = 0,
    train_limit: int | None = None,
    download: bool = True,
    splits: tuple[str, ...] = SPLITS,
    small_set_validation: bool = False,
) -> Dataset:
    """Load a dataset and carve a validation set out of its training images.

    Parameters
    ----------
    name : str
        A name from :data:`digitnet.datasets.DATASETS`: ``"mnist"``,
        ``"fashion-mnist"``, ``"kmnist"``, ``"qmnist"``, ``"emnist-digits"``...
    data_dir : str or Path, optional
        Where to look first (see the module docstring for the order).
    validation_size : int
        Images moved from the training set to the validation set, chosen by a
        permutation seeded with ``split_seed``. The test set is never touched.
    split_seed : int
        Seed of that permutation. Fixed by default so that every run, whatever
        its training seed, validates on the same images.
    train_limit : int, optional
        Keep only this many training images (after the split): for quick
        experiments and tests.
    splits : tuple of str
        The splits to read: ``("test",)`` reads and checks only the test
        files (the training and validation parts are then empty, and
        ``validation_size`` must be 0).
    small_set_validation : bool
        When ``validation_size`` is more than a fifth of the training images
        (an own small IDX export), validate on a tenth of them instead.

    Returns
    -------
    Dataset
        ``x_train`` is ``(60000 - validation_size, 784)`` uint8 for MNIST.

    Raises
    ------
    DataError
        As :func:`locate` and :func:`load_split`; a validation size the
        training split cannot hold.
    """
    info = dataset_info(name)
    folder = locate(name, data_dir, download=download, splits=splits)
    # Files the user points at are used even when they are not the known ones (an own IDX
    # export, a relative of MNIST), with a note; the repository's, the cache's and downloaded
    # files must match their checksums.
    explicit = bool(data_dir or os.environ.get("DIGITNET_DATA_DIR"))
    unverified: list[str] | None = [] if explicit else None
    read = {split: _read_split(folder, split, info, unverified, check_range=not explicit)
            for split in splits}
    parts = {split: (images, labels) for split, (images, labels, _) in read.items()}
    image_shape = next(iter(read.values()))[2]
    width = next(iter(parts.values()))[0].shape[1]
    empty = np.zeros((0, width), np.uint8), np.zeros(0, np.int64)
    x, y = parts.get("train", empty)
    x_test, y_test = parts.get("test", empty)
    classes, _ = class_names(info, folder)
    largest = max((int(labels.max()) for _, labels in parts.values() if labels.size), default=0)
    if classes is None or largest >= len(classes):     # an own export with more classes
        classes = tuple(range(largest + 1))
    if "train" not in splits and validation_size:
        raise DataError("a validation set comes out of the training split: pass validation_size=0 "
                        "when loading only the test split")
    if small_set_validation and validation_size > 0.2 * len(x):
        validation_size = round(0.1 * len(x))
    if validation_size < 0 or (validation_size and validation_size >= len(x)):
        raise DataError(f"validation size {validation_size} must be in [0, {len(x)}) "
                        f"({len(x):,} training images in {folder}): lower --validation-size")
    order = np.random.default_rng(split_seed).permutation(len(x))
    val_idx, train_idx = np.sort(order[:validation_size]), np.sort(order[validation_size:])
    if train_limit is not None:
        train_idx = train_idx[:train_limit]
    train: Any = train_idx
    if validation_size == 0 and train_limit is None:
        train = slice(None)  # all of it: use the array itself, no 47 MB copy
    return Dataset(
        name=name,
        x_train=x[train], y_train=y[train],
        x_val=x[val_idx], y_val=y[val_idx],
        x_test=x_test, y_test=y_test,
        classes=classes,
        source=str(folder),
        unverified=tuple(unverified or ()),
        image_shape=(int(image_shape[0]), int(image_shape[1])),
    )


def unverified_note(data: Dataset) -> str:
    """The one-line note for files used although they are not the dataset's known ones."""
    if not dataset_info(data.name).sha256:
        return (f"note: {data.source}: {data.name}'s content checksums are not known, so its files "
                "are used unverified")
    return (f"note: {', '.join(data.unverified)} in {data.source}: not the known {data.name} files "
            "(checksums differ), used as they are")


def labelled_dataset(name: str, source: str, images: np.ndarray, labels: Any,
                     validation_size: int = 5000, train_limit: int | None = None,
                     test_fraction: float = 0.1, split_seed: int = 0) -> Dataset:
    """Split one labelled set (a CSV file, a folder of pictures) into train, validation and test.

    Such a set has no test part of its own, so ``test_fraction`` of it (a
    seeded permutation) is held out as one, never seen in training or model
    selection; ``validation_size`` of the rest validate. Classes are the
    sorted distinct labels.

    Parameters
    ----------
    images : ndarray, shape (n, n_features)
    labels : array-like, shape (n,)

    Raises
    ------
    DataError
        Too few examples for the split.
    """
    n = len(images)
    n_test = max(1, round(test_fraction * n))
    if n - n_test - validation_size < 1:
        raise DataError(f"{source}: {n:,} examples cannot hold {n_test:,} test and {validation_size:,} "
                        "validation examples and still train: lower --validation-size")
    classes, indices = np.unique(np.asarray(labels), return_inverse=True)
    if len(classes) < 2:
        raise DataError(f"{source}: every example has the label {classes.tolist()[0]!r}: a classifier needs "
                        "examples of at least two classes")
    order = np.random.default_rng(split_seed).permutation(n)
    test, val, train = (np.sort(part) for part in np.split(order, [n_test, n_test + validation_size]))
    if train_limit is not None:
        train = train[:train_limit]
    return Dataset(name=name, x_train=images[train], y_train=indices[train], x_val=images[val],
                   y_val=indices[val], x_test=images[test], y_test=indices[test],
                   classes=tuple(classes.tolist()), source=source)


def test_only_dataset(name: str, source: str, images: np.ndarray, labels: Any) -> Dataset:
    """All of a labelled set as the test part (for evaluating a trained network on it)."""
    classes, indices = np.unique(np.asarray(labels), return_inverse=True)
    empty = images[:0]
    return Dataset(name=name, x_train=empty, y_train=indices[:0], x_val=empty, y_val=indices[:0],
                   x_test=images, y_test=indices, classes=tuple(classes.tolist()), source=source)
