"""``ringfence neo4j import``: the first load of an empty database, offline.

The rows go through the loader exactly as ``ringfence load`` sends them,
then Neo4j's own importer writes the graph while the server is stopped.
"""

from __future__ import annotations

import sys
from collections.abc import Callable

import click

from ringfence.cli.common import CliContext, echo_json, pass_cli

__all__ = ["import_command"]


@click.command(name="import")
@click.argument("accounts", nargs=-1, type=click.Path(dir_okay=False))
@click.option("--loans", multiple=True, type=click.Path(dir_okay=False),
              help="Loans table (repeatable).")
@click.option(
    "--home", type=click.Path(file_okay=False),
    help="Home of the running server [default: $RINGFENCE_NEO4J_HOME, "
    "else ./.neo4j]",
)
@click.option("--heap", default="2g", show_default=True,
              help="JVM heap of the importer and of the restarted server.")
@click.option("--pagecache", default="2g", show_default=True,
              help="Page cache of the restarted server.")
@click.option("--reports", "reports_dir", type=click.Path(file_okay=False),
              default="ringfence-loads", show_default=True,
              help="Folder for the rejects and ignored-values files.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@pass_cli
def import_command(
    cli_ctx: CliContext, accounts: tuple[str, ...], loans: tuple[str, ...],
    home: str | None, heap: str, pagecache: str, reports_dir: str, as_json: bool,
) -> None:
    """Bulk-load account and loan tables into the server's empty database.

    Much faster than `ringfence --store neo4j load` for a first load: the
    server is stopped while Neo4j's importer writes the graph, then started
    again on the same port with ringfence's constraints and indexes. Refuses
    a database that holds anything; later loads go over Bolt.
    """
    from ringfence.cli.jobs import _print_load
    from ringfence.graph.neo4j_bulk import BulkResult, bulk_import

    if not accounts and not loans:
        raise click.UsageError("name at least one accounts file or --loans file")
    def run(progress: Callable[[int], None] | None = None) -> BulkResult:
        return bulk_import(
            list(accounts), list(loans), config=cli_ctx.config,
            reports_dir=reports_dir, home=home, heap=heap, pagecache=pagecache,
            progress=progress,
        )

    if not as_json and sys.stderr.isatty():
        with click.progressbar(length=0, label="loading rows", file=sys.stderr,
                               show_pos=True) as bar:
            result = run(bar.update)
    else:
        result = run()
    if as_json:
        echo_json({
            "reports": [r.as_dict() for r in result.reports],
            "counts": result.counts,
            "seconds": result.seconds,
        })
        return
    _print_load(result.reports)
    counts = ", ".join(f"{n} {k}" for k, n in result.counts.items())
    click.echo(f"imported {counts} in {result.seconds['total']:.1f}s")
