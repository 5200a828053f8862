"""``astrocnn predict`` options for batch runs on Dask workers (local, address, SLURM, PBS)."""

from __future__ import annotations

import click

from astrocnn_cli.task_commands import params_of

_DECORATORS = [
    click.option(
        "--scheduler",
        default=None,
        metavar="local|slurm|pbs|ADDRESS",
        help="Run on Dask workers: a local cluster sized to the machine (the default with any "
        "batch option), SLURM or PBS jobs (dask-jobqueue), or a running scheduler's address "
        "(tcp://host:8786, or tls://host:8786 with the certificates of --cluster-config or "
        "Dask's configuration). Schedulers astrocnn starts use TLS with certificates made for "
        "the run. Without a batch option, predict runs in this process.",
    ),
    click.option(
        "--workers",
        type=click.IntRange(min=1),
        default=None,
        help="Local: worker processes (default: one per two cores). SLURM/PBS: jobs to "
        "start when no --min-jobs/--max-jobs range is given.",
    ),
    click.option(
        "--partition-size",
        type=click.IntRange(min=1),
        default=None,
        help="Items per partition (default 8192 rows, 4 maps, 1 field). Each finished "
        "partition is saved in OUT.parts/, so an interrupted run loses at most the "
        "partitions in flight.",
    ),
    click.option(
        "--resume",
        is_flag=True,
        help="Finish an interrupted batch run (same model, input and options), skipping "
        "the partitions already done.",
    ),
    click.option(
        "--cluster-config",
        type=click.Path(dir_okay=False),
        default=None,
        help="YAML file of SLURM/PBS job settings (queue, account, walltime, cores, memory, "
        "processes, gpus_per_job, job_directives, setup, min_jobs, max_jobs, death_timeout); "
        "the options below override it. For a scheduler given by address: tls_ca_file, "
        "tls_cert, tls_key (default: Dask's distributed.comm.tls configuration).",
    ),
    click.option("--queue", default=None, help="SLURM partition / PBS queue."),
    click.option("--account", default=None, help="Account (project) charged for the jobs."),
    click.option("--walltime", default=None, help="Job wall-time limit, e.g. 02:00:00."),
    click.option("--job-cores", type=click.IntRange(min=1), default=None, help="Cores per job."),
    click.option("--job-memory", default=None, help="Memory per job, e.g. 16GB."),
    click.option("--gpus-per-job", type=click.IntRange(min=0), default=None, help="GPUs per job."),
    click.option(
        "--job-directive",
        "job_directives",
        multiple=True,
        help="Extra scheduler directive, e.g. --constraint=haswell (repeatable).",
    ),
    click.option(
        "--job-setup",
        "job_setup",
        multiple=True,
        help="Shell line run in the job before the worker starts, e.g. 'source "
        "~/venvs/astrocnn/bin/activate' (repeatable).",
    ),
    click.option(
        "--min-jobs", type=click.IntRange(min=0), default=None, help="Adaptive: fewest jobs."
    ),
    click.option(
        "--max-jobs", type=click.IntRange(min=1), default=None, help="Adaptive: most jobs."
    ),
    click.option(
        "--dashboard",
        is_flag=True,
        help="Start the Dask dashboard on a free port and print its address (needs bokeh); "
        "off by default.",
    ),
    click.option(
        "--dry-run",
        is_flag=True,
        help="With --scheduler slurm|pbs: print the job script that would be submitted, and exit.",
    ),
]

BATCH_OPTIONS = params_of(*_DECORATORS)

_NAMES = (
    "scheduler", "workers", "partition_size", "resume", "cluster_config", "queue", "account",
    "walltime", "job_cores", "job_memory", "gpus_per_job", "job_directives", "job_setup",
    "min_jobs", "max_jobs", "dashboard", "dry_run",
)  # fmt: skip
_JOB = {
    "queue": "queue",
    "account": "account",
    "walltime": "walltime",
    "job_cores": "cores",
    "job_memory": "memory",
    "gpus_per_job": "gpus_per_job",
    "min_jobs": "min_jobs",
    "max_jobs": "max_jobs",
}


def batch_values(given: dict) -> dict:
    """The batch options' values out of a command's keyword arguments (all of them)."""
    return {name: given.pop(name) for name in _NAMES}


def wants_batch(batch: dict) -> bool:
    """Whether any batch option was given (else predict runs in this process)."""
    from astrocnn.errors import AstrocnnError

    wanted = any(batch[k] for k in ("scheduler", "workers", "partition_size", "resume", "dry_run"))
    if batch["dashboard"] and not wanted:
        raise AstrocnnError("--dashboard is for batch runs: give --scheduler or --workers")
    return wanted


def cluster_options(batch: dict):
    """The :class:`~astrocnn.batch.clusters.ClusterOptions` of the given options."""
    from astrocnn.batch.clusters import ClusterOptions, read_job_config

    job = read_job_config(batch["cluster_config"]) if batch["cluster_config"] else {}
    for option, key in _JOB.items():
        if batch[option] is not None:
            job[key] = batch[option]
    if batch["job_directives"]:
        job["job_directives"] = list(job.get("job_directives") or []) + list(
            batch["job_directives"]
        )
    if batch["job_setup"]:
        job["setup"] = list(job.get("setup") or []) + list(batch["job_setup"])
    return ClusterOptions(
        batch["scheduler"] or "local", batch["workers"], job, dashboard=batch["dashboard"]
    )
