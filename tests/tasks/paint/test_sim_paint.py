"""Tests for the painting-baryons simulator `astrocnn.tasks.paint.simulate`."""

import filecmp

import numpy as np
import pytest
from astropy.io import fits
from astropy.table import Table
from scipy import fft, stats
from scipy.ndimage import gaussian_filter

from astrocnn.io.catalog import read_catalog
from astrocnn.tasks.paint.simulate import (
    CHANNELS,
    FILTER_SCALE,
    OMEGA_M,
    SIGMA_8,
    SUMMARY_COLUMNS,
    _mode_amplitude,
    _tophat,
    _wavenumbers,
    gaussian_field,
    growth_factor,
    linear_power,
    sigma_tophat,
    simulate_paint,
    slab_layout,
    transfer_eh,
    write_npy_stack,
)

# 32 pixels over 12.5 Mpc/h: the default 0.39 Mpc/h pixel at an eighth of the cost; the
# default 5 Mpc/h depth cuts such a box into 2 slabs of 16 cells (6.25 Mpc/h), so maps 0
# and 1 are the two halves of box 0 and map 2 is the first half of box 1
N, SEED, SIZE, BOX = 3, 11, 32, 12.5
COLUMNS = ["id", "input_file", "target_file", "box", "slab", *SUMMARY_COLUMNS]
CARDS = dict(
    SIMULATR="astrocnn.tasks.paint.simulate", SEED=SEED, BOXSIZE=BOX, DEPTH=6.25, PERIODIC=True
)


@pytest.fixture(scope="module")
def sim(tmp_path_factory):
    outdir = tmp_path_factory.mktemp("paint")
    table = simulate_paint(N, SEED, outdir, size=SIZE, box_size=BOX)
    dm = np.stack([fits.getdata(outdir / f) for f in table["input_file"]])
    gas = {}
    for f in table["target_file"]:
        with fits.open(outdir / f) as hdus:
            for name in CHANNELS:
                gas.setdefault(name, []).append(hdus[name].data)
    return outdir, table, dm, {k: np.stack(v) for k, v in gas.items()}


def _column(table, name):
    col = np.asarray(table[name])
    return col.astype(str) if col.dtype.kind in "SU" else col  # FITS strings read as bytes


def _tables_equal(a, b):
    return a.colnames == b.colnames and all(
        np.array_equal(_column(a, c), _column(b, c)) for c in a.colnames
    )


def test_catalogue_columns_and_meta(sim):
    outdir, table, dm, gas = sim
    assert table.colnames == COLUMNS
    assert table["id"].dtype == np.int64 and list(table["id"]) == list(range(N))
    assert list(table["input_file"]) == [f"maps/dm_{i:06d}.fits" for i in range(N)]
    assert list(table["target_file"]) == [f"maps/gas_{i:06d}.fits" for i in range(N)]
    assert list(table["box"]) == [0, 0, 1] and list(table["slab"]) == [0, 1, 0]
    meta = table.meta
    assert meta["DEPTH"] == 6.25
    assert meta["SIMULATR"] == "astrocnn.tasks.paint.simulate" and meta["SEED"] == SEED
    assert meta["SIZE"] == SIZE and meta["BOXSIZE"] == BOX and meta["PERIODIC"] is True
    assert meta["OMEGA_M"] == 0.3 and meta["OMEGA_B"] == 0.049 and meta["SIGMA_8"] == 0.8
    assert meta["HUBBLE"] == 0.7 and meta["N_S"] == 0.965
    assert meta["CHANNELS"] == "GAS_DENSITY,TEMPERATURE,HI_DENSITY"
    on_disk = Table.read(outdir / "catalog.fits")
    assert _tables_equal(table, on_disk)
    assert on_disk.meta["PERIODIC"] is True and on_disk.meta["REDSHIFT"] == meta["REDSHIFT"]
    # summaries describe the maps
    log_t = np.log10(gas["TEMPERATURE"].astype(float))
    np.testing.assert_allclose(table["sigma_dm"], dm.std(axis=(1, 2)), rtol=1e-5)
    np.testing.assert_allclose(table["min_dm"], dm.min(axis=(1, 2)), rtol=1e-6)
    np.testing.assert_allclose(table["sigma_gas"], gas["GAS_DENSITY"].std(axis=(1, 2)), rtol=1e-5)
    np.testing.assert_allclose(table["mean_log_temperature"], log_t.mean(axis=(1, 2)), rtol=1e-5)
    np.testing.assert_allclose(table["std_log_temperature"], log_t.std(axis=(1, 2)), rtol=1e-4)
    np.testing.assert_allclose(table["mean_hi"], gas["HI_DENSITY"].mean(axis=(1, 2)), rtol=1e-5)
    assert np.all((table["hot_fraction"] > 0.05) & (table["hot_fraction"] < 0.6))
    assert np.all((table["sigma_lin"] > 0.6) & (table["sigma_lin"] < 1.5))


def test_files_hdus_and_cards(sim):
    outdir, table, _, _ = sim
    for i in range(N):
        with fits.open(outdir / table["input_file"][i]) as hdus:
            assert len(hdus) == 1
            hdr = hdus[0].header
            assert hdr["EXTNAME"] == "DM_DENSITY" and hdr["BUNIT"] == ""
            assert hdus[0].data.dtype == np.dtype(">f4") and hdus[0].data.shape == (SIZE, SIZE)
            assert hdr["OBJECT"] == str(i) and hdr["PIXSIZE"] == BOX / SIZE
            assert hdr["BOXID"] == table["box"][i] and hdr["SLABZ"] == 6.25 * table["slab"][i]
            assert all(hdr[k] == v for k, v in CARDS.items())
            assert hdr["RHOMEAN"] == pytest.approx(OMEGA_M * 1.87847e-29 * 0.49 * 8, rel=1e-4)
        with fits.open(outdir / table["target_file"][i]) as hdus:
            assert [h.name for h in hdus] == list(CHANNELS)
            assert [h.header["BUNIT"] for h in hdus] == ["", "K", ""]
            for h in hdus:
                assert h.data.dtype == np.dtype(">f4") and h.data.shape == (SIZE, SIZE)
                assert h.header["OBJECT"] == str(i)
                assert all(h.header[k] == v for k, v in CARDS.items())


def test_deterministic_and_prefix(sim, tmp_path):
    outdir, table, _, _ = sim
    small = simulate_paint(2, SEED, tmp_path / "a", size=SIZE, box_size=BOX)
    assert _tables_equal(small, table[:2])
    for column in ("input_file", "target_file"):
        for rel in small[column]:
            assert filecmp.cmp(outdir / rel, tmp_path / "a" / rel, shallow=False)
    other = simulate_paint(1, SEED + 1, tmp_path / "b", size=SIZE, box_size=BOX)
    assert not np.array_equal(
        fits.getdata(outdir / table["input_file"][0]),
        fits.getdata(tmp_path / "b" / other["input_file"][0]),
    )


def test_dm_positive_with_mean_one(sim):
    _, _, dm, gas = sim
    assert np.all(dm > 0) and np.all(gas["GAS_DENSITY"] > 0)
    # CIC conserves mass: the two slabs of box 0 hold all of it
    np.testing.assert_allclose(dm[:2].mean(), 1.0, atol=1e-5)
    np.testing.assert_allclose(gas["GAS_DENSITY"][:2].mean(), 1.0, atol=1e-3)
    assert np.all(np.abs(dm.mean(axis=(1, 2)) - 1) < 0.5)  # one slab: a 6 Mpc/h mode
    assert 0.2 < dm.std() < 2.0 and dm.max() > 3  # non-linear structure


def test_slabs_tile_the_full_depth_projection(sim, tmp_path):
    """The slabs of one box, combined, are the whole-box projection of the same box."""
    _, _, dm, gas = sim
    full = simulate_paint(1, SEED, tmp_path, size=SIZE, box_size=BOX, depth=BOX)
    assert full.meta["DEPTH"] == BOX and list(full["slab"]) == [0]
    with fits.open(tmp_path / full["target_file"][0]) as hdus:
        whole = {h.name: h.data.astype(float) for h in hdus}
    np.testing.assert_allclose(
        fits.getdata(tmp_path / full["input_file"][0]), dm[:2].mean(axis=0), rtol=1e-5
    )
    for name in ("GAS_DENSITY", "HI_DENSITY"):
        np.testing.assert_allclose(whole[name], gas[name][:2].mean(axis=0), rtol=1e-4)
    mass = gas["GAS_DENSITY"][:2].astype(float)
    weighted = (mass * gas["TEMPERATURE"][:2]).sum(axis=0) / mass.sum(axis=0)
    np.testing.assert_allclose(whole["TEMPERATURE"], weighted, rtol=1e-4)


def test_linear_theory():
    assert transfer_eh(1e-5) == pytest.approx(1.0, abs=1e-3)
    k = np.logspace(-3, 1, 50)
    assert np.all(np.diff(transfer_eh(k)) < 0)
    # EH98 no-wiggle: T ~ ln(q) / q^2 deep in the small-scale regime
    assert transfer_eh(10.0) / transfer_eh(5.0) == pytest.approx(
        0.25 * np.log(2 * np.e + 18 * 5.0) / np.log(2 * np.e + 9 * 5.0), rel=0.1
    )
    assert sigma_tophat(8.0) == pytest.approx(SIGMA_8, rel=1e-6)
    assert growth_factor(0.0) == pytest.approx(1.0)
    # Carroll, Press & Turner (1992) approximation, good to ~1%
    z = 1.0
    om = OMEGA_M * (1 + z) ** 3 / (OMEGA_M * (1 + z) ** 3 + 1 - OMEGA_M)

    def g(om):
        ol = 1 - om
        return 2.5 * om / (om ** (4 / 7) - ol + (1 + om / 2) * (1 + ol / 70))

    assert growth_factor(z) == pytest.approx(g(om) / g(OMEGA_M) / (1 + z), rel=0.01)
    assert linear_power(0.1, z) == pytest.approx(linear_power(0.1) * growth_factor(z) ** 2)
    # P(k = 0.1 h/Mpc) of sigma_8 = 0.8 LambdaCDM is ~ 5-6e3 (Mpc/h)^3 today
    assert 4.5e3 < linear_power(0.1) < 7e3


def test_gaussian_field_power_spectrum():
    size, box = 32, 25.0
    kx, ky, kz = _wavenumbers(size, box)
    k = np.broadcast_to(np.sqrt(kx**2 + ky**2 + kz**2), (size, size, size // 2 + 1))
    live = _mode_amplitude(size, box) > 0  # not the mean, not the Nyquist planes
    for seed in (0, 1):
        field = gaussian_field(np.random.default_rng(seed), size, box)
        assert field.shape == (size,) * 3 and abs(field.mean()) < 1e-5
        power = np.abs(fft.rfftn(field)) ** 2 * (box / size) ** 3 / size**3
        for lo, hi in ((1.2, 2.4), (2.4, 3.9)):  # thousands of modes per bin
            m = live & (k >= lo) & (k < hi)
            assert power[m].mean() / linear_power(k[m]).mean() == pytest.approx(1.0, abs=0.1)
    # sigma_8 of a realisation in a big box
    size, box = 48, 300.0
    field = gaussian_field(np.random.default_rng(3), size, box)
    kx, ky, kz = _wavenumbers(size, box)
    smooth = fft.rfftn(field) * _tophat(8.0 * np.sqrt(kx**2 + ky**2 + kz**2))
    assert fft.irfftn(smooth, s=field.shape).std() == pytest.approx(SIGMA_8, rel=0.1)


def _power_2d(maps):
    return np.mean([np.abs(fft.fft2(m - m.mean())) ** 2 for m in maps], axis=0)


def test_gas_is_smoother_than_dm(sim):
    _, _, dm, gas = sim
    f = fft.fftfreq(SIZE) * 2 * np.pi * SIZE / BOX
    k = np.hypot(f[:, None], f[None, :])
    ratio = _power_2d(gas["GAS_DENSITY"]) / np.maximum(_power_2d(dm), 1e-30)
    k_nyq = np.pi * SIZE / BOX
    low, high = (k > 0) & (k < 0.25 * k_nyq), k > 0.5 * k_nyq
    assert ratio[low].mean() > 0.6
    assert ratio[high].max() < 0.2
    # the pressure filter exp(-k^2 / k_F^2) on the density: exp(-2 k^2 / k_F^2) in power
    m = high & (k < 0.75 * k_nyq)
    expected = np.exp(-2 * (k[m] * FILTER_SCALE) ** 2)
    assert np.median(ratio[m] / expected) == pytest.approx(1.0, abs=0.5)


def test_temperature_range_and_density_dependence(sim):
    _, _, _, gas = sim
    temp, rho = gas["TEMPERATURE"].ravel(), gas["GAS_DENSITY"].ravel()
    assert np.all((temp > 1e3) & (temp < 1e8))
    assert temp.min() < 3e4 and temp.max() > 3e5  # photo-ionised and shock-heated gas
    assert stats.spearmanr(temp, rho)[0] > 0.5
    dense, sparse = rho > np.quantile(rho, 0.9), rho < np.quantile(rho, 0.1)
    assert np.median(temp[dense]) > 10 * np.median(temp[sparse])


def test_hi_follows_density_but_not_in_hot_gas(sim):
    _, _, _, gas = sim
    temp, rho, hi = (gas[c].ravel().astype(float) for c in CHANNELS[1::-1] + CHANNELS[2:])
    assert np.all(hi > 0)
    assert stats.spearmanr(hi, rho)[0] > 0.5
    # at a given density, hotter columns hold less neutral hydrogen
    assert stats.spearmanr(hi / rho**2, temp)[0] < -0.5


def test_temperature_is_not_a_log_linear_function_of_dm(sim):
    _, _, dm, gas = sim
    log_t = np.log10(gas["TEMPERATURE"].astype(float)).ravel()
    for sigma in (0, 1, 2):  # pixels; a linear bias of the smoothed DM map
        smooth = np.stack([gaussian_filter(m.astype(float), sigma, mode="wrap") for m in dm])
        x = np.log10(smooth).ravel()
        design = np.column_stack([np.ones_like(x), x, x**2])
        coef = np.linalg.lstsq(design, log_t, rcond=None)[0]
        residual = log_t - design @ coef
        assert residual.std() > 0.15  # dex
        assert 1 - residual.var() / log_t.var() < 0.8


def test_npy_stacks(sim, tmp_path):
    outdir, table, dm, gas = sim
    paths = write_npy_stack(table, outdir, "test_z=1.00")  # maps found in outdir
    assert list(paths) == ["DM", "Mgas", "T", "HI"]
    expected = dict(DM=dm, Mgas=gas["GAS_DENSITY"], T=gas["TEMPERATURE"], HI=gas["HI_DENSITY"])
    for field, path in paths.items():
        assert path == str(outdir / f"Maps_{field}_test_z=1.00.npy")
        stack = np.load(path)
        assert stack.dtype == np.float32 and stack.shape == (N, SIZE, SIZE)
        np.testing.assert_array_equal(stack, expected[field])
    # a catalogue read from disk resolves its maps against its own folder, not outdir
    read = read_catalog(outdir / "catalog.fits")
    again = write_npy_stack(read[1:], tmp_path / "npy2", "x")
    np.testing.assert_array_equal(np.load(again["T"]), gas["TEMPERATURE"][1:])
    with pytest.raises(ValueError, match="name"):
        write_npy_stack(table, tmp_path, "a/b")
    with pytest.raises(ValueError, match="name"):
        write_npy_stack(table, tmp_path, "")


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(n=0), "n must"),
        (dict(n=2.0), "n must"),
        (dict(n=True), "n must"),
        (dict(seed=-1), "seed must"),
        (dict(seed="1"), "seed must"),
        (dict(size=14), "size must"),
        (dict(size=33), "size must"),
        (dict(size=1024), "size must"),
        (dict(size=32.0), "size must"),
        (dict(box_size=0), "box_size must"),
        (dict(box_size=-5.0), "box_size must"),
        (dict(box_size=float("nan")), "box_size must"),
        (dict(box_size="25"), "box_size must"),
        (dict(box_size=True), "box_size must"),
        (dict(depth=0.0), "depth must"),
        (dict(depth=13.0), "depth must"),
        (dict(depth=float("inf")), "depth must"),
        (dict(depth="5"), "depth must"),
        (dict(progress="yes"), "progress must"),
    ],
)
def test_argument_validation(tmp_path, kwargs, match):
    args = dict(n=1, seed=0, outdir=tmp_path / "out", size=SIZE, box_size=BOX) | kwargs
    with pytest.raises(ValueError, match=match):
        simulate_paint(**args)
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    "size, box, depth, expected",
    [
        (64, 25.0, 5.0, (5, 12)),
        (64, 25.0, 25.0, (1, 64)),
        (64, 25.0, 0.01, (64, 1)),
        (32, 12.5, 5.0, (2, 16)),
        (64, 25.0, 20.0, (1, 64)),
        (64, 25.0, 3.0, (8, 8)),
    ],
)
def test_slab_layout(size, box, depth, expected):
    assert slab_layout(size, box, depth) == expected
