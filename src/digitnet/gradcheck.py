"""Checking backpropagation against finite differences.

For any scalar function ``f`` of an array ``p``, the central difference

    df/dp_i  ~  (f(p + h e_i) - f(p - h e_i)) / (2 h)

has an error of order h^2. In float64 with h = 1e-5, analytic gradients that
are right agree with it to a relative error around 1e-8 or better; a bug in a
backward pass typically shows up as an error of 1e-2 or worse.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from .losses import SoftmaxCrossEntropy
from .model import Architecture, build_mlp


def numerical_gradient(f: Callable[[], float], p: np.ndarray, h: float = 1e-5) -> np.ndarray:
    """Central-difference gradient of ``f()`` with respect to ``p``, perturbed in place."""
    grad = np.zeros_like(p, dtype=np.float64)
    flat, out = p.reshape(-1), grad.reshape(-1)
    for i in range(flat.size):
        original = flat[i]
        flat[i] = original + h
        f_plus = f()
        flat[i] = original - h
        f_minus = f()
        flat[i] = original
        out[i] = (f_plus - f_minus) / (2 * h)
    return grad


def relative_error(analytic: np.ndarray, numeric: np.ndarray) -> float:
    """``|a - n| / (|a| + |n|)`` over the whole array (0 when both are 0)."""
    denominator = np.linalg.norm(analytic) + np.linalg.norm(numeric)
    if denominator == 0:
        return 0.0
    return float(np.linalg.norm(analytic - numeric) / denominator)


def check_network(hidden=(16, 12), input_size: int = 20, classes: int = 10, batch: int = 8,
                  seed: int = 0) -> list[tuple[str, tuple[int, ...], float]]:
    """Gradient-check every parameter of a small float64 MLP with softmax cross-entropy.

    Returns
    -------
    list of (name, shape, relative error)
    """
    rng = np.random.default_rng(seed)
    model = build_mlp(Architecture(input_size=input_size, hidden=tuple(hidden), output_size=classes),
                      rng, dtype=np.float64)
    x = rng.standard_normal((batch, input_size))
    y = rng.integers(0, classes, size=batch)
    loss = SoftmaxCrossEntropy()

    def f() -> float:
        return loss.forward(model.forward(x, training=True), y)

    f()
    model.backward(loss.backward())
    results = []
    for (name, p), g in zip(model.named_parameters(), model.gradients()):
        analytic = g.copy()
        results.append((name, p.shape, relative_error(analytic, numerical_gradient(f, p))))
    return results
