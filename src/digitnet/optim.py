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
    """

    def __init__(self, lr: float = 1e-3, beta1: float = 0.9, beta2: float = 0.999,
                 eps: float = 1e-8, weight_decay: float = 0.0, decoupled: bool = False):
        if lr <= 0 or not (0 <= beta1 < 1 and 0 <= beta2 < 1) or eps <= 0 or weight_decay < 0:
            raise ValueError("need lr > 0, 0 <= beta < 1, eps > 0, weight_decay >= 0")
        self.lr, self.beta1, self.beta2, self.eps = lr, beta1, beta2, eps
        self.weight_decay, self.decoupled = weight_decay, decoupled
        self.t = 0
        self.m: list[np.ndarray] | None = None
        self.v: list[np.ndarray] | None = None
        self._work: list[np.ndarray] | None = None  # scratch arrays, one per parameter

    def step(self, params: list[np.ndarray], grads: list[np.ndarray],
             decay: list[bool] | None = None) -> None:
        """Update ``params`` in place from ``grads``; ``decay`` as for :meth:`SGD.step`."""
        decay = decay or [_decays(p) for p in params]
        if self.m is None:
            self.m = [np.zeros_like(p) for p in params]
            self.v = [np.zeros_like(p) for p in params]
        if self._work is None or len(self._work) != len(params):
            self._work = [np.empty_like(p) for p in params]
        self.t += 1
        # Fold both bias corrections into one step size (as the Adam paper's
        # "efficient version" does): lr * sqrt(1 - b2^t) / (1 - b1^t).
        # Python floats, so that float32 arrays stay in float32 arithmetic.
        step_size = float(self.lr * np.sqrt(1 - self.beta2**self.t) / (1 - self.beta1**self.t))
        eps_hat = float(self.eps * np.sqrt(1 - self.beta2**self.t))
        for p, g, m, v, work, decays in zip(params, grads, self.m, self.v, self._work, decay):
            decays = self.weight_decay and decays
            if decays and not self.decoupled:
                g = g + self.weight_decay * p
            if decays and self.decoupled:
                p -= p.dtype.type(self.lr * self.weight_decay) * p
            # The formulas above, in place: `work` is scratch space, so a step
            # allocates nothing.
            m *= self.beta1
            m += np.multiply(g, 1 - self.beta1, out=work)        # m = b1 m + (1 - b1) g
            v *= self.beta2
            np.multiply(g, g, out=work)
            v += np.multiply(work, 1 - self.beta2, out=work)     # v = b2 v + (1 - b2) g^2
            np.sqrt(v, out=work)
            work += eps_hat
            np.divide(m, work, out=work)
            work *= step_size
            p -= work                                            # p -= lr_t m / (sqrt(v) + eps_t)

    def state_dict(self) -> tuple[dict[str, np.ndarray], dict]:
        """The optimizer's memory, for checkpoints: (arrays, scalars)."""
        arrays = {f"m.{i}": m for i, m in enumerate(self.m or [])}
        arrays.update({f"v.{i}": v for i, v in enumerate(self.v or [])})
        return arrays, {"lr": self.lr, "t": self.t}

    def load_state_dict(self, arrays: dict[str, np.ndarray], scalars: dict) -> None:
        """Restore what :meth:`state_dict` returned."""
        self.lr, self.t = scalars["lr"], int(scalars["t"])

        def numbered(prefix):
            names = [k for k in arrays if k.startswith(prefix)]
            return [arrays[k].copy() for k in sorted(names, key=lambda k: int(k.split(".")[1]))]

        self.m, self.v = numbered("m.") or None, numbered("v.") or None


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
