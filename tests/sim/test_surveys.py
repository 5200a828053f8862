"""Survey presets, survey files and the colour interpolation between band sets."""

import numpy as np
import pytest

from astrocnn.sim import lsst
from astrocnn.sim.surveys import SURVEYS, colour_weights, get_survey, load_survey_file
from astrocnn.tasks.base import survey_of

GOOD = """
name: mycam
pixel_scale: 0.25
zero_point: 27.0
reference_band: r
seeing_range: [0.7, 1.1]
depth_range: [-0.5, 0.5]
bands:
  g: {wavelength: 480, depth: 25.5, sky: 22.0, fwhm: 0.9}
  r: {wavelength: 620, depth: 25.2, sky: 21.0, fwhm: 0.8, bandpass: LSST_r.dat}
"""


def test_every_preset_is_complete_and_ordered_blue_to_red():
    assert set(SURVEYS) == {"lsst", "hsc", "des", "kids", "sdss", "euclid"}
    for survey in SURVEYS.values():
        waves = [b.wavelength for b in survey.bands]
        assert waves == sorted(waves), survey.name
        assert survey.reference_band in survey.band_names
        assert survey.pixel_scale > 0 and survey.source
        low, high = survey.seeing_range
        assert 0 < low < survey.band(survey.reference_band).fwhm < high


def test_the_lsst_preset_gives_the_noise_the_simulators_used():
    np.testing.assert_allclose(SURVEYS["lsst"].sky_sigma(), lsst.sky_sigma(0.2), rtol=1e-12)


def test_noise_follows_depth_and_pixel_scale():
    hsc = SURVEYS["hsc"]
    base = hsc.sky_sigma()
    # one magnitude deeper: 10**-0.4 of the noise; pixel scale doubled: twice the noise
    # per pixel in image units at a fixed point-source depth (sky-limited)
    np.testing.assert_allclose(hsc.sky_sigma(depth_offset=1.0), base * 10**-0.4)
    np.testing.assert_allclose(hsc.sky_sigma(pixel_scale=2 * hsc.pixel_scale), base * 2)
    sky, gain = hsc.noise()
    np.testing.assert_allclose(np.sqrt(sky / gain).ravel(), base)


def test_conditions_are_drawn_inside_the_ranges():
    survey = get_survey("des", seeing_range=(0.8, 0.9), depth_range=(-1.0, 0.0))
    rng = np.random.default_rng(1)
    ref = survey.band_names.index("r")
    for _ in range(50):
        fwhm, offset = survey.draw_conditions(rng)
        assert 0.8 * 0.9 < fwhm[ref] < 0.9 * 1.1 and -1.0 <= offset <= 0.0
        assert fwhm[0] > fwhm[ref]  # DES g seeing is worse than r


def test_colour_weights_interpolate_between_the_nearest_bands():
    w = colour_weights(SURVEYS["euclid"].bands, ("g", "r", "i", "z"))
    np.testing.assert_allclose(w.sum(axis=1), 1.0)
    assert w[0, 1] > 0 and w[0, 2] > 0 and w[0, [0, 3]].sum() == 0  # VIS between r and i
    np.testing.assert_array_equal(w[1:, 3], 1.0)  # near-infrared: the reddest simulated band
    same = colour_weights(SURVEYS["lsst"].bands[1:5], ("g", "r", "i", "z"))
    np.testing.assert_allclose(same, np.eye(4))


def test_a_survey_file_is_read(tmp_path):
    path = tmp_path / "cam.yaml"
    path.write_text(GOOD)
    survey = load_survey_file(path)
    assert survey.name == "mycam" and survey.band_names == ("g", "r")
    assert survey.depth_range == (-0.5, 0.5) and survey.band("g").bandpass == (432.0, 528.0)
    assert survey.band("r").bandpass == "LSST_r.dat"


@pytest.mark.parametrize(
    "edit, reason",
    [
        (lambda t: t.replace("zero_point: 27.0\n", ""), "missing 'zero_point'"),
        (lambda t: t.replace(" depth: 25.5,", ""), "band 'g' is missing 'depth'"),
        (lambda t: t.replace("pixel_scale: 0.25", "pixel_scale: -1"), "pixel_scale must be"),
        (lambda t: t.replace("reference_band: r", "reference_band: i"), "reference_band 'i'"),
        (lambda t: t.replace("[0.7, 1.1]", "[1.1, 0.7]"), "low <= high"),
        (lambda t: "bands: [", "not valid YAML"),
        (lambda t: t.replace("  g: {", "  F814W: {"), "1-4 characters"),
    ],
)
def test_a_bad_survey_file_names_the_field(tmp_path, edit, reason):
    path = tmp_path / "cam.yaml"
    path.write_text(edit(GOOD))
    with pytest.raises(ValueError, match="cam.yaml") as err:
        load_survey_file(path)
    assert reason in str(err.value)


def test_a_selection_without_the_reference_band_still_draws_its_seeing():
    survey = get_survey("hsc", seeing_range=(0.6, 0.6)).select(["g", "r"])
    fwhm, _ = survey.draw_conditions(np.random.default_rng(0))
    ratio = SURVEYS["hsc"].band("g").fwhm / SURVEYS["hsc"].band("i").fwhm
    np.testing.assert_allclose(fwhm[0], 0.6 * ratio, rtol=0.1)


def test_survey_options_resolve():
    assert survey_of() is None
    assert survey_of("kids").name == "kids"
    with pytest.raises(ValueError, match="need --survey"):
        survey_of(seeing_range=(0.5, 0.9))
    with pytest.raises(ValueError, match="unknown survey 'ztf'"):
        survey_of("ztf")


def test_the_survey_page_is_generated_from_the_presets():
    import runpy

    from paths import REPO_ROOT

    page = runpy.run_path(str(REPO_ROOT / "scripts" / "survey_table.py"))["table"]()
    assert (REPO_ROOT / "docs" / "surveys.md").read_text() == page, (
        "run python scripts/survey_table.py"
    )
