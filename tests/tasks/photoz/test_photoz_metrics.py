"""Tests for astrocnn.tasks.photoz.metrics."""

from __future__ import annotations

import json

import numpy as np
import pytest
from scipy.special import ndtr

from astrocnn.tasks.photoz.metrics import (
    crps_ensemble,
    dz,
    pit_ensemble,
    pit_histogram,
    pit_ks,
    redshift_report,
    sigma_mad,
)


def brute_crps(x, y):
    """O(k^2) ensemble CRPS: mean |x - y| - 0.5 mean |x_i - x_j|."""
    return np.mean(np.abs(x - y)) - 0.5 * np.mean(np.abs(x[:, None] - x[None, :]))


def test_dz():
    np.testing.assert_allclose(dz([1.1, 0.0], [1.0, 0.5]), [0.05, -1 / 3])


def test_sigma_mad_of_gaussian_and_robust_to_outliers():
    rng = np.random.default_rng(0)
    d = rng.normal(0.01, 0.03, 50_000)
    assert sigma_mad(d) == pytest.approx(0.03, rel=0.02)
    d[:2000] = 5.0  # 4 % catastrophic outliers barely move it
    assert sigma_mad(d) == pytest.approx(0.03, rel=0.1)
    assert sigma_mad([1.0, 2.0, 4.0]) == pytest.approx(1.4826)


def test_report_outlier_fractions_on_hand_made_arrays():
    z_true = np.zeros(10)
    z_phot = np.array([0.0, 0.01, -0.04, 0.06, -0.1, 0.2, -0.3, 0.0, 0.02, 0.15])
    r = redshift_report(z_true, z_phot)
    assert r["n"] == 10
    assert r["outlier_frac_005"] == pytest.approx(0.5)  # 0.06, -0.1, 0.2, -0.3, 0.15
    assert r["outlier_frac_015"] == pytest.approx(0.2)  # 0.2, -0.3 (0.15 is not > 0.15)
    assert r["bias"] == pytest.approx(np.mean(z_phot))
    assert r["median_dz"] == pytest.approx(np.median(z_phot))
    assert r["std_dz"] == pytest.approx(np.std(z_phot))
    # normalisation by 1 + z_true
    r2 = redshift_report([1.0, 1.0], [1.2, 1.4])  # dz = 0.1, 0.2
    assert r2["outlier_frac_015"] == pytest.approx(0.5)
    assert r2["outlier_frac_005"] == pytest.approx(1.0)
    assert set(r) == {
        "n",
        "bias",
        "median_dz",
        "sigma_mad",
        "std_dz",
        "outlier_frac_005",
        "outlier_frac_015",
    }


def test_pit_ks_calibrated_versus_overconfident():
    rng = np.random.default_rng(1)
    n = 5000
    truth = rng.normal(0, 1, n)
    centre = truth + rng.normal(0, 0.1, n)  # predicted means, scatter 0.1
    calibrated = ndtr((truth - centre) / 0.1)
    overconfident = ndtr((truth - centre) / 0.02)
    assert pit_ks(calibrated) < 0.03
    assert pit_ks(overconfident) > 0.3
    density, edges = pit_histogram(overconfident, 10)
    assert density[0] > 3 and density[-1] > 3 and density[5] < 0.5  # U shape
    assert edges.size == 11
    d_cal, _ = pit_histogram(calibrated, 20)
    assert np.mean(d_cal) == pytest.approx(1.0)
    assert np.all(np.abs(d_cal - 1) < 0.25)


def test_report_coverage_crps_pit_and_json():
    z_true = np.array([0.1, 0.2, 0.3, 0.4])
    lo = np.array([0.0, 0.25, 0.2, 0.4])
    hi = np.array([0.2, 0.3, 0.3, 0.5])  # inside, outside, on the edge, on the edge
    r = redshift_report(
        z_true,
        z_true,
        lo68=lo,
        hi68=hi,
        lo95=lo - 1,
        hi95=hi + 1,
        crps=[0.1, 0.2, 0.3, 0.4],
        pit=[0.1, 0.5, 0.5, 0.9],
    )
    assert r["coverage_68"] == pytest.approx(0.75)
    assert r["coverage_95"] == pytest.approx(1.0)
    assert r["crps_mean"] == pytest.approx(0.25)
    assert len(r["pit_histogram"]) == 20
    assert r["pit_ks"] == pytest.approx(0.25)  # ECDF jumps 0.25 -> 0.75 at u = 0.5
    json.dumps(r)


def test_report_by_magnitude():
    z_true = np.zeros(8)
    z_phot = np.array([0.0, 0.0, 0.2, 0.0, 0.3, 0.01, 0.0, 0.0])
    mag = np.array([18.5, 19.0, 21.0, 21.5, 22.5, 23.5, np.nan, 26.0])
    r = redshift_report(z_true, z_phot, magnitude=mag)
    rows = r["by_magnitude"]
    assert [(b["mag_lo"], b["mag_hi"], b["n"]) for b in rows] == [
        (18.0, 20.0, 2),
        (20.0, 22.0, 2),
        (22.0, 23.0, 1),
        (23.0, 24.0, 1),
    ]  # 24-25 empty -> skipped; NaN and 26 in no bin
    assert rows[1]["outlier_frac_015"] == pytest.approx(0.5)
    assert rows[1]["bias"] == pytest.approx(0.1)
    assert set(rows[0]) == {"mag_lo", "mag_hi", "n", "sigma_mad", "outlier_frac_015", "bias"}
    custom = redshift_report(z_true, z_phot, magnitude=mag, magnitude_bins=[[18, 30]])
    assert custom["by_magnitude"][0]["n"] == 7
    json.dumps(r)


def test_crps_ensemble_matches_brute_force():
    rng = np.random.default_rng(2)
    x = rng.normal(0.5, 0.2, (6, 15))
    x[0, :5] = x[0, 0]  # ties
    y = rng.normal(0.5, 0.3, 6)
    expected = [brute_crps(x[i], y[i]) for i in range(6)]
    np.testing.assert_allclose(crps_ensemble(x, y), expected, rtol=1e-12)
    # one member: absolute error
    np.testing.assert_allclose(crps_ensemble([[0.3], [1.0]], [0.5, 0.5]), [0.2, 0.5])


def test_pit_ensemble_counts_and_ties():
    x = np.array([[0.1, 0.2, 0.3, 0.4], [0.1, 0.2, 0.2, 0.4]])
    p = pit_ensemble(x, [0.25, 0.2], rng=0)
    assert p[0] == pytest.approx(0.5)
    assert 0.25 <= p[1] <= 0.75  # one below, two tied
    many = pit_ensemble(np.tile(x[1], (4000, 1)), np.full(4000, 0.2), rng=1)
    assert np.mean(many) == pytest.approx(0.5, abs=0.02)
    assert many.min() >= 0.25 and many.max() <= 0.75


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"z_true": [0.1, np.nan], "z_phot": [0.1, 0.2]}, "finite"),
        ({"z_true": [0.1, 0.2], "z_phot": [0.1]}, "has 1 values"),
        ({"z_true": [0.1, -1.0], "z_phot": [0.1, 0.2]}, "> -1"),
        ({"z_true": [], "z_phot": []}, "at least one"),
        ({"z_true": [0.1], "z_phot": [0.1], "pit": [1.5]}, r"\[0, 1\]"),
        ({"z_true": [0.1], "z_phot": [0.1], "lo68": [0.0]}, "both"),
        ({"z_true": [0.1], "z_phot": [0.1], "lo68": [0.3], "hi68": [0.2]}, "exceed"),
        ({"z_true": [0.1], "z_phot": [0.1], "crps": [0.1, 0.2]}, "has 2 values"),
        ({"z_true": [[0.1]], "z_phot": [[0.1]]}, "1-D"),
    ],
)
def test_report_validation(kwargs, match):
    with pytest.raises(ValueError, match=match):
        redshift_report(**kwargs)


def test_other_validation():
    with pytest.raises(ValueError, match="at least one"):
        sigma_mad([])
    with pytest.raises(ValueError, match="rows"):
        crps_ensemble(np.zeros((3, 2)), [0.0, 0.0])
    with pytest.raises(ValueError, match="finite"):
        pit_ensemble([[0.0, np.inf]], [0.0])
    with pytest.raises(ValueError, match="n_bins"):
        pit_histogram([0.5], 0)
