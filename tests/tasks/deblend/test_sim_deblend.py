"""Tests for the blended-galaxy simulator `astrocnn.tasks.deblend.simulate`."""

import astropy.units as u
import numpy as np
import pytest
from astropy.io import fits
from astropy.table import Table
from astropy.wcs import WCS

pytest.importorskip("galsim")

from astrocnn.io.fits.cards import format_card as _card  # noqa: E402
from astrocnn.sim.lsst import MAGZP, noise_model, sky_sigma  # noqa: E402
from astrocnn.tasks.deblend.simulate import (  # noqa: E402
    EDGE,
    SEP_RHALF,
    simulate_deblend,
    simulate_field,
)

N, SEED, SIZE = 24, 3, 64
BANDS = ("g", "r", "i")
BIDX = [1, 2, 3]  # in ALL_BANDS
COLUMNS = ["id", "file", "truth_file"]
COLUMNS += [f"flux_true_{b}" for b in BANDS] + [f"mag_true_{b}" for b in BANDS]
COLUMNS += [f"flux_stamp_{b}" for b in BANDS]
COLUMNS += ["n_galaxies", "separation", "separation_rhalf", "delta_mag", "r_half"]
COLUMNS += ["blendedness", "x_true", "y_true", "ra", "dec"]


def _read_truth(path):
    with fits.open(path) as hdul:
        hdul.verify("exception")
        return {h.name: (h.header.copy(), None if h.data is None else h.data.copy()) for h in hdul}


@pytest.fixture(scope="module")
def sim(tmp_path_factory):
    outdir = tmp_path_factory.mktemp("deblend")
    table = simulate_deblend(N, SEED, outdir)
    observed = np.stack([fits.getdata(outdir / f) for f in table["file"]])
    truths = [_read_truth(outdir / f) for f in table["truth_file"]]
    return outdir, table, observed, truths


def _column(table, name):
    col = np.asarray(table[name])
    return col.astype(str) if col.dtype.kind in "SU" else col


def _tables_equal(a, b):
    return a.colnames == b.colnames and all(
        np.array_equal(_column(a, c), _column(b, c), equal_nan=_column(a, c).dtype.kind == "f")
        for c in a.colnames
    )


def test_catalogue_columns_units_and_meta(sim):
    outdir, table, _, _ = sim
    assert table.colnames == COLUMNS
    assert table["id"].dtype == np.int64 and list(table["id"]) == list(range(N))
    assert list(table["file"]) == [f"stamps/deblend_{i:06d}.fits" for i in range(N)]
    assert list(table["truth_file"]) == [f"truth/deblend_{i:06d}.fits" for i in range(N)]
    assert table["flux_true_r"].unit == u.nJy and table["flux_stamp_i"].unit == u.nJy
    assert table["mag_true_g"].unit == u.mag and table["delta_mag"].unit == u.mag
    assert table["separation"].unit == u.arcsec and table["r_half"].unit == u.arcsec
    assert table["x_true"].unit == u.pix and table["ra"].unit == u.deg
    meta = table.meta
    assert meta["SIMULATR"] == "astrocnn.tasks.deblend.simulate" and meta["SEED"] == SEED
    assert meta["PIXSCALE"] == 0.2 and meta["BANDS"] == "g,r,i" and meta["MAGZP"] == 31.4
    assert set(table["n_galaxies"]) <= {2, 3, 4} and len(set(table["n_galaxies"])) == 3
    assert np.all((table["mag_true_i"] >= 19) & (table["mag_true_i"] <= 24.5))
    assert np.all((table["r_half"] >= 0.2) & (table["r_half"] <= 1.5))
    assert np.all((table["blendedness"] >= 0) & (table["blendedness"] < 1))
    dm = np.asarray(table["delta_mag"])
    assert dm.min() < 0 < dm.max() and np.all(np.abs(dm) <= 6)
    assert _tables_equal(table, Table.read(outdir / "catalog.fits"))


def test_stamp_files(sim):
    outdir, table, observed, _ = sim
    assert observed.shape == (N, 3, SIZE, SIZE) and np.all(np.isfinite(observed))
    for i in (0, 5):
        with fits.open(outdir / table["file"][i]) as hdul:
            hdul.verify("exception")
            assert len(hdul) == 1 and hdul[0].data.dtype == np.dtype(">f4")
            hdr = hdul[0].header
        assert hdr["BANDS"] == "g,r,i" and hdr["MAGZP"] == MAGZP and hdr["BUNIT"] == "nJy"
        assert hdr["PIXSCALE"] == 0.2 and hdr["OBJECT"] == str(i)
        fwhm = [hdr[f"PSF_{b.upper()}"] for b in BANDS]
        assert all(0.6 < f < 1.0 for f in fwhm)
        sky = WCS(hdr, naxis=2).pixel_to_world(table["x_true"][i], table["y_true"][i])
        assert np.isclose(sky.ra.deg, table["ra"][i], atol=1e-9)
        assert np.isclose(sky.dec.deg, table["dec"][i], atol=1e-9)


def test_truth_files(sim):
    _, table, _, truths = sim
    for i, t in enumerate(truths):
        assert list(t) == ["PRIMARY", "CENTRAL", "OTHERS", "SEGMENTATION", "GALAXIES"]
        ngal = int(table["n_galaxies"][i])
        central, others = t["CENTRAL"][1], t["OTHERS"][1]
        seg, gals = t["SEGMENTATION"][1], t["GALAXIES"][1]
        assert central.dtype == others.dtype == gals.dtype == np.dtype(">f4")
        assert seg.dtype == np.dtype(">i2") and seg.shape == (SIZE, SIZE)
        assert central.shape == others.shape == (3, SIZE, SIZE)
        assert gals.shape == (ngal, 3, SIZE, SIZE) and t["PRIMARY"][0]["NGAL"] == ngal
        assert np.array_equal(gals[0], central)
        assert np.allclose(gals[1:].sum(axis=0), others, rtol=1e-5, atol=1e-4)
        for name in ("CENTRAL", "SEGMENTATION"):  # the stamp's WCS
            assert t[name][0]["CTYPE1"] == "RA---TAN"
            assert np.isclose(t[name][0]["CRVAL2"], WCS(t["CENTRAL"][0], naxis=2).wcs.crval[1])


def test_determinism(sim, tmp_path):
    outdir, table, _, _ = sim
    again = simulate_deblend(6, SEED, tmp_path / "a")  # per-scene streams: a prefix
    assert _tables_equal(table[:6], again)
    for f in [*again["file"], *again["truth_file"]]:
        assert (outdir / f).read_bytes() == (tmp_path / "a" / f).read_bytes()
    other = simulate_deblend(2, SEED + 1, tmp_path / "b")
    assert not np.array_equal(np.asarray(other["flux_true_i"]), table["flux_true_i"][:2])


def test_observed_is_truth_plus_noise(sim):
    _, _, observed, truths = sim
    sky, gain = noise_model(0.2)
    sky, gain = sky[BIDX, None, None], gain[BIDX, None, None]
    pulls, quiet_std = [], []
    for obs, t in zip(observed, truths):
        model = t["CENTRAL"][1].astype(float) + t["OTHERS"][1]
        resid = obs - model
        pulls.append(resid / np.sqrt((sky + np.clip(model, 0, None)) / gain))
        quiet = model.sum(axis=0) < 0.5  # sky-dominated pixels
        quiet_std.append(resid[:, quiet].std(axis=1) if quiet.sum() > 200 else [np.nan] * 3)
    pulls = np.stack(pulls)
    assert np.all(np.abs(pulls.mean(axis=(0, 2, 3))) < 0.01)
    assert np.all(np.abs(pulls.std(axis=(0, 2, 3)) - 1) < 0.01)
    quiet_std = np.nanmedian(quiet_std, axis=0)
    assert np.allclose(quiet_std, sky_sigma(0.2)[BIDX], rtol=0.05), quiet_std


def test_fluxes_and_magnitudes(sim):
    _, table, _, truths = sim
    for j, b in enumerate(BANDS):
        true = np.asarray(table[f"flux_true_{b}"])
        stamp = np.array([t["CENTRAL"][1][j].sum(dtype=float) for t in truths])
        assert np.allclose(table[f"flux_stamp_{b}"], stamp, rtol=1e-5)
        assert np.allclose(table[f"mag_true_{b}"], MAGZP - 2.5 * np.log10(true))
        ratio = stamp / true
        # the stamp holds the profile but for its far wings: all of a small galaxy,
        # and never more than the total
        assert np.all(ratio < 1.0005) and np.all(ratio > 0.85), ratio
        small = np.asarray(table["r_half"]) < 0.5
        assert small.sum() >= 5 and np.all(ratio[small] > 0.98), ratio[small]
        assert np.median(ratio) > 0.99
    # the i-band magnitude is the one drawn for the central (truth header MAGI_1)
    magi = [t["PRIMARY"][0]["MAGI_1"] for t in truths]
    assert np.allclose(table["mag_true_i"], magi, atol=1e-4)


def test_central_position(sim):
    _, table, _, truths = sim
    c = (SIZE - 1) / 2
    x, y = np.asarray(table["x_true"]), np.asarray(table["y_true"])
    assert np.all(np.abs(x - c) <= 0.5) and np.all(np.abs(y - c) <= 0.5)
    yy, xx = np.mgrid[:SIZE, :SIZE]
    for i, t in enumerate(truths):
        hdr = t["PRIMARY"][0]
        assert np.isclose(hdr["X_1"], x[i], atol=1e-4) and np.isclose(hdr["Y_1"], y[i], atol=1e-4)
        if table["r_half"][i] < 0.6:  # light-weighted centre of the noiseless central
            img = t["CENTRAL"][1].sum(axis=0, dtype=float)
            assert abs((img * xx).sum() / img.sum() - x[i]) < 0.05
            assert abs((img * yy).sum() / img.sum() - y[i]) < 0.05


def test_segmentation(sim):
    _, table, _, truths = sim
    owned = []
    for i, t in enumerate(truths):
        seg, gals = t["SEGMENTATION"][1], t["GALAXIES"][1].astype(float)
        ngal, threshold = int(table["n_galaxies"][i]), t["PRIMARY"][0]["SEGTHR"]
        assert 0 < threshold < 10
        assert seg.min() >= 0 and seg.max() <= ngal
        # the central owns the stamp centre and the pixel holding its own centre
        assert seg[SIZE // 2, SIZE // 2] == 1
        assert seg[int(round(table["y_true"][i])), int(round(table["x_true"][i]))] == 1
        det = gals.sum(axis=1)
        central = seg == 1
        assert np.all(det[0][central] >= det[1:][:, central].max(axis=0))
        assert np.all(det[0][central] > threshold)
        # every label is the brightest galaxy above threshold there (float32 round-off)
        expected = np.where(det.max(axis=0) > threshold, det.argmax(axis=0) + 1, 0)
        assert np.mean(expected == seg) > 0.999
        assert (seg == 0).any()
        owned.append((seg >= 2).any())
    # (a faint neighbour may sit wholly inside a bright central's light)
    assert np.mean(owned) > 0.8


def test_separations_and_blendedness(sim):
    _, table, _, truths = sim
    s = np.asarray(table["separation_rhalf"])
    assert np.any(s < 1) and np.any(s > 2)
    assert np.all((s >= SEP_RHALF[0] - 1e-9) & (s <= SEP_RHALF[1] + 1e-9))
    for i, t in enumerate(truths):
        hdr = t["PRIMARY"][0]
        ngal = hdr["NGAL"]
        xy = np.array([[hdr[f"X_{k}"], hdr[f"Y_{k}"]] for k in range(1, ngal + 1)])
        assert np.all((xy[1:] >= EDGE) & (xy[1:] <= SIZE - 1 - EDGE))
        dist = np.hypot(*(xy[1:] - xy[0]).T) * 0.2
        k = 2 + int(np.argmin(dist))  # label of the nearest neighbour
        assert np.isclose(table["separation"][i], dist.min(), atol=1e-3)
        r_sum = hdr["RHALF_1"] + hdr[f"RHALF_{k}"]
        assert np.isclose(table["separation_rhalf"][i], dist.min() / r_sum, rtol=1e-3)
        assert np.isclose(table["delta_mag"][i], hdr["MAGI_1"] - hdr[f"MAGI_{k}"], atol=1e-3)
        assert np.isclose(table["r_half"][i], hdr["RHALF_1"], atol=1e-4)
        c = t["CENTRAL"][1].sum(axis=0, dtype=float)
        o = t["OTHERS"][1].sum(axis=0, dtype=float)
        blend = 1 - (c * c).sum() / (c * (c + o)).sum()
        assert np.isclose(table["blendedness"][i], blend, atol=1e-5)
    b = np.asarray(table["blendedness"])
    assert b.min() < 0.05 and b.max() > 0.3


def test_small_stamps_without_galaxies(tmp_path):
    size = 20  # neighbours often do not fit at their drawn separation: edge placement
    table = simulate_deblend(6, 11, tmp_path, size=size, bands=("r", "i", "z"), galaxies=False)
    assert "flux_true_z" in table.colnames and table.meta["BANDS"] == "r,i,z"
    for i in range(len(table)):
        assert fits.getdata(tmp_path / table["file"][i]).shape == (3, size, size)
        t = _read_truth(tmp_path / table["truth_file"][i])
        assert list(t) == ["PRIMARY", "CENTRAL", "OTHERS", "SEGMENTATION"]
        seg, hdr = t["SEGMENTATION"][1], t["PRIMARY"][0]
        assert seg[size // 2, size // 2] == 1 and seg.max() <= table["n_galaxies"][i]
        for k in range(2, hdr["NGAL"] + 1):
            assert EDGE - 1e-6 <= hdr[f"X_{k}"] <= size - 1 - EDGE + 1e-6
            assert EDGE - 1e-6 <= hdr[f"Y_{k}"] <= size - 1 - EDGE + 1e-6


@pytest.mark.parametrize("shape", [(128, 128), (64, 96)])
def test_field(tmp_path, shape):
    out = tmp_path / "field.fits"
    truth = simulate_field(5, out, shape=shape, n_galaxies=12)
    assert len(truth) == 12 and list(truth["id"]) == list(range(12))
    for c in ("x", "y", "ra", "dec", "flux_true_g", "flux_true_r", "flux_true_i"):
        assert c in truth.colnames
    on_disk = Table.read(tmp_path / "field_truth.fits")
    assert _tables_equal(truth, on_disk) and on_disk.meta["FIELD"] == "field.fits"
    with fits.open(out) as hdul:
        hdul.verify("exception")
        image, hdr = hdul[0].data, hdul[0].header
    assert image.shape == (3, *shape) and image.dtype == np.dtype(">f4")
    assert hdr["BANDS"] == "g,r,i" and hdr["NGAL"] == 12 and hdr["BUNIT"] == "nJy"
    wcs = WCS(hdr, naxis=2)
    assert wcs.has_celestial and wcs.wcs.ctype[0] == "RA---TAN"
    # the reference pixel is the field centre
    centre = wcs.pixel_to_world((shape[1] - 1) / 2, (shape[0] - 1) / 2)
    assert np.isclose(centre.ra.deg, hdr["CRVAL1"]) and np.isclose(centre.dec.deg, hdr["CRVAL2"])
    sky = wcs.pixel_to_world(truth["x"], truth["y"])
    assert np.allclose(sky.ra.deg, truth["ra"], atol=1e-9)
    assert np.allclose(sky.dec.deg, truth["dec"], atol=1e-9)
    x, y = np.asarray(truth["x"]), np.asarray(truth["y"])
    assert np.all((x >= EDGE) & (x <= shape[1] - 1 - EDGE))
    assert np.all((y >= EDGE) & (y <= shape[0] - 1 - EDGE))
    # galaxies are where the truth says: flux peaks near the brightest one
    j = int(np.argmax(truth["flux_true_i"]))
    xi, yi = int(round(x[j])), int(round(y[j]))
    patch = image[2, max(yi - 3, 0) : yi + 4, max(xi - 3, 0) : xi + 4]
    assert patch.max() > 20 * sky_sigma(0.2)[3]
    # total light: the galaxies (but for what falls off the edges) plus zero-mean noise
    ratio = image[2].sum(dtype=float) / truth["flux_true_i"].sum()
    assert 0.6 < ratio < 1.05
    assert out.read_bytes() == _again(tmp_path, shape)


def _again(tmp_path, shape):
    simulate_field(5, tmp_path / "again.fits", shape=shape, n_galaxies=12)
    return (tmp_path / "again.fits").read_bytes()


def test_card_format():
    for value in (91.83786053319113, -1.2345678901234567e-100, 3.0, 7, True, "it's", "g,r,i"):
        card = fits.Card.fromstring(_card("KEY", value, "a comment"))
        card.verify("exception")
        assert card.comment == "a comment"
        if isinstance(value, float):  # (20 characters: 13 digits for the tiny one)
            assert np.isclose(card.value, value, rtol=1e-12, atol=0)
        else:
            assert card.value == value
    assert fits.Card.fromstring(_card("KEY", 91.83786053319113)).value == 91.83786053319113
    assert len(_card("KEY", "x" * 100)) == 80


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(n=0), "n must be"),
        (dict(n=1.5), "n must be"),
        (dict(seed=-1), "seed must be"),
        (dict(size=8), "size must be"),
        (dict(pixel_scale=-0.2), "pixel_scale must be"),
        (dict(bands=("g", "g")), "bands must be"),
        (dict(bands=("K",)), "bands must be"),
        (dict(bands=()), "bands must be"),
    ],
)
def test_bad_arguments(tmp_path, kwargs, match):
    args = dict(n=2, seed=0, outdir=tmp_path) | kwargs
    with pytest.raises(ValueError, match=match):
        simulate_deblend(**args)
    assert not (tmp_path / "catalog.fits").exists()


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(shape=(8, 64)), "shape must be"),
        (dict(shape=(64,)), "shape must be"),
        (dict(shape=(64.0, 64)), "shape must be"),
        (dict(n_galaxies=0), "n_galaxies must be"),
        (dict(seed=-3), "seed must be"),
        (dict(pixel_scale=0), "pixel_scale must be"),
        (dict(bands=("g", "Q")), "bands must be"),
    ],
)
def test_field_bad_arguments(tmp_path, kwargs, match):
    args = dict(seed=0, out_path=tmp_path / "f.fits") | kwargs
    with pytest.raises(ValueError, match=match):
        simulate_field(**args)
    assert not (tmp_path / "f.fits").exists()
