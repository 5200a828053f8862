"""One FITS file holding the image products of every source of a field.

A field with N detected sources gives, per image product of the task (for
deblending: the deblended stamp and its segmentation), one extension that
is a cube of N planes; plane ``k`` belongs to the field's ``k``-th source
(catalogue ``id`` ``k + 1``).  One file per field instead of one per source: a
survey field has thousands of sources, and on a cluster file system
millions of small files are slow to write and to list (writing a small FITS
file costs milliseconds, more than deblending the stamp in it).

The file is laid out on disk once the number of sources is known (headers
written, data areas allocated), then filled block by block with positioned
writes (``os.pwrite``), so memory stays bounded by one block however many
sources the field has.  It is written under a temporary name and renamed
when complete (:func:`astrocnn.io.atomic.atomic_path`).

Building the headers with astropy costs ~2 ms per field, more than the rest
of the file; all fields of a run share one layout, so after the first field
the headers astropy wrote are reused with the source count and the card
values (the field's name) replaced: the bytes are astropy's (:func:`headers`,
checked when the layout is learned, and tested).
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

import numpy as np

from astrocnn.io.atomic import atomic_path
from astrocnn.io.fits.cards import card_image, padded, split_card
from astrocnn.io.fits.headers import reuse_headers


def _cube_shape(shape) -> tuple:
    """Per-source product shape (H, W) or (H, W, C) -> FITS plane shape (H, W) or (C, H, W)."""
    shape = tuple(int(s) for s in shape)
    return (shape[-1], *shape[:2]) if len(shape) == 3 else shape


def _header(name, dtype, shape, cards):
    """An image-extension header for data of ``shape`` and big-endian ``dtype``."""
    from astropy.io import fits

    header = fits.ImageHDU(np.zeros((1,) * max(len(shape), 1), dtype=dtype)).header
    if not shape:  # no sources: an extension without data
        header["NAXIS"] = 0
        del header["NAXIS1"]
    for axis, length in enumerate(reversed(shape), start=1):
        header[f"NAXIS{axis}"] = int(length)
    header["EXTNAME"] = name.upper()
    for key, value in (cards or {}).items():
        header[key] = value
    return header


def astropy_headers(n, specs, cards) -> list:
    """The file's headers as astropy builds them: the primary HDU's, then one per cube.

    Parameters
    ----------
    n : int
        Sources (planes per cube); 0 gives extensions without data.
    specs : sequence of (name, plane_shape, dtype)
        The cubes: FITS plane shape ((H, W) or (C, H, W)) and big-endian dtype.
    cards : dict
        Header cards for every HDU (``key: value`` or ``key: (value, comment)``).

    Returns
    -------
    list of bytes
        Each header, padded to whole FITS blocks.
    """
    from astropy.io import fits

    primary = fits.PrimaryHDU().header
    for key, value in cards.items():
        primary[key] = value
    heads = [primary.tostring().encode("ascii")]
    for name, plane, dtype in specs:
        full = (n, *plane) if n else ()
        heads.append(_header(name, np.dtype(dtype), full, cards).tostring().encode("ascii"))
    return heads


def headers(n, specs, cards) -> list:
    """The file's headers, byte for byte :func:`astropy_headers`: the first file of a
    layout (cube names, plane shapes, types and card keywords) goes through astropy;
    later ones reuse those headers with the source count and card values replaced
    (:func:`astrocnn.io.fits.headers.reuse_headers`).  Arguments as for
    :func:`astropy_headers`."""
    specs = [(name, tuple(plane), np.dtype(dtype).str) for name, plane, dtype in specs]
    common = {k.upper(): card_image(k.upper(), *split_card(v)) for k, v in cards.items()}
    changes = [common]
    for _, plane, _ in specs:
        axis = f"NAXIS{len(plane) + 1}"
        changes.append({**common, axis: card_image(axis, int(n))})
    layout = tuple(specs) if n else None  # no sources: extensions without data, rare
    return reuse_headers(layout, changes, lambda: astropy_headers(n, specs, cards))


class StampCubes:
    """Write the image products of a field's ``n`` sources into one FITS file.

    Use as a context manager; :meth:`write` takes blocks of sources in any
    order.  The file is laid out at the first block (when the products'
    shapes and types are known) and renamed into place when the block exits
    without an exception; on an exception nothing is left behind.

    Parameters
    ----------
    path : path-like
        Destination FITS file.
    n : int
        Number of sources (planes per cube); with 0 the extensions hold no data.
    names : sequence of str
        The products, in extension order.
    cards : dict, optional
        Header cards for every HDU.

    Notes
    -----
    ``(H, W, C)`` products are stored as FITS cubes ``(n, C, H, W)`` (NAXIS1
    = W), ``(H, W)`` products as ``(n, H, W)``.
    """

    def __init__(self, path, n: int, names, *, cards=None):
        self.path = Path(path)
        self.n = int(n)
        self.names = tuple(names)
        self.cards = dict(cards or {})
        self._stack = contextlib.ExitStack()
        self._layout = self._file = None

    def __enter__(self):
        return self

    def _lay_out(self, products: dict):
        """Write the headers and size the file (the data areas read as zeros until filled)."""
        specs = []
        for name in self.names:
            shape, dtype = products[name]
            specs.append((name, _cube_shape(shape), np.dtype(dtype).newbyteorder(">")))
        heads = headers(self.n, specs, self.cards)
        tmp = self._stack.enter_context(atomic_path(self.path))
        self._file = self._stack.enter_context(open(tmp, "wb", buffering=0))
        self._layout = {}
        offset = 0
        for head, (name, plane, dtype) in zip(heads, [(None, (), None), *specs]):
            self._file.seek(offset)
            self._file.write(head)
            offset += len(head)
            if name is not None:
                self._layout[name] = (offset, int(np.prod(plane)) * dtype.itemsize, dtype)
                offset += padded(self.n * self._layout[name][1]) if self.n else 0
        self._file.truncate(offset)

    def write(self, rows, products: dict):
        """Store ``products[name][j]`` (``(H, W[, C])``) as plane ``rows[j]`` of each cube."""
        if self._layout is None:
            self._lay_out({k: (np.shape(v)[1:], np.asarray(v).dtype) for k, v in products.items()})
        rows = np.asarray(rows, dtype=np.int64).reshape(-1)
        if len(rows) == 0:
            return
        if rows.min() < 0 or rows.max() >= self.n:
            raise IndexError(
                f"{self.path}: planes {rows.min()}..{rows.max()} outside 0..{self.n - 1}"
            )
        contiguous = bool(np.all(np.diff(rows) == 1))
        for name in self.names:
            offset, plane_bytes, dtype = self._layout[name]
            data = np.asarray(products[name])
            if data.ndim == 4:
                data = np.moveaxis(data, -1, 1)
            data = np.ascontiguousarray(data, dtype=dtype)
            if contiguous:
                self._pwrite(data, offset + int(rows[0]) * plane_bytes)
            else:
                for plane, row in zip(data, rows):
                    self._pwrite(plane, offset + int(row) * plane_bytes)

    def _pwrite(self, data, offset):
        view = memoryview(data.reshape(-1).view(np.uint8))
        while len(view):
            written = os.pwrite(self._file.fileno(), view, offset)
            view, offset = view[written:], offset + written

    def __exit__(self, *exc):
        if self._layout is None and exc[0] is None:  # no source at all
            self._lay_out({name: ((), np.float32) for name in self.names})
        self._layout = self._file = None
        return self._stack.__exit__(*exc)
