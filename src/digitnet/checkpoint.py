"""Checkpoints: everything needed to continue a training run exactly.

A checkpoint (a safe ``.npz``, see :mod:`digitnet.npzfile`) holds

* ``param.<name>``: the current weights;
* ``opt.<name>``: the optimizer's arrays (momentum velocities, Adam moments);
* ``best.<name>``: the best weights so far, for early stopping;
* ``order``: the current epoch's shuffled example order (mid-epoch stops);

and in its metadata the configuration, the random generator's state, the
optimizer's scalars (step count, learning rate), the epoch, step and position
counters, the running sums of the epoch in progress and the history. From
that, resuming replays exactly the same computations as an uninterrupted run.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from . import __version__
from .errors import CheckpointError
from .modelfile import architecture_from, check_arrays, expected_shapes
from .npzfile import load_npz, save_npz

FORMAT = "digitnet-checkpoint"
FORMAT_VERSION = 1


@dataclass
class Checkpoint:
    """A loaded checkpoint, checked for internal consistency.

    Attributes
    ----------
    params, best_params : dict of str -> ndarray
        Current and best weights, keyed ``layer0.W``...; best may be empty.
    optimizer_arrays : dict of str -> ndarray
    order : ndarray of int64 or None
        Shuffled indices of the epoch in progress.
    meta : dict
        config, rng_state, optimizer (scalars), state (counters), history...
    path : Path
    """

    params: dict
    best_params: dict
    optimizer_arrays: dict
    order: np.ndarray | None
    meta: dict
    path: Path


def save_checkpoint(path: str | Path, model, optimizer, rng: np.random.Generator,
                    state: dict, history: list, best_params: list | None, order,
                    config: dict, data_info: dict) -> Path:
    """Write a checkpoint atomically (temporary file, fsync, rename).

    Parameters
    ----------
    path : str or Path
    model : Network
    optimizer : SGD or Adam
    rng : np.random.Generator
        The training generator (shuffling and dropout).
    state : dict
        JSON-serialisable counters and running sums.
    history : list of dict
    best_params : list of ndarray or None
        In ``model.parameters()`` order.
    order : ndarray or None
    config, data_info : dict
        The TrainConfig as a dict; dataset name and sizes, to check on resume.
    """
    named = model.named_parameters()
    arrays = {f"param.{name}": p for name, p in named}
    if best_params is not None:
        arrays.update({f"best.{name}": p for (name, _), p in zip(named, best_params)})
    opt_arrays, opt_scalars = optimizer.state_dict()
    arrays.update({f"opt.{name}": a for name, a in opt_arrays.items()})
    if order is not None:
        arrays["order"] = np.asarray(order, dtype=np.int64)
    meta = {
        "format": FORMAT, "format_version": FORMAT_VERSION, "digitnet_version": __version__,
        "architecture": model.architecture.to_dict(), "dtype": str(model.dtype),
        "config": config, "data": data_info, "optimizer": opt_scalars,
        "rng_state": rng.bit_generator.state, "state": state, "history": history,
    }
    return save_npz(path, arrays, meta)


def load_checkpoint(path: str | Path) -> Checkpoint:
    """Load and check a checkpoint written by :func:`save_checkpoint`.

    Raises
    ------
    CheckpointError
        Missing, corrupt, tampered with, or inconsistent; names the file.
    """
    path = Path(path)
    arrays, meta = load_npz(path, FORMAT, (FORMAT_VERSION,), error=CheckpointError)
    arch, dtype = architecture_from(meta, path, error=CheckpointError)
    shapes = expected_shapes(arch)

    def group(prefix):
        return {k[len(prefix):]: v for k, v in arrays.items() if k.startswith(prefix)}

    params, best = group("param."), group("best.")
    check_arrays(params, shapes, dtype, path, error=CheckpointError)
    if best:
        check_arrays(best, shapes, dtype, path, error=CheckpointError)
    optimizer_arrays = group("opt.")
    # The optimizer works on one flat array of all weights and one of all biases,
    # or (without weight decay) on one array of everything.
    n_weights = sum(int(np.prod(shape)) for name, shape in shapes.items() if name.endswith(".W"))
    n_biases = sum(int(np.prod(shape)) for name, shape in shapes.items() if name.endswith(".b"))
    for name, array in optimizer_arrays.items():
        if array.dtype != dtype or array.shape not in ((n_weights,), (n_biases,), (n_weights + n_biases,)):
            raise CheckpointError(f"{path}: optimizer array {name} has shape {array.shape}, "
                                  f"which fits no parameter")
    try:
        state, rng_state = meta["state"], meta["rng_state"]
        n_train = int(meta["data"]["n_train"])
        position, epoch = int(state["position"]), int(state["epoch"])
        np.random.Generator(np.random.PCG64()).bit_generator.state = rng_state
    except (KeyError, TypeError, ValueError) as err:
        raise CheckpointError(f"{path}: metadata is incomplete ({err})") from None
    order = arrays.get("order")
    if order is not None and (order.shape != (n_train,) or order.dtype != np.int64
                              or not np.array_equal(np.sort(order), np.arange(n_train))):
        raise CheckpointError(f"{path}: 'order' is not a permutation of the {n_train} training images")
    if not 0 <= position <= n_train or epoch < 1:
        raise CheckpointError(f"{path}: counters out of range (epoch {epoch}, position {position})")
    return Checkpoint(params, best, optimizer_arrays, order, meta, path)
