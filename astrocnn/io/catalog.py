"""Catalogues: read any astropy.table format, resolve cutout paths, write outputs.

Every catalogue has an ``id`` column (row numbers are used when it has none).
Cutout paths in a catalogue are resolved against the catalogue's own folder
when relative, so a catalogue and its cutouts can be moved together.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from astrocnn.errors import CatalogError, OutputError
from astrocnn.io.atomic import atomic_path, check_writable
from astrocnn.io.fits.tables import write_fits_table

_FORMATS = {
    ".fits": "fits",
    ".fit": "fits",
    ".fts": "fits",
    ".fits.gz": "fits",
    ".csv": "ascii.csv",
    ".ecsv": "ascii.ecsv",
    ".h5": "hdf5",
    ".hdf5": "hdf5",
}


def table_format(path: str | os.PathLike) -> str:
    """Return the astropy.table format for ``path`` from its extension.

    Raises
    ------
    CatalogError
        If the extension is not one of FITS, CSV, ECSV or HDF5.
    """
    name = str(path).lower()
    for ext in sorted(_FORMATS, key=len, reverse=True):
        if name.endswith(ext):
            return _FORMATS[ext]
    raise CatalogError(
        f"{path}: unknown table format; use one of {', '.join(sorted(set(_FORMATS)))}"
    )


def read_catalog(path: str | os.PathLike):
    """Read a catalogue into an :class:`astropy.table.Table`.

    Parameters
    ----------
    path : path-like
        FITS, CSV, ECSV or HDF5 table.

    Returns
    -------
    astropy.table.Table
        The table, with ``meta['catalog_dir']`` set to its folder and an
        ``id`` column added from row numbers if it had none.

    Raises
    ------
    CatalogError
        If the file is missing, unreadable, empty or has duplicate columns.
    """
    from astropy.table import Table

    path = Path(path)
    if not path.exists():
        raise CatalogError(f"{path}: catalogue not found")
    fmt = table_format(path)
    if fmt == "ascii.csv":
        _refuse_duplicate_csv_columns(path)
    try:
        kwargs = {"path": "data"} if fmt == "hdf5" and _hdf5_has_data_path(path) else {}
        table = Table.read(path, format=fmt, **kwargs)
    except CatalogError:
        raise
    except UnicodeDecodeError:
        raise CatalogError(f"{path}: catalogue is not valid UTF-8 text") from None
    except Exception as exc:  # noqa: BLE001 - any parse failure is the file's fault
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise CatalogError(f"{path}: cannot read catalogue ({first})") from None
    if len(table) == 0:
        raise CatalogError(f"{path}: catalogue has no rows")
    if "id" not in table.colnames:
        table["id"] = np.arange(len(table), dtype=np.int64)
        table.meta["ID_ADDED"] = True
    table.meta["catalog_dir"] = str(path.absolute().parent)
    return table


def _refuse_duplicate_csv_columns(path: Path):
    """astropy silently renames repeated CSV column names; a catalogue must not have them."""
    import csv

    try:
        with open(path, newline="", encoding="utf-8") as handle:
            header = next(
                (row for row in csv.reader(handle) if row and not row[0].startswith("#")), []
            )
    except UnicodeDecodeError:
        raise CatalogError(f"{path}: catalogue is not valid UTF-8 text") from None
    seen = set()
    for name in (h.strip() for h in header):
        if name in seen:
            raise CatalogError(f"{path}: column {name!r} appears more than once")
        seen.add(name)


def _hdf5_has_data_path(path: Path) -> bool:
    import h5py

    try:
        with h5py.File(path, "r") as h5:
            return "data" in h5
    except OSError as exc:
        raise CatalogError(f"{path}: not a readable HDF5 file ({exc})") from None


def require_columns(table, names, source: str):
    """Raise :class:`CatalogError` unless ``table`` has every column in ``names``."""
    missing = [n for n in names if n not in table.colnames]
    if missing:
        raise CatalogError(
            f"{source}: no column {', '.join(repr(m) for m in missing)} "
            f"(columns: {', '.join(table.colnames)})"
        )


def file_columns(table, bands, explicit=None, source: str = "catalogue") -> list[str]:
    """Choose the column(s) naming each row's cutout file(s).

    Parameters
    ----------
    table : astropy.table.Table
        The catalogue.
    bands : sequence of str
        Band names of the model, used to find per-band columns ``file_<band>``.
    explicit : sequence of str, optional
        Column names given by the user: one column (all bands in one file) or
        one per band.
    source : str
        Catalogue name for error messages.

    Returns
    -------
    list of str
        ``['file']`` or ``['file_g', 'file_r', ...]``.
    """
    if explicit:
        require_columns(table, explicit, source)
        if len(explicit) not in (1, len(bands)):
            raise CatalogError(
                f"{source}: {len(explicit)} file columns given but the model has "
                f"{len(bands)} bands; give one column or one per band"
            )
        return list(explicit)
    if "file" in table.colnames:
        return ["file"]
    per_band = [f"file_{b}" for b in bands]
    if all(c in table.colnames for c in per_band):
        return per_band
    raise CatalogError(
        f"{source}: no column 'file' (nor {', '.join(per_band)}) naming the cutouts; "
        f"columns: {', '.join(table.colnames)}"
    )


def resolve_paths(table, columns, base_dir) -> list[list[str]]:
    """Return, per row, the cutout path(s) resolved against ``base_dir``."""
    out = []
    for row in table:
        paths = []
        for col in columns:
            value = row[col]
            value = value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)
            value = value.strip()
            paths.append(value if os.path.isabs(value) else os.path.join(base_dir, value))
        out.append(paths)
    return out


def _ascii_for_fits(table):
    """FITS strings are ASCII: escape other characters (``é`` -> ``\\xe9``) instead of failing."""
    for name in table.colnames:
        column = table[name]
        if column.dtype.kind == "U" and column.size:
            text = np.asarray(column)
            if any(not t.isascii() for t in text.ravel()):
                table[name] = [t.encode("ascii", "backslashreplace").decode() for t in text]
    for key, value in list(table.meta.items()):
        if isinstance(value, str) and not value.isascii():
            table.meta[key] = value.encode("ascii", "backslashreplace").decode()


def flatten_array_columns(table):
    """CSV holds one number per cell: an array column ``c`` of length k becomes
    ``c_0`` ... ``c_{k-1}`` (FITS, ECSV and HDF5 keep array columns)."""
    for name in list(table.colnames):
        column = table[name]
        if column.ndim > 1:
            flat = np.asarray(column).reshape(len(column), -1)
            index = table.colnames.index(name)
            table.remove_column(name)
            for j in range(flat.shape[1]):
                table.add_column(flat[:, j], name=f"{name}_{j}", index=index + j)


def write_table(table, path: str | os.PathLike, *, overwrite: bool = False) -> Path:
    """Write ``table`` atomically, in the format implied by the extension.

    Parameters
    ----------
    table : astropy.table.Table
        Table to write; ``meta`` entries become header cards (FITS).
    path : path-like
        Destination (``.fits``, ``.csv``, ``.ecsv``, ``.h5``/``.hdf5``).
    overwrite : bool
        Replace an existing file.

    Returns
    -------
    pathlib.Path
        The written path.
    """
    path = check_writable(path, overwrite=overwrite)
    fmt = table_format(path)
    table = table.copy(copy_data=False)
    table.meta.pop("catalog_dir", None)
    if fmt == "fits":
        _ascii_for_fits(table)
    if fmt == "ascii.csv":
        flatten_array_columns(table)
    kwargs = {"path": "data", "serialize_meta": True} if fmt == "hdf5" else {}
    plain_fits = fmt == "fits" and not str(path).lower().endswith(".gz")
    with atomic_path(path) as tmp:
        try:
            if plain_fits:  # byte for byte astropy's file; faster for repeated layouts
                write_fits_table(table, tmp)
            else:
                table.write(tmp, format=fmt, **kwargs)
        except OSError:
            raise
        except Exception as exc:  # noqa: BLE001
            raise OutputError(f"{path}: cannot write table ({exc})") from None
    return path
