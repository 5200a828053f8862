"""Tests for astrocnn.tasks.paint.baseline: the smoothed-dark-matter bias model."""

from __future__ import annotations

import json

import numpy as np
import pytest

from astrocnn.tasks.paint.baseline import BiasModel, smooth_gaussian

N = 32
BOX = 25.0  # pixel 0.78 Mpc/h


@pytest.fixture(scope="module")
def dm():
    """Lognormal 1 + delta maps: positive, clustered, periodic."""
    g = smooth_gaussian(np.random.default_rng(0).normal(0.0, 1.0, (6, N, N)), BOX, 0.8)
    g /= g.std()
    return np.exp(0.8 * g - 0.32)


def test_smooth_gaussian_preserves_mean_and_matches_kernel():
    rng = np.random.default_rng(1)
    field = rng.normal(1.0, 1.0, (N, N))
    out = smooth_gaussian(field, BOX, 1.5)
    assert out.mean() == pytest.approx(field.mean(), rel=1e-12)
    assert out.std() < field.std()
    np.testing.assert_array_equal(smooth_gaussian(field, BOX, 0.0), field)
    # A single Fourier mode is multiplied by exp(-k^2 s^2 / 2).
    x = np.arange(N)
    wave = np.cos(2 * np.pi * 3 * x / N)[None, :] * np.ones((N, 1))
    k = 2 * np.pi * 3 / BOX
    np.testing.assert_allclose(
        smooth_gaussian(wave, BOX, 1.5), wave * np.exp(-0.5 * (k * 1.5) ** 2), atol=1e-12
    )
    with pytest.raises(ValueError):
        smooth_gaussian(field, BOX, -1.0)


def test_recovers_exact_log_linear_relation(dm):
    target = np.stack([10**0.3 * dm**1.7, 2e4 * dm**0.5], axis=-1)
    model = BiasModel().fit(dm, target, BOX)
    np.testing.assert_array_equal(model.scale_, [0.0, 0.0])
    np.testing.assert_allclose(model.coef_[:, :2], [[0.3, 1.7], [np.log10(2e4), 0.5]], atol=1e-10)
    assert model.mse_.shape == (2, 4) and np.all(model.mse_[:, 0] < 1e-20)
    pred = model.predict(dm, BOX)
    assert pred.shape == (6, N, N, 2)
    np.testing.assert_allclose(pred, target, rtol=1e-9)
    # Round trip through JSON.
    again = BiasModel.from_dict(json.loads(json.dumps(model.to_dict())))
    np.testing.assert_allclose(again.predict(dm[0], BOX)[0], pred[0], rtol=1e-12)


def test_chooses_the_smoothing_scale(dm):
    s1 = smooth_gaussian(dm, BOX, 1.0)
    s2 = smooth_gaussian(dm, BOX, 2.0)
    target = np.stack([s1, 5.0 * s2**2], axis=-1)
    model = BiasModel().fit(dm[:4], target[:4], BOX)
    np.testing.assert_array_equal(model.scale_, [1.0, 2.0])
    np.testing.assert_allclose(model.coef_[1, :2], [np.log10(5.0), 2.0], atol=1e-8)
    assert np.all(np.argmin(model.mse_, axis=1) == [2, 3])
    # Generalises to held-out maps.
    np.testing.assert_allclose(model.predict(dm[4:], BOX), target[4:], rtol=1e-8)


def test_linear_and_quadratic_modes(dm):
    target = 2.0 + 3.0 * dm  # (n, N, N): one channel
    model = BiasModel(mode="linear").fit(dm, target, BOX)
    np.testing.assert_allclose(model.coef_[0], [2.0, 3.0, 0.0], atol=1e-10)
    np.testing.assert_allclose(model.predict(dm, BOX)[..., 0], target, rtol=1e-10)
    x = np.log10(smooth_gaussian(dm, BOX, 0.5))
    curved = 10 ** (0.1 + 1.2 * x - 0.4 * x**2)
    quad = BiasModel(quadratic=True).fit(dm, curved, BOX)
    assert quad.scale_[0] == 0.5
    np.testing.assert_allclose(quad.coef_[0], [0.1, 1.2, -0.4], atol=1e-8)
    lin = BiasModel().fit(dm, curved, BOX)
    assert lin.mse_.min() > 1e-6  # a straight line cannot fit the curve


def test_validation(dm):
    with pytest.raises(ValueError, match="mode"):
        BiasModel(mode="cubic")
    with pytest.raises(ValueError, match="smoothing_scales"):
        BiasModel(smoothing_scales=(-1.0,))
    with pytest.raises(ValueError, match="positive targets"):
        BiasModel().fit(dm, -dm, BOX)
    with pytest.raises(ValueError, match="target_maps"):
        BiasModel().fit(dm, dm[:3, ..., None], BOX)
    with pytest.raises(ValueError, match="box_size"):
        BiasModel().fit(dm, dm, 0.0)
    with pytest.raises(RuntimeError, match="not fitted"):
        BiasModel().predict(dm, BOX)
