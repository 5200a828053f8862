"""The photo-z simulator's ``population="rich"``: shapes from the shared population, colours
from the SED templates."""

import galsim
import numpy as np
import pytest
from astropy.io import fits
from astropy.table import Table
from cli_runner import run

pytest.importorskip("galsim")

from astrocnn.sim.galaxies import FourierRenderer  # noqa: E402
from astrocnn.sim.lsst import Imaging  # noqa: E402
from astrocnn.sim.population import KINDS  # noqa: E402
from astrocnn.sim.surveys import SURVEYS  # noqa: E402
from astrocnn.tasks.photoz import simulate as pz  # noqa: E402
from astrocnn.tasks.photoz.simulate import ALL_BANDS, MAGZP, simulate_photoz  # noqa: E402

N, SEED = 12, 7
CLASSIC_COLUMNS = ["z", "sed_type", "ebv", "mag_i"]  # what the rich run keeps


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    out = {}
    for population in ("classic", "rich"):
        outdir = tmp_path_factory.mktemp(population)
        out[population] = outdir, simulate_photoz(N, SEED, outdir, population=population)
    return out


@pytest.fixture(scope="module")
def drawn():
    """300 rich galaxies (truths, Galaxy) in LSST u-y, no images."""
    rng = np.random.default_rng(11)
    imaging = Imaging(None, None, pz.SEEING_RANGE)
    return [pz._rich_galaxy(rng, 1.9, imaging) for _ in range(300)]


def _str(table, name):
    return np.asarray(table[name]).astype(str)


def test_rich_keeps_redshifts_types_and_magnitudes(runs):
    _, classic = runs["classic"]
    outdir, rich = runs["rich"]
    assert rich.meta["POPULATN"] == "rich" and "POPULATN" not in classic.meta
    assert rich.colnames == [*classic.colnames[:4], "kind", *classic.colnames[4:]]
    # the same stream draws i, z, SED type and E(B-V) before the structure
    np.testing.assert_array_equal(_str(rich, "sed_type"), _str(classic, "sed_type"))
    for name in ("z", "ebv"):
        np.testing.assert_array_equal(rich[name], classic[name])
    np.testing.assert_allclose(rich["mag_i"], classic["mag_i"], atol=1e-9)
    assert set(_str(rich, "kind")) <= set(KINDS)
    table = Table.read(outdir / "catalog.fits")
    assert table.meta["POPULATN"] == "rich" and table.colnames == rich.colnames
    cube = fits.getdata(outdir / rich["file"][0])
    assert cube.shape == (6, 32, 32) and cube.dtype.itemsize == 4


def test_rich_fitted_magnitudes_follow_the_truth(runs):
    _, rich = runs["rich"]
    pull = (np.asarray(rich["obs_mag_i"]) - rich["mag_i"]) / rich["obs_magerr_i"]
    assert np.mean(np.abs(pull) < 3) > 0.8 and abs(np.median(pull)) < 1.0


def test_rich_is_deterministic(runs, tmp_path):
    outdir, rich = runs["rich"]
    again = simulate_photoz(3, SEED, tmp_path, population="rich")
    for name in again.colnames:
        np.testing.assert_array_equal(np.asarray(again[name]), np.asarray(rich[name][:3]))
    for name in again["file"]:
        np.testing.assert_array_equal(fits.getdata(tmp_path / name), fits.getdata(outdir / name))


def test_noiseless_photometry_matches_the_sed_magnitudes(drawn):
    """Every band's rendered total is the catalogue's SED magnitude within 0.05 mag (the
    colours for all; the magnitudes where the stamp holds the de Vaucouleurs wings)."""
    imaging = Imaging(None, None, pz.SEEING_RANGE)
    ren = FourierRenderer(96, 0.2)
    psf_k = np.array([ren.psf(galsim.Kolmogorov(fwhm=0.7))] * 6)
    checked = 0
    for truth, gal in drawn[:60]:
        model, total = pz._noiseless(ren, gal, psf_k, np.array([0.05, -0.07]), imaging)
        got = MAGZP - 2.5 * np.log10(model.sum(axis=(1, 2)))
        want = np.array([truth[f"mag_{b}"] for b in ALL_BANDS])
        np.testing.assert_allclose(np.diff(got), np.diff(want), atol=0.05, err_msg=str(truth))
        if truth["r_half"] < 0.6:
            np.testing.assert_allclose(got, want, atol=0.05, err_msg=str(truth))
            checked += 1
        np.testing.assert_allclose(MAGZP - 2.5 * np.log10(total), want, atol=1e-9)
    assert checked > 40


def test_colours_are_the_templates(drawn):
    """One-SED galaxies (E, Im) have their template's colours; the others lie between the
    templates of their components (E bulges and bars, Im knots, their own disks)."""
    seen = set()
    for truth, gal in drawn:
        mags = np.array([truth[f"mag_{b}"] for b in ALL_BANDS])
        z, ebv, sed = truth["z"], truth["ebv"], truth["sed_type"]
        templates = {s: pz.band_magnitudes(s, z, ebv) for s in ("E", sed, "Im")}
        colours = {s: np.diff(m) for s, m in templates.items()}
        if sed in ("E", "Im"):
            np.testing.assert_allclose(np.diff(mags), colours[sed], atol=1e-6)
        else:
            lo = np.min(list(colours.values()), axis=0)
            hi = np.max(list(colours.values()), axis=0)
            assert np.all((np.diff(mags) > lo - 1e-6) & (np.diff(mags) < hi + 1e-6)), truth
        assert truth["mag_i"] == pytest.approx(gal.mag, abs=1e-9)
        seen.add(sed)
    assert seen == set(pz.SED_TYPES)


def test_structure_follows_the_sed_type(drawn):
    for truth, gal in drawn:
        sed, kind = truth["sed_type"], truth["kind"]
        assert kind == gal.kind
        if sed == "Im":
            assert kind in ("irregular", "compact")
        elif sed == "E":
            assert kind == "elliptical" or (kind == "disk" and gal.n_arms == 0)
        else:
            lo, hi = pz.RICH_BULGE[sed]
            assert kind == "disk" and lo <= truth["bulge_fraction"] <= hi
    kinds = [t["kind"] for t, _ in drawn]
    assert all(kinds.count(k) > 0 for k in KINDS)
    # some disks have arms, bars or knots, and irregulars all have knots
    disks = [g for t, g in drawn if t["kind"] == "disk"]
    assert any(g.n_arms for g in disks) and any(g.has_bar for g in disks)
    assert all(g.knot_fraction >= 0.2 for t, g in drawn if t["kind"] == "irregular")


def test_sizes_are_compact_and_follow_luminosity_and_distance(drawn):
    r = np.array([t["r_half"] for t, _ in drawn])
    mag = np.array([t["mag_i"] for t, _ in drawn])
    kinds = np.array([t["kind"] for t, _ in drawn])
    assert np.all((r > 0) & (r <= 1.9))
    assert 0.2 < np.median(r) < 0.45  # HST COSMOS: 0.27" at i = 23-24
    compact = r[kinds == "compact"]
    assert np.all((compact >= 0.1) & (compact < 0.4)) and 0.1 < np.median(compact) < 0.2
    bright = (mag < 22) & (kinds != "compact")
    assert np.median(r[bright]) > np.median(r[mag > 24])
    # the K-corrected relation: a galaxy of one luminosity is smaller farther away
    for sed in pz.SED_TYPES:
        near, far = (pz._rich_size(np.random.default_rng(1), "disk", sed, -21.0, zz, 23.0)
                     for zz in (0.3, 1.2))  # fmt: skip
        assert far < 0.7 * near


def test_rich_with_a_survey(tmp_path):
    table = simulate_photoz(3, 2, tmp_path, survey=SURVEYS["euclid"], population="rich")
    assert table.meta["POPULATN"] == "rich" and table.meta["MAGBAND"] == "VIS"
    assert {"mag_VIS", "mag_H", "kind"} <= set(table.colnames)
    assert fits.getdata(tmp_path / table["file"][0]).shape[0] == 4


def test_cli_population_option(tmp_path):
    run("simulate", "photoz", "--n", 2, "--seed", 1, "--out", tmp_path, "--population", "rich",
        "--quiet")  # fmt: skip
    table = Table.read(tmp_path / "catalog.fits")
    assert table.meta["POPULATN"] == "rich" and "kind" in table.colnames
    with pytest.raises(ValueError, match="population must be one of classic, rich"):
        simulate_photoz(2, 0, tmp_path / "bad", population="fancy")
