"""Streaming readers of CSV, Parquet and JSON-lines tables.

Each reader yields ``(line, row)`` pairs where ``line`` is the 1-based line
of the file the row starts on (for Parquet, the 1-based row number) and
``row`` maps lower-cased column names to text. Values that cannot be read
are not dropped: the row comes through with a ``__error__`` entry naming the
problem, so the loader can reject it with its line number.
"""

from __future__ import annotations

import csv
import datetime as dt
import gzip
import io
import json
import math
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

from ringfence.errors import InputError

__all__ = ["ERROR_KEY", "TableSource", "open_table"]

ERROR_KEY = "__error__"

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
        return json.dumps(value, ensure_ascii=False)
    return str(value)


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

    def _open_text(self) -> IO[str]:
        try:
            raw: IO[bytes] = (
                gzip.open(self.path, "rb")  # type: ignore[assignment]
                if self.gzip
                else open(self.path, "rb")
            )
        except OSError as exc:
            raise InputError(f"{self.path}: cannot open: {exc.strerror}") from exc
        # surrogateescape keeps undecodable bytes visible, so the row that
        # holds them is rejected by line instead of the whole file failing.
        return io.TextIOWrapper(
            raw, encoding="utf-8-sig", errors="surrogateescape", newline=""
        )

    def _read_columns(self) -> list[str]:
        try:
            if self.format == "parquet":
                import pyarrow.parquet as pq

                schema = pq.read_schema(self.path)
                return [n.strip().lower() for n in schema.names]
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
        # The first 1000 objects define the columns; later new keys are
        # still read, row by row.
        seen: dict[str, None] = {}
        for n, line in enumerate(fh):
            if n >= 1000:
                break
            try:
                obj = json.loads(line) if line.strip() else None
            except ValueError:
                continue
            if isinstance(obj, dict):
                seen.update(dict.fromkeys(k.strip().lower() for k in obj))
        if not seen:
            raise InputError(
                f"{self.path}: no JSON object found in the first 1000 lines; "
                "expected one object per line"
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

    def _csv_rows(self) -> Iterator[tuple[int, dict[str, str]]]:
        with self._open_text() as fh:
            reader = csv.reader(fh)
            header = next(reader, None)
            if header is None:
                return
            names = [h.strip().lower() for h in header]
            width = len(names)
            start = reader.line_num + 1
            while True:
                try:
                    fields = next(reader)
                except StopIteration:
                    return
                except csv.Error as exc:
                    yield start, {ERROR_KEY: f"malformed CSV: {exc}"}
                    start = reader.line_num + 1
                    continue
                line, start = start, reader.line_num + 1
                if not fields:
                    continue  # a blank line is not a row
                if len(fields) != width:
                    yield line, {
                        ERROR_KEY: f"has {len(fields)} fields, the header has "
                        f"{width} (unquoted comma or missing field?)"
                    }
                    continue
                yield line, dict(zip(names, fields, strict=True))

    def _jsonl_rows(self) -> Iterator[tuple[int, dict[str, str]]]:
        with self._open_text() as fh:
            for line_no, line in enumerate(fh, start=1):
                if not line.strip():
                    continue
                try:
                    obj = json.loads(line)
                except ValueError as exc:
                    yield line_no, {ERROR_KEY: f"not valid JSON: {exc.args[0]}"}
                    continue
                if not isinstance(obj, dict):
                    yield line_no, {
                        ERROR_KEY: "not a JSON object (expected one object per line)"
                    }
                    continue
                yield line_no, {
                    str(k).strip().lower(): _text(v) for k, v in obj.items()
                }

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
                    yield row_no, {
                        n: _text(v) for n, v in zip(names, values, strict=True)
                    }
        except InputError:
            raise
        except Exception as exc:  # pyarrow's errors are not one hierarchy
            raise InputError(
                f"{self.path}: Parquet read failed mid-file: {exc}"
            ) from exc


def open_table(path: str | Path) -> TableSource:
    """Open ``path`` as a :class:`TableSource` (checks it is readable)."""
    return TableSource(path)
