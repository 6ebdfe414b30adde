"""Column headers: duplicates, a missing header row, JSON keys seen late."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
from click.testing import CliRunner

from ringfence.cli.main import cli
from ringfence.graph.embedded import EmbeddedStore


def _invoke(tmp_path: Path, *args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, ["--store", str(tmp_path / "store"), *args])
    return result.exit_code, result.stdout, result.stderr


def test_csv_with_a_column_twice_is_refused_before_writing(tmp_path: Path) -> None:
    src = tmp_path / "a.csv"
    src.write_text("account_id,created_at,phone,Phone\nA1,2026-01-01,541-726-3310,"
                   "541-726-9987\n")
    code, _, err = _invoke(tmp_path, "load", str(src))
    assert code == 3
    assert "phone" in err and "more than once" in err


def test_alias_and_column_both_present_is_refused(tmp_path: Path) -> None:
    src = tmp_path / "a.csv"
    src.write_text("account_id,created_at,device,device_id\nA1,2026-01-01,d1,d2\n")
    code, _, err = _invoke(tmp_path, "load", str(src))
    assert code == 3 and "device_id" in err


def test_parquet_with_a_column_twice_is_refused(tmp_path: Path) -> None:
    src = tmp_path / "a.parquet"
    pq.write_table(pa.table({"Account_ID": ["P1"], "account_id": ["P2"],
                             "created_at": ["2026-01-01"]}), src)
    code, _, err = _invoke(tmp_path, "load", str(src))
    assert code == 3 and "account_id" in err


def test_json_object_with_a_key_twice_is_rejected(tmp_path: Path) -> None:
    src = tmp_path / "a.jsonl"
    src.write_text('{"account_id": "J1", "created_at": "2026-01-01"}\n'
                   '{"account_id": "J2", "created_at": "2026-01-01", '
                   '"phone": "541-726-3310", "Phone": "541-726-9987"}\n')
    code, out, err = _invoke(tmp_path, "load", "--json", str(src))
    assert code == 0, err
    (report,) = json.loads(out)
    assert (report["rows_accepted"], report["rows_rejected"]) == (1, 1)


def test_empty_unnamed_columns_are_not_duplicates(tmp_path: Path) -> None:
    src = tmp_path / "a.csv"
    src.write_text("account_id,created_at,,\nA1,2026-01-01,,\n")
    code, out, err = _invoke(tmp_path, "load", "--json", str(src))
    assert code == 0, err
    assert json.loads(out)[0]["rows_accepted"] == 1


def test_file_without_header_row_does_not_print_its_first_row(tmp_path: Path) -> None:
    src = tmp_path / "a.csv"
    src.write_text("H1,2026-03-02T10:15:00,Ann Rivers,312-44-5521,AB123456C\n")
    code, out, err = _invoke(tmp_path, "load", str(src))
    assert code == 3
    assert "312-44-5521" not in out + err
    assert "ab123456c" not in (out + err).lower()
    assert "header" in err


def test_jsonl_key_first_seen_after_line_1000_is_loaded(tmp_path: Path) -> None:
    src = tmp_path / "a.jsonl"
    with open(src, "w") as fh:
        for n in range(1000):
            fh.write(json.dumps({"account_id": f"L{n}", "created_at": "2026-01-01"})
                     + "\n")
        for n in (1000, 1001):
            fh.write(json.dumps({"account_id": f"L{n}", "created_at": "2026-01-01",
                                 "device_id": "dev-late"}) + "\n")
    code, _, err = _invoke(tmp_path, "load", str(src))
    assert code == 0, err
    links = EmbeddedStore(tmp_path / "store").links(["L1000", "L1001"])
    assert list(links["kind"]) == ["device", "device"]


def test_semicolon_or_tab_separated_file_is_named_as_such(tmp_path: Path) -> None:
    for sep, word in ((";", "semicolons"), ("\t", "tabs")):
        src = tmp_path / "a.csv"
        src.write_text(sep.join(["account_id", "created_at", "national_id"])
                       + "\n" + sep.join(["A1", "2026-01-01", "312-44-5521"]) + "\n")
        code, _, err = _invoke(tmp_path, "load", str(src))
        assert code == 3 and word in err, err
