"""Diagnostic plots: ROC curves, histograms, confusion matrices, reliability, galleries.

Every function writes one PNG file and returns its path, following the
contract of :mod:`astrocnn.viz`: figures are built without
:mod:`matplotlib.pyplot` (matplotlib is imported only inside the functions,
so ``import astrocnn.tasks.classification.plots`` is cheap) and written
atomically; the target folder must already exist, otherwise
:class:`astrocnn.errors.OutputError` is raised.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
from numpy.typing import ArrayLike

from astrocnn import viz
from astrocnn.tasks.classification.metrics import (
    _check_binary,
    auroc,
    roc_curve,
    tpr_at_false_positives,
)
from astrocnn.viz import plot_gallery  # noqa: F401  (re-exported: the galleries of both tasks)

__all__ = [
    "plot_confusion_matrix",
    "plot_gallery",
    "plot_reliability",
    "plot_roc",
    "plot_score_histograms",
]


def plot_roc(
    y_true: ArrayLike,
    score: ArrayLike,
    path: str | os.PathLike[str],
    *,
    title: str | None = None,
    label: str | None = None,
) -> Path:
    """Plot the ROC curve of a binary classifier and save it as PNG.

    Two panels: the ROC curve on linear axes with the chance diagonal, and
    the same curve with a logarithmic false-positive-rate axis, which shows
    the low-FPR regime that matters for rare objects such as strong lenses.
    The legend gives the AUROC, TPR0 and TPR10
    (:func:`astrocnn.tasks.classification.metrics.tpr_at_false_positives`).

    Parameters
    ----------
    y_true : array_like, shape (n,)
        True classes: booleans, or 0 (negative) / 1 (positive).
    score : array_like, shape (n,)
        Finite scores; larger means more likely positive.
    path : str or os.PathLike
        Output PNG file (its folder must exist).
    title : str, optional
        Figure title.
    label : str, optional
        Name of the classifier, shown in the legend.

    Returns
    -------
    pathlib.Path
        ``path``.

    Raises
    ------
    ValueError
        If only one class is present or the inputs are invalid (see
        :func:`astrocnn.tasks.classification.metrics.roc_curve`).
    astrocnn.errors.OutputError
        If the folder of ``path`` does not exist or the file cannot be
        written.
    """
    y, s = _check_binary(y_true, score)
    fpr, tpr, _ = roc_curve(y, s)
    area = auroc(y, s)
    tpr0 = tpr_at_false_positives(y, s, 0)
    tpr10 = tpr_at_false_positives(y, s, 10)
    n_pos = int(np.count_nonzero(y))
    n_neg = int(y.size - n_pos)

    legend = f"AUROC = {area:.4f}\nTPR0 = {tpr0:.3f}, TPR10 = {tpr10:.3f}"
    if label:
        legend = f"{label}\n{legend}"

    fig = viz.new_figure(10.0, 4.6)
    ax_lin, ax_log = fig.subplots(1, 2)

    ax_lin.plot([0, 1], [0, 1], color="0.6", lw=1, ls="--", label="chance")
    ax_lin.plot(fpr, tpr, color="C0", lw=1.8, label=legend, drawstyle="default")
    ax_lin.set_xlim(-0.01, 1.01)
    ax_lin.set_ylim(-0.01, 1.01)
    ax_lin.set_aspect("equal")
    ax_lin.set_xlabel("false-positive rate")
    ax_lin.set_ylabel("true-positive rate")
    ax_lin.grid(alpha=0.3)
    ax_lin.legend(loc="lower right", fontsize=8)

    # Log-FPR panel: FPR = 0 cannot be drawn; start half a negative below the
    # smallest non-zero FPR, 1 / n_neg.
    fpr_min = 0.5 / n_neg
    fpr_plot = np.maximum(fpr, fpr_min)
    ax_log.plot(fpr_plot, tpr, color="C0", lw=1.8)
    diag = np.geomspace(fpr_min, 1.0, 100)
    ax_log.plot(diag, diag, color="0.6", lw=1, ls="--")
    ax_log.set_xscale("log")
    ax_log.set_xlim(fpr_min, 1.0)
    ax_log.set_ylim(-0.01, 1.01)
    ax_log.set_xlabel("false-positive rate (log)")
    ax_log.set_ylabel("true-positive rate")
    ax_log.grid(alpha=0.3, which="both")
    ax_log.set_title(f"n_pos = {n_pos}, n_neg = {n_neg}", fontsize=9)

    return viz.save_figure(fig, path, title=title)


def plot_score_histograms(
    y_true: ArrayLike,
    score: ArrayLike,
    path: str | os.PathLike[str],
    *,
    class_names: Sequence[str] = ("non-lens", "lens"),
    threshold: float | None = None,
) -> Path:
    """Plot histograms of the scores of each class and save them as PNG.

    Parameters
    ----------
    y_true : array_like, shape (n,)
        True classes: booleans, or 0 (negative) / 1 (positive).  A single
        class, or no object at all, is accepted.
    score : array_like, shape (n,)
        Finite scores.  If they all lie in [0, 1] the histogram spans
        [0, 1]; otherwise it spans the range of the scores.
    path : str or os.PathLike
        Output PNG file (its folder must exist).
    class_names : sequence of two str, optional
        Names of the negative and positive classes, in that order.
    threshold : float, optional
        If given, a vertical line marks this decision threshold.

    Returns
    -------
    pathlib.Path
        ``path``.

    Raises
    ------
    ValueError
        If ``class_names`` does not have two entries or the inputs are
        invalid (see :func:`astrocnn.tasks.classification.metrics.roc_curve`).
    astrocnn.errors.OutputError
        If the folder of ``path`` does not exist or the file cannot be
        written.

    Notes
    -----
    The y axis is logarithmic (counts per bin), so a handful of positives
    remains visible next to many negatives.
    """
    if isinstance(class_names, str) or len(class_names) != 2:
        raise ValueError(f"class_names must hold two names, got {class_names!r}")
    y, s = _check_binary(y_true, score, require_both=False)

    fig = viz.new_figure(6.4, 4.4)
    ax = fig.subplots()
    if s.size == 0:
        ax.text(0.5, 0.5, "no objects", ha="center", va="center", transform=ax.transAxes)
        ax.set_xticks([])
        ax.set_yticks([])
    else:
        lo, hi = float(s.min()), float(s.max())
        if lo >= 0.0 and hi <= 1.0:
            lo, hi = 0.0, 1.0
        elif lo == hi:
            lo, hi = lo - 0.5, hi + 0.5
        edges = np.linspace(lo, hi, 51)
        for cls, name, color in (
            (False, class_names[0], "C0"),
            (True, class_names[1], "C3"),
        ):
            values = s[y == cls]
            if values.size == 0:
                continue
            counts, _ = np.histogram(values, bins=edges)
            ax.stairs(counts, edges, fill=True, alpha=0.25, color=color)
            ax.stairs(counts, edges, color=color, lw=1.5, label=f"{name} (N = {values.size})")
        ax.set_yscale("log")
        ax.set_ylim(bottom=0.5)
        ax.set_xlim(lo, hi)
        if threshold is not None:
            ax.axvline(
                float(threshold),
                color="k",
                ls="--",
                lw=1,
                label=f"threshold = {threshold:g}",
            )
        ax.set_xlabel("score")
        ax.set_ylabel("number of objects per bin")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    return viz.save_figure(fig, path)


def plot_confusion_matrix(
    cm: ArrayLike,
    class_names: Sequence[str],
    path: str | os.PathLike[str],
    *,
    normalize: bool = True,
    title: str | None = None,
) -> Path:
    """Plot the confusion matrix of a multi-class classifier and save it as PNG.

    Parameters
    ----------
    cm : array_like, shape (k, k)
        Confusion matrix of counts, rows = true class, columns = predicted
        class, as from :func:`astrocnn.tasks.classification.metrics.confusion_matrix` or the
        ``"confusion_matrix"`` entry of
        :func:`astrocnn.tasks.classification.metrics.multiclass_report` (a list of lists).
    class_names : sequence of str
        The ``k`` class names, in row / column order.
    path : str or os.PathLike
        Output PNG file (its folder must exist).
    normalize : bool, optional
        If True (default) the colours show the row-normalised fractions (the
        fraction of each true class predicted as each class; the diagonal is
        the per-class recall), on a fixed 0 to 1 scale; if False they show
        the counts.
    title : str, optional
        Figure title, above the panel title (the number of objects and the
        accuracy).

    Returns
    -------
    pathlib.Path
        ``path``.

    Raises
    ------
    ValueError
        If ``cm`` is not a square matrix of finite, non-negative, integer
        counts with at least one class, or ``class_names`` does not hold
        ``k`` names.
    astrocnn.errors.OutputError
        If the folder of ``path`` does not exist or the file cannot be
        written.

    Notes
    -----
    Every cell is annotated with its count and, below it, its row fraction
    in per cent (whatever ``normalize``).  A true class with no objects has
    no fractions: its row is drawn in light grey (white with
    ``normalize=False``) with a dash instead of the fractions.  The y tick
    labels give each class's support ``N``, the panel title the total and
    the accuracy (trace / total).

    The figure is ``2.6 + 0.6 m`` inches wide and ``1.6 + 0.6 m`` inches
    high with ``m = max(k, 3)``, and the annotation font shrinks with ``k``:
    readable up to about 12 classes.
    """
    arr = np.asarray(cm)
    if arr.ndim != 2 or arr.shape[0] != arr.shape[1] or arr.shape[0] < 1:
        raise ValueError(f"cm must be a square (k, k) matrix with k >= 1, got shape {arr.shape}")
    if arr.dtype != bool and (not np.issubdtype(arr.dtype, np.number) or np.iscomplexobj(arr)):
        raise ValueError(f"cm must hold counts, got dtype {arr.dtype}")
    arr = arr.astype(np.float64)
    if not np.all(np.isfinite(arr)) or np.any(arr < 0) or np.any(arr != np.round(arr)):
        raise ValueError("cm must hold finite, non-negative integer counts")
    k = arr.shape[0]
    if isinstance(class_names, str) or len(class_names) != k:
        raise ValueError(
            f"class_names must hold {k} names (one per row of cm), got {class_names!r}"
        )
    names = [str(c) for c in class_names]
    counts = arr.astype(np.int64)
    support = counts.sum(axis=1)
    total = int(counts.sum())
    frac = np.full((k, k), np.nan)
    filled = support > 0
    frac[filled] = counts[filled] / support[filled, None]

    from matplotlib import colormaps
    from matplotlib.ticker import MaxNLocator

    cmap = colormaps["Blues"].with_extremes(bad="0.92")
    if normalize:
        shown, vmax, bar_label = frac, 1.0, "fraction of the true class"
    else:
        shown, vmax, bar_label = counts.astype(np.float64), max(float(counts.max()), 1.0), "count"

    m = max(k, 3)
    fig = viz.new_figure(2.6 + 0.6 * m, 1.6 + 0.6 * m)
    ax = fig.subplots()
    image = ax.imshow(
        np.ma.masked_invalid(shown),
        cmap=cmap,
        vmin=0.0,
        vmax=vmax,
        interpolation="nearest",
        # Not "equal", which can defeat the constrained layout (clipped labels);
        # the figure size keeps the cells about square.
        aspect="auto",
    )
    fontsize = 9 if k <= 5 else (8 if k <= 8 else 7)
    for i in range(k):
        for j in range(k):
            if math.isnan(frac[i, j]):
                text, color = f"{counts[i, j]}\n\N{EN DASH}", "0.35"
            else:
                text = f"{counts[i, j]}\n{100.0 * frac[i, j]:.1f}%"
                color = "white" if shown[i, j] / vmax > 0.55 else "black"
            ax.text(j, i, text, ha="center", va="center", fontsize=fontsize, color=color)
    ax.set_xticks(range(k), names)
    ax.set_yticks(range(k), [f"{name}  (N = {n})" for name, n in zip(names, support)])
    if k > 2 or max(len(name) for name in names) > 8:
        ax.tick_params(axis="x", labelrotation=40)
        for label in ax.get_xticklabels():
            label.set_horizontalalignment("right")
            label.set_rotation_mode("anchor")
    ax.set_xticks(np.arange(k + 1) - 0.5, minor=True)
    ax.set_yticks(np.arange(k + 1) - 0.5, minor=True)
    ax.grid(which="minor", color="white", lw=1.5)
    ax.tick_params(which="minor", length=0)
    ax.tick_params(which="major", length=0, labelsize=fontsize + 1)
    for spine in ax.spines.values():
        spine.set_visible(False)
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class")
    if total:
        accuracy = float(np.trace(counts)) / total
        ax.set_title(f"N = {total}, accuracy = {accuracy:.3f}", fontsize=9)
    else:
        ax.set_title("N = 0 (no objects)", fontsize=9)
    # Counts: integer ticks only.
    ticks = None if normalize else MaxNLocator(integer=True)
    colorbar = fig.colorbar(image, ax=ax, shrink=0.85, aspect=25, ticks=ticks)
    colorbar.set_label(bar_label)
    colorbar.outline.set_linewidth(0.5)
    return viz.save_figure(fig, path, title=title)


def _float_array(values: object, key: str) -> np.ndarray:
    """Convert a list of numbers (``None`` meaning NaN) to a 1-D float array."""
    try:
        arr = np.array(
            [np.nan if v is None else float(v) for v in values],
            dtype=np.float64,
        )
    except (TypeError, ValueError):
        raise ValueError(f"{key} must be a list of numbers, got {values!r}") from None
    return arr


def plot_reliability(
    report_or_calibration: Mapping[str, object],
    path: str | os.PathLike[str],
    *,
    title: str | None = None,
) -> Path:
    """Plot a reliability diagram of a multi-class classifier and save it as PNG.

    Upper panel: for each confidence bin, a bar up to the accuracy of the
    objects in the bin, the gap between that accuracy and their mean
    confidence shaded, the mean (confidence, accuracy) of the bin as a dot,
    and the diagonal of perfect calibration; the legend gives the expected
    and maximum calibration errors (ECE, MCE).  Lower panel: the number of
    objects in each bin, with the overall accuracy and mean confidence
    marked (Guo et al. 2017, ICML).

    Parameters
    ----------
    report_or_calibration : mapping
        Either the dict of :func:`astrocnn.tasks.classification.metrics.multiclass_report` (its
        ``"reliability"`` entry holds the bins) or that of
        :func:`astrocnn.tasks.classification.metrics.calibration`; possibly after
        :func:`astrocnn.io.jsonsafe.json_safe` and a JSON round trip (``None``
        is read as NaN).  Keys used: ``bin_confidence``, ``bin_accuracy``,
        ``bin_count`` and, if present, ``bin_edges`` (else ``n_bins`` equal
        bins on [0, 1]), ``ece`` and ``mce`` (else computed from the bins).
    path : str or os.PathLike
        Output PNG file (its folder must exist).
    title : str, optional
        Figure title, above the upper panel's title (the number of objects
        and of bins).

    Returns
    -------
    pathlib.Path
        ``path``.

    Raises
    ------
    ValueError
        If a bin list is missing, the lists differ in length, are empty, or
        hold something other than numbers (or None), or a count is negative.
    astrocnn.errors.OutputError
        If the folder of ``path`` does not exist or the file cannot be
        written.

    Notes
    -----
    Empty bins (count 0, NaN or None means) get no bar.  If every bin is
    empty the diagram shows only the diagonal and ECE "n/a".  The figure is
    5.0 by 6.2 inches.
    """
    if not isinstance(report_or_calibration, Mapping):
        raise ValueError(
            "report_or_calibration must be the dict of multiclass_report or calibration, "
            f"got {type(report_or_calibration).__name__}"
        )
    bins = report_or_calibration.get("reliability", report_or_calibration)
    if not isinstance(bins, Mapping):
        raise ValueError(f"'reliability' must be a dict of bin lists, got {bins!r}")
    missing = [key for key in ("bin_confidence", "bin_accuracy", "bin_count") if key not in bins]
    if missing:
        raise ValueError(f"report_or_calibration lacks the key(s) {missing}")
    conf = _float_array(bins["bin_confidence"], "bin_confidence")
    acc = _float_array(bins["bin_accuracy"], "bin_accuracy")
    count = _float_array(bins["bin_count"], "bin_count")
    n_bins = count.size
    if n_bins == 0 or conf.size != n_bins or acc.size != n_bins:
        raise ValueError(
            "bin_confidence, bin_accuracy and bin_count must be non-empty lists of one length, "
            f"got lengths {conf.size}, {acc.size}, {count.size}"
        )
    count = np.nan_to_num(count, nan=0.0)
    if np.any(count < 0):
        raise ValueError("bin_count must not be negative")
    if bins.get("bin_edges") is not None:
        edges = _float_array(bins["bin_edges"], "bin_edges")
        if edges.size != n_bins + 1:
            raise ValueError(f"bin_edges must hold {n_bins + 1} values, got {edges.size}")
    else:
        edges = np.linspace(0.0, 1.0, n_bins + 1)

    filled = (count > 0) & np.isfinite(conf) & np.isfinite(acc)
    n = float(count.sum())
    n_used = float(count[filled].sum())
    gap = np.abs(acc - conf)

    def _stat(key: str, fallback: float) -> float:
        value = report_or_calibration.get(key)
        return fallback if value is None else float(value)

    if n_used > 0:
        ece = _stat("ece", float(np.sum(count[filled] * gap[filled]) / n_used))
        mce = _stat("mce", float(gap[filled].max()))
        mean_conf = float(np.sum(count[filled] * conf[filled]) / n_used)
        mean_acc = float(np.sum(count[filled] * acc[filled]) / n_used)
    else:
        ece = mce = mean_conf = mean_acc = float("nan")

    def _fmt(value: float) -> str:
        return f"{value:.4f}" if math.isfinite(value) else "n/a"

    fig = viz.new_figure(5.0, 6.2)
    ax, ax_hist = fig.subplots(2, 1, sharex=True, height_ratios=[3, 1])
    lefts = edges[:-1]
    widths = np.diff(edges)
    ax.plot([0, 1], [0, 1], color="0.45", ls="--", lw=1, label="perfect calibration", zorder=3)
    # The accuracy bars and, stacked on them, the gap bars cover the same bins.
    bin_bars = {"x": lefts[filled], "width": widths[filled], "align": "edge", "lw": 0.6}
    ax.bar(
        height=acc[filled],
        color="C0",
        alpha=0.8,
        edgecolor="#1f3f66",
        label="accuracy",
        zorder=1,
        **bin_bars,
    )
    ax.bar(
        height=gap[filled],
        bottom=np.minimum(acc, conf)[filled],
        facecolor=(0.84, 0.15, 0.16, 0.25),
        edgecolor="C3",
        hatch="///",
        label="gap to mean confidence",
        zorder=2,
        **bin_bars,
    )
    ax.plot(
        conf[filled],
        acc[filled],
        "o",
        ms=3.5,
        color="k",
        label="bin (mean confidence, accuracy)",
        zorder=4,
        clip_on=False,
    )
    ax.set_xlim(0.0, 1.0)
    ax.set_ylim(0.0, 1.0)
    ax.set_ylabel("accuracy")
    ax.grid(alpha=0.3)
    ax.legend(
        loc="upper left",
        fontsize=8,
        title=f"ECE = {_fmt(ece)}, MCE = {_fmt(mce)}",
        title_fontsize=9,
    )
    ax.set_title(f"N = {int(n)}, {n_bins} bins", fontsize=9)

    ax_hist.bar(lefts, count, width=widths, align="edge", color="0.6", edgecolor="0.25", lw=0.6)
    if n_used > 0:
        ax_hist.axvline(mean_acc, color="C0", lw=1.5, label=f"accuracy = {mean_acc:.3f}")
        ax_hist.axvline(
            mean_conf, color="C3", lw=1.5, ls="--", label=f"mean confidence = {mean_conf:.3f}"
        )
        ax_hist.legend(loc="upper left", fontsize=7)
    else:
        ax_hist.text(0.5, 0.5, "no objects", ha="center", va="center", transform=ax_hist.transAxes)
    ax_hist.set_ylim(bottom=0.0)
    ax_hist.set_xlabel("confidence (largest class probability)")
    ax_hist.set_ylabel("objects per bin")
    ax_hist.grid(alpha=0.3)
    return viz.save_figure(fig, path, title=title)


def plot_predicted_vs_true(
    truth: ArrayLike,
    predicted: ArrayLike,
    names: Sequence[str],
    path: str | os.PathLike[str],
    *,
    title: str | None = None,
) -> Path:
    """Predicted against true value per output column (2-D histograms), as PNG.

    Parameters
    ----------
    truth, predicted : array_like, shape (n, k)
        True and predicted values (e.g. vote fractions), one column per name.
    names : sequence of str
        Column names, used as panel titles.
    path : str or os.PathLike
        Output PNG file.
    title : str, optional
        Figure title, above the panels (each titled with its column name
        and RMSE).

    Returns
    -------
    pathlib.Path
        ``path``.
    """
    t = np.asarray(truth, dtype=float)
    p = np.asarray(predicted, dtype=float)
    k = len(names)
    ncols = min(k, 4)
    nrows = math.ceil(k / ncols)
    fig = viz.new_figure(3.2 * ncols, 3.2 * nrows)
    axes = np.atleast_1d(fig.subplots(nrows, ncols, squeeze=False)).ravel()
    lo = float(min(t.min(), p.min(), 0.0))
    hi = float(max(t.max(), p.max(), 1.0))
    for i, ax in enumerate(axes):
        if i >= k:
            ax.set_axis_off()
            continue
        ax.hist2d(t[:, i], p[:, i], bins=40, range=[[lo, hi], [lo, hi]], cmap="Blues", cmin=1)
        ax.plot([lo, hi], [lo, hi], "k--", lw=0.8)
        rmse = float(np.sqrt(np.mean((p[:, i] - t[:, i]) ** 2)))
        ax.set_title(f"{names[i]}  RMSE {rmse:.3f}", fontsize=9)
        ax.set_xlabel("true")
        ax.set_ylabel("predicted")
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return viz.save_figure(fig, path)
