"""Benchmark of the GNN against its baselines on a generated graph.

Generates a population (default 200,000 accounts, 1.5% fraud, every
typology), loads it into a fresh embedded store, trains the GNN with the
time split (train on older labelled accounts, test on newer) and prints one
JSON line: test AUPRC, ROC-AUC and Rec@K (K = frauds in the test set) of the
GNN, the features-only model and gradient boosting with neighbour features,
all fitted in the same run, plus training time and peak memory.

Usage::

    python bench/bench_gnn.py [--accounts 200000] [--fraud-rate 0.015]
                              [--split time|random] [--label-rate 0.3]
                              [--seed 7] [--out bench/out]
"""

from __future__ import annotations

import argparse
import json
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
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--out", type=Path, default=Path("bench/out"))
    args = parser.parse_args()
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
                     fraud_rate=args.fraud_rate, label_rate=args.label_rate)
    store = EmbeddedStore(work / "store")
    load_files(store, [files.accounts], [files.loans], config=Config(),
               reports_dir=work / "loads")
    snapshot = store.snapshot()
    prepared = time.perf_counter() - started

    started = time.perf_counter()
    result = train_gnn(snapshot, seed=args.seed, split=args.split)
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
        "gnn_minus_best_baseline_auprc": round(
            metrics["gnn"]["auprc"] - best_baseline, 4),
        "train_wall_s": round(train_wall, 1),
        "epochs_run": metrics.get("epochs_run"),
        "prepare_s": round(prepared, 1),
        "peak_rss_mb": round(
            resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "command": f"python bench/bench_gnn.py --accounts {args.accounts} "
                   f"--fraud-rate {args.fraud_rate} --split {args.split} "
                   f"--label-rate {args.label_rate} --seed {args.seed}",
    }), flush=True)


if __name__ == "__main__":
    main()
