"""The ``ringfence`` command line.

Domain errors (bad input, bad settings, store failures) become one-line
messages on stderr with distinct exit codes (see ``ringfence --help``);
``--debug`` shows the traceback instead. Heavy modules are imported inside
the commands so that ``ringfence --help`` stays fast.
"""

from __future__ import annotations

import logging
import sys
from typing import Any

import click

from ringfence.cli.common import cli_context
from ringfence.errors import RingfenceError

__all__ = ["DomainError", "cli", "main"]

EPILOG = """Exit codes: 0 ok, 1 other ringfence error, 2 configuration or usage,
3 bad input, 4 store failure, 5 model problem."""


class _Group(click.Group):
    """Turns :class:`RingfenceError` into a one-line message and exit code."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except RingfenceError as exc:
            if ctx.obj is not None and ctx.obj.debug:
                raise
            raise DomainError(exc) from exc


class DomainError(click.ClickException):
    """A ringfence error shown as ``error: <message>``."""

    def __init__(self, error: RingfenceError) -> None:
        super().__init__(str(error))
        self.exit_code = error.exit_code  # type: ignore[misc]

    def show(self, file: Any = None) -> None:
        click.echo(f"error: {self.format_message()}", err=True)


@click.group(
    cls=_Group,
    epilog=EPILOG,
    context_settings={"help_option_names": ["-h", "--help"]},
)
@click.option(
    "--store",
    envvar="RINGFENCE_STORE",
    default="ringfence-store",
    show_default=True,
    help="Embedded store directory, or 'neo4j' to use the Neo4j server named "
    "by NEO4J_URI / NEO4J_USERNAME / NEO4J_PASSWORD / NEO4J_DATABASE.",
)
@click.option(
    "--config",
    "config_path",
    type=click.Path(dir_okay=False),
    envvar="RINGFENCE_CONFIG",
    help="YAML settings file (extra identifier kinds, thresholds, hubs).",
)
@click.option("--debug", is_flag=True, help="Show tracebacks and debug logs.")
@click.option("-v", "--verbose", is_flag=True, help="Log progress to stderr.")
@click.version_option(package_name="ringfence")
@click.pass_context
def cli(
    ctx: click.Context, store: str, config_path: str | None, debug: bool,
    verbose: bool,
) -> None:
    """ringfence: find synthetic-identity fraud rings in lending accounts."""
    level = logging.DEBUG if debug else logging.INFO if verbose else logging.WARNING
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(name)s %(message)s"))
    package_logger = logging.getLogger("ringfence")
    package_logger.handlers[:] = [handler]
    package_logger.setLevel(level)
    package_logger.propagate = False
    ctx.obj = cli_context(store, config_path, debug)


def _register() -> None:
    from ringfence.cli import (
        gate_cmd,
        gnn_cmd,
        investigate,
        jobs,
        neo4j_cmd,
        nightly_cmd,
        queries,
    )

    for module in (jobs, queries, investigate, gnn_cmd, nightly_cmd, gate_cmd):
        for command in module.COMMANDS:
            cli.add_command(command)
    cli.add_command(neo4j_cmd.neo4j_group)


_register()


def main(argv: list[str] | None = None) -> None:
    """Console entry point."""
    cli.main(args=argv, prog_name="ringfence")


if __name__ == "__main__":  # pragma: no cover
    main()
