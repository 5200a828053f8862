"""The per-band asinh stretch, four ways, on the same cutouts, in one run.

``asinh(x / s_b)`` on batches of 256 simulated lens cutouts (64x64x4 float32):

1. ``numpy.arcsinh`` (what a reader thread would run);
2. ``tf.math.asinh`` in a graph (the stretch until issue 23);
3. the log/sqrt + series formulation (:func:`astrocnn.data.preprocess.asinh_tf`)
   as plain TensorFlow ops;
4. the same formulation XLA-compiled, batch padded to a power of two
   (:func:`astrocnn.data.preprocess.asinh_stretch_tf`: what training and
   prediction run).

Prints the CPU time per cutout and per pixel of each (best of ``--repeats``),
the largest relative difference from a float64 ``arcsinh``, and the ratio of
each to the bare network's CPU time per cutout (how much a stretch done so
costs beside the network; ``bench_predict.py`` measures the whole run).

Usage::

    python benchmarks/bench_stretch.py [--n 1024] [--workdir DIR]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from cpu_budget import best_of


def _cutouts(workdir: Path, n: int):
    from astrocnn.data.loading import load_all
    from astrocnn.engine.inference import cutout_spec
    from astrocnn.engine.predict import load_task_bundle
    from astrocnn.engine.sources import from_catalog
    from astrocnn.tasks.registry import get_task

    task = get_task("lens")
    catalog = workdir / "catalog.fits"
    if not catalog.exists():
        print(f"simulating {n} lens cutouts into {workdir} (once) ...", flush=True)
        task.simulate(n, 4646, workdir, progress=False)
    bundle = load_task_bundle(task, log=lambda m: None)
    source = from_catalog(catalog, bundle.meta["bands"], task.default_file_columns or None)
    return bundle, load_all(source.paths, cutout_spec(bundle.meta)).images


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1024)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--workdir", default="work_runs/bench_stretch")
    args = parser.parse_args()

    from astrocnn._tf import import_tensorflow
    from astrocnn.data.preprocess import asinh_stretch_tf, asinh_tf, scaler_from_dict
    from astrocnn.engine.inference import CompiledModel

    tf = import_tensorflow()
    workdir = Path(args.workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    bundle, images = _cutouts(workdir, args.n)
    scaler = scaler_from_dict(bundle.meta["preprocessing"])
    scales = np.asarray(scaler.scales, np.float32)
    batches = [images[i : i + 256] for i in range(0, len(images), 256)]
    tensors = [tf.constant(b) for b in batches]
    constant = tf.constant(scales)
    graph_asinh = tf.function(lambda x: tf.math.asinh(x / constant))
    graph_formula = tf.function(lambda x: asinh_tf(x / constant))
    graph_xla = tf.function(lambda x: asinh_stretch_tf(x, scales))  # as the pipelines call it

    ways = {
        "numpy.arcsinh": lambda: [np.arcsinh(b / scales) for b in batches],
        "tf.math.asinh (graph)": lambda: [graph_asinh(t).numpy() for t in tensors],
        "log/sqrt + series (graph)": lambda: [graph_formula(t).numpy() for t in tensors],
        "log/sqrt + series (XLA)": lambda: [graph_xla(t).numpy() for t in tensors],
    }
    reference = np.arcsinh(images.astype(np.float64) / scales)
    bare = CompiledModel(bundle.model, 256)
    stretched = scaler.transform(images)
    bare(stretched)
    network = best_of(lambda: bare(stretched), args.repeats)
    n, pixels = len(images), images[0].size

    print(f"\nasinh stretch of {n} lens cutouts {images.shape[1:]}, batches of 256")
    for name, run in ways.items():
        out = np.concatenate(run())
        timing = best_of(run, args.repeats)
        with np.errstate(divide="ignore", invalid="ignore"):
            error = np.abs(out - reference) / np.abs(reference)
        worst = float(np.max(error[np.abs(reference) >= np.finfo(np.float32).tiny]))
        print(
            f"  {name:28s}: {timing.cpu / n * 1e6:7.1f} us CPU a cutout "
            f"({timing.cpu / (n * pixels) * 1e9:5.2f} ns a pixel), "
            f"{timing.cpu / network.cpu:5.2f} of the bare network's CPU, "
            f"max relative error {worst:.1e}"
        )
    print(f"  bare network                : {network.cpu / n * 1e6:7.1f} us CPU a cutout")


if __name__ == "__main__":
    main()
