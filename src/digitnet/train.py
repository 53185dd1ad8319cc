"""Training: gradient descent, one batch at a time.

One step is the whole of backpropagation (:func:`train_step`)::

    logits = model.forward(x, training=True)                # 1. forward pass
    loss = loss_fn.forward(logits, y)                       # 2. how wrong are we?
    model.backward(loss_fn.backward())                      # 3. dL/dparameter, layer by layer
    optimizer.step(model.parameters(), model.gradients())   # 4. move downhill

The loop (:class:`Trainer`) repeats it over shuffled batches for a number of
epochs, asking a learning-rate schedule for each step's rate and validating
after each epoch. Variants of steps 1-3 are chosen once, before the loop
(:func:`choose_gradients`, :mod:`digitnet.variants`): a batch too large for
the cache is processed in slices whose gradients are summed (full-batch
gradient descent), and FGSM adversarial training adds a second pass on
perturbed inputs. Everything
around the loop (checkpoints, early stopping, logs, progress bars, stop
requests, your own callbacks) is a hook (:mod:`digitnet.hooks`).

All randomness comes from one seeded generator, so the same seed on the same
machine and the same number of BLAS threads gives bit-identical weights.
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .augment import make_augmenter
from .checkpoint import restore
from .config import TrainConfig
from .data import Dataset
from .errors import ConfigError, TrainingInterrupted
from .hooks import Checkpointing, Hook, standard_hooks
from .inputs import to_float
from .losses import SoftmaxCrossEntropy
from .metrics import loss_and_accuracy
from .model import Architecture, Network, build_mlp
from .optim import Optimizer, make_optimizer
from .schedules import make_schedule
from .variants import MICRO_BATCH, Adversarial, InSlices

# How a step computes its gradients: (model, loss_fn, x, y, weights) -> (loss, correct).
Gradients = Callable[..., tuple[float, int]]


def gradients(model: Network, loss_fn: SoftmaxCrossEntropy, x: np.ndarray,
              y: np.ndarray, weights: np.ndarray | None = None) -> tuple[float, int]:
    """Forward, loss and backward on a batch ``x`` (B, n_features), ``y`` (B,).

    Leaves dL/dparameters in every layer's ``grads``; returns the mean loss
    and how many of the batch the network got right (before the update).
    ``weights`` (B,), optional: sample weights (see :mod:`digitnet.losses`).
    """
    logits = model.forward(x, training=True)                # 1. forward pass, (B, K)
    loss = loss_fn.forward(logits, y, weights)              # 2. how wrong are we? (batch mean)
    correct = int(np.count_nonzero(logits.argmax(axis=1) == y))
    model.backward(loss_fn.backward())                      # 3. dL/dparameter, layer by layer
    return loss, correct


def train_step(model: Network, loss_fn: SoftmaxCrossEntropy, optimizer: Optimizer,
               x: np.ndarray, y: np.ndarray, compute: Gradients = gradients,
               weights: np.ndarray | None = None) -> tuple[float, int]:
    """One step of gradient descent: gradients of the batch, then the update.

    Parameters
    ----------
    x : ndarray, shape (B, n_features)
        The batch: floats ready for the network (``compute`` may overwrite
        them), or the stored rows when ``compute`` prepares its own slices.
    y : ndarray of int, shape (B,)
        Class indices.
    compute : callable
        :func:`gradients`, or a variant from :func:`choose_gradients`.
    weights : ndarray, shape (B,), optional
        Sample weights, scaled to mean 1 over the training set.

    Returns
    -------
    loss : float
        Mean loss over the batch before the update.
    correct : int
        Correct predictions in the batch before the update.
    """
    loss, correct = compute(model, loss_fn, x, y, weights)  # 1-3. forward, loss, backward
    optimizer.step(model.parameters(), model.gradients())   # 4. move downhill
    return loss, correct


def choose_gradients(batch_size: int, adversarial: float,
                     prepare: Callable[[np.ndarray], np.ndarray]) -> tuple[Callable, Gradients]:
    """A run's ``(prepare, compute)``, picked once before the loop: plain, adversarial, in slices.

    ``prepare`` turns a batch's stored rows into floats. A batch larger than
    ``MICRO_BATCH`` rows is computed in slices, each prepared in its turn, so
    the loop then hands the rows over as they are.
    """
    compute: Gradients = Adversarial(adversarial) if adversarial else gradients
    if batch_size > MICRO_BATCH:
        return (lambda rows: rows), InSlices(compute, MICRO_BATCH, prepare)
    return prepare, compute


@dataclass
class LoopState:
    """Everything about the loop that changes as training goes (saved in checkpoints)."""

    epoch: int = 1              # the epoch in progress, from 1
    step: int = 0               # optimizer steps taken
    position: int = 0           # examples of this epoch already seen
    loss_sum: float = 0.0       # of this epoch so far, summed over examples
    correct: int = 0
    epoch_seconds: float = 0.0  # time spent in this epoch before a resume
    train_seconds: float = 0.0
    stop: bool = False          # a hook ended training (early stopping)
    interrupt: bool = False     # a hook asked to stop now (a stop request)
    history: list[dict] = field(default_factory=list)


@dataclass
class TrainResult:
    """What :func:`train` returns.

    Attributes
    ----------
    model : Network
        The trained network (best validation weights if early stopping ran).
    history : list of dict
        One dict per epoch: epoch, train_loss, train_accuracy, val_loss,
        val_accuracy (None without validation data), lr, seconds, threads.
    best_epoch : int
        The epoch whose weights the model holds (1-based).
    stopped_early : bool
    train_seconds : float
        Wall time of the training loop, validation passes included.
    final_train_loss : float or None
        Full batch only: the cost after the last update.
    """

    model: Network
    history: list[dict] = field(default_factory=list)
    best_epoch: int = 0
    stopped_early: bool = False
    train_seconds: float = 0.0
    final_train_loss: float | None = None


class Trainer:
    """The training loop: ``config`` says how, ``data`` what, ``hooks`` what else.

    A network trained before (``model``) keeps its earlier epochs: its
    ``history`` becomes the earlier records followed by this run's.

    Attributes a hook may use: ``config``, ``data``, ``model``, ``optimizer``,
    ``rng``, ``state`` (a :class:`LoopState`), ``order`` (this epoch's
    shuffled indices, or None when the data is used in order), ``result``.
    """

    def __init__(self, config: TrainConfig, data: Dataset, hooks: Sequence[Hook] = (),
                 model: Network | None = None):
        self.config, self.data, self.hooks = config.validate(), data, list(hooks)
        self.rng = np.random.default_rng(config.seed)
        self.model = model if model is not None else self._build_model()
        self.earlier = list(self.model.history)   # a network trained before keeps its record
        self.model.use_rng(self.rng)
        self.optimizer = make_optimizer(config.optimizer, config.lr, config.momentum, config.weight_decay)
        self.loss_fn = SoftmaxCrossEntropy(smoothing=config.label_smoothing)
        self._use_data(data)
        self.schedule = make_schedule(config.schedule, config.lr, self.steps_per_epoch * config.epochs,
                                      self.steps_per_epoch,
                                      warmup_steps=round(config.warmup_epochs * self.steps_per_epoch))
        self.state = LoopState()
        self.order: np.ndarray | None = None   # this epoch's shuffled indices (None: in order)
        self.result = TrainResult(model=self.model)
        self.threads = blas_threads()

    def _use_data(self, data: Dataset) -> None:
        """Batches, and how a batch becomes gradients, for this training set."""
        self.data, n = data, len(data.x_train)
        self.batch_size = n if self.config.batch_size == 0 else min(self.config.batch_size, n)
        self.steps_per_epoch = math.ceil(n / self.batch_size)
        self.prepare, self.compute = choose_gradients(self.batch_size, self.config.adversarial,
                                                      self._choose_prepare())

    def train_more(self, data: Dataset, epochs: int = 1) -> TrainResult:
        """Train ``epochs`` more epochs on ``data``, continuing where :meth:`run` stopped.

        The optimizer's state, the random generator, the step count and the
        hooks carry on, so training on the same data ``k`` times for one
        epoch gives the weights of one run of ``k`` epochs (with a constant
        learning rate: the schedule keeps the length it was made with).
        This is what scikit-learn's ``partial_fit`` needs: each call may
        bring a new chunk of data with the same features and classes.

        Raises
        ------
        ConfigError
            If ``data`` has other features or classes than the network.
        """
        if data.n_features != self.model.n_features_in or tuple(data.classes) != tuple(self.data.classes):
            raise ConfigError(f"the network takes {self.model.n_features_in} features and classes "
                              f"{list(self.data.classes)[:12]}; the data has {data.n_features} and "
                              f"{list(data.classes)[:12]}")
        self._use_data(data)
        self.config = dataclasses.replace(self.config, epochs=self.state.epoch - 1 + epochs)
        self.state.stop = False
        return self.run()

    def _build_model(self) -> Network:
        arch = Architecture(self.data.n_features, tuple(self.config.hidden), len(self.data.classes),
                            self.config.dropout, self.config.input_dropout)
        return build_mlp(arch, self.rng, np.dtype(self.config.dtype), self.data.classes)

    def _choose_prepare(self) -> Callable[[np.ndarray], np.ndarray]:
        """Stored rows -> floats for the network, in one reused array."""
        rows = min(self.batch_size, MICRO_BATCH)
        dtype, buffer = self.model.dtype, np.empty((rows, self.data.n_features), self.model.dtype)
        if self.config.augment != "none":
            if self.data.x_train.dtype != np.uint8 or self.data.n_features != 784:
                raise ConfigError("augmentation distorts 28x28 images: it needs uint8 pixels, 784 features")
            augment = make_augmenter(self.config.augment, self.rng)
            return lambda rows: augment(rows, out=buffer[:len(rows)])
        x = self.data.x_train
        if self.config.adversarial and x.dtype.kind == "f" and len(x) and (x.min() < 0 or x.max() > 1):
            raise ConfigError("adversarial (FGSM) training clips inputs to [0, 1]: it needs pixels, uint8 or "
                              "floats in [0, 1], not standardised features")
        return lambda rows: to_float(rows, dtype, out=buffer[:len(rows)])

    def run(self) -> TrainResult:
        """Train until the last epoch or until a hook stops it; see :func:`train`."""
        s, config, n = self.state, self.config, len(self.data.x_train)
        self._call("on_train_begin")
        while s.epoch <= config.epochs and not s.stop:
            if self.order is None and self.steps_per_epoch > 1:
                self.order = self.rng.permutation(n)        # a fresh order every epoch
            started = time.perf_counter() - s.epoch_seconds
            self._call("on_epoch_begin")
            while s.position < n:
                rows = self._rows(s.position)
                x, y = self.prepare(self.data.x_train[rows]), self.data.y_train[rows]   # (B, d), (B,)
                w = None if self.data.w_train is None else self.data.w_train[rows]     # (B,)
                self.optimizer.lr = self.schedule(s.step)
                loss, correct = train_step(self.model, self.loss_fn, self.optimizer, x, y, self.compute, w)
                s.step, s.position = s.step + 1, s.position + len(y)
                s.loss_sum, s.correct = s.loss_sum + loss * len(y), s.correct + correct
                self._call("on_step_end", loss)
                if s.interrupt:
                    s.epoch_seconds = time.perf_counter() - started
                    self._interrupt()
            record = self._end_epoch(started)
            self._call("on_epoch_end", record)
            s.epoch, s.position, s.loss_sum, s.correct, s.epoch_seconds = s.epoch + 1, 0, 0.0, 0, 0.0
            self.order = None
        self._call("on_train_end")
        self.result.history = s.history
        self.model.history = self.earlier + s.history
        self.result.best_epoch = self.result.best_epoch or len(s.history)
        self.result.train_seconds = s.train_seconds
        return self.result

    def _rows(self, first: int) -> Any:
        """This batch's rows: a slice when in order, else shuffled indices."""
        if self.order is None:
            return slice(first, first + self.batch_size)
        return self.order[first:first + self.batch_size]

    def _end_epoch(self, started: float) -> dict:
        s, n = self.state, len(self.data.x_train)
        record: dict[str, Any] = {"epoch": s.epoch, "train_loss": s.loss_sum / n,
                                  "train_accuracy": s.correct / n, "val_loss": None,
                                  "val_accuracy": None, "lr": self.optimizer.lr}
        if len(self.data.x_val):
            record["val_loss"], record["val_accuracy"] = loss_and_accuracy(
                self.model, self.data.x_val, self.data.y_val)
        record["seconds"] = time.perf_counter() - started
        record["threads"] = self.threads
        s.history.append(record)
        s.train_seconds += record["seconds"]
        return record

    def _interrupt(self) -> None:
        self._call("on_interrupt")
        saved = next((h.saved for h in self.hooks if isinstance(h, Checkpointing) and h.saved), None)
        raise TrainingInterrupted(f"interrupted at epoch {self.state.epoch}, step {self.state.step}"
                                  + (f"; checkpoint saved to {saved}" if saved else ""), saved, self.model)

    def _call(self, event: str, *args) -> None:
        for hook in self.hooks:
            getattr(hook, event)(self, *args)


def train(config: TrainConfig, data: Dataset, hooks: Sequence[Hook] = (), *,
          model: Network | None = None, resume: Any = None,
          log: Callable[[str], None] | None = None) -> TrainResult:
    """Train a network as ``config`` says on ``data``.

    Parameters
    ----------
    config : TrainConfig
    data : Dataset
        ``x_train`` (N, n_features), uint8 pixels or floats; labels as class indices.
    hooks : sequence of Hook
        Added after the standard ones that ``config`` implies (divergence
        check, early stopping, the epoch or cost log): see :mod:`digitnet.hooks`.
    model : Network, optional
        Train this network (its shape must fit the data) instead of building
        ``config.hidden``.
    resume : Checkpoint, optional
        Continue from this checkpoint, bit-identical to a run never stopped.
    log : callable, optional
        Receives one human-readable line per logged epoch.

    Returns
    -------
    TrainResult

    Raises
    ------
    TrainingDiverged
        If the loss or the weights become NaN or infinite.
    TrainingInterrupted
        If a hook asked to stop (after the checkpoint hook saved).
    ConfigError
        If the configuration is invalid or ``model`` does not fit the data.
    """
    if model is not None and (model.n_features_in != data.n_features or model.n_classes != len(data.classes)):
        raise ConfigError(f"the network takes {model.n_features_in} features and {model.n_classes} "
                          f"classes; the data has {data.n_features} and {len(data.classes)}")
    if model is not None:
        model.classes = list(data.classes)
    trainer = Trainer(config, data, [*standard_hooks(config, data, log), *hooks], model)
    if resume is not None:
        restore(resume, trainer)
    # A diverging run overflows; it is reported as TrainingDiverged, so NumPy's
    # overflow warnings would only add noise.
    with np.errstate(over="ignore", invalid="ignore"):
        return trainer.run()


def blas_threads() -> int | None:
    """Threads the BLAS library uses (results are bit-identical only at a fixed count)."""
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return None
    counts = [info["num_threads"] for info in threadpool_info() if info.get("user_api") == "blas"]
    return max(counts) if counts else None
