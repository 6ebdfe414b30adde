"""Normalisers that turn raw identifier values into linking keys.

Every normaliser takes the text of one input cell and returns either an
:class:`~ringfence.model.Identifier` (the value links accounts) or a
:class:`Skip` (the value must never link: blank, a placeholder such as
``"N/A"``, or a number a spreadsheet has mangled). They never raise on the
value itself, whatever it holds: control characters, any Unicode, query
syntax, or ten thousand characters. Only a bad *setting* (an unknown phone
region, a short hashing key) raises :class:`~ringfence.errors.ConfigError`.

Values that are unusual but specific (an impossible phone number, an id with
a bad check digit) are kept with ``valid=False``: two accounts sharing the
same odd value is itself evidence.

All normalisers are pure and deterministic. Each one's core is memoised with
:func:`functools.lru_cache`, because identifier columns repeat heavily; a
cache entry holds the raw text (at most 256 characters), so each cache is
bounded at a few hundred megabytes in the worst case.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import ipaddress
import re
import unicodedata
from datetime import date
from functools import lru_cache
from typing import NamedTuple

import phonenumbers

from ringfence.errors import ConfigError
from ringfence.loaders import phone_validity
from ringfence.model import Identifier

__all__ = [
    "NationalIdHasher",
    "Skip",
    "join_address_parts",
    "mask_value",
    "normalize_address",
    "normalize_email",
    "normalize_generic",
    "normalize_national_id",
    "normalize_phone",
]

_MAX_LEN = 256
# Each normaliser remembers its last few thousand values: enough for a
# ring's burst of accounts and for hub values, which stay recent. Most
# values of a large load are seen once, and on those a bigger cache only
# costs: at a million accounts, 2**18 entries made conversion a tenth slower.
_CACHE_SIZE = 2**12
_MASK_WIDTH = 80


class Skip(NamedTuple):
    """Why an input value was not turned into an identifier.

    Attributes:
        reason: ``"empty"``, ``"placeholder"`` or ``"mangled"``.
        detail: Short human text, e.g. ``"repeated digit"``.
    """

    reason: str
    detail: str


_EMPTY = Skip("empty", "blank")
_TOO_LONG = Skip("mangled", "too long")
_TOO_SHORT = Skip("mangled", "too short")
_TOO_FEW_DIGITS = Skip("mangled", "too few digits")
_SCIENTIFIC = Skip("mangled", "spreadsheet scientific notation")
_SHEET_ERROR = Skip("mangled", "spreadsheet error value")
_WORD = Skip("placeholder", "placeholder word")
_NO_CONTENT = Skip("placeholder", "no letters or digits")
_NO_DIGITS = Skip("placeholder", "no digits")
_REPEATED_DIGIT = Skip("placeholder", "repeated digit")
_REPEATED_CHAR = Skip("placeholder", "repeated character")
_SEQUENCE = Skip("placeholder", "sequence")
_TEST_EMAIL = Skip("placeholder", "test email")
_TEST_ADDRESS = Skip("placeholder", "test address")
_NO_PLACE = Skip("placeholder", "no street or place name")

# ---------------------------------------------------------------------------
# Shared cleaning and placeholder rules
# ---------------------------------------------------------------------------

# C0/C1 controls, soft hyphen, bidi controls, zero-width and other format
# characters: they are invisible, so two values differing only by them are
# the same value typed twice.
_INVISIBLE_RE = re.compile(
    "[\x00-\x1f\x7f-\x9f\u00ad\u061c\u180e\u200b-\u200f\u2028-\u202e"
    "\u2060-\u206f\ufeff\ufff9-\ufffb]"
)
_NON_ALNUM_RE = re.compile(r"[\W_]+")
_ASCII_NON_ALNUM = bytes(c for c in range(128) if not chr(c).isalnum())
_NON_DIGIT_RE = re.compile(r"[^0-9]+")
# Excel shows long numbers as 5.41726E+09; the digits after the sixth are
# gone for good. The strict form (a decimal point or a signed exponent) is
# used for free-form kinds, where "12e45" may be a genuine hex device id.
_SCIENTIFIC_RE = re.compile(r"[+-]?\d+(?:[.,]\d+)?[eE][+-]?\d{1,3}")
_SCIENTIFIC_STRICT_RE = re.compile(r"[+-]?\d+(?:[.,]\d+[eE][+-]?|[eE][+-])\d{1,3}")
_SHEET_ERROR_RE = re.compile(
    r"#(?:N/A|VALUE!|REF!|NAME\?|DIV/0!|NUM!|NULL!|SPILL!|CALC!|FIELD!)",
    re.IGNORECASE,
)


def _words(text: str) -> list[str]:
    """Split a whitespace-separated word list written as one string."""
    return text.split()


# Compared against the value casefolded with everything but letters and
# digits removed, so "N/A", "n.a." and "#NA" all read "na".
_PLACEHOLDER_WORDS = frozenset(
    _words(
        """
        na nan null nil none nothing unknown unk undefined test testing xxx x xx
        xxxx xxxxx 0 notprovided notgiven notknown notavailable notapplicable
        notset nodata novalue missing blank empty tbd tba tbc declined refused
        withheld redacted dummy fake asdf asdfgh qwerty sample placeholder default
        invalid noemail nomail nophone nonumber noaddress noid idk dontknow
        donotknow nope no na0 anonymous
        """
    )
)
_PLACEHOLDER_BYTES = frozenset(w.encode() for w in _PLACEHOLDER_WORDS)

_EMPLOYER_PLACEHOLDERS = frozenset(
    _words(
        """
        self selfemployed selfemploy unemployed notemployed jobless retired
        student homemaker housewife househusband freelance freelancer
        ownbusiness business employer company work job
        """
    )
)

_ASCENDING = "0123456789" * 4
_DESCENDING = "9876543210" * 4


def _text(raw: object) -> str:
    """Return ``raw`` as text; loaders may hand over None or floats (NaN)."""
    if isinstance(raw, str):
        return raw
    return "" if raw is None else str(raw)


def _trimmed(raw: object) -> str | Skip:
    """Strip ``raw`` and refuse absurdly long values before they are cached."""
    text = _text(raw).strip()
    return _TOO_LONG if len(text) > _MAX_LEN else text


def _clean(text: str) -> str:
    """NFKC-normalise, blank out invisible characters, collapse whitespace."""
    if text.isascii() and text.isprintable():
        # The invisible ASCII characters are exactly the unprintable ones,
        # and NFKC leaves ASCII as it is.
        return " ".join(text.split())
    text = _INVISIBLE_RE.sub(" ", text)
    text = unicodedata.normalize("NFKC", text)
    return " ".join(text.split())


def _nfkc(text: str) -> str:
    """NFKC-normalise and casefold a table entry the way input text will be."""
    return unicodedata.normalize("NFKC", text).casefold()


def _ascii_digits(text: str) -> str:
    """Return the decimal digits of ``text`` as ASCII, in order."""
    if text.isascii():
        return _NON_DIGIT_RE.sub("", text)
    return "".join(str(unicodedata.decimal(c)) for c in text if c.isdecimal())


def _to_ascii_digits(text: str) -> str:
    """Replace every non-ASCII decimal digit (Thai, Arabic-Indic...) in place."""
    if text.isascii():
        return text
    return "".join(
        str(unicodedata.decimal(c)) if c.isdecimal() and not c.isascii() else c
        for c in text
    )


def _common_skip(text: str, *, strict_scientific: bool = False) -> Skip | None:
    """Apply the rules every kind shares to cleaned text.

    Args:
        text: Output of :func:`_clean`.
        strict_scientific: Only treat unambiguous scientific notation as
            mangled (for kinds whose values may be hexadecimal).

    Returns:
        The reason to skip, or None when the value may still be specific.
    """
    if not text:
        return _EMPTY
    if len(text) > _MAX_LEN:
        return _TOO_LONG
    pattern = _SCIENTIFIC_STRICT_RE if strict_scientific else _SCIENTIFIC_RE
    if pattern.fullmatch(text):
        return _SCIENTIFIC
    if text[0] == "#" and _SHEET_ERROR_RE.fullmatch(text):
        return _SHEET_ERROR
    if text.isascii():
        # What the lines below do, several times faster on ASCII text.
        packed = text.encode().translate(None, _ASCII_NON_ALNUM).lower()
        if not packed:
            return _NO_CONTENT
        return _WORD if packed in _PLACEHOLDER_BYTES else None
    compact = _NON_ALNUM_RE.sub("", text.casefold())
    if not compact:
        return _NO_CONTENT
    if compact in _PLACEHOLDER_WORDS:
        return _WORD
    return None


def _digit_placeholder(digits: str) -> Skip | None:
    """Flag one repeated digit (000 000 0000) or a run such as 123456789."""
    if digits and digits.count(digits[0]) == len(digits):
        return _REPEATED_DIGIT
    if len(digits) >= 5 and (digits in _ASCENDING or digits in _DESCENDING):
        return _SEQUENCE
    return None


# ---------------------------------------------------------------------------
# Phones
# ---------------------------------------------------------------------------

_FLOAT_TAIL_RE = re.compile(r"(\+?\d{6,})\.0+")


def _phone_region(region: str) -> str:
    """Return ``region`` upper-cased, or raise if phonenumbers lacks it."""
    code = _text(region).strip().upper()
    if code not in phonenumbers.SUPPORTED_REGIONS:
        raise ConfigError(
            f"default phone region {region!r} is not a region phonenumbers "
            "knows; use an ISO 3166 alpha-2 code such as 'US' or 'TH'"
        )
    return code


# The shapes most phones arrive in, with what phonenumbers.parse makes of
# them: (pattern, country code, leading zero, the regions it holds for, or
# None for all). Parsing is most of a phone's cost; these give the same
# PhoneNumber without it (tests compare both on every shape and region).
_FAST_SHAPES: tuple[tuple[re.Pattern[str], int, bool, frozenset[str] | None], ...] = (
    # North American numbers as typed in the US: 541-726-3310,
    # (541) 726-3310, 541.726.3310, 5417263310
    (re.compile(r"([2-9][0-9]{2})-([0-9]{3})-([0-9]{4})"), 1, False,
     frozenset({"US"})),
    (re.compile(r"\(([2-9][0-9]{2})\) ([0-9]{3})-([0-9]{4})"), 1, False,
     frozenset({"US"})),
    (re.compile(r"([2-9][0-9]{2})\.([0-9]{3})\.([0-9]{4})"), 1, False,
     frozenset({"US"})),
    (re.compile(r"([2-9][0-9]{9})"), 1, False, frozenset({"US"})),
    # a national number with a leading zero read as a US number, before and
    # after its E.164 form is parsed again ("011" is the US exit code)
    (re.compile(r"0([2-9][0-9]{8})"), 1, True, frozenset({"US"})),
    (re.compile(r"0([2-9][0-9])-([0-9]{3})-([0-9]{4})"), 1, True,
     frozenset({"US"})),
    (re.compile(r"\+10([1-9][0-9]{8})"), 1, True, None),
    # E.164, spaced or not: +1 541 726 3310, +66 83 998 9666, +66839989666
    (re.compile(r"\+1 ?([2-9][0-9]{2}) ?([0-9]{3}) ?([0-9]{4})"), 1, False, None),
    (re.compile(r"\+66 ?([1-9][0-9]) ?([0-9]{3}) ?([0-9]{4})"), 66, False, None),
    # Thai mobile numbers as typed in Thailand: 0839989666, 083-998-9666
    (re.compile(r"0([1-9][0-9]{8})"), 66, False, frozenset({"TH"})),
    (re.compile(r"0([1-9][0-9])-([0-9]{3})-([0-9]{4})"), 66, False,
     frozenset({"TH"})),
)


def _fast_parse(text: str, region: str) -> phonenumbers.PhoneNumber | None:
    """What phonenumbers.parse returns for a common shape, or None."""
    for pattern, country, leading_zero, regions in _FAST_SHAPES:
        if regions is not None and region not in regions:
            continue
        match = pattern.fullmatch(text)
        if match:
            return phonenumbers.PhoneNumber(
                country_code=country,
                national_number=int("".join(match.groups())),
                italian_leading_zero=True if leading_zero else None,
            )
    return None


def _parse_phone(text: str, region: str) -> phonenumbers.PhoneNumber | None:
    """Parse with phonenumbers; any failure of it means "not parseable"."""
    number = _fast_parse(text, region)
    if number is not None:
        return number
    try:
        return phonenumbers.parse(text, region)
    except Exception:  # a third-party parser fed hostile text: any failure
        return None


def _phone_once(text: str, region: str) -> tuple[Identifier | Skip, bool]:
    """Normalise cleaned text once; also say whether the result may drift.

    Returns:
        The result, and True when phonenumbers read leading zeros into the
        number, the one case where its E.164 output can parse differently.
    """
    # A number that went through a float column comes back as "5417260000.0";
    # "00" is the international prefix almost everywhere, "+" in E.164.
    match = _FLOAT_TAIL_RE.fullmatch(text)
    if match:
        text = match.group(1)
    if text.startswith("00") and text[2:3].isdigit() and text[2] != "0":
        text = "+" + text[2:]
    digits = _ascii_digits(text)
    if not digits:
        return _NO_DIGITS, False
    plus = "+" if text.startswith("+") else ""

    # Parse the text as typed (vanity letters, extensions); failing that,
    # the bare digits, so that a value and its display agree.
    number = _parse_phone(text, region) or _parse_phone(plus + digits, region)
    if number is None:
        if len(digits) < 6:
            return _TOO_FEW_DIGITS, False
        skip = _digit_placeholder(digits)
        if skip is not None:
            return skip, False
        return Identifier("phone", "raw:" + digits, plus + digits, valid=False), False

    national = phonenumbers.national_significant_number(number)
    skip = _digit_placeholder(national) or _digit_placeholder(
        str(number.country_code) + national
    )
    if skip is not None:
        return skip, False
    valid = phone_validity.is_valid_number(number)
    if not valid and len(national) < 6:
        return _TOO_FEW_DIGITS, False
    e164 = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    drifts = bool(number.italian_leading_zero) and e164 != text
    return Identifier("phone", e164, e164, valid=valid), drifts


@lru_cache(maxsize=_CACHE_SIZE)
def _phone_core(text: str, region: str) -> Identifier | Skip:
    code = _phone_region(region)
    text = _clean(text)
    skip = _common_skip(text)
    if skip is not None:
        return skip

    # Junk such as "+820000001" loses a zero to the national prefix on every
    # parse; settle on the form that parses to itself.
    result, drifts = _phone_once(text, code)
    for _ in range(8):
        if not drifts or isinstance(result, Skip):
            return result
        result, drifts = _phone_once(result.display, code)
    return Skip("mangled", "unstable phone number")


def normalize_phone(raw: str, default_region: str = "US") -> Identifier | Skip:
    """Normalise a phone number to its E.164 form.

    Numbers without a country code are read as numbers of ``default_region``;
    a leading ``00`` is read as the international prefix. Extensions are
    dropped. A value phonenumbers cannot parse at all but holding at least
    six digits is kept under the key ``"raw:<digits>"`` with ``valid=False``.

    Args:
        raw: The cell as read.
        default_region: ISO 3166 alpha-2 region for national numbers.

    Returns:
        An identifier keyed by E.164 (``valid`` is phonenumbers'
        ``is_valid_number``), or a :class:`Skip` for blanks, placeholder
        words, one repeated digit, digit runs such as ``123456789``, fewer
        than six digits, and spreadsheet scientific notation.

    Raises:
        ConfigError: If ``default_region`` is not a known phone region.

    Examples:
        >>> normalize_phone("(541) 726-0000 ext. 12").key
        '+15417260000'
        >>> normalize_phone("5.41726E+09")
        Skip(reason='mangled', detail='spreadsheet scientific notation')
    """
    text = _trimmed(raw)
    if isinstance(text, Skip):
        return text
    return _phone_core(text, default_region)


# ---------------------------------------------------------------------------
# Emails
# ---------------------------------------------------------------------------

_ANGLE_RE = re.compile(r"<([^<>]*)>")
_MAILTO_RE = re.compile(r"^(?:mailto:)+")
_LOCAL_CHARS = frozenset("!#$%&'*+/=?^_`{|}~.-")
_GMAIL_DOMAINS = frozenset({"gmail.com", "googlemail.com"})
_APPLE_DOMAINS = frozenset({"icloud.com", "me.com", "mac.com"})
# Providers that deliver "name+anything" to "name".
_PLUS_TAG_DOMAINS = frozenset(
    {
        "proton.me",
        "protonmail.com",
        "protonmail.ch",
        "pm.me",
        "fastmail.com",
        "fastmail.fm",
        "icloud.com",
    }
)
_MICROSOFT_RE = re.compile(
    r"(?:outlook|hotmail|live|msn)\.(?:com|net|[a-z]{2}|co\.[a-z]{2}|com\.[a-z]{2})"
)
_YAHOO_RE = re.compile(
    r"(?:yahoo\.(?:com|[a-z]{2}|co\.[a-z]{2}|com\.[a-z]{2})|ymail\.com|rocketmail\.com)"
)
_PLACEHOLDER_LOCALS = frozenset(
    _words(
        """
        test testing tester test1 test123 example sample fake dummy invalid none
        null nil na unknown nobody noone noreply no-reply no_reply donotreply
        do-not-reply do_not_reply donotemail noemail nomail asdf qwerty
        """
    )
)
_PLACEHOLDER_DOMAINS = frozenset(
    _words(
        """
        test.com test.net test.org none.com null.com noemail.com nomail.com
        email.invalid fake.com dummy.com asdf.com
        """
    )
)
# Reserved for testing and documentation by RFC 2606 / RFC 6761.
_RESERVED_TLDS = frozenset({"test", "invalid", "localhost", "example", "local"})


def _email_text(text: str) -> str:
    """Lower-case an address and strip the wrapping people put around it."""
    text = text.lower()
    inner = _ANGLE_RE.search(text)
    if inner and "@" in inner.group(1):
        text = inner.group(1)
    # Removing spaces can leave a letter next to its accent: compose again.
    text = unicodedata.normalize("NFC", "".join(text.split())).strip("<>\"'")
    text = _MAILTO_RE.sub("", text).strip("<>\"'").rstrip(".")
    return text


def _email_domain(domain: str) -> str:
    """Map provider aliases to one domain and punycode labels to Unicode."""
    if "xn--" in domain:
        with contextlib.suppress(UnicodeError, ValueError):
            domain = domain.encode("ascii").decode("idna").lower()
    if domain == "googlemail.com":
        return "gmail.com"
    if domain in _APPLE_DOMAINS:
        return "icloud.com"
    return domain


def _email_local(local: str, domain: str) -> str:
    """Drop the parts of a mailbox name its provider ignores."""
    if (
        domain in _GMAIL_DOMAINS
        or domain in _PLUS_TAG_DOMAINS
        or _MICROSOFT_RE.fullmatch(domain)
    ):
        local = local.split("+", 1)[0]
    elif _YAHOO_RE.fullmatch(domain):
        # Yahoo names cannot contain "-": "base-keyword" is a disposable alias
        # of the owner's base name.
        local = local.split("-", 1)[0]
    if domain in _GMAIL_DOMAINS:
        local = local.replace(".", "")
    return local


def _email_syntax_ok(local: str, domain: str) -> bool:
    """Check the shape of a mailbox, allowing internationalised names."""
    if not local or len(local) > 64 or len(local) + len(domain) > 253:
        return False
    if local[0] == "." or local[-1] == "." or ".." in local:
        return False
    if not all(c.isalnum() or c in _LOCAL_CHARS for c in local):
        return False
    labels = domain.split(".")
    if len(labels) < 2:
        return False
    for label in labels:
        if not label or len(label) > 63 or label[0] == "-" or label[-1] == "-":
            return False
        if not all(c.isalnum() or c == "-" for c in label):
            return False
    tld = labels[-1]
    return tld.isalpha() and len(tld) >= 2


def _test_email(local: str, domain: str) -> bool:
    """Whether a syntactically plausible address is a stand-in."""
    if local in _PLACEHOLDER_LOCALS:
        return True
    if len(local) >= 3 and local.count(local[0]) == len(local):
        return True  # xxx@, aaaa@
    if domain in _PLACEHOLDER_DOMAINS:
        return True
    labels = domain.split(".")
    if labels[-1] in _RESERVED_TLDS:
        return True
    # abc@abc.com, xy@xy.net: typed to get past a form.
    return local == labels[0] and len(local) <= 3


@lru_cache(maxsize=_CACHE_SIZE)
def _email_core(text: str) -> Identifier | Skip:
    text = _clean(text)
    skip = _common_skip(text, strict_scientific=True)
    if skip is not None:
        return skip
    text = _email_text(text)
    skip = _common_skip(text, strict_scientific=True)
    if skip is not None:
        return skip

    local, at, domain = text.rpartition("@")
    if not at:
        return Identifier("email", text, text, valid=False)
    if not local or local.strip(".+-_") == "":
        return _TEST_EMAIL
    domain = _email_domain(domain.strip("."))
    local = _email_local(local, domain)
    if not local or local.strip(".+-_") == "":
        return _TEST_EMAIL
    if _test_email(local, domain):
        return _TEST_EMAIL
    address = f"{local}@{domain}"
    return Identifier("email", address, address, _email_syntax_ok(local, domain))


def normalize_email(raw: str) -> Identifier | Skip:
    """Normalise an email address to the mailbox it delivers to.

    The address is trimmed, lower-cased and freed of ``mailto:`` and of a
    display name (``"Ann <ann@x.org>"``). Gmail ignores dots and ``+tags``
    and ``googlemail.com`` is Gmail; Outlook/Hotmail/Live/MSN, iCloud (with
    me.com and mac.com), Proton and Fastmail ignore ``+tags``; Yahoo's
    ``base-keyword`` aliases map to ``base``. Other domains are kept as typed,
    since their servers may treat ``+`` as part of the name.

    Args:
        raw: The cell as read.

    Returns:
        An identifier whose key and display are the canonical address;
        ``valid=False`` when the syntax is wrong (no ``@``, bad domain) but
        the value is still specific. A :class:`Skip` for blanks, placeholder
        words and test addresses (``test@test.com``, ``a@a.com``,
        ``noreply@...``, reserved test domains). ``example.org`` with a real
        looking name, such as ``ann.rivers@example.org``, is kept.

    Examples:
        >>> normalize_email(" Ann.Rivers+loans@GoogleMail.com ").key
        'annrivers@gmail.com'
    """
    text = _trimmed(raw)
    if isinstance(text, Skip):
        return text
    return _email_core(text)


# ---------------------------------------------------------------------------
# Addresses
# ---------------------------------------------------------------------------

# Combining marks that NFKD splits off Latin letters: dropped, so "Peña" and
# "Pena" agree. Marks of other scripts (Thai vowels) are part of the word.
_LATIN_MARKS_RE = re.compile("[\u0300-\u036f]")
_DROP_RE = re.compile("[.'`\u2018\u2019\u02bc]")
_MARKS = (
    "\u0483-\u0489\u0591-\u05c7\u0610-\u061a\u064b-\u065f\u0900-\u0dff"
    "\u0e00-\u0eff\u1ab0-\u1aff\u1dc0-\u1dff\u20d0-\u20ff\ufe20-\ufe2f"
)
_SEPARATOR_RE = re.compile(f"[^\\w{_MARKS}#/-]|_")
# "-" and "/" survive only between letters or digits: 99/12, 4-B.
_LOOSE_JOINER_RE = re.compile(r"(?<![^\W_])[-/]+|[-/]+(?![^\W_])")
# The same folding for plain ASCII text, as one str.translate pass.
_ASCII_ADDRESS_TABLE: dict[int, str | None] = {
    c: (None if chr(c) in ".'`" else " ")
    for c in range(128)
    if not chr(c).isalnum() and chr(c) not in "-/ "
}
_ASCII_ADDRESS_TABLE.update({ord("#"): " # "})
_ASCII_ADDRESS_TABLE.update({c: chr(c).lower() for c in range(ord("A"), ord("Z") + 1)})
_ORDINAL_NUMBER_RE = re.compile(r"(\d+)(?:st|nd|rd|th)")
_ZIP_RE = re.compile(r"(\d{5})(?:-\d{4})?")

# Keys are spelled as typed; _nfkc() below turns SARA AM into the two code
# points NFKC gives, which is what the marker regex will see.
_THAI_MARKERS = {
    "ถนน": "ถ",
    "ถ.": "ถ",
    "ซอย": "ซ",
    "ซ.": "ซ",
    "หมู่บ้าน": "หมู่บ้าน",
    "หมู่ที่": "ม",
    "หมู่": "ม",
    "ม.": "ม",
    "ตำบล": "ต",
    "ต.": "ต",
    "อำเภอ": "อ",
    "อ.": "อ",
    "จังหวัด": "จ",
    "จ.": "จ",
    "บ้านเลขที่": "",
    "เลขที่": "",
}
_THAI_MARKERS = {_nfkc(k): v for k, v in _THAI_MARKERS.items()}
_THAI_MARKER_RE = re.compile(
    r"(?:^|(?<=[\s,]))("
    + "|".join(re.escape(m) for m in sorted(_THAI_MARKERS, key=len, reverse=True))
    + r")\s*"
)

_STREET_WORDS = {
    "st": ("street", "str", "strt", "st", "saint"),
    "ave": ("avenue", "av", "aven", "avenu", "avn", "avnue", "ave"),
    "rd": ("road", "rd"),
    "ln": ("lane", "ln"),
    "dr": ("drive", "drv", "dr"),
    "blvd": ("boulevard", "boul", "boulv", "blvd"),
    "ct": ("court", "crt", "ct"),
    "pl": ("place", "pl"),
    "ter": ("terrace", "terr", "ter"),
    "hwy": ("highway", "hiway", "hwy"),
    "pkwy": ("parkway", "pky", "pkwy"),
    "cir": ("circle", "circ", "cir"),
    "sq": ("square", "sqr", "sq"),
    "trl": ("trail", "trl"),
    "cres": ("crescent", "cres"),
    "aly": ("alley", "aly"),
    "expy": ("expressway", "expy"),
    "fwy": ("freeway", "fwy"),
    "hts": ("heights", "hts"),
    "jct": ("junction", "jct"),
    "ctr": ("center", "centre", "ctr"),
    "plz": ("plaza", "plz"),
    "pt": ("point", "pt"),
    "rte": ("route", "rte"),
    "mt": ("mount", "mt"),
    "mtn": ("mountain", "mtn"),
    "ft": ("fort", "ft"),
    "bldg": ("building", "bldg"),
    "n": ("north", "n"),
    "s": ("south", "s"),
    "e": ("east", "e"),
    "w": ("west", "w"),
    "ne": ("northeast", "ne"),
    "nw": ("northwest", "nw"),
    "se": ("southeast", "se"),
    "sw": ("southwest", "sw"),
    "กรุงเทพ": ("กรุงเทพ", "กรุงเทพฯ", "กรุงเทพมหานคร", "กทม"),
}
_ABBREVIATIONS = {
    _nfkc(word): _nfkc(canon)
    for canon, words in _STREET_WORDS.items()
    for word in words
}
_DIRECTION_PAIRS = {
    ("n", "e"): "ne",
    ("n", "w"): "nw",
    ("s", "e"): "se",
    ("s", "w"): "sw",
}
_ORDINAL_WORDS = {
    word: f"{n}{'th' if 10 <= n % 100 <= 20 else suffix}"
    for n, word, suffix in (
        (1, "first", "st"),
        (2, "second", "nd"),
        (3, "third", "rd"),
        (4, "fourth", "th"),
        (5, "fifth", "th"),
        (6, "sixth", "th"),
        (7, "seventh", "th"),
        (8, "eighth", "th"),
        (9, "ninth", "th"),
        (10, "tenth", "th"),
        (11, "eleventh", "th"),
        (12, "twelfth", "th"),
        (13, "thirteenth", "th"),
        (14, "fourteenth", "th"),
        (15, "fifteenth", "th"),
        (16, "sixteenth", "th"),
        (17, "seventeenth", "th"),
        (18, "eighteenth", "th"),
        (19, "nineteenth", "th"),
        (20, "twentieth", "th"),
        (30, "thirtieth", "th"),
        (40, "fortieth", "th"),
        (50, "fiftieth", "th"),
        (60, "sixtieth", "th"),
        (70, "seventieth", "th"),
        (80, "eightieth", "th"),
        (90, "ninetieth", "th"),
        (100, "hundredth", "th"),
    )
}
_TENS_WORDS = {
    "twenty": 20,
    "thirty": 30,
    "forty": 40,
    "fifty": 50,
    "sixty": 60,
    "seventy": 70,
    "eighty": 80,
    "ninety": 90,
}


def _canonical_words(tokens: list[str]) -> list[str]:
    """Apply abbreviations, ordinals and direction pairs to street words."""
    words: list[str] = []
    for token in tokens:
        token = _ORDINAL_WORDS.get(token, _ABBREVIATIONS.get(token, token))
        previous = words[-1] if words else ""
        if previous in _TENS_WORDS and token[:1].isdigit() and len(token) == 3:
            # "twenty first" -> "21st"
            words[-1] = f"{_TENS_WORDS[previous] // 10}{token}"
        elif (previous, token) in _DIRECTION_PAIRS:
            words[-1] = _DIRECTION_PAIRS[(previous, token)]
        elif previous in {"p", "post"} and token in {"o", "office"}:
            words[-1] = "po"
        else:
            words.append(token)
    return words


_UNIT_WORDS = frozenset(
    {"apt", "apartment", "unit", "#", "suite", "ste", "flat", "room", "rm"}
    | {_nfkc("ห้อง")}
)
_FLOOR_WORDS = frozenset({"floor", "fl", "flr", _nfkc("ชั้น")})

_US_STATES = {
    "al": "alabama",
    "ak": "alaska",
    "az": "arizona",
    "ar": "arkansas",
    "ca": "california",
    "co": "colorado",
    "ct": "connecticut",
    "de": "delaware",
    "dc": "district of columbia",
    "fl": "florida",
    "ga": "georgia",
    "hi": "hawaii",
    "id": "idaho",
    "il": "illinois",
    "in": "indiana",
    "ia": "iowa",
    "ks": "kansas",
    "ky": "kentucky",
    "la": "louisiana",
    "me": "maine",
    "md": "maryland",
    "ma": "massachusetts",
    "mi": "michigan",
    "mn": "minnesota",
    "ms": "mississippi",
    "mo": "missouri",
    "mt": "montana",
    "ne": "nebraska",
    "nv": "nevada",
    "nh": "new hampshire",
    "nj": "new jersey",
    "nm": "new mexico",
    "ny": "new york",
    "nc": "north carolina",
    "nd": "north dakota",
    "oh": "ohio",
    "ok": "oklahoma",
    "or": "oregon",
    "pa": "pennsylvania",
    "ri": "rhode island",
    "sc": "south carolina",
    "sd": "south dakota",
    "tn": "tennessee",
    "tx": "texas",
    "ut": "utah",
    "vt": "vermont",
    "va": "virginia",
    "wa": "washington",
    "wv": "west virginia",
    "wi": "wisconsin",
    "wy": "wyoming",
    "pr": "puerto rico",
    "gu": "guam",
    "vi": "virgin islands",
    "as": "american samoa",
    "mp": "northern mariana islands",
}
# Tails are matched after abbreviating, where "North Carolina" reads "n carolina".
_STATE_BY_NAME = {
    tuple(_canonical_words(name.split())): code for code, name in _US_STATES.items()
}

# Canonical country name -> (ISO alpha-2, spellings). Two-letter codes that
# are also US state codes (CA, IN, DE...) are deliberately not spellings.
_COUNTRIES = {
    "united states": (
        "US",
        ("us", "usa", "u s", "u s a", "united states", "united states of america"),
    ),
    "thailand": ("TH", ("th", "tha", "thailand", "kingdom of thailand", "ไทย")),
    "china": ("CN", ("cn", "chn", "china", "prc", "peoples republic of china")),
    "canada": ("CA", ("can", "canada")),
    "united kingdom": (
        "GB",
        ("uk", "gb", "gbr", "united kingdom", "great britain", "england"),
    ),
    "mexico": ("MX", ("mx", "mex", "mexico")),
    "philippines": ("PH", ("ph", "phl", "philippines")),
    "india": ("IN", ("ind", "india")),
    "australia": ("AU", ("au", "aus", "australia")),
    "germany": ("DE", ("deu", "germany", "deutschland")),
    "france": ("FR", ("fr", "fra", "france")),
    "singapore": ("SG", ("sg", "sgp", "singapore")),
    "malaysia": ("MY", ("my", "mys", "malaysia")),
    "vietnam": ("VN", ("vn", "vnm", "vietnam", "viet nam")),
    "indonesia": ("ID", ("idn", "indonesia")),
    "japan": ("JP", ("jp", "jpn", "japan")),
    "brazil": ("BR", ("br", "bra", "brazil", "brasil")),
    "nigeria": ("NG", ("ng", "nga", "nigeria")),
    "kenya": ("KE", ("ke", "ken", "kenya")),
    "south africa": ("ZA", ("za", "zaf", "south africa")),
    "spain": ("ES", ("es", "esp", "spain", "espana")),
    "colombia": ("CO", ("col", "colombia")),
}
_COUNTRY_BY_SPELLING = {
    tuple(_canonical_words(spelling.split())): name
    for name, (_, spellings) in _COUNTRIES.items()
    for spelling in spellings
}
_COUNTRY_BY_CODE = {code: name for name, (code, _) in _COUNTRIES.items()}
_COUNTRY_BY_SPELLING[("ประเทศไทย",)] = "thailand"
_COUNTRY_LAST_WORDS = frozenset(words[-1] for words in _COUNTRY_BY_SPELLING)
_STATE_LAST_WORDS = frozenset(words[-1] for words in _STATE_BY_NAME)

_TEST_ADDRESS_WORDS = frozenset(
    _words("fake test dummy asdf qwerty xxx anytown nowhere placeholder")
)
_TEST_BUILDINGS = frozenset(
    {
        "123 main st",
        "1234 main st",
        "123 abc st",
        "123 any st",
        "123 st",
        "1 main st",
        "address",
        "street",
        "st",
        "home",
        "house",
        "homeless",
        "no fixed abode",
        "no fixed address",
        "nfa",
        "po box",
    }
)
_UPPER_TOKENS = frozenset({"n", "s", "e", "w", "ne", "nw", "se", "sw", "po"})


class _Address(NamedTuple):
    building: tuple[str, ...]
    state: str
    postcode: str
    country: str
    unit: str


def _address_tokens(text: str) -> list[str]:
    """Fold case, accents and punctuation of cleaned text and split into words."""
    if text.isascii():
        text = text.translate(_ASCII_ADDRESS_TABLE)
    else:
        text = unicodedata.normalize("NFKD", text)
        text = _LATIN_MARKS_RE.sub("", text)
        text = unicodedata.normalize("NFKC", text).casefold()
        text = _to_ascii_digits(text)
        text = _THAI_MARKER_RE.sub(lambda m: _THAI_MARKERS[m.group(1)] + " ", text)
        text = _DROP_RE.sub("", text).replace("#", " # ")
        text = _SEPARATOR_RE.sub(" ", text)
    if "-" in text or "/" in text:
        text = _LOOSE_JOINER_RE.sub(" ", text)
    tokens: list[str] = []
    for token in text.split():
        # "north-west" and "saint-denis" are two words; "4-b" and 99/12 one.
        if "-" in token and not any(c.isdigit() for c in token):
            tokens.extend(part for part in token.split("-") if part)
        else:
            tokens.append(token)
    return tokens


def _unit_value(token: str) -> str | None:
    """Return a token as a unit number (4B, 200, B), or None if it is a word.

    The token is judged in its canonical form ("north" is "n", one letter),
    as the display shows it. Two letters are not enough: "OR" after "Flat"
    is Oregon, not flat OR.
    """
    value = token.replace("-", "").replace("/", "")
    value = _ORDINAL_WORDS.get(value, _ABBREVIATIONS.get(value, value))
    if not value or value in _UNIT_WORDS or value in _FLOOR_WORDS:
        return None
    if any(c.isdigit() for c in value) or (len(value) == 1 and value.isalpha()):
        return value
    return None


def _split_unit(tokens: list[str]) -> tuple[list[str], list[str], list[str]]:
    """Remove unit and floor designators; return the rest, units and floors."""
    rest: list[str] = []
    units: list[str] = []
    floors: list[str] = []
    i = 0
    while i < len(tokens):
        token = tokens[i]
        if token in _UNIT_WORDS:
            family = _UNIT_WORDS
        elif token in _FLOOR_WORDS:
            family = _FLOOR_WORDS
        else:
            rest.append(token)
            i += 1
            continue
        j = i + 1
        while family is _UNIT_WORDS and j < len(tokens) and tokens[j] in family:
            j += 1  # "apt #4b"
        after = tokens[j] if j < len(tokens) else ""
        value = _unit_value(after) if after else None

        if family is _UNIT_WORDS:
            if value is not None:
                units.append(value)
                i = j + 1
                continue
            if after and token not in {"#", "unit"}:
                rest.append(token)  # "Flat Rock Rd", "Ste Foy": a name
            i += 1
            continue

        # "FL 33101" is Florida and a ZIP code, not the 33101st floor.
        if value is not None and len(value) <= 3:
            floors.append(value)
            i = j + 1
            continue
        previous = _ORDINAL_NUMBER_RE.fullmatch(rest[-1]) if rest else None
        if previous and not (token == "fl" and _ZIP_RE.fullmatch(after)):
            floors.append(previous.group(1))  # "3rd floor"
            rest.pop()
        elif token == "fl":
            rest.append(token)
        i += 1
    return rest, units, floors


def _split_country(tokens: list[str]) -> tuple[list[str], str]:
    """Remove a trailing country; return the rest and its canonical name."""
    if not tokens or tokens[-1] not in _COUNTRY_LAST_WORDS:
        return tokens, ""  # no spelling ends with this word
    for size in (5, 4, 3, 2, 1):
        if len(tokens) > size:
            name = _COUNTRY_BY_SPELLING.get(tuple(tokens[-size:]))
            if name is not None:
                return tokens[:-size], name
    return tokens, ""


def _split_us_tail(tokens: list[str]) -> tuple[list[str], str, str]:
    """Remove a trailing ZIP code and state; return (rest, state, zip)."""
    postcode = ""
    if len(tokens) > 1:
        match = _ZIP_RE.fullmatch(tokens[-1])
        if match:
            postcode = match.group(1)
            tokens = tokens[:-1]
    if len(tokens) > 1 and tokens[-1] in _US_STATES:
        return tokens[:-1], tokens[-1], postcode
    if not tokens or tokens[-1] not in _STATE_LAST_WORDS:
        return tokens, "", postcode  # no state name ends with this word
    for size in (3, 2, 1):
        if len(tokens) > size:
            code = _STATE_BY_NAME.get(tuple(tokens[-size:]))
            if code is not None:
                return tokens[:-size], code, postcode
    return tokens, "", postcode


def _parse_address(text: str, default: str) -> _Address:
    """Split canonical words into building words, unit and trailing parts.

    Designators with their numbers are taken out until none is left; then
    countries, one US state and ZIP, and designators left without a number
    are peeled off the end until none is left.
    """
    tokens = _address_tokens(text)
    units: list[str] = []
    floors: list[str] = []
    while True:  # dropping "floor" in "suite floor 1180" exposes "suite 1180"
        size = len(tokens)
        tokens, found_units, found_floors = _split_unit(_canonical_words(tokens))
        units += found_units
        floors += found_floors
        if len(tokens) == size:
            break

    country = state = postcode = ""
    while True:
        size = len(tokens)
        tokens, name = _split_country(tokens)
        country = country or name
        if not (state or postcode) and (country or default) == "united states":
            tokens, state, postcode = _split_us_tail(tokens)
        while tokens and tokens[-1] in _UNIT_WORDS:
            tokens.pop()  # "Apt, USA": a designator left without its number
        if len(tokens) == size:
            break

    if units:
        unit = units[0]
    elif floors:
        unit = "fl" + _ORDINAL_NUMBER_RE.sub(r"\1", floors[0])
    else:
        unit = ""
    country = "" if country == default else country
    return _Address(tuple(tokens), state, postcode, country, unit)


@lru_cache(maxsize=_CACHE_SIZE)
def _tidy(token: str) -> str:
    """Capitalise a canonical word for display; other scripts are left alone."""
    if token in _UPPER_TOKENS:
        return token.upper()
    if token.isascii() and token.isalpha():
        return token.capitalize()
    if _ORDINAL_NUMBER_RE.fullmatch(token):
        return token  # "3rd", not "3RD"
    return token.upper() if token.isascii() else token


def _address_once(text: str, default: str) -> Identifier | Skip:
    """Parse cleaned text once and build the identifier."""
    return _address_of(_parse_address(text, default))


def _has_letter(text: str) -> bool:
    if text.isascii():
        return text.lower() != text.upper()  # only letters have case
    return any(c.isalpha() for c in text)


def _is_placeholder(text: str) -> bool:
    """Whether ``text``, punctuation and spaces removed, is a placeholder word."""
    if text.isascii():
        return text.encode().translate(None, _ASCII_NON_ALNUM) in _PLACEHOLDER_BYTES
    return _NON_ALNUM_RE.sub("", text) in _PLACEHOLDER_WORDS


def _address_of(address: _Address) -> Identifier | Skip:
    """Build the identifier of a parsed address."""
    building = " ".join(address.building)
    if not _has_letter(building):
        return _NO_PLACE
    if _is_placeholder(building):
        return _WORD  # "N/À": a placeholder once accents are folded
    if _SCIENTIFIC_RE.fullmatch(building):
        return _SCIENTIFIC  # "5.4È9" folds to "54e9"
    if building in _TEST_BUILDINGS and not (address.state or address.postcode):
        return _TEST_ADDRESS
    if _TEST_ADDRESS_WORDS.intersection(address.building):
        return _TEST_ADDRESS

    tail = [address.state, address.postcode, address.country]
    building_key = " ".join([building, *filter(None, tail)])
    words = [_tidy(t) for t in address.building]
    words += [address.state.upper(), address.postcode, address.country.title()]
    display = " ".join(" ".join(words).split())
    if not address.unit:
        return Identifier("address", building_key, display, extra=building_key)
    if address.unit.startswith("fl"):
        label = "Floor " + address.unit[2:]
    else:
        label = "Unit " + address.unit.upper()
    return Identifier(
        "address",
        f"{building_key}|unit:{address.unit}",
        f"{display}, {label}",
        extra=building_key,
    )


_SETTLE_BREAKERS = _UNIT_WORDS | _FLOOR_WORDS


def _settled(address: _Address) -> bool:
    """Whether the display of a parse of ASCII text parses the same way.

    The display lists the building words as they are, then the state code,
    the ZIP code, the country when it is not the default, and ", Unit X" or
    ", Floor N". Reading it again gives back the same parse unless one of
    these holds, each a way for the display to read differently:

    * a building word is a unit or floor designator ("Flat Rock Rd"): it is
      now followed by the state, ZIP or unit instead of what followed it;
    * the state is Florida without a ZIP code: "FL" is also a floor
      designator, and "5th FL" reads as a floor (a ZIP after it says state);
    * a ZIP code without a state, after a building that ends like a state
      ("... OR"): once the ZIP is found no state is looked for, but the
      display may now put them side by side;
    * the country is shown: it may join the building's last words into a
      longer spelling ("Kingdom Of" + "Thailand");
    * the unit is a floor, or a unit that starts like one ("FL2").

    Words are canonical already (canonicalising twice changes nothing), and
    no state code, ZIP code or "unit" joins the word before it, so those
    are the only ways. Anything else takes the second parse.
    """
    if address.country or address.unit.startswith("fl"):
        return False
    if address.state == "fl" and not address.postcode:
        return False
    if address.postcode and not address.state and (
        address.building[-1] in _US_STATES
        or address.building[-1] in _STATE_LAST_WORDS
    ):
        return False
    return _SETTLE_BREAKERS.isdisjoint(address.building)


@lru_cache(maxsize=_CACHE_SIZE)
def _address_core(text: str, default_country: str) -> Identifier | Skip:
    code = default_country.strip().upper()
    if len(code) != 2 or not code.isalpha():
        raise ConfigError(
            f"default country {default_country!r} must be an ISO 3166 alpha-2 "
            "code such as 'US' or 'TH'"
        )
    default = _COUNTRY_BY_CODE.get(code, code.lower())
    text = _clean(text)
    skip = _common_skip(text)
    if skip is not None:
        return skip

    # An address is keyed by the fixed point of "parse, then display": the
    # display drops commas, so garbled input ("Third Court FL") can read
    # differently the second time. Real addresses settle at once; the second
    # parse is what guarantees that a display normalises to its own key, and
    # it is skipped only where _settled() shows it would change nothing.
    address = _parse_address(text, default)
    result = _address_of(address)
    if isinstance(result, Skip) or (text.isascii() and _settled(address)):
        return result
    for _ in range(4):
        if isinstance(result, Skip):
            return result
        again = _address_once(result.display, default)
        if again == result:
            return result
        result = again
    return Skip("mangled", "unstable address")


def normalize_address(raw: str, default_country: str = "US") -> Identifier | Skip:
    """Normalise a postal address to a unit key and a building key.

    The text is NFKC-normalised, case- and accent-folded and stripped of
    punctuation (``"N.W."`` reads ``"nw"``). Street types, directions and
    ordinal words take one canonical form (``street``/``st`` -> ``st``,
    ``northwest`` -> ``nw``, ``third`` -> ``3rd``; house numbers are left
    alone). A unit (``apt 4B``, ``#4b``, ``unit 4b``, ``suite 200``,
    ``flat 2``; failing that, a floor) is taken out wherever it appears.
    A trailing country equal to ``default_country`` is dropped, another one
    is spelled out. For US addresses the state name becomes its code and a
    ZIP+4 its five-digit ZIP. Common Thai markers (ถนน/ถ., ซอย/ซ., หมู่/ม.,
    ตำบล/ต., อำเภอ/อ., จังหวัด/จ.) and Thai digits are folded too.

    Args:
        raw: The address as one string (see :func:`join_address_parts`).
        default_country: ISO 3166 alpha-2 code assumed when none is given.

    Returns:
        An identifier whose ``key`` is the unit key (building key, then
        ``"|unit:"`` and the unit when there is one) and whose ``extra`` is
        the building key; or a :class:`Skip` for blanks, placeholders, test
        addresses (``"123 Fake Street"``, ``"1 Test Road"``, ``"123 Main St"``
        with no town) and values without any letters.

    Raises:
        ConfigError: If ``default_country`` is not a two-letter code.

    Examples:
        >>> normalize_address("42 N.W. 3rd St Apt 4B, Springfield OR 97477").key
        '42 nw 3rd st springfield or 97477|unit:4b'
    """
    text = _trimmed(raw)
    if isinstance(text, Skip):
        return text
    return _address_core(text, default_country)


def join_address_parts(line: str, city: str, postcode: str, country: str) -> str:
    """Join address columns into the one string :func:`normalize_address` reads.

    Blank and missing parts are left out, so ``("42 NW 3rd St", "Springfield",
    "", "")`` and the same address typed in one column agree.

    Args:
        line: Street line(s), including any unit.
        city: Town or city; a state or province may be included.
        postcode: Postal or ZIP code.
        country: Country name or code.

    Returns:
        The non-blank parts, stripped and joined with ``", "``.

    Examples:
        >>> join_address_parts("42 NW 3rd St", "Springfield, OR", "97477", "")
        '42 NW 3rd St, Springfield, OR, 97477'
    """
    parts = (_text(part).strip() for part in (line, city, postcode, country))
    return ", ".join(part for part in parts if part)


# ---------------------------------------------------------------------------
# National ids
# ---------------------------------------------------------------------------

_ID_SEPARATOR_RE = re.compile(r"[\s\-.\u2010-\u2015_/]+")
_CN_WEIGHTS = tuple(pow(2, 17 - i, 11) for i in range(17))
# Printed on sample cards and typed as a stand-in ever since.
_SAMPLE_SSNS = frozenset({"078051120", "219099999", "457555462"})


class NationalIdHasher:
    """Keyed hash that turns a canonical national id into a linking key.

    Keys are HMAC-SHA256 under a deployment secret, so a store or report
    leak does not reveal the ids, and equal ids still give equal keys.
    Hashers with the same secret compare and hash equal (which lets the
    normaliser's cache be shared); neither ``repr`` nor the hash reveals the
    secret.

    Args:
        key: The secret, at least 16 bytes.

    Raises:
        ConfigError: If ``key`` is not bytes or is shorter than 16 bytes.
    """

    __slots__ = ("_fingerprint", "_key", "_keyed")

    def __init__(self, key: bytes) -> None:
        if not isinstance(key, (bytes, bytearray)):
            raise ConfigError(
                "national id hashing key must be bytes; "
                "decode the configured secret before use"
            )
        if len(key) < 16:
            raise ConfigError(
                f"national id hashing key is {len(key)} bytes; it must be at "
                "least 16 bytes (generate one with `openssl rand -hex 32`)"
            )
        self._key = bytes(key)
        self._fingerprint = hashlib.sha256(b"ringfence-hasher:" + self._key).digest()
        # Keyed once and copied for every id: hmac.new() and hmac.digest()
        # key the hash again each time, which costs a third more.
        self._keyed = hmac.new(self._key, digestmod=hashlib.sha256)

    def __call__(self, canonical: str) -> str:
        """Return ``"h1:"`` and the first 32 hex digits of the HMAC of ``canonical``.

        Args:
            canonical: A national id as :func:`normalize_national_id` cleans it.
        """
        mac = self._keyed.copy()
        mac.update(canonical.encode("utf-8", "surrogatepass"))
        return "h1:" + mac.hexdigest()[:32]

    def __reduce__(self) -> tuple[type[NationalIdHasher], tuple[bytes]]:
        # A keyed HMAC does not pickle: a copy is rebuilt from the key.
        return (NationalIdHasher, (self._key,))

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, NationalIdHasher):
            return NotImplemented
        return hmac.compare_digest(self._fingerprint, other._fingerprint)

    def __hash__(self) -> int:
        return hash(self._fingerprint)

    def __repr__(self) -> str:
        return "NationalIdHasher(key=<hidden>)"


def _thai_id_ok(digits: str) -> bool:
    """Thai citizen id: 13 digits, the last a mod-11 check digit."""
    total = sum(int(d) * (13 - i) for i, d in enumerate(digits[:12]))
    return digits[0] != "0" and (11 - total % 11) % 10 == int(digits[12])


def _chinese_id_ok(value: str) -> bool:
    """Chinese resident id: ISO 7064 MOD 11-2 check and a real birth date."""
    total = sum(int(d) * w for d, w in zip(value[:17], _CN_WEIGHTS, strict=True))
    check = (12 - total % 11) % 11
    if value[17] != ("X" if check == 10 else str(check)) or value[0] == "0":
        return False
    year, month, day = int(value[6:10]), int(value[10:12]), int(value[12:14])
    if not 1900 <= year <= 2099:
        return False
    try:
        date(year, month, day)
    except ValueError:
        return False
    return True


def _ssn_ok(digits: str) -> bool:
    """US SSN: area not 000, 666 or 9xx; group not 00; serial not 0000."""
    area = digits[:3]
    return (
        area not in {"000", "666"}
        and area[0] != "9"
        and digits[3:5] != "00"
        and digits[5:] != "0000"
    )


def _national_id_valid(value: str) -> bool:
    """Validate the id shapes ringfence knows; any other shape is invalid."""
    if value.isdigit() and value.isascii():
        if len(value) == 13:
            return _thai_id_ok(value)
        if len(value) == 9:
            return _ssn_ok(value)
    if len(value) == 18 and value[:17].isdigit() and value.isascii():
        return value[17] in "0123456789X" and _chinese_id_ok(value)
    return False


@lru_cache(maxsize=_CACHE_SIZE)
def _national_id_core(text: str, hasher: NationalIdHasher) -> Identifier | Skip:
    text = _clean(text)
    skip = _common_skip(text)
    if skip is not None:
        return skip

    value = _to_ascii_digits(_ID_SEPARATOR_RE.sub("", text).upper())
    if len(value) < 6:
        return _TOO_SHORT
    if value.isdigit():
        skip = _digit_placeholder(value)
        if skip is not None:
            return skip
        if value in _SAMPLE_SSNS:
            return _WORD
    elif value.count(value[0]) == len(value):
        return _REPEATED_CHAR
    return Identifier(
        "national_id",
        hasher(value),
        "*****" + value[-4:],
        valid=_national_id_valid(value),
    )


def normalize_national_id(raw: str, hasher: NationalIdHasher) -> Identifier | Skip:
    """Normalise a national id and replace it with a keyed hash.

    Spaces, dashes, dots, slashes and underscores are removed and letters
    upper-cased, so ``"312-44-1290"`` and ``"312 44 1290"`` agree. Validity
    is checked for Thai citizen ids (13 digits, mod-11 check digit), Chinese
    resident ids (18 characters, ISO 7064 MOD 11-2 check character which may
    be ``X``, birth date 1900-2099 that exists) and US SSNs (9 digits, area
    not 000/666/9xx, group not 00, serial not 0000); other shapes are kept
    with ``valid=False``. The clear value never reaches the identifier.

    Args:
        raw: The cell as read.
        hasher: The deployment's keyed hasher.

    Returns:
        An identifier with ``key=hasher(canonical)`` and display ``"*****"``
        plus the last four characters, or a :class:`Skip` for blanks,
        placeholders, one repeated digit or character, digit runs such as
        ``123456789``, well-known sample SSNs, fewer than six characters and
        spreadsheet scientific notation.
    """
    text = _trimmed(raw)
    if isinstance(text, Skip):
        return text
    return _national_id_core(text, hasher)


# ---------------------------------------------------------------------------
# Devices, IPs and declared extra kinds
# ---------------------------------------------------------------------------

_UUID_RE = re.compile(
    r"\{?([0-9a-f]{8})-?([0-9a-f]{4})-?([0-9a-f]{4})-?([0-9a-f]{4})-?"
    r"([0-9a-f]{12})\}?",
    re.IGNORECASE,
)
_HEX_RE = re.compile(r"[0-9a-f]{8,}", re.IGNORECASE)
_CODE_RE = re.compile(r"[^\W_]+(?:[\s\-./]+[^\W_]+)*")
_CODE_SEPARATOR_RE = re.compile(r"[\s\-./]+")
_KIND_RE = re.compile(r"[a-z][a-z0-9_]{0,39}")
# Android 2.2's shared ANDROID_ID and the MAC address iOS reports to apps.
_SHARED_DEVICE_IDS = frozenset({"9774d56d682e549c", "02:00:00:00:00:00"})
_IPV4_PORT_RE = re.compile(r"(\d{1,3}(?:\.\d{1,3}){3}):\d{1,5}")
_IPV6_BRACKET_RE = re.compile(r"\[([^\[\]]+)\](?::\d{1,5})?")
_IPV4_RE = re.compile(r"\d{1,3}(?:\.\d{1,3}){3}")
_BROADCAST = ipaddress.IPv4Address("255.255.255.255")
_SPECIAL_KINDS = {
    "phone": "normalize_phone",
    "email": "normalize_email",
    "address": "normalize_address",
    "national_id": "normalize_national_id",
}


def _device(text: str) -> Identifier | Skip:
    lowered = text.lower()
    if lowered in _SHARED_DEVICE_IDS:
        return Skip("placeholder", "known shared device id")
    match = _UUID_RE.fullmatch(text)
    if match:
        key = "-".join(match.groups()).lower()
    elif _HEX_RE.fullmatch(text):
        key = lowered
    else:
        key = text  # fingerprints may be case-sensitive (base64)
    compact = _NON_ALNUM_RE.sub("", key)
    if compact.count(compact[0]) == len(compact):
        return Skip("placeholder", "nil device id")
    return Identifier("device", key, key)


def _ipv4(text: str, octets: list[int]) -> Identifier | Skip:
    """What :func:`_ip` makes of four decimal octets, without ipaddress's cost:
    the same checks, on the numbers (tests compare it with ipaddress)."""
    if max(octets) > 255:
        return Identifier("ip", text.lower(), text, valid=False)
    if not any(octets):
        return Skip("placeholder", "unspecified address")
    if octets[0] == 127:
        return Skip("placeholder", "loopback address")
    if min(octets) == 255:
        return Skip("placeholder", "broadcast address")
    key = ".".join(map(str, octets))
    return Identifier("ip", key, key)


def _ip(text: str) -> Identifier | Skip:
    candidate = text.lower()
    for pattern in (_IPV4_PORT_RE, _IPV6_BRACKET_RE):
        match = pattern.fullmatch(candidate)
        if match:
            candidate = match.group(1)
    candidate = candidate.split("%", 1)[0]  # IPv6 zone ("%eth0")
    if _IPV4_RE.fullmatch(candidate):
        # ipaddress refuses leading zeros; exports pad octets ("010.000...").
        return _ipv4(text, [int(octet) for octet in candidate.split(".")])
    try:
        address = ipaddress.ip_address(candidate)
    except ValueError:
        return Identifier("ip", text.lower(), text, valid=False)
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        address = address.ipv4_mapped
    if address.is_unspecified:
        return Skip("placeholder", "unspecified address")
    if address.is_loopback:
        return Skip("placeholder", "loopback address")
    if address == _BROADCAST:
        return Skip("placeholder", "broadcast address")
    key = str(address)
    return Identifier("ip", key, key)


def _other(kind: str, text: str) -> Identifier | Skip:
    folded = text.casefold()
    if kind == "employer" and _NON_ALNUM_RE.sub("", folded) in _EMPLOYER_PLACEHOLDERS:
        return _WORD
    if _CODE_RE.fullmatch(folded) and any(c.isdigit() for c in folded):
        # An account number, IBAN or licence: separators are formatting.
        key = _to_ascii_digits(_CODE_SEPARATOR_RE.sub("", folded))
        if key.isdigit():
            skip = _digit_placeholder(key)
            if skip is not None:
                return skip
        elif key.count(key[0]) == len(key):
            return _REPEATED_CHAR
    else:
        key = " ".join(_NON_ALNUM_RE.sub(" ", folded).split())
        if key.count(key[0]) == len(key):
            return _REPEATED_CHAR
    return Identifier(kind, key, text)


@lru_cache(maxsize=_CACHE_SIZE)
def _generic_core(kind: str, text: str) -> Identifier | Skip:
    if kind in _SPECIAL_KINDS:
        raise ConfigError(
            f"identifier kind {kind!r} has its own normaliser; "
            f"call {_SPECIAL_KINDS[kind]}() instead of normalize_generic()"
        )
    if not _KIND_RE.fullmatch(kind):
        raise ConfigError(
            f"identifier kind {kind!r} must be lower-case letters, digits and "
            "underscores, starting with a letter (at most 40 characters)"
        )
    text = _clean(text)
    skip = _common_skip(text, strict_scientific=kind in {"device", "ip"})
    if skip is not None:
        return skip
    if kind == "device":
        return _device(text)
    if kind == "ip":
        return _ip(text)
    return _other(kind, text)


def normalize_generic(kind: str, raw: str) -> Identifier | Skip:
    """Normalise a device id, an IP address or a declared extra kind.

    * ``device``: UUIDs are lower-cased and hyphenated, hex strings
      lower-cased, other fingerprints kept as typed (they may be
      case-sensitive). An all-zero (or otherwise one-character) id and
      well-known shared ids are placeholders.
    * ``ip``: IPv4/IPv6 in :mod:`ipaddress` canonical form, without port or
      zone; IPv4-mapped IPv6 becomes IPv4. Unspecified, loopback and
      broadcast addresses are placeholders; private ones are kept (they are
      specific behind one NAT). Text that is no IP is kept with
      ``valid=False``.
    * any other kind: casefolded. A code containing digits (account number,
      IBAN) loses its spaces, dashes, dots and slashes; free text (an
      employer) loses punctuation. For ``employer``, stand-ins such as
      "self-employed", "retired" or "student" are placeholders.

    Args:
        kind: The identifier kind.
        raw: The cell as read.

    Returns:
        An identifier whose display is the cleaned input, or a :class:`Skip`.

    Raises:
        ConfigError: If ``kind`` is not a valid kind name, or is one of
            ``phone``, ``email``, ``address`` and ``national_id``, which have
            their own normalisers.
    """
    text = _trimmed(raw)
    if isinstance(text, Skip):
        _generic_core(kind, "")  # still refuse a bad kind
        return text
    return _generic_core(kind, text)


# ---------------------------------------------------------------------------
# Masking for reports and logs
# ---------------------------------------------------------------------------


def _escape(char: str) -> str:
    """Write a non-printable character as a Python escape."""
    if char == "\n":
        return "\\n"
    if char == "\t":
        return "\\t"
    if char == "\r":
        return "\\r"
    point = ord(char)
    if point <= 0xFF:
        return f"\\x{point:02x}"
    if point <= 0xFFFF:
        return f"\\u{point:04x}"
    return f"\\U{point:08x}"


def mask_value(kind: str, raw: str) -> str:
    """Return a form of a raw value that is safe to print in reports and logs.

    National ids show only their last four letters or digits, and nothing
    when the id has fewer than six. Other kinds are shown as given, with
    non-printable characters (controls, bidirectional overrides, zero-width
    characters) escaped and the result cut to 80 characters (``"…"`` marks
    a cut).

    Args:
        kind: The identifier kind.
        raw: The value as read.

    Examples:
        >>> mask_value("national_id", "312-44-1290")
        '*****1290'
        >>> mask_value("email", "ann@x.org\\n")
        'ann@x.org\\\\n'
    """
    text = _text(raw)
    if kind == "national_id":
        tail = [c for c in text[-4 * _MAX_LEN :] if c.isalnum() and c.isprintable()]
        return "*****" + ("".join(tail[-4:]) if len(tail) >= 6 else "")
    pieces = [c if c.isprintable() else _escape(c) for c in text[: _MASK_WIDTH + 1]]
    if len(text) <= _MASK_WIDTH and sum(map(len, pieces)) <= _MASK_WIDTH:
        return "".join(pieces)
    kept: list[str] = []
    width = 0
    for piece in pieces:
        if width + len(piece) > _MASK_WIDTH - 1:
            break
        kept.append(piece)
        width += len(piece)
    return "".join(kept) + "…"
