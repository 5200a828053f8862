"""scripts/slurm_train.sbatch without SLURM: the TF_CONFIG it builds for any layout of
tasks over nodes (srun and scontrol faked), and the README showing it verbatim.

tests/engine/test_slurm_training.py runs the same script through a real sbatch."""

import json
import os
import subprocess
import sys

import pytest
from paths import REPO_ROOT

SCRIPT = REPO_ROOT / "scripts" / "slurm_train.sbatch"

FAKE_SRUN = r"""#!/bin/bash
# srun as SLURM runs a step: the command once per task, node by node ($FAKE_LAYOUT: "h:n ...")
shift  # --kill-on-bad-exit=1
node=0 rank=0
for entry in $FAKE_LAYOUT; do
    for ((local = 0; local < ${entry##*:}; local++)); do
        SLURM_NODEID=$node SLURM_LOCALID=$local SLURM_PROCID=$rank FAKE_HOST=${entry%%:*} "$@"
        rank=$((rank + 1))
    done
    node=$((node + 1))
done
"""
FAKE_SCONTROL = r"""#!/bin/bash
for entry in $FAKE_LAYOUT; do echo "${entry%%:*}"; done
"""
# what each task runs: its host, TF_CONFIG and arguments, one JSON line
REPORT = (
    "import json, os, sys; print(json.dumps({'host': os.environ['FAKE_HOST'], "
    "'config': json.loads(os.environ['TF_CONFIG']), 'argv': sys.argv[1:]}))"
)


def tasks_per_node(counts):
    """SLURM's compressed form: [4, 4, 4, 2] -> "4(x3),2"."""
    groups = []
    for n in counts:
        if groups and groups[-1][0] == n:
            groups[-1][1] += 1
        else:
            groups.append([n, 1])
    return ",".join(f"{n}(x{r})" if r > 1 else str(n) for n, r in groups)


def run_script(tmp_path, counts, *args):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    for name, text in (("srun", FAKE_SRUN), ("scontrol", FAKE_SCONTROL)):
        (bin_dir / name).write_text(text)
        (bin_dir / name).chmod(0o755)
    hosts = [f"node{i:02d}" for i in range(len(counts))]
    env = {
        **os.environ,
        "PATH": f"{bin_dir}:{os.environ['PATH']}",
        "FAKE_LAYOUT": " ".join(f"{h}:{n}" for h, n in zip(hosts, counts)),
        "SLURM_JOB_ID": "4242",
        "SLURM_STEP_NODELIST": f"node[00-{len(counts) - 1:02d}]",
        "SLURM_STEP_TASKS_PER_NODE": tasks_per_node(counts),
    }
    result = subprocess.run(
        ["bash", str(SCRIPT), sys.executable, "-c", REPORT, *args],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=True,
    )
    return [json.loads(line) for line in result.stdout.splitlines()]


@pytest.mark.parametrize("counts", [[1], [2], [1, 1, 1], [4, 4, 4, 2], [3, 1, 2]])
def test_every_task_is_one_worker_with_its_own_address(tmp_path, counts):
    tasks = run_script(tmp_path, counts, "--out", "m.keras")
    assert len(tasks) == sum(counts)
    (workers,) = {tuple(t["config"]["cluster"]["worker"]) for t in tasks}
    assert len(workers) == sum(counts) == len(set(workers))  # no two tasks share a port
    indices = [t["config"]["task"]["index"] for t in tasks]
    assert sorted(indices) == list(range(sum(counts)))
    for task, index in zip(tasks, indices):
        assert task["config"]["task"]["type"] == "worker"
        assert workers[index].rsplit(":", 1)[0] == task["host"]  # its own entry is its host
        assert task["argv"] == ["--out", "m.keras", "--strategy", "multiworker"]


def test_resubmission_adds_resume(tmp_path):
    (tmp_path / "m.keras.ckpt").mkdir()
    (task,) = run_script(tmp_path, [1], "--out", "m.keras")
    assert task["argv"][-1] == "--resume"
    (tmp_path / "m.keras.ckpt").rmdir()
    (tmp_path / "done.keras").write_bytes(b"")
    (task,) = run_script(tmp_path, [1], "--out=done.keras")
    assert task["argv"][-1] == "--resume"


def test_readme_shows_the_tested_script_verbatim():
    readme = (REPO_ROOT / "README.md").read_text(encoding="utf-8")
    shown = SCRIPT.read_text(encoding="utf-8") in readme
    assert shown, "README.md must show scripts/slurm_train.sbatch exactly as it is"
