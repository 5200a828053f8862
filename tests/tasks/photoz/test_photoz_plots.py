"""Tests for astrocnn.tasks.photoz.plots: every plot writes a PNG."""

from __future__ import annotations

import numpy as np
import pytest

from astrocnn.errors import OutputError
from astrocnn.tasks.photoz.metrics import dz, redshift_report
from astrocnn.tasks.photoz.mixture import pdf_z, pit
from astrocnn.tasks.photoz.plots import (
    plot_dz_vs_magnitude,
    plot_example_pdfs,
    plot_pit_histogram,
    plot_zphot_vs_ztrue,
)


@pytest.fixture(scope="module")
def sample():
    rng = np.random.default_rng(0)
    n = 400
    z_true = rng.uniform(0.05, 2.0, n)
    z_phot = z_true + 0.03 * (1 + z_true) * rng.standard_normal(n)
    z_phot[:8] = rng.uniform(0, 2, 8)  # a few outliers
    z_base = z_true + 0.06 * (1 + z_true) * rng.standard_normal(n)
    mag = rng.uniform(18, 25, n)
    return z_true, z_phot, z_base, mag


def assert_png(path):
    assert path.is_file() and path.stat().st_size > 1000
    with open(path, "rb") as fh:
        assert fh.read(8) == b"\x89PNG\r\n\x1a\n"


def test_zphot_vs_ztrue(tmp_path, sample):
    z_true, z_phot, z_base, _ = sample
    out = plot_zphot_vs_ztrue(z_true, z_phot, tmp_path / "zz.png", title="test")
    assert out == tmp_path / "zz.png"
    assert_png(out)
    stats = redshift_report(z_true, z_phot, crps=np.full(z_true.size, 0.05))
    out2 = plot_zphot_vs_ztrue(
        z_true,
        z_phot,
        tmp_path / "zz_base.png",
        stats=stats,
        baseline=(z_base, "kNN", None),
    )
    assert_png(out2)


def test_zphot_vs_ztrue_missing_folder(tmp_path, sample):
    z_true, z_phot, _, _ = sample
    with pytest.raises(OutputError):
        plot_zphot_vs_ztrue(z_true, z_phot, tmp_path / "missing" / "zz.png")


def test_dz_vs_magnitude(tmp_path, sample):
    z_true, z_phot, _, mag = sample
    d = dz(z_phot, z_true)
    d[0] = 0.9  # beyond the y range: drawn at the edge
    mag = mag.copy()
    mag[1] = np.nan
    assert_png(plot_dz_vs_magnitude(d, mag, tmp_path / "dz.png", title="residuals"))
    with pytest.raises(ValueError, match="magnitude"):
        plot_dz_vs_magnitude(d, mag[:-1], tmp_path / "bad.png")


def test_pit_histogram(tmp_path):
    rng = np.random.default_rng(1)
    p = rng.uniform(0, 1, 300)
    assert_png(plot_pit_histogram(p, tmp_path / "pit.png"))
    base = np.clip(rng.normal(0.5, 0.4, 300), 0, 1)
    assert_png(plot_pit_histogram(p, tmp_path / "pit2.png", title="PIT", baseline_pit=base))


def test_example_pdfs(tmp_path):
    rng = np.random.default_rng(2)
    n = 14
    w = rng.dirichlet(np.ones(2), n)
    mu = rng.normal(0.5, 0.2, (n, 2))
    sigma = rng.uniform(0.03, 0.1, (n, 2))
    z_true = np.expm1(mu[:, 0])
    grid = np.linspace(0, 3, 300)
    pdfs = pdf_z(w, mu, sigma, grid)
    labels = [f"id {i}" for i in range(n)]
    assert_png(plot_example_pdfs(grid, pdfs, z_true, labels, tmp_path / "pdfs.png"))
    assert_png(
        plot_example_pdfs(
            grid, pdfs[:3], z_true[:3], None, tmp_path / "pdfs3.png", z_point=z_true[:3] + 0.1
        )
    )
    assert pit(w, mu, sigma, z_true).shape == (n,)
    with pytest.raises(ValueError, match="labels"):
        plot_example_pdfs(grid, pdfs, z_true, labels[:2], tmp_path / "bad.png")
