"""The nightly job over three nights: lineage, changes, crashes and refusals."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner, Result

from ringfence.cli import nightly_cmd
from ringfence.cli.main import cli
from ringfence.export import read_current

# main.py registers these commands itself once every optional command module
# it looks for is present; registering here keeps the tests independent of it.
for _command in nightly_cmd.COMMANDS:
    cli.commands.setdefault(str(_command.name), _command)

HEADER = "account_id,created_at,full_name,national_id,phone,email,device_id\n"
NIGHTS = ("2026-03-01", "2026-03-02", "2026-03-03")


def _row(account: str, day: str, name: str, *, nid: str = "", phone: str = "",
         email: str = "", device: str = "") -> str:
    return f"{account},{day}T09:00:00,{name},{nid},{phone},{email},{device}\n"


def _background(prefix: str, day: str, n: int) -> str:
    return "".join(
        _row(f"{prefix}{i}", day, f"Pat Person{prefix}{i}",
             phone=f"503-2{ord(prefix) - 90:02d}-{4400 + i:04d}",
             email=f"{prefix}{i}@example.com",
             device=f"dev-{prefix}{i}")
        for i in range(n)
    )


def _night_rows() -> dict[str, str]:
    """Three nights of account deltas with known lineage events.

    Night 1: ring G (g1-g3 share a phone) and ring X (x1-x3 share a phone,
    x4-x6 another, x3 and x4 an email bridging them).
    Night 2: g4 joins G's phone (G grows); eight new accounts use the
    bridging email, which becomes a hub above the email cap of 8 and no
    longer links, so X splits into {x1, x2, x3} and {x4, x5, x6}.
    Night 3: n1-n3 share one national id under three names (a new ring).
    """
    d1, d2, d3 = NIGHTS
    bridge = "bridge.mail@example.net"
    night1 = (
        _row("g1", d1, "Ann Alder", phone="541-555-0101", email="g1@example.org")
        + _row("g2", d1, "Ben Birch", phone="(541) 555-0101", email="g2@example.org")
        + _row("g3", d1, "Cy Cedar", phone="541.555.0101", email="g3@example.org")
        + _row("x1", d1, "Dee Dogwood", phone="541-555-0202", email="x1@example.org")
        + _row("x2", d1, "Eve Elm", phone="541 555 0202", email="x2@example.org")
        + _row("x3", d1, "Fay Fir", phone="541.555.0202", email=bridge)
        + _row("x4", d1, "Gus Gum", phone="541-555-0303", email=bridge)
        + _row("x5", d1, "Ida Ilex", phone="+1 541 555 0303", email="x5@example.org")
        + _row("x6", d1, "Jay Jacaranda", phone="5415550303", email="x6@example.org")
        + _background("b", d1, 6)
    )
    night2 = (
        _row("g4", d2, "Hal Hazel", phone="5415550101", email="g4@example.org")
        + "".join(_row(f"e{i}", d2, f"Ivy Ivory{i}", email=bridge,
                       phone=f"503-220-{5500 + i:04d}") for i in range(8))
        + _background("c", d2, 3)
    )
    night3 = (
        _row("n1", d3, "Jo Juniper", nid="212-44-5521")
        + _row("n2", d3, "Kim Kapok", nid="212 44 5521")
        + _row("n3", d3, "Lu Larch", nid="212445521")
        + _background("d", d3, 3)
    )
    return {d1: night1, d2: night2, d3: night3}


def _setup(tmp_path: Path, *, max_reject_rate: float = 0.05) -> Path:
    for night, rows in _night_rows().items():
        folder = tmp_path / "incoming" / night
        folder.mkdir(parents=True)
        (folder / "accounts.csv").write_text(HEADER + rows)
    config = tmp_path / "ringfence.yaml"
    config.write_text(
        "nightly:\n"
        "  accounts: incoming/{date}/accounts*.csv\n"
        "  store: store\n"
        "  export_dir: export\n"
        "  report_dir: reports\n"
        f"  max_reject_rate: {max_reject_rate}\n"
    )
    return config


def _nightly(config: Path, date: str) -> Result:
    return CliRunner().invoke(
        cli, ["nightly", "--config", str(config), "--date", date, "--json"]
    )


def _ok(config: Path, date: str) -> dict:
    result = _nightly(config, date)
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


def _rings_by_member(record: dict, tmp_path: Path) -> dict[str, str]:
    store_rings = json.loads(CliRunner().invoke(
        cli, ["--store", str(tmp_path / "store"), "rings", "--run",
              record["run_id"], "--json"]).output)
    return {m: r["ring_id"] for r in store_rings for m in r["members"]}


def _flagged(export_dir: Path) -> pd.DataFrame:
    rows = read_current(export_dir)
    assert rows is not None
    return rows.drop(columns=["generated_at"]).sort_values("account_id").reset_index(
        drop=True)


def test_three_nights_keep_ring_ids_and_report_changes(tmp_path: Path) -> None:
    config = _setup(tmp_path)
    first, second, third = (_ok(config, night) for night in NIGHTS)

    ring1 = _rings_by_member(first, tmp_path)
    assert first["changes"]["rings"] == {"new": sorted({ring1["g1"], ring1["x1"]})}
    assert ring1["x1"] == ring1["x6"]
    assert sorted(first["changes"]["flagged_added"]) == [
        "g1", "g2", "g3", "x1", "x2", "x3", "x4", "x5", "x6"]

    ring2 = _rings_by_member(second, tmp_path)
    assert ring2["g4"] == ring2["g1"] == ring1["g1"]
    assert ring2["x1"] == ring2["x3"] != ring2["x4"] == ring2["x6"]
    assert ring1["x1"] in (ring2["x1"], ring2["x4"])
    changes = second["changes"]
    assert changes["rings"]["grown"] == [ring1["g1"]]
    assert changes["rings"]["split"] == sorted({ring2["x1"], ring2["x4"]})
    assert changes["flagged_added"] == ["g4"]
    assert changes["flagged_removed"] == []
    assert changes["rings_gone"] == []
    assert second["previous_run_id"] == first["run_id"]

    ring3 = _rings_by_member(third, tmp_path)
    assert {m: ring3[m] for m in ring2} == ring2
    assert ring3["n1"] == ring3["n2"] == ring3["n3"]
    assert third["changes"]["rings"]["new"] == [ring3["n1"]]
    assert sorted(third["changes"]["rings"]["same"]) == sorted(set(ring2.values()))
    assert third["changes"]["flagged_added"] == ["n1", "n2", "n3"]


def test_record_has_checksums_counts_and_a_self_contained_report(
    tmp_path: Path,
) -> None:
    config = _setup(tmp_path)
    record = _ok(config, NIGHTS[0])
    assert re.fullmatch(r"night-2026-03-01-[0-9a-f]{10}", record["run_id"])
    (source,) = record["inputs"]
    assert len(source["sha256"]) == 64 and source["table"] == "accounts"
    assert record["rows"] == {"read": 15, "accepted": 15, "rejected": 0}
    assert record["counts_after"]["accounts"] == 15
    assert record["thresholds"]["max_reject_rate"] == 0.05
    assert record["metrics"]["rings"] == 2
    assert set(record["timings"]) >= {"load", "detect", "export", "report"}
    saved = json.loads((tmp_path / "reports" / f"{record['run_id']}.json").read_text())
    assert saved["run_id"] == record["run_id"]
    page = (tmp_path / "reports" / f"{record['run_id']}.html").read_text()
    assert page.count("data:image/png;base64,") == 2
    assert not re.search(r"(src|href)\s*=\s*[\"']?https?://", page)
    assert "Ann Alder" not in page and "0101" not in page


def test_rerunning_a_night_replaces_its_record(tmp_path: Path) -> None:
    config = _setup(tmp_path)
    first = _ok(config, NIGHTS[0])
    again = _ok(config, NIGHTS[0])
    assert again["run_id"] == first["run_id"]
    assert len(list((tmp_path / "reports").glob("night-*.json"))) == 1
    assert again["counts_after"] == first["counts_after"]
    assert again["changes"] == first["changes"]


@pytest.mark.parametrize("where", [
    "ringfence.detectors.pipeline.detect",
    "ringfence.export.export_flagged",
    "ringfence.nightly_report.render_report",
])
def test_crash_mid_night_then_rerun_matches_a_clean_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, where: str
) -> None:
    clean = _setup(tmp_path / "clean")
    _ok(clean, NIGHTS[0])
    clean_second = _ok(clean, NIGHTS[1])

    config = _setup(tmp_path / "crash")
    _ok(config, NIGHTS[0])
    export = tmp_path / "crash" / "export"
    before = (export / "current" / "flagged.csv").read_bytes()

    def crash(*args: object, **kwargs: object) -> None:
        raise RuntimeError("power cut")

    with monkeypatch.context() as patch:
        patch.setattr(where, crash)
        result = _nightly(config, NIGHTS[1])
    assert result.exit_code != 0
    if where != "ringfence.nightly_report.render_report":
        assert (export / "current" / "flagged.csv").read_bytes() == before

    second = _ok(config, NIGHTS[1])
    assert second["run_id"] == clean_second["run_id"]
    assert second["changes"] == clean_second["changes"]
    pd.testing.assert_frame_equal(_flagged(export),
                                  _flagged(tmp_path / "clean" / "export"))
    third = _ok(config, NIGHTS[2])
    assert third["changes"]["rings"]["new"] == _ok(
        clean, NIGHTS[2])["changes"]["rings"]["new"]


def test_missing_input_stops_the_night_and_keeps_the_export(tmp_path: Path) -> None:
    config = _setup(tmp_path)
    _ok(config, NIGHTS[0])
    before = (tmp_path / "export" / "current" / "flagged.csv").read_bytes()
    result = _nightly(config, "2026-03-09")
    assert result.exit_code == 3
    assert "missing input" in result.output and "2026-03-09" in result.output
    assert "previous export is unchanged" in result.output
    assert (tmp_path / "export" / "current" / "flagged.csv").read_bytes() == before


def test_reject_rate_above_limit_stops_the_night(tmp_path: Path) -> None:
    config = _setup(tmp_path, max_reject_rate=0.1)
    _ok(config, NIGHTS[0])
    export = tmp_path / "export" / "current"
    before = (export / "flagged.csv").read_bytes()
    bad = tmp_path / "incoming" / NIGHTS[1] / "accounts.csv"
    bad.write_text(HEADER + _row("z1", NIGHTS[1], "Ok Row")
                   + "z2,not-a-date,Bad Row,,,,\nz3,,Bad Row,,,,\n")
    result = _nightly(config, NIGHTS[1])
    assert result.exit_code == 3
    assert "nothing was committed" in result.output
    assert "2 of 3 rows rejected" in result.output
    assert (export / "flagged.csv").read_bytes() == before
    store = CliRunner().invoke(cli, ["--store", str(tmp_path / "store"), "account",
                                     "show", "z1", "--json"])
    assert store.exit_code == 3


def test_bad_nightly_section_lists_every_problem(tmp_path: Path) -> None:
    config = tmp_path / "bad.yaml"
    config.write_text("nightly:\n  export_dir: 3\n  colour: blue\n")
    result = _nightly(config, NIGHTS[0])
    assert result.exit_code == 2
    for part in ("nightly.accounts is required", "nightly.colour",
                 "nightly.report_dir is required", "nightly.export_dir"):
        assert part in result.output


def test_generated_days_keep_ids_through_growth_and_split_and_find_the_new_ring(
    tmp_path: Path,
) -> None:
    from ringfence.generate import generate_days

    days = generate_days(tmp_path / "gen", 400, 7)
    for day, night in zip(days, NIGHTS, strict=True):
        folder = tmp_path / "incoming" / night
        folder.mkdir(parents=True)
        for name in ("accounts.csv", "loans.csv"):
            (folder / name).write_bytes((day.accounts.parent / name).read_bytes())
    config = tmp_path / "ringfence.yaml"
    config.write_text(
        "nightly:\n"
        "  accounts: incoming/{date}\n"
        "  loans: incoming/{date}\n"
        "  store: store\n  export_dir: export\n  report_dir: reports\n"
    )
    records = [_ok(config, night) for night in NIGHTS]
    assert len(records[0]["inputs"]) == 2
    # Later days' truth rows replace earlier ones (a split moves members).
    truth = pd.concat(
        pd.read_csv(d.truth, dtype=str, keep_default_na=False) for d in days
    ).drop_duplicates("account_id", keep="last")
    members = truth.groupby("ring_id")["account_id"].apply(set).to_dict()

    (grown,) = days[1].lineage["grown"]
    rings = [_rings_by_member(r, tmp_path) for r in records]
    first_ids = {rings[0][a] for a in members[grown] if a in rings[0]}
    second_ids = {rings[1][a] for a in members[grown] if a in rings[1]}
    assert len(first_ids) == 1 and first_ids == second_ids
    assert records[1]["changes"]["rings"]["grown"] == sorted(first_ids)

    # The split: the bridging account's later row replaces its device, so
    # the two halves part; the larger keeps the night-1 id, both are marked.
    old_part, new_part = days[1].lineage["split"]
    before = {rings[0][a] for a in members[old_part] | members[new_part]
              if a in rings[0]}
    assert len(before) == 1
    after_old = {rings[1][a] for a in members[old_part] if a in rings[1]}
    after_new = {rings[1][a] for a in members[new_part] if a in rings[1]}
    assert len(after_old) == len(after_new) == 1 and after_old != after_new
    assert before & (after_old | after_new)
    assert sorted(after_old | after_new) == sorted(
        records[1]["changes"]["rings"]["split"])

    (new,) = days[2].lineage["new"]
    found = {rings[2][a] for a in members[new] if a in rings[2]}
    assert len(found) == 1
    assert records[2]["changes"]["rings"]["new"] == sorted(found)
    kept = {r: s for r, s in rings[1].items() if r in rings[2]}
    assert kept == {a: rings[2][a] for a in kept}
