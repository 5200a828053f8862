"""Diagnostic plots of photometric redshifts.

Point estimates against the truth, residuals against magnitude, PIT
histograms and example PDFs, as in Pasquet et al. (2019, A&A 621, A26) and
D'Isanto & Polsterer (2018, A&A 609, A111).

Every function writes one PNG file and returns its path, following the
contract of :mod:`astrocnn.viz` (no :mod:`matplotlib.pyplot`, atomic
writes); the target folder must exist, otherwise
:class:`astrocnn.errors.OutputError` is raised.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import ArrayLike

from astrocnn import viz
from astrocnn.tasks.photoz.metrics import dz as _dz
from astrocnn.tasks.photoz.metrics import pit_histogram, pit_ks, redshift_report

if TYPE_CHECKING:
    from matplotlib.axes import Axes

__all__ = [
    "plot_dz_vs_magnitude",
    "plot_example_pdfs",
    "plot_pit_histogram",
    "plot_zphot_vs_ztrue",
]

#: Catastrophic-outlier threshold on ``|dz|`` drawn in the plots.
OUTLIER_DZ = 0.15


def _as_1d(value: ArrayLike, name: str) -> np.ndarray:
    """Convert to a 1-D float64 array (finiteness is checked by the callers)."""
    arr = np.asarray(value, dtype=np.float64)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be 1-D, got shape {arr.shape}")
    return arr


def _stats_text(stats: Mapping[str, Any]) -> str:
    """Lines of text for the main metrics present in ``stats``."""
    lines = []
    if "n" in stats:
        lines.append(f"N = {int(stats['n'])}")
    if "sigma_mad" in stats:
        lines.append(f"$\\sigma_{{\\rm MAD}}$ = {stats['sigma_mad']:.4f}")
    if "outlier_frac_015" in stats:
        lines.append(f"outliers (|Δz| > 0.15) = {100 * stats['outlier_frac_015']:.2f} %")
    if "bias" in stats:
        lines.append(f"bias = {stats['bias']:+.4f}")
    if stats.get("crps_mean") is not None:
        lines.append(f"CRPS = {stats['crps_mean']:.4f}")
    return "\n".join(lines)


def _zz_panel(
    ax: Axes, z_true: np.ndarray, z_phot: np.ndarray, lim: float, stats: Mapping, label: str
):
    """Draw one z_phot-vs-z_true density panel; return the image (for a colour bar)."""
    from matplotlib.colors import LogNorm

    edges = np.linspace(0.0, lim, 121)
    counts, _, _ = np.histogram2d(z_true, z_phot, bins=[edges, edges])
    counts = np.ma.masked_equal(counts, 0)
    image = ax.pcolormesh(
        edges,
        edges,
        counts.T,
        cmap="viridis",
        norm=LogNorm(vmin=1, vmax=max(2.0, float(counts.max()) if counts.count() else 2.0)),
        rasterized=True,
    )
    x = np.array([0.0, lim])
    ax.plot(x, x, color="k", lw=1)
    # |dz| = 0.15 boundaries: z_phot = z_true +- 0.15 (1 + z_true)
    ax.plot(x, x + OUTLIER_DZ * (1 + x), color="C3", lw=1, ls="--", label="|Δz| = 0.15")
    ax.plot(x, x - OUTLIER_DZ * (1 + x), color="C3", lw=1, ls="--")
    ax.set_xlim(0.0, lim)
    ax.set_ylim(0.0, lim)
    ax.set_aspect("equal")
    ax.set_xlabel("$z_{\\rm true}$ (spectroscopic)")
    ax.set_ylabel("$z_{\\rm phot}$")
    ax.set_title(label, fontsize=10)
    ax.grid(alpha=0.3)
    ax.text(
        0.03,
        0.97,
        _stats_text(stats),
        transform=ax.transAxes,
        ha="left",
        va="top",
        fontsize=8,
        bbox={"boxstyle": "round", "facecolor": "white", "alpha": 0.85, "edgecolor": "0.7"},
    )
    ax.legend(loc="lower right", fontsize=8)
    return image


def plot_zphot_vs_ztrue(
    z_true: ArrayLike,
    z_phot: ArrayLike,
    path: str | os.PathLike[str],
    *,
    title: str | None = None,
    stats: Mapping[str, Any] | None = None,
    label: str = "CNN+MDN",
    baseline: tuple[ArrayLike, str, Mapping[str, Any] | None] | None = None,
) -> Path:
    """Plot photometric against true redshifts (2-D density) and save as PNG.

    Each panel shows the number of objects per cell on a logarithmic colour
    scale, the 1:1 line, the outlier boundaries ``|dz| = 0.15`` and, in the
    upper-left corner, sigma_MAD, the outlier fraction and the bias.

    Parameters
    ----------
    z_true, z_phot : array_like, shape (n,)
        True redshifts and point estimates.
    path : str or os.PathLike
        Output PNG file (its folder must exist).
    title : str, optional
        Figure title.
    stats : mapping, optional
        Metrics to print (keys of
        :func:`astrocnn.tasks.photoz.metrics.redshift_report`); computed from
        the inputs when not given.
    label : str, optional
        Name of the method, used as panel title.
    baseline : tuple, optional
        ``(z_phot_baseline, label, stats)`` (``stats`` may be None): a
        second panel for a baseline method on the same objects, drawn side
        by side on the same colour scale.

    Returns
    -------
    pathlib.Path
        ``path``.

    Raises
    ------
    ValueError
        If the inputs are invalid (see
        :func:`astrocnn.tasks.photoz.metrics.redshift_report`).
    astrocnn.errors.OutputError
        If the folder of ``path`` does not exist or the file cannot be
        written.
    """
    zt = _as_1d(z_true, "z_true")
    panels = [(_as_1d(z_phot, "z_phot"), label, stats)]
    if baseline is not None:
        if len(baseline) != 3:
            raise ValueError("baseline must be a tuple (z_phot_baseline, label, stats)")
        panels.append((_as_1d(baseline[0], "baseline z_phot"), str(baseline[1]), baseline[2]))
    filled = []
    for zp, name, st in panels:
        if st is None:
            st = redshift_report(zt, zp)
        else:
            _dz(zp, zt)  # validate
        filled.append((zp, name, st))
    top = max(float(np.max(zt)), *(float(np.percentile(zp, 99.5)) for zp, _, _ in filled))
    lim = max(0.5, math.ceil(1.05 * top * 10) / 10)

    fig = viz.new_figure(5.2 * len(filled) + 0.8, 5.2)
    axes = np.atleast_1d(fig.subplots(1, len(filled), sharex=True, sharey=True))
    images = [_zz_panel(ax, zt, zp, lim, st, name) for ax, (zp, name, st) in zip(axes, filled)]
    vmax = max(im.norm.vmax for im in images)
    for im in images:
        im.norm.vmax = vmax
    fig.colorbar(images[-1], ax=list(axes), label="objects per cell", shrink=0.85)
    return viz.save_figure(fig, path, title=title)


def plot_dz_vs_magnitude(
    dz: ArrayLike,
    magnitude: ArrayLike,
    path: str | os.PathLike[str],
    *,
    title: str | None = None,
    magnitude_label: str = "magnitude (AB)",
    y_limit: float = 0.5,
    n_bins: int = 12,
) -> Path:
    """Plot the normalised residual against magnitude and save as PNG.

    A 2-D density (log colour scale) of ``dz = (z_phot - z_true) / (1 +
    z_true)`` against magnitude, the running median and the 16-84 %
    band in magnitude bins, and horizontal lines at 0 and ``+-0.15``.
    Objects beyond ``+-y_limit`` are drawn as arrows at the plot edge, and
    their number is given.

    Parameters
    ----------
    dz : array_like, shape (n,)
        Residuals (:func:`astrocnn.tasks.photoz.metrics.dz`), finite.
    magnitude : array_like, shape (n,)
        Magnitudes; non-finite values are left out.
    path : str or os.PathLike
        Output PNG file (its folder must exist).
    title : str, optional
        Figure title.
    magnitude_label : str, optional
        x-axis label (name the band and system, e.g. ``"i (AB mag)"``).
    y_limit : float, optional
        Half-height of the y range.
    n_bins : int, optional
        Number of equal-width magnitude bins for the running statistics
        (bins with fewer than 5 objects are skipped).

    Returns
    -------
    pathlib.Path
        ``path``.

    Raises
    ------
    ValueError
        If the arrays are not 1-D of the same length, ``dz`` is not finite,
        or no object has a finite magnitude.
    astrocnn.errors.OutputError
        If the folder of ``path`` does not exist or the file cannot be
        written.
    """
    from matplotlib.colors import LogNorm

    d = _as_1d(dz, "dz")
    if not np.all(np.isfinite(d)):
        raise ValueError("dz must be finite")
    mag = _as_1d(magnitude, "magnitude")
    if d.size != mag.size:
        raise ValueError(f"dz has {d.size} values but magnitude has {mag.size}")
    ok = np.isfinite(mag)
    if not np.any(ok):
        raise ValueError("no object has a finite magnitude")
    d, mag = d[ok], mag[ok]
    lo, hi = float(mag.min()), float(mag.max())
    if hi - lo < 1e-6:
        lo, hi = lo - 0.5, hi + 0.5

    fig = viz.new_figure(7.0, 4.8)
    ax = fig.subplots()
    x_edges = np.linspace(lo, hi, 61)
    y_edges = np.linspace(-y_limit, y_limit, 81)
    inside = np.abs(d) <= y_limit  # objects outside are drawn as arrows at the edge
    counts, _, _ = np.histogram2d(mag[inside], d[inside], bins=[x_edges, y_edges])
    counts = np.ma.masked_equal(counts, 0)
    if counts.count():
        image = ax.pcolormesh(
            x_edges,
            y_edges,
            counts.T,
            cmap="Greys",
            norm=LogNorm(vmin=1, vmax=max(2.0, float(counts.max()))),
            rasterized=True,
        )
        fig.colorbar(image, ax=ax, label="objects per cell")

    bin_edges = np.linspace(lo, hi, int(n_bins) + 1)
    centres, med, p16, p84 = [], [], [], []
    for a, b in zip(bin_edges[:-1], bin_edges[1:]):
        sel = (mag >= a) & (mag <= b if b == bin_edges[-1] else mag < b)
        if np.count_nonzero(sel) < 5:
            continue
        centres.append(0.5 * (a + b))
        q = np.percentile(d[sel], [50, 15.865, 84.135])
        med.append(q[0])
        p16.append(q[1])
        p84.append(q[2])
    if centres:
        from matplotlib import patheffects

        outline = [patheffects.withStroke(linewidth=3.5, foreground="white")]
        ax.fill_between(centres, p16, p84, color="C0", alpha=0.3, label="16–84 % range")
        for edge in (p16, p84):
            ax.plot(centres, edge, color="C0", lw=1, path_effects=outline)
        ax.plot(
            centres,
            med,
            color="C0",
            lw=2,
            marker="o",
            ms=3,
            label="running median",
            path_effects=outline,
        )

    ax.axhline(0.0, color="k", lw=1)
    ax.axhline(OUTLIER_DZ, color="C3", lw=1, ls="--", label="|Δz| = 0.15")
    ax.axhline(-OUTLIER_DZ, color="C3", lw=1, ls="--")
    above, below = d > y_limit, d < -y_limit
    n_out = int(np.count_nonzero(above) + np.count_nonzero(below))
    if np.any(above):
        ax.plot(mag[above], np.full(np.count_nonzero(above), 0.97 * y_limit), "^", color="C1", ms=4)
    if np.any(below):
        ax.plot(
            mag[below], np.full(np.count_nonzero(below), -0.97 * y_limit), "v", color="C1", ms=4
        )
    if n_out:
        ax.plot([], [], "^", color="C1", ms=4, label=f"|Δz| > {y_limit:g} ({n_out})")
    ax.set_xlim(lo, hi)
    ax.set_ylim(-y_limit, y_limit)
    ax.set_xlabel(magnitude_label)
    ax.set_ylabel("$\\Delta z = (z_{\\rm phot} - z_{\\rm true}) / (1 + z_{\\rm true})$")
    ax.grid(alpha=0.3)
    ax.legend(loc="upper left", fontsize=8)
    return viz.save_figure(fig, path, title=title)


def plot_pit_histogram(
    pit: ArrayLike,
    path: str | os.PathLike[str],
    *,
    title: str | None = None,
    label: str = "CNN+MDN",
    baseline_pit: ArrayLike | None = None,
    baseline_label: str = "baseline",
    n_bins: int = 20,
) -> Path:
    """Plot the histogram of PIT values and save as PNG.

    The histogram is normalised to a density, so calibrated PDFs scatter
    around the horizontal line at 1; the legend gives the KS distance to
    the uniform distribution (:func:`astrocnn.tasks.photoz.metrics.pit_ks`).

    Parameters
    ----------
    pit : array_like, shape (n,)
        PIT values in [0, 1].
    path : str or os.PathLike
        Output PNG file (its folder must exist).
    title : str, optional
        Figure title.
    label : str, optional
        Name of the method.
    baseline_pit : array_like, optional
        PIT values of a baseline method, overlaid as a step histogram.
    baseline_label : str, optional
        Its name.
    n_bins : int, optional
        Number of bins on [0, 1].

    Returns
    -------
    pathlib.Path
        ``path``.

    Raises
    ------
    ValueError
        If PIT values are empty, not finite or outside [0, 1].
    astrocnn.errors.OutputError
        If the folder of ``path`` does not exist or the file cannot be
        written.
    """
    density, edges = pit_histogram(pit, n_bins)
    fig = viz.new_figure(6.4, 4.4)
    ax = fig.subplots()
    ax.stairs(density, edges, fill=True, alpha=0.35, color="C0")
    ax.stairs(density, edges, color="C0", lw=1.5, label=f"{label} (KS = {pit_ks(pit):.3f})")
    top = float(density.max())
    if baseline_pit is not None:
        b_density, b_edges = pit_histogram(baseline_pit, n_bins)
        ax.stairs(
            b_density,
            b_edges,
            color="C1",
            lw=1.5,
            label=f"{baseline_label} (KS = {pit_ks(baseline_pit):.3f})",
        )
        top = max(top, float(b_density.max()))
    ax.axhline(1.0, color="k", lw=1, ls="--", label="uniform (calibrated)")
    ax.set_xlim(0.0, 1.0)
    ax.set_ylim(0.0, max(1.6, 1.25 * top))  # room for the legend
    ax.set_xlabel("PIT = CDF(z_true)")
    ax.set_ylabel("density")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="upper center")
    return viz.save_figure(fig, path, title=title)


def plot_example_pdfs(
    z_grid: ArrayLike,
    pdfs: ArrayLike,
    z_true: ArrayLike,
    labels: Sequence[str] | None,
    path: str | os.PathLike[str],
    *,
    z_point: ArrayLike | None = None,
    title: str | None = None,
) -> Path:
    """Plot a grid of redshift PDFs of individual objects and save as PNG.

    Up to 12 small panels (the first 12 objects), each with ``p(z)``, the
    true redshift as a solid vertical line and, when given, the point
    estimate as a dashed line.

    Parameters
    ----------
    z_grid : array_like, shape (m,)
        Redshift grid.
    pdfs : array_like, shape (n, m)
        PDFs on the grid (e.g. :func:`astrocnn.tasks.photoz.mixture.pdf_z`).
    z_true : array_like, shape (n,)
        True redshifts.
    labels : sequence of str or None
        A panel title per object (e.g. the catalogue ``id``).
    path : str or os.PathLike
        Output PNG file (its folder must exist).
    z_point : array_like, shape (n,), optional
        Point estimates.
    title : str, optional
        Figure title, above the grid of panels.

    Returns
    -------
    pathlib.Path
        ``path``.

    Raises
    ------
    ValueError
        If the shapes do not match or there is no object.
    astrocnn.errors.OutputError
        If the folder of ``path`` does not exist or the file cannot be
        written.
    """
    grid = _as_1d(z_grid, "z_grid")
    p = np.asarray(pdfs, dtype=np.float64)
    if p.ndim != 2 or p.shape[1] != grid.size:
        raise ValueError(f"pdfs must have shape (n, {grid.size}), got {p.shape}")
    zt = _as_1d(z_true, "z_true")
    n = p.shape[0]
    if n == 0:
        raise ValueError("no PDF to plot")
    if zt.size != n:
        raise ValueError(f"z_true has {zt.size} values but there are {n} PDFs")
    zp = None if z_point is None else _as_1d(z_point, "z_point")
    if zp is not None and zp.size != n:
        raise ValueError(f"z_point has {zp.size} values but there are {n} PDFs")
    if labels is not None and len(labels) != n:
        raise ValueError(f"labels has {len(labels)} entries but there are {n} PDFs")

    n_show = min(n, 12)
    n_cols = min(n_show, 4)
    n_rows = math.ceil(n_show / n_cols)
    fig = viz.new_figure(2.8 * n_cols + 0.4, 2.3 * n_rows + 0.4)
    axes = np.atleast_1d(fig.subplots(n_rows, n_cols, squeeze=False)).ravel()
    for i, ax in enumerate(axes):
        if i >= n_show:
            ax.set_visible(False)
            continue
        ax.plot(grid, p[i], color="C0", lw=1.5)
        ax.fill_between(grid, 0, p[i], color="C0", alpha=0.2)
        ax.axvline(zt[i], color="k", lw=1.2, label="$z_{\\rm true}$")
        if zp is not None:
            ax.axvline(zp[i], color="C3", lw=1.2, ls="--", label="$z_{\\rm phot}$")
        ax.set_xlim(grid[0], grid[-1])
        ax.set_ylim(bottom=0)
        if labels is not None:
            ax.set_title(str(labels[i]), fontsize=9)
        ax.tick_params(labelsize=8)
        if i % n_cols == 0:
            ax.set_ylabel("p(z)", fontsize=9)
        if i >= n_show - n_cols:
            ax.set_xlabel("redshift z", fontsize=9)
        if i == 0:
            ax.legend(fontsize=7, loc="upper right")
    return viz.save_figure(fig, path, title=title)
