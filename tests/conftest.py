"""Shared pytest options, and the SLURM cluster of the tests marked ``slurm``."""

import pytest
from slurm_cluster import slurm_cluster  # noqa: F401  (the session fixture)


def pytest_addoption(parser):
    parser.addoption(
        "--fuzz-full",
        action="store_true",
        help="run the reader fuzz tests with 10,000 cases each (default: a few hundred)",
    )


@pytest.fixture(autouse=True)
def _slurm_for_marked_tests(request):
    """Tests marked ``slurm`` run on the real one-node cluster of .ci/slurm-up."""
    if request.node.get_closest_marker("slurm") is not None:
        request.getfixturevalue("slurm_cluster")
