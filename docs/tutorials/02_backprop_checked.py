# ---
# jupyter:
#   jupytext:
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 2. Backpropagation, checked
#
# Backpropagation is the chain rule applied layer by layer, from the loss back to the input.
# Here we derive the gradients of a tiny network by hand, compute them with NumPy, compare
# them with digitnet's `backward`, and check both against **central finite differences**,
# the numerical derivative that needs no calculus at all. Then we break one formula on
# purpose and watch the check catch it.
#
# The network: 4 inputs, one hidden layer of 5 ReLU units, 3 classes, softmax cross-entropy.
#
# ```
# z1 = x W1 + b1      (B, 5)     a Dense layer
# h  = relu(z1)       (B, 5)
# z2 = h W2 + b2      (B, 3)     the logits
# L  = mean_i -log softmax(z2_i)[y_i]
# ```
#
# Everything in float64: finite differences lose about a third of the arithmetic's digits at
# the best step (more at others), so float32's seven digits would blur the comparison.

# %%
# %matplotlib inline
import matplotlib.pyplot as plt
import numpy as np

import digitnet as dn
from digitnet.gradcheck import numerical_gradient, relative_error

rng = np.random.default_rng(0)
B = 6                                           # a batch of 6 examples
x = rng.standard_normal((B, 4))                 # (B, 4)
y = rng.integers(0, 3, size=B)                  # (B,) class indices
net = dn.build_mlp(dn.Architecture(input_size=4, hidden=(5,), output_size=3), rng, dtype=np.float64)
print(net)
W1, b1 = net.layers[0].params["W"], net.layers[0].params["b"]
W2, b2 = net.layers[2].params["W"], net.layers[2].params["b"]
print("W1", W1.shape, "b1", b1.shape, "W2", W2.shape, "b2", b2.shape)

# %% [markdown]
# ## The gradients by hand
#
# Softmax and cross-entropy together have the simplest derivative in deep learning: with
# `p = softmax(z2)` and `Y` the one-hot labels,
#
# ```
# dL/dz2 = (p - Y) / B                     (B, 3)   the 1/B is the mean over the batch
# dL/dW2 = h^T dL/dz2                      (5, 3)
# dL/db2 = sum over the batch of dL/dz2    (3,)
# dL/dh  = dL/dz2 W2^T                     (B, 5)
# dL/dz1 = dL/dh * (z1 > 0)                (B, 5)   ReLU passes the gradient where it was on
# dL/dW1 = x^T dL/dz1                      (4, 5)
# dL/db1 = sum over the batch of dL/dz1    (5,)
# ```
#
# Each `dL/dW` has the shape of its `W`: a good first check on any derivation.

# %%
def forward(x, W1, b1, W2, b2):
    """The forward pass, keeping what backward needs: z1, h and the probabilities p."""
    z1 = x @ W1 + b1
    h = np.maximum(z1, 0)
    z2 = h @ W2 + b2
    p = np.exp(z2 - z2.max(axis=1, keepdims=True))    # a stable softmax
    return z1, h, p / p.sum(axis=1, keepdims=True)


def by_hand(x, y, W1, b1, W2, b2):
    z1, h, p = forward(x, W1, b1, W2, b2)
    Y = np.eye(3)[y]                              # one-hot, (B, 3)
    dz2 = (p - Y) / len(x)
    dz1 = (dz2 @ W2.T) * (z1 > 0)
    return {"W1": x.T @ dz1, "b1": dz1.sum(axis=0), "W2": h.T @ dz2, "b2": dz2.sum(axis=0)}


hand = by_hand(x, y, W1, b1, W2, b2)
for name, g in hand.items():
    print(f"dL/d{name}: shape {g.shape}")

# %% [markdown]
# ## digitnet's backward pass
#
# digitnet does the same in `Network.backward`: each layer's `backward` receives `dL/d(its
# output)`, stores `dL/d(its parameters)` in `layer.grads` and returns `dL/d(its input)` for the
# layer before it. The training step (`digitnet.train.gradients`) is exactly these three lines:

# %%
loss_fn = dn.SoftmaxCrossEntropy()
logits = net.forward(x, training=True)          # 1. forward pass, (B, 3)
loss = loss_fn.forward(logits, y)               # 2. the loss, a number
net.backward(loss_fn.backward())                # 3. gradients, layer by layer
theirs = {"W1": net.layers[0].grads["W"], "b1": net.layers[0].grads["b"],
          "W2": net.layers[2].grads["W"], "b2": net.layers[2].grads["b"]}
print(f"loss {loss:.6f}")
for name in hand:
    difference = np.abs(hand[name] - theirs[name]).max()
    print(f"{name}: largest difference from the hand derivation {difference:.1e}")
    assert difference < 1e-12

# %% [markdown]
# ## Finite differences: the check that needs no calculus
#
# For each parameter `w`, nudge it up and down by `h` and see how the loss moves:
#
# ```
# dL/dw  ~  (L(w + h) - L(w - h)) / (2h)      error of order h^2
# ```
#
# It costs two forward passes per number, far too slow for training, but perfect for
# checking. We compare with the **relative error** `|a - n| / (|a| + |n|)`: around 1e-8 or
# better means the formulas are right; a bug typically shows as 1e-2 or worse.

# %%
def loss_now():
    return dn.SoftmaxCrossEntropy().forward(net.forward(x), y)


errors = {}
for name, p in (("W1", W1), ("b1", b1), ("W2", W2), ("b2", b2)):
    numeric = numerical_gradient(loss_now, p)   # perturbs p in place, then restores it
    errors[name] = relative_error(theirs[name], numeric)
    print(f"{name}: relative error {errors[name]:.1e}")
assert max(errors.values()) < 1e-7

# %% [markdown]
# ### How small should `h` be?
#
# Not as small as possible. The central difference is off by about `h^2` (the first term of
# the Taylor series it leaves out), so smaller is better, until the two losses being
# subtracted agree in nearly all their digits and float64's rounding (about 1e-16 of the loss)
# divided by `2h` takes over. The error against the analytic gradient is smallest in between,
# which is why `numerical_gradient` uses `h = 1e-5`.

# %%
steps = np.logspace(-1, -12, 23)
step_errors = [relative_error(theirs["W2"], numerical_gradient(loss_now, W2, h=h)) for h in steps]
plt.figure(figsize=(5, 3))
plt.loglog(steps, step_errors, "o-")
plt.xlabel("step h")
plt.ylabel("relative error")
plt.title("finite differences: truncation (left) vs rounding (right)")
plt.gca().invert_xaxis()                          # h shrinks from left to right
plt.show()
best_h = steps[int(np.argmin(step_errors))]
print(f"smallest error {min(step_errors):.1e} at h = {best_h:.0e}")
assert 1e-8 <= best_h <= 1e-3
assert step_errors[0] > 100 * min(step_errors) and step_errors[-1] > 100 * min(step_errors)

# %% [markdown]
# ## A broken formula, caught
#
# A classic slip: forgetting that ReLU blocks the gradient where it was off, i.e. writing
# `dz1 = dz2 @ W2.T` without the `* (z1 > 0)`. The network would still train, a little, and
# nothing would crash, which is what makes such bugs dangerous. The finite-difference check
# gives it away at once.

# %%
def broken(x, y, W1, b1, W2, b2):
    z1, h, p = forward(x, W1, b1, W2, b2)
    dz2 = (p - np.eye(3)[y]) / len(x)
    dz1 = dz2 @ W2.T                              # BUG: the ReLU mask is missing
    return {"W1": x.T @ dz1, "b1": dz1.sum(axis=0)}


wrong = broken(x, y, W1, b1, W2, b2)
broken_error = relative_error(wrong["W1"], numerical_gradient(loss_now, W1))
print(f"W1 with the mask forgotten: relative error {broken_error:.1e}")
assert broken_error > 1e-3 > 1e-7 > errors["W1"]

# %% [markdown]
# ## The whole network, every layer
#
# `digitnet gradcheck` (or `digitnet.gradcheck.check_network`) runs this check on every
# parameter of a deeper network; the test suite runs it for every layer type, with and
# without label smoothing.

# %%
from digitnet.gradcheck import check_network

for name, shape, error in check_network(hidden=(16, 12)):
    print(f"{name:10s} {str(shape):10s} relative error {error:.1e}")
    assert error < 1e-6
