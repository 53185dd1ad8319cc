"""The suite passes however it was started: from a terminal, as a background job, under nohup.

A shell starts a background job (``make test &`` in a script, a CI runner's step) with SIGINT
ignored, and ``nohup`` adds SIGHUP; Python keeps an ignored signal ignored, and so do the
processes a test starts. The tests that send Ctrl-C to themselves or to a child, or check that a
handler was put back, once failed only then (``conftest.usual_signal_handlers`` is the fix).
"""

import signal
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

# One of each way a test relies on SIGINT: in this process through a handler that must be put
# back, in a `digitnet train` child, in a `digitnet serve` child, and held during a write.
SIGNAL_TESTS = [
    "tests/test_sweep.py::test_a_ctrl_c_inside_optunas_journal_lock_waits_for_the_write",
    "tests/test_checkpoint_cli.py::test_second_ctrl_c_quits_at_once_leaving_nothing_broken",
    "tests/test_web_cli.py::test_serve_shows_the_page_on_loopback_and_stops_cleanly",
    "tests/test_fileio.py",
]


def _as_a_background_job():
    """What ``nohup cmd &`` in a script does to the signals of the process it starts."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGHUP, signal.SIG_IGN)


def test_the_signal_tests_pass_when_started_with_sigint_and_sighup_ignored():
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *SIGNAL_TESTS],
        cwd=REPO, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=600,
        preexec_fn=_as_a_background_job,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    assert " passed" in done.stdout and "failed" not in done.stdout and "error" not in done.stdout
