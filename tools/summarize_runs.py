"""One results-table row from several seeds of the same recipe.

Reads the ``report.json`` and ``model.npz`` metadata that ``digitnet train``
writes in each run folder (with :func:`digitnet.runs.read_run`) and prints a
Markdown row: recipe, epochs, training wall time, test accuracy (mean,
spread, and each seed with its 95% interval). ``--json`` prints the figures
instead.

Usage::

    python tools/summarize_runs.py runs/best-s0 runs/best-s1 runs/best-s2 --recipe best
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path

from digitnet.runs import read_run


def summarize(run_dirs: list[Path]) -> dict:
    runs = []
    for path in run_dirs:
        run = read_run(path)
        if run.report is None:
            raise SystemExit(f"{path}: no report.json (was the run evaluated on a test set?)")
        report, meta = run.report, run.meta
        runs.append({"run": str(path), "seed": meta["config"]["seed"], "accuracy": report["test_accuracy"],
                     "ci95": report["accuracy_ci95"], "train_seconds": meta["train_seconds"],
                     "epochs": meta["epochs_run"], "dataset": meta["dataset"], "preset": meta["preset"]})
    accuracies = [r["accuracy"] for r in runs]
    return {
        "runs": runs,
        "mean_accuracy": statistics.mean(accuracies),
        "std_accuracy": statistics.stdev(accuracies) if len(runs) > 1 else 0.0,
        "min_accuracy": min(accuracies), "max_accuracy": max(accuracies),
        "mean_train_seconds": statistics.mean(r["train_seconds"] for r in runs),
    }


def ensemble_accuracy(run_dirs: list[Path], data_dir: Path | None = None) -> dict:
    """Test accuracy of the runs' models voting together (mean of their probabilities)."""
    from digitnet.data import load_dataset
    from digitnet.metrics import wilson_interval

    runs = [read_run(path) for path in run_dirs]
    data = load_dataset(runs[0].meta["dataset"], data_dir, validation_size=0)
    # predict_proba takes the uint8 pixels as they are (scaled by 1/255, digitnet.inputs.to_float).
    probs = sum(run.model.predict_proba(data.x_test) for run in runs) / len(runs)
    correct = int((probs.argmax(axis=1) == data.y_test).sum())
    return {"members": len(runs), "accuracy": correct / len(data.y_test),
            "ci95": list(wilson_interval(correct, len(data.y_test)))}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("runs", nargs="+", type=Path)
    parser.add_argument("--recipe", default="")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--ensemble", action="store_true",
                        help="also report the runs' models averaged as one ensemble")
    parser.add_argument("--data-dir", type=Path, help="folder of the test set (Fashion-MNIST)")
    args = parser.parse_args(argv)
    s = summarize(args.runs)
    if args.ensemble:
        s["ensemble"] = ensemble_accuracy(args.runs, args.data_dir)
    if args.json:
        print(json.dumps(s, indent=1))
        return 0
    seeds = ", ".join(f"{100 * r['accuracy']:.2f} [{100 * r['ci95'][0]:.2f}-{100 * r['ci95'][1]:.2f}]"
                      for r in s["runs"])
    first = s["runs"][0]
    print(f"| {args.recipe or first['preset']} | {first['dataset']} | {first['epochs']} "
          f"| {s['mean_train_seconds'] / 60:.1f} min | **{100 * s['mean_accuracy']:.2f}%** "
          f"± {100 * s['std_accuracy']:.2f} | {seeds} |")
    if args.ensemble:
        e = s["ensemble"]
        print(f"ensemble of {e['members']}: {100 * e['accuracy']:.2f}% "
              f"[{100 * e['ci95'][0]:.2f}-{100 * e['ci95'][1]:.2f}]")
    return 0


if __name__ == "__main__":
    sys.exit(main())
