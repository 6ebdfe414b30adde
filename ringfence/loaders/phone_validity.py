"""Phone validity remembered by the leading digits that decide it.

``phonenumbers.is_valid_number`` runs a dozen regular expressions for every
region of a country code; it is most of what a phone costs to normalise.
Its patterns mostly read like "these area codes and exchanges, then any
seven digits": the answer depends on a number's first digits only. This
module proves, from the patterns themselves, how many leading digits decide
validity for a country code and a length, and then asks phonenumbers once
per such prefix.

The proof: every pattern validity reads (each region's general description
and number types, and its leading-digits pattern) is expanded into the
finite set of fixed-length sequences of digit classes it matches. For a
number of length ``n``, a pattern's fullmatch depends only on the first
``k`` digits when, in every sequence of length ``n``, each class from
position ``k`` on admits all ten digits; a leading-digits pattern (matched
as a prefix) depends at most on its longest sequence. Validity reads those
patterns and the number's length, nothing else (see phonenumbers'
``is_valid_number``, ``region_code_for_number`` and
``_number_type_helper``). A pattern the expansion cannot handle
(unbounded repeats, anchors, look-arounds, or more than ``_MAX_SEQUENCES``
sequences) proves nothing, and numbers of that country code are always
checked in full.
"""

from __future__ import annotations

import re
import re._constants as sre_c
import re._parser as sre_p
from functools import cache
from typing import Any

import phonenumbers
from phonenumbers.phonemetadata import PhoneMetadata

__all__ = ["is_valid_number"]

_DIGITS = frozenset("0123456789")
_MAX_SEQUENCES = 20_000
_CACHE_SIZE = 2**18
# The number types _number_type_helper reads, with the general description.
_DESCS = ("general_desc", "premium_rate", "toll_free", "shared_cost", "voip",
          "personal_number", "pager", "uan", "voicemail", "fixed_line", "mobile")

Sequence = tuple[frozenset[str], ...]


class _Unproven(Exception):
    """The pattern uses something the expansion does not handle."""


def _char_class(items: list[tuple[Any, Any]]) -> frozenset[str]:
    chars: set[str] = set()
    negate = False
    for op, av in items:
        if op is sre_c.LITERAL:
            chars.add(chr(av))
        elif op is sre_c.RANGE:
            chars.update(chr(c) for c in range(av[0], av[1] + 1) if chr(c) in _DIGITS)
        elif op is sre_c.CATEGORY and av is sre_c.CATEGORY_DIGIT:
            chars.update(_DIGITS)
        elif op is sre_c.NEGATE:
            negate = True
        else:
            raise _Unproven(op)
    digits = frozenset(chars) & _DIGITS
    return _DIGITS - digits if negate else digits


def _concat(left: set[Sequence], right: set[Sequence]) -> set[Sequence]:
    if len(left) * len(right) > _MAX_SEQUENCES:
        raise _Unproven("too many sequences")
    return {a + b for a in left for b in right}


def _expand(pattern: Any) -> set[Sequence]:
    """Every fixed-length sequence of digit classes ``pattern`` matches."""
    out: set[Sequence] = {()}
    for op, av in pattern:
        if op is sre_c.LITERAL:
            out = _concat(out, {(frozenset({chr(av)}) & _DIGITS,)})
        elif op is sre_c.IN:
            out = _concat(out, {(_char_class(av),)})
        elif op is sre_c.ANY:
            out = _concat(out, {(_DIGITS,)})
        elif op is sre_c.BRANCH:
            union: set[Sequence] = set()
            for branch in av[1]:
                union |= _expand(branch)
            out = _concat(out, union)
        elif op is sre_c.SUBPATTERN:
            out = _concat(out, _expand(av[3]))
        elif op in (sre_c.MAX_REPEAT, sre_c.MIN_REPEAT):
            low, high, item = av
            if high is sre_c.MAXREPEAT:
                raise _Unproven("unbounded repeat")
            once = _expand(item)
            power: set[Sequence] = {()}
            options: set[Sequence] = set()
            for n in range(high + 1):
                if n >= low:
                    options |= power
                if n < high:
                    power = _concat(power, once)
            out = _concat(out, options)
        else:
            raise _Unproven(op)
    return out


@cache
def _sequences(pattern: str) -> frozenset[Sequence]:
    return frozenset(_expand(sre_p.parse(pattern)))


def _tail(seq: Sequence) -> int:
    """Position after the last class of ``seq`` that does not admit every digit."""
    for i in range(len(seq) - 1, -1, -1):
        if seq[i] != _DIGITS:
            return i + 1
    return 0


@cache
def _pool(country_code: int, length: int) -> tuple[Sequence, ...] | None:
    """Every sequence validity may test a ``length``-digit number against.

    Leading-digits patterns match at the start: their sequences are padded
    with any-digit classes to ``length``. None when a pattern is unproven.
    """
    regions = phonenumbers.COUNTRY_CODE_TO_REGION_CODE.get(country_code)
    if not regions:
        return None
    pool: set[Sequence] = set()
    try:
        for region in regions:
            metadata = PhoneMetadata.metadata_for_region_or_calling_code(
                country_code, region.upper()
            )
            if metadata is None:
                continue
            if metadata.leading_digits is not None:
                pool.update(
                    seq + (_DIGITS,) * (length - len(seq))
                    for seq in _sequences(metadata.leading_digits)
                    if len(seq) <= length
                )
            for name in _DESCS:
                desc = getattr(metadata, name)
                if desc is None or not desc.national_number_pattern:
                    continue
                lengths = desc.possible_length
                if lengths and length not in lengths:
                    continue  # refused on length alone
                pool.update(seq for seq in _sequences(desc.national_number_pattern)
                            if len(seq) == length)
    except (_Unproven, re.error):
        return None
    return tuple(pool)


class _Node:
    """The pool's sequences that a digit prefix is compatible with."""

    __slots__ = ("children", "decided", "seqs")

    def __init__(self, seqs: tuple[Sequence, ...], depth: int) -> None:
        self.seqs = seqs
        self.children: dict[str, _Node] = {}
        # Every compatible sequence admits any digit from here on: the
        # prefix decides every pattern's answer.
        self.decided = all(_tail(seq) <= depth for seq in seqs)


_roots: dict[tuple[int, int], _Node | None] = {}


def deciding_prefix(country_code: int, digits: str) -> str | None:
    """The leading digits of a national number that decide its validity.

    Every number of the same country code and length that starts with the
    returned prefix is valid exactly when this one is. The prefixes walked
    are kept as a tree, so a prefix seen before costs a few dictionary
    look-ups.

    Args:
        country_code: The number's country calling code.
        digits: Its national significant number (ASCII digits).

    Returns:
        The prefix, or None when the country code's patterns are unproven.
    """
    key = (country_code, len(digits))
    if key not in _roots:
        pool = _pool(country_code, len(digits))
        _roots[key] = None if pool is None else _Node(pool, 0)
    node = _roots[key]
    if node is None:
        return None
    depth = 0
    while not node.decided:
        digit = digits[depth]
        child = node.children.get(digit)
        if child is None:
            child = node.children[digit] = _Node(
                tuple(seq for seq in node.seqs if digit in seq[depth]), depth + 1
            )
        node = child
        depth += 1
    return digits[:depth]


_known: dict[tuple[int, int, str], bool] = {}


def is_valid_number(number: phonenumbers.PhoneNumber) -> bool:
    """``phonenumbers.is_valid_number``, asked once per deciding prefix.

    Validity reads the country code and the national significant number
    (leading zeros included) only, so those key what is remembered.
    """
    country = int(number.country_code or 0)
    digits = phonenumbers.national_significant_number(number)
    prefix = deciding_prefix(country, digits)
    if prefix is None:
        return bool(phonenumbers.is_valid_number(number))
    key = (country, len(digits), prefix)
    valid = _known.get(key)
    if valid is None:
        if len(_known) >= _CACHE_SIZE:
            _known.clear()
        valid = _known[key] = bool(phonenumbers.is_valid_number(number))
    return valid
