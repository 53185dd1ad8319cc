"""Optimizers: how the gradients become weight updates.

An optimizer has ``step(params, grads)``, which updates every parameter array
in place, and owns whatever state it needs (velocities, moment estimates),
one state array per parameter. The learning rate is the attribute ``lr``;
the training loop sets it from a schedule before each step.

Weight decay (L2 regularisation) applies to weight matrices only, not to
biases: penalising a bias does not reduce the network's capacity to overfit,
it only shifts its outputs.

Speed: the element-wise updates run over all parameters at once, in
cache-sized pieces (:mod:`digitnet.foreach`); each piece follows the textbook
formula in the class docstring.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, Protocol

import numpy as np

from .foreach import Piece, Pieces


class Optimizer(Protocol):
    """What the training loop needs from an optimizer (``typing.Protocol``)."""

    lr: float

    def step(self, params: Sequence[np.ndarray], grads: Sequence[np.ndarray]) -> None: ...

    def state_dict(self) -> tuple[dict[str, list[np.ndarray]], dict[str, Any]]: ...

    def load_state_dict(self, arrays: dict[str, list[np.ndarray]], scalars: dict[str, Any]) -> None: ...


class _Stateful:
    """Per-parameter state arrays, kept flat for the piecewise update.

    Subclasses name their state (``STATE = ("m", "v")``); ``self.state[name]``
    is one flat vector, and :meth:`state_dict` hands out one array per
    parameter, in the order of ``params``.
    """

    STATE: tuple[str, ...] = ()
    weight_decay: float = 0.0

    def __init__(self):
        self.pieces: Pieces | None = None
        self.state: dict[str, np.ndarray] = {}
        self.piece_state: list[dict[str, np.ndarray]] = []   # each piece's slice of the state
        self._loaded: dict[str, list[np.ndarray]] = {}

    def _plan(self, params: Sequence[np.ndarray], grads: Sequence[np.ndarray]) -> Pieces:
        """The piece plan for ``params``, made on the first step (or for new arrays)."""
        if self.pieces is not None and self.pieces.matches(params, grads):
            return self.pieces
        # Same shapes, new arrays (a copied network): the state carries over.
        kept = self._per_parameter() if self.pieces is not None else self._loaded
        # Weight matrices and biases are kept apart only when decay tells them apart.
        decays = self.weight_decay > 0
        pieces = Pieces(params, grads, [decays and p.ndim > 1 for p in params])
        self.state = {}
        for name in self.STATE:
            flat = pieces.zeros()
            for target, value in zip(pieces.split(flat), kept.get(name, [])):
                if value.shape != target.shape:
                    raise ValueError(f"optimizer state {name} has shape {value.shape}, "
                                     f"its parameter {target.shape}")
                target[...] = value
            self.state[name] = flat
        self.piece_state = [{name: flat[piece.start:piece.stop] for name, flat in self.state.items()}
                            for piece in pieces]
        self.pieces, self._loaded = pieces, {}
        return pieces

    def _per_parameter(self) -> dict[str, list[np.ndarray]]:
        if self.pieces is None:
            return self._loaded
        return {name: self.pieces.split(flat) for name, flat in self.state.items()}

    @staticmethod
    def _gradient(piece: Piece, weight_decay: float) -> np.ndarray:
        """This piece's gradient, plus ``weight_decay * p`` where decay applies."""
        g = piece.gather(piece.grads, slot=0)
        if weight_decay and piece.decay:
            decayed = np.multiply(piece.gather(piece.params, slot=1), weight_decay, out=piece.scratch[2])
            g = np.add(decayed, g, out=decayed)                   # g + wd * p
        return g


class SGD(_Stateful):
    """Stochastic gradient descent, optionally with (Nesterov) momentum.

    With ``g = dL/dp + weight_decay * p`` (the gradient of ``L + wd/2 |W|^2``)::

        plain:      p -= lr * g
        momentum:   v = momentum * v + g;   p -= lr * v
        Nesterov:   v = momentum * v + g;   p -= lr * (g + momentum * v)

    This is the form PyTorch uses (``torch.optim.SGD``): ``v`` accumulates
    gradients, not steps, so changing ``lr`` mid-training (a schedule) takes
    effect at once. With the whole training set as one batch, this is
    full-batch gradient descent.

    Parameters
    ----------
    lr : float
    momentum : float, in [0, 1)
    nesterov : bool
        Look ahead along the velocity (requires momentum > 0).
    weight_decay : float
        L2 coefficient for weight matrices.

    Raises
    ------
    ValueError
        For a value out of range.
    """

    def __init__(self, lr: float, momentum: float = 0.0, nesterov: bool = False,
                 weight_decay: float = 0.0):
        super().__init__()
        if lr <= 0 or not 0 <= momentum < 1 or weight_decay < 0:
            raise ValueError("need lr > 0, 0 <= momentum < 1, weight_decay >= 0")
        if nesterov and momentum == 0:
            raise ValueError("Nesterov momentum needs momentum > 0")
        self.lr, self.momentum, self.nesterov = lr, momentum, nesterov
        self.weight_decay = weight_decay
        self.STATE = ("velocity",) if momentum else ()

    def step(self, params: Sequence[np.ndarray], grads: Sequence[np.ndarray]) -> None:
        """Update ``params`` in place from ``grads`` (same shapes, same order)."""
        pieces = self._plan(params, grads)
        for piece, state in zip(pieces, self.piece_state):
            g = self._gradient(piece, self.weight_decay)
            if self.momentum:
                v = state["velocity"]
                v *= self.momentum
                v += g                                            # v = momentum v + g
                if self.nesterov:
                    direction = np.multiply(v, self.momentum, out=piece.scratch[3])
                    direction += g                                # g + momentum v
                else:
                    direction = v
            else:
                direction = g
            np.multiply(direction, self.lr, out=piece.scratch[3])
            piece.subtract_delta()                                # p -= lr * direction

    def state_dict(self) -> tuple[dict[str, list[np.ndarray]], dict[str, Any]]:
        """The optimizer's memory, for checkpoints: (one array per parameter, scalars)."""
        return self._per_parameter(), {"lr": self.lr}

    def load_state_dict(self, arrays: dict[str, list[np.ndarray]], scalars: dict[str, Any]) -> None:
        """Restore what :meth:`state_dict` returned (applied on the next step)."""
        self.lr = float(scalars["lr"])
        self.pieces, self._loaded = None, {k: [a.copy() for a in v] for k, v in arrays.items()}


class Adam(_Stateful):
    """Adam (Kingma & Ba, 2015): per-parameter steps from gradient moments.

    With ``t`` the step count (from 1)::

        m = beta1 * m + (1 - beta1) * g          running mean of gradients
        v = beta2 * v + (1 - beta2) * g**2       running mean of squares
        m_hat = m / (1 - beta1**t)               bias corrections: m and v
        v_hat = v / (1 - beta2**t)               start at zero
        p -= lr * m_hat / (sqrt(v_hat) + eps)

    The bias corrections are folded into two scalars, as in the paper's
    Algorithm 1 note: ``p -= lr_t * m / (sqrt(v) + eps_t)`` with
    ``lr_t = lr * sqrt(1 - beta2**t) / (1 - beta1**t)`` and
    ``eps_t = eps * sqrt(1 - beta2**t)``, which is the same update exactly.

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

    Raises
    ------
    ValueError
        For a value out of range.
    """

    STATE = ("m", "v")

    def __init__(self, lr: float = 1e-3, beta1: float = 0.9, beta2: float = 0.999,
                 eps: float = 1e-8, weight_decay: float = 0.0, decoupled: bool = False):
        super().__init__()
        if lr <= 0 or not (0 <= beta1 < 1 and 0 <= beta2 < 1) or eps <= 0 or weight_decay < 0:
            raise ValueError("need lr > 0, 0 <= beta < 1, eps > 0, weight_decay >= 0")
        self.lr, self.beta1, self.beta2, self.eps = lr, beta1, beta2, eps
        self.weight_decay, self.decoupled = weight_decay, decoupled
        self.t = 0

    def step(self, params: Sequence[np.ndarray], grads: Sequence[np.ndarray]) -> None:
        """Update ``params`` in place from ``grads`` (same shapes, same order)."""
        pieces = self._plan(params, grads)
        self.t += 1
        b1, b2 = self.beta1, self.beta2
        # Python floats, so that float32 arrays stay in float32 arithmetic.
        correction = math.sqrt(1 - b2**self.t)
        lr_t = self.lr * correction / (1 - b1**self.t)
        eps_t = self.eps * correction
        coupled = 0.0 if self.decoupled else self.weight_decay
        for piece, state in zip(pieces, self.piece_state):
            g = self._gradient(piece, coupled)
            m, v, work = state["m"], state["v"], piece.scratch[3]
            m *= b1
            m += np.multiply(g, 1 - b1, out=work)                 # m = b1 m + (1 - b1) g
            v *= b2
            square = np.multiply(g, g, out=work)
            square *= 1 - b2
            v += square                                           # v = b2 v + (1 - b2) g^2
            delta = np.sqrt(v, out=work)
            delta += eps_t
            np.divide(m, delta, out=delta)
            delta *= lr_t                                         # lr_t m / (sqrt(v) + eps_t)
            if self.decoupled and self.weight_decay and piece.decay:
                shrink = np.multiply(piece.gather(piece.params, slot=1), self.lr * self.weight_decay,
                                     out=piece.scratch[2])
                delta += shrink                                   # AdamW: + lr wd p
            piece.subtract_delta()                                # p -= delta

    def state_dict(self) -> tuple[dict[str, list[np.ndarray]], dict[str, Any]]:
        """The optimizer's memory, for checkpoints: textbook ``m``, ``v`` per parameter, and ``t``."""
        return self._per_parameter(), {"lr": self.lr, "t": self.t}

    def load_state_dict(self, arrays: dict[str, list[np.ndarray]], scalars: dict[str, Any]) -> None:
        """Restore what :meth:`state_dict` returned (applied on the next step)."""
        self.lr, self.t = float(scalars["lr"]), int(scalars["t"])
        self.pieces, self._loaded = None, {k: [a.copy() for a in v] for k, v in arrays.items()}


OPTIMIZERS = ("sgd", "momentum", "nesterov", "adam", "adamw")


def make_optimizer(name: str, lr: float, momentum: float = 0.9, weight_decay: float = 0.0) -> SGD | Adam:
    """Build an optimizer by name: sgd, momentum, nesterov, adam or adamw.

    Raises
    ------
    ValueError
        For an unknown name.
    """
    if name == "sgd":
        return SGD(lr, weight_decay=weight_decay)
    if name in ("momentum", "nesterov"):
        return SGD(lr, momentum=momentum, nesterov=name == "nesterov", weight_decay=weight_decay)
    if name in ("adam", "adamw"):
        return Adam(lr, weight_decay=weight_decay, decoupled=name == "adamw")
    raise ValueError(f"unknown optimizer {name!r}; choose one of {', '.join(OPTIMIZERS)}")
