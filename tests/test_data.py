"""Finding, checking and splitting the datasets."""

import gzip
import shutil

import numpy as np
import pytest

import digitnet as dn
from digitnet import data as data_module
from digitnet.data import load_dataset, load_split, locate
from digitnet.errors import DataError
from digitnet.idx import write_idx

from conftest import MNIST_DIR


def fake_dataset(folder, n_train=40, n_test=20, seed=0, labels=None):
    """Write a small valid IDX dataset with the canonical names into ``folder``."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    write_idx(folder / "train-images-idx3-ubyte.gz", rng.integers(0, 256, (n_train, 28, 28), dtype=np.uint8))
    write_idx(folder / "train-labels-idx1-ubyte.gz",
              labels if labels is not None else rng.integers(0, 10, n_train, dtype=np.uint8))
    write_idx(folder / "t10k-images-idx3-ubyte.gz", rng.integers(0, 256, (n_test, 28, 28), dtype=np.uint8))
    write_idx(folder / "t10k-labels-idx1-ubyte.gz", rng.integers(0, 10, n_test, dtype=np.uint8))
    return folder


def test_full_mnist_split(mnist):
    assert mnist.x_train.shape == (55000, 784) and mnist.x_train.dtype == np.uint8
    assert mnist.x_val.shape == (5000, 784) and mnist.x_test.shape == (10000, 784)
    assert mnist.y_train.dtype == np.int64
    assert np.bincount(np.concatenate([mnist.y_train, mnist.y_val])).tolist() == \
        [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
    assert mnist.y_test[:10].tolist() == [7, 2, 1, 0, 4, 1, 4, 9, 5, 9]


def test_validation_comes_from_training_set_only(mnist):
    # Every validation image is one of the 60,000 training images, and the
    # split keeps them all (disjointness is checked by index below).
    x_all, _ = load_split(MNIST_DIR, "train")
    all_rows = {row.tobytes() for row in x_all}
    assert all(row.tobytes() in all_rows for row in mnist.x_val)
    assert len(mnist.x_train) + len(mnist.x_val) == len(x_all)


def test_split_is_deterministic_and_disjoint():
    a = load_dataset("mnist", MNIST_DIR, validation_size=1000)
    b = load_dataset("mnist", MNIST_DIR, validation_size=1000)
    np.testing.assert_array_equal(a.x_val, b.x_val)
    x_all, _ = load_split(MNIST_DIR, "train")
    order = np.random.default_rng(0).permutation(len(x_all))
    np.testing.assert_array_equal(a.x_val, x_all[np.sort(order[:1000])])
    np.testing.assert_array_equal(a.x_train, x_all[np.sort(order[1000:])])


def test_train_limit_and_no_validation():
    d = load_dataset("mnist", MNIST_DIR, validation_size=0, train_limit=100)
    assert d.x_train.shape == (100, 784) and len(d.x_val) == 0


def test_pixels_to_floats():
    from digitnet.inputs import to_float

    x = np.array([[0, 51, 255]], dtype=np.uint8)
    scaled = to_float(x, np.float32)
    assert scaled.dtype == np.float32
    np.testing.assert_allclose(scaled, [[0.0, 0.2, 1.0]], rtol=1e-6)
    assert to_float(x, np.float64).dtype == np.float64
    floats = np.array([[0.0, 51.0, 255.0]])
    assert to_float(floats, np.float64) is floats                 # floats as given, not copied


def test_checksum_mismatch_in_the_cache_names_the_file(tmp_path, monkeypatch):
    """Files digitnet finds itself (repository, cache, download) must be the known ones."""
    fake_dataset(tmp_path / "cache" / "digitnet" / "mnist")
    monkeypatch.setattr(data_module, "REPO_DATA_DIR", tmp_path / "no-repo")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.delenv("DIGITNET_DATA_DIR", raising=False)
    with pytest.raises(DataError) as err:
        load_dataset("mnist", validation_size=5)
    message = str(err.value)
    assert "train-images-idx3-ubyte.gz" in message and "checksum" in message and "\n" not in message


def test_files_the_user_points_at_are_used_with_a_note_not_refused(tmp_path):
    """An own IDX export: other checksums, other image size, more classes; all from the data."""
    folder = tmp_path / "own"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for split, n in (("train", 30), ("t10k", 12)):
        write_idx(folder / f"{split}-images-idx3-ubyte.gz", rng.integers(0, 256, (n, 8, 8), dtype=np.uint8))
        write_idx(folder / f"{split}-labels-idx1-ubyte.gz", np.arange(n, dtype=np.uint8) % 12)
    d = load_dataset("mnist", folder, validation_size=5)
    assert d.unverified == ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz",
                            "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz")
    assert d.n_features == 64 and d.classes == tuple(range(12)) and d.x_test.shape == (12, 64)
    test_only = load_dataset("mnist", folder, validation_size=0, splits=("test",))
    assert test_only.n_features == 64
    net = dn.train(dn.TrainConfig(hidden=(8,), epochs=1, patience=None), d).model    # trains as it is
    assert net.n_features_in == 64 and net.n_classes == 12


def test_image_label_count_mismatch(tmp_path, monkeypatch):
    folder = fake_dataset(tmp_path / "d", labels=np.zeros(39, dtype=np.uint8))
    with pytest.raises(DataError) as err:
        load_split(folder, "train")
    assert "train-labels-idx1-ubyte.gz" in str(err.value) and "39 labels for 40 images" in str(err.value)


def test_label_out_of_range(tmp_path):
    folder = fake_dataset(tmp_path / "d", labels=np.full(40, 12, dtype=np.uint8))
    with pytest.raises(DataError, match="label 12 out of range"):
        load_split(folder, "train")


def test_labels_where_images_expected(tmp_path):
    folder = fake_dataset(tmp_path / "d")
    shutil.copy(folder / "train-labels-idx1-ubyte.gz", folder / "train-images-idx3-ubyte.gz")
    with pytest.raises(DataError, match="wrong magic number"):
        load_split(folder, "train")


def test_missing_file_in_data_dir(tmp_path):
    folder = fake_dataset(tmp_path / "d")
    (folder / "t10k-labels-idx1-ubyte.gz").unlink()
    with pytest.raises(DataError) as err:
        locate("mnist", folder)
    assert "t10k-labels-idx1-ubyte" in str(err.value) and str(folder) in str(err.value)


def test_missing_data_dir(tmp_path):
    with pytest.raises(DataError, match="data folder not found"):
        locate("mnist", tmp_path / "absent")


def test_unknown_dataset():
    with pytest.raises(DataError, match="unknown dataset"):
        locate("cifar")


def test_lookup_order(tmp_path, monkeypatch):
    explicit = fake_dataset(tmp_path / "explicit")
    env = fake_dataset(tmp_path / "env" / "mnist")  # a parent folder with a mnist/ inside
    repo = fake_dataset(tmp_path / "repo" / "mnist")
    cache = fake_dataset(tmp_path / "cache" / "digitnet" / "mnist")
    monkeypatch.setattr(data_module, "REPO_DATA_DIR", tmp_path / "repo")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setenv("DIGITNET_DATA_DIR", str(tmp_path / "env"))
    assert locate("mnist", explicit) == explicit
    assert locate("mnist") == env
    monkeypatch.delenv("DIGITNET_DATA_DIR")
    assert locate("mnist") == repo
    shutil.rmtree(repo)
    assert locate("mnist") == cache
    shutil.rmtree(cache)
    with pytest.raises(DataError, match="not found"):
        locate("mnist", download=False)


def test_raw_uncompressed_files_are_accepted(tmp_path):
    import gzip

    folder = tmp_path / "raw"
    folder.mkdir()
    for path in MNIST_DIR.glob("t10k-*.gz"):
        (folder / path.name[:-3]).write_bytes(gzip.decompress(path.read_bytes()))
    x, y = load_split(folder, "test", data_module.DATASETS["mnist"])
    assert x.shape == (10000, 784) and y[:3].tolist() == [7, 2, 1]


def test_fashion_mnist_same_api(fashion_dir):
    d = load_dataset("fashion-mnist", fashion_dir)
    assert d.x_train.shape == (55000, 784) and d.x_test.shape == (10000, 784)
    assert d.classes[0] == "T-shirt/top" and len(d.classes) == 10
    assert np.bincount(d.y_test).tolist() == [1000] * 10


def test_fashion_files_given_as_mnist_are_used_with_a_note(fashion_dir):
    d = load_dataset("mnist", fashion_dir)
    assert len(d.unverified) == 4 and d.classes == tuple(range(10))


@pytest.mark.parametrize("spelling", [
    lambda stem: stem.replace("-idx", ".idx"),            # 7-Zip, browsers on Windows
    lambda stem: stem.replace("-idx", ".idx") + ".gz",
    lambda stem: stem.replace("-", "_"),
    lambda stem: stem.upper()])
def test_other_spellings_of_the_file_names_are_found(tmp_path, spelling):
    source = fake_dataset(tmp_path / "canonical")
    folder = tmp_path / "renamed"
    folder.mkdir()
    for path in source.iterdir():
        (folder / spelling(path.name[:-3])).write_bytes(path.read_bytes())
    assert locate("mnist", folder) == folder
    x, y = load_split(folder, "train")
    assert x.shape == (40, 784)
    assert (folder / spelling("train-images-idx3-ubyte")).is_file()


def real_test_files(folder):
    """A folder with MNIST's two real test files only."""
    folder.mkdir(parents=True)
    for name in ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"):
        shutil.copy(MNIST_DIR / name, folder / name)
    return folder


def test_the_test_split_alone_needs_only_its_two_files(tmp_path):
    folder = real_test_files(tmp_path / "d")
    with pytest.raises(DataError, match="missing mnist file train-images-idx3-ubyte"):
        locate("mnist", folder)
    assert locate("mnist", folder, splits=("test",)) == folder
    d = load_dataset("mnist", folder, validation_size=0, splits=("test",))
    assert d.x_test.shape == (10000, 784) and d.x_train.shape == (0, 784) and len(d.x_val) == 0
    assert d.n_features == 784
    with pytest.raises(DataError, match="validation_size=0"):
        load_dataset("mnist", folder, splits=("test",))
    with pytest.raises(DataError, match="unknown split 'val'"):
        locate("mnist", folder, splits=("val",))


def test_a_corrupt_training_file_does_not_stop_reading_the_test_split(tmp_path):
    folder = real_test_files(tmp_path / "d")
    (folder / "train-images-idx3-ubyte.gz").write_bytes(b"<html>404</html>")
    (folder / "train-labels-idx1-ubyte.gz").write_bytes(b"<html>404</html>")
    assert load_dataset("mnist", folder, validation_size=0, splits=("test",)).x_test.shape == (10000, 784)
    with pytest.raises(DataError, match="HTML page"):
        load_dataset("mnist", folder)


def rewritten(path, change):
    """The file's IDX bytes changed by ``change``, gzipped again."""
    path.write_bytes(gzip.compress(change(gzip.decompress(path.read_bytes()))))


def truncated(path):
    rewritten(path, lambda idx: idx[:-7])


def too_long(path):
    rewritten(path, lambda idx: idx + b"\0" * 7)


def gzip_cut_short(path):
    path.write_bytes(path.read_bytes()[:len(path.read_bytes()) // 2])


def html_page(path):
    path.write_bytes(b"<!DOCTYPE html><html><body>404 Not Found</body></html>")


def fewer_labels(path):
    write_idx(path, np.zeros(19, np.uint8))                     # 20 test images


def images_for_labels(path):
    shutil.copy(path.parent / "t10k-images-idx3-ubyte.gz", path)


@pytest.mark.parametrize("name, corrupt, words", [
    ("t10k-images-idx3-ubyte.gz", truncated, "truncated"),
    ("t10k-images-idx3-ubyte.gz", too_long, "extra bytes"),
    ("t10k-images-idx3-ubyte.gz", gzip_cut_short, "corrupt gzip data"),
    ("t10k-images-idx3-ubyte.gz", html_page, "HTML page"),
    ("t10k-labels-idx1-ubyte.gz", truncated, "truncated"),
    ("t10k-labels-idx1-ubyte.gz", fewer_labels, "19 labels for 20 images"),
    ("t10k-labels-idx1-ubyte.gz", images_for_labels, "wrong magic number"),
])
@pytest.mark.parametrize("splits", [("train", "test"), ("test",)])
def test_a_corrupt_file_of_the_second_split_is_named(tmp_path, name, corrupt, words, splits):
    """The test split broken while the training files are fine: the message names the broken file."""
    folder = fake_dataset(tmp_path / "d")
    corrupt(folder / name)
    with pytest.raises(DataError) as err:
        load_dataset("mnist", folder, validation_size=5 if "train" in splits else 0, splits=splits)
    message = str(err.value)
    assert str(folder / name) in message and words in message and "\n" not in message
    assert "train-" not in message


# --- the splits of a labelled set without a test part (CSV files, picture folders) ----------------


def test_square_shape_only_for_square_sizes():
    assert data_module.square_shape(784) == (28, 28) and data_module.square_shape(1) == (1, 1)
    assert data_module.square_shape(0) is None and data_module.square_shape(783) is None
    assert data_module.square_shape(785) is None and data_module.square_shape(28 * 27) is None


def test_labelled_set_split_into_disjoint_parts_of_the_asked_sizes():
    images = np.arange(100, dtype=np.uint8).reshape(100, 1).repeat(4, axis=1)
    labels = np.array(["cat", "dog", "eel", "dog"] * 25)
    data = data_module.labelled_dataset("pets", "pets.csv", images, labels, validation_size=20)
    assert (len(data.x_test), len(data.x_val), len(data.x_train)) == (10, 20, 70)
    ids = [part[:, 0].tolist() for part in (data.x_train, data.x_val, data.x_test)]
    assert sorted(sum(ids, [])) == list(range(100))          # each example in exactly one part
    assert all(part == sorted(part) for part in ids)          # in file order within a part
    assert data.classes == ("cat", "dog", "eel") and data.name == "pets" and data.source == "pets.csv"
    for x, y in ((data.x_train, data.y_train), (data.x_val, data.y_val), (data.x_test, data.y_test)):
        np.testing.assert_array_equal(np.array(data.classes)[y], labels[x[:, 0]])
    again = data_module.labelled_dataset("pets", "pets.csv", images, labels, validation_size=20)
    np.testing.assert_array_equal(again.x_test, data.x_test)
    other = data_module.labelled_dataset("pets", "pets.csv", images, labels, 20, split_seed=1)
    assert other.x_test[:, 0].tolist() != data.x_test[:, 0].tolist()


def test_labelled_set_fraction_limit_and_the_smallest_split():
    images, labels = np.arange(40).reshape(40, 1), np.arange(40) % 2
    data = data_module.labelled_dataset("x", "x.csv", images, labels, 5, train_limit=7, test_fraction=0.25)
    assert (len(data.x_test), len(data.x_val), len(data.x_train)) == (10, 5, 7)
    # 3 examples: 1 test (at least one), 1 validation, 1 to train on.
    tiny = data_module.labelled_dataset("x", "x.csv", images[:3], labels[:3], 1, test_fraction=0.01)
    assert (len(tiny.x_test), len(tiny.x_val), len(tiny.x_train)) == (1, 1, 1)


def test_labelled_set_too_small_or_of_one_class_is_refused_with_the_reason():
    images = np.zeros((12, 4), np.uint8)
    with pytest.raises(DataError, match=r"^x\.csv: 12 examples cannot hold 1 test and 11 validation "
                                        r"examples and still train: lower --validation-size$"):
        data_module.labelled_dataset("x", "x.csv", images, np.arange(12) % 2, validation_size=11)
    with pytest.raises(DataError, match=r"^x\.csv: every example has the label 'seven': a classifier "
                                        r"needs examples of at least two classes$"):
        data_module.labelled_dataset("x", "x.csv", images, ["seven"] * 12, validation_size=2)


def test_test_only_set_is_all_test():
    images = np.arange(12, dtype=np.uint8).reshape(6, 2)
    data = data_module.test_only_dataset("pics", "pics/", images, [3, 1, 3, 2, 1, 1])
    assert data.x_test is images and data.y_test.tolist() == [2, 0, 2, 1, 0, 0]
    assert data.classes == (1, 2, 3) and data.x_train.shape == (0, 2) and data.x_val.shape == (0, 2)
    assert len(data.y_train) == len(data.y_val) == 0 and data.source == "pics/"


def test_unverified_note_names_the_files_or_the_missing_checksums():
    data = data_module.Dataset("mnist", *[np.zeros((0, 4))] * 6, classes=(), source="/d",
                               unverified=("a.gz", "b.gz"))
    assert data_module.unverified_note(data) == ("note: a.gz, b.gz in /d: not the known mnist files "
                                                 "(checksums differ), used as they are")
    data.name = "kmnist"
    assert data_module.unverified_note(data) == ("note: /d: kmnist's content checksums are not known, "
                                                 "so its files are used unverified")


def test_read_checked_returns_the_array_or_names_the_file_and_both_hashes(tmp_path):
    from digitnet.idx import read_idx

    path = tmp_path / "labels.gz"
    write_idx(path, np.array([3, 1, 4], np.uint8))
    sha = read_idx(path).sha256
    assert data_module.read_checked(path, 2049, sha).tolist() == [3, 1, 4]
    assert data_module.read_checked(path, 2049, None).tolist() == [3, 1, 4]    # no known hash
    wrong = "0" * 64
    with pytest.raises(DataError) as caught:
        data_module.read_checked(path, 2049, wrong)
    assert str(caught.value) == (f"{path}: checksum mismatch: content SHA-256 {sha[:16]}..., expected "
                                 "0000000000000000... (corrupt or a different dataset)")
