"""Photometric-redshift metrics: point estimates, PDFs and ensembles.

Pure NumPy/SciPy functions, in the conventions of the photo-z literature
(e.g. Pasquet et al. 2019, A&A 621, A26; D'Isanto & Polsterer 2018, A&A 609,
A111):

* the normalised residual ``dz = (z_phot - z_true) / (1 + z_true)``;
* its robust scatter ``sigma_MAD = 1.4826 * median(|dz - median(dz)|)``;
* the catastrophic-outlier fraction ``|dz| > 0.15`` (and the stricter
  ``|dz| > 0.05``);
* for PDFs: the continuous ranked probability score (CRPS), the probability
  integral transform (PIT) with its Kolmogorov-Smirnov distance to the
  uniform distribution, and the coverage of credible intervals.

For the Gaussian-mixture PDFs of the network see :mod:`astrocnn.tasks.photoz.mixture`;
this module handles the metrics shared by every method, and PDFs given as
ensembles of samples (e.g. the redshifts of the nearest neighbours of the
k-NN baseline, :mod:`astrocnn.tasks.photoz.baseline`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from astrocnn.data.stats import bin_pairs, real_array

__all__ = [
    "DEFAULT_MAGNITUDE_BINS",
    "crps_ensemble",
    "dz",
    "pit_ensemble",
    "pit_histogram",
    "pit_ks",
    "redshift_report",
    "sigma_mad",
]

#: Default magnitude bin edges of :func:`redshift_report` (bins 18-20,
#: 20-22, 22-23, 23-24 and 24-25).
DEFAULT_MAGNITUDE_BINS = (18.0, 20.0, 22.0, 23.0, 24.0, 25.0)

#: Consistency factor of the median absolute deviation for a Gaussian.
MAD_TO_SIGMA = 1.4826


def _as_1d(value: ArrayLike, name: str, *, finite: bool = True) -> np.ndarray:
    """Convert to a 1-D float64 array, checking that it is real (and finite)."""
    arr = real_array(value, name)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be 1-D (one value per object), got shape {arr.shape}")
    if finite and not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} must be finite (no NaN or inf)")
    return arr


def _check_z_true(z_true: ArrayLike) -> np.ndarray:
    """Validate true redshifts: 1-D, finite, ``> -1``."""
    zt = _as_1d(z_true, "z_true")
    if np.any(zt <= -1.0):
        raise ValueError("z_true must be > -1")
    return zt


def _check_same_length(n: int, **arrays: np.ndarray) -> None:
    """Raise unless every array has length ``n``."""
    for name, arr in arrays.items():
        if arr.shape[0] != n:
            raise ValueError(f"{name} has {arr.shape[0]} values but z_true has {n}")


def dz(z_phot: ArrayLike, z_true: ArrayLike) -> np.ndarray:
    """Normalised redshift residual ``(z_phot - z_true) / (1 + z_true)``.

    Parameters
    ----------
    z_phot : array_like, shape (n,)
        Point estimates.
    z_true : array_like, shape (n,)
        True (spectroscopic) redshifts, ``> -1``.

    Returns
    -------
    numpy.ndarray, shape (n,)
        The residual of each object.

    Raises
    ------
    ValueError
        If the inputs are not finite 1-D arrays of the same length or a
        true redshift is ``<= -1``.
    """
    zt = _check_z_true(z_true)
    zp = _as_1d(z_phot, "z_phot")
    _check_same_length(zt.size, z_phot=zp)
    return (zp - zt) / (1.0 + zt)


def sigma_mad(dz: ArrayLike) -> float:
    """Robust scatter ``1.4826 * median(|dz - median(dz)|)``.

    For Gaussian residuals it equals their standard deviation; unlike the
    standard deviation it ignores a minority of catastrophic outliers.

    Parameters
    ----------
    dz : array_like, shape (n,)
        Finite residuals (normally from :func:`dz`), ``n >= 1``.

    Returns
    -------
    float
        The scatter, in the units of ``dz``.

    Raises
    ------
    ValueError
        If ``dz`` is empty, not 1-D or not finite.
    """
    d = _as_1d(dz, "dz")
    if d.size == 0:
        raise ValueError("sigma_mad needs at least one value")
    return float(MAD_TO_SIGMA * np.median(np.abs(d - np.median(d))))


def _check_samples(samples: ArrayLike, z_true: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    """Validate an ``(n, k)`` ensemble and ``n`` truths."""
    x = np.asarray(samples)
    if x.dtype == object or not (np.issubdtype(x.dtype, np.number) or x.dtype == bool):
        raise ValueError(f"samples must be numeric, got dtype {x.dtype}")
    x = x.astype(np.float64)
    if x.ndim != 2 or x.shape[1] < 1:
        raise ValueError(f"samples must have shape (n, k) with k >= 1, got shape {x.shape}")
    if not np.all(np.isfinite(x)):
        raise ValueError("samples must be finite")
    y = _as_1d(z_true, "z_true")
    if y.size != x.shape[0]:
        raise ValueError(f"samples has {x.shape[0]} rows but z_true has {y.size} values")
    return x, y


def crps_ensemble(samples: ArrayLike, z_true: ArrayLike) -> np.ndarray:
    """Exact CRPS of ensemble forecasts (the empirical CDF of the members).

    .. math::

        \\mathrm{CRPS} = \\frac{1}{k}\\sum_i |x_i - y|
        - \\frac{1}{2k^2}\\sum_{i,j} |x_i - x_j|,

    which equals ``integral (F_k(z) - H(z - y))^2 dz`` for the empirical
    CDF ``F_k`` of the ``k`` members (Gneiting & Raftery 2007, eq. 21 with
    the empirical distribution).  The double sum is computed in
    ``O(k log k)`` time and ``O(n k)`` memory from the sorted members:
    ``sum_{i,j} |x_i - x_j| = 2 sum_i (2 i - k - 1) x_(i)`` (``i = 1..k``).

    Parameters
    ----------
    samples : array_like, shape (n, k)
        Ensemble members (e.g. redshifts of the ``k`` nearest neighbours).
    z_true : array_like, shape (n,)
        True values.

    Returns
    -------
    numpy.ndarray, shape (n,)
        CRPS per object, in the units of ``z``.

    Raises
    ------
    ValueError
        If the shapes do not match or the values are not finite.
    """
    x, y = _check_samples(samples, z_true)
    k = x.shape[1]
    xs = np.sort(x, axis=1)
    term1 = np.mean(np.abs(xs - y[:, None]), axis=1)
    coef = 2.0 * np.arange(1, k + 1) - k - 1.0
    pair_sum = 2.0 * (xs @ coef)  # sum over all ordered pairs (i, j) of |x_i - x_j|
    return term1 - pair_sum / (2.0 * k * k)


def pit_ensemble(
    samples: ArrayLike, z_true: ArrayLike, rng: np.random.Generator | int | None = None
) -> np.ndarray:
    """Randomised PIT of ensemble forecasts.

    ``PIT = (#{x_i < y} + U #{x_i = y}) / k`` with ``U ~ U(0, 1)`` drawn
    per object: the empirical CDF just below the truth plus a uniformly
    random share of the members tied with it (Czado et al. 2009).

    Parameters
    ----------
    samples : array_like, shape (n, k)
        Ensemble members.
    z_true : array_like, shape (n,)
        True values.
    rng : numpy.random.Generator or int or None, optional
        Random generator (or seed) for splitting ties; only used where
        members equal the truth.

    Returns
    -------
    numpy.ndarray, shape (n,)
        Values in [0, 1].

    Raises
    ------
    ValueError
        If the shapes do not match or the values are not finite.

    Notes
    -----
    With ``k`` members the PIT takes only the values ``0, 1/k, ..., 1``
    when there are no ties, so histograms with more than ``k`` bins show
    empty bins by construction.
    """
    x, y = _check_samples(samples, z_true)
    k = x.shape[1]
    below = np.count_nonzero(x < y[:, None], axis=1)
    equal = np.count_nonzero(x == y[:, None], axis=1)
    u = np.random.default_rng(rng).random(y.size)
    return (below + u * equal) / k


def _check_pit(pit: ArrayLike) -> np.ndarray:
    """Validate PIT values: 1-D, finite, in [0, 1], at least one."""
    p = _as_1d(pit, "pit")
    if p.size == 0:
        raise ValueError("pit must hold at least one value")
    if np.any((p < 0.0) | (p > 1.0)):
        raise ValueError("pit values must lie in [0, 1]")
    return p


def pit_ks(pit: ArrayLike) -> float:
    """Kolmogorov-Smirnov distance between the PIT values and U(0, 1).

    Parameters
    ----------
    pit : array_like, shape (n,)
        PIT values in [0, 1].

    Returns
    -------
    float
        ``sup |F_n(u) - u|`` (the :func:`scipy.stats.kstest` statistic): 0
        for perfectly calibrated PDFs, up to 1.

    Raises
    ------
    ValueError
        If ``pit`` is empty, not finite or outside [0, 1].
    """
    from scipy.stats import kstest

    return float(kstest(_check_pit(pit), "uniform").statistic)


def pit_histogram(pit: ArrayLike, n_bins: int = 20) -> tuple[np.ndarray, np.ndarray]:
    """Histogram of PIT values, normalised to a density (1 for uniform).

    Parameters
    ----------
    pit : array_like, shape (n,)
        PIT values in [0, 1].
    n_bins : int, optional
        Number of equal bins on [0, 1].

    Returns
    -------
    density : numpy.ndarray, shape (n_bins,)
        Fraction of objects per bin times ``n_bins``; calibrated PDFs give
        values scattered around 1.
    edges : numpy.ndarray, shape (n_bins + 1,)
        Bin edges.

    Raises
    ------
    ValueError
        If ``pit`` is invalid or ``n_bins < 1``.
    """
    if int(n_bins) != n_bins or n_bins < 1:
        raise ValueError(f"n_bins must be a positive integer, got {n_bins!r}")
    p = _check_pit(pit)
    edges = np.linspace(0.0, 1.0, int(n_bins) + 1)
    counts, _ = np.histogram(p, bins=edges)
    return counts * (int(n_bins) / p.size), edges


def _point_stats(d: np.ndarray) -> dict[str, float]:
    """Bias, scatter and outlier statistics of residuals ``d`` (``d.size >= 1``)."""
    ad = np.abs(d)
    return {
        "bias": float(np.mean(d)),
        "median_dz": float(np.median(d)),
        "sigma_mad": sigma_mad(d),
        "std_dz": float(np.std(d)),
        "outlier_frac_005": float(np.mean(ad > 0.05)),
        "outlier_frac_015": float(np.mean(ad > 0.15)),
    }


def redshift_report(
    z_true: ArrayLike,
    z_phot: ArrayLike,
    *,
    pit: ArrayLike | None = None,
    crps: ArrayLike | None = None,
    lo68: ArrayLike | None = None,
    hi68: ArrayLike | None = None,
    lo95: ArrayLike | None = None,
    hi95: ArrayLike | None = None,
    magnitude: ArrayLike | None = None,
    magnitude_bins: ArrayLike | Sequence | None = None,
) -> dict[str, Any]:
    """Summary metrics of photometric redshifts, as a JSON-friendly dict.

    Parameters
    ----------
    z_true : array_like, shape (n,)
        True redshifts, finite and ``> -1``; ``n >= 1``.
    z_phot : array_like, shape (n,)
        Point estimates (e.g. the PDF median or mode).
    pit : array_like, shape (n,), optional
        PIT values in [0, 1] (:func:`astrocnn.tasks.photoz.mixture.pit`,
        :func:`pit_ensemble`).
    crps : array_like, shape (n,), optional
        CRPS per object (:func:`astrocnn.tasks.photoz.mixture.crps_z`,
        :func:`crps_ensemble`).
    lo68, hi68, lo95, hi95 : array_like, shape (n,), optional
        Bounds of the central 68 % and 95 % credible intervals; a coverage
        is reported when both of its bounds are given.
    magnitude : array_like, shape (n,), optional
        A magnitude per object (e.g. ``i``-band) for the per-bin metrics.
        Non-finite magnitudes (non-detections) fall in no bin.
    magnitude_bins : array_like, optional
        Increasing bin edges, shape ``(m + 1,)``, or ``(lo, hi)`` pairs,
        shape ``(m, 2)``; an object is in a bin when ``lo <= mag < hi``.
        Default :data:`DEFAULT_MAGNITUDE_BINS`.

    Returns
    -------
    dict
        Always:

        ``n``
            Number of objects.
        ``bias``, ``median_dz``, ``std_dz``
            Mean, median and standard deviation of ``dz``.
        ``sigma_mad``
            :func:`sigma_mad` of ``dz``.
        ``outlier_frac_005``, ``outlier_frac_015``
            Fractions with ``|dz| > 0.05`` and ``|dz| > 0.15``.

        When the matching inputs are given:

        ``crps_mean``
            Mean CRPS.
        ``pit_ks``, ``pit_histogram``
            :func:`pit_ks` and the 20-bin :func:`pit_histogram` densities
            (a list).
        ``coverage_68``, ``coverage_95``
            Fraction of truths with ``lo <= z_true <= hi`` (0.683 and 0.954
            for calibrated intervals).
        ``by_magnitude``
            List of dicts ``{mag_lo, mag_hi, n, sigma_mad, outlier_frac_015,
            bias}``, one per non-empty magnitude bin.

    Raises
    ------
    ValueError
        If an input is not a finite 1-D array of length ``n`` (magnitudes
        may be non-finite), a true redshift is ``<= -1``, ``n == 0``, only
        one bound of an interval is given, or an interval has ``lo > hi``.
    """
    zt = _check_z_true(z_true)
    if zt.size == 0:
        raise ValueError("redshift_report needs at least one object")
    d = dz(z_phot, zt)
    report: dict[str, Any] = {"n": int(zt.size)}
    report.update(_point_stats(d))

    if crps is not None:
        c = _as_1d(crps, "crps")
        _check_same_length(zt.size, crps=c)
        report["crps_mean"] = float(np.mean(c))
    if pit is not None:
        p = _check_pit(pit)
        _check_same_length(zt.size, pit=p)
        report["pit_ks"] = pit_ks(p)
        report["pit_histogram"] = [float(v) for v in pit_histogram(p)[0]]
    for level, lo, hi in ((68, lo68, hi68), (95, lo95, hi95)):
        if lo is None and hi is None:
            continue
        if lo is None or hi is None:
            raise ValueError(f"give both lo{level} and hi{level}, or neither")
        a = _as_1d(lo, f"lo{level}")
        b = _as_1d(hi, f"hi{level}")
        _check_same_length(zt.size, **{f"lo{level}": a, f"hi{level}": b})
        if np.any(a > b):
            raise ValueError(f"lo{level} must not exceed hi{level}")
        report[f"coverage_{level}"] = float(np.mean((zt >= a) & (zt <= b)))
    if magnitude is not None:
        mag = _as_1d(magnitude, "magnitude", finite=False)
        _check_same_length(zt.size, magnitude=mag)
        rows = []
        bins = DEFAULT_MAGNITUDE_BINS if magnitude_bins is None else magnitude_bins
        for lo, hi in bin_pairs(bins, "magnitude_bins"):
            sel = (mag >= lo) & (mag < hi)  # False for NaN
            if not np.any(sel):
                continue
            stats = _point_stats(d[sel])
            rows.append(
                {
                    "mag_lo": lo,
                    "mag_hi": hi,
                    "n": int(np.count_nonzero(sel)),
                    "sigma_mad": stats["sigma_mad"],
                    "outlier_frac_015": stats["outlier_frac_015"],
                    "bias": stats["bias"],
                }
            )
        report["by_magnitude"] = rows
    return report
