"""``astrocnn pretrain``: contrastive views, the NT-Xent loss, and a backbone that
``train --init-from`` fine-tunes."""

import itertools
import os
import subprocess
import sys

import numpy as np
import pytest
from astropy.table import Table
from cli_runner import run

from astrocnn._tf import import_keras, import_tensorflow
from astrocnn.data.augment import image_noise, make_views
from astrocnn.engine.pretrain import PRETRAINED, nt_xent
from astrocnn.io.bundle import read_meta

tf = import_tensorflow()
keras = import_keras()

SMALL = ("--size", 32, "--size-mode", "crop", "--arch", "cnn", "--widths", "8,16")
TINY = (*SMALL, "--quiet")


def _d4(image):
    """The 8 symmetries of the square of an (H, W, C) image."""
    turns = [np.rot90(image, k, axes=(0, 1)) for k in range(4)]
    return turns + [t[:, ::-1] for t in turns]


def _is_d4_shift(view, image, shift):
    """Whether the interior of ``view`` is a D4 transform of ``image`` shifted by at
    most ``shift`` pixels (the border is reflected, so only the interior is compared)."""
    h, w = image.shape[:2]
    inner = view[shift : h - shift, shift : w - shift]
    for g in _d4(image):
        for dy, dx in itertools.product(range(-shift, shift + 1), repeat=2):
            moved = g[shift + dy : h - shift + dy, shift + dx : w - shift + dx]
            if np.allclose(inner, moved, rtol=1e-5, atol=1e-6):
                return True
    return False


def test_views_keep_band_ratios_and_are_d4_shifts():
    rng = np.random.default_rng(3)
    pattern = rng.gamma(2.0, size=(6, 24, 24, 1)).astype(np.float32)
    images = pattern * np.array([1.0, 2.0, 3.0], np.float32)  # bands in ratio 1:2:3
    blurred = make_views(max_shift=2, max_blur=1.5, max_noise=0.0, seed=1)(images).numpy()
    assert blurred.shape == images.shape
    np.testing.assert_allclose(blurred[..., 1], 2 * blurred[..., 0], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(blurred[..., 2], 3 * blurred[..., 0], rtol=1e-5, atol=1e-6)
    assert not np.allclose(blurred, images)  # the blur did something
    sharp = make_views(max_shift=2, max_blur=0.0, max_noise=0.0, seed=2)(images).numpy()
    for view, image in zip(sharp, images):
        assert _is_d4_shift(view, image, 2)


def test_blur_conserves_flux_and_noise_is_measured_per_band():
    star = np.zeros((1, 32, 32, 2), np.float32)
    star[0, 16, 16] = [1.0, 5.0]
    view = make_views(max_shift=0, max_blur=1.0, max_noise=0.0, seed=4)(star).numpy()
    np.testing.assert_allclose(view.sum(axis=(0, 1, 2)), [1.0, 5.0], rtol=1e-5)
    noise = np.random.default_rng(5).normal(size=(3, 64, 64, 2)) * np.array([0.5, 2.0])
    measured = image_noise(tf, tf.constant(noise, tf.float32)).numpy()[:, 0, 0, :]
    np.testing.assert_allclose(measured, np.broadcast_to([0.5, 2.0], (3, 2)), rtol=0.1)
    # the view's noise: sqrt(1 + f**2) of the image's, f drawn in [0, max_noise]
    noisy = make_views(max_shift=0, max_blur=0.0, max_noise=1.0, seed=6)(noise.astype(np.float32))
    ratio = image_noise(tf, noisy).numpy()[:, 0, 0, :] / measured
    assert np.all(ratio > 0.95) and np.all(ratio < 1.5) and ratio.max() > 1.05
    np.testing.assert_allclose(ratio[:, 0], ratio[:, 1], rtol=0.1)  # one f per image


def test_nt_xent_is_lower_for_matching_views():
    rng = np.random.default_rng(7)
    z = rng.normal(size=(32, 16)).astype(np.float32)
    other = rng.normal(size=(32, 16)).astype(np.float32)
    same_loss, same_found = (float(v) for v in nt_xent(z, z, 0.2))
    random_loss, random_found = (float(v) for v in nt_xent(z, other, 0.2))
    assert same_loss < random_loss - 1.0
    assert same_found == 1.0 and random_found < 0.3
    assert abs(random_loss - np.log(63)) < 1.5  # chance: log(2N - 1)


@pytest.fixture(scope="module")
def pretrained(tmp_path_factory):
    """64 simulated morphology cutouts, their catalogue without labels, and a backbone
    pretrained on them for 2 epochs."""
    base = tmp_path_factory.mktemp("pretrain")
    run("simulate", "morphology", "--n", 64, "--seed", 5, "--out", base / "sims", "--quiet")
    table = Table.read(base / "sims" / "catalog.fits")
    table.remove_column("label")
    table.write(base / "sims" / "unlabelled.fits")
    run("pretrain", "morphology", "--catalog", base / "sims" / "unlabelled.fits",
        "--out", base / "backbone.keras", "--epochs", 2, "--batch-size", 32, *TINY)  # fmt: skip
    return base


def test_pretrained_bundle_records_the_run(pretrained):
    meta = read_meta(pretrained / "backbone.keras")
    assert meta["kind"] == PRETRAINED and meta["task"] == "morphology"
    assert meta["bands"] == ["g", "r", "i"] and meta["input_shape"] == [32, 32, 3]
    assert meta["preprocessing"]["kind"] == "asinh" and meta["image_kind"] == "fits"
    assert meta["model_options"] == {"architecture": "cnn", "widths": [8, 16],
                                     "convs_per_block": 1}  # fmt: skip
    record = meta["pretraining"]
    assert record["n_images"] == 64 and record["epochs"] == 2 and record["batch_size"] == 32
    assert record["temperature"] == 0.2 and record["views"]["d4"]
    assert np.isfinite(record["final_loss"]) and len(record["loss_history"]) == 2
    assert "class_names" not in meta
    card = run("info", pretrained / "backbone.keras").output
    assert "pretrained:   SimCLR" in card and "64 unlabelled images" in card


def test_train_init_from_copies_the_pretrained_backbone(pretrained):
    out = pretrained / "m.keras"
    result = run("train", "morphology", "--catalog", pretrained / "sims" / "catalog.fits",
                 "--init-from", pretrained / "backbone.keras", "--out", out, "--epochs", 1,
                 "--batch-size", 16, "--freeze-backbone", *SMALL)  # fmt: skip
    assert "copied 4 backbone layers" in result.output  # 2 conv + 2 batch-norm layers
    meta = read_meta(out)
    assert meta["class_names"] and "kind" not in meta
    assert str(pretrained / "backbone.keras") in meta["provenance"]["init_from"]
    source = keras.saving.load_model(pretrained / "backbone.keras", compile=False)
    tuned = keras.saving.load_model(out, compile=False)
    src, new = source.get_layer("backbone"), tuned.get_layer("backbone")
    assert len(new.weights) == len(src.weights) == 10  # conv kernels, BN gamma/beta/mean/var
    for a, b in zip(src.weights, new.weights):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b), err_msg=a.path)
    # self-supervised features are standardised before the new head
    assert tuned.get_layer("head_norm") and meta["model_options"]["head_norm"] is True


def test_embed_uses_the_backbone_and_predict_refuses_it(pretrained, tmp_path):
    catalog = pretrained / "sims" / "catalog.fits"
    run("embed", "morphology", "--model", pretrained / "backbone.keras", "--catalog", catalog,
        "--out", tmp_path / "e.fits", "--quiet")  # fmt: skip
    table = Table.read(tmp_path / "e.fits")
    assert (table["status"] == "ok").all() and table["embedding"].shape == (64, 16)
    result = run("predict", "morphology", "--model", pretrained / "backbone.keras",
                 "--catalog", catalog, "--out", tmp_path / "p.fits", ok=False)  # fmt: skip
    assert result.exit_code == 1 and "a pretrained backbone" in result.output
    assert "--init-from" in result.output and not (tmp_path / "p.fits").exists()


def test_unreadable_rows_leaving_less_than_a_batch_fail_in_one_line(pretrained, tmp_path):
    table = Table.read(pretrained / "sims" / "unlabelled.fits")[:40]
    table["file"] = [str(pretrained / "sims" / f) for f in table["file"]]
    table["file"][::4] = "missing.fits"  # 10 of the 40 rows cannot be read
    table.write(tmp_path / "cat.fits")
    out = tmp_path / "b.keras"
    result = run("pretrain", "morphology", "--catalog", tmp_path / "cat.fits", "--out", out,
                 "--batch-size", 32, *TINY, ok=False)  # fmt: skip
    errors = [line for line in result.output.splitlines() if line.startswith("astrocnn: error")]
    assert result.exit_code == 1 and len(errors) == 1
    assert "cat.fits: 30 readable of 40, fewer than one batch" in errors[0]
    assert "--batch-size 16 or less" in errors[0] and not out.exists()


def test_user_mistakes_fail_in_one_line_before_tensorflow_loads(pretrained, tmp_path):
    """Fewer images than a batch, an existing --out and a task without a backbone are
    refused with one line each, nothing written, TensorFlow never imported."""
    catalog = pretrained / "sims" / "unlabelled.fits"
    existing = tmp_path / "old.keras"
    existing.write_bytes(b"keep me")
    calls = [
        ["pretrain", "morphology", "--catalog", catalog, "--out", tmp_path / "a.keras"],
        ["pretrain", "morphology", "--catalog", catalog, "--out", existing,
         "--batch-size", 32],
        ["pretrain", "deblend", "--catalog", catalog, "--out", tmp_path / "c.keras"],
    ]  # fmt: skip
    code = (
        "import sys\nfrom astrocnn_cli.main import main\n"
        f"for args in {[[str(a) for a in call] for call in calls]!r}:\n"
        "    try:\n        main(args)\n    except SystemExit as exc:\n"
        "        print('exit', exc.code)\n"
        "print('tensorflow' in sys.modules)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env={**os.environ}, check=True)  # fmt: skip
    assert done.stdout.split() == ["exit", "1", "exit", "1", "exit", "1", "False"], done.stderr
    errors = done.stderr.strip().splitlines()
    assert len(errors) == 3 and all(e.startswith("astrocnn: error: ") for e in errors), errors
    assert "unlabelled.fits: 64 image(s), fewer than one batch (--batch-size 128)" in errors[0]
    assert "--batch-size 64 or less" in errors[0]
    assert "old.keras: already exists (use --overwrite" in errors[1]
    assert "'deblend'" in errors[2] and "without a backbone" in errors[2]
    assert existing.read_bytes() == b"keep me"
    assert not (tmp_path / "a.keras").exists() and not (tmp_path / "c.keras").exists()
