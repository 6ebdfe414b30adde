"""The synthetic population: contract, determinism, typologies and day deltas."""

from __future__ import annotations

import hashlib
import re
from collections import defaultdict
from collections.abc import Callable, Iterable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from ringfence.errors import ConfigError
from ringfence.generate import (
    _ORDINAL_WORDS,
    _US_CITIES,
    GeneratedFiles,
    _draw_th_address,
    _draw_us_address,
    _render_addresses,
    generate,
    generate_days,
)

ACCOUNT_COLUMNS = [
    "account_id", "created_at", "full_name", "date_of_birth", "national_id",
    "phone", "email", "address", "device_id", "ip", "label",
]  # fmt: skip
LOAN_COLUMNS = [
    "account_id", "product", "term_months", "amount", "balance", "credit_limit",
]  # fmt: skip
TRUTH_COLUMNS = ["account_id", "ring_id", "typology", "is_fraud"]
TYPOLOGIES = {
    "legit", "synthetic_ring", "bust_out_ring", "multi_account", "isolated_fraud",
    "camouflaged_ring",
}  # fmt: skip
LINK_COLUMNS = ("national_id", "phone", "email", "address", "device_id")
PLACEHOLDERS = {
    "", "n/a", "unknown", "000-000-0000", "0000000000", "test@test.com",
    "none@none.com", "000-00-0000", "0000000000000", "no address", "none",
    "0000000000000000", "0.0.0.0", "127.0.0.1",
}  # fmt: skip
N = 5000


def read(path: Path) -> pd.DataFrame:
    return pd.read_csv(path, dtype=str, keep_default_na=False)


@pytest.fixture(scope="module")
def population(tmp_path_factory: pytest.TempPathFactory) -> GeneratedFiles:
    return generate(tmp_path_factory.mktemp("pop"), N, seed=11)


@pytest.fixture(scope="module")
def accounts(population: GeneratedFiles) -> pd.DataFrame:
    return read(population.accounts)


@pytest.fixture(scope="module")
def truth(population: GeneratedFiles) -> pd.DataFrame:
    return read(population.truth)


# --------------------------------------------------------------------------
# A small normaliser, enough to see the links the generator means
# --------------------------------------------------------------------------

_SUFFIX = {1: "st", 2: "nd", 3: "rd"}  # the ordinal streets stop at 20th
_ORDINALS = {
    word.lower(): f"{i}{_SUFFIX.get(i, 'th')}"
    for i, word in enumerate(_ORDINAL_WORDS, start=1)
}
_ADDRESS_WORDS = {
    **_ORDINALS,
    "street": "st", "avenue": "ave", "road": "rd", "drive": "dr", "lane": "ln",
    "boulevard": "blvd", "court": "ct", "place": "pl", "terrace": "ter",
    "parkway": "pkwy", "north": "n", "south": "s", "east": "e", "west": "w",
    "northeast": "ne", "northwest": "nw", "southeast": "se", "southwest": "sw",
    "apt": "#", "apartment": "#", "unit": "#", "room": "#", "rm": "#",
    "m": "moo", "mu": "moo", "muang": "mueang",
    "khwaeng": "", "tambon": "", "khet": "", "amphoe": "", "changwat": "",
}  # fmt: skip


_PHRASES = {
    **{f" {name.lower()} ": f" {code.lower()} " for _, code, name, _ in _US_CITIES},
    " krung thep maha nakhon ": " bangkok ",
}


def address_key(text: str) -> str:
    text = f" {text.lower().replace(',', ' , ')} "
    for phrase, short in _PHRASES.items():
        text = text.replace(phrase, short)
    text = text.replace("#", " # ").replace(".", "").replace(",", " ")
    words = (_ADDRESS_WORDS.get(word, word) for word in text.split())
    return " ".join(sorted(word for word in words if word))


def phone_key(text: str) -> str:
    digits = re.sub(r"\D", "", text)
    if text.startswith("+66"):
        return "0" + digits[2:]
    if len(digits) == 11 and digits.startswith("1"):
        return digits[1:]
    return digits


def email_key(text: str) -> str:
    local, _, domain = text.lower().partition("@")
    local = local.split("+")[0]
    if domain == "gmail.com":
        local = local.replace(".", "")
    return f"{local}@{domain}"


KEYS: dict[str, Callable[[str], str]] = {
    "national_id": lambda text: re.sub(r"\D", "", text),
    "phone": phone_key,
    "email": email_key,
    "address": address_key,
    "device_id": str.lower,
    "ip": str,
}


def is_noise(text: str) -> bool:
    return text.lower() in PLACEHOLDERS or "E+" in text


def links(frame: pd.DataFrame, columns: Iterable[str]) -> dict[tuple[str, str], set]:
    """(column, key) -> accounts holding it, placeholders left out."""
    out: dict[tuple[str, str], set] = defaultdict(set)
    for column in columns:
        for account, text in zip(frame["account_id"], frame[column], strict=True):
            if not is_noise(text):
                out[(column, KEYS[column](text))].add(account)
    return out


def components(members: set, keys: dict[tuple[str, str], set]) -> int:
    parent = {m: m for m in members}

    def find(x: str) -> str:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for holders in keys.values():
        inside = sorted(holders & members)
        for other in inside[1:]:
            parent[find(other)] = find(inside[0])
    return len({find(m) for m in members})


def digest(folder: Path) -> dict[str, str]:
    return {
        path.name: hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(folder.rglob("*"))
        if path.is_file()
    }


# --------------------------------------------------------------------------
# Contract and determinism
# --------------------------------------------------------------------------


def test_same_seed_writes_identical_bytes(tmp_path: Path) -> None:
    generate(tmp_path / "a", 1500, seed=3)
    generate(tmp_path / "b", 1500, seed=3)
    generate(tmp_path / "c", 1500, seed=4)
    assert digest(tmp_path / "a") == digest(tmp_path / "b")
    assert (
        digest(tmp_path / "a")["accounts.csv"] != digest(tmp_path / "c")["accounts.csv"]
    )


def test_files_follow_the_loader_contract(
    population: GeneratedFiles, accounts: pd.DataFrame, truth: pd.DataFrame
) -> None:
    loans = read(population.loans)
    assert list(accounts.columns) == ACCOUNT_COLUMNS
    assert list(loans.columns) == LOAN_COLUMNS
    assert list(truth.columns) == TRUTH_COLUMNS

    assert accounts["created_at"].str.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d").all()
    assert accounts["date_of_birth"].str.fullmatch(r"\d{4}-\d\d-\d\d").all()
    assert set(accounts["label"]) == {"fraud", "legit", ""}

    assert set(loans["product"]) == {"credit_card", "unsecured_loan", "bnpl"}
    cards = loans[loans["product"] == "credit_card"]
    others = loans[loans["product"] != "credit_card"]
    assert (cards["term_months"] == "").all() and (cards["amount"] == "").all()
    assert (cards["credit_limit"] != "").all()
    assert set(others["term_months"]) <= {"1", "3", "6", "12"}
    assert (others["credit_limit"] == "").all()
    assert loans.groupby("account_id").size().max() <= 3
    assert set(loans["account_id"]) <= set(truth["account_id"])

    assert set(truth["typology"]) <= TYPOLOGIES
    assert set(truth["is_fraud"]) == {"0", "1"}
    assert ((truth["typology"] == "legit") == (truth["is_fraud"] == "0")).all()
    assert truth["ring_id"].str.fullmatch(r"(T-\d+)?").all()


def test_truth_has_one_row_per_account(
    population: GeneratedFiles, accounts: pd.DataFrame, truth: pd.DataFrame
) -> None:
    assert truth["account_id"].is_unique
    assert set(truth["account_id"]) == set(accounts["account_id"])
    assert population.n_accounts == len(truth) == N


def test_fraud_share_matches_the_fraud_rate(truth: pd.DataFrame) -> None:
    assert (truth["is_fraud"] == "1").mean() == pytest.approx(0.02, abs=0.002)


def test_every_typology_appears_at_5000_accounts(truth: pd.DataFrame) -> None:
    counts = truth["typology"].value_counts()
    assert set(counts.index) == TYPOLOGIES - {"camouflaged_ring"}  # opt-in
    isolated = truth[truth["typology"] == "isolated_fraud"]
    assert (isolated["ring_id"] == "").all()
    in_rings = truth[truth["typology"].isin(TYPOLOGIES - {"legit", "isolated_fraud"})]
    assert (in_rings["ring_id"] != "").all()


def test_every_account_format_can_be_written(tmp_path: Path) -> None:
    csv = read(generate(tmp_path / "csv", 800, seed=5).accounts)
    parquet = pd.read_parquet(
        generate(tmp_path / "pq", 800, seed=5, fmt="parquet").accounts
    )
    jsonl = pd.read_json(
        generate(tmp_path / "js", 800, seed=5, fmt="jsonl").accounts,
        lines=True,
        dtype=False,
    )
    for frame in (parquet, jsonl):
        assert list(frame.columns) == ACCOUNT_COLUMNS
        pd.testing.assert_frame_equal(frame.fillna("").astype(str), csv)


def test_bad_settings_are_reported_together(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as err:
        generate(tmp_path, 100, seed=1, fraud_rate=0.9, fmt="xlsx", locales=["fr_FR"])
    message = str(err.value)
    for name in ("fraud_rate", "fmt", "locales"):
        assert name in message


# --------------------------------------------------------------------------
# Population
# --------------------------------------------------------------------------


def test_ring_members_are_linked_by_shared_identifiers(
    accounts: pd.DataFrame, truth: pd.DataFrame
) -> None:
    keys = links(accounts, LINK_COLUMNS)
    rings = truth[truth["ring_id"] != ""].groupby("ring_id")["account_id"]
    assert len(rings) >= 10
    for ring_id, members in rings:
        assert components(set(members), keys) == 1, ring_id


@pytest.mark.parametrize("loc", [0, 1], ids=["en_US", "th_TH"])
def test_address_variants_spell_one_place(loc: int) -> None:
    draw = (_draw_us_address, _draw_th_address)[loc]
    keys = draw(np.random.default_rng(loc), 50)
    units = np.where(np.arange(50) % 2 == 0, -1, np.arange(50))
    texts = [
        _render_addresses(np.random.default_rng(seed), keys, units, np.full(50, loc))
        for seed in range(30)
    ]
    for i in range(50):
        spellings = {text[i] for text in texts}
        assert len(spellings) > 1
        assert len({address_key(text) for text in spellings}) == 1, spellings


def test_isolated_fraud_shares_no_identifier(
    accounts: pd.DataFrame, truth: pd.DataFrame
) -> None:
    keys = links(accounts, KEYS)
    isolated = set(truth.loc[truth["typology"] == "isolated_fraud", "account_id"])
    shared = {
        account for holders in keys.values() if len(holders) > 1 for account in holders
    }
    assert isolated and not isolated & shared


def test_some_ring_members_carry_a_link_to_a_legit_account(
    accounts: pd.DataFrame, truth: pd.DataFrame
) -> None:
    keys = links(accounts, ("address", "device_id"))
    legit = set(truth.loc[truth["is_fraud"] == "0", "account_id"])
    members = set(truth.loc[truth["ring_id"] != "", "account_id"])
    camouflaged = {
        account
        for holders in keys.values()
        if holders & legit
        for account in holders & members
    }
    assert 0.15 < len(camouflaged) / len(members) < 0.45


def test_camouflaged_rings_are_chains_of_weak_links_among_honest_ones(
    tmp_path: Path,
) -> None:
    files = generate(tmp_path, N, seed=11, camouflaged_rings=True)
    accounts, truth = read(files.accounts), read(files.truth)
    keys = links(accounts, LINK_COLUMNS)
    legit = set(truth.loc[truth["is_fraud"] == "0", "account_id"])
    camouflaged = truth[truth["typology"] == "camouflaged_ring"]
    rings = camouflaged.groupby("ring_id")["account_id"]
    assert len(rings) >= 1
    rotated = links(accounts, ("device_id", "phone"))
    for ring_id, ids in rings:
        members = set(ids)
        # one chain: each device or phone the ring shares joins two members
        inside = [h & members for h in rotated.values() if len(h & members) > 1]
        assert len(inside) == len(members) - 1, ring_id
        assert all(len(pair) == 2 for pair in inside), ring_id
        assert components(members, rotated) == 1, ring_id
    # most members also hold a value of a legit account
    members = set(camouflaged["account_id"])
    with_legit = {a for h in keys.values() if h & legit for a in h & members}
    assert len(with_legit) / len(members) > 0.5


def test_legit_hubs_are_big_and_mostly_legit(
    accounts: pd.DataFrame, truth: pd.DataFrame
) -> None:
    legit = set(truth.loc[truth["is_fraud"] == "0", "account_id"])
    for column, least in (("device_id", 50), ("ip", 100)):
        holders = max(links(accounts, [column]).values(), key=len)
        assert len(holders) >= least
        assert len(holders & legit) / len(holders) > 0.9


def test_about_three_percent_of_accounts_have_a_second_row(
    accounts: pd.DataFrame,
) -> None:
    rows = accounts.groupby("account_id").size()
    assert 0.02 < (rows > 1).mean() < 0.045
    changed = []
    for _, group in accounts[accounts["account_id"].isin(rows[rows > 1].index)].groupby(
        "account_id"
    ):
        first = group.iloc[0]
        for _, row in group.iloc[1:].iterrows():
            changed.append({c for c in ACCOUNT_COLUMNS if row[c] != first[c]})
    plain = [c for c in changed if c <= {"device_id", "phone"} and len(c) == 1]
    assert len(plain) / len(changed) > 0.9


def test_noise_lands_on_legit_accounts_only(
    accounts: pd.DataFrame, truth: pd.DataFrame
) -> None:
    noisy = accounts[
        accounts[["national_id", "phone", "email", "address", "device_id", "ip"]]
        .map(is_noise)
        .any(axis=1)
    ]
    assert 0.003 < len(noisy) / len(accounts) < 0.015
    assert noisy["national_id"].str.contains("E+", regex=False).any()
    fraud = set(truth.loc[truth["is_fraud"] == "1", "account_id"])
    assert not set(noisy["account_id"]) & fraud


def test_legit_national_ids_mostly_pass_validity_rules(
    accounts: pd.DataFrame, truth: pd.DataFrame
) -> None:
    def valid(text: str) -> bool:
        digits = re.sub(r"\D", "", text)
        if len(digits) == 9:
            area, group, serial = int(digits[:3]), digits[3:5], digits[5:]
            return (
                area not in (0, 666)
                and area < 900
                and group != "00"
                and (serial != "0000")
            )
        if len(digits) == 13:
            total = sum(int(d) * (13 - i) for i, d in enumerate(digits[:12]))
            return (11 - total % 11) % 10 == int(digits[12])
        return False

    legit = set(truth.loc[truth["is_fraud"] == "0", "account_id"])
    ids = accounts.drop_duplicates("account_id").set_index("account_id")["national_id"]
    ids = ids[~ids.map(is_noise)]
    ok = ids.map(valid)
    assert ok[ok.index.isin(legit)].mean() > 0.99
    assert ok[~ok.index.isin(legit)].mean() < 0.85


def test_labels_cover_both_classes_at_the_label_rate(
    accounts: pd.DataFrame, truth: pd.DataFrame
) -> None:
    label = accounts.drop_duplicates("account_id").merge(truth, on="account_id")
    legit = label[label["is_fraud"] == "0"]
    fraud = label[label["is_fraud"] == "1"]
    assert (legit["label"] == "legit").mean() == pytest.approx(0.3, abs=0.03)
    assert (fraud["label"] == "fraud").mean() == pytest.approx(0.3, abs=0.12)
    assert set(legit["label"]) <= {"legit", ""}
    assert set(fraud["label"]) <= {"fraud", ""}


def test_bust_outs_hold_large_nearly_unpaid_12_month_loans(
    population: GeneratedFiles, truth: pd.DataFrame
) -> None:
    loans = read(population.loans).merge(truth, on="account_id")
    bust = loans[(loans["typology"] == "bust_out_ring")]
    big = bust[(bust["term_months"] == "12")]
    assert set(big["account_id"]) == set(bust["account_id"])
    owed = big["balance"].astype(float) / big["amount"].astype(float)
    assert (owed > 0.9).mean() > 0.9
    assert big["amount"].astype(float).median() > 5000


# --------------------------------------------------------------------------
# Day deltas
# --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def days(tmp_path_factory: pytest.TempPathFactory) -> list:
    return generate_days(tmp_path_factory.mktemp("days"), 3000, seed=8)


def test_days_write_one_folder_of_deltas_per_day(days: list) -> None:
    assert [d.day for d in days] == [1, 2, 3]
    seen_by_day = []
    for day in days:
        assert day.accounts.parent.name == f"day_{day.day}"
        frame = read(day.accounts)
        assert list(frame.columns) == [*ACCOUNT_COLUMNS, "seen_at"]
        assert list(read(day.truth).columns) == TRUTH_COLUMNS
        seen_by_day.append((frame["seen_at"].min(), frame["seen_at"].max()))
    assert (
        seen_by_day[0][1] < seen_by_day[1][0] <= seen_by_day[1][1] < seen_by_day[2][0]
    )
    for first, last in seen_by_day[1:]:
        assert first[:10] == last[:10]


def test_days_add_up_to_one_consistent_truth(days: list) -> None:
    truths = [read(day.truth) for day in days]
    cumulative = pd.concat(truths).drop_duplicates("account_id", keep="last")
    accounts = pd.concat([read(day.accounts) for day in days])
    assert set(cumulative["account_id"]) == set(accounts["account_id"])
    new = [set(t["account_id"]) for t in truths]
    assert not new[0] & new[2] and not new[1] & new[2]


def test_days_plant_a_growing_a_splitting_and_a_new_ring(days: list) -> None:
    day1, day2, day3 = (read(day.truth) for day in days)
    (grown,) = days[1].lineage["grown"]
    old, off = days[1].lineage["split"]
    (new,) = days[2].lineage["new"]
    assert days[0].lineage == {}

    assert (day1["ring_id"] == grown).sum() >= 4
    assert (day2["ring_id"] == grown).sum() == 3
    assert not set(day2.loc[day2["ring_id"] == grown, "account_id"]) & set(
        day1["account_id"]
    )

    before = set(day1.loc[day1["ring_id"] == old, "account_id"])
    moved = set(day2.loc[day2["ring_id"] == off, "account_id"])
    assert len(before) == 9 and len(moved) == 4 and moved < before
    rows1, rows2 = read(days[0].accounts), read(days[1].accounts)
    bridge = rows2[rows2["account_id"].isin(before - moved)]
    assert len(bridge) == 1
    assert bridge["device_id"].iloc[0] not in set(rows1["device_id"])

    assert (day3["ring_id"] == new).sum() == 6
    assert new not in set(day1["ring_id"]) | set(day2["ring_id"])
