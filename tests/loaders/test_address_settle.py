"""An address whose parse is settled skips the second parse and loses nothing.

The reference below is the full fixed point: parse, display, parse the
display again, until nothing changes. The shortcut must give the same
identifier (or skip) for every text, including texts built to trip it.
"""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ringfence.generate import generate
from ringfence.loaders import normalize
from ringfence.loaders.normalize import Identifier, Skip

_CORE = normalize._address_core.__wrapped__


def _fixed_point(text: str, default_country: str) -> Identifier | Skip:
    """The address normaliser with the second parse always taken."""
    with pytest.MonkeyPatch.context() as m:
        m.setattr(normalize, "_settled", lambda address: False)
        return _CORE(text, default_country)


# Words chosen to collide: designators, floor words, state codes and names,
# country spellings, directions, ordinals, tens, ZIP codes and placeholders.
_WORDS = [
    "12", "4b", "200", "3rd", "21st", "first", "twenty", "main", "oak", "rock",
    "st", "street", "saint", "ave", "rd", "n", "north", "e", "east", "s", "w",
    "ne", "p", "o", "post", "office", "box", "apt", "#", "unit", "suite", "ste",
    "flat", "fl", "floor", "flr", "room", "rm", "apartment", "fl2", "b",
    "or", "oregon", "fl", "florida", "ny", "new", "york", "ct", "mt", "in",
    "carolina", "97477", "33101", "10004-1234", "us", "usa", "united", "states",
    "kingdom", "of", "thailand", "tha", "th", "canada", "uk", "england",
    "south", "africa", "test", "fake", "123", "main st", "4-b", "99/12",
    "north-west", ",", ".", "-", "/",
]
_TEXTS = st.lists(st.sampled_from(_WORDS), min_size=1, max_size=9).map(" ".join)


@settings(max_examples=4000, deadline=None)
@given(text=_TEXTS, default=st.sampled_from(["US", "TH", "GB"]))
def test_settled_addresses_normalise_as_the_fixed_point_does(
    text: str, default: str
) -> None:
    assert _CORE(text, default) == _fixed_point(text, default)


@settings(max_examples=1000, deadline=None)
@given(text=st.text(alphabet="aeflnorstu 0123456789#,-/.", max_size=30))
def test_settled_holds_for_loose_ascii_text(text: str) -> None:
    assert _CORE(text, "US") == _fixed_point(text, "US")


def test_generated_addresses_normalise_as_the_fixed_point_does(tmp_path: Path) -> None:
    files = generate(tmp_path, 3000, seed=11)
    with open(files.accounts, newline="", encoding="utf-8") as fh:
        texts = [row["address"] for row in csv.DictReader(fh) if row["address"]]
    assert len(texts) > 2000
    settled = 0
    for text in texts:
        assert _CORE(text, "US") == _fixed_point(text, "US"), text
        cleaned = normalize._clean(text.strip())
        address = normalize._parse_address(cleaned, "united states")
        settled += normalize._settled(address)
    # The shortcut is worth having only if most real addresses take it.
    assert settled > 0.8 * len(texts)


@pytest.mark.parametrize("text", [
    "12 Flat Rock Rd, Ste Foy",
    "9 Elm St, 3rd floor, Salem OR 97301",
    "123 Ocean Dr Fl 3, Miami, FL 33101",
    "5 Kingdom Of, Tha",
    "7 Oak St Apt FL2, Portland OR 97214",
    "12 Main St OR Suite, USA 97477",
    "Third Court FL",
])
def test_texts_that_need_the_second_parse_take_it(text: str) -> None:
    address = normalize._parse_address(normalize._clean(text), "united states")
    assert not normalize._settled(address)
    assert _CORE(text, "US") == _fixed_point(text, "US")
