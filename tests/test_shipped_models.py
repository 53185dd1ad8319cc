"""The models in models/ load, reproduce their recorded figures exactly, and match the README."""

import json
import subprocess
import sys

import numpy as np
import pytest

from digitnet.modelfile import FORMAT, load_model

from web_helpers import REPO

SHIPPED = {"mnist-best.npz": "best", "mnist-best-augmented.npz": "best-augmented"}


@pytest.mark.parametrize("name, preset", SHIPPED.items())
def test_evaluate_reproduces_the_recorded_accuracy_and_the_readme(name, preset):
    path = REPO / "models" / name
    _, meta = load_model(path)
    assert meta["preset"] == preset and meta["dataset"] == "mnist"
    assert meta["config"]["validation_size"] == 0 and len(meta["history"]) == meta["config"]["epochs"]
    result = subprocess.run([sys.executable, "-m", "digitnet", "evaluate", str(path), "--json"],
                            capture_output=True, text=True, check=True)
    accuracy = json.loads(result.stdout)["test_accuracy"]
    assert accuracy == meta["metrics"]["test_accuracy"]          # exactly: same weights, same data
    readme = (REPO / "README.md").read_text()
    assert f"`models/{name}`" in readme and f"{100 * accuracy:.2f}%" in readme


@pytest.mark.parametrize("name", SHIPPED)
def test_the_shipped_format_1_files_give_the_integer_labels_0_to_9(name, mnist):
    """The shipped files are format 1, which stored MNIST's classes as the names "0".."9": they load
    as the integers 0..9, so predictions equal MNIST's labels and a classifier's classes_ are ints.
    Names left as strings were caught only incidentally, by a CSV test."""
    from digitnet.estimator import DigitnetClassifier

    path = REPO / "models" / name
    model, meta = load_model(path)
    assert meta["format_version"] == 1 and meta["classes"] == [str(i) for i in range(10)]
    assert model.classes == list(range(10)) and all(type(c) is int for c in model.classes)
    predicted = model.predict(mnist.x_test[:200])
    assert predicted.dtype.kind == "i"
    assert np.mean(predicted == mnist.y_test[:200]) > 0.95       # measured 1.0 for both
    clf = DigitnetClassifier.load(path)
    assert clf.classes_.dtype.kind == "i" and clf.classes_.tolist() == list(range(10))


def _model_file(path, classes, version):
    """A tiny model file (2 features -> 3 classes) of format ``version`` with these class names."""
    from digitnet.npzfile import save_npz

    arrays = {"layer0.W": np.arange(6, dtype=np.float32).reshape(2, 3), "layer0.b": np.zeros(3, np.float32)}
    meta = {"format": FORMAT, "format_version": version, "classes": classes}
    if version == 1:
        meta["architecture"] = {"input_size": 2, "hidden": [], "output_size": 3}
    else:
        meta["layers"] = [{"type": "Dense", "fan_in": 2, "fan_out": 3}]
    return save_npz(path, arrays, meta)


@pytest.mark.parametrize("classes, version, loaded", [
    (["0", "1", "2"], 1, [0, 1, 2]),              # MNIST's names in format 1: the integers
    ([0, 1, 2], 1, [0, 1, 2]),
    (["1", "2", "3"], 1, ["1", "2", "3"]),        # digits, but not 0..n-1: names
    (["0", "2", "1"], 1, ["0", "2", "1"]),
    (["cat", "dog", "eel"], 1, ["cat", "dog", "eel"]),
    (["0", "1", "2"], 2, ["0", "1", "2"]),        # format 2 stores the labels as they are
])
def test_format_1_turns_only_the_names_0_to_n_1_into_integers(classes, version, loaded, tmp_path):
    """Only format 1's "0".."n-1" become integers: other names stay the strings they are, and a
    newer file's string labels are never converted."""
    model, _ = load_model(_model_file(tmp_path / "m.npz", classes, version))
    assert model.classes == loaded and [type(c) for c in model.classes] == [type(c) for c in loaded]
    assert model.predict(np.array([[1.0, 1.0]])).tolist() == [loaded[2]]   # the largest logit: column 2
