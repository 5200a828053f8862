"""Tests for astrocnn.tasks.classification.metrics (binary and multi-class classification)."""

from __future__ import annotations

import itertools
import json
import math

import numpy as np
import pytest

from astrocnn.io.jsonsafe import json_safe
from astrocnn.tasks.classification.metrics import (
    auroc,
    binary_report,
    calibration,
    confusion_matrix,
    multiclass_report,
    roc_curve,
    tpr_at_false_positives,
)


def mann_whitney_auc(y, s):
    """Brute-force P(score_pos > score_neg) + 1/2 P(tie) over all pairs."""
    y = np.asarray(y, dtype=bool)
    s = np.asarray(s, dtype=float)
    pos = s[y][:, None]
    neg = s[~y][None, :]
    return float(((pos > neg).sum() + 0.5 * (pos == neg).sum()) / (pos.size * neg.size))


def brute_force_tpr_at_fp(y, s, n_fp):
    """Max TPR over every threshold (score >= t) with FP == 0 / FP < n_fp."""
    y = np.asarray(y, dtype=bool)
    s = np.asarray(s, dtype=float)
    candidates = np.concatenate([[np.inf], np.unique(s)])
    best = 0.0
    for t in candidates:
        pred = s >= t
        fp = np.count_nonzero(pred & ~y)
        ok = fp == 0 if n_fp == 0 else fp < n_fp
        if ok:
            best = max(best, np.count_nonzero(pred & y) / np.count_nonzero(y))
    return best


# ----------------------------------------------------------------- roc_curve


def test_roc_curve_hand_example():
    fpr, tpr, thr = roc_curve([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8])
    assert fpr.tolist() == [0.0, 0.0, 0.5, 0.5, 1.0]
    assert tpr.tolist() == [0.0, 0.5, 0.5, 1.0, 1.0]
    assert thr.tolist() == [np.inf, 0.8, 0.4, 0.35, 0.1]


def test_roc_curve_ties_form_one_step():
    # Scores: 0.9 (pos), 0.5 x4 (2 pos, 2 neg), 0.1 (neg)
    y = [1, 1, 0, 1, 0, 0]
    s = [0.9, 0.5, 0.5, 0.5, 0.5, 0.1]
    fpr, tpr, thr = roc_curve(y, s)
    assert thr.tolist() == [np.inf, 0.9, 0.5, 0.1]
    np.testing.assert_allclose(fpr, [0, 0, 2 / 3, 1])
    np.testing.assert_allclose(tpr, [0, 1 / 3, 1, 1])
    # Order of the tied objects in the input must not matter.
    perm = [5, 3, 0, 2, 4, 1]
    fpr2, tpr2, thr2 = roc_curve(np.take(y, perm), np.take(s, perm))
    np.testing.assert_array_equal(fpr, fpr2)
    np.testing.assert_array_equal(tpr, tpr2)
    np.testing.assert_array_equal(thr, thr2)


def test_roc_curve_endpoints_and_monotonic():
    rng = np.random.default_rng(1)
    y = rng.integers(0, 2, 500)
    s = np.round(rng.normal(y, 1.0), 1)  # many ties
    fpr, tpr, thr = roc_curve(y, s)
    assert (fpr[0], tpr[0]) == (0.0, 0.0)
    assert (fpr[-1], tpr[-1]) == (1.0, 1.0)
    assert np.all(np.diff(fpr) >= 0) and np.all(np.diff(tpr) >= 0)
    assert np.all(np.diff(thr) < 0)
    assert len(thr) == len(np.unique(s)) + 1
    # Each point matches the definition "predicted positive when score >= t".
    y_b = y.astype(bool)
    for f, t, th in zip(fpr[1:], tpr[1:], thr[1:], strict=True):
        pred = s >= th
        assert f == np.count_nonzero(pred & ~y_b) / np.count_nonzero(~y_b)
        assert t == np.count_nonzero(pred & y_b) / np.count_nonzero(y_b)


def test_roc_curve_accepts_bool_labels():
    fpr, tpr, _ = roc_curve(np.array([False, True]), [0.2, 0.7])
    assert fpr.tolist() == [0.0, 0.0, 1.0]
    assert tpr.tolist() == [0.0, 1.0, 1.0]


@pytest.mark.parametrize("y", [[1, 1, 1], [0, 0], [False, False, False]])
def test_one_class_raises(y):
    s = np.linspace(0, 1, len(y))
    with pytest.raises(ValueError, match="both classes"):
        roc_curve(y, s)
    with pytest.raises(ValueError, match="both classes"):
        auroc(y, s)
    with pytest.raises(ValueError, match="both classes"):
        tpr_at_false_positives(y, s, 0)
    with pytest.raises(ValueError, match="both classes"):
        binary_report(y, s)


def test_empty_raises():
    with pytest.raises(ValueError):
        roc_curve([], [])


@pytest.mark.parametrize(
    ("y", "s", "match"),
    [
        ([0, 1, 2], [0.1, 0.2, 0.3], "only 0 and 1"),
        ([0, 1], [0.1, 0.2, 0.3], "differ in length"),
        ([[0, 1]], [[0.1, 0.2]], "1-D"),
        ([0, 1], [0.1, np.nan], "non-finite"),
        ([0, 1], [0.1, np.inf], "non-finite"),
        (["a", "b"], [0.1, 0.2], "boolean or numeric"),
    ],
)
def test_invalid_inputs_raise(y, s, match):
    with pytest.raises(ValueError, match=match):
        roc_curve(y, s)


# --------------------------------------------------------------------- auroc


def test_auroc_perfect_reversed_tied():
    y = [0, 0, 0, 1, 1]
    assert auroc(y, [0.1, 0.2, 0.3, 0.8, 0.9]) == 1.0
    assert auroc(y, [0.9, 0.8, 0.7, 0.2, 0.1]) == 0.0
    assert auroc(y, [0.5] * 5) == 0.5


def test_auroc_hand_example_with_tie():
    # pairs (pos, neg): 0.8 beats 0.1, 0.4; 0.4 ties 0.4 and beats 0.1 -> 3.5 / 4
    assert auroc([0, 0, 1, 1], [0.1, 0.4, 0.4, 0.8]) == pytest.approx(0.875)
    assert isinstance(auroc([0, 1], [0.0, 1.0]), float)


@pytest.mark.parametrize("seed", range(5))
def test_auroc_equals_mann_whitney_with_ties(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(20, 400))
    y = rng.integers(0, 2, n)
    y[:2] = [0, 1]
    s = rng.integers(0, 8, n) + 0.7 * y  # coarse scores: many ties, across classes too
    assert auroc(y, s) == pytest.approx(mann_whitney_auc(y, s), abs=1e-12)


def test_auroc_is_invariant_to_monotonic_transform():
    rng = np.random.default_rng(7)
    y = rng.integers(0, 2, 200)
    s = rng.normal(y, 1.0)
    assert auroc(y, s) == pytest.approx(auroc(y, 1 / (1 + np.exp(-3 * s))))


# ----------------------------------------------------- tpr_at_false_positives


def test_tpr0_perfect_and_reversed():
    y = [0, 0, 0, 1, 1]
    assert tpr_at_false_positives(y, [0.1, 0.2, 0.3, 0.8, 0.9], 0) == 1.0
    assert tpr_at_false_positives(y, [0.9, 0.8, 0.7, 0.2, 0.1], 0) == 0.0
    assert tpr_at_false_positives(y, [0.5] * 5, 0) == 0.0  # ties do not count


def test_tpr_hand_example():
    # sorted by score: P P N P N P
    y = [1, 1, 0, 1, 0, 1]
    s = [0.9, 0.8, 0.7, 0.6, 0.5, 0.4]
    assert tpr_at_false_positives(y, s, 0) == 0.5  # above the highest negative
    assert tpr_at_false_positives(y, s, 1) == 0.5  # FP < 1 is the same as FP == 0
    assert tpr_at_false_positives(y, s, 2) == 0.75  # FP <= 1: above the 2nd negative
    assert tpr_at_false_positives(y, s, 3) == 1.0  # fewer than 3 negatives in total
    for n_fp in range(5):
        assert tpr_at_false_positives(y, s, n_fp) == brute_force_tpr_at_fp(y, s, n_fp)


def test_tpr0_tie_with_top_negative_is_conservative():
    # One positive ties with the highest negative: it must not count.
    y = [1, 1, 0, 0]
    s = [0.9, 0.7, 0.7, 0.1]
    assert tpr_at_false_positives(y, s, 0) == 0.5
    # Tied negatives: the threshold cannot split them.
    y = [1, 1, 1, 0, 0, 0]
    s = [0.9, 0.8, 0.6, 0.8, 0.8, 0.1]
    assert tpr_at_false_positives(y, s, 1) == pytest.approx(1 / 3)
    assert tpr_at_false_positives(y, s, 2) == pytest.approx(1 / 3)  # FP<=1 impossible above 0.8
    assert tpr_at_false_positives(y, s, 3) == pytest.approx(1.0)  # cut at 0.1


def test_tpr10_with_ten_negatives_above_some_positives():
    # 20 negatives; the 10 highest at 0.90 .. 0.99, the rest at 0.00 .. 0.09.
    neg = np.concatenate([np.arange(90, 100) / 100, np.arange(0, 10) / 100])
    # 10 positives: 2 above every negative, 3 strictly between the 10th (0.90)
    # and 9th (0.91) highest negatives, 1 tied with the 10th highest negative,
    # and 4 below it.
    pos = np.array([0.995, 0.999, 0.901, 0.905, 0.909, 0.90, 0.5, 0.3, 0.2, 0.1])
    y = np.concatenate([np.zeros(neg.size, int), np.ones(pos.size, int)])
    s = np.concatenate([neg, pos])
    # TPR0: positives above the highest negative (0.99) -> 2 / 10.
    assert tpr_at_false_positives(y, s, 0) == pytest.approx(0.2)
    # TPR10: fewer than 10 false positives <=> threshold above 0.90 (the 10th
    # highest negative): 2 + 3 positives; the one tied at 0.90 does not count.
    assert tpr_at_false_positives(y, s, 10) == pytest.approx(0.5)
    # TPR9: above the 9th highest negative (0.91): the 3 positives at
    # 0.901 - 0.909 no longer count.
    assert tpr_at_false_positives(y, s, 9) == pytest.approx(0.2)
    # TPR11: above the 11th highest negative (0.09): every positive.
    assert tpr_at_false_positives(y, s, 11) == pytest.approx(1.0)
    for n_fp in (0, 1, 5, 9, 10, 11, 20, 21):
        assert tpr_at_false_positives(y, s, n_fp) == pytest.approx(
            brute_force_tpr_at_fp(y, s, n_fp)
        )


@pytest.mark.parametrize("seed", range(5))
def test_tpr_matches_brute_force_random(seed):
    rng = np.random.default_rng(100 + seed)
    n = int(rng.integers(10, 200))
    y = rng.integers(0, 2, n)
    y[:2] = [0, 1]
    s = rng.integers(0, 15, n) + 2 * y
    for n_fp in (0, 1, 2, 3, 10, 50):
        assert tpr_at_false_positives(y, s, n_fp) == pytest.approx(
            brute_force_tpr_at_fp(y, s, n_fp)
        )


def test_tpr_at_fp_is_nondecreasing_in_n_fp():
    rng = np.random.default_rng(3)
    y = rng.integers(0, 2, 300)
    s = rng.normal(y, 1.0)
    values = [tpr_at_false_positives(y, s, k) for k in range(60)]
    assert all(b >= a for a, b in itertools.pairwise(values))
    assert values[0] == values[1]


@pytest.mark.parametrize(
    ("n_fp", "error"),
    [
        (-1, ValueError),
        (1.5, TypeError),
        ("10", TypeError),
        (True, TypeError),
        (None, TypeError),
    ],
)
def test_tpr_bad_n_fp(n_fp, error):
    with pytest.raises(error, match="n_fp"):
        tpr_at_false_positives([0, 1], [0.1, 0.9], n_fp)


def test_tpr_accepts_numpy_integer():
    assert tpr_at_false_positives([0, 1], [0.1, 0.9], np.int64(10)) == 1.0


# ------------------------------------------------------------- binary_report

REPORT_KEYS = [
    "n", "n_pos", "n_neg", "auroc", "tpr0", "tpr10", "threshold", "precision",
    "recall", "fpr", "accuracy", "f1", "tp", "fp", "tn", "fn",
]  # fmt: skip


def test_binary_report_hand_example():
    y = [1, 1, 0, 1, 0, 0]
    s = [0.9, 0.6, 0.7, 0.4, 0.2, 0.5]
    r = binary_report(y, s, threshold=0.5)
    assert list(r) == REPORT_KEYS
    # predicted positive (>= 0.5): 0.9 P, 0.6 P, 0.7 N, 0.5 N
    assert (r["tp"], r["fp"], r["tn"], r["fn"]) == (2, 2, 1, 1)
    assert (r["n"], r["n_pos"], r["n_neg"]) == (6, 3, 3)
    assert r["precision"] == pytest.approx(0.5)
    assert r["recall"] == pytest.approx(2 / 3)
    assert r["fpr"] == pytest.approx(2 / 3)
    assert r["accuracy"] == pytest.approx(0.5)
    assert r["f1"] == pytest.approx(2 * 0.5 * (2 / 3) / (0.5 + 2 / 3))
    assert r["threshold"] == 0.5
    assert r["auroc"] == pytest.approx(mann_whitney_auc(y, s))
    assert r["tpr0"] == pytest.approx(1 / 3)  # only 0.9 beats the top negative 0.7
    assert r["tpr10"] == 1.0  # fewer than 10 negatives
    for key in REPORT_KEYS:
        assert type(r[key]) in (int, float), key
    json.dumps(r, allow_nan=False)


def test_binary_report_no_predicted_positive_gives_nan_precision():
    r = binary_report([0, 1, 0, 1], [0.1, 0.2, 0.3, 0.4], threshold=0.9)
    assert (r["tp"], r["fp"]) == (0, 0)
    assert math.isnan(r["precision"])
    assert r["recall"] == 0.0 and r["f1"] == 0.0 and r["fpr"] == 0.0
    with pytest.raises(ValueError):
        json.dumps(r, allow_nan=False)
    safe = json_safe(r)
    assert safe["precision"] is None
    text = json.dumps(safe, allow_nan=False)
    assert json.loads(text)["auroc"] == pytest.approx(0.75)


def test_binary_report_threshold_is_inclusive():
    r = binary_report([0, 1], [0.5, 0.5], threshold=0.5)
    assert (r["tp"], r["fp"], r["tn"], r["fn"]) == (1, 1, 0, 0)


def test_binary_report_numpy_inputs_give_python_types():
    y = np.array([0, 1, 1, 0], dtype=np.int8)
    s = np.array([0.1, 0.8, 0.7, 0.6], dtype=np.float32)
    r = binary_report(y, s, threshold=np.float32(0.65))
    for key in REPORT_KEYS:
        assert type(r[key]) in (int, float), key


def test_binary_report_nan_threshold_raises():
    with pytest.raises(ValueError, match="threshold"):
        binary_report([0, 1], [0.1, 0.9], threshold=float("nan"))


# ----------------------------------------------------------------- json_safe


def test_json_safe_nested():
    d = {
        "a": float("nan"),
        "b": [1.0, float("inf"), -float("inf"), 2],
        "c": {"d": np.float64("nan"), "e": np.int64(3), "f": np.float32(0.5)},
        "g": np.array([1.0, np.nan]),
        "h": (True, None, "x"),
        1: 2,
    }
    out = json_safe(d)
    assert out == {
        "a": None,
        "b": [1.0, None, None, 2],
        "c": {"d": None, "e": 3, "f": 0.5},
        "g": [1.0, None],
        "h": [True, None, "x"],
        "1": 2,
    }
    assert type(out["c"]["e"]) is int and type(out["c"]["f"]) is float
    json.dumps(out, allow_nan=False)
    assert math.isnan(d["a"])  # input untouched


# ---------------------------------------------------------- confusion_matrix


def test_confusion_matrix_hand_example():
    cm = confusion_matrix([0, 0, 1, 2, 2, 2], [0, 1, 1, 2, 0, 2], 3)
    assert cm.dtype == np.int64
    assert cm.tolist() == [[1, 1, 0], [0, 1, 0], [1, 0, 2]]  # rows = true, cols = predicted
    assert cm.sum() == 6 and np.trace(cm) == 4


def test_confusion_matrix_unused_classes_empty_and_float_labels():
    cm = confusion_matrix(np.array([1.0, 1.0]), np.array([3, 1], dtype=np.uint8), 5)
    expected = np.zeros((5, 5), dtype=np.int64)
    expected[1, 3] = expected[1, 1] = 1
    np.testing.assert_array_equal(cm, expected)
    assert confusion_matrix([], [], 2).tolist() == [[0, 0], [0, 0]]
    assert confusion_matrix([0], [0], np.int64(1)).tolist() == [[1]]


@pytest.mark.parametrize(
    ("y", "p", "k", "match"),
    [
        ([0, 3], [0, 1], 3, r"y_true must hold labels 0 \.\. 2"),
        ([0, 1], [0, -1], 3, "y_pred must hold labels"),
        ([0, 1.5], [0, 1], 3, "integer class labels"),
        ([0, np.nan], [0, 1], 3, "integer class labels"),
        (["a", "b"], [0, 1], 3, "integer class labels"),
        ([0, 1], [0, 1, 1], 3, "differ in length"),
        ([[0, 1]], [[0, 1]], 3, "1-D"),
        ([0], [0], 0, "n_classes must be a positive integer"),
    ],
)
def test_confusion_matrix_invalid_inputs(y, p, k, match):
    with pytest.raises(ValueError, match=match):
        confusion_matrix(y, p, k)


@pytest.mark.parametrize("k", [2.0, True, "3", None])
def test_confusion_matrix_bad_n_classes_type(k):
    with pytest.raises(TypeError, match="n_classes"):
        confusion_matrix([0], [0], k)


# --------------------------------------------------------------- calibration


def test_calibration_hand_example_and_empty_bins():
    proba = [[0.9, 0.1], [0.3, 0.7], [0.7, 0.3], [0.45, 0.55]]
    r = calibration([0, 1, 1, 1], proba, n_bins=5)
    assert list(r) == ["ece", "mce", "bin_edges", "bin_confidence", "bin_accuracy", "bin_count"]
    np.testing.assert_allclose(r["bin_edges"], [0.0, 0.2, 0.4, 0.6, 0.8, 1.0])
    assert r["bin_count"] == [0, 0, 1, 2, 1]
    # bins: (0.4, 0.6] holds 0.55 (correct); (0.6, 0.8] holds 0.7 (correct) and
    # 0.7 (wrong); (0.8, 1] holds 0.9 (correct).
    assert all(math.isnan(v) for v in r["bin_confidence"][:2] + r["bin_accuracy"][:2])
    np.testing.assert_allclose(r["bin_confidence"][2:], [0.55, 0.7, 0.9])
    np.testing.assert_allclose(r["bin_accuracy"][2:], [1.0, 0.5, 1.0])
    assert r["ece"] == pytest.approx((0.45 + 2 * 0.2 + 0.1) / 4)
    assert r["mce"] == pytest.approx(0.45)
    assert type(r["ece"]) is float and type(r["mce"]) is float
    assert all(type(c) is int for c in r["bin_count"])
    assert all(type(v) is float for v in r["bin_confidence"] + r["bin_accuracy"])
    safe = json_safe(r)
    assert safe["bin_confidence"][:2] == [None, None]
    json.dumps(safe, allow_nan=False)


def test_calibration_perfectly_calibrated_has_zero_ece():
    # 10 objects predicted with confidence 0.8, of which exactly 8 are right;
    # 5 with confidence 0.6 (class 1), of which exactly 3 are right.
    proba = [[0.8, 0.2]] * 10 + [[0.4, 0.6]] * 5
    y = [0] * 8 + [1] * 2 + [1] * 3 + [0] * 2
    r = calibration(y, proba)
    assert r["ece"] == pytest.approx(0.0, abs=1e-12)
    assert r["mce"] == pytest.approx(0.0, abs=1e-12)
    assert sum(r["bin_count"]) == 15
    assert sorted(c for c in r["bin_count"] if c) == [5, 10]


def test_calibration_overconfident_known_ece():
    # Three classes.  4 objects at confidence 0.9 with 2 right (gap 0.4) and 4
    # at confidence 0.95 with 1 right (gap 0.7): ECE = (4 * 0.4 + 4 * 0.7) / 8.
    proba = [[0.9, 0.05, 0.05]] * 4 + [[0.025, 0.95, 0.025]] * 4
    y = [0, 0, 1, 2] + [1, 0, 0, 2]
    r = calibration(y, proba)
    assert r["ece"] == pytest.approx(0.55)
    assert r["mce"] == pytest.approx(0.7)
    filled = [b for b, c in enumerate(r["bin_count"]) if c]
    assert filled == [13, 14]  # (13/15, 14/15] and (14/15, 1]
    assert [r["bin_accuracy"][b] for b in filled] == [0.5, 0.25]
    # One bin: ECE = |mean confidence - accuracy| = 0.925 - 0.375.
    one = calibration(y, proba, n_bins=1)
    assert one["ece"] == pytest.approx(0.55)
    assert one["bin_count"] == [8]
    assert one["bin_confidence"] == [pytest.approx(0.925)]
    assert one["bin_accuracy"] == [0.375]


def test_calibration_bins_are_right_closed():
    # With 2 bins, (0, 0.5] and (0.5, 1]: confidence 0.5 falls in the first.
    r = calibration([0, 1, 0], [[0.5, 0.5], [0.0, 1.0], [0.6, 0.4]], n_bins=2)
    assert r["bin_count"] == [1, 2]
    # Ties go to the first column: [0.5, 0.5] predicts class 0, correct here.
    assert r["bin_accuracy"] == [1.0, 1.0]


@pytest.mark.parametrize("seed", range(3))
def test_calibration_matches_brute_force(seed):
    rng = np.random.default_rng(seed)
    n, k, n_bins = 300, 5, 10
    y = rng.integers(0, k, n)
    logits = rng.normal(size=(n, k)) * 2.0
    logits[np.arange(n), y] += 1.0
    proba = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    r = calibration(y, proba, n_bins=n_bins)
    conf = proba.max(axis=1)
    right = proba.argmax(axis=1) == y
    ece = 0.0
    for b in range(n_bins):
        lo, hi = r["bin_edges"][b], r["bin_edges"][b + 1]
        m = (conf > lo) & (conf <= hi)
        assert r["bin_count"][b] == np.count_nonzero(m)
        if m.any():
            ece += m.mean() * abs(right[m].mean() - conf[m].mean())
    assert r["ece"] == pytest.approx(ece, abs=1e-12)


@pytest.mark.parametrize("n_bins", [0, -3])
def test_calibration_bad_n_bins_value(n_bins):
    with pytest.raises(ValueError, match="n_bins"):
        calibration([0], [[1.0]], n_bins=n_bins)


@pytest.mark.parametrize("n_bins", [1.5, True, "15"])
def test_calibration_bad_n_bins_type(n_bins):
    with pytest.raises(TypeError, match="n_bins"):
        calibration([0], [[1.0]], n_bins=n_bins)


# --------------------------------------------------------- multiclass_report

MC_KEYS = [
    "n", "accuracy", "balanced_accuracy", "macro_f1", "log_loss", "ece", "mce",
    "class_names", "per_class", "confusion_matrix", "reliability",
]  # fmt: skip

MC_NAMES = ["smooth", "featured", "edge-on", "artefact"]

# Class 2 (edge-on) is present in y_true but never predicted; class 3
# (artefact) is predicted once but absent from y_true.
MC_Y = [0, 0, 0, 1, 1, 2, 2, 0]
MC_PROBA = [
    [0.7, 0.1, 0.1, 0.1],  # true 0, predicted 0 (conf 0.7, right)
    [0.6, 0.2, 0.1, 0.1],  # true 0, predicted 0 (0.6, right)
    [0.3, 0.5, 0.1, 0.1],  # true 0, predicted 1 (0.5, wrong)
    [0.1, 0.8, 0.05, 0.05],  # true 1, predicted 1 (0.8, right)
    [0.4, 0.3, 0.2, 0.1],  # true 1, predicted 0 (0.4, wrong)
    [0.2, 0.4, 0.3, 0.1],  # true 2, predicted 1 (0.4, wrong)
    [0.5, 0.1, 0.3, 0.1],  # true 2, predicted 0 (0.5, wrong)
    [0.2, 0.1, 0.1, 0.6],  # true 0, predicted 3 (0.6, wrong)
]


def test_multiclass_report_hand_example():
    r = multiclass_report(MC_Y, MC_PROBA, MC_NAMES)
    assert list(r) == MC_KEYS
    assert r["class_names"] == MC_NAMES
    assert r["confusion_matrix"] == [[2, 1, 0, 1], [1, 1, 0, 0], [1, 1, 0, 0], [0, 0, 0, 0]]
    assert r["n"] == 8
    assert r["accuracy"] == pytest.approx(3 / 8)
    pc = r["per_class"]
    assert list(pc) == MC_NAMES
    assert list(pc["smooth"]) == ["precision", "recall", "f1", "support"]
    # smooth: tp 2, predicted 4, support 4.
    assert pc["smooth"] == {"precision": 0.5, "recall": 0.5, "f1": 0.5, "support": 4}
    # featured: tp 1, predicted 3, support 2 -> F1 = 2 / (2 + 3).
    assert pc["featured"]["precision"] == pytest.approx(1 / 3)
    assert pc["featured"]["recall"] == 0.5
    assert pc["featured"]["f1"] == pytest.approx(0.4)
    assert pc["featured"]["support"] == 2
    # edge-on: never predicted -> precision NaN; recall and F1 0.
    assert math.isnan(pc["edge-on"]["precision"])
    assert pc["edge-on"]["recall"] == 0.0 and pc["edge-on"]["f1"] == 0.0
    # artefact: absent from y_true -> recall NaN; predicted once, wrongly.
    assert pc["artefact"]["precision"] == 0.0
    assert math.isnan(pc["artefact"]["recall"])
    assert pc["artefact"]["f1"] == 0.0 and pc["artefact"]["support"] == 0
    # Balanced accuracy: mean recall over the 3 classes present in y_true.
    assert r["balanced_accuracy"] == pytest.approx((0.5 + 0.5 + 0.0) / 3)
    # Macro F1 over the 4 classes true or predicted.
    assert r["macro_f1"] == pytest.approx((0.5 + 0.4 + 0.0 + 0.0) / 4)
    p_true = [0.7, 0.6, 0.3, 0.8, 0.3, 0.3, 0.3, 0.2]
    assert r["log_loss"] == pytest.approx(-sum(math.log(p) for p in p_true) / 8)
    # Confidences 0.4 .. 0.8 are 0.1 apart, so each value has its own bin (of
    # width 1/15): 0.4 x2 (0 right), 0.5 x2 (0 right), 0.6 x2 (1 right), 0.7
    # (right), 0.8 (right).
    assert r["ece"] == pytest.approx((2 * 0.4 + 2 * 0.5 + 2 * 0.1 + 0.3 + 0.2) / 8)
    assert r["mce"] == pytest.approx(0.5)
    rel = r["reliability"]
    assert list(rel) == ["bin_edges", "bin_confidence", "bin_accuracy", "bin_count"]
    assert len(rel["bin_count"]) == 15 and len(rel["bin_edges"]) == 16
    assert sorted(c for c in rel["bin_count"] if c) == [1, 1, 2, 2, 2]
    cal = calibration(MC_Y, MC_PROBA)
    assert r["ece"] == cal["ece"]
    assert rel["bin_count"] == cal["bin_count"]


def test_multiclass_report_json_and_python_types():
    r = multiclass_report(np.array(MC_Y, np.int16), np.array(MC_PROBA, np.float32), MC_NAMES)
    for key in ("accuracy", "balanced_accuracy", "macro_f1", "log_loss", "ece", "mce"):
        assert type(r[key]) is float, key
    assert type(r["n"]) is int
    for name in MC_NAMES:
        assert type(r["per_class"][name]["support"]) is int
        for key in ("precision", "recall", "f1"):
            assert type(r["per_class"][name][key]) is float
    assert all(type(v) is int for row in r["confusion_matrix"] for v in row)
    with pytest.raises(ValueError):
        json.dumps(r, allow_nan=False)
    loaded = json.loads(json.dumps(json_safe(r), allow_nan=False))
    assert loaded["per_class"]["edge-on"]["precision"] is None
    assert loaded["per_class"]["artefact"]["recall"] is None
    assert loaded["confusion_matrix"][0] == [2, 1, 0, 1]
    assert loaded["reliability"]["bin_accuracy"][0] is None


def test_multiclass_report_perfect_and_single_class():
    r = multiclass_report([0, 1, 2], np.eye(3), ["a", "b", "c"])
    assert r["accuracy"] == r["balanced_accuracy"] == r["macro_f1"] == 1.0
    assert r["ece"] == 0.0 and r["mce"] == 0.0
    assert r["log_loss"] == pytest.approx(0.0, abs=1e-12)
    one = multiclass_report([0, 0], [[1.0], [1.0]], ["galaxy"])
    assert one["confusion_matrix"] == [[2]]
    assert one["accuracy"] == 1.0 and one["ece"] == 0.0
    assert one["per_class"]["galaxy"] == {"precision": 1.0, "recall": 1.0, "f1": 1.0, "support": 2}


def test_multiclass_report_log_loss_is_clipped():
    r = multiclass_report([1], [[1.0, 0.0]], ["a", "b"])
    assert r["log_loss"] == pytest.approx(-math.log(1e-7))


def test_multiclass_report_matches_brute_force():
    rng = np.random.default_rng(11)
    n, k = 200, 5
    y = rng.integers(0, k - 1, n)  # the last class never occurs
    logits = rng.normal(size=(n, k))
    logits[np.arange(n), y] += 1.0
    logits[:, 2] -= 50.0  # class 2 is never predicted
    proba = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    names = [f"class {c}" for c in range(k)]
    r = multiclass_report(y, proba, names)
    pred = proba.argmax(axis=1)
    f1s, recalls = [], []
    for c, name in enumerate(names):
        tp = np.count_nonzero((pred == c) & (y == c))
        n_pred = np.count_nonzero(pred == c)
        n_true = np.count_nonzero(y == c)
        got = r["per_class"][name]
        assert got["support"] == n_true
        if n_pred:
            assert got["precision"] == pytest.approx(tp / n_pred)
        else:
            assert math.isnan(got["precision"])
        if n_true:
            assert got["recall"] == pytest.approx(tp / n_true)
            recalls.append(tp / n_true)
        else:
            assert math.isnan(got["recall"])
        if n_true or n_pred:
            f1s.append(2 * tp / (n_true + n_pred))
    assert np.isnan(r["per_class"]["class 2"]["precision"])
    assert np.isnan(r["per_class"]["class 4"]["recall"])
    assert r["accuracy"] == pytest.approx(np.mean(pred == y))
    assert r["balanced_accuracy"] == pytest.approx(np.mean(recalls))
    assert r["macro_f1"] == pytest.approx(np.mean(f1s))
    p_true = np.clip(proba[np.arange(n), y], 1e-7, 1.0)  # class 2 objects get ~e^-50
    assert r["log_loss"] == pytest.approx(-np.mean(np.log(p_true)))


def test_multiclass_report_n_bins():
    r = multiclass_report(MC_Y, MC_PROBA, MC_NAMES, n_bins=1)
    assert r["reliability"]["bin_count"] == [8]
    mean_conf = (0.7 + 0.6 + 0.5 + 0.8 + 0.4 + 0.4 + 0.5 + 0.6) / 8
    assert r["ece"] == pytest.approx(mean_conf - 3 / 8)


@pytest.mark.parametrize(
    ("y", "proba", "names", "match"),
    [
        ([0, 1], [[0.5, 0.5], [0.2, 0.8]], ["a", "b", "c"], "2 column"),
        ([0, 1], [0.5, 0.5], ["a", "b"], "2-D"),
        ([0, 2], [[0.5, 0.5], [0.2, 0.8]], ["a", "b"], r"labels 0 \.\. 1"),
        ([0, -1], [[0.5, 0.5], [0.2, 0.8]], ["a", "b"], "labels"),
        ([0, 0.5], [[0.5, 0.5], [0.2, 0.8]], ["a", "b"], "integer class labels"),
        ([0], [[0.5, 0.5], [0.2, 0.8]], ["a", "b"], "differ in length"),
        ([[0, 1]], [[0.5, 0.5], [0.2, 0.8]], ["a", "b"], "1-D"),
        ([], np.zeros((0, 2)), ["a", "b"], "empty"),
        ([0, 1], [[0.5, 0.4], [0.2, 0.8]], ["a", "b"], "sum to 1"),
        ([0, 1], [[1.5, -0.5], [0.2, 0.8]], ["a", "b"], r"\[0, 1\]"),
        ([0, 1], [[np.nan, 0.5], [0.2, 0.8]], ["a", "b"], "non-finite"),
        ([0, 1], [["x", "y"], ["z", "w"]], ["a", "b"], "real numbers"),
        ([0, 1], [[0.5, 0.5], [0.2, 0.8]], ["a", "a"], "distinct"),
        ([0, 1], [[0.5, 0.5], [0.2, 0.8]], "ab", "sequence of names"),
        ([0], np.zeros((1, 0)), [], "at least one"),
    ],
)
def test_multiclass_report_invalid_inputs(y, proba, names, match):
    with pytest.raises(ValueError, match=match):
        multiclass_report(y, proba, names)


def test_multiclass_inputs_tolerate_float32_rounding():
    proba = np.array([[0.7, 0.2, 0.1000004], [0.1, 0.1, 0.8]], dtype=np.float32)
    r = multiclass_report([0, 2], proba, ["a", "b", "c"])
    assert r["accuracy"] == 1.0
    assert sum(calibration([0.0, 2.0], proba)["bin_count"]) == 2  # float labels accepted
