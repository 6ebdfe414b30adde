"""The gate check: decisions, reasons, hubs, batches, and a store left alone."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from ringfence.cli import gate_cmd
from ringfence.cli.main import cli
from ringfence.config import Config
from ringfence.gate import Gate
from ringfence.graph.embedded import EmbeddedStore
from tests.conftest import CASES

# main.py registers these commands itself once every optional command module
# it looks for is present; registering here keeps the tests independent of it.
for _command in gate_cmd.COMMANDS:
    cli.commands.setdefault(str(_command.name), _command)

H2_PHONE_AND_ADDRESS = {
    "application_id": "app-1",
    "full_name": "Nora New",
    "phone": "541 726 3310",
    "address": "42 North West 3rd Street, Springfield, OR 97477",
    "email": "nora.new@example.com",
    "loan": {"product": "unsecured_loan", "term_months": 6, "amount": 4000},
}
FRESH = {
    "application_id": "app-2",
    "full_name": "Otto Fresh",
    "national_id": "401-55-7788",
    "phone": "503-881-2040",
    "email": "otto@example.com",
    "address": "9 Pine Road, Eugene, OR 97401",
    "device_id": "dev-new-01",
    "ip": "73.12.8.9",
    "loan": {"product": "credit_card", "term_months": None, "amount": None},
}


def _run(store: Path, *args: str, stdin: str | None = None) -> Result:
    return CliRunner().invoke(cli, ["--store", str(store), *args], input=stdin)


def _check(store: Path, application: dict, *args: str) -> dict:
    result = _run(store, "gate", "check", *args, stdin=json.dumps(application))
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


@pytest.fixture()
def bank(tmp_path: Path) -> Path:
    store = tmp_path / "store"
    for args in (["load", str(CASES / "bank-ring" / "accounts.csv"), "--loans",
                  str(CASES / "bank-ring" / "loans.csv")], ["detect"]):
        assert _run(store, *args).exit_code == 0
    return store


def _ring_id(store: Path) -> str:
    (ring,) = json.loads(_run(store, "rings", "--json").output)
    return str(ring["ring_id"])


def test_reusing_a_ring_members_phone_and_address_is_declined(bank: Path) -> None:
    out = _check(bank, H2_PHONE_AND_ADDRESS)
    ring = _ring_id(bank)
    assert out["decision"] == "decline" and out["ring"] == ring
    assert out["application_id"] == "app-1"
    assert 0.8 <= out["score"] <= 1.0
    assert any(ring in r and "phone" in r and "address" in r for r in out["reasons"])
    assert {a["account_id"] for a in out["linked"]} == {"H1", "H2"}
    assert out["loan"] == {"product": "unsecured_loan", "term_months": 6,
                           "amount": 4000}


def test_a_fresh_application_is_allowed(bank: Path) -> None:
    out = _check(bank, FRESH)
    assert (out["decision"], out["ring"], out["linked"]) == ("allow", None, [])
    assert out["score"] == 0.0
    assert out["identifiers"]["checked"] == 6


def test_a_link_to_a_reviewed_member_is_reviewed(bank: Path, tmp_path: Path) -> None:
    config = tmp_path / "lenient.yaml"
    config.write_text("detect:\n  decline_threshold: 0.999\n")
    assert _run(bank, "--config", str(config), "detect").exit_code == 0
    out = _check(bank, H2_PHONE_AND_ADDRESS)
    assert out["decision"] == "review" and out["ring"] == _ring_id(bank)
    assert any("reviewed account(s) of ring" in r for r in out["reasons"])


def test_reasons_never_hold_identifier_values(bank: Path) -> None:
    application = {**H2_PHONE_AND_ADDRESS, "national_id": "312 44 1290"}
    result = _run(bank, "gate", "check", stdin=json.dumps(application))
    assert result.exit_code == 0
    for value in ("312441290", "312 44 1290", "1290", "3310", "Springfield",
                  "nora.new"):
        assert value not in result.output
    out = json.loads(result.output)
    assert any("national_id" in r for r in out["reasons"])


def test_checks_leave_the_store_untouched(bank: Path) -> None:
    db = bank / "graph.sqlite"
    store = EmbeddedStore(bank, readonly=True)
    counts = store.counts()
    store.close()
    stamp = (db.stat().st_mtime_ns, db.stat().st_size)
    lines = "\n".join(json.dumps(a) for a in (H2_PHONE_AND_ADDRESS, FRESH) * 5)
    assert _run(bank, "gate", "check", "--batch", stdin=lines).exit_code == 0
    _check(bank, FRESH)
    assert (db.stat().st_mtime_ns, db.stat().st_size) == stamp
    store = EmbeddedStore(bank, readonly=True)
    assert store.counts() == counts
    assert store.accounts(["H1"])["decision"].tolist() == ["decline"]
    store.close()


def test_batch_reports_bad_lines_by_number(bank: Path) -> None:
    lines = "\n".join([
        json.dumps(H2_PHONE_AND_ADDRESS),
        "{not json",
        "",
        json.dumps({"application_id": "bad-loan", "phone": "541 726 3310",
                    "loan": {"product": "", "term_months": 5, "amount": -3}}),
        json.dumps(FRESH),
        "[1, 2]",
    ])
    result = _run(bank, "gate", "check", "--batch", stdin=lines)
    assert result.exit_code == 0, result.output
    out = [json.loads(line) for line in result.output.splitlines()]
    assert [o.get("decision") or "error" for o in out] == [
        "decline", "error", "error", "allow", "error"]
    assert [o["line"] for o in out] == [1, 2, 4, 5, 6]
    assert "not valid JSON" in out[1]["error"]
    assert out[2]["application_id"] == "bad-loan"
    for part in ("loan.product", "loan.term_months", "loan.amount"):
        assert part in out[2]["error"]


def test_a_malformed_single_application_is_a_clean_error(bank: Path) -> None:
    result = _run(bank, "gate", "check", stdin="{oops")
    assert result.exit_code == 3 and "not valid JSON" in result.output
    assert "Traceback" not in result.output


def test_file_input_and_unknown_fields(bank: Path, tmp_path: Path) -> None:
    app = tmp_path / "app.json"
    app.write_text(json.dumps({**FRESH, "shoe_size": "42",
                               "identifiers": {"phone": "541-726-3310"}}))
    out = json.loads(_run(bank, "gate", "check", "--file", str(app)).output)
    assert out["ignored_fields"] == ["shoe_size"]
    assert out["decision"] == "decline"


def _store(tmp_path: Path, rows: list[str]) -> Path:
    src = tmp_path / "accounts.csv"
    src.write_text("account_id,created_at,full_name,national_id,phone,email\n"
                   + "\n".join(rows) + "\n")
    store = tmp_path / "store"
    assert _run(store, "load", str(src)).exit_code == 0
    assert _run(store, "detect").exit_code == 0
    return store


def test_hub_phone_links_nothing(tmp_path: Path) -> None:
    rows = [f"K{i},2025-06-01,Kay Caller{i},,541-726-5000,k{i}@example.org"
            for i in range(13)]
    rows += ["K0,2025-06-01,Kay Caller0,212-44-5521,,",
             "K1,2025-06-02,Lee Other,212 44 5521,,"]
    store = _store(tmp_path, rows)
    assert json.loads(_run(store, "rings", "--json").output)[0]["members"] == [
        "K0", "K1"]
    out = _check(store, {"phone": "(541) 726-5000"})
    assert out["decision"] == "allow"
    assert out["identifiers"]["hubs_skipped"] == ["phone"]
    assert _check(store, {"email": "k0@example.org"})["decision"] == "decline"


def test_recent_burst_and_borrowed_national_id_are_reviewed(tmp_path: Path) -> None:
    store = _store(tmp_path, [
        "R1,2026-03-01,Rae One,,541-726-7001,r1@example.org",
        "R2,2026-03-03,Sam Two,,541-726-7002,r2@example.org",
        "N1,2024-01-01,Tia Holder,212-44-8800,541-726-7003,n1@example.org",
    ])
    burst = _check(store, {"phone": "541-726-7001", "email": "r2@example.org",
                           "applied_at": "2026-03-05T12:00:00"})
    assert burst["decision"] == "review"
    assert any("created within 7 days" in r for r in burst["reasons"])
    later = _check(store, {"phone": "541-726-7001", "email": "r2@example.org",
                           "applied_at": "2026-06-01"})
    assert later["decision"] == "allow"
    borrowed = _check(store, {"national_id": "212448800", "full_name": "Uma Other"})
    assert borrowed["decision"] == "review"
    assert any("another surname" in r for r in borrowed["reasons"])
    own = _check(store, {"national_id": "212448800", "full_name": "Tia Holder"})
    assert own["decision"] == "allow"


def test_gate_object_checks_many_without_reopening(bank: Path) -> None:
    store = EmbeddedStore(bank, readonly=True)
    try:
        gate = Gate(store, Config())
        results = list(gate.check_lines(
            json.dumps(a) for a in (H2_PHONE_AND_ADDRESS, FRESH, FRESH)))
    finally:
        store.close()
    assert [r["decision"] for r in results] == ["decline", "allow", "allow"]
    assert [r["line"] for r in results] == [1, 2, 3]


def test_a_shared_device_links_only_when_opened_close_together(bank: Path) -> None:
    soon = _check(bank, {"device_id": "dev-a81", "applied_at": "2026-03-10"})
    assert soon["decision"] == "decline"
    assert [a["account_id"] for a in soon["linked"]] == ["H1"]
    assert soon["linked"][0]["kinds"] == ["device"]
    late = _check(bank, {"device_id": "dev-a81", "applied_at": "2026-09-01"})
    assert (late["decision"], late["linked"]) == ("allow", [])


def test_phone_without_country_code_is_read_in_the_lenders_regions(
    tmp_path: Path,
) -> None:
    from ringfence.config import Config
    from ringfence.identify import IdentifierRules

    rules = IdentifierRules(Config())
    ident = rules.normalise("phone", "081-234-5678")
    assert not isinstance(ident, tuple) and ident.key == "+66812345678"
