"""Where a batch run's workers come from: a local cluster, a running scheduler, or
SLURM/PBS jobs through dask-jobqueue.

``--scheduler`` takes ``local`` (a :class:`distributed.LocalCluster` sized to
the machine), ``slurm`` or ``pbs`` (jobs submitted by dask-jobqueue, configured
from a YAML file and/or command-line options), or the address of a running
Dask scheduler (``tcp://host:8786``).
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field

from astrocnn.errors import AstrocnnError

JOBQUEUE_KINDS = ("slurm", "pbs")
CONNECT_TIMEOUT = 10  # seconds to reach a scheduler given by address

# options of the YAML file / command line, with the dask-jobqueue keyword they feed
_JOB_KEYS = {
    "queue": "queue",
    "account": "account",
    "walltime": "walltime",
    "cores": "cores",
    "memory": "memory",
    "processes": "processes",
    "job_directives": "job_extra_directives",
    "setup": "job_script_prologue",
    "interface": "interface",
    "local_directory": "local_directory",
    "log_directory": "log_directory",
}
_YAML_ONLY = {"gpus_per_job", "min_jobs", "max_jobs", "jobs"}


@dataclass
class ClusterOptions:
    """How to obtain workers (see :func:`open_client`).

    Attributes
    ----------
    scheduler : str
        ``local``, ``slurm``, ``pbs`` or a scheduler address.
    workers : int, optional
        Local: worker processes (default: one per two cores, at least one).
        SLURM/PBS: jobs to start (fixed size) when no adaptive range is given.
    job : dict
        SLURM/PBS job settings: queue, account, walltime, cores, memory,
        processes, gpus_per_job, job_directives (list), setup (list of shell
        lines run before the worker starts), min_jobs, max_jobs.
    """

    scheduler: str = "local"
    workers: int | None = None
    job: dict = field(default_factory=dict)


def read_job_config(path) -> dict:
    """Job settings from a YAML file (keys as in :class:`ClusterOptions`)."""
    import yaml

    try:
        with open(path, encoding="utf-8") as f:
            config = yaml.safe_load(f) or {}
    except OSError as exc:
        raise AstrocnnError(f"{path}: cannot read cluster config ({exc.strerror})") from None
    except yaml.YAMLError as exc:
        first = str(exc).splitlines()[0]
        raise AstrocnnError(f"{path}: not valid YAML ({first})") from None
    if not isinstance(config, dict):
        raise AstrocnnError(f"{path}: cluster config must be a mapping of settings")
    unknown = sorted(set(config) - set(_JOB_KEYS) - _YAML_ONLY)
    if unknown:
        raise AstrocnnError(
            f"{path}: unknown cluster setting(s) {', '.join(unknown)}; known: "
            f"{', '.join(sorted(set(_JOB_KEYS) | _YAML_ONLY))}"
        )
    return config


def _jobqueue_kwargs(kind: str, job: dict) -> dict:
    kwargs = {_JOB_KEYS[k]: v for k, v in job.items() if k in _JOB_KEYS and v is not None}
    for key in ("job_extra_directives", "job_script_prologue"):
        kwargs[key] = list(kwargs.get(key) or [])
    # no sampling profiler in the workers (it slows the FITS readers, see open_client)
    kwargs["job_script_prologue"].insert(
        0, "export DASK_DISTRIBUTED__WORKER__PROFILE__ENABLED=False"
    )
    kwargs.setdefault("cores", 1)
    kwargs.setdefault("memory", "4GB")
    kwargs.setdefault("processes", 1)
    # one partition at a time per Dask worker, TensorFlow using all the worker's cores:
    # book `cores` per job but give each worker process a single Dask thread
    cores, processes = int(kwargs["cores"]), int(kwargs["processes"])
    kwargs["cores"] = processes
    if kind == "slurm":
        kwargs["job_cpu"] = cores
    else:
        kwargs["resource_spec"] = f"select=1:ncpus={cores}:mem={kwargs['memory']}"
    gpus = job.get("gpus_per_job")
    if gpus:
        kwargs["job_extra_directives"].append(
            f"--gres=gpu:{int(gpus)}" if kind == "slurm" else f"-l ngpus={int(gpus)}"
        )
    # the workers need astrocnn importable: the same interpreter as the driver by default
    kwargs.setdefault("python", sys.executable)
    return kwargs


def jobqueue_cluster(kind: str, job: dict):
    """A dask-jobqueue cluster object (no job is submitted until it is scaled)."""
    try:
        import dask_jobqueue
    except ImportError:  # pragma: no cover - dask-jobqueue is a dependency
        raise AstrocnnError("dask-jobqueue is not installed") from None
    cls = {"slurm": dask_jobqueue.SLURMCluster, "pbs": dask_jobqueue.PBSCluster}[kind]
    try:
        return cls(**_jobqueue_kwargs(kind, job))
    except (TypeError, ValueError) as exc:
        raise AstrocnnError(f"invalid {kind} job settings: {exc}") from None


def job_script(kind: str, job: dict) -> str:
    """The job script dask-jobqueue would submit for ``job`` (nothing is submitted)."""
    cluster = jobqueue_cluster(kind, job)
    try:
        return cluster.job_script()
    finally:
        cluster.close()


def local_size(workers: int | None) -> tuple[int, int]:
    """``(worker processes, TensorFlow threads per worker)`` for this machine."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    cores = max(1, cores or 1)
    n = workers or max(1, cores // 2)
    return n, max(1, cores // n)


def open_client(options: ClusterOptions, log=print):
    """Connect to (or start) the workers.

    Returns
    -------
    client : distributed.Client
    cluster : object or None
        The cluster this call started (close it after the client), or None
        for a scheduler given by address.
    tf_threads : int or None
        TensorFlow intra-op threads per worker (None: TensorFlow's default).

    Raises
    ------
    AstrocnnError
        The scheduler cannot be reached, or the cluster cannot be started.
    """
    from distributed import Client, LocalCluster

    scheduler = options.scheduler
    if scheduler == "local":
        import dask

        n, threads = local_size(options.workers)
        # Dask's sampling profiler takes the GIL every few ms, which slows the Python
        # FITS readers of every partition by a third; nobody reads its profiles here
        dask.config.set({"distributed.worker.profile.enabled": False})
        # one task at a time per worker process: TensorFlow uses the worker's cores
        cluster = LocalCluster(
            n_workers=n,
            threads_per_worker=1,
            processes=True,
            dashboard_address=None,
            silence_logs=40,
        )
        log(f"local Dask cluster: {n} worker process(es), {threads} thread(s) each")
        return Client(cluster), cluster, threads
    if scheduler in JOBQUEUE_KINDS:
        job = dict(options.job)
        cluster = jobqueue_cluster(scheduler, job)
        lo, hi = job.get("min_jobs"), job.get("max_jobs")
        if lo is not None or hi is not None:
            cluster.adapt(minimum_jobs=int(lo or 0), maximum_jobs=int(hi or lo or 1))
            log(f"{scheduler}: adaptive, {lo or 0} to {hi or lo or 1} job(s)")
        else:
            jobs = options.workers or int(job.get("jobs", 1))
            cluster.scale(jobs=jobs)
            log(f"{scheduler}: {jobs} job(s) submitted")
        cores, processes = int(job.get("cores") or 1), int(job.get("processes") or 1)
        return Client(cluster), cluster, max(1, cores // processes)
    try:
        client = Client(scheduler, timeout=CONNECT_TIMEOUT)
    except (OSError, TimeoutError, ValueError) as exc:
        raise AstrocnnError(f"cannot reach the Dask scheduler at {scheduler} ({exc})") from None
    return client, None, None
