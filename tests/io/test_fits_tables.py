"""Fast FITS table writing: byte for byte what astropy writes, for every layout."""

import numpy as np
import pytest
from astropy.table import MaskedColumn, Table

from astrocnn.io.catalog import write_table
from astrocnn.io.fits import tables as fits_tables
from astrocnn.io.fits.tables import write_fits_table

RNG = np.random.default_rng(5)


def _table(n, field="field_000.fits", threshold=1.5):
    t = Table()
    t["id"] = np.arange(1, n + 1, dtype=np.int64)
    t["x"] = RNG.normal(size=n)
    t["x"].description = "0-based pixel column"
    t["flux"] = RNG.normal(size=n).astype(np.float32)
    t["flux"].unit = "nJy"
    t["npix"] = RNG.integers(0, 100, n).astype(np.int32)
    t["small"] = RNG.integers(-5, 5, n).astype(np.int16)
    t["found"] = RNG.random(n) > 0.5
    t["probs"] = RNG.random((n, 3)).astype(np.float32)
    t["status"] = np.where(RNG.random(n) > 0.2, "ok", "error")
    t["reason"] = np.where(t["status"] == "ok", "", "row 3: file.fits: not found  ")
    t["nan"] = np.where(RNG.random(n) > 0.5, np.nan, -0.0)
    t["bytes"] = np.full(n, b"ab ")
    t.meta.update(
        {
            "TASK": "deblend",
            "FIELD": field,
            "DETTHR": (threshold, "detection threshold [sigma]"),
            "TTA": (False, "outputs combined over the 8 views"),
            "NROWS": n,
        }
    )
    return t


def _astropy_bytes(table, tmp_path):
    path = tmp_path / "astropy.fits"
    table.write(path, format="fits", overwrite=True)
    return path.read_bytes()


def _ours(table, tmp_path):
    path = tmp_path / "ours.fits"
    write_fits_table(table, path)
    return path.read_bytes()


@pytest.fixture(autouse=True)
def _fresh_layouts():
    fits_tables._LAYOUTS.clear()
    yield
    fits_tables._LAYOUTS.clear()


def test_repeated_layouts_are_byte_identical_to_astropy(tmp_path):
    for n, field, threshold in [(7, "a.fits", 1.5), (0, "bb.fits", 2.0), (19, "c" * 60, 3.25)]:
        table = _table(n, field, threshold)
        assert _ours(table, tmp_path) == _astropy_bytes(table, tmp_path)
    assert len(fits_tables._LAYOUTS) == 1  # one layout learned, reused twice
    back = Table.read(tmp_path / "ours.fits")
    assert back["x"].description == "0-based pixel column" and str(back["flux"].unit) == "nJy"


def test_a_new_layout_is_learned_and_identical(tmp_path):
    first = _table(5)
    _ours(first, tmp_path)
    other = _table(6)
    other["extra"] = np.arange(6.0)
    other.meta["NEW"] = "card"
    assert _ours(other, tmp_path) == _astropy_bytes(other, tmp_path)
    assert len(fits_tables._LAYOUTS) == 2


@pytest.mark.parametrize(
    "change",
    [
        lambda t: t.meta.update(FIELD="x" * 100),  # continued string card
        lambda t: t.meta.update(HISTORY=["one", "two"]),  # list of cards
        lambda t: t.replace_column("npix", MaskedColumn(t["npix"], mask=t["npix"] > 50)),
        lambda t: t.replace_column("npix", t["npix"].astype(np.uint32)),  # TZERO-scaled
    ],
)
def test_what_the_fast_path_cannot_reproduce_goes_through_astropy(tmp_path, change):
    table = _table(9)
    change(table)
    for _ in range(2):  # unknown, then (if it could be learned) known
        assert _ours(table, tmp_path) == _astropy_bytes(table, tmp_path)
    plain = _table(4)
    assert _ours(plain, tmp_path) == _astropy_bytes(plain, tmp_path)


def test_write_table_uses_it_atomically(tmp_path):
    table = _table(12)
    out = tmp_path / "cat.fits"
    write_table(table, out)
    write_table(_table(3), out, overwrite=True)
    write_table(table, out, overwrite=True)
    assert out.read_bytes() == _astropy_bytes(table, tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["astropy.fits", "cat.fits"]


def test_a_failed_fast_write_leaves_the_old_file(tmp_path, monkeypatch):
    from astrocnn.errors import OutputError

    out = tmp_path / "cat.fits"
    write_table(_table(5), out)  # learns the layout
    before = out.read_bytes()

    def full(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(fits_tables, "open", full, raising=False)
    with pytest.raises(OutputError, match="No space left"):
        write_table(_table(8), out, overwrite=True)
    assert out.read_bytes() == before and [p.name for p in tmp_path.iterdir()] == ["cat.fits"]
