"""Floating-point operations of a Keras network, counted from its layers' shapes."""

from __future__ import annotations


def flops_per_item(model) -> float:
    """2 x multiply-adds of the convolution, transposed-convolution and dense layers
    for one input item at the model's built input size (other layers are
    negligible next to them)."""
    total = 0.0
    for layer in _leaf_layers(model):
        kind = type(layer).__name__
        if kind == "Conv2D":
            out_h, out_w, out_c = layer.output.shape[1:]
            k_h, k_w = layer.kernel_size
            total += 2.0 * out_h * out_w * out_c * k_h * k_w * layer.input.shape[-1]
        elif kind == "Conv2DTranspose":
            in_h, in_w, in_c = layer.input.shape[1:]
            k_h, k_w = layer.kernel_size
            total += 2.0 * in_h * in_w * in_c * k_h * k_w * layer.filters
        elif kind == "Dense":
            total += 2.0 * layer.input.shape[-1] * layer.units
    return total


def _leaf_layers(model):
    for layer in model.layers:
        if hasattr(layer, "layers"):
            yield from _leaf_layers(layer)
        else:
            yield layer
