"""Data-parallel training with ``tf.distribute``: several GPUs, several nodes.

``--strategy``:

- ``default``: one device (TensorFlow's default placement), ``model.fit``;
- ``mirrored``: :class:`tf.distribute.MirroredStrategy`, every GPU of this
  machine (the CPU when there is none), ``model.fit``;
- ``multiworker``: :class:`tf.distribute.MultiWorkerMirroredStrategy` across
  processes/nodes described by the ``TF_CONFIG`` environment variable (one
  process per node; without ``TF_CONFIG`` a single worker).  Keras 3's
  ``model.fit`` does not run under this strategy (keras-team/keras#20585), so
  :func:`fit_distributed` is a plain custom loop: ``strategy.run`` of one
  gradient step per replica, losses averaged over the global batch.

Every strategy checkpoints in the same format and place as
:class:`keras.callbacks.BackupAndRestore` (``latest.weights.h5`` with the
optimizer state, and ``training_metadata.json`` with the epoch), so a run
interrupted under one strategy resumes under any other.  In a multi-worker
run, only the chief (worker 0) writes the checkpoint and the bundle; the other
workers write theirs to a temporary folder, as ``tf.distribute`` requires.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path

import numpy as np

STRATEGIES = ("default", "mirrored", "multiworker")
WEIGHTS = "latest.weights.h5"
METADATA = "training_metadata.json"


def make_strategy(name: str):
    """The ``tf.distribute`` strategy called ``name`` (None for ``default``).

    Created before anything else runs in TensorFlow, as multi-worker training
    requires.
    """
    from astrocnn._tf import import_tensorflow
    from astrocnn.errors import AstrocnnError

    if name not in STRATEGIES:
        raise AstrocnnError(f"unknown strategy {name!r} (choose from {', '.join(STRATEGIES)})")
    if name == "default":
        return None
    tf = import_tensorflow()
    if name == "mirrored":
        return tf.distribute.MirroredStrategy()
    try:
        return tf.distribute.MultiWorkerMirroredStrategy()
    except (ValueError, RuntimeError) as exc:
        raise AstrocnnError(
            f"cannot start multi-worker training: {exc} (check TF_CONFIG)"
        ) from None


def is_chief(strategy) -> bool:
    """Whether this process writes checkpoints and the bundle."""
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is None or not resolver.task_type:
        return True
    return resolver.task_type == "chief" or (
        resolver.task_type == "worker" and int(resolver.task_id) == 0
    )


def uses_custom_loop(strategy) -> bool:
    """Multi-worker training needs :func:`fit_distributed` (Keras 3 ``fit`` cannot)."""
    if strategy is None:
        return False
    from astrocnn._tf import import_tensorflow

    return isinstance(strategy, import_tensorflow().distribute.MultiWorkerMirroredStrategy)


def shard_by_data(dataset):
    """Let every worker read the whole pipeline and keep its share of the batches
    (the pipeline gathers from memory/HDF5, it has no files to shard by)."""
    from astrocnn._tf import import_tensorflow

    tf = import_tensorflow()
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    return dataset.with_options(options)


def backup_folder(backup: Path, chief: bool) -> Path:
    """Where this process writes its checkpoint (a temporary folder unless chief)."""
    return backup if chief else Path(tempfile.mkdtemp(prefix="astrocnn-worker-ckpt-"))


def restore(model, backup: Path) -> int:
    """Load the checkpoint in ``backup`` (if any) into ``model``; return its epoch."""
    weights, metadata = backup / WEIGHTS, backup / METADATA
    if not weights.exists():
        return 0
    if model.optimizer is not None and not model.optimizer.built:
        model.optimizer.build(model.trainable_variables)
    model.load_weights(weights)
    if metadata.exists():
        return int(json.loads(metadata.read_text())["epoch"])
    return 0


def save(model, folder: Path, epoch: int):
    """Write the checkpoint of a finished ``epoch`` (BackupAndRestore's format)."""
    folder.mkdir(parents=True, exist_ok=True)
    model.save_weights(folder / WEIGHTS, overwrite=True)
    (folder / METADATA).write_text(json.dumps({"epoch": epoch, "batch": 0}))


def _class_weight_table(class_weight):
    if not class_weight:
        return None
    size = max(int(k) for k in class_weight) + 1
    table = np.ones(size, np.float32)
    for k, v in class_weight.items():
        table[int(k)] = v
    return table


def fit_distributed(
    model,
    strategy,
    train_ds,
    val_ds,
    *,
    loss,
    batch_size,
    initial_epoch,
    epochs,
    backup: Path,
    class_weight=None,
    callbacks=(),
    log=print,
) -> dict:
    """Train ``model`` (built and compiled under ``strategy.scope()``) with a custom loop.

    Parameters
    ----------
    model : keras.Model
        Compiled (its optimizer is used and checkpointed).
    strategy : tf.distribute.Strategy
    train_ds, val_ds : tf.data.Dataset
        Batches of the global batch size (``val_ds`` may be None).
    loss : str or callable
        The task's Keras loss.
    batch_size : int
        Global batch size.
    initial_epoch, epochs : int
        Train epochs ``initial_epoch`` .. ``epochs - 1`` (after any checkpoint
        in ``backup``, which takes precedence).
    backup : pathlib.Path
        Checkpoint folder (BackupAndRestore's format).
    class_weight : dict, optional
        Per-class loss weights (sparse integer targets).
    callbacks : sequence of keras.callbacks.Callback
        Receive ``on_epoch_begin``/``on_epoch_end``.
    log : callable
        One line per epoch.

    Returns
    -------
    dict
        History: per-epoch ``loss`` (and ``val_loss``).
    """
    from astrocnn._tf import import_keras, import_tensorflow

    tf, keras = import_tensorflow(), import_keras()
    chief = is_chief(strategy)
    with strategy.scope():
        fn = keras.losses.get(loss) if isinstance(loss, str) else loss
        weights = _class_weight_table(class_weight)
        weight_table = None if weights is None else tf.constant(weights)
    replicas = strategy.num_replicas_in_sync
    optimizer = model.optimizer

    def sample_weight(y):
        if weight_table is None:
            return None
        index = tf.cast(tf.reshape(y, [-1]), tf.int32)
        return tf.gather(weight_table, index)

    def loss_value(y, prediction, weight=None):
        """Mean over the batch's elements, as Keras's default "sum_over_batch_size"."""
        if isinstance(fn, keras.losses.Loss):
            return fn(y, prediction, sample_weight=weight)
        values = tf.cast(fn(y, prediction), tf.float32)
        if weight is not None:
            shape = tf.concat([[-1], tf.ones([tf.rank(values) - 1], tf.int32)], axis=0)
            values = values * tf.reshape(weight, shape)
        return tf.reduce_mean(values)

    def train_step(x, y):
        with tf.GradientTape() as tape:
            prediction = model(x, training=True)
            value = loss_value(y, prediction, sample_weight(y))
            scaled = value / replicas  # summed over replicas: the global-batch mean
            if hasattr(optimizer, "scale_loss"):  # loss scaling under mixed_float16
                scaled = optimizer.scale_loss(scaled)
        grads = tape.gradient(scaled, model.trainable_variables)
        optimizer.apply_gradients(zip(grads, model.trainable_variables))
        return value

    def test_step(x, y):
        return loss_value(y, model(x, training=False))

    @tf.function
    def distributed_train(batch):
        values = strategy.run(train_step, args=batch)
        return strategy.reduce(tf.distribute.ReduceOp.MEAN, values, axis=None)

    @tf.function
    def distributed_test(batch):
        values = strategy.run(test_step, args=batch)
        return strategy.reduce(tf.distribute.ReduceOp.MEAN, values, axis=None)

    with strategy.scope():  # optimizer slots are created as mirrored variables
        if not optimizer.built:
            optimizer.build(model.trainable_variables)
        start = max(initial_epoch, restore(model, backup))
    writes = backup_folder(backup, chief)
    dist_train = strategy.experimental_distribute_dataset(shard_by_data(train_ds))
    dist_val = (
        None if val_ds is None else strategy.experimental_distribute_dataset(shard_by_data(val_ds))
    )
    callback_list = keras.callbacks.CallbackList(list(callbacks), model=model)
    history: dict = {"loss": []}
    for epoch in range(start, epochs):
        callback_list.on_epoch_begin(epoch)
        losses = [float(distributed_train(batch)) for batch in dist_train]
        logs = {"loss": float(np.mean(losses)) if losses else float("nan")}
        if dist_val is not None:
            logs["val_loss"] = float(np.mean([float(distributed_test(b)) for b in dist_val]))
            history.setdefault("val_loss", []).append(logs["val_loss"])
        history["loss"].append(logs["loss"])
        save(model, writes, epoch + 1)
        log(
            f"epoch {epoch + 1}/{epochs}: "
            + ", ".join(f"{k} {v:.4g}" for k, v in logs.items())
            + f" ({replicas} replica(s))"
        )
        callback_list.on_epoch_end(epoch, logs)
    if not chief:
        shutil.rmtree(writes, ignore_errors=True)
    return history
