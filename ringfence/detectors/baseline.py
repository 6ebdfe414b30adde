"""The naive baseline: connected components over every shared identifier.

No tiers, no rarity, no hub handling: any identifier held by two accounts
links them. This is what a first attempt at "network" fraud detection
usually is, and the figure ringfence's detectors are compared against.
Complexity O(L) with a sparse bipartite graph; deterministic.
"""

from __future__ import annotations

import numpy as np
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from ringfence.graph.base import GraphSnapshot

__all__ = ["baseline_groups"]


def baseline_groups(snapshot: GraphSnapshot) -> list[list[str]]:
    """Account-id groups (size >= 2) of the naive shared-identifier graph."""
    n_acc = len(snapshot.accounts)
    n_id = len(snapshot.identifiers)
    if n_acc == 0:
        return []
    a = snapshot.links["account_idx"].to_numpy(np.int64)
    i = snapshot.links["ident_idx"].to_numpy(np.int64) + n_acc
    size = n_acc + n_id
    graph = coo_matrix((np.ones(len(a)), (a, i)), shape=(size, size))
    _, labels = connected_components(graph, directed=False)
    acc_labels = labels[:n_acc]
    counts = np.bincount(acc_labels)
    ids = snapshot.accounts["account_id"].astype(str).to_numpy()
    order = np.argsort(acc_labels, kind="stable")
    sorted_labels = acc_labels[order]
    bounds = np.flatnonzero(np.r_[True, sorted_labels[1:] != sorted_labels[:-1]])
    groups = []
    for start, end in zip(bounds, np.r_[bounds[1:], n_acc], strict=True):
        if counts[sorted_labels[start]] >= 2:
            groups.append(sorted(ids[order[start:end]].tolist()))
    return groups
