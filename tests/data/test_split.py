"""The validation split: by row, or with groups of rows kept on one side."""

import numpy as np
import pytest
from astropy.table import MaskedColumn, Table

from astrocnn.data.split import NO_GROUPS, group_column, validation_split
from astrocnn.errors import AstrocnnError


def test_row_split_is_seeded_disjoint_and_complete():
    train, val = validation_split(100, 0.1, seed=3)
    assert len(val) == 10 and len(train) == 90
    assert sorted([*train, *val]) == list(range(100))
    again = validation_split(100, 0.1, seed=3)
    assert all(np.array_equal(a, b) for a, b in zip((train, val), again))
    assert not np.array_equal(val, validation_split(100, 0.1, seed=4)[1])
    assert len(validation_split(5, 0.01, seed=0)[1]) == 1  # at least one row
    with pytest.raises(AstrocnnError, match="too few"):
        validation_split(1, 0.5, seed=0)


@pytest.mark.parametrize("seed", range(5))
def test_groups_stay_on_one_side(seed):
    rng = np.random.default_rng(seed)
    groups = np.repeat(np.arange(40), rng.integers(1, 9, size=40))  # unequal group sizes
    rng.shuffle(groups)
    train, val = validation_split(len(groups), 0.2, seed=seed, groups=groups)
    assert sorted([*train, *val]) == list(range(len(groups)))
    assert not set(groups[train]) & set(groups[val])
    # whole groups, as close to the fraction as whole groups allow
    largest = np.bincount(groups).max()
    assert abs(len(val) - 0.2 * len(groups)) <= largest
    assert np.all(np.diff(train) > 0) and np.all(np.diff(val) > 0)


def test_grouped_split_edge_cases():
    groups = np.array(["a", "a", "b", "b", "c"])
    train, val = validation_split(5, 0.0, seed=0, groups=groups)
    assert len(train) == 5 and len(val) == 0
    train, val = validation_split(5, 0.9, seed=0, groups=groups)  # one group stays for training
    assert len(train) >= 1 and not set(groups[train]) & set(groups[val])
    with pytest.raises(AstrocnnError, match="one group"):
        validation_split(3, 0.1, seed=0, groups=np.zeros(3))


def test_group_column_choice():
    table = Table({"id": [1, 2, 3], "box": [0, 0, 1]})
    assert group_column(table, "box", None, "cat.fits") == "box"
    assert group_column(table, "box", NO_GROUPS, "cat.fits") is None
    assert group_column(table, "slab", None, "cat.fits") is None  # the task's column is absent
    assert group_column(table, None, "id", "cat.fits") == "id"
    with pytest.raises(AstrocnnError, match=r"cat.fits: --split-by field: no such column"):
        group_column(table, None, "field", "cat.fits")
    table["field"] = MaskedColumn([1, 2, 3], mask=[False, True, False])
    with pytest.raises(AstrocnnError, match=r"cat.fits: row 1: .*'field' is empty"):
        group_column(table, None, "field", "cat.fits")
    with pytest.raises(AstrocnnError, match=r"cat.fits: row 1: .*'field' is empty"):
        group_column(table, "field", None, "cat.fits")  # the task's column is checked too


def test_stratified_split_validates_every_class_in_its_proportion():
    from astrocnn.data.split import validation_split

    strata = np.array([0] * 900 + [1] * 90 + [2] * 10)
    train_idx, val_idx = validation_split(1000, 0.1, seed=3, strata=strata)
    assert np.bincount(strata[val_idx]).tolist() == [90, 9, 1]
    assert len(np.intersect1d(train_idx, val_idx)) == 0 and len(train_idx) + len(val_idx) == 1000
    again = validation_split(1000, 0.1, seed=3, strata=strata)
    assert np.array_equal(again[1], val_idx)
