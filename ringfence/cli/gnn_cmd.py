"""CLI: ``ringfence gnn train | evaluate | score``."""

from __future__ import annotations

import json
from typing import Any

import click

from ringfence.cli.common import (
    CliContext,
    echo_json,
    echo_table,
    pass_cli,
    read_snapshot,
)
from ringfence.cli.common import model_dir as default_model_dir

__all__ = ["COMMANDS"]


def _metric_rows(metrics: dict[str, Any]) -> list[dict[str, Any]]:
    rows = []
    for model in ("gnn", "features_only", "gbm_neighbours"):
        if isinstance(metrics.get(model), dict):
            rows.append({"model": model, **metrics[model]})
    return rows


@click.group()
def gnn() -> None:
    """Train and use the graph neural network detector."""


@gnn.command("train")
@click.option("--model", "model_dir", type=click.Path(file_okay=False),
              help="Where to save the model (default: <store>/model).")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--split", type=click.Choice(["time", "random"]), default="time",
              show_default=True,
              help="time: train on older labelled accounts, test on newer.")
@click.option("--epochs", type=click.IntRange(min=1), default=200, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@pass_cli
def gnn_train(cli_ctx: CliContext, model_dir: str | None, seed: int, split: str,
              epochs: int, as_json: bool) -> None:
    """Train on the store's labelled accounts; report test metrics beside the
    features-only and gradient-boosting baselines."""
    from ringfence.detectors.gnn_policy import train_model

    snapshot = read_snapshot(cli_ctx)
    target = model_dir or default_model_dir(cli_ctx)
    result = train_model(snapshot, target, seed=seed, split=split, epochs=epochs)
    if as_json:
        echo_json({"model": target, **result.metrics})
        return
    click.echo(f"model saved to {target}")
    echo_table(_metric_rows(result.metrics),
               ["model", "auprc", "roc_auc", "recall_at_k", "k"])


@gnn.command("evaluate")
@click.option("--model", "model_dir", type=click.Path(file_okay=False))
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@pass_cli
def gnn_evaluate(cli_ctx: CliContext, model_dir: str | None, as_json: bool) -> None:
    """Show the saved model's test metrics and training summary, after
    checking it still fits the store's graph."""
    from ringfence.detectors.gnn import load_model

    snapshot = read_snapshot(cli_ctx)
    target = model_dir or default_model_dir(cli_ctx)
    model = load_model(target, snapshot=snapshot)
    info = {"model": target, "metrics": model.metrics, "training": model.summary}
    if as_json:
        echo_json(info)
        return
    echo_table(_metric_rows(model.metrics),
               ["model", "auprc", "roc_auc", "recall_at_k", "k"])
    click.echo(json.dumps(model.summary, indent=2, default=str))


@gnn.command("score")
@click.option("--model", "model_dir", type=click.Path(file_okay=False))
@click.option("--account", "accounts", multiple=True,
              help="Only these accounts (repeatable; default: the top scores).")
@click.option("--top", type=click.IntRange(min=1), default=20, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@pass_cli
def gnn_score(cli_ctx: CliContext, model_dir: str | None, accounts: tuple[str, ...],
              top: int, as_json: bool) -> None:
    """Score accounts with the saved model, new accounts included, without
    retraining."""
    from ringfence.detectors.gnn_policy import gnn_scores_for

    snapshot = read_snapshot(cli_ctx)
    scores = gnn_scores_for(snapshot, model_dir or default_model_dir(cli_ctx))
    if accounts:
        scores = scores[scores.index.isin(accounts)]
    else:
        scores = scores.sort_values(ascending=False, kind="stable").head(top)
    rows = [{"account_id": a, "gnn_score": round(float(s), 6)}
            for a, s in scores.items()]
    if as_json:
        echo_json(rows)
    else:
        echo_table(rows, ["account_id", "gnn_score"])


COMMANDS = [gnn]
