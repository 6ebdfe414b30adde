"""Fixtures shared by the whole suite."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

DATA = Path(__file__).parent / "data"
CASES = DATA / "cases"

#: A national-id hashing key used only by tests.
TEST_NID_KEY = "ringfence-test-key-0123456789"


@pytest.fixture(autouse=True, scope="session")
def _nid_key() -> Iterator[None]:
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("RINGFENCE_NID_KEY", TEST_NID_KEY)
        yield


@pytest.fixture()
def cases() -> Path:
    return CASES
