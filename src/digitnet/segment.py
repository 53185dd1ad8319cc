"""Finding the digits in a picture as people take them: lighting, clutter, several digits.

A photo of a digit is not a scan. The paper may be any grey, a shadow may
cross it, a form's cell lines may frame it, a pen tap may leave a dot, and
it may hold a whole number. Before a digit can be fitted to MNIST's 28x28
(:mod:`digitnet.preprocess`), three steps find it:

1. **Lighting** (:func:`ink_image`): a median over a window large beside
   a stroke tells which way the ink lies (its heavy tail: darker or lighter
   than the paper; no fixed 50% level, so a dark digit on 45%-grey paper
   and chalk on a grey board both work). The paper itself is then a grey
   closing (an opening for light ink) with that window, on a 64-pixel copy
   continued past the edges by point reflection: it removes strokes however
   much of the window they cover, follows slow shadows and keeps sharp
   shadow edges. It is subtracted; a picture left without contrast is blank.
2. **Clutter** (:func:`clean_mask`): after Otsu's threshold, thin straight
   lines crossing the picture or running along an edge (a cell's or a page's
   lines, a shadow's border) are removed, then connected pieces that lie
   (almost) wholly in a band along the edge and touch it, slivers, and
   specks much smaller than the largest stroke.
3. **Digits** (:func:`find_digits`): pieces that overlap left to right or
   lie above each other belong to one digit (a 5's flag, a 4 drawn in two
   strokes); a short piece almost touching a neighbour joins it; a piece
   much wider than tall is cut where the ink is thinnest, when the parts
   stand digit-tall (touching digits). A small round filled blob (a tap) or
   a solid bar lying nearer horizontal than vertical (a dash) is "no digit".

The image processing is scipy.ndimage and scikit-image (median filter,
grey closing, Otsu's threshold, connected components, region properties): well-kept
library code, as this is not what digitnet exists to teach.

References: N. Otsu, "A threshold selection method from gray-level
histograms", IEEE Trans. SMC 9(1), 1979; background subtraction by a
morphological closing (the "rolling ball" of document binarisation) (e.g. Gonzalez and Woods,
*Digital Image Processing*, 4th ed., 2018, section 10.3).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .errors import ImageError

MIN_SIDE = 8              # a picture narrower than this cannot hold a readable digit
ANALYSIS_SIDE = 800       # larger pictures are analysed at this size (the digit ends up 20 px)
COARSE_SIDE = 64          # the paper's brightness is estimated on a picture this small
BACKGROUND_WINDOW = 0.4   # median window, as a share of the (coarse) picture's shorter side
MIN_CONTRAST = 0.06       # ink must differ from the paper by this much (0-1 scale) ...
NOISE_MULTIPLE = 6.0      # ... and by this many times the noise
EDGE_BAND = 0.12          # pieces within this share of the side from an edge, touching it: lines
EDGE_SHARE = 0.85         # ... when this share of their pixels lies in that band
SPECK_SHARE = 0.02        # pieces smaller than this share of the largest piece are specks
LINE_SPAN = 0.85          # straight runs this share of the picture long ...
LINE_WIDTH = 0.06         # ... in a band this share of the other side wide are lines, not ink,
EDGE_LINE_SPAN = 0.4      # ... as are runs this long inside the edge band
WIDE = 1.3                # a digit wider than this times its height holds several digits
DIGIT_ASPECT = 0.75       # the width of one digit of a touching pair, in heights
TOUCHING = 1.0            # wider than this times its height: maybe two digits touching ...
VALLEY = 0.3              # ... if some middle column holds this share of a typical column's ink


@dataclass
class Digit:
    """One digit found in a picture.

    Attributes
    ----------
    box : tuple of int
        ``(left, top, right, bottom)`` in the picture's pixels (right and bottom exclusive).
    ink : ndarray of float64, shape (bottom - top, right - left)
        The digit's ink, 0 = background, 1 = full ink; other digits' ink is removed.
    mask : ndarray of bool, same shape
        Its thresholded pixels.
    """

    box: tuple[int, int, int, int]
    ink: np.ndarray
    mask: np.ndarray


@dataclass
class Found:
    """What :func:`find_digits` found in a picture.

    Attributes
    ----------
    digits : list of Digit
        Left to right; empty when there is no digit.
    no_digit : str or None
        Why there is none: ``"only lines at the edges"``, ``"a dot, not a digit"``...
    scale : float
        Picture pixels per analysed pixel (large pictures are analysed at
        ``ANALYSIS_SIDE``); digits' boxes are in analysed pixels, :meth:`box`
        gives them in the picture's.
    """

    digits: list[Digit]
    no_digit: str | None = None
    scale: float = 1.0

    def box(self, digit: Digit) -> list[int]:
        """``digit``'s box in the pixels of the picture given (it may have been analysed smaller)."""
        return [round(v * self.scale) for v in digit.box]


def ink_image(gray: np.ndarray) -> np.ndarray:
    """Ink 1, paper 0, whatever the paper's brightness, the ink's polarity and the shadows.

    Parameters
    ----------
    gray : ndarray, shape (H, W)
        Grey levels in [0, 1].

    Returns
    -------
    ndarray of float64, shape (H, W)
        In [0, 1].

    Raises
    ------
    ImageError
        The picture is blank: nothing differs from the paper by more than
        ``MIN_CONTRAST`` and the noise.
    """
    from scipy import ndimage

    h, w = gray.shape
    factor = max(1.0, max(h, w) / COARSE_SIDE)
    coarse_shape = (max(1, round(h / factor)), max(1, round(w / factor)))
    coarse = _resize(gray, coarse_shape)                 # block averages: noise shrinks too
    window = max(3, round(BACKGROUND_WINDOW * min(coarse_shape)))
    first = ndimage.median_filter(coarse, size=window, mode="mirror")   # not "nearest": edge lines
    # The ink is the heavy tail of the difference; the other side holds only noise. When ink
    # covers most of the picture (a bold digit cropped tight) the tails can mislead: then the
    # other side is tried before calling the picture blank.
    first_sign = -1.0 if _tail(first - coarse) >= _tail(coarse - first) else 1.0
    for sign in (first_sign, -first_sign):
        # The paper itself: a closing (for dark ink; an opening for light ink) with a window
        # wider than any stroke removes the strokes however much of the window they cover (a
        # median leans towards the ink under thick strokes) and keeps slow shadows and sharp
        # shadow edges. A light blur smooths its blocky steps.
        close = ndimage.grey_closing if sign < 0 else ndimage.grey_opening
        # Outside the picture the paper goes on as it was going (point reflection), so that a
        # shadow or vignette darkening towards an edge is no valley for the closing to fill.
        # (Clipped to the picture's own range: beside ink that reaches the edge the reflection
        # would invent paper brighter than any.)
        padded = np.clip(np.pad(coarse, window, mode="reflect", reflect_type="odd"),
                         coarse.min(), coarse.max())
        paper = ndimage.gaussian_filter(close(padded, size=window, mode="nearest"), 1.0,
                                        mode="nearest")[window:-window, window:-window]
        ink = sign * (gray - _resize(paper, (h, w)))     # > 0: ink
        sample = ink.ravel()[::7]                        # enough pixels for the noise level
        noise = 1.4826 * np.median(np.abs(sample - np.median(sample)))  # robust standard deviation
        # The level the strongest ink reaches, robust to a few hot pixels; a count of pixels
        # rather than a percentile, so that a small digit in a large photo still counts.
        k = 25
        peak = float(np.partition(ink.ravel(), -k)[-k]) if ink.size > k else float(ink.max())
        if peak > max(MIN_CONTRAST, NOISE_MULTIPLE * noise):
            return np.clip(ink / peak, 0.0, 1.0)
    raise ImageError("no digit found: the image is blank or has almost no contrast")


def _resize(image: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """``image`` at ``shape`` (rows, columns): box filter when shrinking, bilinear when enlarging."""
    from PIL import Image

    if image.shape == shape:
        return image
    smaller = shape[0] <= image.shape[0]
    filter_ = Image.Resampling.BOX if smaller else Image.Resampling.BILINEAR
    resized = Image.fromarray(image.astype(np.float32), mode="F").resize(shape[::-1], filter_)
    return np.asarray(resized, dtype=np.float64)


def _tail(values: np.ndarray, share: float = 0.01) -> float:
    """The mean of the largest ``share`` of ``values``: how far the strongest ink goes."""
    k = max(1, int(share * values.size))
    return float(np.partition(values.ravel(), -k)[-k:].mean())


def threshold(ink: np.ndarray) -> float:
    """Otsu's threshold of the ink image, never below 0.2 (faint smudges are not ink)."""
    from skimage.filters import threshold_otsu

    return float(max(threshold_otsu(ink, nbins=64), 0.2))


def clean_mask(mask: np.ndarray, ink: np.ndarray | None = None) -> tuple[np.ndarray, int]:
    """Label the ink's connected pieces, dropping edge lines and specks.

    Parameters
    ----------
    mask : ndarray of bool, shape (H, W)
        The thresholded ink.
    ink : ndarray, shape (H, W), optional
        The ink image: with it, pieces far fainter than a line that was
        removed are dropped too.

    Returns
    -------
    labels : ndarray of int32, shape (H, W)
        0 = background or dropped, 1..n = the pieces kept.
    dropped_edge_lines : int
        How many pieces were dropped as lines along the edges (and 1 more when
        lines crossing the picture were, see :func:`_crossing_lines`).
    """
    from scipy import ndimage

    h, w = mask.shape
    crossing = _crossing_lines(mask)
    mask = mask & ~crossing
    labels, n = ndimage.label(mask, structure=np.ones((3, 3)))     # 8-connected
    if n == 0:
        return labels, int(crossing.any())
    area = np.bincount(labels.ravel(), minlength=n + 1)[1:]
    rows, cols = np.ogrid[:h, :w]
    band = ((rows < EDGE_BAND * h) | (rows >= (1 - EDGE_BAND) * h)
            | (cols < EDGE_BAND * w) | (cols >= (1 - EDGE_BAND) * w))
    in_band = np.bincount(labels[band], minlength=n + 1)[1:] / area
    border = np.concatenate([labels[0], labels[-1], labels[:, 0], labels[:, -1]])
    touches = np.zeros(n + 1, bool)
    touches[border] = True
    # Slivers a pixel or two wide left by a line's removal count as lines too.
    sliver = np.array([min(sl[0].stop - sl[0].start, sl[1].stop - sl[1].start) <= 3
                       for sl in ndimage.find_objects(labels)])
    beside = np.zeros(n + 1, bool)
    if crossing.any():
        beside[np.unique(labels[ndimage.binary_dilation(crossing, iterations=4)])] = True
    lines = ((touches[1:] | sliver) & (in_band >= EDGE_SHARE)) | (sliver & beside[1:])
    keep = ~lines
    if crossing.any() and ink is not None:
        # With a line removed, the ink was scaled to the line's darkness: what is left so much
        # fainter (paper grain, JPEG noise near a shadow's edge) is no ink.
        strongest = ndimage.maximum(ink, labels, np.arange(1, n + 1))
        keep &= np.asarray(strongest) >= 0.6
    if keep.any():
        keep &= area >= SPECK_SHARE * area[keep].max()
    lookup = np.zeros(n + 1, np.int32)
    lookup[1:][keep] = np.arange(1, keep.sum() + 1)
    return lookup[labels], int(lines.sum()) + int(crossing.any())


def _crossing_lines(mask: np.ndarray) -> np.ndarray:
    """Pixels of thin straight lines: ruled, grid or cell lines and the borders of sharp shadows.

    Vertical or horizontal runs of ink in a band at most ``LINE_WIDTH`` of
    the other side wide that run ``LINE_SPAN`` of the picture (a line
    crossing it), or ``EDGE_LINE_SPAN`` of it inside the ``EDGE_BAND`` along
    an edge (a cell's line, even where the digit touches it). A digit's
    stroke runs so far only when the picture is cropped to the digit, and
    then it is as wide as the picture, not thin beside it.
    """
    from scipy import ndimage

    lines = np.zeros_like(mask)
    for axis in (0, 1):                                   # vertical runs, then horizontal ones
        length, across = mask.shape[axis], mask.shape[1 - axis]
        # JPEG noise breaks a faint line here and there: bridge gaps of a few pixels first.
        bridge = np.ones((7, 1) if axis == 0 else (1, 7), bool)
        runs = _long_runs(ndimage.binary_closing(mask, structure=bridge) | mask,
                          round(EDGE_LINE_SPAN * length), axis)
        if not runs.any():
            continue
        pieces, n = ndimage.label(runs)
        for k, piece in enumerate(ndimage.find_objects(pieces), start=1):
            along, side = piece[axis], piece[1 - axis]
            thin = side.stop - side.start <= max(2, LINE_WIDTH * across)
            crossing = along.stop - along.start >= LINE_SPAN * length
            at_edge = side.stop <= EDGE_BAND * across or side.start >= (1 - EDGE_BAND) * across
            if thin and (crossing or at_edge):
                lines[piece] |= pieces[piece] == k
    return ndimage.binary_dilation(lines, iterations=2) & mask     # with its anti-aliased edge


def _long_runs(mask: np.ndarray, length: int, axis: int) -> np.ndarray:
    """The pixels of ``mask`` in unbroken runs of at least ``length`` along ``axis``."""
    m = mask if axis == 0 else mask.T
    padded = np.zeros((m.shape[0] + 2, m.shape[1]), np.int8)
    padded[1:-1] = m
    edges = np.diff(padded, axis=0)                       # +1 where a run starts, -1 after it ends
    out = np.zeros_like(m)
    for col in np.flatnonzero(m.sum(axis=0) >= length):
        starts, stops = np.flatnonzero(edges[:, col] == 1), np.flatnonzero(edges[:, col] == -1)
        for a, b in zip(starts, stops):
            if b - a >= length:
                out[a:b, col] = True
    return out if axis == 0 else out.T


def find_digits(gray: np.ndarray) -> Found:
    """Find the digits in a grey picture, left to right.

    Parameters
    ----------
    gray : ndarray, shape (H, W)
        Grey levels in [0, 1], dark-on-light or light-on-dark.

    Returns
    -------
    Found
        The digits (boxes, ink, masks) and, when there is none, why.

    Raises
    ------
    ImageError
        A blank picture (see :func:`ink_image`).
    """
    if min(gray.shape) < MIN_SIDE:
        raise ImageError(f"no digit found: the image is {gray.shape[1]}x{gray.shape[0]} pixels, "
                         f"too small to hold one (at least {MIN_SIDE}x{MIN_SIDE})")
    scale = max(gray.shape) / ANALYSIS_SIDE
    if scale > 1 and min(gray.shape) / scale >= MIN_SIDE:   # a 20-pixel digit needs no more than this
        small = (max(1, round(gray.shape[0] / scale)), max(1, round(gray.shape[1] / scale)))
        found = find_digits(_resize(gray, small))
        found.scale *= scale
        return found
    ink = ink_image(gray)
    mask = ink > threshold(ink)
    labels, edge_lines = clean_mask(mask, ink)
    if labels.max() == 0:
        return Found([], "only lines (a grid's or a page's, or a shadow's edge)" if edge_lines else "no ink")
    digits, reasons = [], []
    for group in _group(labels):
        whole = _cut(ink, labels, group, (0, labels.shape[1]))
        reason = _not_a_digit(whole, gray.shape)          # a dash is not cut into many digits
        if reason is not None:
            reasons.append(reason)
            continue
        for columns in _split_wide(labels, group):
            digit = _cut(ink, labels, group, columns)
            if digit.mask.any():
                digits.append(digit)
    if not digits:
        return Found([], reasons[0] if reasons else "no ink")
    return Found(digits)


def join(digits: list[Digit]) -> Digit:
    """All ``digits`` as one piece of ink (for reading a picture as a single digit)."""
    if len(digits) == 1:
        return digits[0]
    left, top = min(d.box[0] for d in digits), min(d.box[1] for d in digits)
    right, bottom = max(d.box[2] for d in digits), max(d.box[3] for d in digits)
    ink = np.zeros((bottom - top, right - left))
    mask = np.zeros(ink.shape, bool)
    for d in digits:
        place = (slice(d.box[1] - top, d.box[3] - top), slice(d.box[0] - left, d.box[2] - left))
        ink[place] = np.maximum(ink[place], d.ink)
        mask[place] |= d.mask
    return Digit((left, top, right, bottom), ink, mask)


def _boxes(labels: np.ndarray) -> list[tuple[int, int, int, int]]:
    """``(left, top, right, bottom)`` of each labelled piece 1..n."""
    from scipy import ndimage

    return [(s[1].start, s[0].start, s[1].stop, s[0].stop) for s in ndimage.find_objects(labels)]


def _group(labels: np.ndarray) -> list[list[int]]:
    """Pieces of one digit together: overlapping columns, or too small to stand alone.

    Returns lists of labels, left to right.
    """
    boxes = _boxes(labels)
    area = np.bincount(labels.ravel(), minlength=len(boxes) + 1)[1:]
    order = sorted(range(len(boxes)), key=lambda i: boxes[i][0])
    groups: list[list[int]] = []
    spans: list[list[int]] = []                           # [left, top, right, bottom] of each group
    for i in order:
        left, top, right, bottom = boxes[i]
        if groups:
            g_left, g_top, g_right, g_bottom = spans[-1]
            overlap = min(right, g_right) - max(left, g_left)
            narrower = min(right - left, g_right - g_left)
            # Side by side digits share their rows; the pieces of one digit broken by a lifted
            # pen (a slanted 1 in two strokes) lie above each other, so any shared column counts.
            rows_shared = min(bottom, g_bottom) - max(top, g_top)
            stacked = rows_shared < 0.5 * min(bottom - top, g_bottom - g_top)
            if overlap >= 0.3 * narrower or (stacked and overlap > 0):
                groups[-1].append(i + 1)
                spans[-1] = [min(left, g_left), min(top, g_top), max(right, g_right), max(bottom, g_bottom)]
                continue
        groups.append([i + 1])
        spans.append([left, top, right, bottom])
    # A group much smaller and shorter than the largest (a stroke piece the pen left apart)
    # joins its nearest neighbour, when that one is near.
    sizes = [sum(area[label - 1] for label in g) for g in groups]
    heights = [s[3] - s[1] for s in spans]
    while len(groups) > 1:
        small = [k for k in range(len(groups))
                 if sizes[k] < 0.5 * max(sizes) and heights[k] < 0.6 * max(heights)]
        gaps = {k: min((spans[j][0] - spans[k][2] if j > k else spans[k][0] - spans[j][2], j)
                       for j in (k - 1, k + 1) if 0 <= j < len(groups)) for k in small}
        # Only a piece almost touching: a short digit in a number stands a gap apart.
        near = [k for k in small if gaps[k][0] <= 0.15 * max(heights)]
        if not near:
            break
        k = near[0]
        j = gaps[k][1]
        groups[j] = sorted(groups[j] + groups[k])
        sizes[j] += sizes[k]
        spans[j] = [min(spans[j][0], spans[k][0]), min(spans[j][1], spans[k][1]),
                    max(spans[j][2], spans[k][2]), max(spans[j][3], spans[k][3])]
        heights[j] = spans[j][3] - spans[j][1]
        for column in (groups, sizes, spans, heights):
            del column[k]
    return groups


def _split_wide(labels: np.ndarray, group: list[int]) -> list[tuple[int, int]]:
    """Column ranges of the digits in one group: one, or several touching digits cut apart.

    A group much wider than tall (``WIDE``) is cut into as many digits as its
    width holds, each cut at the thinnest column near where it is expected. A
    group a little wider than tall is cut in two only where a deep valley in
    the ink per column shows two digits joined by a thin touch (a wide 0 has
    two strokes in every middle column, touching 1 and 0 have one thin join).
    """
    mine = np.isin(labels, group)
    cols = np.flatnonzero(mine.any(axis=0))
    rows = np.flatnonzero(mine.any(axis=1))
    left, right = int(cols[0]), int(cols[-1]) + 1
    height = int(rows[-1]) + 1 - int(rows[0])
    width = right - left
    profile = mine[:, left:right].sum(axis=0)                  # ink per column
    if width > WIDE * height:
        count = max(2, round(width / (DIGIT_ASPECT * height)))
    elif width > TOUCHING * height:
        middle = profile[width // 4: width - width // 4]
        valley = width // 4 + int(np.argmin(middle))
        if profile[valley] > VALLEY * np.median(profile[profile > 0]):
            return [(left, right)]
        parts = [(left, left + valley), (left + valley, right)]
        if any(_ink_height(mine[:, a:b]) < 0.6 * height for a, b in parts):
            return [(left, right)]
        return parts
    else:
        return [(left, right)]
    cuts = []
    for k in range(1, count):
        guess = round(k * width / count)
        lo, hi = max(1, guess - width // (2 * count)), min(width - 1, guess + width // (2 * count))
        cuts.append(lo + int(np.argmin(profile[lo:hi])) if hi > lo else guess)
    edges = [0, *cuts, width]
    parts = [(left + a, left + b) for a, b in zip(edges[:-1], edges[1:]) if b > a]
    # Each part must stand as tall as a digit: a wide 5 with a long flag is one digit.
    if any(_ink_height(mine[:, a:b]) < 0.6 * height for a, b in parts):
        return [(left, right)]
    return parts


def _ink_height(mask: np.ndarray) -> int:
    rows = np.flatnonzero(mask.any(axis=1))
    return int(rows[-1] - rows[0] + 1) if len(rows) else 0


def _cut(ink: np.ndarray, labels: np.ndarray, group: list[int], columns: tuple[int, int]) -> Digit:
    """The ink of one digit: its pieces only, within ``columns``, cropped to its pixels."""
    from scipy import ndimage

    left, right = columns
    mine = np.isin(labels[:, left:right], group)
    rows = np.flatnonzero(mine.any(axis=1))
    cols = np.flatnonzero(mine.any(axis=0))
    if len(rows) == 0:
        return Digit((left, 0, left, 0), np.zeros((0, 0)), np.zeros((0, 0), bool))
    top, bottom = int(rows[0]), int(rows[-1]) + 1
    c0, c1 = left + int(cols[0]), left + int(cols[-1]) + 1
    crop = (slice(top, bottom), slice(c0, c1))
    window = labels[crop]
    mine = np.isin(window, group)
    others = (window > 0) & ~mine
    # Keep the anti-aliased grey around the thresholded strokes, but not other digits' ink.
    near = ndimage.binary_dilation(mine, iterations=2) & ~others
    return Digit((c0, top, c1, bottom), np.where(near, ink[crop], 0.0), mine)


def _not_a_digit(digit: Digit, shape: tuple[int, ...]) -> str | None:
    """Why a piece of ink is no digit (a dot, a dash, a speck), or None."""
    from skimage.measure import regionprops

    h, w = digit.mask.shape
    if max(h, w) < 0.03 * min(shape):
        return "a speck, too small to be a digit"
    small = max(h, w) < 0.3 * min(shape)
    props = regionprops(digit.mask.astype(np.uint8))[0]
    # A tap or a full stop: small beside the picture, round and filled, no hole. (A very bold
    # digit is also nearly filled, but large.)
    round_blob = props.solidity >= 0.9 and props.euler_number == 1 and props.eccentricity < 0.85
    if round_blob and small:
        return "a dot, not a digit"
    # A dash: a solid bar three times as long as thick, nearer horizontal than vertical (a 1 is
    # the same bar standing up). Orientation is the major axis' angle from the rows' axis.
    elongated = props.axis_major_length >= 3 * max(props.axis_minor_length, 1)
    lying = abs(props.orientation) > np.pi / 4
    if elongated and lying and props.solidity >= 0.8:
        return "a dash, not a digit"
    return None
