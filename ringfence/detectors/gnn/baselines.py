"""Non-graph-learning baselines trained and scored alongside the GNN.

They answer "is the GNN worth it?" on the same split:

* ``features_only``: logistic regression on the account's own features;
* ``gbm_neighbours``: gradient boosting on the account's features plus the
  mean features of the accounts it shares identifiers with.
"""

from __future__ import annotations

import time

import numpy as np
import scipy.sparse as sp
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.linear_model import LogisticRegression

__all__ = ["fit_baselines", "neighbour_means"]


def neighbour_means(
    x: np.ndarray, link_account: np.ndarray, link_ident: np.ndarray, n_idents: int
) -> np.ndarray:
    """Mean features of the other holders of each account's identifiers.

    Each shared identifier contributes the mean of its other holders, and an
    account averages those contributions over its shared identifiers; an
    account that shares nothing gets zeros.

    Args:
        x: Account features, ``[n_accounts, n_features]``.
        link_account: Account index of each link.
        link_ident: Identifier index of each link (unique pairs).
        n_idents: Number of identifiers.

    Returns:
        ``[n_accounts, n_features]`` float32.

    Notes:
        Two sparse products through the identifiers, so time and memory are
        linear in the number of links even for hub identifiers (no account
        pair is ever formed).
    """
    n = x.shape[0]
    holds = sp.csr_matrix(
        (np.ones(len(link_account)), (link_account, link_ident)),
        shape=(n, n_idents),
    )
    degree = np.asarray(holds.sum(axis=0)).ravel()
    others = np.where(degree > 1, degree - 1, 0.0)
    weight = np.divide(1.0, others, out=np.zeros_like(others), where=others > 0)

    # sum over identifiers of (holders' sum - own row) / (holders - 1)
    ident_sum = holds.T @ x.astype(np.float64)
    weighted = holds @ sp.diags(weight)
    total = weighted @ ident_sum - np.asarray(weighted.sum(axis=1)) * x
    shared = np.asarray((holds @ sp.diags((degree > 1).astype(float))).sum(axis=1))
    means = np.divide(total, shared, out=np.zeros_like(total), where=shared > 0)
    return means.astype(np.float32)


def fit_baselines(
    x: np.ndarray,
    x_neigh: np.ndarray,
    y: np.ndarray,
    train_idx: np.ndarray,
    *,
    seed: int,
) -> dict[str, tuple[np.ndarray, float]]:
    """Fit both baselines on ``train_idx`` and score every account.

    Returns:
        ``{name: (scores for all accounts, fit seconds)}``.
    """
    out: dict[str, tuple[np.ndarray, float]] = {}

    start = time.perf_counter()
    logistic = LogisticRegression(
        class_weight="balanced", max_iter=2000, random_state=seed
    )
    logistic.fit(x[train_idx], y[train_idx])
    scores = logistic.predict_proba(x)[:, 1]
    out["features_only"] = (scores, time.perf_counter() - start)

    start = time.perf_counter()
    both = np.hstack([x, x_neigh])
    boosted = HistGradientBoostingClassifier(
        class_weight="balanced", random_state=seed, max_iter=100
    )
    boosted.fit(both[train_idx], y[train_idx])
    scores = boosted.predict_proba(both)[:, 1]
    out["gbm_neighbours"] = (scores, time.perf_counter() - start)
    return out
