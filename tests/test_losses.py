"""Softmax cross-entropy: the formula, its stability, its gradient."""

import numpy as np

from digitnet.gradcheck import numerical_gradient, relative_error
from digitnet.losses import SoftmaxCrossEntropy, log_softmax, softmax


def test_matches_the_textbook_formula(rng):
    z = rng.standard_normal((6, 10))
    y = rng.integers(0, 10, 6)
    p = np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)
    expected = -np.log(p[np.arange(6), y]).mean()
    assert np.isclose(SoftmaxCrossEntropy().forward(z, y), expected)
    np.testing.assert_allclose(softmax(z), p)


def test_gradient_against_finite_differences(rng):
    z = rng.standard_normal((5, 10))
    y = rng.integers(0, 10, 5)
    loss = SoftmaxCrossEntropy()
    loss.forward(z, y)
    analytic = loss.backward().copy()  # the loss reuses its array on the next forward
    numeric = numerical_gradient(lambda: loss.forward(z, y), z)
    assert relative_error(analytic, numeric) < 1e-8


def test_gradient_is_p_minus_onehot_over_batch():
    z = np.array([[0.0, 0.0], [0.0, np.log(3.0)]])
    loss = SoftmaxCrossEntropy()
    loss.forward(z, np.array([0, 1]))
    np.testing.assert_allclose(loss.backward(), [[(0.5 - 1) / 2, 0.5 / 2], [0.25 / 2, (0.75 - 1) / 2]])


def test_stable_for_huge_logits():
    z = np.array([[1000.0, 0.0, -1000.0], [-1e30, 1e30, 0.0]], dtype=np.float32)
    loss = SoftmaxCrossEntropy()
    value = loss.forward(z, np.array([2, 0]))  # confidently wrong: large but finite
    assert np.isfinite(value) and value > 1000
    assert np.all(np.isfinite(loss.backward()))
    assert np.all(np.isfinite(log_softmax(z)))
    np.testing.assert_allclose(softmax(z).sum(axis=1), 1.0, rtol=1e-6)


def test_float32_stays_float32(rng):
    z = rng.standard_normal((3, 10)).astype(np.float32)
    loss = SoftmaxCrossEntropy()
    loss.forward(z, np.array([1, 2, 3]))
    assert loss.backward().dtype == np.float32


def test_label_smoothing_matches_cross_entropy_with_soft_targets(rng):
    z = rng.standard_normal((6, 10))
    y = rng.integers(0, 10, 6)
    eps = 0.1
    q = np.full((6, 10), eps / 10)
    q[np.arange(6), y] += 1 - eps
    expected = -(q * np.log(softmax(z))).sum(axis=1).mean()
    loss = SoftmaxCrossEntropy(smoothing=eps)
    assert np.isclose(loss.forward(z, y), expected)
    np.testing.assert_allclose(loss.backward(), (softmax(z) - q) / 6)


def test_label_smoothing_gradient_against_finite_differences(rng):
    z = rng.standard_normal((5, 10))
    y = rng.integers(0, 10, 5)
    loss = SoftmaxCrossEntropy(smoothing=0.2)
    loss.forward(z, y)
    analytic = loss.backward().copy()
    numeric = numerical_gradient(lambda: loss.forward(z, y), z)
    assert relative_error(analytic, numeric) < 1e-8


def test_label_smoothing_out_of_range_is_refused():
    import pytest

    with pytest.raises(ValueError, match="label smoothing"):
        SoftmaxCrossEntropy(smoothing=1.0)


def test_before_a_forward_there_are_no_probabilities_and_no_backward():
    import pytest

    loss = SoftmaxCrossEntropy()
    assert loss.probabilities is None
    with pytest.raises(RuntimeError, match=r"^backward\(\) needs a forward\(\) first$"):
        loss.backward()


def test_sample_weights_scale_each_examples_loss_and_gradient(rng):
    z = rng.standard_normal((5, 4))
    y = rng.integers(0, 4, 5)
    w = np.array([0.0, 1.0, 2.0, 0.5, 1.5])
    loss = SoftmaxCrossEntropy(smoothing=0.1)
    per_example = [SoftmaxCrossEntropy(smoothing=0.1).forward(z[i:i + 1], y[i:i + 1]) for i in range(5)]
    assert np.isclose(loss.forward(z, y, w), np.dot(w, per_example) / 5)
    analytic = loss.backward().copy()
    numeric = numerical_gradient(lambda: loss.forward(z, y, w), z)
    assert relative_error(analytic, numeric) < 1e-8
    assert not analytic[0].any()                      # a weight of 0: no pull at all


def test_weights_of_one_are_the_plain_loss(rng):
    z = rng.standard_normal((6, 3)).astype(np.float32)
    y = rng.integers(0, 3, 6)
    plain, weighted = SoftmaxCrossEntropy(), SoftmaxCrossEntropy()
    assert plain.forward(z, y) == weighted.forward(z, y, np.ones(6))
    np.testing.assert_array_equal(plain.backward(), weighted.backward())
    assert weighted.backward().dtype == np.float32


def test_the_probability_array_is_reused_from_batch_to_batch(rng):
    # The training step allocates almost nothing (README, "Speed"): the loss writes into one array.
    z, y = rng.standard_normal((4, 3)), rng.integers(0, 3, 4)
    loss = SoftmaxCrossEntropy()
    loss.forward(z, y)
    first = loss.probabilities
    loss.forward(z + 1.0, y)
    assert np.shares_memory(loss.probabilities, first)
