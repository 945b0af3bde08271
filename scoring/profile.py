"""Weight profiles: one self-contained document that says how scores are made.

A profile holds the signal definitions (what to count, how to aggregate, which way is good),
the normalisation of each signal, the signal weights, the health component weights, the band
thresholds, the rule for ``new`` accounts, the expansion rules and the window. Profiles are data:
people save versions of them in the state store, review them as TOML, and the scoring core reads
them; nothing here touches a store.

Weights are relative: a signal's share of the engagement score is its weight over the sum of
weights, so scaling all weights changes nothing and a zero weight removes a signal.

Besides the dataclasses this module holds the two built-in profiles: ``default_profile``, built
from the event-type catalogue so any data that follows the contract scores out of the box, and
``demo_profile`` ("classic"), the demo's published profile. Validation lives in
``scoring.profile_rules``, the TOML form in ``scoring.profile_toml``, storage in
``scoring.profiles``.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from .errors import DataError

if TYPE_CHECKING:  # pandas is only needed by callers that hold a catalogue
    import pandas as pd

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
DEFAULT_HEALTH_WEIGHTS = {"engagement": 50.0, "nps": 15.0, "support": 15.0, "financial": 10.0,
                          "commercial": 10.0}
# A signal's name becomes a column of the inputs frame (``<name>``, ``<name>__prev``) and of the
# score output (``contrib_<name>``), so it must be a plain identifier that no fixed column uses.
SIGNAL_NAME_PATTERN = r"[a-z][a-z0-9_]*"
RESERVED_SIGNAL_NAMES = frozenset({
    "account_id", "name", "segment", "plan", "region", "csm_owner", "crm_id", "arr", "seats",
    "age_days", "active_users", "active_days", "usage", "usage_prev", "value_usage",
    "passive_usage", "burst_user_share", "burst_day_share", "burst", "nps_mean", "nps_count",
    "tickets_open", "tickets_open_weighted", "ticket_sentiment", "invoices_overdue",
    "days_overdue_max", "mrr_now", "mrr_90d_ago", "has_nps", "has_tickets", "has_invoices",
    "has_mrr", "engagement_score", "health_score", "band", "expansion_ready", "data_confidence",
})
# A profile's name is used in ``NAME@N`` references and file names.
PROFILE_NAME_PATTERN = r"[A-Za-z0-9][A-Za-z0-9_.-]*"


class ProfileError(DataError):
    """An invalid profile or profile reference; ``problems`` lists every problem found."""

    def __init__(self, message: str, problems: list[str] | None = None) -> None:
        super().__init__(message)
        self.problems = problems or [message]


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
    health_weights: dict[str, float] = field(default_factory=lambda: dict(DEFAULT_HEALTH_WEIGHTS))
    bands: Bands = field(default_factory=Bands)
    new_rule: NewRule = field(default_factory=NewRule)
    expansion: Expansion = field(default_factory=Expansion)
    window_days: int = 30
    passive_daily_cap: int = 50  # passive events counted per user and day, at most
    max_signal_share: float = 0.4  # no signal carries more than this share of engagement
    version: int | None = None  # set when stored
    description: str = ""

    def __post_init__(self) -> None:
        # Every component has a weight (a component left out weighs 0), so readers can index
        # ``health_weights[c]`` for any c in COMPONENTS; unknown keys stay for validation to name.
        if any(c not in self.health_weights for c in COMPONENTS):
            filled = {c: self.health_weights.get(c, 0.0) for c in COMPONENTS}
            filled.update(self.health_weights)
            object.__setattr__(self, "health_weights", filled)

    def signal(self, name: str) -> SignalDef:
        return next(s for s in self.signals if s.name == name)

    @property
    def ref(self) -> str:
        """``NAME@VERSION`` for a stored profile, else ``NAME`` (how snapshots and pages cite it)."""
        return self.name if self.version is None else f"{self.name}@{self.version}"

    def __hash__(self) -> int:  # health_weights is a dict; hash what identifies the document
        return hash((self.name, self.version, self.signals, tuple(sorted(self.health_weights.items())),
                     self.bands, self.new_rule, self.expansion, self.window_days,
                     self.passive_daily_cap, self.max_signal_share))


# ---------------------------------------------------------------- built-in profiles


def default_profile(catalogue: pd.DataFrame | None) -> Profile:
    """The profile used when none is published: generic signals that fit any contract data.

    Built from the event-type catalogue (columns ``event_type``, ``dimension``, ``value_action``;
    event types without a dimension count as unclassified). Always: active days and distinct
    features used (any events have them) and active users per seat. When the catalogue has value
    actions: value actions per active user. When it has integration event types: the sum of
    their quantity. Weights are roughly equal, value actions a little ahead.
    """
    value_actions = False
    integration: tuple[str, ...] = ()
    if catalogue is not None and len(catalogue):
        flags = catalogue["value_action"]
        value_actions = bool(flags[flags.notna()].astype(bool).any())
        integration = tuple(sorted({str(et) for et, dim in zip(catalogue["event_type"],
                                                              catalogue["dimension"])
                                    if isinstance(dim, str) and dim.lower() == "integration"}))
    signals = [
        SignalDef("days_active", "Active days", "frequency", "active_days", 20.0),
        SignalDef("features_used", "Features used", "breadth", "distinct_features", 20.0),
    ]
    if value_actions:
        signals.append(SignalDef("value_actions_per_user", "Value actions per active user", "depth",
                                 "sum", 25.0, value_only=True, per="active_user"))
    signals.append(SignalDef("users_per_seat", "Active users per seat", "collaboration",
                             "distinct_users", 20.0, per="seat"))
    if integration:
        signals.append(SignalDef("integration_events", "Integration events", "integration", "sum",
                                 15.0, event_types=integration))
    return Profile(name="default", signals=tuple(signals),
                   description="Built from the event-type catalogue: generic signals per dimension.")


def demo_profile() -> Profile:
    """The demo's published profile, "classic": the textbook weighting of five usage signals.

    Monthly logins 20% (days with a sign-in, so logging in ten times a day counts once),
    reports generated 30%, integrations connected 25%, team members invited 15%, API calls 10%
    (sums of quantity over the window). At risk below 55 instead of the default 40: on the demo
    book, health sits between about 50 and 80 (percentile signals centre engagement on 50), so
    40 would put almost nobody at risk; 55 puts about 15% there, as a real book's thresholds are
    set after a look at its distribution (the Tune weights page). Healthy from 70, the default.
    """
    return Profile(name="classic", description="The classic example: logins 20%, reports 30%, "
                   "integrations 25%, invitations 15%, API calls 10%; at risk below 55, set for "
                   "the demo book.", bands=Bands(55.0, 70.0), signals=(
        SignalDef("logins", "Monthly logins (days with a sign-in)", "frequency", "active_days", 20.0,
                  event_types=("login",)),
        SignalDef("reports_generated", "Reports generated", "depth", "sum", 30.0,
                  event_types=("report_generated",)),
        SignalDef("integrations_connected", "Integrations connected", "integration", "sum", 25.0,
                  event_types=("integration_connected",)),
        SignalDef("teammates_invited", "Team members invited", "collaboration", "sum", 15.0,
                  event_types=("teammate_invited",)),
        SignalDef("api_calls", "API calls", "integration", "sum", 10.0, event_types=("api_call",)),
    ))
