"""Tests for astrocnn.tasks.paint.plots: every plot writes a PNG."""

from __future__ import annotations

import numpy as np
import pytest

from astrocnn.errors import OutputError
from astrocnn.tasks.paint.baseline import smooth_gaussian
from astrocnn.tasks.paint.plots import plot_maps, plot_pdfs, plot_transfer_and_correlation
from astrocnn.tasks.paint.spectra import paint_report

BOX = 20.0
NAMES = ["gas density", "temperature", "HI"]


def assert_png(path):
    assert path.is_file() and path.stat().st_size > 1000
    with open(path, "rb") as fh:
        assert fh.read(8) == b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def maps():
    rng = np.random.default_rng(0)
    g = smooth_gaussian(rng.normal(0.0, 1.0, (2, 32, 32)), BOX, 0.8)
    dm = np.exp(g / g.std() - 0.5)
    true = np.stack([dm**1.1, 1e4 * dm**0.6, 1e-3 * dm**1.5], axis=-1)
    pred = true * 10 ** rng.normal(0.0, 0.05, true.shape)
    base = true * 10 ** rng.normal(0.0, 0.15, true.shape)
    return dm, true, pred, base


def test_plot_maps(tmp_path, maps):
    dm, true, pred, base = maps
    out = plot_maps(dm[0], true[0], pred[0], tmp_path / "maps.png", channel_names=NAMES)
    assert out == tmp_path / "maps.png"
    assert_png(out)
    out = plot_maps(
        dm[0],
        true[0],
        pred[0],
        tmp_path / "base.png",
        channel_names=NAMES,
        baseline=base[0],
        transforms=["log10", "log10", "linear"],
    )
    assert_png(out)
    # One channel given without its axis.
    assert_png(
        plot_maps(
            dm[0], true[0, ..., 0], pred[0, ..., 0], tmp_path / "one.png", channel_names=["gas"]
        )
    )
    with pytest.raises(ValueError):
        plot_maps(dm[0], true[0], pred[0, :16], tmp_path / "bad.png", channel_names=NAMES)
    with pytest.raises(OutputError):
        plot_maps(dm[0], true[0], pred[0], tmp_path / "missing" / "m.png", channel_names=NAMES)


def test_plot_transfer_and_correlation(tmp_path, maps):
    _, true, pred, base = maps
    rep = paint_report(pred, true, BOX, channel_names=NAMES)
    rep_b = paint_report(base, true, BOX, channel_names=NAMES)
    k = rep[NAMES[0]]["k"]
    transfer = [rep[n]["transfer"] for n in NAMES]
    r = [rep[n]["r"] for n in NAMES]
    out = plot_transfer_and_correlation(
        k,
        transfer,
        r,
        tmp_path / "tk.png",
        channel_names=NAMES,
        baseline={
            "transfer": [rep_b[n]["transfer"] for n in NAMES],
            "r": [rep_b[n]["r"] for n in NAMES],
        },
        k_nyquist=rep[NAMES[0]]["k_nyquist"],
    )
    assert_png(out)
    # One channel as 1-D curves, with a gap (None), no baseline.
    t1 = list(transfer[0])
    t1[3] = None
    assert_png(
        plot_transfer_and_correlation(k, t1, r[0], tmp_path / "one.png", channel_names=["gas"])
    )
    with pytest.raises(ValueError, match="shape"):
        plot_transfer_and_correlation(k, transfer[:2], r, tmp_path / "bad.png", channel_names=NAMES)


def test_plot_pdfs(tmp_path, maps):
    _, true, pred, base = maps
    out = plot_pdfs(true, pred, tmp_path / "pdf.png", channel_names=NAMES, baseline=base)
    assert_png(out)
    assert_png(
        plot_pdfs(
            true[..., 1], pred[..., 1], tmp_path / "t.png", channel_names=["T"], transforms="linear"
        )
    )
    with pytest.raises(ValueError):
        plot_pdfs(true, pred[..., :2], tmp_path / "bad.png", channel_names=NAMES)
