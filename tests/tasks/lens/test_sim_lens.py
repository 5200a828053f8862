"""Tests for the strong-lens simulator `astrocnn.tasks.lens.simulate`."""

import numpy as np
import pytest
from astropy.io import fits
from astropy.stats import mad_std
from astropy.table import Table
from astropy.wcs import WCS

from astrocnn.io.contract import header_contract, measured_noise
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
        dict(zero_point=float("nan")),
        dict(zero_point="27"),
        dict(depth_offset=float("inf")),
        dict(depth_offset=None),
    ],
)
def test_bad_arguments_raise(tmp_path, kwargs):
    args = dict(n=2, seed=0, outdir=tmp_path) | kwargs
    with pytest.raises(ValueError):
        simulate_lens(**args)


def _noise(outdir, table):
    """Stated (SKYSIG_<BAND>) and measured background noise sigma per band: the
    `measured_noise` of the 4-pixel frame, and from differences of adjacent pixels
    there (light of the galaxies, which can reach the frame, cancels)."""
    header = fits.getheader(outdir / table["file"][0])
    stated = [e["noise_sigma"] for e in header_contract(header, "griz")]
    cubes = _cubes(outdir, table).astype(float)
    measured = measured_noise(np.moveaxis(cubes, 1, -1))
    rows = np.concatenate([cubes[:, :, :4], cubes[:, :, -4:]], axis=2)
    diff = (rows[..., 1:] - rows[..., :-1]).swapaxes(0, 1).reshape(cubes.shape[1], -1)
    differences = [mad_std(d) / np.sqrt(2) for d in diff]
    return np.array(stated), np.array(measured), np.array(differences)


def test_header_states_the_noise(sim):
    outdir, table = sim
    hdr = fits.getheader(outdir / table["file"][0])
    assert [k for k in hdr if k.startswith("SKYSIG")] == [f"SKYSIG_{b}" for b in "GRIZ"]
    assert hdr.comments["SKYSIG_I"] == "background noise sigma [ADU]"
    # i: 10-sigma depth 24.0 (F = 10**(0.4 * 6) ADU) at 0.9" seeing, matched filter
    sigma_psf = 0.9 / (2 * np.sqrt(2 * np.log(2)) * 0.2)
    assert hdr["SKYSIG_I"] == pytest.approx(10**2.4 / (np.sqrt(4 * np.pi) * sigma_psf * 10), 1e-5)
    stated, measured, differences = _noise(outdir, table)
    assert np.allclose(measured, stated, rtol=0.1)
    assert np.allclose(differences, stated, rtol=0.05)
    assert "FILTER" not in hdr and table.meta["MAGZP"] == 30 and table.meta["DEPTHOFF"] == 0


def test_other_survey_setup(sim, tmp_path):
    """HSC-like pixels, another zero point and 2 mag deeper: the cards say so and the
    noise is what the physics gives."""
    outdir, table = sim
    setup = dict(pixel_scale=0.168, size=76, zero_point=27.0, depth_offset=2.0)
    other = simulate_lens(8, SEED, tmp_path, **setup)
    hdr = fits.getheader(tmp_path / other["file"][0])
    assert hdr["PIXSCALE"] == 0.168 and hdr["MAGZP"] == 27 and hdr["BUNIT"] == "ADU"
    assert hdr["NAXIS1"] == hdr["NAXIS2"] == 76
    assert other.meta["PIXSCALE"] == 0.168 and other.meta["MAGZP"] == 27
    assert other.meta["DEPTHOFF"] == 2
    for entry in header_contract(hdr, "griz"):
        assert entry["pixel_scale"] == pytest.approx(0.168) and entry["zero_point"] == 27
    # sky-limited sigma per pixel: flux of the depth (unit 10**(-0.4 * 3) times the
    # default's, 2 mag fainter) times the pixel scale (sky per pixel ~ pixel area)
    factor = 10 ** (-0.4 * 3) * 10 ** (-0.4 * 2) * 0.168 / 0.2
    default_sigma = _noise(outdir, table)[0]
    stated, measured, differences = _noise(tmp_path, other)
    assert np.allclose(stated, factor * default_sigma, rtol=1e-4)
    # at this depth the wings of bright galaxies in the frame add to measured_noise
    assert np.all((measured > 0.9 * stated) & (measured < 1.15 * stated))
    assert np.allclose(differences, stated, rtol=0.05)


def test_zero_point_only_changes_the_unit(tmp_path):
    """Same seed, another zero point: the same scenes and noise, in another unit."""
    default = simulate_lens(4, SEED, tmp_path / "a")
    other = simulate_lens(4, SEED, tmp_path / "b", zero_point=27.5)
    scale = 10 ** (-0.4 * 2.5)
    got, want = _cubes(tmp_path / "b", other), _cubes(tmp_path / "a", default)
    assert np.allclose(got, scale * want, rtol=1e-4, atol=1e-4 * scale)
    assert np.allclose(other["src_mag_i"], default["src_mag_i"], equal_nan=True)
