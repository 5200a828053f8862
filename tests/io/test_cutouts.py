"""Cutout reader: layouts, formats, dtypes and every bad input it must name."""

import numpy as np
import pytest
from astropy.io import fits

from astrocnn.errors import CutoutError
from astrocnn.io.cutouts import CutoutSpec, fit_to_size, read_cutout

RNG = np.random.default_rng(0)


def cube(bands=4, size=16):
    return RNG.normal(size=(bands, size, size)).astype(np.float32)


def test_cube_becomes_hwc(tmp_path):
    data = cube()
    path = tmp_path / "c.fits"
    fits.PrimaryHDU(data).writeto(path)
    out = read_cutout(str(path)).data
    assert out.shape == (16, 16, 4) and out.dtype == np.float32
    np.testing.assert_array_equal(out[..., 2], data[2])


def test_separate_hdus_by_index_and_extname(tmp_path):
    data = cube(3)
    hdus = [fits.PrimaryHDU()] + [fits.ImageHDU(d, name=b) for d, b in zip(data, "gri")]
    path = tmp_path / "m.fits"
    fits.HDUList(hdus).writeto(path)
    auto = read_cutout(str(path)).data
    np.testing.assert_array_equal(auto[..., 1], data[1])
    by_name = read_cutout(str(path), CutoutSpec(2, (16, 16), hdus=("I", "G"))).data
    np.testing.assert_array_equal(by_name[..., 0], data[2])
    np.testing.assert_array_equal(by_name[..., 1], data[0])
    by_index = read_cutout(str(path), CutoutSpec(1, (16, 16), hdus=(2,))).data
    np.testing.assert_array_equal(by_index[..., 0], data[1])


def test_missing_named_hdu(tmp_path):
    path = tmp_path / "m.fits"
    fits.HDUList([fits.PrimaryHDU(cube(1)[0])]).writeto(path)
    with pytest.raises(CutoutError, match="no HDU 'Z'"):
        read_cutout(str(path), CutoutSpec(1, (16, 16), hdus=("Z",)))


def test_one_file_per_band(tmp_path):
    data = cube(2)
    paths = []
    for i, band in enumerate(data):
        paths.append(str(tmp_path / f"b{i}.fits"))
        fits.PrimaryHDU(band).writeto(paths[-1])
    out = read_cutout(paths, CutoutSpec(2, (16, 16))).data
    np.testing.assert_array_equal(out[..., 1], data[1])


def test_tile_compressed(tmp_path):
    data = cube(1)[0]
    path = tmp_path / "c.fits.fz"
    fits.HDUList(
        [fits.PrimaryHDU(), fits.CompImageHDU(data, compression_type="GZIP_1", quantize_level=0)]
    ).writeto(path)
    out = read_cutout(str(path)).data
    np.testing.assert_allclose(out[..., 0], data)


@pytest.mark.parametrize("dtype", [">i2", "<i4", ">f8", "<f4", "u1"])
def test_any_dtype_and_endianness_to_native_float32(tmp_path, dtype):
    data = (RNG.integers(1, 100, size=(2, 8, 8))).astype(dtype)
    path = tmp_path / "d.fits"
    fits.PrimaryHDU(data).writeto(path)
    out = read_cutout(str(path)).data
    assert out.dtype == np.float32 and out.dtype.isnative
    np.testing.assert_array_equal(out[..., 0], data[0].astype(np.float32))


def test_bscale_bzero_applied(tmp_path):
    path = tmp_path / "s.fits"
    hdu = fits.PrimaryHDU(np.arange(64, dtype=np.int16).reshape(8, 8))
    hdu.header["BSCALE"] = 0.5
    hdu.header["BZERO"] = 10.0
    hdu.writeto(path)
    out = read_cutout(str(path)).data[..., 0]
    assert out[0, 1] == pytest.approx(10.5)


def test_nonfinite_replaced_and_counted(tmp_path):
    data = cube(2)
    data[0, 0, 0] = np.nan
    data[1, 3, 3] = np.inf
    path = tmp_path / "n.fits"
    fits.PrimaryHDU(data).writeto(path)
    cut = read_cutout(str(path))
    assert cut.n_nonfinite == 2
    assert np.isfinite(cut.data).all() and cut.data[0, 0, 0] == 0


@pytest.mark.parametrize("fill,reason", [(np.nan, "NaN"), (0.0, "zero")])
def test_unusable_images_refused(tmp_path, fill, reason):
    path = tmp_path / "u.fits"
    fits.PrimaryHDU(np.full((2, 8, 8), fill, np.float32)).writeto(path)
    with pytest.raises(CutoutError, match=reason):
        read_cutout(str(path))


def test_missing_file_named(tmp_path):
    with pytest.raises(CutoutError, match=r"nope\.fits: file not found"):
        read_cutout(str(tmp_path / "nope.fits"))


def test_garbage_bytes(tmp_path):
    path = tmp_path / "garbage.fits"
    path.write_bytes(RNG.bytes(5000))
    with pytest.raises(CutoutError, match="garbage.fits"):
        read_cutout(str(path))


def test_truncated_file(tmp_path):
    path = tmp_path / "t.fits"
    fits.PrimaryHDU(cube(4, 64)).writeto(path)
    raw = path.read_bytes()
    path.write_bytes(raw[: len(raw) // 2])
    with pytest.raises(CutoutError, match="t.fits"):
        read_cutout(str(path))


def test_header_only_and_table_only(tmp_path):
    header_only = tmp_path / "h.fits"
    fits.PrimaryHDU().writeto(header_only)
    with pytest.raises(CutoutError, match="no image HDU"):
        read_cutout(str(header_only))
    table_only = tmp_path / "tab.fits"
    fits.HDUList(
        [
            fits.PrimaryHDU(),
            fits.BinTableHDU.from_columns([fits.Column("a", "E", array=np.ones(3))]),
        ]
    ).writeto(table_only)
    with pytest.raises(CutoutError, match="no image HDU"):
        read_cutout(str(table_only))
    with pytest.raises(CutoutError, match="holds no image"):
        read_cutout(str(table_only), CutoutSpec(1, (8, 8), hdus=(1,)))


@pytest.mark.parametrize("shape", [(16,), (2, 2, 8, 8)])
def test_wrong_dimensionality(tmp_path, shape):
    path = tmp_path / "dim.fits"
    fits.PrimaryHDU(np.ones(shape, np.float32)).writeto(path)
    with pytest.raises(CutoutError, match="dimensions"):
        read_cutout(str(path))


def test_wrong_band_count(tmp_path):
    path = tmp_path / "b.fits"
    fits.PrimaryHDU(cube(3)).writeto(path)
    with pytest.raises(CutoutError, match="has 3 band.*expects 4"):
        read_cutout(str(path), CutoutSpec(4, (16, 16)))


def test_mismatched_band_sizes(tmp_path):
    path = tmp_path / "mm.fits"
    fits.HDUList(
        [fits.PrimaryHDU(np.ones((8, 8), np.float32)), fits.ImageHDU(np.ones((9, 9), np.float32))]
    ).writeto(path)
    with pytest.raises(CutoutError, match="different shapes"):
        read_cutout(str(path))


def test_size_policy_is_explicit(tmp_path):
    path = tmp_path / "big.fits"
    data = cube(1, 20)
    fits.PrimaryHDU(data).writeto(path)
    with pytest.raises(CutoutError, match="20x20.*16x16.*--size-mode crop"):
        read_cutout(str(path), CutoutSpec(1, (16, 16)))
    cropped = read_cutout(str(path), CutoutSpec(1, (16, 16), size_mode="crop")).data
    np.testing.assert_array_equal(cropped[..., 0], data[0, 2:18, 2:18])
    with pytest.raises(CutoutError, match="--size-mode pad"):
        read_cutout(str(path), CutoutSpec(1, (24, 24), size_mode="crop"))
    padded = read_cutout(str(path), CutoutSpec(1, (24, 24), size_mode="pad")).data
    assert padded.shape == (24, 24, 1) and padded[0, 0, 0] == 0
    np.testing.assert_array_equal(padded[2:22, 2:22, 0], data[0])


def test_fit_to_size_mixed_needs_crop_pad():
    data = np.ones((10, 30, 1), np.float32)
    with pytest.raises(CutoutError, match="crop-pad"):
        fit_to_size(data, (20, 20), "crop")
    assert fit_to_size(data, (20, 20), "crop-pad").shape == (20, 20, 1)


def test_astropy_fallback_matches_fitsio(tmp_path, monkeypatch):
    import astrocnn.io.cutouts as cutouts

    path = tmp_path / "c.fits"
    data = cube()
    fits.PrimaryHDU(data).writeto(path)
    fast = read_cutout(str(path)).data
    monkeypatch.setattr(cutouts, "_fitsio", None)
    np.testing.assert_array_equal(read_cutout(str(path)).data, fast)


def test_unreadable_permissions(tmp_path):
    import os

    path = tmp_path / "p.fits"
    fits.PrimaryHDU(cube()).writeto(path)
    os.chmod(path, 0)
    try:
        if os.access(path, os.R_OK):
            pytest.skip("running as a user that ignores file permissions")
        with pytest.raises(CutoutError, match="permission denied"):
            read_cutout(str(path))
    finally:
        os.chmod(path, 0o644)


def _rgb(size=20):
    return RNG.integers(0, 255, size=(size, size, 3), dtype=np.uint8)


def test_jpeg_png_colour_and_grey(tmp_path):
    from skimage.io import imsave

    rgb = _rgb()
    imsave(tmp_path / "c.png", rgb)
    out = read_cutout(str(tmp_path / "c.png")).data
    assert out.shape == (20, 20, 3) and out.dtype == np.float32
    np.testing.assert_array_equal(out, rgb.astype(np.float32))
    imsave(tmp_path / "g.jpg", rgb[..., 0])
    assert read_cutout(str(tmp_path / "g.jpg")).data.shape == (20, 20, 1)


def test_alpha_and_palette_pngs(tmp_path):
    from PIL import Image

    rgba = np.dstack([_rgb(), np.full((20, 20), 255, np.uint8)])
    Image.fromarray(rgba, "RGBA").save(tmp_path / "opaque.png")
    assert read_cutout(str(tmp_path / "opaque.png")).data.shape == (20, 20, 3)
    rgba[0, 0, 3] = 10
    Image.fromarray(rgba, "RGBA").save(tmp_path / "transparent.png")
    with pytest.raises(CutoutError, match="transparent.png: image has a transparent alpha"):
        read_cutout(str(tmp_path / "transparent.png"))
    Image.fromarray(_rgb()).convert("P").save(tmp_path / "palette.png")
    assert read_cutout(str(tmp_path / "palette.png")).data.shape[-1] == 3


def test_png_named_jpg_and_garbage_jpeg(tmp_path):
    from PIL import Image

    Image.fromarray(_rgb()).save(tmp_path / "really_png.jpg", format="PNG")
    assert read_cutout(str(tmp_path / "really_png.jpg")).data.shape == (20, 20, 3)
    (tmp_path / "bad.jpg").write_bytes(b"\xff\xd8\xff" + RNG.bytes(300))
    with pytest.raises(CutoutError, match=r"bad.jpg: corrupt or truncated JPEG \(unreadable"):
        read_cutout(str(tmp_path / "bad.jpg"))


def test_kind_mismatch_and_resize(tmp_path):
    from skimage.io import imsave

    imsave(tmp_path / "c.png", _rgb(30))
    with pytest.raises(CutoutError, match="trained on FITS cutouts"):
        read_cutout(str(tmp_path / "c.png"), CutoutSpec(3, (30, 30), image_kind="fits"))
    resized = read_cutout(
        str(tmp_path / "c.png"), CutoutSpec(3, (16, 16), size_mode="resize", image_kind="raster")
    )
    assert resized.data.shape == (16, 16, 3)
    assert 0 <= resized.data.min() and resized.data.max() <= 255


def test_cube_with_an_empty_axis(tmp_path):
    # found by tests/test_fuzz_readers.py --fuzz-full: NAXIS3 = 0 crashed the band stacking
    path = tmp_path / "empty_axis.fits"
    fits.PrimaryHDU(np.zeros((0, 16, 16), np.float32)).writeto(path)
    with pytest.raises(CutoutError, match="empty_axis.fits: image has no pixels"):
        read_cutout(str(path), CutoutSpec(n_bands=4, size=(16, 16)))


def test_absurd_naxis_is_refused_quickly(tmp_path):
    # found by the fuzz test: NAXIS = 2**35 + 1 made the FITS libraries loop for ever
    raw = bytearray()
    fits.PrimaryHDU(np.ones((4, 16, 16), np.float32)).writeto(tmp_path / "ok.fits")
    raw = bytearray((tmp_path / "ok.fits").read_bytes())
    at = raw.index(b"NAXIS   =")
    raw[at : at + 80] = b"NAXIS   =          34359738369".ljust(80)
    (tmp_path / "naxis.fits").write_bytes(bytes(raw))
    with pytest.raises(CutoutError, match="naxis.fits: invalid header: NAXIS = 34359738369"):
        read_cutout(str(tmp_path / "naxis.fits"), CutoutSpec(n_bands=4, size=(16, 16)))
