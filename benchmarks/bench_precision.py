"""Mixed precision on this CPU: training speed and the metric, float32 vs bfloat16, in one run.

``--precision mixed`` trains with Keras's ``mixed_bfloat16`` policy on a CPU
(layers compute in bfloat16, weights stay float32; :mod:`astrocnn.engine.precision`).
Whether that is faster depends on the CPU: with AVX-512 BF16 or AMX the
matrix units take bfloat16 directly; without them (AVX2 only) every bfloat16
op is emulated, and an earlier quick test found bf16 training much slower.
``astrocnn info --system`` lists the instruction sets this machine has.

The same training run of the lens task's shipped architecture (``--epochs``
epochs, batch ``--batch-size``, D4 augmentation, seeded) on ``--n`` simulated
cutouts, once per precision and alternated (best of ``--repeats``), then:

- training images/s of each (whole run, validation included) and the ratio
  mixed / float32;
- the validation metrics each run reached (AUROC, accuracy): the toy task's
  verdict on whether bfloat16 keeps the metric (same seed, same split);
- the forward speed of each trained network on the validation cutouts
  (``predict`` computes in the policy the bundle was trained with).

The default stays float32 unless mixed is faster *and* keeps the metric.

Usage::

    python benchmarks/bench_precision.py [--n 2000] [--epochs 3] [--workdir DIR]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
from cpu_budget import timed

PRECISIONS = ("float32", "mixed")


def _training_set(workdir: Path, n: int):
    from astrocnn.engine.inference import cutout_spec
    from astrocnn.engine.sources import from_catalog
    from astrocnn.engine.train import training_set_from_source
    from astrocnn.io.bundle import read_meta
    from astrocnn.tasks.registry import get_task

    task = get_task("lens")
    catalog = workdir / "sim" / "catalog.fits"
    if not catalog.exists():
        print(f"simulating {n} lens cutouts into {catalog.parent} (once) ...", flush=True)
        task.simulate(n, 4545, catalog.parent, progress=False)
    meta = read_meta(task.default_model("fits"), verify=False)
    source = from_catalog(catalog, meta["bands"], task.default_file_columns or None)
    return task, training_set_from_source(source, cutout_spec(meta), meta["bands"], quiet=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=2000)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=2, help="best of N timings")
    parser.add_argument("--workdir", default="work_runs/bench_precision")
    args = parser.parse_args()

    from astrocnn.engine.inference import CompiledModel
    from astrocnn.engine.precision import mixed_policy_name
    from astrocnn.engine.train import TrainConfig, train
    from astrocnn.io.bundle import load_bundle

    workdir = Path(args.workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    task, data = _training_set(workdir, args.n)

    def run(precision):
        config = TrainConfig(
            epochs=args.epochs, batch_size=args.batch_size, quiet=True, overwrite=True,
            seed=1, precision=precision,
        )  # fmt: skip
        return train(task, data, workdir / f"{precision}.keras", config, log=lambda m: None)

    run("float32")  # the first run pays TensorFlow's start-up
    timings, metas = {p: [] for p in PRECISIONS}, {}
    for _ in range(args.repeats):
        for precision in PRECISIONS:
            timing = timed(lambda p=precision: metas.__setitem__(p, run(p)))
            timings[precision].append(timing)
    best = {p: min(t, key=lambda t: t.wall) for p, t in timings.items()}
    n_seen = len(data.images) * args.epochs

    from astrocnn.data.preprocess import scaler_from_dict

    forward = {}
    for precision in PRECISIONS:
        bundle = load_bundle(workdir / f"{precision}.keras", task="lens")
        scaler = scaler_from_dict(bundle.meta["preprocessing"])
        network = CompiledModel(bundle.model, 256, scaler)
        images = np.asarray(data.images[: min(len(data.images), 2048)], np.float32)
        network(images)
        start = time.perf_counter()
        network(images)
        forward[precision] = len(images) / (time.perf_counter() - start)

    print(
        f"\nmixed precision ({mixed_policy_name()}) vs float32: lens architecture, "
        f"{len(data.images)} cutouts, {args.epochs} epochs, batch {args.batch_size}"
    )
    for precision in PRECISIONS:
        metrics = metas[precision]["validation_metrics"]
        print(
            f"  {precision:8s}: train {n_seen / best[precision].wall:7.0f} img/s, "
            f"forward {forward[precision]:7.0f} img/s, validation AUROC "
            f"{metrics.get('auroc', float('nan')):.4f}, accuracy "
            f"{metrics.get('accuracy', float('nan')):.4f}"
        )
    speed = best["float32"].wall / best["mixed"].wall
    print(f"  train speed mixed / float32   : {speed:.2f}")
    print(f"  forward speed mixed / float32 : {forward['mixed'] / forward['float32']:.2f}")
    auroc = {p: metas[p]["validation_metrics"].get("auroc", np.nan) for p in PRECISIONS}
    keeps = auroc["mixed"] >= auroc["float32"] - 0.005
    verdict = "mixed could be the default" if speed > 1 and keeps else "float32 stays the default"
    print(f"  verdict                       : {verdict}")
    print(f"  (faster: {speed > 1}; keeps the AUROC within 0.005: {keeps})")


if __name__ == "__main__":
    main()
