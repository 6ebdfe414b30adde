"""Job steps shared by the CLI, the nightly job and the benchmarks."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pandas as pd

from ringfence.config import Config
from ringfence.detectors.baseline import baseline_groups
from ringfence.detectors.pipeline import detect
from ringfence.evaluate import evaluate_rings, read_truth
from ringfence.graph.base import GraphSnapshot, GraphStore
from ringfence.model import DetectionResult

__all__ = ["run_detection", "run_evaluation"]

logger = logging.getLogger(__name__)


def run_detection(
    store: GraphStore,
    config: Config,
    *,
    snapshot: GraphSnapshot | None = None,
    gnn_scores: pd.Series | None = None,
    run_id: str | None = None,
) -> DetectionResult:
    """Detect rings over the store's graph and write the result back."""
    snapshot = snapshot if snapshot is not None else store.snapshot()
    previous = store.rings()
    result = detect(
        snapshot, config, previous_rings=previous, gnn_scores=gnn_scores,
        run_id=run_id,
    )
    store.write_results(result)
    return result


def run_evaluation(
    store: GraphStore,
    truth_path: str | Path,
    *,
    snapshot: GraphSnapshot | None = None,
) -> dict[str, Any]:
    """Score the store's latest run against a truth file, with the baseline."""
    truth = read_truth(truth_path)
    rings = store.rings()
    found = [list(m) for m in rings["members"]] if len(rings) else []
    flagged = store.decisions(flagged_only=True)["account_id"].astype(str).tolist()
    snapshot = snapshot if snapshot is not None else store.snapshot()
    return evaluate_rings(
        found, flagged, truth, baseline_rings=baseline_groups(snapshot)
    )
