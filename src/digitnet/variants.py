"""Variants of a step's gradient computation, chosen once before the loop.

* :class:`InSlices`: a batch too large for the processor's cache (full-batch
  gradient descent on 60,000 images) is processed in slices whose gradients
  are summed with the right weights: the same gradient, computed faster.
* :class:`Adversarial`: FGSM adversarial training, a second forward and
  backward pass on inputs pushed the way that hurts the network most.

Each has the signature of :func:`digitnet.train.gradients`,
``(model, loss_fn, x, y, weights) -> (loss, correct)``, so they compose:
``InSlices(Adversarial(0.1), 4096, prepare)``; :func:`digitnet.train.choose_gradients`
picks them for a run.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np


class InSlices:
    """Gradients of a large batch as the weighted sum of its slices' gradients.

    The mean loss over ``B`` rows is ``sum_s (b_s / B) * mean loss of slice s``,
    so its gradient is the same weighted sum. Each slice is turned into floats
    (``prepare``) only when its turn comes, and its activations (a few MB)
    stay in the processor's cache instead of streaming through memory: full
    batch on 60,000 images never holds them all as floats.
    """

    def __init__(self, compute: Callable, rows: int, prepare: Callable[[np.ndarray], np.ndarray]):
        self.compute, self.rows, self.prepare = compute, rows, prepare
        self.total: list[np.ndarray] | None = None

    def __call__(self, model, loss_fn, x, y, weights=None):
        grads = model.gradients()
        if self.total is None:
            self.total = [np.empty_like(g) for g in grads]
        loss, correct = 0.0, 0
        for start in range(0, len(y), self.rows):
            part = slice(start, start + self.rows)
            share = len(y[part]) / len(y)
            slice_loss, slice_correct = self.compute(model, loss_fn, self.prepare(x[part]), y[part],
                                                     None if weights is None else weights[part])
            loss, correct = loss + share * slice_loss, correct + slice_correct
            for total, g in zip(self.total, grads):
                if start == 0:
                    np.multiply(g, share, out=total)
                else:
                    g *= share
                    total += g
        for total, g in zip(self.total, grads):
            g[...] = total
        return loss, correct


class Adversarial:
    """FGSM adversarial training (Goodfellow et al., 2015).

    The loss becomes the mean of the loss on ``x`` and on
    ``clip(x + eps * sign(dL/dx), 0, 1)``, the inputs pushed the way that
    hurts the network most. Reported loss and accuracy are the clean pass's.
    """

    def __init__(self, eps: float):
        self.eps = eps
        self.clean: list[np.ndarray] | None = None

    def __call__(self, model, loss_fn, x, y, weights=None):
        logits = model.forward(x, training=True)
        loss = loss_fn.forward(logits, y, weights)
        correct = int(np.count_nonzero(logits.argmax(axis=1) == y))
        grad_x = model.backward(loss_fn.backward(), input_grad=True)   # (B, n_features)
        grads = model.gradients()
        if self.clean is None:
            self.clean = [np.empty_like(g) for g in grads]
        for kept, g in zip(self.clean, grads):
            kept[...] = g
        x_adv = np.sign(grad_x, out=grad_x)                  # x + eps * sign(dL/dx), a valid input
        x_adv *= x.dtype.type(self.eps)
        x_adv += x
        np.clip(x_adv, 0, 1, out=x_adv)
        loss_fn.forward(model.forward(x_adv, training=True), y, weights)
        model.backward(loss_fn.backward())
        for kept, g in zip(self.clean, grads):               # mean of the two gradients
            g += kept
            g *= 0.5
        return loss, correct


# Rows pushed through the network at once; a larger batch is processed in
# slices of this many rows (:class:`InSlices`).
MICRO_BATCH = 4096
