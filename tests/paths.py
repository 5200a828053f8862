"""Folders of the repository that tests read (wherever the test file sits)."""

from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
SAMPLE_DATA = REPO_ROOT / "sample_data"
