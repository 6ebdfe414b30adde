"""Benchmark of the GNN against its baselines on a generated graph.

Generates a population (default 200,000 accounts, 1.5% fraud, every
typology of the generator, camouflaged rings included), loads it into a
fresh embedded store, trains the GNN with the time split (train on older
labelled accounts, test on newer) and prints one JSON line: test AUPRC,
ROC-AUC and Rec@K (K = frauds in the test set) of the GNN, the
features-only model and gradient boosting with neighbour features, all
fitted in the same run, plus training time and peak memory, and each
model's recall at K per typology of the generator's answer key (read here
only, after training, to explain the figures).

Usage::

    python bench/bench_gnn.py [--accounts 200000] [--fraud-rate 0.015]
                              [--split time|random] [--label-rate 0.3]
                              [--layers 2] [--seed 7] [--out bench/out]
                              [--without-camouflaged-rings]
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import resource
import secrets
import shutil
import time
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--accounts", type=int, default=200_000)
    parser.add_argument("--fraud-rate", type=float, default=0.015)
    parser.add_argument("--split", choices=["time", "random"], default="time")
    parser.add_argument("--label-rate", type=float, default=0.3,
                        help="share of accounts with a known label")
    parser.add_argument("--layers", type=int, default=2,
                        help="rounds of message passing of the GNN")
    parser.add_argument("--without-camouflaged-rings", action="store_true",
                        help="leave the camouflaged_ring typology out")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--out", type=Path, default=Path("bench/out"))
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    os.environ.setdefault("RINGFENCE_NID_KEY", secrets.token_hex(16))

    from ringfence.config import Config
    from ringfence.detectors.gnn import train_gnn
    from ringfence.generate import generate
    from ringfence.graph.embedded import EmbeddedStore
    from ringfence.loaders.load import load_files

    work = args.out / f"gnn-{args.accounts}"
    shutil.rmtree(work, ignore_errors=True)
    started = time.perf_counter()
    files = generate(work / "data", args.accounts, args.seed,
                     fraud_rate=args.fraud_rate, label_rate=args.label_rate,
                     camouflaged_rings=not args.without_camouflaged_rings)
    store = EmbeddedStore(work / "store")
    load_files(store, [files.accounts], [files.loans], config=Config(),
               reports_dir=work / "loads")
    snapshot = store.snapshot()
    prepared = time.perf_counter() - started

    started = time.perf_counter()
    result = train_gnn(snapshot, seed=args.seed, split=args.split,
                       layers=args.layers)
    train_wall = time.perf_counter() - started
    metrics = result.metrics
    best_baseline = max(metrics["features_only"]["auprc"],
                        metrics["gbm_neighbours"]["auprc"])
    print(json.dumps({
        "accounts": args.accounts,
        "links": len(snapshot.links),
        "fraud_rate": args.fraud_rate,
        "split": args.split,
        "label_rate": args.label_rate,
        "gnn": metrics["gnn"],
        "features_only": metrics["features_only"],
        "gbm_neighbours": metrics["gbm_neighbours"],
        "recall_at_k_by_typology": _by_typology(result, files.truth),
        "gnn_minus_best_baseline_auprc": round(
            metrics["gnn"]["auprc"] - best_baseline, 4),
        "train_wall_s": round(train_wall, 1),
        "epochs_run": metrics.get("epochs_run"),
        "prepare_s": round(prepared, 1),
        "peak_rss_mb": round(
            resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "command": f"python bench/bench_gnn.py --accounts {args.accounts} "
                   f"--fraud-rate {args.fraud_rate} --split {args.split} "
                   f"--label-rate {args.label_rate} --layers {args.layers} "
                   f"--seed {args.seed}"
                   + (" --without-camouflaged-rings"
                      if args.without_camouflaged_rings else ""),
    }), flush=True)


def _by_typology(result, truth_path: Path) -> dict[str, dict[str, str]]:
    """Per model and typology: test accounts in the model's top K ("legit":
    false positives)."""
    import numpy as np
    import pandas as pd

    truth = pd.read_csv(truth_path, dtype=str, keep_default_na=False)
    typology = truth.set_index("account_id")["typology"]
    test = result.splits["test"]
    ids = result.scores.index[test]
    kinds = typology.reindex(ids).fillna("unknown").to_numpy()
    models = {"gnn": result.scores} | result.baseline_scores
    k = int((kinds != "legit").sum())  # test labels agree with the truth
    out: dict[str, dict[str, str]] = {}
    for name, scores in models.items():
        values = scores.to_numpy()[test]
        top = np.zeros(len(values), dtype=bool)
        top[np.argsort(-values, kind="stable")[:k]] = True
        out[name] = {
            kind: f"{int((top & (kinds == kind)).sum())}/{int((kinds == kind).sum())}"
            for kind in sorted(set(kinds))
        }
    return out


if __name__ == "__main__":
    main()
