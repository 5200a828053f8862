"""``astrocnn pretrain``: self-supervised contrastive pretraining of a task's backbone.

Labels are the scarce part of most astronomical training sets; unlabelled
cutouts are not.  SimCLR (Chen et al. 2020), as Hayat et al. (2021) used it
on SDSS images and Stein et al. (2021, with MoCo) on DESI images, learns a
representation from unlabelled images alone: two random *views* of every
image of a batch go through the backbone and a small projection head, and
the NT-Xent loss pulls each image's two views together and pushes them away
from the views of the other images of the batch.  What the views change is
what the representation learns to ignore, so they are chosen for
astronomical images (:func:`astrocnn.data.augment.make_views`): the 8
symmetries of the square, small shifts, a PSF blur and a noise re-draw, and
no colour change (colours carry redshift and stellar populations).

The result is a bundle whose network is the backbone and its projection head
(``kind = "pretrained_backbone"``), with the input scaling fitted on the
unlabelled images.  ``astrocnn train TASK --init-from`` copies its backbone
layer by layer (:func:`astrocnn.engine.finetune.fine_tune_start`) and trains
a new head on the few labels there are, as Zoobot's pretrained
representations are used (Walmsley et al. 2022).
"""

from __future__ import annotations

import datetime as _dt
import math
import platform
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from astrocnn import __version__
from astrocnn.errors import AstrocnnError
from astrocnn.io.atomic import check_writable

PRETRAINED = "pretrained_backbone"
"""The ``kind`` of a bundle written by :func:`pretrain`."""

METHOD = "SimCLR (NT-Xent)"


@dataclass
class PretrainConfig:
    """Options of a pretraining run (all stored in the bundle).

    ``widths`` and ``convs_per_block`` default to the architecture's
    (:data:`astrocnn.models.cnn.ARCHITECTURE_DEFAULTS`), as in ``train``.
    """

    epochs: int = 30
    batch_size: int = 128
    learning_rate: float = 1e-3
    temperature: float = 0.2
    architecture: str | None = None  # None: the task's default_architecture
    widths: tuple | None = None
    convs_per_block: int | None = None
    projection_dim: int = 128
    max_shift: int = 3
    max_blur: float = 1.0
    max_noise: float = 1.0
    seed: int = 0
    overwrite: bool = False
    quiet: bool = False


def can_pretrain(task) -> bool:
    """Whether ``task``'s network is a shared backbone with a head (not a U-Net)."""
    from astrocnn.models.cnn import ARCHITECTURES

    return task.architecture_name is None or task.architecture_name in ARCHITECTURES


def check_task(task):
    """Refuse a task whose network has no backbone to pretrain."""
    if not can_pretrain(task):
        raise AstrocnnError(
            f"task {task.name!r} trains a {task.architecture_name} (an image-to-image "
            f"network without a backbone); pretrain works for the tasks built on the "
            f"cnn/resnet backbones"
        )


def check_batch(n_images: int, batch_size: int, source: str, n_rows: int | None = None):
    """Refuse a set of fewer images than one batch, naming a batch size that fits.

    Each image is contrasted with the other images of its batch, and only
    whole batches are used, so a smaller set gives no training step at all.
    ``n_rows``: the catalogue's rows when only ``n_images`` of them could be read.
    """
    if batch_size < 2:
        raise AstrocnnError("--batch-size: contrastive pretraining needs batches of 2 or more")
    if n_images >= batch_size:
        return
    counted = f"{n_images} image(s)" if n_rows is None else f"{n_images} readable of {n_rows}"
    if n_images < 2:
        raise AstrocnnError(
            f"{source}: {counted}; contrastive pretraining needs at least 2 (batches of "
            f"hundreds are usual)"
        )
    fits = 2 ** int(math.log2(n_images))
    raise AstrocnnError(
        f"{source}: {counted}, fewer than one batch (--batch-size {batch_size}); give more "
        f"images or --batch-size {fits} or less"
    )


def check_output(out, overwrite: bool) -> Path:
    """The bundle path, checked to be writable (before any image is read)."""
    out = Path(out)
    if out.suffix != ".keras":
        raise AstrocnnError(f"{out}: the model file must have the .keras extension")
    return check_writable(out, overwrite=overwrite).absolute()


def nt_xent(z1, z2, temperature: float):
    """The NT-Xent loss of two views' projections, and how often the positive wins.

    Parameters
    ----------
    z1, z2 : tf.Tensor
        (N, D) projections of the first and second view of the same N images.
    temperature : float
        Softmax temperature of the cosine similarities.

    Returns
    -------
    (tf.Tensor, tf.Tensor)
        The mean loss over the 2N views (``log(2N - 1)`` for random
        projections) and the fraction of views whose most similar other view
        is their positive.
    """
    from astrocnn._tf import import_tensorflow

    tf = import_tensorflow()
    z = tf.math.l2_normalize(tf.cast(tf.concat([z1, z2], axis=0), tf.float32), axis=1)
    n = tf.shape(z1)[0]
    logits = tf.matmul(z, z, transpose_b=True) / temperature
    logits -= 1e9 * tf.eye(2 * n)  # a view is not its own positive
    positives = tf.concat([tf.range(n, 2 * n), tf.range(0, n)], axis=0)
    loss = tf.nn.sparse_softmax_cross_entropy_with_logits(labels=positives, logits=logits)
    found = tf.cast(
        tf.equal(tf.argmax(logits, axis=1, output_type=tf.int32), positives), tf.float32
    )
    return tf.reduce_mean(loss), tf.reduce_mean(found)


def build_pretraining_model(input_shape, options: dict, projection_dim: int = 128):
    """The backbone (a nested model named ``backbone``) and a 2-layer projection head.

    Parameters
    ----------
    input_shape : tuple of int
        ``(H, W, C)``.
    options : dict
        ``architecture``, ``widths``, ``convs_per_block``
        (:func:`astrocnn.models.cnn.build_backbone`).
    projection_dim : int
        Dimension of the projections the loss compares.

    Returns
    -------
    keras.Model
        Images to (N, projection_dim) projections.
    """
    from astrocnn._tf import import_keras
    from astrocnn.models.cnn import build_backbone

    keras = import_keras()
    backbone = build_backbone(tuple(input_shape), **options)
    inputs = keras.Input(shape=tuple(input_shape), name="image")
    x = backbone(inputs)
    hidden = max(2 * int(x.shape[-1]), projection_dim)
    x = keras.layers.Dense(
        hidden, activation="relu", kernel_initializer="he_normal", name="projection_hidden"
    )(x)
    outputs = keras.layers.Dense(projection_dim, name="projection")(x)
    return keras.Model(inputs, outputs, name=f"{options['architecture']}_simclr")


def view_pairs(images, scaler, views, batch_size: int, seed: int):
    """A tf.data pipeline of shuffled whole batches of two scaled views of each image.

    ``images`` (N, H, W, C) raw, in memory or an HDF5 dataset; the views are
    drawn on the fluxes, then scaled as the network's inputs.
    """
    from astrocnn._tf import import_tensorflow

    tf = import_tensorflow()
    shape = tuple(int(s) for s in images.shape[1:])

    def gather(idx):
        return np.asarray(images[np.sort(idx)], dtype=np.float32)  # sorted: HDF5 reads

    def pair(batch):
        batch = tf.ensure_shape(batch, (batch_size, *shape))
        return scaler.transform_tf(views(batch)), scaler.transform_tf(views(batch))

    ds = tf.data.Dataset.from_tensor_slices(np.arange(len(images), dtype=np.int64))
    ds = ds.shuffle(len(images), seed=seed, reshuffle_each_iteration=True)
    ds = ds.batch(batch_size, drop_remainder=True)
    ds = ds.map(
        lambda idx: tf.numpy_function(gather, [idx], tf.float32, stateful=False),
        num_parallel_calls=2,
    )
    # one view map at a time: the generator's draws, hence the views, are reproducible
    return ds.map(pair).prefetch(tf.data.AUTOTUNE)


def _train_step(model, optimizer, temperature):
    from astrocnn._tf import import_tensorflow

    tf = import_tensorflow()

    @tf.function
    def step(first, second):
        with tf.GradientTape() as tape:
            z = model(tf.concat([first, second], axis=0), training=True)
            n = tf.shape(first)[0]
            loss, found = nt_xent(z[:n], z[n:], temperature)
        grads = tape.gradient(loss, model.trainable_weights)
        optimizer.apply(grads, model.trainable_weights)
        return loss, found

    return step


def _schedule(keras, config, steps):
    """Cosine decay of the learning rate, after a linear warm-up over a tenth of the run."""
    total = max(1, steps * config.epochs)
    warmup = steps * (config.epochs // 10)
    if not warmup:
        return keras.optimizers.schedules.CosineDecay(config.learning_rate, total, alpha=0.02)
    return keras.optimizers.schedules.CosineDecay(
        0.0,
        total - warmup,
        alpha=0.02,
        warmup_target=config.learning_rate,
        warmup_steps=warmup,
    )


def fit(model, dataset, steps: int, config: PretrainConfig, log=print) -> list[dict]:
    """Minimise the NT-Xent loss over ``config.epochs`` passes of ``dataset``.

    Returns
    -------
    list of dict
        Per epoch: ``loss``, ``positive_top1`` and ``seconds``.

    Raises
    ------
    AstrocnnError
        If the loss stops being finite (a learning rate too high).
    """
    from astrocnn._tf import import_keras

    keras = import_keras()
    optimizer = keras.optimizers.Adam(_schedule(keras, config, steps))
    step = _train_step(model, optimizer, config.temperature)
    history = []
    for epoch in range(config.epochs):
        start = time.perf_counter()
        results = [step(first, second) for first, second in dataset]
        loss = float(np.mean([float(r[0]) for r in results]))
        found = float(np.mean([float(r[1]) for r in results]))
        seconds = time.perf_counter() - start
        if not np.isfinite(loss):
            raise AstrocnnError(
                f"pretraining diverged (the loss is {loss} in epoch {epoch + 1}); give a "
                f"smaller --learning-rate"
            )
        history.append({"loss": loss, "positive_top1": found, "seconds": seconds})
        if not config.quiet:
            log(
                f"epoch {epoch + 1}/{config.epochs}: loss {loss:.4f}, positive view "
                f"ranked first {found:.1%} ({seconds:.1f} s)"
            )
    return history


def pretrain(task, data, out, config: PretrainConfig, *, log=print) -> dict:
    """Pretrain ``task``'s backbone on the unlabelled images ``data``; write the bundle.

    Parameters
    ----------
    task : Task
        Supplies the input scaling (and the name recorded in the bundle).
    data : astrocnn.engine.train.TrainingSet
        The images (labels, if any, are not used).
    out : path-like
        Bundle path (``.keras``); not replaced unless ``config.overwrite``.
    config : PretrainConfig
        Hyper-parameters.
    log : callable
        Where progress messages go.

    Returns
    -------
    dict
        The bundle's metadata.
    """
    from astrocnn._tf import import_keras
    from astrocnn.data.augment import make_views
    from astrocnn.engine.train import fit_input_scaling
    from astrocnn.io.bundle import save_bundle
    from astrocnn.models.cnn import architecture_options

    check_task(task)
    out = check_output(out, config.overwrite)
    n = len(data.images)
    check_batch(n, config.batch_size, data.name)  # before TensorFlow loads
    keras = import_keras()
    input_shape = tuple(int(s) for s in data.images.shape[1:])
    scaler = fit_input_scaling(task, data, np.arange(n), config.seed)
    options = architecture_options(
        config.architecture or task.default_architecture, config.widths, config.convs_per_block
    )
    keras.utils.set_random_seed(config.seed)
    model = build_pretraining_model(input_shape, options, config.projection_dim)
    views = make_views(
        max_shift=config.max_shift,
        max_blur=config.max_blur,
        max_noise=config.max_noise,
        seed=config.seed,
    )
    steps = n // config.batch_size
    dataset = view_pairs(data.images, scaler, views, config.batch_size, config.seed)
    log(
        f"pretraining {task.name} backbone on {n} unlabelled images "
        f"({model.get_layer('backbone').count_params():,} backbone parameters, "
        f"{config.epochs} epochs of {steps} batches of {config.batch_size})"
    )
    history = fit(model, dataset, steps, config, log)
    meta = pretrained_meta(task, data, model, scaler, options, config, history)
    save_bundle(model, meta, out, overwrite=config.overwrite)
    return meta


def pretrained_meta(task, data, model, scaler, options, config, history) -> dict:
    """The metadata of a pretrained-backbone bundle (what ``train --init-from`` reads)."""
    from astrocnn._tf import import_keras
    from astrocnn.io.contract import training_contract

    input_shape = [int(s) for s in data.images.shape[1:]]
    return {
        "kind": PRETRAINED,
        "task": task.name,
        "bands": list(data.bands),
        "input_shape": input_shape,
        "size_mode": data.size_mode,
        "hdus": data.hdus,
        "preprocessing": scaler.to_dict(),
        "image_kind": data.image_kind,
        "architecture": options["architecture"],
        "model_options": {k: list(v) if isinstance(v, tuple) else v for k, v in options.items()},
        "n_params": int(model.count_params()),
        "output_columns": [],
        "data_contract": training_contract(
            data.headers, list(data.bands), data.images, input_shape[:2], {}
        ),
        "pretraining": _pretraining_record(data, model, config, history),
        "provenance": {
            "data": data.name,
            "n_images": int(len(data.images)),
            "seed": config.seed,
            "epochs": config.epochs,
            "batch_size": config.batch_size,
            "learning_rate": config.learning_rate,
            "init_from": "none",
            "astrocnn_version": __version__,
            "keras_version": import_keras().__version__,
            "python": platform.python_version(),
            "trained": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
        },
    }


def _pretraining_record(data, model, config, history) -> dict:
    last = history[-1] if history else {"loss": float("nan"), "positive_top1": float("nan")}
    return {
        "method": METHOD,
        "epochs": config.epochs,
        "batch_size": config.batch_size,
        "steps_per_epoch": int(len(data.images) // config.batch_size),
        "learning_rate": config.learning_rate,
        "temperature": config.temperature,
        "projection_dim": config.projection_dim,
        "embedding_dim": int(model.get_layer("backbone").output.shape[-1]),
        "n_images": int(len(data.images)),
        "final_loss": last["loss"],
        "final_positive_top1": last["positive_top1"],
        "chance_loss": float(np.log(2 * config.batch_size - 1)),
        "loss_history": [round(h["loss"], 5) for h in history],
        "seconds_per_epoch": float(np.median([h["seconds"] for h in history])) if history else 0,
        "views": {
            "d4": True,
            "max_shift_px": config.max_shift,
            "max_blur_sigma_px": config.max_blur,
            "max_noise_fraction": config.max_noise,
            "colour": "unchanged (no band is changed relative to another before the noise)",
        },
    }
