"""Test-time augmentation in the compiled inference graph."""

import numpy as np
import pytest

from astrocnn.engine.inference import CompiledModel


def _network(kind):
    import keras

    inputs = keras.Input((8, 8, 2))
    if kind == "identity":
        outputs = keras.layers.Identity()(inputs)
    else:  # not rotation-invariant: the mean of the first band's left half
        outputs = keras.layers.Lambda(lambda x: keras.ops.mean(x[:, :, :4, :1], axis=(1, 2)))(
            inputs
        )
    return keras.Model(inputs, outputs)


def test_spatial_outputs_are_turned_back_before_they_are_combined():
    x = np.random.default_rng(0).normal(size=(5, 8, 8, 2)).astype(np.float32)
    back = CompiledModel(_network("identity"), 8, tta=True, spatial_outputs=True)(x)
    np.testing.assert_allclose(back, x, atol=1e-6)
    # without turning back, the 8 views' mean is the symmetrised image, not the input
    mean = CompiledModel(_network("identity"), 8, tta=True)(x)
    assert not np.allclose(mean, x, atol=1e-3)
    views = [np.rot90(v, k, axes=(1, 2)) for v in (x, x[:, :, ::-1]) for k in range(4)]
    np.testing.assert_allclose(mean, np.mean(views, axis=0), atol=1e-5)


@pytest.mark.parametrize("combine", [None, "max"])
def test_views_are_combined_by_the_given_rule(combine):
    import keras

    x = np.random.default_rng(1).normal(size=(4, 8, 8, 2)).astype(np.float32)
    views = [np.rot90(v, k, axes=(1, 2)) for v in (x, x[:, :, ::-1]) for k in range(4)]
    per_view = np.stack([v[:, :, :4, :1].mean(axis=(1, 2)) for v in views])
    rule = None if combine is None else (lambda v: keras.ops.max(v, axis=0))
    out = CompiledModel(_network("half"), 8, tta=True, combine_views=rule)(x)
    expected = per_view.mean(axis=0) if combine is None else per_view.max(axis=0)
    np.testing.assert_allclose(out, expected, atol=1e-5)
