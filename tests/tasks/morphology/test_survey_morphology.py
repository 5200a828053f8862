"""The morphology simulator rendered as a shared survey preset or a user's survey file."""

import numpy as np
import pytest
from astropy.io import fits
from astropy.table import Table
from cli_runner import run

pytest.importorskip("galsim")

from astrocnn.sim.surveys import SURVEYS, colour_weights  # noqa: E402
from astrocnn.tasks.morphology.simulate import (  # noqa: E402
    ALL_BANDS,
    MAGZP,
    _SurveyImaging,
    sample_for,
    simulate_morphology,
)
from astrocnn.tasks.registry import get_task  # noqa: E402

# recorded from the simulator before the survey presets came in (n=6, seed=11, size=32):
# per object and band (g, r, i) the sum, the sum of squares and the centre pixel
DECALS_BEFORE = [
    [[56.46611, 8.317172, 0.18551062], [83.602615, 18.513462, 0.27785042],
     [101.956173, 29.492495, 0.36001182]],
    [[94.968785, 13.97982, 0.31309453], [159.202374, 40.087349, 0.56745434],
     [201.392568, 66.322599, 0.75059325]],
    [[38.898562, 6.447866, 0.44252062], [92.468854, 38.571056, 1.11298561],
     [141.917091, 94.906497, 1.76830161]],
    [[210.412473, 68.753016, 0.55965775], [297.253283, 141.700543, 0.9564153],
     [351.949278, 203.292268, 1.24973059]],
    [[166.721966, 93.954992, 1.22861731], [322.404141, 377.626297, 2.52078915],
     [430.769194, 686.296913, 3.4429152]],
    [[113.306085, 36.186824, 0.84181648], [246.947405, 181.010834, 1.95800459],
     [359.624836, 389.674932, 2.94088268]],
]  # fmt: skip
DECALS_MAG_R = [17.66931990, 16.78940900, 17.43538478, 16.15063434, 16.09616118, 16.23401694]
SURVEY_FILE = """\
name: mine
pixel_scale: 0.25
zero_point: 25.0
unit: ADU
reference_band: r
seeing_range: [0.7, 0.9]
depth_range: [0.0, 0.5]
bands:
  g: {wavelength: 480, depth: 25.0, sky: 22.0, fwhm: 0.85}
  r: {wavelength: 620, depth: 24.8, sky: 21.0, fwhm: 0.8}
  i: {wavelength: 760, depth: 24.2, sky: 20.2, fwhm: 0.75}
"""


def _cubes(outdir, table):
    return [fits.getdata(outdir / f).astype(float) for f in table["file"]]


def _headers(outdir, table):
    return [fits.getheader(outdir / f) for f in table["file"]]


def _corner_sigma(band, k=8):
    """Robust sigma of the pixel noise in the four k x k corners of an image, from the
    differences of neighbouring pixels (which take out galaxy wings there)."""
    corners = [band[:k, :k], band[:k, -k:], band[-k:, :k], band[-k:, -k:]]
    diff = np.concatenate([np.diff(c, axis=1) for c in corners], axis=None)
    return 1.4826 * np.median(np.abs(diff - np.median(diff))) / np.sqrt(2)


def _noise_ratios(outdir, table):
    """Corner noise / SKYSIG per object and band."""
    ratios = []
    for cube, header in zip(_cubes(outdir, table), _headers(outdir, table), strict=True):
        bands = header["BANDS"].split(",")
        sig = [header[f"SKYSIG_{b.upper()}"[:8]] for b in bands]
        ratios.append([_corner_sigma(c) / s for c, s in zip(cube, sig, strict=True)])
    return np.array(ratios)


def test_decals_default_is_what_it_was(tmp_path):
    table = simulate_morphology(6, 11, tmp_path, size=32)
    stats = [[[b.sum(), (b**2).sum(), b[16, 16]] for b in cube] for cube in _cubes(tmp_path, table)]
    np.testing.assert_allclose(stats, DECALS_BEFORE, rtol=1e-6)
    np.testing.assert_allclose(table["mag_r"], DECALS_MAG_R, rtol=1e-9)
    assert "psf_fwhm_r" in table.colnames and "depth_offset" not in table.colnames
    assert table.meta["SURVEY"] == "decals" and table.meta["PIXSCALE"] == 0.262
    header = _headers(tmp_path, table)[0]
    assert header["BANDS"] == "g,r,i" and header["MAGZP"] == MAGZP
    assert "SURVEY" not in header and "DEPTHOFF" not in header


def test_hsc_bands_pixel_scale_zero_point_and_cards(tmp_path):
    run("simulate", "morphology", "--n", 8, "--seed", 4, "--out", tmp_path, "--size", 48,
        "--survey", "hsc", "--quiet")  # fmt: skip
    table = Table.read(tmp_path / "catalog.fits")
    assert {"psf_fwhm", "depth_offset"} <= set(table.colnames)
    assert "psf_fwhm_r" not in table.colnames
    assert table.meta["SURVEY"] == "hsc" and table.meta["REFBAND"] == "i"
    assert table.meta["SAMPLE"] == "deep" and table.meta["MAGZP"] == 27.0
    assert np.all(table["depth_offset"] == 0)  # the preset's depth range is (0, 0)
    # the i-band seeing is drawn in 0.45-0.9" (2 % scatter on top)
    assert np.all((table["psf_fwhm"] > 0.42) & (table["psf_fwhm"] < 0.95))
    for header, fwhm in zip(_headers(tmp_path, table), table["psf_fwhm"], strict=True):
        assert header["BANDS"] == "g,r,i,z,y" and header["NAXIS3"] == 5
        assert header["PIXSCALE"] == 0.168 and header["MAGZP"] == 27.0
        assert header["BUNIT"] == "count" and header["SURVEY"] == "hsc"
        assert all(f"PSF_{b}" in header and f"SKYSIG_{b}" in header for b in "GRIZY")
        assert header["PSF_I"] == pytest.approx(fwhm, abs=1e-4)
        assert header["DEPTHOFF"] == 0.0
    np.testing.assert_allclose(
        [header["SKYSIG_R"] for header in _headers(tmp_path, table)],
        SURVEYS["hsc"].select(["r"]).sky_sigma()[0],
        rtol=1e-5,
    )
    ratio = np.median(_noise_ratios(tmp_path, table), axis=0)
    assert np.all(np.abs(ratio - 1) < 0.15), ratio


def test_depth_range_sets_each_objects_noise(tmp_path):
    task = get_task("morphology")
    # coarse pixels, so that the corners hold sky rather than the galaxies' wings
    table = task.simulate(
        10, 2, tmp_path, survey="kids", depth_range=(-1.0, 1.0), size=48, pixel_scale=0.5
    )
    offset = np.asarray(table["depth_offset"])
    assert np.all((offset >= -1) & (offset <= 1)) and np.ptp(offset) > 0.5
    nominal = SURVEYS["kids"].sky_sigma(pixel_scale=0.5)  # u, g, r, i
    for header, off in zip(_headers(tmp_path, table), offset, strict=True):
        assert header["DEPTHOFF"] == pytest.approx(off, abs=1e-4)
        sig = [header[f"SKYSIG_{b}"] for b in "UGRI"]
        # deeper (positive offset): less noise, by 10**(-0.4 offset)
        np.testing.assert_allclose(sig, nominal * 10 ** (-0.4 * off), rtol=1e-5)
    ratios = _noise_ratios(tmp_path, table)
    assert np.all(np.abs(np.median(ratios, axis=0) - 1) < 0.15), ratios
    # the noise drawn follows the depth object by object: sigma ~ 10**(-0.4 offset)
    cards = np.array([[h[f"SKYSIG_{b}"] for b in "UGRI"] for h in _headers(tmp_path, table)])
    measured = np.log10(ratios * cards / nominal)
    slope = np.polyfit(np.repeat(offset, 4), measured.ravel(), 1)[0]
    assert slope == pytest.approx(-0.4, abs=0.06), slope


def test_survey_file_and_pixel_scale(tmp_path):
    path = tmp_path / "mine.yaml"
    path.write_text(SURVEY_FILE)
    out = tmp_path / "sim"
    run("simulate", "morphology", "--n", 6, "--out", out, "--size", 32, "--survey-file", path,
        "--quiet")  # fmt: skip
    table = Table.read(out / "catalog.fits")
    assert table.meta["SURVEY"] == "mine" and table.meta["BUNIT"] == "ADU"
    assert np.all((table["depth_offset"] >= 0) & (table["depth_offset"] <= 0.5))
    assert np.all((table["psf_fwhm"] > 0.65) & (table["psf_fwhm"] < 0.95))
    header = _headers(out, table)[0]
    assert header["BANDS"] == "g,r,i" and header["PIXSCALE"] == 0.25
    assert header["MAGZP"] == 25.0 and header["BUNIT"] == "ADU" and header["SURVEY"] == "mine"
    # an explicit pixel scale wins; the noise per pixel of a depth scales with it
    coarse = tmp_path / "coarse"
    run("simulate", "morphology", "--n", 6, "--out", coarse, "--size", 32, "--survey-file", path,
        "--pixel-scale", 0.5, "--quiet")  # fmt: skip
    again = _headers(coarse, Table.read(coarse / "catalog.fits"))[0]
    assert again["PIXSCALE"] == 0.5
    assert again["SKYSIG_R"] == pytest.approx(2 * header["SKYSIG_R"], rel=1e-5)


def test_sdss_keeps_galaxy_zoo_sample_on_shared_imaging(tmp_path):
    table = simulate_morphology(6, 1, tmp_path, size=48, survey="sdss")
    assert table.meta["PIXSCALE"] == 0.396 and table.meta["SAMPLE"] == "sdss"
    assert table.meta["BANDS"] == "u,g,r,i,z" and table.meta["MAGZP"] == 22.5
    assert np.all((table["mag_r"] >= 13) & (table["mag_r"] <= 17))
    assert np.all((table["psf_fwhm"] > 1.05) & (table["psf_fwhm"] < 1.9))
    # the r-band noise of the SDSS set-up before the presets (22.2 mag at 1.4", 0.396"/px)
    assert _headers(tmp_path, table)[0]["SKYSIG_R"] == pytest.approx(0.0495393, rel=1e-5)
    jpeg = simulate_morphology(6, 1, tmp_path / "jpeg", size=48, survey="sdss", image_format="jpeg")
    assert jpeg.meta["BANDS"] == "i,r,g" and jpeg["file"][0].endswith(".jpg")


@pytest.mark.parametrize(
    "name, sample",
    [("sdss", "sdss"), ("des", "decals"), ("kids", "decals"), ("hsc", "deep"),
     ("lsst", "deep"), ("euclid", "deep")],
)  # fmt: skip
def test_sample_follows_depth(name, sample):
    assert sample_for(SURVEYS[name]).name == sample


def test_magnitudes_carried_to_survey_bands():
    survey = SURVEYS["euclid"]
    view = _SurveyImaging(survey, survey.band_names, survey.pixel_scale, sample_for(survey))
    mags = np.array([18.9, 18.2, 17.8, 17.6])  # g, r, i, z
    got = view.flux(10 ** (-0.4 * (mags - MAGZP)))
    want = colour_weights(survey.bands, ALL_BANDS) @ mags
    np.testing.assert_allclose(-2.5 * np.log10(got) + survey.zero_point, want, rtol=1e-12)
    assert np.all(view.flux(np.zeros(4)) == 0)


def test_euclid_fits_but_no_colour_composites(tmp_path):
    table = simulate_morphology(6, 3, tmp_path, size=32, survey="euclid")
    header = _headers(tmp_path, table)[0]
    assert header["BANDS"] == "VIS,Y,J,H" and header["BUNIT"] == "uJy"
    assert "PSF_VIS" in header and "SKYSIG_V" in header
    with pytest.raises(ValueError, match="survey 'euclid' has no g, r, i band.*fits"):
        simulate_morphology(6, 3, tmp_path / "jpeg", survey="euclid", image_format="jpeg")
    assert not (tmp_path / "jpeg" / "catalog.fits").exists()
    result = run("simulate", "morphology", "--n", 6, "--out", tmp_path / "cli", "--survey",
                 "euclid", "--format", "jpeg", "--quiet", ok=False)  # fmt: skip
    assert result.exit_code == 1
    assert result.output.startswith("astrocnn: error: image_format='jpeg' makes i, r, g")
    assert result.output.count("\n") == 1


def test_cli_errors_are_one_line(tmp_path):
    unknown = run("simulate", "morphology", "--n", 6, "--out", tmp_path / "a", "--survey",
                  "hubble", ok=False)  # fmt: skip
    assert unknown.exit_code == 2
    assert "Invalid value for '--survey': 'hubble' is not one of 'decals', 'lsst'" in unknown.output
    path = tmp_path / "broken.yaml"
    path.write_text(SURVEY_FILE.replace("zero_point: 25.0\n", ""))
    broken = run("simulate", "morphology", "--n", 6, "--out", tmp_path / "b", "--survey-file",
                 path, ok=False)  # fmt: skip
    assert broken.exit_code == 1
    assert broken.output == f"astrocnn: error: {path}: the survey file is missing 'zero_point'\n"
    ranges = run("simulate", "morphology", "--n", 6, "--out", tmp_path / "c", "--seeing-range",
                 "0.5,0.8", ok=False)  # fmt: skip
    assert ranges.exit_code == 1 and ranges.output.count("\n") == 1
    assert ranges.output.startswith("astrocnn: error: --seeing-range and --depth-range need")
    with pytest.raises(ValueError, match="survey must be one of decals, lsst"):
        simulate_morphology(4, 0, tmp_path / "d", survey="hubble")


def test_bands_pick_what_is_rendered(tmp_path):
    # hsc's reference band i is drawn (and sets psf_fwhm) although only g, r are rendered
    run("simulate", "morphology", "--n", 6, "--out", tmp_path / "hsc", "--size", 32,
        "--survey", "hsc", "--bands", "r,g", "--quiet")  # fmt: skip
    table = Table.read(tmp_path / "hsc" / "catalog.fits")
    header = _headers(tmp_path / "hsc", table)[0]
    assert header["BANDS"] == "r,g" and header["NAXIS3"] == 2 and "PSF_I" not in header
    assert table.meta["REFBAND"] == "i" and np.all(table["psf_fwhm"] < 0.95)
    run("simulate", "morphology", "--n", 6, "--out", tmp_path / "decals", "--size", 32,
        "--bands", "g,r,i,z", "--quiet")  # fmt: skip
    header = _headers(tmp_path / "decals", Table.read(tmp_path / "decals" / "catalog.fits"))[0]
    assert header["BANDS"] == "g,r,i,z" and "SURVEY" not in header
    missing = run("simulate", "morphology", "--n", 6, "--out", tmp_path / "y", "--bands", "y",
                  ok=False)  # fmt: skip
    assert missing.exit_code == 1 and missing.output.startswith("astrocnn: error: bands must be")
