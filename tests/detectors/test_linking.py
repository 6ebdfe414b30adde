"""Hub handling, grouping, scoring and determinism of ring detection."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from ringfence.config import Config
from ringfence.detectors.baseline import baseline_groups
from ringfence.detectors.lineage import assign_lineage
from ringfence.detectors.linking import link_accounts
from ringfence.detectors.pipeline import detect
from ringfence.detectors.rings import ring_id_for
from ringfence.graph.embedded import EmbeddedStore
from ringfence.model import AccountRecord, Identifier, Ring

DAY = 86_400


def _acc(aid: str, t: int, name: str, *idents: tuple[str, str]) -> AccountRecord:
    return AccountRecord(
        account_id=aid, created_at=t, seen_at=t, full_name=name,
        identifiers=[Identifier(k, v, v) for k, v in idents],
    )


def _snapshot(tmp_path: Path, records: list[AccountRecord]):
    store = EmbeddedStore(tmp_path / "s")
    with store.load() as w:
        w.write(records, [])
    return store.snapshot()


def _ring(prefix: str, n: int, t0: int, phone: str, device: str) -> list[AccountRecord]:
    return [
        _acc(f"{prefix}{k}", t0 + k * 3600, f"Person{k} Surname{prefix}{k}",
             ("phone", phone), ("device", device), ("email", f"{prefix}{k}@x"))
        for k in range(n)
    ]


def test_hub_phone_does_not_chain_rings(tmp_path: Path) -> None:
    # Two rings, and a call-centre phone given by both rings and 40 others.
    records = _ring("a", 5, 0, "+1001", "da") + _ring("b", 5, 0, "+1002", "db")
    records += [_acc(f"x{k}", k * 50 * DAY, f"X{k} Y{k}") for k in range(40)]
    for r in records:
        r.identifiers.append(Identifier("phone", "+1800", "+1800"))
    snap = _snapshot(tmp_path, records)
    links = link_accounts(snap, Config())
    ids = snap.accounts["account_id"].to_numpy()
    groups = sorted(sorted(ids[g]) for g in links.groups)
    assert groups == [[f"a{k}" for k in range(5)], [f"b{k}" for k in range(5)]]
    assert [(h.kind, h.key, h.degree) for h in links.hubs] == [("phone", "+1800", 50)]
    assert "above the phone cap" in links.hubs[0].reason
    # The naive baseline chains everything into one component.
    assert len(baseline_groups(snap)) == 1


def test_one_shared_soft_identifier_does_not_link(tmp_path: Path) -> None:
    records = [_acc("r1", 0, "Ann Lee", ("address", "flat 1")),
               _acc("r2", 400 * DAY, "Bo Kim", ("address", "flat 1"))]
    assert link_accounts(_snapshot(tmp_path, records), Config()).groups == []


def test_two_shared_soft_identifiers_link(tmp_path: Path) -> None:
    records = [_acc("r1", 0, "Ann Lee", ("address", "flat 1"), ("device", "d")),
               _acc("r2", 0, "Bo Kim", ("address", "flat 1"), ("device", "d"))]
    assert len(link_accounts(_snapshot(tmp_path, records), Config()).groups) == 1


def test_allow_listed_identifier_never_links(tmp_path: Path) -> None:
    records = [_acc("r1", 0, "Ann Lee", ("phone", "+18005550100")),
               _acc("r2", 0, "Bo Kim", ("phone", "+18005550100"))]
    config = Config()
    config.detect.allow_list = [{"kind": "phone", "value": "+1 (800) 555-0100"}]
    links = link_accounts(_snapshot(tmp_path, records), config)
    assert links.groups == [] and links.hubs[0].reason == "allow-listed"


def test_family_sharing_phone_and_address_is_not_a_ring(tmp_path: Path) -> None:
    family = [
        _acc(f"f{k}", k * 700 * DAY, f"Name{k} Okafor", ("phone", "+1555"),
             ("address", "12 elm"))
        for k in range(3)
    ]
    result = detect(_snapshot(tmp_path, family), Config())
    assert result.rings == []
    assert {d.decision for d in result.decisions} == {"allow"}


def test_burst_ring_with_different_names_is_flagged(tmp_path: Path) -> None:
    result = detect(_snapshot(tmp_path, _ring("a", 6, 0, "+1001", "da")), Config())
    (ring,) = result.rings
    assert ring.members == [f"a{k}" for k in range(6)]
    assert 0.0 <= ring.score <= 1.0 and ring.score >= Config().detect.review_threshold
    assert all(d.ring_id == ring.ring_id for d in result.decisions)


def test_large_group_is_split_by_communities(tmp_path: Path) -> None:
    # Two dense rings of 12 joined by one bridging pair: one component of 24.
    records = _ring("a", 12, 0, "+1001", "da") + _ring("b", 12, 0, "+1002", "db")
    records[0].identifiers.append(Identifier("email", "bridge", "bridge"))
    records[12].identifiers.append(Identifier("email", "bridge", "bridge"))
    config = Config()
    config.detect.hub_degree["phone"] = 20
    config.detect.split_size = 16
    links = link_accounts(_snapshot(tmp_path, records), config)
    assert sorted(len(g) for g in links.groups) == [12, 12]


def test_household_attached_by_one_soft_link_stays_out_of_the_ring(
    tmp_path: Path,
) -> None:
    ring = _ring("a", 5, 0, "+1001", "da")
    family = [
        _acc(f"f{k}", k * 400 * DAY, f"Name{k} Okafor", ("phone", "+1555"),
             ("address", "12 elm"))
        for k in range(3)
    ]
    # One ring member gives the family's address, opened the same week as
    # a family member: a soft link that would chain the family in.
    ring[0].identifiers.append(Identifier("address", "12 elm", "12 elm"))
    result = detect(_snapshot(tmp_path, ring + family), Config())
    assert [r.members for r in result.rings] == [[f"a{k}" for k in range(5)]]


def test_national_id_reused_long_after_does_not_link_its_owner(
    tmp_path: Path,
) -> None:
    owner = _acc("owner", 0, "Real Owner", ("national_id", "h:1"))
    ring = _ring("a", 4, 600 * DAY, "+1001", "da")
    ring[0].identifiers.append(Identifier("national_id", "h:1", "*1"))
    result = detect(_snapshot(tmp_path, [owner, *ring]), Config())
    (found,) = result.rings
    assert "owner" not in found.members
    assert found.evidence["national_id_reused_outside"] == 1


def test_same_input_gives_same_rings_and_ids(tmp_path: Path) -> None:
    records = _ring("a", 6, 0, "+1001", "da") + _ring("b", 4, 0, "+1002", "db")
    first = detect(_snapshot(tmp_path / "1", records), Config())
    second = detect(_snapshot(tmp_path / "2", list(reversed(records))), Config())
    assert [(r.ring_id, r.members, r.score) for r in first.rings] == [
        (r.ring_id, r.members, r.score) for r in second.rings]


def test_lineage_keeps_ids_and_marks_changes() -> None:
    previous = pd.DataFrame({
        "ring_id": ["R-old1", "R-old2", "R-old3"],
        "members": [["a", "b", "c"], ["d", "e", "f", "g"], ["x", "y"]],
    })

    def ring(*members: str) -> Ring:
        return Ring(ring_id_for(members), sorted(members), 0.9, 0.0, {})

    grown, part1, part2, new = (ring("a", "b", "c", "z"), ring("d", "e"),
                                ring("f", "g", "h"), ring("p", "q"))
    assign_lineage([grown, part1, part2, new], previous)
    assert (grown.ring_id, grown.status) == ("R-old1", "grown")
    assert {part1.status, part2.status} == {"split"}
    assert {part1.ring_id, part2.ring_id} & {"R-old2"}
    assert len({part1.ring_id, part2.ring_id}) == 2
    assert new.status == "new" and new.ring_id.startswith("R-")


def test_replaced_device_no_longer_links(tmp_path: Path) -> None:
    store = EmbeddedStore(tmp_path / "s")
    old = [_acc(f"a{k}", k, f"N{k} S{k}", ("device", "d1"), ("address", "x"))
           for k in range(3)]
    with store.load() as w:
        w.write(old, [])
    assert len(link_accounts(store.snapshot(), Config()).groups) == 1
    moved = AccountRecord("a2", 2, 90 * DAY, "N2 S2",
                          identifiers=[Identifier("device", "d9", "d9"),
                                       Identifier("address", "y", "y")])
    with store.load() as w:
        w.write([moved], [])
    ids = store.snapshot().accounts["account_id"].to_numpy()
    groups = link_accounts(store.snapshot(), Config()).groups
    assert [sorted(ids[g]) for g in groups] == [["a0", "a1"]]
