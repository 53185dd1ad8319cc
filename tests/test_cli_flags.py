"""Every flag of every ``digitnet`` command is exercised for its effect (issue 31).

A flag that no test uses can break without a sound: the audit's ``--retry-failed`` appeared in
the tests only inside an expected error message. ``FLAG_TESTS`` names, for each flag, the test
that asserts what the flag changes; a new flag without one fails
``test_every_flag_names_a_test_that_uses_it``. ``digitnet sweep`` keeps its own in test_sweep.py.

The runs here are in-process and tiny (300 training images, 8 hidden units, 2 epochs).
"""

import argparse
import ast
import json
import socket
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from digitnet import __version__
from digitnet.cli import build_parser, main
from digitnet.modelfile import load_model

from conftest import MNIST_DIR, REPO
from drawing import draw_digit

TESTS = Path(__file__).parent

# (command, flag) -> "file::function" whose body (or parameter list) uses the flag and asserts
# its effect. A fixture may be named when the tests that use it assert the effect.
CONFIG = "test_cli_flags.py::test_a_configuration_flag_changes_the_run"
EMNIST = "test_datasets.py::test_emnist_layout_trains_like_mnist_and_its_model_reads_mnist"
KAGGLE = "test_csvdata.py::test_a_kaggle_train_csv_trains_evaluates_and_writes_a_submission"
FLAG_TESTS = {
    ("", "--version"): "test_cli_flags.py::test_version",
    ("train", "--preset"): "test_cli.py::test_train_human_output",
    ("train", "--dataset"): EMNIST,
    ("train", "--hidden"): CONFIG,
    ("train", "--epochs"): CONFIG,
    ("train", "--batch-size"): CONFIG,
    ("train", "--optimizer"): CONFIG,
    ("train", "--lr"): CONFIG,
    ("train", "--momentum"): CONFIG,
    ("train", "--weight-decay"): CONFIG,
    ("train", "--dropout"): CONFIG,
    ("train", "--input-dropout"): CONFIG,
    ("train", "--schedule"): CONFIG,
    ("train", "--warmup-epochs"): CONFIG,
    ("train", "--validation-size"): CONFIG,
    ("train", "--patience"): "test_cli_flags.py::test_patience_stops_a_run_that_no_longer_improves",
    ("train", "--seed"): CONFIG,
    ("train", "--dtype"): CONFIG,
    ("train", "--log-every"): "test_cli_flags.py::test_log_every_prints_every_nth_epoch",
    ("train", "--train-limit"): CONFIG,
    ("train", "--label-smoothing"): CONFIG,
    ("train", "--max-norm"): CONFIG,
    ("train", "--adversarial"): CONFIG,
    ("train", "--augment"): CONFIG,
    ("train", "--data-dir"): KAGGLE,
    ("train", "--out"): "test_cli_flags.py::test_out_and_no_plots",
    ("train", "--checkpoint-every"): "test_cli_flags.py::test_checkpoint_every_n_epochs",
    ("train", "--resume"): "test_checkpoint_cli.py::test_signal_saves_checkpoint_and_resume_matches",
    ("train", "--init"): "test_folders.py::test_a_folder_of_200_pictures_fine_tunes_a_shipped_model",
    ("train", "--no-plots"): "test_cli_flags.py::test_out_and_no_plots",
    ("train", "--json"): "test_cli_flags.py::test_patience_stops_a_run_that_no_longer_improves",
    ("evaluate", "--dataset"): EMNIST,
    ("evaluate", "--data-dir"): "test_cli.py::test_evaluate_needs_only_the_test_files",
    ("evaluate", "--json"): "test_cli.py::test_evaluate",
    ("predict", "--submission"): "test_csvdata.py::test_predict_writes_a_kaggle_submission",
    ("predict", "--save-input"): "test_cli_flags.py::test_save_input_writes_what_the_network_sees",
    ("predict", "--number"): "test_pictures.py::test_number_on_the_command_line",
    ("predict", "--min-confidence"): "test_cli_flags.py::test_min_confidence_turns_answers_into_unsure",
    ("predict", "--json"): "test_cli.py::test_predict",
    ("plot", "--dataset"): "test_cli_flags.py::test_plot_dataset_and_data_dir_choose_the_test_set",
    ("plot", "--data-dir"): "test_cli_flags.py::test_plot_dataset_and_data_dir_choose_the_test_set",
    ("gradcheck", "--seed"): "test_cli_flags.py::test_gradcheck_hidden_and_seed",
    ("gradcheck", "--hidden"): "test_cli_flags.py::test_gradcheck_hidden_and_seed",
    ("export", "--output"): "test_onnx_export.py::test_cli_export_with_hidden_outputs",
    ("export", "--hidden-outputs"): "test_onnx_export.py::test_cli_export_with_hidden_outputs",
    ("export", "--dtype"): "test_onnx_export.py::test_cli_export_with_hidden_outputs",
    ("serve", "--host"): "test_cli_flags.py::test_serve_host_and_data_dir",
    ("serve", "--port"): "test_web_cli.py::test_serve_shows_the_page_on_loopback_and_stops_cleanly",
    ("serve", "--data-dir"): "test_cli_flags.py::test_serve_host_and_data_dir",
}

OWN_TABLES = ("sweep",)   # test_sweep.py keeps the sweep's flags


def _flags(parser, command=""):
    """``(command, action)`` for every optional argument of ``parser`` and its subcommands."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                if name not in OWN_TABLES:
                    yield from _flags(sub, name)
        elif action.option_strings and not isinstance(action, argparse._HelpAction):
            yield command, action


def _strings_in(where: str) -> set[str]:
    """The string constants in the function (decorators included) named by ``file::function``."""
    file, name = where.split("::")
    tree = ast.parse((TESTS / file).read_text())
    found = [node for node in ast.walk(tree) if isinstance(node, ast.FunctionDef) and node.name == name]
    assert found, f"{where} does not exist"
    return {node.value for node in ast.walk(found[0])
            if isinstance(node, ast.Constant) and isinstance(node.value, str)}


def test_every_flag_names_a_test_that_uses_it():
    """A new flag with no test of its effect, or a table entry for a flag that is gone."""
    actions = {(command, max(action.option_strings, key=len)): action
               for command, action in _flags(build_parser())}
    assert sorted(actions) == sorted(FLAG_TESTS)
    for key, where in FLAG_TESTS.items():
        options = set(actions[key].option_strings)
        assert options & _strings_in(where), f"{where} never passes {key[1]}"


# --- train ------------------------------------------------------------------------------

TINY = ["--hidden", "8", "--epochs", "2", "--train-limit", "300", "--validation-size", "100",
        "--batch-size", "50", "--optimizer", "momentum", "--lr", "0.01", "--seed", "0",
        "--data-dir", str(MNIST_DIR), "--no-plots"]


def train(out, *flags, capsys=None):
    """Run ``digitnet train`` in this process on the tiny setting; the run's model, meta and stdout."""
    assert main(["train", *TINY, *map(str, flags), "--out", str(out)]) == 0
    printed = capsys.readouterr().out if capsys is not None else ""
    model, meta = load_model(Path(out) / "model.npz")
    return model, meta, printed


@pytest.fixture(scope="module")
def baseline(tmp_path_factory):
    return train(tmp_path_factory.mktemp("baseline"))


def same_weights(a, b):
    return all(p.shape == q.shape and np.array_equal(p, q) for p, q in zip(a.parameters(), b.parameters()))


def _max_unit_norm(model):
    return max(np.linalg.norm(layer.params["W"], axis=0).max() for layer in model.layers
               if "W" in getattr(layer, "params", {}))


@pytest.mark.parametrize("flag, value, field, recorded, effect", [
    ("--hidden", "8,4", "hidden", [8, 4], lambda m, meta, out: list(m.sizes) == [784, 8, 4, 10]),
    ("--epochs", "3", "epochs", 3, lambda m, meta, out: len(meta["history"]) == 3),
    ("--train-limit", "200", "train_limit", 200, lambda m, meta, out: "(200 train, 100 validation" in out),
    ("--validation-size", "50", "validation_size", 50,
     lambda m, meta, out: "(300 train, 50 validation" in out),
    ("--batch-size", "25", "batch_size", 25, None),
    ("--optimizer", "adam", "optimizer", "adam", None),
    ("--lr", "0.05", "lr", 0.05, None),
    ("--momentum", "0.5", "momentum", 0.5, None),
    ("--weight-decay", "0.1", "weight_decay", 0.1, None),
    ("--dropout", "0.3", "dropout", 0.3, None),
    ("--input-dropout", "0.3", "input_dropout", 0.3, None),
    ("--schedule", "constant", "schedule", "constant", None),
    ("--warmup-epochs", "1", "warmup_epochs", 1.0, None),
    ("--seed", "1", "seed", 1, None),
    ("--dtype", "float64", "dtype", "float64", lambda m, meta, out: m.dtype == np.float64),
    ("--label-smoothing", "0.2", "label_smoothing", 0.2, None),
    ("--max-norm", "0.5", "max_norm", 0.5, lambda m, meta, out: _max_unit_norm(m) <= 0.5 + 1e-6),
    ("--adversarial", "0.1", "adversarial", 0.1, None),
    ("--augment", "affine", "augment", "affine", None),
])
def test_a_configuration_flag_changes_the_run(baseline, tmp_path, capsys, flag, value, field, recorded,
                                              effect):
    """A flag that never reaches the configuration, or a field training ignores: the run is the
    baseline's, weight for weight (the seed reproduces it: test_the_same_seed_reproduces_the_run)."""
    model, meta, out = train(tmp_path, flag, value, capsys=capsys)
    assert meta["config"][field] == recorded
    if field != "validation_size":            # it changes the held-out images, not the training
        assert not same_weights(model, baseline[0]), f"{flag} {value} trained the baseline's weights"
    if effect is not None:
        assert effect(model, meta, out)


def test_the_same_seed_reproduces_the_run(baseline, tmp_path):
    """Without this, 'the weights differ from the baseline's' would prove nothing."""
    assert same_weights(train(tmp_path)[0], baseline[0])


def test_patience_stops_a_run_that_no_longer_improves(tmp_path, capsys):
    """--patience ignored (or 0 not meaning 'never stop'): the run's length gives it away.

    At a learning rate of 1e-30 the weights cannot change in float32: the validation loss is
    the same every epoch, so with patience 1 the run stops after epoch 2.
    """
    still = ["--epochs", "4", "--lr", "1e-30", "--optimizer", "sgd", "--schedule", "constant", "--json"]
    summaries = {}
    for patience in ("1", "0"):
        assert main(["train", *TINY, *still, "--patience", patience, "--out", str(tmp_path / patience)]) == 0
        summaries[patience] = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert summaries["1"]["epochs"] == 2 and summaries["1"]["stopped_early"] is True
    assert summaries["0"]["epochs"] == 4 and summaries["0"]["stopped_early"] is False
    assert summaries["1"]["config"]["patience"] == 1 and summaries["0"]["config"]["patience"] is None


def test_log_every_prints_every_nth_epoch(tmp_path, capsys):
    """--log-every not passed on: every epoch would be printed."""
    train(tmp_path, "--epochs", "4", "--log-every", "2")
    lines = [line.split("/")[0] for line in capsys.readouterr().out.splitlines() if line.startswith("epoch")]
    assert lines == ["epoch   1", "epoch   3", "epoch   4"]          # the first, every 2nd, the last


def test_out_and_no_plots(tmp_path, monkeypatch):
    """--out ignored (the run lands in runs/), or --no-plots ignored (or always on)."""
    monkeypatch.chdir(tmp_path)
    base = [flag for flag in TINY if flag != "--no-plots"]
    assert main(["train", *base, "--out", "plain", "--no-plots"]) == 0
    assert main(["train", *base, "--out", "drawn"]) == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["drawn", "plain"]          # no runs/
    assert sorted(p.name for p in (tmp_path / "plain").iterdir()) == ["history.json", "model.npz",
                                                                      "report.json"]
    assert {"cost.png", "accuracy.png", "confusion.png", "weights.png"} <= {
        p.name for p in (tmp_path / "drawn").iterdir()}


@pytest.mark.parametrize("flags, saved_after", [([], []), (["--checkpoint-every", "2"], [2, 3])])
def test_checkpoint_every_n_epochs(tmp_path, monkeypatch, flags, saved_after):
    """--checkpoint-every ignored, or every epoch saved: the epochs the checkpoints were saved after."""
    from digitnet import hooks

    saved, real = [], hooks.save_checkpoint

    def recording(path, trainer, after_epoch=False):
        saved.append(len(trainer.state.history))
        return real(path, trainer, after_epoch)

    monkeypatch.setattr(hooks, "save_checkpoint", recording)
    train(tmp_path, "--epochs", "3", *flags)
    assert saved == saved_after
    assert (tmp_path / "checkpoint.npz").exists() == bool(saved_after)


def test_version(capsys):
    with pytest.raises(SystemExit) as done:
        main(["--version"])
    assert done.value.code == 0 and capsys.readouterr().out == f"digitnet {__version__}\n"


# --- predict, plot, gradcheck -----------------------------------------------------------

def test_save_input_writes_what_the_network_sees(tmp_path, capsys):
    """--save-input writing the picture as given, or another array than the one predicted on."""
    from digitnet.recognise import read_picture

    picture = tmp_path / "three.png"
    draw_digit(3, dark_on_light=True).save(picture)
    model_path = REPO / "models" / "mnist-best.npz"
    assert main(["predict", str(model_path), str(picture), "--save-input", str(tmp_path / "seen")]) == 0
    assert f"saved the input as {tmp_path / 'seen' / 'three-28x28.png'}" in capsys.readouterr().out
    saved = np.asarray(Image.open(tmp_path / "seen" / "three-28x28.png"), dtype=np.float64) / 255
    seen = read_picture(load_model(model_path)[0], picture)["inputs"][0]             # (28, 28)
    assert saved.shape == (28, 28) and np.abs(saved - seen).max() <= 0.5 / 255 + 1e-6


@pytest.mark.parametrize("kind", ["picture", "csv"])
def test_min_confidence_turns_answers_into_unsure(baseline, tmp_path, capsys, kind):
    """--min-confidence ignored on either path (a picture, a CSV row): a guess stays an answer.

    The tiny baseline network is never 99% sure of anything.
    """
    from digitnet.modelfile import save_model

    model = tmp_path / "tiny.npz"
    save_model(model, baseline[0], baseline[1])
    if kind == "picture":
        item = tmp_path / "seven.png"
        draw_digit(7).save(item)
    else:
        item = tmp_path / "test.csv"
        pixels = mnist_test().x_test[:3]
        np.savetxt(item, pixels, fmt="%d", delimiter=",", comments="",
                   header=",".join(f"pixel{i}" for i in range(784)))
    answers = {}
    for threshold in ("0", "0.99"):
        main(["predict", str(model), str(item), "--json", "--min-confidence", threshold])
        answers[threshold] = json.loads(capsys.readouterr().out)["predictions"]
    assert {p["status"] for p in answers["0"]} == {"ok"}
    assert {p["status"] for p in answers["0.99"]} == {"unsure"}
    assert all(p["digit"] is None for p in answers["0.99"])
    assert main(["predict", str(model), str(item), "--min-confidence", "1.5"]) == 1
    assert "--min-confidence must be in [0, 1]" in capsys.readouterr().err


def test_plot_dataset_and_data_dir_choose_the_test_set(tmp_path, monkeypatch, capsys):
    """plot's --dataset or --data-dir not passed on: the plots would judge the run's own test set.

    The folder holds 50 MNIST test images in EMNIST's layout (its names, stored transposed).
    """
    from digitnet import plots
    from digitnet.data import DATASETS
    from digitnet.idx import write_idx

    info, data = DATASETS["emnist-mnist"], mnist_test()
    folder = tmp_path / "emnist"
    folder.mkdir()
    transposed = data.x_test[:50].reshape(50, 28, 28).transpose(0, 2, 1)      # EMNIST stores columns
    write_idx(folder / f"{info.files['test_images']}.gz", transposed)
    write_idx(folder / f"{info.files['test_labels']}.gz", data.y_test[:50].astype(np.uint8))
    train(tmp_path / "run")
    judged = []
    monkeypatch.setattr(plots, "plot_run", lambda run_dir, history, report, model, data, probs, log_every:
                        judged.append((data.name, data.source, report["total"])) or [])
    assert main(["plot", str(tmp_path / "run"), "--dataset", "emnist-mnist", "--data-dir", str(folder)]) == 0
    assert judged == [("emnist-mnist", str(folder), 50)]
    capsys.readouterr()


def test_gradcheck_hidden_and_seed(capsys):
    """gradcheck's --hidden or --seed ignored: the same network, the same errors."""
    printed = {}
    for seed in ("0", "1"):
        assert main(["gradcheck", "--hidden", "5,3", "--seed", seed]) == 0
        printed[seed] = capsys.readouterr().out
    assert "network 20-5-3-10" in printed["0"]
    assert "layer1.W     (5, 3)" in printed["0"] and "layer2.W     (3, 10)" in printed["0"]
    errors = {seed: [line.split()[-1] for line in text.splitlines() if line.startswith("layer")]
              for seed, text in printed.items()}
    assert len(errors["0"]) == 6 and errors["0"] != errors["1"]


# --- serve ------------------------------------------------------------------------------

def test_serve_host_and_data_dir(tmp_path, monkeypatch, capsys):
    """serve's --host or --data-dir not passed on: uvicorn binds 127.0.0.1, the page reads the
    shipped test set. The server itself is not started: uvicorn.run receives the app."""
    uvicorn = pytest.importorskip("uvicorn", reason="the web extras are not installed")
    from fastapi.testclient import TestClient

    from digitnet.idx import write_idx

    data = mnist_test()
    folder = tmp_path / "small-test-set"
    folder.mkdir()
    write_idx(folder / "t10k-images-idx3-ubyte.gz", data.x_test[:50].reshape(50, 28, 28))
    write_idx(folder / "t10k-labels-idx1-ubyte.gz", data.y_test[:50].astype(np.uint8))
    with socket.socket() as probe:                    # a free port on that address
        probe.bind(("127.0.0.2", 0))
        port = probe.getsockname()[1]
    started = {}
    monkeypatch.setattr(uvicorn, "run", lambda app, **kwargs: started.update(app=app, **kwargs))
    assert main(["serve", str(REPO / "models" / "mnist-best.npz"), "--host", "127.0.0.2", "--port", str(port),
                 "--data-dir", str(folder)]) == 0
    assert (started["host"], started["port"]) == ("127.0.0.2", port)
    assert f"http://127.0.0.2:{port}/" in capsys.readouterr().out
    evaluation = TestClient(started["app"]).get("/api/evaluation?limit=0").json()
    assert evaluation["total"] == 50


def mnist_test():
    from digitnet.data import load_dataset

    return load_dataset("mnist", MNIST_DIR, validation_size=0, splits=("test",))
