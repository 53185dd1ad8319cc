"""The network: a stack of layers run forward, then backward in reverse.

Backpropagation is nothing more than the chain rule applied layer by layer::

    forward:   x -> Dense -> ReLU -> ... -> Dense -> logits
    backward:  dL/dlogits -> ... -> ReLU.backward -> Dense.backward

Each ``backward`` turns the gradient with respect to its output into the
gradient with respect to its input, filling in its parameter gradients on
the way.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .layers import Dense, Dropout, Layer, ReLU
from .losses import softmax


@dataclass(frozen=True)
class Architecture:
    """The shape of a multilayer perceptron, enough to rebuild it.

    Attributes
    ----------
    input_size : int
        784 for 28x28 images.
    hidden : tuple of int
        Width of each hidden layer, e.g. ``(50, 50, 50)``.
    output_size : int
        Number of classes.
    dropout : float
        Drop probability after each hidden ReLU (0 = none).
    input_dropout : float
        Drop probability on the input pixels (0 = none).
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

    def to_dict(self) -> dict:
        return {"input_size": self.input_size, "hidden": list(self.hidden),
                "output_size": self.output_size, "dropout": self.dropout,
                "input_dropout": self.input_dropout, "activation": "relu"}


class Network:
    """A feed-forward network: a list of layers.

    Parameters
    ----------
    layers : list of Layer
    architecture : Architecture, optional
        What was built, kept for saving.

    Examples
    --------
    >>> net = build_mlp(Architecture(hidden=(32,)), np.random.default_rng(0))
    >>> net.predict_proba(np.zeros((5, 784), np.float32)).shape
    (5, 10)
    """

    def __init__(self, layers: list[Layer], architecture: Architecture | None = None):
        self.layers = layers
        self.architecture = architecture
        # The layer that sees the input: the only one whose input gradient is optional.
        self._first_dense = next((layer for layer in layers if isinstance(layer, Dense)), None)
        self._flatten()

    def _flatten(self) -> None:
        """Store all parameters in one flat array (and all gradients in another).

        Each layer's ``params["W"]`` becomes a view into the flat array, so
        layers work on their own matrices as usual while the optimizer can
        update every parameter at once with a handful of whole-array
        operations instead of a handful per array. Weights come first, then
        biases, so "all weights" (which weight decay applies to) is one slice.
        """
        owners = [(layer, name) for layer in self.layers for name in layer.params]
        if not owners:
            self.flat_params = self.flat_grads = None
            return
        order = sorted(owners, key=lambda owner: owner[1] != "W")  # W's first, stable
        dtype = np.result_type(*(layer.params[name] for layer, name in owners))
        total = sum(layer.params[name].size for layer, name in owners)
        self.flat_params, self.flat_grads = np.empty(total, dtype), np.zeros(total, dtype)
        self.n_weights = sum(layer.params[name].size for layer, name in owners if name == "W")
        start = 0
        for layer, name in order:
            value = layer.params[name]
            end = start + value.size
            self.flat_params[start:end] = value.ravel()
            layer.params[name] = self.flat_params[start:end].reshape(value.shape)
            layer.grads[name] = self.flat_grads[start:end].reshape(value.shape)
            start = end

    def optimizer_groups(self, weight_decay: bool = True) -> tuple[list[np.ndarray], list[np.ndarray], list[bool]]:
        """(params, grads, decay): what the training loop hands the optimizer.

        With weight decay: all weights as one flat array (decayed) and all
        biases as another (not decayed). Without: everything as one array,
        which saves the optimizer ten small operations per step.
        """
        if not weight_decay:
            return [self.flat_params], [self.flat_grads], [False]
        w = self.n_weights
        return ([self.flat_params[:w], self.flat_params[w:]],
                [self.flat_grads[:w], self.flat_grads[w:]], [True, False])

    def forward(self, x: np.ndarray, training: bool = False) -> np.ndarray:
        """Logits for a batch ``x`` (B, 784) -> (B, 10).

        The result lives in the last layer's work array and is overwritten
        by the next call: copy it to keep it (``predict_proba`` returns new
        arrays).
        """
        for layer in self.layers:
            x = layer.forward(x, training)
        return x

    def backward(self, grad: np.ndarray, input_grad: bool = False) -> np.ndarray | None:
        """Backpropagate ``dL/dlogits`` (B, 10), filling every layer's ``grads``.

        Normally the first Dense layer skips ``dL/dinput``, which only
        adversarial training needs: ``input_grad=True`` returns it, (B, 784).
        """
        if self._first_dense is not None:
            self._first_dense.input_grad = input_grad
        for layer in reversed(self.layers):
            grad = layer.backward(grad)
            if grad is None:  # the first Dense skipped the unused input gradient
                return None
        return grad

    def activations(self, x: np.ndarray) -> tuple[np.ndarray, list[np.ndarray]]:
        """Look inside: the logits (B, 10) and every hidden layer's ReLU output (B, H_i).

        Evaluation mode (no dropout); the arrays are copies the caller may keep.
        """
        hidden = []
        for layer in self.layers:
            x = layer.forward(x)
            if isinstance(layer, ReLU):
                hidden.append(x.copy())
        return x.copy(), hidden

    def parameters(self) -> list[np.ndarray]:
        """Every parameter array, in a fixed order (layer by layer, W then b)."""
        return [p for layer in self.layers for p in layer.params.values()]

    def gradients(self) -> list[np.ndarray]:
        """The gradient arrays, in the same order as :meth:`parameters`."""
        return [layer.grads[name] for layer in self.layers for name in layer.params]

    def named_parameters(self) -> list[tuple[str, np.ndarray]]:
        """``("layer0.W", array)`` pairs, numbered by Dense layer."""
        dense = [layer for layer in self.layers if layer.params]
        return [(f"layer{i}.{name}", p) for i, layer in enumerate(dense)
                for name, p in layer.params.items()]

    def predict_proba(self, x: np.ndarray, batch_size: int = 4096) -> np.ndarray:
        """Class probabilities for ``x`` (N, 784) -> (N, 10), in batches."""
        out = [softmax(self.forward(x[i:i + batch_size])) for i in range(0, len(x), batch_size)]
        return np.concatenate(out) if out else np.zeros((0, self.architecture.output_size))

    @property
    def dtype(self):
        return self.parameters()[0].dtype

    def __repr__(self):
        return "Network(" + ", ".join(map(repr, self.layers)) + ")"


def build_mlp(arch: Architecture, rng: np.random.Generator, dtype=np.float32) -> Network:
    """Build ``[Dropout] Dense ReLU [Dropout] ... Dense`` from an architecture.

    Parameters
    ----------
    arch : Architecture
    rng : np.random.Generator
        Draws the initial weights, then the dropout masks during training.
    dtype : float32 (default) or float64

    Returns
    -------
    Network
    """
    layers: list[Layer] = []
    if arch.input_dropout > 0:
        layers.append(Dropout(arch.input_dropout, rng))
    sizes = arch.sizes
    for i, (fan_in, fan_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        # Only the very first Dense sees raw input, whose gradient nobody needs.
        layers.append(Dense(fan_in, fan_out, rng, dtype, input_grad=i > 0))
        if i < len(sizes) - 2:
            layers.append(ReLU())
            if arch.dropout > 0:
                layers.append(Dropout(arch.dropout, rng))
    return Network(layers, arch)
