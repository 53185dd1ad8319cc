"""digitnet as a scikit-learn classifier: ``Pipeline``, ``GridSearchCV``, ``cross_val_score``.

    >>> from digitnet.estimator import DigitnetClassifier
    >>> clf = DigitnetClassifier(hidden=(64,), epochs=20, random_state=0).fit(X, y)
    >>> clf.predict(X_new); clf.predict_proba(X_new); clf.score(X_test, y_test)

Needs ``pip install 'digitnet[sklearn]'`` (scikit-learn >= 1.6). Training is
digitnet's own loop (:class:`digitnet.train.Trainer`), the one the command
line runs; this module only translates scikit-learn's conventions: constructor
parameters that ``fit`` reads, fitted attributes ending in ``_``, ``random_state``,
``sample_weight``, ``warm_start``, ``partial_fit`` and early stopping on a
held-out ``validation_fraction`` scored by accuracy, as
:class:`sklearn.neural_network.MLPClassifier` does.

Inputs follow :mod:`digitnet.inputs`: ``uint8`` pixels are scaled by 1/255,
other numbers are used as given (so scale them, e.g. with ``StandardScaler``).
"""

from __future__ import annotations

import copy
import dataclasses
import math
import numbers
from pathlib import Path
from typing import Any

import numpy as np

try:
    from sklearn.base import BaseEstimator, ClassifierMixin
    from sklearn.model_selection import train_test_split
    from sklearn.utils import check_random_state
    from sklearn.utils.multiclass import check_classification_targets
    from sklearn.utils.validation import check_is_fitted, validate_data
except ImportError as err:   # pragma: no cover - depends on the installation
    raise ImportError("DigitnetClassifier needs scikit-learn >= 1.6: "
                      "pip install 'digitnet[sklearn]'") from err

from .config import TrainConfig, preset
from .data import Dataset
from .hooks import DivergenceCheck, EarlyStopping, EpochLog, Hook, MaxNorm
from .inputs import check_sample_weight
from .layers import Dense
from .losses import log_softmax
from .model import Network
from .modelfile import load_model, save_model
from .train import Trainer

# The TrainConfig fields that are constructor parameters, under the same names.
CONFIG_PARAMS = ("hidden", "epochs", "batch_size", "optimizer", "lr", "momentum", "weight_decay",
                 "dropout", "input_dropout", "schedule", "warmup_epochs", "label_smoothing",
                 "max_norm", "adversarial", "augment", "dtype")
_DEFAULT = TrainConfig()
# X as digitnet takes it: uint8 pixels kept (scaled by 1/255 later), anything else as float64.
_DTYPES = [np.float64, np.float32, np.uint8]


class DigitnetClassifier(ClassifierMixin, BaseEstimator):
    """A multi-layer perceptron trained by digitnet, with scikit-learn's interface.

    Parameters
    ----------
    hidden, epochs, batch_size, optimizer, lr, momentum, weight_decay, dropout, \
input_dropout, schedule, warmup_epochs, label_smoothing, max_norm, adversarial, augment, dtype
        As in :class:`digitnet.TrainConfig` (same names, same defaults).
    early_stopping : bool, default=False
        Hold out ``validation_fraction`` of the training data (stratified),
        stop when its accuracy has not improved by ``tol`` for
        ``n_iter_no_change`` epochs, and keep the best epoch's weights.
    validation_fraction : float, default=0.1
        The share held out when ``early_stopping``.
    n_iter_no_change : int, default=10
        Epochs without improvement before stopping. Without early stopping,
        training also stops when the training loss has not fallen by ``tol``
        for this many epochs (scikit-learn's rule).
    tol : float, default=1e-4
        The smallest change that counts as an improvement.
    warm_start : bool, default=False
        ``fit`` continues from the fitted weights (with a fresh optimizer)
        instead of starting anew.
    random_state : int, RandomState instance or None, default=None
        Seeds the initial weights, the shuffling, dropout and the validation
        split. An int gives bit-identical results on one machine at one BLAS
        thread count.
    verbose : bool, default=False
        Print one line per epoch.

    Attributes
    ----------
    network_ : digitnet.Network
        The trained network itself.
    classes_ : ndarray, shape (n_classes,)
    n_features_in_ : int
    feature_names_in_ : ndarray of str, shape (n_features_in_,)
        Only when ``X`` had string column names (a pandas DataFrame).
    loss_curve_ : list of float
        Mean training loss of each epoch (all fits of a warm start).
    validation_scores_ : list of float or None
        Validation accuracy of each epoch, when ``early_stopping``.
    best_validation_score_ : float or None
    best_loss_ : float or None
        The lowest training loss, when not ``early_stopping``.
    n_iter_ : int
        Epochs run by the last ``fit`` (``partial_fit``: in all its calls).
    coefs_, intercepts_ : list of ndarray
        Weight matrices ``(fan_in, fan_out)`` and bias vectors ``(fan_out,)``
        of the Dense layers, in scikit-learn's ``MLPClassifier`` layout.

    Raises
    ------
    ValueError
        (:class:`digitnet.ConfigError` or :class:`digitnet.InputError`) for
        bad parameters or inputs, from ``fit``, as scikit-learn expects.

    Notes
    -----
    ``alpha`` in ``MLPClassifier`` is an L2 penalty added to the loss and
    divided by the number of samples; ``weight_decay`` here is the
    coefficient on the weights in each update (``AdamW``-style for
    ``optimizer="adamw"``); see the README's table.
    """

    def __init__(self, hidden=_DEFAULT.hidden, epochs=_DEFAULT.epochs, batch_size=_DEFAULT.batch_size,
                 optimizer=_DEFAULT.optimizer, lr=_DEFAULT.lr, momentum=_DEFAULT.momentum,
                 weight_decay=_DEFAULT.weight_decay, dropout=_DEFAULT.dropout,
                 input_dropout=_DEFAULT.input_dropout, schedule=_DEFAULT.schedule,
                 warmup_epochs=_DEFAULT.warmup_epochs, label_smoothing=_DEFAULT.label_smoothing,
                 max_norm=_DEFAULT.max_norm, adversarial=_DEFAULT.adversarial, augment=_DEFAULT.augment,
                 dtype=_DEFAULT.dtype, early_stopping=False, validation_fraction=0.1,
                 n_iter_no_change=10, tol=1e-4, warm_start=False, random_state=None, verbose=False):
        self.hidden = hidden
        self.epochs = epochs
        self.batch_size = batch_size
        self.optimizer = optimizer
        self.lr = lr
        self.momentum = momentum
        self.weight_decay = weight_decay
        self.dropout = dropout
        self.input_dropout = input_dropout
        self.schedule = schedule
        self.warmup_epochs = warmup_epochs
        self.label_smoothing = label_smoothing
        self.max_norm = max_norm
        self.adversarial = adversarial
        self.augment = augment
        self.dtype = dtype
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.n_iter_no_change = n_iter_no_change
        self.tol = tol
        self.warm_start = warm_start
        self.random_state = random_state
        self.verbose = verbose

    @classmethod
    def from_preset(cls, name: str, **overrides: Any) -> DigitnetClassifier:
        """A classifier with a named preset's settings (``"quick"``, ``"best"``...), then ``overrides``.

        Raises
        ------
        ConfigError
            An unknown preset.
        TypeError
            An unknown parameter in ``overrides``.
        """
        config = preset(name)
        return cls(**{**{field: getattr(config, field) for field in CONFIG_PARAMS}, **overrides})

    # -- training ------------------------------------------------------------

    def fit(self, X, y, sample_weight=None) -> DigitnetClassifier:
        """Train for ``epochs`` epochs (fewer if stopped early).

        Parameters
        ----------
        X : array-like, shape (n_samples, n_features)
        y : array-like, shape (n_samples,)
            Any labels scikit-learn classifiers take.
        sample_weight : array-like, shape (n_samples,), optional
            How much each example counts in the loss (only ratios matter).
        """
        self._check_params()
        continuing = self.warm_start and hasattr(self, "network_")
        if continuing:
            self._check_same_network()
        X, y = validate_data(self, X, y, reset=not continuing, dtype=_DTYPES)
        check_classification_targets(y)
        if continuing:
            classes = self.classes_
            if not np.isin(np.unique(y), classes).all():
                raise ValueError(f"warm_start needs the classes of the previous fit {classes.tolist()}; "
                                 f"y has {np.setdiff1d(np.unique(y), classes).tolist()[:5]} too")
        else:
            classes = np.unique(y)
        if len(classes) < 2:
            raise ValueError(f"DigitnetClassifier needs samples of at least 2 classes; got 1 class "
                             f"({classes.tolist()[0]!r})")
        config = self._config(self._seed())
        data = self._dataset(X, y, classes, sample_weight, config.seed)
        hooks: list[Hook] = [EarlyStopping(self.n_iter_no_change, monitor="val_accuracy", min_delta=self.tol)
                             if self.early_stopping else
                             EarlyStopping(self.n_iter_no_change, monitor="train_loss", min_delta=self.tol,
                                           restore_best=False)]
        trainer = Trainer(config, data, self._hooks(config, hooks), self.network_ if continuing else None)
        result = trainer.run()
        self._set_fitted(result.model, classes, len(result.history))
        self._trainer: Trainer | None = None
        self._loop: dict | None = None
        return self

    def partial_fit(self, X, y, classes=None, sample_weight=None) -> DigitnetClassifier:
        """One epoch over ``(X, y)``, continuing the optimizer, the generator and the steps.

        Calling it ``k`` times on the same data gives exactly the weights of
        ``fit`` with ``epochs=k`` and ``schedule="constant"``: partial_fit
        always uses the constant learning rate ``lr`` (a schedule needs the
        run's length, which partial_fit does not know).

        Parameters
        ----------
        classes : array-like, shape (n_classes,)
            Every class of all calls: needed on the first call.

        Raises
        ------
        ValueError
            ``classes`` missing on the first call or different later, a label
            outside them, or ``early_stopping=True``.
        """
        self._check_params()
        if self.early_stopping:
            raise ValueError("partial_fit does not support early_stopping=True")
        trainer: Trainer | None = getattr(self, "_trainer", None)
        first = trainer is None and getattr(self, "_loop", None) is None
        if first and not hasattr(self, "network_") and classes is None:
            raise ValueError("classes must be passed on the first call to partial_fit")
        X, y = validate_data(self, X, y, reset=not hasattr(self, "network_"), dtype=_DTYPES)
        check_classification_targets(y)
        if classes is not None:
            classes = np.unique(classes)
            if len(classes) < 2:
                raise ValueError(f"DigitnetClassifier needs at least 2 classes; got {classes.tolist()}")
            if hasattr(self, "classes_") and not np.array_equal(classes, self.classes_):
                raise ValueError(f"classes {classes.tolist()[:12]} differ from the earlier "
                                 f"{self.classes_.tolist()[:12]}")
        else:
            classes = self.classes_
        unknown = np.setdiff1d(np.unique(y), classes)
        if len(unknown):
            raise ValueError(f"y holds {unknown.tolist()[:5]}, not among the classes {classes.tolist()[:12]}")
        if first:
            config = dataclasses.replace(self._config(self._seed()), epochs=1, schedule="constant",
                                         warmup_epochs=0.0)
            data = self._dataset(X, y, classes, sample_weight, config.seed, hold_out=False)
            trainer = Trainer(config, data, self._hooks(config, []), getattr(self, "network_", None))
            result = trainer.run()
            self.n_iter_ = getattr(self, "n_iter_", 0)   # after a fit, the count goes on
        else:
            data = self._dataset(X, y, classes, sample_weight, 0, hold_out=False)
            if trainer is None:     # a copy made mid-way: rebuild the loop from its state
                trainer = self._rebuild_loop(data)
            result = trainer.train_more(data)
        self._trainer, self._loop = trainer, None
        self._set_fitted(result.model, classes, self.n_iter_ + 1)
        return self

    def _check_params(self) -> None:
        """Types and ranges of the parameters, as scikit-learn checks them in ``fit`` (ValueError).

        The ranges of the configuration's own fields are :meth:`TrainConfig.validate`'s.
        """
        for name, least in (("epochs", 1), ("batch_size", 0), ("n_iter_no_change", 1)):
            value = getattr(self, name)
            if not _is_int(value) or value < least:
                raise ValueError(f"{name} must be an integer >= {least}, got {value!r}")
        for name in ("lr", "momentum", "weight_decay", "dropout", "input_dropout", "warmup_epochs",
                     "label_smoothing", "max_norm", "adversarial", "tol", "validation_fraction"):
            value = getattr(self, name)
            if not (isinstance(value, numbers.Real) and not isinstance(value, (bool, np.bool_))
                    and math.isfinite(value)):
                raise ValueError(f"{name} must be a finite number, got {value!r}")
        if self.tol < 0:
            raise ValueError(f"tol must be >= 0, got {self.tol!r}")
        if not 0 < self.validation_fraction < 1:
            raise ValueError(f"validation_fraction must be between 0 and 1, got {self.validation_fraction!r}")
        for name in ("early_stopping", "warm_start"):
            if not isinstance(getattr(self, name), (bool, np.bool_)):
                raise ValueError(f"{name} must be True or False, got {getattr(self, name)!r}")
        if not isinstance(self.verbose, (bool, np.bool_)) and not _is_int(self.verbose):
            raise ValueError(f"verbose must be True, False or an integer, got {self.verbose!r}")
        _sizes(self.hidden)
        _dtype_name(self.dtype)

    def _check_same_network(self) -> None:
        """warm_start trains the fitted network: parameters describing another one are an error."""
        fitted = (self.network_.sizes[1:-1], self.network_.dtype.name)
        asked = (_sizes(self.hidden), _dtype_name(self.dtype))
        if asked != fitted:
            raise ValueError(f"warm_start continues the fitted network (hidden={fitted[0]}, "
                             f"dtype={fitted[1]}), not hidden={asked[0]}, dtype={asked[1]}; "
                             "set warm_start=False to train a new one")

    def _seed(self) -> int:
        """An int seed from ``random_state`` (None: a fresh one from NumPy's global generator)."""
        if isinstance(self.random_state, numbers.Integral) and int(self.random_state) >= 0:
            return int(self.random_state)
        return int(check_random_state(self.random_state).randint(np.iinfo(np.int32).max))

    def _config(self, seed: int) -> TrainConfig:
        values = {name: getattr(self, name) for name in CONFIG_PARAMS}
        values["hidden"], values["dtype"] = _sizes(values["hidden"]), _dtype_name(values["dtype"])
        values.update({name: int(values[name]) for name in ("epochs", "batch_size")})
        return TrainConfig.from_dict({**values, "dataset": "arrays", "validation_size": 0,
                                      "patience": None, "seed": seed, "preset": "custom"})

    def _dataset(self, X, y, classes, sample_weight, seed: int, hold_out: bool | None = None) -> Dataset:
        """The training set as class indices, with the validation split when early stopping."""
        y_idx = np.searchsorted(classes, y)
        w = None if sample_weight is None else check_sample_weight(sample_weight, len(X))
        X_val, y_val = X[:0], y_idx[:0]
        if self.early_stopping if hold_out is None else hold_out:
            try:   # scikit-learn's splitter takes seeds below 2**32
                parts = train_test_split(X, y_idx, *([] if w is None else [w]), random_state=seed % 2**32,
                                         test_size=self.validation_fraction, stratify=y_idx)
            except ValueError as err:   # too few samples to hold out some of every class
                raise ValueError(f"early_stopping cannot hold out validation_fraction="
                                 f"{self.validation_fraction} of {len(X)} samples with some of each of "
                                 f"the {len(classes)} classes ({err})") from None
            X, X_val, y_idx, y_val = parts[:4]
            if w is not None:
                w = check_sample_weight(parts[4], len(X))
            if len(X_val) < 2:
                raise ValueError(f"the validation set is too small ({len(X_val)} samples): raise "
                                 "validation_fraction or pass more data")
        return Dataset(name="arrays", x_train=X, y_train=y_idx, x_val=X_val, y_val=y_val, x_test=X[:0],
                       y_test=y_idx[:0], classes=tuple(classes.tolist()), source="arrays", w_train=w)

    def _hooks(self, config: TrainConfig, extra: list[Hook]) -> list[Hook]:
        hooks: list[Hook] = [DivergenceCheck()]
        if config.max_norm:
            hooks.append(MaxNorm(config.max_norm))
        if self.verbose > 0:
            hooks.append(EpochLog(print))
        return hooks + extra

    def _set_fitted(self, network: Network, classes: np.ndarray, n_iter: int) -> None:
        network.classes = classes.tolist()
        self.network_, self.classes_, self.n_iter_ = network, classes, n_iter
        history = network.history
        self.loss_curve_ = [h["train_loss"] for h in history]
        self.validation_scores_: list[float] | None
        self.best_validation_score_: float | None
        self.best_loss_: float | None
        if self.early_stopping:   # epochs of an earlier fit without early stopping have none
            self.validation_scores_ = [h["val_accuracy"] for h in history if h["val_accuracy"] is not None]
            self.best_validation_score_ = max(self.validation_scores_)
            self.best_loss_ = None
        else:
            self.validation_scores_ = self.best_validation_score_ = None
            self.best_loss_ = min(self.loss_curve_) if self.loss_curve_ else None

    # -- prediction ----------------------------------------------------------

    def predict_proba(self, X) -> np.ndarray:
        """Class probabilities, shape (n_samples, n_classes), columns in ``classes_`` order."""
        return np.exp(self.predict_log_proba(X))

    def predict_log_proba(self, X) -> np.ndarray:
        """Log-probabilities (n_samples, n_classes): the log-softmax of the logits, never log(0)."""
        return log_softmax(self._logits(X).astype(np.float64))

    def _logits(self, X) -> np.ndarray:
        """The network's logits, (n_samples, n_classes). Not ``decision_function``: scikit-learn
        expects that to give one column for two classes."""
        check_is_fitted(self)
        X = validate_data(self, X, reset=False, dtype=_DTYPES)
        return self.network_.logits(X)

    def predict(self, X) -> np.ndarray:
        """The most probable class of each sample, shape (n_samples,), from ``classes_``."""
        best = self._logits(X).argmax(axis=1)   # first: it checks that the classifier is fitted
        return self.classes_[best]

    @property
    def coefs_(self) -> list[np.ndarray]:
        check_is_fitted(self)
        return [layer.params["W"] for layer in self.network_.layers if isinstance(layer, Dense)]

    @property
    def intercepts_(self) -> list[np.ndarray]:
        check_is_fitted(self)
        return [layer.params["b"] for layer in self.network_.layers if isinstance(layer, Dense)]

    # -- files, copies, tags -------------------------------------------------

    def save(self, path: str | Path) -> Path:
        """Write the fitted network to a digitnet model file (``digitnet predict`` reads it too).

        The parameters and feature names are kept in its metadata; :meth:`load` reads them back.

        Raises
        ------
        ValueError
            Float class labels (a model file holds integers, booleans or strings).
        """
        check_is_fitted(self)
        if self.classes_.dtype.kind not in "biuUO":
            raise ValueError(f"classes_ are {self.classes_.dtype} ({self.classes_.tolist()[:4]}...): a "
                             "digitnet model file holds integer, boolean or string labels; "
                             "fit on y.astype(int)")
        # JSON: NumPy scalars as Python numbers; a RandomState instance is not kept.
        params = {k: _plain(v) for k, v in self.get_params().items()
                  if k != "random_state" or isinstance(v, (numbers.Integral, type(None)))}
        params["hidden"], params["dtype"] = list(_sizes(self.hidden)), _dtype_name(self.dtype)
        meta: dict[str, Any] = {"estimator": {"class": type(self).__name__, "params": params}}
        if hasattr(self, "feature_names_in_"):
            meta["estimator"]["feature_names_in"] = self.feature_names_in_.tolist()
        return save_model(path, self.network_, meta)

    @classmethod
    def load(cls, path: str | Path) -> DigitnetClassifier:
        """A fitted classifier from a model file (written by :meth:`save`, ``digitnet train`` or ``fit``).

        Raises
        ------
        ModelFileError
            Missing, corrupt or not a digitnet model.
        """
        network, meta = load_model(path)
        saved: dict = meta["estimator"] if isinstance(meta.get("estimator"), dict) else {}
        if isinstance(saved.get("params"), dict):
            params = dict(saved["params"])
        else:   # trained by `digitnet train` or digitnet.fit: its configuration, else its shape
            config: dict = meta["config"] if isinstance(meta.get("config"), dict) else {}
            params = {k: config[k] for k in CONFIG_PARAMS if k in config}
            params.setdefault("hidden", network.sizes[1:-1])
            params.setdefault("dtype", network.dtype.name)
        if "hidden" in params:
            params["hidden"] = _sizes(params["hidden"])
        clf = cls(**params)
        clf._set_fitted(network, np.asarray(network.classes), len(network.history))
        clf.n_features_in_ = network.n_features_in
        if "feature_names_in" in saved:
            clf.feature_names_in_ = np.asarray(saved["feature_names_in"], dtype=object)
        return clf

    def __getstate__(self) -> dict:
        # A partial_fit in progress holds the loop, whose closures do not
        # pickle: a copy keeps the loop's state instead (optimizer memory,
        # generator, counters) and rebuilds it on its next partial_fit, so it
        # goes on exactly as the original does. A new dict: BaseEstimator's may
        # be the instance's own, and the original keeps its loop.
        state = dict(super().__getstate__())
        trainer = state.pop("_trainer", None)
        if trainer is not None:
            state["_loop"] = {"config": trainer.config, "optimizer": trainer.optimizer.state_dict(),
                              "rng": trainer.rng.bit_generator.state, "state": trainer.state,
                              "earlier": trainer.earlier}
        return state

    def _rebuild_loop(self, data: Dataset) -> Trainer:
        """The loop of a partial_fit that a copy carried as state (see ``__getstate__``)."""
        loop = self._loop
        assert loop is not None
        trainer = Trainer(loop["config"], data, self._hooks(loop["config"], []), self.network_)
        trainer.optimizer.load_state_dict(*loop["optimizer"])
        trainer.rng.bit_generator.state = loop["rng"]
        trainer.state, trainer.earlier = copy.deepcopy(loop["state"]), list(loop["earlier"])
        return trainer

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = False
        tags.non_deterministic = self.random_state is None
        return tags


def _plain(value: Any) -> Any:
    """A parameter value as JSON takes it: sequences as lists, NumPy scalars as Python numbers."""
    if isinstance(value, (tuple, list, np.ndarray)):
        return [_plain(v) for v in value]
    return value.item() if isinstance(value, np.generic) else value


def _is_int(value: Any) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, (bool, np.bool_))


def _sizes(hidden: Any) -> tuple[int, ...]:
    """``hidden`` as a tuple of positive ints (an int is one layer), or ValueError."""
    sizes = [hidden] if _is_int(hidden) else hidden
    try:
        sizes = list(sizes)
    except TypeError:
        sizes = None
    if not sizes or not all(_is_int(h) and h >= 1 for h in sizes):
        raise ValueError(f"hidden must be layer widths (positive integers), e.g. (256, 128); got {hidden!r}")
    return tuple(int(h) for h in sizes)


def _dtype_name(dtype: Any) -> str:
    """``"float32"`` or ``"float64"`` from a name, a NumPy type or a dtype, or ValueError."""
    try:
        name = None if dtype is None else np.dtype(dtype).name   # np.dtype(None) would be float64
    except TypeError:
        name = None
    if name not in ("float32", "float64"):
        raise ValueError(f"dtype must be float32 or float64, got {dtype!r}")
    return name
