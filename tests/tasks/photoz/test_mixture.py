"""Tests for astrocnn.tasks.photoz.mixture (Gaussian mixtures in t = ln(1 + z))."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.special import ndtr, ndtri

from astrocnn.tasks.photoz import mixture
from astrocnn.tasks.photoz.mixture import (
    cdf_z,
    crps_z,
    log_likelihood_t,
    mean_z,
    median_z,
    mode_z,
    pdf_z,
    pit,
    quantiles_z,
    summarize,
)

# Three single-component objects (log-normal in 1 + z).
MU1 = np.log1p(np.array([[0.1], [0.8], [2.5]]))
SIG1 = np.array([[0.02], [0.1], [0.3]])
W1 = np.ones_like(MU1)

# A bimodal object whose heavier component in t (w = 0.55 at z = 2) is NOT
# the higher peak of p_z: the Jacobian 1 / (1 + z) favours the z = 0.2 peak.
W2 = np.array([[0.45, 0.55]])
MU2 = np.log1p(np.array([[0.2, 2.0]]))
SIG2 = np.array([[0.05, 0.05]])


def lognormal_crps(mu, sigma, y):
    """Closed-form CRPS of a log-normal LN(mu, sigma) at y > 0 (Baran & Lerch 2015)."""
    om = (np.log(y) - mu) / sigma
    return y * (2 * ndtr(om) - 1) - 2 * np.exp(mu + sigma**2 / 2) * (
        ndtr(om - sigma) + ndtr(sigma / np.sqrt(2)) - 1
    )


def mc_crps(samples, y):
    """Ensemble CRPS E|X - y| - E|X - X'| / 2 from sorted samples."""
    xs = np.sort(samples)
    k = xs.size
    pair = 2.0 * np.sum((2 * np.arange(1, k + 1) - k - 1) * xs) / k**2
    return np.mean(np.abs(xs - y)) - 0.5 * pair


def sample_mixture(rng, w, mu, sigma, n):
    comp = rng.choice(w.size, size=n, p=w)
    return np.expm1(rng.normal(mu[comp], sigma[comp]))


# ---------------------------------------------------------------------------
# single component: analytic log-normal results


def test_single_component_point_estimates():
    np.testing.assert_allclose(median_z(W1, MU1, SIG1), np.expm1(MU1[:, 0]), atol=1e-8)
    np.testing.assert_allclose(
        mean_z(W1, MU1, SIG1), np.exp(MU1[:, 0] + SIG1[:, 0] ** 2 / 2) - 1, rtol=1e-12
    )
    np.testing.assert_allclose(
        mode_z(W1, MU1, SIG1), np.expm1(MU1[:, 0] - SIG1[:, 0] ** 2), atol=1e-6
    )


def test_single_component_quantiles():
    q = np.array([0.001, 0.0228, 0.3, 0.5, 0.84, 0.999])
    expected = np.expm1(MU1 + SIG1 * ndtri(q))
    np.testing.assert_allclose(quantiles_z(W1, MU1, SIG1, q), expected, atol=1e-7)
    # scalar level -> one column
    assert quantiles_z(W1, MU1, SIG1, 0.5).shape == (3, 1)


def test_pdf_integrates_to_one_and_cdf_matches_integral():
    z = np.linspace(-0.5, 30.0, 300_001)
    p = pdf_z(W1, MU1, SIG1, z)
    assert p.shape == (3, z.size)
    np.testing.assert_allclose(np.trapezoid(p, z, axis=1), 1.0, atol=1e-6)
    f = cdf_z(W1, MU1, SIG1, z)
    assert np.all(np.diff(f, axis=1) >= 0)
    dzs = np.diff(z)
    cumulative = np.concatenate(
        [np.zeros((3, 1)), np.cumsum(0.5 * (p[:, 1:] + p[:, :-1]) * dzs, axis=1)], axis=1
    )
    np.testing.assert_allclose(f, cumulative, atol=1e-6)


def test_pdf_and_cdf_edges():
    z = np.array([-2.0, -1.0, np.inf])
    np.testing.assert_array_equal(pdf_z(W1, MU1, SIG1, z), 0.0)
    np.testing.assert_array_equal(cdf_z(W1, MU1, SIG1, z)[:, :2], 0.0)
    np.testing.assert_array_equal(cdf_z(W1, MU1, SIG1, z)[:, 2], 1.0)


def test_per_object_layout():
    z = np.array([0.05, 0.9, 3.0])
    grid = pdf_z(W1, MU1, SIG1, z)
    np.testing.assert_allclose(pdf_z(W1, MU1, SIG1, z, per_object=True), np.diag(grid))
    np.testing.assert_allclose(
        cdf_z(W1, MU1, SIG1, z, per_object=True), np.diag(cdf_z(W1, MU1, SIG1, z))
    )
    np.testing.assert_allclose(pit(W1, MU1, SIG1, z), ndtr((np.log1p(z) - MU1[:, 0]) / SIG1[:, 0]))


# ---------------------------------------------------------------------------
# mixtures


def test_two_component_quantiles_match_brute_force_inversion():
    w = np.array([[0.3, 0.7], [0.5, 0.5]])
    mu = np.log1p(np.array([[0.3, 1.0], [0.5, 0.52]]))
    sigma = np.array([[0.04, 0.15], [0.01, 0.2]])
    z = np.linspace(-0.6, 8.0, 400_001)
    p = pdf_z(w, mu, sigma, z)
    f = np.concatenate(
        [np.zeros((2, 1)), np.cumsum(0.5 * (p[:, 1:] + p[:, :-1]) * np.diff(z), axis=1)], axis=1
    )
    q = np.array([0.05, 0.25, 0.3, 0.5, 0.75, 0.95])
    brute = np.array([np.interp(q, f[i], z) for i in range(2)])
    np.testing.assert_allclose(quantiles_z(w, mu, sigma, q), brute, atol=2e-4)
    # and the CDF at the returned quantiles is exactly q
    qz = quantiles_z(w, mu, sigma, q)
    for i in range(2):
        np.testing.assert_allclose(cdf_z(w[i : i + 1], mu[i : i + 1], sigma[i : i + 1], qz[i]), [q])


def _quantiles_by_bisection(w, mu, sigma, q, steps=80):
    """Reference: plain bisection of the mixture CDF in t on [-40, 40]."""
    lo = np.full((len(w), len(q)), -40.0)
    hi = np.full((len(w), len(q)), 40.0)
    for _ in range(steps):
        mid = 0.5 * (lo + hi)
        cdf = np.einsum(
            "nk,nqk->nq", w, ndtr((mid[:, :, None] - mu[:, None, :]) / sigma[:, None, :])
        )
        below = cdf < q
        lo, hi = np.where(below, mid, lo), np.where(below, hi, mid)
    return 0.5 * (lo + hi)


@pytest.mark.parametrize("kind", ["broad", "narrow and far apart", "clustered"])
def test_quantiles_of_random_mixtures_match_bisection(kind):
    """Newton with its exact bracket agrees with plain bisection to the 1e-9
    tolerance in t, also for components 1e-4 wide, weights near 0 and levels
    far in the tails."""
    rng = np.random.default_rng({"broad": 1, "narrow and far apart": 2, "clustered": 3}[kind])
    n, k = 4000, 5
    w = rng.dirichlet(np.full(k, 1.0 if kind == "broad" else 0.2), size=n)
    w = np.maximum(w, 1e-12)
    w /= w.sum(axis=1, keepdims=True)
    mu = rng.normal(0.5, 0.02, (n, k)) if kind == "clustered" else rng.uniform(0, 1.6, (n, k))
    lowest = -2.5 if kind == "broad" else -4.0
    sigma = 10 ** rng.uniform(lowest, -0.3, (n, k))
    # (levels near 1 are ill-posed in float64: F(t) near 1 is resolved to
    # 1e-16, which a flat tail turns into a range of t wider than 1e-9)
    q = np.array([1e-30, 0.022750, 0.158655, 0.5, 0.841345, 0.977250, 0.999])
    t = np.log1p(quantiles_z(w, mu, sigma, q))
    reference = _quantiles_by_bisection(w, mu, sigma, q)
    # log1p(expm1(t)) loses a little where z is near -1 (tiny levels)
    np.testing.assert_allclose(t, reference, atol=3e-9, rtol=1e-12)


def test_bimodal_mode_is_the_higher_peak_in_z():
    # In t the heavier component (z = 2) has the higher peak ...
    t = np.linspace(0.0, 1.5, 300_001)
    p_t = np.exp(
        log_likelihood_t(
            np.repeat(W2, t.size, 0), np.repeat(MU2, t.size, 0), np.repeat(SIG2, t.size, 0), t
        )
    )
    assert np.expm1(t[np.argmax(p_t)]) > 1.5
    # ... but in z the z = 0.2 peak is higher.
    z = np.linspace(0.0, 3.0, 600_001)
    brute = z[np.argmax(pdf_z(W2, MU2, SIG2, z)[0])]
    assert abs(brute - 0.2) < 0.01
    np.testing.assert_allclose(mode_z(W2, MU2, SIG2), [brute], atol=1e-5)


def test_mode_finds_narrow_component_between_grid_points():
    # A very narrow, light component far from a broad heavy one: its p_z
    # peak (0.1 / (1e-4 * 2.0)) dwarfs the broad one (0.9 / (0.5 * ~1.3)).
    w = np.array([[0.9, 0.1]])
    mu = np.array([[0.3, np.log(2.0)]])
    sigma = np.array([[0.5, 1e-4]])
    np.testing.assert_allclose(mode_z(w, mu, sigma), [np.expm1(np.log(2.0) - 1e-8)], atol=1e-5)


def _random_mixtures(n, k, seed):
    rng = np.random.default_rng(seed)
    w = rng.dirichlet(np.full(k, 0.7), size=n)
    mu = rng.uniform(0.0, 1.6, (n, k))
    mu[: n // 2] = mu[: n // 2, :1] + rng.normal(0.0, 0.05, (n // 2, k))  # close peaks
    sigma = np.exp(rng.uniform(np.log(0.003), np.log(0.6), (n, k)))
    return w, mu, sigma


@pytest.mark.parametrize("k", [2, 5])
def test_mode_is_the_highest_point_of_a_dense_grid(k):
    """On random (often multimodal) mixtures the mode's log p_z is at least the
    best of 40,000 points per object (a lower value means a wrong or unrefined peak)."""
    w, mu, sigma = _random_mixtures(200, k, seed=k)
    t_mode = np.log1p(mode_z(w, mu, sigma))
    lo = np.min(np.minimum(mu - 5 * sigma, mu - sigma**2), axis=1)
    hi = np.max(mu + 5 * sigma, axis=1)
    grid = lo[:, None] + (hi - lo)[:, None] * np.linspace(0.0, 1.0, 40_000)
    best_on_grid = np.max(mixture._log_pz_t(w, mu, sigma, grid), axis=1)
    at_mode = mixture._log_pz_t(w, mu, sigma, t_mode[:, None])[:, 0]
    assert np.all(at_mode >= best_on_grid - 1e-12)


def test_mode_fallback_grids_agree_with_newton(monkeypatch):
    """Where Newton does not converge the local grids take over; both find the same peaks."""
    w, mu, sigma = _random_mixtures(300, 4, seed=9)
    newton = mode_z(w, mu, sigma)
    monkeypatch.setattr(mixture, "_MODE_NEWTON_STEPS", 0)  # nothing converges
    grids = mode_z(w, mu, sigma)
    np.testing.assert_allclose(grids, newton, atol=1e-5)


def test_mode_grids_compare_densities_or_their_logarithms_alike():
    """The grids sum densities directly and fall back to logarithms where those
    overflow (mixtures shifted to t ~ -720, where exp(-t) > 1e308): the same
    points either way, and the mode moves exactly with the shift."""
    w, mu, sigma = _random_mixtures(500, 5, seed=4)
    rows = np.arange(len(w))
    grid = np.linspace(-0.5, 2.0, 64)[None, :] + np.zeros((len(w), 1))
    for shift in (0.0, -720.0):
        t = grid + shift
        in_logs = t[rows, np.argmax(mixture._log_pz_t(w, mu + shift, sigma, t), axis=1)]
        np.testing.assert_array_equal(mixture._best_of(w, mu + shift, sigma, t), in_logs)
    modes = mixture._mode_t(w, mu, sigma)
    np.testing.assert_allclose(mixture._mode_t(w, mu - 720.0, sigma), modes - 720.0, atol=1e-9)


def test_mean_of_mixture_matches_numerical_integral():
    z = np.linspace(-0.9, 20.0, 400_001)
    p = pdf_z(W2, MU2, SIG2, z)[0]
    np.testing.assert_allclose(mean_z(W2, MU2, SIG2), [np.trapezoid(z * p, z)], rtol=1e-6)


def test_summarize_keys_levels_and_dtype():
    s = summarize(W1, MU1, SIG1, chunk_size=2)  # exercise chunking
    assert set(s) == {"z_mean", "z_median", "z_mode", "z_lo68", "z_hi68", "z_lo95", "z_hi95"}
    for v in s.values():
        assert v.dtype == np.float32 and v.shape == (3,)
    np.testing.assert_allclose(s["z_lo68"], np.expm1(MU1[:, 0] - SIG1[:, 0]), rtol=1e-6)
    np.testing.assert_allclose(s["z_hi95"], np.expm1(MU1[:, 0] + 2 * SIG1[:, 0]), rtol=1e-6)
    np.testing.assert_allclose(s["z_median"], median_z(W1, MU1, SIG1), rtol=1e-6)
    np.testing.assert_allclose(s["z_mode"], mode_z(W1, MU1, SIG1), rtol=1e-6)


# ---------------------------------------------------------------------------
# log-likelihood


def test_log_likelihood_matches_naive_evaluation():
    rng = np.random.default_rng(3)
    w = rng.dirichlet(np.ones(3), size=5)
    mu = rng.normal(0.5, 0.3, (5, 3))
    sigma = rng.uniform(0.05, 0.3, (5, 3))
    t = rng.normal(0.5, 0.3, 5)
    naive = np.log(
        np.sum(
            w * np.exp(-0.5 * ((t[:, None] - mu) / sigma) ** 2) / (sigma * np.sqrt(2 * np.pi)),
            axis=1,
        )
    )
    np.testing.assert_allclose(log_likelihood_t(w, mu, sigma, t), naive, rtol=1e-12)


def test_log_likelihood_extreme_inputs_stay_finite():
    w = np.array([[0.5, 0.5], [1.0, 0.0]])
    mu = np.array([[0.0, 0.1], [0.0, 3.0]])
    sigma = np.array([[1e-4, 1e-4], [1e-4, 1.0]])
    t = np.array([0.1 + 50e-4, 50e-4])  # 50 sigma from the nearest component
    ll = log_likelihood_t(w, mu, sigma, t)
    assert np.all(np.isfinite(ll))
    expected = np.log(0.5) - 0.5 * 50**2 - np.log(1e-4) - 0.5 * np.log(2 * np.pi)
    np.testing.assert_allclose(ll, [expected, expected - np.log(0.5)], rtol=1e-12)


# ---------------------------------------------------------------------------
# CRPS and PIT


def test_crps_single_component_matches_lognormal_closed_form():
    mu = np.log1p(np.array([[0.1], [0.8], [0.8], [2.5], [0.5]]))
    sigma = np.array([[0.02], [0.1], [0.1], [0.3], [1e-3]])
    y = np.array([0.15, 0.8, 3.0, 0.2, 0.5005])
    expected = lognormal_crps(mu[:, 0], sigma[:, 0], 1 + y)
    np.testing.assert_allclose(crps_z(np.ones_like(mu), mu, sigma, y), expected, rtol=1e-8)


def test_crps_nearly_gaussian_matches_gaussian_closed_form():
    # sigma_t = 1e-3 at z = 1: p_z is Gaussian with sd 2e-3 up to O(sigma_t).
    mu, sd_t = np.log(2.0), 1e-3
    s_z = 2.0 * sd_t
    y = np.array([1.0, 1.001, 0.995])
    u = (y - 1.0) / s_z
    gauss = s_z * (
        u * (2 * ndtr(u) - 1) + 2 * np.exp(-0.5 * u * u) / np.sqrt(2 * np.pi) - 1 / np.sqrt(np.pi)
    )
    got = crps_z(np.ones((3, 1)), np.full((3, 1), mu), np.full((3, 1), sd_t), y)
    np.testing.assert_allclose(got, gauss, rtol=5e-3)


def test_crps_mixture_matches_monte_carlo():
    rng = np.random.default_rng(7)
    w = np.array([0.45, 0.55])
    mu = np.log1p(np.array([0.2, 2.0]))
    sigma = np.array([0.05, 0.3])
    x = sample_mixture(rng, w, mu, sigma, 400_000)
    for y in (0.25, 1.0, 4.0):
        got = crps_z(w[None], mu[None], sigma[None], [y])[0]
        assert got == pytest.approx(mc_crps(x, y), rel=5e-3)


def test_crps_on_user_grid_agrees_with_quadrature():
    y = np.array([0.25, 1.0])
    w, mu, sigma = np.repeat(W2, 2, 0), np.repeat(MU2, 2, 0), np.repeat(SIG2, 2, 0)
    grid = np.linspace(-0.5, 6.0, 20_001)
    np.testing.assert_allclose(
        crps_z(w, mu, sigma, y, grid=grid), crps_z(w, mu, sigma, y), rtol=1e-5
    )
    # truth beyond the grid: the distance outside counts fully
    far = crps_z(W2, MU2, SIG2, [9.0], grid=grid)
    np.testing.assert_allclose(far, crps_z(W2, MU2, SIG2, [9.0]), rtol=1e-5)


def test_pit_uniform_for_samples_from_the_pdf():
    rng = np.random.default_rng(11)
    n = 4000
    w = rng.dirichlet(np.ones(2), size=n)
    mu = rng.normal(0.5, 0.2, (n, 2))
    sigma = rng.uniform(0.02, 0.2, (n, 2))
    comp = (rng.random(n) > w[:, 0]).astype(int)
    z = np.expm1(rng.normal(mu[np.arange(n), comp], sigma[np.arange(n), comp]))
    values = pit(w, mu, sigma, z)
    hist, _ = np.histogram(values, bins=10, range=(0, 1))
    assert np.all(np.abs(hist / n - 0.1) < 0.02)


# ---------------------------------------------------------------------------
# validation and chunking


@pytest.mark.parametrize(
    ("w", "mu", "sigma", "match"),
    [
        (np.ones(2), np.zeros(2), np.ones(2), "shape"),
        (np.ones((2, 1)), np.zeros((2, 2)), np.ones((2, 1)), "same shape"),
        (np.full((1, 2), 0.7), np.zeros((1, 2)), np.ones((1, 2)), "sum to 1"),
        (np.array([[1.5, -0.5]]), np.zeros((1, 2)), np.ones((1, 2)), "non-negative"),
        (np.ones((1, 1)), np.zeros((1, 1)), np.zeros((1, 1)), "strictly positive"),
        (np.ones((1, 1)), np.full((1, 1), np.nan), np.ones((1, 1)), "finite"),
    ],
)
def test_invalid_parameters(w, mu, sigma, match):
    with pytest.raises(ValueError, match=match):
        mean_z(w, mu, sigma)


def test_invalid_z_and_levels():
    with pytest.raises(ValueError, match="per_object"):
        pdf_z(W1, MU1, SIG1, [0.1, 0.2], per_object=True)
    with pytest.raises(ValueError, match="1-D"):
        cdf_z(W1, MU1, SIG1, np.zeros((2, 2)))
    with pytest.raises(ValueError, match="NaN"):
        pdf_z(W1, MU1, SIG1, [np.nan])
    with pytest.raises(ValueError, match="strictly between"):
        quantiles_z(W1, MU1, SIG1, [0.0, 0.5])
    with pytest.raises(ValueError, match="> -1"):
        crps_z(W1, MU1, SIG1, [0.1, -1.0, 0.2])
    with pytest.raises(ValueError, match="increasing"):
        crps_z(W1, MU1, SIG1, [0.1, 0.2, 0.3], grid=[0.0, 1.0, 0.5])
    with pytest.raises(ValueError, match="finite"):
        log_likelihood_t(W1, MU1, SIG1, [0.1, np.inf, 0.2])


def test_weights_are_renormalised_within_tolerance():
    w = np.array([[0.4, 0.6 + 5e-4]])
    ref = mean_z(np.array([[0.4, 0.6 + 5e-4]]) / 1.0005, MU2, SIG2)
    np.testing.assert_allclose(mean_z(w, MU2, SIG2), ref)


def test_chunked_results_equal_unchunked(monkeypatch):
    rng = np.random.default_rng(5)
    w = rng.dirichlet(np.ones(3), size=7)
    mu = rng.normal(0.5, 0.3, (7, 3))
    sigma = rng.uniform(0.05, 0.3, (7, 3))
    z = np.linspace(0, 3, 11)
    y = rng.uniform(0, 2, 7)
    before = (
        pdf_z(w, mu, sigma, z),
        quantiles_z(w, mu, sigma, [0.2, 0.7]),
        mode_z(w, mu, sigma),
        crps_z(w, mu, sigma, y),
    )
    monkeypatch.setattr(mixture, "_CHUNK_ELEMENTS", 1)  # one object per chunk
    after = (
        pdf_z(w, mu, sigma, z),
        quantiles_z(w, mu, sigma, [0.2, 0.7]),
        mode_z(w, mu, sigma),
        crps_z(w, mu, sigma, y),
    )
    for a, b in zip(before, after):
        np.testing.assert_allclose(a, b, rtol=1e-12)


def test_empty_input():
    e = np.empty((0, 2))
    assert summarize(e, e, e)["z_mode"].shape == (0,)
    assert crps_z(e, e, e, np.empty(0)).shape == (0,)
    assert pdf_z(e, e, e, [0.1, 0.2]).shape == (0, 2)
