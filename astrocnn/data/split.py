"""The training/validation split: by row, or by groups of rows kept together.

Rows that are not independent (maps cut from one simulated box, several
cutouts of one object) must all fall on one side of the split, or the
validation loss measures memory rather than generalisation.  A grouped split
draws whole groups, in a seeded random order, until the validation set
holds about the requested fraction of the rows (as scikit-learn's
``GroupShuffleSplit`` does, by row count).
"""

from __future__ import annotations

import numpy as np

from astrocnn.errors import AstrocnnError

NO_GROUPS = "none"
"""``split_by`` value that splits by row even where the task groups rows."""


def group_column(table, task_default: str | None, requested: str | None, source: str):
    """The column whose values group the rows, or None to split by row.

    Parameters
    ----------
    table : astropy.table.Table
        The training catalogue.
    task_default : str or None
        The task's grouping column, used when the catalogue has it.
    requested : str or None
        The user's choice: a column name, :data:`NO_GROUPS`, or None for the
        task's default.
    source : str
        The catalogue's name, for messages.
    """
    if requested == NO_GROUPS:
        return None
    if requested is None:
        name = task_default if task_default and task_default in table.colnames else None
    elif requested not in table.colnames:
        raise AstrocnnError(
            f"{source}: --split-by {requested}: no such column "
            f"(columns: {', '.join(table.colnames)})"
        )
    else:
        name = requested
    mask = None if name is None else getattr(table[name], "mask", None)
    if mask is not None and np.any(mask):  # the task's column or the user's alike
        row = int(np.flatnonzero(mask)[0])
        raise AstrocnnError(f"{source}: row {row}: --split-by column {name!r} is empty")
    return name


def validation_split(n: int, val_fraction: float, seed: int, groups=None, strata=None):
    """Seeded training and validation row indices (each sorted).

    Parameters
    ----------
    n : int
        Number of rows.
    val_fraction : float
        Fraction of the rows to validate on (at least one row, or one group,
        when positive).
    seed : int
        Seed of the random order.
    groups : array-like, optional
        One value per row; rows with equal values go to the same side.
    strata : array-like, optional
        One value per row (e.g. its class), for a split by row: each stratum
        gives its own share of validation rows (at least one of any stratum of
        two or more rows), so rare classes are validated too.

    Returns
    -------
    train_idx, val_idx : numpy.ndarray
    """
    rng = np.random.default_rng(seed)
    if groups is None and strata is not None and val_fraction > 0:
        return _stratified(np.asarray(strata), val_fraction, rng)
    if groups is None:
        order = rng.permutation(n)
        n_val = int(round(n * val_fraction)) if val_fraction > 0 else 0
        if val_fraction > 0 and n_val == 0:
            n_val = 1
        if n - n_val < 1:
            raise AstrocnnError(
                f"only {n} usable object(s): too few to train with a validation split"
            )
        return np.sort(order[n_val:]), np.sort(order[:n_val])
    _, inverse, sizes = np.unique(np.asarray(groups), return_inverse=True, return_counts=True)
    inverse = inverse.reshape(-1)
    if val_fraction <= 0:
        return np.arange(n), np.zeros(0, dtype=np.int64)
    if len(sizes) < 2:
        raise AstrocnnError(
            f"all {n} object(s) are in one group: a grouped validation split needs at "
            f"least two (use --val-fraction 0 or --split-by {NO_GROUPS})"
        )
    order = rng.permutation(len(sizes))
    reached = np.cumsum(sizes[order])[:-1]  # leave at least one group for training
    n_groups = int(np.argmin(np.abs(reached - n * val_fraction))) + 1
    is_val = np.isin(inverse, order[:n_groups])
    return np.flatnonzero(~is_val), np.flatnonzero(is_val)


def _stratified(strata, val_fraction, rng):
    """Per stratum, a seeded share of ``val_fraction`` of its rows to validation."""
    val = []
    for value in np.unique(strata):
        rows = rng.permutation(np.flatnonzero(strata == value))
        n_val = int(round(len(rows) * val_fraction))
        if n_val == 0 and len(rows) >= 2:
            n_val = 1
        val.append(rows[:n_val])
    is_val = np.zeros(len(strata), bool)
    is_val[np.concatenate(val)] = True
    if is_val.all():
        raise AstrocnnError(
            f"only {len(strata)} usable object(s): too few to train with a validation split"
        )
    return np.flatnonzero(~is_val), np.flatnonzero(is_val)
