"""Tests for astrocnn.tasks.deblend.baseline: sep detection and central-source photometry."""

from __future__ import annotations

import numpy as np
import pytest

from astrocnn.tasks.deblend.baseline import (
    FLAG_NO_CENTRAL,
    FLAG_NO_DETECTION,
    FLAG_OK,
    baseline_on_stamps,
    central_fluxes,
    detect_sources,
)

SIZE = 64
CENTRE = (SIZE - 1) / 2.0
SED = np.array([0.6, 1.0, 1.3])  # flux ratio per band (g, r, i)


def exponential(x0, y0, flux, r_e, *, q=0.7, pa=0.4, size=SIZE):
    """Elliptical exponential (Sersic n=1) profile of total flux ``flux`` (sampled sum)."""
    y, x = np.mgrid[:size, :size].astype(np.float64)
    dx, dy = x - x0, y - y0
    c, s = np.cos(pa), np.sin(pa)
    u = c * dx + s * dy
    v = (-s * dx + c * dy) / q
    prof = np.exp(-1.678 * np.hypot(u, v) / r_e)
    return flux * prof / prof.sum()


def stamp(sources, rng, *, sigma=1.0):
    """NHWC (H, W, 3) stamp: sum of (x, y, flux, r_e, sed) sources + Gaussian noise."""
    img = np.zeros((SIZE, SIZE, 3))
    for x0, y0, flux, r_e, sed in sources:
        img += exponential(x0, y0, 1.0, r_e)[..., None] * (flux * np.asarray(sed))
    return img + rng.normal(0.0, sigma, img.shape)


def test_detect_sources_isolated_and_segmap():
    rng = np.random.default_rng(1)
    img = stamp([(CENTRE, CENTRE, 3000.0, 2.5, SED)], rng).sum(axis=-1)
    objects, segmap = detect_sources(img)
    assert len(objects) == 1
    obj = objects[0]
    assert obj["segment_id"] == 1
    assert abs(obj["x"] - CENTRE) < 0.3 and abs(obj["y"] - CENTRE) < 0.3
    assert obj["a"] >= obj["b"] > 0
    assert segmap.dtype == np.int32 and segmap.shape == img.shape
    assert set(np.unique(segmap)) == {0, 1}
    assert segmap[32, 32] == 1
    # the isophotal flux holds most of the total 3000 * SED.sum()
    assert 0.8 < obj["flux"] / (3000.0 * SED.sum()) < 1.01


def test_detect_sources_no_source_empty_and_zero_image():
    rng = np.random.default_rng(2)
    objects, segmap = detect_sources(rng.normal(0.0, 1.0, (SIZE, SIZE)))
    assert len(objects) == 0 and not segmap.any()
    objects, segmap = detect_sources(np.zeros((SIZE, SIZE)))
    assert len(objects) == 0 and not segmap.any()
    with pytest.raises(ValueError, match="2-D"):
        detect_sources(np.zeros((2, SIZE, SIZE)))


def test_detect_sources_big_endian_and_non_contiguous():
    rng = np.random.default_rng(3)
    img = stamp([(CENTRE, CENTRE, 3000.0, 2.5, SED)], rng).sum(axis=-1)
    ref, _ = detect_sources(img)
    big = img.astype(">f4")
    obj_big, _ = detect_sources(big)
    strided = np.asfortranarray(img)[:, :]
    obj_f, _ = detect_sources(strided)
    assert len(obj_big) == len(obj_f) == 1
    np.testing.assert_allclose(obj_big["flux"], ref["flux"], rtol=1e-5)
    np.testing.assert_allclose(obj_f["flux"], ref["flux"], rtol=1e-12)


def test_isolated_source_auto_and_iso_fluxes():
    rng = np.random.default_rng(4)
    truth = 2000.0 * SED
    errs_auto, errs_iso = [], []
    for _ in range(5):
        cube = stamp([(CENTRE, CENTRE, 2000.0, 2.5, SED)], rng)
        auto = central_fluxes(cube, method="auto")
        iso = central_fluxes(cube, method="iso")
        assert auto.flag == FLAG_OK and auto.n_detections == 1
        assert auto.segment_mask.dtype == bool and auto.segment_mask[32, 32]
        errs_auto.append(auto.flux / truth - 1.0)
        errs_iso.append(iso.flux / truth - 1.0)
    errs_auto, errs_iso = np.array(errs_auto), np.array(errs_iso)
    assert np.all(np.abs(errs_auto) < 0.05), errs_auto
    assert np.all(np.abs(errs_iso) < 0.15), errs_iso
    # Known background (0) gives the same within a few per cent.
    cube = stamp([(CENTRE, CENTRE, 2000.0, 2.5, SED)], rng)
    res = central_fluxes(cube, background=0.0)
    assert np.all(np.abs(res.flux / truth - 1.0) < 0.05)


def test_well_separated_pair_both_detected_and_central_flux():
    rng = np.random.default_rng(5)
    truth = 2000.0 * SED
    cube = stamp(
        [(CENTRE, CENTRE, 2000.0, 2.5, SED), (CENTRE + 18, CENTRE + 4, 3000.0, 2.5, SED[::-1])],
        rng,
    )
    res = central_fluxes(cube)
    assert res.n_detections == 2 and res.flag == FLAG_OK
    assert abs(res.x - CENTRE) < 0.5
    assert np.all(np.abs(res.flux / truth - 1.0) < 0.06)
    # the neighbour's segment is not part of the central mask
    assert not res.segment_mask[int(CENTRE + 4), int(CENTRE + 18)]
    assert res.segmap[int(CENTRE + 4), int(CENTRE + 18)] not in (0, res.segment_id)
    iso = central_fluxes(cube, method="iso")
    assert np.all(np.abs(iso.flux / truth - 1.0) < 0.15)


def test_heavy_blend_is_worse_than_separated():
    """The classical baseline struggles with close pairs (documents its limitation)."""
    rng = np.random.default_rng(6)
    truth = 2000.0 * SED

    def median_abs_err(offset):
        errs = []
        for _ in range(6):
            cube = stamp(
                [
                    (CENTRE, CENTRE, 2000.0, 3.0, SED),
                    (CENTRE + offset, CENTRE, 2000.0, 3.0, SED[::-1]),
                ],
                rng,
            )
            errs.append(central_fluxes(cube).flux / truth - 1.0)
        return float(np.nanmedian(np.abs(errs)))

    far, close = median_abs_err(20.0), median_abs_err(4.0)
    assert far < 0.06
    assert close > 0.15
    assert close > 3 * far


def test_noise_only_gives_nan_and_flag():
    rng = np.random.default_rng(7)
    res = central_fluxes(rng.normal(0.0, 1.0, (SIZE, SIZE, 3)))
    assert res.flag == FLAG_NO_DETECTION and res.n_detections == 0
    assert np.all(np.isnan(res.flux)) and res.flux.shape == (3,)
    assert not res.segment_mask.any() and res.reason
    assert not res.found


def test_off_centre_source_only_gives_no_central():
    rng = np.random.default_rng(8)
    cube = stamp([(CENTRE + 20, CENTRE - 15, 3000.0, 2.0, SED)], rng)
    res = central_fluxes(cube)
    assert res.n_detections == 1 and res.flag == FLAG_NO_CENTRAL
    assert np.all(np.isnan(res.flux))


def test_layouts_and_dtypes():
    rng = np.random.default_rng(9)
    cube = stamp([(CENTRE, CENTRE, 2000.0, 2.5, SED)], rng)
    ref = central_fluxes(cube)
    chw = central_fluxes(np.moveaxis(cube, -1, 0), channels_last=False)
    big = central_fluxes(cube.astype(">f8"))
    np.testing.assert_allclose(chw.flux, ref.flux, rtol=1e-12)
    np.testing.assert_allclose(big.flux, ref.flux, rtol=1e-12)
    with pytest.raises(ValueError, match="method"):
        central_fluxes(cube, method="petro")
    with pytest.raises(ValueError, match="background"):
        central_fluxes(cube, background=[0.0, 0.0])


def test_baseline_on_stamps_nhwc_float32():
    rng = np.random.default_rng(10)
    cubes = np.stack(
        [
            stamp([(CENTRE, CENTRE, 2000.0, 2.5, SED)], rng),
            rng.normal(0.0, 1.0, (SIZE, SIZE, 3)),
            stamp([(CENTRE, CENTRE, 2000.0, 2.5, SED), (CENTRE - 17, CENTRE, 900, 2, SED)], rng),
        ]
    ).astype(np.float32)
    res = baseline_on_stamps(cubes)
    assert res.flux.shape == (3, 3) and res.segment_mask.shape == (3, SIZE, SIZE)
    assert list(res.flag) == [FLAG_OK, FLAG_NO_DETECTION, FLAG_OK]
    assert list(res.n_detections) == [1, 0, 2]
    assert np.all(np.isnan(res.flux[1]))
    rel = res.flux[[0, 2]] / (2000.0 * SED) - 1.0
    assert np.all(np.abs(rel) < 0.06)
    nchw = baseline_on_stamps(np.moveaxis(cubes, -1, 1).astype(">f4"), channels_last=False)
    np.testing.assert_allclose(nchw.flux, res.flux, rtol=1e-6)
    iso = baseline_on_stamps(cubes, "iso", background=0.0)
    assert np.all(np.abs(iso.flux[0] / (2000.0 * SED) - 1.0) < 0.15)
    with pytest.raises(ValueError, match="cubes"):
        baseline_on_stamps(np.zeros((SIZE, SIZE)))


def test_baseline_result_mapping_access():
    rng = np.random.default_rng(11)
    cubes = stamp([(CENTRE, CENTRE, 2000.0, 2.5, SED)], rng)[None]
    res = baseline_on_stamps(cubes)
    assert res["flux"] is res.flux
    assert res["central_mask"] is res.segment_mask and res["central_mask"][0, 32, 32]
    with pytest.raises(KeyError):
        res["nope"]


def test_pixel_stack_overflow_is_retried():
    import sep

    old = sep.get_extract_pixstack()
    sep.set_extract_pixstack(50)
    try:
        img = np.zeros((SIZE, SIZE))
        img[10:40, 10:40] = 10.0
        objects, segmap = detect_sources(img, rms=1.0)
        assert len(objects) == 1 and (segmap == 1).sum() >= 900
    finally:
        sep.set_extract_pixstack(old)
