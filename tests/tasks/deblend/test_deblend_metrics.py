"""Tests for astrocnn.tasks.deblend.metrics: flux errors, IoU, matching, report."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from astrocnn.tasks.deblend.metrics import (
    binned_flux_errors,
    deblend_report,
    flux_error_summary,
    iou,
    iou_summary,
    match_detections,
    relative_flux_error,
)


def test_relative_flux_error_values_and_validation():
    err = relative_flux_error([[110.0, 45.0], [np.nan, 20.0]], [[100.0, 50.0], [10.0, 10.0]])
    np.testing.assert_allclose(err[0], [0.1, -0.1])
    assert np.isnan(err[1, 0]) and err[1, 1] == pytest.approx(1.0)
    with pytest.raises(ValueError, match="shape"):
        relative_flux_error([1.0, 2.0], [1.0])
    with pytest.raises(ValueError, match="non-zero"):
        relative_flux_error([1.0], [0.0])
    with pytest.raises(ValueError, match="finite"):
        relative_flux_error([1.0], [np.nan])
    with pytest.raises(ValueError, match="numeric"):
        relative_flux_error(["a"], [1.0])


def test_flux_error_summary_hand_values():
    s = flux_error_summary([-0.2, -0.1, 0.0, 0.1, 0.4, np.nan, np.inf])
    assert s["n"] == 5 and s["n_failed"] == 2
    assert s["median_abs"] == pytest.approx(0.1)
    assert s["mean_abs"] == pytest.approx(0.16)
    assert s["median"] == pytest.approx(0.0)
    p16, p84 = np.percentile([-0.2, -0.1, 0.0, 0.1, 0.4], [16, 84])
    assert s["spread68"] == pytest.approx(0.5 * (p84 - p16))
    # a Gaussian of sigma 0.1: spread68 ~ 0.1, median_abs ~ 0.0674
    g = np.random.default_rng(0).normal(0.02, 0.1, 200_000)
    s = flux_error_summary(g)
    assert s["spread68"] == pytest.approx(0.1, rel=0.01)
    assert s["median"] == pytest.approx(0.02, abs=0.001)
    empty = flux_error_summary([np.nan, np.nan])
    assert empty["n"] == 0 and empty["n_failed"] == 2 and math.isnan(empty["median_abs"])


def test_binned_flux_errors():
    err = np.array([[0.1, -0.1], [0.2, 0.2], [0.5, np.nan], [1.0, -1.0]])
    sep = np.array([0.2, 0.8, 2.5, np.nan])
    rows = binned_flux_errors(err, sep, [0.0, 1.0, 2.0, np.inf])
    assert [r["n"] for r in rows] == [4, 0, 1]
    assert [r["n_failed"] for r in rows] == [0, 0, 1]
    assert rows[0]["lo"] == 0.0 and rows[2]["hi"] is None
    assert rows[0]["median_abs"] == pytest.approx(0.15)
    assert rows[0]["mean_abs"] == pytest.approx(0.15)
    assert rows[0]["median"] == pytest.approx(0.15)
    assert math.isnan(rows[1]["median_abs"])
    assert rows[2]["median_abs"] == pytest.approx(0.5)
    # (lo, hi) pairs and 1-D errors
    rows = binned_flux_errors([0.1, -0.3], [0.5, 1.5], [[0.0, 1.0], [1.0, 2.0]])
    assert [r["median"] for r in rows] == pytest.approx([0.1, -0.3])
    with pytest.raises(ValueError, match="increasing"):
        binned_flux_errors([0.1], [0.5], [1.0, 0.0])
    with pytest.raises(ValueError, match="rel_err"):
        binned_flux_errors([0.1, 0.2], [0.5], [0.0, 1.0])


def test_iou_including_empty_masks():
    pred = np.zeros((4, 4, 4), dtype=bool)
    true = np.zeros((4, 4, 4), dtype=bool)
    pred[0, :2, :2] = True  # 4 px
    true[0, :2, :3] = True  # 6 px, overlap 4 -> 4/6
    true[1, 0, 0] = True  # pred empty -> 0
    # object 2: both empty -> 1
    pred[3] = true[3] = True  # identical -> 1
    out = iou(pred, true)
    np.testing.assert_allclose(out, [4 / 6, 0.0, 1.0, 1.0])
    assert float(iou(pred[0], true[0])) == pytest.approx(4 / 6)
    s = iou_summary(out)
    assert s["iou_mean"] == pytest.approx((4 / 6 + 2) / 4)
    assert s["iou_median"] == pytest.approx((4 / 6 + 1) / 2)
    with pytest.raises(ValueError, match="shape"):
        iou(pred, true[:2])


def test_match_detections_known_configuration():
    true_xy = [[0.0, 0.0], [10.0, 0.0], [20.0, 0.0], [50.0, 50.0]]
    # det 0 lies between true 0 and 1 but nearer 1; det 1 is near true 1 only;
    # a greedy match of det 0 to true 1 would lose true 0.  det 3 is spurious.
    det_xy = [[6.0, 0.0], [11.0, 0.0], [20.5, 0.5], [90.0, 90.0]]
    m = match_detections(det_xy, true_xy, radius=7.0)
    assert m["n_matched"] == 3 and m["n_true"] == 4 and m["n_det"] == 4
    assert m["completeness"] == pytest.approx(0.75)
    assert m["purity"] == pytest.approx(0.75)
    assert m["pairs"].tolist() == [[0, 0], [1, 1], [2, 2]]
    np.testing.assert_allclose(m["distance"], [6.0, 1.0, math.hypot(0.5, 0.5)])
    none = match_detections(np.zeros((0, 2)), true_xy, radius=1.0)
    assert none["completeness"] == 0.0 and math.isnan(none["purity"])
    far = match_detections([[100.0, 0.0]], [[0.0, 0.0]], radius=5.0)
    assert far["n_matched"] == 0 and far["purity"] == 0.0
    with pytest.raises(ValueError, match="radius"):
        match_detections(det_xy, true_xy, radius=0.0)
    with pytest.raises(ValueError, match=r"\(m, 2\)"):
        match_detections([[1.0, 2.0, 3.0]], true_xy, radius=1.0)


def test_deblend_report_keys_values_and_json():
    rng = np.random.default_rng(1)
    n = 60
    true = rng.uniform(100.0, 1000.0, (n, 2))
    rel = rng.normal(0.0, 0.1, (n, 2))
    pred = true * (1.0 + rel)
    pred[0, 1] = np.nan
    separation = rng.uniform(0.0, 4.0, n)
    delta_mag = rng.uniform(-3.0, 3.0, n)
    ious = rng.uniform(0.5, 1.0, n)
    report = deblend_report(
        true, pred, bands=("g", "r"), separation=separation, delta_mag=delta_mag, iou=ious
    )
    for key in (
        "n",
        "bands",
        "median_abs_flux_error",
        "mean_abs_flux_error",
        "spread68_flux_error",
        "median_flux_error",
        "n_failed",
        "flux_g",
        "flux_r",
        "by_separation",
        "by_delta_mag",
        "iou_mean",
        "iou_median",
    ):
        assert key in report, key
    finite = rel.ravel()[np.isfinite(pred.ravel())]
    assert report["median_abs_flux_error"] == pytest.approx(np.median(np.abs(finite)))
    assert report["n_failed"] == 1 and report["flux_r"]["n_failed"] == 1
    assert report["flux_g"]["n"] == n and report["flux_r"]["n"] == n - 1
    assert len(report["by_separation"]) == 6 and len(report["by_delta_mag"]) == 6
    assert sum(r["n"] for r in report["by_separation"]) == 2 * n - 1
    assert report["by_delta_mag"][0]["lo"] is None
    assert report["iou_mean"] == pytest.approx(ious.mean())
    json.loads(json.dumps(report, allow_nan=True))
    minimal = deblend_report(true, pred, bands=["g", "r"])
    assert "by_separation" not in minimal and "iou_mean" not in minimal


def test_deblend_report_validation():
    true = np.ones((3, 2))
    with pytest.raises(ValueError, match="flux_true"):
        deblend_report(true, true, bands=("g",))
    with pytest.raises(ValueError, match="unique"):
        deblend_report(true, true, bands=("g", "g"))
    with pytest.raises(ValueError, match="separation"):
        deblend_report(true, true, bands=("g", "r"), separation=[1.0, 2.0])
    with pytest.raises(ValueError, match="at least one"):
        deblend_report(np.ones((0, 2)), np.ones((0, 2)), bands=("g", "r"))
    with pytest.raises(ValueError, match="shape"):
        deblend_report(true, np.ones((3, 3)), bands=("g", "r"))
