"""The Neo4j graph store: the same graph as the embedded store, on a server.

Investigators explore rings in Neo4j Browser or Bloom while loaders and
detectors use the :class:`~ringfence.graph.base.GraphStore` interface; every
read primitive returns exactly the frames the embedded store returns for the
same data.

Graph model::

    (:Account {account_id, created_at, full_name, date_of_birth, label,
               seen_at, run_id, decision, score, ring_id, reasons})
      -[:HAS {first_seen, last_seen}]->
    (:Identifier:Phone {kind, key, display, valid, extra})

    (:Account)-[:HOLDS]->(:Product {account_id, pkey, product, term_months,
                                    amount, balance, credit_limit})

    (:Account)-[:MEMBER_OF]->(:Ring {run_id, ring_id, size, score, exposure,
                                     status, evidence, members})
      -[:IN_RUN]->(:Run {run_id, generated_at, params, metrics, hubs, seq,
                         complete, latest})

Every identifier node carries ``Identifier`` plus the label of its kind
(``Phone``, ``Email``, ``NationalId``, ``Device``, ``IP``, ``Address``, and
one per declared kind, e.g. ``BankAccount``); ``key`` is unique per label.
One relationship type, ``HAS``, links accounts to identifiers of any kind:
the target's label already says the kind. ``params``, ``metrics``, ``hubs``
and ``evidence`` are JSON strings; ``members`` and ``reasons`` are lists.
The decision properties of an account come from the latest run
(``(:Run {latest: true})``) and are removed when that run did not score it;
while a run is being written its decisions wait in ``next_*`` properties.

Example Cypher for Neo4j Browser::

    // Everything around one account, two hops out
    MATCH p = (:Account {account_id: 'A-1001'})-[:HAS]->()<-[:HAS]-(:Account)
    RETURN p

    // Rings of the latest run, largest exposure first
    MATCH (g:Ring)-[:IN_RUN]->(:Run {latest: true})
    RETURN g.ring_id, g.size, g.score, g.exposure, g.status
    ORDER BY g.exposure DESC LIMIT 25

    // Draw one ring of the latest run: members and what they share
    MATCH (g:Ring {ring_id: 'R-3f9a0c1d'})-[:IN_RUN]->(:Run {latest: true})
    MATCH (a:Account)-[:MEMBER_OF]->(g)<-[:MEMBER_OF]-(b:Account)
    MATCH (a)-[:HAS]->(i)<-[:HAS]-(b)
    RETURN a, i, b

    // Phones held by more than five accounts
    MATCH (p:Phone)<-[:HAS]-(a:Account)
    WITH p, count(a) AS holders WHERE holders > 5
    RETURN p.display, holders ORDER BY holders DESC

    // Accounts the gate should decline, with reasons
    MATCH (a:Account {decision: 'decline'})
    RETURN a.account_id, a.score, a.ring_id, a.reasons

Writing: each :meth:`LoadWriter.write` batch is aggregated in Python the way
the embedded store aggregates it, then written with ``UNWIND $rows``
statements (accounts, then identifiers with their links, then products)
grouped into transactions of at most ``batch_rows`` rows. Every statement
merges on keys with min/max rules, so replaying a batch, or a whole load
after a crash, converges to the graph of one clean load. Data only travels
as parameters; the labels formatted into Cypher come from
:func:`ringfence.model.kind_label` and are checked against an allow-list.

Notes:
    Decisions for accounts that are not in the graph are dropped (the
    embedded store keeps them and shows them if the account is loaded
    later). Rewriting a run that is already the latest shows its new rings
    and decisions while they are being written. Strings are ordered by code
    point in Python, not by Neo4j, whose order differs for characters
    outside the Basic Multilingual Plane.
"""

from __future__ import annotations

import json
import logging
import math
import os
import re
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

import numpy as np
import pandas as pd

from ringfence.errors import ConfigError, StoreError
from ringfence.graph.base import (
    ACCOUNT_COLUMNS,
    DECISION_COLUMNS,
    LINK_COLUMNS,
    PRODUCT_COLUMNS,
    RING_COLUMNS,
    GraphSnapshot,
    GraphStore,
    LoadWriter,
    run_record,
)

# Shared with the embedded store so both stores key products and build
# frames (chunking, dtypes of empty results) identically.
from ringfence.graph.embedded import _chunks, _concat, _product_key
from ringfence.model import AccountRecord, DetectionResult, Product, kind_label

if TYPE_CHECKING:
    from neo4j import Driver, ManagedTransaction, Session

__all__ = ["Neo4jStore"]

logger = logging.getLogger(__name__)

_T = TypeVar("_T")

#: Labels of ringfence's own nodes: no identifier kind may map to one.
_RESERVED_LABELS = frozenset(
    {"Account", "Identifier", "Product", "Ring", "Run", "Meta"}
)
_LABEL_RE = re.compile(r"^[A-Z][A-Za-z0-9]{0,63}$")

_SCHEMA = (
    "CREATE CONSTRAINT rf_account_id IF NOT EXISTS "
    "FOR (a:Account) REQUIRE a.account_id IS UNIQUE",
    "CREATE CONSTRAINT rf_product_key IF NOT EXISTS "
    "FOR (p:Product) REQUIRE (p.account_id, p.pkey) IS UNIQUE",
    "CREATE CONSTRAINT rf_run_id IF NOT EXISTS "
    "FOR (r:Run) REQUIRE r.run_id IS UNIQUE",
    "CREATE CONSTRAINT rf_ring_key IF NOT EXISTS "
    "FOR (g:Ring) REQUIRE (g.run_id, g.ring_id) IS UNIQUE",
    "CREATE CONSTRAINT rf_meta_name IF NOT EXISTS "
    "FOR (m:Meta) REQUIRE m.name IS UNIQUE",
    "CREATE INDEX rf_product_account IF NOT EXISTS "
    "FOR (p:Product) ON (p.account_id)",
    "CREATE INDEX rf_ring_run IF NOT EXISTS FOR (g:Ring) ON (g.run_id)",
    "CREATE INDEX rf_account_run IF NOT EXISTS FOR (a:Account) ON (a.run_id)",
    "CREATE INDEX rf_account_next_run IF NOT EXISTS "
    "FOR (a:Account) ON (a.next_run_id)",
)
# The label a schema statement above is FOR.
_SCHEMA_LABEL_RE = re.compile(r"FOR \(\w+:`?(\w+)`?\)")
_IDENT_CONSTRAINT = (
    "CREATE CONSTRAINT rf_ident_{label}_key IF NOT EXISTS "
    "FOR (i:`{label}`) REQUIRE i.key IS UNIQUE"
)

# -- load statements -----------------------------------------------------------
# Accounts: the earliest created_at wins; name, birth date and label come
# from the newest row (ties go to the incoming row); a missing label never
# erases a known one. All SET expressions read the values from before the
# SET, so seen_at can move last. Products written before their account get
# linked here.
_MERGE_ACCOUNTS = """
UNWIND $rows AS row
MERGE (a:Account {account_id: row.account_id})
ON CREATE SET a.created_at = row.created_at, a.full_name = row.full_name,
              a.date_of_birth = row.date_of_birth, a.label = row.label,
              a.seen_at = row.seen_at
ON MATCH SET
    a.created_at = CASE WHEN row.created_at < a.created_at
                        THEN row.created_at ELSE a.created_at END,
    a.full_name = CASE WHEN row.seen_at >= a.seen_at
                       THEN row.full_name ELSE a.full_name END,
    a.date_of_birth = CASE WHEN row.seen_at >= a.seen_at
                           THEN row.date_of_birth ELSE a.date_of_birth END,
    a.label = coalesce(CASE WHEN row.seen_at >= a.seen_at THEN row.label END,
                       a.label, row.label),
    a.seen_at = CASE WHEN row.seen_at > a.seen_at
                     THEN row.seen_at ELSE a.seen_at END
WITH a
MATCH (p:Product {account_id: a.account_id})
MERGE (a)-[:HOLDS]->(p)
"""
# Identifiers and links, one row per link: the first load that sees an
# identifier sets its attributes; a link keeps the min first_seen and the
# max last_seen.
_MERGE_LINKS = """
UNWIND $rows AS row
MATCH (a:Account {{account_id: row.account_id}})
MERGE (i:`{label}` {{key: row.key}})
ON CREATE SET i:Identifier, i.kind = row.kind, i.display = row.display,
              i.valid = row.valid, i.extra = row.extra
MERGE (a)-[r:HAS]->(i)
ON CREATE SET r.first_seen = row.first_seen, r.last_seen = row.last_seen
ON MATCH SET
    r.first_seen = CASE WHEN row.first_seen < r.first_seen
                        THEN row.first_seen ELSE r.first_seen END,
    r.last_seen = CASE WHEN row.last_seen > r.last_seen
                       THEN row.last_seen ELSE r.last_seen END
"""
# Products: one per (account_id, pkey); balance and limit follow the last row.
_MERGE_PRODUCTS = """
UNWIND $rows AS row
MERGE (p:Product {account_id: row.account_id, pkey: row.pkey})
ON CREATE SET p.product = row.product, p.term_months = row.term_months,
              p.amount = row.amount
SET p.balance = row.balance, p.credit_limit = row.credit_limit
WITH p, row
MATCH (a:Account {account_id: row.account_id})
MERGE (a)-[:HOLDS]->(p)
"""

# -- result statements -------------------------------------------------------
_MERGE_RUN = """
MERGE (r:Run {run_id: $run_id})
ON CREATE SET r.complete = false, r.latest = false
SET r.generated_at = $generated_at, r.params = $params,
    r.metrics = $metrics, r.hubs = $hubs
"""
_DELETE_RINGS = """
MATCH (g:Ring {run_id: $run_id})
WITH g LIMIT $limit
DETACH DELETE g
RETURN count(*) AS n
"""
_MERGE_RINGS = """
MATCH (r:Run {run_id: $run_id})
UNWIND $rows AS row
MERGE (g:Ring {run_id: $run_id, ring_id: row.ring_id})
SET g.size = row.size, g.score = row.score, g.exposure = row.exposure,
    g.status = row.status, g.evidence = row.evidence, g.members = row.members
MERGE (g)-[:IN_RUN]->(r)
"""
_MERGE_MEMBERS = """
UNWIND $rows AS row
MATCH (g:Ring {run_id: $run_id, ring_id: row.ring_id})
MATCH (a:Account {account_id: row.account_id})
MERGE (a)-[:MEMBER_OF]->(g)
"""
# Decisions are staged beside the live ones and promoted after the run
# becomes the latest, so readers switch from one run to the next at once.
_STAGE_DECISIONS = """
UNWIND $rows AS row
MATCH (a:Account {account_id: row.account_id})
SET a.next_run_id = $run_id, a.next_decision = row.decision,
    a.next_score = row.score, a.next_ring_id = row.ring_id,
    a.next_reasons = row.reasons
"""
_UNFLAG_LATEST = """
MATCH (r:Run {latest: true}) WHERE r.run_id <> $run_id
SET r.latest = false
"""
_FLAG_LATEST = """
OPTIONAL MATCH (any:Run)
WITH max(any.seq) AS top
MATCH (r:Run {run_id: $run_id})
SET r.latest = true, r.complete = true, r.seq = coalesce(top, 0) + 1
"""
_PROMOTE_DECISIONS = """
MATCH (a:Account {next_run_id: $run_id})
WITH a LIMIT $limit
SET a.run_id = a.next_run_id, a.decision = a.next_decision,
    a.score = a.next_score, a.ring_id = a.next_ring_id,
    a.reasons = a.next_reasons
REMOVE a.next_run_id, a.next_decision, a.next_score, a.next_ring_id,
       a.next_reasons
RETURN count(*) AS n
"""
_CLEAR_DECISIONS = """
MATCH (a:Account) WHERE a.run_id IS NOT NULL AND a.run_id <> $run_id
WITH a LIMIT $limit
REMOVE a.run_id, a.decision, a.score, a.ring_id, a.reasons
RETURN count(*) AS n
"""
_CLEAR_STAGED = """
MATCH (a:Account) WHERE a.next_run_id IS NOT NULL AND a.next_run_id <> $run_id
WITH a LIMIT $limit
REMOVE a.next_run_id, a.next_decision, a.next_score, a.next_ring_id,
       a.next_reasons
RETURN count(*) AS n
"""

# -- read statements -----------------------------------------------------------
_LATEST_RUN = """
MATCH (r:Run {latest: true})
RETURN r.run_id AS run_id ORDER BY r.seq DESC LIMIT 1
"""
_SNAP_ACCOUNTS = """
MATCH (a:Account)
RETURN a.account_id, a.created_at, a.full_name, a.date_of_birth, a.label
"""
# Links travel inside their identifier's row: one record per identifier
# rather than per link cuts the driver's decoding work by half.
_SNAP_IDENTS = """
MATCH (i:Identifier)
RETURN i.kind, i.key, i.display, i.valid, i.extra,
       [(a:Account)-[r:HAS]->(i) | [a.account_id, r.first_seen, r.last_seen]]
"""
_SNAP_PRODUCTS = """
MATCH (p:Product)
RETURN p.account_id, p.pkey, p.product, p.term_months, p.amount, p.balance,
       p.credit_limit
"""
_COUNTS = """
CALL () { MATCH (a:Account) RETURN count(a) AS accounts }
CALL () { MATCH (i:Identifier) RETURN count(i) AS identifiers }
CALL () { MATCH ()-[r:HAS]->() RETURN count(r) AS links }
CALL () { MATCH (p:Product) RETURN count(p) AS products }
RETURN accounts, identifiers, links, products
"""
# The latest run is looked up in the same query: one round trip per call.
_ACCOUNTS = """
OPTIONAL MATCH (r:Run {latest: true})
WITH r.run_id AS latest ORDER BY r.seq DESC LIMIT 1
UNWIND $ids AS id
MATCH (a:Account {account_id: id})
RETURN a.account_id, a.created_at, a.full_name, a.date_of_birth, a.label,
       CASE WHEN a.next_run_id = latest THEN a.next_decision
            WHEN a.run_id = latest THEN a.decision END,
       CASE WHEN a.next_run_id = latest THEN a.next_score
            WHEN a.run_id = latest THEN a.score END,
       CASE WHEN a.next_run_id = latest THEN a.next_ring_id
            WHEN a.run_id = latest THEN a.ring_id END,
       CASE WHEN a.next_run_id = latest THEN a.next_reasons
            WHEN a.run_id = latest THEN a.reasons END
"""
_LINKS = """
UNWIND $ids AS id
MATCH (a:Account {account_id: id})-[r:HAS]->(i:Identifier)
RETURN a.account_id, i.kind, i.key, i.display, i.valid, i.extra,
       r.first_seen, r.last_seen
"""
# Identifiers of every asked kind in one query: one UNION ALL branch per
# label (labels cannot be parameters), each an indexed lookup by key.
_SHARERS_BRANCH = """
    UNWIND $keys{n} AS key
    MATCH (i:`{label}` {{key: key}}) WHERE i.kind = $kind{n}
    RETURN i
"""
_SHARERS = """
CALL () {{{branches}}}
MATCH (a:Account)-[:HAS]->(i)
RETURN i.kind AS kind, i.key AS key, collect(a.account_id) AS holders
"""
_PRODUCTS = """
MATCH (p:Product) WHERE p.account_id IN $ids
RETURN p.account_id, p.pkey, p.product, p.term_months, p.amount, p.balance,
       p.credit_limit
"""
_DECISIONS = """
MATCH (a:Account) WHERE a.next_run_id = $latest OR a.run_id = $latest
WITH a, a.next_run_id = $latest AS staged
RETURN a.account_id,
       CASE WHEN staged THEN a.next_decision ELSE a.decision END,
       CASE WHEN staged THEN a.next_score ELSE a.score END,
       CASE WHEN staged THEN a.next_ring_id ELSE a.ring_id END,
       CASE WHEN staged THEN a.next_reasons ELSE a.reasons END,
       $latest
"""
_RUNS = """
MATCH (r:Run) WHERE r.complete
RETURN r.run_id AS run_id, r.generated_at AS generated_at, r.params AS params,
       r.metrics AS metrics, r.hubs AS hubs
ORDER BY r.seq DESC
"""
_RINGS = """
MATCH (r:Run {run_id: $run_id}) WHERE r.complete
MATCH (g:Ring {run_id: $run_id})
WHERE $ring_ids IS NULL OR g.ring_id IN $ring_ids
RETURN g.ring_id, g.run_id, g.size, g.score, g.exposure, g.status,
       g.evidence, g.members
"""


# -- value rules ---------------------------------------------------------------
# SQLite stores the embedded store's numbers with column affinity: REAL turns
# integers into floats and NaN into NULL, INTEGER turns whole floats into
# integers. The same rules here keep both stores' frames equal.


def _real(value: float | None) -> float | None:
    if value is None:
        return None
    value = float(value)
    return None if math.isnan(value) else value


def _integer(value: float | None) -> int | float | None:
    if value is None:
        return None
    if isinstance(value, float):
        if math.isnan(value):
            return None
        return int(value) if value.is_integer() else value
    return int(value)


@dataclass(slots=True)
class _LoadPlan:
    """One write batch, aggregated like the embedded store's staging merge."""

    accounts: list[dict[str, Any]] = field(default_factory=list)
    links: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    products: list[dict[str, Any]] = field(default_factory=list)


def _plan(records: Sequence[AccountRecord], products: Sequence[Product]) -> _LoadPlan:
    """Aggregate a batch: one row per account, identifier and link.

    Within a batch an account takes the earliest ``created_at`` and the
    attributes of its first row with the latest ``seen_at``; an identifier
    takes the smallest ``display``, ``valid`` and ``extra`` seen; a link
    takes the min and max ``seen_at``. Products stay in input order, as the
    last row of a product sets its balance.
    """
    accounts: dict[str, dict[str, Any]] = {}
    idents: dict[tuple[str, str], dict[str, Any]] = {}
    links: dict[tuple[str, str, str], dict[str, Any]] = {}
    for rec in records:
        created, seen = int(rec.created_at), int(rec.seen_at)
        acc = accounts.get(rec.account_id)
        if acc is None:
            accounts[rec.account_id] = {
                "account_id": rec.account_id, "created_at": created,
                "seen_at": seen, "full_name": rec.full_name,
                "date_of_birth": rec.date_of_birth, "label": rec.label,
            }
        else:
            acc["created_at"] = min(acc["created_at"], created)
            if seen > acc["seen_at"]:
                acc.update(seen_at=seen, full_name=rec.full_name,
                           date_of_birth=rec.date_of_birth, label=rec.label)
        for ident in rec.identifiers:
            seen_ident = idents.get((ident.kind, ident.key))
            if seen_ident is None:
                idents[(ident.kind, ident.key)] = {
                    "kind": ident.kind, "key": ident.key,
                    "display": ident.display, "valid": bool(ident.valid),
                    "extra": ident.extra,
                }
            else:
                seen_ident["display"] = min(seen_ident["display"], ident.display)
                seen_ident["valid"] = seen_ident["valid"] and bool(ident.valid)
                seen_ident["extra"] = min(seen_ident["extra"], ident.extra)
            link = links.get((rec.account_id, ident.kind, ident.key))
            if link is None:
                links[(rec.account_id, ident.kind, ident.key)] = {
                    "account_id": rec.account_id, "kind": ident.kind,
                    "key": ident.key, "first_seen": seen, "last_seen": seen,
                }
            else:
                link["first_seen"] = min(link["first_seen"], seen)
                link["last_seen"] = max(link["last_seen"], seen)

    plan = _LoadPlan(accounts=list(accounts.values()))
    for link in links.values():
        attrs = idents[(link["kind"], link["key"])]
        link.update(display=attrs["display"], valid=attrs["valid"],
                    extra=attrs["extra"])
        plan.links.setdefault(link["kind"], []).append(link)
    plan.products = [
        {
            "account_id": p.account_id, "pkey": _product_key(p),
            "product": p.product, "term_months": _integer(p.term_months),
            "amount": _real(p.amount), "balance": _real(p.balance),
            "credit_limit": _real(p.credit_limit),
        }
        for p in products
    ]
    return plan


class _Neo4jWriter(LoadWriter):
    def __init__(self, store: Neo4jStore) -> None:
        self._store = store

    def write(
        self, records: Sequence[AccountRecord], products: Sequence[Product]
    ) -> None:
        store = self._store
        plan = _plan(records, products)
        steps: list[tuple[str, list[dict[str, Any]]]] = [
            (_MERGE_ACCOUNTS, plan.accounts)
        ]
        for kind, rows in plan.links.items():
            label = store._label(kind)
            steps.append((_MERGE_LINKS.format(label=label), rows))
        steps.append((_MERGE_PRODUCTS, plan.products))
        store._write_steps(steps, {})
        logger.debug("neo4j store: merged batch of %d rows", len(records))


class Neo4jStore(GraphStore):
    """Graph store on a Neo4j 5 server.

    Args:
        uri: Bolt URI (default: ``NEO4J_URI``).
        user: User name (default: ``NEO4J_USERNAME``, else ``neo4j``).
        password: Password (default: ``NEO4J_PASSWORD``).
        database: Database name (default: ``NEO4J_DATABASE``, else ``neo4j``).
        batch_rows: Most rows written in one transaction.
        max_retry_s: How long the driver retries a transaction that failed
            with a transient error (deadlock, leader switch).
        retries: How many times a call is repeated when the server cannot be
            reached, with exponential backoff from 0.5 s.

    Raises:
        ConfigError: No URI or password, a malformed URI, or bad credentials.
        StoreError: The server cannot be reached (retryable).
    """

    name = "neo4j"

    def __init__(
        self,
        uri: str | None = None,
        user: str | None = None,
        password: str | None = None,
        database: str | None = None,
        *,
        batch_rows: int = 10_000,
        max_retry_s: float = 30.0,
        retries: int = 5,
    ) -> None:
        import neo4j
        from neo4j.exceptions import AuthError, ConfigurationError, DriverError

        uri = uri or os.environ.get("NEO4J_URI")
        if not uri:
            raise ConfigError(
                "NEO4J_URI is not set: export NEO4J_URI=bolt://HOST:7687 (or run "
                "`ringfence neo4j start` and paste the export lines it prints)"
            )
        user = user or os.environ.get("NEO4J_USERNAME") or "neo4j"
        password = password or os.environ.get("NEO4J_PASSWORD")
        if not password:
            raise ConfigError(
                "NEO4J_PASSWORD is not set: export the password of the Neo4j user "
                f"{user!r} (`ringfence neo4j start` prints it)"
            )
        if batch_rows < 1:
            raise ConfigError(f"batch_rows must be at least 1, got {batch_rows}")
        self.uri = uri
        self.database = database or os.environ.get("NEO4J_DATABASE") or "neo4j"
        self._batch_rows = batch_rows
        self._retries = retries
        self._labels: dict[str, str] = {}
        self._schema_ready = False
        try:
            self._driver: Driver = neo4j.GraphDatabase.driver(
                uri,
                auth=(user, password),
                max_transaction_retry_time=max_retry_s,
                # The store's queries name labels and properties that an empty
                # database lacks; the server's hints about them are noise.
                notifications_min_severity="OFF",
            )
        except (ConfigurationError, ValueError) as exc:
            raise ConfigError(f"NEO4J_URI {uri!r} is not usable: {exc}") from exc
        try:
            self._driver.verify_connectivity()
        except AuthError as exc:
            self._driver.close()
            raise ConfigError(
                f"Neo4j at {uri} rejected user {user!r}: check NEO4J_USERNAME and "
                "NEO4J_PASSWORD"
            ) from exc
        except DriverError as exc:
            self._driver.close()
            raise StoreError(
                f"cannot reach Neo4j at {uri}: {exc}; start it (`ringfence neo4j "
                "start`) or fix NEO4J_URI",
                retryable=True,
            ) from exc

    # -- plumbing --------------------------------------------------------

    def _call(
        self, write: bool, work: Callable[..., _T], *args: Any, auto: bool = False
    ) -> _T:
        """Run ``work`` in a managed transaction, riding out server restarts.

        The driver repeats transactions that failed transiently; this loop
        also repeats calls that lost the server (including a commit whose
        outcome is unknown: every write here is idempotent). With ``auto``,
        ``work`` gets the session itself and runs one auto-commit read: one
        round trip instead of three, for the queries an investigator or the
        gate waits on; transient failures are repeated here.
        """
        from neo4j import READ_ACCESS
        from neo4j.exceptions import (
            DriverError,
            Neo4jError,
            ServiceUnavailable,
            SessionExpired,
            TransientError,
        )

        delay = 0.5
        attempt = 0
        while True:
            try:
                with self._driver.session(
                    database=self.database, fetch_size=10_000,
                    default_access_mode=READ_ACCESS,
                ) as session:
                    if auto:
                        return work(session, *args)
                    if write:
                        return session.execute_write(work, *args)
                    return session.execute_read(work, *args)
            except (ServiceUnavailable, SessionExpired, TransientError) as exc:
                if isinstance(exc, TransientError) and not auto:
                    raise StoreError(  # the driver has already retried it
                        f"Neo4j at {self.uri} failed: {exc.code}: {exc.message}",
                        retryable=True,
                    ) from exc
                attempt += 1
                if attempt > self._retries:
                    raise StoreError(
                        f"Neo4j at {self.uri} is unavailable after {attempt} "
                        f"attempts: {exc}; retry when it is back (`ringfence "
                        "neo4j status`)",
                        retryable=True,
                    ) from exc
                logger.debug("neo4j unavailable (%s); retry %d", exc, attempt)
                time.sleep(delay)
                delay = min(delay * 2, 8.0)
            except Neo4jError as exc:
                raise StoreError(
                    f"Neo4j at {self.uri} failed: {exc.code}: {exc.message}",
                    retryable=exc.is_retryable(),
                ) from exc
            except DriverError as exc:
                raise StoreError(f"Neo4j driver failed: {exc}") from exc

    def _write_steps(
        self, steps: Sequence[tuple[str, list[dict[str, Any]]]],
        params: dict[str, Any],
    ) -> None:
        """Run ``UNWIND $rows`` statements in order, ``batch_rows`` per transaction."""
        size = self._batch_rows
        txs: list[list[tuple[str, list[dict[str, Any]]]]] = [[]]
        used = 0
        for query, rows in steps:
            for start in range(0, len(rows), size):
                part = rows[start : start + size]
                if used and used + len(part) > size:
                    txs.append([])
                    used = 0
                txs[-1].append((query, part))
                used += len(part)

        def work(tx: ManagedTransaction, parts: list[tuple[str, list[Any]]]) -> None:
            for query, rows in parts:
                tx.run(query, params, rows=rows).consume()

        for parts in txs:
            if parts:
                self._call(True, work, parts)

    def _write_one(self, query: str, **params: Any) -> None:
        def work(tx: ManagedTransaction) -> None:
            tx.run(query, params).consume()

        self._call(True, work)

    def _drain(self, query: str, **params: Any) -> None:
        """Repeat a ``... LIMIT $limit ... RETURN count(*) AS n`` write until n = 0."""

        def work(tx: ManagedTransaction) -> int:
            record = tx.run(query, params, limit=self._batch_rows).single()
            return int(record["n"]) if record else 0

        while self._call(True, work):
            pass

    def _rows(self, query: str, **params: Any) -> list[tuple[Any, ...]]:
        """Records of one read-only query, run as an auto-commit statement."""

        def work(session: Session) -> list[tuple[Any, ...]]:
            return [tuple(rec.values()) for rec in session.run(query, params)]

        return self._call(False, work, auto=True)

    def _schema(self, statements: Sequence[str], *, workers: int = 1) -> None:
        """Run schema statements, then wait until every index is online.

        Args:
            statements: ``CREATE CONSTRAINT|INDEX ... IF NOT EXISTS`` texts of
                this module, each ``FOR`` one label.
            workers: Labels whose statements run side by side. A constraint
                waits for its index to be populated from every node of its
                label; populations of different labels can share the CPUs.
                Statements of one label always run in turn: two at once
                deadlock on the label's lock.
        """
        from neo4j.exceptions import DriverError, Neo4jError, TransientError

        groups: dict[str, list[str]] = {}
        for statement in statements:
            match = _SCHEMA_LABEL_RE.search(statement)
            groups.setdefault(match.group(1) if match else "", []).append(statement)

        def run(group: list[str]) -> None:
            with self._driver.session(database=self.database) as session:
                for statement in group:
                    for attempt in range(5):
                        try:
                            session.run(statement).consume()
                            break
                        except TransientError:
                            # IF NOT EXISTS: running it again is harmless.
                            if attempt == 4:
                                raise
                            time.sleep(0.2 * (attempt + 1))

        try:
            # Largest groups first, so that the last one to start is short.
            ordered = sorted(groups.values(), key=len, reverse=True)
            if workers <= 1 or len(ordered) <= 1:
                for group in ordered:
                    run(group)
            else:
                with ThreadPoolExecutor(workers, "neo4j-schema") as pool:
                    list(pool.map(run, ordered))  # re-raises a group's error
            with self._driver.session(database=self.database) as session:
                session.run("CALL db.awaitIndexes(300)").consume()
        except Neo4jError as exc:
            raise StoreError(
                f"cannot create the ringfence schema in Neo4j at {self.uri}: "
                f"{exc.code}: {exc.message}",
                retryable=exc.is_retryable(),
            ) from exc
        except DriverError as exc:
            raise StoreError(
                f"Neo4j at {self.uri} is unavailable: {exc}", retryable=True
            ) from exc

    def _ensure_schema(self) -> None:
        if not self._schema_ready:
            self._schema(_SCHEMA)
            self._schema_ready = True

    def _label(self, kind: str) -> str:
        """The allow-listed label of an identifier kind, creating its constraint."""
        label = self._labels.get(kind)
        if label is not None:
            return label
        label = _label_of(kind)
        if label is None:
            raise StoreError(
                f"identifier kind {kind!r} cannot be stored in Neo4j: kinds are "
                "lower-case letters, digits and underscores and must not name "
                f"one of ringfence's own labels ({', '.join(sorted(_RESERVED_LABELS))})"
            )
        clash = [k for k, v in self._labels.items() if v == label]
        clash += [
            other
            for (other,) in self._rows(
                f"MATCH (i:`{label}`) WHERE i.kind <> $kind RETURN i.kind LIMIT 1",
                kind=kind,
            )
        ]
        if clash:
            raise StoreError(
                f"identifier kinds {kind!r} and {clash[0]!r} both map to the Neo4j "
                f"label {label}: rename one of them"
            )
        self._schema([_IDENT_CONSTRAINT.format(label=label)])
        self._labels[kind] = label
        return label

    # -- writing ---------------------------------------------------------

    @contextmanager
    def load(self) -> Iterator[LoadWriter]:
        self._ensure_schema()
        yield _Neo4jWriter(self)

    def write_results(self, result: DetectionResult) -> None:
        self._ensure_schema()
        run_id = result.run_id
        ring_ids = [r.ring_id for r in result.rings]
        if len(set(ring_ids)) != len(ring_ids):
            raise StoreError(f"run {run_id} lists a ring id twice")
        scored = [d.account_id for d in result.decisions]
        if len(set(scored)) != len(scored):
            raise StoreError(f"run {run_id} decides an account twice")

        # Steps: the run node (not yet latest); its rings, memberships and
        # staged decisions in batches; the switch to latest; then promoting
        # the staged decisions and clearing those of earlier runs.
        self._write_one(
            _MERGE_RUN,
            run_id=run_id,
            generated_at=result.generated_at,
            params=json.dumps(result.params, sort_keys=True),
            metrics=json.dumps(result.metrics, sort_keys=True),
            hubs=json.dumps([asdict(h) for h in result.hubs]),
        )
        self._drain(_DELETE_RINGS, run_id=run_id)
        rings = [
            {
                "ring_id": r.ring_id, "size": len(r.members),
                "score": float(r.score), "exposure": float(r.exposure),
                "status": r.status,
                "evidence": json.dumps(r.evidence, sort_keys=True),
                "members": list(r.members),
            }
            for r in result.rings
        ]
        members = [
            {"ring_id": r.ring_id, "account_id": m}
            for r in result.rings
            for m in r.members
        ]
        decisions = [
            {
                "account_id": d.account_id, "decision": d.decision,
                "score": float(d.score), "ring_id": d.ring_id,
                "reasons": list(d.reasons),
            }
            for d in result.decisions
        ]
        self._write_steps(
            [(_MERGE_RINGS, rings), (_MERGE_MEMBERS, members),
             (_STAGE_DECISIONS, decisions)],
            {"run_id": run_id},
        )

        def switch(tx: ManagedTransaction) -> None:
            tx.run(_UNFLAG_LATEST, run_id=run_id).consume()
            tx.run(_FLAG_LATEST, run_id=run_id).consume()

        self._call(True, switch)
        self._drain(_PROMOTE_DECISIONS, run_id=run_id)
        self._drain(_CLEAR_DECISIONS, run_id=run_id)
        self._drain(_CLEAR_STAGED, run_id=run_id)
        logger.info(
            "neo4j store: run %s written (%d rings, %d decisions)",
            run_id, len(rings), len(decisions),
        )

    # -- reading -----------------------------------------------------------

    def _latest_run(self) -> str | None:
        rows = self._rows(_LATEST_RUN)
        return str(rows[0][0]) if rows else None

    def snapshot(self) -> GraphSnapshot:
        def work(tx: ManagedTransaction) -> tuple[list[Any], ...]:
            return tuple(
                [tuple(rec.values()) for rec in tx.run(query)]
                for query in (_SNAP_ACCOUNTS, _SNAP_IDENTS, _SNAP_PRODUCTS)
            )

        # One read transaction streams the three queries record by record;
        # rows are sorted here, by code point, exactly as SQLite sorts them.
        acc_rows, idn_rows, prod_rows = self._call(False, work)
        acc_rows.sort(key=lambda row: row[0])
        idn_rows.sort(key=lambda row: (row[0], row[1]))
        prod_rows.sort(key=lambda row: (row[0], row[1]))

        acc_pos = {row[0]: i for i, row in enumerate(acc_rows)}
        columns: tuple[list[int], ...] = ([], [], [], [])
        for ident_idx, row in enumerate(idn_rows):
            for account_id, first_seen, last_seen in row[5]:
                columns[0].append(acc_pos[account_id])
                columns[1].append(ident_idx)
                columns[2].append(first_seen)
                columns[3].append(last_seen)
        raw = np.array(columns, dtype=np.int64).reshape(4, -1)
        order = np.lexsort((raw[1], raw[0]))

        accounts = pd.DataFrame(
            acc_rows,
            columns=["account_id", "created_at", "full_name", "date_of_birth",
                     "label"],
        )
        identifiers = pd.DataFrame(
            [row[:5] for row in idn_rows],
            columns=["kind", "key", "display", "valid", "extra"],
        )
        identifiers["valid"] = identifiers["valid"].astype(bool)
        links = pd.DataFrame(
            {
                name: raw[n, order]
                for n, name in enumerate(
                    ("account_idx", "ident_idx", "first_seen", "last_seen")
                )
            }
        )
        products = pd.DataFrame(
            [row[:1] + row[2:] for row in prod_rows], columns=PRODUCT_COLUMNS
        )
        return GraphSnapshot(
            accounts=accounts, identifiers=identifiers, links=links,
            products=products,
        )

    def counts(self) -> dict[str, int]:
        (row,) = self._rows(_COUNTS)
        keys = ("accounts", "identifiers", "links", "products")
        return {k: int(v) for k, v in zip(keys, row, strict=True)}

    def iter_account_ids(self) -> Iterator[str]:
        rows = self._rows("MATCH (a:Account) RETURN a.account_id")
        yield from sorted(row[0] for row in rows)

    def accounts(self, account_ids: Sequence[str]) -> pd.DataFrame:
        frames = [
            pd.DataFrame(
                self._rows(_ACCOUNTS, ids=list(dict.fromkeys(chunk))),
                columns=ACCOUNT_COLUMNS,
            )
            for chunk in _chunks(list(account_ids))
        ]
        out = _concat(frames, ACCOUNT_COLUMNS)
        out["reasons"] = [list(r) if r else [] for r in out["reasons"]]
        return out.sort_values("account_id").reset_index(drop=True)

    def links(self, account_ids: Sequence[str]) -> pd.DataFrame:
        frames = [
            pd.DataFrame(
                self._rows(_LINKS, ids=list(dict.fromkeys(chunk))),
                columns=LINK_COLUMNS,
            )
            for chunk in _chunks(list(account_ids))
        ]
        out = _concat(frames, LINK_COLUMNS)
        out["valid"] = out["valid"].astype(bool)
        return out.sort_values(["account_id", "kind", "key"]).reset_index(drop=True)

    def sharers(
        self, idents: Sequence[tuple[str, str]], limit: int = 1000
    ) -> pd.DataFrame:
        wanted = list(dict.fromkeys(idents))
        by_kind: dict[str, list[str]] = {}
        for kind, key in wanted:
            if _label_of(kind) is not None:  # others cannot have been stored
                by_kind.setdefault(kind, []).append(key)

        # Holders of each identifier, sorted by code point before the limit
        # is applied (Neo4j would order some characters differently).
        holders: dict[tuple[str, str], list[str]] = {}
        if by_kind:
            params: dict[str, Any] = {}
            branches = []
            for n, (kind, keys) in enumerate(by_kind.items()):
                branches.append(
                    _SHARERS_BRANCH.format(n=n, label=_label_of(kind))
                )
                params[f"keys{n}"] = keys
                params[f"kind{n}"] = kind
            query = _SHARERS.format(branches="    UNION ALL".join(branches))
            for kind, key, ids in self._rows(query, **params):
                holders[(kind, key)] = sorted(ids)

        rows: list[tuple[str, str, str, int]] = []
        for kind, key in wanted:
            ids = holders.get((kind, key), [])
            shown = ids[:limit] if limit >= 0 else ids
            rows.extend((kind, key, account_id, len(ids)) for account_id in shown)
        return pd.DataFrame(rows, columns=["kind", "key", "account_id", "degree"])

    def products(self, account_ids: Sequence[str]) -> pd.DataFrame:
        frames = []
        for chunk in _chunks(list(account_ids)):
            rows = sorted(self._rows(_PRODUCTS, ids=chunk),
                          key=lambda row: (row[0], row[1]))
            frames.append(
                pd.DataFrame([row[:1] + row[2:] for row in rows],
                             columns=PRODUCT_COLUMNS)
            )
        return _concat(frames, PRODUCT_COLUMNS)

    def runs(self, limit: int = 20) -> list[dict[str, Any]]:
        rows = self._rows(_RUNS)
        if limit >= 0:
            rows = rows[:limit]
        return [run_record(*row) for row in rows]

    def rings(
        self, run_id: str | None = None, ring_ids: Sequence[str] | None = None
    ) -> pd.DataFrame:
        if run_id is None:
            run_id = self._latest_run()
            if run_id is None:
                return pd.DataFrame(columns=RING_COLUMNS)
        wanted = None if ring_ids is None else list(ring_ids)
        rows = sorted(self._rows(_RINGS, run_id=run_id, ring_ids=wanted),
                      key=lambda row: row[0])
        out = pd.DataFrame(rows, columns=RING_COLUMNS)
        out["evidence"] = [json.loads(e) for e in out["evidence"]]
        out["members"] = [list(m) for m in out["members"]]
        return out

    def decisions(self, flagged_only: bool = True) -> pd.DataFrame:
        latest = self._latest_run()
        rows = self._rows(_DECISIONS, latest=latest) if latest is not None else []
        if flagged_only:
            rows = [row for row in rows if row[1] in ("decline", "review")]
        rows.sort(key=lambda row: row[0])
        out = pd.DataFrame(rows, columns=DECISION_COLUMNS)
        out["reasons"] = [list(r) for r in out["reasons"]]
        return out

    def get_setting(self, name: str) -> str | None:
        rows = self._rows(
            "MATCH (m:Meta {name: $name}) RETURN m.value", name=name
        )
        return None if not rows else str(rows[0][0])

    def set_setting(self, name: str, value: str) -> None:
        self._write_one(
            "MERGE (m:Meta {name: $name}) SET m.value = $value",
            name=name, value=value,
        )

    def warm_up(self) -> int:
        """Read every index and store file once, so that first queries are fast.

        Neo4j Community starts with a cold page cache: until the pages a
        query needs have been read from disk, a gate check or ``account
        show`` can take several times longer. This walks the account and
        identifier indexes (a range seek over each whole index) and the
        nodes, links and properties the queries read.

        Returns:
            Number of entries read, for the log.
        """
        labels = [
            label for (label,) in self._rows("CALL db.labels() YIELD label "
                                             "RETURN label")
            if _LABEL_RE.match(label) and label not in _RESERVED_LABELS
        ]
        queries = [
            "MATCH (a:Account) WHERE a.account_id >= '' RETURN count(*)",
            *(f"MATCH (i:`{label}`) WHERE i.key >= '' RETURN count(*)"
              for label in labels),
            "MATCH (a:Account) RETURN count(a.created_at) + count(a.decision)",
            "MATCH (:Account)-[r:HAS]->(i:Identifier) "
            "RETURN count(r.first_seen) + count(i.kind)",
            "MATCH (p:Product) WHERE p.account_id >= '' RETURN count(*)",
        ]
        read = 0
        for query in queries:
            read += int(self._rows(query)[0][0] or 0)
        return read

    def close(self) -> None:
        self._driver.close()


def _label_of(kind: str) -> str | None:
    """The label of ``kind``, or None when it cannot be an identifier label."""
    try:
        label = kind_label(kind)
    except ValueError:
        return None
    if label in _RESERVED_LABELS or not _LABEL_RE.match(label):
        return None
    return label
