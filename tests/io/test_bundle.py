"""Model bundles: round trip, checksum, task check, Keras safe mode."""

import json
import zipfile

import numpy as np
import pytest

from astrocnn._tf import import_keras
from astrocnn.errors import BundleError
from astrocnn.io.bundle import META_MEMBER, load_bundle, read_meta, save_bundle

keras = import_keras()


def tiny_model():
    inputs = keras.Input((8, 8, 1))
    x = keras.layers.Flatten()(inputs)
    return keras.Model(inputs, keras.layers.Dense(2, activation="softmax")(x))


def test_roundtrip_predicts_identically(tmp_path):
    model = tiny_model()
    path = save_bundle(model, {"task": "lens", "bands": ["g"]}, tmp_path / "m.keras")
    bundle = load_bundle(path, task="lens")
    x = np.random.default_rng(0).normal(size=(3, 8, 8, 1)).astype("float32")
    np.testing.assert_allclose(bundle.model(x), model(x), rtol=1e-6)
    assert bundle.meta["bands"] == ["g"] and len(bundle.meta["sha256"]) == 64


def test_refuses_overwrite_and_wrong_extension(tmp_path):
    path = tmp_path / "m.keras"
    path.write_bytes(b"mine")
    with pytest.raises(Exception, match="already exists"):
        save_bundle(tiny_model(), {"task": "lens"}, path)
    assert path.read_bytes() == b"mine"
    with pytest.raises(BundleError, match=".keras extension"):
        save_bundle(tiny_model(), {"task": "lens"}, tmp_path / "m.h5")


def test_tampered_weights_fail_checksum(tmp_path):
    path = save_bundle(tiny_model(), {"task": "lens"}, tmp_path / "m.keras")
    tampered = tmp_path / "t.keras"
    with zipfile.ZipFile(path) as src, zipfile.ZipFile(tampered, "w") as dst:
        for item in src.infolist():
            data = src.read(item)
            if item.filename == "model.weights.h5":
                mid = len(data) // 2
                data = data[:mid] + bytes([data[mid] ^ 0xFF]) + data[mid + 1 :]
            dst.writestr(item, data)
    with pytest.raises(BundleError, match="checksum mismatch"):
        load_bundle(tampered)


def test_other_task_refused(tmp_path):
    path = save_bundle(tiny_model(), {"task": "morphology"}, tmp_path / "m.keras")
    with pytest.raises(BundleError, match="trained for task 'morphology', not 'lens'"):
        load_bundle(path, task="lens")


def test_plain_keras_file_and_garbage_refused(tmp_path):
    plain = tmp_path / "plain.keras"
    tiny_model().save(plain)
    with pytest.raises(BundleError, match="not an astrocnn bundle"):
        read_meta(plain)
    garbage = tmp_path / "g.keras"
    garbage.write_bytes(b"not a zip")
    with pytest.raises(BundleError, match="not a readable model bundle"):
        load_bundle(garbage)
    with pytest.raises(BundleError, match="not found"):
        load_bundle(tmp_path / "missing.keras")


def test_lambda_layer_refused_by_safe_mode(tmp_path):
    inputs = keras.Input((4,))
    outputs = keras.layers.Lambda(lambda x: x * 2)(inputs)
    path = tmp_path / "lambda.keras"
    # a correctly checksummed bundle: only Keras safe mode stands in the way
    save_bundle(keras.Model(inputs, outputs), {"task": "lens"}, path)
    with pytest.raises(BundleError, match="Keras refused"):
        load_bundle(path)


def test_meta_readable_without_tensorflow_model_load(tmp_path):
    path = save_bundle(tiny_model(), {"task": "lens", "x": 1}, tmp_path / "m.keras")
    with zipfile.ZipFile(path) as archive:
        assert json.loads(archive.read(META_MEMBER))["x"] == 1
    assert read_meta(path)["x"] == 1


@pytest.mark.parametrize("name", ["lens", "morphology", "photoz", "deblend", "paint"])
def test_shipped_bundles_are_intact_and_consistent(name):
    from astrocnn.tasks.registry import get_task

    task = get_task(name)
    meta = read_meta(task.default_model())  # verifies the checksum of the Keras members
    assert meta["task"] == name
    assert meta["architecture"] == meta["model_options"]["architecture"]
    if task.architecture_name:
        assert meta["architecture"] == task.architecture_name


def test_every_shipped_bundle_loads_in_a_fresh_process():
    """Each default model loads with only what its task declares (no earlier import of
    model code in the process registers its layers by accident)."""
    import subprocess
    import sys

    code = (
        "from astrocnn.engine.predict import load_task_bundle\n"
        "from astrocnn.tasks.registry import get_task, task_names\n"
        "for name in task_names():\n"
        "    bundle = load_task_bundle(get_task(name))\n"
        "    assert bundle.meta['task'] == name and bundle.model.count_params() > 0\n"
        "    print(name)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split() == ["lens", "morphology", "photoz", "deblend", "paint"]
