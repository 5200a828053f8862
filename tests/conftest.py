"""Shared pytest options."""


def pytest_addoption(parser):
    parser.addoption(
        "--fuzz-full",
        action="store_true",
        help="run the reader fuzz tests with 10,000 cases each (default: a few hundred)",
    )
