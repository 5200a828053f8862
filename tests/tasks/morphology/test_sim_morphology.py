"""Tests for the Galaxy Zoo style morphology simulator `astrocnn.tasks.morphology.simulate`."""

import numpy as np
import pytest
from astropy.io import fits
from astropy.table import Table
from astropy.wcs import WCS
from skimage.io import imread

pytest.importorskip("galsim")

from astrocnn.tasks.morphology.simulate import CLASSES, MAGZP, simulate_morphology  # noqa: E402

N, SEED, SIZE = 40, 3, 64
COLUMNS = [
    "id",
    "file",
    "label",
    "mag_r",
    "r_half",
    "axis_ratio",
    "position_angle",
    "psf_fwhm_r",
    "ra",
    "dec",
]
YY, XX = np.mgrid[:SIZE, :SIZE] - (SIZE - 1) / 2


@pytest.fixture(scope="module")
def sim(tmp_path_factory):
    outdir = tmp_path_factory.mktemp("morph")
    table = simulate_morphology(N, SEED, outdir)
    cubes = np.stack([fits.getdata(outdir / f) for f in table["file"]])
    return outdir, table, cubes


def _column(table, name):
    col = np.asarray(table[name])
    return col.astype(str) if col.dtype.kind in "SU" else col  # FITS strings read as bytes


def _tables_equal(a, b):
    return all(np.array_equal(_column(a, c), _column(b, c)) for c in COLUMNS)


def _moments(img, frac=0.1):
    """Axis ratio, rms radius [px] and major-axis angle [deg from +x] of the pixels
    brighter than ``frac`` of the peak (weighted by their flux)."""
    w = np.where(img > frac * img.max(), img, 0.0)
    s = w.sum()
    mx, my = (w * XX).sum() / s, (w * YY).sum() / s
    cxx = (w * (XX - mx) ** 2).sum() / s
    cyy = (w * (YY - my) ** 2).sum() / s
    cxy = (w * (XX - mx) * (YY - my)).sum() / s
    lo, hi = np.linalg.eigvalsh([[cxx, cxy], [cxy, cyy]])
    theta = 0.5 * np.degrees(np.arctan2(2 * cxy, cxx - cyy))
    return np.sqrt(lo / hi), np.sqrt(lo + hi), theta


def _by_class(table, values):
    labels = _column(table, "label")
    return {c: np.asarray(values)[labels == c] for c in CLASSES}


def test_catalogue_columns_and_meta(sim):
    outdir, table, _ = sim
    assert CLASSES == ("elliptical", "spiral", "edge_on", "merger")
    assert table.colnames == COLUMNS
    assert table["id"].dtype == np.int64 and list(table["id"]) == list(range(N))
    assert table.meta["SIMULATR"] == "astrocnn.tasks.morphology.simulate"
    assert table.meta["SEED"] == SEED and table.meta["PIXSCALE"] == 0.262
    assert table.meta["BANDS"] == "g,r,i" and table.meta["CLASSES"] == ",".join(CLASSES)
    assert np.all((table["mag_r"] >= 15) & (table["mag_r"] <= 18))
    assert np.all((table["r_half"] >= 1) & (table["r_half"] <= 4))
    assert np.all((table["axis_ratio"] > 0) & (table["axis_ratio"] <= 1))
    assert np.all((table["position_angle"] >= 0) & (table["position_angle"] < 180))
    assert np.all((table["psf_fwhm_r"] > 0.9) & (table["psf_fwhm_r"] < 1.6))
    on_disk = Table.read(outdir / "catalog.fits")
    assert _tables_equal(table, on_disk)
    assert on_disk.meta["SIMULATR"] == "astrocnn.tasks.morphology.simulate"


def test_classes_balanced(sim, tmp_path):
    _, table, _ = sim
    counts = {c: int(np.sum(_column(table, "label") == c)) for c in CLASSES}
    assert counts == {c: N // 4 for c in CLASSES}
    small = simulate_morphology(6, 1, tmp_path)
    assert sorted(np.unique(small["label"], return_counts=True)[1]) == [1, 1, 2, 2]


def test_fits_cutouts(sim):
    outdir, table, cubes = sim
    assert cubes.shape == (N, 3, SIZE, SIZE) and cubes.dtype.kind == "f"
    assert np.all(np.isfinite(cubes))
    with fits.open(outdir / table["file"][5]) as hdul:
        assert hdul[0].data.dtype == np.dtype(">f4") and hdul[0].data.shape == (3, SIZE, SIZE)
        hdr = hdul[0].header
        assert hdr["BANDS"] == "g,r,i" and hdr["PIXSCALE"] == 0.262 and hdr["MAGZP"] == MAGZP
        assert hdr["OBJECT"] == "5"
        wcs = WCS(hdr, naxis=2)
        assert wcs.has_celestial
        ra, dec = wcs.wcs_pix2world([[(SIZE - 1) / 2, (SIZE - 1) / 2]], 0)[0]
        assert np.isclose(ra, table["ra"][5]) and np.isclose(dec, table["dec"][5])
    assert table["file"][5] == "cutouts/morph_000005.fits"


def test_fluxes_match_catalogue(sim):
    _, table, cubes = sim
    expected = 10 ** (-0.4 * (np.asarray(table["mag_r"]) - MAGZP))
    ratio = cubes[:, 1].sum(axis=(1, 2)) / expected
    # light outside the 16.8" stamp is lost (most for big de Vaucouleurs profiles)
    assert np.all((ratio > 0.7) & (ratio < 1.05)), ratio


def test_determinism(sim, tmp_path):
    outdir, table, cubes = sim
    again = simulate_morphology(N, SEED, tmp_path / "a")
    assert _tables_equal(table, again)
    for f in table["file"][:8]:
        assert (outdir / f).read_bytes() == (tmp_path / "a" / f).read_bytes()
    other = simulate_morphology(N, SEED + 1, tmp_path / "b")
    assert not np.array_equal(np.asarray(other["mag_r"]), np.asarray(table["mag_r"]))
    assert not np.array_equal(fits.getdata(tmp_path / "b" / other["file"][0]), cubes[0])


@pytest.mark.parametrize("fmt, ext", [("jpeg", "jpg"), ("png", "png")])
def test_colour_images(tmp_path, fmt, ext):
    table = simulate_morphology(8, 5, tmp_path, image_format=fmt)
    assert not (tmp_path / "cutouts").exists()
    assert list(table["file"]) == [f"images/morph_{i:06d}.{ext}" for i in range(8)]
    imgs = np.stack([imread(tmp_path / f) for f in table["file"]])
    assert imgs.shape == (8, SIZE, SIZE, 3) and imgs.dtype == np.uint8
    assert imgs.max() > 100  # galaxies are visible with the fixed stretch
    corners = imgs[:, :4, :4].astype(float)
    assert corners.mean() < 20  # dark sky
    again = simulate_morphology(8, 5, tmp_path / "again", image_format=fmt)
    for f in again["file"]:
        assert (tmp_path / f).read_bytes() == (tmp_path / "again" / f).read_bytes()


def test_ellipticals_redder_than_spirals(sim):
    _, table, cubes = sim
    centre = XX**2 + YY**2 < 3**2
    g_over_r = cubes[:, 0][:, centre].sum(axis=1) / cubes[:, 1][:, centre].sum(axis=1)
    col = _by_class(table, g_over_r)
    # g - r = 0.75-0.9 -> g/r = 0.44-0.50 for ellipticals, bluer disks for spirals
    assert col["elliptical"].mean() < col["spiral"].mean() - 0.05
    assert np.all((col["elliptical"] > 0.40) & (col["elliptical"] < 0.53))


def test_edge_on_flatter_than_ellipticals(sim):
    _, table, cubes = sim
    q = _by_class(table, [_moments(c[1])[0] for c in cubes])
    assert q["edge_on"].mean() < 0.6 < q["elliptical"].mean()
    assert q["edge_on"].max() < q["elliptical"].min()


def test_edge_on_position_angle(sim):
    _, table, cubes = sim
    edge = _column(table, "label") == "edge_on"
    theta = np.array([_moments(c[1])[2] for c in cubes[edge]])
    # position angle is east of north with north = +y and east = -x
    diff = (theta - 90.0 - np.asarray(table["position_angle"][edge]) + 90.0) % 180.0 - 90.0
    assert np.all(np.abs(diff) < 5.0), diff


def test_mergers_more_extended_than_ellipticals(sim):
    _, table, cubes = sim
    extent = _by_class(table, [_moments(c[1])[1] for c in cubes])
    assert extent["merger"].mean() > 1.3 * extent["elliptical"].mean()


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(n=0), "n must be"),
        (dict(n=2.5), "n must be"),
        (dict(seed=-1), "seed must be"),
        (dict(size=8), "size must be"),
        (dict(pixel_scale=0.0), "pixel_scale must be"),
        (dict(bands=("g", "g")), "bands must be"),
        (dict(bands=("u",)), "bands must be"),
        (dict(image_format="tiff"), "image_format must be"),
        (dict(bands=("g", "r"), image_format="jpeg"), "needs bands g, r and i"),
        (dict(classes=("spiral",)), "classes must be"),
        (dict(classes=("spiral", "blob")), "classes must be"),
        (dict(label_noise=1.0), "label_noise must be"),
        (dict(survey="hubble"), "survey must be"),
    ],
)
def test_bad_arguments(tmp_path, kwargs, match):
    args = dict(n=4, seed=0, outdir=tmp_path) | kwargs
    with pytest.raises(ValueError, match=match):
        simulate_morphology(**args)
    assert not (tmp_path / "catalog.fits").exists()


def test_sdss_stand_in_survey_classes_and_label_noise(tmp_path):
    """The Galaxy Zoo stand-in: SDSS pixel scale and depth, three classes, and a
    fraction of labels swapped (true_label keeps the simulated class)."""
    from astrocnn.sim.surveys import SURVEYS

    classes = ("elliptical", "spiral", "edge_on")
    table = simulate_morphology(
        60, 1, tmp_path, size=48, survey="sdss", classes=classes, label_noise=0.3
    )
    assert table.meta["PIXSCALE"] == SURVEYS["sdss"].pixel_scale == 0.396
    assert table.meta["SURVEY"] == "sdss" and table.meta["CLASSES"] == ",".join(classes)
    true, said = _column(table, "true_label"), _column(table, "label")
    assert set(true) == set(classes) and set(said) <= set(classes)
    assert 0.1 < np.mean(true != said) < 0.5  # 30 % swapped, give or take 60 draws
    header = fits.getheader(tmp_path / table["file"][0])
    assert header["LABEL"] == said[0]  # the file says what the catalogue says
    # SDSS is shallower than DECaLS: more noise per pixel in r at the same pixel scale
    decals = simulate_morphology(2, 1, tmp_path / "decals", size=48, pixel_scale=0.396)
    assert (
        header["SKYSIG_R"] > 2 * fits.getheader(tmp_path / "decals" / decals["file"][0])["SKYSIG_R"]
    )
    clean = simulate_morphology(6, 1, tmp_path / "clean", size=48, survey="sdss", classes=classes)
    assert "true_label" not in clean.colnames
