"""Run the double Ctrl-C scenario of ``tests/test_checkpoint_cli.py`` many times in a row.

    python tools/signal_loop.py [N]      (default 200)

Each round starts ``digitnet train`` on a 20,000-image MNIST slice, waits until
the first epoch is logged, sends SIGINT twice 10 ms apart and checks what a
user would see: exit status 130, no traceback, no temporary file left. A
race shows up only now and then, so a flaky test is judged by a loop like
this, not by one run. Prints each failure and the count.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
TRAIN = ["train", "--hidden", "256,128", "--epochs", "4", "--train-limit", "20000",
         "--data-dir", str(REPO / "data" / "mnist"), "--no-plots", "--optimizer", "momentum",
         "--lr", "0.02", "--dropout", "0.2"]


def one_round() -> str | None:
    """None when the round went as it should, else what went wrong."""
    with tempfile.TemporaryDirectory() as folder:
        out = Path(folder) / "run"
        child = subprocess.Popen([sys.executable, "-m", "digitnet", *TRAIN, "--out", str(out)],
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        assert child.stdout is not None
        for line in child.stdout:
            if line.startswith("epoch   1/"):
                break
        for _ in range(2):
            child.send_signal(signal.SIGINT)
            time.sleep(0.01)
        _, stderr = child.communicate(timeout=120)
        leftovers = [p.name for p in out.glob("*.tmp")] if out.exists() else []
        if child.returncode != 130 or "Traceback" in stderr or leftovers:
            return f"status {child.returncode}, leftovers {leftovers}: {stderr[-800:]}"
    return None


def main(argv: list[str] | None = None) -> int:
    rounds = int((argv or sys.argv[1:] or ["200"])[0])
    failures = 0
    for i in range(rounds):
        problem = one_round()
        if problem:
            failures += 1
            print(f"round {i + 1}: {problem}", flush=True)
    print(f"{failures} failures in {rounds} rounds")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
