"""Evaluation metrics for classifiers of astronomical images.

Pure functions on NumPy arrays (no machine-learning framework needed), reused
by every science task.  The functions here cover *binary* classification,
e.g. strong-lens finding as scored in the Strong Lens Finding Challenge
(Metcalf et al. 2019, A&A 625, A119).

Conventions
-----------
* ``y_true`` holds the true classes: booleans, or numbers equal to 0
  (negative, e.g. non-lens) or 1 (positive, e.g. lens).
* ``score`` holds finite real numbers (probabilities, logits, ...); a larger
  score means "more likely positive".  NaN and infinite scores are rejected
  with a ``ValueError`` so that they cannot silently distort a metric.
* At a threshold ``t`` an object is *predicted positive* when
  ``score >= t``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from numbers import Integral
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

__all__ = [
    "auroc",
    "binary_report",
    "json_safe",
    "roc_curve",
    "tpr_at_false_positives",
]


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
    y_true : array_like, shape (n,)
        True classes: booleans, or numbers equal to 0 (negative) or 1
        (positive).
    score : array_like, shape (n,)
        Finite scores; larger means more likely positive.
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
    represent; pass it through :func:`json_safe` before ``json.dump(...,
    allow_nan=False)``.
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


def json_safe(obj: Any) -> Any:
    """Make a (nested) result strictly JSON-serialisable.

    Parameters
    ----------
    obj : object
        Typically a dict from :func:`binary_report`; may nest dicts, lists,
        tuples, NumPy scalars and NumPy arrays.

    Returns
    -------
    object
        A new object in which NaN and infinite floats are replaced by
        ``None``, NumPy scalars and arrays become Python numbers and lists,
        tuples become lists and mapping keys become strings.  Other objects
        (str, int, bool, None, ...) are returned unchanged.  The input is
        not modified.

    Examples
    --------
    >>> json_safe({"precision": float("nan"), "tp": 0, "x": [1.0, float("inf")]})
    {'precision': None, 'tp': 0, 'x': [1.0, None]}
    """
    if isinstance(obj, Mapping):
        return {str(k): json_safe(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [json_safe(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return json_safe(obj.tolist())
    if isinstance(obj, np.generic):
        return json_safe(obj.item())
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    return obj
