"""Galaxy morphology: Galaxy Zoo style classes from FITS or JPEG/PNG cutouts.

Multi-class classification with class names taken from the training
catalogue's ``label`` column (strings or integers), balanced class weights,
and rotation invariance learnt from D4 + small-rotation + zoom augmentation
(Dieleman et al. 2015), optionally enforced at prediction time by averaging
over the 8 D4 views (``--tta``).  Outputs ``class`` (the predicted name) and
``p_<class>`` per class.  Evaluation: accuracy, balanced accuracy, per-class
precision/recall/F1, confusion matrix and calibration (Guo et al. 2017).

With ``fraction_columns`` (``astrocnn train morphology --fraction-columns
P_EL,P_CS,...``) the network instead regresses the volunteers' vote fractions,
one output per column, with a mean-squared-error loss and the RMSE as the
score, as Dieleman et al. (2015) did for the Galaxy Zoo challenge.  A softmax
output is used when the fractions of every row sum to one (one question, as
in Galaxy Zoo 1), independent sigmoids otherwise.  Outputs are then
``frac_<column>`` and ``class`` (the column with the largest fraction).
"""

from __future__ import annotations

import re
from dataclasses import replace

import numpy as np

from astrocnn.sim.surveys import SURVEY_NAMES
from astrocnn.tasks.base import SURVEY_OPTIONS, TaskOption, comma_list, survey_of
from astrocnn.tasks.classification import metrics
from astrocnn.tasks.classification.task import CLASSES, LABEL_SMOOTHING, ClassifierTask


def probability_column(class_name: str) -> str:
    """Column name of a class probability: ``p_`` + the name made identifier-safe."""
    return "p_" + re.sub(r"\W+", "_", str(class_name)).strip("_")


def _fractions(table, columns, source):
    """Vote fractions (n, k) from catalogue columns, checked to lie in [0, 1]."""
    from astrocnn.errors import CatalogError
    from astrocnn.io.catalog import require_columns

    require_columns(table, columns, source)
    values = np.stack(
        [np.ma.filled(np.asarray(table[c], dtype=float), np.nan) for c in columns], axis=1
    )
    bad = np.flatnonzero(~np.all(np.isfinite(values) & (values >= 0) & (values <= 1), axis=1))
    if bad.size:
        raise CatalogError(
            f"{source}: row {bad[0]}: vote fractions must be numbers in [0, 1] "
            f"(got {', '.join(f'{v:g}' for v in values[bad[0]])})"
        )
    return values.astype(np.float32)


def _simulated_classes(text: str) -> list[str]:
    """``--classes`` of ``simulate``: two or more distinct simulator classes."""
    from astrocnn.tasks.morphology.simulate import CLASSES as SIM_CLASSES

    names = comma_list(text)
    unknown = [n for n in names if n not in SIM_CLASSES]
    if unknown or len(set(names)) < 2 or len(set(names)) != len(names):
        raise ValueError(
            f"give two or more distinct classes of {', '.join(SIM_CLASSES)} (got {text!r})"
        )
    return names


# the shared --survey with the simulator's own set-up (that of the shipped default model)
# as the default and first choice
SURVEY = replace(
    SURVEY_OPTIONS[0],
    type=("decals", *SURVEY_NAMES),
    default="decals",
    help="Imaging set-up: decals (the simulator's own DECaLS-like g, r, i at 0.262\"/px, "
    '1.0-1.5" seeing, on which the default model was trained; real DECaLS has no i band) '
    "or a survey preset (" + ", ".join(SURVEY_NAMES) + "; docs/surveys.md): its bands, "
    "pixel scale, zero point, seeing and depths. The galaxy sample follows the depth: "
    "sdss draws the bright Galaxy Zoo-like sample, des and kids the decals one, hsc, lsst "
    "and euclid a fainter one (r 16-20). euclid has no g, r, i: FITS only. "
    "--seeing-range and --depth-range apply to the presets and survey files, not to decals; "
    "--bands picks of g, r, i, z for decals.",
)


def _survey_setup(survey, survey_file, seeing_range, depth_range):
    """What `simulate_morphology` takes as ``survey``: ``"decals"`` (the own set-up) or
    the shared `~astrocnn.sim.surveys.Survey` the options name."""
    if survey == "decals" and survey_file is None:
        if seeing_range or depth_range:
            raise ValueError(
                "--seeing-range and --depth-range need a survey preset or --survey-file "
                "(the default decals set-up is the simulator's own, with fixed ranges)"
            )
        return "decals"
    # a survey file wins over --survey (whose default is decals); --bands goes to the
    # simulator, which draws the seeing of the reference band even when it is not rendered
    named = None if survey == "decals" else survey
    return survey_of(named, survey_file, seeing_range, depth_range)


class MorphologyTask(ClassifierTask):
    """Galaxy Zoo style morphology classification (user-defined classes)."""

    name = "morphology"
    summary = "galaxy morphology: Galaxy Zoo style classes, rotation invariant"
    bands = ("g", "r", "i")
    input_size = (64, 64)
    augmentation = "d4-rotzoom"
    # the recipe that won benchmarks/bench_real_recipe.py (SDSS-like JPEGs, docs/real_recipe.json)
    default_architecture = "resnet"
    options = (
        CLASSES,
        replace(LABEL_SMOOTHING, default=0.1),
        TaskOption(
            "fraction_columns",
            ("train",),
            "Regress these vote-fraction columns (comma-separated) instead of classifying "
            "the label column (Dieleman+15).",
            parse=comma_list,
            metavar="COLUMNS",
        ),
        TaskOption(
            "image_format",
            ("simulate",),
            "Image format of the simulated cutouts (jpeg/png: 8-bit colour composites).",
            type=("fits", "jpeg", "png"),
            default="fits",
            spelling="--format",
        ),
        SURVEY,
        *SURVEY_OPTIONS[1:],
        TaskOption(
            "size",
            ("simulate",),
            "Side of the simulated cutouts [pixels] (default 64; Galaxy Zoo's SDSS images "
            "are 423).",
            type=int,
            minimum=16,
            metavar="PIXELS",
        ),
        TaskOption(
            "pixel_scale",
            ("simulate",),
            "Pixel scale [arcsec/pixel] (default: the survey's); the noise per pixel "
            "follows at the survey's depths.",
            type=float,
            minimum=0,
            minimum_open=True,
            metavar="ARCSEC",
        ),
        TaskOption(
            "classes",
            ("simulate",),
            "Comma-separated classes to draw, of elliptical, spiral, edge_on, merger "
            "(default: all four).",
            parse=_simulated_classes,
            metavar="NAMES",
        ),
        TaskOption(
            "label_noise",
            ("simulate",),
            "Fraction of labels replaced by another class at random, as volunteers' "
            "mistakes (default 0); the catalogue keeps the simulated class as true_label.",
            type=float,
            minimum=0,
            maximum=0.99,
            metavar="FRACTION",
        ),
        TaskOption(
            "population",
            ("simulate",),
            "Galaxy models: classic (those the default models were trained on) or rich "
            "(each class drawn from the shared population: compact bulges, bulge + disk "
            "with varying B/T, bars, spiral arms, star-forming knots; same classes, "
            "sizes and colours).",
            type=("classic", "rich"),
            default="classic",
        ),
    )
    summary_metrics = ("accuracy", "balanced_accuracy", "rmse")

    # --- vote-fraction mode -------------------------------------------------
    def fit_targets(self, table, source, classes=None, fraction_columns=None, label_smoothing=None):
        if not fraction_columns:
            return super().fit_targets(
                table, source, classes=classes, label_smoothing=label_smoothing
            )
        fractions = _fractions(table, fraction_columns, source)
        sums_to_one = bool(np.allclose(fractions.sum(axis=1), 1.0, atol=0.02))
        return {
            "mode": "fractions",
            "class_names": list(fraction_columns),
            "fraction_activation": "softmax" if sums_to_one else "sigmoid",
        }

    def targets(self, table, meta, source):
        if meta.get("mode") != "fractions":
            return super().targets(table, meta, source)
        return _fractions(table, meta["class_names"], source)

    def class_weights(self, targets, meta):
        return None if meta.get("mode") == "fractions" else super().class_weights(targets, meta)

    def build_model(self, input_shape, meta, options):
        if meta.get("mode") != "fractions":
            return super().build_model(input_shape, meta, options)
        from astrocnn.models.cnn import build_classifier

        return build_classifier(
            input_shape,
            len(meta["class_names"]),
            activation=meta["fraction_activation"],
            **options,
        )

    def loss(self, meta):
        return "mean_squared_error" if meta.get("mode") == "fractions" else super().loss(meta)

    def train_metrics(self, meta):
        if meta.get("mode") == "fractions":
            from astrocnn._tf import import_keras

            return [import_keras().metrics.RootMeanSquaredError(name="rmse")]
        return super().train_metrics(meta)

    # --- outputs --------------------------------------------------------------
    def _column(self, name, meta):
        if meta.get("mode") == "fractions":
            return "frac_" + probability_column(name)[2:]
        return probability_column(name)

    def output_columns(self, meta, **options):
        what = "vote fraction" if meta.get("mode") == "fractions" else "probability of class"
        columns = {"class": "predicted class (highest output)"}
        for name in meta["class_names"]:
            columns[self._column(name, meta)] = f"{what} {name!r}"
        return columns

    def decode(self, raw, meta, **options):
        proba = np.asarray(raw, dtype=np.float32)
        names = np.asarray(meta["class_names"])
        decoded = {"class": names[np.argmax(proba, axis=1)]}
        for i, name in enumerate(meta["class_names"]):
            decoded[self._column(name, meta)] = proba[:, i]
        return decoded

    def _proba(self, decoded, meta):
        return np.stack([decoded[self._column(n, meta)] for n in meta["class_names"]], axis=1)

    def evaluate(self, truth, decoded, meta, *, table=None, baseline=None):
        if meta.get("mode") == "fractions":
            return metrics.fraction_report(truth, self._proba(decoded, meta), meta["class_names"])
        return metrics.multiclass_report(truth, self._proba(decoded, meta), meta["class_names"])

    def headline_metric(self):
        return "accuracy"

    def plots(
        self, truth, decoded, table, load_images, outdir, meta, *, baseline=None, scores=None
    ):
        from astrocnn.tasks.classification import plots

        names = meta["class_names"]
        proba = self._proba(decoded, meta)
        if meta.get("mode") == "fractions":
            path = outdir / "fractions_predicted_vs_true.png"
            plots.plot_predicted_vs_true(truth, proba, names, path)
            return [path]
        report = scores if scores is not None else self.evaluate(truth, decoded, meta)
        written = [outdir / "confusion_matrix.png", outdir / "reliability.png"]
        plots.plot_confusion_matrix(
            np.asarray(report["confusion_matrix"]), names, written[0], title="Morphology"
        )
        plots.plot_reliability(report, written[1], title="Morphology: calibration")
        predicted = np.argmax(proba, axis=1)
        wrong = np.flatnonzero(predicted != truth)
        wrong = wrong[np.argsort(-proba[wrong, predicted[wrong]], kind="stable")][:24]
        ids = np.asarray(table["id"])
        titles = [
            f"id {ids[r]}: {names[truth[r]]}→{names[predicted[r]]} {proba[r, predicted[r]]:.2f}"
            for r in wrong
        ]
        path = outdir / "gallery_confident_mistakes.png"
        plots.plot_gallery(
            load_images(wrong),
            titles,
            path,
            bands=meta.get("bands"),
            suptitle="most confident mistakes (true→predicted p)",
        )
        written.append(path)
        return written

    def simulate(
        self,
        n,
        seed,
        outdir,
        *,
        progress=False,
        image_format="fits",
        survey="decals",
        survey_file=None,
        survey_bands=None,
        seeing_range=None,
        depth_range=None,
        size=None,
        pixel_scale=None,
        classes=None,
        label_noise=0.0,
        population="classic",
    ):
        """Simulate a labelled set (`simulate_morphology`) in the set-up the options name.

        ``survey_bands`` (``--bands``) picks the rendered bands: of g, r, i, z for
        decals, of the survey's otherwise.

        Raises
        ------
        ValueError
            A bad survey set-up or argument.
        """
        from astrocnn.tasks.morphology.simulate import CLASSES as SIM_CLASSES
        from astrocnn.tasks.morphology.simulate import simulate_morphology

        return simulate_morphology(
            n,
            seed,
            outdir,
            size=size or self.input_size[0],
            pixel_scale=pixel_scale,
            bands=tuple(survey_bands) if survey_bands else None,
            image_format=image_format,
            progress=progress,
            survey=_survey_setup(survey, survey_file, seeing_range, depth_range),
            classes=tuple(classes) if classes else SIM_CLASSES,
            label_noise=label_noise or 0.0,
            population=population,
        )
