"""The training loop: mini-batch (or full-batch) gradient descent.

One step is the whole of backpropagation::

    logits = model.forward(x, training=True)     # forward pass
    loss   = loss_fn.forward(logits, y)          # how wrong are we?
    model.backward(loss_fn.backward())           # dL/dparameter, layer by layer
    optimizer.step(params, grads)                # move downhill

Around it: shuffling each epoch, a learning-rate schedule, validation after
each epoch, early stopping with the best weights restored, and a check that
the loss stays finite. Optional regularisers plug into the same step:
random distortions of each batch (``augment.py``), a second pass on FGSM
adversarial images (:func:`_gradient`), and max-norm after each update
(``constraints.py``). All randomness comes from one seeded generator, so
the same seed on the same machine gives bit-identical weights.
"""

from __future__ import annotations

import math
import sys
import time
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from .augment import make_augmenter
from .config import TrainConfig
from .constraints import apply_max_norm
from .data import Dataset, scale_images
from .checkpoint import Checkpoint, save_checkpoint
from .errors import CheckpointError, TrainingDiverged, TrainingInterrupted
from .losses import SoftmaxCrossEntropy, log_softmax
from .model import Architecture, Network, build_mlp
from .optim import make_optimizer
from .schedules import make_schedule


@dataclass
class TrainResult:
    """What :func:`train` returns.

    Attributes
    ----------
    model : Network
        The trained network (best validation weights if early stopping ran).
    history : list of dict
        One dict per epoch: epoch, train_loss, train_accuracy, val_loss,
        val_accuracy (None without a validation set), lr, seconds.
    best_epoch : int
        The epoch whose weights the model holds (1-based).
    stopped_early : bool
    train_seconds : float
        Wall time of the training loop, validation passes included; loading
        the data and the final test evaluation are not.
    final_train_loss : float or None
        Full batch only: the cost after the last update.
    """

    model: Network
    history: list[dict] = field(default_factory=list)
    best_epoch: int = 0
    stopped_early: bool = False
    train_seconds: float = 0.0
    final_train_loss: float | None = None


def loss_and_accuracy(model: Network, images: np.ndarray, labels: np.ndarray,
                      batch_size: int = 5000) -> tuple[float, float]:
    """Mean cross-entropy and accuracy of ``model`` on uint8 ``images`` (N, 784)."""
    total_loss, correct = 0.0, 0
    for start in range(0, len(images), batch_size):
        x = scale_images(images[start:start + batch_size], model.dtype)
        y = labels[start:start + batch_size]
        log_p = log_softmax(model.forward(x))  # (b, 10)
        total_loss -= float(log_p[np.arange(len(y)), y].sum())
        correct += int((log_p.argmax(axis=1) == y).sum())
    return total_loss / len(images), correct / len(images)


def train(config: TrainConfig, data: Dataset, log: Callable[[str], None] | None = None,
          progress: bool = False, checkpoint_path=None, checkpoint_every: int | None = None,
          resume: Checkpoint | None = None, should_stop: Callable[[], int] | None = None,
          on_epoch: Callable[[dict, Network], None] | None = None) -> TrainResult:
    """Train a network as ``config`` says on ``data``.

    Parameters
    ----------
    config : TrainConfig
    data : Dataset
        ``x_train`` (N, 784) uint8 is scaled to floats batch by batch.
    log : callable, optional
        Receives one human-readable line per logged epoch.
    progress : bool
        Show a progress bar over the steps of each epoch (on stderr).
    checkpoint_path : str or Path, optional
        Where checkpoints go (written atomically).
    checkpoint_every : int, optional
        Write a checkpoint every this many epochs.
    resume : Checkpoint, optional
        Continue from this checkpoint: the result is bit-identical to a run
        that was never interrupted.
    should_stop : callable, optional
        Polled after every step; a non-zero return (a signal number) saves a
        checkpoint and raises :class:`TrainingInterrupted`.
    on_epoch : callable, optional
        Called as ``on_epoch(record, model)`` after each epoch (live plots,
        benchmarks); its time is not counted in the epoch's seconds.

    Returns
    -------
    TrainResult

    Raises
    ------
    TrainingDiverged
        If the loss or the weights become NaN or infinite.
    TrainingInterrupted
        If ``should_stop`` asked to stop.
    """
    # A diverging run overflows; it is reported as TrainingDiverged, so NumPy's
    # overflow warnings would only add noise.
    with np.errstate(over="ignore", invalid="ignore"):
        return _train(config, data, log or (lambda line: None), progress, checkpoint_path,
                      checkpoint_every, resume, should_stop or (lambda: 0), on_epoch)


def _train(config, data, log, progress, checkpoint_path, checkpoint_every, resume, should_stop,
           on_epoch):
    """The body of :func:`train`."""
    config.validate()
    dtype = np.dtype(config.dtype)
    rng = np.random.default_rng(config.seed)
    arch = Architecture(hidden=tuple(config.hidden), dropout=config.dropout,
                        input_dropout=config.input_dropout)
    model = build_mlp(arch, rng, dtype)
    params = model.parameters()
    # The optimizer sees one or two flat arrays (see Network._flatten).
    opt_params, opt_grads, opt_decay = model.optimizer_groups(weight_decay=config.weight_decay > 0)
    loss_fn = SoftmaxCrossEntropy(smoothing=config.label_smoothing)

    x_train, y_train = data.x_train, data.y_train
    n = len(x_train)
    full_batch = config.batch_size == 0 or config.batch_size >= n
    batch_size = n if full_batch else config.batch_size
    steps_per_epoch = math.ceil(n / batch_size)
    total_steps = steps_per_epoch * config.epochs
    optimizer = make_optimizer(config.optimizer, config.lr, config.momentum, config.weight_decay)
    schedule = make_schedule(config.schedule, config.lr, total_steps, steps_per_epoch,
                             warmup_steps=round(config.warmup_epochs * steps_per_epoch))
    # Images are scaled to floats slice by slice into this one reused array:
    # no float copy of the training set is ever made, even for full batch.
    buffer = np.empty((min(batch_size, MICRO_BATCH), x_train.shape[1]), dtype)
    needs_sum = batch_size > MICRO_BATCH or config.adversarial > 0
    accumulated = np.empty_like(model.flat_grads) if needs_sum else None
    dense_weights = [layer.params["W"] for layer in model.layers if "W" in layer.params]
    augment = make_augmenter(config.augment, rng) if config.augment != "none" else None
    has_val = len(data.x_val) > 0
    data_info = {"dataset": data.name, "n_train": n, "n_val": len(data.x_val)}

    # Everything that changes as training goes, in one place, so a checkpoint
    # can save it and a resumed run can pick up exactly where this one stopped.
    state = {"epoch": 1, "step": 0, "position": 0, "loss_sum": 0.0, "correct": 0,
             "epoch_seconds": 0.0, "train_seconds": 0.0, "best_loss": None,
             "best_epoch": 0, "waited": 0, "stopped_early": False}
    history: list[dict] = []
    best_params, order = None, None
    if resume is not None:
        state, history, best_params, order = _restore(resume, model, optimizer, rng, data_info)

    def save():
        if checkpoint_path is None:
            return None
        if not np.isfinite(model.flat_params).all():
            raise TrainingDiverged("weights became NaN or infinite; not overwriting the last "
                                   f"good checkpoint; try a lower learning rate (now {config.lr:g})")
        path = save_checkpoint(checkpoint_path, model, optimizer, rng, state, history, best_params,
                               order, config.to_dict(), data_info)
        return str(path)

    result = TrainResult(model=model)
    while state["epoch"] <= config.epochs and not state["stopped_early"]:
        epoch = state["epoch"]
        started = time.perf_counter() - state["epoch_seconds"]
        if order is None:
            order = np.arange(n) if full_batch else rng.permutation(n)
        bar = _progress(steps_per_epoch, f"epoch {epoch}/{config.epochs}", progress and not full_batch)
        bar.update(state["position"] // batch_size)
        while state["position"] < n:
            first = state["position"]
            if full_batch:  # all images, in order: no need to gather a copy
                images, y = x_train, y_train
            else:
                idx = order[first:first + batch_size]
                images, y = x_train[idx], y_train[idx]      # (B, 784) uint8, (B,)
            loss, correct = _gradient(model, loss_fn, images, y, buffer, accumulated,
                                      config.adversarial, augment)
            if not math.isfinite(loss):
                kept = " (the last good checkpoint is kept)" if checkpoint_path else ""
                raise TrainingDiverged(
                    f"loss became {loss} at epoch {epoch}, step {state['step'] + 1} "
                    f"(learning rate {optimizer.lr:g}){kept}; try a lower learning rate, "
                    f"e.g. --lr {config.lr / 10:g}"
                )
            optimizer.lr = schedule(state["step"])
            optimizer.step(opt_params, opt_grads, opt_decay)
            if config.max_norm:
                for W in dense_weights:
                    apply_max_norm(W, config.max_norm)
            state["step"] += 1
            state["position"] += len(y)
            state["loss_sum"] += loss * len(y)
            state["correct"] += correct
            bar.update(1)
            if bar.disable is False:  # formatting the figures costs time: only for a real bar
                bar.set_postfix(loss=f"{loss:.4f}", acc=f"{state['correct'] / state['position']:.4f}",
                                refresh=False)
            signal_number = should_stop()
            if signal_number:
                bar.close()
                state["epoch_seconds"] = time.perf_counter() - started
                saved = save()
                raise TrainingInterrupted(
                    f"interrupted at epoch {epoch}, step {state['step']}"
                    + (f"; checkpoint saved to {saved}" if saved else ""),
                    signal_number, saved)
        bar.refresh()  # show the epoch's final loss and accuracy before the bar goes
        bar.close()
        record = {"epoch": epoch, "train_loss": state["loss_sum"] / n,
                  "train_accuracy": state["correct"] / n,
                  "val_loss": None, "val_accuracy": None, "lr": optimizer.lr}
        if has_val:
            record["val_loss"], record["val_accuracy"] = loss_and_accuracy(model, data.x_val, data.y_val)
        record["seconds"] = time.perf_counter() - started
        history.append(record)
        state["train_seconds"] += record["seconds"]
        # Full batch ends with "Cost after iteration N" below instead of a last-epoch line.
        if (epoch - 1) % config.log_every == 0 or (epoch == config.epochs and not full_batch):
            log(_describe(record, config.epochs, full_batch))
        if on_epoch is not None:
            on_epoch(record, model)

        if has_val and config.patience is not None:
            if state["best_loss"] is None or record["val_loss"] < state["best_loss"]:
                state["best_loss"], state["waited"], state["best_epoch"] = record["val_loss"], 0, epoch
                best_params = [p.copy() for p in params]
            else:
                state["waited"] += 1
                if state["waited"] >= config.patience:
                    log(f"early stop: validation loss has not improved for {state['waited']} epochs; "
                        f"restoring epoch {state['best_epoch']}")
                    state["stopped_early"] = True
        state.update(epoch=epoch + 1, position=0, loss_sum=0.0, correct=0, epoch_seconds=0.0)
        order = None
        if not np.isfinite(model.flat_params).all():
            raise TrainingDiverged(f"weights became NaN or infinite in epoch {epoch}; "
                                   f"try a lower learning rate (now {config.lr:g})")
        if checkpoint_every and (epoch % checkpoint_every == 0 or epoch == config.epochs
                                 or state["stopped_early"]):
            save()

    result.history = history
    result.stopped_early = state["stopped_early"]
    result.best_epoch = state["best_epoch"] or len(history)
    if best_params is not None and result.best_epoch != len(history):
        for p, best in zip(params, best_params):
            p[...] = best
    result.train_seconds = state["train_seconds"]
    if full_batch:
        # The recipe's "cost after N iterations": one more forward pass, after the last update.
        result.final_train_loss = loss_and_accuracy(model, x_train, y_train, MICRO_BATCH)[0]
        log(f"Cost after iteration {len(history)}: {result.final_train_loss:.6f}")
    return result


# Rows pushed through the network at once. A larger batch (full batch: all
# 60,000 images) is processed in slices of this size and their gradients
# summed: the same gradient, but each slice's activations (a few MB) stay in
# the processor's cache instead of streaming through memory, and only one
# slice of images is ever held as floats.
MICRO_BATCH = 4096


def _gradient(model: Network, loss_fn: SoftmaxCrossEntropy, images: np.ndarray, labels: np.ndarray,
              buffer: np.ndarray, accumulated: np.ndarray | None, adversarial: float = 0.0,
              augment=None) -> tuple[float, int]:
    """Forward and backward pass over one batch; leaves dL/dparameters in the model.

    Parameters
    ----------
    images : ndarray of uint8, shape (B, 784)
    labels : ndarray of int, shape (B,)
    buffer : ndarray, shape (min(B, MICRO_BATCH), 784)
        Where each slice of images is scaled to floats.
    accumulated : ndarray or None
        Like ``model.flat_grads``; needed when B > MICRO_BATCH or with
        adversarial training (more than one gradient to sum).
    adversarial : float
        FGSM step ``eps`` (0: off). The loss becomes the mean of the loss on
        the images and on ``clip(x + eps * sign(dL/dx), 0, 1)``, the images
        pushed the way that hurts the network most (Goodfellow et al., 2015).
    augment : callable, optional
        ``augment(images_uint8, out=floats)``: random distortions that write
        the scaled, distorted slice (replaces the plain scaling).

    Returns
    -------
    loss : float
        Mean cross-entropy over the batch as the network saw it (distorted
        when augmenting; without the adversarial pass), before the update.
    correct : int
        How many of the batch the network got right (before the update).
    """
    n = len(labels)
    passes = 2 if adversarial else 1
    summed = n > MICRO_BATCH or passes > 1      # more than one gradient to add up
    loss_sum, correct = 0.0, 0
    for start in range(0, n, MICRO_BATCH):
        stop = min(start + MICRO_BATCH, n)
        prepare = augment or scale_images
        x = prepare(images[start:stop], out=buffer[:stop - start])   # (b, 784)
        y = labels[start:stop]
        weight = (stop - start) / n / passes    # this pass's share of the batch mean
        logits = model.forward(x, training=True)           # (b, 10)
        loss_sum += loss_fn.forward(logits, y) * (stop - start)
        correct += int(np.count_nonzero(logits.argmax(axis=1) == y))
        grad = loss_fn.backward()                          # mean over this slice
        if weight != 1:
            grad *= weight
        grad_x = model.backward(grad, input_grad=adversarial > 0)
        if summed:
            _add_gradient(model, accumulated, first=start == 0)
        if adversarial:
            # x + eps * sign(dL/dx), kept a valid image, in the same buffer.
            np.sign(grad_x, out=grad_x)
            grad_x *= x.dtype.type(adversarial)
            x += grad_x
            np.clip(x, 0, 1, out=x)
            loss_fn.forward(model.forward(x, training=True), y)
            grad = loss_fn.backward()
            grad *= weight
            model.backward(grad)
            _add_gradient(model, accumulated, first=False)
    if summed:
        model.flat_grads[...] = accumulated
    return loss_sum / n, correct


def _add_gradient(model: Network, accumulated: np.ndarray, first: bool) -> None:
    """Add the model's current gradients to ``accumulated`` (or start it)."""
    if first:
        accumulated[...] = model.flat_grads
    else:
        accumulated += model.flat_grads


def _restore(checkpoint: Checkpoint, model, optimizer, rng, data_info):
    """Load a checkpoint's weights, optimizer and generator state into this run."""
    expected = checkpoint.meta["data"]
    if expected.get("dataset") != data_info["dataset"] or expected.get("n_train") != data_info["n_train"]:
        raise CheckpointError(f"{checkpoint.path}: made for {expected.get('dataset')} with "
                              f"{expected.get('n_train')} training images, not "
                              f"{data_info['dataset']} with {data_info['n_train']}")
    for name, p in model.named_parameters():
        p[...] = checkpoint.params[name]
    optimizer.load_state_dict(checkpoint.optimizer_arrays, checkpoint.meta["optimizer"])
    rng.bit_generator.state = checkpoint.meta["rng_state"]
    state = dict(checkpoint.meta["state"])
    best = None
    if checkpoint.best_params:
        best = [checkpoint.best_params[name].copy() for name, _ in model.named_parameters()]
    order = None if checkpoint.order is None else checkpoint.order.copy()
    return state, list(checkpoint.meta["history"]), best, order


def _describe(record: dict, epochs: int, full_batch: bool) -> str:
    """One log line for an epoch (or, full batch, an iteration)."""
    if full_batch:
        line = f"Cost after iteration {record['epoch'] - 1}: {record['train_loss']:.6f}"
    else:
        line = f"epoch {record['epoch']:>3}/{epochs}  loss {record['train_loss']:.4f}"
    line += f"  train acc {record['train_accuracy']:.4f}"
    if record["val_accuracy"] is not None:
        line += f"  val loss {record['val_loss']:.4f}  val acc {record['val_accuracy']:.4f}"
    return line + f"  ({record['seconds']:.2f}s)"


class _NoBar:
    disable = True

    def update(self, n):
        pass

    def set_postfix(self, **kwargs):
        pass

    def refresh(self):
        pass

    def close(self):
        pass


def _progress(total: int, desc: str, enabled: bool):
    if not enabled:
        return _NoBar()
    from tqdm import tqdm

    return tqdm(total=total, desc=desc, file=sys.stderr, leave=False, mininterval=0.2)


def evaluate(model: Network, images: np.ndarray, labels: np.ndarray, classes) -> tuple[dict, np.ndarray]:
    """Evaluate on a labelled set (normally the full test set).

    Parameters
    ----------
    model : Network
    images : ndarray of uint8, shape (N, 784)
    labels : ndarray of int, shape (N,)
    classes : sequence of str

    Returns
    -------
    report : dict
        See :func:`digitnet.metrics.classification_report`.
    probs : ndarray, shape (N, K)
        The predicted probabilities, for plots.
    """
    from .metrics import classification_report

    probs = model.predict_proba(scale_images(images, model.dtype))
    return classification_report(labels, probs.argmax(axis=1), classes), probs
