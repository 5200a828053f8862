"""Feature-space OOD score: the embedding, the fitted statistics, and training storing them."""

import json

import numpy as np
import pytest
from helpers import config, toy_set

from astrocnn.data.preprocess import scaler_from_dict
from astrocnn.engine.features import (
    embedder,
    embedding_layer,
    embedding_model,
    feature_scores,
    fit_feature_stats,
)
from astrocnn.engine.train import train
from astrocnn.io.bundle import load_bundle, read_meta
from astrocnn.models.unet import build_unet
from astrocnn.tasks.registry import get_task


def _gaussian(rng, n, dim, shift=0.0):
    """Correlated Gaussian embeddings with a decaying spectrum (fixed basis)."""
    basis = np.linalg.qr(np.random.default_rng(99).normal(size=(dim, dim)))[0]
    sigma = 3.0 * np.exp(-np.arange(dim) / 8.0) + 0.05
    return 5.0 + shift + (rng.normal(size=(n, dim)) * sigma) @ basis.T


def test_scores_are_about_one_in_distribution_and_shifts_exceed_the_threshold():
    rng = np.random.default_rng(0)
    stats = fit_feature_stats(_gaussian(rng, 4000, 64), _gaussian(rng, 2000, 64))
    stats = json.loads(json.dumps(stats))  # stored as JSON in the bundle
    assert stats["dim"] == 64 and stats["n_components"] == 32
    assert len(stats["components"]) == 32 and len(stats["components"][0]) == 64
    fresh = feature_scores(_gaussian(rng, 4000, 64), stats)
    assert fresh.shape == (4000,)
    assert 0.9 < np.mean(fresh) < 1.1
    assert 1.0 < stats["threshold"] < 2.0
    assert np.mean(fresh > stats["threshold"]) < 0.015  # 0.5 % expected
    shifted = feature_scores(_gaussian(rng, 500, 64, shift=0.5), stats)
    assert np.all(shifted > 3 * stats["threshold"])
    wider = feature_scores((_gaussian(rng, 500, 64) - 5.0) * 1.5 + 5.0, stats)  # 1.5x the spread
    assert np.mean(wider > stats["threshold"]) > 0.9


def test_rounding_for_the_bundle_keeps_the_scores():
    rng = np.random.default_rng(1)
    train_set, held_out = _gaussian(rng, 3000, 48), _gaussian(rng, 1000, 48)
    stats = fit_feature_stats(train_set, held_out, n_components=8)
    # the unrounded score, computed directly
    mean = train_set.mean(axis=0)
    _, s, vt = np.linalg.svd(train_set - mean, full_matrices=False)
    var = s**2 / (len(train_set) - 1)
    x = held_out - mean
    p = x @ vt[:8].T
    r = x - p @ vt[:8]
    exact = ((p**2 / var[:8]).sum(1) + (r**2).sum(1) / var[8:].mean()) / 48
    np.testing.assert_allclose(feature_scores(held_out, stats), exact, rtol=2e-3)


def test_few_training_rows_keep_fewer_components():
    rng = np.random.default_rng(2)
    stats = fit_feature_stats(_gaussian(rng, 10, 16), np.zeros((0, 16)))
    assert stats["n_components"] == 9 and stats["n_held_out"] == 0
    assert np.isfinite(feature_scores(_gaussian(rng, 5, 16), stats)).all()


def test_a_unet_has_no_embedding():
    model = build_unet((16, 16, 2), [("segmentation", 3, "softmax")], widths=(4, 8))
    assert embedding_layer(model) is None and embedding_model(model) is None


@pytest.fixture(scope="module")
def lens_bundle():
    task = get_task("lens")
    return load_bundle(task.default_model(), task="lens", custom_objects=task.keras_objects())


def test_embedding_model_gives_the_models_outputs_and_the_pooled_features(lens_bundle):
    model = lens_bundle.model
    assert embedding_layer(model).name == "backbone"
    images = np.random.default_rng(3).normal(size=(6, 64, 64, 4)).astype(np.float32)
    outputs, embedding = embedding_model(model)(images, training=False)
    np.testing.assert_allclose(outputs, model(images, training=False), rtol=1e-6, atol=1e-7)
    expected = model.get_layer("backbone")(images, training=False)
    np.testing.assert_allclose(embedding, expected, rtol=1e-6, atol=1e-7)
    assert embedding.shape == (6, 128)


def test_real_embeddings_of_sky_noise_score_one_and_bright_cutouts_far_above(lens_bundle):
    meta = lens_bundle.meta
    scales = np.asarray(meta["preprocessing"]["scales"], np.float32)
    embed = embedder(lens_bundle.model, scaler=scaler_from_dict(meta["preprocessing"]))
    rng = np.random.default_rng(4)

    def sky(n):
        return (rng.normal(size=(n, 64, 64, 4)) * scales).astype(np.float32)

    stats = fit_feature_stats(embed(sky(300)), embed(sky(100)), n_components=16)
    assert stats["dim"] == 128
    fresh = feature_scores(embed(sky(100)), stats)
    assert 0.5 < np.median(fresh) < 2.0
    bright = sky(20)
    bright[:, 24:40, 24:40] += 200 * scales  # a bright source in the middle
    assert np.all(feature_scores(embed(bright), stats) > 3 * stats["threshold"])
    shipped = meta.get("feature_stats")  # written by scripts/feature_stats_defaults.py
    if shipped is not None:
        assert shipped["dim"] == 128
        assert np.isfinite(feature_scores(embed(sky(4)), shipped)).all()


@pytest.mark.slow
def test_training_stores_feature_stats(tmp_path):
    out = tmp_path / "m.keras"
    meta = train(get_task("lens"), toy_set(60), out, config(epochs=1), log=lambda m: None)
    stats = read_meta(out)["feature_stats"]
    assert stats == meta["feature_stats"]
    assert stats["dim"] == 8  # widths (4, 8): the pooled features of the last block
    assert stats["n_train"] == meta["provenance"]["n_train"]
    assert stats["n_held_out"] == meta["provenance"]["n_val"]
    assert stats["threshold"] >= stats["held_out_median"] > 0
    # the statistics describe the network's features of the images as predict scales them
    bundle = load_bundle(out)
    toy = toy_set(60)
    embed = embedder(bundle.model, scaler=scaler_from_dict(bundle.meta["preprocessing"]))
    scores = feature_scores(embed(toy.images), stats)
    assert 0.3 < np.median(scores) < 3.0
