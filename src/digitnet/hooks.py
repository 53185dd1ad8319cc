"""Hooks: everything around the training loop, each owning its own state.

The loop (:class:`digitnet.train.Trainer`) calls every hook at six moments:
``on_train_begin``, ``on_epoch_begin``, ``on_step_end(loss)``,
``on_epoch_end(record)``, ``on_interrupt`` and ``on_train_end``; each gets
the trainer, whose ``state``, ``model``, ``optimizer`` and ``config`` it may
read. A hook ends training by setting ``trainer.state.stop`` (after this
epoch) or ``trainer.state.interrupt`` (after this step: the checkpoint hook
saves, then :class:`~digitnet.errors.TrainingInterrupted` is raised).

A hook with state to survive a resume has ``state_dict()`` and
``load_state_dict()``; checkpoints store it under the hook's ``name``.
This is the callback design of Keras and PyTorch Lightning, kept small.

Your own hook: subclass :class:`Hook` and override what you need, or wrap a
function with :class:`OnEpochEnd`.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from .checkpoint import save_checkpoint
from .config import TrainConfig
from .constraints import apply_max_norm
from .data import Dataset
from .errors import TrainingDiverged
from .layers import Dense
from .metrics import loss_and_accuracy
from .model import Network
from .optim import Optimizer


class TrainerView(Protocol):
    """What a hook may read and set on the loop (:class:`digitnet.train.Trainer`)."""

    config: TrainConfig
    data: Dataset
    model: Network
    optimizer: Optimizer
    rng: np.random.Generator
    state: Any            # the LoopState: epoch, step, position, history; stop, interrupt
    result: Any           # the TrainResult being filled in
    order: np.ndarray | None
    hooks: list
    steps_per_epoch: int
    batch_size: int


class Hook:
    """Base class: does nothing at every moment. Subclass and override."""

    name = ""   # set to save state in checkpoints

    def on_train_begin(self, trainer: TrainerView) -> None: ...
    def on_epoch_begin(self, trainer: TrainerView) -> None: ...
    def on_step_end(self, trainer: TrainerView, loss: float) -> None: ...
    def on_epoch_end(self, trainer: TrainerView, record: dict) -> None: ...
    def on_interrupt(self, trainer: TrainerView) -> None: ...
    def on_train_end(self, trainer: TrainerView) -> None: ...


class DivergenceCheck(Hook):
    """Stop with :class:`TrainingDiverged` when the loss or the weights stop being finite."""

    def on_step_end(self, trainer, loss):
        if not math.isfinite(loss):
            saving = any(isinstance(hook, Checkpointing) for hook in trainer.hooks)
            raise TrainingDiverged(
                f"loss became {loss} at epoch {trainer.state.epoch}, step {trainer.state.step} "
                f"(learning rate {trainer.optimizer.lr:g})"
                + (" (the last good checkpoint is kept)" if saving else "")
                + f"; try a lower learning rate, e.g. --lr {trainer.config.lr / 10:g}")

    def on_epoch_end(self, trainer, record):
        if not all(np.isfinite(p).all() for p in trainer.model.parameters()):
            raise TrainingDiverged(f"weights became NaN or infinite in epoch {record['epoch']}; "
                                   f"try a lower learning rate (now {trainer.config.lr:g})")


class MaxNorm(Hook):
    """After every update, cap each unit's incoming weight vector at length ``limit``.

    The constraint Srivastava et al. (2014) paired with dropout; see
    :mod:`digitnet.constraints`.
    """

    def __init__(self, limit: float):
        self.limit = limit

    def on_step_end(self, trainer, loss):
        for layer in trainer.model.layers:
            if isinstance(layer, Dense):
                apply_max_norm(layer.params["W"], self.limit)


class EarlyStopping(Hook):
    """Stop when a figure of the epoch record has not improved for ``patience`` epochs.

    Parameters
    ----------
    patience : int
        Epochs without improvement before stopping.
    log : callable, optional
        Receives one line when training stops.
    monitor : str
        The record's key to watch: ``"val_loss"`` (default) or
        ``"train_loss"`` (lower is better), ``"val_accuracy"`` or
        ``"train_accuracy"`` (higher is better).
    min_delta : float
        A change smaller than this does not count as an improvement
        (scikit-learn's ``tol``, Keras's ``min_delta``).
    restore_best : bool
        Keep a copy of the best weights and put them back at the end of
        training (also when it ends for another reason), as Keras's
        ``restore_best_weights=True`` does.
    """

    name = "early_stopping"

    def __init__(self, patience: int, log: Callable[[str], None] | None = None, *,
                 monitor: str = "val_loss", min_delta: float = 0.0, restore_best: bool = True):
        if monitor not in ("val_loss", "train_loss", "val_accuracy", "train_accuracy"):
            raise ValueError(f"cannot monitor {monitor!r}: use val_loss, train_loss, val_accuracy "
                             "or train_accuracy")
        self.patience, self.log = patience, log
        self.monitor, self.min_delta, self.restore_best = monitor, min_delta, restore_best
        self.sign = 1.0 if monitor.endswith("loss") else -1.0   # compare as "lower is better"
        self.best: float | None = None
        self.best_epoch, self.waited = 0, 0
        self.best_params: list[np.ndarray] | None = None

    def on_epoch_end(self, trainer, record):
        value = self.sign * record[self.monitor]
        if self.best is None or value < self.best - self.min_delta:
            self.best, self.best_epoch, self.waited = value, record["epoch"], 0
            if self.restore_best:
                self.best_params = [p.copy() for p in trainer.model.parameters()]
            return
        self.waited += 1
        if self.waited >= self.patience:
            trainer.state.stop = True
            trainer.result.stopped_early = True
            if self.log:
                what = self.monitor.replace("val_", "validation ").replace("train_", "training ")
                self.log(f"early stop: {what} has not improved for {self.waited} epochs"
                         + (f"; restoring epoch {self.best_epoch}" if self.restore_best else ""))

    def on_train_end(self, trainer):
        if not self.restore_best:
            return
        trainer.result.best_epoch = self.best_epoch
        if self.best_params is not None and self.best_epoch != len(trainer.state.history):
            for p, best in zip(trainer.model.parameters(), self.best_params):
                p[...] = best

    @property
    def best_value(self) -> float | None:
        """The best value of ``monitor`` so far (None before the first epoch)."""
        return None if self.best is None else self.sign * self.best

    def state_dict(self) -> tuple[dict, dict[str, np.ndarray]]:
        """(JSON scalars, arrays by parameter position) for a checkpoint."""
        arrays = {str(i): p for i, p in enumerate(self.best_params or [])}
        return {"best": self.best, "best_epoch": self.best_epoch, "waited": self.waited}, arrays

    def load_state_dict(self, scalars: dict, arrays: dict[str, np.ndarray]) -> None:
        # "best_loss": checkpoints written before other figures could be watched.
        self.best = scalars["best"] if "best" in scalars else scalars["best_loss"]
        self.best_epoch, self.waited = int(scalars["best_epoch"]), int(scalars["waited"])
        self.best_params = [arrays[str(i)].copy() for i in range(len(arrays))] or None


class EpochLog(Hook):
    """One line per epoch (every ``every`` epochs, and the last): loss, accuracy, time."""

    def __init__(self, log: Callable[[str], None], every: int = 1):
        self.log, self.every = log, every

    def on_epoch_end(self, trainer, record):
        epochs = trainer.config.epochs
        if (record["epoch"] - 1) % self.every == 0 or record["epoch"] == epochs:
            line = f"epoch {record['epoch']:>3}/{epochs}  loss {record['train_loss']:.4f}"
            self.log(line + _figures(record))


class CostLog(Hook):
    """The seed recipe's log: "Cost after iteration N" every ``every`` iterations.

    For full-batch gradient descent, where an epoch is one iteration. At the
    end, one more forward pass gives the cost after the last update (stored
    as ``result.final_train_loss``).
    """

    def __init__(self, log: Callable[[str], None] | None, every: int = 100):
        self.log, self.every = log, every

    def on_epoch_end(self, trainer, record):
        if self.log and (record["epoch"] - 1) % self.every == 0:
            self.log(f"Cost after iteration {record['epoch'] - 1}: {record['train_loss']:.6f}"
                     + _figures(record))

    def on_train_end(self, trainer):
        cost = loss_and_accuracy(trainer.model, trainer.data.x_train, trainer.data.y_train, 4096)[0]
        trainer.result.final_train_loss = cost
        if self.log:
            self.log(f"Cost after iteration {len(trainer.state.history)}: {cost:.6f}")


def _figures(record: dict) -> str:
    line = f"  train acc {record['train_accuracy']:.4f}"
    if record["val_accuracy"] is not None:
        line += f"  val loss {record['val_loss']:.4f}  val acc {record['val_accuracy']:.4f}"
    return line + f"  ({record['seconds']:.2f}s)"


class ProgressBar(Hook):
    """A tqdm bar over each epoch's steps, on stderr, with the running loss and accuracy."""

    def __init__(self):
        self.bar: Any = None

    def on_epoch_begin(self, trainer):
        from tqdm import tqdm

        self.bar = tqdm(total=trainer.steps_per_epoch, desc=f"epoch {trainer.state.epoch}/"
                        f"{trainer.config.epochs}", file=sys.stderr, leave=False, mininterval=0.2)
        self.bar.update(trainer.state.position // trainer.batch_size)

    def on_step_end(self, trainer, loss):
        s = trainer.state
        self.bar.update(1)
        self.bar.set_postfix(loss=f"{loss:.4f}", acc=f"{s.correct / s.position:.4f}", refresh=False)

    def on_epoch_end(self, trainer, record):
        self.bar.refresh()   # the epoch's final figures, before the bar goes
        self.bar.close()

    def on_interrupt(self, trainer):
        if self.bar is not None:
            self.bar.close()

    on_train_end = on_interrupt


class StopOnRequest(Hook):
    """Stop after the current step when ``requested()`` turns true.

    ``requested`` is any function returning a bool (the command line sets a
    flag from SIGINT/SIGTERM); the checkpoint hook then saves the state.
    """

    def __init__(self, requested: Callable[[], bool]):
        self.requested = requested

    def on_step_end(self, trainer, loss):
        if self.requested():
            trainer.state.interrupt = True


class Checkpointing(Hook):
    """Write ``path`` every ``every`` epochs, at the last epoch, and when interrupted.

    The checkpoint holds everything a resumed run needs to continue bit for
    bit (:mod:`digitnet.checkpoint`); writes are atomic, and weights that are
    no longer finite never overwrite the last good checkpoint.
    """

    def __init__(self, path: str | Path, every: int | None = None):
        self.path, self.every = Path(path), every
        self.saved: str | None = None

    def on_epoch_end(self, trainer, record):
        epoch, s = record["epoch"], trainer.state
        if self.every and (epoch % self.every == 0 or epoch == trainer.config.epochs or s.stop):
            # Saved as after the epoch: the counters the loop is about to reset.
            self._save(trainer, after_epoch=True)

    def on_interrupt(self, trainer):
        self._save(trainer, after_epoch=False)

    def _save(self, trainer, after_epoch: bool) -> None:
        if not all(np.isfinite(p).all() for p in trainer.model.parameters()):
            raise TrainingDiverged("weights became NaN or infinite; not overwriting the last good "
                                   f"checkpoint; try a lower learning rate (now {trainer.config.lr:g})")
        self.saved = str(save_checkpoint(self.path, trainer, after_epoch))


class OnEpochEnd(Hook):
    """Call ``function(record, model)`` after each epoch (live plots, benchmarks, your own code)."""

    def __init__(self, function: Callable[[dict, Any], None]):
        self.function = function

    def on_epoch_end(self, trainer, record):
        self.function(record, trainer.model)


def standard_hooks(config: TrainConfig, data: Dataset, log: Callable[[str], None] | None) -> list[Hook]:
    """The hooks a configuration implies: divergence check, max-norm, early stopping, the log.

    Full-batch gradient descent (one step an epoch) gets the seed recipe's
    cost log, which also measures the final cost; mini-batches get a line
    per epoch when ``log`` is given.
    """
    hooks: list[Hook] = [DivergenceCheck()]
    if config.max_norm:
        hooks.append(MaxNorm(config.max_norm))
    if config.patience is not None and len(data.x_val):
        hooks.append(EarlyStopping(config.patience, log))
    if config.batch_size == 0 or config.batch_size >= len(data.x_train):
        hooks.append(CostLog(log, config.log_every))
    elif log is not None:
        hooks.append(EpochLog(log, config.log_every))
    return hooks
