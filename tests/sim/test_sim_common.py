"""Tests of the header cards every stamp simulator writes (`astrocnn.sim.common`): the
background noise sigma ``SKYSIG_<BAND>`` each file states is the noise of its pixels."""

import numpy as np
import pytest
from astropy.io import fits
from astropy.stats import mad_std

from astrocnn.io.contract import header_contract, measured_noise
from astrocnn.sim.common import (
    add_noise,
    background_sigma,
    noise_cards,
    noise_from_depth,
    psf_cards,
    stamp_header,
)

N, SEED = 16, 5


def test_background_sigma_is_the_noise_of_a_blank_sky_pixel():
    sky, gain = noise_from_depth(0.2, 30.0, np.array([21.0, 20.0]), 0.9, np.array([1e4, 4e4]), 10)
    sigma = background_sigma(sky, gain)
    blank = np.zeros((2, 200, 200))
    image, var = add_noise(np.random.default_rng(0), blank, sky[:, None, None], gain[:, None, None])
    assert np.allclose(np.sqrt(var[:, 0, 0]), sigma)
    assert np.allclose(image.std(axis=(1, 2)), sigma, rtol=0.02)
    # sky-limited: sigma = F / (sqrt(4 pi) sigma_psf snr), sigma_psf in pixels
    sigma_psf = 0.9 / (2 * np.sqrt(2 * np.log(2)) * 0.2)
    assert np.allclose(sigma, np.sqrt([1e4, 4e4]) / (np.sqrt(4 * np.pi) * sigma_psf * 10))


def test_noise_cards_mirror_psf_cards():
    sigma = np.array([1.23456789, 2.5, 0.0123456789])
    cards = noise_cards(sigma, ("z", "g"), ("g", "r", "z"), "nJy")
    assert list(cards) == ["SKYSIG_Z", "SKYSIG_G"]
    assert cards["SKYSIG_Z"] == (0.0123457, "background noise sigma [nJy]")
    assert cards["SKYSIG_G"][0] == 1.23457
    assert list(psf_cards(sigma, ("z", "g"), ("g", "r", "z"))) == ["PSF_Z", "PSF_G"]
    long = noise_cards([1.0], ("dm_density",), ("dm_density",), "x")
    assert list(long) == ["SKYSIG_D"]  # keyword cut to 8 characters, as the reader does
    with pytest.raises(ValueError, match="clashing"):
        noise_cards([1.0, 2.0], ("ha", "hb"), ("ha", "hb"), "x")


def test_stamp_header_states_noise_and_one_band_filter():
    hdr = stamp_header(32, 0.2, ("i",), 27.0, "ADU", [3.5])
    assert hdr["FILTER"] == "i" and hdr["SKYSIG_I"] == 3.5 and hdr["MAGZP"] == 27.0
    assert hdr.comments["SKYSIG_I"] == "background noise sigma [ADU]"
    (entry,) = header_contract(hdr, ["i"])
    assert entry["noise_sigma"] == 3.5 and entry["zero_point"] == 27.0
    assert entry["pixel_scale"] == pytest.approx(0.2)
    noiseless = stamp_header(32, 0.2, ("g", "r"), 30.0, "ADU")
    assert "FILTER" not in noiseless and not any(k.startswith("SKYSIG") for k in noiseless)


def _lens(outdir):
    from astrocnn.tasks.lens.simulate import simulate_lens

    return simulate_lens(N, SEED, outdir), "file"


def _morphology(outdir):
    pytest.importorskip("galsim")
    from astrocnn.tasks.morphology.simulate import simulate_morphology

    # 96 pixels (25"): the frame clear of the bright (r = 15-18), large galaxies
    return simulate_morphology(N, SEED, outdir, size=96), "file"


def _photoz(outdir):
    pytest.importorskip("galsim")
    from astrocnn.tasks.photoz.simulate import simulate_photoz

    return simulate_photoz(N, SEED, outdir), "file"


def _deblend(outdir):
    pytest.importorskip("galsim")
    from astrocnn.tasks.deblend.simulate import simulate_deblend

    return simulate_deblend(N, SEED, outdir, galaxies=False), "file"


def _frame_difference_noise(cubes, border=4):
    """Noise per band from differences of adjacent pixels in the outer frame (smooth
    galaxy light there cancels)."""
    rows = np.concatenate([cubes[:, :, :border], cubes[:, :, -border:]], axis=2)
    diff = (rows[..., 1:] - rows[..., :-1]).swapaxes(0, 1).reshape(cubes.shape[1], -1)
    return np.array([mad_std(d) for d in diff]) / np.sqrt(2)


@pytest.mark.parametrize(
    "simulate, unit, tolerance",
    [
        (_lens, "ADU", (0.9, 1.1)),
        (_photoz, "nJy", (0.9, 1.1)),
        (_morphology, "nanomaggy", (0.9, 1.1)),
        # neighbours are placed up to 4 pixels from the edge: their light in the frame
        # that measured_noise reads can only add to it
        (_deblend, "nJy", (0.95, 1.2)),
    ],
    ids=["lens", "photoz", "morphology", "deblend"],
)
def test_files_state_their_noise(tmp_path, simulate, unit, tolerance):
    table, column = simulate(tmp_path)
    headers = [fits.getheader(tmp_path / f) for f in table[column]]
    cubes = np.stack([fits.getdata(tmp_path / f) for f in table[column]]).astype(float)
    bands = table.meta["BANDS"].split(",")
    stated = []
    for entry in header_contract(headers[0], bands):
        assert entry["pixel_scale"] == pytest.approx(table.meta["PIXSCALE"])
        assert entry["zero_point"] == table.meta["MAGZP"] and entry["flux_unit"] == unit
        assert entry["psf_fwhm"] > 0 and entry["noise_sigma"] > 0
        stated.append(entry["noise_sigma"])
    for header in headers[1:]:  # one noise model for the whole run
        assert [e["noise_sigma"] for e in header_contract(header, bands)] == stated
    stated = np.array(stated)
    ratio = np.array(measured_noise(np.moveaxis(cubes, 1, -1))) / stated
    assert np.all((ratio > tolerance[0]) & (ratio < tolerance[1])), ratio
    assert np.allclose(_frame_difference_noise(cubes), stated, rtol=0.06)


def test_deblend_truths_are_noiseless_and_the_field_states_its_noise(tmp_path):
    pytest.importorskip("galsim")
    from astrocnn.sim.lsst import sky_sigma
    from astrocnn.tasks.deblend.simulate import simulate_deblend, simulate_field

    table = simulate_deblend(2, SEED, tmp_path, size=32, bands=("r",), galaxies=False)
    stamp = fits.getheader(tmp_path / table["file"][0])
    assert stamp["FILTER"] == "r" and stamp["SKYSIG_R"] == pytest.approx(sky_sigma()[2], 1e-5)
    with fits.open(tmp_path / table["truth_file"][0]) as truth:
        for hdu in truth:
            assert not any(k.startswith("SKYSIG") for k in hdu.header)
        assert "FILTER" not in truth["SEGMENTATION"].header
    simulate_field(SEED, tmp_path / "field.fits", shape=(96, 96), n_galaxies=3)
    header, image = fits.getheader(tmp_path / "field.fits"), fits.getdata(tmp_path / "field.fits")
    stated = [e["noise_sigma"] for e in header_contract(header, ["g", "r", "i"])]
    assert np.allclose(stated, sky_sigma()[1:4], rtol=1e-5)
    assert np.allclose(_frame_difference_noise(image[None].astype(float)), stated, rtol=0.06)
