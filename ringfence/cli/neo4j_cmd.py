"""``ringfence neo4j``: run the local Neo4j server investigators query.

``import`` (in :mod:`ringfence.cli.neo4j_bulk_cmd`) fills its empty database
offline, far faster than a load over Bolt.

``start`` prints the ``export`` lines of the server's address and password
on stdout (everything else goes to stderr), so a shell can take them with
``eval "$(ringfence neo4j start)"``.
"""

from __future__ import annotations

import logging
import os
import shlex
from pathlib import Path
from typing import Any

import click

from ringfence.cli.neo4j_bulk_cmd import import_command

__all__ = ["neo4j_group"]

logger = logging.getLogger(__name__)

_HOME_HELP = (
    "Server home: jars, configuration, data and logs "
    "[default: $RINGFENCE_NEO4J_HOME, else ./.neo4j]"
)


def _export_lines(env: dict[str, str]) -> str:
    return "".join(f"export {k}={shlex.quote(v)}\n" for k, v in env.items())


@click.group(name="neo4j")
def neo4j_group() -> None:
    """Start, stop and inspect the local Neo4j server (Bolt on 127.0.0.1)."""


@neo4j_group.command()
@click.option("--home", type=click.Path(file_okay=False), help=_HOME_HELP)
@click.option(
    "--port", "--bolt-port", "port", type=click.IntRange(1, 65535), default=7687,
    show_default=True, help="Loopback port for Bolt.",
)
@click.option("--heap", default="2g", show_default=True, help="JVM heap size.")
@click.option(
    "--pagecache", default="2g", show_default=True, help="Neo4j page cache size."
)
@click.option(
    "--wait", "wait_s", type=click.FloatRange(1), default=180, show_default=True,
    help="Seconds to wait for Bolt to answer.",
)
@click.option(
    "--env-file", type=click.Path(dir_okay=False),
    help="Also write the export lines to this file (mode 0600).",
)
@click.option(
    "--warm/--no-warm", default=True, show_default=True,
    help="Read the indexes and stores once after starting, so that the first "
    "queries are fast.",
)
def start(
    home: str | None, port: int, heap: str, pagecache: str, wait_s: float,
    env_file: str | None, warm: bool,
) -> None:
    """Start the server (fetching its jars with Maven the first time).

    The password is NEO4J_PASSWORD when set, else one generated on first
    start and kept in HOME/password. Does nothing if the server runs already.
    """
    from ringfence.graph import neo4j_server

    was_running = neo4j_server.status(home)["running"]
    info = neo4j_server.start(
        home, bolt_port=port, heap=heap, pagecache=pagecache, wait_s=wait_s
    )
    if warm and not was_running:  # a running server's cache is already warm
        _warm(info)
    lines = _export_lines(info.env())
    if env_file:
        path = Path(env_file)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as out:
            out.write(lines)
        os.chmod(path, 0o600)
    click.echo(
        f"Neo4j {neo4j_server.NEO4J_VERSION} running (pid {info.pid}) on "
        f"{info.uri}; home {info.home}, log {info.log}",
        err=True,
    )
    click.echo(lines, nl=False)


def _warm(info: Any) -> None:
    """Warm the page cache; a failure only costs speed, so it is logged."""
    import time

    from ringfence.errors import RingfenceError
    from ringfence.graph.neo4j_store import Neo4jStore

    started = time.perf_counter()
    try:
        with Neo4jStore(info.uri, info.user, info.password) as store:
            assert isinstance(store, Neo4jStore)
            read = store.warm_up()
    except RingfenceError as exc:
        logger.warning("could not warm the Neo4j page cache: %s", exc)
        return
    logger.info("warmed the Neo4j page cache: %d entries in %.1fs", read,
                time.perf_counter() - started)


@neo4j_group.command()
@click.option("--home", type=click.Path(file_okay=False), help=_HOME_HELP)
@click.option(
    "--timeout", "timeout_s", type=click.FloatRange(1), default=60,
    show_default=True, help="Seconds to wait after SIGTERM before SIGKILL.",
)
def stop(home: str | None, timeout_s: float) -> None:
    """Stop the server: SIGTERM, then SIGKILL after the timeout."""
    from ringfence.graph import neo4j_server

    if neo4j_server.stop(home, timeout_s=timeout_s):
        click.echo("Neo4j stopped", err=True)
    else:
        click.echo("Neo4j was not running", err=True)


@neo4j_group.command()
@click.option("--home", type=click.Path(file_okay=False), help=_HOME_HELP)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
def status(home: str | None, as_json: bool) -> None:
    """Say whether the server runs, with its pid and Bolt URI."""
    from ringfence.cli.common import echo_json
    from ringfence.graph import neo4j_server

    info = neo4j_server.status(home)
    if as_json:
        echo_json(info)
    elif info["running"]:
        click.echo(f"running (pid {info['pid']}) on {info['uri']}; home {info['home']}")
    else:
        click.echo(f"stopped; home {info['home']}")


neo4j_group.add_command(import_command)
