"""End to end through the real CLI: simulate, pack, train, predict, evaluate, info.

Tiny data (a few dozen cutouts) and tiny networks keep this to about a minute.
"""

import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest
from astropy.io import fits
from astropy.table import Table
from cli_runner import run
from paths import SAMPLE_DATA

TINY = ["--epochs", "1", "--batch-size", "16", "--widths", "4,8", "--quiet"]


@pytest.fixture(scope="module")
def sim(tmp_path_factory):
    out = tmp_path_factory.mktemp("sim") / "lens"
    run("simulate", "lens", "--n", 48, "--seed", 11, "--out", out, "--quiet")
    return out


@pytest.fixture(scope="module")
def model(sim, tmp_path_factory):
    path = tmp_path_factory.mktemp("model") / "tiny.keras"
    run("train", "lens", "--catalog", sim / "catalog.fits", "--out", path, *TINY)
    return path


def test_simulate_contract(sim):
    table = Table.read(sim / "catalog.fits")
    for column in ("id", "file", "label"):
        assert column in table.colnames
    assert set(table["label"]) == {0, 1}
    assert all((sim / f).exists() for f in table["file"])


def test_simulate_another_survey_setup(tmp_path):
    out = tmp_path / "hsc"
    setup = ["--pixel-scale", 0.168, "--zero-point", 27, "--depth-offset", 2, "--size", 76]
    run("simulate", "lens", "--n", 4, "--seed", 1, "--out", out, *setup, "--quiet")
    table = Table.read(out / "catalog.fits")
    assert len(table) == 4 and table.meta["PIXSCALE"] == 0.168
    assert table.meta["MAGZP"] == 27 and table.meta["DEPTHOFF"] == 2
    header = fits.getheader(out / table["file"][0])
    assert header["NAXIS1"] == header["NAXIS2"] == 76 and header["NAXIS3"] == 4
    assert header["PIXSCALE"] == 0.168 and header["MAGZP"] == 27
    # i: 10-sigma depth 24 + 2 at zero point 27, 0.9" seeing on 0.168" pixels
    sigma_psf = 0.9 / (2 * np.sqrt(2 * np.log(2)) * 0.168)
    expected = 10 ** (0.4 * (27 - 26)) / (np.sqrt(4 * np.pi) * sigma_psf * 10)
    assert header["SKYSIG_I"] == pytest.approx(expected, rel=1e-5)
    bad = run("simulate", "lens", "--n", 2, "--out", tmp_path / "x", "--size", 8, ok=False)
    assert bad.exit_code != 0 and "--size" in bad.output


def test_simulate_refuses_to_overwrite(sim):
    result = run("simulate", "lens", "--n", 2, "--out", sim, ok=False)
    assert result.exit_code != 0 and "already holds catalog.fits" in result.output


def test_train_writes_bundle_with_provenance(model):
    result = run("info", model)
    for needle in ("task:         lens", "bands:        g, r, i, z", "64x64x4", "auroc", "sha256"):
        assert needle in result.output


def test_train_records_the_data_contract_of_the_simulated_files(model):
    from astrocnn.io.bundle import read_meta

    contract = read_meta(model)["data_contract"]
    assert [b["name"] for b in contract["bands"]] == ["g", "r", "i", "z"]
    for band in contract["bands"]:  # what the simulator wrote in every file's header
        assert band["pixel_scale"] == pytest.approx(0.2) and band["zero_point"] == 30.0
        assert band["flux_unit"] == "ADU" and 0.7 <= band["psf_fwhm"] <= 1.2
        assert band["noise_sigma"] > 0  # measured on the training images
    assert contract["cutout_arcsec"] == pytest.approx(12.8)
    assert "data contract (per band):" in run("info", model).output


def test_predict_catalog_contract(sim, model, tmp_path):
    out = tmp_path / "pred.fits"
    run(
        "predict",
        "lens",
        "--model",
        model,
        "--catalog",
        sim / "catalog.fits",
        "--out",
        out,
        "--quiet",
    )
    table = Table.read(out)
    catalog = Table.read(sim / "catalog.fits")
    assert list(table["id"]) == list(catalog["id"])
    assert {"id", "p_lens", "status"} <= set(table.colnames)
    assert np.all((table["p_lens"] >= 0) & (table["p_lens"] <= 1))
    assert set(table["status"]) == {"ok"}
    header = fits.getheader(out, 1)
    assert header["TASK"] == "lens" and header["MODELSHA"]


def test_predict_files_matches_catalog(sim, model, tmp_path):
    catalog = Table.read(sim / "catalog.fits")
    files = [sim / f for f in catalog["file"][:3]]
    run("predict", "lens", "--model", model, *files, "--out", tmp_path / "f.fits", "--quiet")
    run(
        "predict",
        "lens",
        "--model",
        model,
        "--catalog",
        sim / "catalog.fits",
        "--out",
        tmp_path / "c.fits",
        "--quiet",
    )
    by_file = Table.read(tmp_path / "f.fits")
    by_cat = Table.read(tmp_path / "c.fits")
    np.testing.assert_allclose(by_file["p_lens"], by_cat["p_lens"][:3], rtol=1e-5)


def test_pack_then_train_from_packed(sim, tmp_path):
    packed = tmp_path / "set.h5"
    run("pack", "--catalog", sim / "catalog.fits", "--out", packed, "--task", "lens", "--quiet")
    import h5py

    with h5py.File(packed) as h5:
        assert h5["images"].shape == (48, 64, 64, 4)
        assert h5["images"].chunks is None  # contiguous
        assert h5.attrs["bands"] == "g,r,i,z"
    run("train", "lens", "--data", packed, "--out", tmp_path / "p.keras", *TINY)
    assert (tmp_path / "p.keras").exists()
    assert not (tmp_path / "p.keras.ckpt").exists()


def test_evaluate_report(sim, model, tmp_path):
    report = tmp_path / "report"
    run(
        "evaluate",
        "lens",
        "--model",
        model,
        "--catalog",
        sim / "catalog.fits",
        "--report",
        report,
        "--quiet",
    )
    metrics = json.loads((report / "metrics.json").read_text())
    for key in ("auroc", "tpr0", "tpr10", "precision", "recall"):
        assert key in metrics
    assert metrics["n"] == 48
    for name in (
        "roc.png",
        "score_histograms.png",
        "gallery_false_positives.png",
        "gallery_false_negatives.png",
        "predictions.fits",
    ):
        assert (report / name).stat().st_size > 0


def test_bad_rows_recorded_and_good_rows_predicted(sim, model, tmp_path):
    folder = tmp_path / "mixed"
    shutil.copytree(sim, folder)
    table = Table.read(folder / "catalog.fits")
    (folder / table["file"][1]).unlink()  # missing file
    (folder / table["file"][2]).write_bytes(b"garbage" * 100)  # corrupt
    fits.PrimaryHDU(np.full((4, 64, 64), np.nan, np.float32)).writeto(
        folder / table["file"][3], overwrite=True
    )  # all NaN
    fits.PrimaryHDU(np.ones((3, 64, 64), np.float32)).writeto(
        folder / table["file"][4], overwrite=True
    )  # wrong band count
    out = tmp_path / "mixed.fits"
    result = run(
        "predict",
        "lens",
        "--model",
        model,
        "--catalog",
        folder / "catalog.fits",
        "--out",
        out,
        "--quiet",
    )
    assert "4 row(s) failed" in result.output
    pred = Table.read(out, mask_invalid=False)
    assert list(pred["status"][:6]) == ["ok", "error", "error", "error", "error", "ok"]
    assert "row 1 (id 1)" in pred["reason"][1] and "file not found" in pred["reason"][1]
    assert "not a readable FITS file" in pred["reason"][2]
    assert "NaN" in pred["reason"][3]
    assert "3 band(s)" in pred["reason"][4]
    assert np.isnan(pred["p_lens"][1]) and np.isfinite(pred["p_lens"][5:]).all()


def test_single_bad_file_is_one_line_and_nonzero(model, tmp_path):
    bad = tmp_path / "broken file é.fits"
    bad.write_bytes(b"SIMPLE  =                    T" + b"\0" * 10)
    result = run("predict", "lens", "--model", model, bad, "--out", tmp_path / "o.fits", ok=False)
    assert result.exit_code == 1
    lines = [line for line in result.output.splitlines() if "error" in line]
    assert len(lines) == 1 and "broken file é.fits" in lines[0]


def test_missing_column_and_unwritable_output(sim, model, tmp_path):
    catalog = Table.read(sim / "catalog.fits")
    del catalog["file"]
    catalog.write(tmp_path / "nofile.fits")
    result = run(
        "predict",
        "lens",
        "--model",
        model,
        "--catalog",
        tmp_path / "nofile.fits",
        "--out",
        tmp_path / "o.fits",
        ok=False,
    )
    assert result.exit_code == 1 and "nofile.fits: no column 'file'" in result.output
    result = run(
        "predict",
        "lens",
        "--model",
        model,
        "--catalog",
        sim / "catalog.fits",
        "--out",
        tmp_path / "missing_dir" / "o.fits",
        ok=False,
    )
    assert result.exit_code == 1 and "does not exist" in result.output
    existing = tmp_path / "keep.fits"
    existing.write_bytes(b"precious")
    result = run(
        "predict",
        "lens",
        "--model",
        model,
        "--catalog",
        sim / "catalog.fits",
        "--out",
        existing,
        ok=False,
    )
    assert "already exists" in result.output and existing.read_bytes() == b"precious"
    result = run(
        "evaluate",
        "lens",
        "--model",
        model,
        "--catalog",
        tmp_path / "nofile.fits",
        "--report",
        tmp_path / "rep",
        ok=False,
    )
    assert result.exit_code == 1 and "no column" in result.output


def test_resume_requires_checkpoint_and_refuses_stale(sim, tmp_path):
    out = tmp_path / "r.keras"
    result = run(
        "train",
        "lens",
        "--catalog",
        sim / "catalog.fits",
        "--out",
        out,
        "--resume",
        *TINY,
        ok=False,
    )
    assert "no checkpoint to resume" in result.output
    (tmp_path / "r.keras.ckpt").mkdir()
    result = run("train", "lens", "--catalog", sim / "catalog.fits", "--out", out, *TINY, ok=False)
    assert "pass --resume" in result.output


def test_help_does_not_import_tensorflow():
    code = (
        "import sys; from astrocnn_cli.main import main\n"
        "try:\n    main(['predict', '--help'])\nexcept SystemExit:\n    pass\n"
        "assert 'tensorflow' not in sys.modules, 'tensorflow imported'\n"
    )
    subprocess.run(
        [sys.executable, "-c", code], check=True, capture_output=True, env={**os.environ}
    )


def test_default_model_on_sample_data(tmp_path):
    """The shipped model, run exactly as the README's first command runs it."""
    sample = os.path.join(SAMPLE_DATA, "lens", "catalog.fits")
    out = tmp_path / "sample.fits"
    run("predict", "lens", "--catalog", sample, "--out", out, "--quiet")
    pred = Table.read(out)
    truth = Table.read(sample)
    from astrocnn.tasks.classification.metrics import auroc

    assert set(pred["status"]) == {"ok"}
    assert auroc(truth["label"], pred["p_lens"]) > 0.9
