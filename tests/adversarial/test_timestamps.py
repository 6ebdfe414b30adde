"""Dates at and beyond the edges of the calendar."""

from __future__ import annotations

import pytest

from ringfence.loaders.load import parse_timestamp


@pytest.mark.parametrize(
    "text",
    ["0000-00-00", "0001-01-01", "1969-12-31T23:59:59", "9999-12-31T23:59:59",
     "2100-01-01", "-1", "NaN", "inf", "1e308", "2026-02-30", "2026-01-01T25:00"],
)
def test_date_outside_the_accepted_range_is_refused(text: str) -> None:
    assert parse_timestamp(text) is None


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1970-01-01", 0),
        ("2026-01-01T10:00:00+14:00", 1767211200),
        ("2026-01-01T10:00:00-12:00", 1767304800),
        ("2026-01-01T10:00:00Z", 1767261600),
        ("2099-12-31T23:59:59", 4102444799),
        (" 2026-01-01 ", 1767225600),
        ("1767225600", 1767225600),
    ],
)
def test_dates_inside_the_range_parse_with_their_offset(
    text: str, expected: int
) -> None:
    assert parse_timestamp(text) == expected
