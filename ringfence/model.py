"""Plain data types shared by loaders, stores, detectors and the CLI.

Identifiers are the nodes that link accounts. Each has a *kind* (phone,
email, ...) and a *tier*: hard identifiers (national id, phone, email, bank
account) belong to one person, so sharing one is strong evidence; soft ones
(device, IP, address, employer) are legitimately shared by households,
offices and public places.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Literal

__all__ = [
    "BUILTIN_KINDS",
    "DECISIONS",
    "AccountDecision",
    "AccountRecord",
    "AccountRow",
    "DetectionResult",
    "Hub",
    "Identifier",
    "IdentifierRow",
    "IgnoredValue",
    "Product",
    "ProductRow",
    "Ring",
    "Tier",
    "account_record",
    "account_row",
    "product_row",
    "kind_label",
    "product_exposure",
]

Tier = Literal["hard", "soft"]

#: Identifier kinds every deployment has, with their tier and input column.
BUILTIN_KINDS: dict[str, Tier] = {
    "national_id": "hard",
    "phone": "hard",
    "email": "hard",
    "device": "soft",
    "ip": "soft",
    "address": "soft",
}

#: Decisions handed to the lending gate, most severe first.
DECISIONS = ("decline", "review", "allow")

_KIND_RE = re.compile(r"^[a-z][a-z0-9_]{0,39}$")

_BUILTIN_LABELS = {
    "national_id": "NationalId",
    "phone": "Phone",
    "email": "Email",
    "device": "Device",
    "ip": "IP",
    "address": "Address",
}


def kind_label(kind: str) -> str:
    """Return the graph label of an identifier kind.

    ``bank_account`` becomes ``BankAccount``; built-in kinds have fixed
    labels (``ip`` is ``IP``).

    Raises:
        ValueError: If ``kind`` is not lower-case letters, digits and underscores.
    """
    if kind in _BUILTIN_LABELS:
        return _BUILTIN_LABELS[kind]
    if not _KIND_RE.match(kind):
        raise ValueError(
            f"identifier kind {kind!r} must match {_KIND_RE.pattern} "
            "(lower-case letters, digits and underscores)"
        )
    return "".join(part.capitalize() for part in kind.split("_") if part)


@dataclass(frozen=True, slots=True)
class Identifier:
    """One normalised identifier value attached to an account.

    Attributes:
        kind: Identifier kind, e.g. ``"phone"``.
        key: The linking key: two accounts with equal ``(kind, key)`` share it.
            For national ids this is a keyed hash, never the clear value.
        display: What investigators see. For national ids only the last four
            characters, e.g. ``"*****1290"``.
        valid: False when the value parsed but failed a validity check (bad
            checksum, impossible phone). Invalid values still link.
        extra: Kind-specific detail; for addresses the building key.
    """

    kind: str
    key: str
    display: str
    valid: bool = True
    extra: str = ""


@dataclass(frozen=True, slots=True)
class IgnoredValue:
    """An input value that must never link accounts (placeholder, mangled).

    ``value`` is safe to print: national ids are masked before they get here.
    """

    source: str
    line: int
    column: str
    kind: str
    value: str
    reason: str


@dataclass(slots=True)
class AccountRecord:
    """One accepted input row, normalised.

    Attributes:
        account_id: The lender's account id.
        created_at: Account creation, seconds since the Unix epoch (UTC).
        seen_at: When this row's identifiers were observed (``seen_at``
            column, else ``created_at``); drives first/last seen on links.
        full_name: Name as given (used for name/email agreement features).
        date_of_birth: ISO date or empty.
        label: ``"fraud"``, ``"legit"`` or ``None`` when unknown.
        identifiers: Normalised identifiers of this row.
    """

    account_id: str
    created_at: int
    seen_at: int
    full_name: str = ""
    date_of_birth: str = ""
    label: str | None = None
    identifiers: list[Identifier] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class Product:
    """A credit product held by an account (card, instalment loan...).

    ``loan_id`` tells apart products of one account that look alike (two
    cards, no term, no amount): the input's ``loan_id`` column, else
    ``#2``, ``#3``... for the second, third such row of a load.
    """

    account_id: str
    product: str
    term_months: int | None
    amount: float | None
    balance: float
    credit_limit: float | None
    loan_id: str = ""


#: An :class:`Identifier` as a plain tuple: kind, key, display, valid, extra.
IdentifierRow = tuple[str, str, str, bool, str]
#: An :class:`AccountRecord` as a plain tuple: account_id, created_at,
#: seen_at, full_name, date_of_birth, label, identifiers.
AccountRow = tuple[str, int, int, str, str, str | None, tuple[IdentifierRow, ...]]
#: A :class:`Product` as a plain tuple, its fields in order.
ProductRow = tuple[str, str, int | None, float | None, float, float | None, str]


def account_row(record: AccountRecord) -> AccountRow:
    """The plain-tuple form of a record (cheap to pickle between processes)."""
    return (
        record.account_id, record.created_at, record.seen_at, record.full_name,
        record.date_of_birth, record.label,
        tuple((i.kind, i.key, i.display, i.valid, i.extra)
              for i in record.identifiers),
    )


def product_row(product: Product) -> ProductRow:
    """The plain-tuple form of a product (``Product(*row)`` is its inverse)."""
    return (
        product.account_id, product.product, product.term_months, product.amount,
        product.balance, product.credit_limit, product.loan_id,
    )


def account_record(row: AccountRow) -> AccountRecord:
    """The record of a plain-tuple row (inverse of :func:`account_row`)."""
    account_id, created_at, seen_at, full_name, date_of_birth, label, idents = row
    return AccountRecord(
        account_id, created_at, seen_at, full_name, date_of_birth, label,
        [Identifier(*i) for i in idents],
    )


def product_exposure(balance: float, credit_limit: float | None) -> float:
    """Money at risk on one product: outstanding balance plus unused limit.

    For a revolving product this is its limit (or the balance, if over the
    limit); for an instalment loan with no limit it is the balance.

    Examples:
        >>> product_exposure(1200.0, 6000.0)
        6000.0
        >>> product_exposure(8120.4, None)
        8120.4
    """
    if credit_limit is None or credit_limit != credit_limit:  # None or NaN
        return float(balance)
    return float(balance) + max(float(credit_limit) - float(balance), 0.0)


@dataclass(slots=True)
class Hub:
    """An identifier excluded from linking, and why."""

    kind: str
    key: str
    display: str
    degree: int
    reason: str


@dataclass(slots=True)
class Ring:
    """A group of accounts the detectors consider one fraud ring.

    Attributes:
        ring_id: Stable id (``R-`` + digest of the sorted members, or the id
            inherited from the previous run's matching ring).
        members: Account ids, sorted.
        score: Ring score in [0, 1].
        exposure: Sum of the members' product exposures.
        evidence: JSON-serialisable evidence (shared identifiers, counts,
            bursts, invalid ids, known fraud, exposure by identifier).
        status: Lineage against the previous run: ``new``, ``same``,
            ``grown``, ``shrunk``, ``merged`` or ``split``.
    """

    ring_id: str
    members: list[str]
    score: float
    exposure: float
    evidence: dict[str, Any]
    status: str = "new"


@dataclass(slots=True)
class AccountDecision:
    """The verdict on one account handed to the lending gate."""

    account_id: str
    decision: str
    score: float
    ring_id: str | None
    reasons: list[str]


@dataclass(slots=True)
class DetectionResult:
    """Everything one detection run produces."""

    run_id: str
    generated_at: str
    params: dict[str, Any]
    rings: list[Ring]
    decisions: list[AccountDecision]
    hubs: list[Hub]
    metrics: dict[str, Any] = field(default_factory=dict)
