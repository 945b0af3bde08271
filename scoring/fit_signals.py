"""The signals of a fit: which ones it may weigh beyond the profile, and which ones it should not
lean on (passive signals, the gameable check).

Why it is shaped like this:

- **Candidates beyond the profile.** A profile may simply lack the behaviours that predict
  retention (the demo's "classic" profile counts logins, reports, invitations, integrations and
  API calls, but not how many features or how many of the seats are in use), and a fit can only
  re-weight the signals it is given. With ``candidates="catalogue"`` (the command's default) the
  fit also considers the generic signals ``profile.default_profile`` builds from the event-type
  catalogue, one per dimension (``candidate_profile``); they enter the backtest at weight 0, which
  scores exactly as without them, and a candidate joins the saved profile only when the fit
  gives it weight (``calibrate.calibrate``). ``candidates="profile"``: the profile's own signals
  only.
- **Passive signals getting most of the weight.** A fit weighs whatever predicts retention,
  including signals an account can raise without doing anything of value (logins, page views).
  ``is_passive`` tells them from the signal's definition and the event-type catalogue, as the
  signals query selects event types; ``gameable`` warns in ``calibrate``'s report when passive
  signals get more than ``PASSIVE_LIMIT`` of the fitted or the saved weight. Without a catalogue
  nothing is judged.
- **Definitions and the catalogue only.** Both questions are answered from signal definitions,
  the event-type catalogue and weights, never from the data store or a backtest, so they are kept
  apart from the fit (``calibrate``), which asks them before and after fitting. Formulas and
  thresholds: ``docs/VALIDATION.md``, "Calibration".
"""
from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

from .profile import Profile, SignalDef, default_profile

if TYPE_CHECKING:
    import pandas as pd

CANDIDATES = ("catalogue", "profile")  # what the fit may weigh; the first is the default
PRESENCE_KINDS = ("active_days", "distinct_users")  # one event of any type makes a day/user count
PASSIVE_LIMIT = 0.5  # warn when passive signals get more than this share of the weight


# ---------------------------------------------------------------- what the fit may weigh


def _definition(s: SignalDef) -> tuple:
    """What a signal counts, apart from its name, label, dimension, weight and direction."""
    return (s.kind, tuple(sorted(s.event_types)), tuple(sorted(s.features)), s.value_only, s.per,
            s.trend)


def candidate_profile(profile: Profile, catalogue: "pd.DataFrame | None",
                      candidates: str = CANDIDATES[0]) -> tuple[Profile, tuple[str, ...]]:
    """The profile to backtest for a fit and the names of the signals it adds.

    ``"profile"``: ``profile`` itself, nothing added. ``"catalogue"``: ``profile`` followed by the
    signals of ``default_profile(catalogue)`` it lacks (same name, or same definition: kind, event
    types, features, value actions only, per, trend), each at weight 0, so the added signals change
    no score until a fit weighs them."""
    if candidates not in CANDIDATES:
        raise ValueError(f"candidates must be one of {', '.join(CANDIDATES)}, got {candidates!r}")
    if candidates == "profile":
        return profile, ()
    names = {s.name for s in profile.signals}
    defs = {_definition(s) for s in profile.signals}
    extra = tuple(dataclasses.replace(s, weight=0.0) for s in default_profile(catalogue).signals
                  if s.name not in names and _definition(s) not in defs)
    return dataclasses.replace(profile, signals=profile.signals + extra), tuple(s.name for s in extra)


# ---------------------------------------------------------------- gameable: passive signals


def _selected_events(sig: SignalDef, catalogue: "pd.DataFrame") -> list[bool]:
    """The value_action flag of every event type ``sig`` selects, as the signals query selects
    them (``signals_sql._Filter``): listed event types or features, none listed = every event type,
    then value actions only with ``value_only``; a listed event type the catalogue lacks is
    unclassified, so passive."""
    rows = [(str(et), str(ft) if isinstance(ft, str) and ft else str(et), bool(va))
            for et, ft, va in zip(catalogue["event_type"], catalogue["feature"] if "feature" in catalogue
                                  else catalogue["event_type"], catalogue["value_action"].fillna(False))]
    known = {et for et, _, _ in rows}
    rows += [(et, et, False) for et in sig.event_types if et not in known]
    listed = bool(sig.event_types or sig.features)
    chosen = [va for et, ft, va in rows
              if (not listed or et in sig.event_types or ft in sig.features) and (va or not sig.value_only)]
    return chosen


def is_passive(sig: SignalDef, catalogue: "pd.DataFrame") -> bool:
    """Whether ``sig`` is **passive**: it can be raised without doing anything of value. True when
    none of the event types it selects (``_selected_events``) is a value action (it counts logins,
    page views, unclassified events...), or when its kind measures presence (``PRESENCE_KINDS``:
    active days, distinct users) and it selects any passive event type, because one passive
    event (a login) makes a day or a user count as fully as a value action. A signal of value
    actions only, or a count, sum or distinct features over value actions, is not passive."""
    chosen = _selected_events(sig, catalogue)
    if not any(chosen):
        return True
    return sig.kind in PRESENCE_KINDS and not all(chosen)


def passive_signals(profile: Profile, catalogue: "pd.DataFrame | None") -> tuple[str, ...] | None:
    """The passive signals of ``profile`` (``is_passive``), in profile order; None without a
    catalogue (no event type is classified, so nothing can be told)."""
    if catalogue is None:
        return None
    return tuple(s.name for s in profile.signals if is_passive(s, catalogue))


def passive_share(weights: Mapping[str, float], passive: Sequence[str]) -> float | None:
    """The passive signals' share of the total weight (0..1); None when every weight is 0."""
    total = sum(weights.values())
    return sum(weights.get(n, 0.0) for n in passive) / total if total > 0 else None


def gameable(passive: Sequence[str] | None, weights: Mapping[str, float], saved: Mapping[str, float],
             b: float) -> dict:
    """The gameable check: the passive signals (None: no catalogue), their share of the fitted
    ``weights`` and of the ``saved`` ones (blend ``b``), and ``warning`` when either share is above
    ``PASSIVE_LIMIT``."""
    if passive is None:
        return {"passive": None, "fitted_share": None, "saved_share": None, "blend": b, "warning": False,
                "reason": "no event-type catalogue: which signals are passive cannot be told"}
    fitted, kept = passive_share(weights, passive), passive_share(saved, passive)
    warn = any(v is not None and v > PASSIVE_LIMIT for v in (fitted, kept))
    return {"passive": list(passive), "fitted_share": fitted, "saved_share": kept, "blend": b,
            "warning": warn, "limit": PASSIVE_LIMIT}
