"""Painting-baryons training data: dark-matter-only maps and the gas maps that go with them.

Pairs of 2-D maps in the spirit of Tröster et al. (2019), Thiele et al. (2020) and the
CAMELS multifield data set (Villaescusa-Navarro et al. 2022): a U-Net learns to map a
projected dark-matter density to projected gas density, temperature and neutral-hydrogen
maps. Each map is a periodic box: a Gaussian random field with an Eisenstein & Hu (1998)
linear power spectrum is evolved with the (truncated) Zel'dovich approximation, deposited
on a grid, and painted with a gas model that is non-local (pressure smoothing, shock
heating decided by the surrounding structure) and non-linear (temperature-density
relation, hot phase, photo-ionisation equilibrium) in 3-D before projection; see
`simulate_paint` for the models. All lengths are comoving, in Mpc/h.
"""

import functools
import os
import sys

import numpy as np
from astropy.io import fits
from scipy import fft
from scipy.integrate import quad
from tqdm import tqdm

from astrocnn.sim.common import catalogue, check_args, is_int, is_number, write_atomic, write_fits

# cosmology (flat LambdaCDM)
OMEGA_M = 0.3
OMEGA_B = 0.049
HUBBLE = 0.7  # h = H0 / (100 km/s/Mpc)
N_S = 0.965
SIGMA_8 = 0.8  # rms linear overdensity at z = 0 in top-hat spheres of radius 8 Mpc/h
T_CMB = 2.7255  # K
# dark matter
REDSHIFT = 1.0  # output redshift: growth D(1) = 0.612 of today's
TRUNCATION_RADIUS = 0.8  # Mpc/h, Gaussian truncation of the initial spectrum (TZA)
# gas
FILTER_SCALE = 0.3  # Mpc/h, 1 / k_F of the pressure filter exp(-k^2 / k_F^2)
DM_FLOOR = 1e-2  # smallest DM map value [mean]: columns of a thin slab no particle enters
GAS_FLOOR = 1e-3  # smallest gas density [mean baryon density] (filter ringing)
T0 = 1.0e4  # K, temperature of photo-ionised gas at the mean density
GAMMA = 1.5  # slope of the temperature-density relation T = T0 (1 + delta)^(GAMMA - 1)
SHOCK_RADIUS = 1.0  # Mpc/h, Gaussian radius of the density that decides shock heating
SHOCK_DENSITY = 2.5  # DM density smoothed over SHOCK_RADIUS [mean] where half the gas is hot
SHOCK_SHARPNESS = 4.0  # exponent of the smooth step in the smoothed density
T_SHOCK = 1.0e6  # K, shock temperature at SHOCK_DENSITY
SHOCK_SLOPE = 2.0 / 3.0  # T_hot ~ (smoothed density)^SHOCK_SLOPE (virial, T ~ M^(2/3))
T_MAX = 1.0e8  # K, cap of the hot phase
HI_SLOPE = -0.7  # recombination coefficient alpha(T) ~ T^-0.7
# output
CHANNELS = ("GAS_DENSITY", "TEMPERATURE", "HI_DENSITY")
NPY_FIELDS = {"DM": "DM_DENSITY", "Mgas": "GAS_DENSITY", "T": "TEMPERATURE", "HI": "HI_DENSITY"}
MAX_SIZE = 256
_RHO_CRIT = 1.87847e-29  # g / cm^3 / h^2, critical density today


# ---------------------------------------------------------------------------------------
# linear theory


def transfer_eh(k):
    """Eisenstein & Hu (1998) no-wiggle transfer function (their eqs. 26, 28-31).

    ``k`` in h/Mpc; cosmology ``OMEGA_M``, ``OMEGA_B``, ``HUBBLE``, ``T_CMB``. The
    baryon suppression is kept through the scale-dependent shape parameter
    ``Gamma_eff(k)``; the acoustic oscillations are not. ``T(0) = 1``.
    """
    k = np.asarray(k, float)
    om_h2, ob_h2, f_b = OMEGA_M * HUBBLE**2, OMEGA_B * HUBBLE**2, OMEGA_B / OMEGA_M
    theta2 = (T_CMB / 2.7) ** 2
    s = 44.5 * np.log(9.83 / om_h2) / np.sqrt(1.0 + 10.0 * ob_h2**0.75)  # Mpc, eq. 26
    alpha = 1.0 - 0.328 * np.log(431.0 * om_h2) * f_b + 0.38 * np.log(22.3 * om_h2) * f_b**2
    ks = 0.43 * k * HUBBLE * s  # k in 1/Mpc times s
    gamma_eff = OMEGA_M * HUBBLE * (alpha + (1.0 - alpha) / (1.0 + ks**4))  # eq. 30
    q = k * theta2 / gamma_eff  # eq. 28
    ln = np.log(2.0 * np.e + 1.8 * q)
    c = 14.2 + 731.0 / (1.0 + 62.5 * q)
    return ln / (ln + c * q * q)  # eq. 29


def growth_factor(z):
    """Linear growth factor ``D(z) / D(0)`` of flat LambdaCDM (``OMEGA_M``), from the
    growing-mode integral ``D ~ H(a) int_0^a da' / (a' H(a'))^3`` (Heath 1977)."""

    def e(a):
        return np.sqrt(OMEGA_M / a**3 + 1.0 - OMEGA_M)

    def d(a):
        return e(a) * quad(lambda x: (x * e(x)) ** -3, 0.0, a)[0]

    return float(d(1.0 / (1.0 + z)) / d(1.0))


def _tophat(x):
    x = np.asarray(x, float)
    small = x < 1e-3
    xs = np.where(small, 1.0, x)
    return np.where(small, 1.0 - x**2 / 10.0, 3.0 * (np.sin(xs) - xs * np.cos(xs)) / xs**3)


_LNK = np.linspace(np.log(1e-5), np.log(1e3), 8001)  # integration grid [ln(h/Mpc)]


def _sigma2_unnormalised(r):
    k = np.exp(_LNK)
    integrand = k ** (3.0 + N_S) * transfer_eh(k) ** 2 * _tophat(k * r) ** 2
    return float(np.trapezoid(integrand, _LNK) / (2.0 * np.pi**2))


@functools.cache
def _amplitude():
    return SIGMA_8**2 / _sigma2_unnormalised(8.0)


def linear_power(k, z=0.0):
    """Linear matter power spectrum ``P(k) = A k^n_s T(k)^2 D(z)^2`` [(Mpc/h)^3].

    ``k`` in h/Mpc; `transfer_eh`; ``A`` such that the top-hat rms at 8 Mpc/h and
    z = 0 is ``SIGMA_8``; `growth_factor`.
    """
    k = np.asarray(k, float)
    return _amplitude() * k**N_S * transfer_eh(k) ** 2 * growth_factor(z) ** 2


def sigma_tophat(r, z=0.0):
    """rms linear overdensity in top-hat spheres of radius ``r`` [Mpc/h] at redshift ``z``
    (``sigma_tophat(8) == SIGMA_8``)."""
    return float(np.sqrt(_amplitude() * _sigma2_unnormalised(r)) * growth_factor(z))


# ---------------------------------------------------------------------------------------
# fields


def _wavenumbers(size, box_size):
    """k_x, k_y, k_z [h/Mpc] of a real FFT of a (size,)*3 grid, broadcastable."""
    k = fft.fftfreq(size, 1.0 / size) * (2.0 * np.pi / box_size)
    kz = fft.rfftfreq(size, 1.0 / size) * (2.0 * np.pi / box_size)
    return k[:, None, None], k[None, :, None], kz[None, None, :]


def _mode_amplitude(size, box_size, z=0.0, truncation=0.0):
    """sqrt(P(k) / cell volume) (times truncation and growth) on the rFFT grid, with the
    mean and the Nyquist planes zeroed."""
    kx, ky, kz = _wavenumbers(size, box_size)
    k2 = kx**2 + ky**2 + kz**2
    k = np.sqrt(k2)
    k[0, 0, 0] = 1.0
    amp = np.sqrt(linear_power(k, z) / (box_size / size) ** 3) * np.exp(-0.5 * k2 * truncation**2)
    amp[0, 0, 0] = 0.0
    amp[size // 2], amp[:, size // 2], amp[:, :, -1] = 0.0, 0.0, 0.0
    return amp


def gaussian_field(rng, size, box_size, z=0.0):
    """Gaussian random field of the linear overdensity on a periodic ``(size,)*3`` grid.

    Parameters
    ----------
    rng : numpy.random.Generator
        Random stream (``size**3`` float32 normals are drawn).
    size : int
        Grid cells per side (even).
    box_size : float
        Box side [Mpc/h].
    z : float, optional
        Redshift (the field is scaled by `growth_factor`).

    Returns
    -------
    numpy.ndarray
        float32 ``(size, size, size)`` overdensity with power spectrum `linear_power`
        (white noise coloured in Fourier space; mean and Nyquist planes zero).
    """
    white = rng.standard_normal((size,) * 3, dtype=np.float32)
    amp = _mode_amplitude(size, box_size, z).astype(np.float32)
    return fft.irfftn(fft.rfftn(white) * amp, s=(size,) * 3)


def _rms(field_k, size):
    """rms of the real field whose rFFT (zero mean, zero Nyquist planes) is ``field_k``
    (Parseval's theorem; the half-spectrum counts the k_z > 0 modes twice)."""
    power = np.abs(field_k) ** 2
    total = power[:, :, 0].sum(dtype=float) + 2.0 * power[:, :, 1:].sum(dtype=float)
    return float(np.sqrt(total) / size**3)


class _Painter:
    """Fourier-space kernels of one (size, box_size), built once per run."""

    def __init__(self, size, box_size):
        self.size, self.box_size = size, box_size
        self.cell = box_size / size
        kx, ky, kz = _wavenumbers(size, box_size)
        k2 = kx**2 + ky**2 + kz**2
        inv_k2 = np.divide(1.0, k2, out=np.zeros_like(k2), where=k2 > 0)
        self.amp = _mode_amplitude(size, box_size, REDSHIFT, TRUNCATION_RADIUS).astype(np.float32)
        # psi_k = i k delta_k / k^2, in cells
        self.disp = [(1j * kk * inv_k2 / self.cell).astype(np.complex64) for kk in (kx, ky, kz)]
        self.gas_filter = np.exp(-k2 * FILTER_SCALE**2).astype(np.float32)
        self.shock_filter = np.exp(-0.5 * k2 * SHOCK_RADIUS**2).astype(np.float32)
        # cloud-in-cell work arrays, reused: fresh multi-MB temporaries cost more in page
        # faults than the arithmetic
        shape, cells = (size,) * 3, size**3
        self.q = [
            np.arange(size, dtype=np.float32).reshape([-1 if a == axis else 1 for a in range(3)])
            for axis in range(3)
        ]
        self.x, self.floor = np.empty(shape, np.float32), np.empty(shape, np.float32)
        self.index = np.empty((2, 3, cells), np.intp)  # lower / upper cell, axis, particle
        self.weight = np.empty((2, 3, cells))
        self.work_i = np.empty((2, cells), np.intp)
        self.work_w = np.empty((2, cells))

    def _deposit(self, psi):
        """Cloud-in-cell density [mean 1] of one particle per cell displaced by psi [cells]."""
        n, x, floor, index, weight = self.size, self.x, self.floor, self.index, self.weight
        for axis in range(3):
            np.add(psi[axis], self.q[axis], out=x)
            np.floor(x, out=floor)
            np.subtract(x, floor, out=weight[1, axis].reshape(x.shape))
            np.subtract(1.0, weight[1, axis], out=weight[0, axis])
            lo, hi = index[0, axis], index[1, axis]
            lo[:] = floor.ravel()
            np.remainder(lo, n, out=lo)
            np.add(lo, 1, out=hi)
            hi[hi == n] = 0
            lo *= n ** (2 - axis)
            hi *= n ** (2 - axis)
        rho = np.zeros(n**3)
        (ixy, ixyz), (wxy, wxyz) = self.work_i, self.work_w
        for a in (0, 1):
            for b in (0, 1):
                np.add(index[a, 0], index[b, 1], out=ixy)
                np.multiply(weight[a, 0], weight[b, 1], out=wxy)
                for c in (0, 1):
                    np.add(ixy, index[c, 2], out=ixyz)
                    np.multiply(wxy, weight[c, 2], out=wxyz)
                    rho += np.bincount(ixyz, wxyz, minlength=n**3)
        return rho.reshape(x.shape).astype(np.float32)

    def gas_fields(self, dm):
        """The gas model on a 3-D DM density [mean 1]: gas density, hot fraction,
        temperature [K] and HI, per cell (see `simulate_paint`)."""
        dm_k = fft.rfftn(dm)
        gas = np.maximum(fft.irfftn(dm_k * self.gas_filter, s=dm.shape), GAS_FLOOR)
        env = np.maximum(fft.irfftn(dm_k * self.shock_filter, s=dm.shape), GAS_FLOOR)
        hot = 1.0 / (1.0 + (SHOCK_DENSITY / env) ** SHOCK_SHARPNESS)
        t_hot = np.minimum(T_SHOCK * (env / SHOCK_DENSITY) ** SHOCK_SLOPE, T_MAX)
        temp = T0 * gas ** (GAMMA - 1.0) + hot * t_hot
        hi = gas**2 * (temp / T0) ** HI_SLOPE
        return gas, hot, temp, hi

    def paint(self, rng, slabs=1):
        """One box, projected in ``slabs`` slabs along z.

        Returns a list with one ``(maps, summary)`` per slab: maps are the dm, gas,
        temperature and HI maps (float32, [y, x]), summary a dict of
        ``SUMMARY_COLUMNS``. Slab ``j`` is cells ``[j c, (j + 1) c)`` along z, with
        ``c = size // slabs``.
        """
        n = self.size
        shape = (n,) * 3
        white = rng.standard_normal(shape, dtype=np.float32)
        delta_k = fft.rfftn(white) * self.amp
        psi = [fft.irfftn(delta_k * d, s=shape) for d in self.disp]
        dm = self._deposit(psi)
        gas, hot, temp, hi = self.gas_fields(dm)
        sigma_lin = _rms(delta_k, n)
        cells = n // slabs
        out = []
        for j in range(slabs):
            z = slice(j * cells, (j + 1) * cells)
            gas_slab = gas[:, :, z]
            gas_map = gas_slab.mean(axis=2)
            maps = (
                np.maximum(dm[:, :, z].mean(axis=2), DM_FLOOR),
                gas_map,
                (gas_slab * temp[:, :, z]).mean(axis=2) / gas_map,  # mass-weighted
                hi[:, :, z].mean(axis=2),
            )
            log_t = np.log10(maps[2])
            summary = dict(
                sigma_lin=sigma_lin,
                sigma_dm=float(maps[0].std()),
                min_dm=float(maps[0].min()),
                max_dm=float(maps[0].max()),
                sigma_gas=float(maps[1].std()),
                mean_log_temperature=float(log_t.mean()),
                std_log_temperature=float(log_t.std()),
                hot_fraction=float(
                    (gas_slab * hot[:, :, z]).sum(dtype=float) / gas_slab.sum(dtype=float)
                ),
                mean_hi=float(maps[3].mean()),
            )
            # numpy [y, x]: FITS axis 1 runs along the box's x
            out.append(([np.ascontiguousarray(m.T, np.float32) for m in maps], summary))
        return out


# ---------------------------------------------------------------------------------------
# files


def _header(seed, size, box_size, depth):
    """Cards shared by every map HDU of a run (``OBJECT``, ``BOXID`` and ``SLABZ`` are
    set per map)."""
    hdr = fits.Header()
    hdr["SIMULATR"] = ("astrocnn.tasks.paint.simulate", "simulator")
    hdr["SEED"] = (int(seed), "seed of the run")
    hdr["OBJECT"] = ("0", "map id")
    hdr["BOXSIZE"] = (float(box_size), "box side [Mpc/h, comoving]")
    hdr["BOXID"] = (0, "index of the simulated box in the run")
    hdr["DEPTH"] = (float(depth), "projection depth along z [Mpc/h]")
    hdr["SLABZ"] = (0.0, "z of the slab's near side [Mpc/h]")
    hdr["PIXSIZE"] = (float(box_size) / size, "pixel side [Mpc/h]")
    hdr["PERIODIC"] = (True, "periodic boundaries")
    hdr["REDSHIFT"] = (REDSHIFT, "redshift of the maps")
    hdr["OMEGA_M"] = (OMEGA_M, "matter density parameter")
    hdr["OMEGA_B"] = (OMEGA_B, "baryon density parameter")
    hdr["HUBBLE"] = (HUBBLE, "h = H0 / (100 km/s/Mpc)")
    hdr["N_S"] = (N_S, "spectral index")
    hdr["SIGMA_8"] = (SIGMA_8, "linear rms in 8 Mpc/h top-hats at z = 0")
    return hdr


def _hdu(cls, template, extname, bunit, comment, extra=()):
    hdr = template.copy()
    hdr["EXTNAME"] = extname
    hdr["BUNIT"] = (bunit, comment)
    for card in extra:
        hdr[card[0]] = card[1:]
    return cls(np.zeros((1, 1), np.float32), header=hdr)


def _hdus(seed, size, box_size, depth):
    """The DM HDU and the gas HDU list, reused (data and per-map cards replaced) for
    every map."""
    template = _header(seed, size, box_size, depth)
    rho = _RHO_CRIT * HUBBLE**2 * (1.0 + REDSHIFT) ** 3  # g / cm^3, proper, at REDSHIFT
    dm = _hdu(
        fits.PrimaryHDU,
        template,
        "DM_DENSITY",
        "",
        "1 + delta: density / mean matter density",
        [("RHOMEAN", float(f"{OMEGA_M * rho:.6g}"), "mean matter density [g/cm3]")],
    )
    gas = fits.HDUList(
        [
            _hdu(
                fits.PrimaryHDU,
                template,
                "GAS_DENSITY",
                "",
                "1 + delta: density / mean baryon density",
                [("RHOMEAN", float(f"{OMEGA_B * rho:.6g}"), "mean baryon density [g/cm3]")],
            ),
            _hdu(fits.ImageHDU, template, "TEMPERATURE", "K", "mass-weighted temperature"),
            _hdu(
                fits.ImageHDU,
                template,
                "HI_DENSITY",
                "",
                "n_HI / n_HI at mean density and T0",
                [("T0", T0, "[K]")],
            ),
        ]
    )
    return dm, gas


def _check_args(n, seed, size, box_size, depth, progress):
    check_args(
        n,
        seed,
        (
            is_int(size, 16) and size <= MAX_SIZE and size % 2 == 0,
            f"size must be an even integer in [16, {MAX_SIZE}], got {size!r}",
        ),
        (
            is_number(box_size) and box_size > 0,
            f"box_size must be a positive number [Mpc/h], got {box_size!r}",
        ),
        (
            is_number(depth) and 0 < depth and (not is_number(box_size) or depth <= box_size),
            f"depth must be a positive number [Mpc/h] no larger than box_size, got {depth!r}",
        ),
        (isinstance(progress, bool), f"progress must be True or False, got {progress!r}"),
    )


DEFAULT_DEPTH = 5.0  # Mpc/h, slab thickness of the CAMELS Multifield Dataset's 2-D maps


def slab_layout(size, box_size, depth):
    """Slabs per box and cells per slab for a requested projection depth.

    Parameters
    ----------
    size : int
        Grid cells per box side.
    box_size : float
        Box side [Mpc/h].
    depth : float
        Requested slab thickness [Mpc/h], ``0 < depth <= box_size``.

    Returns
    -------
    slabs : int
        ``round(box_size / depth)`` (at least 1, at most ``size``): the box is cut
        into this many slabs along z.
    cells : int
        ``size // slabs`` cells per slab; the slab thickness is ``cells * box_size /
        size`` (4.69 Mpc/h for 5 Mpc/h asked of a 64-cell, 25 Mpc/h box; the last
        ``size % slabs`` cells are not projected).
    """
    slabs = int(min(size, max(1, round(box_size / depth))))
    return slabs, size // slabs


SUMMARY_COLUMNS = (
    "sigma_lin",
    "sigma_dm",
    "min_dm",
    "max_dm",
    "sigma_gas",
    "mean_log_temperature",
    "std_log_temperature",
    "hot_fraction",
    "mean_hi",
)


def simulate_paint(n, seed, outdir, *, size=64, box_size=25.0, depth=DEFAULT_DEPTH, progress=False):
    """Simulate pairs of dark-matter and gas maps of periodic boxes and write them to disk.

    Parameters
    ----------
    n : int
        Number of maps (>= 1).
    seed : int
        Seed for ``numpy.random.default_rng``; same ``(n, seed)`` (and keywords)
        gives bit-identical files and catalogue. Each box has its own stream, so
        the first maps of a larger run are those of a smaller one.
    outdir : str or os.PathLike
        Output directory; created if needed.
    size : int, optional
        Map side in pixels, also the 3-D grid (``size**3`` cells and particles);
        even, 16-256. Memory ~ 250 bytes * ``size**3`` (66 MB at 64, 4 GB at 256).
    box_size : float, optional
        Box side [Mpc/h, comoving] (CAMELS: 25).
    depth : float, optional
        Projection depth [Mpc/h] (CAMELS: 5). Each box is cut along z into
        ``round(box_size / depth)`` slabs of ``size // slabs`` cells (`slab_layout`),
        each a map; ``depth = box_size`` projects the whole box. Consecutive maps
        come from the same box until it is used up.
    progress : bool, optional
        Show a tqdm progress bar on stderr.

    Returns
    -------
    astropy.table.Table
        Catalogue (also written to ``outdir/catalog.fits``) with columns ``id``,
        ``input_file`` (``maps/dm_{id:06d}.fits``) and ``target_file``
        (``maps/gas_{id:06d}.fits``), relative to ``outdir``, ``box`` (index of the
        simulated box: maps of one box are correlated, keep them on one side of a
        train/test split) and ``slab`` (index along z), and per-map
        summaries: ``sigma_lin`` (rms of the truncated linear overdensity on the
        3-D grid at ``REDSHIFT``), ``sigma_dm``, ``min_dm``, ``max_dm`` (of the DM
        map, 1 + delta), ``sigma_gas`` (rms of the gas map), ``mean_log_temperature``
        and ``std_log_temperature`` (of log10(T / K) over the temperature map's
        pixels), ``hot_fraction`` (gas mass fraction of the shock-heated phase) and
        ``mean_hi`` (mean of the HI map). Meta: ``SIMULATR``, ``SEED``, ``SIZE``,
        ``BOXSIZE``, ``DEPTH`` (slab thickness actually used), ``PERIODIC``,
        ``REDSHIFT``, cosmology (``OMEGA_M``,
        ``OMEGA_B``, ``HUBBLE``, ``N_S``, ``SIGMA_8``), ``CHANNELS`` and the model
        parameters (``TRUNCR``, ``FILTERL``, ``T0``, ``GAMMA``, ``RSHOCK``,
        ``DSHOCK``, ``TSHOCK``).

        The DM file's primary HDU (``EXTNAME = 'DM_DENSITY'``) is a float32
        (size, size) map of 1 + delta_dm (``BUNIT = ''``; density / mean matter
        density). The gas file holds one float32 (size, size) HDU per
        channel, in ``CHANNELS`` order: ``GAS_DENSITY`` (primary HDU; 1 + delta_gas,
        density / mean baryon density, ``BUNIT = ''``), ``TEMPERATURE``
        (mass-weighted along the line of sight, ``BUNIT = 'K'``) and ``HI_DENSITY``
        (``BUNIT = ''``; neutral hydrogen density relative to gas at the mean
        density and temperature ``T0``, averaged along the line of sight). Every
        HDU carries ``SIMULATR``, ``SEED``, ``OBJECT`` (the map id), ``BOXID``,
        ``BOXSIZE``, ``DEPTH``, ``SLABZ`` (z of the slab's near side), ``PIXSIZE``
        [Mpc/h], ``PERIODIC`` (True), ``REDSHIFT`` and the cosmology; the density
        HDUs ``RHOMEAN``, the mean (proper) density [g/cm^3] at ``REDSHIFT`` that
        converts 1 + delta to physical units. Map axes: FITS axis 1 (numpy's
        last) is the box's x, axis 2 its y (0-based pixel (i, j) is the grid
        point x = i PIXSIZE, y = j PIXSIZE); z is projected out.

    Notes
    -----
    - Linear field: a Gaussian random field on a periodic ``size**3`` grid of side
      ``box_size`` (white noise coloured in Fourier space; the mean and Nyquist
      planes are zeroed). Power spectrum ``P(k) ~ k^n_s T(k)^2`` with the Eisenstein
      & Hu (1998) no-wiggle transfer function (`transfer_eh`; baryon suppression,
      no acoustic oscillations) for flat LambdaCDM, Omega_m = 0.3, Omega_b =
      0.049, h = 0.7, n_s = 0.965, T_CMB = 2.7255 K, normalised to sigma_8 = 0.8
      (top-hat of 8 Mpc/h at z = 0; `linear_power`, `sigma_tophat`). Modes longer
      than the box are absent, as in any periodic simulation.
    - Redshift and truncation: the field is grown to z = 1 (`growth_factor`,
      D = 0.612) and truncated with ``exp(-k^2 R_T^2 / 2)``, R_T = 0.8 Mpc/h: the
      truncated Zel'dovich approximation (Coles, Melott & Shandarin 1993), which
      matches N-body simulations best when the truncated field has rms ~ 1. At
      z = 1 it has rms 1.0-1.2 (``sigma_lin``, 64 cells over 25 Mpc/h) and ~13%
      of the particles have crossed shells, so filaments and knots form but are
      not smeared out by streams passing through each other, as they would be at
      z = 0 (44% with the same truncation). The maps are therefore z = 1 maps:
      projected over the whole box the DM has rms 0.5-1.0 and peaks of 5-13 at
      64 pixels over 25 Mpc/h (5 Mpc/h slabs: rms 0.7-2, peaks 8-40). Halos are
      not resolved (no virialisation).
    - Dark matter: one particle per cell is displaced by ``D psi`` (Zel'dovich;
      ``psi = -grad phi``, ``laplacian phi = delta``, solved by FFT) with periodic
      wrapping, and deposited by cloud-in-cell on the same grid; the DM map is the
      3-D density averaged over a slab along z (next note). With one particle per
      cell, voids (where particles are further apart than a cell) show a faint
      cloud-in-cell grid pattern. Mass is conserved, so a full-depth map's mean
      is 1 (a slab's mean varies with the structure it cuts). A thin slab's deepest voids
      can hold columns no particle enters (a few pixels in one map in ten at
      5 Mpc/h); they are set to ``DM_FLOOR`` = 0.01 of the mean so that the
      map's log is defined.
    - Gas density: the 3-D DM density filtered with ``exp(-k^2 / k_F^2)``,
      1 / k_F = 0.3 Mpc/h (pressure / Jeans smoothing, e.g. Gnedin & Hui 1998;
      a Gaussian of rms 0.42 Mpc/h), so the gas has less small-scale power than
      the DM; floored at 1e-3 of the mean (filter ringing). Gas traces DM on
      large scales (Omega_b / Omega_m everywhere): no feedback-driven outflows.
    - Temperature (3-D, per cell): photo-ionised gas on the temperature-density
      relation ``T = T0 Delta_g^(gamma - 1)``, T0 = 1e4 K, gamma = 1.5 (Hui &
      Gnedin 1997), plus a shock-heated phase decided by the environment: the DM
      density smoothed with a Gaussian of R_S = 1 Mpc/h, ``Delta_s``. Its hot
      fraction is the smooth step ``f = 1 / (1 + (2.5 / Delta_s)^4)`` (half at
      2.5 times the mean), its temperature ``T_hot = 1e6 K (Delta_s / 2.5)^(2/3)``
      (virial scaling T ~ M^(2/3)), capped at 1e8 K; ``T = T0 Delta_g^0.5 +
      f T_hot``. About 30% (24-38%) of the gas mass is hot (``hot_fraction``),
      comparable to the warm-hot + hot fractions of hydrodynamical simulations at
      z ~ 0.5-1 (Davé et al. 2001). The temperature is thus non-linear in the
      local density and non-local (it depends on the structure within ~ 1 Mpc/h):
      a quadratic in log of the (smoothed) DM map explains only 50-70% of the
      variance of log T. Cells range from ~ 3e3 K (voids) to ~ 4e6 K; projected
      maps from ~ 6e3 K to ~ 2e6 K (mean log10 T ~ 5.0).
    - Neutral hydrogen (3-D): photo-ionisation equilibrium of highly ionised gas,
      ``n_HI ~ n_H^2 alpha(T) / Gamma ~ Delta_g^2 (T / T0)^-0.7``, with a uniform
      UV background, in units of gas at the mean density and T0; hot gas is
      suppressed by the (T / T0)^-0.7 recombination rate. Collisional ionisation
      (which further empties gas above ~ 10^5.5 K) and self-shielding (dense,
      > 1e-3 cm^-3) are not modelled.
    - Projection: each map is the 3-D field averaged over one slab of ``depth``
      along z (5 Mpc/h by default, the slab thickness of the CAMELS Multifield
      Dataset's 2-D maps, Villaescusa-Navarro et al. 2022; a 25 Mpc/h box gives
      5 maps): gas and HI densities are plain means (so the gas map is a mean column
      density in units of the mean), the temperature is mass-weighted,
      ``sum(Delta_g T) / sum(Delta_g)``, as in CAMELS. The gas model acts in 3-D
      before projection, so the line-of-sight mixing is part of the mapping a
      network must learn; the deeper the slab, the more structures overlap in a
      pixel and the less of the gas a 2-D DM map determines (temperature most).
      Smoothing and shock environments straddle the slab faces, as in slices of
      a hydrodynamical run.
    - Resolution: all scales are comoving Mpc/h and do not depend on ``size``;
      where the pixel (``box_size / size``, 0.39 Mpc/h by default) is larger than a
      scale, the grid is the limit instead (e.g. the gas filter barely acts on a
      32-pixel, 25 Mpc/h map).
    """
    _check_args(n, seed, size, box_size, depth, progress)
    box_size = float(box_size)
    slabs, cells = slab_layout(size, box_size, float(depth))
    depth = cells * box_size / size
    outdir = os.fspath(outdir)
    os.makedirs(os.path.join(outdir, "maps"), exist_ok=True)
    rng = np.random.default_rng(seed)
    box_seeds = rng.integers(0, 2**63, -(-n // slabs))
    painter = _Painter(size, box_size)
    dm_hdu, gas_hdus = _hdus(seed, size, box_size, depth)
    dm_list = fits.HDUList([dm_hdu])
    rows = []
    bar = tqdm(total=n, disable=not progress, file=sys.stderr, desc="simulate_paint")
    for box, box_seed in enumerate(box_seeds):
        for slab, (maps, summary) in enumerate(
            painter.paint(np.random.default_rng(box_seed), slabs)
        ):
            i = box * slabs + slab
            if i >= n:
                break
            dm_rel, gas_rel = f"maps/dm_{i:06d}.fits", f"maps/gas_{i:06d}.fits"
            for hdu, data in zip([dm_hdu, *gas_hdus], maps):
                hdu.data = data
                hdu.header["OBJECT"] = str(i)
                hdu.header["BOXID"] = box
                hdu.header["SLABZ"] = slab * depth
            write_fits(os.path.join(outdir, dm_rel), dm_list)
            write_fits(os.path.join(outdir, gas_rel), gas_hdus)
            rows.append(
                dict(summary, id=i, input_file=dm_rel, target_file=gas_rel, box=box, slab=slab)
            )
            bar.update()
    bar.close()
    columns = ["id", "input_file", "target_file", "box", "slab", *SUMMARY_COLUMNS]
    meta = dict(
        SIMULATR="astrocnn.tasks.paint.simulate",
        SEED=int(seed),
        SIZE=int(size),
        BOXSIZE=box_size,
        DEPTH=depth,
        PERIODIC=True,
        REDSHIFT=REDSHIFT,
        OMEGA_M=OMEGA_M,
        OMEGA_B=OMEGA_B,
        HUBBLE=HUBBLE,
        N_S=N_S,
        SIGMA_8=SIGMA_8,
        CHANNELS=",".join(CHANNELS),
        TRUNCR=TRUNCATION_RADIUS,
        FILTERL=FILTER_SCALE,
        T0=T0,
        GAMMA=GAMMA,
        RSHOCK=SHOCK_RADIUS,
        DSHOCK=SHOCK_DENSITY,
        TSHOCK=T_SHOCK,
    )
    return catalogue(rows, columns, {}, meta, outdir)


def write_npy_stack(table, outdir, name):
    """Write CAMELS-style ``.npy`` stacks of the maps listed in a `simulate_paint` catalogue.

    Parameters
    ----------
    table : astropy.table.Table
        Catalogue with ``input_file`` and ``target_file`` columns (relative paths
        are resolved against ``table.meta['catalog_dir']`` when set, as
        `astrocnn.io.catalog.read_catalog` does, else against ``outdir``).
    outdir : str or os.PathLike
        Folder for the stacks (created if needed).
    name : str
        Suffix of the file names (CAMELS uses e.g. ``IllustrisTNG_LH_z=0.00``).

    Returns
    -------
    dict
        Field -> path of ``outdir/Maps_<field>_<name>.npy``, one float32 array
        (len(table), size, size) per field in table row order: ``DM`` (the
        ``DM_DENSITY`` HDU of the input file), ``Mgas``, ``T`` and ``HI`` (the
        ``GAS_DENSITY``, ``TEMPERATURE`` and ``HI_DENSITY`` HDUs of the target
        file); see ``NPY_FIELDS``. Units are those of the FITS maps (CAMELS' own
        Mgas and HI are column densities in (Msun/h) / (Mpc/h)^2, so CAMELS-trained
        scalings do not transfer).
    """
    if not isinstance(name, str) or not name or os.sep in name or "/" in name:
        raise ValueError(f"name must be a non-empty file-name part, got {name!r}")
    if len(table) == 0:
        raise ValueError("table has no rows")
    outdir = os.fspath(outdir)
    base = table.meta.get("catalog_dir", outdir)
    os.makedirs(outdir, exist_ok=True)
    stacks = {field: [] for field in NPY_FIELDS}
    for row in table:
        dm_path, gas_path = (os.path.join(base, str(row[c])) for c in ("input_file", "target_file"))
        with fits.open(dm_path) as hdus:
            stacks["DM"].append(hdus["DM_DENSITY"].data.astype(np.float32))
        with fits.open(gas_path) as hdus:
            for field, extname in NPY_FIELDS.items():
                if field != "DM":
                    stacks[field].append(hdus[extname].data.astype(np.float32))
    paths = {}
    for field, maps in stacks.items():
        path = os.path.join(outdir, f"Maps_{field}_{name}.npy")
        array = np.stack(maps)

        def save(tmp, array=array):
            with open(tmp, "wb") as handle:
                np.save(handle, array)

        write_atomic(path, save)
        paths[field] = path
    return paths
