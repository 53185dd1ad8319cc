"""The network as a whole: a tiny network worked by hand, and a full gradient check."""

import numpy as np
import pytest

from digitnet.gradcheck import check_network
from digitnet.layers import Dense, ReLU
from digitnet.losses import SoftmaxCrossEntropy
from digitnet.model import Architecture, Network, build_mlp


def test_tiny_network_by_hand():
    rng = np.random.default_rng(0)
    first, second = Dense(2, 2, rng, np.float64), Dense(2, 2, rng, np.float64)
    first.params["W"][:] = [[1.0, -1.0], [0.5, 1.0]]
    first.params["b"][:] = [0.0, -3.0]
    second.params["W"][:] = [[1.0, 2.0], [3.0, 4.0]]
    second.params["b"][:] = [0.5, -0.5]
    net = Network([first, ReLU(), second])
    loss = SoftmaxCrossEntropy()

    x = np.array([[1.0, 2.0]])
    logits = net.forward(x, training=True)   # z1 = [2, -2], a1 = [2, 0], z2 = [2.5, 3.5]
    np.testing.assert_allclose(logits, [[2.5, 3.5]])
    value = loss.forward(logits, np.array([0]))
    assert value == pytest.approx(np.log(1 + np.e))   # -log(1 / (1 + e)) = 1.313262
    net.backward(loss.backward())
    q = np.e / (1 + np.e)                              # 0.731059
    np.testing.assert_allclose(second.grads["W"], [[-2 * q, 2 * q], [0, 0]])
    np.testing.assert_allclose(second.grads["b"], [-q, q])
    np.testing.assert_allclose(first.grads["W"], [[q, 0], [2 * q, 0]])
    np.testing.assert_allclose(first.grads["b"], [q, 0])


@pytest.mark.parametrize("hidden", [(16,), (16, 12), (8, 8, 8)])
def test_whole_network_gradient_check(hidden):
    for name, shape, error in check_network(hidden=hidden):
        assert error < 1e-7, f"{name} {shape}: relative error {error:.2e}"


def test_architecture_and_layers():
    arch = Architecture(hidden=(50, 50, 50), dropout=0.2, input_dropout=0.1)
    net = build_mlp(arch, np.random.default_rng(0))
    assert arch.sizes == (784, 50, 50, 50, 10)
    kinds = [type(layer).__name__ for layer in net.layers]
    assert kinds == ["Dropout", "Dense", "ReLU", "Dropout", "Dense", "ReLU", "Dropout",
                     "Dense", "ReLU", "Dropout", "Dense"]
    assert [name for name, _ in net.named_parameters()] == [
        "layer0.W", "layer0.b", "layer1.W", "layer1.b", "layer2.W", "layer2.b", "layer3.W", "layer3.b"]


def test_predict_proba_rows_sum_to_one(rng):
    net = build_mlp(Architecture(hidden=(32,)), rng)
    probs = net.predict_proba(rng.random((10, 784), dtype=np.float32), batch_size=3)
    assert probs.shape == (10, 10)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, rtol=1e-5)


def test_activations_are_the_hidden_relu_outputs(rng):
    from digitnet.losses import softmax

    net = build_mlp(Architecture(hidden=(16, 8), dropout=0.5), rng, np.float64)
    x = rng.random((3, 784))
    logits, hidden = net.activations(x)
    assert [h.shape for h in hidden] == [(3, 16), (3, 8)]
    assert all((h >= 0).all() for h in hidden)
    W0, b0 = net.layers[0].params["W"], net.layers[0].params["b"]
    np.testing.assert_allclose(hidden[0], np.maximum(x @ W0 + b0, 0))
    np.testing.assert_allclose(softmax(logits), net.predict_proba(x))


def test_predict_answers_with_the_class_labels_in_any_batch_size():
    dense = Dense(2, 2, np.random.default_rng(0), np.float64)
    dense.params["W"][:] = [[1.0, -1.0], [-2.0, 2.0]]
    dense.params["b"][:] = [0.25, 0.0]
    net = Network([dense], classes=["no", "yes"])
    x = np.array([[1.0, 0.0], [0.0, 1.0], [2.0, 1.5], [0.0, 0.0], [3.0, 0.0]])
    expected_logits = x @ dense.params["W"] + dense.params["b"]
    for batch_size in (1, 2, 4096):
        np.testing.assert_allclose(net.logits(x, batch_size=batch_size), expected_logits, rtol=1e-12)
    assert net.predict(x).tolist() == ["no", "yes", "yes", "no", "no"]
    assert net.encode(["yes", "no", "yes"]).tolist() == [1, 0, 1]
    from digitnet.errors import InputError
    with pytest.raises(InputError, match="maybe"):
        net.encode(["yes", "maybe"])


def test_a_network_prints_as_its_layers():
    net = build_mlp(Architecture(hidden=(5,), dropout=0.5, input_dropout=0.2), np.random.default_rng(0))
    assert repr(net) == ("Network(Dropout(p=0.2), Dense(784, 5), ReLU(), Dropout(p=0.5), "
                         "Dense(5, 10))")


def test_build_mlp_adds_dropout_only_when_asked_and_draws_its_masks_from_the_given_generator():
    plain = build_mlp(Architecture(hidden=(5,)), np.random.default_rng(0), classes=list("abcdefghij"))
    assert repr(plain) == "Network(Dense(784, 5), ReLU(), Dense(5, 10))"
    assert plain.classes == list("abcdefghij")
    # Two networks built from equal generators drop the same units: a seed fixes the whole run.
    arch = Architecture(hidden=(32,), dropout=0.5, input_dropout=0.2)
    x = np.random.default_rng(9).random((4, 784), dtype=np.float32)
    first, second = (build_mlp(arch, np.random.default_rng(7)) for _ in range(2))
    np.testing.assert_array_equal(first.forward(x, training=True), second.forward(x, training=True))
    assert not np.array_equal(first.forward(x, training=True), first.forward(x, training=False))


def test_a_network_without_dense_layers_or_with_the_wrong_number_of_classes_is_refused():
    with pytest.raises(ValueError, match=r"^a network needs at least one Dense layer$"):
        Network([ReLU()])
    with pytest.raises(ValueError, match=r"^3 classes for 2 outputs$"):
        Network([Dense(4, 2, np.random.default_rng(0))], classes=["a", "b", "c"])


def test_inputs_are_checked_and_answers_come_in_the_network_s_precision():
    import warnings

    from digitnet.errors import InputError

    net = build_mlp(Architecture(hidden=(8,)), np.random.default_rng(0))          # float32
    x = np.random.default_rng(1).random((3, 784))                                 # float64
    assert net.logits(x).dtype == np.float32 and net.predict_proba(x).dtype == np.float32
    for method in (net.logits, net.predict_proba, net.predict, net.activations):
        with pytest.raises(InputError, match="783 features"):
            method(x[:, :783])
    x[1, 5] = 1e300                                  # finite in float64, infinite in float32
    with warnings.catch_warnings():
        warnings.simplefilter("error")               # no overflow warning, one clear error
        for method in (net.logits, net.activations):
            with pytest.raises(InputError) as err:
                method(x)
            assert str(err.value) == "X holds values too large for float32 (largest magnitude 1e+300)"


def _forward_spy(net):
    """Record the rows and dtype of every forward pass ``net`` makes."""
    calls, forward = [], net.forward

    def spy(x, *args, **kwargs):
        calls.append((len(x), x.dtype))
        return forward(x, *args, **kwargs)

    net.forward = spy
    return calls


def test_batch_size_bounds_every_forward_pass_of_logits_and_predict_proba():
    """``batch_size`` is the documented bound on the memory used: no forward pass sees more rows,
    and each row goes through exactly once (a step other than ``batch_size`` recomputes rows)."""
    net = build_mlp(Architecture(hidden=(3,)), np.random.default_rng(0))
    X = np.random.default_rng(1).integers(0, 256, (10, 784), dtype=np.uint8)
    calls = _forward_spy(net)
    net.logits(X, batch_size=4)
    assert [rows for rows, _ in calls] == [4, 4, 2]
    calls.clear()
    net.predict_proba(X, batch_size=3)
    assert [rows for rows, _ in calls] == [3, 3, 3, 1]
    calls.clear()
    for answer in (net.predict_proba, net.logits, net.predict):      # the default, 4096 rows
        calls.clear()
        answer(np.zeros((5000, 784), np.uint8))
        assert [rows for rows, _ in calls] == [4096, 904]
    assert all(dtype == np.float32 for _, dtype in calls)


def test_evaluation_runs_in_the_network_s_precision_chunk_by_chunk():
    """loss_and_accuracy feeds uint8 pixels to a float32 network as float32 (not float64, which
    doubles the memory and time), in chunks of ``batch_size`` rows."""
    from digitnet.metrics import loss_and_accuracy

    for dtype in (np.float32, np.float64):
        net = build_mlp(Architecture(hidden=(3,)), np.random.default_rng(0), dtype)
        calls = _forward_spy(net)
        X = np.random.default_rng(1).integers(0, 256, (7, 784), dtype=np.uint8)
        loss_and_accuracy(net, X, np.arange(7) % 10, batch_size=3)
        assert calls == [(3, dtype), (3, dtype), (1, dtype)]
