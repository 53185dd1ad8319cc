"""Optimizers: how the gradients become weight updates.

An optimizer has ``step(params, grads)``, which updates every parameter array
in place, and owns whatever state it needs (velocities, moment estimates).
The learning rate is the attribute ``lr``; the training loop sets it from a
schedule before each step.

Weight decay (L2 regularisation) applies to weight matrices only, not to
biases: penalising a bias does not reduce the network's capacity to overfit,
it only shifts its outputs.
"""

from __future__ import annotations

import math

import numpy as np


def _decays(p: np.ndarray) -> bool:
    """Weight matrices (2-d) are decayed; bias vectors (1-d) are not."""
    return p.ndim > 1


class SGD:
    """Stochastic gradient descent, optionally with (Nesterov) momentum.

    With ``g = dL/dp + weight_decay * p`` (the gradient of ``L + wd/2 |W|^2``)::

        plain:      p -= lr * g
        momentum:   v = momentum * v + g;   p -= lr * v
        Nesterov:   v = momentum * v + g;   p -= lr * (g + momentum * v)

    This is the form PyTorch uses: ``v`` accumulates gradients, not steps, so
    changing ``lr`` mid-training (a schedule) takes effect at once. With the
    whole training set as one batch, this is full-batch gradient descent.

    Parameters
    ----------
    lr : float
    momentum : float, in [0, 1)
    nesterov : bool
        Look ahead along the velocity (requires momentum > 0).
    weight_decay : float
        L2 coefficient for weight matrices.
    """

    def __init__(self, lr: float, momentum: float = 0.0, nesterov: bool = False,
                 weight_decay: float = 0.0):
        if lr <= 0 or not 0 <= momentum < 1 or weight_decay < 0:
            raise ValueError("need lr > 0, 0 <= momentum < 1, weight_decay >= 0")
        if nesterov and momentum == 0:
            raise ValueError("Nesterov momentum needs momentum > 0")
        self.lr, self.momentum, self.nesterov = lr, momentum, nesterov
        self.weight_decay = weight_decay
        self.velocities: list[np.ndarray] | None = None

    def step(self, params: list[np.ndarray], grads: list[np.ndarray],
             decay: list[bool] | None = None) -> None:
        """Update ``params`` in place from ``grads``.

        ``decay`` says which arrays weight decay applies to (default: the
        2-d ones, i.e. weight matrices).
        """
        decay = decay or [_decays(p) for p in params]
        if self.velocities is None and self.momentum:
            self.velocities = [np.zeros_like(p) for p in params]
        for i, (p, g) in enumerate(zip(params, grads)):
            if self.weight_decay and decay[i]:
                g = g + self.weight_decay * p
            if self.momentum:
                v = self.velocities[i]
                v *= self.momentum
                v += g
                g = g + self.momentum * v if self.nesterov else v
            p -= p.dtype.type(self.lr) * g

    def state_dict(self) -> tuple[dict[str, np.ndarray], dict]:
        """The optimizer's memory, for checkpoints: (arrays, scalars)."""
        arrays = {f"velocity.{i}": v for i, v in enumerate(self.velocities or [])}
        return arrays, {"lr": self.lr}

    def load_state_dict(self, arrays: dict[str, np.ndarray], scalars: dict) -> None:
        """Restore what :meth:`state_dict` returned."""
        self.lr = scalars["lr"]
        names = sorted((k for k in arrays if k.startswith("velocity.")), key=lambda k: int(k.split(".")[1]))
        self.velocities = [arrays[k].copy() for k in names] or None


class Adam:
    """Adam (Kingma & Ba, 2015): per-parameter steps from gradient moments.

    With ``t`` the step count (from 1)::

        m = beta1 * m + (1 - beta1) * g          running mean of gradients
        v = beta2 * v + (1 - beta2) * g**2       running mean of squares
        m_hat = m / (1 - beta1**t)               bias corrections: m and v
        v_hat = v / (1 - beta2**t)               start at zero
        p -= lr * m_hat / (sqrt(v_hat) + eps)

    Weight decay: with ``decoupled=False`` (Adam), ``wd * p`` is added to the
    gradient; with ``decoupled=True`` (AdamW, Loshchilov & Hutter, 2019), the
    weights shrink directly, ``p -= lr * wd * p``, so the decay is not rescaled
    by ``sqrt(v_hat)``.

    Parameters
    ----------
    lr : float
    beta1, beta2 : float, in [0, 1)
    eps : float
    weight_decay : float
    decoupled : bool

    Notes
    -----
    The code keeps ``M = m / (1 - beta1)`` and ``V = v / (1 - beta2)``
    instead of ``m`` and ``v``. Then the moment updates need no ``(1 - beta)``
    factor (``M = beta1 * M + g``), the constants move into the step size,
    and a step is 10 whole-array passes instead of 12: this update touches
    every parameter, so on a wide network it is a quarter of a small-batch
    step. Same arithmetic up to float rounding (checked in the tests).
    """

    def __init__(self, lr: float = 1e-3, beta1: float = 0.9, beta2: float = 0.999,
                 eps: float = 1e-8, weight_decay: float = 0.0, decoupled: bool = False):
        if lr <= 0 or not (0 <= beta1 < 1 and 0 <= beta2 < 1) or eps <= 0 or weight_decay < 0:
            raise ValueError("need lr > 0, 0 <= beta < 1, eps > 0, weight_decay >= 0")
        self.lr, self.beta1, self.beta2, self.eps = lr, beta1, beta2, eps
        self.weight_decay, self.decoupled = weight_decay, decoupled
        self.t = 0
        self.M: list[np.ndarray] | None = None   # m / (1 - beta1), one per parameter array
        self.V: list[np.ndarray] | None = None   # v / (1 - beta2)
        self._work: list[np.ndarray] | None = None  # scratch arrays, one per parameter

    def step(self, params: list[np.ndarray], grads: list[np.ndarray],
             decay: list[bool] | None = None) -> None:
        """Update ``params`` in place from ``grads``; ``decay`` as for :meth:`SGD.step`."""
        decay = decay or [_decays(p) for p in params]
        if self.M is None:
            self.M = [np.zeros_like(p) for p in params]
            self.V = [np.zeros_like(p) for p in params]
        if self._work is None or len(self._work) != len(params):
            self._work = [np.empty_like(p) for p in params]
        self.t += 1
        b1, b2 = self.beta1, self.beta2
        # p -= lr * m_hat / (sqrt(v_hat) + eps), written with M and V:
        #   m_hat = (1 - b1) M / (1 - b1^t),  sqrt(v_hat) = sqrt((1 - b2) V / (1 - b2^t)),
        # so p -= step_size * M / (sqrt(V) + eps_hat) with the two constants below.
        # Python floats, so that float32 arrays stay in float32 arithmetic.
        root = math.sqrt((1 - b2**self.t) / (1 - b2))
        step_size = self.lr * (1 - b1) / (1 - b1**self.t) * root
        eps_hat = self.eps * root
        for p, g, M, V, work, decays in zip(params, grads, self.M, self.V, self._work, decay):
            decays = self.weight_decay and decays
            if decays and not self.decoupled:
                g = g + self.weight_decay * p
            if decays and self.decoupled:
                p -= p.dtype.type(self.lr * self.weight_decay) * p
            # In place, one pass per line; `work` is scratch space, so a step
            # allocates nothing.
            M *= b1
            M += g                                   # M = b1 M + g
            V *= b2
            V += np.multiply(g, g, out=work)         # V = b2 V + g^2
            np.sqrt(V, out=work)
            work += eps_hat
            np.divide(M, work, out=work)
            work *= step_size
            p -= work                                # p -= step_size M / (sqrt(V) + eps_hat)

    def state_dict(self) -> tuple[dict[str, np.ndarray], dict]:
        """The optimizer's memory, for checkpoints: (arrays, scalars).

        The arrays are ``M`` and ``V`` as kept (``M.0``, ``V.0``, ...), so
        that a resumed run continues bit for bit.
        """
        arrays = {f"M.{i}": M for i, M in enumerate(self.M or [])}
        arrays.update({f"V.{i}": V for i, V in enumerate(self.V or [])})
        return arrays, {"lr": self.lr, "t": self.t}

    def load_state_dict(self, arrays: dict[str, np.ndarray], scalars: dict) -> None:
        """Restore what :meth:`state_dict` returned.

        Older checkpoints, which stored the textbook ``m.0`` and ``v.0``,
        are converted (equal up to float rounding).
        """
        self.lr, self.t = scalars["lr"], int(scalars["t"])

        def numbered(prefix, scale=1.0):
            names = [k for k in arrays if k.startswith(prefix)]
            return [arrays[k] * arrays[k].dtype.type(scale)
                    for k in sorted(names, key=lambda k: int(k.split(".")[1]))]

        self.M = numbered("M.") or numbered("m.", 1 / (1 - self.beta1)) or None
        self.V = numbered("V.") or numbered("v.", 1 / (1 - self.beta2)) or None


OPTIMIZERS = ("sgd", "momentum", "nesterov", "adam", "adamw")


def make_optimizer(name: str, lr: float, momentum: float = 0.9, weight_decay: float = 0.0):
    """Build an optimizer by name: sgd, momentum, nesterov, adam or adamw."""
    if name == "sgd":
        return SGD(lr, weight_decay=weight_decay)
    if name in ("momentum", "nesterov"):
        return SGD(lr, momentum=momentum, nesterov=name == "nesterov", weight_decay=weight_decay)
    if name in ("adam", "adamw"):
        return Adam(lr, weight_decay=weight_decay, decoupled=name == "adamw")
    raise ValueError(f"unknown optimizer {name!r}; choose one of {', '.join(OPTIMIZERS)}")
