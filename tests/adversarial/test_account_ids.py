"""Account ids with control, invisible and direction-changing characters."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from ringfence.cli.main import cli


def _load(tmp_path: Path, account_id: str, *, loans: bool = False) -> dict:
    src = tmp_path / "a.csv"
    with open(src, "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        if loans:
            writer.writerows([["account_id", "product", "balance"],
                              [account_id, "card", "5"]])
        else:
            writer.writerows([["account_id", "created_at"],
                              [account_id, "2026-01-01"]])
    args = ["--store", str(tmp_path / "store"), "load", "--json"]
    args += ["--loans", str(src)] if loans else [str(src)]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, (result.output, result.exception)
    (report,) = json.loads(result.stdout)
    return report


BAD_IDS = [
    "AC\x851",  # C1 control (NEL) inside the id
    "AC\x9b31m",  # C1 control sequence introducer
    "AC\u200b1",  # zero-width space: looks like AC1
    "AC\u202e1gnp",  # right-to-left override
    "AC\u20281",  # line separator
]


@pytest.mark.parametrize("account_id", BAD_IDS)
def test_account_id_with_control_or_invisible_characters_is_rejected(
    tmp_path: Path, account_id: str
) -> None:
    report = _load(tmp_path, account_id)
    assert (report["rows_accepted"], report["rows_rejected"]) == (0, 1)


@pytest.mark.parametrize("account_id", BAD_IDS)
def test_loan_account_id_with_control_or_invisible_characters_is_rejected(
    tmp_path: Path, account_id: str
) -> None:
    report = _load(tmp_path, account_id, loans=True)
    assert (report["rows_accepted"], report["rows_rejected"]) == (0, 1)


@pytest.mark.parametrize("account_id", ["007", "NaN", "AC-😀", "ÅSA-1", "口座-12"])
def test_unusual_but_visible_account_ids_are_kept_as_written(
    tmp_path: Path, account_id: str
) -> None:
    report = _load(tmp_path, account_id)
    assert report["rows_accepted"] == 1
