"""Reading cutouts beside the network: reader threads vs reader processes, in one run.

``astrocnn predict`` reads cutouts with a thread pool, chosen because a
process pool measured no better. This benchmark measures both, the
way predict uses them: blocks of rows are read ahead while the compiled
model runs on the previous block, and the time is that of the whole
stream. Decoding and writing are left out, so the ratio to model only is
what the reading alone costs.

* **threads** (what astrocnn uses): :func:`astrocnn.data.loading.iter_blocks`
  with 1 and 2 reader threads;
* **processes**: a pool of 1 or 2 reader processes (started and warmed
  before the clock starts, as a long-lived pool would be) that read their
  chunk of a block with the same code (``_fill``: fast path, batched
  screening, full reader for the rest) straight into a shared-memory block,
  two blocks in flight;
* **model only**: the compiled model on the same images in memory.

Usage::

    python benchmarks/bench_readers.py [--task photoz] [--workdir DIR] [--repeats 3]

The workdir is one of ``bench_predict.py``'s (its cutouts are reused).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from cpu_budget import best_of

_WORKER: dict = {}


def _init_worker(paths, spec, labels):
    _WORKER.update(paths=paths, spec=spec, labels=labels, shm={})


def _read_chunk(shm_name, block_rows, block_start, a, b):
    """Read rows ``a:b`` of the block starting at catalogue row ``block_start``
    into the shared block ``shm_name``; returns the rows' status arrays."""
    from multiprocessing import shared_memory

    from astrocnn.data.loading import LoadedBlock, _fill

    spec = _WORKER["spec"]
    shm = _WORKER["shm"].get(shm_name)
    if shm is None:
        shm = _WORKER["shm"][shm_name] = shared_memory.SharedMemory(name=shm_name)
    shape = (block_rows, *spec.size, spec.n_bands)
    images = np.ndarray(shape, np.float32, buffer=shm.buf)
    n = block_rows
    block = LoadedBlock(block_start, images, np.zeros(n, bool), [""] * n, np.zeros(n, np.int64))
    _fill(block, range(a, b), _WORKER["paths"], spec, _WORKER["labels"])
    return a, b, block.ok[a:b], block.reasons[a:b], block.n_nonfinite[a:b]


def _stream_processes(pool, shms, paths, spec, block_size, chunk, compiled, scalars):
    """Read every row with the process pool, blocks ahead of the model; returns rows ok."""
    n = len(paths)
    bounds = [(s, min(s + block_size, n)) for s in range(0, n, block_size)]
    shape = (*spec.size, spec.n_bands)
    views = [np.ndarray((block_size, *shape), np.float32, buffer=s.buf) for s in shms]

    def submit(k):
        start, stop = bounds[k]
        size = stop - start
        name = shms[k % 2].name
        return [
            pool.submit(_read_chunk, name, block_size, start, a, min(a + chunk, size))
            for a in range(0, size, chunk)
        ]

    pending = submit(0)
    good = 0
    for k, (start, stop) in enumerate(bounds):
        ok = np.zeros(stop - start, bool)
        for future in pending:
            a, b, rows_ok, _, _ = future.result()
            ok[a:b] = rows_ok
        if k + 1 < len(bounds):
            pending = submit(k + 1)
        images = views[k % 2][: stop - start]
        compiled(images[ok], None if scalars is None else scalars[start:stop][ok])
        good += int(ok.sum())
    return good


def _stream_threads(paths, spec, workers, compiled, scalars, block_size):
    from astrocnn.data.loading import iter_blocks

    good = 0
    for block in iter_blocks(
        paths, spec, block_size=block_size, workers=workers, reuse_buffers=True
    ):
        ok = block.ok
        rows = slice(block.start, block.start + len(ok))
        compiled(block.images[ok], None if scalars is None else scalars[rows][ok])
        good += int(ok.sum())
    return good


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--task", default="photoz", choices=["lens", "morphology", "photoz"])
    parser.add_argument("--workdir", default=None, help="default: work_runs/bench_<task>")
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--repeats", type=int, default=3, help="best of N timings")
    args = parser.parse_args()

    import multiprocessing as mp
    from concurrent.futures import ProcessPoolExecutor
    from multiprocessing import shared_memory

    from astrocnn.data.loading import load_all
    from astrocnn.data.preprocess import scaler_from_dict
    from astrocnn.engine.inference import CompiledModel, cutout_spec, scalar_inputs
    from astrocnn.engine.predict import load_task_bundle
    from astrocnn.engine.sources import from_catalog
    from astrocnn.tasks.registry import get_task

    task = get_task(args.task)
    workdir = Path(args.workdir or f"work_runs/bench_{task.name}")
    bundle = load_task_bundle(task)
    source = from_catalog(
        workdir / "catalog.fits", bundle.meta["bands"], task.default_file_columns or None
    )
    paths, n = source.paths, len(source.paths)
    spec = cutout_spec(bundle.meta)
    labels = source.labels
    scalars, _ = scalar_inputs(bundle.meta, source.table, n, source.name, source.labels)
    compiled = CompiledModel(
        bundle.model, args.batch_size, scaler_from_dict(bundle.meta["preprocessing"])
    )
    block_size = max(args.batch_size * 4, 512)
    images = load_all(paths, spec).images
    compiled(images[: args.batch_size], None if scalars is None else scalars[: args.batch_size])

    def best(fn):
        return best_of(fn, args.repeats).wall

    nbytes = block_size * int(np.prod(spec.size)) * spec.n_bands * 4
    shms = [shared_memory.SharedMemory(create=True, size=nbytes) for _ in range(2)]
    pools = {}
    try:
        for workers in (1, 2):
            pool = ProcessPoolExecutor(
                workers,
                mp_context=mp.get_context("spawn"),
                initializer=_init_worker,
                initargs=(paths, spec, labels),
            )
            chunk = max(16, block_size // (4 * workers))
            # warm: every process imports astrocnn and reads once
            list(pool.map(_read_chunk, [shms[0].name] * workers, [block_size] * workers,
                          [0] * workers, range(workers), range(1, workers + 1)))  # fmt: skip
            pools[workers] = (pool, chunk)

        rates = {}
        t = best(lambda: compiled(images, scalars))
        rates["model only"] = n / t
        for workers in (1, 2):
            t = best(
                lambda w=workers: _stream_threads(paths, spec, w, compiled, scalars, block_size)
            )
            rates[f"{workers} reader thread(s)"] = n / t
            pool, chunk = pools[workers]
            t = best(
                lambda p=pool, c=chunk: _stream_processes(
                    p, shms, paths, spec, block_size, c, compiled, scalars
                )
            )
            rates[f"{workers} reader process(es)"] = n / t
    finally:
        for pool, _ in pools.values():
            pool.shutdown()
        for shm in shms:
            shm.close()
            shm.unlink()

    print(f"\n{task.name}: {n} cutouts {spec.size} x {spec.n_bands}, read beside the model")
    model = rates["model only"]
    for name, rate in rates.items():
        print(f"  {name:24s}: {rate:8.0f} img/s   / model only {rate / model:.2f}")


if __name__ == "__main__":
    main()
