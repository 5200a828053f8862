"""``train --resume`` after the last epoch: the bundle says whether the run finished."""

from helpers import config, toy_set

from astrocnn.engine.resume import finished_training
from astrocnn.engine.train import train
from astrocnn.tasks.registry import get_task


def test_a_finished_run_is_recognised_by_its_bundle(tmp_path):
    out = tmp_path / "m.keras"
    train(get_task("lens"), toy_set(), out, config(epochs=1), log=lambda m: None)
    run = {"data": "toy", "seed": 1, "epochs": 1, "batch_size": 8}
    assert finished_training(out, run)["provenance"]["epochs"] == 1
    assert finished_training(out, {**run, "data": "./toy"}) is not None  # the same path
    for changed in ({"seed": 2}, {"epochs": 3}, {"batch_size": 16}, {"data": "other"}):
        assert finished_training(out, {**run, **changed}) is None, changed
    assert finished_training(tmp_path / "absent.keras", run) is None
    (tmp_path / "m.keras.ckpt").mkdir()  # interrupted again since: not finished
    assert finished_training(out, run) is None
    (tmp_path / "m.keras.ckpt").rmdir()
    out.write_bytes(out.read_bytes()[:-100])  # a damaged bundle is not a finished run
    assert finished_training(out, run) is None
