"""Every layer's backward pass against central finite differences, in float64."""

import numpy as np
import pytest

from digitnet.gradcheck import numerical_gradient, relative_error
from digitnet.layers import Dense, Dropout, ReLU

TOL = 1e-7


def check_layer(layer, x, rng, reset=lambda: None):
    """Compare backward() with finite differences of L = sum(forward(x) * R)."""
    # Copies of x: ReLU works in place on its input.
    y = layer.forward(x.copy(), training=True)
    weights = rng.standard_normal(y.shape)  # a random linear loss on the output

    def loss():
        reset()
        return float((layer.forward(x.copy(), training=True) * weights).sum())

    reset()
    layer.forward(x.copy(), training=True)
    grad_x = layer.backward(weights.copy())  # backward may overwrite its argument
    analytic = {name: g.copy() for name, g in layer.grads.items()}
    if grad_x is not None:
        assert relative_error(grad_x, numerical_gradient(loss, x)) < TOL
    for name, p in layer.params.items():
        assert relative_error(analytic[name], numerical_gradient(loss, p)) < TOL, name


def test_dense_gradients(rng):
    layer = Dense(7, 5, rng, dtype=np.float64)
    layer.params["b"][:] = rng.standard_normal(5)
    check_layer(layer, rng.standard_normal((4, 7)), rng)


def test_relu_gradient(rng):
    x = rng.standard_normal((6, 9))
    x[np.abs(x) < 1e-3] = 0.5  # keep away from the kink, where no derivative exists
    check_layer(ReLU(), x, rng)


def test_dropout_gradient_with_fixed_mask(rng):
    layer = Dropout(0.4, np.random.default_rng(0))

    def same_mask():
        layer.rng = np.random.default_rng(0)

    check_layer(layer, rng.standard_normal((5, 8)), rng, reset=same_mask)


def test_dense_skips_unused_input_gradient(rng):
    layer = Dense(3, 2, rng)
    layer.input_grad = False
    layer.forward(np.ones((4, 3), np.float32), training=True)
    assert layer.backward(np.ones((4, 2), np.float32)) is None
    np.testing.assert_allclose(layer.grads["W"], np.full((3, 2), 4.0))
    np.testing.assert_allclose(layer.grads["b"], [4.0, 4.0])


def test_he_initialisation_statistics():
    layer = Dense(784, 2000, np.random.default_rng(0))
    W = layer.params["W"]
    assert W.dtype == np.float32 and layer.params["b"].dtype == np.float32
    assert abs(W.std() - np.sqrt(2 / 784)) < 0.002
    assert abs(W.mean()) < 0.001
    assert not layer.params["b"].any()


def test_dropout_is_identity_at_eval_and_unbiased_in_training():
    layer = Dropout(0.3, np.random.default_rng(0))
    x = np.ones((400, 500), np.float32)
    np.testing.assert_array_equal(layer.forward(x, training=False), x)
    y = layer.forward(x, training=True)
    assert abs((y == 0).mean() - 0.3) < 0.01
    assert abs(y.mean() - 1.0) < 0.01
    assert set(np.unique(y)) <= {0.0, np.float32(1 / 0.7)}


@pytest.mark.parametrize("p", [-0.1, 1.0, 1.5])
def test_dropout_rejects_bad_probability(p):
    with pytest.raises(ValueError):
        Dropout(p, np.random.default_rng(0))


def test_work_arrays_are_reused_and_grow_only_when_needed():
    from digitnet.workspace import reusable_array

    store = {}
    big = reusable_array(store, "y", (128, 50), np.float32)
    small = reusable_array(store, "y", (32, 50), np.float32)      # the last, short batch
    assert small.shape == (32, 50) and np.shares_memory(big, small)
    again = reusable_array(store, "y", (128, 50), np.float32)
    assert np.shares_memory(big, again)
    grown = reusable_array(store, "y", (256, 50), np.float32)
    assert grown.shape == (256, 50) and not np.shares_memory(big, grown)
    other = reusable_array(store, "y", (256, 10), np.float64)      # another shape or dtype: new
    assert other.shape == (256, 10) and other.dtype == np.float64


@pytest.mark.parametrize("make", [lambda rng: Dense(6, 4, rng), lambda rng: ReLU(),
                                  lambda rng: Dropout(0.5, rng)], ids=["Dense", "ReLU", "Dropout"])
def test_inference_returns_new_arrays_and_leaves_the_input_alone(rng, make):
    layer = make(rng)
    x = rng.standard_normal((5, 6 if isinstance(layer, Dense) else 4)).astype(np.float32)
    before = x.copy()
    first = layer.forward(x)
    kept = first.copy()
    second = layer.forward(x * 2)
    np.testing.assert_array_equal(x, before)                 # the caller's input is untouched
    np.testing.assert_array_equal(first, kept)               # an earlier result is not overwritten
    assert not np.shares_memory(first, second)
    if isinstance(layer, (Dense, ReLU)):                      # nothing of the caller's is kept
        with pytest.raises(RuntimeError, match="training=True"):
            layer.backward(np.ones_like(second))


@pytest.mark.parametrize("make", [lambda rng: Dense(6, 4, rng), lambda rng: ReLU(),
                                  lambda rng: Dropout(0.3)], ids=["Dense", "ReLU", "Dropout"])
def test_layer_spec_round_trip(rng, make):
    from digitnet.layers import LAYER_TYPES

    layer = make(rng)
    spec = layer.spec()
    rebuilt = LAYER_TYPES[spec["type"]].from_spec(spec, {k: v.copy() for k, v in layer.params.items()})
    assert rebuilt.spec() == spec
    for name, p in layer.params.items():
        np.testing.assert_array_equal(rebuilt.params[name], p)
