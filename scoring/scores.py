"""Scores: engagement, health, band, expansion readiness, contributions.

Two pieces live apart: the health components other than engagement (nps, support, financial,
commercial) in ``scoring.health``, and the bin arithmetic of the health histograms in
``scoring.binning``. Why it is shaped like this:

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

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from .binning import band_histogram, bin_bands
from .health import COMPONENT_FORMULAS, flag, health_weights, numeric
from .normalize import Normalised
from .profile import Bands, NewRule, Profile

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


# ---------------------------------------------------------------- bands


def new_accounts(inputs: pd.DataFrame, rule: NewRule) -> np.ndarray:
    """True for accounts too young or too thin to judge (band ``new`` whatever their health).

    ``new = age unknown OR age_days < min_age_days
           OR (active_days < min_active_days AND age_days < 2 * min_age_days)``:
    young accounts are new; so are fairly young ones with too few active days to judge. An old
    account with few active days is not new: quiet is a risk signal then. Unknown active days are 0.
    """
    age = numeric(inputs, "age_days")
    active = np.nan_to_num(numeric(inputs, "active_days"), nan=0.0)
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
    return band_histogram(scores, codes, bins, np.flatnonzero(np.isnan(scores)), len(BANDS))[0, :bins]


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
    hw = health_weights(profile)
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
    bin_band = bin_bands(r.bands, bins)
    if bin_band is None:  # thresholds inside bins: band each account, count (band, bin) keys
        codes = np.add(health >= r.bands.at_risk_below, health >= r.bands.healthy_from, dtype=np.uint8)
        np.putmask(codes, r.always_new, NEW)
        codes[unknown] = NEW
        by_band = band_histogram(health, codes, bins, missing, len(BANDS))
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
    seats, usage = numeric(inputs, "seats"), numeric(inputs, "usage")
    with np.errstate(divide="ignore", invalid="ignore"):
        utilisation = np.where(seats > 0, numeric(inputs, "active_users") / seats, np.nan)
        growth = np.where(numeric(inputs, "usage_prev") > 0, usage / numeric(inputs, "usage_prev") - 1, np.nan)
        value_share = np.where(usage > 0, numeric(inputs, "value_usage") / usage, np.nan)
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
        "burst": flag(inputs, "burst"),
        **{f"contrib_{s}": contrib[:, j] for j, s in enumerate(normalised.signals)},
    }, index=inputs.index)
    out.index.name = inputs.index.name or "account_id"
    return out
