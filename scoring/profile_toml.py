"""Profiles as TOML documents: the form people review, diff, export and import.

Layout (``docs/SCORING.md``, section Profiles, shows a full example): top-level ``name``,
``description``, ``window_days``, ``passive_daily_cap``, ``max_signal_share``; tables
``[health_weights]``, ``[bands]``, ``[new_rule]``, ``[expansion]``; then one ``[[signals]]`` entry
per signal with its own ``[signals.normalisation]`` table, whose threshold grid is a list of
``{ up_to = bound, points = 0..100 }`` steps. ``per`` is left out when a signal has no divisor
(TOML has no null), and so are empty ``event_types`` / ``features`` lists (meaning "all").
The version is not part of the document: the state store numbers versions when they are saved.

``from_toml(to_toml(p)) == p`` for every valid profile without a version. Reading is strict:
an unknown key is an error naming it and the closest known key (a misspelt key silently ignored
would leave a default in force that nobody chose); a missing optional key takes the dataclass
default; types are checked; the result is validated.
"""
from __future__ import annotations

import functools

import tomllib
from dataclasses import fields
from typing import Any

import tomli_w

from .profile import (Bands, Expansion, NewRule, Normalisation, Profile, ProfileError, SignalDef)
from .profile_rules import raise_problems, unknown, validate

TOP = ("name", "description", "window_days", "passive_daily_cap", "max_signal_share",
       "health_weights", "bands", "new_rule", "expansion", "signals")
SIGNAL_KEYS = tuple(f.name for f in fields(SignalDef))
NORMALISATION_KEYS = ("method", "peer", "grid")
STEP_KEYS = ("up_to", "points")
# How each scalar field is typed in the document: text, number (float), whole (int), bool, texts.
_TYPES = {
    "name": "text", "description": "text", "label": "text", "dimension": "text", "kind": "text",
    "direction": "text", "per": "text", "method": "text", "peer": "text",
    "window_days": "whole", "passive_daily_cap": "whole", "min_age_days": "whole",
    "min_active_days": "whole", "max_signal_share": "number", "weight": "number",
    "at_risk_below": "number", "healthy_from": "number", "min_seat_utilisation": "number",
    "min_usage_growth": "number", "up_to": "number", "points": "number",
    "value_only": "bool", "trend": "bool", "event_types": "texts", "features": "texts",
}
_EXPECTED = {"text": "a text in quotes", "number": "a number", "whole": "a whole number",
             "bool": "true or false", "texts": "a list of texts", "table": "a table"}


def to_toml(profile: Profile) -> str:
    """The profile as a TOML document (the version is left out). Remembered per profile value
    (profiles are immutable), since pages fingerprint the same profile several times a rerun."""
    try:
        return _to_toml_remembered(profile)
    except TypeError:  # a profile holding an unhashable value: written afresh
        return _to_toml(profile)


@functools.lru_cache(maxsize=256)
def _to_toml_remembered(profile: Profile) -> str:
    return _to_toml(profile)


def _to_toml(profile: Profile) -> str:
    doc: dict[str, Any] = {
        "name": profile.name,
        "description": profile.description,
        "window_days": profile.window_days,
        "passive_daily_cap": profile.passive_daily_cap,
        "max_signal_share": profile.max_signal_share,
        "health_weights": dict(profile.health_weights),
        "bands": _plain(profile.bands),
        "new_rule": _plain(profile.new_rule),
        "expansion": _plain(profile.expansion),
        "signals": [_signal_doc(s) for s in profile.signals],
    }
    return tomli_w.dumps(doc)


def _plain(obj: Bands | NewRule | Expansion) -> dict[str, Any]:
    return {f.name: getattr(obj, f.name) for f in fields(obj)}


def _signal_doc(s: SignalDef) -> dict[str, Any]:
    doc: dict[str, Any] = {"name": s.name, "label": s.label, "dimension": s.dimension,
                           "kind": s.kind, "weight": s.weight}
    if s.event_types:
        doc["event_types"] = list(s.event_types)
    if s.features:
        doc["features"] = list(s.features)
    doc["value_only"] = s.value_only
    if s.per is not None:
        doc["per"] = s.per
    doc["direction"] = s.direction
    doc["trend"] = s.trend
    norm: dict[str, Any] = {"method": s.normalisation.method, "peer": s.normalisation.peer}
    if s.normalisation.grid:
        norm["grid"] = [{"up_to": b, "points": p} for b, p in s.normalisation.grid]
    doc["normalisation"] = norm
    return doc


def from_toml(text: str, *, source: str = "profile") -> Profile:
    """Read a TOML document into a valid Profile; ProfileError (prefixed by ``source``) if not."""
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ProfileError(f"{source}: not valid TOML: {exc}") from None
    reader = _Reader()
    profile = reader.profile(doc)
    raise_problems(reader.problems, f"{source}: ")
    assert profile is not None
    try:
        validate(profile)
    except ProfileError as exc:
        raise ProfileError(f"{source}: {exc}", exc.problems) from None
    return profile


class _Reader:
    """Turns the parsed document into dataclasses, collecting every structural problem."""

    def __init__(self) -> None:
        self.problems: list[str] = []

    def profile(self, doc: dict[str, Any]) -> Profile | None:
        self.keys(doc, TOP, "the top-level table")
        if "name" not in doc:
            self.problems.append('missing key "name" in the top-level table — every profile has a name')
        kwargs = self.values(doc, ("name", "description", "window_days", "passive_daily_cap",
                                   "max_signal_share"), "")
        weights = self.table(doc, "health_weights", "")
        if weights is not None:
            kwargs["health_weights"] = {k: self.value(v, "number", f"health_weights.{k}")
                                        for k, v in weights.items()}
        for key, cls in (("bands", Bands), ("new_rule", NewRule), ("expansion", Expansion)):
            table = self.table(doc, key, "")
            if table is not None:
                self.keys(table, tuple(f.name for f in fields(cls)), f"[{key}]")
                kwargs[key] = cls(**self.values(table, tuple(f.name for f in fields(cls)), f"{key}."))
        signals = doc.get("signals", [])
        if not isinstance(signals, list) or not all(isinstance(s, dict) for s in signals):
            self.problems.append("signals — expected [[signals]] tables")
            signals = []
        kwargs["signals"] = tuple(self.signal(s, i) for i, s in enumerate(signals))
        if self.problems:
            return None
        return Profile(**kwargs)

    def signal(self, doc: dict[str, Any], i: int) -> SignalDef:
        where = f"signal {doc['name']}" if isinstance(doc.get("name"), str) else f"signals[{i + 1}]"
        self.keys(doc, SIGNAL_KEYS, where)
        missing = [k for k in ("name", "label", "dimension", "kind", "weight") if k not in doc]
        if missing:
            self.problems.append(f"{where}: missing {', '.join(missing)}")
        kwargs = self.values(doc, ("name", "label", "dimension", "kind", "weight", "event_types",
                                   "features", "value_only", "per", "direction", "trend"),
                             f"{where}: ")
        norm = self.table(doc, "normalisation", f"{where}: ")
        if norm is not None:
            self.keys(norm, NORMALISATION_KEYS, f"{where} normalisation")
            args = self.values(norm, ("method", "peer"), f"{where}: normalisation.")
            args["grid"] = self.grid(norm.get("grid", []), where)
            kwargs["normalisation"] = Normalisation(**args)
        defaults = {"name": "", "label": "", "dimension": "", "kind": "", "weight": 0.0}
        return SignalDef(**{**defaults, **kwargs})

    def grid(self, steps: object, where: str) -> tuple[tuple[float, float], ...]:
        if not isinstance(steps, list) or not all(isinstance(s, dict) for s in steps):
            self.problems.append(f"{where}: normalisation.grid — expected a list of "
                                 "{ up_to = bound, points = 0..100 } steps")
            return ()
        out = []
        for k, step in enumerate(steps, start=1):
            at = f"{where}: normalisation.grid step {k}"
            self.keys(step, STEP_KEYS, at)
            if any(key not in step for key in STEP_KEYS):
                self.problems.append(f"{at}: expected both up_to and points")
                continue
            out.append((self.value(step["up_to"], "number", f"{at} up_to"),
                        self.value(step["points"], "number", f"{at} points")))
        return tuple(out)

    def keys(self, doc: dict[str, Any], allowed: tuple[str, ...], where: str) -> None:
        for key in doc:
            if key == "version" and where == "the top-level table":
                self.problems.append('key "version" in the top-level table: versions are numbered by the '
                                     "state store when a profile is saved — remove it")
            elif key not in allowed:
                self.problems.append(unknown("key", key, where, allowed))

    def table(self, doc: dict[str, Any], key: str, where: str) -> dict[str, Any] | None:
        if key not in doc:
            return None
        if not isinstance(doc[key], dict):
            self.problems.append(f"{where}{key} — expected a table ([{key}])")
            return None
        return doc[key]

    def values(self, doc: dict[str, Any], keys: tuple[str, ...], where: str) -> dict[str, Any]:
        return {k: self.value(doc[k], _TYPES[k], f"{where}{k}") for k in keys if k in doc}

    def value(self, value: object, kind: str, what: str) -> Any:
        ok = {"text": isinstance(value, str),
              "number": isinstance(value, (int, float)) and not isinstance(value, bool),
              "whole": isinstance(value, int) and not isinstance(value, bool),
              "bool": isinstance(value, bool),
              "texts": isinstance(value, list) and all(isinstance(v, str) for v in value)}[kind]
        if not ok:
            self.problems.append(f"{what} is {_show(value)} — expected {_EXPECTED[kind]}")
            return value
        if kind == "number":
            return float(value)
        if kind == "texts":
            return tuple(value)
        return value


def _show(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return f'"{value}"'
    return repr(value)
