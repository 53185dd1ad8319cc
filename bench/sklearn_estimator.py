"""DigitnetClassifier against scikit-learn's MLPClassifier: same network, same recipe, side by side.

    python bench/sklearn_estimator.py --out bench/results/sklearn.json --markdown

Both train the same architecture with Adam at a constant learning rate, the
same batch size and number of epochs, no L2 penalty and no early stopping,
on float32 inputs in [0, 1]: scikit-learn's 8x8 digits (scaled by 1/16,
a stratified 75/25 split) and MNIST (60,000 / 10,000). Fits alternate
(digitnet, scikit-learn, digitnet, ...) so that drifts of a shared machine
hit both alike; the ratio is taken within each repetition. BLAS threads are
pinned (threadpoolctl) and recorded with the kernel that ran.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
import warnings
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "src"))

from sklearn.datasets import load_digits  # noqa: E402
from sklearn.exceptions import ConvergenceWarning  # noqa: E402
from sklearn.model_selection import train_test_split  # noqa: E402
from sklearn.neural_network import MLPClassifier  # noqa: E402
from threadpoolctl import threadpool_info, threadpool_limits  # noqa: E402

from digitnet import load_dataset  # noqa: E402
from digitnet.estimator import DigitnetClassifier  # noqa: E402

CASES = {
    # name: (hidden, epochs, batch size, repetitions)
    "digits": ((64,), 50, 32, 5),
    "mnist": ((256, 128), 10, 128, 2),
}


def load(name: str):
    if name == "digits":
        X, y = load_digits(return_X_y=True)
        X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.25, random_state=0, stratify=y)
        return (X_train / 16).astype(np.float32), y_train, (X_test / 16).astype(np.float32), y_test
    data = load_dataset("mnist", validation_size=0)
    return (data.x_train.astype(np.float32) / 255, data.y_train,
            data.x_test.astype(np.float32) / 255, data.y_test)


def contenders(name, hidden, epochs, batch_size, seed):
    ours = DigitnetClassifier(hidden=hidden, epochs=epochs, batch_size=batch_size, lr=1e-3,
                              schedule="constant", random_state=seed)
    theirs = MLPClassifier(hidden_layer_sizes=hidden, max_iter=epochs, batch_size=batch_size,
                           learning_rate_init=1e-3, alpha=0.0, solver="adam", tol=0.0,
                           n_iter_no_change=epochs + 1, random_state=seed)
    found = {"digitnet": ours, "scikit-learn": theirs}
    if name == "mnist":   # for reference: digitnet's own default recipe, through the same estimator
        found["digitnet, quick preset"] = DigitnetClassifier.from_preset("quick", random_state=seed)
    return found


def run_case(name: str) -> dict:
    hidden, epochs, batch_size, reps = CASES[name]
    X_train, y_train, X_test, y_test = load(name)
    runs: dict[str, list[dict]] = {}
    for rep in range(reps):
        for who, clf in contenders(name, hidden, epochs, batch_size, seed=rep).items():
            start = time.perf_counter()
            clf.fit(X_train, y_train)
            seconds = time.perf_counter() - start
            accuracy = float(clf.score(X_test, y_test))
            record = {"seconds": seconds, "accuracy": accuracy, "epochs": int(clf.n_iter_)}
            runs.setdefault(who, []).append(record)
            print(f"{name} rep {rep} {who:>12}: {seconds:7.2f} s  test accuracy {accuracy:.4f}", flush=True)
    ratios = [o["seconds"] / t["seconds"] for o, t in zip(runs["digitnet"], runs["scikit-learn"])]
    return {"hidden": list(hidden), "epochs": epochs, "batch_size": batch_size, "train": len(X_train),
            "test": len(X_test), "runs": runs, "time_ratios": ratios}


def environment(threads: int) -> dict:
    import sklearn

    cpu = next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo")
                if line.startswith("model name")), "") if os.path.exists("/proc/cpuinfo") else ""
    return {"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "cpu": cpu, "cores": os.cpu_count(),
            "python": platform.python_version(), "numpy": np.__version__, "sklearn": sklearn.__version__,
            "threads": threads, "OPENBLAS_CORETYPE": os.environ.get("OPENBLAS_CORETYPE"),
            "OPENBLAS_L2_SIZE": os.environ.get("OPENBLAS_L2_SIZE"),
            "blas": [{k: v for k, v in info.items() if k in ("internal_api", "version", "architecture",
                                                              "num_threads")} for info in threadpool_info()]}


def markdown(results: dict) -> str:
    lines = ["| data | network | epochs | contender | test accuracy (mean, min-max) | fit seconds (median) "
             "| digitnet / scikit-learn time (per repetition) |", "|---|---|---|---|---|---|---|"]
    for name, case in results["cases"].items():
        ratios = ", ".join(f"{r:.2f}" for r in case["time_ratios"])
        for who, runs in case["runs"].items():
            acc = [r["accuracy"] for r in runs]
            secs = statistics.median(r["seconds"] for r in runs)
            network = "-".join(str(h) for h in case["hidden"])
            if who == "digitnet, quick preset":
                network = "512-256, dropout 0.2, Adam 2e-3 cosine, batch 256"
            data = f"{name} ({case['train']:,} / {case['test']:,})"
            lines.append(f"| {data} | {network} | {case['epochs']} | {who} "
                         f"| {100 * statistics.mean(acc):.2f}% ({100 * min(acc):.2f}-{100 * max(acc):.2f}) "
                         f"| {secs:.2f} | {ratios if who == 'digitnet' else ''} |")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--cases", default=",".join(CASES), help="comma-separated: digits, mnist")
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--markdown", action="store_true", help="print the results as a Markdown table")
    args = parser.parse_args()
    # MLPClassifier warns that max_iter was reached: here that is the plan.
    warnings.filterwarnings("ignore", category=ConvergenceWarning)
    with threadpool_limits(args.threads):
        results = {"command": " ".join(["python", *sys.argv]), "environment": environment(args.threads),
                   "cases": {name: run_case(name) for name in args.cases.split(",")}}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    tmp = args.out.with_suffix(".tmp")
    tmp.write_text(json.dumps(results, indent=2))
    tmp.replace(args.out)
    if args.markdown:
        print(markdown(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
