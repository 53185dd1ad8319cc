"""Accuracy interval, per-class scores and the confusion matrix."""

import numpy as np
import pytest

from digitnet.metrics import (
    classification_report,
    confusion_matrix,
    format_report,
    per_class_scores,
    wilson_interval,
)


def test_confusion_matrix():
    cm = confusion_matrix(np.array([0, 0, 1, 2, 2, 2]), np.array([0, 1, 1, 2, 0, 2]), 3)
    np.testing.assert_array_equal(cm, [[1, 1, 0], [0, 1, 0], [1, 0, 2]])


def test_precision_recall_f1_by_hand():
    cm = np.array([[1, 1, 0], [0, 1, 0], [1, 0, 2]])
    s = per_class_scores(cm)
    np.testing.assert_allclose(s["precision"], [1 / 2, 1 / 2, 1])
    np.testing.assert_allclose(s["recall"], [1 / 2, 1, 2 / 3])
    np.testing.assert_allclose(s["f1"], [1 / 2, 2 / 3, 0.8])
    np.testing.assert_array_equal(s["support"], [2, 1, 3])


def test_class_never_predicted_scores_zero_not_nan():
    s = per_class_scores(np.array([[2, 0], [1, 0]]))
    assert s["precision"][1] == 0 and s["f1"][1] == 0


def test_wilson_interval_known_values():
    low, high = wilson_interval(0, 10)
    assert low == 0.0 and high == pytest.approx(0.2775, abs=1e-4)
    low, high = wilson_interval(9800, 10000)
    assert low < 0.98 < high and high - low == pytest.approx(0.0055, abs=2e-4)


def test_report_and_table():
    y = np.array([0, 1, 1, 2])
    report = classification_report(y, np.array([0, 1, 2, 2]), ["a", "b", "c"])
    assert report["test_accuracy"] == 0.75 and report["correct"] == 3
    assert report["confusion_matrix"] == [[1, 0, 0], [0, 1, 1], [0, 0, 1]]
    text = format_report(report, ["a", "b", "c"])
    assert "75.00%" in text and "Confusion matrix" in text
