"""Accounts loaded after the last detection run read back on both stores."""

from __future__ import annotations

import pandas as pd

from ringfence.config import Config
from ringfence.graph.base import GraphStore
from ringfence.jobs import run_detection
from ringfence.model import AccountRecord, Identifier


def _acc(aid: str, t: int) -> AccountRecord:
    return AccountRecord(aid, t, t, f"Name {aid}",
                         identifiers=[Identifier("phone", f"+1{t}", f"+1{t}")])


def test_scored_and_unscored_accounts_read_together(store: GraphStore) -> None:
    with store.load() as writer:
        writer.write([_acc("A1", 1)], [])
    run_detection(store, Config(), run_id="run-1")
    with store.load() as writer:
        writer.write([_acc("A2", 2)], [])
    rows = store.accounts(["A1", "A2"]).set_index("account_id")
    assert rows.loc["A1", "decision"] == "allow"
    assert rows.loc["A2", "reasons"] == []
    assert pd.isna(rows.loc["A2", "decision"])
