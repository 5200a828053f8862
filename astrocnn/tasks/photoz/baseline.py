"""Classical catalogue baseline for photometric redshifts: k nearest neighbours.

The k-NN photo-z estimator (e.g. Csabai et al. 2003, AN 324, 38; Ball et al.
2008, ApJ 683, 12; Beck et al. 2016, MNRAS 460, 1371) predicts the redshift
of an object from the redshifts of the training objects closest to it in
the space of magnitude and colours.  It uses catalogue photometry only, no
images, which makes it the reference against which an image CNN is judged
(Pasquet et al. 2019 compare with such template-free methods).

Features are one reference magnitude and all adjacent colours
(:func:`colour_features`), each standardised with the mean and standard
deviation of the training set, so the magnitude and every colour carry the
same weight in the Euclidean distance.

The ``k`` neighbours' redshifts form an ensemble that stands in for a PDF:
their median is the point estimate, their quantiles the credible intervals,
and :func:`astrocnn.tasks.photoz.metrics.crps_ensemble` /
:func:`astrocnn.tasks.photoz.metrics.pit_ensemble` score it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike
from scipy.special import ndtr

__all__ = ["KNNPhotoz", "KNNPrediction", "colour_features", "knn_cross_validated"]

_Q_LO68, _Q_HI68 = float(ndtr(-1.0)), float(ndtr(1.0))
_Q_LO95, _Q_HI95 = float(ndtr(-2.0)), float(ndtr(2.0))


def _check_mags(mags: ArrayLike, n_bands: int | None = None) -> np.ndarray:
    """Validate an ``(n, b)`` array of finite magnitudes."""
    arr = np.asarray(mags)
    if arr.dtype == object or not np.issubdtype(arr.dtype, np.number):
        raise ValueError(f"mags must be numeric, got dtype {arr.dtype}")
    arr = arr.astype(np.float64)
    if arr.ndim != 2 or arr.shape[1] < 1:
        raise ValueError(
            f"mags must have shape (n, b) with b >= 1 bands (one row per object), "
            f"got shape {arr.shape}"
        )
    if n_bands is not None and arr.shape[1] != n_bands:
        raise ValueError(f"mags must have {n_bands} bands (as in fit), got {arr.shape[1]}")
    bad = ~np.all(np.isfinite(arr), axis=1)
    if np.any(bad):
        rows = np.flatnonzero(bad)
        raise ValueError(
            f"mags must be finite: {rows.size} row(s) hold NaN or inf (first: row {rows[0]}); "
            "remove or impute non-detections before calling"
        )
    return arr


def colour_features(mags: ArrayLike, ref_band: int | None = None) -> np.ndarray:
    """Magnitude-and-colour features from multi-band magnitudes.

    Parameters
    ----------
    mags : array_like, shape (n, b)
        Finite magnitudes, bands ordered from blue to red.
    ref_band : int, optional
        Index of the band whose magnitude is kept as the brightness
        feature.  Default: the middle band, ``b // 2`` (``r`` for ``ugriz``,
        ``i`` for ``grizy``).

    Returns
    -------
    numpy.ndarray, shape (n, b)
        ``[m_ref, m_0 - m_1, m_1 - m_2, ..., m_{b-2} - m_{b-1}]`` (not
        standardised; :class:`KNNPhotoz` standardises with training-set
        statistics).

    Raises
    ------
    ValueError
        If ``mags`` is not a finite 2-D array or ``ref_band`` is out of
        range.
    """
    m = _check_mags(mags)
    b = m.shape[1]
    ref = b // 2 if ref_band is None else int(ref_band)
    if not -b <= ref < b:
        raise ValueError(f"ref_band must index one of the {b} bands, got {ref_band}")
    return np.concatenate([m[:, [ref]], m[:, :-1] - m[:, 1:]], axis=1)


@dataclass(frozen=True)
class KNNPrediction:
    """Redshift estimates of :class:`KNNPhotoz` for ``n`` objects.

    Attributes
    ----------
    z_phot : numpy.ndarray, shape (n,)
        Median of the neighbours' redshifts.
    neighbours : numpy.ndarray, shape (n, k)
        Redshifts of the ``k`` nearest training objects, nearest first: an
        ensemble for :func:`astrocnn.tasks.photoz.metrics.crps_ensemble` and
        :func:`astrocnn.tasks.photoz.metrics.pit_ensemble`.
    distances : numpy.ndarray, shape (n, k)
        Distances to them in the standardised feature space.
    lo68, hi68, lo95, hi95 : numpy.ndarray, shape (n,)
        Quantiles ``Phi(-1), Phi(1), Phi(-2), Phi(2)`` of the neighbours'
        redshifts (linear interpolation between order statistics).
    """

    z_phot: np.ndarray
    neighbours: np.ndarray
    distances: np.ndarray
    lo68: np.ndarray
    hi68: np.ndarray
    lo95: np.ndarray
    hi95: np.ndarray

    def as_dict(self) -> dict[str, np.ndarray]:
        """Return the fields as a dict of arrays."""
        return {
            "z_phot": self.z_phot,
            "neighbours": self.neighbours,
            "distances": self.distances,
            "lo68": self.lo68,
            "hi68": self.hi68,
            "lo95": self.lo95,
            "hi95": self.hi95,
        }


def _prediction(neighbours: np.ndarray, distances: np.ndarray) -> KNNPrediction:
    """Point estimate and intervals from the neighbours' redshifts."""
    q = np.quantile(neighbours, [0.5, _Q_LO68, _Q_HI68, _Q_LO95, _Q_HI95], axis=1)
    return KNNPrediction(
        z_phot=q[0],
        neighbours=neighbours,
        distances=distances,
        lo68=q[1],
        hi68=q[2],
        lo95=q[3],
        hi95=q[4],
    )


class KNNPhotoz:
    """k-nearest-neighbour photometric redshifts from magnitudes and colours.

    Parameters
    ----------
    k : int, optional
        Number of neighbours (default 20).
    ref_band : int, optional
        Band kept as the magnitude feature (see :func:`colour_features`).

    Notes
    -----
    The point estimate is the *median* of the neighbours' redshifts (not a
    distance-weighted mean): robust to a minority of neighbours from a
    colour-redshift degeneracy, and consistent with the ensemble used for
    the CRPS and PIT.  Neighbours are found with :class:`scipy.spatial.cKDTree`
    (Euclidean distance in the standardised feature space); ties in
    distance are broken by the tree.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> z = rng.uniform(0.1, 1.0, 500)
    >>> mags = 22 + np.stack([2 * z, z, 0.5 * z], axis=1) + rng.normal(0, 0.01, (500, 3))
    >>> pred = KNNPhotoz(k=10).fit(mags[:400], z[:400]).predict(mags[400:])
    >>> pred.neighbours.shape
    (100, 10)
    """

    def __init__(self, k: int = 20, ref_band: int | None = None):
        if int(k) != k or k < 1:
            raise ValueError(f"k must be a positive integer, got {k!r}")
        self.k = int(k)
        self.ref_band = ref_band
        self._tree = None

    def fit(self, mags: ArrayLike, z: ArrayLike) -> KNNPhotoz:
        """Store the training set.

        Parameters
        ----------
        mags : array_like, shape (n, b)
            Finite magnitudes of the training objects.
        z : array_like, shape (n,)
            Their (spectroscopic) redshifts, finite.

        Returns
        -------
        KNNPhotoz
            ``self``.

        Raises
        ------
        ValueError
            If the inputs are not finite, their lengths differ, or there
            are fewer than ``k`` training objects.
        """
        from scipy.spatial import cKDTree

        m = _check_mags(mags)
        zz = np.asarray(z, dtype=np.float64)
        if zz.shape != (m.shape[0],):
            raise ValueError(f"z must have shape ({m.shape[0]},) like mags, got {zz.shape}")
        if not np.all(np.isfinite(zz)):
            raise ValueError("z must be finite")
        if m.shape[0] < self.k:
            raise ValueError(f"need at least k = {self.k} training objects, got {m.shape[0]}")
        feats = colour_features(m, self.ref_band)
        self.mean_ = feats.mean(axis=0)
        std = feats.std(axis=0)
        self.scale_ = np.where(std > 0, std, 1.0)  # a constant feature is left unscaled
        self.n_bands_ = m.shape[1]
        self.z_train_ = zz.copy()
        self._tree = cKDTree((feats - self.mean_) / self.scale_)
        return self

    def predict(self, mags: ArrayLike) -> KNNPrediction:
        """Predict redshifts.

        Parameters
        ----------
        mags : array_like, shape (n, b)
            Finite magnitudes, in the bands (and order) used in :meth:`fit`.

        Returns
        -------
        KNNPrediction

        Raises
        ------
        RuntimeError
            If the model has not been fitted.
        ValueError
            If ``mags`` is not finite or has another number of bands.
        """
        if self._tree is None:
            raise RuntimeError("KNNPhotoz.predict called before fit")
        m = _check_mags(mags, self.n_bands_)
        feats = (colour_features(m, self.ref_band) - self.mean_) / self.scale_
        if feats.shape[0] == 0:
            empty = np.empty((0, self.k))
            return _prediction(empty, empty.copy())
        dist, idx = self._tree.query(feats, k=self.k)
        dist = np.asarray(dist).reshape(feats.shape[0], self.k)
        idx = np.asarray(idx).reshape(feats.shape[0], self.k)
        return _prediction(self.z_train_[idx], dist)


def knn_cross_validated(
    mags: ArrayLike,
    z: ArrayLike,
    k: int = 20,
    n_folds: int = 5,
    seed: int | None = 0,
    ref_band: int | None = None,
) -> KNNPrediction:
    """k-NN redshifts for every object, each from a model not trained on it.

    The objects are split at random into ``n_folds`` folds of (nearly)
    equal size; the objects of each fold are predicted by a
    :class:`KNNPhotoz` fitted on the other folds (feature standardisation
    included).  Use this when no separate training catalogue exists for
    the baseline.

    Parameters
    ----------
    mags : array_like, shape (n, b)
        Finite magnitudes, bands ordered from blue to red (see
        :func:`colour_features`).
    z : array_like, shape (n,)
        True (spectroscopic) redshifts, finite.
    k : int, optional
        Number of neighbours.
    n_folds : int, optional
        Number of folds, ``2 <= n_folds <= n``.
    seed : int or None, optional
        Seed of the random fold assignment.
    ref_band : int, optional
        See :func:`colour_features`.

    Returns
    -------
    KNNPrediction
        For all ``n`` objects, in input order.

    Raises
    ------
    ValueError
        If the inputs are invalid, ``n_folds`` is out of range, or a
        training split would hold fewer than ``k`` objects.
    """
    m = _check_mags(mags)
    zz = np.asarray(z, dtype=np.float64)
    n = m.shape[0]
    if zz.shape != (n,):
        raise ValueError(f"z must have shape ({n},) like mags, got {zz.shape}")
    if int(n_folds) != n_folds or not 2 <= n_folds <= max(n, 2):
        raise ValueError(f"n_folds must be an integer between 2 and n = {n}, got {n_folds!r}")
    if n < int(n_folds):
        raise ValueError(f"need at least n_folds = {n_folds} objects, got {n}")
    n_folds = int(n_folds)
    smallest_train = n - int(np.ceil(n / n_folds))
    if smallest_train < k:
        raise ValueError(
            f"with {n} objects and {n_folds} folds a training split holds {smallest_train} "
            f"objects, fewer than k = {k}"
        )
    order = np.random.default_rng(seed).permutation(n)
    folds = np.array_split(order, n_folds)
    neighbours = np.empty((n, int(k)))
    distances = np.empty((n, int(k)))
    for fold in folds:
        train = np.ones(n, dtype=bool)
        train[fold] = False
        model = KNNPhotoz(k=k, ref_band=ref_band).fit(m[train], zz[train])
        pred = model.predict(m[fold])
        neighbours[fold] = pred.neighbours
        distances[fold] = pred.distances
    return _prediction(neighbours, distances)
