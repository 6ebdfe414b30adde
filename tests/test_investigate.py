"""Investigator commands: who-shares, path, contacts, ring pictures, filters."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from PIL import Image

from ringfence.cli import investigate
from ringfence.cli.main import cli
from ringfence.config import Config
from ringfence.graph.embedded import EmbeddedStore
from ringfence.identify import IdentifierRules
from ringfence.loaders.load import load_files
from ringfence.model import DetectionResult, Ring
from tests.conftest import CASES

# main.py registers these commands itself once every optional command module
# it looks for is present; registering here keeps the tests independent of it.
for _command in investigate.COMMANDS:
    cli.commands.setdefault(str(_command.name), _command)


def _invoke(store: Path, *args: str) -> Result:
    return CliRunner().invoke(cli, ["--store", str(store), *args])


def _run(store: Path, *args: str) -> str:
    result = _invoke(store, *args)
    assert result.exit_code == 0, result.output
    return result.output


@pytest.fixture()
def bank(tmp_path: Path) -> Path:
    store = tmp_path / "store"
    _run(store, "load", str(CASES / "bank-ring" / "accounts.csv"), "--loans",
         str(CASES / "bank-ring" / "loans.csv"))
    _run(store, "detect")
    return store


def test_who_shares_finds_a_phone_written_another_way(bank: Path) -> None:
    view = json.loads(_run(bank, "who-shares", "phone", "541.726.3310", "--json"))
    assert [a["account_id"] for a in view["accounts"]] == ["H1", "H2"]
    assert view["degree"] == 2 and view["hub"] is False
    assert all(a["decision"] == "decline" and a["ring_id"] for a in view["accounts"])
    table = _run(bank, "who-shares", "phone", "+1 541 726 3310")
    assert "H1" in table and "H2" in table and "not a hub" in table


def test_who_shares_national_id_is_never_shown_in_clear(bank: Path) -> None:
    out = _run(bank, "who-shares", "national_id", "312441290", "--json")
    view = json.loads(out)
    assert [a["account_id"] for a in view["accounts"]] == ["H2", "H3"]
    assert view["display"] == "*****1290"
    assert "312441290" not in out and "312-44" not in out


def test_who_shares_marks_hubs_and_refuses_placeholders(tmp_path: Path) -> None:
    store = tmp_path / "store"
    rows = "".join(f"P{i},2026-01-0{1 + i % 9},Pat {i},,pub-device-01\n"
                   for i in range(25))
    src = tmp_path / "a.csv"
    src.write_text("account_id,created_at,full_name,phone,device_id\n" + rows)
    _run(store, "load", str(src))
    view = json.loads(_run(store, "who-shares", "device_id", "pub-device-01",
                           "--json", "--limit", "5"))
    assert view["degree"] == 25 and view["hub"] is True
    assert "cap of 20" in view["hub_reason"]
    assert view["truncated"] is True and len(view["accounts"]) == 5
    refused = _invoke(store, "who-shares", "phone", "N/A")
    assert refused.exit_code == 3 and "placeholder" in refused.output
    unknown = _invoke(store, "who-shares", "shoe_size", "42")
    assert unknown.exit_code == 3 and "unknown identifier kind" in unknown.output


def test_normalisation_matches_what_the_loader_stored(bank: Path) -> None:
    store = EmbeddedStore(bank, readonly=True)
    try:
        stored = set(zip(*(store.links(["H1", "H2", "H3", "H4"])[c]
                           for c in ("kind", "key")), strict=True))
    finally:
        store.close()
    rules = IdentifierRules(Config())
    lines = (CASES / "bank-ring" / "accounts.csv").read_text().splitlines()
    import csv

    for row in csv.DictReader(lines):
        idents, skipped, unknown = rules.from_fields(
            {k: v for k, v in row.items()
             if k not in ("account_id", "created_at", "full_name", "date_of_birth")})
        assert not skipped and not unknown
        assert {(i.kind, i.key) for i in idents} <= stored
        assert len(idents) == 5


def test_path_between_ring_members(bank: Path) -> None:
    view = json.loads(_run(bank, "path", "H1", "H3", "--json"))
    assert view["found"] is True and view["hops"] == 1
    (hop,) = view["path"]
    assert (hop["from"], hop["to"], hop["kind"]) == ("H1", "H3", "address")
    text = _run(bank, "path", "H1", "H3")
    assert "H1 --[address" in text and "--> H3" in text


def test_path_reports_when_none_within_the_limit(bank: Path) -> None:
    text = _run(bank, "path", "H1", "H4")
    assert "no chain of shared identifiers links H1 and H4 within 4 hop(s)" in text
    missing = _invoke(bank, "path", "H1", "NOPE")
    assert missing.exit_code == 3 and "no account 'NOPE'" in missing.output


def _chain_store(tmp_path: Path) -> Path:
    """C0 - C1 - C2 - C3 - C4 chained by phones (C_i and C_i+1 share one), and
    every C on one busy device that 20 other accounts use too: a hub above
    the device cap of 20."""
    rows = ["account_id,created_at,full_name,phone,device_id"]
    for i in range(5):
        if i < 4:
            rows.append(f"C{i},2026-01-01,Chain {i},541-726-{1000 + i},busy-01")
        if i > 0:
            rows.append(f"C{i},2026-01-01,Chain {i},541-726-{999 + i},busy-01")
    rows += [f"F{i},2026-01-01,Filler {i},,busy-01" for i in range(20)]
    src = tmp_path / "chain.csv"
    src.write_text("\n".join(rows) + "\n")
    store = tmp_path / "store"
    _run(store, "load", str(src))
    return store


def test_path_takes_the_shortest_chain_and_skips_hubs(tmp_path: Path) -> None:
    store = _chain_store(tmp_path)
    view = json.loads(_run(store, "path", "C0", "C4", "--json"))
    assert view["found"] and view["hops"] == 4
    assert [h["from"] for h in view["path"]] == ["C0", "C1", "C2", "C3"]
    assert {h["kind"] for h in view["path"]} == {"phone"}
    assert view["hubs_skipped"] >= 1
    short = json.loads(_run(store, "path", "C0", "C4", "--max-hops", "3", "--json"))
    assert short["found"] is False
    hub = json.loads(_run(store, "path", "C0", "C4", "--through-hubs", "--json"))
    assert hub["hops"] == 1 and hub["path"][0]["kind"] == "device"


def test_contacts_of_h3_reach_the_ring_phone(bank: Path) -> None:
    view = json.loads(_run(bank, "contacts", "H3", "--json"))
    found = {(c["kind"], c["display"]): c for c in view["contacts"]}
    phone = found[("phone", "+15417263310")]
    assert phone["via_kind"] == "national_id" and phone["via_account"] == "H2"
    assert phone["via_display"] == "*****1290" and phone["hop"] == 1
    assert ("email", "b.okafor@example.org") in found
    assert all(c["display"] != "+15417269987" for c in view["contacts"])
    assert "+15417263310" in _run(bank, "contacts", "H3")


def test_contacts_rank_national_id_before_device(tmp_path: Path) -> None:
    src = tmp_path / "a.csv"
    src.write_text(
        "account_id,created_at,seen_at,full_name,national_id,phone,device_id\n"
        "A,2026-01-01,2026-01-01,Al,212-44-5521,555-020-0001,dev-1\n"
        "B,2026-01-02,2026-01-05,Bo,,555-020-0002,dev-1\n"
        "C,2026-01-02,2026-01-02,Al,212 44 5521,555-020-0003,\n")
    store = tmp_path / "store"
    _run(store, "load", str(src))
    view = json.loads(_run(store, "contacts", "A", "--json"))
    order = [(c["display"], c["via_kind"]) for c in view["contacts"]]
    assert order == [("+15550200003", "national_id"), ("+15550200002", "device")]


def _big_ring(tmp_path: Path, n: int = 50) -> tuple[Path, str]:
    """A store whose latest run holds one ring of ``n`` members."""
    lines = ["account_id,created_at,full_name,phone,email,device_id,address"]
    for i in range(n):
        lines.append(
            f"M{i:02d},2026-02-0{1 + i % 5},Member {i},555-030-{i // 4:04d},"
            f"m{i // 3}@example.org,dev-{i // 6},"
            f"\"{10 + i // 10} Oak Street, Salem, OR 97301\""
        )
    src = tmp_path / "ring.csv"
    src.write_text("\n".join(lines) + "\n")
    store = EmbeddedStore(tmp_path / "store")
    load_files(store, [src], config=Config(), reports_dir=tmp_path / "reports")
    members = [f"M{i:02d}" for i in range(n)]
    ring = Ring("R-big", members, 0.91, 0.0, {"shared": []}, "new")
    store.write_results(DetectionResult("run-big", "2026-02-10T00:00:00", {},
                                        [ring], [], [], {}))
    store.close()
    return tmp_path / "store", "R-big"


def test_ring_png_is_a_real_image_at_fifty_members(tmp_path: Path) -> None:
    store, ring_id = _big_ring(tmp_path)
    png = tmp_path / "ring.png"
    _run(store, "ring", "show", ring_id, "--png", str(png))
    with Image.open(png) as image:
        assert image.format == "PNG"
        width, height = image.size
    assert width >= 1000 and height >= 750


def test_ring_html_is_one_self_contained_file(bank: Path, tmp_path: Path) -> None:
    (ring,) = json.loads(_run(bank, "rings", "--json"))
    page = tmp_path / "ring.html"
    png = tmp_path / "ring.png"
    _run(bank, "ring", "show", ring["ring_id"], "--html", str(page), "--png", str(png))
    text = page.read_text()
    assert text.startswith("<!DOCTYPE html>") and "<svg" in text
    assert not re.search(r"(src|href)\s*=\s*[\"']?https?://", text)
    assert "<script src" not in text and "<link" not in text
    assert "*****1290" in text and "312-44-1290" not in text
    for account in ("H1", "H2", "H3"):
        assert account in text
    with Image.open(png) as image:
        assert image.size[0] >= 600 and image.size[1] >= 400


def test_ring_html_marks_hubs(tmp_path: Path) -> None:
    store, ring_id = _big_ring(tmp_path, n=30)
    # The address "10 Oak Street" is held by 10 members: below the cap; make
    # the rule stricter so that it becomes a hub.
    config = tmp_path / "strict.yaml"
    config.write_text("detect:\n  hub_degree: {address: 5}\n")
    page = tmp_path / "ring.html"
    _run(store, "--config", str(config), "ring", "show", ring_id, "--html", str(page))
    assert "(hub: links nothing)" in page.read_text()


def test_rings_filters_and_changed_since(tmp_path: Path) -> None:
    store = tmp_path / "store"
    src = tmp_path / "a.csv"
    header = "account_id,created_at,full_name,phone\n"
    src.write_text(header + "".join(
        f"{ring}{i},2026-01-01,Pat {ring}{i} Name{ring}{i},541-726-40{n}0\n"
        for n, ring in enumerate("AB") for i in range(1, 4)))
    _run(store, "load", str(src))
    first = json.loads(_run(store, "detect", "--json"))["run_id"]
    grow = tmp_path / "b.csv"
    grow.write_text(header + "A4,2026-01-02,Eve Extra,541-726-4000\n")
    _run(store, "load", str(grow))
    _run(store, "detect")
    rings = json.loads(_run(store, "rings", "--json"))
    assert len(rings) == 2
    changed = json.loads(_run(store, "rings", "--changed-since", first, "--json"))
    assert [r["members"] for r in changed] == [["A1", "A2", "A3", "A4"]]
    assert json.loads(_run(store, "rings", "--min-size", "4", "--json")) == changed
    assert json.loads(_run(store, "rings", "--min-score", "1", "--json")) == []
    old = json.loads(_run(store, "rings", "--run", first, "--json"))
    assert sorted(len(r["members"]) for r in old) == [3, 3]
    bad = _invoke(store, "rings", "--changed-since", "run-nope")
    assert bad.exit_code == 3 and "no run 'run-nope'" in bad.output
