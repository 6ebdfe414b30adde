"""Evaluation against ground truth.

Ring level: a found ring matches a true ring when their Jaccard similarity
is at least 0.5; matching is one to one, best pairs first. Precision is the
share of found rings matched, recall the share of true rings matched.
Account level: precision and recall of the flagged accounts against the
accounts marked fraud in the truth (isolated fraud included, so account
recall is bounded by what a network can see).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from ringfence.errors import InputError

__all__ = ["evaluate_rings", "f1", "read_truth"]


def f1(precision: float, recall: float) -> float:
    """Harmonic mean; 0 when both are 0."""
    return 2 * precision * recall / (precision + recall) if precision + recall else 0.0


def read_truth(path: str | Path) -> pd.DataFrame:
    """Read a truth table (``account_id, ring_id, typology, is_fraud``)."""
    try:
        truth = pd.read_csv(path, dtype=str, keep_default_na=False)
    except (OSError, ValueError) as exc:
        raise InputError(f"cannot read truth file {path}: {exc}") from exc
    missing = {"account_id", "ring_id", "is_fraud"} - set(truth.columns)
    if missing:
        raise InputError(
            f"truth file {path} lacks column(s) {', '.join(sorted(missing))}"
        )
    return truth


def _match(found: Sequence[set[str]], true: Sequence[set[str]]) -> int:
    owner: dict[str, int] = {}
    for t, members in enumerate(true):
        for m in members:
            owner[m] = t
    pairs = []
    for f, members in enumerate(found):
        candidates = {owner[m] for m in members if m in owner}
        for t in candidates:
            inter = len(members & true[t])
            jac = inter / len(members | true[t])
            if jac >= 0.5:
                pairs.append((-jac, f, t))
    pairs.sort()
    used_f: set[int] = set()
    used_t: set[int] = set()
    for _, f, t in pairs:
        if f not in used_f and t not in used_t:
            used_f.add(f)
            used_t.add(t)
    return len(used_f)


def evaluate_rings(
    found_rings: Iterable[Iterable[str]],
    flagged: Iterable[str],
    truth: pd.DataFrame,
    *,
    baseline_rings: Iterable[Iterable[str]] | None = None,
) -> dict[str, Any]:
    """Ring- and account-level precision, recall and F1.

    Args:
        found_rings: Member ids of each ring found.
        flagged: Accounts sent to review or declined.
        truth: Truth table (see :func:`read_truth`).
        baseline_rings: Optional rings of the naive baseline, scored the
            same way (``baseline_*`` keys).
    """
    in_ring = truth[truth["ring_id"] != ""]
    true_rings = [set(g["account_id"]) for _, g in in_ring.groupby("ring_id")]
    fraud = set(truth.loc[truth["is_fraud"].astype(str) == "1", "account_id"])
    out: dict[str, Any] = {"rings_true": len(true_rings)}

    def ring_scores(prefix: str, rings: Iterable[Iterable[str]]) -> None:
        found = [set(r) for r in rings]
        matched = _match(found, true_rings)
        p = matched / len(found) if found else 0.0
        r = matched / len(true_rings) if true_rings else 0.0
        out[f"{prefix}rings_found"] = len(found)
        out[f"{prefix}ring_precision"] = round(p, 4)
        out[f"{prefix}ring_recall"] = round(r, 4)
        out[f"{prefix}ring_f1"] = round(f1(p, r), 4)

    ring_scores("", found_rings)
    flagged_set = set(flagged)
    hits = len(flagged_set & fraud)
    ap = hits / len(flagged_set) if flagged_set else 0.0
    ar = hits / len(fraud) if fraud else 0.0
    out["accounts_flagged"] = len(flagged_set)
    out["account_precision"] = round(ap, 4)
    out["account_recall"] = round(ar, 4)
    out["account_f1"] = round(f1(ap, ar), 4)
    if baseline_rings is not None:
        base = [set(r) for r in baseline_rings]
        ring_scores("baseline_", base)
        flagged_base = set().union(*base) if base else set()
        bh = len(flagged_base & fraud)
        out["baseline_account_precision"] = round(
            bh / len(flagged_base) if flagged_base else 0.0, 4
        )
        out["baseline_account_recall"] = round(bh / len(fraud) if fraud else 0.0, 4)
    return out
