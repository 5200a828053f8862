"""Baseline for painting baryons: a (log-)linear bias model of smoothed dark matter.

Before crediting a network with learning the gas, compare it with the best
*local bias* model: each gas map is a fixed function of the dark-matter map
smoothed on some scale.  :class:`BiasModel` fits, for every output channel,

.. math::  f(y) = a + b\\, g(\\delta_s) \\;[+\\; c\\, g(\\delta_s)^2]

by least squares over all pixels of the training maps, where
:math:`\\delta_s` is the dark-matter map (``1 + delta``) smoothed with a
Gaussian of standard deviation ``s`` (in Mpc/h; ``s = 0`` means no
smoothing) and, for ``mode="log"``, :math:`f = g = \\log_{10}` (a power-law
bias :math:`y \\propto \\delta_s^{\\,b}`) or, for ``mode="linear"``, the
identity.  The smoothing scale is chosen per channel among
``smoothing_scales`` as the one with the smallest training mean squared
error (in the transformed space).  Predictions invert the transform, so they
are in the physical units of the targets; in ``"log"`` mode they are the
geometric-mean prediction, :math:`10^{\\langle \\log_{10} y \\rangle}`, which
is below the arithmetic mean by the scatter (no lognormal correction is
applied).

Smoothing is done by FFT and is periodic: the kernel is
:math:`\\exp(-k^2 s^2 / 2)` on the discrete wavenumbers of a box of side
``box_size``.  The fit streams over the maps (it accumulates the normal
equations), so memory does not grow with the training set.

Maps are channels-last, as in the engine: dark matter ``(n, N, N)`` (or one
map ``(N, N)``), targets ``(n, N, N, C)`` (or ``(n, N, N)`` for one channel).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from numpy.typing import ArrayLike

__all__ = ["BiasModel", "smooth_gaussian"]

#: Modes accepted by :class:`BiasModel`.
MODES = ("log", "linear")


def _check_box(box_size: float) -> float:
    box = float(box_size)
    if not (math.isfinite(box) and box > 0):
        raise ValueError(f"box_size must be a positive finite number, got {box_size!r}")
    return box


def _gaussian_kernel_k(n: int, box: float, sigma: float) -> np.ndarray:
    """Fourier-space Gaussian kernel on the rfft2 grid of an N x N map."""
    kf = 2.0 * math.pi / box
    ky = kf * np.fft.fftfreq(n, d=1.0 / n)
    kx = kf * np.fft.rfftfreq(n, d=1.0 / n)
    k2 = ky[:, None] ** 2 + kx[None, :] ** 2
    return np.exp(-0.5 * k2 * sigma**2)


def smooth_gaussian(maps: ArrayLike, box_size: float, sigma: float) -> np.ndarray:
    """Smooth periodic square maps with a Gaussian, by FFT.

    Parameters
    ----------
    maps : array_like
        One map ``(N, N)`` or a stack ``(n, N, N)``.
    box_size : float
        Side of the periodic box, in Mpc/h.
    sigma : float
        Standard deviation of the Gaussian, in Mpc/h (not the FWHM); 0
        returns the maps unchanged (as float64).

    Returns
    -------
    numpy.ndarray
        The smoothed maps, float64, same shape.  The mean is preserved.

    Raises
    ------
    ValueError
        If the maps are not square or ``box_size`` or ``sigma`` is invalid.
    """
    box = _check_box(box_size)
    arr = np.asarray(maps, dtype=np.float64)
    if arr.ndim not in (2, 3) or arr.shape[-1] != arr.shape[-2]:
        raise ValueError(f"maps must be (N, N) or (n, N, N) with square maps, got {arr.shape}")
    sigma = float(sigma)
    if not (math.isfinite(sigma) and sigma >= 0):
        raise ValueError(f"sigma must be a non-negative number, got {sigma!r}")
    if sigma == 0:
        return arr.copy()
    n = arr.shape[-1]
    kernel = _gaussian_kernel_k(n, box, sigma)
    return np.fft.irfft2(np.fft.rfft2(arr) * kernel, s=(n, n))


class BiasModel:
    """Best (log-)linear local bias model of smoothed dark matter.

    Parameters
    ----------
    smoothing_scales : sequence of float, optional
        Candidate Gaussian smoothing scales (standard deviation, Mpc/h); 0 is
        the unsmoothed map.  Default ``(0, 0.5, 1, 2)``.
    mode : {"log", "linear"}, optional
        ``"log"`` (default) fits ``log10(y)`` against ``log10(dm_s)``
        (targets must be positive); ``"linear"`` fits ``y`` against
        ``dm_s``.
    quadratic : bool, optional
        Add a quadratic term in the (transformed) dark matter.
    dm_floor : float, optional
        In ``"log"`` mode, smoothed dark-matter values are clipped below at
        this value before the logarithm (empty pixels of a particle map).

    Attributes
    ----------
    box_size_ : float
        Box side of the training maps, Mpc/h.
    n_channels_ : int
        Number of output channels.
    scale_ : numpy.ndarray
        Chosen smoothing scale per channel, shape ``(C,)``.
    coef_ : numpy.ndarray
        ``(a, b, c)`` per channel, shape ``(C, 3)`` (``c = 0`` without the
        quadratic term).
    mse_ : numpy.ndarray
        Training mean squared error (transformed space) per channel and
        candidate scale, shape ``(C, n_scales)``.
    """

    def __init__(
        self,
        smoothing_scales: Sequence[float] = (0.0, 0.5, 1.0, 2.0),
        mode: str = "log",
        *,
        quadratic: bool = False,
        dm_floor: float = 1e-3,
    ) -> None:
        scales = np.atleast_1d(np.asarray(smoothing_scales, dtype=np.float64))
        if scales.ndim != 1 or scales.size == 0 or not np.all(np.isfinite(scales)):
            raise ValueError("smoothing_scales must be a non-empty sequence of finite numbers")
        if np.any(scales < 0):
            raise ValueError("smoothing_scales must be >= 0")
        if mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
        if not (math.isfinite(dm_floor) and dm_floor > 0):
            raise ValueError(f"dm_floor must be positive, got {dm_floor!r}")
        self.smoothing_scales = tuple(float(s) for s in scales)
        self.mode = mode
        self.quadratic = bool(quadratic)
        self.dm_floor = float(dm_floor)

    # -- helpers -----------------------------------------------------------

    def _features(self, dm_s: np.ndarray) -> np.ndarray:
        """Design matrix columns (1, x, x^2) of the (transformed) smoothed DM."""
        x = np.log10(np.maximum(dm_s, self.dm_floor)) if self.mode == "log" else dm_s
        x = x.ravel()
        return np.stack([np.ones_like(x), x, x * x], axis=1)

    def _target(self, y: np.ndarray) -> np.ndarray:
        if self.mode == "log":
            if np.any(y <= 0):
                raise ValueError("mode='log' needs positive targets; use mode='linear'")
            return np.log10(y)
        return y

    def _inverse(self, t: np.ndarray) -> np.ndarray:
        return 10.0**t if self.mode == "log" else t

    @staticmethod
    def _dm_stack(dm_maps: ArrayLike) -> np.ndarray:
        dm = np.asarray(dm_maps, dtype=np.float64)
        if dm.ndim == 2:
            dm = dm[None]
        if dm.ndim != 3 or dm.shape[0] == 0 or dm.shape[1] != dm.shape[2]:
            raise ValueError(f"dm_maps must be (n, N, N) or (N, N), got shape {dm.shape}")
        if not np.all(np.isfinite(dm)):
            raise ValueError("dm_maps contains NaN or infinite values")
        return dm

    def _smoothed(self, dm_map: np.ndarray, box: float, scales: Sequence[float]) -> list:
        """The map smoothed at every scale, with one forward FFT."""
        n = dm_map.shape[-1]
        f = np.fft.rfft2(dm_map)
        out = []
        for s in scales:
            if s == 0:
                out.append(dm_map)
            else:
                out.append(np.fft.irfft2(f * _gaussian_kernel_k(n, box, s), s=(n, n)))
        return out

    # -- public API ----------------------------------------------------------

    def fit(self, dm_maps: ArrayLike, target_maps: ArrayLike, box_size: float) -> BiasModel:
        """Fit the bias relation of every channel and choose its smoothing scale.

        Parameters
        ----------
        dm_maps : array_like
            Dark-matter maps (``1 + delta``), ``(n, N, N)``.
        target_maps : array_like
            Gas maps in physical units, ``(n, N, N, C)`` (or ``(n, N, N)``
            for one channel).
        box_size : float
            Side of the periodic box of every map, in Mpc/h.

        Returns
        -------
        BiasModel
            ``self``, fitted.

        Raises
        ------
        ValueError
            If shapes disagree, values are non-finite or (``mode="log"``)
            targets are not positive.
        """
        box = _check_box(box_size)
        dm = self._dm_stack(dm_maps)
        y = np.asarray(target_maps, dtype=np.float64)
        if y.ndim == dm.ndim:
            y = y[..., None]
        if y.ndim != 4 or y.shape[:3] != dm.shape:
            raise ValueError(
                f"target_maps must be (n, N, N, C) matching dm_maps {dm.shape}, got {y.shape}"
            )
        if not np.all(np.isfinite(y)):
            raise ValueError("target_maps contains NaN or infinite values")
        n_ch = y.shape[-1]
        n_sc = len(self.smoothing_scales)
        n_par = 3 if self.quadratic else 2
        t = self._target(y)

        # Pass 1: normal equations per scale and channel.
        xtx = np.zeros((n_sc, n_par, n_par))
        xty = np.zeros((n_sc, n_ch, n_par))
        for i in range(dm.shape[0]):
            ti = t[i].reshape(-1, n_ch)
            for j, dm_s in enumerate(self._smoothed(dm[i], box, self.smoothing_scales)):
                x = self._features(dm_s)[:, :n_par]
                xtx[j] += x.T @ x
                xty[j] += ti.T @ x
        coefs = np.zeros((n_sc, n_ch, 3))
        for j in range(n_sc):
            sol, *_ = np.linalg.lstsq(xtx[j], xty[j].T, rcond=None)
            coefs[j, :, :n_par] = sol.T

        # Pass 2: residuals computed directly (no cancellation).
        sse = np.zeros((n_sc, n_ch))
        for i in range(dm.shape[0]):
            ti = t[i].reshape(-1, n_ch)
            for j, dm_s in enumerate(self._smoothed(dm[i], box, self.smoothing_scales)):
                pred = self._features(dm_s) @ coefs[j].T
                sse[j] += np.sum((pred - ti) ** 2, axis=0)
        mse = (sse / (dm.shape[0] * dm.shape[1] * dm.shape[2])).T  # (C, n_scales)
        best = np.argmin(mse, axis=1)

        self.box_size_ = box
        self.n_channels_ = n_ch
        self.mse_ = mse
        self.scale_ = np.array([self.smoothing_scales[b] for b in best])
        self.coef_ = np.stack([coefs[b, c] for c, b in enumerate(best)])
        return self

    def _check_fitted(self) -> None:
        if not hasattr(self, "coef_"):
            raise RuntimeError("BiasModel is not fitted; call fit() first")

    def predict_transformed(self, dm_maps: ArrayLike, box_size: float) -> np.ndarray:
        """Predict in the transformed space (``log10`` of the targets in log mode).

        Parameters
        ----------
        dm_maps : array_like
            Dark-matter maps ``(n, N, N)`` or one map ``(N, N)``.
        box_size : float
            Side of their periodic box, in Mpc/h (sets the pixel size, so it
            may differ from the training box).

        Returns
        -------
        numpy.ndarray
            ``(n, N, N, C)`` (a single map gives ``n = 1``).
        """
        self._check_fitted()
        box = _check_box(box_size)
        dm = self._dm_stack(dm_maps)
        scales = sorted(set(self.scale_.tolist()))
        out = np.empty(dm.shape + (self.n_channels_,))
        for i in range(dm.shape[0]):
            smoothed = dict(zip(scales, self._smoothed(dm[i], box, scales), strict=True))
            for c in range(self.n_channels_):
                x = self._features(smoothed[float(self.scale_[c])])
                out[i, ..., c] = (x @ self.coef_[c]).reshape(dm.shape[1:])
        return out

    def predict(self, dm_maps: ArrayLike, box_size: float) -> np.ndarray:
        """Predict gas maps in physical units.

        Parameters
        ----------
        dm_maps, box_size
            Dark-matter maps and the side of their box, as in
            :meth:`predict_transformed`.

        Returns
        -------
        numpy.ndarray
            ``(n, N, N, C)`` float64 (a single map gives ``n = 1``).

        Raises
        ------
        RuntimeError
            If the model is not fitted.
        ValueError
            If the maps or ``box_size`` are invalid.
        """
        return self._inverse(self.predict_transformed(dm_maps, box_size))

    def to_dict(self) -> dict[str, object]:
        """JSON-friendly description of the fitted model (see :meth:`from_dict`)."""
        self._check_fitted()
        return {
            "smoothing_scales": list(self.smoothing_scales),
            "mode": self.mode,
            "quadratic": self.quadratic,
            "dm_floor": self.dm_floor,
            "box_size": self.box_size_,
            "scale": self.scale_.tolist(),
            "coef": self.coef_.tolist(),
            "mse": self.mse_.tolist(),
        }

    @classmethod
    def from_dict(cls, data: dict[str, object]) -> BiasModel:
        """Rebuild a fitted model from :meth:`to_dict` output."""
        model = cls(
            data["smoothing_scales"],
            data["mode"],
            quadratic=bool(data["quadratic"]),
            dm_floor=float(data["dm_floor"]),
        )
        model.box_size_ = float(data["box_size"])
        model.scale_ = np.asarray(data["scale"], dtype=np.float64)
        model.coef_ = np.asarray(data["coef"], dtype=np.float64).reshape(-1, 3)
        model.mse_ = np.asarray(data["mse"], dtype=np.float64)
        model.n_channels_ = model.coef_.shape[0]
        return model
