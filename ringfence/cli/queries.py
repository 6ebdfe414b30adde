"""Investigator commands: rings, ring show, account show."""

from __future__ import annotations

import click

from ringfence.cli.common import CliContext, echo_json, echo_table, open_store, pass_cli

__all__ = ["COMMANDS"]


@click.command()
@click.option("--run", "run_id", help="Run id (default: the latest run).")
@click.option("--min-size", type=click.IntRange(min=0), default=0)
@click.option("--min-score", type=click.FloatRange(0.0, 1.0), default=0.0)
@click.option("--status", type=click.Choice(
    ["new", "same", "grown", "shrunk", "changed", "merged", "split"]),
    help="Only rings with this lineage status.")
@click.option("--sort", type=click.Choice(["score", "size", "exposure"]),
              default="score", show_default=True)
@click.option("--limit", type=click.IntRange(min=1), default=None)
@click.option("--changed-since", "changed_since", metavar="RUN_ID",
              help="Only rings that are new or whose members differ from that "
              "run's ring of the same id.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@pass_cli
def rings(cli_ctx: CliContext, run_id: str | None, min_size: int, min_score: float,
          status: str | None, sort: str, limit: int | None,
          changed_since: str | None, as_json: bool) -> None:
    """List rings of a run, filtered and sorted."""
    from ringfence.queries import list_rings

    store = open_store(cli_ctx, readonly=True)
    try:
        rows = list_rings(store, run_id=run_id, min_size=min_size,
                          min_score=min_score, status=status, sort=sort, limit=limit,
                          changed_since=changed_since)
    finally:
        store.close()
    if as_json:
        echo_json(rows)
    else:
        echo_table(rows, ["ring_id", "size", "score", "exposure", "status", "members"])


@click.group()
def ring() -> None:
    """Look at one ring."""


@ring.command("show")
@click.argument("ring_id")
@click.option("--run", "run_id", help="Run id (default: the latest run).")
@click.option("--png", "png_path", type=click.Path(dir_okay=False),
              help="Also draw the ring's accounts and shared identifiers to a PNG.")
@click.option("--html", "html_path", type=click.Path(dir_okay=False),
              help="Also write the picture as one self-contained HTML file.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@pass_cli
def ring_show(cli_ctx: CliContext, ring_id: str, run_id: str | None,
              png_path: str | None, html_path: str | None, as_json: bool) -> None:
    """Show a ring's members, evidence and exposure."""
    from ringfence.queries import ring_view

    store = open_store(cli_ctx, readonly=True)
    try:
        view = ring_view(store, ring_id, run_id)
        if png_path or html_path:
            from ringfence.ringplot import ring_picture, write_html, write_png

            picture = ring_picture(store, cli_ctx.config, ring_id, run_id)
            if png_path:
                write_png(picture, png_path)
                click.echo(f"wrote {png_path}", err=True)
            if html_path:
                write_html(picture, html_path)
                click.echo(f"wrote {html_path}", err=True)
    finally:
        store.close()
    if as_json:
        echo_json(view)
        return
    click.echo(f"ring {view['ring_id']}  run {view['run_id']}  "
               f"score {view['score']:.3f}  status {view['status']}")
    click.echo(f"members {view['size']}  exposure {view['exposure']:,.2f}")
    ev = view["evidence"]
    burst = ev.get("burst") or {}
    click.echo(
        f"created in a burst: {burst.get('members', 0)} within "
        f"{burst.get('window_days', 0):g} days; distinct surnames "
        f"{ev.get('distinct_surnames', 0)}; invalid national ids "
        f"{ev.get('invalid_ids', 0)}; national ids reused from older accounts "
        f"{ev.get('national_id_reused_outside', 0)}; known fraud "
        f"{ev.get('known_fraud', 0)}, known legit {ev.get('known_legit', 0)}"
    )
    click.echo("shared identifiers:")
    echo_table(view["evidence"]["shared"],
               ["kind", "display", "tier", "members", "degree", "hub", "exposure"])
    click.echo("members:")
    echo_table(view["member_decisions"],
               ["account_id", "decision", "score", "label"])


@click.group()
def account() -> None:
    """Look at one account."""


@account.command("show")
@click.argument("account_id")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@pass_cli
def account_show(cli_ctx: CliContext, account_id: str, as_json: bool) -> None:
    """Show an account's identifiers, linked accounts, ring, decision, exposure."""
    from ringfence.queries import account_view

    store = open_store(cli_ctx, readonly=True)
    try:
        view = account_view(store, account_id)
    finally:
        store.close()
    if as_json:
        echo_json(view)
        return
    acc = view["account"]
    click.echo(f"account {acc['account_id']}  decision {acc['decision'] or '-'}  "
               f"score {acc['score'] if acc['score'] is not None else '-'}  "
               f"ring {acc['ring_id'] or '-'}")
    for reason in acc["reasons"] or []:
        click.echo(f"  - {reason}")
    click.echo("identifiers:")
    echo_table(view["identifiers"], ["kind", "display", "valid", "accounts",
                                     "shared_with"])
    click.echo(f"products (exposure {view['exposure']:,.2f}):")
    echo_table(view["products"], ["product", "term_months", "amount", "balance",
                                  "credit_limit"])


COMMANDS = [rings, ring, account]
