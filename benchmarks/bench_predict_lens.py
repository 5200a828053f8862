"""Predict throughput for the lens task, three ways, measured in one run.

1. **end to end**: ``astrocnn predict lens --catalog`` as a user runs it
   (parallel FITS reading, in-graph preprocessing, compiled model, decoding,
   writing the output table);
2. **model only**: the same compiled model (preprocessing included) on
   in-memory arrays: the ceiling end to end can reach;
3. **naive loop**: ``astropy.io.fits.open`` per file and ``model.predict`` per
   file, as a first script would do (timed on a subset, it is slow).

Prints images/s for each and the ratios end-to-end / model-only and
end-to-end / naive, plus the peak RSS of the process.

Usage::

    python benchmarks/bench_predict_lens.py [--n 10000] [--workdir DIR] [--model M]

The cutouts are simulated once into ``--workdir`` (reused when present).
"""

from __future__ import annotations

import argparse
import resource
import time
from pathlib import Path

import numpy as np


def _ensure_cutouts(workdir: Path, n: int) -> Path:
    catalog = workdir / "catalog.fits"
    if catalog.exists():
        from astropy.table import Table

        if len(Table.read(catalog)) == n:
            return catalog
        raise SystemExit(f"{workdir} holds a different number of cutouts; use another --workdir")
    from astrocnn.sim.lens import simulate_lens

    print(f"simulating {n} cutouts into {workdir} (once) ...", flush=True)
    simulate_lens(n, 4242, workdir, progress=False)
    return catalog


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=10000)
    parser.add_argument("--workdir", default="work_runs/bench_lens")
    parser.add_argument("--model", default=None, help="bundle (default: the shipped lens model)")
    parser.add_argument("--naive-n", type=int, default=500, help="files timed in the naive loop")
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--repeats", type=int, default=3, help="best of N timings")
    args = parser.parse_args()

    from astrocnn.data.preprocess import scaler_from_dict
    from astrocnn.engine.inference import CompiledModel
    from astrocnn.engine.predict import predict
    from astrocnn.engine.sources import from_catalog
    from astrocnn.io.bundle import load_bundle
    from astrocnn.tasks.registry import get_task

    workdir = Path(args.workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    catalog = _ensure_cutouts(workdir, args.n)
    task = get_task("lens")
    bundle = load_bundle(args.model or task.default_model(), task="lens")
    source = from_catalog(catalog, bundle.meta["bands"])
    n = len(source.paths)

    # warm the file cache and TensorFlow once, so each method is measured warm
    predict(task, source, workdir / "warm.fits", model=bundle.path, overwrite=True, quiet=True)

    from astrocnn.data.loading import load_all
    from astrocnn.engine.inference import cutout_spec

    images = load_all(source.paths, cutout_spec(bundle.meta)).images
    compiled = CompiledModel(
        bundle.model, args.batch_size, scaler_from_dict(bundle.meta["preprocessing"])
    )
    compiled(images[: args.batch_size])

    # 1. end to end, as the CLI runs it, and 2. model only on in-memory arrays
    # (the same compiled graph, preprocessing included); alternated, best of N
    t_e2e, t_model = [], []
    for _ in range(args.repeats):
        t0 = time.perf_counter()
        predict(
            task,
            source,
            workdir / "pred.fits",
            model=bundle.path,
            overwrite=True,
            quiet=True,
            batch_size=args.batch_size,
        )
        t_e2e.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        compiled(images)
        t_model.append(time.perf_counter() - t0)
    t_e2e, t_model = min(t_e2e), min(t_model)

    # 3. naive loop: astropy per file, model.predict per file
    from astropy.io import fits

    scaler = scaler_from_dict(bundle.meta["preprocessing"])
    m = min(args.naive_n, n)
    t0 = time.perf_counter()
    for paths in source.paths[:m]:
        with fits.open(paths[0]) as hdul:
            cube = np.moveaxis(hdul[0].data.astype(np.float32), 0, -1)
        bundle.model.predict(scaler.transform(cube[None]), verbose=0)
    t_naive = (time.perf_counter() - t0) * n / m

    flops = _flops_per_image(bundle.model)
    peak_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    rate = {k: n / t for k, t in (("e2e", t_e2e), ("model", t_model), ("naive", t_naive))}
    print(
        f"\nlens predict benchmark: {n} FITS cutouts {images.shape[1:]}, "
        f"batch {args.batch_size}, model {bundle.path.name}"
    )
    print(f"  end to end (astrocnn predict) : {rate['e2e']:8.0f} img/s")
    print(
        f"  model only (in-memory arrays) : {rate['model']:8.0f} img/s"
        f"   {flops / 1e6:.1f} MFLOP/img, {rate['model'] * flops / 1e9:.1f} GFLOP/s"
    )
    print(f"  naive loop (astropy+predict)  : {rate['naive']:8.0f} img/s   (timed on {m} files)")
    print(f"  ratio end-to-end / model-only : {rate['e2e'] / rate['model']:.2f}")
    print(f"  ratio end-to-end / naive      : {rate['e2e'] / rate['naive']:.1f}x")
    print(f"  peak RSS                      : {peak_rss:.0f} MiB")


def _flops_per_image(model) -> float:
    """Multiply-adds x 2 of the convolution and dense layers, from their shapes."""
    total = 0.0
    for layer in _all_layers(model):
        kind = type(layer).__name__
        if kind == "Conv2D":
            out_h, out_w, out_c = layer.output.shape[1:]
            k_h, k_w = layer.kernel_size
            total += 2.0 * out_h * out_w * out_c * k_h * k_w * layer.input.shape[-1]
        elif kind == "Dense":
            total += 2.0 * layer.input.shape[-1] * layer.units
    return total


def _all_layers(model):
    for layer in model.layers:
        if hasattr(layer, "layers"):
            yield from _all_layers(layer)
        else:
            yield layer


if __name__ == "__main__":
    main()
