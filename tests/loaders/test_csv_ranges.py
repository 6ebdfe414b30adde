"""Worker processes parse byte ranges of a CSV file: same rows as one pass.

``TableSource.csv_ranges`` cuts a file at newlines that follow an even
number of quotes; ``read_csv_range`` parses one range. Whatever the file
holds (quoted newlines, stray quotes, CSV errors, every line ending, bad
bytes), the rows, their lines and their errors must be those of
``TableSource.rows``, the cut falling back to one pass where it cannot be
trusted.
"""

from __future__ import annotations

import dataclasses
import gzip
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ringfence.config import Config
from ringfence.errors import InputError
from ringfence.graph.neo4j_csv import CsvSpool
from ringfence.loaders import load, sources
from ringfence.loaders.load import load_files
from ringfence.loaders.sources import TableSource, read_csv_range

HEADER = b"account_id,created_at,full_name,address\r\n"


Rows = list[tuple[int, dict[str, str]]]


def _ranged(path: Path, rows: int) -> tuple[Rows, int, bool]:
    """Rows as the loader's workers read them, the ranges used, and whether
    the file was read on in one pass from some range."""
    src = TableSource(path)
    ranges = src.csv_ranges(rows)
    assert ranges is not None
    out: Rows = []
    used = 0
    for rng in ranges:
        if rng.end < 0:
            out.extend(src.rows_from(rng))
            return out, used, True
        part = read_csv_range(path, rng)
        if part.open_end:
            out.extend(src.rows_from(rng))
            return out, used, True
        used += 1
        out.extend(part.rows)
    return out, used, False


@pytest.fixture(autouse=True)
def _tiny_ranges(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sources, "_MIN_RANGE_BYTES", 1)


CASES = {
    "plain": HEADER + b"A1,2026-01-01,Ann,1 Main St\r\nA2,2026-01-02,Bob,2 Oak Rd\r\n"
    + b"A3,2026-01-03,Cy,3 Elm Ave\r\n",
    "quoted newlines": HEADER + b'A1,2026-01-01,"Ann\nLee","1 Main St\r\nApt 2"\n'
    + b'A2,2026-01-02,Bob,"2 ""Oak"" Rd\n\nfloor 3"\nA3,2026-01-03,Cy,x\n',
    "stray quote then quoted newline": HEADER + b'A1,2026-01-01,Ann 5" tall,x\n'
    + b'A2,2026-01-02,Bob,"2 Oak\nRd"\nA3,2026-01-03,Cy,"3\nElm"\nA4,2026-01-04,D,y\n'
    + b"A5,2026-01-05,E,z\n",
    "text after closing quote": HEADER + b'A1,2026-01-01,"Ann"x,y\nA2,2026-01-02,B,z\n'
    + b"A3,2026-01-03,C,w\n",
    "quote open to the end": HEADER + b'A1,2026-01-01,Ann,x\nA2,2026-01-02,"Bob,y\n'
    + b"A3,2026-01-03,C,w\nA4,2026-01-04,D,v\n",
    "lone carriage returns": HEADER + b"A1,2026-01-01,Ann,x\rA2,2026-01-02,Bob,y\r\n"
    + b"A3,2026-01-03,Cy,z\nA4,2026-01-04,D,\"a\rb\"\n",
    "blank lines and short rows": HEADER + b"\n\nA1,2026-01-01,Ann,x\n\r\nA2,2026\n"
    + b"A3,2026-01-03,Cy,z,extra\n\n",
    "bad bytes": HEADER + b"A1,2026-01-01,Ann\xff,x\nA2,2026-01-02,Bob,y\n",
    "no final newline": HEADER + b"A1,2026-01-01,Ann,x\nA2,2026-01-02,Bob,y",
    "byte order mark": b"\xef\xbb\xbf" + HEADER + b"A1,2026-01-01,\xef\xbb\xbfAnn,x\n"
    + b"\xef\xbb\xbfA2,2026-01-02,Bob,y\n",
}


@pytest.mark.parametrize("name", sorted(CASES))
@pytest.mark.parametrize("rows", [1, 2, 3, 1000])
def test_ranges_give_the_rows_of_one_pass(tmp_path: Path, name: str, rows: int) -> None:
    path = tmp_path / "a.csv"
    path.write_bytes(CASES[name])
    got, used, _ = _ranged(path, rows)
    assert got == list(TableSource(path).rows())
    if name in ("plain", "quoted newlines", "lone carriage returns") and rows < 3:
        assert used > 1


def test_a_wrong_cut_is_caught_and_the_file_read_on_in_one_pass(tmp_path: Path) -> None:
    # The stray quote in line 2 makes every later newline look quoted until
    # the next quote: the cut lands inside a quoted field of line 3.
    path = tmp_path / "a.csv"
    path.write_bytes(CASES["stray quote then quoted newline"])
    got, _, resumed = _ranged(path, 1)
    assert resumed
    assert [line for line, _ in got] == [2, 3, 5, 7, 8]
    assert got[1][1]["address"] == "2 Oak\nRd"


def test_a_file_without_a_cut_is_read_in_one_pass(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sources, "_MAX_RANGE_BYTES", 64)
    path = tmp_path / "a.csv"
    body = b'A1,2026-01-01,Ann,"' + b"x\n" * 100 + b'"\nA2,2026-01-02,Bob,y\n'
    path.write_bytes(HEADER + body)
    got, used, resumed = _ranged(path, 1)
    assert resumed and used == 0
    assert got == list(TableSource(path).rows())


def test_files_that_cannot_be_cut(tmp_path: Path) -> None:
    multi = tmp_path / "header.csv"
    multi.write_bytes(b'account_id,"created\nat"\nA1,2026-01-01\n')
    assert TableSource(multi).csv_ranges(10) is None
    jsonl = tmp_path / "a.jsonl"
    jsonl.write_text('{"account_id": "A1", "created_at": "2026-01-01"}\n')
    assert TableSource(jsonl).csv_ranges(10) is None


_CELL = st.text(alphabet='ab,"\n\r x\xe9', max_size=8)


@settings(max_examples=300, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(cells=st.lists(_CELL, min_size=1, max_size=40), rows=st.integers(1, 4))
def test_any_text_gives_the_rows_of_one_pass(
    tmp_path: Path, cells: list[str], rows: int
) -> None:
    path = tmp_path / "h.csv"
    path.write_bytes(HEADER + ",".join(cells).encode())
    got, _, _ = _ranged(path, rows)
    assert got == list(TableSource(path).rows())


@pytest.mark.parametrize("gz", [False, True], ids=["ranges", "rows handed over"])
def test_a_pooled_load_writes_what_a_single_process_writes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, gz: bool
) -> None:
    lines = [b"account_id,created_at,full_name,phone,email,address,device_id\n"]
    for n in range(400):
        lines.append(
            f"A{n % 350},2026-01-{1 + n % 28:02d},Name {n},541-726-{3000 + n % 90},"
            f"u{n % 120}@x.org,\"{n % 60} Main St\nApt {n % 3}\",d{n % 45}\n".encode()
        )
    lines.insert(100, b'A9,2026-01-01,Bad "quote,x,y,z,w\n')  # stray quote
    lines.insert(200, b"A8,not-a-date,,,,,\n")
    accounts = tmp_path / ("accounts.csv.gz" if gz else "accounts.csv")
    data = b"".join(lines)
    accounts.write_bytes(gzip.compress(data) if gz else data)
    loans = tmp_path / "loans.csv"
    loans.write_text("account_id,product,term_months,amount,balance\n" + "".join(
        f"A{n % 350},bnpl,{(1, 3, 6, 12, 5)[n % 5]},{n}.5,{n}\n" for n in range(300)))

    def spooled(name: str, workers: int) -> list[bytes]:
        out = tmp_path / name
        (out / "csv").mkdir(parents=True)
        cfg = Config()
        cfg = dataclasses.replace(
            cfg, load=dataclasses.replace(cfg.load, workers=workers, batch_rows=7))
        spool = CsvSpool(out / "csv")
        reports = load_files(spool, [accounts], [loans], config=cfg,
                             reports_dir=out / "reports")
        spool.finish()
        spool.close()
        texts = [(out / "csv" / f).read_bytes()
                 for f in sorted(p.name for p in (out / "csv").iterdir())]
        for report in reports:
            assert report.rows_accepted + report.rows_rejected == report.rows_read
            texts.append(Path(report.rejects_path).read_bytes())
            texts.append(Path(report.ignored_path).read_bytes())
            texts.append(repr((report.rows_read, report.rows_rejected)).encode())
        return texts

    alone = spooled("one", 1)
    monkeypatch.setattr(load, "_POOL_BYTES", 0)
    assert spooled("two", 2) == alone


def test_a_header_that_runs_onto_line_two_is_not_cut(tmp_path: Path) -> None:
    # Line 1 has an even number of quotes, yet its last field goes on to
    # line 2: cutting after line 1 would start inside the header.
    path = tmp_path / "a.csv"
    path.write_bytes(b'a,b"c,"d\n"\nA1,x,y\nA2,x,y\n')
    assert TableSource(path).csv_ranges(1) is None
    assert [line for line, _ in TableSource(path).rows()] == [3, 4]


@pytest.mark.parametrize(("data", "message"), [
    (b"account_id,created_at,\xff\nA1,2026-01-01,x\n", "not UTF-8 \\(column 3\\)"),
    (b'account_id,created_at,"x"y\nA1,2026-01-01,z\n', "header row is malformed"),
])
def test_a_broken_header_is_one_clear_error(
    tmp_path: Path, data: bytes, message: str
) -> None:
    path = tmp_path / "a.csv"
    path.write_bytes(data)
    with pytest.raises(InputError, match=message):
        load_files(CsvSpool(tmp_path), [path], config=Config(),
                   reports_dir=tmp_path / "reports")


def test_one_stray_quote_does_not_stall_the_cutting(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # After the quote no newline follows an even number of quotes: every
    # buffer up to the cap is searched, each in one pass over its bytes.
    monkeypatch.setattr(sources, "_MAX_RANGE_BYTES", 1 << 20)
    path = tmp_path / "a.csv"
    row = b"A1,2026-01-01,Ann,1 Main St\n"
    path.write_bytes(HEADER + b'A0,2026-01-01,Bob 5" tall,x\n' + row * 60_000)
    ranges = TableSource(path).csv_ranges(10)
    assert ranges is not None
    calls = 0
    real = bytes.count

    class Counting(bytes):
        def count(self, *args: object) -> int:  # type: ignore[override]
            nonlocal calls
            calls += 1
            return real(self, *args)  # type: ignore[arg-type]

    assert sources._even_newline(Counting(HEADER + row * 1000), 20_000) >= 0
    assert calls <= 2
    assert [r.end for r in ranges] == [-1]


@settings(max_examples=200, deadline=None)
@given(rows=st.lists(st.booleans(), max_size=60), size=st.integers(1, 9),
       cuts=st.lists(st.integers(1, 12), min_size=1, max_size=20))
def test_batches_are_those_of_one_pass_whatever_the_chunks(
    rows: list[bool], size: int, cuts: list[int]
) -> None:
    from ringfence.loaders.load import LoadReport, _Batches, _Chunk

    def chunk(start: int, accepted: list[bool]) -> _Chunk:
        kept = [n for n, ok in enumerate(accepted) if ok]
        report = LoadReport(source="a", table="accounts")
        report.rows_read = len(accepted)
        records = [("A", start + n) for n in kept]
        return _Chunk(records, [], report, [], [], kept, [])  # type: ignore[arg-type]

    def batches(lengths: list[int]) -> list[list[object]]:
        out: list[list[object]] = []
        b = _Batches(size)
        start = 0
        for length in lengths:
            out += [r for r, _ in b.add(chunk(start, rows[start:start + length]))]
            start += length
        out += [r for r, _ in b.rest()]
        return out

    lengths, left = [], len(rows)
    for cut in cuts * (len(rows) + 1):
        if left <= 0:
            break
        lengths.append(min(cut, left))
        left -= lengths[-1]
    one_pass = [rows[i:i + size] for i in range(0, len(rows), size)]
    assert batches(lengths) == batches([len(p) for p in one_pass])
    assert batches(lengths) == [
        [("A", i + n) for n, ok in enumerate(p) if ok]
        for i, p in zip(range(0, len(rows), size), one_pass, strict=True) if any(p)
    ]


@pytest.mark.parametrize("rows", [1, 2, 5])
def test_duplicate_accounts_merge_alike_whatever_the_cut(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, rows: int
) -> None:
    # Two rows of one account with the same seen time: within a batch the
    # first wins, across batches the later one (and an empty label never
    # erases a known one). Batches must follow rows, not the workers' cuts.
    text = "account_id,created_at,full_name,email,label\n" + "".join(
        f"AC{n // 2},2025-01-01T00:00:00,Name{n},m{n // 2}@example.org,"
        f"{'fraud' if n % 2 == 0 else ''}\n" for n in range(120))
    accounts = tmp_path / "accounts.csv"
    accounts.write_text(text)
    monkeypatch.setattr(sources, "_SAMPLE_BYTES", 64)
    real_ranges = TableSource.csv_ranges

    def ranges(self: TableSource, _rows: int) -> object:
        return real_ranges(self, rows)

    monkeypatch.setattr(TableSource, "csv_ranges", ranges)

    def spooled(name: str, workers: int) -> list[bytes]:
        out = tmp_path / name / "csv"
        out.mkdir(parents=True)
        cfg = Config()
        cfg = dataclasses.replace(
            cfg, load=dataclasses.replace(cfg.load, workers=workers, batch_rows=7))
        spool = CsvSpool(out)
        load_files(spool, [accounts], config=cfg, reports_dir=out.parent / "r")
        spool.finish()
        return [(out / f).read_bytes() for f in sorted(p.name for p in out.iterdir())]

    alone = spooled("one", 1)
    monkeypatch.setattr(load, "_POOL_BYTES", 0)
    assert spooled("two", 2) == alone
