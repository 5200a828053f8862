"""The data contract read from FITS headers, and measured where headers are silent."""

import math

import numpy as np
import pytest
from astropy.io import fits
from paths import SAMPLE_DATA

from astrocnn.io import contract


def test_pixel_scale_of_a_real_hsc_cutout_from_its_wcs():
    header = fits.getheader(SAMPLE_DATA / "realdata" / "hsc" / "Cut_HSC.fits")
    assert contract.pixel_scale(header) == pytest.approx(0.168, rel=1e-4)  # PC + CDELT
    assert contract.zero_point(header) is None  # the file does not state its units


@pytest.mark.parametrize(
    "cards, scale",
    [
        ({"CTYPE1": "RA---TAN", "CTYPE2": "DEC--TAN", "CD1_1": -0.2 / 3600, "CD2_2": 0.2 / 3600,
          "CD1_2": 0.0, "CD2_1": 0.0}, 0.2),
        ({"CTYPE1": "RA---TAN", "CTYPE2": "DEC--TAN", "CDELT1": -0.263 / 3600,
          "CDELT2": 0.263 / 3600}, 0.263),
        ({"PIXSCALE": 0.1}, 0.1),
        ({"SECPIX": 0.396}, 0.396),
        ({}, None),
    ],
)  # fmt: skip
def test_pixel_scale_card_families(cards, scale):
    got = contract.pixel_scale(fits.Header(cards))
    assert got == (None if scale is None else pytest.approx(scale, rel=1e-6))


@pytest.mark.parametrize(
    "cards, zp",
    [
        ({"MAGZP": 30.0}, 30.0),
        ({"MAGZERO": 27.0}, 27.0),
        ({"ZP": 25.5}, 25.5),
        ({"FLUXMAG0": 10**12}, 30.0),
        ({"BUNIT": "nanomaggy"}, 22.5),
        ({"BUNIT": "nJy"}, 31.4),
        ({"BUNIT": "ADU"}, None),
        ({"MAGZP": 28.0, "BUNIT": "nJy"}, 28.0),  # a stated zero point wins
    ],
)
def test_zero_point_card_families(cards, zp):
    got = contract.zero_point(fits.Header(cards))
    assert got == (None if zp is None else pytest.approx(zp))


def test_band_psf_and_noise_cards():
    header = fits.Header({"BANDS": "g,r", "PSF_G": 0.9, "SEEING": 1.1, "SKYSIG": 3.0})
    assert contract.band_names(header, 2) == ["g", "r"]
    assert contract.band_names(fits.Header({"FILTER": "HSC-I"}), 1) == ["HSC-I"]
    assert contract.psf_fwhm(header, "g") == 0.9 and contract.psf_fwhm(header, "r") == 1.1
    assert contract.noise_card(header, "r") == 3.0


def test_measured_noise_is_the_background_sigma_despite_a_bright_centre():
    rng = np.random.default_rng(1)
    images = rng.normal(0, [2.0, 5.0], size=(200, 32, 32, 2)).astype(np.float32)
    images[:, 10:22, 10:22, :] += 500  # the object: away from the frame used
    sigma = contract.measured_noise(images)
    assert sigma == pytest.approx([2.0, 5.0], rel=0.03)


def test_training_contract_takes_the_median_over_files_and_measures_noise():
    headers = [fits.Header({"PIXSCALE": 0.2, "MAGZP": 30.0, "BUNIT": "ADU", "PSF_G": s})
               for s in (0.7, 0.9, 1.3)]  # fmt: skip
    images = np.random.default_rng(2).normal(0, 4.0, (50, 16, 16, 1))
    got = contract.training_contract(headers, ["g"], images, (16, 16))
    band = got["bands"][0]
    assert band["psf_fwhm"] == 0.9 and band["zero_point"] == 30.0 and band["flux_unit"] == "ADU"
    assert band["noise_sigma"] == pytest.approx(4.0, rel=0.05) and got["noise_measured"] == ["g"]
    assert got["cutout_arcsec"] == pytest.approx(3.2)
    assert all(math.isfinite(v) for v in (band["pixel_scale"], band["noise_sigma"]))


def test_model_card_of_a_jpeg_model_claims_no_flux_units():
    from astrocnn.io.contract import describe

    contract = {"bands": [{"name": "R", "noise_sigma": 5.2}, {"name": "G", "noise_sigma": 2.8}]}
    (line,) = describe(contract, "raster")
    assert "8-bit" in line and "R 5.2" in line and "zero point ?" not in line
