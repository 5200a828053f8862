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
from astrocnn.io.conversion import AXIS_ORDERS
from astrocnn.io.cutouts import MISSING_BAND_POLICIES, SIZE_MODES
from astrocnn.tasks.registry import task_names
from astrocnn_cli.batch_options import BATCH_OPTIONS, batch_values, cluster_options, wants_batch
from astrocnn_cli.task_commands import TaskGroup, params_of, task_command

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

MODEL = click.option(
    "--model",
    type=click.Path(dir_okay=False),
    default=None,
    help="Model bundle (default: the model shipped for TASK).",
)
ZERO_POINT = click.option(
    "--zero-point",
    type=float,
    default=None,
    help="AB zero point of your pixel values (magnitude = ZP - 2.5 log10 flux): they are "
    "converted to the units of the model's data contract (astrocnn info) in every band.",
)
FLUX_UNIT = click.option(
    "--flux-unit",
    default=None,
    metavar="nanomaggy|nJy|uJy|mJy|Jy",
    help="Your pixel values' flux-density unit (instead of --zero-point).",
)
PIXEL_SCALE = click.option(
    "--pixel-scale",
    type=click.FloatRange(min=0, min_open=True),
    default=None,
    metavar="ARCSEC",
    help="Arcsec per pixel of your images (default: from each file's WCS/PIXSCALE): "
    "resampled, flux-conserving, to the model's scale.",
)
CONVERSION = (
    PIXEL_SCALE,
    ZERO_POINT,
    FLUX_UNIT,
    click.option(
        "--band-map",
        default=None,
        metavar="IN=MODEL,...",
        help="Select and order your bands by name (BANDS/FILTER cards) or plane number: "
        "e.g. HSC-G=g,HSC-R=r or 1=g,2=r. A model band left out has no data (--missing-band).",
    ),
    click.option(
        "--axis-order",
        type=click.Choice(AXIS_ORDERS),
        default="auto",
        show_default=True,
        help="Axis order of 3-D cubes in numpy terms (auto: the axis as long as the band count).",
    ),
    click.option(
        "--match-depth",
        is_flag=True,
        help="Add seeded Gaussian noise so each band's background noise reaches the model's "
        "training level (for images deeper than the training data).",
    ),
    click.option(
        "--depth-seed",
        type=int,
        default=0,
        show_default=True,
        help="Seed of --match-depth's noise (drawn per file: reproducible in any order).",
    ),
)
PREDICT_BATCH = click.option(
    "--batch-size", type=click.IntRange(min=1), default=256, show_default=True
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


def _task_group(command, params, run, help_text, summary, listed=None):
    """Add ``astrocnn COMMAND``: one subcommand per task, ``run`` behind each
    (``listed(task)``: whether ``--help`` lists the task)."""
    main.add_command(
        TaskGroup(
            command,
            build=lambda name: task_command(
                command, name, params, run, help_text, wrap=friendly_errors
            ),
            help=summary,
            listed=listed,
        )
    )


def _parse_hdus(text):
    if not text:
        return None
    return tuple(int(h) if h.strip().lstrip("-").isdigit() else h.strip() for h in text.split(","))


def _log_to(quiet):
    """Messages to stderr; with --quiet only the warnings."""

    def log(message):
        if not quiet or message.startswith("astrocnn: warning:"):
            click.echo(message, err=True)

    return log


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="astrocnn")
def main():
    """Convolutional neural networks for astronomical images.

    Simulate training data, pack it, train a network, predict on FITS cutouts
    and catalogues, and evaluate with the metrics and plots of the literature.
    `astrocnn COMMAND --help` lists the tasks (strong-lens finding, galaxy
    morphology, photometric redshifts, deblending, painting baryons, ...).
    """


ARCHITECTURE = (
    click.option(
        "--arch",
        type=click.Choice(["cnn", "resnet"]),
        default=None,
        help="Plain conv/BN/pool CNN or residual network (ResNet-18 layout at half width) "
        "[default: the task's recipe, chosen by measurement: resnet for morphology, cnn "
        "for the others].",
    ),
    click.option(
        "--widths",
        default=None,
        help="Filters per stage (each stage halves the resolution) [default: cnn "
        "16,32,64,128; resnet 32,64,128,256].",
    ),
    click.option(
        "--convs-per-block",
        type=click.IntRange(1, 4),
        default=None,
        help="Convolutions (cnn) or residual units (resnet) per stage [default: cnn 1, resnet 2].",
    ),
)
PACKED_DATA = click.option(
    "--data",
    "packed",
    type=click.Path(dir_okay=False),
    default=None,
    help="Packed HDF5 set of cutouts (astrocnn pack).",
)


CATALOG_LAYOUT = (
    click.option("--bands", default=None, help="Comma-separated band names (catalogue input)."),
    click.option("--size", type=click.IntRange(min=8), default=None, help="Cutout size in pixels."),
    SIZE_MODE,
    FILE_COLUMN,
    HDUS,
)


def one_source(given):
    """Refuse anything but exactly one of ``--catalog`` and ``--data``."""
    if (given["catalog"] is None) == (given["packed"] is None):
        raise AstrocnnError("give exactly one of --catalog or --data")


def read_training_set(task, given, log, before_reading=lambda source: None):
    """The images of ``--data`` (packed) or ``--catalog`` (read in full) as a TrainingSet;
    ``before_reading(source)`` checks the catalogue before any image is read."""
    from astrocnn.engine import train

    if given["packed"]:
        from astrocnn.data.packed import open_packed

        return train.training_set_from_packed(open_packed(given["packed"]))
    from astrocnn.engine.layout import catalog_with_layout

    source, layout = catalog_with_layout(
        given["catalog"],
        task,
        given["bands"],
        given["size"],
        given["size_mode"],
        _parse_hdus(given["hdus"]),
        given["file_columns"],
    )
    before_reading(source)
    return train.training_set_from_source(
        source, layout.spec, layout.bands, quiet=given["quiet"], log=log
    )


def parse_widths(text):
    """``--widths 16,32,64``: a tuple of positive integers (``None`` when not given)."""
    if not text:
        return None
    try:
        widths = tuple(int(w) for w in text.split(","))
    except ValueError:
        raise AstrocnnError(
            f"--widths: {text!r} is not a comma-separated list of integers"
        ) from None
    if not widths or min(widths) < 1:
        raise AstrocnnError(f"--widths: {text!r}: give positive integers")
    return widths


TRAIN_OPTIONS = params_of(
    click.option(
        "--catalog",
        type=click.Path(dir_okay=False),
        default=None,
        help="Training catalogue of cutouts with truth columns.",
    ),
    PACKED_DATA,
    click.option(
        "--out",
        required=True,
        type=click.Path(dir_okay=False),
        help="Model bundle to write (.keras).",
    ),
    click.option("--epochs", type=click.IntRange(min=1), default=20, show_default=True),
    click.option(
        "--keep",
        type=click.Choice(["best", "last"]),
        default="best",
        show_default=True,
        help="Save the weights of the epoch with the lowest validation loss, or the last.",
    ),
    click.option("--batch-size", type=click.IntRange(min=1), default=64, show_default=True),
    click.option("--val-fraction", type=click.FloatRange(0, 0.9), default=0.1, show_default=True),
    click.option(
        "--split-by",
        default=None,
        metavar="COLUMN",
        help="Keep the rows sharing a value of this catalogue column on one side of the "
        "validation split (e.g. maps of one simulated box); default: the task's grouping "
        "column when the catalogue has it (paint: box), else by row; 'none': by row.",
    ),
    click.option("--seed", type=int, default=0, show_default=True),
    click.option(
        "--learning-rate",
        type=click.FloatRange(min=0, min_open=True),
        default=2e-3,
        show_default=True,
    ),
    *ARCHITECTURE,
    click.option(
        "--patience",
        type=click.IntRange(min=0),
        default=10,
        show_default=True,
        help="Stop when the validation loss has not improved for this many epochs "
        "(0: never stop early).",
    ),
    click.option(
        "--augment",
        type=click.Choice(AUGMENTATIONS),
        default=None,
        help="Training augmentation (default: the task's).",
    ),
    click.option(
        "--band-dropout",
        type=click.FloatRange(0, 1, max_open=True),
        default=0.0,
        show_default=True,
        help="Fraction of the training images with one band, drawn at random, blanked: "
        "the model learns to work when a band has no data (predict --missing-band zero); "
        "the bundle records the validation metric with each band zero-filled.",
    ),
    click.option(
        "--init-from",
        type=click.Path(dir_okay=False),
        default=None,
        help="Start from this bundle (or a task name for its default model). A model of the "
        "same task, bands and cutout size is a warm start: all its weights, input scaling and "
        "extra-input standardisation, one training phase (go on training it, or adapt it to "
        "your own simulations). Otherwise (classifiers) its backbone with a new head. Its "
        "architecture replaces --arch/--widths.",
    ),
    click.option(
        "--freeze-backbone",
        is_flag=True,
        help="With --init-from: train only the new head.",
    ),
    click.option(
        "--head-epochs",
        type=click.IntRange(min=0),
        default=None,
        help="With --init-from: epochs of head-only training before all layers are "
        "trained, the copied ones at a tenth of the learning rate (default: a quarter of "
        "--epochs; none when "
        "the source saw other images or bands: its first block is then re-learnt and all "
        "layers train from the start, the copied ones at a lower rate).",
    ),
    click.option(
        "--adapt-to",
        type=click.Path(dir_okay=False),
        default=None,
        metavar="CATALOG",
        help="Unlabelled cutouts (e.g. your real images) to align the network's features "
        "to while it learns the labelled ones: domain adaptation. Read in the labelled "
        "set's layout and converted to its data contract.",
    ),
    click.option(
        "--adapt",
        type=click.Choice(["mmd", "dann"]),
        default="mmd",
        show_default=True,
        help="With --adapt-to: a maximum-mean-discrepancy loss on the features, or a "
        "domain classifier behind a gradient-reversal layer.",
    ),
    click.option(
        "--adapt-weight",
        type=click.FloatRange(min=0, min_open=True),
        default=1.0,
        show_default=True,
        help="With --adapt-to: weight of the alignment loss against the task's loss "
        "(ramped up from 0 over training).",
    ),
    *CATALOG_LAYOUT,
    click.option(
        "--strategy",
        type=click.Choice(["default", "mirrored", "multiworker"]),
        default="default",
        show_default=True,
        help="Data-parallel training: every GPU of this machine (mirrored), or several "
        "processes/nodes described by TF_CONFIG (multiworker; run the same command on every "
        "node, worker 0 writes the model). --batch-size is the global batch.",
    ),
    click.option(
        "--precision",
        type=click.Choice(["float32", "mixed"]),
        default="float32",
        show_default=True,
        help="mixed: float16 compute with float32 weights on a GPU (bfloat16 on a CPU, which "
        "has no fast float16), outputs cast to float32; the model predicts the same way.",
    ),
    click.option(
        "--jit/--no-jit",
        default=None,
        help="XLA-compile the training step (Keras jit_compile; default: on with a GPU, "
        "off on a CPU).",
    ),
    click.option(
        "--resume",
        is_flag=True,
        help="Continue an interrupted run from its checkpoint (under any --strategy).",
    ),
    click.option(
        "--data-pixel-scale",
        type=click.FloatRange(min=0, min_open=True),
        default=None,
        metavar="ARCSEC",
        help="Arcsec per pixel of the training images, recorded in the model's data "
        "contract (default: from the files' WCS/PIXSCALE).",
    ),
    click.option(
        "--data-zero-point",
        type=float,
        default=None,
        help="AB zero point of the training images' pixel values, recorded in the data "
        "contract (default: from MAGZP/ZP/FLUXMAG0/BUNIT).",
    ),
)

PREDICT_OPTIONS = params_of(
    click.argument("files", nargs=-1, type=click.Path(dir_okay=False)),
    click.option(
        "--catalog",
        type=click.Path(dir_okay=False),
        default=None,
        help="Catalogue naming the cutouts.",
    ),
    MODEL,
    click.option(
        "--out",
        required=True,
        type=click.Path(),
        help="Output table (.fits, .csv, .ecsv, .h5); for whole fields (deblend FIELD.fits) "
        "an output folder.",
    ),
    PREDICT_BATCH,
    SIZE_MODE,
    MISSING_BAND,
    FILE_COLUMN,
    TTA,
    click.option(
        "--jit",
        is_flag=True,
        help="XLA-compile the network (tf.function jit_compile): same outputs to float "
        "tolerance; usually faster on a GPU, measure it on a CPU.",
    ),
    *CONVERSION,
)

EVALUATE_OPTIONS = params_of(
    click.option(
        "--catalog",
        required=True,
        type=click.Path(dir_okay=False),
        help="Labelled catalogue (with the task's truth columns).",
    ),
    MODEL,
    click.option(
        "--report",
        required=True,
        type=click.Path(file_okay=False),
        help="Report folder: metrics.json, predictions.fits and PNG figures.",
    ),
    PREDICT_BATCH,
    *CONVERSION,
    MISSING_BAND,
    SIZE_MODE,
    FILE_COLUMN,
    TTA,
)

OVERWRITE_PARAM, QUIET_PARAM = params_of(OVERWRITE, QUIET)

SIMULATE_OPTIONS = params_of(
    click.option("--n", "n", type=click.IntRange(min=1), required=True, help="Number of objects."),
    click.option("--seed", type=int, default=0, show_default=True, help="Random seed."),
    click.option(
        "--out",
        type=click.Path(file_okay=False),
        required=True,
        help="Output folder (gets catalog.fits and cutouts/).",
    ),
    QUIET,
)


def _simulate(task, own, n, seed, out, quiet):
    from pathlib import Path

    from astrocnn.io.atomic import prepare_output_dir

    existed = Path(out).exists()
    outdir = prepare_output_dir(Path(out))
    try:
        table = task.simulate(n, seed, outdir, progress=not quiet, **own)
    except (ValueError, AstrocnnError) as exc:  # e.g. the checks of a survey file
        if not existed and not any(outdir.iterdir()):
            outdir.rmdir()  # nothing was simulated: leave nothing behind
        raise AstrocnnError(str(exc)) from None
    _log_to(quiet)(f"wrote {len(table)} objects to {outdir / 'catalog.fits'}")


_task_group(
    "simulate",
    SIMULATE_OPTIONS,
    _simulate,
    "Simulate a labelled training set for TASK (cutouts + catalog.fits).",
    "Simulate a labelled training set for TASK (cutouts + catalog.fits).",
)


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
    for line in summary.conversions:  # e.g. grey JPEGs replicated to R=G=B
        log(f"converted {line}")
    if summary.rejected:
        click.echo(
            f"astrocnn: warning: {len(summary.rejected)} row(s) not packed; first: "
            f"{summary.rejected[0]}",
            err=True,
        )


def _check_adapt_to(task, given):
    """``--adapt-to``: a task with pooled features and a readable catalogue, checked
    before any image is read."""
    if not given["adapt_to"]:
        return
    if task.spatial_targets:
        raise AstrocnnError(
            f"--adapt-to: the {task.name} network maps images to images and has no pooled "
            "features to align (classifiers and photo-z have)"
        )
    from astrocnn.io.catalog import read_catalog

    read_catalog(given["adapt_to"])


def _train(task, own, **given):
    from astrocnn.engine import train as engine
    from astrocnn.tasks.registry import model_path

    one_source(given)
    widths = parse_widths(given["widths"])
    quiet = given["quiet"]
    log = _log_to(quiet)
    if given["resume"] and _already_trained(given, log):
        return
    # a task option named like a training setting (e.g. extra_inputs) sets it;
    # the others are the task's target options
    settings = {k: own.pop(k) for k in list(own) if k in engine.TrainConfig.__dataclass_fields__}
    _check_adapt_to(task, given)
    # the truth first: a catalogue without it fails before any image is read
    data = read_training_set(
        task, given, log, lambda source: task.fit_targets(source.table, source.name, **own)
    )
    init_from = given["init_from"]
    config = engine.TrainConfig(
        epochs=given["epochs"],
        batch_size=given["batch_size"],
        val_fraction=given["val_fraction"],
        split_by=given["split_by"],
        seed=given["seed"],
        learning_rate=given["learning_rate"],
        architecture=given["arch"],
        widths=widths,
        convs_per_block=given["convs_per_block"],
        patience=given["patience"] or None,
        augmentation=given["augment"],
        band_dropout=given["band_dropout"],
        init_from=model_path(init_from, data.image_kind) if init_from else None,
        target_options=own,
        freeze_backbone=given["freeze_backbone"],
        head_epochs=given["head_epochs"],
        strategy=given["strategy"],
        precision=given["precision"],
        jit=given["jit"],
        resume=given["resume"],
        keep=given["keep"],
        adapt_to=given["adapt_to"],
        adapt=given["adapt"],
        adapt_weight=given["adapt_weight"],
        stated_contract={
            "pixel_scale": given["data_pixel_scale"],
            "zero_point": given["data_zero_point"],
        },
        overwrite=given["overwrite"],
        quiet=quiet,
        **settings,
    )
    out = given["out"]
    meta = engine.train(task, data, out, config, log=log)
    summary = ", ".join(
        f"{k}={v:.4f}"
        for k, v in meta["validation_metrics"].items()
        if isinstance(v, float) and k in task.summary_metrics
    )
    if not meta["written"]:
        log(f"done: this worker's share of the training (worker 0 writes {out})")
        return
    log(f"wrote {out}" + (f" (validation: {summary})" if summary else ""))


def _already_trained(given, log) -> bool:
    """``--resume`` of a run that finished (a resubmitted job script): say so, do nothing."""
    from astrocnn.engine.resume import finished_training

    run = {
        "data": given["packed"] or given["catalog"],
        "seed": given["seed"],
        "epochs": given["epochs"],
        "batch_size": given["batch_size"],
    }
    meta = finished_training(given["out"], run)
    if meta is None:
        return False
    log(f"already complete: {given['out']} ({meta['provenance']['epochs']} epochs)")
    return True


_task_group(
    "train",
    [*TRAIN_OPTIONS, OVERWRITE_PARAM, QUIET_PARAM],
    _train,
    "Train TASK's network on a catalogue of cutouts or a packed file.",
    "Train TASK's network on a catalogue of cutouts or a packed file.",
)


def _predict(
    task,
    own,
    files,
    pixel_scale,
    zero_point,
    flux_unit,
    band_map,
    axis_order,
    match_depth,
    depth_seed,
    catalog,
    model,
    out,
    batch_size,
    size_mode,
    missing_band,
    file_columns,
    tta,
    jit,
    overwrite,
    quiet,
    **batch,
):
    from astrocnn.engine.conversion import conversion_options
    from astrocnn.engine.modes import PredictRequest, run_predict

    request = PredictRequest(
        files=tuple(files),
        catalog=catalog,
        model=model,
        out=out,
        file_columns=tuple(file_columns),
        decode_options=own,
        batch_size=batch_size,
        size_mode=size_mode,
        missing_band=missing_band,
        tta=tta,
        jit=jit,
        overwrite=overwrite,
        quiet=quiet,
        conversion=conversion_options(
            pixel_scale, zero_point, flux_unit, band_map, axis_order, match_depth, depth_seed
        ),
    )
    batch = batch_values(batch)
    log = _log_to(quiet)
    if wants_batch(batch):
        outcome = _predict_batch(task, request, batch, log)
        if outcome is None:
            return
    else:
        outcome = run_predict(task, request, log=log)
    log(outcome.message)
    _exit_for_failures(outcome, bool(files))


PREDICT_HELP = """Predict TASK for FITS FILES or every row of a --catalog.

    The output keeps `id`, adds the task's columns, and a `status`/`reason`
    per row. With FILES, any unreadable file makes the exit code 1 (the good
    files are still written); with --catalog, bad rows are recorded and the
    exit code is 0 unless no row could be predicted.

    Tasks that work on whole images (deblend FIELD.fits --out DIR) detect
    sources with sep and predict a stamp around each; image-to-image tasks
    (paint) write one map per input into the --out folder.

    Batch runs (--scheduler, --workers, --partition-size or --resume) split
    the input into partitions predicted on Dask workers: a local cluster, a
    running scheduler, or SLURM/PBS jobs. Each finished partition is saved
    in OUT.parts/ and the parts are merged into OUT in catalogue order at the
    end; --resume finishes an interrupted run.
    """


_task_group(
    "predict",
    [*PREDICT_OPTIONS, *BATCH_OPTIONS, OVERWRITE_PARAM, QUIET_PARAM],
    _predict,
    PREDICT_HELP,
    "Predict TASK for FITS files or every row of a catalogue.",
)


def _predict_batch(task, request, batch, log):
    """Partitions on Dask workers (astrocnn.batch), or a job script for --dry-run."""
    from astrocnn.batch.clusters import JOBQUEUE_KINDS, job_script
    from astrocnn.batch.driver import predict_batch

    clusters = cluster_options(batch)
    if batch["dry_run"]:
        if clusters.scheduler not in JOBQUEUE_KINDS:
            raise AstrocnnError("--dry-run prints a job script: give --scheduler slurm or pbs")
        click.echo(job_script(clusters.scheduler, clusters.job), nl=False)
        return None
    return predict_batch(
        task,
        request,
        clusters,
        partition_size=batch["partition_size"],
        resume=batch["resume"],
        log=log,
    )


def _exit_for_failures(outcome, from_files):
    """Report failures: every one for files given on the command line (exit 1), the
    first for a catalogue (exit 1 only when nothing could be predicted)."""
    if from_files:
        for error in outcome.errors:
            click.echo(f"astrocnn: error: {error}", err=True)
    elif outcome.n_failed:
        first = f"; first: {outcome.errors[0]}" if outcome.errors else ""
        click.echo(
            f"astrocnn: warning: {outcome.n_failed} {outcome.unit}(s) failed (status "
            f"column){first}",
            err=True,
        )
    if (from_files and outcome.n_failed) or outcome.n_ok == 0:
        sys.exit(1)


def _evaluate(
    task,
    own,
    catalog,
    model,
    report,
    batch_size,
    pixel_scale,
    zero_point,
    flux_unit,
    band_map,
    axis_order,
    match_depth,
    depth_seed,
    missing_band,
    size_mode,
    file_columns,
    tta,
    overwrite,
    quiet,
):
    from astrocnn.engine.conversion import conversion_options
    from astrocnn.engine.evaluate import evaluate as run_evaluate
    from astrocnn.engine.predict import model_bands
    from astrocnn.engine.sources import from_catalog

    bands = model_bands(task, model)
    source = from_catalog(catalog, bands, task.input_columns(file_columns))
    results = run_evaluate(
        task,
        source,
        report,
        model=model,
        batch_size=batch_size,
        size_mode=size_mode,
        overwrite=overwrite,
        quiet=quiet,
        tta=tta,
        conversion=conversion_options(
            pixel_scale, zero_point, flux_unit, band_map, axis_order, match_depth, depth_seed
        ),
        missing_band=missing_band,
        log=_log_to(quiet),
        **own,
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


_task_group(
    "evaluate",
    [*EVALUATE_OPTIONS, OVERWRITE_PARAM, QUIET_PARAM],
    _evaluate,
    "Evaluate a TASK model on a labelled catalogue; write metrics and figures.",
    "Evaluate a model on a labelled catalogue; write metrics and figures.",
)


EMBED_OPTIONS = params_of(
    click.argument("files", nargs=-1, type=click.Path(dir_okay=False)),
    click.option(
        "--catalog", type=click.Path(dir_okay=False), default=None,
        help="Catalogue naming the cutouts.",
    ),
    MODEL,
    click.option(
        "--out", required=True, type=click.Path(dir_okay=False),
        help="Output table: id, file, embedding (vector column), status, reason.",
    ),
    PREDICT_BATCH,
    FILE_COLUMN,
)  # fmt: skip


def _embed(task, own, files, catalog, model, out, batch_size, file_columns, overwrite, quiet):
    from astrocnn.engine.embed import embed
    from astrocnn.engine.predict import cutout_source
    from astrocnn.engine.progress import progress_bar

    source = cutout_source(task, files, catalog, model, file_columns)
    log = _log_to(quiet)
    with progress_bar(len(source.paths), "embed", quiet) as advance:
        path, n_ok, errors = embed(task, source, out, model=model, batch_size=batch_size,
                                   overwrite=overwrite, progress=advance, log=log)  # fmt: skip
    log(f"wrote {path}: {n_ok} of {len(source.paths)} embedded")
    if errors:
        click.echo(f"astrocnn: warning: {len(errors)} row(s) failed; first: {errors[0]}", err=True)


_task_group(
    "embed",
    [*EMBED_OPTIONS, OVERWRITE_PARAM, QUIET_PARAM],
    _embed,
    "Write each object's learned representation (the network's pooled features).",
    "Write each object's learned representation (for similarity searches).",
)


@main.command()
@click.option(
    "--embeddings",
    required=True,
    type=click.Path(dir_okay=False),
    help="Table written by astrocnn embed.",
)
@click.option("--to", "to_id", required=True, help="The id of the query object.")
@click.option(
    "-k", type=click.IntRange(min=1), default=20, show_default=True, help="Neighbours to list."
)
@click.option(
    "--out",
    type=click.Path(dir_okay=False),
    default=None,
    help="Also write the list as a table (.fits, .csv, .ecsv).",
)
@click.option(
    "--gallery",
    type=click.Path(dir_okay=False),
    default=None,
    help="Also draw the query and its neighbours as a PNG gallery.",
)
@friendly_errors
def similar(embeddings, to_id, k, out, gallery):
    """List the K objects most similar to object TO in embedding space (cosine)."""
    from astrocnn.engine.embed import nearest, neighbour_gallery
    from astrocnn.io.catalog import write_table

    neighbours = nearest(embeddings, to_id, k)
    for row in neighbours:
        click.echo(f"{row['rank']:>4}  {row['id']!s:>12}  {row['distance']:.4f}  {row['file']}")
    if out:
        table = neighbours.copy()
        table.meta = {"QUERY": str(to_id)}
        write_table(table, out)
    if gallery:
        neighbour_gallery(neighbours, gallery)


@main.command()
@click.argument("model", required=False)
@click.option(
    "--system",
    is_flag=True,
    help="Print TensorFlow and Keras versions, devices, oneDNN, thread pools, the "
    "mixed-precision policy and XLA instead (no MODEL needed).",
)
@friendly_errors
def info(model, system):
    """Print the model card of MODEL (a .keras bundle, or a task name for its default)."""
    from pathlib import Path

    from astrocnn.io.bundle import format_model_card, read_meta
    from astrocnn.tasks.registry import model_path

    if system:
        from astrocnn.engine.system import format_system_report, system_report

        click.echo(format_system_report(system_report()))
        if model is None:
            return
    if model is None:
        raise AstrocnnError("info: give a MODEL (a .keras bundle or a task name), or --system")
    path = Path(model_path(model))
    click.echo(format_model_card(read_meta(path), path))
    card = path.with_suffix(".md")
    if card.exists():
        click.echo("\n" + card.read_text(encoding="utf-8").rstrip())


import astrocnn_cli.pretrain  # noqa: E402, F401  (registers astrocnn pretrain)

if __name__ == "__main__":  # pragma: no cover
    # the group the commands in other modules registered on (python -m loads this file twice)
    from astrocnn_cli.main import main as installed

    installed()
