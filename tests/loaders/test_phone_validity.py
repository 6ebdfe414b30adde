"""Validity remembered by deciding prefix is phonenumbers' validity."""

from __future__ import annotations

import re

import phonenumbers
from hypothesis import given, settings
from hypothesis import strategies as st

from ringfence.loaders import phone_validity
from ringfence.loaders.phone_validity import _sequences, deciding_prefix

_D = frozenset("0123456789")


def _number(country: int, digits: str) -> phonenumbers.PhoneNumber:
    return phonenumbers.PhoneNumber(country_code=country, national_number=int(digits))


@settings(max_examples=5000, deadline=None)
@given(
    country=st.sampled_from([1, 66, 44, 86, 91, 7, 61]),
    digits=st.from_regex(r"[1-9][0-9]{5,11}", fullmatch=True),
)
def test_remembered_validity_is_phonenumbers_validity(
    country: int, digits: str
) -> None:
    number = _number(country, digits)
    assert phone_validity.is_valid_number(number) == phonenumbers.is_valid_number(
        number
    )


@settings(max_examples=3000, deadline=None)
@given(digits=st.from_regex(r"[2-9][0-9]{9}", fullmatch=True), data=st.data())
def test_numbers_sharing_the_deciding_prefix_share_validity(
    digits: str, data: st.DataObject
) -> None:
    prefix = deciding_prefix(1, digits)
    assert prefix is not None and digits.startswith(prefix)
    rest = data.draw(st.from_regex(f"[0-9]{{{10 - len(prefix)}}}", fullmatch=True))
    other = prefix + rest
    assert phonenumbers.is_valid_number(_number(1, other)) == (
        phonenumbers.is_valid_number(_number(1, digits))
    )


def test_patterns_expand_into_digit_class_sequences() -> None:
    assert _sequences(r"2[0-2]\d|3") == {
        (frozenset("2"), frozenset("012"), _D),
        (frozenset("3"),),
    }
    assert _sequences(r"1\d{1,2}") == {
        (frozenset("1"), _D),
        (frozenset("1"), _D, _D),
    }


def test_a_pattern_it_cannot_expand_proves_nothing() -> None:
    for pattern in (r"1\d+", r"^1\d", r"1(?=2)\d"):
        try:
            _sequences(pattern)
        except (phone_validity._Unproven, re.error):
            continue
        raise AssertionError(pattern)


@settings(max_examples=2000, deadline=None)
@given(
    text=st.from_regex(r"\+?0{0,3}[0-9]{6,11}", fullmatch=True),
    region=st.sampled_from(["US", "TH", "IT", "GB"]),
)
def test_parsed_numbers_with_leading_zeros_keep_their_validity(
    text: str, region: str
) -> None:
    try:
        number = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException:
        return
    assert phone_validity.is_valid_number(number) == phonenumbers.is_valid_number(
        number
    )
