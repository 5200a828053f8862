"""The morphology simulator's ``population="rich"``: classes drawn from the shared population."""

import numpy as np
import pytest
from astropy.io import fits
from astropy.table import Table
from cli_runner import run
from skimage.io import imread

pytest.importorskip("galsim")

from astrocnn.sim.galaxies import FourierRenderer  # noqa: E402
from astrocnn.tasks.morphology import simulate as morph  # noqa: E402
from astrocnn.tasks.morphology.simulate import CLASSES, SAMPLES, simulate_morphology  # noqa: E402

N, SEED, SIZE = 16, 5, 48


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """The same seed drawn classic and rich."""
    out = {}
    for population in ("classic", "rich"):
        outdir = tmp_path_factory.mktemp(population)
        table = simulate_morphology(N, SEED, outdir, size=SIZE, population=population)
        cubes = np.stack([fits.getdata(outdir / f).astype(float) for f in table["file"]])
        out[population] = (outdir, table, cubes)
    return out


def _labels(table):
    return np.asarray(table["label"]).astype(str)


def _draw(label, overlap="", n=12, seed=0):
    """``n`` rich galaxies of a class (before their colours), with their sample sizes."""
    rng = np.random.default_rng(seed)
    return [morph._RICH[label](rng, 16.5, 2.0, overlap)[0] for _ in range(n)]


def _roles(gal):
    return {c.role for c in gal.components}


def test_rich_keeps_labels_magnitudes_and_conditions(runs):
    _, classic, _ = runs["classic"]
    outdir, rich, cubes = runs["rich"]
    assert rich.meta["POPULATN"] == "rich" and "POPULATN" not in classic.meta
    assert rich.colnames == classic.colnames
    # the labels and each object's magnitude, seeing and centre come first in its stream
    np.testing.assert_array_equal(_labels(rich), _labels(classic))
    for name in ("mag_r", "psf_fwhm_r", "position_angle"):
        np.testing.assert_array_equal(rich[name], classic[name])
    assert sorted(set(_labels(rich))) == sorted(CLASSES)
    assert not np.allclose(cubes, runs["classic"][2])  # the galaxies are new
    on_disk = Table.read(outdir / "catalog.fits")
    assert on_disk.meta["POPULATN"] == "rich"


def test_rich_fluxes_match_the_magnitudes(runs):
    _, table, cubes = runs["rich"]
    flux_r = cubes[:, 1].sum(axis=(1, 2))
    expected = 10 ** (-0.4 * (np.asarray(table["mag_r"]) - morph.MAGZP))
    # sky noise and the wings of big galaxies beyond a 48-pixel stamp
    assert np.all(np.abs(flux_r / expected - 1) < 0.35), flux_r / expected
    assert np.median(np.abs(flux_r / expected - 1)) < 0.15


def test_rich_classes_keep_their_colours_and_shapes(runs):
    _, table, cubes = runs["rich"]
    labels = _labels(table)
    g_r = -2.5 * np.log10(cubes[:, 0].sum(axis=(1, 2)) / cubes[:, 1].sum(axis=(1, 2)))
    assert np.median(g_r[labels == "elliptical"]) > np.median(g_r[labels == "spiral"]) + 0.1
    q = np.asarray(table["axis_ratio"])
    assert np.all(q[labels == "edge_on"] < 0.35)
    assert np.median(q[labels == "edge_on"]) < np.median(q[labels == "elliptical"]) - 0.3


def test_spirals_have_arms_and_disks():
    for gal in _draw("spiral"):
        assert gal.kind == "disk" and gal.n_arms >= 2 and "arms" in _roles(gal)
        assert gal.bulge_fraction < 0.7 and gal.inclination < 70
        arms = sum(c.frac for c in gal.components if c.role == "arms")
        assert arms > 0.1  # raised towards the classic spirals' 25-45 %
        assert gal.r_half == pytest.approx(2.0)
    inclined = _draw("spiral", "inclined")
    assert all(65 <= g.inclination <= 80 for g in inclined)
    assert all(0.4 <= g.bulge_fraction <= 0.7 for g in _draw("spiral", "early"))


def test_ellipticals_are_spheroids_or_smooth_s0s():
    gals = _draw("elliptical", n=30)
    for gal in gals:
        assert gal.n_arms == 0 and not gal.has_bar
        assert gal.kind == "elliptical" or gal.bulge_fraction >= 0.8
    kinds = [g.kind for g in gals]
    assert 0 < kinds.count("disk") < kinds.count("elliptical")
    assert all(0.6 <= g.bulge_fraction <= 0.8 for g in _draw("elliptical", "overlap"))


def test_edge_on_disks_are_thin_and_as_long_as_classic_ones():
    for gal in _draw("edge_on"):
        assert gal.kind == "disk" and gal.inclination >= 80 and gal.bulge_fraction < 0.5
        assert gal.axis_ratio < 0.35
        # circularised r_half: a major axis about as long as the 2" face-on size
        assert gal.r_half / np.sqrt(gal.axis_ratio) == pytest.approx(2.0, rel=1e-6)
    assert all(g.inclination >= 72 for g in _draw("edge_on", "overlap"))


def test_rich_galaxy_is_turned_to_the_position_angle():
    ren = FourierRenderer(64, 0.262)
    rng = np.random.default_rng(3)
    beta = np.radians(30.0)
    smooth, points, _, q = morph._rich_components(
        rng, ren, SAMPLES["decals"], "edge_on", 16.0, 1.0, beta, 0.0, 0.0
    )
    img = ren.render(smooth, points, np.ones((4, *ren.k2.shape)))[1]
    yy, xx = np.mgrid[:64, :64] - 31.5
    w = img / img.sum()
    cxx, cyy, cxy = (w * xx * xx).sum(), (w * yy * yy).sum(), (w * xx * yy).sum()
    angle = 0.5 * np.degrees(np.arctan2(2 * cxy, cxx - cyy))
    assert angle == pytest.approx(30.0, abs=3.0) and q < 0.35


def test_rich_survey_presets_and_colour_composites(tmp_path):
    table = simulate_morphology(
        8, 2, tmp_path, size=48, survey="sdss", image_format="jpeg", population="rich"
    )
    assert table.meta["SAMPLE"] == "sdss" and table.meta["POPULATN"] == "rich"
    assert table.meta["BANDS"] == "i,r,g"
    for name in table["file"]:
        rgb = imread(tmp_path / name)
        assert rgb.shape == (48, 48, 3) and rgb.dtype == np.uint8 and rgb.max() > 50
    hsc = simulate_morphology(4, 2, tmp_path / "hsc", size=32, survey="hsc", population="rich")
    header = fits.getheader(tmp_path / "hsc" / hsc["file"][0])
    assert header["BANDS"] == "g,r,i,z,y" and hsc.meta["SAMPLE"] == "deep"


def test_rich_is_deterministic_and_label_noise_applies(tmp_path):
    kw = dict(size=32, population="rich", label_noise=0.5, classes=("spiral", "merger"))
    a = simulate_morphology(6, 9, tmp_path / "a", **kw)
    b = simulate_morphology(6, 9, tmp_path / "b", **kw)
    for name in a["file"]:
        np.testing.assert_array_equal(
            fits.getdata(tmp_path / "a" / name), fits.getdata(tmp_path / "b" / name)
        )
    assert set(np.asarray(a["true_label"]).astype(str)) <= {"spiral", "merger"}
    assert np.array_equal(np.asarray(a["r_half"]), np.asarray(b["r_half"]))


def test_cli_population_option(tmp_path):
    run("simulate", "morphology", "--n", 4, "--seed", 1, "--out", tmp_path, "--size", 32,
        "--population", "rich", "--quiet")  # fmt: skip
    assert Table.read(tmp_path / "catalog.fits").meta["POPULATN"] == "rich"
    result = run("simulate", "morphology", "--n", 4, "--out", tmp_path / "bad",
                 "--population", "fancy", "--quiet", ok=False)  # fmt: skip
    assert result.exit_code == 2 and "fancy" in result.output
    with pytest.raises(ValueError, match="population must be one of classic, rich"):
        simulate_morphology(2, 0, tmp_path / "bad2", population="fancy")
