"""The deblend simulator's rich population and isolated scenes (``population="rich"``,
``isolated_fraction``) and the report's split of isolated galaxies from blends."""

import math

import numpy as np
import pytest
from astropy.io import fits
from astropy.table import Table
from cli_runner import run

pytest.importorskip("galsim")

from astrocnn.sim.population import KINDS  # noqa: E402
from astrocnn.sim.surveys import SURVEYS  # noqa: E402
from astrocnn.tasks.deblend.metrics import deblend_report, isolation_split  # noqa: E402
from astrocnn.tasks.deblend.simulate import (  # noqa: E402
    CENTRAL_MAG,
    RICH_ISOLATED_FRACTION,
    simulate_deblend,
    simulate_field,
)
from astrocnn.tasks.registry import get_task  # noqa: E402

N, SEED = 60, 11
BANDS = ("g", "r", "i")
DESCRIBED = ["kind", "bulge_fraction", "knot_fraction", "isolated"]


@pytest.fixture(scope="module")
def rich(tmp_path_factory):
    outdir = tmp_path_factory.mktemp("rich")
    return outdir, simulate_deblend(N, SEED, outdir, population="rich")


def _truth(outdir, row):
    with fits.open(outdir / row["truth_file"]) as hdul:
        return {h.name: (h.header.copy(), None if h.data is None else h.data.copy()) for h in hdul}


def test_rich_scenes_have_realistic_sizes_and_kinds(rich):
    outdir, table = rich
    r_half = np.asarray(table["r_half"])
    assert 0.2 <= np.median(r_half) <= 0.45  # classic: ~0.5"
    assert r_half.min() >= 0.1 and r_half.min() < 0.2  # compact ones below classic's floor
    assert set(table["kind"]) <= set(KINDS) and len(set(table["kind"])) >= 3
    mag = np.asarray(table["mag_true_i"])
    assert np.all((mag >= CENTRAL_MAG[0] - 1e-9) & (mag <= CENTRAL_MAG[1] + 1e-9))
    assert np.median(mag) > np.mean(CENTRAL_MAG)  # faint galaxies dominate
    bt = np.asarray(table["bulge_fraction"])
    assert np.all((bt >= 0) & (bt <= 1)) and len(np.unique(bt)) > 10  # continuous B/T
    assert table.meta["GALPOP"] == "rich" and table.meta["ISOFRAC"] == RICH_ISOLATED_FRACTION
    head = _truth(outdir, table[int(np.argmax(table["n_galaxies"]))])["PRIMARY"][0]
    assert all(head[f"TYPE_{k}"] in KINDS for k in range(1, head["NGAL"] + 1))  # neighbours too


def test_rich_catalogue_columns_round_trip(rich):
    outdir, table = rich
    cols = table.colnames
    assert cols[cols.index("blendedness") + 1 : cols.index("x_true")] == DESCRIBED
    back = Table.read(outdir / "catalog.fits")
    assert back.colnames == cols and back["isolated"].dtype == bool
    assert list(back["isolated"]) == list(table["n_galaxies"] == 1)


def test_isolated_scenes_hold_one_whole_galaxy(rich):
    outdir, table = rich
    rows = [r for r in table if r["isolated"]]
    assert 2 <= len(rows) <= 20  # 15 % of 60
    for row in rows:
        truth = _truth(outdir, row)
        head = truth["PRIMARY"][0]
        assert head["NGAL"] == 1 and row["n_galaxies"] == 1
        assert truth["GALAXIES"][1].shape[0] == 1 and not np.any(truth["OTHERS"][1])
        assert set(np.unique(truth["SEGMENTATION"][1])) <= {0, 1}
        assert math.isnan(row["separation"]) and row["blendedness"] == 0
        # the truth flux is the whole galaxy's: its components add up to the drawn
        # magnitude, and all but its faint wings fall in the stamp
        assert row["mag_true_i"] == pytest.approx(head["MAGI_1"], abs=1e-4)
        stamp = truth["CENTRAL"][1].sum(axis=(1, 2), dtype=float)
        flux = np.array([row[f"flux_true_{b}"] for b in BANDS])
        np.testing.assert_allclose(stamp, [row[f"flux_stamp_{b}"] for b in BANDS], rtol=1e-5)
        assert np.all((stamp / flux > 0.9) & (stamp / flux < 1.0 + 1e-6))


def test_isolated_fraction_of_either_population(tmp_path):
    alone = simulate_deblend(4, 2, tmp_path / "a", size=32, population="rich", isolated_fraction=1)
    assert list(alone["n_galaxies"]) == [1] * 4 and all(alone["isolated"])
    classic = simulate_deblend(12, 2, tmp_path / "c", size=32, isolated_fraction=0.5)
    assert classic.colnames[-8:-4] == DESCRIBED and set(classic["kind"]) <= {"E", "S", "Irr"}
    assert 1 in classic["n_galaxies"] and classic.meta["GALPOP"] == "classic"
    none = simulate_deblend(3, 2, tmp_path / "n", size=32, population="rich", isolated_fraction=0)
    assert all(none["n_galaxies"] >= 2)


def test_classic_by_name_is_the_default(tmp_path):
    a = simulate_deblend(3, 5, tmp_path / "a", size=32)
    b = simulate_deblend(3, 5, tmp_path / "b", size=32, population="classic", isolated_fraction=0)
    assert a.colnames == b.colnames and "kind" not in a.colnames and "GALPOP" not in a.meta
    for name in ("file", "truth_file"):
        for rel in a[name]:
            assert (tmp_path / "a" / rel).read_bytes() == (tmp_path / "b" / rel).read_bytes()


def test_rich_in_a_survey_keeps_the_key_band_magnitude(tmp_path):
    table = simulate_deblend(3, 4, tmp_path, size=32, survey=SURVEYS["hsc"], population="rich")
    for row in table:
        head = fits.getheader(tmp_path / row["truth_file"])
        assert row["mag_true_i"] == pytest.approx(head["MAGI_1"], abs=1e-4)
    assert np.all(np.asarray(table["mag_true_g"]) != np.asarray(table["mag_true_i"]))


def test_rich_field(tmp_path):
    truth = simulate_field(3, tmp_path / "f.fits", shape=(64, 64), n_galaxies=8, population="rich")
    assert set(truth["type"]) <= set(KINDS) and np.all(truth["r_half"] >= 0.1)
    image = fits.getdata(tmp_path / "f.fits")
    assert image.shape == (3, 64, 64) and np.all(np.isfinite(image))


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(population="smooth"), "population must be one of classic, rich"),
        (dict(isolated_fraction=1.5), "isolated_fraction must be"),
        (dict(isolated_fraction=-0.1), "isolated_fraction must be"),
        (dict(isolated_fraction=float("nan")), "isolated_fraction must be"),
        (dict(isolated_fraction=True), "isolated_fraction must be"),
    ],
)
def test_bad_population_arguments(tmp_path, kwargs, match):
    with pytest.raises(ValueError, match=match):
        simulate_deblend(1, 0, tmp_path, size=32, **kwargs)


def test_cli_options(tmp_path):
    out = tmp_path / "sim"
    run("simulate", "deblend", "--n", 3, "--seed", 1, "--out", out, "--population", "rich",
        "--isolated-fraction", 1, "--quiet")  # fmt: skip
    table = Table.read(out / "catalog.fits")
    assert table.meta["GALPOP"] == "rich" and list(table["n_galaxies"]) == [1, 1, 1]
    bad = run("simulate", "deblend", "--n", 1, "--out", tmp_path / "x", "--isolated-fraction",
              2, ok=False)  # fmt: skip
    assert bad.exit_code == 2 and "--isolated-fraction" in bad.output


# --- the report's split ---------------------------------------------------------------
# four isolated galaxies losing 2 %, 4 %, 6 % and gaining 2 % in g (median bias -3 %), and
# three blends off by +10 %, -20 % and +30 % (median |error| 20 %); r is twice g
REL_G = np.array([-0.02, -0.04, -0.06, 0.02, 0.10, -0.20, 0.30])
ISOLATED = np.array([True] * 4 + [False] * 3)


def _fluxes():
    true = np.full((7, 2), 100.0)
    return true, true * (1 + np.stack([REL_G, 2 * REL_G], axis=1))


def test_isolation_split_by_hand():
    true, pred = _fluxes()
    out = isolation_split((pred - true) / true, ISOLATED, ("g", "r"))
    assert out["n_isolated"] == 4 and out["n_blends"] == 3
    assert out["isolated_flux_bias_g"] == pytest.approx(-0.03)
    assert out["isolated_flux_bias_r"] == pytest.approx(-0.06)
    assert out["blend_median_abs_dflux_g"] == pytest.approx(0.20)
    assert out["blend_median_abs_dflux_r"] == pytest.approx(0.40)
    alone = isolation_split((pred - true) / true, np.ones(7, bool), ("g", "r"))
    assert alone["n_blends"] == 0 and math.isnan(alone["blend_median_abs_dflux_g"])
    with pytest.raises(ValueError, match="isolated"):
        isolation_split((pred - true) / true, ISOLATED[:3], ("g", "r"))


def test_report_split_leaves_failures_out_and_keeps_the_old_keys():
    true, pred = _fluxes()
    pred[4, 0] = np.nan  # a failed blend in g: the median of 20 % and 30 %
    report = deblend_report(true, pred, bands=("g", "r"), isolated=ISOLATED)
    assert report["blend_median_abs_dflux_g"] == pytest.approx(0.25)
    assert report["isolated_flux_bias_g"] == pytest.approx(-0.03)
    assert report["n_failed"] == 1 and "median_abs_flux_error" in report
    assert "n_isolated" not in deblend_report(true, pred, bands=("g", "r"))


def test_task_evaluate_splits_network_and_sep():
    true, pred = _fluxes()
    sep = true + 4 * (pred - true)  # sep: four times worse
    # isolated as a CSV holds it; the 4th scene had its neighbours dropped: alone too
    flags = ["True"] * 3 + ["False"] * 4
    table = Table({"n_galaxies": [1, 1, 1, 1, 2, 3, 4], "isolated": flags})
    for k, band in enumerate(("g", "r")):
        table[f"flux_true_{band}"] = true[:, k]
    mask = np.zeros((7, 4, 4), bool)
    decoded = {"flux_g": pred[:, 0], "flux_r": pred[:, 1], "segmentation": mask.astype(int)}
    truth = np.zeros((7, 4, 4, 7))
    baseline = {"flux": sep, "central_mask": mask, "method": "sep"}
    meta = {"bands": ["g", "r"]}
    report = get_task("deblend").evaluate(truth, decoded, meta, table=table, baseline=baseline)
    assert report["n_isolated"] == 4 and report["isolated_flux_bias_g"] == pytest.approx(-0.03)
    assert report["isolated_flux_bias_sep_g"] == pytest.approx(-0.12)
    assert report["blend_median_abs_dflux_sep_r"] == pytest.approx(1.6)
    assert report["blend_sep_over_network_g"] == pytest.approx(4.0)
    assert report["blend_sep_over_network_r"] == pytest.approx(4.0)
    assert report["baseline"]["blend_median_abs_dflux_g"] == pytest.approx(0.8)
