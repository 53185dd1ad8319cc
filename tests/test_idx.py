"""IDX parsing: good files, and every kind of bad one."""

import gzip
import struct
import tracemalloc

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from digitnet.errors import DataError
from digitnet.idx import IMAGES_MAGIC, LABELS_MAGIC, read_idx, write_idx

from conftest import MNIST_DIR


def one_line(err) -> str:
    message = str(err.value)
    assert "\n" not in message
    return message


@pytest.mark.parametrize("name", ["images.idx", "images.idx.gz"])
def test_round_trip_raw_and_gzip(tmp_path, name, rng):
    images = rng.integers(0, 256, size=(7, 28, 28), dtype=np.uint8)
    write_idx(tmp_path / name, images)
    content = read_idx(tmp_path / name, IMAGES_MAGIC)
    assert content.magic == IMAGES_MAGIC
    assert content.data.dtype == np.uint8 and content.data.shape == (7, 28, 28)
    np.testing.assert_array_equal(content.data, images)


def test_gzip_detected_from_content_not_name(tmp_path, rng):
    labels = rng.integers(0, 10, size=50, dtype=np.uint8)
    write_idx(tmp_path / "labels", labels, compress=True)  # gzip without .gz
    np.testing.assert_array_equal(read_idx(tmp_path / "labels").data, labels)


def test_other_idx_types(tmp_path):
    values = np.arange(12, dtype=np.float32).reshape(3, 4) / 7
    write_idx(tmp_path / "floats.idx", values)
    np.testing.assert_array_equal(read_idx(tmp_path / "floats.idx").data, values)


def test_real_mnist_facts():
    train = read_idx(MNIST_DIR / "train-labels-idx1-ubyte.gz", LABELS_MAGIC).data
    test = read_idx(MNIST_DIR / "t10k-labels-idx1-ubyte.gz", LABELS_MAGIC).data
    images = read_idx(MNIST_DIR / "t10k-images-idx3-ubyte.gz", IMAGES_MAGIC).data
    assert np.bincount(train).tolist() == [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
    assert test[:10].tolist() == [7, 2, 1, 0, 4, 1, 4, 9, 5, 9]
    assert images.shape == (10000, 28, 28) and images.dtype == np.uint8


def test_missing_file(tmp_path):
    with pytest.raises(DataError) as err:
        read_idx(tmp_path / "nope.gz")
    assert "nope.gz" in one_line(err) and "not found" in str(err.value)


def test_wrong_magic_names_both(tmp_path, rng):
    write_idx(tmp_path / "labels.gz", rng.integers(0, 10, size=5, dtype=np.uint8))
    with pytest.raises(DataError) as err:
        read_idx(tmp_path / "labels.gz", expected_magic=IMAGES_MAGIC)
    message = one_line(err)
    assert "labels.gz" in message and "0x00000801" in message and "0x00000803" in message


@pytest.mark.parametrize("garbage", [b"", b"\x00", b"hello world, not idx", b"\xff" * 100,
                                     b"\x00\x00\x07\x03" + b"\x00" * 20])
def test_garbage_is_not_idx(tmp_path, garbage):
    path = tmp_path / "garbage.idx"
    path.write_bytes(garbage)
    with pytest.raises(DataError) as err:
        read_idx(path)
    assert "garbage.idx" in one_line(err)


def test_non_gzip_garbage_with_gz_name(tmp_path):
    path = tmp_path / "train-images-idx3-ubyte.gz"
    path.write_bytes(b"<html>404 Not Found</html>")
    with pytest.raises(DataError) as err:
        read_idx(path, IMAGES_MAGIC)
    assert path.name in one_line(err)


def test_corrupt_gzip_stream(tmp_path, rng):
    path = tmp_path / "images.gz"
    write_idx(path, rng.integers(0, 256, size=(20, 28, 28), dtype=np.uint8))
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF  # flip bits in the middle of the deflate stream
    path.write_bytes(bytes(data))
    with pytest.raises(DataError) as err:
        read_idx(path)
    assert "images.gz" in one_line(err)


@pytest.mark.parametrize("compress", [False, True])
@pytest.mark.parametrize("keep", [3, 10, 16, 17, 500, 3 * 784 + 15])
def test_truncated_at_many_offsets(tmp_path, compress, keep, rng):
    pixels = rng.integers(0, 256, 3 * 784, dtype=np.uint8).tobytes()
    body = struct.pack(">IIII", IMAGES_MAGIC, 3, 28, 28) + pixels
    path = tmp_path / "cut.idx"
    path.write_bytes(gzip.compress(body[:keep]) if compress else body[:keep])
    with pytest.raises(DataError) as err:
        read_idx(path)
    assert "cut.idx" in one_line(err) and ("truncated" in str(err.value) or "not an IDX" in str(err.value))


def test_truncated_gzip_file(tmp_path, rng):
    path = tmp_path / "cut.gz"
    write_idx(path, rng.integers(0, 256, size=(50, 28, 28), dtype=np.uint8))
    path.write_bytes(path.read_bytes()[:-200])  # cut the compressed stream itself
    with pytest.raises(DataError) as err:
        read_idx(path)
    assert "cut.gz" in one_line(err)


@pytest.mark.parametrize("compress", [False, True])
def test_trailing_bytes_rejected(tmp_path, compress):
    body = struct.pack(">II", LABELS_MAGIC, 3) + bytes([1, 2, 3]) + b"extra"
    path = tmp_path / "long.idx"
    path.write_bytes(gzip.compress(body) if compress else body)
    with pytest.raises(DataError) as err:
        read_idx(path)
    assert "long.idx" in one_line(err)


def refused_with_peak_memory(path):
    """read_idx(path)'s one-line DataError and the most memory (bytes) Python held meanwhile."""
    tracemalloc.start()
    try:
        with pytest.raises(DataError) as err:
            read_idx(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    return one_line(err), peak


@pytest.mark.parametrize("compress", [False, True])
@pytest.mark.parametrize("dims", [(0xFFFFFFFF, 28, 28), (60000, 60000, 60000), (3, 0xFFFFFF, 0xFFFF)])
def test_absurd_header_allocates_nothing(tmp_path, compress, dims):
    body = struct.pack(">IIII", IMAGES_MAGIC, *dims) + b"\x00" * 1000
    path = tmp_path / "huge.idx"
    path.write_bytes(gzip.compress(body) if compress else body)
    err, peak = refused_with_peak_memory(path)
    assert "huge.idx" in err
    assert peak < 10 * 1024**2, f"allocated {peak} bytes for a bogus header"


def test_plausible_but_lying_gzip_header_reads_only_what_is_there(tmp_path):
    # 1.5 GB claimed (under the hard limit), 1 KB present: must fail fast, small.
    body = struct.pack(">IIII", IMAGES_MAGIC, 2_000_000, 28, 28) + b"\x00" * 1024
    path = tmp_path / "liar.gz"
    path.write_bytes(gzip.compress(body))
    err, peak = refused_with_peak_memory(path)
    assert "truncated" in err and peak < 10 * 1024**2


@pytest.mark.parametrize("layers", [2, 3])
def test_a_file_gzipped_several_times_reads_as_the_raw_one(tmp_path, rng, layers):
    import gzip

    array = rng.integers(0, 256, size=(4, 28, 28), dtype=np.uint8)
    write_idx(tmp_path / "raw", array, compress=False)
    content = (tmp_path / "raw").read_bytes()
    for _ in range(layers):
        content = gzip.compress(content)
    (tmp_path / "wrapped.gz").write_bytes(content)
    wrapped, raw = read_idx(tmp_path / "wrapped.gz", IMAGES_MAGIC), read_idx(tmp_path / "raw")
    np.testing.assert_array_equal(wrapped.data, array)
    assert wrapped.sha256 == raw.sha256                      # the checksum is of the IDX content


@pytest.mark.parametrize("content, words", [
    (b"<!DOCTYPE html>\n<html><head><title>404</title></head></html>", "HTML page"),
    (b"\n  <html lang='en'><body>Access denied</body></html>", "HTML page"),
    (b"label,pixel0,pixel1,pixel2\n5,0,0,0\n", "CSV file (it starts 'label,pixel0,pixel1,pixel2')"),
    (b"Not Found\n", "text file"),
    (b"PK\x03\x04" + b"\x00" * 40, "zip archive"),
    (b"BZh91AY&SY" + b"\x00" * 20, "bzip2"),
    (b"\x00\x00\x07\x03" + b"\x00" * 20, "magic number 0x00000703")])
@pytest.mark.parametrize("gzipped", [False, True])
def test_what_a_non_idx_file_is_is_said(tmp_path, content, words, gzipped):
    import gzip

    path = tmp_path / "train-images-idx3-ubyte.gz"
    path.write_bytes(gzip.compress(content) if gzipped else content)
    with pytest.raises(DataError) as err:
        read_idx(path, IMAGES_MAGIC)
    message = one_line(err)
    assert message.startswith(f"{path}: not an IDX file") and words in message, message


# --- the published format, not a round trip (issue 17: a writer and reader can share a bug) --------

@pytest.mark.parametrize("code, fmt, values", [
    (0x08, "B", [0, 1, 255]), (0x09, "b", [-128, 0, 127]), (0x0B, "h", [-2, 258, 32767]),
    (0x0C, "i", [-70000, 1, 2 ** 31 - 1]), (0x0D, "f", [0.5, -1.25, 3.0]), (0x0E, "d", [1e-300, -2.5, 7.0])])
def test_multi_byte_types_are_big_endian_on_disk(tmp_path, code, fmt, values):
    """Bytes built by hand as the IDX specification (LeCun's MNIST page) lays them out: a 2x3 array."""
    array = np.array([values, values[::-1]])
    expected = struct.pack(">BBBB", 0, 0, code, 2) + struct.pack(">II", 2, 3) \
        + struct.pack(f">{6}{fmt}", *values, *values[::-1])
    written = tmp_path / "written.idx"
    write_idx(written, array.astype(np.dtype(fmt).newbyteorder(">")), compress=False)
    assert written.read_bytes() == expected                        # what we write is the format
    by_hand = tmp_path / "by-hand.idx"
    by_hand.write_bytes(expected)
    content = read_idx(by_hand)                                     # what we read is the format
    assert content.magic == (code << 8) | 2
    np.testing.assert_array_equal(content.data, array)


# Any array of any IDX type, given in the machine's own byte order as callers pass it, against
# bytes built by hand (struct, big-endian) from its values: the law behind the six cases above.
FORMATS = {0x08: ("B", np.uint8), 0x09: ("b", np.int8), 0x0B: ("h", np.int16), 0x0C: ("i", np.int32),
           0x0D: ("f", np.float32), 0x0E: ("d", np.float64)}


@st.composite
def idx_arrays(draw):
    code = draw(st.sampled_from(sorted(FORMATS)))
    shape = tuple(draw(st.lists(st.integers(1, 4), min_size=1, max_size=3)))
    dtype = np.dtype(FORMATS[code][1])
    elements = (hnp.from_dtype(dtype, allow_nan=False) if dtype.kind == "f" else hnp.from_dtype(dtype))
    return code, draw(hnp.arrays(dtype, shape, elements=elements))


@settings(max_examples=150, derandomize=True, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(case=idx_arrays(), compress=st.booleans())
def test_any_array_is_written_and_read_as_hand_built_big_endian_bytes(tmp_path, case, compress):
    code, array = case
    fmt = FORMATS[code][0]
    expected = (struct.pack(">BBBB", 0, 0, code, array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
                + struct.pack(f">{array.size}{fmt}", *array.ravel().tolist()))
    written = tmp_path / "written.idx"
    write_idx(written, array, compress=compress)
    on_disk = written.read_bytes()
    assert (gzip.decompress(on_disk) if compress else on_disk) == expected
    by_hand = tmp_path / ("by-hand.idx.gz" if compress else "by-hand.idx")
    by_hand.write_bytes(gzip.compress(expected) if compress else expected)
    content = read_idx(by_hand)
    assert content.magic == (code << 8) | array.ndim and content.data.dtype == array.dtype
    np.testing.assert_array_equal(content.data, array)


def test_a_gzip_file_with_a_huge_tail_is_refused_without_unpacking_the_tail(tmp_path):
    """After the data only one more byte is read: a valid file followed by 64 MiB of zeros
    (64 KiB compressed, a small 'decompression bomb') is refused without holding the tail in memory."""
    labels = np.arange(10, dtype=np.uint8)
    body = struct.pack(">HBBI", 0, 0x08, 1, 10) + labels.tobytes()
    path = tmp_path / "labels.gz"
    with gzip.open(path, "wb") as f:
        f.write(body)
        zeros = bytes(1 << 20)
        for _ in range(64):
            f.write(zeros)
    assert path.stat().st_size < 1 << 20
    err, peak = refused_with_peak_memory(path)
    assert "extra bytes after the 10 data bytes" in err and peak < 8 << 20, f"peak {peak:,} bytes"


@pytest.mark.parametrize("magic", [0x01000803, 0x00010803, 0x00000903, 0x00000802])
def test_a_magic_number_off_in_one_byte_is_refused(tmp_path, magic):
    path = tmp_path / "images.idx"
    path.write_bytes(struct.pack(">I", magic) + struct.pack(">III", 1, 2, 2) + bytes(4))
    with pytest.raises(DataError) as err:
        read_idx(path, expected_magic=IMAGES_MAGIC)
    assert str(path) in str(err.value) and "\n" not in str(err.value)


def test_label_ten_is_out_of_range_one_step_past_the_last_class(tmp_path):
    from digitnet.data import load_split

    rng = np.random.default_rng(0)
    write_idx(tmp_path / "train-images-idx3-ubyte.gz", rng.integers(0, 256, (5, 28, 28), dtype=np.uint8))
    write_idx(tmp_path / "train-labels-idx1-ubyte.gz", np.array([0, 9, 3, 10, 1], dtype=np.uint8))
    with pytest.raises(DataError, match="label 10 out of range 0-9"):
        load_split(tmp_path, "train")
    write_idx(tmp_path / "train-labels-idx1-ubyte.gz", np.array([0, 9, 3, 9, 1], dtype=np.uint8))
    assert load_split(tmp_path, "train")[1].max() == 9                 # 9, the last class, is fine


def _idx(*dims, data=b"", code=0x08):
    return struct.pack(">HBB", 0, code, len(dims)) + struct.pack(f">{len(dims)}I", *dims) + data


@pytest.mark.parametrize("content, compress, expected, message", [
    (None, False, None, "{path}: file not found"),
    (_idx(3, data=b"abc"), True, IMAGES_MAGIC, "{path}: wrong magic number 0x00000801, expected 0x00000803"),
    (_idx(0xFFFFFFFF, 28, 28), False, None,
     "{path}: header claims an absurd size (4294967295, 28, 28) (3,367,254,359,280 bytes)"),
    (_idx(0, 0xFFFFFF, 0xFFFF), True, None,
     "{path}: header claims an absurd size (0, 16777215, 65535) (0 bytes)"),
    (_idx(3, 28, 28, data=bytes(100)), False, None,
     "{path}: truncated: header (3, 28, 28) needs 2,368 bytes, file has 116"),
    (_idx(3, data=b"abcde"), False, None, "{path}: too long: header (3,) needs 11 bytes, file has 13"),
    (_idx(3, 28, 28, data=bytes(100)), True, None,
     "{path}: truncated: expected 2,352 data bytes for shape (3, 28, 28), got 100 bytes"),
    (_idx(3, data=b"abcde"), True, None, "{path}: extra bytes after the 3 data bytes for shape (3,)"),
    (b"\x00\x00", True, None, "{path}: truncated: expected the 4-byte magic number, got 2 bytes"),
    (b"\x00\x00\x08\x02\x00\x00\x00\x01", True, None, "{path}: truncated: expected the header, got 4 bytes"),
    (b"\x00\x00\x08\x00", True, None, "{path}: not an IDX file: unknown content (magic number 0x00000800)"),
    (b"\xfd7zXZ\x00" + bytes(30), False, None,
     "{path}: not an IDX file: it is xz-compressed: decompress it first (unxz)"),
    (b"7z\xbc\xaf\x27\x1c" + bytes(30), False, None,
     "{path}: not an IDX file: it is a 7-Zip archive: unpack it first"),
    (b"\x89PNG\r\n\x1a\n" + bytes(30), False, None, "{path}: not an IDX file: it is a PNG image"),
    (b"%PDF-1.4\n" + bytes(30), False, None, "{path}: not an IDX file: it is a PDF document"),
    (b"digits" + bytes(251) + b"ustar\x0000" + bytes(100), False, None,
     "{path}: not an IDX file: it is a tar archive: unpack it first (tar -xf)"),
    (b"\xef\xbb\xbf <?xml version='1.0'?><Error/>", False, None,
     "{path}: not an IDX file: it is an HTML page (a failed download or an error page?): open it in a browser"
     " to read it"),
    (b"label,pixel0\n5,0\n", False, None,
     "{path}: not an IDX file: it is a text file (it starts 'label,pixel0')"),
])
def test_the_whole_message_of_each_kind_of_bad_file(tmp_path, content, compress, expected, message):
    path = tmp_path / "file"
    if content is not None:
        path.write_bytes(gzip.compress(content) if compress else content)
    with pytest.raises(DataError) as err:
        read_idx(path, expected)
    assert str(err.value) == message.format(path=path)


def test_more_than_eight_layers_of_gzip_is_refused(tmp_path):
    content = _idx(1, data=b"\x07")
    for layers in range(1, 10):
        content = gzip.compress(content)
        (tmp_path / f"{layers}.gz").write_bytes(content)
    assert read_idx(tmp_path / "8.gz").data.tolist() == [7]
    with pytest.raises(DataError) as err:
        read_idx(tmp_path / "9.gz")
    assert str(err.value) == f"{tmp_path / '9.gz'}: more than 8 layers of gzip"


def test_write_idx_compresses_by_name_unless_told_and_refuses_other_dtypes(tmp_path):
    labels = np.array([1, 2, 3], np.uint8)
    write_idx(tmp_path / "a.gz", labels)
    write_idx(tmp_path / "b.idx", labels)
    write_idx(tmp_path / "c.gz", labels, compress=False)
    assert (tmp_path / "a.gz").read_bytes()[:2] == b"\x1f\x8b"
    raw = _idx(3, data=b"\x01\x02\x03")
    assert (tmp_path / "b.idx").read_bytes() == (tmp_path / "c.gz").read_bytes() == raw
    with pytest.raises(ValueError, match=r"^IDX cannot store dtype complex128$"):
        write_idx(tmp_path / "d.idx", np.zeros(2, np.complex128))


HTML_PAGE = "it is an HTML page (a failed download or an error page?): open it in a browser to read it"


@pytest.mark.parametrize("content, says", [
    (b"<!DOCTYPE html><title>404</title>", HTML_PAGE),
    (b"\r\n\t <Head><title>Error</title></head>", HTML_PAGE),
    (b"Error 503, please retry later. " + b"x" * 400 + b"<html>", HTML_PAGE),
    (b"Error 503, please retry later. " + b"x" * 600 + b"<html>",
     "it is a text file (it starts 'Error 503, please retry later. xxxxxxxxxxxxxxxxxxxxxxxxxxxxx')"),
    (b"a,b,c\n1,2,3\n", "it is a CSV file (it starts 'a,b,c')"),
    (b"a,b\n1,2\n", "it is a text file (it starts 'a,b')"),
    ("chiffre,pixel0,pixel1 é\n7,0,0\n".encode(), "it is a CSV file (it starts 'chiffre,pixel0,pixel1 é')"),
    # A multi-byte character cut by the 512-byte window is still text.
    (b"#" * 511 + "é".encode() + b"more", "it is a text file (it starts '" + "#" * 60 + "')"),
    (b"text then \x01\x02 binary" + bytes(20), "unknown content (magic number 0x74657874)"),
    # Only the window's last character may be a cut one: a control character before it is binary.
    (b"label,pixel0\n5,0\x01x", "unknown content (magic number 0x6c616265)"),
    (b"\x9f\x00\x08\x01" + bytes(20), "unknown content (magic number 0x9f000801)"),   # unsigned
])
def test_what_a_file_that_is_not_idx_looks_like(tmp_path, content, says):
    """The kinds of file people download by mistake, told apart at the edges of each rule."""
    path = tmp_path / "train-images-idx3-ubyte"
    path.write_bytes(content)
    with pytest.raises(DataError) as err:
        read_idx(path)
    assert str(err.value) == f"{path}: not an IDX file: {says}"


def test_the_size_limit_is_two_gibibytes_whatever_the_item_size_or_a_zero_dimension(tmp_path):
    """At 2 GiB a header is sane (the file is then only too short); one byte more is absurd,
    also when a zero dimension hides the other dimensions' size (float64: 8 bytes an item)."""
    cases = {
        "at.idx": (_idx(2**31), "truncated: header (2147483648,) needs 2,147,483,656 bytes, file has 8"),
        "over.idx": (_idx(2**31 + 1), "header claims an absurd size (2147483649,) (2,147,483,649 bytes)"),
        "empty_over.idx": (_idx(0, 2**28 + 1, code=0x0E),
                           "header claims an absurd size (0, 268435457) (0 bytes)"),
    }
    for name, (content, message) in cases.items():
        (tmp_path / name).write_bytes(content)
        with pytest.raises(DataError) as err:
            read_idx(tmp_path / name)
        assert str(err.value) == f"{tmp_path / name}: {message}"
    (tmp_path / "empty_at.idx").write_bytes(_idx(0, 2**28, code=0x0E))
    assert read_idx(tmp_path / "empty_at.idx").data.shape == (0, 2**28)


@pytest.mark.parametrize("error, says", [
    (PermissionError(13, "Permission denied"), "cannot read (Permission denied)"),
    (OSError("disk gone"), "cannot read (disk gone)"),
])
def test_a_file_that_cannot_be_opened_is_named_with_the_reason(tmp_path, monkeypatch, error, says):
    import digitnet.idx as idx_module

    path = tmp_path / "t10k-labels-idx1-ubyte"
    path.write_bytes(_idx(1, data=b"\x07"))

    def refuse(*args, **kwargs):
        raise error

    monkeypatch.setattr(idx_module, "open", refuse, raising=False)
    with pytest.raises(DataError) as err:
        read_idx(path)
    assert str(err.value) == f"{path}: {says}"


def test_a_header_of_255_dimensions_is_read_as_unsigned_and_found_short(tmp_path):
    path = tmp_path / "many.idx"
    path.write_bytes(gzip.compress(b"\x00\x00\x08\xff" + bytes(8)))
    with pytest.raises(DataError) as err:
        read_idx(path)
    assert str(err.value) == f"{path}: truncated: expected the header, got 8 bytes"


def test_extra_bytes_after_data_longer_than_one_read_are_found(tmp_path):
    """1.5 MiB of data (two reads of at most 1 MiB) then 5 bytes more, inside gzip where the
    size is not known up front: the extra bytes are named, the data is not misread."""
    n = 3 * 2**19
    path = tmp_path / "long.gz"
    path.write_bytes(gzip.compress(_idx(n, data=bytes(n) + b"extra")))
    with pytest.raises(DataError) as err:
        read_idx(path)
    assert str(err.value) == f"{path}: extra bytes after the 1,572,864 data bytes for shape (1572864,)"
    path.write_bytes(gzip.compress(_idx(n, data=bytes(n))))
    assert read_idx(path).data.shape == (n,)
