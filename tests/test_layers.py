"""Every layer's backward pass against central finite differences, in float64."""

import tracemalloc

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
        with pytest.raises(RuntimeError, match=r"^backward\(\) needs a forward\(x, training=True\) first$"):
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


def test_layers_print_as_the_code_that_builds_them(rng):
    assert repr(Dense(784, 10, rng)) == "Dense(784, 10)"
    assert repr(ReLU()) == "ReLU()"
    assert repr(Dropout(0.25)) == "Dropout(p=0.25)"


def test_register_layer_names_what_a_class_lacks_and_registers_it_by_name(monkeypatch):
    from digitnet.layers import LAYER_TYPES, register_layer

    class Half:
        PARAMS = ()

        def forward(self, x, training=False):
            return x

    with pytest.raises(TypeError, match=r"^Half cannot be a layer: it has no backward, spec, from_spec$"):
        register_layer(Half)
    assert "Half" not in LAYER_TYPES

    class Identity(Half):
        def backward(self, grad_y):
            return grad_y

        def spec(self):
            return {"type": "Identity"}

        @classmethod
        def from_spec(cls, spec, params):
            return cls()

    monkeypatch.setitem(LAYER_TYPES, "Identity", None)      # removed again after the test
    assert register_layer(Identity) is Identity and LAYER_TYPES["Identity"] is Identity


@pytest.mark.parametrize("W_shape, b_shape, message", [
    ((3, 4), (3,), r"^W is \(3, 4\), the layer needs \(4, 3\)$"),
    ((4, 3), (4,), r"^b is \(4,\), the layer needs \(3,\)$"),
])
def test_dense_from_spec_names_the_array_of_the_wrong_shape(W_shape, b_shape, message):
    spec = {"type": "Dense", "fan_in": 4, "fan_out": 3}
    with pytest.raises(ValueError, match=message):
        Dense.from_spec(spec, {"W": np.zeros(W_shape, np.float32), "b": np.zeros(b_shape, np.float32)})


def test_dropout_draws_its_masks_from_the_generator_it_is_given():
    x = np.ones((50, 40), np.float32)
    first = Dropout(0.5, np.random.default_rng(7)).forward(x, training=True).copy()
    again = Dropout(0.5, np.random.default_rng(7)).forward(x, training=True)
    np.testing.assert_array_equal(again, first)                 # the same seed, the same mask
    unseeded = Dropout(0.5).forward(x, training=True)           # a fresh generator of its own
    assert set(np.unique(unseeded)) == {0.0, 2.0}


def test_dropout_of_zero_is_the_identity_and_backward_passes_the_gradient_through():
    layer = Dropout(0.0)
    x = np.arange(6.0).reshape(2, 3)
    assert layer.forward(x, training=True) is x                 # nothing drawn, nothing copied
    grad = np.ones((2, 3))
    assert layer.backward(grad) is grad
    dropout = Dropout(0.5, np.random.default_rng(0))
    np.testing.assert_array_equal(dropout.backward(grad), 1.0)  # no forward yet: no mask
    dropout.forward(x, training=False)
    np.testing.assert_array_equal(dropout.backward(grad), 1.0)  # inference drops nothing


def test_dropout_probability_message():
    with pytest.raises(ValueError, match=r"^dropout probability must be in \[0, 1\), got 1.0$"):
        Dropout(1.0)


def test_a_training_step_allocates_no_array_after_the_first_and_stays_float32():
    # README, "Speed": in training each layer writes into work arrays kept from step to step.
    rng = np.random.default_rng(0)
    layers = [Dense(32, 256, rng), ReLU(), Dropout(0.5, rng), Dense(256, 10, rng)]
    x = rng.standard_normal((4096, 32)).astype(np.float32)         # (B, 32)
    grad = np.ones((4096, 10), np.float32)                         # (B, 10), dL/dy

    def step():
        h = x
        for layer in layers:
            h = layer.forward(h, training=True)
            assert h.dtype == np.float32
        g = grad
        for layer in reversed(layers):
            g = layer.backward(g)
            assert g.dtype == np.float32
        return h

    step()
    tracemalloc.start()
    step()
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    # Only NumPy's fixed-size casting buffers (bool to float32) remain, about 32 KiB;
    # the smallest array of the step, (B, 10) float32, is 160 KiB.
    assert peak < grad.nbytes / 2


@pytest.mark.parametrize("make", [lambda rng: Dense(3, 2, rng), lambda rng: ReLU()], ids=["Dense", "ReLU"])
def test_backward_before_any_forward_says_what_is_missing(rng, make):
    with pytest.raises(RuntimeError, match=r"^backward\(\) needs a forward\(x, training=True\) first$"):
        make(rng).backward(np.ones((4, 2), np.float32))


@pytest.mark.parametrize("x_dtype, layer_dtype", [(np.float64, np.float32), (np.float32, np.float64)])
def test_dense_training_and_inference_agree_whatever_the_input_dtype(rng, x_dtype, layer_dtype):
    layer = Dense(5, 3, rng, dtype=layer_dtype)
    layer.params["b"][:] = rng.standard_normal(3)
    x = rng.standard_normal((4, 5)).astype(x_dtype)
    inference = layer.forward(x)                                # x @ W + b, NumPy's promotion
    training = layer.forward(x, training=True)
    assert training.dtype == inference.dtype == np.float64
    np.testing.assert_allclose(training, inference, rtol=1e-12)


# --- work arrays (workspace.py): kept for the largest batch, rebuilt when the shape changes -------


def test_a_work_array_is_kept_for_the_largest_batch_and_rebuilt_only_when_it_must_be():
    from digitnet.workspace import reusable_array

    store: dict = {}
    first = reusable_array(store, "out", (8, 3), np.float32)
    assert first.shape == (8, 3) and first.dtype == np.float32 and store["out"].shape == (8, 3)
    smaller = reusable_array(store, "out", (5, 3), np.float32)      # the last, smaller batch
    assert smaller.shape == (5, 3) and np.shares_memory(smaller, first)
    same = reusable_array(store, "out", (8, 3), np.float32)
    assert same.shape == (8, 3) and np.shares_memory(same, first)
    larger = reusable_array(store, "out", (12, 3), np.float32)
    assert larger.shape == (12, 3) and not np.shares_memory(larger, first) and store["out"].shape == (12, 3)
    # Another dtype with the same row shape keeps the row count seen so far.
    other = reusable_array(store, "out", (4, 3), np.float64)
    assert other.shape == (4, 3) and other.dtype == np.float64 and store["out"].shape == (12, 3)
    # Another row shape starts afresh at the rows asked for.
    wide = reusable_array(store, "out", (4, 7), np.float64)
    assert wide.shape == (4, 7) and store["out"].shape == (4, 7)
    assert reusable_array(store, "other", (2,), np.int64).shape == (2,) and set(store) == {"out", "other"}


def test_a_constant_vector_is_built_again_only_when_a_longer_one_is_needed():
    from digitnet.workspace import reusable_vector

    store: dict = {}
    built = []

    def ones(n):
        built.append(n)
        return np.ones(n)

    assert reusable_vector(store, "ones", 6, ones).shape == (6,)
    assert reusable_vector(store, "ones", 4, ones).shape == (4,)
    assert reusable_vector(store, "ones", 6, ones).shape == (6,)
    assert built == [6]
    assert reusable_vector(store, "ones", 9, ones).shape == (9,) and built == [6, 9]


def test_a_pickled_layer_leaves_its_scratch_space_behind_and_trains_after_loading():
    import pickle

    rng = np.random.default_rng(0)
    layer = Dropout(0.5, rng)
    x = rng.random((64, 100)).astype(np.float32)
    layer.forward(x, training=True)
    layer.backward(np.ones_like(x))
    restored = pickle.loads(pickle.dumps(layer))
    assert restored._work == {}
    assert all(getattr(restored, name) is None for name in restored._scratch if name != "_work")
    assert len(pickle.dumps(layer)) < x.nbytes / 4                  # no work array travels
    out = restored.forward(x, training=True)                        # rebuilt on the next step
    assert out.shape == x.shape and np.all((out == 0) | (out == 2 * x))
