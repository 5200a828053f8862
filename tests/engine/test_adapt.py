"""Domain adaptation (--adapt-to): the gap measures, the target reader and the joint fit."""

import numpy as np
import pytest
from astropy.io import fits
from astropy.table import Table
from cli_runner import run
from helpers import config, toy_set

from astrocnn.engine.adapt import domain_gap, read_target
from astrocnn.engine.features import embedder
from astrocnn.engine.train import train
from astrocnn.errors import AstrocnnError
from astrocnn.io.bundle import format_model_card, load_bundle
from astrocnn.tasks.registry import get_task


def _write_catalog(folder, images, bands="g,r", suffix=".fits"):
    """Cutouts as FITS cubes (band, y, x) and a catalogue naming them."""
    folder.mkdir()
    files = []
    for i, image in enumerate(images):
        name = f"c{i}{suffix}"
        fits.PrimaryHDU(np.moveaxis(image, -1, 0)).writeto(folder / name)
        files.append(name)
    table = Table({"id": np.arange(len(files)), "file": files})
    table.meta["BANDS"] = bands
    table.write(folder / "catalog.fits")
    return folder / "catalog.fits"


def _shifted(images, seed=3):
    """Another 'survey': brighter blobs, a sky offset and more noise."""
    rng = np.random.default_rng(seed)
    return (1.8 * images + 1.5 + rng.normal(0, 1.5, images.shape)).astype(np.float32)


def test_domain_gap_tells_one_distribution_from_two():
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(300, 8)), rng.normal(size=(300, 8))
    same = domain_gap(a, b)
    apart = domain_gap(a, b + 1.0)
    assert abs(same["domain_accuracy"] - 0.5) < 0.08 and same["mmd"] < 0.02
    assert apart["domain_accuracy"] > 0.9 and apart["mmd"] > 10 * same["mmd"]


def test_the_target_is_read_in_the_labelled_layout_and_band_order(tmp_path):
    data = toy_set(20)
    swapped = data.images[..., ::-1]
    catalog = _write_catalog(tmp_path / "t", swapped, bands="r,g")
    images = read_target(catalog, data, {}, quiet=True, log=lambda m: None)
    np.testing.assert_allclose(images, data.images, rtol=1e-6)


@pytest.mark.parametrize(
    "bands, suffix, reason",
    [("g,i", ".fits", "no conversion is possible"), ("g,r", ".png", "JPEG/PNG")],
)
def test_a_target_that_cannot_be_converted_is_refused(tmp_path, bands, suffix, reason):
    data = toy_set(8)
    if suffix == ".png":
        from PIL import Image

        folder = tmp_path / "t"
        folder.mkdir()
        for i in range(3):
            Image.fromarray(np.zeros((16, 16, 3), np.uint8)).save(folder / f"c{i}.png")
        table = Table({"id": [0, 1, 2], "file": [f"c{i}.png" for i in range(3)]})
        table.write(folder / "catalog.fits")
        catalog = folder / "catalog.fits"
    else:
        catalog = _write_catalog(tmp_path / "t", data.images[:3], bands=bands)
    with pytest.raises(AstrocnnError, match=reason):
        read_target(catalog, data, {}, quiet=True, log=lambda m: None)


@pytest.mark.slow
@pytest.mark.parametrize("method", ["mmd", "dann"])
def test_adaptation_trains_and_records_the_gap(tmp_path, method):
    task = get_task("lens")
    data = toy_set(96)
    target = _shifted(toy_set(96, seed=7).images)
    catalog = _write_catalog(tmp_path / "t", target)
    common = dict(epochs=8, widths=(8, 16), patience=None)
    plain = train(task, data, tmp_path / "plain.keras", config(**common), log=lambda m: None)
    adapted = train(
        task,
        data,
        tmp_path / "adapted.keras",
        config(**common, adapt_to=str(catalog), adapt=method, adapt_weight=2.0),
        log=lambda m: None,
    )
    record = adapted["adaptation"]
    assert record["method"] == method and record["n_target"] == 96
    card = format_model_card(adapted, tmp_path / "adapted.keras")
    assert f"adapted to:   {catalog}" in card and f"{method}, weight 2.0" in card
    assert len(record["target_sample"]) <= 128
    assert len(adapted["feature_stats"]["sample"]) == len(plain["feature_stats"]["sample"])
    if method == "mmd":  # the aligned features are closer to the target's than without
        gaps = {}
        for name in ("plain", "adapted"):
            bundle = load_bundle(tmp_path / f"{name}.keras")
            from astrocnn.data.preprocess import scaler_from_dict

            embed = embedder(bundle.model, scaler=scaler_from_dict(bundle.meta["preprocessing"]))
            gaps[name] = domain_gap(embed(data.images), embed(target))["mmd"]
        assert gaps["adapted"] < 0.85 * gaps["plain"], gaps  # measured: 0.70 at weight 1


def test_cli_refuses_adaptation_for_an_image_to_image_task(tmp_path):
    result = run(
        "train", "deblend", "--catalog", tmp_path / "x.fits", "--out", tmp_path / "m.keras",
        "--adapt-to", tmp_path / "y.fits", ok=False,
    )  # fmt: skip
    assert result.exit_code != 0
    assert result.output.startswith("astrocnn: error:") and "pooled features" in result.output


@pytest.mark.slow
def test_photoz_adapts_from_the_command_line_and_evaluate_reports_the_gap(tmp_path):
    for name, seed in (("labelled", 1), ("target", 2)):
        run("simulate", "photoz", "--n", 40, "--seed", seed, "--out", tmp_path / name, "--quiet")
    model = tmp_path / "pz.keras"
    run(
        "train", "photoz", "--catalog", tmp_path / "labelled" / "catalog.fits", "--out", model,
        "--epochs", 1, "--widths", "4,8", "--adapt-to", tmp_path / "target" / "catalog.fits",
        "--adapt", "dann", "--quiet",
    )  # fmt: skip
    result = run(
        "evaluate", "photoz", "--model", model, "--catalog",
        tmp_path / "target" / "catalog.fits", "--report", tmp_path / "report",
    )  # fmt: skip
    assert "domain gap to the training images" in result.output
    import json

    gap = json.loads((tmp_path / "report" / "metrics.json").read_text())["domain_gap"]
    assert gap["adapted_to"].endswith("catalog.fits") and 0 <= gap["domain_accuracy"] <= 1
