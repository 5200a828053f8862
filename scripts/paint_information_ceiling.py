"""How much of a slab's gas maps the dark matter *inside* the slab determines.

The painting simulator (:mod:`astrocnn.tasks.paint.simulate`) heats gas according to the dark
matter smoothed over 1 Mpc/h in 3-D and smooths the gas over 0.42 Mpc/h, before the
maps are projected through slabs 5 Mpc/h deep. Near a slab's faces, structures outside
the slab (which no map of the slab shows) heat and feed its gas. This script measures
that loss of information with an oracle that knows the full 3-D dark matter inside the
slab (not only its projection) and the mean density outside it: its gas, temperature
and HI maps are painted with the simulator's own recipe and compared with the true maps
through T(k) and r(k) (:func:`astrocnn.tasks.paint.spectra.paint_report`), the statistics
``astrocnn evaluate paint`` reports.  No network sees more than this oracle (a map is a
projection of what it knows), so its r(k) is an optimistic ceiling for any painter of
these maps.

Usage::

    python scripts/paint_information_ceiling.py [--boxes 20] [--depth 5] [--seed 5]
"""

import argparse

import numpy as np
from scipy import fft

from astrocnn.tasks.paint import simulate as sim
from astrocnn.tasks.paint import spectra


def _project(gas, temp, hi, z):
    g = gas[:, :, z]
    return np.stack(
        [g.mean(axis=2), (g * temp[:, :, z]).mean(axis=2) / g.mean(axis=2), hi[:, :, z].mean(2)],
        axis=-1,
    )


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--boxes", type=int, default=20)
    parser.add_argument("--depth", type=float, default=sim.DEFAULT_DEPTH)
    parser.add_argument("--seed", type=int, default=5)
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--box-size", type=float, default=25.0)
    args = parser.parse_args()
    n = args.size
    painter = sim._Painter(n, args.box_size)
    slabs, cells = sim.slab_layout(n, args.box_size, args.depth)
    seeds = np.random.default_rng(args.seed).integers(0, 2**63, args.boxes)
    truth, oracle = [], []
    for seed in seeds:
        white = np.random.default_rng(seed).standard_normal((n,) * 3, dtype=np.float32)
        delta_k = fft.rfftn(white) * painter.amp
        dm = painter._deposit([fft.irfftn(delta_k * d, s=(n,) * 3) for d in painter.disp])
        gas, _, temp, hi = painter.gas_fields(dm)
        for j in range(slabs):
            z = slice(j * cells, (j + 1) * cells)
            inside = np.ones_like(dm)  # the mean density where the slab cannot see
            inside[:, :, z] = dm[:, :, z]
            truth.append(_project(gas, temp, hi, z))
            seen_gas, _, seen_temp, seen_hi = painter.gas_fields(inside)
            oracle.append(_project(seen_gas, seen_temp, seen_hi, z))
    names = list(sim.CHANNELS)
    report = spectra.paint_report(
        np.array(oracle), np.array(truth), args.box_size, channel_names=names,
        transforms=["log10"] * 3,
    )  # fmt: skip
    depth = cells * args.box_size / n
    k_max = report[names[0]]["k_max"]
    print(f"{len(truth)} slabs {depth:.2f} Mpc/h deep of {args.boxes} boxes; oracle = 3-D DM "
          f"inside the slab, mean density outside; k <= {k_max:.2f} h/Mpc")  # fmt: skip
    for name in names:
        c = report[name]
        used = np.asarray(c["k"]) <= c["k_max"] + 1e-9
        r = np.round(np.asarray(c["r"])[used], 2).tolist()
        print(f"{name:12s} worst |T-1| {c['max_abs_transfer_minus_1']:.2f}  worst r "
              f"{c['min_r']:.2f}  r(k): {r}")  # fmt: skip


if __name__ == "__main__":
    main()
