"""Simulate blobs: one band of a circular Gaussian with a random width, plus noise."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from astropy.io import fits
from astropy.table import Table

SIZE = 16


def simulate_blobs(n: int, seed: int, outdir: Path, *, noise: float = 0.05) -> Table:
    """Write ``n`` blob cutouts under ``outdir/cutouts`` and their catalogue.

    The truth column ``sigma`` is the blob's Gaussian width in pixels (1-3).
    """
    rng = np.random.default_rng(seed)
    (outdir / "cutouts").mkdir(parents=True, exist_ok=True)
    yy, xx = np.mgrid[:SIZE, :SIZE] - (SIZE - 1) / 2
    sigmas = rng.uniform(1.0, 3.0, n)
    files = []
    for i, sigma in enumerate(sigmas):
        blob = np.exp(-(xx**2 + yy**2) / (2 * sigma**2)) + rng.normal(0, noise, (SIZE, SIZE))
        name = f"cutouts/{i:05d}.fits"
        fits.PrimaryHDU(blob.astype(np.float32)[None]).writeto(outdir / name)
        files.append(name)
    table = Table({"id": np.arange(n), "file": files, "sigma": sigmas})
    table.meta["BANDS"] = "x"
    table.write(outdir / "catalog.fits")
    return table
