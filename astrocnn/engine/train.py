"""``astrocnn train``: fit a task's network on a catalogue of cutouts or a packed file.

The flow is the same for every task:

1. read the images (a catalogue of FITS files, loaded in parallel, or a
   packed HDF5 file) and the task's targets;
2. split off a validation set (seeded);
3. fit the per-band preprocessing on the training images only;
4. stream minibatches through ``tf.data`` (sorted-index gathers from memory or
   HDF5, augmentation as batched TF ops, prefetch);
5. fit with Adam and a cosine learning-rate decay, checkpointing every epoch
   with :class:`keras.callbacks.BackupAndRestore` (``--resume`` continues an
   interrupted run from its last epoch);
6. evaluate the validation set with the task's science metrics, fit the
   feature-space OOD statistics (:mod:`astrocnn.engine.features`) and write
   the bundle (network + preprocessing + provenance + metrics).
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import json
import platform
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from astrocnn import __version__
from astrocnn.data.augment import make_augmenter
from astrocnn.data.loading import load_all
from astrocnn.data.scalars import fit_scalar_inputs, read_columns
from astrocnn.data.split import group_column, validation_split
from astrocnn.engine.features import training_feature_stats
from astrocnn.engine.finetune import (
    can_warm_start,
    fine_tune_start,
    load_source,
    set_backbone_trainable,
    warm_start,
)
from astrocnn.engine.inference import CompiledModel
from astrocnn.engine.optim import layerwise_adam
from astrocnn.engine.progress import progress_bar
from astrocnn.errors import AstrocnnError, CatalogError
from astrocnn.io.atomic import check_writable
from astrocnn.io.bundle import save_bundle
from astrocnn.io.contract import training_contract
from astrocnn.io.jsonsafe import json_safe


@dataclass
class TrainConfig:
    """Options of a training run (all stored in the bundle's provenance)."""

    epochs: int = 20
    batch_size: int = 64
    val_fraction: float = 0.1
    seed: int = 0
    learning_rate: float = 2e-3
    architecture: str | None = None  # None: the task's default_architecture
    widths: tuple | None = None  # None: the architecture's (models.cnn.ARCHITECTURE_DEFAULTS)
    convs_per_block: int | None = None
    patience: int | None = None  # stop after this many epochs without a better validation loss
    augmentation: str | None = None
    band_dropout: float = 0.0
    resume: bool = False
    overwrite: bool = False
    quiet: bool = False
    model_options: dict = field(default_factory=dict)
    callbacks: list = field(default_factory=list)
    init_from: str | None = None
    strategy: str = "default"
    precision: str = "float32"
    jit: bool | None = None  # None: Keras's "auto" (XLA on a GPU, not on a CPU)
    target_options: dict = field(default_factory=dict)
    freeze_backbone: bool = False
    head_epochs: int | None = None
    extra_inputs: tuple = ()
    split_by: str | None = None  # None: the task's split_groups column when present
    keep: str = "best"  # the weights saved: of the best validation loss, or of the last epoch
    stated_contract: dict = field(default_factory=dict)  # the user's pixel scale, zero point
    adapt_to: str | None = None  # unlabelled catalogue to align to (engine.adapt)
    adapt: str = "mmd"
    adapt_weight: float = 1.0


@dataclass
class TrainingSet:
    """Images (in memory or an HDF5 dataset), their catalogue and layout."""

    images: object
    table: object
    bands: list
    size_mode: str
    hdus: list | None
    name: str
    image_kind: str = "fits"
    headers: list = field(default_factory=list)  # a sample of the files' FITS headers


def _sample_headers(paths, image_kind, n=50):
    """The FITS headers of up to ``n`` training files spread over the set (none for
    JPEG/PNG): what the files say about their units, scale, PSF and depth."""
    if image_kind != "fits" or not paths:
        return []
    from astropy.io import fits

    headers = []
    for r in np.unique(np.linspace(0, len(paths) - 1, min(n, len(paths))).astype(int)):
        try:
            with fits.open(paths[r][0], memmap=False) as hdus:
                image = next((h for h in hdus if h.data is not None and h.is_image), hdus[0])
                headers.append(image.header.copy())
        except (OSError, ValueError, StopIteration):
            continue
    return headers


def training_set_from_source(source, spec, bands, *, quiet=False, log=print) -> TrainingSet:
    """Read every cutout of a catalogue into memory; unreadable rows are skipped and reported."""
    with progress_bar(len(source.paths), "read cutouts", quiet) as advance:
        block = load_all(source.paths, spec, row_labels=source.labels, progress=advance)
    bad = [r for r in block.reasons if r]
    if bad:
        log(f"astrocnn: warning: skipped {len(bad)} unreadable row(s); first: {bad[0]}")
    for line in block.log.lines():  # e.g. grey JPEGs replicated to R=G=B, with the first file
        log(f"converted {line}")
    if not block.ok.any():
        raise AstrocnnError(f"{source.name}: no cutout could be read")
    return TrainingSet(
        block.images[block.ok],
        source.table[block.ok],
        list(bands),
        spec.size_mode,
        list(spec.hdus) if spec.hdus else None,
        source.name,
        spec.image_kind or "fits",
        _sample_headers([p for p, ok in zip(source.paths, block.ok) if ok], spec.image_kind),
    )


def training_set_from_packed(packed) -> TrainingSet:
    """Wrap an opened :class:`~astrocnn.data.packed.PackedSet`."""
    return TrainingSet(
        packed.images,
        packed.table,
        packed.bands,
        packed.size_mode,
        packed.hdus,
        str(packed.path),
        packed.image_kind,
    )


def _groups_in(groups, rows) -> int:
    """How many distinct groups ``rows`` hold."""
    return len(np.unique(groups[rows])) if len(rows) else 0


def _missing_band_cost(task, validate, images, metrics, bands):
    """The validation headline metric with each band zero-filled in turn (what
    ``predict --missing-band zero`` does to a cutout lacking it), or ``None``.

    Returns ``{"metric": name, "all": value, "<band>": value, ...}`` for tasks
    whose evaluation reports their headline metric, with more than one band.
    ``images`` (the validation cutouts) is changed in place and restored.
    """
    name = task.headline_metric()
    if len(bands) < 2 or not isinstance(metrics.get(name), float):
        return None
    cost = {"metric": name, "all": metrics[name]}
    for b, band in enumerate(bands):
        kept = images[..., b].copy()  # blank one band in place: no copy of the whole set
        images[..., b] = 0.0
        try:
            cost[band] = float(validate(images)[name])
        finally:
            images[..., b] = kept
    return cost


def _dataset(images, targets, indices, scaler, batch_size, *, shuffle, seed, augment, extra=None):
    """A tf.data pipeline of (inputs, target batch) from row indices.

    ``inputs`` is the scaled image batch, or ``(images, extra)`` when the
    network also takes standardised scalar inputs ``extra`` (N, k).
    """
    from astrocnn._tf import import_tensorflow

    tf = import_tensorflow()
    shape = tuple(images.shape[1:])
    target_dtype = tf.as_dtype(targets.dtype)
    scalars = np.zeros((len(targets), 0), np.float32) if extra is None else extra

    def gather(idx):
        idx = np.sort(idx)  # sorted reads: sequential on disk for HDF5
        return np.asarray(images[idx], dtype=np.float32), scalars[idx], targets[idx]

    ds = tf.data.Dataset.from_tensor_slices(indices.astype(np.int64))
    if shuffle:
        ds = ds.shuffle(len(indices), seed=seed, reshuffle_each_iteration=True)
    ds = ds.batch(batch_size)
    ds = ds.map(
        lambda idx: tf.numpy_function(
            gather, [idx], (tf.float32, tf.float32, target_dtype), stateful=False
        ),
        num_parallel_calls=2,
    )

    def shaped(x, s, y):
        x = scaler.transform_tf(tf.ensure_shape(x, (None, *shape)))
        y = tf.ensure_shape(y, (None, *targets.shape[1:]))
        if augment is not None:
            x, y = augment(x, y)
        if extra is None:
            return x, y
        return (x, tf.ensure_shape(s, (None, scalars.shape[1]))), y

    ds = ds.map(shaped, num_parallel_calls=2)
    return ds.prefetch(tf.data.AUTOTUNE)


def _check_warm_extra_inputs(source, columns):
    have = list((source.meta.get("extra_inputs") or {}).get("columns", []))
    if have != list(columns or []):
        raise AstrocnnError(
            f"{source.path}: a warm start needs the same --extra-inputs as the source model "
            f"({','.join(have) or 'none'})"
        )


def _extra_inputs(task, data, columns, train_idx, meta, fixed=None):
    """Standardised extra scalar inputs (N, k), or ``None``; records them in ``meta``.

    ``fixed``: the standardisation of a warm-start source, kept instead of refitted.
    """
    if not columns:
        return None
    if not any(option.name == "extra_inputs" for option in task.options_for("train")):
        raise AstrocnnError(f"task {task.name!r} takes no extra inputs")
    raw, reasons = read_columns(data.table, list(columns), data.name)
    bad = [r for r in reasons if r]
    if bad:
        raise CatalogError(f"{bad[0]} ({len(bad)} such row(s); fix or remove them to train)")
    if fixed is not None:
        from astrocnn.data.scalars import ScalarInputs

        scalars = ScalarInputs.from_dict(fixed)
    else:
        scalars = fit_scalar_inputs(columns, raw[train_idx])
    meta["extra_inputs"] = scalars.to_dict()
    return scalars.transform(raw)


@dataclass
class _Phase:
    name: str
    start: int
    end: int
    train_backbone: bool
    learning_rate: float
    rate_factors: dict = field(default_factory=dict)


def _phases(config: TrainConfig, transfer=None) -> list[_Phase]:
    """Training phases: one from scratch or from a warm start; when fine-tuning, head
    alone then all layers, or (source of another image kind) all layers from the
    start with discriminative rates (:mod:`astrocnn.engine.finetune`)."""
    lr, epochs = config.learning_rate, config.epochs
    if transfer is None:
        return [_Phase("train", 0, epochs, True, lr)]
    if config.freeze_backbone:
        return [_Phase("head", 0, epochs, False, lr)]
    if transfer.mismatch and config.head_epochs is None:
        return [_Phase("transfer", 0, epochs, True, lr, transfer.rate_factors)]
    head = config.head_epochs if config.head_epochs is not None else max(1, epochs // 4)
    head = min(max(head, 0), epochs)
    phases = [_Phase("head", 0, head, False, lr)] if head else []
    if head < epochs:
        phases.append(_Phase("unfrozen", head, epochs, True, lr, transfer.rate_factors))
    return phases


SCALER_SAMPLE = 2048
"""Most training images the input scaling is fitted on (a seeded random subset)."""


def fit_input_scaling(task, data: TrainingSet, rows, seed: int):
    """``task``'s input scaling fitted on up to :data:`SCALER_SAMPLE` of ``rows`` of
    ``data.images`` (drawn with ``seed``)."""
    sample = np.asarray(rows)
    if len(sample) > SCALER_SAMPLE:
        sample = np.sort(np.random.default_rng(seed).choice(sample, SCALER_SAMPLE, replace=False))
    return task.fit_input_scaler(data.image_kind, data.images[sample], seed=seed)


def _architecture_options(task, config) -> dict:
    """The network's architecture options: the user's, else the architecture's defaults."""
    from astrocnn.models.cnn import architecture_options

    architecture = task.architecture_name or config.architecture or task.default_architecture
    return {
        **architecture_options(architecture, config.widths, config.convs_per_block),
        **config.model_options,
    }


def _stopped_epoch(stopper, epochs):
    """The epoch early stopping ended training at, or ``None`` when it ran to the end."""
    if stopper is None or not stopper.stopped_epoch:
        return None
    return int(stopper.stopped_epoch) + 1 if stopper.stopped_epoch + 1 < epochs else None


def _fine_tuning_record(transfer):
    """How a fine-tuned network was started, for the provenance."""
    if transfer is None:
        return "none"
    rate = min(transfer.rate_factors.values(), default=1.0)
    if not transfer.mismatch:
        return {
            "source_differs": "no",
            "schedule": f"head alone, then all layers, the copied ones at {rate:g}x",
        }
    return {
        "source_differs": "; ".join(transfer.mismatch),
        "schedule": f"first block re-learnt, all layers trained, copied ones at {rate:g}x",
    }


def _adaptation(config, data, contract, extra, log):
    """The :class:`~astrocnn.engine.adapt.Adaptation` of ``--adapt-to`` (target images
    read in the labelled set's layout and contract), or None."""
    if not config.adapt_to:
        return None
    from astrocnn.engine.adapt import METHODS, Adaptation, read_target

    if config.adapt not in METHODS:
        raise AstrocnnError(f"--adapt {config.adapt!r}: choose one of {', '.join(METHODS)}")
    if extra is not None:
        raise AstrocnnError("--adapt-to with --extra-inputs: the unlabelled images have none")
    if config.strategy != "default":
        raise AstrocnnError("--adapt-to trains with --strategy default only")
    images = read_target(config.adapt_to, data, contract, quiet=config.quiet, log=log)
    return Adaptation(config.adapt, float(config.adapt_weight), images, str(config.adapt_to))


def _adaptation_record(model, adaptation, data, scaler, val_idx, config):
    """What the bundle records of an adapted run: the method and the domain gap between
    the validation images and (a sample of) the target images, in the trained features."""
    from astrocnn.engine.adapt import domain_gap
    from astrocnn.engine.features import GAP_SAMPLE, embedder, embedding_sample

    embed = embedder(model, scaler=scaler)
    rng = np.random.default_rng(config.seed)
    rows = np.sort(rng.permutation(len(adaptation.images))[: max(len(val_idx), GAP_SAMPLE)])
    target = embed(adaptation.images[rows])
    source = embed(np.asarray(data.images[np.sort(val_idx)], dtype=np.float32))
    return {
        "method": adaptation.method,
        "weight": adaptation.weight,
        "target": adaptation.name,
        "n_target": int(len(adaptation.images)),
        "gap_after_training": domain_gap(source, target, config.seed),
        "target_sample": embedding_sample(target, config.seed),
    }


def best_weights_callback(keras, folder, chief=True):
    """A Keras callback keeping the weights of the epoch with the lowest validation
    loss (``--keep best``).

    The best weights and their epoch are saved in the run's checkpoint folder
    (by the chief), so a resumed run (``--resume``) and later phases compare
    against them; its ``restore(model, log)`` loads them at the end of training
    and returns what was kept.
    """

    class BestWeights(keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.weights = Path(folder) / "best.weights.h5"
            self.record = Path(folder) / "best.json"
            state = json.loads(self.record.read_text()) if self.record.exists() else {}
            self.best = state.get("val_loss", np.inf)
            self.epoch = state.get("epoch")
            self.last = None

        def on_epoch_end(self, epoch, logs=None):
            loss = (logs or {}).get("val_loss")
            self.last = epoch + 1
            if loss is None or not np.isfinite(loss) or loss >= self.best:
                return
            self.best, self.epoch = float(loss), epoch + 1
            if chief:
                self.model.save_weights(self.weights)
                self.record.write_text(json.dumps({"val_loss": self.best, "epoch": self.epoch}))

        def restore(self, model, log):
            if self.epoch is None or not self.weights.exists():
                return None
            if self.epoch != self.last:
                model.load_weights(self.weights)
                log(f"kept the weights of epoch {self.epoch} (lowest validation loss, "
                    f"{self.best:.4g}); --keep last keeps the last epoch's")  # fmt: skip
            return {"keep": "best", "epoch": int(self.epoch), "val_loss": self.best}

    return BestWeights()


def _checkpoint_dir(out: Path) -> Path:
    return out.with_name(out.name + ".ckpt")


def _guard_checkpoint(ckpt: Path, run_key: dict, resume: bool):
    marker = ckpt / "run.json"
    if ckpt.exists() and not resume:
        raise AstrocnnError(
            f"{ckpt}: checkpoint of an interrupted run exists; pass --resume to continue it "
            f"or delete the folder to start again"
        )
    if resume and not marker.exists():
        raise AstrocnnError(f"{ckpt}: no checkpoint to resume from")
    if resume:
        saved = json.loads(marker.read_text())
        saved.setdefault("split_by", "row")  # checkpoints from before grouped splits
        changed = sorted(k for k in run_key if saved.get(k) != run_key[k])
        if changed:
            raise AstrocnnError(
                f"{ckpt}: cannot resume: {', '.join(changed)} differ(s) from the interrupted run"
            )
    ckpt.mkdir(parents=True, exist_ok=True)
    marker.write_text(json.dumps(run_key, indent=2))


def train(task, data: TrainingSet, out, config: TrainConfig, *, log=print) -> dict:
    """Train ``task``'s network on ``data`` and write the bundle to ``out``.

    The precision policy (``config.precision``) holds during the run only.

    Parameters
    ----------
    task : Task
        The science task.
    data : TrainingSet
        Images and catalogue (with the task's truth columns).
    out : path-like
        Bundle path (``.keras``).
    config : TrainConfig
        Hyper-parameters and run options.
    log : callable
        Where progress messages go.

    Returns
    -------
    dict
        The bundle's metadata, and ``written``: whether this process wrote it
        (only the chief of a multi-worker run does).
    """
    from astrocnn.engine.precision import precision_policy

    with precision_policy(config.precision) as policy:
        return _train(task, data, out, config, policy, log)


def _train(task, data, out, config, policy, log):
    from astrocnn._tf import import_keras

    keras = import_keras()
    from astrocnn.engine import distribute

    strategy = distribute.make_strategy(config.strategy)  # before any other TensorFlow work
    chief = strategy is None or distribute.is_chief(strategy)

    def scope():
        return strategy.scope() if strategy is not None else contextlib.nullcontext()

    if chief:
        out = check_writable(out, overwrite=config.overwrite)
    out = Path(out).absolute()
    if Path(out).suffix != ".keras":
        raise AstrocnnError(f"{out}: the model file must have the .keras extension")
    meta = task.fit_targets(data.table, data.name, **config.target_options)
    meta["bands"] = list(data.bands)
    input_shape = tuple(int(s) for s in data.images.shape[1:])
    source = load_source(config.init_from, task) if config.init_from else None
    warm = None
    if source is not None and can_warm_start(task, source, input_shape, meta, data.image_kind):
        warm = source
    if warm is not None:  # the outputs keep the source's meaning (e.g. its target scaling)
        meta.update({key: warm.meta[key] for key in task.fitted_target_keys})
    targets = task.targets(data.table, meta, data.name)
    n = len(targets)
    if task.spatial_targets and tuple(targets.shape[1:3]) != tuple(data.images.shape[1:3]):
        raise AstrocnnError(
            f"{data.name}: target images are {targets.shape[1]}x{targets.shape[2]} but the "
            f"inputs are {data.images.shape[1]}x{data.images.shape[2]}"
        )
    split_by = group_column(data.table, task.split_groups, config.split_by, data.name)
    groups = None if split_by is None else np.asarray(data.table[split_by])
    split_name = split_by or "row"
    strata = task.split_strata(targets, meta)
    train_idx, val_idx = validation_split(n, config.val_fraction, config.seed, groups, strata)
    if warm is not None:  # the network must see its inputs exactly as before
        from astrocnn.data.preprocess import scaler_from_dict

        _check_warm_extra_inputs(warm, config.extra_inputs)
        scaler = scaler_from_dict(warm.meta["preprocessing"])
        extra = _extra_inputs(
            task, data, config.extra_inputs, train_idx, meta, warm.meta.get("extra_inputs")
        )
    else:
        extra = _extra_inputs(task, data, config.extra_inputs, train_idx, meta)
        scaler = fit_input_scaling(task, data, train_idx, config.seed)
    contract = training_contract(
        data.headers, list(data.bands), data.images, input_shape[:2], config.stated_contract
    )
    adaptation = _adaptation(config, data, contract, extra, log)
    options = _architecture_options(task, config)
    transfer = None
    run_key = {
        "data": data.name,
        "n": n,
        "seed": config.seed,
        "epochs": config.epochs,
        "batch_size": config.batch_size,
        "extra_inputs": list(config.extra_inputs),
        "split_by": split_name,
        "options": {k: list(v) if isinstance(v, tuple) else v for k, v in options.items()},
    }
    if config.band_dropout:
        run_key["band_dropout"] = config.band_dropout
    if adaptation is not None:
        run_key["adapt"] = [adaptation.name, adaptation.method, adaptation.weight]
    keras.utils.set_random_seed(config.seed)
    with scope():
        if warm is not None:
            model, options = warm_start(task, warm, input_shape, meta, log)
        elif source is not None:
            transfer = fine_tune_start(
                task, source, input_shape, meta, data.image_kind, scaler.to_dict(), log
            )
            model, options = transfer.model, transfer.options
        if source is not None:
            run_key["init_from"] = source.meta.get("sha256")
            run_key["options"] = {
                k: list(v) if isinstance(v, tuple) else v for k, v in options.items()
            }
        else:
            model = task.build_model(input_shape, meta, options)
        if policy != "float32":
            from astrocnn.engine.precision import float32_outputs

            model = float32_outputs(model)
    ckpt = _checkpoint_dir(out)
    if chief:  # the other workers of a multi-worker run read the chief's checkpoint
        _guard_checkpoint(ckpt, run_key, config.resume)
    augment = make_augmenter(
        config.augmentation or task.augmentation,
        seed=config.seed,
        spatial_targets=task.spatial_targets,
        band_dropout=config.band_dropout,
    )
    train_ds = _dataset(
        data.images,
        targets,
        train_idx,
        scaler,
        config.batch_size,
        shuffle=True,
        seed=config.seed,
        augment=augment,
        extra=extra,
    )
    val_ds = (
        _dataset(
            data.images,
            targets,
            val_idx,
            scaler,
            256,
            shuffle=False,
            seed=config.seed,
            augment=None,
            extra=extra,
        )
        if len(val_idx)
        else None
    )
    weights = task.class_weights(targets[train_idx], meta)
    verbose = 0 if config.quiet else 2
    steps = int(np.ceil(len(train_idx) / config.batch_size))
    trainer = model
    if adaptation is not None:
        from astrocnn.engine.adapt import adapting_trainer, paired_dataset

        with scope():
            trainer = adapting_trainer(model, adaptation, steps * config.epochs)
        train_ds = paired_dataset(
            train_ds, adaptation.images, scaler, config.batch_size, config.seed, augment
        )
    kept = ""
    if groups is not None:
        kept = f" ({_groups_in(groups, val_idx)} whole group(s) of {split_by!r})"
    log(
        f"training {task.name} on {len(train_idx)} objects, validating on {len(val_idx)}{kept} "
        f"({model.count_params():,} parameters, {config.epochs} epochs)"
    )
    if adaptation is not None:
        log(
            f"aligning its features to {len(adaptation.images)} unlabelled images of "
            f"{adaptation.name} ({adaptation.method}, weight {adaptation.weight:g})"
        )
    history = {}
    best = (
        best_weights_callback(keras, ckpt, chief)
        if config.keep == "best" and len(val_idx)
        else None
    )
    callbacks = [*config.callbacks, *([best] if best is not None else [])]
    stopper = None
    if config.patience and len(val_idx):
        stopper = keras.callbacks.EarlyStopping("val_loss", patience=config.patience)
        callbacks.append(stopper)
    for phase in _phases(config, transfer):
        done = ckpt / f"{phase.name}.weights.h5"
        if done.exists():  # finished before an interruption
            model.load_weights(done)
            continue
        set_backbone_trainable(model, phase.train_backbone)
        schedule = keras.optimizers.schedules.CosineDecay(
            phase.learning_rate,
            decay_steps=max(1, steps * (phase.end - phase.start)),
            alpha=0.02,
        )
        with scope():
            trainer.compile(
                optimizer=layerwise_adam(schedule, phase.rate_factors),
                loss=task.loss(meta),
                metrics=task.train_metrics(meta),
                jit_compile="auto" if config.jit is None else bool(config.jit),
            )
        if phase.name != "train":
            log(f"{phase.name}: epochs {phase.start + 1}-{phase.end}")
        backup = ckpt / f"backup_{phase.name}"
        if config.resume and (backup / distribute.METADATA).exists():
            epoch = json.loads((backup / distribute.METADATA).read_text())["epoch"]
            log(f"resuming {phase.name} from the checkpoint after epoch {epoch}")
        if distribute.uses_custom_loop(strategy):
            history = distribute.fit_distributed(
                model,
                strategy,
                train_ds,
                val_ds,
                loss=task.loss(meta),
                batch_size=config.batch_size,
                initial_epoch=phase.start,
                epochs=phase.end,
                backup=backup,
                class_weight=weights,
                callbacks=callbacks,
                log=(lambda message: None) if config.quiet or not chief else log,
            )
        else:
            fitted = trainer.fit(
                train_ds,
                validation_data=val_ds,
                initial_epoch=phase.start,
                epochs=phase.end,
                class_weight=weights,
                shuffle=False,
                callbacks=[keras.callbacks.BackupAndRestore(str(backup)), *callbacks],
                verbose=verbose,
            )
            history = fitted.history or history
        if chief:
            model.save_weights(done)
    kept = best.restore(trainer, log) if best is not None else None

    val_metrics, missing_cost = {}, None
    if len(val_idx):
        compiled = CompiledModel(model, 256, scaler)
        val_images = np.asarray(data.images[val_idx], dtype=np.float32)
        scalars = None if extra is None else extra[val_idx]

        def validate(images):
            raw = compiled(images, scalars)
            inputs = {"inputs": images} if task.decode_uses_inputs else {}
            decoded = task.decode(raw, meta, **inputs)
            return task.evaluate(targets[val_idx], decoded, meta, table=data.table[val_idx])

        val_metrics = json_safe(validate(val_images))
        missing_cost = _missing_band_cost(task, validate, val_images, val_metrics, data.bands)
    last = {k: float(v[-1]) for k, v in history.items()}
    meta.update(
        {
            "task": task.name,
            "bands": list(data.bands),
            "input_shape": list(input_shape),
            "size_mode": data.size_mode,
            "hdus": data.hdus,
            "preprocessing": scaler.to_dict(),
            "image_kind": data.image_kind,
            "architecture": task.architecture_name or options["architecture"],
            "model_options": run_key["options"],
            "n_params": int(model.count_params()),
            "output_columns": list(task.output_columns(meta)),
            "threshold": 0.5,
            "validation_metrics": val_metrics,
            "missing_band_cost": missing_cost,
            "data_contract": contract,
            "final_epoch_logs": json_safe(last),
            "kept_weights": kept or {"keep": "last", "epoch": int(config.epochs)},
            "stopped_early": _stopped_epoch(stopper, config.epochs),
            "provenance": {
                "data": data.name,
                "n_train": int(len(train_idx)),
                "n_val": int(len(val_idx)),
                "split_by": split_name,
                "seed": config.seed,
                "epochs": config.epochs,
                "batch_size": config.batch_size,
                "learning_rate": config.learning_rate,
                "early_stopping_patience": config.patience or "none",
                "fine_tuning": _fine_tuning_record(transfer),
                "augmentation": config.augmentation or task.augmentation,
                "band_dropout": config.band_dropout,
                "class_weights": json.dumps(weights) if weights else "none",
                "init_from": (
                    f"{config.init_from} (sha256 {source.meta.get('sha256', '')[:16]})"
                    if source is not None
                    else "none"
                ),
                "freeze_backbone": bool(config.freeze_backbone),
                "astrocnn_version": __version__,
                "keras_version": keras.__version__,
                "python": platform.python_version(),
                "trained": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
            },
        }
    )
    meta["provenance"]["strategy"] = config.strategy
    meta["provenance"]["precision"] = policy
    meta["provenance"]["jit"] = "auto" if config.jit is None else bool(config.jit)
    meta["provenance"]["replicas"] = 1 if strategy is None else int(strategy.num_replicas_in_sync)
    if not chief:  # another worker of a multi-worker run: the chief writes the bundle
        return {**meta, "written": False}
    features = training_feature_stats(
        model, data.images, scaler, train_idx, val_idx, extra, seed=config.seed
    )
    if features is not None:  # none for networks without a pooled embedding (U-Nets)
        meta["feature_stats"] = features
    if adaptation is not None:
        meta["adaptation"] = _adaptation_record(model, adaptation, data, scaler, val_idx, config)
    save_bundle(model, meta, out, overwrite=config.overwrite)
    shutil.rmtree(ckpt, ignore_errors=True)
    return {**meta, "written": True}
