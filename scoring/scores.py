"""Scores: engagement, health components, health, band, expansion readiness, contributions.

Why it is shaped like this:

- **Pure arithmetic on arrays.** Inputs are the inputs frame (``docs/SCORING.md``) and the
  ``Normalised`` matrix; nothing here reads a store or knows about pages.
- **One path for the book and the what-if slider.** A weight change must re-score and re-band 1M
  accounts in well under the time a slider takes to move, so everything that does not depend on the
  signal weights (the health components, who is ``new``) is computed once in a ``Rescorer``; a new
  weight vector then costs one matrix-vector product and a few vector operations. ``score_book``
  runs the very same functions, so the slider and the book never disagree.
- **Missing values follow one rule.** Per account, a missing signal is left out and the shares of
  the present ones are renormalised to sum to 1; a missing health component is left out and its
  weight shared out among the present ones. ``data_confidence`` says how much weight stood on data.

Formulas (``s`` = effective shares, ``x`` = normalised values, ``P`` = the account's present signals):

    engagement_score = 100 * sum_{i in P} s_i x_i / sum_{i in P} s_i          (NaN when P is empty)
    contrib_i        = 100 * s_i x_i / sum_{j in P} s_j  (0 when i is missing; they add up to it)
    health_score     = sum_{c present} w_c h_c / sum_{c present} w_c           (NaN when none)
    data_confidence  = (w_engagement * sum_{i in P} s_i + sum_{c present, c != engagement} w_c) / sum_c w_c
"""
from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from .normalize import Normalised
from .profile import COMPONENTS, Bands, NewRule, Profile

BANDS = ("at_risk", "watch", "healthy", "new")  # band codes 0..3, in this order
NEW = 3
HIST_BINS = 20  # 5-point bins


# ---------------------------------------------------------------- signal shares and engagement


def effective_shares(weights: Sequence[float] | np.ndarray, max_share: float | None) -> np.ndarray:
    """Each signal's share of the engagement score: ``weight / sum(weights)``, capped.

    The cap is what stops one signal from carrying an account across a band by itself: no share
    exceeds ``max_share``. Shares above it are set to the cap and the excess is given to the
    uncapped signals in proportion to their weights, repeatedly until none exceeds it
    (water-filling). When the cap cannot hold because too few signals have weight
    (``n_weighted * max_share < 1``), the weighted signals get equal shares, the closest to it.
    A zero weight keeps a zero share, so it removes its signal. ``max_share`` None or >= 1: no cap.
    """
    w = np.asarray(weights, dtype=np.float64).reshape(-1)
    if not np.all(np.isfinite(w)) or np.any(w < 0):
        raise ValueError(f"signal weights must be finite and >= 0, got {w.tolist()}")
    total = w.sum()
    if total <= 0:
        raise ValueError("at least one signal weight must be above 0")
    shares = w / total
    if max_share is None or max_share >= 1:
        return shares
    if not max_share > 0:
        raise ValueError(f"max_signal_share must be above 0, got {max_share}")
    weighted = w > 0
    if weighted.sum() * max_share < 1 - 1e-12:
        return np.where(weighted, 1.0 / weighted.sum(), 0.0)
    capped = np.zeros(len(w), dtype=bool)
    while True:  # at most one pass per signal
        over = ~capped & (shares > max_share * (1 + 1e-12))  # not for float noise at the cap
        if not over.any():
            return shares
        capped |= over
        free = np.where(capped, 0.0, w)
        if free.sum() == 0:  # every weighted signal at the cap: n_weighted * max_share == 1
            return np.where(weighted, 1.0 / weighted.sum(), 0.0)
        shares = np.where(capped, max_share, (1 - max_share * capped.sum()) * free / free.sum())


def _weight_vector(normalised: Normalised, weights: Mapping[str, float] | Sequence[float] | np.ndarray
                   ) -> np.ndarray:
    if isinstance(weights, Mapping):
        unknown = set(weights) - set(normalised.signals)
        if unknown:
            raise ValueError(f"weights for unknown signal(s): {', '.join(sorted(unknown))}")
        return np.array([float(weights.get(s, 0.0)) for s in normalised.signals])
    w = np.asarray(weights, dtype=np.float64)
    if w.shape != (len(normalised.signals),):
        raise ValueError(f"{w.shape[0] if w.ndim else 0} weights for {len(normalised.signals)} signals")
    return w


@dataclass(frozen=True)
class _Engagement:
    scores: np.ndarray  # 0..100 per account, NaN where no weighted signal is present
    total: float  # sum(s): M @ s of a row with every signal present
    present: np.ndarray  # M @ s of the rows in ``missing_rows``
    unknown: np.ndarray  # positions of the rows whose engagement is NaN


def _engagement(normalised: Normalised, shares: np.ndarray) -> _Engagement:
    """``100 * (X0 @ s) / (M @ s)``, X0 = the matrix with NaN as 0, M = its present-mask.

    Rows with no missing value have ``M @ s = sum(s)``; for the others ``M @ s`` is computed once
    per distinct mask pattern and gathered, so the book costs one matrix-vector product.
    """
    total = float(shares.sum())
    eng = np.dot(normalised.filled, shares)
    rows = normalised.missing_rows
    num = eng[rows]
    eng *= 100.0 / total
    den = (normalised.patterns * shares).sum(axis=1)[normalised.pattern_of]
    with np.errstate(divide="ignore", invalid="ignore"):
        eng[rows] = np.where(den > 0, 100.0 * num / den, np.nan)
    np.minimum(eng, 100.0, out=eng)  # float noise only: a mean of 0..1 values (never below 0)
    return _Engagement(eng, total, den, rows[~(den > 0)])


def rescore(normalised: Normalised, weights: Mapping[str, float] | Sequence[float] | np.ndarray,
            max_share: float | None) -> np.ndarray:
    """Engagement scores (0..100, NaN = no signal present) for new signal weights.

    ``100 * (X0 @ s) / (M @ s)`` with ``s = effective_shares(weights, max_share)``: one
    matrix-vector product for the book (``M @ s`` only per distinct missing-value pattern).
    ``weights``: one per signal in ``normalised.signals`` order, or a mapping by signal name
    (signals it leaves out weigh 0). All weights 0 is an error (``ValueError``), not a NaN book.
    """
    return _engagement(normalised, effective_shares(_weight_vector(normalised, weights), max_share)).scores


# ---------------------------------------------------------------- health components


def _num(inputs: pd.DataFrame, col: str) -> np.ndarray:
    if col not in inputs.columns:
        raise ValueError(f"inputs frame lacks the {col!r} column")
    return pd.to_numeric(inputs[col], errors="raise").to_numpy(dtype=np.float64, na_value=np.nan)


def _flag(inputs: pd.DataFrame, col: str) -> np.ndarray:
    if col not in inputs.columns:
        raise ValueError(f"inputs frame lacks the {col!r} column")
    return inputs[col].fillna(False).to_numpy(dtype=bool)


def nps_component(inputs: pd.DataFrame) -> np.ndarray:
    """``10 * nps_mean`` (the mean 0..10 answer of the last 180 days, as points).

    Missing when the NPS table is absent (``has_nps`` false) or the account has no response.
    """
    mean, count = _num(inputs, "nps_mean"), _num(inputs, "nps_count")
    ok = _flag(inputs, "has_nps") & (count > 0) & np.isfinite(mean)
    return np.where(ok, np.clip(10.0 * mean, 0.0, 100.0), np.nan)


def support_component(inputs: pd.DataFrame) -> np.ndarray:
    """``clip(100 * exp(-load / 2) + 10 * ticket_sentiment, 0, 100)``, with
    ``load = tickets_open_weighted / max(1, seats / 10)``: open tickets, weighted by priority, per ten
    seats. No open ticket scores 100; two normal tickets per ten seats 37. Sentiment (-1..1, 90 days)
    adds or takes up to 10 points and counts 0 when absent; an unknown ticket load counts 0.
    Missing when the tickets table is absent (``has_tickets`` false).
    """
    load = np.nan_to_num(_num(inputs, "tickets_open_weighted"), nan=0.0)
    per = np.fmax(1.0, _num(inputs, "seats") / 10.0)  # fmax: unknown seats count as 10
    mood = np.nan_to_num(_num(inputs, "ticket_sentiment"), nan=0.0)
    score = np.clip(100.0 * np.exp(-load / per / 2.0) + 10.0 * mood, 0.0, 100.0)
    return np.where(_flag(inputs, "has_tickets"), score, np.nan)


def financial_component(inputs: pd.DataFrame) -> np.ndarray:
    """``clip(100 * clip(1 - days_overdue_max / 90, 0, 1) - 10 * max(invoices_overdue - 1, 0), 0, 100)``:
    full marks with nothing overdue, 0 once the oldest invoice is 90 days late, 10 points less per
    further overdue invoice. Unknown counts are 0. Missing when the invoices table is absent.
    """
    days = np.nan_to_num(_num(inputs, "days_overdue_max"), nan=0.0)
    count = np.nan_to_num(_num(inputs, "invoices_overdue"), nan=0.0)
    score = 100.0 * np.clip(1.0 - days / 90.0, 0.0, 1.0) - 10.0 * np.maximum(count - 1.0, 0.0)
    return np.where(_flag(inputs, "has_invoices"), np.clip(score, 0.0, 100.0), np.nan)


def commercial_component(inputs: pd.DataFrame) -> np.ndarray:
    """``clip(50 + 100 * (mrr_now / mrr_90d_ago - 1), 0, 100)``: flat MRR over 90 days scores 50,
    +50% or more 100, -50% or less 0. Missing when the MRR table is absent, or the MRR 90 days ago is
    0 or unknown (no base to compare with), or the MRR now is unknown.
    """
    now, before = _num(inputs, "mrr_now"), _num(inputs, "mrr_90d_ago")
    ok = _flag(inputs, "has_mrr") & (before > 0) & np.isfinite(now)
    with np.errstate(divide="ignore", invalid="ignore"):
        score = np.clip(50.0 + 100.0 * (now / before - 1.0), 0.0, 100.0)
    return np.where(ok, score, np.nan)


COMPONENT_FORMULAS: dict[str, Callable[[pd.DataFrame], np.ndarray]] = {
    "nps": nps_component,
    "support": support_component,
    "financial": financial_component,
    "commercial": commercial_component,
}  # engagement is the fifth component: engagement_score itself


def _health_weights(profile: Profile) -> dict[str, float]:
    hw = dict(profile.health_weights)
    unknown = set(hw) - set(COMPONENTS)
    if unknown:
        raise ValueError(f"unknown health component(s): {', '.join(sorted(unknown))}")
    out = {c: float(hw.get(c, 0.0)) for c in COMPONENTS}
    if any(not np.isfinite(v) or v < 0 for v in out.values()) or sum(out.values()) <= 0:
        raise ValueError(f"health weights must be finite, >= 0 and not all 0: {hw}")
    return out


# ---------------------------------------------------------------- bands


def new_accounts(inputs: pd.DataFrame, rule: NewRule) -> np.ndarray:
    """True for accounts too young or too thin to judge (band ``new`` whatever their health).

    ``new = age unknown OR age_days < min_age_days
           OR (active_days < min_active_days AND age_days < 2 * min_age_days)``:
    young accounts are new; so are fairly young ones with too few active days to judge. An old
    account with few active days is not new: quiet is a risk signal then. Unknown active days are 0.
    """
    age = _num(inputs, "age_days")
    active = np.nan_to_num(_num(inputs, "active_days"), nan=0.0)
    return (np.isnan(age) | (age < rule.min_age_days)
            | ((active < rule.min_active_days) & (age < 2 * rule.min_age_days)))


def band_codes(health: np.ndarray, bands: Bands, *, new: np.ndarray | None = None) -> np.ndarray:
    """Band code per account (index into ``BANDS``): at_risk below ``at_risk_below``, healthy from
    ``healthy_from``, watch between; ``new`` where ``new`` is true or health is missing."""
    codes = np.add(health >= bands.at_risk_below, health >= bands.healthy_from, dtype=np.uint8)
    unknown = np.isnan(health)
    np.putmask(codes, unknown if new is None else unknown | new, NEW)
    return codes


def band_counts(health: np.ndarray, bands: Bands, *, new: np.ndarray | None = None) -> dict[str, int]:
    """Accounts per band, by ``np.bincount`` of the band codes."""
    counts = np.bincount(band_codes(health, bands, new=new), minlength=len(BANDS))
    return dict(zip(BANDS, counts.tolist()))


def histogram(scores: np.ndarray, *, bins: int = HIST_BINS) -> np.ndarray:
    """Counts of 0..100 scores in ``bins`` equal bins, ``[0, w), [w, 2w), ..., [100 - w, 100]``
    (the last bin closed, as ``np.histogram``); missing scores are left out."""
    codes = np.zeros(len(scores), dtype=np.uint8)
    return _band_histogram(scores, codes, bins, np.flatnonzero(np.isnan(scores)))[0, :bins]


def _band_histogram(health: np.ndarray, codes: np.ndarray, bins: int, unknown: np.ndarray) -> np.ndarray:
    """Counts per (band code, health bin) from one ``np.bincount``; column ``bins`` counts the
    accounts without health (``unknown``: their positions, which the caller knows)."""
    b = np.divide(health, 100.0 / bins)  # a division, not a product: exact edges for whole points
    b[unknown] = bins + 1
    key = np.multiply(codes, bins + 2, dtype=np.intp)
    key += b.astype(np.intp)  # the floor, for values >= 0
    counts = np.bincount(key, minlength=len(BANDS) * (bins + 2)).reshape(len(BANDS), bins + 2)
    counts[:, bins - 1] += counts[:, bins]  # a score of exactly 100 belongs to the last bin
    return np.delete(counts, bins, axis=1)


# ---------------------------------------------------------------- the re-weighting path


@dataclass(frozen=True)
class Rescorer:
    """What a weight change needs, computed once per (inputs, normalised, profile).

    With ``w_e`` the engagement weight and, per account, ``fixed_num = sum w_c h_c`` and
    ``fixed_den = sum w_c`` over its present components other than engagement:
    ``health = engagement * eng_coef + base`` with ``eng_coef = w_e / (w_e + fixed_den)`` and
    ``base = fixed_num / (w_e + fixed_den)``; where engagement is missing, ``without_engagement =
    fixed_num / fixed_den``. ``new``: band ``new`` by the profile's rule; ``always_new``: that, or no
    health whatever the weights (engagement weighs 0 and no other component is present).
    """

    normalised: Normalised
    components: pd.DataFrame  # health_nps .. health_commercial, 0..100 or NaN
    fixed_num: np.ndarray
    fixed_den: np.ndarray
    engagement_weight: float
    total_weight: float
    eng_coef: np.ndarray
    base: np.ndarray
    without_engagement: np.ndarray
    new: np.ndarray
    always_new: np.ndarray
    no_health: np.ndarray  # positions where health is missing whatever the weights
    new_offset: np.ndarray  # always_new * (HIST_BINS + 2): the histogram key offset of new accounts
    bands: Bands
    max_share: float


def prepare_rescore(inputs: pd.DataFrame, normalised: Normalised, profile: Profile) -> Rescorer:
    """Compute the weight-independent parts of the scores (health components, ``new``)."""
    if not normalised.index.equals(inputs.index):
        raise ValueError("the normalised matrix belongs to another inputs frame (index differs)")
    if normalised.signals != tuple(s.name for s in profile.signals):
        raise ValueError("the normalised matrix was made for other signals than the profile's")
    hw = _health_weights(profile)
    comps = {f"health_{c}": f(inputs) for c, f in COMPONENT_FORMULAS.items()}
    num = np.zeros(len(inputs))
    den = np.zeros(len(inputs))
    for c in COMPONENT_FORMULAS:
        h = comps[f"health_{c}"]
        present = ~np.isnan(h)
        num += np.where(present, hw[c] * np.nan_to_num(h), 0.0)
        den += np.where(present, hw[c], 0.0)
    we = hw["engagement"]
    with np.errstate(divide="ignore", invalid="ignore"):
        coef = np.where(we + den > 0, we / (we + den), 0.0)
        base = num / (we + den)  # NaN only when nothing at all weighs (we = 0, den = 0)
        alone = num / den
    new = new_accounts(inputs, profile.new_rule)
    no_health = (den == 0) & (we == 0)
    always_new = new | no_health
    no_health_rows = np.flatnonzero(no_health)
    offset = always_new.astype(np.intp) * (HIST_BINS + 2)
    for arr in (num, den, coef, base, alone, new, always_new, no_health_rows, offset):
        arr.flags.writeable = False
    return Rescorer(normalised, pd.DataFrame(comps, index=inputs.index), num, den, we, sum(hw.values()),
                    coef, base, alone, new, always_new, no_health_rows, offset, profile.bands,
                    profile.max_signal_share)


def _health(r: Rescorer, e: _Engagement) -> tuple[np.ndarray, np.ndarray]:
    """Health per account (formula: ``Rescorer``) and the positions where it is missing because
    engagement is (the ones missing whatever the weights are ``r.no_health``)."""
    h = e.scores * r.eng_coef
    h += r.base
    rows = e.unknown
    h[rows] = r.without_engagement[rows]
    np.minimum(h, 100.0, out=h)  # float noise only: a weighted mean of 0..100 values
    return h, rows[r.fixed_den[rows] == 0]


@dataclass(frozen=True)
class WhatIf:
    """The book under one weight vector: per-account scores and the summary a page draws."""

    engagement: np.ndarray
    health: np.ndarray
    band_counts: dict[str, int]
    histogram: np.ndarray  # health, ``bins`` bins over 0..100, all bands
    by_band: np.ndarray  # (len(BANDS), bins + 1): health bins per band, last column = no health


def whatif(r: Rescorer, weights: Mapping[str, float] | Sequence[float] | np.ndarray, *,
           max_share: float | None = None, bins: int = HIST_BINS) -> WhatIf:
    """Re-score, re-band and count the book for new signal weights (``max_share`` default: the
    profile's). The same arithmetic as ``score_book``; band counts and the health histogram come
    from one ``np.bincount``."""
    share_cap = r.max_share if max_share is None else max_share
    e = _engagement(r.normalised, effective_shares(_weight_vector(r.normalised, weights), share_cap))
    health, unknown = _health(r, e)
    missing = np.concatenate((unknown, r.no_health)) if len(r.no_health) else unknown
    bin_band = _bin_bands(r.bands, bins)
    if bin_band is None:  # thresholds inside bins: band each account, count (band, bin) keys
        codes = np.add(health >= r.bands.at_risk_below, health >= r.bands.healthy_from, dtype=np.uint8)
        np.putmask(codes, r.always_new, NEW)
        codes[unknown] = NEW
        by_band = _band_histogram(health, codes, bins, missing)
    else:  # every bin lies in one band: count (new or not, bin) keys, band the bins afterwards
        b = np.divide(health, 100.0 / bins)
        b[missing] = bins + 1
        key = b.astype(np.intp)
        key += r.new_offset if bins == HIST_BINS else r.always_new * (bins + 2)
        key[unknown] = 2 * (bins + 2) - 1
        judged, new = np.bincount(key, minlength=2 * (bins + 2)).reshape(2, bins + 2)
        by_band = np.zeros((len(BANDS), bins + 1), dtype=np.int64)
        cols = np.minimum(np.arange(bins + 1), bins - 1)  # a score of exactly 100: the last bin
        np.add.at(by_band, (bin_band, cols), judged[:bins + 1])
        np.add.at(by_band[NEW], cols, new[:bins + 1])
        by_band[NEW, bins] = new[bins + 1]
    counts = by_band.sum(axis=1)
    return WhatIf(e.scores, health, dict(zip(BANDS, counts.tolist())), by_band[:, :bins].sum(axis=0),
                  by_band)


def rescore_book(r: Rescorer, weights: Mapping[str, float] | Sequence[float] | np.ndarray, *,
                 max_share: float | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Engagement and health of every account for new signal weights: ``whatif``'s scores without
    its counts and histograms, for callers that band and count in their own way (the backtest)."""
    share_cap = r.max_share if max_share is None else max_share
    e = _engagement(r.normalised, effective_shares(_weight_vector(r.normalised, weights), share_cap))
    return e.scores, _health(r, e)[0]


def _bin_bands(bands: Bands, bins: int) -> np.ndarray | None:
    """The band code of each health bin ``0..bins`` (bin ``bins``: exactly 100) when both
    thresholds fall on bin edges, so every bin lies in one band; None otherwise.

    Exact for every double h: ``h < t  <=>  floor(h / width) < t / width`` holds for all h once it
    holds at ``t`` and at the double just below ``t``, because correctly rounded division is monotone.
    """
    width = 100.0 / bins
    edges = []
    for t in (bands.at_risk_below, bands.healthy_from):
        k = t / width
        if not (0 <= t <= 100 and k == np.floor(k)) or np.floor(np.nextafter(t, -np.inf) / width) >= k:
            return None
        edges.append(k)
    i = np.arange(bins + 1)
    return (i >= edges[0]).astype(np.intp) + (i >= edges[1])


# ---------------------------------------------------------------- the book


def score_book(inputs: pd.DataFrame, normalised: Normalised, profile: Profile) -> pd.DataFrame:
    """Every score of every account, indexed by ``account_id`` (formulas: module docstring)."""
    r = prepare_rescore(inputs, normalised, profile)
    shares = effective_shares([s.weight for s in profile.signals], profile.max_signal_share)
    e = _engagement(normalised, shares)
    eng = e.scores
    health, _ = _health(r, e)
    codes = band_codes(health, profile.bands, new=r.new)
    present = np.full(len(eng), e.total)
    present[normalised.missing_rows] = e.present
    confidence = (r.engagement_weight * present + r.fixed_den) / r.total_weight
    seats, usage = _num(inputs, "seats"), _num(inputs, "usage")
    with np.errstate(divide="ignore", invalid="ignore"):
        utilisation = np.where(seats > 0, _num(inputs, "active_users") / seats, np.nan)
        growth = np.where(_num(inputs, "usage_prev") > 0, usage / _num(inputs, "usage_prev") - 1, np.nan)
        value_share = np.where(usage > 0, _num(inputs, "value_usage") / usage, np.nan)
        contrib = 100.0 * normalised.filled * shares / present[:, None]
    contrib[e.unknown] = 0.0
    ready = ((codes == BANDS.index("healthy")) & (utilisation >= profile.expansion.min_seat_utilisation)
             & (growth >= profile.expansion.min_usage_growth))
    out = pd.DataFrame({
        "engagement_score": eng,
        "health_score": health,
        "band": pd.Categorical.from_codes(codes, categories=list(BANDS)),
        "expansion_ready": ready,
        "data_confidence": np.clip(confidence, 0.0, 1.0),
        "health_engagement": eng,
        **{c: r.components[c].to_numpy() for c in r.components.columns},
        "value_share": value_share,
        "burst": _flag(inputs, "burst"),
        **{f"contrib_{s}": contrib[:, j] for j, s in enumerate(normalised.signals)},
    }, index=inputs.index)
    out.index.name = inputs.index.name or "account_id"
    return out
