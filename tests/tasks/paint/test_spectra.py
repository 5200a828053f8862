"""Tests for astrocnn.tasks.paint.spectra on fields whose spectra are known exactly."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from astrocnn.tasks.paint.spectra import (
    apply_transform,
    cross_correlation,
    cross_spectrum_2d,
    paint_report,
    pdf_comparison,
    power_spectrum_2d,
    transfer_function,
)

N = 64
BOX = 50.0


def gaussian_smooth(field, box, sigma):
    n = field.shape[-1]
    k = 2 * np.pi / box * np.fft.fftfreq(n, d=1.0 / n)
    kernel = np.exp(-0.5 * (k[:, None] ** 2 + k[None, :] ** 2) * sigma**2)
    return np.fft.ifft2(np.fft.fft2(field) * kernel).real


@pytest.fixture(scope="module")
def noise():
    return np.random.default_rng(1).normal(0.0, 2.0, (16, N, N))


def test_bins_span_fundamental_to_nyquist(noise):
    k, p, n_modes = power_spectrum_2d(noise[0], BOX)
    kf = 2 * np.pi / BOX
    assert k.shape == p.shape == n_modes.shape == (N // 2,)
    # First shell: 4 modes at kf and 4 at sqrt(2) kf; k is their mean.
    assert k[0] == pytest.approx(kf * (1 + np.sqrt(2)) / 2, rel=1e-12)
    assert k[-1] == pytest.approx(np.pi * N / BOX, rel=0.02)
    assert np.all(np.diff(k) > 0)
    # Every mode of the full grid inside the Nyquist circle is counted once.
    n = np.fft.fftfreq(N, d=1.0 / N)
    radius = np.hypot(n[:, None], n[None, :])
    assert n_modes.sum() == np.count_nonzero((radius > 0) & (radius < N / 2 + 0.5))
    assert n_modes[0] == 8  # (+-1, 0), (0, +-1), (+-1, +-1)


def test_white_noise_flat_at_documented_level(noise):
    k, p, n_modes = power_spectrum_2d(noise, BOX)
    expected = 4.0 * (BOX / N) ** 2
    # Mode-weighted mean of the spectrum: precise to ~1 / sqrt(n_modes_total).
    assert np.average(p, weights=n_modes) == pytest.approx(expected, rel=0.02)
    # Each bin within 5 sigma; half the modes of a real field are independent.
    sigma = expected / np.sqrt(n_modes * len(noise) / 2)
    assert np.all(np.abs(p - expected) < 5 * sigma)
    # A stack is the mean of its maps' spectra.
    p_each = np.mean([power_spectrum_2d(m, BOX)[1] for m in noise[:3]], axis=0)
    np.testing.assert_allclose(power_spectrum_2d(noise[:3], BOX)[1], p_each, rtol=1e-12)


def test_parseval(noise):
    # Variance = (1/L^2) sum_k P(k) over the full grid (corners included).
    field = noise[0]
    f = np.fft.fft2(field - field.mean())
    total = (np.abs(f) ** 2).sum() * BOX**2 / N**4
    assert total / BOX**2 == pytest.approx(field.var(), rel=1e-12)


def test_single_mode_lands_in_its_bin():
    x = np.arange(N)
    amp, m = 3.0, 5
    field = 1.0 + amp * np.cos(2 * np.pi * m * x / N)[None, :] * np.ones((N, 1))
    k, p, n_modes = power_spectrum_2d(field, BOX)
    kf = 2 * np.pi / BOX
    target = int(np.argmin(np.abs(k - m * kf)))
    assert target == m - 1
    # Two modes (+-k) of power amp^2 L^2 / 4 each, averaged over the bin.
    assert p[target] == pytest.approx(amp**2 * BOX**2 / (2 * n_modes[target]), rel=1e-10)
    others = np.delete(p, target)
    assert np.all(np.abs(others) < 1e-20 * p[target] + 1e-12)


def test_field_with_itself_and_twice_itself(noise):
    field = gaussian_smooth(noise[:4], BOX, 1.5) + 1.0
    k, t = transfer_function(field, field, BOX)
    _, r = cross_correlation(field, field, BOX)
    np.testing.assert_allclose(t, 1.0, rtol=1e-12)
    np.testing.assert_allclose(r, 1.0, rtol=1e-12)
    _, t2 = transfer_function(2 * field, field, BOX)
    _, r2 = cross_correlation(2 * field, field, BOX)
    np.testing.assert_allclose(t2, 2.0, rtol=1e-12)
    np.testing.assert_allclose(r2, 1.0, rtol=1e-12)
    _, rneg = cross_correlation(-field, field, BOX)
    np.testing.assert_allclose(rneg, -1.0, rtol=1e-12)


def test_independent_fields_uncorrelated(noise):
    other = np.random.default_rng(2).normal(0.0, 1.0, noise.shape)
    _, r = cross_correlation(other, noise, BOX)
    _, _, n_modes = power_spectrum_2d(noise, BOX)
    sigma = 1.0 / np.sqrt(n_modes * len(noise) / 2)
    assert np.all(np.abs(r) < 5 * sigma)
    assert abs(np.average(r, weights=n_modes)) < 0.02
    k, pc, _ = cross_spectrum_2d(other, noise, BOX)
    assert np.all(np.isfinite(pc)) and k.shape == pc.shape


def test_smoothed_field_transfer_is_the_kernel(noise):
    sigma = 1.0  # Mpc/h, 1.28 pixels
    smooth = gaussian_smooth(noise, BOX, sigma)
    k, t = transfer_function(smooth, noise, BOX)
    kernel = np.exp(-0.5 * (k * sigma) ** 2)
    _, r = cross_correlation(smooth, noise, BOX)
    # Smoothing keeps phases; r < 1 only because the kernel varies across a bin.
    assert np.all((r > 0.99) & (r <= 1.0))
    # Per mode the ratio is exactly the kernel; the bin average of a kernel that
    # varies across the bin differs from its value at the mean k at second order.
    ok = kernel > 0.05
    np.testing.assert_allclose(t[ok], kernel[ok], rtol=0.03)
    assert ok.sum() > 10
    # Exact: for a field with unit-modulus modes, T^2 in a bin is the mean of the
    # squared kernel over the modes of the bin (enumerated on the full FFT grid).
    phases = np.fft.fft2(noise[0])
    unit = np.fft.ifft2(phases / np.abs(phases)).real
    _, t_unit = transfer_function(gaussian_smooth(unit, BOX, sigma), unit, BOX)
    n = np.fft.fftfreq(N, d=1.0 / N)
    radius = np.hypot(n[:, None], n[None, :])
    w2 = np.exp(-((2 * np.pi / BOX * radius) ** 2) * sigma**2)
    shell = np.rint(radius).astype(int)  # bins of width kf centred on integers
    expected = [np.sqrt(w2[(shell == j) & (radius > 0)].mean()) for j in range(1, N // 2 + 1)]
    np.testing.assert_allclose(t_unit, expected, rtol=1e-9)


def test_n_bins_and_validation(noise):
    k, p, n_modes = power_spectrum_2d(noise[0], BOX, n_bins=8)
    assert k.shape == (8,)
    assert n_modes.sum() == power_spectrum_2d(noise[0], BOX)[2].sum()
    with pytest.raises(ValueError, match="square"):
        power_spectrum_2d(np.zeros((8, 10)), BOX)
    with pytest.raises(ValueError, match="box_size"):
        power_spectrum_2d(noise[0], -1.0)
    with pytest.raises(ValueError, match="n_bins"):
        power_spectrum_2d(noise[0], BOX, n_bins=0)
    with pytest.raises(ValueError, match="NaN"):
        power_spectrum_2d(np.full((8, 8), np.nan), BOX)
    with pytest.raises(ValueError, match="same shape"):
        transfer_function(noise[:2], noise[:3], BOX)
    with pytest.raises(ValueError, match="same shape"):
        cross_spectrum_2d(noise[0], noise[0, :32, :32], BOX)


def test_pdf_comparison():
    rng = np.random.default_rng(3)
    true = 10 ** rng.normal(0.0, 0.5, 20000)
    same = pdf_comparison(true, true, bins=40)
    assert same["ks"] == 0.0 and same["l1"] == 0.0
    edges = same["bin_edges"]
    assert np.sum(same["hist_true"] * np.diff(edges)) == pytest.approx(1.0)
    close = pdf_comparison(10 ** rng.normal(0.0, 0.5, 20000), true)
    shifted = pdf_comparison(true * 10**0.5, true)
    assert close["ks"] < 0.03 and close["l1"] < 0.1
    assert shifted["ks"] > 0.3 and shifted["l1"] > 0.5
    # The KS statistic of a half-sigma shift of a Gaussian: 2 Phi(1/2) - 1.
    assert shifted["ks"] == pytest.approx(math.erf(0.5 / math.sqrt(2)), abs=0.02)
    lin = pdf_comparison(true, true, transform="linear", bins=np.linspace(0, 5, 6))
    assert lin["hist_true"].shape == (5,)
    with pytest.raises(ValueError, match="positive"):
        pdf_comparison(np.array([0.0, 1.0]), np.array([1.0, 2.0]))
    np.testing.assert_allclose(apply_transform([0.0, 9.0], "log10p1"), [0.0, 1.0])
    with pytest.raises(ValueError, match="unknown transform"):
        apply_transform([1.0], "ln")


def test_paint_report(noise):
    rng = np.random.default_rng(4)
    dens = 10 ** (0.3 * gaussian_smooth(noise[:4], BOX, 1.0))
    temp = 1e4 * dens**0.6
    true = np.stack([dens, temp], axis=-1)
    pred = true * 10 ** rng.normal(0.0, 0.01, true.shape)
    report = paint_report(pred, true, BOX, channel_names=["gas", "T"])
    json.dumps(report, allow_nan=False)
    assert set(report) == {"gas", "T"}
    gas = report["gas"]
    assert gas["mse"] == pytest.approx(1e-4, rel=0.05)
    assert len(gas["k"]) == len(gas["transfer"]) == len(gas["r"]) == N // 2
    assert gas["k_nyquist"] == pytest.approx(np.pi * N / BOX)
    assert gas["max_abs_transfer_minus_1"] < 0.05 and gas["min_r"] > 0.95
    assert gas["pdf_ks"] < 0.05

    perfect = paint_report(true, true, BOX, channel_names=["gas", "T"])
    assert perfect["T"]["mse"] == 0.0
    assert perfect["T"]["max_abs_transfer_minus_1"] == pytest.approx(0.0, abs=1e-12)
    assert perfect["T"]["min_r"] == pytest.approx(1.0)
    # A single map (N, N, C) works; transforms per channel by name.
    one = paint_report(
        2 * true[0], true[0], BOX, channel_names=["gas", "T"], transforms={"T": "linear"}
    )
    assert one["gas"]["max_abs_transfer_minus_1"] == pytest.approx(1.0)
    assert one["T"]["transform"] == "linear"
    assert one["T"]["mse"] == pytest.approx(np.mean(true[0, ..., 1] ** 2))

    with pytest.raises(ValueError, match="channel names"):
        paint_report(pred, true, BOX, channel_names=["gas"])
    with pytest.raises(ValueError, match="same shape"):
        paint_report(pred[:2], true, BOX, channel_names=["gas", "T"])
    with pytest.raises(ValueError, match="k_max_fraction"):
        paint_report(pred, true, BOX, channel_names=["gas", "T"], k_max_fraction=0.0)
    with pytest.raises(ValueError, match="positive"):
        paint_report(pred - 1e9, true, BOX, channel_names=["gas", "T"])
    with pytest.raises(ValueError, match="unknown channels"):
        paint_report(pred, true, BOX, channel_names=["gas", "T"], transforms={"HI": "linear"})
