"""On the CPU, the same input and model give bit-identical predictions, run after run."""

import numpy as np
from astropy.io import fits
from astropy.table import Table
from cli_runner import run
from paths import SAMPLE_DATA

SAMPLES = SAMPLE_DATA


def _same(a, b):
    a, b = Table.read(a), Table.read(b)
    assert a.colnames == b.colnames
    for name in a.colnames:
        x, y = np.asarray(a[name]), np.asarray(b[name])
        assert x.tobytes() == y.tobytes(), name


def test_catalogue_predictions_are_bit_identical(tmp_path):
    for task in ("lens", "photoz"):
        catalog = SAMPLES / task / "catalog.fits"
        for k in (1, 2):
            run("predict", task, "--catalog", catalog, "--out", tmp_path / f"{task}{k}.fits", "-q")
        _same(tmp_path / f"{task}1.fits", tmp_path / f"{task}2.fits")


def test_painted_maps_are_bit_identical(tmp_path):
    catalog = SAMPLES / "paint" / "catalog.fits"
    for k in (1, 2):
        run("predict", "paint", "--catalog", catalog, "--out", tmp_path / f"p{k}", "-q")
    for name in Table.read(tmp_path / "p1" / "catalog.fits")["file"]:
        with fits.open(tmp_path / "p1" / name) as a, fits.open(tmp_path / "p2" / name) as b:
            for ha, hb in zip(a, b):
                assert ha.data.tobytes() == hb.data.tobytes()
