"""Metrics of deblending: flux errors, segmentation overlap, detection matching.

Pure NumPy/SciPy functions in the conventions of Boucaud et al. (2020,
MNRAS 491, 2481), who compare the deblended photometry of a U-Net with
SExtractor's (:mod:`astrocnn.tasks.deblend.baseline`):

* the relative flux error ``(F_pred - F_true) / F_true`` of the central
  galaxy, per object and band, summarised by the median and mean of its
  absolute value, its median (bias) and half its 16-84 percentile range,
  overall and in bins of the separation and of the magnitude difference
  between the central galaxy and its neighbours;
* the intersection over union (IoU) of predicted and true segmentation
  masks;
* completeness and purity of detections matched one-to-one to true
  positions within a radius;
* split by scene: the median signed error of isolated galaxies (no
  neighbour: any deficit is flux the method gives away to nothing) and the
  median absolute error of blended ones, per band.

Failed predictions (NaN or infinite fluxes, e.g. the baseline found no
central source) are left out of the statistics and counted in ``n_failed``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
from numpy.typing import ArrayLike
from scipy.optimize import linear_sum_assignment

from astrocnn.data.stats import bin_pairs, real_array

__all__ = [
    "DEFAULT_DELTA_MAG_BINS",
    "DEFAULT_SEPARATION_BINS",
    "binned_flux_errors",
    "deblend_report",
    "flux_error_summary",
    "iou",
    "iou_summary",
    "isolation_split",
    "match_detections",
    "relative_flux_error",
]

#: Default bin edges of the separation, in units of the sum of the half-light
#: radii of the central galaxy and its closest neighbour.
DEFAULT_SEPARATION_BINS = (0.0, 0.5, 1.0, 1.5, 2.0, 3.0, math.inf)

#: Default bin edges of ``delta_mag = mag_central - mag_neighbour`` (positive:
#: the neighbour is brighter).
DEFAULT_DELTA_MAG_BINS = (-math.inf, -2.0, -1.0, 0.0, 1.0, 2.0, math.inf)


def relative_flux_error(flux_pred: ArrayLike, flux_true: ArrayLike) -> np.ndarray:
    """Relative flux error ``(flux_pred - flux_true) / flux_true``.

    Parameters
    ----------
    flux_pred : array_like, shape (n,) or (n, nband)
        Predicted (deblended) fluxes; may contain NaN for failures, which
        propagate.
    flux_true : array_like, same shape
        True fluxes, finite and non-zero.

    Returns
    -------
    numpy.ndarray of float64
        Same shape as the inputs.

    Raises
    ------
    ValueError
        If the shapes differ, an input is not numeric, or a true flux is
        zero or not finite.
    """
    pred = real_array(flux_pred, "flux_pred")
    true = real_array(flux_true, "flux_true")
    if pred.shape != true.shape:
        raise ValueError(f"flux_pred has shape {pred.shape}, flux_true has shape {true.shape}")
    if not np.all(np.isfinite(true)):
        raise ValueError("flux_true must be finite")
    if np.any(true == 0):
        raise ValueError("flux_true must be non-zero")
    return (pred - true) / true


def _stats(err: np.ndarray) -> dict[str, float]:
    """median_abs, mean_abs, median and spread68 of finite errors (NaN if none)."""
    if err.size == 0:
        nan = math.nan
        return {"median_abs": nan, "mean_abs": nan, "median": nan, "spread68": nan}
    a = np.abs(err)
    p16, p84 = np.percentile(err, [16.0, 84.0])
    return {
        "median_abs": float(np.median(a)),
        "mean_abs": float(np.mean(a)),
        "median": float(np.median(err)),
        "spread68": float(0.5 * (p84 - p16)),
    }


def flux_error_summary(rel_err: ArrayLike) -> dict[str, float | int]:
    """Summary statistics of relative flux errors.

    Parameters
    ----------
    rel_err : array_like
        Relative errors (:func:`relative_flux_error`), any shape; every
        element counts as one measurement.  Non-finite values are failed
        predictions.

    Returns
    -------
    dict
        ``median_abs`` (median of ``|err|``), ``mean_abs`` (mean of
        ``|err|``), ``median`` (the bias), ``spread68`` (half the 16-84
        percentile range), all over the finite values (NaN when there are
        none); ``n`` (number of finite values) and ``n_failed`` (number of
        non-finite ones).

    Raises
    ------
    ValueError
        If ``rel_err`` is not numeric.
    """
    err = real_array(rel_err, "rel_err").ravel()
    ok = np.isfinite(err)
    out: dict[str, float | int] = dict(_stats(err[ok]))
    out["n"] = int(ok.sum())
    out["n_failed"] = int(err.size - ok.sum())
    return out


def binned_flux_errors(
    rel_err: ArrayLike, values: ArrayLike, bins: ArrayLike | Sequence
) -> list[dict[str, float | int | None]]:
    """Relative-flux-error statistics in bins of another quantity.

    Parameters
    ----------
    rel_err : array_like, shape (n,) or (n, nband)
        Relative errors per object (and band).
    values : array_like, shape (n,)
        The binning quantity per object (e.g. separation or delta_mag);
        objects with a non-finite value fall in no bin.
    bins : array_like
        Increasing edges ``(m + 1,)`` (may start or end with ``-inf`` /
        ``inf``) or ``(lo, hi)`` pairs ``(m, 2)``; an object is in a bin when
        ``lo <= value < hi``.

    Returns
    -------
    list of dict
        One per bin, empty bins included: ``lo``, ``hi`` (None for an
        infinite edge, so that the dict is valid JSON), ``n`` (finite
        errors in the bin; each band counts), ``n_failed``,
        ``median_abs``, ``mean_abs``, ``median``, ``spread68`` (NaN for an
        empty bin).

    Raises
    ------
    ValueError
        If the shapes do not match or the bins are invalid.
    """
    err = real_array(rel_err, "rel_err")
    val = real_array(values, "values")
    if val.ndim != 1:
        raise ValueError(f"values must be 1-D (one per object), got shape {val.shape}")
    if err.ndim not in (1, 2) or err.shape[0] != val.shape[0]:
        raise ValueError(
            f"rel_err must have shape (n,) or (n, nband) with n = {val.shape[0]}, got {err.shape}"
        )
    err2 = err.reshape(err.shape[0], -1)
    out = []
    for lo, hi in bin_pairs(bins, "bins", allow_infinite=True):
        sel = (val >= lo) & (val < hi)
        e = err2[sel].ravel()
        ok = np.isfinite(e)
        row: dict[str, float | int | None] = {
            "lo": lo if math.isfinite(lo) else None,
            "hi": hi if math.isfinite(hi) else None,
            "n": int(ok.sum()),
            "n_failed": int(e.size - ok.sum()),
        }
        row.update(_stats(e[ok]))
        out.append(row)
    return out


def iou(pred_mask: ArrayLike, true_mask: ArrayLike) -> np.ndarray:
    """Intersection over union of boolean masks, per object.

    Parameters
    ----------
    pred_mask, true_mask : array_like of bool, shape (n, H, W) or (H, W)
        Predicted and true masks (non-zero = True), e.g. the central
        segment of each stamp.

    Returns
    -------
    numpy.ndarray of float64, shape (n,) (a 0-d array for 2-D inputs)
        ``|pred & true| / |pred | true|``; **1.0 when both masks are empty**
        (nothing to find and nothing found counts as a perfect match), 0.0
        when exactly one is empty.

    Raises
    ------
    ValueError
        If the shapes differ or are not 2-D / 3-D.
    """
    p = np.asarray(pred_mask).astype(bool)
    t = np.asarray(true_mask).astype(bool)
    if p.shape != t.shape:
        raise ValueError(f"pred_mask has shape {p.shape}, true_mask has shape {t.shape}")
    if p.ndim not in (2, 3):
        raise ValueError(f"masks must have shape (n, H, W) or (H, W), got {p.shape}")
    inter = np.logical_and(p, t).sum(axis=(-2, -1))
    union = np.logical_or(p, t).sum(axis=(-2, -1))
    with np.errstate(invalid="ignore", divide="ignore"):
        out = np.where(union > 0, inter / np.maximum(union, 1), 1.0)
    return np.asarray(out, dtype=np.float64)


def iou_summary(values: ArrayLike) -> dict[str, float | int]:
    """Mean and median of per-object IoUs (:func:`iou`).

    Parameters
    ----------
    values : array_like
        IoU values in [0, 1]; non-finite values are ignored.

    Returns
    -------
    dict
        ``iou_mean``, ``iou_median`` (NaN when empty) and ``n``.
    """
    v = real_array(values, "iou").ravel()
    v = v[np.isfinite(v)]
    if v.size == 0:
        return {"iou_mean": math.nan, "iou_median": math.nan, "n": 0}
    return {"iou_mean": float(v.mean()), "iou_median": float(np.median(v)), "n": int(v.size)}


def match_detections(det_xy: ArrayLike, true_xy: ArrayLike, radius: float) -> dict[str, Any]:
    """One-to-one matching of detections to true positions within a radius.

    Parameters
    ----------
    det_xy : array_like, shape (n_det, 2)
        Detected positions (x, y).
    true_xy : array_like, shape (n_true, 2)
        True positions, same units.
    radius : float
        Maximum distance of a match (> 0).

    Returns
    -------
    dict
        ``pairs`` (int array (n_match, 2) of ``(det_index, true_index)``,
        sorted by true index), ``distance`` (array (n_match,)),
        ``n_matched``, ``n_det``, ``n_true``, ``completeness`` =
        ``n_matched / n_true`` and ``purity`` = ``n_matched / n_det`` (NaN
        when the denominator is 0).

    Raises
    ------
    ValueError
        If an input is not an ``(m, 2)`` finite array or ``radius <= 0``.

    Notes
    -----
    The assignment maximises the number of matches within ``radius`` and,
    among those, minimises the summed distance (Hungarian algorithm,
    :func:`scipy.optimize.linear_sum_assignment`, on distances with pairs
    beyond the radius given a prohibitive cost), so a greedy nearest match
    cannot steal a detection that another true source needs.
    """
    d = real_array(det_xy, "det_xy")
    t = real_array(true_xy, "true_xy")
    for name, arr in (("det_xy", d), ("true_xy", t)):
        if arr.size == 0:
            continue
        if arr.ndim != 2 or arr.shape[1] != 2:
            raise ValueError(f"{name} must have shape (m, 2), got {arr.shape}")
        if not np.all(np.isfinite(arr)):
            raise ValueError(f"{name} must be finite")
    d = d.reshape(-1, 2)
    t = t.reshape(-1, 2)
    radius = float(radius)
    if not (math.isfinite(radius) and radius > 0):
        raise ValueError(f"radius must be positive and finite, got {radius!r}")
    n_det, n_true = d.shape[0], t.shape[0]
    pairs = np.zeros((0, 2), dtype=np.int64)
    dist = np.zeros(0)
    if n_det and n_true:
        dmat = np.hypot(d[:, None, 0] - t[None, :, 0], d[:, None, 1] - t[None, :, 1])
        within = dmat <= radius
        # Each match saves a cost far larger than any sum of distances.
        big = 2.0 * radius * (min(n_det, n_true) + 1)
        cost = np.where(within, dmat - big, 0.0)
        rows, cols = linear_sum_assignment(cost)
        keep = within[rows, cols]
        rows, cols = rows[keep], cols[keep]
        order = np.argsort(cols, kind="stable")
        pairs = np.stack([rows[order], cols[order]], axis=1).astype(np.int64)
        dist = dmat[pairs[:, 0], pairs[:, 1]] if pairs.size else np.zeros(0)
    n_match = int(pairs.shape[0])
    return {
        "pairs": pairs,
        "distance": dist,
        "n_matched": n_match,
        "n_det": int(n_det),
        "n_true": int(n_true),
        "completeness": n_match / n_true if n_true else math.nan,
        "purity": n_match / n_det if n_det else math.nan,
    }


def isolation_split(
    rel_err: ArrayLike, isolated: ArrayLike, bands: Sequence[str]
) -> dict[str, float | int]:
    """Flux errors of isolated galaxies and of blends, per band.

    Parameters
    ----------
    rel_err : array_like, shape (n, nband)
        Relative errors (:func:`relative_flux_error`); non-finite values are
        failed predictions and left out.
    isolated : array_like of bool, shape (n,)
        Whether each central galaxy is alone in its stamp.
    bands : sequence of str
        Band names, one per column.

    Returns
    -------
    dict
        ``n_isolated`` and ``n_blends`` (objects); per band
        ``isolated_flux_bias_<band>``, the median signed error of the
        isolated galaxies, and ``blend_median_abs_dflux_<band>``, the median
        absolute error of the others (NaN when a group has no finite error).

    Raises
    ------
    ValueError
        If the shapes do not match.
    """
    err = real_array(rel_err, "rel_err")
    iso = np.asarray(isolated)
    if err.ndim != 2 or err.shape[1] != len(bands) or iso.shape != (err.shape[0],):
        raise ValueError(
            f"rel_err must have shape (n, {len(bands)}) and isolated (n,), "
            f"got {err.shape} and {iso.shape}"
        )
    iso = iso.astype(bool)
    out: dict[str, float | int] = {"n_isolated": int(iso.sum()), "n_blends": int((~iso).sum())}
    for k, band in enumerate(bands):
        out[f"isolated_flux_bias_{band}"] = flux_error_summary(err[iso, k])["median"]
        out[f"blend_median_abs_dflux_{band}"] = flux_error_summary(err[~iso, k])["median_abs"]
    return out


def _per_object(value: ArrayLike | None, name: str, n: int) -> np.ndarray | None:
    if value is None:
        return None
    arr = real_array(value, name)
    if arr.shape != (n,):
        raise ValueError(f"{name} must have shape ({n},), got {arr.shape}")
    return arr


def deblend_report(
    flux_true: ArrayLike,
    flux_pred: ArrayLike,
    *,
    bands: Sequence[str],
    separation: ArrayLike | None = None,
    delta_mag: ArrayLike | None = None,
    iou: ArrayLike | None = None,
    separation_bins: ArrayLike | Sequence | None = None,
    delta_mag_bins: ArrayLike | Sequence | None = None,
    isolated: ArrayLike | None = None,
) -> dict[str, Any]:
    """Summary metrics of deblended photometry, as a JSON-friendly dict.

    Parameters
    ----------
    flux_true : array_like, shape (n, nband)
        True fluxes of the central galaxies (finite, non-zero); ``n >= 1``.
    flux_pred : array_like, shape (n, nband)
        Deblended fluxes; non-finite values are failures.
    bands : sequence of str
        Band names, one per column (e.g. ``("g", "r", "i", "z")``).
    separation : array_like, shape (n,), optional
        Distance to the closest neighbour, by default binned with
        :data:`DEFAULT_SEPARATION_BINS` (units of the summed half-light
        radii).
    delta_mag : array_like, shape (n,), optional
        Magnitude difference central - neighbour, by default binned with
        :data:`DEFAULT_DELTA_MAG_BINS`.
    iou : array_like, shape (n,), optional
        IoU of the predicted central segmentation (:func:`iou`).
    separation_bins, delta_mag_bins : array_like, optional
        Bin edges or ``(lo, hi)`` pairs replacing the defaults.
    isolated : array_like of bool, shape (n,), optional
        Whether each central galaxy is alone in its stamp: adds
        :func:`isolation_split`'s numbers.

    Returns
    -------
    dict
        ``n`` (objects), ``bands``; the headline numbers over all objects
        and bands: ``median_abs_flux_error``, ``mean_abs_flux_error``,
        ``spread68_flux_error``, ``median_flux_error`` (bias), ``n_failed``
        (non-finite predictions); ``flux_<band>`` (a
        :func:`flux_error_summary` per band); and when given
        ``by_separation`` / ``by_delta_mag`` (:func:`binned_flux_errors`
        over all bands), ``iou_mean``, ``iou_median`` and the
        :func:`isolation_split` keys (``n_isolated``, ``n_blends``,
        ``isolated_flux_bias_<band>``, ``blend_median_abs_dflux_<band>``).
        Values are Python floats/ints/lists (NaN where undefined, e.g. every
        prediction failed); infinite bin edges appear as None.

    Raises
    ------
    ValueError
        If shapes do not match (``flux_*`` must be ``(n, len(bands))``, the
        per-object arrays ``(n,)``), ``n == 0``, band names are not unique,
        a true flux is zero or non-finite, or bins are invalid.
    """
    band_names = [str(b) for b in bands] if not isinstance(bands, str) else [bands]
    if len(set(band_names)) != len(band_names) or not band_names:
        raise ValueError(f"bands must be non-empty and unique, got {band_names}")
    true = real_array(flux_true, "flux_true")
    pred = real_array(flux_pred, "flux_pred")
    if true.ndim == 1 and len(band_names) == 1:
        true = true[:, None]
    if pred.ndim == 1 and len(band_names) == 1:
        pred = pred[:, None]
    if true.ndim != 2 or true.shape[1] != len(band_names):
        raise ValueError(
            f"flux_true must have shape (n, {len(band_names)}) for bands {band_names}, "
            f"got {true.shape}"
        )
    if true.shape[0] == 0:
        raise ValueError("deblend_report needs at least one object")
    err = relative_flux_error(pred, true)
    n = true.shape[0]
    sep_v = _per_object(separation, "separation", n)
    dmag_v = _per_object(delta_mag, "delta_mag", n)
    iou_v = _per_object(iou, "iou", n)
    iso_v = None if isolated is None else np.asarray(isolated)
    if iso_v is not None and iso_v.shape != (n,):
        raise ValueError(f"isolated must have shape ({n},), got {iso_v.shape}")

    overall = flux_error_summary(err)
    report: dict[str, Any] = {
        "n": int(n),
        "bands": band_names,
        "median_abs_flux_error": overall["median_abs"],
        "mean_abs_flux_error": overall["mean_abs"],
        "spread68_flux_error": overall["spread68"],
        "median_flux_error": overall["median"],
        "n_failed": overall["n_failed"],
    }
    for k, name in enumerate(band_names):
        report[f"flux_{name}"] = flux_error_summary(err[:, k])
    if sep_v is not None:
        bins = DEFAULT_SEPARATION_BINS if separation_bins is None else separation_bins
        report["by_separation"] = binned_flux_errors(err, sep_v, bins)
    if dmag_v is not None:
        bins = DEFAULT_DELTA_MAG_BINS if delta_mag_bins is None else delta_mag_bins
        report["by_delta_mag"] = binned_flux_errors(err, dmag_v, bins)
    if iou_v is not None:
        s = iou_summary(iou_v)
        report["iou_mean"] = s["iou_mean"]
        report["iou_median"] = s["iou_median"]
    if iso_v is not None:
        report.update(isolation_split(err, iso_v, band_names))
    return report
