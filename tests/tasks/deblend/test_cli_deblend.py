"""Deblending end to end: stamps and whole fields, image products with WCS, evaluation."""

import json

import numpy as np
import pytest
from astropy.io import fits
from astropy.table import Table
from astropy.wcs import WCS
from cli_runner import run

pytest.importorskip("galsim")
pytest.importorskip("sep")

TINY = ["--batch-size", "16", "--widths", "8,16,32", "--quiet", "--seed", "4"]


@pytest.fixture(scope="module")
def sim(tmp_path_factory):
    base = tmp_path_factory.mktemp("deblend")
    run("simulate", "deblend", "--n", 96, "--seed", 8, "--out", base / "train", "--quiet")
    run("simulate", "deblend", "--n", 24, "--seed", 9, "--out", base / "test", "--quiet")
    return base


@pytest.fixture(scope="module")
def model(sim):
    path = sim / "db.keras"
    run("train", "deblend", "--catalog", sim / "train" / "catalog.fits", "--out", path,
        "--epochs", 2, *TINY)  # fmt: skip
    return path


@pytest.fixture(scope="module")
def field(tmp_path_factory):
    from astrocnn.tasks.deblend.simulate import simulate_field

    path = tmp_path_factory.mktemp("field") / "field.fits"
    truth = simulate_field(3, path, shape=(128, 160), n_galaxies=10)
    return path, truth


def test_simulate_contract(sim):
    table = Table.read(sim / "train" / "catalog.fits")
    assert {"id", "file", "truth_file", "flux_true_g", "flux_true_r", "flux_true_i"} <= set(
        table.colnames
    )
    with fits.open(sim / "train" / table["truth_file"][0]) as hdul:
        assert hdul["CENTRAL"].data.shape == (3, 64, 64)
        assert hdul["SEGMENTATION"].data[32, 32] == 1


def test_predict_stamps_writes_fluxes_and_image_products(sim, model, tmp_path):
    cat = sim / "test" / "catalog.fits"
    out = tmp_path / "pred.fits"
    run("predict", "deblend", "--model", model, "--catalog", cat, "--out", out, "--quiet")
    pred = Table.read(out)
    assert {"id", "flux_g", "flux_r", "flux_i", "status", "image_file"} <= set(pred.colnames)
    assert set(pred["status"]) == {"ok"} and len(pred) == 24
    truth = Table.read(cat)
    product = tmp_path / pred["image_file"][3]
    with fits.open(product) as hdul:
        deblended, segmentation = hdul[0].data, hdul["SEGMENTATION"].data
        header = hdul[0].header
    assert deblended.shape == (3, 64, 64) and set(np.unique(segmentation)) <= {0, 1, 2}
    # the flux column is the sum of the deblended image, and the WCS is the stamp's
    np.testing.assert_allclose(deblended.sum(axis=(1, 2)), [pred[f"flux_{b}"][3] for b in "gri"],
                               rtol=1e-4)  # fmt: skip
    stamp_header = fits.getheader(sim / "test" / truth["file"][3])
    sky = WCS(stamp_header).celestial.pixel_to_world_values(10, 20)
    np.testing.assert_allclose(WCS(header).celestial.pixel_to_world_values(10, 20), sky, atol=1e-9)
    # a second run refuses to overwrite the products folder
    result = run("predict", "deblend", "--model", model, "--catalog", cat, "--out",
                 tmp_path / "pred.csv", ok=False)  # fmt: skip
    assert result.exit_code == 1 and "pred_images" in result.output


def test_field_prediction_segmentation_map_and_catalogue(field, model, tmp_path):
    path, truth = field
    out = tmp_path / "out"
    run("predict", "deblend", path, "--model", model, "--out", out, "--quiet")
    catalog = Table.read(out / "field_catalog.fits")
    with fits.open(out / "field_segmentation.fits") as hdul:
        segmap, header = hdul[0].data, hdul[0].header
    with fits.open(path) as hdul:
        field_header = hdul[0].header
        shape = hdul[0].data.shape[1:]
    assert segmap.shape == shape
    field_wcs, map_wcs = WCS(field_header).celestial, WCS(header)
    np.testing.assert_allclose(map_wcs.pixel_to_world_values(17, 40),
                               field_wcs.pixel_to_world_values(17, 40), atol=1e-10)  # fmt: skip
    # every detected source has a row; the map only holds catalogue ids
    assert len(catalog) >= 5
    assert set(np.unique(segmap)) - {0} <= set(catalog["id"])
    ra, dec = field_wcs.pixel_to_world_values(catalog["x"], catalog["y"])
    np.testing.assert_allclose(catalog["ra"], ra)
    np.testing.assert_allclose(catalog["dec"], dec)
    assert {"flux_g", "edge", "status", "stamp_x0", "stamp_y0"} <= set(catalog.colnames)
    near_edge = (catalog["x"] < 31) | (catalog["y"] < 31)
    near_edge |= (catalog["x"] > shape[1] - 33) | (catalog["y"] > shape[0] - 33)
    assert np.all(catalog["edge"][near_edge])
    # one products file for the field: plane k is source id k + 1
    assert catalog.meta["STAMPS"] == "field_stamps.fits"
    with fits.open(out / "field_stamps.fits") as hdul:
        hdul.verify("exception")
        deblended, stamp_seg = hdul["DEBLENDED"].data, hdul["SEGMENTATION"].data
    assert deblended.shape == (len(catalog), 3, 64, 64)
    assert stamp_seg.shape == (len(catalog), 64, 64)
    # a source's deblended flux is the sum of its plane, and its central pixels
    # in the stamp are the pixels the field map gives it (where no nearer source claims them)
    for k, row in enumerate(catalog):
        np.testing.assert_allclose(deblended[k, 0].sum(), row["flux_g"], rtol=1e-4, atol=1e-3)
        x0, y0 = row["stamp_x0"], row["stamp_y0"]
        assert (x0, y0) == (round(row["x"]) - 32, round(row["y"]) - 32)
        ys, xs = np.nonzero(segmap == row["id"])
        if len(ys):
            assert np.all(stamp_seg[k, ys - y0, xs - x0] == 1)
    # the stamp's WCS is the field's shifted by its origin
    k = int(np.argmax(~catalog["edge"]))
    stamp_wcs = field_wcs.deepcopy()
    stamp_wcs.wcs.crpix -= [catalog["stamp_x0"][k], catalog["stamp_y0"][k]]
    np.testing.assert_allclose(
        stamp_wcs.pixel_to_world_values(32, 32),
        field_wcs.pixel_to_world_values(catalog["stamp_x0"][k] + 32, catalog["stamp_y0"][k] + 32),
    )


def test_empty_field_gives_an_empty_valid_catalogue(field, model, tmp_path):
    path, _ = field
    with fits.open(path) as hdul:
        noise = np.random.default_rng(0).normal(0, 1, hdul[0].data.shape).astype(np.float32)
        fits.PrimaryHDU(noise, hdul[0].header).writeto(tmp_path / "empty.fits")
    run("predict", "deblend", tmp_path / "empty.fits", "--model", model,
        "--out", tmp_path / "o", "--quiet")  # fmt: skip
    catalog = Table.read(tmp_path / "o" / "empty_catalog.fits")
    assert len(catalog) == 0 and "flux_g" in catalog.colnames
    assert not fits.getdata(tmp_path / "o" / "empty_segmentation.fits").any()
    with fits.open(tmp_path / "o" / "empty_stamps.fits") as hdul:
        assert hdul["DEBLENDED"].data is None and hdul["SEGMENTATION"].data is None


def test_bad_fields_are_one_line_errors(field, model, tmp_path):
    path, _ = field
    two_bands = tmp_path / "two.fits"
    fits.PrimaryHDU(fits.getdata(path)[:2]).writeto(two_bands)
    missing = tmp_path / "missing.fits"
    result = run("predict", "deblend", two_bands, missing, path, "--model", model,
                 "--out", tmp_path / "o", "--quiet", ok=False)  # fmt: skip
    assert result.exit_code == 1
    assert "two.fits" in result.output and "3 band" in result.output
    assert "missing.fits" in result.output and "not found" in result.output
    assert (tmp_path / "o" / "field_catalog.fits").exists()  # the good field is still done


def test_several_fields_written_while_the_next_is_predicted(field, model, tmp_path):
    """Fields after the first are predicted while the previous one is written: the
    products are those of one-field runs, a bad field in between changes nothing, and
    no temporary file is left behind."""
    import shutil

    path, _ = field
    for name in ("a", "c"):
        shutil.copy(path, tmp_path / f"{name}.fits")
    (tmp_path / "b.fits").write_bytes(b"not a FITS file")
    fields = [tmp_path / f"{name}.fits" for name in "abc"]
    result = run("predict", "deblend", *fields, "--model", model, "--out", tmp_path / "all",
                 "--quiet", ok=False)  # fmt: skip
    assert result.exit_code == 1 and result.output.count("astrocnn: error:") == 1
    assert "b.fits" in result.output
    run("predict", "deblend", fields[0], "--model", model, "--out", tmp_path / "one", "--quiet")
    reference = Table.read(tmp_path / "one" / "a_catalog.fits")
    with fits.open(tmp_path / "one" / "a_stamps.fits") as hdul:
        cube = hdul["DEBLENDED"].data.copy()
    for name in "ac":
        catalog = Table.read(tmp_path / "all" / f"{name}_catalog.fits")
        assert len(catalog) == len(reference) > 0
        for column in ("x", "y", "flux_g", "stamp_x0"):
            np.testing.assert_array_equal(catalog[column], reference[column])
        with fits.open(tmp_path / "all" / f"{name}_stamps.fits") as hdul:
            np.testing.assert_array_equal(hdul["DEBLENDED"].data, cube)
        assert (tmp_path / "all" / f"{name}_segmentation.fits").exists()
    written = sorted(p.name for p in (tmp_path / "all").iterdir())
    assert written == sorted(
        f"{n}_{kind}.fits" for n in "ac" for kind in ("catalog", "stamps", "segmentation")
    )
    # a second field of the same name (another folder) would overwrite the first's
    # products while they are written: refused, the first's products kept
    (tmp_path / "again").mkdir()
    shutil.copy(path, tmp_path / "again" / "a.fits")
    twice = run("predict", "deblend", fields[0], tmp_path / "again" / "a.fits", "--model", model,
                "--out", tmp_path / "twice", "--quiet", ok=False)  # fmt: skip
    assert twice.exit_code == 1 and "rename one of the two fields" in twice.output
    np.testing.assert_array_equal(
        Table.read(tmp_path / "twice" / "a_catalog.fits")["flux_g"], reference["flux_g"]
    )


def test_evaluate_reports_network_and_sep_baseline(sim, model, tmp_path):
    report = tmp_path / "report"
    result = run("evaluate", "deblend", "--model", model, "--catalog",
                 sim / "test" / "catalog.fits", "--report", report, "--quiet")  # fmt: skip
    metrics = json.loads((report / "metrics.json").read_text())
    for key in ["median_abs_flux_error", "mean_abs_flux_error", "iou_mean"]:
        assert metrics[key] is not None and metrics["baseline"][key] is not None
    assert "sep" in metrics["baseline"]["method"]
    assert metrics["by_separation"] and metrics["flux_g"]["n"] == 24
    assert 0 <= metrics["iou_mean"] <= 1
    assert "median_abs_flux_error" in result.output
    for name in ["flux_error_vs_separation", "gallery"]:
        assert (report / f"{name}.png").stat().st_size > 1000


def test_tta_on_stamps_and_fields(sim, model, field, tmp_path):
    """--tta: the 8 views' segmentations and fractions are turned back and averaged."""
    catalog = sim / "test" / "catalog.fits"
    plain, tta = tmp_path / "plain.fits", tmp_path / "tta.fits"
    run("predict", "deblend", "--model", model, "--catalog", catalog, "--out", plain, "-q")
    run("predict", "deblend", "--model", model, "--catalog", catalog, "--out", tta, "--tta", "-q")
    a, b = Table.read(plain), Table.read(tta)
    assert not a["tta"].any() and b["tta"].all() and set(b["status"]) == {"ok"}
    # a model of two epochs is far from symmetric, yet the combined answer stays a
    # deblending of the same stamps: fluxes of the same order, no negative flux
    ratio = np.asarray(b["flux_r"]) / np.asarray(a["flux_r"])
    assert np.all(np.asarray(b["flux_r"]) >= 0) and 0.2 < np.median(ratio) < 5
    path, _ = field
    run("predict", "deblend", path, "--model", model, "--out", tmp_path / "f", "--tta", "-q")
    assert Table.read(tmp_path / "f" / "field_catalog.fits").meta["TTA"] is True
