"""Identifier rules shared by the read-side tools: normalising and weighing.

The investigator queries and the gate check look identifiers up in a store
the loader wrote, so they must turn a raw value into the key the loader
stored, and weigh what two accounts share the way the linking detector does.
:class:`IdentifierRules` holds both, for one deployment's settings.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from ringfence.config import Config, national_id_key
from ringfence.detectors.linking import allow_keys, link_weights
from ringfence.errors import InputError
from ringfence.graph.base import GraphStore
from ringfence.loaders.load import (
    check_national_id_key,
    phone_in_regions,
    phone_regions,
)
from ringfence.loaders.normalize import (
    NationalIdHasher,
    Skip,
    join_address_parts,
    normalize_address,
    normalize_email,
    normalize_generic,
    normalize_national_id,
)
from ringfence.model import Identifier

__all__ = ["FIELD_KINDS", "IdentifierRules", "Skipped"]

#: Input field names (as in account tables) mapped to identifier kinds.
FIELD_KINDS: dict[str, str] = {
    "national_id": "national_id",
    "nid": "national_id",
    "phone": "phone",
    "email": "email",
    "address": "address",
    "device_id": "device",
    "device": "device",
    "ip": "ip",
    "ip_address": "ip",
}
_ADDRESS_PARTS = ("address_line", "address_city", "address_postcode",
                  "address_country")


@dataclass(frozen=True, slots=True)
class Skipped:
    """An input value that cannot link accounts, and why (no value kept)."""

    kind: str
    reason: str
    detail: str


class IdentifierRules:
    """Normalisation, hub test and link weight of identifiers.

    Args:
        config: The deployment's settings (region, national-id key, extra
            kinds, hub caps, allow-list, weights).
        store: When given, the national-id key is checked against the one
            the store was built with.

    The national-id key is read only when a national id is normalised, so
    tools that never see one run without it.
    """

    def __init__(self, config: Config, store: GraphStore | None = None) -> None:
        self.config = config
        self.store = store
        self._hasher: NationalIdHasher | None = None
        self._allowed = allow_keys(config)

    @property
    def hasher(self) -> NationalIdHasher:
        """The deployment's national-id hasher.

        Raises:
            ConfigError: No national-id key is configured.
        """
        if self._hasher is None:
            hasher = NationalIdHasher(national_id_key(self.config))
            if self.store is not None:
                check_national_id_key(self.store, hasher)
            self._hasher = hasher
        return self._hasher

    def kind_of(self, name: str) -> str | None:
        """The identifier kind of an input field or kind name, else ``None``."""
        name = name.strip().lower()
        if name in FIELD_KINDS:
            return FIELD_KINDS[name]
        return name if name in self.config.extra_kinds else None

    def known_kinds(self) -> list[str]:
        """Every kind this deployment links on, built-in kinds first."""
        return list(self.config.kinds)

    def normalise(self, kind: str, value: str) -> Identifier | Skip:
        """Normalise ``value`` exactly as the loader does for ``kind``.

        Raises:
            InputError: ``kind`` is not an identifier kind of this deployment.
            ConfigError: ``kind`` is ``national_id`` and no key is set.
        """
        if kind == "national_id":
            return normalize_national_id(value, self.hasher)
        if kind == "phone":
            return phone_in_regions(value, phone_regions(self.config))
        if kind == "email":
            return normalize_email(value)
        if kind == "address":
            # The loader normalises addresses with the default country.
            return normalize_address(value)
        if kind in ("device", "ip") or kind in self.config.extra_kinds:
            return normalize_generic(kind, value)
        raise InputError(
            f"unknown identifier kind {kind!r}; use one of "
            f"{', '.join(self.known_kinds())} (or declare it under extra_kinds)"
        )

    def from_fields(
        self, fields: Mapping[str, object]
    ) -> tuple[list[Identifier], list[Skipped], list[str]]:
        """Normalise every identifier field of one record.

        Address parts (``address_line``, ``address_city``,
        ``address_postcode``, ``address_country``) are joined as the loader
        joins them when no ``address`` field is given.

        Returns:
            The identifiers (one per kind and key), the values that cannot
            link (with the reason), and the field names that are no
            identifier kind of this deployment.
        """
        found: dict[tuple[str, str], Identifier] = {}
        skipped: list[Skipped] = []
        unknown: list[str] = []
        values: list[tuple[str, str]] = []
        for name, raw in fields.items():
            if name in _ADDRESS_PARTS:
                continue
            kind = self.kind_of(name)
            if kind is None:
                unknown.append(name)
                continue
            if raw is None:
                continue
            values.append((kind, str(raw)))
        if "address" not in fields and any(p in fields for p in _ADDRESS_PARTS):
            values.append(("address", join_address_parts(
                *(str(fields.get(p) or "") for p in _ADDRESS_PARTS))))
        for kind, raw in values:
            result = self.normalise(kind, raw)
            if isinstance(result, Skip):
                if result.reason != "empty":
                    skipped.append(Skipped(kind, result.reason, result.detail))
                continue
            found.setdefault((result.kind, result.key), result)
        return list(found.values()), skipped, unknown

    def cap(self, kind: str) -> int:
        """Most accounts an identifier of ``kind`` may have and still link."""
        return self.config.detect.cap(kind)

    def hub_reason(self, kind: str, key: str, degree: int) -> str | None:
        """Why an identifier held by ``degree`` accounts never links, else ``None``.

        The rule is the linking detector's: above the kind's degree cap, or
        on the allow-list.
        """
        if (kind, key) in self._allowed:
            return "allow-listed"
        cap = self.cap(kind)
        if degree > cap:
            return f"shared by {degree} accounts, above the {kind} cap of {cap}"
        return None

    def tier(self, kind: str) -> str:
        """``"hard"`` or ``"soft"``."""
        return self.config.tier(kind)

    def weight(self, kind: str, degree: int, gap_seconds: float | None = None) -> float:
        """Link weight one shared identifier adds to a pair of accounts.

        Same rule as :func:`ringfence.detectors.linking.link_accounts`: the
        tier weight times :func:`~ringfence.detectors.linking.rarity` of
        the identifier's degree; a soft identifier counts
        ``1 + soft_time_boost`` times when the two accounts were opened
        within ``link_window_days``; a national id on accounts opened
        ``victim_days`` or more apart weighs nothing (identity reuse).

        Args:
            kind: Identifier kind.
            degree: Accounts holding the identifier.
            gap_seconds: Time between the two accounts' openings, when known.
        """
        gaps = None if gap_seconds is None else np.array([gap_seconds], float)
        return float(link_weights(
            np.array([self.tier(kind) == "hard"]),
            np.array([kind == "national_id"]),
            np.array([degree]),
            gaps,
            self.config.detect,
        )[0])
