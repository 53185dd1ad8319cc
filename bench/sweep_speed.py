"""The same 8-trial sweep on 1 and on 2 workers: how much a second worker process buys.

    python bench/sweep_speed.py [--rounds 2] [--out bench/results/sweep.json] [--markdown]

Eight trials of the quick preset (2 learning rates x 2 widths x 2 seeds;
2 epochs on the 55,000 training images, 5,000 validation) run with
``digitnet sweep --workers 1`` (one after another, in one process, no Dask)
and ``--workers 2`` (a Dask LocalCluster of two single-threaded worker
processes), alternating, ``--rounds`` times each, in one run so that both
see the same machine state. Every trial pins BLAS to one thread, so the
ratio measures trials running side by side, not BLAS threads. Reports the
wall time of the whole command (cluster start-up, data loading in each
worker and the summary included), the speed-up ``t(1) / t(2)``, the BLAS
library and kernel that ran (threadpoolctl), and whether the OpenBLAS
variables were set.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SWEEP = [
    "--preset",
    "quick",
    "--epochs",
    "2",
    "--validation-size",
    "5000",
    "--grid",
    "lr=1e-3,2e-3",
    "--grid",
    "hidden=256x128,512x256",
    "--seeds",
    "0,1",
]


def timed_sweep(workers: int, folder: Path) -> dict:
    out = folder / f"workers{workers}-{time.monotonic_ns()}"
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "digitnet", "sweep", *SWEEP, "--workers", str(workers), "--out", str(out)],
        capture_output=True,
        text=True,
        check=True,
    )
    seconds = time.perf_counter() - started
    records = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]
    assert len(records) == 8 and all(r["status"] == "ok" for r in records), done.stdout + done.stderr
    shutil.rmtree(out)
    return {
        "workers": workers,
        "seconds": seconds,
        "trial_seconds": sum(r["seconds"] for r in records),
        "threads": sorted({r["threads"] for r in records}, key=str),
        "pids": len({r["pid"] for r in records}),
    }


def blas() -> list[dict]:
    """The BLAS NumPy loads here (the workers load the same library; each trial records its threads)."""
    import numpy  # noqa: F401 - threadpoolctl sees only the libraries already loaded
    from threadpoolctl import threadpool_info

    return [
        {k: info.get(k) for k in ("internal_api", "version", "architecture", "num_threads")}
        for info in threadpool_info()
        if info.get("user_api") == "blas"
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "results" / "sweep.json")
    parser.add_argument("--markdown", action="store_true")
    args = parser.parse_args()
    runs = []
    with tempfile.TemporaryDirectory() as tmp:
        for _ in range(args.rounds):
            for workers in (1, 2):
                runs.append(timed_sweep(workers, Path(tmp)))
                print(f"{workers} worker(s): {runs[-1]['seconds']:.1f} s", flush=True)
    one = statistics.median(r["seconds"] for r in runs if r["workers"] == 1)
    two = statistics.median(r["seconds"] for r in runs if r["workers"] == 2)
    result = {
        "command": "python bench/sweep_speed.py " + " ".join(sys.argv[1:]),
        "sweep": SWEEP,
        "runs": runs,
        "median_seconds": {"1": one, "2": two},
        "speedup": one / two,
        "cpus": os.cpu_count(),
        "machine": platform.processor() or platform.machine(),
        "blas": blas(),
        "openblas_env": {k: os.environ.get(k) for k in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")},
        "when": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(
        f"speed-up of 2 workers over 1: {one / two:.2f}x ({one:.1f} s against {two:.1f} s, median of "
        f"{args.rounds}); wrote {args.out}"
    )
    if args.markdown:
        print("\n| workers | seconds (each round) | median | speed-up |\n|---:|---|---:|---:|")
        for workers, median in ((1, one), (2, two)):
            each = ", ".join(f"{r['seconds']:.1f}" for r in runs if r["workers"] == workers)
            print(f"| {workers} | {each} | {median:.1f} | {one / median:.2f}x |")


if __name__ == "__main__":
    main()
