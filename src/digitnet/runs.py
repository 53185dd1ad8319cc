"""The run folder: what one training run leaves behind, written and read here only.

::

    runs/quick-20261129-120000/
        model.npz        the trained network with its metadata (modelfile)
        history.json     one record per epoch
        report.json      the test-set evaluation (accuracy, CI, per class, confusion)
        checkpoint.npz   for --resume (when checkpoints were asked for or Ctrl-C)
        *.png            the plots (plots.plot_run)

:func:`train_run` trains, evaluates and writes it (``digitnet train`` is a
thin layer over it); ``digitnet plot`` and the tools read it back through
:func:`read_run` (``train --resume`` reads ``checkpoint.npz`` with
:func:`digitnet.checkpoint.load_checkpoint`).
"""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from . import __version__
from .api import class_map, evaluate_indices
from .config import TrainConfig
from .csvdata import is_csv, read_labelled_csv
from .data import Dataset, labelled_dataset, load_dataset, unverified_note
from .errors import ConfigError
from .fileio import write_json
from .folders import is_picture_folder, read_picture_folder
from .hooks import Checkpointing, Hook
from .metrics import format_report
from .model import Network
from .modelfile import load_model, save_model
from .train import TrainResult, train

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


@dataclass
class TrainedRun:
    """What :func:`train_run` returns: the training result, its test report, the files."""

    path: Path
    result: TrainResult
    report: dict
    files: list[Path]


def train_run(config: TrainConfig, out: str | Path, *, data: Dataset | None = None,
              data_dir: str | Path | None = None, hooks: Sequence[Hook] = (), resume=None,
              checkpoint_every: int | None = None, log: Callable[[str], None] | None = None,
              plots: bool = True, model: Network | None = None, auto_validation: bool = False) -> TrainedRun:
    """Train as ``config`` says, evaluate on the test set, and write the run folder ``out``.

    Parameters
    ----------
    config : TrainConfig
    out : str or Path
        The run folder (created); ``out/checkpoint.npz`` is written every
        ``checkpoint_every`` epochs and whenever a stop is requested.
    data : Dataset, optional
        Default: ``load_dataset(config.dataset, data_dir, ...)``, or
        :func:`own_data` when ``data_dir`` is a CSV file or a folder of pictures.
    hooks : sequence of Hook
        Added to the checkpoint hook (progress bars, stop requests...).
    resume : Checkpoint, optional
    log : callable, optional
        Receives the human-readable lines (what is trained, each epoch, the report).
    auto_validation : bool
        The validation size was not chosen by the user: a small CSV file or
        picture folder validates on a tenth of its examples.
    model : Network, optional
        Start from this network's weights (``digitnet train --init MODEL``:
        fine-tuning) with a fresh optimizer; the data's labels must be among
        its classes.

    Raises
    ------
    TrainingInterrupted, TrainingDiverged, DataError, ConfigError
        As :func:`digitnet.train.train` and :func:`digitnet.data.load_dataset`.
    """
    say = log or (lambda line: None)
    out = Path(out)
    if data is None and data_dir is not None and (is_csv(data_dir) or is_picture_folder(data_dir)):
        data = own_data(config, Path(data_dir), say, auto_validation)
    if data is None:
        data = load_dataset(config.dataset, data_dir, config.validation_size, train_limit=config.train_limit,
                            small_set_validation=auto_validation and data_dir is not None)
        if len(data.x_val) != config.validation_size:
            say(f"{data.source}: validating on {len(data.x_val):,} of its training images (a tenth; "
                "--validation-size sets it)")
    if data.unverified:
        say(unverified_note(data))
    if model is not None:
        data = onto_classes(data, model)
    shape = model.sizes if model is not None else (data.n_features, *config.hidden, len(data.classes))
    sizes = "-".join(str(s) for s in shape)
    batch = "full batch" if config.batch_size == 0 else f"batch {config.batch_size}"
    say(f"digitnet {__version__}: training {sizes} on {data.name} "
        f"({len(data.x_train):,} train, {len(data.x_val):,} validation images from {data.source})")
    say(f"preset {config.preset}: {config.optimizer} lr {config.lr:g} ({config.schedule}), {batch}, "
        f"{config.epochs} {'iterations' if config.batch_size == 0 else 'epochs'}, seed {config.seed}")
    if resume is not None:
        done = resume.meta["state"]
        say(f"resuming from {resume.path}: epoch {done['epoch']}, step {done['step']}")
    checkpoints = Checkpointing(checkpoint_path(out), checkpoint_every)
    result = train(config, data, [checkpoints, *hooks], model=model, resume=resume, log=log)
    report, probs = evaluate_indices(result.model, data.x_test, data.y_test, data.classes)
    unit = "iterations" if config.batch_size == 0 else "epochs"
    say(f"trained in {result.train_seconds:.1f}s ({len(result.history)} {unit}"
        + (f", best epoch {result.best_epoch}" if result.best_epoch != len(result.history) else "") + ")")
    say(format_report(report, data.classes))
    files = write_run(out, result, config, data, report, probs, plots=plots)
    say(f"wrote {files[0]}, {out / HISTORY}" + (f" and {len(files) - 3} plots" if len(files) > 3 else ""))
    say(f"test accuracy: {100 * report['test_accuracy']:.2f}%")
    return TrainedRun(out, result, report, files)


def own_data(config: TrainConfig, source: Path, say: Callable[[str], None],
             auto_validation: bool = False) -> Dataset:
    """A labelled CSV file or a folder of pictures, split for training (see ``labelled_dataset``).

    With ``auto_validation`` (no ``--validation-size`` given), a set much
    smaller than the preset's validation size (5,000) validates on a tenth
    of it instead, and says so.
    """
    if is_csv(source):
        images, rows = read_labelled_csv(source)
        labels, what = list(rows), "rows"
    else:
        pictures = read_picture_folder(source)
        for line in pictures.skipped:
            say(f"skipped {line}")
        images, labels, what = pictures.images, pictures.labels, "pictures"
    validation = config.validation_size
    if auto_validation and validation > 0.2 * len(images):
        validation = round(0.1 * len(images))
        say(f"{source}: validating on {validation:,} of its {len(images):,} {what} (a tenth; "
            f"--validation-size sets it)")
    data = labelled_dataset(source.name, str(source), images, labels, validation, config.train_limit)
    say(f"{source} has no test set of its own: {len(data.x_test):,} of its {what} are held out as one")
    return data


def onto_classes(data: Dataset, model: Network) -> Dataset:
    """``data`` with its labels as indices into ``model.classes``: fine-tuning keeps the network's classes."""
    mapping = class_map(model, data.classes)   # InputError for a label the network does not know
    return dataclasses.replace(data, y_train=mapping[data.y_train], y_val=mapping[data.y_val],
                               y_test=mapping[data.y_test], classes=tuple(model.classes))


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
        "image_shape": list(data.shape_2d) if data.shape_2d else None, "data_source": data.source,
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
