"""One FITS file holding the image products of every source of a field.

A field with N detected sources gives, per image product of the task (for
deblending: the deblended stamp and its segmentation), one extension that
is a cube of N planes; plane ``k`` belongs to the field's ``k``-th source
(catalogue ``id`` ``k + 1``).  One file per field instead of one per source: a
survey field has thousands of sources, and on a cluster file system
millions of small files are slow to write and to list (writing a small FITS
file costs milliseconds, more than deblending the stamp in it).

The file is laid out on disk once the number of sources is known (headers
written, data areas allocated), then filled block by block through
``numpy.memmap``, so memory stays bounded by one block however many sources
the field has.  It is written under a temporary name and renamed when
complete (:func:`astrocnn.io.atomic.atomic_path`).
"""

from __future__ import annotations

import contextlib
from pathlib import Path

import numpy as np

from astrocnn.io.atomic import atomic_path

FITS_BLOCK = 2880


def _padded(nbytes: int) -> int:
    return -(-nbytes // FITS_BLOCK) * FITS_BLOCK


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
        self._arrays = None

    def __enter__(self):
        return self

    def _lay_out(self, products: dict):
        """Write the headers, allocate the data areas and map them."""
        from astropy.io import fits

        primary = fits.PrimaryHDU().header
        for key, value in self.cards.items():
            primary[key] = value
        heads = [(0, primary.tostring().encode("ascii"))]
        layout = []
        offset = len(heads[0][1])
        for name in self.names:
            shape, dtype = products[name]
            dtype = np.dtype(dtype).newbyteorder(">")
            full = (self.n, *_cube_shape(shape))
            head = _header(name, dtype, full if self.n else (), self.cards)
            head = head.tostring().encode("ascii")
            heads.append((offset, head))
            layout.append((name, offset + len(head), full, dtype))
            offset += len(head) + (_padded(int(np.prod(full)) * dtype.itemsize) if self.n else 0)
        tmp = self._stack.enter_context(atomic_path(self.path))
        with open(tmp, "wb") as f:
            for position, head in heads:
                f.seek(position)
                f.write(head)
            f.truncate(offset)  # the data areas: zeros until filled
        self._arrays = {}
        if self.n:
            self._arrays = {
                name: np.memmap(tmp, dtype=dtype, mode="r+", offset=data_offset, shape=full)
                for name, data_offset, full, dtype in layout
            }

    def write(self, rows, products: dict):
        """Store ``products[name][j]`` (``(H, W[, C])``) as plane ``rows[j]`` of each cube."""
        if self._arrays is None:
            self._lay_out({k: (np.shape(v)[1:], np.asarray(v).dtype) for k, v in products.items()})
        for name in self.names:
            data = np.asarray(products[name])
            if data.ndim == 4:
                data = np.moveaxis(data, -1, 1)
            self._arrays[name][np.asarray(rows)] = data

    def __exit__(self, *exc):
        if self._arrays is None and exc[0] is None:  # no source at all
            self._lay_out({name: ((), np.float32) for name in self.names})
        for array in (self._arrays or {}).values():
            array.flush()
        self._arrays = None
        return self._stack.__exit__(*exc)
