"""Batch prediction on Dask workers: same output as in-process, resumable, fault tolerant."""

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits
from astropy.table import Table
from cli_runner import run
from helpers import assert_same_table
from paths import SAMPLE_DATA

from astrocnn.batch.parts import PartStore, parts_dir, write_part
from astrocnn.errors import OutputError

SAMPLES = SAMPLE_DATA
ASTROCNN = [str(Path(sys.executable).with_name("astrocnn"))]


@pytest.fixture(scope="module")
def lens_catalog(tmp_path_factory):
    """The lens sample catalogue plus one missing file and one garbage file (bad rows)."""
    folder = tmp_path_factory.mktemp("lens_batch")
    table = Table.read(SAMPLES / "lens" / "catalog.fits")
    table["file"] = np.array([str(SAMPLES / "lens" / f) for f in table["file"]], dtype="U400")
    (folder / "garbage.fits").write_bytes(b"not a FITS file at all" * 20)
    table["file"][3] = str(folder / "missing.fits")
    table["file"][17] = str(folder / "garbage.fits")
    path = folder / "catalog.fits"
    table.write(path)
    return path


@pytest.fixture(scope="module")
def lens_reference(lens_catalog, tmp_path_factory):
    out = tmp_path_factory.mktemp("lens_ref") / "ref.fits"
    run("predict", "lens", "--catalog", lens_catalog, "--out", out, "-q")
    return out


@pytest.fixture(scope="module")
def long_catalog(lens_catalog, tmp_path_factory):
    """400 rows (the sample ten times over, unique ids): long enough to interrupt."""
    from astropy.table import vstack

    table = Table.read(lens_catalog)
    table = vstack([table] * 10)
    table["id"] = np.arange(len(table))
    folder = tmp_path_factory.mktemp("long")
    table.write(folder / "catalog.fits")
    ref = folder / "ref.fits"
    run("predict", "lens", "--catalog", folder / "catalog.fits", "--out", ref, "-q")
    return folder / "catalog.fits", ref


def test_local_cluster_matches_in_process(lens_catalog, lens_reference, tmp_path):
    from astrocnn.batch.clusters import ClusterOptions
    from astrocnn.batch.driver import run_batch
    from astrocnn.batch.work import CatalogRows
    from astrocnn.io.catalog import read_catalog
    from astrocnn.tasks.registry import get_task

    task = get_task("lens")
    out = tmp_path / "batch.fits"
    summary = run_batch(
        task,
        CatalogRows(str(lens_catalog), ["g", "r", "i", "z"], None, {"batch_size": 16}),
        out,
        model_path=task.default_model(),
        table=read_catalog(lens_catalog),
        partition_size=3,
        cluster=ClusterOptions("local", workers=2),
        quiet=True,
        log=lambda m: None,
    )
    assert_same_table(lens_reference, out)
    table = Table.read(out)
    assert list(table["status"][[3, 17]]) == ["error", "error"]
    assert "missing.fits" in table["reason"][3] and "row 3" in table["reason"][3]
    assert summary.n_partitions == 14 and summary.n_ok == 38 and summary.n_errors == 2
    # each worker process loaded the bundle once, however many partitions it ran
    assert 1 <= len(summary.workers) <= 2 and set(summary.workers.values()) == {1}
    assert not parts_dir(out).exists()


def test_cli_batch_csv_with_array_columns_matches_in_process(tmp_path):
    catalog = SAMPLES / "photoz" / "catalog.fits"
    ref, out = tmp_path / "ref.csv", tmp_path / "batch.csv"
    grid = ("--pdf-grid", "0,3,16")
    run("predict", "photoz", "--catalog", catalog, "--out", ref, *grid, "-q")
    result = run(
        "predict", "photoz", "--catalog", catalog, "--out", out, *grid,
        "--workers", 2, "--partition-size", 7, "-q",
    )  # fmt: skip
    assert result.exit_code == 0
    assert_same_table(ref, out)
    assert "pdf_15" in Table.read(out).colnames


def test_maps_through_the_same_machinery(tmp_path):
    catalog = SAMPLES / "paint" / "catalog.fits"
    run("predict", "paint", "--catalog", catalog, "--out", tmp_path / "ref", "-q")
    run(
        "predict", "paint", "--catalog", catalog, "--out", tmp_path / "batch",
        "--workers", 2, "--partition-size", 2, "-q",
    )  # fmt: skip
    ref = Table.read(tmp_path / "ref" / "catalog.fits")
    got = Table.read(tmp_path / "batch" / "catalog.fits")
    assert list(ref["id"]) == list(got["id"]) and list(ref["file"]) == list(got["file"])
    for name in ref["file"]:
        with fits.open(tmp_path / "ref" / name) as a, fits.open(tmp_path / "batch" / name) as b:
            for ha, hb in zip(a, b):
                np.testing.assert_allclose(hb.data, ha.data, rtol=1e-4, atol=1e-6)


def test_fields_one_per_item(tmp_path):
    field = tmp_path / "field.fits"
    shutil.copy(SAMPLES / "deblend" / "field.fits", field)
    run("predict", "deblend", field, "--out", tmp_path / "ref", "-q")
    run("predict", "deblend", field, "--out", tmp_path / "batch", "--workers", 1, "-q")
    listing = Table.read(tmp_path / "batch" / "fields.fits")
    assert list(listing["status"]) == ["ok"] and listing["n_sources"][0] > 0
    assert_same_table(
        tmp_path / "ref" / "field_catalog.fits", tmp_path / "batch" / "field_catalog.fits"
    )
    ref_seg = fits.getdata(tmp_path / "ref" / "field_segmentation.fits")
    assert (fits.getdata(tmp_path / "batch" / "field_segmentation.fits") == ref_seg).all()


def _wait_for(condition, timeout, what):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def _parts(out):
    folder = parts_dir(out)
    return sorted(folder.glob("part-*.fits")) if folder.exists() else []


def test_killed_driver_resumes_without_losing_or_duplicating_rows(long_catalog, tmp_path):
    catalog, reference = long_catalog
    out = tmp_path / "out.fits"
    args = [
        "predict", "lens", "--catalog", str(catalog), "--out", str(out),
        "--scheduler", "local", "--workers", "1", "--partition-size", "2", "-q",
    ]  # fmt: skip
    proc = subprocess.Popen(ASTROCNN + args, start_new_session=True)
    try:
        _wait_for(lambda: len(_parts(out)) >= 3, 120, "three finished partitions")
    finally:
        os.killpg(proc.pid, signal.SIGKILL)  # the driver and its local workers
        proc.wait()
    done_before = len(_parts(out))
    assert 3 <= done_before < 200 and not out.exists()
    result = subprocess.run(ASTROCNN + [*args[:-1], "--resume"], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    assert "already done" in result.stdout + result.stderr
    assert_same_table(reference, out)
    ids = list(Table.read(out)["id"])
    assert ids == list(range(400))
    assert not parts_dir(out).exists()


def test_killed_worker_is_replaced_and_the_run_completes(long_catalog, tmp_path):
    from distributed import Client, LocalCluster

    catalog, reference = long_catalog
    out = tmp_path / "out.fits"
    with (
        LocalCluster(n_workers=2, threads_per_worker=1, dashboard_address=None) as cluster,
        Client(cluster) as client,
    ):
        pids = client.run(os.getpid)
        proc = subprocess.Popen(
            ASTROCNN
            + [
                "predict",
                "lens",
                "--catalog",
                str(catalog),
                "--out",
                str(out),
                "--scheduler",
                cluster.scheduler_address,
                "--partition-size",
                "2",
                "-q",
            ],  # fmt: skip
            stderr=subprocess.PIPE,
            text=True,
        )
        # kill one worker while partitions are running on it
        _wait_for(lambda: len(_parts(out)) >= 1, 120, "the first partition")
        victim = sorted(pids.values())[0]
        os.kill(victim, signal.SIGKILL)
        killed_at = len(_parts(out))
        _, stderr = proc.communicate(timeout=300)
        assert proc.returncode == 0, stderr
        assert killed_at < 200  # the kill happened mid-run
        assert victim not in client.run(os.getpid).values()
    assert_same_table(reference, out)


def test_unreachable_scheduler_writes_nothing(lens_catalog, tmp_path):
    out = tmp_path / "out.fits"
    result = run(
        "predict", "lens", "--catalog", lens_catalog, "--out", out,
        "--scheduler", "tcp://127.0.0.1:9", ok=False,
    )  # fmt: skip
    assert result.exit_code == 1
    assert "cannot reach the Dask scheduler at tcp://127.0.0.1:9" in result.output
    assert list(tmp_path.iterdir()) == []


def test_second_run_on_the_same_output_is_refused(lens_catalog, tmp_path):
    out = tmp_path / "out.fits"
    holder = PartStore(out)
    holder.start({"task": "lens"}, resume=False, overwrite=False)
    try:
        result = run(
            "predict", "lens", "--catalog", lens_catalog, "--out", out, "--workers", 1,
            ok=False,
        )  # fmt: skip
        assert result.exit_code == 1
        assert "another astrocnn run is writing this output" in result.output
        assert not out.exists()
    finally:
        holder.lock.release()


def test_interrupted_run_needs_resume_or_overwrite(tmp_path):
    out = tmp_path / "out.fits"
    store = PartStore(out)
    store.start({"task": "lens", "model_sha256": "a" * 64}, resume=False, overwrite=False)
    store.lock.release()
    with pytest.raises(OutputError, match="--resume to finish it"):
        PartStore(out).start({"task": "lens"}, resume=False, overwrite=False)
    with pytest.raises(OutputError, match="model_sha256"):
        PartStore(out).start(
            {"task": "lens", "model_sha256": "b" * 64}, resume=True, overwrite=False
        )


def test_part_from_another_model_is_never_mixed_in(tmp_path):
    store = PartStore(tmp_path / "out.fits")
    store.folder.mkdir()
    table = Table({"id": [1, 2], "status": ["ok", "ok"]})
    write_part(table, store.part_path(0), index=0, row0=0, model_sha="a" * 64)
    write_part(table, store.part_path(1), index=1, row0=2, model_sha="b" * 64)
    assert store.done(1, "a" * 64) == {0}
    with pytest.raises(OutputError, match="another model"):
        store.done(2, "a" * 64)


def test_slurm_dry_run_prints_the_job_script(tmp_path):
    config = tmp_path / "cluster.yaml"
    config.write_text("queue: gpu\naccount: astro42\nwalltime: '02:00:00'\ncores: 8\n")
    result = run(
        "predict", "lens", "--catalog", "x.fits", "--out", "y.fits",
        "--scheduler", "slurm", "--cluster-config", config, "--job-memory", "32GB",
        "--gpus-per-job", 1, "--job-directive", "--constraint=a100",
        "--job-setup", "source ~/venvs/astrocnn/bin/activate", "--dry-run",
    )  # fmt: skip
    script = result.output
    assert script.startswith("#!/usr/bin/env bash")
    for line in (
        "#SBATCH -p gpu", "#SBATCH -A astro42", "#SBATCH -t 02:00:00",
        "#SBATCH --cpus-per-task=8", "#SBATCH --gres=gpu:1", "#SBATCH --constraint=a100",
        "source ~/venvs/astrocnn/bin/activate",
    ):  # fmt: skip
        assert line in script, line
    assert "#SBATCH --mem=30G" in script or "#SBATCH --mem=" in script
    assert "distributed.cli.dask_worker" in script or "dask worker" in script
    # one partition at a time per worker; TensorFlow gets the job's 8 cores
    assert "--nthreads 1" in script
    checked = subprocess.run(["bash", "-n"], input=script, text=True, capture_output=True)
    assert checked.returncode == 0, checked.stderr
    assert not (tmp_path / "y.fits").exists()


def test_bad_cluster_config_is_one_line(tmp_path):
    config = tmp_path / "cluster.yaml"
    config.write_text("queue: gpu\nwalltme: 1\n")
    result = run(
        "predict", "lens", "--catalog", "x.fits", "--out", "y.fits", "--scheduler", "slurm",
        "--cluster-config", config, "--dry-run", ok=False,
    )  # fmt: skip
    assert result.exit_code == 1
    assert "unknown cluster setting(s) walltme" in result.output


def test_local_scheduler_lets_in_only_the_runs_certificate():
    from dask_tls import assert_refuses_outsiders

    from astrocnn.batch.clusters import ClusterOptions, open_client

    client, cluster, _ = open_client(ClusterOptions("local", workers=1), log=lambda m: None)
    try:
        assert client.submit(sum, [1, 2]).result() == 3
        assert all(a.startswith("tls://") for a in client.scheduler_info()["workers"])
        assert_refuses_outsiders(cluster.scheduler_address)
    finally:
        client.close()
        cluster.close()


def test_resume_of_a_finished_run_is_already_complete(lens_catalog, lens_reference, tmp_path):
    out = tmp_path / "out.fits"
    args = ["predict", "lens", "--catalog", lens_catalog, "--out", out, "--workers", 1]
    run(*args, "--partition-size", 20, "-q")
    again = run(*args, "--partition-size", 20, "--resume")
    assert "already complete: 40 rows" in again.output
    assert "local Dask cluster" not in again.output  # no worker was started
    assert_same_table(lens_reference, out)
    # another run's options: not this run's output
    other = run(*args, "--partition-size", 10, "--resume", ok=False)
    assert other.exit_code == 1 and "already exists (use --overwrite" in other.output


def test_finished_csv_output_cannot_be_recognised(tmp_path):
    out = tmp_path / "out.csv"
    out.write_text("id,status\n1,ok\n")
    with pytest.raises(OutputError, match="CSV file keeps no record"):
        PartStore(out, run_id="0123456789abcdef").complete()


def test_sbatch_missing_from_path_is_one_line(lens_catalog, tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))
    result = run(
        "predict", "lens", "--catalog", lens_catalog, "--out", tmp_path / "p.fits",
        "--scheduler", "slurm", ok=False,
    )  # fmt: skip
    assert result.exit_code == 1
    assert result.output.strip().splitlines() == [
        "astrocnn: error: --scheduler slurm: sbatch is not on PATH (run on a login node of "
        "the cluster, or load its module)"
    ]
    assert list(tmp_path.iterdir()) == []


def test_tls_scheduler_takes_the_users_certificates(lens_catalog, lens_reference, tmp_path):
    from distributed import Client, LocalCluster
    from distributed.security import Security

    security = Security.temporary()
    files = {
        "tls_ca_file": security.tls_ca_file,
        "tls_cert": security.tls_client_cert,
        "tls_key": security.tls_client_key,
    }
    config = tmp_path / "cluster.yaml"
    for key, pem in files.items():
        (tmp_path / f"{key}.pem").write_text(pem)
    config.write_text("".join(f"{key}: {tmp_path / key}.pem\n" for key in files))
    with (
        LocalCluster(
            n_workers=1, threads_per_worker=1, dashboard_address=None, security=security
        ) as cluster,
        Client(cluster),
    ):
        address = cluster.scheduler_address
        assert address.startswith("tls://")
        out = tmp_path / "out.fits"
        args = ["predict", "lens", "--catalog", lens_catalog, "--out", out, "--scheduler", address]
        refused = run(*args, ok=False)
        assert refused.exit_code == 1 and not out.exists()
        assert refused.output.startswith(f"astrocnn: error: cannot reach the Dask scheduler at "
                                         f"{address}: TLS needs certificates")  # fmt: skip
        run(*args, "--cluster-config", config, "-q")
    assert_same_table(lens_reference, out)


def test_dashboard_is_off_unless_asked(lens_catalog, tmp_path):
    import importlib.util

    alone = run("predict", "lens", "--catalog", lens_catalog, "--out", tmp_path / "a.fits",
                "--dashboard", ok=False)  # fmt: skip
    assert "--dashboard is for batch runs" in alone.output
    if importlib.util.find_spec("bokeh") is not None:
        pytest.skip("bokeh is installed: the dashboard would start")
    result = run("predict", "lens", "--catalog", lens_catalog, "--out", tmp_path / "b.fits",
                 "--workers", 1, "--dashboard", ok=False)  # fmt: skip
    assert result.output.strip() == (
        "astrocnn: error: --dashboard needs the bokeh package: pip install 'bokeh>=3.1'"
    )
    assert list(tmp_path.iterdir()) == []


def test_ctrl_c_still_interrupts_once_dask_jobqueue_is_imported():
    # dask-jobqueue 0.9 sets SIGINT to sys.exit() on import: Ctrl-C would exit 0, silently
    code = (
        "import signal; from astrocnn.batch.clusters import job_script; "
        "job_script('slurm', {}); print(signal.getsignal(signal.SIGINT) is "
        "signal.default_int_handler)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.stdout.strip() == "True", result.stderr[-2000:]
