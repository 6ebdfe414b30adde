"""Class-data archives: adopted only once a JVM maps them, damaged ones dropped."""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
from pathlib import Path

import pytest

from ringfence.graph import neo4j_server


def _flag(flags: list[str], name: str) -> str | None:
    for flag in flags:
        if flag.startswith(f"-XX:{name}="):
            return flag.split("=", 1)[1]
    return None


def _dump(home: Path, lib: Path) -> Path:
    """Have a short JVM run write the archive it would leave on exit."""
    flags = neo4j_server._cds_flags(home)
    path = _flag(flags, "ArchiveClassesAtExit")
    assert path is not None
    subprocess.run(["java", *flags, "-cp", f"{lib}/*", "-version"],
                   capture_output=True, check=True)
    dump = Path(path)
    assert dump.is_file()
    return dump


def _adopted(home: Path) -> Path:
    _dump(home, home / "lib")
    neo4j_server._keep_archive(home, home / "lib")
    archive = neo4j_server._archive(home)
    assert archive.is_file()
    return archive


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    (tmp_path / "home" / "lib").mkdir(parents=True)
    (tmp_path / "cwd").mkdir()
    monkeypatch.chdir(tmp_path / "cwd")
    return tmp_path / "home"


def test_a_complete_archive_is_adopted_and_used_next_time(home: Path) -> None:
    dump = _dump(home, home / "lib")
    neo4j_server._keep_archive(home, home / "lib")
    assert not dump.exists()
    archive = neo4j_server._archive(home)
    assert archive.is_file()
    flags = neo4j_server._cds_flags(home)
    assert _flag(flags, "SharedArchiveFile") == str(archive)
    assert "-XX:+VerifySharedSpaces" in flags


def test_a_truncated_archive_is_dropped_without_litter(home: Path) -> None:
    dump = _dump(home, home / "lib")
    dump.chmod(0o644)
    dump.write_bytes(dump.read_bytes()[:5000])  # as if the JVM died writing it
    neo4j_server._keep_archive(home, home / "lib")
    assert not dump.exists()
    assert not neo4j_server._archive(home).exists()
    assert list(dump.parent.iterdir()) == []
    assert list(Path.cwd().iterdir()) == []  # no JVM crash report left behind
    # the next run writes a new one
    assert _flag(neo4j_server._cds_flags(home),
                 "ArchiveClassesAtExit") is not None


def test_an_archive_cut_short_after_adoption_is_not_used(home: Path) -> None:
    # A short archive crashes the JVM that maps it before any checksum is
    # read: its size must still be the one noted when it was adopted.
    archive = _adopted(home)
    archive.chmod(0o644)
    archive.write_bytes(archive.read_bytes()[:-4096])
    flags = neo4j_server._cds_flags(home)
    assert _flag(flags, "SharedArchiveFile") is None
    assert _flag(flags, "ArchiveClassesAtExit") is not None
    assert not archive.exists()


def test_an_archive_damaged_after_adoption_is_checked_not_trusted(
    home: Path,
) -> None:
    archive = _adopted(home)
    data = bytearray(archive.read_bytes())
    for offset in range(0, len(data), len(data) // 40):
        data[offset:offset + 16] = bytes(b ^ 0xFF for b in data[offset:offset + 16])
    archive.chmod(0o644)
    archive.write_bytes(bytes(data))  # same size: only the checksum tells
    flags = neo4j_server._cds_flags(home)
    assert _flag(flags, "SharedArchiveFile") == str(archive)
    run = subprocess.run(["java", *flags, "-cp", f"{home / 'lib'}/*", "-version"],
                         capture_output=True, check=False)
    assert run.returncode == 0, run.stdout[-500:]


@pytest.mark.neo4j
def test_a_server_that_dies_starting_from_its_archive_starts_without_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.graph.conftest import NEO4J_CACHE, free_port

    real = neo4j_server._cds_flags
    calls: list[list[str]] = []

    def flags(home: Path) -> list[str]:
        # First an archive the JVM refuses to start with, then the real rule.
        chosen = (["-Xshare:on", f"-XX:SharedArchiveFile={tmp_path / 'none.jsa'}"]
                  if not calls else real(home))
        calls.append(chosen)
        return chosen

    monkeypatch.setattr(neo4j_server, "_cds_flags", flags)
    monkeypatch.setenv("RINGFENCE_NEO4J_JARS", str(NEO4J_CACHE / "lib"))
    home = tmp_path / "home"
    info = neo4j_server.start(home, password=secrets.token_urlsafe(16),
                              bolt_port=free_port(), heap="1g",
                              pagecache="256m", wait_s=240)
    try:
        assert len(calls) == 2
        assert _flag(calls[1], "ArchiveClassesAtExit") is not None
        assert neo4j_server.status(home)["running"]
    finally:
        os.kill(info.pid, signal.SIGKILL)
        neo4j_server.stop(home, timeout_s=30)
