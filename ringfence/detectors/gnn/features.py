"""Turn a :class:`~ringfence.graph.base.GraphSnapshot` into GNN input tensors.

The graph becomes a heterogeneous graph with one ``"account"`` node type and
one node type per identifier kind. Each link is an edge
``("account", "has_<kind>", <kind>)`` plus its reverse
``(<kind>, "rev_has_<kind>", "account")``, so messages flow both ways.
Only identifiers held by two or more accounts become nodes: one held by a
single account links nothing, and what it says (validity, counts per kind,
building size) is already among that account's features. In lending data
most phones, emails and national ids are unshared, so this keeps the graph
several times smaller.

Features never look at labels or ring ids: a model trained on them can score
accounts nobody has labelled yet.

Account features (``<k>`` runs over the identifier kinds, sorted):

========================== ==================================================
name                       meaning
========================== ==================================================
``age_days_log``           log(1 + days between creation and ``as_of``)
``n_<k>``                  identifiers of kind ``k`` the account holds
``mean_degree_<k>_log``    log of the mean holder count of those identifiers
``max_degree_<k>_log``     log of the largest holder count among them
``invalid_<k>``            1 when one of them failed its validity check
``building_degree_log``    largest ``building_degree_log`` (below) among its
                           identifiers
``name_email_overlap``     share of name tokens found in an email local part
``burst_neighbours_log``   log(1 + accounts sharing an identifier with it and
                           created within 7 days of it)
``loan_count``             credit products held
``loan_amount_total_log``  log(1 + sum of product amounts)
``loan_amount_max_log``    log(1 + largest product amount)
``loan_term_max``          longest term in months (0 when none)
``utilisation``            balance / credit limit over limited products
``has_12m_loan``           1 when a product has a 12-month term
========================== ==================================================

Identifier features (the same columns for every kind):

========================== ==================================================
name                       meaning
========================== ==================================================
``degree_log``             log(1 + holder count)
``distinct_names_log``     log(1 + distinct full names among holders)
``distinct_dobs_log``      log(1 + distinct dates of birth among holders)
``valid``                  1 unless the value failed its validity check
``created_spread_log``     log(1 + days between first and last holder created)
``building_degree_log``    log(1 + accounts holding any identifier of the same
                           kind and building key ``extra``; 0 without one)
========================== ==================================================

Every column is standardised with the mean and standard deviation of the
training snapshot (saved in :class:`FeatureSchema`) and clipped to
``[-10, 10]`` so that a later snapshot with an extreme hub cannot blow up
the network.

Limits: placeholder values rejected at load time are not in the snapshot,
so no feature counts them. ``burst_neighbours_log`` counts distinct
accounts through identifiers with at most 50 holders; holders of a larger
identifier (a hub) are counted once per hub, so an account sharing two hubs
with the same neighbour counts it twice.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp
import torch
from torch_geometric.data import HeteroData

from ringfence.graph.base import GraphSnapshot

__all__ = [
    "FEATURE_VERSION",
    "FeatureSchema",
    "account_feature_names",
    "build_hetero",
    "identifier_feature_names",
    "snapshot_kinds",
]

#: Bumped whenever a feature's definition changes; models of another
#: version cannot score.
FEATURE_VERSION = "1"

ACCOUNT = "account"
_DAY = 86_400
_BURST_WINDOW = 7 * _DAY
# Identifiers with at most this many holders count burst neighbours exactly
# (distinct accounts); larger ones are hubs whose holders are counted per
# identifier, so the work stays linear in the number of links.
_PAIR_DEGREE_CAP = 50
_CLIP = 10.0
_TOKEN_RE = re.compile(r"[^\W\d_]+")

# Identifiers held by fewer accounts stay out of the message-passing graph.
_MIN_SHARED = 2

_IDENTIFIER_FEATURES = [
    "degree_log",
    "distinct_names_log",
    "distinct_dobs_log",
    "valid",
    "created_spread_log",
    "building_degree_log",
]
_BUILDING_COLUMN = _IDENTIFIER_FEATURES.index("building_degree_log")


def account_feature_names(kinds: list[str]) -> list[str]:
    """Account feature columns for these identifier kinds, in tensor order."""
    names = ["age_days_log"]
    for kind in kinds:
        names += [
            f"n_{kind}",
            f"mean_degree_{kind}_log",
            f"max_degree_{kind}_log",
            f"invalid_{kind}",
        ]
    names += [
        "building_degree_log",
        "name_email_overlap",
        "burst_neighbours_log",
        "loan_count",
        "loan_amount_total_log",
        "loan_amount_max_log",
        "loan_term_max",
        "utilisation",
        "has_12m_loan",
    ]
    return names


def identifier_feature_names() -> list[str]:
    """Identifier feature columns, shared by every identifier kind."""
    return list(_IDENTIFIER_FEATURES)


def snapshot_kinds(snapshot: GraphSnapshot) -> list[str]:
    """Identifier kinds present in a snapshot, sorted."""
    return sorted(str(k) for k in pd.unique(snapshot.identifiers["kind"]))


@dataclass(slots=True)
class FeatureSchema:
    """What a model expects its input to look like.

    Attributes:
        version: :data:`FEATURE_VERSION` of the code that built the features.
        kinds: Identifier kinds, one node type each, sorted.
        node_features: Feature names per node type, in column order.
        edge_types: ``(source, relation, target)`` triples.
        stats: Per node type, ``{"mean": [...], "std": [...]}`` used to
            standardise each column; empty until fitted.
    """

    version: str
    kinds: list[str]
    node_features: dict[str, list[str]]
    edge_types: list[tuple[str, str, str]]
    stats: dict[str, dict[str, list[float]]] = field(default_factory=dict)

    @classmethod
    def for_kinds(cls, kinds: list[str]) -> FeatureSchema:
        """The unfitted schema the current code produces for ``kinds``."""
        kinds = sorted(kinds)
        node_features = {ACCOUNT: account_feature_names(kinds)}
        edge_types: list[tuple[str, str, str]] = []
        for kind in kinds:
            node_features[kind] = identifier_feature_names()
            edge_types.append((ACCOUNT, f"has_{kind}", kind))
            edge_types.append((kind, f"rev_has_{kind}", ACCOUNT))
        return cls(FEATURE_VERSION, kinds, node_features, edge_types)

    def differences(self, other: FeatureSchema) -> list[str]:
        """Describe how this schema differs from an ``other`` expected one.

        Normalisation statistics are ignored.

        Returns:
            One phrase per difference; empty when the two are compatible.
        """
        found = []
        if self.version != other.version:
            found.append(
                f"feature version {self.version!r} (expected {other.version!r})"
            )
        missing = sorted(set(self.kinds) - set(other.kinds))
        extra = sorted(set(other.kinds) - set(self.kinds))
        if missing:
            found.append(f"identifier kinds missing: {missing}")
        if extra:
            found.append(f"identifier kinds not in the model: {extra}")
        for node_type in sorted(set(self.node_features) & set(other.node_features)):
            ours = self.node_features[node_type]
            theirs = other.node_features[node_type]
            if ours != theirs:
                gone = [n for n in ours if n not in theirs]
                new = [n for n in theirs if n not in ours]
                found.append(
                    f"{node_type} features differ (unexpected: {gone}, "
                    f"missing: {new})"
                )
        return found

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return {
            "version": self.version,
            "kinds": list(self.kinds),
            "node_features": {k: list(v) for k, v in self.node_features.items()},
            "edge_types": [list(t) for t in self.edge_types],
            "stats": self.stats,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> FeatureSchema:
        """Inverse of :meth:`to_dict`."""
        return cls(
            version=str(data["version"]),
            kinds=[str(k) for k in data["kinds"]],
            node_features={
                str(k): [str(n) for n in v]
                for k, v in data["node_features"].items()
            },
            edge_types=[
                (str(s), str(r), str(d)) for s, r, d in data["edge_types"]
            ],
            stats=data.get("stats", {}),
        )

    def to_json(self) -> str:
        """Serialise to a JSON string."""
        return json.dumps(self.to_dict(), indent=2, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> FeatureSchema:
        """Parse what :meth:`to_json` wrote."""
        return cls.from_dict(json.loads(text))


def build_hetero(
    snapshot: GraphSnapshot,
    *,
    as_of: int | None = None,
    schema: FeatureSchema | None = None,
) -> tuple[HeteroData, FeatureSchema]:
    """Build the heterogeneous graph and its standardised features.

    Args:
        snapshot: The graph. Account row ``i`` becomes account node ``i``;
            identifiers held by at least two accounts become nodes of their
            kind, in snapshot order.
        as_of: Reference time (epoch seconds) for account ages; default the
            newest ``created_at`` in the snapshot. Ages are never negative.
        schema: A fitted schema (from a trained model). Its kinds define the
            node types, kinds missing from the snapshot become empty node
            types, and its statistics standardise the features. Without it,
            the kinds come from the snapshot and statistics are fitted here.

    Returns:
        The graph and the (fitted or given) schema.

    Notes:
        Time and memory are linear in the number of links, except the exact
        burst count, which enumerates account pairs through identifiers with
        at most 50 holders (sparse product; at most 50 pairs per link).
        Deterministic for a given snapshot.
    """
    # 1. integer views of the snapshot
    kinds = sorted(schema.kinds) if schema is not None else snapshot_kinds(snapshot)
    view = _SnapshotView.of(snapshot, as_of)
    degree = view.ident_degree()

    # 2. raw features per node type; only shared identifiers become nodes
    ident_raw = _identifier_features(view, degree)
    raw: dict[str, np.ndarray] = {
        ACCOUNT: _account_features(view, kinds, degree, ident_raw)
    }
    node = np.full(view.n_idents, -1, dtype=np.int64)
    for kind in kinds:
        members = np.flatnonzero((view.ident_kind == kind) & (degree >= _MIN_SHARED))
        node[members] = np.arange(len(members))
        raw[kind] = ident_raw[members]

    # 3. standardise with fitted or given statistics
    if schema is None:
        schema = FeatureSchema.for_kinds(kinds)
        schema.stats = {nt: _fit_stats(x) for nt, x in raw.items()}

    # 4. assemble tensors
    data = HeteroData()
    for node_type, x in raw.items():
        data[node_type].x = torch.from_numpy(_standardise(x, schema.stats[node_type]))
    link_node = node[view.link_ident]
    link_kind = view.ident_kind[view.link_ident]
    for kind in kinds:
        on = (link_kind == kind) & (link_node >= 0)
        src = torch.from_numpy(view.link_account[on])
        dst = torch.from_numpy(link_node[on])
        data[ACCOUNT, f"has_{kind}", kind].edge_index = torch.stack([src, dst])
        data[kind, f"rev_has_{kind}", ACCOUNT].edge_index = torch.stack([dst, src])
    return data, schema


@dataclass(slots=True)
class _SnapshotView:
    """Numpy arrays of the parts of a snapshot the features read."""

    n_accounts: int
    account_ids: pd.Index
    age_days: np.ndarray
    created: np.ndarray
    name_code: np.ndarray  # -1 when empty
    dob_code: np.ndarray  # -1 when empty
    full_names: np.ndarray
    ident_kind: np.ndarray
    ident_key: np.ndarray
    ident_valid: np.ndarray
    ident_extra: np.ndarray
    link_account: np.ndarray
    link_ident: np.ndarray
    products: pd.DataFrame

    @classmethod
    def of(cls, snapshot: GraphSnapshot, as_of: int | None) -> _SnapshotView:
        accounts, idents = snapshot.accounts, snapshot.identifiers
        created = accounts["created_at"].to_numpy(dtype=np.int64, na_value=0)
        if as_of is None:
            as_of = int(created.max()) if len(created) else 0
        names = _clean_text(accounts["full_name"])
        links = snapshot.links[["account_idx", "ident_idx"]].drop_duplicates()
        return cls(
            n_accounts=len(accounts),
            account_ids=pd.Index(accounts["account_id"].astype(str)),
            age_days=np.maximum(as_of - created, 0) / _DAY,
            created=created,
            name_code=_codes(names),
            dob_code=_codes(_clean_text(accounts["date_of_birth"])),
            full_names=names.to_numpy(),
            ident_kind=idents["kind"].astype(str).to_numpy(),
            ident_key=idents["key"].astype(str).to_numpy(),
            ident_valid=idents["valid"].fillna(True).astype(bool).to_numpy(),
            ident_extra=_clean_text(idents["extra"]).to_numpy(),
            link_account=links["account_idx"].to_numpy(dtype=np.int64),
            link_ident=links["ident_idx"].to_numpy(dtype=np.int64),
            products=snapshot.products,
        )

    @property
    def n_idents(self) -> int:
        return len(self.ident_kind)

    def ident_degree(self) -> np.ndarray:
        return np.bincount(self.link_ident, minlength=self.n_idents)


def _clean_text(values: pd.Series) -> pd.Series:
    text = values.astype("string").fillna("").str.strip().str.casefold()
    return text.str.split().str.join(" ").fillna("").astype(object)


def _codes(values: pd.Series) -> np.ndarray:
    codes, _ = pd.factorize(values)
    codes = codes.astype(np.int64)
    codes[(values == "").to_numpy()] = -1
    return codes


def _account_features(
    view: _SnapshotView,
    kinds: list[str],
    degree: np.ndarray,
    ident_raw: np.ndarray,
) -> np.ndarray:
    n = view.n_accounts
    link_kind = view.ident_kind[view.link_ident]
    link_degree = degree[view.link_ident].astype(np.float64)
    columns = [np.log1p(view.age_days)]

    for kind in kinds:
        on = link_kind == kind
        acc = view.link_account[on]
        count = np.bincount(acc, minlength=n).astype(np.float64)
        total = np.bincount(acc, weights=link_degree[on], minlength=n)
        mean = np.divide(total, count, out=np.zeros(n), where=count > 0)
        peak = np.zeros(n)
        np.maximum.at(peak, acc, link_degree[on])
        invalid = np.zeros(n)
        bad = ~view.ident_valid[view.link_ident[on]]
        invalid[acc[bad]] = 1.0
        columns += [count, np.log(np.maximum(mean, 1.0)), np.log(np.maximum(peak, 1.0))]
        columns.append(invalid)

    building = np.zeros(n)
    np.maximum.at(
        building, view.link_account, ident_raw[view.link_ident, _BUILDING_COLUMN]
    )
    columns.append(building)
    columns.append(_name_email_overlap(view))
    columns.append(np.log1p(_burst_neighbours(view, degree)))
    columns += _loan_columns(view)
    return np.column_stack(columns).astype(np.float32)


def _name_email_overlap(view: _SnapshotView) -> np.ndarray:
    """Best share of name tokens that appear in one of the account's emails."""
    out = np.zeros(view.n_accounts)
    is_email = view.ident_kind[view.link_ident] == "email"
    for acc, ident in zip(
        view.link_account[is_email], view.link_ident[is_email], strict=True
    ):
        share = _token_overlap(
            str(view.full_names[acc]), view.ident_key[ident].casefold()
        )
        out[acc] = max(out[acc], share)
    return out


def _token_overlap(full_name: str, email: str) -> float:
    name_tokens = [t for t in _TOKEN_RE.findall(full_name) if len(t) >= 2]
    if not name_tokens:
        return 0.0
    local = email.split("@", 1)[0]
    local_tokens = set(_TOKEN_RE.findall(local))
    found = sum(
        1 for t in name_tokens if t in local_tokens or (len(t) >= 3 and t in local)
    )
    return found / len(name_tokens)


def _burst_neighbours(view: _SnapshotView, degree: np.ndarray) -> np.ndarray:
    """Accounts sharing an identifier and created within the burst window."""
    n = view.n_accounts
    small = degree[view.link_ident] <= _PAIR_DEGREE_CAP

    # exact distinct neighbours through ordinary identifiers
    holds = sp.csr_matrix(
        (
            np.ones(int(small.sum()), dtype=np.float32),
            (view.link_account[small], view.link_ident[small]),
        ),
        shape=(n, view.n_idents),
    )
    pairs = (holds @ holds.T).tocoo()
    close = (pairs.row != pairs.col) & (
        np.abs(view.created[pairs.row] - view.created[pairs.col]) <= _BURST_WINDOW
    )
    counts = np.bincount(pairs.row[close], minlength=n).astype(np.float64)

    # hubs: per link, holders of the same identifier inside the window
    hub = ~small
    if hub.any():
        acc, ident = view.link_account[hub], view.link_ident[hub]
        t = view.created[acc] - view.created.min()
        stride = int(t.max()) + 2 * _BURST_WINDOW + 1
        _, group = np.unique(ident, return_inverse=True)
        key = group.astype(np.int64) * stride + t
        ordered = np.sort(key)
        lo = np.searchsorted(ordered, key - _BURST_WINDOW, side="left")
        hi = np.searchsorted(ordered, key + _BURST_WINDOW, side="right")
        counts += np.bincount(acc, weights=hi - lo - 1, minlength=n)
    return counts


def _loan_columns(view: _SnapshotView) -> list[np.ndarray]:
    n = view.n_accounts
    products = view.products
    zero = [np.zeros(n) for _ in range(6)]
    if products is None or products.empty:
        return zero
    index = pd.Series(np.arange(n), index=view.account_ids)
    acc = products["account_id"].astype(str).map(index)
    keep = acc.notna().to_numpy()
    if not keep.any():
        return zero
    acc_idx = acc[keep].to_numpy(dtype=np.int64)
    rows = products.loc[keep]

    def col(name: str) -> np.ndarray:
        return pd.to_numeric(rows[name], errors="coerce").to_numpy(dtype=np.float64)

    amount, term = col("amount"), col("term_months")
    balance, limit = col("balance"), col("credit_limit")
    count = np.bincount(acc_idx, minlength=n).astype(np.float64)
    amount0 = np.nan_to_num(np.maximum(amount, 0.0))
    total = np.bincount(acc_idx, weights=amount0, minlength=n)
    biggest = np.zeros(n)
    np.maximum.at(biggest, acc_idx, amount0)
    longest = np.zeros(n)
    np.maximum.at(longest, acc_idx, np.nan_to_num(np.maximum(term, 0.0)))
    limited = np.nan_to_num(limit) > 0
    used = np.bincount(
        acc_idx[limited], weights=np.nan_to_num(balance[limited]), minlength=n
    )
    allowed = np.bincount(acc_idx[limited], weights=limit[limited], minlength=n)
    utilisation = np.divide(used, allowed, out=np.zeros(n), where=allowed > 0)
    twelve = np.zeros(n)
    twelve[acc_idx[term == 12]] = 1.0
    return [
        count,
        np.log1p(total),
        np.log1p(biggest),
        longest,
        np.clip(utilisation, 0.0, 5.0),
        twelve,
    ]


def _identifier_features(view: _SnapshotView, degree: np.ndarray) -> np.ndarray:
    m = view.n_idents
    acc, ident = view.link_account, view.link_ident

    def distinct(codes: np.ndarray) -> np.ndarray:
        known = codes[acc] >= 0
        pairs = np.unique(np.stack([ident[known], codes[acc][known]]), axis=1)
        return np.bincount(pairs[0], minlength=m).astype(np.float64)

    first = np.full(m, np.iinfo(np.int64).max)
    last = np.full(m, np.iinfo(np.int64).min)
    np.minimum.at(first, ident, view.created[acc])
    np.maximum.at(last, ident, view.created[acc])
    spread = np.where(degree > 0, (last - first) / _DAY, 0.0)

    return np.column_stack(
        [
            np.log1p(degree),
            np.log1p(distinct(view.name_code)),
            np.log1p(distinct(view.dob_code)),
            view.ident_valid.astype(np.float64),
            np.log1p(np.maximum(spread, 0.0)),
            np.log1p(_building_degree(view)),
        ]
    ).astype(np.float32)


def _building_degree(view: _SnapshotView) -> np.ndarray:
    """Distinct accounts per (kind, building key), spread to identifiers."""
    out = np.zeros(view.n_idents)
    has_extra = view.ident_extra != ""
    if not has_extra.any():
        return out
    building = pd.factorize(
        pd.Series(view.ident_kind) + "\x00" + pd.Series(view.ident_extra)
    )[0]
    on = has_extra[view.link_ident]
    pairs = np.unique(
        np.stack([building[view.link_ident[on]], view.link_account[on]]), axis=1
    )
    per_building = np.bincount(pairs[0], minlength=int(building.max()) + 1)
    out[has_extra] = per_building[building[has_extra]]
    return out


def _fit_stats(x: np.ndarray) -> dict[str, list[float]]:
    if len(x) == 0:
        mean = np.zeros(x.shape[1])
        std = np.ones(x.shape[1])
    else:
        mean = x.mean(axis=0, dtype=np.float64)
        std = x.std(axis=0, dtype=np.float64)
        std[std < 1e-9] = 1.0
    return {"mean": mean.tolist(), "std": std.tolist()}


def _standardise(x: np.ndarray, stats: dict[str, list[float]]) -> np.ndarray:
    mean = np.asarray(stats["mean"], dtype=np.float32)
    std = np.asarray(stats["std"], dtype=np.float32)
    return np.clip((x - mean) / std, -_CLIP, _CLIP).astype(np.float32)
