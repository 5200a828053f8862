"""Band dropout: a band blanked at random in training, and the measured cost recorded."""

import numpy as np
import pytest
from helpers import config, toy_set

from astrocnn.data.augment import make_augmenter
from astrocnn.engine.inference import cutout_spec
from astrocnn.engine.train import train
from astrocnn.errors import CutoutError
from astrocnn.io.cutouts import CutoutSpec, read_cutout
from astrocnn.tasks.registry import get_task


def test_dropout_blanks_one_whole_band_of_about_the_given_fraction():
    augment = make_augmenter("none", seed=3, band_dropout=0.4)
    images = np.ones((2000, 4, 4, 3), np.float32)
    out, _ = augment(images, np.zeros(2000))
    out = np.asarray(out)
    blank = (out == 0).all(axis=(1, 2))  # (n, bands): a band fully zero
    assert set(np.unique(blank.sum(axis=1))) == {0, 1}  # never more than one band
    kept = ~np.broadcast_to(blank[:, None, None, :], out.shape)
    assert (out[kept] == 1).all()  # the other bands untouched
    assert 0.35 < blank.any(axis=1).mean() < 0.45
    assert np.all(np.abs(blank.mean(axis=0) - 0.4 / 3) < 0.04)  # every band as often


def test_dropout_refuses_a_fraction_outside_0_1():
    with pytest.raises(ValueError, match="band dropout"):
        make_augmenter("d4", band_dropout=1.0)


@pytest.mark.slow
def test_training_records_the_cost_of_each_missing_band(tmp_path):
    meta = train(
        get_task("lens"), toy_set(n=120), tmp_path / "m.keras", config(epochs=2, band_dropout=0.3)
    )
    cost = meta["missing_band_cost"]
    assert cost["metric"] == "auroc" and cost["all"] == meta["validation_metrics"]["auroc"]
    assert set(cost) == {"metric", "all", "g", "r"}
    assert meta["provenance"]["band_dropout"] == 0.3
    # the missing-band error states that cost instead of a blind suggestion
    from astropy.io import fits

    cube = np.ones((2, 16, 16), np.float32)
    cube[1] = 0
    fits.PrimaryHDU(cube).writeto(tmp_path / "c.fits")
    with pytest.raises(CutoutError, match=r"validation auroc .* one zero-filled: g .*, r "):
        read_cutout(str(tmp_path / "c.fits"), cutout_spec(meta))
    assert CutoutSpec(2, (16, 16)).missing_band_cost == ""
