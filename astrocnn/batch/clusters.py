"""Where a batch run's workers come from: a local cluster, a running scheduler, or
SLURM/PBS jobs through dask-jobqueue.

``--scheduler`` takes ``local`` (a :class:`distributed.LocalCluster` sized to
the machine), ``slurm`` or ``pbs`` (jobs submitted by dask-jobqueue, configured
from a YAML file and/or command-line options), or the address of a running
Dask scheduler (``tcp://host:8786`` or ``tls://host:8786``).

Every scheduler astrocnn starts speaks TLS with certificates made for the run
(:meth:`distributed.security.Security.temporary`): a Dask scheduler runs any
Python a client sends it, so on a shared login node a plain-TCP scheduler would
let any user who reaches its port run code under your account. The jobs get
the worker certificate as files readable by you only, in a folder removed when
the run ends. A scheduler given by address uses the certificates named in the
cluster YAML (``tls_ca_file``, ``tls_cert``, ``tls_key``) or Dask's own
configuration (``distributed.comm.tls``).
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
from dataclasses import dataclass, field

from astrocnn.errors import AstrocnnError

JOBQUEUE_KINDS = ("slurm", "pbs")
SUBMIT_COMMANDS = {"slurm": "sbatch", "pbs": "qsub"}
CONNECT_TIMEOUT = 10  # seconds to reach a scheduler given by address
JOB_NAME = "astrocnn-worker"  # what squeue/qstat show for the run's jobs

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
    "death_timeout": "death_timeout",
}
# certificates for a scheduler given by address (Security keywords)
_TLS_KEYS = {
    "tls_ca_file": "tls_ca_file",
    "tls_cert": "tls_client_cert",
    "tls_key": "tls_client_key",
}
_YAML_ONLY = {"gpus_per_job", "min_jobs", "max_jobs", "jobs", *_TLS_KEYS}


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
        lines run before the worker starts), min_jobs, max_jobs, death_timeout;
        for a scheduler given by address, tls_ca_file, tls_cert, tls_key.
    dashboard : bool
        Start the Dask dashboard (on a free port) and print its address.
    shared_dir : str, optional
        A folder the jobs can read, for their TLS certificate files (the batch
        driver gives the output's folder, which the jobs write to anyway);
        default: the current directory.
    """

    scheduler: str = "local"
    workers: int | None = None
    job: dict = field(default_factory=dict)
    dashboard: bool = False
    shared_dir: str | None = None


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
    kwargs.setdefault("job_name", JOB_NAME)
    return kwargs


def jobqueue_cluster(kind: str, job: dict, *, security=None, shared_dir=None, dashboard=False):
    """A dask-jobqueue cluster object (no job is submitted until it is scaled).

    ``security`` (a :class:`distributed.security.Security`) makes the
    scheduler and workers speak TLS; in-memory certificates are written for the
    jobs to files in ``shared_dir``.
    """
    dask_jobqueue = _import_jobqueue()
    cls = {"slurm": dask_jobqueue.SLURMCluster, "pbs": dask_jobqueue.PBSCluster}[kind]
    kwargs = _jobqueue_kwargs(kind, job)
    # no dashboard unless asked: a fixed port collides with every other run on the node
    kwargs["scheduler_options"] = {"dashboard_address": ":0" if dashboard else None}
    # the in-process scheduler logs tracebacks of its own shutdown races when a run is
    # interrupted; what matters reaches astrocnn as an exception
    kwargs["silence_logs"] = "critical"
    if not dashboard:  # the workers' own dashboards too
        kwargs["worker_extra_args"] = ["--no-dashboard"]
    if security is not None:
        kwargs.update(security=security, shared_temp_directory=shared_dir)
    try:
        return cls(**kwargs)
    except (TypeError, ValueError) as exc:
        raise AstrocnnError(f"invalid {kind} job settings: {exc}") from None


def _import_jobqueue():
    """dask_jobqueue, imported without its change to Ctrl-C.

    Importing it (0.9) replaces SIGINT's handler by ``sys.exit()``: Ctrl-C would
    end the driver with status 0, no message and a half-done run. Python's
    KeyboardInterrupt is put back, so Ctrl-C reports "interrupted" (status 130).
    """
    main = threading.current_thread() is threading.main_thread()
    previous = signal.getsignal(signal.SIGINT) if main else None
    try:
        import dask_jobqueue
    except ImportError:  # pragma: no cover - dask-jobqueue is a dependency
        raise AstrocnnError("dask-jobqueue is not installed") from None
    if previous is not None:
        signal.signal(signal.SIGINT, previous)
    return dask_jobqueue


def job_script(kind: str, job: dict) -> str:
    """The job script dask-jobqueue would submit for ``job`` (nothing is submitted).

    The script is made with TLS, as a real run's: it shows where the worker
    certificate files go (a temporary folder here, removed on return).
    """
    with _TlsFolder(None) as folder:
        cluster = jobqueue_cluster(kind, job, security=_temporary_security(), shared_dir=folder)
        try:
            return cluster.job_script()
        finally:
            _close(cluster)


def _close(cluster):
    """Close a dask-jobqueue cluster (cancelling its jobs) and delete its certificate files."""
    try:
        cluster.close()
    finally:
        # dask-jobqueue keeps the files it wrote as open temporary files (``_job_<part>``)
        for name, value in list(vars(cluster).items()):
            if name.startswith("_job_") and hasattr(value, "close"):
                value.close()


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
        What this call started (``close()`` it after the client), or None for
        a scheduler given by address.
    tf_threads : int or None
        TensorFlow intra-op threads per worker (None: TensorFlow's default).

    Raises
    ------
    AstrocnnError
        The scheduler cannot be reached, the cluster cannot be started, or
        the batch system refuses the jobs (nothing is left behind).
    """
    if options.dashboard:
        _check_dashboard()
    if options.scheduler == "local":
        return _local_client(options, log)
    if options.scheduler in JOBQUEUE_KINDS:
        return _jobqueue_client(options, log)
    return _address_client(options, log)


def _check_dashboard():
    import importlib.util

    if importlib.util.find_spec("bokeh") is None:
        raise AstrocnnError("--dashboard needs the bokeh package: pip install 'bokeh>=3.1'")


def _temporary_security():
    from distributed.security import Security

    try:
        return Security.temporary()
    except ImportError:  # pragma: no cover - cryptography is a dependency
        raise AstrocnnError("TLS certificates need the cryptography package") from None


def _local_client(options, log):
    import dask
    from distributed import Client, LocalCluster

    n, threads = local_size(options.workers)
    # Dask's sampling profiler takes the GIL every few ms, which slows the Python
    # FITS readers of every partition by a third; nobody reads its profiles here
    dask.config.set({"distributed.worker.profile.enabled": False})
    # one task at a time per worker process: TensorFlow uses the worker's cores
    cluster = LocalCluster(
        n_workers=n,
        threads_per_worker=1,
        processes=True,
        dashboard_address=":0" if options.dashboard else None,
        silence_logs=40,
        security=_temporary_security(),
    )
    log(f"local Dask cluster: {n} worker process(es), {threads} thread(s) each")
    _log_dashboard(cluster, options, log)
    return Client(cluster), cluster, threads


def _log_dashboard(cluster, options, log):
    if options.dashboard:
        log(f"Dask dashboard: {cluster.dashboard_link}")


class _TlsFolder:
    """A folder only the user can read, for the jobs' certificate files; removed on exit.

    Parameters
    ----------
    parent : str or None
        Where to make it (a folder the jobs can read); None: the system's
        temporary folder.
    """

    def __init__(self, parent):
        self.parent = parent
        self.path = None

    def __enter__(self) -> str:
        try:
            self.path = tempfile.mkdtemp(prefix=".astrocnn-tls-", dir=self.parent)
        except OSError as exc:
            raise AstrocnnError(
                f"{self.parent}: cannot create the folder for the jobs' TLS certificates "
                f"({exc.strerror})"
            ) from None
        return self.path

    def __exit__(self, *exc):
        self.remove()

    def remove(self):
        if self.path is not None:
            shutil.rmtree(self.path, ignore_errors=True)
            self.path = None


class StartedCluster:
    """A dask-jobqueue cluster started by this run and its certificate folder.

    ``close()`` cancels the jobs (dask-jobqueue's ``scancel``/``qdel``) and
    removes the folder.
    """

    def __init__(self, cluster, folder: _TlsFolder):
        self.cluster = cluster
        self.folder = folder

    def __getattr__(self, name):
        return getattr(self.cluster, name)

    def close(self):
        try:
            _close(self.cluster)
        finally:
            self.folder.remove()


def _jobqueue_client(options, log):
    from distributed import Client

    kind, job = options.scheduler, dict(options.job)
    submit = SUBMIT_COMMANDS[kind]
    if shutil.which(submit) is None:
        raise AstrocnnError(
            f"--scheduler {kind}: {submit} is not on PATH (run on a login node of the cluster, "
            f"or load its module)"
        )
    folder = _TlsFolder(options.shared_dir or os.getcwd())
    folder.__enter__()
    cluster = None
    try:
        cluster = jobqueue_cluster(
            kind, job, security=_temporary_security(), shared_dir=folder.path,
            dashboard=options.dashboard,
        )  # fmt: skip
        if kind == "slurm":
            check_submission(cluster.job_script())
        _submit(cluster, kind, job, options.workers, log)
        _log_dashboard(cluster, options, log)
        client = Client(cluster)
    except BaseException:
        if cluster is not None:
            _close(cluster)
        folder.remove()
        raise
    cores, processes = int(job.get("cores") or 1), int(job.get("processes") or 1)
    return client, StartedCluster(cluster, folder), max(1, cores // processes)


def check_submission(script: str):
    """Ask SLURM whether it would accept ``script`` (``sbatch --test-only``: nothing is
    submitted).

    Raises
    ------
    AstrocnnError
        SLURM's answer (unknown partition or account, a wall time or size the
        partition refuses, ...) in one line.
    """
    try:
        answer = subprocess.run(
            ["sbatch", "--test-only"], input=script, capture_output=True, text=True, timeout=60
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise AstrocnnError(f"sbatch --test-only failed: {exc}") from None
    if answer.returncode != 0:
        raise AstrocnnError(f"SLURM refuses the worker jobs: {_refusal(answer.stderr)}")


def _refusal(stderr: str) -> str:
    """The informative line of a batch system's error output."""
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    for marker in ("allocation failure:", "submission failed:", "error:"):
        for line in lines:
            if marker in line:
                return line.split(marker, 1)[1].strip()
    return lines[-1] if lines else "no reason given"


def _submit(cluster, kind, job, workers, log):
    """Submit the jobs now, so a refusal is an error here rather than a hung run."""
    lo, hi = job.get("min_jobs"), job.get("max_jobs")
    if lo is not None or hi is not None:
        cluster.adapt(minimum_jobs=int(lo or 0), maximum_jobs=int(hi or lo or 1))
        log(f"{kind}: adaptive, {lo or 0} to {hi or lo or 1} job(s)")
        return
    jobs = workers or int(job.get("jobs", 1))
    cluster.scale(jobs=jobs)
    try:
        # scale() submits in the background; wait for it and see its errors
        cluster.sync(cluster._correct_state)
    except RuntimeError as exc:
        stderr = str(exc).split("stderr:", 1)[-1]
        raise AstrocnnError(f"{kind} refused the worker jobs: {_refusal(stderr)}") from None
    ids = [str(getattr(w, "job_id", "") or "?") for w in cluster.workers.values()]
    log(f"{kind}: {jobs} job(s) submitted ({', '.join(ids)})")


def user_security(job: dict):
    """The :class:`~distributed.security.Security` of the cluster YAML's ``tls_*`` keys
    (None without them: Dask's configuration applies)."""
    given = {_TLS_KEYS[k]: os.path.expanduser(str(v)) for k, v in job.items() if k in _TLS_KEYS}
    if not given:
        return None
    missing = [k for k, v in _TLS_KEYS.items() if v not in given]
    if missing:
        raise AstrocnnError(f"cluster config: give all of tls_ca_file, tls_cert, tls_key "
                            f"(missing: {', '.join(missing)})")  # fmt: skip
    for path in given.values():
        if not os.path.isfile(path):
            raise AstrocnnError(f"{path}: TLS file not found")
    from distributed.security import Security

    return Security(require_encryption=True, **given)


def _address_client(options, log):
    from distributed import Client

    scheduler = options.scheduler
    security = user_security(options.job)
    kwargs = {} if security is None else {"security": security}
    try:
        client = Client(scheduler, timeout=CONNECT_TIMEOUT, **kwargs)
    except TypeError as exc:  # a tls:// address without certificates
        raise AstrocnnError(
            f"cannot reach the Dask scheduler at {scheduler}: TLS needs certificates (tls_ca_file, "
            f"tls_cert, tls_key in --cluster-config, or Dask's distributed.comm.tls settings): "
            f"{exc}"
        ) from None
    except (OSError, TimeoutError, ValueError, AssertionError) as exc:
        raise AstrocnnError(f"cannot reach the Dask scheduler at {scheduler} ({exc})") from None
    if options.dashboard and client.dashboard_link:
        log(f"Dask dashboard: {client.dashboard_link}")
    return client, None, None
