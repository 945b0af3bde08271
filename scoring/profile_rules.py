"""The rules a profile follows before it is saved or scored, with messages people can act on.

``validate`` checks one profile on its own: weights finite and not negative (and not all zero),
known choices (kind, dimension, direction, per, normalisation method and peer, health component),
signal names usable as column names, grids in order, band thresholds in order, sane windows.
``check_known_events`` checks it against the data: the event types and features its signals name
must exist in the event-type catalogue.

Every problem names the field and the value, and for a misspelt choice suggests the closest valid
one (``difflib``), because the usual mistake is a typo in a hand-edited TOML file. All problems are
collected; the error's message is the first one (plus how many more), one line for the command
line, and ``ProfileError.problems`` holds the full list for the app.
"""
from __future__ import annotations

import difflib
import math
import re
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

from .profile import (COMPONENTS, DIRECTIONS, KINDS, METHODS, PEERS, PER, PROFILE_NAME_PATTERN,
                      RESERVED_SIGNAL_NAMES, SIGNAL_NAME_PATTERN, Profile, ProfileError, SignalDef)
from .schema import DIMENSIONS

if TYPE_CHECKING:
    import pandas as pd

MAX_NAME_LENGTH = 64


def closest(value: object, choices: Iterable[str]) -> str | None:
    """The valid choice closest to a misspelt one, or None when nothing is close."""
    found = difflib.get_close_matches(str(value), list(choices), n=1, cutoff=0.6)
    return found[0] if found else None


def unknown(what: str, value: object, where: str, choices: Sequence[str]) -> str:
    """'unknown kind "x" in signal s — did you mean "y"? expected one of a, b, c'."""
    guess = closest(value, choices)
    hint = f' — did you mean "{guess}"? expected' if guess else " — expected"
    return f'unknown {what} "{value}" in {where}{hint} one of {", ".join(choices)}'


def raise_problems(problems: list[str], prefix: str) -> None:
    """Raise one ProfileError carrying every problem; its message is the first one."""
    if not problems:
        return
    more = len(problems) - 1
    tail = f" (and {more} more problem{'s' if more > 1 else ''})" if more else ""
    raise ProfileError(f"{prefix}{problems[0]}{tail}", problems)


def _is_number(x: object) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool)


def _check_number(problems: list[str], value: object, what: str, *, lo: float | None = None,
                  hi: float | None = None, lo_open: bool = False, whole: bool = False) -> bool:
    """Append a problem unless ``value`` is a finite number (whole if asked) within bounds."""
    kind = "a whole number" if whole else "a finite number"
    bounds = []
    if lo is not None:
        bounds.append(f"{'>' if lo_open else '>='} {lo:g}")
    if hi is not None:
        bounds.append(f"<= {hi:g}")
    expected = kind + (" " + " and ".join(bounds) if bounds else "")
    ok = _is_number(value) and (not whole or isinstance(value, int)) and math.isfinite(value)
    if ok and lo is not None:
        ok = value > lo if lo_open else value >= lo
    if ok and hi is not None:
        ok = value <= hi
    if not ok:
        problems.append(f"{what} is {value!r} — expected {expected}")
    return ok


def validate(profile: Profile) -> None:
    """Raise ProfileError naming every rule the profile breaks; return None when it is valid."""
    problems: list[str] = []
    if not (isinstance(profile.name, str) and re.fullmatch(PROFILE_NAME_PATTERN, profile.name)
            and len(profile.name) <= MAX_NAME_LENGTH):
        problems.append(f"profile name {profile.name!r} — expected up to {MAX_NAME_LENGTH} letters, "
                        'digits, "_", "." or "-", starting with a letter or digit')
    if not isinstance(profile.description, str):
        problems.append(f"description is {profile.description!r} — expected text")
    _check_number(problems, profile.window_days, "window_days", lo=1, whole=True)
    _check_number(problems, profile.passive_daily_cap, "passive_daily_cap", lo=0, whole=True)
    _check_number(problems, profile.max_signal_share, "max_signal_share", lo=0, hi=1, lo_open=True)
    _check_health_weights(problems, profile.health_weights)
    _check_thresholds(problems, profile)
    if not profile.signals:
        problems.append("the profile has no signals — add at least one [[signals]] entry")
    seen: set[str] = set()
    all_weights_ok = True
    for i, signal in enumerate(profile.signals):
        all_weights_ok &= _check_signal(problems, signal, i, seen)
    if profile.signals and all_weights_ok and sum(s.weight for s in profile.signals) == 0:
        problems.append("all signal weights are zero — give at least one signal a positive weight")
    raise_problems(problems, f'profile "{profile.name}": ')


def _check_health_weights(problems: list[str], weights: object) -> None:
    if not isinstance(weights, dict):
        problems.append(f"health_weights is {weights!r} — expected a table of component weights")
        return
    ok = True
    for key, value in weights.items():
        if key not in COMPONENTS:
            problems.append(unknown("health component", key, "health_weights", COMPONENTS))
            ok = False
        ok &= _check_number(problems, value, f"health_weights.{key}", lo=0)
    if ok and sum(weights.values()) == 0:
        problems.append("all health weights are zero — give at least one component "
                        f"({', '.join(COMPONENTS)}) a positive weight in health_weights")


def _check_thresholds(problems: list[str], profile: Profile) -> None:
    bands = profile.bands
    lo_ok = _check_number(problems, bands.at_risk_below, "bands.at_risk_below", lo=0, hi=100)
    hi_ok = _check_number(problems, bands.healthy_from, "bands.healthy_from", lo=0, hi=100)
    if lo_ok and hi_ok and bands.at_risk_below > bands.healthy_from:
        problems.append(f"bands.at_risk_below ({bands.at_risk_below:g}) is above bands.healthy_from "
                        f"({bands.healthy_from:g}) — expected 0 <= at_risk_below <= healthy_from <= 100")
    _check_number(problems, profile.new_rule.min_age_days, "new_rule.min_age_days", lo=0, whole=True)
    _check_number(problems, profile.new_rule.min_active_days, "new_rule.min_active_days", lo=0,
                  whole=True)
    _check_number(problems, profile.expansion.min_seat_utilisation,
                  "expansion.min_seat_utilisation", lo=0)
    _check_number(problems, profile.expansion.min_usage_growth, "expansion.min_usage_growth", lo=-1)


def _check_signal(problems: list[str], s: SignalDef, i: int, seen: set[str]) -> bool:
    """Check one signal; return whether its weight is valid (for the all-zero rule)."""
    named = isinstance(s.name, str) and s.name != ""
    where = f"signal {s.name}" if named else f"signals[{i + 1}]"
    if not (named and re.fullmatch(SIGNAL_NAME_PATTERN, s.name) and "__" not in s.name
            and len(s.name) <= MAX_NAME_LENGTH):
        problems.append(f"{where}: name {s.name!r} — expected a lower-case identifier "
                        f"({SIGNAL_NAME_PATTERN}, no double underscore, up to {MAX_NAME_LENGTH} "
                        "characters): it becomes the column contrib_<name>")
    elif s.name in RESERVED_SIGNAL_NAMES:
        problems.append(f'{where}: name "{s.name}" is a fixed column of the scores — choose another '
                        f'(e.g. "{s.name}_signal")')
    elif s.name in seen:
        problems.append(f'{where}: the name "{s.name}" is used by more than one signal — '
                        "signal names must be unique")
    if named:
        seen.add(s.name)
    if not (isinstance(s.label, str) and s.label.strip()):
        problems.append(f"{where}: label {s.label!r} — expected a non-empty text")
    for what, value, choices in (("dimension", s.dimension, DIMENSIONS), ("kind", s.kind, tuple(KINDS)),
                                 ("direction", s.direction, DIRECTIONS)):
        if value not in choices:
            problems.append(unknown(what, value, where, choices))
    if s.per not in PER:
        valid = tuple(p for p in PER if p is not None)
        problems.append(unknown("per", s.per, where, valid) + " (or leave it out)")
    for what, value in (("value_only", s.value_only), ("trend", s.trend)):
        if not isinstance(value, bool):
            problems.append(f"{where}: {what} is {value!r} — expected true or false")
    for what, names in (("event_types", s.event_types), ("features", s.features)):
        if not (isinstance(names, tuple) and all(isinstance(n, str) and n for n in names)):
            problems.append(f"{where}: {what} is {names!r} — expected a list of non-empty texts")
    if s.event_types and s.features:
        problems.append(f"{where}: give event_types or features, not both")
    _check_normalisation(problems, s, where)
    return _check_number(problems, s.weight, f"{where}: weight", lo=0)


def _check_normalisation(problems: list[str], s: SignalDef, where: str) -> None:
    norm = s.normalisation
    if norm.method not in METHODS:
        problems.append(unknown("normalisation method", norm.method, where, METHODS))
    if norm.peer not in PEERS:
        problems.append(unknown("normalisation peer", norm.peer, where, PEERS))
    if norm.method != "grid":
        if norm.grid:
            problems.append(f"{where}: normalisation.grid is given but the method is "
                            f'"{norm.method}" — set method = "grid" or remove the grid')
        return
    if not norm.grid:
        problems.append(f'{where}: normalisation method "grid" needs a grid of '
                        "{ up_to = bound, points = 0..100 } steps")
        return
    previous: float | None = None
    for k, step in enumerate(norm.grid, start=1):
        at = f"{where}: normalisation.grid step {k}"
        if not (isinstance(step, tuple) and len(step) == 2):
            problems.append(f"{at} is {step!r} — expected (up_to, points)")
            continue
        bound, points = step
        if _check_number(problems, bound, f"{at} up_to"):
            if previous is not None and bound <= previous:
                problems.append(f"{at} up_to is {bound:g}, not above the step before ({previous:g}) "
                                "— bounds must increase")
            previous = bound
        _check_number(problems, points, f"{at} points", lo=0, hi=100)


def check_known_events(profile: Profile, catalogue: pd.DataFrame) -> None:
    """Raise ProfileError when a signal names an event type or feature the catalogue lacks.

    ``catalogue`` lists every event type in the data (classified or not) with its ``feature``; an
    empty feature means the event type itself, as for unclassified types.
    """
    types = [str(et) for et in catalogue["event_type"]]
    features = sorted({f if isinstance(f, str) and f else et
                       for et, f in zip(types, catalogue["feature"])})
    known_types = set(types)
    problems: list[str] = []
    for s in profile.signals:
        for what, names, known, pool in (("event type", s.event_types, known_types, sorted(types)),
                                         ("feature", s.features, set(features), features)):
            for n in names:
                if n in known:
                    continue
                guess = closest(n, pool)
                hint = f' — did you mean "{guess}"?' if guess else f" ({len(pool)} known)"
                problems.append(f'{what} "{n}" in signal {s.name} is not in the event-type '
                                f"catalogue{hint}")
    raise_problems(problems, f'profile "{profile.name}": ')
