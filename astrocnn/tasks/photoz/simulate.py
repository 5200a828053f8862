"""Photometric-redshift training data: LSST-like ugrizy cutouts of bulge + disk galaxies.

Multi-band images with known redshifts in the spirit of Pasquet et al. (2019) and
D'Isanto & Polsterer (2018), for the LSST 10-year depth; see `simulate_photoz` for
the models. Spectra are GalSim ``SED`` objects (the Coleman, Wu & Weedman templates
shipped with GalSim, redshifted, attenuated by the intergalactic medium and reddened
by Milky Way dust) integrated through GalSim's LSST ``Bandpass`` throughputs. A
galaxy is a bulge (always the elliptical SED) plus a disk (the galaxy's own SED);
each component has one SED and one achromatic profile, so drawing it per band with
its own band flux is exact and no ``ChromaticObject`` is drawn. Profiles and
per-band Kolmogorov PSFs are combined in Fourier space
(`astrocnn.sim.galaxies.FourierRenderer`). Depths, sky and zero point are those of
`astrocnn.sim.lsst`: images are sky-subtracted fluxes in nJy (``MAGZP`` = 31.4).

With a survey (`astrocnn.sim.surveys.Survey`, ``survey=``) the same galaxies are
imaged as that survey takes them: their spectra integrated through its bands'
bandpasses, at its pixel scale, zero point and unit, with each object's seeing and
depth drawn from its ranges (`astrocnn.sim.lsst.Imaging`). Without a survey the
simulator draws exactly what it always did.

With ``population="rich"`` the galaxies' structure comes from the shared population
(`astrocnn.sim.population`: ellipticals, S0s, disks with bars, arms and knots, clumpy
irregulars, compact galaxies), each component coloured by a template at the object's
redshift; the default, ``"classic"``, keeps the bulge + disk models above.
"""

import functools
import os
from dataclasses import replace

import astropy.units as u
import galsim
import numpy as np
from astropy.cosmology import FlatLambdaCDM

from astrocnn.sim.common import (
    StampWriter,
    add_noise,
    catalogue,
    check_args,
    object_streams,
    run_meta,
)
from astrocnn.sim.galaxies import BULGE_N, FourierRenderer, r_half_total
from astrocnn.sim.lsst import ALL_BANDS, LSST, MAGZP, Imaging  # noqa: F401 (public here too)
from astrocnn.sim.population import Galaxy, draw_galaxy, draw_size, recolour, render

SED_TYPES = ("E", "Sbc", "Scd", "Im")
SEEING_RANGE = (0.75, 1.0)  # per-object factor on REF_FWHM (FWHM 0.57-0.92")
MAG_RANGE = (18.0, 25.0)  # observed i-band magnitude
COUNT_SLOPE = 0.3  # dlog10 N / dm of the i-band number counts
Z_RANGE = (0.01, 3.0)
Z0_MIN = 0.04
EBV_MEAN, EBV_MAX = 0.03, 0.3
R_V = 3.1
COSMOLOGY = FlatLambdaCDM(H0=70, Om0=0.3)
_SED_FILES = {t: f"CWW_{t}_ext.sed" for t in SED_TYPES}
_LSST_BANDPASSES = tuple(b.bandpass for b in LSST.bands)
POPULATIONS = ("classic", "rich")  # galaxy structure: the default model's or the shared one
_LYMAN_SERIES = ((121.567, 3.6e-3), (102.572, 1.7e-3), (97.254, 1.2e-3), (94.974, 9.3e-4))


# ---------------------------------------------------------------------------------------
# distributions


def sample_magnitude(rng, n):
    """Observed i-band AB magnitudes from number counts ``N(<m) ~ 10**(COUNT_SLOPE m)``
    within ``MAG_RANGE`` (18-25): 50% fainter than 24, 2.4% brighter than 20."""
    lo, hi = MAG_RANGE
    floor = 10.0 ** (-COUNT_SLOPE * (hi - lo))
    return hi + np.log10(floor + (1.0 - floor) * rng.uniform(size=n)) / COUNT_SLOPE


def redshift_scale(mag_i):
    """``z0(i) = max(0.0417 i - 0.744, 0.04)`` (LSST Science Book 2009, eq. 3.8)."""
    return np.maximum(0.0417 * np.asarray(mag_i, float) - 0.744, Z0_MIN)


def sample_redshift(rng, mag_i):
    """Redshifts for i-band magnitudes ``mag_i``: ``p(z | i) ~ z**2 exp(-z / z0(i))``
    (a Gamma(3, z0) law, mean 3 z0; `redshift_scale`), truncated to ``Z_RANGE`` by
    redrawing. For the counts of `sample_magnitude` the mean redshift is 0.72, the
    median 0.63."""
    z0 = redshift_scale(np.atleast_1d(mag_i))
    z = rng.gamma(3.0, z0)
    bad = (z <= Z_RANGE[0]) | (z >= Z_RANGE[1])
    while bad.any():
        z[bad] = rng.gamma(3.0, z0[bad])
        bad = (z <= Z_RANGE[0]) | (z >= Z_RANGE[1])
    return z


def type_probabilities(z):
    """P(E, Sbc, Scd, Im | z): weights 0.3 / (1 + z), 0.3, 0.25, 0.15 (1 + z)."""
    w = np.array([0.30 / (1 + z), 0.30, 0.25, 0.15 * (1 + z)])
    return w / w.sum()


# ---------------------------------------------------------------------------------------
# spectra, extinction and distances


def ccm89(wavelength, r_v=R_V):
    """Cardelli, Clayton & Mathis (1989) extinction curve ``A_lambda / A_V``.

    ``wavelength`` in nm (valid 125 nm - 3.3 micron; clipped there).
    ``A_lambda = E(B-V) * r_v * ccm89(wavelength)``.
    """
    x = np.clip(1000.0 / np.asarray(wavelength, float), 0.3, 8.0)  # 1 / micron
    a, b = np.empty_like(x), np.empty_like(x)
    ir, opt, uv = x < 1.1, (x >= 1.1) & (x < 3.3), x >= 3.3
    a[ir], b[ir] = 0.574 * x[ir] ** 1.61, -0.527 * x[ir] ** 1.61
    y = x[opt] - 1.82
    a[opt] = np.polyval([0.32999, -0.77530, 0.01979, 0.72085, -0.02427, -0.50447, 0.17699, 1.0], y)
    b[opt] = np.polyval([-2.09002, 5.30260, -0.62251, -5.38434, 1.07233, 2.28305, 1.41338, 0.0], y)
    xu = x[uv]
    t = np.clip(xu - 5.9, 0.0, None)
    a[uv] = (
        1.752 - 0.316 * xu - 0.104 / ((xu - 4.67) ** 2 + 0.341) - 0.04473 * t**2 - 0.009779 * t**3
    )
    b[uv] = -3.090 + 1.825 * xu + 1.206 / ((xu - 4.62) ** 2 + 0.263) + 0.2130 * t**2 + 0.1207 * t**3
    return a + b / r_v


@functools.cache
def _seds():
    return {t: galsim.SED(f, wave_type="Ang", flux_type="flambda") for t, f in _SED_FILES.items()}


@functools.cache
def _bandpass(spec):
    """AB-normalised GalSim bandpass: a GalSim file name (in nm) or a top-hat
    ``(blue, red)`` [nm]."""
    if isinstance(spec, str):
        return galsim.Bandpass(spec, wave_type="nm").thin().withZeropoint("AB")
    table = galsim.LookupTable(list(spec), [1.0, 1.0], interpolant="linear")
    return galsim.Bandpass(table, wave_type="nm").withZeropoint("AB")


def _bandpasses(specs=_LSST_BANDPASSES):
    return tuple(_bandpass(spec) for spec in specs)


@functools.cache
def _ext_wave(specs):
    """Wavelengths [nm] of the extinction and IGM curves for bandpasses ``specs``: 2 nm
    below 500 nm, where the IGM (z < 3) has edges, 10 nm beyond; at least 290-1110 nm
    (all LSST bands)."""
    bandpasses = _bandpasses(specs)
    blue = min(290.0, 2.0 * np.floor(min(b.blue_limit for b in bandpasses) / 2.0))
    red = max(1120.0, 10.0 * np.ceil(max(b.red_limit for b in bandpasses) / 10.0) + 10.0)
    return np.concatenate([np.arange(blue, 500.0, 2.0), np.arange(500.0, red, 10.0)])


@functools.cache
def _rest_mag(sed_type, spec=_LSST_BANDPASSES[3]):
    """Un-normalised magnitude of a template at z = 0 in a band (for K-corrections;
    default the LSST i band)."""
    return _seds()[sed_type].calculateMagnitude(_bandpass(spec))


def igm_transmission(wavelength, z):
    """Mean intergalactic H I transmission (Madau 1995) at observed ``wavelength`` [nm]
    for a source at redshift ``z``: Lyman-series line blanketing (Ly alpha-delta) and
    Lyman-continuum absorption, exp(-tau_eff)."""
    lam = np.asarray(wavelength, float)
    tau = np.zeros_like(lam)
    for line, coeff in _LYMAN_SERIES:
        on = (lam < line * (1 + z)) & (lam > line)
        tau[on] += coeff * (lam[on] / line) ** 3.46
    xc, xe = lam / 91.2, 1.0 + z
    lc = (xc < xe) & (xc > 1.0)
    xc = xc[lc]
    tau[lc] += (
        0.25 * xc**3 * (xe**0.46 - xc**0.46)
        + 9.4 * xc**1.5 * (xe**0.18 - xc**0.18)
        - 0.7 * xc**3 * (xc**-1.32 - xe**-1.32)
        - 0.023 * (xe**1.68 - xc**1.68)
    )
    return np.exp(-tau)


def _raw_magnitudes(sed_type, z, ebv, specs=_LSST_BANDPASSES):
    """Un-normalised AB magnitudes through bandpasses ``specs`` (default those of
    ``ALL_BANDS``) of a redshifted template, through the IGM (Madau 1995) and Milky
    Way dust (CCM89, observed frame)."""
    sed = _seds()[sed_type].atRedshift(z)
    wave = _ext_wave(specs)
    trans = np.ones_like(wave)
    if ebv > 0:
        trans *= 10.0 ** (-0.4 * ebv * R_V * ccm89(wave))
    if z > 1.5:  # Ly alpha leaves the u band below
        trans *= igm_transmission(wave, z)
    if ebv > 0 or z > 1.5:
        sed = sed * galsim.LookupTable(wave, trans, interpolant="linear")
    return np.array([sed.calculateMagnitude(bp) for bp in _bandpasses(specs)])


def band_magnitudes(sed_type, z, ebv=0.0, mag_i=0.0):
    """AB magnitudes in ``ALL_BANDS`` of a CWW template at redshift ``z``, reddened by
    Milky Way dust ``E(B-V) = ebv`` (CCM89, R_V = 3.1, in the observed frame), and
    normalised to the observed i-band magnitude ``mag_i`` (as ``SED.withMagnitude``)."""
    raw = _raw_magnitudes(sed_type, z, ebv)
    return raw - raw[3] + mag_i


@functools.cache
def _distance_tables():
    z = np.linspace(0.0, Z_RANGE[1] + 0.1, 1001)[1:]
    arcsec_per_kpc = COSMOLOGY.arcsec_per_kpc_proper(z).to_value(u.arcsec / u.kpc)
    return z, arcsec_per_kpc, COSMOLOGY.distmod(z).to_value(u.mag)


def angular_size(r_kpc, z):
    """Angle [arcsec] subtended by a proper length ``r_kpc`` at redshift ``z`` (flat
    LambdaCDM, H0 = 70, Om0 = 0.3; interpolated, 0.003 < z <= 3.1)."""
    zt, apk, _ = _distance_tables()
    return np.asarray(r_kpc) * np.interp(z, zt, apk)


def _distance_modulus(z):
    zt, _, dm = _distance_tables()
    return np.interp(z, zt, dm)


# ---------------------------------------------------------------------------------------
# galaxies


def _log_size(m_abs, z, r0, m0, bright, faint, evol):
    """log10 half-light radius [kpc]: broken power law in luminosity around ``m0``."""
    dm = m_abs - m0
    return np.log10(r0) - np.where(dm < 0, bright, faint) * dm - evol * np.log10(1 + z)


def _draw_type(rng):
    """An object's i magnitude, redshift, SED type and Galactic E(B-V)."""
    mag_i = float(sample_magnitude(rng, 1)[0])
    z = float(sample_redshift(rng, mag_i)[0])
    sed_type = SED_TYPES[rng.choice(4, p=type_probabilities(z))]
    ebv = float(min(rng.exponential(EBV_MEAN), EBV_MAX))
    return mag_i, z, sed_type, ebv


def _galaxy(rng, max_r_half, imaging):
    """Draw one galaxy: returns a dict of truths and per-component (profile, fluxes in
    ``imaging.all_bands``). "i" is ``imaging``'s key band (the survey's band nearest i)."""
    specs, key, zp = imaging.bandpasses, imaging.key, imaging.zero_point
    mag_i, z, sed_type, ebv = _draw_type(rng)
    frac_b = {"E": (0.6, 1.0), "Sbc": (0.1, 0.5), "Scd": (0.0, 0.2), "Im": (0.0, 0.0)}[sed_type]
    frac_b = float(rng.uniform(*frac_b))
    comps = [("E", frac_b), (sed_type, 1.0 - frac_b)]  # bulge, disk; fractions of i flux
    flux = np.zeros((2, len(specs)))
    lum, raws = 0.0, {}
    for c, (sed, f) in enumerate(comps):
        if f <= 0:
            continue
        if sed not in raws:  # (an E galaxy's bulge and disk share one SED)
            raws[sed] = _raw_magnitudes(sed, z, ebv, specs)
        raw = raws[sed]
        mags = raw - raw[key] + mag_i - 2.5 * np.log10(f)
        flux[c] = 10.0 ** (-0.4 * (mags - zp))
        # rest-frame i-band absolute magnitude without Milky Way extinction: raw[key] is
        # the reddened template's i magnitude at z, _rest_mag at z = 0 (same
        # luminosity). GalSim's atRedshift keeps the photon density per unit
        # wavelength, so its (1 + z) dilution is the bandwidth term of the
        # K-correction (Hogg et al. 2002, eq. 8): m - M = DM + K + A_i
        m_abs = mags[key] - _distance_modulus(z) - (raw[key] - _rest_mag(sed, specs[key]))
        lum += 10.0 ** (-0.4 * m_abs)
    m_abs = -2.5 * np.log10(lum)
    # sizes: Shen et al. (2003)-like size-luminosity relations, with evolution
    # (1 + z)**-0.75 for disks and **-1.2 for early types (van der Wel et al. 2014)
    n_b = float(rng.choice(BULGE_N))
    if sed_type == "E":
        log_r = _log_size(m_abs, z, 2.0, -20.5, 0.26, 0.10, 1.2) + rng.normal(0, 0.15)
        r_b = 10.0**log_r
        r_d = r_b * rng.uniform(1.5, 2.5)  # faint exponential envelope (S0-like)
        q_d = q_b = rng.uniform(0.5, 1.0)
    else:
        log_r = _log_size(m_abs, z, 3.5, -20.5, 0.21, 0.085, 0.75) + rng.normal(0, 0.2)
        r_d = 10.0**log_r
        r_b = r_d * rng.uniform(0.15, 0.4)
        cos_i = rng.uniform()
        q_d = np.sqrt(cos_i**2 + 0.25**2 * (1 - cos_i**2))  # intrinsic thickness 0.25
        q_b = rng.uniform(0.6, 1.0)
    r_kpc = np.clip([r_b, r_d], 0.1, 40.0)
    r_b, r_d = angular_size(r_kpc, z)
    r_half = r_half_total(frac_b, n_b, r_b, r_d)
    if r_half > max_r_half:  # rare (z < 0.1): keep the galaxy inside the stamp
        r_b, r_d, r_half = (r * max_r_half / r_half for r in (r_b, r_d, r_half))
    beta = rng.uniform(0, np.pi) * galsim.radians
    x0, y0 = rng.uniform(-0.5, 0.5, 2)  # pixels: sub-pixel centring of the cutout
    profiles = [
        galsim.Sersic(n=n_b, half_light_radius=r_b).shear(q=q_b, beta=beta),
        galsim.Exponential(half_light_radius=r_d).shear(q=q_d, beta=beta),
    ]
    truth = dict(
        z=z, sed_type=sed_type, bulge_fraction=frac_b, ebv=ebv, r_half=float(r_half), x0=x0, y0=y0
    )
    total = flux.sum(axis=0)
    bands = imaging.all_bands
    truth.update({f"mag_{b}": float(zp - 2.5 * np.log10(f)) for b, f in zip(bands, total)})
    return truth, [(p, f) for p, f in zip(profiles, flux) if f.any()]


# ---------------------------------------------------------------------------------------
# the rich population (``population="rich"``)

S0_FRACTION = 0.5  # of E-type galaxies: bulge + disk of B/T 0.6-1 (the classic E's range)
COMPACT_FRACTION = 0.25  # of Im-type galaxies (the population's compact : irregular weights)
RICH_BULGE = {"E": (0.6, 1.0), "Sbc": (0.1, 0.5), "Scd": (0.0, 0.2)}  # B/T, as classic
# the SED of each component role, but for E and Im galaxies (one SED each): bulges and bars
# are old stars (E), knots young ones (Im), disks and arms have the galaxy's own SED
_ROLE_SED = {"bulge": "E", "bar": "E", "knots": "Im"}


def _rich_kind(rng, sed_type):
    """The population kind of a galaxy of an SED type, and its drawn structure."""
    if sed_type == "Im":
        return ("compact" if rng.random() < COMPACT_FRACTION else "irregular"), {}
    if sed_type == "E" and rng.random() >= S0_FRACTION:
        return "elliptical", {}
    structure = {"bulge_fraction": float(rng.uniform(*RICH_BULGE[sed_type]))}
    if sed_type == "E":
        structure["n_arms"] = 0  # S0s
    return "disk", structure


def _role_sed(role, sed_type):
    return sed_type if sed_type in ("E", "Im") else _ROLE_SED.get(role, sed_type)


def _absolute_magnitude(mag_i, z, parts, raws, spec, key):
    """Rest-frame i-band absolute magnitude of components (SED, fraction of the i flux),
    each K-corrected with its template (as in `_galaxy`)."""
    lum = 0.0
    for sed, f in parts:
        if f > 0:
            k_corr = raws(sed)[key] - _rest_mag(sed, spec)
            lum += 10.0 ** (-0.4 * (mag_i - 2.5 * np.log10(f) - _distance_modulus(z) - k_corr))
    return -2.5 * np.log10(lum)


def _rich_size(rng, kind, sed_type, m_abs, z, mag_i):
    """Half-light radius [arcsec] of the whole galaxy: `_galaxy`'s K-corrected
    size-luminosity relations (early types for E, disks otherwise), which carry the
    size-redshift relation; compact galaxies the population's (`draw_size`)."""
    if kind == "compact":
        return draw_size(rng, mag_i, "compact")
    if sed_type == "E":
        log_r = _log_size(m_abs, z, 2.0, -20.5, 0.26, 0.10, 1.2) + rng.normal(0, 0.15)
    else:
        log_r = _log_size(m_abs, z, 3.5, -20.5, 0.21, 0.085, 0.75) + rng.normal(0, 0.2)
    return float(angular_size(np.clip(10.0**log_r, 0.1, 40.0), z))


def _rich_galaxy(rng, max_r_half, imaging):
    """`_galaxy` from the population: a dict of truths and a `Galaxy` whose components
    have the magnitudes of their SEDs in ``imaging.all_bands``."""
    specs, key, zp = imaging.bandpasses, imaging.key, imaging.zero_point
    mag_i, z, sed_type, ebv = _draw_type(rng)
    kind, structure = _rich_kind(rng, sed_type)
    # each template integrated once, and only those a component uses
    raws = functools.cache(lambda sed: _raw_magnitudes(sed, z, ebv, specs))
    frac_b = structure.get("bulge_fraction", float(kind == "elliptical"))
    parts = [(_role_sed("bulge", sed_type), frac_b), (sed_type, 1.0 - frac_b)]
    m_abs = _absolute_magnitude(mag_i, z, parts, raws, specs[key], key)
    r_half = min(_rich_size(rng, kind, sed_type, m_abs, z, mag_i), max_r_half)
    gal = draw_galaxy(rng, mag_i, "i", kind, z, r_half=r_half, **structure)
    # colours of the templates at z, per component: the bands become the imaging's
    sed = {c.role: _role_sed(c.role, sed_type) for c in gal.components}
    offsets = {role: raws(s) - raws(s)[key] for role, s in sed.items()}
    gal = recolour(replace(gal, bands=imaging.all_bands), offsets)
    x0, y0 = rng.uniform(-0.5, 0.5, 2)  # pixels: sub-pixel centring of the cutout
    truth = dict(z=z, sed_type=sed_type, kind=kind, bulge_fraction=float(gal.bulge_fraction))
    truth.update(ebv=ebv, r_half=float(gal.r_half), x0=x0, y0=y0)
    mags = zp - 2.5 * np.log10(gal.flux(zp))
    truth.update({f"mag_{b}": float(m) for b, m in zip(imaging.all_bands, mags)})
    return truth, gal


def _noiseless(ren, source, psf_k, shift, imaging):
    """PSF-convolved model of the imaged bands and its total flux per band, of a
    `Galaxy` or of `_galaxy`'s (profile, fluxes) components."""
    bidx = imaging.bidx
    if isinstance(source, Galaxy):
        model = render(ren, source, psf_k, zp=imaging.zero_point, bidx=bidx, centre=shift)
        return model, source.flux(imaging.zero_point)[bidx]
    smooth = [(ren.kimage(p.shift(*shift)), f[bidx]) for p, f in source]
    return ren.render(smooth, [], psf_k), sum(f[bidx] for _, f in source)


def _photometry(model, data, var, total):
    """Fit the amplitude of the noiseless profile: flux and its error [image units]."""
    prof = model / total[:, None, None]
    info = (prof**2 / var).sum(axis=(1, 2))
    return (prof * data / var).sum(axis=(1, 2)) / info, 1.0 / np.sqrt(info)


def _simulate_one(rng, ren, imaging, max_r_half, population="classic"):
    """One object: returns (float32 cube, header cards of its conditions, catalogue row)."""
    draw = _rich_galaxy if population == "rich" else _galaxy
    truth, source = draw(rng, max_r_half, imaging)
    fwhm, psf_k, depth_offset = imaging.conditions(rng, ren)
    shift = ren.ps * np.array([truth.pop("x0"), truth.pop("y0")])
    model, total = _noiseless(ren, source, psf_k, shift, imaging)
    img, var = add_noise(rng, model, *imaging.noise(depth_offset))
    flux, err = _photometry(model, img, var, total)
    # below S/N = 1: the 1-sigma limit, error 1.086 mag
    flux = np.maximum(flux, err)
    for b, f, e in zip(imaging.bands, flux, err):
        truth[f"obs_mag_{b}"] = float(imaging.zero_point - 2.5 * np.log10(f))
        truth[f"obs_magerr_{b}"] = float(2.5 / np.log(10) * e / f)
    truth.update(imaging.columns(fwhm, depth_offset))
    return img.astype(np.float32), imaging.cards(fwhm, depth_offset), truth


def simulate_photoz(
    n,
    seed,
    outdir,
    *,
    size=32,
    pixel_scale=None,
    bands=None,
    progress=False,
    survey=None,
    population="classic",
):
    """Simulate multi-band galaxy cutouts with true redshifts and write them to disk.

    Parameters
    ----------
    n : int
        Number of objects (>= 1).
    seed : int
        Seed for ``numpy.random.default_rng``; same ``(n, seed)`` (and keywords)
        gives bit-identical files and catalogue. Object ``i`` has its own stream, so
        the first objects of a larger run are those of a smaller one.
    outdir : str or os.PathLike
        Output directory; created if needed.
    size : int, optional
        Stamp side in pixels (>= 16).
    pixel_scale : float, optional
        Arcsec per pixel (default: the survey's; LSST's 0.2 without one).
    bands : sequence of str, optional
        Subset of ``ALL_BANDS`` (``"u", "g", "r", "i", "z", "y"``), or of the
        survey's bands, in cube order (default: all of them).
    progress : bool, optional
        Show a tqdm progress bar on stderr.
    survey : astrocnn.sim.surveys.Survey, optional
        Image the galaxies as this survey takes them (see Notes); None: LSST as
        below, the set-up of the default model.
    population : {"classic", "rich"}, optional
        Galaxy structure: ``"classic"`` (default), the bulge + disk models below, on
        which the default model was trained (same seed, same files); ``"rich"``: the
        shared population (`astrocnn.sim.population`; see Notes), with a catalogue
        column ``kind`` after ``sed_type`` and meta ``POPULATN = 'rich'``.

    Returns
    -------
    astropy.table.Table
        Catalogue (also written to ``outdir/catalog.fits``) with columns ``id``,
        ``file`` (``cutouts/photoz_{id:06d}.fits``, relative to ``outdir``), ``z``,
        ``sed_type`` (disk SED: "E", "Sbc", "Scd" or "Im"), ``bulge_fraction`` (of
        the observed i-band flux), ``mag_u`` ... ``mag_y`` (true total AB
        magnitudes, with IGM and Galactic extinction), ``obs_mag_<band>`` and
        ``obs_magerr_<band>`` for the imaged bands, ``r_half`` [arcsec], ``ebv``
        [mag], ``ra``, ``dec`` [deg]. Each cutout is a float32 cube
        (nband, size, size) in nJy with a 2-D TAN WCS and cards ``BANDS``
        (``FILTER`` for one band), ``PIXSCALE``, ``MAGZP``, ``BUNIT``, ``OBJECT``,
        ``EBV``, ``PSF_<BAND>`` (FWHM [arcsec]) and ``SKYSIG_<BAND>`` (background
        noise sigma [nJy], `astrocnn.sim.lsst.sky_sigma`). With a survey:
        ``mag_<band>`` for all the survey's bands, images in its unit (``BUNIT``) at
        its zero point, the cards ``SURVEY``, ``DEPTHOFF`` and ``SKYSIG_<BAND>`` at
        the object's depth, catalogue columns ``psf_fwhm`` (FWHM in the survey's
        reference band [arcsec]) and ``depth_offset`` [mag] before ``ra``, and meta
        ``SURVEY``, ``REFBAND`` (the reference band) and ``MAGBAND`` (the band "i"
        stands for, below).

    Notes
    -----
    - Magnitudes: observed i = 18-25 from number counts with slope
      dlog N/dm = 0.3 (`sample_magnitude`).
    - Redshifts: ``p(z | i) ~ z^2 exp(-z / z0)``, ``z0 = 0.0417 i - 0.744``
      (LSST Science Book eq. 3.8; at least 0.04), within 0.01 < z < 3
      (`sample_redshift`); mean 0.72 (median 0.63), 0.12 at i = 18, 0.52 at
      i = 22, 0.90 at i = 25.
    - Types: the disk SED is E, Sbc, Scd or Im with probabilities
      ``type_probabilities(z)`` (ellipticals 30% at z = 0, 9% at z = 2). The bulge
      has the E SED and carries 60-100% (E), 10-50% (Sbc), 0-20% (Scd) or 0% (Im)
      of the i-band flux. SEDs: GalSim's CWW templates (``CWW_*_ext.sed``).
    - Reddening: ``E(B-V)`` exponential with mean 0.03, capped at 0.3, applied in
      the observed frame with the CCM89 law (R_V = 3.1; `ccm89`). Mean
      intergalactic H I absorption (Madau 1995; `igm_transmission`) matters above
      z = 1.5 (u band).
    - Profiles: bulge Sersic n in {3, 4}, disk exponential, same position angle.
      Half-light radii from size-luminosity relations in the rest-frame i-band
      absolute magnitude (K-corrected from the template), with 0.15-0.2 dex scatter
      and (1 + z)^-0.75 (disks) or (1 + z)^-1.2 (early types) evolution, converted
      to arcsec for flat LambdaCDM (H0 = 70, Om0 = 0.3; `angular_size`). Galaxies
      whose total half-light radius exceeds 0.3 * size * pixel_scale (1.9" for the
      defaults; a few at z < 0.1) are shrunk to it. ``r_half`` is the i-band
      half-light radius of bulge + disk (circularised, before the PSF).
    - Observing: Kolmogorov PSF with FWHM = (0.92, 0.87, 0.83, 0.80, 0.78, 0.76)"
      (u-y) times a per-object factor 0.75-1.0 and 2% per-band scatter; sky
      (22.99, 22.26, 21.20, 20.48, 19.60, 18.61 mag/arcsec^2) and photon noise
      (Gaussian approximation) for the LSST 10-year 5-sigma point-source depths
      26.1, 27.4, 27.5, 26.8, 26.1, 24.9 at those FWHM; images are sky-subtracted.
    - ``obs_mag_<band>``: flux from a fit of the true (noiseless, PSF-convolved)
      profile's amplitude to the noisy image, weighted by the inverse pixel
      variance; ``obs_magerr_<band>`` is its error. Below S/N = 1 the 1-sigma limit
      is reported (error 1.086 mag).
    - With a survey, "i" above is the survey's band nearest LSST i in wavelength
      (`astrocnn.sim.lsst.nearest_band`: i for HSC, DES, KiDS, SDSS; VIS for
      Euclid): the magnitude range, the redshift-magnitude relation, the bulge
      fraction and the K-corrected absolute magnitude of the sizes refer to it. The
      templates are integrated through the survey's bandpasses (GalSim files, or
      top-hats for ``(blue, red)``; AB). The PSF FWHM and a depth offset are drawn
      per object (`astrocnn.sim.surveys.Survey.draw_conditions`) and the noise is
      `~astrocnn.sim.surveys.Survey.noise` at that depth. The magnitude range stays
      18-25 whatever the survey's depth, and stamps keep ``size`` pixels, so a finer
      pixel scale covers less sky (and shrinks more galaxies to fit).
    - ``population="rich"``: magnitudes, redshifts, SED types and reddening as
      above; each galaxy's structure from `~astrocnn.sim.population.draw_galaxy`
      at its redshift. E types: a population elliptical (Sersic n in {2, 3, 4})
      or, half of them, an S0 (bulge + inclined disk, B/T 0.6-1, no arms); Sbc
      and Scd: a population disk with B/T 0.1-0.5 and 0-0.2 (as above), bars,
      arms and star-forming knots as the population draws them at z; Im: an
      irregular (20-50 % of the light in knots) or, a quarter of them, a compact
      galaxy. Colours: each component has the magnitudes of a template at the
      object's z (`astrocnn.sim.population.recolour`): bulges and bars the E
      template, knots the Im one, disks and arms the galaxy's (E and Im galaxies:
      theirs throughout), so the total is the sum of those spectra and
      ``mag_<band>`` is exactly the rendered light. Sizes: the K-corrected
      size-luminosity relations above, as the half-light radius of the whole
      galaxy (the absolute magnitude of its bulge and disk templates), because
      they carry the size-redshift relation that the population's
      apparent-magnitude relation (`~astrocnn.sim.population.draw_size`) lacks;
      their median, 0.30" at i = 18-25 (0.35" at i = 23-24), is already as
      compact as the population's (E types ~0.1 dex smaller than its
      ellipticals: the relation's bulges, without the envelope above); compact
      galaxies take the population's (0.1-0.2"). ``bulge_fraction`` is then the
      structural B/T in the key band (1 for ellipticals, 0 for irregulars);
      ``kind`` the population kind.
    """
    imaging = Imaging(bands, pixel_scale, SEEING_RANGE, survey)
    check_args(
        n,
        seed,
        *imaging.checks(size),
        (
            population in POPULATIONS,
            f"population must be one of {', '.join(POPULATIONS)}, got {population!r}",
        ),
    )
    bands, pixel_scale = imaging.bands, imaging.pixel_scale
    outdir = os.fspath(outdir)
    os.makedirs(os.path.join(outdir, "cutouts"), exist_ok=True)
    rng = np.random.default_rng(seed)
    ren = FourierRenderer(size, float(pixel_scale))
    max_r_half = 0.3 * size * pixel_scale
    stamps = StampWriter(
        size, pixel_scale, bands, imaging.zero_point, imaging.unit, imaging.sigma()
    )
    rows = []
    for i, orng, ra, dec in object_streams(rng, n, progress, "simulate_photoz"):
        cube, conditions, row = _simulate_one(orng, ren, imaging, max_r_half, population)
        rel = f"cutouts/photoz_{i:06d}.fits"
        cards = dict(CRVAL1=ra, CRVAL2=dec, OBJECT=str(i))
        cards["EBV"] = (round(row["ebv"], 5), "Galactic E(B-V) [mag]")
        stamps.write(os.path.join(outdir, rel), cube, cards | conditions)
        rows.append(dict(row, id=i, file=rel, ra=ra, dec=dec))
    return _catalogue(rows, imaging, seed, outdir, population)


def _catalogue(rows, imaging, seed, outdir, population="classic"):
    """The truth catalogue of a run (written to ``outdir/catalog.fits``)."""
    bands = imaging.bands
    rich = population == "rich"  # (classic: the columns and cards it always had)
    mags = [f"mag_{b}" for b in imaging.all_bands]
    obs = [f"obs_mag_{b}" for b in bands] + [f"obs_magerr_{b}" for b in bands]
    columns = ["id", "file", "z", "sed_type", *(["kind"] if rich else []), "bulge_fraction"]
    columns += [*mags, *obs]
    columns += ["r_half", "ebv", *imaging.column_units(), "ra", "dec"]
    units = {c: u.mag for c in [*mags, *obs, "ebv"]}
    units.update(r_half=u.arcsec, ra=u.deg, dec=u.deg, **imaging.column_units())
    meta = run_meta(
        "astrocnn.tasks.photoz.simulate",
        seed,
        imaging.pixel_scale,
        bands,
        ZMIN=Z_RANGE[0],
        ZMAX=Z_RANGE[1],
        MAGLIM=MAG_RANGE[1],
        MAGZP=imaging.zero_point,
        **imaging.meta(),
        **({"POPULATN": population} if rich else {}),
    )
    return catalogue(rows, columns, units, meta, outdir)
