"""The lens simulator's rich galaxy population (``population="rich"``, ``astrocnn simulate
lens --population rich``): population sources, deflectors and non-lenses, the S/N
selection, survey presets, and the classic population left as it was."""

import numpy as np
import pytest
from astropy.io import fits
from astropy.table import Table
from cli_runner import run

from astrocnn.sim.population import SIZE_SLOPE, draw_galaxy
from astrocnn.sim.surveys import SURVEYS
from astrocnn.tasks.lens.simulate import (
    ALL_BANDS,
    _flux,
    _Renderer,
    _rich_source,
    _source_plane,
    simulate_lens,
)

SEED = 9  # its 6 non-lenses of 12 hold two spirals and two companions
RICH_COLUMNS = [
    "host_kind",
    "host_r_half",
    "host_n_arms",
    "src_kind",
    "src_r_half",
    "src_knot_fraction",
]


@pytest.fixture(scope="module")
def rich(tmp_path_factory):
    outdir = tmp_path_factory.mktemp("rich")
    return outdir, simulate_lens(12, SEED, outdir, size=48, population="rich")


def _straight(ren):
    """Rays that are not deflected: the source plane is the image plane."""
    return ren.x, ren.y


@pytest.fixture(scope="module")
def sources():
    """(first magnitude, arc(mag)) of 40 population sources, unlensed (the rays go
    straight: the stamp shows the source itself) and without PSF."""
    ren = _Renderer(48, 0.2)
    rng = np.random.default_rng(3)
    centre = dict(cx=0.0, cy=0.0)
    draw = [
        _rich_source(rng, ren, _straight, centre, 0.0, np.zeros(4), [0, 1, 2, 3]) for _ in range(40)
    ]
    return ren, draw


def test_catalogue_columns_and_cards(rich):
    outdir, table = rich
    assert table.colnames[8:14] == RICH_COLUMNS and table.colnames[-2:] == ["ra", "dec"]
    assert table.meta["POPULAT"] == "rich"
    assert fits.getheader(outdir / table["file"][0])["POPULAT"] == "rich"
    assert table["host_r_half"].unit == "arcsec" and table["src_r_half"].unit == "arcsec"
    on_disk = Table.read(outdir / "catalog.fits")
    assert on_disk.colnames == table.colnames
    cubes = np.stack([fits.getdata(outdir / f) for f in table["file"]])
    assert cubes.shape == (12, 4, 48, 48) and np.isfinite(cubes).all()


def test_lenses_meet_the_selection(rich):
    table = rich[1]
    lenses = table[table["label"] == 1]
    assert len(lenses) == 6 and np.all(lenses["arc_snr"] >= 20.0)
    assert set(lenses["src_kind"]) <= {"disk", "irregular", "compact"}  # no red sources
    assert np.all(lenses["src_r_half"] >= 0.1) and np.all(np.isfinite(lenses["src_mag_i"]))
    # the source is drawn at a magnitude of 21-25.5 and may only have been brightened
    assert np.all(lenses["src_mag_i"] <= 25.5)
    assert set(table["host_kind"]) <= {"elliptical", "disk"}
    others = table[table["label"] == 0]
    assert np.all(others["src_kind"] == "") and np.all(np.isnan(others["src_r_half"]))


def test_negatives_include_spirals_with_arms(rich):
    table = rich[1]
    spirals = table[table["kind"] == "spiral"]
    assert len(spirals) == 2 and np.all(spirals["host_kind"] == "disk")
    assert np.all(spirals["host_n_arms"] >= 2)
    hosts = table[np.isin(table["kind"], ["lens", "elliptical", "companion"])]
    assert np.all(hosts["host_n_arms"] == 0)  # deflector-like hosts have no arms


def test_sources_are_compact_and_clumpy(sources):
    _, draw = sources
    columns = [arc(mag)[1] for mag, arc in draw]
    r_half = np.array([c["src_r_half"] for c in columns])
    kinds = [c["src_kind"] for c in columns]
    knots = np.array([c["src_knot_fraction"] for c in columns])
    assert 0.1 <= np.median(r_half) <= 0.4 and r_half.min() >= 0.1
    assert "irregular" in kinds and "elliptical" not in kinds
    assert np.mean(knots > 0) >= 0.3  # irregulars and clumpy disks


def test_sources_keep_their_flux(sources):
    """Unlensed, the rendered source holds its i flux (to the sampling of the
    supersampled grid: a compact source is its worst case) and grows along the
    size-magnitude relation when brightened."""
    ren, draw = sources
    ratios = []
    for mag, arc in draw:
        image, columns = arc(mag)
        ratios.append(image[2].sum() / _flux(mag, zp=ren.zp))
        brighter = arc(mag - 1.0)[1]["src_r_half"] / columns["src_r_half"]
        assert brighter == pytest.approx(min(10**SIZE_SLOPE, 3.0 / columns["src_r_half"]))
    assert np.median(ratios) == pytest.approx(1.0, abs=0.01)
    assert np.all(np.abs(np.array(ratios) - 1) < 0.05)


def test_source_plane_keeps_the_colours():
    gal = draw_galaxy(np.random.default_rng(1), 24.0, ALL_BANDS, "disk", n_arms=2)
    maps, h = _source_plane(gal, 0.1)
    total = sum(sb.sum() * h**2 * flux for sb, flux in maps)
    assert np.allclose(total, 10 ** (-0.4 * (gal.mags - gal.mag)))
    assert all(np.all(sb >= 0) for sb, _ in maps)


def test_survey_preset(tmp_path):
    table = simulate_lens(4, 2, tmp_path, size=32, survey=SURVEYS["hsc"], population="rich")
    hdr = fits.getheader(tmp_path / table["file"][0])
    assert hdr["BANDS"] == "g,r,i,z,y" and hdr["POPULAT"] == "rich"
    assert table.meta["SURVEY"] == "hsc" and set(RICH_COLUMNS) <= set(table.colnames)
    assert np.all(table["arc_snr"][table["label"] == 1] >= 20.0)
    cubes = np.stack([fits.getdata(tmp_path / f) for f in table["file"]])
    assert cubes.shape == (4, 5, 32, 32) and np.isfinite(cubes).all()


def test_classic_is_the_default(tmp_path):
    default = simulate_lens(4, 1, tmp_path / "a", size=32)
    classic = simulate_lens(4, 1, tmp_path / "b", size=32, population="classic")
    assert default.colnames == classic.colnames and "POPULAT" not in classic.meta
    for a, b in zip(default["file"], classic["file"]):
        assert np.array_equal(fits.getdata(tmp_path / "a" / a), fits.getdata(tmp_path / "b" / b))
        assert "POPULAT" not in fits.getheader(tmp_path / "b" / b)


@pytest.mark.parametrize("population", ["smooth", None, 1])
def test_bad_population_raises(tmp_path, population):
    with pytest.raises(ValueError, match="population"):
        simulate_lens(2, 0, tmp_path, population=population)


def test_cli_option(tmp_path):
    out = tmp_path / "rich"
    args = ["--n", 2, "--seed", 1, "--size", 32, "--population", "rich", "--quiet"]
    run("simulate", "lens", "--out", out, *args)
    assert Table.read(out / "catalog.fits").meta["POPULAT"] == "rich"
    bad = run("simulate", "lens", "--out", tmp_path / "x", "--population", "x", ok=False)
    assert bad.exit_code != 0 and "--population" in bad.output
