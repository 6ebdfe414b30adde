"""Ring lineage: keep a ring's id across runs and say how it changed.

A ring of this run inherits the id of the previous run's ring it overlaps
most (by shared members), one to one, larger overlaps first, ties broken by
ring id. Its status then says what happened:

* ``same``: identical members;
* ``grown`` / ``shrunk``: a strict superset / subset of the previous ring;
* ``changed``: members both joined and left;
* ``merged``: it overlaps two or more previous rings;
* ``split``: its previous ring's members are now in two or more rings (every
  part is marked, only the largest keeps the id);
* ``new``: it overlaps no previous ring.

Deterministic; O(total members).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Sequence

import pandas as pd

from ringfence.detectors.rings import ring_id_for
from ringfence.model import Ring

__all__ = ["assign_lineage"]


def assign_lineage(rings: Sequence[Ring], previous: pd.DataFrame) -> None:
    """Set ``ring_id``, ``status`` and ``evidence["lineage"]`` in place.

    Args:
        rings: This run's rings (ids from :func:`ring_id_for`).
        previous: The previous run's rings with ``ring_id`` and ``members``.
    """
    prev_members: dict[str, set[str]] = {
        str(rid): set(members)
        for rid, members in zip(previous["ring_id"], previous["members"], strict=True)
    }
    ring_of_account: dict[str, str] = {}
    for rid, members in prev_members.items():
        for m in members:
            ring_of_account[m] = rid

    overlaps: list[Counter[str]] = []
    parts_of_prev: dict[str, int] = defaultdict(int)
    for ring in rings:
        counts = Counter(
            ring_of_account[m] for m in ring.members if m in ring_of_account
        )
        overlaps.append(counts)
        for rid in counts:
            parts_of_prev[rid] += 1

    # One-to-one inheritance, largest overlaps first.
    candidates = sorted(
        ((n, rid, k) for k, counts in enumerate(overlaps) for rid, n in counts.items()),
        key=lambda t: (-t[0], t[1], t[2]),
    )
    inherited: dict[int, str] = {}
    taken: set[str] = set()
    for _, rid, k in candidates:
        if k in inherited or rid in taken:
            continue
        inherited[k] = rid
        taken.add(rid)

    used_ids = set(prev_members)
    for k, ring in enumerate(rings):
        counts = overlaps[k]
        members = set(ring.members)
        if not counts:
            status = "new"
        elif len(counts) > 1:
            status = "merged"
        elif any(parts_of_prev[rid] > 1 for rid in counts):
            status = "split"
        else:
            (rid,) = counts
            old = prev_members[rid]
            if members == old:
                status = "same"
            elif members > old:
                status = "grown"
            elif members < old:
                status = "shrunk"
            else:
                status = "changed"
        if k in inherited:
            ring.ring_id = inherited[k]
        elif ring.ring_id in used_ids:
            # A fresh ring must not reuse an id that meant another ring.
            ring.ring_id = ring_id_for([*ring.members, "#lineage"])
        ring.status = status
        ring.evidence["lineage"] = {
            "status": status,
            "previous": sorted(counts),
        }
