"""Painted maps' FITS files: byte for byte what astropy writes, whether the headers
are built by astropy or reused from an earlier map of the same layout."""

import numpy as np
import pytest
from astropy.io import fits

from astrocnn.engine import maps
from astrocnn.io.fits import headers as fits_headers
from astrocnn.io.fits import writer as fits_writer


def _input_header(box, slab, extra=()):
    header = fits.Header()
    header["BOXID"] = (box, "simulation box")
    header["SLABZ"] = (slab * 4.6875, "slab centre [Mpc/h]")
    header["BOXSIZE"] = 25.0
    header["PERIODIC"] = True
    header["CTYPE1"] = "X"
    for key, value in extra:
        header[key] = value
    return header


def _astropy_bytes(tmp_path, channels, header, cards):
    arrays = [(n, np.asarray(a, np.float32), u) for n, (a, u) in channels.items()]
    hdus = fits_headers._image_hdus(arrays, maps._carried_cards(header), cards)
    reference = tmp_path / "reference.fits"
    fits.HDUList(hdus).writeto(reference, output_verify="silentfix", overwrite=True)
    return reference.read_bytes()


def _channels(rng, size=32):
    return {
        "GAS": (rng.lognormal(size=(size, size)), "Msun/h/(Mpc/h)^2"),
        "TEMP": (rng.lognormal(10, 1, size=(size, size)), "K"),
        "HI": (rng.lognormal(size=(size, size)), ""),
    }


def test_reused_headers_write_astropys_bytes(tmp_path):
    rng = np.random.default_rng(0)
    fits_headers._TEMPLATES.clear()
    for k in range(4):
        channels = _channels(rng)
        header = _input_header(100 + k, k)
        cards = {"TASK": "paint", "MODEL": "paint.keras", "TTA": bool(k % 2)}
        path = maps.write_map_file(tmp_path / f"m{k}.fits", channels, header, cards=cards)
        assert path.read_bytes() == _astropy_bytes(tmp_path, channels, header, cards), k
    assert len(fits_headers._TEMPLATES) == 1  # learned once, reused for maps 1-3
    with fits.open(tmp_path / "m3.fits") as hdul:
        hdul.verify("exception")
        assert [h.name for h in hdul] == ["GAS", "TEMP", "HI"]
        assert hdul["TEMP"].header["BOXID"] == 103 and hdul[0].header["TTA"] is True


@pytest.mark.parametrize(
    "extra",
    [
        [("HIERARCH LONG KEYWORD NAME", 1.0)],  # keyword longer than 8 characters
        [("LONGSTR", "x" * 120)],  # a string continued over several cards
    ],
    ids=["hierarch", "continued"],
)
def test_headers_astropy_must_build_still_give_astropys_bytes(tmp_path, extra):
    rng = np.random.default_rng(1)
    for k in range(2):
        channels = _channels(rng, 16)
        header = _input_header(k, k, extra)
        path = maps.write_map_file(tmp_path / f"m{k}.fits", channels, header, cards={"TASK": "x"})
        assert path.read_bytes() == _astropy_bytes(tmp_path, channels, header, {"TASK": "x"})


def test_non_standard_card_formatting_is_left_to_astropy(tmp_path):
    """A carried card astropy would write differently from a fresh card (here a float
    written as 2.50000E+01 by another program) sends the map to astropy."""
    rng = np.random.default_rng(2)
    fits_headers._TEMPLATES.clear()
    channels = _channels(rng, 16)
    maps.write_map_file(tmp_path / "first.fits", channels, _input_header(1, 1), cards={})
    text = _input_header(2, 2).tostring()
    canonical = fits.Card("BOXSIZE", 25.0).image
    odd = canonical.replace("25.0".rjust(20), "2.50000E+01".rjust(20))
    header = fits.Header.fromstring(text.replace(canonical, odd))
    assert header.cards["BOXSIZE"].image == odd
    path = maps.write_map_file(tmp_path / "odd.fits", channels, header, cards={})
    assert path.read_bytes() == _astropy_bytes(tmp_path, channels, header, {})
    assert odd.encode() in path.read_bytes()


@pytest.mark.parametrize("dtype", ["int32", "int16", "float64", "uint8", "uint16", "int8"])
def test_image_files_of_any_type_are_astropys(tmp_path, monkeypatch, dtype):
    """Segmentation maps (integers, a WCS header) and other types: the same bytes as
    astropy, also when the data are converted in several chunks; types astropy stores
    with BZERO go through astropy."""
    from astropy.wcs import WCS

    monkeypatch.setattr(fits_writer, "_WRITE_CHUNK", 100)  # several rows per chunk
    rng = np.random.default_rng(3)
    fits_headers._TEMPLATES.clear()
    for k in range(3):
        wcs = WCS(naxis=2)
        wcs.wcs.ctype = ["RA---TAN", "DEC--TAN"]
        wcs.wcs.crval = [10.0 + k, -5.0 - k]
        wcs.wcs.cdelt = [-1e-4, 1e-4]
        wcs.wcs.crpix = [16.5, 12.5 + k]
        data = (rng.random((25, 33)) * 100).astype(dtype)
        cards = {"BUNIT": "", "CONTENT": "source id (0 = background)"}
        # wcslib's own cards ('deg' unpadded) go through astropy; the same cards made
        # anew (as fields.write_map does) have astropy's formatting and are reused
        raw = wcs.to_header()
        carried = fits.Header([(c.keyword, c.value, c.comment) for c in raw.cards])
        header = raw if k == 0 else carried
        path = fits_headers.write_image_file(
            tmp_path / f"s{k}.fits", [(None, data, None)], header, cards
        )
        reference = tmp_path / "reference.fits"
        hdus = fits_headers._image_hdus([(None, data, None)], header, cards)
        fits.HDUList(hdus).writeto(reference, output_verify="silentfix", overwrite=True)
        assert path.read_bytes() == reference.read_bytes(), k
        np.testing.assert_array_equal(fits.getdata(path), data)
    assert bool(fits_headers._TEMPLATES) == (dtype not in ("uint16", "int8"))
