"""The main job answers the same on both stores: rings, decisions, queries."""

from __future__ import annotations

from pathlib import Path

import pytest

from ringfence.config import Config
from ringfence.generate import generate
from ringfence.graph.base import GraphStore
from ringfence.graph.embedded import EmbeddedStore
from ringfence.jobs import run_detection
from ringfence.loaders.load import load_files
from ringfence.queries import account_view, ring_view


@pytest.mark.neo4j
def test_generated_population_gives_the_same_rings_on_both_stores(
    tmp_path: Path, neo4j_store: GraphStore
) -> None:
    files = generate(tmp_path / "data", 3000, seed=11)
    embedded = EmbeddedStore(tmp_path / "store")
    answers = []
    for store in (embedded, neo4j_store):
        load_files(store, [files.accounts], [files.loans], config=Config(),
                   reports_dir=tmp_path / "loads")
        result = run_detection(store, Config(), run_id="run-same")
        rings = store.rings()
        answers.append((
            [(r.ring_id, r.members, r.score) for r in result.rings],
            rings[["ring_id", "size", "score", "exposure"]].to_dict("records"),
            store.decisions()[["account_id", "decision", "ring_id"]]
            .to_dict("records"),
        ))
    assert answers[0] == answers[1]
    assert answers[0][0], "the population should hold rings"

    ring_id, members, _ = answers[0][0][0]
    views = [ring_view(s, ring_id) for s in (embedded, neo4j_store)]
    assert views[0]["evidence"] == views[1]["evidence"]
    accounts = [account_view(s, members[0]) for s in (embedded, neo4j_store)]
    assert accounts[0] == accounts[1]
