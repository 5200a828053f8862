"""The contract between a science task and the shared engine.

The engine (train, predict, evaluate, pack, simulate) never branches on a
task's name: everything that differs between tasks is an attribute or a
method of a :class:`Task`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from astrocnn.sim.surveys import SURVEY_NAMES

COMMANDS = ("simulate", "train", "predict", "evaluate")


@dataclass(frozen=True)
class TaskOption:
    """A command-line option that one task (or a few) takes.

    The command line builds a click option from it (``--`` plus ``name``
    with dashes), listed only under the task that declares it, so a new
    task never edits the command-line layer.

    Parameters
    ----------
    name : str
        Keyword name of the value (``"mdn_components"`` is ``--mdn-components``).
    commands : tuple of str
        The commands that take it (of :data:`COMMANDS`).
    help : str
        One or two sentences for ``--help``.
    type : type or tuple of str
        ``str``, ``int``, ``float`` or ``bool`` (a flag), or the allowed choices.
    default : object
        Value when not given (``None``: the task's own default applies).
    minimum, maximum : float, optional
        Allowed range of a number (inclusive; ``minimum_open`` excludes the minimum).
    parse : callable, optional
        Turns the command-line text into the value; raises ``ValueError``
        with a reason for bad text.
    metavar : str, optional
        How ``--help`` shows the value.
    loss_only : bool
        A ``train`` option that only shapes the loss: a model trained with
        another value has the same outputs, so it can warm-start.
    spelling : str, optional
        The command-line spelling when it is not ``--`` plus ``name``.
    """

    name: str
    commands: tuple[str, ...]
    help: str
    type: object = str
    default: object = None
    minimum: float | None = None
    maximum: float | None = None
    minimum_open: bool = False
    parse: Callable[[str], object] | None = None
    metavar: str | None = None
    loss_only: bool = False
    spelling: str | None = None

    @property
    def flag(self) -> str:
        """The command-line spelling (default ``--name-with-dashes``)."""
        return self.spelling or "--" + self.name.replace("_", "-")


def comma_list(text: str) -> list[str]:
    """Parse ``"a, b,c"`` into ``["a", "b", "c"]`` (empty items dropped)."""
    return [item.strip() for item in text.split(",") if item.strip()]


def number_range(text: str) -> tuple[float, float]:
    """Parse ``"low,high"`` into two floats with ``low <= high``."""
    parts = comma_list(text)
    try:
        low, high = (float(p) for p in parts)
    except ValueError:
        raise ValueError(f"expected LOW,HIGH (two numbers), got {text!r}") from None
    if not low <= high:
        raise ValueError(f"expected LOW <= HIGH, got {text!r}")
    return low, high


def positive_range(text: str) -> tuple[float, float]:
    """`number_range` of positive numbers."""
    low, high = number_range(text)
    if low <= 0:
        raise ValueError(f"expected positive numbers, got {text!r}")
    return low, high


# A simulator's survey set-up: every simulator of sky images takes these (see
# astrocnn.sim.surveys); ``survey_of`` turns their values into a Survey.
SURVEY_OPTIONS = (
    TaskOption(
        "survey",
        ("simulate",),
        "Render the cutouts as this survey takes them: its bands, pixel scale, seeing, "
        "depths and zero point (presets: " + ", ".join(SURVEY_NAMES) + "; table in "
        "docs/surveys.md). Default: the simulator's own set-up (that of the default model).",
        type=SURVEY_NAMES,
    ),
    TaskOption(
        "survey_file",
        ("simulate",),
        "Your own survey as a YAML file (name, pixel_scale, zero_point, reference_band, "
        "seeing_range and per band wavelength, depth, sky, fwhm; see docs/surveys.md).",
        metavar="YAML",
    ),
    TaskOption(
        "survey_bands",
        ("simulate",),
        "Render only these of the survey's bands, in this order (comma-separated; "
        "default: all of them).",
        parse=comma_list,
        metavar="BANDS",
        spelling="--bands",
    ),
    TaskOption(
        "seeing_range",
        ("simulate",),
        "Draw each object's PSF FWHM [arcsec] in the survey's reference band uniformly "
        "from LOW,HIGH (default: the survey's range); needs --survey or --survey-file.",
        parse=positive_range,
        metavar="LOW,HIGH",
    ),
    TaskOption(
        "depth_range",
        ("simulate",),
        "Offset each object's depths by a uniform draw from LOW,HIGH magnitudes "
        "(positive: deeper; default 0,0); needs --survey or --survey-file.",
        parse=number_range,
        metavar="LOW,HIGH",
    ),
)


def survey_of(
    survey=None, survey_file=None, seeing_range=None, depth_range=None, survey_bands=None
):
    """The `astrocnn.sim.surveys.Survey` the ``SURVEY_OPTIONS`` values name, or None.

    Raises
    ------
    ValueError
        A range or band list without a survey, an unknown preset or band, or a bad
        survey file.
    """
    from astrocnn.sim.surveys import get_survey

    if survey is None and survey_file is None:
        if seeing_range or depth_range or survey_bands:
            raise ValueError(
                "--seeing-range, --depth-range and --bands need --survey or --survey-file"
            )
        return None
    found = get_survey(survey, survey_file, seeing_range, depth_range)
    return found.select(survey_bands) if survey_bands else found


BASELINE_TRAIN = TaskOption(
    "baseline_train",
    ("evaluate",),
    "Labelled catalogue to fit the classical baseline on (default: cross-validation on --catalog).",
    metavar="CATALOG",
)


class Task:
    """Base class of a science task.

    Subclasses set the class attributes and implement the methods that
    raise :class:`NotImplementedError`.

    Attributes
    ----------
    name : str
        Registry name, also stored in every bundle.
    summary : str
        One line for ``--help``.
    bands : tuple of str
        Default band names and order.
    input_size : tuple of int or None
        Default ``(H, W)`` of the network input; ``None``: the size of the
        catalogue's first input (image-to-image tasks that take any size).
    augmentation : str
        Training augmentation (see :mod:`astrocnn.data.augment`).
    supports_tta : bool
        Whether test-time augmentation (the 8 flips/90-degree rotations of
        the input, outputs combined by :meth:`combine_views`) is meaningful.
    options : tuple of TaskOption
        The command-line options only this task takes (``astrocnn train
        TASK --help`` lists them beside the common ones). Their values reach
        the task's own methods: ``simulate`` options :meth:`simulate`,
        ``train`` options :meth:`fit_targets` (or the training engine, for
        a name that is one of its settings, e.g. ``extra_inputs``),
        ``predict`` options :meth:`decode`, :meth:`output_columns` and
        :meth:`output_header`, ``evaluate`` options the evaluation engine.
    fitted_target_keys : tuple of str
        Keys of the :meth:`fit_targets` metadata fitted on the training
        targets (a target scaling); a warm start keeps the source's.
    summary_metrics : tuple of str
        Validation metrics printed after training.
    spatial_targets : bool
        Targets are images aligned with the input (augmented with it).
    decode_uses_inputs : bool
        :meth:`decode` also receives the input images (``inputs=``, in the
        units of the files), e.g. to apply predicted flux fractions.
    image_outputs : tuple of str
        Decoded outputs that are images, written as FITS files beside the
        output table (one per row) rather than as table columns.
    architecture_name : str or None
        Network family recorded in the bundle when the task fixes it (e.g.
        ``"unet"``); ``None`` records ``--arch``.
    default_architecture : str
        The backbone ``train`` and ``pretrain`` build when ``--arch`` is not
        given (``"cnn"`` or ``"resnet"``): the recipe measured best for the task.
    default_file_columns : tuple of str
        Catalogue column(s) naming the inputs when the user gives none
        (empty: ``file`` or ``file_<band>``).
    split_groups : str or None
        Catalogue column whose rows are not independent (e.g. maps cut from
        one simulated box): when the training catalogue has it, rows with
        equal values stay on one side of the validation split
        (:mod:`astrocnn.data.split`; ``train --split-by`` overrides).
    """

    name = ""
    summary = ""
    bands: tuple[str, ...] = ()
    input_size: tuple[int, int] | None = (64, 64)
    augmentation = "none"
    options: tuple[TaskOption, ...] = ()
    fitted_target_keys: tuple[str, ...] = ()
    supports_tta = False
    spatial_targets = False
    decode_uses_inputs = False
    image_outputs: tuple[str, ...] = ()
    default_file_columns: tuple[str, ...] = ()
    architecture_name: str | None = None
    default_architecture = "cnn"
    split_groups: str | None = None
    summary_metrics: tuple[str, ...] = ()

    def input_columns(self, given=()) -> list[str] | None:
        """The catalogue columns naming the inputs: ``given`` (``--file-column``), else
        :attr:`default_file_columns`, else ``None`` (``file`` or ``file_<band>``)."""
        return list(given or ()) or list(self.default_file_columns) or None

    def options_for(self, command: str) -> tuple[TaskOption, ...]:
        """This task's options of ``command`` (``simulate``, ``train``, ...)."""
        return tuple(o for o in self.options if command in o.commands)

    @property
    def loss_options(self) -> tuple[str, ...]:
        """Names of the training options that only shape the loss (a model
        trained with other values has the same outputs, so it can warm-start)."""
        return tuple(o.name for o in self.options if o.loss_only)

    def prediction_mode(self, from_files: bool) -> str:
        """How ``predict`` runs this task (:data:`astrocnn.engine.modes.PREDICTORS`).

        ``"cutouts"``: one table row per cutout; ``"fields"``: detect sources
        in whole images and predict a stamp around each; ``"maps"``: one
        output map per input map, of any size. ``from_files`` tells whether
        the inputs are files named on the command line (else a catalogue).
        """
        return "cutouts"

    def detect_sources(self, image, *, thresh: float, minarea: int):
        """Detect sources on a 2-D detection image (tasks with the ``"fields"`` mode).

        Returns
        -------
        objects : structured array
            One row per source, with (at least) 0-based ``x`` and ``y`` columns.
        segmap : numpy.ndarray
            The segmentation map.
        """
        raise NotImplementedError(f"task {self.name!r} does not detect sources in fields")

    def keras_objects(self) -> dict:
        """Custom Keras classes this task's saved networks need to load
        (``{name: class}``), beyond astrocnn's shared layers."""
        return {}

    # --- targets and model -------------------------------------------------
    def truth_columns(self, meta: dict) -> tuple:
        """Catalogue columns holding the truth for a model with ``meta``."""
        return ()

    def fit_targets(self, table, source: str, **options) -> dict:
        """Inspect training truth; return metadata to store (e.g. class names).

        ``options`` are task-specific target options given by the user
        (for classifiers: ``class_names``).
        """
        return {}

    def targets(self, table, meta: dict, source: str):
        """Return the training/evaluation targets for every row of ``table``."""
        raise NotImplementedError

    def fit_input_scaler(self, image_kind: str, images, seed: int = 0):
        """The input preprocessing fitted on training images (stored in the bundle):
        asinh for FITS, /255 for JPEG/PNG (:mod:`astrocnn.data.preprocess`)."""
        from astrocnn.data.preprocess import fit_scaler

        return fit_scaler(image_kind, images, seed=seed)

    def tile_network(self, bundle):
        """The network to run on tiles of a larger map (default: the bundle's)."""
        return bundle.model

    def validate_map(self, data, source: str):
        """Refuse input data the task's transforms cannot take (raise CutoutError)."""

    def build_model(self, input_shape, meta: dict, options: dict):
        """Build the (uncompiled) Keras model."""
        raise NotImplementedError

    def loss(self, meta: dict):
        """Keras loss."""
        raise NotImplementedError

    def train_metrics(self, meta: dict) -> list:
        """Keras metrics reported during training."""
        return []

    def class_weights(self, targets, meta: dict) -> dict | None:
        """Per-class loss weights, or ``None``."""
        return None

    def split_strata(self, targets, meta: dict):
        """One stratum per row for a stratified validation split (each stratum
        split in the requested fraction), or ``None`` for a plain random split."""
        return None

    # --- outputs -----------------------------------------------------------
    def output_columns(self, meta: dict, **options) -> dict:
        """``{column: description}`` of the columns :meth:`decode` returns."""
        raise NotImplementedError

    def combine_views(self, views, meta: dict):
        """Combine the raw outputs of the 8 D4 views of a batch into one output.

        Parameters
        ----------
        views : tf.Tensor, shape (8, n, ...)
            Raw network outputs, one slice per view.
        meta : dict
            Bundle metadata.

        Returns
        -------
        tf.Tensor, shape (n, ...)
            The mean, right for class probabilities; tasks whose raw outputs
            are not averages (mixture parameters) override this.
        """
        from astrocnn._tf import import_tensorflow

        return import_tensorflow().reduce_mean(views, axis=0)

    def decode(self, raw, meta: dict, **options) -> dict:
        """Turn raw network outputs into named catalogue columns.

        ``options`` are the task's ``predict`` options (:attr:`options`).
        """
        raise NotImplementedError

    def output_header(self, meta: dict, **options) -> dict:
        """Extra header cards of an output table (e.g. what a grid column means)."""
        return {}

    def start_field_maps(self, height: int, width: int, prefix: Path):
        """An accumulator of field-sized maps for a field run, or ``None``.

        It must have ``add(source_id, x, y, x0, y0, products)`` (called per
        source with its stamp's image products; ``(x0, y0)`` is the stamp's
        first pixel in the field) and ``write(wcs, overwrite=False)``, given
        the field's celestial :class:`astropy.wcs.WCS` (or ``None``),
        returning the written paths (named ``<prefix>_<map>.fits``).
        """
        return None

    # --- evaluation and simulation -------------------------------------------
    def evaluate(self, truth, decoded: dict, meta: dict, *, table=None, baseline=None) -> dict:
        """Science metrics from truth targets and decoded outputs.

        ``table`` holds the evaluated rows of the catalogue; ``baseline`` is
        what :meth:`baseline` returned, to be scored the same way.
        """
        raise NotImplementedError

    def baseline(self, table, meta: dict, train_table=None, load_images=None):
        """Predictions of a classical (non-CNN) method for the rows of ``table``.

        Returned object is passed to :meth:`evaluate` and :meth:`plots`;
        ``None`` (the default) means the task has no baseline.
        ``train_table`` is a labelled catalogue to fit the baseline on;
        ``load_images(rows)`` returns the rows' cutouts (N, H, W, C).
        """
        return None

    def headline_metric(self) -> str:
        """Validation metric used to pick the best epoch's summary."""
        return "loss"

    def plots(
        self,
        truth,
        decoded: dict,
        table,
        load_images,
        outdir: Path,
        meta: dict,
        *,
        baseline=None,
        scores=None,
    ) -> list:
        """Write evaluation figures into ``outdir``; return their paths.

        ``scores`` is what :meth:`evaluate` returned for the same rows, so
        figures reuse its numbers instead of computing them again.
        """
        return []

    def simulate(
        self,
        n: int,
        seed: int,
        outdir: Path,
        *,
        progress: bool = False,
        image_format="fits",
        **options,
    ):
        """Simulate a training set in ``image_format`` (FITS unless the task
        declares a ``image_format`` option); return its catalogue. ``options``:
        the task's ``simulate`` options."""
        raise NotImplementedError

    # --- default model ------------------------------------------------------
    def default_model(self, image_kind: str = "fits") -> Path:
        """Path of the default model shipped inside the package for images of
        ``image_kind``: a task may ship one for JPEG/PNG colour composites too
        (``<task>_jpeg.keras``); otherwise its FITS model answers for both."""
        folder = resources.files("astrocnn") / "default_models"
        if image_kind == "raster" and (folder / f"{self.name}_jpeg.keras").is_file():
            return Path(str(folder / f"{self.name}_jpeg.keras"))
        return Path(str(folder / f"{self.name}.keras"))
