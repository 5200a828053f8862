"""Mixed-precision training (``--precision mixed``).

Layers compute in 16 bits and keep float32 weights: ``mixed_float16`` on a
GPU (tensor cores; Keras wraps the optimizer in a loss-scale optimizer), and
``mixed_bfloat16`` on a CPU, where float16 has no fast kernels but bfloat16's
float32 exponent range needs no loss scaling.  The network's outputs are cast
to float32 by a final layer, so losses, decoding (softmax probabilities,
mixture parameters) and the saved model's answers are float32.  The policy is
stored in each layer of the bundle: the model predicts as it was trained.
"""

from __future__ import annotations

import contextlib

PRECISIONS = ("float32", "mixed")


def mixed_policy_name() -> str:
    """``mixed_float16`` where a GPU is visible, else ``mixed_bfloat16``."""
    from astrocnn._tf import import_tensorflow

    gpus = import_tensorflow().config.list_physical_devices("GPU")
    return "mixed_float16" if gpus else "mixed_bfloat16"


@contextlib.contextmanager
def precision_policy(precision: str):
    """Set Keras's global dtype policy for ``precision`` inside the block."""
    from astrocnn._tf import import_keras
    from astrocnn.errors import AstrocnnError

    if precision not in PRECISIONS:
        raise AstrocnnError(f"unknown precision {precision!r} (choose from float32, mixed)")
    keras = import_keras()
    before = keras.mixed_precision.global_policy().name
    name = "float32" if precision == "float32" else mixed_policy_name()
    keras.mixed_precision.set_global_policy(name)
    try:
        yield name
    finally:
        keras.mixed_precision.set_global_policy(before)


def float32_outputs(model):
    """``model`` with every output cast to float32 (a functional model, same layers)."""
    from astrocnn._tf import import_keras

    keras = import_keras()
    if all(getattr(t, "dtype", "float32") == "float32" for t in model.outputs):
        return model
    outputs = [
        keras.layers.Activation("linear", dtype="float32", name=f"float32_output_{i}")(t)
        for i, t in enumerate(model.outputs)
    ]
    return keras.Model(model.inputs, outputs[0] if len(outputs) == 1 else outputs, name=model.name)
