"""The nightly job's command: ``ringfence nightly --config FILE``."""

from __future__ import annotations

import click

from ringfence.cli.common import CliContext, echo_json, echo_table, pass_cli

__all__ = ["COMMANDS"]


@click.command()
@click.option("--config", "config_path", type=click.Path(dir_okay=False),
              help="YAML config with a 'nightly:' section (default: the global "
              "--config).")
@click.option("--date", help="The night to run, YYYY-MM-DD (default: today, UTC).")
@click.option("--json", "as_json", is_flag=True, help="Print the run record.")
@pass_cli
def nightly(cli_ctx: CliContext, config_path: str | None, date: str | None,
            as_json: bool) -> None:
    """Load the night's deltas, detect rings, export, record and report.

    Missing inputs or a reject rate above nightly.max_reject_rate stop the
    night with a non-zero exit and leave the store and the previous export
    as they were. Running a night again (after a crash, say) replaces its
    run record and gives the export a clean run gives.
    """
    from ringfence.errors import ConfigError
    from ringfence.nightly import run_night

    path = config_path or cli_ctx.config_path
    if not path:
        raise ConfigError("nightly needs --config FILE with a 'nightly:' section")
    result = run_night(path, date=date, store_spec=cli_ctx.store_spec)
    record = result.record
    if as_json:
        echo_json(record)
        return
    click.echo(f"night {record['date']}: run {record['run_id']}")
    rows = record["rows"]
    click.echo(f"loaded {rows['read']} rows: {rows['accepted']} accepted, "
               f"{rows['rejected']} rejected")
    exp = record["export"]
    click.echo(f"exported {exp['rows']} flagged accounts ({exp['added']} added, "
               f"{exp['removed']} removed) to {exp['path']}")
    changes = record["changes"]
    echo_table([{"status": s, "rings": len(ids)}
                for s, ids in changes["rings"].items()], ["status", "rings"])
    click.echo(f"record: {result.record_path}")
    click.echo(f"report: {result.report_path}")


COMMANDS = [nightly]
