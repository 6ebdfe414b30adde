"""The embedded graph store: one SQLite database in WAL mode, no server.

Why SQLite: it is in the standard library, a load is one ACID transaction
(a crash or an error mid-load leaves the last committed state), and WAL mode
lets investigator queries read the last committed graph while a nightly job
writes the next one.

Layout: ``accounts`` and ``identifiers`` get integer row ids; ``links`` holds
``(account, ident)`` pairs with first/last seen times; detection results
live in ``runs``, ``rings`` and ``decisions`` (decisions of the latest run
only, replaced atomically by each run).
"""

from __future__ import annotations

import json
import logging
import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ringfence.errors import StoreError
from ringfence.graph.base import (
    ACCOUNT_COLUMNS,
    DECISION_COLUMNS,
    LINK_COLUMNS,
    PRODUCT_COLUMNS,
    RING_COLUMNS,
    GraphSnapshot,
    GraphStore,
    LoadWriter,
    RowWriter,
    run_record,
)
from ringfence.model import (
    AccountRow,
    DetectionResult,
    Product,
    ProductRow,
    product_row,
)

__all__ = ["EmbeddedStore"]

logger = logging.getLogger(__name__)

_DB_NAME = "graph.sqlite"
_SCHEMA_VERSION = "1"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (k TEXT PRIMARY KEY, v TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS accounts (
    id INTEGER PRIMARY KEY,
    account_id TEXT NOT NULL UNIQUE,
    created_at INTEGER NOT NULL,
    full_name TEXT NOT NULL DEFAULT '',
    date_of_birth TEXT NOT NULL DEFAULT '',
    label TEXT,
    seen_at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS identifiers (
    id INTEGER PRIMARY KEY,
    kind TEXT NOT NULL,
    key TEXT NOT NULL,
    display TEXT NOT NULL,
    valid INTEGER NOT NULL,
    extra TEXT NOT NULL DEFAULT '',
    UNIQUE (kind, key)
);
CREATE TABLE IF NOT EXISTS links (
    account INTEGER NOT NULL,
    ident INTEGER NOT NULL,
    first_seen INTEGER NOT NULL,
    last_seen INTEGER NOT NULL,
    PRIMARY KEY (account, ident)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS links_by_ident ON links (ident, account);
CREATE TABLE IF NOT EXISTS products (
    account_id TEXT NOT NULL,
    pkey TEXT NOT NULL,
    product TEXT NOT NULL,
    term_months INTEGER,
    amount REAL,
    balance REAL NOT NULL,
    credit_limit REAL,
    PRIMARY KEY (account_id, pkey)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS runs (
    seq INTEGER PRIMARY KEY,
    run_id TEXT NOT NULL UNIQUE,
    generated_at TEXT NOT NULL,
    params TEXT NOT NULL,
    metrics TEXT NOT NULL,
    hubs TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS rings (
    run_id TEXT NOT NULL,
    ring_id TEXT NOT NULL,
    size INTEGER NOT NULL,
    score REAL NOT NULL,
    exposure REAL NOT NULL,
    status TEXT NOT NULL,
    evidence TEXT NOT NULL,
    members TEXT NOT NULL,
    PRIMARY KEY (run_id, ring_id)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS decisions (
    account_id TEXT PRIMARY KEY,
    run_id TEXT NOT NULL,
    decision TEXT NOT NULL,
    score REAL NOT NULL,
    ring_id TEXT,
    reasons TEXT NOT NULL
) WITHOUT ROWID;
"""

_STAGING = """
CREATE TEMP TABLE IF NOT EXISTS s_accounts (
    account_id TEXT, created_at INTEGER, full_name TEXT, date_of_birth TEXT,
    label TEXT, seen_at INTEGER);
CREATE TEMP TABLE IF NOT EXISTS s_idents (
    kind TEXT, key TEXT, display TEXT, valid INTEGER, extra TEXT);
CREATE TEMP TABLE IF NOT EXISTS s_links (
    account_id TEXT, kind TEXT, key TEXT, seen_at INTEGER);
"""

# Staged rows are merged with set-based upserts: far faster than one
# statement per row, and each is idempotent. "WHERE true" disambiguates
# SQLite's INSERT ... SELECT ... ON CONFLICT grammar.
_MERGE_ACCOUNTS = """
INSERT INTO accounts (account_id, created_at, full_name, date_of_birth, label,
                      seen_at)
SELECT account_id, min(created_at), full_name, date_of_birth, label,
       max(seen_at)
FROM s_accounts WHERE true GROUP BY account_id
ON CONFLICT (account_id) DO UPDATE SET
    created_at = min(accounts.created_at, excluded.created_at),
    full_name = CASE WHEN excluded.seen_at >= accounts.seen_at
                     THEN excluded.full_name ELSE accounts.full_name END,
    date_of_birth = CASE WHEN excluded.seen_at >= accounts.seen_at
                     THEN excluded.date_of_birth ELSE accounts.date_of_birth END,
    label = coalesce(CASE WHEN excluded.seen_at >= accounts.seen_at
                     THEN excluded.label END, accounts.label, excluded.label),
    seen_at = max(accounts.seen_at, excluded.seen_at)
"""
_MERGE_IDENTS = """
INSERT INTO identifiers (kind, key, display, valid, extra)
SELECT kind, key, min(display), min(valid), min(extra)
FROM s_idents WHERE true GROUP BY kind, key
ON CONFLICT (kind, key) DO NOTHING
"""
_MERGE_LINKS = """
INSERT INTO links (account, ident, first_seen, last_seen)
SELECT a.id, i.id, min(s.seen_at), max(s.seen_at)
FROM s_links s
JOIN accounts a ON a.account_id = s.account_id
JOIN identifiers i ON i.kind = s.kind AND i.key = s.key
WHERE true GROUP BY a.id, i.id
ON CONFLICT (account, ident) DO UPDATE SET
    first_seen = min(links.first_seen, excluded.first_seen),
    last_seen = max(links.last_seen, excluded.last_seen)
"""
_UPSERT_PRODUCT = """
INSERT INTO products (account_id, pkey, product, term_months, amount, balance,
                      credit_limit)
VALUES (?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (account_id, pkey) DO UPDATE SET
    balance = excluded.balance, credit_limit = excluded.credit_limit
"""


def product_key(p: ProductRow) -> str:
    """The key of a product within its account: product, term, amount and
    the tie-breaking loan id (the same key in every store)."""
    _, product, term_months, amount, _, _, loan_id = p
    term = "" if term_months is None else str(term_months)
    money = "" if amount is None else f"{amount:.2f}"
    key = f"{product}|{term}|{money}"
    return f"{key}|{loan_id}" if loan_id else key


def _product_key(p: Product) -> str:
    return product_key(product_row(p))


class _EmbeddedWriter(RowWriter):
    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn

    def write_rows(
        self, rows: Sequence[AccountRow], products: Sequence[ProductRow]
    ) -> None:
        conn = self._conn
        conn.executemany(
            "INSERT INTO s_accounts VALUES (?, ?, ?, ?, ?, ?)",
            ((aid, created, name, dob, label, seen)
             for aid, created, seen, name, dob, label, _ in rows),
        )
        conn.executemany(
            "INSERT INTO s_idents VALUES (?, ?, ?, ?, ?)",
            (ident for row in rows for ident in row[6]),
        )
        conn.executemany(
            "INSERT INTO s_links VALUES (?, ?, ?, ?)",
            ((row[0], kind, key, row[2])
             for row in rows for kind, key, *_ in row[6]),
        )
        conn.execute(_MERGE_ACCOUNTS)
        conn.execute(_MERGE_IDENTS)
        conn.execute(_MERGE_LINKS)
        conn.executemany(
            _UPSERT_PRODUCT,
            ((p[0], product_key(p), *p[1:6]) for p in products),
        )
        conn.execute("DELETE FROM s_accounts")
        conn.execute("DELETE FROM s_idents")
        conn.execute("DELETE FROM s_links")
        logger.debug("embedded store: merged batch of %d rows", len(rows))


class EmbeddedStore(GraphStore):
    """Graph store in a local directory (``<path>/graph.sqlite``).

    Args:
        path: Directory of the store; created when missing.
        readonly: Open for queries only; fails when the store does not exist.

    Raises:
        StoreError: The directory cannot be created or the database is not a
            ringfence store.
    """

    name = "embedded"

    def __init__(self, path: str | Path, *, readonly: bool = False) -> None:
        self.path = Path(path)
        db = self.path / _DB_NAME
        try:
            if readonly:
                if not db.exists():
                    raise StoreError(
                        f"no ringfence store at {self.path}: run `ringfence load "
                        f"--store {self.path} FILE` first"
                    )
                uri = f"file:{db}?mode=ro"
                self._conn = sqlite3.connect(uri, uri=True, timeout=30)
            else:
                self.path.mkdir(parents=True, exist_ok=True)
                self._conn = sqlite3.connect(db, timeout=30)
            self._conn.isolation_level = None  # explicit transactions only
            self._conn.execute("PRAGMA busy_timeout = 30000")
            if not readonly:
                self._conn.execute("PRAGMA journal_mode = WAL")
                self._conn.execute("PRAGMA synchronous = NORMAL")
                self._conn.executescript(_SCHEMA)
                self._conn.execute(
                    "INSERT OR IGNORE INTO meta VALUES ('schema_version', ?)",
                    (_SCHEMA_VERSION,),
                )
            self._conn.execute("PRAGMA temp_store = MEMORY")
            self._conn.execute("PRAGMA cache_size = -262144")
        except sqlite3.DatabaseError as exc:
            raise StoreError(
                f"cannot open the embedded store at {self.path}: {exc} "
                "(is this a ringfence store directory?)"
            ) from exc

    # -- writing ---------------------------------------------------------

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        conn = self._conn
        try:
            conn.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as exc:
            raise StoreError(
                f"the embedded store at {self.path} is locked by another writer: "
                f"{exc}; retry when the other job has finished",
                retryable=True,
            ) from exc
        try:
            yield conn
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        else:
            conn.execute("COMMIT")

    @contextmanager
    def load(self) -> Iterator[LoadWriter]:
        with self._transaction() as conn:
            for stmt in _STAGING.split(";"):
                if stmt.strip():
                    conn.execute(stmt)
            yield _EmbeddedWriter(conn)

    def write_results(self, result: DetectionResult) -> None:
        with self._transaction() as conn:
            conn.execute(
                "INSERT OR REPLACE INTO runs (run_id, generated_at, params, "
                "metrics, hubs) VALUES (?, ?, ?, ?, ?)",
                (
                    result.run_id,
                    result.generated_at,
                    json.dumps(result.params, sort_keys=True),
                    json.dumps(result.metrics, sort_keys=True),
                    json.dumps([asdict(h) for h in result.hubs]),
                ),
            )
            conn.execute("DELETE FROM rings WHERE run_id = ?", (result.run_id,))
            conn.executemany(
                "INSERT INTO rings VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    (result.run_id, r.ring_id, len(r.members), r.score,
                     r.exposure, r.status, json.dumps(r.evidence, sort_keys=True),
                     json.dumps(r.members))
                    for r in result.rings
                ),
            )
            conn.execute("DELETE FROM decisions")
            conn.executemany(
                "INSERT INTO decisions VALUES (?, ?, ?, ?, ?, ?)",
                (
                    (d.account_id, result.run_id, d.decision, d.score, d.ring_id,
                     json.dumps(d.reasons))
                    for d in result.decisions
                ),
            )
            conn.execute(
                "INSERT OR REPLACE INTO meta VALUES ('latest_run', ?)",
                (result.run_id,),
            )

    # -- reading -----------------------------------------------------------

    def _frame(self, sql: str, params: Sequence[Any] = ()) -> pd.DataFrame:
        cur = self._conn.execute(sql, tuple(params))
        cols = [c[0] for c in cur.description]
        return pd.DataFrame(cur.fetchall(), columns=cols)

    def snapshot(self) -> GraphSnapshot:
        # One read transaction, so the four tables agree with each other
        # even while a load is being written.
        conn = self._conn
        conn.execute("BEGIN")
        try:
            acc = self._frame(
                "SELECT id, account_id, created_at, full_name, date_of_birth, "
                "label FROM accounts ORDER BY account_id"
            )
            idn = self._frame(
                "SELECT id, kind, key, display, valid, extra FROM identifiers "
                "ORDER BY kind, key"
            )
            cur = conn.execute("SELECT account, ident, first_seen, last_seen "
                               "FROM links")
            raw = np.array(cur.fetchall(), dtype=np.int64).reshape(-1, 4)
            products = self._frame(
                f"SELECT {', '.join(PRODUCT_COLUMNS)} FROM products "
                "ORDER BY account_id, pkey"
            )
        finally:
            conn.execute("COMMIT")

        acc_pos = _positions(acc["id"].to_numpy(np.int64))
        idn_pos = _positions(idn["id"].to_numpy(np.int64))
        links = pd.DataFrame(
            {
                "account_idx": acc_pos[raw[:, 0]] if len(raw) else raw[:, 0],
                "ident_idx": idn_pos[raw[:, 1]] if len(raw) else raw[:, 1],
                "first_seen": raw[:, 2],
                "last_seen": raw[:, 3],
            }
        )
        links = links.sort_values(["account_idx", "ident_idx"], kind="stable")
        idn["valid"] = idn["valid"].astype(bool)
        return GraphSnapshot(
            accounts=acc.drop(columns="id").reset_index(drop=True),
            identifiers=idn.drop(columns="id").reset_index(drop=True),
            links=links.reset_index(drop=True),
            products=products,
        )

    def counts(self) -> dict[str, int]:
        out = {}
        for table in ("accounts", "identifiers", "links", "products"):
            (n,) = self._conn.execute(f"SELECT count(*) FROM {table}").fetchone()
            out[table] = int(n)
        return out

    def accounts(self, account_ids: Sequence[str]) -> pd.DataFrame:
        rows = []
        for chunk in _chunks(list(account_ids)):
            marks = ",".join("?" * len(chunk))
            rows.append(
                self._frame(
                    "SELECT a.account_id, a.created_at, a.full_name, "
                    "a.date_of_birth, a.label, d.decision, d.score, d.ring_id, "
                    "d.reasons FROM accounts a LEFT JOIN decisions d "
                    f"ON d.account_id = a.account_id WHERE a.account_id IN ({marks})",
                    chunk,
                )
            )
        out = _concat(rows, ACCOUNT_COLUMNS)
        # Accounts never scored have no decision row: their reasons are null.
        out["reasons"] = [
            json.loads(r) if isinstance(r, str) and r else [] for r in out["reasons"]
        ]
        return out.sort_values("account_id").reset_index(drop=True)

    def links(self, account_ids: Sequence[str]) -> pd.DataFrame:
        rows = []
        for chunk in _chunks(list(account_ids)):
            marks = ",".join("?" * len(chunk))
            rows.append(
                self._frame(
                    "SELECT a.account_id, i.kind, i.key, i.display, i.valid, "
                    "i.extra, l.first_seen, l.last_seen FROM accounts a "
                    "JOIN links l ON l.account = a.id "
                    "JOIN identifiers i ON i.id = l.ident "
                    f"WHERE a.account_id IN ({marks})",
                    chunk,
                )
            )
        out = _concat(rows, LINK_COLUMNS)
        out["valid"] = out["valid"].astype(bool)
        return out.sort_values(["account_id", "kind", "key"]).reset_index(drop=True)

    def sharers(
        self, idents: Sequence[tuple[str, str]], limit: int = 1000
    ) -> pd.DataFrame:
        rows: list[tuple[str, str, str, int]] = []
        for kind, key in dict.fromkeys(idents):
            found = self._conn.execute(
                "SELECT id FROM identifiers WHERE kind = ? AND key = ?", (kind, key)
            ).fetchone()
            if found is None:
                continue
            (degree,) = self._conn.execute(
                "SELECT count(*) FROM links WHERE ident = ?", (found[0],)
            ).fetchone()
            for (account_id,) in self._conn.execute(
                "SELECT a.account_id FROM links l JOIN accounts a ON a.id = l.account "
                "WHERE l.ident = ? ORDER BY a.account_id LIMIT ?",
                (found[0], limit),
            ):
                rows.append((kind, key, account_id, int(degree)))
        return pd.DataFrame(rows, columns=["kind", "key", "account_id", "degree"])

    def products(self, account_ids: Sequence[str]) -> pd.DataFrame:
        rows = []
        for chunk in _chunks(list(account_ids)):
            marks = ",".join("?" * len(chunk))
            rows.append(
                self._frame(
                    f"SELECT {', '.join(PRODUCT_COLUMNS)} FROM products "
                    f"WHERE account_id IN ({marks}) ORDER BY account_id, pkey",
                    chunk,
                )
            )
        return _concat(rows, PRODUCT_COLUMNS)

    def runs(self, limit: int = 20) -> list[dict[str, Any]]:
        cur = self._conn.execute(
            "SELECT run_id, generated_at, params, metrics, hubs FROM runs "
            "ORDER BY seq DESC LIMIT ?",
            (limit,),
        )
        return [run_record(*row) for row in cur]

    def rings(
        self, run_id: str | None = None, ring_ids: Sequence[str] | None = None
    ) -> pd.DataFrame:
        if run_id is None:
            latest = self._conn.execute(
                "SELECT v FROM meta WHERE k = 'latest_run'"
            ).fetchone()
            if latest is None:
                return pd.DataFrame(columns=RING_COLUMNS)
            run_id = latest[0]
        select = f"SELECT {', '.join(RING_COLUMNS)} FROM rings WHERE run_id = ?"
        if ring_ids is None:
            out = self._frame(f"{select} ORDER BY ring_id", (run_id,))
        else:
            out = _concat([
                self._frame(
                    f"{select} AND ring_id IN ({','.join('?' * len(chunk))})",
                    (run_id, *chunk),
                )
                for chunk in _chunks(list(ring_ids))
            ], RING_COLUMNS)
            out = out.sort_values("ring_id").reset_index(drop=True)
        out["evidence"] = [json.loads(e) for e in out["evidence"]]
        out["members"] = [json.loads(m) for m in out["members"]]
        return out

    def decisions(self, flagged_only: bool = True) -> pd.DataFrame:
        where = "WHERE decision IN ('decline', 'review')" if flagged_only else ""
        out = self._frame(
            f"SELECT {', '.join(DECISION_COLUMNS)} FROM decisions {where} "
            "ORDER BY account_id"
        )
        out["reasons"] = [json.loads(r) for r in out["reasons"]]
        return out

    def iter_account_ids(self) -> Iterator[str]:
        for (account_id,) in self._conn.execute(
            "SELECT account_id FROM accounts ORDER BY account_id"
        ):
            yield account_id

    def get_setting(self, name: str) -> str | None:
        row = self._conn.execute(
            "SELECT v FROM meta WHERE k = ?", (f"setting:{name}",)
        ).fetchone()
        return None if row is None else str(row[0])

    def set_setting(self, name: str, value: str) -> None:
        # Inside an open load this joins its transaction; otherwise it
        # commits at once (the connection runs in autocommit mode).
        self._conn.execute(
            "INSERT OR REPLACE INTO meta VALUES (?, ?)", (f"setting:{name}", value)
        )

    def close(self) -> None:
        self._conn.close()


def _positions(ids: np.ndarray) -> np.ndarray:
    """Map database row ids to their positions in ``ids``."""
    size = int(ids.max()) + 1 if len(ids) else 1
    pos = np.full(size, -1, dtype=np.int64)
    pos[ids] = np.arange(len(ids), dtype=np.int64)
    return pos


def _chunks(items: list[str], size: int = 900) -> Iterator[list[str]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _concat(frames: list[pd.DataFrame], columns: list[str]) -> pd.DataFrame:
    frames = [f for f in frames if len(f)]
    if not frames:
        return pd.DataFrame(columns=columns)
    return pd.concat(frames, ignore_index=True)[columns]
