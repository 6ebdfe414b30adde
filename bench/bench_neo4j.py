"""Benchmark of loading and querying Neo4j: bulk import, batched Bolt, naive.

One run, on a server of its own (home ``.neo4j/bench-<pid>``, a free port):

a. bulk import of N generated accounts (and their loans) into the empty
   database with :func:`ringfence.graph.neo4j_bulk.bulk_import`;
b. the batched Bolt load (:class:`Neo4jStore` through ``load_files``) of the
   first ``--batched-sample`` accounts, loans included;
c. a naive loader on the first ``--naive-sample`` accounts: one auto-commit
   ``MERGE`` statement per account row with its identifiers (kind labels and
   the store's constraints in place, so lookups are indexed);
d. detection end to end on the bulk-loaded graph (``run_detection``:
   snapshot, detect, write back);
e. ``account show`` latency (``account_view``) of 600 random accounts,
   after warming the page cache as ``ringfence neo4j start`` does (also
   with ``--skip-detect``, which skips d): the first 100 apart, as the
   restarted server still plans its queries and compiles its code, then
   the other 500.

b and c run first, each on an empty database that is cleared afterwards.
Every rate counts account rows read from the file per second of wall time,
normalisation included. Prints one JSON line with every figure, the command
and the load average before and after.

Usage::

    python bench/bench_neo4j.py --accounts 1000000 [--out /tmp/ringfence-bench-neo4j]
"""

from __future__ import annotations

import argparse
import csv
import json
import logging
import os
import random
import secrets
import shutil
import signal
import socket
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, cast

REPO = Path(__file__).resolve().parents[1]
os.environ.setdefault("RINGFENCE_NID_KEY", "bench-only-key-0123456789abcdef")


# account show: the first queries of the restarted server, then the timed ones
_FIRST_SHOWS = 100
_SHOWS = 500


def _percentiles(times: list[float]) -> dict[str, float]:
    ordered = sorted(times)
    return {
        "p50": round(ordered[len(ordered) // 2], 1),
        "p95": round(ordered[int(len(ordered) * 0.95)], 1),
    }


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _loadavg() -> str:
    one, five, fifteen = os.getloadavg()
    return f"{one:.2f} {five:.2f} {fifteen:.2f}"


def _head(src: Path, dest: Path, rows: int) -> set[str]:
    """Copy the header and the first ``rows`` rows; return their account ids."""
    ids: set[str] = set()
    with open(src, newline="", encoding="utf-8") as inp, open(
        dest, "w", newline="", encoding="utf-8"
    ) as out:
        reader, writer = csv.reader(inp), csv.writer(out)
        header = next(reader)
        writer.writerow(header)
        col = header.index("account_id")
        for n, row in enumerate(reader):
            if n >= rows:
                break
            writer.writerow(row)
            ids.add(row[col])
    return ids


def _loans_of(src: Path, dest: Path, ids: set[str]) -> None:
    with open(src, newline="", encoding="utf-8") as inp, open(
        dest, "w", newline="", encoding="utf-8"
    ) as out:
        reader, writer = csv.reader(inp), csv.writer(out)
        header = next(reader)
        writer.writerow(header)
        col = header.index("account_id")
        writer.writerows(row for row in reader if row[col] in ids)


def _clear(store: Any) -> None:
    with store._driver.session(database=store.database) as session:
        session.run(
            "MATCH (n) CALL (n) { DETACH DELETE n } IN TRANSACTIONS OF 10000 ROWS"
        ).consume()


class _NaiveStore:
    """Just enough of a store for ``load_files``: one statement per row."""

    def __init__(self, store: Any) -> None:
        self._store = store

    def get_setting(self, name: str) -> str | None:
        return self._store.get_setting(name)  # type: ignore[no-any-return]

    def set_setting(self, name: str, value: str) -> None:
        self._store.set_setting(name, value)

    @contextmanager
    def load(self) -> Iterator[Any]:
        from ringfence.graph.base import LoadWriter

        store = self._store
        store._ensure_schema()
        session = store._driver.session(database=store.database)

        class Writer(LoadWriter):
            def write(self, records: Sequence[Any], products: Sequence[Any]) -> None:
                for rec in records:
                    parts = [
                        "MERGE (a:Account {account_id: $id}) "
                        "ON CREATE SET a.created_at = $created, a.seen_at = $seen, "
                        "a.full_name = $name, a.date_of_birth = $dob, "
                        "a.label = $label"
                    ]
                    params: dict[str, Any] = {
                        "id": rec.account_id, "created": int(rec.created_at),
                        "seen": int(rec.seen_at), "name": rec.full_name,
                        "dob": rec.date_of_birth, "label": rec.label,
                    }
                    for n, ident in enumerate(rec.identifiers):
                        label = store._label(ident.kind)
                        parts.append(
                            f"MERGE (i{n}:`{label}` {{key: $k{n}}}) "
                            f"ON CREATE SET i{n}:Identifier, i{n}.kind = $kind{n}, "
                            f"i{n}.display = $d{n}, i{n}.valid = $v{n}, "
                            f"i{n}.extra = $e{n} "
                            f"MERGE (a)-[r{n}:HAS]->(i{n}) "
                            f"ON CREATE SET r{n}.first_seen = $seen, "
                            f"r{n}.last_seen = $seen"
                        )
                        params.update({
                            f"k{n}": ident.key, f"kind{n}": ident.kind,
                            f"d{n}": ident.display, f"v{n}": bool(ident.valid),
                            f"e{n}": ident.extra,
                        })
                    session.run(" ".join(parts), params).consume()

        try:
            yield Writer()
        finally:
            session.close()


def _timed_load(store: Any, accounts: Path, loans: Sequence[Path],
                reports: Path) -> tuple[float, int]:
    from ringfence.config import Config
    from ringfence.graph.base import GraphStore
    from ringfence.loaders.load import load_files

    started = time.perf_counter()
    out = load_files(cast(GraphStore, store), [accounts], list(loans),
                     config=Config(), reports_dir=reports)
    return time.perf_counter() - started, out[0].rows_read


def run(args: argparse.Namespace) -> dict[str, Any]:
    import ringfence
    from ringfence.config import Config
    from ringfence.generate import generate
    from ringfence.graph import neo4j_server
    from ringfence.graph.neo4j_bulk import bulk_import
    from ringfence.graph.neo4j_store import Neo4jStore
    from ringfence.jobs import run_detection
    from ringfence.queries import account_view

    out = Path(args.out).absolute()
    out.mkdir(parents=True, exist_ok=True)
    figures: dict[str, Any] = {
        "command": " ".join([sys.executable, *sys.argv]),
        "accounts": args.accounts,
        "loadavg_before": _loadavg(),
        "cpus": os.cpu_count(),
    }

    figures["ringfence"] = str(Path(ringfence.__file__).parent)
    if args.data:
        # Files generated by an earlier run: same seed and size, no regeneration.
        accounts = Path(args.data) / "accounts.csv"
        loans = Path(args.data) / "loans.csv"
    else:
        mark = time.perf_counter()
        files = generate(out / "data", args.accounts, seed=args.seed)
        figures["generate_s"] = round(time.perf_counter() - mark, 1)
        accounts, loans = Path(files.accounts), Path(files.loans)
    batched_ids = _head(accounts, out / "batched.csv", args.batched_sample)
    _loans_of(loans, out / "batched-loans.csv", batched_ids)
    _head(accounts, out / "naive.csv", args.naive_sample)

    home = REPO / ".neo4j" / f"bench-{os.getpid()}"
    shutil.rmtree(home, ignore_errors=True)
    os.environ.setdefault("RINGFENCE_NEO4J_JARS", str(REPO / ".neo4j" / "lib"))
    password = secrets.token_urlsafe(16)
    info = neo4j_server.start(home, password=password, bolt_port=_free_port(),
                              heap=args.heap, pagecache=args.pagecache)
    try:
        # c. naive, then b. batched, each into an empty database; the
        # constraints exist before either is timed
        with Neo4jStore(info.uri, "neo4j", password) as store:
            store._ensure_schema()
            for kind in ("national_id", "phone", "email", "address", "device",
                         "ip", *Config().extra_kinds):
                store._label(kind)
            wall, rows = _timed_load(_NaiveStore(store), out / "naive.csv", [],
                                     out / "loads")
            figures["naive"] = {"rows": rows, "seconds": round(wall, 2),
                                "records_per_s": round(rows / wall, 1)}
            _clear(store)
            wall, rows = _timed_load(store, out / "batched.csv",
                                     [out / "batched-loans.csv"], out / "loads")
            counts = store.counts()
            elements = sum(counts.values()) + counts["products"]
            figures["batched"] = {
                "rows": rows, "seconds": round(wall, 2),
                "records_per_s": round(rows / wall, 1),
                "graph_elements_per_s": round(elements / wall, 1),
            }
            _clear(store)

        # a. bulk import of everything
        mark = time.perf_counter()
        result = bulk_import([accounts], [loans], config=Config(),
                             reports_dir=out / "loads", home=home,
                             password=password, heap=args.heap,
                             pagecache=args.pagecache)
        wall = time.perf_counter() - mark
        rows = result.reports[0].rows_read
        elements = sum(result.counts.values())
        figures["bulk"] = {
            "rows": rows, "seconds": round(wall, 2),
            "records_per_s": round(rows / wall, 1),
            "graph_elements": elements,
            "graph_elements_per_s": round(elements / wall, 1),
            "counts": result.counts, "steps_s": result.seconds,
        }
        naive = figures["naive"]["records_per_s"]
        figures["bulk_over_naive"] = round(rows / wall / naive, 1)
        figures["batched_over_naive"] = round(
            figures["batched"]["records_per_s"] / naive, 1
        )

        with Neo4jStore(info.uri, "neo4j", password) as store:
            if not args.skip_detect:
                # d. detection end to end
                mark = time.perf_counter()
                detection = run_detection(store, Config(), run_id="bench")
                figures["detect_s"] = round(time.perf_counter() - mark, 1)
                figures["rings"] = len(detection.rings)

            # e. account show latency, the page cache warmed as `ringfence
            # neo4j start` warms it (the bulk import's restart does not)
            mark = time.perf_counter()
            store.warm_up()
            figures["warm_s"] = round(time.perf_counter() - mark, 1)
            ids = list(store.iter_account_ids())
            rng = random.Random(args.seed)
            times = []
            for account_id in rng.sample(ids, min(_SHOWS + _FIRST_SHOWS, len(ids))):
                mark = time.perf_counter()
                account_view(store, account_id)
                times.append((time.perf_counter() - mark) * 1000)
            # The first queries after a restart also wait for Cypher to plan
            # them and for the JVM to compile its hot code; an investigator
            # meets a server that has long been answering.
            figures["account_show_first_ms"] = _percentiles(times[:_FIRST_SHOWS])
            figures["account_show_ms"] = _percentiles(times[_FIRST_SHOWS:])
    finally:
        pid = neo4j_server.status(home)["pid"]
        if pid is not None:
            os.kill(pid, signal.SIGKILL)
        neo4j_server.stop(home, timeout_s=30)
        shutil.rmtree(home, ignore_errors=True)
        figures["loadavg_after"] = _loadavg()
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--accounts", type=int, default=1_000_000)
    parser.add_argument("--batched-sample", type=int, default=50_000)
    parser.add_argument("--naive-sample", type=int, default=1_500)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--heap", default="2g")
    parser.add_argument("--pagecache", default="2g")
    parser.add_argument("--out", default="/tmp/ringfence-bench-neo4j")
    parser.add_argument("--data", help="folder of accounts.csv and loans.csv "
                        "generated earlier (skips generation)")
    parser.add_argument("--skip-detect", action="store_true",
                        help="stop after the loads (no detection, no account show)")
    parser.add_argument("--importer-log", action="store_true",
                        help="print the bulk import's steps and the importer's "
                        "own output on stderr")
    args = parser.parse_args()
    if args.importer_log:
        logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
        logging.getLogger("ringfence.graph.neo4j_bulk").setLevel(logging.DEBUG)
    print(json.dumps(run(args)), flush=True)


if __name__ == "__main__":
    main()
