"""Investigator queries, built on the store's read primitives.

Both stores answer these alike because the logic lives here, once; a store
only supplies rows. Every function returns plain JSON-ready data.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from ringfence.errors import InputError
from ringfence.graph.base import GraphStore
from ringfence.model import product_exposure

__all__ = ["account_view", "list_rings", "ring_view"]


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    out = frame.astype(object).where(frame.notna(), None).to_dict("records")
    return [{str(k): v for k, v in row.items()} for row in out]


def account_view(
    store: GraphStore, account_id: str, *, sharer_limit: int = 50
) -> dict[str, Any]:
    """Everything about one account an investigator asks first.

    Returns:
        ``account`` (attributes and decision), ``identifiers`` (each with
        the other accounts holding it and its total degree), ``ring``,
        ``products`` and ``exposure``.

    Raises:
        InputError: No such account.
    """
    acc = store.accounts([account_id])
    if not len(acc):
        raise InputError(f"no account {account_id!r} in the store")
    row = _records(acc)[0]
    links = store.links([account_id])
    sharers = store.sharers(
        list(zip(links["kind"], links["key"], strict=True)), limit=sharer_limit + 1
    )
    identifiers = []
    for link in _records(links):
        same = (sharers["kind"] == link["kind"]) & (sharers["key"] == link["key"])
        held = sharers[same]
        others = [a for a in held["account_id"] if a != account_id][:sharer_limit]
        degree = int(held["degree"].iat[0]) if len(held) else 1
        identifiers.append({
            "kind": link["kind"],
            "display": link["display"],
            "valid": bool(link["valid"]),
            "first_seen": link["first_seen"],
            "last_seen": link["last_seen"],
            "accounts": degree,
            "shared_with": others,
        })
    products = _records(store.products([account_id]))
    exposure = sum(
        product_exposure(p["balance"], p["credit_limit"]) for p in products
    )
    ring = None
    if row.get("ring_id"):
        hit = store.rings(ring_ids=[row["ring_id"]])
        if len(hit):
            r = _records(hit)[0]
            ring = {k: r[k] for k in ("ring_id", "size", "score", "exposure", "status")}
    return {
        "account": row,
        "identifiers": identifiers,
        "linked_accounts": sorted({a for i in identifiers for a in i["shared_with"]}),
        "ring": ring,
        "products": products,
        "exposure": round(exposure, 2),
    }


def ring_view(
    store: GraphStore, ring_id: str, run_id: str | None = None
) -> dict[str, Any]:
    """A ring with its evidence and its members' decisions.

    Raises:
        InputError: No such ring in the run.
    """
    hit = store.rings(run_id, ring_ids=[ring_id])
    if not len(hit):
        raise InputError(
            f"no ring {ring_id!r} in {'run ' + run_id if run_id else 'the latest run'}"
            "; list rings with `ringfence rings`"
        )
    ring = _records(hit)[0]
    members = _records(store.accounts(ring["members"]))
    ring["member_decisions"] = [
        {k: m[k] for k in ("account_id", "created_at", "label", "decision", "score")}
        for m in members
    ]
    return ring


def list_rings(
    store: GraphStore,
    *,
    run_id: str | None = None,
    min_size: int = 0,
    min_score: float = 0.0,
    status: str | None = None,
    sort: str = "score",
    limit: int | None = None,
    changed_since: str | None = None,
) -> list[dict[str, Any]]:
    """Rings of a run, filtered and sorted (``score``, ``size``, ``exposure``).

    Args:
        changed_since: Keep only rings that are new or changed since this
            run: no ring of that run has the same id and the same members.

    Raises:
        InputError: ``changed_since`` names no run in the store.
    """
    rings = store.rings(run_id)
    if changed_since is not None:
        before = store.rings(changed_since)
        # A run with no rings is still a run; only then list the runs.
        if not len(before) and changed_since not in {
            str(r["run_id"]) for r in store.runs(limit=100_000)
        }:
            raise InputError(
                f"no run {changed_since!r} in the store; run ids are printed by "
                "`ringfence detect` and shown as run_id by `ringfence rings --json`"
            )
        unchanged = {
            (str(rid), tuple(members))
            for rid, members in zip(before["ring_id"], before["members"], strict=True)
        }
        if len(rings):
            keep = [
                (str(rid), tuple(members)) not in unchanged
                for rid, members in zip(rings["ring_id"], rings["members"], strict=True)
            ]
            rings = rings[keep]
    if len(rings):
        rings = rings[(rings["size"] >= min_size) & (rings["score"] >= min_score)]
        if status:
            rings = rings[rings["status"] == status]
        rings = rings.sort_values([sort, "ring_id"], ascending=[False, True])
    rows = _records(rings.drop(columns=["evidence"]) if len(rings) else rings)
    return rows[:limit] if limit else rows
