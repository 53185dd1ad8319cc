"""Max-norm: long columns are cut to the limit, short ones are left alone."""

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
