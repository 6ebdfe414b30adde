"""Train the GNN and its baselines on the labelled accounts of a snapshot.

Pipeline of :func:`train_gnn`:

1. read labels and split the labelled accounts (random or by time);
2. build the heterogeneous graph and standardised features;
3. fit the baselines on the training accounts;
4. train the GNN full-batch, keeping the weights of the best validation
   epoch (average precision, ties broken by validation loss), stopping after
   ``patience`` epochs without improvement;
5. measure every model on the test accounts and pack the artefact.
"""

from __future__ import annotations

import copy
import logging
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

import numpy as np
import pandas as pd
import torch
from sklearn.metrics import average_precision_score, roc_auc_score
from threadpoolctl import threadpool_limits
from torch_geometric.data import HeteroData

from ringfence.errors import ConfigError, InputError
from ringfence.graph.base import GraphSnapshot

from ._runtime import pick_threads, torch_settings
from .artifact import GnnArtifact
from .baselines import fit_baselines, neighbour_means
from .features import ACCOUNT, build_hetero
from .model import RingSage, network_inputs

__all__ = ["TrainResult", "train_gnn"]

logger = logging.getLogger(__name__)

Split = Literal["random", "time"]

_FRACTIONS = (0.6, 0.2)  # train, validation; the rest is test

_MIN_PER_CLASS = 3
_LR = 0.01
_WEIGHT_DECAY = 5e-4


@dataclass(slots=True)
class TrainResult:
    """What :func:`train_gnn` returns.

    Attributes:
        artifact: The trained model, ready for :func:`save_model` and
            :func:`score_accounts`.
        metrics: Test metrics per model (``gnn``, ``features_only``,
            ``gbm_neighbours``: ``auprc``, ``roc_auc``, ``recall_at_k``,
            ``k``), plus ``train_seconds``, ``peak_rss_mb``, ``best_epoch``,
            ``epochs_run`` and split sizes.
        scores: GNN scores of every account of the training snapshot,
            indexed by ``account_id``.
        baseline_scores: The same for each baseline, by name.
        splits: Snapshot row numbers of the ``train``, ``val`` and
            ``test`` accounts.
    """

    artifact: GnnArtifact
    metrics: dict[str, Any]
    scores: pd.Series
    baseline_scores: dict[str, pd.Series] = field(default_factory=dict)
    splits: dict[str, np.ndarray] = field(default_factory=dict)


def train_gnn(
    snapshot: GraphSnapshot,
    *,
    seed: int = 0,
    split: Split = "random",
    epochs: int = 200,
    patience: int = 20,
    hidden: int = 64,
    layers: int = 2,
    device: str | None = None,
    threads: int | None = None,
) -> TrainResult:
    """Train the heterogeneous GraphSAGE detector and its baselines.

    Args:
        snapshot: The graph; accounts labelled ``"fraud"`` or ``"legit"``
            are used for training and evaluation, all accounts for message
            passing.
        seed: Seeds the split, the weights and dropout. The same seed, data,
            device and thread count give identical scores.
        split: ``"random"`` (stratified 60/20/20) or ``"time"`` (oldest 60%
            of labelled accounts train, next 20% validate, newest 20% test).
        epochs: Maximum full-batch epochs (default 200).
        patience: Stop after this many epochs without a better validation
            average precision (default 20).
        hidden: Hidden width (default 64).
        layers: Rounds of message passing, at least 2 (default 2: the
            accounts one shared identifier away; 4 reach two away, at about
            1.6 times the time and memory).
        device: ``"cpu"``, ``"cuda"``...; default CUDA when available.
        threads: CPU threads for torch and the baselines. Default: 2, or 1
            for graphs under 100,000 links, where waking a second thread
            costs more than it saves.

    Returns:
        The artefact, the metrics and the scores of every account.

    Raises:
        ConfigError: If ``split`` is unknown, ``epochs``, ``patience`` or
            ``hidden`` is below 1, or ``layers`` below 2.
        InputError: If the snapshot has no identifiers, or fewer than 3
            fraud or 3 legit labelled accounts.

    Notes:
        One epoch costs time and memory linear in the number of links. The
        whole graph takes part in message passing during training, test
        accounts included; only their labels are held out.
    """
    # 1. labels and split
    _check_settings(split, epochs=epochs, patience=patience, hidden=hidden)
    if layers < 2:
        raise ConfigError(f"layers must be at least 2, got {layers}")
    y = _labels(snapshot)
    created = snapshot.accounts["created_at"].to_numpy(dtype=np.int64, na_value=0)
    parts = _split(y, created, split, seed)
    if snapshot.identifiers.empty:
        raise InputError("the graph has no identifiers; load accounts first")

    # 2. features
    started = start = time.perf_counter()
    data, schema = build_hetero(snapshot)
    x = data[ACCOUNT].x.numpy()
    logger.info(
        "built GNN features for %d accounts, %d identifier kinds in %.1fs",
        len(x), len(schema.kinds), time.perf_counter() - start,
    )

    # 3. baselines
    links = snapshot.links[["account_idx", "ident_idx"]].drop_duplicates()
    x_neigh = neighbour_means(
        x,
        links["account_idx"].to_numpy(dtype=np.int64),
        links["ident_idx"].to_numpy(dtype=np.int64),
        len(snapshot.identifiers),
    )
    n_threads = pick_threads(threads, len(links))
    with threadpool_limits(limits=n_threads):
        baseline_scores = fit_baselines(x, x_neigh, y, parts["train"], seed=seed)

    # 4. the GNN
    dev = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
    with torch_settings(n_threads):
        start = time.perf_counter()
        net, history = _fit(
            data, y, parts, seed, epochs, patience, (hidden, layers), dev
        )
        train_seconds = time.perf_counter() - start
        with torch.no_grad():
            gnn = torch.sigmoid(net(*network_inputs(data, dev))).cpu().numpy()

    # 5. metrics and artefact
    test = parts["test"]
    metrics: dict[str, Any] = {"gnn": _metrics(y[test], gnn[test])}
    for name, (scores, seconds) in baseline_scores.items():
        metrics[name] = _metrics(y[test], scores[test]) | {
            "fit_seconds": round(seconds, 3)
        }
    metrics |= history | {
        "split": split,
        "seed": seed,
        "train_seconds": round(train_seconds, 3),
        "total_seconds": round(time.perf_counter() - started, 3),
        "peak_rss_mb": _peak_rss_mb(),
        "device": str(dev),
    }
    logger.info(
        "GNN test AUPRC %s (features only %s, boosted neighbours %s)",
        metrics["gnn"]["auprc"],
        metrics["features_only"]["auprc"],
        metrics["gbm_neighbours"]["auprc"],
    )
    artifact = GnnArtifact(
        schema=schema,
        state_dict={k: v.detach().cpu() for k, v in net.state_dict().items()},
        edge_types=net.edge_types,
        hidden=hidden,
        layers=layers,
        dropout=net.dropout,
        metrics=metrics,
        summary=_summary(snapshot, y, created, parts, split, seed),
    )
    ids = pd.Index(snapshot.accounts["account_id"].astype(str), name="account_id")
    series = pd.Series(gnn.astype(np.float64), index=ids, name="gnn_score")
    baselines = {
        name: pd.Series(scores.astype(np.float64), index=ids, name=name)
        for name, (scores, _) in baseline_scores.items()
    }
    return TrainResult(artifact, metrics, series, baselines, parts)


def _check_settings(split: str, **counts: int) -> None:
    problems = []
    if split not in ("random", "time"):
        problems.append(f"split must be 'random' or 'time', got {split!r}")
    problems += [
        f"{name} must be at least 1, got {value}"
        for name, value in counts.items()
        if value < 1
    ]
    if problems:
        raise ConfigError("; ".join(problems))


def _labels(snapshot: GraphSnapshot) -> np.ndarray:
    """1 for fraud, 0 for legit, -1 for unlabelled."""
    label = snapshot.accounts["label"].astype("string").str.strip().str.lower()
    y = np.full(len(label), -1, dtype=np.int64)
    y[(label == "fraud").fillna(False).to_numpy(dtype=bool)] = 1
    y[(label == "legit").fillna(False).to_numpy(dtype=bool)] = 0
    n_fraud, n_legit = int((y == 1).sum()), int((y == 0).sum())
    if n_fraud < _MIN_PER_CLASS or n_legit < _MIN_PER_CLASS:
        raise InputError(
            f"GNN training needs at least {_MIN_PER_CLASS} accounts labelled "
            f"'fraud' and {_MIN_PER_CLASS} labelled 'legit' (column label); "
            f"found {n_fraud} fraud and {n_legit} legit. Load labelled data "
            "first"
        )
    return y


def _split(
    y: np.ndarray, created: np.ndarray, split: Split, seed: int
) -> dict[str, np.ndarray]:
    """Indices of train, validation and test accounts (labelled only)."""
    rng = np.random.default_rng(seed)
    if split == "time":
        labelled = np.flatnonzero(y >= 0)
        order = labelled[np.argsort(created[labelled], kind="stable")]
        cut1 = int(round(len(order) * _FRACTIONS[0]))
        cut2 = int(round(len(order) * sum(_FRACTIONS)))
        parts = {"train": order[:cut1], "val": order[cut1:cut2], "test": order[cut2:]}
    else:
        chunks: dict[str, list[np.ndarray]] = {"train": [], "val": [], "test": []}
        for cls in (0, 1):
            members = rng.permutation(np.flatnonzero(y == cls))
            n_held = max(1, int(round(len(members) * _FRACTIONS[1])))
            chunks["val"].append(members[:n_held])
            chunks["test"].append(members[n_held : 2 * n_held])
            chunks["train"].append(members[2 * n_held :])
        parts = {k: np.sort(np.concatenate(v)) for k, v in chunks.items()}
    for name, idx in parts.items():
        if len(np.unique(y[idx])) < 2:
            logger.warning("the %s split holds a single class", name)
    return parts


def _fit(
    data: HeteroData,
    y: np.ndarray,
    parts: dict[str, np.ndarray],
    seed: int,
    epochs: int,
    patience: int,
    shape: tuple[int, int],
    dev: torch.device,
) -> tuple[RingSage, dict[str, Any]]:
    """Full-batch training with early stopping; returns the best network."""
    torch.manual_seed(seed)
    in_dims = {nt: int(data[nt].x.shape[1]) for nt in data.node_types}
    active = [et for et in data.edge_types if data[et].num_edges > 0]
    hidden, layers = shape
    net = RingSage(in_dims, active, hidden=hidden, layers=layers).to(dev)
    x_dict, edge_dict = network_inputs(data, dev)
    target = torch.as_tensor(y, dtype=torch.float32, device=dev)
    train = torch.as_tensor(parts["train"], device=dev)
    val = parts["val"]

    n_pos = float((y[parts["train"]] == 1).sum())
    n_neg = float((y[parts["train"]] == 0).sum())
    loss_fn = torch.nn.BCEWithLogitsLoss(
        pos_weight=torch.tensor(n_neg / max(n_pos, 1.0), device=dev)
    )
    optimiser = torch.optim.Adam(net.parameters(), lr=_LR, weight_decay=_WEIGHT_DECAY)

    best: tuple[float, float] = (-np.inf, -np.inf)
    best_epoch, best_state = 0, copy.deepcopy(net.state_dict())
    epoch = 0
    for epoch in range(1, epochs + 1):
        net.train()
        optimiser.zero_grad()
        loss = loss_fn(net(x_dict, edge_dict)[train], target[train])
        loss.backward()
        optimiser.step()

        net.eval()
        with torch.no_grad():
            logits = net(x_dict, edge_dict)[val]
            val_loss = float(loss_fn(logits, target[val]))
        quality = (_average_precision(y[val], logits.cpu().numpy()), -val_loss)
        logger.debug(
            "epoch %d loss %.4f validation AP %.4f loss %.4f",
            epoch, loss.item(), quality[0], val_loss,
        )
        if quality > best:
            best, best_epoch = quality, epoch
            best_state = copy.deepcopy(net.state_dict())
        elif epoch - best_epoch >= patience:
            logger.info("early stop at epoch %d (best %d)", epoch, best_epoch)
            break
        if epoch % 25 == 0:
            logger.info("epoch %d/%d, best validation AP %.4f", epoch, epochs, best[0])

    net.load_state_dict(best_state)
    net.eval()
    history = {"best_epoch": best_epoch, "epochs_run": epoch, "val_auprc": best[0]}
    return net, history


def _average_precision(y: np.ndarray, scores: np.ndarray) -> float:
    """Rounded so that noise-level gains do not reset the patience; ties go
    to the lower validation loss. 0 when a class is missing."""
    if len(np.unique(y)) < 2:
        return 0.0
    return round(float(average_precision_score(y, scores)), 4)


def _metrics(y: np.ndarray, scores: np.ndarray) -> dict[str, Any]:
    """AUPRC, ROC-AUC and recall at K = number of frauds (None if undefined)."""
    k = int((y == 1).sum())
    if k == 0 or k == len(y):
        return {"auprc": None, "roc_auc": None, "recall_at_k": None, "k": k}
    top = np.argsort(-scores, kind="stable")[:k]
    return {
        "auprc": round(float(average_precision_score(y, scores)), 4),
        "roc_auc": round(float(roc_auc_score(y, scores)), 4),
        "recall_at_k": round(float(y[top].sum() / k), 4),
        "k": k,
    }


def _summary(
    snapshot: GraphSnapshot,
    y: np.ndarray,
    created: np.ndarray,
    parts: dict[str, np.ndarray],
    split: str,
    seed: int,
) -> dict[str, Any]:
    labelled = int((y >= 0).sum())
    fraud = int((y == 1).sum())

    def span(idx: np.ndarray) -> list[int] | None:
        if len(idx) == 0:
            return None
        return [int(created[idx].min()), int(created[idx].max())]

    return {
        "accounts": len(snapshot.accounts),
        "identifiers": len(snapshot.identifiers),
        "links": len(snapshot.links),
        "products": len(snapshot.products),
        "labelled": labelled,
        "fraud": fraud,
        "legit": labelled - fraud,
        "fraud_rate": round(fraud / labelled, 6),
        "split": split,
        "seed": seed,
        "sizes": {name: len(idx) for name, idx in parts.items()},
        "created_at": {name: span(idx) for name, idx in parts.items()},
        "as_of": int(created.max()),
        "trained_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }


def _peak_rss_mb() -> float | None:
    try:
        import resource
    except ImportError:  # not on Windows
        return None
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
