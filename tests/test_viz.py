"""Tests for astrocnn.viz, the figure helpers shared by every task's plots."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from figures import blob_images, no_temp_files_left
from paths import REPO_ROOT

from astrocnn import viz
from astrocnn.errors import OutputError


def read_png(path):
    """Read a PNG back with matplotlib; return the (H, W, channels) array."""
    from matplotlib.image import imread

    path = Path(path)
    assert path.is_file()
    with open(path, "rb") as fh:
        assert fh.read(8) == b"\x89PNG\r\n\x1a\n"
    return imread(path)


# ------------------------------------------------------------ new / save


def test_new_figure_size_and_canvas(tmp_path):
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    fig = viz.new_figure(3.0, 2.0)
    assert isinstance(fig.canvas, FigureCanvasAgg)
    assert fig.dpi == viz.DPI
    img = read_png(viz.save_figure(fig, tmp_path / "f.png"))
    assert img.shape[:2] == (2 * viz.DPI, 3 * viz.DPI)


def test_save_figure_attaches_an_agg_canvas(tmp_path):
    from matplotlib.figure import Figure

    fig = Figure(figsize=(1, 1))  # no canvas of ours
    read_png(viz.save_figure(fig, tmp_path / "plain.png"))


def test_save_figure_sets_the_title(tmp_path):
    fig = viz.new_figure(2, 1)
    viz.save_figure(fig, tmp_path / "t.png", title="Hello")
    assert fig.get_suptitle() == "Hello"
    untitled = viz.new_figure(2, 1)
    viz.save_figure(untitled, tmp_path / "u.png", title="")
    assert untitled.get_suptitle() == ""


def test_save_figure_atomic_failure_leaves_nothing(tmp_path, monkeypatch):
    fig = viz.new_figure(2, 2)
    fig.subplots().plot([0, 1], [0, 1])
    target = tmp_path / "f.png"
    target.write_bytes(b"previous")

    def boom(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(fig, "savefig", boom)
    with pytest.raises(RuntimeError):
        viz.save_figure(fig, target)
    assert target.read_bytes() == b"previous"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["f.png"]


def test_save_figure_oserror_becomes_output_error(tmp_path, monkeypatch):
    fig = viz.new_figure(2, 2)
    target = tmp_path / "f.png"
    target.write_bytes(b"previous")

    def disk_full(fname, *args, **kwargs):
        Path(fname).write_bytes(b"half an image")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(fig, "savefig", disk_full)
    with pytest.raises(OutputError, match="No space left"):
        viz.save_figure(fig, target)
    assert target.read_bytes() == b"previous"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["f.png"]


def test_save_figure_writes_png_whatever_the_suffix(tmp_path):
    fig = viz.new_figure(1, 1)
    out = viz.save_figure(fig, tmp_path / "figure.out")
    assert out == tmp_path / "figure.out"
    read_png(out)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["figure.out"]


def test_save_figure_onto_a_folder_raises(tmp_path):
    (tmp_path / "d.png").mkdir()
    with pytest.raises(OutputError):
        viz.save_figure(viz.new_figure(1, 1), tmp_path / "d.png")
    assert (tmp_path / "d.png").is_dir()
    assert no_temp_files_left(tmp_path)


def test_save_figure_missing_folder_raises(tmp_path):
    with pytest.raises(OutputError):
        viz.save_figure(viz.new_figure(1, 1), tmp_path / "missing" / "f.png")
    assert not (tmp_path / "missing").exists()


def test_save_figure_permissions_follow_umask(tmp_path):
    fig = viz.new_figure(1, 1)
    out = viz.save_figure(fig, tmp_path / "p.png")
    if os.name == "posix":
        umask = os.umask(0)
        os.umask(umask)
        assert out.stat().st_mode & 0o777 == 0o666 & ~umask


def test_save_message_figure(tmp_path):
    out = viz.save_message_figure(tmp_path / "m.png", "no objects", fontsize=14, title="T")
    assert out == tmp_path / "m.png"
    img = read_png(out)
    assert img.shape[:2] == (round(2.5 * viz.DPI), 4 * viz.DPI)
    read_png(viz.save_message_figure(str(tmp_path / "plain.png"), "nothing"))
    with pytest.raises(OutputError):
        viz.save_message_figure(tmp_path / "missing" / "m.png", "x")


# ------------------------------------------------------------- galleries


@pytest.mark.parametrize(
    ("n", "bands", "expected"),
    [
        (4, ("g", "r", "i", "z"), (2, 1, 0)),
        (4, ("u", "g", "r", "i"), (3, 2, 1)),
        (3, ("i", "g", "r"), (0, 2, 1)),
        (4, ("HSC-G", "HSC-R", "HSC-I", "HSC-Z"), (2, 1, 0)),
        (4, ("gband", "rband", "iband", "zband"), (2, 1, 0)),
        (4, ("VIS", "Y", "J", "H"), (3, 2, 1)),
        (4, ("H", "J", "Y", "VIS"), (0, 1, 2)),
        (4, None, (3, 2, 1)),
        (3, None, (2, 1, 0)),
        (4, ("a", "b", "c", "d"), (3, 2, 1)),
    ],
)
def test_rgb_channel_choice(n, bands, expected):
    assert viz.rgb_channel_indices(n, bands) == expected


@pytest.mark.parametrize(
    ("n", "bands", "channels", "caption"),
    [
        (4, ["g", "r", "i", "z"], [2, 1, 0], "RGB = (i, r, g)"),
        (4, None, [3, 2, 1], None),
        (3, ["a", "b", "c"], [2, 1, 0], "RGB = (c, b, a)"),
        (2, ["r", "i"], [0], "band r"),
        (1, ["r"], [0], "band r"),
        (1, None, [0], None),
    ],
)
def test_display_channels(n, bands, channels, caption):
    assert viz.display_channels(n, bands) == (channels, caption)


def test_check_band_names():
    assert viz.check_band_names(None, 3) is None
    assert viz.check_band_names(("g", "r", 1), 3) == ["g", "r", "1"]
    with pytest.raises(ValueError, match="2 band names for 3 channels"):
        viz.check_band_names(("g", "r"), 3)


def test_asinh_stretch_range():
    x = blob_images(3, 16, 16, 3)
    out = viz.asinh_stretch(x)
    assert out.shape == x.shape
    assert out.dtype == np.float64
    assert out.min() >= 0.0 and out.max() <= 1.0
    assert out.max() == pytest.approx(1.0)  # bright centres saturate


def test_asinh_stretch_nonfinite_and_constant():
    x = blob_images(2, 8, 8, 1)
    x[0, 0, 0, 0] = np.nan
    x[1, 0, 0, 0] = np.inf
    out = viz.asinh_stretch(x)
    assert np.all(np.isfinite(out))
    assert out[0, 0, 0, 0] == 0.0 and out[1, 0, 0, 0] == 0.0  # shown as background
    assert np.all(viz.asinh_stretch(np.ones((2, 4, 4, 3))) == 0.0)
    assert np.isnan(x[0, 0, 0, 0])  # the input is not modified


# ------------------------------------------------------------------ imports


def test_import_is_cheap_and_task_free():
    code = (
        "import sys\n"
        "import astrocnn.viz\n"
        "assert 'matplotlib' not in sys.modules, 'matplotlib imported eagerly'\n"
        "tasks = [m for m in sys.modules if m.startswith('astrocnn.tasks')]\n"
        "assert not tasks, tasks\n"
    )
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(REPO_ROOT), *filter(None, [env.get("PYTHONPATH")])])
    res = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )
    assert res.returncode == 0, res.stderr


def test_colour_composite_channels_are_shown_as_named():
    from astrocnn.viz import rgb_channel_indices

    assert rgb_channel_indices(3, ["R", "G", "B"]) == (0, 1, 2)
    assert rgb_channel_indices(3, ["i", "r", "g"]) == (0, 1, 2)  # an SDSS composite
    assert rgb_channel_indices(3, ["g", "r", "i"]) == (2, 1, 0)


def test_unnamed_jpeg_channels_are_r_g_b():
    from astrocnn.engine.layout import default_band_names

    assert default_band_names(3, "raster") == ["R", "G", "B"]
    assert default_band_names(1, "raster") == ["L"]
    assert default_band_names(2, "fits") == ["band0", "band1"]
