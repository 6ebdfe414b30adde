"""Behaviour of the identifier normalisers in ringfence.loaders.normalize."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ringfence.errors import ConfigError
from ringfence.loaders.normalize import (
    NationalIdHasher,
    Skip,
    join_address_parts,
    mask_value,
    normalize_address,
    normalize_email,
    normalize_generic,
    normalize_national_id,
    normalize_phone,
)
from ringfence.model import Identifier

HASHER = NationalIdHasher(b"test-secret-0123456789abcdef")


def _identifier(result: Identifier | Skip) -> Identifier:
    assert isinstance(result, Identifier), result
    return result


def _key(result: Identifier | Skip) -> str:
    return _identifier(result).key


def _thai_id(first12: str) -> str:
    """Append the Thai mod-11 check digit, computed from its definition."""
    weighted = 0
    for position, digit in enumerate(first12):
        weighted += int(digit) * (13 - position)
    return first12 + str((11 - weighted % 11) % 10)


def _chinese_id(first17: str) -> str:
    """Append the ISO 7064 MOD 11-2 check character."""
    remainder = 0
    for digit in first17:
        remainder = (remainder + int(digit)) * 2 % 11
    check = (12 - remainder) % 11
    return first17 + ("X" if check == 10 else str(check))


# --- shared placeholder and mangling rules ---------------------------------

NORMALISERS = {
    "phone": normalize_phone,
    "email": normalize_email,
    "address": normalize_address,
    "national_id": lambda raw: normalize_national_id(raw, HASHER),
    "device": lambda raw: normalize_generic("device", raw),
    "ip": lambda raw: normalize_generic("ip", raw),
    "employer": lambda raw: normalize_generic("employer", raw),
}


@pytest.mark.parametrize("kind", sorted(NORMALISERS))
@pytest.mark.parametrize("raw", ["", "   ", "\t\n", "\u200b"])
def test_blank_values_are_skipped_as_empty(kind: str, raw: str) -> None:
    assert NORMALISERS[kind](raw) == Skip("empty", "blank")


@pytest.mark.parametrize("kind", sorted(NORMALISERS))
@pytest.mark.parametrize(
    "raw",
    ["N/A", "NA", "n.a.", "null", "NULL", "None", "unknown", "-", "?", "test"]
    + ["xxx", "0", "Not provided", "not available", "#N/A"[1:], "(null)"],
)
def test_placeholder_words_are_skipped_for_every_kind(kind: str, raw: str) -> None:
    result = NORMALISERS[kind](raw)
    assert isinstance(result, Skip)
    assert result.reason == "placeholder"


@pytest.mark.parametrize("kind", sorted(NORMALISERS))
@pytest.mark.parametrize("raw", ["5.41726E+09", "5.21447E+08", "1.2e10", "3,1E+11"])
def test_spreadsheet_scientific_notation_is_mangled(kind: str, raw: str) -> None:
    assert NORMALISERS[kind](raw) == Skip("mangled", "spreadsheet scientific notation")


@pytest.mark.parametrize("kind", sorted(NORMALISERS))
def test_spreadsheet_error_cells_are_mangled(kind: str) -> None:
    assert NORMALISERS[kind]("#VALUE!") == Skip("mangled", "spreadsheet error value")


@pytest.mark.parametrize("kind", sorted(NORMALISERS))
def test_absurdly_long_values_are_mangled(kind: str) -> None:
    assert NORMALISERS[kind]("4" * 10_000) == Skip("mangled", "too long")
    assert NORMALISERS[kind]("a" * 257) == Skip("mangled", "too long")


@pytest.mark.parametrize("kind", sorted(NORMALISERS))
def test_padding_does_not_count_towards_the_length_limit(kind: str) -> None:
    value = {"phone": "+1 541 726 0000", "email": "ann@x.org"}.get(kind, "10.0.0.9")
    if kind == "address":
        value = "1180 SE Alder Ave, Portland, OR 97214"
    if kind == "national_id":
        value = "312-44-1290"
    padded = " " * 5_000 + value + "\n" * 5_000
    assert _key(NORMALISERS[kind](padded)) == _key(NORMALISERS[kind](value))


def test_non_text_cells_from_dataframes_are_handled() -> None:
    assert normalize_phone(float("nan")) == Skip("placeholder", "placeholder word")  # type: ignore[arg-type]
    assert normalize_email(None) == Skip("empty", "blank")  # type: ignore[arg-type]
    assert _key(normalize_phone(5417260000)) == "+15417260000"  # type: ignore[arg-type]


# --- phones -------------------------------------------------------------------


@pytest.mark.parametrize(
    "raw",
    [
        "(541) 726-0000",
        "541.726.0000",
        "+1 541 726 0000",
        "1-541-726-0000",
        "001 541 726 0000",
        "541-726-0000 ext. 12",
        "541 726 0000 x12",
        "5417260000.0",
        "\uff15\uff14\uff11\uff17\uff12\uff16\uff10\uff10\uff10\uff10",
    ],
)
def test_phone_spellings_share_one_e164_key(raw: str) -> None:
    result = _identifier(normalize_phone(raw))
    assert result.key == "+15417260000"
    assert result.display == "+15417260000"
    assert result.valid


def test_phone_default_region_applies_to_national_numbers() -> None:
    assert _key(normalize_phone("081 234 5678", "TH")) == "+66812345678"
    assert _key(normalize_phone("081 234 5678", "th")) == "+66812345678"
    assert _key(normalize_phone("+66 81 234 5678")) == "+66812345678"


def test_unknown_phone_region_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="region"):
        normalize_phone("541 726 0000", "XX")


def test_impossible_but_specific_phone_still_links_as_invalid() -> None:
    first = _identifier(normalize_phone("+1 555 0100 999"))
    second = _identifier(normalize_phone("+15550100999"))
    assert first.key == second.key == "+15550100999"
    assert not first.valid


def test_phone_junk_that_shrinks_on_each_parse_settles() -> None:
    result = normalize_phone("+82 0000 0012 34")
    again = normalize_phone(result.display) if isinstance(result, Identifier) else None
    assert again is None or _key(again) == _key(result)


def test_unparseable_phone_with_six_digits_keeps_raw_digits() -> None:
    result = _identifier(normalize_phone("+999 123 456"))
    assert result.key == "raw:999123456"
    assert not result.valid
    assert _key(normalize_phone(result.display)) == result.key


@pytest.mark.parametrize(
    ("raw", "detail"),
    [
        ("000-000-0000", "repeated digit"),
        ("111111111", "repeated digit"),
        ("+1 (555) 555-5555", "repeated digit"),
        ("123456789", "sequence"),
        ("0123456789", "sequence"),
        ("987654321", "sequence"),
        ("+1 234 567 8901", "sequence"),
    ],
)
def test_fake_phone_patterns_are_placeholders(raw: str, detail: str) -> None:
    assert normalize_phone(raw) == Skip("placeholder", detail)


@pytest.mark.parametrize("raw", ["5551", "911", "20 17"])
def test_phone_with_too_few_digits_is_mangled(raw: str) -> None:
    assert normalize_phone(raw) == Skip("mangled", "too few digits")


def test_phone_without_digits_is_a_placeholder() -> None:
    assert normalize_phone("call me") == Skip("placeholder", "no digits")


# --- emails -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "key"),
    [
        ("Ann.Rivers@gmail.com", "annrivers@gmail.com"),
        (" annrivers+loans@GMAIL.com ", "annrivers@gmail.com"),
        ("a.n.n.rivers@googlemail.com", "annrivers@gmail.com"),
        ("Ann Rivers <ann.rivers@gmail.com>", "annrivers@gmail.com"),
        ("mailto:bob+shop@outlook.com", "bob@outlook.com"),
        ("bob+x@hotmail.co.uk", "bob@hotmail.co.uk"),
        ("bob+x@live.com", "bob@live.com"),
        ("kim+tag@me.com", "kim@icloud.com"),
        ("kim+tag@proton.me", "kim@proton.me"),
        ("kim+tag@fastmail.com", "kim@fastmail.com"),
        ("joe-shopping@yahoo.com", "joe@yahoo.com"),
        ("bob@xn--mller-kva.de", "bob@müller.de"),
    ],
)
def test_email_provider_aliases_share_one_key(raw: str, key: str) -> None:
    result = _identifier(normalize_email(raw))
    assert result.key == key
    assert result.valid


def test_email_tags_and_dots_are_kept_for_unknown_providers() -> None:
    assert _key(normalize_email("Ann.Rivers+x@Lender.example.com")) == (
        "ann.rivers+x@lender.example.com"
    )


def test_example_domain_with_a_real_name_is_a_valid_specific_email() -> None:
    result = _identifier(normalize_email("ann.rivers@example.org"))
    assert result.key == "ann.rivers@example.org"
    assert result.valid


@pytest.mark.parametrize(
    "raw",
    [
        "test@test.com",
        "a@a.com",
        "noreply@lender.com",
        "no-reply@bank.co.uk",
        "example@example.com",
        "none@none.com",
        "xxx@gmail.com",
        "ann@lender.test",
        "@gmail.com",
        "noreply@",
    ],
)
def test_test_emails_are_placeholders(raw: str) -> None:
    assert normalize_email(raw) == Skip("placeholder", "test email")


@pytest.mark.parametrize("raw", ["annrivers", "ann@rivers", "a@b@c.com", "ann@-x.com"])
def test_malformed_but_specific_email_is_kept_as_invalid(raw: str) -> None:
    result = _identifier(normalize_email(raw))
    assert not result.valid


@pytest.mark.parametrize("raw", ["noemail", "no email", "none"])
def test_email_placeholder_words_are_skipped(raw: str) -> None:
    assert isinstance(normalize_email(raw), Skip)


# --- addresses ----------------------------------------------------------------

SPRINGFIELD = [
    "42 NW 3rd Street, Springfield, OR 97477",
    "42 N.W. 3rd St, Springfield OR 97477",
    "42 NW Third Street, Springfield, Oregon 97477",
    "42 Northwest 3rd St., Springfield, OR 97477-1234, USA",
    "42 north west THIRD street springfield oregon 97477 united states",
]


def test_spellings_of_one_address_give_one_unit_key() -> None:
    keys = {_key(normalize_address(raw)) for raw in SPRINGFIELD}
    assert keys == {"42 nw 3rd st springfield or 97477"}


def test_different_address_gives_a_different_key() -> None:
    other = _key(normalize_address("1180 SE Alder Ave, Portland, OR 97214"))
    assert other != _key(normalize_address(SPRINGFIELD[0]))


@pytest.mark.parametrize(
    "raw",
    [
        "42 NW 3rd St Apt 4B, Springfield, OR 97477",
        "42 NW 3rd St #4b, Springfield, OR 97477",
        "42 NW 3rd St, Unit 4-B, Springfield, OR 97477",
        "Apartment 4B, 42 NW 3rd St, Springfield, OR 97477",
        "42 NW 3rd St Apt #4B Springfield OR 97477",
    ],
)
def test_unit_is_parsed_out_of_the_building_key(raw: str) -> None:
    result = _identifier(normalize_address(raw))
    assert result.extra == "42 nw 3rd st springfield or 97477"
    assert result.key == "42 nw 3rd st springfield or 97477|unit:4b"


def test_units_of_one_building_share_the_building_key() -> None:
    suite = _identifier(normalize_address("500 Main Street Suite 200, Boise ID 83702"))
    flat = _identifier(normalize_address("500 Main St Ste 210, Boise, Idaho 83702"))
    assert suite.extra == flat.extra == "500 main st boise id 83702"
    assert suite.key != flat.key


def test_address_without_unit_uses_building_key_as_key() -> None:
    result = _identifier(normalize_address(SPRINGFIELD[0]))
    assert result.key == result.extra


def test_flat_and_floor_designators_are_units() -> None:
    flat = _identifier(normalize_address("Flat 2, 10 Downing Street, London, UK"))
    assert flat.key == "10 downing st london united kingdom|unit:2"
    floor = _identifier(normalize_address("9 Elm St, 3rd floor, Salem OR 97301"))
    assert floor.key == "9 elm st salem or 97301|unit:fl3"


def test_florida_state_code_is_not_read_as_a_floor() -> None:
    result = _identifier(normalize_address("123 Ocean Dr Fl 3, Miami, FL 33101"))
    assert result.key == "123 ocean dr miami fl 33101|unit:fl3"


def test_street_names_that_look_like_designators_are_kept() -> None:
    result = _identifier(normalize_address("12 Flat Rock Rd, Ste Foy"))
    assert result.key == "12 flat rock rd ste foy"


def test_multi_word_state_names_become_codes() -> None:
    result = _identifier(normalize_address("1 Broadway, New York, New York 10004"))
    assert result.key == "1 broadway new york ny 10004"


def test_foreign_country_is_spelled_out_and_default_country_dropped() -> None:
    thai = _identifier(normalize_address("88 Sukhumvit Rd, Bangkok 10110, TH"))
    assert thai.key == "88 sukhumvit rd bangkok 10110 thailand"
    local = _identifier(
        normalize_address("88 Sukhumvit Rd, Bangkok 10110, Thailand", "TH")
    )
    assert local.key == "88 sukhumvit rd bangkok 10110"


def test_thai_markers_and_digits_are_folded() -> None:
    long_form = "99/12 หมู่ที่ 3 ถนนสุขุมวิท ตำบลบางนา จังหวัดสมุทรปราการ 10270"
    short_form = "99/12 ม.3 ถ.สุขุมวิท ต.บางนา จ.สมุทรปราการ ๑๐๒๗๐"
    assert _key(normalize_address(long_form, "TH")) == _key(
        normalize_address(short_form, "TH")
    )


def test_accents_and_full_width_characters_are_folded() -> None:
    assert _key(normalize_address("5 Calle Peña, Ponce PR 00716")) == _key(
        normalize_address("５ CALLE PENA, PONCE, PUERTO RICO 00716")
    )


def test_address_display_is_tidy() -> None:
    result = _identifier(
        normalize_address("42 n.w. third street apt 4b, springfield, oregon 97477")
    )
    assert result.display == "42 NW 3rd St Springfield OR 97477, Unit 4B"


@pytest.mark.parametrize(
    "raw",
    ["123 Main St", "123 Fake Street", "1 Test Road, Salem OR", "12 Anytown Lane"],
)
def test_test_addresses_are_placeholders(raw: str) -> None:
    assert normalize_address(raw) == Skip("placeholder", "test address")


def test_main_street_with_a_town_is_a_real_address() -> None:
    assert isinstance(
        normalize_address("123 Main St, Springfield OR 97477"), Identifier
    )


@pytest.mark.parametrize("raw", ["97477", "12 / 4", "#4"])
def test_address_without_any_name_is_skipped(raw: str) -> None:
    result = normalize_address(raw)
    assert isinstance(result, Skip)
    assert result.reason == "placeholder"


def test_bad_default_country_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="country"):
        normalize_address(SPRINGFIELD[0], "USA")


def test_join_address_parts_leaves_out_blank_parts() -> None:
    joined = join_address_parts(" 42 NW 3rd St ", "Springfield, OR", "97477", " ")
    assert joined == "42 NW 3rd St, Springfield, OR, 97477"
    assert _key(normalize_address(joined)) == _key(normalize_address(SPRINGFIELD[0]))
    assert join_address_parts("", "", "", "") == ""


# --- national ids -------------------------------------------------------------


def test_national_id_separators_do_not_change_the_key() -> None:
    dashed = _identifier(normalize_national_id("312-44-1290", HASHER))
    spaced = _identifier(normalize_national_id("312 44 1290", HASHER))
    dotted = _identifier(normalize_national_id("312.44.1290", HASHER))
    assert dashed.key == spaced.key == dotted.key
    assert dashed.display == "*****1290"
    assert dashed.valid


def test_national_id_key_depends_on_the_secret() -> None:
    other = NationalIdHasher(b"another-secret-0123456789")
    assert _key(normalize_national_id("312-44-1290", HASHER)) != _key(
        normalize_national_id("312-44-1290", other)
    )


@pytest.mark.parametrize(
    ("ssn", "valid"),
    [
        ("312-44-1290", True),
        ("000-44-1290", False),
        ("666-44-1290", False),
        ("912-44-1290", False),
        ("312-00-1290", False),
        ("312-44-0000", False),
    ],
)
def test_ssn_area_group_and_serial_rules(ssn: str, valid: bool) -> None:
    assert _identifier(normalize_national_id(ssn, HASHER)).valid is valid


def test_thai_id_check_digit_is_verified() -> None:
    good = _thai_id("310040012345")
    assert _identifier(normalize_national_id(good, HASHER)).valid
    bad = good[:-1] + str((int(good[-1]) + 1) % 10)
    assert not _identifier(normalize_national_id(bad, HASHER)).valid
    spaced = f"{good[0]} {good[1:5]} {good[5:10]} {good[10:12]} {good[12]}"
    assert _key(normalize_national_id(spaced, HASHER)) == _key(
        normalize_national_id(good, HASHER)
    )


def test_chinese_id_check_character_and_birth_date_are_verified() -> None:
    good = _chinese_id("44030419850714231")
    assert _identifier(normalize_national_id(good, HASHER)).valid
    bad_check = good[:-1] + ("0" if good[-1] != "0" else "1")
    assert not _identifier(normalize_national_id(bad_check, HASHER)).valid
    impossible_date = _chinese_id("44030419850231231")  # 31 February
    assert not _identifier(normalize_national_id(impossible_date, HASHER)).valid


def test_chinese_id_with_x_check_character_is_valid_in_either_case() -> None:
    prefix = next(
        f"1101051949123100{i}"
        for i in range(10)
        if _chinese_id(f"1101051949123100{i}")[-1] == "X"
    )
    good = _chinese_id(prefix)
    lower = _identifier(normalize_national_id(good.lower(), HASHER))
    assert lower.valid
    assert lower.key == _key(normalize_national_id(good, HASHER))


def test_other_national_id_shapes_are_kept_as_invalid() -> None:
    result = _identifier(normalize_national_id("AB 12 34 56 C", HASHER))
    assert not result.valid
    assert result.display == "*****456C"


@pytest.mark.parametrize(
    ("raw", "detail"),
    [
        ("111-11-1111", "repeated digit"),
        ("000000000", "repeated digit"),
        ("123-45-6789", "sequence"),
        ("987654321", "sequence"),
        ("XXXXXXXX", "repeated character"),
    ],
)
def test_fake_national_ids_are_placeholders(raw: str, detail: str) -> None:
    assert normalize_national_id(raw, HASHER) == Skip("placeholder", detail)


def test_short_national_id_is_mangled() -> None:
    assert normalize_national_id("1290", HASHER) == Skip("mangled", "too short")


def test_hasher_refuses_a_short_key() -> None:
    with pytest.raises(ConfigError, match="16 bytes"):
        NationalIdHasher(b"short")


def test_hasher_never_shows_its_secret() -> None:
    assert "secret" not in repr(HASHER)
    assert NationalIdHasher(b"test-secret-0123456789abcdef") == HASHER


# --- devices, ips and extra kinds ---------------------------------------------


@pytest.mark.parametrize(
    ("raw", "detail"),
    [
        ("00000000-0000-0000-0000-000000000000", "nil device id"),
        ("unknown", "placeholder word"),
        ("9774d56d682e549c", "known shared device id"),
    ],
)
def test_placeholder_device_ids_are_skipped(raw: str, detail: str) -> None:
    assert normalize_generic("device", raw) == Skip("placeholder", detail)


def test_device_uuid_spellings_share_one_key() -> None:
    braced = normalize_generic("device", "{6F9619FF-8B86-D011-B42D-00C04FC964FF}")
    bare = normalize_generic("device", "6f9619ff8b86d011b42d00c04fc964ff")
    assert _key(braced) == _key(bare) == "6f9619ff-8b86-d011-b42d-00c04fc964ff"


def test_device_fingerprint_case_is_preserved() -> None:
    assert _key(normalize_generic("device", "AbC+/xyz==")) == "AbC+/xyz=="


@pytest.mark.parametrize(
    ("raw", "key"),
    [
        ("10.0.0.1", "10.0.0.1"),
        ("192.168.001.020", "192.168.1.20"),
        ("203.0.113.7:8443", "203.0.113.7"),
        ("::ffff:203.0.113.7", "203.0.113.7"),
        ("[2001:DB8:0:0::1]:443", "2001:db8::1"),
        ("fe80::1%eth0", "fe80::1"),
    ],
)
def test_ip_addresses_are_canonicalised(raw: str, key: str) -> None:
    result = _identifier(normalize_generic("ip", raw))
    assert result.key == key
    assert result.valid


@pytest.mark.parametrize(
    "raw", ["0.0.0.0", "127.0.0.1", "127.8.9.10", "255.255.255.255", "::1", "::"]
)
def test_placeholder_ips_are_skipped(raw: str) -> None:
    result = normalize_generic("ip", raw)
    assert isinstance(result, Skip)
    assert result.reason == "placeholder"


def test_invalid_ip_text_is_kept_as_invalid() -> None:
    result = _identifier(normalize_generic("ip", "999.1.1.1"))
    assert result.key == "999.1.1.1"
    assert not result.valid


def test_account_numbers_lose_their_formatting() -> None:
    assert _key(
        normalize_generic("bank_account", "GB29 NWBK 6016 1331 9268 19")
    ) == _key(normalize_generic("bank_account", "gb29-nwbk-6016-1331-9268-19"))
    assert normalize_generic("bank_account", "0000-0000") == Skip(
        "placeholder", "repeated digit"
    )


def test_employer_names_lose_punctuation_and_stand_ins_are_skipped() -> None:
    assert _key(normalize_generic("employer", "ACME, Inc.")) == "acme inc"
    for raw in ("Self-employed", "RETIRED", "student"):
        assert normalize_generic("employer", raw) == Skip(
            "placeholder", "placeholder word"
        )


@pytest.mark.parametrize(
    "kind", ["phone", "email", "address", "national_id", "Bad-Kind"]
)
def test_generic_refuses_kinds_it_cannot_handle(kind: str) -> None:
    with pytest.raises(ConfigError):
        normalize_generic(kind, "value")
    with pytest.raises(ConfigError):
        normalize_generic(kind, "")


# --- masking -----------------------------------------------------------------


def test_mask_shows_only_the_last_four_of_a_national_id() -> None:
    assert mask_value("national_id", "312-44-1290") == "*****1290"
    assert mask_value("national_id", "12") == "*****"


def test_mask_escapes_control_characters_and_truncates() -> None:
    assert mask_value("email", "ann@x.org\n") == "ann@x.org\\n"
    assert mask_value("device", "a\u202eb") == "a\\u202eb"
    long = mask_value("employer", "z" * 500)
    assert len(long) == 80
    assert long.endswith("…")
    assert mask_value("phone", "+1 541 726 0000") == "+1 541 726 0000"


# --- properties -----------------------------------------------------------------

ANY_TEXT = st.text(
    alphabet=st.characters(codec=None, exclude_categories=()), max_size=300
) | st.sampled_from(
    [
        "MATCH (n) DETACH DELETE n //",
        "'}) RETURN 1; CALL db.clear() //",
        "\ud800\udfff",
        "\x00\x1b[31m",
        "\u202e1290-44-312",
    ]
)
PHONE_LIKE = st.from_regex(
    r"\+?[0-9 ().\-]{4,22}( ?(ext|x) ?[0-9]{1,4})?", fullmatch=True
)
EMAIL_LIKE = st.from_regex(
    r"[A-Za-z0-9._+\-]{1,20}@[A-Za-z0-9\-]{1,12}(\.[A-Za-z]{2,6}){1,2}", fullmatch=True
)
ADDRESS_VOCABULARY = (
    "42 7 0 1180 3 4b B e n N.W. NW north west East south SE Third 3rd 21st twenty "
    "first St Street saint Ave avenue Rd Lane Court Mount Ct Mt Alder Elm Apt # #4B "
    "Unit 200 suite Ste Flat Room 2 floor fl FL 2nd Springfield Portland Oregon OR "
    "New York NY North Carolina 97477 97214-1234 USA US U.S.A. Thailand TH Canada UK "
    "South Africa P.O. Box post office , . - / ถ. ถนน ซอย ม. หมู่ ตำบล อ. จ. กรุงเทพฯ "
    "ห้อง ชั้น ๑๒ test main 123"
)
ADDRESS_WORDS = st.sampled_from(ADDRESS_VOCABULARY.split())
ADDRESS_LIKE = st.lists(ADDRESS_WORDS, min_size=1, max_size=12).map(" ".join)


@settings(max_examples=300, deadline=None)
@given(ANY_TEXT)
def test_normalisers_never_raise_on_any_text(raw: str) -> None:
    for normalise in NORMALISERS.values():
        result = normalise(raw)
        assert isinstance(result, (Identifier, Skip))
    normalize_generic("bank_account", raw)
    mask_value("national_id", raw)
    mask_value("email", raw)


@settings(max_examples=300, deadline=None)
@given(ANY_TEXT | PHONE_LIKE)
def test_phone_display_normalises_to_the_same_key(raw: str) -> None:
    result = normalize_phone(raw)
    if isinstance(result, Identifier):
        assert _key(normalize_phone(result.display)) == result.key


@settings(max_examples=300, deadline=None)
@given(ANY_TEXT | EMAIL_LIKE)
def test_email_display_normalises_to_the_same_key(raw: str) -> None:
    result = normalize_email(raw)
    if isinstance(result, Identifier):
        assert _key(normalize_email(result.display)) == result.key


@settings(max_examples=400, deadline=None)
@given(ANY_TEXT | ADDRESS_LIKE, st.sampled_from(["US", "TH", "GB"]))
def test_address_display_normalises_to_the_same_key(raw: str, country: str) -> None:
    result = normalize_address(raw, country)
    if isinstance(result, Identifier):
        again = _identifier(normalize_address(result.display, country))
        assert (again.key, again.extra) == (result.key, result.extra)


@settings(max_examples=200, deadline=None)
@given(st.from_regex(r"[0-9]{6,18}", fullmatch=True))
def test_national_id_key_never_contains_the_clear_digits(raw: str) -> None:
    result = normalize_national_id(raw, HASHER)
    if isinstance(result, Identifier):
        assert raw not in result.key
        assert raw[-6:] not in result.key
        assert result.display == "*****" + raw[-4:]


@settings(max_examples=300, deadline=None)
@given(ANY_TEXT)
def test_mask_never_reveals_more_than_four_id_characters(raw: str) -> None:
    masked = mask_value("national_id", raw)
    assert masked.startswith("*****")
    shown = masked[5:]
    assert len(shown) <= 4
    remaining = iter(raw)
    assert all(char in remaining for char in shown)  # a subsequence of raw


@settings(max_examples=200, deadline=None)
@given(ANY_TEXT)
def test_mask_output_is_printable_and_short(raw: str) -> None:
    masked = mask_value("address", raw)
    assert len(masked) <= 80
    assert masked.isprintable()


def _common_skip_by_regex(text: str, strict: bool) -> object:
    """The shared skip rules as first written, for any text."""
    from ringfence.loaders import normalize as n

    if not text:
        return n._EMPTY
    if len(text) > n._MAX_LEN:
        return n._TOO_LONG
    pattern = n._SCIENTIFIC_STRICT_RE if strict else n._SCIENTIFIC_RE
    if pattern.fullmatch(text):
        return n._SCIENTIFIC
    if n._SHEET_ERROR_RE.fullmatch(text):
        return n._SHEET_ERROR
    compact = n._NON_ALNUM_RE.sub("", text.casefold())
    if not compact:
        return n._NO_CONTENT
    return n._WORD if compact in n._PLACEHOLDER_WORDS else None


_SKIP_TEXT = st.one_of(
    st.text(alphabet=st.characters(max_codepoint=127), max_size=30),
    st.sampled_from(["N/A", "n.o.t a-p_p", "#ref!", "#N/A ", "--", "X", "Na0",
                     "1.5E+09", "12e45", "unknown@", "_", "é", "ǅ", "Ⅻ"]),
    st.text(max_size=12),
)


@settings(max_examples=2000, deadline=None)
@given(text=_SKIP_TEXT, strict=st.booleans())
def test_the_ascii_shortcut_of_the_skip_rules_changes_no_answer(
    text: str, strict: bool
) -> None:
    from ringfence.loaders.normalize import _common_skip

    assert _common_skip(text, strict_scientific=strict) == _common_skip_by_regex(
        text, strict)


@settings(max_examples=300, deadline=None)
@given(key=st.binary(min_size=16, max_size=200),
       text=st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=40))
def test_national_id_keys_are_the_standard_hmac_sha256(key: bytes, text: str) -> None:
    import hashlib
    import hmac
    import pickle

    expected = "h1:" + hmac.new(key, text.encode(), hashlib.sha256).hexdigest()[:32]
    hasher = NationalIdHasher(key)
    assert hasher(text) == expected
    assert hasher(text) == expected  # the keyed states are not used up
    assert pickle.loads(pickle.dumps(hasher))(text) == expected


@settings(max_examples=1000, deadline=None)
@given(text=st.one_of(
    st.text(alphabet=st.characters(max_codepoint=127), max_size=20),
    st.text(max_size=8),
    st.sampled_from(["n/a", "N A", "x-x", "12"]),
))
def test_the_ascii_shortcuts_of_address_checks_change_no_answer(text: str) -> None:
    import re

    from ringfence.loaders.normalize import (
        _PLACEHOLDER_WORDS,
        _has_letter,
        _is_placeholder,
    )

    assert _has_letter(text) == any(c.isalpha() for c in text)
    assert _is_placeholder(text) == (
        re.sub(r"[\W_]+", "", text) in _PLACEHOLDER_WORDS)
