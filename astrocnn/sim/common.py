"""What every simulator shares: argument checks, noise, stamp files and the catalogue."""

from __future__ import annotations

import sys

import numpy as np
from astropy.io import fits
from astropy.table import Table
from astropy.wcs import WCS
from tqdm import tqdm

from astrocnn.io.atomic import atomic_path
from astrocnn.io.catalog import write_table

# ---------------------------------------------------------------------------------------
# arguments


def is_int(value, low):
    """Whether ``value`` is an integer (not a bool) no smaller than ``low``.

    Parameters
    ----------
    value : object
        Value to test.
    low : int
        Smallest allowed value.

    Returns
    -------
    bool
    """
    return isinstance(value, int | np.integer) and not isinstance(value, bool) and value >= low


def is_number(value):
    """Whether ``value`` is a finite real number (not a bool).

    Parameters
    ----------
    value : object
        Value to test.

    Returns
    -------
    bool
    """
    return (
        isinstance(value, int | float | np.number)
        and not isinstance(value, bool)
        and bool(np.isfinite(value))
    )


def check_args(n, seed, *checks):
    """Check a simulator's ``n`` and ``seed``, then the caller's own checks, in order.

    Parameters
    ----------
    n : object
        Number of objects; must be an integer >= 1.
    seed : object
        Random seed; must be a non-negative integer.
    *checks : tuple of (bool, str)
        Further ``(ok, message)`` pairs (e.g. `stamp_checks`), all evaluated by the
        caller.

    Raises
    ------
    ValueError
        With the message of the first check that fails.
    """
    checks = [
        (is_int(n, 1), f"n must be an integer >= 1, got {n!r}"),
        (is_int(seed, 0), f"seed must be a non-negative integer, got {seed!r}"),
        *checks,
    ]
    for ok, message in checks:
        if not ok:
            raise ValueError(message)


def stamp_checks(size, pixel_scale, bands, all_bands):
    """Checks of a stamp simulator's ``size``, ``pixel_scale`` and ``bands``, for `check_args`.

    Parameters
    ----------
    size : object
        Stamp side; must be an integer >= 16.
    pixel_scale : object
        Arcsec per pixel; must be a positive finite number.
    bands : tuple of str
        Must be distinct names from ``all_bands``, at least one.
    all_bands : tuple of str
        The simulator's bands.

    Returns
    -------
    list of tuple of (bool, str)
        ``(ok, message)`` pairs.
    """
    return [
        (is_int(size, 16), f"size must be an integer >= 16, got {size!r}"),
        (
            is_number(pixel_scale) and pixel_scale > 0,
            f"pixel_scale must be a positive number, got {pixel_scale!r}",
        ),
        (
            0 < len(bands) == len(set(bands)) and set(bands) <= set(all_bands),
            f"bands must be distinct names from {all_bands}, got {bands!r}",
        ),
    ]


# ---------------------------------------------------------------------------------------
# observing


def noise_from_depth(pixel_scale, magzp, sky_mag, ref_fwhm, depth_flux2, depth_snr, bidx=None):
    """Sky level per pixel and effective gain per band of a survey, from its depths.

    The depth is that of a Gaussian point source of FWHM ``ref_fwhm`` seen at S/N
    ``depth_snr`` with a matched filter, sky-limited: ``var_sky = F^2 sum(psf^2) /
    snr^2`` per pixel with ``sum(psf^2) = 1 / (4 pi sigma^2)``.

    Parameters
    ----------
    pixel_scale : float
        Arcsec per pixel.
    magzp : float
        AB zero point of the image unit.
    sky_mag : numpy.ndarray
        Sky brightness per band [mag / arcsec^2].
    ref_fwhm : float or numpy.ndarray
        Seeing [arcsec] at which the depths hold.
    depth_flux2 : numpy.ndarray
        Squared flux [image units^2] of the point source at the depth, per band.
    depth_snr : float
        S/N of that source (5 for 5-sigma depths).
    bidx : list of int, optional
        Indices of the imaged bands: return their values only, shaped (nband, 1, 1)
        to broadcast against image cubes.

    Returns
    -------
    sky : numpy.ndarray
        Sky level [image units / pixel] per band.
    gain : numpy.ndarray
        Effective gain [e- / image unit] per band: sky variance ``sky / gain``.
    """
    sky = 10.0 ** (-0.4 * (sky_mag - magzp)) * pixel_scale**2
    sigma_pix = ref_fwhm / (2 * np.sqrt(2 * np.log(2)) * pixel_scale)
    var_sky = depth_flux2 / (4 * np.pi * sigma_pix**2) / depth_snr**2
    gain = sky / var_sky
    if bidx is None:
        return sky, gain
    return sky[bidx, None, None], gain[bidx, None, None]


def add_noise(rng, model, sky, gain):
    """Sky and photon noise (Gaussian approximation) on a sky-subtracted image.

    Parameters
    ----------
    rng : numpy.random.Generator
        Random stream (``model.size`` normals are drawn).
    model : numpy.ndarray
        Noiseless image (nband, H, W).
    sky, gain : numpy.ndarray
        Sky level and effective gain, broadcastable to ``model`` (`noise_from_depth`).

    Returns
    -------
    image : numpy.ndarray
        ``model`` plus noise (float64).
    variance : numpy.ndarray
        Pixel variance ``(sky + max(model, 0)) / gain``.
    """
    var = (sky + np.clip(model, 0, None)) / gain
    return model + np.sqrt(var) * rng.standard_normal(model.shape), var


def background_sigma(sky, gain):
    """Background noise sigma per pixel: the noise of a blank-sky pixel.

    `add_noise` draws ``sqrt((sky + max(model, 0)) / gain)`` per pixel; where the
    model is 0 that is ``sqrt(sky / gain)``, which `noise_from_depth` makes
    ``F / (sqrt(4 pi) sigma_psf snr)`` for a depth flux ``F``, seeing sigma
    ``sigma_psf`` [pixels] and S/N ``snr``: proportional to the pixel scale.

    Parameters
    ----------
    sky, gain : numpy.ndarray
        Sky level and effective gain (`noise_from_depth`).

    Returns
    -------
    numpy.ndarray
        Sigma [image units], shaped as ``sky``.
    """
    return np.sqrt(sky / gain)


def sky_position(rng):
    """A random sky position, uniform on the sphere.

    Parameters
    ----------
    rng : numpy.random.Generator
        Random stream (two uniforms are drawn, RA first).

    Returns
    -------
    ra, dec : float
        Degrees.
    """
    return rng.uniform(0, 360), np.degrees(np.arcsin(rng.uniform(-1, 1)))


def object_streams(rng, n, progress=False, desc=None):
    """One independent random stream per object, and the object's sky position.

    The seeds of all ``n`` streams are drawn from ``rng`` at once, so the first
    objects of a larger run are those of a smaller one.

    Parameters
    ----------
    rng : numpy.random.Generator
        Stream of the run; ``n`` seeds are drawn from it when this is called.
    n : int
        Number of objects.
    progress : bool, optional
        Show a tqdm progress bar on stderr while iterating.
    desc : str, optional
        Label of the progress bar.

    Returns
    -------
    iterator of tuple
        ``(i, stream, ra, dec)`` per object: ``stream`` is the object's
        ``numpy.random.Generator``, which has drawn ``ra``, ``dec`` [deg] with
        `sky_position`.
    """
    seeds = rng.integers(0, 2**63, n)

    def objects():
        for i in tqdm(range(n), disable=not progress, file=sys.stderr, desc=desc):
            stream = np.random.default_rng(seeds[i])
            yield (i, stream, *sky_position(stream))

    return objects()


# ---------------------------------------------------------------------------------------
# files


def stamp_header(size, pixel_scale, bands, magzp, bunit, sky_sigma=None):
    """FITS header with a 2-D celestial TAN WCS centred on the stamp (CRVAL per object).

    Parameters
    ----------
    size : int
        Stamp side in pixels.
    pixel_scale : float
        Arcsec per pixel.
    bands : sequence of str
        Band names, stored as ``BANDS`` (and, for one band, ``FILTER``).
    magzp : float
        Photometric zero point (``MAGZP``).
    bunit : str
        Pixel unit (``BUNIT``).
    sky_sigma : sequence of float, optional
        Background noise sigma [``bunit``] per band of ``bands``, stored as
        ``SKYSIG_<BAND>`` (`noise_cards`); leave it out for noiseless images.

    Returns
    -------
    astropy.io.fits.Header
    """
    w = WCS(naxis=2)
    w.wcs.ctype = ["RA---TAN", "DEC--TAN"]
    w.wcs.cdelt = [-pixel_scale / 3600, pixel_scale / 3600]
    w.wcs.crpix = [(size + 1) / 2] * 2
    hdr = w.to_header()
    for key in ("LATPOLE", "MJDREF", "DATEREF"):
        hdr.remove(key, ignore_missing=True)
    hdr.update(BANDS=",".join(bands), PIXSCALE=pixel_scale, MAGZP=magzp, BUNIT=bunit)
    if len(bands) == 1:
        hdr["FILTER"] = (bands[0], "band of the image")
    if sky_sigma is not None:
        hdr.update(noise_cards(sky_sigma, bands, tuple(bands), bunit))
    return hdr


def psf_cards(fwhm, bands, all_bands):
    """``PSF_<BAND>`` header cards: the PSF FWHM of each of ``bands``.

    Parameters
    ----------
    fwhm : numpy.ndarray
        FWHM [arcsec] per band of ``all_bands``.
    bands : sequence of str
        Bands to write, in order.
    all_bands : tuple of str
        The simulator's bands.

    Returns
    -------
    dict
        Keyword -> (FWHM rounded to 4 decimals, comment).
    """
    return {
        f"PSF_{b.upper()}": (round(float(fwhm[all_bands.index(b)]), 4), "PSF FWHM [arcsec]")
        for b in bands
    }


def noise_cards(sigma, bands, all_bands, bunit):
    """``SKYSIG_<BAND>`` header cards: the background noise sigma of each of ``bands``.

    The keyword is ``SKYSIG_`` plus the upper-cased band name, cut to 8 characters
    (what `astrocnn.io.contract.noise_card` reads).

    Parameters
    ----------
    sigma : numpy.ndarray
        Background noise sigma per pixel [``bunit``] per band of ``all_bands``
        (`background_sigma`).
    bands : sequence of str
        Bands to write, in order.
    all_bands : tuple of str
        The bands ``sigma`` is indexed by.
    bunit : str
        Pixel unit, for the comment.

    Returns
    -------
    dict
        Keyword -> (sigma to 6 significant digits, comment).

    Raises
    ------
    ValueError
        If two bands give the same (cut) keyword.
    """
    cards = {
        f"SKYSIG_{b.upper()}"[:8]: (
            float(f"{float(sigma[all_bands.index(b)]):.6g}"),
            f"background noise sigma [{bunit}]",
        )
        for b in bands
    }
    if len(cards) != len(bands):
        raise ValueError(f"bands {tuple(bands)!r} give clashing SKYSIG_<BAND> keywords")
    return cards


def write_atomic(path, write):
    """Call ``write(tmp)`` on a temporary name next to ``path``, then rename it to ``path``."""
    with atomic_path(path) as tmp:
        write(str(tmp))


def write_fits(path, hdus):
    """Write an HDU or HDU list atomically, without verification (cards are built valid).

    Parameters
    ----------
    path : path-like
        Output file (replaced).
    hdus : astropy.io.fits.PrimaryHDU or astropy.io.fits.HDUList
        What to write.
    """
    write_atomic(path, lambda tmp: hdus.writeto(tmp, overwrite=True, output_verify="ignore"))


class StampWriter:
    """Writer of same-shaped FITS stamps that reuses one HDU for all of them.

    Building headers is the slow part of astropy: the `stamp_header` template is
    built once and only the per-object cards change.

    Parameters
    ----------
    size, pixel_scale, bands, magzp, bunit, sky_sigma
        As for `stamp_header`; stamps are float32 (len(bands), size, size).
    """

    def __init__(self, size, pixel_scale, bands, magzp, bunit, sky_sigma=None):
        template = stamp_header(size, pixel_scale, bands, magzp, bunit, sky_sigma)
        self.hdu = fits.PrimaryHDU(np.zeros((len(bands), size, size), np.float32), header=template)

    def write(self, path, cube, cards):
        """Write one stamp.

        Parameters
        ----------
        path : path-like
            Output file (replaced atomically).
        cube : numpy.ndarray
            float32 (nband, size, size) image.
        cards : dict
            Keyword -> value or (value, comment), set in order on the reused header
            (cards of an earlier stamp that are not set again stay).
        """
        self.hdu.data = cube
        self.hdu.header.update(cards)
        write_fits(path, self.hdu)


def run_meta(simulator, seed, pixel_scale, bands, **cards):
    """Catalogue metadata of a stamp simulator's run.

    Parameters
    ----------
    simulator : str
        Name of the simulator (``SIMULATR``), its module.
    seed : int
        Seed of the run (``SEED``).
    pixel_scale : float
        Arcsec per pixel (``PIXSCALE``).
    bands : sequence of str
        Bands (``BANDS``, comma-separated).
    **cards
        Further cards, in order after those.

    Returns
    -------
    dict
    """
    return dict(
        SIMULATR=simulator,
        SEED=int(seed),
        PIXSCALE=float(pixel_scale),
        BANDS=",".join(bands),
        **cards,
    )


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
