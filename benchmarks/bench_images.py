"""Large-image throughput: deblending whole fields, painting whole maps, in one run.

Inputs 4x the network's stamp/tile side (256x256 pixels for the shipped
64x64 models), simulated once into ``--workdir``:

- ``deblend``: ``--n`` fields of 256x256x3 with 25 galaxies each (or
  ``--field-size`` pixels a side with the same density of galaxies, e.g.
  ``--field-size 1024`` for 400 each).  End to end
  is :func:`astrocnn.engine.fields.predict_fields` as ``astrocnn predict deblend
  FIELD1.fits FIELD2.fits ...`` runs it (sep detection, stamps, U-Net, the
  field's stamp cubes, segmentation map, catalogue; a field's files are written
  on a second thread while the next field is predicted); model only is the
  same compiled network on as many in-memory stamps; the naive loop opens the
  field with astropy and calls ``model.predict`` once per detected source.
- ``paint``: ``--n`` dark-matter maps of 256x256.  End to end is
  :func:`astrocnn.engine.maps.predict_maps` (read, predict in one pass with
  periodic wrap, decode, write one FITS per map); model only is the same
  prediction on in-memory maps; the naive loop predicts non-overlapping 64x64
  tiles one ``model.predict`` call each.

Prints items/s, the ratios end-to-end / model-only and end-to-end / naive,
FLOPs per item, GFLOP/s, the CPU time per item of both runs with the CPU
ceiling and displacement estimate of the ratio (``cpu_budget.py``), and the
peak RSS.

Usage::

    python benchmarks/bench_images.py --task deblend|paint [--n 16] [--workdir DIR]
"""

from __future__ import annotations

import argparse
import resource
import time
from pathlib import Path

import numpy as np
from cpu_budget import best_of, report_cpu


def _fields(workdir: Path, n: int, side: int = 256) -> list[Path]:
    """``n`` simulated fields ``side`` pixels a side, 25 galaxies per 256x256 pixels."""
    from astrocnn.tasks.deblend.simulate import simulate_field

    galaxies = round(25 * (side / 256) ** 2)
    stem = "field" if side == 256 else f"field{side}"
    paths = []
    for i in range(n):
        path = workdir / f"{stem}_{i:03d}.fits"
        if not path.exists():
            simulate_field(9000 + i, path, shape=(side, side), n_galaxies=galaxies)
        paths.append(path)
    return paths


def _maps(workdir: Path, n: int):
    from astropy.table import Table

    catalog = workdir / "catalog.fits"
    if not catalog.exists():
        from astrocnn.tasks.paint.simulate import simulate_paint

        print(f"simulating {n} 256x256 maps into {workdir} (once) ...", flush=True)
        simulate_paint(n, 9100, workdir, size=256)
    return catalog, Table.read(catalog)


def _fresh_outputs(workdir: Path):
    """New, empty output folders ``workdir/out_<k>`` (earlier runs' removed first)."""
    import itertools
    import shutil

    for old in workdir.glob("out_*"):
        shutil.rmtree(old)
    for k in itertools.count():
        yield workdir / f"out_{k}"


def bench_deblend(args, workdir, task, bundle):
    from astropy.io import fits
    from astropy.table import Table

    from astrocnn.data.preprocess import scaler_from_dict
    from astrocnn.engine.fields import predict_fields
    from astrocnn.engine.inference import CompiledModel

    fields = _fields(workdir, args.n, args.field_size)
    out = _fresh_outputs(workdir)

    def end_to_end():
        # a new output folder each time, as a user's run writes new files (replacing
        # existing ones makes ext4 flush them first, which no real run pays)
        folder = next(out)
        for _, summary in predict_fields(task, bundle, fields, folder, log=lambda m: None):
            if isinstance(summary, Exception):
                raise summary

    end_to_end()  # warm
    catalogs = [Table.read(workdir / "out_0" / f"{p.stem}_catalog.fits") for p in fields]
    n_stamps = sum(len(c) for c in catalogs)
    h, w, c = bundle.meta["input_shape"]
    stamps = np.random.default_rng(0).normal(size=(n_stamps, h, w, c)).astype(np.float32)
    scaler = scaler_from_dict(bundle.meta["preprocessing"])
    compiled = CompiledModel(bundle.model, 256, scaler)
    compiled(stamps[:256])
    e2e = best_of(end_to_end, args.repeats)
    model = best_of(lambda: compiled(stamps), args.repeats)

    m = min(args.naive_n, n_stamps)
    t0 = time.perf_counter()
    done = 0
    for path, catalog in zip(fields, catalogs):
        for row in catalog:
            if done == m:
                break
            with fits.open(path) as hdul:
                cube = np.moveaxis(hdul[0].data.astype(np.float32), 0, -1)
            x0, y0 = int(round(row["x"])) - w // 2, int(round(row["y"])) - h // 2
            stamp = np.zeros((h, w, c), np.float32)
            ys, xs = (
                slice(max(y0, 0), min(y0 + h, cube.shape[0])),
                slice(max(x0, 0), min(x0 + w, cube.shape[1])),
            )
            stamp[ys.start - y0 : ys.stop - y0, xs.start - x0 : xs.stop - x0] = cube[ys, xs]
            bundle.model.predict(scaler.transform(stamp[None]), verbose=0)
            done += 1
    t_naive = (time.perf_counter() - t0) * n_stamps / max(done, 1)
    side = args.field_size
    return n_stamps, "stamps", f"{len(fields)} fields {side}x{side}x{c}", e2e, model, t_naive


def bench_paint(args, workdir, task, bundle):
    from astropy.io import fits

    from astrocnn.data.preprocess import scaler_from_dict
    from astrocnn.engine.maps import MapItem, predict_map, predict_maps, read_map

    catalog, table = _maps(workdir, args.n)
    items = [MapItem(i, str(workdir / f)) for i, f in zip(table["id"], table["input_file"])]
    n_in = int(bundle.meta["input_shape"][-1])
    tile = int(bundle.meta["input_shape"][0])
    scaler = scaler_from_dict(bundle.meta["preprocessing"])
    periodic = bool(bundle.meta.get("periodic"))
    arrays = [read_map(item, n_in)[0] for item in items]

    out = _fresh_outputs(workdir)

    def end_to_end():
        predict_maps(task, bundle, items, next(out))

    def model_only():
        for data in arrays:
            predict_map(bundle.model, scaler, data, tile, periodic=periodic, bundle=bundle)

    end_to_end()
    model_only()
    e2e = best_of(end_to_end, args.repeats)
    model = best_of(model_only, args.repeats)
    t0 = time.perf_counter()
    for item in items:
        with fits.open(item.path) as hdul:
            data = hdul[0].data.astype(np.float32)
        for y in range(0, data.shape[0], tile):
            for x in range(0, data.shape[1], tile):
                patch = data[y : y + tile, x : x + tile, None]
                bundle.model.predict(scaler.transform(patch[None]), verbose=0)
    t_naive = time.perf_counter() - t0
    return len(items), "maps", f"{len(items)} maps 256x256", e2e, model, t_naive


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--task", required=True, choices=["deblend", "paint"])
    parser.add_argument("--n", type=int, default=16)
    parser.add_argument("--field-size", type=int, default=256, help="deblend: field side in pixels")
    parser.add_argument("--workdir", default=None, help="default: work_runs/bench_<task>_images")
    parser.add_argument("--model", default=None)
    parser.add_argument("--naive-n", type=int, default=100, help="stamps timed in the naive loop")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    from astrocnn.engine.predict import load_task_bundle
    from astrocnn.models.flops import flops_per_item
    from astrocnn.tasks.registry import get_task

    task = get_task(args.task)
    workdir = Path(args.workdir or f"work_runs/bench_{task.name}_images")
    workdir.mkdir(parents=True, exist_ok=True)
    bundle = load_task_bundle(task, args.model)
    run = bench_deblend if task.name == "deblend" else bench_paint
    n, unit, what, e2e, model, t_naive = run(args, workdir, task, bundle)
    t_e2e, t_model = e2e.wall, model.wall
    shape = tuple(bundle.meta["input_shape"])
    if unit == "maps":  # one pass over the whole 256x256 map
        shape = (256, 256, shape[-1])
    flops = flops_per_item(bundle.model, shape)
    rate = {k: n / t for k, t in (("e2e", t_e2e), ("model", t_model), ("naive", t_naive))}
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"\n{task.name} large-image benchmark: {what}, model {bundle.path.name}")
    print(f"  end to end        : {rate['e2e']:8.1f} {unit}/s")
    print(
        f"  model only        : {rate['model']:8.1f} {unit}/s   {flops / 1e6:.0f} MFLOP per "
        f"{unit[:-1]}, {rate['model'] * flops / 1e9:.1f} GFLOP/s"
    )
    print(f"  naive loop        : {rate['naive']:8.1f} {unit}/s")
    print(f"  end-to-end / model-only : {rate['e2e'] / rate['model']:.2f}")
    print(f"  end-to-end / naive      : {rate['e2e'] / rate['naive']:.1f}x")
    report_cpu(model, e2e, n, unit[:-1], width=24)
    print(f"  peak RSS                : {peak:.0f} MiB")


if __name__ == "__main__":
    main()
