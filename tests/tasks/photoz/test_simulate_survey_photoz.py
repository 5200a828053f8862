"""The photo-z simulator rendering a survey (``survey=``, ``astrocnn simulate photoz
--survey``): bandpasses, pixels, zero point, per-object seeing and depth, the noise the
cards state, and the default (LSST) output left as it was."""

import numpy as np
import pytest
from astropy.io import fits
from astropy.stats import sigma_clipped_stats
from astropy.table import Table
from astropy.wcs import WCS
from cli_runner import run

pytest.importorskip("galsim")

from astrocnn.sim.surveys import SURVEYS  # noqa: E402
from astrocnn.tasks.photoz.simulate import MAG_RANGE, _raw_magnitudes, simulate_photoz  # noqa: E402
from astrocnn.tasks.registry import get_task  # noqa: E402

HSC, EUCLID = SURVEYS["hsc"], SURVEYS["euclid"]
HSC_BANDS = ("g", "r", "i", "z", "y")
SEED = 4
SURVEY_FILE = """\
name: mycam
pixel_scale: 0.25
zero_point: 28.5
unit: adu
reference_band: r
seeing_range: [0.7, 0.9]
depth_range: [-0.5, 0.5]
bands:
  r: {wavelength: 620, depth: 25.0, sky: 21.0, fwhm: 0.8, bandpass: LSST_r.dat}
  i: {wavelength: 760, depth: 24.5, sky: 20.2, fwhm: 0.75}
"""

# What `PhotozTask.simulate(2, 17, ...)` (LSST u-y, 32 pixels: the default model's
# training set-up) wrote before surveys existed: per float column the sum of
# (row + 1) * value, and per file and band the sum of squared pixels.
DEFAULT_COLUMNS = {
    "z": 2.147091310419092,
    "bulge_fraction": 0.4843055114400229,
    "mag_u": 78.72505890524471,
    "mag_g": 76.1053916087031,
    "mag_r": 73.25349033872506,
    "mag_i": 71.88257482151575,
    "mag_z": 70.72765024194987,
    "mag_y": 70.11292038925137,
    "obs_mag_u": 77.51155418467081,
    "obs_mag_g": 76.10950646046435,
    "obs_mag_r": 73.32856524282941,
    "obs_mag_i": 71.9363477067072,
    "obs_mag_z": 70.74833754912542,
    "obs_mag_y": 70.04004983504313,
    "obs_magerr_u": 0.7482159814994808,
    "obs_magerr_g": 0.14347635683411475,
    "obs_magerr_r": 0.05956968055903729,
    "obs_magerr_i": 0.0814047463171209,
    "obs_magerr_z": 0.09998694194205368,
    "obs_magerr_y": 0.2479659229679375,
    "r_half": 0.8916777651268066,
    "ebv": 0.15615205782534275,
    "ra": 531.0607523989897,
    "dec": -3.875149585397679,
}
DEFAULT_POWER = [
    [14779.282228410688, 2665.4994797656705, 2981.975358219551, 7934.278629518197,
     29663.58760823407, 201422.6268651124],
    [13895.430205863591, 2317.754381655219, 9962.634346052313, 32354.597186664712,
     65731.24497166209, 268639.1925413591],
]  # fmt: skip


@pytest.fixture(scope="module")
def hsc(tmp_path_factory):
    outdir = tmp_path_factory.mktemp("hsc")
    return outdir, simulate_photoz(12, SEED, outdir, survey=HSC)


def _cubes(outdir, table):
    return np.stack([fits.getdata(outdir / f) for f in table["file"]]).astype(float)


def _headers(outdir, table):
    return [fits.getheader(outdir / f) for f in table["file"]]


def _stated(headers, bands):
    """(n, nband) SKYSIG_<BAND> of each file."""
    return np.array([[h[f"SKYSIG_{b.upper()}"[:8]] for b in bands] for h in headers])


def _border_noise(cubes, sigma, width=4):
    """Per band, the noise of the stamps' border pixels in units of each stamp's stated
    sigma, from differences of neighbouring pixels (/ sqrt 2): the galaxies' wings
    reach the border of these small stamps, but they are smooth across a pixel."""
    scaled = cubes / sigma[:, :, None, None]
    rows = np.concatenate([scaled[..., :width, :], scaled[..., -width:, :]], axis=2)
    cols = np.concatenate([scaled[..., :width], scaled[..., -width:]], axis=3).swapaxes(2, 3)
    n, nband = cubes.shape[:2]
    diffs = [np.diff(edge, axis=3).reshape(n, nband, -1) for edge in (rows, cols)]
    diffs = np.concatenate(diffs, axis=2) / np.sqrt(2)
    return np.array(
        [sigma_clipped_stats(diffs[:, b], sigma=3.0, stdfunc="mad_std")[2] for b in range(nband)]
    )


def test_hsc_bands_pixels_and_cards(hsc):
    outdir, table = hsc
    header = fits.getheader(outdir / table["file"][0])
    assert header["BANDS"] == "g,r,i,z,y" and header["NAXIS3"] == 5
    assert header["PIXSCALE"] == 0.168 and header["MAGZP"] == 27 and header["BUNIT"] == "count"
    assert header["SURVEY"] == "hsc" and header["DEPTHOFF"] == 0
    wcs = WCS(header, naxis=2)
    assert np.allclose(np.abs(wcs.proj_plane_pixel_scales()[0].to_value("arcsec")), 0.168)
    assert all(f"PSF_{b.upper()}" in header for b in HSC_BANDS)
    assert np.allclose(_stated([header], HSC_BANDS)[0], HSC.sky_sigma(), rtol=1e-5)
    meta = table.meta
    assert (meta["SURVEY"], meta["REFBAND"], meta["MAGBAND"]) == ("hsc", "i", "i")
    assert meta["BANDS"] == "g,r,i,z,y" and meta["PIXSCALE"] == 0.168 and meta["MAGZP"] == 27
    assert [f"mag_{b}" for b in HSC_BANDS] == [c for c in table.colnames if c.startswith("mag_")]
    assert table.colnames[-4:] == ["psf_fwhm", "depth_offset", "ra", "dec"]
    assert table["psf_fwhm"].unit == "arcsec" and table["depth_offset"].unit == "mag"
    assert np.all(table["depth_offset"] == 0)
    psf_i = [h["PSF_I"] for h in _headers(outdir, table)]
    assert np.allclose(table["psf_fwhm"], psf_i, atol=1e-4)
    low, high = HSC.seeing_range
    assert np.all((table["psf_fwhm"] > 0.9 * low) & (table["psf_fwhm"] < 1.1 * high))
    # the magnitude range is keyed to HSC i (bulge + disk add up to the drawn magnitude)
    assert np.all((table["mag_i"] >= MAG_RANGE[0] - 1e-9) & (table["mag_i"] <= MAG_RANGE[1] + 1e-9))


def test_hsc_measured_noise_is_the_stated_one(hsc):
    outdir, table = hsc
    sigma = _stated(_headers(outdir, table), HSC_BANDS)
    measured = _border_noise(_cubes(outdir, table), sigma)
    assert np.allclose(measured, 1.0, atol=0.15), measured


def test_hsc_observed_magnitudes_follow_the_zero_point(hsc):
    _, table = hsc
    bright = table["mag_i"] < 23
    assert bright.any()
    dm = np.asarray(table["obs_mag_i"] - table["mag_i"])[bright]
    assert np.all(np.abs(dm) < 0.3), dm


def test_depth_draws_set_each_objects_noise(tmp_path):
    """A deeper draw is less noisy, by 10**(-0.4 offset), and the cards say so."""
    survey = HSC.with_ranges(depth_range=(-1.0, 1.0))
    table = simulate_photoz(12, SEED, tmp_path, survey=survey)
    offset = np.asarray(table["depth_offset"])
    assert np.all(np.abs(offset) <= 1) and np.ptp(offset) > 0.5
    headers = _headers(tmp_path, table)
    assert np.allclose([h["DEPTHOFF"] for h in headers], offset, atol=1e-4)
    stated = _stated(headers, HSC_BANDS)
    expected = HSC.sky_sigma()[None, :] * 10 ** (-0.4 * offset[:, None])
    assert np.allclose(stated, expected, rtol=1e-5)
    measured = _border_noise(_cubes(tmp_path, table), stated)
    assert np.allclose(measured, 1.0, atol=0.15), measured


def test_euclid_renders_vis_and_nisp_through_their_bandpasses(tmp_path):
    table = simulate_photoz(4, SEED, tmp_path, survey=EUCLID)
    header = fits.getheader(tmp_path / table["file"][0])
    assert header["BANDS"] == "VIS,Y,J,H" and header["NAXIS3"] == 4
    assert header["PIXSCALE"] == 0.1 and header["MAGZP"] == 23.9 and header["BUNIT"] == "uJy"
    assert {"PSF_VIS", "PSF_H", "SKYSIG_V", "SKYSIG_H"} <= set(header)
    assert table.meta["MAGBAND"] == "VIS" and table.meta["REFBAND"] == "VIS"
    assert np.all((table["mag_VIS"] >= MAG_RANGE[0] - 1e-9) & (table["mag_VIS"] <= 25 + 1e-9))
    for b in ("VIS", "Y", "J", "H"):
        assert np.all(np.isfinite(table[f"obs_mag_{b}"]))


def test_euclid_colours_are_sane():
    """An elliptical at z = 0.5 is redder in H than in VIS, and redder than a
    star-forming galaxy; VIS (550-900 nm) lies between LSST r and i."""
    euclid = tuple(b.bandpass for b in EUCLID.bands)
    lsst = tuple(b.bandpass for b in SURVEYS["lsst"].bands)
    vis, y, j, h = _raw_magnitudes("E", 0.5, 0.0, euclid)
    assert vis - h > 1.0 and vis > y > j > h
    im_vis, *_, im_h = _raw_magnitudes("Im", 0.5, 0.0, euclid)
    assert im_vis - im_h < vis - h
    _, _, r, i, _, _ = _raw_magnitudes("E", 0.5, 0.0, lsst)
    assert r > vis > i


def test_a_survey_file_works_from_the_command_line(tmp_path):
    path = tmp_path / "mycam.yaml"
    path.write_text(SURVEY_FILE)
    out = tmp_path / "sim"
    run("simulate", "photoz", "--n", 3, "--seed", 1, "--out", out, "--survey-file", path,
        "--quiet")  # fmt: skip
    table = Table.read(out / "catalog.fits")
    header = fits.getheader(out / table["file"][0])
    assert header["BANDS"] == "r,i" and header["NAXIS3"] == 2 and header["NAXIS1"] == 32
    assert header["PIXSCALE"] == 0.25 and header["MAGZP"] == 28.5 and header["BUNIT"] == "adu"
    assert header["SURVEY"] == "mycam"
    assert table.meta["SURVEY"] == "mycam" and table.meta["MAGBAND"] == "i"
    assert np.all(np.abs(table["depth_offset"]) <= 0.5)
    assert np.all((table["psf_fwhm"] > 0.6) & (table["psf_fwhm"] < 1.0))


def test_the_cli_takes_a_preset(tmp_path):
    run("simulate", "photoz", "--n", 2, "--seed", 1, "--out", tmp_path, "--survey", "hsc",
        "--seeing-range", "0.5,0.6", "--quiet")  # fmt: skip
    table = Table.read(tmp_path / "catalog.fits")
    assert fits.getdata(tmp_path / table["file"][0]).shape == (5, 32, 32)
    assert np.all((table["psf_fwhm"] > 0.45) & (table["psf_fwhm"] < 0.66))


def test_a_survey_file_missing_a_field_is_one_line(tmp_path):
    path = tmp_path / "broken.yaml"
    path.write_text(SURVEY_FILE.replace("zero_point: 28.5\n", ""))
    result = run("simulate", "photoz", "--n", 2, "--seed", 1, "--out", tmp_path / "sim",
                 "--survey-file", path, "--quiet", ok=False)  # fmt: skip
    assert result.exit_code == 1
    assert result.output == f"astrocnn: error: {path}: the survey file is missing 'zero_point'\n"


def test_without_a_survey_the_default_output_is_unchanged(tmp_path):
    table = get_task("photoz").simulate(2, 17, tmp_path, progress=False)
    assert "SURVEY" not in table.meta and "psf_fwhm" not in table.colnames
    assert list(table["sed_type"]) == ["Im", "Sbc"]
    weights = np.arange(1, len(table) + 1)
    floats = [c for c in table.colnames if table[c].dtype.kind == "f"]
    assert floats == list(DEFAULT_COLUMNS)
    for name in floats:
        got = float(np.sum(np.asarray(table[name], float) * weights))
        assert got == pytest.approx(DEFAULT_COLUMNS[name], rel=1e-9), name
    header = fits.getheader(tmp_path / table["file"][0])
    assert "SURVEY" not in header and "DEPTHOFF" not in header and header["BUNIT"] == "nJy"
    power = (_cubes(tmp_path, table) ** 2).sum(axis=(2, 3))
    np.testing.assert_allclose(power, DEFAULT_POWER, rtol=1e-5)
