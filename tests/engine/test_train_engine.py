"""Training engine: resume after an interruption, the residual variant, packed input."""

import numpy as np
import pytest
from helpers import RecordEpochs, StopAfterFirstEpoch, config, keras, toy_set

from astrocnn.engine.train import train
from astrocnn.io.bundle import load_bundle
from astrocnn.tasks.registry import get_task


def test_interrupted_training_resumes_from_checkpoint(tmp_path):
    out = tmp_path / "m.keras"
    task = get_task("lens")
    with pytest.raises(KeyboardInterrupt):
        train(task, toy_set(), out, config(callbacks=[StopAfterFirstEpoch()]), log=lambda m: None)
    assert not out.exists() and (tmp_path / "m.keras.ckpt").exists()
    record = RecordEpochs()
    train(task, toy_set(), out, config(resume=True, callbacks=[record]), log=lambda m: None)
    assert record.epochs == [1, 2]  # epoch 0 was not trained again
    assert out.exists() and not (tmp_path / "m.keras.ckpt").exists()


def test_resume_refuses_changed_settings(tmp_path):
    out = tmp_path / "m.keras"
    task = get_task("lens")
    with pytest.raises(KeyboardInterrupt):
        train(task, toy_set(), out, config(callbacks=[StopAfterFirstEpoch()]), log=lambda m: None)
    with pytest.raises(Exception, match="epochs differ"):
        train(task, toy_set(), out, config(resume=True, epochs=5), log=lambda m: None)


@pytest.mark.parametrize("arch", ["cnn", "resnet"])
def test_architectures_learn_an_easy_problem(tmp_path, arch):
    out = tmp_path / f"{arch}.keras"
    meta = train(
        get_task("lens"),
        toy_set(120),
        out,
        config(architecture=arch, epochs=6, val_fraction=0.25),
        log=lambda m: None,
    )
    assert meta["architecture"] == arch
    assert meta["validation_metrics"]["auroc"] > 0.9
    bundle = load_bundle(out, task="lens")
    assert bundle.meta["input_shape"] == [16, 16, 2]


def test_packed_set_streams_from_disk_when_over_budget(tmp_path):
    import h5py

    from astrocnn.data.packed import open_packed
    from astrocnn.engine.train import training_set_from_packed

    toy = toy_set(64)
    path = tmp_path / "toy.h5"
    with h5py.File(path, "w") as h5:
        h5.create_dataset("images", data=toy.images)
        toy.table.write(h5, path="catalog", serialize_meta=True)
        h5.attrs.update(bands="g,r", size_mode="strict", hdus="null")
    on_disk = open_packed(path, memory_budget_bytes=0)
    assert isinstance(on_disk.images, np.memmap)  # read from disk as it is used
    in_memory = open_packed(path)
    np.testing.assert_array_equal(in_memory.images, toy.images)
    meta = train(
        get_task("lens"),
        training_set_from_packed(on_disk),
        tmp_path / "m.keras",
        config(epochs=1),
        log=lambda m: None,
    )
    # a stratified 10 % split: each class rounds its own share
    assert meta["bands"] == ["g", "r"] and meta["provenance"]["n_train"] == 57


def test_fine_tune_across_band_counts_says_so(tmp_path):
    source = tmp_path / "two_band.keras"
    train(get_task("lens"), toy_set(64), source, config(epochs=1), log=lambda m: None)
    three = toy_set(64, seed=5)
    three.images = np.concatenate([three.images, three.images[..., :1]], axis=-1)
    three.bands = ["g", "r", "i"]
    messages = []
    meta = train(
        get_task("lens"),
        three,
        tmp_path / "tuned.keras",
        config(epochs=2, init_from=str(source), head_epochs=1),
        log=messages.append,
    )
    assert any("adapted from 2 to 3 bands" in m for m in messages)
    # other bands: a transfer of the backbone, not a warm start
    assert any(m.startswith("fine-tuning from") for m in messages)
    assert not any(m.startswith("warm start") for m in messages)
    assert (
        meta["input_shape"] == [16, 16, 3] and "two_band.keras" in meta["provenance"]["init_from"]
    )
    tuned = load_bundle(tmp_path / "tuned.keras").model.get_layer("backbone")
    src = load_bundle(source).model.get_layer("backbone")
    # deeper layers start from the source weights (then train at a tenth of the rate)
    assert tuned.get_layer("block1_0_conv").get_weights()[0].shape == (3, 3, 4, 8)
    assert src.get_layer("block1_0_conv").get_weights()[0].shape == (3, 3, 4, 8)


def test_unwritable_output_folder_is_refused_before_training(tmp_path, monkeypatch):
    import os

    from astrocnn.errors import OutputError

    real_access = os.access
    monkeypatch.setattr(
        os, "access", lambda p, mode: False if str(p) == str(tmp_path) else real_access(p, mode)
    )
    with pytest.raises(OutputError, match="not writable"):
        train(get_task("lens"), toy_set(), tmp_path / "m.keras", config(), log=lambda m: None)


def test_warm_start_from_a_model_of_the_same_task_keeps_weights_and_scalings(tmp_path):
    source = tmp_path / "first.keras"
    data = toy_set(64)
    train(get_task("lens"), data, source, config(epochs=1), log=lambda m: None)
    # other images (a scaled copy): refitting would change the scaling, a warm start must not
    again = toy_set(64, seed=9)
    again.images = again.images * 3.0
    messages = []
    meta = train(
        get_task("lens"),
        again,
        tmp_path / "second.keras",
        config(epochs=0 + 1, init_from=str(source), learning_rate=0.0),
        log=messages.append,
    )
    assert any(m.startswith("warm start from") for m in messages)
    first = load_bundle(source)
    second = load_bundle(tmp_path / "second.keras")
    assert second.meta["preprocessing"] == first.meta["preprocessing"]
    assert "first.keras" in meta["provenance"]["init_from"]
    # learning rate 0: the weights are exactly the source's (batch-norm statistics aside)
    for a, b in zip(first.model.trainable_weights, second.model.trainable_weights):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))


def test_warm_start_records_the_network_a_task_fixes():
    """A task with one network records its name even when the source bundle
    recorded the CLI's default (shipped deblend/paint bundles say ``cnn``);
    a task with a choice keeps the source's."""
    from astrocnn.engine.finetune import _model_options

    source = {"model_options": {"architecture": "cnn", "widths": [8, 16]}}
    assert _model_options(get_task("deblend"), source) == {
        "architecture": "unet",
        "widths": (8, 16),
    }
    resnet = {"model_options": {"architecture": "resnet"}}
    assert _model_options(get_task("lens"), resnet) == {"architecture": "resnet"}


class _RuinLastEpoch(keras.callbacks.Callback):
    """Scrambles the weights before the last epoch, so its validation loss is the worst."""

    def __init__(self, last):
        super().__init__()
        self.last = last

    def on_epoch_begin(self, epoch, logs=None):
        if epoch == self.last - 1:
            rng = np.random.default_rng(0)
            self.model.set_weights([rng.normal(0, 3, w.shape) for w in self.model.get_weights()])


@pytest.mark.parametrize("keep", ["best", "last"])
def test_keep_best_restores_the_lowest_validation_loss(tmp_path, keep):
    out = tmp_path / "m.keras"
    ruin = _RuinLastEpoch(last=4)
    meta = train(get_task("lens"), toy_set(120), out,
                 config(epochs=4, val_fraction=0.25, keep=keep, callbacks=[ruin]),
                 log=lambda m: None)  # fmt: skip
    kept = load_bundle(out, task="lens").meta["kept_weights"]
    if keep == "best":
        assert kept["keep"] == "best" and kept["epoch"] < 4
        assert meta["validation_metrics"]["auroc"] > 0.9  # measured on the kept weights
    else:
        assert kept == {"keep": "last", "epoch": 4}


def test_the_users_statement_of_the_training_set_up_is_recorded(tmp_path):
    stated = {"pixel_scale": 0.168, "zero_point": 27.0}
    meta = train(get_task("lens"), toy_set(), tmp_path / "m.keras",
                 config(epochs=1, stated_contract=stated), log=lambda m: None)  # fmt: skip
    contract = meta["data_contract"]
    assert [(b["pixel_scale"], b["zero_point"]) for b in contract["bands"]] == [(0.168, 27.0)] * 2
    assert contract["cutout_arcsec"] == pytest.approx(16 * 0.168)
