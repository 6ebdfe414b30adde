"""Glue between the GNN and the decisions: train, load and score.

The policy that blends GNN scores with ring evidence lives in
:func:`ringfence.detectors.rings.decide` and is configured by
:class:`ringfence.config.GnnPolicy`. This module only produces the scores;
it imports torch lazily so the rest of ringfence never pays for it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from ringfence.graph.base import GraphSnapshot

__all__ = ["gnn_scores_for", "train_and_score", "train_model"]


def train_model(
    snapshot: GraphSnapshot,
    model_dir: str | Path,
    *,
    seed: int = 0,
    split: str = "time",
    epochs: int = 200,
) -> Any:
    """Train the GNN on the snapshot's labels and save it to ``model_dir``.

    Returns:
        The :class:`ringfence.detectors.gnn.TrainResult`.
    """
    from ringfence.detectors.gnn import save_model, train_gnn

    result = train_gnn(snapshot, seed=seed, split=split,  # type: ignore[arg-type]
                       epochs=epochs)
    save_model(result.artifact, model_dir)
    return result


def train_and_score(
    snapshot: GraphSnapshot, model_dir: str | Path, *, seed: int = 0
) -> tuple[pd.Series, dict[str, Any]]:
    """Train, save, and return every account's score with the test metrics."""
    result = train_model(snapshot, model_dir, seed=seed)
    return result.scores, result.metrics


def gnn_scores_for(snapshot: GraphSnapshot, model_dir: str | Path) -> pd.Series:
    """Score every account of ``snapshot`` with the model in ``model_dir``.

    Raises:
        ModelError: No model there, or its feature schema does not match.
    """
    from ringfence.detectors.gnn import load_model, score_accounts

    model = load_model(model_dir, snapshot=snapshot)
    return score_accounts(model, snapshot)
