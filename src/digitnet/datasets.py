"""The datasets digitnet knows by name, each described by what its files are.

MNIST's relatives share its IDX format but not its details. A description
says, for one dataset:

- which files hold each split (``files``), and where to download them: base
  URLs of mirrors serving each file as ``<stem>.gz``, or a zip archive
  holding them all (EMNIST publishes one ``gzip.zip`` for its six splits);
- how to read them: images stored transposed (EMNIST, written column by
  column), labels in a 2-d table whose first column is the class (QMNIST),
  labels counted from 1 (EMNIST letters);
- the classes: names, or a mapping file shipped with the data (EMNIST's
  ``emnist-<split>-mapping.txt``: ``label ascii-code [ascii-code ...]``);
- how to check them: the SHA-256 of each file's decompressed content where
  known (MNIST, Fashion-MNIST), else the MD5 the publisher or torchvision
  gives for the downloaded file.

Sources: MNIST, LeCun, Cortes and Burges (http://yann.lecun.com/exdb/mnist/);
Fashion-MNIST, Xiao, Rasul and Vollgraf 2017 (arXiv:1708.07747); KMNIST,
Clanuwat et al. 2018 (arXiv:1812.01718); QMNIST, Yadav and Bottou 2019
(arXiv:1905.10498); EMNIST, Cohen, Afshar, Tapson and van Schaik 2017
(arXiv:1702.05373). Download URLs and MD5s as in torchvision's
``torchvision/datasets/mnist.py``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .idx import IMAGES_MAGIC, LABELS_MAGIC

# The split parts, and MNIST's file stems for them (most relatives reuse these names).
PARTS = ("train_images", "train_labels", "test_images", "test_labels")
MNIST_FILES = dict(zip(PARTS, ("train-images-idx3-ubyte", "train-labels-idx1-ubyte",
                               "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")))
# QMNIST's labels: int32, 2 dims (count, 8): class, NIST series, writer, ... (Yadav and Bottou 2019).
TABLE_LABELS_MAGIC = 0x00000C02


@dataclass(frozen=True)
class DatasetInfo:
    """What digitnet knows about one dataset.

    Attributes
    ----------
    name : str
        The name given to ``--dataset`` and recorded in model files.
    title : str
        One line for help texts.
    files : dict
        Part (``"train_images"``, ``"train_labels"``, ``"test_images"``,
        ``"test_labels"``) -> file stem, without ``.gz``.
    sha256 : dict
        File stem -> SHA-256 of its decompressed content, where known.
    classes : tuple or None
        The label of each class index; None: the labels are the classes.
    mapping_file : str or None
        A file beside the images mapping each label to character codes; when
        present it gives the classes and the label offset.
    label_offset : int
        The label of class index 0 when no mapping file says it (1 for EMNIST letters).
    labels_magic : int
        The label files' IDX magic number: ``0x801`` (uint8, 1 dim) or
        ``0xC02`` (int32 table, class in column 0).
    transposed : bool
        Images are stored column by column and are transposed on reading, so
        that every dataset reaches the network upright, as MNIST does.
    mirrors : tuple of str
        Base URLs serving ``<stem>.gz``, tried in order.
    archive : tuple of str
        URLs of one zip archive holding the files (any folder inside it), tried in order.
    download_md5 : dict
        Downloaded file name (``<stem>.gz`` or the archive's name) -> its MD5, where published.
    """

    name: str
    title: str = ""
    files: dict[str, str] = field(default_factory=lambda: dict(MNIST_FILES))
    sha256: dict[str, str] = field(default_factory=dict)
    classes: tuple | None = None
    mapping_file: str | None = None
    label_offset: int = 0
    labels_magic: int = LABELS_MAGIC
    transposed: bool = False
    mirrors: tuple[str, ...] = ()
    archive: tuple[str, ...] = ()
    download_md5: dict[str, str] = field(default_factory=dict)

    def stems(self, splits: tuple[str, ...]) -> list[str]:
        """The file stems of ``splits`` (images, then labels, of each)."""
        return [self.files[f"{split}_{part}"] for split in splits for part in ("images", "labels")]

    def magic(self, stem: str) -> int:
        """The IDX magic number the file ``stem`` must carry."""
        return IMAGES_MAGIC if stem in (self.files["train_images"], self.files["test_images"]) \
            else self.labels_magic


DIGITS = tuple(range(10))

# torchvision's EMNIST source: NIST's server (the original cloudstor link is gone).
EMNIST_ARCHIVE = ("https://biometrics.nist.gov/cs_links/EMNIST/gzip.zip",
                  "http://www.itl.nist.gov/iaui/vip/cs_links/EMNIST/gzip.zip")
EMNIST_SPLITS = {
    "digits": "280,000 handwritten digits (NIST SD 19), balanced, 10 classes",
    "letters": "145,600 handwritten letters, upper and lower case merged, 26 classes labelled 1-26",
    "balanced": "131,600 digits and letters, balanced, 47 classes",
    "byclass": "814,255 digits, upper- and lower-case letters, 62 classes (unbalanced)",
    "bymerge": "814,255 digits and letters, similar upper/lower cases merged, 47 classes",
    "mnist": "70,000 digits in MNIST's proportions, from NIST SD 19, 10 classes",
}


UPPER = tuple(chr(c) for c in range(ord("A"), ord("Z") + 1))
LOWER = tuple(chr(c) for c in range(ord("a"), ord("z") + 1))
DIGIT_NAMES = tuple(str(d) for d in DIGITS)
# The classes of each EMNIST split as its mapping file gives them (first character code
# of each label), used when the mapping file is not beside the images.
EMNIST_CLASSES: dict[str, tuple] = {
    "digits": DIGITS, "mnist": DIGITS, "letters": UPPER,
    "balanced": DIGIT_NAMES + UPPER + tuple("abdefghnqrt"),
    "bymerge": DIGIT_NAMES + UPPER + tuple("abdefghnqrt"),
    "byclass": DIGIT_NAMES + UPPER + LOWER,
}


def _emnist(split: str, title: str) -> DatasetInfo:
    stem = f"emnist-{split}"
    return DatasetInfo(
        name=stem, title=f"EMNIST {split}: {title}",
        classes=EMNIST_CLASSES[split], label_offset=1 if split == "letters" else 0,
        files=dict(zip(PARTS, (f"{stem}-train-images-idx3-ubyte", f"{stem}-train-labels-idx1-ubyte",
                               f"{stem}-test-images-idx3-ubyte", f"{stem}-test-labels-idx1-ubyte"))),
        mapping_file=f"{stem}-mapping.txt", transposed=True, archive=EMNIST_ARCHIVE,
        download_md5={"gzip.zip": "58c8d27c78d21e728a6bc7b3cc06412e"},
    )


QMNIST_BASE = "https://raw.githubusercontent.com/facebookresearch/qmnist/master/"
KMNIST_BASE = "http://codh.rois.ac.jp/kmnist/dataset/kmnist/"

DATASETS: dict[str, DatasetInfo] = {
    "mnist": DatasetInfo(
        name="mnist", title="70,000 handwritten digits, 28x28 (LeCun et al.)",
        sha256={
            "train-images-idx3-ubyte": "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
            "train-labels-idx1-ubyte": "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
            "t10k-images-idx3-ubyte": "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
            "t10k-labels-idx1-ubyte": "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
        },
        classes=DIGITS,
        mirrors=(
            "https://ossci-datasets.s3.amazonaws.com/mnist/",
            "https://storage.googleapis.com/cvdf-datasets/mnist/",
            "http://yann.lecun.com/exdb/mnist/",
        ),
    ),
    "fashion-mnist": DatasetInfo(
        name="fashion-mnist", title="70,000 Zalando article pictures, 28x28, 10 classes",
        sha256={
            "train-images-idx3-ubyte": "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888",
            "train-labels-idx1-ubyte": "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9",
            "t10k-images-idx3-ubyte": "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b",
            "t10k-labels-idx1-ubyte": "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34",
        },
        classes=(
            "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
            "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
        ),
        mirrors=("http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",),
    ),
    "kmnist": DatasetInfo(
        name="kmnist", title="70,000 cursive Japanese (Kuzushiji) characters, 28x28, 10 classes",
        # The ten hiragana, romanised as in the dataset's kmnist_classmap.csv.
        classes=("o", "ki", "su", "tsu", "na", "ha", "ma", "ya", "re", "wo"),
        mirrors=(KMNIST_BASE,),
        download_md5={
            "train-images-idx3-ubyte.gz": "bdb82020997e1d708af4cf47b453dcf7",
            "train-labels-idx1-ubyte.gz": "e144d726b3acfaa3e44228e80efcd344",
            "t10k-images-idx3-ubyte.gz": "5c965bf0a639b31b8f53240b1b52f4d7",
            "t10k-labels-idx1-ubyte.gz": "7320c461ea6c1c855c0b718fb2a4b134",
        },
    ),
    "qmnist": DatasetInfo(
        name="qmnist", title="MNIST rebuilt from NIST: 60,000 training and 60,000 test digits",
        files=dict(zip(PARTS, ("qmnist-train-images-idx3-ubyte", "qmnist-train-labels-idx2-int",
                               "qmnist-test-images-idx3-ubyte", "qmnist-test-labels-idx2-int"))),
        classes=DIGITS, labels_magic=TABLE_LABELS_MAGIC, mirrors=(QMNIST_BASE,),
        download_md5={
            "qmnist-train-images-idx3-ubyte.gz": "ed72d4157d28c017586c42bc6afe6370",
            "qmnist-train-labels-idx2-int.gz": "0058f8dd561b90ffdd0f734c6a30e5e4",
            "qmnist-test-images-idx3-ubyte.gz": "1394631089c404de565df7b7aeaf9412",
            "qmnist-test-labels-idx2-int.gz": "5b5b05890a5e13444e108efe57b788aa",
        },
    ),
    **{f"emnist-{split}": _emnist(split, title) for split, title in EMNIST_SPLITS.items()},
}
