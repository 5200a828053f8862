"""Tests for astrocnn.engine.tiling: seamless tiled prediction of large maps."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.ndimage import uniform_filter

from astrocnn.engine.tiling import blend_window, predict_tiled, tile_origins


def box_blur_tile(tiles):
    """3x3 box blur of each tile, periodic *within the tile*: wrong on its border."""
    out = np.zeros_like(tiles)
    for dy in (-1, 0, 1):
        for dx in (-1, 0, 1):
            out += np.roll(tiles, (dy, dx), axis=(1, 2))
    return out / 9.0


def periodic_blur(image):
    return box_blur_tile(image[None])[0]


@pytest.fixture(scope="module")
def image():
    rng = np.random.default_rng(0)
    return rng.normal(0.0, 1.0, (70, 45, 2))


def test_window_positive_and_partition_of_unity():
    w = blend_window(16, 6)
    assert np.all(w > 0) and np.all(w <= 1) and w.max() == 1.0
    np.testing.assert_allclose(w, w[::-1])
    # Ramps of neighbouring tiles overlapping by exactly `overlap` sum to 1.
    np.testing.assert_allclose(w[-6:] + w[:6], 1.0)
    np.testing.assert_array_equal(blend_window(8, 0), 1.0)
    with pytest.raises(ValueError):
        blend_window(8, 8)


@pytest.mark.parametrize("periodic", [True, False])
@pytest.mark.parametrize(("tile", "overlap"), [(16, 4), (16, 0), (13, 6), (64, 8)])
def test_pointwise_function_is_reproduced(image, periodic, tile, overlap):
    def fn(x):
        return np.concatenate([np.exp(x[..., :1]), x * x], axis=-1)

    out = predict_tiled(fn, image, tile, overlap=overlap, periodic=periodic, batch_size=5)
    assert out.shape == (70, 45, 3)
    np.testing.assert_allclose(out, fn(image[None])[0], rtol=1e-12, atol=1e-12)


def test_batches_bounded_and_float32_kept(image):
    sizes = []

    def fn(x):
        sizes.append(len(x))
        assert x.shape[1:] == (16, 16, 2) and x.dtype == np.float32
        return x[..., :1]

    out = predict_tiled(fn, image.astype(np.float32), 16, overlap=4, periodic=True, batch_size=3)
    assert out.dtype == np.float32 and out.shape == (70, 45, 1)
    assert max(sizes) <= 3 and sum(sizes) == len(tile_origins(70, 16, 4, periodic=True)) * len(
        tile_origins(45, 16, 4, periodic=True)
    )
    np.testing.assert_allclose(out[..., 0], image[..., 0], rtol=1e-6)


def seam_mask(length, tile, overlap, periodic, width=1):
    """Pixels within `width` of some tile border (along one axis)."""
    mask = np.zeros(length, bool)
    for o in tile_origins(length, tile, overlap, periodic=periodic):
        for edge in (o, o + tile - 1):
            for d in range(-width + 1, width):
                e = edge + d
                if periodic:
                    mask[e % length] = True
                elif 0 <= e < length:
                    mask[e] = True
    return mask


def test_seam_residual_of_a_local_convolution(image):
    """Tiled blur vs full-map blur: residual on tile borders is small.

    The per-tile blur is wrong on the outermost pixel ring of each tile (it wraps
    inside the tile), by O(field).  With overlap o the border pixel enters the
    blend with weight sin^2(pi / 4o) ~ 1% (o = 8), so on the seams the residual
    is ~1% of the un-blended error: rms below 2% and maximum below 6% of the
    field's rms (measured: 0.8% and 3.2%), where abutting tiles (no overlap) show
    errors of ~60% rms (max 300%).  Away from tile borders the result is exact.
    """
    tile, overlap = 24, 8
    full = periodic_blur(image)
    rms = full.std()
    tiled = predict_tiled(box_blur_tile, image, tile, overlap=overlap, periodic=True)
    resid = np.abs(tiled - full)
    seams = seam_mask(70, tile, overlap, True)[:, None] | seam_mask(45, tile, overlap, True)[None]
    assert seams.any() and (~seams).any()
    assert np.sqrt(np.mean(resid[seams] ** 2)) < 0.02 * rms
    assert resid[seams].max() < 0.06 * rms
    np.testing.assert_allclose(tiled[~seams], full[~seams], atol=1e-12)

    naive = predict_tiled(box_blur_tile, image, tile, overlap=0, periodic=True)
    naive_seams = seam_mask(70, tile, 0, True)[:, None] | seam_mask(45, tile, 0, True)[None]
    naive_resid = np.abs(naive - full)
    assert np.sqrt(np.mean(naive_resid[naive_seams] ** 2)) > 0.3 * rms
    assert naive_resid[naive_seams].max() > 20 * resid[seams].max()


def test_non_periodic_matches_mirror_padded_blur(image):
    # scipy's "reflect" is the half-sample mirror used for padding.
    full = uniform_filter(image, size=(3, 3, 1), mode="reflect")
    tiled = predict_tiled(box_blur_tile, image, 20, overlap=8, periodic=False, batch_size=4)
    assert tiled.shape == image.shape
    resid = np.abs(tiled - full)
    assert np.sqrt(np.mean(resid**2)) < 0.01 * full.std()
    assert resid.max() < 0.06 * full.std()
    # Map smaller than one tile: padded by reflection, still consistent.
    small = image[:9, :7]
    out = predict_tiled(box_blur_tile, small, 16, overlap=4, periodic=False)
    np.testing.assert_allclose(
        out, uniform_filter(small, size=(3, 3, 1), mode="reflect"), atol=1e-12
    )


def test_periodic_wrap_consistent():
    # A smooth periodic map: tiles straddle the boundary; the blur across the
    # wrap must agree with the full periodic blur (map and sizes not multiples).
    h, w = 50, 38
    y, x = np.mgrid[0:h, 0:w]
    field = (np.sin(2 * np.pi * 3 * y / h) + np.cos(2 * np.pi * 2 * x / w))[..., None]
    full = periodic_blur(field)
    tiled = predict_tiled(box_blur_tile, field, 16, overlap=6, periodic=True)
    np.testing.assert_allclose(tiled, full, atol=0.02 * full.std())
    # Shifting the map by half its size (the wrap now in the middle) commutes.
    shifted = predict_tiled(
        box_blur_tile, np.roll(field, (h // 2, w // 2), (0, 1)), 16, overlap=6, periodic=True
    )
    np.testing.assert_allclose(np.roll(shifted, (-(h // 2), -(w // 2)), (0, 1)), tiled, atol=0.02)
    # A map smaller than the tile is repeated periodically inside it.
    rng = np.random.default_rng(5)
    tiny = rng.normal(0.0, 1.0, (10, 7, 1))
    out = predict_tiled(box_blur_tile, tiny, 16, overlap=6, periodic=True)
    # Border weight sin^2(pi / 24) = 1.7% of an O(1) error on a field of rms 1/3.
    np.testing.assert_allclose(out, periodic_blur(tiny), atol=0.1 * periodic_blur(tiny).std())


def test_tile_origins_cover_the_map():
    for length in (1, 15, 16, 17, 100, 101):
        for periodic in (True, False):
            o = tile_origins(length, 16, 4, periodic=periodic)
            covered = np.zeros(length, int)
            for start in o:
                idx = start + np.arange(16)
                if periodic:
                    np.add.at(covered, idx % length, 1)
                else:
                    idx = idx[(idx >= 0) & (idx < length)]
                    covered[idx] += 1
            assert covered.min() >= 1
            if not periodic:
                assert o[0] <= -2 and o[-1] + 16 >= length + 2  # edges inside tiles


def test_validation(image):
    with pytest.raises(ValueError, match="overlap"):
        predict_tiled(lambda x: x, image, 8, overlap=8, periodic=True)
    with pytest.raises(ValueError, match="returned shape"):
        predict_tiled(lambda x: x[:, :4], image, 8, overlap=2, periodic=True)
    with pytest.raises(ValueError, match="image"):
        predict_tiled(lambda x: x, image[0, 0], 8, overlap=2, periodic=True)
    with pytest.raises(ValueError, match="batch_size"):
        predict_tiled(lambda x: x, image, 8, overlap=2, periodic=True, batch_size=0)
    out = predict_tiled(lambda x: x, image[..., 0], 8, overlap=2, periodic=False)
    assert out.shape == (70, 45, 1)
