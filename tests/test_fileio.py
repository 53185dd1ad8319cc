"""Quit-at-once requests (a second Ctrl-C, a sweep's Ctrl-C or SIGTERM) wait for a file being
written in the main thread, and only there: signal handlers run in the main thread."""

import errno
import os
import threading

import numpy as np
import pytest

from digitnet.fileio import atomic_open, interrupt_when_written, uninterrupted


def test_an_interrupt_outside_a_write_is_raised_at_once_with_its_reason():
    with pytest.raises(KeyboardInterrupt) as stop:
        interrupt_when_written("SIGTERM")
    assert str(stop.value) == "SIGTERM"
    with pytest.raises(KeyboardInterrupt) as stop:
        interrupt_when_written()
    assert stop.value.args == ()


def test_an_interrupt_during_writes_waits_for_the_outermost_to_end(tmp_path):
    done = []
    with pytest.raises(KeyboardInterrupt) as stop:
        with uninterrupted():
            with atomic_open(tmp_path / "a.txt", "w") as f:
                f.write("first")
                interrupt_when_written("SIGTERM")        # held: the file is half written
                interrupt_when_written()                 # a second request adds nothing
                f.write(" whole")
            done.append("a.txt renamed into place")       # the inner write ended: still held
            with atomic_open(tmp_path / "b.txt", "w") as f:
                f.write("also whole")
            done.append("b.txt too")
    assert str(stop.value) == "SIGTERM" and len(done) == 2
    assert (tmp_path / "a.txt").read_text() == "first whole"
    assert (tmp_path / "b.txt").read_text() == "also whole"
    assert not list(tmp_path.glob(".*.tmp"))
    with uninterrupted():                                 # nothing is left held for later
        pass


def test_a_write_in_another_thread_holds_nothing(tmp_path):
    """Only the main thread's writes can be cut by a KeyboardInterrupt; one raised when another
    thread's write ends would land in that thread instead of stopping the program."""
    writing, release, failures = threading.Event(), threading.Event(), []

    def write_in_a_thread():
        try:
            with atomic_open(tmp_path / "t.txt", "w") as f:
                f.write("from a thread")
                writing.set()
                release.wait(10)
        except BaseException as error:            # noqa: BLE001 - the test reports it below
            failures.append(error)

    thread = threading.Thread(target=write_in_a_thread)
    thread.start()
    try:
        assert writing.wait(10)
        with pytest.raises(KeyboardInterrupt):
            interrupt_when_written()                # raised here, at once, in the main thread
    finally:
        release.set()
        thread.join(10)
    assert failures == [] and (tmp_path / "t.txt").read_text() == "from a thread"


OLD = "the previous version\n"


def _raise(error):
    def fail(*args, **kwargs):
        raise error
    return fail


class FullDisk:
    """A file on a disk that fills up: the first ``room`` bytes (or characters) are written, then
    a write fails with ENOSPC; ``flush_fails`` makes the flush fail instead."""

    def __init__(self, f, room=10**9, flush_fails=False):
        self._f, self._room, self._flush_fails = f, room, flush_fails

    def write(self, data):
        if len(data) > self._room:
            self._f.write(data[:self._room])
            self._room = 0
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        self._room -= len(data)
        return self._f.write(data)

    def flush(self):
        if self._flush_fails:
            raise OSError(errno.EIO, os.strerror(errno.EIO))
        self._f.flush()

    def __getattr__(self, name):
        return getattr(self._f, name)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self._f.close()


def _on_a_full_disk(monkeypatch, **how):
    real = os.fdopen
    monkeypatch.setattr(os, "fdopen", lambda fd, mode="r", *args: FullDisk(real(fd, mode, *args), **how))


@pytest.mark.parametrize("where, error", [
    ("body", ValueError("the object is not JSON")),
    ("body", KeyboardInterrupt()),
    ("body", OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))),
    ("write", OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))),
    ("flush", OSError(errno.EIO, os.strerror(errno.EIO))),
    ("fsync", OSError(errno.EIO, os.strerror(errno.EIO))),
    ("chmod", OSError(errno.EPERM, os.strerror(errno.EPERM))),
    ("replace", OSError(errno.EXDEV, os.strerror(errno.EXDEV))),
])
def test_a_failed_write_leaves_no_temporary_file_and_the_old_file_whole(where, error, tmp_path, monkeypatch):
    """Whatever fails once the temporary file exists (the caller's code inside the ``with``, a
    Ctrl-C, the disk filling up, the flush, the fsync, the chmod or the rename), the temporary
    file is removed, the previous file is left as it was and the error reaches the caller. A
    clean-up that missed one of these paths passed every test that failed before ``mkstemp``."""
    target = tmp_path / "out.txt"
    target.write_text(OLD)
    if where == "write":
        _on_a_full_disk(monkeypatch, room=4)
    elif where == "flush":
        _on_a_full_disk(monkeypatch, flush_fails=True)
    elif where != "body":
        monkeypatch.setattr(os, where, _raise(error))
    with pytest.raises(OSError if isinstance(error, OSError) else type(error)) as raised:
        with atomic_open(target, "w") as f:
            assert list(tmp_path.glob(".out.txt.*.tmp"))            # the temporary file exists
            f.write("the new ")
            if where == "body":
                raise error
            f.write("version\n")
    monkeypatch.undo()
    assert [p.name for p in tmp_path.iterdir()] == ["out.txt"]
    assert target.read_text() == OLD
    if isinstance(error, OSError):
        assert raised.value.errno == error.errno
    else:
        assert raised.value is error


def _model():
    import digitnet as dn

    return dn.build_mlp(dn.Architecture(input_size=6, hidden=(4,), output_size=3), np.random.default_rng(0))


def _save_checkpoint(path):
    from digitnet import TrainConfig
    from digitnet.api import arrays_dataset
    from digitnet.checkpoint import save_checkpoint
    from digitnet.train import Trainer

    data = arrays_dataset(np.zeros((12, 6)), np.arange(12) % 3)
    return save_checkpoint(path, Trainer(TrainConfig(hidden=(4,), validation_size=0, patience=None), data))


def _write_run_json(path):
    from digitnet.fileio import write_json

    return write_json(path, [{"epoch": 1, "train_loss": 0.5}])


def _write_submission(path):
    from digitnet.csvdata import write_submission

    return write_submission(path, np.arange(50) % 10)


def _save_classifier(path):
    from digitnet.estimator import DigitnetClassifier

    X = np.random.default_rng(0).normal(size=(30, 6))
    return DigitnetClassifier(hidden=(4,), epochs=1, random_state=0).fit(X, np.arange(30) % 3).save(path)


WRITERS = {
    "model.npz": lambda path: __import__("digitnet").save_model(path, _model()),
    "checkpoint.npz": _save_checkpoint,
    "history.json": _write_run_json,
    "submission.csv": _write_submission,
    "classifier.npz": _save_classifier,
}


@pytest.mark.parametrize("name", WRITERS)
def test_a_writer_cut_off_by_a_full_disk_leaves_the_old_file_and_no_temporary_one(name, tmp_path,
                                                                                   monkeypatch):
    """The disk fills up after a few bytes, inside the writer's own code (zipfile inside
    np.savez, json.dump, the CSV rows): the error reaches the caller, the temporary file is gone
    and the previous version is whole. The writer works once there is room again."""
    from digitnet.errors import DigitnetError

    target = tmp_path / name
    target.write_text(OLD)
    _on_a_full_disk(monkeypatch, room=16)
    with pytest.raises((OSError, DigitnetError)):
        WRITERS[name](target)
    monkeypatch.undo()
    assert [p.name for p in tmp_path.iterdir() if p.is_file()] == [name]
    assert target.read_text() == OLD
    WRITERS[name](target)                                           # with room again: written
    assert target.read_bytes() != OLD.encode() and [p.name for p in tmp_path.glob(".*")] == []
