"""Input-pipeline headroom: predict and train with a null network, in one run.

On a GPU the network gets 10-50x faster and every CPU-side millisecond
becomes the runtime.  This benchmark replaces the network by one that costs
nothing (a 1x1 convolution to the task's outputs and a global mean: a few
thousand FLOPs an image) and times what is left, the pipeline alone:

1. **FITS catalogue -> decoded output table**: ``astrocnn predict lens
   --catalog`` as the CLI runs it (reader threads, the data contract's
   per-row measurements, the stretch, the graph call, decoding, the output
   table written) with the lens bundle's network swapped for the null one.
   Goal: >= 20,000 cutouts/s (64x64x4 float32) on 2 cores.
2. **packed HDF5 -> training batches**: the training input pipeline
   (sorted-index minibatch reads from the contiguous HDF5 dataset on disk,
   the stretch, D4 augmentation, prefetch) iterated over an epoch, and a
   Keras ``fit`` of the null network on it (adds Keras's per-step cost).
   Goal: >= 50,000 images/s.
3. **JPEG 423x423 -> 64x64 batches**: the catalogue reader as train and
   predict read a folder of colour JPEGs with ``--size 64 --size-mode resize``
   (reduced-scale decoding, Lanczos), in blocks of 256.  Goal: >= 1,000
   images/s.

Each prints items/s (best of ``--repeats``), the CPU time per item and the
ratio to its goal.  The cutouts are simulated (lens simulator) and packed
once into ``--workdir``, the JPEGs drawn once (``bench_jpeg_ingest.py``'s
generator).

Usage::

    python benchmarks/bench_pipeline.py [--n 20000] [--jpegs 2000] [--workdir DIR]
    python benchmarks/bench_pipeline.py --catalog work_runs/bench_lens/catalog.fits
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from cpu_budget import best_of

GOALS = {"fits": 20_000, "packed": 50_000, "jpeg": 1_000}


def null_network(input_shape, n_outputs, softmax=True):
    """A network that costs nothing: a 1x1 convolution to ``n_outputs`` channels,
    then the mean over the image (and a softmax, as the classifiers end)."""
    from astrocnn._tf import import_keras

    keras = import_keras()
    x = keras.Input(input_shape)
    y = keras.layers.Conv2D(n_outputs, 1)(x)
    y = keras.layers.GlobalAveragePooling2D()(y)
    if softmax:
        y = keras.layers.Softmax()(y)
    return keras.Model(x, y, name="null")


def _lens_catalogue(workdir: Path, n: int) -> Path:
    from astrocnn.tasks.registry import get_task

    catalog = workdir / "lens" / "catalog.fits"
    if not catalog.exists():
        print(f"simulating {n} lens cutouts into {catalog.parent} (once) ...", flush=True)
        get_task("lens").simulate(n, 4242, catalog.parent, progress=False)
    return catalog


def bench_fits(catalog: Path, workdir: Path, repeats: int):
    """Catalogue -> output table with the lens bundle's network swapped for the null one."""
    from astrocnn.engine.conversion import input_conversion
    from astrocnn.engine.predict import load_task_bundle, predict_rows, run_log
    from astrocnn.engine.sources import from_catalog
    from astrocnn.io.bundle import Bundle
    from astrocnn.io.catalog import write_table
    from astrocnn.tasks.registry import get_task

    task = get_task("lens")
    real = load_task_bundle(task, log=lambda m: None)
    # no feature-space score: it needs the real network's embedding
    meta = {k: v for k, v in real.meta.items() if k != "feature_stats"}
    bundle = Bundle(null_network(tuple(meta["input_shape"]), 2), meta, real.path)
    source = from_catalog(catalog, meta["bands"], task.default_file_columns or None)

    def run():
        conversion = input_conversion(meta, None)
        table, _ = predict_rows(
            task, bundle, source, conversion=conversion, reader_log=run_log(conversion)
        )
        write_table(table, workdir / "null_predictions.fits", overwrite=True)

    run()  # traces the graph and compiles the stretch
    return len(source.paths), best_of(run, repeats)


def _packed(catalog: Path, workdir: Path) -> Path:
    from astrocnn.data.packed import pack
    from astrocnn.engine.inference import cutout_spec
    from astrocnn.engine.predict import model_bands
    from astrocnn.engine.sources import from_catalog
    from astrocnn.io.bundle import read_meta
    from astrocnn.tasks.registry import get_task

    out = workdir / "lens.h5"
    if not out.exists():
        task = get_task("lens")
        bands = model_bands(task)
        source = from_catalog(catalog, bands, task.default_file_columns or None)
        meta = read_meta(task.default_model("fits"), verify=False)
        print(f"packing {len(source.paths)} cutouts into {out} (once) ...", flush=True)
        pack(source, out, cutout_spec(meta), bands)
    return out


def bench_packed(packed: Path, repeats: int, batch_size: int):
    """The training input pipeline over an epoch, and a Keras fit of the null network."""
    from astrocnn._tf import import_keras
    from astrocnn.data.augment import make_augmenter
    from astrocnn.data.packed import open_packed
    from astrocnn.data.preprocess import AsinhScaler
    from astrocnn.engine.train import _dataset

    data = open_packed(packed, memory_budget_bytes=0)  # streamed from disk, as a large set
    n = len(data.images)
    targets = np.eye(2, dtype=np.float32)[np.arange(n) % 2]
    scaler = AsinhScaler.fit(data.images[: min(n, 2048)])
    dataset = _dataset(
        data.images, targets, np.arange(n), scaler, batch_size, shuffle=True, seed=0,
        augment=make_augmenter("d4", seed=0),
    )  # fmt: skip

    def epoch():
        for _ in dataset:
            pass

    keras = import_keras()
    model = null_network(tuple(data.images.shape[1:]), 2)
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="categorical_crossentropy")

    def fit():
        model.fit(dataset, epochs=1, verbose=0)

    epoch(), fit()
    return n, best_of(epoch, repeats), best_of(fit, repeats)


def bench_jpeg(workdir: Path, n: int, repeats: int):
    """The catalogue reader on 423x423 colour JPEGs, resized to 64x64, blocks of 256."""
    from bench_jpeg_ingest import SIDE, make_jpegs

    from astrocnn.data.loading import iter_blocks
    from astrocnn.io.cutouts import CutoutSpec

    paths = [[p] for p in make_jpegs(workdir / f"jpeg{SIDE}", n)]
    spec = CutoutSpec(3, (64, 64), size_mode="resize", image_kind="raster")

    def read():
        for block in iter_blocks(paths, spec, block_size=256):
            assert block.ok.all()

    read()
    return n, best_of(read, repeats)


def _line(name, n, timing, goal=None):
    rate = n / timing.wall
    text = f"  {name:<40}: {rate:9.0f} /s   CPU {timing.cpu / n * 1e6:7.1f} us each"
    if goal:
        text += f"   {rate / goal:5.2f} of the goal ({goal:,}/s)"
    print(text)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=20000, help="FITS cutouts simulated and packed")
    parser.add_argument("--catalog", default=None, help="an existing lens catalogue instead")
    parser.add_argument("--jpegs", type=int, default=2000)
    parser.add_argument("--batch-size", type=int, default=64, help="training batch")
    parser.add_argument("--repeats", type=int, default=3, help="best of N timings")
    parser.add_argument("--workdir", default="work_runs/bench_pipeline")
    args = parser.parse_args()
    workdir = Path(args.workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    catalog = Path(args.catalog) if args.catalog else _lens_catalogue(workdir, args.n)

    n_fits, fits_run = bench_fits(catalog, workdir, args.repeats)
    n_packed, epoch, fit = bench_packed(_packed(catalog, workdir), args.repeats, args.batch_size)
    n_jpeg, jpeg = bench_jpeg(workdir, args.jpegs, args.repeats)

    print("\npipeline headroom with a null network (1x1 convolution + mean)")
    _line(f"FITS catalogue -> output table ({n_fits})", n_fits, fits_run, GOALS["fits"])
    _line(f"packed HDF5 -> training batches ({n_packed})", n_packed, epoch, GOALS["packed"])
    _line(f"  ... and Keras fit, batch {args.batch_size}", n_packed, fit)
    _line(f"JPEG 423x423 -> 64x64 batches ({n_jpeg})", n_jpeg, jpeg, GOALS["jpeg"])


if __name__ == "__main__":
    main()
