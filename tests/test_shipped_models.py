"""The models in models/ load, reproduce their recorded figures exactly, and match the README."""

import json
import subprocess
import sys

import pytest

from digitnet.modelfile import load_model

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
