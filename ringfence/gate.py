"""Score one loan application against the stored graph, without writing.

The lending gate calls this while an applicant waits, so a check is a few
indexed lookups: normalise the application's identifiers as the loader
would, ask the store who holds each (``sharers``), read the holders' opening
times and latest decisions (``accounts``), and weigh what the applicant
would share with each holder the way the linking detector weighs a pair,
with the application time as the applicant's opening (see
:meth:`ringfence.identify.IdentifierRules.weight`). Nothing is written and
no snapshot is taken, so a check costs the same at any graph size.

Policy, most severe first:

* ``decline`` when the application links (summed weight at least
  ``detect.link_threshold``) to an account the latest run declined, or to
  an account labelled confirmed fraud;
* ``review`` when it links to an account the latest run sent to review, to
  ``burst_accounts`` or more accounts created within ``detect.burst_days``
  before the application, or when its national id is already held (linked
  or not) by an account under another surname;
* ``allow`` otherwise.

Hub identifiers (above their kind's cap once the applicant is counted, or
allow-listed) link nothing, as in detection. Reasons name identifier kinds,
counts and ring ids, never identifier values.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from ringfence.config import Config
from ringfence.errors import InputError
from ringfence.graph.base import GraphStore
from ringfence.identify import IdentifierRules
from ringfence.loaders.load import TERMS, parse_timestamp
from ringfence.model import Identifier

__all__ = ["Application", "Gate", "GatePolicy", "parse_application"]

logger = logging.getLogger(__name__)

_DAY = 86_400
_META_FIELDS = {"application_id", "account_id", "full_name", "date_of_birth",
                "applied_at", "loan", "identifiers"}
_SEVERITY = {"decline": 0, "review": 1, "allow": 2}
_VERDICT_WORD = {"decline": "declined", "review": "reviewed"}


@dataclass(slots=True)
class GatePolicy:
    """Settings of the gate check beyond the detection settings.

    Attributes:
        burst_accounts: Linked accounts created within ``detect.burst_days``
            before the application from which it is sent to review.
        max_linked_listed: Most linked accounts listed in a response.
    """

    burst_accounts: int = 2
    max_linked_listed: int = 10


@dataclass(slots=True)
class Application:
    """One parsed application.

    Attributes:
        application_id: The caller's id, echoed back.
        identifiers: Normalised identifiers, one per kind and key.
        not_linking: ``{"kind", "reason"}`` for values that never link.
        ignored_fields: Field names that are no identifier kind here.
        applied_at: Epoch seconds of the application (default: now).
        full_name: Name given, for the national-id name check.
        account_id: The applicant's existing account, if any.
        loan: The validated loan request, or ``None``.
    """

    application_id: Any
    identifiers: list[Identifier]
    not_linking: list[dict[str, str]]
    ignored_fields: list[str]
    applied_at: int
    full_name: str = ""
    account_id: str | None = None
    loan: dict[str, Any] | None = None


def parse_application(
    data: Any, rules: IdentifierRules, *, now: int | None = None
) -> Application:
    """Validate and normalise one application (JSON object).

    Identifier fields may sit at the top level or under ``"identifiers"``;
    names follow the account tables (``national_id``, ``phone``, ``email``,
    ``address`` or its parts, ``device_id``, ``ip`` and declared extra
    kinds).

    Raises:
        InputError: Listing every problem of the application.
    """
    if not isinstance(data, Mapping):
        raise InputError("an application must be a JSON object")
    problems: list[str] = []
    fields: dict[str, Any] = {
        k: v for k, v in data.items() if k not in _META_FIELDS
    }
    nested = data.get("identifiers")
    if nested is not None:
        if isinstance(nested, Mapping):
            fields.update(nested)
        else:
            problems.append("identifiers: expected an object of kind -> value")
    for name, value in fields.items():
        if value is not None and not isinstance(value, (str, int, float)):
            problems.append(f"{name}: expected text, got {type(value).__name__}")
    fields = {k: v for k, v in fields.items()
              if v is None or isinstance(v, (str, int, float))}

    applied_at = now if now is not None else int(dt.datetime.now(dt.UTC).timestamp())
    raw_time = data.get("applied_at")
    if raw_time not in (None, ""):
        parsed = parse_timestamp(str(raw_time))
        if parsed is None:
            problems.append(
                f"applied_at: {str(raw_time)[:40]!r} is not an ISO 8601 date-time "
                "or epoch seconds"
            )
        else:
            applied_at = parsed
    loan = _loan(data.get("loan"), problems)
    account_id = data.get("account_id")
    if account_id is not None and not isinstance(account_id, str):
        problems.append("account_id: expected text")
        account_id = None
    full_name = data.get("full_name") or ""
    if not isinstance(full_name, str):
        problems.append("full_name: expected text")
        full_name = ""

    if problems:
        raise InputError("application: " + "; ".join(problems))
    identifiers, skipped, unknown = rules.from_fields(fields)
    return Application(
        application_id=data.get("application_id"),
        identifiers=identifiers,
        not_linking=[{"kind": s.kind, "reason": f"{s.reason}: {s.detail}"}
                     for s in skipped],
        ignored_fields=sorted(unknown),
        applied_at=applied_at,
        full_name=full_name,
        account_id=account_id or None,
        loan=loan,
    )


def _loan(raw: Any, problems: list[str]) -> dict[str, Any] | None:
    if raw is None:
        return None
    if not isinstance(raw, Mapping):
        problems.append("loan: expected an object {product, term_months, amount}")
        return None
    product = raw.get("product")
    if not isinstance(product, str) or not product.strip():
        problems.append("loan.product: expected a product name, e.g. unsecured_loan")
        product = ""
    term = raw.get("term_months")
    if term is not None and (isinstance(term, bool) or term not in TERMS):
        problems.append(
            f"loan.term_months: must be one of {sorted(TERMS)} or null, got {term!r}"
        )
    amount = raw.get("amount")
    if amount is not None and (
        isinstance(amount, bool) or not isinstance(amount, (int, float))
        or not amount >= 0
    ):
        problems.append(f"loan.amount: expected a non-negative number, got {amount!r}")
    return {"product": product.strip().lower(), "term_months": term,
            "amount": amount}


@dataclass(slots=True)
class _Link:
    weight: float = 0.0
    kinds: set[str] = field(default_factory=set)


class Gate:
    """Checks applications against one store; reuse it for many checks.

    Args:
        store: A store opened for reading (the embedded store readonly).
        config: Settings (normalisation, hub caps, weights, thresholds).
        policy: Gate settings; defaults when ``None``.

    The latest run's hub list is read once here, so known hubs cost no
    lookup at all during a check.
    """

    def __init__(
        self, store: GraphStore, config: Config, policy: GatePolicy | None = None
    ) -> None:
        self.store = store
        self.config = config
        self.policy = policy or GatePolicy()
        self.rules = IdentifierRules(config, store)
        runs = store.runs(limit=1)
        self.run_id: str | None = str(runs[0]["run_id"]) if runs else None
        self._known_hubs: set[tuple[str, str]] = set()
        if runs:
            self._known_hubs = {
                (str(h["kind"]), str(h["key"])) for h in runs[0].get("hubs") or []
                if h.get("reason") != "allow-listed"
            }
        self._fetch = max(self.rules.cap(k) for k in config.kinds) + 1

    def check(self, data: Any, *, now: int | None = None) -> dict[str, Any]:
        """Decide one application (see the module docstring for the policy).

        Args:
            data: The application as parsed JSON.
            now: Time of the application when it gives no ``applied_at``.

        Returns:
            ``application_id``, ``decision``, ``score`` (in [0, 1]),
            ``ring``, ``reasons``, ``linked`` (accounts it links to, with
            kinds and weight), ``identifiers`` (how many were looked up and
            which did not link), ``ignored_fields``, ``loan`` and ``run_id``.

        Raises:
            InputError: The application is malformed.
        """
        app = parse_application(data, self.rules, now=now)

        # 1. who holds each identifier; hubs link nothing
        lookup = [(i.kind, i.key) for i in app.identifiers
                  if (i.kind, i.key) not in self._known_hubs]
        hubs = {i.kind for i in app.identifiers
                if (i.kind, i.key) in self._known_hubs}
        held = self.store.sharers(lookup, limit=self._fetch) if lookup else None
        holdings: list[tuple[str, str, int]] = []
        if held is not None and len(held):
            # Plain columns, not groupby: this loop runs on every check.
            for kind, key, account_id, degree in zip(
                held["kind"].tolist(), held["key"].tolist(),
                held["account_id"].tolist(), held["degree"].tolist(), strict=True,
            ):
                total = int(degree) + 1  # the applicant joins
                if self.rules.hub_reason(str(kind), str(key), total):
                    hubs.add(str(kind))
                elif str(account_id) != app.account_id:
                    holdings.append((str(kind), str(account_id), total))

        # 2. the holders' accounts and latest decisions, in one lookup
        wanted = sorted({a for _, a, _ in holdings} | (
            {app.account_id} if app.account_id else set()))
        rows = self.store.accounts(wanted) if wanted else None
        info: dict[str, dict[str, Any]] = {}
        if rows is not None and len(rows):
            columns = ["account_id", "created_at", "full_name", "label", "decision",
                       "score", "ring_id"]
            for values in zip(*(rows[c].tolist() for c in columns), strict=True):
                info[str(values[0])] = dict(zip(columns, values, strict=True))

        # 3. weigh what the applicant shares with each holder, as the linker
        # would weigh the pair once the application is an account
        links: dict[str, _Link] = {}
        nid_holders: set[str] = set()
        for kind, account_id, total in holdings:
            created = _number(info.get(account_id, {}).get("created_at"))
            gap = None if created is None else app.applied_at - int(created)
            link = links.setdefault(account_id, _Link())
            link.weight += self.rules.weight(kind, total, gap)
            link.kinds.add(kind)
            if kind == "national_id":
                nid_holders.add(account_id)
        threshold = self.config.detect.link_threshold - 1e-12
        strong = {a: lk for a, lk in links.items() if lk.weight >= threshold}
        return self._decide(app, strong, info, sorted(hubs), sorted(nid_holders))

    def _decide(
        self,
        app: Application,
        strong: dict[str, _Link],
        info: dict[str, dict[str, Any]],
        hub_kinds: list[str],
        nid_holders: list[str],
    ) -> dict[str, Any]:
        det = self.config.detect
        decision, score = "allow", 0.0
        reasons: list[str] = []
        ring: str | None = None

        linked = []
        for account_id, link in strong.items():
            rec = info.get(account_id, {})
            linked.append({
                "account_id": account_id,
                "ring_id": _text(rec.get("ring_id")),
                "decision": _text(rec.get("decision")) or "allow",
                "account_score": _number(rec.get("score")),
                "label": _text(rec.get("label")),
                "created_at": _number(rec.get("created_at")),
                "weight": round(link.weight, 4),
                "kinds": sorted(link.kinds),
            })
        linked.sort(key=lambda x: (_SEVERITY.get(x["decision"], 2),
                                   -(x["account_score"] or 0.0), x["account_id"]))

        # The applicant's own account, when it names one.
        own = info.get(app.account_id or "")
        if own is not None and _text(own.get("decision")) in ("decline", "review"):
            decision = str(own["decision"])
            ring = _text(own.get("ring_id"))
            score = float(own.get("score") or 0.0)
            reasons.append(f"its account {app.account_id} is flagged {decision}"
                           + (f" as a member of ring {ring}" if ring else ""))

        # Linked flagged accounts, grouped by ring.
        by_ring: dict[str, list[dict[str, Any]]] = {}
        for item in linked:
            if item["decision"] in ("decline", "review"):
                by_ring.setdefault(item["ring_id"] or "", []).append(item)
            score = max(score, min(item["weight"], 1.0) * (item["account_score"] or 0))
        for ring_id, members in by_ring.items():
            verdict = members[0]["decision"]
            kinds = sorted({k for m in members for k in m["kinds"]})
            where = f"ring {ring_id}" if ring_id else "no ring (model score)"
            reasons.append(
                f"linked through {', '.join(kinds)} to {len(members)} "
                f"{_VERDICT_WORD[verdict]} account(s) of {where}"
            )
            if _SEVERITY[verdict] < _SEVERITY[decision]:
                decision = verdict
                ring = ring_id or ring
            elif ring is None and ring_id:
                ring = ring_id

        fraud = [m for m in linked if m["label"] == "fraud"]
        if fraud:
            kinds = sorted({k for m in fraud for k in m["kinds"]})
            reasons.append(f"linked through {', '.join(kinds)} to {len(fraud)} "
                           "account(s) confirmed as fraud")
            decision = "decline"
            score = max(score, max(min(m["weight"], 1.0) for m in fraud))

        # Softer signals: a burst of linked accounts, a national id reused.
        window = det.burst_days * _DAY
        burst = [m for m in linked if m["created_at"] is not None
                 and app.applied_at - window <= m["created_at"] <= app.applied_at]
        if len(burst) >= self.policy.burst_accounts:
            reasons.append(f"links to {len(burst)} accounts created within "
                           f"{det.burst_days:g} days before it")
            decision = _worst(decision, "review")
            score = max(score, det.review_threshold)
        # Every holder of the national id counts here, linked or not: an id
        # first held long ago under another name is a borrowed identity.
        surname = _surname(app.full_name)
        if surname:
            others = [a for a in nid_holders if _surname(
                _text(info.get(a, {}).get("full_name")) or "") not in ("", surname)]
            if others:
                reasons.append(f"its national id is held by {len(others)} "
                               "account(s) under another surname")
                decision = _worst(decision, "review")
                score = max(score, det.review_threshold)

        if not reasons:
            reasons.append("no link to a flagged, confirmed-fraud or recent account"
                           if linked else "no link to any known account")
        listed = [{k: v for k, v in m.items() if k != "label"}
                  for m in linked[: self.policy.max_linked_listed]]
        return {
            "application_id": app.application_id,
            "decision": decision,
            "score": round(min(max(score, 0.0), 1.0), 4),
            "ring": ring,
            "reasons": reasons,
            "linked": listed,
            "linked_total": len(linked),
            "identifiers": {
                "checked": len(app.identifiers),
                "hubs_skipped": hub_kinds,
                "not_linking": app.not_linking,
            },
            "ignored_fields": app.ignored_fields,
            "loan": app.loan,
            "run_id": self.run_id,
        }

    def check_lines(self, lines: Iterable[str]) -> Iterator[dict[str, Any]]:
        """Check JSON lines; a bad line yields ``{"line", "error"}``.

        Blank lines are skipped. Line numbers are 1-based.
        """
        for number, line in enumerate(lines, 1):
            if not line.strip():
                continue
            try:
                data = json.loads(line)
            except json.JSONDecodeError as exc:
                yield {"line": number, "error": f"not valid JSON: {exc.msg} "
                       f"at column {exc.colno}"}
                continue
            try:
                result = self.check(data)
            except InputError as exc:
                yield {"line": number, "error": str(exc),
                       "application_id": _id_of(data)}
                continue
            result["line"] = number
            yield result


def _id_of(data: Any) -> Any:
    return data.get("application_id") if isinstance(data, Mapping) else None


def _worst(a: str, b: str) -> str:
    return a if _SEVERITY[a] <= _SEVERITY[b] else b


def _surname(name: str) -> str:
    parts = name.strip().lower().split()
    return parts[-1] if parts else ""


def _text(value: Any) -> str | None:
    if value is None or (isinstance(value, float) and value != value):
        return None
    return str(value)


def _number(value: Any) -> Any:
    if value is None or (isinstance(value, float) and value != value):
        return None
    return value.item() if hasattr(value, "item") else value
