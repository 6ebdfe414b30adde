"""The lending gate's command: ``ringfence gate check``."""

from __future__ import annotations

import json
from typing import IO, Any

import click

from ringfence.cli.common import CliContext, open_store, pass_cli
from ringfence.errors import InputError

__all__ = ["COMMANDS"]


def _line(data: Any) -> str:
    return json.dumps(data, ensure_ascii=False, separators=(",", ":"), default=str)


@click.group()
def gate() -> None:
    """Score loan applications against the stored graph (read only)."""


@gate.command("check")
@click.option("--file", "path", type=click.Path(dir_okay=False, allow_dash=True),
              default="-", show_default=True,
              help="Application JSON (or JSON lines with --batch); - is stdin.")
@click.option("--batch", is_flag=True,
              help="Read one application per line; write one JSON line each. A "
              "malformed line gets an error object with its line number.")
@click.option("--pretty", is_flag=True, help="Indent the JSON of a single check.")
@click.option("--json", "as_json", is_flag=True,
              help="Accepted for symmetry with the other commands: the output "
              "is always JSON.")
@pass_cli
def check(cli_ctx: CliContext, path: str, batch: bool, pretty: bool,
          as_json: bool) -> None:
    """Decide one application: decline, review or allow, with reasons.

    The application is a JSON object of identifiers (national_id, phone,
    email, address, device_id, ip and declared extra kinds) with optional
    application_id, full_name, applied_at, account_id and loan
    {product, term_months, amount}. The store is opened read only and
    never written.
    """
    from ringfence.gate import Gate

    store = open_store(cli_ctx, readonly=True)
    try:
        checker = Gate(store, cli_ctx.config)
        with click.open_file(path, "r", encoding="utf-8") as fh:
            if batch:
                _batch(checker, fh)
                return
            text = fh.read()
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise InputError(
                f"{'stdin' if path == '-' else path}: not valid JSON ({exc.msg} at "
                f"line {exc.lineno}, column {exc.colno}); send one JSON object, or "
                "use --batch for JSON lines"
            ) from exc
        result = checker.check(data)
    finally:
        store.close()
    if pretty:
        click.echo(json.dumps(result, ensure_ascii=False, indent=2, default=str))
    else:
        click.echo(_line(result))


def _batch(checker: Any, fh: IO[str]) -> None:
    for result in checker.check_lines(fh):
        click.echo(_line(result))


COMMANDS = [gate]
