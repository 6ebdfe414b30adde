"""A trained GNN on disk and in memory, and inductive scoring with it.

A model directory holds four files:

* ``weights.pt``: the network's ``state_dict`` (loaded with
  ``weights_only=True``, so loading never runs pickled code);
* ``schema.json``: the :class:`~.features.FeatureSchema`, normalisation
  statistics included;
* ``metrics.json``: test metrics of the GNN and the baselines;
* ``meta.json``: artefact format, ringfence version, network shape and a
  summary of the training data (counts, fraud rate, split, seed, times).
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from ringfence.errors import ModelError
from ringfence.graph.base import GraphSnapshot

from ._runtime import pick_threads, torch_settings
from .features import FeatureSchema, build_hetero, snapshot_kinds
from .model import RingSage, network_inputs

__all__ = [
    "ARTIFACT_FORMAT",
    "GnnArtifact",
    "check_compatible",
    "load_model",
    "save_model",
    "score_accounts",
]

logger = logging.getLogger(__name__)

#: Layout version of a model directory.
ARTIFACT_FORMAT = "2"

_FILES = ("weights.pt", "schema.json", "metrics.json", "meta.json")
_RETRAIN = "retrain it on the current graph with `ringfence gnn train`"


@dataclass(slots=True)
class GnnArtifact:
    """Everything needed to score accounts with a trained GNN.

    Attributes:
        schema: Feature schema with the training normalisation statistics.
        state_dict: Network weights (CPU tensors).
        edge_types: Edge types the network passes messages along: those
            that had edges in training.
        hidden: Hidden width the network was built with.
        layers: Rounds of message passing of the network.
        dropout: Dropout used while training.
        metrics: Test metrics of the GNN and the baselines.
        summary: Training data summary (counts, fraud rate, split, seed,
            timestamps).
        source: Directory it was loaded from, if any (for messages).
    """

    schema: FeatureSchema
    state_dict: dict[str, torch.Tensor]
    edge_types: list[tuple[str, str, str]]
    hidden: int = 64
    layers: int = 2
    dropout: float = 0.2
    metrics: dict[str, Any] = field(default_factory=dict)
    summary: dict[str, Any] = field(default_factory=dict)
    source: str | None = None

    def network(self) -> RingSage:
        """Rebuild the network with its weights, in evaluation mode.

        Raises:
            ModelError: If the weights do not fit the schema's shape.
        """
        in_dims = {nt: len(names) for nt, names in self.schema.node_features.items()}
        net = RingSage(
            in_dims,
            self.edge_types,
            hidden=self.hidden,
            layers=self.layers,
            dropout=self.dropout,
        )
        try:
            net.load_state_dict(self.state_dict)
        except RuntimeError as exc:
            raise ModelError(
                f"GNN model {self._where()}has weights that do not fit its "
                f"feature schema; {_RETRAIN}"
            ) from exc
        return net.eval()

    def _where(self) -> str:
        return f"at {self.source} " if self.source else ""


def save_model(artifact: GnnArtifact, path_dir: str | Path) -> Path:
    """Write a model directory (created if needed; files are overwritten).

    Returns:
        The directory.
    """
    path = Path(path_dir)
    path.mkdir(parents=True, exist_ok=True)
    torch.save(artifact.state_dict, path / "weights.pt")
    (path / "schema.json").write_text(artifact.schema.to_json() + "\n")
    (path / "metrics.json").write_text(_dump(artifact.metrics))
    meta = {
        "artifact_format": ARTIFACT_FORMAT,
        "ringfence_version": _ringfence_version(),
        "feature_version": artifact.schema.version,
        "edge_types": [list(et) for et in artifact.edge_types],
        "hidden": artifact.hidden,
        "layers": artifact.layers,
        "dropout": artifact.dropout,
        "training": artifact.summary,
    }
    (path / "meta.json").write_text(_dump(meta))
    logger.info("saved GNN model to %s", path)
    return path


def load_model(
    path_dir: str | Path, snapshot: GraphSnapshot | None = None
) -> GnnArtifact:
    """Read a model directory written by :func:`save_model`.

    Args:
        path_dir: The directory.
        snapshot: When given, also check that the model can score it.

    Raises:
        ModelError: If files are missing or unreadable, the model was built
            by another feature version, or it does not match ``snapshot``.
            The message names what differs and says to retrain.
    """
    path = Path(path_dir)
    missing = [name for name in _FILES if not (path / name).is_file()]
    if missing:
        raise ModelError(
            f"no usable GNN model at {path}: missing {', '.join(missing)}; "
            "train one with `ringfence gnn train`"
        )
    try:
        schema = FeatureSchema.from_json((path / "schema.json").read_text())
        metrics = json.loads((path / "metrics.json").read_text())
        meta = json.loads((path / "meta.json").read_text())
        state = torch.load(path / "weights.pt", map_location="cpu", weights_only=True)
        edge_types = [(str(s), str(r), str(d)) for s, r, d in meta["edge_types"]]
        hidden, dropout = int(meta["hidden"]), float(meta["dropout"])
        layers = int(meta["layers"])
    except (OSError, ValueError, KeyError, TypeError, RuntimeError) as exc:
        raise ModelError(
            f"GNN model at {path} is unreadable ({exc}); {_RETRAIN}"
        ) from exc
    if meta.get("artifact_format") != ARTIFACT_FORMAT:
        raise ModelError(
            f"GNN model at {path} has artefact format "
            f"{meta.get('artifact_format')!r}, this ringfence reads "
            f"{ARTIFACT_FORMAT!r}; {_RETRAIN}"
        )

    artifact = GnnArtifact(
        schema=schema,
        state_dict=state,
        edge_types=edge_types,
        hidden=hidden,
        layers=layers,
        dropout=dropout,
        metrics=metrics,
        summary=meta.get("training", {}),
        source=str(path),
    )
    check_compatible(artifact, snapshot)
    return artifact


def check_compatible(artifact: GnnArtifact, snapshot: GraphSnapshot | None) -> None:
    """Raise unless the model can score ``snapshot`` with this code.

    Kinds the model knows but the snapshot lacks are fine (they become empty
    node types); new kinds, changed features or another feature version are
    not.

    Raises:
        ModelError: Naming every difference, and the fix.
    """
    kinds = set(artifact.schema.kinds)
    if snapshot is not None:
        kinds |= set(snapshot_kinds(snapshot))
    expected = FeatureSchema.for_kinds(sorted(kinds))
    problems = artifact.schema.differences(expected)
    if problems:
        raise ModelError(
            f"GNN model {artifact._where()}does not match this graph's "
            f"feature schema: {'; '.join(problems)}; {_RETRAIN}"
        )


def score_accounts(
    artifact: GnnArtifact,
    snapshot: GraphSnapshot,
    *,
    as_of: int | None = None,
    device: str | None = None,
    threads: int | None = None,
) -> pd.Series:
    """Score every account of ``snapshot`` with a trained model.

    Accounts and identifiers added after training are scored like the
    others: features are standardised with the saved statistics and the
    network is applied as is, with no retraining.

    Args:
        artifact: A trained model.
        snapshot: The graph to score.
        as_of: Reference time for account ages (default: newest account).
        device: ``"cpu"``, ``"cuda"``...; default CUDA when available.
        threads: CPU threads (default 2, or 1 for graphs under 100,000
            links).

    Returns:
        Fraud scores in [0, 1], indexed by ``account_id``, named
        ``"gnn_score"``, in snapshot order.

    Raises:
        ModelError: If the model's feature schema does not match the snapshot.
    """
    check_compatible(artifact, snapshot)
    ids = snapshot.accounts["account_id"].astype(str).to_numpy()
    if len(ids) == 0:
        return pd.Series([], index=pd.Index([], name="account_id"), dtype=float)

    data, _ = build_hetero(snapshot, as_of=as_of, schema=artifact.schema)
    dev = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
    net = artifact.network().to(dev)
    with torch_settings(pick_threads(threads, len(snapshot.links))), torch.no_grad():
        scores = torch.sigmoid(net(*network_inputs(data, dev)))
    values = scores.cpu().numpy().astype(np.float64)
    logger.info("scored %d accounts with the GNN", len(values))
    return pd.Series(
        values, index=pd.Index(ids, name="account_id"), name="gnn_score"
    )


def _dump(obj: Any) -> str:
    return json.dumps(obj, indent=2, sort_keys=True, default=_jsonable) + "\n"


def _jsonable(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    raise TypeError(f"cannot store {type(value).__name__} in a model file")


def _ringfence_version() -> str:
    from ringfence import __version__

    return __version__

