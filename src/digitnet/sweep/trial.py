"""One trial: a training run on a worker, in its own run folder, returning a small record.

A trial trains into ``trials/<id>.partial/`` with a checkpoint after every
epoch, and renames the folder to ``trials/<id>/`` when the run folder is
complete: a trial folder without ``.partial`` is always whole. When the
worker running it dies, Dask runs the task again on another worker; the
new attempt finds the checkpoint and continues from it, bit for bit
(:mod:`digitnet.checkpoint`), so the result equals an uninterrupted run's at
the same BLAS thread count.

What comes back to the client is a dict of plain values (never a network):
the configuration, seed, validation and test accuracy, epochs, seconds,
BLAS threads, host and process, attempts. A trial that raises comes back as
a record with ``status: "failed"`` and the error, so one bad configuration
never stops the sweep.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import socket
import time
import traceback
from pathlib import Path

from ..checkpoint import load_checkpoint
from ..config import TrainConfig
from ..csvdata import is_csv
from ..data import Dataset, load_dataset
from ..fileio import write_json
from ..folders import is_picture_folder
from ..hooks import Hook
from ..runs import CHECKPOINT, own_data, train_run
from ..train import blas_threads
from .space import display

RECORD = "record.json"
ATTEMPTS = "attempts.jsonl"


def trial_id(params: dict, seed: int) -> str:
    """A stable name for (configuration, seed): the same trial gets the same folder on every resume.

    The values as the flags write them, then 8 hex digits of the SHA-1 of
    the parameters as sorted JSON (unique even when values are cut short):
    ``hidden512x256-lr0.002-seed1-3f9c2a1b`` (fields in alphabetical order).
    """
    digest = hashlib.sha1(json.dumps(params, sort_keys=True).encode()).hexdigest()[:8]
    readable = "-".join(f"{name}{display(value)}" for name, value in sorted(params.items()))[:80]
    safe = "".join(c if c.isalnum() or c in ".-_" else "_" for c in readable)
    return f"{safe + '-' if safe else ''}seed{seed}-{digest}"


def make_spec(
    trial_dir: Path, base: dict, params: dict, seed: int, data_dir: str | None, threads: int
) -> dict:
    """What a worker needs to run one trial: plain values only (it travels to other machines).

    ``base`` is the preset with the fixed settings (``TrainConfig.to_dict()``),
    ``params`` the swept values (JSON form); the configuration is checked here,
    on the client, so a bad combination fails before anything runs.
    """
    config = TrainConfig.from_dict({**base, **params, "seed": seed}).to_dict()
    tid = trial_id(params, seed)
    return {
        "id": tid,
        "params": params,
        "seed": seed,
        "config": config,
        "folder": str(trial_dir / tid),
        "data_dir": data_dir,
        "threads": threads,
    }


def run_trial(spec: dict) -> dict:
    """Train one trial (on a Dask worker or in this process) and return its record.

    Parameters
    ----------
    spec : dict
        From :func:`make_spec`.

    Returns
    -------
    dict
        ``status`` ("ok" or "failed"), ``id``, ``params``, ``seed``, ``config``;
        when ok ``val_accuracy`` (the kept epoch's), ``test_accuracy``,
        ``epochs``, ``best_epoch``, ``train_seconds``; always ``seconds`` (this
        attempt's wall time), ``threads``, ``host``, ``pid``, ``attempts``,
        ``resumed_from_epoch``, and ``error`` and ``traceback`` (its last
        lines) when failed. Never raises for a
        failing trial.
    """
    from threadpoolctl import threadpool_limits

    started = time.perf_counter()
    folder = Path(spec["folder"])
    partial = folder.with_name(folder.name + ".partial")
    done = _finished_record(folder)
    if done is not None:  # the folder was completed by an attempt whose answer was lost
        return done
    record = {key: spec[key] for key in ("id", "params", "seed", "config")}
    record.update(host=socket.gethostname(), pid=os.getpid())
    try:
        partial.mkdir(parents=True, exist_ok=True)
        attempts = _note_attempt(partial)
        checkpoint = load_checkpoint(partial / CHECKPOINT) if (partial / CHECKPOINT).is_file() else None
        record.update(
            attempts=attempts, resumed_from_epoch=checkpoint.meta["state"]["epoch"] - 1 if checkpoint else 0
        )
        # Pinned BLAS threads: results are bit-identical only at a fixed count, and
        # one thread per worker process keeps the workers from fighting over cores.
        with threadpool_limits(limits=spec["threads"], user_api="blas"):
            record["threads"] = blas_threads()
            config = TrainConfig.from_dict(spec["config"])
            data = _dataset(config, spec["data_dir"])
            run = train_run(
                config,
                partial,
                data=data,
                resume=checkpoint,
                checkpoint_every=1,
                plots=False,
                hooks=[StopWhenSuperseded(partial / ATTEMPTS, attempts)],
            )
        best = run.result.history[run.result.best_epoch - 1]
        record.update(
            status="ok",
            val_accuracy=best["val_accuracy"],
            test_accuracy=run.report["test_accuracy"],
            epochs=len(run.result.history),
            best_epoch=run.result.best_epoch,
            train_seconds=run.result.train_seconds,
        )
    except Exception as err:  # noqa: BLE001 - a failing trial is a result, never the sweep's end
        done = _finished_record(folder)
        if done is not None:  # another attempt finished the trial (and moved the folder) meanwhile
            return done
        # The error for the table; where it was raised for whoever debugs it (a worker's log may be far away).
        record.update(
            status="failed",
            error=f"{type(err).__name__}: {err}",
            traceback=traceback.format_exc(limit=-6).splitlines()[-14:],
        )
    record["seconds"] = time.perf_counter() - started
    if record["status"] == "ok":
        (partial / CHECKPOINT).unlink(missing_ok=True)  # the finished run needs no checkpoint
        write_json(partial / RECORD, record)
        if folder.exists():  # a stale folder from a trial rerun by --retry-failed
            shutil.rmtree(folder)
        os.replace(partial, folder)
        record["folder"] = str(folder)
    return record


class TrialSuperseded(Exception):
    """A newer attempt of the same trial has started: this one stops (see StopWhenSuperseded)."""


class StopWhenSuperseded(Hook):
    """Stop an attempt at the start of an epoch once a newer attempt of its trial has registered.

    An attempt cancelled by a stopped sweep goes on running on a cluster's
    worker (Dask cannot stop a running task); when ``--resume`` starts the
    trial again, the old attempt must not keep writing into the same folder.
    """

    def __init__(self, attempts_file: Path, mine: int):
        self.attempts_file, self.mine = attempts_file, mine

    def on_epoch_begin(self, trainer):
        if _count_lines(self.attempts_file) > self.mine:
            raise TrialSuperseded(f"attempt {self.mine} of this trial was superseded by a newer one")


def _count_lines(path: Path) -> int:
    try:
        return len(path.read_text().splitlines())
    except OSError:
        return 0


def _finished_record(folder: Path) -> dict | None:
    try:
        return json.loads((folder / RECORD).read_text())
    except (OSError, ValueError):
        return None


def _note_attempt(partial: Path) -> int:
    """Append this attempt (host, process, time) to the trial's log; return how many there were."""
    with open(partial / ATTEMPTS, "a", encoding="utf-8") as f:
        f.write(json.dumps({"host": socket.gethostname(), "pid": os.getpid(), "time": time.time()}) + "\n")
    return _count_lines(partial / ATTEMPTS)


# One worker process runs many trials on the same data: read it once.
_DATA: dict[tuple, Dataset] = {}


def _dataset(config: TrainConfig, data_dir: str | None) -> Dataset:
    key = (config.dataset, data_dir, config.validation_size, config.train_limit)
    if key not in _DATA:
        _DATA.clear()
        if data_dir is not None and (is_csv(data_dir) or is_picture_folder(data_dir)):
            _DATA[key] = own_data(config, Path(data_dir), lambda line: None)
        else:
            _DATA[key] = load_dataset(
                config.dataset, data_dir, config.validation_size, train_limit=config.train_limit
            )
    return _DATA[key]
