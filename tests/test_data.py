"""Finding, checking and splitting the datasets."""

import gzip
import shutil

import numpy as np
import pytest

import digitnet as dn
from digitnet import data as data_module
from digitnet.data import load_dataset, load_split, locate
from digitnet.errors import DataError
from digitnet.idx import read_idx, write_idx

from conftest import MNIST_DIR


def fake_dataset(folder, n_train=40, n_test=20, seed=0, labels=None, side=28):
    """Write a small valid IDX dataset with the canonical names into ``folder``."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    write_idx(folder / "train-images-idx3-ubyte.gz",
              rng.integers(0, 256, (n_train, side, side), dtype=np.uint8))
    write_idx(folder / "train-labels-idx1-ubyte.gz",
              labels if labels is not None else rng.integers(0, 10, n_train, dtype=np.uint8))
    write_idx(folder / "t10k-images-idx3-ubyte.gz",
              rng.integers(0, 256, (n_test, side, side), dtype=np.uint8))
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
    lambda stem: stem.upper(),
    lambda stem: stem.replace("-", "")])                  # separators left out
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
    assert len(data.y_train) == len(data.y_val) == 0 and data.source == "pics/" and data.name == "pics"


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


# --- what load_dataset hands back, its defaults and options ---------------------------------------


def test_load_dataset_defaults_to_mnist_and_says_where_each_part_came_from(tmp_path):
    """The result names the dataset and the folder, and its test part is the test files' content."""
    folder = fake_dataset(tmp_path / "d")
    d = load_dataset(data_dir=folder, validation_size=5)
    assert d.name == "mnist" and d.source == str(folder) and d.image_shape == (28, 28)
    x_test, y_test = load_split(folder, "test")
    np.testing.assert_array_equal(d.x_test, x_test)
    np.testing.assert_array_equal(d.y_test, y_test)


def test_the_default_validation_set_is_5000_training_images(tmp_path):
    """5,001 training images leave one to train on; 5,000 cannot give up all of theirs."""
    d = load_dataset("mnist", fake_dataset(tmp_path / "5001", n_train=5001, side=2))
    assert (len(d.x_train), len(d.x_val)) == (1, 5000)
    folder = fake_dataset(tmp_path / "5000", n_train=5000, side=2)
    with pytest.raises(DataError) as err:
        load_dataset("mnist", folder)
    assert str(err.value) == (f"validation size 5000 must be in [0, 5000) (5,000 training images in "
                              f"{folder}): lower --validation-size")


@pytest.mark.parametrize("size", [-1, 40, 41])
def test_a_validation_size_outside_the_training_set_is_refused_with_its_bounds(tmp_path, size):
    """A negative size, or one that leaves nothing to train on, is named with the range allowed."""
    folder = fake_dataset(tmp_path / "d")
    with pytest.raises(DataError) as err:
        load_dataset("mnist", folder, validation_size=size)
    assert str(err.value) == (f"validation size {size} must be in [0, 40) (40 training images in {folder}): "
                              "lower --validation-size")


@pytest.mark.parametrize("size", [0, 1, 39])
def test_each_training_image_goes_to_exactly_one_of_train_and_validation(tmp_path, size):
    """Even one validation image is taken out of the training part, at the smallest sizes too."""
    folder = fake_dataset(tmp_path / "d")
    x_all, y_all = load_split(folder, "train")
    d = load_dataset("mnist", folder, validation_size=size)
    order = np.random.default_rng(0).permutation(40)
    val, train = np.sort(order[:size]), np.sort(order[size:])
    np.testing.assert_array_equal(d.x_val, x_all[val])
    np.testing.assert_array_equal(d.y_val, y_all[val])
    np.testing.assert_array_equal(d.x_train, x_all[train])
    np.testing.assert_array_equal(d.y_train, y_all[train])


@pytest.mark.parametrize("options, asked, validated", [
    ({"small_set_validation": True}, 9, 4),        # more than a fifth of 40: a tenth instead
    ({"small_set_validation": True}, 8, 8),        # exactly a fifth: as asked
    ({"small_set_validation": False}, 9, 9),
    ({}, 30, 30),                                  # off by default
])
def test_small_set_validation_takes_a_tenth_when_more_than_a_fifth_is_asked(tmp_path, options, asked,
                                                                            validated):
    """An own small export validates on a tenth of its images instead of most of them."""
    d = load_dataset("mnist", fake_dataset(tmp_path / "d"), validation_size=asked, **options)
    assert (len(d.x_train), len(d.x_val)) == (40 - validated, validated)


def test_a_validation_set_with_only_the_test_split_is_refused_with_the_remedy(tmp_path):
    folder = fake_dataset(tmp_path / "d")
    with pytest.raises(DataError) as err:
        load_dataset("mnist", folder, validation_size=5, splits=("test",))
    assert str(err.value) == ("a validation set comes out of the training split: pass validation_size=0 "
                              "when loading only the test split")


@pytest.mark.parametrize("splits", [("test",), ("train",)])
def test_the_parts_of_a_split_not_loaded_are_empty_pixels_and_labels(tmp_path, splits):
    """Parts not read are (0, 784) uint8 images and (0,) int64 labels, as the loaded ones are."""
    d = load_dataset("mnist", fake_dataset(tmp_path / "d"), validation_size=0, splits=splits)
    loaded = {"train": len(d.x_train), "test": len(d.x_test)}
    assert loaded == {"train": 40 if "train" in splits else 0, "test": 20 if "test" in splits else 0}
    for x, y in ((d.x_train, d.y_train), (d.x_val, d.y_val), (d.x_test, d.y_test)):
        assert x.dtype == np.uint8 and x.shape == (len(x), 784)
        assert y.dtype == np.int64 and y.shape == (len(x),)


def test_an_empty_test_file_loads_as_an_empty_test_set_with_the_datasets_classes(tmp_path):
    folder = fake_dataset(tmp_path / "d", n_test=0)
    d = load_dataset("mnist", folder, validation_size=0, splits=("test",))
    assert d.x_test.shape == (0, 784) and d.classes == tuple(range(10))


@pytest.mark.parametrize("name, labels, classes", [
    ("fashion-mnist", np.arange(40) % 10, data_module.DATASETS["fashion-mnist"].classes),
    ("mnist", np.arange(40) % 5, tuple(range(10))),          # classes not seen are still classes
    ("mnist", np.arange(40) % 11, tuple(range(11))),         # one more than MNIST's: 0-10
])
def test_classes_are_the_datasets_own_unless_the_labels_go_beyond_them(tmp_path, name, labels, classes):
    """Files of one's own may add classes; Fashion-MNIST keeps its names."""
    folder = fake_dataset(tmp_path / "d", labels=labels.astype(np.uint8))
    assert load_dataset(name, folder, validation_size=5).classes == classes


def test_files_in_DIGITNET_DATA_DIR_are_the_users_own_used_with_a_note(tmp_path, monkeypatch):
    """The environment variable points at files as --data-dir does: other checksums and labels allowed."""
    folder = fake_dataset(tmp_path / "own", labels=np.arange(40, dtype=np.uint8) % 13)
    monkeypatch.setenv("DIGITNET_DATA_DIR", str(folder))
    d = load_dataset("mnist", validation_size=5)
    assert d.source == str(folder) and d.classes == tuple(range(13))
    assert d.unverified == ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz",
                            "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz")


@pytest.fixture
def no_local_data(tmp_path, monkeypatch):
    """No data folder given, none in the repository; the cache is tmp_path/cache. Returns the cache."""
    monkeypatch.setattr(data_module, "REPO_DATA_DIR", tmp_path / "no-repo")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.delenv("DIGITNET_DATA_DIR", raising=False)
    return tmp_path / "cache" / "digitnet"


def test_a_label_out_of_range_in_the_cache_is_an_error(no_local_data):
    """Files digitnet found itself must hold the dataset's classes (KMNIST has no checksums to tell)."""
    cache = fake_dataset(no_local_data / "kmnist", labels=np.full(40, 12, np.uint8))
    with pytest.raises(DataError) as err:
        load_dataset("kmnist", validation_size=5)
    assert str(err.value) == f"{cache / 'train-labels-idx1-ubyte.gz'}: label 12 out of range 0-9"


def test_nothing_found_is_downloaded_into_the_cache_unless_download_is_off(no_local_data, tmp_path,
                                                                           monkeypatch):
    from digitnet import download

    calls = []

    def fake_download(info, dest, stems=None):
        calls.append((info.name, dest, stems))
        return fake_dataset(dest)

    monkeypatch.setattr(download, "download_dataset", fake_download)
    cache = no_local_data / "kmnist"
    with pytest.raises(DataError) as err:
        load_dataset("kmnist", validation_size=5, download=False)
    assert str(err.value) == f"kmnist not found in {tmp_path / 'no-repo' / 'kmnist'} or {cache}"
    assert calls == []
    assert locate("kmnist", splits=("test",)) == cache
    shutil.rmtree(cache)
    d = load_dataset("kmnist", validation_size=5)
    assert d.source == str(cache) and d.x_test.shape == (20, 784)
    assert calls == [("kmnist", cache, ["t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"]),
                     ("kmnist", cache, ["train-images-idx3-ubyte", "train-labels-idx1-ubyte",
                                        "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"])]


@pytest.mark.parametrize("xdg", [None, ""])
def test_the_cache_is_under_home_when_XDG_CACHE_HOME_is_unset_or_empty(no_local_data, tmp_path,
                                                                        monkeypatch, xdg):
    """The XDG default, ~/.cache/digitnet/<dataset>."""
    if xdg is None:
        monkeypatch.delenv("XDG_CACHE_HOME")
    else:
        monkeypatch.setenv("XDG_CACHE_HOME", xdg)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    cache = fake_dataset(tmp_path / "home" / ".cache" / "digitnet" / "kmnist")
    assert locate("kmnist") == cache


# --- load_split's options, EMNIST's layout ---------------------------------------------------------


def test_load_split_accepts_any_label_from_the_first_class_on_without_check_range(tmp_path):
    folder = fake_dataset(tmp_path / "d", labels=np.full(40, 12, np.uint8))
    x, y = load_split(folder, "train", check_range=False)
    assert x.shape == (40, 784) and y.tolist() == [12] * 40


def test_load_split_collects_files_with_other_checksums_when_given_a_list(tmp_path):
    """Without the list such files are refused; with it they are named in it and used."""
    folder = fake_dataset(tmp_path / "d")
    mnist = data_module.DATASETS["mnist"]
    images = folder / "t10k-images-idx3-ubyte.gz"
    with pytest.raises(DataError) as err:
        load_split(folder, "test", mnist)
    sha = read_idx(images).sha256
    assert str(err.value) == (f"{images}: checksum mismatch: content SHA-256 {sha[:16]}..., "
                              "expected 0fa7898d509279e4... (corrupt or a different dataset)")
    unverified = []
    x, y = load_split(folder, "test", mnist, unverified)
    assert unverified == ["t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"] and x.shape == (20, 784)


def emnist_letters(folder, n=6, labels=None):
    """A tiny EMNIST letters folder: 2x3 images stored column by column, labels 1-26, a mapping file.

    Every image is [[0, 1, 2], [3, 4, 5]] upright; the labels are 1..n unless given; the mapping
    names the classes in lower case.
    """
    folder.mkdir(parents=True)
    upright = np.arange(6, dtype=np.uint8).reshape(1, 2, 3).repeat(n, axis=0)      # (n, 2, 3)
    labels = np.arange(1, n + 1, dtype=np.uint8) if labels is None else labels
    for split in ("train", "test"):
        write_idx(folder / f"emnist-letters-{split}-images-idx3-ubyte.gz", upright.transpose(0, 2, 1))
        write_idx(folder / f"emnist-letters-{split}-labels-idx1-ubyte.gz", labels)
    (folder / "emnist-letters-mapping.txt").write_text("".join(f"{i} {96 + i}\n" for i in range(1, 27)))
    return folder


def test_emnist_images_are_turned_upright_and_labels_counted_from_the_first_class(tmp_path):
    folder = emnist_letters(tmp_path / "emnist")
    x, y = load_split(folder, "train", data_module.DATASETS["emnist-letters"])
    assert x.tolist() == [[0, 1, 2, 3, 4, 5]] * 6 and y.tolist() == [0, 1, 2, 3, 4, 5]
    d = load_dataset("emnist-letters", folder, validation_size=2)
    assert d.classes == tuple("abcdefghijklmnopqrstuvwxyz")          # from the mapping file
    assert d.image_shape == d.shape_2d == (2, 3) and d.x_test.tolist() == [[0, 1, 2, 3, 4, 5]] * 6


def test_read_checked_refuses_a_file_of_the_other_kind(tmp_path):
    """Labels where images are expected: the magic number says so before any checksum."""
    path = tmp_path / "labels.gz"
    write_idx(path, np.array([3, 1, 4], np.uint8))
    with pytest.raises(DataError) as caught:
        data_module.read_checked(path, 2051, None)
    assert str(caught.value) == f"{path}: wrong magic number 0x00000801, expected 0x00000803"


def test_labelled_set_validates_on_5000_examples_by_default():
    images, labels = np.arange(6000).reshape(6000, 1), np.arange(6000) % 2
    data = data_module.labelled_dataset("x", "x.csv", images, labels)
    assert (len(data.x_test), len(data.x_val), len(data.x_train)) == (600, 5000, 400)


def test_an_unknown_dataset_is_named_with_the_choices():
    with pytest.raises(DataError) as err:
        data_module.dataset_info("cifar")
    assert str(err.value) == ("unknown dataset 'cifar'; choose one of mnist, fashion-mnist, kmnist, qmnist, "
                              "emnist-digits, emnist-letters, emnist-balanced, emnist-byclass, "
                              "emnist-bymerge, emnist-mnist")


def test_load_split_names_the_missing_file(tmp_path):
    folder = fake_dataset(tmp_path / "d")
    (folder / "t10k-labels-idx1-ubyte.gz").unlink()
    with pytest.raises(DataError) as err:
        load_split(folder, "test")
    assert str(err.value) == f"{folder / 't10k-labels-idx1-ubyte'}[.gz]: file not found"


def test_a_data_dir_without_the_datasets_files_names_the_first_missing_one(tmp_path):
    folder = fake_dataset(tmp_path / "d")
    (folder / "train-labels-idx1-ubyte.gz").unlink()
    (folder / "t10k-labels-idx1-ubyte.gz").unlink()
    with pytest.raises(DataError) as err:
        locate("mnist", folder)
    assert str(err.value) == f"{folder}: missing mnist file train-labels-idx1-ubyte[.gz]"


@pytest.mark.parametrize("holder", ["", "gzip"])
def test_a_data_dir_with_another_datasets_files_says_which_to_choose(tmp_path, holder):
    """EMNIST's files, in the folder or in gzip/ as its archive unpacks, asked for as MNIST."""
    folder = tmp_path / "d"
    emnist_letters(folder / holder)
    with pytest.raises(DataError) as err:
        locate("mnist", folder)
    assert str(err.value) == (f"{folder}: missing mnist file train-images-idx3-ubyte[.gz] "
                              "(it holds emnist-letters files: add --dataset emnist-letters)")
    assert locate("emnist-letters", folder) == folder / holder


LETTERS = "".join(f"{i} {64 + i} {96 + i}\n" for i in range(1, 27))     # as EMNIST ships it


@pytest.mark.parametrize("mapping, classes, first", [
    (None, data_module.DATASETS["emnist-balanced"].classes, 0),      # no file: the description's
    (LETTERS, tuple("ABCDEFGHIJKLMNOPQRSTUVWXYZ"), 1),                # the first code names the class
    ("".join(f"{d} {48 + d}\n" for d in range(10)), tuple(range(10)), 0),   # digits: ints, as MNIST's
    ("0 48\n1 49\n2 65\n", ("0", "1", "A"), 0),                      # digits among letters: names
    ("\n10 65\n\n11 66\n", ("A", "B"), 10),                           # blank lines skipped
])
def test_a_mapping_file_beside_the_images_gives_the_classes_and_the_first_label(tmp_path, mapping, classes,
                                                                               first):
    if mapping is not None:
        (tmp_path / "emnist-balanced-mapping.txt").write_text(mapping)
    assert data_module.class_names(data_module.DATASETS["emnist-balanced"], tmp_path) == (classes, first)


@pytest.mark.parametrize("content, problem", [
    (b"1 A\n2 B\n", "not a class mapping file (lines of 'label character-code')"),
    (b"1\n2\n", "not a class mapping file (lines of 'label character-code')"),
    (b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR", "not a class mapping file (lines of 'label character-code')"),
    (b"1 65\n2 66\n3 67\n5 69\n", "the labels [1, 2, 3]... are not consecutive"),
    (b"\n \n", "the labels []... are not consecutive"),
    # Digits of another script (Python's int() reads them) in the UTF-8 a locale would decode:
    # the format is ASCII, whatever the machine's locale.
    ("1 \u0666\u0665\n2 \u0666\u0666\n".encode(), "not a class mapping file (lines of 'label "
                                                  "character-code')"),
])
def test_a_mapping_file_that_is_not_one_is_refused_naming_it(tmp_path, content, problem):
    path = tmp_path / "emnist-balanced-mapping.txt"
    path.write_bytes(content)
    with pytest.raises(DataError) as err:
        data_module.class_names(data_module.DATASETS["emnist-balanced"], tmp_path)
    assert str(err.value) == f"{path}: {problem}"


def test_a_label_below_the_first_class_is_named_with_the_range_allowed(tmp_path):
    """EMNIST letters count from 1: a 0 is out of range, in the dataset's files and in one's own."""
    folder = emnist_letters(tmp_path / "emnist", labels=np.array([1, 0, 6, 2, 3, 4], np.uint8))
    labels = folder / "emnist-letters-train-labels-idx1-ubyte.gz"
    with pytest.raises(DataError) as err:
        load_split(folder, "train", data_module.DATASETS["emnist-letters"])
    assert str(err.value) == f"{labels}: label 0 out of range 1-26"
    with pytest.raises(DataError) as err:                      # files of one's own: no upper bound
        load_dataset("emnist-letters", folder, validation_size=2)
    assert str(err.value) == f"{labels}: label 0 out of range 1 and above"


def test_qmnist_labels_are_the_first_column_of_their_table(tmp_path):
    """QMNIST's label files are int32 tables: class, NIST series, writer id, ..."""
    folder = tmp_path / "qmnist"
    folder.mkdir()
    table = np.array([[7, 3, 41], [2, 3, 42], [9, 1, 43]], np.int32)      # (n, columns)
    for split in ("train", "test"):
        write_idx(folder / f"qmnist-{split}-images-idx3-ubyte.gz", np.zeros((3, 28, 28), np.uint8))
        write_idx(folder / f"qmnist-{split}-labels-idx2-int.gz", table)
    x, y = load_split(folder, "train", data_module.DATASETS["qmnist"])
    assert x.shape == (3, 784) and y.tolist() == [7, 2, 9] and y.dtype == np.int64


def test_fewer_labels_than_images_names_both_files_with_the_counts(tmp_path):
    folder = fake_dataset(tmp_path / "d", labels=np.zeros(39, dtype=np.uint8))
    with pytest.raises(DataError) as err:
        load_split(folder, "train")
    assert str(err.value) == (f"{folder / 'train-labels-idx1-ubyte.gz'}: 39 labels for 40 images in "
                              "train-images-idx3-ubyte.gz")


def test_kaggles_layout_of_one_folder_per_file_is_found(tmp_path):
    """Kaggle's MNIST unpacks each file into a folder of its name; other files beside it are ignored."""
    source = fake_dataset(tmp_path / "canonical")
    folder = tmp_path / "kaggle"
    for path in source.iterdir():
        inner = folder / path.name[:-3]                   # t10k-images-idx3-ubyte/t10k-images-idx3-ubyte
        inner.mkdir(parents=True)
        (inner / path.name[:-3]).write_bytes(gzip.decompress(path.read_bytes()))
        (inner / ".DS_Store").write_bytes(b"\0\0\0\1Bud1")
    assert locate("mnist", folder) == folder
    x, y = load_split(folder, "test")
    np.testing.assert_array_equal(x, load_split(source, "test")[0])


def test_label_files_that_do_not_hold_integers_are_refused_naming_the_file(tmp_path):
    """A description of one's own may declare float labels; classes must still be integers."""
    folder = fake_dataset(tmp_path / "d")
    write_idx(folder / "train-labels-idx1-ubyte.gz", np.full(40, 1.5, np.float32))
    info = data_module.DatasetInfo(name="own", labels_magic=0x00000D01)      # float32, 1 dimension
    with pytest.raises(DataError) as err:
        load_split(folder, "train", info)
    assert str(err.value) == (f"{folder / 'train-labels-idx1-ubyte.gz'}: expected a 1-d label array, "
                              "got float32 (40,)")
