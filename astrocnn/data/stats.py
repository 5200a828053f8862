"""Numeric helpers shared by the metrics of several tasks.

Pure NumPy: validation of real-valued inputs (:func:`real_array`) and the
bins in which a per-object quantity is summarised (:func:`bin_pairs`).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numpy.typing import ArrayLike

__all__ = ["bin_pairs", "real_array"]


def real_array(value: ArrayLike, name: str) -> np.ndarray:
    """Convert to a float64 array, checking that the values are real numbers.

    Parameters
    ----------
    value : array_like
        Numbers of any shape; booleans count as 0 and 1.
    name : str
        Name of the argument, for error messages.

    Returns
    -------
    numpy.ndarray of float64
        Same shape as ``value`` (a new array unless it already was float64).

    Raises
    ------
    ValueError
        If ``value`` is not numeric (e.g. strings or objects) or is complex.
    """
    arr = np.asarray(value)
    if arr.dtype == object or not (np.issubdtype(arr.dtype, np.number) or arr.dtype == bool):
        raise ValueError(f"{name} must be numeric, got dtype {arr.dtype}")
    if np.iscomplexobj(arr):
        raise ValueError(f"{name} must be real, got dtype {arr.dtype}")
    return arr.astype(np.float64)


def bin_pairs(
    bins: ArrayLike | Sequence, name: str, *, allow_infinite: bool = False
) -> list[tuple[float, float]]:
    """Normalise bins given as edges or as ``(lo, hi)`` pairs to a list of pairs.

    Parameters
    ----------
    bins : array_like
        Increasing edges, shape ``(m + 1,)``, or ``(lo, hi)`` pairs, shape
        ``(m, 2)`` (pairs may overlap or leave gaps).
    name : str
        Name of the argument, for error messages.
    allow_infinite : bool, optional
        Accept ``-inf`` / ``inf`` edges (open-ended first or last bin);
        NaN is always refused.

    Returns
    -------
    list of (float, float)
        The ``m`` bins; by convention a value ``v`` is in a bin when
        ``lo <= v < hi``.

    Raises
    ------
    ValueError
        If ``bins`` is not numeric, has another shape, holds NaN (or an
        infinite edge without ``allow_infinite``), or a bin has ``lo >= hi``.
    """
    arr = real_array(bins, name)
    if arr.ndim == 2 and arr.shape[1] == 2 and arr.shape[0] >= 1:
        pairs = arr
    elif arr.ndim == 1 and arr.size >= 2:
        pairs = np.stack([arr[:-1], arr[1:]], axis=1)
    else:
        raise ValueError(
            f"{name} must be increasing edges (m + 1,) or (lo, hi) pairs (m, 2), "
            f"got shape {arr.shape}"
        )
    if allow_infinite:
        if np.any(np.isnan(pairs)) or np.any(pairs[:, 1] <= pairs[:, 0]):
            raise ValueError(f"{name} must be increasing with lo < hi in every bin (no NaN)")
    elif not np.all(np.isfinite(pairs)) or np.any(pairs[:, 1] <= pairs[:, 0]):
        raise ValueError(f"{name} must be finite with lo < hi in every bin")
    return [(float(lo), float(hi)) for lo, hi in pairs]
