"""MNIST and Fashion-MNIST: finding the files, checking them, loading them.

Images stay ``uint8`` in memory (60,000 x 784 bytes = 47 MB for MNIST) and are
scaled to float32 in [0, 1] one batch at a time by
:func:`digitnet.inputs.to_float`, so no float copy of the whole set is ever
made during training.

Where the files are looked for, in order:

1. ``data_dir`` (``--data-dir``) or the ``DIGITNET_DATA_DIR`` environment
   variable: a folder holding the four files, or a folder with a subfolder
   named after the dataset;
2. the repository's own ``data/<dataset>/`` (MNIST is shipped there);
3. the user cache, ``$XDG_CACHE_HOME/digitnet/<dataset>`` (default
   ``~/.cache/digitnet/<dataset>``);
4. a download from the dataset's public mirrors into that cache
   (see :mod:`digitnet.download`).

Every file's *decompressed* content is checked against a known SHA-256, so a
recompressed copy is accepted and a corrupted one is named in the error. Files
the user points at (``data_dir``, ``DIGITNET_DATA_DIR``) that are not the known
ones, such as an own IDX export, are used as they are and named in
``Dataset.unverified``; their image size and classes come from the files.
The names may be spelled otherwise (``train-images.idx3-ubyte``), and
``load_dataset(splits=("test",))`` reads only the test files.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .errors import DataError
from .idx import IMAGES_MAGIC, LABELS_MAGIC, read_idx

FILES = {
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}


@dataclass(frozen=True)
class DatasetInfo:
    """What digitnet knows about a dataset: its checksums, classes and mirrors."""

    name: str
    sha256: dict[str, str]  # file stem -> SHA-256 of the decompressed content
    classes: tuple  # labels: ints 0-9 for MNIST, names for Fashion-MNIST
    mirrors: tuple[str, ...]


DATASETS = {
    "mnist": DatasetInfo(
        name="mnist",
        sha256={
            "train-images-idx3-ubyte": "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
            "train-labels-idx1-ubyte": "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
            "t10k-images-idx3-ubyte": "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
            "t10k-labels-idx1-ubyte": "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
        },
        classes=tuple(range(10)),
        mirrors=(
            "https://ossci-datasets.s3.amazonaws.com/mnist/",
            "https://storage.googleapis.com/cvdf-datasets/mnist/",
            "http://yann.lecun.com/exdb/mnist/",
        ),
    ),
    "fashion-mnist": DatasetInfo(
        name="fashion-mnist",
        sha256={
            "train-images-idx3-ubyte": "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888",
            "train-labels-idx1-ubyte": "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9",
            "t10k-images-idx3-ubyte": "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b",
            "t10k-labels-idx1-ubyte": "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34",
        },
        classes=(
            "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
            "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
        ),
        mirrors=("http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",),
    ),
}

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

    @property
    def n_features(self) -> int:
        return int(self.x_train.shape[1])


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
    matches = sorted(p for p in folder.iterdir() if _squash(p.name) == _squash(stem) and p.is_file())
    return matches[0] if matches else None


def _squash(name: str) -> str:
    """A file name without case, separators or ``.gz``.

    ``Train-Images.idx3-ubyte.gz`` -> ``trainimagesidx3ubyte``.
    """
    name = name.lower()
    name = name[:-3] if name.endswith(".gz") else name
    return re.sub(r"[-._ ]", "", name)


SPLITS = ("train", "test")


def _stems(splits: tuple[str, ...]) -> list[str]:
    """The file stems of ``splits``: images and labels of each."""
    unknown = set(splits) - set(SPLITS)
    if unknown:
        raise DataError(f"unknown split {sorted(unknown)[0]!r}; splits are train and test")
    return [FILES[f"{split}_{part}"] for split in splits for part in ("images", "labels")]


def _has_all(folder: Path, stems: list[str]) -> bool:
    return all(find_file(folder, stem) for stem in stems)


def locate(name: str, data_dir: str | Path | None = None, download: bool = True,
           splits: tuple[str, ...] = SPLITS) -> Path:
    """Find (or fetch) the folder holding a dataset's files for ``splits``.

    Parameters
    ----------
    name : str
        ``"mnist"`` or ``"fashion-mnist"``.
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
    """
    info = dataset_info(name)
    stems = _stems(splits)
    explicit = data_dir or os.environ.get("DIGITNET_DATA_DIR")
    if explicit:
        folder = Path(explicit).expanduser()
        for candidate in (folder / name, folder):
            if candidate.is_dir() and _has_all(candidate, stems):
                return candidate
        if not folder.is_dir():
            raise DataError(f"{folder}: data folder not found")
        missing = [s for s in stems if not find_file(folder, s)]
        raise DataError(f"{folder}: missing {name} file {missing[0]}[.gz]")
    for candidate in (REPO_DATA_DIR / name, cache_dir(name)):
        if _has_all(candidate, stems):
            return candidate
    if not download:
        raise DataError(f"{name} not found in {REPO_DATA_DIR / name} or {cache_dir(name)}")
    from .download import download_dataset

    return download_dataset(info, cache_dir(name))


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


def load_split(folder: Path, split: str, sha256: dict[str, str] | None = None,
               n_classes: int | None = 10, unverified: list[str] | None = None):
    """Load ``split`` ("train" or "test") from a folder.

    Parameters
    ----------
    sha256 : dict, optional
        Known content hashes by file stem; a mismatch is an error unless
        ``unverified`` is given, which then collects the names of such files.
    n_classes : int or None
        Labels must be below it (None: any label, classes from the data).

    Returns
    -------
    images : ndarray of uint8, shape (n, height * width)
        784 values for MNIST's 28x28; other sizes are kept as the file has them.
    labels : ndarray of int64, shape (n,)
    """
    sha256 = sha256 or {}
    stems = FILES[f"{split}_images"], FILES[f"{split}_labels"]
    paths = [find_file(folder, stem) for stem in stems]
    for stem, path in zip(stems, paths):
        if path is None:
            raise DataError(f"{folder / stem}[.gz]: file not found")
    content = [read_idx(path, expected_magic=magic)
               for path, magic in zip(paths, (IMAGES_MAGIC, LABELS_MAGIC))]
    for stem, path, item in zip(stems, paths, content):
        if not _matches(item.sha256, sha256.get(stem)):
            if unverified is None:
                raise _mismatch(path, item.sha256, sha256.get(stem))
            unverified.append(path.name)
    images, labels = content[0].data, content[1].data
    if images.dtype != np.uint8 or images.ndim != 3:
        raise DataError(f"{paths[0]}: expected uint8 images (count, height, width), got "
                        f"{images.dtype} {images.shape}")
    if labels.dtype != np.uint8 or labels.ndim != 1:
        raise DataError(f"{paths[1]}: expected a 1-d uint8 label array, got {labels.dtype} {labels.shape}")
    if len(images) != len(labels):
        raise DataError(
            f"{paths[1]}: {len(labels):,} labels for {len(images):,} images in {paths[0].name}"
        )
    if n_classes is not None and labels.size and labels.max() >= n_classes:
        raise DataError(f"{paths[1]}: label {int(labels.max())} out of range 0-{n_classes - 1}")
    return images.reshape(len(images), -1), labels.astype(np.int64)


def load_dataset(
    name: str = "mnist",
    data_dir: str | Path | None = None,
    validation_size: int = 5000,
    split_seed: int = 0,
    train_limit: int | None = None,
    download: bool = True,
    splits: tuple[str, ...] = SPLITS,
) -> Dataset:
    """Load a dataset and carve a validation set out of its training images.

    Parameters
    ----------
    name : str
        ``"mnist"`` or ``"fashion-mnist"``.
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

    Returns
    -------
    Dataset
        ``x_train`` is ``(60000 - validation_size, 784)`` uint8 for MNIST.
    """
    info = dataset_info(name)
    folder = locate(name, data_dir, download=download, splits=splits)
    # Files the user points at are used even when they are not the known ones (an own IDX
    # export, a relative of MNIST), with a note; the repository's, the cache's and downloaded
    # files must match their checksums.
    explicit = bool(data_dir or os.environ.get("DIGITNET_DATA_DIR"))
    unverified: list[str] | None = [] if explicit else None
    n_classes = None if explicit else len(info.classes)
    parts = {split: load_split(folder, split, info.sha256, n_classes, unverified) for split in splits}
    width = next(iter(parts.values()))[0].shape[1]
    empty = np.zeros((0, width), np.uint8), np.zeros(0, np.int64)
    x, y = parts.get("train", empty)
    x_test, y_test = parts.get("test", empty)
    classes = info.classes
    largest = max((int(labels.max()) for _, labels in parts.values() if labels.size), default=0)
    if largest >= len(classes):                        # an own export with more classes
        classes = tuple(range(largest + 1))
    if "train" not in splits and validation_size:
        raise DataError("a validation set comes out of the training split: pass validation_size=0 "
                        "when loading only the test split")
    if validation_size < 0 or (validation_size and validation_size >= len(x)):
        raise DataError(f"validation size {validation_size} must be in [0, {len(x)})")
    order = np.random.default_rng(split_seed).permutation(len(x))
    val_idx, train_idx = np.sort(order[:validation_size]), np.sort(order[validation_size:])
    if train_limit is not None:
        train_idx = train_idx[:train_limit]
    if validation_size == 0 and train_limit is None:
        train_idx = slice(None)  # all of it: use the array itself, no 47 MB copy
    return Dataset(
        name=name,
        x_train=x[train_idx], y_train=y[train_idx],
        x_val=x[val_idx], y_val=y[val_idx],
        x_test=x_test, y_test=y_test,
        classes=classes,
        source=str(folder),
        unverified=tuple(unverified or ()),
    )


def unverified_note(data: Dataset) -> str:
    """The one-line note for files used although they are not the dataset's known ones."""
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
