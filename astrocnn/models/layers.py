"""Custom Keras layers, registered so bundles load in safe mode (no ``Lambda``)."""

from __future__ import annotations

from astrocnn._tf import import_keras

keras = import_keras()


@keras.saving.register_keras_serializable(package="astrocnn")
class PeriodicPad2D(keras.layers.Layer):
    """Wrap a (N, H, W, C) map around by ``pad`` pixels on every side (periodic boxes).

    Parameters
    ----------
    pad : int
        Pixels added on each side, taken from the opposite edge.
    """

    def __init__(self, pad=8, **kwargs):
        super().__init__(**kwargs)
        self.pad = int(pad)

    def call(self, x):
        ops, p = keras.ops, self.pad
        x = ops.concatenate([x[:, -p:], x, x[:, :p]], axis=1)
        return ops.concatenate([x[:, :, -p:], x, x[:, :, :p]], axis=2)

    def compute_output_shape(self, shape):
        grow = [None if s is None else s + 2 * self.pad for s in shape[1:3]]
        return (shape[0], *grow, shape[3])

    def get_config(self):
        return {**super().get_config(), "pad": self.pad}
