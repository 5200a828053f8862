"""Painting baryons end to end: FITS and .npy maps, tiling without seams, evaluation."""

import json

import numpy as np
import pytest
from astropy.io import fits
from astropy.table import Table
from cli_runner import run

TINY = ["--batch-size", "8", "--widths", "8,16,32", "--quiet", "--seed", "5"]


@pytest.fixture(scope="module")
def sim(tmp_path_factory):
    from astrocnn.tasks.paint.simulate import simulate_paint

    base = tmp_path_factory.mktemp("paint")
    # 32x32 maps of a 12.5 Mpc/h box: the default 0.39 Mpc/h pixel, fast
    simulate_paint(48, 1, base / "train", size=32, box_size=12.5)
    simulate_paint(6, 2, base / "test", size=32, box_size=12.5)
    return base


@pytest.fixture(scope="module")
def model(sim):
    path = sim / "paint.keras"
    run("train", "paint", "--catalog", sim / "train" / "catalog.fits", "--out", path,
        "--epochs", 3, *TINY)  # fmt: skip
    return path


def test_simulate_contract(tmp_path):
    run("simulate", "paint", "--n", 2, "--seed", 3, "--out", tmp_path / "s", "--quiet")
    table = Table.read(tmp_path / "s" / "catalog.fits")
    assert {"id", "input_file", "target_file"} <= set(table.colnames)
    with fits.open(tmp_path / "s" / table["target_file"][0]) as hdul:
        assert [h.header["EXTNAME"] for h in hdul] == ["GAS_DENSITY", "TEMPERATURE", "HI_DENSITY"]
        assert hdul["TEMPERATURE"].header["BUNIT"] == "K"
    # 5 Mpc/h slabs by default (5 maps per 25 Mpc/h box); --depth 25: whole boxes
    assert table.meta["DEPTH"] == 4.6875 and list(table["box"]) == [0, 0]
    run("simulate", "paint", "--n", 2, "--seed", 3, "--depth", 25, "--out", tmp_path / "w",
        "--quiet")  # fmt: skip
    whole = Table.read(tmp_path / "w" / "catalog.fits")
    assert whole.meta["DEPTH"] == 25.0 and list(whole["box"]) == [0, 1]
    other = run("simulate", "lens", "--n", 1, "--depth", 5, "--out", tmp_path / "l", ok=False)
    assert other.exit_code != 0 and "does not apply to task 'lens'" in other.output
    assert not (tmp_path / "l").exists()
    deep = run("simulate", "paint", "--n", 1, "--depth", 30, "--out", tmp_path / "d", ok=False)
    assert deep.exit_code != 0 and "--depth" in deep.output


def test_bundle_stores_the_transforms_and_channels(model):
    from astrocnn.io.bundle import read_meta

    meta = read_meta(model)
    assert meta["output_channels"] == ["GAS_DENSITY", "TEMPERATURE", "HI_DENSITY"]
    assert meta["output_units"][1] == "K" and meta["periodic"] is True
    assert meta["preprocessing"]["kind"] == "log10"
    assert meta["target_transform"]["kind"] == "log10"
    assert meta["architecture"] == meta["model_options"]["architecture"] == "unet"
    # the slabs of one simulated box stay on one side of the validation split
    assert meta["provenance"]["split_by"] == "box" and meta["provenance"]["n_val"] > 0


def test_predict_catalog_writes_one_fits_per_map(sim, model, tmp_path):
    out = tmp_path / "out"
    run("predict", "paint", "--model", model, "--catalog", sim / "test" / "catalog.fits",
        "--out", out, "--quiet")  # fmt: skip
    catalog = Table.read(out / "catalog.fits")
    assert list(catalog["status"]) == ["ok"] * 6
    truth = Table.read(sim / "test" / "catalog.fits")
    with (
        fits.open(out / catalog["file"][0]) as pred,
        fits.open(sim / "test" / truth["target_file"][0]) as true,
    ):
        assert [h.header["EXTNAME"] for h in pred] == [h.header["EXTNAME"] for h in true]
        for p, t in zip(pred, true):
            assert p.data.shape == t.data.shape
            assert p.header.get("BUNIT", "") == t.header.get("BUNIT", "")
            assert np.all(np.isfinite(p.data)) and np.all(p.data > 0)
        assert pred[0].header["BOXSIZE"] == true[0].header["BOXSIZE"]  # input cards kept
    # an existing, non-empty output folder is never overwritten silently
    result = run("predict", "paint", "--model", model, "--catalog", sim / "test" / "catalog.fits",
                 "--out", out, ok=False)  # fmt: skip
    assert result.exit_code == 1 and "not empty" in result.output


def test_npy_stack_input(sim, model, tmp_path):
    from astrocnn.io.catalog import read_catalog
    from astrocnn.tasks.paint.simulate import write_npy_stack

    paths = write_npy_stack(read_catalog(sim / "test" / "catalog.fits"), tmp_path, "test")
    run("predict", "paint", "--model", model, paths["DM"], "--out", tmp_path / "o", "--quiet")
    catalog = Table.read(tmp_path / "o" / "catalog.fits")
    assert len(catalog) == 6 and set(catalog["status"]) == {"ok"}
    assert (tmp_path / "o" / "Maps_DM_test_0.fits").exists()


def test_bad_maps_are_recorded(sim, model, tmp_path):
    table = Table.read(sim / "test" / "catalog.fits")
    good = sim / "test" / table["input_file"][0]
    negative = tmp_path / "negative.fits"
    data = fits.getdata(good).copy()
    data[3, 4] = -1.0
    fits.PrimaryHDU(data).writeto(negative)
    np.save(tmp_path / "cube4d.npy", np.ones((2, 2, 32, 32), np.float32))
    result = run("predict", "paint", "--model", model, good, negative, tmp_path / "cube4d.npy",
                 tmp_path / "missing.fits", "--out", tmp_path / "o", ok=False)  # fmt: skip
    assert result.exit_code == 1 and "Traceback" not in result.output
    catalog = Table.read(tmp_path / "o" / "catalog.fits")
    assert list(catalog["status"]) == ["ok", "error", "error", "error"]
    assert "<= 0" in catalog["reason"][1] and "negative.fits" in catalog["reason"][1]
    assert "2-D" in catalog["reason"][2]
    assert "not found" in catalog["reason"][3]


def test_training_refuses_mismatched_shapes(sim, tmp_path):
    from astrocnn.tasks.paint.simulate import simulate_paint

    simulate_paint(4, 9, tmp_path / "big", size=64, box_size=25.0)
    table = Table.read(sim / "train" / "catalog.fits")[:4]
    table["input_file"] = [str(sim / "train" / f) for f in table["input_file"]]
    table["target_file"] = [
        str(tmp_path / "big" / f)
        for f in Table.read(tmp_path / "big" / "catalog.fits")["target_file"]
    ]
    table.write(tmp_path / "mixed.fits")  # fmt: skip
    result = run("train", "paint", "--catalog", tmp_path / "mixed.fits", "--out",
                 tmp_path / "m.keras", "--epochs", 1, *TINY, ok=False)  # fmt: skip
    assert result.exit_code == 1 and "64x64" in result.output and "32x32" in result.output


def test_split_by_an_unknown_column_is_one_line(sim, tmp_path):
    catalog = sim / "train" / "catalog.fits"
    result = run("train", "paint", "--catalog", catalog, "--out", tmp_path / "m.keras",
                 "--epochs", 1, "--split-by", "halo", *TINY, ok=False)  # fmt: skip
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert f"{catalog}: --split-by halo: no such column" in result.output
    assert not (tmp_path / "m.keras").exists()


def test_tiled_prediction_has_no_seams(model, tmp_path):
    """A map 4x the training size (in area): tiles agree with one full-map pass."""
    from astrocnn.data.preprocess import scaler_from_dict
    from astrocnn.engine.maps import predict_map
    from astrocnn.io.bundle import load_bundle
    from astrocnn.tasks.paint.simulate import simulate_paint
    from astrocnn.tasks.paint.task import PaintTask

    bundle = load_bundle(model)
    scaler = scaler_from_dict(bundle.meta["preprocessing"])
    simulate_paint(1, 11, tmp_path, size=64, box_size=25.0)
    dm = fits.getdata(tmp_path / "maps" / "dm_000000.fits").astype(np.float32)[..., None]
    full = predict_map(bundle.model, scaler, dm, 32, periodic=True)  # one periodic pass
    twin = PaintTask().tile_network(bundle)
    tiled = predict_map(bundle.model, scaler, dm, 32, periodic=True, max_pixels=0, tile_model=twin)
    diff = np.abs(tiled - full)
    scale = full.std(axis=(0, 1))
    # a tile of the training size sees less context than the whole map (the U-Net's
    # receptive field is larger than 32 pixels), so the two differ everywhere a little;
    # stated tolerance: 10 % of the field's spread on average, 30 % for the worst 1 %
    assert np.all(diff.mean(axis=(0, 1)) < 0.10 * scale)
    assert np.all(np.percentile(diff, 99, axis=(0, 1)) < 0.3 * scale)
    # no seams: rows/columns where tiles are blended are no worse than the others
    seams = diff[8::16].mean() + diff[:, 8::16].mean()
    interior = diff[16::16].mean() + diff[:, 16::16].mean()
    assert seams < 1.5 * interior


def test_evaluate_reports_spectra_next_to_the_bias_baseline(sim, model, tmp_path):
    report = tmp_path / "report"
    result = run("evaluate", "paint", "--model", model, "--catalog",
                 sim / "test" / "catalog.fits", "--report", report, "--quiet")  # fmt: skip
    metrics = json.loads((report / "metrics.json").read_text())
    assert set(metrics["channels"]) == {"GAS_DENSITY", "TEMPERATURE", "HI_DENSITY"}
    temperature = metrics["channels"]["TEMPERATURE"]
    assert len(temperature["transfer"]) == len(temperature["k"]) == len(temperature["r"])
    assert metrics["baseline"]["mse_mean"] > 0 and "bias" in metrics["baseline"]["method"]
    assert "mse_mean" in result.output
    for name in ["maps", "transfer_and_correlation", "pdfs"]:
        assert (report / f"{name}.png").stat().st_size > 1000


def test_power_spectrum_loss_option(sim, model, tmp_path):
    """--power-loss-weight trains with the spectral term, is recorded, and a model
    trained without it can warm-start one trained with it (same outputs)."""
    out = tmp_path / "pk.keras"
    result = run(
        "train", "paint", "--catalog", sim / "train" / "catalog.fits", "--out", out,
        "--epochs", 1, "--power-loss-weight", 0.5, "--init-from", model, *TINY[:2],
    )  # fmt: skip
    from astrocnn.io.bundle import load_bundle

    meta = load_bundle(out).meta
    assert meta["power_loss_weight"] == 0.5 and meta["power_loss_space"] == "physical"
    assert "warm start from" in result.output
    assert "paint.keras" in meta["provenance"]["init_from"]
    # the outputs keep the source's meaning: its fitted target scaling is kept
    assert meta["target_transform"] == load_bundle(model).meta["target_transform"]
    bad = run(
        "train", "paint", "--catalog", sim / "train" / "catalog.fits",
        "--out", tmp_path / "bad.keras", "--power-loss-weight", -1, "--quiet", ok=False,
    )  # fmt: skip
    assert bad.exit_code != 0 and "power-loss-weight must be >= 0" in bad.output
    two = run(
        "train", "paint", "--catalog", sim / "train" / "catalog.fits",
        "--out", tmp_path / "two.keras", "--power-loss-weight", "1,2", "--quiet", ok=False,
    )  # fmt: skip
    assert two.exit_code != 0 and "one per output channel" in two.output
    per_channel = tmp_path / "per_channel.keras"
    run(
        "train", "paint", "--catalog", sim / "train" / "catalog.fits", "--out", per_channel,
        "--epochs", 1, "--power-loss-weight", "1,0,0.5", "--power-loss-space", "transformed",
        *TINY,
    )  # fmt: skip
    per_channel_meta = load_bundle(per_channel).meta
    assert per_channel_meta["power_loss_weight"] == [1.0, 0.0, 0.5]
    assert per_channel_meta["power_loss_space"] == "transformed"
    other = run(
        "train", "lens", "--catalog", sim / "train" / "catalog.fits",
        "--out", tmp_path / "l.keras", "--power-loss-weight", 1, ok=False,
    )  # fmt: skip
    assert other.exit_code != 0 and "does not apply to task 'lens'" in other.output


def test_log_offset_option(sim, model, tmp_path):
    """--log-offset models a channel as log10(y + c): recorded in the bundle, the
    predictions come back in physical units above the training minimum, and a model
    with another transform cannot warm-start it."""
    from astrocnn.data.preprocess import scaler_from_dict
    from astrocnn.io.bundle import read_meta

    out = tmp_path / "offset.keras"
    run(
        "train", "paint", "--catalog", sim / "train" / "catalog.fits", "--out", out,
        "--epochs", 1, "--log-offset", "0,1e5,0", *TINY,
    )  # fmt: skip
    meta = read_meta(out)
    assert meta["log_offset"] == [0.0, 1e5, 0.0]
    spec = meta["target_transform"]
    assert spec["offset"] == [0.0, 1e5, 0.0] and len(spec["lower"]) == 3
    truth = np.stack(
        [
            np.stack([h.data for h in fits.open(sim / "train" / f)], axis=-1)
            for f in Table.read(sim / "train" / "catalog.fits")["target_file"][:4]
        ]
    ).astype(np.float64)
    # mean and spread are those of log10(T + 1e5) for the temperature
    assert spec["mean"][1] > 5.0 and spec["std"][1] < np.log10(truth[..., 1]).std()
    scaler = scaler_from_dict(spec)
    np.testing.assert_allclose(scaler.inverse(scaler.transform(truth)), truth, rtol=1e-4)
    preds = tmp_path / "pred"
    run("predict", "paint", "--model", out, "--catalog", sim / "test" / "catalog.fits",
        "--out", preds, "--quiet")  # fmt: skip
    with fits.open(preds / Table.read(preds / "catalog.fits")["file"][0]) as hdul:
        assert np.all(hdul["TEMPERATURE"].data >= spec["lower"][1] * (1 - 1e-6))
    # the plain-log10 model's outputs mean something else: no warm start from it
    refused = run(
        "train", "paint", "--catalog", sim / "train" / "catalog.fits",
        "--out", tmp_path / "warm.keras", "--epochs", 1, "--log-offset", "0,1e5,0",
        "--init-from", model, *TINY[:2], ok=False,
    )  # fmt: skip
    assert "warm start from" not in refused.output
    bad = run(
        "train", "paint", "--catalog", sim / "train" / "catalog.fits",
        "--out", tmp_path / "bad.keras", "--log-offset", "0,-1,0", "--quiet", ok=False,
    )  # fmt: skip
    assert bad.exit_code != 0 and "log-offset must be >= 0" in bad.output


def test_tta_averages_the_eight_views_turned_back(sim, model, tmp_path):
    """--tta: a map's prediction is the mean of the predictions of its 8 flips/rotations,
    each turned back (one pass and tiled), and the CLI records it."""
    from astrocnn.engine.maps import predict_map
    from astrocnn.io.bundle import load_bundle
    from astrocnn.tasks.paint.task import PaintTask

    task, bundle = PaintTask(), load_bundle(model)
    dm = fits.getdata(sim / "test" / "maps" / "dm_000000.fits").astype(np.float32)[..., None]

    def one(data, **kw):
        return predict_map(bundle.model, None, data, 32, periodic=True, bundle=bundle, **kw)

    views = []
    for flip in (False, True):
        base = dm[:, ::-1] if flip else dm
        for k in range(4):
            out = np.rot90(one(np.ascontiguousarray(np.rot90(base, k))), -k)
            views.append(out[:, ::-1] if flip else out)
    expected = np.mean(views, axis=0)
    np.testing.assert_allclose(one(dm, tta=True, task=task), expected, atol=1e-4)
    assert np.abs(expected - one(dm)).max() > 1e-3  # the views do differ
    # tiled maps (and non-square ones) average every tile's views
    wide = np.concatenate([dm, dm], axis=1)
    tiled = predict_map(bundle.model, None, wide, 32, periodic=True, bundle=bundle, tta=True,
                        task=task, tile_model=task.tile_network(bundle))  # fmt: skip
    assert tiled.shape == (32, 64, 3) and np.isfinite(tiled).all()
    out = tmp_path / "tta"
    run("predict", "paint", "--model", model, "--catalog", sim / "test" / "catalog.fits",
        "--out", out, "--tta", "--quiet")  # fmt: skip
    catalog = Table.read(out / "catalog.fits")
    assert catalog.meta["TTA"] is True and list(catalog["status"]) == ["ok"] * 6
    with fits.open(out / catalog["file"][0]) as hdul:
        assert hdul[0].header["TTA"] is True
