"""Loans: two products of one account that look alike."""

from __future__ import annotations

from pathlib import Path

from ringfence.config import Config
from ringfence.graph.embedded import EmbeddedStore
from ringfence.loaders.load import load_files


def test_two_cards_of_one_account_are_both_kept(tmp_path: Path) -> None:
    loans = tmp_path / "loans.csv"
    loans.write_text("account_id,product,term_months,amount,balance,credit_limit\n"
                     "A1,credit_card,,,433.68,1700\n"
                     "A1,credit_card,,,1386.27,2400\n")
    store = EmbeddedStore(tmp_path / "store")
    (report,) = load_files(store, [], [loans], config=Config(),
                           reports_dir=tmp_path / "reports")
    assert report.rows_accepted == 2
    assert len(store.products(["A1"])) == 2
