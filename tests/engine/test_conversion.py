"""Fluxes at another zero point, converted to the model's units per file."""

import numpy as np
import pytest
from astropy.io import fits
from astropy.table import Table
from cli_runner import run
from paths import SAMPLE_DATA

from astrocnn.engine.conversion import flux_factors, requested_zero_point
from astrocnn.errors import AstrocnnError


def _rescaled(base, magzp_card):
    """The sample lens cutouts (AB zero point 30) rewritten at zero point 27, with
    ``MAGZP = magzp_card`` (or no zero point card)."""
    table = Table.read(SAMPLE_DATA / "lens" / "catalog.fits")
    (base / "cutouts").mkdir(parents=True)
    for name in table["file"]:
        with fits.open(SAMPLE_DATA / "lens" / name) as hdus:
            data = hdus[0].data * np.float32(10 ** (0.4 * (27 - 30)))
            header = hdus[0].header.copy()
            del header["MAGZP"]
            if magzp_card is not None:
                header["MAGZP"] = magzp_card
            fits.PrimaryHDU(data.astype(np.float32), header).writeto(base / name)
    table.write(base / "catalog.fits")
    return base / "catalog.fits"


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    out = tmp_path_factory.mktemp("reference") / "a.fits"
    run("predict", "lens", "--catalog", SAMPLE_DATA / "lens" / "catalog.fits", "--out", out)
    return Table.read(out)


def test_zero_point_from_the_header_restores_the_predictions(reference, tmp_path):
    catalog = _rescaled(tmp_path / "zp27", 27.0)
    result = run("predict", "lens", "--catalog", catalog, "--out", tmp_path / "b.fits")
    assert "40 rows: fluxes converted from AB zero point 27 to 30 (header)" in result.output
    converted = Table.read(tmp_path / "b.fits")
    np.testing.assert_allclose(converted["p_lens"], reference["p_lens"], atol=2e-5)
    assert not converted["ood_flags"].any()


def test_zero_point_option_wins_over_the_header_and_says_so(reference, tmp_path):
    catalog = _rescaled(tmp_path / "zp27", 29.0)  # a wrong card, corrected by the option
    result = run("predict", "lens", "--catalog", catalog, "--out", tmp_path / "b.fits",
                 "--zero-point", 27)  # fmt: skip
    line = "40 rows: --zero-point 27 overrides MAGZP = 29.0 (AB zero point 29) (first: "
    assert result.output.count(line) == 1  # once per run, naming the card and a file
    np.testing.assert_allclose(
        Table.read(tmp_path / "b.fits")["p_lens"], reference["p_lens"], atol=2e-5
    )


def test_an_undeclared_flux_scale_is_flagged_with_its_cause(reference, tmp_path):
    catalog = _rescaled(tmp_path / "silent", None)  # no card: taken as the model's units
    result = run("predict", "lens", "--catalog", catalog, "--out", tmp_path / "c.fits")
    unconverted = Table.read(tmp_path / "c.fits")
    assert np.abs(unconverted["p_lens"] - reference["p_lens"]).max() > 0.05  # units matter
    assert (unconverted["ood_flags"] & 1).all()  # NOISE_LOW
    assert "the flux scale differs (zero point / unit)" in result.output


def test_flux_unit_and_refusals():
    assert requested_zero_point(None, "nanomaggy") == 22.5
    assert requested_zero_point(None, "nJy") == 31.4
    with pytest.raises(AstrocnnError, match="not both"):
        requested_zero_point(27.0, "nJy")
    with pytest.raises(AstrocnnError, match="without a fixed AB zero point"):
        requested_zero_point(None, "ADU")
    meta = {"bands": ["g", "r"], "data_contract": {"bands": [{"zero_point": 30.0}] * 2}}
    assert flux_factors(meta, 27.5) == pytest.approx([10.0] * 2)
    with pytest.raises(AstrocnnError, match="does not record the zero point"):
        flux_factors({"bands": ["g"]}, 27.0)


@pytest.fixture(scope="module")
def hsc_like(tmp_path_factory):
    """Lens simulations at 0.168"/px (76 px), AB zero point 27, 2 mag deeper."""
    out = tmp_path_factory.mktemp("hsc_like")
    run("simulate", "lens", "--n", 24, "--seed", 5, "--out", out / "sims", "--quiet",
        "--pixel-scale", 0.168, "--size", 76, "--zero-point", 27, "--depth-offset", 2)  # fmt: skip
    return out / "sims" / "catalog.fits"


def test_another_survey_set_up_from_its_cards_alone(hsc_like, tmp_path):
    result = run("predict", "lens", "--catalog", hsc_like, "--out", tmp_path / "a.fits",
                 "--match-depth")  # fmt: skip
    assert "24 rows: resampled 0.168 -> 0.2 arcsec/px (header)" in result.output
    assert "24 rows: fluxes converted from AB zero point 27 to 30 (header)" in result.output
    table = Table.read(tmp_path / "a.fits")
    assert (table["status"] == "ok").all()
    assert np.median(table["noise_ratio"]) == pytest.approx(1.0, abs=0.1)  # matched
    assert (table["added_noise"] > 0).all() and table.meta["MATCHDEP"]
    assert np.mean(table["ood_flags"] != 0) <= 0.1


def test_the_same_set_up_from_options_when_the_cards_are_silent(hsc_like, tmp_path):
    silent = tmp_path / "silent"
    (silent / "cutouts").mkdir(parents=True)
    table = Table.read(hsc_like)
    for name in table["file"]:
        with fits.open(hsc_like.parent / name) as hdus:
            header = hdus[0].header
            for key in ("PIXSCALE", "MAGZP", "CDELT1", "CDELT2", "CTYPE1", "CTYPE2"):
                header.remove(key, ignore_missing=True)
            fits.PrimaryHDU(hdus[0].data, header).writeto(silent / name)
    table.write(silent / "catalog.fits")
    plain = run("predict", "lens", "--catalog", silent / "catalog.fits", "--out",
                tmp_path / "plain.fits", "--size-mode", "crop")  # fmt: skip
    assert "astrocnn: warning:" in plain.output  # undeclared: flagged, not converted
    result = run("predict", "lens", "--catalog", silent / "catalog.fits", "--out",
                 tmp_path / "b.fits", "--pixel-scale", 0.168, "--zero-point", 27,
                 "--match-depth")  # fmt: skip
    assert "24 rows: resampled 0.168 -> 0.2 arcsec/px (--pixel-scale)" in result.output
    converted = Table.read(tmp_path / "b.fits")
    assert np.median(converted["noise_ratio"]) == pytest.approx(1.0, abs=0.1)


def test_saturated_pixels_count_as_masked(tmp_path):
    """A SATURATE card at each cutout's 90th percentile: ~10 % of pixels saturated."""
    (tmp_path / "cutouts").mkdir()
    table = Table.read(SAMPLE_DATA / "lens" / "catalog.fits")[:8]
    for name in table["file"]:
        with fits.open(SAMPLE_DATA / "lens" / name) as hdus:
            header = hdus[0].header.copy()
            header["SATURATE"] = float(np.percentile(hdus[0].data, 90))
            fits.PrimaryHDU(hdus[0].data, header).writeto(tmp_path / name)
    table.write(tmp_path / "catalog.fits")
    run("predict", "lens", "--catalog", tmp_path / "catalog.fits", "--out", tmp_path / "o.fits")
    out = Table.read(tmp_path / "o.fits")
    np.testing.assert_allclose(out["masked_fraction"], 0.1, atol=0.01)
    assert (out["ood_flags"] & 8).all()  # MASKED
