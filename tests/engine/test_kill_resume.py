"""kill -9 at random points, then resume: nothing lost, nothing duplicated, same result.

The catalogue run is a batch run on a Dask cluster that outlives the killed
drivers (as a cluster's workers outlive a login-node session): the driver is
killed 20 times in turn, each time after a random amount of progress (before
any partition, mid-partition, while parts are being written or merged), and
resumed; the final output must equal an uninterrupted in-process run row for
row.  A training run is killed after its first checkpoint and resumed.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from astropy.table import Table, vstack
from cli_runner import run
from helpers import assert_same_table
from paths import SAMPLE_DATA

from astrocnn.batch.parts import parts_dir

SAMPLES = SAMPLE_DATA
ASTROCNN = str(Path(sys.executable).with_name("astrocnn"))
KILLS = 20


def _parts(out):
    folder = parts_dir(out)
    return len(list(folder.glob("part-*.fits"))) if folder.exists() else 0


@pytest.mark.slow
def test_twenty_kills_and_resumes_give_the_uninterrupted_output(tmp_path):
    from distributed import Client, LocalCluster

    table = Table.read(SAMPLES / "lens" / "catalog.fits")
    table["file"] = [str(SAMPLES / "lens" / f) for f in table["file"]]
    table = vstack([table] * 10)
    table["id"] = np.arange(len(table))
    table["file"][[5, 123, 301]] = str(tmp_path / "missing.fits")  # bad rows, recorded
    table.write(tmp_path / "catalog.fits")
    reference = tmp_path / "reference.fits"
    run("predict", "lens", "--catalog", tmp_path / "catalog.fits", "--out", reference, "-q")

    out = tmp_path / "out.fits"
    rng = random.Random(20261123)
    with (
        LocalCluster(n_workers=2, threads_per_worker=1, dashboard_address=None) as cluster,
        Client(cluster) as client,
    ):
        client.run(lambda: None)
        args = [
            ASTROCNN, "predict", "lens", "--catalog", str(tmp_path / "catalog.fits"),
            "--out", str(out), "--scheduler", cluster.scheduler_address,
            "--partition-size", "4", "-q",
        ]  # fmt: skip
        kills = []
        for attempt in range(KILLS):
            command = args + (["--resume"] if attempt else [])
            before = _parts(out)
            proc = subprocess.Popen(command, stderr=subprocess.PIPE, start_new_session=True)
            # a random point: after 0-6 more partitions are saved, plus 0-0.3 s
            target = before + rng.randint(0, 6)
            deadline = time.monotonic() + 60
            while _parts(out) < target and proc.poll() is None and time.monotonic() < deadline:
                time.sleep(0.01)
            time.sleep(rng.uniform(0, 0.3))
            if proc.poll() is not None:  # finished before this kill point
                break
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            kills.append(_parts(out))
        else:
            final = subprocess.run(args + ["--resume"], capture_output=True, text=True)
            assert final.returncode == 0, final.stderr
            assert "Traceback" not in final.stderr
        assert len(kills) >= 10, kills  # most kill points came before the end
        assert kills == sorted(kills)  # progress was kept across kills

    assert_same_table(reference, out)
    result = Table.read(out)
    assert list(result["id"]) == list(range(400))  # none lost, none duplicated
    assert list(np.flatnonzero(result["status"] != "ok")) == [5, 123, 301]
    assert not parts_dir(out).exists()
    assert not list(tmp_path.glob(".out.*"))  # no temporary output left


@pytest.mark.slow
def test_killed_training_resumes_from_its_last_checkpoint(tmp_path):
    run("simulate", "lens", "--n", 200, "--seed", 5, "--out", tmp_path / "sim", "--quiet")
    out = tmp_path / "m.keras"
    args = [
        ASTROCNN, "train", "lens", "--catalog", str(tmp_path / "sim" / "catalog.fits"),
        "--out", str(out), "--epochs", "12", "--batch-size", "16", "--widths", "4,8",
    ]  # fmt: skip
    metadata = tmp_path / "m.keras.ckpt" / "backup_train" / "training_metadata.json"
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 300
    while proc.poll() is None and time.monotonic() < deadline:
        if metadata.exists() and json.loads(metadata.read_text() or "{}").get("epoch", 0) >= 2:
            break
        time.sleep(0.02)
    assert proc.poll() is None, "training ended before it could be killed"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    done = json.loads(metadata.read_text())["epoch"]
    assert 2 <= done < 12 and not out.exists()
    resumed = subprocess.run(args + ["--resume"], capture_output=True, text=True)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert (
        f"resuming train from the checkpoint after epoch {done}" in resumed.stderr + resumed.stdout
    )
    assert out.exists() and not (tmp_path / "m.keras.ckpt").exists()
