"""The ``astrocnn`` command line: parse options, call the library, print.

No science lives here, and nothing here imports TensorFlow: the library does
that lazily, only in commands that run a network, so ``astrocnn --help`` is
instant.
"""

from __future__ import annotations

import functools
import sys

import click

from astrocnn import __version__
from astrocnn.data.augment import AUGMENTATIONS
from astrocnn.errors import AstrocnnError
from astrocnn.io.cutouts import MISSING_BAND_POLICIES, SIZE_MODES
from astrocnn.tasks.registry import task_names
from astrocnn_cli.batch_options import batch_options, cluster_options, wants_batch

TASK = click.argument("task", type=click.Choice(task_names()), metavar="TASK")
QUIET = click.option("--quiet", "-q", is_flag=True, help="No progress output.")
OVERWRITE = click.option("--overwrite", is_flag=True, help="Replace an existing output.")
SIZE_MODE = click.option(
    "--size-mode",
    type=click.Choice(SIZE_MODES),
    default=None,
    help="What to do with cutouts of another size: refuse (strict), centre-crop, zero-pad, "
    "or either (crop-pad).",
)
FILE_COLUMN = click.option(
    "--file-column",
    "file_columns",
    multiple=True,
    help="Catalogue column naming the cutout file; repeat once per band for one file per "
    "band. Default: 'file', or 'file_<band>' for every band.",
)
TTA = click.option(
    "--tta",
    is_flag=True,
    help="Combine the outputs over the 8 flips/90-degree rotations (8x the compute): "
    "classifiers average the probabilities, photoz merges the 8 mixtures component by "
    "component, deblend and paint average the maps turned back to the input's "
    "orientation; recorded in the 'tta' column (TTA card for maps and fields).",
)
MISSING_BAND = click.option(
    "--missing-band",
    type=click.Choice(MISSING_BAND_POLICIES),
    default="error",
    show_default=True,
    help="A band with no data (all NaN, or all zero in FITS): fail the row, or predict "
    "with it zero-filled (counted in the n_missing_bands column).",
)
HDUS = click.option(
    "--hdus",
    default=None,
    help="Comma-separated HDU indices or EXTNAMEs holding the bands, in band order "
    "(default: a 3-D cube in the first image HDU, or every 2-D image HDU).",
)


def _fail(message: str, code: int = 1):
    click.echo(f"astrocnn: error: {message}", err=True)
    sys.exit(code)


def friendly_errors(command):
    """Turn user errors into one line on stderr and a non-zero exit, never a traceback."""

    @functools.wraps(command)
    def wrapper(*args, **kwargs):
        try:
            return command(*args, **kwargs)
        except AstrocnnError as exc:
            _fail(str(exc))
        except KeyboardInterrupt:
            _fail("interrupted", 130)

    return wrapper


def _parse_hdus(text):
    if not text:
        return None
    return tuple(int(h) if h.strip().lstrip("-").isdigit() else h.strip() for h in text.split(","))


def _target_options(task, **given):
    """Comma-separated CLI values to the task's target options; refuse ones it lacks."""
    options = {}
    names = {
        "classes": "class_names",
        "fraction_columns": "fraction_columns",
        "mdn_components": "n_components",
        "power_loss_weight": "power_loss_weight",
        "log_offset": "log_offset",
        "power_loss_space": "power_loss_space",
    }
    for flag, value in given.items():
        if value is None or value == "":
            continue
        if names[flag] not in task.target_options:
            raise AstrocnnError(f"--{flag.replace('_', '-')} does not apply to task {task.name!r}")
        if isinstance(value, str):
            value = [v.strip() for v in value.split(",") if v.strip()]
        options[names[flag]] = value
    return options


def _decode_options(task, pdf_grid):
    """The task's decoding options from CLI values; refuse ones it lacks."""
    if pdf_grid is None:
        return {}
    if "pdf_grid" not in task.decode_options:
        raise AstrocnnError(f"--pdf-grid does not apply to task {task.name!r}")
    try:
        return {"pdf_grid": task.parse_decode_option("pdf_grid", pdf_grid)}
    except ValueError as exc:
        raise AstrocnnError(f"--pdf-grid: {exc}") from None


def _log_to(quiet):
    return (lambda message: None) if quiet else (lambda message: click.echo(message, err=True))


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="astrocnn")
def main():
    """Convolutional neural networks for astronomical images.

    Simulate training data, pack it, train a network, predict on FITS cutouts
    and catalogues, and evaluate with the metrics and plots of the literature.
    Tasks: lens (strong-lens finding), morphology (Galaxy Zoo style classes),
    photoz (redshift PDFs with a mixture density network), deblend (U-Net
    segmentation and deblended fluxes), paint (gas maps from dark matter).
    """


@main.command()
@TASK
@click.option("--n", "n", type=click.IntRange(min=1), required=True, help="Number of objects.")
@click.option("--seed", type=int, default=0, show_default=True, help="Random seed.")
@click.option(
    "--out",
    type=click.Path(file_okay=False),
    required=True,
    help="Output folder (gets catalog.fits and cutouts/).",
)
@click.option(
    "--format",
    "image_format",
    type=click.Choice(["fits", "jpeg", "png"]),
    default="fits",
    show_default=True,
    help="Image format of the simulated cutouts (jpeg/png: 8-bit colour composites; "
    "morphology only).",
)
@click.option(
    "--depth",
    type=click.FloatRange(0, 25, min_open=True),
    default=None,
    help="Paint: projection depth of each map [Mpc/h] in the 25 Mpc/h boxes "
    "(default 5, as the CAMELS maps; 25 projects whole boxes).",
)
@QUIET
@friendly_errors
def simulate(task, n, seed, out, image_format, depth, quiet):
    """Simulate a labelled training set for TASK (cutouts + catalog.fits)."""
    from pathlib import Path

    from astrocnn.io.atomic import prepare_output_dir
    from astrocnn.tasks.registry import get_task

    task_obj = get_task(task)
    if image_format not in task_obj.simulate_formats:
        raise AstrocnnError(
            f"the {task} simulator writes {', '.join(task_obj.simulate_formats)}, "
            f"not {image_format}"
        )
    options = {"depth": depth} if depth is not None else {}
    for name in options:
        if name not in task_obj.simulate_options:
            raise AstrocnnError(f"--{name} does not apply to task {task!r}")
    outdir = prepare_output_dir(Path(out))
    table = task_obj.simulate(
        n, seed, outdir, progress=not quiet, image_format=image_format, **options
    )
    _log_to(quiet)(f"wrote {len(table)} objects to {outdir / 'catalog.fits'}")


@main.command()
@click.option(
    "--catalog",
    required=True,
    type=click.Path(dir_okay=False),
    help="Catalogue naming the cutouts (FITS, CSV, ECSV, HDF5).",
)
@click.option("--out", required=True, type=click.Path(dir_okay=False), help="Packed .h5 file.")
@click.option(
    "--task",
    "task_name",
    type=click.Choice(task_names()),
    default=None,
    help="Take default bands and size from this task.",
)
@click.option("--bands", default=None, help="Comma-separated band names, in cutout order.")
@click.option(
    "--size",
    type=click.IntRange(min=8),
    default=None,
    help="Cutout size in pixels (default: the task's, or the first cutout's).",
)
@SIZE_MODE
@FILE_COLUMN
@HDUS
@OVERWRITE
@QUIET
@friendly_errors
def pack(catalog, out, task_name, bands, size, size_mode, file_columns, hdus, overwrite, quiet):
    """Pack a catalogue and its cutouts into one HDF5 file for fast training."""
    from astrocnn.data.packed import pack as pack_set
    from astrocnn.engine.layout import catalog_with_layout
    from astrocnn.engine.progress import progress_bar
    from astrocnn.tasks.registry import get_task

    source, layout = catalog_with_layout(
        catalog,
        get_task(task_name) if task_name else None,
        bands,
        size,
        size_mode,
        _parse_hdus(hdus),
        file_columns,
    )
    with progress_bar(len(source.paths), "pack", quiet) as advance:
        summary = pack_set(
            source, out, layout.spec, layout.bands, overwrite=overwrite, progress=advance
        )
    log = _log_to(quiet)
    log(f"packed {summary.n_packed} cutouts into {summary.out}")
    if summary.rejected:
        click.echo(
            f"astrocnn: warning: {len(summary.rejected)} row(s) not packed; first: "
            f"{summary.rejected[0]}",
            err=True,
        )


@main.command()
@TASK
@click.option(
    "--catalog",
    type=click.Path(dir_okay=False),
    default=None,
    help="Training catalogue of cutouts with truth columns.",
)
@click.option(
    "--data",
    "packed",
    type=click.Path(dir_okay=False),
    default=None,
    help="Packed HDF5 training set (astrocnn pack).",
)
@click.option(
    "--out", required=True, type=click.Path(dir_okay=False), help="Model bundle to write (.keras)."
)
@click.option("--epochs", type=click.IntRange(min=1), default=20, show_default=True)
@click.option("--batch-size", type=click.IntRange(min=1), default=64, show_default=True)
@click.option("--val-fraction", type=click.FloatRange(0, 0.9), default=0.1, show_default=True)
@click.option(
    "--split-by",
    default=None,
    metavar="COLUMN",
    help="Keep the rows sharing a value of this catalogue column on one side of the "
    "validation split (e.g. maps of one simulated box); default: the task's grouping "
    "column when the catalogue has it (paint: box), else by row; 'none': by row.",
)
@click.option("--seed", type=int, default=0, show_default=True)
@click.option(
    "--learning-rate", type=click.FloatRange(min=0, min_open=True), default=2e-3, show_default=True
)
@click.option(
    "--arch",
    type=click.Choice(["cnn", "resnet"]),
    default="cnn",
    show_default=True,
    help="Plain conv/BN/pool CNN or residual network (DeepLens-like).",
)
@click.option(
    "--widths",
    default="16,32,64,128",
    show_default=True,
    help="Filters per stage (each stage halves the resolution).",
)
@click.option("--convs-per-block", type=click.IntRange(1, 4), default=1, show_default=True)
@click.option(
    "--augment",
    type=click.Choice(AUGMENTATIONS),
    default=None,
    help="Training augmentation (default: the task's).",
)
@click.option(
    "--classes",
    default=None,
    help="Classifiers: comma-separated class names in output order; any other label, "
    "or a class without examples, is an error (default: the labels found).",
)
@click.option(
    "--fraction-columns",
    default=None,
    help="Morphology: regress these vote-fraction columns (comma-separated) instead of "
    "classifying the label column (Dieleman+15).",
)
@click.option(
    "--power-loss-weight",
    default=None,
    help="Paint: add this weight times the squared log ratio of the predicted to the "
    "true power spectrum (16 radial bins up to Nyquist) to the pixel MSE (default 0); "
    "one number, or one per output channel (e.g. 1,0,1).",
)
@click.option(
    "--power-loss-space",
    type=click.Choice(["physical", "transformed"]),
    default=None,
    help="Paint: match the power spectra of the maps in physical units (default; what "
    "evaluate compares) or in the transformed (standardised log10) space.",
)
@click.option(
    "--log-offset",
    default=None,
    help="Paint: model each output channel as log10(y + offset) instead of log10(y) "
    "(in the channel's units; one number, or one per channel, e.g. 0,1e5,0): "
    "compresses values well below the offset, so the fit favours the large ones "
    "(e.g. the hot gas that dominates a temperature map's power).",
)
@click.option(
    "--mdn-components",
    type=click.IntRange(1, 50),
    default=None,
    help="Photo-z: Gaussian components of the mixture density network (default 5).",
)
@click.option(
    "--extra-inputs",
    default=None,
    help="Comma-separated catalogue columns fed to the network beside the image "
    "(photo-z, e.g. EBV); standardised with the training set's statistics, and "
    "required in every catalogue the model predicts.",
)
@click.option(
    "--init-from",
    type=click.Path(dir_okay=False),
    default=None,
    help="Start from this bundle (or a task name for its default model). A model of the "
    "same task, bands and cutout size is a warm start: all its weights, input scaling and "
    "extra-input standardisation, one training phase (go on training it, or adapt it to "
    "your own simulations). Otherwise (classifiers) its backbone with a new head. Its "
    "architecture replaces --arch/--widths.",
)
@click.option(
    "--freeze-backbone",
    is_flag=True,
    help="With --init-from: train only the new head.",
)
@click.option(
    "--head-epochs",
    type=click.IntRange(min=0),
    default=None,
    help="With --init-from: epochs of head-only training before all layers are "
    "trained at a tenth of the learning rate (default: a quarter of --epochs).",
)
@click.option("--bands", default=None, help="Comma-separated band names (catalogue input).")
@click.option("--size", type=click.IntRange(min=8), default=None, help="Cutout size in pixels.")
@SIZE_MODE
@FILE_COLUMN
@HDUS
@click.option(
    "--strategy",
    type=click.Choice(["default", "mirrored", "multiworker"]),
    default="default",
    show_default=True,
    help="Data-parallel training: every GPU of this machine (mirrored), or several "
    "processes/nodes described by TF_CONFIG (multiworker; run the same command on every "
    "node, worker 0 writes the model). --batch-size is the global batch.",
)
@click.option(
    "--precision",
    type=click.Choice(["float32", "mixed"]),
    default="float32",
    show_default=True,
    help="mixed: float16 compute with float32 weights on a GPU (bfloat16 on a CPU, which "
    "has no fast float16), outputs cast to float32; the model predicts the same way.",
)
@click.option(
    "--jit/--no-jit",
    default=None,
    help="XLA-compile the training step (Keras jit_compile; default: on with a GPU, off on a CPU).",
)
@click.option(
    "--resume",
    is_flag=True,
    help="Continue an interrupted run from its checkpoint (under any --strategy).",
)
@OVERWRITE
@QUIET
@friendly_errors
def train(
    task,
    catalog,
    packed,
    out,
    epochs,
    batch_size,
    val_fraction,
    split_by,
    seed,
    learning_rate,
    arch,
    widths,
    convs_per_block,
    augment,
    classes,
    fraction_columns,
    mdn_components,
    power_loss_weight,
    power_loss_space,
    log_offset,
    extra_inputs,
    init_from,
    freeze_backbone,
    head_epochs,
    bands,
    size,
    size_mode,
    file_columns,
    hdus,
    strategy,
    precision,
    jit,
    resume,
    overwrite,
    quiet,
):
    """Train TASK's network on a catalogue of cutouts or a packed file."""
    from astrocnn.engine import train as engine
    from astrocnn.engine.layout import catalog_with_layout
    from astrocnn.tasks.registry import get_task

    if (catalog is None) == (packed is None):
        raise AstrocnnError("give exactly one of --catalog or --data")
    try:
        widths = tuple(int(w) for w in widths.split(","))
    except ValueError:
        raise AstrocnnError(
            f"--widths: {widths!r} is not a comma-separated list of integers"
        ) from None
    task_obj = get_task(task)
    target_options = _target_options(
        task_obj,
        classes=classes,
        fraction_columns=fraction_columns,
        mdn_components=mdn_components,
        power_loss_weight=power_loss_weight,
        power_loss_space=power_loss_space,
        log_offset=log_offset,
    )
    extra = tuple(c.strip() for c in (extra_inputs or "").split(",") if c.strip())
    if extra and not task_obj.accepts_extra_inputs:
        raise AstrocnnError(f"--extra-inputs does not apply to task {task!r}")
    log = _log_to(quiet)
    if packed:
        from astrocnn.data.packed import open_packed

        data = engine.training_set_from_packed(open_packed(packed))
    else:
        source, layout = catalog_with_layout(
            catalog, task_obj, bands, size, size_mode, _parse_hdus(hdus), file_columns
        )
        data = engine.training_set_from_source(
            source, layout.spec, layout.bands, quiet=quiet, log=log
        )
    config = engine.TrainConfig(
        epochs=epochs,
        batch_size=batch_size,
        val_fraction=val_fraction,
        split_by=split_by,
        seed=seed,
        learning_rate=learning_rate,
        architecture=arch,
        widths=widths,
        convs_per_block=convs_per_block,
        augmentation=augment,
        init_from=init_from,
        target_options=target_options,
        freeze_backbone=freeze_backbone,
        head_epochs=head_epochs,
        extra_inputs=extra,
        strategy=strategy,
        precision=precision,
        jit=jit,
        resume=resume,
        overwrite=overwrite,
        quiet=quiet,
    )
    meta = engine.train(task_obj, data, out, config, log=log)
    summary = ", ".join(
        f"{k}={v:.4f}"
        for k, v in meta["validation_metrics"].items()
        if isinstance(v, float) and k in task_obj.summary_metrics
    )
    if not meta["written"]:
        log(f"done: this worker's share of the training (worker 0 writes {out})")
        return
    log(f"wrote {out}" + (f" (validation: {summary})" if summary else ""))


@main.command()
@TASK
@click.argument("files", nargs=-1, type=click.Path(dir_okay=False))
@click.option(
    "--catalog", type=click.Path(dir_okay=False), default=None, help="Catalogue naming the cutouts."
)
@click.option(
    "--model",
    type=click.Path(dir_okay=False),
    default=None,
    help="Model bundle (default: the model shipped for TASK).",
)
@click.option(
    "--out",
    required=True,
    type=click.Path(),
    help="Output table (.fits, .csv, .ecsv, .h5); for whole fields (deblend FIELD.fits) "
    "an output folder.",
)
@click.option("--batch-size", type=click.IntRange(min=1), default=256, show_default=True)
@click.option(
    "--pdf-grid",
    default=None,
    metavar="ZMIN,ZMAX,N",
    help="Photo-z: also write p(z) on N redshifts from ZMIN to ZMAX (column 'pdf'; the grid "
    "is in the header cards PDFZMIN, PDFZMAX, PDFNZ).",
)
@SIZE_MODE
@MISSING_BAND
@FILE_COLUMN
@TTA
@click.option(
    "--jit",
    is_flag=True,
    help="XLA-compile the network (tf.function jit_compile): same outputs to float "
    "tolerance; usually faster on a GPU, measure it on a CPU.",
)
@batch_options
@OVERWRITE
@QUIET
@friendly_errors
def predict(
    task,
    files,
    catalog,
    model,
    out,
    batch_size,
    pdf_grid,
    size_mode,
    missing_band,
    file_columns,
    tta,
    jit,
    batch,
    overwrite,
    quiet,
):
    """Predict TASK for FITS FILES or every row of a --catalog.

    The output keeps `id`, adds the task's columns, and a `status`/`reason`
    per row. With FILES, any unreadable file makes the exit code 1 (the good
    files are still written); with --catalog, bad rows are recorded and the
    exit code is 0 unless no row could be predicted.

    For deblend, FILES are whole fields (FITS cubes band, y, x): sources are
    detected with sep, a stamp around each is deblended, and --out is a
    folder receiving <field>_catalog.fits, <field>_segmentation.fits and
    <field>_stamps.fits (every source's deblended stamp and segmentation as
    cubes; plane k is source id k+1).

    Batch runs (--scheduler, --workers, --partition-size or --resume) split
    the input into partitions predicted on Dask workers: a local cluster, a
    running scheduler, or SLURM/PBS jobs. Each finished partition is saved
    in OUT.parts/ and the parts are merged into OUT in catalogue order at the
    end; --resume finishes an interrupted run.
    """
    from astrocnn.engine.predict import predict as run_predict
    from astrocnn.engine.predict import resolve_model
    from astrocnn.engine.sources import from_catalog, from_files
    from astrocnn.io.bundle import read_meta
    from astrocnn.tasks.registry import get_task

    if bool(files) == bool(catalog):
        raise AstrocnnError("give FITS files or --catalog (not both)")
    task_obj = get_task(task)
    decode_options = _decode_options(task_obj, pdf_grid)
    if wants_batch(batch):
        _predict_batch(
            task_obj,
            files,
            catalog,
            model,
            out,
            batch,
            overwrite=overwrite,
            quiet=quiet,
            file_columns=file_columns,
            batch_size=batch_size,
            options={
                "size_mode": size_mode,
                "tta": tta,
                "decode_options": decode_options,
                "missing_band": missing_band,
                "batch_size": batch_size,
                "jit": jit,
            },
        )
        return
    if files and task_obj.accepts_fields:
        _predict_fields(task_obj, files, model, out, batch_size, overwrite, quiet, tta)
        return
    if task_obj.map_outputs:
        _predict_maps(task_obj, files, catalog, model, out, file_columns, overwrite, quiet, tta)
        return
    if catalog:
        bands = read_meta(resolve_model(task_obj, model), verify=False).get("bands", task_obj.bands)
        source = from_catalog(catalog, bands, file_columns or task_obj.default_file_columns or None)
    else:
        source = from_files(files)
    summary = run_predict(
        task_obj,
        source,
        out,
        model=model,
        batch_size=batch_size,
        size_mode=size_mode,
        overwrite=overwrite,
        quiet=quiet,
        tta=tta,
        decode_options=decode_options,
        missing_band=missing_band,
        jit=jit,
    )
    _log_to(quiet)(f"wrote {summary.out}: {summary.n_ok} of {summary.n_rows} predicted")
    _exit_for_failures(summary.errors, summary.n_ok, bool(files), "row")


def _predict_batch(
    task, files, catalog, model, out, batch, *, overwrite, quiet, file_columns, batch_size, options
):
    """Partitions on Dask workers (astrocnn.batch), or a job script for --dry-run."""
    from astrocnn.batch import work as kinds
    from astrocnn.batch.clusters import JOBQUEUE_KINDS, job_script
    from astrocnn.batch.driver import run_batch
    from astrocnn.engine.predict import resolve_model
    from astrocnn.io.bundle import read_meta
    from astrocnn.io.catalog import read_catalog

    clusters = cluster_options(batch)
    if batch["dry_run"]:
        if clusters.scheduler not in JOBQUEUE_KINDS:
            raise AstrocnnError("--dry-run prints a job script: give --scheduler slurm or pbs")
        click.echo(job_script(clusters.scheduler, clusters.job), nl=False)
        return
    model_path = resolve_model(task, model)
    bands = read_meta(model_path, verify=False).get("bands", task.bands)
    table = None
    if files and task.accepts_fields:
        work = kinds.FieldFiles(list(files), batch_size, bool(options.get("tta")))
    elif task.map_outputs:
        from astrocnn.engine.maps import map_items

        columns = list(file_columns) or task.default_file_columns or None
        work = kinds.MapItems(
            map_items(files, catalog, bands, columns), tta=bool(options.get("tta"))
        )
    elif catalog:
        table = read_catalog(catalog)
        work = kinds.CatalogRows(catalog, list(bands), list(file_columns) or None, options)
    else:
        raise AstrocnnError(f"batch runs of {task.name} take a --catalog of cutouts")
    summary = run_batch(
        task,
        work,
        out,
        model_path=model_path,
        table=table,
        partition_size=batch["partition_size"],
        resume=batch["resume"],
        overwrite=overwrite,
        cluster=clusters,
        quiet=quiet,
        log=_log_to(quiet),
    )
    _log_to(quiet)(
        f"wrote {summary.out}: {summary.n_ok} of {summary.n_rows} predicted in "
        f"{summary.n_partitions} partition(s)"
        + (f", {summary.n_resumed} from the interrupted run" if summary.n_resumed else "")
    )
    if summary.n_errors:
        first = f"; first: {summary.errors[0]}" if summary.errors else ""
        click.echo(
            f"astrocnn: warning: {summary.n_errors} item(s) failed (status column){first}",
            err=True,
        )
    if summary.n_ok == 0 or (files and summary.n_errors):
        sys.exit(1)


def _exit_for_failures(errors, n_ok, from_files, what):
    """Report failed rows: every one for files given on the command line (exit 1),
    the first for a catalogue (exit 1 only when nothing could be predicted)."""
    for error in errors if from_files else errors[:1]:
        click.echo(
            f"astrocnn: error: {error}"
            if from_files
            else f"astrocnn: warning: {len(errors)} {what}(s) failed (status column); "
            f"first: {error}",
            err=True,
        )
    if (from_files and errors) or n_ok == 0:
        sys.exit(1)


def _predict_maps(task, files, catalog, model, out, file_columns, overwrite, quiet, tta=False):
    """Image-to-image prediction: OUT/<id>.fits per map and OUT/catalog.fits."""
    from astrocnn.engine import maps
    from astrocnn.engine.predict import resolve_model
    from astrocnn.engine.progress import progress_bar
    from astrocnn.io.bundle import load_bundle

    bundle = load_bundle(resolve_model(task, model), task=task.name)
    columns = list(file_columns) or task.default_file_columns or None
    items = maps.map_items(files, catalog, bundle.meta["bands"], columns)
    with progress_bar(len(items), "predict", quiet) as advance:
        summary = maps.predict_maps(
            task, bundle, items, out, overwrite=overwrite, progress=advance, tta=tta
        )
    _log_to(quiet)(f"wrote {summary.n_ok} of {summary.n_rows} maps to {out} ({summary.catalog})")
    _exit_for_failures(summary.errors, summary.n_ok, bool(files), "map")


def _predict_fields(task, files, model, out, batch_size, overwrite, quiet, tta=False):
    """Whole-field prediction: one catalogue, maps and product folder per field."""
    from pathlib import Path

    from astrocnn.engine.fields import predict_fields
    from astrocnn.engine.predict import resolve_model
    from astrocnn.io.bundle import load_bundle

    out_dir = Path(out)
    if out_dir.exists() and not out_dir.is_dir():
        raise AstrocnnError(f"{out}: for fields, --out must be a folder")
    bundle = load_bundle(resolve_model(task, model), task=task.name)
    log = _log_to(quiet)
    failed = 0
    options = dict(batch_size=batch_size, overwrite=overwrite, tta=tta)
    for _, summary in predict_fields(task, bundle, files, out_dir, log=log, **options):
        if isinstance(summary, AstrocnnError):
            click.echo(f"astrocnn: error: {summary}", err=True)
            failed += 1
            continue
        others = [p.name for p in [summary.stamps, *summary.maps] if p is not None]
        log(f"wrote {summary.catalog} ({summary.n_sources} sources), " + ", ".join(others))
    if failed:
        sys.exit(1)


@main.command()
@TASK
@click.option(
    "--catalog",
    required=True,
    type=click.Path(dir_okay=False),
    help="Labelled catalogue (with the task's truth columns).",
)
@click.option(
    "--model",
    type=click.Path(dir_okay=False),
    default=None,
    help="Model bundle (default: the model shipped for TASK).",
)
@click.option(
    "--report",
    required=True,
    type=click.Path(file_okay=False),
    help="Report folder: metrics.json, predictions.fits and PNG figures.",
)
@click.option("--batch-size", type=click.IntRange(min=1), default=256, show_default=True)
@click.option(
    "--baseline-train",
    type=click.Path(dir_okay=False),
    default=None,
    help="Photo-z: labelled catalogue to fit the kNN magnitude baseline on (default: "
    "5-fold cross-validation on --catalog).",
)
@SIZE_MODE
@FILE_COLUMN
@TTA
@OVERWRITE
@QUIET
@friendly_errors
def evaluate(
    task,
    catalog,
    model,
    report,
    batch_size,
    baseline_train,
    size_mode,
    file_columns,
    tta,
    overwrite,
    quiet,
):
    """Evaluate a model on a labelled catalogue; write metrics and figures."""
    from astrocnn.engine.evaluate import evaluate as run_evaluate
    from astrocnn.engine.predict import resolve_model
    from astrocnn.engine.sources import from_catalog
    from astrocnn.io.bundle import read_meta
    from astrocnn.tasks.registry import get_task

    task_obj = get_task(task)
    bands = read_meta(resolve_model(task_obj, model), verify=False).get("bands", task_obj.bands)
    source = from_catalog(catalog, bands, file_columns or task_obj.default_file_columns or None)
    results = run_evaluate(
        task_obj,
        source,
        report,
        model=model,
        batch_size=batch_size,
        size_mode=size_mode,
        overwrite=overwrite,
        quiet=quiet,
        tta=tta,
        baseline_catalog=baseline_train,
    )
    shown = {k: v for k, v in results.items() if isinstance(v, float)}
    for key, value in shown.items():
        click.echo(f"{key:>18}: {value:.4f}")
    baseline = results.get("baseline")
    if isinstance(baseline, dict):
        click.echo(f"baseline: {baseline.get('method', '')}")
        for key, value in baseline.items():
            if isinstance(value, float):
                click.echo(f"{key:>18}: {value:.4f}")
    _log_to(quiet)(f"report written to {report}")


@main.command()
@click.argument("model")
@friendly_errors
def info(model):
    """Print the model card of MODEL (a .keras bundle, or a task name for its default)."""
    from pathlib import Path

    from astrocnn.io.bundle import format_card, read_meta
    from astrocnn.tasks.registry import get_task

    path = Path(get_task(model).default_model() if model in task_names() else model)
    click.echo(format_card(read_meta(path), path))
    card = path.with_suffix(".md")
    if card.exists():
        click.echo("\n" + card.read_text(encoding="utf-8").rstrip())


if __name__ == "__main__":  # pragma: no cover
    main()
