"""Gaussian mixtures in ``t = ln(1 + z)``: the photometric-redshift PDFs of an MDN.

A mixture density network (Bishop 1994; D'Isanto & Polsterer 2018, A&A 609,
A111) predicts, for every object, a ``K``-component Gaussian mixture over
``t = ln(1 + z)``:

.. math::

    p_t(t) = \\sum_k w_k \\, \\mathcal{N}(t; \\mu_k, \\sigma_k),
    \\qquad
    p_z(z) = \\frac{p_t(\\ln(1 + z))}{1 + z} \\quad (z > -1),

i.e. each component is a shifted log-normal distribution in ``z``.  This
module evaluates those distributions and derives what a photo-z catalogue
needs from them: PDFs and CDFs, quantiles, mean / median / mode, credible
intervals, the log-likelihood used as training loss, the continuous ranked
probability score (CRPS) and the probability integral transform (PIT).

Conventions
-----------
* ``weights``, ``mu`` and ``sigma`` are arrays of shape ``(n, K)``: one row
  per object.  Weights are non-negative and each row sums to 1 (within
  :data:`WEIGHT_SUM_TOL`; rows are renormalised), widths are strictly
  positive, and every value is finite.  Any violation raises ``ValueError``.
* Everything is vectorised over objects; large ``n`` is processed in chunks
  so that temporary arrays stay below about :data:`_CHUNK_ELEMENTS` numbers.
* Redshifts ``z <= -1`` have zero density and zero cumulative probability;
  ``z = +inf`` has cumulative probability 1.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
from numpy.typing import ArrayLike
from scipy.special import ndtr, ndtri

from astrocnn.data.stats import real_array

__all__ = [
    "cdf_z",
    "crps_z",
    "log_likelihood_t",
    "mean_z",
    "median_z",
    "mode_z",
    "pdf_z",
    "pit",
    "quantiles_z",
    "summarize",
]

#: Largest accepted deviation of a row sum of ``weights`` from 1 (float32
#: softmax outputs are well within it); rows are then renormalised exactly.
WEIGHT_SUM_TOL = 1e-3

#: Target size (number of float64 values) of the temporary arrays; larger
#: inputs are processed in chunks of objects.
_CHUNK_ELEMENTS = 2_000_000

#: Below this a directly summed density has lost relative precision (the
#: mode's grids then compare log-densities instead).
_DIRECT_DENSITY_FLOOR = 1e-250

#: Tolerance (in ``t``) of the quantile solver, and its most steps.
_QUANTILE_TOL_T = 1e-9
_QUANTILE_MAX_STEPS = 200

#: Probability levels of the central 68 % and 95 % intervals: exactly the
#: one- and two-sigma tails of a Gaussian.
Q_LO68 = float(ndtr(-1.0))
Q_HI68 = float(ndtr(1.0))
Q_LO95 = float(ndtr(-2.0))
Q_HI95 = float(ndtr(2.0))

_LOG_SQRT_2PI = 0.5 * math.log(2.0 * math.pi)
_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)

#: Number of points of the coarse per-object grid used by :func:`mode_z`.
_MODE_GRID = 64
#: Points per refinement round and number of rounds of the fallback
#: refinement of :func:`mode_z`; each round shrinks the search interval tenfold.
_MODE_ZOOM_POINTS = 21
_MODE_ZOOM_ROUNDS = 5
#: Newton steps of :func:`mode_z` from the best grid point, and the step (in
#: ``t``) below which a peak counts as found.
_MODE_NEWTON_STEPS = 12
_MODE_NEWTON_TOL_T = 1e-8

#: Standard-normal offsets at which every component places panel breaks for
#: the CRPS quadrature (1 sigma apart over +-8 sigma), the number of uniform
#: panels spanning the whole integration range, and the Gauss-Legendre rule
#: used on every panel.
_CRPS_COMPONENT_BREAKS = np.linspace(-8.0, 8.0, 17)
_CRPS_UNIFORM_PANELS = 32
_CRPS_GL_NODES, _CRPS_GL_WEIGHTS = np.polynomial.legendre.leggauss(4)


# ---------------------------------------------------------------------------
# validation and helpers


def _check_mixture(
    weights: ArrayLike, mu: ArrayLike, sigma: ArrayLike
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Validate mixture parameters and return them as float64 arrays.

    Parameters
    ----------
    weights, mu, sigma : array_like, shape (n, K)
        Component weights, means and widths (in ``t = ln(1 + z)``).

    Returns
    -------
    weights, mu, sigma : numpy.ndarray, shape (n, K)
        Float64 copies; each row of ``weights`` renormalised to sum to 1.

    Raises
    ------
    ValueError
        If the arrays are not 2-D with the same shape and ``K >= 1``, hold
        non-finite values, negative weights, rows of weights not summing to
        1 within :data:`WEIGHT_SUM_TOL`, or non-positive widths.
    """
    arrays = []
    for name, value in (("weights", weights), ("mu", mu), ("sigma", sigma)):
        arr = real_array(value, name)
        if arr.ndim != 2 or arr.shape[1] < 1:
            raise ValueError(
                f"{name} must have shape (n, K) with K >= 1 (one row per object), "
                f"got shape {arr.shape}"
            )
        if not np.all(np.isfinite(arr)):
            raise ValueError(f"{name} must be finite")
        arrays.append(arr)
    w, m, s = arrays
    if not (w.shape == m.shape == s.shape):
        raise ValueError(
            f"weights, mu and sigma must have the same shape, got {w.shape}, {m.shape}, {s.shape}"
        )
    if np.any(w < 0):
        raise ValueError("weights must be non-negative")
    total = w.sum(axis=1)
    if np.any(np.abs(total - 1.0) > WEIGHT_SUM_TOL):
        worst = float(total[np.argmax(np.abs(total - 1.0))])
        raise ValueError(
            f"each row of weights must sum to 1 (within {WEIGHT_SUM_TOL:g}); found a row "
            f"summing to {worst:.6g}"
        )
    if np.any(s <= 0):
        raise ValueError("sigma must be strictly positive")
    return w / total[:, None], m, s


def _check_z(z: ArrayLike, n: int, per_object: bool, name: str = "z") -> np.ndarray:
    """Validate redshifts: a 1-D grid, or one value per object.

    Parameters
    ----------
    z : array_like
        Shape ``(m,)`` (a grid shared by all objects) or, with
        ``per_object=True``, shape ``(n,)``.
    n : int
        Number of objects.
    per_object : bool
        Which of the two layouts is expected.
    name : str, optional
        Name used in error messages.

    Returns
    -------
    numpy.ndarray
        Float64 copy.

    Raises
    ------
    ValueError
        If ``z`` has the wrong shape or holds NaN.
    """
    arr = np.asarray(z)
    if arr.dtype == object or not (np.issubdtype(arr.dtype, np.number) or arr.dtype == bool):
        raise ValueError(f"{name} must be numeric, got dtype {arr.dtype}")
    arr = arr.astype(np.float64)
    if per_object:
        if arr.shape != (n,):
            raise ValueError(
                f"with per_object=True, {name} must have shape (n,) = ({n},), one value per "
                f"object, got shape {arr.shape}"
            )
    elif arr.ndim != 1:
        raise ValueError(f"{name} must be a 1-D grid of redshifts, got shape {arr.shape}")
    if np.any(np.isnan(arr)):
        raise ValueError(f"{name} must not contain NaN")
    return arr


def _chunks(n: int, per_object_elements: int) -> list[slice]:
    """Slices of ``range(n)`` so that each chunk holds about ``_CHUNK_ELEMENTS`` values."""
    size = max(1, _CHUNK_ELEMENTS // max(1, per_object_elements))
    return [slice(i, min(i + size, n)) for i in range(0, n, size)] or [slice(0, 0)]


def _log_pt(w: np.ndarray, m: np.ndarray, s: np.ndarray, t: np.ndarray) -> np.ndarray:
    """Log-density of the mixture in ``t``.

    Parameters
    ----------
    w, m, s : numpy.ndarray, shape (n, K)
        Mixture parameters.
    t : numpy.ndarray, shape (n, m)
        Points, per object.

    Returns
    -------
    numpy.ndarray, shape (n, m)
        ``log p_t(t)``, computed with a log-sum-exp over components.
    """
    with np.errstate(divide="ignore"):
        log_w = np.log(w)
    u = (t[:, :, None] - m[:, None, :]) / s[:, None, :]
    terms = (log_w - np.log(s))[:, None, :] - 0.5 * u * u
    # log-sum-exp over components (faster than scipy's for small K)
    top = np.max(terms, axis=2, keepdims=True)
    return np.log(np.sum(np.exp(terms - top), axis=2)) + top[:, :, 0] - _LOG_SQRT_2PI


def _cdf_t(w: np.ndarray, m: np.ndarray, s: np.ndarray, t: np.ndarray) -> np.ndarray:
    """Mixture CDF in ``t``; ``t`` of shape (n, m), result (n, m)."""
    u = (t[:, :, None] - m[:, None, :]) / s[:, None, :]
    return np.einsum("nk,nmk->nm", w, ndtr(u))


def _map_chunks(
    func: Callable[..., np.ndarray],
    w: np.ndarray,
    m: np.ndarray,
    s: np.ndarray,
    t: np.ndarray,
    *,
    per_object: bool,
) -> np.ndarray:
    """Apply ``func(w, m, s, t)`` chunk by chunk over objects.

    ``t`` is 1-D: a grid shared by all objects (result ``(n, len(t))``) or,
    with ``per_object=True``, one value per object (result ``(n,)``), the
    two layouts of ``z`` in :func:`pdf_z`.
    """
    n, k = w.shape
    if per_object:
        t = t[:, None]
    n_pts = t.shape[-1]
    out = np.empty((n, n_pts))
    for sl in _chunks(n, n_pts * k):
        tt = t[sl] if per_object else np.broadcast_to(t, (sl.stop - sl.start, n_pts))
        out[sl] = func(w[sl], m[sl], s[sl], tt)
    return out[:, 0] if per_object else out


# ---------------------------------------------------------------------------
# densities and probabilities


def log_likelihood_t(
    weights: ArrayLike, mu: ArrayLike, sigma: ArrayLike, t: ArrayLike
) -> np.ndarray:
    """Log-likelihood of one value of ``t`` per object under its mixture.

    This is the (negative of the) MDN training loss per object, computed in
    float64 with a log-sum-exp so that it stays finite for narrow
    components and far-away targets; it is the reference for the Keras
    loss.

    Parameters
    ----------
    weights, mu, sigma : array_like, shape (n, K)
        Mixture parameters in ``t = ln(1 + z)``.
    t : array_like, shape (n,)
        Finite target values, one per object.

    Returns
    -------
    numpy.ndarray, shape (n,)
        ``log sum_k w_k N(t; mu_k, sigma_k)``.  It is ``-inf`` only if every
        component with a non-zero weight underflows even in log space,
        which cannot happen for finite inputs.

    Raises
    ------
    ValueError
        If the parameters are invalid or ``t`` is not finite of shape
        ``(n,)``.
    """
    w, m, s = _check_mixture(weights, mu, sigma)
    tt = _check_z(t, w.shape[0], True, name="t")
    if not np.all(np.isfinite(tt)):
        raise ValueError("t must be finite")
    return _log_pt(w, m, s, tt[:, None])[:, 0]


def pdf_z(
    weights: ArrayLike, mu: ArrayLike, sigma: ArrayLike, z: ArrayLike, *, per_object: bool = False
) -> np.ndarray:
    """Probability density in redshift, ``p_z(z) = p_t(ln(1 + z)) / (1 + z)``.

    Parameters
    ----------
    weights, mu, sigma : array_like, shape (n, K)
        Mixture parameters in ``t = ln(1 + z)``.
    z : array_like
        Redshifts: a grid of shape ``(m,)`` shared by all objects, or with
        ``per_object=True`` one redshift per object, shape ``(n,)``.
    per_object : bool, optional
        Select the layout of ``z`` (default: a shared grid).

    Returns
    -------
    numpy.ndarray
        Shape ``(n, m)`` for a grid, ``(n,)`` with ``per_object=True``.
        Zero for ``z <= -1`` and ``z = +inf``.

    Raises
    ------
    ValueError
        If the parameters are invalid or ``z`` has the wrong shape or holds
        NaN.
    """
    w, m, s = _check_mixture(weights, mu, sigma)
    zz = _check_z(z, w.shape[0], per_object)
    valid = (zz > -1.0) & np.isfinite(zz)
    with np.errstate(divide="ignore", invalid="ignore"):
        t = np.where(valid, np.log1p(np.where(valid, zz, 0.0)), 0.0)

    def func(w_, m_, s_, t_):
        return np.exp(_log_pt(w_, m_, s_, t_) - t_)

    return np.where(valid, _map_chunks(func, w, m, s, t, per_object=per_object), 0.0)


def cdf_z(
    weights: ArrayLike, mu: ArrayLike, sigma: ArrayLike, z: ArrayLike, *, per_object: bool = False
) -> np.ndarray:
    """Cumulative distribution in redshift, ``F(z) = sum_k w_k Phi((ln(1 + z) - mu_k) / sigma_k)``.

    Parameters
    ----------
    weights, mu, sigma, z, per_object
        The mixtures and the redshifts (a shared grid or one per object),
        as in :func:`pdf_z`.

    Returns
    -------
    numpy.ndarray
        Shape ``(n, m)`` for a grid, ``(n,)`` with ``per_object=True``; 0
        for ``z <= -1``, 1 for ``z = +inf``.

    Raises
    ------
    ValueError
        As :func:`pdf_z`.
    """
    w, m, s = _check_mixture(weights, mu, sigma)
    zz = _check_z(z, w.shape[0], per_object)
    with np.errstate(divide="ignore", invalid="ignore"):
        # log1p(-1) = -inf and log1p(inf) = inf give Phi = 0 and 1 exactly.
        t = np.log1p(np.maximum(zz, -1.0))
    return _map_chunks(_cdf_t, w, m, s, t, per_object=per_object)


def pit(weights: ArrayLike, mu: ArrayLike, sigma: ArrayLike, z_true: ArrayLike) -> np.ndarray:
    """Probability integral transform: the predicted CDF at the true redshift.

    For a calibrated set of PDFs the PIT values are uniform on [0, 1]
    (Dawid 1984; Gneiting et al. 2007); a U-shaped histogram means
    over-confident PDFs, a hump under-confident ones, a slope a bias.

    Parameters
    ----------
    weights, mu, sigma : array_like, shape (n, K)
        Mixture parameters in ``t = ln(1 + z)``.
    z_true : array_like, shape (n,)
        True redshifts.

    Returns
    -------
    numpy.ndarray, shape (n,)
        ``F_i(z_true_i)``.

    Raises
    ------
    ValueError
        If the parameters are invalid or ``z_true`` is not of shape ``(n,)``
        or holds NaN.
    """
    return cdf_z(weights, mu, sigma, z_true, per_object=True)


# ---------------------------------------------------------------------------
# quantiles and point estimates


def _quantiles_t(w: np.ndarray, m: np.ndarray, s: np.ndarray, q: np.ndarray) -> np.ndarray:
    """Quantiles in ``t`` of validated mixtures; ``q`` of shape (Q,), result (n, Q).

    Safeguarded Newton iteration (Press et al., *Numerical Recipes*,
    ``rtsafe``), vectorised over objects and levels.  The bracket is exact:
    below the smallest of the components' own quantiles every component's
    CDF is below the level, above the largest every one is above it.  The
    start is the weights' mean of the components' quantiles.  A Newton step
    is taken only if it stays in the bracket and is at most half the step
    before it, otherwise the bracket is bisected; the bracket shrinks to the
    side of every point evaluated.  An entry is settled when its step or its
    bracket is below ``_QUANTILE_TOL_T`` and then no longer moves; an object
    leaves the iteration when all its levels are settled.
    """
    n, k = w.shape
    nq = q.size
    out = np.empty((n, nq))
    if n == 0 or nq == 0:
        return out
    z_q = ndtri(q)
    for sl in _chunks(n, nq * k):
        wc, mc, sc = w[sl], m[sl], s[sl]
        own = mc[:, None, :] + sc[:, None, :] * z_q[None, :, None]  # (n, Q, K)
        lo, hi = own.min(axis=2), own.max(axis=2)
        t = np.einsum("nk,nqk->nq", wc, own)
        last_step = hi - lo
        settled = np.zeros(t.shape, bool)
        rows = np.arange(t.shape[0])
        target = np.broadcast_to(q, t.shape)
        w_over_s = wc / sc
        result = out[sl]  # a view: rows are written into out as they settle
        for _ in range(_QUANTILE_MAX_STEPS):
            u = (t[:, :, None] - mc[:, None, :]) / sc[:, None, :]
            f = np.einsum("nk,nqk->nq", wc, ndtr(u)) - target
            density = np.einsum("nk,nqk->nq", w_over_s, np.exp(-0.5 * u * u)) * _INV_SQRT_2PI
            below = f < 0
            lo = np.where(below, t, lo)
            hi = np.where(below, hi, t)
            with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
                newton = f / density
            t_newton = t - newton
            use_newton = (
                np.isfinite(t_newton)
                & (t_newton >= lo)
                & (t_newton <= hi)
                & (np.abs(newton) <= 0.5 * np.abs(last_step))
            )
            t_next = np.where(settled, t, np.where(use_newton, t_newton, 0.5 * (lo + hi)))
            last_step = t_next - t
            t = t_next
            settled |= (np.abs(last_step) <= _QUANTILE_TOL_T) | (hi - lo <= _QUANTILE_TOL_T)
            finished = settled.all(axis=1)
            if finished.any():
                result[rows[finished]] = t[finished]
                keep = ~finished
                rows, t, lo, hi = rows[keep], t[keep], lo[keep], hi[keep]
                last_step, settled, target = last_step[keep], settled[keep], target[keep]
                wc, mc, sc, w_over_s = wc[keep], mc[keep], sc[keep], w_over_s[keep]
                if rows.size == 0:
                    break
        else:  # not reached in practice: bisection alone settles in ~40 steps
            result[rows] = t
    return out


def _check_q(q: ArrayLike) -> np.ndarray:
    """Validate probability levels: finite, strictly between 0 and 1, at most 1-D."""
    arr = np.asarray(q, dtype=np.float64)
    if arr.ndim > 1:
        raise ValueError(f"q must be a scalar or 1-D array of probabilities, got shape {arr.shape}")
    arr = np.atleast_1d(arr)
    if not np.all((arr > 0.0) & (arr < 1.0)):
        raise ValueError("q must hold probabilities strictly between 0 and 1")
    return arr


def quantiles_z(weights: ArrayLike, mu: ArrayLike, sigma: ArrayLike, q: ArrayLike) -> np.ndarray:
    """Quantiles of the redshift distributions.

    The mixture CDF in ``t`` is inverted by safeguarded Newton iteration
    (bisection where a Newton step would leave the bracket or converge too
    slowly) on the bracket ``[min_k Q_k(q), max_k Q_k(q)]`` of the
    components' own quantiles ``Q_k(q) = mu_k + sigma_k Phi^-1(q)``, which
    always holds the mixture's, down to a step or bracket of ``1e-9`` in
    ``t``; the result is mapped to ``z = expm1(t)`` (the transform is
    monotone, so quantiles carry over exactly).

    Parameters
    ----------
    weights, mu, sigma : array_like, shape (n, K)
        Mixture parameters in ``t = ln(1 + z)``.
    q : float or array_like, shape (Q,)
        Probability levels, strictly between 0 and 1.

    Returns
    -------
    numpy.ndarray, shape (n, Q)
        Redshift quantiles (``Q = 1`` for a scalar ``q``).

    Raises
    ------
    ValueError
        If the parameters are invalid or a level is not in (0, 1).

    Notes
    -----
    Where the CDF is flat (a gap between well-separated components) any
    point of the gap is a valid quantile; the solver returns one within the
    tolerance of the level set.
    """
    w, m, s = _check_mixture(weights, mu, sigma)
    return np.expm1(_quantiles_t(w, m, s, _check_q(q)))


def mean_z(weights: ArrayLike, mu: ArrayLike, sigma: ArrayLike) -> np.ndarray:
    """Mean redshift, ``sum_k w_k exp(mu_k + sigma_k^2 / 2) - 1`` (exact).

    Parameters
    ----------
    weights, mu, sigma : array_like, shape (n, K)
        Mixture parameters in ``t = ln(1 + z)``.

    Returns
    -------
    numpy.ndarray, shape (n,)
        Mean redshift of each object.

    Raises
    ------
    ValueError
        If the parameters are invalid.
    """
    w, m, s = _check_mixture(weights, mu, sigma)
    return np.sum(w * np.exp(m + 0.5 * s * s), axis=1) - 1.0


def median_z(weights: ArrayLike, mu: ArrayLike, sigma: ArrayLike) -> np.ndarray:
    """Median redshift (see :func:`quantiles_z`).

    Parameters
    ----------
    weights, mu, sigma : array_like, shape (n, K)
        Mixture parameters in ``t = ln(1 + z)``.

    Returns
    -------
    numpy.ndarray, shape (n,)
        Median redshift of each object.

    Raises
    ------
    ValueError
        If the parameters are invalid.
    """
    return quantiles_z(weights, mu, sigma, [0.5])[:, 0]


def _log_pz_t(w: np.ndarray, m: np.ndarray, s: np.ndarray, t: np.ndarray) -> np.ndarray:
    """``log p_z`` at ``z = expm1(t)``, as a function of ``t``: ``log p_t(t) - t``."""
    return _log_pt(w, m, s, t) - t


def _best_of(w: np.ndarray, m: np.ndarray, s: np.ndarray, t: np.ndarray) -> np.ndarray:
    """Per object, the point of ``t`` (n, P) where ``p_z`` is highest, shape (n,).

    The densities are summed directly (3x faster than the log-sum-exp of
    :func:`_log_pz_t`); an object whose best value underflows, overflows or
    is NaN is done again in logarithms.
    """
    u = (t[:, :, None] - m[:, None, :]) / s[:, None, :]
    with np.errstate(over="ignore", invalid="ignore"):
        values = np.einsum("nk,npk->np", w / s, np.exp(-0.5 * u * u)) * np.exp(-t)
    rows = np.arange(t.shape[0])
    best = np.argmax(values, axis=1)
    top = values[rows, best]
    redo = ~(np.isfinite(top) & (top > _DIRECT_DENSITY_FLOOR))
    if redo.any():
        best[redo] = np.argmax(_log_pz_t(w[redo], m[redo], s[redo], t[redo]), axis=1)
    return t[rows, best]


def _log_pz_derivatives(w, m, s, t):
    """``log p_z`` and its first two derivatives in ``t`` at one point per object.

    ``t`` has shape (n,); returns three arrays of shape (n,).  With
    ``q_k = w_k N(t; m_k, s_k) / p_t`` (the components' responsibilities)
    and ``u_k = (t - m_k) / s_k``: ``d log p_t / dt = -sum q_k u_k / s_k``
    and ``d2 log p_t / dt2 = sum q_k (u_k^2 - 1) / s_k^2 - (d log p_t / dt)^2``;
    ``log p_z = log p_t - t`` adds -1 to the first derivative.
    """
    with np.errstate(divide="ignore"):
        log_w = np.log(w)
    u = (t[:, None] - m) / s
    terms = log_w - np.log(s) - 0.5 * u * u
    top = np.max(terms, axis=1, keepdims=True)
    e = np.exp(terms - top)
    total = np.sum(e, axis=1)
    q = e / total[:, None]
    d1 = -np.sum(q * u / s, axis=1)
    d2 = np.sum(q * (u * u - 1.0) / (s * s), axis=1) - d1 * d1
    value = np.log(total) + top[:, 0] - _LOG_SQRT_2PI - t
    return value, d1 - 1.0, d2


def _refine_mode_newton(w, m, s, t, radius):
    """Safeguarded Newton ascent of ``log p_z`` from ``t`` (n,), steps at most ``radius``.

    A step is kept only if it raises ``log p_z``; otherwise the trust radius
    of that object shrinks fourfold.  Returns the refined points and a mask
    of the objects that converged (last Newton step below
    ``_MODE_NEWTON_TOL_T`` at a point where ``log p_z`` is concave).
    """
    value, d1, d2 = _log_pz_derivatives(w, m, s, t)
    radius = radius.copy()
    for _ in range(_MODE_NEWTON_STEPS):
        with np.errstate(divide="ignore", invalid="ignore"):
            newton = np.where(d2 < 0, -d1 / d2, np.sign(d1) * radius)
        step = np.clip(np.nan_to_num(newton), -radius, radius)
        trial = t + step
        v_new, d1_new, d2_new = _log_pz_derivatives(w, m, s, trial)
        better = v_new >= value
        t = np.where(better, trial, t)
        value = np.where(better, v_new, value)
        d1 = np.where(better, d1_new, d1)
        d2 = np.where(better, d2_new, d2)
        radius = np.where(better, radius, 0.25 * radius)
        step = np.where(better, step, np.inf)
        if np.all(np.abs(step) <= _MODE_NEWTON_TOL_T):
            break
    with np.errstate(divide="ignore", invalid="ignore"):
        last = np.abs(np.where(d2 < 0, d1 / d2, np.inf))
    return t, (last <= _MODE_NEWTON_TOL_T) & (d2 < 0)


def _refine_mode_zoom(w, m, s, t0, h, rounds=_MODE_ZOOM_ROUNDS):
    """Refine ``t0`` by ``rounds`` local grids of ``_MODE_ZOOM_POINTS`` around the best point."""
    zoom = np.linspace(-1.0, 1.0, _MODE_ZOOM_POINTS)
    for _ in range(rounds):
        pts = t0[:, None] + h[:, None] * zoom  # includes t0 itself (centre point)
        t0 = _best_of(w, m, s, pts)
        h = h * (2.0 / (_MODE_ZOOM_POINTS - 1))
    return t0


def _mode_t(w: np.ndarray, m: np.ndarray, s: np.ndarray) -> np.ndarray:
    """``t`` of the highest peak of ``p_z`` for validated mixtures; shape (n,)."""
    n, k = w.shape
    out = np.empty(n)
    if n == 0:
        return out
    base = np.linspace(0.0, 1.0, _MODE_GRID)
    for sl in _chunks(n, (_MODE_GRID + k) * k):
        wc, mc, sc = w[sl], m[sl], s[sl]
        peaks = mc - sc * sc  # mode in z of each component alone
        lo = np.minimum(np.min(mc - 5.0 * sc, axis=1), np.min(peaks, axis=1))
        hi = np.max(mc + 5.0 * sc, axis=1)
        step = (hi - lo) / (_MODE_GRID - 1)
        # Coarse grid plus each component's own peak, so that a component
        # narrower than the grid spacing cannot be missed.
        cand = np.concatenate([lo[:, None] + (hi - lo)[:, None] * base, peaks], axis=1)
        t0 = _best_of(wc, mc, sc, cand)
        # one finer local grid (two peaks closer than the grid spacing), then
        # Newton from its best point; where Newton does not converge, more grids
        t1 = _refine_mode_zoom(wc, mc, sc, t0, step, rounds=1)
        t, done = _refine_mode_newton(wc, mc, sc, t1, step / 10.0)
        if not np.all(done):
            rows = np.flatnonzero(~done)
            t[rows] = _refine_mode_zoom(wc[rows], mc[rows], sc[rows], t0[rows], step[rows])
        out[sl] = t
    return out


def mode_z(weights: ArrayLike, mu: ArrayLike, sigma: ArrayLike) -> np.ndarray:
    """Mode of the redshift PDF ``p_z`` (the highest peak, in ``z``).

    The mode in ``z`` is not the mode in ``t``: the Jacobian ``1 / (1 + z)``
    favours low redshifts (a single component peaks at
    ``z = expm1(mu - sigma^2)``), so for a multimodal mixture the highest
    peak in ``z`` may belong to a lighter component than the highest peak
    in ``t``.

    ``log p_z = log p_t(t) - t`` is maximised over ``t`` on a per-object grid
    of 64 points spanning ``[min_k(mu_k - 5 sigma_k, mu_k - sigma_k^2),
    max_k(mu_k + 5 sigma_k)]`` together with the peak of every component
    alone; the best point is refined by a local grid of 21 points ten times
    finer (which separates two peaks closer than the coarse spacing), then by
    safeguarded Newton steps on ``log p_z`` (a step is kept only if it raises
    ``log p_z``, else the trust radius shrinks) until a step is below
    ``1e-8`` in ``t``.  An object on which Newton does not converge is
    refined instead by five rounds of local grids of 21 points, each ten
    times finer than the last (resolution ``1e-5`` of the coarse spacing).
    Both are far below the ``1e-5`` accuracy in ``z`` aimed at; Newton
    (on 5,000 photo-z posteriors 1.5x faster than the grids alone) reaches
    a peak at least as high in every case tested.

    Parameters
    ----------
    weights, mu, sigma : array_like, shape (n, K)
        Mixture parameters in ``t = ln(1 + z)``.

    Returns
    -------
    numpy.ndarray, shape (n,)
        Redshift of the highest peak of each PDF.

    Raises
    ------
    ValueError
        If the parameters are invalid.

    Notes
    -----
    Two peaks of equal height within the numerical precision may be
    resolved either way.
    """
    w, m, s = _check_mixture(weights, mu, sigma)
    return np.expm1(_mode_t(w, m, s))


def summarize(
    weights: ArrayLike, mu: ArrayLike, sigma: ArrayLike, *, chunk_size: int = 4096
) -> dict[str, np.ndarray]:
    """Point estimates and central credible intervals of the redshift PDFs.

    Parameters
    ----------
    weights, mu, sigma : array_like, shape (n, K)
        Mixture parameters in ``t = ln(1 + z)``.
    chunk_size : int, optional
        Objects processed at a time (bounds the memory used).

    Returns
    -------
    dict of str to numpy.ndarray
        Float32 arrays of shape ``(n,)``:

        ``z_mean``, ``z_median``, ``z_mode``
            See :func:`mean_z`, :func:`median_z`, :func:`mode_z`.
        ``z_lo68``, ``z_hi68``
            Central 68 % interval: quantiles ``Phi(-1)`` and ``Phi(1)``
            (0.158655..., 0.841345...).
        ``z_lo95``, ``z_hi95``
            Central 95 % interval: quantiles ``Phi(-2)`` and ``Phi(2)``
            (0.022750..., 0.977250...).

    Raises
    ------
    ValueError
        If the parameters are invalid or ``chunk_size < 1``.
    """
    if int(chunk_size) < 1:
        raise ValueError(f"chunk_size must be >= 1, got {chunk_size}")
    chunk_size = int(chunk_size)
    w, m, s = _check_mixture(weights, mu, sigma)
    n = w.shape[0]
    keys = ("z_mean", "z_median", "z_mode", "z_lo68", "z_hi68", "z_lo95", "z_hi95")
    out = {key: np.empty(n, dtype=np.float32) for key in keys}
    levels = np.array([0.5, Q_LO68, Q_HI68, Q_LO95, Q_HI95])
    for start in range(0, n, chunk_size):
        sl = slice(start, min(start + chunk_size, n))
        wc, mc, sc = w[sl], m[sl], s[sl]
        qz = np.expm1(_quantiles_t(wc, mc, sc, levels))
        out["z_mean"][sl] = np.sum(wc * np.exp(mc + 0.5 * sc * sc), axis=1) - 1.0
        out["z_median"][sl] = qz[:, 0]
        out["z_mode"][sl] = np.expm1(_mode_t(wc, mc, sc))
        out["z_lo68"][sl] = qz[:, 1]
        out["z_hi68"][sl] = qz[:, 2]
        out["z_lo95"][sl] = qz[:, 3]
        out["z_hi95"][sl] = qz[:, 4]
    return out


# ---------------------------------------------------------------------------
# CRPS


def _crps_quadrature(w: np.ndarray, m: np.ndarray, s: np.ndarray, y: np.ndarray) -> np.ndarray:
    """CRPS in ``z`` by panel Gauss-Legendre quadrature in ``t``; see :func:`crps_z`."""
    n, k = w.shape
    out = np.empty(n)
    if n == 0:
        return out
    t_y = np.log1p(y)
    n_breaks = _CRPS_UNIFORM_PANELS + 1 + k * _CRPS_COMPONENT_BREAKS.size + 1
    n_nodes = (n_breaks - 1) * _CRPS_GL_NODES.size
    gl_x = 0.5 * (_CRPS_GL_NODES + 1.0)  # nodes on [0, 1]
    gl_w = 0.5 * _CRPS_GL_WEIGHTS
    for sl in _chunks(n, n_nodes * k):
        wc, mc, sc, ty = w[sl], m[sl], s[sl], t_y[sl]
        nc = wc.shape[0]
        lo = np.minimum(np.min(mc - 8.0 * sc, axis=1), ty)
        hi = np.maximum(np.max(mc + 8.0 * sc, axis=1), ty)
        uniform = lo[:, None] + (hi - lo)[:, None] * np.linspace(0.0, 1.0, _CRPS_UNIFORM_PANELS + 1)
        local = (mc[:, :, None] + sc[:, :, None] * _CRPS_COMPONENT_BREAKS).reshape(nc, -1)
        breaks = np.concatenate([uniform, np.clip(local, lo[:, None], hi[:, None]), ty[:, None]], 1)
        breaks.sort(axis=1)
        a, b = breaks[:, :-1], breaks[:, 1:]
        width = b - a
        nodes = (a[:, :, None] + width[:, :, None] * gl_x).reshape(nc, -1)
        big_f = _cdf_t(wc, mc, sc, nodes).reshape(nc, -1, gl_x.size)
        # t_y is a break, so no panel straddles the truth: left of it the
        # integrand is F^2, right of it (1 - F)^2; dz = e^t dt.
        right = (a >= ty[:, None])[:, :, None]
        integrand = np.where(right, (1.0 - big_f) ** 2, big_f**2)
        integrand = integrand * np.exp(nodes.reshape(nc, -1, gl_x.size))
        out[sl] = np.sum(width * np.sum(integrand * gl_w, axis=2), axis=1)
    return out


def _crps_on_grid(
    w: np.ndarray, m: np.ndarray, s: np.ndarray, y: np.ndarray, grid: np.ndarray
) -> np.ndarray:
    """CRPS in ``z`` by the trapezoidal rule on a user grid; see :func:`crps_z`."""
    n, k = w.shape
    out = np.empty(n)
    with np.errstate(divide="ignore"):
        t_grid = np.log1p(grid)
    dz = np.diff(grid)
    for sl in _chunks(n, grid.size * k):
        big_f = _cdf_t(
            w[sl], m[sl], s[sl], np.broadcast_to(t_grid, (sl.stop - sl.start, grid.size))
        )
        # Per segment: exact step at the truth inside the segment, F linear.
        f0, f1 = big_f[:, :-1], big_f[:, 1:]
        g0, g1 = grid[:-1], grid[1:]
        yy = y[sl][:, None]
        frac = np.clip((yy - g0) / dz, 0.0, 1.0)  # fraction of the segment below y
        f_at_y = f0 + frac * (f1 - f0)
        # integral of F^2 over [g0, y] and of (1 - F)^2 over [y, g1], F linear
        below = frac * dz * (f0 * f0 + f0 * f_at_y + f_at_y * f_at_y) / 3.0
        above = (
            (1.0 - frac) * dz * ((1 - f_at_y) ** 2 + (1 - f_at_y) * (1 - f1) + (1 - f1) ** 2) / 3.0
        )
        seg = below + above
        # truth beyond the grid: the whole distance counts fully
        extra = np.where(yy[:, 0] > g1[-1], yy[:, 0] - g1[-1], 0.0) + np.where(
            yy[:, 0] < g0[0], g0[0] - yy[:, 0], 0.0
        )
        out[sl] = seg.sum(axis=1) + extra
    return out


def crps_z(
    weights: ArrayLike,
    mu: ArrayLike,
    sigma: ArrayLike,
    z_true: ArrayLike,
    grid: ArrayLike | None = None,
) -> np.ndarray:
    """Continuous ranked probability score of the redshift PDFs.

    .. math::

        \\mathrm{CRPS}_i = \\int_{-1}^{\\infty}
        \\left[F_i(z) - H(z - z_{\\mathrm{true},i})\\right]^2 \\, dz,

    with ``H`` the Heaviside step (Hersbach 2000; Gneiting & Raftery 2007).
    It has the units of ``z``, is 0 for a perfect point forecast, and
    reduces to ``|z_phot - z_true|`` for a point estimate.

    Parameters
    ----------
    weights, mu, sigma : array_like, shape (n, K)
        Mixture parameters in ``t = ln(1 + z)``.
    z_true : array_like, shape (n,)
        True redshifts, finite and ``> -1``.
    grid : array_like, shape (m,), optional
        A strictly increasing redshift grid (values ``> -1``) on which to
        integrate instead of the default adaptive quadrature.  ``F`` is
        interpolated linearly between grid points (the step at the truth
        is treated exactly); outside the grid ``F`` is taken as 0 below and
        1 above, so the grid must cover the PDFs.

    Returns
    -------
    numpy.ndarray, shape (n,)
        CRPS per object.

    Raises
    ------
    ValueError
        If the parameters are invalid, ``z_true`` is not of shape ``(n,)``
        with finite values ``> -1``, or ``grid`` is not a strictly
        increasing 1-D array of finite values ``> -1`` with at least 2
        points.

    Notes
    -----
    By default the integral is computed per object in ``t`` (``dz = e^t
    dt``) by 4-point Gauss-Legendre quadrature on panels whose breaks are
    the union of 33 points spread uniformly over ``[min_k(mu_k - 8
    sigma_k, t_true), max_k(mu_k + 8 sigma_k, t_true)]``, points every
    sigma over +-8 sigma of each component, and ``t_true``, so no panel
    straddles the discontinuity of the integrand at the truth.  The
    integrand is smooth on each panel and panels are at most one component
    width wide where ``F`` varies, so the quadrature error is negligible:
    relative error below ``1e-9`` against the closed-form log-normal CRPS
    (Baran & Lerch 2015) for widths from ``3e-4`` to 1 and truths up to
    9 sigma away.  Truncating the range at 8 sigma neglects a probability
    of ``< 1e-15``.  Time and memory scale as ``n K (33 + 17 K)``.
    """
    w, m, s = _check_mixture(weights, mu, sigma)
    y = _check_z(z_true, w.shape[0], True, name="z_true")
    if not np.all(np.isfinite(y)) or np.any(y <= -1.0):
        raise ValueError("z_true must be finite and > -1")
    if grid is None:
        return _crps_quadrature(w, m, s, y)
    g = np.asarray(grid, dtype=np.float64)
    if g.ndim != 1 or g.size < 2:
        raise ValueError(f"grid must be a 1-D array of at least 2 redshifts, got shape {g.shape}")
    if not np.all(np.isfinite(g)) or np.any(g <= -1.0) or np.any(np.diff(g) <= 0):
        raise ValueError("grid must hold finite, strictly increasing redshifts > -1")
    return _crps_on_grid(w, m, s, y, g)
