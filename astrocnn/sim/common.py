"""What every simulator shares: stamp headers, atomic files and the catalogue."""

from __future__ import annotations

import numpy as np
from astropy.table import Table
from astropy.wcs import WCS

from astrocnn.io.atomic import atomic_path
from astrocnn.io.catalog import write_table


def stamp_header(size, pixel_scale, bands, magzp, bunit):
    """FITS header with a 2-D celestial TAN WCS centred on the stamp (CRVAL per object).

    Parameters
    ----------
    size : int
        Stamp side in pixels.
    pixel_scale : float
        Arcsec per pixel.
    bands : sequence of str
        Band names, stored as ``BANDS``.
    magzp : float
        Photometric zero point (``MAGZP``).
    bunit : str
        Pixel unit (``BUNIT``).
    """
    w = WCS(naxis=2)
    w.wcs.ctype = ["RA---TAN", "DEC--TAN"]
    w.wcs.cdelt = [-pixel_scale / 3600, pixel_scale / 3600]
    w.wcs.crpix = [(size + 1) / 2] * 2
    hdr = w.to_header()
    for key in ("LATPOLE", "MJDREF", "DATEREF"):
        hdr.remove(key, ignore_missing=True)
    hdr.update(BANDS=",".join(bands), PIXSCALE=pixel_scale, MAGZP=magzp, BUNIT=bunit)
    return hdr


def write_atomic(path, write):
    """Call ``write(tmp)`` on a temporary name next to ``path``, then rename it to ``path``."""
    with atomic_path(path) as tmp:
        write(str(tmp))


def catalogue(rows, columns, units, meta, outdir):
    """Build the truth catalogue from per-object dicts and write ``outdir/catalog.fits``.

    Parameters
    ----------
    rows : list of dict
        One dict per object holding at least ``columns``.
    columns : sequence of str
        Column order; ``id`` becomes int64.
    units : dict
        Astropy unit per column.
    meta : dict
        Table metadata (FITS header cards).
    outdir : path-like
        Output folder.

    Returns
    -------
    astropy.table.Table
    """
    table = Table(rows=[[r[c] for c in columns] for r in rows], names=columns, meta=meta)
    table["id"] = table["id"].astype(np.int64)
    for column, unit in units.items():
        table[column].unit = unit
    write_table(table, f"{outdir}/catalog.fits", overwrite=True)
    return table
