"""Diagnostic plots of painted baryon maps: maps, transfer / correlation, one-point PDFs.

The figures that judge a dark-matter -> gas network (see
:mod:`astrocnn.tasks.paint.spectra` for the statistics): the maps side by side with the
residual, the transfer function :math:`T(k)` and cross-correlation
coefficient :math:`r(k)` per channel, and the pixel PDFs, each optionally with
the smoothed-dark-matter bias baseline (:mod:`astrocnn.tasks.paint.baseline`) for
comparison.

Every function writes one PNG file and returns its path, following the
contract of :mod:`astrocnn.viz` (no :mod:`matplotlib.pyplot`, atomic
writes); the target folder must exist, otherwise
:class:`astrocnn.errors.OutputError` is raised.

Maps are channels-last: one dark-matter map ``(N, N)`` and gas maps
``(N, N, C)`` (``(N, N)`` for one channel).  Densities are best displayed in
``log10`` (the default transform of every channel; see
:func:`astrocnn.tasks.paint.spectra.apply_transform`).
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
from numpy.typing import ArrayLike

from astrocnn import viz
from astrocnn.tasks.paint.spectra import (
    Transform,
    _channel_transforms,
    apply_transform,
    pdf_comparison,
)

__all__ = ["plot_maps", "plot_pdfs", "plot_transfer_and_correlation"]

#: Band of "good" transfer functions, :math:`|T - 1| <` this, drawn around 1.
TRANSFER_TOLERANCE = 0.1

#: Reference cross-correlation drawn on the :math:`r(k)` panel.
R_REFERENCE = 0.9

#: Line colours of the channels (cycled).
_COLOURS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#17becf")

TransformSpec = Transform | Sequence[Transform] | Mapping[str, Transform]


def _channels(values: ArrayLike, n_channels: int, name: str, spatial: int | None = None):
    """Float array with channels on the last axis (a 1-channel input may omit it)."""
    arr = np.asarray(values, dtype=np.float64)
    if n_channels == 1 and (arr.ndim == 0 or arr.shape[-1] != 1):
        arr = arr[..., None]
    if arr.ndim < 2 or arr.shape[-1] != n_channels:
        raise ValueError(
            f"{name} must have {n_channels} channel(s) on its last axis, got {arr.shape}"
        )
    if spatial is not None and arr.ndim != spatial + 1:
        raise ValueError(f"{name} must be a map (N, N, C), got shape {arr.shape}")
    return arr


def _gas_maps(
    true: ArrayLike,
    pred: ArrayLike,
    baseline: ArrayLike | None,
    channel_names: Sequence[str],
    transforms: TransformSpec,
    spatial: int | None = None,
) -> tuple[list[str], list[Transform], np.ndarray, np.ndarray, np.ndarray | None]:
    """Validate the truth, prediction and optional baseline of the same channels.

    Returns the channel names (as str), one transform per channel and the
    three arrays with channels last (``None`` for a missing baseline);
    ``spatial=2`` requires maps ``(N, N, C)``.
    """
    names = [str(c) for c in channel_names]
    t = _channels(true, len(names), "true", spatial)
    p = _channels(pred, len(names), "pred", spatial)
    b = None if baseline is None else _channels(baseline, len(names), "baseline", spatial)
    for other, label in ((p, "pred"), (b, "baseline")):
        if other is not None and other.shape != t.shape:
            raise ValueError(f"{label} shape {other.shape} differs from true {t.shape}")
    return names, _channel_transforms(transforms, names), t, p, b


def _label(transform: Transform, name: str) -> str:
    if transform == "log10":
        return f"log10 {name}"
    if transform == "log10p1":
        return f"log10(1 + {name})"
    return name


def plot_maps(
    dm: ArrayLike,
    true: ArrayLike,
    pred: ArrayLike,
    path: str | os.PathLike[str],
    *,
    channel_names: Sequence[str],
    baseline: ArrayLike | None = None,
    transforms: TransformSpec = None,
) -> Path:
    """Dark matter, true, predicted gas maps and residuals, one row per channel, as PNG.

    Columns: the dark-matter input (log10 display if positive), the truth, the
    prediction, with ``baseline`` the baseline, then the residual (prediction
    minus truth in the channel's transformed space, e.g.
    :math:`\\Delta \\log_{10}`) and with ``baseline`` the baseline's residual
    (columns sharing a colour scale are adjacent).  Truth, prediction and
    baseline share one colour scale per row (the truth's 0.5-99.5
    percentiles), the residuals one symmetric diverging scale per row.

    Parameters
    ----------
    dm : array_like
        Dark-matter map ``(N, N)`` (``1 + delta``).
    true, pred : array_like
        True and predicted gas maps ``(N, N, C)`` (``(N, N)`` for ``C = 1``).
    path : str or os.PathLike
        Output PNG file.
    channel_names : sequence of str
        Names of the ``C`` channels (row labels).
    baseline : array_like, optional
        Baseline prediction, same shape as ``pred``.
    transforms : str, callable, sequence or mapping, optional
        Display transform per channel (see :func:`astrocnn.tasks.paint.spectra.paint_report`);
        default ``"log10"`` for every channel.

    Returns
    -------
    pathlib.Path
        ``path``.

    Raises
    ------
    ValueError
        If ``dm`` is not one map of the size of the gas maps, the shapes of
        the gas maps disagree, or values are outside a transform's domain.
    """
    d = np.asarray(dm, dtype=np.float64)
    if d.ndim != 2:
        raise ValueError(f"dm must be one map (N, N), got shape {d.shape}")
    names, per_channel, t, p, b = _gas_maps(
        true, pred, baseline, channel_names, transforms, spatial=2
    )
    n_ch = len(names)
    if t.shape[:2] != d.shape:
        raise ValueError(f"gas maps {t.shape[:2]} and dm {d.shape} differ in size")
    dm_show = np.log10(d) if np.all(d > 0) else d
    dm_label = "log10 (1 + delta_DM)" if np.all(d > 0) else "1 + delta_DM"

    if b is None:
        titles = ["dark matter", "truth", "prediction", "residual"]
    else:
        titles = ["dark matter", "truth", "prediction", "baseline", "residual", "baseline residual"]
    n_cols = len(titles)
    fig = viz.new_figure(2.3 * n_cols, 2.2 * n_ch + 0.4)
    axes = fig.subplots(n_ch, n_cols, squeeze=False)
    for c, (name, transform) in enumerate(zip(names, per_channel, strict=True)):
        tt = apply_transform(t[..., c], transform)
        tp = apply_transform(p[..., c], transform)
        if b is None:
            panels = [tt, tp, tp - tt]
        else:
            tb = apply_transform(b[..., c], transform)
            panels = [tt, tp, tb, tp - tt, tb - tt]
        lo, hi = (float(v) for v in np.percentile(tt, [0.5, 99.5]))
        if not hi > lo:
            lo, hi = lo - 0.5, hi + 0.5
        resid = np.abs(
            np.concatenate([pn.ravel() for pn, ti in zip(panels, titles[1:]) if "residual" in ti])
        )
        rmax = float(np.percentile(resid, 99.0)) or 1.0
        row = axes[c]
        im = row[0].imshow(dm_show, origin="lower", cmap="gray_r")
        fig.colorbar(im, ax=row[0], shrink=0.8)
        map_im = res_im = None
        for j, panel in enumerate(panels, start=1):
            is_resid = titles[j].endswith("residual")
            if is_resid:
                res_im = row[j].imshow(panel, origin="lower", cmap="RdBu_r", vmin=-rmax, vmax=rmax)
            else:
                map_im = row[j].imshow(panel, origin="lower", cmap="magma", vmin=lo, vmax=hi)
        fig.colorbar(
            map_im,
            ax=[row[j] for j in range(1, n_cols) if not titles[j].endswith("residual")],
            shrink=0.8,
            label=_label(transform, name),
        )
        fig.colorbar(
            res_im,
            ax=[row[j] for j in range(1, n_cols) if titles[j].endswith("residual")],
            shrink=0.8,
            label="pred - true",
        )
        row[0].set_ylabel(name)
        for ax in row:
            ax.set_xticks([])
            ax.set_yticks([])
        if c == 0:
            for ax, title in zip(row, titles, strict=True):
                ax.set_title(title, fontsize=9)
        row[0].set_xlabel(dm_label, fontsize=7)
    return viz.save_figure(fig, path)


def _curves(values: ArrayLike, n_ch: int, n_k: int, name: str) -> np.ndarray:
    """(C, n_k) float curves; ``None`` entries (from JSON reports) become NaN."""
    arr = np.array(values, dtype=np.float64)
    if arr.ndim == 1:
        arr = arr[None]
    if arr.shape != (n_ch, n_k):
        raise ValueError(f"{name} must have shape ({n_ch}, {n_k}), got {arr.shape}")
    return arr


def plot_transfer_and_correlation(
    k: ArrayLike,
    transfer: ArrayLike,
    r: ArrayLike,
    path: str | os.PathLike[str],
    *,
    channel_names: Sequence[str],
    baseline: tuple[ArrayLike, ArrayLike] | Mapping[str, ArrayLike] | None = None,
    k_nyquist: float | None = None,
) -> Path:
    """Transfer function T(k) and cross-correlation r(k) of every channel, as PNG.

    Two panels, one line per channel: :math:`T(k)` (y axis clipped at 2) with the band
    :math:`|T - 1| <` :data:`TRANSFER_TOLERANCE` shaded, and :math:`r(k)` with
    the reference line :data:`R_REFERENCE`; the baseline in the same colour,
    dashed; with ``k_nyquist``, a vertical mark at half the Nyquist
    wavenumber (above which a 2-D map's spectrum is unreliable).

    Parameters
    ----------
    k : array_like
        Wavenumbers, h/Mpc, shape ``(n_k,)``.
    transfer, r : array_like
        ``(C, n_k)`` (``(n_k,)`` for one channel); ``None`` or NaN entries
        are gaps (lists from :func:`astrocnn.tasks.paint.spectra.paint_report` work).
    path : str or os.PathLike
        Output PNG file.
    channel_names : sequence of str
        Names of the ``C`` channels (legend).
    baseline : (transfer, r) or mapping, optional
        The baseline's curves on the same ``k``: a pair or a mapping with keys
        ``"transfer"`` and ``"r"``.
    k_nyquist : float, optional
        Nyquist wavenumber :math:`\\pi N / L`, h/Mpc.

    Returns
    -------
    pathlib.Path
        ``path``.

    Raises
    ------
    ValueError
        If the shapes disagree.
    """
    names = [str(c) for c in channel_names]
    kk = np.asarray(k, dtype=np.float64).ravel()
    n_ch, n_k = len(names), kk.size
    tr = _curves(transfer, n_ch, n_k, "transfer")
    rr = _curves(r, n_ch, n_k, "r")
    bt = br = np.full((n_ch, n_k), np.nan)
    if baseline is not None:
        if isinstance(baseline, Mapping):
            bt, br = baseline["transfer"], baseline["r"]
        else:
            bt, br = baseline
        bt = _curves(bt, n_ch, n_k, "baseline transfer")
        br = _curves(br, n_ch, n_k, "baseline r")

    from matplotlib.ticker import NullFormatter

    fig = viz.new_figure(9.0, 3.6)
    ax_t, ax_r = fig.subplots(1, 2)
    positive = kk > 0
    ax_t.axhspan(1 - TRANSFER_TOLERANCE, 1 + TRANSFER_TOLERANCE, color="0.9", zorder=0)
    ax_t.axhline(1.0, color="0.4", lw=0.8)
    ax_r.axhline(R_REFERENCE, color="0.4", lw=0.8, ls=":", label=f"r = {R_REFERENCE}")
    ax_r.axhline(1.0, color="0.4", lw=0.8)
    for c, name in enumerate(names):
        colour = _COLOURS[c % len(_COLOURS)]
        ax_t.plot(kk[positive], tr[c, positive], color=colour, label=name)
        ax_r.plot(kk[positive], rr[c, positive], color=colour, label=name)
        if baseline is not None:
            ax_t.plot(
                kk[positive], bt[c, positive], color=colour, ls="--", label=f"{name} baseline"
            )
            ax_r.plot(kk[positive], br[c, positive], color=colour, ls="--")
    if k_nyquist is not None:
        for ax in (ax_t, ax_r):
            ax.axvline(0.5 * float(k_nyquist), color="k", ls="-.", lw=0.8)
        ax_r.text(
            0.5 * float(k_nyquist),
            0.02,
            " k_Nyq / 2",
            transform=ax_r.get_xaxis_transform(),
            fontsize=7,
        )
    finite_t = [a[:, positive][np.isfinite(a[:, positive])] for a in (tr, bt)]
    t_max = max((float(a.max()) for a in finite_t if a.size), default=1.0)
    ax_t.set_ylim(0.0, min(2.0, max(1.0 + 2 * TRANSFER_TOLERANCE, 1.05 * t_max)))
    for ax, ylabel in ((ax_t, "T(k) = sqrt(P_pred / P_true)"), (ax_r, "r(k)")):
        if positive.any():
            ax.set_xscale("log")
            ax.xaxis.set_minor_formatter(NullFormatter())
        ax.set_xlabel("k [h/Mpc]")
        ax.set_ylabel(ylabel)
    ax_t.legend(fontsize=7)
    ax_r.legend(fontsize=7, loc="lower left")
    return viz.save_figure(fig, path)


def plot_pdfs(
    true: ArrayLike,
    pred: ArrayLike,
    path: str | os.PathLike[str],
    *,
    channel_names: Sequence[str],
    baseline: ArrayLike | None = None,
    transforms: TransformSpec = None,
    bins: int = 50,
) -> Path:
    """One-point distributions (pixel PDFs) of true and predicted maps, one panel per channel.

    Step histograms of the truth (black), the prediction (colour) and the
    baseline (dashed) in each channel's transformed space, with the
    Kolmogorov-Smirnov and L1 distances to the truth
    (:func:`astrocnn.tasks.paint.spectra.pdf_comparison`) in the legend.

    Parameters
    ----------
    true, pred : array_like
        Maps or stacks with channels last, ``(..., C)`` (the channel axis may
        be omitted for ``C = 1``), same shape.
    path : str or os.PathLike
        Output PNG file.
    channel_names, baseline, transforms
        As in :func:`plot_maps`: the names of the ``C`` channels (here the
        panel titles), a baseline prediction of the shape of ``pred``, and
        the transform of each channel (default ``"log10"``).
    bins : int, optional
        Number of histogram bins.

    Returns
    -------
    pathlib.Path
        ``path``.

    Raises
    ------
    ValueError
        If the shapes of ``true``, ``pred`` and ``baseline`` disagree or
        values are outside a transform's domain.
    """
    names, per_channel, t, p, b = _gas_maps(true, pred, baseline, channel_names, transforms)
    n_ch = len(names)

    fig = viz.new_figure(3.4 * n_ch, 3.2)
    axes = fig.subplots(1, n_ch, squeeze=False)[0]
    for c, (ax, name, transform) in enumerate(zip(axes, names, per_channel, strict=True)):
        tt = apply_transform(t[..., c], transform).ravel()
        tp = apply_transform(p[..., c], transform).ravel()
        arrays = [tt, tp]
        if b is not None:
            arrays.append(apply_transform(b[..., c], transform).ravel())
        lo = min(float(a.min()) for a in arrays)
        hi = max(float(a.max()) for a in arrays)
        if not hi > lo:
            lo, hi = lo - 0.5, hi + 0.5
        edges = np.linspace(lo, hi, int(bins) + 1)
        net = pdf_comparison(tp, tt, bins=edges, transform="linear")
        colour = _COLOURS[c % len(_COLOURS)]
        ax.stairs(net["hist_true"], edges, color="k", label="truth")
        ax.stairs(
            net["hist_pred"],
            edges,
            color=colour,
            label=f"prediction (KS {net['ks']:.3f}, L1 {net['l1']:.3f})",
        )
        if b is not None:
            base = pdf_comparison(arrays[2], tt, bins=edges, transform="linear")
            ax.stairs(
                base["hist_pred"],
                edges,
                color=colour,
                ls="--",
                label=f"baseline (KS {base['ks']:.3f}, L1 {base['l1']:.3f})",
            )
        ax.set_yscale("log")
        ax.set_xlabel(_label(transform, name))
        ax.set_ylabel("probability density")
        ax.set_title(name, fontsize=9)
        ax.legend(fontsize=6)
    return viz.save_figure(fig, path)
