"""A loss for image-to-image networks that also matches the maps' power spectra.

A pixel mean-squared error regresses rare, extreme pixels (the hottest gas)
towards the mean, so the predicted maps come out smoother than the truth and
their power spectrum too low (Thiele et al. 2020 and Tröster et al. 2019 add
spectral or adversarial terms for this reason).  :func:`power_spectrum_loss`
adds, per output channel, the mean over radial wavenumber bins of the squared
log ratio of the predicted to the true power:

.. math::

    L = \\mathrm{MSE} + \\lambda \\, \\langle [\\ln P_\\mathrm{pred}(k_b)
        - \\ln P_\\mathrm{true}(k_b)]^2 \\rangle_{b,\\,c,\\,\\mathrm{maps}},

where :math:`P(k_b)` is the mean of :math:`|\\mathrm{FFT}|^2` over the
Fourier modes of bin :math:`b` (``n_bins`` equal bins in :math:`|k|` up to
the Nyquist frequency; the mean mode, the corners beyond Nyquist and bins
without modes are left out).  The spectra are those of the network's targets,
i.e. in the task's transformed space (standardised log10 for painting), or,
with ``physical``, of the maps turned back into the field's units (what
cosmologists compare, and what the logarithm changes most for the
heavy-tailed fields); maps are treated as periodic, as the simulated boxes
are.
"""

from __future__ import annotations

import numpy as np


def radial_bins(height: int, width: int, n_bins: int) -> np.ndarray:
    """(height * width, n_bins) matrix averaging an FFT's modes into radial bins.

    Row ``i`` of the flattened FFT has ``1 / n_b`` in the column of its bin
    ``b`` (``n_b`` modes in the bin; an empty bin's column is zero); the mean
    mode and modes beyond Nyquist belong to no bin.  (The loss builds the same
    matrix with TensorFlow ops, for maps whose size is only known at run time.)
    """
    ky = np.fft.fftfreq(height)[:, None]
    kx = np.fft.fftfreq(width)[None, :]
    k = np.hypot(ky, kx).ravel()  # cycles per pixel; Nyquist is 0.5
    index = np.minimum(np.floor(k / 0.5 * n_bins).astype(int), n_bins - 1)
    valid = (k > 0) & (k <= 0.5)
    matrix = np.zeros((height * width, n_bins), np.float32)
    matrix[np.flatnonzero(valid), index[valid]] = 1.0
    return matrix / np.maximum(matrix.sum(axis=0), 1.0)


def _radial_bins_tf(tf, height, width, n_bins):
    """:func:`radial_bins` for run-time (tensor) ``height`` and ``width``."""

    def frequencies(n):  # numpy.fft.fftfreq(n)
        i = tf.range(n)
        return tf.cast(tf.where(i <= (n - 1) // 2, i, i - n), tf.float32) / tf.cast(n, tf.float32)

    ky, kx = frequencies(height), frequencies(width)
    k = tf.reshape(tf.sqrt(ky[:, None] ** 2 + kx[None, :] ** 2), (-1,))
    index = tf.minimum(tf.cast(tf.floor(k / 0.5 * n_bins), tf.int32), n_bins - 1)
    valid = tf.cast((k > 0) & (k <= 0.5), tf.float32)
    matrix = tf.one_hot(index, n_bins) * valid[:, None]
    return matrix / tf.maximum(tf.reduce_sum(matrix, axis=0), 1.0)


def power_spectrum_loss(weight, n_bins: int = 16, eps: float = 1e-8, physical=None):
    """Pixel MSE plus ``weight`` times the squared log power-spectrum ratio.

    Parameters
    ----------
    weight : float or sequence of float
        :math:`\\lambda`, one for all channels or one per output channel
        (the term is then the mean over channels of each channel's weighted
        term); 0 everywhere gives the plain mean-squared error.
    n_bins : int
        Radial wavenumber bins up to the Nyquist frequency.
    eps : float
        Added to the binned powers before the logarithm.
    physical : dict, optional
        A standardised-log10 target transform (``mean`` and ``std`` per
        channel, as `astrocnn.data.preprocess.LogScaler` stores it): the
        spectra are then those of ``10**(y std + mean)`` over ``10**mean``
        (the maps in the field's units, divided by a typical value of each
        channel so that the numbers stay moderate; a transform's ``offset``
        only shifts the mean mode, which the term leaves out). The pixel MSE
        stays in the transformed space.

    Returns
    -------
    callable
        ``loss(y_true, y_pred)`` for ``(batch, H, W, C)`` tensors of any
        size, one value per map.
    """
    from astrocnn._tf import import_tensorflow

    tf = import_tensorflow()
    weights = np.atleast_1d(np.asarray(weight, dtype=np.float32))
    if weights.ndim != 1 or not np.all(np.isfinite(weights)) or np.any(weights < 0):
        raise ValueError(f"power-spectrum weights must be finite and >= 0, got {weight}")

    if physical is not None:
        log10 = np.float32(np.log(10.0))
        std = tf.constant(np.asarray(physical["std"], np.float32))

        def spectral_maps(y):  # 10**(y std) = 10**(y std + mean) / 10**mean
            return tf.exp(y * std * log10)

    else:

        def spectral_maps(y):
            return y

    def loss(y_true, y_pred):
        y_true = tf.cast(y_true, tf.float32)
        y_pred = tf.cast(y_pred, tf.float32)
        mse = tf.reduce_mean(tf.square(y_true - y_pred), axis=(1, 2, 3))
        if not np.any(weights):
            return mse
        shape = tf.shape(y_pred)
        bins = _radial_bins_tf(tf, shape[1], shape[2], n_bins)

        def binned_power(maps):
            # (batch, H, W, C) -> (batch, C, H, W): fft2d works on the last two axes
            modes = tf.signal.fft2d(tf.complex(tf.transpose(maps, (0, 3, 1, 2)), 0.0))
            power = tf.math.real(modes * tf.math.conj(modes))
            power = tf.reshape(power, (shape[0], shape[3], shape[1] * shape[2]))
            return tf.einsum("bcm,mk->bck", power, bins)  # (batch, C, bins)

        log_ratio = tf.math.log(binned_power(spectral_maps(y_pred)) + eps) - tf.math.log(
            binned_power(spectral_maps(y_true)) + eps
        )
        # per channel, the mean over the bins that hold modes (the lowest bin is
        # empty when the fundamental mode lies above it); then the weighted mean
        used = tf.cast(tf.reduce_sum(bins, axis=0) > 0, tf.float32)
        per_channel = tf.reduce_sum(tf.square(log_ratio) * used, axis=2) / tf.reduce_sum(used)
        channel_weights = tf.broadcast_to(tf.constant(weights), (shape[3],))
        spectral = tf.reduce_mean(per_channel * channel_weights, axis=1)
        return mse + spectral

    label = ",".join(f"{w:g}" for w in weights)
    space = "_physical" if physical is not None else ""
    loss.__name__ = f"mse_plus_{label}{space}_power_spectrum" if np.any(weights) else "mse"
    return loss
