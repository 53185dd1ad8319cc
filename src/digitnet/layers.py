"""Layers: the building blocks of the network.

Every layer has ``forward(x, training)`` and ``backward(grad_y)``:

* ``forward`` maps a batch ``x`` of shape ``(B, n_in)`` to ``y`` of shape
  ``(B, n_out)`` and caches only what ``backward`` needs;
* ``backward`` receives ``dL/dy`` (same shape as ``y``), writes the gradient
  of each parameter into ``self.grads`` (same keys as ``self.params``) and
  returns ``dL/dx``. It never changes the weights: that is the optimizer's job.

Arrays are batch first: one row per example. Parameters are plain NumPy
arrays owned by their layer, so a copied or unpickled layer is a working one.

Two contracts, one for each mode:

* ``training=False`` (inference: no dropout) returns fresh arrays, never
  changes ``x`` and keeps no reference to it;
* ``training=True`` caches what ``backward`` needs and writes into work
  arrays the layer keeps from step to step (no allocation per step; ReLU
  writes into its input, which is the previous layer's work array), so its
  result is overwritten by the next call, and ``backward`` may overwrite
  ``grad_y``. Only the training step (and gradient checks) use it.

A layer describes itself with :meth:`spec` (type and sizes, JSON-ready) and is
rebuilt by ``from_spec`` from that spec and its arrays: model files store a
list of specs, so a new layer type saves and loads without touching the loader.
"""

from __future__ import annotations

from typing import Any, ClassVar, Protocol

import numpy as np

from .workspace import WorkArrays, reusable_vector


class Layer(Protocol):
    """What the network and model files need from a layer (``typing.Protocol``).

    A new layer type implements these and is registered with
    :func:`register_layer`; model files then save and load it.
    """

    PARAMS: ClassVar[tuple[str, ...]]   # names of the arrays a model file stores, e.g. ("W", "b")
    params: dict[str, np.ndarray]
    grads: dict[str, np.ndarray]

    def forward(self, x: np.ndarray, training: bool = False) -> np.ndarray: ...

    def backward(self, grad_y: np.ndarray) -> np.ndarray | None: ...

    def spec(self) -> dict[str, Any]: ...

    @classmethod
    def from_spec(cls, spec: dict, params: dict[str, np.ndarray]) -> Layer: ...


class Dense(WorkArrays):
    """Fully connected layer ``y = x @ W + b``.

    Parameters
    ----------
    fan_in, fan_out : int
        Input and output sizes; ``W`` has shape ``(fan_in, fan_out)``.
    rng : np.random.Generator
        Source of the initial weights.
    dtype : float32 (default) or float64

    Attributes
    ----------
    input_grad : bool
        Whether ``backward`` returns ``dL/dx``. The network turns it off for
        its first Dense layer: the input is the image, which has no
        parameters behind it, so skipping that product saves a third of the
        layer's backward cost.

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

    PARAMS: ClassVar[tuple[str, ...]] = ("W", "b")   # the arrays a model file stores
    _scratch = ("_work", "_x")

    def __init__(self, fan_in: int, fan_out: int, rng: np.random.Generator, dtype=np.float32):
        scale = np.sqrt(2.0 / fan_in)
        W = (rng.standard_normal((fan_in, fan_out)) * scale).astype(dtype)
        self._set_params(W, np.zeros(fan_out, dtype=dtype))

    def _set_params(self, W: np.ndarray, b: np.ndarray) -> None:
        self.params = {"W": W, "b": b}
        self.grads = {name: np.zeros_like(p) for name, p in self.params.items()}
        self.input_grad = True
        self._x: np.ndarray | None = None
        self._work = {}

    def forward(self, x, training=False):
        W, b = self.params["W"], self.params["b"]
        if not training:
            self._x = None                            # inference keeps nothing of the caller's
            return x @ W + b                          # (B, fan_out), a new array
        self._x = x  # (B, fan_in), kept for dL/dW
        y = self.work("y", (x.shape[0], W.shape[1]), np.result_type(x, W))  # (B, fan_out)
        np.matmul(x, W, out=y)                        # y = x @ W + b
        y += b
        return y

    def backward(self, grad_y):
        W = self.params["W"]
        if self._x is None:
            raise RuntimeError("backward() needs a forward(x, training=True) first")
        # x.T is a view: BLAS reads it transposed, no copy is made.
        np.matmul(self._x.T, grad_y, out=self.grads["W"])
        # The sum over the batch as a product with a vector of ones, 1^T g:
        # BLAS does it several times faster than np.sum along axis 0.
        ones = reusable_vector(self._work, "ones", grad_y.shape[0], lambda n: np.ones(n, W.dtype))
        np.matmul(ones, grad_y, out=self.grads["b"])
        if not self.input_grad:
            return None
        grad_x = self.work("grad_x", (grad_y.shape[0], W.shape[0]), grad_y.dtype)  # (B, fan_in)
        return np.matmul(grad_y, W.T, out=grad_x)

    def spec(self) -> dict[str, Any]:
        fan_in, fan_out = self.params["W"].shape
        return {"type": "Dense", "fan_in": int(fan_in), "fan_out": int(fan_out)}

    @classmethod
    def from_spec(cls, spec: dict, params: dict[str, np.ndarray]) -> Dense:
        """Rebuild from :meth:`spec` and stored ``W`` (fan_in, fan_out), ``b`` (fan_out,)."""
        W, b = params["W"], params["b"]
        shape = (int(spec["fan_in"]), int(spec["fan_out"]))
        for name, array, needed in (("W", W, shape), ("b", b, shape[1:])):
            if array.shape != needed:
                raise ValueError(f"{name} is {array.shape}, the layer needs {needed}")
        layer = cls.__new__(cls)
        layer._set_params(W.copy(), b.copy())
        return layer

    def __repr__(self):
        fan_in, fan_out = self.params["W"].shape
        return f"Dense({fan_in}, {fan_out})"


class ReLU(WorkArrays):
    """Rectified linear unit ``y = max(x, 0)``; ``dy/dx`` is 1 where ``x > 0``, else 0.

    In training it works in place, as scikit-learn's ``inplace_relu`` does:
    ``x`` is the previous layer's work array, needed by nobody else, and
    ``grad_y`` the next one's. Backward only needs to know where ``y > 0``.
    At inference the result is a new array and ``x`` is left alone.
    """

    PARAMS: ClassVar[tuple[str, ...]] = ()
    _scratch = ("_work", "_y")

    def __init__(self):
        self.params: dict[str, np.ndarray] = {}
        self.grads: dict[str, np.ndarray] = {}
        self._y: np.ndarray | None = None
        self._work = {}

    def forward(self, x, training=False):
        if not training:
            self._y = None
            return np.maximum(x, 0)                   # a new array
        self._y = np.maximum(x, 0, out=x)             # (B, n), in place (training only)
        return self._y

    def backward(self, grad_y):
        if self._y is None:
            raise RuntimeError("backward() needs a forward(x, training=True) first")
        active = np.greater(self._y, 0, out=self.work("active", self._y.shape, bool))
        return np.multiply(grad_y, active, out=grad_y)

    def spec(self) -> dict[str, Any]:
        return {"type": "ReLU"}

    @classmethod
    def from_spec(cls, spec: dict, params: dict[str, np.ndarray]) -> ReLU:
        return cls()

    def __repr__(self):
        return "ReLU()"


class Dropout(WorkArrays):
    """Inverted dropout: during training, zero each input with probability ``p``.

    The survivors are scaled by ``1 / (1 - p)`` so that the expected value of
    each unit is unchanged and the layer is the identity at evaluation time
    (Srivastava et al., 2014).

    Parameters
    ----------
    p : float
        Drop probability, in [0, 1).
    rng : np.random.Generator, optional
        Source of the masks. Training hands the layer its own generator
        (:meth:`digitnet.model.Network.use_rng`), so runs are reproducible.

    Raises
    ------
    ValueError
        If ``p`` is not in [0, 1).
    """

    PARAMS: ClassVar[tuple[str, ...]] = ()
    _scratch = ("_work", "_mask")

    def __init__(self, p: float, rng: np.random.Generator | None = None):
        if not 0.0 <= p < 1.0:
            raise ValueError(f"dropout probability must be in [0, 1), got {p}")
        self.p = p
        self.rng = rng if rng is not None else np.random.default_rng()
        self.params: dict[str, np.ndarray] = {}
        self.grads: dict[str, np.ndarray] = {}
        self._mask: np.ndarray | None = None
        self._work = {}

    def forward(self, x, training=False):
        if not training or self.p == 0.0:
            self._mask = None
            return x                # the identity: x itself, unchanged
        # Four passes into arrays kept from step to step: allocating fresh
        # arrays of this size every step costs more than the arithmetic.
        draws = self.rng.random(x.shape, dtype=np.float32, out=self.work("draws", x.shape, np.float32))
        keep = np.greater_equal(draws, self.p, out=self.work("keep", x.shape, bool))
        self._mask = np.divide(keep, x.dtype.type(1.0 - self.p),
                               out=self.work("mask", x.shape, x.dtype))   # (B, n): 0 or 1/(1-p)
        return np.multiply(x, self._mask, out=self.work("y", x.shape, x.dtype))

    def backward(self, grad_y):
        if self._mask is None:
            return grad_y
        return np.multiply(grad_y, self._mask, out=grad_y)

    def spec(self) -> dict[str, Any]:
        return {"type": "Dropout", "p": float(self.p)}

    @classmethod
    def from_spec(cls, spec: dict, params: dict[str, np.ndarray]) -> Dropout:
        return cls(float(spec["p"]))

    def __repr__(self):
        return f"Dropout(p={self.p})"


# Every layer type a model file may name, by the "type" of its spec.
LAYER_TYPES: dict[str, Any] = {"Dense": Dense, "ReLU": ReLU, "Dropout": Dropout}


def register_layer(cls: type) -> type:
    """Let model files save and load layer class ``cls`` (usable as a decorator).

    ``cls`` needs what :class:`Layer` lists; its specs' ``"type"`` is its name.

    Raises
    ------
    TypeError
        If ``cls`` lacks ``PARAMS``, ``forward``, ``backward``, ``spec`` or ``from_spec``.
    """
    missing = [name for name in ("PARAMS", "forward", "backward", "spec", "from_spec")
               if not hasattr(cls, name)]
    if missing:
        raise TypeError(f"{cls.__name__} cannot be a layer: it has no {', '.join(missing)}")
    LAYER_TYPES[cls.__name__] = cls
    return cls
