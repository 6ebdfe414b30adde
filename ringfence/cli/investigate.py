"""Investigator commands across accounts: who-shares, path, contacts."""

from __future__ import annotations

import click

from ringfence.cli.common import CliContext, echo_json, echo_table, open_store, pass_cli

__all__ = ["COMMANDS"]


@click.command("who-shares")
@click.argument("kind")
@click.argument("value")
@click.option("--limit", type=click.IntRange(min=1), default=200, show_default=True,
              help="Most accounts listed.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@pass_cli
def who_shares(cli_ctx: CliContext, kind: str, value: str, limit: int,
               as_json: bool) -> None:
    """List the accounts holding one identifier value.

    KIND is national_id, phone, email, address, device, ip or a declared
    extra kind. VALUE is normalised exactly as at load, so any layout
    finds it; national ids are shown masked, never in clear.
    """
    from ringfence.investigate import who_shares as query

    store = open_store(cli_ctx, readonly=True)
    try:
        view = query(store, cli_ctx.config, kind, value, limit=limit)
    finally:
        store.close()
    if as_json:
        echo_json(view)
        return
    hub = f"hub: {view['hub_reason']}" if view["hub"] else "not a hub"
    click.echo(f"{view['kind']} {view['display']}  held by {view['degree']} "
               f"account(s)  (cap {view['cap']}, {hub})")
    echo_table(view["accounts"], ["account_id", "decision", "score", "ring_id",
                                  "created_at", "last_seen"])
    if view["truncated"]:
        click.echo(f"... first {len(view['accounts'])} of {view['degree']} shown")


@click.command()
@click.argument("source")
@click.argument("target")
@click.option("--max-hops", type=click.IntRange(min=1, max=12), default=4,
              show_default=True, help="Most account-to-account hops.")
@click.option("--through-hubs", is_flag=True,
              help="Also cross hub identifiers (above their cap or allow-listed).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@pass_cli
def path(cli_ctx: CliContext, source: str, target: str, max_hops: int,
         through_hubs: bool, as_json: bool) -> None:
    """Show the shortest chain of shared identifiers between two accounts."""
    from ringfence.investigate import shortest_path

    store = open_store(cli_ctx, readonly=True)
    try:
        view = shortest_path(store, cli_ctx.config, source, target,
                             max_hops=max_hops, through_hubs=through_hubs)
    finally:
        store.close()
    if as_json:
        echo_json(view)
        return
    if not view["found"]:
        hubs = ("" if through_hubs or not view["hubs_skipped"] else
                f"; {view['hubs_skipped']} hub identifier(s) were not crossed "
                "(--through-hubs crosses them)")
        click.echo(f"no chain of shared identifiers links {source} and {target} "
                   f"within {max_hops} hop(s){hubs}")
        return
    click.echo(f"{source} -> {target}: {view['hops']} hop(s)")
    for n, hop in enumerate(view["path"], 1):
        click.echo(f"  {n}. {hop['from']} --[{hop['kind']} {hop['display']}]--> "
                   f"{hop['to']}")


@click.command()
@click.argument("account_id")
@click.option("--max-hops", type=click.IntRange(min=1, max=4), default=1,
              show_default=True, help="Account-to-account hops to follow.")
@click.option("--limit", type=click.IntRange(min=1), default=50, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@pass_cli
def contacts(cli_ctx: CliContext, account_id: str, max_hops: int, limit: int,
             as_json: bool) -> None:
    """Other phones and emails that may reach the person behind an account.

    Follows the account's national id, phones, emails (and declared hard
    kinds) and devices to the accounts sharing them, then lists those
    accounts' phones and emails, best first: fewest hops, strongest link,
    latest seen.
    """
    from ringfence.investigate import contacts as query

    store = open_store(cli_ctx, readonly=True)
    try:
        view = query(store, cli_ctx.config, account_id, max_hops=max_hops,
                     limit=limit)
    finally:
        store.close()
    if as_json:
        echo_json(view)
        return
    own = ", ".join(f"{o['kind']} {o['display']}" for o in view["own"]) or "-"
    click.echo(f"account {account_id}  own: {own}  "
               f"linked accounts: {view['linked_accounts']}")
    echo_table(view["contacts"], ["kind", "display", "hop", "via_kind",
                                  "via_display", "via_account", "last_seen",
                                  "holders"])


COMMANDS = [who_shares, path, contacts]
