"""Warming Neo4j's page cache reads every index and store the queries use."""

from __future__ import annotations

from pathlib import Path

import pytest

from ringfence.config import Config
from ringfence.graph.base import GraphStore
from ringfence.graph.neo4j_store import Neo4jStore
from ringfence.loaders.load import load_files
from tests.conftest import CASES


@pytest.mark.neo4j
def test_warm_up_reads_every_account_identifier_link_and_product(
    neo4j_store: GraphStore, tmp_path: Path
) -> None:
    assert isinstance(neo4j_store, Neo4jStore)
    assert neo4j_store.warm_up() == 0  # an empty database reads nothing
    load_files(neo4j_store, [CASES / "bank-ring" / "accounts.csv"],
               [CASES / "bank-ring" / "loans.csv"], config=Config(),
               reports_dir=tmp_path / "reports")
    counts = neo4j_store.counts()
    # accounts by index and by node, identifiers by index, links (with their
    # identifier) and products
    expected = (2 * counts["accounts"] + counts["identifiers"]
                + 2 * counts["links"] + counts["products"])
    assert neo4j_store.warm_up() == expected
