"""Store fixtures: every store test runs on the embedded store and on Neo4j.

Neo4j comes from ``$NEO4J_URI`` (with ``NEO4J_USERNAME``/``NEO4J_PASSWORD``)
when set, else from a server this session starts in ``.neo4j/pytest-<pid>``
with the jars of the repository's ``.neo4j/lib`` cache. Each test starts from
an empty database, so the server must be a local, disposable one: the
fixture refuses any URI that is not on the loopback interface. Without Java
or Maven the Neo4j cases are skipped, except under CI, where they fail.
"""

from __future__ import annotations

import os
import random
import secrets
import shutil
import signal
import socket
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from ringfence.errors import RingfenceError
from ringfence.graph.base import GraphStore
from ringfence.graph.embedded import EmbeddedStore
from ringfence.model import AccountRecord, Identifier, Product

REPO = Path(__file__).resolve().parents[2]
#: Holds the shared jar cache (``lib``) and the homes of test servers.
NEO4J_CACHE = REPO / ".neo4j"

Records = tuple[list[AccountRecord], list[Product]]


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def neo4j_unavailable(reason: str) -> None:
    """Skip a Neo4j case, or fail it when running under CI."""
    if os.environ.get("CI"):
        pytest.fail(f"{reason} (CI is set: Neo4j tests must run)")
    pytest.skip(reason)


def start_test_server(tag: str) -> tuple[Path, dict[str, str], int]:
    """Start a throwaway server; return its home, credentials and pid."""
    from ringfence.graph import neo4j_server

    home = NEO4J_CACHE / f"pytest-{tag}-{os.getpid()}"
    shutil.rmtree(home, ignore_errors=True)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("RINGFENCE_NEO4J_JARS", str(NEO4J_CACHE / "lib"))
        try:
            info = neo4j_server.start(
                home, password=secrets.token_urlsafe(16), bolt_port=free_port(),
                heap="1g", pagecache="256m", wait_s=240,
            )
        except (RingfenceError, OSError) as exc:
            shutil.rmtree(home, ignore_errors=True)
            neo4j_unavailable(f"cannot start Neo4j for the store tests: {exc}")
            raise
    return home, info.env(), info.pid


def stop_test_server(home: Path) -> None:
    """Kill a throwaway server and delete its home.

    Its data is discarded, so SIGKILL saves the ten seconds a clean shutdown
    takes; ``stop`` then finds it gone and tidies the pid files.
    """
    from ringfence.graph import neo4j_server

    pid = neo4j_server.status(home)["pid"]
    if pid is not None:
        os.kill(pid, signal.SIGKILL)
    neo4j_server.stop(home, timeout_s=30)
    shutil.rmtree(home, ignore_errors=True)


@pytest.fixture(scope="session")
def neo4j_env() -> Iterator[dict[str, str]]:
    """``NEO4J_URI``/``NEO4J_USERNAME``/``NEO4J_PASSWORD`` of the test server."""
    if os.environ.get("NEO4J_URI"):
        env = {
            k: os.environ.get(k, "")
            for k in ("NEO4J_URI", "NEO4J_USERNAME", "NEO4J_PASSWORD")
        }
        host = urlsplit(env["NEO4J_URI"]).hostname or ""
        if host not in ("127.0.0.1", "localhost", "::1"):
            pytest.fail(
                f"NEO4J_URI points at {host!r}: the store tests empty the database, "
                "so they only run against a server on 127.0.0.1"
            )
        yield env
        return
    home, env, _pid = start_test_server("session")
    try:
        yield env
    finally:
        stop_test_server(home)


def clear_neo4j(env: dict[str, str]) -> None:
    """Delete every node and relationship (schema stays)."""
    import neo4j

    with neo4j.GraphDatabase.driver(
        env["NEO4J_URI"], auth=(env["NEO4J_USERNAME"] or "neo4j",
                                env["NEO4J_PASSWORD"]),
    ) as driver, driver.session() as session:
        session.run(
            "MATCH (n) CALL (n) { DETACH DELETE n } IN TRANSACTIONS OF 10000 ROWS"
        ).consume()


def open_neo4j(env: dict[str, str], **kwargs: Any) -> GraphStore:
    from ringfence.graph.neo4j_store import Neo4jStore

    try:
        clear_neo4j(env)
        return Neo4jStore(
            env["NEO4J_URI"], env["NEO4J_USERNAME"] or None, env["NEO4J_PASSWORD"],
            **kwargs,
        )
    except RingfenceError as exc:
        neo4j_unavailable(f"cannot open the Neo4j test store: {exc}")
        raise


@pytest.fixture()
def dedicated_neo4j() -> Iterator[tuple[Path, dict[str, str], int]]:
    """A server of the test's own (home, credentials, pid), free to be killed."""
    home, env, pid = start_test_server("own")
    try:
        yield home, env, pid
    finally:
        stop_test_server(home)


@pytest.fixture(
    params=["embedded", pytest.param("neo4j", marks=pytest.mark.neo4j)]
)
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[GraphStore]:
    """An empty store of each kind."""
    if request.param == "embedded":
        opened: GraphStore = EmbeddedStore(tmp_path / "store")
    else:
        opened = open_neo4j(request.getfixturevalue("neo4j_env"))
    try:
        yield opened
    finally:
        opened.close()


@pytest.fixture()
def neo4j_store(neo4j_env: dict[str, str]) -> Iterator[GraphStore]:
    """An empty Neo4j store, for the checks that compare it with the embedded one."""
    opened = open_neo4j(neo4j_env)
    try:
        yield opened
    finally:
        opened.close()


def make_records(n: int, seed: int = 0) -> Records:
    """``n`` generated rows with shared identifiers, plus some products.

    About one row in ten repeats an earlier account with a later
    ``seen_at``; phones, devices, IPs and addresses come from small pools so
    accounts share them, one IP is a hub; a declared kind (``bank_account``)
    and invalid identifiers appear too.
    """
    rng = random.Random(seed)
    records: list[AccountRecord] = []
    products: list[Product] = []
    for i in range(n):
        if i and rng.random() < 0.1:
            account_id = records[rng.randrange(len(records))].account_id
        else:
            account_id = f"A{seed}-{i:06d}"
        created = 1_600_000_000 + rng.randrange(10_000_000)
        seen = created + rng.randrange(1_000_000)
        idents = [
            Identifier("phone", f"+4477{rng.randrange(n // 2 + 1):07d}",
                       f"+44 77** ***{rng.randrange(100):02d}",
                       valid=rng.random() > 0.05),
            Identifier("email", f"user{rng.randrange(n)}@example.com",
                       "u***@example.com"),
            Identifier("device", f"dev-{rng.randrange(n // 3 + 1)}", "device"),
            Identifier("ip", "10.0.0.1" if rng.random() < 0.05
                       else f"10.{rng.randrange(n // 4 + 1)}", "ip"),
            Identifier("address", f"addr-{rng.randrange(n // 2 + 1)}", "1 High St",
                       extra=f"bldg-{rng.randrange(n // 8 + 1)}"),
        ]
        if rng.random() < 0.3:
            idents.append(
                Identifier("bank_account", f"GB{rng.randrange(n):08d}", "****1234")
            )
        records.append(
            AccountRecord(
                account_id, created, seen,
                full_name=f"Name {rng.randrange(50)}",
                date_of_birth=rng.choice(["", "1990-01-02", "1985-12-31"]),
                label=rng.choice([None, None, "fraud", "legit"]),
                identifiers=idents,
            )
        )
        if rng.random() < 0.4:
            products.append(
                Product(
                    account_id, rng.choice(["card", "loan"]),
                    rng.choice([None, 12, 24]),
                    rng.choice([None, 1000.0, 2500.5]),
                    float(rng.randrange(5000)),
                    rng.choice([None, 6000.0]),
                )
            )
    return records, products


@pytest.fixture(name="make_records")
def make_records_fixture() -> Callable[..., Records]:
    """The record generator, for tests that need their own graph."""
    return make_records
