"""Safe .npz archives: what save_npz writes, and every refusal of load_npz as one exact line."""

import hashlib
import io
import json
import zipfile

import numpy as np
import pytest

from digitnet import npzfile
from digitnet.errors import ModelFileError
from digitnet.npzfile import _short, content_sha256, load_npz, save_npz

META = {"format": "kind", "format_version": 1}


def npy(array, version=None):
    """The bytes of one .npy member (header ``version`` as NumPy writes it, or forced)."""
    out = io.BytesIO()
    np.lib.format.write_array(out, np.asarray(array), version=version, allow_pickle=True)
    return out.getvalue()


def meta_bytes(meta):
    return npy(np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8))


def archive(path, members):
    """A zip of raw members, as a hand-made or damaged .npz."""
    with zipfile.ZipFile(path, "w") as z:
        for name, data in members.items():
            z.writestr(name, data)
    return path


def signed(arrays, **meta):
    """Members for ``arrays`` with metadata whose hash matches them."""
    full = {**META, **meta, "content_sha256": content_sha256(arrays)}
    return {**{f"{k}.npy": npy(v) for k, v in arrays.items()}, "metadata.npy": meta_bytes(full)}


def refused(path, **kwargs):
    with pytest.raises(ModelFileError) as err:
        load_npz(path, "kind", **kwargs)
    return str(err.value)


def test_save_then_load_gives_the_arrays_and_the_metadata_back(tmp_path):
    arrays = {"w": np.arange(6, dtype=np.float32).reshape(2, 3), "order": np.array([2, 0, 1])}
    path = save_npz(tmp_path / "a.npz", arrays, {**META, "note": "café"})
    assert path == tmp_path / "a.npz" and sorted(p.name for p in tmp_path.iterdir()) == ["a.npz"]
    loaded, meta = load_npz(str(path), "kind")
    assert sorted(loaded) == ["order", "w"]
    for name, array in arrays.items():
        assert loaded[name].dtype == array.dtype and np.array_equal(loaded[name], array)
    assert meta == {**META, "note": "café", "content_sha256": content_sha256(arrays)}
    with np.load(path) as raw:                  # the metadata member: UTF-8 JSON as a byte vector
        assert raw["metadata"].dtype == np.uint8 and raw["metadata"].ndim == 1
        assert json.loads(raw["metadata"].tobytes().decode("utf-8")) == meta


def test_the_content_hash_covers_names_dtypes_shapes_and_bytes_in_name_order():
    b, a = np.array([1, 2], dtype="<i4"), np.zeros((1, 1), dtype="<f8")
    expected = hashlib.sha256(b"a:<f8:(1, 1);" + bytes(8) + b"b:<i4:(2,);" + b"\x01\0\0\0\x02\0\0\0")
    assert content_sha256({"b": b, "a": a}) == expected.hexdigest()
    assert content_sha256({"b": b, "a": a.reshape(1)}) != expected.hexdigest()


def test_the_name_metadata_is_reserved(tmp_path):
    with pytest.raises(ValueError) as err:
        save_npz(tmp_path / "a.npz", {"metadata": np.zeros(1)}, META)
    assert str(err.value) == "'metadata' is reserved for the JSON metadata"
    assert list(tmp_path.iterdir()) == []


def test_a_version_2_array_header_is_read(tmp_path):
    """NumPy writes header version 2.0 for headers over 64 KiB; its reader is another function."""
    w = np.arange(3, dtype=np.float32)
    members = signed({"w": w})
    members["w.npy"] = npy(w, version=(2, 0))
    arrays, _ = load_npz(archive(tmp_path / "v2.npz", members), "kind")
    assert np.array_equal(arrays["w"], w) and arrays["w"].dtype == np.float32


def test_errors_are_raised_as_the_callers_class(tmp_path):
    class Mine(Exception):
        pass

    path = archive(tmp_path / "a.npz", signed({"w": np.zeros(2)}, format="other"))
    with pytest.raises(Mine) as err:
        load_npz(path, "kind", error=Mine)
    assert str(err.value) == f"{path}: not a kind file (format 'other')"


W = np.ones((2, 2), dtype=np.float32)


@pytest.mark.parametrize("members, tail", [
    ({"w.npy": npy(W)}, "not a kind file (no metadata)"),
    ({**signed({"w": W}), "metadata.npy": npy(np.zeros(4))}, "metadata is not a byte array"),
    ({**signed({"w": W}), "metadata.npy": npy(np.frombuffer(json.dumps(META).encode(), np.uint8)[None])},
     "metadata is not a byte array"),
    ({**signed({"w": W}), "metadata.npy": npy(np.frombuffer(b"\xff{", np.uint8))},
     "metadata is not valid JSON ('utf-8' codec can't decode byte 0xff in position 0: invalid start byte)"),
    ({**signed({"w": W}), "metadata.npy": npy(np.frombuffer(b"{format", np.uint8))},
     "metadata is not valid JSON (Expecting property name enclosed in double quotes: "
     "line 1 column 2 (char 1))"),
    ({**signed({"w": W}), "metadata.npy": npy(np.frombuffer(b"[" * 100000, np.uint8))},
     "metadata is not valid JSON (maximum recursion depth exceeded while decoding a JSON array from a "
     "unicode string)"),
    ({**signed({"w": W}), "metadata.npy": meta_bytes([1])}, "not a kind file (format None)"),
    (signed({"w": W}, format="other"), "not a kind file (format 'other')"),
    (signed({"w": W}, format_version=99), "kind format version 99 is not supported (expected 1)"),
    (signed({"w": W}, format_version=None), "kind format version None is not supported (expected 1)"),
    ({**signed({"w": W}), "w.npy": npy(2 * W)},
     "content does not match its recorded SHA-256 (modified or corrupt)"),
    (signed({"w": W, "b": np.array([0.0, np.nan])}), "b holds NaN or infinite values"),
    (signed({"b": np.array([-np.inf], np.float32)}), "b holds NaN or infinite values"),
    ({**signed({"w": W}), "x.npy": npy(np.array([{}], dtype=object))}, "x.npy holds Python objects"),
    ({**signed({"w": W}), "w.npy": npy(W).replace(b"(2, 2)", b"(9, 9)")},
     "w.npy is truncated or malformed (header shape (9, 9))"),
    ({**signed({"w": W}), "w.npy": npy(W)[:-1]}, "w.npy is truncated or malformed (header shape (2, 2))"),
    ({**signed({"w": W}), "w.npy": npy(W).replace(b"(2, 2)", b"(2, 2}")},
     "w.npy has no valid array header (ValueError)"),
    ({**signed({"w": W}), "w.npy": b"not an array"}, "w.npy has no valid array header (ValueError)"),
])
def test_a_bad_archive_is_refused_in_one_line_naming_it(tmp_path, members, tail):
    path = archive(tmp_path / "bad.npz", members)
    assert refused(path) == f"{path}: {tail}"


def test_the_newest_accepted_version_is_named(tmp_path):
    path = archive(tmp_path / "new.npz", signed({"w": W}, format_version=9))
    assert refused(path, versions=(1, 2, 3)) == f"{path}: kind format version 9 is not supported (expected 3)"


def header_of_length(size):
    """A valid .npy (version 1.0) of W whose header is ``size`` bytes long, padded with spaces."""
    text = repr({"descr": "<f4", "fortran_order": False, "shape": (2, 2)}).encode()
    header = text + b" " * (size - len(text) - 1) + b"\n"
    return b"\x93NUMPY\x01\x00" + size.to_bytes(2, "little") + header + W.tobytes()


def test_array_headers_over_10000_bytes_are_refused(tmp_path):
    """NumPy's limit for untrusted headers: 10,000 bytes pass, 10,001 do not."""
    members = signed({"w": W})
    arrays, _ = load_npz(archive(tmp_path / "ok.npz", {**members, "w.npy": header_of_length(10000)}), "kind")
    assert np.array_equal(arrays["w"], W)
    path = archive(tmp_path / "big.npz", {**members, "w.npy": header_of_length(10001)})
    assert refused(path) == f"{path}: w.npy has no valid array header (ValueError)"


def test_an_archive_over_the_size_limit_is_refused_before_reading(tmp_path, monkeypatch):
    path = archive(tmp_path / "a.npz", signed({"w": np.zeros(1000)}))
    total = sum(m.file_size for m in zipfile.ZipFile(path).infolist())        # about 8,300
    monkeypatch.setattr(npzfile, "MAX_ARCHIVE_BYTES", total)
    load_npz(path, "kind")                                   # exactly at the limit: read
    monkeypatch.setattr(npzfile, "MAX_ARCHIVE_BYTES", total - 1)
    assert refused(path) == f"{path}: archive is larger than {total - 1:,} bytes"
    monkeypatch.setattr(npzfile, "MAX_ARCHIVE_BYTES", 8000)
    assert refused(path) == f"{path}: archive is larger than 8,000 bytes"


def test_missing_and_non_zip_files(tmp_path):
    assert refused(tmp_path / "absent.npz") == f"{tmp_path / 'absent.npz'}: file not found"
    garbage = tmp_path / "garbage.npz"
    garbage.write_bytes(b"garbage")
    assert refused(garbage) == f"{garbage}: not a readable .npz file (File is not a zip file)"


def test_an_encrypted_member_is_refused_with_the_first_120_characters_of_the_reason(tmp_path):
    name = "w" * 150 + ".npy"
    path = archive(tmp_path / "locked.npz", {name: npy(W)})
    data = bytearray(path.read_bytes())
    for signature, flag_at in ((b"PK\x03\x04", 6), (b"PK\x01\x02", 8)):   # local and central headers
        at = data.index(signature)
        data[at + flag_at] |= 1                                          # "encrypted"
    path.write_bytes(bytes(data))
    with zipfile.ZipFile(path) as z, pytest.raises(RuntimeError) as err:
        z.open(z.infolist()[0])                           # zipfile's own reason, long
    reason = str(err.value)
    assert "is encrypted" in reason and len(reason) > 120
    reason = reason[:120]
    assert refused(path) == f"{path}: not a readable .npz file ({reason})"


@pytest.mark.parametrize("err, text", [
    (ValueError("bad thing"), "bad thing"),
    (ValueError("first line\nsecond line"), "first line"),
    (ValueError("x" * 200), "x" * 120),
    (EOFError(), "EOFError"),
    (KeyError(""), "''"),
])
def test_reasons_are_one_short_line(err, text):
    assert _short(err) == text
