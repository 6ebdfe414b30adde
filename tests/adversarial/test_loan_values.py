"""Hostile loan values: odd terms and amounts too large to add up."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from ringfence.cli.main import cli
from tests.conftest import CASES

LOAN_HEADER = "account_id,product,term_months,amount,balance,credit_limit\n"


def _invoke(tmp_path: Path, *args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, ["--store", str(tmp_path / "store"), *args])
    return result.exit_code, result.stdout, result.stderr


def _load_loans(tmp_path: Path, rows: str) -> tuple[dict, list[dict[str, str]]]:
    src = tmp_path / "loans.csv"
    src.write_text(LOAN_HEADER + rows)
    code, out, err = _invoke(tmp_path, "load", "--json", "--loans", str(src))
    assert code == 0, err
    (report,) = json.loads(out)
    with open(report["rejects_path"], newline="", encoding="utf-8") as fh:
        return report, list(csv.DictReader(fh))


@pytest.mark.parametrize("term", ["inf", "-inf", "nan", "1e999", "3.7", "12.5"])
def test_term_that_is_not_a_whole_allowed_number_is_rejected(
    tmp_path: Path, term: str
) -> None:
    report, rejects = _load_loans(tmp_path, f"A1,loan,{term},1000,500,\n")
    assert (report["rows_accepted"], report["rows_rejected"]) == (0, 1)
    assert [(r["line"], r["column"]) for r in rejects] == [("2", "term_months")]


def test_whole_term_written_as_decimal_is_accepted(tmp_path: Path) -> None:
    report, _ = _load_loans(tmp_path, "A1,loan,12.0,1000,500,\nA1,loan,03,900,5,\n")
    assert report["rows_accepted"] == 2


@pytest.mark.parametrize("column", ["amount", "balance", "credit_limit"])
def test_absurdly_large_amount_is_rejected(tmp_path: Path, column: str) -> None:
    values = {"amount": "1000", "balance": "500", "credit_limit": ""}
    values[column] = "1.7e308"
    report, rejects = _load_loans(
        tmp_path, f"A1,loan,12,{values['amount']},{values['balance']},"
        f"{values['credit_limit']}\n")
    assert report["rows_rejected"] == 1
    assert rejects[0]["column"] == column


def test_huge_balances_do_not_make_ring_exposure_infinite(tmp_path: Path) -> None:
    loans = tmp_path / "loans.csv"
    loans.write_text(LOAN_HEADER + "H1,credit_card,,,1e308,1.7e308\n"
                     "H2,unsecured_loan,12,1e308,1.7e308,\n"
                     "H3,unsecured_loan,12,1.7e308,1.7e308,\n")
    code, _, err = _invoke(tmp_path, "load", str(CASES / "bank-ring" / "accounts.csv"),
                           "--loans", str(loans))
    assert code == 0, err
    assert _invoke(tmp_path, "detect")[0] == 0
    code, out, err = _invoke(tmp_path, "rings", "--json")
    assert code == 0, err

    def refuse(name: str) -> float:
        raise ValueError(f"not JSON: {name}")

    rings = json.loads(out, parse_constant=refuse)
    assert len(rings) == 1
