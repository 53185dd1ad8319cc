"""Softmax and cross-entropy, fused into one numerically stable loss.

For logits ``z`` of shape ``(B, K)`` and integer labels ``y`` of shape ``(B,)``::

    log p = z - logsumexp(z)                      (log-softmax, row by row)
    L     = -mean_i log p[i, y_i]                 (cross-entropy)
    dL/dz = (softmax(z) - onehot(y)) / B

Subtracting the row maximum before exponentiating (the log-sum-exp trick)
means ``exp`` never overflows, and computing ``log p`` directly instead of
``log(softmax(z))`` means a confident wrong answer costs a large finite loss
rather than ``log(0) = -inf``.

Label smoothing (Szegedy et al., 2016) replaces the one-hot target by
``q = (1 - eps) * onehot(y) + eps / K``: the network is never asked to be
100% sure, which keeps its logits from growing without bound and acts as a
regulariser (Pereyra et al., 2017). Then::

    L     = -mean_i sum_k q[i, k] log p[i, k]
          = (1 - eps) * CE  +  eps * mean_i mean_k (-log p[i, k])
    dL/dz = (softmax(z) - q) / B

Sample weights ``w`` (B,) scale each example's share of the loss and of
its gradient: ``L = sum_i w_i l_i / B``, ``dL/dz_i = w_i (p_i - q_i) / B``.
The caller scales them to mean 1 over the training set, so that weights of
all ones are the plain loss and the learning rate keeps its meaning; an
integer weight then counts as that many copies of the example (exactly so
in full-batch training). This is scikit-learn's convention for
``sample_weight`` (``np.average`` of the per-example losses).
"""

from __future__ import annotations

import numpy as np

from .workspace import reusable_array, reusable_vector


def log_softmax(z: np.ndarray) -> np.ndarray:
    """Row-wise log-softmax of ``z`` (B, K), stable for any finite input."""
    shifted = z - z.max(axis=1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))


def softmax(z: np.ndarray) -> np.ndarray:
    """Row-wise softmax of ``z`` (B, K): probabilities that sum to 1."""
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


class SoftmaxCrossEntropy:
    """Mean cross-entropy of softmax(logits) against integer labels.

    Parameters
    ----------
    smoothing : float, in [0, 1)
        Label smoothing ``eps`` (0: plain cross-entropy).

    Examples
    --------
    >>> loss = SoftmaxCrossEntropy()
    >>> z = np.array([[2.0, 0.0], [0.0, 2.0]])
    >>> round(loss.forward(z, np.array([0, 1])), 4)
    0.1269
    >>> loss.backward().shape
    (2, 2)
    """

    def __init__(self, smoothing: float = 0.0):
        if not 0.0 <= smoothing < 1.0:
            raise ValueError(f"label smoothing must be in [0, 1), got {smoothing}")
        self.smoothing = smoothing
        self._probs: np.ndarray | None = None
        self._labels: np.ndarray | None = None
        self._weights: np.ndarray | None = None
        self._rows: np.ndarray | None = None      # 0 .. B-1, for picking each row's label
        self._buffers: dict[str, np.ndarray] = {}

    def forward(self, logits: np.ndarray, labels: np.ndarray, weights: np.ndarray | None = None) -> float:
        """Return the mean loss over the batch and cache the probabilities.

        ``logits`` (B, K), ``labels`` (B,) class indices, ``weights`` (B,)
        optional sample weights (see the module docstring).

        With ``m`` the row maximum and ``s = sum(exp(z - m))``, the loss of a
        row is ``log s - (z_y - m)``: no log of a probability that might have
        underflowed to 0. With smoothing, ``-log p_k = log s - (z_k - m)``
        averaged over the K classes is ``log s - mean_k(z_k - m)``.
        """
        rows = reusable_vector(self._buffers, "rows", len(labels), np.arange)  # (B,)
        top = logits.max(axis=1, keepdims=True)               # (B, 1)
        work = reusable_array(self._buffers, "probs", logits.shape, logits.dtype)
        probs = np.subtract(logits, top, out=work)             # (B, K), z - m
        label_shifted = probs[rows, labels]                    # (B,), z_y - m
        if self.smoothing:
            eps = self.smoothing
            target_shifted = (1 - eps) * label_shifted + eps * probs.mean(axis=1)
        else:
            target_shifted = label_shifted
        np.exp(probs, out=probs)
        sums = probs.sum(axis=1, keepdims=True)                # (B, 1), s
        probs /= sums                                          # softmax
        self._probs, self._labels, self._weights, self._rows = probs, labels, weights, rows
        losses = np.subtract(np.log(sums[:, 0]), target_shifted)   # (B,)
        if weights is not None:
            losses *= weights
        return float(np.add.reduce(losses)) / len(labels)

    def backward(self) -> np.ndarray:
        """Return ``dL/dlogits = w (p - q) / B``, shape (B, K); ``q`` the target.

        Computed in place in the probability array (``probabilities`` is
        not valid after this call), and that array is reused by the next
        ``forward``: copy the result to keep it.
        """
        if self._probs is None or self._labels is None:
            raise RuntimeError("backward() needs a forward() first")
        grad = self._probs
        if self.smoothing:
            grad -= self.smoothing / grad.shape[1]
        grad[self._rows, self._labels] -= 1 - self.smoothing
        grad /= len(self._labels)
        if self._weights is not None:
            grad *= self._weights.astype(grad.dtype, copy=False)[:, None]
        return grad

    @property
    def probabilities(self) -> np.ndarray | None:
        """The softmax probabilities of the last forward pass, (B, K)."""
        return self._probs
