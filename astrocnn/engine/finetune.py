"""Start a network from another bundle: a warm start, or its backbone (transfer learning).

**Warm start**: when the source bundle is a model of the same task with the
same bands and input shape (e.g. the shipped default, to go on training it
or to adapt it to a survey's own simulations), every weight is copied and
the source's input scaling and extra-input standardisation are kept, so the
network sees its inputs exactly as before; training then runs as one phase.

**Transfer**: otherwise (networks with a nested backbone: the classifiers,
photo-z, and ``astrocnn pretrain``'s backbones) the backbone (every layer of the
nested ``backbone`` model) is copied from the source bundle; the task's head
is new, sized for the new classes, and the input scaling is fitted on the new
images.  When the source saw the same kind of images (same image kind, bands
and scaling), the engine trains the head alone and then all layers, the
copied ones at ``SAME_KIND_RATE`` of the learning rate and the head at the
full rate (a head that moved at a tenth too barely learns on a few hundred
labels: ``benchmarks/bench_real_recipe.py`` measured it).  When it did not
(FITS fluxes -> 8-bit JPEG composites, other bands, another scaling), a
frozen backbone would feed the head features of inputs it never saw (the
head's loss then stays at chance), so every layer trains from the start with
discriminative learning rates: the first block and the head at the full
rate, the other copied layers at ``COPIED_RATE`` of it
(:func:`astrocnn.engine.optim.layerwise_adam`); when the pixel values mean
something else (another image kind or scaling), the first block is
re-initialised too.

Band counts may differ: the first convolution's kernel is then rebuilt from
the mean over the source bands, replicated for each new band and rescaled so a
flat image gives the same response.  This keeps the learnt spatial filters but
loses colour information, which is reported in the log; it makes sense between
optical bands, not between, say, optical images and radio maps.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from astrocnn.errors import AstrocnnError
from astrocnn.io.bundle import load_bundle

BACKBONE = "backbone"
COPIED_RATE = 0.3
"""Learning-rate factor of the copied layers when the source saw other images."""
SAME_KIND_RATE = 0.1
"""Learning-rate factor of the copied layers, once unfrozen, when the source saw the
same kind of images (the new head keeps the full rate)."""


@dataclass
class Transfer:
    """A network started from another bundle's backbone.

    Attributes
    ----------
    model : keras.Model
        The new network.
    options : dict
        Its architecture options (the source's).
    mismatch : list of str
        How the source's images differ from the new ones (empty: the same kind).
    rate_factors : dict of str to float
        Learning-rate factor per layer name (:func:`astrocnn.engine.optim.layerwise_adam`).
    """

    model: object
    options: dict
    mismatch: list
    rate_factors: dict


def _backbone(model, source: str):
    try:
        return model.get_layer(BACKBONE)
    except ValueError:
        raise AstrocnnError(
            f"{source}: model has no '{BACKBONE}' sub-network; only astrocnn classifiers "
            f"can be fine-tuned"
        ) from None


def set_backbone_trainable(model, trainable: bool):
    """Freeze or unfreeze the nested backbone (no-op for models without one).

    Batch-normalisation layers stay in inference mode while frozen (Keras 3
    semantics of ``trainable = False``).
    """
    try:
        model.get_layer(BACKBONE).trainable = trainable
    except ValueError:
        pass


def _adapt_first_kernel(kernel: np.ndarray, n_bands: int) -> np.ndarray:
    """Rebuild a (kh, kw, c_in, f) kernel for ``n_bands`` input bands."""
    c_in = kernel.shape[2]
    mean = kernel.mean(axis=2, keepdims=True)
    return np.repeat(mean, n_bands, axis=2) * (c_in / n_bands)


def load_source(path, task):
    """The bundle ``--init-from`` names, loaded with ``task``'s Keras classes.

    The command line turns a task name into that task's shipped model first.
    """
    import astrocnn.models.layers  # noqa: F401  (registers the shared custom layers)

    return load_bundle(path, custom_objects=task.keras_objects())


def _model_options(task, source_meta) -> dict:
    """The source's architecture options, with lists back to tuples.

    A task with one network (``Task.architecture_name``) records that name,
    whatever the source recorded (bundles trained before it did kept the
    CLI's default ``cnn`` there).
    """
    options = dict(source_meta.get("model_options") or {})
    options = {k: tuple(v) if isinstance(v, list) else v for k, v in options.items()}
    if task.architecture_name:
        options["architecture"] = task.architecture_name
    return options


def can_warm_start(task, source, input_shape, meta, image_kind) -> bool:
    """Whether the bundle ``source`` can warm-start ``task``.

    It can when it is a model of the same task, bands, input shape and image
    kind, with the same targets (``meta`` from the task's ``fit_targets``:
    class names, mixture components, segment classes, output channels); the
    statistics fitted on the targets (``Task.fitted_target_keys``) are then
    taken from the source, and loss options (``Task.loss_options``) may differ.
    """
    src = source.meta
    return (
        src.get("kind") != "pretrained_backbone"
        and src.get("task") == task.name
        and list(src.get("bands", [])) == list(meta["bands"])
        and [int(s) for s in src.get("input_shape", ())] == [int(s) for s in input_shape]
        and src.get("image_kind", "fits") == image_kind
        and all(
            _same(src.get(key), value)
            for key, value in meta.items()
            if key not in task.loss_options and key not in task.fitted_target_keys
        )
    )


def _same(a, b) -> bool:
    """Metadata values equal after a JSON round trip (tuples are lists there)."""
    import json

    return json.dumps(a, sort_keys=True, default=str) == json.dumps(b, sort_keys=True, default=str)


def warm_start(task, source, input_shape, meta, log):
    """Build ``task``'s network with ``source``'s architecture and copy every weight.

    Returns
    -------
    (keras.Model, dict)
        The model and its options (the source's architecture and widths).
    """
    options = _model_options(task, source.meta)
    model = task.build_model(tuple(input_shape), meta, options)
    try:
        model.set_weights(source.model.get_weights())
    except ValueError as exc:
        raise AstrocnnError(f"{source.path}: cannot warm-start from it ({exc})") from None
    log(f"warm start from {source.path} ({task.name}, all {len(model.weights)} weights copied)")
    return model, options


def source_mismatch(source_meta, image_kind, bands, scaling) -> list[str]:
    """How the source bundle's images differ from the new ones, in words.

    Parameters
    ----------
    source_meta : dict
        The source bundle's metadata.
    image_kind : str
        ``'fits'`` or ``'raster'`` (the new images).
    bands : sequence of str
        The new images' band names.
    scaling : dict
        The new input scaling (``to_dict()`` of the fitted scaler).

    Returns
    -------
    list of str
        Empty when the source saw the same kind of images.
    """
    return list(_differences(source_meta, image_kind, bands, scaling).values())


def _differences(source_meta, image_kind, bands, scaling) -> dict[str, str]:
    """:func:`source_mismatch`'s reasons keyed by what differs: ``"image_kind"``,
    ``"bands"``, ``"scaling"``."""
    reasons = {}
    src_kind = source_meta.get("image_kind", "fits")
    if src_kind != image_kind:
        reasons["image_kind"] = f"{src_kind} images, the new ones are {image_kind}"
    src_bands = [str(b) for b in source_meta.get("bands", [])]
    if src_bands != [str(b) for b in bands]:
        reasons["bands"] = f"bands {','.join(src_bands)}, the new ones {','.join(map(str, bands))}"
    src_scaling = (source_meta.get("preprocessing") or {}).get("kind")
    if src_scaling != scaling.get("kind"):
        reasons["scaling"] = f"{src_scaling} scaling, the new images {scaling.get('kind')}"
    return reasons


def fine_tune_start(task, source, input_shape, meta, image_kind, scaling, log) -> Transfer:
    """Build ``task``'s model for ``input_shape`` with the backbone of bundle ``source``.

    Parameters
    ----------
    task : Task
        The task being trained (builds the new head).
    source : Bundle
        The source bundle (any astrocnn classifier; :func:`load_source`).
    input_shape : tuple of int
        ``(H, W, C)`` of the new training images.
    meta : dict
        Target metadata of the new training set (class names, bands).
    image_kind : str
        ``'fits'`` or ``'raster'``: the new images' kind.
    scaling : dict
        The input scaling fitted on the new images (``to_dict()``).
    log : callable
        Where to report what was copied, adapted or re-initialised.

    Returns
    -------
    Transfer
    """
    from astrocnn.models.cnn import input_block_layers

    path = source.path
    src_backbone = _backbone(source.model, str(path))
    options = _model_options(task, source.meta)
    if source.meta.get("kind") == "pretrained_backbone":
        # self-supervised features are offset and of very unequal spread: a head on
        # the raw features learnt slowly (bench_real_recipe: 0.68 vs 0.93 for a
        # standardised linear probe on the same features)
        options["head_norm"] = True
    model = task.build_model(tuple(input_shape), meta, options)
    backbone = _backbone(model, "new model")
    differences = _differences(source.meta, image_kind, meta["bands"], scaling)
    mismatch = list(differences.values())
    first_block = set(input_block_layers(options.get("architecture", "cnn")))
    # pixel values that mean something else (8-bit composites, another scaling):
    # the first block's filters do not apply; other bands alone keep them
    relearn = first_block if {"image_kind", "scaling"} & differences.keys() else set()
    src_layers = {layer.name: layer for layer in src_backbone.layers}
    copied, adapted = [], 0
    for layer in backbone.layers:
        src = src_layers.get(layer.name)
        if src is None or not layer.weights or layer.name in relearn:
            continue
        weights = src.get_weights()
        shapes = [w.shape for w in layer.get_weights()]
        if [w.shape for w in weights] != shapes:
            if len(weights) == 1 and weights[0].ndim == 4 and shapes[0][:2] == weights[0].shape[:2]:
                weights = [_adapt_first_kernel(weights[0], shapes[0][2])]
                adapted += 1
            else:
                raise AstrocnnError(
                    f"{path}: layer {layer.name} has weights of shape "
                    f"{[w.shape for w in weights]}, the new model needs {shapes}"
                )
        layer.set_weights(weights)
        copied.append(layer.name)
    src_bands = len(source.meta.get("bands", []))
    log(
        f"fine-tuning from {path} ({source.meta.get('task')} model, {src_bands} bands): "
        f"copied {len(copied)} backbone layers"
    )
    if adapted:
        log(
            f"note: first convolution adapted from {src_bands} to {input_shape[-1]} bands by "
            f"averaging its filters over bands; spatial filters are reused, colour filters are not"
        )
    factors = dict.fromkeys(copied, SAME_KIND_RATE)
    if mismatch:
        factors = {name: COPIED_RATE for name in copied if name not in first_block}
        first = "re-learnt" if relearn else "trained at the full rate"
        log(
            f"note: the source model saw {'; '.join(mismatch)}: its first block is {first} "
            f"and all layers train from the start, the other copied ones at "
            f"{COPIED_RATE:g} x the learning rate"
        )
    return Transfer(model, options, mismatch, factors)
