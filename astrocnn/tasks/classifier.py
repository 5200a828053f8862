"""Shared behaviour of image classification tasks (softmax over named classes)."""

from __future__ import annotations

import numpy as np

from astrocnn.errors import CatalogError
from astrocnn.io.catalog import require_columns
from astrocnn.tasks.base import Task


class ClassifierTask(Task):
    """A task whose target is one class label per image.

    Subclasses fix :attr:`class_names` (labels are then the integers
    ``0..k-1``) or leave it empty to take the class names from the training
    catalogue's label column.
    """

    label_column = "label"
    class_names: tuple[str, ...] = ()
    augmentation = "d4"
    supports_tta = True

    @property
    def truth_columns(self):
        return (self.label_column,)

    def fit_targets(self, table, source):
        require_columns(table, [self.label_column], source)
        if self.class_names:
            return {"class_names": list(self.class_names), "label_column": self.label_column}
        labels = np.unique(np.asarray(table[self.label_column]).astype(str))
        return {"class_names": [str(x) for x in labels], "label_column": self.label_column}

    def targets(self, table, meta, source):
        require_columns(table, [self.label_column], source)
        values = np.asarray(table[self.label_column])
        names = meta["class_names"]
        if self.class_names:
            try:
                labels = values.astype(np.int64)
            except (TypeError, ValueError):
                raise CatalogError(
                    f"{source}: column {self.label_column!r} must hold integers 0..{len(names) - 1}"
                ) from None
            bad = np.flatnonzero((labels < 0) | (labels >= len(names)) | (labels != values))
        else:
            index = {n: i for i, n in enumerate(names)}
            text = values.astype(str)
            labels = np.array([index.get(t, -1) for t in text], dtype=np.int64)
            bad = np.flatnonzero(labels < 0)
        if bad.size:
            raise CatalogError(
                f"{source}: row {bad[0]}: label {values[bad[0]]!r} is not one of "
                f"{', '.join(map(str, range(len(names)) if self.class_names else names))}"
            )
        return labels

    def class_weights(self, targets, meta):
        counts = np.bincount(targets, minlength=len(meta["class_names"]))
        present = counts > 0
        weights = np.zeros(len(counts))
        weights[present] = counts.sum() / (present.sum() * counts[present])
        return {i: float(w) for i, w in enumerate(weights)}

    def build_model(self, input_shape, meta, options):
        from astrocnn.models.cnn import build_classifier

        return build_classifier(input_shape, len(meta["class_names"]), **options)

    def loss(self, meta):
        return "sparse_categorical_crossentropy"

    def train_metrics(self, meta):
        return ["sparse_categorical_accuracy"]
