"""Shared-identifier linking that survives hub identifiers.

Two accounts are *linked* when what they share is specific enough. Each
shared identifier contributes ``tier_weight * rarity(degree)``:

* ``tier_weight`` is high for hard identifiers (national id, phone, email,
  bank account: one person's) and low for soft ones (device, IP, address,
  employer: legitimately shared by households, offices, cafés);
* ``rarity(d) = 1 / (1 + log2(d / 2) / 4)`` shrinks as more accounts share
  the identifier;
* identifiers held by more accounts than their kind's degree cap, or on the
  allow-list, are *hubs*: they contribute nothing and are reported;
* a soft identifier counts ``1 + soft_time_boost`` times when the two
  accounts were opened within ``link_window_days`` of each other: a device
  or address reused by accounts opened together is a device farm or a drop
  address, while a household shares them over years;
* an identifier the account has since replaced (it was last seen with a
  newer one of the same kind) no longer links it;
* a national id shared by accounts opened ``victim_days`` or more apart
  does not link them: that is an id reused from its owner, a victim, and it
  is scored as evidence against the newer account instead.

A pair is linked when its summed weight reaches ``link_threshold``. With the
defaults one hard identifier links; one soft identifier alone links only
accounts opened within the window; two specific soft identifiers link. Groups are the
connected components of the linked pairs, after cutting weak bridges (a
soft-only link whose removal leaves two or more accounts on each side); a
group larger than ``split_size`` is split with Louvain community detection.

Complexity: O(L + P log P) for L links and P candidate pairs; P is bounded
by ``sum(cap_k ** 2)`` over non-hub identifiers because hubs never produce
pairs, which is what keeps a public Wi-Fi device from costing O(n^2).
Deterministic: the same snapshot and settings give the same groups.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from ringfence.config import Config, DetectConfig
from ringfence.graph.base import GraphSnapshot
from ringfence.model import Hub

__all__ = ["LinkGraph", "allow_keys", "link_accounts", "link_weights", "rarity"]

_DAY = 86_400


@dataclass(slots=True)
class LinkGraph:
    """The pruned link graph of a snapshot.

    Attributes:
        degree: Accounts per identifier (all links, hubs included).
        usable: Per identifier, True when it may link accounts.
        hub: Per identifier, True when it was excluded as a hub.
        pair_a, pair_b: Account indices of linked pairs (``pair_a < pair_b``).
        pair_weight: Summed weight of each linked pair.
        groups: Account-index arrays of the groups (size >= 2), sorted by
            their smallest account index.
        hubs: The hub identifiers with their reason.
    """

    degree: np.ndarray
    usable: np.ndarray
    hub: np.ndarray
    pair_a: np.ndarray
    pair_b: np.ndarray
    pair_weight: np.ndarray
    groups: list[np.ndarray]
    hubs: list[Hub]


def rarity(degree: np.ndarray) -> np.ndarray:
    """Weight multiplier of an identifier shared by ``degree`` accounts."""
    d = np.maximum(np.asarray(degree, dtype=np.float64), 2.0)
    return 1.0 / (1.0 + np.log2(d / 2.0) / 4.0)


def allow_keys(config: Config) -> set[tuple[str, str]]:
    """Normalise the allow-list to ``(kind, key)`` pairs.

    Values are normalised like input values, so an investigator may write
    ``+1 (800) 555-0100``. National ids cannot be allow-listed: they are
    never written in clear.
    """
    from ringfence.loaders.normalize import (
        Skip,
        normalize_address,
        normalize_email,
        normalize_generic,
        normalize_phone,
    )

    out: set[tuple[str, str]] = set()
    for entry in config.detect.allow_list:
        kind, value = str(entry.get("kind", "")), str(entry.get("value", ""))
        if kind == "phone":
            ident = normalize_phone(value, config.default_region)
        elif kind == "email":
            ident = normalize_email(value)
        elif kind == "address":
            ident = normalize_address(value)
        elif kind == "national_id":
            continue
        else:
            ident = normalize_generic(kind, value)
        if not isinstance(ident, Skip):
            out.add((kind, ident.key))
    return out


def link_weights(
    hard: np.ndarray,
    national_id: np.ndarray,
    degree: np.ndarray,
    gap_seconds: np.ndarray | None,
    det: DetectConfig,
) -> np.ndarray:
    """Weight each shared identifier adds to a pair of accounts.

    Args:
        hard: Per identifier, True for the hard tier.
        national_id: Per identifier, True for national ids.
        degree: Accounts holding each identifier.
        gap_seconds: Time between the pair's openings, or ``None`` when
            unknown (then neither time rule applies).
        det: Weights and windows (see the module docstring).
    """
    weight = np.where(hard, det.hard_weight, det.soft_weight) * rarity(degree)
    if gap_seconds is None:
        return np.asarray(weight, dtype=np.float64)
    gap = np.abs(np.asarray(gap_seconds, dtype=np.float64))
    # A soft identifier shared by accounts opened close together (a device
    # farm, a drop address) says more than one shared by a household over
    # years.
    close = gap <= det.link_window_days * _DAY
    weight = np.where(~hard & close, weight * (1.0 + det.soft_time_boost), weight)
    # One national id on accounts opened far apart is identity reuse:
    # evidence against the newer account, not a tie that makes the id's
    # owner a ring member.
    reuse = national_id & (gap >= det.victim_days * _DAY)
    return np.asarray(np.where(reuse, 0.0, weight), dtype=np.float64)


def _pairs_for_degree(members: np.ndarray, d: int) -> tuple[np.ndarray, np.ndarray]:
    """All member pairs of identifiers that each have exactly ``d`` members.

    ``members`` has shape (k, d): row r lists the accounts of identifier r.
    """
    iu, ju = np.triu_indices(d, k=1)
    a = members[:, iu].ravel()
    b = members[:, ju].ravel()
    return np.minimum(a, b), np.maximum(a, b)


def link_accounts(snapshot: GraphSnapshot, config: Config) -> LinkGraph:
    """Build the pruned link graph and its groups (see the module docstring).

    Args:
        snapshot: The graph.
        config: Tiers, degree caps, allow-list, weights and split settings.

    Returns:
        The :class:`LinkGraph`.
    """
    det = config.detect
    n_acc = len(snapshot.accounts)
    idents = snapshot.identifiers
    n_id = len(idents)
    acc_idx = snapshot.links["account_idx"].to_numpy(np.int64)
    id_idx = snapshot.links["ident_idx"].to_numpy(np.int64)
    degree = np.bincount(id_idx, minlength=n_id).astype(np.int64)

    # Hubs: above the kind's cap, or allow-listed.
    kinds = idents["kind"].astype(str).to_numpy()
    keys = idents["key"].astype(str).to_numpy()
    displays = idents["display"].astype(str).to_numpy()
    caps = np.array([det.cap(k) for k in kinds], dtype=np.int64)
    allowed = allow_keys(config)
    on_allow = np.array(
        [(k, v) in allowed for k, v in zip(kinds, keys, strict=True)], dtype=bool
    ) if allowed else np.zeros(n_id, dtype=bool)
    hub = (degree > caps) | (on_allow & (degree >= 2))
    hubs = [
        Hub(
            kind=kinds[i],
            key=keys[i],
            display=str(displays[i]),
            degree=int(degree[i]),
            reason=(
                "allow-listed" if on_allow[i]
                else f"shared by {degree[i]} accounts, above the {kinds[i]} "
                f"cap of {caps[i]}"
            ),
        )
        for i in np.flatnonzero(hub)
    ]
    usable = (degree >= 2) & ~hub
    current = _current_links(snapshot, kinds)

    # Candidate pairs from every usable identifier, grouped by degree so
    # that each degree class is one vectorised step.
    is_hard = np.array([config.tier(k) == "hard" for k in kinds], dtype=bool)
    is_nid = kinds == "national_id"
    created = snapshot.accounts["created_at"].to_numpy(np.int64)
    keep = usable[id_idx] & current
    order = np.lexsort((acc_idx[keep], id_idx[keep]))
    s_id, s_acc = id_idx[keep][order], acc_idx[keep][order]
    all_a: list[np.ndarray] = []
    all_b: list[np.ndarray] = []
    all_id: list[np.ndarray] = []
    if len(s_id):
        starts = np.flatnonzero(np.r_[True, s_id[1:] != s_id[:-1]])
        sizes = np.diff(np.r_[starts, len(s_id)])
        for d in np.unique(sizes):
            rows = starts[sizes == d]
            members = s_acc[rows[:, None] + np.arange(d)[None, :]]
            a, b = _pairs_for_degree(members, int(d))
            all_a.append(a)
            all_b.append(b)
            all_id.append(np.repeat(s_id[rows], d * (d - 1) // 2))
    if all_a:
        pa, pb, pid = (np.concatenate(all_a), np.concatenate(all_b),
                       np.concatenate(all_id))
        soft = ~is_hard[pid]
        pw = link_weights(is_hard[pid], is_nid[pid], degree[pid],
                          np.abs(created[pa] - created[pb]), det)
        code = pa * np.int64(n_acc) + pb
        uniq, inv = np.unique(code, return_inverse=True)
        weight = np.bincount(inv, weights=pw)
        hard_w = np.bincount(inv, weights=np.where(soft, 0.0, pw))
        strong = weight >= det.link_threshold - 1e-12
        pair_a = (uniq[strong] // n_acc).astype(np.int64)
        pair_b = (uniq[strong] % n_acc).astype(np.int64)
        pair_weight: np.ndarray = weight[strong]
        pair_hard = hard_w[strong] > 0
    else:
        pair_a = pair_b = np.zeros(0, dtype=np.int64)
        pair_weight = np.zeros(0, dtype=np.float64)
        pair_hard = np.zeros(0, dtype=bool)

    keep_pairs = _cut_weak_bridges(n_acc, pair_a, pair_b, pair_hard)
    groups = _groups(
        n_acc, pair_a[keep_pairs], pair_b[keep_pairs], pair_weight[keep_pairs],
        det.split_size, det.seed,
    )
    return LinkGraph(
        degree=degree,
        usable=usable,
        hub=hub,
        pair_a=pair_a,
        pair_b=pair_b,
        pair_weight=pair_weight,
        groups=groups,
        hubs=hubs,
    )


def _current_links(snapshot: GraphSnapshot, kinds: np.ndarray) -> np.ndarray:
    """Mask of links that are still the account's latest of their kind.

    When an account was last seen with another phone (or device...), the
    older one has been replaced and no longer links it: a ring member who
    changed device leaves the ring's device. Identifiers seen together, at
    the account's latest observation of that kind, all stay current.
    """
    links = snapshot.links
    if not len(links):
        return np.zeros(0, dtype=bool)
    acc = links["account_idx"].to_numpy(np.int64)
    ident = links["ident_idx"].to_numpy(np.int64)
    last = links["last_seen"].to_numpy(np.int64)
    _, kind_code = np.unique(kinds, return_inverse=True)
    n_kinds = int(kind_code.max()) + 1 if len(kind_code) else 1
    group = acc * n_kinds + kind_code[ident]
    _, inverse = np.unique(group, return_inverse=True)
    newest = np.full(inverse.max() + 1, np.iinfo(np.int64).min, dtype=np.int64)
    np.maximum.at(newest, inverse, last)
    return np.asarray(last >= newest[inverse])


def _cut_weak_bridges(
    n: int, pa: np.ndarray, pb: np.ndarray, hard: np.ndarray
) -> np.ndarray:
    """Mask of the pairs to keep after cutting weak bridges.

    A *weak bridge* is a link supported by soft identifiers only whose
    removal splits its group into two parts of two or more accounts each:
    typically a ring member who gave a household's address, which would
    otherwise pull the whole household into the ring. A weak link to a
    single account is kept, so a member linked by one device still belongs.
    """
    keep = np.ones(len(pa), dtype=bool)
    if not len(pa) or hard.all():
        return keep
    import networkx as nx

    graph = coo_matrix((np.ones(len(pa)), (pa, pb)), shape=(n, n))
    _, labels = connected_components(graph, directed=False)
    sizes = np.bincount(labels)
    # Only groups of four or more with a soft-only link can hold a weak
    # bridge with two accounts on each side.
    candidates = np.unique(labels[pa[~hard]])
    candidates = candidates[sizes[candidates] >= 4]
    if not len(candidates):
        return keep
    sel = np.isin(labels[pa], candidates)
    index = np.flatnonzero(sel)
    g = nx.Graph()
    g.add_edges_from(
        (int(a), int(b), {"k": int(k)})
        for a, b, k in zip(pa[sel], pb[sel], index, strict=True)
    )
    for u, v in nx.bridges(g):
        k = g.edges[u, v]["k"]
        if hard[k]:
            continue
        g.remove_edge(u, v)
        side = nx.node_connected_component(g, u)
        other = sizes[labels[u]] - len(side)
        if len(side) >= 2 and other >= 2:
            keep[k] = False
        else:
            g.add_edge(u, v, k=k)
    return keep


def _groups(
    n: int,
    pa: np.ndarray,
    pb: np.ndarray,
    pw: np.ndarray,
    split_size: int,
    seed: int,
) -> list[np.ndarray]:
    if n == 0 or len(pa) == 0:
        return []
    graph = coo_matrix((np.ones(len(pa)), (pa, pb)), shape=(n, n))
    _, labels = connected_components(graph, directed=False)
    sizes = np.bincount(labels)
    in_group = sizes[labels] >= 2
    frame = pd.DataFrame({"label": labels[in_group], "acc": np.flatnonzero(in_group)})
    out: list[np.ndarray] = []
    pair_label = labels[pa]
    for label, members in frame.groupby("label", sort=False)["acc"]:
        nodes = np.sort(members.to_numpy())
        if len(nodes) > split_size:
            sel = pair_label == label
            out.extend(_split(nodes, pa[sel], pb[sel], pw[sel], seed))
        else:
            out.append(nodes)
    out.sort(key=lambda g: int(g[0]))
    return out


def _split(
    nodes: np.ndarray, pa: np.ndarray, pb: np.ndarray, pw: np.ndarray, seed: int
) -> Iterable[np.ndarray]:
    """Split one large group into Louvain communities (size >= 2 kept)."""
    import networkx as nx

    graph = nx.Graph()
    graph.add_nodes_from(int(x) for x in nodes)
    order = np.lexsort((pb, pa))
    graph.add_weighted_edges_from(
        (int(a), int(b), float(w))
        for a, b, w in zip(pa[order], pb[order], pw[order], strict=True)
    )
    communities = nx.community.louvain_communities(
        graph, weight="weight", resolution=1.0, seed=seed
    )
    for community in communities:
        if len(community) >= 2:
            yield np.array(sorted(community), dtype=np.int64)
