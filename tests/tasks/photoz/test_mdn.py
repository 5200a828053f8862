"""Mixture density head and loss: checked against direct numpy evaluation of the mixture."""

import numpy as np
import pytest

keras = pytest.importorskip("keras")

from astrocnn.tasks.photoz.mdn import (  # noqa: E402
    MixtureDensity,
    build_mdn_regressor,
    mixture_nll,
    split_parameters,
)


def direct_nll(log_w, mu, sigma, y):
    """-log sum_k w_k N(y; mu_k, sigma_k), evaluated term by term in float64."""
    w = np.exp(log_w)
    density = w / (sigma * np.sqrt(2 * np.pi)) * np.exp(-0.5 * ((y[:, None] - mu) / sigma) ** 2)
    return -np.log(density.sum(axis=1))


def params(log_w, mu, sigma):
    return np.concatenate([log_w, mu, sigma], axis=1).astype(np.float32)


def test_loss_matches_direct_mixture_likelihood():
    rng = np.random.default_rng(1)
    n, k = 64, 4
    logits = rng.normal(size=(n, k))
    log_w = logits - np.log(np.exp(logits).sum(axis=1, keepdims=True))
    mu = rng.normal(0.5, 0.3, (n, k))
    sigma = rng.uniform(0.02, 0.3, (n, k))
    y = rng.normal(0.5, 0.3, n)
    got = np.asarray(mixture_nll(y.astype(np.float32), params(log_w, mu, sigma)))
    np.testing.assert_allclose(got, direct_nll(log_w, mu, sigma, y), rtol=2e-5, atol=2e-5)


def test_loss_of_one_gaussian_is_the_gaussian_nll():
    y = np.array([0.3, 1.0], np.float32)
    got = np.asarray(
        mixture_nll(y[:, None], params(np.zeros((2, 1)), [[0.3], [0.0]], [[0.1], [2]]))
    )
    expected = [np.log(0.1 * np.sqrt(2 * np.pi)), np.log(2 * np.sqrt(2 * np.pi)) + 0.125]
    np.testing.assert_allclose(got, expected, rtol=1e-5)


def test_loss_stays_finite_far_in_the_tails():
    # 1e4 sigma away from every component: the naive sum underflows to log(0) = inf
    log_w = np.log(np.full((1, 3), 1 / 3))
    mu, sigma = np.array([[0.0, 0.1, 0.2]]), np.full((1, 3), 1e-3)
    y = np.array([10.0], np.float32)
    got = float(np.asarray(mixture_nll(y, params(log_w, mu, sigma)))[0])
    assert np.isfinite(got)
    # dominated by the nearest component: 0.5 * (9.8 / 1e-3)**2
    assert got == pytest.approx(
        0.5 * (9.8 / 1e-3) ** 2 + np.log(1e-3 * np.sqrt(2 * np.pi) * 3), rel=1e-4
    )
    with np.errstate(divide="ignore"):
        assert not np.isfinite(direct_nll(log_w, mu, sigma, y.astype(float))[0])


def test_head_outputs_a_valid_mixture():
    layer = MixtureDensity(5, sigma_floor=0.01, mean_range=(0.0, 1.4))
    features = np.random.default_rng(0).normal(size=(32, 8)).astype(np.float32) * 50
    out = np.asarray(layer(features))
    log_w, mu, sigma = split_parameters(out, 5)
    np.testing.assert_allclose(np.exp(log_w).sum(axis=1), 1.0, rtol=1e-5)
    assert np.all(sigma >= 0.01)
    assert out.shape == (32, 15)


def test_initial_means_spread_over_the_range():
    layer = MixtureDensity(4, mean_range=(0.0, 1.0))
    _, mu, _ = split_parameters(np.asarray(layer(np.zeros((1, 3), np.float32))), 4)
    np.testing.assert_allclose(mu[0], [0.125, 0.375, 0.625, 0.875], atol=1e-6)


def test_model_with_extra_inputs_saves_and_loads_in_safe_mode(tmp_path):
    model = build_mdn_regressor((16, 16, 3), 3, n_extra=2, widths=(4, 8), dense=8)
    images = np.random.default_rng(2).normal(size=(4, 16, 16, 3)).astype(np.float32)
    extra = np.ones((4, 2), np.float32)
    before = np.asarray(model((images, extra), training=False))
    path = tmp_path / "m.keras"
    model.save(path)
    loaded = keras.saving.load_model(path, safe_mode=True, compile=False)
    np.testing.assert_allclose(
        np.asarray(loaded((images, extra), training=False)), before, rtol=1e-5, atol=1e-6
    )
    # the scalars matter: changing them changes the mixture
    after = np.asarray(model((images, -extra), training=False))
    assert not np.allclose(after, before)


def test_training_reduces_the_loss_towards_the_truth():
    """A tiny dense MDN learns a bimodal target: its NLL falls well below the initial one."""
    rng = np.random.default_rng(3)
    x = rng.uniform(-1, 1, (2048, 1)).astype(np.float32)
    # y is +x or -x with equal probability: two branches, one Gaussian cannot fit it
    y = (x[:, 0] * rng.choice([-1, 1], 2048) + rng.normal(0, 0.05, 2048)).astype(np.float32)
    keras.utils.set_random_seed(0)
    inputs = keras.Input((1,))
    h = keras.layers.Dense(32, activation="tanh")(inputs)
    model = keras.Model(inputs, MixtureDensity(2, sigma_floor=1e-3, mean_range=(-1, 1))(h))
    model.compile(keras.optimizers.Adam(0.02), loss=mixture_nll)
    start = model.evaluate(x, y, verbose=0)
    model.fit(x, y, epochs=40, batch_size=256, verbose=0)
    end = model.evaluate(x, y, verbose=0)
    # the ideal: log(0.05 sqrt(2 pi)) + log 2 = -1.38; one broad Gaussian would give ~ +0.2
    assert end < -0.8 < start
