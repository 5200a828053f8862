"""The shipped JPEG/PNG default: chosen by the inputs' image kind, FITS keeps its own."""

from astropy.table import Table
from cli_runner import run
from paths import SAMPLE_DATA

from astrocnn.io.bundle import read_meta
from astrocnn.tasks.registry import get_task, model_path


def test_the_default_follows_the_image_kind():
    task = get_task("morphology")
    assert task.default_model().name == "morphology.keras"
    assert task.default_model("raster").name == "morphology_jpeg.keras"
    assert model_path("morphology", "raster").endswith("morphology_jpeg.keras")
    meta = read_meta(task.default_model("raster"), verify=False)
    assert meta["image_kind"] == "raster" and meta["bands"] == ["i", "r", "g"]
    assert get_task("lens").default_model("raster").name == "lens.keras"  # none shipped


def test_predict_on_jpegs_uses_the_jpeg_default(tmp_path):
    out = tmp_path / "o.fits"
    run("predict", "morphology", "--catalog", SAMPLE_DATA / "morphology" / "jpeg" / "catalog.fits",
        "--out", out, "--quiet")  # fmt: skip
    table = Table.read(out)
    assert table.meta["MODEL"] == "morphology_jpeg.keras"
    assert (table["status"] == "ok").all() and len(table) == 12
