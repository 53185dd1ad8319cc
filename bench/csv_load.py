"""How long a Kaggle-sized digits CSV takes to load: 42,000 rows of a label and 784 pixels.

    python bench/csv_load.py

Writes the file (MNIST's first 42,000 training images, Kaggle's train.csv
layout) into a temporary folder, then times digitnet's reader
(``digitnet.csvdata.read_digits_csv``: NumPy's C reader plus the checks)
against ``pandas.read_csv`` when pandas is installed, alternating, 3 times each.
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

import digitnet as dn  # noqa: E402
from digitnet.csvdata import read_digits_csv  # noqa: E402


def main() -> int:
    data = dn.load_dataset("mnist", validation_size=0)
    table = np.column_stack([data.y_train[:42000], data.x_train[:42000]])
    header = "label," + ",".join(f"pixel{i}" for i in range(784))
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "train.csv"
        np.savetxt(path, table, fmt="%d", delimiter=",", header=header, comments="")
        print(f"{path.stat().st_size / 1e6:.1f} MB, {len(table):,} rows")
        times: dict[str, list[float]] = {"digitnet": [], "pandas": []}
        for _ in range(3):
            start = time.perf_counter()
            digits = read_digits_csv(path)
            times["digitnet"].append(time.perf_counter() - start)
            assert digits.images.shape == (42000, 784)
            try:
                import pandas as pd
            except ImportError:
                continue
            start = time.perf_counter()
            pd.read_csv(path).to_numpy()
            times["pandas"].append(time.perf_counter() - start)
    for who, seconds in times.items():
        if seconds:
            each = ", ".join(f"{s:.2f}" for s in seconds)
            print(f"{who}: median {statistics.median(seconds):.2f} s ({each})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
