"""Feature-space out-of-distribution score: how far an image's embedding lies
from the training set's embeddings (issue 20, item 3).

The embedding is the network's penultimate representation: the output of the
backbone's global average pooling layer (named ``pool``, see
:func:`astrocnn.models.cnn.build_backbone`).  At training time the mean and
the leading principal components of the embeddings of (a sample of) the
training images are fitted and stored in the bundle as ``feature_stats``;
an image's score is its squared Mahalanobis distance in that subspace plus
its residual outside it (in units of the mean residual variance), divided by
the dimension, so that it is about 1 for images like the training set.
``threshold`` is the 99.5th percentile of the scores of held-out (validation)
images: about 0.5 % of in-distribution images exceed it.

Models without a pooled embedding (the U-Nets of deblend and paint) have no
feature score.
"""

from __future__ import annotations

import numpy as np

POOL = "pool"
THRESHOLD_PERCENTILE = 99.5
MAX_TRAIN = 5000
GAP_SAMPLE = 128  # held-out embeddings kept in the bundle: evaluate measures domain gaps


def _is_pool(layer) -> bool:
    return layer.name == POOL and type(layer).__name__ == "GlobalAveragePooling2D"


def embedding_layer(model):
    """The layer of ``model`` whose output is the image embedding, or ``None``.

    Parameters
    ----------
    model : keras.Model
        A functional network.

    Returns
    -------
    keras.layers.Layer or None
        The ``GlobalAveragePooling2D`` layer named ``pool`` when it is a layer
        of ``model`` itself; the nested sub-model (the ``backbone``) whose
        output it is when the backbone is nested in the task's model; ``None``
        for a model without one (U-Nets).
    """
    for layer in model.layers:
        if _is_pool(layer):
            return layer
        inner = getattr(layer, "layers", None)
        if inner and any(_is_pool(sub) and sub.output is layer.output for sub in inner):
            return layer
    return None


def _embedding_tensor(model, layer):
    """The output of ``layer`` in ``model``'s own graph.

    A nested model's ``output`` is the tensor of its inner graph, not the one
    its call in ``model`` produced: take the output of the call node that
    belongs to ``model`` (the first, when the graph does not say).
    """
    nodes = [n for ns in getattr(model, "_nodes_by_depth", {}).values() for n in ns]
    mine = [n for n in nodes if n.operation is layer] or layer._inbound_nodes[:1]
    return mine[0].output_tensors[0]


def embedding_model(model):
    """A model with ``model``'s inputs returning ``(outputs, embedding)``.

    One forward pass gives both the network's outputs (identical to
    ``model(x)``) and the embedding of :func:`embedding_layer`.

    Parameters
    ----------
    model : keras.Model
        A functional network with an embedding.

    Returns
    -------
    keras.Model or None
        ``None`` when ``model`` has no embedding.
    """
    from astrocnn._tf import import_keras

    keras = import_keras()
    layer = embedding_layer(model)
    if layer is None:
        return None
    embedding = _embedding_tensor(model, layer)
    return keras.Model(model.input, (model.output, embedding), name=f"{model.name}_embedding")


def embedder(model, *, scaler=None, batch_size=256):
    """A function ``embed(images, scalars=None)`` returning the embeddings of images.

    The images (N, H, W, C) go through ``scaler`` and the network exactly as
    in ``predict`` (batched, ``training=False``); the graph is traced once.

    Parameters
    ----------
    model : keras.Model
        The network; it must have an embedding (:func:`embedding_layer`).
    scaler : object, optional
        Preprocessing with a ``transform_tf`` method.
    batch_size : int
        Images per forward pass.

    Returns
    -------
    callable
        ``embed(images, scalars=None)``: ``images`` raw (a numpy array or an
        HDF5 selection), ``scalars`` the standardised extra inputs (N, k) of
        a model that takes them; returns float32 (N, D).
    """
    from astrocnn._tf import import_tensorflow

    tf = import_tensorflow()
    net = embedding_model(model)
    if net is None:
        raise ValueError(f"model {model.name!r} has no pooled embedding")
    dim = int(net.outputs[-1].shape[-1])

    def forward(x, *s):
        if scaler is not None:
            x = scaler.transform_tf(x)
        _, embedding = net((x, *s) if s else x, training=False)
        return tf.cast(embedding, tf.float32)

    fn = tf.function(forward, reduce_retracing=True, autograph=False)

    def embed(images, scalars=None):
        out = [np.zeros((0, dim), np.float32)]
        for start in range(0, len(images), batch_size):
            args = [np.asarray(images[start : start + batch_size], dtype=np.float32)]
            if scalars is not None:
                args.append(np.asarray(scalars[start : start + batch_size], dtype=np.float32))
            out.append(np.asarray(fn(*args)))
        return np.concatenate(out)

    return embed


def _rounded(values, digits=5):
    """A list of floats with ``digits`` significant digits (a short JSON form)."""
    return [float(f"{v:.{digits}g}") for v in np.asarray(values, dtype=np.float64).ravel()]


def fit_feature_stats(train_embeddings, held_out_embeddings, n_components=32):
    """Fit the feature-space score on training embeddings; threshold it on held-out ones.

    Parameters
    ----------
    train_embeddings : numpy.ndarray
        (N, D) embeddings of training images.
    held_out_embeddings : numpy.ndarray
        (M, D) embeddings of images not used for the fit (the validation
        set); with none, the training embeddings set the threshold (too low
        a threshold: their scores are biased low).
    n_components : int
        Principal components kept (at most ``min(D, N - 1)``).

    Returns
    -------
    dict
        JSON-serialisable: ``mean`` (D), ``components`` (k lists of D),
        ``variances`` (k), ``residual_variance``, ``threshold``, the held-out
        scores' median, ``dim``, ``n_train``, ``n_held_out``, ``percentile``.
    """
    x = np.asarray(train_embeddings, dtype=np.float64)
    n, dim = x.shape
    mean = x.mean(axis=0)
    centred = x - mean
    _, singular, vt = np.linalg.svd(centred, full_matrices=False)
    variances = singular**2 / max(n - 1, 1)
    k = int(max(0, min(n_components, dim, n - 1)))
    total = float(variances.sum())
    floor = max(1e-6 * total / dim, 1e-12)
    residual = float(variances[k:].sum()) / (dim - k) if dim > k else 0.0
    stats = {
        "kind": "pca_mahalanobis",
        "dim": int(dim),
        "n_components": k,
        "mean": _rounded(mean),
        "components": [_rounded(row, 4) for row in vt[:k]],
        "variances": _rounded(np.maximum(variances[:k], floor)),
        "residual_variance": _rounded([max(residual, floor)])[0],
        "n_train": int(n),
    }
    held = np.asarray(held_out_embeddings, dtype=np.float64)
    calibration = held if len(held) else x
    scores = feature_scores(calibration, stats)
    stats.update(
        {
            "n_held_out": int(len(held)),
            "percentile": THRESHOLD_PERCENTILE,
            "threshold": _rounded([np.percentile(scores, THRESHOLD_PERCENTILE)], 4)[0],
            "held_out_median": _rounded([np.median(scores)], 4)[0],
        }
    )
    return stats


def feature_scores(embeddings, stats):
    """The feature-space score of each row of ``embeddings`` (about 1 in distribution).

    ``(sum_i p_i^2 / var_i + |r|^2 / residual_variance) / D`` where ``p`` are
    the coordinates on the principal components and ``r`` the residual.

    Parameters
    ----------
    embeddings : numpy.ndarray
        (N, D).
    stats : dict
        From :func:`fit_feature_stats` (or a bundle's ``feature_stats``).

    Returns
    -------
    numpy.ndarray
        float64 (N,).
    """
    x = np.asarray(embeddings, dtype=np.float64) - np.asarray(stats["mean"], dtype=np.float64)
    dim = int(stats["dim"])
    components = np.asarray(stats["components"], dtype=np.float64).reshape(-1, dim)
    projected = x @ components.T
    score = (projected**2 / np.asarray(stats["variances"], dtype=np.float64)).sum(axis=1)
    if len(components) < dim:
        residual = x - projected @ components
        score += (residual**2).sum(axis=1) / float(stats["residual_variance"])
    return score / dim


def training_feature_stats(model, images, scaler, train_idx, val_idx, scalars=None, seed=0):
    """``feature_stats`` of a trained network, or ``None`` without an embedding.

    Embeds up to :data:`MAX_TRAIN` training images (a seeded sample) and the
    validation images, preprocessed as ``predict`` does, and fits
    :func:`fit_feature_stats`.

    Parameters
    ----------
    model : keras.Model
        The trained network.
    images : array-like
        All images (N, H, W, C), raw (in memory or an HDF5 dataset).
    scaler : object
        The bundle's preprocessing.
    train_idx, val_idx : numpy.ndarray
        Row indices of the training and validation images.
    scalars : numpy.ndarray, optional
        Standardised extra scalar inputs of every row (N, k).
    seed : int
        Seed of the training sample.
    """
    if embedding_layer(model) is None:
        return None
    embed = embedder(model, scaler=scaler)
    train_idx = np.asarray(train_idx)
    if len(train_idx) > MAX_TRAIN:
        train_idx = np.random.default_rng(seed).choice(train_idx, MAX_TRAIN, replace=False)

    def embed_rows(rows):
        rows = np.sort(np.asarray(rows, dtype=np.int64))  # sorted reads: HDF5 needs them
        parts = [embed(np.zeros((0, *images.shape[1:]), np.float32))]
        for start in range(0, len(rows), 2048):  # bounded memory for sets on disk
            chunk = rows[start : start + 2048]
            parts.append(embed(images[chunk], None if scalars is None else scalars[chunk]))
        return np.concatenate(parts)

    held_out = embed_rows(val_idx)
    stats = fit_feature_stats(embed_rows(train_idx), held_out)
    stats["sample"] = embedding_sample(held_out, seed)
    return stats


def embedding_sample(embeddings, seed=0, n=GAP_SAMPLE):
    """Up to ``n`` rows of ``embeddings`` (a seeded choice), rounded for the bundle's JSON:
    the reference set of :func:`astrocnn.engine.adapt.domain_gap` at ``evaluate``."""
    rows = np.sort(np.random.default_rng(seed).permutation(len(embeddings))[:n])
    return [_rounded(row, 3) for row in np.asarray(embeddings)[rows]]
