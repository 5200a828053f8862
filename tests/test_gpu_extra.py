"""``pip install "astrocnn[gpu]"`` asks for the TensorFlow that the package itself allows."""

import tomllib
from pathlib import Path

from packaging.requirements import Requirement

PYPROJECT = Path(__file__).resolve().parents[1] / "pyproject.toml"


def _tensorflow(requirements):
    found = [Requirement(r) for r in requirements if Requirement(r).name == "tensorflow"]
    assert len(found) == 1, requirements
    return found[0]


def test_gpu_extra_is_tensorflow_and_cuda_in_the_main_range():
    project = tomllib.loads(PYPROJECT.read_text(encoding="utf-8"))["project"]
    main = _tensorflow(project["dependencies"])
    gpu = _tensorflow(project["optional-dependencies"]["gpu"])
    assert gpu.extras == {"and-cuda"} and not main.extras
    assert gpu.specifier == main.specifier and str(main.specifier)
