"""Tests for the strong-lens simulator `astrocnn.tasks.lens.simulate`."""

import numpy as np
import pytest
from astropy.io import fits
from astropy.table import Table
from astropy.wcs import WCS

from astrocnn.tasks.lens.simulate import simulate_lens

N, SEED, SIZE = 12, 7, 64
COLUMNS = [
    "id",
    "file",
    "label",
    "kind",
    "theta_e",
    "src_mag_i",
    "lens_mag_i",
    "arc_snr",
    "psf_fwhm_i",
    "ra",
    "dec",
]


@pytest.fixture(scope="module")
def sim(tmp_path_factory):
    outdir = tmp_path_factory.mktemp("sim")
    return outdir, simulate_lens(N, SEED, outdir)


def _cubes(outdir, table):
    return np.stack([fits.getdata(outdir / f) for f in table["file"]])


def _column(table, name):
    col = np.asarray(table[name])
    return col.astype(str) if col.dtype.kind in "SU" else col  # FITS strings read as bytes


def _tables_equal(a, b):
    return all(
        np.array_equal(_column(a, c), _column(b, c), equal_nan=a[c].dtype.kind == "f")
        for c in COLUMNS
    )


def test_catalogue_and_files(sim):
    outdir, table = sim
    assert table.colnames == COLUMNS
    assert table["id"].dtype == np.int64 and table["label"].dtype == np.int16
    assert list(table["id"]) == list(range(N))
    assert set(table["label"]) == {0, 1}
    assert set(table["kind"]) <= {"lens", "elliptical", "spiral", "companion"}
    assert np.all((table["label"] == 1) == (table["kind"] == "lens"))
    assert table.meta["SIMULATR"] == "astrocnn.tasks.lens.simulate" and table.meta["SEED"] == SEED
    assert table.meta["BANDS"] == "g,r,i,z" and table.meta["PIXSCALE"] == 0.2
    on_disk = Table.read(outdir / "catalog.fits", mask_invalid=False)
    assert _tables_equal(table, on_disk)
    assert sorted(p.name for p in outdir.iterdir()) == ["catalog.fits", "cutouts"]
    assert len(list((outdir / "cutouts").iterdir())) == N  # no temp files left
    for f in table["file"]:
        assert not f.startswith("/") and (outdir / f).is_file()
    cubes = _cubes(outdir, table)
    assert cubes.shape == (N, 4, SIZE, SIZE) and cubes.dtype.kind == "f"
    assert cubes.dtype.itemsize == 4 and np.isfinite(cubes).all()
    neg = table["label"] == 0
    assert np.all(table["theta_e"][neg] == 0) and np.all(table["arc_snr"][neg] == 0)
    assert np.all(np.isnan(table["src_mag_i"][neg]))
    assert np.all((table["psf_fwhm_i"] >= 0.7) & (table["psf_fwhm_i"] <= 1.2))


def test_positives_have_detectable_arcs(sim):
    lenses = sim[1][sim[1]["label"] == 1]
    assert len(lenses) == N // 2
    assert np.all(lenses["arc_snr"] >= 20.0)
    assert np.all((lenses["theta_e"] >= 0.8) & (lenses["theta_e"] <= 3.0))
    assert np.all(np.isfinite(lenses["src_mag_i"]))


def test_deterministic(sim, tmp_path):
    outdir, table = sim
    again = simulate_lens(N, SEED, tmp_path / "a")
    assert _tables_equal(table, again)
    assert np.array_equal(_cubes(outdir, table), _cubes(tmp_path / "a", again))
    other = simulate_lens(N, SEED + 1, tmp_path / "b")
    assert not np.array_equal(_cubes(outdir, table), _cubes(tmp_path / "b", other))


def test_header_and_wcs(sim):
    outdir, table = sim
    row = table[0]
    hdr = fits.getheader(outdir / row["file"])
    assert hdr["BANDS"] == "g,r,i,z" and hdr["PIXSCALE"] == 0.2 and hdr["MAGZP"] == 30
    assert hdr["OBJECT"] == "0" and hdr["PSF_I"] == pytest.approx(row["psf_fwhm_i"], abs=1e-4)
    assert all(f"PSF_{b}" in hdr for b in "GRIZ")
    wcs = WCS(hdr, naxis=2)  # WCSAXES=2 in a 3-D (band, y, x) cube
    assert wcs.naxis == 2 and wcs.has_celestial and WCS(hdr).celestial.naxis == 2
    centre = wcs.pixel_to_world((SIZE - 1) / 2, (SIZE - 1) / 2)
    assert centre.ra.deg == pytest.approx(row["ra"]) and centre.dec.deg == pytest.approx(row["dec"])
    assert np.allclose(np.abs(wcs.proj_plane_pixel_scales()[0].to_value("arcsec")), 0.2)


def test_arcs_add_blue_light_around_einstein_radius(tmp_path):
    """Blue (g) light in an annulus at theta_E: lenses have it, plain ellipticals don't."""
    table = simulate_lens(60, 0, tmp_path)
    cubes = _cubes(tmp_path, table).astype(float)
    yy, xx = np.indices((SIZE, SIZE))
    radius = np.hypot(xx - (SIZE - 1) / 2, yy - (SIZE - 1) / 2) * 0.2
    lens, ell = table["label"] == 1, table["kind"] == "elliptical"
    assert lens.sum() == 30 and ell.sum() >= 10

    def annulus_g_i(cube, theta_e):
        ring = np.abs(radius - theta_e) < 0.5
        return cube[0][ring].sum(), cube[2][ring].sum()

    g_l, i_l = np.transpose(
        [annulus_g_i(c, t) for c, t in zip(cubes[lens], table["theta_e"][lens])]
    )
    theta_ref = np.median(table["theta_e"][lens])
    g_e, i_e = np.transpose([annulus_g_i(c, theta_ref) for c in cubes[ell]])
    # g flux in excess of a red early type (g - i ~ 1.5, g/i ~ 0.25), in ADU
    excess_lens, excess_ell = np.mean(g_l - 0.25 * i_l), np.mean(g_e - 0.25 * i_e)
    assert abs(excess_ell) < 150 and excess_lens > excess_ell + 300
    assert np.median(g_l / i_l) > np.median(g_e / i_e) + 0.03


def test_progress_bar_on_stderr(tmp_path, capsys):
    simulate_lens(2, 0, tmp_path, progress=True)
    assert "simulate_lens" in capsys.readouterr().err


@pytest.mark.parametrize(
    "kwargs",
    [
        dict(n=0),
        dict(n=2.5),
        dict(seed=-1),
        dict(size=8),
        dict(pixel_scale=0.0),
        dict(bands=("g", "y")),
        dict(bands=("g", "g")),
        dict(bands=()),
        dict(lens_fraction=1.5),
        dict(min_arc_snr=-1.0),
    ],
)
def test_bad_arguments_raise(tmp_path, kwargs):
    args = dict(n=2, seed=0, outdir=tmp_path) | kwargs
    with pytest.raises(ValueError):
        simulate_lens(**args)
