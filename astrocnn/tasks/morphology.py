"""Galaxy morphology: Galaxy Zoo style classes from FITS or JPEG/PNG cutouts.

Multi-class classification with class names taken from the training
catalogue's ``label`` column (strings or integers), balanced class weights,
and rotation invariance learnt from D4 + small-rotation + zoom augmentation
(Dieleman et al. 2015), optionally enforced at prediction time by averaging
over the 8 D4 views (``--tta``).  Outputs ``class`` (the predicted name) and
``p_<class>`` per class.  Evaluation: accuracy, balanced accuracy, per-class
precision/recall/F1, confusion matrix and calibration (Guo et al. 2017).
"""

from __future__ import annotations

import re

import numpy as np

from astrocnn import metrics
from astrocnn.tasks.classifier import ClassifierTask


def probability_column(class_name: str) -> str:
    """Column name of a class probability: ``p_`` + the name made identifier-safe."""
    return "p_" + re.sub(r"\W+", "_", str(class_name)).strip("_")


class MorphologyTask(ClassifierTask):
    """Galaxy Zoo style morphology classification (user-defined classes)."""

    name = "morphology"
    summary = "galaxy morphology: Galaxy Zoo style classes, rotation invariant"
    bands = ("g", "r", "i")
    input_size = (64, 64)
    augmentation = "d4-rotzoom"
    simulate_formats = ("fits", "jpeg", "png")

    def output_columns(self, meta):
        columns = {"class": "predicted class (highest probability)"}
        for name in meta["class_names"]:
            columns[probability_column(name)] = f"probability of class {name!r}"
        return columns

    def decode(self, raw, meta):
        proba = np.asarray(raw, dtype=np.float32)
        names = np.asarray(meta["class_names"])
        decoded = {"class": names[np.argmax(proba, axis=1)]}
        for i, name in enumerate(meta["class_names"]):
            decoded[probability_column(name)] = proba[:, i]
        return decoded

    def _proba(self, decoded, meta):
        return np.stack([decoded[probability_column(n)] for n in meta["class_names"]], axis=1)

    def evaluate(self, truth, decoded, meta):
        return metrics.multiclass_report(truth, self._proba(decoded, meta), meta["class_names"])

    def headline_metric(self):
        return "accuracy"

    def plots(self, truth, decoded, table, load_images, outdir, meta):
        from astrocnn import plots

        names = meta["class_names"]
        proba = self._proba(decoded, meta)
        report = metrics.multiclass_report(truth, proba, names)
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

    def simulate(self, n, seed, outdir, *, progress=False, image_format="fits"):
        from astrocnn.sim.morphology import simulate_morphology

        return simulate_morphology(
            n,
            seed,
            outdir,
            size=self.input_size[0],
            bands=self.bands,
            image_format=image_format,
            progress=progress,
        )
