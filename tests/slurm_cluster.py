"""A real one-node SLURM cluster for the tests marked ``slurm`` (see .ci/slurm-up).

The session fixture :func:`slurm_cluster` runs ``.ci/slurm-up`` (install
Debian's slurm-wlm and munge if missing, configure this host, start munged,
slurmctld and slurmd) the first time a ``slurm`` test runs, points
``SLURM_CONF`` at it, and runs ``.ci/slurm-down`` at the end of the session,
unless the cluster was already up before (then it is left running).

Where SLURM cannot be brought up (not root, no apt-get, the install failed),
the ``slurm`` tests are skipped with the reason, unless
``ASTROCNN_REQUIRE_SLURM=1`` (CI sets it) makes that a failure.
"""

from __future__ import annotations

import os
import subprocess
import time

import pytest
from paths import REPO_ROOT

STATE = os.environ.get("ASTROCNN_SLURM_DIR", "/var/tmp/astrocnn-slurm")
CANNOT = 77  # slurm-up's exit status for "SLURM cannot be brought up here"


@pytest.fixture(scope="session")
def slurm_cluster():
    """The path of the running cluster's slurm.conf (also in ``os.environ["SLURM_CONF"]``)."""
    was_up = os.path.exists(os.path.join(STATE, "pids"))
    started = time.monotonic()
    result = subprocess.run(
        [str(REPO_ROOT / ".ci" / "slurm-up")], capture_output=True, text=True, timeout=1200
    )
    if result.returncode != 0:
        reason = (result.stderr.strip().splitlines() or ["no reason given"])[-1]
        if result.returncode == CANNOT and not os.environ.get("ASTROCNN_REQUIRE_SLURM"):
            pytest.skip(f"no SLURM cluster here: {reason}")
        if not was_up:  # stop what it started before failing
            subprocess.run([str(REPO_ROOT / ".ci" / "slurm-down")], timeout=300)
        pytest.fail(f".ci/slurm-up failed ({result.returncode}): {reason}")
    conf = result.stdout.strip().splitlines()[-1].split("=", 1)[1]
    print(f"\nSLURM up in {time.monotonic() - started:.0f} s ({conf})")
    previous = os.environ.get("SLURM_CONF")
    os.environ["SLURM_CONF"] = conf
    try:
        yield conf
    finally:
        if previous is None:
            os.environ.pop("SLURM_CONF", None)
        else:
            os.environ["SLURM_CONF"] = previous
        if not was_up:
            subprocess.run([str(REPO_ROOT / ".ci" / "slurm-down")], timeout=300)


def squeue() -> list[str]:
    """Ids of the jobs SLURM still lists (pending, running or completing)."""
    out = subprocess.run(["squeue", "-h", "-o", "%i"], capture_output=True, text=True, check=True)
    return out.stdout.split()


def running_jobs(name: str) -> list[str]:
    """Ids of the running jobs called ``name``."""
    out = subprocess.run(
        ["squeue", "-h", "-t", "R", "-n", name, "-o", "%i"],
        capture_output=True,
        text=True,
        check=True,
    )
    return out.stdout.split()


def wait_until(condition, timeout, what):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def wait_no_jobs(timeout=60):
    """Every job has left squeue (cancelled jobs spend a few seconds completing)."""
    wait_until(lambda: not squeue(), timeout, f"squeue to empty (left: {squeue()})")


def job_state(job_id: str) -> dict:
    """``scontrol show job`` as a dict (available until MinJobAge after the job ends)."""
    out = subprocess.run(
        ["scontrol", "show", "job", "-o", job_id], capture_output=True, text=True, check=True
    )
    return dict(item.split("=", 1) for item in out.stdout.split() if "=" in item)
