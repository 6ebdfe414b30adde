"""The demo: the whole main job on generated data, with its evaluation.

Steps: generate a population, load it, (train the GNN), detect rings,
export the flagged accounts, evaluate against the generator's truth and the
naive baseline.
"""

from __future__ import annotations

import shutil
import sys
import time
from pathlib import Path
from typing import Any

import click

from ringfence.cli.common import CliContext, open_store
from ringfence.errors import StoreError

__all__ = ["run_demo"]


class _Steps:
    """Progress of the demo on stderr: a bar for the load, a line per step."""

    def __init__(self, total: int, quiet: bool) -> None:
        self.total = total
        self.n = 0
        self.quiet = quiet
        self.started = time.perf_counter()
        self.timings: dict[str, float] = {}
        self._t = self.started
        self._name = ""

    def step(self, name: str, text: str) -> None:
        self._close()
        self.n += 1
        self._name = name
        self._t = time.perf_counter()
        if not self.quiet:
            click.echo(f"[{self.n}/{self.total}] {text}", err=True)

    def _close(self) -> None:
        if self._name:
            self.timings[self._name] = round(time.perf_counter() - self._t, 2)

    def done(self) -> float:
        self._close()
        self._name = ""
        return time.perf_counter() - self.started


def run_demo(
    cli_ctx: CliContext,
    *,
    n_accounts: int,
    seed: int,
    out: Path,
    use_gnn: bool,
    quiet: bool,
) -> dict[str, Any]:
    """Run the demo and return its summary (see ``ringfence demo --help``)."""
    from ringfence.cli.jobs import _demo_key
    from ringfence.export import export_flagged
    from ringfence.generate import generate
    from ringfence.jobs import run_detection, run_evaluation
    from ringfence.loaders.load import load_files

    steps = _Steps(6 if use_gnn else 5, quiet)
    config = cli_ctx.config
    if not cli_ctx.is_neo4j:
        store_dir = out / "store"
        shutil.rmtree(store_dir, ignore_errors=True)
        cli_ctx.store_spec = str(store_dir)
        _demo_key(store_dir, config)
    else:
        _demo_key(out, config)

    steps.step("generate", f"generating {n_accounts} accounts (seed {seed})")
    files = generate(out / "data", n_accounts, seed)

    store = open_store(cli_ctx)
    try:
        if cli_ctx.is_neo4j and store.counts()["accounts"]:
            raise StoreError(
                "the demo needs an empty Neo4j database; the one named by "
                "NEO4J_URI already holds accounts"
            )
        steps.step("load", "loading accounts and loans")
        show_bar = not quiet and sys.stderr.isatty()
        with click.progressbar(length=n_accounts, label="rows", file=sys.stderr,
                               show_pos=True) if show_bar else _NoBar() as bar:
            reports = load_files(
                store, [files.accounts], [files.loans], config=config,
                reports_dir=out / "loads", progress=bar.update,
            )
        snapshot = store.snapshot()
        scores = None
        gnn_metrics: dict[str, Any] = {}
        if use_gnn:
            steps.step("gnn", "training the GNN on the known labels")
            from ringfence.detectors.gnn_policy import train_and_score

            scores, gnn_metrics = train_and_score(snapshot, out / "model", seed=seed)
        steps.step("detect", "detecting rings")
        result = run_detection(store, config, snapshot=snapshot, gnn_scores=scores)
        steps.step("export", "exporting flagged accounts for the lending gate")
        info = export_flagged(store, out / "export")
        steps.step("evaluate", "evaluating against the generator's truth")
        metrics = run_evaluation(store, files.truth, snapshot=snapshot)
    finally:
        store.close()
    seconds = steps.done()

    summary: dict[str, Any] = {
        "accounts": files.n_accounts,
        "rows_read": sum(r.rows_read for r in reports if r.table == "accounts"),
        "rows_rejected": sum(r.rows_rejected for r in reports),
        **metrics,
        "hubs": len(result.hubs),
        "run_id": result.run_id,
        "store": cli_ctx.store_spec,
        "export_path": str(out / "export" / "current"),
        "export_rows": info.rows,
        "seconds": round(seconds, 2),
        "step_seconds": steps.timings,
    }
    if gnn_metrics:
        summary["gnn"] = gnn_metrics
    return summary


class _NoBar:
    def __enter__(self) -> _NoBar:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def update(self, n: int) -> None:
        return None
