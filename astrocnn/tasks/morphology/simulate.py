"""Galaxy Zoo 1 style morphology simulator for a ground-based imaging survey.

Labelled multi-band cutouts of four classes (``CLASSES``); see `simulate_morphology`
for the models. Two kinds of imaging:

- ``survey="decals"`` (the default): the simulator's own DECaLS-like set-up (`DECALS`:
  g, r, i, z at 0.262"/px, seeing FWHM 1.0-1.5", sky-limited noise, nanomaggies with AB
  zero point ``MAGZP`` = 22.5 as in the Legacy Surveys), on which the shipped default
  model was trained. It keeps its own numbers (and an i band, which real DECaLS lacks)
  so that its files stay what they were.
- a survey of `astrocnn.sim.surveys` (a preset or a user's survey file): that survey's
  bands, pixel scale, zero point and unit, with each object's seeing and depth drawn
  from the survey's ranges; magnitudes known in g, r, i, z are carried to its bands by
  `astrocnn.sim.surveys.colour_weights`.

The galaxy sample (magnitudes, sizes, how much the classes overlap: `SAMPLES`) goes
with the survey's depth (`sample_for`). Galaxy profiles and PSFs are GalSim objects;
each is evaluated once per object in Fourier space on a fixed grid, and the per-band
images are assembled there (component colours, per-band PSF, pixel response) with one
inverse FFT per band (`astrocnn.sim.galaxies.FourierRenderer`). Point-like structure
(spiral arms, star-forming knots, tidal tails) is splatted onto the same grid and
smoothed in Fourier space. Images are sky-subtracted.

With ``population="rich"`` each class's galaxies come from the shared population
(`astrocnn.sim.population`: Sérsic ellipticals, S0s, bulge + inclined disks with bars,
arms and knots), at the sample's sizes and in this simulator's colours; the default,
``"classic"``, keeps the models of the shipped default models.
"""

import math
import os
from dataclasses import dataclass, replace

import astropy.units as u
import galsim
import numpy as np
from astropy.visualization import make_lupton_rgb
from scipy.special import betainc, betaincinv

from astrocnn.sim.common import (
    StampWriter,
    add_noise,
    background_sigma,
    catalogue,
    check_args,
    noise_cards,
    noise_from_depth,
    object_streams,
    psf_cards,
    run_meta,
    stamp_checks,
    write_atomic,
)
from astrocnn.sim.galaxies import FourierRenderer
from astrocnn.sim.population import BT_BETA, N_ARMS, N_ARMS_P, draw_galaxy, recolour
from astrocnn.sim.surveys import (
    SIMULATED_WAVELENGTH,
    SURVEY_NAMES,
    SURVEYS,
    Survey,
    colour_weights,
)

CLASSES = ("elliptical", "spiral", "edge_on", "merger")
MAGZP = 22.5  # AB; 1 image unit = 1 nanomaggy (the simulator's own fluxes)
ALL_BANDS = ("g", "r", "i", "z")
SEEING_SCALE = np.array([1.055, 1.0, 0.96, 0.926])  # FWHM_band / FWHM_r ~ (lambda)^-0.2
MOFFAT_BETA = 3.5
SERSIC_N = (3.0, 4.0, 5.0)  # elliptical indices: a fixed set so GalSim reuses its tables
BULGE_N = (2.0, 3.0, 4.0)
SURVEY_CHOICES = ("decals", *SURVEY_NAMES)
POPULATIONS = ("classic", "rich")  # galaxy models: the default models' or the shared population


@dataclass(frozen=True)
class Sample:
    """The galaxy sample a simulation draws from.

    Attributes
    ----------
    name : str
        Key in `SAMPLES` (the catalogue's ``SAMPLE``).
    mag_range : tuple of float
        Range of the whole object's r magnitude, drawn uniformly.
    r_half_bright : float
        Half-light radius [arcsec] of a galaxy at ``mag_range[0]``; sizes fall by
        0.15 dex per magnitude (0.1 dex scatter, times a class factor).
    r_half_range : tuple of float
        Clip of the half-light radius [arcsec].
    source : str
        Where the numbers come from.
    overlap : float
        Fraction of objects drawn from the populations where the classes meet,
        as in real samples: ellipticals of intermediate colour with lower Sersic
        indices and flatter shapes; early-type spirals (red, bulge-dominated,
        faint arms) or highly inclined ones (axis ratio 0.2-0.45); edge-on disks
        down to 72 deg inclination.
    """

    name: str
    mag_range: tuple
    r_half_bright: float
    r_half_range: tuple
    source: str
    overlap: float = 0.0


SAMPLES = {
    # r = 15-18 at DECaLS depth: bright enough for the classes to show at 1-1.5" seeing
    "decals": Sample(
        "decals",
        (15.0, 18.0),
        2.8,
        (1.0, 4.0),
        "Dey et al. 2019 (DECaLS); Legacy Surveys DR8 documentation",
    ),
    # Galaxy Zoo's: the SDSS spectroscopic main sample (r < 17.77), whose well-classified
    # members are bright and large on the sky (Lintott et al. 2008)
    "sdss": Sample(
        "sdss",
        (13.0, 17.0),
        8.0,
        (1.5, 12.0),
        "Lintott et al. 2008 (Galaxy Zoo); Strauss et al. 2002 (SDSS main sample)",
        overlap=0.35,
    ),
    # deep, sub-arcsecond surveys (HSC, LSST, Euclid): the decals sample's size-magnitude
    # relation continued 2 mag fainter, to r = 20 (0.5" galaxies), about as faint as
    # spiral arms were still told in HSC-SSP images (Tadaki et al. 2020, MNRAS 496, 4276)
    "deep": Sample(
        "deep",
        (16.0, 20.0),
        2.0,
        (0.5, 3.0),
        "decals sample extended to r = 20; Tadaki et al. 2020 (HSC-SSP spirals)",
    ),
}
# `sample_for`: (5-sigma depth of the band nearest r, sample of the surveys shallower
# than that), shallowest first; deeper surveys get DEEP_SAMPLE
SAMPLE_DEPTHS = ((23.0, "sdss"), (25.5, "decals"))
DEEP_SAMPLE = "deep"


@dataclass(frozen=True)
class Imaging:
    """The simulator's own imaging set-up (``survey="decals"``).

    Attributes
    ----------
    pixel_scale : float
        Arcsec per pixel.
    depth_5sigma : tuple of float
        5 sigma point-source AB depth in g, r, i, z at ``ref_fwhm``.
    sky_mag : tuple of float
        Sky brightness in g, r, i, z [AB mag / arcsec^2].
    ref_fwhm : float
        Seeing [arcsec] at which ``depth_5sigma`` holds.
    psf_fwhm_r : tuple of float
        Range of the r-band seeing FWHM [arcsec], drawn uniformly per object.
    source : str
        Where the numbers come from.
    """

    pixel_scale: float
    depth_5sigma: tuple
    sky_mag: tuple
    ref_fwhm: float
    psf_fwhm_r: tuple
    source: str


# DECaLS DR8-like (Dey et al. 2019): 0.262"/px, median seeing ~1.2"; the i band is the
# simulator's own (DECaLS images g, r, z), kept because the default model uses g, r, i
DECALS = Imaging(
    0.262,
    (24.7, 23.9, 23.4, 23.0),
    (22.0, 20.9, 20.2, 18.5),
    1.2,
    (1.0, 1.5),
    "Dey et al. 2019 (DECaLS); Legacy Surveys DR8 documentation",
)


def sample_for(survey):
    """The galaxy sample that suits a survey's depth.

    The 5-sigma depth of the survey's band nearest r picks it: shallower than 23 mag the
    bright Galaxy Zoo-like ``sdss`` sample, shallower than 25.5 the ``decals`` sample
    (DES, KiDS), deeper the fainter ``deep`` sample (HSC, LSST, Euclid).

    Parameters
    ----------
    survey : astrocnn.sim.surveys.Survey

    Returns
    -------
    Sample
    """
    r = SIMULATED_WAVELENGTH["r"]
    band = min(survey.bands, key=lambda b: abs(math.log(b.wavelength / r)))
    for depth, name in SAMPLE_DEPTHS:
        if band.depth < depth:
            return SAMPLES[name]
    return SAMPLES[DEEP_SAMPLE]


# Colour composite (SDSS / Galaxy Zoo style): fixed for the whole data set so that
# brightness and colour are comparable between images.
RGB_SCALES = {"i": 1.0, "r": 1.25, "g": 2.2}  # nanomaggy multipliers -> (R, G, B)
RGB_STRETCH = 0.4
RGB_Q = 8.0
JPEG_QUALITY = 90

_COLOURS = {  # uniform ranges of (g-r, r-i, i-z); N(0, 0.02) scatter is added to each
    "red": ((0.75, 0.35, 0.18), (0.90, 0.45, 0.28)),
    "bulge": ((0.70, 0.33, 0.15), (0.85, 0.43, 0.25)),
    "edge": ((0.55, 0.28, 0.12), (0.75, 0.40, 0.22)),
    "disk": ((0.35, 0.15, 0.05), (0.55, 0.30, 0.18)),
    "tidal": ((0.35, 0.15, 0.05), (0.65, 0.35, 0.20)),
    "knot": ((0.00, -0.05, -0.10), (0.25, 0.15, 0.10)),
}


def _colour(rng, kind):
    """Per-band magnitude offsets ``m_band - m_r`` for g, r, i, z."""
    lo, hi = _COLOURS[kind]
    gr, ri, iz = rng.uniform(lo, hi) + rng.normal(0.0, 0.02, 3)
    return np.array([gr, 0.0, -ri, -ri - iz])


def _flux(mag_r, colour=0.0):
    """Nanomaggies per band for an r-band magnitude and colour offsets."""
    return 10.0 ** (-0.4 * (mag_r + colour - MAGZP))


def _r_half(rng, sample, mag_r, factor=1.0, lo=None, hi=None):
    """Half-light radius [arcsec] from the sample's size-magnitude relation (0.1 dex
    scatter); ``lo``/``hi`` in units of the decals sample's sizes (they scale with
    ``sample.r_half_bright``)."""
    scale = sample.r_half_bright / SAMPLES["decals"].r_half_bright
    lo = sample.r_half_range[0] if lo is None else lo * scale
    hi = sample.r_half_range[1] if hi is None else hi * scale
    log_r = (
        np.log10(sample.r_half_bright * factor)
        - 0.15 * (mag_r - sample.mag_range[0])
        + rng.normal(0.0, 0.1)
    )
    return float(np.clip(10.0**log_r, lo, hi))


def _rot(u_, v_, q, beta):
    """Face-on galaxy-frame coordinates -> sky offsets for axis ratio q (area-preserving,
    as GalSim's ``shear(q=, beta=)``) and major-axis angle beta [rad] from +x."""
    u_, v_ = u_ / np.sqrt(q), v_ * np.sqrt(q)
    cb, sb = np.cos(beta), np.sin(beta)
    return u_ * cb - v_ * sb, u_ * sb + v_ * cb


def _sersic(n, r_half, q, beta, x0, y0):
    return (
        galsim.Sersic(n=n, half_light_radius=r_half)
        .shear(q=q, beta=beta * galsim.radians)
        .shift(x0, y0)
    )


def _elliptical(rng, ren, mag, r_half, q, beta, x0, y0, indices=SERSIC_N, colour="red"):
    """Smooth Sérsic (high n, red, unless told otherwise)."""
    n = float(rng.choice(indices))
    smooth = [(ren.kimage(_sersic(n, r_half, q, beta, x0, y0)), _flux(mag, _colour(rng, colour)))]
    return smooth, []


def _bulge(rng, ren, mag, r_half, q, beta, x0, y0):
    r_b = max(0.3, rng.uniform(0.1, 0.25) * r_half)
    q_b = rng.uniform(max(q, 0.6), 1.0)
    n = float(rng.choice(BULGE_N))
    return ren.kimage(_sersic(n, r_b, q_b, beta, x0, y0)), _flux(mag, _colour(rng, "bulge"))


def _spiral(rng, ren, mag, r_half, q, beta, x0, y0, arms=True, bulge=(0.05, 0.3), early=False):
    """Exponential disk + small red bulge + 2-3 log-spiral arms + blue knots on the arms
    (``early``: a red disk, a 30-60 % bulge, faint arms and few knots: an Sa)."""
    f_b = rng.uniform(*((0.3, 0.6) if early else bulge))
    f_a = rng.uniform(*((0.05, 0.15) if early else (0.25, 0.45))) if arms else 0.0
    f_k = rng.uniform(*((0.0, 0.03) if early else (0.04, 0.12))) if arms else rng.uniform(0, 0.05)
    disk_col = _colour(rng, "bulge" if early else "disk")
    disk = galsim.Exponential(half_light_radius=r_half)
    disk = disk.shear(q=q, beta=beta * galsim.radians).shift(x0, y0)
    smooth = [
        (ren.kimage(disk), (1 - f_b - f_a - f_k) * _flux(mag, disk_col)),
        _bulge(rng, ren, mag, r_half, q, beta, x0, y0),
    ]
    smooth[1] = (smooth[1][0], f_b * smooth[1][1])
    r_d = r_half / 1.678
    n_arms = int(rng.choice([2, 2, 2, 3]))
    pitch = np.radians(rng.uniform(12.0, 30.0))
    theta0 = rng.uniform(0, 2 * np.pi)
    sense = rng.choice([-1.0, 1.0])
    r = np.linspace(0.5 * r_d, 4.0 * r_d, 160)
    w = r * np.exp(-r / r_d) * (1 - np.exp(-((r / r_d) ** 2)))
    r, w = np.tile(r, n_arms), np.tile(w, n_arms)
    arm = np.repeat(np.arange(n_arms), 160)
    theta = theta0 + 2 * np.pi * arm / n_arms + sense * np.log(r / r_d) / np.tan(pitch)
    theta = theta + rng.normal(0, 0.05, r.size)
    w = w * rng.lognormal(0.0, 0.3, r.size)
    ax, ay = _rot(r * np.cos(theta), r * np.sin(theta), q, beta)
    points = []
    if f_a > 0:
        sig_a = rng.uniform(0.12, 0.2) * r_half
        points.append((ren.splat(ax + x0, ay + y0, w, sig_a), f_a * _flux(mag, disk_col)))
    n_k = int(rng.integers(8, 25))
    pick = rng.choice(r.size, n_k, p=w / w.sum())
    dth = rng.normal(0, 0.15, n_k)
    kx, ky = _rot(r[pick] * np.cos(theta[pick] + dth), r[pick] * np.sin(theta[pick] + dth), q, beta)
    kw = rng.lognormal(0.0, 0.5, n_k)
    points.append((ren.splat(kx + x0, ky + y0, kw, 0.15), f_k * _flux(mag, _colour(rng, "knot"))))
    return smooth, points


def _edge_on(rng, ren, mag, r_half, beta, x0, y0, min_inclination=80.0):
    """Nearly edge-on thick exponential disk (inclination 80-90 deg), maybe a bulge."""
    incl = rng.uniform(min_inclination, 90.0)
    h_r = rng.uniform(0.07, 0.14)
    f_b = rng.uniform(0.05, 0.3) if rng.random() < 0.6 else 0.0
    disk = galsim.InclinedExponential(
        incl * galsim.degrees, half_light_radius=r_half, scale_h_over_r=h_r
    )
    disk = disk.rotate(beta * galsim.radians).shift(x0, y0)
    smooth = [(ren.kimage(disk), (1 - f_b) * _flux(mag, _colour(rng, "edge")))]
    if f_b > 0:
        k, f = _bulge(rng, ren, mag, r_half, 0.6, beta, x0, y0)
        smooth.append((k, f_b * f))
    q_app = float(np.hypot(np.cos(np.radians(incl)), h_r * np.sin(np.radians(incl))))
    return smooth, [], q_app


def _tail(rng, ren, x0, y0, phi0, length, sense, mag):
    """A curved, diffuse tidal tail of magnitude ``mag`` from (x0, y0); 0-5 star-forming
    knots along it carry 10-30% of its light."""
    t = np.linspace(0.0, 1.0, 120)
    curv = rng.uniform(0.6, 1.6)
    phi = phi0 + sense * curv * t
    rad = length * (0.15 + t)
    x, y = x0 + rad * np.cos(phi), y0 + rad * np.sin(phi)
    w = np.exp(-1.5 * t) * (1 - np.exp(-((t / 0.15) ** 2)))
    sig = rng.uniform(0.3, 0.55)
    n_k = int(rng.integers(0, 6))
    f_k = rng.uniform(0.1, 0.3) if n_k else 0.0
    points = [(ren.splat(x, y, w, sig), (1 - f_k) * _flux(mag, _colour(rng, "tidal")))]
    if n_k:
        j = rng.choice(t.size, n_k, p=w / w.sum())
        kx, ky = x[j] + rng.normal(0, 0.2, n_k), y[j] + rng.normal(0, 0.2, n_k)
        knots = ren.splat(kx, ky, rng.lognormal(0, 0.4, n_k), 0.15)
        points.append((knots, f_k * _flux(mag, _colour(rng, "knot"))))
    return points


def _galaxy(rng, ren, kind, mag, r_half, q, beta, x0, y0):
    """A merger's member: (smooth, points, axis ratio)."""
    if kind == "elliptical":
        return (*_elliptical(rng, ren, mag, r_half, q, beta, x0, y0), q)
    # merging disks: more prominent bulges, so that both nuclei show
    bulge = (0.15, 0.4)
    return (*_spiral(rng, ren, mag, r_half, q, beta, x0, y0, rng.random() < 0.5, bulge), q)


def _merger(rng, ren, sample, mag, fwhm_r, x0, y0, beta, half_field, member=_galaxy):
    """Two overlapping galaxies (flux ratio 1:1-1:4) with curved tidal tails; ``fwhm_r``
    is the seeing [arcsec] that the nuclei's separation must beat; ``member`` draws each
    galaxy (`_galaxy`, or `_rich_member`)."""
    f_t = rng.uniform(0.12, 0.25)
    ratio = rng.uniform(0.25, 1.0)
    m1 = mag - 2.5 * np.log10((1 - f_t) / (1 + ratio))
    m2 = m1 - 2.5 * np.log10(ratio)
    kinds = rng.choice(["elliptical", "disk"], 2, p=[0.4, 0.6])
    r1 = _r_half(rng, sample, m1, 0.9 if kinds[0] == "elliptical" else 1.1)
    r2 = _r_half(rng, sample, m2, 0.9 if kinds[1] == "elliptical" else 1.1)
    sep = max(rng.uniform(0.5, 2.0) * r1, rng.uniform(1.6, 2.4) * fwhm_r)
    sep = min(sep, 0.7 * half_field)
    a = rng.uniform(0, 2 * np.pi)
    ux, uy = np.cos(a), np.sin(a)
    x1, y1 = x0 - sep * ratio / (1 + ratio) * ux, y0 - sep * ratio / (1 + ratio) * uy
    x2, y2 = x1 + sep * ux, y1 + sep * uy
    q1 = rng.uniform(0.6, 1.0) if kinds[0] == "elliptical" else rng.uniform(0.35, 1.0)
    q2 = rng.uniform(0.6, 1.0) if kinds[1] == "elliptical" else rng.uniform(0.35, 1.0)
    s1, p1, q1 = member(rng, ren, kinds[0], m1, r1, q1, beta, x1, y1)
    s2, p2, _ = member(rng, ren, kinds[1], m2, r2, q2, rng.uniform(0, np.pi), x2, y2)
    smooth, points = s1 + s2, p1 + p2
    # tails leave each galaxy roughly away from the other, both curving the same way
    sense = rng.choice([-1.0, 1.0])
    both = rng.random() < 0.6
    m_t = mag - 2.5 * np.log10(f_t / (2 if both else 1))
    starts = [(x1, y1, a + np.pi, r1), (x2, y2, a, r2)]
    for j in [0, 1] if both else [int(rng.integers(0, 2))]:
        xs, ys, phi0, rr = starts[j]
        phi0 += sense * rng.uniform(0.3, 1.2)
        length = min(rng.uniform(1.0, 2.0) * max(sep, 2 * rr), 0.8 * half_field)
        points += _tail(rng, ren, xs, ys, phi0, length, sense, m_t)
    return smooth, points, r1, q1


def _components(rng, ren, sample, label, mag, fwhm_ref, beta, x0, y0):
    """The galaxy of class ``label``: (smooth, points, r_half, axis ratio), fluxes in the
    simulator's g, r, i, z nanomaggies."""
    half_field = ren.size * ren.ps / 2
    # only a sample with overlapping populations draws this (others keep their streams)
    kind = _overlap_kind(rng, label) if sample.overlap and rng.random() < sample.overlap else ""
    if label == "elliptical":
        r_half, q = _r_half(rng, sample, mag, 0.9), rng.uniform(0.45 if kind else 0.6, 1.0)
        indices, colour = ((2.0, 3.0), "edge") if kind else (SERSIC_N, "red")
        smooth, points = _elliptical(rng, ren, mag, r_half, q, beta, x0, y0, indices, colour)
    elif label == "spiral":
        # big enough for the arms to be resolved, as for Galaxy Zoo's spirals
        r_half = _r_half(rng, sample, mag, 1.3, lo=1.5)
        q = rng.uniform(*((0.2, 0.45) if kind == "inclined" else (0.45, 1.0)))
        early = kind == "early"
        smooth, points = _spiral(rng, ren, mag, r_half, q, beta, x0, y0, early=early)
    elif label == "edge_on":
        r_half = _r_half(rng, sample, mag, 1.15, hi=3.2)  # face-on; longer edge-on disks overflow
        tilt = 72.0 if kind else 80.0
        smooth, points, q = _edge_on(rng, ren, mag, r_half, beta, x0, y0, tilt)
    else:
        smooth, points, r_half, q = _merger(
            rng, ren, sample, mag, fwhm_ref, x0, y0, beta, half_field
        )
    return smooth, points, r_half, q


# ---------------------------------------------------------------------------------------
# the rich population (``population="rich"``): each class's galaxies drawn from
# `astrocnn.sim.population`, at the sample's sizes and in this simulator's colours

S0_FRACTION = 0.3  # of the elliptical class: smooth bulge-dominated disks (an assumption)
S0_BULGE = (0.8, 1.0)  # B/T of those
S0_OVERLAP_BULGE = (0.6, 0.8)  # B/T of the overlap population's S0s (intermediate colours)
SPIRAL_BULGE = (0.0, 0.7)  # B/T of spirals and merging disks (at least 0.15: two nuclei)
EARLY_SPIRAL_BULGE = (0.4, 0.7)  # B/T of the overlap population's early-type spirals
SPIRAL_INCLINATION = (0.0, 70.0)  # deg; the overlap population's inclined spirals: 65-80
INCLINED_SPIRAL = (65.0, 80.0)
EDGE_ON_BULGE = (0.0, 0.5)  # the disk is the main body, whose axis ratio is catalogued
# light in a spiral's arms, as `_spiral`'s: the population's 10-30 % of the disk light
# leaves most of them smooth at 1" seeing, where Galaxy Zoo's spirals show their arms
SPIRAL_ARMS = (0.25, 0.45)
# colour population of `_COLOURS` of each component role, per kind of galaxy; roles that
# share one name share one draw (a spiral's arms have its disk's colour, as in `_spiral`)
_PALETTES = {
    "elliptical": {"bulge": "red"},
    "s0": {"bulge": "red", "bar": "bulge", "disk": "bulge", "knots": "knot"},
    "overlap": {"bulge": "edge", "bar": "edge", "disk": "edge", "knots": "knot"},
    "spiral": {"bulge": "bulge", "bar": "bulge", "disk": "disk", "arms": "disk", "knots": "knot"},
    "early": {"bulge": "bulge", "bar": "bulge", "disk": "bulge", "arms": "bulge", "knots": "knot"},
    "edge_on": {"bulge": "bulge", "bar": "edge", "disk": "edge", "arms": "edge", "knots": "knot"},
}


def _bulge_fraction(rng, lo, hi):
    """B/T from the population's Beta law (`BT_BETA`) truncated to [lo, hi] (inverse
    CDF: one uniform, no redraws)."""
    a, b = BT_BETA
    return float(betaincinv(a, b, rng.uniform(betainc(a, b, lo), betainc(a, b, hi))))


def _inclination(rng, lo, hi):
    """Inclination [deg] isotropic within lo-hi (uniform in cos i)."""
    cos_hi, cos_lo = np.cos(np.radians([hi, lo]))
    return float(np.degrees(np.arccos(rng.uniform(cos_hi, cos_lo))))


def _draw(rng, mag, r_half, kind, **structure):
    """A population galaxy of r magnitude ``mag`` in g, r, i, z."""
    return draw_galaxy(rng, mag, ALL_BANDS, kind, ref_band="r", r_half=r_half, **structure)


def _recoloured(rng, galaxy, palette):
    """The galaxy in this simulator's colours (`_COLOURS` per role, `_PALETTES`): the
    population's are those of faint galaxies at z ~ 0.5-1, too red for r < 20."""
    drawn = {name: _colour(rng, name) for name in dict.fromkeys(_PALETTES[palette].values())}
    return recolour(galaxy, {role: drawn[name] for role, name in _PALETTES[palette].items()})


def _scaled(galaxy, s):
    """The galaxy ``s`` times larger (fluxes and shapes kept)."""
    comps = []
    for c in galaxy.components:
        if c.profile is not None:
            comps.append(replace(c, profile=c.profile.dilate(s)))
        else:
            xyw = np.array([c.points[0] * s, c.points[1] * s, c.points[2]])
            comps.append(replace(c, points=xyw, sigma=c.sigma * s))
    return replace(galaxy, r_half=galaxy.r_half * s, components=comps)


def _with_arms(galaxy, frac):
    """The galaxy with ``frac`` of its light in its arms, taken from its disk (at most
    80 % of the disk's); the arms follow the disk's light, so ``r_half`` barely
    changes (by ~2 %, not recomputed). Fluxes are set by `recolour` afterwards."""
    arms = next(c for c in galaxy.components if c.role == "arms")
    disk = next((c for c in galaxy.components if c.role == "disk"), None)
    moved = 0.0 if disk is None else min(frac - arms.frac, 0.8 * disk.frac)
    if moved <= 0:
        return galaxy
    new = {id(arms): arms.frac + moved, id(disk): disk.frac - moved}
    comps = [replace(c, frac=new.get(id(c), c.frac)) for c in galaxy.components]
    return replace(galaxy, components=comps)


def _population_parts(ren, galaxy, x0, y0, turn):
    """(smooth, points) of a population galaxy as the renderer takes them, with g, r, i, z
    nanomaggies per component (so that `_SurveyImaging.flux` carries each component's
    colours), turned by ``turn`` [rad] and centred on (x0, y0) [arcsec]."""
    cos, sin = np.cos(turn), np.sin(turn)
    smooth, points = [], []
    for c in galaxy.components:
        flux = _flux(c.mags)
        if c.profile is not None:
            prof = c.profile.rotate(turn * galsim.radians).shift(x0, y0)
            smooth.append((ren.kimage(prof), flux))
        else:
            x, y, w = c.points
            k = ren.splat(cos * x - sin * y + x0, sin * x + cos * y + y0, w, c.sigma)
            points.append((k, flux))
    return smooth, points


def _rich_elliptical(rng, mag, r_half, overlap):
    """Early types as Galaxy Zoo volunteers saw them: ellipticals and smooth S0s (B/T
    0.8-1); the overlap population: S0s of B/T 0.6-0.8 and intermediate colours."""
    if overlap or rng.random() < S0_FRACTION:
        bt = _bulge_fraction(rng, *(S0_OVERLAP_BULGE if overlap else S0_BULGE))
        gal = _draw(rng, mag, r_half, "disk", bulge_fraction=bt, n_arms=0, has_bar=False)
        return gal, "overlap" if overlap else "s0"
    return _draw(rng, mag, r_half, "elliptical"), "elliptical"


def _rich_spiral(rng, mag, r_half, overlap):
    """A disk with 2-4 arms, B/T < 0.7, inclination < 70 deg; bars and knots as the
    population draws them. Overlap: early-type (B/T 0.4-0.7, red disk) or inclined
    (65-80 deg) spirals."""
    bt = _bulge_fraction(rng, *(EARLY_SPIRAL_BULGE if overlap == "early" else SPIRAL_BULGE))
    tilt = INCLINED_SPIRAL if overlap == "inclined" else SPIRAL_INCLINATION
    n_arms = int(rng.choice(N_ARMS, p=N_ARMS_P))
    gal = _draw(
        rng, mag, r_half, "disk", bulge_fraction=bt, inclination=_inclination(rng, *tilt),
        n_arms=n_arms,
    )  # fmt: skip
    if overlap == "early":
        return gal, "early"
    return _with_arms(gal, rng.uniform(*SPIRAL_ARMS)), "spiral"


def _rich_edge_on(rng, mag, r_half, overlap):
    """A disk-dominated galaxy at inclination 80-90 deg (overlap: 72-90), as long as a
    classic edge-on disk of face-on half-light radius ``r_half``."""
    incl = rng.uniform(72.0 if overlap else 80.0, 90.0)
    bt = _bulge_fraction(rng, *EDGE_ON_BULGE)
    gal = _draw(rng, mag, r_half, "disk", bulge_fraction=bt, inclination=incl)
    # r_half is circularised, sqrt(a b): a disk of axis ratio q is 1 / sqrt(q) longer
    return _scaled(gal, np.sqrt(gal.axis_ratio)), "edge_on"


def _rich_member(rng, ren, kind, mag, r_half, q, beta, x0, y0):
    """A merger's member from the population: (smooth, points, axis ratio); ``q`` is
    `_galaxy`'s and unused (the population draws its own)."""
    if kind == "elliptical":
        gal, palette = _draw(rng, mag, r_half, "elliptical"), "elliptical"
    else:  # B/T >= 0.15 so that both nuclei show; arms and bars as the population draws
        bt = _bulge_fraction(rng, 0.15, SPIRAL_BULGE[1])
        gal, palette = _draw(rng, mag, r_half, "disk", bulge_fraction=bt), "spiral"
    gal = _recoloured(rng, gal, palette)
    return (*_population_parts(ren, gal, x0, y0, beta - gal.beta), gal.axis_ratio)


_RICH = {"elliptical": _rich_elliptical, "spiral": _rich_spiral, "edge_on": _rich_edge_on}


def _rich_components(rng, ren, sample, label, mag, fwhm_ref, beta, x0, y0):
    """`_components` from the population: the same classes, sample sizes and overlap
    populations, turned to position angle ``beta``."""
    overlap = _overlap_kind(rng, label) if sample.overlap and rng.random() < sample.overlap else ""
    if label == "merger":
        half_field = ren.size * ren.ps / 2
        return _merger(
            rng, ren, sample, mag, fwhm_ref, x0, y0, beta, half_field, member=_rich_member
        )
    factor, lo, hi = {"elliptical": (0.9, None, None), "spiral": (1.3, 1.5, None)}.get(
        label, (1.15, None, 3.2)
    )
    gal, palette = _RICH[label](rng, mag, _r_half(rng, sample, mag, factor, lo, hi), overlap)
    gal = _recoloured(rng, gal, palette)
    smooth, points = _population_parts(ren, gal, x0, y0, beta - gal.beta)
    return smooth, points, gal.r_half, gal.axis_ratio


def _simulate_one(rng, ren, sample, label, view, population="classic"):
    """One object: returns (float32 cube, header cards, catalogue row dict)."""
    fwhm, fwhm_ref, offset = view.conditions(rng)
    mag = rng.uniform(*sample.mag_range)
    beta = rng.uniform(0, np.pi)  # major axis from +x, counter-clockwise
    x0, y0 = np.clip(rng.normal(0.0, 0.25, 2), -0.75, 0.75)
    draw = _rich_components if population == "rich" else _components
    smooth, points, r_half, q = draw(rng, ren, sample, label, mag, fwhm_ref, beta, x0, y0)
    psf_k = np.array([ren.psf(galsim.Moffat(beta=MOFFAT_BETA, fwhm=f)) for f in fwhm])
    smooth = [(k, view.flux(f)) for k, f in smooth]
    img = ren.render(smooth, [(k, view.flux(f)) for k, f in points], psf_k)
    sky, gain, sigma = view.noise(offset)
    img, _ = add_noise(rng, img, sky, gain)
    # position angle: east of north, with north = +y and east = -x (FITS WCS below)
    pa = (np.degrees(beta) - 90.0) % 180.0
    row = dict(mag_r=mag, r_half=r_half, axis_ratio=q, position_angle=pa)
    cards = psf_cards(fwhm, view.bands, view.bands) | view.cards(offset, sigma)
    return img.astype(np.float32), cards, row | view.row(fwhm_ref, offset)


class _OwnImaging:
    """Rendering in the simulator's own set-up (`Imaging`): the random streams, files
    and catalogue of the default model's training set, unchanged."""

    columns = ("psf_fwhm_r",)
    units = {"psf_fwhm_r": u.arcsec}
    zero_point, unit, to_nanomaggy = MAGZP, "nanomaggy", 1.0

    def __init__(self, imaging, bands, pixel_scale):
        self.imaging, self.bands = imaging, bands
        self.bidx = [ALL_BANDS.index(b) for b in bands]
        # matched-filter S/N = 5 for a point source at the depth
        sky, gain = noise_from_depth(
            pixel_scale,
            MAGZP,
            np.array(imaging.sky_mag),
            imaging.ref_fwhm,
            _flux(np.array(imaging.depth_5sigma)) ** 2,
            5.0,
        )
        self.sigma = background_sigma(sky, gain)[self.bidx]
        self.sky, self.gain = sky[self.bidx, None, None], gain[self.bidx, None, None]

    def conditions(self, rng):
        """PSF FWHM [arcsec] of the rendered bands, the r band's, depth offset (none)."""
        fwhm = rng.uniform(*self.imaging.psf_fwhm_r) * SEEING_SCALE + rng.normal(0, 0.02, 4)
        return fwhm[self.bidx], fwhm[1], 0.0

    def flux(self, native):
        """Fluxes of the rendered bands from g, r, i, z nanomaggies."""
        return native[self.bidx]

    def noise(self, offset):
        """Sky, gain and background sigma of the rendered bands (one depth for all)."""
        return self.sky, self.gain, self.sigma

    def header(self):
        """Cards every stamp carries beyond `StampWriter`'s (SKYSIG there already)."""
        return {}

    def cards(self, offset, sigma):
        """Per-object cards beyond the PSF's."""
        return {}

    def row(self, fwhm_ref, offset):
        """Catalogue columns of the observing conditions."""
        return {"psf_fwhm_r": fwhm_ref}

    def meta(self):
        """Catalogue cards naming the set-up."""
        return {"SURVEY": "decals"}


class _SurveyImaging:
    """Rendering as a survey of `astrocnn.sim.surveys` takes the objects: its bands, zero
    point and unit, each object's seeing and depth drawn from the survey's ranges."""

    columns = ("psf_fwhm", "depth_offset")
    units = {"psf_fwhm": u.arcsec, "depth_offset": u.mag}

    def __init__(self, survey, bands, pixel_scale, sample):
        self.survey, self.bands, self.pixel_scale, self.sample = survey, bands, pixel_scale, sample
        self.rendered = survey.select(bands)
        self.bidx = [survey.band_names.index(b) for b in bands]
        self.ref = survey.band_names.index(survey.reference_band)
        self.weights = colour_weights(self.rendered.bands, ALL_BANDS)
        self.zero_point, self.unit = survey.zero_point, survey.unit
        self.to_nanomaggy = 10.0 ** (0.4 * (MAGZP - survey.zero_point))
        self.sigma = self.rendered.sky_sigma(pixel_scale=pixel_scale)

    def conditions(self, rng):
        """PSF FWHM [arcsec] of the rendered bands, the reference band's, depth offset."""
        # drawn for every band of the survey, so the reference band is there even when
        # only some bands are rendered
        fwhm, offset = self.survey.draw_conditions(rng)
        return fwhm[self.bidx], fwhm[self.ref], offset

    def flux(self, native):
        """Fluxes [survey units] of the rendered bands from g, r, i, z nanomaggies:
        ``m_band = W @ m_griz`` (`colour_weights`; its rows sum to 1, so the colours
        relative to r carry over and the r flux sets the scale)."""
        if native[1] <= 0:
            return np.zeros(len(self.bands))
        colour = -2.5 * np.log10(native / native[1])
        return native[1] * 10.0 ** (-0.4 * (self.weights @ colour + MAGZP - self.zero_point))

    def noise(self, offset):
        """Sky, gain and background sigma of the rendered bands at this depth offset."""
        sky, gain = self.rendered.noise(offset, self.pixel_scale)
        sigma = self.rendered.sky_sigma(depth_offset=offset, pixel_scale=self.pixel_scale)
        return sky, gain, sigma

    def header(self):
        """Cards every stamp carries beyond `StampWriter`'s: SURVEY, MAGZP, BUNIT."""
        return self.survey.cards()

    def cards(self, offset, sigma):
        """Per-object cards: this object's noise (SKYSIG_<BAND>) and depth offset."""
        return noise_cards(sigma, self.bands, self.bands, self.unit) | {
            "DEPTHOFF": (round(float(offset), 4), "depth offset [mag] (positive: deeper)")
        }

    def row(self, fwhm_ref, offset):
        """Catalogue columns of the observing conditions."""
        return {"psf_fwhm": fwhm_ref, "depth_offset": offset}

    def meta(self):
        """Catalogue cards naming the set-up."""
        return {
            "BUNIT": self.unit,
            "SURVEY": self.survey.name,
            "REFBAND": self.survey.reference_band,
            "SAMPLE": self.sample.name,
        }


def _overlap_kind(rng, label):
    """Which overlap population an object of ``label`` comes from (see `Survey.overlap`)."""
    if label == "spiral":
        return "early" if rng.random() < 0.5 else "inclined"
    return "overlap"


def _noisy_labels(labels, classes, fraction, seed):
    """``labels`` with a ``fraction`` of them (drawn with their own stream, so the
    images do not change) replaced by another class of ``classes``."""
    if not fraction:
        return labels
    rng = np.random.default_rng([seed, 0x1AB])
    said = labels.copy()
    flip = np.flatnonzero(rng.random(len(labels)) < fraction)
    for i in flip:
        said[i] = rng.choice([c for c in classes if c != labels[i]])
    return said


def to_rgb(cube, bands):
    """8-bit RGB composite (size, size, 3) of a cube: Lupton asinh, (i, r, g) -> (R, G, B),
    with the fixed data-set-wide ``RGB_SCALES``, ``RGB_STRETCH`` and ``RGB_Q``."""
    b = list(bands)
    i, r, g = (np.asarray(cube[b.index(x)], float) * RGB_SCALES[x] for x in "irg")
    return make_lupton_rgb(i, r, g, minimum=0.0, stretch=RGB_STRETCH, Q=RGB_Q)


def _shared_survey(survey):
    """The `astrocnn.sim.surveys.Survey` that ``survey`` names (None: the own `DECALS`)."""
    if isinstance(survey, Survey):
        return survey
    if survey == "decals":
        return None
    if isinstance(survey, str) and survey in SURVEYS:
        return SURVEYS[survey]
    raise ValueError(f"survey must be one of {', '.join(SURVEY_CHOICES)}, got {survey!r}")


def _default_bands(shared, image_format):
    """g, r, i in the own set-up or for a colour composite; else all the survey's bands."""
    composite = ("g", "r", "i")
    if shared is None:
        return composite
    if image_format != "fits" and set(composite) <= set(shared.band_names):
        return composite
    return shared.band_names


def _checks(shared, bands, image_format, classes, label_noise):
    """The (ok, message) checks of the arguments beyond `stamp_checks`."""
    missing = [] if shared is None else [b for b in "gri" if b not in shared.band_names]
    return (
        (
            len(classes) >= 2
            and set(classes) <= set(CLASSES)
            and len(set(classes)) == len(classes),
            f"classes must be two or more distinct names of {', '.join(CLASSES)}, got {classes!r}",
        ),
        (
            isinstance(label_noise, (int, float)) and 0 <= label_noise < 1,
            f"label_noise must be in [0, 1), got {label_noise!r}",
        ),
        (
            image_format in ("fits", "jpeg", "png"),
            f"image_format must be 'fits', 'jpeg' or 'png', got {image_format!r}",
        ),
        (
            image_format == "fits" or not missing,
            f"image_format={image_format!r} makes i, r, g colour composites, but survey "
            f"{getattr(shared, 'name', '')!r} has no {', '.join(missing)} band (its bands: "
            f"{', '.join(getattr(shared, 'band_names', ()))}); write FITS cutouts instead "
            "(--format fits)",
        ),
        (
            image_format == "fits" or {"g", "r", "i"} <= set(bands),
            f"image_format={image_format!r} needs bands g, r and i, got {bands!r}",
        ),
    )


def simulate_morphology(
    n,
    seed,
    outdir,
    *,
    size=64,
    pixel_scale=None,
    bands=None,
    image_format="fits",
    progress=False,
    survey="decals",
    classes=CLASSES,
    label_noise=0.0,
    population="classic",
):
    """Simulate labelled Galaxy Zoo 1 style galaxy cutouts and write them to disk.

    Parameters
    ----------
    n : int
        Number of objects (>= 1). The classes have equal counts (the first
        ``n % len(classes)`` of ``classes`` get one more), in an order shuffled by
        ``seed``.
    seed : int
        Seed for ``numpy.random.default_rng``; same ``(n, seed)`` (and keywords)
        gives bit-identical files and catalogue.
    outdir : str or os.PathLike
        Output directory; created if needed.
    size : int, optional
        Stamp side in pixels (>= 16).
    pixel_scale : float, optional
        Arcsec per pixel (default: the survey's, decals 0.262); the noise per pixel
        follows at the survey's depths.
    bands : sequence of str, optional
        Bands in cube order: a subset of ``("g", "r", "i", "z")`` for ``"decals"``
        (default g, r, i), of the survey's bands otherwise (default: all of them for
        FITS, g, r, i for a colour composite).
    image_format : {"fits", "jpeg", "png"}, optional
        ``"fits"``: ``outdir/cutouts/morph_{id:06d}.fits``, a float32 cube
        (nband, size, size) with a 2-D TAN WCS and header cards ``BANDS``
        (``FILTER`` for one band), ``PIXSCALE``, ``MAGZP``, ``BUNIT``, ``OBJECT``,
        ``LABEL``, ``PSF_<BAND>`` (FWHM [arcsec]) and ``SKYSIG_<BAND>`` (background
        noise sigma [``BUNIT``]); with a shared survey also ``SURVEY`` and
        ``DEPTHOFF`` (the object's depth offset [mag]), and ``SKYSIG_<BAND>`` is the
        noise at that object's depth.
        ``"jpeg"`` / ``"png"``: ``outdir/images/morph_{id:06d}.jpg|.png`` only, an
        8-bit RGB composite like the SDSS images Galaxy Zoo showed (see `to_rgb`;
        one fixed stretch for the whole data set, on fluxes in nanomaggies whatever
        the survey's unit). Needs bands g, r and i: a survey without them (euclid)
        is refused with a ValueError rather than given made-up channels. The
        catalogue's ``BANDS`` then names the image's channels, ``i,r,g``.
    progress : bool, optional
        Show a tqdm progress bar on stderr.
    survey : str or astrocnn.sim.surveys.Survey, optional
        ``"decals"`` (default): the simulator's own DECaLS-like `DECALS` imaging
        and the ``decals`` sample, the set-up of the shipped default model. A name
        in `astrocnn.sim.surveys.SURVEYS` (``lsst``, ``hsc``, ``des``, ``kids``,
        ``sdss``, ``euclid``) or a `~astrocnn.sim.surveys.Survey` (e.g. from a
        survey file): that survey's bands, pixel scale, zero point, unit, seeing
        and depth ranges, with the galaxy sample `sample_for` picks. ``"sdss"``
        stands in for the Galaxy Zoo images: 0.396"/px, r seeing 1.1-1.8", SDSS
        depths (5 sigma g, r, i, z = 22.2, 22.2, 21.3, 20.5), nanomaggies and the
        bright ``sdss`` sample: r = 13-17 with half-light radii from 8" at r = 13
        (0.15 dex per magnitude; clipped to 1.5-12"), 35 % of objects from where
        the classes overlap.
    classes : sequence of str, optional
        The classes drawn, a subset of ``CLASSES``.
    label_noise : float, optional
        Fraction of labels replaced by another class drawn at random (volunteer
        mistakes; default 0). The catalogue's ``label`` holds the noisy label and
        ``true_label`` the class simulated; the images do not change.
    population : {"classic", "rich"}, optional
        ``"classic"`` (default): the galaxy models below, those of the shipped default
        models (same seed, same files). ``"rich"``: each class's galaxies drawn from
        the shared population (`astrocnn.sim.population`; see Notes), the catalogue's
        meta then has ``POPULATN = 'rich'``.

    Returns
    -------
    astropy.table.Table
        Catalogue (also written to ``outdir/catalog.fits``) with columns ``id``,
        ``file`` (relative to ``outdir``), ``label`` (a name from ``CLASSES``),
        ``mag_r`` (whole object, the simulator's r band), ``r_half`` [arcsec],
        ``axis_ratio`` and ``position_angle`` [deg, east of north, north = +y,
        east = -x] of the main galaxy, ``psf_fwhm_r`` [arcsec] (``"decals"``) or
        ``psf_fwhm`` [arcsec, the survey's reference band ``REFBAND``] and
        ``depth_offset`` [mag] (a shared survey), ``ra``, ``dec`` [deg].

    Raises
    ------
    ValueError
        A bad argument, an unknown survey, bands the survey lacks, or a colour
        composite of a survey without g, r and i.

    Notes
    -----
    All objects (decals sample): r = 15-18 (uniform), centred within ~0.25"
    (clipped at 0.75"), random position angle, half-light radius from a
    size-magnitude relation (2.8" at r = 15 to 1" at r = 18, 0.1 dex scatter,
    times a class factor: elliptical 0.9, spiral 1.3, edge-on 1.15, merging disks
    1.1; clipped to 1-4", spirals to 1.5-4" so that the arms are resolved, edge-on
    disks to 1-3.2"; the other samples scale these limits with their sizes).
    ``r_half`` is GalSim's: of the area-preserving (circularised) profile, before
    the PSF; for edge-on disks, of the disk seen face-on.

    - elliptical: Sérsic n in {3, 4, 5}, axis ratio 0.6-1, g-r 0.75-0.9,
      r-i 0.35-0.45.
    - spiral: exponential disk (axis ratio 0.45-1, g-r 0.35-0.55) + red Sérsic
      bulge (5-30% of the light) + 2-3 logarithmic spiral arms (pitch 12-30 deg,
      25-45%) + 8-24 blue star-forming knots on the arms (4-12%).
    - edge_on: ``galsim.InclinedExponential``, inclination 80-90 deg, scale
      height / scale length 0.07-0.14, a bulge in 60% of cases, g-r 0.55-0.75;
      ``axis_ratio`` is sqrt(cos^2 i + (h/r)^2 sin^2 i).
    - merger: two galaxies (each elliptical or disk, with or without arms),
      flux ratio 1:1-1:4, separation 0.5-2 r_half of the main one but at least
      1.6-2.4 PSF FWHM (reference band; so both nuclei are resolved), flux-weighted
      centre at the stamp centre; one or two curved, diffuse tidal tails with a
      few knots carry 6-15% of the light.

    PSF: Moffat (beta = 3.5). ``"decals"``: r-band FWHM 1.0-1.5" per object, other
    bands scaled as lambda^-0.2 with 0.02" scatter; noise: sky + photon noise
    (Gaussian approximation) for DECaLS-like depths (5 sigma point source g, r, i,
    z = 24.7, 23.9, 23.4, 23.0 at 1.2" seeing; sky 22.0, 20.9, 20.2, 18.5
    mag/arcsec^2); the background noise sigma per pixel (``SKYSIG_<BAND>``) is
    ``F / (sqrt(4 pi) sigma_psf 5)`` with ``F`` the flux of a point source at the
    depth and ``sigma_psf = 1.2" / (2.355 pixel_scale)``
    (`astrocnn.sim.common.noise_from_depth`). A shared survey: seeing and depth
    offset per object from `~astrocnn.sim.surveys.Survey.draw_conditions`, noise
    from `~astrocnn.sim.surveys.Survey.noise` (the same matched-filter relation at
    each band's median seeing and the object's depth). Images are sky-subtracted.

    ``population="rich"`` keeps the classes, the sample (magnitudes, sizes and
    their clips, overlap populations), the mergers' construction and tails, the
    colours (those above, per component: the population's own colours are those
    of faint z ~ 0.5-1 galaxies) and the imaging, and draws each galaxy's
    structure from `astrocnn.sim.population` (`~astrocnn.sim.population.draw_galaxy`
    at the sample's ``r_half``, r band, the population's redshift of that
    magnitude, z ~ 0.1-0.25), turned to the object's position angle:

    - elliptical: 70 % population ellipticals (Sérsic n in {2, 3, 4}, axis ratio
      0.4-1), 30 % smooth S0s (``S0_FRACTION``; bulge + inclined disk, B/T 0.8-1,
      no arms or bar), as Galaxy Zoo's early-type votes include S0s; overlap
      population: S0s of B/T 0.6-0.8 in intermediate colours.
    - spiral: a population disk with 2-4 arms, B/T < 0.7 (the population's Beta
      law, truncated), inclination < 70 deg (isotropic), 25-45 % of the light in
      the arms (as above: the population's 10-30 % of the disk light leaves most
      spirals smooth at 1" seeing); bars and star-forming knots (a quarter of
      the spirals each) as the population draws them. Overlap: B/T 0.4-0.7 with a
      red disk and the population's faint arms, or inclination 65-80 deg.
    - edge_on: a population disk at inclination 80-90 deg (overlap: 72-90), B/T
      < 0.5, scaled so that its major axis is as long as a classic edge-on disk of
      the sample's (face-on) size.
    - merger: as above, each member a population elliptical or disk (B/T 0.15-0.7,
      arms and bars as the population draws them).

    ``r_half`` is then the population's: circularised, of the whole galaxy (the
    main member of a merger), before the PSF; ``axis_ratio`` that of the main body
    (the disk when B/T < 0.5, else the bulge).
    """
    classes = (classes,) if isinstance(classes, str) else tuple(classes)
    shared = _shared_survey(survey)
    bands = _default_bands(shared, image_format) if bands is None else bands
    bands = (bands,) if isinstance(bands, str) else tuple(bands)
    if pixel_scale is None:
        pixel_scale = (DECALS if shared is None else shared).pixel_scale
    all_bands = ALL_BANDS if shared is None else shared.band_names
    check_args(
        n,
        seed,
        *stamp_checks(size, pixel_scale, bands, all_bands),
        *_checks(shared, bands, image_format, classes, label_noise),
        (
            population in POPULATIONS,
            f"population must be one of {', '.join(POPULATIONS)}, got {population!r}",
        ),
    )
    sample = SAMPLES["decals"] if shared is None else sample_for(shared)
    if shared is None:
        view = _OwnImaging(DECALS, bands, float(pixel_scale))
    else:
        view = _SurveyImaging(shared, bands, float(pixel_scale), sample)
    outdir = os.fspath(outdir)
    sub = "cutouts" if image_format == "fits" else "images"
    ext = {"fits": "fits", "jpeg": "jpg", "png": "png"}[image_format]
    os.makedirs(os.path.join(outdir, sub), exist_ok=True)
    rng = np.random.default_rng(seed)
    labels = np.resize(np.array(classes), n)[rng.permutation(n)]
    said = _noisy_labels(labels, classes, label_noise, seed)
    objects = object_streams(rng, n, progress, "simulate_morphology")
    ren = FourierRenderer(size, float(pixel_scale))
    stamps = StampWriter(size, pixel_scale, bands, view.zero_point, view.unit, view.sigma)
    stamps.hdu.header.update(view.header())
    rows = []
    for i, orng, ra, dec in objects:
        cube, cards, row = _simulate_one(orng, ren, sample, str(labels[i]), view, population)
        rel = f"{sub}/morph_{i:06d}.{ext}"
        where = dict(CRVAL1=ra, CRVAL2=dec, OBJECT=str(i), LABEL=str(said[i]))
        _write_image(os.path.join(outdir, rel), cube, stamps, view, where | cards)
        rows.append(dict(row, id=i, file=rel, label=str(said[i]), ra=ra, dec=dec))
        if label_noise:
            rows[-1]["true_label"] = str(labels[i])
    run = dict(seed=seed, pixel_scale=pixel_scale, bands=bands, image_format=image_format)
    # (no card for classic: its catalogue stays what it was)
    extra = {} if population == "classic" else {"POPULATN": population}
    return _write_catalogue(rows, view, classes, label_noise, run, outdir, extra)


def _write_image(path, cube, stamps, view, cards):
    """Write one object's FITS cutout (with ``cards``) or colour composite (by suffix)."""
    if path.endswith(".fits"):
        stamps.write(path, cube, cards)
        return
    # one stretch for every survey: the composite is made of nanomaggies
    rgb = to_rgb(cube * view.to_nanomaggy, view.bands)
    kw = {"quality": JPEG_QUALITY} if path.endswith(".jpg") else {}
    write_atomic(path, lambda t: _imsave(t, rgb, **kw))


def _write_catalogue(rows, view, classes, label_noise, run, outdir, extra):
    """The truth catalogue of a run (``run``: seed, pixel_scale, bands, image_format;
    ``extra``: more meta cards)."""
    fits_files = run["image_format"] == "fits"
    columns = [
        "id",
        "file",
        "label",
        *(["true_label"] if label_noise else []),
        "mag_r",
        "r_half",
        "axis_ratio",
        "position_angle",
        *view.columns,
        "ra",
        "dec",
    ]
    units = {"mag_r": u.mag, "r_half": u.arcsec, "position_angle": u.deg}
    units |= view.units | {"ra": u.deg, "dec": u.deg}
    meta = run_meta(
        "astrocnn.tasks.morphology.simulate",
        run["seed"],
        run["pixel_scale"],
        run["bands"] if fits_files else ("i", "r", "g"),  # the composite's R, G, B
        MAGZP=view.zero_point,
        CLASSES=",".join(classes),
        FORMAT=run["image_format"],
        **view.meta(),
        LABNOISE=float(label_noise),
        **extra,
    )
    return catalogue(rows, columns, units, meta, outdir)


def _imsave(path, rgb, **kw):
    # imageio (what skimage.io.imsave calls) directly: skimage deprecates passing `quality`
    import imageio.v3 as iio

    iio.imwrite(path, rgb, **kw)
