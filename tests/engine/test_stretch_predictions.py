"""The shipped models predict on the sample data what they predicted with ``tf.math.asinh``.

The asinh stretch became an XLA-fused formulation within 3.5e-7 relative of
``tf.math.asinh`` (``tests/data/test_fast_pipeline.py``).  Through a network a
last-bit change of the inputs moves the outputs by as much as a change of batch
size does (measured on these samples: up to 5e-7 of a column's largest value
from the batch size, up to 1.4e-6 from the stretch, in the tails of the photo-z
PDFs); every output stays within 2e-6 of its column's largest value, and
integer and text columns (classes, counts) are identical.  Paint maps (a
log10 scaling, unchanged) are covered by ``tests/test_reference_outputs.py``.
"""

from pathlib import Path

import numpy as np
import pytest

from astrocnn.data import preprocess
from astrocnn.engine.inference import predict_paths
from astrocnn.engine.predict import load_task_bundle
from astrocnn.engine.sources import from_catalog
from astrocnn.tasks.registry import get_task

pytestmark = pytest.mark.slow

SAMPLE = Path(__file__).resolve().parents[2] / "sample_data"
CASES = {
    "lens": ("lens", "lens/catalog.fits", {}),
    "morphology": ("morphology", "morphology/fits/catalog.fits", {}),
    "photoz": ("photoz", "photoz/catalog.fits", {"pdf_grid": (0.0, 3.0, 31)}),
    "deblend": ("deblend", "deblend/stamps/catalog.fits", {}),
}


def _tf_math_asinh(self, images):
    """The stretch as it was: ``tf.math.asinh`` of the scaled pixels."""
    from astrocnn._tf import import_tensorflow

    tf = import_tensorflow()
    return tf.math.asinh(images / tf.constant(self.scales, dtype=tf.float32))


def _predict(name, monkeypatch, old):
    task_name, catalog, options = CASES[name]
    if old:
        monkeypatch.setattr(preprocess.AsinhScaler, "transform_tf", _tf_math_asinh)
    task = get_task(task_name)
    bundle = load_task_bundle(task, log=lambda m: None)
    source = from_catalog(SAMPLE / catalog, bundle.meta["bands"], task.default_file_columns or None)
    preds = predict_paths(
        task, bundle, source.paths, source.labels, table=source.table,
        source_name=source.name, decode_options=options, keep_images=True,
    )  # fmt: skip
    assert preds.ok.all()
    monkeypatch.undo()
    assert bundle.meta["preprocessing"]["kind"] == "asinh"
    return preds.columns


def _assert_close(new, old):
    assert new.keys() == old.keys()
    for name, values in new.items():
        if values.dtype.kind != "f":
            np.testing.assert_array_equal(values, old[name], err_msg=name)
            continue
        scale = float(np.max(np.abs(old[name]))) or 1.0
        np.testing.assert_allclose(values, old[name], rtol=0, atol=2e-6 * scale, err_msg=name)


@pytest.mark.parametrize("name", list(CASES))
def test_catalogue_predictions_unchanged(name, monkeypatch):
    old = _predict(name, monkeypatch, old=True)
    _assert_close(_predict(name, monkeypatch, old=False), old)


def test_field_predictions_unchanged(monkeypatch, tmp_path):
    from astropy.io import fits

    from astrocnn.engine.fields import predict_field

    def field(folder):
        task = get_task("deblend")
        bundle = load_task_bundle(task, log=lambda m: None)
        predict_field(task, bundle, SAMPLE / "deblend/field.fits", folder, log=lambda m: None)
        with fits.open(folder / "field_stamps.fits") as hdul:
            return {f"hdu{k}": np.asarray(h.data) for k, h in enumerate(hdul) if h.data is not None}

    monkeypatch.setattr(preprocess.AsinhScaler, "transform_tf", _tf_math_asinh)
    old = field(tmp_path / "old")
    monkeypatch.undo()
    _assert_close(field(tmp_path / "new"), old)
