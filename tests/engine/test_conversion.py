"""Fluxes at another zero point, converted to the model's units at no cost per pixel."""

import numpy as np
import pytest
from astropy.io import fits
from astropy.table import Table
from cli_runner import run
from paths import SAMPLE_DATA

from astrocnn.engine.conversion import flux_factors, requested_zero_point
from astrocnn.errors import AstrocnnError


@pytest.fixture(scope="module")
def rescaled(tmp_path_factory):
    """The sample lens cutouts (AB zero point 30) rewritten at zero point 27."""
    base = tmp_path_factory.mktemp("zp27")
    table = Table.read(SAMPLE_DATA / "lens" / "catalog.fits")
    (base / "cutouts").mkdir()
    for name in table["file"]:
        with fits.open(SAMPLE_DATA / "lens" / name) as hdus:
            data = hdus[0].data * np.float32(10 ** (0.4 * (27 - 30)))
            header = hdus[0].header.copy()
            header["MAGZP"] = 27.0
            fits.PrimaryHDU(data.astype(np.float32), header).writeto(base / name)
    table.write(base / "catalog.fits")
    return base


def test_zero_point_conversion_restores_the_predictions(rescaled, tmp_path):
    reference, converted, unconverted = (tmp_path / n for n in ("a.fits", "b.fits", "c.fits"))
    run("predict", "lens", "--catalog", SAMPLE_DATA / "lens" / "catalog.fits", "--out", reference)
    result = run("predict", "lens", "--catalog", rescaled / "catalog.fits", "--out", converted,
                 "--zero-point", 27)  # fmt: skip
    assert "converting fluxes from AB zero point 27 to the model's: x15.8489 in every band" in (
        result.output
    )
    run("predict", "lens", "--catalog", rescaled / "catalog.fits", "--out", unconverted)
    want = Table.read(reference)["p_lens"]
    np.testing.assert_allclose(Table.read(converted)["p_lens"], want, atol=2e-5)
    assert np.abs(Table.read(unconverted)["p_lens"] - want).max() > 0.05  # units matter


def test_flux_unit_and_refusals():
    assert requested_zero_point(None, "nanomaggy") == 22.5
    assert requested_zero_point(None, "nJy") == 31.4
    with pytest.raises(AstrocnnError, match="not both"):
        requested_zero_point(27.0, "nJy")
    with pytest.raises(AstrocnnError, match="without a fixed AB zero point"):
        requested_zero_point(None, "ADU")
    meta = {"bands": ["g", "r"], "data_contract": {"bands": [{"zero_point": 30.0}] * 2}}
    assert flux_factors(meta, 27.5) == pytest.approx([10.0] * 2)
    with pytest.raises(AstrocnnError, match="does not record the zero point"):
        flux_factors({"bands": ["g"]}, 27.0)
