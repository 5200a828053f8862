"""--precision mixed and --jit: correct on the CPU (speed is for benchmarks/)."""

import numpy as np
from helpers import config, toy_set

from astrocnn.engine.inference import CompiledModel
from astrocnn.engine.train import train
from astrocnn.io.bundle import load_bundle
from astrocnn.tasks.registry import get_task


def test_mixed_precision_trains_and_predicts_in_float32(tmp_path):
    out = tmp_path / "m.keras"
    meta = train(get_task("lens"), toy_set(), out, config(precision="mixed", epochs=4), log=print)
    assert meta["provenance"]["precision"] == "mixed_bfloat16"  # no GPU here
    assert meta["validation_metrics"]["auroc"] > 0.9  # the toy set is easy
    bundle = load_bundle(out)
    dense = next(layer for layer in bundle.model.layers if type(layer).__name__ == "Dense")
    assert dense.dtype_policy.name == "mixed_bfloat16"  # stored in the bundle
    raw = CompiledModel(bundle.model, 8)(toy_set().images[:5])
    assert raw.dtype == np.float32 and np.isfinite(raw).all()
    # the policy was restored after training
    from astrocnn._tf import import_keras

    assert import_keras().mixed_precision.global_policy().name == "float32"


def test_jit_inference_matches_the_plain_graph():
    bundle = load_bundle(get_task("lens").default_model())
    images = np.random.default_rng(0).normal(size=(13, 64, 64, 4)).astype(np.float32)
    plain = CompiledModel(bundle.model, 8)(images)
    fused = CompiledModel(bundle.model, 8, jit=True)(images)
    np.testing.assert_allclose(fused, plain, rtol=1e-4, atol=1e-5)


def test_jit_training_runs(tmp_path):
    meta = train(get_task("lens"), toy_set(), tmp_path / "m.keras", config(jit=True), log=print)
    assert meta["provenance"]["jit"] is True
    assert meta["validation_metrics"]["auroc"] > 0.9
