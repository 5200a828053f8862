"""Where a run's objects come from: a catalogue of cutouts, a list of files, or a packed set."""

from __future__ import annotations

import os
from dataclasses import dataclass, field

import numpy as np

from astrocnn.data.loading import row_labels
from astrocnn.errors import AstrocnnError
from astrocnn.io.catalog import file_columns, read_catalog, resolve_paths


@dataclass
class Source:
    """Objects to process.

    Attributes
    ----------
    table : astropy.table.Table
        One row per object, with an ``id`` column (and truth columns when
        the catalogue has them).
    paths : list of list of str
        Per row, the cutout file (or one per band).
    labels : list of str
        Per row, a label for error messages.
    name : str
        The catalogue path, or a description of the file list.
    file_columns : list of str
        Columns of ``table`` that named the files.
    carried_columns : list of str
        Columns copied into prediction outputs besides ``id``.
    """

    table: object
    paths: list
    labels: list
    name: str
    file_columns: list
    carried_columns: list = field(default_factory=list)


def from_catalog(path, bands, columns=None, *, table=None, first_row=0) -> Source:
    """Objects named by a catalogue; relative paths resolve against its folder.

    Parameters
    ----------
    path : path-like
        The catalogue (FITS, CSV, ECSV, HDF5).
    bands : sequence of str
        The model's band names (to find ``file_<band>`` columns).
    columns : sequence of str, optional
        Explicit file column(s).
    table : astropy.table.Table, optional
        The catalogue already read with :func:`~astrocnn.io.catalog.read_catalog`
        (or a slice of it, with its ``meta``).
    first_row : int
        Catalogue row of the table's first row (for messages about a slice).
    """
    path = os.fspath(path)
    table = read_catalog(path) if table is None else table
    cols = file_columns(table, bands, columns, source=path)
    paths = resolve_paths(table, cols, table.meta["catalog_dir"])
    return Source(table, paths, row_labels(table, path, first_row), path, cols)


def from_files(files) -> Source:
    """Objects given as FITS files on the command line (one file per object).

    The ``id`` of each object is its position in the list; the ``file``
    column keeps the path as given.
    """
    from astropy.table import Table

    files = [os.fspath(f) for f in files]
    if not files:
        raise AstrocnnError("no input: give FITS files or --catalog")
    table = Table({"id": np.arange(len(files), dtype=np.int64), "file": files})
    return Source(table, [[f] for f in files], list(files), "command line", ["file"], ["file"])
