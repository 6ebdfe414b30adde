"""A Neo4j load killed midway converges once the same load runs again."""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest

from ringfence.errors import StoreError
from ringfence.graph.base import GraphStore
from ringfence.graph.embedded import EmbeddedStore
from ringfence.graph.neo4j_store import Neo4jStore
from ringfence.model import AccountRecord, Product

pytestmark = pytest.mark.neo4j

Records = tuple[list[AccountRecord], list[Product]]
Batches = list[tuple[list[AccountRecord], list[Product]]]

# Keys that must stay unique; a duplicate would mean a replayed batch
# created nodes or relationships instead of merging them.
_DUPLICATES = {
    "accounts": "MATCH (a:Account) WITH a.account_id AS k, count(*) AS n "
                "WHERE n > 1 RETURN count(*)",
    "identifiers": "MATCH (i:Identifier) WITH i.kind AS kind, i.key AS k, "
                   "count(*) AS n WHERE n > 1 RETURN count(*)",
    "links": "MATCH (a:Account)-[r:HAS]->(i) WITH a, i, count(r) AS n "
             "WHERE n > 1 RETURN count(*)",
    "products": "MATCH (p:Product) WITH p.account_id AS a, p.pkey AS k, "
                "count(*) AS n WHERE n > 1 RETURN count(*)",
    "holds": "MATCH (a:Account)-[h:HOLDS]->(p) WITH a, p, count(h) AS n "
             "WHERE n > 1 RETURN count(*)",
}


def batches_of(records: Records, size: int) -> Batches:
    rows, products = records
    out: Batches = []
    for start in range(0, len(rows), size):
        chunk = rows[start : start + size]
        ids = {r.account_id for r in chunk}
        out.append((chunk, [p for p in products if p.account_id in ids]))
    return out


def load_all(store: GraphStore, batches: Batches) -> None:
    with store.load() as writer:
        for rows, products in batches:
            writer.write(rows, products)


def test_load_killed_midway_converges_when_run_again(
    dedicated_neo4j: tuple[Path, dict[str, str], int],
    make_records: Callable[..., Records],
    tmp_path: Path,
) -> None:
    from ringfence.graph import neo4j_server

    home, env, pid = dedicated_neo4j
    batches = batches_of(make_records(2000, seed=5), size=200)
    creds = (env["NEO4J_URI"], env["NEO4J_USERNAME"], env["NEO4J_PASSWORD"])

    # Load in a thread; kill the server with SIGKILL as soon as three batches
    # have committed, so the fourth is in flight.
    store = Neo4jStore(*creds, batch_rows=600, max_retry_s=1.0, retries=1)
    committed = threading.Event()
    failure: list[BaseException] = []

    def run() -> None:
        try:
            with store.load() as writer:
                for n, (rows, products) in enumerate(batches, start=1):
                    writer.write(rows, products)
                    if n == 3:
                        committed.set()
        except BaseException as exc:
            failure.append(exc)
        finally:
            committed.set()

    loader = threading.Thread(target=run)
    loader.start()
    assert committed.wait(180), "the load never committed three batches"
    os.kill(pid, signal.SIGKILL)
    loader.join(180)
    store.close()

    assert not loader.is_alive()
    assert len(failure) == 1 and isinstance(failure[0], StoreError)
    assert failure[0].is_retryable()

    # Restart on the same data; crash recovery keeps what was committed.
    info = neo4j_server.start(
        home, password=env["NEO4J_PASSWORD"],
        bolt_port=int(env["NEO4J_URI"].rsplit(":", 1)[1]),
        heap="1g", pagecache="256m", wait_s=240,
    )
    assert info.pid != pid
    with Neo4jStore(*creds) as again:
        partial = again.counts()
        load_all(again, batches)
        counts = again.counts()
        snapshot = again.snapshot()

    # The replayed graph equals one clean load of the same batches.
    with EmbeddedStore(tmp_path / "clean") as reference:
        load_all(reference, batches)
        assert 0 < partial["accounts"] < counts["accounts"]
        assert counts == reference.counts()
        clean = reference.snapshot()
    for part in ("accounts", "identifiers", "links", "products"):
        pd.testing.assert_frame_equal(getattr(snapshot, part), getattr(clean, part))
    assert duplicate_keys(env) == {name: 0 for name in _DUPLICATES}


def duplicate_keys(env: dict[str, str]) -> dict[str, int]:
    import neo4j

    auth = (env["NEO4J_USERNAME"] or "neo4j", env["NEO4J_PASSWORD"])
    with neo4j.GraphDatabase.driver(env["NEO4J_URI"], auth=auth) as driver:
        return {
            name: int(driver.execute_query(query).records[0][0])
            for name, query in _DUPLICATES.items()
        }
