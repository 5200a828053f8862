"""Shared behaviour of image classification tasks (softmax over named classes)."""

from __future__ import annotations

import numpy as np

from astrocnn.errors import CatalogError
from astrocnn.io.catalog import require_columns
from astrocnn.tasks.base import Task, TaskOption, comma_list


def _label_text(column) -> np.ndarray:
    """Labels as stripped strings; masked or missing entries become ''."""
    if hasattr(column, "filled"):
        column = column.filled("" if column.dtype.kind in "USO" else -999999)
    values = [v.decode("utf-8", "replace") if isinstance(v, bytes) else str(v) for v in column]
    text = np.array([v.strip() for v in values], dtype=str)
    return np.where(text == "-999999", "", text)


CLASSES = TaskOption(
    "classes",
    ("train",),
    "Comma-separated class names in output order; any other label, or a class without "
    "examples, is an error (default: the labels found).",
    parse=comma_list,
    metavar="NAMES",
)


LABEL_SMOOTHING = TaskOption(
    "label_smoothing",
    ("train",),
    "Train towards (1 - e) on the labelled class and e/k spread over all k classes "
    "(Szegedy et al. 2016): calmer probabilities when some labels are wrong, as in "
    "volunteer catalogues (default 0).",
    type=float,
    minimum=0,
    maximum=0.5,
    metavar="E",
    loss_only=True,
)


def smoothed_crossentropy(smoothing: float, n_classes: int):
    """Cross-entropy of integer labels against probabilities, with label smoothing.

    Parameters
    ----------
    smoothing : float
        ``e``: the target is ``1 - e + e/k`` for the labelled class and ``e/k`` for
        the others.
    n_classes : int
        ``k``.

    Returns
    -------
    callable
        A Keras loss ``loss(y_true, y_pred)``.
    """
    from astrocnn._tf import import_keras

    keras = import_keras()
    crossentropy = keras.losses.CategoricalCrossentropy(label_smoothing=float(smoothing))

    def label_smoothed_crossentropy(y_true, y_pred):
        labels = keras.ops.cast(keras.ops.reshape(y_true, (-1,)), "int32")
        return crossentropy(keras.ops.one_hot(labels, n_classes), y_pred)

    return label_smoothed_crossentropy


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

    options = (CLASSES, LABEL_SMOOTHING)

    def truth_columns(self, meta):
        if meta.get("mode") == "fractions":
            return tuple(meta["class_names"])
        return (meta.get("label_column", self.label_column),)

    def fit_targets(self, table, source, classes=None, label_smoothing=None):
        """Class names: the task's fixed ones, the user's list, or the labels found.

        Parameters
        ----------
        table : astropy.table.Table
            Training catalogue.
        source : str
            Its name, for error messages.
        classes : sequence of str, optional
            The classes the user expects, in output order; a label outside
            them, or a class without examples, is an error.
        label_smoothing : float, optional
            Label smoothing of the training loss (recorded; see `smoothed_crossentropy`).
        """
        require_columns(table, [self.label_column], source)
        text = _label_text(table[self.label_column])
        empty = np.flatnonzero(text == "")
        if empty.size:
            raise CatalogError(
                f"{source}: row {empty[0]}: empty label in column {self.label_column!r}"
            )
        if self.class_names:
            names = list(self.class_names)
        elif classes:
            names = [str(c) for c in classes]
            unknown = np.flatnonzero(~np.isin(text, names))
            if unknown.size:
                raise CatalogError(
                    f"{source}: row {unknown[0]}: label {text[unknown[0]]!r} is not one of the "
                    f"classes given ({', '.join(names)})"
                )
            empty_classes = [n for n in names if not np.any(text == n)]
            if empty_classes:
                raise CatalogError(
                    f"{source}: class(es) {', '.join(empty_classes)} have no examples"
                )
        else:
            names = [str(x) for x in np.unique(text)]
        if len(names) < 2:
            raise CatalogError(f"{source}: only one class ({names[0]}); need at least two")
        meta = {"class_names": names, "label_column": self.label_column}
        if label_smoothing:
            meta["label_smoothing"] = float(label_smoothing)
        return meta

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
            text = _label_text(table[self.label_column])
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

    def split_strata(self, targets, meta):
        """The class of each row (or of its largest fraction): every class is
        validated in its own proportion."""
        targets = np.asarray(targets)
        return targets.argmax(axis=1) if targets.ndim == 2 else targets

    def build_model(self, input_shape, meta, options):
        from astrocnn.models.cnn import build_classifier

        return build_classifier(input_shape, len(meta["class_names"]), **options)

    def loss(self, meta):
        if meta.get("label_smoothing"):
            return smoothed_crossentropy(meta["label_smoothing"], len(meta["class_names"]))
        return "sparse_categorical_crossentropy"

    def train_metrics(self, meta):
        return ["sparse_categorical_accuracy"]
