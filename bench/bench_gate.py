"""Latency of the gate check and of ``account show`` on a loaded store.

Steps:

1. unless the store already holds accounts: generate ``--accounts``
   accounts, load them and run detection;
2. build ``--checks`` applications, half reusing the identifiers of random
   existing accounts (raw values from the generated file), half fresh;
3. time each gate check on one open :class:`~ringfence.gate.Gate`, then
   ``account show`` (:func:`ringfence.queries.account_view`) on random
   accounts.

Usage::

    python bench/bench_gate.py --accounts 1000000 --work bench/out/gate
    python bench/bench_gate.py --store bench/out/gate/store --data \\
        bench/out/gate/data/accounts.csv          # reuse a loaded store
    python bench/bench_gate.py --store neo4j ...   # once the Neo4j store lands

Prints one JSON line with the figures and the command. The national-id key
is taken from ``RINGFENCE_NID_KEY`` (a fixed bench key when unset); reuse a
store only with the key it was loaded with.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import time
from pathlib import Path
from typing import Any

_BENCH_KEY = "ringfence-bench-key-not-secret"
_FIELDS = ("national_id", "phone", "email", "address", "device_id", "ip")


def _quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))
    return round(ordered[index], 3)


def _prepare(args: argparse.Namespace, store: Any, config: Any) -> dict[str, Any]:
    """Generate, load and detect unless the store already holds accounts."""
    from ringfence.generate import generate
    from ringfence.jobs import run_detection
    from ringfence.loaders.load import load_files

    info: dict[str, Any] = {}
    if store.counts()["accounts"]:
        info["reused_store"] = True
        return info
    started = time.perf_counter()
    files = generate(args.work / "data", args.accounts, args.seed)
    info["generate_s"] = round(time.perf_counter() - started, 1)
    args.data = args.data or files.accounts
    started = time.perf_counter()
    load_files(store, [files.accounts], [files.loans], config=config,
               reports_dir=args.work / "loads")
    info["load_s"] = round(time.perf_counter() - started, 1)
    started = time.perf_counter()
    run_detection(store, config)
    info["detect_s"] = round(time.perf_counter() - started, 1)
    return info


def _existing(args: argparse.Namespace, store: Any, n: int,
              rng: random.Random) -> list[dict[str, Any]]:
    """Raw identifier values of ``n`` random existing accounts."""
    if args.data and Path(args.data).exists():
        import pandas as pd

        rows = pd.read_csv(args.data, dtype=str, keep_default_na=False,
                           usecols=lambda c: c in ("account_id", *_FIELDS))
        picked = rows.sample(n=min(n, len(rows)), random_state=args.seed)
        return [{f: r[f] for f in _FIELDS if f in r and r[f]}
                for r in picked.to_dict("records")]
    # No data file: reuse the stored display values (national ids are masked
    # in the store, so these applications carry none).
    ids = list(store.iter_account_ids())
    sample = rng.sample(ids, min(n, len(ids)))
    links = store.links(sample)
    out: dict[str, dict[str, Any]] = {}
    for account_id, kind, display in zip(links["account_id"], links["kind"],
                                         links["display"], strict=True):
        if kind != "national_id":
            out.setdefault(str(account_id), {})[str(kind)] = str(display)
    return list(out.values())


def _fresh(n: int, rng: random.Random) -> list[dict[str, Any]]:
    apps = []
    for i in range(n):
        area = rng.choice(("541", "503", "971", "458"))
        apps.append({
            "national_id": f"6{rng.randrange(10**7, 10**8)}",
            "phone": f"{area}-{rng.randrange(200, 999)}-{rng.randrange(10**4):04d}",
            "email": f"bench.fresh.{i}.{rng.randrange(10**6)}@example.net",
            "address": f"{rng.randrange(1, 9999)} Bench Way, Salem, OR 97301",
            "device_id": f"{rng.getrandbits(64):016x}",
            "ip": f"100.{rng.randrange(64, 128)}.{rng.randrange(256)}."
                  f"{rng.randrange(1, 255)}",
        })
    return apps


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--accounts", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--checks", type=int, default=2000)
    parser.add_argument("--account-shows", type=int, default=500)
    parser.add_argument("--work", type=Path, default=Path("bench/out/gate"))
    parser.add_argument("--store", help="Store directory or 'neo4j' "
                        "(default: WORK/store); reused when it holds accounts.")
    parser.add_argument("--data", type=Path,
                        help="Accounts file the store was loaded from (for raw "
                        "identifier values of existing accounts).")
    args = parser.parse_args(argv)
    os.environ.setdefault("RINGFENCE_NID_KEY", _BENCH_KEY)
    if args.data is None and (args.work / "data" / "accounts.csv").exists():
        args.data = args.work / "data" / "accounts.csv"

    from ringfence.cli.common import cli_context, open_store
    from ringfence.config import Config
    from ringfence.gate import Gate
    from ringfence.queries import account_view

    config = Config()
    spec = args.store or str(args.work / "store")
    rng = random.Random(args.seed)
    store = open_store(cli_context(spec, None, False))
    try:
        info = _prepare(args, store, config)
    finally:
        store.close()

    # Checks run against a read-only store, as the gate opens it.
    store = open_store(cli_context(spec, None, False), readonly=True)
    try:
        half = args.checks // 2
        apps = _existing(args, store, half, rng) + _fresh(args.checks - half, rng)
        rng.shuffle(apps)
        gate = Gate(store, config)
        gate.check(apps[0])  # warm the normaliser caches and the page cache
        gate_ms: list[float] = []
        gate_cpu_ms: list[float] = []
        decisions: dict[str, int] = {}
        for app in apps:
            cpu = time.thread_time()
            started = time.perf_counter()
            out = gate.check(app)
            gate_ms.append((time.perf_counter() - started) * 1000)
            gate_cpu_ms.append((time.thread_time() - cpu) * 1000)
            decisions[out["decision"]] = decisions.get(out["decision"], 0) + 1

        ids = [str(a["account_id"]) for a in _sample_ids(store, args, rng)]
        show_ms: list[float] = []
        for account_id in ids:
            started = time.perf_counter()
            account_view(store, account_id)
            show_ms.append((time.perf_counter() - started) * 1000)
        accounts = store.counts()["accounts"]
    finally:
        store.close()

    print(json.dumps({
        "bench": "gate",
        "store": "neo4j" if spec == "neo4j" else "embedded",
        "accounts": accounts,
        "checks": len(gate_ms),
        "gate_p50_ms": _quantile(gate_ms, 0.50),
        "gate_p99_ms": _quantile(gate_ms, 0.99),
        "gate_max_ms": round(max(gate_ms), 3),
        "gate_mean_ms": round(statistics.fmean(gate_ms), 3),
        # CPU time of the checking thread: what a check costs when it is not
        # preempted, a fairer figure on a busy machine.
        "gate_cpu_p50_ms": _quantile(gate_cpu_ms, 0.50),
        "gate_cpu_p99_ms": _quantile(gate_cpu_ms, 0.99),
        "decisions": decisions,
        "account_shows": len(show_ms),
        "account_show_p50_ms": _quantile(show_ms, 0.50),
        "account_show_p95_ms": _quantile(show_ms, 0.95),
        **info,
        "cpus": os.cpu_count(),
        "load_average_1m": round(os.getloadavg()[0], 2),
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
    }))


def _sample_ids(store: Any, args: argparse.Namespace,
                rng: random.Random) -> list[dict[str, Any]]:
    if args.data and Path(args.data).exists():
        import pandas as pd

        ids = pd.read_csv(args.data, dtype=str, usecols=["account_id"])
        picked = ids.sample(n=min(args.account_shows, len(ids)),
                            random_state=args.seed + 1)
        return [{"account_id": a} for a in picked["account_id"]]
    all_ids = list(store.iter_account_ids())
    return [{"account_id": a}
            for a in rng.sample(all_ids, min(args.account_shows, len(all_ids)))]


if __name__ == "__main__":
    main()
