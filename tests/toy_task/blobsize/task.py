"""The blob-size task: regress a Gaussian blob's width from its image."""

from __future__ import annotations

import numpy as np

from astrocnn.tasks.base import Task, TaskOption


class BlobSizeTask(Task):
    """Width of a Gaussian blob in pixels, from a one-band cutout."""

    name = "blobsize"
    summary = "toy task: the width of a Gaussian blob"
    bands = ("x",)
    input_size = (16, 16)
    supports_tta = True
    summary_metrics = ("rmse",)
    options = (
        TaskOption(
            "noise",
            ("simulate",),
            "Gaussian noise sigma relative to the blob's peak.",
            type=float,
            minimum=0,
        ),
    )

    def truth_columns(self, meta):
        return ("sigma",)

    def targets(self, table, meta, source):
        return np.asarray(table["sigma"], np.float32)[:, None]

    def build_model(self, input_shape, meta, options):
        from astrocnn._tf import import_keras

        keras = import_keras()
        inputs = keras.Input(input_shape)
        x = keras.layers.Conv2D(8, 3, activation="relu", padding="same")(inputs)
        x = keras.layers.Conv2D(8, 3, activation="relu", padding="same")(x)
        x = keras.layers.GlobalAveragePooling2D()(x)
        return keras.Model(inputs, keras.layers.Dense(1)(x))

    def loss(self, meta):
        return "mse"

    def output_columns(self, meta, **options):
        return {"sigma_pred": "predicted blob width [pixel]"}

    def decode(self, raw, meta, **options):
        return {"sigma_pred": np.asarray(raw, np.float32)[:, 0]}

    def evaluate(self, truth, decoded, meta, *, table=None, baseline=None):
        error = decoded["sigma_pred"] - truth[:, 0]
        spread = np.std(truth[:, 0])
        return {"rmse": float(np.sqrt(np.mean(error**2))), "truth_std": float(spread)}

    def simulate(self, n, seed, outdir, *, progress=False, noise=None, **options):
        from blobsize.simulate import simulate_blobs

        return simulate_blobs(n, seed, outdir, **({} if noise is None else {"noise": noise}))
