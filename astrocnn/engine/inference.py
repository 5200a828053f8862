"""Run a bundled model over many cutouts: read in parallel, scale, infer, decode.

Reading (a thread pool), preprocessing (numpy) and inference (a compiled
``tf.function`` calling ``model(x, training=False)``) overlap: the next
block of cutouts is read while the current one is on the network.  Memory
is bounded by the block size, not by the catalogue length.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from astrocnn.data.loading import iter_blocks
from astrocnn.data.preprocess import AsinhScaler
from astrocnn.io.cutouts import CutoutSpec


@dataclass
class Predictions:
    """Decoded outputs of every row, with per-row status.

    Attributes
    ----------
    columns : dict of str to numpy.ndarray
        Decoded task columns; NaN for rows that failed.
    ok : numpy.ndarray
        Rows that were read and predicted.
    reasons : list of str
        Empty for good rows, else why the row failed.
    n_nonfinite : numpy.ndarray
        NaN/inf pixels replaced per row.
    """

    columns: dict
    ok: np.ndarray
    reasons: list
    n_nonfinite: np.ndarray


def cutout_spec(meta: dict, size_mode: str | None = None) -> CutoutSpec:
    """The cutout layout a bundle expects, optionally with another size mode."""
    hdus = meta.get("hdus")
    return CutoutSpec(
        n_bands=len(meta["bands"]),
        size=tuple(meta["input_shape"][:2]),
        hdus=tuple(hdus) if hdus else None,
        size_mode=size_mode or meta.get("size_mode", "strict"),
    )


class CompiledModel:
    """Preprocessing and ``model(x, training=False)`` compiled into one graph.

    Compiled once for a fixed batch size (the last, partial batch is
    zero-padded so the graph is traced once); the asinh scaling runs in the
    graph, on TensorFlow's thread pool, instead of in numpy.
    """

    def __init__(self, model, batch_size: int, scaler: AsinhScaler | None = None):
        from astrocnn._tf import import_tensorflow

        tf = import_tensorflow()
        self.batch_size = batch_size
        if scaler is None:
            self._fn = tf.function(lambda x: model(x, training=False), reduce_retracing=True)
        else:
            self._fn = tf.function(
                lambda x: model(scaler.transform_tf(x), training=False), reduce_retracing=True
            )

    def __call__(self, images: np.ndarray) -> np.ndarray:
        """Return the raw outputs for ``images`` (N, H, W, C), in batches."""
        outputs = []
        bs = self.batch_size
        for start in range(0, len(images), bs):
            batch = images[start : start + bs]
            n = len(batch)
            if n < bs:
                batch = np.concatenate([batch, np.zeros((bs - n, *batch.shape[1:]), batch.dtype)])
            outputs.append(np.asarray(self._fn(batch))[:n])
        if not outputs:
            return np.zeros((0,), np.float32)
        return np.concatenate(outputs)


def predict_paths(
    task,
    bundle,
    paths,
    labels,
    *,
    batch_size: int = 256,
    size_mode=None,
    workers=None,
    progress=None,
) -> Predictions:
    """Predict every row named by ``paths`` with ``bundle``.

    Parameters
    ----------
    task : Task
        The bundle's task (decodes the raw outputs).
    bundle : Bundle
        Loaded model and metadata.
    paths : list of list of str
        Per row, the cutout file(s).
    labels : list of str
        Per row, a label for error messages.
    batch_size : int
        Network batch size.
    size_mode : str, optional
        Override the bundle's size mode.
    workers : int, optional
        Reader threads.
    progress : callable, optional
        Called with the number of rows finished.

    Returns
    -------
    Predictions
    """
    meta = bundle.meta
    spec = cutout_spec(meta, size_mode)
    scaler = AsinhScaler.from_dict(meta["preprocessing"])
    compiled = CompiledModel(bundle.model, batch_size, scaler)
    n = len(paths)
    columns: dict = {}
    ok = np.zeros(n, dtype=bool)
    reasons = [""] * n
    nonfinite = np.zeros(n, dtype=np.int64)
    for block in iter_blocks(
        paths,
        spec,
        block_size=max(batch_size * 4, 512),
        workers=workers,
        row_labels=labels,
        progress=progress,
    ):
        rows = np.arange(block.start, block.start + len(block.ok))
        ok[rows] = block.ok
        nonfinite[rows] = block.n_nonfinite
        reasons[block.start : block.start + len(block.ok)] = block.reasons
        good = rows[block.ok]
        if good.size == 0:
            continue
        decoded = task.decode(compiled(block.images[block.ok]), meta)
        for name, values in decoded.items():
            if name not in columns:
                columns[name] = np.full((n, *values.shape[1:]), np.nan, dtype=values.dtype)
            columns[name][good] = values
    for name in task.output_columns(meta):
        columns.setdefault(name, np.full(n, np.nan, dtype=np.float32))
    return Predictions(columns, ok, reasons, nonfinite)
