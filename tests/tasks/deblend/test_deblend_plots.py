"""Tests for astrocnn.tasks.deblend.plots: every plot writes a PNG."""

from __future__ import annotations

import numpy as np
import pytest

from astrocnn.errors import OutputError
from astrocnn.tasks.deblend.plots import plot_deblend_gallery, plot_flux_error_vs_separation


def assert_png(path):
    assert path.is_file() and path.stat().st_size > 1000
    with open(path, "rb") as fh:
        assert fh.read(8) == b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def errors():
    rng = np.random.default_rng(0)
    n = 300
    separation = rng.uniform(0.0, 4.0, n)
    delta_mag = rng.uniform(-3.0, 3.0, n)
    net = rng.normal(0.0, 0.05, (n, 3))
    base = rng.normal(0.0, 0.05 + 0.3 * np.exp(-separation), (3, n)).T
    base[:7, 0] = np.nan  # failures
    return separation, delta_mag, net, base


def test_flux_error_vs_separation(tmp_path, errors):
    separation, delta_mag, net, base = errors
    out = plot_flux_error_vs_separation(separation, net, base, tmp_path / "sep.png")
    assert out == tmp_path / "sep.png"
    assert_png(out)
    out2 = plot_flux_error_vs_separation(
        separation,
        net[:, 0],
        base[:, 0],
        tmp_path / "both.png",
        delta_mag=delta_mag,
        separation_bins=[0.0, 0.5, 1.0, 2.0, np.inf],
        title="test",
    )
    assert_png(out2)
    assert_png(plot_flux_error_vs_separation(separation, net, None, tmp_path / "net.png"))
    with pytest.raises(ValueError, match="rel_err_baseline"):
        plot_flux_error_vs_separation(separation, net, base[:10], tmp_path / "x.png")
    with pytest.raises(OutputError):
        plot_flux_error_vs_separation(separation, net, base, tmp_path / "missing" / "x.png")


def _gallery_inputs(n, nband=4, size=32):
    rng = np.random.default_rng(1)
    y, x = np.mgrid[:size, :size]
    central = np.exp(-((x - size / 2) ** 2 + (y - size / 2) ** 2) / 8.0)
    other = np.exp(-((x - size / 2 - 6) ** 2 + (y - size / 2) ** 2) / 6.0)
    sed = np.linspace(0.5, 1.5, nband)
    true = np.repeat((central[..., None] * sed)[None], n, axis=0)
    blend = true + (other[..., None] * sed[::-1])[None] + rng.normal(0, 0.02, true.shape)
    pred = true * 1.05
    seg_true = np.where(central > 0.1, 1, np.where(other > 0.1, 2, 0))
    seg_true = np.repeat(seg_true[None], n, axis=0)
    return blend, true, pred, seg_true


def test_deblend_gallery(tmp_path):
    blend, true, pred, seg = _gallery_inputs(3)
    out = plot_deblend_gallery(
        blend,
        true,
        pred,
        None,
        tmp_path / "gallery.png",
        titles=["a", "b", "c"],
        bands=("g", "r", "i", "z"),
        true_segmentation=seg,
        pred_segmentation=seg,
    )
    assert out == tmp_path / "gallery.png"
    assert_png(out)
    # one band, more than 8 objects, explicit residual
    blend, true, pred, _ = _gallery_inputs(10, nband=1)
    out = plot_deblend_gallery(
        blend[..., 0], true[..., 0], pred[..., 0], (pred - true)[..., 0], tmp_path / "g1.png"
    )
    assert_png(out)
    with pytest.raises(ValueError, match="titles"):
        plot_deblend_gallery(blend, true, pred, None, tmp_path / "x.png", titles=["a"])
    with pytest.raises(ValueError, match="segmentation"):
        plot_deblend_gallery(
            blend, true, pred, None, tmp_path / "x.png", true_segmentation=np.zeros((2, 3, 3))
        )
