"""Finding digits, rule by rule: small synthetic pictures at the edge of each threshold.

test_pictures.py measures the whole path on MNIST digits dressed as photos; here each step of
digitnet.segment is given a picture built with NumPy just inside and just outside one rule
(a piece one pixel too long to be a line, a blob one pixel too large to be a speck, ...).
"""

import numpy as np
import pytest

from digitnet.errors import ImageError
from digitnet.segment import (
    Digit,
    Found,
    _crossing_lines,
    _cut,
    _group,
    _ink_height,
    _long_runs,
    _not_a_digit,
    _resize,
    _split_wide,
    _tail,
    clean_mask,
    find_digits,
    ink_image,
    join,
    threshold,
)


def blank(h=100, w=100, level=0.9):
    return np.full((h, w), level)


def disk(side, diameter):
    """A filled disk of ``diameter`` pixels in the middle of a (side, side) mask."""
    yy, xx = np.mgrid[:side, :side]
    c = (side - 1) / 2
    return (yy - c) ** 2 + (xx - c) ** 2 <= (diameter / 2) ** 2


# --- Found, join, _ink_height --------------------------------------------------------------------

def test_boxes_come_back_in_the_pictures_pixels():
    digit = Digit((1, 2, 3, 4), np.zeros((2, 2)), np.zeros((2, 2), bool))
    assert Found([digit], scale=2.5).box(digit) == [2, 5, 8, 10]
    assert Found([digit]).box(digit) == [1, 2, 3, 4]


def test_join_puts_digits_back_together_in_one_box():
    a = Digit((2, 5, 4, 7), np.array([[0.5, 1.0], [0.0, 0.2]]), np.array([[True, True], [False, True]]))
    b = Digit((3, 6, 6, 8), np.array([[0.7, 0.1, 0.3], [0.4, 0.0, 0.9]]),
              np.array([[False, False, False], [False, False, True]]))
    assert join([a]) is a
    joined = join([a, b])
    assert joined.box == (2, 5, 6, 8)
    np.testing.assert_array_equal(joined.ink, [[0.5, 1.0, 0.0, 0.0],
                                               [0.0, 0.7, 0.1, 0.3],
                                               [0.0, 0.4, 0.0, 0.9]])
    np.testing.assert_array_equal(joined.mask, [[True, True, False, False],
                                                [False, True, False, False],
                                                [False, False, False, True]])


def test_ink_height_counts_from_the_first_to_the_last_inked_row():
    mask = np.zeros((10, 4), bool)
    assert _ink_height(mask) == 0
    mask[3, 1] = mask[7, 2] = True
    assert _ink_height(mask) == 5


# --- _resize, _tail, threshold -------------------------------------------------------------------

def test_shrinking_averages_blocks_and_enlarging_interpolates():
    image = np.arange(24, dtype=np.float64).reshape(4, 6)
    small = _resize(image, (2, 3))
    assert small.dtype == np.float64
    np.testing.assert_allclose(small, image.reshape(2, 2, 3, 2).mean(axis=(1, 3)), atol=1e-5)
    big = _resize(np.array([[0.0, 1.0], [2.0, 3.0]]), (4, 4))
    assert big.shape == (4, 4) and big.dtype == np.float64
    # Bilinear: a ramp between the corners, not 2x2 blocks.
    np.testing.assert_allclose(big[0], [0.0, 0.25, 0.75, 1.0], atol=1e-6)
    np.testing.assert_allclose(big[:, 0], [0.0, 0.5, 1.5, 2.0], atol=1e-6)
    assert _resize(image, (4, 6)) is image


def test_shrinking_in_rows_or_columns_alone_averages_blocks():
    wide = np.arange(16.0).reshape(2, 8)
    np.testing.assert_allclose(_resize(wide, (1, 4)), [[4.5, 6.5, 8.5, 10.5]], atol=1e-5)
    image = np.arange(24.0).reshape(4, 6)
    np.testing.assert_allclose(_resize(image, (4, 3)), image.reshape(4, 3, 2).mean(axis=2), atol=1e-5)
    # Enlarging a picture wider than the new height: still interpolated, no steps.
    steps = _resize(np.array([[0.0, 1.0], [2.0, 3.0]]).repeat(4, axis=1), (4, 16))
    np.testing.assert_allclose(steps[0, 6:10], [0.0, 0.25, 0.75, 1.0], atol=1e-6)


@pytest.mark.parametrize("values, share, tail", [
    (np.arange(1000.0), 0.01, 994.5),           # the largest 10
    (np.arange(50.0), 0.01, 49.0),              # at least one
    (np.arange(100.0), 0.1, 94.5),
    (np.arange(200.0).reshape(10, 20), 0.01, 198.5),
])
def test_tail_is_the_mean_of_the_largest_share(values, share, tail):
    assert _tail(values, share) == tail


def test_otsu_threshold_splits_in_the_middle_but_never_below_a_fifth():
    ramp = np.linspace(0, 1, 400).reshape(20, 20)
    assert abs(threshold(ramp) - 0.5) <= 1 / 64
    faint = np.zeros((20, 20))
    faint[5:15, 5:15] = 0.3
    assert threshold(faint) == 0.2
    assert isinstance(threshold(faint), float)


# --- ink_image -----------------------------------------------------------------------------------

@pytest.mark.parametrize("paper, ink", [(0.9, 0.2), (0.1, 0.8), (0.5, 0.3), (0.5, 0.7)])
def test_ink_is_one_and_paper_zero_either_polarity(paper, ink):
    gray = blank(60, 80, paper)
    gray[20:40, 30:34] = ink
    out = ink_image(gray)
    assert out.shape == (60, 80) and out.dtype == np.float64
    assert out.max() == 1.0 and out.min() == 0.0
    np.testing.assert_allclose(out[20:40, 30:34], 1.0)
    mask = np.ones_like(out, bool)
    mask[18:42, 28:36] = False
    assert np.abs(out[mask]).max() < 0.02


@pytest.mark.parametrize("contrast, is_blank", [(0.055, True), (0.065, False),
                                                (-0.055, True), (-0.065, False)])
def test_ink_must_differ_from_the_paper_by_six_percent(contrast, is_blank):
    gray = blank(60, 60, 0.5)
    gray[20:40, 28:32] = 0.5 - contrast              # darker or lighter
    if is_blank:
        with pytest.raises(ImageError) as refused:
            ink_image(gray)
        assert str(refused.value) == "no digit found: the image is blank or has almost no contrast"
    else:
        assert ink_image(gray)[30, 30] == 1.0


@pytest.mark.parametrize("contrast, is_blank", [(0.08, True), (0.3, False)])
def test_ink_must_stand_six_times_above_the_noise(contrast, is_blank):
    rng = np.random.default_rng(0)
    gray = blank(120, 120, 0.6) + rng.normal(0, 0.03, (120, 120))     # 6 x noise: 0.18
    gray[40:80, 55:60] -= contrast
    if is_blank:
        with pytest.raises(ImageError, match="blank"):
            ink_image(gray)
    else:
        assert ink_image(gray)[60, 57] > 0.5


@pytest.mark.parametrize("pixels, is_blank", [(24, True), (25, False)])
def test_the_strongest_ink_must_cover_25_pixels(pixels, is_blank):
    gray = blank(60, 60)
    gray.ravel()[[r * 60 + c for r in range(20, 40) for c in range(28, 32)][:pixels]] = 0.1
    if is_blank:
        with pytest.raises(ImageError, match="blank"):
            ink_image(gray)
    else:
        assert ink_image(gray)[20, 28] == 1.0


def test_a_bold_stroke_is_ink_throughout_in_a_wide_picture():
    gray = blank(150, 200)
    gray[40:110, 90:115] = 0.2                       # 25 pixels wide
    out = ink_image(gray)
    assert out[40:110, 90:115].min() > 0.9 and out[:, :80].max() < 0.05


def test_a_tiny_picture_counts_its_single_darkest_pixel():
    gray = blank(5, 5)
    gray[2, 2] = 0.1
    expected = np.zeros((5, 5))
    expected[2, 2] = 1.0
    np.testing.assert_allclose(ink_image(gray), expected, atol=1e-9)


@pytest.mark.parametrize("shadow", ["ramp", "vignette", "dark corner"])
def test_shadows_are_paper_not_ink(shadow):
    h, w = 150, 200
    rows, cols = np.mgrid[:h, :w] / np.array([h, w])[:, None, None]
    light = {"ramp": 1.0 - 0.6 * cols,
             "vignette": 1.0 - 1.2 * ((cols - 0.5) ** 2 + (rows - 0.5) ** 2),
             "dark corner": 1.0 - 0.5 * np.clip(1 - 3 * np.hypot(cols, rows), 0, 1)}[shadow]
    gray = blank(h, w) * light
    gray[50:100, 60:66] *= 0.2                                     # a stroke
    out = ink_image(gray)
    assert out[50:100, 60:66].min() > 0.8
    paper = np.ones((h, w), bool)
    paper[46:104, 56:70] = False
    assert out[paper].max() < 0.15


# --- _long_runs and _crossing_lines --------------------------------------------------------------

def test_long_runs_keep_only_unbroken_runs_of_the_length():
    mask = np.zeros((20, 6), bool)
    mask[2:12, 1] = True                  # 10 long
    mask[0:9, 3] = mask[11:20, 3] = True  # two runs of 9, 18 pixels in the column
    mask[5:15, 5] = True
    mask[5, 5] = mask[6, 5] = True
    runs = _long_runs(mask, 10, axis=0)
    expected = np.zeros_like(mask)
    expected[2:12, 1] = expected[5:15, 5] = True
    np.testing.assert_array_equal(runs, expected)
    np.testing.assert_array_equal(_long_runs(mask.T, 10, axis=1), expected.T)
    np.testing.assert_array_equal(_long_runs(mask, 11, axis=0), np.zeros_like(mask))


def _line_mask(h=100, w=100):
    mask = np.zeros((h, w), bool)
    mask[40:60, 40:55] = True                        # some ink that is not a line
    return mask


@pytest.mark.parametrize("length, removed", [(85, True), (84, False)])
@pytest.mark.parametrize("axis", [0, 1])
def test_a_line_crossing_85_percent_of_the_picture_is_removed(length, removed, axis):
    mask = _line_mask()
    mask[5:5 + length, 25:27] = True                 # a thin line away from the edges
    mask = mask if axis == 0 else mask.T
    lines = _crossing_lines(mask)
    line = (slice(5, 5 + length), slice(25, 27))
    line = line if axis == 0 else line[::-1]
    assert lines[line].all() == removed and lines.sum() == (2 * length if removed else 0)


@pytest.mark.parametrize("width, removed", [(6, True), (7, False)])
def test_a_line_is_at_most_six_percent_of_the_picture_wide(width, removed):
    mask = _line_mask()
    mask[:, 20:20 + width] = True
    assert _crossing_lines(mask)[:, 20:20 + width].all() == removed


def test_a_line_two_pixels_wide_counts_in_a_small_picture():
    mask = np.zeros((30, 30), bool)                  # 6% of 30 is under 2 pixels
    mask[:, 14:16] = True
    assert _crossing_lines(mask).sum() == 60
    mask[:, 16] = True
    assert not _crossing_lines(mask).any()


@pytest.mark.parametrize("where, removed", [
    ((slice(30, 75), slice(9, 12)), True),           # inside the left band (12% of 100)
    ((slice(30, 75), slice(10, 13)), False),         # one column out of it
    ((slice(30, 75), slice(88, 91)), True),          # inside the right band
    ((slice(30, 75), slice(87, 90)), False),
    ((slice(9, 12), slice(30, 75)), True),           # top
    ((slice(10, 13), slice(30, 75)), False),
    ((slice(88, 91), slice(30, 75)), True),          # bottom
    ((slice(87, 90), slice(30, 75)), False),
    ((slice(30, 70), slice(0, 3)), True),            # 40% of the side: a cell's line
    ((slice(30, 69), slice(0, 3)), False),
])
def test_a_shorter_line_counts_inside_the_edge_band(where, removed):
    mask = np.zeros((100, 100), bool)
    mask[where] = True
    assert _crossing_lines(mask)[where].all() == removed
    assert _crossing_lines(mask).any() == removed


@pytest.mark.parametrize("gap, bridged", [(6, True), (7, False)])
@pytest.mark.parametrize("axis", [0, 1])
def test_a_line_broken_by_up_to_six_pixels_is_bridged(gap, bridged, axis):
    mask = np.zeros((100, 100), bool)
    mask[:, 50:52] = True
    mask[40:40 + gap, 50:52] = False
    mask = mask if axis == 0 else mask.T
    assert _crossing_lines(mask).sum() == (mask.sum() if bridged else 0)


def test_only_lines_along_the_edges_leave_no_piece():
    mask = np.zeros((100, 100), bool)
    mask[0:10, 30:60] = True
    labels, lines = clean_mask(mask)
    assert labels.max() == 0 and lines == 1


def test_a_broken_line_is_bridged_and_ink_touching_it_goes_with_it():
    mask = np.zeros((100, 100), bool)
    mask[:, 50:52] = True
    mask[40:45, 50:52] = False                       # a gap of 5 pixels (JPEG noise)
    mask[70, 40:62] = True                           # a stroke crossing it
    lines = _crossing_lines(mask)
    assert lines[:40, 50:52].all() and lines[45:, 50:52].all() and not lines[40:45].any()
    assert lines[70].nonzero()[0].tolist() == [48, 49, 50, 51, 52, 53]   # two pixels either side
    wide_gap = np.zeros((100, 100), bool)
    wide_gap[:, 50:52] = True
    wide_gap[40:50, 50:52] = False                   # two halves of 40 and 50: neither crosses
    assert not _crossing_lines(wide_gap).any()


# --- clean_mask ----------------------------------------------------------------------------------

def test_an_empty_mask_has_no_pieces_and_only_lines_count_one():
    labels, dropped = clean_mask(np.zeros((100, 100), bool))
    assert labels.max() == 0 and dropped == 0 and labels.shape == (100, 100)
    mask = np.zeros((100, 100), bool)
    mask[:, 50:52] = True
    labels, dropped = clean_mask(mask)
    assert labels.max() == 0 and dropped == 1


def test_pieces_are_numbered_in_order_and_8_connected():
    mask = np.zeros((100, 100), bool)
    mask[20:40, 20:40] = True
    mask[40:60, 40:60] = True                        # touching the first at a corner only
    mask[60:80, 70:80] = True
    labels, dropped = clean_mask(mask)
    assert dropped == 0 and labels.dtype == np.int32
    assert labels[30, 30] == labels[50, 50] == 1 and labels[70, 75] == 2 and labels.max() == 2


@pytest.mark.parametrize("piece, dropped", [
    ((slice(0, 14), slice(30, 60)), True),           # touching the top, 12/14 in the band
    ((slice(0, 15), slice(30, 60)), False),          # 12/15: it reaches well inside
    ((slice(86, 100), slice(30, 60)), True),         # bottom
    ((slice(85, 100), slice(30, 60)), False),
    ((slice(30, 60), slice(0, 14)), True),           # left
    ((slice(30, 60), slice(0, 15)), False),
    ((slice(30, 60), slice(86, 100)), True),         # right
    ((slice(30, 60), slice(85, 100)), False),
    ((slice(1, 13), slice(30, 60)), False),          # in the band but not touching the edge
    ((slice(87, 99), slice(30, 60)), False),
    ((slice(30, 60), slice(1, 13)), False),
    ((slice(30, 60), slice(87, 99)), False),
    ((slice(3, 6), slice(30, 60)), True),            # a sliver in the band: a line's remains
    ((slice(3, 7), slice(30, 60)), False),           # four pixels: not a sliver
    ((slice(30, 60), slice(3, 6)), True),
])
def test_pieces_lying_along_an_edge_are_lines(piece, dropped):
    mask = np.zeros((100, 100), bool)
    mask[40:70, 40:60] = True                        # a digit in the middle
    mask[piece] = True
    labels, lines = clean_mask(mask)
    assert labels[piece].all() != dropped and lines == int(dropped)
    assert labels[50, 50] > 0 and labels.max() == 2 - dropped


@pytest.mark.parametrize("left, dropped", [(55, True), (56, False)])
def test_a_sliver_beside_a_crossing_line_is_part_of_it(left, dropped):
    mask = np.zeros((100, 100), bool)
    mask[:, 50:52] = True                            # a crossing line, two pixels wide
    mask[30:60, left:left + 3] = True                # a sliver three pixels wide, parallel
    mask[30:60, 70:85] = True                        # a digit
    labels, lines = clean_mask(mask)
    assert labels[30:60, left:left + 3].all() != dropped
    assert lines == 1 + dropped and labels[40, 75] > 0


@pytest.mark.parametrize("strongest, kept", [(0.59, False), (0.6, True)])
def test_with_a_line_removed_faint_pieces_are_no_ink(strongest, kept):
    mask = np.zeros((100, 100), bool)
    mask[:, 20:22] = True
    mask[30:60, 40:50] = mask[30:60, 70:80] = True
    ink = mask * 1.0
    ink[30:60, 70:80] = np.linspace(0.3, strongest, 10)
    labels, lines = clean_mask(mask, ink)
    assert labels[40, 45] == 1 and (labels[40, 75] == 2) == kept and lines == 1
    labels, _ = clean_mask(mask)                     # without the ink image, kept
    assert labels[40, 75] == 2
    no_line = mask.copy()
    no_line[:, 20:22] = False
    labels, lines = clean_mask(no_line, ink)         # without a line, kept
    assert labels[40, 75] == 2 and lines == 0


@pytest.mark.parametrize("side, kept", [((7, 7), False), ((5, 10), True)])
def test_specks_are_pieces_under_two_percent_of_the_largest(side, kept):
    mask = np.zeros((100, 100), bool)
    mask[20:70, 20:70] = True                        # 2,500 pixels: specks are under 50
    mask[80:80 + side[0], 80:80 + side[1]] = True
    labels, lines = clean_mask(mask)
    assert (labels[82, 82] == 2) == kept and lines == 0
    assert labels.max() == 1 + kept


def test_a_speck_is_measured_against_the_largest_piece_kept():
    mask = np.zeros((100, 100), bool)
    mask[0:10, 0:100] = True                         # an edge line of 1,000 pixels
    mask[40:45, 40:45] = True                        # 25 pixels: over 2% of what is left
    labels, lines = clean_mask(mask)
    assert lines == 1 and labels[42, 42] == 1 and labels.max() == 1


# --- _group --------------------------------------------------------------------------------------

def _labels(*boxes, shape=(100, 200)):
    """Label k+1 on box k, given as (top, bottom, left, right)."""
    labels = np.zeros(shape, np.int32)
    for k, (top, bottom, left, right) in enumerate(boxes):
        labels[top:bottom, left:right] = k + 1
    return labels


@pytest.mark.parametrize("second_left, together", [(24, True), (25, False)])
def test_pieces_overlapping_by_30_percent_of_the_narrower_are_one_digit(second_left, together):
    # The second piece starts inside the first's columns; both share their rows.
    labels = _labels((10, 50, 10, 30), (12, 52, second_left, second_left + 25))
    assert _group(labels) == ([[1, 2]] if together else [[1], [2]])


@pytest.mark.parametrize("top, left, together", [(31, 29, True), (30, 29, False), (31, 30, False)])
def test_pieces_above_each_other_sharing_a_column_are_one_digit(top, left, together):
    # Both 40 rows tall; sharing fewer than 20 rows, one column in common is enough (none is not).
    labels = _labels((10, 50, 10, 30), (top, top + 40, left, 60))
    assert _group(labels) == ([[1, 2]] if together else [[1], [2]])


@pytest.mark.parametrize("gap, joined", [(6, True), (7, False)])
def test_a_short_small_piece_almost_touching_joins_its_neighbour(gap, joined):
    # Digits 40 tall; a piece 20 tall and small joins when at most 15% of 40 away.
    labels = _labels((10, 50, 10, 30), (10, 30, 30 + gap, 40 + gap), (10, 50, 120, 140))
    assert _group(labels) == ([[1, 2], [3]] if joined else [[1], [2], [3]])


def test_a_short_small_piece_joins_the_nearer_neighbour():
    # Left to right: piece 1, the small piece (label 3), piece 2; 6 from piece 1, 5 from piece 2.
    labels = _labels((10, 50, 10, 30), (10, 50, 60, 80), (10, 30, 36, 55))
    assert _group(labels) == [[1], [2, 3]]
    labels = _labels((10, 50, 10, 30), (10, 50, 60, 80), (10, 30, 35, 54))
    assert _group(labels) == [[1, 3], [2]]


@pytest.mark.parametrize("small, joined", [
    ((10, 33, 33, 43), True),           # 23 rows: under 60% of 40
    ((10, 34, 33, 43), False),          # 24 rows: a short digit of its own
    ((10, 30, 33, 43), True),
])
def test_only_a_piece_under_60_percent_of_the_tallest_joins(small, joined):
    labels = _labels((10, 50, 10, 30), small, (10, 50, 120, 140))
    assert _group(labels) == ([[1, 2], [3]] if joined else [[1], [2], [3]])


@pytest.mark.parametrize("width, joined", [(9, True), (10, False)])
def test_only_a_piece_under_half_the_largest_joins(width, joined):
    # The largest has 800 pixels; a 20-row piece 18 columns wide (360) joins, one of 400 does not.
    labels = _labels((10, 50, 10, 30), (10, 30, 33, 33 + 2 * width), (10, 50, 150, 170))
    assert _group(labels) == ([[1, 2], [3]] if joined else [[1], [2], [3]])


# --- _split_wide ---------------------------------------------------------------------------------

def _bars(widths, gaps, height=40, bridge=2, left=10, shape=(60, 200)):
    """Upright bars ``widths`` wide joined by ``bridge``-row-high bars ``gaps`` wide: label 1."""
    labels = np.zeros(shape, np.int32)
    x = left
    for k, w in enumerate(widths):
        labels[10:10 + height, x:x + w] = 1
        x += w
        if k < len(gaps):
            labels[30:30 + bridge, x:x + gaps[k]] = 1
            x += gaps[k]
    return labels


def test_a_much_wider_than_tall_group_is_cut_where_the_ink_is_thinnest():
    labels = _bars([24, 24, 24], [6, 6])             # 84 wide, 40 tall: three digits
    assert _split_wide(labels, [1]) == [(10, 34), (34, 64), (64, 94)]


@pytest.mark.parametrize("thin, cuts", [(14, (14, 54)), (41, (41, 54)), (42, (24, 42))])
def test_each_cut_is_looked_for_within_half_a_digit_of_where_it_is_expected(thin, cuts):
    # 84 wide, three digits: cuts expected at 28 and 56, each looked for 14 columns either side
    # (from 14 up to 41, from 42 up to 69); the bridges (2 rows) are at 24 and 54.
    labels = _bars([24, 24, 24], [6, 6])
    labels[10:50, 10 + thin] = 0
    labels[10, 10 + thin] = 1                        # a column of one pixel: thinner still
    a, b = cuts
    assert _split_wide(labels, [1]) == [(10, 10 + a), (10 + a, 10 + b), (10 + b, 94)]


def test_a_wide_pair_is_cut_in_two():
    labels = _bars([20, 21], [12])                   # 53 wide: just over 1.3 x 40
    assert _split_wide(labels, [1]) == [(10, 30), (30, 63)]


@pytest.mark.parametrize("flag, whole", [(24, False), (23, True)])
def test_each_cut_part_must_stand_60_percent_of_the_height(flag, whole):
    labels = np.zeros((60, 200), np.int32)
    labels[10:50, 10:40] = 1                         # a 5's body
    labels[10:10 + flag, 40:90] = 1                  # its long flag
    labels[10:12, 40:90] = 1
    labels[10 + flag - 1:50, 60:62] = 0
    parts = _split_wide(labels, [1])
    assert (parts == [(10, 90)]) == whole


def test_a_group_about_as_wide_as_tall_is_one_digit():
    labels = np.zeros((60, 200), np.int32)
    labels[10:50, 10:50] = 1                         # 40 x 40, hollow: a 0
    labels[14:46, 14:46] = 0
    assert _split_wide(labels, [1]) == [(10, 50)]
    labels[14:46, 14:46] = 0
    labels[10:50, 50:52] = 1                         # 42 wide, but no valley: one wide 0
    assert _split_wide(labels, [1]) == [(10, 52)]


@pytest.mark.parametrize("bridge, split", [(12, True), (13, False)])
def test_touching_digits_are_cut_at_a_valley_under_30_percent_of_a_column(bridge, split):
    labels = _bars([20, 24], [4], bridge=bridge)     # 48 wide, 40 tall; columns of 40 ink
    parts = _split_wide(labels, [1])
    assert parts == ([(10, 30), (30, 58)] if split else [(10, 58)])


@pytest.mark.parametrize("height, split", [(24, True), (23, False)])
def test_touching_digits_are_cut_only_when_both_stand_tall(height, split):
    labels = _bars([20, 24], [4])
    labels[10:50, 34:58] = 0
    labels[50 - height:50, 34:58] = 1
    labels[30:32, 30:34] = 1
    parts = _split_wide(labels, [1])
    assert parts == ([(10, 30), (30, 58)] if split else [(10, 58)])


def test_a_hollow_box_exactly_1_3_times_as_wide_as_tall_is_one_wide_digit():
    labels = np.zeros((60, 200), np.int32)
    labels[10:50, 10:62] = 1                         # 52 x 40: a wide 0, no valley
    labels[14:46, 14:58] = 0
    assert _split_wide(labels, [1]) == [(10, 62)]


def test_the_valley_between_touching_digits_is_looked_for_in_the_middle_half():
    labels = _bars([20, 24], [4])                    # 48 wide: the middle half is columns 12..35
    labels[10:50, 10 + 37] = 0
    labels[10, 10 + 37] = 1                          # a thinner column at 37, outside it
    assert _split_wide(labels, [1]) == [(10, 30), (30, 58)]


def test_a_group_exactly_as_wide_as_tall_is_not_cut():
    labels = _bars([18, 18], [4])                    # 40 wide, 40 tall, a deep valley
    assert _split_wide(labels, [1]) == [(10, 50)]
    labels = _bars([18, 19], [4])                    # 41 wide
    assert _split_wide(labels, [1]) == [(10, 28), (28, 51)]


def test_only_the_groups_labels_count():
    labels = _bars([20, 24], [4])
    labels[10:50, 30:34] = 2                         # another group's ink fills the valley
    assert _split_wide(labels, [1, 2]) == [(10, 58)]
    assert _split_wide(labels, [1]) == [(10, 30), (30, 58)]


# --- _cut ----------------------------------------------------------------------------------------

def test_a_cut_digit_keeps_its_own_ink_with_a_two_pixel_halo_only():
    labels = np.zeros((40, 60), np.int32)
    labels[10:30, 10:20] = 1
    labels[10:30, 26:36] = 2
    ink = np.full((40, 60), 0.5)
    digit = _cut(ink, labels, [1], (0, 60))
    assert digit.box == (10, 10, 20, 30)
    assert digit.ink.shape == digit.mask.shape == (20, 10) and digit.mask.all()
    np.testing.assert_array_equal(digit.ink, 0.5)
    wide = _cut(ink, labels, [1, 2], (0, 60))
    assert wide.box == (10, 10, 36, 30) and wide.mask[:, 10:16].sum() == 0
    # Between the two pieces: two pixels of grey either side of each, none beyond.
    np.testing.assert_array_equal(wide.ink[5], [0.5] * 12 + [0.0] * 2 + [0.5] * 12)
    left_only = _cut(ink, labels, [1], (15, 60))
    assert left_only.box == (15, 10, 20, 30)
    empty = _cut(ink, labels, [1], (40, 60))
    assert empty.box == (40, 0, 40, 0) and empty.ink.shape == (0, 0) and not empty.mask.any()


def test_a_cut_digit_leaves_out_the_ink_of_other_pieces_in_its_box():
    labels = np.zeros((40, 60), np.int32)
    labels[10:30, 10:30] = 1
    labels[15:25, 15:25] = 0
    labels[18:22, 18:22] = 2                         # another piece inside its counter
    ink = labels > 0
    digit = _cut(ink * 1.0, labels, [1], (0, 60))
    assert digit.ink[8:12, 8:12].sum() == 0 and digit.ink[0, 0] == 1.0
    assert digit.ink[6, 6] == 0.0 and digit.mask.sum() == 400 - 100


# --- _not_a_digit --------------------------------------------------------------------------------

def digit_of(mask):
    return Digit((0, 0, mask.shape[1], mask.shape[0]), mask * 1.0, mask)


@pytest.mark.parametrize("diameter, reason", [
    (29, "a speck, too small to be a digit"),        # under 3% of the picture's 1000 pixels
    (30, "a dot, not a digit"),
])
def test_a_blob_under_three_percent_of_the_picture_is_a_speck(diameter, reason):
    assert _not_a_digit(digit_of(disk(diameter, diameter)), (1000, 1200)) == reason


@pytest.mark.parametrize("diameter, reason", [(29, "a dot, not a digit"), (30, None)])
def test_a_round_blob_under_30_percent_of_the_picture_is_a_dot(diameter, reason):
    assert _not_a_digit(digit_of(disk(diameter, diameter)), (100, 120)) == reason


def test_a_ring_or_a_c_is_no_dot():
    ring = disk(20, 20) & ~disk(20, 10)
    assert _not_a_digit(digit_of(ring), (100, 100)) is None
    c_shape = ring.copy()
    c_shape[8:12, 10:] = False
    assert _not_a_digit(digit_of(c_shape), (100, 100)) is None


@pytest.mark.parametrize("rows, reason", [(12, "a dot, not a digit"), (9, None)])
def test_a_dot_is_round_not_an_oval(rows, reason):
    yy, xx = np.mgrid[:rows, :20]
    oval = ((yy - (rows - 1) / 2) / (rows / 2)) ** 2 + ((xx - 9.5) / 10) ** 2 <= 1   # eccentricity 0.8, 0.89
    assert _not_a_digit(digit_of(oval), (100, 100)) == reason


@pytest.mark.parametrize("shape, reason", [
    ((10, 30), "a dash, not a digit"),               # three times as long as thick, lying
    ((30, 10), None),                                # standing: a 1
    ((10, 28), None),                                # not long enough
    ((1, 4), "a dash, not a digit"),                 # one pixel thick
])
def test_a_dash_is_a_solid_bar_lying_down(shape, reason):
    assert _not_a_digit(digit_of(np.ones(shape, bool)), (100, 100)) == reason


@pytest.mark.parametrize("angle, reason", [(40, "a dash, not a digit"), (50, None)])
def test_a_bar_is_lying_when_nearer_horizontal_than_vertical(angle, reason):
    from scipy import ndimage

    bar = np.zeros((60, 60))
    bar[27:33, 10:50] = 1.0
    turned = ndimage.rotate(bar, angle, reshape=False, order=0) > 0.5
    rows, cols = np.flatnonzero(turned.any(1)), np.flatnonzero(turned.any(0))
    turned = turned[rows[0]:rows[-1] + 1, cols[0]:cols[-1] + 1]
    assert _not_a_digit(digit_of(turned), (200, 200)) == reason


@pytest.mark.parametrize("notch, reason", [((3, 40), "a dash, not a digit"), ((4, 40), None),
                                           ((4, 36), "a dash, not a digit")])   # solidity 0.8 exactly
def test_a_dash_is_solid(notch, reason):
    bar = np.ones((12, 60), bool)
    rows, cols = notch
    bar[:rows, 30 - cols // 2:30 + cols // 2] = False     # a long notch: solidity drops below 0.8
    assert _not_a_digit(digit_of(bar), (300, 300)) == reason


@pytest.mark.parametrize("slope", ["down", "up"])
def test_a_bar_at_exactly_45_degrees_is_no_dash(slope):
    r, c = np.mgrid[:30, :30]
    bar = np.abs(r - c) <= 2 if slope == "down" else np.abs(r + c - 29) <= 2
    assert _not_a_digit(digit_of(bar), (300, 300)) is None


# --- find_digits ---------------------------------------------------------------------------------

def test_a_picture_too_small_is_named_with_its_size():
    with pytest.raises(ImageError) as refused:
        find_digits(np.ones((7, 100)))
    assert str(refused.value) == ("no digit found: the image is 100x7 pixels, too small to hold one "
                                  "(at least 8x8)")
    with pytest.raises(ImageError) as refused:
        find_digits(np.ones((100, 7)))
    assert "7x100 pixels" in str(refused.value)
    with pytest.raises(ImageError, match="blank"):
        find_digits(np.ones((8, 8)))                 # large enough: then it is blank


def ring_picture(h=100, w=100, boxes=((30, 70, 40, 62),)):
    """Dark rings (a 0) on white paper, each given as (top, bottom, left, right)."""
    gray = blank(h, w)
    for top, bottom, left, right in boxes:
        gray[top:bottom, left:right] = 0.1
        gray[top + 5:bottom - 5, left + 5:right - 5] = 0.9
    return gray


def test_a_digit_is_found_with_its_box():
    found = find_digits(ring_picture())
    assert found.no_digit is None and found.scale == 1.0 and len(found.digits) == 1
    digit = found.digits[0]
    assert digit.box == (40, 30, 62, 70) and digit.mask.shape == (40, 22)
    assert digit.mask.sum() == 40 * 22 - 30 * 12


def test_digits_are_found_left_to_right():
    found = find_digits(ring_picture(100, 200, ((30, 70, 120, 142), (30, 70, 40, 62))))
    assert [d.box for d in found.digits] == [(40, 30, 62, 70), (120, 30, 142, 70)]


@pytest.mark.parametrize("shape, scale", [
    ((400, 800), 1.0), ((400, 801), 801 / 800), ((400, 1600), 2.0),
    ((10, 1000), 1.25),          # 8 pixels high once shrunk: still enough
    ((9, 1000), 1.0),            # 7.2: analysed as it is
])
def test_large_pictures_are_analysed_at_800_pixels(shape, scale):
    h, w = shape
    gray = blank(h, w)
    gray[h // 4:h - h // 4, w // 2 - w // 40:w // 2] = 0.1
    found = find_digits(gray)
    assert found.scale == pytest.approx(scale)
    if found.digits:
        left, top, right, bottom = found.box(found.digits[0])
        assert abs(left - (w // 2 - w // 40)) <= 2 * scale and abs(right - w // 2) <= 2 * scale


def test_large_picture_boxes_come_back_in_its_pixels():
    gray = ring_picture(400, 1600, ((100, 300, 700, 800),))
    found = find_digits(gray)
    assert found.scale == 2.0 and len(found.digits) == 1
    assert found.digits[0].box == (350, 50, 400, 150)
    assert found.box(found.digits[0]) == [700, 100, 800, 300]


@pytest.mark.parametrize("what, reason", [
    ("dot", "a dot, not a digit"), ("dash", "a dash, not a digit"), ("lines", None),
    ("dot and dash", "a dot, not a digit"), ("dash and dot", "a dash, not a digit"),
])
def test_what_is_no_digit_says_why(what, reason):
    gray = blank(200, 200)
    yy, xx = np.mgrid[:200, :200]
    if "dot" in what:
        x = 60 if what.startswith("dot") else 140
        gray[(yy - 100) ** 2 + (xx - x) ** 2 <= 36] = 0.1
    if "dash" in what:
        x = 40 if what.startswith("dash") else 120
        gray[96:104, x:x + 40] = 0.1
    if what == "lines":
        gray[:, 100:103] = 0.1
        gray[50:53, :] = 0.1
        reason = "only lines (a grid's or a page's, or a shadow's edge)"
    found = find_digits(gray)
    assert found.digits == [] and found.no_digit == reason


def test_a_digit_beside_a_dot_is_found_alone():
    gray = ring_picture(100, 200, ((30, 70, 40, 62),))
    yy, xx = np.mgrid[:100, :200]
    gray[(yy - 50) ** 2 + (xx - 150) ** 2 <= 36] = 0.1
    found = find_digits(gray)
    assert found.no_digit is None and [d.box for d in found.digits] == [(40, 30, 62, 70)]


def test_touching_digits_in_a_picture_are_cut_apart():
    gray = blank(100, 200)
    gray[30:70, 50:70] = gray[30:70, 74:98] = 0.1    # two bars joined by a thin touch
    gray[50:52, 70:74] = 0.1
    found = find_digits(gray)
    assert [d.box for d in found.digits] == [(50, 30, 70, 70), (70, 30, 98, 70)]


@pytest.mark.parametrize("boxes, groups", [
    (((10, 50, 10, 40), (12, 52, 37, 47)), [[1, 2]]),      # 3 columns: 30% of the narrower new piece
    (((10, 50, 10, 30), (35, 55, 29, 80)), [[1], [2]]),    # a short new piece sharing 15 of its 20 rows
    (((35, 55, 10, 61), (10, 50, 60, 80)), [[1], [2]]),    # a short group sharing 15 of its 20 rows
])
def test_overlap_and_stacking_are_measured_on_the_narrower_and_shorter_piece(boxes, groups):
    assert _group(_labels(*boxes)) == groups


def test_a_piece_with_exactly_85_percent_in_the_edge_band_is_a_line():
    mask = np.zeros((141, 100), bool)                # the band: rows 0..16 (12% of 141 is 16.9)
    mask[60:100, 40:60] = True
    mask[0:20, 30:60] = True                         # 17 of its 20 rows in the band
    labels, lines = clean_mask(mask)
    assert lines == 1 and labels.max() == 1 and labels[10, 40] == 0
