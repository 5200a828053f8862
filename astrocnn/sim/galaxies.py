"""GalSim galaxies shared by the simulators: a Fourier-space renderer, sizes and seeing.

`FourierRenderer` evaluates GalSim profiles once per object in Fourier space on a
fixed grid (``drawKImage``), adds point-like structure splatted onto the same grid,
and assembles per-band images there (component fluxes per band, per-band PSF, pixel
response) with one inverse FFT per band.
"""

import galsim
import numpy as np
from scipy.optimize import brentq
from scipy.special import gammainc, gammaincinv

BULGE_N = (3.0, 4.0)  # bulge Sersic indices: a fixed set, so that GalSim reuses its tables


def fast_len(n):
    """Smallest even ``2**a * 3**b >= n`` (a fast FFT length).

    Parameters
    ----------
    n : int
        Smallest length wanted.

    Returns
    -------
    int
    """
    best = 2 ** int(np.ceil(np.log2(n)))
    p3 = 1
    while p3 < best:
        m = p3 * 2 ** max(1, int(np.ceil(np.log2(n / p3))))
        best = min(best, m)
        p3 *= 3
    return best


class FourierRenderer:
    """Fourier-space assembly of GalSim profiles and splatted structure.

    The grid has ``nf >= 2 * size`` pixels a side; the stamp is its central
    ``size x size`` block, and position (0, 0) [arcsec] is the stamp centre (between
    pixels for an even ``size``, as GalSim's ``true_center`` and the FITS ``CRPIX``).
    Light beyond the stamp is thus lost rather than wrapped into it.

    Parameters
    ----------
    size : int
        Side of the stamps [pixels].
    pixel_scale : float
        Pixel side [arcsec].
    """

    def __init__(self, size, pixel_scale):
        self.size, self.ps = size, pixel_scale
        self.nf = nf = fast_len(2 * size)
        self.off = (nf - size) // 2
        self.c = self.off + (size - 1) / 2  # grid index of position (0, 0)
        kx = 2 * np.pi * np.fft.rfftfreq(nf, pixel_scale)
        ky = 2 * np.pi * np.fft.fftfreq(nf, pixel_scale)
        self.kx, self.ky = kx[None, :], ky[:, None]
        self.k2 = self.kx**2 + self.ky**2
        # GalSim profiles are centred on the grid origin: move them to (c, c), and
        # integrate over pixels (splatted structure is already pixel-sampled)
        self._phase_pix = (
            np.exp(-1j * (self.kx + self.ky) * self.c * pixel_scale)
            * np.sinc(self.kx * pixel_scale / (2 * np.pi))
            * np.sinc(self.ky * pixel_scale / (2 * np.pi))
        )
        self._kimage = galsim.ImageCD(
            galsim.BoundsI(0, nf // 2, -nf // 2, nf // 2 - 1), scale=2 * np.pi / (nf * pixel_scale)
        )

    def kimage(self, obj):
        """Half-plane Fourier transform of a GalSim profile in numpy ``rfft2`` layout.

        Parameters
        ----------
        obj : galsim.GSObject
            Profile, positioned relative to the stamp centre [arcsec].

        Returns
        -------
        numpy.ndarray
            complex (nf, nf // 2 + 1).
        """
        obj.drawKImage(image=self._kimage, recenter=False)
        return np.fft.ifftshift(self._kimage.array, axes=0)

    def splat(self, x, y, w, sigma):
        """Fourier transform of unit-flux points, splatted and smoothed.

        Parameters
        ----------
        x, y : array_like
            Positions [arcsec] relative to the stamp centre.
        w : array_like
            Weights (normalised to a total of 1).
        sigma : float
            rms [arcsec] of the Gaussian that smooths the bilinearly splatted points.

        Returns
        -------
        numpy.ndarray
            complex (nf, nf // 2 + 1), already pixel-sampled (see `render`).
        """
        nf = self.nf
        gx, gy = np.asarray(x) / self.ps + self.c, np.asarray(y) / self.ps + self.c
        ok = (gx >= 0) & (gx < nf - 1) & (gy >= 0) & (gy < nf - 1)
        gx, gy, w = gx[ok], gy[ok], np.asarray(w, float)[ok]
        ix, iy = np.floor(gx).astype(np.intp), np.floor(gy).astype(np.intp)
        fx, fy = gx - ix, gy - iy
        idx = np.concatenate(
            [iy * nf + ix, iy * nf + ix + 1, (iy + 1) * nf + ix, (iy + 1) * nf + ix + 1]
        )
        wts = np.concatenate([(1 - fx) * (1 - fy), fx * (1 - fy), (1 - fx) * fy, fx * fy])
        grid = np.bincount(idx, weights=wts * np.tile(w, 4), minlength=nf * nf)
        total = w.sum()
        if total <= 0:
            return np.zeros(self.k2.shape, complex)
        k = np.fft.rfft2(grid.reshape(nf, nf) / total)
        return k * np.exp(-0.5 * self.k2 * sigma**2)

    def psf(self, profile):
        """Fourier transform of a real, symmetric PSF.

        Parameters
        ----------
        profile : galsim.GSObject
            The PSF, centred (e.g. ``galsim.Moffat`` or ``galsim.Kolmogorov``).

        Returns
        -------
        numpy.ndarray
            float (nf, nf // 2 + 1).
        """
        return self.kimage(profile).real

    def render(self, smooth, points, psf_k):
        """Noiseless stamps (nband, size, size) from components.

        Parameters
        ----------
        smooth : list of tuple
            (Fourier image from `kimage`, flux per band) of the GalSim components.
        points : list of tuple
            (Fourier image from `splat`, flux per band) of the splatted components.
        psf_k : numpy.ndarray
            PSF per band from `psf`, (nband, nf, nf // 2 + 1).

        Returns
        -------
        numpy.ndarray
            float64 (nband, size, size).
        """
        total = np.zeros(psf_k.shape, complex)
        for k, f in smooth:  # (a loop: np.tensordot goes through BLAS threads, 20x slower)
            total += f[:, None, None] * k
        total *= self._phase_pix
        for k, f in points:
            total += f[:, None, None] * k
        img = np.fft.irfft2(total * psf_k, s=(self.nf, self.nf))
        o, s = self.off, self.size
        return img[:, o : o + s, o : o + s]


def seeing_psfs(rng, ren, ref_fwhm, seeing_range, bidx):
    """Draw the seeing of one observation and its Kolmogorov PSFs.

    Parameters
    ----------
    rng : numpy.random.Generator
        Random stream (one uniform, then one normal per band).
    ren : FourierRenderer
        Renderer of the stamps.
    ref_fwhm : numpy.ndarray
        Reference FWHM [arcsec] per band of the survey.
    seeing_range : tuple of float
        Range of the common (uniform) factor on ``ref_fwhm``; each band adds 2%
        Gaussian scatter.
    bidx : list of int
        Indices of the imaged bands.

    Returns
    -------
    fwhm : numpy.ndarray
        FWHM [arcsec] per band of ``ref_fwhm``.
    psf_k : numpy.ndarray
        `FourierRenderer.psf` of each imaged band.
    """
    fwhm = ref_fwhm * rng.uniform(*seeing_range) * (1 + rng.normal(0, 0.02, len(ref_fwhm)))
    psf_k = np.array([ren.psf(galsim.Kolmogorov(fwhm=fwhm[b])) for b in bidx])
    return fwhm, psf_k


def r_half_total(frac_b, n_b, r_b, r_d):
    """Half-light radius of a Sersic bulge plus an exponential disk.

    Parameters
    ----------
    frac_b : float
        Bulge fraction of the flux.
    n_b : float
        Bulge Sersic index.
    r_b, r_d : float
        Half-light radii of bulge and disk (any one unit).

    Returns
    -------
    float
        Half-light radius of the sum, in the unit of ``r_b`` and ``r_d``.
    """
    if frac_b <= 0 or r_b == r_d:
        return r_d if frac_b <= 0 else r_b
    bn, b1 = gammaincinv(2 * n_b, 0.5), gammaincinv(2.0, 0.5)

    def enclosed(r):
        bulge = gammainc(2 * n_b, bn * (r / r_b) ** (1 / n_b))
        return frac_b * bulge + (1 - frac_b) * gammainc(2.0, b1 * r / r_d) - 0.5

    return brentq(enclosed, min(r_b, r_d), max(r_b, r_d), xtol=1e-6)
