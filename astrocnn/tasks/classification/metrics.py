"""Evaluation metrics for classifiers of astronomical images.

Pure functions on NumPy arrays (no machine-learning framework needed), reused
by every science task.  The functions here cover *binary* classification,
e.g. strong-lens finding as scored in the Strong Lens Finding Challenge
(Metcalf et al. 2019, A&A 625, A119), and *multi-class* classification, e.g.
galaxy morphology in Galaxy Zoo style classes (Dieleman et al. 2015, MNRAS
450, 1441), including probability calibration (Guo et al. 2017, ICML).

Conventions
-----------
Binary classification:

* ``y_true`` holds the true classes: booleans, or numbers equal to 0
  (negative, e.g. non-lens) or 1 (positive, e.g. lens).
* ``score`` holds finite real numbers (probabilities, logits, ...); a larger
  score means "more likely positive".  NaN and infinite scores are rejected
  with a ``ValueError`` so that they cannot silently distort a metric.
* At a threshold ``t`` an object is *predicted positive* when
  ``score >= t``.

Multi-class classification with ``k`` classes:

* ``y_true`` holds integer class labels ``0 .. k-1`` (integer-valued floats
  are accepted, e.g. a label column read from FITS).
* ``proba`` has shape ``(n, k)``: one row of class probabilities per object
  (e.g. a softmax output), each in [0, 1], each row summing to 1 within
  :data:`PROBA_SUM_TOL`.
* The *predicted class* is the column of the largest probability (the first
  such column on ties, as :func:`numpy.argmax`), and the *confidence* is
  that largest probability (the "top-label" confidence).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from numbers import Integral
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

__all__ = [
    "auroc",
    "binary_report",
    "calibration",
    "confusion_matrix",
    "fraction_report",
    "multiclass_report",
    "roc_curve",
    "tpr_at_false_positives",
]

#: Largest accepted deviation of a row sum of ``proba`` from 1 (and of a
#: probability below 0 or above 1); float32 softmax outputs are well within it.
PROBA_SUM_TOL = 1e-3

#: Probabilities are clipped to ``[LOG_LOSS_EPS, 1]`` in the log loss, so that
#: a confident mistake costs at most ``-log(1e-7)`` (about 16.1), not infinity.
LOG_LOSS_EPS = 1e-7


def _check_binary(
    y_true: ArrayLike, score: ArrayLike, *, require_both: bool = True
) -> tuple[np.ndarray, np.ndarray]:
    """Validate and convert binary labels and scores.

    Parameters
    ----------
    y_true : array_like, shape (n,)
        True classes, booleans or numbers equal to 0 or 1.
    score : array_like, shape (n,)
        Finite scores, larger meaning more likely positive.
    require_both : bool, optional
        If True (default), raise unless both classes are present.

    Returns
    -------
    y : numpy.ndarray of bool, shape (n,)
        True for positives.
    s : numpy.ndarray of float64, shape (n,)
        The scores.

    Raises
    ------
    ValueError
        If the inputs are not 1-D, differ in length, the labels are not
        binary, a score is not finite, or (with ``require_both``) only one
        class is present.
    """
    y_arr = np.asarray(y_true)
    s_arr = np.asarray(score)
    if y_arr.ndim != 1 or s_arr.ndim != 1:
        raise ValueError(
            f"y_true and score must be 1-D, got shapes {y_arr.shape} and {s_arr.shape}"
        )
    if y_arr.shape != s_arr.shape:
        raise ValueError(f"y_true and score differ in length: {y_arr.shape[0]} != {s_arr.shape[0]}")
    if y_arr.dtype == bool:
        y = y_arr
    else:
        if not (np.issubdtype(y_arr.dtype, np.number) and not np.iscomplexobj(y_arr)):
            raise ValueError(f"y_true must be boolean or numeric, got dtype {y_arr.dtype}")
        if not np.all((y_arr == 0) | (y_arr == 1)):
            bad = np.unique(y_arr[(y_arr != 0) & (y_arr != 1)])[:5]
            raise ValueError(f"y_true must contain only 0 and 1; found e.g. {bad.tolist()}")
        y = y_arr == 1
    if not (np.issubdtype(s_arr.dtype, np.number) or s_arr.dtype == bool) or np.iscomplexobj(s_arr):
        raise ValueError(f"score must be real numbers, got dtype {s_arr.dtype}")
    s = s_arr.astype(np.float64)
    if not np.all(np.isfinite(s)):
        n_bad = int(np.count_nonzero(~np.isfinite(s)))
        raise ValueError(f"score contains {n_bad} non-finite value(s) (NaN or inf)")
    if require_both:
        n_pos = int(np.count_nonzero(y))
        if n_pos == 0 or n_pos == y.size:
            raise ValueError(
                "both classes must be present in y_true "
                f"(got n_pos={n_pos}, n_neg={y.size - n_pos})"
            )
    return y, s


def roc_curve(y_true: ArrayLike, score: ArrayLike) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Receiver operating characteristic (ROC) curve of a binary classifier.

    Parameters
    ----------
    y_true : array_like, shape (n,)
        True classes: booleans, or numbers equal to 0 (negative) or 1
        (positive).
    score : array_like, shape (n,)
        Finite scores; larger means more likely positive.

    Returns
    -------
    fpr : numpy.ndarray of float64, shape (m + 1,)
        False-positive rate ``FP / n_neg`` at each threshold.
    tpr : numpy.ndarray of float64, shape (m + 1,)
        True-positive rate ``TP / n_pos`` at each threshold.
    thresholds : numpy.ndarray of float64, shape (m + 1,)
        Decreasing thresholds: ``thresholds[0]`` is ``+inf`` (nothing
        predicted positive, the point (0, 0)); ``thresholds[1:]`` are the
        ``m`` distinct score values in decreasing order.  At threshold ``t``
        an object is predicted positive when ``score >= t``, so the last
        point, at the lowest score, is (1, 1).

    Raises
    ------
    ValueError
        If only one class is present, the labels are not binary, a score is
        not finite, or the shapes do not match.

    Notes
    -----
    Objects with tied scores are always on the same side of any threshold,
    so each group of tied scores forms a single step of the curve (a
    diagonal segment when the group mixes both classes).  The curve is
    non-decreasing in both coordinates.

    Examples
    --------
    >>> fpr, tpr, thr = roc_curve([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8])
    >>> fpr.tolist(), tpr.tolist()
    ([0.0, 0.0, 0.5, 0.5, 1.0], [0.0, 0.5, 0.5, 1.0, 1.0])
    """
    y, s = _check_binary(y_true, score)
    order = np.argsort(-s, kind="stable")
    s_sorted = s[order]
    y_sorted = y[order]
    # Index of the last element of each group of tied scores.
    last_of_group = np.flatnonzero(np.diff(s_sorted) != 0)
    last_of_group = np.append(last_of_group, s_sorted.size - 1)
    tps = np.cumsum(y_sorted)[last_of_group]
    fps = (last_of_group + 1) - tps
    n_pos = tps[-1]
    n_neg = fps[-1]
    fpr = np.concatenate([[0.0], fps / n_neg])
    tpr = np.concatenate([[0.0], tps / n_pos])
    thresholds = np.concatenate([[np.inf], s_sorted[last_of_group]])
    return fpr, tpr, thresholds


def auroc(y_true: ArrayLike, score: ArrayLike) -> float:
    """Area under the ROC curve.

    Parameters
    ----------
    y_true : array_like, shape (n,)
        True classes: booleans, or numbers equal to 0 or 1.
    score : array_like, shape (n,)
        Finite scores; larger means more likely positive.

    Returns
    -------
    float
        The area, in [0, 1]: 1 for perfect separation, 0 for perfectly
        reversed scores, 0.5 for all scores tied.

    Raises
    ------
    ValueError
        If only one class is present (and for the input errors listed in
        :func:`roc_curve`).

    Notes
    -----
    Computed with the trapezoidal rule on :func:`roc_curve`.  Because tied
    scores form diagonal steps, this equals the Mann-Whitney statistic
    ``U / (n_pos * n_neg)``: the probability that a random positive scores
    higher than a random negative, with ties counted as 1/2.
    """
    fpr, tpr, _ = roc_curve(y_true, score)
    area = np.sum(np.diff(fpr) * (tpr[1:] + tpr[:-1]) / 2.0)
    return float(min(max(area, 0.0), 1.0))


def tpr_at_false_positives(y_true: ArrayLike, score: ArrayLike, n_fp: int) -> float:
    """True-positive rate reached before a given number of false positives.

    This is the TPR0 / TPR10 figure of merit of the Strong Lens Finding
    Challenge (Metcalf et al. 2019): "TPR0 is the highest TPR reached, as a
    function of threshold, before a single false positive occurs; TPR10 is
    the highest TPR reached before ten false positives".

    Parameters
    ----------
    y_true : array_like, shape (n,)
        True classes: booleans, or numbers equal to 0 (negative, e.g.
        non-lens) or 1 (positive, e.g. lens).
    score : array_like, shape (n,)
        Finite scores; larger means more likely positive.
    n_fp : int
        Number of false positives, ``>= 0``; use 0 for TPR0 and 10 for TPR10.

    Returns
    -------
    float
        The largest TPR over all thresholds ``t`` (predict positive when
        ``score >= t``) whose false-positive count ``FP(t)`` satisfies

        * ``FP(t) == 0`` when ``n_fp == 0``;
        * ``FP(t) < n_fp`` when ``n_fp >= 1``.

    Raises
    ------
    TypeError
        If ``n_fp`` is not an integer (``bool`` is refused too).
    ValueError
        If ``n_fp`` is negative, or only one class is present (and for the
        input errors listed in :func:`roc_curve`).

    Notes
    -----
    Equivalently, with the negative scores sorted in decreasing order
    ``s_1 >= s_2 >= ...``, and ``k = max(n_fp, 1)``, the result is the
    fraction of positives whose score is *strictly greater* than ``s_k``
    (the k-th highest negative score), or 1.0 when there are fewer than
    ``k`` negatives.  So TPR0 is the fraction of positives scored above the
    highest-scored negative, TPR10 the fraction scored above the 10th
    highest-scored negative, and ``n_fp=0`` and ``n_fp=1`` give the same
    value.

    Ties are handled conservatively: a threshold cannot separate tied
    scores, so a positive whose score equals that of the k-th highest
    negative does not count.

    Examples
    --------
    >>> y = [1, 1, 0, 1, 0, 1]
    >>> s = [0.9, 0.8, 0.7, 0.6, 0.5, 0.4]
    >>> tpr_at_false_positives(y, s, 0)
    0.5
    >>> tpr_at_false_positives(y, s, 2)
    0.75
    """
    if isinstance(n_fp, bool) or not isinstance(n_fp, Integral):
        raise TypeError(f"n_fp must be a non-negative integer, got {n_fp!r}")
    n_fp = int(n_fp)
    if n_fp < 0:
        raise ValueError(f"n_fp must be a non-negative integer, got {n_fp}")
    y, s = _check_binary(y_true, score)
    k = max(n_fp, 1)
    neg_desc = np.sort(s[~y])[::-1]
    pos = s[y]
    if neg_desc.size < k:
        return 1.0
    cut = neg_desc[k - 1]
    return float(np.count_nonzero(pos > cut) / pos.size)


def _safe_div(num: float, den: float) -> float:
    """Return ``num / den`` as a float, or NaN when ``den`` is zero."""
    return float(num) / float(den) if den != 0 else float("nan")


def binary_report(y_true: ArrayLike, score: ArrayLike, threshold: float = 0.5) -> dict[str, Any]:
    """Summary metrics of a binary classifier, ready to be saved as JSON.

    Parameters
    ----------
    y_true, score : array_like, shape (n,)
        True classes and finite scores, as in :func:`roc_curve`.
    threshold : float, optional
        Decision threshold for the confusion-matrix metrics: an object is
        predicted positive when ``score >= threshold``.  Default 0.5.

    Returns
    -------
    dict
        Plain Python ``int`` / ``float`` values, in this key order:

        ``n``, ``n_pos``, ``n_neg`` : int
            Number of objects, positives and negatives.
        ``auroc`` : float
            Area under the ROC curve (:func:`auroc`).
        ``tpr0``, ``tpr10`` : float
            :func:`tpr_at_false_positives` with ``n_fp`` 0 and 10.
        ``threshold`` : float
            The decision threshold used below.
        ``precision`` : float
            ``tp / (tp + fp)``; NaN when nothing is predicted positive.
        ``recall`` : float
            ``tp / n_pos`` (the true-positive rate at ``threshold``).
        ``fpr`` : float
            ``fp / n_neg``.
        ``accuracy`` : float
            ``(tp + tn) / n``.
        ``f1`` : float
            ``2 tp / (2 tp + fp + fn)`` (harmonic mean of precision and
            recall; 0 when ``tp == 0``).
        ``tp``, ``fp``, ``tn``, ``fn`` : int
            Confusion-matrix counts at ``threshold``.

    Raises
    ------
    ValueError
        If only one class is present, ``threshold`` is NaN, or for the
        input errors listed in :func:`roc_curve`.

    Notes
    -----
    The result may contain NaN (``precision``), which strict JSON cannot
    represent; pass it through :func:`astrocnn.io.jsonsafe.json_safe` before
    ``json.dump(..., allow_nan=False)``.
    """
    threshold = float(threshold)
    if math.isnan(threshold):
        raise ValueError("threshold must not be NaN")
    y, s = _check_binary(y_true, score)
    pred = s >= threshold
    tp = int(np.count_nonzero(pred & y))
    fp = int(np.count_nonzero(pred & ~y))
    fn = int(np.count_nonzero(~pred & y))
    tn = int(np.count_nonzero(~pred & ~y))
    n = int(y.size)
    n_pos = tp + fn
    n_neg = fp + tn
    return {
        "n": n,
        "n_pos": n_pos,
        "n_neg": n_neg,
        "auroc": auroc(y, s),
        "tpr0": tpr_at_false_positives(y, s, 0),
        "tpr10": tpr_at_false_positives(y, s, 10),
        "threshold": threshold,
        "precision": _safe_div(tp, tp + fp),
        "recall": _safe_div(tp, n_pos),
        "fpr": _safe_div(fp, n_neg),
        "accuracy": _safe_div(tp + tn, n),
        "f1": _safe_div(2 * tp, 2 * tp + fp + fn),
        "tp": tp,
        "fp": fp,
        "tn": tn,
        "fn": fn,
    }


#: False-positive rates at which classifier bundles store their decision thresholds.
OPERATING_FPRS = (0.01, 0.1)


def operating_points(
    y_true: ArrayLike, score: ArrayLike, fprs=OPERATING_FPRS
) -> list[dict[str, float]]:
    """Decision thresholds at fixed false-positive rates, and the completeness there.

    Parameters
    ----------
    y_true, score : array_like, shape (n,)
        True classes and finite scores, as in :func:`roc_curve` (both
        classes present).
    fprs : sequence of float
        Target false-positive rates in (0, 1).

    Returns
    -------
    list of dict
        One per target: ``fpr_target``; ``threshold`` (predict positive when
        ``score >= threshold``), the lowest threshold at which at most
        ``floor(fpr_target * n_neg)`` negatives are scored positive;
        ``fpr`` and ``completeness`` (the recall) measured at it; ``n_neg``,
        the negatives it rests on (a target below ``1 / n_neg`` is met only
        by scoring no negative positive).
    """
    y, s = _check_binary(y_true, score)
    neg_desc = np.sort(s[~y])[::-1]
    points = []
    for target in fprs:
        target = float(target)
        if not 0 < target < 1:
            raise ValueError(f"false-positive rates must lie in (0, 1), got {target}")
        k = int(math.floor(target * neg_desc.size + 1e-9))
        # just above the (k+1)-th highest negative score: at most k negatives pass
        threshold = float(np.nextafter(neg_desc[k], np.inf)) if k < neg_desc.size else -np.inf
        points.append(
            {
                "fpr_target": target,
                "threshold": threshold,
                "fpr": float(np.mean(neg_desc >= threshold)),
                "completeness": float(np.mean(s[y] >= threshold)),
                "n_neg": int(neg_desc.size),
            }
        )
    return points


def one_class_report(y_true: ArrayLike, score: ArrayLike, thresholds: dict) -> dict[str, Any]:
    """What a catalogue of one class can tell: recall (positives) or false-positive
    rate (negatives) at each decision threshold.

    Parameters
    ----------
    y_true, score : array_like, shape (n,)
        True classes (all equal) and finite scores.
    thresholds : dict
        ``{name: threshold}``, e.g. ``{"0.5": 0.5, "fpr_0.01": 0.93}``.

    Returns
    -------
    dict
        ``n``, ``n_pos``, ``n_neg``, ``class`` (``"positives"`` or
        ``"negatives"``) and, per threshold, ``recall_at_<name>`` or
        ``fpr_at_<name>`` (the fraction scored positive).
    """
    y, s = _check_binary(y_true, score, require_both=False)
    if y.size == 0:
        raise ValueError("no objects to evaluate")
    positives = bool(y[0])
    if np.any(y != y[0]):
        raise ValueError("one_class_report needs a catalogue of one class")
    prefix = "recall_at_" if positives else "fpr_at_"
    report = {
        "n": int(y.size),
        "n_pos": int(y.size) if positives else 0,
        "n_neg": 0 if positives else int(y.size),
        "class": "positives" if positives else "negatives",
    }
    for name, threshold in thresholds.items():
        report[prefix + name] = float(np.mean(s >= float(threshold)))
    return report


# --------------------------------------------------------------- multi-class


def _check_count(value: Any, name: str) -> int:
    """Validate a positive integer argument such as ``n_classes``.

    Raises
    ------
    TypeError
        If ``value`` is not an integer (``bool`` is refused too).
    ValueError
        If ``value < 1``.
    """
    if isinstance(value, bool) or not isinstance(value, Integral):
        raise TypeError(f"{name} must be a positive integer, got {value!r}")
    value = int(value)
    if value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value}")
    return value


def _check_labels(labels: ArrayLike, n_classes: int, name: str) -> np.ndarray:
    """Validate integer class labels ``0 .. n_classes-1``.

    Parameters
    ----------
    labels : array_like, shape (n,)
        Class labels: integers, integer-valued floats or booleans.
    n_classes : int
        Number of classes ``k``.
    name : str
        Name of the argument, for error messages.

    Returns
    -------
    numpy.ndarray of int64, shape (n,)

    Raises
    ------
    ValueError
        If ``labels`` is not 1-D, not numeric, not integer-valued, or has a
        label outside ``0 .. n_classes-1``.
    """
    arr = np.asarray(labels)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be 1-D, got shape {arr.shape}")
    if arr.dtype != bool and (not np.issubdtype(arr.dtype, np.number) or np.iscomplexobj(arr)):
        raise ValueError(f"{name} must hold integer class labels, got dtype {arr.dtype}")
    if np.issubdtype(arr.dtype, np.floating):
        with np.errstate(invalid="ignore"):
            bad = ~np.isfinite(arr) | (arr != np.round(arr))
        if np.any(bad):
            raise ValueError(
                f"{name} must hold integer class labels; "
                f"found e.g. {np.unique(arr[bad])[:5].tolist()}"
            )
    outside = (arr < 0) | (arr >= n_classes)
    if np.any(outside):
        raise ValueError(
            f"{name} must hold labels 0 .. {n_classes - 1} ({n_classes} classes); "
            f"found e.g. {np.unique(arr[outside])[:5].tolist()}"
        )
    return arr.astype(np.int64)


def _check_multiclass(
    y_true: ArrayLike, proba: ArrayLike, n_classes: int | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Validate and convert multi-class labels and probabilities.

    Parameters
    ----------
    y_true : array_like, shape (n,)
        True class labels ``0 .. k-1``.
    proba : array_like, shape (n, k)
        Class probabilities, each in [0, 1], rows summing to 1 within
        :data:`PROBA_SUM_TOL`.
    n_classes : int, optional
        Expected number of classes ``k``; by default the number of columns
        of ``proba``.

    Returns
    -------
    y : numpy.ndarray of int64, shape (n,)
        The labels.
    p : numpy.ndarray of float64, shape (n, k)
        The probabilities, clipped to [0, 1].

    Raises
    ------
    ValueError
        If ``proba`` is not 2-D with ``n_classes`` columns, is not finite,
        has a value outside [0, 1] or a row not summing to 1; if ``y_true``
        and ``proba`` differ in length or there is no object; or if a label
        is invalid (see :func:`_check_labels`).
    """
    p_arr = np.asarray(proba)
    if p_arr.ndim != 2:
        raise ValueError(f"proba must be 2-D, shape (n, k), got shape {p_arr.shape}")
    k = p_arr.shape[1]
    if n_classes is not None and k != n_classes:
        raise ValueError(f"proba has {k} column(s) but there are {n_classes} class(es)")
    if k < 1:
        raise ValueError("proba must have at least one column (class)")
    if not (np.issubdtype(p_arr.dtype, np.number) or p_arr.dtype == bool) or np.iscomplexobj(p_arr):
        raise ValueError(f"proba must be real numbers, got dtype {p_arr.dtype}")
    y = _check_labels(y_true, k, "y_true")
    if y.shape[0] != p_arr.shape[0]:
        raise ValueError(
            f"y_true and proba differ in length: {y.shape[0]} != {p_arr.shape[0]} rows"
        )
    if y.size == 0:
        raise ValueError("y_true and proba are empty: at least one object is needed")
    p = p_arr.astype(np.float64)
    if not np.all(np.isfinite(p)):
        n_bad = int(np.count_nonzero(~np.isfinite(p)))
        raise ValueError(f"proba contains {n_bad} non-finite value(s) (NaN or inf)")
    outside = (p < -PROBA_SUM_TOL) | (p > 1.0 + PROBA_SUM_TOL)
    if np.any(outside):
        raise ValueError(
            f"proba must lie in [0, 1]; found e.g. {np.unique(p[outside])[:5].tolist()}"
        )
    sums = p.sum(axis=1)
    off = np.flatnonzero(np.abs(sums - 1.0) > PROBA_SUM_TOL)
    if off.size:
        raise ValueError(
            f"each row of proba must sum to 1 (within {PROBA_SUM_TOL:g}); "
            f"{off.size} row(s) do not, e.g. row {off[0]} sums to {sums[off[0]]:.6g}"
        )
    return y, np.clip(p, 0.0, 1.0)


def confusion_matrix(y_true: ArrayLike, y_pred: ArrayLike, n_classes: int) -> np.ndarray:
    """Confusion matrix of a multi-class classifier.

    Parameters
    ----------
    y_true : array_like, shape (n,)
        True class labels ``0 .. n_classes-1``.
    y_pred : array_like, shape (n,)
        Predicted class labels ``0 .. n_classes-1`` (e.g.
        ``proba.argmax(axis=1)``).
    n_classes : int
        Number of classes ``k``, ``>= 1``.

    Returns
    -------
    numpy.ndarray of int64, shape (k, k)
        ``cm[i, j]`` is the number of objects of true class ``i`` predicted
        as class ``j``: rows are true classes, columns predicted classes.
        Row sums are the class supports; the trace is the number of correct
        predictions.  ``n = 0`` gives a matrix of zeros.

    Raises
    ------
    TypeError
        If ``n_classes`` is not an integer (``bool`` is refused too).
    ValueError
        If ``n_classes < 1``, the inputs are not 1-D or differ in length, or
        a label is not an integer in ``0 .. n_classes-1``.

    Examples
    --------
    >>> confusion_matrix([0, 0, 1, 2], [0, 1, 1, 1], 3).tolist()
    [[1, 1, 0], [0, 1, 0], [0, 1, 0]]
    """
    k = _check_count(n_classes, "n_classes")
    y = _check_labels(y_true, k, "y_true")
    p = _check_labels(y_pred, k, "y_pred")
    if y.shape != p.shape:
        raise ValueError(f"y_true and y_pred differ in length: {y.shape[0]} != {p.shape[0]}")
    counts = np.bincount(y * k + p, minlength=k * k)
    return counts.reshape(k, k).astype(np.int64)


def _calibration(y: np.ndarray, p: np.ndarray, n_bins: int) -> dict[str, Any]:
    """:func:`calibration` on labels and probabilities already validated."""
    confidence = p.max(axis=1)
    correct = (p.argmax(axis=1) == y).astype(np.float64)
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    # Right-closed bins (edges[b], edges[b + 1]]; a confidence of 0 goes to bin 0.
    idx = np.clip(np.searchsorted(edges, confidence, side="left") - 1, 0, n_bins - 1)
    count = np.bincount(idx, minlength=n_bins)
    filled = count > 0
    mean_conf = np.full(n_bins, np.nan)
    mean_acc = np.full(n_bins, np.nan)
    mean_conf[filled] = (
        np.bincount(idx, weights=confidence, minlength=n_bins)[filled] / count[filled]
    )
    mean_acc[filled] = np.bincount(idx, weights=correct, minlength=n_bins)[filled] / count[filled]
    gap = np.abs(mean_acc[filled] - mean_conf[filled])
    return {
        "ece": float(np.sum(count[filled] * gap) / y.size),
        "mce": float(gap.max()),
        "bin_edges": [float(e) for e in edges],
        "bin_confidence": [float(v) for v in mean_conf],
        "bin_accuracy": [float(v) for v in mean_acc],
        "bin_count": [int(c) for c in count],
    }


def calibration(y_true: ArrayLike, proba: ArrayLike, n_bins: int = 15) -> dict[str, Any]:
    """Calibration of the top-label confidence of a multi-class classifier.

    A classifier is calibrated when, among the objects predicted with
    confidence ``c``, a fraction ``c`` is classified correctly.  This bins
    the objects by confidence and compares, in each bin, the mean confidence
    with the accuracy (Naeini et al. 2015, AAAI; Guo et al. 2017, ICML).

    Parameters
    ----------
    y_true : array_like, shape (n,)
        True class labels ``0 .. k-1``.
    proba : array_like, shape (n, k)
        Class probabilities, rows summing to 1.  The confidence of an object
        is its largest probability; it is correct when that column (the
        first one on ties) is its true class.
    n_bins : int, optional
        Number of confidence bins of equal width on [0, 1] (default 15, as
        in Guo et al. 2017).

    Returns
    -------
    dict
        Plain Python ``int`` / ``float`` values and lists, in this key
        order:

        ``ece`` : float
            Expected calibration error,
            ``sum_b (n_b / n) |accuracy_b - confidence_b|`` over the bins
            (0 for a perfectly calibrated classifier, at most 1).
        ``mce`` : float
            Maximum calibration error, ``max_b |accuracy_b - confidence_b|``
            over the non-empty bins.
        ``bin_edges`` : list of float, length ``n_bins + 1``
            ``0, 1/n_bins, ..., 1``.  Bin ``b`` holds the confidences in
            ``(bin_edges[b], bin_edges[b + 1]]`` (a confidence of exactly 0,
            impossible for probabilities summing to 1, would go to bin 0).
        ``bin_confidence`` : list of float, length ``n_bins``
            Mean confidence of the objects in each bin; NaN for an empty bin.
        ``bin_accuracy`` : list of float, length ``n_bins``
            Fraction of the objects in each bin that are correctly
            classified; NaN for an empty bin.
        ``bin_count`` : list of int, length ``n_bins``
            Number of objects in each bin (0 for an empty bin).

    Raises
    ------
    TypeError
        If ``n_bins`` is not an integer (``bool`` is refused too).
    ValueError
        If ``n_bins < 1``; if ``proba`` is not 2-D, not finite, outside
        [0, 1] or has a row that does not sum to 1 (within
        :data:`PROBA_SUM_TOL`); if ``y_true`` is not 1-D, differs in length
        from ``proba``, is empty, or has a label outside ``0 .. k-1``.

    Notes
    -----
    Empty bins have NaN means, which strict JSON cannot represent; pass the
    result through :func:`astrocnn.io.jsonsafe.json_safe` (NaN becomes
    ``None``) before ``json.dump(..., allow_nan=False)``.  Empty bins do not
    contribute to ``ece`` or ``mce``.

    The top-label confidence of ``k`` classes is at least ``1/k``, so with
    few classes the low bins are always empty.

    Examples
    --------
    >>> proba = [[0.9, 0.1], [0.3, 0.7], [0.7, 0.3], [0.45, 0.55]]
    >>> r = calibration([0, 1, 1, 1], proba, n_bins=5)
    >>> r["bin_count"]
    [0, 0, 1, 2, 1]
    >>> r["bin_accuracy"][2:]
    [1.0, 0.5, 1.0]
    >>> round(r["ece"], 6)  # (|1 - 0.55| + 2 |0.5 - 0.7| + |1 - 0.9|) / 4
    0.2375
    """
    n_bins = _check_count(n_bins, "n_bins")
    y, p = _check_multiclass(y_true, proba)
    return _calibration(y, p, n_bins)


def multiclass_report(
    y_true: ArrayLike,
    proba: ArrayLike,
    class_names: Sequence[str],
    *,
    n_bins: int = 15,
) -> dict[str, Any]:
    """Summary metrics of a multi-class classifier, ready to be saved as JSON.

    Parameters
    ----------
    y_true : array_like, shape (n,)
        True class labels ``0 .. k-1`` (``n >= 1``).
    proba : array_like, shape (n, k)
        Class probabilities (e.g. softmax outputs), each in [0, 1], rows
        summing to 1 within :data:`PROBA_SUM_TOL`.  The predicted class is
        the column of the largest probability (the first one on ties).
    class_names : sequence of str
        The ``k`` class names, in column order, e.g. ``("elliptical",
        "spiral", "edge-on", "merger")``; they must be distinct.
    n_bins : int, optional
        Number of confidence bins for the calibration metrics (default 15;
        see :func:`calibration`).

    Returns
    -------
    dict
        Plain Python ``int`` / ``float`` / ``str`` values, lists and dicts,
        in this key order:

        ``n`` : int
            Number of objects.
        ``accuracy`` : float
            Fraction of objects whose predicted class is the true class.
        ``balanced_accuracy`` : float
            Mean of the per-class recalls over the classes present in
            ``y_true`` (classes with no support are left out).
        ``macro_f1`` : float
            Mean of the per-class F1 scores over the classes present in
            ``y_true`` or predicted at least once (a class predicted but
            absent from ``y_true`` counts with F1 = 0; a class neither true
            nor predicted is left out).
        ``log_loss`` : float
            Mean negative log-likelihood of the true classes,
            ``-mean(log(p_true))`` (natural log), with ``p_true`` clipped to
            ``[LOG_LOSS_EPS, 1]`` (:data:`LOG_LOSS_EPS` = 1e-7).
        ``ece``, ``mce`` : float
            Expected and maximum calibration errors of the top-label
            confidence (:func:`calibration`).
        ``class_names`` : list of str
            The class names, in column order.
        ``per_class`` : dict
            ``{name: {"precision", "recall", "f1", "support"}}`` for every
            class, in column order: ``precision = tp / n_predicted`` (NaN
            when the class is never predicted), ``recall = tp / support``
            (NaN when the class is absent from ``y_true``),
            ``f1 = 2 tp / (support + n_predicted)`` (0 when ``tp == 0``,
            NaN when the class is neither true nor predicted), and
            ``support`` (int) the number of objects of that true class.
        ``confusion_matrix`` : list of list of int
            :func:`confusion_matrix` of the true and predicted classes,
            rows = true class, columns = predicted class.
        ``reliability`` : dict
            The per-bin lists of :func:`calibration`: ``bin_edges``,
            ``bin_confidence``, ``bin_accuracy`` (NaN for empty bins) and
            ``bin_count``, for :func:`astrocnn.tasks.classification.plots.plot_reliability`.

    Raises
    ------
    TypeError
        If ``n_bins`` is not an integer.
    ValueError
        If ``class_names`` is a single string, is empty or holds duplicate
        names, ``proba`` does not have one column per class, and for the
        input errors listed in :func:`calibration`.

    Notes
    -----
    The result may contain NaN (precision of a class never predicted,
    recall of a class absent from ``y_true``, means of empty calibration
    bins), which strict JSON cannot represent; pass it through
    :func:`astrocnn.io.jsonsafe.json_safe` before
    ``json.dump(..., allow_nan=False)``.

    ``balanced_accuracy`` and ``macro_f1`` follow the defaults of
    scikit-learn's ``balanced_accuracy_score`` and ``f1_score(...,
    average="macro")``.
    """
    if isinstance(class_names, str):
        raise ValueError(f"class_names must be a sequence of names, got the string {class_names!r}")
    names = [str(c) for c in class_names]
    if not names:
        raise ValueError("class_names must hold at least one name")
    if len(set(names)) != len(names):
        dupes = sorted({c for c in names if names.count(c) > 1})
        raise ValueError(f"class_names must be distinct; repeated: {dupes}")
    n_bins = _check_count(n_bins, "n_bins")
    y, p = _check_multiclass(y_true, proba, n_classes=len(names))
    k = len(names)
    n = int(y.size)
    cm = confusion_matrix(y, p.argmax(axis=1), k)
    tp = np.diag(cm)
    support = cm.sum(axis=1)
    predicted = cm.sum(axis=0)

    per_class: dict[str, dict[str, Any]] = {}
    recalls: list[float] = []
    f1s: list[float] = []
    for c, name in enumerate(names):
        recall = _safe_div(tp[c], support[c])
        f1 = _safe_div(2 * tp[c], support[c] + predicted[c])
        per_class[name] = {
            "precision": _safe_div(tp[c], predicted[c]),
            "recall": recall,
            "f1": f1,
            "support": int(support[c]),
        }
        if support[c] > 0:
            recalls.append(recall)
        if support[c] + predicted[c] > 0:
            f1s.append(f1)

    p_true = np.clip(p[np.arange(n), y], LOG_LOSS_EPS, 1.0)
    cal = _calibration(y, p, n_bins)
    return {
        "n": n,
        "accuracy": _safe_div(int(tp.sum()), n),
        "balanced_accuracy": float(math.fsum(recalls) / len(recalls)),
        "macro_f1": float(math.fsum(f1s) / len(f1s)),
        "log_loss": float(-np.mean(np.log(p_true))),
        "ece": cal["ece"],
        "mce": cal["mce"],
        "class_names": names,
        "per_class": per_class,
        "confusion_matrix": cm.tolist(),
        "reliability": {
            key: cal[key] for key in ("bin_edges", "bin_confidence", "bin_accuracy", "bin_count")
        },
    }


def fraction_report(truth: ArrayLike, predicted: ArrayLike, names) -> dict[str, Any]:
    """Scores of vote-fraction regression (Galaxy Zoo, Dieleman et al. 2015).

    Parameters
    ----------
    truth, predicted : array_like, shape (n, k)
        True and predicted fractions, one column per answer.
    names : sequence of str
        The ``k`` column names.

    Returns
    -------
    dict
        ``n``, ``rmse`` (over all n*k values, the Galaxy Zoo challenge
        score), ``rmse_per_column``, ``mae`` and ``argmax_accuracy`` (the
        answer with the largest fraction is the same).
    """
    t = np.asarray(truth, dtype=np.float64)
    p = np.asarray(predicted, dtype=np.float64)
    if t.shape != p.shape or t.ndim != 2 or t.shape[1] != len(names) or t.shape[0] == 0:
        raise ValueError(
            f"truth {t.shape} and predicted {p.shape} must both be (n, {len(names)}) with n > 0"
        )
    err = p - t
    return {
        "n": int(t.shape[0]),
        "rmse": float(np.sqrt(np.mean(err**2))),
        "rmse_per_column": {str(n): float(v) for n, v in zip(names, np.sqrt(np.mean(err**2, 0)))},
        "mae": float(np.mean(np.abs(err))),
        "argmax_accuracy": float(np.mean(np.argmax(p, 1) == np.argmax(t, 1))),
    }
