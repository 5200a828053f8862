"""Unsupervised domain adaptation: train on labelled images, align to unlabelled ones.

``astrocnn train TASK --catalog LABELLED --adapt-to UNLABELLED --adapt mmd|dann`` fits the
task's loss on the labelled (source) images and, in the same steps, pulls the network's
embedding (its pooled penultimate features, :func:`astrocnn.engine.features.embedding_layer`)
of the unlabelled (target) images towards that of the source:

- ``mmd``: a multi-bandwidth Gaussian-kernel maximum mean discrepancy between the two
  batches' embeddings (Long et al. 2015, DAN; as in Ciprijanovic et al. 2021, DeepMerge II);
- ``dann``: a small domain classifier on the embeddings behind a gradient-reversal layer,
  so the features learn to hide the domain (Ganin et al. 2016).

The weight of the alignment ramps from 0 to ``weight`` over training as
``2 / (1 + exp(-10 p)) - 1`` (Ganin et al. 2016), so the task's features form first.
The target images are read as the labelled ones are, in the same layout and converted
to the labelled set's data contract (pixel scale, flux scale, band order), and share its
input scaling: what is left for the network to align is what no header can state.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from astrocnn.errors import AstrocnnError

METHODS = ("mmd", "dann")
KERNEL_SCALES = (0.25, 0.5, 1.0, 2.0, 4.0)  # bandwidths, in units of the mean squared distance


@dataclass
class Adaptation:
    """What ``--adapt-to`` asked for: the method, its weight and the target images.

    Attributes
    ----------
    method : {'mmd', 'dann'}
    weight : float
        Weight of the alignment loss (after the ramp) against the task's loss.
    images : numpy.ndarray
        Unlabelled target images (N, H, W, C) in the labelled set's layout and units.
    name : str
        Where they came from (the catalogue).
    """

    method: str
    weight: float
    images: np.ndarray
    name: str


# ---------------------------------------------------------------------------------------
# reading the target


def _check_same_kind(name, target_kind, data):
    if target_kind != data.image_kind:
        kinds = {"fits": "FITS", "raster": "JPEG/PNG"}
        raise AstrocnnError(
            f"{name}: --adapt-to images are {kinds[target_kind]} but the labelled ones are "
            f"{kinds[data.image_kind]}: no conversion between a flux image and a display "
            "image exists; give both in one kind (e.g. simulate the labelled set with "
            "--format jpeg)"
        )


def _kind_of(catalog):
    """'fits' or 'raster': the kind of the catalogue's first file."""
    from astrocnn.engine.sources import from_catalog
    from astrocnn.io.cutouts import image_kind

    source = from_catalog(catalog, ["?"])
    return image_kind(source.paths[0][0]) if source.paths else "fits"


def _band_order(name, target_bands, bands):
    """Indices taking the target's channels to the labelled band order."""
    if list(target_bands) == list(bands):
        return None
    if sorted(target_bands) != sorted(bands):
        raise AstrocnnError(
            f"{name}: --adapt-to images have bands {','.join(target_bands)} but the labelled "
            f"ones {','.join(bands)}: no conversion is possible (name them with the "
            "catalogue's BANDS, or give images in the same bands)"
        )
    return [list(target_bands).index(b) for b in bands]


def _target_conversion(data, contract):
    """The conversion of FITS target files to the labelled set's contract, or None."""
    if data.image_kind != "fits" or not contract:
        return None
    from astrocnn.engine.conversion import input_conversion

    meta = {"image_kind": "fits", "bands": list(data.bands), "data_contract": contract}
    return input_conversion(meta)


def read_target(catalog, data, contract, *, quiet=False, log=print) -> np.ndarray:
    """The unlabelled images of ``catalog`` in the layout and units of ``data``.

    Parameters
    ----------
    catalog : path-like
        Catalogue of the target cutouts (no truth columns needed).
    data : astrocnn.engine.train.TrainingSet
        The labelled set: its bands, cutout size, size mode, HDUs and image kind.
    contract : dict
        The labelled set's data contract (:func:`astrocnn.io.contract.training_contract`):
        FITS targets are converted to it (pixel scale, flux scale), as ``predict`` does.
    quiet : bool
        No progress bar.
    log : callable
        Where the conversion lines go.

    Returns
    -------
    numpy.ndarray
        float32 (N, H, W, C), the rows that could be read.

    Raises
    ------
    AstrocnnError
        Another image kind, other bands, or no readable row.
    """
    from dataclasses import replace

    from astrocnn.data.loading import load_all
    from astrocnn.engine.layout import catalog_with_layout
    from astrocnn.engine.progress import progress_bar

    shape = tuple(int(s) for s in data.images.shape[1:3])
    _check_same_kind(catalog, _kind_of(catalog), data)
    source, layout = catalog_with_layout(
        catalog, None, None, shape[0], data.size_mode, tuple(data.hdus) if data.hdus else None
    )
    order = _band_order(source.name, layout.bands, data.bands)
    spec = replace(layout.spec, size=shape, conversion=_target_conversion(data, contract))
    with progress_bar(len(source.paths), "read --adapt-to", quiet) as advance:
        block = load_all(source.paths, spec, progress=advance)
    for line in block.log.lines():
        log(f"--adapt-to: converted {line}")
    if not block.ok.any():
        first = next((r for r in block.reasons if r), "no row")
        raise AstrocnnError(f"{source.name}: no --adapt-to cutout could be read ({first})")
    bad = int((~block.ok).sum())
    if bad:
        log(f"astrocnn: warning: --adapt-to: skipped {bad} unreadable row(s)")
    images = block.images[block.ok]
    return images if order is None else images[..., order]


# ---------------------------------------------------------------------------------------
# losses


def mmd2(tf, a, b):
    """Squared maximum mean discrepancy of two batches of embeddings (biased estimator).

    A sum of Gaussian kernels whose bandwidths are `KERNEL_SCALES` times the mean
    squared distance between all the embeddings (not differentiated: the scale follows
    the features, the loss does not shrink them).
    """
    x = tf.concat([a, b], axis=0)
    sq = tf.reduce_sum(x * x, axis=1)
    d2 = tf.maximum(sq[:, None] + sq[None, :] - 2.0 * tf.matmul(x, x, transpose_b=True), 0.0)
    scale = tf.stop_gradient(tf.reduce_mean(d2)) + 1e-6
    kernel = tf.add_n([tf.exp(-d2 / (scale * s)) for s in KERNEL_SCALES])
    n = tf.shape(a)[0]
    k_aa = tf.reduce_mean(kernel[:n, :n])
    k_bb = tf.reduce_mean(kernel[n:, n:])
    k_ab = tf.reduce_mean(kernel[:n, n:])
    return k_aa + k_bb - 2.0 * k_ab


def adapting_trainer(model, adaptation: Adaptation, total_steps: int):
    """A Keras model that trains ``model`` with the alignment loss of ``adaptation``.

    Its ``fit`` takes batches ``({"source": x, "target": xt}, y)``; calling it, and its
    validation, is calling ``model``. Its weights are ``model``'s (plus a domain
    classifier for ``dann``), so ``model`` is trained in place.

    Parameters
    ----------
    model : keras.Model
        The task's network (with an embedding).
    adaptation : Adaptation
    total_steps : int
        Optimiser steps of the whole run (for the weight's ramp).

    Returns
    -------
    keras.Model
    """
    from astrocnn._tf import import_keras, import_tensorflow
    from astrocnn.engine.features import embedding_model

    keras, tf = import_keras(), import_tensorflow()
    both = embedding_model(model)
    if both is None:
        raise AstrocnnError("--adapt-to needs a network with a pooled embedding (not a U-Net)")

    @tf.custom_gradient
    def reverse_gradient(x):
        return tf.identity(x), lambda dy: -dy

    class AdaptingTrainer(keras.Model):
        def __init__(self):
            super().__init__(name=f"{model.name}_adapting")
            self.net, self.both = model, both
            self.alignment_tracker = keras.metrics.Mean(name="alignment")
            self.domain = None
            if adaptation.method == "dann":
                self.domain = keras.Sequential(
                    [keras.layers.Dense(64, activation="relu"), keras.layers.Dense(1)],
                    name="domain_classifier",
                )

        def build(self, input_shape):
            if self.domain is not None:
                self.domain.build((None, int(both.outputs[1].shape[-1])))
            self.built = True

        def call(self, inputs, training=False):
            return self.net(inputs, training=training)

        def alignment(self, fs, ft):
            if self.domain is None:
                return mmd2(tf, fs, ft)
            logits = self.domain(reverse_gradient(tf.concat([fs, ft], axis=0)), training=True)
            labels = tf.concat([tf.zeros_like(fs[:, :1]), tf.ones_like(ft[:, :1])], axis=0)
            return tf.reduce_mean(
                tf.nn.sigmoid_cross_entropy_with_logits(labels=labels, logits=logits)
            )

        def train_step(self, data):
            x, y, sample_weight = keras.utils.unpack_x_y_sample_weight(data)
            step = tf.cast(self.optimizer.iterations, tf.float32)
            progress = tf.minimum(step / float(max(total_steps, 1)), 1.0)
            weight = adaptation.weight * (2.0 / (1.0 + tf.exp(-10.0 * progress)) - 1.0)
            n = tf.shape(x["source"])[0]
            with tf.GradientTape() as tape:
                # one batch through the network: batch normalisation must not standardise
                # each domain on its own, or the features look aligned only while training
                outputs, features = self.both(
                    tf.concat([x["source"], x["target"]], axis=0), training=True
                )
                y_pred = keras.tree.map_structure(lambda t: t[:n], outputs)
                fs, ft = features[:n], features[n:]
                loss = self.compute_loss(
                    x=x["source"], y=y, y_pred=y_pred, sample_weight=sample_weight, training=True
                )
                align = self.alignment(tf.cast(fs, tf.float32), tf.cast(ft, tf.float32))
                total = loss + weight * align
            grads = tape.gradient(total, self.trainable_weights)
            self.optimizer.apply_gradients(
                [(g, v) for g, v in zip(grads, self.trainable_weights) if g is not None]
            )
            self.alignment_tracker.update_state(align)
            logs = self.compute_metrics(x["source"], y, y_pred, sample_weight=sample_weight)
            return {**logs, "alignment": self.alignment_tracker.result()}

    trainer = AdaptingTrainer()
    trainer.build(model.input_shape)  # BackupAndRestore needs every weight before fit
    return trainer


def paired_dataset(source_ds, target_images, scaler, batch_size, seed, augment=None):
    """Batches ``({"source": x, "target": xt}, y)``: each source batch with a target one.

    Target batches are drawn by a seeded reshuffling of the target images (repeated as
    often as needed), scaled as the source and augmented by the same augmenter.
    """
    from astrocnn._tf import import_tensorflow

    tf = import_tensorflow()
    shape = tuple(target_images.shape[1:])
    dummy = np.zeros((len(target_images), 1), np.float32)

    def scaled(x, y):
        x = scaler.transform_tf(tf.ensure_shape(x, (None, *shape)))
        if augment is not None:
            x, y = augment(x, y)
        return x

    target = (
        tf.data.Dataset.from_tensor_slices((target_images.astype(np.float32), dummy))
        .shuffle(len(target_images), seed=seed + 1, reshuffle_each_iteration=True)
        .repeat()
        .batch(batch_size, drop_remainder=True)
        .map(scaled, num_parallel_calls=2)
    )

    def pair(source, xt):
        x, y = source
        return {"source": x, "target": xt[: tf.shape(x)[0]]}, y

    return tf.data.Dataset.zip((source_ds, target)).map(pair).prefetch(tf.data.AUTOTUNE)


# ---------------------------------------------------------------------------------------
# measuring the gap


def domain_gap(source, target, seed=0):
    """How far apart two sets of embeddings are.

    Parameters
    ----------
    source, target : numpy.ndarray
        (N, D) and (M, D) embeddings.
    seed : int
        Seed of the classifier's split.

    Returns
    -------
    dict
        ``mmd``: the squared MMD of :func:`mmd2`'s kernel, unbiased (about 0 for one
        distribution);
        ``domain_accuracy``: held-out accuracy of a linear discriminant telling the
        domains apart on equal-sized samples (0.5: indistinguishable, 1: separable);
        ``n_source``, ``n_target``.
    """
    rng = np.random.default_rng(seed)
    n = min(len(source), len(target), 1000)
    a = np.asarray(source, np.float64)[rng.permutation(len(source))[:n]]
    b = np.asarray(target, np.float64)[rng.permutation(len(target))[:n]]
    return {
        "mmd": float(_mmd2_numpy(a, b)),
        "domain_accuracy": float(_lda_accuracy(a, b, rng)),
        "n_source": int(len(source)),
        "n_target": int(len(target)),
    }


def _mmd2_numpy(a, b):
    """Unbiased squared MMD (no self-similarity terms): about 0 for one distribution."""
    x = np.concatenate([a, b])
    sq = (x * x).sum(axis=1)
    d2 = np.maximum(sq[:, None] + sq[None, :] - 2 * x @ x.T, 0.0)
    scale = d2.mean() + 1e-6
    kernel = sum(np.exp(-d2 / (scale * s)) for s in KERNEL_SCALES)
    n, m = len(a), len(b)
    k_aa = (kernel[:n, :n].sum() - np.trace(kernel[:n, :n])) / (n * (n - 1))
    k_bb = (kernel[n:, n:].sum() - np.trace(kernel[n:, n:])) / (m * (m - 1))
    return k_aa + k_bb - 2 * kernel[:n, n:].mean()


def _lda_accuracy(a, b, rng):
    """Two-fold accuracy of Fisher's linear discriminant (shrunk covariance)."""
    x = np.concatenate([a, b])
    y = np.r_[np.zeros(len(a)), np.ones(len(b))]
    fold = rng.permutation(len(x)) % 2
    correct = 0
    for k in (0, 1):
        train, test = fold != k, fold == k
        xa, xb = x[train & (y == 0)], x[train & (y == 1)]
        cov = np.cov(np.concatenate([xa - xa.mean(0), xb - xb.mean(0)]).T)
        cov = np.atleast_2d(cov)
        cov += (1e-3 * np.trace(cov) / len(cov) + 1e-9) * np.eye(len(cov))
        w = np.linalg.solve(cov, xb.mean(0) - xa.mean(0))
        cut = w @ (xa.mean(0) + xb.mean(0)) / 2
        correct += int(((x[test] @ w > cut) == (y[test] == 1)).sum())
    return correct / len(x)
