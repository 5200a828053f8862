"""Morphology end to end: JPEG folders and FITS, TTA, fine-tuning, evaluation report."""

import json

import numpy as np
import pytest
from astropy.table import Table
from cli_runner import run
from paths import SAMPLE_DATA

pytest.importorskip("galsim")

SMALL = ["--arch", "cnn", "--batch-size", "16", "--widths", "8,16,32,32", "--quiet", "--seed", "3"]


def as_user_csv(sim_dir, name):
    """What a user has: a folder of images and a CSV naming them with labels."""
    table = Table.read(sim_dir / "catalog.fits")
    keep = Table({"id": table["id"], "file": table["file"], "label": table["label"]})
    keep.write(sim_dir / name, format="ascii.csv")
    return sim_dir / name


@pytest.fixture(scope="module")
def jpeg_sets(tmp_path_factory):
    base = tmp_path_factory.mktemp("morph_jpeg")
    from astrocnn.tasks.morphology.simulate import simulate_morphology

    simulate_morphology(240, 21, base / "train", image_format="jpeg")
    simulate_morphology(80, 22, base / "test", image_format="jpeg")
    return as_user_csv(base / "train", "labels.csv"), as_user_csv(base / "test", "labels.csv")


@pytest.fixture(scope="module")
def jpeg_model(jpeg_sets, tmp_path_factory):
    path = tmp_path_factory.mktemp("morph_model") / "jpeg.keras"
    run("train", "morphology", "--catalog", jpeg_sets[0], "--out", path, "--epochs", 12, *SMALL)
    return path


def test_jpeg_folder_trains_and_beats_chance(jpeg_sets, jpeg_model, tmp_path):
    out = tmp_path / "pred.fits"
    run(
        "predict",
        "morphology",
        "--model",
        jpeg_model,
        "--catalog",
        jpeg_sets[1],
        "--out",
        out,
        "--quiet",
    )
    pred = Table.read(out)
    truth = Table.read(jpeg_sets[1])
    classes = ["edge_on", "elliptical", "merger", "spiral"]
    assert {f"p_{c}" for c in classes} <= set(pred.colnames)
    assert set(pred["status"]) == {"ok"}
    proba = np.stack([pred[f"p_{c}"] for c in classes], axis=1)
    np.testing.assert_allclose(proba.sum(axis=1), 1, atol=1e-4)
    accuracy = np.mean(pred["class"].astype(str) == truth["label"].astype(str))
    assert accuracy > 0.5, accuracy  # chance is 0.25


def test_tta_column_and_rotation_invariance(jpeg_sets, jpeg_model, tmp_path):
    out = tmp_path / "tta.fits"
    run(
        "predict",
        "morphology",
        "--model",
        jpeg_model,
        "--catalog",
        jpeg_sets[1],
        "--out",
        out,
        "--tta",
        "--quiet",
    )
    pred = Table.read(out)
    assert pred["tta"].all()
    # a rotated copy of an image gets the same TTA probabilities (exact D4 invariance)
    from skimage.io import imread, imsave

    folder = jpeg_sets[1].parent
    first = folder / Table.read(jpeg_sets[1])["file"].astype(str)[0]
    rotated = tmp_path / "rotated.png"
    original = tmp_path / "original.png"
    image = imread(first)
    imsave(original, image)
    imsave(rotated, np.rot90(image).copy())
    run(
        "predict",
        "morphology",
        "--model",
        jpeg_model,
        original,
        rotated,
        "--out",
        tmp_path / "rot.fits",
        "--tta",
        "--quiet",
    )
    rot = Table.read(tmp_path / "rot.fits")
    np.testing.assert_allclose(rot["p_spiral"][0], rot["p_spiral"][1], atol=1e-5)


def test_fits_model_refuses_jpeg_rows(jpeg_sets, tmp_path):
    from astrocnn.tasks.morphology.simulate import simulate_morphology

    simulate_morphology(16, 5, tmp_path / "fits")
    model = tmp_path / "fits.keras"
    run(
        "train",
        "morphology",
        "--catalog",
        tmp_path / "fits" / "catalog.fits",
        "--out",
        model,
        "--epochs",
        1,
        *SMALL,
    )
    mixed = Table.read(tmp_path / "fits" / "catalog.fits")
    files = list(mixed["file"].astype(str))
    files[0] = str(jpeg_sets[1].parent / Table.read(jpeg_sets[1])["file"].astype(str)[0])
    mixed["file"] = files
    mixed.write(tmp_path / "fits" / "mixed.ecsv")
    out = tmp_path / "mixed_pred.fits"
    run(
        "predict",
        "morphology",
        "--model",
        model,
        "--catalog",
        tmp_path / "fits" / "mixed.ecsv",
        "--out",
        out,
        "--quiet",
    )
    pred = Table.read(out)
    assert pred["status"][0] == "error" and "trained on FITS cutouts" in pred["reason"][0]
    assert set(pred["status"][1:]) == {"ok"}


def test_fine_tune_new_classes_and_evaluate(jpeg_sets, jpeg_model, tmp_path):
    # relabel into two coarse classes, as a user with other labels would
    table = Table.read(jpeg_sets[0])
    table["label"] = np.where(np.isin(table["label"], ["elliptical"]), "smooth", "featured")
    labels = jpeg_sets[0].parent / "coarse.csv"
    table.write(labels, format="ascii.csv", overwrite=True)
    tuned = tmp_path / "tuned.keras"
    result = run(
        "train",
        "morphology",
        "--catalog",
        labels,
        "--out",
        tuned,
        "--init-from",
        jpeg_model,
        "--epochs",
        4,
        "--head-epochs",
        2,
        "--batch-size",
        "32",
        "--seed",
        "3",
    )
    assert "copied" in result.output
    card = run("info", tuned).output
    assert "classes:      featured, smooth" in card and "init_from" in card
    report = tmp_path / "report"
    run(
        "evaluate",
        "morphology",
        "--model",
        tuned,
        "--catalog",
        labels,
        "--report",
        report,
        "--quiet",
    )
    metrics = json.loads((report / "metrics.json").read_text())
    for key in ("accuracy", "balanced_accuracy", "per_class", "confusion_matrix", "ece"):
        assert key in metrics
    for name in ("confusion_matrix.png", "reliability.png", "gallery_confident_mistakes.png"):
        assert (report / name).stat().st_size > 0


def test_fine_tune_unknown_label_and_empty_class(jpeg_sets, tmp_path):
    table = Table.read(jpeg_sets[0])
    labels = list(table["label"].astype(str))
    labels[3] = ""
    table["label"] = labels
    bad = jpeg_sets[0].parent / "bad.ecsv"
    table.write(bad, overwrite=True)
    result = run(
        "train",
        "morphology",
        "--catalog",
        bad,
        "--out",
        tmp_path / "b.keras",
        "--epochs",
        1,
        *SMALL,
        ok=False,
    )
    assert result.exit_code == 1 and "row 3" in result.output and "empty label" in result.output


def test_classes_option_rejects_unknown_labels_and_empty_classes(jpeg_sets, tmp_path):
    result = run(
        "train",
        "morphology",
        "--catalog",
        jpeg_sets[0],
        "--out",
        tmp_path / "x.keras",
        "--classes",
        "elliptical,spiral",
        "--epochs",
        1,
        *SMALL,
        ok=False,
    )
    assert result.exit_code == 1 and "is not one of the classes given" in result.output
    result = run(
        "train",
        "morphology",
        "--catalog",
        jpeg_sets[0],
        "--out",
        tmp_path / "x.keras",
        "--classes",
        "elliptical,spiral,edge_on,merger,irregular",
        "--epochs",
        1,
        *SMALL,
        ok=False,
    )
    assert result.exit_code == 1 and "irregular have no examples" in result.output


def _with_fractions(csv_path, name, seed):
    """Galaxy Zoo 1 style vote fractions: 0.7 for the true class, 0.1 for each other."""
    table = Table.read(csv_path)
    rng = np.random.default_rng(seed)
    classes = ["elliptical", "spiral", "edge_on", "merger"]
    for c in classes:
        table[f"P_{c}"] = np.where(table["label"].astype(str) == c, 0.7, 0.1)
    jitter = rng.uniform(-0.05, 0.05, len(table))
    table["P_elliptical"] += jitter
    table["P_spiral"] -= jitter
    path = csv_path.parent / name
    table.write(path, format="ascii.csv", overwrite=True)
    return path, [f"P_{c}" for c in classes]


def test_vote_fraction_regression(jpeg_sets, tmp_path):
    train_csv, columns = _with_fractions(jpeg_sets[0], "fractions.csv", 1)
    test_csv, _ = _with_fractions(jpeg_sets[1], "fractions.csv", 2)
    model = tmp_path / "frac.keras"
    run(
        "train",
        "morphology",
        "--catalog",
        train_csv,
        "--out",
        model,
        "--fraction-columns",
        ",".join(columns),
        "--epochs",
        12,
        *SMALL,
    )
    report = tmp_path / "report"
    run(
        "evaluate",
        "morphology",
        "--model",
        model,
        "--catalog",
        test_csv,
        "--report",
        report,
        "--quiet",
    )
    metrics = json.loads((report / "metrics.json").read_text())
    # predicting the mean fraction (0.25) everywhere scores an RMSE of 0.26
    assert metrics["rmse"] < 0.2, metrics["rmse"]
    assert (report / "fractions_predicted_vs_true.png").stat().st_size > 0
    pred = Table.read(report / "predictions.fits")
    assert {f"frac_{c}" for c in columns} <= set(pred.colnames)
    result = run(
        "train",
        "lens",
        "--catalog",
        train_csv,
        "--out",
        tmp_path / "x.keras",
        "--fraction-columns",
        "P_spiral",
        ok=False,
    )
    assert "does not apply to task 'lens'" in result.output


def test_default_model_on_sample_fits(tmp_path):
    """The shipped morphology model on the bundled sample cutouts."""
    import os

    sample = os.path.join(SAMPLE_DATA, "morphology", "fits", "catalog.fits")
    out = tmp_path / "sample.fits"
    run("predict", "morphology", "--catalog", sample, "--out", out, "--tta", "--quiet")
    pred = Table.read(out)
    truth = Table.read(sample)
    assert set(pred["status"]) == {"ok"} and pred["tta"].all()
    accuracy = np.mean(pred["class"].astype(str) == truth["label"].astype(str))
    assert accuracy >= 0.9, accuracy
