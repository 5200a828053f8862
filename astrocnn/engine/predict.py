"""``astrocnn predict``: apply a model bundle to a catalogue or a list of files."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from astrocnn import __version__
from astrocnn.data.loading import STATUS_ERROR, STATUS_OK
from astrocnn.engine.inference import predict_paths
from astrocnn.engine.progress import progress_bar
from astrocnn.errors import AstrocnnError
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


def resolve_model(task, model, image_kind="fits"):
    """The bundle path to use: ``model`` or the task's shipped default for images of
    ``image_kind``."""
    return Path(model) if model else task.default_model(image_kind)


def source_kind(source) -> str:
    """'raster' when ``source``'s first file is a JPEG/PNG image, else 'fits'."""
    from astrocnn.io.cutouts import image_kind

    return image_kind(source.paths[0][0]) if source.paths else "fits"


def model_bands(task, model=None) -> list:
    """The band names, in order, of the bundle ``model`` names (default: the task's
    shipped model), read without loading the network."""
    from astrocnn.io.bundle import read_meta

    return list(read_meta(resolve_model(task, model), verify=False).get("bands", task.bands))


def cutout_source(task, files=(), catalog=None, model=None, file_columns=()):
    """The objects of FITS ``files`` or of a ``catalog`` (its file columns: the
    user's, else the task's for the bands of ``model``)."""
    from astrocnn.engine.sources import from_catalog, from_files

    if bool(files) == bool(catalog):
        raise AstrocnnError("give FITS files or --catalog (not both)")
    if catalog:
        bands = model_bands(task, model)
        return from_catalog(catalog, bands, task.input_columns(file_columns))
    return from_files(files)


def load_task_bundle(
    task, model=None, *, zero_point=None, log=print, backbone_ok=False, image_kind="fits"
):
    """Load the bundle ``model`` names (default: the task's shipped model) for ``task``.

    Refuses a bundle of another task, and a pretrained backbone (``astrocnn
    pretrain``: no outputs of the task) unless ``backbone_ok`` (``embed``);
    the network may use astrocnn's shared layers and the task's own Keras
    classes (:meth:`Task.keras_objects`).  With ``zero_point``, the input
    scaling takes pixels at that AB zero point
    (:func:`astrocnn.engine.conversion.convert_fluxes`).
    """
    import astrocnn.models.layers  # noqa: F401  (registers the shared custom layers)
    from astrocnn.engine.conversion import convert_fluxes

    path = resolve_model(task, model, image_kind)
    if not backbone_ok:
        _refuse_backbone(path, task)
    bundle = load_bundle(path, task=task.name, custom_objects=task.keras_objects())
    return convert_fluxes(bundle, zero_point, log)


def _refuse_backbone(path, task):
    from astrocnn.engine.pretrain import PRETRAINED
    from astrocnn.io.bundle import read_meta

    if read_meta(path, verify=False).get("kind") == PRETRAINED:
        raise AstrocnnError(
            f"{path}: a pretrained backbone (astrocnn pretrain) has no {task.name} outputs; "
            f"fine-tune it first (astrocnn train {task.name} --init-from {path}), or embed "
            f"with it"
        )


def output_table(source, task, bundle, preds, decode_options=None, conversion=None):
    """Assemble the output catalogue: ``id``, task columns, ``status``, ``reason``,
    and the out-of-distribution columns when the run measured them.

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
    if preds.diagnostics is not None:
        add_ood_columns(out, preds, bundle.meta, conversion)
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
    conversion=None,
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
    conversion : astrocnn.io.conversion.ConversionOptions, optional
        The user's statements about the inputs (pixel scale, zero point, band
        map, depth matching), which override the files' header cards
        (:func:`astrocnn.engine.conversion.input_conversion`).
    log : callable
        Messages (the conversion done, the out-of-distribution summary).

    Returns
    -------
    PredictSummary
    """
    from astrocnn.engine.conversion import input_conversion
    from astrocnn.io.products import prepare_products_dir, products_dir

    check_writable(out, overwrite=overwrite)
    bundle = load_task_bundle(task, model, log=log, image_kind=source_kind(source))
    task.output_columns(bundle.meta, **(decode_options or {}))  # options that fit the model
    converter = input_conversion(bundle.meta, conversion)
    reader_log = run_log(converter)
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
            conversion=converter,
            reader_log=reader_log,
        )
    report_run(converter, log, reader_log)
    path = write_table(table, out, overwrite=overwrite)
    return PredictSummary(path, len(source.paths), int(len(source.paths) - len(errors)), errors)


def add_ood_columns(out, preds, meta, conversion):
    """``noise_ratio``, ``masked_fraction``, ``ood_score`` and ``ood_flags`` (see
    :mod:`astrocnn.engine.diagnostics`), the depth matching's noise and seed;
    the run's summary warning goes to ``conversion.log``."""
    from astrocnn.engine import diagnostics

    diag = preds.diagnostics
    ratio = diagnostics.noise_ratio(diag.noise, conversion.model.noise)
    out["noise_ratio"] = ratio
    out["noise_ratio"].description = "background noise / the model's training level, per band"
    if diag.stated is not None:
        out["pixel_scale"] = diag.stated[:, 0]
        out["pixel_scale"].description = (
            f"the input's arcsec/px as stated (NaN: unknown); the model's: "
            f"{conversion.model.pixel_scale or float('nan'):.4g}"
        )
        out["zero_point"] = diag.stated[:, 1]
        out["zero_point"].description = "the input's AB zero point as stated (NaN: unknown)"
    out["masked_fraction"] = diag.masked_fraction
    out[
        "masked_fraction"
    ].description = "fraction of pixels without data (NaN, padding) or saturated (SATURATE card)"
    score = diag.feature_score
    out["ood_score"] = np.full(len(out), np.nan, np.float32) if score is None else score
    out["ood_score"].description = "feature-space distance from the training set (1: 99.5 %)"
    flags = diagnostics.ood_flags(diag, ratio, conversion.model.ood_limits)
    flags[~preds.ok] = 0
    out["ood_flags"] = flags
    out["ood_flags"].description = "out-of-distribution bits: " + ", ".join(
        f"{bit} {name}" for name, bit in diagnostics.OOD_FLAGS.items()
    )
    if conversion.options.match_depth:
        out["added_noise"] = diag.added_noise
        out["added_noise"].description = "sigma of the noise --match-depth added, per band"
        out.meta["MATCHDEP"] = True
        out.meta["MDSEED"] = int(conversion.options.seed)
    warning = diagnostics.summary_warning(flags, ratio, diag, preds.ok, conversion.model)
    if warning:
        conversion.log.warn(warning)


def run_log(conversion):
    """The log of a run's conversions: ``conversion.log``, or a new one where the
    model converts nothing (JPEG/PNG models: the reader still counts the grey
    images it gives a colour model, :func:`astrocnn.io.cutouts.read_cutout`)."""
    from astrocnn.io.conversion import ConversionLog

    return conversion.log if conversion is not None else ConversionLog()


def report_run(conversion, log, reader_log=None):
    """Log what the conversion (and the reader, ``reader_log``: :func:`run_log`)
    did and the out-of-distribution summary, once per run."""
    logs = [] if conversion is None else [conversion.log]
    if reader_log is not None and all(reader_log is not other for other in logs):
        logs.append(reader_log)
    for run in logs:
        for line in run.lines():
            log(f"converted {line}")
        for warning in run.warnings:
            log(f"astrocnn: warning: {warning}")


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
    conversion=None,
    reader_log=None,
):
    """Predict the rows of ``source`` with a loaded bundle; return the output table.

    The shared core of in-process and batch (per-partition) prediction: the
    options are those of :func:`predict`; image products (tasks with
    ``image_outputs``) go to ``images_folder`` under ``image_names`` (default
    :func:`~astrocnn.io.products.unique_file_names` of the ids); what the reader
    converts is counted in ``reader_log`` (:func:`run_log`).

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
        conversion=conversion,
        reader_log=reader_log,
    )
    table = output_table(source, task, bundle, preds, decode_options, conversion)
    if writer is not None:
        table["image_file"] = writer.files
        table["image_file"].description = "FITS file of this object's image products"
    return table, [r for r in preds.reasons if r]
