"""Choosing honestly: configurations ranked by mean validation accuracy over their seeds.

The test set is looked at once, for the chosen configuration only: ranking
on test accuracy would make the test set part of the training procedure and
its figure optimistic (Hastie, Tibshirani & Friedman, *The Elements of
Statistical Learning*, 2nd ed., section 7.2; Cawley & Talbot, JMLR 2010).
The spread is the sample standard deviation over seeds (ddof=1).
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import numpy as np

from .space import display


@dataclass
class Configuration:
    """One configuration's results over its seeds."""

    params: dict
    val: list[float]
    test: list[float]
    epochs: list[int]
    seconds: list[float]

    @staticmethod
    def _mean_sd(values: list[float]) -> tuple[float, float]:
        return float(np.mean(values)), float(np.std(values, ddof=1)) if len(values) > 1 else 0.0

    @property
    def val_mean_sd(self) -> tuple[float, float]:
        return self._mean_sd(self.val)

    @property
    def test_mean_sd(self) -> tuple[float, float]:
        return self._mean_sd(self.test)


def rank(records: list[dict], seeds: int | None = None) -> list[Configuration]:
    """Finished trials grouped by configuration, best mean validation accuracy first.

    With ``seeds`` (asked per configuration), configurations that finished
    every seed come before those that did not: a mean over fewer seeds is
    noisier and would win by luck more often. Ties go to the configuration
    with more seeds, then to the order the configurations first appear.
    """
    groups: dict[str, Configuration] = {}
    for r in records:
        if r.get("status") != "ok" or r.get("val_accuracy") is None:
            continue
        key = json.dumps(r["params"], sort_keys=True)
        c = groups.setdefault(key, Configuration(r["params"], [], [], [], []))
        c.val.append(r["val_accuracy"])
        c.test.append(r["test_accuracy"])
        c.epochs.append(r["epochs"])
        c.seconds.append(r.get("train_seconds", r["seconds"]))
    return sorted(
        groups.values(),
        key=lambda c: (seeds is not None and len(c.val) < seeds, -c.val_mean_sd[0], -len(c.val)),
    )


def _percent(mean_sd: tuple[float, float], n: int) -> str:
    mean, sd = mean_sd
    return f"{100 * mean:.2f} ± {100 * sd:.2f}" if n > 1 else f"{100 * mean:.2f}"


def markdown_table(records: list[dict], seeds: int | None = None, fields: list[str] | None = None) -> str:
    """The ranking as a Markdown table, then the chosen configuration's test accuracy and any failures.

    Parameters
    ----------
    records : list of dict
        ``results.jsonl``'s records (:func:`digitnet.sweep.results.read_records`).
    seeds : int, optional
        Seeds asked per configuration: configurations with fewer finished are marked.
    fields : list of str, optional
        The swept fields in the order of the columns (default: as recorded).
    """
    ranked = rank(records, seeds)
    if fields is None:
        fields = list(ranked[0].params) if ranked else []
    lines = [
        "| rank | "
        + " | ".join(fields)
        + (" | " if fields else "")
        + "validation accuracy (%) | seeds | epochs | train seconds |",
        "|---:|" + "---|" * len(fields) + "---:|---:|---:|---:|",
    ]
    for i, c in enumerate(ranked, 1):
        values = " | ".join(display(c.params[f]) for f in fields)
        n = len(c.val)
        seed_note = f"{n} of {seeds}" if seeds and n < seeds else str(n)
        lines.append(
            f"| {i} | {values}{' | ' if fields else ''}{_percent(c.val_mean_sd, n)} | {seed_note} | "
            f"{np.mean(c.epochs):.1f} | {np.mean(c.seconds):.1f} |"
        )
    if ranked:
        best = ranked[0]
        chosen = (
            ", ".join(
                f"{f}={best.params[f]!r}"
                if isinstance(best.params[f], str)
                else f"{f}={display(best.params[f])}"
                for f in fields
            )
            or "the preset"
        )
        lines += [
            "",
            f"Chosen on validation accuracy: {chosen}. Test accuracy of that configuration: "
            f"{_percent(best.test_mean_sd, len(best.test))}% ("
            + (f"{len(best.test)} seeds, mean ± sd" if len(best.test) > 1 else "1 seed")
            + "); the others' test accuracy "
            "is not shown, so that the test set plays no part in the choice.",
        ]
    else:
        lines += ["", "No trial has finished yet."]
    failed = [r for r in records if r.get("status") != "ok"]
    if failed:
        lines += ["", f"{len(failed)} trial{'s' if len(failed) != 1 else ''} failed:"]
        lines += [
            f"- {', '.join(f'{f}={display(v)}' for f, v in r['params'].items())} seed {r['seed']}: "
            f"{r.get('error', 'unknown error')}"
            for r in failed
        ]
    return "\n".join(lines)
