"""Measuring a classifier: accuracy with its uncertainty, per-class scores, confusions.

The report functions take integer class labels ``y_true`` and ``y_pred`` of
shape (N,); :func:`loss_and_accuracy` runs a network over a labelled set.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np

from .inputs import to_float
from .losses import log_softmax

if TYPE_CHECKING:
    from .model import Network


def confusion_matrix(y_true: np.ndarray, y_pred: np.ndarray, n_classes: int = 10) -> np.ndarray:
    """Counts ``C[i, j]`` of examples of true class i predicted as j, shape (K, K)."""
    return np.bincount(n_classes * np.asarray(y_true) + np.asarray(y_pred),
                       minlength=n_classes * n_classes).reshape(n_classes, n_classes)


def wilson_interval(correct: int, total: int, z: float = 1.959964) -> tuple[float, float]:
    """95% Wilson score interval for a proportion ``correct / total``.

    Unlike the textbook ``p +- 1.96 sqrt(p(1-p)/n)``, it stays inside [0, 1]
    and is accurate for proportions near 1, where test accuracies live.
    """
    if total == 0:
        return (0.0, 1.0)
    p = correct / total
    denom = 1 + z * z / total
    centre = (p + z * z / (2 * total)) / denom
    half = z * math.sqrt(p * (1 - p) / total + z * z / (4 * total * total)) / denom
    return (max(0.0, centre - half), min(1.0, centre + half))


def per_class_scores(cm: np.ndarray) -> dict[str, np.ndarray]:
    """Precision, recall, F1 and support per class from a confusion matrix.

    precision_j = C[j, j] / sum_i C[i, j]   (of those predicted j, how many are j)
    recall_i    = C[i, i] / sum_j C[i, j]   (of the true i, how many were found)
    F1          = 2 P R / (P + R)

    A class never predicted (or never present) gets 0 rather than NaN.
    """
    tp = np.diag(cm).astype(np.float64)
    predicted, support = cm.sum(axis=0), cm.sum(axis=1)
    # Where a denominator is 0 its numerator is 0 too (tp <= predicted, tp <= support,
    # P = R = 0): dividing by 1 there gives the 0 wanted, with no uninitialised slot.
    precision = tp / np.maximum(predicted, 1)
    recall = tp / np.maximum(support, 1)
    both = precision + recall
    f1 = 2 * precision * recall / np.where(both > 0, both, 1.0)
    return {"precision": precision, "recall": recall, "f1": f1, "support": support}


def classification_report(y_true: np.ndarray, y_pred: np.ndarray, classes) -> dict:
    """Everything ``digitnet evaluate`` reports, as plain JSON-ready values."""
    k = len(classes)
    cm = confusion_matrix(y_true, y_pred, k)
    correct, total = int(np.trace(cm)), int(cm.sum())
    low, high = wilson_interval(correct, total)
    scores = per_class_scores(cm)
    present = (cm.sum(axis=0) > 0) | (cm.sum(axis=1) > 0)
    per_class = [
        {"class": str(name), "precision": float(scores["precision"][i]),
         "recall": float(scores["recall"][i]), "f1": float(scores["f1"][i]),
         "support": int(scores["support"][i])}
        for i, name in enumerate(classes)
    ]
    return {
        "test_accuracy": correct / total if total else 0.0,
        "accuracy_ci95": [low, high],
        "correct": correct,
        "total": total,
        # Over the classes that occur (as truth or as answer), as scikit-learn does: a class
        # absent from both says nothing about the classifier.
        "macro_f1": float(scores["f1"][present].mean()) if present.any() else 0.0,
        "per_class": per_class,
        "confusion_matrix": cm.tolist(),
    }


COVERAGES = (1.0, 0.99, 0.98, 0.95, 0.90)


def risk_coverage(confidence: np.ndarray, correct: np.ndarray, coverages=COVERAGES) -> list[dict]:
    """Accuracy when only the most confident answers are given: the risk-coverage trade-off.

    For each target coverage c, the threshold is the confidence of the
    ``ceil(c * N)``-th most confident answer; every answer at or above it is
    kept (ties included, so the coverage reported is what that threshold
    really gives). Answers below it would be "unsure" with ``digitnet
    predict --min-confidence THRESHOLD``.

    Parameters
    ----------
    confidence : ndarray, shape (N,)
        The top probability of each answer.
    correct : ndarray of bool, shape (N,)
        Whether each answer is right.
    coverages : sequence of float
        Target shares of answers kept, in (0, 1].

    Returns
    -------
    list of dict
        ``{"target": c, "threshold": t, "coverage": kept / N, "accuracy": correct among kept, "kept": n}``.

    Reference: Y. Geifman and R. El-Yaniv, "Selective classification for deep
    neural networks", NeurIPS 2017 (risk = 1 - accuracy on the kept answers).
    """
    confidence, correct = np.asarray(confidence, np.float64), np.asarray(correct, bool)
    n = len(confidence)
    if n == 0:
        return []
    ranked = np.sort(confidence)[::-1]
    rows = []
    for target in coverages:
        threshold = float(ranked[max(1, math.ceil(target * n)) - 1])
        kept = confidence >= threshold
        rows.append({"target": float(target), "threshold": threshold, "coverage": float(kept.mean()),
                     "accuracy": float(correct[kept].mean()), "kept": int(kept.sum())})
    return rows


def format_risk_coverage(rows: list[dict]) -> str:
    """The risk-coverage rows as a text table."""
    lines = ["Answering only when confident (digitnet predict --min-confidence THRESHOLD)",
             f"{'coverage':>9}  {'accuracy':>8}  {'threshold':>9}  {'answered':>8}"]
    for row in rows:
        lines.append(f"{100 * row['coverage']:>8.1f}%  {100 * row['accuracy']:>7.2f}%  "
                     f"{row['threshold']:>9.4f}  {row['kept']:>8,}")
    return "\n".join(lines)


def format_report(report: dict, classes) -> str:
    """The report as readable text tables."""
    acc, (low, high) = report["test_accuracy"], report["accuracy_ci95"]
    lines = [
        f"Test accuracy: {100 * acc:.2f}%  (95% CI {100 * low:.2f}-{100 * high:.2f}%, "
        f"{report['correct']:,} of {report['total']:,})",
        "",
        f"{'class':>12}  {'precision':>9}  {'recall':>6}  {'f1':>6}  {'support':>7}",
    ]
    for row in report["per_class"]:
        lines.append(f"{row['class']:>12}  {row['precision']:>9.4f}  {row['recall']:>6.4f}  "
                     f"{row['f1']:>6.4f}  {row['support']:>7}")
    lines.append(f"{'macro avg':>12}  {'':>9}  {'':>6}  {report['macro_f1']:>6.4f}  {report['total']:>7}")
    lines += ["", "Confusion matrix (rows: true class, columns: predicted)"]
    labels = [str(c)[:5] for c in classes]
    width = max(5, max(len(str(v)) for row in report["confusion_matrix"] for v in row))
    lines.append(" " * 7 + " ".join(f"{c:>{width}}" for c in labels))
    for label, row in zip(labels, report["confusion_matrix"]):
        lines.append(f"{label:>6} " + " ".join(f"{v:>{width}}" for v in row))
    if report.get("risk_coverage"):
        lines += ["", format_risk_coverage(report["risk_coverage"])]
    return "\n".join(lines)


def loss_and_accuracy(model: Network, X: np.ndarray, labels: np.ndarray,
                      batch_size: int = 5000) -> tuple[float, float]:
    """Mean cross-entropy and accuracy of ``model`` on ``X`` (N, d), class indices ``labels`` (N,)."""
    total_loss, correct = 0.0, 0
    for start in range(0, len(X), batch_size):
        x = to_float(X[start:start + batch_size], model.dtype)
        y = labels[start:start + batch_size]
        log_p = log_softmax(model.forward(x))  # (b, K)
        total_loss -= float(log_p[np.arange(len(y)), y].sum())
        correct += int((log_p.argmax(axis=1) == y).sum())
    return total_loss / len(X), correct / len(X)
