"""Write FITS binary tables quickly when many tables share one layout.

Writing a small table with ``astropy.table.Table.write`` costs ~15 ms,
almost all of it building the header (column definitions, the YAML block
that keeps column descriptions, card verification), whatever the number of
rows.  A deblending run writes one catalogue per field, all with the same
columns, so that cost is paid per field.

:func:`write_fits_table` writes the first table of a layout with astropy,
keeps the bytes of the header astropy wrote, and writes every later table of
the same layout (same column names, types, shapes, units and descriptions,
and the same metadata keywords and comments) from that header, with only
``NAXIS2`` and the metadata values replaced, followed by the rows as one
big-endian record array.  The result is byte for byte what astropy writes
(tested); a table this path cannot reproduce exactly (masked or mixin
columns, unsigned or complex types, lists in the metadata, a value needing a
continued card, ...) is written by astropy.

:func:`concatenate_tables` streams the tables of several files (a batch
run's parts) into one file, one table in memory at a time.
"""

from __future__ import annotations

import io
import os
import threading
from collections import OrderedDict
from dataclasses import dataclass

import numpy as np

from astrocnn.errors import AstrocnnError
from astrocnn.io.fits.cards import FITS_BLOCK, card_image, card_offsets, patch_cards, split_card

_MAX_LAYOUTS = 32
_SCALAR_TYPES = (str, bool, int, float, np.bool_, np.integer, np.floating)


@dataclass
class _Layout:
    """What astropy wrote for the first table of a layout."""

    primary: bytes  # the empty primary HDU
    header: bytes  # the BINTABLE header, padded
    offsets: dict  # keyword -> byte offset of its card in ``header`` (NAXIS2, the metadata)
    naxis2_comment: str
    dtype: np.dtype  # the rows as stored (big-endian, booleans as 'T'/'F' bytes)


_LAYOUTS: OrderedDict = OrderedDict()
_LAYOUTS_LOCK = threading.Lock()  # fields' catalogues are written on other threads


def _meta_signature(meta):
    """Keywords and comments of the metadata, or None if a value is not a plain scalar."""
    signature = []
    for key, value in meta.items():
        value, comment = split_card(value)
        if not isinstance(value, _SCALAR_TYPES) or not isinstance(key, str):
            return None
        if isinstance(value, str) and not value.isascii():
            return None
        signature.append((key.upper(), type(value).__name__, comment))
    return tuple(signature)


def _layout_key(table):
    """A key identifying the table's layout, or None if it must go through astropy."""
    from astropy.table import Column, MaskedColumn

    columns = []
    for name, column in table.columns.items():
        if type(column) is not Column or isinstance(column, MaskedColumn):
            return None
        kind = column.dtype.kind
        if kind not in "bifSU" or (kind == "i" and column.dtype.itemsize == 1):
            return None
        columns.append(
            (
                name,
                column.dtype.str,
                column.shape[1:],
                None if column.unit is None else str(column.unit),
                column.description,
                column.format,
                bool(column.meta),
            )
        )
    meta = _meta_signature(table.meta)
    if meta is None or any(c[-1] for c in columns):
        return None
    return tuple(columns), meta


def _learn_layout(table, written: bytes) -> _Layout | None:
    """The reusable parts of what astropy wrote for ``table``."""
    from astropy.io import fits

    with fits.open(io.BytesIO(written)) as hdul:
        if len(hdul) != 2 or not isinstance(hdul[1], fits.BinTableHDU):
            return None
        stored = hdul[1].data.dtype
        dtype = np.dtype([(name, stored[name]) for name in stored.names])
        naxis2_comment = hdul[1].header.comments["NAXIS2"]
        info = hdul.fileinfo(1)
    primary_size, data_offset = info["hdrLoc"], info["datLoc"]
    header = written[primary_size:data_offset]
    keys = [k.upper() for k in table.meta] + ["NAXIS2"]
    offsets = card_offsets(header, keys)
    if len(offsets) != len(keys):
        return None
    return _Layout(written[:primary_size], header, offsets, naxis2_comment, dtype)


def _rows(table, dtype: np.dtype) -> bytes:
    """The table's rows in the stored layout of ``dtype``."""
    records = np.zeros(len(table), dtype=dtype)
    for name in dtype.names:
        values = np.asarray(table[name])
        if values.dtype.kind == "b":
            records[name] = np.where(values, ord("T"), ord("F"))
        elif values.dtype.kind == "U":  # trailing blanks become NULs, as astropy does
            records[name] = np.char.encode(np.char.rstrip(values, " "), "ascii")
        elif values.dtype.kind == "S":
            records[name] = np.char.rstrip(values, b" ")
        else:
            records[name] = values
    return records.tobytes()


def _fast_bytes(table, layout: _Layout) -> bytes | None:
    images = {"NAXIS2": card_image("NAXIS2", len(table), layout.naxis2_comment)}
    for key, value in table.meta.items():
        value, comment = split_card(value)
        if isinstance(value, np.generic):
            value = value.item()
        images[key.upper()] = card_image(key.upper(), value, comment)
    if any(image is None for image in images.values()):  # e.g. a long string continued
        return None
    header = patch_cards(layout.header, layout.offsets, images)
    data = _rows(table, layout.dtype)
    padding = b"\0" * (-len(data) % FITS_BLOCK)
    return b"".join((layout.primary, header, data, padding))


def write_fits_table(table, path: str | os.PathLike) -> None:
    """Write ``table`` to a new FITS file at ``path`` (a BINTABLE after an empty primary).

    Byte for byte the file ``table.write(path, format="fits")`` writes; see
    the module notes for when the header is reused.

    Parameters
    ----------
    table : astropy.table.Table
        The table; its ``meta`` entries become header cards.
    path : path-like
        Destination (an uncompressed FITS file name).
    """
    key = _layout_key(table)
    with _LAYOUTS_LOCK:
        layout = _LAYOUTS.get(key) if key is not None else None
        if layout is not None:
            _LAYOUTS.move_to_end(key)
    content = None
    if layout is not None:
        try:
            content = _fast_bytes(table, layout)
        except (ValueError, TypeError, KeyError, UnicodeError):
            content = None
    if content is not None:
        with open(path, "wb") as handle:
            handle.write(content)
        return
    buffer = io.BytesIO()
    table.write(buffer, format="fits")
    written = buffer.getvalue()
    with open(path, "wb") as handle:
        handle.write(written)
    if key is not None:
        learned = _learn_layout(table, written)
        # keep it only if it reproduces this very file (e.g. not when a value
        # was continued on more cards, which a later table could not undo)
        if learned is not None and _fast_bytes(table, learned) == written:
            with _LAYOUTS_LOCK:
                _LAYOUTS[key] = learned
                while len(_LAYOUTS) > _MAX_LAYOUTS:
                    _LAYOUTS.popitem(last=False)


def _string_widths(paths) -> dict:
    """The widest format of each string column over the files' tables (TFORMn ``<w>A``)."""
    from astropy.io import fits

    widths: dict = {}
    for path in paths:
        header = fits.getheader(path, 1)
        for i in range(1, header["TFIELDS"] + 1):
            form = header[f"TFORM{i}"].strip()
            if form.endswith("A"):
                name = header[f"TTYPE{i}"]
                widths[name] = max(widths.get(name, 1), int(form[:-1] or 1))
    return widths


def _table_hdu(table, widths):
    from astropy.io import fits

    for name, width in widths.items():
        if name in table.colnames:
            table[name] = table[name].astype(f"U{width}")
    return fits.table_to_hdu(table)


def concatenate_tables(paths, out, read) -> None:
    """Stream the binary tables of FITS files, in order, into one FITS file.

    One header (the first table's, with NAXIS2 the total row count and every
    string column as wide as its widest in any file), then each table's rows:
    memory holds one table at a time.

    Parameters
    ----------
    paths : sequence of path-like
        FITS files holding a binary table in HDU 1, with the same columns.
    out : path-like
        Destination (written in place: give a temporary name).
    read : callable
        ``read(path)`` returns the file's table (an ``astropy.table.Table``);
        its ``meta`` becomes header cards.

    Raises
    ------
    astrocnn.errors.AstrocnnError
        If a table's rows differ in layout from the first table's.
    """
    from astropy.io import fits

    widths = _string_widths(paths)
    total = sum(fits.getheader(p, 1)["NAXIS2"] for p in paths)
    with open(out, "wb") as f:
        f.write(fits.PrimaryHDU().header.tostring().encode("ascii"))
        row_bytes = None
        for i, path in enumerate(paths):
            hdu = _table_hdu(read(path), widths)
            if i == 0:
                header = hdu.header.copy()
                header["NAXIS2"] = total
                f.write(header.tostring().encode("ascii"))
                row_bytes = header["NAXIS1"]
            if hdu.header["NAXIS1"] != row_bytes:
                raise AstrocnnError(f"{path}: columns differ from the first part")
            buffer = io.BytesIO()
            fits.HDUList([fits.PrimaryHDU(), hdu]).writeto(buffer)
            # the table's rows follow its primary header and table header
            start = len(fits.PrimaryHDU().header.tostring()) + len(hdu.header.tostring())
            f.write(buffer.getvalue()[start : start + hdu.header["NAXIS2"] * row_bytes])
        size = total * (row_bytes or 0)
        f.write(b"\0" * (-size % FITS_BLOCK))
