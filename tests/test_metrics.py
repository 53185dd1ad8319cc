"""Accuracy interval, per-class scores and the confusion matrix."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from digitnet.metrics import (
    classification_report,
    confusion_matrix,
    format_report,
    per_class_scores,
    risk_coverage,
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


def test_the_report_as_digitnet_evaluate_prints_it():
    report = classification_report(np.array([0, 1, 1, 2]), np.array([0, 1, 2, 2]), ["a", "b", "c"])
    report["risk_coverage"] = risk_coverage(np.array([0.9, 0.8, 0.7, 0.6]),
                                            np.array([True, True, False, True]), (1.0, 0.5))
    assert format_report(report, ["a", "b", "c"]) == """\
Test accuracy: 75.00%  (95% CI 30.06-95.44%, 3 of 4)

       class  precision  recall      f1  support
           a     1.0000  1.0000  1.0000        1
           b     1.0000  0.5000  0.6667        2
           c     0.5000  1.0000  0.6667        1
   macro avg                     0.7778        4

Confusion matrix (rows: true class, columns: predicted)
           a     b     c
     a     1     0     0
     b     0     1     1
     c     0     0     1

Answering only when confident (digitnet predict --min-confidence THRESHOLD)
 coverage  accuracy  threshold  answered
   100.0%    75.00%     0.6000         4
    50.0%   100.00%     0.8000         2"""


def test_report_names_the_classes_and_an_empty_set_is_not_an_error():
    report = classification_report(np.array([0, 1]), np.array([0, 0]), ["cat", "dog"])
    assert [row["class"] for row in report["per_class"]] == ["cat", "dog"]
    empty = classification_report(np.array([], int), np.array([], int), ["cat", "dog"])
    assert empty["test_accuracy"] == 0.0 and empty["macro_f1"] == 0.0
    assert empty["accuracy_ci95"] == [0.0, 1.0]


def test_confusion_matrix_is_ten_by_ten_by_default():
    assert confusion_matrix(np.array([0, 9]), np.array([9, 9])).shape == (10, 10)


def test_wilson_interval_never_leaves_zero_to_one():
    assert wilson_interval(0, 0) == (0.0, 1.0)        # no examples: nothing is known
    # All correct or all wrong: bounds of 1 and 0 that rounding would put a hair outside (n = 20).
    for n in range(1, 100):
        assert wilson_interval(n, n)[1] <= 1.0 and wilson_interval(0, n)[0] >= 0.0


# --- aggregates checked where they differ, against an independent computation (issue 17) ---------


@settings(max_examples=60, deadline=None, derandomize=True)   # the same cases every run: no flakes
@given(st.integers(2, 8).flatmap(lambda k: st.tuples(
    st.just(k), st.lists(st.tuples(st.integers(0, k - 1), st.integers(0, k - 1)), min_size=1, max_size=60))))
def test_macro_f1_and_per_class_scores_agree_with_scikit_learn(case):
    """Random predictions (classes missing, never predicted, unbalanced): where macro and weighted
    means differ, digitnet's figures are scikit-learn's."""
    sklearn_metrics = pytest.importorskip("sklearn.metrics")
    k, pairs = case
    y_true = np.array([t for t, _ in pairs])
    y_pred = np.array([p for _, p in pairs])
    report = classification_report(y_true, y_pred, list(range(k)))
    occurring = sorted(set(y_true) | set(y_pred))
    expected = sklearn_metrics.f1_score(y_true, y_pred, labels=occurring, average="macro", zero_division=0)
    assert report["macro_f1"] == pytest.approx(expected, abs=1e-12)
    per_class = sklearn_metrics.precision_recall_fscore_support(y_true, y_pred, labels=list(range(k)),
                                                                zero_division=0)
    for name, column in zip(("precision", "recall", "f1"), per_class[:3]):
        assert [row[name] for row in report["per_class"]] == pytest.approx(list(column), abs=1e-12)


# --- the figures training and evaluation print, against hand computation ------------------------


def _fixed_network():
    """Logits = x @ W + b for a 3-feature, 3-class linear network with chosen weights."""
    from digitnet.layers import Dense
    from digitnet.model import Network

    dense = Dense(3, 3, np.random.default_rng(0), np.float64)
    dense.params["W"][...] = [[2.0, 0.0, -1.0], [0.0, 1.0, 0.5], [-1.0, 0.5, 1.5]]
    dense.params["b"][...] = [0.1, -0.2, 0.0]
    return Network([dense]), dense


@pytest.mark.parametrize("batch_size", [5000, 2, 1])
def test_loss_and_accuracy_are_the_mean_cross_entropy_and_share_of_argmax_hits(batch_size):
    """Against -log softmax computed by hand, row by row, whatever the evaluation chunk size."""
    from digitnet.metrics import loss_and_accuracy

    network, dense = _fixed_network()
    X = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0], [1.0, 1.0, 1.0], [0.5, -1.0, 2.0]])
    labels = np.array([0, 2, 2, 1, 0])
    logits = X @ dense.params["W"] + dense.params["b"]
    log_p = logits - np.log(np.exp(logits).sum(axis=1, keepdims=True))
    expected_loss = -np.mean(log_p[np.arange(5), labels])
    expected_accuracy = np.mean(logits.argmax(axis=1) == labels)
    assert 0 < expected_accuracy < 1          # some right, some wrong: neither count can hide
    loss, accuracy = loss_and_accuracy(network, X, labels, batch_size=batch_size)
    assert loss == pytest.approx(expected_loss, rel=1e-12)
    assert accuracy == expected_accuracy


def test_loss_and_accuracy_scale_pixels_in_the_network_s_own_precision():
    """uint8 pixels are divided by 255 in the network's precision (float64 here): the loss
    matches a float64 hand computation to 1e-12."""
    from digitnet.metrics import loss_and_accuracy

    network, dense = _fixed_network()
    pixels = np.array([[255, 0, 17], [3, 250, 99], [128, 64, 1]], np.uint8)
    labels = np.array([0, 1, 2])
    logits = pixels / 255.0 @ dense.params["W"] + dense.params["b"]
    log_p = logits - np.log(np.exp(logits).sum(axis=1, keepdims=True))
    loss, _ = loss_and_accuracy(network, pixels, labels)
    assert loss == pytest.approx(-np.mean(log_p[np.arange(3), labels]), rel=1e-12)


def test_risk_coverage_of_one_answer_and_of_none():
    assert risk_coverage(np.array([]), np.array([], bool)) == []
    rows = risk_coverage(np.array([0.7]), np.array([False]), (1.0, 0.5))
    assert rows == [{"target": 1.0, "threshold": 0.7, "coverage": 1.0, "accuracy": 0.0, "kept": 1},
                    {"target": 0.5, "threshold": 0.7, "coverage": 1.0, "accuracy": 0.0, "kept": 1}]


def test_risk_coverage_threshold_is_the_confidence_of_the_last_answer_kept():
    """Five answers: 80% coverage keeps the four most confident, so the threshold is the 4th."""
    confidence = np.array([0.9, 0.5, 0.8, 0.6, 0.7], np.float32)
    correct = np.array([True, False, True, False, True])
    (row,) = risk_coverage(confidence, correct, (0.8,))
    assert set(row) == {"target", "threshold", "coverage", "accuracy", "kept"}
    assert row["threshold"] == pytest.approx(0.6) and row["kept"] == 4
    assert row["coverage"] == 0.8 and row["accuracy"] == 0.75


def test_long_class_names_are_cut_to_five_characters_in_the_matrix():
    classes = ["T-shirt/top", "Trouser"]
    report = classification_report(np.array([0, 1]), np.array([0, 1]), classes)
    matrix = format_report(report, classes).split("columns: predicted)\n")[1]
    assert matrix.splitlines() == ["       T-shi Trous", " T-shi     1     0", " Trous     0     1"]


def test_classes_absent_and_never_predicted_score_exactly_zero_among_many():
    """Ten classes, five of them never seen: their scores are 0, never NaN or leftover memory."""
    cm = np.zeros((10, 10), int)
    cm[0, 0], cm[1, 1], cm[2, 1], cm[3, 3], cm[4, 0] = 5, 3, 2, 4, 1
    scores = per_class_scores(cm)
    for name in ("precision", "recall", "f1"):
        assert np.all(scores[name][5:] == 0.0), name
    np.testing.assert_allclose(scores["precision"][:5], [5 / 6, 3 / 5, 0, 1, 0])
    np.testing.assert_allclose(scores["f1"][:5], [2 * (5 / 6) / (5 / 6 + 1), 2 * 0.6 / 1.6, 0, 1, 0])
