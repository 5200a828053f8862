"""The training recipe: architecture defaults, layer-wise learning rates, label smoothing,
early stopping and the transfer path for a source that saw other images."""

import numpy as np
from helpers import config, keras, toy_set

from astrocnn.engine.finetune import COPIED_RATE, source_mismatch
from astrocnn.engine.optim import layerwise_adam
from astrocnn.engine.train import _architecture_options, train
from astrocnn.io.bundle import load_bundle
from astrocnn.tasks.classification.task import smoothed_crossentropy
from astrocnn.tasks.registry import get_task


def test_architecture_defaults_fill_what_the_user_left_out():
    task = get_task("morphology")
    resnet = _architecture_options(task, config(architecture="resnet", widths=None))
    assert resnet["widths"] == (32, 64, 128, 256) and resnet["convs_per_block"] == 2
    cnn = _architecture_options(task, config(architecture="cnn", widths=None))
    assert cnn["widths"] == (16, 32, 64, 128) and cnn["convs_per_block"] == 1
    given = _architecture_options(task, config(architecture="resnet", widths=(8, 16)))
    assert given["widths"] == (8, 16)
    # no --arch: the task's measured default (morphology: resnet; lens: cnn)
    assert _architecture_options(task, config(architecture=None))["architecture"] == "resnet"
    lens = _architecture_options(get_task("lens"), config(architecture=None))
    assert lens["architecture"] == "cnn"


def test_layerwise_adam_scales_the_step_of_the_named_layers_only():
    def model():
        inputs = keras.Input((2,))
        x = keras.layers.Dense(2, name="slow", kernel_initializer="ones")(inputs)
        return keras.Model(inputs, keras.layers.Dense(1, name="fast", kernel_initializer="ones")(x))

    x, y = np.ones((4, 2), np.float32), np.zeros((4, 1), np.float32)
    steps = {}
    for factor in (1.0, 0.1):
        net = model()
        net.compile(optimizer=layerwise_adam(0.01, {"slow": factor}), loss="mse")
        before = [w.copy() for w in net.get_weights()]
        net.fit(x, y, epochs=1, batch_size=4, verbose=0)
        steps[factor] = [np.abs(a - b).max() for a, b in zip(net.get_weights(), before)]
    # Adam's first step is ~lr per parameter: a tenth for the slow layer, the same for the fast
    np.testing.assert_allclose(steps[0.1][0], 0.1 * steps[1.0][0], rtol=1e-3)
    np.testing.assert_allclose(steps[0.1][2], steps[1.0][2], rtol=1e-3)


def test_label_smoothing_matches_its_definition():
    p = np.array([[0.7, 0.2, 0.1], [0.1, 0.1, 0.8]], np.float32)
    labels = np.array([0, 2])
    target = np.full((2, 3), 0.1 / 3)
    target[[0, 1], labels] += 0.9
    expected = -(target * np.log(p)).sum(axis=1).mean()
    got = float(smoothed_crossentropy(0.1, 3)(labels, p))
    np.testing.assert_allclose(got, expected, rtol=1e-5)


def test_label_smoothing_and_early_stopping_are_recorded(tmp_path, monkeypatch):
    class FlatValidationLoss(keras.callbacks.EarlyStopping):
        # Batch-norm statistics move the real validation loss even at a zero learning rate,
        # so only a loss that cannot improve makes the stopping epoch certain.
        def get_monitor_value(self, logs):
            return 1.0

    monkeypatch.setattr(keras.callbacks, "EarlyStopping", FlatValidationLoss)
    task = get_task("lens")
    meta = train(
        task,
        toy_set(60),
        tmp_path / "m.keras",
        config(epochs=8, patience=1, target_options={"label_smoothing": 0.1}),
        log=lambda m: None,
    )
    assert meta["label_smoothing"] == 0.1
    assert meta["provenance"]["early_stopping_patience"] == 1
    # no better loss after epoch 1, patience 1: training ends after epoch 2
    assert meta["stopped_early"] == 2


def test_mismatch_names_what_differs():
    source = {"image_kind": "fits", "bands": ["g", "r", "i"], "preprocessing": {"kind": "asinh"}}
    same = source_mismatch(source, "fits", ["g", "r", "i"], {"kind": "asinh"})
    assert same == []
    jpeg = source_mismatch(source, "raster", ["R", "G", "B"], {"kind": "linear"})
    assert len(jpeg) == 3 and "raster" in jpeg[0] and "R,G,B" in jpeg[1]


def test_transfer_from_other_images_relearns_the_first_block(tmp_path):
    """A source trained on other pixel values (here another scaling kind): its first block
    is re-initialised, every layer trains from the start (no frozen-head phase), and the
    copied layers move at COPIED_RATE of the rate."""
    task = get_task("lens")
    source = tmp_path / "source.keras"
    train(task, toy_set(64), source, config(epochs=1), log=lambda m: None)
    raster = toy_set(64, seed=5)
    raster.images = np.clip(raster.images * 20 + 100, 0, 255).astype(np.float32)
    raster.image_kind = "raster"
    messages = []
    meta = train(
        task,
        raster,
        tmp_path / "tuned.keras",
        config(epochs=2, init_from=str(source), val_fraction=0.2, seed=2),
        log=messages.append,
    )
    assert any("first block is re-learnt" in m for m in messages)
    assert not any(m.startswith("head:") for m in messages)  # no head-only phase
    assert "re-learnt" in meta["provenance"]["fine_tuning"]["schedule"]
    src = load_bundle(source).model.get_layer("backbone")
    tuned = load_bundle(tmp_path / "tuned.keras").model.get_layer("backbone")
    assert tuned.get_layer("block0_0_conv").get_weights()[0].shape == (3, 3, 2, 4)
    # another seed: a re-initialised first block starts (and ends) far from the source's
    first = [layer.get_layer("block0_0_conv").get_weights()[0] for layer in (src, tuned)]
    assert not np.allclose(first[0], first[1], atol=0.05)
    assert f"{COPIED_RATE:g}x" in meta["provenance"]["fine_tuning"]["schedule"]
