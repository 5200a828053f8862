"""Preprocessing fitted on training data; augmentation keeps the image content."""

import numpy as np

from astrocnn.data.augment import make_augmenter
from astrocnn.data.preprocess import AsinhScaler, LogScaler, scaler_from_dict


def test_scaler_recovers_background_noise_per_band():
    rng = np.random.default_rng(1)
    images = rng.normal(0, [1.0, 5.0], size=(200, 16, 16, 2)).astype(np.float32)
    images[:, 6:10, 6:10, :] += 500  # bright sources must not inflate the noise estimate
    scaler = AsinhScaler.fit(images)
    np.testing.assert_allclose(scaler.scales, [1.0, 5.0], rtol=0.05)
    again = scaler_from_dict(scaler.to_dict())
    np.testing.assert_array_equal(again.transform(images[:2]), scaler.transform(images[:2]))
    assert scaler.transform(images[:1]).dtype == np.float32


def test_scaler_survives_noiseless_band():
    images = np.zeros((4, 8, 8, 1), np.float32)
    images[:, 4, 4, 0] = 3.0
    assert AsinhScaler.fit(images).scales[0] > 0


def test_d4_augmentation_only_permutes_pixels():
    rng = np.random.default_rng(2)
    images = rng.normal(size=(32, 12, 12, 3)).astype(np.float32)
    augment = make_augmenter("d4", max_shift=0, seed=3)
    out, targets = augment(images, np.arange(32))
    out = np.asarray(out)
    assert out.shape == images.shape and list(np.asarray(targets)) == list(range(32))
    for a, b in zip(images, out):
        views = [np.rot90(f, k, axes=(0, 1)) for f in (a, a[:, ::-1]) for k in range(4)]
        assert any(np.array_equal(v, b) for v in views)
    assert not np.array_equal(out, images)  # something was transformed


def test_shift_moves_by_at_most_max_shift():
    image = np.zeros((1, 16, 16, 1), np.float32)
    image[0, 8, 8, 0] = 1
    augment = make_augmenter("d4", max_shift=2, seed=0)
    for _ in range(10):
        out = np.asarray(augment(image, np.zeros(1))[0])[0, ..., 0]
        y, x = np.unravel_index(np.argmax(out), out.shape)
        assert abs(y - 7.5) <= 2.5 + 1e-9 and abs(x - 7.5) <= 2.5 + 1e-9


def test_non_square_stamps_keep_their_shape():
    images = np.random.default_rng(4).normal(size=(8, 12, 20, 1)).astype(np.float32)
    out = np.asarray(make_augmenter("d4", max_shift=1, seed=1)(images, np.zeros(8))[0])
    assert out.shape == images.shape


def test_log_scaler_offset_round_trip_and_tf():
    """log10(x + c) per channel: inverse undoes it, never goes below the training
    minimum, the TF ops agree, and a spec without an offset stays a plain log10."""
    from astrocnn._tf import import_tensorflow

    rng = np.random.default_rng(3)
    maps = 10 ** rng.uniform([-1, 3.5], [1, 6.5], size=(6, 8, 8, 2))
    scaler = LogScaler.fit(maps, offset=[0.0, 1e5])
    np.testing.assert_allclose(scaler.mean[1], np.log10(maps[..., 1] + 1e5).mean(), rtol=1e-6)
    values = scaler.transform(maps)
    np.testing.assert_allclose(scaler.inverse(values), maps, rtol=1e-4)
    low = scaler.inverse(np.full((1, 1, 1, 2), -50.0))  # far below log10(offset)
    np.testing.assert_allclose(low[0, 0, 0], maps.min(axis=(0, 1, 2)), rtol=1e-5)
    tf = import_tensorflow()
    np.testing.assert_allclose(
        scaler.transform_tf(tf.constant(maps, tf.float32)).numpy(), values, rtol=1e-4, atol=1e-4
    )
    again = scaler_from_dict(scaler.to_dict())
    assert again == scaler
    plain = LogScaler.fit(maps)
    assert "offset" not in plain.to_dict() and scaler_from_dict(plain.to_dict()).offset is None
    np.testing.assert_allclose(plain.transform(maps)[..., 0], values[..., 0], rtol=1e-5)
