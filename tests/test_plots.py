"""Tests for astrocnn.plots."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from astrocnn import plots
from astrocnn.plots import (
    _rgb_channel_indices,
    _save_figure,
    plot_gallery,
    plot_roc,
    plot_score_histograms,
)

REPO_ROOT = Path(__file__).resolve().parents[1]


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
    assert w == pytest.approx(width_in * plots.DPI, rel=rel)
    assert h == pytest.approx(height_in * plots.DPI, rel=rel)


def no_temp_files_left(folder):
    return not [p for p in Path(folder).iterdir() if p.name.endswith(".tmp")]


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
    with pytest.raises(FileNotFoundError):
        plot_roc(y, s, tmp_path / "nope" / "roc.png")


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


# ------------------------------------------------------------------- gallery


def _blob_images(n, h, w, c, seed=0):
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:h, :w]
    blob = np.exp(-((yy - h / 2) ** 2 + (xx - w / 2) ** 2) / (2 * 3.0**2))
    flux = np.linspace(1.0, 3.0, c)
    return 0.1 * rng.normal(size=(n, h, w, c)) + 5 * blob[None, :, :, None] * flux


def test_plot_gallery_griz(tmp_path):
    images = _blob_images(8, 32, 32, 4)
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
    images = _blob_images(3, 20, 20, 1)
    img = read_png(plot_gallery(images, ["a", "b", "c"], tmp_path / "g1.png"))
    assert_size(img, 3 * 2.0, 2.3)
    # (N, H, W) is treated as one channel.
    read_png(plot_gallery(images[..., 0], ["a", "b", "c"], tmp_path / "g1b.png"))


def test_plot_gallery_two_channels_and_no_titles(tmp_path):
    images = _blob_images(5, 16, 16, 2)
    img = read_png(plot_gallery(images, None, tmp_path / "g2.png", ncols=2))
    assert_size(img, 2 * 2.0, 3 * 2.05)


def test_plot_gallery_empty(tmp_path):
    read_png(plot_gallery(np.zeros((0, 32, 32, 4)), [], tmp_path / "g0.png"))
    read_png(plot_gallery([], [], tmp_path / "g0b.png", suptitle="nothing"))


def test_plot_gallery_nonfinite_and_constant(tmp_path):
    images = _blob_images(2, 16, 16, 3)
    images[0, 0, 0, 0] = np.nan
    images[1] = 7.0
    read_png(plot_gallery(images, ["x", "y"], tmp_path / "g.png"))
    read_png(plot_gallery(np.zeros((2, 8, 8, 3)), ["x", "y"], tmp_path / "z.png"))


def test_plot_gallery_bad_inputs(tmp_path):
    images = _blob_images(2, 8, 8, 4)
    with pytest.raises(ValueError, match="titles"):
        plot_gallery(images, ["only one"], tmp_path / "g.png")
    with pytest.raises(ValueError, match="band"):
        plot_gallery(images, None, tmp_path / "g.png", bands=("g", "r"))
    with pytest.raises(ValueError, match="ncols"):
        plot_gallery(images, None, tmp_path / "g.png", ncols=0)
    with pytest.raises(ValueError, match="shape"):
        plot_gallery(np.zeros((2, 8)), None, tmp_path / "g.png")


@pytest.mark.parametrize(
    ("n", "bands", "expected"),
    [
        (4, ("g", "r", "i", "z"), (2, 1, 0)),
        (4, ("u", "g", "r", "i"), (3, 2, 1)),
        (3, ("i", "g", "r"), (0, 2, 1)),
        (4, ("HSC-G", "HSC-R", "HSC-I", "HSC-Z"), (2, 1, 0)),
        (4, ("VIS", "Y", "J", "H"), (3, 2, 1)),
        (4, ("H", "J", "Y", "VIS"), (0, 1, 2)),
        (4, None, (3, 2, 1)),
        (3, None, (2, 1, 0)),
        (4, ("a", "b", "c", "d"), (3, 2, 1)),
    ],
)
def test_rgb_channel_choice(n, bands, expected):
    assert _rgb_channel_indices(n, bands) == expected


def test_asinh_stretch_range():
    x = _blob_images(3, 16, 16, 3)
    out = plots._asinh_stretch(x)
    assert out.shape == x.shape
    assert out.min() >= 0.0 and out.max() <= 1.0
    assert out.max() == pytest.approx(1.0)  # bright centres saturate


# ----------------------------------------------------------- save / imports


def test_save_figure_atomic_failure_leaves_nothing(tmp_path, monkeypatch):
    fig = plots._new_figure(2, 2)
    fig.subplots().plot([0, 1], [0, 1])
    target = tmp_path / "f.png"
    target.write_bytes(b"previous")

    def boom(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(fig, "savefig", boom)
    with pytest.raises(RuntimeError):
        _save_figure(fig, target)
    assert target.read_bytes() == b"previous"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["f.png"]


def test_save_figure_permissions_follow_umask(tmp_path):
    fig = plots._new_figure(1, 1)
    out = _save_figure(fig, tmp_path / "p.png")
    if os.name == "posix":
        umask = os.umask(0)
        os.umask(umask)
        assert out.stat().st_mode & 0o777 == 0o666 & ~umask


def test_import_is_cheap_and_pyplot_free(tmp_path):
    code = (
        "import sys\n"
        "import astrocnn.plots as p\n"
        "assert 'matplotlib' not in sys.modules, 'matplotlib imported eagerly'\n"
        f"p.plot_roc([0, 1, 0, 1], [0.1, 0.9, 0.4, 0.3], {str(tmp_path / 'r.png')!r})\n"
        f"p.plot_gallery([[[[1.0]]]], ['x'], {str(tmp_path / 'g.png')!r})\n"
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
