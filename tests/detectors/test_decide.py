"""The decision policy: ring evidence, optionally blended with GNN scores."""

from __future__ import annotations

import pandas as pd

from ringfence.config import Config
from ringfence.detectors.rings import decide
from ringfence.model import Ring


def _ring(score: float, *members: str) -> Ring:
    evidence = {
        "shared": [], "burst": {"members": 1, "window_days": 7.0},
        "shared_national_id_across_names": False, "national_id_reused_outside": 0,
        "invalid_ids": 0, "known_fraud": 0,
    }
    return Ring("R-1", sorted(members), score, 0.0, evidence)


def test_ring_score_sets_decline_or_review() -> None:
    config = Config()
    high = decide(["a", "b", "c"], [_ring(0.9, "a", "b")], config)
    assert [d.decision for d in high] == ["decline", "decline", "allow"]
    low = decide(["a", "b"], [_ring(0.7, "a", "b")], config)
    assert {d.decision for d in low} == {"review"}
    assert all(d.ring_id == "R-1" and d.reasons for d in low)


def test_gnn_reviews_outsiders_and_clears_households() -> None:
    config = Config()
    scores = pd.Series({"a": 0.99, "b": 0.01, "c": 0.999, "d": 0.5})
    out = {d.account_id: d for d in decide(
        ["a", "b", "c", "d"], [_ring(0.9, "a", "b")], config, scores)}
    assert out["a"].decision == "decline"
    assert out["a"].score == round(0.7 * 0.9 + 0.3 * 0.99, 6)
    assert out["b"].decision == "allow" and "cleared" in out["b"].reasons[-1]
    assert out["c"].decision == "review" and out["c"].ring_id is None
    assert out["d"].decision == "allow"
    assert all(0.0 <= d.score <= 1.0 for d in out.values())
