"""JSON lines and Parquet cells holding arrays or objects instead of one value."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
from click.testing import CliRunner

from ringfence.cli.main import cli
from ringfence.graph.embedded import EmbeddedStore


def _load(tmp_path: Path, src: Path) -> tuple[dict, list[dict[str, str]]]:
    result = CliRunner().invoke(cli, ["--store", str(tmp_path / "store"), "load",
                                      "--json", str(src)])
    assert result.exit_code == 0, (result.output, result.exception)
    (report,) = json.loads(result.stdout)
    with open(report["rejects_path"], newline="", encoding="utf-8") as fh:
        return report, list(csv.DictReader(fh))


def test_account_id_that_is_an_object_or_array_is_rejected(tmp_path: Path) -> None:
    src = tmp_path / "a.jsonl"
    src.write_text("\n".join(json.dumps(o) for o in [
        {"account_id": "J1", "created_at": "2026-01-01"},
        {"account_id": {"id": "J2"}, "created_at": "2026-01-01"},
        {"account_id": ["J3"], "created_at": "2026-01-01"},
        {"account_id": "J4", "created_at": {"date": "2026-01-01"}},
    ]) + "\n")
    report, rejects = _load(tmp_path, src)
    assert (report["rows_accepted"], report["rows_rejected"]) == (1, 3)
    assert [(r["line"], r["column"]) for r in rejects] == [
        ("2", "account_id"), ("3", "account_id"), ("4", "created_at")]


def test_identifier_that_is_an_array_is_ignored_not_glued_together(
    tmp_path: Path,
) -> None:
    src = tmp_path / "a.jsonl"
    src.write_text(json.dumps({"account_id": "J1", "created_at": "2026-01-01",
                               "phone": ["541-726-3310", "541-726-9987"],
                               "device_id": "dev1"}) + "\n")
    report, _ = _load(tmp_path, src)
    assert report["rows_accepted"] == 1
    links = EmbeddedStore(tmp_path / "store").links(["J1"])
    assert list(links["kind"]) == ["device"]
    with open(report["ignored_path"], newline="", encoding="utf-8") as fh:
        ignored = list(csv.DictReader(fh))
    assert [(r["line"], r["column"]) for r in ignored] == [("1", "phone")]


def test_parquet_list_and_struct_columns_that_are_not_used_do_not_reject(
    tmp_path: Path,
) -> None:
    src = tmp_path / "a.parquet"
    pq.write_table(pa.table({
        "account_id": ["P1"], "created_at": ["2026-01-01"],
        "tags": pa.array([["a", "b"]]), "meta": pa.array([{"k": 1}]),
        "phone": pa.array([[5417263310]]),
    }), src)
    report, _ = _load(tmp_path, src)
    assert report["rows_accepted"] == 1
    assert len(EmbeddedStore(tmp_path / "store").links(["P1"])) == 0


def test_lone_surrogate_escapes_reject_the_row_instead_of_failing_the_load(
    tmp_path: Path,
) -> None:
    # "\ud800" is valid JSON text but no Unicode character: SQLite, the
    # importer's UTF-8 files and the rejects file cannot hold it.
    src = tmp_path / "a.jsonl"
    src.write_text(
        '{"account_id": "S1", "created_at": "2026-01-01"}\n'
        '{"account_id": "S2", "created_at": "2026-01-01", "full_name": "\\ud800"}\n'
        '{"account_id": "S3", "created_at": "2026-01-01", "device_id": "d\\ud83d"}\n'
    )
    report, rejects = _load(tmp_path, src)
    assert (report["rows_accepted"], report["rows_rejected"]) == (1, 2)
    assert [r["column"] for r in rejects] == ["full_name", "device_id"]
