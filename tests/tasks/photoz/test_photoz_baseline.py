"""Tests for astrocnn.tasks.photoz.baseline (k-NN photometric redshifts)."""

from __future__ import annotations

import numpy as np
import pytest

from astrocnn.tasks.photoz.baseline import KNNPhotoz, colour_features, knn_cross_validated
from astrocnn.tasks.photoz.metrics import dz, sigma_mad


def synthetic_catalogue(n, seed=0, noise=0.01):
    """Five-band magnitudes whose colours are smooth monotone functions of z."""
    rng = np.random.default_rng(seed)
    z = rng.uniform(0.05, 1.5, n)
    mag_r = rng.uniform(19.0, 23.0, n)
    colours = np.stack([1.5 * z, 1.2 * z - 0.3 * z**2, 0.8 * z, 0.4 * np.sqrt(z)], axis=1)
    # m_0 - m_1 = c_0, ...; build magnitudes from the middle band (index 2)
    mags = np.empty((n, 5))
    mags[:, 2] = mag_r
    mags[:, 1] = mag_r + colours[:, 1]
    mags[:, 0] = mags[:, 1] + colours[:, 0]
    mags[:, 3] = mag_r - colours[:, 2]
    mags[:, 4] = mags[:, 3] - colours[:, 3]
    return mags + rng.normal(0, noise, mags.shape), z


def test_colour_features():
    mags = np.array([[22.0, 21.0, 20.5, 20.0, 19.8]])
    np.testing.assert_allclose(colour_features(mags), [[20.5, 1.0, 0.5, 0.5, 0.2]])
    np.testing.assert_allclose(colour_features(mags, ref_band=3)[:, 0], [20.0])
    with pytest.raises(ValueError, match="ref_band"):
        colour_features(mags, ref_band=5)


def test_knn_recovers_redshift_from_colours():
    mags, z = synthetic_catalogue(3000)
    model = KNNPhotoz(k=10).fit(mags[:2500], z[:2500])
    pred = model.predict(mags[2500:])
    assert pred.neighbours.shape == (500, 10)
    assert pred.distances.shape == (500, 10)
    assert np.all(np.diff(pred.distances, axis=1) >= 0)  # nearest first
    d = dz(pred.z_phot, z[2500:])
    assert sigma_mad(d) < 0.02
    assert np.mean(np.abs(d) > 0.15) < 0.01
    assert np.all(pred.lo95 <= pred.lo68) and np.all(pred.lo68 <= pred.z_phot)
    assert np.all(pred.z_phot <= pred.hi68) and np.all(pred.hi68 <= pred.hi95)
    np.testing.assert_allclose(pred.z_phot, np.median(pred.neighbours, axis=1))
    assert set(pred.as_dict()) == {
        "z_phot",
        "neighbours",
        "distances",
        "lo68",
        "hi68",
        "lo95",
        "hi95",
    }


def test_cross_validation_never_uses_an_object_for_itself():
    # Redshifts unrelated to the photometry: a self-match would return the
    # object's own (unique) redshift as its nearest neighbour.
    rng = np.random.default_rng(4)
    mags = rng.uniform(18, 24, (200, 4))
    z = rng.uniform(0, 2, 200)
    pred = knn_cross_validated(mags, z, k=1, n_folds=5, seed=0)
    assert np.all(pred.neighbours[:, 0] != z)
    assert np.all(pred.distances > 0)
    # the same check with a full-data model does find itself
    self_pred = KNNPhotoz(k=1).fit(mags, z).predict(mags)
    np.testing.assert_array_equal(self_pred.neighbours[:, 0], z)


def test_cross_validation_accuracy_and_order():
    mags, z = synthetic_catalogue(1500, seed=1)
    pred = knn_cross_validated(mags, z, k=10, n_folds=3, seed=2)
    assert pred.z_phot.shape == (1500,)
    assert sigma_mad(dz(pred.z_phot, z)) < 0.03
    again = knn_cross_validated(mags, z, k=10, n_folds=3, seed=2)
    np.testing.assert_array_equal(pred.z_phot, again.z_phot)


def test_standardisation_uses_training_statistics():
    mags, z = synthetic_catalogue(400, seed=3)
    model = KNNPhotoz(k=5).fit(mags, z)
    feats = colour_features(mags)
    np.testing.assert_allclose(model.mean_, feats.mean(axis=0))
    np.testing.assert_allclose(model.scale_, feats.std(axis=0))
    # predicting a shifted test set does not re-standardise it
    shifted = model.predict(mags + 10.0)  # >= 6 mag fainter than any training object
    assert np.all(shifted.distances[:, 0] > 6.0 / model.scale_[0] - 0.1)


def test_invalid_inputs():
    mags, z = synthetic_catalogue(50)
    bad = mags.copy()
    bad[7, 2] = np.nan
    with pytest.raises(ValueError, match="row 7"):
        KNNPhotoz(k=5).fit(bad, z)
    model = KNNPhotoz(k=5).fit(mags, z)
    with pytest.raises(ValueError, match="finite"):
        model.predict(np.where(np.arange(5) == 0, np.inf, mags[:1]))
    with pytest.raises(ValueError, match="bands"):
        model.predict(mags[:, :4])
    with pytest.raises(ValueError, match="at least k"):
        KNNPhotoz(k=60).fit(mags, z)
    with pytest.raises(ValueError, match="fewer than k"):
        knn_cross_validated(mags, z, k=45, n_folds=5)
    with pytest.raises(ValueError, match="n_folds"):
        knn_cross_validated(mags, z, k=5, n_folds=1)
    with pytest.raises(ValueError, match="positive integer"):
        KNNPhotoz(k=0)
    with pytest.raises(RuntimeError, match="before fit"):
        KNNPhotoz().predict(mags)
    with pytest.raises(ValueError, match="like mags"):
        KNNPhotoz(k=5).fit(mags, z[:-1])
