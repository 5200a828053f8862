"""Distributed training: two MultiWorkerMirrored workers on the CPU; resume across strategies."""

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from cli_runner import run
from helpers import RecordEpochs, StopAfterFirstEpoch, config, toy_set

from astrocnn.engine.train import train
from astrocnn.io.bundle import load_bundle, read_meta
from astrocnn.tasks.registry import get_task

ASTROCNN = str(Path(sys.executable).with_name("astrocnn"))


def _free_ports(n):
    sockets = [socket.socket() for _ in range(n)]
    for s in sockets:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


@pytest.mark.slow
def test_multiworker_training_with_two_local_processes(tmp_path):
    run("simulate", "lens", "--n", 96, "--seed", 3, "--out", tmp_path / "sim", "--quiet")
    out = tmp_path / "model.keras"
    workers = [f"127.0.0.1:{p}" for p in _free_ports(2)]
    args = [
        ASTROCNN, "train", "lens", "--catalog", str(tmp_path / "sim" / "catalog.fits"),
        "--out", str(out), "--strategy", "multiworker", "--epochs", "2", "--batch-size", "16",
        "--widths", "4,8", "--seed", "1",
    ]  # fmt: skip
    procs = []
    for index in range(2):
        tf_config = {"cluster": {"worker": workers}, "task": {"type": "worker", "index": index}}
        env = {**os.environ, "TF_CONFIG": json.dumps(tf_config)}
        procs.append(
            subprocess.Popen(
                args, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
            )
        )
    outputs = [p.communicate(timeout=600)[0] for p in procs]
    for p, text in zip(procs, outputs):
        assert p.returncode == 0, text[-3000:]
        assert "Traceback" not in text
    assert "epoch 2/2" in outputs[0] and "(2 replica(s))" in outputs[0]  # the chief logs
    meta = read_meta(out)
    assert meta["provenance"]["strategy"] == "multiworker"
    assert meta["provenance"]["replicas"] == 2
    assert not out.with_name(out.name + ".ckpt").exists()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith("model")] == ["model.keras"]
    result = run(
        "predict", "lens", "--model", out, "--catalog", tmp_path / "sim" / "catalog.fits",
        "--out", tmp_path / "pred.fits", "-q",
    )  # fmt: skip
    assert result.exit_code == 0


@pytest.mark.parametrize(
    "first, then",
    [("multiworker", "default"), ("default", "multiworker"), ("mirrored", "multiworker")],
)
def test_checkpoint_resumes_under_another_strategy(first, then, tmp_path):
    out = tmp_path / "m.keras"
    task = get_task("lens")
    quiet = dict(log=lambda m: None)
    with pytest.raises(KeyboardInterrupt):
        train(
            task, toy_set(), out, config(strategy=first, callbacks=[StopAfterFirstEpoch()]), **quiet
        )
    backup = tmp_path / "m.keras.ckpt" / "backup_train"
    assert json.loads((backup / "training_metadata.json").read_text())["epoch"] == 1
    record = RecordEpochs()
    train(task, toy_set(), out, config(strategy=then, resume=True, callbacks=[record]), **quiet)
    assert record.epochs == [1, 2]  # the epoch done under the first strategy is not redone
    bundle = load_bundle(out)
    assert bundle.meta["provenance"]["strategy"] == then
    assert bundle.meta["validation_metrics"]["auroc"] > 0.9  # the toy set is easy
