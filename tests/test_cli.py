"""The command line, run as a user runs it: in a subprocess."""

import json
import subprocess
import sys

import pytest

from conftest import MNIST_DIR
from drawing import draw_digit


def digitnet(*args, cwd=None, check=True):
    result = subprocess.run([sys.executable, "-m", "digitnet", *map(str, args)],
                            capture_output=True, text=True, cwd=cwd, timeout=600)
    if check:
        assert result.returncode == 0, result.stderr
    return result


def last_json(stdout):
    return json.loads(stdout.strip().splitlines()[-1])


def assert_one_line_error(result, *words):
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    for word in words:
        assert word in lines[0], lines[0]


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("run")
    result = digitnet("train", "--hidden", "64", "--epochs", "2", "--train-limit", "10000",
                      "--batch-size", "64", "--seed", "3", "--data-dir", MNIST_DIR, "--out", out, "--json")
    return out, result


def test_train_json_summary(run_dir):
    out, result = run_dir
    summary = last_json(result.stdout)
    assert 0.85 < summary["test_accuracy"] <= 1
    assert summary["epochs"] == 2 and len(summary["history"]) == 2
    assert summary["train_seconds"] > 0 and summary["model"] == str(out / "model.npz")
    assert {"train_loss", "train_accuracy", "val_accuracy", "seconds"} <= set(summary["history"][0])
    assert result.stdout.count("\n") == 1  # with --json, only the JSON line on stdout


def test_train_writes_model_history_and_plots(run_dir):
    out, _ = run_dir
    names = {p.name for p in out.iterdir()}
    assert {"model.npz", "history.json", "report.json", "cost.png", "accuracy.png",
            "confusion.png", "misclassified.png", "weights.png"} <= names
    assert len(json.loads((out / "history.json").read_text())) == 2
    assert (out / "cost.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_train_human_output(tmp_path):
    result = digitnet("train", "--preset", "seed", "--epochs", "3", "--train-limit", "500",
                      "--out", tmp_path, "--no-plots")
    assert "Cost after iteration 0:" in result.stdout and "Cost after iteration 3:" in result.stdout
    assert "Test accuracy:" in result.stdout and "Confusion matrix" in result.stdout


def test_evaluate(run_dir):
    out, train_result = run_dir
    report = last_json(digitnet("evaluate", out / "model.npz", "--json").stdout)
    assert report["test_accuracy"] == last_json(train_result.stdout)["test_accuracy"]
    assert len(report["confusion_matrix"]) == 10 and sum(map(sum, report["confusion_matrix"])) == 10000
    assert len(report["per_class"]) == 10 and {"precision", "recall", "f1"} <= set(report["per_class"][0])
    text = digitnet("evaluate", out / "model.npz").stdout
    assert "precision" in text and "Confusion matrix" in text and "95% CI" in text


def test_predict(run_dir, tmp_path):
    out, _ = run_dir
    images = []
    for digit in (0, 1):
        path = tmp_path / f"drawn{digit}.png"
        draw_digit(digit, dark_on_light=digit == 0).save(path)
        images.append(path)
    result = digitnet("predict", out / "model.npz", *images, "--json", "--save-input", tmp_path / "seen")
    predictions = last_json(result.stdout)["predictions"]
    assert [p["image"] for p in predictions] == [str(p) for p in images]
    for p in predictions:
        assert len(p["probabilities"]) == 10 and abs(sum(p["probabilities"]) - 1) < 1e-4
        assert p["digit"] == max(range(10), key=lambda k: p["probabilities"][k])
    assert [p["digit"] for p in predictions] == [0, 1]
    assert (tmp_path / "seen" / "drawn0-28x28.png").is_file()
    human = digitnet("predict", out / "model.npz", images[1]).stdout
    assert "drawn1.png: 1" in human and "top 3" in human


def test_plot_redraws(run_dir):
    out, _ = run_dir
    (out / "weights.png").unlink()
    result = digitnet("plot", out)
    assert (out / "weights.png").is_file() and "weights.png" in result.stdout


def test_gradcheck():
    result = digitnet("gradcheck")
    assert "layer0.W" in result.stdout and "backprop agrees" in result.stdout


@pytest.mark.parametrize("args,words", [
    (["evaluate", "missing.npz"], ["missing.npz", "not found"]),
    (["predict", "missing.npz", "x.png"], ["missing.npz"]),
    (["train", "--data-dir", "/nonexistent/data"], ["/nonexistent/data"]),
    (["train", "--epochs", "0"], ["epochs"]),
    (["plot", "/nonexistent/run"], ["history.json"]),
])
def test_user_mistakes_are_one_line_errors(args, words, tmp_path):
    assert_one_line_error(digitnet(*args, cwd=tmp_path, check=False), *words)


def test_corrupt_model_file(tmp_path):
    bad = tmp_path / "model.npz"
    bad.write_bytes(b"PK\x03\x04 definitely not a model")
    assert_one_line_error(digitnet("evaluate", bad, check=False), "model.npz")


def test_bad_image(run_dir, tmp_path):
    out, _ = run_dir
    bad = tmp_path / "photo.jpg"
    bad.write_bytes(b"\xff\xd8\xff\xe0 truncated jpeg")
    assert_one_line_error(digitnet("predict", out / "model.npz", bad, check=False), "photo.jpg")


def test_bad_flag_value_is_a_usage_error():
    result = digitnet("train", "--hidden", "12,abc", check=False)
    assert result.returncode == 2 and "comma-separated" in result.stderr


def test_divergence_message(tmp_path):
    result = digitnet("train", "--hidden", "128,128,128", "--optimizer", "momentum", "--lr", "1000",
                      "--schedule", "constant", "--train-limit", "2000", "--epochs", "1",
                      "--out", tmp_path, check=False)
    assert_one_line_error(result, "lower learning rate")


def test_fashion_mnist_from_data_dir(fashion_dir, tmp_path):
    result = digitnet("train", "--dataset", "fashion-mnist", "--data-dir", fashion_dir, "--hidden", "64",
                      "--epochs", "2", "--train-limit", "10000", "--out", tmp_path, "--json", "--no-plots")
    summary = last_json(result.stdout)
    assert summary["test_accuracy"] > 0.70      # measured 0.760 of 10,000: 14 standard errors
    text = digitnet("evaluate", tmp_path / "model.npz", "--data-dir", fashion_dir).stdout
    assert "Ankle boot" in text and "fashion-mnist" in text


def test_every_configuration_field_is_a_train_flag():
    """Flags are made from TrainConfig's fields: a new field is a flag without more code."""
    import dataclasses

    from digitnet.cli import NOT_FLAGS, build_parser
    from digitnet.config import TrainConfig

    train_parser = build_parser()._subparsers._group_actions[0].choices["train"]
    flags = {option for action in train_parser._actions for option in action.option_strings}
    for field in dataclasses.fields(TrainConfig):
        if field.name not in NOT_FLAGS:
            assert "--" + field.name.replace("_", "-") in flags, field.name
            assert field.metadata.get("help"), f"{field.name} has no help text"


def test_flags_override_the_preset():
    from digitnet.cli import _config_from_args, build_parser

    args = build_parser().parse_args(["train", "--preset", "seed", "--lr", "0.01", "--hidden", "8,4",
                                      "--patience", "0", "--log-every", "7", "--augment", "affine"])
    config = _config_from_args(args)
    assert config.lr == 0.01 and config.hidden == (8, 4) and config.log_every == 7
    assert config.batch_size == 0 and config.optimizer == "sgd"           # the rest from the preset
    assert config.patience is None and config.augment == "affine" and config.preset == "seed"


def test_evaluate_maps_a_models_own_labels_onto_the_dataset(tmp_path):
    """A model trained from Python on MNIST with its own label names evaluates like dn.evaluate."""
    import numpy as np

    import digitnet as dn

    data = dn.load_dataset("mnist", MNIST_DIR, validation_size=0, train_limit=3000)
    words = np.array(["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"])
    net = dn.fit(data.x_train, words[data.y_train], hidden=(32,), epochs=2, lr=3e-3)
    dn.save_model(tmp_path / "words.npz", net, {"dataset": "mnist"})
    result = digitnet("evaluate", tmp_path / "words.npz", "--json", check=False)
    assert result.returncode == 1 and "do not include the data's class 0" in result.stderr
    net.classes = list(range(10))[::-1]                   # digits, but in another order
    dn.save_model(tmp_path / "reversed.npz", net, {"dataset": "mnist"})
    reference = dn.evaluate(net, data.x_test, data.y_test)["test_accuracy"]
    assert last_json(digitnet("evaluate", tmp_path / "reversed.npz", "--json").stdout)[
        "test_accuracy"] == reference


def test_evaluate_needs_only_the_test_files(tmp_path):
    import shutil

    folder = tmp_path / "t10k-only"
    folder.mkdir()
    for name in ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"):   # dotted, as 7-Zip unpacks
        shutil.copy(MNIST_DIR / name, folder / name.replace("-idx", ".idx"))
    result = digitnet("evaluate", MNIST_DIR.parents[1] / "models" / "mnist-best.npz", "--data-dir", folder,
                      "--json")
    report = last_json(result.stdout)
    assert report["total"] == 10000 and report["test_accuracy"] > 0.98


def test_evaluate_on_files_that_are_not_the_known_ones_says_so(fashion_dir):
    model = MNIST_DIR.parents[1] / "models" / "mnist-best.npz"
    result = digitnet("evaluate", model, "--data-dir", fashion_dir, "--dataset", "mnist")
    assert "note: t10k-images-idx3-ubyte.gz, t10k-labels-idx1-ubyte.gz in" in result.stderr
    assert "not the known mnist files" in result.stderr and "Test accuracy" in result.stdout
