"""Quit-at-once requests (a second Ctrl-C, a sweep's Ctrl-C or SIGTERM) wait for a file being
written in the main thread, and only there: signal handlers run in the main thread."""

import threading

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
