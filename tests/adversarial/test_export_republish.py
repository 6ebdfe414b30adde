"""Exporting the same detection run again must never leave `current` broken."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest

from ringfence.config import Config
from ringfence.export import export_flagged
from ringfence.graph.embedded import EmbeddedStore
from ringfence.jobs import run_detection
from ringfence.loaders.load import load_files
from tests.conftest import CASES


@pytest.fixture()
def store(tmp_path: Path) -> EmbeddedStore:
    store = EmbeddedStore(tmp_path / "store")
    case = CASES / "bank-ring"
    load_files(store, [case / "accounts.csv"], [case / "loans.csv"], config=Config(),
               reports_dir=tmp_path / "reports")
    run_detection(store, Config())
    return store


def _readable(out: Path) -> bool:
    try:
        (out / "current" / "manifest.json").read_bytes()
        (out / "current" / "flagged.csv").read_bytes()
    except OSError:
        return False
    return True


def test_failed_re_export_of_the_same_run_keeps_current(
    store: EmbeddedStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "out"
    export_flagged(store, out)
    before = (out / "current" / "flagged.csv").read_bytes()
    real_replace = os.replace

    def failing_replace(src: object, dst: object) -> None:
        if Path(str(src)).is_dir():
            raise OSError("disk full")
        real_replace(src, dst)  # type: ignore[arg-type]

    monkeypatch.setattr(os, "replace", failing_replace)
    with pytest.raises(OSError):
        export_flagged(store, out, fmt="jsonl")
    assert _readable(out)
    assert (out / "current" / "flagged.csv").read_bytes() == before


def test_readers_always_find_current_while_the_same_run_is_re_exported(
    store: EmbeddedStore, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    export_flagged(store, out)
    failures: list[int] = []
    stop = threading.Event()

    def reader() -> None:
        while not stop.is_set():
            if not _readable(out):
                failures.append(1)

    thread = threading.Thread(target=reader)
    thread.start()
    try:
        for _ in range(5):
            export_flagged(store, out)
    finally:
        stop.set()
        thread.join()
    assert not failures
    assert _readable(out)
    # the published copy and, for readers still in it, the one before
    runs = sorted((out / "runs").iterdir())
    assert len(runs) <= 2
    assert all(not p.name.startswith(".") and (p / "manifest.json").exists()
               for p in runs)
    assert (out / "current").resolve() in [p.resolve() for p in runs]
