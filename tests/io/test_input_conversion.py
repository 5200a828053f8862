"""Per-file conversion to a model's data contract: bands, axis order, pixel scale, units."""

import numpy as np
import pytest
from astropy.io import fits

from astrocnn.errors import CutoutError
from astrocnn.io.conversion import (
    ConversionOptions,
    InputConversion,
    ModelContract,
    frame_stats,
    parse_band_map,
    resample,
)
from astrocnn.io.cutouts import CutoutSpec, read_cutout

MODEL = ModelContract(
    bands=("g", "r", "i"), pixel_scale=0.2, zero_points=(30.0,) * 3, noise=(1.0,) * 3
)


def _spec(size=32, **options):
    conversion = InputConversion(MODEL, ConversionOptions(**options))
    return CutoutSpec(3, (size, size), size_mode="crop-pad", conversion=conversion)


def _write(path, cube, **cards):
    header = fits.Header()
    for key, value in cards.items():
        header[key] = value
    fits.PrimaryHDU(np.asarray(cube, np.float32), header).writeto(path)
    return str(path)


def _planes(n_planes, size=32):
    """Plane k holds the value k + 1 plus unit noise (so planes can be told apart)."""
    rng = np.random.default_rng(0)
    return np.stack([k + 1 + rng.standard_normal((size, size)) for k in range(n_planes)])


def test_band_map_parsing_and_mistakes():
    assert parse_band_map("HSC-G=g, 2=r") == (("HSC-G", "g"), ("2", "r"))
    with pytest.raises(CutoutError, match="is not IN=MODEL"):
        parse_band_map("g")


def test_bands_selected_and_ordered_by_their_names(tmp_path):
    path = _write(tmp_path / "c.fits", _planes(4), BANDS="z,i,r,g")
    data = read_cutout(path, _spec()).data
    np.testing.assert_allclose(data.mean(axis=(0, 1)), [4, 3, 2], atol=0.3)


def test_band_map_by_name_and_by_plane_number(tmp_path):
    named = _write(tmp_path / "n.fits", _planes(3), BANDS="HSC-G,HSC-R,HSC-I")
    spec = _spec(band_map=parse_band_map("HSC-I=i,HSC-R=r,HSC-G=g"))
    np.testing.assert_allclose(read_cutout(named, spec).data.mean(axis=(0, 1)), [1, 2, 3], atol=0.3)
    unnamed = _write(tmp_path / "u.fits", _planes(5))
    spec = _spec(band_map=parse_band_map("2=g,3=r,4=i"))
    np.testing.assert_allclose(
        read_cutout(unnamed, spec).data.mean(axis=(0, 1)), [2, 3, 4], atol=0.3
    )


def test_band_map_naming_a_band_the_file_lacks(tmp_path):
    path = _write(tmp_path / "c.fits", _planes(3), BANDS="HSC-G,HSC-R,HSC-I")
    spec = _spec(band_map=parse_band_map("HSC-G=g,HSC-R=r,HSC-Z=i"))
    with pytest.raises(CutoutError, match=r"c\.fits: --band-map names band 'HSC-Z', which the"):
        read_cutout(path, spec)


def test_a_band_the_map_leaves_out_is_missing(tmp_path):
    path = _write(tmp_path / "c.fits", _planes(2), BANDS="g,r")
    with pytest.raises(CutoutError, match="no data"):
        read_cutout(path, _spec(band_map=parse_band_map("g=g,r=r")))
    spec = _spec(band_map=parse_band_map("g=g,r=r"))
    spec = CutoutSpec(3, (32, 32), conversion=spec.conversion, missing_band="zero")
    cutout = read_cutout(path, spec)
    assert cutout.n_missing_bands == 1 and not cutout.data[..., 2].any()


def test_wrong_band_count_points_to_band_map(tmp_path):
    path = _write(tmp_path / "c.fits", _planes(5))
    with pytest.raises(CutoutError, match=r"has 5 band\(s\) but the model expects 3.*--band-map"):
        read_cutout(path, _spec())


def test_cube_saved_in_y_x_band_order_is_detected(tmp_path):
    cube = _planes(3)
    path = _write(tmp_path / "c.fits", np.moveaxis(cube, 0, -1))  # numpy (y, x, band)
    data = read_cutout(path, _spec()).data
    np.testing.assert_allclose(data.mean(axis=(0, 1)), [1, 2, 3], atol=0.3)


def test_undecidable_axis_order_is_refused_unless_given(tmp_path):
    path = _write(tmp_path / "c.fits", np.ones((3, 3, 3)))
    with pytest.raises(CutoutError, match=r"c\.fits: cannot decide the axis order.*--axis-order"):
        read_cutout(path, _spec(size=3))
    assert read_cutout(path, _spec(size=3, axis_order="band,y,x")).data.shape == (3, 3, 3)


def test_resampling_conserves_flux():
    y, x = np.mgrid[:101, :101] - 50.0
    source = np.exp(-(x**2 + y**2) / (2 * 4.0**2))[..., None].astype(np.float32)
    for ratio in (0.84, 1.25):
        out = resample(source, ratio)
        assert out.shape[0] == round(101 * ratio)
        assert out.sum() == pytest.approx(source.sum(), rel=0.01)


def test_header_pixel_scale_and_zero_point_are_converted(tmp_path):
    cube = _planes(3, 40) * np.float32(10 ** (0.4 * (27 - 30)))
    path = _write(tmp_path / "c.fits", cube, PIXSCALE=0.16, MAGZP=27.0)
    spec = _spec()
    data = read_cutout(path, spec).data
    assert data.shape == (32, 32, 3)  # 40 px at 0.16" is 32 px at 0.2"
    # fluxes back in the model's units; per-pixel values scale with pixel area
    np.testing.assert_allclose(data.mean(axis=(0, 1)), np.array([1, 2, 3]) / 0.8**2, rtol=0.1)
    lines = spec.conversion.log.lines()
    assert "1 rows: resampled 0.16 -> 0.2 arcsec/px (header)" in lines
    assert "1 rows: fluxes converted from AB zero point 27 to 30 (header)" in lines


def test_option_wins_over_a_contradicting_header(tmp_path):
    path = _write(tmp_path / "c.fits", _planes(3), MAGZP=27.0)
    spec = _spec(zero_point=30.0)
    read_cutout(path, spec)
    read_cutout(path, spec)
    assert spec.conversion.log.lines() == [
        f"2 rows: --zero-point 30 overrides MAGZP = 27.0 (AB zero point 27) (first: {path})"
    ]


def test_unknown_flux_unit_without_zero_point(tmp_path):
    path = _write(tmp_path / "c.fits", _planes(3), BUNIT="electron/s")
    with pytest.raises(CutoutError, match=r"c\.fits: BUNIT = 'electron/s' has no known AB zero"):
        read_cutout(path, _spec())
    assert read_cutout(path, _spec(zero_point=30.0)).data.shape == (32, 32, 3)


def test_pixel_scale_far_off_needs_confirmation(tmp_path):
    path = _write(tmp_path / "c.fits", _planes(3, 128), PIXSCALE=0.05)
    with pytest.raises(CutoutError, match=r"c\.fits: the header's pixel scale 0\.05 .*4\.0x off"):
        read_cutout(path, _spec())
    assert read_cutout(path, _spec(pixel_scale=0.05)).data.shape == (32, 32, 3)


def test_match_depth_reaches_the_training_noise():
    conversion = InputConversion(MODEL, ConversionOptions(match_depth=True, seed=3))
    rng = np.random.default_rng(1)
    images = [rng.standard_normal((64, 64, 3)).astype(np.float32) * 0.1 for _ in range(4)]
    before = frame_stats(np.stack(images))[1]
    added = conversion.match_depth(images, before, [f"f{i}.fits" for i in range(4)])
    after = frame_stats(np.stack(images))[1]
    assert np.median(after) == pytest.approx(1.0, rel=0.05)  # each within its 4 % scatter
    np.testing.assert_allclose(after, 1.0, rtol=0.2)
    np.testing.assert_allclose(added, np.sqrt(1 - before**2), rtol=1e-5)
    again = [rng.standard_normal((64, 64, 3)).astype(np.float32) * 0 for _ in range(1)]
    conversion.match_depth(again, np.zeros((1, 3), np.float32), ["f0.fits"])
    first = again[0].copy()
    again[0][:] = 0
    conversion.match_depth(again, np.zeros((1, 3), np.float32), ["f0.fits"])
    np.testing.assert_array_equal(again[0], first)  # the same file gets the same noise
