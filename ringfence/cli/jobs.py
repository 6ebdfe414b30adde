"""CLI commands that change data: generate, load, detect, export, evaluate, demo."""

from __future__ import annotations

import os
import secrets
import sys
import time
from pathlib import Path
from typing import Any

import click

from ringfence.cli.common import (
    DEMO_KEY_FILE,
    CliContext,
    echo_json,
    echo_table,
    open_store,
    pass_cli,
    peak_rss_mb,
)
from ringfence.cli.common import model_dir as default_model_dir
from ringfence.config import Config

__all__ = ["COMMANDS"]


@click.command()
@click.option("--accounts", "n_accounts", type=click.IntRange(min=10),
              default=10_000, show_default=True, help="Number of accounts.")
@click.option("--seed", type=int, default=7, show_default=True)
@click.option("--out", type=click.Path(file_okay=False), default="ringfence-data",
              show_default=True, help="Output directory.")
@click.option("--format", "fmt", type=click.Choice(["csv", "parquet", "jsonl"]),
              default="csv", show_default=True, help="Accounts file format.")
@click.option("--fraud-rate", type=click.FloatRange(0.0, 0.5), default=0.02,
              show_default=True)
@click.option("--camouflaged-rings", is_flag=True,
              help="Add rings camouflaged among honest accounts: chains of "
              "devices and phones each shared by two members.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def generate(n_accounts: int, seed: int, out: str, fmt: str, fraud_rate: float,
             camouflaged_rings: bool, as_json: bool) -> None:
    """Write a synthetic population with fraud rings and its ground truth."""
    from ringfence.generate import generate as make

    started = time.perf_counter()
    files = make(Path(out), n_accounts, seed, fraud_rate=fraud_rate, fmt=fmt,
                 camouflaged_rings=camouflaged_rings)
    info = {
        "accounts_file": str(files.accounts),
        "loans_file": str(files.loans),
        "truth_file": str(files.truth),
        "accounts": files.n_accounts,
        "fraud": files.n_fraud,
        "rings": files.n_rings,
        "seconds": round(time.perf_counter() - started, 2),
    }
    if as_json:
        echo_json(info)
    else:
        for key, value in info.items():
            click.echo(f"{key}: {value}")


def _progress_load(cli_ctx: CliContext, accounts: list[str], loans: list[str],
                   show: bool) -> list[Any]:
    from ringfence.loaders.load import load_files

    store = open_store(cli_ctx)
    try:
        if not show:
            return load_files(store, accounts, loans, config=cli_ctx.config,
                              reports_dir=cli_ctx.reports_dir())
        with click.progressbar(length=0, label="loading rows", file=sys.stderr,
                               show_pos=True) as bar:
            return load_files(
                store, accounts, loans, config=cli_ctx.config,
                reports_dir=cli_ctx.reports_dir(), progress=bar.update,
            )
    finally:
        store.close()


def _print_load(reports: list[Any]) -> None:
    for r in reports:
        click.echo(
            f"{r.source} ({r.table}): {r.rows_read} rows read, "
            f"{r.rows_accepted} accepted, {r.rows_rejected} rejected"
        )
        for kind, reasons in sorted(r.ignored.items()):
            detail = ", ".join(f"{n} {why}" for why, n in sorted(reasons.items()))
            click.echo(f"  ignored {kind}: {detail}")
        if r.empty:
            click.echo("  empty: " + ", ".join(
                f"{k} {n}" for k, n in sorted(r.empty.items())))
        if r.invalid:
            click.echo("  kept but invalid: " + ", ".join(
                f"{k} {n}" for k, n in sorted(r.invalid.items())))
        if r.rows_rejected:
            click.echo(f"  rejects: {r.rejects_path}")
        if r.ignored:
            click.echo(f"  ignored values: {r.ignored_path}")


@click.command()
@click.argument("accounts", nargs=-1, type=click.Path(dir_okay=False))
@click.option("--loans", multiple=True, type=click.Path(dir_okay=False),
              help="Loans table (repeatable).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@pass_cli
def load(cli_ctx: CliContext, accounts: tuple[str, ...], loans: tuple[str, ...],
         as_json: bool) -> None:
    """Load account tables (CSV, Parquet, JSONL) and loan tables into the store.

    The whole load is one transaction on the embedded store. Rejected rows go
    to a rejects file with their line, column, value and reason; placeholder
    and mangled values go to an ignored-values file.
    """
    if not accounts and not loans:
        raise click.UsageError("name at least one accounts file or --loans file")
    reports = _progress_load(cli_ctx, list(accounts), list(loans),
                             show=not as_json and sys.stderr.isatty())
    if as_json:
        echo_json([r.as_dict() for r in reports])
    else:
        _print_load(reports)


def _detect(cli_ctx: CliContext, use_gnn: bool, model_dir: str | None) -> Any:
    from ringfence.jobs import run_detection

    store = open_store(cli_ctx)
    try:
        snapshot = store.snapshot()
        scores = None
        if use_gnn:
            from ringfence.detectors.gnn_policy import gnn_scores_for

            scores = gnn_scores_for(snapshot, model_dir or default_model_dir(cli_ctx))
        return run_detection(store, cli_ctx.config, snapshot=snapshot,
                             gnn_scores=scores)
    finally:
        store.close()


@click.command()
@click.option("--gnn", "use_gnn", is_flag=True,
              help="Blend the trained GNN's scores into the decisions.")
@click.option("--model", "model_dir", type=click.Path(file_okay=False),
              help="GNN model directory (default: <store>/model).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@pass_cli
def detect(cli_ctx: CliContext, use_gnn: bool, model_dir: str | None,
           as_json: bool) -> None:
    """Find rings, score them and decide every account."""
    result = _detect(cli_ctx, use_gnn, model_dir)
    summary = {"run_id": result.run_id, **result.metrics}
    if as_json:
        echo_json(summary)
    else:
        for key, value in summary.items():
            click.echo(f"{key}: {value}")


@click.command()
@click.option("--out", type=click.Path(file_okay=False), default="ringfence-export",
              show_default=True, help="Export directory.")
@click.option("--format", "fmt", type=click.Choice(["parquet", "jsonl"]),
              default="parquet", show_default=True,
              help="Second file format beside CSV.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@pass_cli
def export(cli_ctx: CliContext, out: str, fmt: str, as_json: bool) -> None:
    """Export flagged accounts of the latest run for the lending gate."""
    from ringfence.export import export_flagged

    store = open_store(cli_ctx)
    try:
        info = export_flagged(store, out, fmt=fmt)
    finally:
        store.close()
    data = {"path": str(info.path), "current": str(Path(out) / "current"),
            "run_id": info.run_id, "rows": info.rows, "added": info.added,
            "removed": info.removed}
    if as_json:
        echo_json(data)
    else:
        for key, value in data.items():
            click.echo(f"{key}: {value}")


@click.command()
@click.option("--truth", required=True, type=click.Path(dir_okay=False),
              help="Truth table: account_id, ring_id, typology, is_fraud.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@pass_cli
def evaluate(cli_ctx: CliContext, truth: str, as_json: bool) -> None:
    """Score the latest run against ground truth, beside the naive baseline."""
    from ringfence.jobs import run_evaluation

    store = open_store(cli_ctx)
    try:
        metrics = run_evaluation(store, truth)
    finally:
        store.close()
    if as_json:
        echo_json(metrics)
    else:
        echo_table([{"metric": k, "value": v} for k, v in metrics.items()],
                   ["metric", "value"])


def _demo_key(store_dir: Path, config: Config) -> None:
    """Give the demo a national-id key of its own when none is set."""
    if config.national_id_key or os.environ.get(config.national_id_key_env):
        return
    store_dir.mkdir(parents=True, exist_ok=True)
    key_file = store_dir / DEMO_KEY_FILE
    if not key_file.exists():
        fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(secrets.token_hex(32))
    config.national_id_key = key_file.read_text().strip()


@click.command()
@click.option("--accounts", "n_accounts", type=click.IntRange(min=100),
              default=100_000, show_default=True)
@click.option("--seed", type=int, default=7, show_default=True)
@click.option("--out", type=click.Path(file_okay=False), default="demo-out",
              show_default=True, help="Working directory of the demo.")
@click.option("--gnn/--no-gnn", "use_gnn", default=True, show_default=True,
              help="Train the GNN and blend its scores into decisions.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@pass_cli
def demo(cli_ctx: CliContext, n_accounts: int, seed: int, out: str, use_gnn: bool,
         as_json: bool) -> None:
    """Generate, load, detect, export and evaluate in one go.

    The embedded store goes to OUT/store unless --store names Neo4j.
    """
    from ringfence.demo import run_demo

    summary = run_demo(cli_ctx, n_accounts=n_accounts, seed=seed, out=Path(out),
                       use_gnn=use_gnn, quiet=as_json)
    summary["peak_rss_mb"] = peak_rss_mb()
    if as_json:
        echo_json(summary)
    else:
        echo_table(_flatten(summary), ["metric", "value"])


def _flatten(data: dict[str, Any], prefix: str = "") -> list[dict[str, Any]]:
    """Nested summary as ``a.b.c``-named rows, for a readable table."""
    rows: list[dict[str, Any]] = []
    for key, value in data.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            rows.extend(_flatten(value, f"{name}."))
        else:
            rows.append({"metric": name, "value": value})
    return rows


COMMANDS = [generate, load, detect, export, evaluate, demo]
