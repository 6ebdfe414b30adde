"""Investigator queries across accounts: who shares a value, paths, contacts.

Like :mod:`ringfence.queries`, everything here is built on the store's read
primitives (``accounts``, ``links``, ``sharers``), so the embedded store and
Neo4j answer alike, and every function returns plain JSON-ready data.
Identifier values are shown by their stored display, which for national ids
is masked; the clear national id is never returned.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd

from ringfence.config import Config
from ringfence.errors import InputError
from ringfence.graph.base import GraphStore
from ringfence.identify import IdentifierRules
from ringfence.loaders.normalize import Skip

__all__ = ["contacts", "shortest_path", "who_shares"]

#: Most holders fetched per hub identifier when a path may cross hubs.
HUB_FETCH_LIMIT = 5000

_CONTACT_KINDS = ("phone", "email")
# Rank of the identifier connecting a contact's holder to the account: one
# national id is the strongest sign of one person, then other hard kinds,
# then a device.
_VIA_RANK = {"national_id": 0}


def _iso(epoch: Any) -> str | None:
    if epoch is None or epoch != epoch:
        return None
    return dt.datetime.fromtimestamp(int(epoch), dt.UTC).isoformat(timespec="seconds")


def _one_account(store: GraphStore, account_id: str) -> None:
    if not len(store.accounts([account_id])):
        raise InputError(f"no account {account_id!r} in the store")


# -- who-shares ------------------------------------------------------------


def who_shares(
    store: GraphStore,
    config: Config,
    kind: str,
    value: str,
    *,
    limit: int = 200,
) -> dict[str, Any]:
    """Accounts holding one identifier value, normalised as at load.

    Args:
        store: The store.
        config: Settings (region, national-id key, hub caps, allow-list).
        kind: Identifier kind or input column name (``device_id``).
        value: The value as an investigator writes it; any layout the
            loader accepts (``541.726.3310`` finds ``(541) 726-3310``).
        limit: Most accounts listed; ``degree`` is always the full count.

    Returns:
        ``kind``, ``display`` (masked for national ids), ``valid``,
        ``degree``, ``cap``, ``hub`` and ``hub_reason``, ``truncated`` and
        ``accounts`` (each with decision, score, ring and first/last seen).

    Raises:
        InputError: Unknown kind, or a value that never links (blank,
            placeholder, mangled).
    """
    rules = IdentifierRules(config, store)
    resolved = rules.kind_of(kind)
    if resolved is None:
        raise InputError(
            f"unknown identifier kind {kind!r}; use one of "
            f"{', '.join(rules.known_kinds())}"
        )
    ident = rules.normalise(resolved, value)
    if isinstance(ident, Skip):
        raise InputError(
            f"the {resolved} value given is a {ident.reason} ({ident.detail}); "
            "such values are never loaded and link no accounts"
        )
    held = store.sharers([(resolved, ident.key)], limit=limit)
    degree = int(held["degree"].tolist()[0]) if len(held) else 0
    ids = held["account_id"].astype(str).tolist()
    accounts = store.accounts(ids).set_index("account_id") if ids else None
    links = store.links(ids) if ids else pd.DataFrame()
    if len(links):
        links = links[(links["kind"] == resolved) & (links["key"] == ident.key)]
        links = links.set_index("account_id")
    rows = []
    for account_id in ids:
        acc = accounts.loc[account_id] if accounts is not None else None
        link = links.loc[account_id] if account_id in links.index else None
        rows.append({
            "account_id": account_id,
            "created_at": _iso(acc["created_at"]) if acc is not None else None,
            "decision": _plain(acc["decision"]) if acc is not None else None,
            "score": _plain(acc["score"]) if acc is not None else None,
            "ring_id": _plain(acc["ring_id"]) if acc is not None else None,
            "first_seen": _iso(link["first_seen"]) if link is not None else None,
            "last_seen": _iso(link["last_seen"]) if link is not None else None,
        })
    reason = rules.hub_reason(resolved, ident.key, degree) if degree else None
    return {
        "kind": resolved,
        "display": ident.display,
        "valid": ident.valid,
        "degree": degree,
        "cap": rules.cap(resolved),
        "hub": reason is not None and degree >= 2,
        "hub_reason": reason if degree >= 2 else None,
        "truncated": degree > len(rows),
        "accounts": rows,
    }


def _plain(value: Any) -> Any:
    if value is None or (isinstance(value, float) and value != value):
        return None
    if hasattr(value, "item"):
        return value.item()
    return value


# -- path --------------------------------------------------------------------


@dataclass(slots=True)
class _Step:
    """How an account was reached: from ``parent`` through one identifier."""

    parent: str
    kind: str
    display: str
    depth: int


class _Side:
    """One end of the bidirectional search."""

    def __init__(self, start: str) -> None:
        self.reached: dict[str, _Step | None] = {start: None}
        self.depth_of: dict[str, int] = {start: 0}
        self.frontier: list[str] = [start]
        self.depth = 0
        self.seen_idents: set[tuple[str, str]] = set()


def shortest_path(
    store: GraphStore,
    config: Config,
    source: str,
    target: str,
    *,
    max_hops: int = 4,
    through_hubs: bool = False,
) -> dict[str, Any]:
    """The shortest chain of shared identifiers between two accounts.

    One hop is account -> identifier -> account. The search runs from both
    ends, one whole level at a time, always widening the smaller frontier,
    so it touches far fewer accounts than a one-sided search. Hub
    identifiers (above their kind's cap, or allow-listed) are not crossed
    unless ``through_hubs``; then at most :data:`HUB_FETCH_LIMIT` holders of
    each hub are followed.

    Complexity: one ``links`` and one ``sharers`` call per level, so at most
    ``max_hops`` of each. Deterministic: among equally short chains the one
    through the smallest account ids and identifier keys is returned.

    Returns:
        ``found``, ``hops`` and ``path`` (each hop: ``from``, ``kind``,
        ``display``, ``to``), plus the settings used and ``hubs_skipped``.

    Raises:
        InputError: An account does not exist, or ``max_hops`` < 1.
    """
    if max_hops < 1:
        raise InputError(f"--max-hops must be at least 1, got {max_hops}")
    _one_account(store, source)
    _one_account(store, target)
    rules = IdentifierRules(config)
    out: dict[str, Any] = {
        "source": source, "target": target, "max_hops": max_hops,
        "through_hubs": through_hubs, "found": False, "hops": None, "path": [],
        "hubs_skipped": 0,
    }
    if source == target:
        out.update(found=True, hops=0)
        return out

    a, b = _Side(source), _Side(target)
    skipped: set[tuple[str, str]] = set()
    while a.frontier and b.frontier and a.depth + b.depth < max_hops:
        side, other = (a, b) if len(a.frontier) <= len(b.frontier) else (b, a)
        new = _widen(store, rules, side, through_hubs, skipped)
        meets = sorted(x for x in new if x in other.reached)
        if meets:
            meet = min(meets, key=lambda x: (a.depth_of[x] + b.depth_of[x], x))
            path = _chain(a, meet)[::-1] + _chain(b, meet, forward=False)
            out.update(found=True, hops=len(path), path=path)
            break
    out["hubs_skipped"] = len(skipped)
    return out


def _widen(
    store: GraphStore,
    rules: IdentifierRules,
    side: _Side,
    through_hubs: bool,
    skipped: set[tuple[str, str]],
) -> list[str]:
    """Expand one whole level of ``side``; return the accounts it reached."""
    links = store.links(side.frontier)
    holder: dict[tuple[str, str], tuple[str, str]] = {}
    for account_id, kind, key, display in zip(
        links["account_id"], links["kind"], links["key"], links["display"],
        strict=True,
    ):
        ident = (str(kind), str(key))
        if ident in side.seen_idents or ident in holder:
            continue
        holder[ident] = (str(account_id), str(display))
    side.seen_idents.update(holder)
    limit = HUB_FETCH_LIMIT if through_hubs else max(
        [rules.cap(k) for k, _ in holder] or [1]) + 1
    held = store.sharers(sorted(holder), limit=limit)
    side.depth += 1
    new: dict[str, _Step] = {}
    for (kind, key), rows in held.groupby(["kind", "key"], sort=True):
        degree = int(rows["degree"].tolist()[0])
        if degree < 2:
            continue
        if rules.hub_reason(str(kind), str(key), degree) and not through_hubs:
            skipped.add((str(kind), str(key)))
            continue
        parent, display = holder[(str(kind), str(key))]
        for account_id in sorted(rows["account_id"].astype(str)):
            if account_id in side.reached or account_id in new:
                continue
            new[account_id] = _Step(parent, str(kind), display, side.depth)
    for account_id, step in new.items():
        side.reached[account_id] = step
        side.depth_of[account_id] = step.depth
    side.frontier = sorted(new)
    return side.frontier


def _chain(side: _Side, end: str, *, forward: bool = True) -> list[dict[str, Any]]:
    """Hops from ``end`` back to the side's start, nearest first."""
    hops = []
    node = end
    step = side.reached[node]
    while step is not None:
        if forward:
            hops.append({"from": step.parent, "kind": step.kind,
                         "display": step.display, "to": node})
        else:
            hops.append({"from": node, "kind": step.kind,
                         "display": step.display, "to": step.parent})
        node = step.parent
        step = side.reached[node]
    return hops


# -- contacts ------------------------------------------------------------------


def contacts(
    store: GraphStore,
    config: Config,
    account_id: str,
    *,
    max_hops: int = 1,
    limit: int = 50,
) -> dict[str, Any]:
    """Other phones and emails that may reach the person behind an account.

    Accounts sharing the account's hard identifiers (national id, phone,
    email and declared hard kinds) or a device are likely the same person
    or household; their phones and emails are candidate contacts when the
    account's own phone no longer answers. Hubs never connect (a call-centre
    phone or a public device says nothing about who someone is).

    Contacts are ranked by hop distance, then the strength of the
    connecting identifier (national id, other hard kinds, device), then how
    recently the contact was seen, latest first.

    Args:
        store: The store.
        config: Settings (tiers, hub caps, allow-list).
        account_id: The account.
        max_hops: How many account-to-account hops to follow (1 or more).
        limit: Most contacts returned.

    Returns:
        ``account_id``, ``own`` (the account's phones and emails) and
        ``contacts``: ``kind``, ``display``, ``hop``, ``via_kind``,
        ``via_display``, ``via_account``, ``last_seen``, ``holders`` (how
        many accounts hold it) and ``paths`` (how many connections lead to
        it).

    Raises:
        InputError: No such account, or ``max_hops`` < 1.
    """
    if max_hops < 1:
        raise InputError(f"--max-hops must be at least 1, got {max_hops}")
    _one_account(store, account_id)
    rules = IdentifierRules(config)

    def connects(kind: str) -> bool:
        return rules.tier(kind) == "hard" or kind == "device"

    # 1. accounts reachable through hard identifiers and devices, by hop
    reached: dict[str, tuple[int, str, str, int]] = {account_id: (0, "", "", 0)}
    frontier = [account_id]
    seen: set[tuple[str, str]] = set()
    own_links = store.links([account_id])
    for hop in range(1, max_hops + 1):
        links = own_links if hop == 1 else store.links(frontier)
        if len(links):
            links = links[[connects(str(k)) for k in links["kind"]]]
        display = {}
        for kind, key, disp in zip(links["kind"], links["key"], links["display"],
                                   strict=True):
            ident = (str(kind), str(key))
            if ident not in seen:
                display[ident] = str(disp)
        seen.update(display)
        if not display:
            break
        limit_each = max(rules.cap(k) for k, _ in display) + 1
        held = store.sharers(sorted(display), limit=limit_each)
        found: dict[str, tuple[int, str, str, int]] = {}
        for (kind, key), rows in held.groupby(["kind", "key"], sort=True):
            degree = int(rows["degree"].tolist()[0])
            if degree < 2 or rules.hub_reason(str(kind), str(key), degree):
                continue
            rank = _VIA_RANK.get(str(kind), 1 if rules.tier(str(kind)) == "hard" else 2)
            for other in rows["account_id"].astype(str):
                best = (hop, str(kind), display[(str(kind), str(key))], rank)
                if other in reached:
                    continue
                if other not in found or best[3] < found[other][3]:
                    found[other] = best
        reached.update(found)
        frontier = sorted(found)
        if not frontier:
            break

    # 2. their phones and emails, minus the account's own
    own = {(str(k), str(v)) for k, v in zip(own_links["kind"], own_links["key"],
                                             strict=True)}
    others = [a for a in reached if a != account_id]
    cand = store.links(others) if others else pd.DataFrame(columns=own_links.columns)
    cand = cand[cand["kind"].isin(_CONTACT_KINDS)] if len(cand) else cand
    best_of: dict[tuple[str, str], dict[str, Any]] = {}
    paths: dict[tuple[str, str], int] = {}
    for row in cand.itertuples(index=False):
        ident = (str(row.kind), str(row.key))
        if ident in own:
            continue
        hop, via_kind, via_display, rank = reached[str(row.account_id)]
        entry = {
            "kind": ident[0], "display": str(row.display), "hop": hop,
            "via_kind": via_kind, "via_display": via_display,
            "via_account": str(row.account_id), "last_seen": int(str(row.last_seen)),
            "_rank": rank,
        }
        paths[ident] = paths.get(ident, 0) + 1
        current = best_of.get(ident)
        if current is None or _contact_order(entry) < _contact_order(current):
            best_of[ident] = entry

    # 3. how widely each is held (a widely shared phone is a poor contact)
    holders = _degrees(store, best_of)
    ranked = sorted(best_of.items(), key=lambda item: _contact_order(item[1]))
    listed = []
    for ident, entry in ranked[:limit]:
        entry = {k: v for k, v in entry.items() if k != "_rank"}
        entry["last_seen"] = _iso(entry["last_seen"])
        entry["holders"] = holders.get(ident, 1)
        entry["paths"] = paths[ident]
        listed.append(entry)
    own_rows = own_links[own_links["kind"].isin(_CONTACT_KINDS)]
    return {
        "account_id": account_id,
        "max_hops": max_hops,
        "own": [{"kind": str(k), "display": str(d)}
                for k, d in zip(own_rows["kind"], own_rows["display"], strict=True)],
        "linked_accounts": len(others),
        "contacts": listed,
    }


def _contact_order(entry: dict[str, Any]) -> tuple[Any, ...]:
    return (entry["hop"], entry["_rank"], -entry["last_seen"], entry["kind"],
            entry["display"], entry["via_account"])


def _degrees(
    store: GraphStore, idents: Iterable[tuple[str, str]]
) -> dict[tuple[str, str], int]:
    keys: Sequence[tuple[str, str]] = sorted(idents)
    if not keys:
        return {}
    held = store.sharers(keys, limit=1)
    return {
        (str(k), str(v)): int(d)
        for k, v, d in zip(held["kind"], held["key"], held["degree"], strict=True)
    }
