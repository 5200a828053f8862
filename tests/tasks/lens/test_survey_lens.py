"""The lens simulator rendering a survey preset (``survey=``, ``astrocnn simulate lens
--survey``): bands, pixels, zero point, per-object seeing and depth, and the noise the
cards state."""

import numpy as np
import pytest
from astropy.io import fits
from astropy.stats import sigma_clipped_stats
from astropy.table import Table
from astropy.wcs import WCS
from cli_runner import run

from astrocnn.sim.surveys import SURVEYS
from astrocnn.tasks.lens.simulate import simulate_lens

HSC = SURVEYS["hsc"]
SEED = 5
HSC_BANDS = ("g", "r", "i", "z", "y")
SURVEY_FILE = """\
name: mycam
pixel_scale: 0.25
zero_point: 28.5
reference_band: r
seeing_range: [0.7, 0.9]
depth_range: [-0.5, 0.5]
bands:
  r: {wavelength: 620, depth: 25.0, sky: 21.0, fwhm: 0.8}
  i: {wavelength: 760, depth: 24.5, sky: 20.2, fwhm: 0.75}
"""


@pytest.fixture(scope="module")
def hsc(tmp_path_factory):
    """HSC at its nominal depths, mostly non-lenses (their frames measure the noise)."""
    outdir = tmp_path_factory.mktemp("hsc")
    return outdir, simulate_lens(10, SEED, outdir, size=48, lens_fraction=0.3, survey=HSC)


def _cubes(outdir, table):
    return np.stack([fits.getdata(outdir / f) for f in table["file"]]).astype(float)


def _headers(outdir, table):
    return [fits.getheader(outdir / f) for f in table["file"]]


def _stated(headers, bands):
    """(n, nband) SKYSIG_<BAND> of each file."""
    return np.array([[h[f"SKYSIG_{b.upper()}"[:8]] for b in bands] for h in headers])


def _corner_noise(cubes, sigma, side=8):
    """Sigma-clipped std per band of the stamps' corner pixels, each stamp in units of
    its own stated sigma; each corner's median is taken off first (the wings of a bright
    galaxy add a level there that differs from stamp to stamp)."""
    scaled = cubes / sigma[:, :, None, None]
    ends = (slice(None, side), slice(-side, None))
    corners = np.stack([scaled[:, :, y, x] for y in ends for x in ends], axis=1)
    corners = corners - np.median(corners, axis=(3, 4), keepdims=True)
    return np.array(
        [
            sigma_clipped_stats(corners[:, :, b].ravel(), sigma=3.0, stdfunc="mad_std")[2]
            for b in range(cubes.shape[1])
        ]
    )


def test_hsc_bands_pixels_and_cards(hsc):
    outdir, table = hsc
    header = fits.getheader(outdir / table["file"][0])
    assert header["BANDS"] == "g,r,i,z,y" and header["NAXIS3"] == 5
    assert header["PIXSCALE"] == 0.168 and header["MAGZP"] == 27 and header["BUNIT"] == "count"
    assert header["SURVEY"] == "hsc"
    wcs = WCS(header, naxis=2)
    assert np.allclose(np.abs(wcs.proj_plane_pixel_scales()[0].to_value("arcsec")), 0.168)
    assert all(f"PSF_{b.upper()}" in header and f"SKYSIG_{b.upper()}" in header for b in HSC_BANDS)
    # nominal depths (the preset's depth range is 0, 0): the survey's own sigma
    assert np.allclose(_stated([header], HSC_BANDS)[0], HSC.sky_sigma(), rtol=1e-5)
    assert table.meta["SURVEY"] == "hsc" and table.meta["REFBAND"] == "i"
    assert table.meta["BANDS"] == "g,r,i,z,y" and table.meta["PIXSCALE"] == 0.168
    assert table.meta["MAGZP"] == 27
    assert "psf_fwhm_i" not in table.colnames
    assert table.colnames[-4:] == ["psf_fwhm", "depth_offset", "ra", "dec"]
    assert table["psf_fwhm"].unit == "arcsec" and table["depth_offset"].unit == "mag"
    assert np.all(table["depth_offset"] == 0)
    psf_i = [h["PSF_I"] for h in _headers(outdir, table)]
    assert np.allclose(table["psf_fwhm"], psf_i, atol=1e-4)
    assert np.all(table["arc_snr"][table["label"] == 1] >= 20)


def test_hsc_measured_noise_is_the_stated_one(hsc):
    outdir, table = hsc
    table = table[table["label"] == 0]
    sigma = _stated(_headers(outdir, table), HSC_BANDS)
    measured = _corner_noise(_cubes(outdir, table), sigma)
    assert np.allclose(measured, 1.0, atol=0.15), measured


def test_depth_draws_set_each_objects_noise(tmp_path):
    """A deeper draw is less noisy, by 10**(-0.4 offset), and the cards say so."""
    survey = HSC.with_ranges(depth_range=(-1.0, 1.0))
    table = simulate_lens(12, SEED, tmp_path, size=48, lens_fraction=0.25, survey=survey)
    offset = np.asarray(table["depth_offset"])
    assert np.all(np.abs(offset) <= 1) and np.ptp(offset) > 0.5
    headers = _headers(tmp_path, table)
    stated = _stated(headers, HSC_BANDS)
    expected = HSC.sky_sigma()[None, :] * 10 ** (-0.4 * offset[:, None])
    assert np.allclose(stated, expected, rtol=1e-5)
    negatives = np.asarray(table["label"] == 0)
    measured = _corner_noise(_cubes(tmp_path, table)[negatives], stated[negatives])
    assert np.allclose(measured, 1.0, atol=0.15), measured


def test_depth_offset_adds_and_population_stays(hsc, tmp_path):
    """The depth changes the noise, not the lenses: the selection is at nominal depth."""
    outdir, table = hsc
    deeper = simulate_lens(
        10, SEED, tmp_path, size=48, lens_fraction=0.3, survey=HSC, depth_offset=0.5
    )
    assert np.all(deeper["depth_offset"] == 0.5) and deeper.meta["DEPTHOFF"] == 0.5
    for column in ("kind", "theta_e", "src_mag_i", "lens_mag_i", "arc_snr", "psf_fwhm"):
        assert np.array_equal(deeper[column], table[column], equal_nan=column != "kind")
    ratio = _stated(_headers(tmp_path, deeper), HSC_BANDS) / _stated(
        _headers(outdir, table), HSC_BANDS
    )
    assert np.allclose(ratio, 10**-0.2, rtol=1e-5)


def test_survey_file(tmp_path):
    path = tmp_path / "mycam.yaml"
    path.write_text(SURVEY_FILE)
    out = tmp_path / "sim"
    run("simulate", "lens", "--n", 6, "--seed", 2, "--size", 32, "--out", out,
        "--survey-file", path, "--quiet")  # fmt: skip
    table = Table.read(out / "catalog.fits")
    header = fits.getheader(out / table["file"][0])
    assert header["BANDS"] == "r,i" and header["NAXIS3"] == 2
    assert header["PIXSCALE"] == 0.25 and header["MAGZP"] == 28.5 and header["BUNIT"] == "count"
    assert header["SURVEY"] == "mycam" and table.meta["SURVEY"] == "mycam"
    assert "PSF_R" in header and "SKYSIG_I" in header and "PSF_G" not in header
    offset = np.asarray(table["depth_offset"])
    assert np.all(np.abs(offset) <= 0.5) and np.ptp(offset) > 0


def test_seeing_range_through_the_cli(tmp_path):
    out = tmp_path / "sim"
    run("simulate", "lens", "--n", 8, "--seed", 3, "--size", 32, "--out", out,
        "--survey", "hsc", "--seeing-range", "1.0,1.2", "--quiet")  # fmt: skip
    table = Table.read(out / "catalog.fits")
    assert table.meta["SURVEY"] == "hsc" and table.meta["BANDS"] == "g,r,i,z,y"
    # the reference band's FWHM is the drawn seeing times 1 +- 2 % (per-band scatter)
    fwhm = np.asarray(table["psf_fwhm"])
    assert np.all((fwhm > 0.92) & (fwhm < 1.3)) and np.ptp(fwhm) > 0.02
    assert np.mean((fwhm >= 1.0) & (fwhm <= 1.2)) >= 0.5


def test_explicit_pixel_scale_and_zero_point_win(hsc, tmp_path):
    outdir, table = hsc
    other = simulate_lens(
        4, SEED, tmp_path, size=48, lens_fraction=0.3, survey=HSC, pixel_scale=0.2, zero_point=30
    )
    header = fits.getheader(tmp_path / other["file"][0])
    assert header["PIXSCALE"] == 0.2 and header["MAGZP"] == 30 and header["SURVEY"] == "hsc"
    assert other.meta["PIXSCALE"] == 0.2 and other.meta["MAGZP"] == 30
    # sky-limited sigma per pixel: the depth's flux in the unit, times the pixel scale
    factor = 10 ** (0.4 * 3) * 0.2 / 0.168
    default = _stated(_headers(outdir, table[:1]), HSC_BANDS)
    assert np.allclose(_stated([header], HSC_BANDS), factor * default, rtol=1e-4)


def test_a_subset_of_the_survey_bands(hsc, tmp_path):
    """Bands are drawn for the whole survey: a subset sees what the full set sees."""
    outdir, table = hsc
    part = simulate_lens(
        10, SEED, tmp_path, size=48, lens_fraction=0.3, survey=HSC, bands=("y", "i")
    )
    header, full = fits.getheader(tmp_path / part["file"][0]), _headers(outdir, table)[0]
    assert header["BANDS"] == "y,i" and "PSF_G" not in header
    assert all(header[k] == full[k] for k in ("PSF_Y", "PSF_I", "SKYSIG_Y", "SKYSIG_I"))
    with pytest.raises(ValueError, match="bands"):
        simulate_lens(2, SEED, tmp_path / "x", survey=HSC, bands=("r", "u"))


def test_no_survey_takes_the_old_path(tmp_path):
    """``survey=None`` is the simulator's own set-up, draw for draw."""
    omitted = simulate_lens(4, SEED, tmp_path / "a", size=32)
    none = simulate_lens(4, SEED, tmp_path / "b", size=32, survey=None)
    assert np.array_equal(_cubes(tmp_path / "a", omitted), _cubes(tmp_path / "b", none))
    for a, b in zip(_headers(tmp_path / "a", omitted), _headers(tmp_path / "b", none)):
        assert a == b and "SURVEY" not in a and a["BANDS"] == "g,r,i,z" and a["MAGZP"] == 30
    assert omitted.colnames == none.colnames and "psf_fwhm_i" in none.colnames
    assert "SURVEY" not in none.meta and none.meta["PIXSCALE"] == 0.2
    for column in none.colnames:
        assert np.array_equal(omitted[column], none[column], equal_nan=column == "src_mag_i")


def test_cli_unknown_survey(tmp_path):
    result = run("simulate", "lens", "--n", 2, "--out", tmp_path / "x", "--survey", "ztf", ok=False)
    assert result.exit_code == 2
    errors = [line for line in result.output.splitlines() if "error" in line.lower()]
    assert len(errors) == 1 and "--survey" in errors[0] and "'ztf'" in errors[0]
    assert "hsc" in errors[0]


def test_cli_survey_file_missing_a_field(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text(SURVEY_FILE.replace(", fwhm: 0.75", ""))
    result = run("simulate", "lens", "--n", 2, "--out", tmp_path / "x", "--survey-file", path,
                 ok=False)  # fmt: skip
    assert result.exit_code == 1
    assert result.output.strip() == f"astrocnn: error: {path}: band 'i' is missing 'fwhm'"
