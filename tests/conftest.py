"""Fixtures shared by the whole suite."""

from __future__ import annotations

from pathlib import Path

import pytest

DATA = Path(__file__).parent / "data"
CASES = DATA / "cases"

#: A national-id hashing key used only by tests.
TEST_NID_KEY = "ringfence-test-key-0123456789"


@pytest.fixture(autouse=True)
def _nid_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RINGFENCE_NID_KEY", TEST_NID_KEY)


@pytest.fixture()
def cases() -> Path:
    return CASES
