"""A shared galaxy population for the simulators: structure, sizes, colours and rendering.

Models trained on smooth simulated galaxies fail on real ones, which are more compact and
more irregular: real HST COSMOS galaxies have a median half-light radius of 0.27" against
0.51" in our earlier simulations, and a deblender trained on those smooth galaxies gives
an isolated real galaxy only ~70 % of its flux (both measured in this project). This
module draws galaxies from a richer mixture:

- ``"elliptical"``: one Sersic spheroid (n = 2, 3 or 4);
- ``"disk"``: a Sersic bulge (n = 1, 2 or 4) with a continuous bulge-to-total ratio, an
  inclined thick exponential disk (``galsim.InclinedExponential``), and sometimes a bar
  (an elongated n = 0.5 Sersic in the disk plane), logarithmic spiral arms and blue
  star-forming knots (points, as `FourierRenderer.splat` draws them);
- ``"irregular"``: a clumpy, lopsided star-forming galaxy: an exponential body with 20-50 %
  of its light in knots;
- ``"compact"``: small (0.1-0.2") single Sersic galaxies, mostly blue.

A `Galaxy` is a list of `Component` objects, each a unit-flux GalSim profile or a set of
points, with its own magnitude per band (a red bulge, a bluer disk, bluer knots), plus its
descriptive truths. `draw_galaxy` draws one; `draw_size` is the size-magnitude relation;
`kimage`, `render` and `render_k` draw it with a `FourierRenderer`::

    gal = draw_galaxy(rng, 23.0, bands=("g", "r", "i"))
    stamp = render(ren, gal, psf_k, zp=31.4)  # (3, size, size), PSF-convolved
    field = render_k(ren, [kimage(ren, g, 31.4, centre=xy) for g, xy in placed], psf_k)

A lens simulator can render a source without PSF (``psf_k=None``) on a fine grid and
interpolate it at ray-traced positions; a photo-z simulator can give each component the
magnitudes of its own SED with `recolour`.

Conventions: ``mag`` is the AB magnitude of the whole galaxy in ``ref_band`` (i unless
told); ``r_half`` [arcsec] is the half-light radius of the whole galaxy in that band, of
its circularised light (as GalSim's ``half_light_radius`` of a sheared profile,
``sqrt(a b)``), about its centre, before the PSF; ``beta`` [rad] is the major axis' angle
from +x, counter-clockwise.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass, field, replace

import galsim
import numpy as np
from scipy.optimize import brentq
from scipy.special import gammainc, gammaincinv, ndtr, ndtri

from astrocnn.sim.surveys import SIMULATED_WAVELENGTH

KINDS = ("elliptical", "disk", "irregular", "compact")
ROLES = ("bulge", "disk", "bar", "arms", "knots")
ELLIPTICAL_N = (2.0, 3.0, 4.0)  # Sersic indices come from fixed sets: GalSim builds a
ELLIPTICAL_N_P = (0.2, 0.4, 0.4)  # lookup table per index (~16 ms), then reuses it
BULGE_N = (1.0, 2.0, 4.0)  # pseudo-bulges n <= 2 and classical ones (Fisher & Drory 2008)
BAR_N = 0.5  # bars have flat, nearly Gaussian profiles: n ~ 0.5-1 (Gadotti 2009)

# --- sizes -----------------------------------------------------------------------------
# log-normal around a median that falls with magnitude. The slope, 0.12 dex per magnitude,
# is that of the lensfit disk-size prior fitted to HST galaxies as a function of i
# (Miller et al. 2013, d ln r / d i = -0.27). The medians at i = 23.5 put the whole
# population's median at ~0.3" at i = 23-24, as measured on HST COSMOS galaxies (0.27",
# above); early types are 0.2 dex smaller than disks at fixed brightness (van der Wel et
# al. 2014: quiescent galaxies are 0.1-0.3 dex smaller than star-forming ones of the same
# stellar mass at z ~ 0.5-1). The 0.2 dex scatter is that of the size-mass relations
# (0.16-0.2 dex, van der Wel et al. 2014; Shen et al. 2003); compact galaxies are a
# narrow population just above the 0.1" floor (blue compact dwarfs, "green peas" and red
# nuggets: r_half ~ 1 kpc at z ~ 0.3-2).
SIZE_PIVOT = 23.5  # reference-band magnitude of R_MEDIAN
SIZE_SLOPE = 0.12  # dex per magnitude
R_MEDIAN = {"elliptical": 0.20, "disk": 0.34, "irregular": 0.30, "compact": 0.13}  # arcsec
R_SCATTER = {"elliptical": 0.2, "disk": 0.2, "irregular": 0.2, "compact": 0.08}  # dex
R_RANGE = (0.1, 3.0)  # arcsec: the distribution is truncated there, not clipped

# --- the mixture -----------------------------------------------------------------------
# Kind weights at redshift z: the photo-z simulator's type mix (E 0.3 / (1 + z), spirals
# 0.55, irregulars 0.15 (1 + z)) plus compact galaxies 0.05 (1 + z): irregular and
# peculiar galaxies rise from ~10 % at z ~ 0 to ~30 % at i ~ 24-25 in HST counts
# (Abraham et al. 1996; Brinchmann et al. 1998). Without a redshift, the median redshift
# at that magnitude is used (`typical_redshift`).
KIND_WEIGHTS = {  # kind: (w, p), weight w (1 + z)**p
    "elliptical": (0.30, -1),
    "disk": (0.55, 0),
    "irregular": (0.15, 1),
    "compact": (0.05, 1),
}
BT_BETA = (0.7, 1.5)  # B/T of disks ~ Beta: mostly disk-dominated, a tail to S0s (mean 0.32)
DISK_H_OVER_R = (0.1, 0.25)  # scale height / length: intrinsic thickness ~0.2-0.25
# (Padilla & Strauss 2008), thicker disks at higher redshift (van der Wel et al. 2014b)
BULGE_SIZE = (0.15, 0.5)  # bulge / disk half-light radius
BULGE_Q = (0.6, 1.0)  # bulges are rounder than their disks
ELLIPTICAL_Q = (0.4, 1.0)  # apparent axis ratios (Padilla & Strauss 2008: E peak ~0.75)
# strong bars: ~30 % of disks at z ~ 0, ~10 % at z ~ 0.84 (Sheth et al. 2008); a bar holds
# ~10 % of the light (Gadotti 2009), is 0.25-0.4 as wide as long, only in disks B/T < 0.7
BAR_P = (0.30, 0.10, 0.84)  # fraction at z = 0, at z >= z_1, z_1
BAR_FRACTION = (0.05, 0.2)
BAR_Q = (0.25, 0.4)
BAR_SIZE = (0.3, 0.6)  # bar / disk half-light radius
# spiral arms: in half of the disks with B/T < 0.6 (an assumption, not a measurement),
# 2-4 logarithmic arms of pitch 10-30 deg (as the morphology simulator's) carrying 10-30 %
# of the disk's light
ARMS_P = 0.5
N_ARMS, N_ARMS_P = (2, 3, 4), (0.6, 0.25, 0.15)
ARM_FRACTION = (0.1, 0.3)
ARM_PITCH = (10.0, 30.0)  # deg
ARM_WIDTH = (0.12, 0.2)  # rms width of an arm / disk half-light radius (as in morphology)
# star-forming clumps: in 20 % of disks at z ~ 0 rising to 60 % at z ~ 1.6 (Guo et al.
# 2015: clumpy fractions 15-60 % of star-forming galaxies at 0.5 < z < 3), 3-10 % of the
# light in disks, 20-50 % in irregulars; clumps are ~1 kpc (~0.1") across (Guo et al. 2015)
KNOTTY_P = (0.2, 0.25, 0.6)  # p = min(a + b z, c)
KNOT_FRACTION = {"disk": (0.03, 0.10), "irregular": (0.2, 0.5)}
N_KNOTS = {"disk": (5, 25), "irregular": (3, 15)}
KNOT_SIGMA = (0.03, 0.08)  # arcsec, rms of a knot

# observed colours (u-g, g-r, r-i, i-z, z-y): (blue end, red end) of each population. One
# uniform t per galaxy places all its components along their ranges (so the bulge is
# redder than its disk), plus N(0, 0.03) per colour. As the deblending simulator's,
# with knots bluer than the star-forming galaxies (flat in f_nu: young stars).
_COLOURS = {
    "red": ((1.3, 0.8, 0.4, 0.2, 0.1), (2.0, 1.6, 1.0, 0.5, 0.3)),
    "disk": ((0.5, 0.3, 0.2, 0.1, 0.0), (1.2, 0.8, 0.5, 0.3, 0.2)),
    "sf": ((0.0, 0.0, 0.0, -0.1, -0.1), (0.6, 0.4, 0.3, 0.15, 0.1)),
    "knot": ((-0.1, -0.1, -0.1, -0.15, -0.1), (0.4, 0.25, 0.2, 0.1, 0.05)),
}
_COLOUR_BANDS = tuple(SIMULATED_WAVELENGTH)  # u, g, r, i, z, y: the colours' bands


@dataclass(eq=False)  # (identity: fields hold arrays and GalSim objects)
class Component:
    """One component of a galaxy, centred on the galaxy's centre.

    Attributes
    ----------
    role : str
        One of `ROLES`: what it is (and which spectrum it would have).
    frac : float
        Fraction of the galaxy's flux in the reference band.
    mags : numpy.ndarray
        AB magnitude in each of the galaxy's ``bands``.
    profile : galsim.GSObject or None
        Unit-flux profile; None for points.
    points : numpy.ndarray or None
        (3, n): x, y [arcsec] and weights (summing to 1) of point-like light, drawn as
        Gaussians of rms ``sigma``; None for a profile.
    sigma : float
        rms [arcsec] of each point.
    """

    role: str
    frac: float
    mags: np.ndarray
    profile: galsim.GSObject | None = None
    points: np.ndarray | None = None
    sigma: float = 0.0


@dataclass(eq=False)
class Galaxy:
    """A drawn galaxy: its components and descriptive truths.

    Attributes
    ----------
    kind : str
        One of `KINDS`.
    mag : float
        AB magnitude of the whole galaxy in ``ref_band``.
    ref_band : str
    bands : tuple of str
        Bands of ``Component.mags``.
    r_half : float
        Half-light radius [arcsec] in ``ref_band`` (circularised, before the PSF).
    bulge_fraction : float
        Bulge-to-total flux ratio B/T in ``ref_band`` (1 for ellipticals).
    bulge_n : float
        Sersic index of the bulge (of the galaxy for ellipticals and compact
        galaxies); NaN without one.
    axis_ratio : float
        Apparent minor / major axis ratio of the main body: the spheroid, or of a disk
        galaxy its disk (B/T < 0.5) or its bulge.
    inclination : float
        Disk inclination [deg] (0 face-on); NaN without a disk.
    beta : float
        Major axis' angle [rad] from +x, counter-clockwise.
    knot_fraction : float
        Fraction of the ``ref_band`` flux in star-forming knots.
    has_bar : bool
    n_arms : int
        Number of spiral arms (0: none).
    redshift : float
        Redshift the mixture was drawn at (given, or `typical_redshift` of ``mag``).
    components : list of Component
    """

    kind: str
    mag: float
    ref_band: str
    bands: tuple
    r_half: float
    bulge_fraction: float
    bulge_n: float
    axis_ratio: float
    inclination: float
    beta: float
    knot_fraction: float
    has_bar: bool
    n_arms: int
    redshift: float
    components: list = field(default_factory=list)

    @property
    def mags(self):
        """AB magnitude of the whole galaxy in each of ``bands`` (numpy.ndarray)."""
        return -2.5 * np.log10(self.flux(0.0))

    def flux(self, zp):
        """Total flux per band in image units of AB zero point ``zp``.

        Parameters
        ----------
        zp : float

        Returns
        -------
        numpy.ndarray
        """
        return sum(10.0 ** (-0.4 * (c.mags - zp)) for c in self.components)


@dataclass
class _Part:
    """A component before scaling: sizes in units where the main body's r_half is 1."""

    role: str
    frac: float
    colour: str
    n: float = 0.0  # Sersic index of a profile (for the enclosed light)
    hlr: float = 0.0  # its circularised half-light radius
    make: Callable | None = None  # make(scale) -> galsim.GSObject
    uvw: np.ndarray | None = None  # (3, n) points: circularised-frame positions, weights
    sigma: float = 0.0  # rms of each point [arcsec]
    width: float = 0.0  # and [unit scale]: they add in quadrature
    q: float = 1.0  # projection of the points: axis ratio and major axis angle [rad]
    beta: float = 0.0


# ---------------------------------------------------------------------------------------
# distributions


def typical_redshift(mag):
    """Median redshift of galaxies of i-band magnitude ``mag``.

    ``p(z | i) ~ z**2 exp(-z / z0)``, ``z0 = max(0.0417 i - 0.744, 0.04)`` (LSST Science
    Book 2009, eq. 3.8, as the photo-z simulator's), whose median is 2.674 z0: 0.63 at
    i = 23.5.

    Parameters
    ----------
    mag : float or array_like

    Returns
    -------
    float or numpy.ndarray
    """
    return 2.674 * np.maximum(0.0417 * np.asarray(mag, float) - 0.744, 0.04)


def kind_probabilities(redshift):
    """Probabilities of `KINDS` at a redshift (see `KIND_WEIGHTS`).

    Parameters
    ----------
    redshift : float

    Returns
    -------
    numpy.ndarray
        In the order of `KINDS`; sums to 1.
    """
    w = np.array([KIND_WEIGHTS[k][0] * (1 + redshift) ** KIND_WEIGHTS[k][1] for k in KINDS])
    return w / w.sum()


def draw_size(rng, mag, kind, r_range=R_RANGE):
    """Half-light radius [arcsec] from the size-magnitude relation of a kind.

    ``log10 r = log10 R_MEDIAN[kind] - 0.12 (mag - 23.5) + N(0, R_SCATTER[kind])``,
    truncated to ``r_range`` (see `R_MEDIAN` for the sources). Disks: 0.34" at i = 23.5,
    0.78" at i = 20.5; ellipticals 0.2 dex smaller; compact galaxies 0.13" (0.08 dex).

    Parameters
    ----------
    rng : numpy.random.Generator
        One uniform per value.
    mag : float or array_like
        Reference-band (i) magnitude.
    kind : str
        One of `KINDS`.
    r_range : tuple of float, optional
        Truncation [arcsec] (0.1-3" by default).

    Returns
    -------
    float or numpy.ndarray
        The shape of ``mag``.
    """
    mu = np.log10(R_MEDIAN[kind]) - SIZE_SLOPE * (np.asarray(mag, float) - SIZE_PIVOT)
    sig = R_SCATTER[kind]
    lo, hi = ndtr((np.log10(r_range[0]) - mu) / sig), ndtr((np.log10(r_range[1]) - mu) / sig)
    # inverse CDF within the bounds: truncated without redraws, one uniform per value
    u = lo + (hi - lo) * rng.uniform(size=np.shape(mu))
    r = 10.0 ** (mu + sig * ndtri(np.clip(u, 1e-12, 1 - 1e-12)))
    return float(r) if np.ndim(r) == 0 else r


def _colour(rng, pop, t):
    """Magnitude offsets ``m_band - m_i`` in u, g, r, i, z, y."""
    lo, hi = (np.array(c) for c in _COLOURS[pop])
    ug, gr, ri, iz, zy = lo + t * (hi - lo) + rng.normal(0.0, 0.03, 5)
    return np.array([ug + gr + ri, gr + ri, ri, 0.0, -iz, -iz - zy])


# ---------------------------------------------------------------------------------------
# structure of each kind, in units of the main body's half-light radius


def _sky(u, v, q, beta):
    """Circularised galaxy-frame positions -> sky offsets: area-preserving stretch by axis
    ratio ``q`` (as GalSim's ``shear(q=)``), major axis at ``beta`` [rad] from +x."""
    u, v = u / np.sqrt(q), v * np.sqrt(q)
    cb, sb = np.cos(beta), np.sin(beta)
    return u * cb - v * sb, u * sb + v * cb


def _sersic_part(role, frac, colour, n, hlr, q, beta):
    def make(s):
        prof = galsim.Exponential if n == 1.0 else functools.partial(galsim.Sersic, n)
        return prof(half_light_radius=hlr * s).shear(q=q, beta=beta * galsim.radians)

    return _Part(role, frac, colour, n=n, hlr=hlr, make=make)


def _elliptical(rng):
    n = float(rng.choice(ELLIPTICAL_N, p=ELLIPTICAL_N_P))
    q, beta = rng.uniform(*ELLIPTICAL_Q), rng.uniform(0, np.pi)
    parts = [_sersic_part("bulge", 1.0, "red", n, 1.0, q, beta)]
    info = dict(bulge_fraction=1.0, bulge_n=n, axis_ratio=q, beta=beta)
    return parts, info


def _compact(rng):
    n = float(rng.choice(BULGE_N))
    q, beta = rng.uniform(*ELLIPTICAL_Q), rng.uniform(0, np.pi)
    red = n == 4.0  # red nuggets; the others are blue compact star-forming galaxies
    role, colour = ("bulge", "red") if red else ("disk", "sf")
    parts = [_sersic_part(role, 1.0, colour, n, 1.0, q, beta)]
    info = dict(bulge_fraction=1.0 if red else 0.0, bulge_n=n, axis_ratio=q, beta=beta)
    return parts, info


def _inclined_disk(rng, frac, beta, inclination):
    """Thick exponential disk of circularised half-light radius 1 (see `_edge_on_factor`)."""
    incl = np.degrees(np.arccos(rng.uniform())) if inclination is None else float(inclination)
    h_r = rng.uniform(*DISK_H_OVER_R)
    ci, si = np.cos(np.radians(incl)), np.sin(np.radians(incl))
    q = float(np.hypot(ci, h_r * si))
    face_on = 1.0 / (np.sqrt(q) * _edge_on_factor(q, h_r * si))

    def make(s):
        disk = galsim.InclinedExponential(
            incl * galsim.degrees, half_light_radius=s * face_on, scale_h_over_r=h_r
        )
        return disk.rotate(beta * galsim.radians)

    return _Part("disk", frac, "disk", n=1.0, hlr=1.0, make=make), incl, q


def _edge_on_factor(q, h_sin_i):
    """Circularised half-light radius of an inclined thick exponential disk (GalSim's
    ``InclinedExponential``) over ``sqrt(q)`` times its face-on one, at apparent axis
    ratio ``q = hypot(cos i, (h / r) sin i)``: 1 for a thin or a face-on disk, 0.8 edge-on,
    where the vertical profile, not the projected disk, sets the minor axis. A fit
    (within 1.5 %, h / r = 0.1-0.25, all inclinations) to the radius of the elliptical
    aperture of axis ratio ``q`` holding half of GalSim's noiseless image."""
    return 1.0 - 0.2 * (h_sin_i / q) ** 2.6


def _bar(rng, frac, q, beta):
    """Elongated n = 0.5 Sersic in the disk plane at a random angle, then projected."""
    hlr, q_bar, phi = rng.uniform(*BAR_SIZE), rng.uniform(*BAR_Q), rng.uniform(0, np.pi)

    def make(s):
        bar = galsim.Sersic(BAR_N, half_light_radius=hlr * s).shear(
            q=q_bar, beta=phi * galsim.radians
        )
        return bar.shear(q=q, beta=0 * galsim.radians).rotate(beta * galsim.radians)

    return _Part("bar", frac, "red", n=BAR_N, hlr=hlr, make=make)


def _arm_points(rng, n_arms):
    """Points (3, n) along ``n_arms`` logarithmic spirals of an exponential disk of
    half-light radius 1 (as the morphology simulator's): light ~ r exp(-r / r_d) with a
    central hole, lognormal brightness jitter."""
    r_d = 1.0 / 1.678
    pitch = np.radians(rng.uniform(*ARM_PITCH))
    theta0, sense = rng.uniform(0, 2 * np.pi), rng.choice([-1.0, 1.0])
    r = np.tile(np.linspace(0.5 * r_d, 4.0 * r_d, 120), n_arms)
    w = r * np.exp(-r / r_d) * (1 - np.exp(-((r / r_d) ** 2))) * rng.lognormal(0, 0.3, r.size)
    arm = np.repeat(np.arange(n_arms), 120)
    theta = theta0 + 2 * np.pi * arm / n_arms + sense * np.log(r / r_d) / np.tan(pitch)
    theta = theta + rng.normal(0, 0.05, r.size)
    return np.array([r * np.cos(theta), r * np.sin(theta), w / w.sum()])


def _knot_points(rng, kind, arms):
    """Knots (3, n): on the arms if any, else around an exponential profile of half-light
    radius 1; an irregular's cluster towards one side (von Mises angles)."""
    n = int(rng.integers(*N_KNOTS[kind]))
    w = rng.lognormal(0.0, 0.7, n)
    if arms is not None:
        pick = rng.choice(arms.shape[1], n, p=arms[2])
        r, theta = np.hypot(*arms[:2, pick]), np.arctan2(arms[1, pick], arms[0, pick])
        theta = theta + rng.normal(0, 0.1, n)
    else:
        r = rng.gamma(2.0, rng.uniform(0.8, 1.3) / 1.678, n)  # ~ r exp(-r / r_d)
        kappa = rng.uniform(0.0, 2.0) if kind == "irregular" else 0.0
        theta = rng.vonmises(rng.uniform(-np.pi, np.pi), kappa, n)
    return np.array([r * np.cos(theta), r * np.sin(theta), w / w.sum()])


def _bulge_fraction(rng, bulge_fraction):
    return rng.beta(*BT_BETA) if bulge_fraction is None else float(bulge_fraction)


def _disk_features(rng, z, bt, has_bar, n_arms):
    """Whether a disk has a bar, how many arms, whether it has knots."""
    p_bar = BAR_P[0] + (BAR_P[1] - BAR_P[0]) * min(z / BAR_P[2], 1.0)
    bar = bt < 0.7 and rng.random() < p_bar if has_bar is None else bool(has_bar)
    if n_arms is None:
        arms = bt < 0.6 and rng.random() < ARMS_P
        n_arms = int(rng.choice(N_ARMS, p=N_ARMS_P)) if arms else 0
    knotty = rng.random() < min(KNOTTY_P[0] + KNOTTY_P[1] * z, KNOTTY_P[2])
    return bar, int(n_arms), knotty


def _disk(rng, z, over):
    """Bulge + inclined disk (+ bar, arms, knots): fractions of the total light."""
    beta = rng.uniform(0, np.pi)
    bt = _bulge_fraction(rng, over.get("bulge_fraction"))
    bar, n_arms, knotty = _disk_features(rng, z, bt, over.get("has_bar"), over.get("n_arms"))
    f_bar = rng.uniform(*BAR_FRACTION) * (1 - bt) if bar else 0.0
    f_arm = rng.uniform(*ARM_FRACTION) * (1 - bt) if n_arms else 0.0
    f_knot = rng.uniform(*KNOT_FRACTION["disk"]) * (1 - bt) if knotty else 0.0
    disk, incl, q = _inclined_disk(
        rng, 1 - bt - f_bar - f_arm - f_knot, beta, over.get("inclination")
    )
    n_b = float(rng.choice(BULGE_N))
    q_b = rng.uniform(*BULGE_Q)
    bulge = _sersic_part("bulge", bt, "red", n_b, rng.uniform(*BULGE_SIZE), q_b, beta)
    parts = [bulge, disk]
    if bar:
        parts.append(_bar(rng, f_bar, q, beta))
    arms = _arm_points(rng, n_arms) if n_arms else None
    if n_arms:
        wid = rng.uniform(*ARM_WIDTH)
        parts.append(_Part("arms", f_arm, "sf", uvw=arms, width=wid, q=q, beta=beta))
    if knotty:
        knots, sig = _knot_points(rng, "disk", arms), rng.uniform(*KNOT_SIGMA)
        parts.append(_Part("knots", f_knot, "knot", uvw=knots, sigma=sig, q=q, beta=beta))
    n_b = n_b if bt > 0 else np.nan
    q_main = q if bt < 0.5 else q_b
    info = dict(bulge_fraction=bt, bulge_n=n_b, axis_ratio=q_main, inclination=incl, beta=beta)
    info.update(knot_fraction=f_knot, has_bar=bar, n_arms=n_arms)
    return [p for p in parts if p.frac > 0], info


def _irregular(rng):
    """Exponential body + clumps carrying 20-50 % of the light."""
    q, beta = rng.uniform(0.25, 1.0), rng.uniform(0, np.pi)
    f_knot = rng.uniform(*KNOT_FRACTION["irregular"])
    knots, sig = _knot_points(rng, "irregular", None), rng.uniform(*KNOT_SIGMA)
    parts = [
        _sersic_part("disk", 1 - f_knot, "sf", 1.0, 1.0, q, beta),
        _Part("knots", f_knot, "knot", uvw=knots, sigma=sig, q=q, beta=beta),
    ]
    info = dict(bulge_fraction=0.0, bulge_n=np.nan, axis_ratio=q, beta=beta)
    info["knot_fraction"] = f_knot
    return parts, info


_SINGLE = {"elliptical": _elliptical, "compact": _compact, "irregular": _irregular}

# ---------------------------------------------------------------------------------------
# assembly


@functools.cache
def _b_n(n):
    return float(gammaincinv(2 * n, 0.5))


def _sigma(part, scale):
    return float(np.hypot(part.sigma, part.width * scale))


def _excess(scale, parts, r_half):
    """Fraction of the light within circularised radius ``r_half`` [arcsec] at ``scale``
    [arcsec per unit], minus 0.5. A point of rms sigma at radius rho counts at its rms
    radius ``sqrt(rho**2 + 2 sigma**2)``."""
    total = 0.0
    for p in parts:
        if p.uvw is None:
            x = _b_n(p.n) * (r_half / (scale * p.hlr)) ** (1 / p.n)
            total += p.frac * gammainc(2 * p.n, x)
        else:
            rho2 = (p.uvw[0] ** 2 + p.uvw[1] ** 2) * scale**2 + 2 * _sigma(p, scale) ** 2
            total += p.frac * p.uvw[2][rho2 < r_half**2].sum()
    return total - 0.5


def _scale(parts, r_half):
    """Arcsec per unit that gives the sum of ``parts`` the half-light radius ``r_half``."""
    if len(parts) == 1 and parts[0].uvw is None:
        return r_half / parts[0].hlr
    # points are at most 0.5 r_half wide (`draw_galaxy`): all enclosed at the lower end
    return brentq(_excess, 1e-4 * r_half, 1e3 * r_half, args=(parts, r_half), xtol=1e-6)


def _component(part, scale, mags):
    if part.uvw is None:
        return Component(part.role, part.frac, mags, profile=part.make(scale))
    x, y = _sky(part.uvw[0] * scale, part.uvw[1] * scale, part.q, part.beta)
    xyw = np.array([x, y, part.uvw[2]])
    return Component(part.role, part.frac, mags, points=xyw, sigma=_sigma(part, scale))


def _check(mag, bands, kind, ref_band):
    if kind is not None and kind not in KINDS:
        raise ValueError(f"kind must be one of {', '.join(KINDS)} or None, got {kind!r}")
    unknown = [b for b in (*bands, ref_band) if b not in _COLOUR_BANDS]
    if unknown:
        raise ValueError(f"bands must be among {', '.join(_COLOUR_BANDS)}, got {unknown!r}")
    if not np.isfinite(mag):
        raise ValueError(f"mag must be finite, got {mag!r}")


def _check_overrides(r_half, bulge_fraction, inclination, n_arms):
    checks = [
        (r_half, lambda v: v > 0, "r_half must be > 0"),
        (bulge_fraction, lambda v: 0 <= v <= 1, "bulge_fraction must be in [0, 1]"),
        (inclination, lambda v: 0 <= v <= 90, "inclination must be in [0, 90] deg"),
        (n_arms, lambda v: v >= 0 and v == int(v), "n_arms must be an integer >= 0"),
    ]
    for value, ok, message in checks:
        if value is not None and not ok(value):
            raise ValueError(f"{message}, got {value!r}")


def draw_galaxy(
    rng,
    mag,
    bands=("g", "r", "i", "z"),
    kind=None,
    redshift=None,
    *,
    ref_band="i",
    r_half=None,
    bulge_fraction=None,
    inclination=None,
    n_arms=None,
    has_bar=None,
):
    """Draw one galaxy from the mixture, centred on the origin.

    Parameters
    ----------
    rng : numpy.random.Generator
        Random stream; the same stream state gives the same galaxy.
    mag : float
        AB magnitude of the whole galaxy in ``ref_band``.
    bands : sequence of str, optional
        Bands of the component magnitudes, among u, g, r, i, z, y (``colour_weights``
        carries them to other surveys' bands).
    kind : str, optional
        One of `KINDS`; drawn with `kind_probabilities` when None.
    redshift : float, optional
        Sets the kind mix, the bar fraction and the fraction of clumpy disks; by
        default `typical_redshift` of ``mag``. Sizes and colours do not depend on it
        (they are those of galaxies of this apparent magnitude at all redshifts; a
        photo-z simulator gives its own colours with `recolour`).
    ref_band : str, optional
        Band of ``mag``, of the flux fractions and of ``r_half``.
    r_half : float, optional
        Half-light radius [arcsec]; drawn with `draw_size` when None.
    bulge_fraction, inclination, n_arms, has_bar : optional
        Disk galaxies only: B/T, disk inclination [deg], number of spiral arms and
        whether there is a bar, instead of drawing them (``n_arms=0``: no arms).

    Returns
    -------
    Galaxy
    """
    bands = (bands,) if isinstance(bands, str) else tuple(bands)
    _check(mag, bands, kind, ref_band)
    _check_overrides(r_half, bulge_fraction, inclination, n_arms)
    z = float(typical_redshift(mag) if redshift is None else redshift)
    if kind is None:
        kind = KINDS[rng.choice(len(KINDS), p=kind_probabilities(z))]
    t = rng.uniform()
    over = dict(
        bulge_fraction=bulge_fraction, inclination=inclination, n_arms=n_arms, has_bar=has_bar
    )
    if kind == "disk":
        parts, info = _disk(rng, z, over)
    else:
        parts, info = _SINGLE[kind](rng)
    r_half = draw_size(rng, mag, kind) if r_half is None else float(r_half)
    for p in parts:  # knots no wider than half the galaxy (compact clumpy ones)
        p.sigma = min(p.sigma, 0.5 * r_half)
    scale = _scale(parts, r_half)
    iref = _COLOUR_BANDS.index(ref_band)
    bidx = [_COLOUR_BANDS.index(b) for b in bands]
    comps = []
    for p in parts:
        off = _colour(rng, p.colour, t)
        mags = mag - 2.5 * np.log10(p.frac) + off[bidx] - off[iref]
        comps.append(_component(p, scale, mags))
    info = {**dict(inclination=np.nan, knot_fraction=0.0, has_bar=False, n_arms=0), **info}
    return Galaxy(kind, float(mag), ref_band, bands, r_half, redshift=z, components=comps, **info)


def recolour(galaxy, offsets):
    """The galaxy with new colours per component role (e.g. from SEDs at its redshift).

    Parameters
    ----------
    galaxy : Galaxy
    offsets : dict
        Role (`ROLES`) -> magnitude offsets ``m_band - m_ref_band`` in ``galaxy.bands``;
        a role absent keeps its colours.

    Returns
    -------
    Galaxy
        A copy (the profiles are shared); the reference-band magnitude, flux fractions
        and sizes do not change.
    """
    comps = []
    for c in galaxy.components:
        if c.role in offsets:
            mags = galaxy.mag - 2.5 * np.log10(c.frac) + np.asarray(offsets[c.role], float)
            c = replace(c, mags=mags)
        comps.append(c)
    return replace(galaxy, components=comps)


# ---------------------------------------------------------------------------------------
# rendering


def _parts_k(ren, galaxy, zp, bidx, centre):
    """(Fourier image, flux per band) of each smooth and each point-like component."""
    bidx = list(range(len(galaxy.bands))) if bidx is None else list(bidx)
    dx, dy = centre
    smooth, points = [], []
    for c in galaxy.components:
        f = 10.0 ** (-0.4 * (c.mags[bidx] - zp))
        if c.profile is not None:
            smooth.append((ren.kimage(c.profile.shift(dx, dy)), f))
        else:
            k = ren.splat(c.points[0] + dx, c.points[1] + dy, c.points[2], c.sigma)
            points.append((k, f))
    return smooth, points


def _summed(parts):
    return sum(f[:, None, None] * k for k, f in parts) if parts else None


def kimage(ren, galaxy, zp, *, bidx=None, centre=(0.0, 0.0)):
    """Fourier images of a galaxy, to add to other galaxies' and draw with `render_k`.

    Parameters
    ----------
    ren : FourierRenderer
    galaxy : Galaxy
    zp : float
        AB zero point of the image unit.
    bidx : list of int, optional
        Indices into ``galaxy.bands`` of the bands to draw (all by default).
    centre : tuple of float, optional
        Position [arcsec] of the galaxy's centre relative to the stamp centre.

    Returns
    -------
    tuple
        (smooth, points): complex (nband, nf, nf // 2 + 1) Fourier images of the smooth
        and of the point-like light (`FourierRenderer.render`'s ``smooth`` and
        ``points``), None where the galaxy has none.
    """
    smooth, points = _parts_k(ren, galaxy, zp, bidx, centre)
    return _summed(smooth), _summed(points)


def render_k(ren, kimages, psf_k=None):
    """Noiseless stamps (nband, size, size) of the sum of `kimage` outputs.

    Parameters
    ----------
    ren : FourierRenderer
    kimages : list of tuple
        `kimage` outputs (e.g. one per galaxy of a field).
    psf_k : numpy.ndarray, optional
        PSF per band from `FourierRenderer.psf`, (nband, nf, nf // 2 + 1); None: no PSF
        (the pixel response only).

    Returns
    -------
    numpy.ndarray
        float64 (nband, size, size).
    """
    smooth = [s for s, _ in kimages if s is not None]
    points = [p for _, p in kimages if p is not None]
    ones = np.ones(len((smooth or points)[0]))
    psf_k = _psf(ren, psf_k, len(ones))
    return ren.render([(k, ones) for k in smooth], [(k, ones) for k in points], psf_k)


def _psf(ren, psf_k, nband):
    return np.ones((nband, *ren.k2.shape)) if psf_k is None else psf_k


def render(ren, galaxy, psf_k=None, *, zp, bidx=None, centre=(0.0, 0.0)):
    """Noiseless stamp (nband, size, size) of one galaxy.

    Parameters
    ----------
    ren : FourierRenderer
    galaxy : Galaxy
    psf_k : numpy.ndarray, optional
        PSF per band (see `render_k`); None: no PSF.
    zp : float
        AB zero point of the image unit: the stamp's total is ``galaxy.flux(zp)`` (less
        the light beyond the stamp).
    bidx : list of int, optional
        Indices into ``galaxy.bands`` of the bands to draw (all by default).
    centre : tuple of float, optional
        Position [arcsec] of the galaxy's centre relative to the stamp centre.

    Returns
    -------
    numpy.ndarray
        float64 (nband, size, size).
    """
    smooth, points = _parts_k(ren, galaxy, zp, bidx, centre)
    nband = len((smooth or points)[0][1])
    return ren.render(smooth, points, _psf(ren, psf_k, nband))
