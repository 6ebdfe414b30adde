"""Loader behaviour: accounting, rejects, idempotence, atomicity, formats."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pandas as pd
import pytest

from ringfence.config import Config
from ringfence.errors import ConfigError, InputError
from ringfence.graph.embedded import EmbeddedStore
from ringfence.loaders.load import load_files, parse_timestamp
from tests.conftest import CASES

HEADER = "account_id,created_at,full_name,national_id,phone,email,address,device_id\n"


def _write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def _load(tmp_path: Path, *files: Path, loans: tuple[Path, ...] = (),
          config: Config | None = None) -> tuple[EmbeddedStore, list]:
    store = EmbeddedStore(tmp_path / "store")
    reports = load_files(store, list(files), list(loans), config=config or Config(),
                         reports_dir=tmp_path / "reports")
    return store, reports


def test_rejected_rows_are_listed_and_accounting_balances(tmp_path: Path) -> None:
    src = _write(tmp_path / "a.csv", HEADER
                 + "A1,2026-01-01,Ann,,541-726-3310,a@x.org,,d1\n"
                 + ",2026-01-01,No Id,,,,,\n"
                 + "A3,not-a-date,Bad Date,,,,,\n"
                 + "A4,2026-01-01,Too,Many,Fields,,,,,\n"
                 + "A5,2026-01-02,Eve,,541-726-3311,e@x.org,,d2\n")
    store, (report,) = _load(tmp_path, src)
    assert (report.rows_read, report.rows_accepted, report.rows_rejected) == (5, 2, 3)
    with open(report.rejects_path, newline="") as fh:
        rejects = list(csv.DictReader(fh))
    assert [(r["line"], r["column"]) for r in rejects] == [
        ("3", "account_id"), ("4", "created_at"), ("5", "")]
    assert rejects[1]["value"] == "not-a-date"
    assert all(r["source"] == str(src) and r["reason"] and r["fix"] for r in rejects)
    assert store.counts()["accounts"] == 2


def test_missing_required_column_fails_before_writing(tmp_path: Path) -> None:
    src = _write(tmp_path / "a.csv", "account_id,full_name\nA1,Ann\n")
    with pytest.raises(InputError, match="missing required column.*created_at"):
        _load(tmp_path, src)
    assert EmbeddedStore(tmp_path / "store").counts()["accounts"] == 0


def test_reject_rate_above_limit_commits_nothing(tmp_path: Path) -> None:
    good = _write(tmp_path / "good.csv", HEADER + "G1,2026-01-01,G,,,,,d1\n")
    _load(tmp_path, good)
    bad = _write(tmp_path / "bad.csv", HEADER + "B1,2026-01-01,B,,,,,d1\n"
                 + "B2,never,B,,,,,d1\n" + "B3,never,B,,,,,d1\n")
    config = Config()
    config.load.max_reject_rate = 0.5
    with pytest.raises(InputError, match="above the limit"):
        _load(tmp_path, bad, config=config)
    store = EmbeddedStore(tmp_path / "store")
    assert store.counts()["accounts"] == 1  # the last good state


def test_loading_the_same_file_twice_changes_nothing(tmp_path: Path) -> None:
    src = CASES / "bank-ring" / "accounts.csv"
    loans = CASES / "bank-ring" / "loans.csv"
    store, _ = _load(tmp_path, src, loans=(loans,))
    first = store.snapshot()
    counts = store.counts()
    load_files(store, [src], [loans], config=Config(),
               reports_dir=tmp_path / "reports")
    again = store.snapshot()
    assert store.counts() == counts
    pd.testing.assert_frame_equal(first.links, again.links)
    pd.testing.assert_frame_equal(first.accounts, again.accounts)


def test_newer_row_updates_last_seen_and_keeps_first_seen(tmp_path: Path) -> None:
    day1 = _write(tmp_path / "d1.csv", "account_id,created_at,phone\n"
                  "A1,2026-01-01T00:00:00,541-726-3310\n")
    day2 = _write(tmp_path / "d2.csv", "account_id,created_at,seen_at,phone,device_id\n"
                  "A1,2026-01-01T00:00:00,2026-02-01T00:00:00,(541) 726-3310,d9\n")
    store, _ = _load(tmp_path, day1)
    load_files(store, [day2], config=Config(), reports_dir=tmp_path / "r")
    links = store.links(["A1"]).set_index("kind")
    assert links.loc["phone", "first_seen"] == parse_timestamp("2026-01-01")
    assert links.loc["phone", "last_seen"] == parse_timestamp("2026-02-01")
    assert links.loc["device", "first_seen"] == parse_timestamp("2026-02-01")


def test_parquet_and_jsonl_load_like_csv(tmp_path: Path) -> None:
    frame = pd.read_csv(CASES / "bank-ring" / "accounts.csv", dtype=str)
    frame.to_parquet(tmp_path / "a.parquet", index=False)
    frame.to_json(tmp_path / "a.jsonl", orient="records", lines=True)
    snaps = []
    for name in ("accounts.csv", "a.parquet", "a.jsonl"):
        path = CASES / "bank-ring" / name if name.endswith(".csv") else tmp_path / name
        store, (report,) = _load(tmp_path / name.replace(".", "_"), path)
        assert report.rows_accepted == 4
        snaps.append(store.snapshot())
    for snap in snaps[1:]:
        pd.testing.assert_frame_equal(snaps[0].identifiers, snap.identifiers)
        pd.testing.assert_frame_equal(snaps[0].links, snap.links)


def test_malformed_jsonl_lines_are_rejected_by_line(tmp_path: Path) -> None:
    src = _write(tmp_path / "a.jsonl", json.dumps(
        {"account_id": "J1", "created_at": "2026-01-01"}) + "\n{oops\n[1,2]\n")
    _, (report,) = _load(tmp_path, src)
    assert (report.rows_read, report.rows_accepted, report.rows_rejected) == (3, 1, 2)
    with open(report.rejects_path, newline="") as fh:
        assert [r["line"] for r in csv.DictReader(fh)] == ["2", "3"]


def test_national_id_column_without_key_is_a_config_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("RINGFENCE_NID_KEY")
    with pytest.raises(ConfigError, match="RINGFENCE_NID_KEY"):
        _load(tmp_path, CASES / "bank-ring" / "accounts.csv")


def test_bad_loan_rows_are_rejected(tmp_path: Path) -> None:
    loans = _write(tmp_path / "l.csv",
                   "account_id,product,term_months,amount,balance,credit_limit\n"
                   "A1,unsecured_loan,12,1000,900,\n"
                   "A1,unsecured_loan,7,1000,900,\n"
                   "A1,credit_card,,,-5,100\n"
                   "A1,credit_card,,,,100\n")
    _, (report,) = _load(tmp_path, loans=(loans,))
    assert (report.rows_accepted, report.rows_rejected) == (1, 3)


def test_unreadable_file_is_one_clear_error(tmp_path: Path) -> None:
    bogus = tmp_path / "a.parquet"
    bogus.write_bytes(b"not parquet at all")
    with pytest.raises(InputError, match="a.parquet"):
        _load(tmp_path, bogus)
    with pytest.raises(InputError, match="no such file"):
        _load(tmp_path, tmp_path / "missing.csv")


def test_thai_phone_without_country_code_links_to_its_e164_form(
    tmp_path: Path,
) -> None:
    src = _write(tmp_path / "a.csv", "account_id,created_at,phone\n"
                 "T1,2026-01-01,081-234-5678\nT2,2026-01-02,+66 81 234 5678\n")
    store, _ = _load(tmp_path, src)
    links = store.links(["T1", "T2"])
    assert set(links["key"]) == {"+66812345678"}


def test_loading_with_another_national_id_key_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    src = CASES / "bank-ring" / "accounts.csv"
    store, _ = _load(tmp_path, src)
    counts = store.counts()
    monkeypatch.setenv("RINGFENCE_NID_KEY", "another-key-0123456789abcdef")
    with pytest.raises(ConfigError, match="hashed with another key"):
        load_files(store, [src], config=Config(), reports_dir=tmp_path / "r")
    assert store.counts() == counts


def test_a_load_removes_report_parts_of_killed_loads(tmp_path: Path) -> None:
    import os
    import subprocess
    import sys

    reports = tmp_path / "reports"
    reports.mkdir()
    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)
    dead = reports / f".old-accounts.csv-rejects.csv.{gone.stdout.strip()}.part"
    live = reports / f".other-accounts.csv-rejects.csv.{os.getppid()}.part"
    dead.write_text("source,line\n")
    live.write_text("source,line\n")
    store = EmbeddedStore(tmp_path / "store")
    load_files(store, [CASES / "bank-ring" / "accounts.csv"], config=Config(),
               reports_dir=reports)
    assert not dead.exists()  # its writer is gone: it would never be finished
    assert live.exists()      # its writer still runs
    assert not [p for p in reports.glob(".*.part") if p != live]
