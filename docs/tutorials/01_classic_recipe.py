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
# # 1. The classic recipe, done right
#
# digitnet started from a blog post, "MNIST digits classification with Deep Learning using
# Python and Numpy" (published on Medium; `docs/crosswalk.md` maps each of its steps to
# digitnet's code). It builds a
# network in fourteen steps: 784 pixels in, three hidden layers of 50 ReLU units, 10 softmax
# outputs, trained by full-batch gradient descent. Its recipe is sound; its code, as published,
# does not run, and some of it breaks the moment the numbers get large.
#
# Here are the fourteen steps in plain NumPy, each with the shapes printed and a sentence on
# why, with each of the post's bugs shown where it bites and then fixed. At the end the same
# recipe runs as one digitnet call, from the same starting weights, and draws the same cost
# curve.
#
# To run in seconds we train on 3,000 of the 60,000 training images for 300 iterations (the
# post: all 60,000 for 1,000; `digitnet train --preset seed` does exactly that).

# %% [markdown]
# ## Bug 0: the code lost its line breaks
#
# The post's code blocks were published with their newlines stripped, so every block of more
# than one line no longer parses. Step 1 as printed:

# %%
# %matplotlib inline
as_published = "import numpy as npimport matplotlib.pyplot as plt"
try:
    compile(as_published, "step 1", "exec")
except SyntaxError as err:
    print("SyntaxError:", err.msg)
else:
    raise AssertionError("expected a SyntaxError")

# %% [markdown]
# ## Steps 1-2: libraries and data
#
# The post loads MNIST through Keras. digitnet ships the dataset (with checksums) and reads the
# original IDX files itself, so NumPy is all we need. Images arrive as rows of 784 pixels
# (0-255), labels as integers 0-9.

# %%
import matplotlib.pyplot as plt
import numpy as np

import digitnet as dn

mnist = dn.load_dataset("mnist", validation_size=0)
M = 3000                                        # training images used here
X_train_orig = mnist.x_train[:M].reshape(M, 28, 28)   # as Keras gives them: (m, 28, 28) uint8
Y_train_orig = mnist.y_train[:M]
print("images", X_train_orig.shape, X_train_orig.dtype, " labels", Y_train_orig.shape, Y_train_orig[:10])

# %% [markdown]
# ## Step 3: one-hot labels
#
# The post keeps one example per **column**, so the labels become a (10, m) matrix with a 1 in
# the row of the right digit. Why: the targets then have the shape of the network's output,
# so the cost (`Y * log A`) and its gradient (`A - Y`) are plain element-wise matrix operations
# over all examples at once. (digitnet keeps one example per row and never builds this matrix:
# the labels index the probabilities directly; see `docs/crosswalk.md`.)

# %%
Y_train = np.eye(10)[Y_train_orig].T             # (10, m)
print("Y_train", Y_train.shape, " first column:", Y_train[:, 0], "is the digit", Y_train_orig[0])

# %% [markdown]
# ## Step 4: flatten and scale
#
# Each 28x28 image is "rolled out" into 784 numbers, and divided by 255 so the inputs lie in
# [0, 1]: large inputs would make the first layer's outputs, and its gradients, large too.
#
# **Bug 1:** the post writes `X_train_orig.reshape(X_train_orig.shape, -1)`. `shape` is a tuple,
# and a tuple cannot be one dimension of a new shape:

# %%
try:
    X_train_orig.reshape(X_train_orig.shape, -1)
except TypeError as err:
    print("TypeError:", err)
else:
    raise AssertionError("expected a TypeError")

# %% [markdown]
# The fix: the number of examples is `shape[0]`.

# %%
X_train = X_train_orig.reshape(X_train_orig.shape[0], -1).T / 255.0    # (784, m) in [0, 1]
print("X_train", X_train.shape, X_train.dtype, f"range [{X_train.min()}, {X_train.max()}]")

# %% [markdown]
# ## Step 5: activations
#
# ReLU, `max(0, z)`, for the hidden layers; softmax for the output, turning 10 scores (the
# *logits*) into probabilities that sum to 1.
#
# **Bug 2:** the post's softmax is `exp(u) / sum(exp(u))`. `exp` overflows above about 709 in
# float64 and above 88.7 in float32 (digitnet's default), and then it is `inf / inf = nan`.
# In this float64 recipe the logits stay small (under 5 at the post's learning rate, about 40
# even at 100 times it); they reach 709 only once training has diverged, and then the `nan`
# hides what went wrong. The shifted softmax costs nothing and never overflows:

# %%
def relu(p):
    return np.maximum(0, p)


z_example = np.array([[-2.0, 0.5], [3.0, -0.1]])            # any shape: ReLU works element-wise
print("z", z_example.shape, z_example.tolist(), "-> relu", relu(z_example).tolist())


def softmax_as_published(u):
    return np.exp(u) / np.sum(np.exp(u), axis=0, keepdims=True)


big_logits = np.array([[800.0], [790.0], [0.0]])            # one example, 3 classes (a column)
with np.errstate(over="ignore", invalid="ignore"):
    naive = softmax_as_published(big_logits)
print("as published:", naive.ravel())             # nan for the two large scores
assert np.isnan(naive[:2]).all()

# %% [markdown]
# The fix: subtract each column's maximum first. Softmax does not change when a constant is
# subtracted from every score (it cancels between numerator and denominator), and now the
# largest exponent is `exp(0) = 1`.

# %%
def softmax(u):
    e = np.exp(u - u.max(axis=0, keepdims=True))
    return e / e.sum(axis=0, keepdims=True)


print("shifted:     ", softmax(big_logits).ravel(), " shape", softmax(big_logits).shape)
several = np.array([[1.0, 900.0, -3.0], [2.0, 0.0, -3.0], [3.0, 0.0, 50.0]])   # 3 classes x 3 examples
assert np.allclose(softmax(several).sum(axis=0), 1.0)            # every column (example) sums to 1
assert np.allclose(softmax(several), softmax(several - 100.0))   # shifting the scores changes nothing

# %% [markdown]
# ## Step 6: initial weights
#
# He initialisation: weights drawn from a normal distribution with variance `2 / fan_in`
# (fan_in: the number of inputs of the layer), biases zero. With ReLU, which zeroes about half
# its inputs, this keeps the size of the signal roughly constant from layer to layer (He et al.,
# 2015).
#
# **Bug 3:** the post calls `initialize_parameters([X_train.shape, 50, 50, 50, 10])`: the first
# layer's fan_in is the tuple `(784, m)` instead of 784.

# %%
def initialize_parameters(layer_dims, rng):
    parameters = {}
    for l in range(1, len(layer_dims)):
        fan_in = layer_dims[l - 1]
        parameters[f"W{l}"] = rng.standard_normal((layer_dims[l], fan_in)) * np.sqrt(2 / fan_in)
        parameters[f"b{l}"] = np.zeros((layer_dims[l], 1))
    return parameters


try:
    initialize_parameters([X_train.shape, 50, 50, 50, 10], np.random.default_rng(0))
except (TypeError, ValueError) as err:
    print(type(err).__name__ + ":", err)
else:
    raise AssertionError("expected an error")

# %%
parameters = initialize_parameters([X_train.shape[0], 50, 50, 50, 10], np.random.default_rng(0))
start = {k: v.copy() for k, v in parameters.items()}     # kept, to start digitnet from the same weights
for l in range(1, 5):
    W = parameters[f"W{l}"]
    print(f"W{l} {str(W.shape):10s} b{l} {parameters[f'b{l}'].shape}   std of W{l} {W.std():.4f}"
          f"  (He: sqrt(2/{W.shape[1]}) = {np.sqrt(2 / W.shape[1]):.4f})")
    assert abs(W.std() / np.sqrt(2 / W.shape[1]) - 1) < 0.1
    assert not parameters[f"b{l}"].any()

# %% [markdown]
# ## Step 7: forward propagation
#
# Each layer computes `Z = W A + b`, then its activation. The shapes tell the story: every
# column is one image, every row one unit.

# %%
def forward_prop(parameters, X):
    outputs, activation = {}, {"A0": X}
    for l in range(1, 5):
        outputs[f"Z{l}"] = parameters[f"W{l}"] @ activation[f"A{l - 1}"] + parameters[f"b{l}"]
        activation[f"A{l}"] = relu(outputs[f"Z{l}"]) if l < 4 else softmax(outputs[f"Z{l}"])
    return outputs, activation


outputs, activation = forward_prop(parameters, X_train)
for l in range(1, 5):
    print(f"Z{l} {outputs[f'Z{l}'].shape}")
print("A4 columns sum to 1:", np.allclose(activation["A4"].sum(axis=0), 1))

# %% [markdown]
# ## Step 8: the cost
#
# Cross-entropy: minus the log of the probability given to the right digit, averaged over the
# examples. A random network gives each digit about 1/10, so the cost starts near
# `-log(0.1) = 2.3`.
#
# **Bug 4:** the post computes `m = X_train.shape`, the tuple `(784, m)`, and divides by it.
# NumPy quietly turns the tuple into an array, so the "cost" becomes two numbers, the sum
# divided by 784 and by m; the gradient `(A4 - Y) / m` then fails outright:

# %%
m_as_published = X_train.shape
cost_two_numbers = np.sum(-np.log(activation["A4"][Y_train_orig, np.arange(M)])) / m_as_published
print("cost divided by", m_as_published, "->", cost_two_numbers)
assert cost_two_numbers.shape == (2,)
try:
    (activation["A4"] - Y_train) / m_as_published
except ValueError as err:
    print("ValueError:", err)
else:
    raise AssertionError("expected a ValueError")

# %% [markdown]
# **Bug 5:** `-sum(Y * log(A))` takes the log of every probability, also of the wrong classes'.
# When the network is very sure, a wrong class's probability underflows to exactly 0, `log(0)`
# is `-inf`, and `0 * -inf` is `nan`: the cost of a *correct*, confident answer is `nan`.

# %%
confident = softmax(np.array([[0.0], [800.0], [0.0]]))     # sure of class 1, and right
Y_one = np.array([[0.0], [1.0], [0.0]])
with np.errstate(divide="ignore", invalid="ignore"):
    cost_as_published = -np.sum(Y_one * np.log(confident))
print("probabilities", confident.ravel(), " cost as published:", cost_as_published)
assert np.isnan(cost_as_published)

# %% [markdown]
# The fix: never take the log of a probability. `log softmax(z)_k = z_k - max(z) - log(sum
# exp(z - max(z)))` is finite for any finite scores (the log-sum-exp trick), and only the right
# class's entry is needed. That is how `digitnet.losses` computes it.
#
# **Bug 6:** the post returns the cost as a (1,)-shaped array and prints it with `%f`. NumPy
# 1.25 to 2.3 convert it with a DeprecationWarning, NumPy 2.4 refuses; here the warning is
# turned into an error so that every version shows it:

# %%
def log_softmax(z):
    shifted = z - z.max(axis=0, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=0, keepdims=True))


def compute_cost(Z4, labels):
    m = Z4.shape[1]                                          # the fix for bug 4: shape[1]
    return -log_softmax(Z4)[labels, np.arange(m)].sum() / m  # a plain float


import warnings

cost_array = np.sum(-np.log(activation["A4"][Y_train_orig, np.arange(M)]), keepdims=True) / M
print("the cost as published has shape", cost_array.shape)
try:
    with warnings.catch_warnings():
        warnings.simplefilter("error", DeprecationWarning)
        print("Cost after iteration 0: %f" % cost_array)
except (TypeError, DeprecationWarning) as err:
    print(type(err).__name__ + ":", err)
else:
    raise AssertionError("expected a TypeError or a DeprecationWarning")
print("cost as a number: %f" % compute_cost(outputs["Z4"], Y_train_orig), " shape",
      np.shape(compute_cost(outputs["Z4"], Y_train_orig)))
assert abs(compute_cost(outputs["Z4"], Y_train_orig) - cost_array.item()) < 1e-12
assert 1.5 < compute_cost(outputs["Z4"], Y_train_orig) < 4.0       # near -log(1/10) = 2.3

# %% [markdown]
# ## Steps 9-10: the ReLU derivative and the gradients
#
# Backpropagation runs the chain rule from the cost back to every weight (tutorial 2 derives
# and checks it). For softmax with cross-entropy the first step is simply
# `dZ4 = (A4 - Y) / m`; each ReLU then passes the gradient only where it was on.
#
# **Bug 7:** the post's `drelu(x)` sets `x[x <= 0] = 0; x[x > 0] = 1`, overwriting its
# argument, which is `outputs["Z1"]` itself. The loop survives because the next forward pass
# recomputes `Z`, but anything that reads `Z` afterwards (a plot, a second gradient) gets a
# mask of 0s and 1s:

# %%
def drelu_as_published(x):
    x[x <= 0] = 0
    x[x > 0] = 1
    return x


Z1 = outputs["Z1"].copy()
before = Z1[:3, 0].copy()
drelu_as_published(Z1)
print("Z1 before:", before.round(3), " after drelu:", Z1[:3, 0])
assert not np.array_equal(before, Z1[:3, 0])

# %% [markdown]
# The fix: return a new array, `(x > 0)`, and leave `x` alone.

# %%
def drelu(x):
    return (x > 0).astype(x.dtype)


def grad_re(parameters, outputs, activation, Y):
    m = Y.shape[1]
    grads = {"dZ4": (activation["A4"] - Y) / m}
    for l in range(4, 0, -1):
        grads[f"dW{l}"] = grads[f"dZ{l}"] @ activation[f"A{l - 1}"].T
        grads[f"db{l}"] = grads[f"dZ{l}"].sum(axis=1, keepdims=True)
        if l > 1:
            dA = parameters[f"W{l}"].T @ grads[f"dZ{l}"]
            grads[f"dZ{l - 1}"] = dA * drelu(outputs[f"Z{l - 1}"])
    return grads


Z1_before = outputs["Z1"].copy()
grads = grad_re(parameters, outputs, activation, Y_train)
for l in range(1, 5):
    assert grads[f"dW{l}"].shape == parameters[f"W{l}"].shape
    print(f"dW{l} {grads[f'dW{l}'].shape}  db{l} {grads[f'db{l}'].shape}")
assert np.array_equal(outputs["Z1"], Z1_before)               # the fixed drelu leaves Z alone

# %% [markdown]
# ## Steps 11-13: the update and the loop
#
# Gradient descent moves every parameter a small step against its gradient:
# `W <- W - learning_rate * dW`. One iteration = forward, cost, backward, update, over all the
# training examples at once (full batch).

# %%
def learning(parameters, grads, learning_rate=0.005):
    for l in range(1, 5):
        parameters[f"W{l}"] -= learning_rate * grads[f"dW{l}"]      # same shape as W: (out, in)
        parameters[f"b{l}"] -= learning_rate * grads[f"db{l}"]


ITERATIONS, EVERY = 300, 25
costs = []
for i in range(ITERATIONS):
    outputs, activation = forward_prop(parameters, X_train)
    cost = compute_cost(outputs["Z4"], Y_train_orig)        # before the update, as in the post
    grads = grad_re(parameters, outputs, activation, Y_train)
    learning(parameters, grads)
    if i % EVERY == 0:
        costs.append(cost)
        if i % 100 == 0:
            print("Cost after iteration %i: %f" % (i, cost))
print(f"{len(costs)} costs recorded, every {EVERY} iterations; W1 still {parameters['W1'].shape}")
assert costs[-1] < 0.8 * costs[0], costs                      # the cost falls

# %% [markdown]
# ## Step 14: the cost curve
#
# The cost recorded every 25 iterations, plotted against the iteration it was measured at: a
# falling curve says gradient descent is doing its job; a flat one, a learning rate too small;
# a jagged or rising one, too large. (The post plots the list against its index, so its x axis
# counts hundreds of iterations while labelled "iterations".)

# %%
iterations = np.arange(0, ITERATIONS, EVERY)
plt.figure(figsize=(5, 3))
plt.plot(iterations, costs, "o-")
plt.xlabel("iteration")
plt.ylabel("cost")
plt.title("full-batch gradient descent, lr 0.005")
plt.show()

# %% [markdown]
# The post stops here. How good is the network? On the 10,000 test images it never saw:

# %%
X_test = mnist.x_test.T / 255.0                                # (784, 10000)
_, test_activation = forward_prop(parameters, X_test)
test_accuracy = np.mean(test_activation["A4"].argmax(axis=0) == mnist.y_test)
print(f"test accuracy after {ITERATIONS} iterations on {M} images: {test_accuracy:.1%}")
assert test_accuracy > 0.5

# %% [markdown]
# ## The same recipe, one digitnet call
#
# `dn.preset("seed")` is this recipe (784-50-50-50-10, He initialisation, full batch, learning
# rate 0.005). digitnet keeps one example per **row**, so its weight matrices are the
# transposes of the post's: `W` is (fan_in, fan_out) and a layer computes `x @ W + b`. Starting
# it from the very same weights, it should trace the very same cost curve.

# %%
import dataclasses

net = dn.build_mlp(dn.Architecture(784, (50, 50, 50), 10), np.random.default_rng(), dtype=np.float64)
dense = [layer for layer in net.layers if isinstance(layer, dn.Dense)]
for l, layer in enumerate(dense, start=1):
    layer.params["W"][...] = start[f"W{l}"].T                 # (fan_out, fan_in) -> (fan_in, fan_out)
    layer.params["b"][...] = start[f"b{l}"].ravel()
subset = dataclasses.replace(mnist, x_train=mnist.x_train[:M], y_train=mnist.y_train[:M])
config = dataclasses.replace(dn.preset("seed"), epochs=ITERATIONS, log_every=100, dtype="float64")
result = dn.train(config, subset, model=net, log=print)        # one epoch = one iteration here

# %%
digitnet_costs = [record["train_loss"] for record in result.history][::EVERY]
print("largest difference between the two curves:", np.abs(np.subtract(digitnet_costs, costs)).max())
np.testing.assert_allclose(digitnet_costs, costs, rtol=1e-9)
plt.figure(figsize=(5, 3))
plt.plot(iterations, costs, "o", label="NumPy, step by step")
plt.plot(iterations, digitnet_costs, "-", label="digitnet, one call")
plt.xlabel("iteration")
plt.ylabel("cost")
plt.legend()
plt.show()

# %% [markdown]
# Same weights in, same curve out (the assert asks for nine significant digits; the largest
# difference is printed above). What digitnet adds around the same arithmetic: a stable loss,
# checked inputs, evaluation with confidence intervals (tutorial 4), and modern training
# (tutorial 3). `digitnet train --preset seed` runs the full recipe, all 60,000 images and
# 1,000 iterations, for about 86% test accuracy; `digitnet train` (the `quick` preset) gets past
# 98% in ten epochs.
