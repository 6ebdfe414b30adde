"""Settings of a ringfence deployment, read from a YAML file.

Every setting has a default, so a config file is only needed to declare
extra identifier kinds, tune hub handling or thresholds, or to set the
national-id hashing key. Unknown keys are errors: a typo must not silently
fall back to a default. All problems of a file are reported at once.

Example::

    default_region: TH
    phone_regions: [TH, US]
    national_id_key_env: RINGFENCE_NID_KEY
    extra_kinds:
      employer: {tier: soft}
      bank_account: {tier: hard}
    detect:
      hub_degree: {device: 25}
      allow_list:
        - {kind: phone, value: "+1 800 555 0100"}
      review_threshold: 0.5
      decline_threshold: 0.8
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from ringfence.errors import ConfigError
from ringfence.model import BUILTIN_KINDS, Tier, kind_label

__all__ = [
    "Config",
    "DetectConfig",
    "GnnPolicy",
    "LoadConfig",
    "load_config",
    "national_id_key",
    "read_yaml",
]

_DEFAULT_HUB_DEGREE = {
    "national_id": 8,
    "phone": 12,
    "email": 8,
    "device": 20,
    "ip": 20,
    "address": 12,
}


@dataclass(slots=True)
class DetectConfig:
    """How identifiers become links and links become rings.

    Attributes:
        hub_degree: Per kind, the most accounts an identifier may have and
            still link them; above it the identifier is a hub. ``default``
            applies to kinds not listed.
        allow_list: ``{"kind", "value"}`` pairs that never link (a lender's
            own call-centre phone, a known shared office address). Values
            are normalised like input values.
        hard_weight: Link weight of one shared hard identifier of degree 2.
        soft_weight: Link weight of one shared soft identifier of degree 2.
        link_threshold: Two accounts are linked when the summed weight of
            what they share reaches this. With the defaults one hard
            identifier links, one soft identifier alone does not (unless
            the two accounts were opened within ``link_window_days``, when
            soft weights count ``1 + soft_time_boost`` times), two do.
        link_window_days: See ``link_threshold``.
        soft_time_boost: See ``link_threshold``.
        victim_days: A national id shared by accounts opened at least this
            many days apart does not link them: it is an id reused from its
            owner, scored as evidence against the ring that reused it.
        split_size: Groups larger than this are split by Louvain.
        burst_days: Window for "created in a burst".
        review_threshold: Ring score from which members are sent to review.
        decline_threshold: Ring score from which members are declined.
        seed: Seed of community detection.
    """

    hub_degree: dict[str, int] = field(
        default_factory=lambda: {**_DEFAULT_HUB_DEGREE, "default": 20}
    )
    allow_list: list[dict[str, str]] = field(default_factory=list)
    hard_weight: float = 1.0
    soft_weight: float = 0.35
    link_threshold: float = 0.5
    link_window_days: float = 30.0
    soft_time_boost: float = 1.0
    victim_days: float = 30.0
    split_size: int = 40
    burst_days: float = 7.0
    review_threshold: float = 0.6
    decline_threshold: float = 0.8
    seed: int = 7

    def cap(self, kind: str) -> int:
        """Hub degree cap of ``kind``."""
        return int(self.hub_degree.get(kind, self.hub_degree.get("default", 20)))


@dataclass(slots=True)
class GnnPolicy:
    """How the GNN score joins the ring evidence in a decision.

    Attributes:
        review_score: A GNN score from which an account outside any ring is
            sent to review.
        decline_score: A GNN score from which an account outside any ring is
            declined. Default 1.01: the GNN alone never declines.
        weight: Weight of the GNN score in the blended score of ring members
            (``(1 - weight) * ring_score + weight * gnn_score``).
        clear_score: A ring member whose GNN score is below this is allowed:
            the model, trained on confirmed outcomes, sees a household or an
            identity-theft victim that the ring's links caught.
    """

    review_score: float = 0.995
    decline_score: float = 1.01
    weight: float = 0.3
    clear_score: float = 0.05


@dataclass(slots=True)
class LoadConfig:
    """Loader settings.

    Attributes:
        batch_rows: Rows normalised and written per batch.
        max_reject_rate: A load whose rejected share of rows exceeds this
            fails and writes nothing.
        workers: Processes normalising rows (0: one per CPU core). Files
            under 4 MiB are normalised in the loading process.
    """

    batch_rows: int = 10_000
    max_reject_rate: float = 1.0
    workers: int = 0


@dataclass(slots=True)
class Config:
    """A whole deployment's settings (see the module docstring).

    Attributes:
        default_region: Region of phone numbers written without a country
            code (ISO 3166 alpha-2).
        phone_regions: Other regions the lender serves: a number invalid in
            the default region is read as a number of each of these in turn.
        national_id_key: Key of the national-id hash (prefer the
            environment variable named by ``national_id_key_env``).
        extra_kinds: Declared identifier kinds with their tier.
    """

    default_region: str = "US"
    phone_regions: list[str] = field(default_factory=lambda: ["US", "TH"])
    national_id_key: str | None = None
    national_id_key_env: str = "RINGFENCE_NID_KEY"
    extra_kinds: dict[str, Tier] = field(default_factory=dict)
    detect: DetectConfig = field(default_factory=DetectConfig)
    load: LoadConfig = field(default_factory=LoadConfig)
    gnn: GnnPolicy = field(default_factory=GnnPolicy)

    @property
    def kinds(self) -> dict[str, Tier]:
        """All identifier kinds with their tier, built-in ones first."""
        return {**BUILTIN_KINDS, **self.extra_kinds}

    def tier(self, kind: str) -> Tier:
        """Tier of ``kind``; undeclared kinds are soft."""
        return self.kinds.get(kind, "soft")


def national_id_key(config: Config) -> bytes:
    """Return the key that national ids are hashed with.

    Raises:
        ConfigError: When neither the config nor the environment has one.
    """
    raw = config.national_id_key or os.environ.get(config.national_id_key_env)
    if not raw:
        raise ConfigError(
            "national ids are stored only as a keyed hash and no key is set: "
            f"export {config.national_id_key_env}=<secret of 16+ characters> "
            "(keep it the same for every load into one store) or set "
            "national_id_key in the config file"
        )
    key = raw.encode("utf-8")
    if len(key) < 16:
        raise ConfigError(
            f"the national-id key from {config.national_id_key_env} is "
            f"{len(key)} bytes; use at least 16"
        )
    return key


def read_yaml(path: Path) -> Any:
    """Parse a YAML file; an empty file gives ``{}``.

    Raises:
        ConfigError: The file cannot be read or is not YAML.
    """
    import yaml

    try:
        return yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except OSError as exc:
        raise ConfigError(f"cannot read config file {path}: {exc.strerror}") from exc
    except yaml.YAMLError as exc:
        raise ConfigError(f"config file {path} is not valid YAML: {exc}") from exc


def load_config(path: str | Path | None) -> Config:
    """Read a YAML config file; ``None`` gives the defaults.

    Raises:
        ConfigError: Listing every problem found in the file.
    """
    config = Config()
    if path is None:
        return config
    path = Path(path)
    data = read_yaml(path)
    if not isinstance(data, dict):
        raise ConfigError(f"config file {path}: the top level must be a mapping")

    problems: list[str] = []
    sections = {"detect": config.detect, "load": config.load, "gnn": config.gnn}
    for key, value in data.items():
        if key in sections:
            _apply(sections[key], value, f"{key}.", problems)
        elif key == "extra_kinds":
            config.extra_kinds = _extra_kinds(value, problems)
        elif key == "phone_regions":
            if not isinstance(value, list) or not all(
                isinstance(v, str) for v in value
            ):
                problems.append("phone_regions: expected a list of region codes")
            else:
                config.phone_regions = value
        elif key in {"default_region", "national_id_key", "national_id_key_env"}:
            if not isinstance(value, str):
                problems.append(f"{key}: expected text, got {value!r}")
            else:
                setattr(config, key, value)
        elif key in {"nightly"}:
            continue  # read by the nightly job itself
        else:
            problems.append(f"unknown setting {key!r}")
    if problems:
        raise ConfigError(
            f"config file {path}: " + "; ".join(problems)
        )
    return config


def _apply(target: Any, value: Any, prefix: str, problems: list[str]) -> None:
    if not isinstance(value, dict):
        problems.append(f"{prefix.rstrip('.')}: expected a mapping")
        return
    known = {f.name: f for f in fields(target)}
    for key, item in value.items():
        if key not in known:
            problems.append(
                f"unknown setting {prefix}{key} (known: {', '.join(sorted(known))})"
            )
            continue
        current = getattr(target, key)
        if isinstance(current, dict):
            if not isinstance(item, dict):
                problems.append(f"{prefix}{key}: expected a mapping")
                continue
            setattr(target, key, {**current, **item})
        elif isinstance(current, list):
            if not isinstance(item, list):
                problems.append(f"{prefix}{key}: expected a list")
                continue
            setattr(target, key, item)
        elif isinstance(current, (int, float)) and not isinstance(current, bool):
            if not isinstance(item, (int, float)) or isinstance(item, bool):
                problems.append(f"{prefix}{key}: expected a number, got {item!r}")
                continue
            setattr(target, key, type(current)(item))
        else:
            setattr(target, key, item)


def _extra_kinds(value: Any, problems: list[str]) -> dict[str, Tier]:
    out: dict[str, Tier] = {}
    if not isinstance(value, dict):
        problems.append("extra_kinds: expected a mapping of kind -> {tier: ...}")
        return out
    for kind, spec in value.items():
        tier = spec.get("tier") if isinstance(spec, dict) else spec
        try:
            kind_label(str(kind))
        except ValueError as exc:
            problems.append(f"extra_kinds.{kind}: {exc}")
            continue
        if kind in BUILTIN_KINDS:
            problems.append(f"extra_kinds.{kind}: is a built-in kind")
        elif tier not in ("hard", "soft"):
            problems.append(
                f"extra_kinds.{kind}: tier must be 'hard' or 'soft', got {tier!r}"
            )
        else:
            out[str(kind)] = tier
    return out
