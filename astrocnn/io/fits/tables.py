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
"""

from __future__ import annotations

import io
import os
import threading
from collections import OrderedDict
from dataclasses import dataclass

import numpy as np

from astrocnn.io.fits.cards import FITS_BLOCK

_MAX_LAYOUTS = 32
_SCALAR_TYPES = (str, bool, int, float, np.bool_, np.integer, np.floating)


@dataclass
class _Layout:
    """What astropy wrote for the first table of a layout."""

    primary: bytes  # the empty primary HDU
    header: bytes  # the BINTABLE header, padded
    naxis2_at: int  # byte offset of the NAXIS2 card in ``header``
    naxis2_comment: str
    meta_at: dict  # keyword -> byte offset of its card in ``header``
    dtype: np.dtype  # the rows as stored (big-endian, booleans as 'T'/'F' bytes)


_LAYOUTS: OrderedDict = OrderedDict()
_LAYOUTS_LOCK = threading.Lock()  # fields' catalogues are written on other threads


def _meta_signature(meta):
    """Keywords and comments of the metadata, or None if a value is not a plain scalar."""
    signature = []
    for key, value in meta.items():
        comment = None
        if isinstance(value, tuple) and len(value) == 2 and isinstance(value[1], str):
            value, comment = value
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


def card_offsets(header: bytes, keywords) -> dict:
    """Byte offset of the first card of each keyword in a header."""
    wanted = {k.ljust(8).encode("ascii"): k for k in keywords if len(k) <= 8}
    found = {}
    for at in range(0, len(header), 80):
        name = wanted.get(header[at : at + 8])
        if name is not None and name not in found:
            found[name] = at
    return found


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
    naxis2_at = offsets.pop("NAXIS2")
    return _Layout(written[:primary_size], header, naxis2_at, naxis2_comment, offsets, dtype)


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
    from astropy.io.fits import Card

    header = bytearray(layout.header)
    naxis2 = Card("NAXIS2", len(table), layout.naxis2_comment).image
    header[layout.naxis2_at : layout.naxis2_at + 80] = naxis2.encode("ascii")
    for key, value in table.meta.items():
        comment = None
        if isinstance(value, tuple):
            value, comment = value
        if isinstance(value, np.generic):
            value = value.item()
        image = Card(key.upper(), value, comment).image
        if len(image) != 80:  # a long string continued on more cards
            return None
        at = layout.meta_at[key.upper()]
        header[at : at + 80] = image.encode("ascii")
    data = _rows(table, layout.dtype)
    padding = b"\0" * (-len(data) % FITS_BLOCK)
    return b"".join((layout.primary, bytes(header), data, padding))


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
