"""Provision and run a local Neo4j Community server for ringfence.

Investigators and the store tests need a Neo4j 5 server but this project
ships no binaries: the server's jars are resolved from Maven Central by a
small packaged pom (``neo4j_pom.xml``) and the server is started straight
from its Java entry point. Everything lives in one *home* folder:

``<home>/lib``
    the jars, or a link to them: they are fetched once into
    :func:`jar_cache` and shared by every home;
``<home>/conf/neo4j.conf``
    rewritten at every start: Bolt on 127.0.0.1 only, HTTP(S) off,
    authentication on, usage reports off, memory for a small host;
``<home>/data``, ``<home>/logs``
    the databases and Neo4j's own logs; ``logs/console.log`` holds the
    JVM's output;
``<home>/run``
    ``neo4j.pid`` and ``server.json`` (port, uri) of the running server;
``<home>/password``
    the generated password of the ``neo4j`` user (mode 0600), unless
    ``NEO4J_PASSWORD`` supplied one.

The home defaults to ``.neo4j/`` in the current directory, or to
``$RINGFENCE_NEO4J_HOME``.

Notes:
    Started directly, the entry point ignores the JVM settings of
    ``neo4j.conf``, so heap size and the module flags Neo4j needs on Java 17
    are passed on the java command line. The initial password is written
    before the first start with Neo4j's own admin tool from the same jars;
    it cannot be changed this way once the system database exists. The
    admin tool takes the password as an argument, so local users can see
    it in the process list for the second that tool runs.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from ringfence.errors import ConfigError, StoreError

__all__ = [
    "NEO4J_VERSION",
    "ServerInfo",
    "default_home",
    "ensure_jars",
    "jar_cache",
    "start",
    "status",
    "stop",
]

logger = logging.getLogger(__name__)

#: Neo4j release resolved by the packaged pom.
NEO4J_VERSION = "5.26.30"

_USER = "neo4j"
_JAR_MARKER = ".ringfence-jars"
_MIN_PASSWORD = 8  # Neo4j's default dbms.security.auth_minimum_password_length
_SIZE_RE = re.compile(r"^[1-9][0-9]*[kmgKMG]$")

# The entry point does not read server.jvm.additional, so these travel on the
# command line. The --add-opens flags let the page cache and the transaction
# log reach direct buffers and file descriptors on Java 17; without them
# Neo4j falls back to slower paths and logs warnings.
_JVM_FLAGS = (
    "-XX:+UseG1GC",
    "-XX:-OmitStackTraceInFastThrow",
    "-XX:+ExitOnOutOfMemoryError",
    "-XX:+DisableExplicitGC",
    "-Djdk.nio.maxCachedBufferSize=1024",
    "-Dio.netty.tryReflectionSetAccessible=true",
    "-Dlog4j2.disable.jmx=true",
    "--add-opens=java.base/java.nio=ALL-UNNAMED",
    "--add-opens=java.base/java.io=ALL-UNNAMED",
    "--add-opens=java.base/sun.nio.ch=ALL-UNNAMED",
)
_ENTRY_POINT = "org.neo4j.server.CommunityEntryPoint"
_ADMIN_TOOL = "org.neo4j.cli.AdminTool"


# -- class-data sharing ---------------------------------------------------------
# A JVM that maps the classes an earlier run loaded, from an archive that run
# wrote as it exited, starts Neo4j in about 3 s instead of 5 (2 cores). The
# server's first run writes the archive as it stops. A damaged archive can
# crash the JVM that maps it, so: archives carry a checksum that every JVM
# mapping one checks (-XX:+VerifySharedSpaces: a mismatch only turns sharing
# off); an archive is adopted only once a trial JVM has mapped it, with its
# size noted beside it, and one whose size changed since is deleted unused (a
# short file is the one damage the checksum cannot catch: the JVM reads past
# its end first); a server that dies while starting from an archive is
# started again without it. Any error here only means starting without one.
# The importer gets none: it runs once per database, and writing the archive
# costs more than it would save.
_CDS_CHECK = "-XX:+VerifySharedSpaces"


def _archive(home: Path) -> Path:
    """The server's class-data archive for this Java and Neo4j version."""
    java = os.path.realpath(shutil.which("java") or "java")
    try:
        stamp = os.stat(java).st_mtime_ns
    except OSError:
        stamp = 0
    tag = hashlib.sha256(f"{java}:{stamp}:{NEO4J_VERSION}".encode()).hexdigest()
    return home / "cds" / f"server-{tag[:12]}.jsa"


def _drop_archive(home: Path) -> None:
    archive = _archive(home)
    for path in (archive, archive.with_suffix(".size")):
        path.unlink(missing_ok=True)


def _cds_flags(home: Path) -> list[str]:
    """Use the server's archive, or write it when this run exits."""
    archive = _archive(home)
    try:
        noted = archive.with_suffix(".size").read_text().strip()
        if archive.stat().st_size == int(noted):
            return [_CDS_CHECK, f"-XX:SharedArchiveFile={archive}"]
    except (OSError, ValueError):
        pass
    try:
        _drop_archive(home)
        archive.parent.mkdir(parents=True, exist_ok=True)
        dump = archive.with_suffix(".dump")
        dump.unlink(missing_ok=True)
    except OSError as exc:
        logger.info("running without a class-data archive: %s", exc)
        return []
    return [_CDS_CHECK, f"-XX:ArchiveClassesAtExit={dump}"]


def _keep_archive(home: Path, lib: Path) -> None:
    """Adopt the archive the last server run wrote, if a JVM can map it."""
    archive = _archive(home)
    dump = archive.with_suffix(".dump")
    if not dump.is_file():
        return
    crash_log = dump.with_suffix(".crash")
    try:
        trial = subprocess.run(
            ["java", "-Xshare:on", _CDS_CHECK, f"-XX:SharedArchiveFile={dump}",
             f"-XX:ErrorFile={crash_log}", "-XX:-CreateCoredumpOnCrash",
             "-cp", f"{lib}/*", "-version"],
            cwd=dump.parent, capture_output=True, timeout=60, check=False,
        ).returncode
    except (OSError, subprocess.TimeoutExpired):
        trial = -1
    try:
        crash_log.unlink(missing_ok=True)
        if trial == 0:
            archive.with_suffix(".size").write_text(f"{dump.stat().st_size}\n")
            os.replace(dump, archive)
        else:
            logger.info("discarding class-data archive %s: a JVM cannot map it",
                        dump)
            dump.unlink(missing_ok=True)
    except OSError as exc:
        logger.info("class-data archive %s left aside: %s", dump, exc)


@dataclass(frozen=True, slots=True)
class ServerInfo:
    """How to reach a running server.

    Attributes:
        uri: Bolt address, e.g. ``bolt://127.0.0.1:7687``.
        user: Always ``neo4j``.
        password: Password of ``user``.
        pid: Process id of the server's JVM.
        home: The server's home folder.
        log: The JVM's console log.
    """

    uri: str
    user: str
    password: str
    pid: int
    home: str
    log: str

    def env(self) -> dict[str, str]:
        """The environment variables :class:`~ringfence.graph.neo4j_store.Neo4jStore`
        reads."""
        return {
            "NEO4J_URI": self.uri,
            "NEO4J_USERNAME": self.user,
            "NEO4J_PASSWORD": self.password,
        }


def default_home() -> Path:
    """``$RINGFENCE_NEO4J_HOME``, else ``.neo4j`` in the current directory."""
    env = os.environ.get("RINGFENCE_NEO4J_HOME")
    return Path(env) if env else Path.cwd() / ".neo4j"


def _home(home: str | Path | None) -> Path:
    return (Path(home) if home is not None else default_home()).absolute()


# -- jars -------------------------------------------------------------------


def jar_cache() -> Path:
    """Where jars are fetched once for every home: ``$RINGFENCE_NEO4J_JARS``,
    else ``lib`` in :func:`default_home`."""
    env = os.environ.get("RINGFENCE_NEO4J_JARS")
    return (Path(env) if env else default_home() / "lib").absolute()


def _jars_ready(lib: Path) -> bool:
    marker = lib / _JAR_MARKER
    return marker.exists() and marker.read_text().strip() == NEO4J_VERSION


def ensure_jars(home: str | Path | None = None) -> Path:
    """Make sure ``<home>/lib`` holds the server's jars; return that folder.

    Jars are fetched once into :func:`jar_cache` and ``<home>/lib`` links to
    it, so a test home such as ``.neo4j/test`` costs no second download. The
    fetch runs ``mvn dependency:copy-dependencies`` on the packaged pom
    (about 125 MB, from Maven Central or the local ``~/.m2`` cache); later
    calls only check a marker file naming the Neo4j version.

    Raises:
        ConfigError: ``mvn`` is not installed.
        StoreError: Maven failed (the message ends with its last lines).
    """
    lib = _home(home) / "lib"
    if _jars_ready(lib):
        return lib
    shared = jar_cache()
    if not _jars_ready(shared):
        _fetch_jars(shared)
    if shared != lib:
        lib.parent.mkdir(parents=True, exist_ok=True)
        if lib.is_symlink() or lib.is_file():
            lib.unlink()
        elif lib.exists():
            shutil.rmtree(lib)
        lib.symlink_to(shared, target_is_directory=True)
    return lib


def _fetch_jars(dest: Path) -> None:
    mvn = shutil.which("mvn")
    if mvn is None:
        raise ConfigError(
            "Maven (`mvn`) is needed to fetch the Neo4j jars: install Maven 3.8+ "
            f"or copy the jars of Neo4j {NEO4J_VERSION} into {dest}"
        )
    dest.parent.mkdir(parents=True, exist_ok=True)
    staging = dest.parent / (dest.name + ".partial")
    shutil.rmtree(staging, ignore_errors=True)
    pom_text = resources.files("ringfence.graph").joinpath("neo4j_pom.xml")
    logger.info("fetching Neo4j %s jars into %s", NEO4J_VERSION, dest)
    with tempfile.TemporaryDirectory(prefix="ringfence-mvn-") as work:
        pom = Path(work) / "pom.xml"
        pom.write_bytes(pom_text.read_bytes())
        proc = subprocess.run(
            [mvn, "-B", "-q", "-f", str(pom), "dependency:copy-dependencies",
             f"-DoutputDirectory={staging}"],
            cwd=work, capture_output=True, text=True, check=False,
        )
    if proc.returncode != 0 or not any(staging.glob("neo4j-*.jar")):
        tail = " | ".join((proc.stdout + proc.stderr).strip().splitlines()[-5:])
        raise StoreError(
            f"fetching the Neo4j jars with Maven failed (exit {proc.returncode}): "
            f"{tail}; check network access to Maven Central or ~/.m2",
            retryable=True,
        )
    (staging / _JAR_MARKER).write_text(NEO4J_VERSION + "\n")
    if dest.is_symlink() or dest.is_file():
        dest.unlink()
    else:
        shutil.rmtree(dest, ignore_errors=True)
    staging.rename(dest)


# -- configuration ------------------------------------------------------------


def _check_size(name: str, value: str) -> str:
    if not _SIZE_RE.match(value):
        raise ConfigError(
            f"{name} must be a size like 512m or 2g, got {value!r}"
        )
    return value.lower()


def _write_conf(home: Path, bolt_port: int, pagecache: str) -> Path:
    conf_dir = home / "conf"
    conf_dir.mkdir(parents=True, exist_ok=True)
    settings = {
        "server.directories.data": home / "data",
        "server.directories.logs": home / "logs",
        "server.directories.import": home / "import",
        "server.directories.run": home / "run",
        "server.default_listen_address": "127.0.0.1",
        "server.bolt.enabled": "true",
        "server.bolt.listen_address": f"127.0.0.1:{bolt_port}",
        "server.bolt.advertised_address": f"127.0.0.1:{bolt_port}",
        "server.http.enabled": "false",
        "server.https.enabled": "false",
        "dbms.security.auth_enabled": "true",
        "dbms.usage_report.enabled": "false",
        "server.memory.pagecache.size": pagecache,
        # Bound what one transaction may hold; load batches stay far below.
        "db.memory.transaction.max": "1g",
        "db.tx_log.rotation.retention_policy": "1G size",
    }
    text = "".join(f"{k}={v}\n" for k, v in settings.items())
    path = conf_dir / "neo4j.conf"
    path.write_text("# Written by ringfence at each start; edits are lost.\n" + text)
    return conf_dir


def _password(home: Path, password: str | None) -> tuple[str, bool]:
    """Return the password to use and whether it must be saved to ``home``."""
    saved = home / "password"
    given = password or os.environ.get("NEO4J_PASSWORD")
    if given:
        if len(given) < _MIN_PASSWORD:
            raise ConfigError(
                f"NEO4J_PASSWORD must be at least {_MIN_PASSWORD} characters "
                "(Neo4j's minimum)"
            )
        return given, False
    if saved.exists():
        return saved.read_text().strip(), False
    if (home / "data" / "databases" / "system").exists():
        raise ConfigError(
            f"the Neo4j server in {home} was initialised with a password that is "
            "not saved there: set NEO4J_PASSWORD, or delete "
            f"{home / 'data'} to start with an empty database"
        )
    return secrets.token_urlsafe(18), True


def _set_initial_password(home: Path, lib: Path, conf_dir: Path, pw: str) -> None:
    env = dict(os.environ, NEO4J_HOME=str(home), NEO4J_CONF=str(conf_dir))
    proc = subprocess.run(
        ["java", "-cp", f"{lib}/*", _ADMIN_TOOL, "dbms", "set-initial-password",
         "--", pw],  # "--": a generated password may start with "-"
        env=env, capture_output=True, text=True, check=False,
    )
    if proc.returncode != 0:
        tail = " | ".join((proc.stdout + proc.stderr).strip().splitlines()[-3:])
        raise StoreError(f"setting the initial Neo4j password failed: {tail}")


# -- process control ------------------------------------------------------------


def _read_state(home: Path) -> dict[str, Any] | None:
    try:
        return dict(json.loads((home / "run" / "server.json").read_text()))
    except (OSError, ValueError):
        return None


def _alive(pid: int, home: Path) -> bool:
    """Whether ``pid`` is this home's Neo4j JVM (not a recycled pid)."""
    import psutil

    try:
        proc = psutil.Process(pid)
        if proc.status() == psutil.STATUS_ZOMBIE:
            return False
        cmd = proc.cmdline()
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return False
    return _ENTRY_POINT in cmd and f"--home-dir={home}" in cmd


def _tail(path: Path, lines: int = 15) -> str:
    try:
        text = path.read_text(errors="replace").strip().splitlines()
    except OSError:
        return ""
    return "\n".join(text[-lines:])


def _log_tail(home: Path) -> str:
    parts = []
    for name in ("console.log", "neo4j.log"):
        tail = _tail(home / "logs" / name)
        if tail:
            parts.append(f"--- {home / 'logs' / name} (last lines) ---\n{tail}")
    return "\n".join(parts) or "(no log written)"


def _port_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        # As Neo4j binds: connections of a server that just died linger in
        # TIME_WAIT and must not make its own port look taken.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _wait_bolt(
    uri: str, password: str, proc: subprocess.Popen[bytes], home: Path,
    wait_s: float,
) -> None:
    import neo4j
    from neo4j.exceptions import AuthError, DriverError, Neo4jError

    deadline = time.monotonic() + wait_s
    while True:
        if proc.poll() is not None:
            raise StoreError(
                f"Neo4j exited with code {proc.returncode} while starting\n"
                + _log_tail(home)
            )
        try:
            # A query, not only a handshake: after a crash the database
            # answers only once its recovery has finished. An auto-commit
            # query, as the driver's managed retries would hide progress.
            with neo4j.GraphDatabase.driver(
                uri, auth=(_USER, password), connection_timeout=2.0
            ) as driver, driver.session() as session:
                session.run("RETURN 1").consume()
            return
        except AuthError as exc:
            raise ConfigError(
                f"Neo4j in {home} rejected the password: it keeps the password it "
                "was first started with; use that one (NEO4J_PASSWORD or "
                f"{home / 'password'}) or delete {home / 'data'}"
            ) from exc
        except (DriverError, Neo4jError, OSError):
            if time.monotonic() > deadline:
                raise StoreError(
                    f"Neo4j did not answer on {uri} within {wait_s:.0f}s\n"
                    + _log_tail(home),
                    retryable=True,
                ) from None
            time.sleep(0.2)


def _info(home: Path, state: dict[str, Any], password: str) -> ServerInfo:
    return ServerInfo(
        uri=str(state["uri"]),
        user=_USER,
        password=password,
        pid=int(state["pid"]),
        home=str(home),
        log=str(home / "logs" / "console.log"),
    )


def start(
    home: str | Path | None = None,
    *,
    password: str | None = None,
    bolt_port: int = 7687,
    heap: str = "2g",
    pagecache: str = "2g",
    wait_s: float = 180,
) -> ServerInfo:
    """Start the server of ``home`` in the background and wait for Bolt.

    A no-op returning the running server's details when it already runs.

    Args:
        home: Server home (default: :func:`default_home`).
        password: Password of the ``neo4j`` user (default: ``NEO4J_PASSWORD``,
            else the one saved in ``<home>/password``, else a new random one).
        bolt_port: Loopback port for Bolt.
        heap: JVM heap (``-Xms``/``-Xmx``), e.g. ``"2g"``.
        pagecache: Neo4j page cache size, e.g. ``"2g"``.
        wait_s: Seconds to wait for Bolt to answer.

    Returns:
        The URI and credentials of the server.

    Raises:
        ConfigError: Bad sizes, a port in use, or a password that does not
            match the existing database.
        StoreError: The jars cannot be fetched or the server does not come up
            (the message ends with the tail of its logs).
    """
    home = _home(home)
    heap = _check_size("heap", heap)
    pagecache = _check_size("pagecache", pagecache)

    # Already running: report it, whatever was asked for.
    state = _read_state(home)
    if state is not None and _alive(int(state["pid"]), home):
        pw, _ = _password(home, password)
        return _info(home, state, pw)

    # Prepare jars, configuration and the initial password.
    if shutil.which("java") is None:
        raise ConfigError(
            "Java 17 or later is needed to run Neo4j: install a JDK (e.g. "
            "openjdk-17-jre-headless) and make sure `java` is on PATH"
        )
    if not _port_free(bolt_port):
        raise ConfigError(
            f"port {bolt_port} on 127.0.0.1 is in use: pass another --port "
            "or stop the server holding it"
        )
    lib = ensure_jars(home)
    pw, generated = _password(home, password)
    conf_dir = _write_conf(home, bolt_port, pagecache)
    for sub in ("data", "logs", "run", "import"):
        (home / sub).mkdir(parents=True, exist_ok=True)
    if not (home / "data" / "databases" / "system").exists():
        _set_initial_password(home, lib, conf_dir, pw)
    if generated:
        saved = home / "password"
        saved.touch(mode=0o600)
        saved.chmod(0o600)
        saved.write_text(pw + "\n")

    _keep_archive(home, lib)
    uri = f"bolt://127.0.0.1:{bolt_port}"
    while True:
        cds = _cds_flags(home)
        proc, state = _launch(home, lib, conf_dir, heap, uri, bolt_port, cds)
        try:
            _wait_bolt(uri, pw, proc, home, wait_s)
        except StoreError:
            _terminate(proc.pid, home, timeout_s=30)
            if proc.returncode is None or not any(
                flag.startswith("-XX:SharedArchiveFile=") for flag in cds
            ):
                raise
            # It died while starting from its class-data archive: whatever
            # the cause, the next try starts without one (and writes anew).
            logger.warning("Neo4j exited while starting from its class-data "
                           "archive; starting it again without the archive")
            _drop_archive(home)
            continue
        except BaseException:
            _terminate(proc.pid, home, timeout_s=30)
            raise
        return _info(home, state, pw)


def _launch(
    home: Path, lib: Path, conf_dir: Path, heap: str, uri: str, bolt_port: int,
    cds: list[str],
) -> tuple[subprocess.Popen[bytes], dict[str, Any]]:
    """Launch the server's JVM in its own session, so that a Ctrl-C in the
    caller's shell does not reach it, and record its pid."""
    cmd = [
        "java", f"-Xms{heap}", f"-Xmx{heap}", *_JVM_FLAGS, *cds,
        f"-XX:ErrorFile={home / 'logs' / 'hs_err_pid%p.log'}",
        "-cp", f"{lib}/*", _ENTRY_POINT,
        f"--home-dir={home}", f"--config-dir={conf_dir}",
    ]
    console = home / "logs" / "console.log"
    with open(console, "ab") as out:
        proc = subprocess.Popen(
            cmd, cwd=home, stdin=subprocess.DEVNULL, stdout=out,
            stderr=subprocess.STDOUT, start_new_session=True,
        )
    state = {"pid": proc.pid, "uri": uri, "bolt_port": bolt_port,
             "version": NEO4J_VERSION, "started_at": time.time()}
    (home / "run" / "neo4j.pid").write_text(f"{proc.pid}\n")
    (home / "run" / "server.json").write_text(json.dumps(state, indent=2) + "\n")
    logger.info("started Neo4j (pid %d) on %s; waiting for Bolt", proc.pid, uri)
    return proc, state


def _terminate(pid: int, home: Path, timeout_s: float) -> None:
    import psutil

    try:
        proc = psutil.Process(pid)
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout_s)
        except psutil.TimeoutExpired:
            logger.warning("Neo4j (pid %d) ignored SIGTERM; killing it", pid)
            proc.kill()
            proc.wait(30)
    except psutil.NoSuchProcess:
        pass
    for name in ("neo4j.pid", "server.json"):
        (home / "run" / name).unlink(missing_ok=True)


def stop(home: str | Path | None = None, *, timeout_s: float = 60) -> bool:
    """Stop the server of ``home``: SIGTERM, then SIGKILL after ``timeout_s``.

    Returns:
        True if a server was running.
    """
    home = _home(home)
    state = _read_state(home)
    if state is None or not _alive(int(state["pid"]), home):
        for name in ("neo4j.pid", "server.json"):
            (home / "run" / name).unlink(missing_ok=True)
        return False
    _terminate(int(state["pid"]), home, timeout_s)
    _keep_archive(home, home / "lib")
    return True


def status(home: str | Path | None = None) -> dict[str, Any]:
    """Describe the server of ``home``.

    Returns:
        ``running``, ``pid`` and ``uri`` (None when stopped), plus ``home``,
        ``log``, ``version`` and ``jars`` (whether the jars are present).
    """
    home = _home(home)
    state = _read_state(home)
    running = state is not None and _alive(int(state["pid"]), home)
    marker = home / "lib" / _JAR_MARKER
    return {
        "running": running,
        "pid": int(state["pid"]) if running and state else None,
        "uri": str(state["uri"]) if running and state else None,
        "home": str(home),
        "log": str(home / "logs" / "console.log"),
        "version": NEO4J_VERSION,
        "jars": marker.exists(),
    }
