"""The power-spectrum term of the painting loss."""

import numpy as np

from astrocnn.tasks.paint.spectral_loss import power_spectrum_loss, radial_bins


def _maps(seed=0, n=3, size=32, channels=2):
    return np.random.default_rng(seed).normal(size=(n, size, size, channels)).astype(np.float32)


def test_radial_bins_average_the_modes_of_each_annulus():
    bins = radial_bins(16, 16, 4)
    np.testing.assert_allclose(bins.sum(axis=0), 1.0, rtol=1e-6)  # a mean per bin
    # the loss builds the same matrix with TensorFlow ops (sizes known at run time)
    from astrocnn._tf import import_tensorflow
    from astrocnn.tasks.paint.spectral_loss import _radial_bins_tf

    for h, w in ((16, 16), (12, 20), (7, 9)):
        tf_bins = _radial_bins_tf(import_tensorflow(), h, w, 5).numpy()
        np.testing.assert_allclose(tf_bins, radial_bins(h, w, 5), rtol=1e-6)
    k = np.hypot(np.fft.fftfreq(16)[:, None], np.fft.fftfreq(16)[None, :]).ravel()
    used = bins.sum(axis=1) > 0
    assert not used[k == 0].any() and not used[k > 0.5].any()  # mean mode, corners dropped
    # the 4 bins hold the modes with |k| in [0, 0.125), [0.125, 0.25), ...
    edges = np.floor(k[used] / 0.125).astype(int)
    np.testing.assert_array_equal(np.argmax(bins[used], axis=1), np.minimum(edges, 3))


def test_without_weight_it_is_the_mean_squared_error():
    y, p = _maps(0), _maps(1)
    loss = np.asarray(power_spectrum_loss(0.0)(y, p))
    np.testing.assert_allclose(loss, ((y - p) ** 2).mean(axis=(1, 2, 3)), rtol=1e-5)


def test_spectral_term_is_the_squared_log_power_ratio():
    y = _maps(2)
    # a prediction scaled by 0.5 has a quarter of the power at every k: term = ln(1/4)^2
    mse = ((y - 0.5 * y) ** 2).mean(axis=(1, 2, 3))
    loss = np.asarray(power_spectrum_loss(2.0)(y, 0.5 * y))
    np.testing.assert_allclose(loss, mse + 2.0 * np.log(0.25) ** 2, rtol=1e-4)
    # a perfect prediction costs nothing; a shifted copy has the same spectrum
    np.testing.assert_allclose(np.asarray(power_spectrum_loss(2.0)(y, y)), 0, atol=1e-6)
    shifted = np.roll(y, (5, 3), axis=(1, 2))
    np.testing.assert_allclose(
        np.asarray(power_spectrum_loss(2.0)(y, shifted)),
        ((y - shifted) ** 2).mean(axis=(1, 2, 3)),
        rtol=1e-4,
    )


def test_the_term_has_a_gradient_towards_the_true_power():
    from astrocnn._tf import import_tensorflow

    tf = import_tensorflow()
    y = tf.constant(_maps(3))
    p = tf.Variable(0.5 * _maps(3))
    with tf.GradientTape() as tape:
        value = tf.reduce_mean(power_spectrum_loss(1.0)(y, p))
    grad = tape.gradient(value, p).numpy()
    # gradient descent scales the too-faint prediction up
    assert np.sum(grad * p.numpy()) < 0


def test_one_weight_per_channel():
    y = _maps(4)
    p = y.copy()
    p[..., 0] *= 0.5  # only channel 0 is too faint
    mse = ((y - p) ** 2).mean(axis=(1, 2, 3))
    # the weighted mean over channels of each channel's term
    on_first = np.asarray(power_spectrum_loss([2.0, 0.0])(y, p))
    np.testing.assert_allclose(on_first, mse + 2.0 * np.log(0.25) ** 2 / 2, rtol=1e-4)
    on_second = np.asarray(power_spectrum_loss([0.0, 2.0])(y, p))
    np.testing.assert_allclose(on_second, mse, rtol=1e-4)


def test_physical_spectra_of_log_maps():
    """With ``physical``, the term compares the spectra of 10**(y std + mean): a
    prediction shifted by c in the standardised log is the truth times 10**(c std) in
    physical units, so the term is (2 c std ln 10)^2, while in the transformed space a
    constant shift only moves the mean mode, which the term leaves out."""
    y = 0.3 * _maps(4)
    shift = 0.1
    transform = {"mean": [1.0, 5.0], "std": [0.5, 0.2], "offset": [0.0, 1e5]}
    mse = np.full(len(y), shift**2)
    transformed = np.asarray(power_spectrum_loss(1.0)(y, y + shift))
    np.testing.assert_allclose(transformed, mse, rtol=1e-4)
    physical = np.asarray(power_spectrum_loss(1.0, physical=transform)(y, y + shift))
    expected = np.mean([(2 * shift * s * np.log(10.0)) ** 2 for s in transform["std"]])
    np.testing.assert_allclose(physical, mse + expected, rtol=2e-3)
