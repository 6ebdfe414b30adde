"""Synthetic lending population with planted fraud rings.

:func:`generate` writes three files in the loaders' input contract:

``accounts.csv`` (or ``accounts.parquet`` / ``accounts.jsonl``)
    ``account_id, created_at, full_name, date_of_birth, national_id, phone,
    email, address, device_id, ip, label``. About 3% of accounts have a second
    row (a tenth of those a third) carrying a new device or a new phone; the
    other fields repeat. ``label`` is ``fraud``, ``legit`` or empty.
``loans.csv``
    ``account_id, product, term_months, amount, balance, credit_limit``.
``truth.csv``
    ``account_id, ring_id, typology, is_fraud``: the answer key. Detectors
    must never read it.

The population (probabilities are per person unless stated):

* Locales ``en_US`` and ``th_TH``, weighted 70/30. US phones come in six
  layouts (``541-726-3310``, ``(541) 726-3310``, ``541.726.3310``,
  ``+1 541 726 3310``, ``5417263310``, ``+15417263310``); SSNs in three
  (``312-44-5521``, ``312 44 5521``, ``312445521``). Thai phones look like
  ``081-234-5678`` or ``+66 81 234 5678``; Thai ids have 13 digits with a
  mod-11 check digit, dashed ``1-2345-67890-12-3`` or plain. Each person
  picks a layout independently, so one shared value appears in several.
* Legit households: 80% singles, 15% families of 2-5 (85% of members keep
  the head's surname, 40% share the head's phone, 30% the IP, 12% the
  device), 5% roommates of 2-3 (share the address, 25% the IP). 28% of
  households live in apartment buildings of 5-150 units (same street
  address, different ``Apt 4B`` / ``#4B`` / ``Unit 4B``; Thai condos use
  ``Room 1203``). Each person writes the address in an independent mix of
  forms (``NW`` / ``N.W.`` / ``Northwest``, ``Street`` / ``St`` / ``St.``,
  ``3rd`` / ``Third``, ``OR`` / ``Oregon``, ``Apt`` / ``#`` / ``Unit``;
  Thai: ``Khwaeng`` / ``Tambon``, ``Khet`` / ``Amphoe`` prefixes 20%,
  ``Muang`` for ``Mueang`` 8%, ``Krung Thep Maha Nakhon`` / ``Changwat``
  10%, ``M.`` / ``Mu`` for ``Moo`` 18%, ``Rd.`` / ``Rd``, ``Rm`` / ``#``);
  0.5% of legit addresses carry a typo and 2% are upper case.
* Legit hubs per locale: public devices (1.5% of accounts, 50-500 accounts
  each), carrier NAT IPs (10% of accounts, 100-800 each) and call-centre
  phones (about one per 200,000 accounts, 100-400 each, at most 2%).
* 0.3% of legit US ids break the SSN rules and 0.5% of legit Thai ids fail
  the check digit (typing errors), so an invalid id alone is not fraud.
* Fraud, ``fraud_rate`` of the accounts: 10% ``isolated_fraud`` (nothing
  shared), then of the rest 45% ``synthetic_ring``, 30% ``bust_out_ring``
  and 25% ``multi_account``; with ``camouflaged_rings`` 35%, 25%, 20% and
  20% ``camouflaged_ring``. Typologies and parameters are described at
  :func:`generate`. Members of synthetic and
  bust-out rings and isolated fraud pick handle-style emails
  (``tiger4821@...``) 20% of the time, legit people 6%.
* Noise on legit rows only: 0.5% of rows get a placeholder in one field
  (``N/A``, ``unknown``, ``000-000-0000``, ``test@test.com``, empty...) and
  0.2% a spreadsheet-mangled phone or id (``5.41726E+09``). Placeholders
  repeat across unrelated accounts; they must not become links.

Determinism: every random choice flows from ``numpy.random.SeedSequence
(seed)``; the same seed and settings give byte-identical files with the same
library versions.

Complexity: O(n log n) time (sorting and hashing dominate), O(n) memory.
1,000,000 accounts as csv take about 10 s of CPU (under 25 s wall on two
busy cores) and 1.5 GiB peak; parquet and jsonl take a few seconds more.
Fraud groups are built one by one in Python, so a very high ``fraud_rate``
costs more.
"""

from __future__ import annotations

import dataclasses
import functools
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa

from ringfence.errors import ConfigError

__all__ = ["GeneratedDay", "GeneratedFiles", "generate", "generate_days"]

logger = logging.getLogger(__name__)

Arr = npt.NDArray[Any]

_DAY = 86_400
_FORMATS = ("csv", "parquet", "jsonl")
_JSON_CHUNK = 100_000
_LOCALE_WEIGHT = {"en_US": 0.7, "th_TH": 0.3}
_US, _TH = 0, 1

_LEGIT, _SYNTHETIC, _BUST_OUT, _MULTI, _ISOLATED, _CAMOUFLAGED = range(6)
_TYPOLOGY_NAMES = (
    "legit",
    "synthetic_ring",
    "bust_out_ring",
    "multi_account",
    "isolated_fraud",
    "camouflaged_ring",
)
_RING_TYPOLOGIES = (_SYNTHETIC, _BUST_OUT, _MULTI, _CAMOUFLAGED)

_ACCOUNT_COLUMNS = (
    "account_id",
    "created_at",
    "full_name",
    "date_of_birth",
    "national_id",
    "phone",
    "email",
    "address",
    "device_id",
    "ip",
    "label",
)
_IDENTIFIER_COLUMNS = ("national_id", "phone", "email", "address", "device_id", "ip")


# --------------------------------------------------------------------------
# Public API
# --------------------------------------------------------------------------


@dataclass(frozen=True)
class GeneratedFiles:
    """Paths and head counts of one generated data set.

    Attributes:
        accounts: The accounts file (csv, parquet or jsonl).
        loans: ``loans.csv``.
        truth: ``truth.csv``, the answer key.
        n_accounts: Distinct accounts in ``truth``.
        n_fraud: Fraud accounts in ``truth``.
        n_rings: Distinct ring ids in ``truth``.
    """

    accounts: Path
    loans: Path
    truth: Path
    n_accounts: int
    n_fraud: int
    n_rings: int


@dataclass(frozen=True)
class GeneratedDay(GeneratedFiles):
    """One day of delta files written by :func:`generate_days`.

    Attributes:
        day: Day number, 1-based; the files live in ``day_<day>/``.
        lineage: Ring events planted on this day, e.g.
            ``{"grown": ("T-4",), "split": ("T-7", "T-31")}`` or
            ``{"new": ("T-30",)}``; empty on quiet days.
    """

    day: int
    lineage: Mapping[str, tuple[str, ...]] = field(hash=False)


def generate(
    out_dir: Path | str,
    n_accounts: int,
    seed: int,
    *,
    fraud_rate: float = 0.02,
    locales: Sequence[str] = ("en_US", "th_TH"),
    fmt: str = "csv",
    start: str = "2024-01-01",
    days: int = 730,
    label_rate: float = 0.3,
    camouflaged_rings: bool = False,
) -> GeneratedFiles:
    """Write a synthetic population of loan accounts with planted fraud rings.

    Fraud typologies (``round(n_accounts * fraud_rate)`` fraud accounts):

    * ``synthetic_ring``: 4-15 accounts with unrelated names, created within
      0.5-4 days. The ring owns pools of 1-3 devices, 1-4 phones and 1-3
      addresses (in a quarter of rings the addresses are units of one
      building); each member uses the device pool with p=0.8, the phone pool
      with p=0.6, the address pool with p=0.55, otherwise a value of its own,
      and every member shares at least one of them with an earlier member.
      National ids: 20% fabricated but valid, 30% borrowed from a random
      legit account, 25% copied from another member, 25% invalid (SSN rules
      or Thai check digit). IPs: 35% a ring pool of 1-2, 30% a carrier NAT
      IP, 35% own. A third of the DOBs make the person 19-30. Each ring is
      single-locale; members write shared values in their own layouts.
    * ``bust_out_ring``: the same sharing, but members are created over 2-8
      weeks; every member holds a 12-month unsecured loan of about 9,000
      (3,000-25,000) with 93-100% still owed, plus cards at 90-102% of their
      limit or small, mostly repaid BNPL purchases.
    * ``multi_account``: one person, 3-8 accounts over 1-6 weeks, all on one
      device; 45% also share one phone, 40% use dot/``+tag`` variants of one
      gmail address, 15% both. Names vary slightly (nickname, initial, typo,
      swapped order, upper case); the DOB repeats in 75% of accounts; ids
      are 55% fabricated, 20% repeated, 25% invalid; half share the
      address; IPs are 50% the first account's, 20% a carrier NAT IP.
    * Camouflage, about 30% of ring members other than the first: one link
      to the legit world, the address of a legit family (60%) or a public
      device of their locale (40%). Multi-account groups only borrow
      addresses.
    * ``camouflaged_ring``: 6-15 accounts created over 3-12 weeks that
      evade both velocity rules and neighbourhood checks. Velocity: the ring
      rotates its devices and phones so that each is used by exactly two
      members, consecutive in creation order, alternately a device and a
      phone; the ring is one chain of weak links, and no identifier of it
      is held by three accounts. Camouflage (relation camouflage): each
      member also holds identifiers of honest accounts, the address of a
      legit family (70%) and a carrier NAT IP (60%), so most of its
      neighbours are legit. The identities are polished: national ids are
      30% borrowed from a legit account, otherwise fabricated and valid;
      emails and dates of birth are drawn like a legit person's. Half the
      members borrow like legit customers (still seasoning), half carry a
      bust-out loan book. What gives a member away lies in the pattern of
      its neighbourhood (a device or phone shared with one stranger who
      shares nothing else) and two or more accounts along the chain.
    * ``isolated_fraud``: no shared identifier; 30% invalid ids; half carry
      a bust-out loan book.

    Labels: each legit account is labelled ``legit`` with p=``label_rate``;
    fraud accounts are labelled ``fraud`` at the same average rate, weighted
    towards bust-outs (x2) and older accounts, as confirmed fraud comes from
    defaults. The rest are empty.

    Args:
        out_dir: Folder to write into (created if missing).
        n_accounts: Number of distinct accounts, >= 1.
        seed: Random seed, >= 0.
        fraud_rate: Share of fraud accounts, in [0, 0.5].
        locales: Subset of ``("en_US", "th_TH")``; both give a 70/30 mix.
        fmt: Accounts file format: ``csv``, ``parquet`` or ``jsonl``.
            Loans and truth are always csv.
        start: First calendar day of account creation (ISO date, UTC).
        days: Length of the creation window in days.
        label_rate: Share of accounts with a known label, in [0, 1].
        camouflaged_rings: Add the ``camouflaged_ring`` typology (a fifth
            of ring fraud). Off by default: the rule detector alone cuts
            these chains of weak links apart, and they are there to test
            what only a model of the neighbourhood (the GNN) sees.

    Returns:
        The written paths and the head counts.

    Raises:
        ConfigError: If a setting is out of range; all problems are listed.

    Examples:
        >>> files = generate(Path("data"), 5000, seed=7)  # doctest: +SKIP
        >>> files.n_fraud
        100
    """
    cfg = _check_settings(
        n_accounts, seed, fraud_rate, locales, fmt, start, days, label_rate
    )
    cfg = dataclasses.replace(cfg, camouflaged=bool(camouflaged_rings))
    began = time.perf_counter()
    pop = _Builder(cfg).build()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    everyone = np.arange(cfg.n)
    files = _write_set(
        pop, out, fmt, np.arange(pop.row_person.size), everyone, final_rings=True
    )
    logger.info(
        "generated %d accounts (%d fraud, %d rings) in %.1f s",
        files.n_accounts,
        files.n_fraud,
        files.n_rings,
        time.perf_counter() - began,
    )
    return files


def generate_days(
    out_dir: Path | str,
    n_accounts: int,
    seed: int,
    days: int = 3,
    *,
    fraud_rate: float = 0.02,
    locales: Sequence[str] = ("en_US", "th_TH"),
    fmt: str = "csv",
    start: str = "2024-01-01",
    history_days: int = 730,
    label_rate: float = 0.3,
) -> list[GeneratedDay]:
    """Write one population as daily delta files ``day_1/`` ... ``day_<days>/``.

    The population is built as by :func:`generate` over ``history_days``.
    ``day_1`` holds everything up to the last ``days - 1`` calendar days,
    which become one folder each. Each folder holds the rows first seen that
    day: ``accounts`` (new accounts and later rows of older ones), ``loans``
    of the new accounts and ``truth`` of the new accounts plus any account
    whose ring changed that day. Reading the truth files in order, later rows
    replacing earlier ones, gives the truth as of each day. The accounts
    files carry one more column, ``seen_at``, the time a row was observed.

    Planted lineage events (ids given in each day's ``lineage``):

    * day 2, ``grown``: a synthetic ring from history gains 3 members that
      share its device, phone or address pools.
    * day 2, ``split``: a ring of two cliques (4 + 4) joined by one bridging
      account, which shares the first clique's phone and the second one's
      device. On day 2 the bridge shows a new device (a later row), so the
      second clique separates. Truth moves it to a new ring id; the bridge
      stays in the old ring. ``split`` is ``(old_id, new_id)``.
    * day 3, ``new``: a synthetic ring of 6 created within that day.

    Other fraud rings are created before day 2, so days 2 and later bring
    legit accounts and extra rows besides these events.

    Args:
        out_dir: Folder to write the day folders into.
        n_accounts: Distinct accounts over all days, >= 200.
        seed: Random seed, >= 0.
        days: Number of day folders, >= 3.
        fraud_rate: As for :func:`generate`; the planted rings count.
        locales: As for :func:`generate`.
        fmt: As for :func:`generate`.
        start: First calendar day of the history.
        history_days: Length of the whole window in days, > ``days``.
        label_rate: As for :func:`generate`.

    Returns:
        One :class:`GeneratedDay` per day. Its counts describe that day's
        truth file: new accounts plus accounts whose ring changed.

    Raises:
        ConfigError: If a setting is out of range; all problems are listed.

    Notes:
        The bridge's old row stays in ``day_1``: a store that keeps every
        link forever will still join the two cliques. Use ``seen_at`` to
        tell the fresh link from the stale one. Loans of older accounts do
        not change over the days.
    """
    problems = []
    if not isinstance(days, int) or days < 3:
        problems.append(f"days must be an integer >= 3, got {days!r}")
    elif not isinstance(history_days, int) or history_days <= days:
        problems.append(
            f"history_days must be an integer > days ({days}), got {history_days!r}"
        )
    cfg = _check_settings(
        n_accounts,
        seed,
        fraud_rate,
        locales,
        fmt,
        start,
        history_days,
        label_rate,
        min_accounts=200,
        problems=problems,
    )
    pop = _Builder(cfg, delta_days=days).build()
    first_delta = cfg.start_s + (cfg.span_days - days + 1) * _DAY

    def day_of(seconds: Arr) -> Arr:
        return np.maximum(seconds - first_delta, -1) // _DAY + 2

    row_day = day_of(pop.row_seen)
    person_day = day_of(pop.created)
    moved = np.flatnonzero(pop.ring_initial != pop.ring_final)
    results: list[GeneratedDay] = []
    for day in range(1, days + 1):
        persons = np.flatnonzero(person_day == day)
        truth_persons = persons
        if day == 2:
            truth_persons = np.union1d(persons, moved)
        files = _write_set(
            pop,
            Path(out_dir) / f"day_{day}",
            fmt,
            np.flatnonzero(row_day == day),
            truth_persons,
            final_rings=day > 1,
            loan_persons=persons,
            with_seen=True,
        )
        results.append(
            GeneratedDay(
                accounts=files.accounts,
                loans=files.loans,
                truth=files.truth,
                n_accounts=files.n_accounts,
                n_fraud=files.n_fraud,
                n_rings=files.n_rings,
                day=day,
                lineage=pop.lineage.get(day, {}),
            )
        )
    return results


# --------------------------------------------------------------------------
# Settings
# --------------------------------------------------------------------------


@dataclass(frozen=True)
class _Config:
    n: int
    seed: int
    fraud_rate: float
    locale_p: tuple[float, float]
    start_s: int
    span_days: int
    label_rate: float
    camouflaged: bool = False


def _check_settings(
    n_accounts: int,
    seed: int,
    fraud_rate: float,
    locales: Sequence[str],
    fmt: str,
    start: str,
    days: int,
    label_rate: float,
    *,
    min_accounts: int = 1,
    problems: list[str] | None = None,
) -> _Config:
    """Validate the generator settings, reporting every problem at once."""
    problems = list(problems or [])

    def is_int(value: object) -> bool:
        return isinstance(value, int | np.integer) and not isinstance(value, bool)

    if not is_int(n_accounts) or n_accounts < min_accounts:
        problems.append(
            f"n_accounts must be an integer >= {min_accounts}, got {n_accounts!r}"
        )
    if not is_int(seed) or seed < 0:
        problems.append(f"seed must be a non-negative integer, got {seed!r}")
    if not isinstance(fraud_rate, int | float) or not 0.0 <= fraud_rate <= 0.5:
        problems.append(f"fraud_rate must be in [0, 0.5], got {fraud_rate!r}")
    if not isinstance(label_rate, int | float) or not 0.0 <= label_rate <= 1.0:
        problems.append(f"label_rate must be in [0, 1], got {label_rate!r}")
    chosen = [] if isinstance(locales, str) else list(locales)
    if not chosen or any(loc not in _LOCALE_WEIGHT for loc in chosen):
        problems.append(
            f"locales must be a non-empty subset of {tuple(_LOCALE_WEIGHT)}, "
            f"got {locales!r}"
        )
    if fmt not in _FORMATS:
        problems.append(f"fmt must be one of {_FORMATS}, got {fmt!r}")
    start_day = date(1970, 1, 1)
    try:
        start_day = date.fromisoformat(start)
    except (TypeError, ValueError):
        problems.append(f"start must be an ISO date like 2024-01-01, got {start!r}")
    if not is_int(days) or days < 1:
        problems.append(f"days must be an integer >= 1, got {days!r}")
    if problems:
        raise ConfigError("invalid generator settings: " + "; ".join(problems))

    weights = [_LOCALE_WEIGHT[loc] if loc in chosen else 0.0 for loc in _LOCALE_WEIGHT]
    total = sum(weights)
    return _Config(
        n=int(n_accounts),
        seed=int(seed),
        fraud_rate=float(fraud_rate),
        locale_p=(weights[0] / total, weights[1] / total),
        start_s=(start_day - date(1970, 1, 1)).days * _DAY,
        span_days=int(days),
        label_rate=float(label_rate),
    )


# --------------------------------------------------------------------------
# Reference tables (invented or common public words; no real people)
# --------------------------------------------------------------------------


def _words(text: str) -> tuple[str, ...]:
    """Split a whitespace-separated word table written as one string."""
    return tuple(text.split())


_US_FIRST = _words(
    "James Mary Robert Patricia John Jennifer Michael Linda David Elizabeth William "
    "Barbara Richard Susan Joseph Jessica Thomas Sarah Charles Karen Christopher Lisa "
    "Daniel Nancy Matthew Betty Anthony Sandra Mark Margaret Donald Ashley Steven "
    "Kimberly Andrew Emily Paul Donna Joshua Michelle Kenneth Carol Kevin Amanda "
    "Brian Melissa George Deborah Timothy Stephanie Ronald Rebecca Jason Laura Edward "
    "Sharon Jeffrey Cynthia Ryan Kathleen Jacob Amy Gary Angela Nicholas Shirley Eric "
    "Brenda Jonathan Emma Maria Jose Luis Carlos Juan Ana Rosa Wei Ming Priya Raj "
    "Aisha Omar Keisha Tyrone Hannah Olivia Noah Liam Sofia Mateo Chloe Ethan Grace"
)
_US_LAST = _words(
    "Smith Johnson Williams Brown Jones Garcia Miller Davis Rodriguez Martinez "
    "Hernandez Lopez Gonzalez Wilson Anderson Thomas Taylor Moore Jackson Martin Lee "
    "Perez Thompson White Harris Sanchez Clark Ramirez Lewis Robinson Walker Young "
    "Allen King Wright Scott Torres Nguyen Hill Flores Green Adams Nelson Baker Hall "
    "Rivera Campbell Mitchell Carter Roberts Gomez Phillips Evans Turner Diaz Parker "
    "Cruz Edwards Collins Reyes Stewart Morris Morales Murphy Cook Rogers Gutierrez "
    "Ortiz Morgan Cooper Peterson Bailey Reed Kelly Howard Ramos Kim Cox Ward "
    "Richardson Watson Brooks Chavez Wood Bennett Gray Mendoza Ruiz Hughes Price "
    "Alvarez Castillo Sanders Patel Myers Long Ross Foster O'Brien Chen Singh"
)
_TH_FIRST = _words(
    "Somchai Somsak Somporn Sompong Suda Sunee Malee Niran Prasert Wichai Anong Kanya "
    "Nattapong Chaiwat Kittisak Siriporn Wanida Pornthip Apichart Thanawat Nattaya "
    "Jirawat Supaporn Ratana Boonmee Kamol Arunee Pichit Sakchai Thitima Orawan Yupin "
    "Pranee Chalerm Suwit Weerapong Patcharee Kannika Nopparat Panida Sirichai "
    "Tanakorn Piyapong Duangjai Manee Rungnapa Warunee Ekachai Sutthiporn Krit Pim "
    "Ploy Arthit Chanida"
)
_TH_LAST = _words(
    "Srisuk Saetang Wongsawat Chaiyaporn Boonyarat Thongchai Kaewkla Sukprasert "
    "Rattanakorn Phromma Jaidee Suwannarat Chanthara Intharasuk Kongkaew Sangthong "
    "Pattanasiri Phanthong Charoenkul Meesuk Yodsuwan Siriwat Ruangsri Kittikhun "
    "Wattanasin Nakprasit Somboon Petchsri Saelim Saeheng Thongdee Klinhom Buakaew "
    "Sriwichai Jantarawong Panyawong Chuenjai Raksa Thammachot Sukjai"
)
_NICKNAMES = {
    "William": "Bill", "Robert": "Bob", "Richard": "Rick", "Michael": "Mike",
    "Elizabeth": "Liz", "Jennifer": "Jen", "Christopher": "Chris",
    "Daniel": "Dan", "Matthew": "Matt", "Anthony": "Tony", "Joseph": "Joe",
    "Thomas": "Tom", "Kimberly": "Kim", "Rebecca": "Becky", "Nicholas": "Nick",
    "Jonathan": "Jon", "Timothy": "Tim", "Steven": "Steve", "Kenneth": "Ken",
    "Andrew": "Andy", "Patricia": "Pat", "Deborah": "Debbie", "Jeffrey": "Jeff",
    "Donald": "Don", "Ronald": "Ron", "Edward": "Ed", "Joshua": "Josh",
    "Margaret": "Maggie", "Somchai": "Chai", "Nattapong": "Pong",
    "Kittisak": "Kit", "Siriporn": "Porn", "Thanawat": "Wat",
}  # fmt: skip

# (city, state, state name, first zip)
_US_CITIES = (
    ("Springfield", "OR", "Oregon", 97477), ("Portland", "OR", "Oregon", 97205),
    ("Eugene", "OR", "Oregon", 97401), ("Salem", "OR", "Oregon", 97301),
    ("Seattle", "WA", "Washington", 98101), ("Spokane", "WA", "Washington", 99201),
    ("Boise", "ID", "Idaho", 83702), ("Sacramento", "CA", "California", 95814),
    ("Fresno", "CA", "California", 93721), ("San Diego", "CA", "California", 92101),
    ("Austin", "TX", "Texas", 78701), ("Houston", "TX", "Texas", 77002),
    ("El Paso", "TX", "Texas", 79901), ("Phoenix", "AZ", "Arizona", 85004),
    ("Tucson", "AZ", "Arizona", 85701), ("Denver", "CO", "Colorado", 80202),
    ("Albuquerque", "NM", "New Mexico", 87102), ("Las Vegas", "NV", "Nevada", 89101),
    ("Salt Lake City", "UT", "Utah", 84101), ("Omaha", "NE", "Nebraska", 68102),
    ("Kansas City", "MO", "Missouri", 64105),
    ("Minneapolis", "MN", "Minnesota", 55401), ("Chicago", "IL", "Illinois", 60601),
    ("Springfield", "IL", "Illinois", 62701), ("Columbus", "OH", "Ohio", 43215),
    ("Detroit", "MI", "Michigan", 48226), ("Indianapolis", "IN", "Indiana", 46204),
    ("Louisville", "KY", "Kentucky", 40202), ("Nashville", "TN", "Tennessee", 37203),
    ("Atlanta", "GA", "Georgia", 30303),
    ("Charlotte", "NC", "North Carolina", 28202),
    ("Orlando", "FL", "Florida", 32801), ("Miami", "FL", "Florida", 33130),
    ("Richmond", "VA", "Virginia", 23219),
    ("Philadelphia", "PA", "Pennsylvania", 19107),
    ("Newark", "NJ", "New Jersey", 7102), ("Boston", "MA", "Massachusetts", 2108),
    ("Hartford", "CT", "Connecticut", 6103), ("Buffalo", "NY", "New York", 14202),
    ("Albany", "NY", "New York", 12207),
)  # fmt: skip
_US_STREET_WORDS = _words(
    "Oak Maple Pine Cedar Elm Walnut Willow Birch Spruce Chestnut Main Church Market "
    "Mill Park Lake Hill River Spring Ridge Meadow Forest Sunset Highland Valley "
    "Orchard Washington Lincoln Jefferson Madison Franklin Jackson Adams Monroe Grant "
    "Harrison Cleveland Center College Union Prospect Railroad Cherry Poplar Hickory "
    "Locust Sycamore Dogwood Magnolia Laurel Aspen Juniper Liberty Front Water Bridge "
    "Garden"
)
_ORDINAL_WORDS = _words(
    "First Second Third Fourth Fifth Sixth Seventh Eighth Ninth Tenth Eleventh "
    "Twelfth Thirteenth Fourteenth Fifteenth Sixteenth Seventeenth Eighteenth "
    "Nineteenth Twentieth"
)
# (full, short, short with dot)
_US_SUFFIXES = (
    ("Street", "St", "St."), ("Avenue", "Ave", "Ave."), ("Road", "Rd", "Rd."),
    ("Drive", "Dr", "Dr."), ("Lane", "Ln", "Ln."), ("Boulevard", "Blvd", "Blvd."),
    ("Court", "Ct", "Ct."), ("Place", "Pl", "Pl."), ("Way", "Way", "Way"),
    ("Terrace", "Ter", "Ter."), ("Parkway", "Pkwy", "Pkwy."),
)  # fmt: skip
_US_SUFFIX_P = (0.3, 0.2, 0.12, 0.1, 0.07, 0.05, 0.05, 0.04, 0.03, 0.02, 0.02)
_DIRECTIONS = (
    ("", "", ""), ("N", "N.", "North"), ("S", "S.", "South"),
    ("E", "E.", "East"), ("W", "W.", "West"), ("NE", "N.E.", "Northeast"),
    ("NW", "N.W.", "Northwest"), ("SE", "S.E.", "Southeast"),
    ("SW", "S.W.", "Southwest"),
)  # fmt: skip
_UNIT_PREFIXES = ("Apt ", "#", "Unit ", "Apt. ", "Apartment ")
_UNIT_PREFIX_P = (0.45, 0.2, 0.2, 0.1, 0.05)

# (subdistrict, district, province, postcode)
_TH_AREAS = (
    ("Khlong Toei Nuea", "Watthana", "Bangkok", "10110"),
    ("Khlong Tan Nuea", "Watthana", "Bangkok", "10110"),
    ("Si Lom", "Bang Rak", "Bangkok", "10500"),
    ("Chatuchak", "Chatuchak", "Bangkok", "10900"),
    ("Lat Yao", "Chatuchak", "Bangkok", "10900"),
    ("Huai Khwang", "Huai Khwang", "Bangkok", "10310"),
    ("Bang Na", "Bang Na", "Bangkok", "10260"),
    ("Samsen Nai", "Phaya Thai", "Bangkok", "10400"),
    ("Wang Thonglang", "Wang Thonglang", "Bangkok", "10310"),
    ("Suthep", "Mueang Chiang Mai", "Chiang Mai", "50200"),
    ("Chang Phueak", "Mueang Chiang Mai", "Chiang Mai", "50300"),
    ("Nai Mueang", "Mueang Khon Kaen", "Khon Kaen", "40000"),
    ("Hat Yai", "Hat Yai", "Songkhla", "90110"),
    ("Talat Yai", "Mueang Phuket", "Phuket", "83000"),
    ("Bang Kraso", "Mueang Nonthaburi", "Nonthaburi", "11000"),
    ("Pak Kret", "Pak Kret", "Nonthaburi", "11120"),
    ("Bang Phli Yai", "Bang Phli", "Samut Prakan", "10540"),
    ("Nong Prue", "Bang Lamung", "Chon Buri", "20150"),
    ("Nai Mueang", "Mueang Nakhon Ratchasima", "Nakhon Ratchasima", "30000"),
    ("Mak Khaeng", "Mueang Udon Thani", "Udon Thani", "41000"),
    ("Khlong Nueng", "Khlong Luang", "Pathum Thani", "12120"),
)
_TH_ROADS = tuple(
    road.replace("_", " ")
    for road in _words(
        "Sukhumvit Phahonyothin Ratchadaphisek Lat_Phrao Ramkhamhaeng Rama_IX Rama_IV "
        "Phetchaburi Srinakarin Chaeng_Watthana Huay_Kaew Nimmanhaemin Mittraphap "
        "Thepkrasattri Phetkasem Sathon Charoen_Krung Tiwanon"
    )
)
_TH_CONDOS = (
    "Baan Suan Condo", "Sukjai Residence", "The Green Tower", "Ruamjai Place",
    "Lake View Condo", "City Home Tower", "Garden Ville Residence",
    "Riverside Suites", "Chalerm Court", "Siam Grand Condo",
)  # fmt: skip

_EMAIL_DOMAINS = (
    "gmail.com", "yahoo.com", "outlook.com", "hotmail.com", "icloud.com",
    "aol.com", "comcast.net", "proton.me", "msn.com", "hotmail.co.th",
)  # fmt: skip
_GMAIL = 0
_DOMAIN_P = (
    (0.45, 0.15, 0.10, 0.08, 0.10, 0.03, 0.03, 0.02, 0.04, 0.0),
    (0.55, 0.07, 0.06, 0.25, 0.05, 0.0, 0.0, 0.0, 0.0, 0.02),
)
_HANDLE_WORDS = _words(
    "sunny tiger moon rocket blue lucky happy cool star wolf ninja pixel shadow angel "
    "cherry dragon"
)
_PLUS_TAGS = ("shop", "loans", "news", "2", "x", "promo", "pay")

_US_IP_FIRST = (
    23, 24, 45, 50, 63, 64, 65, 66, 67, 68, 69, 70, 71, 72, 73, 74, 75, 76,
    96, 97, 98, 99, 104, 107, 108, 136, 162, 173, 174, 184, 198, 206, 207,
)  # fmt: skip
_TH_IP_FIRST = (1, 27, 49, 58, 61, 101, 110, 115, 118, 124, 125, 171, 180, 182, 183)
_TH_MOBILE = (61, 62, 63, 64, 65, 80, 81, 82, 83, 84, 86, 87, 88, 89, 90, 91,
              92, 93, 94, 95, 96, 97, 98, 99)  # fmt: skip

# Hours of the day people open accounts (relative weights, UTC as local).
_HOUR_WEIGHTS = np.array(
    [1, .6, .4, .3, .3, .5, 1, 2, 3, 4, 4.5, 5, 5.5, 5, 4.5, 4.5, 5, 5.5,
     6.5, 7.5, 8, 7, 5, 3]
)  # fmt: skip

_PLACEHOLDERS = {
    "national_id": (None, "N/A", "unknown", "000-00-0000", "0000000000000"),
    "phone": (None, "N/A", "unknown", "000-000-0000", "0000000000", "n/a"),
    "email": (None, "N/A", "test@test.com", "unknown", "none@none.com"),
    "address": (None, "N/A", "unknown", "No address", "none"),
    "device_id": (None, "unknown", "0000000000000000", "N/A"),
    "ip": (None, "0.0.0.0", "unknown", "127.0.0.1"),
}
_NOISE_FIELD_P = (0.2, 0.25, 0.2, 0.15, 0.1, 0.1)  # in _IDENTIFIER_COLUMNS order


def _obj(values: Sequence[Any]) -> Arr:
    out = np.empty(len(values), dtype=object)
    out[:] = list(values)
    return out


def _lower_alpha(name: str) -> str:
    return "".join(ch for ch in name.lower() if ch.isalpha())


_FIRST = _obj(_US_FIRST + _TH_FIRST)
_LAST = _obj(_US_LAST + _TH_LAST)
_FIRST_LOWER = _obj([_lower_alpha(s) for s in _FIRST])
_LAST_LOWER = _obj([_lower_alpha(s) for s in _LAST])
_FIRST_INITIAL = _obj([s[0] for s in _FIRST_LOWER])
_LAST_INITIAL = _obj([s[0] for s in _LAST_LOWER])
_NAME_OFFSET = ((0, 0), (len(_US_FIRST), len(_US_LAST)))
_NAME_COUNT = ((len(_US_FIRST), len(_US_LAST)), (len(_TH_FIRST), len(_TH_LAST)))
_LETTERS = _obj(list("ABCDEFGHIJKLMNOPRSTVW"))

_SSN_AREAS = np.array([a for a in range(1, 900) if a != 666])
_BAD_SSN_AREAS = np.array([0, 666, *range(900, 1000)])
# Area codes in service around the cities above (people move, so any person
# may hold any of them).
_NPAS = np.array(
    [541, 458, 503, 971, 206, 509, 208, 916, 559, 619, 858, 512, 737, 713, 281,
     832, 915, 602, 480, 623, 520, 303, 720, 505, 702, 725, 801, 385, 402, 531,
     816, 612, 312, 773, 872, 217, 614, 380, 313, 317, 502, 615, 629, 404, 470,
     678, 704, 980, 407, 689, 305, 786, 804, 215, 267, 973, 862, 617, 857, 860,
     959, 716, 518]
)  # fmt: skip
_NXXS = np.array([x for x in range(200, 1000) if x % 100 != 11 and x != 555])

_N_STREETS = len(_US_STREET_WORDS) + len(_ORDINAL_WORDS)
_N_CITIES = len(_US_CITIES)
_N_SUFFIXES = len(_US_SUFFIXES)
_N_DIRECTIONS = len(_DIRECTIONS)
_N_AREAS = len(_TH_AREAS)
_N_ROADS = len(_TH_ROADS)


@functools.cache
def _padded(width: int) -> Arr:
    """``i -> str(i).zfill(width)`` for every ``i < 10**width``."""
    return _obj([str(i).zfill(width) for i in range(10**width)])


@functools.cache
def _plain(limit: int) -> Arr:
    return _obj([str(i) for i in range(limit)])


@functools.cache
def _hex4() -> Arr:
    return _obj([f"{i:04x}" for i in range(1 << 16)])


@functools.cache
def _street_forms() -> Arr:
    """Row 0: ``3rd``-style ordinals, row 1: ``Third``."""

    def numeric(i: int) -> str:
        end = {1: "st", 2: "nd", 3: "rd"}.get(i % 10 if i // 10 != 1 else 0, "th")
        return f"{i}{end}"

    count = len(_ORDINAL_WORDS)
    digits = list(_US_STREET_WORDS) + [numeric(i) for i in range(1, count + 1)]
    words = list(_US_STREET_WORDS) + list(_ORDINAL_WORDS)
    return np.stack([_obj(digits), _obj(words)])


@functools.cache
def _unit_labels() -> Arr:
    """Rows: ``4B`` style, ``305`` style, Thai ``1203`` style; 1,000 units."""
    letter = [f"{u // 6 + 1}{'ABCDEF'[u % 6]}" for u in range(1000)]
    number = [f"{u // 8 + 1}{u % 8 + 1:02d}" for u in range(1000)]
    room = [f"{u // 10 + 2}{u % 10 + 1:02d}" for u in range(1000)]
    return np.stack([_obj(letter), _obj(number), _obj(room)])


@functools.cache
def _th_area_forms() -> tuple[Arr, Arr, Arr]:
    """Subdistrict, district and province spellings, one row per form."""
    sub, dist, prov = [], [], []
    for subdistrict, district, province, _ in _TH_AREAS:
        bangkok = province == "Bangkok"
        sub.append((subdistrict, ("Khwaeng " if bangkok else "Tambon ") + subdistrict))
        dist.append(
            (
                district,
                ("Khet " if bangkok else "Amphoe ") + district,
                district.replace("Mueang", "Muang"),
            )
        )
        prov.append(
            (province, "Krung Thep Maha Nakhon" if bangkok else "Changwat " + province)
        )
    return (
        np.array(sub, dtype=object).T.copy(),
        np.array(dist, dtype=object).T.copy(),
        np.array(prov, dtype=object).T.copy(),
    )


# --------------------------------------------------------------------------
# Value spaces: distinct integers, rendered to text at the end
# --------------------------------------------------------------------------


def _draw_ssn(rng: np.random.Generator, k: int) -> Arr:
    area = _SSN_AREAS[rng.integers(0, _SSN_AREAS.size, k)]
    return (
        area * 1_000_000 + rng.integers(1, 100, k) * 10_000 + rng.integers(1, 10_000, k)
    )


def _draw_bad_ssn(rng: np.random.Generator, k: int) -> Arr:
    """SSNs breaking one rule: area 000/666/9xx, group 00 or serial 0000."""
    area = _BAD_SSN_AREAS[rng.integers(0, _BAD_SSN_AREAS.size, k)]
    group = rng.integers(1, 100, k)
    serial = rng.integers(1, 10_000, k)
    rule = rng.random(k)
    area = np.where(rule < 0.2, _SSN_AREAS[rng.integers(0, _SSN_AREAS.size, k)], area)
    group = np.where(rule < 0.1, 0, group)
    serial = np.where((rule >= 0.1) & (rule < 0.2), 0, serial)
    return area * 1_000_000 + group * 10_000 + serial


def _draw_thai_body(rng: np.random.Generator, k: int) -> Arr:
    """The first 12 digits of a Thai id; the first digit is the person type."""
    first = rng.choice([1, 3, 5, 8, 2, 4], size=k, p=[0.6, 0.3, 0.04, 0.03, 0.02, 0.01])
    return first.astype(np.int64) * 10**11 + rng.integers(0, 10**11, k)


def _thai_check(body: Arr) -> Arr:
    """Mod-11 check digit of 12-digit Thai id bodies."""
    total = np.zeros(body.shape, dtype=np.int64)
    rest = body.astype(np.int64)
    for weight in range(2, 14):
        total += (rest % 10) * weight
        rest //= 10
    return (11 - total % 11) % 10


def _draw_us_phone(rng: np.random.Generator, k: int) -> Arr:
    npa = _NPAS[rng.integers(0, _NPAS.size, k)]
    nxx = _NXXS[rng.integers(0, _NXXS.size, k)]
    return npa * 10**7 + nxx * 10**4 + rng.integers(0, 10_000, k)


def _draw_th_phone(rng: np.random.Generator, k: int) -> Arr:
    prefix = np.array(_TH_MOBILE)[rng.integers(0, len(_TH_MOBILE), k)]
    return prefix * 10**7 + rng.integers(0, 10**7, k)


def _draw_device(rng: np.random.Generator, k: int) -> Arr:
    info = np.iinfo(np.int64)
    return rng.integers(info.min, info.max, k, dtype=np.int64, endpoint=True)


def _ip_drawer(
    first_octets: Sequence[int],
) -> Callable[[np.random.Generator, int], Arr]:
    firsts = np.array(first_octets, dtype=np.int64)

    def draw(rng: np.random.Generator, k: int) -> Arr:
        first = firsts[rng.integers(0, firsts.size, k)]
        middle = rng.integers(0, 1 << 16, k)
        return (first << 24) | (middle << 8) | rng.integers(1, 255, k)

    return draw


def _draw_us_address(rng: np.random.Generator, k: int) -> Arr:
    """Street addresses as one mixed-radix key (city, street, suffix, dir, no)."""
    small = rng.random(k) < 0.6
    number = np.where(small, rng.integers(1, 1000, k), rng.integers(1000, 10_000, k))
    direction = np.where(rng.random(k) < 0.25, rng.integers(1, _N_DIRECTIONS, k), 0)
    suffix = rng.choice(_N_SUFFIXES, size=k, p=_US_SUFFIX_P)
    key = rng.integers(0, _N_CITIES, k) * _N_STREETS + rng.integers(0, _N_STREETS, k)
    key = (key * _N_SUFFIXES + suffix) * _N_DIRECTIONS + direction
    return key * 9999 + (number - 1)


def _draw_th_address(rng: np.random.Generator, k: int) -> Arr:
    """Thai addresses as one key (area, house, sub, moo, soi, soi no, road)."""
    area = rng.integers(0, _N_AREAS, k)
    bangkok = np.array([a[2] == "Bangkok" for a in _TH_AREAS])[area]
    house = rng.integers(1, 1000, k)
    sub = np.where(rng.random(k) < 0.45, rng.integers(1, 100, k), 0)
    moo = np.where(~bangkok & (rng.random(k) < 0.6), rng.integers(1, 16, k), 0)
    soi = np.where(bangkok & (rng.random(k) < 0.6), rng.integers(1, _N_ROADS + 1, k), 0)
    soi_no = np.where(soi > 0, rng.integers(1, 100, k), 0)
    # Bangkok addresses always name a soi or a road.
    wants_road = (moo == 0) & ((rng.random(k) < 0.5) | (bangkok & (soi == 0)))
    road = np.where(wants_road, rng.integers(1, _N_ROADS + 1, k), 0)
    key = (area * 999 + house - 1) * 100 + sub
    key = ((key * 16 + moo) * (_N_ROADS + 1) + soi) * 100 + soi_no
    return key * (_N_ROADS + 1) + road


class _Unique:
    """Hands out distinct values of one space, in a fixed order.

    Values are drawn in blocks and de-duplicated, keeping the order of first
    appearance, so a given seed always yields the same sequence.
    """

    def __init__(
        self,
        rng: np.random.Generator,
        draw: Callable[[np.random.Generator, int], Arr],
        hint: int,
    ) -> None:
        self._rng = rng
        self._draw = draw
        self._values = np.empty(0, dtype=np.int64)
        self._pos = 0
        self._hint = max(hint, 64)

    def _refill(self, missing: int) -> None:
        fresh = self._draw(self._rng, max(int(missing * 1.05) + 64, self._hint))
        pool = np.concatenate([self._values, fresh.astype(np.int64)])
        _, first = np.unique(pool, return_index=True)
        keep = np.zeros(pool.size, dtype=bool)
        keep[first] = True
        self._values = pool[keep]
        self._hint = 64

    def take(self, k: int) -> Arr:
        while self._pos + k > self._values.size:
            self._refill(self._pos + k - self._values.size)
        out = self._values[self._pos : self._pos + k]
        self._pos += k
        return out.copy()

    def one(self) -> int:
        return int(self.take(1)[0])


# --------------------------------------------------------------------------
# Population
# --------------------------------------------------------------------------


@dataclass
class _Group:
    """A planned fraud group: a ring, a multi-accounter or one isolated account."""

    typology: int
    size: int
    loc: int = _US
    role: str = ""  # "", "grow", "split" or "new" (generate_days only)
    late: int = 0  # trailing members created on day 2 ("grow")
    members: Arr = field(default_factory=lambda: np.empty(0, dtype=np.int64))


@dataclass
class _Population:
    """Everything the writers need, by person (account) and by row."""

    account_id: Arr
    account_num: Arr
    created: Arr
    typology: Arr
    ring_initial: Arr
    ring_final: Arr
    label: Arr
    row_person: Arr
    row_rank: Arr
    row_seen: Arr
    columns: dict[str, pa.Array]
    loan_person: Arr
    loans: dict[str, pa.Array]
    lineage: dict[int, dict[str, tuple[str, ...]]]


def _split_sizes(
    rng: np.random.Generator, amount: int, lo: int, hi: int
) -> tuple[list[int], int]:
    """Cut ``amount`` accounts into group sizes in [lo, hi]; return the rest."""
    sizes = np.arange(lo, hi + 1)
    weights = 1.0 / (sizes - lo + 2)
    weights /= weights.sum()
    out: list[int] = []
    while amount >= lo:
        size = int(rng.choice(sizes, p=weights))
        if amount - size < lo:
            size = amount if amount <= hi else amount - lo
        out.append(size)
        amount -= size
    return out, amount


def _chunk_sizes(
    rng: np.random.Generator, target: int, lo: int, hi: int, floor: int
) -> Arr:
    """Sizes drawn from [lo, hi] until ``target`` is covered (last one trimmed)."""
    out: list[int] = []
    left = target
    while left >= floor:
        size = min(int(rng.integers(lo, hi + 1)), left)
        out.append(size)
        left -= size
    return np.array(out, dtype=np.int64)


def _cumcount(codes: Arr) -> Arr:
    """Rank of each element among the earlier elements with the same code."""
    order = np.argsort(codes, kind="stable")
    ordered = codes[order]
    starts = np.r_[True, ordered[1:] != ordered[:-1]]
    index = np.arange(codes.size)
    first = np.maximum.accumulate(np.where(starts, index, 0))
    out = np.empty(codes.size, dtype=np.int64)
    out[order] = index - first
    return out


@dataclass(frozen=True)
class _Book:
    """How one kind of account borrows; amounts in one reporting currency.

    Attributes:
        products: P(0), P(1), P(2), P(3) products.
        mix: P(credit card), P(unsecured loan), P(bnpl) per product.
        card_limit: Lognormal median and sigma of a card limit.
        card_use: Beta a and b of a card's balance over its limit.
        loan: Lognormal median and sigma of an unsecured loan.
        loan_terms: P(3), P(6), P(12 months) of an unsecured loan.
        loan_owed: Uniform range of the share of a loan still owed.
        bnpl: Lognormal median of a bnpl purchase (sigma 0.8).
        bnpl_owed: Uniform range of the share of a bnpl still owed.
    """

    products: tuple[float, float, float, float]
    mix: tuple[float, float, float]
    card_limit: tuple[float, float]
    card_use: tuple[float, float]
    loan: tuple[float, float]
    loan_terms: tuple[float, float, float]
    loan_owed: tuple[float, float]
    bnpl: float
    bnpl_owed: tuple[float, float]


# Indexed by typology code. Bust-outs also get, whatever this says: a first
# 12-month loan of about 9,000 (3,000-25,000) 93-100% owed, and cards at
# 90-102% of their limit; their other loans and bnpl are small and repaid.
_BOOKS = (
    _Book((.22, .45, .23, .10), (.40, .35, .25), (2500, .6), (1.3, 3.2),
          (3000, .7), (.20, .35, .45), (.05, 1.0), 180, (0.0, 1.0)),  # legit
    _Book((.05, .35, .40, .20), (.45, .35, .20), (1500, .5), (3.0, 1.6),
          (4000, .6), (.10, .30, .60), (0.5, 1.0), 300, (0.3, 1.0)),  # synthetic
    _Book((.00, .15, .45, .40), (.55, .05, .40), (5000, .4), (1.0, 1.0),
          (1500, .5), (.30, .40, .30), (0.0, 0.3), 150, (0.0, 0.2)),  # bust-out
    _Book((.10, .50, .30, .10), (.20, .30, .50), (1200, .5), (2.0, 2.0),
          (1500, .6), (.30, .40, .30), (0.3, 1.0), 250, (0.3, 1.0)),  # multi
)  # fmt: skip


def _book_table(name: str) -> Arr:
    """One :class:`_Book` attribute for every style, as an array."""
    return np.array([getattr(book, name) for book in _BOOKS], dtype=float)


def _categorical(rng: np.random.Generator, probs: Arr) -> Arr:
    """One draw per row of ``probs`` (each row sums to 1): the chosen column."""
    edges = np.cumsum(probs, axis=1)[:, :-1]
    return (rng.random((len(probs), 1)) >= edges).sum(axis=1)


class _Builder:
    """Builds a population; see the module docstring for what it contains.

    Steps: plan fraud groups and legit households, draw everyone's own
    identifiers, let households, hubs and fraud groups overwrite the shared
    ones, then derive emails, DOBs, labels, ids and loans, and finally the
    rows with their extra rows and noise, rendered to text.
    """

    def __init__(self, cfg: _Config, delta_days: int = 0) -> None:
        self.cfg = cfg
        self.delta_days = delta_days
        self.end_s = cfg.start_s + cfg.span_days * _DAY
        if delta_days:
            self.ring_end = self.end_s - (delta_days - 1) * _DAY
        else:
            self.ring_end = self.end_s
        names = _words("plan people house hubs fraud email label ids loans rows render")
        seqs = np.random.SeedSequence(cfg.seed).spawn(len(names) + 12)
        self.rng = {
            name: np.random.default_rng(s) for name, s in zip(names, seqs, strict=False)
        }
        spaces = iter(seqs[len(names) :])
        n = cfg.n

        def space(
            draw: Callable[[np.random.Generator, int], Arr], hint: int
        ) -> _Unique:
            return _Unique(np.random.default_rng(next(spaces)), draw, hint)

        self.ssn = space(_draw_ssn, n)
        self.bad_ssn = space(_draw_bad_ssn, n // 100)
        self.thai_body = space(_draw_thai_body, n // 2)
        self.phones = (space(_draw_us_phone, n), space(_draw_th_phone, n // 2))
        self.devices = space(_draw_device, n)
        self.ips = (
            space(_ip_drawer(_US_IP_FIRST), n),
            space(_ip_drawer(_TH_IP_FIRST), n // 2),
        )
        self.addresses = (space(_draw_us_address, n), space(_draw_th_address, n // 2))
        self.account_numbers = space(
            lambda rng, k: rng.integers(100_000_000, 1_000_000_000, k), n
        )
        self.groups: list[_Group] = []
        self.public_devices: list[Arr] = [np.empty(0, np.int64)] * 2
        self.nat_ips: list[Arr] = [np.empty(0, np.int64)] * 2
        self.family_heads: list[Arr] = [np.empty(0, np.int64)] * 2
        self.legit_by_loc: list[Arr] = [np.empty(0, np.int64)] * 2
        self.name_override: dict[int, str] = {}
        self.gmail_groups: list[Arr] = []
        self.dob_links: list[tuple[int, int, int]] = []
        self.handle_bias: list[int] = []
        self.split_bridge = -1
        self.split_off = np.empty(0, np.int64)
        self.lineage: dict[int, dict[str, tuple[str, ...]]] = {}

    # -- steps ---------------------------------------------------------------

    def build(self) -> _Population:
        """Run every step and return the rendered population."""
        self._plan()
        self._draw_people()
        self._households()
        self._hubs()
        for group in self.groups:
            self._fraud_group(group)
        self._dates_of_birth()
        self._emails()
        self._labels()
        ring_initial, ring_final = self._ring_ids()
        self._account_ids()
        loan_person, loans = self._loans()
        row_person, row_rank, row_seen, change = self._rows()
        columns = self._render(row_person, change)
        return _Population(
            account_id=self.account_id,
            account_num=self.account_num,
            created=self.created,
            typology=self.typ,
            ring_initial=ring_initial,
            ring_final=ring_final,
            label=self.label,
            row_person=row_person,
            row_rank=row_rank,
            row_seen=row_seen,
            columns=columns,
            loan_person=loan_person,
            loans=loans,
            lineage=self.lineage,
        )

    def _plan(self) -> None:
        """Plan the fraud groups; legit persons come first, fraud after."""
        cfg, rng = self.cfg, self.rng["plan"]
        target = round(cfg.n * cfg.fraud_rate)
        groups: list[_Group] = []
        if self.delta_days:
            early = int(rng.integers(5, 9))
            groups += [
                _Group(_SYNTHETIC, early + 3, role="grow", late=3),
                _Group(_SYNTHETIC, 9, role="split"),
                _Group(_SYNTHETIC, 6, role="new"),
            ]
        budget = max(0, target - sum(g.size for g in groups))
        isolated = round(0.1 * budget)
        rest = budget - isolated
        share = (0.35, 0.25, 0.20) if cfg.camouflaged else (0.45, 0.30, 0.25)
        synthetic = round(share[0] * rest)
        bust_out = round(share[1] * rest)
        multi = rest - synthetic - bust_out
        if cfg.camouflaged:
            multi = round(share[2] * rest)
        shares: list[tuple[int, int, int, int]] = [
            (_SYNTHETIC, synthetic, 4, 15),
            (_BUST_OUT, bust_out, 4, 15),
            (_MULTI, multi, 3, 8),
        ]
        if cfg.camouflaged:
            shares.append((_CAMOUFLAGED, rest - synthetic - bust_out - multi, 6, 15))
        for typology, amount, lo, hi in shares:
            sizes, left = _split_sizes(rng, amount, lo, hi)
            groups += [_Group(typology, size) for size in sizes]
            isolated += left
        groups += [_Group(_ISOLATED, 1) for _ in range(isolated)]

        n_fraud = sum(g.size for g in groups)
        self.n_legit = max(cfg.n - n_fraud, 0)
        self.n = self.n_legit + n_fraud
        locs = rng.choice(2, size=len(groups), p=cfg.locale_p)
        self.typ = np.zeros(self.n, dtype=np.int8)
        self.group_of = np.full(self.n, -1, dtype=np.int64)
        self.loc = np.zeros(self.n, dtype=np.int8)
        pos = self.n_legit
        for index, (group, loc) in enumerate(zip(groups, locs, strict=True)):
            group.loc = int(loc)
            group.members = np.arange(pos, pos + group.size)
            self.typ[group.members] = group.typology
            self.group_of[group.members] = index
            self.loc[group.members] = loc
            pos += group.size
        self.groups = groups

    def _plan_households(self) -> None:
        """Cut the legit persons into singles, families and roommates."""
        rng, n_legit = self.rng["house"], self.n_legit
        kind = rng.choice(3, size=max(n_legit, 1), p=[0.80, 0.15, 0.05])
        size = np.ones(kind.size, dtype=np.int64)
        family = kind == 1
        size[family] = rng.choice(
            [2, 3, 4, 5], size=family.sum(), p=[0.4, 0.3, 0.2, 0.1]
        )
        room = kind == 2
        size[room] = rng.choice([2, 3], size=room.sum(), p=[0.7, 0.3])
        total = np.cumsum(size)
        count = int(np.searchsorted(total, n_legit)) + 1
        size = size[:count].copy()
        size[-1] -= int(total[count - 1]) - n_legit
        self.hh_kind = kind[:count]
        self.hh_size = size
        self.hh_head = np.cumsum(size) - size
        self.hh_of = np.repeat(np.arange(count), size)
        self.hh_loc = rng.choice(2, size=count, p=self.cfg.locale_p).astype(np.int8)

    def _draw_people(self) -> None:
        """Give every person their own names, dates and identifiers."""
        rng, n, cfg = self.rng["people"], self.n, self.cfg
        self._plan_households()
        legit = slice(0, self.n_legit)
        self.loc[legit] = self.hh_loc[self.hh_of]
        us = self.loc == _US

        self.first = np.empty(n, dtype=np.int64)
        self.last = np.empty(n, dtype=np.int64)
        for loc, mask in ((_US, us), (_TH, ~us)):
            k = int(mask.sum())
            self.first[mask] = _NAME_OFFSET[loc][0] + rng.integers(
                0, _NAME_COUNT[loc][0], k
            )
            self.last[mask] = _NAME_OFFSET[loc][1] + rng.integers(
                0, _NAME_COUNT[loc][1], k
            )
        self.middle = np.where(
            us & (rng.random(n) < 0.12), rng.integers(0, _LETTERS.size, n), -1
        )

        # Creation time: platform growth, a weekly rhythm, an evening peak.
        day_w = np.linspace(0.6, 1.4, cfg.span_days)
        weekday = (np.arange(cfg.span_days) + cfg.start_s // _DAY + 3) % 7
        day_w *= np.array([1.0, 1.0, 1.0, 1.05, 1.1, 0.9, 0.85])[weekday]
        day = rng.choice(cfg.span_days, size=n, p=day_w / day_w.sum())
        hour = rng.choice(24, size=n, p=_HOUR_WEIGHTS / _HOUR_WEIGHTS.sum())
        self.created = cfg.start_s + day * _DAY + hour * 3600 + rng.integers(0, 3600, n)

        self.nid = np.empty(n, dtype=np.int64)
        self.nid[us] = self.ssn.take(int(us.sum()))
        body = self.thai_body.take(int((~us).sum()))
        self.nid[~us] = body * 10 + _thai_check(body)
        self.phone = np.empty(n, dtype=np.int64)
        self.ip = np.empty(n, dtype=np.int64)
        for loc, mask in ((_US, us), (_TH, ~us)):
            self.phone[mask] = self.phones[loc].take(int(mask.sum()))
            self.ip[mask] = self.ips[loc].take(int(mask.sum()))
        self.device = self.devices.take(n)

        # Typing errors make a few legit ids invalid.
        typo = np.flatnonzero(
            (np.arange(n) < self.n_legit) & (rng.random(n) < np.where(us, 0.003, 0.005))
        )
        for person in typo:
            self.nid[person] = self._invalid_nid(
                int(self.loc[person]), int(self.nid[person])
            )

        self.addr = np.empty(n, dtype=np.int64)
        self.unit = np.full(n, -1, dtype=np.int64)
        fraud = np.arange(n) >= self.n_legit
        for loc, mask in ((_US, us & fraud), (_TH, ~us & fraud)):
            self.addr[mask] = self.addresses[loc].take(int(mask.sum()))
        self.domain = np.empty(n, dtype=np.int64)
        for loc, mask in ((_US, us), (_TH, ~us)):
            self.domain[mask] = rng.choice(
                len(_EMAIL_DOMAINS), size=int(mask.sum()), p=_DOMAIN_P[loc]
            )
        self.pattern = rng.choice(
            8, size=n, p=[0.33, 0.14, 0.07, 0.14, 0.06, 0.05, 0.15, 0.06]
        )
        self.young = np.zeros(n, dtype=bool)
        self.seasoning = np.zeros(n, dtype=bool)

    def _invalid_nid(self, loc: int, value: int) -> int:
        if loc == _US:
            return self.bad_ssn.one()
        digit = value % 10
        wrong = (digit + 1 + int(self.rng["fraud"].integers(0, 9))) % 10
        return value - digit + wrong

    def _households(self) -> None:
        """Addresses (apartment buildings included) and sharing in households."""
        rng = self.rng["house"]
        count = self.hh_kind.size
        if self.n_legit == 0:
            return
        hh_addr = np.empty(count, dtype=np.int64)
        hh_unit = np.full(count, -1, dtype=np.int64)
        in_building = rng.random(count) < 0.28
        for loc in (_US, _TH):
            mine = self.hh_loc == loc
            solo = np.flatnonzero(mine & ~in_building)
            hh_addr[solo] = self.addresses[loc].take(solo.size)
            flats = rng.permutation(np.flatnonzero(mine & in_building))
            sizes = _chunk_sizes(rng, flats.size, 5, 150, 1)
            buildings = self.addresses[loc].take(sizes.size)
            hh_addr[flats] = np.repeat(buildings, sizes)
            hh_unit[flats] = np.arange(flats.size) - np.repeat(
                np.cumsum(sizes) - sizes, sizes
            )
        self.addr[: self.n_legit] = hh_addr[self.hh_of]
        self.unit[: self.n_legit] = hh_unit[self.hh_of]

        head = self.hh_head[self.hh_of]
        member = head != np.arange(self.n_legit)
        kind = self.hh_kind[self.hh_of]
        family = member & (kind == 1)
        roommate = member & (kind == 2)
        draws = rng.random((4, self.n_legit))
        for mask, target in (
            (family & (draws[0] < 0.85), self.last),
            (family & (draws[1] < 0.40), self.phone),
            ((family & (draws[2] < 0.30)) | (roommate & (draws[2] < 0.25)), self.ip),
            (family & (draws[3] < 0.12), self.device),
        ):
            target[: self.n_legit][mask] = target[head[mask]]

        families = (self.hh_kind == 1) & (self.hh_size >= 2)
        for loc in (_US, _TH):
            self.family_heads[loc] = self.hh_head[families & (self.hh_loc == loc)]
            self.legit_by_loc[loc] = np.flatnonzero(self.loc[: self.n_legit] == loc)

    def _hubs(self) -> None:
        """Public devices, carrier NAT IPs and call-centre phones."""
        rng = self.rng["hubs"]
        for loc in (_US, _TH):
            pool = self.legit_by_loc[loc]
            m = pool.size
            sizes = _chunk_sizes(rng, round(0.015 * m), 50, 500, 20)
            devices = self.devices.take(sizes.size)
            self._spread(rng, pool, sizes, devices, self.device)
            self.public_devices[loc] = devices
            sizes = _chunk_sizes(rng, round(0.10 * m), 100, 800, 30)
            ips = self.ips[loc].take(sizes.size)
            self._spread(rng, pool, sizes, ips, self.ip)
            self.nat_ips[loc] = ips
            sizes = rng.integers(100, 401, max(1, round(m / 200_000)))
            cap = 0.02 * m
            if sizes.sum() > cap:
                sizes = (sizes * cap / sizes.sum()).astype(np.int64)
            sizes = sizes[sizes >= 20]
            phones = self.phones[loc].take(sizes.size)
            self._spread(rng, pool, sizes, phones, self.phone)

    @staticmethod
    def _spread(
        rng: np.random.Generator, pool: Arr, sizes: Arr, values: Arr, target: Arr
    ) -> None:
        if sizes.size == 0:
            return
        chosen = rng.choice(pool, size=int(sizes.sum()), replace=False)
        target[chosen] = np.repeat(values, sizes)

    # -- fraud ---------------------------------------------------------------

    def _group_times(self, group: _Group) -> None:
        rng = self.rng["fraud"]
        # three draws for every group, whatever its typology, so that
        # adding a typology leaves the others' draws as they were
        spans = {
            _SYNTHETIC: rng.uniform(0.5, 4.0),
            _BUST_OUT: rng.uniform(14, 56),
            _MULTI: rng.uniform(7, 42),
            _ISOLATED: 0.0,
        }
        if group.typology == _CAMOUFLAGED:
            spans[_CAMOUFLAGED] = rng.uniform(21, 84)
        spread = spans[group.typology] * _DAY
        first_delta = self.ring_end
        lo, hi = self.cfg.start_s, self.ring_end
        if group.role == "new":
            lo, hi = first_delta + _DAY, first_delta + 2 * _DAY
            spread = 0.8 * _DAY
        spread = min(spread, hi - lo - 1)
        t0 = int(rng.integers(lo, max(hi - int(spread), lo + 1)))
        early = group.size - group.late
        times = t0 + np.sort(rng.integers(0, int(spread) + 1, early))
        if group.late:
            late = np.sort(rng.integers(first_delta, first_delta + _DAY, group.late))
            times = np.concatenate([times, late])
        self.created[group.members] = times

    def _fraud_group(self, group: _Group) -> None:
        self._group_times(group)
        if group.role == "split":
            self._split_ring(group)
        elif group.typology in (_SYNTHETIC, _BUST_OUT):
            self._ring(group)
        elif group.typology == _MULTI:
            self._multi_account(group)
        elif group.typology == _CAMOUFLAGED:
            self._camouflaged_ring(group)
        else:
            self._isolated(group)

    def _ring(self, group: _Group) -> None:
        """Synthetic and bust-out rings: pooled devices, phones and addresses."""
        rng, mem, loc = self.rng["fraud"], group.members, group.loc
        m = mem.size

        def pool_source(pool: int, p: float) -> Arr:
            pool = min(pool, m)
            index = np.arange(m)
            use = rng.random(m) < p
            use[:pool] = True
            pick = np.where(index < pool, index, rng.integers(0, pool, m))
            return np.where(use, pick, index)

        src = pool_source(int(rng.integers(1, 4)), 0.8)
        dev = self.device[mem][src]
        src = pool_source(int(rng.integers(1, 5)), 0.6)
        phone = self.phone[mem][src]
        pool = int(rng.integers(1, 4))
        src = pool_source(pool, 0.55)
        addr, unit = self.addr[mem][src], self.unit[mem][src]
        if rng.random() < 0.25:  # the pool is a few units of one building
            shared = src < pool
            addr = np.where(shared, self.addr[mem[0]], addr)
            unit = np.where(shared, src, unit)

        # Camouflage: one link to a legit family's address or a public device.
        camo = np.full(m, "", dtype=object)
        if group.role == "":
            chosen = rng.random(m) < 0.33
            chosen[0] = False
            for j in np.flatnonzero(chosen):
                camo[j] = self._camouflage(loc, rng, allow_device=True)
                if camo[j] == "address":
                    head = int(rng.choice(self.family_heads[loc]))
                    addr[j], unit[j] = self.addr[head], self.unit[head]
                elif camo[j] == "device":
                    dev[j] = rng.choice(self.public_devices[loc])

        # Every member shares something with an earlier one, so each prefix
        # of the ring (in creation order) is connected.
        for i in range(1, m):
            linked = (
                (dev[:i] == dev[i]).any()
                or (phone[:i] == phone[i]).any()
                or ((addr[:i] == addr[i]) & (unit[:i] == unit[i])).any()
            )
            if linked:
                continue
            kinds = [k for k in ("device", "phone", "address") if k != camo[i]]
            kind = kinds[int(rng.integers(0, len(kinds)))]
            if kind == "device":
                dev[i] = dev[0]
            elif kind == "phone":
                phone[i] = phone[0]
            else:
                addr[i], unit[i] = addr[0], unit[0]
        self.device[mem], self.phone[mem] = dev, phone
        self.addr[mem], self.unit[mem] = addr, unit

        self._ring_ips(group, rng)
        self._ring_national_ids(group, rng)
        young = rng.random(m) < 0.7
        self.young[mem] = young
        self.handle_bias.extend(mem.tolist())

    def _camouflage(
        self, loc: int, rng: np.random.Generator, allow_device: bool
    ) -> str:
        can_address = self.family_heads[loc].size > 0
        can_device = allow_device and self.public_devices[loc].size > 0
        if can_device and (not can_address or rng.random() < 0.4):
            return "device"
        return "address" if can_address else ""

    def _ring_ips(self, group: _Group, rng: np.random.Generator) -> None:
        mem, loc = group.members, group.loc
        own = self.ip[mem]
        pool = own[: int(rng.integers(1, 3))]
        mode = rng.random(mem.size)
        ips = own.copy()
        pooled = mode < 0.35
        ips[pooled] = rng.choice(pool, size=int(pooled.sum()))
        nat = (mode >= 0.35) & (mode < 0.65) & (self.nat_ips[loc].size > 0)
        if nat.any() and group.role == "":
            ips[nat] = rng.choice(self.nat_ips[loc], size=int(nat.sum()))
        self.ip[mem] = ips

    def _ring_national_ids(self, group: _Group, rng: np.random.Generator) -> None:
        """Fabricated (20%), borrowed (30%), copied in-ring (25%), invalid (25%)."""
        mem, loc = group.members, group.loc
        victims = self.legit_by_loc[loc]
        mode = rng.choice(4, size=mem.size, p=[0.20, 0.30, 0.25, 0.25])
        for i, person in enumerate(mem):
            if mode[i] == 1 and victims.size and group.role == "":
                self.nid[person] = self.nid[int(rng.choice(victims))]
            elif mode[i] == 2 and i > 0:
                self.nid[person] = self.nid[mem[int(rng.integers(0, i))]]
            elif mode[i] == 3:
                self.nid[person] = self._invalid_nid(loc, int(self.nid[person]))

    def _split_ring(self, group: _Group) -> None:
        """Two cliques of four joined by one bridging account (member 4)."""
        rng, mem = self.rng["fraud"], group.members
        a, bridge, b = mem[:4], int(mem[4]), mem[5:]
        self.device[a], self.phone[a] = self.device[a[0]], self.phone[a[0]]
        self.device[b], self.phone[b] = self.device[b[0]], self.phone[b[0]]
        self.phone[bridge], self.device[bridge] = self.phone[a[0]], self.device[b[0]]
        for person in mem:
            if rng.random() < 0.3:
                self.nid[person] = self._invalid_nid(group.loc, int(self.nid[person]))
        self.young[mem] = rng.random(mem.size) < 0.7
        self.split_bridge = bridge
        self.split_off = b.copy()

    def _multi_account(self, group: _Group) -> None:
        """One person, several accounts on one device."""
        rng, mem, loc = self.rng["fraud"], group.members, group.loc
        base = int(mem[0])
        mode = rng.choice(["phone", "email", "both"], p=[0.45, 0.40, 0.15])
        self.device[mem] = self.device[base]
        if mode != "email":
            self.phone[mem] = self.phone[base]
        if mode != "phone":
            self.domain[base] = _GMAIL
            self.pattern[base] = 0
            self.gmail_groups.append(mem.copy())
        self.first[mem], self.last[mem] = self.first[base], self.last[base]
        self.middle[mem] = -1
        first, last = str(_FIRST[self.first[base]]), str(_LAST[self.last[base]])
        for person in mem[1:]:
            self.name_override[int(person)] = _name_variant(rng, first, last)
            shift = 0
            if rng.random() < 0.25:
                shift = int(rng.choice([-365, -30, -1, 1, 30, 365]))
            self.dob_links.append((int(person), base, shift))
            roll = rng.random()
            if roll < 0.20:
                self.nid[person] = self.nid[base]
            elif roll < 0.45:
                self.nid[person] = self._invalid_nid(loc, int(self.nid[person]))
            if rng.random() < 0.5:
                self.addr[person], self.unit[person] = self.addr[base], self.unit[base]
            roll = rng.random()
            if roll < 0.5:
                self.ip[person] = self.ip[base]
            elif roll < 0.7 and self.nat_ips[loc].size:
                self.ip[person] = rng.choice(self.nat_ips[loc])
            if rng.random() < 0.33 and self._camouflage(loc, rng, False) == "address":
                head = int(rng.choice(self.family_heads[loc]))
                self.addr[person], self.unit[person] = self.addr[head], self.unit[head]

    def _camouflaged_ring(self, group: _Group) -> None:
        """A chain of two-holder devices and phones among borrowed identifiers.

        Member ``i`` shares a device (``i`` odd) or a phone (``i`` even) with
        member ``i - 1`` and nothing else with the ring; see :func:`generate`.
        """
        rng, mem, loc = self.rng["fraud"], group.members, group.loc
        for i in range(1, mem.size):
            target = self.device if i % 2 else self.phone
            target[mem[i]] = target[mem[i - 1]]
        heads, victims = self.family_heads[loc], self.legit_by_loc[loc]
        nat = self.nat_ips[loc]
        for person in mem:
            if heads.size and rng.random() < 0.7:
                head = int(rng.choice(heads))
                self.addr[person], self.unit[person] = self.addr[head], self.unit[head]
            if nat.size and rng.random() < 0.6:
                self.ip[person] = rng.choice(nat)
            if victims.size and rng.random() < 0.3:
                self.nid[person] = self.nid[int(rng.choice(victims))]
        self.seasoning[mem] = rng.random(mem.size) < 0.5

    def _isolated(self, group: _Group) -> None:
        rng = self.rng["fraud"]
        person = int(group.members[0])
        if rng.random() < 0.3:
            self.nid[person] = self._invalid_nid(group.loc, int(self.nid[person]))
        self.handle_bias.append(person)

    # -- derived attributes -------------------------------------------------

    def _dates_of_birth(self) -> None:
        rng, n = self.rng["people"], self.n
        age = np.clip(18 + rng.gamma(2.2, 9.0, n), 18, 85)
        age = np.where(self.young & (rng.random(n) < 0.5), rng.uniform(19, 31, n), age)
        self.dob = self.created // _DAY - (age * 365.25).astype(np.int64)
        for person, base, shift in self.dob_links:
            self.dob[person] = self.dob[base] + shift

    def _emails(self) -> None:
        """Name-based emails, unique after gmail-style canonicalisation."""
        rng, n = self.rng["email"], self.n
        biased = np.array(self.handle_bias, dtype=np.int64)
        self.pattern[biased] = np.where(
            rng.random(biased.size) < 0.2, 7, self.pattern[biased]
        )
        for members in self.gmail_groups:
            self.pattern[members[0]] = 0
        first, last = _FIRST_LOWER[self.first], _LAST_LOWER[self.last]
        year = _padded(2)[(1970 + self.dob // 365.25).astype(np.int64) % 100]
        handle = _obj(_HANDLE_WORDS)[rng.integers(0, len(_HANDLE_WORDS), n)]
        builders: list[Callable[[Arr], Arr]] = [
            lambda m: first[m] + "." + last[m],
            lambda m: first[m] + last[m],
            lambda m: first[m] + "_" + last[m],
            lambda m: _FIRST_INITIAL[self.first[m]] + last[m],
            lambda m: first[m] + _LAST_INITIAL[self.last[m]],
            lambda m: last[m] + "." + first[m],
            lambda m: first[m] + year[m],
            lambda m: handle[m] + _plain(10_000)[rng.integers(10, 10_000, int(m.size))],
        ]
        local = np.empty(n, dtype=object)
        for code, build in enumerate(builders):
            chosen = np.flatnonzero(self.pattern == code)
            if chosen.size:
                local[chosen] = build(chosen)

        domain = _obj(_EMAIL_DOMAINS)[self.domain]
        canon = _obj([s.replace(".", "") for s in local]) + "@" + domain
        codes = _factorize(canon)
        rank = _cumcount(codes)
        repeat = rank > 0
        local[repeat] = (
            local[repeat] + _plain(100_000)[np.minimum(rank[repeat], 99_999)]
        )
        while True:
            canon = _obj([s.replace(".", "") for s in local]) + "@" + domain
            dup = _duplicated(canon)
            if not dup.any():
                break
            local[dup] = local[dup] + _plain(10)[rng.integers(0, 10, int(dup.sum()))]

        gmail = self.domain == _GMAIL
        tagged = np.flatnonzero(gmail & (rng.random(n) < 0.02))
        local[tagged] = (
            local[tagged]
            + "+"
            + _obj(_PLUS_TAGS)[rng.integers(0, len(_PLUS_TAGS), tagged.size)]
        )
        capital = np.flatnonzero(rng.random(n) < 0.03)
        local[capital] = _obj([s.title() for s in local[capital]])
        self.email = local + "@" + domain
        for members in self.gmail_groups:
            base_local = str(local[members[0]]).split("+")[0]
            for person in members[1:]:
                self.email[person] = _gmail_variant(rng, base_local) + "@gmail.com"

    def _labels(self) -> None:
        """Known labels: legit at ``label_rate``, fraud at the same mean rate.

        Confirmed fraud mostly comes from defaults, so bust-outs (x2) and
        older accounts are more likely to carry a fraud label.
        """
        rng, n, rate = self.rng["label"], self.n, self.cfg.label_rate
        self.label = np.zeros(n, dtype=np.int8)
        legit = self.typ == _LEGIT
        self.label[legit & (rng.random(n) < rate)] = 1
        fraud = ~legit
        if fraud.any():
            age = (self.end_s - self.created) / (self.cfg.span_days * _DAY)
            weight = np.array([0.0, 1.0, 2.0, 0.8, 0.5, 1.0])[self.typ] * (0.5 + age)
            p = np.minimum(1.0, rate * weight / weight[fraud].mean())
            self.label[fraud & (rng.random(n) < p)] = 2

    def _ring_ids(self) -> tuple[Arr, Arr]:
        """Ring numbers in order of each ring's first account."""
        rings = [
            (int(self.created[g.members].min()), i)
            for i, g in enumerate(self.groups)
            if g.typology in _RING_TYPOLOGIES
        ]
        number = np.full(len(self.groups), -1, dtype=np.int64)
        for rank, (_, index) in enumerate(sorted(rings), start=1):
            number[index] = rank
        initial = np.full(self.n, -1, dtype=np.int64)
        fraud = self.group_of >= 0
        initial[fraud] = number[self.group_of[fraud]]
        final = initial.copy()
        by_role = {g.role: number[i] for i, g in enumerate(self.groups) if g.role}
        if self.delta_days:
            off = len(rings) + 1
            final[self.split_off] = off
            self.lineage[2] = {
                "grown": (f"T-{by_role['grow']}",),
                "split": (f"T-{by_role['split']}", f"T-{off}"),
            }
            self.lineage[3] = {"new": (f"T-{by_role['new']}",)}
        return initial, final

    def _account_ids(self) -> None:
        """Account numbers rise with creation time, with random gaps."""
        order = np.lexsort((np.arange(self.n), self.created))
        numbers = np.sort(self.account_numbers.take(self.n))
        self.account_num = np.empty(self.n, dtype=np.int64)
        self.account_num[order] = numbers
        self.account_id = "AC" + self.account_num.astype(str).astype(object)

    def _loans(self) -> tuple[Arr, dict[str, pa.Array]]:
        """0-3 products per account, drawn from the account's loan book.

        Isolated fraud borrows like a bust-out or a synthetic identity, half
        each; camouflaged ring members like a legit customer while seasoning,
        otherwise like a bust-out. Every bust-out's first product is the big
        12-month loan.
        """
        rng, n = self.rng["loans"], self.n
        style = self.typ.astype(np.int64)
        iso = np.flatnonzero(style == _ISOLATED)
        style[iso] = np.where(rng.random(iso.size) < 0.5, _BUST_OUT, _SYNTHETIC)
        camouflaged = style == _CAMOUFLAGED
        style[camouflaged] = np.where(self.seasoning[camouflaged], _LEGIT, _BUST_OUT)
        counts = _categorical(rng, _book_table("products")[style])
        counts[style == _BUST_OUT] = np.maximum(counts[style == _BUST_OUT], 1)
        person = np.repeat(np.arange(n), counts)
        rank = np.arange(person.size) - np.repeat(np.cumsum(counts) - counts, counts)
        s = style[person]
        k = person.size
        big = (s == _BUST_OUT) & (rank == 0)
        bust = s == _BUST_OUT

        # product: 0 credit card, 1 unsecured loan, 2 bnpl
        product = _categorical(rng, _book_table("mix")[s])
        product[big] = 1

        limit_med, limit_sigma = _book_table("card_limit")[s].T
        limit = np.round(rng.lognormal(np.log(limit_med), limit_sigma) / 100) * 100
        limit = np.clip(limit, 300, 20_000)
        use_a, use_b = _book_table("card_use")[s].T
        use = rng.beta(use_a, use_b)
        maxed = (s == _LEGIT) & (rng.random(k) < 0.07)
        use[maxed] = rng.beta(9, 1.2, int(maxed.sum()))
        use[bust] = rng.uniform(0.9, 1.02, int(bust.sum()))

        loan_med, loan_sigma = _book_table("loan")[s].T
        loan_med[big], loan_sigma[big] = 9000.0, 0.35
        loan = np.round(rng.lognormal(np.log(loan_med), loan_sigma) / 50) * 50
        loan = np.clip(loan, np.where(big, 3000, 300), 25_000)
        loan_term = np.array([3, 6, 12])[
            _categorical(rng, _book_table("loan_terms")[s])
        ]
        loan_term[big] = 12
        bnpl = np.clip(rng.lognormal(np.log(_book_table("bnpl")[s]), 0.8), 20, 3000)
        bnpl_term = rng.choice([1, 3, 6], size=k, p=[0.4, 0.4, 0.2])

        is_loan = product == 1
        owed_lo, owed_hi = np.where(
            is_loan, _book_table("loan_owed")[s].T, _book_table("bnpl_owed")[s].T
        )
        owed = rng.uniform(owed_lo, owed_hi)
        owed[big] = rng.uniform(0.93, 1.0, int(big.sum()))

        card = product == 0
        amount = np.where(is_loan, loan, np.round(bnpl, 2))
        balance = np.where(card, limit * use, amount * owed)
        names = _obj(["credit_card", "unsecured_loan", "bnpl"])
        loans = {
            "product": pa.array(names[product], pa.string()),
            "term_months": pa.array(
                np.where(is_loan, loan_term, bnpl_term), pa.int64(), mask=card
            ),
            "amount": pa.array(amount, pa.float64(), mask=card),
            "balance": pa.array(np.round(balance, 2), pa.float64()),
            "credit_limit": pa.array(limit, pa.float64(), mask=~card),
        }
        return person, loans

    # -- rows ----------------------------------------------------------------

    def _rows(self) -> tuple[Arr, Arr, Arr, Arr]:
        """Extra rows (new device or phone) and their observation times.

        Returns row person, row rank within the account, seen time and the
        change code (0 none, 1 device, 2 phone).
        """
        rng, n = self.rng["rows"], self.n
        extra = np.flatnonzero(rng.random(n) < 0.03)
        third = extra[rng.random(extra.size) < 0.10]
        second_seen = self.created[extra] + rng.integers(3600, 120 * _DAY, extra.size)
        second_seen = np.minimum(second_seen, self.end_s - 1)
        position = np.searchsorted(extra, third)
        third_seen = second_seen[position] + rng.integers(3600, 60 * _DAY, third.size)
        third_seen = np.minimum(third_seen, self.end_s - 1)
        persons = [np.arange(n), extra, third]
        ranks = [
            np.zeros(n, np.int64),
            np.ones(extra.size, np.int64),
            np.full(third.size, 2),
        ]
        seen = [self.created, second_seen, third_seen]
        changes = [np.zeros(n, np.int64), 1 + (rng.random(extra.size) < 0.4)]
        changes.append(1 + (rng.random(third.size) < 0.4))
        if self.split_bridge >= 0:
            bridge = self.split_bridge
            persons.append(np.array([bridge]))
            ranks.append(np.array([3]))
            seen.append(np.array([self.ring_end + int(rng.integers(0, _DAY))]))
            changes.append(np.array([1]))
        return (
            np.concatenate(persons),
            np.concatenate(ranks),
            np.concatenate(seen).astype(np.int64),
            np.concatenate(changes).astype(np.int64),
        )

    def _render(self, row_person: Arr, change: Arr) -> dict[str, pa.Array]:
        """Text of every row's name, DOB and identifiers, noise included.

        Placeholders and mangled numbers land on legit rows only: noise that
        many accounts share must never join a fraud ring.
        """
        rng = self.rng["render"]
        legit_row = self.typ[row_person] == _LEGIT
        noisy = np.flatnonzero(legit_row & (rng.random(row_person.size) < 0.005))
        noise_field = _pick(rng, noisy.size, _NOISE_FIELD_P)
        mangled = np.flatnonzero(legit_row & (rng.random(row_person.size) < 0.002))
        mangled = np.setdiff1d(mangled, noisy)
        mangled_phone = rng.random(mangled.size) < 0.6

        names = _render_names(rng, self.first, self.last, self.middle)
        for person, name in self.name_override.items():
            names[person] = name
        dob = np.datetime_as_string(self.dob.astype("datetime64[D]")).astype(object)
        columns = {
            "full_name": pa.array(names[row_person], pa.string()),
            "date_of_birth": pa.array(dob[row_person], pa.string()),
        }

        phone_text, phone_number = self._row_phones(rng, row_person, change == 2)
        address = _render_addresses(rng, self.addr, self.unit, self.loc)
        typo = np.flatnonzero((self.typ == _LEGIT) & (rng.random(self.n) < 0.005))
        address[typo] = _obj([_typo(rng, text) for text in address[typo]])
        device = _render_devices(self.device)[row_person]
        new_device = np.flatnonzero(change == 1)
        device[new_device] = _render_devices(self.devices.take(new_device.size))
        texts = {
            "national_id": _render_nids(rng, self.nid, self.loc)[row_person],
            "phone": phone_text,
            "email": self.email[row_person],
            "address": address[row_person],
            "device_id": device,
            "ip": _render_ips(self.ip)[row_person],
        }
        numbers = {"national_id": self.nid[row_person], "phone": phone_number}

        for index, name in enumerate(_IDENTIFIER_COLUMNS):
            text = texts[name]
            hit = noisy[noise_field == index]
            options = _obj(_PLACEHOLDERS[name])
            text[hit] = options[rng.integers(0, options.size, hit.size)]
            if name in numbers:
                hit = mangled[mangled_phone == (name == "phone")]
                text[hit] = _obj([format(int(v), ".5E") for v in numbers[name][hit]])
            columns[name] = pa.array(text, pa.string())
        return columns

    def _row_phones(
        self, rng: np.random.Generator, row_person: Arr, changed: Arr
    ) -> tuple[Arr, Arr]:
        """Phone text and number per row; ``changed`` rows get a new number."""
        number = self.phone[row_person]
        text = _render_phones(rng, self.phone, self.loc)[row_person]
        rows = np.flatnonzero(changed)
        loc = self.loc[row_person[rows]]
        fresh = np.empty(rows.size, dtype=np.int64)
        for code in (_US, _TH):
            fresh[loc == code] = self.phones[code].take(int((loc == code).sum()))
        number[rows] = fresh
        text[rows] = _render_phones(rng, fresh, loc)
        return text, number


def _factorize(values: Arr) -> Arr:
    """Integer codes of equal values (hash-based, order of first appearance)."""
    import pandas as pd

    codes, _ = pd.factorize(values)
    return np.asarray(codes, dtype=np.int64)


def _duplicated(values: Arr) -> Arr:
    codes = _factorize(values)
    return _cumcount(codes) > 0


# --------------------------------------------------------------------------
# Rendering
# --------------------------------------------------------------------------


def _render_names(rng: np.random.Generator, first: Arr, last: Arr, middle: Arr) -> Arr:
    n = first.size
    names = _FIRST[first] + " " + _LAST[last]
    has_middle = np.flatnonzero(middle >= 0)
    names[has_middle] = (
        _FIRST[first[has_middle]] + " " + _LETTERS[middle[has_middle]] + ". "
        + _LAST[last[has_middle]]
    )  # fmt: skip
    upper = np.flatnonzero(rng.random(n) < 0.015)
    names[upper] = _obj([s.upper() for s in names[upper]])
    return names


def _name_variant(rng: np.random.Generator, first: str, last: str) -> str:
    """A slightly different spelling of one person's name."""
    roll = rng.random()
    if roll < 0.2:
        return f"{_NICKNAMES.get(first, first)} {last}"
    if roll < 0.35:
        return f"{first[0]}. {last}"
    if roll < 0.5:
        return f"{first} {_LETTERS[int(rng.integers(0, _LETTERS.size))]}. {last}"
    if roll < 0.65:
        return f"{_swap_letters(rng, first)} {last}"
    if roll < 0.75:
        return f"{last} {first}"
    if roll < 0.85:
        return f"{first} {last}".upper()
    return f"{first} {last}"


def _swap_letters(rng: np.random.Generator, word: str) -> str:
    if len(word) < 3:
        return word
    i = int(rng.integers(1, len(word) - 1))
    return word[:i] + word[i + 1] + word[i] + word[i + 2 :]


def _typo(rng: np.random.Generator, text: str) -> str:
    """Drop or double one letter of the street part."""
    end = text.find(",")
    end = len(text) if end < 0 else end
    letters = [i for i in range(end) if text[i].isalpha()]
    if not letters:
        return text
    i = letters[int(rng.integers(0, len(letters)))]
    if rng.random() < 0.5:
        return text[:i] + text[i + 1 :]
    return text[:i] + text[i] + text[i:]


def _gmail_variant(rng: np.random.Generator, local: str) -> str:
    """Same gmail inbox: dots moved, a ``+tag`` added, letters capitalised."""
    bare = local.replace(".", "")
    cuts: list[int] = []
    if len(bare) > 1:
        count = min(int(rng.integers(0, 3)), len(bare) - 1)
        cuts = sorted(rng.choice(np.arange(1, len(bare)), count, replace=False))
    out, prev = [], 0
    for cut in cuts:
        out.append(bare[prev:cut])
        prev = cut
    out.append(bare[prev:])
    text = ".".join(out)
    if rng.random() < 0.5:
        text += "+" + _PLUS_TAGS[int(rng.integers(0, len(_PLUS_TAGS)))]
    if rng.random() < 0.15:
        text = text.capitalize()
    return text


def _pick(rng: np.random.Generator, n: int, p: Sequence[float]) -> Arr:
    return rng.choice(len(p), size=n, p=np.asarray(p) / np.sum(p))


def _render_phones(rng: np.random.Generator, values: Arr, loc: Arr) -> Arr:
    out = np.empty(values.size, dtype=object)
    p3, p4, p2 = _padded(3), _padded(4), _padded(2)
    us = np.flatnonzero(loc == _US)
    v = values[us]
    a, b, c = p3[v // 10**7], p3[(v // 10**4) % 1000], p4[v % 10**4]
    forms = [
        lambda m: a[m] + "-" + b[m] + "-" + c[m],
        lambda m: "(" + a[m] + ") " + b[m] + "-" + c[m],
        lambda m: a[m] + "." + b[m] + "." + c[m],
        lambda m: "+1 " + a[m] + " " + b[m] + " " + c[m],
        lambda m: a[m] + b[m] + c[m],
        lambda m: "+1" + a[m] + b[m] + c[m],
    ]
    _fill(out, us, _pick(rng, us.size, [0.4, 0.2, 0.1, 0.15, 0.1, 0.05]), forms)
    th = np.flatnonzero(loc == _TH)
    v = values[th]
    d, e, f = p2[v // 10**7], p3[(v // 10**4) % 1000], p4[v % 10**4]
    forms = [
        lambda m: "0" + d[m] + "-" + e[m] + "-" + f[m],
        lambda m: "+66 " + d[m] + " " + e[m] + " " + f[m],
        lambda m: "0" + d[m] + e[m] + f[m],
        lambda m: "+66" + d[m] + e[m] + f[m],
    ]
    _fill(out, th, _pick(rng, th.size, [0.45, 0.2, 0.25, 0.1]), forms)
    return out


def _fill(
    out: Arr, where: Arr, codes: Arr, forms: Sequence[Callable[[Arr], Arr]]
) -> None:
    """``out[where[i]] = forms[codes[i]](i)``, one vectorised call per form."""
    for code, form in enumerate(forms):
        chosen = np.flatnonzero(codes == code)
        if chosen.size:
            out[where[chosen]] = form(chosen)


def _render_nids(rng: np.random.Generator, values: Arr, loc: Arr) -> Arr:
    out = np.empty(values.size, dtype=object)
    p2, p3, p4, p5 = _padded(2), _padded(3), _padded(4), _padded(5)
    us = np.flatnonzero(loc == _US)
    v = values[us]
    a, g, s = p3[v // 10**6], p2[(v // 10**4) % 100], p4[v % 10**4]
    forms = [
        lambda m: a[m] + "-" + g[m] + "-" + s[m],
        lambda m: a[m] + " " + g[m] + " " + s[m],
        lambda m: a[m] + g[m] + s[m],
    ]
    _fill(out, us, _pick(rng, us.size, [0.7, 0.1, 0.2]), forms)
    th = np.flatnonzero(loc == _TH)
    v = values[th]
    parts = (
        _plain(10)[v // 10**12],
        p4[(v // 10**8) % 10**4],
        p5[(v // 10**3) % 10**5],
        p2[(v // 10) % 100],
        _plain(10)[v % 10],
    )
    forms = [
        lambda m: parts[0][m] + "-" + parts[1][m] + "-" + parts[2][m] + "-"
        + parts[3][m] + "-" + parts[4][m],
        lambda m: parts[0][m] + parts[1][m] + parts[2][m] + parts[3][m] + parts[4][m],
    ]  # fmt: skip
    _fill(out, th, _pick(rng, th.size, [0.55, 0.45]), forms)
    return out


def _render_devices(values: Arr) -> Arr:
    v = values.view(np.uint64)
    h = _hex4()
    mask = np.uint64(0xFFFF)
    return (
        h[(v >> np.uint64(48)) & mask] + h[(v >> np.uint64(32)) & mask]
        + h[(v >> np.uint64(16)) & mask] + h[v & mask]
    )  # fmt: skip


def _render_ips(values: Arr) -> Arr:
    octet = _plain(256)
    return (
        octet[(values >> 24) & 255] + "." + octet[(values >> 16) & 255] + "."
        + octet[(values >> 8) & 255] + "." + octet[values & 255]
    )  # fmt: skip


def _render_addresses(rng: np.random.Generator, keys: Arr, units: Arr, loc: Arr) -> Arr:
    out = np.empty(keys.size, dtype=object)
    us = np.flatnonzero(loc == _US)
    out[us] = _render_us_addresses(rng, keys[us], units[us])
    th = np.flatnonzero(loc == _TH)
    out[th] = _render_th_addresses(rng, keys[th], units[th])
    upper = np.flatnonzero(rng.random(keys.size) < 0.02)
    out[upper] = _obj([s.upper() for s in out[upper]])
    return out


def _render_us_addresses(rng: np.random.Generator, keys: Arr, units: Arr) -> Arr:
    n = keys.size
    rest = keys.copy()
    number = rest % 9999 + 1
    rest //= 9999
    direction = rest % _N_DIRECTIONS
    rest //= _N_DIRECTIONS
    suffix = rest % _N_SUFFIXES
    rest //= _N_SUFFIXES
    street = rest % _N_STREETS
    city = rest // _N_STREETS

    dir_table = np.array([[f"{d} " if d else "" for d in row] for row in _DIRECTIONS],
                         dtype=object).T  # fmt: skip
    suffix_table = np.array(_US_SUFFIXES, dtype=object).T
    state_table = np.array([[c[1] for c in _US_CITIES], [c[2] for c in _US_CITIES]],
                           dtype=object)  # fmt: skip
    zips = _padded(5)[
        np.array([c[3] for c in _US_CITIES])[city] + (street * 7 + suffix) % 4
    ]
    city_names = _obj([c[0] for c in _US_CITIES])

    text = (
        _plain(10_000)[number] + " "
        + dir_table[_pick(rng, n, [0.75, 0.12, 0.13]), direction]
        + _street_forms()[(rng.random(n) < 0.2).astype(np.int64), street] + " "
        + suffix_table[_pick(rng, n, [0.55, 0.35, 0.10]), suffix]
    )  # fmt: skip
    flat = np.flatnonzero(units >= 0)
    if flat.size:
        label = _unit_labels()[keys[flat] % 2, np.minimum(units[flat], 999)]
        sep = np.where(rng.random(flat.size) < 0.6, " ", ", ").astype(object)
        prefix = _obj(_UNIT_PREFIXES)[_pick(rng, flat.size, _UNIT_PREFIX_P)]
        text[flat] = text[flat] + sep + prefix + label
    state = state_table[(rng.random(n) < 0.1).astype(np.int64), city]
    return text + ", " + city_names[city] + ", " + state + " " + zips


def _render_th_addresses(rng: np.random.Generator, keys: Arr, units: Arr) -> Arr:
    n = keys.size
    rest = keys.copy()
    road = rest % (_N_ROADS + 1)
    rest //= _N_ROADS + 1
    soi_no = rest % 100
    rest //= 100
    soi = rest % (_N_ROADS + 1)
    rest //= _N_ROADS + 1
    moo = rest % 16
    rest //= 16
    sub = rest % 100
    rest //= 100
    house = rest % 999 + 1
    area = rest // 999

    roads = _obj(["", *_TH_ROADS])
    plain = _plain(1000)
    sub_forms, dist_forms, prov_forms = _th_area_forms()
    text = plain[house] + np.where(sub > 0, "/" + plain[sub], "").astype(object)
    moo_word = _obj(["Moo ", "M. ", "Mu "])[_pick(rng, n, [0.82, 0.12, 0.06])]
    text = text + np.where(moo > 0, " " + moo_word + plain[moo], "").astype(object)
    soi_word = _obj(["Soi ", "Soi. "])[_pick(rng, n, [0.9, 0.1])]
    text = text + np.where(
        soi > 0, ", " + soi_word + roads[soi] + " " + plain[soi_no], ""
    ).astype(object)
    road_word = _obj([" Road", " Rd.", " Rd"])[_pick(rng, n, [0.6, 0.3, 0.1])]
    road_sep = np.where(soi > 0, ", ", " ").astype(object)
    text = text + np.where(road > 0, road_sep + roads[road] + road_word, "").astype(
        object
    )

    flat = np.flatnonzero(units >= 0)
    if flat.size:
        room = _obj(["Room ", "Rm ", "#", "Unit "])[
            _pick(rng, flat.size, [0.6, 0.2, 0.1, 0.1])
        ]
        condo = _obj(_TH_CONDOS)[keys[flat] % len(_TH_CONDOS)]
        label = _unit_labels()[2, np.minimum(units[flat], 999)]
        text[flat] = room + label + ", " + condo + ", " + text[flat]
    postcode = _obj([a[3] for a in _TH_AREAS])[area]
    return (
        text + ", " + sub_forms[_pick(rng, n, [0.8, 0.2]), area]
        + ", " + dist_forms[_pick(rng, n, [0.72, 0.2, 0.08]), area]
        + ", " + prov_forms[_pick(rng, n, [0.9, 0.1]), area] + " " + postcode
    )  # fmt: skip


# --------------------------------------------------------------------------
# Writing
# --------------------------------------------------------------------------


def _iso(seconds: Arr) -> pa.Array:
    text = np.datetime_as_string(seconds.astype("datetime64[s]"))
    return pa.array(text.astype(object), pa.string())


def _write_set(
    pop: _Population,
    out: Path,
    fmt: str,
    rows: Arr,
    truth_persons: Arr,
    *,
    final_rings: bool,
    loan_persons: Arr | None = None,
    with_seen: bool = False,
) -> GeneratedFiles:
    """Write the accounts, loans and truth files of a subset of the population."""
    out.mkdir(parents=True, exist_ok=True)
    if loan_persons is None:
        loan_persons = truth_persons

    # accounts: by creation (or observation) time, account, row rank
    person = pop.row_person[rows]
    when = pop.row_seen[rows] if with_seen else pop.created[person]
    order = np.lexsort((pop.row_rank[rows], pop.account_num[person], when))
    rows, person = rows[order], person[order]
    take = pa.array(rows)
    labels = _obj([None, "legit", "fraud"])[pop.label[person]]
    data: dict[str, pa.Array] = {
        "account_id": pa.array(pop.account_id[person], pa.string()),
        "created_at": _iso(pop.created[person]),
    }
    for name in _ACCOUNT_COLUMNS[2:-1]:
        data[name] = pop.columns[name].take(take)
    data["label"] = pa.array(labels, pa.string())
    if with_seen:
        data["seen_at"] = _iso(pop.row_seen[rows])
    accounts = out / f"accounts.{fmt}"
    _write_table(pa.table(data), accounts, fmt)

    # loans of the chosen accounts, in account order
    wanted = np.zeros(pop.created.size, dtype=bool)
    wanted[loan_persons] = True
    loan_rows = np.flatnonzero(wanted[pop.loan_person])
    loan_rows = loan_rows[
        np.argsort(pop.account_num[pop.loan_person[loan_rows]], kind="stable")
    ]
    loan_data = {
        "account_id": pa.array(pop.account_id[pop.loan_person[loan_rows]], pa.string())
    }
    for name, column in pop.loans.items():
        loan_data[name] = column.take(pa.array(loan_rows))
    loans = out / "loans.csv"
    _write_table(pa.table(loan_data), loans, "csv")

    # truth
    persons = truth_persons[np.argsort(pop.account_num[truth_persons], kind="stable")]
    ring = (pop.ring_final if final_rings else pop.ring_initial)[persons]
    ring_text = np.full(persons.size, None, dtype=object)
    ring_text[ring > 0] = "T-" + ring[ring > 0].astype(str).astype(object)
    typology = _obj(_TYPOLOGY_NAMES)[pop.typology[persons]]
    is_fraud = (pop.typology[persons] != _LEGIT).astype(np.int64)
    truth_table = pa.table(
        {
            "account_id": pa.array(pop.account_id[persons], pa.string()),
            "ring_id": pa.array(ring_text, pa.string()),
            "typology": pa.array(typology, pa.string()),
            "is_fraud": pa.array(is_fraud, pa.int64()),
        }
    )
    truth = out / "truth.csv"
    _write_table(truth_table, truth, "csv")
    return GeneratedFiles(
        accounts=accounts,
        loans=loans,
        truth=truth,
        n_accounts=int(persons.size),
        n_fraud=int(is_fraud.sum()),
        n_rings=int(np.unique(ring[ring > 0]).size),
    )


def _write_table(table: pa.Table, path: Path, fmt: str) -> None:
    if fmt == "csv":
        import pyarrow.csv as pacsv

        options = pacsv.WriteOptions(quoting_style="needed")
        pacsv.write_csv(table, path, write_options=options)
    elif fmt == "parquet":
        import pyarrow.parquet as pq

        pq.write_table(table, path)
    else:
        # pandas holds a whole frame as Python objects: write in slices.
        with path.open("w", encoding="utf-8") as out:
            for start in range(0, table.num_rows, _JSON_CHUNK):
                frame = table.slice(start, _JSON_CHUNK).to_pandas()
                text = frame.to_json(orient="records", lines=True, force_ascii=False)
                out.write(text if text.endswith("\n") else text + "\n")
