"""Batch predict on a local Dask cluster vs in-process predict, and memory vs catalogue length.

For catalogues of 10k and 100k rows (lens task, shipped model) this measures, in
one run and each case in a fresh process:

- in-process ``astrocnn predict lens --catalog`` throughput and peak memory;
- ``astrocnn predict lens --catalog --scheduler local`` (a LocalCluster sized
  to the machine, partitions of ``--partition-size`` rows, default astrocnn's,
  part files merged at the end) throughput and peak memory of the whole
  process tree (driver plus workers, sampled every 0.1 s);

and prints Dask-local / in-process throughput (goal >= 0.9) and the peak
memory at 10k vs 100k rows (the batch run's should not grow with the length).

The rows point at a pool of ``--pool`` simulated cutouts (64x64x4 float32,
64 kB each; 100k distinct files would need 6.4 GB): the files are re-read
through the page cache, which measures the tool, not the disk.

Usage::

    python benchmarks/bench_batch.py [--sizes 10000,100000] [--workdir DIR]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np


def _catalogue(workdir: Path, pool: int, n: int) -> Path:
    from astropy.table import Table

    base = workdir / "pool" / "catalog.fits"
    if not base.exists():
        from astrocnn.tasks.lens.simulate import simulate_lens

        print(f"simulating {pool} cutouts into {base.parent} (once) ...", flush=True)
        simulate_lens(pool, 4242, base.parent, progress=False)
    path = workdir / f"catalog_{n}.fits"
    if not path.exists():
        files = Table.read(base)["file"]
        table = Table(
            {
                "id": np.arange(n, dtype=np.int64),
                # relative to this catalogue's folder, where astrocnn resolves them
                "file": [f"pool/{files[i % len(files)]}" for i in range(n)],
            }
        )
        table.write(path)
    return path


def _peak_tree_rss(proc, samples):
    import psutil

    try:
        root = psutil.Process(proc.pid)
    except psutil.NoSuchProcess:
        return
    while proc.poll() is None:
        try:
            total = root.memory_info().rss
            for child in root.children(recursive=True):
                try:
                    total += child.memory_info().rss
                except psutil.NoSuchProcess:
                    pass
        except psutil.NoSuchProcess:
            break
        samples.append(total)
        time.sleep(0.1)


def _run(args):
    """Run ``astrocnn ARGS``; return (wall seconds, peak RSS of the process tree in MB)."""
    exe = str(Path(sys.executable).with_name("astrocnn"))
    samples: list = []
    start = time.perf_counter()
    proc = subprocess.Popen([exe, *args], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    watcher = threading.Thread(target=_peak_tree_rss, args=(proc, samples), daemon=True)
    watcher.start()
    _, err = proc.communicate()
    wall = time.perf_counter() - start
    watcher.join()
    if proc.returncode != 0:
        raise SystemExit(f"astrocnn {' '.join(args)} failed:\n{err.decode()[-2000:]}")
    return wall, max(samples, default=0) / 2**20


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10000,100000")
    parser.add_argument("--pool", type=int, default=2000)
    parser.add_argument("--workdir", default="work_runs/bench_batch")
    parser.add_argument(
        "--partition-size", type=int, default=None, help="default: astrocnn's default"
    )
    parser.add_argument("--workers", type=int, default=None)
    args = parser.parse_args()

    workdir = Path(args.workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    sizes = [int(s) for s in args.sizes.split(",")]
    rows = []
    for n in sizes:
        catalog = _catalogue(workdir, args.pool, n)
        common = ["predict", "lens", "--catalog", str(catalog), "--overwrite", "-q"]
        t_in, m_in = _run([*common, "--out", str(workdir / f"inproc_{n}.fits")])
        batch = ["--scheduler", "local"]
        if args.partition_size:
            batch += ["--partition-size", str(args.partition_size)]
        if args.workers:
            batch += ["--workers", str(args.workers)]
        t_dask, m_dask = _run([*common, "--out", str(workdir / f"dask_{n}.fits"), *batch])
        rows.append((n, n / t_in, n / t_dask, m_in, m_dask))
        print(
            f"{n:>7} rows: in-process {n / t_in:7.0f} rows/s (peak {m_in:6.0f} MB) | "
            f"dask-local {n / t_dask:7.0f} rows/s (peak {m_dask:6.0f} MB, driver + workers) | "
            f"ratio {t_in / t_dask:.2f}",
            flush=True,
        )
    if len(rows) > 1:
        (n0, *_, a_in, a_dask), (n1, *_, b_in, b_dask) = rows[0], rows[-1]
        print(
            f"peak memory {n1 // 1000}k / {n0 // 1000}k rows: in-process {b_in / a_in:.2f}x, "
            f"dask-local {b_dask / a_dask:.2f}x"
        )
    print("(wall time includes start-up: Python, TensorFlow and the model in every process)")


if __name__ == "__main__":
    main()
