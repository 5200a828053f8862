"""Image products: per-object FITS files written beside an output table.

Tasks with per-pixel outputs (deblended images, segmentation maps) write one
FITS file per object into a folder next to the output table, e.g.
``pred.fits`` -> ``pred_images/``.  Every file keeps the celestial WCS of
the object's input cutout, so it overlays on the input in DS9; the first
product is the primary HDU, the others are extensions named after the
product.  Files are written atomically; the folder must not exist unless
``overwrite`` is given.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import numpy as np

from astrocnn.errors import OutputError


def products_dir(out) -> Path:
    """The image-products folder of output table ``out``: ``<stem>_images``."""
    out = Path(out)
    return out.with_name(out.name.split(".")[0] + "_images")


def prepare_products_dir(folder: Path, overwrite: bool) -> Path:
    """Create ``folder``; refuse an existing one unless ``overwrite`` (then empty it)."""
    folder = Path(folder)
    if folder.exists():
        if not overwrite:
            raise OutputError(f"{folder}: image-products folder exists (use --overwrite)")
        shutil.rmtree(folder)
    try:
        folder.mkdir(parents=True)
    except OSError as exc:
        raise OutputError(f"{folder}: cannot create folder ({exc.strerror})") from None
    return folder


def safe_name(value) -> str:
    """A file-name-safe rendering of an object id."""
    text = value.decode() if isinstance(value, bytes) else str(value)
    return re.sub(r"[^A-Za-z0-9._+-]+", "_", text).strip("._") or "object"


def unique_file_names(ids) -> list[str]:
    """One FITS file name per object: ``<id>.fits``, or ``row<r>_<id>.fits`` for
    every object when the (file-name-safe) ids are not unique."""
    names = [safe_name(i) for i in ids]
    unique = len(set(names)) == len(names)
    return [f"{n}.fits" if unique else f"row{r}_{n}.fits" for r, n in enumerate(names)]


def _wcs_header(path):
    """Celestial WCS cards of the first image HDU of ``path`` (empty when none or unreadable)."""
    from astropy.io import fits
    from astropy.wcs import WCS

    try:
        with fits.open(path, memmap=False) as hdul:
            for hdu in hdul:
                if getattr(hdu, "is_image", False) and hdu.header.get("NAXIS", 0) >= 2:
                    with np.errstate(all="ignore"):
                        wcs = WCS(hdu.header, relax=True).celestial
                    if not wcs.has_celestial:
                        return fits.Header()
                    # new cards in astropy's formatting (wcslib's leaves 'deg' unpadded),
                    # so the products' headers can be reused from object to object
                    return fits.Header(
                        [(c.keyword, c.value, c.comment) for c in wcs.to_header().cards]
                    )
    except Exception:  # noqa: BLE001 - the product is still useful without a WCS
        pass
    return fits.Header()


def write_object_products(path, products: dict, *, source_file=None, cards=None) -> Path:
    """Write one object's image products to ``path``.

    Parameters
    ----------
    path : path-like
        Destination FITS file.
    products : dict of str to numpy.ndarray
        ``(H, W, C)`` arrays are written as ``(C, H, W)`` cubes, ``(H, W)``
        arrays as images; the first becomes the primary HDU.
    source_file : path-like, optional
        The object's input cutout, whose celestial WCS is copied.
    cards : dict, optional
        Extra header cards for every HDU.
    """
    from astropy.io import fits

    from astrocnn.io.fits.headers import write_image_file

    wcs = _wcs_header(source_file) if source_file else fits.Header()
    images = []
    for name, array in products.items():
        data = np.asarray(array)
        if data.ndim == 3:
            data = np.moveaxis(data, -1, 0)
        images.append((name.upper(), data, None))
    # astropy's file byte for byte, its headers reused from object to object
    # (astropy building every file took two thirds of an object's time)
    return write_image_file(path, images, wcs, cards)
