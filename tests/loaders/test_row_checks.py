"""The row checks' shortcuts answer as the character-by-character rules."""

from __future__ import annotations

import unicodedata

from hypothesis import given, settings
from hypothesis import strategies as st

from ringfence.loaders import normalize
from ringfence.loaders.load import (
    _BAD_ID_CATEGORIES,
    _account_id_ok,
    _undecodable_column,
)
from ringfence.loaders.sources import UNDECODABLE_RE

_ASCII = st.text(alphabet=st.characters(max_codepoint=127), max_size=140)
_ANY = st.text(max_size=140)


@settings(max_examples=3000, deadline=None)
@given(account_id=st.one_of(_ASCII, _ANY))
def test_account_ids_are_judged_character_by_character(account_id: str) -> None:
    want = len(account_id) <= 128 and not any(
        unicodedata.category(c) in _BAD_ID_CATEGORIES for c in account_id
    )
    assert _account_id_ok(account_id) == want


@settings(max_examples=2000, deadline=None)
@given(row=st.dictionaries(
    st.sampled_from(["a", "b", "c", "d"]),
    st.text(alphabet=st.sampled_from(["x", "\udc80", "\udcff", "\ud800", "é"]),
            max_size=4),
))
def test_the_first_column_with_bad_bytes_is_found(row: dict[str, str]) -> None:
    want = next((c for c, v in row.items() if UNDECODABLE_RE.search(v)), None)
    assert _undecodable_column(row) == want


@settings(max_examples=3000, deadline=None)
@given(text=st.one_of(_ASCII, _ANY))
def test_ascii_text_is_cleaned_as_any_text(text: str) -> None:
    want = " ".join(
        unicodedata.normalize("NFKC", normalize._INVISIBLE_RE.sub(" ", text)).split()
    )
    assert normalize._clean(text) == want
