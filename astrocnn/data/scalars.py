"""Extra scalar inputs from catalogue columns (e.g. E(B-V), catalogue magnitudes).

A network may take, beside the image, a few numbers per object from the
catalogue (Pasquet et al. 2019 feed the Galactic reddening E(B-V) to their
photo-z network).  They are standardised with the training set's mean and
standard deviation, which the bundle stores, so ``predict`` applies exactly
the same transform.  A missing column is an error for the whole run; a
missing or non-finite value fails that row only, with a reason.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from astrocnn.io.catalog import require_columns


@dataclass
class ScalarInputs:
    """Names and standardisation of the extra inputs.

    Attributes
    ----------
    columns : list of str
        Catalogue columns, in network-input order.
    mean, std : list of float
        Training-set statistics; inputs are fed as ``(x - mean) / std``.
    """

    columns: list
    mean: list
    std: list

    def to_dict(self) -> dict:
        return {"columns": list(self.columns), "mean": list(self.mean), "std": list(self.std)}

    @classmethod
    def from_dict(cls, spec: dict | None):
        """The inputs stored in a bundle, or ``None`` for an image-only model."""
        if not spec or not spec.get("columns"):
            return None
        return cls(list(spec["columns"]), list(spec["mean"]), list(spec["std"]))

    def transform(self, values: np.ndarray) -> np.ndarray:
        """Standardise raw values (N, k); non-finite entries stay non-finite."""
        mean = np.asarray(self.mean, dtype=np.float64)
        std = np.asarray(self.std, dtype=np.float64)
        return ((values - mean) / std).astype(np.float32)


def read_columns(table, columns, source: str, row_labels=None) -> tuple[np.ndarray, list]:
    """Read numeric columns as an (N, k) float64 array with a reason for every bad row.

    Parameters
    ----------
    table : astropy.table.Table
        The catalogue.
    columns : sequence of str
        Columns to read.
    source : str
        Catalogue name for messages.
    row_labels : sequence of str, optional
        Per-row labels for messages (default ``"<source>: row <i>"``).

    Returns
    -------
    values : numpy.ndarray
        (N, k); masked, non-numeric or non-finite entries are NaN.
    reasons : list of str
        ``""`` for good rows, else a one-line reason naming the column.

    Raises
    ------
    CatalogError
        If a column is missing or not numeric.
    """
    from astrocnn.errors import CatalogError

    require_columns(table, columns, source)
    values = np.empty((len(table), len(columns)), dtype=np.float64)
    for j, name in enumerate(columns):
        column = table[name]
        if column.ndim != 1 or column.dtype.kind not in "biuf":
            raise CatalogError(f"{source}: column {name!r} must hold one number per row")
        values[:, j] = np.ma.filled(np.ma.asarray(column, dtype=np.float64), np.nan)
    bad = ~np.isfinite(values)
    reasons = [""] * len(table)
    for i in np.flatnonzero(bad.any(axis=1)):
        label = row_labels[i] if row_labels is not None else f"{source}: row {i}"
        name = columns[int(np.argmax(bad[i]))]
        reasons[i] = f"{label}: extra input {name!r} is missing or not finite"
    return values, reasons


def fit_scalar_inputs(columns, values: np.ndarray) -> ScalarInputs:
    """Mean and standard deviation of training values (a constant column gets std 1)."""
    mean = values.mean(axis=0)
    std = values.std(axis=0)
    std = np.where(std > 0, std, 1.0)
    return ScalarInputs(list(columns), [float(m) for m in mean], [float(s) for s in std])
