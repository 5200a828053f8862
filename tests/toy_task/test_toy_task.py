"""A sixth task from its own folder and one registry line, through the real CLI."""

import json
from pathlib import Path

import numpy as np
import pytest
from astropy.table import Table
from cli_runner import run

from astrocnn.tasks import registry

pytestmark = pytest.mark.slow


@pytest.fixture
def blobsize(monkeypatch):
    # the one line a new task adds to the registry, made from the test
    monkeypatch.setitem(registry.TASKS, "blobsize", ("blobsize.task", "BlobSizeTask"))
    monkeypatch.syspath_prepend(str(Path(__file__).parent))  # the task's own folder
    return "blobsize"


def test_help_lists_the_new_task_and_its_option(blobsize):
    assert "blobsize" in run("train", "--help").output
    help_text = run("simulate", "blobsize", "--help").output
    assert "--noise" in help_text and "Options of blobsize" in help_text
    assert "--noise" not in run("simulate", "lens", "--help").output


def test_simulate_train_predict_evaluate(blobsize, tmp_path):
    sim, model = tmp_path / "sim", tmp_path / "blob.keras"
    run("simulate", blobsize, "--n", 400, "--seed", 1, "--noise", 0.02, "--out", sim, "-q")
    assert len(Table.read(sim / "catalog.fits")) == 400
    run(
        "train", blobsize, "--catalog", sim / "catalog.fits", "--out", model,
        "--epochs", 10, "--batch-size", 32, "--learning-rate", 0.01, "-q",
    )  # fmt: skip
    run("simulate", blobsize, "--n", 100, "--seed", 2, "--out", tmp_path / "test", "-q")
    catalog = tmp_path / "test" / "catalog.fits"
    run("predict", blobsize, "--model", model, "--catalog", catalog, "--out", tmp_path / "p.fits")
    predicted = Table.read(tmp_path / "p.fits")
    assert list(predicted["status"]) == ["ok"] * 100
    truth = Table.read(catalog)["sigma"]
    assert np.corrcoef(predicted["sigma_pred"], truth)[0, 1] > 0.8
    report = tmp_path / "report"
    run("evaluate", blobsize, "--model", model, "--catalog", catalog, "--report", report)
    scores = json.loads((report / "metrics.json").read_text())
    # better than always answering the mean width
    assert scores["rmse"] < 0.75 * scores["truth_std"]
