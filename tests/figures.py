"""Helpers for the figure tests (not tests themselves; no TensorFlow)."""

from pathlib import Path

import numpy as np


def no_temp_files_left(folder):
    # astrocnn.io.atomic.atomic_path writes to hidden ".<stem>.<random>.tmp.png" files.
    return not [p for p in Path(folder).iterdir() if ".tmp" in p.name]


def blob_images(n, h, w, c, seed=0):
    """``n`` noisy (h, w, c) cutouts of a centred Gaussian blob, brighter in redder bands."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:h, :w]
    blob = np.exp(-((yy - h / 2) ** 2 + (xx - w / 2) ** 2) / (2 * 3.0**2))
    flux = np.linspace(1.0, 3.0, c)
    return 0.1 * rng.normal(size=(n, h, w, c)) + 5 * blob[None, :, :, None] * flux
