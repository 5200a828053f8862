"""The LSST 10-year survey model shared by the photo-z and deblending simulators.

Bands u-y, 5-sigma point-source depths and dark-sky brightness of the 10-year coadd
(Ivezic et al. 2019) at the effective seeing ``REF_FWHM``; images are sky-subtracted
fluxes in nJy (AB zero point ``MAGZP`` = 31.4). The numbers are those of the ``lsst``
preset of `astrocnn.sim.surveys`.

`Imaging` is how those two simulators image a run: this model (their default, that of
the default models) or another survey (`astrocnn.sim.surveys.Survey`).
"""

import functools

import astropy.units as u
import galsim
import numpy as np

from astrocnn.sim.common import noise_cards, noise_from_depth, psf_cards, stamp_checks
from astrocnn.sim.galaxies import seeing_psfs
from astrocnn.sim.surveys import SURVEYS

LSST = SURVEYS["lsst"]
MAGZP = LSST.zero_point  # AB; 1 image unit = 1 nJy
ALL_BANDS = LSST.band_names
DEPTH_5SIGMA = np.array([b.depth for b in LSST.bands])
SKY_MAG = np.array([b.sky for b in LSST.bands])  # mag / arcsec^2
REF_FWHM = np.array([b.fwhm for b in LSST.bands])  # arcsec


def noise_model(pixel_scale, bidx=None):
    """Sky level and effective gain per band from the LSST depths.

    Parameters
    ----------
    pixel_scale : float
        Arcsec per pixel.
    bidx : list of int, optional
        Indices of the imaged bands in ``ALL_BANDS``: their values only, shaped
        (nband, 1, 1).

    Returns
    -------
    sky : numpy.ndarray
        Sky level [nJy / pixel] in ``ALL_BANDS``.
    gain : numpy.ndarray
        Effective gain [e- / nJy] in ``ALL_BANDS`` (see `noise_from_depth`).
    """
    # (this formula, not Survey.noise: the two differ in the last bits, and the
    # default simulations must stay bit-identical)
    depth_flux2 = 10.0 ** (-0.8 * (DEPTH_5SIGMA - MAGZP))
    return noise_from_depth(pixel_scale, MAGZP, SKY_MAG, REF_FWHM, depth_flux2, 5.0, bidx)


def sky_sigma(pixel_scale=0.2):
    """Sky noise per pixel [nJy] in ``ALL_BANDS`` (sources add photon noise).

    Parameters
    ----------
    pixel_scale : float, optional
        Arcsec per pixel.

    Returns
    -------
    numpy.ndarray
    """
    sky, gain = noise_model(pixel_scale)
    return np.sqrt(sky / gain)


def nearest_band(survey, name="i"):
    """Index of the band of ``survey`` nearest in wavelength to the LSST band ``name``.

    The simulators key magnitude ranges to the i band; in another survey they key them
    to this band (HSC, DES, KiDS, SDSS: i; Euclid: VIS). Ties go to the bluer band.

    Parameters
    ----------
    survey : astrocnn.sim.surveys.Survey
    name : str, optional
        A band of ``ALL_BANDS``.

    Returns
    -------
    int
    """
    target = LSST.band(name).wavelength
    return int(np.argmin([abs(b.wavelength - target) for b in survey.bands]))


class Imaging:
    """The bands and observing conditions of a run of the photo-z or deblend simulator.

    Without a survey: LSST (this module), each object's seeing a factor from
    ``seeing_range`` on ``REF_FWHM``, fixed depths: what the simulators always drew.
    With a survey: its bands, zero point and unit, and each object's seeing and depth
    offset from `~astrocnn.sim.surveys.Survey.draw_conditions` (drawn for all its
    bands, so the reference band's seeing is known whichever bands are imaged).

    Parameters
    ----------
    bands : str or sequence of str or None
        Imaged bands, in cube order (None: all of ``all_bands``); checked by
        `checks`.
    pixel_scale : float or None
        Arcsec per pixel (None: the survey's, LSST's 0.2 without one).
    seeing_range : tuple of float
        The simulator's own range of the factor on ``REF_FWHM`` (without a survey).
    survey : astrocnn.sim.surveys.Survey, optional

    Attributes
    ----------
    bands : tuple of str
        Imaged bands, in cube order.
    all_bands : tuple of str
        Bands of the true fluxes and of the FWHM `conditions` returns: ``ALL_BANDS``,
        or the survey's.
    pixel_scale : float
    key : int
        Index in ``all_bands`` of the band magnitude ranges are keyed to (i, or
        `nearest_band`).
    zero_point, unit : float, str
        AB zero point and ``BUNIT`` of the images.
    """

    def __init__(self, bands, pixel_scale, seeing_range, survey=None):
        self.seeing_range, self.survey = seeing_range, survey
        self.pixel_scale = pixel_scale
        if pixel_scale is None:
            self.pixel_scale = (LSST if survey is None else survey).pixel_scale
        if survey is None:
            self.all_bands, self.key = ALL_BANDS, ALL_BANDS.index("i")
            self.zero_point, self.unit = MAGZP, "nJy"
        else:
            self.all_bands, self.key = survey.band_names, nearest_band(survey)
            self.zero_point, self.unit = survey.zero_point, survey.unit
        bands = self.all_bands if bands is None else bands
        self.bands = (bands,) if isinstance(bands, str) else tuple(bands)

    def checks(self, size):
        """`astrocnn.sim.common.stamp_checks` of ``size``, the pixel scale and the bands."""
        return stamp_checks(size, self.pixel_scale, self.bands, self.all_bands)

    @functools.cached_property
    def bidx(self):
        """Indices of ``bands`` in ``all_bands``."""
        return [self.all_bands.index(b) for b in self.bands]

    @functools.cached_property
    def _noise(self):
        return noise_model(self.pixel_scale, self.bidx)

    @property
    def key_band(self):
        """Name of the band magnitude ranges are keyed to."""
        return self.all_bands[self.key]

    @property
    def bandpasses(self):
        """Bandpass of each of ``all_bands``: a GalSim file name or a top-hat (blue, red)."""
        bands = LSST.bands if self.survey is None else self.survey.bands
        return tuple(b.bandpass for b in bands)

    def conditions(self, rng, ren):
        """One object's seeing and depth.

        Parameters
        ----------
        rng : numpy.random.Generator
        ren : astrocnn.sim.galaxies.FourierRenderer

        Returns
        -------
        fwhm : numpy.ndarray
            PSF FWHM [arcsec] per band of ``all_bands``.
        psf_k : numpy.ndarray
            Kolmogorov PSF of each imaged band (`FourierRenderer.psf`).
        depth_offset : float
            Magnitudes added to the depths (0 without a survey).
        """
        if self.survey is None:
            return (*seeing_psfs(rng, ren, REF_FWHM, self.seeing_range, self.bidx), 0.0)
        fwhm, offset = self.survey.draw_conditions(rng)
        psf_k = np.array([ren.psf(galsim.Kolmogorov(fwhm=fwhm[b])) for b in self.bidx])
        return fwhm, psf_k, offset

    def noise(self, depth_offset=0.0):
        """Sky level and gain of the imaged bands at a depth (`add_noise`'s)."""
        if self.survey is None:
            return self._noise
        sky, gain = self.survey.noise(depth_offset, self.pixel_scale)
        return sky[self.bidx], gain[self.bidx]

    def sigma(self, depth_offset=0.0):
        """Background noise sigma per pixel of the imaged bands at a depth."""
        if self.survey is None:
            return sky_sigma(self.pixel_scale)[self.bidx]
        sigma = self.survey.sky_sigma(depth_offset=depth_offset, pixel_scale=self.pixel_scale)
        return sigma[self.bidx]

    def cards(self, fwhm, depth_offset):
        """One object's header cards: ``PSF_<BAND>`` and, with a survey, the survey's
        cards (``SURVEY``, ``MAGZP``, ``BUNIT``), ``DEPTHOFF`` and ``SKYSIG_<BAND>`` at
        the object's depth."""
        cards = psf_cards(fwhm, self.bands, self.all_bands)
        if self.survey is None:
            return cards
        offset = (round(float(depth_offset), 4), "depth offset [mag] (positive: deeper)")
        sigma = self.sigma(depth_offset)
        noise = noise_cards(sigma, self.bands, self.bands, self.unit)
        return cards | self.survey.cards() | {"DEPTHOFF": offset} | noise

    def columns(self, fwhm, depth_offset):
        """One object's catalogue columns of its conditions (none without a survey):
        ``psf_fwhm`` in the survey's reference band and ``depth_offset``."""
        if self.survey is None:
            return {}
        ref = self.all_bands.index(self.survey.reference_band)
        return dict(psf_fwhm=float(fwhm[ref]), depth_offset=float(depth_offset))

    @property
    def flux_unit(self):
        """``unit`` as an astropy unit, for catalogue columns (None if astropy lacks it)."""
        try:
            return u.Unit(self.unit)
        except ValueError:
            return None

    def column_units(self):
        """Units of the `columns`, in their order."""
        return {} if self.survey is None else {"psf_fwhm": u.arcsec, "depth_offset": u.mag}

    def meta(self):
        """Catalogue metadata of the set-up (none without a survey): ``SURVEY``,
        ``REFBAND`` (the reference band, that of ``psf_fwhm``) and ``MAGBAND`` (the band
        magnitude ranges are keyed to)."""
        if self.survey is None:
            return {}
        survey = self.survey
        return {"SURVEY": survey.name, "REFBAND": survey.reference_band, "MAGBAND": self.key_band}
