"""Weight profiles: one self-contained document that says how scores are made.

A profile holds the signal definitions (what to count, how to aggregate, which way is good),
the normalisation of each signal, the signal weights, the health component weights, the band
thresholds, the rule for ``new`` accounts, the expansion rules and the window. Profiles are data:
people save versions of them in the state store, review them as TOML, and the scoring core reads
them; nothing here touches a store.

Weights are relative: a signal's share of the engagement score is its weight over the sum of
weights, so scaling all weights changes nothing and a zero weight removes a signal.
"""
from __future__ import annotations

from dataclasses import dataclass, field

# Signal aggregations (``kind``) and what each computes over the window's events:
KINDS = {
    "count": "number of event rows",
    "sum": "sum of quantity",
    "distinct_users": "number of distinct user_id values",
    "distinct_features": "number of distinct features used",
    "active_days": "number of distinct days with any matching event",
}
PER = (None, "seat", "active_user")  # optional divisor
DIRECTIONS = ("higher", "lower")  # which way is good
METHODS = ("percentile", "minmax", "logz", "grid")
PEERS = ("segment", "book")
COMPONENTS = ("engagement", "nps", "support", "financial", "commercial")


@dataclass(frozen=True)
class Normalisation:
    """How a raw signal value becomes a 0..1 score (formulas in ``scoring.normalize``).

    ``grid`` (for method ``grid``) is a tuple of ``(upper_bound, points)`` pairs in increasing
    order of bound; a value gets the points of the first bound it does not exceed, and the last
    pair's points above all bounds. Points are 0..100.
    """

    method: str = "percentile"
    peer: str = "segment"
    grid: tuple[tuple[float, float], ...] = ()


@dataclass(frozen=True)
class SignalDef:
    """One usage signal: what it counts, how, per what, which way is good, and its weight."""

    name: str
    label: str
    dimension: str
    kind: str
    weight: float
    event_types: tuple[str, ...] = ()  # events it counts; empty = all (after ``value_only``)
    features: tuple[str, ...] = ()  # or the features it counts
    value_only: bool = False  # count value actions only
    per: str | None = None
    direction: str = "higher"
    trend: bool = False  # the value is the change against the previous window
    normalisation: Normalisation = field(default_factory=Normalisation)


@dataclass(frozen=True)
class Bands:
    """Health thresholds: at_risk below ``at_risk_below``, healthy from ``healthy_from``."""

    at_risk_below: float = 40.0
    healthy_from: float = 70.0


@dataclass(frozen=True)
class NewRule:
    """Accounts too young or too thin to judge are ``new``, not at risk."""

    min_age_days: int = 60  # since contract_start
    min_active_days: int = 3  # in the window


@dataclass(frozen=True)
class Expansion:
    """``expansion_ready`` = healthy and every condition below."""

    min_seat_utilisation: float = 0.9  # active users / seats
    min_usage_growth: float = 0.10  # usage change against the previous window


@dataclass(frozen=True)
class Profile:
    name: str
    signals: tuple[SignalDef, ...]
    health_weights: dict[str, float] = field(default_factory=lambda: {
        "engagement": 50.0, "nps": 15.0, "support": 15.0, "financial": 10.0, "commercial": 10.0})
    bands: Bands = field(default_factory=Bands)
    new_rule: NewRule = field(default_factory=NewRule)
    expansion: Expansion = field(default_factory=Expansion)
    window_days: int = 30
    passive_daily_cap: int = 50  # passive events counted per user and day, at most
    max_signal_share: float = 0.4  # no signal carries more than this share of engagement
    version: int | None = None  # set when stored
    description: str = ""

    def signal(self, name: str) -> SignalDef:
        return next(s for s in self.signals if s.name == name)

    def __hash__(self) -> int:  # health_weights is a dict; hash what identifies the document
        return hash((self.name, self.version, self.signals, tuple(sorted(self.health_weights.items())),
                     self.bands, self.new_rule, self.expansion, self.window_days,
                     self.passive_daily_cap, self.max_signal_share))
