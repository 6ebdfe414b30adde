"""Bulk initial load of an empty Neo4j database with Neo4j's offline importer.

Loading over Bolt merges every batch inside transactions and runs at about a
thousand accounts a second on a small host. A first load into an empty
database does not need merges: :func:`bulk_import` builds the whole graph
aside and hands it to ``neo4j-admin database import full``, which writes the
store files directly.

Steps:

1. check that the server of ``home`` runs and that its ``neo4j`` database
   holds no node at all;
2. load the input files with :func:`ringfence.loaders.load.load_files`
   into a :class:`~ringfence.graph.neo4j_csv.CsvSpool`: the same
   normalisation, rejects, ignored values and accounting as any load, and
   the embedded store's merge rules (earliest ``created_at``, newest
   attributes, first attributes of an identifier, min/max link times,
   products keyed as in every store), merged in memory;
3. write the node and relationship CSV files in the importer's header
   format, one identifier file per kind;
4. run the importer into ``neo4j`` with ``--overwrite-destination`` once
   the server is down (it is stopped in the background while steps 2 and
   3 run), then start the server again (also when anything failed);
5. create the constraints and indexes exactly as
   :class:`~ringfence.graph.neo4j_store.Neo4jStore` does.

The result is the graph a Bolt load of the same files builds (same labels,
properties and relationships; national ids only as their keyed hashes).

Notes:
    The CSV files live in a temporary folder inside ``home`` and take
    roughly 0.5 KB per account; they are deleted at the end. The spool
    holds about 2.5 KB of memory per account until the files are written
    (2.6 GiB at a million accounts). The server is down from the start of
    step 2 until the import ends. Only the ``neo4j`` database can be
    bulk-loaded, and only when it is empty: later loads go over Bolt
    (``ringfence --store neo4j load``).
"""

from __future__ import annotations

import gc
import logging
import os
import shutil
import subprocess
import tempfile
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from ringfence.config import Config
from ringfence.errors import ConfigError, StoreError
from ringfence.graph import neo4j_server
from ringfence.graph.neo4j_csv import CsvSpool, ImportFiles
from ringfence.graph.neo4j_store import (
    _IDENT_CONSTRAINT,
    _SCHEMA,
    Neo4jStore,
    _label_of,
)
from ringfence.loaders.load import LoadReport, ProgressFn, load_files

__all__ = ["BulkResult", "bulk_import"]

logger = logging.getLogger(__name__)

_DATABASE = "neo4j"

@dataclass(slots=True)
class BulkResult:
    """What a bulk import did.

    Attributes:
        reports: One load report per input file, as ``load_files`` returns.
        counts: Nodes and relationships written: ``accounts``,
            ``identifiers``, ``links``, ``products``, ``holds`` and
            ``settings`` (the store's ``Meta`` nodes).
        seconds: Wall time of each step (``spool``, ``export``, ``import``,
            ``restart``, ``schema``) and ``total``.
    """

    reports: list[LoadReport]
    counts: dict[str, int] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)


def _password(home: Path, password: str | None) -> str:
    given = password or os.environ.get("NEO4J_PASSWORD")
    if given:
        return given
    saved = home / "password"
    if saved.exists():
        return saved.read_text().strip()
    raise ConfigError(
        f"no password for the Neo4j server in {home}: set NEO4J_PASSWORD"
    )


def _open(uri: str, password: str) -> Neo4jStore:
    return Neo4jStore(uri, "neo4j", password, _DATABASE)


def _check_empty(store: Neo4jStore) -> None:
    ((nodes,),) = store._rows("MATCH (n) RETURN count(n)")
    if nodes:
        raise StoreError(
            f"the Neo4j database {_DATABASE!r} at {store.uri} already holds "
            f"{nodes} nodes: the bulk import only fills an empty database; "
            "load into it over Bolt instead (`ringfence --store neo4j load "
            "ACCOUNTS... --loans FILE`)"
        )


# -- import ------------------------------------------------------------------


def _run_importer(
    home: Path, args: Sequence[str], multiline: bool, heap: str, report: Path
) -> None:
    lib = neo4j_server.ensure_jars(home)
    env = dict(os.environ, NEO4J_HOME=str(home), NEO4J_CONF=str(home / "conf"))
    # The importer is a batch job: the throughput collector beats G1 by a
    # tenth, and twice as many threads as cores keep the cores busy while
    # some threads wait on the disk (measured on 2 cores at 1M accounts).
    flags = [f for f in neo4j_server._JVM_FLAGS if f != "-XX:+UseG1GC"]
    cmd = [
        "java", f"-Xmx{heap}", "-XX:+UseParallelGC", *flags, "-cp", f"{lib}/*",
        # The database comes first: each --nodes option takes several files.
        neo4j_server._ADMIN_TOOL, "database", "import", "full", _DATABASE,
        "--overwrite-destination=true", "--id-type=actual",
        f"--threads={2 * (os.cpu_count() or 1)}",
        "--bad-tolerance=0", f"--report-file={report}",
        f"--multiline-fields={'true' if multiline else 'false'}",
        *args,
    ]
    proc = subprocess.run(
        cmd, env=env, cwd=home, capture_output=True, text=True, check=False
    )
    if proc.returncode != 0:
        # The importer's message, without the Java stack frames under it.
        lines = [
            line.strip() for line in (proc.stdout + proc.stderr).splitlines()
            if line.strip() and not line.lstrip().startswith(("at ", "..."))
        ]
        tail = " | ".join(lines[-6:])
        raise StoreError(
            f"neo4j-admin database import failed (exit {proc.returncode}): {tail}; "
            f"the server of {home} was restarted, its {_DATABASE!r} database may "
            "be empty or partial: fix the cause and import again"
        )
    logger.debug("neo4j importer output:\n%s", proc.stdout[-4000:])


def _discard_database(home: Path) -> None:
    """Remove the store and transaction files of the imported database."""
    for part in ("databases", "transactions"):
        path = home / "data" / part / _DATABASE
        if path.exists():
            logger.warning("removing %s, left unusable by a failed import", path)
            shutil.rmtree(path)


class _Stopping:
    """Stops the server of ``home`` in a background thread."""

    def __init__(self, home: Path) -> None:
        self._error: BaseException | None = None
        self._thread = threading.Thread(
            target=self._stop, args=(home,), name="neo4j-stop", daemon=True
        )
        self._thread.start()

    def _stop(self, home: Path) -> None:
        try:
            neo4j_server.stop(home)
        except BaseException as exc:  # re-raised in the caller's thread
            self._error = exc

    def wait(self, *, raise_error: bool = True) -> None:
        self._thread.join()
        if self._error is not None and raise_error:
            raise self._error


def _spool(
    out: Path,
    accounts: Sequence[str | Path],
    loans: Sequence[str | Path],
    config: Config,
    reports_dir: str | Path,
    progress: ProgressFn | None,
    seconds: dict[str, float],
) -> tuple[ImportFiles, list[LoadReport]]:
    """Load the inputs into a CSV spool and write its files."""
    mark = time.perf_counter()
    spool = CsvSpool(out)
    # The spool holds millions of objects and makes no reference cycles:
    # the cyclic collector would only walk them again and again.
    collecting = gc.isenabled()
    gc.disable()
    try:
        reports = load_files(spool, accounts, loans, config=config,
                             reports_dir=reports_dir, progress=progress)
        seconds["spool"] = time.perf_counter() - mark
        return spool.finish(), reports
    finally:
        spool.close()
        if collecting:
            gc.enable()


def bulk_import(
    accounts: Sequence[str | Path],
    loans: Sequence[str | Path] = (),
    *,
    config: Config,
    reports_dir: str | Path,
    home: str | Path | None = None,
    password: str | None = None,
    heap: str = "2g",
    pagecache: str = "2g",
    progress: ProgressFn | None = None,
) -> BulkResult:
    """Fill the empty ``neo4j`` database of a local server from input files.

    Args:
        accounts: Account tables, as for :func:`~ringfence.loaders.load.load_files`.
        loans: Loan tables.
        config: Settings (normalisation, national-id key, reject limits).
        reports_dir: Where the rejects and ignored-values files go.
        home: Home of the running server (default:
            :func:`~ringfence.graph.neo4j_server.default_home`).
        password: Password of the ``neo4j`` user (default: ``NEO4J_PASSWORD``,
            else ``<home>/password``).
        heap: JVM heap of the importer and of the restarted server.
        pagecache: Page cache of the restarted server.
        progress: Called with the number of rows read since the last call.

    Returns:
        The load reports, element counts and the time of each step.

    Raises:
        StoreError: The server is not running, its database is not empty, an
            identifier kind cannot be a label, or the importer failed.
        InputError: As :func:`~ringfence.loaders.load.load_files`; nothing
            reaches Neo4j then, and the server is started again.

    Notes:
        Time and disk grow linearly with the input; the server is stopped
        while the rows are normalised and restarted on the same port.
    """
    # 1. a running server with an empty database
    started = time.perf_counter()
    home = (Path(home) if home is not None else neo4j_server.default_home()).absolute()
    state = neo4j_server.status(home)
    if not state["running"]:
        raise StoreError(
            f"no Neo4j server runs in {home}: start it with `ringfence neo4j "
            f"start --home {home}` (the bulk import checks that it is empty)"
        )
    uri = str(state["uri"])
    port = int(uri.rsplit(":", 1)[1])
    pw = _password(home, password)
    with _open(uri, pw) as store:
        assert isinstance(store, Neo4jStore)
        _check_empty(store)

    seconds: dict[str, float] = {}
    with tempfile.TemporaryDirectory(prefix="bulk-", dir=home) as tmp:
        work = Path(tmp)

        # 2-4. The server shuts down while the rows are normalised (that is
        # mostly waiting for it); whatever happens next, it is started again.
        stopping = _Stopping(home)
        importing = False
        try:
            # 2. normalise and merge into the importer's files
            mark = time.perf_counter()
            csv_dir = work / "csv"
            csv_dir.mkdir()
            files, reports = _spool(csv_dir, accounts, loans, config,
                                    reports_dir, progress, seconds)
            seconds["export"] = time.perf_counter() - mark - seconds["spool"]
            logger.info("bulk import: %s exported in %.1fs", files.counts,
                        seconds["export"])

            # 3. import once the server is down
            mark = time.perf_counter()
            stopping.wait()
            importing = True
            _run_importer(home, files.args, files.multiline, heap,
                          work / "import.report")
            importing = False
            seconds["import"] = time.perf_counter() - mark
        finally:
            stopping.wait(raise_error=False)
            if importing:
                # The importer failed half-way: its database would not open.
                # It was empty before (checked above), so nothing is lost by
                # letting the server create it afresh.
                _discard_database(home)
            # 4. start again; a failure to start must not hide the import's
            mark = time.perf_counter()
            try:
                neo4j_server.start(home, password=pw, bolt_port=port, heap=heap,
                                   pagecache=pagecache)
            except StoreError as exc:
                if not importing:
                    raise
                logger.error("the server of %s did not start again: %s", home, exc)
            seconds["restart"] = time.perf_counter() - mark
        counts, kinds = files.counts, files.kinds

    # 5. the Neo4j store's own constraints and indexes
    mark = time.perf_counter()
    # One batch, awaited once, two labels at a time (each population scans
    # its label's nodes on one core). The store's per-kind check that no
    # other kind holds the label scans every identifier of that label; the
    # files were written one label per kind, checked before the import.
    with _open(uri, pw) as store:
        assert isinstance(store, Neo4jStore)
        store._schema([
            *_SCHEMA,
            *(_IDENT_CONSTRAINT.format(label=_label_of(kind)) for kind in kinds),
        ], workers=max(2, min(8, os.cpu_count() or 1)))
    seconds["schema"] = time.perf_counter() - mark
    seconds["total"] = time.perf_counter() - started
    return BulkResult(reports=reports, counts=counts,
                      seconds={k: round(v, 3) for k, v in seconds.items()})

