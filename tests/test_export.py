"""Export to the lending gate: contents, manifest, changes and atomicity."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pandas as pd
import pytest

from ringfence.config import Config
from ringfence.export import EXPORT_COLUMNS, export_flagged, read_current
from ringfence.graph.embedded import EmbeddedStore
from ringfence.jobs import run_detection
from ringfence.loaders.load import load_files
from tests.conftest import CASES


@pytest.fixture()
def store(tmp_path: Path) -> EmbeddedStore:
    store = EmbeddedStore(tmp_path / "store")
    load_files(store, [CASES / "bank-ring" / "accounts.csv"],
               [CASES / "bank-ring" / "loans.csv"], config=Config(),
               reports_dir=tmp_path / "reports")
    run_detection(store, Config())
    return store


def test_export_has_flagged_rows_and_a_true_manifest(
    store: EmbeddedStore, tmp_path: Path
) -> None:
    info = export_flagged(store, tmp_path / "out")
    current = tmp_path / "out" / "current"
    rows = pd.read_csv(current / "flagged.csv", dtype=str)
    assert list(rows.columns) == EXPORT_COLUMNS
    assert sorted(rows["account_id"]) == ["H1", "H2", "H3"]
    assert set(rows["decision"]) <= {"decline", "review"}
    pd.testing.assert_frame_equal(
        pd.read_parquet(current / "flagged.parquet").astype(str), rows.astype(str),
        check_dtype=False)
    manifest = json.loads((current / "manifest.json").read_text())
    assert manifest["rows"] == 3 == info.rows
    for name, meta in manifest["files"].items():
        assert hashlib.sha256((current / name).read_bytes()).hexdigest() == meta[
            "sha256"]
    assert manifest["thresholds"]["review"] == Config().detect.review_threshold
    assert manifest["changes"]["added"] == 3


def test_failed_export_leaves_the_previous_one(
    store: EmbeddedStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "out"
    first = export_flagged(store, out)
    before = (out / "current" / "flagged.csv").read_bytes()
    run_detection(store, Config())

    def boom(*args: object, **kwargs: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(pd.DataFrame, "to_parquet", boom)
    with pytest.raises(OSError):
        export_flagged(store, out)
    assert (out / "current").resolve() == first.path.resolve()
    assert (out / "current" / "flagged.csv").read_bytes() == before
    assert not list((out / "runs").glob(".*"))


def test_second_export_states_changes(store: EmbeddedStore, tmp_path: Path) -> None:
    out = tmp_path / "out"
    export_flagged(store, out)
    run_detection(store, Config())
    info = export_flagged(store, out, fmt="jsonl")
    assert (info.added, info.removed) == (0, 0)
    assert read_current(out) is not None
    assert (out / "current" / "flagged.jsonl").exists()


def test_export_holds_no_personal_data(store: EmbeddedStore, tmp_path: Path) -> None:
    export_flagged(store, tmp_path / "out")
    rows = pd.read_csv(tmp_path / "out" / "current" / "flagged.csv", dtype=str,
                       keep_default_na=False)
    # run_id and generated_at carry the wall clock, whose digits may spell
    # "541" (the phone's area code) by chance; every other column may not.
    assert list(rows["run_id"].str.fullmatch(r"run-\d{8}T\d{12}Z")) == [True] * 3
    text = rows.drop(columns=["run_id", "generated_at"]).to_csv(index=False)
    for personal in ("Ann Rivers", "ann.rivers", "541", "1988-04-11", "Springfield"):
        assert personal not in text


def test_exporting_the_same_run_again_keeps_its_change_list(
    store: EmbeddedStore, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    first = export_flagged(store, out)
    again = export_flagged(store, out)
    assert (again.added, again.removed) == (first.added, first.removed) == (3, 0)
    assert again.manifest["changes"]["previous_run_id"] is None


def test_export_sweeps_what_a_killed_export_left(
    store: EmbeddedStore, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    export_flagged(store, out)
    # What an export killed with SIGKILL leaves: its hidden directory, half
    # written, and the link it was about to rename over ``current``.
    stale = out / "runs" / ".R-killed.tmp"
    stale.mkdir()
    (stale / "flagged.csv").write_text("account_id\n")
    (out / ".current.999999").symlink_to("runs/.R-killed.tmp")
    run_detection(store, Config())
    info = export_flagged(store, out)
    assert not stale.exists()
    assert not list(out.glob(".current.*"))
    assert (out / "current").resolve() == info.path.resolve()


def test_concurrent_exports_take_turns(store: EmbeddedStore, tmp_path: Path) -> None:
    import subprocess
    import sys

    out = tmp_path / "out"
    export_flagged(store, out)
    released = tmp_path / "released"
    # Another export, played by a process that holds the lock for a second
    # and notes when it lets go.
    holder = subprocess.Popen(
        [sys.executable, "-c",
         "import fcntl, pathlib, sys, time\n"
         "fh = open(sys.argv[1], 'a')\n"
         "fcntl.flock(fh.fileno(), fcntl.LOCK_EX)\n"
         "print('locked', flush=True)\n"
         "time.sleep(1)\n"
         "pathlib.Path(sys.argv[2]).touch()\n",
         str(out / ".lock"), str(released)],
        stdout=subprocess.PIPE, text=True,
    )
    assert holder.stdout is not None
    assert holder.stdout.readline().strip() == "locked"
    info = export_flagged(store, out)
    assert released.exists(), "the export ran while another held the lock"
    assert holder.wait(30) == 0
    assert (out / "current").resolve() == info.path.resolve()


def test_re_export_compares_with_a_previous_run_published_under_a_suffix(
    store: EmbeddedStore, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    for _ in range(3):  # runs/<R1>, <R1>.2, <R1>.3; the third removes runs/<R1>
        export_flagged(store, out)
    run_detection(store, Config())
    first = export_flagged(store, out)
    again = export_flagged(store, out)
    assert (first.added, first.removed) == (0, 0)
    assert (again.added, again.removed) == (first.added, first.removed)
