"""Shared plumbing of the CLI commands: settings, stores and output."""

from __future__ import annotations

import json
import math
import os
import resource
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import click

from ringfence.config import Config, load_config
from ringfence.graph.base import GraphStore

#: File in which the demo keeps the national-id key it made for its store.
DEMO_KEY_FILE = "demo-national-id.key"

__all__ = [
    "DEMO_KEY_FILE",
    "CliContext",
    "cli_context",
    "echo_json",
    "echo_table",
    "model_dir",
    "open_store",
    "read_snapshot",
    "pass_cli",
    "peak_rss_mb",
]


@dataclass(slots=True)
class CliContext:
    """What the top-level options decided, shared with every command."""

    store_spec: str
    config_path: str | None
    debug: bool
    _config: Config | None = field(default=None, repr=False)

    @property
    def config(self) -> Config:
        if self._config is None:
            config = load_config(self.config_path)
            # A demo store made its own national-id key: use it when no
            # other key is set, so queries on the demo just work.
            demo_key = Path(self.store_spec) / DEMO_KEY_FILE
            if (not self.is_neo4j and not config.national_id_key
                    and not os.environ.get(config.national_id_key_env)
                    and demo_key.is_file()):
                config.national_id_key = demo_key.read_text().strip()
            self._config = config
        return self._config

    @property
    def is_neo4j(self) -> bool:
        return self.store_spec == "neo4j" or self.store_spec.startswith(
            ("bolt://", "neo4j://")
        )

    def reports_dir(self) -> Path:
        """Where load reports go: inside the embedded store, else locally."""
        if self.is_neo4j:
            return Path("ringfence-loads")
        return Path(self.store_spec) / "loads"


def cli_context(store: str, config_path: str | None, debug: bool) -> CliContext:
    """Build the shared context of one CLI invocation."""
    return CliContext(store_spec=store, config_path=config_path, debug=debug)


pass_cli = click.make_pass_decorator(CliContext)


def open_store(ctx: CliContext, *, readonly: bool = False) -> GraphStore:
    """Open the store named by ``--store``."""
    if ctx.is_neo4j:
        from ringfence.graph.neo4j_store import Neo4jStore

        uri = None if ctx.store_spec == "neo4j" else ctx.store_spec
        return Neo4jStore(uri=uri)
    from ringfence.graph.embedded import EmbeddedStore

    return EmbeddedStore(ctx.store_spec, readonly=readonly)


def read_snapshot(ctx: CliContext) -> Any:
    """The store's whole graph, read once and the store closed again."""
    store = open_store(ctx, readonly=True)
    try:
        return store.snapshot()
    finally:
        store.close()


def model_dir(ctx: CliContext) -> str:
    """Default GNN model directory: inside the embedded store, else local."""
    if ctx.is_neo4j:
        return "ringfence-model"
    return str(Path(ctx.store_spec) / "model")


def peak_rss_mb() -> float:
    """Peak resident memory of this process so far, in MiB."""
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def _plain(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if hasattr(value, "item") and not isinstance(value, (list, dict, str)):
        return value.item()
    if isinstance(value, Path):
        return str(value)
    return value


def echo_json(data: Any) -> None:
    """Print ``data`` as one JSON document."""
    click.echo(json.dumps(data, indent=2, default=_plain, ensure_ascii=False))


def echo_table(rows: Sequence[dict[str, Any]], columns: Sequence[str]) -> None:
    """Print rows as an aligned text table."""
    if not rows:
        click.echo("(none)")
        return
    text = [[_cell(r.get(c)) for c in columns] for r in rows]
    widths = [max(len(c), *(len(t[i]) for t in text)) for i, c in enumerate(columns)]
    click.echo("  ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True)))
    for t in text:
        click.echo("  ".join(v.ljust(w) for v, w in zip(t, widths, strict=True)))


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        if value != value:
            return ""
        return f"{value:,.2f}" if abs(value) >= 100 else f"{value:.4g}"
    if isinstance(value, (list, tuple)):
        return ", ".join(str(v) for v in value)
    text = str(value)
    return text if len(text) <= 60 else text[:57] + "..."
