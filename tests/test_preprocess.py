"""Turning people's pictures into MNIST-style inputs, and reading them correctly."""

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from digitnet.errors import ImageError
from digitnet.modelfile import load_model
from digitnet.preprocess import (
    MAX_PIXELS,
    _centre_by_mass,
    _resize,
    _shrink,
    _thicken,
    _to_gray,
    check_gray,
    decode_picture,
    fit_digit,
    image_to_input,
    load_image,
    load_picture,
    to_mnist,
)
from digitnet.segment import Digit

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


# --- Reading files: the one-line messages a user sees -------------------------------------------


def _png_header(width: int, height: int) -> bytes:
    """A PNG that only claims a size (a bilevel picture's header, no pixel data): what a bomb looks like."""
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IEND", b"")


def test_a_file_that_is_no_picture_is_named_once_in_a_one_line_message(tmp_path):
    """load_image names the file; image_to_input adds the name only when it is missing."""
    path = tmp_path / "notes.png"
    path.write_text("this is not a picture")
    expected = f"{path}: not a readable image (unknown format)"
    for read in (load_image, image_to_input):
        with pytest.raises(ImageError) as err:
            read(path)
        assert str(err.value) == expected, read.__name__


def test_a_picture_without_a_digit_gets_the_file_name_and_the_reason(tmp_path):
    path = tmp_path / "white.png"
    Image.new("L", (100, 100), 255).save(path)
    with pytest.raises(ImageError) as err:
        image_to_input(path)
    assert str(err.value) == f"{path}: no digit found: the image is blank or has almost no contrast"


def test_an_upload_is_called_image_in_messages():
    """decode_picture reads file objects (the web app's uploads), which have no file name."""
    import io

    with pytest.raises(ImageError) as err:
        decode_picture(io.BytesIO(b"this is not a picture"))
    assert str(err.value) == "image: not a readable image (unknown format)"


def test_a_decompression_bomb_is_refused_by_its_header(tmp_path):
    """20000 x 20000 pixels claimed in a few bytes: Pillow refuses it before decoding anything."""
    path = tmp_path / "bomb.png"
    path.write_bytes(_png_header(20_000, 20_000))
    with pytest.raises(ImageError) as err:
        load_image(path)
    assert str(err.value) == f"{path}: image claims more than 40,000,000 pixels (a decompression bomb?)"


def test_the_pixel_limit_accepts_exactly_max_pixels_and_refuses_one_row_more(tmp_path):
    """8000 x 5000 = MAX_PIXELS is read (bilevel: a few kB on disk); 8001 x 5000 is refused by its size."""
    assert MAX_PIXELS == 8000 * 5000
    path = tmp_path / "limit.png"
    Image.new("1", (8000, 5000), 1).save(path)
    grey, scale = load_picture(path)
    assert grey.shape == (1000, 1600) and scale == 5.0 and grey.min() == 1.0
    path.write_bytes(_png_header(8001, 5000))
    with pytest.raises(ImageError) as err:
        load_image(path)
    assert str(err.value) == f"{path}: image is 8001x5000, larger than 40,000,000 pixels"


def test_a_truncated_file_gets_the_decoders_reason(tmp_path):
    path = tmp_path / "cut.png"
    Image.new("L", (100, 100), 128).save(path)
    path.write_bytes(path.read_bytes()[:80])
    with pytest.raises(OSError) as pillow:
        Image.open(path).load()
    with pytest.raises(ImageError) as err:
        load_image(path)
    assert str(err.value) == f"{path}: cannot decode image (OSError: {pillow.value})"


@pytest.mark.parametrize("error, says", [
    # Malformed EXIF or TIFF tags make Pillow raise anything, with any text: the line stays short.
    (ValueError("tag 274 " + "x" * 150), f"cannot decode image (ValueError: tag 274 {'x' * 92})"),
    (MemoryError(), "image is too large to process in memory"),
])
def test_a_decoder_failure_is_one_short_line(tmp_path, monkeypatch, error, says):
    from PIL import ImageOps

    def fail(image):
        raise error

    monkeypatch.setattr(ImageOps, "exif_transpose", fail)
    path = tmp_path / "photo.png"
    Image.new("L", (10, 10), 128).save(path)
    with pytest.raises(ImageError) as err:
        load_image(path)
    assert str(err.value) == f"{path}: {says}"


@pytest.mark.parametrize("kind", ["JPEG", "MPO"])
def test_a_large_jpeg_is_decoded_at_reduced_size_by_the_decoder(tmp_path, monkeypatch, kind):
    """A JPEG of 3200 pixels (2 x WORK_SIZE) or more is decoded directly at 1/2, 1/4 or 1/8 of its size
    (DCT scaling): a phone photo never sits in memory at full size, also in the multi-picture form (MPO)
    some cameras write. A spy on Pillow's draft records the size the decoder was set to."""
    from PIL import JpegImagePlugin

    decoded = []
    draft = JpegImagePlugin.JpegImageFile.draft

    def spy(self, mode, size):
        result = draft(self, mode, size)
        decoded.append(self.size)
        return result

    monkeypatch.setattr(JpegImagePlugin.JpegImageFile, "draft", spy)
    path = tmp_path / "photo.jpg"
    picture = Image.new("L", (3200, 1800), 200)
    several = {"save_all": True, "append_images": [picture]} if kind == "MPO" else {}
    picture.save(path, format=kind, **several)
    assert Image.open(path).format == kind
    grey, scale = load_picture(path)
    assert decoded == [(1600, 900)]
    assert grey.shape == (900, 1600) and scale == 2.0 and np.allclose(grey, 200 / 255, atol=2 / 255)


# --- Grey levels of every kind of picture ------------------------------------------------------


def _deep(mode: str, values) -> Image.Image:
    """A one-row picture of ``values`` in a 16-bit, 32-bit or float mode."""
    if mode == "I":
        return Image.fromarray(np.array([values], np.int32))
    if mode == "F":
        return Image.fromarray(np.array([values], np.float32))
    order = {"I;16": "<u2", "I;16L": "<u2", "I;16B": ">u2", "I;16N": "=u2"}[mode]
    return Image.frombytes(mode, (len(values), 1), np.array(values, order).tobytes())


@pytest.mark.parametrize("mode", ["I;16", "I;16B", "I;16L", "I;16N", "I", "F"])
def test_deep_pictures_are_stretched_from_their_darkest_to_their_lightest_value(mode):
    """16-bit, 32-bit and float pictures have no agreed white (a 12-bit scan stops at 4095):
    their own darkest value is black and their lightest white, as float64."""
    picture = _deep(mode, [1000, 2000, 3000])
    assert picture.mode == mode
    grey = _to_gray(picture)
    assert grey.dtype == np.float64
    np.testing.assert_array_equal(grey, [[0.0, 0.5, 1.0]])


@pytest.mark.parametrize("mode", ["I;16", "F"])
def test_a_uniform_deep_picture_is_all_black_not_nan(mode):
    grey = _to_gray(_deep(mode, [500, 500, 500]))
    assert grey.dtype == np.float64
    np.testing.assert_array_equal(grey, [[0.0, 0.0, 0.0]])


def test_ordinary_pictures_are_their_grey_levels_over_255():
    """Pillow's own grey (L = 299 R + 587 G + 114 B, rounded): pure red is 76/255."""
    rgb = Image.fromarray(np.array([[[255, 0, 0], [0, 0, 0], [255, 255, 255], [51, 51, 51]]], np.uint8))
    np.testing.assert_array_equal(_to_gray(rgb), [[76 / 255, 0.0, 1.0, 0.2]])
    grey = Image.fromarray(np.array([[0, 51, 255]], np.uint8))
    np.testing.assert_array_equal(_to_gray(grey), [[0.0, 0.2, 1.0]])


def _rgba(pixels) -> Image.Image:
    return Image.fromarray(np.array([pixels], np.uint8), "RGBA")


def test_a_dark_drawing_on_a_transparent_canvas_is_flattened_onto_white():
    """Black strokes (opaque, half and fully transparent pixels): the canvas shows white, a
    half-transparent stroke pixel blends into it."""
    grey = _to_gray(_rgba([[0, 0, 0, 255], [0, 0, 0, 0], [0, 0, 0, 128], [255, 255, 255, 0]]))
    np.testing.assert_allclose(grey, [[0.0, 1.0, 127 / 255, 1.0]], rtol=0, atol=1e-12)


def test_a_light_drawing_on_a_transparent_canvas_is_flattened_onto_black():
    """White strokes as drawing apps export them for dark themes: the canvas shows black."""
    grey = _to_gray(_rgba([[255, 255, 255, 255], [255, 255, 255, 0], [255, 255, 255, 128], [0, 0, 0, 0]]))
    np.testing.assert_allclose(grey, [[1.0, 0.0, 128 / 255, 0.0]], rtol=0, atol=1e-12)


def test_a_picture_with_no_opaque_pixel_is_flattened_onto_white():
    """Nothing more than half opaque: no drawing to contrast with, so the canvas is white."""
    grey = _to_gray(_rgba([[0, 0, 0, 0], [0, 0, 0, 100], [0, 0, 0, 0]]))
    np.testing.assert_allclose(grey, [[1.0, 155 / 255, 1.0]], rtol=0, atol=1e-12)


def test_a_palette_picture_with_a_transparent_colour_shows_its_drawing():
    """Black lines on a transparent colour that is black too (as drawing programs save): without
    the transparency the picture would be all black."""
    picture = Image.fromarray(np.array([[0, 1, 0, 1]], np.uint8), "P")
    picture.putpalette([0, 0, 0] * 2)
    picture.info["transparency"] = 0
    np.testing.assert_array_equal(_to_gray(picture), [[1.0, 0.0, 1.0, 0.0]])
    np.testing.assert_array_equal(_to_gray(picture.convert("LA")), [[1.0, 0.0, 1.0, 0.0]])


def test_a_large_12_bit_scan_keeps_its_contrast_when_shrunk(tmp_path):
    """A 16-bit PNG whose values stop at 4095 (a 12-bit scanner's): 8-bit conversion would clip all of
    it to white; shrunk as 32-bit integers it keeps its lines, stretched to black on white."""
    pixels = np.full((850, 1700), 4000, np.uint16)
    pixels[:, ::13] = 1000
    path = tmp_path / "scan.png"
    Image.fromarray(pixels).save(path)
    grey, _ = load_picture(path)
    assert grey.shape == (800, 1600)
    darkest = grey.min(axis=0)
    assert np.count_nonzero((darkest[1:] < 0.75) & (darkest[:-1] >= 0.75)) + (darkest[0] < 0.75) == 131
    assert grey.max() == 1.0 and grey.min() == 0.0


@pytest.mark.parametrize("mode, paper", [("P", 200), ("1", 255)])
def test_a_large_plain_picture_keeps_its_grey_when_shrunk(tmp_path, mode, paper):
    """Palette and bilevel pictures are shrunk as 8-bit grey: blank white paper stays white (stretched
    as a 32-bit picture it would turn black)."""
    path = tmp_path / "plain.png"
    Image.new("L", (1700, 850), paper).convert(mode).save(path)
    grey, _ = load_picture(path)
    assert grey.shape == (800, 1600)
    np.testing.assert_array_equal(grey, np.full((800, 1600), paper / 255))


def test_a_large_palette_picture_with_an_alpha_band_keeps_its_transparent_lines():
    """Mode PA (palette + alpha): black lines on a black transparent canvas survive the shrink."""
    index = np.zeros((850, 1700), np.uint8)
    index[:, ::13] = 1
    picture = Image.fromarray(index, "P")
    picture.putpalette([0, 0, 0] * 2)
    picture = picture.convert("PA")
    picture.putalpha(Image.fromarray(index * 255))
    grey = _to_gray(_shrink(picture))
    assert grey.shape == (800, 1600)
    darkest = grey.min(axis=0)
    assert np.count_nonzero((darkest[1:] < 0.75) & (darkest[:-1] >= 0.75)) + (darkest[0] < 0.75) == 131
    assert grey.max() == 1.0


def test_a_tall_one_pixel_wide_picture_stays_one_pixel_wide(tmp_path):
    path = tmp_path / "tall.png"
    Image.new("L", (1, 3200), 200).save(path)
    grey, scale = load_picture(path)
    assert grey.shape == (1600, 1) and scale == 2.0


def test_shrinking_averages_the_pixels_it_merges(tmp_path):
    """A box filter: halved, each pixel is the mean of the two it replaces, so a 1-pixel black line
    becomes a mid-grey one (128/255) and the white paper beside it stays exactly white."""
    pixels = np.full((4, 3200), 255, np.uint8)
    pixels[:, ::13] = 0
    path = tmp_path / "lines.png"
    Image.fromarray(pixels).save(path)
    grey, _ = load_picture(path)
    merged = np.floor(pixels.reshape(2, 2, 1600, 2).mean(axis=(1, 3)) + 0.5) / 255
    np.testing.assert_array_equal(grey, merged)
    assert set(np.unique(grey)) == {128 / 255, 1.0}


# --- Arrays handed in, and the MNIST digit made of them --------------------------------------


@pytest.mark.parametrize("gray, shape", [
    (np.zeros(5), "(5,)"),                      # one row given as a 1-d array
    (np.zeros((0, 4)), "(0, 4)"),               # empty
    (np.array([[0.5, np.nan]]), "(1, 2)"),      # a NaN
    (np.array([[0.5], [np.inf]]), "(2, 1)"),
])
def test_a_bad_grey_array_is_refused_with_its_shape(gray, shape):
    with pytest.raises(ImageError) as err:
        check_gray(gray)
    assert str(err.value) == f"expected a finite 2-d grayscale image, got shape {shape}"


def test_a_one_row_grey_array_is_accepted():
    np.testing.assert_array_equal(check_gray(np.full((1, 5), 0.5)), np.full((1, 5), 0.5))


def test_a_boolean_picture_is_read_as_black_and_white():
    """A thresholded picture (True = paper) is grey levels 0 and 1, not booleans to subtract."""
    picture = np.ones((60, 60), bool)
    picture[10:50, 28:32] = False
    picture[10:14, 20:32] = False
    np.testing.assert_array_equal(to_mnist(picture), to_mnist(picture.astype(np.float64)))


def test_a_picture_of_only_a_dash_says_why_it_holds_no_digit():
    picture = np.ones((60, 60))
    picture[30, 5:55] = 0.0
    with pytest.raises(ImageError) as err:
        to_mnist(picture)
    assert str(err.value) == "no digit found: a dash, not a digit"


def _digit(ink: np.ndarray, mask=None) -> Digit:
    mask = ink > 0.5 if mask is None else mask
    return Digit((0, 0, ink.shape[1], ink.shape[0]), ink, mask)


def test_grey_stroke_edges_are_stretched_above_the_grain_floor():
    """Levels above the floor (0.4 x 0.2 = 0.08) are stretched to 0..1: a 0.54 grey edge is half ink.
    A 20x20 digit is not resized, so its grey levels come out as they are."""
    ink = np.ones((20, 20))
    ink[:, 10:] = 0.54
    x = fit_digit(_digit(ink, np.ones((20, 20), bool)))
    expected = np.zeros((28, 28), np.float32)
    expected[4:24, 6:16], expected[4:24, 16:26] = 1.0, 0.5   # centre of mass (13.5, 13.8)
    np.testing.assert_allclose(x, expected, rtol=0, atol=1e-6)


def test_paper_grain_below_the_floor_vanishes():
    """Grain of 0.05 around the strokes (below the floor 0.08) gives exactly the clean digit."""
    clean = np.zeros((40, 30))
    clean[5:35, 5:9] = clean[5:9, 5:25] = 1.0
    grainy = np.where(clean > 0, clean, 0.05)
    np.testing.assert_array_equal(fit_digit(_digit(grainy)), fit_digit(_digit(clean)))


@pytest.mark.parametrize("shape, box, centre", [((32, 32), 23, (16, 16)), ((28, 40), 20, (14, 20))])
def test_other_input_shapes_keep_mnists_proportions(shape, box, centre):
    """A network of 32x32 inputs gets the digit in round(20/28 x 32) = 23 pixels, centred at 16."""
    x = fit_digit(_digit(np.ones((40, 20))), shape)
    assert x.shape == shape
    rows = np.flatnonzero(x.max(axis=1) > 0)
    assert rows[-1] - rows[0] + 1 == box
    cy = (x.sum(axis=1) @ np.arange(shape[0])) / x.sum()
    cx = (x.sum(axis=0) @ np.arange(shape[1])) / x.sum()
    assert abs(cy - centre[0]) <= 0.5 and abs(cx - centre[1]) <= 0.5


def test_resizing_keeps_proportions_down_to_one_pixel():
    assert _resize(np.ones((100, 2)), 0.2).shape == (20, 1)
    assert _resize(np.ones((2, 100)), 0.2).shape == (1, 20)


def test_resizing_makes_the_strongest_ink_full():
    """A 1-pixel line halved would be about half as dark: the result is scaled so its peak is 1."""
    ink = np.zeros((40, 40))
    ink[:, 20] = 1.0
    small = _resize(ink, 0.5)
    assert small.shape == (20, 20) and small.max() == 1.0 and small.min() == 0.0


def _line(horizontal: bool) -> np.ndarray:
    mask = np.zeros((21, 100), bool)
    mask[10] = True
    return mask if horizontal else mask.T


def _dilated(mask: np.ndarray, radius: int) -> np.ndarray:
    from scipy import ndimage

    return ndimage.binary_dilation(mask, np.ones((2 * radius + 1,) * 2, bool)).astype(np.float64)


@pytest.mark.parametrize("horizontal", [True, False])
def test_a_one_pixel_stroke_shrunk_five_times_is_dilated_to_eleven_pixels(horizontal):
    """Width 2 x area / edges = 200/202; shrunk by 0.2 it needs 2 / 0.2 = 10 pixels: ceil((10 - 0.99) / 2)
    = 5 more on each side, 11 in all, whichever way the stroke runs."""
    mask = _line(horizontal)
    np.testing.assert_array_equal(_thicken(mask.astype(np.float64), mask, 0.2), _dilated(mask, 5))


def _ring(rows: int, cols: int, stroke: int) -> np.ndarray:
    """A rectangular '0' drawn with a ``stroke``-pixel pen, cropped to its ink."""
    mask = np.ones((rows, cols), bool)
    mask[stroke:-stroke, stroke:-stroke] = False
    return mask


def test_edges_on_the_crops_border_count_in_the_stroke_width():
    """A cropped 1-pixel '0' has half its edges on the crop's border: counting them all, its width is
    2 x 170 / 340 = 1 exactly. Fitting its 51 rows into 20 (scale 20/51) needs 5.1 pixels: 3 more on
    each side. Leaving out any border edge would make the stroke look wider and the dilation 2."""
    mask = _ring(51, 36, 1)
    np.testing.assert_array_equal(_thicken(mask.astype(np.float64), mask, 20 / 51), _dilated(mask, 3))


@pytest.mark.parametrize("scale, radius", [(1.0, 0), (0.7, 0), (0.69, 1)])
def test_a_two_pixel_stroke_is_left_alone_while_it_stays_min_stroke_wide(scale, radius):
    """A 2-pixel '0' (width 2 x 64 / 64 = 2) is thick enough down to 2 x 0.7 = MIN_STROKE = 1.4."""
    mask = _ring(10, 10, 2)
    np.testing.assert_array_equal(_thicken(mask.astype(np.float64), mask, scale), _dilated(mask, radius))


def test_the_digit_is_placed_with_its_centre_of_mass_at_the_centre():
    small = np.zeros((20, 12))
    small[2:6, 1:4] = 1.0
    small[15:20, 8:12] = 0.5
    field = _centre_by_mass(small)
    assert field.shape == (28, 28) and field.sum() == pytest.approx(small.sum())
    cy, cx = centre_of_mass(field)
    assert abs(cy - 14) <= 0.5 and abs(cx - 14) <= 0.5


@pytest.mark.parametrize("corner, placed", [
    ((slice(17, 20), slice(17, 20)), (slice(17, 20), slice(17, 20))),   # would need to move up 4
    ((slice(0, 3), slice(0, 3)), (slice(8, 11), slice(8, 11))),         # would need to move down 13
])
def test_a_digit_that_cannot_be_centred_stops_whole_at_the_fields_edge(corner, placed):
    """20x20 with all its ink in one corner: centring it would push it past the 28x28 field."""
    small = np.zeros((20, 20))
    small[corner] = 1.0
    expected = np.zeros((28, 28), np.float32)
    expected[placed] = 1.0
    np.testing.assert_array_equal(_centre_by_mass(small), expected)
