"""Where trials run: in this process, on a Dask ``LocalCluster``, or on a cluster's scheduler.

Dask distributed (https://distributed.dask.org) does the scheduling: each
trial is one task (:func:`digitnet.sweep.trial.run_trial`). When a worker
process dies in the middle of a task, the scheduler gives the task to
another worker (up to ``distributed.scheduler.allowed-failures`` times,
default 3, then the task fails with ``KilledWorker``); the new attempt
resumes from the trial's checkpoint. The client appends each record to
``results.jsonl`` the moment it arrives (:func:`run_trials`).

``LocalCluster`` starts one single-threaded worker process per core (Dask's
nanny also sets ``OMP_NUM_THREADS=1`` and friends in them); each trial pins
its BLAS threads again with threadpoolctl and records the count.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from ..errors import ConfigError
from .results import append_record
from .trial import run_trial


class InProcess:
    """Trials one after another in this process (``--workers 1``; needs no Dask)."""

    capacity = 1
    description = "in this process"

    def __init__(self) -> None:
        self.queue: list[dict] = []

    def submit(self, spec: dict) -> None:
        self.queue.append(spec)

    def pending(self) -> int:
        return len(self.queue)

    def next_done(self) -> tuple[dict, dict]:
        spec = self.queue.pop(0)
        return spec, run_trial(spec)

    def cancel(self) -> None:
        self.queue.clear()


class OnDask:
    """Trials as tasks of a Dask ``Client``; results in the order they finish."""

    def __init__(self, client: Any, description: str):
        from distributed import as_completed

        self.client, self.description = client, description
        self.done = as_completed()
        self.futures: dict[Any, dict] = {}

    @property
    def capacity(self) -> int:
        """Worker threads: how many trials run at once."""
        return max(1, sum(w["nthreads"] for w in self.client.scheduler_info()["workers"].values()))

    def submit(self, spec: dict) -> None:
        # pure=False: the same spec submitted again (a resumed sweep) is a new task.
        future = self.client.submit(
            run_trial, spec, key=f"trial-{spec['id']}-{os.urandom(4).hex()}", pure=False
        )
        self.futures[future] = spec
        self.done.add(future)

    def pending(self) -> int:
        return len(self.futures)

    def next_done(self) -> tuple[dict, dict]:
        future = next(self.done)
        spec = self.futures.pop(future)
        try:
            return spec, future.result()
        except Exception as err:  # noqa: BLE001 - KilledWorker, a lost scheduler...: the trial's end, not the sweep's
            failure = {key: spec[key] for key in ("id", "params", "seed", "config")}
            reason = (
                f"its worker died {_allowed_failures() + 1} times (KilledWorker)"
                if type(err).__name__ == "KilledWorker"
                else f"{type(err).__name__}: {err}"
            )
            return spec, {**failure, "status": "failed", "error": reason}

    def cancel(self) -> None:
        self.client.cancel(list(self.futures), force=True)
        self.futures.clear()


def _allowed_failures() -> int:
    import dask

    return int(dask.config.get("distributed.scheduler.allowed-failures"))


def require_dask(workers: int | None = None, scheduler: str | None = None) -> None:
    """Raise ConfigError (how to install it) when Dask is needed and missing."""
    if scheduler is None and workers == 1:
        return
    try:
        import distributed  # noqa: F401
    except ImportError:
        raise ConfigError(
            "sweeps on several workers or a cluster need Dask: pip install 'digitnet[sweep]' "
            "(or run in this process with --workers 1)"
        ) from None


def check_scheduler_address(address: str) -> None:
    """Check that ``address`` names a Dask scheduler before anything is made; ConfigError if not.

    ``tcp://HOST:PORT`` (or ``tls://``). For ``tcp://`` the scheduler is also
    asked for its first words: a Dask scheduler speaks first on a new
    connection (its handshake), a web server or another service does not, or
    says something that is no Dask frame. This turns a wrong port (the
    dashboard's 8787, say) into one line instead of a hang.
    """
    import socket
    import struct
    from urllib.parse import urlsplit

    try:
        parts = urlsplit(address)
        host, port = parts.hostname, parts.port
    except ValueError as err:
        raise ConfigError(
            f"--scheduler {address!r}: not an address ({err}); expected tcp://HOST:PORT"
        ) from None
    if parts.scheme not in ("tcp", "tls") or not host or port is None:
        raise ConfigError(
            f"--scheduler {address!r}: expected tcp://HOST:PORT (or tls://HOST:PORT), "
            "e.g. tcp://10.0.0.5:8786 as `dask scheduler` prints it"
        )
    try:
        probe = socket.create_connection((host, port), timeout=10)
    except OSError as err:  # refused, unreachable, unknown host, timed out
        raise ConfigError(
            f"--scheduler {address}: cannot reach the Dask scheduler ({err.strerror or err})"
        ) from None
    with probe:
        if parts.scheme == "tls":
            return
        probe.settimeout(5)
        try:
            header = probe.recv(8, socket.MSG_WAITALL)
        except OSError:  # said nothing in 5 s (a web server waits for a request)
            header = b""
    if len(header) < 8 or struct.unpack("<Q", header)[0] > 2**32:
        raise ConfigError(
            f"--scheduler {address}: something answers there but it is not a Dask scheduler (the dashboard's "
            "port? a scheduler listens on 8786 by default)"
        )


@contextlib.contextmanager
def executor(workers: int | None, scheduler: str | None, sweep_dir: Path) -> Iterator[Any]:
    """The place trials run, opened and closed around a sweep.

    Parameters
    ----------
    workers : int or None
        Worker processes of a ``LocalCluster`` (default: one per core);
        1 runs in this process without Dask.
    scheduler : str or None
        ``tcp://HOST:PORT`` of a running ``dask scheduler``; its workers must
        see ``sweep_dir`` at the same path (a shared filesystem).

    Raises
    ------
    ConfigError
        Dask is not installed, the scheduler cannot be reached, or a worker
        cannot see the sweep folder.
    """
    if scheduler is None and workers == 1:
        yield InProcess()
        return
    require_dask()
    from distributed import Client, LocalCluster

    if scheduler is not None:
        try:
            client = Client(scheduler, timeout="10s")
        except Exception as err:  # noqa: BLE001 - OSError, TimeoutError, ValueError...: one line, not a traceback
            raise ConfigError(
                f"--scheduler {scheduler}: cannot connect to the Dask scheduler ({err})"
            ) from None
        with client:
            _check_workers_see(client, sweep_dir, scheduler)
            yield OnDask(client, f"on the cluster at {scheduler}")
        return
    import logging

    from dask.system import CPU_COUNT  # the cores this process may use (affinity, cgroup quotas)

    n = workers or CPU_COUNT
    with (
        LocalCluster(
            n_workers=n,
            threads_per_worker=1,
            processes=True,
            dashboard_address=":0",  # any free port: no warning when 8787 is taken
            silence_logs=logging.ERROR,
        ) as cluster,
        Client(cluster) as client,
    ):
        yield OnDask(client, f"on a local Dask cluster of {n} worker processes")


WORKER_WAIT = 60  # seconds a sweep waits for a cluster's first worker


def _check_workers_see(client: Any, sweep_dir: Path, scheduler: str) -> None:
    """Every worker must reach the sweep folder: trials write their run folders there."""
    try:
        client.wait_for_workers(1, timeout=WORKER_WAIT)
    except (TimeoutError, OSError):
        raise ConfigError(
            f"no worker has joined the scheduler at {scheduler} within {WORKER_WAIT} s: start some with "
            f"`dask worker {scheduler} --nthreads 1`"
        ) from None
    seen = client.run(os.path.isdir, str(sweep_dir.resolve()))
    blind = [address for address, ok in seen.items() if not ok]
    if blind:
        raise ConfigError(
            f"the workers {', '.join(blind)} of {scheduler} cannot see {sweep_dir.resolve()}: "
            "--out must be on a filesystem shared with every worker, at the same path"
        )


def run_trials(
    search: Any, place: Any, results: Path, known: dict[str, dict], on_record: Callable[[dict], None]
) -> None:
    """Run what ``search`` asks for on ``place``, appending each record to ``results`` as it arrives.

    Trials whose id is in ``known`` (records of an earlier run of this sweep)
    are not run again: their records go straight to the search. An adaptive
    search (TPE) is asked for only as many trials as can run at once, so
    that each new suggestion learns from every result so far.
    """
    running: set[str] = set()
    while True:
        room = place.capacity - place.pending() if search.adaptive else search.total
        for spec in search.ask(max(room, 0 if place.pending() else 1)):
            if spec["id"] in known:
                search.tell(known[spec["id"]])
            elif spec["id"] not in running:  # asked again while it runs: one run answers both
                running.add(spec["id"])
                place.submit(spec)
        if not place.pending():
            if search.finished:
                return
            continue  # every trial asked for had a record already: ask again
        _, record = place.next_done()
        running.discard(record["id"])
        append_record(results, record)
        known[record["id"]] = record
        search.tell(record)
        on_record(record)
