"""Checkpoints: everything needed to continue a training run exactly.

A checkpoint (a safe ``.npz``, see :mod:`digitnet.npzfile`) holds

* ``param.<name>``: the current weights (``layer0.W``, ...);
* ``opt.<kind>.<name>``: the optimizer's state per parameter (Adam's ``m``
  and ``v``, momentum's ``velocity``), whatever the weight decay;
* ``hook.<hook>.<i>``: arrays a hook keeps (early stopping's best weights);
* ``order``: the current epoch's shuffled example order (mid-epoch stops);

and in its metadata the layers, the configuration, the random generator's
state, the optimizer's scalars (step count, learning rate), the loop's
counters and history, and each hook's scalars. From that, resuming replays
exactly the same computations as an uninterrupted run.

Format version 1 (digitnet 0.1) stored the optimizer's state as flat arrays
over all weights and all biases, and Adam's moments pre-scaled; it is
converted on loading.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from . import __version__
from .errors import CheckpointError
from .modelfile import _json_classes, layer_specs, network_from
from .npzfile import load_npz, save_npz

FORMAT = "digitnet-checkpoint"
FORMAT_VERSION = 2


@dataclass
class Checkpoint:
    """A loaded checkpoint, checked for internal consistency.

    Attributes
    ----------
    params : dict of str -> ndarray
        Weights by name (``layer0.W``...).
    optimizer : dict of str -> list of ndarray
        State per kind (``m``, ``v``, ``velocity``), one array per parameter.
    hooks : dict of str -> dict of str -> ndarray
        Each hook's arrays.
    order : ndarray of int64 or None
        Shuffled indices of the epoch in progress.
    meta : dict
        config, rng_state, optimizer (scalars), state (counters), history, hooks...
    path : Path
    """

    params: dict
    optimizer: dict
    hooks: dict
    order: np.ndarray | None
    meta: dict
    path: Path


def save_checkpoint(path: str | Path, trainer: Any, after_epoch: bool = False) -> Path:
    """Write the state of ``trainer`` (a :class:`digitnet.train.Trainer`) atomically.

    ``after_epoch=True`` records the counters as the loop is about to reset
    them at the end of an epoch (next epoch, position 0, no order).
    """
    model, state = trainer.model, trainer.state
    named = model.named_parameters()
    arrays = {f"param.{name}": p for name, p in named}
    opt_arrays, opt_scalars = trainer.optimizer.state_dict()
    for kind, per_parameter in opt_arrays.items():
        arrays.update({f"opt.{kind}.{name}": a for (name, _), a in zip(named, per_parameter)})
    hook_scalars = {}
    for hook in trainer.hooks:
        if hook.name and hasattr(hook, "state_dict"):
            scalars, hook_arrays = hook.state_dict()
            hook_scalars[hook.name] = scalars
            arrays.update({f"hook.{hook.name}.{key}": a for key, a in hook_arrays.items()})
    counters = {k: v for k, v in dataclasses.asdict(state).items() if k != "history"}
    order = trainer.order
    if after_epoch:
        counters.update(epoch=state.epoch + 1, position=0, loss_sum=0.0, correct=0, epoch_seconds=0.0)
        order = None
    if order is not None:
        arrays["order"] = np.asarray(order, dtype=np.int64)
    meta = {
        "format": FORMAT, "format_version": FORMAT_VERSION, "digitnet_version": __version__,
        "layers": model.spec(), "classes": _json_classes(model.classes), "dtype": str(model.dtype),
        "config": trainer.config.to_dict(), "data": data_info(trainer.data),
        "optimizer": opt_scalars, "rng_state": trainer.rng.bit_generator.state,
        "state": counters, "history": state.history, "hooks": hook_scalars,
    }
    return save_npz(path, arrays, meta)


def data_info(data) -> dict:
    """What a checkpoint records of its data, to refuse resuming on other data."""
    return {"dataset": data.name, "n_train": len(data.x_train), "n_val": len(data.x_val),
            "source": data.source}


def load_checkpoint(path: str | Path) -> Checkpoint:
    """Load and check a checkpoint written by :func:`save_checkpoint` (or version 1).

    Raises
    ------
    CheckpointError
        Missing, corrupt, tampered with, or inconsistent; names the file.
    """
    path = Path(path)
    arrays, meta = load_npz(path, FORMAT, (1, FORMAT_VERSION), error=CheckpointError)
    specs, dtype = layer_specs(meta, path, error=CheckpointError)

    def group(prefix):
        return {k[len(prefix):]: v for k, v in arrays.items() if k.startswith(prefix)}

    params = group("param.")
    names = [name for name, _ in network_from(specs, params, dtype, None, path, CheckpointError)
             .named_parameters()]
    if meta["format_version"] == 1:
        optimizer, hooks, meta = _from_version_1(arrays, meta, params, names, path)
    else:
        optimizer = {}
        for kind in {k.split(".")[1] for k in arrays if k.startswith("opt.")}:
            found = group(f"opt.{kind}.")
            if set(found) != set(names):
                raise CheckpointError(f"{path}: optimizer state {kind!r} does not cover the parameters")
            optimizer[kind] = [found[name] for name in names]
        hooks = {}
        for key in {k.split(".")[1] for k in arrays if k.startswith("hook.")}:
            hooks[key] = group(f"hook.{key}.")
    for kind, per_parameter in optimizer.items():
        for name, a in zip(names, per_parameter):
            if a.shape != params[name].shape or a.dtype != dtype:
                raise CheckpointError(f"{path}: optimizer array {kind}.{name} has shape {a.shape}, "
                                      f"its parameter {params[name].shape}")
    for key, hook_arrays in hooks.items():
        for i, a in hook_arrays.items():
            if not i.isdigit() or int(i) >= len(names) or a.shape != params[names[int(i)]].shape:
                raise CheckpointError(f"{path}: hook array {key}.{i} fits no parameter")
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
    return Checkpoint(params, optimizer, hooks, order, meta, path)


def _from_version_1(arrays, meta, params, names, path):
    """Version 1: flat optimizer arrays (weights, then biases; or one of all), Adam's M, V pre-scaled."""
    weights = [n for n in names if n.endswith(".W")]
    flat_order = weights + [n for n in names if n not in weights]
    sizes = {n: params[n].size for n in names}
    optimizer = {}
    # M = m / (1 - beta1), V = v / (1 - beta2), with Adam's betas (never configurable in 0.1).
    for old, new, scale in (("velocity", "velocity", 1.0), ("M", "m", 1 - 0.9), ("V", "v", 1 - 0.999),
                            ("m", "m", 1.0), ("v", "v", 1.0)):
        parts = sorted((k for k in arrays if k.startswith(f"opt.{old}.")), key=lambda k: int(k.split(".")[2]))
        if not parts:
            continue
        flat = np.concatenate([arrays[k].reshape(-1) for k in parts])
        if flat.size != sum(sizes.values()):
            raise CheckpointError(f"{path}: optimizer array {old} has {flat.size} values, "
                                  f"the parameters {sum(sizes.values())}")
        flat = flat * flat.dtype.type(scale)
        per_name, at = {}, 0
        for n in flat_order:
            per_name[n] = flat[at:at + sizes[n]].reshape(params[n].shape)
            at += sizes[n]
        optimizer[new] = [per_name[n] for n in names]
    best = {k[5:]: v for k, v in arrays.items() if k.startswith("best.")}
    hooks = {"early_stopping": {str(i): best[n] for i, n in enumerate(names)}} if best else {}
    state = dict(meta["state"])
    meta = dict(meta)
    meta["hooks"] = {"early_stopping": {"best_loss": state.pop("best_loss", None),
                                        "best_epoch": state.pop("best_epoch", 0),
                                        "waited": state.pop("waited", 0)}}
    state["stop"] = state.pop("stopped_early", False)
    meta["state"] = state
    return optimizer, hooks, meta


def restore(checkpoint: Checkpoint, trainer: Any) -> None:
    """Load a checkpoint's weights, optimizer, generator, counters and hook states into ``trainer``."""
    expected, actual = checkpoint.meta["data"], data_info(trainer.data)
    if expected.get("dataset") != actual["dataset"] or expected.get("n_train") != actual["n_train"]:
        raise CheckpointError(f"{checkpoint.path}: made for {expected.get('dataset')} with "
                              f"{expected.get('n_train')} training images, not "
                              f"{actual['dataset']} with {actual['n_train']} (give the run's own "
                              "--data-dir)")
    named = trainer.model.named_parameters()
    if {n for n, _ in named} != set(checkpoint.params):
        raise CheckpointError(f"{checkpoint.path}: its layers do not match this run's network")
    for name, p in named:
        if p.shape != checkpoint.params[name].shape:
            raise CheckpointError(f"{checkpoint.path}: {name} is {checkpoint.params[name].shape}, "
                                  f"this run's network has {p.shape}")
        p[...] = checkpoint.params[name]
    trainer.optimizer.load_state_dict(checkpoint.optimizer, checkpoint.meta["optimizer"])
    trainer.rng.bit_generator.state = checkpoint.meta["rng_state"]
    fields = {f.name for f in dataclasses.fields(trainer.state)}
    for key, value in checkpoint.meta["state"].items():
        if key in fields:
            setattr(trainer.state, key, value)
    trainer.state.history = list(checkpoint.meta["history"])
    trainer.state.interrupt = False
    trainer.result.stopped_early = bool(trainer.state.stop)
    trainer.order = None if checkpoint.order is None else checkpoint.order.copy()
    for hook in trainer.hooks:
        if hook.name in checkpoint.meta.get("hooks", {}) and hasattr(hook, "load_state_dict"):
            hook.load_state_dict(checkpoint.meta["hooks"][hook.name], checkpoint.hooks.get(hook.name, {}))
