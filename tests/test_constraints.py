"""Max-norm: long columns are cut to the limit, short ones are left alone."""

import warnings

import numpy as np
import pytest

from digitnet.constraints import apply_max_norm


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_long_columns_are_cut_and_short_ones_untouched(rng, dtype):
    W = rng.standard_normal((50, 8)).astype(dtype)
    W[:, :3] *= 0.01                                   # three short columns
    before = W.copy()
    apply_max_norm(W, 2.0)
    norms = np.linalg.norm(W.astype(np.float64), axis=0)
    assert np.all(norms <= 2.0 * (1 + 1e-6))
    np.testing.assert_array_equal(W[:, :3], before[:, :3])
    np.testing.assert_allclose(norms[3:], 2.0, rtol=1e-6)
    # Direction is kept: each long column is a positive multiple of what it was.
    cosine = (W[:, 3:] * before[:, 3:]).sum(0) / (norms[3:] * np.linalg.norm(before[:, 3:], axis=0))
    np.testing.assert_allclose(cosine, 1.0, rtol=1e-5)
    assert W.dtype == dtype


def test_zero_columns_stay_zero():
    W = np.zeros((4, 3), np.float32)
    apply_max_norm(W, 1.0)
    assert np.all(W == 0) and np.all(np.isfinite(W))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_columns_at_any_length_under_the_cap_keep_every_bit(dtype):
    """A factor of exactly 1 under the cap, however short the column (a cap that also scaled
    short columns up would pass a test of long columns only)."""
    W = np.array([[3.0, 0.1, 0.6, 1e-30], [4.0, 0.1, 0.8, 0.0]], dtype)     # norms 5, 0.14, 1.0, 1e-30
    before = W.copy()
    apply_max_norm(W, 1.0)
    np.testing.assert_array_equal(W[:, 1:], before[:, 1:])
    np.testing.assert_allclose(W[:, 0], [0.6, 0.8], rtol=1e-6)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_a_zero_column_divides_by_nothing_and_nothing_warns(dtype):
    """The floor under the norms keeps a zero column from dividing by zero; the training loop
    calls this after every step, so it must raise no warning of any kind either."""
    W = np.zeros((3, 2), dtype)
    W[:, 1] = 10.0
    with np.errstate(all="raise"), warnings.catch_warnings():
        warnings.simplefilter("error")
        apply_max_norm(W, 1.0)
    assert np.all(W[:, 0] == 0) and np.allclose(np.linalg.norm(W[:, 1]), 1.0)
