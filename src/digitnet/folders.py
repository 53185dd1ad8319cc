"""Folders of your own digit pictures: one subfolder per class.

    my-digits/
        0/  zero-1.png  zero-2.jpg ...
        1/  ...
        ...
        9/  ...

The subfolder names are the labels (``0``..``9``, read as integers when they
all are, or any names). Every picture goes through exactly what ``digitnet
predict`` does to it (:func:`digitnet.preprocess.image_to_input`), so a
network trained or fine-tuned here reads new pictures the same way. A picture
that cannot be read is skipped and named, never losing the others.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .errors import DataError, ImageError
from .preprocess import image_to_input

PICTURE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp")


@dataclass
class Pictures:
    """The pictures of a class-per-subfolder folder, as network inputs.

    Attributes
    ----------
    images : ndarray of uint8, shape (n, 784)
        Each picture as MNIST-like 28x28 pixels, flattened.
    labels : list, length n
        The subfolder name of each (ints when every name is an integer).
    skipped : list of str
        One line per picture that could not be read, with the reason.
    """

    images: np.ndarray
    labels: list
    skipped: list[str] = field(default_factory=list)


def is_picture_folder(path: str | Path) -> bool:
    """Whether ``path`` is a folder with at least one subfolder holding pictures."""
    path = Path(path)
    return path.is_dir() and any(sub.is_dir() and not sub.name.startswith((".", "__")) and any(_pictures(sub))
                                 for sub in path.iterdir())


def read_picture_folder(folder: str | Path) -> Pictures:
    """Read every picture of every class subfolder of ``folder``.

    Raises
    ------
    DataError
        No class subfolders with pictures, or no picture readable at all.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise DataError(f"{folder}: folder not found")
    # Hidden folders (.ipynb_checkpoints, .git) and __pycache__ are never classes.
    subfolders = sorted(sub for sub in folder.iterdir()
                        if sub.is_dir() and not sub.name.startswith((".", "__")) and any(_pictures(sub)))
    if not subfolders:
        raise DataError(f"{folder}: no class subfolders with pictures (expected 0/ 1/ ... 9/ of "
                        f"{', '.join(PICTURE_SUFFIXES)} files)")
    names = [sub.name for sub in subfolders]
    as_ints = all(name.lstrip("-").isdigit() for name in names)
    rows, labels, skipped = [], [], []
    for sub in subfolders:
        label = int(sub.name) if as_ints else sub.name
        for path in sorted(_pictures(sub)):
            try:
                x = image_to_input(path)                     # (784,) float32 in [0, 1]
            except ImageError as err:
                skipped.append(str(err))
                continue
            rows.append(np.round(x * 255).astype(np.uint8))
            labels.append(label)
    if not rows:
        raise DataError(f"{folder}: none of its pictures could be read (first: {skipped[0]})")
    return Pictures(np.stack(rows), labels, skipped)


def _pictures(folder: Path):
    """The pictures in ``folder`` and its subfolders (a class may be sorted further), hidden ones skipped."""
    return (p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in PICTURE_SUFFIXES
            and not any(part.startswith(".") for part in p.relative_to(folder).parts))
