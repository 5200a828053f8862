"""Start a network from another bundle: a warm start, or its backbone (transfer learning).

**Warm start**: when the source bundle is a model of the same task with the
same bands and input shape (e.g. the shipped default, to go on training it
or to adapt it to a survey's own simulations), every weight is copied and
the source's input scaling and extra-input standardisation are kept, so the
network sees its inputs exactly as before; training then runs as one phase.

**Transfer**: otherwise (classifiers only) the backbone (every layer of the
nested ``backbone`` model) is copied from the source bundle; the task's head
is new, sized for the new classes.  The engine then trains the head alone
and, unless told to keep it frozen, all layers at a tenth of the learning
rate.

Band counts may differ: the first convolution's kernel is then rebuilt from
the mean over the source bands, replicated for each new band and rescaled so a
flat image gives the same response.  This keeps the learnt spatial filters but
loses colour information, which is reported in the log; it makes sense between
optical bands, not between, say, optical images and radio maps.
"""

from __future__ import annotations

import numpy as np

from astrocnn.errors import AstrocnnError
from astrocnn.io.bundle import load_bundle

BACKBONE = "backbone"


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
        src.get("task") == task.name
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


def fine_tune_start(task, source, input_shape, meta, image_kind, log):
    """Build ``task``'s model for ``input_shape`` with the backbone of bundle ``path``.

    Parameters
    ----------
    task : Task
        The task being trained (builds the new head).
    source : Bundle
        The source bundle (any astrocnn classifier; :func:`load_source`).
    input_shape : tuple of int
        ``(H, W, C)`` of the new training images.
    meta : dict
        Target metadata of the new training set (class names).
    image_kind : str
        ``'fits'`` or ``'raster'``, to warn when it differs from the source's.
    log : callable
        Where to report what was copied or adapted.

    Returns
    -------
    (keras.Model, dict)
        The new model and the model options (the source's architecture and
        widths).
    """
    path = source.path
    src_backbone = _backbone(source.model, str(path))
    options = _model_options(task, source.meta)
    model = task.build_model(tuple(input_shape), meta, options)
    backbone = _backbone(model, "new model")
    src_layers = {layer.name: layer for layer in src_backbone.layers}
    copied = adapted = 0
    for layer in backbone.layers:
        src = src_layers.get(layer.name)
        if src is None or not layer.weights:
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
        copied += 1
    src_bands = len(source.meta.get("bands", []))
    log(
        f"fine-tuning from {path} ({source.meta.get('task')} model, {src_bands} bands): "
        f"copied {copied} backbone layers"
    )
    if adapted:
        log(
            f"note: first convolution adapted from {src_bands} to {input_shape[-1]} bands by "
            f"averaging its filters over bands; spatial filters are reused, colour filters are not"
        )
    if source.meta.get("image_kind", "fits") != image_kind:
        log(
            f"note: the source model was trained on {source.meta.get('image_kind', 'fits')} "
            f"images and the new data are {image_kind}; the pixel scalings differ"
        )
    return model, options
