"""The network: a stack of layers run forward, then backward in reverse.

Backpropagation is nothing more than the chain rule applied layer by layer::

    forward:   x -> Dense -> ReLU -> ... -> Dense -> logits
    backward:  dL/dlogits -> ... -> ReLU.backward -> Dense.backward

Each ``backward`` turns the gradient with respect to its output into the
gradient with respect to its input, filling in its parameter gradients on
the way.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from .errors import InputError
from .inputs import check_features, encode_labels, to_float
from .layers import Dense, Dropout, Layer, ReLU
from .losses import softmax


@dataclass(frozen=True)
class Architecture:
    """The shape of a multilayer perceptron, enough to build it.

    Attributes
    ----------
    input_size : int
        Features per sample: 784 for 28x28 images.
    hidden : tuple of int
        Width of each hidden layer, e.g. ``(50, 50, 50)``.
    output_size : int
        Number of classes.
    dropout : float
        Drop probability after each hidden ReLU (0 = none).
    input_dropout : float
        Drop probability on the input features (0 = none).
    """

    input_size: int = 784
    hidden: tuple[int, ...] = (128,)
    output_size: int = 10
    dropout: float = 0.0
    input_dropout: float = 0.0

    @property
    def sizes(self) -> tuple[int, ...]:
        """All layer widths, input to output: e.g. (784, 50, 50, 50, 10)."""
        return (self.input_size, *self.hidden, self.output_size)


class Network:
    """A feed-forward network: a list of layers, and the classes it tells apart.

    Parameters
    ----------
    layers : list of Layer
        Run in order; the last one's output are the logits, (B, K).
    classes : sequence of int or str, optional
        The label of each output, in order; default ``0 .. K-1``.

    Examples
    --------
    >>> net = build_mlp(Architecture(input_size=4, hidden=(8,), output_size=3), np.random.default_rng(0))
    >>> net.predict_proba(np.zeros((5, 4), np.float32)).shape
    (5, 3)
    """

    def __init__(self, layers: Sequence[Layer], classes: Sequence | None = None):
        self.layers = list(layers)
        dense = [layer for layer in self.layers if isinstance(layer, Dense)]
        if not dense:
            raise ValueError("a network needs at least one Dense layer")
        n_outputs = dense[-1].params["W"].shape[1]
        self.classes = list(range(n_outputs)) if classes is None else list(classes)
        if len(self.classes) != n_outputs:
            raise ValueError(f"{len(self.classes)} classes for {n_outputs} outputs")
        # The first Dense sees the input, whose gradient nobody needs (except
        # adversarial training, which asks for it through backward()).
        dense[0].input_grad = False
        self.history: list[dict] = []

    # -- the two passes ----------------------------------------------------

    def forward(self, x: np.ndarray, training: bool = False) -> np.ndarray:
        """Logits for a float batch ``x`` (B, n_features) -> (B, K).

        With ``training=False`` the result is a new array and ``x`` is left
        alone. With ``training=True`` (dropout on) the layers write into work
        arrays that the next call overwrites: that mode is for the training
        step, which uses the logits at once.
        """
        for layer in self.layers:
            x = layer.forward(x, training)
        return x

    def backward(self, grad: np.ndarray, input_grad: bool = False) -> np.ndarray | None:
        """Backpropagate ``dL/dlogits`` (B, K), filling every layer's ``grads``.

        ``input_grad=True`` also returns ``dL/dx`` (B, n_features), which only
        adversarial training needs; otherwise the first Dense layer skips it.
        """
        first = self._first_dense()
        first.input_grad = input_grad
        passed: np.ndarray | None = grad
        for layer in reversed(self.layers):
            if passed is None:  # the first Dense skipped the unused input gradient
                break
            passed = layer.backward(passed)
        first.input_grad = False
        return passed

    # -- what the optimizer and the files see ------------------------------

    def parameters(self) -> list[np.ndarray]:
        """Every parameter array, in a fixed order (layer by layer, W then b)."""
        return [p for layer in self.layers for p in layer.params.values()]

    def gradients(self) -> list[np.ndarray]:
        """The gradient arrays, in the same order as :meth:`parameters`."""
        return [layer.grads[name] for layer in self.layers for name in layer.params]

    def named_parameters(self) -> list[tuple[str, np.ndarray]]:
        """``("layer0.W", array)`` pairs, numbered by layer with parameters."""
        owners = [layer for layer in self.layers if layer.params]
        return [(f"layer{i}.{name}", p) for i, layer in enumerate(owners)
                for name, p in layer.params.items()]

    def use_rng(self, rng: np.random.Generator) -> None:
        """Draw dropout masks from ``rng`` (training's generator, for reproducibility)."""
        for layer in self.layers:
            if isinstance(layer, Dropout):
                layer.rng = rng

    # -- inference: fresh arrays, inputs untouched -------------------------

    def predict_proba(self, X: Any, batch_size: int = 4096) -> np.ndarray:
        """Class probabilities, (n_samples, K), columns in the order of ``classes``.

        Parameters
        ----------
        X : array-like, shape (n_samples, n_features)
            uint8 pixels (scaled by 1/255) or floats (used as given).
        batch_size : int
            Rows per forward pass (bounds the memory used).

        Raises
        ------
        InputError
            Wrong shape, dtype, feature count, NaN or infinity.
        """
        return softmax(self.logits(X, batch_size))

    def logits(self, X: Any, batch_size: int = 4096) -> np.ndarray:
        """The scores before the softmax, (n_samples, K); as :meth:`predict_proba` otherwise."""
        X = check_features(X, self.n_features_in)
        out = np.empty((len(X), self.n_classes), self.dtype)
        for start in range(0, len(X), batch_size):
            x = self._floats(X[start:start + batch_size])
            out[start:start + len(x)] = self.forward(x)
        return out

    def _floats(self, X: np.ndarray) -> np.ndarray:
        """Checked rows as the network's floats; values beyond its dtype's range are an error."""
        with np.errstate(over="ignore"):   # reported below, in one line
            x = to_float(X, self.dtype)
        if x.dtype != X.dtype and not np.isfinite(x).all():
            raise InputError(f"X holds values too large for {self.dtype} (largest magnitude "
                             f"{float(np.abs(X).max()):.3g})")
        return x

    def predict(self, X: Any) -> np.ndarray:
        """The most probable class of each sample, (n_samples,), as labels from ``classes``."""
        return np.asarray(self.classes)[self.logits(X).argmax(axis=1)]   # softmax keeps the order

    def activations(self, X: Any) -> tuple[np.ndarray, list[np.ndarray]]:
        """Look inside: the logits (B, K) and every hidden ReLU's output (B, H_i).

        ``X`` (B, n_features) as for :meth:`predict_proba`; evaluation mode, new arrays.
        """
        x = self._floats(check_features(X, self.n_features_in))
        hidden = []
        for layer in self.layers:
            x = layer.forward(x)
            if isinstance(layer, ReLU):
                hidden.append(x)
        return x, hidden

    def encode(self, y: Any) -> np.ndarray:
        """Labels (n_samples,) to class indices, checked against ``classes``."""
        return encode_labels(y, self.classes)[0]

    # -- description -------------------------------------------------------

    @property
    def n_features_in(self) -> int:
        return int(self._first_dense().params["W"].shape[0])

    @property
    def n_classes(self) -> int:
        return len(self.classes)

    @property
    def sizes(self) -> tuple[int, ...]:
        """Input, hidden and output widths, e.g. (784, 512, 256, 10)."""
        dense = [layer for layer in self.layers if isinstance(layer, Dense)]
        return (self.n_features_in, *(int(layer.params["W"].shape[1]) for layer in dense))

    @property
    def dtype(self) -> np.dtype:
        return self.parameters()[0].dtype

    def spec(self) -> list[dict]:
        """The layers as typed specs, e.g. ``[{"type": "Dense", "fan_in": 784, ...}, ...]``."""
        return [layer.spec() for layer in self.layers]

    def _first_dense(self) -> Dense:
        return next(layer for layer in self.layers if isinstance(layer, Dense))

    def __repr__(self):
        return "Network(" + ", ".join(map(repr, self.layers)) + ")"


def build_mlp(arch: Architecture, rng: np.random.Generator, dtype=np.float32,
              classes: Sequence | None = None) -> Network:
    """Build ``[Dropout] Dense ReLU [Dropout] ... Dense`` from an architecture.

    Parameters
    ----------
    arch : Architecture
    rng : np.random.Generator
        Draws the initial weights, then the dropout masks during training.
    dtype : float32 (default) or float64
    classes : sequence, optional
        Labels of the ``arch.output_size`` outputs.

    Returns
    -------
    Network
    """
    layers: list[Layer] = []
    if arch.input_dropout > 0:
        layers.append(Dropout(arch.input_dropout, rng))
    sizes = arch.sizes
    for i, (fan_in, fan_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(Dense(fan_in, fan_out, rng, dtype))
        if i < len(sizes) - 2:
            layers.append(ReLU())
            if arch.dropout > 0:
                layers.append(Dropout(arch.dropout, rng))
    return Network(layers, classes)
