"""Streaming readers of CSV, Parquet and JSON-lines tables.

Each reader yields ``(line, row)`` pairs where ``line`` is the 1-based line
of the file the row starts on (for Parquet, the 1-based row number) and
``row`` maps lower-cased column names to text. Values that cannot be read
are not dropped: the row comes through with a ``__error__`` entry naming the
problem, so the loader can reject it with its line number. A JSON or
Parquet cell that holds an array or an object instead of one value is
rendered as JSON text and its column is listed under ``__nested__``, so the
loader can refuse it where it needs one value.
"""

from __future__ import annotations

import codecs
import csv
import datetime as dt
import gzip
import io
import json
import math
import re
from collections.abc import Generator, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from ringfence.errors import InputError

__all__ = [
    "ERROR_KEY",
    "NESTED_KEY",
    "CsvRange",
    "RangeRows",
    "UNDECODABLE_RE",
    "TableSource",
    "read_csv_range",
    "shown_names",
]

ERROR_KEY = "__error__"
#: Matches the lone surrogates that bytes which were not UTF-8 decode to.
UNDECODABLE_RE = re.compile("[\ud800-\udfff]")
#: Row key listing (NUL-separated) the columns whose cell is an array or object.
NESTED_KEY = "__nested__"

# A column name that could be a data value (a file without its header row)
# is not echoed in messages: only plain words are shown.
_PLAIN_NAME_RE = re.compile(r"[a-z_][a-z_-]{0,39}")

# A CSV field may legitimately hold a long free-text address; beyond this a
# field is certainly not an identifier and csv's default limit is too small.
csv.field_size_limit(1 << 24)


def _text(value: Any) -> str:
    """Render a typed (Parquet/JSON) value as the text a CSV would hold."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        if math.isnan(value):
            return ""
        if value.is_integer() and abs(value) < 2**53:
            return str(int(value))
        return repr(value)
    if isinstance(value, dt.datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=dt.UTC)
        return value.isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, (dict, list)):
        return json.dumps(value, ensure_ascii=False, default=str)
    if isinstance(value, bytes):
        # Bad bytes become lone surrogates, as in a CSV, and are rejected.
        return value.decode("utf-8", errors="surrogateescape")
    return str(value)


def _typed_row(names: Sequence[str], values: Sequence[Any]) -> dict[str, str]:
    """Text row of typed cells, marking the columns that hold arrays or objects."""
    row = {n: _text(v) for n, v in zip(names, values, strict=True)}
    nested = [n for n, v in zip(names, values, strict=True)
              if isinstance(v, (dict, list))]
    if nested:
        row[NESTED_KEY] = "\x00".join(nested)
    return row


def shown_names(names: Sequence[str], limit: int = 20) -> str:
    """Column names as an error message may show them.

    A file without its header row has data where the names should be, so
    only plain words are shown; the others are counted, never echoed.
    """
    plain = [n for n in names if _PLAIN_NAME_RE.fullmatch(n)]
    hidden = len(names) - len(plain)
    text = ", ".join(plain[:limit]) or "none"
    if hidden:
        text += (f"; {hidden} more not shown (digits, spaces or symbols: if they "
                 "are data, the header row is missing)")
    return text


def _duplicates(names: Sequence[str]) -> list[str]:
    seen: set[str] = set()
    dup: list[str] = []
    for name in names:
        if name and name in seen and name not in dup:
            dup.append(name)
        seen.add(name)
    return dup


class TableSource:
    """One input table, opened lazily.

    Args:
        path: The file; its format comes from its suffix (``.csv``,
            ``.parquet``, ``.jsonl``/``.ndjson``, each optionally ``.gz``
            except Parquet).

    Raises:
        InputError: Unknown suffix, unreadable file, or no header.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        name = self.path.name.lower()
        stem = name[:-3] if name.endswith(".gz") else name
        if stem.endswith(".csv") or stem.endswith(".txt"):
            self.format = "csv"
        elif stem.endswith(".parquet") or stem.endswith(".pq"):
            self.format = "parquet"
        elif stem.endswith(".jsonl") or stem.endswith(".ndjson") or stem.endswith(
            ".json"
        ):
            self.format = "jsonl"
        else:
            raise InputError(
                f"{self.path}: unknown file type; name it .csv, .parquet or "
                ".jsonl (optionally .gz)"
            )
        self.gzip = name.endswith(".gz")
        if not self.path.is_file():
            raise InputError(f"{self.path}: no such file")
        self.columns = self._read_columns()
        bad = [n for n, name in enumerate(self.columns, 1)
               if UNDECODABLE_RE.search(name)]
        if bad:
            raise InputError(
                f"{self.path}: the header holds bytes that are not UTF-8 (column "
                f"{bad[0]}); save the file as UTF-8"
            )
        dup = _duplicates(self.columns)
        if dup:
            raise InputError(
                f"{self.path}: column(s) {shown_names(dup)} appear more than once "
                "(names are compared ignoring case and surrounding spaces); "
                "keep one of each"
            )

    def _open_bytes(self, *, plain: bool = False) -> IO[bytes]:
        """The file's bytes, decompressed unless ``plain``."""
        try:
            if self.gzip and not plain:
                return gzip.open(self.path, "rb")  # type: ignore[return-value]
            return open(self.path, "rb")
        except OSError as exc:
            raise InputError(f"{self.path}: cannot open: {exc.strerror}") from exc

    def _open_text(self) -> IO[str]:
        raw = self._open_bytes()
        # surrogateescape keeps undecodable bytes visible, so the row that
        # holds them is rejected by line instead of the whole file failing.
        return io.TextIOWrapper(
            raw, encoding="utf-8-sig", errors="surrogateescape", newline=""
        )

    def _check_encoding(self) -> None:
        with gzip.open(self.path, "rb") if self.gzip else open(self.path, "rb") as raw:
            head = raw.read(4)
        if head.startswith((codecs.BOM_UTF32_LE, codecs.BOM_UTF32_BE)):
            found = "UTF-32"
        elif head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
            found = "UTF-16"
        elif b"\x00" in head:
            found = "UTF-16 or UTF-32 (NUL bytes in the header)"
        else:
            return
        raise InputError(
            f"{self.path}: the file is {found} encoded; save it as UTF-8 and "
            "load it again"
        )

    def _read_columns(self) -> list[str]:
        try:
            if self.format == "parquet":
                import pyarrow.parquet as pq

                schema = pq.read_schema(self.path)
                return [n.strip().lower() for n in schema.names]
            self._check_encoding()
            with self._open_text() as fh:
                if self.format == "csv":
                    header = next(csv.reader(fh), None)
                    if header is None:
                        raise InputError(f"{self.path}: empty file, no header row")
                    return [h.strip().lower() for h in header]
                return self._jsonl_columns(fh)
        except InputError:
            raise
        except (OSError, EOFError, gzip.BadGzipFile) as exc:
            raise InputError(f"{self.path}: cannot read: {exc}") from exc
        except Exception as exc:  # pyarrow raises its own, varied errors
            raise InputError(
                f"{self.path}: not a readable {self.format} file: {exc}"
            ) from exc

    def _jsonl_columns(self, fh: IO[str]) -> list[str]:
        # Every object counts: a key first seen late (a phone added to the
        # export last month) is a column like the others.
        seen: dict[str, None] = {}
        for line in fh:
            try:
                obj = json.loads(line) if line.strip() else None
            except ValueError:
                continue
            if isinstance(obj, dict):
                seen.update(dict.fromkeys(k.strip().lower() for k in obj))
        if not seen:
            raise InputError(
                f"{self.path}: no JSON object found; expected one object per line"
            )
        return list(seen)

    def rows(self) -> Iterator[tuple[int, dict[str, str]]]:
        """Yield ``(line, row)`` for every data row of the file."""
        try:
            if self.format == "csv":
                yield from self._csv_rows()
            elif self.format == "jsonl":
                yield from self._jsonl_rows()
            else:
                yield from self._parquet_rows()
        except (OSError, EOFError, gzip.BadGzipFile) as exc:
            raise InputError(f"{self.path}: read failed mid-file: {exc}") from exc

    def rows_from(self, rng: CsvRange) -> Iterator[tuple[int, dict[str, str]]]:
        """Yield the rows of a CSV file from the start of ``rng`` on, in one pass."""
        try:
            yield from self._csv_rows(rng)
        except (OSError, EOFError) as exc:
            raise InputError(f"{self.path}: read failed mid-file: {exc}") from exc

    def _csv_rows(
        self, resume: CsvRange | None = None
    ) -> Iterator[tuple[int, dict[str, str]]]:
        if resume is None:
            with self._open_text() as fh:
                # strict: a quote left open to the end of the file, or text
                # after a closing quote, is an error rather than silently
                # accepted.
                reader = csv.reader(fh, strict=True)
                try:
                    header = next(reader, None)
                except csv.Error as exc:
                    raise InputError(
                        f"{self.path}: the header row is malformed CSV ({exc}); "
                        "quote column names that hold commas or quotes, or "
                        "re-export the file"
                    ) from exc
                if header is None:
                    return
                names = [h.strip().lower() for h in header]
                yield from _CsvRecords(reader, names, reader.line_num + 1)
            return
        # The rest of the file from a record boundary found by csv_ranges.
        with self._open_bytes() as raw:
            raw.seek(resume.start)
            text = io.TextIOWrapper(
                raw, encoding="utf-8", errors="surrogateescape", newline=""
            )
            reader = csv.reader(text, strict=True)
            yield from _CsvRecords(reader, resume.names, resume.line)

    def csv_ranges(self, rows: int) -> Generator[CsvRange, None, None] | None:
        """Cut a plain CSV file into ranges of about ``rows`` rows.

        Each range starts and ends on a record boundary, so that worker
        processes can parse ranges side by side (:func:`read_csv_range`).
        A newline is a boundary when an even number of quote characters
        precedes it in the range: true of every file csv reads the same
        way, false after a stray quote inside an unquoted field. A wrong
        cut always leaves the range before it ending inside a quoted field,
        which :func:`read_csv_range` reports as ``open_end``; the caller
        then reads on from that range's start in one pass
        (:meth:`rows_from`). A range whose ``end`` is -1 asks the same:
        no boundary was found in a long stretch of the file.

        Args:
            rows: Rows wanted per range.

        Returns:
            The ranges in file order, or None for files that are not plain
            CSV with a one-line header (gzip, Parquet, JSON lines).
        """
        if self.format != "csv" or self.gzip:
            return None
        with self._open_bytes() as raw:
            head = raw.read(_HEADER_BYTES)
        # The header ends at the first newline when no lone \r comes before
        # it and a one-pass read takes the header from line 1 alone.
        cut = head.find(b"\n") + 1
        if not cut or b"\r" in head[:max(cut - 2, 0)]:
            return None
        names = self._one_line_header()
        if not names:
            return None
        return self._ranges(cut, names, rows)

    def _one_line_header(self) -> list[str] | None:
        """The header's names when a one-pass read takes it from line 1 alone."""
        with self._open_text() as fh:
            reader = csv.reader(fh, strict=True)
            try:
                header = next(reader, None) or []
            except csv.Error:
                return None
            if reader.line_num != 1:
                return None
        return [h.strip().lower() for h in header]

    def _ranges(
        self, start: int, names: list[str], rows: int
    ) -> Generator[CsvRange, None, None]:
        line = 2
        with self._open_bytes() as raw:
            raw.seek(start)
            buf = raw.read(_SAMPLE_BYTES)
            per_row = len(buf) // max(1, buf.count(b"\n"))
            want = min(_MAX_RANGE_BYTES // 4, max(_MIN_RANGE_BYTES, rows * per_row))
            while True:
                if len(buf) < want:
                    buf += raw.read(want - len(buf))
                if not buf:
                    return
                if len(buf) < want:
                    cut = len(buf)  # the end of the file
                else:
                    cut = _even_newline(buf, want) + 1
                    if not cut:
                        if len(buf) >= _MAX_RANGE_BYTES:
                            yield CsvRange(start, -1, line, names)
                            return
                        want *= 2
                        continue
                part = buf[:cut]
                yield CsvRange(start, start + cut, line, names)
                # csv counts \r\n, \n and a lone \r as one line each
                line += part.count(b"\n") + part.count(b"\r") - part.count(b"\r\n")
                start += cut
                buf = buf[cut:]

    def _jsonl_rows(self) -> Iterator[tuple[int, dict[str, str]]]:
        with self._open_text() as fh:
            for line_no, line in enumerate(fh, start=1):
                if not line.strip():
                    continue
                try:
                    obj = json.loads(line, object_pairs_hook=_JsonObject)
                except ValueError as exc:
                    yield line_no, {ERROR_KEY: f"not valid JSON: {exc.args[0]}"}
                    continue
                if not isinstance(obj, dict):
                    yield line_no, {
                        ERROR_KEY: "not a JSON object (expected one object per line)"
                    }
                    continue
                names = [str(k).strip().lower() for k in obj]
                dup = _duplicates(names)
                if dup or len(obj) < getattr(obj, "pairs", len(obj)):
                    yield line_no, {
                        ERROR_KEY: "a key appears more than once in the object "
                        "(keys are compared ignoring case and surrounding spaces)"
                    }
                    continue
                yield line_no, _typed_row(names, list(obj.values()))

    def _parquet_rows(self) -> Iterator[tuple[int, dict[str, str]]]:
        import pyarrow.parquet as pq

        try:
            pf = pq.ParquetFile(self.path)
            row_no = 0
            for batch in pf.iter_batches(batch_size=20_000):
                names = [n.strip().lower() for n in batch.schema.names]
                columns = [col.to_pylist() for col in batch.columns]
                for values in zip(*columns, strict=True):
                    row_no += 1
                    yield row_no, _typed_row(names, values)
        except InputError:
            raise
        except Exception as exc:  # pyarrow's errors are not one hierarchy
            raise InputError(
                f"{self.path}: Parquet read failed mid-file: {exc}"
            ) from exc


class _JsonObject(dict[str, Any]):
    """A JSON object that remembers how many key/value pairs it was written with."""

    def __init__(self, pairs: list[tuple[str, Any]]) -> None:
        super().__init__(pairs)
        self.pairs = len(pairs)


def _span(first: int, last: int) -> str:
    return f" (lines {first}-{last} not loaded)" if last > first else ""


def _swallowed_rows(fields: Sequence[str], width: int) -> int:
    """Lines inside quoted fields that look like whole rows of this file.

    A multi-line field is legitimate (an address on two lines), but one whose
    later lines hold as many commas as a row does is rows swallowed by an
    unclosed quote. Files of fewer than three columns are not judged.
    """
    if width < 3:
        return 0
    return sum(
        1
        for field in fields
        if "\n" in field or "\r" in field
        for part in field.splitlines()[1:]
        if part.count(",") >= width - 1
    )


_HEADER_BYTES = 1 << 20
_SAMPLE_BYTES = 1 << 20
_MIN_RANGE_BYTES = 1 << 16
_MAX_RANGE_BYTES = 64 << 20
# How many newlines before the end of a buffer csv_ranges tries.
_CUT_TRIES = 64


def _even_newline(buf: bytes, end: int) -> int:
    """The last newline of ``buf[:end]`` after an even number of quotes, or -1."""
    at = buf.rfind(b"\n", 0, end)
    quotes = buf.count(b'"', 0, at) if at >= 0 else 0
    for _ in range(_CUT_TRIES):
        if at < 0 or quotes % 2 == 0:
            return at
        before = buf.rfind(b"\n", 0, at)
        quotes -= buf.count(b'"', before + 1, at)
        at = before
    return -1


@dataclass(frozen=True, slots=True)
class CsvRange:
    """Bytes ``start`` to ``end`` of a CSV file, starting on ``line``.

    ``end`` is -1 for the rest of the file, to be read in one pass.
    ``names`` are the header's column names.
    """

    start: int
    end: int
    line: int
    names: list[str]


@dataclass(slots=True)
class RangeRows:
    """The rows of one :class:`CsvRange`.

    Attributes:
        rows: ``(line, row)`` pairs as :meth:`TableSource.rows` yields them.
        open_end: The last line ended in a CSV error, possibly a quoted
            field that goes on in the next range: the cut before the next
            range may be wrong.
        undecodable: Some bytes of the range are not UTF-8.
    """

    rows: list[tuple[int, dict[str, str]]]
    open_end: bool
    undecodable: bool


def read_csv_range(path: Path, rng: CsvRange) -> RangeRows:
    """Parse one range cut by :meth:`TableSource.csv_ranges`.

    The rows, their lines and the errors are those a single pass over the
    file gives, as long as the range starts on a record boundary.

    Raises:
        InputError: The file cannot be read.
    """
    try:
        with open(path, "rb") as raw:
            raw.seek(rng.start)
            data = raw.read(rng.end - rng.start)
    except OSError as exc:
        raise InputError(f"{path}: read failed mid-file: {exc.strerror}") from exc
    text = data.decode("utf-8", "surrogateescape")
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    records = _CsvRecords(reader, rng.names, rng.line)
    rows = list(records)
    return RangeRows(
        rows=rows,
        open_end=records.error_at is not None and records.error_at == reader.line_num,
        undecodable=UNDECODABLE_RE.search(text) is not None,
    )



class _CsvRecords:
    """``(line, row)`` pairs of a csv reader whose first line is ``first``.

    Attributes:
        error_at: The reader's line count at the last CSV error, if any.
    """

    def __init__(self, reader: Any, names: list[str], first: int) -> None:
        self._reader = reader
        self._names = names
        self._base = first - 1 - reader.line_num
        self.error_at: int | None = None

    def __iter__(self) -> Iterator[tuple[int, dict[str, str]]]:
        reader, names, base = self._reader, self._names, self._base
        width = len(names)
        start = base + reader.line_num + 1
        while True:
            try:
                fields = next(reader)
            except StopIteration:
                return
            except csv.Error as exc:
                self.error_at = reader.line_num
                yield start, {ERROR_KEY: f"malformed CSV: {exc}"
                              + _span(start, base + reader.line_num)}
                start = base + reader.line_num + 1
                continue
            line, start = start, base + reader.line_num + 1
            if not fields:
                continue  # a blank line is not a row
            swallowed = _swallowed_rows(fields, width) if start - line > 1 else 0
            if swallowed:
                yield line, {
                    ERROR_KEY: f"a quoted field holds {swallowed} line(s) that "
                    "look like rows: is a quote left open?"
                    + _span(line, start - 1)
                }
                continue
            if len(fields) != width:
                yield line, {
                    ERROR_KEY: f"has {len(fields)} fields, the header has "
                    f"{width} (unquoted comma or missing field?)"
                }
                continue
            yield line, dict(zip(names, fields, strict=True))
