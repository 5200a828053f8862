"""Helpers shared by several test modules (not tests themselves)."""

import numpy as np
from astropy.table import Table

from astrocnn._tf import import_keras
from astrocnn.engine.train import TrainConfig, TrainingSet

keras = import_keras()


def toy_set(n=40, seed=0):
    """Bright centre blob for label 1, noise only for label 0: easy to learn."""
    from astropy.table import Table

    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 2, n)
    images = rng.normal(size=(n, 16, 16, 2)).astype(np.float32)
    images[labels == 1, 6:10, 6:10, :] += 8
    table = Table({"id": np.arange(n), "label": labels})
    return TrainingSet(images, table, ["g", "r"], "strict", None, "toy")


class StopAfterFirstEpoch(keras.callbacks.Callback):
    def on_epoch_end(self, epoch, logs=None):
        raise KeyboardInterrupt


class RecordEpochs(keras.callbacks.Callback):
    def __init__(self):
        super().__init__()
        self.epochs = []

    def on_epoch_begin(self, epoch, logs=None):
        self.epochs.append(epoch)


def config(**kw):
    base = dict(epochs=3, batch_size=8, widths=(4, 8), quiet=True, seed=1)
    return TrainConfig(**{**base, **kw})


def assert_same_table(expected, got):
    """Same columns, rows, order; floats equal to 1e-5 (NaN where NaN)."""
    expected, got = Table.read(expected), Table.read(got)
    assert expected.colnames == got.colnames
    assert len(expected) == len(got)
    for name in expected.colnames:
        a, b = np.asarray(expected[name]), np.asarray(got[name])
        if a.dtype.kind == "f":
            np.testing.assert_allclose(b, a, rtol=1e-5, atol=1e-6, equal_nan=True, err_msg=name)
        else:
            assert (a == b).all(), name
