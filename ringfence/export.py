"""Export flagged accounts to the lending gate, atomically.

Layout of an export directory::

    <out>/runs/<run_id>/flagged.csv        one row per flagged account
    <out>/runs/<run_id>/flagged.parquet    the same rows (or flagged.jsonl)
    <out>/runs/<run_id>/changes.csv        added to / removed from the list
    <out>/runs/<run_id>/manifest.json      rows, sha256 of each file, run id,
                                           thresholds, change counts
    <out>/current -> runs/<run_id>         what the gate reads

An export is written into a hidden temporary directory, renamed into
``runs/`` when complete, and only then is the ``current`` link swapped with
an atomic rename. A reader following ``current`` therefore always sees one
complete export; a failed export leaves the previous one in place.
Exporting a run that is already published (a retry, another format) goes
to ``runs/<run_id>.<n>`` beside it, since the directory ``current`` points
at cannot be replaced atomically. Older copies of the run are then removed,
except the one ``current`` pointed at until the swap.

Exports into one directory take turns: each holds an exclusive lock on
``<out>/.lock`` while it writes, and first removes what an export killed
mid-way left behind (hidden ``.tmp`` directories and ``.current`` links).
The files hold no personal data beyond the account id.
"""

from __future__ import annotations

import datetime as dt
import fcntl
import hashlib
import json
import logging
import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from ringfence.errors import InputError, StoreError
from ringfence.graph.base import GraphStore

__all__ = [
    "EXPORT_COLUMNS",
    "ExportInfo",
    "export_flagged",
    "read_current",
    "sha256_file",
]

logger = logging.getLogger(__name__)

EXPORT_COLUMNS = [
    "account_id", "decision", "score", "ring_id", "reasons", "run_id",
    "generated_at",
]


@dataclass(slots=True)
class ExportInfo:
    """Where an export went and what it holds."""

    path: Path
    run_id: str
    rows: int
    added: int
    removed: int
    manifest: dict[str, Any]


def sha256_file(path: Path) -> str:
    """Hex sha256 of a file, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _fsync_file(path: Path) -> None:
    with open(path, "rb") as fh:
        os.fsync(fh.fileno())


def read_current(out_dir: str | Path) -> pd.DataFrame | None:
    """The flagged rows of the current export, or ``None`` when there is none."""
    current = Path(out_dir) / "current" / "flagged.csv"
    if not current.exists():
        return None
    return pd.read_csv(current, dtype={"account_id": str, "ring_id": str},
                       keep_default_na=False)


def _run_dirs(runs: Path, run_id: str) -> list[Path]:
    """Published directories of ``run_id``: ``<run_id>`` and ``<run_id>.<n>``."""
    return [p for p in runs.iterdir()
            if p.name == run_id or (p.name.startswith(f"{run_id}.")
                                    and p.name[len(run_id) + 1:].isdigit())]


def _previous_export(
    out: Path, run_id: str
) -> tuple[pd.DataFrame | None, str | None]:
    """Flagged rows and run id of the export this one is compared with."""
    manifest_path = out / "current" / "manifest.json"
    if not manifest_path.exists():
        return None, None
    manifest = json.loads(manifest_path.read_text())
    if manifest.get("run_id") != run_id:
        return read_current(out), manifest.get("run_id")
    base = (manifest.get("changes") or {}).get("previous_run_id")
    if not base:
        return None, base
    # The previous run may have been published again as <base>.<n>, and
    # runs/<base> itself removed: any complete copy holds the same rows.
    copies = sorted(
        (p for p in _run_dirs(out / "runs", base) if (p / "flagged.csv").exists()),
        key=lambda p: (p.name != base, p.name),
    )
    if not copies:
        return None, base
    rows = pd.read_csv(copies[0] / "flagged.csv",
                       dtype={"account_id": str, "ring_id": str},
                       keep_default_na=False)
    return rows, base


def _free_run_dir(runs: Path, run_id: str) -> Path:
    """``runs/<run_id>``, or ``runs/<run_id>.<n>`` when that one exists."""
    final = runs / run_id
    n = 2
    while final.exists() or final.is_symlink():
        final = runs / f"{run_id}.{n}"
        n += 1
    return final


def _link_target(link: Path) -> str | None:
    """Name of the run directory ``link`` points at, if it is a link."""
    try:
        return Path(os.readlink(link)).name
    except OSError:
        return None


def export_flagged(
    store: GraphStore, out_dir: str | Path, *, fmt: str = "parquet"
) -> ExportInfo:
    """Export the latest run's flagged accounts (see the module docstring).

    Args:
        store: Store holding a detection run.
        out_dir: Export directory (created when missing).
        fmt: Second file format beside CSV: ``parquet`` or ``jsonl``.

    Raises:
        StoreError: The store has no detection run yet.
        InputError: ``fmt`` is unknown.
    """
    if fmt not in ("parquet", "jsonl"):
        raise InputError(f"export format {fmt!r} is unknown; use parquet or jsonl")
    runs = store.runs(limit=1)
    if not runs:
        raise StoreError("no detection run in the store: run `ringfence detect` first")
    out = Path(out_dir)
    (out / "runs").mkdir(parents=True, exist_ok=True)
    with _exclusive(out):
        _sweep(out)
        return _export(store, runs[0], out, fmt)


@contextmanager
def _exclusive(out: Path) -> Iterator[None]:
    """Hold the export directory's lock; wait while another export holds it."""
    with open(out / ".lock", "a") as fh:
        try:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            logger.info("waiting for another export into %s to finish", out)
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh.fileno(), fcntl.LOCK_UN)


def _sweep(out: Path) -> None:
    """Remove what killed exports left; only called under the lock."""
    for tmp in (out / "runs").glob(".*.tmp"):
        logger.info("removing %s, left by an interrupted export", tmp.name)
        shutil.rmtree(tmp, ignore_errors=True)
    for link in out.glob(".current.*"):
        link.unlink(missing_ok=True)


def _export(
    store: GraphStore, run: dict[str, Any], out: Path, fmt: str
) -> ExportInfo:
    run_id = str(run["run_id"])

    # 1. the rows
    flagged = store.decisions(flagged_only=True)
    rows = pd.DataFrame({
        "account_id": flagged["account_id"].astype(str),
        "decision": flagged["decision"].astype(str),
        "score": flagged["score"].astype(float).round(6),
        "ring_id": flagged["ring_id"].fillna("").astype(str),
        "reasons": ["; ".join(r) for r in flagged["reasons"]],
        "run_id": run_id,
        "generated_at": str(run["generated_at"]),
    }, columns=EXPORT_COLUMNS)

    # 2. changes against the export of the previous run; exporting the same
    # run again compares with the run before it, as its first export did
    previous, previous_run = _previous_export(out, run_id)
    before = set(previous["account_id"]) if previous is not None else set()
    now = set(rows["account_id"])
    changes = pd.DataFrame(
        [(a, "added") for a in sorted(now - before)]
        + [(a, "removed") for a in sorted(before - now)],
        columns=["account_id", "change"],
    )

    # 3. write everything into a temporary directory
    tmp = out / "runs" / f".{run_id}.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    try:
        rows.to_csv(tmp / "flagged.csv", index=False)
        second = tmp / f"flagged.{fmt}"
        if fmt == "parquet":
            rows.to_parquet(second, index=False)
        else:
            rows.to_json(second, orient="records", lines=True, force_ascii=False)
        changes.to_csv(tmp / "changes.csv", index=False)
        files = ["flagged.csv", second.name, "changes.csv"]
        for name in files:
            _fsync_file(tmp / name)
        params = run.get("params") or {}
        detect_params = params.get("detect") or {}
        manifest = {
            "run_id": run_id,
            "generated_at": run["generated_at"],
            "exported_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            "rows": len(rows),
            "decisions": rows["decision"].value_counts().sort_index().to_dict(),
            "files": {name: {"sha256": sha256_file(tmp / name)} for name in files},
            "thresholds": {
                "review": detect_params.get("review_threshold"),
                "decline": detect_params.get("decline_threshold"),
                "gnn": params.get("gnn_policy"),
            },
            "changes": {
                "previous_run_id": previous_run,
                "added": int((changes["change"] == "added").sum()),
                "removed": int((changes["change"] == "removed").sum()),
            },
        }
        (tmp / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
        _fsync_file(tmp / "manifest.json")

        # 4. publish: rename the directory, then swap the link atomically
        final = _free_run_dir(out / "runs", run_id)
        previous_dir = _link_target(out / "current")
        os.replace(tmp, final)
        link_tmp = out / f".current.{os.getpid()}"
        link_tmp.unlink(missing_ok=True)
        os.symlink(Path("runs") / final.name, link_tmp)
        os.replace(link_tmp, out / "current")
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    # Older copies of this run: keep the one readers may still be in.
    for old in _run_dirs(out / "runs", run_id):
        if old.name not in (final.name, previous_dir):
            shutil.rmtree(old, ignore_errors=True)
    logger.info("exported %d flagged accounts of %s", len(rows), run_id)
    return ExportInfo(
        path=final,
        run_id=run_id,
        rows=len(rows),
        added=manifest["changes"]["added"],
        removed=manifest["changes"]["removed"],
        manifest=manifest,
    )
