"""Tests for the photometric-redshift simulator `astrocnn.tasks.photoz.simulate`."""

import astropy.units as u
import numpy as np
import pytest
from astropy.io import fits
from astropy.table import Table
from astropy.wcs import WCS

pytest.importorskip("galsim")

from astrocnn.sim.lsst import sky_sigma  # noqa: E402
from astrocnn.tasks.photoz.simulate import (  # noqa: E402
    ALL_BANDS,
    COSMOLOGY,
    MAGZP,
    SED_TYPES,
    angular_size,
    band_magnitudes,
    ccm89,
    igm_transmission,
    redshift_scale,
    sample_magnitude,
    sample_redshift,
    simulate_photoz,
)

N, SEED, SIZE = 30, 7, 32
MAGS = [f"mag_{b}" for b in ALL_BANDS]
OBS = [f"obs_mag_{b}" for b in ALL_BANDS] + [f"obs_magerr_{b}" for b in ALL_BANDS]
COLUMNS = ["id", "file", "z", "sed_type", "bulge_fraction", *MAGS, *OBS]
COLUMNS += ["r_half", "ebv", "ra", "dec"]


@pytest.fixture(scope="module")
def sim(tmp_path_factory):
    outdir = tmp_path_factory.mktemp("photoz")
    table = simulate_photoz(N, SEED, outdir)
    cubes = np.stack([fits.getdata(outdir / f) for f in table["file"]])
    return outdir, table, cubes


def _column(table, name):
    col = np.asarray(table[name])
    return col.astype(str) if col.dtype.kind in "SU" else col  # FITS strings read as bytes


def _tables_equal(a, b):
    return a.colnames == b.colnames and all(
        np.array_equal(_column(a, c), _column(b, c)) for c in a.colnames
    )


def test_catalogue_columns_units_and_meta(sim):
    outdir, table, _ = sim
    assert table.colnames == COLUMNS
    assert table["id"].dtype == np.int64 and list(table["id"]) == list(range(N))
    assert list(table["file"]) == [f"cutouts/photoz_{i:06d}.fits" for i in range(N)]
    for c in [*MAGS, *OBS, "ebv"]:
        assert table[c].unit == u.mag
    assert table["r_half"].unit == u.arcsec
    assert table["ra"].unit == u.deg and table["dec"].unit == u.deg
    assert table["z"].unit is None
    meta = table.meta
    assert meta["SIMULATR"] == "astrocnn.tasks.photoz.simulate" and meta["SEED"] == SEED
    assert meta["PIXSCALE"] == 0.2 and meta["BANDS"] == "u,g,r,i,z,y"
    assert meta["ZMAX"] == 3.0 and meta["MAGZP"] == MAGZP == 31.4
    assert np.all((table["z"] > 0.01) & (table["z"] < 3.0))
    assert np.all((table["mag_i"] >= 18) & (table["mag_i"] <= 25))
    assert np.all((table["ebv"] >= 0) & (table["ebv"] <= 0.3))
    assert np.all((table["r_half"] > 0.02) & (table["r_half"] <= 0.3 * SIZE * 0.2 + 1e-9))
    sed = _column(table, "sed_type")
    assert set(sed) <= set(SED_TYPES)
    frac = np.asarray(table["bulge_fraction"])
    assert np.all((frac >= 0) & (frac <= 1)) and np.all(frac[sed == "Im"] == 0)
    assert np.all(frac[sed == "E"] >= 0.6)
    assert np.all(table["obs_magerr_i"] > 0)
    on_disk = Table.read(outdir / "catalog.fits")
    assert _tables_equal(table, on_disk)
    assert on_disk.meta["SIMULATR"] == "astrocnn.tasks.photoz.simulate"


def test_fits_cutouts(sim):
    outdir, table, cubes = sim
    assert cubes.shape == (N, 6, SIZE, SIZE) and np.all(np.isfinite(cubes))
    with fits.open(outdir / table["file"][4]) as hdul:
        assert hdul[0].data.dtype == np.dtype(">f4")
        hdr = hdul[0].header
        assert hdr["BANDS"] == "u,g,r,i,z,y" and hdr["PIXSCALE"] == 0.2
        assert hdr["MAGZP"] == MAGZP and hdr["BUNIT"] == "nJy" and hdr["OBJECT"] == "4"
        assert np.isclose(hdr["EBV"], table["ebv"][4], atol=1e-5)
        fwhm = [hdr[f"PSF_{b.upper()}"] for b in ALL_BANDS]
        assert all(0.5 < f < 1.0 for f in fwhm) and fwhm[0] > fwhm[-1]  # worse seeing in u
        ra, dec = WCS(hdr, naxis=2).wcs_pix2world([[(SIZE - 1) / 2, (SIZE - 1) / 2]], 0)[0]
        assert np.isclose(ra, table["ra"][4]) and np.isclose(dec, table["dec"][4])


def test_determinism(sim, tmp_path):
    outdir, table, cubes = sim
    again = simulate_photoz(10, SEED, tmp_path / "a")  # per-object streams: a prefix
    assert _tables_equal(table[:10], again)
    for f in again["file"]:
        assert (outdir / f).read_bytes() == (tmp_path / "a" / f).read_bytes()
    other = simulate_photoz(3, SEED + 1, tmp_path / "b")
    assert not np.array_equal(np.asarray(other["z"]), np.asarray(table["z"][:3]))
    assert not np.array_equal(fits.getdata(tmp_path / "b" / other["file"][0]), cubes[0])


def test_band_subset(tmp_path):
    table = simulate_photoz(3, 1, tmp_path, bands=("g", "r", "i"), size=24)
    assert fits.getdata(tmp_path / table["file"][0]).shape == (3, 24, 24)
    assert "obs_mag_r" in table.colnames and "obs_mag_u" not in table.colnames
    assert all(c in table.colnames for c in MAGS)  # true magnitudes in every band
    assert table.meta["BANDS"] == "g,r,i"


def test_redshift_sampler():
    rng = np.random.default_rng(0)
    # p(z | i) ~ z^2 exp(-z / z0): Gamma(3, z0), P(z < z0) = 1 - 2.5 / e, P(z < 3 z0)
    z0 = redshift_scale(24.0)
    z = sample_redshift(rng, np.full(100_000, 24.0))
    assert abs(z.mean() - 3 * z0) < 0.006
    assert abs(np.mean(z < z0) - (1 - 2.5 / np.e)) < 0.004
    assert abs(np.mean(z < 3 * z0) - (1 - 8.5 * np.exp(-3))) < 0.006
    mode = np.argmax(np.histogram(z, bins=np.arange(0, 3, 0.05))[0]) * 0.05 + 0.025
    assert abs(mode - 2 * z0) < 0.08
    # the whole sample: counts rising to i = 25, mean redshift ~0.73, fainter is deeper
    mag = sample_magnitude(rng, 100_000)
    assert mag.min() >= 18 and mag.max() <= 25
    assert abs(np.mean(mag > 24) - (1 - 10**-0.3) / (1 - 10**-2.1)) < 0.006
    z = sample_redshift(rng, mag)
    assert z.min() > 0.01 and z.max() < 3.0
    assert 0.70 < z.mean() < 0.75 and 0.6 < np.median(z) < 0.66
    means = [z[(mag > m) & (mag < m + 1)].mean() for m in (19, 21, 23, 24)]
    assert np.all(np.diff(means) > 0.05)


def test_colours_vs_redshift():
    def colour(sed, z, a, b):
        m = band_magnitudes(sed, z)
        return m[ALL_BANDS.index(a)] - m[ALL_BANDS.index(b)]

    # the 4000 A break of an elliptical moves from g/r (z ~ 0.1) to r/i (z ~ 0.8)
    assert colour("E", 0.8, "g", "r") > colour("E", 0.1, "g", "r") + 0.5
    assert colour("E", 0.8, "r", "i") > colour("E", 0.1, "r", "i") + 0.5
    assert 0.7 < colour("E", 0.1, "g", "r") < 1.1
    # later types are bluer
    gr = [colour(t, 0.1, "g", "r") for t in SED_TYPES]
    assert np.all(np.diff(gr) < 0)
    mags = band_magnitudes("Sbc", 0.5, mag_i=22.0)
    assert mags[3] == pytest.approx(22.0)


def test_angular_size_shrinks_with_redshift():
    assert angular_size(5.0, 1.2) < 0.65 * angular_size(5.0, 0.3)
    for z in (0.3, 1.2, 2.5):
        exact = 5.0 * COSMOLOGY.arcsec_per_kpc_proper(z).to_value(u.arcsec / u.kpc)
        assert angular_size(5.0, z) == pytest.approx(exact, rel=1e-3)


def test_image_flux_matches_mag_i(sim):
    _, table, cubes = sim
    expected = 10 ** (-0.4 * (np.asarray(table["mag_i"]) - MAGZP))
    total = cubes[:, 3].sum(axis=(1, 2))
    noise = np.sqrt(SIZE**2 * sky_sigma(0.2)[3] ** 2 + expected / 10.0)  # (photon: generous)
    # within noise, allowing a little light outside the stamp
    assert np.all(total > 0.9 * expected - 4 * noise), (total, expected)
    assert np.all(total < expected + 4 * noise), (total, expected)
    bright = expected > 30 * noise
    assert bright.sum() >= 3 and np.all(np.abs(total / expected - 1)[bright] < 0.1)
    # fitted magnitudes scatter around the truth as their errors say
    pull = (np.asarray(table["obs_mag_i"]) - table["mag_i"]) / table["obs_magerr_i"]
    assert np.mean(np.abs(pull) < 3) > 0.9 and abs(np.median(pull)) < 0.7


def test_reddening():
    assert ccm89(550.0) == pytest.approx(1.0, abs=0.01)  # A_V / A_V
    assert ccm89(440.0) - ccm89(550.0) == pytest.approx(1 / 3.1, rel=0.05)  # E(B-V) / A_V
    clean = band_magnitudes("Sbc", 0.5, 0.0, mag_i=22.0)
    red = band_magnitudes("Sbc", 0.5, 0.2, mag_i=22.0)
    u_g = (red[0] - red[1]) - (clean[0] - clean[1])
    assert 0.17 < u_g < 0.3  # 0.2 * (A_u - A_g) / E(B-V), A_u - A_g ~ 1.2 E(B-V)
    assert np.all(np.diff(red - clean) < 0)  # redder at every step


def test_igm_lyman_break():
    wave = np.array([330.0, 380.0, 470.0, 600.0])
    t = igm_transmission(wave, 2.9)
    # Lyman continuum below 91.2 nm (1 + z) = 356 nm, forest below 474 nm, none above
    assert t[0] < 0.3 < t[0] + 0.2 < t[1] < 0.9 and 0.5 < t[2] < 0.9 and t[3] == 1.0
    assert np.all(igm_transmission(wave, 1.5) == 1.0)
    m = band_magnitudes("Im", 2.9)
    assert m[0] - m[1] > band_magnitudes("Im", 2.0)[0] - band_magnitudes("Im", 2.0)[1] + 0.5


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(n=0), "n must be"),
        (dict(n=2.5), "n must be"),
        (dict(seed=-1), "seed must be"),
        (dict(size=8), "size must be"),
        (dict(pixel_scale=0.0), "pixel_scale must be"),
        (dict(bands=("g", "g")), "bands must be"),
        (dict(bands=("K",)), "bands must be"),
    ],
)
def test_bad_arguments(tmp_path, kwargs, match):
    args = dict(n=2, seed=0, outdir=tmp_path) | kwargs
    with pytest.raises(ValueError, match=match):
        simulate_photoz(**args)
    assert not (tmp_path / "catalog.fits").exists()
