"""The detection run: snapshot in, rings and decisions out.

Steps:

1. link accounts through specific shared identifiers (hubs excluded);
2. group and split, score the groups, keep the rings;
3. carry ring ids over from the previous run (lineage);
4. decide every account, optionally with GNN scores.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import time
from dataclasses import asdict

import pandas as pd

from ringfence.config import Config
from ringfence.detectors.lineage import assign_lineage
from ringfence.detectors.linking import link_accounts
from ringfence.detectors.rings import decide, score_groups
from ringfence.graph.base import GraphSnapshot
from ringfence.model import DetectionResult

__all__ = ["detect", "new_run_id"]

logger = logging.getLogger(__name__)


def new_run_id(now: dt.datetime | None = None) -> str:
    """A sortable run id, ``run-YYYYmmddTHHMMSSffffffZ``."""
    now = now or dt.datetime.now(dt.UTC)
    return "run-" + now.strftime("%Y%m%dT%H%M%S%fZ")


def detect(
    snapshot: GraphSnapshot,
    config: Config,
    *,
    previous_rings: pd.DataFrame | None = None,
    gnn_scores: pd.Series | None = None,
    run_id: str | None = None,
) -> DetectionResult:
    """Run ring detection over ``snapshot``.

    Args:
        snapshot: The graph.
        config: Detection settings.
        previous_rings: Rings of the previous run (``GraphStore.rings()``),
            to keep ring ids stable across runs.
        gnn_scores: Optional GNN fraud scores by account id.
        run_id: Id of this run (default: from the clock).

    Returns:
        The run's rings, decisions for every account and hubs.
    """
    started = time.perf_counter()
    now = dt.datetime.now(dt.UTC)
    run_id = run_id or new_run_id(now)

    # 1. link
    links = link_accounts(snapshot, config)
    t_link = time.perf_counter() - started

    # 2. score
    rings = score_groups(snapshot, links, config)

    # 3. lineage
    if previous_rings is not None and len(previous_rings):
        assign_lineage(rings, previous_rings)

    # 4. decide
    account_ids = snapshot.accounts["account_id"].astype(str).tolist()
    decisions = decide(account_ids, rings, config, gnn_scores)
    params = {
        "detect": asdict(config.detect),
        "gnn_policy": asdict(config.gnn) if gnn_scores is not None else None,
        "kinds": config.kinds,
    }
    flagged = sum(1 for d in decisions if d.decision != "allow")
    metrics = {
        "accounts": len(account_ids),
        "identifiers": len(snapshot.identifiers),
        "links": len(snapshot.links),
        "linked_pairs": len(links.pair_a),
        "groups": len(links.groups),
        "rings": len(rings),
        "hubs": len(links.hubs),
        "flagged": flagged,
        "seconds_link": round(t_link, 3),
        "seconds": round(time.perf_counter() - started, 3),
        "params_digest": hashlib.sha256(
            json.dumps(params, sort_keys=True, default=str).encode()
        ).hexdigest()[:12],
    }
    logger.info(
        "detection %s: %d rings, %d flagged, %d hubs in %.1fs",
        run_id, len(rings), flagged, len(links.hubs), metrics["seconds"],
    )
    return DetectionResult(
        run_id=run_id,
        generated_at=now.isoformat(timespec="seconds"),
        params=params,
        rings=rings,
        decisions=decisions,
        hubs=links.hubs,
        metrics=metrics,
    )
