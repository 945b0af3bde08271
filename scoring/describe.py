"""How scores work, generated from the profile in use and the data it scores.

The "How scores work" page is the product's promise that a score can be seen through: every
signal with what it counts, its formula, normalisation, direction and weight (as written and as
the effective share after the cap); the health components with their formulas and weights; the
thresholds, the ``new`` rule and the expansion rules; and how much of the current book each
input covers. Everything is derived from the ``Profile`` and a scored ``Book``, so the page can
never drift from the code: the formulas are the docstrings of the functions that compute them.
"""
from __future__ import annotations

import inspect

import numpy as np
import pandas as pd

from .current import Book
from .health import COMPONENT_FORMULAS
from .normalize import DIRECTION_APPLIES, METHODS
from .profile import KINDS, Profile, SignalDef
from .scores import effective_shares, new_accounts

PER_WORDS = {None: "", "seat": " per seat", "active_user": " per active user"}


def doc_of(fn) -> str:
    """A function's docstring, dedented, as the page shows it."""
    return inspect.cleandoc(fn.__doc__ or "")


def what_it_counts(sig: SignalDef, window_days: int) -> str:
    """The signal in words: kind, selection, divisor, trend."""
    if sig.event_types:
        chosen = "events of type " + ", ".join(sig.event_types)
    elif sig.features:
        chosen = "events of feature " + ", ".join(sig.features)
    else:
        chosen = "all events"
    if sig.value_only:
        chosen = "value actions among " + chosen
    text = f"{KINDS[sig.kind]} over {chosen} in the last {window_days} days{PER_WORDS[sig.per]}"
    if sig.trend:
        text = f"change against the previous {window_days} days of ({text})"
    return text[0].upper() + text[1:]


def signal_table(profile: Profile, book: Book | None = None) -> pd.DataFrame:
    """One row per signal: label, dimension, what it counts, normalisation, direction, weight,
    effective share (after the no-single-signal cap) and, with a book, its coverage (share of
    active accounts with a value) and the median raw value."""
    shares = effective_shares([s.weight for s in profile.signals], profile.max_signal_share)
    rows = []
    for s, share in zip(profile.signals, shares):
        spec = s.normalisation
        peers = "" if spec.method == "grid" else f" within the {spec.peer}"
        norm = spec.method + peers
        if spec.method == "grid":
            norm += ": " + "; ".join(f"up to {b:g} -> {p:g} points" for b, p in spec.grid)
        direction = "higher is better" if s.direction == "higher" else "lower is better"
        if s.direction == "lower" and not DIRECTION_APPLIES[spec.method]:
            direction += " (the grid's points say how good each range is)"
        row = {"signal": s.name, "label": s.label, "dimension": s.dimension,
               "counts": what_it_counts(s, profile.window_days), "normalisation": norm,
               "direction": direction, "weight": s.weight, "share": float(share)}
        if book is not None:
            values = book.inputs[s.name]
            row["coverage"] = float(values.notna().mean()) if len(values) else np.nan
            row["median"] = float(values.median()) if values.notna().any() else np.nan
        rows.append(row)
    return pd.DataFrame(rows)


def component_table(profile: Profile, book: Book | None = None) -> pd.DataFrame:
    """One row per health component: weight, share of the health weight, formula, coverage."""
    hw = profile.health_weights
    total = sum(hw.values())
    formulas = {"engagement": "engagement_score itself (the weighted mean of the normalised signals)"}
    formulas.update({c: doc_of(f) for c, f in COMPONENT_FORMULAS.items()})
    rows = []
    for c, formula in formulas.items():
        row = {"component": c, "weight": hw[c], "share": hw[c] / total if total else np.nan,
               "formula": formula}
        if book is not None:
            col = "engagement_score" if c == "engagement" else f"health_{c}"
            row["coverage"] = float(book.scores[col].notna().mean()) if len(book.scores) else np.nan
        rows.append(row)
    return pd.DataFrame(rows)


def rules(profile: Profile) -> dict[str, str]:
    """Bands, the new rule, expansion rules, the anti-gaming settings, in words."""
    b, n, e = profile.bands, profile.new_rule, profile.expansion
    return {
        "bands": (f"at_risk: health below {b.at_risk_below:g}; watch: {b.at_risk_below:g} to below "
                  f"{b.healthy_from:g}; healthy: {b.healthy_from:g} or more"),
        "new": (f"new (not judged yet): younger than {n.min_age_days} days since contract start, or "
                f"younger than {2 * n.min_age_days} days with fewer than {n.min_active_days} active days "
                f"in the window; accounts without a health score are new too. "
                + doc_of(new_accounts).split("\n\n")[0]),
        "expansion": (f"expansion_ready: healthy, seat utilisation (active users / seats) of at least "
                      f"{e.min_seat_utilisation:.0%}, and usage growth against the previous window of at "
                      f"least {e.min_usage_growth:.0%}"),
        "anti-gaming": (f"passive events count at most {profile.passive_daily_cap} per user and day; no "
                        f"signal carries more than {profile.max_signal_share:.0%} of engagement; bursts "
                        "(one user or one day making most of the activity) are flagged"),
        "window": f"{profile.window_days} days, compared with the {profile.window_days} days before",
        "missing": ("a signal without a value is left out and the others' shares grow to fill it; a "
                    "health component without data is left out and its weight shared out; "
                    "data_confidence says how much of the weight stood on data"),
    }


def method_formulas() -> dict[str, str]:
    """Each normalisation method's formula, from its docstring."""
    return {name: doc_of(fn) for name, fn in METHODS.items()}
