"""Benchmark of the main job on the embedded store: wall time and peak memory.

For each size it runs, each in a fresh child process so peak memory is the
job's own:

* the main job: ``ringfence demo --no-gnn`` (generate, load, detect, export,
  evaluate), and optionally the same with the GNN;
* a baseline in the same run: reading the generated accounts file with
  pandas, the I/O floor any loader pays; the job is reported as a ratio to it.

Usage::

    python bench/bench_main.py --sizes 100000 1000000 [--gnn] [--out bench/out]

Prints one JSON line per size.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

_READ = """
import sys, pandas as pd, resource
pd.read_csv(sys.argv[1], dtype=str, keep_default_na=False)
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
"""


def _child_peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024


def run(size: int, out: Path, gnn: bool, seed: int) -> dict[str, object]:
    work = out / f"n{size}"
    cmd = [
        sys.executable, "-m", "ringfence.cli.main", "demo", "--accounts", str(size),
        "--seed", str(seed), "--out", str(work), "--json",
        "--gnn" if gnn else "--no-gnn",
    ]
    started = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - started
    if proc.returncode != 0:
        raise SystemExit(f"demo failed at {size}: {proc.stderr[-2000:]}")
    summary = json.loads(proc.stdout)

    started = time.perf_counter()
    read = subprocess.run(
        [sys.executable, "-c", _READ, str(work / "data" / "accounts.csv")],
        capture_output=True, text=True, check=True,
    )
    read_wall = time.perf_counter() - started
    return {
        "accounts": size,
        "gnn": gnn,
        "wall_s": round(wall, 1),
        "peak_rss_mb": summary["peak_rss_mb"],
        "step_seconds": summary["step_seconds"],
        "ring_f1": summary["ring_f1"],
        "account_precision": summary["account_precision"],
        "baseline_ring_f1": summary["baseline_ring_f1"],
        "pandas_read_s": round(read_wall, 1),
        "pandas_read_peak_mb": round(float(read.stdout.strip()), 1),
        "ratio_job_to_pandas_read": round(wall / read_wall, 1),
        "command": " ".join(cmd[2:]),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000])
    parser.add_argument("--gnn", action="store_true")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--out", type=Path, default=Path("bench/out"))
    args = parser.parse_args()
    os.environ.setdefault("PYTHONHASHSEED", "0")
    for size in args.sizes:
        print(json.dumps(run(size, args.out, args.gnn, args.seed)), flush=True)


if __name__ == "__main__":
    main()
