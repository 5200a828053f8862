"""Write FITS image files from header cards the caller formats.

For files whose headers need no astropy: the caller gives each HDU's cards
(:func:`astrocnn.io.fits.cards.format_card`, or a template's images via
:func:`astrocnn.io.fits.cards.header_cards`), :func:`image_header` puts the
mandatory cards before them, and :func:`write_data` stores the data as FITS
requires.  Astropy spends milliseconds per file on header bookkeeping, more
than the simulators spend drawing a scene.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from astrocnn.io.atomic import atomic_path
from astrocnn.io.fits.cards import BITPIX_DTYPES, FITS_BLOCK, format_card, header_block

_WRITE_CHUNK = 1 << 24  # bytes of data converted to FITS byte order at a time
_BITPIX = {np.dtype(dtype).str[1:]: bitpix for bitpix, dtype in BITPIX_DTYPES.items()}


def write_data(handle, data: np.ndarray) -> None:
    """Write an array (at least 1-D) as a FITS data unit.

    Parameters
    ----------
    handle : file object
        Open for binary writing, just after the HDU's header.
    data : numpy.ndarray
        Stored big-endian, converted a bounded number of rows at a time, then
        zero-padded to a whole FITS block.
    """
    stored = data.dtype.newbyteorder(">")
    rows = max(1, _WRITE_CHUNK // max(1, data[:1].nbytes))
    for start in range(0, len(data), rows):
        handle.write(np.ascontiguousarray(data[start : start + rows], stored).tobytes())
    handle.write(bytes(-data.nbytes % FITS_BLOCK))


def image_header(data, cards, extname=None) -> bytes:
    """The header of a primary HDU or an IMAGE extension.

    Parameters
    ----------
    data : numpy.ndarray or None
        The HDU's data (its BITPIX type: uint8, int16/32/64, float32/64); None
        for an HDU without data.
    cards : sequence of bytes
        Card images following the mandatory cards (SIMPLE or XTENSION, BITPIX,
        NAXISn, then EXTEND for a primary HDU; PCOUNT, GCOUNT and EXTNAME for an
        extension).
    extname : str, optional
        The extension's name; None for a primary HDU.

    Returns
    -------
    bytes
        The header, padded to whole FITS blocks.
    """
    shape = () if data is None else data.shape
    if extname is None:
        head = [format_card("SIMPLE", True, "conforms to FITS standard")]
    else:
        head = [format_card("XTENSION", "IMAGE", "Image extension")]
    if data is not None and data.dtype.str[1:] not in _BITPIX:
        raise ValueError(f"FITS images hold no {data.dtype} data (BITPIX types only)")
    head.append(format_card("BITPIX", 8 if data is None else _BITPIX[data.dtype.str[1:]]))
    head.append(format_card("NAXIS", len(shape)))
    head += [format_card(f"NAXIS{k}", n) for k, n in enumerate(reversed(shape), start=1)]
    if extname is None:
        head.append(format_card("EXTEND", True))
    else:
        head += [format_card("PCOUNT", 0), format_card("GCOUNT", 1)]
        head.append(format_card("EXTNAME", extname))
    return header_block([*head, *cards])


def write_image_hdus(path, hdus) -> Path:
    """Write image HDUs as a FITS file, atomically.

    Parameters
    ----------
    path : path-like
        Destination.
    hdus : sequence of tuple
        ``(data, cards)`` for the primary HDU, then ``(data, cards, extname)``
        for each extension (arguments of :func:`image_header`).

    Returns
    -------
    pathlib.Path
    """
    with atomic_path(path) as tmp, open(tmp, "wb") as handle:
        for data, cards, *extname in hdus:
            handle.write(image_header(data, cards, *extname))
            if data is not None:
                write_data(handle, data)
    return Path(path)
