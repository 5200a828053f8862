"""Floating-point operations of a Keras network, counted by TensorFlow's graph profiler."""

from __future__ import annotations


def flops_per_item(model, input_shape=None) -> float:
    """FLOPs (a multiply-add counts 2) of one forward pass of one item.

    Parameters
    ----------
    model : keras.Model
        The network (one image input, optionally extra scalar inputs).
    input_shape : tuple of int, optional
        ``(H, W, C)`` of the item; required when the model takes any size.
    """
    from tensorflow.python.profiler.model_analyzer import profile
    from tensorflow.python.profiler.option_builder import ProfileOptionBuilder

    from astrocnn._tf import import_tensorflow

    tf = import_tensorflow()
    inputs = model.inputs
    shapes = [tuple(t.shape[1:]) for t in inputs]
    if input_shape is not None:
        shapes[0] = tuple(input_shape)
    specs = [tf.TensorSpec((1, *s), tf.float32) for s in shapes]

    def forward(*args):
        return model(args[0] if len(args) == 1 else tuple(args), training=False)

    graph = tf.function(forward).get_concrete_function(*specs).graph
    options = ProfileOptionBuilder(ProfileOptionBuilder.float_operation()).with_empty_output()
    return float(profile(graph, options=options.build()).total_float_ops)
