"""Learning-rate schedules: pure functions of the step number.

Each maps ``step`` (0-based, counted in optimizer steps) to a learning rate.
:func:`make_schedule` binds the arguments so the training loop just calls
``schedule(step)``.
"""

from __future__ import annotations

import math
from functools import partial


def constant_lr(step: int, base_lr: float) -> float:
    """The same rate throughout."""
    return base_lr


def step_lr(step: int, base_lr: float, step_size: int, gamma: float = 0.1) -> float:
    """Multiply the rate by ``gamma`` every ``step_size`` steps."""
    return base_lr * gamma ** (step // step_size)


def cosine_lr(step: int, base_lr: float, total_steps: int, warmup_steps: int = 0,
              final_lr: float = 0.0) -> float:
    """Linear warm-up, then half a cosine from ``base_lr`` down to ``final_lr``.

    Loshchilov & Hutter (2017): large steps early to make progress, small
    ones late to settle into a minimum, with no step function to tune.
    """
    if step < warmup_steps:
        return base_lr * (step + 1) / warmup_steps
    progress = min(1.0, (step - warmup_steps) / max(1, total_steps - warmup_steps))
    return final_lr + 0.5 * (base_lr - final_lr) * (1 + math.cos(math.pi * progress))


SCHEDULES = ("constant", "step", "cosine")


def make_schedule(name: str, base_lr: float, total_steps: int, steps_per_epoch: int,
                  step_epochs: int | None = None, gamma: float = 0.1, warmup_steps: int = 0):
    """Return ``schedule(step) -> lr`` for a named schedule.

    Parameters
    ----------
    name : {"constant", "step", "cosine"}
    base_lr : float
    total_steps : int
        Steps in the whole run (epochs x steps per epoch).
    steps_per_epoch : int
    step_epochs : int, optional
        For "step": epochs between drops (default: a third of the run).
    gamma : float
        For "step": factor applied at each drop.
    warmup_steps : int
        For "cosine": steps of linear warm-up.
    """
    if name == "constant":
        return partial(constant_lr, base_lr=base_lr)
    if name == "step":
        epochs = max(1, total_steps // steps_per_epoch)
        size = (step_epochs or max(1, math.ceil(epochs / 3))) * steps_per_epoch
        return partial(step_lr, base_lr=base_lr, step_size=size, gamma=gamma)
    if name == "cosine":
        return partial(cosine_lr, base_lr=base_lr, total_steps=total_steps,
                       warmup_steps=warmup_steps)
    raise ValueError(f"unknown schedule {name!r}; choose one of {', '.join(SCHEDULES)}")
