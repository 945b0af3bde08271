"""What-if tuning of a profile: the proposal and its link (the figures that compare it with the
saved one: ``scoring.comparison``).

The Tune weights page edits a *proposal* on top of a saved *base* profile: signal weights,
directions and normalisation methods, band thresholds and health component weights. Everything
here is pure (no store, no Streamlit), so the page only draws what these functions return.

Why it is shaped like this:

- **One proposal, three forms.** ``Proposal`` is the edit; ``widget_values`` gives the typed value
  of each widget key, ``to_params`` the URL's query parameters (the key names are the same), and
  ``proposed_profile`` the profile to score or save. ``from_params`` reads a link back; values it
  cannot use fall back to the base's and are reported, never raised, because links are typed by
  people too. The link carries the base pinned as ``NAME@N`` and every value in full, so it
  reproduces the proposal exactly even when the published profile changes later.
- **Preparation keys.** A what-if re-scores with one matrix-vector product on a matrix prepared
  once (``scores.prepare_rescore``). ``inputs_key`` names what the inputs frame depends on (signal
  definitions, window, cap, catalogue; not weights, directions or normalisation) and
  ``settings_key`` what the prepared matrix depends on on top (directions, normalisation, health
  weights, the ``new`` rule): a cache keyed on them re-prepares only when one of those changes.
"""
from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import pandas as pd

from .current import catalogue_digest
from .profile import COMPONENTS, DIRECTIONS, Bands, Profile

TUNABLE_METHODS = ("percentile", "minmax", "logz")  # a grid keeps its grid as written
WEIGHT_MAX = 100.0  # the sliders' range is 0..WEIGHT_MAX
BASE, AS_OF, AT_RISK, HEALTHY = "base", "as_of", "at_risk_below", "healthy_from"
WEIGHT, DIRECTION, METHOD, HEALTH = "w.", "dir.", "norm.", "hw."  # key prefixes, then a name
PREFIXES = (WEIGHT, DIRECTION, METHOD, HEALTH)


@dataclass(frozen=True)
class Proposal:
    """A proposed edit of the base profile ``base`` (``NAME@N``, or ``default``) as of ``as_of``.
    The mappings hold every signal (weights, directions, methods) or component (health)."""

    base: str
    as_of: dt.date
    weights: Mapping[str, float]
    directions: Mapping[str, str]
    methods: Mapping[str, str]
    bands: Bands
    health_weights: Mapping[str, float]


def slider_weights(profile: Profile) -> dict[str, float]:
    """The profile's signal weights on the sliders' 0..100 scale: as they are, or scaled down so
    the largest is 100 when one is above it (weights are relative: scaling changes no score)."""
    w = {s.name: float(s.weight) for s in profile.signals}
    top = max(w.values(), default=0.0)
    return w if top <= WEIGHT_MAX else {k: v * WEIGHT_MAX / top for k, v in w.items()}


def proposal_of(profile: Profile, base: str, as_of: dt.date) -> Proposal:
    """The proposal that changes nothing: the base profile as it is."""
    return Proposal(base, as_of, slider_weights(profile),
                    {s.name: s.direction for s in profile.signals},
                    {s.name: s.normalisation.method for s in profile.signals}, profile.bands,
                    {c: float(profile.health_weights.get(c, 0.0)) for c in COMPONENTS})


def widget_values(p: Proposal) -> dict[str, object]:
    """Each widget key of the page with its typed value (the query parameters use the same keys)."""
    out: dict[str, object] = {BASE: p.base, AS_OF: p.as_of}
    out.update({WEIGHT + k: float(v) for k, v in p.weights.items()})
    out.update({DIRECTION + k: v for k, v in p.directions.items()})
    out.update({METHOD + k: v for k, v in p.methods.items()})
    out.update({AT_RISK: float(p.bands.at_risk_below), HEALTHY: float(p.bands.healthy_from)})
    out.update({HEALTH + k: float(v) for k, v in p.health_weights.items()})
    return out


def from_widgets(values: Mapping[str, object], start: Proposal) -> Proposal:
    """The proposal the widgets hold: ``values`` by widget key, ``start`` for any key missing."""
    def get(key: str, default):  # noqa: ANN001, ANN202
        v = values.get(key, default)
        return default if v is None else v

    return Proposal(
        str(get(BASE, start.base)), get(AS_OF, start.as_of),
        {k: float(get(WEIGHT + k, v)) for k, v in start.weights.items()},
        {k: str(get(DIRECTION + k, v)) for k, v in start.directions.items()},
        {k: str(get(METHOD + k, v)) for k, v in start.methods.items()},
        Bands(float(get(AT_RISK, start.bands.at_risk_below)), float(get(HEALTHY, start.bands.healthy_from))),
        {k: float(get(HEALTH + k, v)) for k, v in start.health_weights.items()})


def settings_changed(p: Proposal, start: Proposal, labels: Mapping[str, str] | None = None) -> list[str]:
    """The directions, normalisations and health weights of ``p`` that differ from ``start``, in
    words (``"Logins: lower is better"``, signals by ``labels`` where given), for the page to say
    while their widgets are folded away."""
    name = (labels or {}).get
    out = [f"{name(k, k)}: {v} is better" for k, v in p.directions.items() if v != start.directions[k]]
    out += [f"{name(k, k)}: {v}" for k, v in p.methods.items() if v != start.methods[k]]
    out += [f"{k} weight {_number(v)}" for k, v in p.health_weights.items() if v != start.health_weights[k]]
    return out


def _number(x: float) -> str:
    """Shortest text that reads back as exactly ``x`` (``20`` rather than ``20.0``)."""
    return str(int(x)) if float(x).is_integer() and abs(x) < 1e15 else repr(float(x))


def to_params(p: Proposal) -> dict[str, str]:
    """The query parameters of a link to ``p``: every value in full, the base pinned."""
    return {k: v.isoformat() if isinstance(v, dt.date) else _number(v) if isinstance(v, float) else str(v)
            for k, v in widget_values(p).items()}


def from_params(params: Mapping[str, str | Sequence[str]], start: Proposal) -> tuple[Proposal, list[str]]:
    """Read a link's edits back over ``start`` (the base profile's proposal). A missing value keeps
    ``start``'s; an unusable one (not a number, out of range, an unknown choice) keeps it too and
    is named in the returned problems. ``base`` and ``as_of`` are not read here (``read_as_of``):
    the caller resolves them first, since the start depends on them."""
    problems: list[str] = []

    def text(key: str) -> str | None:
        v = params.get(key)
        if isinstance(v, (list, tuple)):
            v = v[-1] if v else None
        return None if v is None else str(v)

    def number(key: str, default: float, hi: float | None) -> float:
        raw = text(key)
        if raw is None:
            return default
        try:
            x = float(raw)
        except ValueError:
            x = math.nan
        if not math.isfinite(x) or x < 0 or (hi is not None and x > hi):
            problems.append(f"{key}={raw!r} is not a number from 0 to {hi:g}" if hi is not None
                            else f"{key}={raw!r} is not a number >= 0")
            return default
        return x

    def choice(key: str, default: str, options: Sequence[str]) -> str:
        raw = text(key)
        if raw is None or raw in options:
            return default if raw is None else raw
        problems.append(f"{key}={raw!r} is not one of {', '.join(options)}")
        return default

    methods = {k: v if v not in TUNABLE_METHODS else choice(METHOD + k, v, TUNABLE_METHODS)
               for k, v in start.methods.items()}
    p = Proposal(start.base, start.as_of,
                 {k: number(WEIGHT + k, v, WEIGHT_MAX) for k, v in start.weights.items()},
                 {k: choice(DIRECTION + k, v, DIRECTIONS) for k, v in start.directions.items()},
                 methods,
                 Bands(number(AT_RISK, start.bands.at_risk_below, 100.0),
                       number(HEALTHY, start.bands.healthy_from, 100.0)),
                 {k: number(HEALTH + k, v, None) for k, v in start.health_weights.items()})
    return p, problems


def read_as_of(params: Mapping[str, str | Sequence[str]], default: dt.date, *,
               latest: dt.date | None = None) -> tuple[dt.date, str | None]:
    """The link's as-of date, else ``default``; with the problem when it is unusable (not a date,
    or after ``latest``, the data's as-of date)."""
    raw = params.get(AS_OF)
    raw = raw[-1] if isinstance(raw, (list, tuple)) and raw else raw
    if not raw:
        return default, None
    try:
        day = dt.date.fromisoformat(str(raw))
    except ValueError:
        return default, f"{AS_OF}={raw!r} is not a date YYYY-MM-DD"
    if latest is not None and day > latest:
        return default, f"{AS_OF}={raw} is after the data's as-of date {latest}"
    return day, None


def ours(key: str) -> bool:
    """A query parameter the Tune weights page writes."""
    return key in (BASE, AS_OF, AT_RISK, HEALTHY) or key.startswith(PREFIXES)


def link_changed(params: Mapping[str, object], written: Mapping[str, str] | None) -> bool:
    """True when the URL's parameters of this page are no longer those the page last wrote: a
    link was opened over the session (or the browser went back), so the link decides again."""
    if written is None:
        return False
    return {k: v for k, v in params.items() if ours(k)} != dict(written)


def stale_params(params: Mapping[str, object], current: Mapping[str, str]) -> list[str]:
    """Query parameters of this page's kinds (``w.``, ``dir.``, ...) that ``current`` no longer
    has: the signals of another base profile."""
    return [k for k in params if ours(k) and k not in current]


def proposed_profile(base: Profile, p: Proposal, *, name: str | None = None) -> Profile:
    """``base`` with the proposal's edits, unversioned (``profiles.save`` numbers it). A grid
    signal keeps its grid: its method is not changed."""
    signals = []
    for s in base.signals:
        spec = s.normalisation
        if spec.method in TUNABLE_METHODS and p.methods.get(s.name, spec.method) != spec.method:
            spec = dataclasses.replace(spec, method=p.methods[s.name])
        signals.append(dataclasses.replace(s, weight=float(p.weights.get(s.name, s.weight)),
                                           direction=p.directions.get(s.name, s.direction),
                                           normalisation=spec))
    return dataclasses.replace(base, name=name or base.name, version=None, signals=tuple(signals),
                               bands=p.bands, health_weights=dict(p.health_weights))


# ---------------------------------------------------------------- cache keys


def _digest(*parts: object) -> str:
    return hashlib.sha256("\x1f".join(map(str, parts)).encode()).hexdigest()[:32]


def inputs_key(profile: Profile, catalogue: pd.DataFrame | None) -> str:
    """What ``signals.compute_inputs`` depends on besides the data and the date: each signal's
    definition (not its weight, direction or normalisation), the window, the passive cap and the
    catalogue. Two profiles with equal keys have equal inputs frames."""
    sigs = tuple((s.name, s.kind, s.event_types, s.features, s.value_only, s.per, s.trend)
                 for s in profile.signals)
    cat = "" if catalogue is None else catalogue_digest(catalogue)
    return _digest(sigs, profile.window_days, profile.passive_daily_cap, cat)


def settings_key(profile: Profile) -> str:
    """What a prepared ``Rescorer`` depends on besides the inputs: directions, normalisation,
    health weights, the ``new`` rule and the share cap (not signal weights, not band thresholds,
    which a ``Rescorer`` takes as they come)."""
    sigs = tuple((s.name, s.direction, s.normalisation) for s in profile.signals)
    return _digest(sigs, sorted(profile.health_weights.items()), profile.new_rule,
                   profile.max_signal_share)


@dataclass(frozen=True)
class Choices:
    """The profiles a picker offers (``NAME@N`` per saved version, and ``default`` for the built-in
    default unless a profile of that name is saved), the one chosen by default (the published
    one, else ``default``) and a label for each."""

    refs: tuple[str, ...]
    default: str
    labels: Mapping[str, str]
    published: str | None = None


def profile_choices(saved: Sequence[tuple[str, int, bool, str]]) -> Choices:
    """From (name, version, published, note) per saved version: newest versions first per name."""
    rows = sorted(saved, key=lambda r: (r[0], -r[1]))
    refs = [f"{n}@{v}" for n, v, _, _ in rows]
    labels = {f"{n}@{v}": f"{n}@{v}" + (" (published)" if pub else "") for n, v, pub, _ in rows}
    if not any(n == "default" for n, *_ in rows):
        refs.append("default")
        labels["default"] = "default (built from the event-type catalogue)"
    published = [f"{n}@{v}" for n, v, pub, _ in rows if pub]
    # unpublished: the built-in default, or (a profile named "default" saved) its newest version
    fallback = "default" if "default" in refs else next(r for r in refs if r.startswith("default@"))
    return Choices(tuple(refs), published[0] if published else fallback, labels,
                   published[0] if published else None)


