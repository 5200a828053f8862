"""Diagnostic plots of deblending: flux errors against blending, galleries.

As in Boucaud et al. (2020, MNRAS 491, 2481): the relative flux error of the
central galaxy against the separation to its neighbour and the magnitude
difference, for the network and the SExtractor-like baseline
(:mod:`astrocnn.tasks.deblend.baseline`), and a gallery of blends with the true and
predicted central galaxies and the residuals.

Every function writes one PNG file and returns its path, following the
contract of :mod:`astrocnn.viz` (no :mod:`matplotlib.pyplot`, atomic
writes); the target folder must exist, otherwise
:class:`astrocnn.errors.OutputError` is raised.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import ArrayLike

from astrocnn import viz

if TYPE_CHECKING:
    from matplotlib.axes import Axes

__all__ = ["plot_deblend_gallery", "plot_flux_error_vs_separation"]

#: Maximum number of objects (rows) in :func:`plot_deblend_gallery`.
MAX_GALLERY_ROWS = 8

#: Bins with fewer values than this are not drawn in the running statistics.
_MIN_PER_BIN = 5

#: Colours of the segmentation classes 0 (background), 1 (central), 2 (others), ...
_SEGMENTATION_COLOURS = (
    "#000000",
    "#ff7f0e",
    "#1f77b4",
    "#2ca02c",
    "#d62728",
    "#9467bd",
    "#8c564b",
    "#e377c2",
    "#7f7f7f",
    "#bcbd22",
)


def _errors_2d(rel_err: ArrayLike, n: int, name: str) -> np.ndarray:
    """(n, k) float64 relative errors (a 1-D input is one band)."""
    arr = np.asarray(rel_err, dtype=np.float64)
    if arr.ndim == 1:
        arr = arr[:, None]
    if arr.ndim != 2 or arr.shape[0] != n:
        raise ValueError(f"{name} must have shape ({n},) or ({n}, nband), got {arr.shape}")
    return arr


def _edges(x: np.ndarray, bins: ArrayLike | int | None) -> np.ndarray:
    """Bin edges: given, or ``bins`` (default 10) equal-count bins of the finite ``x``."""
    if bins is None or np.ndim(bins) == 0:
        n_bins = 10 if bins is None else int(bins)  # type: ignore[arg-type]
        if n_bins < 1:
            raise ValueError(f"the number of bins must be >= 1, got {n_bins}")
        edges = np.unique(np.quantile(x, np.linspace(0.0, 1.0, n_bins + 1)))
        if edges.size < 2:
            edges = np.array([edges[0] - 0.5, edges[0] + 0.5])
        edges[-1] = np.nextafter(edges[-1], np.inf)
        return edges
    edges = np.asarray(bins, dtype=np.float64)
    if edges.ndim != 1 or edges.size < 2 or np.any(np.diff(edges) <= 0):
        raise ValueError("bins must be increasing edges with at least two values")
    return edges


def _running_stats(
    x: np.ndarray, err: np.ndarray, edges: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per bin: x position, median |err|, median, 16th and 84th percentiles of err.

    ``x`` has one value per object, ``err`` shape (n, k); bins with fewer
    than :data:`_MIN_PER_BIN` finite errors are dropped.  The position is
    the median ``x`` of the bin's objects (robust to infinite edges).
    """
    rows = []
    for lo, hi in zip(edges[:-1], edges[1:]):
        sel = (x >= lo) & (x < hi)
        e = err[sel].ravel()
        e = e[np.isfinite(e)]
        if e.size < _MIN_PER_BIN:
            continue
        q50, q16, q84 = np.percentile(e, [50.0, 16.0, 84.0])
        rows.append((float(np.median(x[sel])), float(np.median(np.abs(e))), q50, q16, q84))
    if not rows:
        empty = np.zeros(0)
        return empty, empty, empty, empty, empty
    arr = np.asarray(rows)
    return arr[:, 0], arr[:, 1], arr[:, 2], arr[:, 3], arr[:, 4]


def _error_panels(
    ax_abs: Axes,
    ax_err: Axes,
    x: np.ndarray,
    errors: Sequence[np.ndarray],
    labels: Sequence[str],
    bins: ArrayLike | int | None,
    xlabel: str,
) -> None:
    """Draw median |err| (top) and median with 16-84 % band (bottom) for each method."""
    ok_x = np.isfinite(x)
    if not ok_x.any():
        raise ValueError(f"no finite value of {xlabel!r} to plot against")
    edges = _edges(x[ok_x], bins)
    any_drawn = False
    for k, (err, label) in enumerate(zip(errors, labels)):
        xc, mabs, med, p16, p84 = _running_stats(x[ok_x], err[ok_x], edges)
        n_failed = int(np.count_nonzero(~np.isfinite(err[ok_x])))
        tag = f"{label} ({n_failed} failed)" if n_failed else label
        colour = f"C{k}"
        if xc.size == 0:
            continue
        any_drawn = True
        ax_abs.plot(xc, np.maximum(mabs, 1e-6), color=colour, marker="o", ms=3, lw=2, label=tag)
        ax_err.fill_between(xc, p16, p84, color=colour, alpha=0.25, label=f"{label} 16–84 %")
        ax_err.plot(xc, med, color=colour, marker="o", ms=3, lw=2, label=f"{label} median")
    if any_drawn:
        ax_abs.set_yscale("log")
        ax_err.set_yscale("symlog", linthresh=0.05)
        ax_abs.legend(fontsize=8)
        ax_err.legend(fontsize=7, ncol=2)
    else:
        for ax in (ax_abs, ax_err):
            ax.text(0.5, 0.5, "too few objects", ha="center", va="center", transform=ax.transAxes)
    ax_err.axhline(0.0, color="k", lw=1)
    ax_abs.set_ylabel("median |ΔF / F|")
    ax_err.set_ylabel("ΔF / F = (F$_{\\rm pred}$ − F$_{\\rm true}$) / F$_{\\rm true}$")
    ax_err.set_xlabel(xlabel)
    for ax in (ax_abs, ax_err):
        ax.grid(alpha=0.3, which="both")


def plot_flux_error_vs_separation(
    separation: ArrayLike,
    rel_err_network: ArrayLike,
    rel_err_baseline: ArrayLike | None,
    path: str | os.PathLike[str],
    *,
    labels: Sequence[str] = ("U-Net", "sep"),
    xlabel: str = "separation / (r$_{1/2,1}$ + r$_{1/2,2}$)",
    delta_mag: ArrayLike | None = None,
    delta_mag_label: str = "Δmag = m$_{\\rm central}$ − m$_{\\rm neighbour}$",
    separation_bins: ArrayLike | int | None = None,
    delta_mag_bins: ArrayLike | int | None = None,
    title: str | None = None,
) -> Path:
    """Plot the relative flux error of two methods against blending and save as PNG.

    For each method: the running median of ``|ΔF/F|`` (top, log scale) and
    the running median with the 16-84 % band of ``ΔF/F`` (bottom, symlog
    scale, linear within +-0.05), in bins of the separation and, when
    ``delta_mag`` is given, in a second column of the magnitude difference.
    Every band of every object counts as one value; non-finite errors
    (failed measurements) are left out and counted in the legend.

    Parameters
    ----------
    separation : array_like, shape (n,)
        Separation of each central galaxy from its closest neighbour.
    rel_err_network, rel_err_baseline : array_like, shape (n,) or (n, nband)
        Relative flux errors (:func:`astrocnn.tasks.deblend.metrics.relative_flux_error`)
        of the network and of the baseline (None to draw the network only).
    path : str or os.PathLike
        Output PNG file (its folder must exist).
    labels : (str, str), optional
        Names of the two methods.
    xlabel, delta_mag_label : str, optional
        Axis labels of the separation and magnitude-difference columns.
    delta_mag : array_like, shape (n,), optional
        Magnitude difference per object; adds a second column.
    separation_bins, delta_mag_bins : int or array_like, optional
        Number of equal-count bins (default 10) or explicit increasing
        edges; bins with fewer than 5 values are not drawn.
    title : str, optional
        Figure title, above the columns of panels.

    Returns
    -------
    pathlib.Path
        ``path``.

    Raises
    ------
    ValueError
        If the shapes do not match, fewer labels than methods are given, or
        no object has a finite separation (or delta_mag).
    astrocnn.errors.OutputError
        If the folder of ``path`` does not exist or the file cannot be
        written.
    """
    x = np.asarray(separation, dtype=np.float64)
    if x.ndim != 1:
        raise ValueError(f"separation must be 1-D, got shape {x.shape}")
    n = x.size
    errors = [_errors_2d(rel_err_network, n, "rel_err_network")]
    if rel_err_baseline is not None:
        errors.append(_errors_2d(rel_err_baseline, n, "rel_err_baseline"))
    labels = [str(s) for s in labels]
    if len(labels) < len(errors):
        raise ValueError(f"need {len(errors)} labels, got {len(labels)}")
    columns: list[tuple[np.ndarray, ArrayLike | int | None, str]] = [(x, separation_bins, xlabel)]
    if delta_mag is not None:
        dm = np.asarray(delta_mag, dtype=np.float64)
        if dm.shape != (n,):
            raise ValueError(f"delta_mag must have shape ({n},), got {dm.shape}")
        columns.append((dm, delta_mag_bins, delta_mag_label))

    fig = viz.new_figure(5.5 * len(columns), 6.5)
    axes = fig.subplots(2, len(columns), squeeze=False, sharex="col")
    for c, (values, bins, label) in enumerate(columns):
        _error_panels(axes[0, c], axes[1, c], values, errors, labels, bins, label)
    return viz.save_figure(fig, path, title=title)


def _stack_images(value: ArrayLike, name: str) -> np.ndarray:
    """(n, H, W, C) float64 from (n, H, W, C) or (n, H, W)."""
    arr = np.asarray(value, dtype=np.float64)
    if arr.ndim == 3:
        arr = arr[..., None]
    if arr.ndim != 4:
        raise ValueError(f"{name} must have shape (n, H, W, C) or (n, H, W), got {arr.shape}")
    return arr


def plot_deblend_gallery(
    blends: ArrayLike,
    true_central: ArrayLike,
    pred_central: ArrayLike,
    residual: ArrayLike | None,
    path: str | os.PathLike[str],
    *,
    titles: Sequence[str] | None = None,
    bands: Sequence[str] | None = None,
    true_segmentation: ArrayLike | None = None,
    pred_segmentation: ArrayLike | None = None,
    max_rows: int = MAX_GALLERY_ROWS,
    suptitle: str | None = None,
) -> Path:
    """Plot blends with their true and predicted central galaxies and save as PNG.

    One row per object (the first ``max_rows``, at most 8), columns: the
    blend, the true central galaxy, the predicted central galaxy, the
    residual (predicted - true) and, when given, the true and predicted
    segmentation maps.

    Parameters
    ----------
    blends, true_central, pred_central : array_like, shape (n, H, W, C)
        Blended stamps, noiseless true central galaxies and deblended
        predictions, channels last ((n, H, W) for one band).
    residual : array_like, shape (n, H, W, C), optional
        ``pred_central - true_central``; computed when None.
    path : str or os.PathLike
        Output PNG file (its folder must exist).
    titles : sequence of str, optional
        One caption per object (e.g. ``"id 12  ΔF/F = +0.03"``), drawn as
        the row's label.
    bands : sequence of str, optional
        Band names of the ``C`` channels, used to choose the colour
        composite (see :func:`astrocnn.viz.display_channels`).
    true_segmentation, pred_segmentation : array_like of int, shape (n, H, W), optional
        Segmentation maps (0 background, 1 central source, 2 other sources)
        drawn with a discrete colour map.
    max_rows : int, optional
        Maximum number of rows (at most 8).
    suptitle : str, optional
        Figure title; the bands shown (when ``bands`` is given) and, when
        objects are left out, ``(first n of N)`` are appended to it.

    Returns
    -------
    pathlib.Path
        ``path``.

    Raises
    ------
    ValueError
        If the arrays have inconsistent shapes, ``titles`` or ``bands`` have
        the wrong length, or ``max_rows < 1``.
    astrocnn.errors.OutputError
        If the folder of ``path`` does not exist or the file cannot be
        written.

    Notes
    -----
    Blend, true and predicted images of a row share one Lupton et al.
    (2004) asinh stretch (:func:`astrocnn.viz.asinh_stretch` applied to
    the three together), so their brightness can be compared; with ``C >=
    3`` they are RGB composites, otherwise grey.  The residual is signed,
    so it is drawn as the sum over bands on a diverging colour map (red:
    flux predicted in excess) with symmetric limits, the larger of 0.2 times
    the peak of the true central galaxy (band sum) and the 99.5th
    percentile of ``|residual|``; the limit is printed in the panel.
    Segmentation classes are coloured black (0), orange (1), blue (2), then
    green, red, ....  Images use ``origin="lower"``.
    """
    from matplotlib.colors import ListedColormap

    if isinstance(max_rows, bool) or int(max_rows) != max_rows or max_rows < 1:
        raise ValueError(f"max_rows must be a positive integer, got {max_rows!r}")
    blend = _stack_images(blends, "blends")
    true = _stack_images(true_central, "true_central")
    pred = _stack_images(pred_central, "pred_central")
    for name, arr in (("true_central", true), ("pred_central", pred)):
        if arr.shape != blend.shape:
            raise ValueError(f"{name} has shape {arr.shape}, blends has shape {blend.shape}")
    res = pred - true if residual is None else _stack_images(residual, "residual")
    if res.shape != blend.shape:
        raise ValueError(f"residual has shape {res.shape}, blends has shape {blend.shape}")
    n, h, w, n_chan = blend.shape
    segs: list[tuple[str, np.ndarray]] = []
    for name, seg in (("true seg.", true_segmentation), ("pred. seg.", pred_segmentation)):
        if seg is None:
            continue
        s = np.asarray(seg)
        if s.shape != (n, h, w):
            raise ValueError(f"segmentation maps must have shape {(n, h, w)}, got {s.shape}")
        segs.append((name, np.rint(s.astype(np.float64)).astype(np.int64)))
    if titles is not None:
        titles = [str(t) for t in titles]
        if len(titles) != n:
            raise ValueError(f"got {len(titles)} titles for {n} objects")
    bands = viz.check_band_names(bands, n_chan)

    n_rows = min(n, int(max_rows), MAX_GALLERY_ROWS)
    if n_rows == 0:
        return viz.save_message_figure(path, "no objects")

    chans, rgb_label = viz.display_channels(n_chan, bands)
    n_classes = 3
    for _, s in segs:
        if s.size:
            n_classes = max(n_classes, int(s[:n_rows].max()) + 1)
    n_classes = min(n_classes, len(_SEGMENTATION_COLOURS))
    seg_cmap = ListedColormap(list(_SEGMENTATION_COLOURS[:n_classes]))

    headers = ["blend", "true central", "predicted central", "residual (pred − true)"]
    headers += [name for name, _ in segs]
    n_cols = len(headers)
    fig = viz.new_figure(1.9 * n_cols, 1.9 * n_rows + (0.5 if (suptitle or rgb_label) else 0.2))
    axes = fig.subplots(n_rows, n_cols, squeeze=False)
    for i in range(n_rows):
        trio = np.stack([blend[i], true[i], pred[i]])[..., chans]
        shown = viz.asinh_stretch(trio)
        for j in range(3):
            img = shown[j] if shown.shape[-1] == 3 else shown[j, ..., 0]
            axes[i, j].imshow(
                img, origin="lower", interpolation="nearest", cmap="gray", vmin=0.0, vmax=1.0
            )
        r = res[i].sum(axis=-1)
        r_finite = r[np.isfinite(r)]
        t_sum = true[i].sum(axis=-1)
        t_finite = t_sum[np.isfinite(t_sum)]
        scale = 0.2 * float(np.max(np.abs(t_finite))) if t_finite.size else 0.0
        if r_finite.size:
            scale = max(scale, float(np.percentile(np.abs(r_finite), 99.5)))
        if not (math.isfinite(scale) and scale > 0):
            scale = 1.0
        axes[i, 3].imshow(
            np.where(np.isfinite(r), r, 0.0),
            origin="lower",
            interpolation="nearest",
            cmap="RdBu_r",
            vmin=-scale,
            vmax=scale,
        )
        axes[i, 3].text(
            0.03,
            0.03,
            f"±{scale:.3g}",
            transform=axes[i, 3].transAxes,
            fontsize=6,
            color="k",
            bbox={"facecolor": "white", "alpha": 0.6, "lw": 0, "pad": 1},
        )
        for k, (_, s) in enumerate(segs):
            axes[i, 4 + k].imshow(
                np.clip(s[i], 0, n_classes - 1),
                origin="lower",
                interpolation="nearest",
                cmap=seg_cmap,
                vmin=-0.5,
                vmax=n_classes - 0.5,
            )
        for j in range(n_cols):
            ax = axes[i, j]
            ax.set_xticks([])
            ax.set_yticks([])
            if i == 0:
                ax.set_title(headers[j], fontsize=8)
        if titles is not None:
            axes[i, 0].set_ylabel(titles[i], fontsize=7)
    heading = " -- ".join(t for t in (suptitle, rgb_label) if t)
    if n > n_rows:
        heading = f"{heading} (first {n_rows} of {n})".strip()
    if heading:
        fig.suptitle(heading, fontsize=10)
    return viz.save_figure(fig, path)
