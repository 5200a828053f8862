"""Galaxy-galaxy strong-lens simulator for ground-based multi-band surveys.

Labelled cutouts in the spirit of the Strong Lens Finding Challenge (Metcalf et
al. 2019) for a DES/KiDS/LSST-like survey; see `simulate_lens` for the models.
Surface brightness and ray shooting use lenstronomy; Gaussian PSF convolution,
sky and photon noise are applied here. Images are sky-subtracted ADU with AB
magnitude zero point ``MAGZP`` (30) by default.

The survey set-up can be changed: the pixel scale and stamp size, the zero point
of the image unit (all fluxes, the sky and the noise scale with it, so that the
same sky brightness and depths in magnitudes hold) and the depth (``depth_offset``
shifts the point-source depths ``DEPTH_10SIGMA``; the sky brightness stays). The
noise per pixel follows from the depths, the sky brightness and the pixel scale
(`astrocnn.sim.common.noise_from_depth`): sky-limited, its sigma scales with the
pixel scale. Every cutout states its set-up in header cards: ``PIXSCALE`` (and the
WCS), ``MAGZP``, ``BUNIT``, ``BANDS`` (``FILTER`` for one band), ``PSF_<BAND>`` and
``SKYSIG_<BAND>``, the background noise sigma of each band.

A survey preset (`astrocnn.sim.surveys.Survey`, ``survey=``) replaces that set-up:
the survey's bands, pixel scale, zero point and unit, each object's seeing and depth
drawn from its ranges. The galaxies' colours, drawn in g, r, i, z, are carried to the
survey's bands by interpolating magnitudes in log wavelength (`colour_weights`).
Without a survey the simulator draws exactly what it always did.

Two galaxy populations (``population=``): ``"classic"``, the smooth Sérsic galaxies the
default model was trained on (a seed gives the files it always gave), and ``"rich"``,
galaxies from the shared population (`astrocnn.sim.population`): faint, compact and
often clumpy lensed sources, ray-traced from a finely sampled source plane, and
deflectors and non-lenses with bulges, disks, bars, spiral arms and knots (see
`simulate_lens`, Notes).
"""

import functools
import os
from collections.abc import Callable
from dataclasses import replace
from typing import NamedTuple

import astropy.units as u
import galsim
import numpy as np
from lenstronomy.LensModel.lens_model import LensModel
from lenstronomy.LightModel.light_model import LightModel
from lenstronomy.Util.param_util import phi_q2_ellipticity, shear_polar2cartesian
from scipy.ndimage import gaussian_filter, map_coordinates

from astrocnn.sim.common import (
    StampWriter,
    add_noise,
    background_sigma,
    catalogue,
    check_args,
    is_number,
    noise_cards,
    noise_from_depth,
    object_streams,
    psf_cards,
    run_meta,
    stamp_checks,
)
from astrocnn.sim.galaxies import FourierRenderer
from astrocnn.sim.population import (
    KINDS,
    N_ARMS,
    N_ARMS_P,
    R_RANGE,
    SIZE_SLOPE,
    draw_galaxy,
    kind_probabilities,
)
from astrocnn.sim.surveys import colour_weights

MAGZP = 30.0  # AB zero point of the image unit (ADU), unless simulate_lens is told another
PIXEL_SCALE = 0.2  # arcsec per pixel, unless simulate_lens is told another
ALL_BANDS = ("g", "r", "i", "z")
DEPTH_10SIGMA = np.array([24.4, 24.3, 24.0, 23.3])  # point source, at REF_FWHM
SKY_MAG = np.array([22.0, 21.1, 20.3, 19.4])  # mag / arcsec^2
REF_FWHM = 0.9  # arcsec, seeing at which DEPTH_10SIGMA holds
SEEING_SCALE = np.array([1.08, 1.03, 1.0, 0.97])  # FWHM_band / FWHM_i
SUPERSAMPLE = 2
NEG_KINDS = ("elliptical", "spiral", "companion")
NEG_PROBS = (0.7, 0.15, 0.15)
SRC_MAG_RANGE = (21.0, 25.5)  # initial unlensed source i magnitude
SRC_MAG_MIN = 19.0  # brightest allowed source after S/N re-draws
_MAX_SOURCE_DRAWS = 20
_MAX_BRIGHTEN = 8
POPULATIONS = ("classic", "rich")

# --- the rich population (population="rich"), drawn with astrocnn.sim.population --------
# Deflectors (and the non-lenses' ellipticals, drawn alike so that the host does not
# give the label away): massive early types; an assumed 20 % are bulge-dominated disks
# (S0/Sa: galaxy-scale lens samples such as SLACS are mostly ellipticals with some S0s).
HOST_DISK_P = 0.2
HOST_BT = (0.6, 0.9)  # B/T of those disks (no arms: the population gives arms below 0.6)
# Spiral non-lenses: population disks with arms (B/T < 0.6, where the population puts
# arms) and star-forming knots, as the classic spirals always had: the look-alikes of
# arcs. Disks are re-drawn until they have both (~1 in 5 draws; at most 50).
SPIRAL_BT_MAX = 0.6
_MAX_SPIRAL_DRAWS = 50
# companions: blue, unlensed neighbours; 70 % turned tangential to the host (arc-like),
# the disks among them seen close to edge-on
COMPANION_KINDS, COMPANION_P = ("compact", "irregular", "disk"), (0.3, 0.35, 0.35)
COMPANION_INCLINATION = (60.0, 85.0)  # deg
# lensed sources: star-forming galaxies behind the deflector (no ellipticals: lensed
# arcs in survey images are blue); the redshift sets the population's kind mix and its
# fractions of clumpy disks and bars (galaxy-scale lens sources lie at z ~ 0.6-3)
SRC_REDSHIFT = (0.8, 3.0)
SRC_GRID = 192  # pixels a side of the source-plane grid the source is drawn on
SRC_SUPERSAMPLE = 4  # rays per pixel side that sample it (compact sources: see _source_plane)
SRC_EXTENT = 8.0  # its half-width [source half-light radii]: >~ 95 % of the light


class _Renderer:
    """Supersampled pixel grid with lenstronomy models built once and reused.

    ``weights`` (`colour_weights`) carry the g, r, i, z fluxes the models are drawn
    with to a survey's bands (`band_flux`); None renders g, r, i, z themselves.
    """

    def __init__(self, size, pixel_scale, zero_point=MAGZP, weights=None, supersample=SUPERSAMPLE):
        c = (np.arange(size * supersample) - (size * supersample - 1) / 2) * (
            pixel_scale / supersample
        )
        xx, yy = np.meshgrid(c, c)
        self.x, self.y = xx.ravel(), yy.ravel()
        self.size, self.pixel_scale, self.supersample = size, pixel_scale, supersample
        self._shape = (size, supersample, size, supersample)
        self._area = pixel_scale**2
        self.lens = LensModel(["SIE", "SHEAR"])
        self._sersic = LightModel(["SERSIC_ELLIPSE"])
        self._gauss = LightModel(["GAUSSIAN"])
        self.zp = zero_point  # AB zero point of the image unit
        self.weights = weights

    @functools.cached_property
    def fourier(self):
        """`FourierRenderer` of the stamp's pixels (the rich population's galaxies)."""
        return FourierRenderer(self.size, self.pixel_scale)

    @functools.cached_property
    def fine(self):
        """The same pixels sampled by ``SRC_SUPERSAMPLE`` rays a side (rich sources)."""
        return _Renderer(self.size, self.pixel_scale, self.zp, self.weights, SRC_SUPERSAMPLE)

    def band_flux(self, flux):
        """Fluxes in the rendered bands of a component with ``flux`` in g, r, i, z.

        Magnitudes are weighted sums (``W @ m``, rows summing to 1), so fluxes are
        weighted geometric means: any common factor (a unit-flux source) passes through.
        """
        if self.weights is None:
            return flux
        return np.prod(flux**self.weights, axis=1)

    def _bin(self, sb):
        return sb.reshape(self._shape).mean(axis=(1, 3)) * self._area

    def sersic(self, x, y, r_eff, n, q, phi, cx, cy):
        """Pixel image of a unit-total-flux elliptical Sérsic evaluated at (x, y)."""
        e1, e2 = phi_q2_ellipticity(phi, q)
        kw = [dict(amp=1.0, R_sersic=r_eff, n_sersic=n, e1=e1, e2=e2, center_x=cx, center_y=cy)]
        return (
            self._bin(self._sersic.surface_brightness(x, y, kw)) / (self._sersic.total_flux(kw)[0])
        )

    def gauss(self, x, y, sigma, cx, cy):
        """Pixel image of a unit-total-flux circular Gaussian evaluated at (x, y)."""
        kw = [dict(amp=1.0, sigma=sigma, center_x=cx, center_y=cy)]
        return self._bin(self._gauss.surface_brightness(x, y, kw))


def _logu(rng, lo, hi, size=None):
    return np.exp(rng.uniform(np.log(lo), np.log(hi), size))


def _colour(rng, kind):
    """Per-band magnitude offsets ``m_band - m_i`` for g, r, i, z."""
    if kind == "red":
        gr, ri, iz = rng.normal([1.1, 0.42, 0.22], [0.15, 0.06, 0.05])
        gr = max(gr, 0.75)
    elif kind == "disk":
        gr, ri, iz = rng.uniform([0.4, 0.2, 0.05], [0.8, 0.4, 0.2])
    elif kind == "blue":
        gr, ri, iz = rng.uniform([0.15, 0.05, -0.05], [0.45, 0.3, 0.2])
    else:  # "knot": star-forming clumps, bluer still
        gr, ri, iz = rng.uniform([0.0, -0.05, -0.1], [0.25, 0.15, 0.1])
    return np.array([gr + ri, ri, 0.0, -iz])


def _flux(mag_i, colour=0.0, zp=MAGZP):
    """Image units per band for an i-band magnitude, colour offsets and zero point."""
    return 10.0 ** (-0.4 * (mag_i + colour - zp))


def _elliptical(rng, ren):
    """Early-type galaxy (the lens-light distribution); returns comps and params."""
    p = dict(
        mag=rng.uniform(18.0, 21.0),
        q=rng.uniform(0.5, 1.0),
        phi=rng.uniform(0, np.pi),
        cx=rng.normal(0, 0.05),
        cy=rng.normal(0, 0.05),
    )
    img = ren.sersic(
        ren.x, ren.y, _logu(rng, 0.5, 2.5), rng.uniform(3, 5), p["q"], p["phi"], p["cx"], p["cy"]
    )
    return [(img, _flux(p["mag"], _colour(rng, "red"), ren.zp))], p


def _spiral(rng, ren):
    """Exponential disk + small bulge + blue knots along two log-spiral arms."""
    mag, q, phi = rng.uniform(18.0, 21.0), rng.uniform(0.3, 1.0), rng.uniform(0, np.pi)
    cx, cy = rng.normal(0, 0.05, 2)
    r_d = _logu(rng, 0.8, 2.5)
    f_b, f_k = rng.uniform(0.0, 0.3), rng.uniform(0.1, 0.3)
    disk = ren.sersic(ren.x, ren.y, r_d, rng.uniform(0.8, 1.3), q, phi, cx, cy)
    bulge = ren.sersic(
        ren.x, ren.y, rng.uniform(0.2, 0.5), rng.uniform(2, 4), min(1.0, q + 0.3), phi, cx, cy
    )
    k = rng.integers(4, 11)
    r = r_d * rng.uniform(0.4, 2.0, k)
    theta = (
        rng.uniform(0, 2 * np.pi)
        + np.pi * rng.integers(0, 2, k)
        + np.log(r / r_d) / np.tan(np.radians(rng.uniform(12, 30)))
        + rng.normal(0, 0.15, k)
    )
    u_, v_ = r * np.cos(theta), r * np.sin(theta) * q
    kx, ky = cx + u_ * np.cos(phi) - v_ * np.sin(phi), cy + u_ * np.sin(phi) + v_ * np.cos(phi)
    w = rng.uniform(0.5, 1.5, k)
    knots = sum(
        wi / w.sum() * ren.gauss(ren.x, ren.y, s, xi, yi)
        for wi, s, xi, yi in zip(w, rng.uniform(0.08, 0.2, k), kx, ky)
    )
    comps = [
        (disk, (1 - f_b - f_k) * _flux(mag, _colour(rng, "disk"), ren.zp)),
        (bulge, f_b * _flux(mag, _colour(rng, "red"), ren.zp)),
        (knots, f_k * _flux(mag, _colour(rng, "knot"), ren.zp)),
    ]
    return comps, dict(mag=mag)


def _companions(rng, ren, p):
    """1-3 blue, unlensed, mostly tangentially elongated neighbours of a host."""
    comps = []
    for _ in range(rng.integers(1, 4)):
        d, a = rng.uniform(1.0, 3.5), rng.uniform(0, 2 * np.pi)
        tangential = rng.random() < 0.7
        q = rng.uniform(0.25, 0.7) if tangential else rng.uniform(0.5, 1.0)
        phi = a + np.pi / 2 if tangential else rng.uniform(0, np.pi)
        img = ren.sersic(
            ren.x,
            ren.y,
            _logu(rng, 0.15, 0.5),
            rng.uniform(0.5, 1.5),
            q,
            phi,
            p["cx"] + d * np.cos(a),
            p["cy"] + d * np.sin(a),
        )
        comps.append((img, _flux(rng.uniform(20.5, 23.5), _colour(rng, "blue"), ren.zp)))
    return comps


def _source_position(rng, p, theta_e):
    """Source centre: uniform within 0.6 theta_E of the lens centre (near the caustics)."""
    r, a = 0.6 * theta_e * np.sqrt(rng.random()), rng.uniform(0, 2 * np.pi)
    return p["cx"] + r * np.cos(a), p["cy"] + r * np.sin(a)


def _lensed_source(rng, ren, bx, by, p, theta_e):
    """Unit-i-flux lensed Sérsic source (+0-3 Gaussian clumps) near the caustics."""
    sx, sy = _source_position(rng, p, theta_e)
    r_s = _logu(rng, 0.1, 0.6)
    img = ren.sersic(
        bx, by, r_s, rng.uniform(0.5, 2.0), rng.uniform(0.4, 1.0), rng.uniform(0, np.pi), sx, sy
    )
    fracs = rng.uniform(0.05, 0.15, rng.integers(0, 4))
    comps = [(img, (1 - fracs.sum()) * _flux(MAGZP, _colour(rng, "blue")))]
    knot_col = _colour(rng, "knot")
    for f in fracs:
        cx, cy = rng.normal([sx, sy], r_s)
        comps.append(
            (ren.gauss(bx, by, rng.uniform(0.04, 0.1), cx, cy), f * _flux(MAGZP, knot_col))
        )
    return comps


def _classic_source(rng, ren, rays, p, theta_e, sig, bidx):
    """A classic lensed source: its first magnitude and ``arc(mag)`` (see `_Model`)."""
    bx, by = rays(ren)
    unit = _convolve(_lensed_source(rng, ren, bx, by, p, theta_e), sig, bidx, ren)
    mag = rng.uniform(*SRC_MAG_RANGE)
    return mag, lambda m: (unit * _flux(m, zp=ren.zp), {})


# ---------------------------------------------------------------------------------------
# the rich population


def _unit_image(fren, comp, centre=(0.0, 0.0), angle=0.0, smooth_k=None):
    """Unit-flux pixel image of one population component, turned by ``angle`` [rad]
    about the galaxy's centre, which is put at ``centre`` [arcsec]; no PSF, or
    convolved with ``smooth_k`` (Fourier image on ``fren``'s grid)."""
    dx, dy = centre
    one = np.ones(1)
    if comp.profile is not None:
        profile = comp.profile.rotate(angle * galsim.radians) if angle else comp.profile
        smooth, points = [(fren.kimage(profile.shift(dx, dy)), one)], []
    else:
        x, y, w = comp.points
        ca, sa = np.cos(angle), np.sin(angle)
        k = fren.splat(x * ca - y * sa + dx, x * sa + y * ca + dy, w, comp.sigma)
        smooth, points = [], [(k, one)]
    smooth_k = np.ones(fren.k2.shape) if smooth_k is None else smooth_k
    return fren.render(smooth, points, smooth_k[None])[0]


def _galaxy_comps(ren, gal, centre, angle=0.0):
    """(unit-flux pixel image, g r i z flux) of each component of a population galaxy:
    components keep their own colours (a red bulge, bluer disk, arms and knots)."""
    return [
        (_unit_image(ren.fourier, c, centre, angle), _flux(c.mags, zp=ren.zp))
        for c in gal.components
    ]


def _host_params(gal, cx, cy):
    """The classic host parameters (mass alignment, centre) and the galaxy's truths."""
    p = dict(mag=gal.mag, q=gal.axis_ratio, phi=gal.beta, cx=cx, cy=cy)
    return p | dict(kind=gal.kind, r_half=gal.r_half, n_arms=gal.n_arms)


def _rich_host(rng, ren):
    """Deflector (or non-lens elliptical): a population elliptical or bulge-dominated
    disk at the classic lens magnitudes, i 18-21."""
    mag, (cx, cy) = rng.uniform(18.0, 21.0), rng.normal(0, 0.05, 2)
    if rng.random() < HOST_DISK_P:
        bt = rng.uniform(*HOST_BT)
        gal = draw_galaxy(rng, mag, ALL_BANDS, "disk", bulge_fraction=bt, n_arms=0)
    else:
        gal = draw_galaxy(rng, mag, ALL_BANDS, "elliptical")
    return _galaxy_comps(ren, gal, (cx, cy)), _host_params(gal, cx, cy)


def _rich_spiral(rng, ren):
    """Spiral non-lens: a population disk with 2-4 arms and knots (see `SPIRAL_BT_MAX`)."""
    mag, (cx, cy) = rng.uniform(18.0, 21.0), rng.normal(0, 0.05, 2)
    n_arms = int(rng.choice(N_ARMS, p=N_ARMS_P))
    for _ in range(_MAX_SPIRAL_DRAWS):
        gal = draw_galaxy(rng, mag, ALL_BANDS, "disk", n_arms=n_arms)
        if gal.bulge_fraction < SPIRAL_BT_MAX and gal.knot_fraction > 0:
            break
    return _galaxy_comps(ren, gal, (cx, cy)), _host_params(gal, cx, cy)


def _rich_companions(rng, ren, p):
    """1-3 blue, unlensed population neighbours at 1-3.5" from the host, i 20.5-23.5,
    70 % turned with their major axis tangential (see `COMPANION_KINDS`)."""
    comps = []
    for _ in range(rng.integers(1, 4)):
        d, a = rng.uniform(1.0, 3.5), rng.uniform(0, 2 * np.pi)
        tangential = rng.random() < 0.7
        kind = str(rng.choice(COMPANION_KINDS, p=COMPANION_P))
        incl = rng.uniform(*COMPANION_INCLINATION) if tangential and kind == "disk" else None
        gal = draw_galaxy(rng, rng.uniform(20.5, 23.5), ALL_BANDS, kind, inclination=incl)
        angle = a + np.pi / 2 - gal.beta if tangential else 0.0
        centre = (p["cx"] + d * np.cos(a), p["cy"] + d * np.sin(a))
        comps += _galaxy_comps(ren, gal, centre, angle)
    return comps


def _source_kind(rng, redshift):
    """A lensed source's kind: the population's mix at its redshift, less ellipticals."""
    p = kind_probabilities(redshift) * np.array([k != "elliptical" for k in KINDS])
    return KINDS[rng.choice(len(KINDS), p=p / p.sum())]


def _source_plane(gal, sample):
    """Surface brightness maps [per arcsec^2] of each component of a unit-i-flux source
    on a fine grid centred on it (pixel ``h`` [arcsec]), with the g r i z fluxes.

    The image grid samples the source at points ``sample`` [arcsec] apart, each
    standing for the mean over its cell: the maps are smoothed by a Gaussian of the
    cell's rms (``sample / sqrt(12)``). Point samples 0.1" apart (the classic
    sources') lost up to 20 % of a compact, cuspy source's flux (0.1", n = 4);
    smoothed and sampled 0.05" apart (``SRC_SUPERSAMPLE``), lensed arcs are within
    1 % of the flux and 3 % (L1, after a 0.9" PSF) of the image sampled 12 times a
    pixel. The blur is that of an unmagnified cell, far below the PSF. Each map is
    clipped at 0 (Fourier ringing) and normalised over the grid, so the source keeps
    its total flux and colours whatever is truncated.
    """
    h = 2 * SRC_EXTENT * gal.r_half / SRC_GRID
    fren = FourierRenderer(SRC_GRID, h)
    cell = np.exp(-0.5 * fren.k2 * sample**2 / 12)
    maps = []
    for c in gal.components:
        img = np.clip(_unit_image(fren, c, smooth_k=cell), 0.0, None)
        maps.append((img / (img.sum() * h**2), _flux(c.mags, zp=gal.mag)))
    return maps, h


def _sample(sb, u, v, h):
    """Bilinear interpolation of a source-plane map at offsets (u, v) [arcsec]."""
    c = (sb.shape[0] - 1) / 2  # grid index of the source centre
    coords = np.array([v / h + c, u / h + c])
    return map_coordinates(sb, coords, order=1, mode="constant", cval=0.0, prefilter=False)


def _rich_source(rng, ren, rays, p, theta_e, sig, bidx):
    """A population lensed source: its first magnitude and ``arc(mag)`` (see `_Model`).

    The galaxy is drawn at its first magnitude (its size from the size-magnitude
    relation there) and at a redshift in `SRC_REDSHIFT`. When the S/N selection makes
    it brighter, it grows along the size-magnitude relation (``SIZE_SLOPE`` dex per
    magnitude, to at most ``R_RANGE``'s end): the selected sources keep the relation
    at the magnitude they end with.
    """
    mag0 = rng.uniform(*SRC_MAG_RANGE)
    sx, sy = _source_position(rng, p, theta_e)
    z = rng.uniform(*SRC_REDSHIFT)
    gal = draw_galaxy(rng, mag0, ALL_BANDS, _source_kind(rng, z), redshift=z)
    fine = ren.fine
    maps, h = _source_plane(gal, fine.pixel_scale / fine.supersample)
    bx, by = rays(fine)

    def arc(mag):
        f = min(10.0 ** (SIZE_SLOPE * (mag0 - mag)), R_RANGE[1] / gal.r_half)
        u_, v_ = (bx - sx) / f, (by - sy) / f
        comps = [(fine._bin(_sample(sb, u_, v_, h)) / f**2, flux) for sb, flux in maps]
        unit = _convolve(comps, sig, bidx, ren)
        columns = dict(src_r_half=f * gal.r_half, src_knot_fraction=gal.knot_fraction)
        return unit * _flux(mag, zp=ren.zp), columns | dict(src_kind=gal.kind)

    return mag0, arc


def _rich_columns(p):
    """The rich population's catalogue columns of a non-lens (a lens's source fills
    the ``src_`` ones)."""
    host = dict(host_kind=p["kind"], host_r_half=p["r_half"], host_n_arms=p["n_arms"])
    return host | dict(src_kind="", src_r_half=np.nan, src_knot_fraction=np.nan)


class _Model(NamedTuple):
    """A galaxy population: how the simulator draws each part of an object.

    ``host(rng, ren)`` and ``spiral(rng, ren)`` give (components, params) with params
    ``mag``, ``q``, ``phi``, ``cx``, ``cy``; ``companions(rng, ren, params)`` gives
    components; ``source(rng, ren, rays, params, theta_e, sig, bidx)`` (``rays(r)``:
    the source-plane positions of the samples of a `_Renderer` ``r``) gives the
    source's first i magnitude and ``arc(mag)`` -> (PSF-convolved arc, catalogue
    columns); ``columns(params)`` the population's own catalogue columns of an object,
    ``names`` and ``units`` those columns.
    """

    host: Callable
    spiral: Callable
    companions: Callable
    source: Callable
    columns: Callable
    names: tuple
    units: dict


MODELS = {
    "classic": _Model(_elliptical, _spiral, _companions, _classic_source, lambda p: {}, (), {}),
    "rich": _Model(
        _rich_host,
        _rich_spiral,
        _rich_companions,
        _rich_source,
        _rich_columns,
        ("host_kind", "host_r_half", "host_n_arms", "src_kind", "src_r_half", "src_knot_fraction"),
        {"host_r_half": u.arcsec, "src_r_half": u.arcsec},
    ),
}


def _convolve(comps, sigmas, bidx, ren):
    """Sum components per band and convolve with that band's Gaussian PSF."""
    out = np.zeros((len(bidx), ren.size, ren.size))
    fluxes = [ren.band_flux(f) for _, f in comps]
    for j, b in enumerate(bidx):
        if comps:
            img = sum(f[b] * c for (c, _), f in zip(comps, fluxes))
            out[j] = gaussian_filter(img, sigmas[b], mode="constant", truncate=4.0)
    return out


def _arc_snr(arc, var):
    """Aperture S/N of the arc over all (band, pixel) where arc > 1 sigma noise."""
    m = arc > np.sqrt(var)
    return float(arc[m].sum() / np.sqrt(var[m].sum())) if m.any() else 0.0


class _Seen(NamedTuple):
    """One object's observing conditions."""

    fwhm: np.ndarray  # PSF FWHM [arcsec] per band of the set-up's all_bands
    noise: tuple  # (sky, gain) of the rendered bands, for add_noise
    sigma: np.ndarray  # background noise sigma per rendered band
    columns: dict  # the conditions' catalogue columns


class _OwnSetup:
    """The simulator's own survey (that of the default model): fixed depths, and the
    seeing drawn as it always was, so that a seed gives the files it always gave."""

    survey = None
    columns = ("psf_fwhm_i",)
    units = {"psf_fwhm_i": u.arcsec}

    def __init__(self, bands, pixel_scale, zero_point, depth_offset):
        self.bands, self.all_bands, self.unit, self.meta = bands, ALL_BANDS, "ADU", {}
        self.bidx = [ALL_BANDS.index(b) for b in bands]
        # matched filter: S/N = 10 at the depth
        depth_flux2 = _flux(DEPTH_10SIGMA + depth_offset, zp=zero_point) ** 2
        sky, gain = noise_from_depth(pixel_scale, zero_point, SKY_MAG, REF_FWHM, depth_flux2, 10.0)
        self.sigma = background_sigma(sky, gain)[self.bidx]
        self.noise = sky[self.bidx, None, None], gain[self.bidx, None, None]
        # the lens population is selected at the reference depth (see depth_offset)
        flux2 = _flux(DEPTH_10SIGMA, zp=zero_point) ** 2
        selection = noise_from_depth(pixel_scale, zero_point, SKY_MAG, REF_FWHM, flux2, 10.0)
        self.selection = tuple(v[self.bidx, None, None] for v in selection)

    def draw(self, rng):
        """This object's conditions: only the seeing varies."""
        fwhm = np.clip(rng.uniform(0.75, 1.1) * SEEING_SCALE + rng.normal(0, 0.03, 4), 0.7, 1.2)
        return _Seen(fwhm, self.noise, self.sigma, {"psf_fwhm_i": fwhm[2]})


class _SurveySetup:
    """A survey's set-up: each object's seeing and depth drawn from its ranges.

    Conditions are drawn for all the survey's bands (so a subset of bands sees what the
    full set would); ``depth_offset`` is added to each object's drawn offset. The lens
    population is selected at the survey's nominal depths (offset 0): the depth draws
    change how deep a lens is seen, not which lenses there are.
    """

    columns = ("psf_fwhm", "depth_offset")
    units = {"psf_fwhm": u.arcsec, "depth_offset": u.mag}

    def __init__(self, survey, bands, depth_offset):
        self.survey, self.depth_offset = survey, depth_offset
        self.bands, self.all_bands, self.unit = bands, survey.band_names, survey.unit
        self.bidx = [self.all_bands.index(b) for b in bands]
        self.meta = {"SURVEY": survey.name, "REFBAND": survey.reference_band}
        self.sigma = background_sigma(*self._noise(depth_offset))[:, 0, 0]  # the template's
        self.selection = self._noise(0.0)
        self._ref = self.all_bands.index(survey.reference_band)

    def _noise(self, offset):
        return tuple(v[self.bidx] for v in self.survey.noise(offset))

    def draw(self, rng):
        """This object's seeing per band and depth (`Survey.draw_conditions`)."""
        fwhm, offset = self.survey.draw_conditions(rng)
        offset += self.depth_offset
        noise = self._noise(offset)
        columns = {"psf_fwhm": float(fwhm[self._ref]), "depth_offset": offset}
        return _Seen(fwhm, noise, background_sigma(*noise)[:, 0, 0], columns)


def _simulate_one(rng, ren, kind, setup, min_arc_snr, model):
    """Simulate one object; returns (float32 cube, its `_Seen` conditions, catalogue row).

    The conditions are drawn first; a lens's arc must reach ``min_arc_snr`` at the
    selection depth of the set-up (``setup.selection``: the (sky, gain) there). The
    galaxies come from ``model`` (a `_Model`).
    """
    seen = setup.draw(rng)
    sig = seen.fwhm / (2 * np.sqrt(2 * np.log(2)) * ren.pixel_scale)
    if kind == "spiral":
        host, p = model.spiral(rng, ren)
    else:
        host, p = model.host(rng, ren)
        if kind == "companion":
            host += model.companions(rng, ren, p)
    row = dict(theta_e=0.0, src_mag_i=np.nan, arc_snr=0.0) | model.columns(p)
    host = _convolve(host, sig, setup.bidx, ren)
    arc = np.zeros_like(host)
    if kind == "lens":
        theta_e = _logu(rng, 0.8, 3.0)
        q_m = np.clip(p["q"] + rng.normal(0, 0.1), 0.5, 0.98)
        e1, e2 = phi_q2_ellipticity(p["phi"] + rng.normal(0, np.radians(10)), q_m)
        g1, g2 = shear_polar2cartesian(rng.uniform(0, np.pi), rng.uniform(0, 0.1))
        kw = [
            dict(theta_E=theta_e, e1=e1, e2=e2, center_x=p["cx"], center_y=p["cy"]),
            dict(gamma1=g1, gamma2=g2, ra_0=p["cx"], dec_0=p["cy"]),
        ]
        # source-plane positions of a renderer's samples, traced once per renderer
        rays = functools.cache(lambda r: r.lens.ray_shooting(r.x, r.y, kw))
        source = functools.partial(model.source, rng, ren, rays, p, theta_e, sig, setup.bidx)
        arc, found = _bright_enough_arc(rng, source, host, *setup.selection, min_arc_snr)
        row |= found | dict(theta_e=theta_e)
    image, _ = add_noise(rng, host + arc, *seen.noise)
    row["lens_mag_i"] = p["mag"]
    return image.astype(np.float32), seen, row | seen.columns


def _bright_enough_arc(rng, source, host, sky, gain, min_snr):
    """Draw sources (brightening, then re-drawing geometry) until arc S/N >= min_snr.

    ``source()`` draws a source: its first i magnitude and ``arc(mag)`` -> (arc image,
    catalogue columns). Returns the arc and its columns (``src_mag_i``, ``arc_snr``).
    """
    for _ in range(_MAX_SOURCE_DRAWS):
        mag, arc_of = source()
        for _ in range(_MAX_BRIGHTEN):
            arc, columns = arc_of(mag)
            snr = _arc_snr(arc, (sky + np.clip(host + arc, 0, None)) / gain)
            if snr >= min_snr:
                return arc, dict(src_mag_i=mag, arc_snr=snr) | columns
            if mag <= SRC_MAG_MIN:
                break
            target = mag - 2.5 * np.log10(min_snr / snr) if snr > 0 else mag - 1.0
            mag = max(SRC_MAG_MIN, rng.uniform(target - 0.5, target))
    raise ValueError(
        f"min_arc_snr={min_snr} is unreachable with sources brighter "
        f"than i={SRC_MAG_MIN}; use a lower min_arc_snr"
    )


def _resolve(survey, pixel_scale, zero_point, bands):
    """The survey (explicit ``pixel_scale`` / ``zero_point`` win over its own) or None,
    the pixel scale, the zero point, all bands and the bands to render."""
    if survey is None:
        pixel_scale = PIXEL_SCALE if pixel_scale is None else pixel_scale
        zero_point = MAGZP if zero_point is None else zero_point
    else:
        pixel_scale = survey.pixel_scale if pixel_scale is None else pixel_scale
        zero_point = survey.zero_point if zero_point is None else zero_point
        survey = replace(survey, pixel_scale=pixel_scale, zero_point=zero_point)
    all_bands = ALL_BANDS if survey is None else survey.band_names
    if bands is None:
        bands = all_bands
    bands = (bands,) if isinstance(bands, str) else tuple(bands)
    return survey, pixel_scale, zero_point, all_bands, bands


def _setup(survey, bands, pixel_scale, zero_point, depth_offset):
    """The observing set-up (`_OwnSetup` or `_SurveySetup`) and its renderer weights."""
    if survey is None:
        return _OwnSetup(bands, pixel_scale, zero_point, depth_offset), None
    return _SurveySetup(survey, bands, depth_offset), colour_weights(survey.bands, ALL_BANDS)


def _cards(i, ra, dec, kind, setup, seen, extra):
    """The header cards of one object: position, label, its PSF and noise, ``extra``."""
    cards = dict(CRVAL1=ra, CRVAL2=dec, OBJECT=str(i), LABEL=int(kind == "lens"), KIND=str(kind))
    cards |= psf_cards(seen.fwhm, setup.bands, setup.all_bands)
    cards |= noise_cards(seen.sigma, setup.bands, setup.bands, setup.unit) | extra
    return cards if setup.survey is None else cards | setup.survey.cards()


def _catalogue(rows, setup, model, outdir, seed, pixel_scale, **meta):
    """Write and return the catalogue of ``rows`` (meta ``**meta`` after the set-up's)."""
    columns = ["id", "file", "label", "kind", "theta_e", "src_mag_i", "lens_mag_i", "arc_snr"]
    units = {"theta_e": u.arcsec, **setup.units, **model.units, "ra": u.deg, "dec": u.deg}
    table = catalogue(
        rows,
        [*columns, *model.names, *setup.columns, "ra", "dec"],
        units | {"src_mag_i": u.mag, "lens_mag_i": u.mag},
        run_meta(
            "astrocnn.tasks.lens.simulate",
            seed,
            pixel_scale,
            setup.bands,
            **setup.meta,
            **meta,
        ),
        outdir,
    )
    table["label"] = table["label"].astype(np.int16)
    return table


def simulate_lens(
    n,
    seed,
    outdir,
    *,
    size=64,
    pixel_scale=None,
    bands=None,
    lens_fraction=0.5,
    min_arc_snr=20.0,
    zero_point=None,
    depth_offset=0.0,
    survey=None,
    population="classic",
    progress=False,
):
    """Simulate labelled strong-lens / non-lens cutouts and write them to disk.

    Parameters
    ----------
    n : int
        Number of objects (>= 1). ``floor(n * lens_fraction + 0.5)`` are lenses.
    seed : int
        Seed for ``numpy.random.default_rng``; same ``(n, seed)`` (and keywords)
        gives bit-identical files and catalogue.
    outdir : str or os.PathLike
        Output directory; created if needed. Cutouts go to ``outdir/cutouts/``.
    size : int, optional
        Stamp side in pixels (>= 16), whatever the pixel scale.
    pixel_scale : float, optional
        Arcsec per pixel (default 0.2, or the survey's). The galaxies keep their
        angular sizes; the sky noise per pixel scales with the pixel scale
        (sky-limited, at fixed depths).
    bands : sequence of str, optional
        Bands in cube order: a subset of ``("g", "r", "i", "z")`` (default all), or
        with a survey of its bands (default all of them).
    lens_fraction : float, optional
        Fraction of lenses (label 1).
    min_arc_snr : float, optional
        Detectability threshold for lenses. The arc S/N is the noiseless lensed
        source flux summed over all (band, pixel) where it exceeds the 1-sigma
        pixel noise, divided by the root of the summed noise variance (sky +
        lens + arc photon noise) in those pixels. If a drawn source falls below
        the threshold it is made brighter (re-drawn magnitude, at most
        ``SRC_MAG_MIN``), then its geometry is re-drawn, so every lens has
        ``arc_snr >= min_arc_snr`` (in the spirit of the detectability cut the
        Metcalf+19 challenge used to label lenses). Raises ValueError if a
        threshold is unreachable even at i = ``SRC_MAG_MIN``.
    zero_point : float, optional
        AB magnitude zero point of the image unit (``MAGZP`` card; default
        ``MAGZP`` = 30, or the survey's): an object of magnitude ``m`` has
        ``10**(-0.4 (m - zero_point))`` units. All fluxes, the sky and the noise
        scale with it; the magnitudes of objects, sky and depths stay the same.
    depth_offset : float, optional
        Magnitudes added to the point-source depths ``DEPTH_10SIGMA`` (with a
        survey: to each object's drawn depth offset) (positive: deeper) at the
        same sky brightness: the background noise sigma scales by
        ``10**(-0.4 depth_offset)``. Which lenses are drawn does not change:
        ``min_arc_snr`` is the arc's S/N at the reference depth (``depth_offset``
        0; with a survey, its nominal depths), so a deeper rendering shows the
        same population at higher S/N (the ``arc_snr`` column is also at the
        reference depth).
    survey : astrocnn.sim.surveys.Survey, optional
        Render the cutouts as this survey takes them (see Notes); None (default):
        the simulator's own set-up, with the random draws of earlier versions.
    population : {"classic", "rich"}, optional
        The galaxies: ``"classic"`` (default), the smooth Sérsic galaxies of earlier
        versions (the same seed gives the same files); ``"rich"``, galaxies from the
        shared population `astrocnn.sim.population` (see Notes).
    progress : bool, optional
        Show a tqdm progress bar on stderr.

    Returns
    -------
    astropy.table.Table
        Catalogue (also written to ``outdir/catalog.fits``) with columns ``id``,
        ``file`` (relative to ``outdir``), ``label`` (1 lens, 0 non-lens),
        ``kind`` ("lens", "elliptical", "spiral", "companion"), ``theta_e``
        [arcsec], ``src_mag_i``, ``lens_mag_i`` (host galaxy), ``arc_snr``,
        ``psf_fwhm_i`` [arcsec], ``ra``, ``dec`` [deg]; meta ``SIMULATR``,
        ``SEED``, ``PIXSCALE``, ``BANDS``, ``MAGZP``, ``DEPTHOFF`` (``depth_offset``)
        and ``MINARCSN``. With a survey, ``psf_fwhm_i`` gives way to ``psf_fwhm``
        (the reference band's FWHM [arcsec]) and ``depth_offset`` (the object's
        depth below the survey's nominal depths, ``depth_offset`` included [mag]),
        and the meta also has ``SURVEY`` and ``REFBAND`` (the reference band).
        ``src_mag_i`` and ``lens_mag_i`` are always i-band magnitudes. The rich
        population adds, after ``arc_snr``, ``host_kind``, ``host_r_half`` [arcsec]
        and ``host_n_arms`` (the population kind, "elliptical" or "disk", half-light
        radius and number of spiral arms of the deflector or of the non-lens's central
        galaxy) and ``src_kind``, ``src_r_half`` [arcsec] and ``src_knot_fraction``
        (the i-band fraction of its light in star-forming knots) of a lens's source
        ("" and NaN for non-lenses), and the meta and cutout cards ``POPULAT`` =
        "rich".

    Notes
    -----
    Lenses: SIE + external shear (theta_E log-uniform in 0.8-3", mass aligned with
    the light to ~10 deg) with an elliptical Sérsic lens galaxy (n 3-5, R_eff
    0.5-2.5", i 18-21, red colours) and a blue Sérsic source (R_eff 0.1-0.6",
    n 0.5-2, 0-3 bluer Gaussian clumps) within 0.6 theta_E of the lens centre.
    Non-lenses: 70% ellipticals from the same lens-light distribution, 15% disk
    galaxies with blue knots on spiral arms, 15% ellipticals with 1-3 blue
    unlensed companions at 1-3.5". PSF: Gaussian, FWHM 0.7-1.2" per band.
    Noise: sky + photon noise (Gaussian approximation). Sky g, r, i, z = 22.0,
    21.1, 20.3, 19.4 mag/arcsec^2; 10-sigma point-source depths (matched filter,
    0.9" seeing) 24.4, 24.3, 24.0, 23.3 plus ``depth_offset``; images are
    sky-subtracted. The background noise sigma per pixel of a band is ``F /
    (sqrt(4 pi) sigma_psf 10)`` with ``F`` the flux of a point source at the
    depth and ``sigma_psf = 0.9" / (2.355 pixel_scale)`` (`noise_from_depth`):
    i = 3.71 ADU at the defaults, times ``10**(-0.4 (30 - zero_point +
    depth_offset)) pixel_scale / 0.2``.
    Each cutout is a float32 cube (nband, size, size) in ADU (AB zero point
    ``zero_point``) with a 2-D TAN WCS and cards ``BANDS`` (``FILTER`` for one
    band), ``PIXSCALE``, ``MAGZP``, ``BUNIT``, ``OBJECT``, ``LABEL``, ``KIND``,
    ``PSF_<BAND>`` (FWHM [arcsec]) and ``SKYSIG_<BAND>`` (background noise sigma
    [ADU]).

    With a survey: its bands, pixel scale, zero point and unit (``BUNIT``), and
    its sky and 5-sigma depths. Each object draws its seeing and depth offset
    (`Survey.draw_conditions`: the reference band's FWHM from ``seeing_range``,
    the other bands at their median ratio to it; the offset from ``depth_range``)
    before anything else; its noise is that of its depth (`Survey.noise`), stated
    per object in ``SKYSIG_<BAND>``, and the cards also hold the survey's
    ``SURVEY``, ``MAGZP`` and ``BUNIT``. The galaxies are drawn as without a
    survey, with magnitudes in each survey band interpolated in log wavelength
    from g, r, i, z (`colour_weights`: flat in AB beyond g and z, so a
    near-infrared band has the z magnitude).

    The rich population (`astrocnn.sim.population`; i magnitudes, positions, the
    lens model and the S/N selection as above). Each component of a galaxy (bulge,
    disk, bar, arms, knots) has its own colours and is drawn on the pixels with GalSim
    (`astrocnn.sim.galaxies.FourierRenderer`), then convolved with the Gaussian PSF.
    Deflectors and the non-lens ellipticals: population ellipticals, 20 %
    bulge-dominated disks (B/T 0.6-0.9, no arms), sizes from the size-magnitude
    relation (`draw_size`). Spirals: population disks with 2-4 spiral arms, B/T < 0.6,
    star-forming knots (on the arms) and, as the population draws them, bars.
    Companions: compact, irregular (clumpy) or disk galaxies, 70 % turned tangential
    to the host (the disks among them 60-85 deg inclined). Lensed sources:
    star-forming population galaxies (disks, clumpy irregulars, compact galaxies, in
    the population's mix at a redshift uniform in 0.8-3: about two thirds with
    knots, a third irregular) drawn at their first i magnitude (21-25.5, sizes from
    the size-magnitude relation there: r_half 0.1-0.8" (5-95 %), median ~0.35"); a
    source made brighter by the S/N selection grows along that relation. The source is drawn
    without PSF on a fine source-plane grid (192 pixels over +-8 r_half), each
    component normalised to its flux there, and interpolated (bilinearly) at the
    ray-traced positions of an image grid of 4 x 4 rays per pixel.
    """
    survey, pixel_scale, zero_point, all_bands, bands = _resolve(
        survey, pixel_scale, zero_point, bands
    )
    check_args(
        n,
        seed,
        *stamp_checks(size, pixel_scale, bands, all_bands),
        (
            is_number(lens_fraction) and 0 <= lens_fraction <= 1,
            f"lens_fraction must be in [0, 1], got {lens_fraction!r}",
        ),
        (
            is_number(min_arc_snr) and min_arc_snr >= 0,
            f"min_arc_snr must be a finite number >= 0, got {min_arc_snr!r}",
        ),
        (is_number(zero_point), f"zero_point must be a finite number, got {zero_point!r}"),
        (is_number(depth_offset), f"depth_offset must be a finite number, got {depth_offset!r}"),
        (
            isinstance(population, str) and population in POPULATIONS,
            f"population must be one of {', '.join(POPULATIONS)}, got {population!r}",
        ),
    )
    outdir = os.fspath(outdir)
    os.makedirs(os.path.join(outdir, "cutouts"), exist_ok=True)
    rng = np.random.default_rng(seed)
    n_pos = int(np.floor(n * lens_fraction + 0.5))
    kinds = np.array(["lens"] * n_pos + list(rng.choice(NEG_KINDS, n - n_pos, p=NEG_PROBS)))
    kinds = kinds[rng.permutation(n)]
    objects = object_streams(rng, n, progress, "simulate_lens")
    setup, weights = _setup(survey, bands, pixel_scale, zero_point, depth_offset)
    ren = _Renderer(size, pixel_scale, zero_point, weights)
    stamps = StampWriter(size, pixel_scale, bands, zero_point, setup.unit, setup.sigma)
    model = MODELS[population]
    # (the classic population's files and catalogue stay as they were: no card)
    extra = {} if population == "classic" else {"POPULAT": population}
    rows = []
    for i, orng, ra, dec in objects:
        cube, seen, row = _simulate_one(orng, ren, kinds[i], setup, min_arc_snr, model)
        rel = f"cutouts/lens_{i:06d}.fits"
        cards = _cards(i, ra, dec, kinds[i], setup, seen, extra)
        stamps.write(os.path.join(outdir, rel), cube, cards)
        label = int(kinds[i] == "lens")
        rows.append(dict(row, id=i, file=rel, label=label, kind=str(kinds[i]), ra=ra, dec=dec))
    return _catalogue(
        rows,
        setup,
        model,
        outdir,
        seed,
        pixel_scale,
        MAGZP=float(zero_point),
        DEPTHOFF=float(depth_offset),
        MINARCSN=float(min_arc_snr),
        **extra,
    )
