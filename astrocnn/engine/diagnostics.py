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

from dataclasses import dataclass

import numpy as np

#: Named bits of the ``ood_flags`` column.
OOD_FLAGS = {
    "NOISE_LOW": 1,  # background noise < 1/NOISE_TOLERANCE of the training level
    "NOISE_HIGH": 2,  # background noise > NOISE_TOLERANCE x the training level
    "BACKGROUND": 4,  # sky level not subtracted (frame median off zero)
    "MASKED": 8,  # more than MASKED_LIMIT of the pixels hold no data
    "MISSING_BAND": 16,  # a band without data, zero-filled
    "FEATURES": 32,  # the embedding is a training-set outlier (ood_score > 1)
}
#: Noise ratios within this factor of 1 are the training depth (the training
#: sets' own scatter is a few per cent).
NOISE_TOLERANCE = 1.15
#: Frame medians further than this many sigma from 0 are sky left in the image.
BACKGROUND_LIMIT = 0.5
MASKED_LIMIT = 0.02


@dataclass
class RowDiagnostics:
    """Per-row measurements of a run (see :mod:`astrocnn.data.loading`)."""

    noise: np.ndarray  # (n, C) background noise after conversion
    background: np.ndarray  # (n, C) frame median
    masked_fraction: np.ndarray  # (n,)
    n_missing_bands: np.ndarray  # (n,)
    signal: np.ndarray  # (n, C) 99th percentile pixel of the central region
    added_noise: np.ndarray  # (n, C) sigma added by --match-depth
    feature_score: np.ndarray | None = None  # (n,) feature score / threshold


def noise_ratio(noise: np.ndarray, model_noise) -> np.ndarray:
    """(n, C) measured noise over the model's per band (NaN where either is unknown)."""
    target = np.array([np.nan if s is None else s for s in model_noise], np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        return (noise / target[None, :]).astype(np.float32)


def ood_flags(diag: RowDiagnostics, ratio: np.ndarray) -> np.ndarray:
    """The ``ood_flags`` bits of every row."""
    with np.errstate(invalid="ignore"):
        typical = np.nanmedian(np.where(np.isfinite(ratio), ratio, np.nan), axis=1)
        level = np.nanmedian(np.abs(diag.background) / diag.noise, axis=1)
    flags = np.zeros(len(ratio), np.int32)
    flags[typical < 1 / NOISE_TOLERANCE] |= OOD_FLAGS["NOISE_LOW"]
    flags[typical > NOISE_TOLERANCE] |= OOD_FLAGS["NOISE_HIGH"]
    flags[level > BACKGROUND_LIMIT] |= OOD_FLAGS["BACKGROUND"]
    flags[diag.masked_fraction > MASKED_LIMIT] |= OOD_FLAGS["MASKED"]
    flags[diag.n_missing_bands > 0] |= OOD_FLAGS["MISSING_BAND"]
    if diag.feature_score is not None:
        flags[diag.feature_score > 1] |= OOD_FLAGS["FEATURES"]
    return flags


def flag_names(value: int) -> list[str]:
    """The names of the bits set in one ``ood_flags`` value."""
    return [name for name, bit in OOD_FLAGS.items() if value & bit]


def summary_warning(flags, ratio, diag: RowDiagnostics, ok, training_signal) -> str | None:
    """One sentence naming the commonest cause among flagged rows, and its fix.

    ``training_signal`` (per band, the training set's median bright-pixel
    level, or None) tells a flux-scale error from a depth difference: a wrong
    zero point scales sources and noise alike, another depth the noise only.
    """
    good = np.flatnonzero(ok)
    flagged = good[flags[good] != 0]
    if flagged.size == 0:
        return None
    counts = {name: int(np.sum(flags[flagged] & bit != 0)) for name, bit in OOD_FLAGS.items()}
    cause = max(counts, key=counts.get)
    n = counts[cause]
    head = f"{n:,} of {good.size:,} rows"
    rows = flagged[(flags[flagged] & OOD_FLAGS[cause]) != 0]
    if cause in ("NOISE_LOW", "NOISE_HIGH"):
        return head + " " + _noise_cause(cause, rows, ratio, diag.signal, training_signal)
    return (
        head
        + " "
        + {
            "BACKGROUND": "have a sky level left in them (frame median off zero): the model "
            "expects sky-subtracted linear fluxes, not a display stretch or raw counts",
            "MASKED": "have more than 2 % of their pixels without data (NaN or padding)",
            "MISSING_BAND": "have a band without data, zero-filled: see the cost in astrocnn info",
            "FEATURES": "look unlike the training images to the network (ood_score > 1): treat "
            "their predictions with caution; check the data contract (astrocnn info)",
        }[cause]
    )


def _noise_cause(cause, rows, ratio, signal, training_signal) -> str:
    r_noise = float(np.nanmedian(ratio[rows]))
    text = "deeper" if cause == "NOISE_LOW" else "noisier"
    r_signal = None
    if training_signal and None not in training_signal:
        reference = np.array([np.nan if s is None else s for s in training_signal], np.float64)
        with np.errstate(invalid="ignore", divide="ignore"):
            r_signal = float(np.nanmedian(signal[rows] / reference[None, :]))
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
