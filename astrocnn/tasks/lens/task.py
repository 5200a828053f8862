"""Strong-lens finding: is there a strongly lensed source around this galaxy?

Binary classification of multi-band survey cutouts (Jacobs et al. 2017;
Metcalf et al. 2019, the Strong Lens Finding Challenge).  Output column
``p_lens`` is the network's softmax probability of the ``lens`` class.
Evaluation follows the challenge: AUROC, TPR0 and TPR10.
"""

from __future__ import annotations

import numpy as np

from astrocnn.errors import AstrocnnError
from astrocnn.tasks.base import SURVEY_OPTIONS, TaskOption, survey_of
from astrocnn.tasks.classification import metrics
from astrocnn.tasks.classification.task import LABEL_SMOOTHING, ClassifierTask

FPR = TaskOption(
    "fpr",
    ("predict",),
    "Also write is_lens: p_lens at or above the threshold that gave this false-positive "
    "rate on the model's held-out simulations (stored in the bundle; 0.01 or 0.1).",
    type=float,
    minimum=0,
    maximum=1,
    minimum_open=True,
)

# the survey set-up of simulated cutouts (simulate only: predict and evaluate have their
# own shared --pixel-scale / --zero-point options, for the files they read)
SIMULATE_OPTIONS = (
    TaskOption(
        "pixel_scale",
        ("simulate",),
        "Pixel scale of the simulated cutouts [arcsec/pixel] (default 0.2, or the "
        "survey's). The sky noise per pixel follows, at the same depths.",
        type=float,
        minimum=0,
        minimum_open=True,
        metavar="ARCSEC",
    ),
    TaskOption(
        "size",
        ("simulate",),
        "Side of the simulated cutouts [pixels] (default 64, the default model's input).",
        type=int,
        minimum=16,
        metavar="PIXELS",
    ),
    TaskOption(
        "zero_point",
        ("simulate",),
        "AB magnitude zero point of the simulated images' unit (default 30, or the "
        "survey's): fluxes and noise scale with it, the magnitudes stay.",
        type=float,
        metavar="MAG",
    ),
    TaskOption(
        "depth_offset",
        ("simulate",),
        "Make the simulated survey this many magnitudes deeper (negative: shallower) than "
        "the default depths, or than each object's drawn depth with --survey (default 0): "
        "the noise sigma scales by 10**(-0.4 offset).",
        type=float,
        metavar="MAG",
    ),
    TaskOption(
        "population",
        ("simulate",),
        "Galaxies of the simulated cutouts: classic (smooth Sersic galaxies, those the "
        "default model was trained on) or rich (the shared galaxy population: compact, "
        'clumpy lensed sources down to 0.1", deflectors and non-lenses with bulges, disks, '
        "bars, spiral arms and knots, a size-magnitude relation).",
        type=("classic", "rich"),
        default="classic",
    ),
)


def stored_operating_points(meta) -> list:
    """The operating points stored in the bundle: measured on held-out simulations
    after training (``operating_points``, the shipped models) or on the validation
    split during training."""
    validation = (meta.get("validation_metrics") or {}).get("operating_points")
    return list(meta.get("operating_points") or validation or [])


def stored_thresholds(meta) -> dict:
    """``{name: threshold}``: the bundle's decision threshold and its stored operating
    points (``fpr_0.01``, ...)."""
    thresholds = {"0.5": float(meta.get("threshold", 0.5))}
    for point in stored_operating_points(meta):
        thresholds[f"fpr_{point['fpr_target']:g}"] = float(point["threshold"])
    return thresholds


def _operating_point(meta, fpr):
    for point in stored_operating_points(meta):
        if abs(point["fpr_target"] - fpr) < 1e-9:
            return point
    stored = ", ".join(f"{p['fpr_target']:g}" for p in stored_operating_points(meta))
    raise AstrocnnError(
        f"--fpr {fpr:g}: the model stores thresholds at false-positive rates "
        f"{stored or '(none: retrain it with this version)'}"
    )


class LensTask(ClassifierTask):
    """Lens (label 1) versus non-lens (label 0) classification."""

    name = "lens"
    summary = "strong-lens finding: lens / non-lens classification"
    bands = ("g", "r", "i", "z")
    input_size = (64, 64)
    class_names = ("non-lens", "lens")
    # the two classes are fixed
    options = (FPR, LABEL_SMOOTHING, *SIMULATE_OPTIONS, *SURVEY_OPTIONS)
    summary_metrics = ("auroc", "tpr0", "tpr10")

    def output_columns(self, meta, fpr=None, **options):
        columns = {"p_lens": "probability that the cutout holds a strong lens"}
        if fpr is not None:
            point = _operating_point(meta, fpr)
            columns["is_lens"] = (
                f"p_lens >= {point['threshold']:.6g}, the threshold of false-positive rate "
                f"{fpr:g} on the model's held-out simulations"
            )
        return columns

    def output_header(self, meta, fpr=None, **options):
        if fpr is None:
            return {}
        point = _operating_point(meta, fpr)
        # is_lens's false-positive rate and completeness on held-out simulations
        return {
            "LENSFPR": float(fpr),
            "LENSTHR": float(point["threshold"]),
            "LENSCMP": float(point["completeness"]),
        }

    def decode(self, raw, meta, fpr=None, **options):
        p_lens = np.asarray(raw, dtype=np.float32)[:, 1]
        if fpr is None:
            return {"p_lens": p_lens}
        return {"p_lens": p_lens, "is_lens": p_lens >= _operating_point(meta, fpr)["threshold"]}

    def evaluate(self, truth, decoded, meta, *, table=None, baseline=None):
        """Challenge metrics and the operating points of these rows (both classes), or
        the recall / false-positive rate at the stored thresholds (one class: a
        catalogue of known lenses, or of non-lenses)."""
        score = decoded["p_lens"]
        thresholds = stored_thresholds(meta)
        if np.unique(truth).size < 2:
            return metrics.one_class_report(truth, score, thresholds)
        report = metrics.binary_report(truth, score, threshold=meta.get("threshold", 0.5))
        report["operating_points"] = metrics.operating_points(truth, score)
        positives, negatives = score[truth == 1], score[truth == 0]
        for name, threshold in thresholds.items():
            if name != "0.5":
                report[f"recall_at_{name}"] = float(np.mean(positives >= threshold))
                report[f"fpr_at_{name}"] = float(np.mean(negatives >= threshold))
        return report

    def headline_metric(self):
        return "auroc"

    def plots(
        self, truth, decoded, table, load_images, outdir, meta, *, baseline=None, scores=None
    ):
        from astrocnn.tasks.classification import plots

        score = decoded["p_lens"]
        threshold = meta.get("threshold", 0.5)
        written = [outdir / "score_histograms.png"]
        if np.unique(truth).size == 2:  # a ROC curve needs both classes
            written.append(outdir / "roc.png")
            plots.plot_roc(truth, score, written[-1], title="Strong-lens finding: ROC")
        plots.plot_score_histograms(
            truth, score, written[0], class_names=self.class_names, threshold=threshold
        )
        ids = np.asarray(table["id"])
        for name, cls, order in (("false_positives", 0, -1), ("false_negatives", 1, 1)):
            rows = np.flatnonzero(truth == cls)
            rows = rows[np.argsort(order * score[rows], kind="stable")][:24]
            path = outdir / f"gallery_{name}.png"
            title = "highest-scored non-lenses" if cls == 0 else "lowest-scored lenses"
            plots.plot_gallery(
                load_images(rows),
                [f"id {ids[r]}  p={score[r]:.3f}" for r in rows],
                path,
                bands=meta.get("bands"),
                suptitle=title,
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
        pixel_scale=None,
        size=None,
        zero_point=None,
        depth_offset=None,
        population="classic",
        **survey_options,
    ):
        """Simulate a training set (`astrocnn.tasks.lens.simulate.simulate_lens`);
        options left at ``None`` take the simulator's defaults (``size``: the input
        size of the task). With a survey (``survey`` or ``survey_file``, see
        `astrocnn.tasks.base.survey_of`) the cutouts have all of its bands, its pixel
        scale and zero point, unless ``pixel_scale`` / ``zero_point`` are given.
        ``population`` picks the galaxies: ``"classic"`` (those of the default model)
        or ``"rich"`` (the shared population, `astrocnn.sim.population`).

        Raises
        ------
        ValueError
            A range without a survey, an unknown preset or band, or a bad survey file.
        """
        from astrocnn.tasks.lens.simulate import simulate_lens

        preset = survey_of(**survey_options)
        setup = dict(pixel_scale=pixel_scale, zero_point=zero_point, depth_offset=depth_offset)
        return simulate_lens(
            n,
            seed,
            outdir,
            size=self.input_size[0] if size is None else size,
            # the task's bands are the default model's; a survey brings its own
            bands=self.bands if preset is None else None,
            survey=preset,
            population=population,
            progress=progress,
            **{k: v for k, v in setup.items() if v is not None},
        )
