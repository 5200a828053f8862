"""Blended-galaxy scenes for deblending: observed blends and their noiseless truths.

Training data for the U-Net deblender in the spirit of Boucaud et al. (2020): LSST-like
multi-band stamps of 2-4 galaxies with one **central** galaxy at the stamp centre and
neighbours from well separated to heavily overlapping. For every stamp the noiseless,
PSF-convolved image of the central galaxy, that of the other galaxies, every galaxy on
its own and a segmentation map are written as the truth; see `simulate_deblend` for the
models. `simulate_field` draws one larger field with the same galaxy and noise models
for end-to-end tests of detection + deblending.

Galaxies are bulge + disk or single Sersic GalSim profiles with simple colours (the
"classic" population, that of the default model) or, with ``population="rich"``, those of
the shared population `astrocnn.sim.population` (compact galaxies, bars, arms, clumps,
a realistic size-magnitude relation); each is evaluated in Fourier space and convolved
with per-band Kolmogorov PSFs by `astrocnn.sim.galaxies.FourierRenderer`. The noise
model (LSST 10-year depth, sky and photon noise) is `astrocnn.sim.lsst`'s, as for the
photo-z simulator. Images are sky-subtracted fluxes in nJy (AB zero point ``MAGZP`` =
31.4).

With a survey (`astrocnn.sim.surveys.Survey`, ``survey=``) the same scenes are imaged
as that survey takes them: its bands, pixel scale, zero point and unit, each scene's
seeing and depth drawn from its ranges (`astrocnn.sim.lsst.Imaging`). The colours,
drawn in the LSST bands u-y, are carried to the survey's bands by interpolating
magnitudes in log wavelength (`astrocnn.sim.surveys.colour_weights`). Without a
survey the simulator draws exactly what it always did.
"""

import os
from dataclasses import replace
from pathlib import Path
from typing import NamedTuple

import astropy.units as u
import galsim
import numpy as np
from astropy.io import fits
from astropy.table import Table
from astropy.wcs import WCS

from astrocnn.io.catalog import write_table
from astrocnn.io.fits.cards import format_card, header_cards
from astrocnn.io.fits.writer import write_image_hdus
from astrocnn.sim import population
from astrocnn.sim.common import (
    add_noise,
    catalogue,
    check_args,
    is_int,
    object_streams,
    run_meta,
    stamp_header,
    write_fits,
)
from astrocnn.sim.galaxies import BULGE_N, FourierRenderer, r_half_total
from astrocnn.sim.lsst import ALL_BANDS, Imaging
from astrocnn.sim.surveys import colour_weights

DEFAULT_BANDS = ("g", "r", "i")
N_GALAXIES = (2, 3, 4)
N_GALAXIES_P = (0.5, 0.3, 0.2)
CENTRAL_MAG = (19.0, 24.5)  # i band, uniform
NEIGHBOUR_MAG = (18.5, 25.0)  # i band, uniform (field galaxies too)
SEP_RHALF = (0.3, 3.0)  # central-neighbour separation / (r_half_central + r_half_neighbour)
EDGE = 4  # neighbour centres at least this many pixels from the stamp edge
MAX_REPLACE = 20  # attempts to move a neighbour that outshines the central's core pixels
SEEING_RANGE = (0.85, 1.08)  # per-scene factor on REF_FWHM: r-band FWHM 0.71-0.90"
TYPES = ("E", "S", "Irr")
TYPE_P = (0.25, 0.5, 0.25)
IRR_N = (1.0, 1.5)  # a fixed set, so that GalSim reuses its Sersic tables (as BULGE_N)
R_HALF_19 = 1.2  # arcsec, median half-light radius of a disk galaxy at i = 19
SIZE_SLOPE = 0.1  # dex per magnitude
R_HALF_SCATTER = 0.15  # dex
R_HALF_RANGE = (0.2, 1.5)  # arcsec
TYPE_SIZE = {"E": 0.7, "S": 1.0, "Irr": 0.8}
TYPE_BULGE = {"E": 1.0, "Irr": 0.0}  # B/T of the single-profile classic types
POPULATIONS = ("classic", "rich")
RICH_ISOLATED_FRACTION = 0.15  # default fraction of one-galaxy scenes of the rich population
# Rich population: magnitudes in the classic ranges, but with a density rising as
# 10**(0.2 m). Galaxy counts rise as 10**(0.3-0.35 m) at i = 20-25, which would leave a
# central brighter than i = 21 in only 7 % of scenes; 0.2 (13 %) keeps faint, compact
# galaxies the majority (median central r_half ~0.34" against 0.47" for uniform
# magnitudes; 0.27" measured on HST COSMOS galaxies) while bright ones stay common
# enough to learn from.
RICH_MAG_SLOPE = 0.2
SEG_NSIGMA = 1.0  # segmentation threshold: sky sigma of the band-summed image
PAIR_FRACTION = 0.3  # field: galaxies placed as close companions of an earlier one
PAIR_SEP_RHALF = (0.5, 2.5)
# observed colours (u-g, g-r, r-i, i-z, z-y): (blue end, red end) of each population; one
# uniform t per galaxy places all its components along their ranges (so colours correlate
# and a bulge is always redder than its disk), plus N(0, 0.03) per colour
_COLOURS = {
    "red": ((1.3, 0.8, 0.4, 0.2, 0.1), (2.0, 1.6, 1.0, 0.5, 0.3)),
    "disk": ((0.5, 0.3, 0.2, 0.1, 0.0), (1.2, 0.8, 0.5, 0.3, 0.2)),
    "sf": ((0.0, 0.0, 0.0, -0.1, -0.1), (0.6, 0.4, 0.3, 0.15, 0.1)),
}


def _colour(rng, kind, t):
    """Magnitude offsets ``m_band - m_i`` in ``ALL_BANDS`` (u, g, r, i, z, y)."""
    lo, hi = (np.array(c) for c in _COLOURS[kind])
    ug, gr, ri, iz, zy = lo + t * (hi - lo) + rng.normal(0.0, 0.03, 5)
    return np.array([ug + gr + ri, gr + ri, ri, 0.0, -iz, -iz - zy])


def _in_bands(offsets, imaging):
    """Magnitude offsets from i in ``ALL_BANDS`` as offsets from ``imaging``'s key band in
    its ``all_bands``: themselves without a survey, else interpolated (`colour_weights`)."""
    if imaging.survey is None:
        return offsets
    weights = colour_weights(imaging.survey.bands, ALL_BANDS)
    mags = weights @ offsets
    return mags - mags[imaging.key]


def _galaxy(rng, mag_i, imaging):
    """Draw one galaxy centred on the origin: a dict with ``kind``, ``mag_i`` (in
    ``imaging``'s key band), ``r_half`` [arcsec] and ``comps``, a list of (GalSim
    profile, flux [image units] in ``imaging.all_bands``)."""
    kind = TYPES[rng.choice(len(TYPES), p=TYPE_P)]
    t = rng.uniform()
    log_r = np.log10(R_HALF_19 * TYPE_SIZE[kind]) - SIZE_SLOPE * (mag_i - 19.0)
    r_half = float(np.clip(10.0 ** (log_r + rng.normal(0.0, R_HALF_SCATTER)), *R_HALF_RANGE))
    beta = rng.uniform(0, np.pi) * galsim.radians
    flux_i = 10.0 ** (-0.4 * (mag_i - imaging.zero_point))

    def colour(population):  # flux ratios to i of one component
        return 10.0 ** (-0.4 * _in_bands(_colour(rng, population, t), imaging))

    if kind == "S":
        frac_b = rng.uniform(0.05, 0.5)  # of the i-band light
        n_b = float(rng.choice(BULGE_N))
        ratio = rng.uniform(0.15, 0.4)  # bulge / disk half-light radius
        r_d = r_half / r_half_total(frac_b, n_b, ratio, 1.0)  # (homogeneous in the radii)
        cos_i = rng.uniform()
        q_d = np.sqrt(cos_i**2 + 0.3**2 * (1 - cos_i**2))  # intrinsic thickness 0.3
        q_b = rng.uniform(0.6, 1.0)
        comps = [
            (
                galsim.Sersic(n=n_b, half_light_radius=ratio * r_d).shear(q=q_b, beta=beta),
                frac_b * flux_i * colour("red"),
            ),
            (
                galsim.Exponential(half_light_radius=r_d).shear(q=q_d, beta=beta),
                (1 - frac_b) * flux_i * colour("disk"),
            ),
        ]
    else:
        elliptical = kind == "E"
        n = float(rng.choice(BULGE_N if elliptical else IRR_N))
        q = rng.uniform(0.5, 1.0) if elliptical else rng.uniform(0.3, 1.0)
        profile = galsim.Sersic(n=n, half_light_radius=r_half).shear(q=q, beta=beta)
        comps = [(profile, flux_i * colour("red" if elliptical else "sf"))]
        frac_b = TYPE_BULGE[kind]
    flux = sum(f for _, f in comps)
    return dict(kind=kind, mag_i=float(mag_i), r_half=r_half, comps=comps, flux=flux, bulge=frac_b)


def _counts_mags(rng, bounds, size):
    """Magnitudes in ``bounds`` with density ~ ``10**(RICH_MAG_SLOPE m)`` (inverse CDF)."""
    lo, hi = bounds
    span = 10.0 ** (RICH_MAG_SLOPE * (hi - lo)) - 1.0
    return lo + np.log10(1.0 + span * rng.uniform(size=size)) / RICH_MAG_SLOPE


def _survey_mags(gal, imaging):
    """The population galaxy ``gal`` (drawn in ``ALL_BANDS``) with its component
    magnitudes in ``imaging.all_bands``: each component's colours carried as the
    classic ones (`_in_bands`), its key-band magnitude that of its i band."""
    if imaging.survey is None:
        return gal
    i = ALL_BANDS.index("i")
    comps = []
    for c in gal.components:
        mags = c.mags[i] + _in_bands(c.mags - c.mags[i], imaging)
        comps.append(replace(c, mags=mags))
    return replace(gal, bands=imaging.all_bands, components=comps)


def _rich_galaxy(rng, mag_i, imaging):
    """Draw one galaxy of the shared population (`astrocnn.sim.population`): a dict as
    `_galaxy`'s, with the `~astrocnn.sim.population.Galaxy` as ``galaxy`` and the zero
    point it is drawn at as ``zp`` instead of ``comps``."""
    gal = population.draw_galaxy(rng, float(mag_i), bands=ALL_BANDS)
    gal = _survey_mags(gal, imaging)
    zp = imaging.zero_point
    return dict(
        kind=gal.kind,
        mag_i=float(mag_i),
        r_half=float(gal.r_half),
        galaxy=gal,
        zp=zp,
        flux=gal.flux(zp),
        bulge=float(gal.bulge_fraction),
        knots=float(gal.knot_fraction),
    )


def _place(rng, gal, host, box, pixel_scale, s_range, tries=100):
    """Put ``gal`` at a separation ``s * (r_half_host + r_half_gal)`` from ``host``, with
    ``s`` uniform in ``s_range`` and a random direction, its centre (pixels) inside
    ``box = (x0, x1, y0, y1)``. Returns False (and leaves ``gal`` unplaced) if ``tries``
    draws all fall outside."""
    r_sum = (host["r_half"] + gal["r_half"]) / pixel_scale
    x0, x1, y0, y1 = box
    for _ in range(tries):
        s, phi = rng.uniform(*s_range), rng.uniform(0, 2 * np.pi)
        x, y = host["x"] + s * r_sum * np.cos(phi), host["y"] + s * r_sum * np.sin(phi)
        if x0 <= x <= x1 and y0 <= y <= y1:
            gal.update(x=float(x), y=float(y), s=float(s))
            return True
    return False


def _to_edge(rng, gal, host, box, pixel_scale):
    """Put ``gal`` where a random direction from ``host`` leaves ``box``."""
    phi = rng.uniform(0, 2 * np.pi)
    ux, uy = np.cos(phi), np.sin(phi)
    tx = np.inf if ux == 0 else ((box[1] if ux > 0 else box[0]) - host["x"]) / ux
    ty = np.inf if uy == 0 else ((box[3] if uy > 0 else box[2]) - host["y"]) / uy
    t = min(tx, ty)
    s = t * pixel_scale / (host["r_half"] + gal["r_half"])
    gal.update(x=float(host["x"] + t * ux), y=float(host["y"] + t * uy), s=float(s))


def _kimage(ren, gal, bidx, centre):
    """Fourier images (smooth, points) (nband, nf, nf//2+1) of a galaxy at its pixel
    position ``(x, y)``, as `astrocnn.sim.population.kimage`'s (points None for a
    classic galaxy); ``centre`` is the pixel of the renderer's origin."""
    dx, dy = (gal["x"] - centre[0]) * ren.ps, (gal["y"] - centre[1]) * ren.ps
    if "galaxy" in gal:
        return population.kimage(ren, gal["galaxy"], gal["zp"], bidx=bidx, centre=(dx, dy))
    total = 0.0
    for profile, flux in gal["comps"]:
        total = total + flux[bidx, None, None] * ren.kimage(profile.shift(dx, dy))
    return total, None


def _added(a, b):
    """Sum of two (smooth, points) pairs of Fourier images, None meaning none."""
    return tuple(y if x is None else x if y is None else x + y for x, y in zip(a, b))


def _render(ren, smooth, points, nband, psf_k):
    """Stamps (nband, size, size) of summed `_kimage` outputs: with no points, the call
    the classic simulator always made (its output stays bit-identical)."""
    ones = np.ones(nband)
    pts = [] if points is None else [(points, ones)]
    return ren.render([] if smooth is None else [(smooth, ones)], pts, psf_k)


def _draw(ren, gal, bidx, psf_k):
    """Noiseless PSF-convolved stamp (nband, size, size) of one galaxy."""
    c = (ren.size - 1) / 2
    return _render(ren, *_kimage(ren, gal, bidx, (c, c)), len(bidx), psf_k)


def _segment(det, threshold):
    """Label of the galaxy with the largest flux in each pixel of ``det`` (ngal, H, W),
    among those above ``threshold``: 0 background, 1 + index otherwise."""
    best = det.argmax(axis=0)
    return np.where(det.max(axis=0) > threshold, best + 1, 0).astype(np.int16)


def _flux(gal, bidx):
    return gal["flux"][bidx]


class _Seen(NamedTuple):
    """A scene's observing conditions."""

    fwhm: np.ndarray  # PSF FWHM [arcsec] per band of Imaging.all_bands
    depth_offset: float  # magnitudes added to the depths
    threshold: float  # segmentation threshold [image units]


def _threshold(sigma):
    """Segmentation threshold: ``SEG_NSIGMA`` sky sigma of the band-summed image."""
    return SEG_NSIGMA * float(np.sqrt(np.sum(sigma**2)))


class _Draws(NamedTuple):
    """Which galaxies a run draws."""

    population: str = "classic"  # one of POPULATIONS
    isolated_fraction: float = 0.0  # of scenes with the central alone


_CLASSIC = _Draws()  # what the simulator always drew


def _n_galaxies(rng, isolated_fraction):
    """Galaxies in a scene: 1 (isolated) with probability ``isolated_fraction``, else
    from ``N_GALAXIES``."""
    # no draw without isolated scenes: classic runs keep their random streams
    if isolated_fraction > 0 and rng.random() < isolated_fraction:
        return 1
    return int(rng.choice(N_GALAXIES, p=N_GALAXIES_P))


def _scene_galaxies(rng, n_gal, imaging, draws):
    """The central galaxy then ``n_gal - 1`` neighbours, unplaced."""
    if draws.population == "classic":
        mags = [rng.uniform(*CENTRAL_MAG), *rng.uniform(*NEIGHBOUR_MAG, n_gal - 1)]
        return [_galaxy(rng, m, imaging) for m in mags]
    mags = [*_counts_mags(rng, CENTRAL_MAG, 1), *_counts_mags(rng, NEIGHBOUR_MAG, n_gal - 1)]
    return [_rich_galaxy(rng, m, imaging) for m in mags]


def _scene(rng, ren, imaging, draws=_CLASSIC):
    """One blend: (observed cube, per-galaxy noiseless cubes, segmentation, galaxies,
    `_Seen` conditions)."""
    size, ps, bidx = ren.size, ren.ps, imaging.bidx
    c = (size - 1) / 2
    n_gal = _n_galaxies(rng, draws.isolated_fraction)
    fwhm, psf_k, depth_offset = imaging.conditions(rng, ren)
    seen = _Seen(fwhm, depth_offset, _threshold(imaging.sigma(depth_offset)))
    gals = _scene_galaxies(rng, n_gal, imaging, draws)
    x, y = c + rng.uniform(-0.5, 0.5, 2)
    gals[0].update(x=float(x), y=float(y), s=0.0)
    box = (EDGE, size - 1 - EDGE, EDGE, size - 1 - EDGE)
    for g in gals[1:]:
        if not _place(rng, g, gals[0], box, ps, SEP_RHALF):  # a pair too big for the stamp
            _to_edge(rng, g, gals[0], box, ps)
    images = np.array([_draw(ren, g, bidx, psf_k) for g in gals])
    gals, images, seg = _clear_core(rng, ren, gals, images, seen.threshold, bidx, psf_k)
    observed, _ = add_noise(rng, images.sum(axis=0), *imaging.noise(depth_offset))
    return observed.astype(np.float32), images.astype(np.float32), seg, gals, seen


def _clear_core(rng, ren, gals, images, threshold, bidx, psf_k):
    """Make the central own the pixels around the stamp centre (those holding its
    centre): a neighbour that outshines it there is moved outward (dropped if that
    fails). Returns the galaxies, their images and the segmentation."""
    size, ps = ren.size, ren.ps
    c = (size - 1) / 2
    box = (EDGE, size - 1 - EDGE, EDGE, size - 1 - EDGE)
    core = np.ix_(*[sorted({int(np.floor(c)), int(np.ceil(c))})] * 2)
    for _ in range(MAX_REPLACE):
        seg = _segment(images.sum(axis=1), threshold)
        bad = sorted(int(k) - 1 for k in np.unique(seg[core]) if k >= 2)
        if not bad:
            return gals, images, seg
        for k in bad:
            s_min = min(gals[k]["s"], SEP_RHALF[1])
            if _place(rng, gals[k], gals[0], box, ps, (s_min, SEP_RHALF[1])):
                images[k] = _draw(ren, gals[k], bidx, psf_k)
    seg = _segment(images.sum(axis=1), threshold)
    bad = sorted(int(k) - 1 for k in np.unique(seg[core]) if k >= 2)
    keep = [k for k in range(len(gals)) if k not in bad]  # rare: drop them
    gals, images = [gals[k] for k in keep], images[keep]
    return gals, images, _segment(images.sum(axis=1), threshold)


_TYPE_NOTE = {  # TYPE_k's comment, by whether the galaxy is of the rich population
    False: "E, S (bulge + disk) or Irr",
    True: ", ".join(population.KINDS[:-1]) + " or " + population.KINDS[-1],
}


def _truth_cards(gals, threshold, imaging):
    unit, band = imaging.unit, imaging.key_band
    cards = [
        ("NGAL", len(gals), "galaxies; label k in SEGMENTATION is galaxy k"),
        ("SEGTHR", round(float(threshold), 5), f"segmentation threshold, band sum [{unit}]"),
    ]
    for k, g in enumerate(gals, start=1):
        cards += [
            (f"X_{k}", round(g["x"], 4), f"galaxy {k}: x [pixel, 0-based]"),
            (f"Y_{k}", round(g["y"], 4), f"galaxy {k}: y [pixel, 0-based]"),
            (f"MAGI_{k}", round(g["mag_i"], 4), f"galaxy {k}: {band}-band AB magnitude"),
            (f"RHALF_{k}", round(g["r_half"], 4), f"galaxy {k}: half-light radius [arcsec]"),
            (f"TYPE_{k}", g["kind"], f"galaxy {k}: {_TYPE_NOTE['galaxy' in g]}"),
            (f"SEP_{k}", round(g["s"], 4), f"galaxy {k}: separation / r_half sum"),
        ]
    return [format_card(*card) for card in cards]


def simulate_deblend(
    n,
    seed,
    outdir,
    *,
    size=64,
    pixel_scale=None,
    bands=None,
    galaxies=True,
    progress=False,
    survey=None,
    population="classic",
    isolated_fraction=None,
):
    """Simulate blended-galaxy stamps with noiseless truths and write them to disk.

    Parameters
    ----------
    n : int
        Number of scenes (>= 1).
    seed : int
        Seed for ``numpy.random.default_rng``; same ``(n, seed)`` (and keywords)
        gives bit-identical files and catalogue. Scene ``i`` has its own stream, so
        the first scenes of a larger run are those of a smaller one.
    outdir : str or os.PathLike
        Output directory; created if needed.
    size : int, optional
        Stamp side in pixels (>= 16).
    pixel_scale : float, optional
        Arcsec per pixel (default: the survey's; LSST's 0.2 without one).
    bands : sequence of str, optional
        Subset of ``ALL_BANDS`` (``"u", "g", "r", "i", "z", "y"``), or of the
        survey's bands, in cube order (default: g, r, i; all the survey's bands).
    galaxies : bool, optional
        Also write every galaxy's noiseless image (truth extension ``GALAXIES``).
    progress : bool, optional
        Show a tqdm progress bar on stderr.
    survey : astrocnn.sim.surveys.Survey, optional
        Image the scenes as this survey takes them (see Notes); None: LSST as below,
        the set-up of the default model.
    population : {"classic", "rich"}, optional
        Galaxies to draw: "classic" (the default model's first three training stages, as
        below) or "rich", the shared population of `astrocnn.sim.population` (see Notes;
        its fourth stage).
    isolated_fraction : float, optional
        Fraction (0-1) of scenes with the central galaxy alone; default 0 for the
        classic population (its scenes unchanged), ``RICH_ISOLATED_FRACTION`` (0.15)
        for the rich one.

    Returns
    -------
    astropy.table.Table
        Catalogue (also written to ``outdir/catalog.fits``; meta ``SIMULATR``,
        ``SEED``, ``PIXSCALE``, ``BANDS``, ``MAGZP``, ``SEGNSIG``) with columns

        - ``id``; ``file``: ``stamps/deblend_{id:06d}.fits``, ``truth_file``:
          ``truth/deblend_{id:06d}.fits`` (both relative to ``outdir``);
        - ``flux_true_<band>`` [nJy], ``mag_true_<band>``: the central galaxy's total
          flux and AB magnitude (of the whole profile, not clipped by the stamp);
        - ``flux_stamp_<band>`` [nJy]: the part of it inside the stamp (the sum of
          the truth ``CENTRAL`` image);
        - ``n_galaxies`` (central included);
        - ``separation`` [arcsec] from the central to its nearest neighbour, and
          ``separation_rhalf``, that separation in units of the sum of the two
          half-light radii;
        - ``delta_mag``: i-band magnitude of the central minus that of its nearest
          neighbour (negative: the central is the brighter);
        - ``r_half`` [arcsec]: the central's half-light radius;
        - ``blendedness``: ``1 - sum(C^2) / sum(C (C + O))`` over the stamp, with
          ``C`` and ``O`` the noiseless central and other galaxies summed over the
          bands (Bosch et al. 2018);
        - with the rich population or isolated scenes only (a classic run without
          them has the columns it always had): ``kind`` (the central's type, ``E``,
          ``S`` or ``Irr`` for the classic population, one of
          `astrocnn.sim.population.KINDS` for the rich one), ``bulge_fraction``
          (its B/T in i), ``knot_fraction`` (of its i-band light in star-forming
          knots; 0 for classic galaxies) and ``isolated`` (no other galaxy in the
          stamp: ``n_galaxies == 1``); and the meta ``GALPOP`` (the population),
          ``ISOFRAC`` (the isolated fraction) and, for the rich population,
          ``MAGSLOPE`` (`RICH_MAG_SLOPE`);
        - ``x_true``, ``y_true`` [pixel]: the central's centre (0-based, numpy
          axes ``[y, x]``); ``ra``, ``dec`` [deg]: its sky position.

        Stamp files: primary HDU, float32 cube (nband, size, size), the observed
        blend in nJy, with a 2-D TAN WCS (north up, east left, centred on the
        stamp) and cards ``BANDS`` (``FILTER`` for one band), ``PIXSCALE``,
        ``MAGZP``, ``BUNIT``, ``OBJECT``, ``PSF_<BAND>`` (FWHM [arcsec]) and
        ``SKYSIG_<BAND>`` (background noise sigma [nJy]). Truth files: the primary
        HDU holds ``NGAL``, ``SEGTHR`` and per galaxy ``k`` (1 = central) ``X_k``,
        ``Y_k``, ``MAGI_k``, ``RHALF_k``, ``TYPE_k``, ``SEP_k``; extensions
        ``CENTRAL`` and ``OTHERS`` (float32 (nband, size, size), noiseless and
        PSF-convolved, nJy), ``SEGMENTATION`` (int16 (size, size)) and, with
        ``galaxies=True``, ``GALAXIES`` (float32 (ngal, nband, size, size), central
        first), all with the stamp's WCS (and, but for ``SEGMENTATION``, its
        ``BANDS``, ``MAGZP`` and ``BUNIT``; no ``SKYSIG_<BAND>``: they are
        noiseless).

        With a survey, fluxes and images are in its unit (``BUNIT``) at its zero
        point; the stamps add the cards ``SURVEY`` and ``DEPTHOFF`` and state
        ``SKYSIG_<BAND>`` at the scene's depth; the catalogue adds ``psf_fwhm`` (FWHM
        in the survey's reference band [arcsec]) and ``depth_offset`` [mag] before
        ``x_true``, and the meta ``SURVEY``, ``REFBAND`` (the reference band) and
        ``MAGBAND`` (the band "i" stands for, below).

    Notes
    -----
    - Scenes: 2, 3 or 4 galaxies (probabilities 0.5, 0.3, 0.2); with
      ``isolated_fraction`` f > 0, a scene is first made of the central alone with
      probability f (one more random draw per scene). The central is at
      the stamp centre plus a uniform offset of up to 0.5 pixel in x and y. Each
      neighbour is at a separation ``s * (r_half_central + r_half_neighbour)``,
      ``s`` uniform in 0.3-3 and a uniform direction, redrawn until its centre is
      at least 4 pixels inside the stamp (pairs too large for any ``s`` go to the
      edge of that region). ``s`` < 1 means heavily overlapping light.
    - The central owns its centre: if a neighbour outshines it (noiseless band
      sum) in one of the pixels around the stamp centre (``size // 2`` and the one
      holding the central's centre), that neighbour is moved outward (new ``s``
      between the old one and 3, new direction), up to 20 times, and is dropped
      from the scene in the rare case that this fails (none in 1000 scenes; about
      one scene in five has a neighbour moved). So bright neighbours are rarer at
      the smallest separations than their magnitudes alone imply: the central is
      always a source a detection algorithm could centre on. Of the nearest
      neighbours, 27% end up at ``s`` < 1 and 30% at ``s`` > 2.
    - Magnitudes: i = 19-24.5 for the central and 18.5-25 for neighbours (uniform),
      so ``delta_mag`` takes both signs.
    - Galaxy types: 25% E (single Sersic, n in {3, 4}, axis ratio 0.5-1, red),
      50% S (Sersic bulge with n in {3, 4}, 5-50% of the i-band light, half-light
      radius 0.15-0.4 of the disk's, axis ratio 0.6-1, + exponential disk whose
      axis ratio follows a random inclination of a disk with thickness 0.3, i.e.
      0.3-1; the same position angle), 25% Irr (single Sersic, n in {1, 1.5}, axis
      ratio 0.3-1, blue). Position angles uniform. Sersic indices come from fixed
      sets so that GalSim reuses its tables.
    - Sizes: ``log10 r_half = log10(1.2" f) - 0.1 (i - 19)`` with 0.15 dex scatter,
      ``f`` = 0.7 (E), 1 (S), 0.8 (Irr), clipped to 0.2-1.5" (i = 19 disk: 1.2",
      i = 25: 0.3"). ``r_half`` is the half-light radius of the whole galaxy in
      the i band (circularised, before the PSF).
    - Colours (observed u-g, g-r, r-i, i-z, z-y): three populations, red (E and
      bulges; g-r 0.8-1.6, r-i 0.4-1.0), disk (g-r 0.3-0.8, r-i 0.2-0.5) and
      star-forming (Irr; g-r 0-0.4, r-i 0-0.3). One uniform draw per galaxy sets
      where all its colours lie in these ranges (so the bulge is redder than its
      disk), plus 0.03 mag Gaussian scatter per colour.
    - Observing: Kolmogorov PSF with FWHM (0.92, 0.87, 0.83, 0.80, 0.78, 0.76)"
      (u-y) times a per-scene factor 0.85-1.08 (r band 0.71-0.90") with 2% per-band
      scatter; sky + photon noise (Gaussian approximation) for the LSST 10-year
      5-sigma point-source depths (u-y 26.1, 27.4, 27.5, 26.8, 26.1, 24.9; sky noise
      per 0.2" pixel u-y = 3.8, 1.2, 1.2, 2.3, 4.5, 13.9 nJy, see
      `astrocnn.sim.lsst.sky_sigma`): an i = 25 galaxy (575 nJy) is detected at
      S/N > 10 in i alone. Images are sky-subtracted.
    - Segmentation: each pixel goes to the galaxy with the largest noiseless
      PSF-convolved flux in the detection image (sum of the bands), among the
      galaxies whose flux there exceeds 1 sky sigma of that summed image
      (``SEG_NSIGMA``; ``SEGTHR`` in the truth header: the square root of the
      summed band variances, 2.85 nJy for g, r, i); 0 elsewhere. Labels: 1
      central, ``k`` >= 2 the ``k``-th galaxy (``X_k``, ``Y_k`` in the truth
      header).
    - ``flux_true_<band>`` is the total flux of the (untruncated) profile; the
      stamp holds ``flux_stamp_<band>``. In 64-pixel (12.8") stamps the median
      loss is 0.4% (Sersic wings): < 1% for exponential profiles of any size and
      for galaxies with r_half < 0.5", but up to ~13% for the largest
      de Vaucouleurs (n = 4) galaxies (r_half 1.5").
    - Rendering: each galaxy is drawn (in Fourier space) on a grid twice the
      stamp's size and cropped, so light beyond the stamp is lost rather than
      wrapped into it.
    - With a survey, "i" above is the survey's band nearest LSST i in wavelength
      (`astrocnn.sim.lsst.nearest_band`: i for HSC, DES, KiDS, SDSS; VIS for
      Euclid): magnitudes, sizes and bulge fractions refer to it. The colours,
      drawn in the LSST bands u-y as above, are carried to the survey's bands by
      interpolating magnitudes in log wavelength (flat beyond y;
      `astrocnn.sim.surveys.colour_weights`) and shifted so that the key band keeps
      the drawn magnitude. Each scene's PSF FWHM and depth offset are drawn from the
      survey's ranges (`astrocnn.sim.surveys.Survey.draw_conditions`), the noise
      is `~astrocnn.sim.surveys.Survey.noise` at that depth, and ``SEGTHR`` follows
      that noise. The magnitude ranges stay those above whatever the survey's depth.
    - ``population="rich"``: every galaxy, central and neighbours, is
      `astrocnn.sim.population.draw_galaxy`'s (ellipticals, bulge + inclined thick
      disk with a continuous B/T and sometimes a bar, spiral arms and star-forming
      knots, clumpy irregulars and compact galaxies; sizes from its size-magnitude
      relation, 0.1-3"), its colours drawn per component in u-y and carried to a
      survey's bands as above, rendered with `astrocnn.sim.population.kimage` on
      the same grid with the same PSFs, noise, placement and segmentation. The
      magnitude ranges are those above, but the density rises as
      ``10**(RICH_MAG_SLOPE m)`` (0.2: half the centrals are fainter than i = 23.2,
      13% brighter than 21), so that faint, compact galaxies dominate as on the sky:
      the median central half-light radius is ~0.34" (0.5" classic). A neighbour's
      separation is in units of the sum of the half-light radii as above.
    """
    if bands is None and survey is None:
        bands = DEFAULT_BANDS
    imaging = Imaging(bands, pixel_scale, SEEING_RANGE, survey)
    check_args(n, seed, *imaging.checks(size))
    draws = _draws(population, isolated_fraction)
    bands, pixel_scale, zp = imaging.bands, imaging.pixel_scale, imaging.zero_point
    outdir = os.fspath(outdir)
    for sub in ("stamps", "truth"):
        os.makedirs(os.path.join(outdir, sub), exist_ok=True)
    objects = object_streams(np.random.default_rng(seed), n, progress, "simulate_deblend")
    ren = FourierRenderer(size, float(pixel_scale))
    # the observed stamps state their noise; the noiseless truths do not
    stamp_template = stamp_header(size, pixel_scale, bands, zp, imaging.unit, imaging.sigma())
    template = stamp_header(size, pixel_scale, bands, zp, imaging.unit)
    seg_template = template.copy()
    for key in ("BANDS", "MAGZP", "BUNIT", "FILTER"):
        seg_template.remove(key, ignore_missing=True)
    wcs = WCS(template, naxis=2)
    rows = []
    for i, orng, ra0, dec0 in objects:
        observed, images, seg, gals, seen = _scene(orng, ren, imaging, draws)
        central, others = images[0], images[1:].sum(axis=0)
        rel, truth_rel = f"stamps/deblend_{i:06d}.fits", f"truth/deblend_{i:06d}.fits"
        sky_pos = dict(CRVAL1=ra0, CRVAL2=dec0, OBJECT=str(i))
        conditions = imaging.cards(seen.fwhm, seen.depth_offset)
        # astropy spends ~7 ms a file on header bookkeeping, ten times the rendering of a
        # galaxy: the cards are formatted here (the template's once, by astropy)
        stamp_cards = header_cards(stamp_template, sky_pos | conditions)
        write_image_hdus(os.path.join(outdir, rel), [(observed, stamp_cards)])
        cards, seg_cards = header_cards(template, sky_pos), header_cards(seg_template, sky_pos)
        hdus = [
            (None, [format_card("OBJECT", str(i)), *_truth_cards(gals, seen.threshold, imaging)]),
            (central, cards, "CENTRAL"),
            (others, cards, "OTHERS"),
            (seg, seg_cards, "SEGMENTATION"),
        ]
        if galaxies:
            hdus.append((images, cards, "GALAXIES"))
        write_image_hdus(os.path.join(outdir, truth_rel), hdus)
        row = dict(id=i, file=rel, truth_file=truth_rel)
        row.update(_scene_row(gals, central, others, imaging))
        row.update(_central_columns(gals))
        row.update(imaging.columns(seen.fwhm, seen.depth_offset))
        wcs.wcs.crval = [ra0, dec0]
        wcs.wcs.set()
        row["ra"], row["dec"] = wcs.wcs_pix2world([[gals[0]["x"], gals[0]["y"]]], 0)[0]
        rows.append(row)
    return _catalogue(rows, imaging, seed, outdir, draws)


def _scene_row(gals, central, others, imaging):
    """Catalogue columns of a scene's central galaxy (but its id, files and position)."""
    bands, zp, g0 = imaging.bands, imaging.zero_point, gals[0]
    flux = _flux(g0, imaging.bidx)
    row = dict(n_galaxies=len(gals))
    row.update({f"flux_true_{b}": float(f) for b, f in zip(bands, flux)})
    row.update({f"mag_true_{b}": float(zp - 2.5 * np.log10(f)) for b, f in zip(bands, flux)})
    stamp_flux = central.sum(axis=(1, 2), dtype=float)
    row.update({f"flux_stamp_{b}": float(f) for b, f in zip(bands, stamp_flux)})
    if len(gals) > 1:
        ps = imaging.pixel_scale
        dist = [np.hypot(g["x"] - g0["x"], g["y"] - g0["y"]) * ps for g in gals[1:]]
        k = int(np.argmin(dist))
        near = gals[1 + k]
        row.update(
            separation=float(dist[k]),
            separation_rhalf=float(dist[k] / (g0["r_half"] + near["r_half"])),
            delta_mag=g0["mag_i"] - near["mag_i"],
        )
    else:
        row.update(separation=np.nan, separation_rhalf=np.nan, delta_mag=np.nan)
    det_c, det_o = central.sum(axis=0, dtype=float), others.sum(axis=0, dtype=float)
    row["blendedness"] = float(1.0 - (det_c**2).sum() / (det_c * (det_c + det_o)).sum())
    row.update(r_half=g0["r_half"], x_true=g0["x"], y_true=g0["y"])
    return row


def _draws(population, isolated_fraction):
    """The checked `_Draws` of a run (the isolated fraction defaults by population)."""
    if population not in POPULATIONS:
        raise ValueError(f"population must be one of {', '.join(POPULATIONS)}, got {population!r}")
    if isolated_fraction is None:
        isolated_fraction = RICH_ISOLATED_FRACTION if population == "rich" else 0.0
    f = isolated_fraction
    if isinstance(f, bool) or not isinstance(f, int | float | np.number) or not 0 <= f <= 1:
        raise ValueError(f"isolated_fraction must be a number in [0, 1], got {f!r}")
    return _Draws(population, float(f))


def _described(draws):
    """Whether a run's catalogue describes its centrals (`_central_columns`): not for
    classic runs without isolated scenes, whose catalogue stays what it always was."""
    return draws != _CLASSIC


def _central_columns(gals):
    """Catalogue columns describing a scene's central galaxy and whether it is alone."""
    g0 = gals[0]
    return dict(
        kind=g0["kind"],
        bulge_fraction=float(g0["bulge"]),
        knot_fraction=float(g0.get("knots", 0.0)),
        isolated=len(gals) == 1,
    )


def _catalogue(rows, imaging, seed, outdir, draws=_CLASSIC):
    """The truth catalogue of a run (written to ``outdir/catalog.fits``)."""
    bands = imaging.bands
    described = _described(draws)
    fluxes = [f"flux_true_{b}" for b in bands]
    mags = [f"mag_true_{b}" for b in bands]
    stamp_fluxes = [f"flux_stamp_{b}" for b in bands]
    columns = ["id", "file", "truth_file", *fluxes, *mags, *stamp_fluxes, "n_galaxies"]
    columns += ["separation", "separation_rhalf", "delta_mag", "r_half", "blendedness"]
    if described:
        columns += list(_central_columns([dict(kind="", bulge=0.0)]))
    columns += [*imaging.column_units(), "x_true", "y_true", "ra", "dec"]
    units = {c: imaging.flux_unit for c in [*fluxes, *stamp_fluxes]}
    units.update({c: u.mag for c in [*mags, "delta_mag"]})
    units.update(separation=u.arcsec, r_half=u.arcsec, x_true=u.pix, y_true=u.pix)
    units.update(ra=u.deg, dec=u.deg, **imaging.column_units())
    meta = run_meta(
        "astrocnn.tasks.deblend.simulate",
        seed,
        imaging.pixel_scale,
        bands,
        MAGZP=imaging.zero_point,
        SEGNSIG=SEG_NSIGMA,
        **imaging.meta(),
    )
    if described:
        meta.update(GALPOP=draws.population, ISOFRAC=draws.isolated_fraction)
        if draws.population == "rich":
            meta["MAGSLOPE"] = RICH_MAG_SLOPE
    return catalogue(rows, columns, units, meta, outdir)


def _check_field_args(seed, shape, n_galaxies, imaging):
    ok = isinstance(shape, tuple | list) and len(shape) == 2 and all(is_int(s, 16) for s in shape)
    if not ok:
        raise ValueError(f"shape must be two integers >= 16, got {shape!r}")
    if not is_int(n_galaxies, 1):
        raise ValueError(f"n_galaxies must be an integer >= 1, got {n_galaxies!r}")
    check_args(1, seed, *imaging.checks(16))


def _truth_path(out_path):
    out_path = Path(out_path)
    name = out_path.name
    for suffix in (".fits.gz", ".fits", ".fit", ".fts"):
        if name.lower().endswith(suffix):
            return out_path.with_name(name[: -len(suffix)] + "_truth.fits")
    return out_path.with_name(out_path.stem + "_truth.fits")


def simulate_field(
    seed,
    out_path,
    *,
    shape=(256, 256),
    n_galaxies=25,
    pixel_scale=None,
    bands=None,
    survey=None,
    population="classic",
):
    """Simulate one multi-galaxy field with some blends, for detection + deblending.

    Parameters
    ----------
    seed : int
        Seed for ``numpy.random.default_rng``; the same seed (and keywords) gives
        bit-identical files.
    out_path : str or os.PathLike
        FITS file to write (its folder must exist): primary HDU, float32 cube
        (nband, H, W) in nJy with a 2-D TAN WCS (north up, east left, ``CRPIX`` at
        the field centre, ``CRVAL`` a random position on the sky) and cards
        ``BANDS`` (``FILTER`` for one band), ``PIXSCALE``, ``MAGZP``, ``BUNIT``,
        ``OBJECT`` ("field"), ``NGAL``, ``PSF_<BAND>`` (FWHM [arcsec]) and
        ``SKYSIG_<BAND>`` (background noise sigma [nJy]). The truth table is also
        written beside it as ``<name>_truth.fits`` (``field.fits`` ->
        ``field_truth.fits``).
    shape : tuple of int, optional
        ``(H, W)`` in pixels (each >= 16).
    n_galaxies : int, optional
        Number of galaxies (>= 1).
    pixel_scale : float, optional
        Arcsec per pixel (default: the survey's; LSST's 0.2 without one).
    bands : sequence of str, optional
        Subset of ``ALL_BANDS``, or of the survey's bands, in cube order (default:
        g, r, i; all the survey's bands).
    survey : astrocnn.sim.surveys.Survey, optional
        Image the field as this survey takes it, as `simulate_deblend` does (one
        seeing and depth for the field); None: LSST.
    population : {"classic", "rich"}, optional
        Galaxies to draw, as `simulate_deblend`'s (rich: i = 18.5-25 with a density
        ``10**(RICH_MAG_SLOPE m)``, ``type`` one of `astrocnn.sim.population.KINDS`).

    Returns
    -------
    astropy.table.Table
        One row per galaxy: ``id``, ``x``, ``y`` [pixel, 0-based, numpy axes
        ``[y, x]``], ``ra``, ``dec`` [deg, from the file's WCS], ``flux_true_<band>``
        [nJy] and ``mag_true_<band>`` (total, of the untruncated profile),
        ``r_half`` [arcsec] (i band), ``type`` ("E", "S" or "Irr"); meta
        ``SIMULATR``, ``SEED``, ``PIXSCALE``, ``BANDS``, ``MAGZP``, ``FIELD`` (the
        image's file name). With a survey, fluxes and the image are in its unit,
        the image has the cards ``SURVEY`` and ``DEPTHOFF``, and the meta
        ``SURVEY``, ``REFBAND`` and ``MAGBAND``.

    Notes
    -----
    Galaxies, PSF (one per band for the whole field) and noise as in
    `simulate_deblend`, i = 18.5-25 (uniform). Each galaxy after the first is, with
    probability 0.3, a close companion of a random earlier one (separation 0.5-2.5
    times the sum of their half-light radii, uniform direction), otherwise placed
    uniformly; all centres are at least 4 pixels inside the field. Light of
    galaxies near the edge that falls outside the field is lost.
    """
    if bands is None and survey is None:
        bands = DEFAULT_BANDS
    imaging = Imaging(bands, pixel_scale, SEEING_RANGE, survey)
    _check_field_args(seed, shape, n_galaxies, imaging)
    population = _draws(population, 0.0).population
    bands, pixel_scale, bidx = imaging.bands, imaging.pixel_scale, imaging.bidx
    height, width = (int(s) for s in shape)
    rng = np.random.default_rng(seed)
    side = max(height, width)
    ren = FourierRenderer(side, float(pixel_scale))
    oy, ox = (side - height) // 2, (side - width) // 2  # the field inside the render
    c = (side - 1) / 2
    ra0, dec0 = rng.uniform(0, 360), np.degrees(np.arcsin(rng.uniform(-0.9, 0.9)))
    fwhm, psf_k, depth_offset = imaging.conditions(rng, ren)
    box = (EDGE, width - 1 - EDGE, EDGE, height - 1 - EDGE)
    gals, smooth, points = [], None, None
    for _ in range(n_galaxies):
        g = _field_galaxy(rng, imaging, population)
        paired = bool(gals) and rng.random() < PAIR_FRACTION
        host = gals[rng.integers(len(gals))] if paired else None
        if not (paired and _place(rng, g, host, box, pixel_scale, PAIR_SEP_RHALF, tries=20)):
            g.update(x=float(rng.uniform(box[0], box[1])), y=float(rng.uniform(box[2], box[3])))
        gals.append(g)
        shifted = dict(g, x=g["x"] + ox, y=g["y"] + oy)
        smooth, points = _added((smooth, points), _kimage(ren, shifted, bidx, (c, c)))
    model = _render(ren, smooth, points, len(bidx), psf_k)
    model = model[:, oy : oy + height, ox : ox + width]
    image, _ = add_noise(rng, model, *imaging.noise(depth_offset))
    image = image.astype(np.float32)

    sigma = imaging.sigma(depth_offset)
    header = stamp_header(width, pixel_scale, bands, imaging.zero_point, imaging.unit, sigma)
    for key, value in dict(CRPIX2=(height + 1) / 2, CRVAL1=ra0, CRVAL2=dec0).items():
        header[key] = value  # (keeps the comment)
    header["OBJECT"] = "field"
    header["NGAL"] = (n_galaxies, "galaxies in the field")
    header.update(imaging.cards(fwhm, depth_offset))
    out_path = Path(out_path)
    write_fits(out_path, fits.PrimaryHDU(image, header=header))
    table = _field_truth(gals, WCS(header, naxis=2), imaging, seed, out_path.name)
    write_table(table, _truth_path(out_path), overwrite=True)
    return table


def _field_galaxy(rng, imaging, population):
    """One field galaxy of the ``population``, i in ``NEIGHBOUR_MAG``, unplaced."""
    if population == "classic":
        return _galaxy(rng, rng.uniform(*NEIGHBOUR_MAG), imaging)
    return _rich_galaxy(rng, _counts_mags(rng, NEIGHBOUR_MAG, None), imaging)


def _field_truth(gals, wcs, imaging, seed, name):
    """The truth table of a field (image ``name``) with the celestial ``wcs``."""
    bands, zp = imaging.bands, imaging.zero_point
    x, y = np.array([g["x"] for g in gals]), np.array([g["y"] for g in gals])
    ra, dec = wcs.wcs_pix2world(x, y, 0)
    flux = np.array([_flux(g, imaging.bidx) for g in gals])
    simulator = "astrocnn.tasks.deblend.simulate.field"
    meta = run_meta(
        simulator, seed, imaging.pixel_scale, bands, MAGZP=zp, FIELD=name, **imaging.meta()
    )
    table = Table(meta=meta)
    table["id"] = np.arange(len(gals), dtype=np.int64)
    table["x"], table["y"] = x * u.pix, y * u.pix
    table["ra"], table["dec"] = ra * u.deg, dec * u.deg
    for j, b in enumerate(bands):
        table[f"flux_true_{b}"] = flux[:, j]
        table[f"flux_true_{b}"].unit = imaging.flux_unit
    for j, b in enumerate(bands):
        table[f"mag_true_{b}"] = (zp - 2.5 * np.log10(flux[:, j])) * u.mag
    table["r_half"] = np.array([g["r_half"] for g in gals]) * u.arcsec
    table["type"] = [g["kind"] for g in gals]
    return table
