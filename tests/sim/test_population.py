"""Tests of the shared galaxy population (`astrocnn.sim.population`): the rendered light
matches the magnitudes and the half-light radii, and the population has the sizes and
the mixture it states."""

import dataclasses

import galsim
import numpy as np
import pytest

from astrocnn.sim.galaxies import FourierRenderer
from astrocnn.sim.population import (
    KINDS,
    draw_galaxy,
    draw_size,
    kimage,
    kind_probabilities,
    recolour,
    render,
    render_k,
)

ZP = 31.4
BANDS = ("g", "r", "i", "z")


def _population(seed, n, mag_range=(23.0, 24.0), **kw):
    rng = np.random.default_rng(seed)
    return [draw_galaxy(rng, m, **kw) for m in rng.uniform(*mag_range, n)]


def _half_light(img, q, beta, pixel_scale, total):
    """Circularised radius [arcsec] of the elliptical aperture (axis ratio q, major axis at
    beta) about the stamp centre that holds half of ``total``."""
    n = img.shape[-1]
    y, x = (np.mgrid[:n, :n] - (n - 1) / 2) * pixel_scale
    u, v = x * np.cos(beta) + y * np.sin(beta), -x * np.sin(beta) + y * np.cos(beta)
    rho = np.sqrt(u**2 * q + v**2 / q).ravel()
    order = np.argsort(rho)
    return rho[order][np.searchsorted(np.cumsum(img.ravel()[order]), 0.5 * total)]


def test_rendered_flux_per_band_matches_the_magnitudes():
    ren = FourierRenderer(160, 0.2)  # 32": no light lost for these galaxies
    psf_k = np.array([ren.psf(galsim.Kolmogorov(fwhm=f)) for f in (0.9, 0.85, 0.8, 0.78)])
    gals = _population(1, 24, (22.0, 25.0), bands=BANDS)
    assert {g.kind for g in gals} == set(KINDS)
    for g in gals:
        stamp = render(ren, g, psf_k, zp=ZP)
        expected = 10.0 ** (-0.4 * (g.mags - ZP))
        assert np.allclose(stamp.sum(axis=(1, 2)), expected, rtol=0.015), g.kind
        assert np.allclose(g.flux(ZP), expected)
        # the reference band holds the magnitude drawn
        assert g.mags[BANDS.index("i")] == pytest.approx(g.mag, abs=1e-9)


def test_components_have_their_own_colours():
    rng = np.random.default_rng(2)
    g = draw_galaxy(rng, 21.0, bands=BANDS, kind="disk", bulge_fraction=0.4, n_arms=2)
    by_role = {c.role: c.mags[0] - c.mags[2] for c in g.components}  # g - i
    assert by_role["bulge"] > by_role["disk"] > by_role["arms"]  # red bulge, bluer arms


def test_sizes_at_mag_23_24_are_hst_like():
    gals = _population(3, 400)
    r = np.array([g.r_half for g in gals])
    assert 0.2 <= np.median(r) <= 0.4
    assert r.min() >= 0.1
    assert r.max() > 0.7  # a tail of large galaxies


def test_ellipticals_are_smaller_than_disks_at_fixed_magnitude():
    rng = np.random.default_rng(4)
    for mag in (19.0, 22.0, 24.5):
        ell = draw_size(rng, np.full(300, mag), "elliptical")
        disk = draw_size(rng, np.full(300, mag), "disk")
        assert np.median(ell) < 0.8 * np.median(disk)
        assert ell.min() >= 0.1 and disk.min() >= 0.1
    # sizes fall with magnitude
    assert np.median(draw_size(rng, np.full(300, 20.0), "disk")) > 2 * np.median(disk)


def test_the_mixture_has_every_kind_a_range_of_bulges_and_knotty_irregulars():
    gals = _population(5, 300)
    kinds = [g.kind for g in gals]
    assert set(kinds) == set(KINDS)
    bt = np.array([g.bulge_fraction for g in gals if g.kind == "disk"])
    assert bt.min() < 0.05 and bt.max() > 0.75 and 0.15 < np.median(bt) < 0.4
    irregulars = [g for g in gals if g.kind == "irregular"]
    assert all(0.2 <= g.knot_fraction <= 0.5 for g in irregulars)
    assert all(any(c.role == "knots" for c in g.components) for g in irregulars)
    disks = [g for g in gals if g.kind == "disk"]
    assert any(g.has_bar for g in disks) and any(g.n_arms >= 2 for g in disks)
    assert all(g.bulge_fraction == 1.0 for g in gals if g.kind == "elliptical")


def test_irregulars_become_more_common_with_redshift():
    low, high = kind_probabilities(0.1), kind_probabilities(2.0)
    assert low.sum() == pytest.approx(1.0) and high.sum() == pytest.approx(1.0)
    irr, ell = KINDS.index("irregular"), KINDS.index("elliptical")
    assert high[irr] > 1.5 * low[irr] and high[ell] < low[ell]


@pytest.mark.parametrize(
    "kind, kw",
    [
        ("elliptical", {}),
        ("compact", {}),
        ("irregular", {}),
        ("disk", dict(inclination=55.0, bulge_fraction=0.3)),
        ("disk", dict(inclination=88.0, bulge_fraction=0.0, n_arms=0, has_bar=False)),
    ],
)
def test_measured_half_light_radius_matches_r_half(kind, kw):
    ren = FourierRenderer(160, 0.025)  # fine pixels, no PSF
    rng = np.random.default_rng(6)
    for r_half in (0.15, 0.3, 0.5):
        g = draw_galaxy(rng, 23.0, ("i",), kind=kind, r_half=r_half, **kw)
        img = render(ren, g, zp=ZP)[0]
        measured = _half_light(img, g.axis_ratio, g.beta, ren.ps, g.flux(ZP)[0])
        assert measured == pytest.approx(r_half, rel=0.15), (kind, r_half)


def test_same_seed_gives_identical_galaxies():
    ren = FourierRenderer(48, 0.2)
    a, b = _population(7, 12, bands=BANDS), _population(7, 12, bands=BANDS)
    for ga, gb in zip(a, b):
        for f in dataclasses.fields(ga):
            if f.name != "components":
                np.testing.assert_equal(getattr(ga, f.name), getattr(gb, f.name))
        assert np.array_equal(render(ren, ga, zp=ZP), render(ren, gb, zp=ZP))
    assert a[0].r_half != _population(8, 1, bands=BANDS)[0].r_half


def test_kimages_of_several_galaxies_add_and_centre_places_them():
    ren = FourierRenderer(64, 0.2)
    psf_k = np.array([ren.psf(galsim.Kolmogorov(fwhm=0.8))] * 2)
    rng = np.random.default_rng(8)
    gals = [draw_galaxy(rng, 22.0, ("r", "i"), kind=k) for k in ("irregular", "elliptical")]
    centres = [(-1.3, 0.45), (2.1, -0.7)]
    field = render_k(ren, [kimage(ren, g, ZP, centre=c) for g, c in zip(gals, centres)], psf_k)
    each = [render(ren, g, psf_k, zp=ZP, centre=c) for g, c in zip(gals, centres)]
    assert np.allclose(field, each[0] + each[1], atol=1e-9 * field.max())
    # a smooth, symmetric galaxy's light is centred on its position
    img = each[1][1]
    y, x = (np.mgrid[:64, :64] - 31.5) * 0.2
    assert (img * x).sum() / img.sum() == pytest.approx(2.1, abs=0.02)
    assert (img * y).sum() / img.sum() == pytest.approx(-0.7, abs=0.02)
    # bands chosen by index
    one = render(ren, gals[0], psf_k[1:], zp=ZP, bidx=[1], centre=centres[0])
    assert np.allclose(one[0], each[0][1])


def test_recolour_sets_the_colours_of_a_role_and_keeps_the_reference_flux():
    rng = np.random.default_rng(9)
    g = draw_galaxy(rng, 22.0, BANDS, kind="disk", bulge_fraction=0.5, n_arms=0)
    offsets = {"bulge": np.array([1.5, 0.7, 0.0, -0.3])}
    new = recolour(g, offsets)
    bulge = next(c for c in new.components if c.role == "bulge")
    assert np.allclose(bulge.mags - bulge.mags[2], offsets["bulge"])
    assert new.mags[2] == pytest.approx(g.mag)
    disk_old = next(c for c in g.components if c.role == "disk")
    disk_new = next(c for c in new.components if c.role == "disk")
    assert np.array_equal(disk_old.mags, disk_new.mags)


def test_bad_arguments_are_refused():
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError, match="kind"):
        draw_galaxy(rng, 22.0, kind="spiral")
    with pytest.raises(ValueError, match="bands"):
        draw_galaxy(rng, 22.0, bands=("VIS",))
    with pytest.raises(ValueError, match="mag"):
        draw_galaxy(rng, float("nan"))
    with pytest.raises(ValueError, match="bulge_fraction"):
        draw_galaxy(rng, 22.0, kind="disk", bulge_fraction=1.5)
    with pytest.raises(ValueError, match="r_half"):
        draw_galaxy(rng, 22.0, r_half=0.0)
