"""Turning people's pictures into MNIST-style inputs, and reading them correctly."""

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from digitnet.errors import ImageError
from digitnet.modelfile import load_model
from digitnet.preprocess import MAX_PIXELS, image_to_input, load_image, to_mnist

from drawing import draw_digit, photo_of


@pytest.fixture(scope="module")
def reader():
    """The shipped network trained on all of MNIST (models/mnist-best.npz, `digitnet train`)."""
    return load_model(Path(__file__).parents[1] / "models" / "mnist-best.npz")[0]


def predict(model, path):
    return int(model.predict_proba(image_to_input(path)[None, :]).argmax())


def centre_of_mass(x):
    rows, cols = np.arange(28), np.arange(28)
    return (x.sum(axis=1) @ rows) / x.sum(), (x.sum(axis=0) @ cols) / x.sum()


def test_output_looks_like_mnist():
    x = to_mnist(np.asarray(draw_digit(7), dtype=np.float64) / 255)
    assert x.shape == (28, 28) and x.dtype == np.float32
    assert x.min() == 0.0 and x.max() == pytest.approx(1.0)
    cy, cx = centre_of_mass(x)
    assert abs(cy - 14) <= 0.5 and abs(cx - 14) <= 0.5
    rows, cols = np.flatnonzero(x.max(axis=1) > 0), np.flatnonzero(x.max(axis=0) > 0)
    assert max(rows[-1] - rows[0], cols[-1] - cols[0]) + 1 in (20, 21, 22)  # 20 + Lanczos fringe
    assert x[0].sum() == 0 and x[:, 0].sum() == 0  # background stays black


def test_polarity_does_not_matter():
    dark = to_mnist(np.asarray(draw_digit(0, dark_on_light=True), dtype=np.float64) / 255)
    light = to_mnist(np.asarray(draw_digit(0, dark_on_light=False), dtype=np.float64) / 255)
    np.testing.assert_allclose(dark, light, atol=1e-6)


def test_position_and_size_do_not_matter():
    a = to_mnist(np.asarray(draw_digit(1, size=(300, 300), box=(50, 50, 250, 250), width=18)) / 255.0)
    b = to_mnist(np.asarray(draw_digit(1, size=(900, 500), box=(500, 20, 900, 420), width=36)) / 255.0)
    assert np.abs(a - b).mean() < 0.05


def test_thin_strokes_are_thickened():
    thin = to_mnist(np.asarray(draw_digit(0, size=(1000, 1000), box=(100, 100, 900, 900), width=3)) / 255.0)
    assert (thin > 0.5).sum() >= 60  # a ring about 2 pixels wide, not a faint 1-pixel trace


def test_blank_image_is_an_error():
    with pytest.raises(ImageError, match="no digit"):
        to_mnist(np.ones((50, 50)))
    with pytest.raises(ImageError, match="no digit"):
        to_mnist(np.full((50, 50), 0.5) + np.random.default_rng(0).normal(0, 0.01, (50, 50)))


@pytest.mark.parametrize("digit", [0, 1, 7])
@pytest.mark.parametrize("dark_on_light", [True, False])
@pytest.mark.parametrize("geometry", [
    dict(size=(300, 300), box=(50, 50, 250, 250), width=18),          # centred
    dict(size=(640, 480), box=(380, 40, 600, 300), width=14),         # off-centre, odd canvas
    dict(size=(64, 40), box=(30, 4, 56, 36), width=3),                # tiny
    dict(size=(1200, 900), box=(100, 300, 500, 850), width=5),        # large, thin pen
])
def test_drawn_digits_are_read(reader, tmp_path, digit, dark_on_light, geometry):
    path = tmp_path / f"{digit}.png"
    draw_digit(digit, dark_on_light=dark_on_light, **geometry).save(path)
    assert predict(reader, path) == digit


@pytest.mark.parametrize("mode", ["RGB", "RGBA-transparent", "P", "I;16", "1", "LA"])
def test_any_image_mode(reader, tmp_path, mode):
    drawn = draw_digit(7)
    if mode == "RGBA-transparent":
        # Black strokes on a fully transparent canvas, as drawing apps export them.
        ink = np.asarray(drawn) < 128
        rgba = np.zeros((*ink.shape, 4), np.uint8)
        rgba[ink, 3] = 255
        image = Image.fromarray(rgba, "RGBA")
    elif mode == "I;16":
        image = Image.fromarray(np.asarray(drawn, np.uint16) * 257)  # mode I;16
    else:
        image = drawn.convert(mode)
    path = tmp_path / "seven.png"
    image.save(path)
    assert predict(reader, path) == 7


def test_photo_like_mnist_digits(reader, mnist, tmp_path):
    """Real MNIST test digits, enlarged, off-centre, on lit paper with noise, PNG and JPEG."""
    rng = np.random.default_rng(7)
    digits = mnist.x_test[:40].reshape(-1, 28, 28)
    direct = reader.predict_proba(mnist.x_test[:40].astype(np.float32) / 255).argmax(axis=1)
    agree = 0
    for i, digit in enumerate(digits):
        path = tmp_path / f"photo{i}.{'jpg' if i % 2 else 'png'}"
        photo_of(digit, rng, dark_on_light=i % 3 != 0).save(path, quality=85)
        agree += predict(reader, path) == direct[i]
    assert agree >= 37, f"only {agree} of 40 photos read as their MNIST original"


def test_not_an_image(tmp_path):
    path = tmp_path / "notes.png"
    path.write_text("this is not a picture")
    with pytest.raises(ImageError) as err:
        image_to_input(path)
    assert str(path) in str(err.value) and "\n" not in str(err.value)


def test_missing_image(tmp_path):
    with pytest.raises(ImageError, match="not found"):
        load_image(tmp_path / "absent.png")


def test_truncated_png(tmp_path):
    path = tmp_path / "cut.png"
    draw_digit(1).save(path)
    path.write_bytes(path.read_bytes()[:300])
    with pytest.raises(ImageError) as err:
        image_to_input(path)
    assert "cut.png" in str(err.value)


def test_blank_file_names_the_file(tmp_path):
    path = tmp_path / "white.png"
    Image.new("L", (100, 100), 255).save(path)
    with pytest.raises(ImageError) as err:
        image_to_input(path)
    assert str(path) in str(err.value) and "no digit" in str(err.value)


def test_oversized_image_rejected_before_decoding(tmp_path):
    path = tmp_path / "bomb.png"
    side = int(np.sqrt(MAX_PIXELS)) + 100
    Image.new("1", (side, side), 0).save(path)  # compresses to a few KB
    assert path.stat().st_size < 200_000
    with pytest.raises(ImageError, match="larger than"):
        load_image(path)


@pytest.mark.parametrize("mode", ["RGB", "P", "I;16", "1"])
def test_large_photo_is_shrunk_before_processing(reader, tmp_path, mode):
    # 30 megapixels: processed at 1600 pixels on the long side, in any mode.
    drawn = draw_digit(7, size=(6000, 5000), box=(2000, 1500, 3200, 3500), width=24)
    image = Image.fromarray(np.asarray(drawn, np.uint16) * 257) if mode == "I;16" else drawn.convert(mode)
    path = tmp_path / "big.png"
    image.save(path)
    assert max(load_image(path).shape) == 1600
    assert predict(reader, path) == 7


def _ruled(mode: str, size=(1700, 850), every=13) -> Image.Image:
    """White paper with a 1-pixel black line every ``every`` columns, in ``mode``."""
    pixels = np.full(size[::-1], 255, np.uint8)
    pixels[:, ::every] = 0
    grey = Image.fromarray(pixels)
    if mode == "I;16":
        return Image.fromarray(pixels.astype(np.uint16) * 257)
    if mode == "P-transparent":
        # Black lines on a transparent canvas whose hidden colour is black too (as drawing
        # programs save): only the transparency tells the lines from the paper.
        picture = Image.fromarray((pixels == 0).astype(np.uint8), "P")
        picture.putpalette([0, 0, 0] * 2)
        picture.info["transparency"] = 0
        return picture
    return grey.convert(mode)


@pytest.mark.parametrize("mode", ["L", "RGB", "1", "P", "P-transparent", "I;16", "LA"])
def test_a_large_picture_is_shrunk_to_the_work_size_keeping_every_thin_line(tmp_path, mode):
    """1700 x 850 pixels -> 1600 x 800 with a box filter: each of the 131 one-pixel lines still
    shows as a dark column (a nearest-pixel shrink, Pillow's for palette and bilevel pictures,
    drops 7 of them), whatever the mode."""
    from digitnet.preprocess import WORK_SIZE, load_picture

    path = tmp_path / "ruled.png"
    _ruled(mode).save(path)
    grey, scale = load_picture(path)
    assert WORK_SIZE == 1600 and grey.shape == (800, 1600) and scale == pytest.approx(1700 / 1600)
    darkest = grey.min(axis=0)
    lines = np.count_nonzero((darkest[1:] < 0.75) & (darkest[:-1] >= 0.75)) + (darkest[0] < 0.75)
    assert lines == 131, mode
    assert grey.max() == pytest.approx(1.0) and darkest.min() < 0.5


def test_shrinking_keeps_the_proportions_and_at_least_one_pixel(tmp_path):
    from digitnet.preprocess import load_picture

    for size, expected in {(1600, 900): (900, 1600), (1601, 900): (899, 1600), (900, 3200): (1600, 450),
                           (3200, 1): (1, 1600)}.items():
        path = tmp_path / f"{size}.png"
        Image.new("L", size, 200).save(path)
        grey, scale = load_picture(path)
        assert grey.shape == expected and scale == pytest.approx(max(size) / max(expected)), size
        assert np.allclose(grey, 200 / 255)
