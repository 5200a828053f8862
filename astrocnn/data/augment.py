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
"""

from __future__ import annotations

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
        batch = tf.shape(images)[0]
        # non-square stamps keep their shape under 0/180-degree turns only
        turns = (0, 1, 2, 3) if images.shape[1] == images.shape[2] else (0, 2)
        rotations = tf.stack([tf.image.rot90(images, k) for k in turns], axis=1)
        k = gen.uniform([batch], 0, len(turns), dtype=tf.int32)
        images = tf.gather(rotations, k, batch_dims=1)
        flip = gen.uniform([batch, 1, 1, 1]) < 0.5
        images = tf.where(flip, tf.reverse(images, axis=[2]), images)
        if max_shift > 0:
            size = tf.shape(images)[1:3]
            padded = tf.pad(
                images, [[0, 0], [max_shift, max_shift], [max_shift, max_shift], [0, 0]], "REFLECT"
            )
            offsets = gen.uniform([batch, 2], 0, 2 * max_shift + 1, dtype=tf.int32)
            rows = offsets[:, :1] + tf.range(size[0])[None, :]
            cols = offsets[:, 1:] + tf.range(size[1])[None, :]
            padded = tf.gather(padded, rows, axis=1, batch_dims=1)
            images = tf.gather(padded, cols, axis=2, batch_dims=1)
        for layer in rotzoom or ():
            images = layer(images, training=True)
        return images

    return augment
