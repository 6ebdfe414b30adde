"""Adversarial CSV layouts: an unclosed quote must not swallow other rows."""

from __future__ import annotations

import csv
import json
from pathlib import Path

from click.testing import CliRunner

from ringfence.cli.main import cli
from ringfence.graph.embedded import EmbeddedStore

HEADER = "account_id,created_at,full_name,national_id,phone,device_id\n"


def _row(n: int) -> str:
    return f"A{n},2026-01-0{n},Name{n},312-44-10{n:02d},541-726-33{n:02d},dev{n}\n"


def _load(tmp_path: Path, path: Path) -> dict:
    store = tmp_path / "store"
    result = CliRunner().invoke(cli, ["--store", str(store), "load", "--json",
                                      str(path)])
    assert result.exit_code == 0, (result.output, result.exception)
    (report,) = json.loads(result.stdout)
    return report


def _rejects(report: dict) -> list[dict[str, str]]:
    with open(report["rejects_path"], newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def _store_bytes(tmp_path: Path) -> bytes:
    return b"".join(p.read_bytes() for p in (tmp_path / "store").rglob("*")
                    if p.is_file())


def test_quote_left_open_to_the_end_does_not_hide_the_rows_after_it(
    tmp_path: Path,
) -> None:
    src = tmp_path / "a.csv"
    src.write_text(HEADER + _row(1).replace("dev1", '"dev1') + _row(2) + _row(3)
                   + _row(4))
    report = _load(tmp_path, src)
    assert report["rows_read"] == report["rows_accepted"] + report["rows_rejected"]
    (reject,) = _rejects(report)
    assert reject["line"] == "2"
    assert "2-5" in reject["reason"]
    # the rows swallowed by the quote are not loaded as part of A1 ...
    assert EmbeddedStore(tmp_path / "store").counts()["accounts"] == 0
    # ... and their national ids do not land in clear anywhere in the store
    assert b"312-44-10" not in _store_bytes(tmp_path)


def test_quote_closed_rows_later_does_not_merge_rows_into_one(tmp_path: Path) -> None:
    src = tmp_path / "a.csv"
    src.write_text(HEADER + _row(1).replace("Name1", '"Name1') + _row(2)
                   + _row(3).replace("Name3", 'Name3"') + _row(4))
    report = _load(tmp_path, src)
    (reject,) = _rejects(report)
    assert (reject["line"], report["rows_accepted"]) == ("2", 1)
    store = EmbeddedStore(tmp_path / "store")
    accounts = store.accounts(["A1", "A4"])
    assert list(accounts["account_id"]) == ["A4"]
    assert b"312-44-10" not in _store_bytes(tmp_path)


def test_multi_line_quoted_address_still_loads(tmp_path: Path) -> None:
    src = tmp_path / "a.csv"
    src.write_text("account_id,created_at,full_name,address,device_id\n"
                   'A1,2026-01-01,Ann,"42 NW 3rd Street,\nSpringfield, OR 97477",d1\n'
                   "A2,2026-01-02,Ben,,d2\n")
    report = _load(tmp_path, src)
    assert (report["rows_read"], report["rows_accepted"]) == (2, 2)
