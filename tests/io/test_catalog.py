"""Catalogues: formats, id column, path resolution, atomic writes."""

import os

import numpy as np
import pytest
from astropy.table import Table

from astrocnn.engine.sources import from_catalog
from astrocnn.errors import CatalogError, OutputError
from astrocnn.io.catalog import file_columns, read_catalog, write_table


def make_table():
    return Table(
        {"id": np.arange(3), "file": ["a.fits", "sub/b.fits", "/abs/c.fits"], "label": [0, 1, 0]}
    )


@pytest.mark.parametrize("ext", [".fits", ".csv", ".ecsv", ".h5"])
def test_roundtrip_every_format(tmp_path, ext):
    path = write_table(make_table(), tmp_path / f"cat{ext}")
    table = read_catalog(path)
    assert list(table["label"]) == [0, 1, 0]
    assert table.meta["catalog_dir"] == str(tmp_path)


def test_relative_paths_resolve_against_catalog_folder(tmp_path, monkeypatch):
    write_table(make_table(), tmp_path / "cat.fits")
    monkeypatch.chdir("/")
    source = from_catalog(os.path.relpath(tmp_path / "cat.fits"), ["g"])
    assert source.paths[0] == [os.path.join(str(tmp_path), "a.fits")]
    assert source.paths[1] == [os.path.join(str(tmp_path), "sub/b.fits")]
    assert source.paths[2] == ["/abs/c.fits"]


def test_id_added_when_missing(tmp_path):
    table = make_table()
    del table["id"]
    write_table(table, tmp_path / "c.csv")
    assert list(read_catalog(tmp_path / "c.csv")["id"]) == [0, 1, 2]


def test_per_band_file_columns(tmp_path):
    table = Table({"id": [1], "file_g": ["g.fits"], "file_r": ["r.fits"]})
    assert file_columns(table, ["g", "r"]) == ["file_g", "file_r"]
    with pytest.raises(CatalogError, match="no column 'file'"):
        file_columns(table, ["g", "r", "i"], source="cat.fits")
    with pytest.raises(CatalogError, match="'nope'"):
        file_columns(table, ["g"], ["nope"], source="cat.fits")


def test_bad_catalogues_named(tmp_path):
    with pytest.raises(CatalogError, match="missing.fits: catalogue not found"):
        read_catalog(tmp_path / "missing.fits")
    bad = tmp_path / "bad.csv"
    bad.write_bytes(b"id,file\n1,\xff\xfe\x00bad\n")
    with pytest.raises(CatalogError, match="bad.csv"):
        read_catalog(bad)
    empty = tmp_path / "empty.csv"
    empty.write_text("id,file\n")
    with pytest.raises(CatalogError, match="no rows"):
        read_catalog(empty)
    dup = tmp_path / "dup.csv"
    dup.write_text("id,file,file\n1,a,b\n")
    with pytest.raises(CatalogError, match="dup.csv"):
        read_catalog(dup)
    with pytest.raises(CatalogError, match="unknown table format"):
        read_catalog(__file__)


def test_write_refuses_overwrite_and_keeps_original(tmp_path):
    path = tmp_path / "out.fits"
    path.write_bytes(b"user data")
    with pytest.raises(OutputError, match="already exists"):
        write_table(make_table(), path)
    assert path.read_bytes() == b"user data"
    write_table(make_table(), path, overwrite=True)
    assert len(Table.read(path)) == 3
    assert [p.name for p in tmp_path.iterdir()] == ["out.fits"]  # no temp file left


def test_write_to_missing_or_unwritable_folder(tmp_path):
    with pytest.raises(OutputError, match="does not exist"):
        write_table(make_table(), tmp_path / "nope" / "out.fits")
    locked = tmp_path / "locked"
    locked.mkdir()
    os.chmod(locked, 0o500)
    try:
        if os.access(locked, os.W_OK):
            pytest.skip("running as a user that ignores file permissions")
        with pytest.raises(OutputError, match="not writable"):
            write_table(make_table(), locked / "out.fits")
    finally:
        os.chmod(locked, 0o700)


def test_disk_full_on_write_leaves_nothing(tmp_path, monkeypatch):
    def full(self, *args, **kwargs):
        raise OSError(28, "No space left on device")

    import astrocnn.io.catalog

    monkeypatch.setattr(Table, "write", full)
    monkeypatch.setattr(astrocnn.io.catalog, "write_fits_table", full)  # the fast FITS writer
    with pytest.raises(OutputError, match="No space left"):
        write_table(make_table(), tmp_path / "out.fits")
    assert list(tmp_path.iterdir()) == []


def test_csv_output_flattens_array_columns(tmp_path):
    table = Table({"id": [1, 2], "w": np.array([[0.25, 0.75], [1.0, 0.0]])})
    write_table(table, tmp_path / "out.csv")
    back = Table.read(tmp_path / "out.csv")
    assert back.colnames == ["id", "w_0", "w_1"]
    np.testing.assert_allclose(back["w_1"], [0.75, 0.0])
    write_table(table, tmp_path / "out.ecsv")  # ECSV keeps the array column
    assert Table.read(tmp_path / "out.ecsv")["w"].shape == (2, 2)
