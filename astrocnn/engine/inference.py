"""Run a bundled model over many cutouts: read in parallel, scale, infer, decode.

Reading (a thread pool), preprocessing (numpy) and inference (a compiled
``tf.function`` calling ``model(x, training=False)``) overlap: the next
block of cutouts is read while the current one is on the network.  Memory
is bounded by the block size, not by the catalogue length.
"""

from __future__ import annotations

import functools
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np

from astrocnn.data.loading import iter_blocks
from astrocnn.data.preprocess import scaler_from_dict
from astrocnn.errors import AstrocnnError
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
    tta : bool
        Whether outputs were averaged over the 8 D4 views.
    n_missing_bands : numpy.ndarray, optional
        Bands without data, zero-filled, per row.
    diagnostics : astrocnn.engine.diagnostics.RowDiagnostics, optional
        Per-row out-of-distribution measurements (runs with a conversion).
    embeddings : numpy.ndarray, optional
        (n, D) each row's embedding (``keep_embeddings``; NaN for failed rows).
    """

    columns: dict
    ok: np.ndarray
    reasons: list
    n_nonfinite: np.ndarray
    tta: bool = False
    n_missing_bands: np.ndarray | None = None
    diagnostics: object = None
    embeddings: np.ndarray | None = None


def cutout_spec(
    meta: dict, size_mode: str | None = None, missing_band="error", conversion=None
) -> CutoutSpec:
    """The cutout layout a bundle expects, optionally with another size mode and
    a per-file :class:`~astrocnn.io.conversion.InputConversion`."""
    hdus = meta.get("hdus")
    return CutoutSpec(
        n_bands=len(meta["bands"]),
        size=tuple(meta["input_shape"][:2]),
        hdus=tuple(hdus) if hdus else None,
        size_mode=size_mode or meta.get("size_mode", "strict"),
        image_kind=meta.get("image_kind", "fits"),
        missing_band=missing_band,
        missing_band_cost=describe_missing_band_cost(meta),
        conversion=conversion,
    )


def describe_missing_band_cost(meta: dict) -> str:
    """The bundle's measured cost of a zero-filled band, in words (or ``""``)."""
    cost = meta.get("missing_band_cost")
    if not cost:
        return ""
    per_band = ", ".join(f"{b} {cost[b]:.3f}" for b in meta["bands"] if b in cost)
    return (
        f"validation {cost['metric']} {cost['all']:.3f} with every band, with one "
        f"zero-filled: {per_band}"
    )


def _missing(dtype):
    """Value of a decoded column for rows that could not be predicted."""
    kind = np.dtype(dtype).kind
    return {"U": "", "S": b"", "b": False, "i": -1, "u": 0}.get(kind, np.nan)


class CompiledModel:
    """Preprocessing and ``model(x, training=False)`` compiled into one graph.

    Called in batches of at most ``batch_size``; the scaling runs in the
    graph, on TensorFlow's thread pool, instead of in numpy.  Without XLA a
    short batch goes through as it is: ``reduce_retracing`` turns the second
    traced shape into a graph for any batch size, so a field of 19 sources
    pays for 19 stamps (padding it to 32 cost 40 % more time, measured).
    Under ``jit`` XLA compiles one program per shape, so a short batch is
    zero-padded to the next power of two (at most log2(batch size) programs).

    Parameters
    ----------
    model : keras.Model
        The network.
    batch_size : int
        Images per call of the graph.
    scaler : object, optional
        Preprocessing with a ``transform_tf`` method.
    tta : bool
        Test-time augmentation: combine the outputs over the 8 symmetries of
        the square (4 rotations by 90 degrees, with and without a flip).
    combine_views : callable, optional
        ``combine_views(views)`` turns the stacked raw outputs of the 8 views,
        shape (8, n, ...), into one, shape (n, ...); default the mean.
    spatial_outputs : bool
        The outputs are images aligned with the input (segmentation maps,
        painted maps): each view's output is rotated/flipped back before
        the views are combined.
    embedding : bool
        Also return the network's embedding
        (:func:`astrocnn.engine.features.embedding_model`; not with ``tta``):
        calls then return ``(outputs, embeddings)``.

    Notes
    -----
    A network with extra scalar inputs is called as ``model((images,
    scalars))``; pass the standardised scalars to :meth:`__call__`.
    """

    def __init__(
        self,
        model,
        batch_size: int,
        scaler=None,
        tta: bool = False,
        jit=False,
        combine_views=None,
        spatial_outputs=False,
        embedding=False,
    ):
        from astrocnn._tf import import_tensorflow

        tf = import_tensorflow()
        self.batch_size = batch_size
        self.jit = bool(jit)
        self.embedding = bool(embedding) and not tta
        if self.embedding:
            from astrocnn.engine.features import embedding_model

            model = embedding_model(model)

        def network(x, s):
            outputs = model(x if s is None else (x, s), training=False)
            # a mixed-precision network answers in float16/bfloat16: decode in float32
            return tf.nest.map_structure(lambda t: tf.cast(t, tf.float32), outputs)

        def forward(x, s=None):
            if scaler is not None:
                x = scaler.transform_tf(x)
            if not tta:
                return network(x, s)
            views = [tf.image.rot90(v, k) for v in (x, tf.reverse(x, axis=[2])) for k in range(4)]
            s8 = None if s is None else tf.concat([s] * 8, axis=0)
            outputs = tf.split(network(tf.concat(views, axis=0), s8), 8, axis=0)
            if spatial_outputs:  # images aligned with the input: turn each view back
                outputs = [
                    _undo_view(tf, o, flipped=i >= 4, quarter_turns=i % 4)
                    for i, o in enumerate(outputs)
                ]
            outputs = tf.stack(outputs)
            if combine_views is None:
                return tf.reduce_mean(outputs, axis=0)
            return combine_views(outputs)

        # jit: XLA-compile the whole graph (fuses the scaling and the layers; see README)
        self._fn = tf.function(
            forward, reduce_retracing=True, autograph=False, jit_compile=bool(jit) or None
        )
        self._traced = set()

    def _trace_once(self, args):
        """Trace the graph for any batch size on its first call: traced for the first
        shape, ``reduce_retracing`` would trace it again for the second (a catalogue's
        first block is shorter), and a trace costs as much as predicting ~100 cutouts."""
        from astrocnn._tf import import_tensorflow

        key = tuple((a.shape[1:], a.dtype.str) for a in args)
        if key not in self._traced:
            tf = import_tensorflow()
            specs = [tf.TensorSpec((None, *a.shape[1:]), tf.as_dtype(a.dtype)) for a in args]
            self._fn.get_concrete_function(*specs)
            self._traced.add(key)

    def _padded_size(self, n):
        """Without XLA, ``n``; under XLA a short batch is padded to the next power of two."""
        if n >= self.batch_size or not self.jit:
            return min(n, self.batch_size)
        return min(self.batch_size, 1 << max(3, (n - 1).bit_length()))

    @staticmethod
    def _padded(batch, size):
        if len(batch) == size:
            return batch
        return np.concatenate([batch, np.zeros((size - len(batch), *batch.shape[1:]), batch.dtype)])

    def __call__(self, images: np.ndarray, scalars: np.ndarray | None = None) -> np.ndarray:
        """Return the raw outputs for ``images`` (N, H, W, C) (and ``scalars`` (N, k)),
        in batches."""
        outputs, embeddings = [], []
        bs = self.batch_size
        for start in range(0, len(images), bs):
            batch = images[start : start + bs]
            n = len(batch)
            size = self._padded_size(n)
            args = [self._padded(batch, size)]
            if scalars is not None:
                args.append(self._padded(scalars[start : start + bs], size))
            self._trace_once(args)
            result = self._fn(*args)
            if self.embedding:
                result, embedding = result
                embeddings.append(np.asarray(embedding)[:n])
            outputs.append(np.asarray(result)[:n])
        if not outputs:
            outputs = [np.zeros((0,), np.float32)]
        if self.embedding:
            return np.concatenate(outputs), np.concatenate(embeddings)
        return np.concatenate(outputs)


def _undo_view(tf, output, *, flipped, quarter_turns):
    """Invert ``rot90(flip(x), k)`` on an (n, H, W, C) output: ``flip(rot90(y, -k))``."""
    output = tf.image.rot90(output, (4 - quarter_turns) % 4)
    return tf.reverse(output, axis=[2]) if flipped else output


def require_tta_support(task):
    """Refuse test-time augmentation for a task where it is not meaningful."""
    if not task.supports_tta:
        raise AstrocnnError(f"task {task.name!r} does not support test-time augmentation")


def compiled_model(
    bundle, batch_size, *, tta=False, jit=False, model=None, task=None, embedding=False
) -> CompiledModel:
    """The bundle's network (or ``model``, a twin of it) compiled with its
    preprocessing, built once per bundle and reused: tracing a graph costs
    about as much as predicting a few hundred cutouts, so fields, maps and
    batch partitions must not pay it each time.  With ``tta``, the ``task``'s
    :meth:`~astrocnn.tasks.base.Task.combine_views` merges the 8 views; with
    ``embedding``, calls also return the network's embeddings."""
    model = bundle.model if model is None else model
    key = ("compiled", id(model), batch_size, bool(tta), bool(jit), bool(embedding))
    if key not in bundle.cache:
        scaler = scaler_from_dict(bundle.meta["preprocessing"])
        combine, spatial = None, False
        if tta and task is not None:
            combine = functools.partial(task.combine_views, meta=bundle.meta)
            spatial = bool(task.spatial_targets)
        bundle.cache[key] = CompiledModel(
            model,
            batch_size,
            scaler,
            tta=tta,
            jit=jit,
            combine_views=combine,
            spatial_outputs=spatial,
            embedding=embedding,
        )
    return bundle.cache[key]


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
    tta=False,
    table=None,
    source_name="catalogue",
    decode_options=None,
    missing_band="error",
    on_images=None,
    keep_images=False,
    jit=False,
    conversion=None,
    keep_embeddings=False,
    decode=True,
    reader_log=None,
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
    tta : bool
        Average the raw outputs over the 8 flips/90-degree rotations.
    table : astropy.table.Table, optional
        The catalogue, for models with extra scalar inputs (read from its
        columns; a row with a missing value fails with a reason).
    source_name : str
        The catalogue's name, for messages.
    decode_options : dict, optional
        Task-specific decoding options (e.g. a photo-z PDF grid).
    missing_band : {'error', 'zero'}
        Policy for a band without data (see :class:`CutoutSpec`).
    on_images : callable, optional
        Called as ``on_images(rows, images)`` for every block, with the
        task's :attr:`~astrocnn.tasks.base.Task.image_outputs` of the good
        rows ``rows`` (e.g. to write them to disk as they are made).
    keep_images : bool
        Also keep the image outputs of every row in :attr:`Predictions.columns`
        (memory grows with the catalogue: for evaluation sets).
    jit : bool
        XLA-compile the inference graph.
    conversion : astrocnn.io.conversion.InputConversion, optional
        Per-file conversion to the model's data contract; with it, every row
        also gets its out-of-distribution measurements
        (:attr:`Predictions.diagnostics`).
    keep_embeddings : bool
        Keep each row's embedding (:func:`astrocnn.engine.features.embedding_model`)
        in :attr:`Predictions.embeddings` (not with ``tta``).
    decode : bool
        Decode the raw outputs into the task's columns (``False``: only the
        embeddings and the per-row status are wanted, e.g. from a pretrained
        backbone, which has no task outputs).
    reader_log : astrocnn.io.conversion.ConversionLog, optional
        Where what the reader converts is counted (e.g. grey JPEGs replicated
        for a colour model: :attr:`astrocnn.data.loading.LoadedBlock.log`);
        default ``conversion.log``, else a log nobody reads.

    Returns
    -------
    Predictions
    """
    meta = bundle.meta
    spec = cutout_spec(meta, size_mode, missing_band, conversion)
    if tta:
        require_tta_support(task)
    if tta and spec.size[0] != spec.size[1]:
        raise AstrocnnError("test-time augmentation needs square inputs (90-degree rotations)")
    feature_stats = meta.get("feature_stats") if conversion is not None and not tta else None
    embedding = (feature_stats is not None or keep_embeddings) and not tta
    compiled = compiled_model(bundle, batch_size, tta=tta, jit=jit, task=task, embedding=embedding)
    embeddings = None
    n = len(paths)
    scalars, scalar_reasons = scalar_inputs(meta, table, n, source_name, labels)
    columns: dict = {}
    ok = np.zeros(n, dtype=bool)
    reasons = [""] * n
    nonfinite = np.zeros(n, dtype=np.int64)
    missing = np.zeros(n, dtype=np.int64)
    measured = _Measurements(n, spec.n_bands) if conversion is not None else None

    def finish(good, raw, images):
        """Decode one block's raw outputs, hand over its images, store its columns."""
        if not decode:
            return
        inputs = {"inputs": images} if task.decode_uses_inputs else {}
        decoded = task.decode(raw, meta, **inputs, **(decode_options or {}))
        products = {k: decoded[k] for k in task.image_outputs if k in decoded}
        if on_images is not None and products:
            on_images(good, products)
        if not keep_images:
            for name in products:
                del decoded[name]
        for name, values in decoded.items():
            if name not in columns:
                columns[name] = np.full(
                    (n, *values.shape[1:]), _missing(values.dtype), dtype=values.dtype
                )
            columns[name][good] = values

    # a block is decoded (and its images written) on a second thread while the
    # next block is on the network; one block at a time, in order
    with ThreadPoolExecutor(max_workers=1) as decoder:
        decoding = None
        for block in iter_blocks(
            paths,
            spec,
            block_size=max(batch_size * 4, 512),
            workers=workers,
            row_labels=labels,
            progress=progress,
            reuse_buffers=True,
            log=reader_log,
        ):
            rows = np.arange(block.start, block.start + len(block.ok))
            block_ok = block.ok.copy()
            block_reasons = list(block.reasons)
            if scalars is not None:
                for i, r in enumerate(rows):
                    if block_ok[i] and scalar_reasons[r]:
                        block_ok[i], block_reasons[i] = False, scalar_reasons[r]
            ok[rows] = block_ok
            nonfinite[rows] = block.n_nonfinite
            missing[rows] = block.n_missing_bands
            reasons[block.start : block.start + len(block_ok)] = block_reasons
            good = rows[block_ok]
            if measured is not None:
                measured.record(block, rows)
            if good.size == 0:
                continue
            # the reader recycles the block's buffer two blocks later: a decoder
            # that reads the inputs gets its own copy
            if good.size == len(block_ok):
                images = block.images.copy() if task.decode_uses_inputs else block.images
            else:
                images = block.images[block_ok]
            raw = compiled(images, None if scalars is None else scalars[good])
            if embedding:
                raw, vectors = raw
                if feature_stats is not None:
                    measured.score_features(good, vectors, feature_stats)
                if keep_embeddings:
                    if embeddings is None:
                        embeddings = np.full((n, vectors.shape[1]), np.nan, np.float32)
                    embeddings[good] = vectors
            if decoding is not None:
                decoding.result()
            decoding = decoder.submit(finish, good, raw, images)
        if decoding is not None:
            decoding.result()
    for name in task.output_columns(meta, **(decode_options or {})) if decode else ():
        columns.setdefault(name, np.full(n, np.nan, dtype=np.float32))
    diagnostics = measured.diagnostics(missing) if measured is not None else None
    return Predictions(columns, ok, reasons, nonfinite, tta, missing, diagnostics, embeddings)


class _Measurements:
    """The per-row out-of-distribution measurements of a run, block by block."""

    def __init__(self, n, n_bands):
        from astrocnn.data.loading import RowMeasures

        self.rows = RowMeasures.empty(n, n_bands)
        self.features = None

    def score_features(self, rows, embeddings, stats):
        """Feature-space scores of ``rows``, in units of the stored threshold."""
        from astrocnn.engine.features import feature_scores

        if self.features is None:
            self.features = np.full(len(self.rows.noise), np.nan, np.float32)
        self.features[rows] = feature_scores(embeddings, stats) / float(stats["threshold"])

    def record(self, block, rows):
        self.rows.put(rows, block.measures)

    def diagnostics(self, missing):
        from dataclasses import fields

        from astrocnn.engine.diagnostics import RowDiagnostics

        measured = {f.name: getattr(self.rows, f.name) for f in fields(self.rows)}
        return RowDiagnostics(**measured, n_missing_bands=missing, feature_score=self.features)


def scalar_inputs(meta, table, n, source_name, labels):
    """Standardised extra inputs of every row and per-row reasons, or ``(None, None)``."""
    from astrocnn.data.scalars import ScalarInputs, read_columns

    spec = ScalarInputs.from_dict(meta.get("extra_inputs"))
    if spec is None:
        return None, None
    if table is None:
        raise AstrocnnError(
            f"this model also takes catalogue columns ({', '.join(spec.columns)}): "
            f"give a --catalog with them"
        )
    values, reasons = read_columns(table, spec.columns, source_name, row_labels=labels)
    return np.nan_to_num(spec.transform(values)), reasons
