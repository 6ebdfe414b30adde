"""Behaviour of the GNN detector on small seeded graphs built by hand.

The reference graph hides most of the fraud from an account's own features:
every fraud ring has two "organisers" with loud anomalies (invalid national
id, an email unrelated to the name, a large loan) and several members who
look exactly like legit family members. Rings and families share a device,
an address and an IP alike, and are created at random times, so only the
neighbourhood tells a quiet ring member from a family member.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("torch_geometric")

from ringfence.detectors.gnn import (  # noqa: E402
    FeatureSchema,
    RingSage,
    build_hetero,
    load_model,
    save_model,
    score_accounts,
    train_gnn,
)
from ringfence.errors import ConfigError, InputError, ModelError  # noqa: E402
from ringfence.graph.base import PRODUCT_COLUMNS, GraphSnapshot  # noqa: E402

_FIRST = ["anna", "ben", "carla", "dev", "emma", "femi", "gita", "hugo", "ines"]
_LAST = ["smith", "okafor", "nowak", "silva", "khan", "meyer", "rossi", "tanaka"]
_T0 = 1_600_000_000
_DAY = 86_400


@dataclass
class _Graph:
    """Accounts and their identifiers, before they become a snapshot."""

    accounts: list[dict] = field(default_factory=list)
    links: list[tuple[int, str, str, bool, str]] = field(default_factory=list)
    products: list[dict] = field(default_factory=list)
    late: list[int] = field(default_factory=list)
    role: list[str] = field(default_factory=list)

    def add(
        self,
        rng: np.random.Generator,
        *,
        group: str,
        label: str,
        role: str,
        loud: set[str],
        created: int,
        late: bool = False,
    ) -> int:
        idx = len(self.accounts)
        first, last = rng.choice(_FIRST), rng.choice(_LAST)
        self.accounts.append(
            {
                "account_id": f"A{idx:05d}",
                "created_at": created,
                "full_name": f"{first.title()} {last.title()}",
                "date_of_birth": f"19{rng.integers(50, 99)}-0{rng.integers(1, 9)}-1"
                f"{rng.integers(0, 9)}",
                "label": label,
            }
        )
        email = (
            f"{''.join(rng.choice(list('qxzkvw'), 7))}@mail.test"
            if "email" in loud
            else f"{first}.{last}{idx}@mail.test"
        )
        self.links += [
            (idx, "national_id", f"nid{idx}", "nid" not in loud, ""),
            (idx, "phone", f"+4477{idx:07d}", True, ""),
            (idx, "email", email, True, ""),
            (idx, "device", f"dev-{group}", True, ""),
            (idx, "address", f"addr-{group}", True, f"bld-{group}"),
            (idx, "ip", f"ip-{group}", True, ""),
        ]
        amount = float(rng.lognormal(8, 0.4)) * (6 if "loan" in loud else 1)
        self.products.append(
            {
                "account_id": f"A{idx:05d}",
                "product": "loan",
                "term_months": int(rng.choice([6, 12, 24, 36])),
                "amount": amount,
                "balance": amount * 0.8,
                "credit_limit": None,
            }
        )
        if late:
            self.late.append(idx)
        self.role.append(role)
        return idx

    def snapshot(self, *, include_late: bool = True) -> GraphSnapshot:
        keep = set(range(len(self.accounts)))
        if not include_late:
            keep -= set(self.late)
        accounts = pd.DataFrame([self.accounts[i] for i in sorted(keep)])
        accounts = accounts.sort_values("account_id", ignore_index=True)
        position = {a: i for i, a in enumerate(accounts["account_id"])}

        links = pd.DataFrame(
            [lk for lk in self.links if lk[0] in keep],
            columns=["acc", "kind", "key", "valid", "extra"],
        )
        idents = (
            links.drop_duplicates(["kind", "key"])
            .sort_values(["kind", "key"], ignore_index=True)
            .assign(display=lambda f: f["key"])
        )
        ident_pos = {
            (k, v): i for i, (k, v) in enumerate(
                zip(idents["kind"], idents["key"], strict=True)
            )
        }
        account_ids = [self.accounts[i]["account_id"] for i in links["acc"]]
        link_frame = pd.DataFrame(
            {
                "account_idx": [position[a] for a in account_ids],
                "ident_idx": [
                    ident_pos[(k, v)]
                    for k, v in zip(links["kind"], links["key"], strict=True)
                ],
                "first_seen": 0,
                "last_seen": 0,
            }
        )
        products = pd.DataFrame(
            [p for p in self.products if p["account_id"] in position],
            columns=PRODUCT_COLUMNS,
        )
        return GraphSnapshot(
            accounts=accounts,
            identifiers=idents[["kind", "key", "display", "valid", "extra"]],
            links=link_frame,
            products=products,
        )


def _reference_graph(seed: int = 7) -> _Graph:
    """Families, singletons and rings whose quiet members hide in plain sight."""
    rng = np.random.default_rng(seed)
    graph = _Graph()
    anomalies = ["nid", "email", "loan"]

    def when() -> int:
        return _T0 + int(rng.integers(0, 720)) * _DAY

    def legit_noise() -> set[str]:
        return {str(rng.choice(anomalies))} if rng.random() < 0.06 else set()

    # families and rings have the same sizes, so a group's size says nothing
    for family in range(100):
        for _ in range(int(rng.integers(4, 7))):
            graph.add(
                rng, group=f"f{family}", label="legit", role="legit",
                loud=legit_noise(), created=when(),
            )
    for single in range(200):
        graph.add(
            rng, group=f"s{single}", label="legit", role="legit",
            loud=legit_noise(), created=when(),
        )
    for ring in range(30):
        for member in range(int(rng.integers(4, 7))):
            graph.add(
                rng, group=f"r{ring}", label="fraud",
                role="organiser" if member < 2 else "quiet",
                loud=set(anomalies) if member < 2 else set(), created=when(),
            )

    # accounts that arrive after training: a quiet member joins each of the
    # first ten rings, and ten newcomers live alone
    late = _T0 + 760 * _DAY
    for ring in range(10):
        graph.add(
            rng, group=f"r{ring}", label=None, role="quiet", loud=set(),
            created=late, late=True,
        )
    for single in range(10):
        graph.add(
            rng, group=f"n{single}", label=None, role="legit", loud=set(),
            created=late, late=True,
        )
    return graph


@pytest.fixture(scope="module")
def graph() -> _Graph:
    return _reference_graph()


@pytest.fixture(scope="module")
def trained(graph: _Graph):
    return train_gnn(graph.snapshot(include_late=False), seed=0, epochs=150)


@pytest.mark.parametrize(("layers", "reach"), [(2, 1), (3, 1), (4, 2), (6, 3)])
def test_each_two_rounds_reach_one_more_account_hop(layers: int, reach: int) -> None:
    # a chain of accounts 0 - 1 - 2 - 3 - 4, each link a device of two holders
    import torch

    n = 5
    devices = torch.arange(n - 1).repeat_interleave(2)
    holders = torch.tensor([i + j for i in range(n - 1) for j in (0, 1)])
    edges = {
        ("account", "has_device", "device"): torch.stack([holders, devices]),
        ("device", "rev_has_device", "account"): torch.stack([devices, holders]),
    }
    torch.manual_seed(0)
    net = RingSage({"account": 3, "device": 2}, list(edges), layers=layers).eval()
    x = {"account": torch.randn(n, 3), "device": torch.randn(n - 1, 2)}

    base = net(x, edges)
    for hop in range(1, n):
        moved = {"account": x["account"].clone(), "device": x["device"]}
        moved["account"][hop] += 5.0
        changed = not torch.allclose(net(moved, edges)[0], base[0])
        assert changed == (hop <= reach), hop


def test_build_hetero_makes_shared_identifiers_nodes(graph: _Graph) -> None:
    snapshot = graph.snapshot(include_late=False)
    data, schema = build_hetero(snapshot)

    kinds = ["address", "device", "email", "ip", "national_id", "phone"]
    assert schema.kinds == kinds
    assert sorted(data.node_types) == sorted(["account", *kinds])
    assert data["account"].x.shape == (
        len(snapshot.accounts), len(schema.node_features["account"])
    )
    # one device per family or ring; singletons' devices link nothing
    assert data["device"].num_nodes == 100 + 30
    assert data["phone"].num_nodes == 0
    edges = data["account", "has_device", "device"].edge_index
    back = data["device", "rev_has_device", "account"].edge_index
    assert edges.shape[1] == len(snapshot.accounts) - 200
    assert (edges.flip(0) == back).all()
    assert FeatureSchema.from_json(schema.to_json()) == schema


def _raw(data, schema, node_type: str) -> pd.DataFrame:
    """Undo the standardisation, to compare features with known values."""
    stats = schema.stats[node_type]
    x = data[node_type].x.numpy() * np.array(stats["std"]) + np.array(stats["mean"])
    return pd.DataFrame(x, columns=schema.node_features[node_type])


def _close(got, expected) -> bool:
    return bool(np.allclose(got, expected, atol=1e-5))  # float32 round trip


def test_features_of_a_small_graph_have_known_values() -> None:
    # three accounts share a device; A and B are created three days apart,
    # C a month later; only A's email matches its name
    accounts = pd.DataFrame(
        {
            "account_id": ["A", "B", "C"],
            "created_at": [_T0, _T0 + 3 * _DAY, _T0 + 33 * _DAY],
            "full_name": ["Anna Smith", "Ben Okafor", "Ben Okafor"],
            "date_of_birth": ["1980-01-01", "1981-02-02", ""],
            "label": [None, None, None],
        }
    )
    identifiers = pd.DataFrame(
        {
            "kind": ["device", "email", "email", "national_id"],
            "key": ["d1", "anna.smith@x.test", "zq@x.test", "n1"],
            "display": ["d1", "a", "z", "*1"],
            "valid": [True, True, True, False],
            "extra": ["", "", "", ""],
        }
    )
    links = pd.DataFrame(
        {
            "account_idx": [0, 1, 2, 0, 1, 2],
            "ident_idx": [0, 0, 0, 1, 2, 3],
            "first_seen": 0,
            "last_seen": 0,
        }
    )
    snapshot = GraphSnapshot(
        accounts, identifiers, links, pd.DataFrame(columns=PRODUCT_COLUMNS)
    )
    data, schema = build_hetero(snapshot)
    account = _raw(data, schema, "account")
    device = _raw(data, schema, "device")

    assert _close(account["burst_neighbours_log"], np.log1p([1, 1, 0]))
    assert _close(account["name_email_overlap"], [1, 0, 0])
    assert _close(account["max_degree_device_log"], np.log(3))
    assert _close(account["invalid_national_id"], [0, 0, 1])
    assert _close(account["age_days_log"], np.log1p([33, 30, 0]))
    assert _close(
        device.iloc[0][["degree_log", "distinct_names_log", "distinct_dobs_log"]],
        np.log1p([3, 2, 2]),
    )
    assert _close(device.iloc[0]["created_spread_log"], np.log1p(33))
    # only the shared device is a node
    assert data["email"].num_nodes == 0


def test_features_ignore_labels(graph: _Graph) -> None:
    snapshot = graph.snapshot(include_late=False)
    relabelled = GraphSnapshot(
        accounts=snapshot.accounts.assign(label=None),
        identifiers=snapshot.identifiers,
        links=snapshot.links,
        products=snapshot.products,
    )
    first, _ = build_hetero(snapshot)
    second, _ = build_hetero(relabelled)
    for node_type in first.node_types:
        assert (first[node_type].x == second[node_type].x).all()


def test_gnn_finds_quiet_ring_members_the_features_miss(trained) -> None:
    metrics = trained.metrics
    gnn = metrics["gnn"]["auprc"]
    features_only = metrics["features_only"]["auprc"]

    assert gnn >= features_only + 0.15
    assert gnn >= 0.8
    for name in ("gnn", "features_only", "gbm_neighbours"):
        assert set(metrics[name]) >= {"auprc", "roc_auc", "recall_at_k", "k"}
    assert metrics["gnn"]["k"] == metrics["features_only"]["k"] > 0
    assert metrics["train_seconds"] > 0
    assert trained.scores.between(0, 1).all()


def test_same_seed_gives_identical_scores(graph: _Graph) -> None:
    snapshot = graph.snapshot(include_late=False)
    first = train_gnn(snapshot, seed=3, epochs=12, patience=12)
    second = train_gnn(snapshot, seed=3, epochs=12, patience=12)

    assert np.array_equal(first.scores.to_numpy(), second.scores.to_numpy())
    assert first.metrics["gnn"] == second.metrics["gnn"]
    # the scores depend on the seed and the account, so equality means something
    other = train_gnn(snapshot, seed=4, epochs=12, patience=12)
    assert not np.array_equal(first.scores.to_numpy(), other.scores.to_numpy())
    assert first.scores.nunique() > len(first.scores) // 2


def test_time_split_trains_on_older_accounts(graph: _Graph) -> None:
    result = train_gnn(
        graph.snapshot(include_late=False), split="time", epochs=12, patience=12
    )
    spans = result.artifact.summary["created_at"]

    assert spans["train"][1] <= spans["test"][0]
    assert result.metrics["split"] == "time"


def test_new_accounts_are_scored_without_retraining(graph: _Graph, trained) -> None:
    full = graph.snapshot()
    scores = score_accounts(trained.artifact, full)

    assert list(scores.index) == list(full.accounts["account_id"])
    assert scores.between(0, 1).all()
    late_ids = [graph.accounts[i]["account_id"] for i in graph.late]
    late = scores.loc[late_ids]
    joiners = late[[graph.role[i] == "quiet" for i in graph.late]]
    loners = late[[graph.role[i] == "legit" for i in graph.late]]
    assert joiners.mean() > loners.mean() + 0.3


def test_saved_model_scores_like_the_trained_one(graph: _Graph, trained, tmp_path):
    snapshot = graph.snapshot()
    save_model(trained.artifact, tmp_path / "gnn")
    loaded = load_model(tmp_path / "gnn", snapshot=snapshot)

    expected = score_accounts(trained.artifact, snapshot)
    assert np.allclose(score_accounts(loaded, snapshot), expected, atol=1e-6)
    meta = json.loads((tmp_path / "gnn" / "meta.json").read_text())
    assert meta["training"]["seed"] == 0
    assert meta["training"]["split"] == "random"


def test_unknown_identifier_kind_is_a_schema_mismatch(graph: _Graph, trained):
    snapshot = graph.snapshot()
    extra = pd.DataFrame(
        [{"kind": "bank_account", "key": "GB00", "display": "GB00",
          "valid": True, "extra": ""}]
    )
    grown = GraphSnapshot(
        accounts=snapshot.accounts,
        identifiers=pd.concat([snapshot.identifiers, extra], ignore_index=True),
        links=pd.concat(
            [
                snapshot.links,
                pd.DataFrame(
                    {"account_idx": [0], "ident_idx": [len(snapshot.identifiers)],
                     "first_seen": [0], "last_seen": [0]}
                ),
            ],
            ignore_index=True,
        ),
        products=snapshot.products,
    )

    with pytest.raises(ModelError, match="bank_account") as err:
        score_accounts(trained.artifact, grown)
    assert "ringfence gnn train" in str(err.value)


def test_model_of_another_feature_version_does_not_load(
    graph: _Graph, trained, tmp_path
) -> None:
    path = save_model(trained.artifact, tmp_path / "gnn")
    schema = json.loads((path / "schema.json").read_text())
    schema["version"] = "0"
    schema["node_features"]["account"].remove("burst_neighbours_log")
    (path / "schema.json").write_text(json.dumps(schema))

    with pytest.raises(ModelError) as err:
        load_model(path, snapshot=graph.snapshot())
    message = str(err.value)
    assert "feature version '0'" in message
    assert "burst_neighbours_log" in message
    assert "ringfence gnn train" in message


def test_missing_model_directory_names_the_fix(tmp_path) -> None:
    with pytest.raises(ModelError, match="ringfence gnn train"):
        load_model(tmp_path / "nowhere")


def test_training_without_enough_labels_says_what_is_missing(graph: _Graph) -> None:
    snapshot = graph.snapshot(include_late=False)
    unlabelled = GraphSnapshot(
        accounts=snapshot.accounts.assign(label=None),
        identifiers=snapshot.identifiers,
        links=snapshot.links,
        products=snapshot.products,
    )

    with pytest.raises(InputError, match="found 0 fraud and 0 legit"):
        train_gnn(unlabelled)


def test_unknown_split_is_a_config_error(graph: _Graph) -> None:
    with pytest.raises(ConfigError, match="split must be 'random' or 'time'"):
        train_gnn(graph.snapshot(), split="yearly")  # type: ignore[arg-type]
