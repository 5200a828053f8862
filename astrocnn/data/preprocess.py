"""Per-band scaling shared by training and prediction.

The scaling is fitted once on the training set and stored in the model
bundle, so ``predict`` reproduces training exactly.

The stretch is ``asinh(x / s_b)`` per band ``b``, where ``s_b`` is the
background noise of band ``b`` estimated with a sigma-clipped MAD standard
deviation over the training images (:func:`astropy.stats.mad_std`).  It is
linear at the noise level and logarithmic for bright cores, which keeps faint
arcs and bright galaxies in the same numeric range (Lupton et al. 1999).

8-bit JPEG/PNG images are already stretched for display; they are only
divided by 255 (:class:`LinearScaler`).
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import numpy as np

_FIT_SAMPLE = 2048

# asinh(u) / u on 0 <= u <= 0.5 as a polynomial in t = u^2 (minimax fit, relative
# error 1.1e-9); above 0.5, log(u + sqrt(u^2 + 1)) has no cancellation
_ASINH_SERIES = (
    0.9999999988664687,
    -0.16666633460773353,
    0.07498412604272298,
    -0.044361843890657685,
    0.028076207885053505,
    -0.013099914552301268,
)
_ASINH_SMALL = 0.5
_ASINH_HUGE = 1e18  # above, u^2 would overflow float32: asinh(u) = log(2u) to float32
_STRETCH_MIN_BATCH = 8


@dataclass
class AsinhScaler:
    """Per-band asinh stretch with noise-based softening.

    Parameters
    ----------
    scales : list of float
        Softening scale per band (the band's background noise).
    """

    scales: list[float]

    @classmethod
    def fit(cls, images: np.ndarray, seed: int = 0) -> AsinhScaler:
        """Fit the per-band scales on training images of shape (N, H, W, C).

        A random subset of at most 2048 images is used.  Bands with zero
        noise (for example noiseless simulations) fall back to the MAD of
        the non-zero pixels, then to 1.
        """
        from astropy.stats import mad_std, sigma_clip

        rng = np.random.default_rng(seed)
        take = rng.choice(len(images), size=min(len(images), _FIT_SAMPLE), replace=False)
        sample = np.asarray(images[np.sort(take)], dtype=np.float32)
        scales = []
        for band in range(sample.shape[-1]):
            pixels = sample[..., band].ravel()
            clipped = sigma_clip(pixels, sigma=3.0, maxiters=5, stdfunc="mad_std").compressed()
            scale = float(mad_std(clipped)) if clipped.size else 0.0
            if not np.isfinite(scale) or scale <= 0:
                nonzero = pixels[pixels != 0]
                scale = float(mad_std(nonzero)) if nonzero.size else 0.0
            scales.append(scale if np.isfinite(scale) and scale > 0 else 1.0)
        return cls(scales)

    def transform(self, images: np.ndarray) -> np.ndarray:
        """Apply the stretch to images of shape (..., H, W, C); returns float32."""
        scales = np.asarray(self.scales, dtype=np.float32)
        return np.arcsinh(np.asarray(images, dtype=np.float32) / scales)

    def transform_tf(self, images):
        """The same stretch as TensorFlow ops (inside tf.data or a compiled model):
        :func:`asinh_stretch_tf`, within 1e-6 relative of :meth:`transform`."""
        return asinh_stretch_tf(images, self.scales)

    def to_dict(self) -> dict:
        """Serialisable form stored in the model bundle."""
        return {"kind": "asinh", "scales": [float(s) for s in self.scales]}


def asinh_tf(a):
    """``asinh(a)`` of a float32 tensor, in TensorFlow ops that XLA fuses into one pass.

    ``tf.math.asinh`` costs ~27 ns a pixel on a 2-core AVX2 CPU (a third of a
    small network's time); this formulation, XLA-compiled, ~2 ns
    (``benchmarks/bench_stretch.py``).  Within 3.5e-7 relative of
    ``tf.math.asinh`` for every normal float32 (denormal results flush to 0).

    Parameters
    ----------
    a : tf.Tensor
        float32 values.

    Returns
    -------
    tf.Tensor
        ``asinh(a)``, same shape.
    """
    from astrocnn._tf import import_tensorflow

    tf = import_tensorflow()
    u = tf.abs(a)
    t = u * u
    huge = u > _ASINH_HUGE
    large = tf.math.log(tf.where(huge, u, u + tf.sqrt(t + 1.0)))
    large += tf.where(huge, tf.constant(math.log(2.0), tf.float32), 0.0)
    series = tf.constant(_ASINH_SERIES[-1], tf.float32)
    for c in _ASINH_SERIES[-2::-1]:
        series = series * t + c
    r = tf.where(u < _ASINH_SMALL, u * series, large)
    return tf.where(a < 0, -r, r)


@functools.cache
def _stretch_functions():
    """``(fused, plain)``: ``asinh(x / scales)`` XLA-compiled (None where XLA cannot
    compile here) and as plain ops.  One function for every scaler and call site,
    so its compiled programs are reused within a process."""
    from astrocnn._tf import xla_available, xla_compiled

    def plain(x, scales):
        return asinh_tf(x / scales)

    return (xla_compiled(plain) if xla_available() else None), plain


def asinh_stretch_tf(images, scales):
    """``asinh(images / scales)`` (scales per last axis), XLA-fused where possible.

    XLA compiles one program per input shape: the batch is zero-padded to a
    power of two (at least 8; a padded row is discarded), so a run with many
    batch sizes (deblending fields) compiles a handful of programs, not one
    per size.  A full batch of a power-of-two size is not copied.

    Parameters
    ----------
    images : tf.Tensor or numpy.ndarray
        float32, shape (n, ..., C).
    scales : sequence of float
        C softening scales.

    Returns
    -------
    tf.Tensor
        float32, the shape of ``images``.
    """
    from astrocnn._tf import import_tensorflow

    tf = import_tensorflow()
    fused, plain = _stretch_functions()
    images = tf.convert_to_tensor(images, tf.float32)
    scales = tf.constant(scales, tf.float32)
    if fused is None:
        return plain(images, scales)
    n = tf.shape(images)[0]
    size = tf.maximum(_STRETCH_MIN_BATCH, _next_power_of_two(tf, n))
    padding = tf.concat([[[0, size - n]], tf.zeros((tf.rank(images) - 1, 2), tf.int32)], 0)
    return fused(tf.pad(images, padding), scales)[:n]


def _next_power_of_two(tf, n):
    """The smallest power of two ``>= n`` of an int32 scalar tensor ``n >= 1``."""
    m = n - 1
    for shift in (1, 2, 4, 8, 16):  # every bit below the highest set
        m = tf.bitwise.bitwise_or(m, tf.bitwise.right_shift(m, shift))
    return m + 1


@dataclass
class LinearScaler:
    """Divide each band by a fixed scale (255 for 8-bit JPEG/PNG images).

    Parameters
    ----------
    scales : list of float
        Divisor per band.
    """

    scales: list[float]

    def transform(self, images: np.ndarray) -> np.ndarray:
        """Scale images of shape (..., H, W, C); returns float32."""
        return np.asarray(images, dtype=np.float32) / np.asarray(self.scales, dtype=np.float32)

    def transform_tf(self, images):
        """The same scaling as TensorFlow ops."""
        from astrocnn._tf import import_tensorflow

        tf = import_tensorflow()
        return images / tf.constant(self.scales, dtype=tf.float32)

    def to_dict(self) -> dict:
        """Serialisable form stored in the model bundle."""
        return {"kind": "linear", "scales": [float(s) for s in self.scales]}


@dataclass
class LogScaler:
    """``(log10(max(x + offset, floor)) - mean) / std`` per channel, for positive
    fields spanning decades (densities, temperatures).

    Parameters
    ----------
    mean, std : list of float
        Per-channel statistics of ``log10(x + offset)`` of the training maps.
    floor : float
        Values below are clipped before the logarithm.
    offset : list of float, optional
        Per-channel offset added before the logarithm (default 0: a plain
        log10). An offset ``c`` keeps the transform logarithmic above ``c`` and
        compresses what lies below it, so a fit in the transformed space spends
        its effort where the field is large (e.g. the hot gas that dominates a
        temperature map's power).
    lower : list of float, optional
        Per-channel smallest value `inverse` returns (with an offset, a
        transformed value below ``log10(offset)`` would otherwise map to a
        negative field); the training maps' minimum.
    """

    mean: list[float]
    std: list[float]
    floor: float = 1e-6
    offset: list[float] | None = None
    lower: list[float] | None = None

    def _offset(self):
        return np.asarray(self.offset if self.offset is not None else 0.0, np.float64)

    @classmethod
    def fit(cls, images: np.ndarray, seed: int = 0, floor: float = 1e-6, offset=None) -> LogScaler:
        """Fit on training maps (N, H, W, C) (a random subset of at most 2048).

        ``offset``: one per channel, or None for a plain log10.
        """
        rng = np.random.default_rng(seed)
        take = rng.choice(len(images), size=min(len(images), _FIT_SAMPLE), replace=False)
        sample = np.asarray(images[np.sort(take)], np.float64)
        shift = np.asarray(offset if offset is not None else 0.0, np.float64)
        logs = np.log10(np.maximum(sample + shift, floor))
        mean = logs.mean(axis=(0, 1, 2))
        std = logs.std(axis=(0, 1, 2))
        std = np.where(std > 0, std, 1.0)
        lower = None
        if offset is not None:
            offset = [float(c) for c in np.broadcast_to(shift, mean.shape)]
            lower = [float(v) for v in sample.min(axis=(0, 1, 2))]
        return cls([float(m) for m in mean], [float(s) for s in std], float(floor), offset, lower)

    def transform(self, images: np.ndarray) -> np.ndarray:
        """Forward transform of (..., H, W, C); returns float32."""
        shifted = np.asarray(images, np.float64) + self._offset()
        logs = np.log10(np.maximum(shifted, self.floor))
        return ((logs - np.asarray(self.mean)) / np.asarray(self.std)).astype(np.float32)

    def inverse(self, values: np.ndarray) -> np.ndarray:
        """Back to physical units (float32 arithmetic: relative error ~1e-6)."""
        std, mean = np.float32(np.log(10.0)) * np.asarray([self.std, self.mean], np.float32)
        physical = np.asarray(values, np.float32) * std
        physical += mean
        np.exp(physical, out=physical)
        if self.offset is not None:
            physical -= self._offset().astype(np.float32)
            np.maximum(physical, np.asarray(self.lower, np.float32), out=physical)
        return physical

    def transform_tf(self, images):
        """The forward transform as TensorFlow ops."""
        from astrocnn._tf import import_tensorflow

        tf = import_tensorflow()
        if self.offset is not None:
            images = images + tf.constant(self.offset, tf.float32)
        logs = tf.math.log(tf.maximum(images, self.floor)) / np.log(10.0)
        return (logs - tf.constant(self.mean, tf.float32)) / tf.constant(self.std, tf.float32)

    def to_dict(self) -> dict:
        """Serialisable form stored in the model bundle."""
        spec = {"kind": "log10", "mean": self.mean, "std": self.std, "floor": self.floor}
        if self.offset is not None:
            spec.update(offset=self.offset, lower=self.lower)
        return spec


def fit_scaler(image_kind: str, images: np.ndarray, seed: int = 0):
    """The scaling for a training set: asinh for FITS, /255 for JPEG/PNG.

    Parameters
    ----------
    image_kind : {'fits', 'raster'}
        What the training images were read from.
    images : numpy.ndarray
        Training images (N, H, W, C).
    seed : int
        Seed of the subsample used to fit.
    """
    if image_kind == "raster":
        return LinearScaler([255.0] * images.shape[-1])
    return AsinhScaler.fit(images, seed=seed)


def scaler_from_dict(spec: dict):
    """Rebuild the scaler stored in a bundle."""
    if spec.get("kind") == "log10":
        return LogScaler(
            list(spec["mean"]),
            list(spec["std"]),
            float(spec.get("floor", 1e-6)),
            [float(c) for c in spec["offset"]] if spec.get("offset") is not None else None,
            [float(v) for v in spec["lower"]] if spec.get("lower") is not None else None,
        )
    kinds = {"asinh": AsinhScaler, "linear": LinearScaler}
    if spec.get("kind") not in kinds:
        raise ValueError(f"unknown preprocessing kind {spec.get('kind')!r}")
    return kinds[spec["kind"]]([float(s) for s in spec["scales"]])
