"""The bulk import builds the graph a load builds, and only into an empty database."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from ringfence.config import Config
from ringfence.errors import InputError, StoreError
from ringfence.generate import generate
from ringfence.graph.base import GraphStore
from ringfence.graph.embedded import EmbeddedStore
from ringfence.graph.neo4j_bulk import bulk_import
from ringfence.graph.neo4j_store import Neo4jStore
from ringfence.loaders.load import load_files
from tests.graph.conftest import clear_neo4j

# Rows a generated population lacks: an account seen twice (the later row's
# name and label win, the earlier creation date stays), quotes, commas and
# an empty name, and a loan whose account is not loaded.
_ODD_ACCOUNTS = """\
account_id,created_at,seen_at,full_name,date_of_birth,phone,email,label
Z-1,2025-01-05,2025-01-05,"O""Brien, Pat",1990-02-03,+447700900123,pat@ex.org,
Z-1,2025-01-01,2025-03-01,"Pat O'Brien",1990-02-03,+447700900124,pat@ex.org,fraud
Z-2,2025-02-01,,,,+447700900123,,legit
"""
_ODD_LOANS = """\
account_id,product,term_months,amount,balance,credit_limit
Z-1,card,,,120.5,1000
Z-1,loan,12,2500.25,2400.125,
Z-9,loan,6,300,300,
"""


def _inputs(tmp_path: Path) -> tuple[list[Path], list[Path]]:
    files = generate(tmp_path / "data", 1500, seed=5)
    odd = tmp_path / "odd.csv"
    odd.write_text(_ODD_ACCOUNTS)
    odd_loans = tmp_path / "odd-loans.csv"
    odd_loans.write_text(_ODD_LOANS)
    return [files.accounts, odd], [files.loans, odd_loans]


def _model(store: Neo4jStore) -> set[Any]:
    """Label sets and property keys of every node and relationship."""
    nodes = store._rows(
        "MATCH (n) RETURN DISTINCT labels(n) AS l, keys(n) AS k"
    )
    rels = store._rows(
        "MATCH ()-[r]->() RETURN DISTINCT type(r) AS t, keys(r) AS k"
    )
    return {(tuple(sorted(a)), tuple(sorted(b))) for a, b in nodes + rels}


def _frames(store: GraphStore) -> list[pd.DataFrame]:
    snap = store.snapshot()
    return [snap.accounts, snap.identifiers, snap.links, snap.products]


@pytest.mark.neo4j
def test_bulk_import_builds_the_loaded_graph_and_refuses_a_full_database(
    tmp_path: Path, dedicated_neo4j: tuple[Path, dict[str, str], int]
) -> None:
    home, env, _pid = dedicated_neo4j
    accounts, loans = _inputs(tmp_path)
    config = Config()

    result = bulk_import(
        accounts, loans, config=config, reports_dir=tmp_path / "bulk-loads",
        home=home, password=env["NEO4J_PASSWORD"], heap="1g", pagecache="256m",
    )
    embedded = EmbeddedStore(tmp_path / "store")
    reports = load_files(embedded, accounts, loans, config=config,
                         reports_dir=tmp_path / "loads")
    assert [r.as_dict()["rows_accepted"] for r in result.reports] == [
        r.rows_accepted for r in reports
    ]

    with Neo4jStore(env["NEO4J_URI"], "neo4j", env["NEO4J_PASSWORD"]) as bulk:
        assert isinstance(bulk, Neo4jStore)
        assert bulk.counts() == embedded.counts()
        for got, want in zip(_frames(bulk), _frames(embedded), strict=True):
            pd.testing.assert_frame_equal(got, want)
        bulk_model = _model(bulk)
        setting = "national_id_key_check"
        assert bulk.get_setting(setting) == embedded.get_setting(setting)
        constraints = {name for (name,) in bulk._rows(
            "SHOW CONSTRAINTS YIELD name RETURN name"
        )}
        unattached = bulk._rows(
            "MATCH (p:Product) WHERE NOT (p)<-[:HOLDS]-() RETURN p.account_id"
        )

        # A second bulk import would wipe this graph: it must refuse.
        with pytest.raises(StoreError, match="ringfence --store neo4j load"):
            bulk_import(
                accounts, loans, config=config, reports_dir=tmp_path / "again",
                home=home, password=env["NEO4J_PASSWORD"],
            )
        assert bulk.counts() == embedded.counts()

    assert {"rf_account_id", "rf_product_key", "rf_ident_Phone_key",
            "rf_ident_NationalId_key"} <= constraints
    assert unattached == [("Z-9",)]

    # The same files loaded over Bolt give the same labels and properties.
    clear_neo4j(env)
    with Neo4jStore(env["NEO4J_URI"], "neo4j", env["NEO4J_PASSWORD"]) as bolt:
        assert isinstance(bolt, Neo4jStore)
        load_files(bolt, accounts, loans, config=config,
                   reports_dir=tmp_path / "bolt-loads")
        assert _model(bolt) == bulk_model
        for got, want in zip(_frames(bolt), _frames(embedded), strict=True):
            pd.testing.assert_frame_equal(got, want)


@pytest.mark.neo4j
def test_a_failed_bulk_import_leaves_the_server_running_and_empty(
    tmp_path: Path, dedicated_neo4j: tuple[Path, dict[str, str], int]
) -> None:
    home, env, _pid = dedicated_neo4j
    bad = tmp_path / "accounts.csv"
    bad.write_text("account_id,phone\nA-1,+447700900123\n")

    with pytest.raises(InputError, match="created_at"):
        bulk_import([bad], config=Config(), reports_dir=tmp_path / "loads",
                    home=home, password=env["NEO4J_PASSWORD"], heap="1g",
                    pagecache="256m")

    with Neo4jStore(env["NEO4J_URI"], "neo4j", env["NEO4J_PASSWORD"]) as store:
        assert isinstance(store, Neo4jStore)
        assert store._rows("MATCH (n) RETURN count(n)") == [(0,)]


@pytest.mark.neo4j
def test_an_importer_failure_is_reported_and_leaves_a_usable_empty_database(
    tmp_path: Path, dedicated_neo4j: tuple[Path, dict[str, str], int],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from ringfence.graph import neo4j_bulk

    home, env, _pid = dedicated_neo4j
    real = neo4j_bulk._run_importer

    def broken(home: Path, args: Any, *rest: Any) -> None:
        # A relationship file naming a node group nobody imported: Neo4j's
        # importer gives up after it has begun writing the database.
        missing = tmp_path / "rels.csv"
        missing.write_text(":START_ID(Nowhere),:END_ID(Nowhere)\n1,2\n")
        real(home, [*args, f"--relationships=BROKEN={missing}"], *rest)

    monkeypatch.setattr(neo4j_bulk, "_run_importer", broken)
    files = generate(tmp_path / "data", 200, seed=5)
    with pytest.raises(StoreError, match="import failed"):
        bulk_import([files.accounts], config=Config(),
                    reports_dir=tmp_path / "loads", home=home,
                    password=env["NEO4J_PASSWORD"], heap="1g", pagecache="256m")

    with Neo4jStore(env["NEO4J_URI"], "neo4j", env["NEO4J_PASSWORD"]) as store:
        assert isinstance(store, Neo4jStore)
        assert store._rows("MATCH (n) RETURN count(n)") == [(0,)]
