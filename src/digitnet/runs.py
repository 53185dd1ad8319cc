"""The run folder: what one training run leaves behind, written and read here only.

::

    runs/quick-20261129-120000/
        model.npz        the trained network with its metadata (modelfile)
        history.json     one record per epoch
        report.json      the test-set evaluation (accuracy, CI, per class, confusion)
        checkpoint.npz   for --resume (when checkpoints were asked for or Ctrl-C)
        *.png            the plots (plots.plot_run)

``digitnet train`` writes it; ``digitnet plot``, ``train --resume``,
``serve`` and the tools read it back through :func:`read_run`.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .config import TrainConfig
from .data import Dataset
from .errors import ConfigError
from .fileio import write_json
from .model import Network
from .modelfile import load_model, save_model
from .train import TrainResult

MODEL, HISTORY, REPORT, CHECKPOINT = "model.npz", "history.json", "report.json", "checkpoint.npz"


@dataclass
class Run:
    """A run folder read back.

    Attributes
    ----------
    path : Path
    model : Network
    meta : dict
        The model file's metadata (config, metrics, dataset...).
    history : list of dict
    report : dict or None
        The test evaluation, when ``report.json`` exists.
    """

    path: Path
    model: Network
    meta: dict
    history: list[dict]
    report: dict | None


def default_dir(preset: str) -> Path:
    """``runs/<preset>-<local time>``."""
    return Path("runs") / f"{preset}-{time.strftime('%Y%m%d-%H%M%S')}"


def checkpoint_path(run_dir: str | Path) -> Path:
    return Path(run_dir) / CHECKPOINT


def write_run(out: str | Path, result: TrainResult, config: TrainConfig, data: Dataset,
              report: dict, probs: np.ndarray | None = None, plots: bool = True) -> list[Path]:
    """Write model, history, report and (optionally) plots into ``out``; return the paths.

    Each file is written atomically (temporary name, then rename).
    """
    out = Path(out)
    best = result.history[result.best_epoch - 1]
    metrics = {
        "test_accuracy": report["test_accuracy"], "accuracy_ci95": report["accuracy_ci95"],
        "val_accuracy": best["val_accuracy"], "train_loss": best["train_loss"],
        "final_train_loss": result.final_train_loss,
    }
    metadata = {
        "dataset": data.name, "preset": config.preset, "config": config.to_dict(), "metrics": metrics,
        "train_seconds": result.train_seconds, "epochs_run": len(result.history),
        "best_epoch": result.best_epoch, "history": result.history,
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "numpy_version": np.__version__,
    }
    written = [save_model(out / MODEL, result.model, metadata)]
    written.append(write_json(out / HISTORY, result.history))
    written.append(write_json(out / REPORT, report))
    if plots and probs is not None:
        from .plots import plot_run

        written += plot_run(out, result.history, report, result.model, data, probs,
                            log_every=config.log_every if config.batch_size == 0 else 1)
    return written


def read_run(run_dir: str | Path) -> Run:
    """Read a run folder written by :func:`write_run`.

    Raises
    ------
    ConfigError
        Not a run folder, or a history that is not a digitnet history.
    ModelFileError
        A missing or broken ``model.npz``.
    """
    run_dir = Path(run_dir)
    history_path = run_dir / HISTORY
    if not history_path.is_file():
        raise ConfigError(f"{history_path}: not found (is {run_dir} a training run folder?)")
    try:
        history = json.loads(history_path.read_text())
        if not isinstance(history, list) or not all(isinstance(h, dict) and "train_loss" in h
                                                    for h in history):
            raise ValueError("not a list of epoch records")
    except (ValueError, TypeError, UnicodeDecodeError) as err:
        raise ConfigError(f"{history_path}: not a digitnet history ({err})") from None
    model, meta = load_model(run_dir / MODEL)
    report = None
    if (run_dir / REPORT).is_file():
        try:
            report = json.loads((run_dir / REPORT).read_text())
        except (ValueError, UnicodeDecodeError) as err:
            raise ConfigError(f"{run_dir / REPORT}: not valid JSON ({err})") from None
    return Run(run_dir, model, meta, history, report)
