"""Common phone shapes skip phonenumbers.parse and give what it gives."""

from __future__ import annotations

import phonenumbers
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ringfence.loaders import normalize
from ringfence.loaders.normalize import _FAST_SHAPES, _fast_parse

_REGIONS = ["US", "TH", "GB", "CA"]
_SHAPES = [pattern.pattern for pattern, *_ in _FAST_SHAPES]
_PHONE_TEXT = st.text(alphabet="0123456789+-(). ", max_size=16)


@pytest.mark.parametrize("shape", _SHAPES)
@settings(max_examples=1000, deadline=None)
@given(data=st.data(), region=st.sampled_from(_REGIONS))
def test_a_fast_shape_parses_as_phonenumbers_does(
    shape: str, data: st.DataObject, region: str
) -> None:
    text = data.draw(st.from_regex(shape, fullmatch=True))
    fast = _fast_parse(text, region)
    if fast is not None:
        assert fast == phonenumbers.parse(text, region)


@settings(max_examples=3000, deadline=None)
@given(text=_PHONE_TEXT, region=st.sampled_from(_REGIONS))
def test_any_text_parses_fast_as_phonenumbers_does_or_not_at_all(
    text: str, region: str
) -> None:
    fast = _fast_parse(text, region)
    if fast is not None:
        assert fast == phonenumbers.parse(text, region)


@settings(max_examples=1000, deadline=None)
@given(
    text=st.one_of(*(st.from_regex(s, fullmatch=True) for s in _SHAPES), _PHONE_TEXT),
    region=st.sampled_from(["US", "TH"]),
)
def test_phones_normalise_the_same_with_and_without_fast_shapes(
    text: str, region: str
) -> None:
    core = normalize._phone_core.__wrapped__
    fast = core(text, region)
    with pytest.MonkeyPatch.context() as m:
        m.setattr(normalize, "_FAST_SHAPES", ())
        assert core(text, region) == fast


def test_the_generator_shapes_take_the_fast_path() -> None:
    for text, region in [("541-726-3310", "US"), ("(541) 726-3310", "US"),
                         ("541.726.3310", "US"), ("+1 541 726 3310", "TH"),
                         ("+66839989666", "US"), ("+66 83 998 9666", "US"),
                         ("0839989666", "TH"), ("0839989666", "US"),
                         ("083-998-9666", "TH"), ("083-998-9666", "US")]:
        assert _fast_parse(text, region) is not None, text
