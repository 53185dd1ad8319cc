"""Checking what a user hands in: feature arrays and labels.

One rule for every public entry (``fit``, ``predict``, ``evaluate``...):
``X`` is ``(n_samples, n_features)`` and either

* ``uint8`` pixels, scaled to ``[0, 1]`` by ``x / 255``, or
* floats, used exactly as given (no second scaling).

Anything else is an :class:`~digitnet.errors.InputError` (a ``ValueError``)
that names the problem. Checks happen here, at the entry; the layers trust
what they get.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from .errors import InputError


def check_features(X: Any, n_features: int | None = None, name: str = "X") -> np.ndarray:
    """Return ``X`` as a 2-d uint8 or float array, or raise :class:`InputError`.

    Parameters
    ----------
    X : array-like, shape (n_samples, n_features)
        uint8 pixels or floats; lists are converted.
    n_features : int, optional
        What a trained network expects; a different width is an error.
    name : str
        How the array is called in error messages.

    Returns
    -------
    ndarray
        ``X`` itself when it already is such an array (never a modified copy).

    Raises
    ------
    InputError
        Wrong number of dimensions, wrong width, an unsupported dtype, an
        empty array, NaN or infinite values.
    """
    X = np.asarray(X)
    if X.ndim != 2:
        raise InputError(f"{name} must be 2-d (n_samples, n_features), got shape {X.shape}; "
                         "flatten images first, e.g. X.reshape(len(X), -1)")
    if X.dtype != np.uint8 and X.dtype.kind != "f":
        raise InputError(f"{name} has dtype {X.dtype}: pass uint8 pixels (0-255, scaled by 1/255) "
                         "or floats (used as given), e.g. X.astype(np.float32)")
    if X.shape[0] == 0:
        raise InputError(f"{name} has no samples (shape {X.shape})")
    if n_features is not None and X.shape[1] != n_features:
        raise InputError(f"{name} has {X.shape[1]} features per sample, the network expects {n_features}")
    if X.dtype.kind == "f" and not np.isfinite(X).all():
        raise InputError(f"{name} holds NaN or infinite values")
    return X


def to_float(X: np.ndarray, dtype, out: np.ndarray | None = None) -> np.ndarray:
    """Checked ``X`` as floats of ``dtype``: uint8 scaled by 1/255, floats as given.

    Parameters
    ----------
    X : ndarray, shape (n, d), uint8 or float
    dtype : float32 or float64
    out : ndarray, optional
        Where to write (training reuses one); otherwise a new array, or ``X``
        itself when it already has ``dtype``.
    """
    if X.dtype == np.uint8:
        if out is None:
            out = np.empty(X.shape, dtype=dtype)
        out[...] = X            # convert, then scale in place: faster than a
        out *= 1.0 / 255.0      # mixed uint8 x float multiply
        return out
    if out is None:
        return X.astype(dtype, copy=False)
    out[...] = X
    return out


def encode_labels(y: Any, classes: Sequence | None = None, name: str = "y") -> tuple[np.ndarray, list]:
    """Map labels (any integers or strings) to class indices 0..K-1.

    Parameters
    ----------
    y : array-like, shape (n_samples,)
    classes : sequence, optional
        The known classes (a trained network's); new labels are an error.
        When None, the sorted distinct values of ``y``.

    Returns
    -------
    indices : ndarray of int64, shape (n_samples,)
    classes : list
        Plain Python ints or strings (JSON-ready), in index order.

    Raises
    ------
    InputError
        ``y`` not 1-d, empty, mixed types, NaN, or a label outside ``classes``.
    """
    y = np.asarray(y)
    if y.ndim != 1:
        raise InputError(f"{name} must be 1-d (n_samples,), got shape {y.shape}")
    if y.size == 0:
        raise InputError(f"{name} is empty")
    if y.dtype.kind == "f":
        if not np.isfinite(y).all() or not np.all(y == np.round(y)):
            raise InputError(f"{name} holds non-integer numbers; labels are integers or strings")
        y = y.astype(np.int64)
    if y.dtype.kind == "O":   # pandas columns, lists of mixed objects
        values = [v.item() if isinstance(v, np.generic) else v for v in y.tolist()]
        kinds = {type(v) for v in values}
        if bytes in kinds:
            raise InputError(f"{name} holds bytes; labels are integers, strings or booleans "
                             "(decode bytes first)")
        if not (kinds <= {str} or kinds <= {int} or kinds <= {bool}):
            raise InputError(f"{name} mixes label types {sorted(k.__name__ for k in kinds)}; "
                             "labels are all integers or all strings")
        y = np.asarray(values)
    if y.dtype.kind not in "biuU":
        raise InputError(f"{name} has dtype {y.dtype}; labels are integers, strings or booleans"
                         + (" (decode bytes first)" if y.dtype.kind == "S" else ""))
    if classes is None:
        classes = np.unique(y).tolist()
    lookup = {c: i for i, c in enumerate(classes)}
    try:
        indices = np.fromiter((lookup[v] for v in y.tolist()), dtype=np.int64, count=len(y))
    except KeyError as err:
        raise InputError(f"{name} holds label {err.args[0]!r}, not one of the network's classes "
                         f"{list(classes)[:12]}") from None
    return indices, list(classes)


def check_sample_weight(weights: Any, n_samples: int, name: str = "sample_weight") -> np.ndarray:
    """Sample weights as float64 (n_samples,) scaled to mean 1, or raise :class:`InputError`.

    ``weights`` is array-like (n_samples,), or one number for all samples.

    Scaling to mean 1 keeps the learning rate's meaning: weights of all
    ones, or all twos, train exactly as no weights (see :mod:`digitnet.losses`).

    Raises
    ------
    InputError
        Not 1-d, the wrong length, not numbers, NaN or infinite, negative,
        or all zero.
    """
    try:
        w = np.asarray(weights, dtype=np.float64)
    except (TypeError, ValueError):
        raise InputError(f"{name} must hold numbers") from None
    if w.ndim == 0:   # one number for every sample, as scikit-learn allows
        w = np.full(n_samples, float(w))
    if w.ndim != 1 or len(w) != n_samples:
        raise InputError(f"{name} must have shape ({n_samples},), got {w.shape}")
    if not np.isfinite(w).all():
        raise InputError(f"{name} holds NaN or infinite values")
    if (w < 0).any():
        raise InputError(f"{name} holds negative values")
    total = w.sum()
    if total <= 0:
        raise InputError(f"{name} is all zero: no example would count")
    return w * (n_samples / total)
