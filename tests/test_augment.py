"""Augmentation: exact on known maps, plausible and reproducible when random."""

import numpy as np
import pytest

from digitnet.augment import AUGMENTATIONS, Augmenter, Distortions, gaussian_matrix, make_augmenter, resample


def _grid():
    rows, cols = np.mgrid[0:28, 0:28].astype(np.float32)
    return rows.reshape(1, 784), cols.reshape(1, 784)


def test_identity_map_returns_the_scaled_image(mnist_small):
    images = mnist_small.x_train[:4]
    rows, cols = _grid()
    out = resample(images, np.repeat(rows, 4, 0), np.repeat(cols, 4, 0))
    np.testing.assert_allclose(out, images / 255.0, atol=1e-6)


def test_whole_pixel_shift_moves_the_image_and_fills_with_background(mnist_small):
    image = mnist_small.x_train[:1]
    rows, cols = _grid()
    out = resample(image, rows - 2, cols + 3).reshape(28, 28)    # read 2 up, 3 right
    expected = np.zeros((28, 28))
    expected[2:, :25] = image.reshape(28, 28)[:26, 3:] / 255.0
    np.testing.assert_allclose(out, expected, atol=1e-6)


def test_half_pixel_shift_averages_neighbours():
    image = np.zeros((1, 784), np.uint8)
    image[0, 14 * 28 + 10] = 255
    rows, cols = _grid()
    out = resample(image, rows, cols + 0.5).reshape(28, 28)
    np.testing.assert_allclose(out[14, 9:11], [0.5, 0.5], atol=1e-6)
    assert out.sum() == pytest.approx(1.0, abs=1e-5)


def test_gaussian_matrix_rows_are_normalised_and_symmetric_inside():
    G = gaussian_matrix(4.0)
    np.testing.assert_allclose(G.sum(axis=1), 1.0)
    assert G[14, 10] == pytest.approx(G[14, 18])


def test_no_distortion_is_the_identity(mnist_small):
    still = Augmenter(Distortions(shift=0, rotation=0, scale=0), np.random.default_rng(0))
    images = mnist_small.x_train[:8]
    np.testing.assert_allclose(still(images), images / 255.0, atol=1e-5)


@pytest.mark.parametrize("name", ["affine", "elastic"])
def test_random_distortions_keep_the_digit(mnist_small, name):
    images = mnist_small.x_train[:200]
    out = make_augmenter(name, np.random.default_rng(1))(images)
    original = images / 255.0
    assert out.dtype == np.float32 and out.shape == images.shape
    assert out.min() >= 0 and out.max() <= 1
    assert not np.allclose(out, original, atol=0.05)          # something moved
    # The ink is roughly conserved (scaling changes it by at most ~20%) ...
    ink_ratio = out.sum(axis=1) / original.sum(axis=1)
    assert 0.7 < np.median(ink_ratio) < 1.3
    # ... and each distorted digit still overlaps its original far more than another digit.
    def cos(a, b):
        return (a * b).sum(1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1)
    assert np.median(cos(out, original)) > np.median(cos(out, np.roll(original, 1, axis=0))) + 0.2


def test_same_seed_same_distortions(mnist_small):
    images = mnist_small.x_train[:16]
    a = make_augmenter("elastic", np.random.default_rng(3))(images)
    b = make_augmenter("elastic", np.random.default_rng(3))(images)
    c = make_augmenter("elastic", np.random.default_rng(4))(images)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


def test_writes_into_the_given_buffer_in_its_dtype(mnist_small):
    out = np.empty((5, 784), np.float64)
    result = make_augmenter("affine", np.random.default_rng(0))(mnist_small.x_train[:5], out=out)
    assert result is out and out.dtype == np.float64


def test_unknown_name_is_refused():
    with pytest.raises(ValueError, match="unknown augmentation"):
        make_augmenter("wobbly", np.random.default_rng(0))
    assert AUGMENTATIONS["none"] is None
