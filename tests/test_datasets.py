"""MNIST's relatives by name: EMNIST, KMNIST and QMNIST layouts, built from MNIST.

No new data is shipped: each layout is written from MNIST's own images the
way its publisher stores them (EMNIST transposed, with a mapping file and
letters counted from 1; QMNIST with a table of int32 labels), so the right
reading gives back MNIST exactly and a wrong one cannot.
"""

import dataclasses
import gzip
import hashlib
import http.server
import json
import threading
import zipfile
from functools import partial

import numpy as np
import pytest

import digitnet as dn
from digitnet import data as data_module
from digitnet.cli import main
from digitnet.data import DATASETS, load_dataset, load_split, locate, unverified_note
from digitnet.errors import DataError
from digitnet.idx import read_idx, write_idx

from conftest import MNIST_DIR

N_TRAIN, N_TEST = 3000, 1000


@pytest.fixture(scope="module")
def mnist_part():
    """The first 3000 training and 1000 test images of MNIST, as (n, 28, 28) uint8."""
    x, y = load_split(MNIST_DIR, "train")
    xt, yt = load_split(MNIST_DIR, "test")
    return (x[:N_TRAIN].reshape(-1, 28, 28), y[:N_TRAIN].astype(np.uint8),
            xt[:N_TEST].reshape(-1, 28, 28), yt[:N_TEST].astype(np.uint8))


def write_layout(folder, info, mnist_part, labels=lambda y: y, mapping=None):
    """Write MNIST images in ``info``'s layout: its names, orientation and label format."""
    folder.mkdir(parents=True, exist_ok=True)
    x, y, xt, yt = mnist_part
    for split, images, classes in (("train", x, y), ("test", xt, yt)):
        if info.transposed:
            images = images.transpose(0, 2, 1)         # EMNIST stores each image column by column
        stored = labels(classes)
        if info.labels_magic != 0x801:                  # QMNIST: (n, 8) int32, class in column 0
            table = np.zeros((len(stored), 8), np.int32)
            table[:, 0] = stored
            table[:, 1:] = np.arange(1, 8) * 1000       # writer and series ids: must not be read
            stored = table
        write_idx(folder / f"{info.files[split + '_images']}.gz", images)
        write_idx(folder / f"{info.files[split + '_labels']}.gz", stored)
    if mapping is not None:
        (folder / info.mapping_file).write_text(mapping)
    return folder


DIGIT_MAPPING = "".join(f"{d} {48 + d}\n" for d in range(10))


def test_emnist_layout_reads_back_mnist_upright(tmp_path, mnist_part):
    info = DATASETS["emnist-digits"]
    folder = write_layout(tmp_path / "emnist", info, mnist_part, mapping=DIGIT_MAPPING)
    d = load_dataset("emnist-digits", folder, validation_size=0)
    x, y, xt, yt = mnist_part
    np.testing.assert_array_equal(d.x_train, x.reshape(N_TRAIN, -1))   # transposed back: upright
    np.testing.assert_array_equal(d.y_test, yt)
    assert d.classes == tuple(range(10))                                # ints, as MNIST's
    raw = read_idx(folder / f"{info.files['train_images']}.gz").data
    assert not np.array_equal(raw.reshape(N_TRAIN, -1), d.x_train)       # the files really are transposed
    assert len(d.unverified) == 4 and "checksums are not known" in unverified_note(d)


def test_emnist_letters_count_from_one_and_take_names_from_the_mapping(tmp_path, mnist_part):
    info = DATASETS["emnist-letters"]
    mapping = "".join(f"{label} {64 + label} {96 + label}\n" for label in range(1, 11))   # 1 -> A/a
    folder = write_layout(tmp_path / "letters", info, mnist_part, labels=lambda y: y + 1, mapping=mapping)
    d = load_dataset("emnist-letters", folder, validation_size=100)
    assert d.classes == tuple("ABCDEFGHIJ")
    np.testing.assert_array_equal(d.y_test, mnist_part[3])               # label 1 is class index 0
    (folder / info.mapping_file).unlink()                                 # without it: the description's
    d = load_dataset("emnist-letters", folder, validation_size=100)
    assert len(d.classes) == 26 and d.classes[:2] == ("A", "B")
    np.testing.assert_array_equal(d.y_test, mnist_part[3])


def test_emnist_letters_label_zero_is_out_of_range(tmp_path, mnist_part):
    info = DATASETS["emnist-letters"]
    folder = write_layout(tmp_path / "letters", info, mnist_part)        # labels from 0: not letters
    with pytest.raises(DataError) as err:
        load_split(folder, "test", info)
    assert "emnist-letters-test-labels-idx1-ubyte.gz" in str(err.value)
    assert "label 0 out of range 1-26" in str(err.value)


@pytest.mark.parametrize("content", ["0 48\n1 x\n", "0 48\n2 50\n", "\x89PNG\r\n"])
def test_a_broken_mapping_file_is_named(tmp_path, mnist_part, content):
    info = DATASETS["emnist-digits"]
    folder = write_layout(tmp_path / "e", info, mnist_part, mapping=content)
    with pytest.raises(DataError) as err:
        load_dataset("emnist-digits", folder, validation_size=0)
    assert info.mapping_file in str(err.value) and "\n" not in str(err.value)


def test_emnist_unpacked_archive_folder_is_found(tmp_path, mnist_part):
    """EMNIST's zip unpacks into gzip/ holding every split: --data-dir may name its parent."""
    write_layout(tmp_path / "EMNIST" / "gzip", DATASETS["emnist-mnist"], mnist_part, mapping=DIGIT_MAPPING)
    assert locate("emnist-mnist", tmp_path / "EMNIST") == tmp_path / "EMNIST" / "gzip"


def test_qmnist_label_table_uses_its_first_column(tmp_path, mnist_part):
    folder = write_layout(tmp_path / "q", DATASETS["qmnist"], mnist_part)
    d = load_dataset("qmnist", folder, validation_size=0)
    np.testing.assert_array_equal(d.y_train, mnist_part[1])
    np.testing.assert_array_equal(d.x_test, mnist_part[2].reshape(N_TEST, -1))
    assert d.classes == tuple(range(10))


def test_kmnist_has_its_class_names(tmp_path, mnist_part):
    folder = write_layout(tmp_path / "k", DATASETS["kmnist"], mnist_part)
    d = load_dataset("kmnist", folder, validation_size=0, splits=("test",))
    assert d.classes[:3] == ("o", "ki", "su") and len(d.x_test) == N_TEST


def test_emnist_layout_trains_like_mnist_and_its_model_reads_mnist(tmp_path, mnist_part, capsys):
    """The user's path: train on the EMNIST-layout files, evaluate on plain MNIST: same accuracy."""
    write_layout(tmp_path / "emnist", DATASETS["emnist-digits"], mnist_part, mapping=DIGIT_MAPPING)
    write_layout(tmp_path / "mnist", DATASETS["mnist"], mnist_part)
    flags = ["--preset", "quick", "--epochs", "6", "--hidden", "64", "--validation-size", "500",
             "--seed", "3"]
    assert main(["train", "--dataset", "emnist-digits", "--data-dir", str(tmp_path / "emnist"),
                 "--out", str(tmp_path / "run-e"), *flags]) == 0
    assert main(["train", "--dataset", "mnist", "--data-dir", str(tmp_path / "mnist"),
                 "--out", str(tmp_path / "run-m"), *flags]) == 0
    capsys.readouterr()
    results = {}
    for run, dataset, folder in (("run-e", "emnist-digits", "emnist"), ("run-m", "mnist", "mnist"),
                                 ("run-e", "mnist", "mnist")):
        assert main(["evaluate", str(tmp_path / run / "model.npz"), "--dataset", dataset,
                     "--data-dir", str(tmp_path / folder), "--json"]) == 0
        results[run, dataset] = json.loads(capsys.readouterr().out.strip().splitlines()[-1])["test_accuracy"]
    # Same images in the same order after transposing back: the same training, bit for bit.
    # Measured 0.838 on the 1,000 test images; the standard error sqrt(p(1-p)/n) is 0.012, and
    # 0.8 was only 3 of them below: 0.78 is 5.
    assert results["run-e", "emnist-digits"] == results["run-m", "mnist"] > 0.78
    assert results["run-e", "mnist"] == results["run-m", "mnist"]        # the EMNIST model reads MNIST
    net, meta = dn.load_model(tmp_path / "run-e" / "model.npz")
    assert meta["dataset"] == "emnist-digits"
    # Control: the same files read without turning them upright are not digits to the network.
    sideways = dataclasses.replace(DATASETS["emnist-digits"], transposed=False)
    x, y = load_split(tmp_path / "emnist", "test", sideways)
    assert (net.predict(x / 255.0) == y).mean() < 0.5


# --- downloads, from a real HTTP server on loopback -------------------------------------------------

class CountingHandler(http.server.SimpleHTTPRequestHandler):
    requests: list = []

    def do_GET(self):
        self.requests.append(self.path)
        super().do_GET()

    def log_message(self, *args):
        pass


@pytest.fixture
def served(tmp_path):
    """A folder served on loopback: (folder, base URL)."""
    root = tmp_path / "www"
    root.mkdir()
    CountingHandler.requests = []
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), partial(CountingHandler, directory=str(root)))
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield root, f"http://127.0.0.1:{httpd.server_address[1]}/"
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture
def empty_cache(tmp_path, monkeypatch):
    monkeypatch.setattr(data_module, "REPO_DATA_DIR", tmp_path / "no-repo-data")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    monkeypatch.delenv("DIGITNET_DATA_DIR", raising=False)
    return tmp_path / "xdg" / "digitnet"


def md5(path):
    return hashlib.md5(path.read_bytes()).hexdigest()


def test_qmnist_downloads_by_name_checked_against_published_md5(served, empty_cache, monkeypatch,
                                                               mnist_part):
    root, url = served
    info = DATASETS["qmnist"]
    write_layout(root, info, mnist_part)
    published = {p.name: md5(p) for p in root.iterdir()}
    monkeypatch.setitem(DATASETS, "qmnist", dataclasses.replace(info, mirrors=(url,), download_md5=published))
    d = load_dataset("qmnist", validation_size=0, splits=("test",))      # the test files only
    assert d.source == str(empty_cache / "qmnist") and len(d.x_test) == N_TEST and not d.unverified
    assert sorted(CountingHandler.requests) == ["/qmnist-test-images-idx3-ubyte.gz",
                                                "/qmnist-test-labels-idx2-int.gz"]


def test_a_download_with_the_wrong_md5_leaves_nothing(served, empty_cache, monkeypatch, mnist_part):
    root, url = served
    info = DATASETS["kmnist"]
    write_layout(root, info, mnist_part)
    monkeypatch.setitem(DATASETS, "kmnist", dataclasses.replace(info, mirrors=(url,)))   # real KMNIST MD5s
    with pytest.raises(DataError) as err:
        load_dataset("kmnist", validation_size=0)
    assert "MD5" in str(err.value) and "\n" not in str(err.value)
    assert list((empty_cache / "kmnist").iterdir()) == []


def test_emnist_archive_downloads_once_for_every_split(served, empty_cache, monkeypatch, mnist_part,
                                                       tmp_path):
    root, url = served
    staging = tmp_path / "staging"
    write_layout(staging, DATASETS["emnist-digits"], mnist_part, mapping=DIGIT_MAPPING)
    letters = "".join(f"{label} {64 + label} {96 + label}\n" for label in range(1, 11))
    write_layout(staging, DATASETS["emnist-letters"], mnist_part, labels=lambda y: y + 1, mapping=letters)
    with zipfile.ZipFile(root / "gzip.zip", "w") as zf:       # as NIST publishes it: gzip/<files>
        for path in sorted(staging.iterdir()):
            zf.write(path, f"gzip/{path.name}")
    for name in ("emnist-digits", "emnist-letters"):
        monkeypatch.setitem(DATASETS, name, dataclasses.replace(
            DATASETS[name], archive=(url + "gzip.zip",), download_md5={"gzip.zip": md5(root / "gzip.zip")}))
    digits = load_dataset("emnist-digits", validation_size=0)
    letters_set = load_dataset("emnist-letters", validation_size=0)
    assert CountingHandler.requests == ["/gzip.zip"]                     # one archive for both splits
    np.testing.assert_array_equal(digits.x_test, mnist_part[2].reshape(N_TEST, -1))
    assert letters_set.classes == tuple("ABCDEFGHIJ") and digits.classes == tuple(range(10))
    assert sorted(p.name for p in (empty_cache / "emnist-digits").iterdir()) == sorted(
        [f"{stem}.gz" for stem in DATASETS["emnist-digits"].files.values()] + ["emnist-digits-mapping.txt"])


def test_an_archive_without_the_split_is_named(served, empty_cache, monkeypatch):
    root, url = served
    with zipfile.ZipFile(root / "gzip.zip", "w") as zf:
        zf.writestr("gzip/readme.txt", "nothing here")
    monkeypatch.setitem(DATASETS, "emnist-digits", dataclasses.replace(
        DATASETS["emnist-digits"], archive=(url + "gzip.zip",), download_md5={}))
    with pytest.raises(DataError) as err:
        load_dataset("emnist-digits", validation_size=0)
    assert "gzip.zip" in str(err.value) and "emnist-digits-train-images-idx3-ubyte" in str(err.value)
    assert not any(p.name.startswith(".") for p in (empty_cache / "emnist-digits").iterdir())


def test_every_described_dataset_is_complete():
    for name, info in DATASETS.items():
        assert info.name == name and info.title
        assert sorted(info.files) == ["test_images", "test_labels", "train_images", "train_labels"]
        assert info.mirrors or info.archive, name
        assert info.classes is not None and len(set(info.classes)) == len(info.classes)
        assert all(len(h) == 64 for h in info.sha256.values()) and all(len(h) == 32 for h in
                                                                       info.download_md5.values())


def test_raw_gzip_member_files_are_not_needed(tmp_path, mnist_part):
    """Files unpacked from their .gz (as gunzip leaves them) are found under the same names."""
    info = DATASETS["emnist-digits"]
    folder = write_layout(tmp_path / "e", info, mnist_part, mapping=DIGIT_MAPPING)
    for path in folder.glob("*.gz"):
        path.with_suffix("").write_bytes(gzip.decompress(path.read_bytes()))
        path.unlink()
    d = load_dataset("emnist-digits", folder, validation_size=0, splits=("test",))
    np.testing.assert_array_equal(d.y_test, mnist_part[3])


# --- sizes and layouts from the user's own files -----------------------------------------------------

def shrunk_set(folder, mnist_part, side, n_train=1500):
    """MNIST shrunk to side x side, as an own IDX export (any size the files say)."""
    from PIL import Image

    x, y, xt, yt = mnist_part
    small = lambda a: np.stack([np.asarray(Image.fromarray(im).resize((side, side), Image.Resampling.BOX))  # noqa: E731
                                for im in a])
    folder.mkdir(parents=True, exist_ok=True)
    write_idx(folder / "train-images-idx3-ubyte.gz", small(x[:n_train]))
    write_idx(folder / "train-labels-idx1-ubyte.gz", y[:n_train])
    write_idx(folder / "t10k-images-idx3-ubyte.gz", small(xt[:300]))
    write_idx(folder / "t10k-labels-idx1-ubyte.gz", yt[:300])
    return folder


@pytest.mark.parametrize("side", [8, 32])
def test_an_8x8_or_32x32_set_trains_plots_and_reads_pictures(tmp_path, mnist_part, side, capsys):
    from PIL import Image

    folder = shrunk_set(tmp_path / f"own{side}", mnist_part, side)
    run = tmp_path / "run"
    assert main(["train", "--data-dir", str(folder), "--epochs", "1", "--hidden", "32",
                 "--out", str(run)]) == 0
    out = capsys.readouterr().out
    assert "validating on 150 of its training images (a tenth" in out        # a small set: not 5,000
    assert {"misclassified.png", "weights.png", "model.npz"} <= {p.name for p in run.iterdir()}
    meta = dn.load_model(run / "model.npz")[1]
    assert meta["image_shape"] == [side, side] and f"{side}x{side}" in meta["preprocessing"]["input"]
    picture = tmp_path / "seven.png"
    canvas = Image.new("L", (200, 200), 255)
    from PIL import ImageDraw
    ImageDraw.Draw(canvas).line([(50, 40), (150, 40), (90, 170)], fill=0, width=14)
    canvas.save(picture)
    assert main(["predict", str(run / "model.npz"), str(picture), "--json",
                 "--save-input", str(tmp_path / "seen")]) == 0
    entry = json.loads(capsys.readouterr().out)["predictions"][0]
    assert entry["status"] == "ok" and len(entry["probabilities"]) == 10
    saved = next((tmp_path / "seen").iterdir())
    assert saved.name == f"seven-{side}x{side}.png" and Image.open(saved).size == (side, side)
    assert main(["plot", str(run), "--data-dir", str(folder)]) == 0


def test_kaggle_folder_per_file_layout_is_found(tmp_path):
    """Kaggle's MNIST copy unpacks t10k-images-idx3-ubyte/t10k-images-idx3-ubyte."""
    for path in MNIST_DIR.glob("t10k-*.gz"):
        stem = path.name[:-3].replace("-idx", ".idx")
        (tmp_path / stem).mkdir()
        (tmp_path / stem / stem).write_bytes(gzip.decompress(path.read_bytes()))
    d = load_dataset("mnist", tmp_path, validation_size=0, splits=("test",))
    assert len(d.x_test) == 10000 and not d.unverified


def test_files_of_another_known_dataset_are_named(tmp_path, mnist_part):
    write_layout(tmp_path / "e", DATASETS["emnist-digits"], mnist_part, mapping=DIGIT_MAPPING)
    with pytest.raises(DataError, match="holds emnist-digits files: add --dataset emnist-digits"):
        load_dataset("mnist", tmp_path / "e")


def test_a_tar_archive_is_named(tmp_path):
    import io
    import tarfile

    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        info = tarfile.TarInfo("t10k-images-idx3-ubyte")
        info.size = 10
        tar.addfile(info, io.BytesIO(b"0123456789"))
    (tmp_path / "t10k-images-idx3-ubyte.gz").write_bytes(buffer.getvalue())
    with pytest.raises(DataError, match="tar archive: unpack it first"):
        read_idx(tmp_path / "t10k-images-idx3-ubyte.gz")


def test_a_labelled_csv_scaled_to_0_1_gets_the_hint(tmp_path):
    from digitnet.csvdata import read_labelled_csv

    path = tmp_path / "scaled.csv"
    path.write_text("label," + ",".join(f"pixel{i}" for i in range(4)) + "\n7,0,0.5,0.25,1\n9,0,0,0,0\n")
    with pytest.raises(DataError, match="multiply them by 255"):
        read_labelled_csv(path, 4)


def test_a_download_serving_html_names_the_address(served, empty_cache, monkeypatch):
    root, url = served
    (root / "t10k-images-idx3-ubyte.gz").write_text("<!doctype html><title>404</title>")
    monkeypatch.setitem(DATASETS, "kmnist", dataclasses.replace(DATASETS["kmnist"], mirrors=(url,),
                                                                download_md5={}))
    with pytest.raises(DataError) as err:
        load_dataset("kmnist", validation_size=0, splits=("test",))
    message = str(err.value)
    assert "HTML page" in message and url in message and ".part" not in message


def test_a_csv_run_resumes_without_data_dir_and_evaluating_its_file_says_so(tmp_path, mnist_part, capsys):
    x, y, _, _ = mnist_part
    csv = tmp_path / "train.csv"
    rows = np.column_stack([y[:1200], x[:1200].reshape(1200, -1)])
    np.savetxt(csv, rows, fmt="%d", delimiter=",", comments="",
               header="label," + ",".join(f"pixel{i}" for i in range(784)))
    run = tmp_path / "run"
    assert main(["train", "--data-dir", str(csv), "--epochs", "1", "--hidden", "32", "--out", str(run),
                 "--checkpoint-every", "1", "--no-plots"]) == 0
    capsys.readouterr()
    assert main(["train", "--resume", str(run), "--epochs", "2"]) == 0     # the run's own CSV, found again
    out = capsys.readouterr().out
    assert f"from {csv}" in out and "on mnist" not in out
    assert main(["evaluate", str(run / "model.npz"), "--data-dir", str(csv)]) == 0
    assert "counts its training examples too" in capsys.readouterr().err


def test_other_label_column_names_and_unknown_labels_name_the_file(tmp_path, mnist_part, capsys):
    from digitnet.csvdata import read_labelled_csv

    x, y, _, _ = mnist_part
    for name in ("class", "target", "Digit"):
        path = tmp_path / f"{name}.csv"
        rows = np.column_stack([y[:5], x[:5].reshape(5, -1)])
        np.savetxt(path, rows, fmt="%d", delimiter=",", comments="",
                   header=f"{name}," + ",".join(f"p{i}" for i in range(784)))
        images, labels = read_labelled_csv(path, 784)
        assert list(labels) == list(y[:5])
    odd = tmp_path / "odd.csv"
    np.savetxt(odd, np.column_stack([y[:5], x[:5].reshape(5, -1)]), fmt="%d", delimiter=",", comments="",
               header="kind," + ",".join(f"p{i}" for i in range(784)))
    with pytest.raises(DataError, match="if the first column, 'kind', holds the labels, name it 'label'"):
        read_labelled_csv(odd, 784)
    ten = tmp_path / "ten.csv"
    np.savetxt(ten, np.column_stack([np.full(5, 10), x[:5].reshape(5, -1)]), fmt="%d", delimiter=",")
    assert main(["evaluate", str(MNIST_DIR.parents[1] / "models" / "mnist-best.npz"),
                 "--data-dir", str(ten)]) == 1
    err = capsys.readouterr().err
    assert str(ten) in err and "class 10" in err and len(err.strip().splitlines()) == 1
