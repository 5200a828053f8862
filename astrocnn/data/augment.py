"""Training-time augmentation as TensorFlow ops on whole batches.

``d4`` draws, per image, one of the 8 symmetries of the square (4 rotations
by 90 degrees times an optional flip; for non-square stamps only the 4
symmetries that keep the shape) and a small random shift (reflected at
the border).  These leave the physics of a centred cutout unchanged, so the
network learns the invariance instead of the orientation.

``d4-rotzoom`` adds a small arbitrary rotation (up to ±22.5 degrees, so that
with the 90-degree rotations every orientation is reachable) and a zoom of
±10 % (Keras ``RandomRotation``/``RandomZoom``, reflected borders), as
Dieleman et al. (2015) did for Galaxy Zoo.

``band_dropout`` (any family, ``none`` included) blanks one band, drawn at
random, of a fraction of the images: a network trained so keeps working,
with a measured cost, when a band of a real cutout has no data and is
zero-filled (``predict --missing-band zero``).

:func:`make_views` draws the two views of an image that contrastive
pretraining (``astrocnn pretrain``) pulls together: a ``d4`` transform and
shift, a Gaussian PSF blur of random width (the same kernel in every band)
and Gaussian noise at a random fraction of the image's own noise level.  It
works on fluxes, before the input scaling: blurring fluxes is what worse
seeing does, and no operation changes one band relative to another (no colour
jitter, which would teach the network to ignore colours, i.e. redshift and
stellar populations).
"""

from __future__ import annotations

import functools
import math

AUGMENTATIONS = ("none", "d4", "d4-rotzoom")


def make_augmenter(
    kind: str,
    *,
    max_shift: int = 2,
    seed: int | None = None,
    spatial_targets: bool = False,
    band_dropout: float = 0.0,
):
    """Return a function ``(images, targets) -> (images, targets)`` for tf.data.

    Parameters
    ----------
    kind : {'none', 'd4', 'd4-rotzoom'}
        Augmentation family.
    max_shift : int
        Largest shift in pixels, applied independently along each axis.
    seed : int, optional
        Seed of the random generator (tf.random.Generator).
    spatial_targets : bool
        The targets are images (N, H, W, k) aligned with the inputs (masks,
        per-pixel fractions): they get exactly the same flips, rotations
        and shifts.
    band_dropout : float
        Fraction of the images (in [0, 1)) that get one band, drawn at
        random, set to zero (after scaling, which keeps zero at zero: what a
        zero-filled missing band becomes).

    Returns
    -------
    callable or None
        ``None`` for ``'none'`` without band dropout.
    """
    if kind not in AUGMENTATIONS:
        raise ValueError(f"unknown augmentation {kind!r}; choose one of {AUGMENTATIONS}")
    if not 0 <= band_dropout < 1:
        raise ValueError(f"band dropout must lie in [0, 1), got {band_dropout}")
    if kind == "none" and not band_dropout:
        return None
    from astrocnn._tf import import_tensorflow

    tf = import_tensorflow()
    gen = tf.random.Generator.from_seed(0 if seed is None else seed)
    rotzoom = None
    if kind == "d4-rotzoom":
        from astrocnn._tf import import_keras

        layers = import_keras().layers
        rotzoom = [
            layers.RandomRotation(1 / 16, fill_mode="reflect", seed=seed),
            layers.RandomZoom(0.1, fill_mode="reflect", seed=seed),
        ]

    def augment(images, targets):
        if kind != "none":
            images, targets = geometric(images, targets)
        if band_dropout:
            images = drop_band(images)
        return images, targets

    def geometric(images, targets):
        if spatial_targets:
            n_in = images.shape[-1]
            images = tf.concat([images, tf.cast(targets, images.dtype)], axis=-1)
        images = transform(images)
        if spatial_targets:
            return images[..., :n_in], tf.cast(images[..., n_in:], targets.dtype)
        return images, targets

    def drop_band(images):
        batch, n_bands = tf.shape(images)[0], images.shape[-1]
        dropped = tf.cast(gen.uniform([batch]) < band_dropout, images.dtype)
        band = gen.uniform([batch], 0, n_bands, dtype=tf.int32)
        mask = tf.one_hot(band, n_bands, dtype=images.dtype) * dropped[:, None]
        return images * (1 - mask)[:, None, None, :]

    def transform(images):
        images = d4_shift(tf, gen, images, max_shift)
        for layer in rotzoom or ():
            images = layer(images, training=True)
        return images

    return augment


def d4_shift(tf, gen, images, max_shift: int):
    """A random symmetry of the square and a random integer shift, per image.

    Parameters
    ----------
    tf : module
        TensorFlow.
    gen : tf.random.Generator
        Draws the transforms.
    images : tf.Tensor
        (N, H, W, C); non-square stamps get only the 0/180-degree turns that
        keep their shape.
    max_shift : int
        Largest shift in pixels along each axis (borders reflected).

    Returns
    -------
    tf.Tensor
        The transformed images, same shape.

    Notes
    -----
    The draws are made here, in order (turn, flip, shift); moving the pixels
    is XLA-compiled (:func:`_moved`), which fuses the candidate rotations,
    flip, reflected padding and shift into one pass: ~10x less time than the
    same ops one by one, which cost 6x the stretch in a training pipeline
    (``benchmarks/bench_pipeline.py``), with the same pixels out.
    """
    batch = tf.shape(images)[0]
    turns = (0, 1, 2, 3) if images.shape[1] == images.shape[2] else (0, 2)
    k = gen.uniform([batch], 0, len(turns), dtype=tf.int32)
    flip = gen.uniform([batch, 1, 1, 1]) < 0.5
    if max_shift <= 0:
        offsets = tf.zeros([batch, 2], tf.int32)
    else:
        offsets = gen.uniform([batch, 2], 0, 2 * max_shift + 1, dtype=tf.int32)
    return _moved(turns, max(int(max_shift), 0))(images, k, flip, offsets)


@functools.cache
def _moved(turns: tuple, max_shift: int):
    """``moved(images, k, flip, offsets)``: turn ``k``, flip, then shift by ``offsets``
    within the reflected border, per image; XLA-compiled where XLA can be."""
    from astrocnn._tf import import_tensorflow, xla_compiled

    tf = import_tensorflow()

    def moved(images, k, flip, offsets):
        rotations = tf.stack([_turned(tf, images, t) for t in turns], axis=1)
        images = tf.gather(rotations, k, batch_dims=1)
        images = tf.where(flip, tf.reverse(images, axis=[2]), images)
        if max_shift == 0:
            return images
        size = tf.shape(images)[1:3]
        m = max_shift
        padded = tf.pad(images, [[0, 0], [m, m], [m, m], [0, 0]], "REFLECT")
        rows = offsets[:, :1] + tf.range(size[0])[None, :]
        cols = offsets[:, 1:] + tf.range(size[1])[None, :]
        padded = tf.gather(padded, rows, axis=1, batch_dims=1)
        return tf.gather(padded, cols, axis=2, batch_dims=1)

    return xla_compiled(moved)


def _turned(tf, images, quarter_turns: int):
    """``tf.image.rot90(images, quarter_turns)`` of an (N, H, W, C) batch, as its own
    transposes and reversals (XLA mis-shapes ``rot90``'s branches on non-square
    images: the 180-degree turn came out with the 90-degree turn's shape)."""
    if quarter_turns == 0:
        return images
    if quarter_turns == 2:
        return tf.reverse(images, axis=[1, 2])
    if quarter_turns == 1:
        return tf.transpose(tf.reverse(images, axis=[2]), [0, 2, 1, 3])
    return tf.reverse(tf.transpose(images, [0, 2, 1, 3]), axis=[2])


def make_views(
    *,
    max_shift: int = 3,
    max_blur: float = 1.0,
    max_noise: float = 1.0,
    seed: int | None = None,
):
    """Return ``views(images) -> images``, one random view of each image, as TF ops.

    Parameters
    ----------
    max_shift : int
        Largest shift in pixels along each axis.
    max_blur : float
        Largest standard deviation [pixels] of the Gaussian PSF blur; each
        image draws one uniformly in ``[0, max_blur]``.
    max_noise : float
        Largest added noise, as a fraction of the image's own noise per band
        (:func:`image_noise`); each image draws one uniformly in
        ``[0, max_noise]``.
    seed : int, optional
        Seed of the random generator.

    Returns
    -------
    callable
        ``views(images)``: (N, H, W, C) float32 fluxes in, same shape out.
    """
    from astrocnn._tf import import_tensorflow

    tf = import_tensorflow()
    gen = tf.random.Generator.from_seed(0 if seed is None else seed)

    def views(images):
        noise = image_noise(tf, images)
        images = d4_shift(tf, gen, images, max_shift)
        if max_blur > 0:
            sigma = gen.uniform([tf.shape(images)[0]], 0, max_blur)
            images = gaussian_blur(tf, images, sigma, radius=math.ceil(3 * max_blur))
        if max_noise > 0:
            level = gen.uniform([tf.shape(images)[0], 1, 1, 1], 0, max_noise) * noise
            images = images + gen.normal(tf.shape(images)) * level
        return images

    return views


def image_noise(tf, images):
    """Per image and band, the noise estimated from neighbouring-pixel differences.

    Robust to the object (the median over the stamp) and to a sky level or
    gradient (differences).  About 16 rows spread over the stamp are used (a
    thousand differences per band for 64-pixel stamps): the median's cost is
    a sort.

    Returns
    -------
    tf.Tensor
        (N, 1, 1, C).
    """
    rows = images[:, :: max(1, int(images.shape[1] or 16) // 16)]
    diff = tf.abs(rows[:, :, 1:, :] - rows[:, :, :-1, :])
    n, c = tf.shape(diff)[0], tf.shape(diff)[3]
    flat = tf.sort(tf.reshape(tf.transpose(diff, [0, 3, 1, 2]), [n, c, -1]), axis=-1)
    median = flat[:, :, tf.shape(flat)[2] // 2]
    from astrocnn.io.conversion import DIFF_MAD_TO_SIGMA

    return tf.reshape(median * float(DIFF_MAD_TO_SIGMA), [n, 1, 1, c])


def gaussian_blur(tf, images, sigma, radius: int = 3):
    """Blur each image with a normalised Gaussian of its own width (flux-conserving).

    Parameters
    ----------
    tf : module
        TensorFlow.
    images : tf.Tensor
        (N, H, W, C); every band gets the same kernel, so band ratios are kept.
    sigma : tf.Tensor
        (N,) standard deviations in pixels (0: unchanged).
    radius : int
        Half-width of the kernel in pixels (at most ``min(H, W) // 2``).

    Returns
    -------
    tf.Tensor
        The blurred images (separable kernel, borders reflected).
    """
    radius = max(1, min(int(radius), min(images.shape[1:3]) // 2))
    offsets = tf.range(-radius, radius + 1, dtype=images.dtype)
    width = tf.maximum(tf.cast(sigma, images.dtype), 1e-3)[:, None]
    weights = tf.exp(-0.5 * tf.square(offsets[None, :] / width))
    weights = weights / tf.reduce_sum(weights, axis=1, keepdims=True)  # (N, 2r+1)
    for axis in (1, 2):
        pad = [[0, 0], [0, 0], [0, 0], [0, 0]]
        pad[axis] = [radius, radius]
        padded = tf.pad(images, pad, "REFLECT")
        size = tf.shape(images)[axis]
        total = tf.zeros_like(images)
        for k in range(2 * radius + 1):
            part = padded[:, k : k + size] if axis == 1 else padded[:, :, k : k + size]
            total += weights[:, k, None, None, None] * part
        images = total
    return images
