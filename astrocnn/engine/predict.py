"""``astrocnn predict``: apply a model bundle to a catalogue or a list of files."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from astrocnn import __version__
from astrocnn.data.loading import STATUS_ERROR, STATUS_OK
from astrocnn.engine.inference import predict_paths
from astrocnn.engine.progress import progress_bar
from astrocnn.io.atomic import check_writable
from astrocnn.io.bundle import load_bundle
from astrocnn.io.catalog import write_table


@dataclass
class PredictSummary:
    """What a prediction run did.

    Attributes
    ----------
    out : pathlib.Path
        The written table.
    n_rows, n_ok : int
        Rows in the input and rows predicted.
    errors : list of str
        One line per failed row.
    """

    out: Path
    n_rows: int
    n_ok: int
    errors: list


class ImageWriter:
    """Write the image products of each block as it is predicted (``on_images``).

    Parameters
    ----------
    task, bundle
        The task and model (provenance header cards).
    paths : list of list of str
        Input files per row (the first is recorded as the source file).
    folder : pathlib.Path
        Existing folder receiving the files.
    names : list of str
        File name per row (see :func:`astrocnn.io.products.unique_file_names`).
    """

    def __init__(self, task, bundle, paths, folder, names):
        self.folder = Path(folder)
        self.names = names
        self.paths = paths
        self.files = np.full(len(names), "", dtype=f"<U{len(self.folder.name) + 80}")
        self.cards = {
            "TASK": task.name,
            "MODEL": str(bundle.path.name),
            "BANDS": ",".join(bundle.meta["bands"]),
        }

    def __call__(self, rows, products):
        from astrocnn.io.products import write_object_products

        for j, r in enumerate(rows):
            write_object_products(
                self.folder / self.names[r],
                {name: values[j] for name, values in products.items()},
                source_file=self.paths[r][0],
                cards=self.cards,
            )
            self.files[r] = f"{self.folder.name}/{self.names[r]}"


def resolve_model(task, model):
    """The bundle path to use: ``model`` or the task's shipped default."""
    return Path(model) if model else task.default_model()


def model_bands(task, model=None) -> list:
    """The band names, in order, of the bundle ``model`` names (default: the task's
    shipped model), read without loading the network."""
    from astrocnn.io.bundle import read_meta

    return list(read_meta(resolve_model(task, model), verify=False).get("bands", task.bands))


def load_task_bundle(task, model=None, *, zero_point=None, log=print):
    """Load the bundle ``model`` names (default: the task's shipped model) for ``task``.

    Refuses a bundle of another task; the network may use astrocnn's shared
    layers and the task's own Keras classes (:meth:`Task.keras_objects`).
    With ``zero_point``, the input scaling takes pixels at that AB zero point
    (:func:`astrocnn.engine.conversion.convert_fluxes`).
    """
    import astrocnn.models.layers  # noqa: F401  (registers the shared custom layers)
    from astrocnn.engine.conversion import convert_fluxes

    bundle = load_bundle(
        resolve_model(task, model), task=task.name, custom_objects=task.keras_objects()
    )
    return convert_fluxes(bundle, zero_point, log)


def output_table(source, task, bundle, preds, decode_options=None):
    """Assemble the output catalogue: ``id``, task columns, ``status``, ``reason``.

    Provenance (model, its checksum, astrocnn version, task, bands) goes to
    the table's metadata, which becomes FITS header cards.
    """
    from astropy.table import Table

    out = Table()
    out["id"] = source.table["id"]
    for name in source.carried_columns:
        out[name] = source.table[name]
    options = decode_options or {}
    descriptions = task.output_columns(bundle.meta, **options)
    for name, values in preds.columns.items():
        out[name] = values
        out[name].description = descriptions.get(name, "")
    out["status"] = np.where(preds.ok, STATUS_OK, STATUS_ERROR)
    out["reason"] = np.asarray(preds.reasons, dtype=str) if len(preds.reasons) else []
    out["n_nonfinite"] = preds.n_nonfinite
    out["n_nonfinite"].description = "NaN/inf pixels replaced by 0 before prediction"
    if preds.n_missing_bands is not None and preds.n_missing_bands.any():
        out["n_missing_bands"] = preds.n_missing_bands
        out["n_missing_bands"].description = "bands without data, zero-filled (--missing-band)"
    if task.supports_tta:
        out["tta"] = np.full(len(out), preds.tta)
        out["tta"].description = "outputs combined over the 8 flips/90-degree rotations"
    out.meta.update(
        {
            "TASK": task.name,
            "MODEL": str(bundle.path.name),
            "MODELSHA": str(bundle.meta.get("sha256", ""))[:16],
            "ASTROCNN": __version__,
            "BANDS": ",".join(bundle.meta["bands"]),
            "INPUT": str(source.name)[-68:],
            **task.output_header(bundle.meta, **options),
        }
    )
    return out


def predict(
    task,
    source,
    out,
    *,
    model=None,
    batch_size=256,
    size_mode=None,
    overwrite=False,
    quiet=False,
    workers=None,
    tta=False,
    decode_options=None,
    missing_band="error",
    jit=False,
    zero_point=None,
    log=print,
) -> PredictSummary:
    """Predict every object of ``source`` and write the output table atomically.

    Parameters
    ----------
    task : Task
        The task; the bundle must have been trained for it.
    source : Source
        Objects to predict (see :mod:`astrocnn.engine.sources`).
    out : path-like
        Output table (FITS by default; CSV/ECSV/HDF5 by extension).
    model : path-like, optional
        Model bundle; the task's default model when omitted.
    batch_size : int
        Network batch size.
    size_mode : str, optional
        Override the bundle's size mode (strict, crop, pad, crop-pad).
    overwrite : bool
        Replace an existing output file.
    quiet : bool
        No progress bar.
    workers : int, optional
        Reader threads.
    tta : bool
        Test-time augmentation (tasks that support it).
    decode_options : dict, optional
        The task's decoding options (see ``Task.decode_options``).
    missing_band : {'error', 'zero'}
        A band without data fails the row, or is zero-filled and counted in
        the ``n_missing_bands`` column.
    jit : bool
        XLA-compile the inference graph.
    zero_point : float, optional
        AB zero point of the pixel values, converted to the model's
        (:func:`astrocnn.engine.conversion.convert_fluxes`).
    log : callable
        Messages (the conversion done).

    Returns
    -------
    PredictSummary
    """
    from astrocnn.io.products import prepare_products_dir, products_dir

    check_writable(out, overwrite=overwrite)
    bundle = load_task_bundle(task, model, zero_point=zero_point, log=log)
    task.output_columns(bundle.meta, **(decode_options or {}))  # options that fit the model
    folder = None
    if task.image_outputs:
        folder = prepare_products_dir(products_dir(out), overwrite)
    with progress_bar(len(source.paths), "predict", quiet) as advance:
        table, errors = predict_rows(
            task,
            bundle,
            source,
            batch_size=batch_size,
            size_mode=size_mode,
            workers=workers,
            progress=advance,
            tta=tta,
            decode_options=decode_options,
            missing_band=missing_band,
            images_folder=folder,
            jit=jit,
        )
    path = write_table(table, out, overwrite=overwrite)
    return PredictSummary(path, len(source.paths), int(len(source.paths) - len(errors)), errors)


def predict_source(task, bundle, source, **options):
    """:func:`~astrocnn.engine.inference.predict_paths` over every row of ``source``
    (its paths, labels, catalogue and name); ``options`` are that function's."""
    return predict_paths(
        task,
        bundle,
        source.paths,
        source.labels,
        table=source.table,
        source_name=source.name,
        **options,
    )


def predict_rows(
    task,
    bundle,
    source,
    *,
    batch_size=256,
    size_mode=None,
    workers=None,
    progress=None,
    tta=False,
    decode_options=None,
    missing_band="error",
    images_folder=None,
    image_names=None,
    jit=False,
):
    """Predict the rows of ``source`` with a loaded bundle; return the output table.

    The shared core of in-process and batch (per-partition) prediction: the
    options are those of :func:`predict`; image products (tasks with
    ``image_outputs``) go to ``images_folder`` under ``image_names`` (default
    :func:`~astrocnn.io.products.unique_file_names` of the ids).

    Returns
    -------
    table : astropy.table.Table
        See :func:`output_table`.
    errors : list of str
        One line per failed row.
    """
    from astrocnn.io.products import unique_file_names

    writer = None
    if task.image_outputs:
        names = image_names or unique_file_names(source.table["id"])
        writer = ImageWriter(task, bundle, source.paths, images_folder, names)
    preds = predict_source(
        task,
        bundle,
        source,
        batch_size=batch_size,
        size_mode=size_mode,
        workers=workers,
        progress=progress,
        tta=tta,
        decode_options=decode_options,
        missing_band=missing_band,
        on_images=writer,
        jit=jit,
    )
    table = output_table(source, task, bundle, preds, decode_options)
    if writer is not None:
        table["image_file"] = writer.files
        table["image_file"].description = "FITS file of this object's image products"
    return table, [r for r in preds.reasons if r]
