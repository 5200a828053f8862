"""Operating points: thresholds at fixed false-positive rates, carried to real catalogues."""

import json

import numpy as np
import pytest
from astropy.io import fits
from astropy.table import Table
from cli_runner import run

from astrocnn.io.bundle import read_meta
from astrocnn.tasks.classification.metrics import one_class_report, operating_points
from astrocnn.tasks.registry import get_task


def test_operating_points_meet_their_false_positive_rates():
    rng = np.random.default_rng(0)
    y = np.r_[np.ones(300), np.zeros(700)]
    score = np.r_[rng.normal(2, 1, 300), rng.normal(0, 1, 700)]
    for point in operating_points(y, score, fprs=(0.01, 0.1, 0.5)):
        neg, pos = score[y == 0], score[y == 1]
        assert point["fpr"] == np.mean(neg >= point["threshold"])
        assert point["fpr"] <= point["fpr_target"]
        assert point["fpr"] > point["fpr_target"] - 1 / 700  # the lowest such threshold
        assert point["completeness"] == np.mean(pos >= point["threshold"])
    low = operating_points(y, score, fprs=(0.01,))[0]
    high = operating_points(y, score, fprs=(0.1,))[0]
    assert low["threshold"] > high["threshold"] and low["completeness"] < high["completeness"]


def test_operating_points_with_ties_never_exceed_the_rate():
    y = np.array([0] * 10 + [1] * 5)
    score = np.array([0.9] * 5 + [0.1] * 5 + [0.9] * 5)  # half the negatives tie the lenses
    point = operating_points(y, score, fprs=(0.3,))[0]
    assert point["fpr"] <= 0.3 and point["completeness"] == 0.0


def test_one_class_report():
    report = one_class_report([1, 1, 1, 1], [0.2, 0.6, 0.95, 0.99], {"0.5": 0.5, "x": 0.9})
    assert report["class"] == "positives" and report["recall_at_x"] == 0.5
    report = one_class_report([0, 0], [0.2, 0.6], {"0.5": 0.5})
    assert report["class"] == "negatives" and report["fpr_at_0.5"] == 0.5


def test_shipped_lens_model_stores_its_operating_points():
    meta = read_meta(get_task("lens").default_model())
    points = {p["fpr_target"]: p for p in meta["operating_points"]}
    assert set(points) == {0.01, 0.1}
    assert points[0.01]["threshold"] > points[0.1]["threshold"]
    assert 0 < points[0.01]["completeness"] < points[0.1]["completeness"] <= 1


@pytest.fixture(scope="module")
def one_class_catalogues(tmp_path_factory):
    base = tmp_path_factory.mktemp("lens_one_class")
    run("simulate", "lens", "--n", 40, "--seed", 31, "--out", base, "--quiet")
    table = Table.read(base / "catalog.fits")
    paths = {}
    for name, label in (("positives", 1), ("negatives", 0)):
        paths[name] = base / f"{name}.fits"
        table[table["label"] == label].write(paths[name])
    return paths


@pytest.mark.parametrize("kind", ["positives", "negatives"])
def test_evaluate_on_one_class(one_class_catalogues, tmp_path, kind):
    report = tmp_path / "report"
    run("evaluate", "lens", "--catalog", one_class_catalogues[kind], "--report", report, "-q")
    scores = json.loads((report / "metrics.json").read_text())
    stored = read_meta(get_task("lens").default_model())["operating_points"]
    prefix = "recall_at_" if kind == "positives" else "fpr_at_"
    assert scores["class"] == kind and scores["n"] == 20
    for point in stored:
        assert 0 <= scores[f"{prefix}fpr_{point['fpr_target']:g}"] <= 1
    assert (report / "score_histograms.png").exists() and not (report / "roc.png").exists()


def test_predict_fpr_adds_a_decision_column(one_class_catalogues, tmp_path):
    out = tmp_path / "p.fits"
    run("predict", "lens", "--catalog", one_class_catalogues["positives"], "--out", out,
        "--fpr", 0.01)  # fmt: skip
    table = Table.read(out)
    threshold = fits.getheader(out, 1)["LENSTHR"]
    assert fits.getheader(out, 1)["LENSFPR"] == 0.01
    assert np.array_equal(table["is_lens"], table["p_lens"] >= threshold)
    bad = run("predict", "lens", "--catalog", one_class_catalogues["positives"], "--out",
              tmp_path / "q.fits", "--fpr", 0.05, ok=False)  # fmt: skip
    assert bad.exit_code == 1 and "false-positive rates 0.01, 0.1" in bad.output
    assert not (tmp_path / "q.fits").exists()
