"""Benchmark of the bulk import's Python half: normalise, merge, write CSVs.

Runs the first two steps of ``ringfence neo4j import`` (``load_files`` into
a :class:`~ringfence.graph.neo4j_csv.CsvSpool`, then its ``finish``) on
existing account and loan files, without any Neo4j, and reports wall time
and the CPU time of the loading process and of its worker processes. CPU
per row is what bounds the step on a machine with few cores, whatever the
other jobs do; the load average is printed before and after.

Usage::

    python bench/bench_spool.py --data /tmp/rf-bench-1m/data [--rows 100000]
"""

from __future__ import annotations

import argparse
import gc
import itertools
import json
import os
import resource
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("RINGFENCE_NID_KEY", "bench-only-key-0123456789abcdef")


def _loadavg() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def _cpu(who: int) -> float:
    usage = resource.getrusage(who)
    return usage.ru_utime + usage.ru_stime


def _head(src: Path, dest: Path, rows: int | None) -> None:
    with open(src, encoding="utf-8") as inp, open(dest, "w", encoding="utf-8") as out:
        lines = inp if rows is None else itertools.islice(inp, rows + 1)
        out.writelines(lines)


def run(args: argparse.Namespace) -> dict[str, Any]:
    import ringfence
    from ringfence.config import Config
    from ringfence.graph.neo4j_csv import CsvSpool
    from ringfence.loaders.load import load_files

    data = Path(args.data)
    figures: dict[str, Any] = {
        "command": " ".join([sys.executable, *sys.argv]),
        "ringfence": str(Path(ringfence.__file__).parent),
        "loadavg_before": _loadavg(),
        "cpus": os.cpu_count(),
    }
    with tempfile.TemporaryDirectory(prefix="rf-spool-") as tmp:
        work = Path(tmp)
        accounts, loans = work / "accounts.csv", work / "loans.csv"
        _head(data / "accounts.csv", accounts, args.rows)
        _head(data / "loans.csv", loans, args.rows)
        (work / "csv").mkdir()

        main0, kids0 = _cpu(resource.RUSAGE_SELF), _cpu(resource.RUSAGE_CHILDREN)
        started = time.perf_counter()
        gc.disable()  # as bulk_import does around these two steps
        spool = CsvSpool(work / "csv")
        reports = load_files(spool, [accounts], [loans], config=Config(),
                             reports_dir=work / "loads")
        spooled = time.perf_counter()
        files = spool.finish()
        finished = time.perf_counter()
        gc.enable()
        main = _cpu(resource.RUSAGE_SELF) - main0
        kids = _cpu(resource.RUSAGE_CHILDREN) - kids0

    rows = sum(r.rows_read for r in reports)
    account_rows = reports[0].rows_read
    figures.update(
        account_rows=account_rows,
        loan_rows=rows - account_rows,
        counts=files.counts,
        spool_s=round(spooled - started, 2),
        export_s=round(finished - spooled, 2),
        wall_s=round(finished - started, 2),
        cpu_main_s=round(main, 1),
        cpu_workers_s=round(kids, 1),
        cpu_us_per_account_row=round((main + kids) / account_rows * 1e6, 1),
        account_rows_per_s=round(account_rows / (finished - started), 1),
        peak_rss_main_mib=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024,
        loadavg_after=_loadavg(),
    )
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", required=True,
                        help="folder of accounts.csv and loans.csv")
    parser.add_argument("--rows", type=int, default=None,
                        help="first rows of each file only (default: all)")
    print(json.dumps(run(parser.parse_args())), flush=True)


if __name__ == "__main__":
    main()
