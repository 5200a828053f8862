"""The shipped default models predict what they predicted before the restructure."""

import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).parent / "reference"))
from outputs import RECORDED, run_all  # noqa: E402

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def today(tmp_path_factory):
    return run_all(tmp_path_factory.mktemp("reference"))


@pytest.fixture(scope="module")
def recorded():
    with np.load(RECORDED) as arrays:
        return {name: arrays[name] for name in arrays.files}


# columns the out-of-distribution diagnostics added to cutout predictions (issue 20)
DIAGNOSTICS = {
    "noise_ratio", "masked_fraction", "ood_score", "ood_flags", "pixel_scale", "zero_point"
}  # fmt: skip


def test_same_products(today, recorded):
    assert set(recorded) <= set(today)
    added = {name.rsplit(".", 1)[-1] for name in set(today) - set(recorded)}
    assert added <= DIAGNOSTICS


@pytest.mark.parametrize("task", ["lens", "morph", "pz", "db", "field_out", "painted"])
def test_same_values(today, recorded, task):
    names = [n for n in recorded if n.split("/")[0].split(".")[0].split("_images")[0] == task]
    assert names
    for name in names:
        got, want = today[name], recorded[name]
        assert got.shape == want.shape, name
        if want.dtype.kind == "f":
            # float32 network outputs: equal up to the last bits another CPU's kernels may change
            np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6, err_msg=name)
        else:
            np.testing.assert_array_equal(got, want, err_msg=name)
