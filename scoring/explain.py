"""Explanations: what each score is made of, in plain words.

Pure functions over a scored ``Book`` (``scoring.current``); nothing here reads a store. Every
figure is in **health points** unless named otherwise, because bands and lists use health.

Formulas, for one account (``s`` = effective signal shares, ``x`` = normalised signal values,
``P`` = its present signals, ``w`` = health weights, ``h_c`` = component scores, ``D`` = the
weights that stood on data: ``w_engagement`` when engagement is known plus ``w_c`` of each
present component):

    contribution to engagement   c_i = 100 s_i x_i / sum_{j in P} s_j   (contrib_<signal>; adds up to it)
    contribution to health       signal i: (w_engagement / D) c_i;  component c: w_c h_c / D
                                 (they add up to health_score)
    points at stake              signal i: (w_engagement / D) 100 s_i (x_i - m_i) / sum_{j in P} s_j,
                                 m_i = the median normalised value of the account's peers (its
                                 segment or the book, as the signal's normalisation says);
                                 component c: w_c (h_c - median h_c of the book) / D.
                                 Positive: the signal lifts the account above a typical peer.
    lever                        max(0, -points at stake) of a signal: what raising it to the
                                 peer median would add. The biggest lever is the largest.
    value share                  the share of engagement that comes from value actions:
                                 sum_i c_i f_i / engagement, f_i = 1 for a signal that counts
                                 value actions only, 0 for one that counts passive events only,
                                 else the account's value_usage / usage.

Every method of normalisation is monotone within a peer group, so the median of the peers'
normalised values is the normalised value of their median raw value, which the text quotes.

Why an account's health moved between two dates: ``scoring.moved``.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from .current import Book
from .normalize import Normalised
from .profile import Profile
from .scores import effective_shares

COMPONENT_LABELS = {"nps": "NPS", "support": "Support tickets", "financial": "Invoices",
                    "commercial": "MRR trend"}


# ---------------------------------------------------------------- contributions to health


def _denominator(scores: pd.DataFrame, profile: Profile) -> np.ndarray:
    """D per account: the health weight that stood on data."""
    hw = profile.health_weights
    d = np.where(scores["engagement_score"].notna(), hw["engagement"], 0.0)
    for c in COMPONENT_LABELS:
        d = d + np.where(scores[f"health_{c}"].notna(), hw[c], 0.0)
    return d


def _shares(profile: Profile) -> np.ndarray:
    return effective_shares([s.weight for s in profile.signals], profile.max_signal_share)


def health_contributions(book: Book, rows: pd.Index | None = None) -> pd.DataFrame:
    """Each signal's and component's contribution to health_score (columns: signal names, then
    ``nps``, ``support``, ``financial``, ``commercial``); per row they add up to health_score."""
    scores = book.scores if rows is None else book.scores.loc[rows]
    d = _denominator(scores, book.profile)
    hw = book.profile.health_weights
    with np.errstate(divide="ignore", invalid="ignore"):
        eng_coef = np.where(d > 0, hw["engagement"] / d, 0.0)
        out = {s.name: eng_coef * scores[f"contrib_{s.name}"].to_numpy() for s in book.profile.signals}
        for c in COMPONENT_LABELS:
            h = scores[f"health_{c}"].to_numpy()
            out[c] = np.where(np.isnan(h) | (d == 0), 0.0, hw[c] * np.nan_to_num(h) / np.where(d > 0, d, 1))
    return pd.DataFrame(out, index=scores.index)


# ---------------------------------------------------------------- drivers


_NO_SEGMENT = "\0none"  # accounts without a segment are peers of one another


def _group_medians(values: pd.Series, segment: pd.Series, peer: str) -> float | pd.Series:
    """The peers' median of ``values``: one figure for ``peer = "book"``, else one per segment."""
    if peer == "book":
        return float(values.median())
    return values.groupby(segment.fillna(_NO_SEGMENT), sort=False).median()


def _medians(book: Book) -> dict[str, float | pd.Series]:
    """The book's medians that explanations compare an account with, computed once per book:
    per signal its peers' median normalised value (``norm:<signal>``) and raw value
    (``raw:<signal>``), and per health component the book's median score (``component:<c>``)."""
    def make() -> dict[str, float | pd.Series]:
        inputs, segment = book.inputs, book.inputs["segment"]
        norm = book.normalised.frame()
        out: dict[str, float | pd.Series] = {}
        for sig in book.profile.signals:
            peer = sig.normalisation.peer
            out[f"norm:{sig.name}"] = _group_medians(norm[sig.name], segment, peer)
            out[f"raw:{sig.name}"] = _group_medians(inputs[sig.name], segment, peer)
        for c in COMPONENT_LABELS:
            out[f"component:{c}"] = float(book.scores[f"health_{c}"].median())
        return out
    return book.memo("explain.medians", make)


def _median_at(median: float | pd.Series, segment: pd.Series) -> np.ndarray:
    """Each row's peer median (``_medians``), given the rows' segments."""
    if isinstance(median, float):
        return np.full(len(segment), median)
    return median.reindex(segment.fillna(_NO_SEGMENT)).to_numpy(dtype=np.float64, na_value=np.nan)


def _value_fraction(book: Book, sig, inputs: pd.DataFrame) -> np.ndarray:
    """f_i of the ``inputs`` rows: 1 value actions only, 0 passive only, else the account's
    value_usage / usage."""
    if sig.value_only:
        return np.ones(len(inputs))
    flags = book.catalogue_flags(sig)
    if flags is not None and flags.size and flags.all():
        return np.ones(len(inputs))
    if flags is not None and flags.size and not flags.any():
        return np.zeros(len(inputs))
    usage = inputs["usage"].to_numpy(dtype=np.float64, na_value=np.nan)
    with np.errstate(divide="ignore", invalid="ignore"):
        return inputs["value_usage"].to_numpy(dtype=np.float64, na_value=np.nan) / np.where(usage == 0, np.nan, usage)


def _rows(book: Book, accounts: list[str] | pd.Index | None) -> tuple[pd.Index, np.ndarray]:
    """The accounts wanted (default: every account in the book) and their row positions."""
    inputs = book.inputs
    if accounts is None:
        return inputs.index, np.arange(len(inputs))
    idx = pd.Index(accounts)
    pos = inputs.index.get_indexer(idx)
    if (pos < 0).any():
        unknown = idx[pos < 0][0]
        raise KeyError(f"account {unknown!r} is not in the book as of {book.as_of}")
    return idx, pos


def signal_drivers(book: Book, accounts: list[str] | pd.Index | None = None) -> pd.DataFrame:
    """One row per (account, signal): raw value, previous window, change, peer median, the
    contribution to engagement and to health, the points at stake and the lever (formulas:
    module docstring). ``accounts``: the rows wanted (default: every account in the book).

    Only the wanted rows are computed; the peers' medians come from ``_medians`` (once per book),
    so explaining one account costs the same in a book of a thousand or a million."""
    profile = book.profile
    idx, pos = _rows(book, accounts)
    inputs, scores = book.inputs.iloc[pos], book.scores.iloc[pos]  # book, inputs and scores share rows
    norm = book.normalised.matrix[pos]
    medians = _medians(book)
    shares = _shares(profile)
    present_share = (~np.isnan(norm) * shares).sum(axis=1)
    d = _denominator(scores, profile)
    with np.errstate(divide="ignore", invalid="ignore"):
        eng_coef = np.where((d > 0) & (present_share > 0), profile.health_weights["engagement"] / d, 0.0)
        scale = np.where(present_share > 0, 100.0 / present_share, 0.0) * eng_coef
    frames = []
    for j, sig in enumerate(profile.signals):
        m = _median_at(medians[f"norm:{sig.name}"], inputs["segment"])
        stake = scale * shares[j] * (norm[:, j] - m)
        value = inputs[sig.name].to_numpy(dtype=np.float64, na_value=np.nan)
        prev = inputs[f"{sig.name}__prev"].to_numpy(dtype=np.float64, na_value=np.nan)
        with np.errstate(divide="ignore", invalid="ignore"):
            change = np.where(prev > 0, value / prev - 1.0, np.nan)
        contribution = scores[f"contrib_{sig.name}"].to_numpy()
        frames.append(pd.DataFrame({
            "account_id": idx,
            "signal": sig.name,
            "label": sig.label,
            "direction": sig.direction,
            "value": value,
            "previous": prev,
            "change": change,
            "peer_median": _median_at(medians[f"raw:{sig.name}"], inputs["segment"]),
            "contribution": contribution,
            "health_points": eng_coef * contribution,
            "points": np.nan_to_num(stake, nan=0.0),
            "value_fraction": _value_fraction(book, sig, inputs),
        }))
    out = pd.concat(frames, ignore_index=True)
    out["lever"] = np.maximum(0.0, -out["points"])
    out["text"] = [_signal_text(r, book.profile.window_days) for r in out.itertuples(index=False)]
    return out


def component_drivers(book: Book, accounts: list[str] | pd.Index | None = None) -> pd.DataFrame:
    """One row per (account, health component other than engagement) that has data: its score,
    the book's median, its contribution to health and the points at stake, with a sentence."""
    hw = book.profile.health_weights
    idx, pos = _rows(book, accounts)
    scores, inputs = book.scores.iloc[pos], book.inputs.iloc[pos]
    medians = _medians(book)
    d = _denominator(scores, book.profile)
    contrib = health_contributions(book, idx)
    records = inputs.to_dict("records")
    frames = []
    for c, label in COMPONENT_LABELS.items():
        h = scores[f"health_{c}"].to_numpy(dtype=np.float64, na_value=np.nan)
        median = medians[f"component:{c}"]
        with np.errstate(divide="ignore", invalid="ignore"):
            stake = np.where(d > 0, hw[c] * (h - median) / np.where(d > 0, d, 1), 0.0)
        part = pd.DataFrame({"account_id": idx, "component": c, "label": label, "score": h,
                             "book_median": median, "health_points": contrib[c].to_numpy(),
                             "points": np.nan_to_num(stake)}, index=idx)
        has = ~np.isnan(h)
        part = part[has]
        part["text"] = [_component_text(c, records[i], p) for i, p in zip(np.flatnonzero(has), part["points"])]
        frames.append(part)
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


@dataclass(frozen=True)
class Explanation:
    """One account's scores and what they are made of, ready to show."""

    account_id: str
    engagement: float
    health: float
    band: str
    signals: pd.DataFrame  # signal_drivers rows, biggest contribution first
    components: pd.DataFrame  # component_drivers rows
    up: list[str]  # top drivers lifting the score, in words
    down: list[str]  # top drivers holding it down
    lever: str | None  # the biggest lever, in words
    value_share: float  # share of engagement from value actions (NaN without engagement)


def explain(book: Book, account_id: str, *, top: int = 3) -> Explanation:
    """Everything the Account page says about one account's scores."""
    sig = signal_drivers(book, [account_id]).sort_values("health_points", ascending=False)
    comp = component_drivers(book, [account_id])
    both = pd.concat([sig[["points", "text"]], comp[["points", "text"]]], ignore_index=True)
    up = both[both.points > 0.05].sort_values("points", ascending=False)["text"].head(top).tolist()
    down = both[both.points < -0.05].sort_values("points")["text"].head(top).tolist()
    best = sig[sig.lever > 0.05].sort_values("lever", ascending=False)
    lever = None
    if len(best):
        b = best.iloc[0]
        lever = (f"{b.label}: raising it to the peer median ({_fmt(b.peer_median)}) would add "
                 f"{b.lever:.1f} points")
    row = book.scores.loc[account_id]
    eng = float(row["engagement_score"])
    share = float((sig.contribution * sig.value_fraction).sum() / eng) if eng > 0 else math.nan
    return Explanation(account_id, eng, float(row["health_score"]), str(row["band"]), sig, comp,
                       up, down, lever, share)


def reasons(book: Book, accounts: list[str] | pd.Index, *, top: int = 3) -> pd.Series:
    """The top ``top`` drivers holding each account's health down, in words, joined by "; "
    (for lists and exports). Accounts with nothing below their peers get an empty string."""
    idx = pd.Index(accounts)
    if not len(idx):
        return pd.Series([], dtype="str", index=idx)
    both = pd.concat([signal_drivers(book, idx)[["account_id", "points", "text"]],
                      component_drivers(book, idx)[["account_id", "points", "text"]]], ignore_index=True)
    low = both[both.points < -0.05].sort_values(["account_id", "points"])
    joined = low.groupby("account_id", sort=False)["text"].agg(lambda t: "; ".join(t.head(top)))
    return joined.reindex(idx, fill_value="").astype("str")


def value_share(book: Book) -> pd.Series:
    """Per account, the share of engagement_score that comes from value actions (formula above)."""
    d = signal_drivers(book)
    points = (d.contribution * d.value_fraction).groupby(d.account_id, sort=False).sum()
    eng = book.scores["engagement_score"]
    return (points.reindex(eng.index) / eng.where(eng > 0)).rename("value_share")


# ---------------------------------------------------------------- words


def _fmt(v: float) -> str:
    if v is None or not np.isfinite(v):
        return "no value"
    if abs(v) >= 100 or float(v).is_integer():
        return f"{v:,.0f}"
    return f"{v:,.3g}"


def _signal_text(r, window: int) -> str:
    points = f"{r.points:+.1f} points"
    if not np.isfinite(r.value):
        return f"{r.label}: no value this window (nothing to divide by): left out, {points}"
    parts = [f"{r.label}: {_fmt(r.value)} in the last {window} days"]
    if np.isfinite(r.change):
        if abs(r.change) < 0.005:
            parts.append(f"unchanged on the {window} days before")
        else:
            parts.append(f"{'up' if r.change > 0 else 'down'} {abs(r.change):.0%} on the {window} days before")
    elif np.isfinite(r.previous) and r.previous == 0 and r.value > 0:
        parts.append(f"none in the {window} days before")
    if np.isfinite(r.peer_median) and r.peer_median > 0:
        ratio = r.value / r.peer_median
        if 0.95 <= ratio <= 1.05:
            parts.append(f"about the peer median ({_fmt(r.peer_median)})")
        elif ratio < 1:
            parts.append(f"{ratio:.0%} of the peer median ({_fmt(r.peer_median)})")
        else:
            parts.append(f"{ratio:.1f} times the peer median ({_fmt(r.peer_median)})")
    elif np.isfinite(r.peer_median):
        parts.append(f"peer median {_fmt(r.peer_median)}")
    if r.direction == "lower":
        parts.append("lower is better")
    return ", ".join(parts) + f": {points}"


def _component_text(component: str, row: dict, points: float) -> str:
    p = f"{points:+.1f} points"
    if component == "nps":
        return f"NPS: mean answer {row['nps_mean']:.1f} of 10 from {row['nps_count']:.0f} response(s): {p}"
    if component == "support":
        return (f"Support: {row['tickets_open']:.0f} open ticket(s), priority-weighted load "
                f"{row['tickets_open_weighted']:.1f}: {p}")
    if component == "financial":
        n = 0 if not np.isfinite(row["invoices_overdue"]) else row["invoices_overdue"]
        if n == 0:
            return f"Invoices: none overdue: {p}"
        return f"Invoices: {n:.0f} overdue, the oldest {row['days_overdue_max']:.0f} days: {p}"
    change = row["mrr_now"] / row["mrr_90d_ago"] - 1
    return f"MRR trend: {'up' if change >= 0 else 'down'} {abs(change):.0%} over 90 days: {p}"


__all__ = ["COMPONENT_LABELS", "Explanation", "Normalised", "component_drivers", "explain",
           "health_contributions", "reasons", "signal_drivers", "value_share"]
