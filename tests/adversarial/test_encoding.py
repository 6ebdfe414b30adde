"""Bytes that are not UTF-8, and files in another encoding."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from ringfence.cli.main import cli
from ringfence.graph.embedded import EmbeddedStore

HEADER = b"account_id,created_at,full_name,email,device_id\n"
GOOD = b"A1,2026-01-01,Ann,ann@x.org,dev1\n"


def _invoke(tmp_path: Path, *args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, ["--store", str(tmp_path / "store"), *args])
    return result.exit_code, result.stdout, result.stderr


def _rejects(report: dict) -> list[dict[str, str]]:
    with open(report["rejects_path"], newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


@pytest.mark.parametrize(
    "bad_row",
    [
        b"A2,2026-01-01,Bj\xf6rn,b@x.org,dev2\n",  # Latin-1 name
        b"A2,2026-01-01,Ben,b\xff@x.org,dev2\n",
        b"A2,2026-01-01,Ben,b@x.org,dev\xc32\n",
        b"A2\xff\xf0\x9f\x98\x80,2026-01-01,Ben,b@x.org,dev2\n",  # bad byte + emoji
    ],
)
def test_row_with_bytes_that_are_not_utf8_is_rejected_by_line(
    tmp_path: Path, bad_row: bytes
) -> None:
    src = tmp_path / "a.csv"
    src.write_bytes(HEADER + GOOD + bad_row)
    code, out, err = _invoke(tmp_path, "load", "--json", str(src))
    assert code == 0, err
    (report,) = json.loads(out)
    assert (report["rows_accepted"], report["rows_rejected"]) == (1, 1)
    (reject,) = _rejects(report)
    assert reject["line"] == "3" and reject["column"] and reject["reason"]


@pytest.mark.parametrize("column", ["account_id", "product", "balance"])
def test_loan_row_with_bytes_that_are_not_utf8_is_rejected(
    tmp_path: Path, column: str
) -> None:
    values = {"account_id": b"A1", "product": b"card", "balance": b"5"}
    values[column] = values[column][:1] + b"\xff" + values[column][1:]
    src = tmp_path / "loans.csv"
    src.write_bytes(b"account_id,product,balance\n" + b",".join(values.values())
                    + b"\n")
    code, out, err = _invoke(tmp_path, "load", "--json", "--loans", str(src))
    assert code == 0, err
    (report,) = json.loads(out)
    assert report["rows_rejected"] == 1
    (reject,) = _rejects(report)
    assert (reject["line"], reject["column"]) == ("2", column)


def test_utf16_file_is_refused_with_a_message_naming_the_encoding(
    tmp_path: Path,
) -> None:
    src = tmp_path / "a.csv"
    src.write_text((HEADER + GOOD).decode(), encoding="utf-16")
    code, _, err = _invoke(tmp_path, "load", str(src))
    assert code == 3
    assert "UTF-16" in err and "\x00" not in err


def test_parquet_binary_column_is_read_as_text(tmp_path: Path) -> None:
    src = tmp_path / "a.parquet"
    pq.write_table(pa.table({
        "account_id": pa.array([b"P1"], pa.binary()),
        "created_at": ["2026-01-01"],
        "full_name": pa.array([b"Ann"], pa.binary()),
    }), src)
    code, _, err = _invoke(tmp_path, "load", str(src))
    assert code == 0, err
    accounts = EmbeddedStore(tmp_path / "store").accounts(["P1"])
    assert list(accounts["full_name"]) == ["Ann"]
