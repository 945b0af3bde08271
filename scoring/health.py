"""Health components: nps, support, financial and commercial, each 0..100 per account or missing.

Health is the weighted mean of five components (``scores``): engagement, which is the engagement
score itself, and the four here, each read from columns of the inputs frame (``docs/SCORING.md``,
"Health"). Why they are apart and shaped like this:

- **Weight-independent, so computed once.** No component depends on the signal weights, so a
  ``scores.Rescorer`` computes them once per (inputs, normalised, profile) and a what-if slider
  move never recomputes them; ``scores.score_book`` reads the very same arrays.
- **Missing, not zero.** A component is NaN where its table is absent (``has_nps``,
  ``has_tickets``, ``has_invoices``, ``has_mrr``) or it has no base to stand on; ``scores`` leaves
  it out and shares its weight out among the present ones. An unknown count inside a table that
  exists counts as 0 (no ticket, no overdue invoice).
- **The docstring is the formula.** The How scores work page shows each component function's
  docstring as its formula (``describe.component_table``), so the page cannot drift from the code.
"""
from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd

from .profile import COMPONENTS, Profile


def numeric(inputs: pd.DataFrame, col: str) -> np.ndarray:
    """Column ``col`` of the inputs frame as float64, missing values NaN (ValueError if absent)."""
    if col not in inputs.columns:
        raise ValueError(f"inputs frame lacks the {col!r} column")
    return pd.to_numeric(inputs[col], errors="raise").to_numpy(dtype=np.float64, na_value=np.nan)


def flag(inputs: pd.DataFrame, col: str) -> np.ndarray:
    """Column ``col`` of the inputs frame as bool, missing values False (ValueError if absent)."""
    if col not in inputs.columns:
        raise ValueError(f"inputs frame lacks the {col!r} column")
    return inputs[col].fillna(False).to_numpy(dtype=bool)


def nps_component(inputs: pd.DataFrame) -> np.ndarray:
    """``10 * nps_mean`` (the mean 0..10 answer of the last 180 days, as points).

    Missing when the NPS table is absent (``has_nps`` false) or the account has no response.
    """
    mean, count = numeric(inputs, "nps_mean"), numeric(inputs, "nps_count")
    ok = flag(inputs, "has_nps") & (count > 0) & np.isfinite(mean)
    return np.where(ok, np.clip(10.0 * mean, 0.0, 100.0), np.nan)


def support_component(inputs: pd.DataFrame) -> np.ndarray:
    """``clip(100 * exp(-load / 2) + 10 * ticket_sentiment, 0, 100)``, with
    ``load = tickets_open_weighted / max(1, seats / 10)``: open tickets, weighted by priority, per ten
    seats. No open ticket scores 100; two normal tickets per ten seats 37. Sentiment (-1..1, 90 days)
    adds or takes up to 10 points and counts 0 when absent; an unknown ticket load counts 0.
    Missing when the tickets table is absent (``has_tickets`` false).
    """
    load = np.nan_to_num(numeric(inputs, "tickets_open_weighted"), nan=0.0)
    per = np.fmax(1.0, numeric(inputs, "seats") / 10.0)  # fmax: unknown seats count as 10
    mood = np.nan_to_num(numeric(inputs, "ticket_sentiment"), nan=0.0)
    score = np.clip(100.0 * np.exp(-load / per / 2.0) + 10.0 * mood, 0.0, 100.0)
    return np.where(flag(inputs, "has_tickets"), score, np.nan)


def financial_component(inputs: pd.DataFrame) -> np.ndarray:
    """``clip(100 * clip(1 - days_overdue_max / 90, 0, 1) - 10 * max(invoices_overdue - 1, 0), 0, 100)``:
    full marks with nothing overdue, 0 once the oldest invoice is 90 days late, 10 points less per
    further overdue invoice. Unknown counts are 0. Missing when the invoices table is absent.
    """
    days = np.nan_to_num(numeric(inputs, "days_overdue_max"), nan=0.0)
    count = np.nan_to_num(numeric(inputs, "invoices_overdue"), nan=0.0)
    score = 100.0 * np.clip(1.0 - days / 90.0, 0.0, 1.0) - 10.0 * np.maximum(count - 1.0, 0.0)
    return np.where(flag(inputs, "has_invoices"), np.clip(score, 0.0, 100.0), np.nan)


def commercial_component(inputs: pd.DataFrame) -> np.ndarray:
    """``clip(50 + 100 * (mrr_now / mrr_90d_ago - 1), 0, 100)``: flat MRR over 90 days scores 50,
    +50% or more 100, -50% or less 0. Missing when the MRR table is absent, or the MRR 90 days ago is
    0 or unknown (no base to compare with), or the MRR now is unknown.
    """
    now, before = numeric(inputs, "mrr_now"), numeric(inputs, "mrr_90d_ago")
    ok = flag(inputs, "has_mrr") & (before > 0) & np.isfinite(now)
    with np.errstate(divide="ignore", invalid="ignore"):
        score = np.clip(50.0 + 100.0 * (now / before - 1.0), 0.0, 100.0)
    return np.where(ok, score, np.nan)


COMPONENT_FORMULAS: dict[str, Callable[[pd.DataFrame], np.ndarray]] = {
    "nps": nps_component,
    "support": support_component,
    "financial": financial_component,
    "commercial": commercial_component,
}  # engagement is the fifth component: engagement_score itself


def health_weights(profile: Profile) -> dict[str, float]:
    """The profile's weight of each of the five components (0 where it names none), checked:
    no unknown component, all finite and >= 0, not all 0 (``ValueError`` otherwise)."""
    hw = dict(profile.health_weights)
    unknown = set(hw) - set(COMPONENTS)
    if unknown:
        raise ValueError(f"unknown health component(s): {', '.join(sorted(unknown))}")
    out = {c: float(hw.get(c, 0.0)) for c in COMPONENTS}
    if any(not np.isfinite(v) or v < 0 for v in out.values()) or sum(out.values()) <= 0:
        raise ValueError(f"health weights must be finite, >= 0 and not all 0: {hw}")
    return out
