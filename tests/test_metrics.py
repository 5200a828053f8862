"""Tests for astrocnn.metrics (binary classification)."""

from __future__ import annotations

import itertools
import json
import math

import numpy as np
import pytest

from astrocnn.metrics import (
    auroc,
    binary_report,
    json_safe,
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
