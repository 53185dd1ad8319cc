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


def test_unknown_name_message_lists_the_choices_whole():
    with pytest.raises(ValueError) as refused:
        make_augmenter("wobbly", np.random.default_rng(0))
    assert str(refused.value) == "unknown augmentation 'wobbly'; choose one of affine, elastic"


def test_gaussian_matrix_follows_the_gaussian_formula():
    sigma = 2.0
    G = gaussian_matrix(sigma, size=9)
    # Away from the borders each row is exp(-(d / sigma)^2 / 2), normalised.
    d = np.arange(-4, 5)
    expected = np.exp(-0.5 * (d / sigma) ** 2)
    np.testing.assert_allclose(G[4], expected / expected.sum())


def _affine_part(augmenter, n):
    """Each image's 2x2 map and translation, read back from its source coordinates."""
    rows, cols = augmenter.source_coordinates(n)
    assert rows.dtype == np.float32 and cols.dtype == np.float32 and rows.shape == (n, 784)
    centre = 13.5
    r = lambda row, col: row * 28 + col                      # noqa: E731
    # Pixel offsets along rows and along columns, from pixel (13, 13).
    m = np.empty((n, 2, 2))
    m[:, 0, 0], m[:, 1, 0] = rows[:, r(14, 13)] - rows[:, r(13, 13)], cols[:, r(14, 13)] - cols[:, r(13, 13)]
    m[:, 0, 1], m[:, 1, 1] = rows[:, r(13, 14)] - rows[:, r(13, 13)], cols[:, r(13, 14)] - cols[:, r(13, 13)]
    offset = np.array([13 - centre, 13 - centre])
    t = np.stack([rows[:, r(13, 13)], cols[:, r(13, 13)]], 1) - m @ offset - centre
    return m, t


def test_each_image_gets_its_own_rotation_and_zoom_within_the_limits():
    augmenter = Augmenter(Distortions(shift=0, rotation=10, scale=0.1), np.random.default_rng(5))
    m, t = _affine_part(augmenter, 300)
    # The inverse map is diag(1/zoom_rows, 1/zoom_cols) @ a rotation: orthogonal rows ...
    zoom_rows, zoom_cols = 1 / np.linalg.norm(m[:, 0], axis=1), 1 / np.linalg.norm(m[:, 1], axis=1)
    angle = np.arctan2(m[:, 0, 1], m[:, 0, 0])
    np.testing.assert_allclose(m[:, 1] * zoom_cols[:, None],
                               np.stack([-np.sin(angle), np.cos(angle)], 1), atol=2e-4)
    np.testing.assert_allclose(t, 0, atol=2e-4)
    # ... each drawn for each image, both ways, within the limits.
    for zoom in (zoom_rows, zoom_cols):
        assert 0.9 - 1e-4 <= zoom.min() < 0.95 and 1.05 < zoom.max() <= 1.1 + 1e-4
    assert not np.allclose(zoom_rows, zoom_cols, atol=0.01)
    limit = np.radians(10) + 1e-4
    assert -limit <= angle.min() < -np.radians(5) and np.radians(5) < angle.max() <= limit


def test_each_image_gets_its_own_shift_within_the_limit():
    augmenter = Augmenter(Distortions(shift=2.0, rotation=0, scale=0), np.random.default_rng(6))
    m, t = _affine_part(augmenter, 300)
    np.testing.assert_allclose(m, np.broadcast_to(np.eye(2), m.shape), atol=1e-5)
    assert np.abs(t).max() <= 2.0 + 1e-4 and t.min() < -1.5 and t.max() > 1.5
    assert len(np.unique(np.round(t[:, 0], 4))) == 300


def test_elastic_field_moves_neighbouring_pixels_together():
    augmenter = Augmenter(Distortions(shift=0, rotation=0, scale=0, elastic_alpha=34.0, elastic_sigma=4.0),
                          np.random.default_rng(7))
    rows, cols = augmenter.source_coordinates(2)
    grid_rows, grid_cols = _grid()
    field = np.stack([rows - grid_rows, cols - grid_cols])        # (2, n, 784)
    assert rows.dtype == np.float32
    assert np.abs(field).max() > 0.5 and not np.allclose(field[:, 0], field[:, 1])
    steps = np.abs(np.diff(field.reshape(2, 2, 28, 28), axis=-1))
    assert steps.max() < 0.5 * np.abs(field).max()                # smooth: neighbours move alike


@pytest.mark.parametrize("row, col", [(-5.0, 3.0), (3.0, -5.0), (40.0, 3.0), (3.0, 40.0), (3.0, 30.0),
                                      (30.0, 3.0), (-1.0, -1.0)])
def test_reads_outside_the_image_are_background(row, col):
    images = np.full((3, 784), 255, np.uint8)
    rows, cols = np.full((3, 784), row, np.float32), np.full((3, 784), col, np.float32)
    # (at most 1/1000 of an edge pixel leaks in)
    np.testing.assert_allclose(resample(images, rows, cols), 0.0, atol=2e-3)


def test_reading_between_four_pixels_averages_them():
    image = np.zeros((1, 784), np.uint8)
    image[0, 14 * 28 + 10] = 255
    rows, cols = _grid()
    out = resample(image, rows + 0.5, cols + 0.5).reshape(28, 28)
    expected = np.zeros((28, 28))
    expected[13:15, 9:11] = 0.25
    np.testing.assert_allclose(out, expected, atol=1e-6)
