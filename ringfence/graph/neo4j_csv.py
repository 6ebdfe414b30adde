"""The importer's CSV files, built straight from a load's batches.

:class:`CsvSpool` is what a bulk import loads into. It takes the loader's
batches like any store and merges them in memory exactly as the embedded
store's set-based upserts do, batch by batch; :meth:`CsvSpool.finish` then
writes the node and relationship files ``neo4j-admin database import full``
reads. No database sits between the loader and the importer.

Merge rules (those of :mod:`ringfence.graph.embedded`):

* accounts: within a batch, the earliest ``created_at``, the latest
  ``seen_at``, and name, birth date and label of the batch's first row
  with that ``seen_at``. Against earlier batches: the earliest
  ``created_at``; name and birth date of the batch when its ``seen_at`` is
  at least the one kept; its label too, but a missing label never erases a
  known one, and any label fills a missing one;
* identifiers: the first batch holding a ``(kind, key)`` fixes its display,
  validity and extra, each the least over that batch's rows;
* links: the earliest and latest ``seen_at`` of any row;
* products: keyed as in every store; the first row fixes product, term and
  amount, the last one its balance and limit.

Memory: an identifier's line is written when its first batch ends, so only
its key stays in memory; accounts, links (two packed integers each) and
products stay until :meth:`CsvSpool.finish`: about 2.5 KB per account.
"""

from __future__ import annotations

import multiprocessing as mp
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from ringfence.errors import StoreError
from ringfence.graph.base import LoadWriter, RowWriter
from ringfence.graph.embedded import product_key
from ringfence.model import (
    AccountRow,
    ProductRow,
)

__all__ = ["CsvSpool", "ImportFiles"]

_ACCOUNTS_HEADER = (
    ":ID(Account),account_id,created_at:long,full_name,date_of_birth,label,"
    "seen_at:long"
)
_IDENTS_HEADER = ":ID(Identifier),kind,key,display,valid:boolean,extra"
_HAS_HEADER = ":START_ID(Account),:END_ID(Identifier),first_seen:long,last_seen:long"
_PRODUCTS_HEADER = (
    ":ID(Product),account_id,pkey,product,term_months:long,amount:double,"
    "balance:double,credit_limit:double"
)
_HOLDS_HEADER = ":START_ID(Account),:END_ID(Product)"
# Settings the load kept about the store (the national-id key check) become
# the Meta nodes a load over Bolt writes.
_SETTINGS_HEADER = ":ID(Meta),name,value"

# Times are epoch seconds below 2^32 (the loader refuses later ones), so a
# link's first and last seen pack into one integer, and so do its account
# and identifier numbers.
_LOW = (1 << 32) - 1
_LINES = 50_000
# From this many lines on, a forked process writes the links file, and
# another the products and holds files.
_FORK_ROWS = 50_000
# A double quote as written inside a quoted field.
_QQ = '""'


def _quote(value: str) -> str:
    """A CSV field the importer reads back as exactly ``value`` ("" included)."""
    return '"' + value.replace('"', _QQ) + '"'


def _text(value: str | None) -> str:
    """A nullable text field: empty (no property) for None."""
    return "" if value is None else _quote(value)


def _real(value: float | None) -> str:
    return "" if value is None else repr(float(value))


def _write_links(
    path: Path, links: dict[int, int], accounts_at: int
) -> tuple[int, bool]:
    """Write the HAS file: one line per link, its two ends and its span."""
    has = _Lines(path, _HAS_HEADER)
    has.write_all(
        f"{(link >> 32) + accounts_at},{link & _LOW},{span >> 32},{span & _LOW}"
        for link, span in links.items()
    )
    has.close()
    return has.rows, has.multiline


def _write_products(
    out: Path,
    products: dict[tuple[str, str], list[Any]],
    accounts: dict[str, list[Any]],
    accounts_at: int,
    products_at: int,
) -> tuple[int, int, bool]:
    """Write the Product nodes and the HOLDS links of those whose account is
    in the load (the others stay unattached, as on a Bolt load); return the
    rows of each file and whether a field spans lines."""
    nodes = _Lines(out / "products.csv", _PRODUCTS_HEADER)
    holds = _Lines(out / "holds.csv", _HOLDS_HEADER)
    product_lines: list[str] = []
    hold_lines: list[str] = []
    for pid, ((aid, pkey), (product, term, amount, balance, limit)) in enumerate(
        products.items(), products_at
    ):
        product_lines.append(
            f"{pid},{_quote(aid)},{_quote(pkey)},{_quote(product)},"
            f"{'' if term is None else int(term)},{_real(amount)},"
            f"{_real(balance)},{_real(limit)}"
        )
        holder = accounts.get(aid)
        if holder is not None:
            hold_lines.append(f"{holder[0] + accounts_at},{pid}")
        if len(product_lines) >= _LINES:
            nodes.write(product_lines)
            holds.write(hold_lines)
            product_lines, hold_lines = [], []
    nodes.write(product_lines)
    holds.write(hold_lines)
    nodes.close()
    holds.close()
    return nodes.rows, holds.rows, nodes.multiline


def _send_result(send: Any, fn: Callable[..., Any], args: tuple[Any, ...]) -> None:
    """Run a writer in a forked child and send back its result or its error."""
    try:
        message: tuple[str, Any] = ("ok", fn(*args))
    except BaseException as exc:  # reported by the parent, which raises it
        message = ("error", f"{type(exc).__name__}: {exc}")
    send.send(message)
    send.close()


class _Writer:
    """Runs a file writer in a forked copy of this process, or in this one
    when the data is small or the platform cannot fork.

    Args:
        name: The files it writes, for messages.
        fork: Whether the data is large enough to be worth a process.
        fn: The writer; its return value is what :meth:`result` gives.
    """

    def __init__(
        self, name: str, fork: bool, fn: Callable[..., Any], *args: Any
    ) -> None:
        self.name = name
        self._value: Any = None
        self._proc: Any = None
        if not (fork and "fork" in mp.get_all_start_methods()):
            try:
                self._value = fn(*args)
            except OSError as exc:
                raise StoreError(
                    f"writing {name} failed: {type(exc).__name__}: {exc}"
                ) from exc
            return
        ctx = mp.get_context("fork")
        self._recv, send = ctx.Pipe(duplex=False)
        self._proc = ctx.Process(
            target=_send_result, args=(send, fn, args),
            name="ringfence-csv-writer", daemon=True,
        )
        self._proc.start()
        send.close()

    def result(self) -> Any:
        """The writer's return value, once it has finished.

        Raises:
            StoreError: The writer failed.
        """
        if self._proc is None:
            return self._value
        try:
            tag, value = self._recv.recv()
        except EOFError:  # it died before sending anything
            tag, value = "error", "the writing process died"
        self._proc.join()
        if tag != "ok":
            raise StoreError(f"writing {self.name} failed: {value}")
        if self._proc.exitcode != 0:
            raise StoreError(
                f"writing {self.name} failed: its process exited with "
                f"{self._proc.exitcode}"
            )
        return value

    def kill(self) -> None:
        if self._proc is not None:
            self._proc.kill()
            self._proc.join()


class _Lines:
    """A CSV file written in blocks; counts rows and spots multi-line fields."""

    def __init__(self, path: Path, header: str) -> None:
        self.path = path
        self.rows = 0
        self.multiline = False
        self._fh: IO[str] = open(path, "w", encoding="utf-8", newline="")
        self._fh.write(header + "\n")

    def write(self, lines: list[str]) -> None:
        if not lines:
            return
        text = "\n".join(lines)
        self.multiline = (self.multiline or "\r" in text
                          or text.count("\n") >= len(lines))
        self._fh.write(text + "\n")
        self.rows += len(lines)

    def write_all(self, lines: Iterable[str]) -> None:
        block: list[str] = []
        for line in lines:
            block.append(line)
            if len(block) >= _LINES:
                self.write(block)
                block = []
        self.write(block)

    def close(self) -> None:
        self._fh.close()


@dataclass(slots=True)
class ImportFiles:
    """What :meth:`CsvSpool.finish` wrote.

    Attributes:
        args: The importer's ``--nodes``/``--relationships`` arguments.
        counts: Rows of each file: ``accounts``, ``identifiers``, ``links``,
            ``products``, ``holds`` and ``settings``.
        multiline: Whether a field spans lines (the importer must be told).
        kinds: The identifier kinds, sorted.
    """

    args: list[str]
    counts: dict[str, int]
    multiline: bool
    kinds: list[str]


class CsvSpool(RowWriter):
    """A load target that builds the importer's CSV files in ``out``.

    It offers what :func:`ringfence.loaders.load.load_files` needs of a
    store (:meth:`load`, :meth:`get_setting`, :meth:`set_setting`) and keeps
    the settings as the store's ``Meta`` nodes.

    Args:
        out: An existing, empty folder for the files.
    """

    def __init__(self, out: Path) -> None:
        self.out = out
        # account_id -> [number, created_at, full_name, date_of_birth, label,
        # seen_at]
        self._accounts: dict[str, list[Any]] = {}
        self._idents: dict[str, dict[str, int]] = {}
        self._files: dict[str, _Lines] = {}
        self._n_idents = 0
        self._links: dict[int, int] = {}
        # (account_id, pkey) -> [product, term_months, amount, balance, limit]
        self._products: dict[tuple[str, str], list[Any]] = {}
        self._settings: dict[str, str] = {}

    # -- what the loader needs of a store -------------------------------------

    @contextmanager
    def load(self) -> Iterator[LoadWriter]:
        yield self

    def get_setting(self, name: str) -> str | None:
        return self._settings.get(name)

    def set_setting(self, name: str, value: str) -> None:
        self._settings[name] = value

    # -- merging ---------------------------------------------------------------

    def write_rows(
        self, rows: Sequence[AccountRow], products: Sequence[ProductRow]
    ) -> None:
        self._merge_accounts(rows)
        self._merge_identifiers(rows)
        for p in products:
            key = (p[0], product_key(p))
            kept = self._products.get(key)
            if kept is None:
                self._products[key] = [p[1], p[2], p[3], p[4], p[5]]
            else:
                kept[3] = p[4]
                kept[4] = p[5]

    def _merge_accounts(self, rows: Sequence[AccountRow]) -> None:
        batch: dict[str, list[Any]] = {}
        for account_id, created, seen, name, dob, label, _ in rows:
            agg = batch.get(account_id)
            if agg is None:
                batch[account_id] = [created, name, dob, label, seen]
                continue
            if created < agg[0]:
                agg[0] = created
            if seen > agg[4]:
                agg[1:] = [name, dob, label, seen]
        accounts = self._accounts
        for account_id, (created, name, dob, label, seen) in batch.items():
            kept = accounts.get(account_id)
            if kept is None:
                accounts[account_id] = [len(accounts), created, name, dob, label,
                                        seen]
                continue
            newer = seen >= kept[5]
            kept[1] = min(kept[1], created)
            if newer:
                kept[2] = name
                kept[3] = dob
            if (newer and label is not None) or kept[4] is None:
                kept[4] = label
            kept[5] = max(kept[5], seen)

    def _merge_identifiers(self, rows: Sequence[AccountRow]) -> None:
        accounts = self._accounts
        links = self._links
        idents = self._idents
        numbered = self._n_idents
        fresh: dict[int, list[Any]] = {}
        # the last kind's keys, as rows list their identifiers kind by kind
        kind_of = ""
        keys: dict[str, int] = {}
        for account_id, _, seen, _, _, _, row_idents in rows:
            base = accounts[account_id][0] << 32
            stamp = seen << 32 | seen
            for kind, key, display, valid, extra in row_idents:
                if kind != kind_of:
                    kind_of = kind
                    keys = idents.setdefault(kind, {})
                number = keys.get(key)
                if number is None:
                    number = keys[key] = numbered
                    numbered += 1
                    fresh[number] = [kind, key, display, valid, extra]
                else:
                    first = fresh.get(number)
                    if first is not None:
                        if display < first[2]:
                            first[2] = display
                        if not valid:
                            first[3] = False
                        if extra < first[4]:
                            first[4] = extra
                link = base | number
                span = links.get(link)
                if span is None:
                    links[link] = stamp
                else:
                    low, high = span >> 32, span & _LOW
                    if seen < low or seen > high:
                        links[link] = min(low, seen) << 32 | max(high, seen)
        self._n_idents = numbered
        by_kind: dict[str, list[str]] = {}
        for number, (kind, key, display, valid, extra) in fresh.items():
            lines = by_kind.get(kind)
            if lines is None:
                lines = by_kind[kind] = []
            # _quote() spelled out: a call per field costs a tenth of the
            # merge, here run once per identifier (5.5M at 1M accounts).
            lines.append(
                f'{number},"{kind.replace(chr(34), _QQ)}",'
                f'"{key.replace(chr(34), _QQ)}","{display.replace(chr(34), _QQ)}",'
                f'{"true" if valid else "false"},"{extra.replace(chr(34), _QQ)}"'
            )
        for kind, lines in by_kind.items():
            out = self._files.get(kind)
            if out is None:
                path = self.out / f"identifiers-{len(self._files):02d}.csv"
                out = self._files[kind] = _Lines(path, _IDENTS_HEADER)
            out.write(lines)

    # -- the files -------------------------------------------------------------

    def finish(self) -> ImportFiles:
        """Write the remaining files and close every file.

        Raises:
            StoreError: An identifier kind cannot be a Neo4j label, or a
                file could not be written.
        """
        self.close()
        args: list[str] = []
        counts: dict[str, int] = {}
        # Node ids are the database's own (the importer's --id-type=actual,
        # which spares it mapping ids): identifiers first, numbered as they
        # were met, then accounts, products and settings.
        accounts_at = self._n_idents
        products_at = accounts_at + len(self._accounts)
        settings_at = products_at + len(self._products)

        # Links and products depend on nothing the other files hold: forked
        # copies of this process write them while this one writes the rest.
        has_path = self.out / "has.csv"
        writers: list[_Writer] = []
        try:
            writers.append(_Writer(
                str(has_path), len(self._links) >= _FORK_ROWS,
                _write_links, has_path, self._links, accounts_at))
            writers.append(_Writer(
                f"{self.out / 'products.csv'} or holds.csv",
                len(self._products) >= _FORK_ROWS,
                _write_products, self.out, self._products, self._accounts,
                accounts_at, products_at))
            multiline, kinds = self._write_nodes(args, counts, accounts_at,
                                                 settings_at)
            links, links_multiline = writers[0].result()
            products, holds, products_multiline = writers[1].result()
        except BaseException:
            for writer in writers:
                writer.kill()
            raise
        counts["links"] = links
        counts["products"] = products
        counts["holds"] = holds
        multiline = multiline or links_multiline or products_multiline
        args.append(f"--nodes=Product={self.out / 'products.csv'}")
        if kinds:
            # Without an identifier file the importer knows no Identifier
            # group and refuses the whole import, even with no HAS rows.
            args.append(f"--relationships=HAS={has_path}")
        args.append(f"--relationships=HOLDS={self.out / 'holds.csv'}")
        return ImportFiles(args, counts, multiline, kinds)

    def _write_nodes(
        self, args: list[str], counts: dict[str, int], accounts_at: int,
        settings_at: int,
    ) -> tuple[bool, list[str]]:
        """Write the accounts, identifier and settings files; return whether
        a field spans lines, and the identifier kinds."""
        from ringfence.graph.neo4j_store import _label_of

        multiline = False
        accounts = _Lines(self.out / "accounts.csv", _ACCOUNTS_HEADER)
        accounts.write_all(
            f"{n + accounts_at},{_quote(aid)},{created},{_quote(name)},{_quote(dob)},"
            f"{_text(label)},{seen}"
            for aid, (n, created, name, dob, label, seen) in self._accounts.items()
        )
        accounts.close()
        counts["accounts"] = accounts.rows
        multiline |= accounts.multiline
        args.append(f"--nodes=Account={accounts.path}")

        kinds = sorted(self._files)
        counts["identifiers"] = 0
        holders: dict[str, str] = {}
        for kind in kinds:
            label = _label_of(kind)
            if label is None:
                raise StoreError(
                    f"identifier kind {kind!r} cannot be stored in Neo4j: kinds "
                    "are lower-case letters, digits and underscores and must not "
                    "name one of ringfence's own labels"
                )
            if label in holders:
                raise StoreError(
                    f"identifier kinds {kind!r} and {holders[label]!r} both map "
                    f"to the Neo4j label {label}: rename one of them"
                )
            holders[label] = kind
            idents = self._files[kind]
            counts["identifiers"] += idents.rows
            multiline |= idents.multiline
            args.append(f"--nodes=Identifier:{label}={idents.path}")

        settings = _Lines(self.out / "settings.csv", _SETTINGS_HEADER)
        settings.write([
            f"{n},{_quote(name)},{_quote(value)}"
            for n, (name, value) in enumerate(sorted(self._settings.items()),
                                              settings_at)
        ])
        settings.close()
        counts["settings"] = settings.rows
        multiline |= settings.multiline
        args.append(f"--nodes=Meta={settings.path}")
        return multiline, kinds

    def close(self) -> None:
        """Close the identifier files (also after a failed load)."""
        for lines in self._files.values():
            lines.close()
