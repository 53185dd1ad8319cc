"""The Python API for any arrays: ``fit``, ``evaluate``, and the data they build.

    >>> import digitnet as dn
    >>> net = dn.fit(X, y, hidden=(64,), epochs=20)     # X (n, d): uint8 pixels or floats
    >>> net.predict(X_new)                               # labels, as in y
    >>> dn.evaluate(net, X_test, y_test)["test_accuracy"]

Input rules are those of :mod:`digitnet.inputs`; training is
:func:`digitnet.train.train`, the same loop the command line runs.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from .config import TrainConfig
from .data import Dataset
from .errors import ConfigError, InputError
from .hooks import Hook
from .inputs import check_features, check_sample_weight, encode_labels
from .metrics import classification_report, risk_coverage
from .model import Network
from .train import train


def fit(X: Any, y: Any, config: TrainConfig | None = None, *, model: Network | list | None = None,
        validation_data: tuple[Any, Any] | None = None, hooks: Sequence[Hook] = (),
        sample_weight: Any = None, verbose: bool = False, **overrides: Any) -> Network:
    """Train a network on any arrays and return it.

    Parameters
    ----------
    X : array-like, shape (n_samples, n_features)
        uint8 pixels (scaled by 1/255) or floats (used as given).
    y : array-like, shape (n_samples,)
        Labels: any integers or strings; the network's ``classes`` are their
        sorted distinct values.
    config : TrainConfig, optional
        Default: :class:`TrainConfig` with no hold-out and no early stopping
        (``validation_size=0, patience=None``).
    model : Network or list of layers, optional
        A network to train (``build_mlp``, ``Network([...])`` or a plain list
        of layers); a trained one continues, keeping its classes.
    validation_data : (X_val, y_val), optional
        Evaluated after each epoch; enables early stopping (``patience``).
    hooks : sequence of Hook
    sample_weight : array-like, shape (n_samples,), optional
        How much each example counts in the loss (non-negative; scaled to
        mean 1, so only ratios matter; see :mod:`digitnet.losses`).
    verbose : bool
        Print one line per epoch.
    **overrides
        Any :class:`TrainConfig` field, e.g. ``hidden=(64,)``, ``epochs=20``, ``lr=1e-2``.

    Returns
    -------
    Network
        Trained, with ``history`` (one dict per epoch) and ``classes``.

    Raises
    ------
    InputError
        Bad arrays (see :func:`digitnet.inputs.check_features`).
    ConfigError
        An unknown or out-of-range setting.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> X, y = rng.normal(size=(200, 20)), rng.choice(["a", "b", "c"], 200)
    >>> net = fit(X, y, hidden=(16,), epochs=2)
    >>> net.predict(X[:3]).shape
    (3,)
    """
    config = TrainConfig.from_dict({**(config or TrainConfig(validation_size=0, patience=None)).to_dict(),
                                    "dataset": "arrays", **overrides})
    if isinstance(model, (list, tuple)):
        model = Network(model)
    if config.patience is not None and validation_data is None and not config.validation_size:
        raise ConfigError("patience (early stopping) watches the validation loss: pass "
                          "validation_data=(X_val, y_val) or validation_size=N, or patience=None")
    shape = sorted(set(overrides) & {"hidden", "dropout", "input_dropout", "dtype"})
    if model is not None and shape:
        raise ConfigError(f"{', '.join(shape)} describe a network to build; with model= the "
                          "network is given (build it with those settings instead)")
    # A network that has been trained keeps its classes (new labels are an
    # error); a new one, built by hand, takes them from y.
    classes = model.classes if model is not None and model.history else None
    data = arrays_dataset(X, y, validation_data, config.validation_size, classes, sample_weight)
    return train(config, data, hooks, model=model, log=print if verbose else None).model


def evaluate(model: Network, X: Any, y: Any) -> dict:
    """Accuracy with a 95% Wilson interval, per-class scores and the confusion matrix.

    Parameters
    ----------
    model : Network
    X : array-like, shape (n_samples, n_features)
        uint8 pixels or floats, as for :meth:`Network.predict`.
    y : array-like, shape (n_samples,)
        True labels, from ``model.classes``.

    Returns
    -------
    dict
        ``test_accuracy``, ``accuracy_ci95``, ``correct``, ``total``,
        ``macro_f1``, ``per_class``, ``confusion_matrix`` (rows: true class);
        see :func:`digitnet.metrics.classification_report`.

    Raises
    ------
    InputError
        Bad arrays, a length mismatch, or a label the network does not know.
    """
    X = check_features(X, model.n_features_in)
    indices = model.encode(y)
    if len(indices) != len(X):
        raise InputError(f"X has {len(X)} samples but y has {len(indices)} labels")
    return evaluate_indices(model, X, indices)[0]


def evaluate_indices(model: Network, X: np.ndarray, indices: np.ndarray,
                     classes: Sequence | None = None) -> tuple[dict, np.ndarray]:
    """:func:`evaluate` for labels given as indices into ``classes``; also returns the probabilities.

    ``classes`` (a dataset's, e.g. ``Dataset.classes``) default to the
    model's own; other ones are mapped onto the model's (:func:`class_map`).
    """
    if classes is not None:
        indices = class_map(model, classes)[indices]
    probs = model.predict_proba(X)  # (N, K)
    predicted = probs.argmax(axis=1)
    report = classification_report(indices, predicted, model.classes)
    report["risk_coverage"] = risk_coverage(probs.max(axis=1), predicted == indices)
    return report, probs


def class_map(model: Network, classes: Sequence) -> np.ndarray:
    """For each of a dataset's ``classes``, the index of the same label in ``model.classes``.

    Raises
    ------
    InputError
        If the model does not know one of the classes (it was trained on other labels).
    """
    known = {c: i for i, c in enumerate(model.classes)}
    # Folder names are strings: "7" is the network's 7 when no class is spelled "7" itself.
    spelled = {str(c): i for i, c in enumerate(model.classes)}
    found = [known.get(c, spelled.get(str(c))) for c in classes]
    missing = [c for c, i in zip(classes, found) if i is None]
    if missing:
        raise InputError(f"the network's classes {list(model.classes)[:12]} do not include the "
                         f"data's class {missing[0]!r}: it was trained on other labels")
    return np.array(found, dtype=np.int64)


def arrays_dataset(X: Any, y: Any, validation_data: tuple[Any, Any] | None = None,
                   validation_size: int = 0, classes: Sequence | None = None,
                   sample_weight: Any = None) -> Dataset:
    """Check arrays and wrap them as a :class:`Dataset` (name ``"arrays"``, no test part).

    ``validation_size`` rows are held out of ``X`` (a seeded permutation)
    unless ``validation_data`` is given. ``sample_weight`` (n_samples,), if
    given, is checked and scaled to mean 1 over the rows kept for training.
    """
    X = check_features(X)
    y_idx, classes = encode_labels(y, classes)
    if len(y_idx) != len(X):
        raise InputError(f"X has {len(X)} samples but y has {len(y_idx)} labels")
    if validation_data is not None:
        X_val = check_features(validation_data[0], X.shape[1], name="X_val")
        y_val = encode_labels(validation_data[1], classes, name="y_val")[0]
        if len(y_val) != len(X_val):
            raise InputError(f"X_val has {len(X_val)} samples but y_val has {len(y_val)} labels")
    elif validation_size:
        if not 0 < validation_size < len(X):
            raise InputError(f"validation size {validation_size} must be below the {len(X)} samples")
        order = np.random.default_rng(0).permutation(len(X))
        held, kept = np.sort(order[:validation_size]), np.sort(order[validation_size:])
        X, y_idx, X_val, y_val = X[kept], y_idx[kept], X[held], y_idx[held]
        if sample_weight is not None:
            sample_weight = check_sample_weight(sample_weight, len(order))[kept]
    else:
        X_val, y_val = X[:0], y_idx[:0]
    w = None if sample_weight is None else check_sample_weight(sample_weight, len(X))
    return Dataset(name="arrays", x_train=X, y_train=y_idx, x_val=X_val, y_val=y_val,
                   x_test=X[:0], y_test=y_idx[:0], classes=tuple(classes), source="arrays",
                   w_train=w)
