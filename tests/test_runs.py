"""The run folder: written by one module, read back by plot, resume, serve and tools."""

import dataclasses
import json

import numpy as np
import pytest

from digitnet import TrainConfig, train
from digitnet.api import evaluate_indices
from digitnet.errors import ConfigError, ModelFileError
from digitnet.runs import HISTORY, MODEL, REPORT, read_run, write_run


@pytest.fixture(scope="module")
def run_dir(mnist, tmp_path_factory):
    data = dataclasses.replace(mnist, x_train=mnist.x_train[:1000], y_train=mnist.y_train[:1000])
    config = TrainConfig(hidden=(16,), epochs=2, patience=None, preset="custom")
    result = train(config, data)
    report, probs = evaluate_indices(result.model, data.x_test, data.y_test)
    out = tmp_path_factory.mktemp("run")
    written = write_run(out, result, config, data, report, probs, plots=True)
    return out, result, report, written


def test_written_and_read_back(run_dir):
    out, result, report, written = run_dir
    names = sorted(p.name for p in written)
    assert names == sorted([MODEL, HISTORY, REPORT, "cost.png", "accuracy.png", "confusion.png",
                            "misclassified.png", "weights.png"])
    run = read_run(out)
    assert run.history == json.loads(json.dumps(result.history))
    assert run.report == report and run.meta["config"]["hidden"] == [16]
    assert run.meta["metrics"]["test_accuracy"] == report["test_accuracy"]
    for p, q in zip(run.model.parameters(), result.model.parameters()):
        np.testing.assert_array_equal(p, q)
    assert not list(out.glob(".*.tmp"))                   # every file renamed into place


def test_not_a_run_folder(tmp_path):
    with pytest.raises(ConfigError, match="training run folder"):
        read_run(tmp_path)
    (tmp_path / HISTORY).write_text('{"not": "a list"}')
    with pytest.raises(ConfigError, match="not a digitnet history"):
        read_run(tmp_path)
    (tmp_path / HISTORY).write_text('[{"train_loss": 1.0}]')
    with pytest.raises(ModelFileError, match="model file not found"):
        read_run(tmp_path)


def test_train_run_trains_evaluates_and_writes_the_folder(mnist, tmp_path):
    from digitnet.runs import CHECKPOINT, train_run

    data = dataclasses.replace(mnist, x_train=mnist.x_train[:1000], y_train=mnist.y_train[:1000])
    lines = []
    run = train_run(TrainConfig(hidden=(16,), epochs=2, lr=1e-2, patience=None), tmp_path / "r", data=data,
                    checkpoint_every=1, log=lines.append, plots=False)
    assert run.report["total"] == 10000 and 0.5 < run.report["test_accuracy"] <= 1
    assert sorted(p.name for p in run.files) == sorted([MODEL, HISTORY, REPORT])
    assert (tmp_path / "r" / CHECKPOINT).is_file()
    assert lines[0].startswith("digitnet ") and lines[-1].startswith("test accuracy:")
    assert read_run(tmp_path / "r").report == run.report
