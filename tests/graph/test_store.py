"""One suite for every graph store: each test runs on the embedded store and
on Neo4j (see ``conftest.py``), and the cross-store tests demand identical
frames from both."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest

from ringfence.errors import StoreError
from ringfence.graph.base import (
    ACCOUNT_COLUMNS,
    LINK_COLUMNS,
    PRODUCT_COLUMNS,
    RING_COLUMNS,
    GraphStore,
)
from ringfence.graph.embedded import EmbeddedStore
from ringfence.model import (
    AccountDecision,
    AccountRecord,
    DetectionResult,
    Hub,
    Identifier,
    Product,
    Ring,
)

Records = tuple[list[AccountRecord], list[Product]]


def load(
    store: GraphStore, records: list[AccountRecord],
    products: list[Product] | None = None, batch: int = 1000,
) -> None:
    with store.load() as writer:
        for start in range(0, len(records), batch):
            chunk = records[start : start + batch]
            ids = {r.account_id for r in chunk}
            writer.write(chunk, [p for p in products or [] if p.account_id in ids])


def phone(key: str, valid: bool = True) -> Identifier:
    return Identifier("phone", key, f"***{key[-2:]}", valid)


def email(key: str) -> Identifier:
    return Identifier("email", key, key[:1] + "***")


def account(
    account_id: str, seen: int, *idents: Identifier, created: int | None = None,
    name: str = "", label: str | None = None,
) -> AccountRecord:
    return AccountRecord(
        account_id, seen if created is None else created, seen, full_name=name,
        label=label, identifiers=list(idents),
    )


def result(
    run_id: str, rings: list[Ring], decisions: list[AccountDecision],
) -> DetectionResult:
    return DetectionResult(
        run_id=run_id, generated_at=f"2024-05-0{run_id[-1]}T02:00:00Z",
        params={"threshold": 0.5, "run": run_id}, rings=rings,
        decisions=decisions,
        hubs=[Hub("ip", "10.0.0.1", "10.0.0.1", 40, "degree above 25")],
        metrics={"rings": len(rings)},
    )


def sample_graph() -> list[AccountRecord]:
    shared = phone("+447700900001")
    return [
        account("A1", 100, shared, email("a1@example.com"), name="Ann", label="fraud"),
        account("A2", 200, shared, email("a2@example.com"), name="Bob"),
        account("A3", 300, phone("+447700900003", valid=False)),
    ]


# -- loading -----------------------------------------------------------------


def test_loaded_accounts_and_links_read_back(store: GraphStore) -> None:
    load(store, sample_graph())

    assert store.counts() == {
        "accounts": 3, "identifiers": 4, "links": 5, "products": 0,
    }
    accounts = store.accounts(["A2", "A1", "missing"])
    assert list(accounts.columns) == ACCOUNT_COLUMNS
    assert accounts["account_id"].tolist() == ["A1", "A2"]
    assert accounts["full_name"].tolist() == ["Ann", "Bob"]
    assert accounts["created_at"].tolist() == [100, 200]
    assert accounts["reasons"].tolist() == [[], []]
    assert accounts["decision"].isna().all()

    links = store.links(["A1", "A3"])
    assert list(links.columns) == LINK_COLUMNS
    assert links[["account_id", "kind", "key"]].values.tolist() == [
        ["A1", "email", "a1@example.com"],
        ["A1", "phone", "+447700900001"],
        ["A3", "phone", "+447700900003"],
    ]
    assert links["valid"].tolist() == [True, True, False]
    assert links["first_seen"].tolist() == [100, 100, 300]
    assert list(store.iter_account_ids()) == ["A1", "A2", "A3"]


def test_reloading_the_same_batch_changes_nothing(
    store: GraphStore, make_records: Callable[..., Records]
) -> None:
    records, products = make_records(400, seed=3)
    load(store, records, products, batch=150)
    counts, snap = store.counts(), store.snapshot()

    load(store, records, products, batch=150)

    assert store.counts() == counts
    again = store.snapshot()
    for part in ("accounts", "identifiers", "links", "products"):
        pd.testing.assert_frame_equal(getattr(again, part), getattr(snap, part))


def test_newer_row_moves_last_seen_and_keeps_earliest_creation(
    store: GraphStore,
) -> None:
    shared = phone("+447700900001")
    load(store, [account("A1", 500, shared, created=400, name="Old",
                         label="fraud")])

    # A later sighting with a new name and no label, then an older one.
    load(store, [account("A1", 900, shared, created=450, name="New")])
    load(store, [account("A1", 200, shared, created=300, name="Oldest",
                         label="legit")])

    links = store.links(["A1"])
    assert links[["first_seen", "last_seen"]].values.tolist() == [[200, 900]]
    row = store.accounts(["A1"]).iloc[0]
    assert row["created_at"] == 300
    assert row["full_name"] == "New"
    assert row["label"] == "fraud"  # a missing label never erases a known one
    assert store.counts()["links"] == 1


def test_duplicate_rows_in_one_batch_merge_like_separate_batches(
    store: GraphStore,
) -> None:
    shared = phone("+447700900001")
    with store.load() as writer:
        writer.write(
            [
                account("A1", 500, shared, created=500, name="Mid"),
                account("A1", 700, shared, created=650, name="Late"),
                account("A1", 100, shared, created=100, name="Early"),
            ],
            [],
        )

    row = store.accounts(["A1"]).iloc[0]
    assert (row["created_at"], row["full_name"]) == (100, "Late")
    assert store.links(["A1"])[["first_seen", "last_seen"]].values.tolist() == [
        [100, 700]
    ]


def test_products_upsert_one_product_per_key(store: GraphStore) -> None:
    load(store, sample_graph())
    with store.load() as writer:
        writer.write([], [
            Product("A1", "card", None, None, 100.0, 6000.0),
            Product("A1", "loan", 12, 2500.0, 2400.0, None),
        ])
        # Same card, new balance; a loan of another amount is another product.
        writer.write([], [
            Product("A1", "card", None, None, 900.0, 5000.0),
            Product("A1", "loan", 24, 2500.0, 2500.0, None),
        ])

    products = store.products(["A1", "A2"])
    assert list(products.columns) == PRODUCT_COLUMNS
    assert store.counts()["products"] == 3
    card = products[products["product"] == "card"].iloc[0]
    assert (card["balance"], card["credit_limit"]) == (900.0, 5000.0)
    assert sorted(products["term_months"].dropna().tolist()) == [12.0, 24.0]


def test_cypher_syntax_in_values_is_stored_literally(store: GraphStore) -> None:
    nasty = [
        "x' OR 1=1 //",
        "'}) RETURN 1 //",
        'MATCH (n) DETACH DELETE n',
        "{key: $rows} \\ \\u0027 `label`",
        '"}]->(x) WITH x MATCH (n) DETACH DELETE n //',
    ]
    load(store, sample_graph())
    records = [
        account(value, 1000 + i, phone(value), email(value + "@example.com"),
                name=value)
        for i, value in enumerate(nasty)
    ]
    load(store, records, [Product(nasty[0], nasty[1], None, None, 1.0, None)])

    assert store.counts() == {
        "accounts": 3 + len(nasty), "identifiers": 4 + 2 * len(nasty),
        "links": 5 + 2 * len(nasty), "products": 1,
    }
    accounts = store.accounts(nasty)
    assert accounts["account_id"].tolist() == sorted(nasty)
    assert accounts["full_name"].tolist() == sorted(nasty)
    sharers = store.sharers([("phone", v) for v in nasty])
    assert sharers["account_id"].tolist() == nasty
    assert store.products([nasty[0]])["product"].tolist() == [nasty[1]]


# -- reading -----------------------------------------------------------------


def test_sharers_report_exact_degree_and_honour_the_limit(store: GraphStore) -> None:
    hub = phone("+447700900999")
    load(store, [account(f"A{i:02d}", 100 + i, hub) for i in range(12)]
         + sample_graph())

    out = store.sharers(
        [("phone", "+447700900999"), ("phone", "+447700900001"),
         ("phone", "+447700900999"), ("email", "nobody@example.com"),
         ("no such kind", "x")],
        limit=5,
    )

    assert list(out.columns) == ["kind", "key", "account_id", "degree"]
    assert out["account_id"].tolist() == ["A00", "A01", "A02", "A03", "A04",
                                          "A1", "A2"]
    assert out["degree"].tolist() == [12] * 5 + [2, 2]
    assert store.sharers([("phone", "+447700900999")], limit=0).empty


def test_write_results_switches_latest_run_and_decisions(store: GraphStore) -> None:
    load(store, sample_graph())
    first = result(
        "run1",
        [Ring("R-1", ["A1", "A2"], 0.9, 6000.0, {"shared": ["phone"]})],
        [AccountDecision("A1", "decline", 0.9, "R-1", ["shared phone"]),
         AccountDecision("A2", "review", 0.6, "R-1", [])],
    )
    second = result(
        "run2",
        [Ring("R-2", ["A2", "A3"], 0.7, 10.5, {}, status="new")],
        [AccountDecision("A3", "review", 0.7, "R-2", ["invalid phone"]),
         AccountDecision("A2", "allow", 0.1, None, [])],
    )

    assert store.rings().empty and store.runs() == []
    store.write_results(first)
    rings = store.rings()
    assert list(rings.columns) == RING_COLUMNS
    assert rings.to_dict("records") == [{
        "ring_id": "R-1", "run_id": "run1", "size": 2, "score": 0.9,
        "exposure": 6000.0, "status": "new", "evidence": {"shared": ["phone"]},
        "members": ["A1", "A2"],
    }]
    a1 = store.accounts(["A1"]).iloc[0]
    assert (a1["decision"], a1["score"], a1["ring_id"], a1["reasons"]) == (
        "decline", 0.9, "R-1", ["shared phone"]
    )

    store.write_results(second)
    assert [r["run_id"] for r in store.runs()] == ["run2", "run1"]
    assert store.runs(limit=1)[0]["hubs"] == [{
        "kind": "ip", "key": "10.0.0.1", "display": "10.0.0.1", "degree": 40,
        "reason": "degree above 25",
    }]
    assert store.rings()["ring_id"].tolist() == ["R-2"]
    assert store.rings("run1")["ring_id"].tolist() == ["R-1"]
    assert store.rings("no-such-run").empty
    # A1 was not scored by run2: its decision is gone.
    assert store.accounts(["A1"])["decision"].isna().all()
    decided = store.accounts(["A2", "A3"])
    assert decided["decision"].tolist() == ["allow", "review"]
    assert decided["reasons"].tolist() == [[], ["invalid phone"]]
    flagged = store.decisions()
    assert flagged["account_id"].tolist() == ["A3"]
    assert store.decisions(flagged_only=False)["run_id"].tolist() == ["run2"] * 2

    # Writing run1 again makes it the newest run.
    store.write_results(first)
    assert [r["run_id"] for r in store.runs()] == ["run1", "run2"]
    assert store.decisions(flagged_only=False)["account_id"].tolist() == [
        "A1", "A2"
    ]


# -- the two stores agree --------------------------------------------------------


@pytest.mark.neo4j
def test_both_stores_return_identical_frames_for_the_same_batches(
    neo4j_store: GraphStore, tmp_path: Path, make_records: Callable[..., Records],
) -> None:
    embedded = EmbeddedStore(tmp_path / "store")
    records, products = make_records(1500, seed=11)
    # A row repeating an account within its batch, and a product whose
    # numbers need SQLite's storage rules: a whole-float term is stored as
    # 12, an integer balance as 3.0, NaN as NULL.
    records.append(account(records[0].account_id, records[0].seen_at,
                           *records[0].identifiers, created=1, name="Dup"))
    products.append(Product(records[5].account_id, "card", 12.0, float("nan"),
                            3, float("nan")))
    for store in (embedded, neo4j_store):
        load(store, records, products, batch=400)

    snap_e, snap_n = embedded.snapshot(), neo4j_store.snapshot()
    for part in ("accounts", "identifiers", "links", "products"):
        pd.testing.assert_frame_equal(getattr(snap_n, part), getattr(snap_e, part))
    assert neo4j_store.counts() == embedded.counts()

    ids = snap_e.accounts["account_id"].tolist()
    sample = ids[::7] + ["missing"] + ids[:3]
    for read in ("accounts", "links", "products"):
        pd.testing.assert_frame_equal(
            getattr(neo4j_store, read)(sample), getattr(embedded, read)(sample)
        )
    idents = list(snap_e.identifiers[["kind", "key"]].itertuples(index=False))
    pairs = [tuple(x) for x in idents[::5]] + [("ip", "10.0.0.1")]
    pd.testing.assert_frame_equal(
        neo4j_store.sharers(pairs, limit=3), embedded.sharers(pairs, limit=3)
    )

    run = result(
        "run1",
        [Ring("R-a", ids[:4], 0.8, 100.0, {"n": 4}),
         Ring("R-b", ids[4:6], 0.4, 0.0, {}, status="grown")],
        [AccountDecision(i, "decline" if n < 4 else "allow", 0.5, None, ["x"])
         for n, i in enumerate(ids[:8])],
    )
    for store in (embedded, neo4j_store):
        store.write_results(run)
    assert neo4j_store.runs() == embedded.runs()
    pd.testing.assert_frame_equal(neo4j_store.rings(), embedded.rings())
    for flagged_only in (True, False):
        pd.testing.assert_frame_equal(
            neo4j_store.decisions(flagged_only), embedded.decisions(flagged_only)
        )
    decided = ids[:8]
    pd.testing.assert_frame_equal(
        neo4j_store.accounts(decided), embedded.accounts(decided)
    )
    embedded.close()


@pytest.mark.neo4j
@pytest.mark.parametrize("kind", ["account", "Phone", "i_p", "bad kind"])
def test_neo4j_refuses_kinds_without_a_safe_label(
    neo4j_store: GraphStore, kind: str
) -> None:
    load(neo4j_store, [account("A1", 1, Identifier("ip", "10.0.0.1", "ip"))])

    with pytest.raises(StoreError, match="kind"), neo4j_store.load() as writer:
        writer.write([account("A2", 2, Identifier(kind, "k", "k"))], [])

    assert neo4j_store.counts()["accounts"] == 1
