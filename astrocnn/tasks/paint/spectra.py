"""Statistics of periodic 2-D maps: power spectra, transfer functions, one-point PDFs.

These are the numbers by which a map-to-map network ("painting baryons" on
dark matter, e.g. Tröster et al. 2019, MNRAS 487, L24) is judged: not the
pixel loss, but whether the predicted maps have the right clustering
(transfer function :math:`T(k)`), are in phase with the truth (cross-correlation
coefficient :math:`r(k)`) and have the right one-point distribution.

Conventions
-----------
A map is a square array of ``N x N`` pixels covering a periodic box of side
``L = box_size`` (in Mpc/h); the pixel side is ``L / N``.  A *stack* of maps
is an array ``(n, N, N)``; every statistic accepts a single map or a stack.

**Fourier convention and normalisation.**  With :math:`\\tilde\\delta_{\\mathbf k}
= \\sum_{\\mathbf x} \\delta(\\mathbf x)\\, e^{-i \\mathbf k\\cdot \\mathbf x}` the
discrete Fourier transform (:func:`numpy.fft.rfft2`), the power spectrum of a
mode is

.. math::  P(\\mathbf k) = \\frac{(L/N)^4}{L^2}\\, |\\tilde\\delta_{\\mathbf k}|^2
           = \\frac{L^2}{N^4} |\\tilde\\delta_{\\mathbf k}|^2 ,

which has units of area, (Mpc/h)^2, and approximates the continuum power
spectrum of the field.  With it

* Parseval: the variance of the map is :math:`\\sigma^2 = L^{-2} \\sum_{\\mathbf k
  \\ne 0} P(\\mathbf k)` (sum over the full ``N x N`` grid of modes);
* white noise of variance :math:`s^2` per pixel has the flat spectrum
  :math:`P = s^2 (L/N)^2` (its expectation; every mode is exponentially
  distributed about it);
* the spectrum of a map of ``1 + delta`` is that of ``delta`` (the mean only
  enters the excluded :math:`k = 0` mode).

The cross-spectrum of two maps uses :math:`\\mathrm{Re}(\\tilde a_{\\mathbf k}
\\tilde b^*_{\\mathbf k})` in place of :math:`|\\tilde\\delta_{\\mathbf k}|^2`.

**Binning.**  Modes are averaged in linearly spaced shells of :math:`|\\mathbf k|`
from the fundamental :math:`k_f = 2\\pi/L` to the Nyquist wavenumber
:math:`k_{\\rm Nyq} = \\pi N / L`: ``n_bins`` bins with edges
``linspace(k_f / 2, k_Nyq + k_f / 2, n_bins + 1)``.  The default ``n_bins =
N // 2`` gives shells of width :math:`k_f` centred on :math:`k_f, 2k_f, \\dots,
k_{\\rm Nyq}`.  The :math:`k = 0` mode and the "corner" modes with
:math:`|\\mathbf k| > k_{\\rm Nyq} + k_f/2` are left out.  The returned ``k`` of
a bin is the mean :math:`|\\mathbf k|` of its modes (the bin centre for an empty
bin, whose power is NaN) and ``n_modes`` the number of modes of the full
``N x N`` grid in it (``k`` and ``-k`` counted separately, so for a real map
about half are independent), per map.  For a stack, the spectrum is the mean
over all maps.

Ratios of stacks (:func:`transfer_function`, :func:`cross_correlation`) average
the spectra over maps first, then take the ratio.

All functions are pure numpy, take any array-like input (converted to
float64) and raise :class:`ValueError` on malformed input.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence

import numpy as np
from numpy.typing import ArrayLike

__all__ = [
    "TRANSFORMS",
    "apply_transform",
    "cross_correlation",
    "cross_spectrum_2d",
    "paint_report",
    "pdf_comparison",
    "power_spectrum_2d",
    "transfer_function",
]

#: Number of maps transformed at once (bounds the memory of the FFTs).
_FFT_CHUNK = 16

#: Named one-point transforms: ``"linear"`` (identity), ``"log10"`` (values
#: must be positive) and ``"log10p1"`` (``log10(1 + x)``, values must be > -1).
TRANSFORMS = ("linear", "log10", "log10p1")

Transform = str | Callable[[np.ndarray], np.ndarray] | None


def apply_transform(values: ArrayLike, transform: Transform) -> np.ndarray:
    """Apply a named (or callable) one-point transform.

    Parameters
    ----------
    values : array_like
        The values.
    transform : {"linear", "log10", "log10p1"}, callable or None
        ``None`` and ``"linear"`` are the identity; ``"log10"`` requires
        positive values; ``"log10p1"`` is ``log10(1 + x)`` and requires
        values above -1.  A callable is applied as is.

    Returns
    -------
    numpy.ndarray
        The transformed values, float64.

    Raises
    ------
    ValueError
        If the transform is unknown or the values are outside its domain.
    """
    arr = np.asarray(values, dtype=np.float64)
    if transform is None or transform == "linear":
        return arr
    if callable(transform):
        return np.asarray(transform(arr), dtype=np.float64)
    if transform == "log10":
        if np.any(arr <= 0):
            raise ValueError(
                "transform 'log10' needs positive values; use 'log10p1' or 'linear' "
                "for maps with zeros or negative values"
            )
        return np.log10(arr)
    if transform == "log10p1":
        if np.any(arr <= -1):
            raise ValueError("transform 'log10p1' needs values above -1")
        return np.log10(1.0 + arr)
    raise ValueError(f"unknown transform {transform!r}; expected one of {TRANSFORMS} or a callable")


def _check_box(box_size: float) -> float:
    box = float(box_size)
    if not (math.isfinite(box) and box > 0):
        raise ValueError(f"box_size must be a positive finite number, got {box_size!r}")
    return box


def _as_stack(field: ArrayLike, name: str) -> np.ndarray:
    """(n, N, N) float64 stack from one map (N, N) or a stack."""
    arr = np.asarray(field, dtype=np.float64)
    if arr.ndim == 2:
        arr = arr[None]
    if arr.ndim != 3:
        raise ValueError(f"{name} must be a map (N, N) or a stack (n, N, N), got shape {arr.shape}")
    n, ny, nx = arr.shape
    if n == 0:
        raise ValueError(f"{name} is an empty stack")
    if ny != nx or ny < 2:
        raise ValueError(f"{name} maps must be square with N >= 2 pixels, got {ny} x {nx}")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} contains NaN or infinite values")
    return arr


def _stack_pair(
    a: ArrayLike, b: ArrayLike, name_a: str, name_b: str
) -> tuple[np.ndarray, np.ndarray]:
    """Two stacks (:func:`_as_stack`) that must have the same shape."""
    sa = _as_stack(a, name_a)
    sb = _as_stack(b, name_b)
    if sa.shape != sb.shape:
        raise ValueError(
            f"{name_a} and {name_b} must have the same shape, got {sa.shape} and {sb.shape}"
        )
    return sa, sb


def _bins(n: int, box: float, n_bins: int | None) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    """Bin index and weight of every rfft2 mode, bin centres, number of bins."""
    kf = 2.0 * math.pi / box
    k_nyq = math.pi * n / box
    if n_bins is None:
        n_bins = n // 2
    if isinstance(n_bins, bool) or int(n_bins) != n_bins or n_bins < 1:
        raise ValueError(f"n_bins must be a positive integer, got {n_bins!r}")
    n_bins = int(n_bins)
    ky = kf * np.fft.fftfreq(n, d=1.0 / n)
    kx = kf * np.fft.rfftfreq(n, d=1.0 / n)
    kmag = np.hypot(ky[:, None], kx[None, :])
    # rfft2 stores half the plane: every column but kx = 0 (and kx = Nyquist
    # for even N) stands for two modes, k and -k.
    weight = np.full(kmag.shape, 2.0)
    weight[:, 0] = 1.0
    if n % 2 == 0:
        weight[:, -1] = 1.0
    edges = np.linspace(0.5 * kf, k_nyq + 0.5 * kf, n_bins + 1)
    idx = np.searchsorted(edges, kmag, side="right") - 1
    idx[(idx >= n_bins) | (kmag == 0)] = -1
    centres = 0.5 * (edges[1:] + edges[:-1])
    return idx, weight, centres, n_bins


def _binned_spectrum(
    a: np.ndarray, b: np.ndarray | None, box: float, n_bins: int | None, subtract_mean: bool
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Shared worker of the auto- and cross-spectra (stacks already validated)."""
    n_maps, n, _ = a.shape
    idx, weight, centres, n_bins = _bins(n, box, n_bins)
    sel = idx >= 0
    bin_of = idx[sel]
    w = weight[sel]
    n_modes = np.bincount(bin_of, weights=w, minlength=n_bins)
    kf = 2.0 * math.pi / box
    ky = kf * np.fft.fftfreq(n, d=1.0 / n)
    kx = kf * np.fft.rfftfreq(n, d=1.0 / n)
    kmag = np.hypot(ky[:, None], kx[None, :])[sel]
    with np.errstate(invalid="ignore", divide="ignore"):
        k_mean = np.bincount(bin_of, weights=w * kmag, minlength=n_bins) / n_modes
    k_mean = np.where(n_modes > 0, k_mean, centres)

    norm = box**2 / float(n) ** 4
    total = np.zeros(n_bins)
    for start in range(0, n_maps, _FFT_CHUNK):
        chunk_a = a[start : start + _FFT_CHUNK]
        if subtract_mean:
            chunk_a = chunk_a - chunk_a.mean(axis=(1, 2), keepdims=True)
        fa = np.fft.rfft2(chunk_a)
        if b is None:
            p = fa.real**2 + fa.imag**2
        else:
            chunk_b = b[start : start + _FFT_CHUNK]
            if subtract_mean:
                chunk_b = chunk_b - chunk_b.mean(axis=(1, 2), keepdims=True)
            fb = np.fft.rfft2(chunk_b)
            p = fa.real * fb.real + fa.imag * fb.imag
        total += np.bincount(bin_of, weights=w * p.sum(axis=0)[sel], minlength=n_bins)
    with np.errstate(invalid="ignore", divide="ignore"):
        power = norm * total / (n_modes * n_maps)
    power = np.where(n_modes > 0, power, np.nan)
    return k_mean, power, n_modes.astype(np.int64)


def power_spectrum_2d(
    field: ArrayLike, box_size: float, *, n_bins: int | None = None, subtract_mean: bool = True
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Azimuthally averaged power spectrum of a periodic 2-D map (or a stack).

    Parameters
    ----------
    field : array_like
        One map ``(N, N)`` or a stack ``(n, N, N)``; the spectrum of a stack
        is the mean over its maps.
    box_size : float
        Side ``L`` of the periodic box, in Mpc/h.
    n_bins : int, optional
        Number of linear :math:`|k|` bins between :math:`k_f/2` and
        :math:`k_{\\rm Nyq} + k_f/2`; default ``N // 2`` (bins of width
        :math:`k_f = 2\\pi/L`).
    subtract_mean : bool, optional
        Subtract each map's mean before the FFT.  The mean only feeds the
        excluded :math:`k = 0` mode, so this changes the result only by
        round-off (it helps for float32 maps of ``1 + delta``).

    Returns
    -------
    k : numpy.ndarray
        Mean :math:`|k|` of the modes in each bin, in h/Mpc.
    power : numpy.ndarray
        :math:`P(k)` in (Mpc/h)^2, normalised so that white noise of variance
        :math:`s^2` gives :math:`s^2 (L/N)^2` (see the module notes); NaN in
        an empty bin.
    n_modes : numpy.ndarray
        Number of modes of the full ``N x N`` grid in each bin, per map.

    Raises
    ------
    ValueError
        If the maps are not square, contain non-finite values, or
        ``box_size`` or ``n_bins`` is invalid.
    """
    box = _check_box(box_size)
    a = _as_stack(field, "field")
    return _binned_spectrum(a, None, box, n_bins, subtract_mean)


def cross_spectrum_2d(
    a: ArrayLike,
    b: ArrayLike,
    box_size: float,
    *,
    n_bins: int | None = None,
    subtract_mean: bool = True,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Azimuthally averaged cross-power spectrum of two periodic 2-D maps.

    Parameters
    ----------
    a, b : array_like
        Maps ``(N, N)`` or stacks ``(n, N, N)`` of the same shape; map ``i``
        of ``a`` is paired with map ``i`` of ``b``.
    box_size, n_bins, subtract_mean
        Box side (Mpc/h), number of :math:`|k|` bins and mean subtraction,
        as in :func:`power_spectrum_2d`.

    Returns
    -------
    k, n_modes : numpy.ndarray
        Mean :math:`|k|` (h/Mpc) and number of modes per bin and map, as in
        :func:`power_spectrum_2d`.
    power : numpy.ndarray
        :math:`P_{ab}(k)` in (Mpc/h)^2 (the mean of
        :math:`\\mathrm{Re}\\,\\tilde a \\tilde b^*` with the normalisation of
        :func:`power_spectrum_2d`; may be negative).

    Raises
    ------
    ValueError
        If the shapes differ or an input is invalid.
    """
    box = _check_box(box_size)
    sa, sb = _stack_pair(a, b, "a", "b")
    return _binned_spectrum(sa, sb, box, n_bins, subtract_mean)


def _three_spectra(
    a: np.ndarray, b: np.ndarray, box: float, n_bins: int | None, subtract_mean: bool
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """``k``, :math:`P_a`, :math:`P_b`, :math:`P_{ab}` and ``n_modes`` of validated stacks."""
    k, p_a, n_modes = _binned_spectrum(a, None, box, n_bins, subtract_mean)
    _, p_b, _ = _binned_spectrum(b, None, box, n_bins, subtract_mean)
    _, p_ab, _ = _binned_spectrum(a, b, box, n_bins, subtract_mean)
    return k, p_a, p_b, p_ab, n_modes


def _spectra_triplet(
    pred: ArrayLike, true: ArrayLike, box_size: float, n_bins: int | None, subtract_mean: bool
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Validate ``pred`` and ``true``; then :func:`_three_spectra` of them."""
    box = _check_box(box_size)
    sp, st = _stack_pair(pred, true, "pred", "true")
    return _three_spectra(sp, st, box, n_bins, subtract_mean)


def _transfer(p_pred: np.ndarray, p_true: np.ndarray) -> np.ndarray:
    """:math:`T = \\sqrt{P_{\\rm pred} / P_{\\rm true}}`, NaN where :math:`P_{\\rm true} = 0`."""
    with np.errstate(invalid="ignore", divide="ignore"):
        transfer = np.sqrt(p_pred / p_true)
    return np.where(p_true > 0, transfer, np.nan)


def _correlation(p_pred: np.ndarray, p_true: np.ndarray, p_cross: np.ndarray) -> np.ndarray:
    """:math:`r = P_\\times / \\sqrt{P_{\\rm pred} P_{\\rm true}}` in [-1, 1]; NaN if undefined."""
    with np.errstate(invalid="ignore", divide="ignore"):
        denom = np.sqrt(p_pred * p_true)
        r = p_cross / denom
    return np.where(denom > 0, np.clip(r, -1.0, 1.0), np.nan)


def transfer_function(
    pred: ArrayLike,
    true: ArrayLike,
    box_size: float,
    *,
    n_bins: int | None = None,
    subtract_mean: bool = True,
) -> tuple[np.ndarray, np.ndarray]:
    """Transfer function :math:`T(k) = \\sqrt{P_{\\rm pred}(k) / P_{\\rm true}(k)}`.

    Parameters
    ----------
    pred, true : array_like
        Predicted and true maps ``(N, N)`` or stacks ``(n, N, N)`` of the
        same shape.  For stacks both spectra are averaged over the maps
        before the ratio.
    box_size, n_bins, subtract_mean
        Box side (Mpc/h), number of :math:`|k|` bins and mean subtraction,
        as in :func:`power_spectrum_2d`.

    Returns
    -------
    k : numpy.ndarray
        Mean :math:`|k|` per bin, in h/Mpc.
    transfer : numpy.ndarray
        :math:`T(k)`; 1 for a perfect prediction, NaN where
        :math:`P_{\\rm true} = 0`.
    """
    k, p_pred, p_true, _, _ = _spectra_triplet(pred, true, box_size, n_bins, subtract_mean)
    return k, _transfer(p_pred, p_true)


def cross_correlation(
    pred: ArrayLike,
    true: ArrayLike,
    box_size: float,
    *,
    n_bins: int | None = None,
    subtract_mean: bool = True,
) -> tuple[np.ndarray, np.ndarray]:
    """Cross-correlation coefficient :math:`r(k) = P_\\times / \\sqrt{P_{\\rm pred} P_{\\rm true}}`.

    Parameters
    ----------
    pred, true, box_size, n_bins, subtract_mean
        As in :func:`transfer_function`; for stacks the three spectra are
        averaged over the maps before the ratio.

    Returns
    -------
    k : numpy.ndarray
        Mean :math:`|k|` per bin, in h/Mpc.
    r : numpy.ndarray
        :math:`r(k)` in [-1, 1]: 1 where the prediction is the truth times a
        positive factor in that shell, about 0 for an independent map; NaN
        where either auto-spectrum is zero.
    """
    k, p_pred, p_true, p_cross, _ = _spectra_triplet(pred, true, box_size, n_bins, subtract_mean)
    return k, _correlation(p_pred, p_true, p_cross)


def _ks_statistic(a: np.ndarray, b: np.ndarray) -> float:
    """Two-sample Kolmogorov-Smirnov statistic (max distance of the ECDFs)."""
    a = np.sort(a)
    b = np.sort(b)
    grid = np.concatenate([a, b])
    cdf_a = np.searchsorted(a, grid, side="right") / a.size
    cdf_b = np.searchsorted(b, grid, side="right") / b.size
    return float(np.max(np.abs(cdf_a - cdf_b)))


def pdf_comparison(
    pred: ArrayLike,
    true: ArrayLike,
    *,
    bins: int | ArrayLike = 50,
    transform: Transform = "log10",
    value_range: tuple[float, float] | None = None,
) -> dict[str, np.ndarray | float]:
    """Compare the one-point distributions (pixel PDFs) of two sets of maps.

    Parameters
    ----------
    pred, true : array_like
        Predicted and true pixel values, any shapes (flattened).
    bins : int or array_like, optional
        Number of histogram bins, or the bin edges (in the transformed
        space).
    transform : {"log10", "linear", "log10p1"} or callable, optional
        Transform applied to the values before comparing (see
        :func:`apply_transform`); default ``"log10"``.
    value_range : (float, float), optional
        Histogram range in the transformed space when ``bins`` is a number;
        default the range of both sets of values together.

    Returns
    -------
    dict
        ``bin_edges``; ``hist_true`` and ``hist_pred``, probability densities
        (each integrates to 1 over the histogram range, counting only values
        inside it); ``ks``, the two-sample Kolmogorov-Smirnov statistic of
        the transformed values (all of them); ``l1``, the L1 distance
        :math:`\\sum_i |p_i - q_i|` between the normalised histograms
        (probabilities per bin), in [0, 2].

    Raises
    ------
    ValueError
        If an input is empty, non-finite after the transform, or outside the
        transform's domain.
    """
    tp = apply_transform(np.ravel(np.asarray(pred, dtype=np.float64)), transform)
    tt = apply_transform(np.ravel(np.asarray(true, dtype=np.float64)), transform)
    if tp.size == 0 or tt.size == 0:
        raise ValueError("pred and true must not be empty")
    if not (np.all(np.isfinite(tp)) and np.all(np.isfinite(tt))):
        raise ValueError("pred and true must be finite (after the transform)")
    if np.ndim(bins) == 0:
        n_bins = int(bins)
        if n_bins < 1:
            raise ValueError(f"bins must be a positive integer, got {bins!r}")
        if value_range is None:
            lo = min(tp.min(), tt.min())
            hi = max(tp.max(), tt.max())
        else:
            lo, hi = (float(v) for v in value_range)
        if not hi > lo:
            lo, hi = lo - 0.5, hi + 0.5
        edges = np.linspace(lo, hi, n_bins + 1)
    else:
        edges = np.asarray(bins, dtype=np.float64)
        if edges.ndim != 1 or edges.size < 2 or np.any(np.diff(edges) <= 0):
            raise ValueError("bin edges must be a 1-D increasing sequence of >= 2 values")
    counts_t, _ = np.histogram(tt, bins=edges)
    counts_p, _ = np.histogram(tp, bins=edges)
    width = np.diff(edges)
    prob_t = counts_t / max(counts_t.sum(), 1)
    prob_p = counts_p / max(counts_p.sum(), 1)
    return {
        "bin_edges": edges,
        "hist_true": prob_t / width,
        "hist_pred": prob_p / width,
        "ks": _ks_statistic(tp, tt),
        "l1": float(np.abs(prob_t - prob_p).sum()),
    }


def _as_channel_stack(values: ArrayLike, name: str) -> np.ndarray:
    """(n, N, N, C) float64 from one map (N, N, C) or a stack (n, N, N, C)."""
    arr = np.asarray(values, dtype=np.float64)
    if arr.ndim == 3:
        arr = arr[None]
    if arr.ndim != 4:
        raise ValueError(
            f"{name} must be a map (N, N, C) or a stack (n, N, N, C), got shape {arr.shape}"
        )
    if arr.shape[0] == 0 or arr.shape[1] != arr.shape[2] or arr.shape[1] < 2:
        raise ValueError(f"{name} must hold square maps of N >= 2 pixels, got shape {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} contains NaN or infinite values")
    return arr


def _channel_transforms(
    transforms: Transform | Sequence[Transform] | Mapping[str, Transform],
    channel_names: Sequence[str],
    default: Transform = "log10",
) -> list[Transform]:
    """One transform per channel from None, one transform, a sequence or a mapping."""
    n = len(channel_names)
    if transforms is None:
        return [default] * n
    if isinstance(transforms, str) or callable(transforms):
        return [transforms] * n
    if isinstance(transforms, Mapping):
        unknown = set(transforms) - set(channel_names)
        if unknown:
            raise ValueError(f"transforms given for unknown channels: {sorted(unknown)}")
        return [transforms.get(name, default) for name in channel_names]
    out = list(transforms)
    if len(out) != n:
        raise ValueError(f"expected {n} transforms (one per channel), got {len(out)}")
    return out


def _json_list(values: np.ndarray) -> list[float | None]:
    return [float(v) if math.isfinite(v) else None for v in np.asarray(values, dtype=float)]


def _json_float(value: float) -> float | None:
    value = float(value)
    return value if math.isfinite(value) else None


def paint_report(
    pred: ArrayLike,
    true: ArrayLike,
    box_size: float,
    *,
    channel_names: Sequence[str],
    transforms: Transform | Sequence[Transform] | Mapping[str, Transform] = None,
    k_max_fraction: float = 0.5,
    n_bins: int | None = None,
    pdf_bins: int = 50,
    spectra_space: str = "physical",
) -> dict[str, dict[str, object]]:
    """Science metrics of painted maps, per output channel, as a JSON-friendly dict.

    Parameters
    ----------
    pred, true : array_like
        Predicted and true maps, one map ``(N, N, C)`` or a stack
        ``(n, N, N, C)`` of the same shape, in physical units.
    box_size : float
        Side of the periodic box, in Mpc/h.
    channel_names : sequence of str
        Names of the ``C`` channels (keys of the result).
    transforms : str, callable, sequence or mapping, optional
        One-point transform per channel (see :func:`apply_transform`): one
        for all channels, one per channel, or a mapping channel name ->
        transform (missing names get the default).  Default ``"log10"`` for
        every channel (densities, temperatures).
    k_max_fraction : float, optional
        The summary numbers ``max_abs_transfer_minus_1`` and ``min_r`` are
        taken over the bins with :math:`k \\le` ``k_max_fraction`` times
        :math:`k_{\\rm Nyq}`; default 0.5.
    n_bins : int, optional
        Number of :math:`|k|` bins (see :func:`power_spectrum_2d`).
    pdf_bins : int, optional
        Number of bins of the one-point histograms.
    spectra_space : {"physical", "transformed"}, optional
        Whether the spectra are those of the maps themselves (default) or of
        the transformed maps (e.g. log10 density).

    Returns
    -------
    dict
        ``{channel_name: {...}}`` with, for each channel: ``transform`` (its
        name), ``mse`` (pixel mean squared error in the transformed space),
        ``k`` (h/Mpc), ``transfer`` and ``r`` (lists, NaN written as
        ``None``), ``n_modes``, ``k_nyquist``, ``k_max`` (the limit of the
        summaries), ``max_abs_transfer_minus_1`` and ``min_r`` (over
        :math:`k \\le k_{\\rm max}`), ``pdf_ks`` and ``pdf_l1``
        (:func:`pdf_comparison` in the transformed space).  Only built-in
        types: ``json.dumps`` works on it.

    Raises
    ------
    ValueError
        If shapes or channel names disagree, the box size, ``k_max_fraction``
        or ``spectra_space`` is invalid, or values are outside a transform's
        domain.
    """
    box = _check_box(box_size)
    sp = _as_channel_stack(pred, "pred")
    st = _as_channel_stack(true, "true")
    if sp.shape != st.shape:
        raise ValueError(f"pred and true must have the same shape, got {sp.shape} and {st.shape}")
    names = [str(c) for c in channel_names]
    if len(names) != sp.shape[-1]:
        raise ValueError(f"{len(names)} channel names for {sp.shape[-1]} channels")
    if len(set(names)) != len(names):
        raise ValueError(f"channel names must be unique, got {names}")
    frac = float(k_max_fraction)
    if not (0.0 < frac <= 1.0):
        raise ValueError(f"k_max_fraction must be in (0, 1], got {k_max_fraction!r}")
    if spectra_space not in ("physical", "transformed"):
        raise ValueError(
            f"spectra_space must be 'physical' or 'transformed', got {spectra_space!r}"
        )
    per_channel = _channel_transforms(transforms, names)
    n_pix = sp.shape[1]
    k_nyq = math.pi * n_pix / box
    k_max = frac * k_nyq

    report: dict[str, dict[str, object]] = {}
    for c, (name, transform) in enumerate(zip(names, per_channel, strict=True)):
        tp = apply_transform(sp[..., c], transform)
        tt = apply_transform(st[..., c], transform)
        mse = float(np.mean((tp - tt) ** 2))
        if spectra_space == "physical":
            a, b = sp[..., c], st[..., c]
        else:
            a, b = tp, tt
        k, p_pred, p_true, p_cross, n_modes = _three_spectra(a, b, box, n_bins, True)
        transfer = _transfer(p_pred, p_true)
        r = _correlation(p_pred, p_true, p_cross)
        low = (k <= k_max * (1 + 1e-12)) & np.isfinite(transfer) & np.isfinite(r)
        pdf = pdf_comparison(sp[..., c], st[..., c], bins=pdf_bins, transform=transform)
        report[name] = {
            "transform": transform if isinstance(transform, str) or transform is None else "custom",
            "mse": mse,
            "k": _json_list(k),
            "transfer": _json_list(transfer),
            "r": _json_list(r),
            "n_modes": [int(m) for m in n_modes],
            "k_nyquist": k_nyq,
            "k_max": k_max,
            "max_abs_transfer_minus_1": (
                _json_float(np.max(np.abs(transfer[low] - 1.0))) if low.any() else None
            ),
            "min_r": _json_float(np.min(r[low])) if low.any() else None,
            "pdf_ks": pdf["ks"],
            "pdf_l1": pdf["l1"],
        }
    return report
