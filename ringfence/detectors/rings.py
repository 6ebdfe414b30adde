"""Ring scoring, evidence and per-account decisions.

Each group of the link graph is scored from evidence an investigator can
check by hand. The score is a logistic function of:

========================  ======  ============================================
signal                    weight  why
========================  ======  ============================================
surname diversity          2.0    families share phones and addresses under one
                                  surname; synthetic identities do not
creation burst (window)    1.6    share of the other members created within
                                  ``burst_days`` of the densest window
creation burst (30 days)   1.0    the same over 30 days (slower bust-outs)
shared national id         2.5    one id under different names in the group
                                  (1.0), or twice the share of members whose
                                  id was first held by an account opened
                                  ``victim_days`` or more earlier (capped)
same person                2.0    share of members whose date of birth repeats
                                  in the group: one person, many accounts
shared email               1.0    households share phones, rarely an inbox
invalid ids                1.5    share of members with an id failing its
                                  checksum
shared device              1.0    share of members on a device of the group
hard identifiers shared    0.8    distinct hard identifiers shared, up to 3
known fraud members        3.0    share labelled fraud (legit: -2.0)
size                       0.5    log2(size / 2)
pair                      -1.5    two accounts alone are the weakest evidence
bias                      -3.5
========================  ======  ============================================

Groups scoring at least ``review_threshold`` are rings. Members of a ring
scoring at least ``decline_threshold`` are declined, others reviewed.
Everything is deterministic; the score is in [0, 1].
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from ringfence.config import Config
from ringfence.detectors.linking import LinkGraph
from ringfence.graph.base import GraphSnapshot
from ringfence.model import AccountDecision, Ring

__all__ = [
    "RING_WEIGHTS",
    "account_exposure",
    "decide",
    "ring_id_for",
    "score_groups",
]

RING_WEIGHTS: dict[str, float] = {
    "bias": -3.5,
    "surname_diversity": 2.0,
    "burst": 1.6,
    "burst_30d": 1.0,
    "shared_national_id": 2.5,
    "same_person": 2.0,
    "shared_email": 1.0,
    "invalid_ids": 1.5,
    "shared_device": 1.0,
    "hard_shared": 0.8,
    "known_fraud": 3.0,
    "known_legit": -2.0,
    "size": 0.5,
    "pair": -1.5,
}

_KIND_ORDER = {"national_id": 0, "phone": 1, "email": 2, "device": 3,
               "address": 4, "ip": 5}
_DAY = 86_400


def ring_id_for(member_ids: Sequence[str]) -> str:
    """Deterministic ring id from the sorted member account ids."""
    digest = hashlib.sha256("\x1f".join(sorted(member_ids)).encode()).hexdigest()
    return f"R-{digest[:10]}"


def account_exposure(snapshot: GraphSnapshot) -> np.ndarray:
    """Exposure per account (aligned with ``snapshot.accounts``)."""
    out = np.zeros(len(snapshot.accounts))
    products = snapshot.products
    if not len(products):
        return out
    limit = pd.to_numeric(products["credit_limit"], errors="coerce").to_numpy(float)
    balance = pd.to_numeric(products["balance"], errors="coerce").to_numpy(float)
    exposure = np.where(
        np.isnan(limit), balance, balance + np.maximum(limit - balance, 0.0)
    )
    pos = pd.Index(snapshot.accounts["account_id"]).get_indexer(products["account_id"])
    known = pos >= 0
    np.add.at(out, pos[known], np.nan_to_num(exposure[known]))
    return out


def _max_in_window(times: np.ndarray, window: float) -> int:
    t = np.sort(times)
    ends = np.searchsorted(t, t + window, side="right")
    return int((ends - np.arange(len(t))).max()) if len(t) else 0


def _surname(name: str) -> str:
    parts = name.strip().lower().split()
    return parts[-1] if parts else ""


@dataclass(slots=True)
class _Context:
    """Per-snapshot arrays reused by every group."""

    account_ids: np.ndarray
    created: np.ndarray
    names: np.ndarray
    dobs: np.ndarray
    labels: np.ndarray
    exposure: np.ndarray
    kinds: np.ndarray
    displays: np.ndarray
    valid: np.ndarray
    links_by_account: pd.DataFrame
    first_holder: np.ndarray


def _context(snapshot: GraphSnapshot) -> _Context:
    acc = snapshot.accounts
    idn = snapshot.identifiers
    created = acc["created_at"].to_numpy(np.int64)
    a = snapshot.links["account_idx"].to_numpy(np.int64)
    i = snapshot.links["ident_idx"].to_numpy(np.int64)
    first_holder = np.full(len(idn), np.iinfo(np.int64).max, dtype=np.int64)
    np.minimum.at(first_holder, i, created[a])
    return _Context(
        account_ids=acc["account_id"].astype(str).to_numpy(),
        created=created,
        names=acc["full_name"].fillna("").astype(str).to_numpy(),
        dobs=acc["date_of_birth"].fillna("").astype(str).to_numpy(),
        labels=acc["label"].astype(object).where(acc["label"].notna(), "").to_numpy(),
        exposure=account_exposure(snapshot),
        kinds=idn["kind"].astype(str).to_numpy(),
        displays=idn["display"].astype(str).to_numpy(),
        valid=idn["valid"].to_numpy(bool),
        links_by_account=snapshot.links[["account_idx", "ident_idx"]],
        first_holder=first_holder,
    )


def score_groups(
    snapshot: GraphSnapshot, links: LinkGraph, config: Config
) -> list[Ring]:
    """Score every group; return those at or above the review threshold.

    Returns:
        Rings sorted by descending score, then ring id.
    """
    ctx = _context(snapshot)
    det = config.detect
    if not links.groups:
        return []
    group_of = np.full(len(snapshot.accounts), -1, dtype=np.int64)
    for g, members in enumerate(links.groups):
        group_of[members] = g
    lk = ctx.links_by_account
    a = lk["account_idx"].to_numpy(np.int64)
    i = lk["ident_idx"].to_numpy(np.int64)
    in_group = group_of[a] >= 0
    g_of, a, i = group_of[a[in_group]], a[in_group], i[in_group]
    # Sort once by (group, identifier, account); each group is then one
    # contiguous slice, found with searchsorted.
    order = np.lexsort((a, i, g_of))
    g_of, a, i = g_of[order], a[order], i[order]
    bounds = np.searchsorted(g_of, np.arange(len(links.groups) + 1))

    rings: list[Ring] = []
    for g, members in enumerate(links.groups):
        lo, hi = bounds[g], bounds[g + 1]
        ring = _score_one(members, a[lo:hi], i[lo:hi], ctx, links, config)
        if ring.score >= det.review_threshold:
            rings.append(ring)
    rings.sort(key=lambda r: (-r.score, r.ring_id))
    return rings


def _score_one(
    members: np.ndarray,
    g_acc: np.ndarray,
    g_ident: np.ndarray,
    ctx: _Context,
    links: LinkGraph,
    config: Config,
) -> Ring:
    """Score one group from its links ``(g_acc, g_ident)``, sorted by ident."""
    det = config.detect
    n = len(members)
    member_ids = [str(x) for x in ctx.account_ids[members]]

    # Identifiers held by two or more members.
    shared: list[dict[str, Any]] = []
    holders: dict[int, np.ndarray] = {}
    if len(g_ident):
        starts = np.flatnonzero(np.r_[True, g_ident[1:] != g_ident[:-1]])
        ends = np.r_[starts[1:], len(g_ident)]
        for lo, hi in zip(starts[ends - starts >= 2], ends[ends - starts >= 2],
                          strict=True):
            holders[int(g_ident[lo])] = g_acc[lo:hi]
    for ident, accs in holders.items():
        kind = ctx.kinds[ident]
        shared.append({
            "kind": kind,
            "display": ctx.displays[ident],
            "tier": config.tier(kind),
            "members": len(accs),
            "degree": int(links.degree[ident]),
            "hub": bool(links.hub[ident]),
            "valid": bool(ctx.valid[ident]),
            "exposure": round(float(ctx.exposure[accs].sum()), 2),
        })
    shared.sort(key=lambda s: (_KIND_ORDER.get(s["kind"], 9), -s["members"],
                               s["display"]))
    linking = [s for s in shared if not s["hub"]]
    hard = [s for s in linking if s["tier"] == "hard"]
    soft = [s for s in linking if s["tier"] == "soft"]

    # Signals.
    surnames = {_surname(x) for x in ctx.names[members]} - {""}
    diversity = (len(surnames) - 1) / (n - 1) if surnames else 0.0
    created = ctx.created[members]
    burst_n = _max_in_window(created, det.burst_days * _DAY)
    burst30_n = _max_in_window(created, 30 * _DAY)
    member_set = set(members.tolist())
    device_members: set[int] = set()
    nid_shared = False
    nid = ctx.kinds[g_ident] == "national_id"
    invalid_members = set(g_acc[nid & ~ctx.valid[g_ident]].tolist())
    # Members holding a national id first seen on an account opened long
    # before theirs: the id's owner is elsewhere, this is reuse.
    nid_accs = g_acc[nid]
    first = ctx.first_holder[g_ident[nid]]
    reused_outside = len(set(
        nid_accs[first <= ctx.created[nid_accs] - det.victim_days * _DAY].tolist()))
    for ident, accs in holders.items():
        if links.hub[ident]:
            continue
        if ctx.kinds[ident] == "device":
            device_members.update(accs.tolist())
        if ctx.kinds[ident] == "national_id":
            names = {_surname(x) for x in ctx.names[accs]}
            nid_shared = nid_shared or len(names) > 1
    dobs = ctx.dobs[members]
    dobs = dobs[dobs != ""]
    _, dob_counts = np.unique(dobs, return_counts=True)
    dup_dob = int(dob_counts[dob_counts >= 2].sum())
    labels = ctx.labels[members]
    known_fraud = int((labels == "fraud").sum())
    known_legit = int((labels == "legit").sum())

    parts = {
        "bias": 1.0,
        "surname_diversity": diversity,
        "burst": (burst_n - 1) / (n - 1),
        "burst_30d": (burst30_n - 1) / (n - 1),
        "shared_national_id": (
            1.0 if nid_shared else min(1.0, 2.0 * reused_outside / n)
        ),
        "same_person": dup_dob / n,
        "shared_email": 1.0 if any(s["kind"] == "email" for s in hard) else 0.0,
        "invalid_ids": len(invalid_members & member_set) / n,
        "shared_device": len(device_members) / n,
        "hard_shared": min(len(hard), 3) / 3,
        "known_fraud": known_fraud / n,
        "known_legit": known_legit / n,
        "size": math.log2(n / 2),
        "pair": 1.0 if n == 2 else 0.0,
    }
    contributions = {k: RING_WEIGHTS[k] * v for k, v in parts.items()}
    z = sum(contributions.values())
    score = 1.0 / (1.0 + math.exp(-z))
    exposure = round(float(ctx.exposure[members].sum()), 2)
    order = np.argsort(created, kind="stable")
    evidence: dict[str, Any] = {
        "size": n,
        "shared": shared,
        "hard_links": len(hard),
        "soft_links": len(soft),
        "hubs_touched": sum(1 for s in shared if s["hub"]),
        "burst": {
            "window_days": det.burst_days,
            "members": burst_n,
            "first_created": int(created[order[0]]),
            "last_created": int(created[order[-1]]),
        },
        "distinct_surnames": len(surnames),
        "shared_national_id_across_names": nid_shared,
        "invalid_ids": len(invalid_members & member_set),
        "on_shared_device": len(device_members),
        "known_fraud": known_fraud,
        "known_legit": known_legit,
        "national_id_reused_outside": reused_outside,
        "exposure": exposure,
        "score_parts": {k: round(v, 4) for k, v in contributions.items()},
    }
    return Ring(
        ring_id=ring_id_for(member_ids),
        members=sorted(member_ids),
        score=round(score, 6),
        exposure=exposure,
        evidence=evidence,
    )


def _ring_reasons(ring: Ring) -> list[str]:
    ev = ring.evidence
    reasons = [f"member of ring {ring.ring_id} ({len(ring.members)} accounts, "
               f"score {ring.score:.2f})"]
    # Reasons travel to the lending gate: kinds and counts only, never the
    # identifier values themselves.
    shared = [s for s in ev["shared"] if not s["hub"]]
    if shared:
        parts = ", ".join(
            f"{s['kind']} ({s['members']} members)" for s in shared[:4]
        )
        reasons.append(f"shares {parts}")
    burst = ev["burst"]
    if burst["members"] >= 2:
        reasons.append(
            f"{burst['members']} members created within "
            f"{burst['window_days']:g} days"
        )
    if ev["shared_national_id_across_names"]:
        reasons.append("one national id used under different names")
    if ev["national_id_reused_outside"]:
        reasons.append(
            f"{ev['national_id_reused_outside']} members reuse a national id "
            "of an account opened long before or after"
        )
    if ev["invalid_ids"]:
        reasons.append(f"{ev['invalid_ids']} members with an invalid national id")
    if ev["known_fraud"]:
        reasons.append(f"{ev['known_fraud']} members confirmed fraud")
    return reasons


def decide(
    account_ids: Sequence[str],
    rings: Sequence[Ring],
    config: Config,
    gnn_scores: pd.Series | None = None,
) -> list[AccountDecision]:
    """Turn rings (and optional GNN scores) into one decision per account.

    Policy: a ring member is declined when its ring scores at least
    ``decline_threshold``, else reviewed. With GNN scores, a member's score
    is ``(1 - w) * ring_score + w * gnn_score``; a member whose GNN score is
    below ``gnn.clear_score`` is allowed (the ring keeps it as a member, the
    gate does not see it); an account outside any ring is reviewed (or
    declined) when its GNN score reaches ``gnn.review_score``
    (``gnn.decline_score``).
    """
    det = config.detect
    policy = config.gnn
    ring_of: dict[str, Ring] = {}
    reasons_of: dict[str, list[str]] = {}
    for ring in rings:
        reasons = _ring_reasons(ring)
        for member in ring.members:
            ring_of[member] = ring
            reasons_of[member] = reasons
    out: list[AccountDecision] = []
    for account_id in account_ids:
        member_of = ring_of.get(account_id)
        gnn = None
        if gnn_scores is not None and account_id in gnn_scores.index:
            gnn = float(gnn_scores[account_id])
        if member_of is not None:
            ring = member_of
            decision = "decline" if ring.score >= det.decline_threshold else "review"
            score = ring.score
            reasons = list(reasons_of[account_id])
            if gnn is not None:
                score = (1 - policy.weight) * ring.score + policy.weight * gnn
                reasons.append(f"GNN score {gnn:.2f}")
                if gnn < policy.clear_score:
                    decision = "allow"
                    reasons.append(
                        f"cleared: GNN score below {policy.clear_score:.2f} "
                        "(a household or victim caught by a ring's links)"
                    )
            out.append(AccountDecision(account_id, decision, round(score, 6),
                                       ring.ring_id, reasons))
            continue
        if gnn is not None and gnn >= policy.review_score:
            decision = "decline" if gnn >= policy.decline_score else "review"
            out.append(AccountDecision(
                account_id, decision, round(gnn, 6), None,
                [f"GNN score {gnn:.2f} from its network neighbourhood "
                 f"(review from {policy.review_score:.2f})"],
            ))
            continue
        out.append(AccountDecision(account_id, "allow",
                                   round(gnn or 0.0, 6), None, []))
    return out
