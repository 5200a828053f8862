"""Run a prediction over partitions on Dask workers, resumably.

The driver:

1. reads the catalogue (or the list of maps / fields) and cuts it into
   partitions of ``partition_size`` items;
2. connects to the workers (:mod:`astrocnn.batch.clusters`) before writing
   anything, so an unreachable scheduler leaves no trace;
3. takes the run's lock and writes (or, with ``resume``, checks) its manifest
   (:mod:`astrocnn.batch.parts`);
4. submits the partitions not yet done, keeping only a few per worker in
   flight so memory does not grow with the catalogue; Dask reruns the
   partition of a worker that dies;
5. counts rows as partitions finish (progress bar) and, once all are done,
   merges the parts into the output in catalogue order.

A partition that fails as a whole (not a bad row: those are recorded in the
part) is reported and left for ``--resume``; nothing is merged until every
partition is done, and no row is ever written twice.

The merged output records the run (a ``BATCHRUN`` card: a digest of the
manifest), so ``--resume`` of a run that already finished -- as a resubmitted
job script always asks -- reports "already complete" without starting any
worker. SIGTERM (a wall-time kill of the driver's own job) is handled like
Ctrl-C: the workers' jobs are cancelled on the way out.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import signal
import threading
from dataclasses import dataclass
from pathlib import Path

from astrocnn.batch.clusters import ClusterOptions, open_client
from astrocnn.batch.parts import PartStore, partitions, run_digest
from astrocnn.batch.work import run_partition, work_for
from astrocnn.engine.modes import Outcome
from astrocnn.engine.progress import progress_bar
from astrocnn.errors import AstrocnnError, OutputError

IN_FLIGHT_PER_WORKER = 2


@dataclass
class BatchSummary:
    """What a batch run did.

    Attributes
    ----------
    out : pathlib.Path
        The merged output table.
    n_rows, n_ok : int
        Items in the input and items predicted.
    errors : list of str
        The first failed rows' reasons.
    n_errors : int
        Failed rows in all.
    n_partitions, n_resumed : int
        Partitions in the run, and those already done by an earlier run.
    workers : dict
        Per worker process id, how many bundles it loaded.
    complete : bool
        The run had already finished (``--resume`` of a complete run): nothing
        was done.
    """

    out: Path
    n_rows: int
    n_ok: int
    errors: list
    n_errors: int
    n_partitions: int
    n_resumed: int
    workers: dict
    complete: bool = False


def run_batch(
    task,
    work,
    out,
    *,
    model_path,
    table=None,
    partition_size=None,
    resume=False,
    overwrite=False,
    cluster=None,
    quiet=False,
    log=print,
) -> BatchSummary:
    """Predict every item of ``work`` on Dask workers and merge the result into ``out``.

    Parameters
    ----------
    task : Task
        The task (its bundle must match).
    work : CatalogRows or MapItems or FieldFiles
        What each item is (see :mod:`astrocnn.batch.work`).
    out : path-like
        Output table (rows) or folder (maps, fields).
    model_path : path-like
        The model bundle.
    table : astropy.table.Table, optional
        The catalogue (catalogue rows).
    partition_size : int, optional
        Items per partition (default: the work kind's).
    resume : bool
        Finish an interrupted run with the same model, input and options.
    overwrite : bool
        Replace an existing output (and discard an interrupted run).
    cluster : ClusterOptions, optional
        Where the workers come from (default: a local cluster).
    quiet : bool
        No progress bar.
    log : callable
        Messages.

    Returns
    -------
    BatchSummary
    """
    from astrocnn.io.bundle import read_meta

    model_path = str(Path(model_path).absolute())
    meta = read_meta(model_path)
    if meta.get("task") != task.name:
        raise AstrocnnError(
            f"{model_path}: model was trained for task {meta.get('task')!r}, not {task.name!r}"
        )
    sha = str(meta.get("sha256", ""))
    work.open(table)
    if work.n_items == 0:
        raise AstrocnnError("nothing to predict")
    size = partition_size or work.default_partition_size
    ranges = partitions(work.n_items, size)
    merged = work.merged_path(out)
    if not merged.parent.exists() and merged.parent != Path(out).absolute():
        raise OutputError(f"{out}: folder {merged.parent} does not exist")
    store = PartStore(merged)
    manifest = {
        "task": task.name,
        "model_sha256": sha,
        "items": work.n_items,
        "partition_size": size,
        **work.identity(),
    }
    store.run_id = run_digest(manifest)
    if resume and store.complete():  # a resubmitted job script: no worker needed
        return _complete(store, work.n_items, len(ranges))
    cluster = dataclasses.replace(cluster or ClusterOptions())
    cluster.shared_dir = cluster.shared_dir or str(_existing_folder(merged.parent))
    with _sigterm_interrupts():
        client, started, tf_threads = open_client(cluster, log=log)
        try:
            products = work.prepare_output(out, task, resume, overwrite)
            if not merged.parent.is_dir() or not os.access(merged.parent, os.W_OK):
                raise OutputError(f"{merged}: folder {merged.parent} is not writable")
            merged_before = store.start(manifest, resume=resume, overwrite=overwrite)
            try:
                done = store.done(len(ranges), sha)
                if done:
                    log(f"resuming: {len(done)} of {len(ranges)} partition(s) already done")
                results = []
                if merged_before:  # stopped after the merge, before the cleanup
                    log(f"{merged}: already merged by the interrupted run; cleaning up")
                else:
                    results = _run_partitions(
                        client, task, work, ranges, done, store, model_path, sha, products,
                        tf_threads, quiet,
                    )  # fmt: skip
                    failed = [r for r in results if "failure" in r]
                    if failed:
                        raise AstrocnnError(
                            f"{len(failed)} partition(s) failed (first: {failed[0]['failure']}); "
                            f"the finished ones are kept in {store.folder}: rerun with --resume"
                        )
                    store.merge(len(ranges))
                n_ok = store.count_ok(len(ranges))
                store.finish()
            finally:
                store.lock.release()
        finally:
            client.close()
            if started is not None:
                started.close()
        errors = [e for r in results if "rows" in r for e in r["errors"]][:5]
        workers: dict = {}
        for r in results:
            if "pid" in r:
                workers[r["pid"]] = max(workers.get(r["pid"], 0), r["bundle_loads"])
        n_rows = work.n_items
        return BatchSummary(
            merged, n_rows, n_ok, errors, n_rows - n_ok, len(ranges), len(done), workers
        )


def _complete(store, n_rows, n_partitions) -> BatchSummary:
    """The summary of a run that had already finished."""
    n_ok = store.count_ok_merged()
    return BatchSummary(
        store.merged, n_rows, n_ok, [], n_rows - n_ok, n_partitions, n_partitions, {}, True
    )


def _existing_folder(path: Path) -> Path:
    """``path`` or its nearest existing ancestor (the jobs' certificates go there)."""
    while not path.is_dir() and path != path.parent:
        path = path.parent
    return path


@contextlib.contextmanager
def _sigterm_interrupts():
    """SIGTERM (a wall-time kill of the driver) raises KeyboardInterrupt, so the run's
    jobs are cancelled and its lock released on the way out, as for Ctrl-C."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupt(signum, frame):
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _run_partitions(
    client, task, work, ranges, done, store, model_path, sha, products, tf_threads, quiet
):
    from distributed import as_completed

    todo = [i for i in range(len(ranges)) if i not in done]
    n_workers = max(1, len(client.scheduler_info().get("workers", {})))
    window = max(2, IN_FLIGHT_PER_WORKER * n_workers)
    results = []
    total = sum(b - a for a, b in ranges)
    with progress_bar(total, f"predict ({len(ranges)} partitions)", quiet) as advance:
        advance(sum(ranges[i][1] - ranges[i][0] for i in done))

        def submit(index):
            start, stop = ranges[index]
            future = client.submit(
                run_partition,
                work,
                task,
                model_path,
                sha,
                index,
                start,
                work.payload(start, stop),
                None if products is None else str(products),
                str(store.part_path(index)),
                tf_threads,
                key=f"astrocnn-part-{index:06d}-{sha[:8]}-{os.getpid()}",
                pure=False,
                retries=2,
            )
            future.partition = index
            return future

        queue = iter(todo)
        running = as_completed([submit(i) for _, i in zip(range(window), queue)])
        for future in running:
            index = future.partition
            try:
                result = future.result()
            except Exception as exc:  # noqa: BLE001 - a partition's failure never aborts the rest
                first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
                results.append({"index": index, "failure": f"partition {index}: {first}"})
            else:
                results.append(result)
                advance(result["rows"])
            future.release()
            following = next(queue, None)
            if following is not None:
                running.add(submit(following))
    return results


def _warn_out_of_distribution(out, model_path, log):
    """The run's out-of-distribution summary, from the merged table (one line)."""
    from astrocnn.engine.diagnostics import table_warning
    from astrocnn.io.bundle import read_meta
    from astrocnn.io.catalog import read_catalog
    from astrocnn.io.conversion import ModelContract

    path = Path(out)
    if not path.is_file():
        return
    model = ModelContract.from_meta(read_meta(model_path, verify=False))
    warning = table_warning(read_catalog(path), model)
    if warning:
        log(f"astrocnn: warning: {warning}")


def predict_batch(
    task, request, cluster, *, partition_size=None, resume=False, log=print
) -> Outcome:
    """``astrocnn predict`` on Dask workers: ``request`` in the task's mode, partitioned.

    Parameters
    ----------
    task : Task
        The task.
    request : PredictRequest
        What to predict (as for an in-process run).
    cluster : ClusterOptions
        Where the workers come from.
    partition_size : int, optional
        Items per partition (default: the work kind's).
    resume : bool
        Finish an interrupted run.
    log : callable
        Messages.

    Returns
    -------
    Outcome
        ``errors`` holds the first failures the workers reported.
    """
    from astrocnn.engine.predict import model_bands, resolve_model

    model_path = resolve_model(task, request.model)
    bands = model_bands(task, model_path)
    work = work_for(task, request, bands)
    summary = run_batch(
        task,
        work,
        request.out,
        model_path=model_path,
        partition_size=partition_size,
        resume=resume,
        overwrite=request.overwrite,
        cluster=cluster,
        quiet=request.quiet,
        log=log,
    )
    if summary.complete:
        message = f"already complete: {summary.n_rows} {work.description} ({summary.out})"
        return Outcome(summary.n_rows, summary.n_ok, [], message, "item", summary.n_errors)
    _warn_out_of_distribution(summary.out, model_path, log)
    message = (
        f"wrote {summary.out}: {summary.n_ok} of {summary.n_rows} predicted in "
        f"{summary.n_partitions} partition(s)"
        + (f", {summary.n_resumed} from the interrupted run" if summary.n_resumed else "")
    )
    return Outcome(
        summary.n_rows, summary.n_ok, list(summary.errors), message, "item", summary.n_errors
    )
