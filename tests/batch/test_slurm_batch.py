"""Batch predict through a real SLURM (one node, .ci/slurm-up): sbatch, scancel, squeue.

Every run here submits real jobs with dask-jobqueue; the workers connect to the
driver's scheduler over TLS. The cluster has one partition, ``debug``, with a
2-hour limit that sbatch enforces.
"""

import os
import re
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml
from astropy.io import fits
from astropy.table import Table, vstack
from cli_runner import run
from dask_tls import assert_refuses_outsiders
from helpers import assert_same_table
from paths import SAMPLE_DATA
from slurm_cluster import running_jobs, squeue, wait_no_jobs, wait_until

from astrocnn.batch.clusters import JOB_NAME
from astrocnn.batch.parts import parts_dir

pytestmark = pytest.mark.slurm

ASTROCNN = str(Path(sys.executable).with_name("astrocnn"))
N_ROWS = 2000
DEATH_TIMEOUT = 15  # s: workers of a killed driver end this long after losing it


@pytest.fixture(scope="module")
def big_catalog(slurm_cluster, tmp_path_factory):
    """2,000 lens rows (the sample 50 times, unique ids) and their in-process prediction."""
    folder = tmp_path_factory.mktemp("slurm_lens")
    table = Table.read(SAMPLE_DATA / "lens" / "catalog.fits")
    table["file"] = np.array([str(SAMPLE_DATA / "lens" / f) for f in table["file"]], "U400")
    table = vstack([table] * (N_ROWS // len(table)))
    table["id"] = np.arange(N_ROWS)
    table.write(folder / "catalog.fits")
    run("predict", "lens", "--catalog", folder / "catalog.fits", "--out", folder / "ref.fits", "-q")
    return folder / "catalog.fits", folder / "ref.fits"


def cluster_yaml(folder: Path, **settings) -> Path:
    """A cluster config small enough for the one test node (2 cores)."""
    config = {
        "walltime": "00:20:00",
        "cores": 1,
        "memory": "2GB",
        "death_timeout": DEATH_TIMEOUT,
        **settings,
    }
    path = folder / "cluster.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def predict_args(catalog, out, config, *extra):
    return [
        "predict", "lens", "--catalog", catalog, "--out", out, "--scheduler", "slurm",
        "--cluster-config", config, *extra,
    ]  # fmt: skip


def astrocnn(args, cwd, timeout=600):
    """Run the CLI in a subprocess in ``cwd`` (where SLURM writes the jobs' logs)."""
    return subprocess.run(
        [ASTROCNN, *map(str, args)], cwd=cwd, capture_output=True, text=True, timeout=timeout
    )


def start(args, cwd):
    return subprocess.Popen(
        [ASTROCNN, *map(str, args)],
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )


def parts(out):
    folder = parts_dir(out)
    return sorted(folder.glob("part-*.fits")) if folder.exists() else []


def assert_every_row_once(reference, out):
    assert_same_table(reference, out)
    assert list(Table.read(out)["id"]) == list(range(N_ROWS))
    assert not parts_dir(out).exists()


def assert_no_trace_of_tls(folder):
    assert not list(folder.glob(".astrocnn-tls-*"))


def test_two_worker_jobs_match_in_process_then_resume_is_already_complete(big_catalog, tmp_path):
    catalog, reference = big_catalog
    out = tmp_path / "pred.fits"
    args = predict_args(catalog, out, cluster_yaml(tmp_path), "--workers", 2)
    result = astrocnn([*args, "--partition-size", 250], tmp_path)
    assert result.returncode == 0, result.stderr
    assert "slurm: 2 job(s) submitted" in result.stderr
    assert "8787" not in result.stderr  # no dashboard, no port clash
    assert_every_row_once(reference, out)
    logs = sorted(tmp_path.glob("slurm-*.out"))
    assert len(logs) == 2
    for log in logs:  # each job's worker joined the run's scheduler over TLS
        assert re.search(r"Registered to:\s+tls://", log.read_text()), log.read_text()[-2000:]
    wait_no_jobs()
    assert_no_trace_of_tls(tmp_path)
    # a resubmitted job script: --resume of the finished run submits nothing
    again = astrocnn([*args, "--partition-size", 250, "--resume"], tmp_path)
    assert again.returncode == 0, again.stderr
    assert f"already complete: {N_ROWS} rows" in again.stderr
    assert "submitted" not in again.stderr and squeue() == []
    assert len(list(tmp_path.glob("slurm-*.out"))) == 2


def test_scancel_of_a_worker_job_mid_run_still_gives_every_row_once(big_catalog, tmp_path):
    catalog, reference = big_catalog
    out = tmp_path / "pred.fits"
    args = predict_args(catalog, out, cluster_yaml(tmp_path), "--workers", 2)
    proc = start([*args, "--partition-size", 50, "-q"], tmp_path)
    try:
        wait_until(
            lambda: len(running_jobs(JOB_NAME)) == 2 and len(parts(out)) >= 2,
            300,
            "two running worker jobs and two finished partitions",
        )
        victim = running_jobs(JOB_NAME)[0]
        subprocess.run(["scancel", victim], check=True)
        cancelled_at = len(parts(out))
        _, stderr = proc.communicate(timeout=600)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGINT)
            proc.wait(60)
    assert proc.returncode == 0, stderr
    assert cancelled_at < N_ROWS // 50  # the job was cancelled mid-run
    assert_every_row_once(reference, out)
    wait_no_jobs()


def test_driver_killed_then_resume_completes_with_nothing_twice(big_catalog, tmp_path):
    catalog, reference = big_catalog
    out = tmp_path / "pred.fits"
    args = predict_args(catalog, out, cluster_yaml(tmp_path), "--workers", 2)
    args += ["--partition-size", 50]
    proc = start([*args, "-q"], tmp_path)
    try:
        wait_until(lambda: len(parts(out)) >= 3, 300, "three finished partitions")
    finally:
        os.kill(proc.pid, signal.SIGKILL)  # the driver only: its workers live in SLURM jobs
        proc.wait()
    done_before = len(parts(out))
    assert 3 <= done_before < N_ROWS // 50 and not out.exists()
    result = astrocnn([*args, "--resume"], tmp_path)
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    assert re.search(r"resuming: \d+ of 40 partition\(s\) already done", result.stderr)
    assert_every_row_once(reference, out)
    # the killed driver's jobs end by themselves once their scheduler is gone
    wait_no_jobs(timeout=DEATH_TIMEOUT + 60)


def _comparable(script: str) -> str:
    """A job script without what differs between two runs: the scheduler's address, the
    worker's name and the certificate files' random names."""
    script = re.sub(r"tls://\S+", "tls://SCHEDULER", script)
    script = re.sub(r"--name \S+", "--name WORKER", script)
    return re.sub(r"\S*\.dask-jobqueue\.worker\.(\w+)\.\S+", r"CERT-\1", script)


def test_dry_run_prints_the_script_submitted_and_ctrl_c_cancels_the_jobs(big_catalog, tmp_path):
    catalog, _ = big_catalog
    out = tmp_path / "pred.fits"
    config = cluster_yaml(
        tmp_path, job_directives=["--comment=astrocnn-test"], setup=["echo job-setup-line"]
    )
    args = predict_args(catalog, out, config, "--workers", 1, "--partition-size", 50)
    dry = astrocnn([*args, "--dry-run"], tmp_path)
    assert dry.returncode == 0, dry.stderr
    assert squeue() == [] and not out.exists() and not parts_dir(out).exists()
    assert "--tls-ca-file" in dry.stdout and "--tls-key" in dry.stdout
    proc = start([*args, "-q"], tmp_path)
    try:
        wait_until(lambda: running_jobs(JOB_NAME), 300, "a running worker job")
        job = running_jobs(JOB_NAME)[0]
        submitted = subprocess.run(
            ["scontrol", "write", "batch_script", job, "-"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        wait_until(lambda: len(parts(out)) >= 1, 300, "a finished partition")
        proc.send_signal(signal.SIGINT)  # Ctrl-C
        _, stderr = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    directives = [line for line in dry.stdout.splitlines() if line.startswith("#SBATCH")]
    assert "#SBATCH --comment=astrocnn-test" in directives
    assert [line for line in submitted.splitlines() if line.startswith("#SBATCH")] == directives
    assert _comparable(submitted) == _comparable(dry.stdout)
    assert proc.returncode == 130, stderr
    assert "astrocnn: error: interrupted" in stderr and "Traceback" not in stderr
    wait_no_jobs(timeout=60)  # the driver cancelled its jobs on the way out
    assert_no_trace_of_tls(tmp_path)


def test_a_failed_run_leaves_no_job_behind(tmp_path):
    from astrocnn.tasks.registry import get_task

    model = tmp_path / "lens.keras"
    shutil.copy(get_task("lens").default_model(), model)
    # the jobs delete the model the driver has already checked: every partition fails
    config = cluster_yaml(tmp_path, setup=[f"rm -f {model}"])
    args = predict_args(SAMPLE_DATA / "lens" / "catalog.fits", tmp_path / "p.fits", config)
    result = astrocnn([*args, "--model", model, "--workers", 1, "-q"], tmp_path)
    assert result.returncode == 1
    errors = [line for line in result.stderr.splitlines() if line.startswith("astrocnn: error:")]
    assert len(errors) == 1 and "partition(s) failed" in errors[0], result.stderr
    assert "Traceback" not in result.stderr
    wait_no_jobs()
    assert_no_trace_of_tls(tmp_path)


def test_fields_go_through_the_same_jobs(tmp_path):
    field = tmp_path / "field.fits"
    shutil.copy(SAMPLE_DATA / "deblend" / "field.fits", field)
    run("predict", "deblend", field, "--out", tmp_path / "ref", "-q")
    config = cluster_yaml(tmp_path)
    args = ["predict", "deblend", field, "--out", tmp_path / "slurm", "--scheduler", "slurm"]
    result = astrocnn([*args, "--cluster-config", config, "--workers", 1, "-q"], tmp_path)
    assert result.returncode == 0, result.stderr
    listing = Table.read(tmp_path / "slurm" / "fields.fits")
    assert list(listing["status"]) == ["ok"] and listing["n_sources"][0] > 0
    assert_same_table(
        tmp_path / "ref" / "field_catalog.fits", tmp_path / "slurm" / "field_catalog.fits"
    )
    segmentation = fits.getdata(tmp_path / "slurm" / "field_segmentation.fits")
    assert (segmentation == fits.getdata(tmp_path / "ref" / "field_segmentation.fits")).all()
    wait_no_jobs()


def test_slurm_scheduler_lets_in_only_the_runs_certificate(tmp_path, monkeypatch):
    from astrocnn.batch.clusters import ClusterOptions, open_client

    monkeypatch.chdir(tmp_path)  # where SLURM writes the job's log

    job = {"walltime": "00:10:00", "cores": 1, "memory": "1GB"}
    options = ClusterOptions("slurm", workers=1, job=job, shared_dir=str(tmp_path))
    client, started, _ = open_client(options, log=lambda message: None)
    try:
        client.wait_for_workers(1, timeout=180)
        assert all(a.startswith("tls://") for a in client.scheduler_info()["workers"])
        assert client.submit(sum, [1, 2]).result() == 3  # the run's own client works
        assert_refuses_outsiders(client.scheduler.address)
        # the worker certificate reaches the jobs as files only this user can read
        (folder,) = tmp_path.glob(".astrocnn-tls-*")
        assert folder.stat().st_mode & 0o077 == 0
        files = list(folder.iterdir())
        assert files and all(f.stat().st_mode & 0o077 == 0 for f in files)
        script = started.job_script()
        assert f"--tls-ca-file {folder}" in script and f"--tls-key {folder}" in script
    finally:
        client.close()
        started.close()
    assert_no_trace_of_tls(tmp_path)
    wait_no_jobs()


@pytest.mark.parametrize(
    "setting, refusal",
    [
        ({"queue": "no-such-partition"}, "Invalid partition name specified"),
        ({"walltime": "03:00:00"}, "Requested time limit is invalid"),
    ],
)
def test_a_job_the_partition_refuses_is_one_line_and_writes_nothing(setting, refusal, tmp_path):
    folder = tmp_path / "work"
    folder.mkdir()
    config = cluster_yaml(tmp_path, **setting)
    args = predict_args(SAMPLE_DATA / "lens" / "catalog.fits", folder / "p.fits", config)
    result = astrocnn([*args, "--workers", 1], folder)
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("astrocnn: error: SLURM refuses the worker jobs: ")
    assert refusal in lines[0]
    assert list(folder.iterdir()) == [] and squeue() == []
