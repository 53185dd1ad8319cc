"""digitnet sweep on Dask: a LocalCluster, a real scheduler and workers on loopback, faults.

Every sweep here runs as its own ``digitnet`` process, as a user runs it;
the cluster test starts a real ``dask scheduler`` and two ``dask worker``
processes. A killed worker's trial must be retried on another worker,
resume from its checkpoint and end with the same weights as an
uninterrupted run (BLAS pinned to one thread on both sides).
"""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from digitnet.modelfile import load_model
from digitnet.sweep.results import read_records
from sweep_helpers import optuna_trials

DASK = Path(sys.executable).parent / "dask"
TINY = ["--epochs", "2", "--train-limit", "400", "--validation-size", "100", "--hidden", "16"]
# Long enough to be caught mid-way: about half a second per epoch on one thread.
SLOW = ["--epochs", "6", "--train-limit", "8000", "--validation-size", "300", "--hidden", "256"]


def sweep(*args, timeout=240, **popen):
    """Run ``digitnet sweep ARGS`` in a new process; return the finished process."""
    return subprocess.run(
        [sys.executable, "-m", "digitnet", "sweep", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        **popen,
    )


def started_sweep(*args):
    return subprocess.Popen(
        [sys.executable, "-m", "digitnet", "sweep", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def wait_for(condition, timeout=120, what="the condition"):
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


def ctrl_c_after_first_record(process, out, signum=signal.SIGINT):
    """Send SIGINT (what Ctrl-C sends) once the sweep has recorded a trial; return its stderr."""
    wait_for(
        lambda: (out / "results.jsonl").is_file() and (out / "results.jsonl").stat().st_size > 0,
        what="the first record",
    )
    process.send_signal(signum)
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == 128 + signum, stderr
    return stderr


def weights(folder):
    model, _ = load_model(Path(folder) / "model.npz")
    return [p.copy() for p in model.parameters()]


def test_local_cluster_of_two_workers_matches_the_same_sweep_in_one_process(tmp_path):
    local = sweep(
        "--workers", "2", *TINY, "--grid", "lr=3e-3,1e-2", "--seeds", "0,1", "--out", str(tmp_path / "a")
    )
    assert local.returncode == 0, local.stderr
    assert "on a local Dask cluster of 2 worker processes" in local.stdout
    assert "Chosen on validation accuracy" in local.stdout
    inline = sweep(
        "--workers", "1", *TINY, "--grid", "lr=3e-3,1e-2", "--seeds", "0,1", "--out", str(tmp_path / "b")
    )
    assert inline.returncode == 0, inline.stderr
    on_dask = {r["id"]: r for r in read_records(tmp_path / "a" / "results.jsonl")}
    in_process = {r["id"]: r for r in read_records(tmp_path / "b" / "results.jsonl")}
    assert set(on_dask) == set(in_process) and len(on_dask) == 4
    pids = {r["pid"] for r in on_dask.values()}
    assert len(pids) == 2 and local_pid_not_in(pids)  # two worker processes, neither the client
    for tid, r in on_dask.items():
        assert r["status"] == "ok" and r["threads"] in (1, None)
        assert (r["val_accuracy"], r["test_accuracy"]) == (
            in_process[tid]["val_accuracy"],
            in_process[tid]["test_accuracy"],
        )
        for a, b in zip(weights(tmp_path / "a" / "trials" / tid), weights(tmp_path / "b" / "trials" / tid)):
            np.testing.assert_array_equal(a, b)


def local_pid_not_in(pids):
    return os.getpid() not in pids


def test_ctrl_c_stops_a_sweep_and_resume_runs_only_what_is_missing(tmp_path):
    out = tmp_path / "sweep"
    args = ["--workers", "2", *SLOW, "--grid", "lr=1e-3,3e-3", "--seeds", "0,1", "--out", str(out)]
    process = started_sweep(*args)
    stderr = ctrl_c_after_first_record(process, out)
    assert f"resume with: digitnet sweep --resume {out}" in stderr and "Traceback" not in stderr
    recorded = read_records(out / "results.jsonl")
    assert 1 <= len(recorded) < 4
    resumed = sweep("--resume", str(out), "--workers", "2")
    assert resumed.returncode == 0, resumed.stderr
    assert f"{len(recorded)} already recorded" in resumed.stdout
    records = read_records(out / "results.jsonl")
    assert len(records) == 4 and all(r["status"] == "ok" for r in records)
    # Every trial recorded once; the ones from before Ctrl-C are kept as they were.
    lines = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]
    assert len(lines) == 4 and lines[: len(recorded)] == recorded
    assert sorted(p.name for p in (out / "trials").iterdir()) == sorted(r["id"] for r in records)


def start_scheduler(folder):
    """A real ``dask scheduler`` on 127.0.0.1 (any free port); returns the process and its address file."""
    scheduler_file = folder / "scheduler.json"
    command = [
        str(DASK),
        "scheduler",
        "--host",
        "127.0.0.1",
        "--port",
        "0",
        "--no-dashboard",
        "--scheduler-file",
        str(scheduler_file),
    ]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=open(folder / "scheduler.log", "w"))
    wait_for(scheduler_file.is_file, 60, "the scheduler")
    return process, scheduler_file


def start_worker(scheduler_file, name, folder):
    """A real ``dask worker`` process (with its nanny), one thread, as the README starts them."""
    command = [
        str(DASK),
        "worker",
        "--scheduler-file",
        str(scheduler_file),
        "--nthreads",
        "1",
        "--no-dashboard",
        "--host",
        "127.0.0.1",
        "--name",
        name,
    ]
    return subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=open(folder / f"{name}.log", "w"))


def stop(processes):
    for p in reversed(processes):
        p.terminate()
    for p in processes:
        try:
            p.wait(timeout=20)
        except subprocess.TimeoutExpired:
            p.kill()


@pytest.fixture(scope="module")
def loopback_cluster(tmp_path_factory):
    """A real ``dask scheduler`` and two ``dask worker`` processes on 127.0.0.1; yields the address."""
    from distributed import Client

    folder = tmp_path_factory.mktemp("cluster")
    scheduler, scheduler_file = start_scheduler(folder)
    processes = [scheduler] + [start_worker(scheduler_file, f"worker-{i}", folder) for i in range(2)]
    address = json.loads(scheduler_file.read_text())["address"]
    with Client(address, timeout="30s") as client:
        client.wait_for_workers(2, timeout=60)
    yield address
    stop(processes)


def test_a_scheduler_without_workers_is_one_line(tmp_path, capsys, monkeypatch):
    from digitnet.cli import main
    from digitnet.sweep import engine

    monkeypatch.setattr(engine, "WORKER_WAIT", 3)
    scheduler, scheduler_file = start_scheduler(tmp_path)
    try:
        address = json.loads(scheduler_file.read_text())["address"]
        out = tmp_path / "sweep"
        status = main(["sweep", "--scheduler", address, *TINY, "--grid", "lr=1e-3", "--out", str(out)])
    finally:
        stop([scheduler])
    err = capsys.readouterr().err
    assert status == 1 and f"no worker has joined the scheduler at {address} within 3 s" in err
    assert err.count("\n") == 1


def test_a_sweep_runs_on_a_real_scheduler_through_its_address(tmp_path, loopback_cluster):
    out = tmp_path / "sweep"
    result = sweep(
        "--scheduler", loopback_cluster, *TINY, "--grid", "lr=3e-3,1e-2", "--seeds", "0,1", "--out", str(out)
    )
    assert result.returncode == 0, result.stderr
    assert f"on the cluster at {loopback_cluster}" in result.stdout
    records = read_records(out / "results.jsonl")
    assert len(records) == 4 and all(r["status"] == "ok" for r in records)
    assert len({r["pid"] for r in records}) == 2  # both workers took trials


def test_a_worker_killed_mid_trial_is_retried_elsewhere_and_resumes_to_the_same_weights(
    tmp_path, loopback_cluster
):
    out = tmp_path / "sweep"
    process = started_sweep(
        "--scheduler", loopback_cluster, *SLOW, "--grid", "lr=1e-3,3e-3", "--out", str(out)
    )
    trials = out / "trials"
    # Wait until some trial has a checkpoint (an epoch done, more to go), then kill the process running it.
    wait_for(
        lambda: trials.is_dir() and any((p / "checkpoint.npz").is_file() for p in trials.glob("*.partial")),
        what="a trial's first checkpoint",
    )
    victim = next(p for p in trials.glob("*.partial") if (p / "checkpoint.npz").is_file())
    pid = json.loads((victim / "attempts.jsonl").read_text().splitlines()[-1])["pid"]
    os.kill(pid, signal.SIGKILL)
    stdout, stderr = process.communicate(timeout=240)
    assert process.returncode == 0, stderr
    killed_id = victim.name[: -len(".partial")]
    records = {r["id"]: r for r in read_records(out / "results.jsonl")}
    assert len(records) == 2 and all(r["status"] == "ok" for r in records.values())
    killed = records[killed_id]
    assert killed["attempts"] == 2 and killed["resumed_from_epoch"] >= 1 and killed["pid"] != pid
    assert killed["epochs"] == 6
    # The same trial never interrupted, in this machine's other way (in one process, one BLAS thread).
    lr = killed["params"]["lr"]
    straight = sweep("--workers", "1", *SLOW, "--grid", f"lr={lr!r}", "--out", str(tmp_path / "straight"))
    assert straight.returncode == 0, straight.stderr
    again = read_records(tmp_path / "straight" / "results.jsonl")[0]
    assert again["id"] == killed_id and again["val_accuracy"] == killed["val_accuracy"]
    assert again["test_accuracy"] == killed["test_accuracy"]
    for a, b in zip(weights(trials / killed_id), weights(tmp_path / "straight" / "trials" / killed_id)):
        np.testing.assert_array_equal(a, b)


def test_a_scheduler_that_cannot_be_reached_is_one_line(tmp_path):
    result = sweep(
        "--scheduler",
        "tcp://127.0.0.1:9",
        *TINY,
        "--grid",
        "lr=1e-3",
        "--out",
        str(tmp_path / "s"),
        timeout=120,
    )
    assert result.returncode == 1
    assert result.stderr.startswith("digitnet: error: --scheduler tcp://127.0.0.1:9: cannot reach")
    assert result.stderr.count("\n") == 1


def test_tpe_search_with_optuna_stores_its_study_and_resumes_it(tmp_path):
    import optuna

    out = tmp_path / "sweep"
    args = [
        *TINY[:-2],
        "--search",
        "tpe",
        "--trials",
        "4",
        "--grid",
        "lr=1e-3..3e-2:log",
        "--grid",
        "hidden=8,16",
        "--seeds",
        "0,1",
        "--out",
        str(out),
    ]
    result = sweep("--workers", "2", *args)
    assert result.returncode == 0, result.stderr
    records = read_records(out / "results.jsonl")
    assert len(records) == 8 and all(r["status"] == "ok" for r in records)
    study_trials = optuna_trials(out)
    complete = [t for t in study_trials if t.state == optuna.trial.TrialState.COMPLETE]
    assert len(complete) == 4
    # Each Optuna trial's value is its configuration's mean validation accuracy over the two seeds.
    for t in complete:
        seeds = [
            r
            for r in records
            if r["params"]["lr"] == t.params["lr"]
            and "x".join(map(str, r["params"]["hidden"])) == t.params["hidden"]
        ]
        assert len(seeds) == 2 and t.value == pytest.approx(np.mean([r["val_accuracy"] for r in seeds]))
    # Resuming a finished study runs nothing more.
    again = sweep("--resume", str(out), "--workers", "1")
    assert again.returncode == 0 and "8 already recorded" in again.stdout
    assert len(optuna_trials(out)) == 4


def test_an_interrupted_tpe_sweep_resumes_its_study_without_losing_budget(tmp_path):
    import optuna

    out = tmp_path / "sweep"
    process = started_sweep(
        "--workers",
        "2",
        *SLOW[:-2],
        "--hidden",
        "64",
        "--search",
        "tpe",
        "--trials",
        "4",
        "--grid",
        "lr=1e-3..1e-2:log",
        "--out",
        str(out),
    )
    ctrl_c_after_first_record(process, out)
    states = optuna.trial.TrialState
    before = optuna_trials(out)
    assert any(t.state == states.RUNNING for t in before)  # a trial was cut short
    resumed = sweep("--resume", str(out), "--workers", "2")
    assert resumed.returncode == 0, resumed.stderr
    study_trials = optuna_trials(out)
    complete = [t for t in study_trials if t.state == states.COMPLETE]
    assert len(complete) == 4  # the budget, whatever was interrupted
    # Interrupted trials were asked again first, with the same learning rate.
    for stale in (t for t in study_trials if t.state == states.FAIL and t.params):
        retry = next(t for t in study_trials if t.user_attrs.get("retry_of") == stale.number)
        assert retry.params == stale.params
    records = read_records(out / "results.jsonl")
    assert len(records) == 4 and {r["params"]["lr"] for r in records} == {t.params["lr"] for t in complete}


def test_sigterm_stops_a_sweep_as_ctrl_c_does(tmp_path):
    out = tmp_path / "sweep"
    process = started_sweep(
        "--workers", "2", *SLOW, "--grid", "lr=1e-3,3e-3", "--seeds", "0,1", "--out", str(out)
    )
    stderr = ctrl_c_after_first_record(process, out, signal.SIGTERM)
    assert f"resume with: digitnet sweep --resume {out}" in stderr and "Traceback" not in stderr


def test_tpe_on_two_workers_never_trains_one_configuration_twice_at_once(tmp_path):
    import optuna

    out = tmp_path / "sweep"
    result = sweep(
        "--workers",
        "2",
        *TINY,
        "--search",
        "tpe",
        "--trials",
        "6",
        "--grid",
        "lr=1e-3,2e-3",
        "--out",
        str(out),
    )
    assert result.returncode == 0, result.stderr
    lines = (out / "results.jsonl").read_text().splitlines()
    records = read_records(out / "results.jsonl")
    assert len(lines) == len(records) == 2 and all(
        r["status"] == "ok" and r["attempts"] == 1 for r in records
    )
    trials = optuna_trials(out)
    assert len(trials) == 6 and all(t.state == optuna.trial.TrialState.COMPLETE for t in trials)
