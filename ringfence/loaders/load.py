"""Load account and loan tables into a graph store.

Pipeline, per file:

1. open every input and check its columns before anything is written;
2. stream rows in batches, normalising identifiers; a row that cannot be
   used is rejected (written to the rejects file with its line, column,
   value and reason), a value that must never link (placeholder, mangled)
   is dropped from the row and written to the ignored-values file;
3. write each batch to the store inside one load;
4. check the reject rate and the accounting ``accepted + rejected = read``;
   only then is the load committed and the report files moved in place.
"""

from __future__ import annotations

import csv
import datetime as dt
import gc
import io
import logging
import math
import multiprocessing as mp
import os
import pickle
import re
import time
import unicodedata
from bisect import bisect_left
from collections import Counter, deque
from collections.abc import Callable, Generator, Iterable, Iterator, Sequence
from contextlib import closing
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from ringfence.config import Config, national_id_key
from ringfence.errors import ConfigError, InputError
from ringfence.graph.base import LoadTarget, LoadWriter
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
from ringfence.loaders.sources import (
    ERROR_KEY,
    NESTED_KEY,
    UNDECODABLE_RE,
    CsvRange,
    TableSource,
    read_csv_range,
    shown_names,
)
from ringfence.model import AccountRow, Identifier, IdentifierRow, ProductRow

__all__ = [
    "LoadReport",
    "check_national_id_key",
    "load_files",
    "parse_timestamp",
    "phone_in_regions",
    "phone_regions",
]

logger = logging.getLogger(__name__)

ACCOUNT_REQUIRED = ("account_id", "created_at")
LOAN_REQUIRED = ("account_id", "product", "balance")
TERMS = {1, 3, 6, 12}
LABELS = {"fraud": "fraud", "legit": "legit", "unknown": None, "": None}
_ADDRESS_PARTS = ("address_line", "address_city", "address_postcode",
                  "address_country")
_PART_ALIASES = {"line": "address_line", "city": "address_city",
                 "postcode": "address_postcode", "zip": "address_postcode",
                 "country": "address_country"}
_COLUMN_ALIASES = {"device": "device_id", "ip_address": "ip", "dob": "date_of_birth",
                   "name": "full_name", "nid": "national_id"}
# Control characters (C0 and C1), invisible format characters (zero-width,
# direction overrides), line/paragraph separators and undecodable bytes:
# an id holding one looks like another id, or breaks the views that show it.
_BAD_ID_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Zl", "Zp"})
# Larger amounts are not money but mistakes, and their sums overflow.
_MAX_AMOUNT = 1e15
# ISO dates are held to the range epoch seconds are: 1970 up to 2100.
_MAX_EPOCH = 4_102_444_800
_REPORT_FIELDS = ["source", "line", "column", "value", "reason", "fix"]

ProgressFn = Callable[[int], None]


@dataclass(slots=True)
class LoadReport:
    """What one input file did to the store.

    ``rows_accepted + rows_rejected == rows_read`` always holds; the loader
    fails rather than report otherwise.
    """

    source: str
    table: str
    rows_read: int = 0
    rows_accepted: int = 0
    rows_rejected: int = 0
    ignored: dict[str, dict[str, int]] = field(default_factory=dict)
    empty: dict[str, int] = field(default_factory=dict)
    invalid: dict[str, int] = field(default_factory=dict)
    rejects_path: str | None = None
    ignored_path: str | None = None
    seconds: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "source": self.source,
            "table": self.table,
            "rows_read": self.rows_read,
            "rows_accepted": self.rows_accepted,
            "rows_rejected": self.rows_rejected,
            "values_ignored": self.ignored,
            "values_empty": self.empty,
            "values_invalid_kept": self.invalid,
            "rejects_path": self.rejects_path,
            "ignored_path": self.ignored_path,
            "seconds": round(self.seconds, 3),
        }


def parse_timestamp(text: str) -> int | None:
    """Parse an ISO 8601 date or date-time, or epoch seconds, to epoch seconds.

    Naive times are taken as UTC. Returns ``None`` when ``text`` is neither,
    or falls outside 1970-01-01 to 2099-12-31 (as epoch seconds must).

    Examples:
        >>> parse_timestamp("2026-03-02T10:15:00")
        1772446500
        >>> parse_timestamp("yesterday") is None
        True
    """
    text = text.strip()
    if not text:
        return None
    try:
        stamp = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        try:
            number = float(text)
        except ValueError:
            return None
        if not math.isfinite(number) or not 0 <= number < _MAX_EPOCH:
            return None
        return int(number)
    if stamp.tzinfo is None:
        stamp = stamp.replace(tzinfo=dt.UTC)
    seconds = int(stamp.timestamp())
    return seconds if 0 <= seconds < _MAX_EPOCH else None


def _account_id_ok(account_id: str) -> bool:
    """At most 128 characters, none of them control, invisible or bad bytes."""
    if len(account_id) > 128:
        return False
    if account_id.isascii():
        # The only ASCII characters of those categories are the controls,
        # exactly the ASCII characters that are not printable.
        return account_id.isprintable()
    return not any(
        unicodedata.category(c) in _BAD_ID_CATEGORIES for c in account_id
    )


def _undecodable_column(row: dict[str, str]) -> str | None:
    """The first column holding bytes that were not UTF-8, if any."""
    if not UNDECODABLE_RE.search("".join(row.values())):
        return None
    for column, value in row.items():
        if UNDECODABLE_RE.search(value):
            return column
    return None


def _nested_columns(row: dict[str, str]) -> set[str]:
    """Columns whose cell was an array or object (aliases resolved)."""
    names = row.pop(NESTED_KEY, "")
    if not names:  # every CSV row
        return set()
    return {_COLUMN_ALIASES.get(n, n) for n in names.split("\x00") if n}


def _sweep_parts(directory: Path) -> None:
    """Remove report files left half-written by loads that were killed.

    A ``.part`` file names the process writing it; one whose process is gone
    will never be finished.
    """
    for part in directory.glob(".*.part"):
        pid = part.name[: -len(".part")].rpartition(".")[2]
        if not pid.isdigit() or _alive(int(pid)):
            continue
        logger.info("removing %s, left by an interrupted load", part.name)
        part.unlink(missing_ok=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # another user's process
    return True


class _Reports:
    """Rejects and ignored-values files written while a load streams."""

    def __init__(self, directory: Path, stem: str) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        _sweep_parts(directory)
        self.final_rejects = directory / f"{stem}-rejects.csv"
        self.final_ignored = directory / f"{stem}-ignored.csv"
        pid = os.getpid()
        self._tmp_rejects = directory / f".{stem}-rejects.csv.{pid}.part"
        self._tmp_ignored = directory / f".{stem}-ignored.csv.{pid}.part"
        self._fh: list[IO[str]] = []
        self.rejects = self._writer(self._tmp_rejects)
        self.ignored = self._writer(self._tmp_ignored)

    def _writer(self, path: Path) -> Any:
        fh = open(path, "w", newline="", encoding="utf-8")
        self._fh.append(fh)
        writer = csv.writer(fh)
        writer.writerow(_REPORT_FIELDS)
        return writer

    def commit(self) -> None:
        for fh in self._fh:
            fh.close()
        os.replace(self._tmp_rejects, self.final_rejects)
        os.replace(self._tmp_ignored, self.final_ignored)

    def discard(self) -> None:
        for fh in self._fh:
            fh.close()
        for path in (self._tmp_rejects, self._tmp_ignored):
            path.unlink(missing_ok=True)


def _safe(value: str, column: str) -> str:
    kind = "national_id" if column == "national_id" else column
    return mask_value(kind, value)


class _AccountRows:
    """Turns raw account rows into account rows (:data:`AccountRow` tuples)."""

    def __init__(self, columns: Sequence[str], config: Config, source: str) -> None:
        self.source = source
        self.config = config
        cols = set(columns)
        self.has_parts = "address" not in cols and any(
            c in cols for c in _ADDRESS_PARTS
        )
        hasher: NationalIdHasher | None = None
        if "national_id" in cols:
            hasher = NationalIdHasher(national_id_key(config))
        self.hasher = hasher
        self.kinds: list[tuple[str, str, Callable[[str], Identifier | Skip]]] = []
        if hasher is not None:
            nid_hasher = hasher
            self.kinds.append(
                ("national_id", "national_id",
                 lambda v: normalize_national_id(v, nid_hasher))
            )
        if "phone" in cols:
            regions = phone_regions(config)
            self.kinds.append(
                ("phone", "phone", lambda v: phone_in_regions(v, regions))
            )
        if "email" in cols:
            self.kinds.append(("email", "email", normalize_email))
        if "address" in cols or self.has_parts:
            self.kinds.append(("address", "address", normalize_address))
        if "device_id" in cols:
            self.kinds.append(
                ("device", "device_id", lambda v: normalize_generic("device", v))
            )
        if "ip" in cols:
            self.kinds.append(("ip", "ip", lambda v: normalize_generic("ip", v)))
        for kind in config.extra_kinds:
            if kind in cols:
                self.kinds.append((kind, kind, _generic(kind)))

    def convert(
        self, line: int, row: dict[str, str], report: LoadReport, reports: _Reports,
        *, undecodable: bool = True,
    ) -> AccountRow | None:
        def reject(column: str, value: str, reason: str, fix: str) -> None:
            reports.rejects.writerow(
                [self.source, line, column, _safe(value, column), reason, fix]
            )

        nested = _row_problem(row, reject, ("account_id", "created_at", "seen_at"),
                              undecodable)
        if nested is None:
            return None
        account_id = row.get("account_id", "").strip()
        if not account_id:
            reject("account_id", "", "account_id is empty",
                   "every row needs the lender's account id")
            return None
        if not _account_id_ok(account_id):
            reject("account_id", account_id,
                   "account_id has control or invisible characters, or over 128 "
                   "chars",
                   "export ids as UTF-8 text without control characters")
            return None
        created_raw = row.get("created_at", "")
        created = parse_timestamp(created_raw)
        if created is None:
            reject("created_at", created_raw,
                   "created_at is not an ISO 8601 date-time or epoch seconds",
                   "write it like 2026-03-02T10:15:00 (UTC) or 2026-03-02")
            return None
        seen_raw = row.get("seen_at", "")
        seen = parse_timestamp(seen_raw) if seen_raw.strip() else created
        if seen is None:
            reject("seen_at", seen_raw, "seen_at is not an ISO 8601 date-time",
                   "write it like 2026-03-02T10:15:00 or leave it empty")
            return None

        def ignore(column: str, kind: str, value: str, reason: str) -> None:
            report.ignored.setdefault(kind, Counter())[reason] += 1
            reports.ignored.writerow(
                [self.source, line, column, _safe(value, column), reason,
                 "value kept out of the graph; the rest of the row is loaded"]
            )

        label_raw = row.get("label", "").strip().lower()
        if label_raw not in LABELS:
            ignore("label", "label", row.get("label", ""),
                   "label must be fraud, legit, unknown or empty")
            label = None
        else:
            label = LABELS[label_raw]

        identifiers: list[IdentifierRow] = []
        for kind, column, normalise in self.kinds:
            if column == "address" and self.has_parts:
                value = join_address_parts(
                    *(row.get(p) or row.get(_alias_of(p), "") for p in _ADDRESS_PARTS)
                )
            else:
                value = row.get(column, "")
            if column in nested:
                ignore(column, kind, value, "nested: an array or object, not one value")
                continue
            result = normalise(value)
            if isinstance(result, Skip):
                if result.reason == "empty":
                    report.empty[kind] = report.empty.get(kind, 0) + 1
                else:
                    ignore(column, kind, value, f"{result.reason}: {result.detail}")
                continue
            if not result.valid:
                report.invalid[kind] = report.invalid.get(kind, 0) + 1
            identifiers.append(
                (result.kind, result.key, result.display, result.valid,
                 result.extra)
            )

        return (
            account_id, created, seen,
            row.get("full_name", "").strip()[:200],
            row.get("date_of_birth", "").strip()[:32],
            label, tuple(identifiers),
        )


_KEY_CHECK = "national_id_key_check"


def check_national_id_key(
    store: LoadTarget, hasher: NationalIdHasher, *, record: bool = False
) -> None:
    """Refuse a national-id key other than the one the store was built with.

    The store keeps the hash of a fixed text under its key (it reveals
    nothing); a different key would silently stop national ids from ever
    matching what is stored.

    Args:
        store: The store.
        hasher: The hasher of the key in use.
        record: Remember this key when the store has none yet.

    Raises:
        ConfigError: The store was built with another key.
    """
    check = hasher("ringfence:key-check")
    kept = store.get_setting(_KEY_CHECK)
    if kept is None:
        if record:
            store.set_setting(_KEY_CHECK, check)
        return
    if kept != check:
        raise ConfigError(
            "the national ids in this store were hashed with another key: set "
            "RINGFENCE_NID_KEY (or national_id_key in the config) to the key "
            "of its earlier loads; a demo store keeps its key in "
            "<store>/demo-national-id.key"
        )


def _generic(kind: str) -> Callable[[str], Identifier | Skip]:
    return lambda value: normalize_generic(kind, value)


def phone_regions(config: Config) -> list[str]:
    """The default region first, then the other regions the lender serves."""
    region = config.default_region
    return [region] + [
        r for r in config.phone_regions if r.upper() != region.upper()
    ]


def phone_in_regions(value: str, regions: Sequence[str]) -> Identifier | Skip:
    """Normalise a phone with the first region under which it is valid.

    A number written without its country code is read as a number of the
    default region first, then of each other region the lender serves; a
    number valid under none keeps the default region's reading.
    """
    first = normalize_phone(value, regions[0])
    if isinstance(first, Skip) or first.valid or len(regions) == 1:
        return first
    for region in regions[1:]:
        other = normalize_phone(value, region)
        if isinstance(other, Identifier) and other.valid:
            return other
    return first


def _alias_of(part: str) -> str:
    for alias, name in _PART_ALIASES.items():
        if name == part:
            return alias
    return part


RejectFn = Callable[[str, str, str, str], None]


def _row_problem(
    row: dict[str, str], reject: RejectFn, single: Sequence[str],
    undecodable: bool = True,
) -> set[str] | None:
    """Reject a row the reader flagged, with bad bytes, or with a JSON
    array/object in one of the ``single``-valued columns.

    ``undecodable=False`` skips looking for bad bytes, known to be absent.

    Returns:
        ``None`` when the row was rejected, else its nested columns.
    """
    if ERROR_KEY in row:
        reject("", "", row[ERROR_KEY], "repair the row or re-export the file")
        return None
    nested = _nested_columns(row)
    bad = _undecodable_column(row) if undecodable else None
    if bad is not None:
        reject(bad, row[bad], f"{bad} holds bytes that are not UTF-8",
               "save the file as UTF-8")
        return None
    for column in single:
        if column in nested:
            reject(column, row[column],
                   f"{column} is a JSON array or object, not one value",
                   f"write one {column} per row")
            return None
    return nested


def _number(text: str) -> float | None:
    text = text.strip().replace(",", "")
    if not text:
        return None
    value = float(text)  # ValueError handled by the caller
    if not math.isfinite(value) or not 0 <= value < _MAX_AMOUNT:
        raise ValueError(text)
    return value


def _convert_loan(
    source: str, line: int, row: dict[str, str], reports: _Reports,
    *, undecodable: bool = True,
) -> ProductRow | None:
    def reject(column: str, value: str, reason: str, fix: str) -> None:
        reports.rejects.writerow([source, line, column, _safe(value, column), reason,
                                  fix])

    if _row_problem(row, reject, ("account_id", "product", "term_months",
                                  "amount", "balance", "credit_limit"),
                    undecodable) is None:
        return None
    account_id = row.get("account_id", "").strip()
    if not account_id or not _account_id_ok(account_id):
        reject("account_id", account_id, "account_id is empty or malformed",
               "every loan row needs the account id it belongs to")
        return None
    product = row.get("product", "").strip().lower()
    if not product:
        reject("product", "", "product is empty",
               "name the product, e.g. credit_card or unsecured_loan")
        return None
    term_raw = row.get("term_months", "").strip()
    term: int | None = None
    if term_raw:
        try:
            number = float(term_raw)
        except ValueError:
            number = math.nan
        term = int(number) if number.is_integer() else None
        if term not in TERMS:
            reject("term_months", term_raw, "term_months must be 1, 3, 6, 12 or empty",
                   "fix the term or leave it empty for revolving credit")
            return None
    values: dict[str, float | None] = {}
    for column in ("amount", "balance", "credit_limit"):
        raw = row.get(column, "")
        try:
            values[column] = _number(raw)
        except ValueError:
            reject(column, raw,
                   f"{column} is not a non-negative number below 10^15",
                   "write plain numbers like 1200.50")
            return None
    balance = values["balance"]
    if balance is None:
        reject("balance", "", "balance is empty",
               "write the outstanding balance (0 when repaid)")
        return None
    return (
        account_id, product, term, values["amount"], balance,
        values["credit_limit"], row.get("loan_id", "").strip()[:128],
    )


def _open_checked(path: Path, required: Sequence[str]) -> TableSource:
    source = TableSource(path)
    columns = [_COLUMN_ALIASES.get(c, c) for c in source.columns]
    both = sorted({a for a, c in zip(source.columns, columns, strict=True)
                   if a != c and c in source.columns})
    if both:
        raise InputError(
            f"{path}: both {', '.join(both)} and "
            f"{', '.join(_COLUMN_ALIASES[a] for a in both)} are present and mean "
            "the same column; keep one"
        )
    source.columns = columns
    missing = [c for c in required if c not in columns]
    separators = [n for s, n in ((";", "semicolons"), ("\t", "tabs"), ("|", "bars"))
                  if len(columns) == 1 and s in columns[0]]
    if missing and separators and source.format == "csv":
        raise InputError(
            f"{path}: the header has no commas but {separators[0]}; save the "
            "file comma-separated"
        )
    if missing:
        # Never echo the names as read: in a file without its header row
        # they are the first row's values (a national id among them).
        raise InputError(
            f"{path}: missing required column(s) {', '.join(missing)} "
            f"(found: {shown_names(columns)}); add or rename them"
        )
    return source


def _aliased(row: dict[str, str]) -> dict[str, str]:
    for alias, name in _COLUMN_ALIASES.items():
        if alias in row and name not in row:
            row[name] = row.pop(alias)
    return row


def load_files(
    store: LoadTarget,
    accounts: Sequence[str | Path],
    loans: Sequence[str | Path] = (),
    *,
    config: Config,
    reports_dir: str | Path,
    progress: ProgressFn | None = None,
) -> list[LoadReport]:
    """Load account and loan tables into ``store`` as one load.

    Args:
        store: Target store.
        accounts: Account tables (CSV, Parquet, JSONL).
        loans: Loan tables.
        config: Settings (normalisation region, national-id key, batch size,
            maximum reject rate).
        reports_dir: Where the rejects and ignored-values files go.
        progress: Called with the number of rows read since the last call.

    Returns:
        One report per file, in input order.

    Raises:
        InputError: A file is unreadable, lacks a required column or has
            more rejects than allowed. Nothing is committed then.
        ConfigError: A national-id column is present but no key is set.
    """
    # 1. open and check every input before writing anything
    sources = [(_open_checked(Path(p), ACCOUNT_REQUIRED), "accounts") for p in accounts]
    sources += [(_open_checked(Path(p), LOAN_REQUIRED), "loans") for p in loans]
    converters = {
        str(src.path): _AccountRows(src.columns, config, str(src.path))
        for src, table in sources
        if table == "accounts"
    }
    hashers = [c.hasher for c in converters.values() if c.hasher is not None]
    for hasher in hashers[:1]:
        check_national_id_key(store, hasher)
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%S%fZ")
    out: list[LoadReport] = []
    all_reports: list[_Reports] = []
    try:
        with store.load() as writer:
            # 2-3. stream, normalise and write each file
            for n, (src, table) in enumerate(sources):
                reports = _Reports(
                    Path(reports_dir), f"{stamp}-{n:02d}-{_slug(src.path.name)}"
                )
                all_reports.append(reports)
                report = LoadReport(source=str(src.path), table=table)
                started = time.perf_counter()
                _stream(src, table, converters.get(str(src.path)), writer, report,
                        reports, config, progress)
                report.seconds = time.perf_counter() - started
                _check(report, config, reports.final_rejects)
                report.rejects_path = str(reports.final_rejects)
                report.ignored_path = str(reports.final_ignored)
                out.append(report)
                for hasher in hashers[:1]:
                    check_national_id_key(store, hasher, record=True)
                logger.info(
                    "loaded %s: %d read, %d accepted, %d rejected in %.1fs",
                    src.path.name, report.rows_read, report.rows_accepted,
                    report.rows_rejected, report.seconds,
                )
    except InputError:
        # The graph is rolled back, but the rejects explain why: keep them.
        for reports in all_reports:
            reports.commit()
        raise
    except BaseException:
        for reports in all_reports:
            reports.discard()
        raise
    # 4. the store committed: publish the report files
    for reports in all_reports:
        reports.commit()
    for report in out:
        report.ignored = {k: dict(v) for k, v in report.ignored.items()}
    return out


def _slug(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name)[:60]


class _Rows(list[list[Any]]):
    """Collects report rows in a worker; has the csv writer's ``writerow``."""

    def writerow(self, row: list[Any]) -> None:
        self.append(row)


class _ChunkReports:
    def __init__(self) -> None:
        self.rejects = _Rows()
        self.ignored = _Rows()


@dataclass(slots=True)
class _Chunk:
    """What converting one chunk of rows produced, as plain tuples: they
    cross from a worker process several times faster than dataclasses."""

    records: list[AccountRow]
    products: list[ProductRow]
    report: LoadReport
    rejects: list[list[Any]]
    ignored: list[list[Any]]
    # Index among the chunk's rows of each record and of each product.
    record_rows: list[int]
    product_rows: list[int]


def _convert_chunk(
    table: str,
    converter: _AccountRows | None,
    source: str,
    rows: list[tuple[int, dict[str, str]]],
    *,
    undecodable: bool = True,
) -> _Chunk:
    """Convert rows; ``undecodable=False`` says no value holds bad bytes."""
    report = LoadReport(source=source, table=table)
    sink = _ChunkReports()
    records: list[AccountRow] = []
    products: list[ProductRow] = []
    record_rows: list[int] = []
    product_rows: list[int] = []
    for n, (line, row) in enumerate(rows):
        row = _aliased(row)
        if table == "accounts":
            assert converter is not None
            record = converter.convert(line, row, report, sink,  # type: ignore[arg-type]
                                       undecodable=undecodable)
            if record is None:
                report.rows_rejected += 1
            else:
                records.append(record)
                record_rows.append(n)
        else:
            product = _convert_loan(source, line, row, sink,  # type: ignore[arg-type]
                                    undecodable=undecodable)
            if product is None:
                report.rows_rejected += 1
            else:
                products.append(product)
                product_rows.append(n)
    report.rows_read = len(rows)
    report.rows_accepted = len(records) + len(products)
    return _Chunk(records, products, report, sink.rejects, sink.ignored,
                  record_rows, product_rows)


# Smaller files are converted here: starting workers would cost more.
_POOL_BYTES = 4 << 20
# Worker processes receive the converter once, when they start.
_WORKER: dict[str, Any] = {}


def _worker_init(table: str, converter: _AccountRows | None, source: str) -> None:
    _WORKER.update(table=table, converter=converter, source=source)
    # A worker only converts rows, which makes no reference cycles, while
    # the normalisers' caches grow to millions of objects that the cyclic
    # collector would walk again and again (a fifth of the conversion
    # time). Reference counting frees everything; the worker ends with the
    # load.
    gc.disable()


def _packed(value: Any) -> bytes:
    """Pickle a worker's result without the pickler's memo.

    A chunk is a tree of tuples, lists and strings without cycles; the memo
    would only record each of its million objects (three quarters of the
    pickling time). Shared objects arrive as copies, which is harmless here.
    """
    buf = io.BytesIO()
    pickler = pickle.Pickler(buf, pickle.HIGHEST_PROTOCOL)
    pickler.fast = True
    pickler.dump(value)
    return buf.getvalue()


def _worker_convert(rows: list[tuple[int, dict[str, str]]]) -> bytes:
    return _packed(_convert_chunk(_WORKER["table"], _WORKER["converter"],
                                  _WORKER["source"], rows))


def _chunks_of(
    rows: Iterable[tuple[int, dict[str, str]]], size: int
) -> Iterator[list[tuple[int, dict[str, str]]]]:
    chunk: list[tuple[int, dict[str, str]]] = []
    for item in rows:
        chunk.append(item)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def _worker_convert_range(rng: CsvRange) -> bytes:
    part = read_csv_range(Path(_WORKER["source"]), rng)
    chunk = _convert_chunk(_WORKER["table"], _WORKER["converter"], _WORKER["source"],
                           part.rows, undecodable=part.undecodable)
    return _packed((chunk, part.open_end))


def _settle(results: Iterable[Any]) -> None:
    """Wait for tasks whose results are dropped (a range cut wrongly, an
    error, a load given up): a pool terminated while a worker sends a result
    can hang for good."""
    for result in results:
        result.wait()


def _pooled_rows(
    pool: Any, chunks: Iterator[list[tuple[int, dict[str, str]]]], workers: int
) -> Iterator[_Chunk]:
    """Chunks of rows read here, converted by the pool, in file order."""
    pending: deque[Any] = deque()
    try:
        for rows in chunks:
            pending.append(pool.apply_async(_worker_convert, (rows,)))
            if len(pending) >= 2 * workers:
                yield pickle.loads(pending.popleft().get())
        while pending:
            yield pickle.loads(pending.popleft().get())
    finally:
        _settle(pending)


def _pooled_ranges(
    pool: Any, ranges: Iterator[CsvRange], workers: int
) -> Generator[_Chunk, None, CsvRange | None]:
    """Ranges of a CSV file read and converted by the pool, in file order.

    Returns:
        None when every range was converted, else the range from whose
        start on the file must be read in one pass: the first range that
        ends on a CSV error (so that the cut after it may lie inside a
        quoted field), or the rest of a file where no cut was found. The
        chunks after it are dropped unseen.
    """
    pending: deque[tuple[CsvRange, Any]] = deque()

    def first() -> tuple[CsvRange, _Chunk | None]:
        rng, result = pending.popleft()
        chunk, open_end = pickle.loads(result.get())
        return rng, None if open_end else chunk

    rest = None
    try:
        for rng in ranges:
            if rng.end < 0:
                rest = rng
                break
            pending.append((rng, pool.apply_async(_worker_convert_range, (rng,))))
            if len(pending) >= 2 * workers:
                done, chunk = first()
                if chunk is None:
                    return done
                yield chunk
        while pending:
            done, chunk = first()
            if chunk is None:
                return done
            yield chunk
        return rest
    finally:
        _settle(result for _, result in pending)


def _converted(
    src: TableSource, table: str, converter: _AccountRows | None, config: Config
) -> Iterator[_Chunk]:
    """Converted chunks in file order, in worker processes when it pays.

    Workers read plain CSV files themselves, a range of bytes each (see
    :meth:`~ringfence.loaders.sources.TableSource.csv_ranges`); rows of
    other files are read here and handed over. At most ``2 * workers``
    chunks are in flight, so memory stays bounded whatever the file's size.
    """
    size = max(1, config.load.batch_rows)
    source = str(src.path)
    workers = config.load.workers or (os.cpu_count() or 1)
    big = src.path.stat().st_size > _POOL_BYTES
    if workers <= 1 or not big or "fork" not in mp.get_all_start_methods():
        for rows in _chunks_of(src.rows(), size):
            yield _convert_chunk(table, converter, source, rows)
        return
    ctx = mp.get_context("fork")
    with ctx.Pool(workers, _worker_init, (table, converter, source)) as pool:
        ranges = src.csv_ranges(size)
        if ranges is None:
            yield from _pooled_rows(pool, _chunks_of(src.rows(), size), workers)
            return
        with closing(ranges):
            resume = yield from _pooled_ranges(pool, ranges, workers)
        if resume is not None:
            logger.info("%s: read in one pass from line %d on (a CSV error or "
                        "a long quoted field there)", src.path.name, resume.line)
            yield from _pooled_rows(
                pool, _chunks_of(src.rows_from(resume), size), workers
            )


def _number_lookalikes(
    products: list[ProductRow], seen: Counter[tuple[Any, ...]]
) -> list[ProductRow]:
    """Tell apart products of one account that look alike within a load.

    Two cards of one account with no term and no amount would otherwise be
    one product; the second gets ``loan_id`` ``#2``, the third ``#3``. The
    numbering follows file order, so reloading the file changes nothing.
    """
    out = []
    for p in products:
        if p[6]:  # loan_id
            out.append(p)
            continue
        key = p[:4]  # account_id, product, term_months, amount
        seen[key] += 1
        n = seen[key]
        out.append(p if n == 1 else (*p[:6], f"#{n}"))
    return out


def _stream(
    src: TableSource,
    table: str,
    converter: _AccountRows | None,
    writer: LoadWriter,
    report: LoadReport,
    reports: _Reports,
    config: Config,
    progress: ProgressFn | None,
) -> None:
    seen: Counter[tuple[Any, ...]] = Counter()
    batches = _Batches(max(1, config.load.batch_rows))
    for chunk in _converted(src, table, converter, config):
        for records, products in batches.add(chunk):
            writer.write_rows(records, _number_lookalikes(products, seen))
        part = chunk.report
        report.rows_read += part.rows_read
        report.rows_accepted += part.rows_accepted
        report.rows_rejected += part.rows_rejected
        for kind, reasons in part.ignored.items():
            report.ignored.setdefault(kind, Counter()).update(reasons)
        for kind, n in part.empty.items():
            report.empty[kind] = report.empty.get(kind, 0) + n
        for kind, n in part.invalid.items():
            report.invalid[kind] = report.invalid.get(kind, 0) + n
        for row in chunk.rejects:
            reports.rejects.writerow(row)
        for row in chunk.ignored:
            reports.ignored.writerow(row)
        if progress is not None:
            progress(part.rows_read)
    for records, products in batches.rest():
        writer.write_rows(records, _number_lookalikes(products, seen))


class _Batches:
    """Regroups converted chunks into the store's batches: the accepted rows
    of ``size`` rows of the file at a time, as a one-pass load forms them.

    Stores merge the rows of one batch differently from rows of separate
    batches (an account's duplicate rows: the first with the latest
    ``seen_at`` within a batch, the later row across batches), so batches
    must not depend on how the file was cut for the workers.
    """

    def __init__(self, size: int) -> None:
        self._size = size
        self._rows = 0  # rows of the file before the next chunk
        self._records: list[AccountRow] = []
        self._products: list[ProductRow] = []

    def add(self, chunk: _Chunk) -> Iterator[tuple[list[AccountRow], list[ProductRow]]]:
        """The batches that end within ``chunk``; its tail waits for the next."""
        size, first = self._size, self._rows
        cut = -first % size  # where in this chunk the next batch begins
        r = p = 0
        while cut < chunk.report.rows_read:
            r_end = bisect_left(chunk.record_rows, cut, r)
            p_end = bisect_left(chunk.product_rows, cut, p)
            self._records += chunk.records[r:r_end]
            self._products += chunk.products[p:p_end]
            yield from self.rest()
            r, p, cut = r_end, p_end, cut + size
        self._records += chunk.records[r:]
        self._products += chunk.products[p:]
        self._rows = first + chunk.report.rows_read

    def rest(self) -> Iterator[tuple[list[AccountRow], list[ProductRow]]]:
        """The batch begun and not yet handed out, if it holds any row."""
        if self._records or self._products:
            yield self._records, self._products
        self._records, self._products = [], []


def _check(report: LoadReport, config: Config, rejects: Path) -> None:
    if report.rows_accepted + report.rows_rejected != report.rows_read:
        raise InputError(
            f"{report.source}: internal accounting error: "
            f"{report.rows_accepted} accepted + {report.rows_rejected} rejected "
            f"!= {report.rows_read} read; nothing was committed"
        )
    limit = config.load.max_reject_rate
    if report.rows_read and report.rows_rejected / report.rows_read > limit:
        raise InputError(
            f"{report.source}: {report.rows_rejected} of {report.rows_read} rows "
            f"rejected, above the limit of {limit:.1%}; nothing was committed. "
            f"See the rejects listed by line in {rejects}, fix the file and "
            "load again"
        )
