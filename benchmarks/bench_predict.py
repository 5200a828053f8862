"""Predict throughput for a catalogue task (lens, morphology, photoz, deblend), in one run.

1. **bare network**: the shipped Keras model alone on in-memory float32
   batches of 256 already stretched (no preprocessing in the graph): the
   ceiling every other column is measured against;
2. **model only**: the same network with its preprocessing compiled in
   (``CompiledModel``), on the raw in-memory arrays;
3. **end to end**: ``astrocnn predict TASK --catalog`` as a user runs it
   (parallel FITS reading, the out-of-distribution measurements of the
   model's data contract, preprocessing, network, decoding, writing the
   output table and, for deblend, one FITS file of image products per row);
4. **naive loop**: ``astropy.io.fits.open`` per file and ``model.predict`` per
   file, as a first script would do (timed on a subset, it is slow).

Prints images/s for each and the ratios end-to-end / bare network (the
issue's goal: >= 0.85 at 20,000 rows), model-only / bare network and
end-to-end / naive, plus the peak RSS of the process.  The fixed start-up of
a run (loading the bundle, tracing the graph, compiling the stretch, writing
the table) is measured as the time of the same command on a one-row
catalogue and also reported subtracted: that is the throughput a catalogue
of millions of rows sees.  Last, the CPU time per image of the bare network
and of the end-to-end run, and what it allows: the CPU ceiling and the
displacement estimate of the ratio (``cpu_budget.py``).

Usage::

    python benchmarks/bench_predict.py [--task lens] [--n 20000] [--workdir DIR] [--model M]

The cutouts are simulated once into ``--workdir`` (reused when present) by the
task's own simulator.
"""

from __future__ import annotations

import argparse
import resource
import time
from pathlib import Path

import numpy as np
from cpu_budget import best_of, report_cpu, timed


def _ensure_cutouts(task, workdir: Path, n: int) -> Path:
    catalog = workdir / "catalog.fits"
    if catalog.exists():
        from astropy.table import Table

        if len(Table.read(catalog)) == n:
            return catalog
        raise SystemExit(f"{workdir} holds a different number of cutouts; use another --workdir")
    print(f"simulating {n} {task.name} cutouts into {workdir} (once) ...", flush=True)
    task.simulate(n, 4242, workdir, progress=False)
    return catalog


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--task", default="lens", choices=["lens", "morphology", "photoz", "deblend"]
    )
    parser.add_argument("--n", type=int, default=20000)
    parser.add_argument("--workdir", default=None, help="default: work_runs/bench_<task>")
    parser.add_argument("--model", default=None, help="bundle (default: the task's shipped model)")
    parser.add_argument("--naive-n", type=int, default=500, help="files timed in the naive loop")
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--repeats", type=int, default=3, help="best of N timings")
    args = parser.parse_args()

    from astrocnn.data.preprocess import scaler_from_dict
    from astrocnn.engine.inference import CompiledModel
    from astrocnn.engine.predict import load_task_bundle, predict
    from astrocnn.engine.sources import from_catalog
    from astrocnn.tasks.registry import get_task

    task = get_task(args.task)
    workdir = Path(args.workdir or f"work_runs/bench_{task.name}")
    workdir.mkdir(parents=True, exist_ok=True)
    catalog = _ensure_cutouts(task, workdir, args.n)
    bundle = load_task_bundle(task, args.model)
    source = from_catalog(catalog, bundle.meta["bands"], task.default_file_columns or None)
    n = len(source.paths)

    # warm the file cache and TensorFlow once, so each method is measured warm
    predict(task, source, workdir / "warm.fits", model=bundle.path, overwrite=True, quiet=True)

    from astrocnn.data.loading import load_all
    from astrocnn.engine.inference import cutout_spec, scalar_inputs

    images = load_all(source.paths, cutout_spec(bundle.meta)).images
    scalars, _ = scalar_inputs(bundle.meta, source.table, n, source.name, source.labels)
    scaler = scaler_from_dict(bundle.meta["preprocessing"])
    compiled = CompiledModel(bundle.model, args.batch_size, scaler)
    bare = CompiledModel(bundle.model, args.batch_size)  # no preprocessing in the graph
    stretched = scaler.transform(images)  # in numpy, not timed
    for net, x in ((compiled, images), (bare, stretched)):
        net(x, scalars)  # every batch shape traced and compiled before the timings

    # 1. bare network, 2. model only (preprocessing compiled in), 3. end to end as
    # the CLI runs it; alternated, best of N each
    def end_to_end():
        predict(
            task,
            source,
            workdir / "pred.fits",
            model=bundle.path,
            overwrite=True,
            quiet=True,
            batch_size=args.batch_size,
        )

    runs = {"e2e": [], "model": [], "bare": []}
    for _ in range(args.repeats):
        runs["e2e"].append(timed(end_to_end))
        runs["model"].append(timed(lambda: compiled(images, scalars)))
        runs["bare"].append(timed(lambda: bare(stretched, scalars)))
    e2e, model, bare_t = (min(runs[k], key=lambda t: t.wall) for k in ("e2e", "model", "bare"))
    t_e2e, t_model, t_bare = e2e.wall, model.wall, bare_t.wall

    # the fixed cost of one run (load the bundle, trace the graph, open the pool, write
    # the table): ``astrocnn predict`` on a one-row slice of the same catalogue
    one = from_catalog(catalog, bundle.meta["bands"], task.default_file_columns or None)
    one.table, one.paths, one.labels = one.table[:1], one.paths[:1], one.labels[:1]
    fixed = best_of(
        lambda: predict(
            task, one, workdir / "one.fits", model=bundle.path, overwrite=True, quiet=True
        ),
        args.repeats,
    )
    t_fixed = fixed.wall

    # 4. naive loop: astropy per file, model.predict per file
    from astropy.io import fits

    m = min(args.naive_n, n)
    t0 = time.perf_counter()
    for r, paths in enumerate(source.paths[:m]):
        planes = []
        for path in paths:  # one cube, or one file per band
            with fits.open(path) as hdul:
                data = hdul[0].data.astype(np.float32)
            planes.append(np.moveaxis(data, 0, -1) if data.ndim == 3 else data[..., None])
        x = scaler.transform(np.concatenate(planes, axis=-1)[None])
        bundle.model.predict(x if scalars is None else (x, scalars[r : r + 1]), verbose=0)
    t_naive = (time.perf_counter() - t0) * n / m

    from astrocnn.models.flops import flops_per_item

    flops = flops_per_item(bundle.model)
    peak_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    times = {"e2e": t_e2e, "model": t_model, "bare": t_bare, "naive": t_naive}
    rate = {k: n / t for k, t in times.items()}
    print(
        f"\n{task.name} predict benchmark: {n} FITS cutouts {images.shape[1:]}, "
        f"batch {args.batch_size}, model {bundle.path.name}"
    )
    print(
        f"  bare network (the ceiling)    : {rate['bare']:8.0f} img/s"
        f"   {flops / 1e6:.1f} MFLOP/img, {rate['bare'] * flops / 1e9:.1f} GFLOP/s"
    )
    print(f"  model + preprocessing         : {rate['model']:8.0f} img/s   (in-memory arrays)")
    print(f"  end to end (astrocnn predict) : {rate['e2e']:8.0f} img/s")
    print(f"  naive loop (astropy+predict)  : {rate['naive']:8.0f} img/s   (timed on {m} files)")
    steady = n / max(t_e2e - t_fixed, 1e-9)
    print(f"  start-up of one run           : {t_fixed:8.2f} s   (predict on a 1-row catalogue)")
    print(f"  end to end without start-up   : {steady:8.0f} img/s")
    print(f"  ratio end-to-end / bare       : {rate['e2e'] / rate['bare']:.2f}   (goal >= 0.85)")
    print(f"  ratio without start-up / bare : {steady / rate['bare']:.2f}")
    print(f"  ratio model-only / bare       : {rate['model'] / rate['bare']:.2f}")
    print(f"  ratio end-to-end / model-only : {rate['e2e'] / rate['model']:.2f}")
    print(f"  ratio end-to-end / naive      : {rate['e2e'] / rate['naive']:.1f}x")
    report_cpu(bare_t, e2e, n, "image", fixed=fixed, reference="bare network")
    print(f"  peak RSS                      : {peak_rss:.0f} MiB")


if __name__ == "__main__":
    main()
