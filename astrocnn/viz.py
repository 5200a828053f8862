"""Figure helpers shared by the diagnostic plots of every task.

The plot modules of the tasks (``astrocnn.tasks.<task>.plots``) build their
figures with these helpers, so that they all follow one contract:

* a figure is a :class:`matplotlib.figure.Figure` with an Agg canvas
  (:func:`new_figure`), never a :mod:`matplotlib.pyplot` figure, so nothing
  touches pyplot's global state (safe in scripts, tests and worker threads);
* matplotlib is imported only inside the functions, so importing a plot
  module is cheap;
* every plot function writes one PNG file at :data:`DPI` dots per inch with
  :func:`save_figure` and returns its path.  The file is written atomically
  (:func:`astrocnn.io.atomic.atomic_path`): a reader never sees a
  half-written image and a failed save leaves an existing file untouched.
  The target folder must already exist; otherwise
  :class:`astrocnn.errors.OutputError` is raised.

Image galleries share the choice of the colour composite
(:func:`rgb_channel_indices`, :func:`display_channels`) and the Lupton et al.
(2004) asinh stretch (:func:`asinh_stretch`).

This module depends on :mod:`astrocnn.io` only, never on a task.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import ArrayLike

from astrocnn.io.atomic import atomic_path

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = [
    "plot_gallery",
    "BAND_WAVELENGTH_NM",
    "DPI",
    "LUPTON_Q",
    "STRETCH_PERCENTILE",
    "asinh_stretch",
    "check_band_names",
    "display_channels",
    "new_figure",
    "rgb_channel_indices",
    "save_figure",
    "save_message_figure",
]

#: Resolution of the saved PNG files, in dots per inch.
DPI = 120

#: Effective wavelengths (nm, approximate) of common band names, used by
#: :func:`rgb_channel_indices` to order named bands from blue to red.
BAND_WAVELENGTH_NM = {
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
LUPTON_Q = 8.0

#: Percentile of the background-subtracted intensity mapped to full scale.
STRETCH_PERCENTILE = 99.5


def new_figure(width_in: float, height_in: float) -> Figure:
    """Create a pyplot-free figure with an Agg canvas attached.

    Parameters
    ----------
    width_in, height_in : float
        Figure size in inches.

    Returns
    -------
    matplotlib.figure.Figure
        The figure, at :data:`DPI` dots per inch, using the constrained
        layout engine.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width_in, height_in), dpi=DPI, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def save_figure(fig: Figure, path: str | os.PathLike[str], *, title: str | None = None) -> Path:
    """Save a figure as PNG atomically.

    The image is written to a hidden temporary file in the same folder as
    ``path`` and then renamed onto it (:func:`astrocnn.io.atomic.atomic_path`);
    if saving fails the temporary file is removed and an existing ``path``
    is left untouched.

    Parameters
    ----------
    fig : matplotlib.figure.Figure
        The figure to save (at :data:`DPI` dots per inch, PNG format whatever
        the file name's suffix).
    path : str or os.PathLike
        Destination file.  Its folder must exist.
    title : str, optional
        If given (and not empty), set as the figure's title
        (:meth:`~matplotlib.figure.Figure.suptitle`) before saving.

    Returns
    -------
    pathlib.Path
        ``path``.

    Raises
    ------
    astrocnn.errors.OutputError
        If the folder of ``path`` does not exist or is not writable, or
        writing or renaming the file fails with an :class:`OSError`.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    path = Path(path)
    if title:
        fig.suptitle(title)
    if not isinstance(fig.canvas, FigureCanvasAgg):
        FigureCanvasAgg(fig)
    with atomic_path(path, suffix=".png") as tmp:
        fig.savefig(tmp, format="png", dpi=DPI)
    return path


def save_message_figure(
    path: str | os.PathLike[str],
    message: str,
    *,
    fontsize: float | None = None,
    title: str | None = None,
) -> Path:
    """Save a small figure that only shows a message, e.g. "no objects".

    Parameters
    ----------
    path : str or os.PathLike
        Output PNG file, as in :func:`save_figure`.
    message : str
        Text written in the middle of the figure (4.0 by 2.5 inches, no axes).
    fontsize : float, optional
        Font size of the message; default matplotlib's.
    title : str, optional
        Figure title, above the message (as in :func:`save_figure`).

    Returns
    -------
    pathlib.Path
        ``path``, written by :func:`save_figure`.

    Raises
    ------
    astrocnn.errors.OutputError
        As :func:`save_figure`.
    """
    fig = new_figure(4.0, 2.5)
    ax = fig.subplots()
    style = {} if fontsize is None else {"fontsize": fontsize}
    ax.text(0.5, 0.5, message, ha="center", va="center", transform=ax.transAxes, **style)
    ax.set_axis_off()
    return save_figure(fig, path, title=title)


def _band_key(name: str) -> str:
    """Normalise a band name for look-up in :data:`BAND_WAVELENGTH_NM`."""
    key = name.strip().lower()
    for prefix in ("hsc-", "hsc_", "des-", "des_", "lsst-", "lsst_", "sdss-", "sdss_"):
        key = key.removeprefix(prefix)
    if key.endswith("band") and len(key) > 4:
        key = key[: -len("band")].rstrip("-_ ")
    return key


def rgb_channel_indices(n_channels: int, bands: Sequence[str] | None) -> tuple[int, int, int]:
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

    0. ``bands`` names the colour channels of a JPEG/PNG composite, ``R``,
       ``G`` and ``B`` (upper case): shown as they are.
    1. ``bands`` contains ``g``, ``r`` and ``i`` (case-insensitive): (i, r, g)
       -> (R, G, B), the usual optical composite.
    2. Every name in ``bands`` is a known band (u g r i z y VIS J H K Ks):
       the three longest-wavelength bands, the reddest as R.
    3. Otherwise (no names, or unknown names): channels are assumed to be
       ordered from blue to red, and the last three become R = ``C-1``,
       G = ``C-2``, B = ``C-3``.

    Band names are matched without case, survey prefixes (``HSC-``,
    ``DES-``, ``LSST-``, ``SDSS-``) and a ``band`` suffix.
    """
    if bands is not None:
        names = [str(b).strip() for b in bands]
        if {"R", "G", "B"} <= set(names):
            return names.index("R"), names.index("G"), names.index("B")
        keys = [_band_key(b) for b in bands]
        if {"g", "r", "i"} <= set(keys):
            return keys.index("i"), keys.index("r"), keys.index("g")
        if all(k in BAND_WAVELENGTH_NM for k in keys):
            by_wavelength = sorted(range(n_channels), key=lambda c: BAND_WAVELENGTH_NM[keys[c]])
            red, green, blue = by_wavelength[-1], by_wavelength[-2], by_wavelength[-3]
            return red, green, blue
    return n_channels - 1, n_channels - 2, n_channels - 3


def check_band_names(bands: Sequence[str] | None, n_channels: int) -> list[str] | None:
    """Validate the band names of the channels of an image stack.

    Parameters
    ----------
    bands : sequence of str, optional
        One name per channel; None when the bands are not named.
    n_channels : int
        Number of channels of the images.

    Returns
    -------
    list of str or None
        The names as strings (None when ``bands`` is None).

    Raises
    ------
    ValueError
        If ``bands`` does not hold ``n_channels`` names.
    """
    if bands is None:
        return None
    names = [str(b) for b in bands]
    if len(names) != n_channels:
        raise ValueError(f"got {len(names)} band names for {n_channels} channels")
    return names


def display_channels(n_channels: int, bands: Sequence[str] | None) -> tuple[list[int], str | None]:
    """Channels to display and their caption, for images of ``n_channels`` bands.

    Parameters
    ----------
    n_channels : int
        Number of channels ``C`` of the images, at least 1.
    bands : sequence of str, optional
        Band name of each channel (see :func:`check_band_names`).

    Returns
    -------
    channels : list of int
        With ``C >= 3``, the (R, G, B) channels of the colour composite
        (:func:`rgb_channel_indices`); otherwise ``[0]``, the first channel,
        shown in grey.
    caption : str or None
        ``"RGB = (i, r, g)"`` or ``"band r"`` from the band names; None
        when the bands are not named.
    """
    if n_channels >= 3:
        red, green, blue = rgb_channel_indices(n_channels, bands)
        caption = f"RGB = ({bands[red]}, {bands[green]}, {bands[blue]})" if bands else None
        return [red, green, blue], caption
    return [0], f"band {bands[0]}" if bands else None


def asinh_stretch(channels: np.ndarray) -> np.ndarray:
    """Lupton-style asinh stretch of a set of images with one robust scale.

    Parameters
    ----------
    channels : numpy.ndarray, shape (N, H, W, K)
        The K (1 or 3) channels to display, for the whole set (e.g. a
        gallery).

    Returns
    -------
    numpy.ndarray of float64, shape (N, H, W, K)
        Values in [0, 1].

    Notes
    -----
    Following Lupton et al. (2004, PASP 116, 133), with one scale for the
    whole set so that objects can be compared by eye:

    * each channel has its background (median over the set) subtracted;
    * the intensity ``I`` (mean over channels) is mapped to
      ``asinh(Q I / stretch) / asinh(Q)`` with ``Q =`` :data:`LUPTON_Q` (8)
      and ``stretch`` the :data:`STRETCH_PERCENTILE` (99.5th) percentile of
      ``I`` over the set, and every channel is multiplied by that factor
      divided by ``I``, which preserves colours;
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
    stretch = float(np.percentile(positive, STRETCH_PERCENTILE)) if positive.size else 0.0
    if not (math.isfinite(stretch) and stretch > 0):
        stretch = 1.0
    with np.errstate(divide="ignore", invalid="ignore"):
        factor = np.where(
            intensity > 0,
            np.arcsinh(LUPTON_Q * intensity / stretch) / (math.asinh(LUPTON_Q) * intensity),
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
        Figure title; the bands shown (e.g. ``RGB = (i, r, g)`` or
        ``band r``) are appended to it when ``bands`` is given.

    Returns
    -------
    pathlib.Path
        ``path``.

    Raises
    ------
    ValueError
        If ``images`` does not have 3 or 4 dimensions, ``titles`` or
        ``bands`` has the wrong length, or ``ncols < 1``.
    astrocnn.errors.OutputError
        If the folder of ``path`` does not exist or the file cannot be
        written.

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
    bands = check_band_names(bands, n_chan)

    if n_img == 0:
        return save_message_figure(path, "no objects", fontsize=14, title=suptitle)

    channels, rgb_label = display_channels(n_chan, bands)
    display = asinh_stretch(arr[..., channels])
    if len(channels) == 1:
        display = display[..., 0]

    ncols_eff = min(ncols, n_img)
    nrows = math.ceil(n_img / ncols_eff)
    panel_w = 2.0
    panel_h = 2.3 if titles is not None else 2.05
    extra_h = 0.4 if (suptitle or rgb_label) else 0.0
    fig = new_figure(panel_w * ncols_eff, panel_h * nrows + extra_h)
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
    return save_figure(fig, path)
