"""The LSST 10-year survey model shared by the photo-z and deblending simulators.

Bands u-y, 5-sigma point-source depths and dark-sky brightness of the 10-year coadd
(Ivezic et al. 2019) at the effective seeing ``REF_FWHM``; images are sky-subtracted
fluxes in nJy (AB zero point ``MAGZP`` = 31.4).
"""

import numpy as np

from astrocnn.sim.common import noise_from_depth

MAGZP = 31.4  # AB; 1 image unit = 1 nJy
ALL_BANDS = ("u", "g", "r", "i", "z", "y")
DEPTH_5SIGMA = np.array([26.1, 27.4, 27.5, 26.8, 26.1, 24.9])
SKY_MAG = np.array([22.99, 22.26, 21.20, 20.48, 19.60, 18.61])  # mag / arcsec^2
REF_FWHM = np.array([0.92, 0.87, 0.83, 0.80, 0.78, 0.76])  # arcsec


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
