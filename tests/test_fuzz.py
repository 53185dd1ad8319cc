"""Property-based fuzzing of everything that reads untrusted bytes.

Deterministic here (derandomize) so that CI is repeatable; ``tools/fuzz.py``
runs the same contracts with many more random cases.
"""

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fuzz_cases import (
    absurd_idx_header,
    check_gray_array,
    check_idx_bytes,
    check_image_bytes,
    check_model_bytes,
    gray_arrays,
    idx_seed,
    image_seed,
    model_seed,
    mutated,
)

FUZZ = settings(max_examples=150, derandomize=True, deadline=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])


@FUZZ
@given(data=st.binary(max_size=300))
def test_idx_random_bytes(tmp_path, data):
    check_idx_bytes(data, tmp_path / "random.idx")


@FUZZ
@given(data=st.one_of(mutated(idx_seed(False)), mutated(idx_seed(True))))
def test_idx_mutated(tmp_path, data):
    check_idx_bytes(data, tmp_path / "mutated.idx")


@FUZZ
@given(data=absurd_idx_header())
def test_idx_absurd_headers(tmp_path, data):
    check_idx_bytes(data, tmp_path / "absurd.idx")


@pytest.mark.parametrize("compress", [False, True])
def test_idx_truncated_at_every_offset(tmp_path, compress):
    seed = idx_seed(compress)
    for cut in range(len(seed)):
        check_idx_bytes(seed[:cut], tmp_path / "cut.idx")


@pytest.fixture(scope="module")
def model_bytes(tmp_path_factory):
    return model_seed(tmp_path_factory.mktemp("seed"))


@FUZZ
@given(data=st.data())
def test_model_mutated(tmp_path, model_bytes, data):
    check_model_bytes(data.draw(mutated(model_bytes)), tmp_path / "mutated.npz")


@FUZZ
@given(data=st.binary(max_size=400))
def test_model_random_bytes(tmp_path, data):
    check_model_bytes(b"PK\x03\x04" + data, tmp_path / "random.npz")


def test_model_truncated_at_every_offset(tmp_path, model_bytes):
    for cut in range(len(model_bytes)):
        check_model_bytes(model_bytes[:cut], tmp_path / "cut.npz")


@FUZZ
@given(data=st.one_of(mutated(image_seed("PNG")), mutated(image_seed("JPEG")),
                      mutated(image_seed("GIF")), mutated(image_seed("BMP")), st.binary(max_size=200)))
def test_image_mutated(tmp_path, data):
    check_image_bytes(data, tmp_path / "mutated.img")


@FUZZ
@given(gray=gray_arrays)
def test_preprocess_any_gray_array(gray):
    check_gray_array(gray)


# Cases the long fuzz run (tools/fuzz.py) found, kept as regression tests.

def test_idx_header_with_many_huge_dimensions(tmp_path):
    import struct

    data = struct.pack(">HBB", 0, 0x08, 60) + struct.pack(">I", 2**32 - 1) * 60
    check_idx_bytes(data, tmp_path / "dims.idx")


def test_model_member_flagged_encrypted(tmp_path, model_bytes):
    import zipfile

    data = bytearray(model_bytes)
    header = data.find(b"PK\x03\x04")
    data[header + 6] |= 0x01  # general-purpose flag bit 0: "encrypted"
    central = data.find(b"PK\x01\x02")
    data[central + 8] |= 0x01
    path = tmp_path / "encrypted.npz"
    path.write_bytes(bytes(data))
    with zipfile.ZipFile(path) as z:
        assert z.infolist()[0].flag_bits & 0x1
    check_model_bytes(bytes(data), path)


def test_idx_header_with_a_zero_and_huge_dimensions(tmp_path):
    import struct

    data = struct.pack(">HBB", 0, 0x08, 3) + struct.pack(">III", 0, 2**32 - 1, 2**32 - 1)
    check_idx_bytes(data, tmp_path / "zero.idx")


def test_tiff_whose_tag_types_crash_the_decoder(tmp_path):
    # Found by tools/fuzz.py: Pillow raised TypeError ('IFDRational' ...) on this file.
    from pathlib import Path

    data = (Path(__file__).parent / "data" / "fuzz-tiff-typeerror.tif").read_bytes()
    check_image_bytes(data, tmp_path / "crash.tif")
