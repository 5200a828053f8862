"""Tests for astrocnn.tasks.classification.plots."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from figures import blob_images, no_temp_files_left
from paths import REPO_ROOT

from astrocnn import viz
from astrocnn.errors import AstrocnnError, OutputError
from astrocnn.io.jsonsafe import json_safe
from astrocnn.tasks.classification.metrics import calibration, multiclass_report
from astrocnn.tasks.classification.plots import (
    plot_confusion_matrix,
    plot_gallery,
    plot_reliability,
    plot_roc,
    plot_score_histograms,
)


def read_png(path):
    """Read a PNG back with matplotlib; return the (H, W, channels) array."""
    from matplotlib.image import imread

    path = Path(path)
    assert path.is_file()
    assert path.stat().st_size > 0
    with open(path, "rb") as fh:
        assert fh.read(8) == b"\x89PNG\r\n\x1a\n"
    return imread(path)


def assert_size(img, width_in, height_in, rel=0.02):
    h, w = img.shape[:2]
    assert w == pytest.approx(width_in * viz.DPI, rel=rel)
    assert h == pytest.approx(height_in * viz.DPI, rel=rel)


@pytest.fixture
def binary_data():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 400)
    y[:2] = [0, 1]
    logit = rng.normal(2.0 * y - 1.0, 1.2)
    return y, 1.0 / (1.0 + np.exp(-logit))


# ----------------------------------------------------------------------- ROC


def test_plot_roc_writes_png(tmp_path, binary_data):
    y, s = binary_data
    out = plot_roc(y, s, tmp_path / "roc.png", title="test ROC", label="cnn")
    assert out == tmp_path / "roc.png"
    img = read_png(out)
    assert_size(img, 10.0, 4.6)
    assert img.std() > 0  # not a blank image
    assert no_temp_files_left(tmp_path)


def test_plot_roc_str_path_and_overwrite(tmp_path, binary_data):
    y, s = binary_data
    path = str(tmp_path / "roc.png")
    Path(path).write_bytes(b"old")
    plot_roc(y, s, path)
    read_png(path)
    assert no_temp_files_left(tmp_path)


def test_plot_roc_one_class_raises(tmp_path):
    with pytest.raises(ValueError, match="both classes"):
        plot_roc([1, 1], [0.1, 0.2], tmp_path / "roc.png")
    assert not (tmp_path / "roc.png").exists()


def test_missing_folder_raises(tmp_path, binary_data):
    y, s = binary_data
    with pytest.raises(OutputError, match="nope") as info:
        plot_roc(y, s, tmp_path / "nope" / "roc.png")
    assert isinstance(info.value, AstrocnnError)
    assert not (tmp_path / "nope").exists()


# ---------------------------------------------------------------- histograms


def test_plot_score_histograms(tmp_path, binary_data):
    y, s = binary_data
    out = plot_score_histograms(y, s, tmp_path / "hist.png", threshold=0.5)
    img = read_png(out)
    assert_size(img, 6.4, 4.4)
    assert img.std() > 0
    assert no_temp_files_left(tmp_path)


def test_plot_score_histograms_logits_one_class_and_empty(tmp_path):
    rng = np.random.default_rng(1)
    s = rng.normal(size=50) * 5  # outside [0, 1]
    read_png(
        plot_score_histograms(
            np.zeros(50, int), s, tmp_path / "a.png", class_names=("galaxy", "star")
        )
    )
    read_png(plot_score_histograms([1, 1, 0], [0.3, 0.3, 0.3], tmp_path / "b.png"))
    read_png(plot_score_histograms([], [], tmp_path / "c.png"))


def test_plot_score_histograms_bad_class_names(tmp_path):
    with pytest.raises(ValueError, match="class_names"):
        plot_score_histograms([0, 1], [0.1, 0.9], tmp_path / "h.png", class_names=("a",))


# ---------------------------------------------------------- confusion matrix

MORPHOLOGY = ["elliptical", "spiral", "edge-on disk", "merger", "irregular", "artefact"]


@pytest.fixture
def multiclass_data():
    """600 objects, 4 classes, an overconfident softmax classifier."""
    rng = np.random.default_rng(2)
    n, k = 600, 4
    y = rng.integers(0, k, n)
    logits = rng.normal(size=(n, k))
    logits[np.arange(n), y] += 1.5
    logits *= 2.0
    proba = np.exp(logits - logits.max(axis=1, keepdims=True))
    return y, proba / proba.sum(axis=1, keepdims=True)


def test_plot_confusion_matrix_writes_png(tmp_path, multiclass_data):
    y, proba = multiclass_data
    report = multiclass_report(y, proba, MORPHOLOGY[:4])
    out = plot_confusion_matrix(
        report["confusion_matrix"],
        report["class_names"],
        tmp_path / "cm.png",
        title="morphology",
    )
    assert out == tmp_path / "cm.png"
    img = read_png(out)
    assert_size(img, 2.6 + 0.6 * 4, 1.6 + 0.6 * 4)
    assert img.std() > 0
    assert no_temp_files_left(tmp_path)


def test_plot_confusion_matrix_counts_and_many_classes(tmp_path):
    rng = np.random.default_rng(3)
    cm = rng.integers(0, 5000, size=(10, 10))
    names = [*MORPHOLOGY, "lenticular", "barred spiral", "ring galaxy", "star"]
    img = read_png(plot_confusion_matrix(cm, names, tmp_path / "cm10.png", normalize=False))
    assert_size(img, 2.6 + 0.6 * 10, 1.6 + 0.6 * 10)


def test_plot_confusion_matrix_one_class_absent_class_and_empty(tmp_path):
    # One class: the figure keeps the size of three.
    img = read_png(plot_confusion_matrix([[7]], ["galaxy"], tmp_path / "one.png"))
    assert_size(img, 2.6 + 0.6 * 3, 1.6 + 0.6 * 3)
    # A class absent from y_true (row of zeros) and one never predicted.
    cm = np.array([[3, 1, 0], [2, 4, 0], [0, 0, 0]], dtype=np.int64)
    for normalize in (True, False):
        read_png(
            plot_confusion_matrix(cm, ["a", "b", "c"], tmp_path / "c.png", normalize=normalize)
        )
    # No objects at all; counts as floats (e.g. read back from JSON).
    read_png(plot_confusion_matrix(np.zeros((2, 2)), ["a", "b"], tmp_path / "z.png"))
    assert no_temp_files_left(tmp_path)


@pytest.mark.parametrize(
    ("cm", "names", "match"),
    [
        ([[1, 2, 3]], ["a"], "square"),
        ([1, 2], ["a", "b"], "square"),
        (np.zeros((0, 0)), [], "square"),
        ([[1, -1], [0, 1]], ["a", "b"], "non-negative integer"),
        ([[1, 0.5], [0, 1]], ["a", "b"], "non-negative integer"),
        ([[1, np.nan], [0, 1]], ["a", "b"], "non-negative integer"),
        ([["a", "b"], ["c", "d"]], ["a", "b"], "counts"),
        ([[1, 0], [0, 1]], ["a"], "2 names"),
        ([[1, 0], [0, 1]], "ab", "2 names"),
    ],
)
def test_plot_confusion_matrix_bad_inputs(tmp_path, cm, names, match):
    with pytest.raises(ValueError, match=match):
        plot_confusion_matrix(cm, names, tmp_path / "cm.png")
    assert not (tmp_path / "cm.png").exists()


# --------------------------------------------------------------- reliability


def test_plot_reliability_from_report(tmp_path, multiclass_data):
    y, proba = multiclass_data
    report = multiclass_report(y, proba, MORPHOLOGY[:4])
    out = plot_reliability(report, tmp_path / "rel.png", title="morphology")
    assert out == tmp_path / "rel.png"
    img = read_png(out)
    assert_size(img, 5.0, 6.2)
    assert img.std() > 0
    assert no_temp_files_left(tmp_path)


def test_plot_reliability_from_calibration_and_json(tmp_path, multiclass_data):
    y, proba = multiclass_data
    cal = calibration(y, proba, n_bins=10)
    read_png(plot_reliability(cal, str(tmp_path / "cal.png")))
    # After json_safe and a JSON round trip, empty bins hold None.
    report = json.loads(json.dumps(json_safe(multiclass_report(y, proba, MORPHOLOGY[:4]))))
    assert None in report["reliability"]["bin_accuracy"]
    read_png(plot_reliability(report, tmp_path / "json.png"))


def test_plot_reliability_one_class_and_empty_bins(tmp_path):
    # One class: every confidence is 1, only the last bin is filled.
    cal = calibration([0, 0, 0], [[1.0], [1.0], [1.0]])
    assert cal["bin_count"][-1] == 3 and sum(cal["bin_count"][:-1]) == 0
    img = read_png(plot_reliability(cal, tmp_path / "one.png"))
    assert_size(img, 5.0, 6.2)
    # Every bin empty, no edges, no ECE: only the diagonal is drawn.
    empty = {"bin_confidence": [None] * 4, "bin_accuracy": [None] * 4, "bin_count": [0] * 4}
    read_png(plot_reliability(empty, tmp_path / "empty.png"))
    # ECE and MCE are computed from the bins when absent.
    partial = {"bin_confidence": [0.3, 0.8], "bin_accuracy": [0.2, 0.9], "bin_count": [5, 5]}
    read_png(plot_reliability(partial, tmp_path / "partial.png"))
    assert no_temp_files_left(tmp_path)


@pytest.mark.parametrize(
    ("data", "match"),
    [
        ({"bin_accuracy": [0.5], "bin_count": [1]}, "bin_confidence"),
        ({"reliability": {"bin_count": [1]}}, "lacks"),
        ({"bin_confidence": [0.5], "bin_accuracy": [0.5, 0.4], "bin_count": [1]}, "one length"),
        ({"bin_confidence": [], "bin_accuracy": [], "bin_count": []}, "non-empty"),
        ({"bin_confidence": ["x"], "bin_accuracy": [0.5], "bin_count": [1]}, "numbers"),
        ({"bin_confidence": [0.5], "bin_accuracy": [0.5], "bin_count": [-1]}, "negative"),
        (
            {"bin_confidence": [0.5], "bin_accuracy": [0.5], "bin_count": [1], "bin_edges": [0]},
            "bin_edges",
        ),
        ([0.1, 0.2], "dict"),
    ],
)
def test_plot_reliability_bad_inputs(tmp_path, data, match):
    with pytest.raises(ValueError, match=match):
        plot_reliability(data, tmp_path / "rel.png")
    assert not (tmp_path / "rel.png").exists()


# ------------------------------------------------------------------- gallery


def test_plot_gallery_griz(tmp_path):
    images = blob_images(8, 32, 32, 4)
    titles = [f"id {i}  p=0.{90 + i}" for i in range(8)]
    out = plot_gallery(
        images,
        titles,
        tmp_path / "gal.png",
        bands=("g", "r", "i", "z"),
        suptitle="candidates",
    )
    img = read_png(out)
    assert_size(img, 6 * 2.0, 2 * 2.3 + 0.4)
    assert no_temp_files_left(tmp_path)


def test_plot_gallery_single_channel(tmp_path):
    images = blob_images(3, 20, 20, 1)
    img = read_png(plot_gallery(images, ["a", "b", "c"], tmp_path / "g1.png"))
    assert_size(img, 3 * 2.0, 2.3)
    # (N, H, W) is treated as one channel.
    read_png(plot_gallery(images[..., 0], ["a", "b", "c"], tmp_path / "g1b.png"))


def test_plot_gallery_two_channels_and_no_titles(tmp_path):
    images = blob_images(5, 16, 16, 2)
    img = read_png(plot_gallery(images, None, tmp_path / "g2.png", ncols=2))
    assert_size(img, 2 * 2.0, 3 * 2.05)


def test_plot_gallery_empty(tmp_path):
    read_png(plot_gallery(np.zeros((0, 32, 32, 4)), [], tmp_path / "g0.png"))
    read_png(plot_gallery([], [], tmp_path / "g0b.png", suptitle="nothing"))


def test_plot_gallery_nonfinite_and_constant(tmp_path):
    images = blob_images(2, 16, 16, 3)
    images[0, 0, 0, 0] = np.nan
    images[1] = 7.0
    read_png(plot_gallery(images, ["x", "y"], tmp_path / "g.png"))
    read_png(plot_gallery(np.zeros((2, 8, 8, 3)), ["x", "y"], tmp_path / "z.png"))


def test_plot_gallery_bad_inputs(tmp_path):
    images = blob_images(2, 8, 8, 4)
    with pytest.raises(ValueError, match="titles"):
        plot_gallery(images, ["only one"], tmp_path / "g.png")
    with pytest.raises(ValueError, match="band"):
        plot_gallery(images, None, tmp_path / "g.png", bands=("g", "r"))
    with pytest.raises(ValueError, match="ncols"):
        plot_gallery(images, None, tmp_path / "g.png", ncols=0)
    with pytest.raises(ValueError, match="shape"):
        plot_gallery(np.zeros((2, 8)), None, tmp_path / "g.png")


# ----------------------------------------------------------------- imports


def test_import_is_cheap_and_pyplot_free(tmp_path):
    code = (
        "import sys\n"
        "import astrocnn.tasks.classification.plots as p\n"
        "assert 'matplotlib' not in sys.modules, 'matplotlib imported eagerly'\n"
        f"p.plot_roc([0, 1, 0, 1], [0.1, 0.9, 0.4, 0.3], {str(tmp_path / 'r.png')!r})\n"
        f"p.plot_gallery([[[[1.0]]]], ['x'], {str(tmp_path / 'g.png')!r})\n"
        f"p.plot_confusion_matrix([[1, 0], [1, 2]], ['a', 'b'], {str(tmp_path / 'c.png')!r})\n"
        "r = {'bin_confidence': [0.4, None], 'bin_accuracy': [0.5, None], 'bin_count': [2, 0]}\n"
        f"p.plot_reliability(r, {str(tmp_path / 'l.png')!r})\n"
        "assert 'matplotlib.pyplot' not in sys.modules, 'pyplot imported'\n"
    )
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(REPO_ROOT), *filter(None, [env.get("PYTHONPATH")])])
    env.pop("MPLBACKEND", None)
    res = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )
    assert res.returncode == 0, res.stderr
