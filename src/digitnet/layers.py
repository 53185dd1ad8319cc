"""Layers: the building blocks of the network.

Every layer has ``forward(x, training)`` and ``backward(grad_y)``:

* ``forward`` maps a batch ``x`` of shape ``(B, n_in)`` to ``y`` of shape
  ``(B, n_out)`` and caches only what ``backward`` needs;
* ``backward`` receives ``dL/dy`` (same shape as ``y``), writes the gradient
  of each parameter into ``self.grads`` (same keys as ``self.params``) and
  returns ``dL/dx``. It never changes the weights: that is the optimizer's job.
  It may overwrite ``grad_y`` (ReLU and Dropout work in place), which the
  caller no longer needs.

Arrays are batch first: one row per example.
"""

from __future__ import annotations

import numpy as np


def reusable_array(store: dict, name: str, shape: tuple[int, ...], dtype) -> np.ndarray:
    """A work array of ``shape`` kept in ``store`` from call to call.

    Training runs thousands of steps with the same batch size; writing each
    step's outputs into arrays allocated once (NumPy's ``out=``) saves the
    allocator and the page faults. The array is kept for the largest batch
    seen and a view of its first rows is returned, so batches of changing
    size (the last, smaller one of an epoch) allocate nothing either. The
    catch, and the reason this is explicit: the array is overwritten by the
    next call.
    """
    kept = store.get(name)
    if kept is None or kept.shape[0] < shape[0] or kept.shape[1:] != shape[1:] or kept.dtype != dtype:
        rows = max(shape[0], 0 if kept is None or kept.shape[1:] != shape[1:] else kept.shape[0])
        kept = store[name] = np.empty((rows, *shape[1:]), dtype)
    return kept[:shape[0]]


def reusable_vector(store: dict, name: str, n: int, make) -> np.ndarray:
    """The first ``n`` entries of a constant vector ``make(length)`` kept in ``store``.

    For vectors that never change once built (ones, the row numbers
    0 .. n-1): built again only when a longer one is needed.
    """
    kept = store.get(name)
    if kept is None or len(kept) < n:
        kept = store[name] = make(n)
    return kept[:n]


class Layer:
    """Base class: a layer with no parameters that passes data through."""

    def __init__(self):
        self.params: dict[str, np.ndarray] = {}
        self.grads: dict[str, np.ndarray] = {}
        self._buffers: dict[str, np.ndarray] = {}

    def buffer(self, name: str, shape: tuple[int, int], dtype) -> np.ndarray:
        """A reusable work array of ``shape``: see :func:`reusable_array`."""
        return reusable_array(self._buffers, name, shape, dtype)

    def forward(self, x: np.ndarray, training: bool = False) -> np.ndarray:
        return x

    def backward(self, grad_y: np.ndarray) -> np.ndarray:
        return grad_y

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


class Dense(Layer):
    """Fully connected layer ``y = x @ W + b``.

    Parameters
    ----------
    fan_in, fan_out : int
        Input and output sizes; ``W`` has shape ``(fan_in, fan_out)``.
    rng : np.random.Generator
        Source of the initial weights.
    dtype : float32 (default) or float64
    input_grad : bool
        Whether ``backward`` returns ``dL/dx``. The first layer's input is the
        image, which has no parameters behind it, so its input gradient is
        never used and skipping that matrix multiply saves a third of its cost.

    Notes
    -----
    He initialisation: ``W ~ N(0, 2 / fan_in)``, ``b = 0``. With ReLU, which
    zeroes about half its inputs, this keeps the variance of the activations
    roughly constant from layer to layer (He et al., 2015).

    Backward, for a batch ``x`` (B, fan_in) and ``g = dL/dy`` (B, fan_out)::

        dL/dW = x.T @ g          (fan_in, fan_out)
        dL/db = g.sum(axis=0)    (fan_out,), computed as ones(B) @ g
        dL/dx = g @ W.T          (B, fan_in)

    Examples
    --------
    >>> layer = Dense(784, 10, np.random.default_rng(0))
    >>> layer.forward(np.zeros((32, 784), np.float32)).shape
    (32, 10)
    """

    def __init__(self, fan_in: int, fan_out: int, rng: np.random.Generator,
                 dtype=np.float32, input_grad: bool = True):
        super().__init__()
        scale = np.sqrt(2.0 / fan_in)
        self.params["W"] = (rng.standard_normal((fan_in, fan_out)) * scale).astype(dtype)
        self.params["b"] = np.zeros(fan_out, dtype=dtype)
        self.grads = {name: np.zeros_like(p) for name, p in self.params.items()}
        self.input_grad = input_grad
        self._x = None

    def forward(self, x, training=False):
        W, b = self.params["W"], self.params["b"]
        self._x = x  # (B, fan_in), kept for dL/dW
        y = self.buffer("y", (x.shape[0], W.shape[1]), np.result_type(x, W))  # (B, fan_out)
        np.matmul(x, W, out=y)
        y += b
        return y

    def backward(self, grad_y):
        W = self.params["W"]
        # x.T is a view: BLAS reads it transposed, no copy is made.
        np.matmul(self._x.T, grad_y, out=self.grads["W"])
        # The sum over the batch as a product with a vector of ones, 1^T g:
        # BLAS does it several times faster than np.sum along axis 0.
        ones = reusable_vector(self._buffers, "ones", grad_y.shape[0], lambda n: np.ones(n, W.dtype))
        np.matmul(ones, grad_y, out=self.grads["b"])
        if not self.input_grad:
            return None
        grad_x = self.buffer("grad_x", (grad_y.shape[0], W.shape[0]), grad_y.dtype)  # (B, fan_in)
        return np.matmul(grad_y, W.T, out=grad_x)

    def __repr__(self):
        fan_in, fan_out = self.params["W"].shape
        return f"Dense({fan_in}, {fan_out})"


class ReLU(Layer):
    """Rectified linear unit ``y = max(x, 0)``; ``dy/dx`` is 1 where ``x > 0``, else 0.

    Works in place: the input (the previous Dense layer's output, needed by
    nobody else) is overwritten by the output, and the incoming gradient by
    the outgoing one. Backward only needs to know where ``y > 0``.
    """

    def __init__(self):
        super().__init__()
        self._y = None

    def forward(self, x, training=False):
        self._y = np.maximum(x, 0, out=x)  # (B, n)
        return self._y

    def backward(self, grad_y):
        active = np.greater(self._y, 0, out=self.buffer("active", self._y.shape, bool))
        return np.multiply(grad_y, active, out=grad_y)


class Dropout(Layer):
    """Inverted dropout: during training, zero each input with probability ``p``.

    The survivors are scaled by ``1 / (1 - p)`` so that the expected value of
    each unit is unchanged and the layer is the identity at evaluation time
    (Srivastava et al., 2014).

    Parameters
    ----------
    p : float
        Drop probability, in [0, 1).
    rng : np.random.Generator
        Source of the masks (the training generator, so runs are reproducible).
    """

    def __init__(self, p: float, rng: np.random.Generator):
        super().__init__()
        if not 0.0 <= p < 1.0:
            raise ValueError(f"dropout probability must be in [0, 1), got {p}")
        self.p = p
        self.rng = rng
        self._mask = None

    def forward(self, x, training=False):
        if not training or self.p == 0.0:
            self._mask = None
            return x
        # Four passes into arrays kept from step to step: allocating fresh
        # arrays of this size every step costs more than the arithmetic.
        draws = self.rng.random(x.shape, dtype=np.float32, out=self.buffer("draws", x.shape, np.float32))
        keep = np.greater_equal(draws, self.p, out=self.buffer("keep", x.shape, bool))
        self._mask = np.divide(keep, x.dtype.type(1.0 - self.p),
                               out=self.buffer("mask", x.shape, x.dtype))   # (B, n): 0 or 1/(1-p)
        return np.multiply(x, self._mask, out=self.buffer("y", x.shape, x.dtype))

    def backward(self, grad_y):
        if self._mask is None:
            return grad_y
        # In place: grad_y is the next layer's work array, needed by nobody else.
        return np.multiply(grad_y, self._mask, out=grad_y)

    def __repr__(self):
        return f"Dropout(p={self.p})"
