"""Out-of-distribution diagnostics: how far each row is from what the model learned on.

Every prediction run measures, per row, the background noise of each band
over the model's training level (``noise_ratio``), the sky level left in the
image, the fraction of pixels without data, and (for networks with an
embedding) the Mahalanobis distance of the row's embedding from the training
set's (``ood_score``, 1 at the 99.5th percentile of held-out training-set-up
simulations).  ``ood_flags`` sums the bits of :data:`OOD_FLAGS`; one summary
warning per run names the commonest cause and its fix.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np

from astrocnn.data.loading import RowMeasures

#: Named bits of the ``ood_flags`` column.
OOD_FLAGS = {
    "NOISE_LOW": 1,  # background noise < 1/NOISE_TOLERANCE of the training level
    "NOISE_HIGH": 2,  # background noise > NOISE_TOLERANCE x the training level
    "BACKGROUND": 4,  # sky level not subtracted (frame median off zero)
    "MASKED": 8,  # more than MASKED_LIMIT of the pixels hold no data
    "MISSING_BAND": 16,  # a band without data, zero-filled
    "FEATURES": 32,  # the embedding is a training-set outlier (ood_score > 1)
    "DISPLAY": 64,  # 8-bit integers 0-255 in every band: a display image, not fluxes
}
#: Causes in the order the summary names them: the first set in at least half
#: of the flagged rows explains the others (a display stretch also changes the
#: noise and the sky level; a sky level changes the features).
CAUSE_ORDER = (
    "DISPLAY", "BACKGROUND", "MASKED", "MISSING_BAND", "NOISE_LOW", "NOISE_HIGH", "FEATURES"
)  # fmt: skip
#: Noise ratios within this factor of 1 are the training depth (the training
#: sets' own scatter is a few per cent).
NOISE_TOLERANCE = 1.15
#: Frame medians further than this many sigma from 0 are sky left in the image.
BACKGROUND_LIMIT = 0.5
MASKED_LIMIT = 0.02
#: No warning when at most this fraction of a run is flagged: about what the
#: training set-up itself gives (the feature score's threshold alone is 0.5 %).
WARN_FRACTION = 0.02
#: Sources' brightness and size vary from object to object: their medians
#: over fewer flagged rows than this do not tell causes apart.
MIN_ROWS_FOR_CAUSE = 20
#: A run whose central objects are this much larger or smaller (linearly, in
#: pixels, median over the flagged rows) than the training set's is named a
#: pixel-scale difference.
SIZE_TOLERANCE = 1.12


@dataclass
class RowDiagnostics(RowMeasures):
    """A run's per-row measurements (:class:`astrocnn.data.loading.RowMeasures`),
    its zero-filled band counts and feature-space scores (feature score /
    threshold; None for networks without an embedding)."""

    n_missing_bands: np.ndarray | None = None
    feature_score: np.ndarray | None = None


#: What the summary says of rows flagged for each cause (noise causes are worded
#: from the measurements, see :func:`summary_warning`).
CAUSES = {
    "DISPLAY": "hold 8-bit integers (0-255): a display image (JPEG/PNG stretch), not "
    "linear fluxes; use the survey's calibrated FITS images",
    "BACKGROUND": "have a sky level left in them (frame median off zero): the model "
    "expects sky-subtracted linear fluxes, not a display stretch or raw counts",
    "MASKED": "have more than 2 % of their pixels without data (NaN, padding) or saturated",
    "MISSING_BAND": "have a band without data, zero-filled: see the cost in astrocnn info",
    "FEATURES": "look unlike the training images to the network (ood_score > 1): treat "
    "their predictions with caution; check the data contract (astrocnn info)",
}


def noise_ratio(noise: np.ndarray, model_noise) -> np.ndarray:
    """(n, C) measured noise over the model's per band (NaN where either is unknown)."""
    target = np.array([np.nan if s is None else s for s in model_noise], np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        return (noise / target[None, :]).astype(np.float32)


def ood_flags(diag: RowDiagnostics, ratio: np.ndarray, limits: dict | None = None) -> np.ndarray:
    """The ``ood_flags`` bits of every row.

    ``limits`` (a bundle's ``data_contract["ood_limits"]``) widen the noise and
    sky-level limits to the training images' own spread (large galaxies fill
    a cutout's frame with light: neither is then zero in the training set).
    """
    low, high, sky = 1 / NOISE_TOLERANCE, NOISE_TOLERANCE, BACKGROUND_LIMIT
    if limits:
        low = min(low, limits["noise_ratio"][0])
        high = max(high, limits["noise_ratio"][1])
        sky = max(sky, limits["background"])
    with warnings.catch_warnings(), np.errstate(invalid="ignore", divide="ignore"):
        warnings.simplefilter("ignore", RuntimeWarning)  # failed rows: all NaN
        typical = np.nanmedian(np.where(np.isfinite(ratio), ratio, np.nan), axis=1)
        level = np.nanmedian(np.abs(diag.background) / diag.noise, axis=1)
    flags = np.zeros(len(ratio), np.int32)
    flags[typical < low] |= OOD_FLAGS["NOISE_LOW"]
    flags[typical > high] |= OOD_FLAGS["NOISE_HIGH"]
    flags[level > sky] |= OOD_FLAGS["BACKGROUND"]
    flags[diag.masked_fraction > MASKED_LIMIT] |= OOD_FLAGS["MASKED"]
    if diag.n_missing_bands is not None:
        flags[diag.n_missing_bands > 0] |= OOD_FLAGS["MISSING_BAND"]
    if diag.feature_score is not None:
        flags[diag.feature_score > 1] |= OOD_FLAGS["FEATURES"]
    if diag.display is not None:
        flags[diag.display] |= OOD_FLAGS["DISPLAY"]
    return flags


def flag_names(value: int) -> list[str]:
    """The names of the bits set in one ``ood_flags`` value."""
    return [name for name, bit in OOD_FLAGS.items() if value & bit]


def summary_warning(flags, ratio, diag: RowDiagnostics, ok, model) -> str | None:
    """One sentence naming the commonest cause among flagged rows, and its fix.

    ``model`` (an :class:`~astrocnn.io.conversion.ModelContract`) gives the
    training set's median bright-pixel level per band (``signal``), which
    tells a flux-scale error from a depth difference (a wrong zero point
    scales sources and noise alike, another depth the noise only), and its
    median core size in pixels (``core_area``), which tells a pixel-scale
    difference (sources larger or smaller in pixels) from both.
    """
    good = np.flatnonzero(ok)
    flagged = good[flags[good] != 0]
    if flagged.size == 0 or flagged.size <= WARN_FRACTION * good.size:
        return None
    counts = {name: int(np.sum(flags[flagged] & bit != 0)) for name, bit in OOD_FLAGS.items()}
    cause = next((c for c in CAUSE_ORDER if 2 * counts[c] >= flagged.size), None)
    cause = cause or max(counts, key=counts.get)
    n = counts[cause]
    head = f"{n:,} of {good.size:,} rows"
    rows = flagged[(flags[flagged] & OOD_FLAGS[cause]) != 0]
    if cause in ("NOISE_LOW", "NOISE_HIGH"):
        core_area = None if diag is None else diag.core_area
        scale = _size_ratio(core_area, rows, getattr(model, "core_area", None))
        if scale is not None:
            return head + " " + _scale_cause(scale, ratio[rows])
        signal = None if diag is None else diag.signal
        return head + " " + _noise_cause(cause, rows, ratio, signal, getattr(model, "signal", None))
    return f"{head} {CAUSES[cause]}"


def table_warning(table, model) -> str | None:
    """:func:`summary_warning` of a written output table (a batch run's merged
    catalogue), from its ``ood_flags`` and ``noise_ratio`` columns alone: the
    per-row source brightness and size are not stored, so a noise difference
    is not told apart into depth, flux scale or pixel scale there."""
    if "ood_flags" not in table.colnames:
        return None
    ok = np.asarray(table["status"] == "ok")
    try:  # a CSV output holds the per-band ratios as text
        ratio = np.asarray(table["noise_ratio"], np.float32).reshape(len(table), -1)
    except (KeyError, ValueError, TypeError):
        ratio = np.full((len(table), 1), np.nan, np.float32)
    return summary_warning(np.asarray(table["ood_flags"]), ratio, None, ok, model)


def _size_ratio(core_area, rows, training_area) -> float | None:
    """How much larger, linearly, the central objects of ``rows`` look in pixels
    than the training set's (None: within :data:`SIZE_TOLERANCE` or unknown)."""
    if core_area is None or not training_area:
        return None
    areas = core_area[rows]
    areas = areas[np.isfinite(areas)]
    if areas.size < MIN_ROWS_FOR_CAUSE:
        return None
    ratio = float(np.sqrt(np.median(areas) / training_area))
    return ratio if not 1 / SIZE_TOLERANCE <= ratio <= SIZE_TOLERANCE else None


def _scale_cause(size_ratio, ratio) -> str:
    return (
        f"show their objects ~{size_ratio:.2g}x {'larger' if size_ratio > 1 else 'smaller'} "
        f"in pixels than the training data (and background noise "
        f"{float(np.nanmedian(ratio)):.2g}x): the pixel scale probably differs from the "
        "model's; give --pixel-scale (or a celestial WCS in the headers) to resample"
    )


def _noise_cause(cause, rows, ratio, signal, training_signal) -> str:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all NaN: ratios not read back
        r_noise = float(np.nanmedian(ratio[rows]))
    if np.isnan(r_noise):
        lower = "lower" if cause == "NOISE_LOW" else "higher"
        return f"have background noise {lower} than the training data's: see noise_ratio"
    if not r_noise > 0:
        return "have no measurable background noise (constant or noiseless images)"
    text = "deeper" if cause == "NOISE_LOW" else "noisier"
    r_signal = None
    if signal is not None and training_signal and None not in training_signal:
        reference = np.array([np.nan if s is None else s for s in training_signal], np.float64)
        with np.errstate(invalid="ignore", divide="ignore"):
            r_signal = float(np.nanmedian(signal[rows] / reference[None, :]))
    if rows.size < MIN_ROWS_FOR_CAUSE or signal is None:
        why = "no source measurements" if signal is None else f"too few rows ({rows.size})"
        return (
            f"have background noise {r_noise:.2g}x the training level: a different depth "
            "(deeper: see --match-depth) or flux scale (check --zero-point / --flux-unit); "
            f"{why} to tell which"
        )
    if r_signal is not None and np.isfinite(r_signal) and r_signal > 0:
        if abs(np.log(r_signal) - np.log(r_noise)) < abs(np.log(r_signal)):
            return (
                f"have pixel values ~{r_noise:.2g}x the model's units, sources and noise "
                "alike: the flux scale differs (zero point / unit); give --zero-point or "
                "--flux-unit, or fix MAGZP/BUNIT in the headers"
            )
    if cause == "NOISE_LOW":
        return (
            f"are ~{1 / r_noise:.2g}x {text} than the training data (background noise "
            f"{r_noise:.2g}x): see --match-depth"
        )
    return (
        f"are ~{r_noise:.2g}x {text} than the training data: completeness will be lower "
        "than the model card's; a model trained at this depth is needed"
    )
