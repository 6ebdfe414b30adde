"""The shared cases with known answers, run through the CLI end to end."""

from __future__ import annotations

import csv
import json
from pathlib import Path

from click.testing import CliRunner

from ringfence.cli.main import cli
from tests.conftest import CASES


def _run(store: Path, *args: str) -> str:
    result = CliRunner().invoke(cli, ["--store", str(store), *args])
    assert result.exit_code == 0, result.output
    return result.stdout


def _load_and_detect(tmp_path: Path, case: str, loans: bool) -> Path:
    store = tmp_path / "store"
    args = ["load", str(CASES / case / "accounts.csv")]
    if loans:
        args += ["--loans", str(CASES / case / "loans.csv")]
    _run(store, *args)
    _run(store, "detect")
    return store


def test_bank_ring_is_one_ring_of_three(tmp_path: Path) -> None:
    store = _load_and_detect(tmp_path, "bank-ring", loans=True)
    rings = json.loads(_run(store, "rings", "--json"))
    assert [r["members"] for r in rings] == [["H1", "H2", "H3"]]
    flagged = {
        a: json.loads(_run(store, "account", "show", a, "--json"))["account"]
        for a in ("H1", "H2", "H3", "H4")
    }
    assert {a for a, v in flagged.items() if v["decision"] != "allow"} == {
        "H1", "H2", "H3"}
    assert flagged["H4"]["ring_id"] is None


def test_bank_ring_evidence_counts_and_exposures(tmp_path: Path) -> None:
    store = _load_and_detect(tmp_path, "bank-ring", loans=True)
    (ring,) = json.loads(_run(store, "rings", "--json"))
    view = json.loads(_run(store, "ring", "show", ring["ring_id"], "--json"))
    assert view["exposure"] == 32831.15
    shared = {s["kind"]: s for s in view["evidence"]["shared"]}
    assert {k: s["members"] for k, s in shared.items()} == {
        "address": 3, "phone": 2, "national_id": 2}
    assert shared["national_id"]["exposure"] == 26831.15
    assert shared["phone"]["exposure"] == 17620.40
    assert shared["address"]["exposure"] == 32831.15


def test_bank_ring_national_ids_never_in_clear(tmp_path: Path) -> None:
    store = _load_and_detect(tmp_path, "bank-ring", loans=True)
    (ring,) = json.loads(_run(store, "rings", "--json"))
    export_dir = tmp_path / "export"
    outputs = [
        _run(store, "ring", "show", ring["ring_id"], "--json"),
        _run(store, "account", "show", "H2", "--json"),
        _run(store, "export", "--out", str(export_dir)),
    ]
    blobs = [p.read_bytes() for p in store.rglob("*") if p.is_file()]
    blobs += [p.read_bytes() for p in export_dir.rglob("*") if p.is_file()]
    for raw in ("312445521", "312441290", "401187733"):
        for sep in (raw, f"{raw[:3]}-{raw[3:5]}-{raw[5:]}",
                    f"{raw[:3]} {raw[3:5]} {raw[5:]}"):
            assert all(sep not in out for out in outputs)
            assert all(sep.encode() not in blob for blob in blobs)


def test_mangled_values_never_link(tmp_path: Path) -> None:
    store = _load_and_detect(tmp_path, "mangled-ids", loans=False)
    assert json.loads(_run(store, "rings", "--json")) == []
    for account in ("M1", "M2", "M3", "M4"):
        view = json.loads(_run(store, "account", "show", account, "--json"))
        assert view["account"]["decision"] == "allow"
        assert view["linked_accounts"] == []


def test_mangled_values_are_reported_and_rows_kept(tmp_path: Path) -> None:
    store = tmp_path / "store"
    out = _run(store, "load", str(CASES / "mangled-ids" / "accounts.csv"), "--json")
    (report,) = json.loads(out)
    assert report["rows_read"] == 4
    assert report["rows_accepted"] == 4
    assert report["rows_rejected"] == 0
    ignored = report["values_ignored"]
    assert sum(ignored["national_id"].values()) == 4
    assert sum(ignored["phone"].values()) == 4
    assert sum(ignored["email"].values()) == 2
    assert sum(ignored["address"].values()) == 2
    assert sum(ignored["device"].values()) == 2
    with open(report["ignored_path"], newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 14
    by_line = {(r["line"], r["column"]) for r in rows}
    assert ("2", "national_id") in by_line and ("5", "device_id") in by_line
    assert all(r["source"].endswith("accounts.csv") for r in rows)
    mangled = [r for r in rows if r["line"] in ("2", "3") and r["column"] == "phone"]
    assert all(r["reason"].startswith("mangled") for r in mangled)
