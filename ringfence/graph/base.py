"""The graph store interface, implemented by the embedded store and Neo4j.

A store holds accounts, identifiers, the links between them, the accounts'
credit products, and the results of detection runs. It is deliberately
small: loaders write batches, detectors read one snapshot and write one
result, and investigator queries are built in :mod:`ringfence.queries` on
top of a handful of read primitives, so that both stores answer alike.
"""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any, Protocol

import pandas as pd

from ringfence.model import (
    AccountRecord,
    AccountRow,
    DetectionResult,
    Product,
    ProductRow,
    account_record,
    account_row,
    product_row,
)

__all__ = [
    "GraphSnapshot",
    "GraphStore",
    "LoadTarget",
    "LoadWriter",
    "RowWriter",
    "ACCOUNT_COLUMNS",
    "DECISION_COLUMNS",
    "LINK_COLUMNS",
    "PRODUCT_COLUMNS",
    "RING_COLUMNS",
    "run_record",
]

#: Columns of :meth:`GraphStore.accounts` (joined with the latest decision).
ACCOUNT_COLUMNS = [
    "account_id", "created_at", "full_name", "date_of_birth", "label",
    "decision", "score", "ring_id", "reasons",
]
#: Columns of :meth:`GraphStore.links`.
LINK_COLUMNS = [
    "account_id", "kind", "key", "display", "valid", "extra",
    "first_seen", "last_seen",
]
#: Columns of :meth:`GraphStore.products`.
PRODUCT_COLUMNS = [
    "account_id", "product", "term_months", "amount", "balance", "credit_limit",
]
#: Columns of :meth:`GraphStore.decisions`.
DECISION_COLUMNS = [
    "account_id", "decision", "score", "ring_id", "reasons", "run_id",
]
#: Columns of :meth:`GraphStore.rings`.
RING_COLUMNS = [
    "ring_id", "run_id", "size", "score", "exposure", "status", "evidence",
    "members",
]


def run_record(
    run_id: str, generated_at: str, params: str, metrics: str, hubs: str
) -> dict[str, Any]:
    """One entry of :meth:`GraphStore.runs` from its stored JSON columns."""
    return {
        "run_id": run_id,
        "generated_at": generated_at,
        "params": json.loads(params),
        "metrics": json.loads(metrics),
        "hubs": json.loads(hubs),
    }


@dataclass(slots=True)
class GraphSnapshot:
    """A columnar copy of the whole graph, as detectors need it.

    Attributes:
        accounts: One row per account: ``account_id``, ``created_at`` (epoch
            seconds), ``full_name``, ``date_of_birth``, ``label``. Row order
            defines account indices.
        identifiers: One row per identifier: ``kind``, ``key``, ``display``,
            ``valid``, ``extra``. Row order defines identifier indices.
        links: ``account_idx``, ``ident_idx`` (int64 positions into the two
            frames above), ``first_seen``, ``last_seen``.
        products: Rows with :data:`PRODUCT_COLUMNS`.

    Accounts are sorted by ``account_id`` and identifiers by
    ``(kind, key)`` so that a snapshot of the same graph is identical on
    every store.
    """

    accounts: pd.DataFrame
    identifiers: pd.DataFrame
    links: pd.DataFrame
    products: pd.DataFrame


class LoadWriter(ABC):
    """Receives the batches of one load."""

    @abstractmethod
    def write(
        self, records: Sequence[AccountRecord], products: Sequence[Product]
    ) -> None:
        """Upsert one batch.

        Accounts are merged on ``account_id`` (earliest ``created_at`` wins,
        other attributes from the newest row), identifiers on
        ``(kind, key)``, links on ``(account, kind, key)`` with
        ``first_seen = min`` and ``last_seen = max`` of the rows' ``seen_at``.
        Products replace the account's products of the same load (same
        ``(account_id, product, term_months, amount)`` is one product).
        Writing the same batch twice leaves the store unchanged.
        """

    def write_rows(
        self, rows: Sequence[AccountRow], products: Sequence[ProductRow]
    ) -> None:
        """Upsert one batch given as plain tuples, exactly as :meth:`write`.

        The loader hands batches over in this form: tuples cross process
        boundaries far more cheaply than dataclasses. This default builds the
        records; a writer that stores tuples anyway overrides it.
        """
        self.write([account_record(r) for r in rows],
                   [Product(*p) for p in products])


class RowWriter(LoadWriter):
    """A writer that stores plain tuples: :meth:`write` turns records into
    rows and hands them to :meth:`write_rows`."""

    def write(
        self, records: Sequence[AccountRecord], products: Sequence[Product]
    ) -> None:
        self.write_rows([account_row(r) for r in records],
                        [product_row(p) for p in products])

    @abstractmethod
    def write_rows(
        self, rows: Sequence[AccountRow], products: Sequence[ProductRow]
    ) -> None:
        """Upsert one batch of plain tuples (see :meth:`LoadWriter.write`)."""


class LoadTarget(Protocol):
    """What a load needs of its target: every store, and the bulk import's
    CSV spool."""

    def load(self) -> AbstractContextManager[LoadWriter]:
        """Open a load (see :meth:`GraphStore.load`)."""
        ...

    def get_setting(self, name: str) -> str | None:
        """A setting kept with the graph, or None."""
        ...

    def set_setting(self, name: str, value: str) -> None:
        """Keep a setting with the graph."""
        ...


class GraphStore(ABC):
    """Persistent account–identifier graph plus detection results."""

    #: ``"embedded"`` or ``"neo4j"``.
    name: str = ""

    # -- writing ---------------------------------------------------------

    @abstractmethod
    def load(self) -> AbstractContextManager[LoadWriter]:
        """Open a load. Leaving the block normally commits it.

        On the embedded store the whole load is one transaction: an error or
        a crash leaves the previous committed state. On Neo4j each batch is
        its own idempotent transaction, so re-running a failed load converges
        to the same graph as one clean load.
        """

    @abstractmethod
    def write_results(self, result: DetectionResult) -> None:
        """Store a detection run: rings, memberships, decisions and hubs.

        The run becomes the latest run only once all of it is written.
        """

    # -- reading: whole graph ------------------------------------------

    @abstractmethod
    def snapshot(self) -> GraphSnapshot:
        """Return the whole graph in columnar form (see :class:`GraphSnapshot`)."""

    @abstractmethod
    def counts(self) -> dict[str, int]:
        """Return ``accounts``, ``identifiers``, ``links``, ``products`` counts."""

    # -- reading: investigator primitives --------------------------------

    @abstractmethod
    def accounts(self, account_ids: Sequence[str]) -> pd.DataFrame:
        """Rows of :data:`ACCOUNT_COLUMNS` for the ids that exist.

        Decision columns come from the latest run (null when never scored).
        """

    @abstractmethod
    def links(self, account_ids: Sequence[str]) -> pd.DataFrame:
        """Rows of :data:`LINK_COLUMNS`: every identifier of these accounts."""

    @abstractmethod
    def sharers(
        self, idents: Sequence[tuple[str, str]], limit: int = 1000
    ) -> pd.DataFrame:
        """Accounts holding each ``(kind, key)``: columns ``kind``, ``key``,
        ``account_id``, ``degree`` (total holders). At most ``limit`` accounts
        are returned per identifier; ``degree`` is always exact.
        """

    @abstractmethod
    def products(self, account_ids: Sequence[str]) -> pd.DataFrame:
        """Rows of :data:`PRODUCT_COLUMNS` for these accounts."""

    @abstractmethod
    def runs(self, limit: int = 20) -> list[dict[str, Any]]:
        """Detection runs, newest first: ``run_id``, ``generated_at``,
        ``params``, ``metrics``, ``hubs`` (list of dicts)."""

    @abstractmethod
    def rings(
        self, run_id: str | None = None, ring_ids: Sequence[str] | None = None
    ) -> pd.DataFrame:
        """Rings of a run (default: the latest) with :data:`RING_COLUMNS`,
        sorted by ``ring_id``; only those in ``ring_ids`` when given.

        ``evidence`` is a dict and ``members`` a sorted list of account ids.
        """

    @abstractmethod
    def decisions(self, flagged_only: bool = True) -> pd.DataFrame:
        """Decisions of the latest run with :data:`DECISION_COLUMNS`, sorted by
        ``account_id``; only ``decline`` and ``review`` when ``flagged_only``.
        ``reasons`` is a list of strings."""

    @abstractmethod
    def get_setting(self, name: str) -> str | None:
        """A value the store keeps about itself (e.g. the national-id key's
        fingerprint), or ``None``."""

    @abstractmethod
    def set_setting(self, name: str, value: str) -> None:
        """Keep ``value`` under ``name`` (replacing any earlier value)."""

    @abstractmethod
    def close(self) -> None:
        """Release connections and files."""

    def __enter__(self) -> GraphStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def iter_account_ids(self) -> Iterator[str]:
        """All account ids, sorted (default: from a snapshot)."""
        yield from self.snapshot().accounts["account_id"]
