"""The nightly job: load the day's deltas, detect, export, record and report.

Steps (each is findable below by its number):

1. read the ``nightly:`` section of the config file and find the night's
   input files; a missing input stops the night before anything changes;
2. load every input in one load (one transaction on the embedded store);
   a reject rate above ``max_reject_rate`` rolls it back and stops;
3. detect rings, with lineage against the last run of an *earlier* night,
   optionally blending in GNN scores;
4. export the flagged accounts atomically (the gate keeps reading the
   previous export until the new one is complete);
5. write the run record (JSON) and the HTML report.

Re-running a night is safe. The run id is derived from the night's date and
the inputs' checksums, loads are idempotent, detection and export of a run
id replace what an earlier attempt wrote, and lineage is always computed
against the previous night, never against a half-finished attempt of the
same night. A crash at any step followed by a re-run therefore gives the
export a clean run gives.

Example of the config section (paths relative to the config file)::

    nightly:
      accounts: incoming/{date}/accounts*.csv
      loans: incoming/{date}/loans*.csv
      store: store
      export_dir: export
      report_dir: reports
      max_reject_rate: 0.02
      export_format: parquet
      gnn: {model_dir: store/model}
"""

from __future__ import annotations

import datetime as dt
import glob
import hashlib
import json
import logging
import os
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from ringfence.config import Config, load_config, read_yaml
from ringfence.errors import ConfigError, InputError
from ringfence.export import sha256_file
from ringfence.graph.base import GraphStore

__all__ = ["NightResult", "NightlySettings", "read_settings", "run_night"]

logger = logging.getLogger(__name__)

_TABLE_SUFFIXES = (".csv", ".csv.gz", ".parquet", ".jsonl", ".jsonl.gz", ".json")
_DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_RUN_PREFIX = "night-"


@dataclass(slots=True)
class NightlySettings:
    """The ``nightly:`` section of a config file.

    Attributes:
        accounts: Glob pattern or directory of the night's account deltas;
            ``{date}`` is replaced by the night's date (``YYYY-MM-DD``). A
            directory means its files named ``accounts*``.
        loans: Same for loan deltas (``loans*`` in a directory), or ``None``.
        store: Embedded store directory, or ``neo4j``; ``None`` uses the
            command line's ``--store``.
        export_dir: Where exports for the lending gate go.
        report_dir: Where run records, HTML reports and load rejects go.
        max_reject_rate: Largest share of rejected rows per file.
        export_format: ``parquet`` or ``jsonl`` beside the CSV.
        gnn_model: GNN model directory, or ``None`` to detect without it.
        base_dir: Directory relative paths are resolved against.
    """

    accounts: str
    export_dir: Path
    report_dir: Path
    loans: str | None = None
    store: str | None = None
    max_reject_rate: float = 0.05
    export_format: str = "parquet"
    gnn_model: Path | None = None
    base_dir: Path = field(default_factory=Path)


def read_settings(path: str | Path) -> NightlySettings:
    """Read and check the ``nightly:`` section of a config file.

    Raises:
        ConfigError: Listing every problem of the section.
    """
    path = Path(path)
    data = read_yaml(path)
    section = data.get("nightly") if isinstance(data, dict) else None
    if not isinstance(section, dict):
        raise ConfigError(
            f"config file {path}: no 'nightly:' section; it needs at least "
            "accounts, export_dir and report_dir"
        )
    base = path.resolve().parent
    problems: list[str] = []
    known = {"accounts", "loans", "store", "export_dir", "report_dir",
             "max_reject_rate", "export_format", "gnn"}
    for key in section:
        if key not in known:
            problems.append(f"unknown setting nightly.{key} (known: "
                            f"{', '.join(sorted(known))})")

    def text(key: str, required: bool) -> str | None:
        value = section.get(key)
        if value is None:
            if required:
                problems.append(f"nightly.{key} is required")
            return None
        if not isinstance(value, str) or not value.strip():
            problems.append(f"nightly.{key}: expected a path, got {value!r}")
            return None
        return value.strip()

    accounts = text("accounts", True)
    loans = text("loans", False)
    store = text("store", False)
    export_dir = text("export_dir", True)
    report_dir = text("report_dir", True)
    rate = section.get("max_reject_rate", 0.05)
    if isinstance(rate, bool) or not isinstance(rate, (int, float)) or not (
        0.0 <= rate <= 1.0
    ):
        problems.append(f"nightly.max_reject_rate: expected a share in [0, 1], "
                        f"got {rate!r}")
        rate = 0.0
    fmt = section.get("export_format", "parquet")
    if fmt not in ("parquet", "jsonl"):
        problems.append(f"nightly.export_format: parquet or jsonl, got {fmt!r}")
    gnn = section.get("gnn")
    gnn_model: Path | None = None
    if gnn not in (None, False):
        if isinstance(gnn, dict) and isinstance(gnn.get("model_dir"), str):
            gnn_model = _resolve(base, gnn["model_dir"])
        elif gnn is True and store and store != "neo4j":
            gnn_model = _resolve(base, store) / "model"
        else:
            problems.append("nightly.gnn: expected {model_dir: PATH} (or true with "
                            "an embedded store, for <store>/model)")
    if problems:
        raise ConfigError(f"config file {path}: " + "; ".join(problems))
    assert accounts and export_dir and report_dir
    return NightlySettings(
        accounts=accounts,
        loans=loans,
        store=store if store in (None, "neo4j") or _is_uri(store)
        else str(_resolve(base, store)),
        export_dir=_resolve(base, export_dir),
        report_dir=_resolve(base, report_dir),
        max_reject_rate=float(rate),
        export_format=str(fmt),
        gnn_model=gnn_model,
        base_dir=base,
    )


def _is_uri(text: str | None) -> bool:
    return bool(text) and str(text).startswith(("bolt://", "neo4j://"))


def _resolve(base: Path, text: str) -> Path:
    path = Path(os.path.expanduser(text))
    return path if path.is_absolute() else base / path


# -- 1. inputs -------------------------------------------------------------------


@dataclass(slots=True)
class InputFile:
    """One input of a night, with its checksum."""

    table: str
    path: Path
    sha256: str
    bytes: int

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {"table": self.table, "path": str(self.path), "sha256": self.sha256,
                "bytes": self.bytes}


def find_inputs(settings: NightlySettings, date: str) -> list[InputFile]:
    """The night's input files, accounts first, each with its sha256.

    Raises:
        InputError: A configured input matches no file (all are listed).
    """
    problems: list[str] = []
    out: list[InputFile] = []
    for table, spec in (("accounts", settings.accounts), ("loans", settings.loans)):
        if spec is None:
            continue
        pattern = str(_resolve(settings.base_dir, spec.replace("{date}", date)))
        files = _expand(pattern, table)
        if not files:
            problems.append(f"{table}: nothing matches {pattern}")
        out += [InputFile(table, f, sha256_file(f), f.stat().st_size) for f in files]
    if problems:
        raise InputError(
            f"night {date} has missing input(s): " + "; ".join(problems)
            + ". Nothing was loaded and the previous export is unchanged; deliver "
            "the files and run the night again"
        )
    return out


def _expand(pattern: str, table: str) -> list[Path]:
    path = Path(pattern)
    if path.is_dir():
        candidates = [p for p in path.iterdir() if p.name.startswith(table)]
    else:
        candidates = [Path(p) for p in glob.glob(pattern)]
    return sorted(p for p in candidates
                  if p.is_file() and p.name.lower().endswith(_TABLE_SUFFIXES))




def night_run_id(date: str, inputs: list[InputFile]) -> str:
    """The run id of a night: its date and a digest of its inputs' checksums.

    The same night with the same files always gets the same id, so a re-run
    replaces its run record rather than adding one.
    """
    digest = hashlib.sha256(
        "\n".join(f"{i.table}:{i.sha256}" for i in inputs).encode()
    ).hexdigest()[:10]
    return f"{_RUN_PREFIX}{date}-{digest}"


# -- the night -------------------------------------------------------------------


@dataclass(slots=True)
class NightResult:
    """What a night did; ``record`` is the run record as written."""

    run_id: str
    record: dict[str, Any]
    record_path: Path
    report_path: Path


def run_night(
    config_path: str | Path,
    *,
    date: str | None = None,
    store_spec: str | None = None,
) -> NightResult:
    """Run one night (see the module docstring for the steps).

    Args:
        config_path: YAML config with a ``nightly:`` section.
        date: The night, ``YYYY-MM-DD`` (default: today, UTC).
        store_spec: Store to use when the section names none.

    Raises:
        ConfigError: Bad settings.
        InputError: Missing inputs or too many rejects; nothing changed.
        StoreError: The store failed.
    """
    timings: dict[str, float] = {}
    started = time.perf_counter()
    started_at = _now()
    date = date or dt.datetime.now(dt.UTC).date().isoformat()
    if not _DATE_RE.match(date):
        raise ConfigError(f"--date must be YYYY-MM-DD, got {date!r}")

    # 1. settings and inputs
    settings = read_settings(config_path)
    config = load_config(config_path)
    config.load.max_reject_rate = settings.max_reject_rate
    inputs = find_inputs(settings, date)
    run_id = night_run_id(date, inputs)
    logger.info("night %s: run %s, %d input file(s)", date, run_id, len(inputs))
    spec = settings.store or store_spec
    if not spec:
        raise ConfigError("no store: set nightly.store or pass --store")
    timings["inputs"] = _lap(started)

    store = _open(spec)
    try:
        return _night(store, settings, config, date, run_id, inputs, timings,
                      started, started_at)
    finally:
        store.close()


def _night(
    store: GraphStore,
    settings: NightlySettings,
    config: Config,
    date: str,
    run_id: str,
    inputs: list[InputFile],
    timings: dict[str, float],
    started: float,
    started_at: str,
) -> NightResult:
    from ringfence.detectors.pipeline import detect
    from ringfence.export import export_flagged
    from ringfence.loaders.load import load_files

    # 2. load
    t = time.perf_counter()
    before = store.counts()
    try:
        reports = load_files(
            store,
            [i.path for i in inputs if i.table == "accounts"],
            [i.path for i in inputs if i.table == "loans"],
            config=config,
            reports_dir=settings.report_dir / "loads",
        )
    except InputError as exc:
        raise InputError(
            f"night {date} stopped at the load, nothing was committed and the "
            f"previous export is unchanged: {exc}"
        ) from exc
    after = store.counts()
    timings["load"] = _lap(t)

    # 3. detect, with lineage against the previous night's run
    t = time.perf_counter()
    previous = _previous_run(store, date)
    previous_rings = store.rings(previous) if previous else None
    snapshot = store.snapshot()
    gnn_scores, model = _gnn(settings, snapshot)
    result = detect(snapshot, config, previous_rings=previous_rings,
                    gnn_scores=gnn_scores, run_id=run_id)
    store.write_results(result)
    timings["detect"] = _lap(t)

    # 4. export
    t = time.perf_counter()
    _rewind_export(settings.export_dir, run_id)
    info = export_flagged(store, settings.export_dir, fmt=settings.export_format)
    timings["export"] = _lap(t)

    # 5. record and report
    t = time.perf_counter()
    changes = _changes(result.rings, previous_rings, info.path / "changes.csv")
    det = config.detect
    record: dict[str, Any] = {
        "run_id": run_id,
        "date": date,
        "started_at": started_at,
        "previous_run_id": previous,
        "store": store.name,
        "inputs": [i.as_dict() for i in inputs],
        "loads": [r.as_dict() for r in reports],
        "rows": {
            "read": sum(r.rows_read for r in reports),
            "accepted": sum(r.rows_accepted for r in reports),
            "rejected": sum(r.rows_rejected for r in reports),
        },
        "counts_before": before,
        "counts_after": after,
        "metrics": result.metrics,
        "thresholds": {
            "max_reject_rate": settings.max_reject_rate,
            "review": det.review_threshold,
            "decline": det.decline_threshold,
            "link": det.link_threshold,
            "hub_degree": det.hub_degree,
            "gnn": result.params.get("gnn_policy"),
        },
        "model": model,
        "export": {
            "path": str(info.path),
            "rows": info.rows,
            "added": info.added,
            "removed": info.removed,
            "decisions": info.manifest.get("decisions", {}),
        },
        "changes": changes,
        "timings": timings,
    }
    from ringfence.nightly_report import render_report

    record_path = settings.report_dir / f"{run_id}.json"
    report_path = settings.report_dir / f"{run_id}.html"
    record["finished_at"] = _now()
    record["seconds"] = _lap(started)
    _write_atomic(report_path, render_report(record, store.rings(run_id)))
    timings["report"] = _lap(t)
    # The record goes last: its presence says the whole night completed.
    _write_atomic(record_path, json.dumps(record, indent=2, default=_json) + "\n")
    logger.info("night %s done: %d flagged, %d rings, %.1fs", date, info.rows,
                len(result.rings), record["seconds"])
    return NightResult(run_id, record, record_path, report_path)


def _open(spec: str) -> GraphStore:
    from ringfence.cli.common import cli_context, open_store

    return open_store(cli_context(spec, None, False))


def _previous_run(store: GraphStore, date: str) -> str | None:
    """The latest run that is not an attempt of this night."""
    own = f"{_RUN_PREFIX}{date}-"
    for run in store.runs(limit=100):
        if not str(run["run_id"]).startswith(own):
            return str(run["run_id"])
    return None


def _gnn(
    settings: NightlySettings, snapshot: Any
) -> tuple[pd.Series | None, dict[str, Any] | None]:
    """GNN scores and the model's identity, when the night uses the GNN."""
    if settings.gnn_model is None:
        return None, None
    import importlib

    from ringfence.errors import ModelError

    try:
        policy = importlib.import_module("ringfence.detectors.gnn_policy")
    except ImportError as exc:
        raise ModelError(
            "this installation has no GNN scoring "
            "(ringfence.detectors.gnn_policy); remove nightly.gnn"
        ) from exc
    model_dir = settings.gnn_model
    weights = model_dir / "weights.pt"
    if not weights.exists():
        raise ModelError(f"no GNN model at {model_dir}: train one with "
                         "`ringfence gnn train` or remove nightly.gnn")
    scores = policy.gnn_scores_for(snapshot, str(model_dir))
    meta: dict[str, Any] = {}
    if (model_dir / "meta.json").exists():
        meta = json.loads((model_dir / "meta.json").read_text())
    model = {
        "path": str(model_dir),
        "version": sha256_file(weights)[:12],
        "weights_sha256": sha256_file(weights),
        "artifact_format": meta.get("artifact_format"),
        "feature_version": meta.get("feature_version"),
        "ringfence_version": meta.get("ringfence_version"),
    }
    return scores, model


def _rewind_export(export_dir: Path, run_id: str) -> None:
    """Point ``current`` back at the previous night when it shows this run.

    An attempt of this night that crashed after publishing its export left
    ``current`` at this run; exporting again would then compare the list
    with itself and report no change. Swapping the link back (atomically,
    to the export the manifest names as previous) makes the re-run compare
    with the previous night, as a clean run does.
    """
    current = export_dir / "current"
    if not current.is_symlink() or Path(os.readlink(current)).name != run_id:
        return
    manifest = current / "manifest.json"
    previous = None
    if manifest.exists():
        previous = json.loads(manifest.read_text())["changes"].get("previous_run_id")
    link_tmp = export_dir / f".current.{os.getpid()}"
    link_tmp.unlink(missing_ok=True)
    if previous and (export_dir / "runs" / previous).is_dir():
        os.symlink(Path("runs") / previous, link_tmp)
        os.replace(link_tmp, current)
        logger.info("re-run of %s: current export set back to %s", run_id, previous)
    else:
        current.unlink()
        logger.info("re-run of %s: the first export is written again", run_id)


def _changes(
    rings: list[Any], previous: pd.DataFrame | None, changes_csv: Path
) -> dict[str, Any]:
    """Rings by lineage status, rings gone, accounts added to / removed from
    the flagged list."""
    by_status: dict[str, list[str]] = {}
    for ring in rings:
        by_status.setdefault(ring.status, []).append(ring.ring_id)
    now_ids = {r.ring_id for r in rings}
    continued = {p for r in rings for p in r.evidence.get("lineage", {})
                 .get("previous", [])}
    gone = []
    if previous is not None and len(previous):
        gone = sorted(str(r) for r in previous["ring_id"]
                      if str(r) not in now_ids and str(r) not in continued)
    flagged = pd.read_csv(changes_csv, dtype=str, keep_default_na=False)
    return {
        "rings": {k: sorted(v) for k, v in sorted(by_status.items())},
        "rings_gone": gone,
        "flagged_added": sorted(flagged.loc[flagged["change"] == "added",
                                            "account_id"]),
        "flagged_removed": sorted(flagged.loc[flagged["change"] == "removed",
                                              "account_id"]),
    }


def _write_atomic(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "w", encoding="utf-8") as fh:
        fh.write(text)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def _json(value: Any) -> Any:
    if hasattr(value, "item"):
        return value.item()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def _lap(since: float) -> float:
    return round(time.perf_counter() - since, 3)


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
