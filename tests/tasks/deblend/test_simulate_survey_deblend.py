"""The deblend simulators rendering a survey (``survey=``, ``astrocnn simulate deblend
--survey``): bands, pixels, zero point, colours carried from g, r, i, per-scene seeing
and depth, the noise the cards state, and the default (LSST) output left as it was."""

import numpy as np
import pytest
from astropy.io import fits
from astropy.table import Table
from astropy.wcs import WCS
from cli_runner import run

pytest.importorskip("galsim")

from astrocnn.sim.surveys import SURVEYS  # noqa: E402
from astrocnn.tasks.deblend.simulate import (  # noqa: E402
    CENTRAL_MAG,
    simulate_deblend,
    simulate_field,
)
from astrocnn.tasks.registry import get_task  # noqa: E402

HSC, EUCLID = SURVEYS["hsc"], SURVEYS["euclid"]
HSC_BANDS = ("g", "r", "i", "z", "y")
SEED, SIZE = 4, 48
SURVEY_FILE = """\
name: mycam
pixel_scale: 0.25
zero_point: 28.5
unit: adu
reference_band: r
seeing_range: [0.7, 0.9]
depth_range: [-0.5, 0.5]
bands:
  r: {wavelength: 620, depth: 25.0, sky: 21.0, fwhm: 0.8}
  i: {wavelength: 760, depth: 24.5, sky: 20.2, fwhm: 0.75}
"""

# What `DeblendTask.simulate(2, 17, ...)` (LSST g, r, i, 64 pixels: the default model's
# training set-up) wrote before surveys existed: per float column the sum of
# (row + 1) * value, and per stamp and band the sum of squared pixels.
DEFAULT_COLUMNS = {
    "flux_true_g": 2827.000108029657,
    "flux_true_r": 8628.702216642876,
    "flux_true_i": 17017.173832332104,
    "mag_true_g": 74.9741091532187,
    "mag_true_r": 70.98668614919684,
    "mag_true_i": 68.5552016211542,
    "flux_stamp_g": 2799.1240953527013,
    "flux_stamp_r": 8546.196599875344,
    "flux_stamp_i": 16857.1043516153,
    "separation": 3.6630438318963874,
    "separation_rhalf": 5.4682132071287395,
    "delta_mag": -4.142396837126185,
    "r_half": 0.8371202200259861,
    "blendedness": 0.35189607368138476,
    "x_true": 93.84440197341219,
    "y_true": 94.4274586492433,
    "ra": 531.060797579071,
    "dec": -3.875153615475675,
}
DEFAULT_POWER = [
    [174653.18951714746, 1305980.6396834922, 4343064.0814222405],
    [6854.943477883049, 11259.158655460395, 46168.41349661375],
]


@pytest.fixture(scope="module")
def hsc(tmp_path_factory):
    outdir = tmp_path_factory.mktemp("hsc")
    return outdir, simulate_deblend(6, SEED, outdir, size=SIZE, survey=HSC)


def _headers(outdir, table):
    return [fits.getheader(outdir / f) for f in table["file"]]


def _stated(headers, bands):
    """(n, nband) SKYSIG_<BAND> of each file."""
    return np.array([[h[f"SKYSIG_{b.upper()}"[:8]] for b in bands] for h in headers])


def _noise(outdir, table, sigma):
    """Per band, the std of observed minus noiseless truth where the truth is below
    0.05 sigma (blank sky), in units of each stamp's stated sigma."""
    observed = np.stack([fits.getdata(outdir / f) for f in table["file"]]).astype(float)
    truth = [fits.open(outdir / f) for f in table["truth_file"]]
    model = np.stack([t["CENTRAL"].data + t["OTHERS"].data for t in truth]).astype(float)
    for t in truth:
        t.close()
    sigma = sigma[:, :, None, None]
    scaled, blank = (observed - model) / sigma, model < 0.05 * sigma
    return np.array([scaled[:, b][blank[:, b]].std() for b in range(observed.shape[1])])


def test_hsc_bands_pixels_and_cards(hsc):
    outdir, table = hsc
    header = fits.getheader(outdir / table["file"][0])
    assert header["BANDS"] == "g,r,i,z,y" and header["NAXIS3"] == 5 and header["NAXIS1"] == SIZE
    assert header["PIXSCALE"] == 0.168 and header["MAGZP"] == 27 and header["BUNIT"] == "count"
    assert header["SURVEY"] == "hsc" and header["DEPTHOFF"] == 0
    wcs = WCS(header, naxis=2)
    assert np.allclose(np.abs(wcs.proj_plane_pixel_scales()[0].to_value("arcsec")), 0.168)
    assert all(f"PSF_{b.upper()}" in header for b in HSC_BANDS)
    assert np.allclose(_stated([header], HSC_BANDS)[0], HSC.sky_sigma(), rtol=1e-5)
    with fits.open(outdir / table["truth_file"][0]) as truth:
        assert truth["CENTRAL"].header["BUNIT"] == "count"
        assert truth["CENTRAL"].header["MAGZP"] == 27
        assert "[count]" in truth[0].header.comments["SEGTHR"]
        assert truth[0].header["MAGI_1"] == pytest.approx(table["mag_true_i"][0], abs=1e-4)
    meta = table.meta
    assert (meta["SURVEY"], meta["REFBAND"], meta["MAGBAND"]) == ("hsc", "i", "i")
    assert meta["BANDS"] == "g,r,i,z,y" and meta["PIXSCALE"] == 0.168 and meta["MAGZP"] == 27
    assert [f"flux_true_{b}" for b in HSC_BANDS] == [
        c for c in table.colnames if c.startswith("flux_true_")
    ]
    assert table["flux_true_g"].unit == "ct"
    assert table.colnames[-6:] == ["psf_fwhm", "depth_offset", "x_true", "y_true", "ra", "dec"]
    assert table["psf_fwhm"].unit == "arcsec" and np.all(table["depth_offset"] == 0)
    psf_i = [h["PSF_I"] for h in _headers(outdir, table)]
    assert np.allclose(table["psf_fwhm"], psf_i, atol=1e-4)
    # the central's magnitude range is keyed to HSC i, at its zero point
    assert np.all((table["mag_true_i"] >= CENTRAL_MAG[0]) & (table["mag_true_i"] <= CENTRAL_MAG[1]))
    np.testing.assert_allclose(table["mag_true_i"], 27 - 2.5 * np.log10(table["flux_true_i"]))


def test_hsc_colours_are_carried_from_g_r_i(hsc):
    """HSC g, r lie near LSST g, r: a galaxy's g - r stays in the simulator's range, and
    z, y (beyond i) continue the red slope of the red populations or stay flat."""
    _, table = hsc
    g_r = np.asarray(table["mag_true_g"] - table["mag_true_r"])
    assert np.all((g_r > -0.2) & (g_r < 1.8)), g_r
    i_y = np.asarray(table["mag_true_i"] - table["mag_true_y"])
    assert np.all((i_y > -0.4) & (i_y < 1.0)), i_y


def test_hsc_measured_noise_is_the_stated_one(hsc):
    outdir, table = hsc
    sigma = _stated(_headers(outdir, table), HSC_BANDS)
    measured = _noise(outdir, table, sigma)
    assert np.allclose(measured, 1.0, atol=0.15), measured


def test_depth_draws_set_each_scenes_noise(tmp_path):
    """A deeper draw is less noisy, by 10**(-0.4 offset), and the cards say so."""
    survey = HSC.with_ranges(depth_range=(-1.0, 1.0))
    table = simulate_deblend(6, SEED, tmp_path, size=SIZE, survey=survey, galaxies=False)
    offset = np.asarray(table["depth_offset"])
    assert np.all(np.abs(offset) <= 1) and np.ptp(offset) > 0.5
    headers = _headers(tmp_path, table)
    assert np.allclose([h["DEPTHOFF"] for h in headers], offset, atol=1e-4)
    stated = _stated(headers, HSC_BANDS)
    expected = HSC.sky_sigma()[None, :] * 10 ** (-0.4 * offset[:, None])
    assert np.allclose(stated, expected, rtol=1e-5)
    assert np.allclose(_noise(tmp_path, table, stated), 1.0, atol=0.15)
    thresholds = [fits.getheader(tmp_path / f)["SEGTHR"] for f in table["truth_file"]]
    expected = np.sqrt((expected**2).sum(axis=1))  # one sigma of the band sum
    assert np.allclose(thresholds, expected, rtol=1e-4)


def test_euclid_scenes(tmp_path):
    table = simulate_deblend(2, SEED, tmp_path, size=SIZE, survey=EUCLID, galaxies=False)
    header = fits.getheader(tmp_path / table["file"][0])
    assert header["BANDS"] == "VIS,Y,J,H" and header["PIXSCALE"] == 0.1
    assert header["BUNIT"] == "uJy" and table["flux_true_VIS"].unit == "uJy"
    assert table.meta["MAGBAND"] == "VIS"
    assert np.all((table["mag_true_VIS"] >= CENTRAL_MAG[0]) & (table["mag_true_VIS"] <= 24.5))


def test_a_field_takes_a_survey(tmp_path):
    path = tmp_path / "field.fits"
    truth = simulate_field(3, path, shape=(64, 80), n_galaxies=5, survey=HSC)
    header = fits.getheader(path)
    assert header["BANDS"] == "g,r,i,z,y" and header["NAXIS3"] == 5
    assert header["PIXSCALE"] == 0.168 and header["SURVEY"] == "hsc"
    assert np.allclose(_stated([header], HSC_BANDS)[0], HSC.sky_sigma(), rtol=1e-5)
    assert truth.meta["SURVEY"] == "hsc" and truth.meta["MAGZP"] == 27
    assert truth["flux_true_i"].unit == "ct" and len(truth) == 5


def test_a_survey_file_works_from_the_command_line(tmp_path):
    path = tmp_path / "mycam.yaml"
    path.write_text(SURVEY_FILE)
    out = tmp_path / "sim"
    run("simulate", "deblend", "--n", 2, "--seed", 1, "--out", out, "--survey-file", path,
        "--quiet")  # fmt: skip
    table = Table.read(out / "catalog.fits")
    header = fits.getheader(out / table["file"][0])
    assert header["BANDS"] == "r,i" and header["NAXIS3"] == 2 and header["NAXIS1"] == 64
    assert header["PIXSCALE"] == 0.25 and header["MAGZP"] == 28.5 and header["BUNIT"] == "adu"
    assert header["SURVEY"] == "mycam" and table.meta["SURVEY"] == "mycam"
    assert np.all(np.abs(table["depth_offset"]) <= 0.5)


def test_a_survey_file_missing_a_field_is_one_line(tmp_path):
    path = tmp_path / "broken.yaml"
    path.write_text(SURVEY_FILE.replace("  i: {wavelength: 760, ", "  i: {"))
    result = run("simulate", "deblend", "--n", 2, "--seed", 1, "--out", tmp_path / "sim",
                 "--survey-file", path, "--quiet", ok=False)  # fmt: skip
    assert result.exit_code == 1
    assert result.output == f"astrocnn: error: {path}: band 'i' is missing 'wavelength'\n"


def test_without_a_survey_the_default_output_is_unchanged(tmp_path):
    table = get_task("deblend").simulate(2, 17, tmp_path, progress=False)
    assert "SURVEY" not in table.meta and "psf_fwhm" not in table.colnames
    assert list(table["n_galaxies"]) == [4, 2]
    weights = np.arange(1, len(table) + 1)
    floats = [c for c in table.colnames if table[c].dtype.kind == "f"]
    assert floats == list(DEFAULT_COLUMNS)
    for name in floats:
        got = float(np.sum(np.asarray(table[name], float) * weights))
        assert got == pytest.approx(DEFAULT_COLUMNS[name], rel=1e-9), name
    header = fits.getheader(tmp_path / table["file"][0])
    assert "SURVEY" not in header and "DEPTHOFF" not in header and header["BUNIT"] == "nJy"
    cubes = np.stack([fits.getdata(tmp_path / f) for f in table["file"]]).astype(float)
    np.testing.assert_allclose((cubes**2).sum(axis=(2, 3)), DEFAULT_POWER, rtol=1e-5)
