"""Training throughput for the lens task: streamed from packed HDF5 vs in-memory arrays.

The same training run (shipped architecture, ``--epochs`` epochs, batch
``--batch-size``, D4 augmentation, validation metrics) twice, in one process:

1. images in memory (a numpy array: the ceiling);
2. images streamed from a packed HDF5 file on disk, every minibatch gathered
   with sorted-index reads from a memory map of the contiguous dataset
   (``open_packed`` with a zero memory budget, as for a set larger than RAM).

Prints images/s for each, the ratio packed / in-memory (goal >= 0.90) and
peak RSS.  The cutouts are simulated and packed once into ``--workdir``.

Usage::

    python benchmarks/bench_train.py [--n 5000] [--epochs 3] [--workdir DIR]
"""

from __future__ import annotations

import argparse
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=5000)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--workdir", default="work_runs/bench_train")
    args = parser.parse_args()

    from astrocnn.data.packed import open_packed
    from astrocnn.engine.train import TrainConfig, train, training_set_from_packed
    from astrocnn.tasks.registry import get_task

    task = get_task("lens")
    workdir = Path(args.workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    packed = workdir / "train.h5"
    if not packed.exists():
        print(f"simulating and packing {args.n} lens cutouts into {workdir} (once) ...")
        task.simulate(args.n, 4343, workdir / "sim", progress=False)
        exe = str(Path(sys.executable).with_name("astrocnn"))
        catalog = str(workdir / "sim" / "catalog.fits")
        subprocess.run(
            [exe, "pack", "--catalog", catalog, "--out", str(packed), "--task", "lens", "-q"],
            check=True,
        )

    def run(data, name):
        config = TrainConfig(
            epochs=args.epochs, batch_size=args.batch_size, quiet=True, overwrite=True, seed=1
        )
        t0 = time.perf_counter()
        train(task, data, workdir / f"{name}.keras", config, log=lambda m: None)
        return time.perf_counter() - t0

    in_memory = training_set_from_packed(open_packed(packed))  # loaded: fits the budget
    streamed = training_set_from_packed(open_packed(packed, memory_budget_bytes=0))
    assert not isinstance(in_memory.images, np.memmap)
    assert isinstance(streamed.images, np.memmap)  # read from disk per minibatch
    run(in_memory, "warm")  # first run pays TensorFlow's start-up
    t_mem = min(run(in_memory, "memory") for _ in range(2))
    t_h5 = min(run(streamed, "packed") for _ in range(2))
    n = len(in_memory.images) * args.epochs
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"\nlens training benchmark: {len(in_memory.images)} cutouts, {args.epochs} epochs")
    print(f"  in-memory arrays        : {n / t_mem:8.0f} img/s (whole run, incl. validation)")
    print(f"  packed HDF5, streamed   : {n / t_h5:8.0f} img/s")
    print(f"  ratio packed / in-memory: {t_mem / t_h5:.2f}")
    print(f"  peak RSS                : {peak:.0f} MiB")


if __name__ == "__main__":
    main()
