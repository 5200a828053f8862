"""One dispatch point for ``astrocnn predict``: the task names the mode, this runs it.

A task's :meth:`~astrocnn.tasks.base.Task.prediction_mode` returns one of the
keys of :data:`PREDICTORS`:

``"cutouts"``
    one output table row per cutout (:mod:`astrocnn.engine.predict`);
``"fields"``
    whole images: sources detected, a stamp predicted around each
    (:mod:`astrocnn.engine.fields`);
``"maps"``
    one output map per input map, of any size (:mod:`astrocnn.engine.maps`).

Every predictor takes the same :class:`PredictRequest` and returns an
:class:`Outcome`, so callers (the command line, the batch driver) never
branch on a task or a mode.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from astrocnn.errors import AstrocnnError
from astrocnn.io.conversion import ConversionOptions


@dataclass
class PredictRequest:
    """What to predict, with which model, into which output, and how.

    Attributes
    ----------
    files : sequence of str
        Input files named on the command line (empty with ``catalog``).
    catalog : str or None
        Catalogue naming the inputs.
    model : str or None
        Model bundle (default: the task's shipped model).
    out : str
        Output table, or folder for map and field outputs.
    file_columns : sequence of str
        Catalogue columns naming the inputs (default: the task's).
    decode_options : dict
        The task's own ``predict`` options (e.g. a photo-z PDF grid).
    batch_size, size_mode, missing_band, tta, jit, overwrite, quiet
        As the command-line options of the same names.
    conversion : astrocnn.io.conversion.ConversionOptions
        The user's statements about the inputs (``--pixel-scale``,
        ``--zero-point``, ``--band-map``, ``--match-depth``, ``--axis-order``).
    """

    files: tuple = ()
    catalog: str | None = None
    model: str | None = None
    out: str = ""
    file_columns: tuple = ()
    decode_options: dict = field(default_factory=dict)
    batch_size: int = 256
    size_mode: str | None = None
    missing_band: str = "error"
    tta: bool = False
    jit: bool = False
    overwrite: bool = False
    quiet: bool = False
    conversion: ConversionOptions = field(default_factory=ConversionOptions)

    def whole_image_options(self) -> float | None:
        """The zero point for image-to-image and field modes, which convert fluxes
        only (refusing the per-cutout options)."""
        extra = [
            name
            for name, given in (
                ("--pixel-scale", self.conversion.pixel_scale is not None),
                ("--band-map", bool(self.conversion.band_map)),
                ("--match-depth", self.conversion.match_depth),
                ("--axis-order", self.conversion.axis_order != "auto"),
            )
            if given
        ]
        if extra:
            raise AstrocnnError(
                f"{', '.join(extra)} apply to cutouts; for whole images only --zero-point "
                "(or --flux-unit) converts the inputs"
            )
        return self.conversion.zero_point


@dataclass
class Outcome:
    """What a prediction run did, in the terms the caller reports.

    Attributes
    ----------
    n_items, n_ok : int
        Inputs (rows, maps or fields) and those predicted.
    errors : list of str
        One line per failed input (batch runs: the first few).
    message : str
        The summary line (what was written where).
    unit : str
        What an item is, for messages (``"row"``, ``"map"``, ``"field"``).
    n_failed : int or None
        Failed inputs, when there are more than ``errors`` lists.
    """

    n_items: int
    n_ok: int
    errors: list
    message: str
    unit: str = "row"
    n_failed: int | None = None

    def __post_init__(self):
        if self.n_failed is None:
            self.n_failed = len(self.errors)


def predict_cutouts(task, request: PredictRequest, log) -> Outcome:
    """One output row per cutout of ``request.files`` or ``request.catalog``."""
    from astrocnn.engine.predict import cutout_source, predict

    source = cutout_source(
        task, request.files, request.catalog, request.model, request.file_columns
    )
    summary = predict(
        task,
        source,
        request.out,
        model=request.model,
        batch_size=request.batch_size,
        size_mode=request.size_mode,
        overwrite=request.overwrite,
        quiet=request.quiet,
        tta=request.tta,
        decode_options=request.decode_options,
        missing_band=request.missing_band,
        jit=request.jit,
        conversion=request.conversion,
        log=log,
    )
    message = f"wrote {summary.out}: {summary.n_ok} of {summary.n_rows} predicted"
    return Outcome(summary.n_rows, summary.n_ok, summary.errors, message, "row")


def predict_maps(task, request: PredictRequest, log) -> Outcome:
    """Image-to-image prediction: ``OUT/<id>.fits`` per map and ``OUT/catalog.fits``."""
    from astrocnn.engine import maps
    from astrocnn.engine.predict import load_task_bundle
    from astrocnn.engine.progress import progress_bar

    bundle = load_task_bundle(
        task, request.model, zero_point=request.whole_image_options(), log=log
    )
    items = maps.map_items(
        request.files,
        request.catalog,
        bundle.meta["bands"],
        task.input_columns(request.file_columns),
    )
    with progress_bar(len(items), "predict", request.quiet) as advance:
        summary = maps.predict_maps(
            task,
            bundle,
            items,
            request.out,
            overwrite=request.overwrite,
            progress=advance,
            tta=request.tta,
        )
    message = f"wrote {summary.n_ok} of {summary.n_rows} maps to {request.out} ({summary.catalog})"
    return Outcome(summary.n_rows, summary.n_ok, summary.errors, message, "map")


def predict_fields(task, request: PredictRequest, log) -> Outcome:
    """Whole fields: one catalogue, segmentation map and stamp cubes per field."""
    from astrocnn.engine.fields import predict_fields as run_fields
    from astrocnn.engine.predict import load_task_bundle

    out_dir = Path(request.out)
    if out_dir.exists() and not out_dir.is_dir():
        raise AstrocnnError(f"{request.out}: for fields, --out must be a folder")
    bundle = load_task_bundle(
        task, request.model, zero_point=request.whole_image_options(), log=log
    )
    errors, n_ok = [], 0
    options = dict(batch_size=request.batch_size, overwrite=request.overwrite, tta=request.tta)
    for _, summary in run_fields(task, bundle, request.files, out_dir, log=log, **options):
        if isinstance(summary, AstrocnnError):
            errors.append(str(summary))
            continue
        n_ok += 1
        others = [p.name for p in [summary.stamps, *summary.maps] if p is not None]
        log(f"wrote {summary.catalog} ({summary.n_sources} sources), " + ", ".join(others))
    message = f"{n_ok} of {len(request.files)} field(s) predicted into {out_dir}"
    return Outcome(len(request.files), n_ok, errors, message, "field")


PREDICTORS = {"cutouts": predict_cutouts, "fields": predict_fields, "maps": predict_maps}


def run_predict(task, request: PredictRequest, log=print) -> Outcome:
    """Predict ``request`` in the mode the task names for it."""
    if bool(request.files) == bool(request.catalog):
        raise AstrocnnError("give FITS files or --catalog (not both)")
    mode = task.prediction_mode(bool(request.files))
    return PREDICTORS[mode](task, request, log)
