"""``embed`` and ``similar``: learned representations that group objects by class."""

import numpy as np
import pytest
from astropy.table import Table
from cli_runner import run
from paths import SAMPLE_DATA
from scipy.spatial import cKDTree

from astrocnn.engine.embed import nearest


@pytest.fixture(scope="module")
def embedded(tmp_path_factory):
    """200 fresh simulated morphology cutouts (50 per class), embedded by the default model."""
    base = tmp_path_factory.mktemp("embed")
    run("simulate", "morphology", "--n", 200, "--seed", 11, "--out", base / "sims", "--quiet")
    run("embed", "morphology", "--catalog", base / "sims" / "catalog.fits", "--out",
        base / "emb.fits", "--quiet")  # fmt: skip
    return base


def test_ten_nearest_neighbours_mostly_share_the_class(embedded):
    labels = np.asarray(Table.read(embedded / "sims" / "catalog.fits")["label"]).astype(str)
    table = Table.read(embedded / "emb.fits")
    assert (table["status"] == "ok").all() and table["embedding"].shape == (200, 128)
    vectors = np.asarray(table["embedding"], np.float64)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    _, index = cKDTree(vectors).query(vectors, k=11)
    same = labels[index[:, 1:]] == labels[:, None]
    assert same.mean() >= 0.9, same.mean()


def test_similar_lists_and_draws_the_neighbours(embedded, tmp_path):
    result = run("similar", "--embeddings", embedded / "emb.fits", "--to", 5, "-k", 4,
                 "--out", tmp_path / "n.csv", "--gallery", tmp_path / "n.png")  # fmt: skip
    lines = result.output.strip().splitlines()
    assert len(lines) == 4 and lines[0].split()[0] == "1"
    listed = Table.read(tmp_path / "n.csv")
    assert list(listed["rank"]) == [1, 2, 3, 4] and 5 not in listed["id"]
    assert np.all(np.diff(listed["distance"]) >= 0)
    assert (tmp_path / "n.png").stat().st_size > 1000
    assert nearest(embedded / "emb.fits", 5, k=4)["id"][0] == listed["id"][0]


def test_embed_refuses_networks_without_an_embedding_and_unknown_ids(embedded, tmp_path):
    result = run("embed", "paint", "--catalog", SAMPLE_DATA / "paint" / "catalog.fits",
                 "--out", tmp_path / "e.fits", ok=False)  # fmt: skip
    assert result.exit_code == 1 and "no pooled embedding" in result.output
    assert not (tmp_path / "e.fits").exists()
    result = run("similar", "--embeddings", embedded / "emb.fits", "--to", 9999, ok=False)
    assert result.exit_code == 1 and "no embedded object with id 9999" in result.output
