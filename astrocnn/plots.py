"""Diagnostic plots: ROC curves, score histograms and image galleries.

Every function writes one PNG file and returns its path.  Figures are built
with :class:`matplotlib.figure.Figure` and the Agg canvas directly, so
nothing here touches :mod:`matplotlib.pyplot` or its global state (safe in
scripts, tests and worker threads), and matplotlib is imported only inside
the functions, so ``import astrocnn.plots`` is cheap.

Files are written atomically: the PNG goes to a temporary file in the target
folder, which is then renamed onto ``path`` (:func:`os.replace`), so a reader
never sees a half-written image.  The target folder must already exist.
"""

from __future__ import annotations

import math
import os
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import ArrayLike

from astrocnn.metrics import _check_binary, auroc, roc_curve, tpr_at_false_positives

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["plot_gallery", "plot_roc", "plot_score_histograms"]

#: Resolution of the saved PNG files, in dots per inch.
DPI = 120

#: Effective wavelengths (nm, approximate) of common band names, used by
#: :func:`plot_gallery` to order named bands from blue to red.
_BAND_WAVELENGTH_NM = {
    "u": 355.0,
    "g": 475.0,
    "r": 620.0,
    "i": 765.0,
    "z": 900.0,
    "y": 1000.0,
    "vis": 715.0,
    "j": 1250.0,
    "h": 1650.0,
    "k": 2200.0,
    "ks": 2150.0,
}

#: Softening parameter Q of the asinh (Lupton et al. 2004) stretch.
_LUPTON_Q = 8.0

#: Percentile of the background-subtracted intensity mapped to full scale.
_STRETCH_PERCENTILE = 99.5


def _new_figure(width_in: float, height_in: float) -> Figure:
    """Create a pyplot-free figure with an Agg canvas attached.

    Parameters
    ----------
    width_in, height_in : float
        Figure size in inches.

    Returns
    -------
    matplotlib.figure.Figure
        The figure, using the constrained layout engine.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width_in, height_in), dpi=DPI, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def _save_figure(fig: Figure, path: str | os.PathLike[str]) -> Path:
    """Save a figure as PNG atomically.

    The image is written to a hidden temporary file in the same folder as
    ``path`` and then renamed onto ``path`` with :func:`os.replace`, which is
    atomic on POSIX and Windows when both are on the same file system.

    Parameters
    ----------
    fig : matplotlib.figure.Figure
        The figure to save (at :data:`DPI` dots per inch, PNG format whatever
        the file name's suffix).
    path : str or os.PathLike
        Destination file.  Its folder must exist.

    Returns
    -------
    pathlib.Path
        ``path``.

    Raises
    ------
    FileNotFoundError
        If the folder of ``path`` does not exist.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    path = Path(path)
    folder = path.parent
    if not folder.is_dir():
        raise FileNotFoundError(f"folder does not exist: {str(folder)!r}")
    if not isinstance(fig.canvas, FigureCanvasAgg):
        FigureCanvasAgg(fig)
    tmp = folder / f".{path.name}.{os.getpid()}.{uuid.uuid4().hex}.tmp"
    try:
        # Mode "xb": never clobber; permissions follow the umask (unlike mkstemp).
        with open(tmp, "xb") as fh:
            fig.savefig(fh, format="png", dpi=DPI)
        os.replace(tmp, path)
    except BaseException:
        try:
            tmp.unlink()
        except FileNotFoundError:
            pass
        raise
    return path


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
    (:func:`astrocnn.metrics.tpr_at_false_positives`).

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
        :func:`astrocnn.metrics.roc_curve`).
    FileNotFoundError
        If the folder of ``path`` does not exist.
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

    fig = _new_figure(10.0, 4.6)
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

    if title:
        fig.suptitle(title)
    return _save_figure(fig, path)


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
        invalid (see :func:`astrocnn.metrics.roc_curve`).
    FileNotFoundError
        If the folder of ``path`` does not exist.

    Notes
    -----
    The y axis is logarithmic (counts per bin), so a handful of positives
    remains visible next to many negatives.
    """
    if isinstance(class_names, str) or len(class_names) != 2:
        raise ValueError(f"class_names must hold two names, got {class_names!r}")
    y, s = _check_binary(y_true, score, require_both=False)

    fig = _new_figure(6.4, 4.4)
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
    return _save_figure(fig, path)


def _band_key(name: str) -> str:
    """Normalise a band name for look-up in the wavelength table."""
    key = name.strip().lower()
    for prefix in ("hsc-", "hsc_", "des-", "des_", "lsst-", "lsst_", "sdss-", "sdss_"):
        key = key.removeprefix(prefix)
    if key.endswith("band") and len(key) > 4:
        key = key[: -len("band")].rstrip("-_ ")
    return key


def _rgb_channel_indices(n_channels: int, bands: Sequence[str] | None) -> tuple[int, int, int]:
    """Choose which channels of an image become red, green and blue.

    Parameters
    ----------
    n_channels : int
        Number of channels, at least 3.
    bands : sequence of str, optional
        Band name of each channel (e.g. ``("g", "r", "i", "z")``).

    Returns
    -------
    tuple of int
        Channel indices for (R, G, B).

    Notes
    -----
    Rules, first match wins:

    1. ``bands`` contains ``g``, ``r`` and ``i`` (case-insensitive): (i, r, g)
       -> (R, G, B), the usual optical composite.
    2. Every name in ``bands`` is a known band (u g r i z y VIS J H K Ks):
       the three longest-wavelength bands, the reddest as R.
    3. Otherwise (no names, or unknown names): channels are assumed to be
       ordered from blue to red, and the last three become R = ``C-1``,
       G = ``C-2``, B = ``C-3``.
    """
    if bands is not None:
        keys = [_band_key(b) for b in bands]
        if {"g", "r", "i"} <= set(keys):
            return keys.index("i"), keys.index("r"), keys.index("g")
        if all(k in _BAND_WAVELENGTH_NM for k in keys):
            by_wavelength = sorted(range(n_channels), key=lambda c: _BAND_WAVELENGTH_NM[keys[c]])
            red, green, blue = by_wavelength[-1], by_wavelength[-2], by_wavelength[-3]
            return red, green, blue
    return n_channels - 1, n_channels - 2, n_channels - 3


def _asinh_stretch(channels: np.ndarray) -> np.ndarray:
    """Lupton-style asinh stretch of a gallery with one robust scale.

    Parameters
    ----------
    channels : numpy.ndarray, shape (N, H, W, K)
        The K (1 or 3) channels to display, for the whole gallery.

    Returns
    -------
    numpy.ndarray of float64, shape (N, H, W, K)
        Values in [0, 1].

    Notes
    -----
    Following Lupton et al. (2004, PASP 116, 133), with one scale for the
    whole gallery so that objects can be compared by eye:

    * each channel has its background (median over the gallery) subtracted;
    * the intensity ``I`` (mean over channels) is mapped to
      ``asinh(Q I / stretch) / asinh(Q)`` with ``Q = 8`` and ``stretch`` the
      99.5th percentile of ``I`` over the gallery, and every channel is
      multiplied by that factor divided by ``I``, which preserves colours;
    * pixels where a channel exceeds 1 are scaled down so the largest
      channel is 1 (colour-preserving saturation).

    Non-finite pixels are shown as background.
    """
    x = np.array(channels, dtype=np.float64)
    finite = np.isfinite(x)
    for c in range(x.shape[-1]):
        vals = x[..., c][finite[..., c]]
        background = float(np.median(vals)) if vals.size else 0.0
        x[..., c] -= background
    x[~finite] = 0.0
    intensity = x.mean(axis=-1)
    positive = intensity[intensity > 0]
    stretch = float(np.percentile(positive, _STRETCH_PERCENTILE)) if positive.size else 0.0
    if not (math.isfinite(stretch) and stretch > 0):
        stretch = 1.0
    with np.errstate(divide="ignore", invalid="ignore"):
        factor = np.where(
            intensity > 0,
            np.arcsinh(_LUPTON_Q * intensity / stretch) / (math.asinh(_LUPTON_Q) * intensity),
            0.0,
        )
    out = np.clip(x * factor[..., None], 0.0, None)
    peak = out.max(axis=-1, keepdims=True)
    out = np.where(peak > 1.0, out / np.maximum(peak, 1e-300), out)
    return np.clip(out, 0.0, 1.0)


def plot_gallery(
    images: ArrayLike,
    titles: Sequence[str] | None,
    path: str | os.PathLike[str],
    *,
    bands: Sequence[str] | None = None,
    ncols: int = 6,
    suptitle: str | None = None,
) -> Path:
    """Plot a gallery of multi-band image cut-outs and save it as PNG.

    Parameters
    ----------
    images : array_like, shape (N, H, W, C) or (N, H, W)
        Image cut-outs (channels last); (N, H, W) is treated as ``C = 1``.
        ``N = 0`` gives a figure saying "no objects".
    titles : sequence of str, optional
        One caption per image, written under it (e.g. ``"id 123  p=0.97"``);
        None for no captions.
    path : str or os.PathLike
        Output PNG file (its folder must exist).
    bands : sequence of str, optional
        Band name of each of the ``C`` channels, e.g. ``("g", "r", "i", "z")``;
        used to choose the colour composite.
    ncols : int, optional
        Maximum number of images per row (default 6).
    suptitle : str, optional
        Figure title.

    Returns
    -------
    pathlib.Path
        ``path``.

    Raises
    ------
    ValueError
        If ``images`` does not have 3 or 4 dimensions, ``titles`` or
        ``bands`` has the wrong length, or ``ncols < 1``.
    FileNotFoundError
        If the folder of ``path`` does not exist.

    Notes
    -----
    Display by number of channels ``C``:

    * ``C >= 3``: an RGB composite of three channels chosen as follows
      (first rule that applies): if ``bands`` contains g, r and i, then
      (R, G, B) = (i, r, g) -- so g, r, i, z gives (i, r, g); if every band
      name is known (u g r i z y VIS J H K Ks), the three reddest bands with
      the reddest as R; otherwise (no or unknown names) the channels are
      taken as ordered blue to red and (R, G, B) = channels (C-1, C-2, C-3).
    * ``C == 2``: the first channel in grey.
    * ``C == 1``: that channel in grey.

    All images share one Lupton et al. (2004) asinh stretch: per-channel
    background = gallery median, full scale = 99.5th percentile of the
    gallery intensity, softening Q = 8.  Images are drawn with
    ``origin="lower"`` (row 0 at the bottom, the FITS convention).  Each
    panel is about 2 inches wide at 120 dpi; keep galleries to a few
    hundred images (Agg limits images to 65536 pixels a side).
    """
    if isinstance(ncols, bool) or int(ncols) != ncols or ncols < 1:
        raise ValueError(f"ncols must be a positive integer, got {ncols!r}")
    ncols = int(ncols)
    arr = np.asarray(images, dtype=np.float64)
    if arr.size == 0 and arr.ndim < 3:
        arr = arr.reshape(0, 0, 0, 1)
    if arr.ndim == 3:
        arr = arr[..., None]
    if arr.ndim != 4:
        raise ValueError(f"images must have shape (N, H, W, C) or (N, H, W), got {arr.shape}")
    n_img, _, _, n_chan = arr.shape
    if titles is not None:
        titles = list(titles)
        if len(titles) != n_img:
            raise ValueError(f"got {len(titles)} titles for {n_img} images")
    if bands is not None:
        bands = [str(b) for b in bands]
        if len(bands) != n_chan:
            raise ValueError(f"got {len(bands)} band names for {n_chan} channels")

    if n_img == 0:
        fig = _new_figure(4.0, 2.5)
        ax = fig.subplots()
        ax.text(
            0.5,
            0.5,
            "no objects",
            ha="center",
            va="center",
            fontsize=14,
            transform=ax.transAxes,
        )
        ax.set_axis_off()
        if suptitle:
            fig.suptitle(suptitle)
        return _save_figure(fig, path)

    if n_chan >= 3:
        red, green, blue = _rgb_channel_indices(n_chan, bands)
        display = _asinh_stretch(arr[..., [red, green, blue]])
        rgb_label = None
        if bands is not None:
            rgb_label = f"RGB = ({bands[red]}, {bands[green]}, {bands[blue]})"
    else:
        display = _asinh_stretch(arr[..., :1])[..., 0]
        rgb_label = f"band {bands[0]}" if bands is not None else None

    ncols_eff = min(ncols, n_img)
    nrows = math.ceil(n_img / ncols_eff)
    panel_w = 2.0
    panel_h = 2.3 if titles is not None else 2.05
    extra_h = 0.4 if (suptitle or rgb_label) else 0.0
    fig = _new_figure(panel_w * ncols_eff, panel_h * nrows + extra_h)
    axes = np.atleast_1d(fig.subplots(nrows, ncols_eff, squeeze=False)).ravel()
    for k, ax in enumerate(axes):
        if k >= n_img:
            ax.set_axis_off()
            continue
        if display.ndim == 4:
            ax.imshow(display[k], origin="lower", interpolation="nearest")
        else:
            ax.imshow(
                display[k],
                origin="lower",
                interpolation="nearest",
                cmap="gray",
                vmin=0.0,
                vmax=1.0,
            )
        ax.set_xticks([])
        ax.set_yticks([])
        for spine in ax.spines.values():
            spine.set_linewidth(0.5)
        if titles is not None:
            ax.set_xlabel(str(titles[k]), fontsize=8)
    heading = " -- ".join(t for t in (suptitle, rgb_label) if t)
    if heading:
        fig.suptitle(heading, fontsize=10)
    return _save_figure(fig, path)
