"""Large-image throughput: deblending whole fields, painting whole maps, in one run.

Inputs 4x the network's stamp/tile side (256x256 pixels for the shipped
64x64 models), simulated once into ``--workdir``:

- ``deblend``: ``--n`` fields of 256x256x3 with 25 galaxies each (or
  ``--field-size`` pixels a side with the same density of galaxies, e.g.
  ``--field-size 1024`` for 400 each).  End to end
  is :func:`astrocnn.engine.fields.predict_fields` as ``astrocnn predict deblend
  FIELD1.fits FIELD2.fits ...`` runs it (sep detection, stamps, U-Net, the
  field's stamp cubes, segmentation map, catalogue; a field's files are written
  on a second thread while the next field is predicted); the **bare network**
  is the Keras model alone on the same stamps (cut from the fields where the
  end-to-end run put them, stretched beforehand, in batches of 256); model
  only adds the stretch compiled in; the naive loop opens the field with
  astropy and calls ``model.predict`` once per detected source.
- ``paint``: ``--n`` dark-matter maps of 256x256.  End to end is
  :func:`astrocnn.engine.maps.predict_maps` (read, predict in one pass with
  periodic wrap, decode, write one FITS per map); the bare network is the
  same one-pass prediction of the in-memory maps already log-scaled (no
  scaling in the graph, no decoding); model only adds the scaling; the naive
  loop predicts non-overlapping 64x64 tiles one ``model.predict`` call each.

Prints items/s, the ratios end-to-end / bare network (the issue's goal:
>= 0.75), model-only / bare and end-to-end / naive, FLOPs per item, GFLOP/s,
the CPU time per item of the bare network and the end-to-end run with the CPU
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


def _stamps(fields, catalogs, shape) -> np.ndarray:
    """The stamps the end-to-end run cut (its catalogues' ``stamp_x0``/``stamp_y0``),
    zero-padded at the field's edge: (n, H, W, C) float32."""
    from astropy.io import fits

    h, w, c = shape
    stamps = []
    for path, catalog in zip(fields, catalogs):
        with fits.open(path) as hdul:
            cube = np.moveaxis(hdul[0].data.astype(np.float32), 0, -1)
        padded = np.zeros((cube.shape[0] + 2 * h, cube.shape[1] + 2 * w, c), np.float32)
        padded[h:-h, w:-w] = cube
        for x0, y0 in zip(catalog["stamp_x0"], catalog["stamp_y0"]):
            stamps.append(padded[y0 + h : y0 + 2 * h, x0 + w : x0 + 2 * w])
    return np.stack(stamps) if stamps else np.zeros((0, h, w, c), np.float32)


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
    h, w, c = bundle.meta["input_shape"]
    stamps = _stamps(fields, catalogs, (h, w, c))
    n_stamps = len(stamps)
    scaler = scaler_from_dict(bundle.meta["preprocessing"])
    compiled = CompiledModel(bundle.model, 256, scaler)
    bare = CompiledModel(bundle.model, 256)  # no preprocessing in the graph
    stretched = scaler.transform(stamps)
    compiled(stamps), bare(stretched)  # every batch shape traced before the timings
    e2e = best_of(end_to_end, args.repeats)
    model = best_of(lambda: compiled(stamps), args.repeats)
    bare_t = best_of(lambda: bare(stretched), args.repeats)

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
    what = f"{len(fields)} fields {side}x{side}x{c}"
    return n_stamps, "stamps", what, e2e, model, bare_t, t_naive


def bench_paint(args, workdir, task, bundle):
    from astropy.io import fits

    from astrocnn.data.preprocess import scaler_from_dict
    from astrocnn.engine.inference import CompiledModel
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

    # the same one-pass prediction of each whole map (as predict_map makes for a
    # 256x256 map), no scaling in the graph, no decoding
    scaled = [scaler.transform(data)[None] for data in arrays]  # not timed
    network = CompiledModel(bundle.model, 1)

    def bare():
        for data in scaled:
            network(data)

    end_to_end()
    model_only()
    bare()
    e2e = best_of(end_to_end, args.repeats)
    model = best_of(model_only, args.repeats)
    bare_t = best_of(bare, args.repeats)
    t0 = time.perf_counter()
    for item in items:
        with fits.open(item.path) as hdul:
            data = hdul[0].data.astype(np.float32)
        for y in range(0, data.shape[0], tile):
            for x in range(0, data.shape[1], tile):
                patch = data[y : y + tile, x : x + tile, None]
                bundle.model.predict(scaler.transform(patch[None]), verbose=0)
    t_naive = time.perf_counter() - t0
    return len(items), "maps", f"{len(items)} maps 256x256", e2e, model, bare_t, t_naive


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
    n, unit, what, e2e, model, bare, t_naive = run(args, workdir, task, bundle)
    shape = tuple(bundle.meta["input_shape"])
    if unit == "maps":  # one pass over the whole 256x256 map
        shape = (256, 256, shape[-1])
    flops = flops_per_item(bundle.model, shape)
    times = {"e2e": e2e.wall, "model": model.wall, "bare": bare.wall, "naive": t_naive}
    rate = {k: n / t for k, t in times.items()}
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"\n{task.name} large-image benchmark: {what}, model {bundle.path.name}")
    print(
        f"  bare network      : {rate['bare']:8.1f} {unit}/s   {flops / 1e6:.0f} MFLOP per "
        f"{unit[:-1]}, {rate['bare'] * flops / 1e9:.1f} GFLOP/s"
    )
    print(f"  model + scaling   : {rate['model']:8.1f} {unit}/s")
    print(f"  end to end        : {rate['e2e']:8.1f} {unit}/s")
    print(f"  naive loop        : {rate['naive']:8.1f} {unit}/s")
    print(f"  end-to-end / bare       : {rate['e2e'] / rate['bare']:.2f}   (goal >= 0.75)")
    print(f"  model-only / bare       : {rate['model'] / rate['bare']:.2f}")
    print(f"  end-to-end / model-only : {rate['e2e'] / rate['model']:.2f}")
    print(f"  end-to-end / naive      : {rate['e2e'] / rate['naive']:.1f}x")
    report_cpu(bare, e2e, n, unit[:-1], width=24, reference="bare network")
    print(f"  peak RSS                : {peak:.0f} MiB")


if __name__ == "__main__":
    main()
