"""``astrocnn embed`` and ``astrocnn similar``: each object's learned representation,
and the objects nearest to one of them.

The embedding is the network's pooled feature vector
(:func:`astrocnn.engine.features.embedding_layer`), computed from the cutout
exactly as ``predict`` sees it (same reading, conversion and scaling).
Neighbours are found by cosine similarity (Euclidean distance between unit
vectors) with a k-d tree (:class:`scipy.spatial.cKDTree`).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from astrocnn import __version__
from astrocnn.data.loading import STATUS_ERROR, STATUS_OK
from astrocnn.errors import AstrocnnError
from astrocnn.io.atomic import check_writable
from astrocnn.io.catalog import read_catalog, write_table


def embed(task, source, out, *, model=None, batch_size=256, overwrite=False, progress=None,
          log=print):  # fmt: skip
    """Write the embedding of every row of ``source`` to the table ``out``.

    Parameters
    ----------
    task : Task
        The model's task.
    source : Source
        The objects (:mod:`astrocnn.engine.sources`).
    out : path-like
        Output table: ``id``, ``file`` (the first input file, absolute),
        ``embedding`` (float32 vector), ``status``, ``reason``.
    model : path-like, optional
        Bundle (default: the task's shipped model).
    batch_size : int
        Images per network call.
    overwrite : bool
        Replace an existing ``out``.
    progress : callable, optional
        Called with the number of rows finished.
    log : callable
        Messages (the conversion done).

    Returns
    -------
    tuple of (pathlib.Path, int, list of str)
        The table written, the rows embedded and the failures.

    Raises
    ------
    AstrocnnError
        If the model has no embedding, or no row could be embedded (nothing
        is written then).
    """
    from astropy.table import Table

    from astrocnn.engine.conversion import input_conversion
    from astrocnn.engine.features import embedding_layer
    from astrocnn.engine.predict import (
        load_task_bundle,
        predict_source,
        report_run,
        run_log,
        source_kind,
    )

    check_writable(out, overwrite=overwrite)
    bundle = load_task_bundle(
        task, model, log=log, backbone_ok=True, image_kind=source_kind(source)
    )
    if embedding_layer(bundle.model) is None:
        raise AstrocnnError(
            f"{bundle.path.name}: this network has no pooled embedding (an image-to-image "
            "U-Net); embed works with the cutout models (lens, morphology, photoz)"
        )
    conversion = input_conversion(bundle.meta)
    reader_log = run_log(conversion)
    preds = predict_source(task, bundle, source, batch_size=batch_size, progress=progress,
                           conversion=conversion, keep_embeddings=True,
                           decode=False, reader_log=reader_log)  # fmt: skip
    report_run(conversion, log, reader_log)
    errors = [r for r in preds.reasons if r]
    if not preds.ok.any():
        first = f": {errors[0]}" if errors else ""
        raise AstrocnnError(f"{source.name}: no object could be embedded{first}")
    table = Table()
    table["id"] = source.table["id"]
    table["file"] = np.array([str(Path(p[0]).absolute()) for p in source.paths])
    table["embedding"] = preds.embeddings
    table["embedding"].description = f"pooled features of {bundle.path.name}"
    table["status"] = np.where(preds.ok, STATUS_OK, STATUS_ERROR)
    table["reason"] = np.asarray(preds.reasons, dtype=str)
    table.meta.update(
        {"TASK": task.name, "MODEL": bundle.path.name, "ASTROCNN": __version__,
         "BANDS": ",".join(bundle.meta["bands"])}
    )  # fmt: skip
    return write_table(table, out, overwrite=overwrite), int(preds.ok.sum()), errors


def nearest(embeddings_path, to_id, k: int = 20):
    """The ``k`` objects whose embeddings are most similar to object ``to_id``'s.

    Parameters
    ----------
    embeddings_path : path-like
        A table written by :func:`embed`.
    to_id : str or int
        The ``id`` of the query object.
    k : int
        Neighbours to return (the query itself excluded).

    Returns
    -------
    astropy.table.Table
        ``rank``, ``id``, ``distance`` (Euclidean between unit vectors, 0-2;
        ``1 - cos`` is ``distance**2 / 2``) and ``file``, nearest first; its
        ``meta["query"]`` is the query's row.
    """
    from astropy.table import Table
    from scipy.spatial import cKDTree

    table = read_catalog(embeddings_path)
    if "embedding" not in table.colnames:
        raise AstrocnnError(f"{embeddings_path}: no 'embedding' column (write it with embed)")
    good = table[table["status"] == STATUS_OK] if "status" in table.colnames else table
    ids = np.asarray(good["id"]).astype(str)
    matches = np.flatnonzero(ids == str(to_id))
    if matches.size == 0:
        raise AstrocnnError(f"{embeddings_path}: no embedded object with id {to_id}")
    vectors = np.asarray(good["embedding"], dtype=np.float64)
    vectors /= np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
    k = min(int(k), len(good) - 1)
    distance, index = cKDTree(vectors).query(vectors[matches[0]], k=k + 1)
    keep = index != matches[0]
    out = Table()
    out["rank"] = np.arange(1, keep.sum() + 1)[:k]
    out["id"] = good["id"][index[keep]][:k]
    out["distance"] = distance[keep][:k]
    if "file" in good.colnames:
        out["file"] = good["file"][index[keep]][:k]
    out.meta["query"] = good[matches[0]]
    return out


def neighbour_gallery(neighbours, path, bands=None):
    """A PNG gallery of the query object followed by its neighbours, nearest first."""
    from astrocnn.io.cutouts import read_cutout
    from astrocnn.viz import plot_gallery

    query = neighbours.meta["query"]
    files = [query["file"], *neighbours["file"]]
    images = [read_cutout(str(f)).data for f in files]
    shape = images[0].shape
    images = np.stack([i if i.shape == shape else np.zeros(shape, np.float32) for i in images])
    titles = [f"query {query['id']}"] + [
        f"{r}: {i} ({d:.3f})" for r, i, d in zip(neighbours["rank"], neighbours["id"],
                                                  neighbours["distance"])
    ]  # fmt: skip
    return plot_gallery(images, titles, path, bands=bands, suptitle="nearest in embedding")
