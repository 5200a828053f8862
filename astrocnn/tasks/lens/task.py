"""Strong-lens finding: is there a strongly lensed source around this galaxy?

Binary classification of multi-band survey cutouts (Jacobs et al. 2017;
Metcalf et al. 2019, the Strong Lens Finding Challenge).  Output column
``p_lens`` is the network's softmax probability of the ``lens`` class.
Evaluation follows the challenge: AUROC, TPR0 and TPR10.
"""

from __future__ import annotations

import numpy as np

from astrocnn.tasks.classification import metrics
from astrocnn.tasks.classification.task import ClassifierTask


class LensTask(ClassifierTask):
    """Lens (label 1) versus non-lens (label 0) classification."""

    name = "lens"
    summary = "strong-lens finding: lens / non-lens classification"
    bands = ("g", "r", "i", "z")
    input_size = (64, 64)
    class_names = ("non-lens", "lens")
    options = ()  # the two classes are fixed
    summary_metrics = ("auroc", "tpr0", "tpr10")

    def output_columns(self, meta, **options):
        return {"p_lens": "probability that the cutout holds a strong lens"}

    def decode(self, raw, meta, **options):
        return {"p_lens": np.asarray(raw, dtype=np.float32)[:, 1]}

    def evaluate(self, truth, decoded, meta, *, table=None, baseline=None):
        return metrics.binary_report(truth, decoded["p_lens"], threshold=meta.get("threshold", 0.5))

    def headline_metric(self):
        return "auroc"

    def plots(
        self, truth, decoded, table, load_images, outdir, meta, *, baseline=None, scores=None
    ):
        from astrocnn.tasks.classification import plots

        score = decoded["p_lens"]
        threshold = meta.get("threshold", 0.5)
        written = [outdir / "roc.png", outdir / "score_histograms.png"]
        plots.plot_roc(truth, score, written[0], title="Strong-lens finding: ROC")
        plots.plot_score_histograms(
            truth, score, written[1], class_names=self.class_names, threshold=threshold
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

    def simulate(self, n, seed, outdir, *, progress=False, image_format="fits"):
        from astrocnn.tasks.lens.simulate import simulate_lens

        return simulate_lens(
            n, seed, outdir, size=self.input_size[0], bands=self.bands, progress=progress
        )
