"""Photo-z end to end: simulate, train with an extra input, predict p(z), bad input, evaluate."""

import json

import numpy as np
import pytest
from astropy.io import fits
from astropy.table import Table
from cli_runner import run
from paths import SAMPLE_DATA

pytest.importorskip("galsim")

TINY = ["--batch-size", "32", "--widths", "8,16,16", "--quiet", "--seed", "2"]
POINT = ["z_mean", "z_median", "z_mode", "z_lo68", "z_hi68", "z_lo95", "z_hi95"]


@pytest.fixture(scope="module")
def sim(tmp_path_factory):
    base = tmp_path_factory.mktemp("photoz")
    run("simulate", "photoz", "--n", 160, "--seed", 5, "--out", base / "train", "--quiet")
    run("simulate", "photoz", "--n", 60, "--seed", 6, "--out", base / "test", "--quiet")
    return base


@pytest.fixture(scope="module")
def model(sim):
    path = sim / "pz.keras"
    run(
        "train", "photoz", "--catalog", sim / "train" / "catalog.fits", "--out", path,
        "--epochs", 3, "--extra-inputs", "ebv", "--mdn-components", 3, *TINY,
    )  # fmt: skip
    return path


def test_simulate_contract(sim):
    table = Table.read(sim / "train" / "catalog.fits")
    assert {"id", "file", "z", "ebv", "sed_type", "obs_mag_i"} <= set(table.colnames)
    assert len(table) == 160 and np.all((table["z"] > 0) & (table["z"] < 3))
    with fits.open(sim / "train" / table["file"][0]) as hdul:
        assert hdul[0].data.shape == (6, 32, 32)
        assert hdul[0].header["BANDS"] == "u,g,r,i,z,y"


def test_bundle_records_the_extra_input_and_the_mixture(model):
    from astrocnn.io.bundle import read_meta

    meta = read_meta(model)
    assert meta["extra_inputs"]["columns"] == ["ebv"]
    assert meta["n_components"] == 3 and meta["target_space"] == "ln(1+z)"
    assert meta["bands"] == ["u", "g", "r", "i", "z", "y"]


def test_predict_writes_every_column_and_a_normalised_pdf(sim, model, tmp_path):
    out = tmp_path / "pz.fits"
    run(
        "predict", "photoz", "--model", model, "--catalog", sim / "test" / "catalog.fits",
        "--out", out, "--pdf-grid", "0,6,1201", "--quiet",
    )  # fmt: skip
    table = Table.read(out)
    assert set(POINT + ["mdn_weight", "mdn_mu", "mdn_sigma", "pdf", "status"]) <= set(
        table.colnames
    )
    assert set(table["status"]) == {"ok"}
    assert table["mdn_weight"].shape == (60, 3) and table["pdf"].shape == (60, 1201)
    np.testing.assert_allclose(table["mdn_weight"].sum(axis=1), 1, atol=1e-5)
    assert np.all(table["z_lo95"] <= table["z_lo68"])
    assert np.all(table["z_lo68"] <= table["z_median"])
    assert np.all(table["z_median"] <= table["z_hi68"])
    assert np.all(table["z_hi68"] <= table["z_hi95"])
    header = fits.getheader(out, 1)
    assert header["MDNSPACE"] == "ln(1+z)"
    assert (header["PDFZMIN"], header["PDFZMAX"], header["PDFNZ"]) == (0, 6, 1201)
    grid = np.linspace(0, 6, 1201)
    mass = np.trapezoid(table["pdf"], grid, axis=1)
    # all the mass between z = 0 and 6 unless a wide component reaches below z = 0
    assert np.all(mass < 1.001) and np.median(mass) > 0.95
    # the PDF column is the mixture of the mdn_* columns, transformed to z
    from astrocnn.tasks.photoz.mixture import pdf_z

    expected = pdf_z(table["mdn_weight"], table["mdn_mu"], table["mdn_sigma"], grid)
    np.testing.assert_allclose(table["pdf"], expected, rtol=1e-4, atol=1e-4)


def test_bad_rows_are_recorded_and_good_rows_predicted(sim, model, tmp_path):
    table = Table.read(sim / "test" / "catalog.fits")[:6]
    files = [str(sim / "test" / f) for f in table["file"]]
    table["ebv"][1] = np.nan
    files[2] = str(tmp_path / "missing.fits")
    # a cube whose u band is blank: an error by default, zero-filled on request
    with fits.open(files[3]) as hdul:
        data = hdul[0].data.copy()
        data[0] = np.nan
        fits.PrimaryHDU(data, hdul[0].header).writeto(tmp_path / "blank_u.fits")
    files[3] = str(tmp_path / "blank_u.fits")
    table["file"] = files
    cat = tmp_path / "cat.fits"
    table.write(cat)
    out = tmp_path / "out.fits"
    result = run("predict", "photoz", "--model", model, "--catalog", cat, "--out", out, "--quiet")
    pred = Table.read(out)
    assert list(pred["status"]) == ["ok", "error", "error", "error", "ok", "ok"]
    assert "'ebv'" in pred["reason"][1] and "row 1" in pred["reason"][1]
    assert "missing.fits" in pred["reason"][2]
    assert "band(s) 1 of 6" in pred["reason"][3]
    z_median = np.ma.filled(np.ma.asarray(pred["z_median"], float), np.nan)
    assert np.isnan(z_median[1]) and np.isfinite(z_median[0])
    assert "3 row(s) failed" in result.output
    out2 = tmp_path / "zero.fits"
    run(
        "predict", "photoz", "--model", model, "--catalog", cat, "--out", out2,
        "--missing-band", "zero", "--quiet",
    )  # fmt: skip
    pred = Table.read(out2)
    assert pred["status"][3] == "ok" and pred["n_missing_bands"][3] == 1
    assert pred["n_missing_bands"][0] == 0


def test_missing_extra_input_column_is_one_line_error(sim, model, tmp_path):
    table = Table.read(sim / "test" / "catalog.fits")[:4]
    table["file"] = [str(sim / "test" / f) for f in table["file"]]
    del table["ebv"]
    table.write(tmp_path / "noebv.fits")
    result = run(
        "predict", "photoz", "--model", model, "--catalog", tmp_path / "noebv.fits",
        "--out", tmp_path / "o.fits", ok=False,
    )  # fmt: skip
    assert result.exit_code == 1
    assert "noebv.fits" in result.output and "'ebv'" in result.output
    assert not (tmp_path / "o.fits").exists()


@pytest.mark.parametrize("bad", [np.nan, -1.0, -3.0])
def test_training_refuses_bad_redshift_truth(sim, tmp_path, bad):
    table = Table.read(sim / "train" / "catalog.fits")[:20]
    table["file"] = [str(sim / "train" / f) for f in table["file"]]
    table["z"][7] = bad
    table.write(tmp_path / "bad.fits")
    result = run(
        "train", "photoz", "--catalog", tmp_path / "bad.fits", "--out", tmp_path / "m.keras",
        "--epochs", 1, *TINY, ok=False,
    )  # fmt: skip
    assert result.exit_code == 1
    assert "row 7" in result.output and "> -1" in result.output


def test_option_errors(sim, model, tmp_path):
    cat = sim / "test" / "catalog.fits"
    out = ["--out", tmp_path / "o.fits"]
    new = ["--out", tmp_path / "x.keras", "--epochs", 1, *TINY]
    for args, message in [
        (["predict", "photoz", "--model", model, "--catalog", cat, "--pdf-grid", "3,0,10"],
         "--pdf-grid"),
        (["predict", "photoz", "--model", model, "--catalog", cat, "--pdf-grid", "a,b"],
         "--pdf-grid"),
        (["predict", "lens", "--catalog", cat, "--pdf-grid", "0,3,10"], "does not apply"),
    ]:  # fmt: skip
        result = run(*args, *out, ok=False)
        assert result.exit_code != 0 and message in result.output, result.output
    for args, message in [
        (["train", "lens", "--catalog", cat, "--extra-inputs", "ebv"], "does not apply"),
        (["train", "photoz", "--catalog", cat, "--extra-inputs", "nope"], "nope"),
    ]:
        result = run(*args, *new, ok=False)
        assert result.exit_code != 0 and message in result.output, result.output
    assert not (tmp_path / "o.fits").exists() and not (tmp_path / "x.keras").exists()


def test_evaluate_reports_photoz_metrics_next_to_the_baseline(sim, model, tmp_path):
    report = tmp_path / "report"
    result = run(
        "evaluate", "photoz", "--model", model, "--catalog", sim / "test" / "catalog.fits",
        "--baseline-train", sim / "train" / "catalog.fits", "--report", report, "--quiet",
    )  # fmt: skip
    metrics = json.loads((report / "metrics.json").read_text())
    for key in ["sigma_mad", "outlier_frac_015", "outlier_frac_005", "bias", "crps_mean",
                "pit_ks", "coverage_68", "coverage_95"]:  # fmt: skip
        assert np.isfinite(metrics[key]) and np.isfinite(metrics["baseline"][key]), key
    assert metrics["n"] == 60 and len(metrics["pit_histogram"]) == 20
    assert "kNN" in metrics["baseline"]["method"]
    assert "160 objects" in metrics["baseline"]["method"]
    assert "sigma_mad" in result.output and "baseline" in result.output
    for name in ["zphot_vs_z", "dz_vs_magnitude", "pit_histogram", "example_pdfs"]:
        assert (report / f"{name}.png").stat().st_size > 1000
    pred = Table.read(report / "predictions.fits")
    assert "z" in pred.colnames and "z_median" in pred.colnames


def test_default_model_on_sample_data(tmp_path):
    """The shipped model predicts the bundled sample galaxies to a few per cent."""
    out = tmp_path / "sample.fits"
    catalog = SAMPLE_DATA / "photoz" / "catalog.fits"
    run("predict", "photoz", "--catalog", catalog, "--out", out, "-q")
    pred = Table.read(out)
    truth = Table.read(catalog)
    assert set(pred["status"]) == {"ok"}
    dz = (pred["z_median"] - truth["z"]) / (1 + truth["z"])
    assert np.median(np.abs(dz)) < 0.05
    inside = (truth["z"] >= pred["z_lo95"]) & (truth["z"] <= pred["z_hi95"])
    assert inside.mean() > 0.8


def test_tta_merges_the_views_mixtures(sim, model, tmp_path):
    """--tta: one mixture per object, the 8 views' components merged by moments."""
    plain, tta = tmp_path / "plain.fits", tmp_path / "tta.fits"
    catalog = sim / "test" / "catalog.fits"
    run("predict", "photoz", "--model", model, "--catalog", catalog, "--out", plain, "-q")
    run("predict", "photoz", "--model", model, "--catalog", catalog, "--out", tta, "--tta", "-q")
    a, b = Table.read(plain), Table.read(tta)
    assert not a["tta"].any() and b["tta"].all() and set(b["status"]) == {"ok"}
    assert b["mdn_weight"].shape == a["mdn_weight"].shape
    np.testing.assert_allclose(b["mdn_weight"].sum(axis=1), 1, atol=1e-5)
    assert np.all(b["mdn_sigma"] > 0)
    assert np.all((b["z_lo68"] <= b["z_median"]) & (b["z_median"] <= b["z_hi68"]))
    # the views differ, so the merged mixture is not the single view's
    assert not np.allclose(a["mdn_mu"], b["mdn_mu"])


def test_combine_views_matches_the_moments_of_each_components_views():
    from astrocnn._tf import import_tensorflow
    from astrocnn.tasks.registry import get_task

    tf = import_tensorflow()
    task, k = get_task("photoz"), 3
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(8, 5, k))
    mu, sigma = rng.uniform(0, 1, (8, 5, k)), rng.uniform(0.01, 0.2, (8, 5, k))
    views = np.concatenate([logits, mu, sigma], axis=-1).astype(np.float32)
    merged = task.combine_views(tf.constant(views), {"n_components": k}).numpy()
    w = np.exp(logits) / np.exp(logits).sum(-1, keepdims=True)
    weight = w.mean(0)
    mean = (w * mu).sum(0) / w.sum(0)
    var = (w * (sigma**2 + mu**2)).sum(0) / w.sum(0) - mean**2
    decoded = task.decode(merged, {"n_components": k})
    np.testing.assert_allclose(decoded["mdn_weight"], weight, rtol=1e-5)
    np.testing.assert_allclose(decoded["mdn_mu"], mean, rtol=1e-5)
    np.testing.assert_allclose(decoded["mdn_sigma"], np.sqrt(var), rtol=1e-4)
    # eight identical views give the view back
    same = np.repeat(views[:1], 8, axis=0)
    back = task.decode(task.combine_views(tf.constant(same), {"n_components": k}).numpy(),
                       {"n_components": k})  # fmt: skip
    np.testing.assert_allclose(back["mdn_mu"], mu[0], rtol=1e-5)
    np.testing.assert_allclose(back["mdn_sigma"], sigma[0], rtol=1e-4)
