"""The bulk import's CSV spool merges batches exactly as the embedded store."""

from __future__ import annotations

import re
import tempfile
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ringfence.errors import StoreError
from ringfence.graph import neo4j_csv
from ringfence.graph.embedded import EmbeddedStore
from ringfence.graph.neo4j_csv import CsvSpool
from ringfence.model import AccountRow, IdentifierRow, ProductRow

_FIELD = re.compile(r'(?:^|,)(?:"((?:[^"]|"")*)"|([^,]*))')


def _fields(line: str) -> list[str | None]:
    """Fields of one importer CSV line: quoted text, or None when unquoted empty."""
    out: list[str | None] = []
    for match in _FIELD.finditer(line):
        quoted, plain = match.groups()
        if quoted is not None:
            out.append(quoted.replace('""', '"'))
        else:
            out.append(plain or None)
    return out


def _read(path: Path) -> list[list[str | None]]:
    lines = path.read_text(encoding="utf-8").splitlines()[1:]
    return [_fields(line) for line in lines]


def _csv_graph(files: Any) -> dict[str, set[tuple[Any, ...]]]:
    paths = [Path(arg.rsplit("=", 1)[1]) for arg in files.args]
    by_name = {path.name: path for path in paths}
    accounts = {f[0]: f[1:] for f in _read(by_name["accounts.csv"])}
    idents: dict[str | None, tuple[Any, ...]] = {}
    for name, path in by_name.items():
        if name.startswith("identifiers-"):
            for f in _read(path):
                idents[f[0]] = (f[1], f[2], f[3], f[4] == "true", f[5])
    products = {f[0]: f[1:] for f in _read(by_name["products.csv"])}
    return {
        "accounts": {
            (a[0], int(str(a[1])), a[2], a[3], a[4], int(str(a[5])))
            for a in accounts.values()
        },
        "identifiers": set(idents.values()),
        "links": {
            (accounts[f[0]][0], *idents[f[1]][:2], int(str(f[2])), int(str(f[3])))
            for f in (_read(by_name["has.csv"]) if "has.csv" in by_name else [])
        },
        "products": {
            (p[0], p[1], p[2], None if p[3] is None else int(p[3]),
             None if p[4] is None else float(p[4]), float(str(p[5])),
             None if p[6] is None else float(p[6]))
            for p in products.values()
        },
        "holds": {
            (accounts[f[0]][0], products[f[1]][1]) for f in _read(by_name["holds.csv"])
        },
        "settings": {(f[1], f[2]) for f in _read(by_name["settings.csv"])},
    }


def _store_graph(store: EmbeddedStore) -> dict[str, set[tuple[Any, ...]]]:
    conn = store._conn
    return {
        "accounts": set(conn.execute(
            "SELECT account_id, created_at, full_name, date_of_birth, label, "
            "seen_at FROM accounts")),
        "identifiers": {
            (k, key, d, bool(v), e) for k, key, d, v, e in conn.execute(
                "SELECT kind, key, display, valid, extra FROM identifiers")
        },
        "links": set(conn.execute(
            "SELECT a.account_id, i.kind, i.key, l.first_seen, l.last_seen "
            "FROM links l JOIN accounts a ON a.id = l.account "
            "JOIN identifiers i ON i.id = l.ident")),
        "products": set(conn.execute(
            "SELECT account_id, pkey, product, term_months, amount, balance, "
            "credit_limit FROM products")),
        "holds": set(conn.execute(
            "SELECT p.account_id, p.pkey FROM products p "
            "JOIN accounts a ON a.account_id = p.account_id")),
        "settings": {
            (k[len("setting:"):], v) for k, v in conn.execute(
                "SELECT k, v FROM meta WHERE k LIKE 'setting:%'")
        },
    }


_text = st.sampled_from(["", "Ann", 'O"Brien, Pat', "Zoë"])
_ident: st.SearchStrategy[IdentifierRow] = st.tuples(
    st.sampled_from(["phone", "email", "address"]),
    st.sampled_from(["k1", "k2", 'k"3']),
    st.sampled_from(["d1", "D1", "d,2"]),
    st.booleans(),
    st.sampled_from(["", "x", "y"]),
)


@st.composite
def _row(draw: st.DrawFn) -> AccountRow:
    idents = draw(st.lists(_ident, max_size=3, unique_by=lambda i: i[0]))
    return (
        draw(st.sampled_from(["A", "B", "C"])),
        draw(st.integers(0, 4)),
        draw(st.integers(0, 4)),
        draw(_text),
        draw(_text),
        draw(st.sampled_from([None, "fraud", "legit"])),
        tuple(idents),
    )


_product: st.SearchStrategy[ProductRow] = st.tuples(
    st.sampled_from(["A", "B", "Z"]),
    st.sampled_from(["card", "loan"]),
    st.sampled_from([None, 6]),
    st.sampled_from([None, 100.5]),
    st.sampled_from([0.0, 1.25, 1e15 - 1]),
    st.sampled_from([None, 1000.0]),
    st.sampled_from(["", "#2"]),
)
_batches = st.lists(
    st.tuples(st.lists(_row(), max_size=6), st.lists(_product, max_size=3)),
    min_size=1, max_size=4,
)


@settings(max_examples=300, deadline=None)
@given(batches=_batches, key_check=st.sampled_from([None, "h1:abc"]))
def test_spool_files_hold_the_graph_the_embedded_store_merges(
    batches: list[tuple[list[AccountRow], list[ProductRow]]], key_check: str | None
) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        store = EmbeddedStore(Path(tmp) / "store")
        spool = CsvSpool(Path(tmp))
        for target in (store, spool):
            with target.load() as writer:
                for rows, products in batches:
                    writer.write_rows(rows, products)
            if key_check is not None:
                target.set_setting("national_id_key_check", key_check)
        files = spool.finish()
        want = _store_graph(store)
        store.close()
        assert _csv_graph(files) == want
        assert files.counts["identifiers"] == len(want["identifiers"])
        assert files.kinds == sorted({k for k, *_ in want["identifiers"]})
        assert not files.multiline


def test_two_kinds_of_one_label_are_refused_before_any_import(tmp_path: Path) -> None:
    spool = CsvSpool(tmp_path)
    spool.write_rows(
        [("A", 1, 1, "", "", None, (("ip", "1.2.3.4", "1.2.3.4", True, ""),
                                    ("i_p", "x", "x", True, "")))],
        [],
    )
    with pytest.raises(StoreError, match="both map to the Neo4j label IP"):
        spool.finish()


def test_a_load_without_identifiers_names_no_missing_id_group(tmp_path: Path) -> None:
    # Accounts with no identifier columns, or a file of rejects only: the
    # importer refuses ":END_ID(Identifier)" when no Identifier file exists
    # ("Group 'Identifier' not found").
    spool = CsvSpool(tmp_path)
    spool.write_rows([("A", 1, 1, "", "", None, ())], [])
    files = spool.finish()
    groups = {arg.split("=", 1)[1].split(":", 1)[0].split("=", 1)[0]
              for arg in files.args if arg.startswith("--nodes=")}
    for arg in files.args:
        if arg.startswith("--relationships="):
            header = Path(arg.rsplit("=", 1)[1]).read_text().splitlines()[0]
            for group in re.findall(r":(?:START|END)_ID\((\w+)\)", header):
                assert group in groups, (arg, groups)


def _spool_of(out: Path, rows: list[AccountRow]) -> CsvSpool:
    spool = CsvSpool(out)
    spool.write_rows(rows, [("A0", "card", None, None, 1.0, None, "")])
    return spool


_ROWS: list[AccountRow] = [
    (f"A{n}", n, n + 1, "", "", None,
     (("phone", f"+1555{n:07d}", f"+1555{n:07d}", True, ""),
      ("device", f"d{n % 7}", f"d{n % 7}", True, "")))
    for n in range(300)
]


def test_the_links_file_written_by_a_second_process_is_the_same(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "one").mkdir()
    (tmp_path / "two").mkdir()
    alone = _spool_of(tmp_path / "one", _ROWS).finish()
    monkeypatch.setattr(neo4j_csv, "_FORK_ROWS", 1)
    forked = _spool_of(tmp_path / "two", _ROWS).finish()
    assert forked.counts == alone.counts
    assert forked.counts["links"] == 600
    for name in ("has.csv", "accounts.csv", "products.csv", "holds.csv"):
        assert (tmp_path / "two" / name).read_bytes() == (
            tmp_path / "one" / name).read_bytes()
    assert sorted(a.replace("/two/", "/") for a in forked.args) == sorted(
        a.replace("/one/", "/") for a in alone.args)


def test_a_links_file_that_cannot_be_written_fails_the_export(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(neo4j_csv, "_FORK_ROWS", 1)
    (tmp_path / "has.csv").mkdir()  # the writer cannot open it
    with pytest.raises(StoreError, match="has.csv failed: IsADirectoryError"):
        _spool_of(tmp_path, _ROWS).finish()


@pytest.mark.parametrize("fork_from", [1, 500, 10**9])
def test_a_failed_writer_leaves_no_process_and_names_its_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fork_from: int
) -> None:
    # 500: the links (600) are written by a forked process, the one product
    # in this one, whose failure must still stop the other.
    import multiprocessing

    monkeypatch.setattr(neo4j_csv, "_FORK_ROWS", fork_from)
    (tmp_path / "holds.csv").mkdir()
    with pytest.raises(StoreError, match="holds.csv failed: IsADirectoryError"):
        _spool_of(tmp_path, _ROWS).finish()
    assert multiprocessing.active_children() == []
