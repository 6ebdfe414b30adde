"""Class-data archives: adopted only once a JVM maps them, damaged ones dropped."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from ringfence.graph import neo4j_server


def _dump(home: Path, lib: Path) -> Path:
    """Have a short JVM run write the archive it would leave on exit."""
    flags = neo4j_server._cds_flags(home, "server")
    assert flags[0].startswith("-XX:ArchiveClassesAtExit=")
    subprocess.run(["java", *flags, "-cp", f"{lib}/*", "-version"],
                   capture_output=True, check=True)
    dump = Path(flags[0].split("=", 1)[1])
    assert dump.is_file()
    return dump


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    (tmp_path / "home" / "lib").mkdir(parents=True)
    (tmp_path / "cwd").mkdir()
    monkeypatch.chdir(tmp_path / "cwd")
    return tmp_path / "home"


def test_a_complete_archive_is_adopted_and_used_next_time(home: Path) -> None:
    dump = _dump(home, home / "lib")
    neo4j_server._keep_archive(home, "server", home / "lib")
    assert not dump.exists()
    archive = neo4j_server._archive(home, "server")
    assert archive.is_file()
    assert neo4j_server._cds_flags(home, "server") == [
        f"-XX:SharedArchiveFile={archive}"
    ]


def test_a_truncated_archive_is_dropped_without_litter(home: Path) -> None:
    dump = _dump(home, home / "lib")
    dump.chmod(0o644)
    dump.write_bytes(dump.read_bytes()[:5000])  # as if the JVM died writing it
    neo4j_server._keep_archive(home, "server", home / "lib")
    assert not dump.exists()
    assert not neo4j_server._archive(home, "server").exists()
    assert list(dump.parent.iterdir()) == []
    assert list(Path.cwd().iterdir()) == []  # no JVM crash report left behind
    # the next run writes a new one
    assert neo4j_server._cds_flags(home, "server")[0].startswith(
        "-XX:ArchiveClassesAtExit=")
