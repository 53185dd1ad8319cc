"""Turning a person's picture of a digit into the 28x28 input MNIST was made of.

MNIST digits were size-normalised to fit a 20x20 box keeping their aspect
ratio (anti-aliased, hence grey edges), then placed in a 28x28 field so that
their centre of mass sits at the centre. A network trained on them expects
exactly that: light ink (1.0) on a black background (0.0), about 20 pixels
tall, strokes about 2 pixels wide. :func:`to_mnist` does the same to any image:

1. find the ink, whatever the paper's brightness, the shadows and the
   polarity, and drop what is not a digit (edge lines, specks, a dot):
   :func:`digitnet.segment.find_digits`;
2. crop to the ink, thicken strokes that would vanish when shrunk,
   fit into 20x20 keeping the aspect ratio (:func:`fit_digit`);
3. centre by centre of mass in 28x28.
"""

from __future__ import annotations

import math
import warnings
from pathlib import Path

import numpy as np

from .errors import ImageError
from .segment import Digit, find_digits, join

MAX_PIXELS = 40_000_000   # about 6300 x 6300: any photo, but no decompression bombs
WORK_SIZE = 1600          # larger pictures are shrunk to this many pixels on the long side
MNIST_BOX = 20            # digits fit in 20x20 ...
MNIST_SIZE = 28           # ... inside a 28x28 field
MNIST_CENTRE = 14.0       # where MNIST's centres of mass lie (measured: 14.0 +- 0.3)
MIN_STROKE = 1.4          # thinner strokes (in 20x20 pixels) are thickened to ~2
FLOOR_THRESHOLD = 0.2     # the lowest ink threshold (segment.threshold): grain below 0.4 x it is 0


def load_picture(path: str | Path) -> tuple[np.ndarray, float]:
    """:func:`load_image`, and how many of the file's pixels make one pixel of the array.

    Large pictures are decoded at most ``WORK_SIZE`` pixels on their longer
    side; boxes found in the array times this scale are in the file's pixels.
    """
    path = Path(path)
    if not path.is_file():
        raise ImageError(f"{path}: image file not found")
    return decode_picture(path, str(path))


def load_image(path: str | Path) -> np.ndarray:
    """Read a PNG, JPEG or other image file as grayscale floats, 0 = black, 1 = white.

    Any mode is accepted (RGB, RGBA, palette, 16-bit, bilevel); transparency
    is flattened onto a background that contrasts with the drawing; the EXIF
    orientation of phone photos is applied.

    Returns
    -------
    ndarray of float64, shape (H, W)

    Raises
    ------
    ImageError
        Missing file, not an image, truncated, or too large.
    """
    return load_picture(path)[0]


def decode_picture(source, name: str = "image") -> tuple[np.ndarray, float]:
    """A path's or a binary file object's (an upload, a BytesIO) picture as grey levels, and
    the file's pixels per array pixel; the checks of :func:`load_image`, messages start with ``name``."""
    from PIL import Image, ImageOps, UnidentifiedImageError

    try:
        # Pillow warns about odd files (bad EXIF, huge sizes) that are either
        # refused below or harmless: the user gets one clear line, not warnings.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with Image.open(source) as im:
                if im.width * im.height > MAX_PIXELS:
                    raise ImageError(f"{name}: image is {im.width}x{im.height}, larger than "
                                     f"{MAX_PIXELS:,} pixels")
                # A JPEG can be decoded at 1/2, 1/4 or 1/8 of its size directly (DCT scaling):
                # a 12-megapixel photo is read at about WORK_SIZE instead of in full. Cameras
                # that store several pictures in one file write MPO, JPEG's multi-picture form.
                original = im.size
                if im.format in ("JPEG", "MPO") and max(im.size) >= 2 * WORK_SIZE:
                    im.draft(im.mode, (im.width * WORK_SIZE // max(im.size),
                                       im.height * WORK_SIZE // max(im.size)))
                im = ImageOps.exif_transpose(im)
                side = max(original)                      # (after EXIF turning: same longer side)
                gray = _to_gray(_shrink(im))
                return gray, side / max(gray.shape)
    except ImageError:
        raise
    except MemoryError:
        raise ImageError(f"{name}: image is too large to process in memory") from None
    except Image.DecompressionBombError:
        raise ImageError(f"{name}: image claims more than {MAX_PIXELS:,} pixels "
                         f"(a decompression bomb?)") from None
    except UnidentifiedImageError:
        raise ImageError(f"{name}: not a readable image (unknown format)") from None
    except Exception as err:
        # Decoders of untrusted files fail in many ways (OSError, ValueError,
        # SyntaxError, and on malformed TIFF tags even TypeError or IndexError):
        # all of them mean "this file cannot be read".
        raise ImageError(f"{name}: cannot decode image ({type(err).__name__}: {str(err)[:100]})") from None


def _shrink(im):
    """Reduce a large picture to ``WORK_SIZE`` pixels on its longer side.

    The digit ends up 20 pixels tall anyway; working on a phone photo's 12+
    megapixels as float arrays would only cost memory (about 100 bytes a
    pixel along the way). Box filtering keeps the ink of thin strokes.
    """
    from PIL import Image

    if max(im.size) <= WORK_SIZE:
        return im
    if im.mode in ("1", "P", "PA") or im.mode.startswith("I;16"):
        im = im.convert("RGBA" if "transparency" in im.info or im.mode == "PA" else
                        ("I" if im.mode.startswith("I;16") else "L"))
    scale = WORK_SIZE / max(im.size)
    size = (max(1, round(im.width * scale)), max(1, round(im.height * scale)))
    return im.resize(size, Image.Resampling.BOX)


def _to_gray(im) -> np.ndarray:
    """Any Pillow image -> (H, W) float64 in [0, 1], white = 1."""
    if im.mode in ("I;16", "I;16B", "I;16L", "I;16N", "I", "F"):
        values = np.asarray(im, dtype=np.float64)
        low, high = values.min(), values.max()
        return (values - low) / (high - low) if high > low else np.zeros_like(values)
    if im.mode == "P" or "A" in im.getbands() or im.mode == "PA":
        rgba = np.asarray(im.convert("RGBA"), dtype=np.float64) / 255.0
        alpha = rgba[..., 3]
        luminance = rgba[..., :3] @ np.array([0.299, 0.587, 0.114])
        if alpha.min() < 1.0:
            # Flatten onto white if the drawing is dark, onto black if it is light,
            # so that strokes drawn on a transparent canvas stay visible.
            opaque = alpha > 0.5
            drawing = luminance[opaque].mean() if opaque.any() else 0.0
            background = 1.0 if drawing < 0.5 else 0.0
            return alpha * luminance + (1 - alpha) * background
        return luminance
    return np.asarray(im.convert("L"), dtype=np.float64) / 255.0


def to_mnist(gray: np.ndarray) -> np.ndarray:
    """Make a grayscale picture of one digit look like an MNIST digit.

    The digit is found as :func:`digitnet.segment.find_digits` finds it
    (lighting, clutter, dots); everything found is read as one digit.

    Parameters
    ----------
    gray : ndarray, shape (H, W)
        Values in [0, 1]; dark ink on light paper or light ink on dark.

    Returns
    -------
    ndarray of float32, shape (28, 28)
        Ink = 1, background = 0, the digit fitted in 20x20 and centred by
        centre of mass; flatten it to 784 values for the network.

    Raises
    ------
    ImageError
        If the picture is blank or holds no digit (only lines, a dot).
    """
    gray = check_gray(gray)
    found = find_digits(gray)
    if not found.digits:
        raise ImageError(f"no digit found: {found.no_digit}")
    return fit_digit(join(found.digits))


def check_gray(gray) -> np.ndarray:
    """``gray`` as a finite 2-d float64 array, or an ImageError."""
    gray = np.asarray(gray, dtype=np.float64)
    if gray.ndim != 2 or min(gray.shape) < 1 or not np.all(np.isfinite(gray)):
        raise ImageError(f"expected a finite 2-d grayscale image, got shape {gray.shape}")
    return gray


def fit_digit(digit: Digit, shape: tuple[int, int] = (MNIST_SIZE, MNIST_SIZE)) -> np.ndarray:
    """One found digit as MNIST draws digits: thickened if thin, fitted in 20x20, centred in 28x28.

    Parameters
    ----------
    digit : Digit
        Its ink (0-1) and mask, cropped to the digit.
    shape : tuple of int
        (height, width) of the network's images: 28x28 for MNIST; other sizes
        keep MNIST's proportions (a box of 20/28 of the shorter side, centred).

    Returns
    -------
    ndarray of float32, shape ``shape``
    """
    # Paper grain and sensor noise sit well below the ink: lower the floor to
    # zero there (keeping the grey, anti-aliased stroke edges above it).
    floor = 0.4 * FLOOR_THRESHOLD
    ink = np.clip((digit.ink - floor) / (1.0 - floor), 0.0, 1.0)
    box = max(1, round(MNIST_BOX / MNIST_SIZE * min(shape)))
    scale = box / max(ink.shape)
    ink = _thicken(ink, digit.mask, scale * MNIST_BOX / box)
    small = _resize(ink, scale)
    return _centre_by_mass(small, shape)


def _thicken(ink: np.ndarray, mask: np.ndarray, scale: float) -> np.ndarray:
    """Dilate strokes that would be thinner than ``MIN_STROKE`` once shrunk.

    Stroke width is estimated as ``2 * area / edge length`` of the ink mask
    (a stroke of width w and length L has area w L and about 2 L edges).
    """
    from scipy import ndimage

    area = mask.sum()
    edges = np.abs(np.diff(mask, axis=0)).sum() + np.abs(np.diff(mask, axis=1)).sum()
    edges += mask[0].sum() + mask[-1].sum() + mask[:, 0].sum() + mask[:, -1].sum()
    width = 2.0 * area / max(edges, 1)
    if width * scale >= MIN_STROKE:
        return ink
    radius = math.ceil((2.0 / scale - width) / 2)
    return ndimage.maximum_filter(ink, size=2 * radius + 1, mode="constant")


def _resize(ink: np.ndarray, scale: float) -> np.ndarray:
    """Anti-aliased resize by ``scale`` (so the longer side becomes 20)."""
    from PIL import Image

    h, w = ink.shape
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    small = np.asarray(Image.fromarray(ink.astype(np.float32), mode="F")
                       .resize(size, Image.Resampling.LANCZOS))
    small = np.clip(small, 0.0, None)  # Lanczos rings slightly below zero
    return small / small.max() if small.max() > 0 else small


def _centre_by_mass(small: np.ndarray, shape: tuple[int, int] = (MNIST_SIZE, MNIST_SIZE)) -> np.ndarray:
    """Place ``small`` (h, w <= 20) in 28x28 (or ``shape``) with its centre of mass at the centre."""
    from scipy import ndimage

    h, w = small.shape
    rows, cols = shape
    cy, cx = ndimage.center_of_mass(small)
    centre_y, centre_x = MNIST_CENTRE / MNIST_SIZE * rows, MNIST_CENTRE / MNIST_SIZE * cols
    top = int(np.clip(round(centre_y - cy), 0, rows - h))
    left = int(np.clip(round(centre_x - cx), 0, cols - w))
    field = np.zeros(shape, dtype=np.float32)
    field[top:top + h, left:left + w] = small
    return field


def image_to_input(path: str | Path) -> np.ndarray:
    """Read an image file and return the network input, (784,) float32 in [0, 1]."""
    path = Path(path)
    try:
        return to_mnist(load_image(path)).reshape(-1)
    except ImageError as err:
        message = str(err)
        raise ImageError(message if message.startswith(str(path)) else f"{path}: {message}") from None
