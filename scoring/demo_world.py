"""The demo's hidden world: who the accounts are, how their health moves, and what they pay.

Everything the demo files show follows from one hidden quantity per account and month, its
*health* (about standard normal; higher is better). It is an AR(1) around an account's own level,
with rare sharp drops (a champion leaves), so it is persistent enough to predict churn months ahead
yet moves enough for trends and movers to mean something. Revenue follows health: each month an
account's churn, contraction and expansion odds depend on its health of the month before, and
mostly at its annual renewal. Usage, NPS, tickets and invoices (``demo_usage``, ``demo_records``)
are noisy, differently weighted read-outs of the same health, which is what makes scores built on
them worth validating.

One ``World`` is one chunk of accounts, simulated with its own random stream, so the demo scales to
a million accounts with bounded memory and stays reproducible for a given seed.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

WINDOW_START = np.datetime64("2025-04-01", "D")  # first day of usage and of the MRR history
DATA_END = np.datetime64("2026-09-30", "D")  # last day of every file: fixed, never "today"
MONTHS = 18  # April 2025 .. September 2026
MONTH_STARTS = np.arange(np.datetime64("2025-04", "M"), np.datetime64("2026-10", "M")).astype("datetime64[D]")

SEGMENTS = ("SMB", "Mid-Market", "Enterprise")
SEGMENT_SHARE = (0.62, 0.28, 0.10)
ARR_MEDIAN = (9_000.0, 55_000.0, 260_000.0)  # lognormal by segment: ~3k .. ~1M over the portfolio
ARR_SIGMA = (0.55, 0.5, 0.6)
SEAT_PRICE = (900.0, 1_400.0, 2_600.0)  # yearly ARR per seat: big contracts carry platform fees too
PLANS = (("Starter", "Growth"), ("Growth", "Pro"), ("Pro", "Enterprise"))
PLAN_SHARE = ((0.6, 0.4), (0.5, 0.5), (0.25, 0.75))
REGIONS = ("North America", "EMEA", "APAC", "LATAM")
REGION_SHARE = (0.45, 0.33, 0.15, 0.07)
# CSMs own books by segment, as teams usually do.
CSMS = (("maria.lopez", "james.okafor", "lena.fischer"),
        ("priya.sharma", "tom.becker", "aiko.tanaka"),
        ("david.cohen", "sofia.rossi"))
CSM_DOMAIN = "demo-cs.example"

# Health process: h = level + z, z_m = PHI z_{m-1} + SIGMA e_m (stationary sd of z ~ 0.72).
PHI, SIGMA, LEVEL_SD = 0.82, 0.41, 0.6
SHOCK_P, SHOCK_SIZE = 0.015, (0.8, 1.8)

# Monthly revenue odds (logits) from the previous month's health. Churn concentrates at renewal;
# SMB churns more. CHURN_NOISE stands for the causes health does not see (budget cuts, M&A).
CHURN_BASE, CHURN_RENEWAL, CHURN_SLOPE, CHURN_NOISE = -6.55, 2.6, 1.5, 0.8
CHURN_SEGMENT = (0.45, 0.0, -0.5)
EXPAND_BASE, EXPAND_RENEWAL, EXPAND_SLOPE = -4.3, 2.2, 0.9
CONTRACT_BASE, CONTRACT_RENEWAL, CONTRACT_SLOPE = -5.2, 2.4, 0.8
REACTIVATE_P = 0.01  # per month after churn: a few come back

# How strongly each read-out follows health (per unit of health), on purpose far from equal
# weights, so calibrating a profile on the demo has something to find. Usage sees the health of
# about a month earlier. Units: log of visit rate (frequency), of value-action quantity (depth),
# of the mix share (collaboration, integration) and of ticket volume (tickets); logit of feature
# adoption (breadth), of the share of seats active (active_users) and of paying late; NPS points.
HIDDEN_WEIGHTS = {
    "frequency": 0.55, "breadth": 0.9, "depth": 0.35, "collaboration": 0.5, "integration": 0.12,
    "active_users": 0.6, "nps": 1.3, "tickets": -0.45, "late_invoices": -0.9,
}


@dataclass
class World:
    """One chunk of accounts: attributes, monthly hidden health and revenue path.

    Monthly arrays have one column per window month. ``health`` has one more column in front (the
    month before the window), because usage lags health by about a month.
    """

    index: np.ndarray  # global account number (0-based)
    segment: np.ndarray  # index into SEGMENTS
    plan: np.ndarray  # plan name
    region: np.ndarray
    csm: np.ndarray
    contract_start: np.ndarray  # datetime64[D]
    start_month: np.ndarray  # window month of contract_start; -1 when before the window
    billing_day: np.ndarray  # day of month when changes take effect (1..28)
    mrr0: np.ndarray  # MRR when the account enters the window
    seats0: np.ndarray
    health: np.ndarray  # (n, MONTHS + 1) float
    mrr_before: np.ndarray  # (n, MONTHS) MRR in force before the month's change day
    mrr_after: np.ndarray  # (n, MONTHS) MRR in force from the change day
    change_day: np.ndarray  # (n, MONTHS) day of month the change (or the start) takes effect
    renewal: np.ndarray  # (n, MONTHS) bool: the contract renews this month
    # Habits usage shows but health does not explain, per account: 0 overall activity, 1-5 a
    # liking per dimension, 6 appetite for new features, 7 share of seats that ever log in.
    taste: np.ndarray  # (n, 8)
    rng: np.random.Generator

    @property
    def n(self) -> int:
        return len(self.index)

    @property
    def seats_after(self) -> np.ndarray:
        """Seats in force from each month's change day: seats follow the contract's MRR."""
        ratio = self.mrr_after / self.mrr0[:, None]
        return np.maximum(1, np.rint(self.seats0[:, None] * ratio)).astype(np.int64)


def _month_index(days: np.ndarray) -> np.ndarray:
    """Months since WINDOW_START (negative before it)."""
    m = days.astype("datetime64[M]").astype(np.int64)
    return m - WINDOW_START.astype("datetime64[M]").astype(np.int64)


def sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def simulate(rng: np.random.Generator, first: int, n: int) -> World:
    """Simulate accounts ``first .. first + n - 1`` with their own random stream ``rng``."""
    seg = rng.choice(3, size=n, p=SEGMENT_SHARE)
    arr0 = np.exp(np.log(np.take(ARR_MEDIAN, seg)) + np.take(ARR_SIGMA, seg) * rng.standard_normal(n))
    arr0 = np.round(np.clip(arr0, 2_400, 1_500_000), -2)
    seats0 = np.maximum(1, np.rint(arr0 / np.take(SEAT_PRICE, seg) * rng.lognormal(0, 0.2, n))).astype(np.int64)
    second_plan = rng.random(n) > np.take([p[0] for p in PLAN_SHARE], seg)
    plan = np.array([PLANS[s][int(b)] for s, b in zip(seg, second_plan)], dtype=object)
    region = np.array(REGIONS, dtype=object)[rng.choice(4, size=n, p=REGION_SHARE)]
    csm_pick = rng.integers(0, 6, n)
    csm = np.array([f"{CSMS[s][c % len(CSMS[s])]}@{CSM_DOMAIN}" for s, c in zip(seg, csm_pick)], dtype=object)

    # 70 % signed before the window (recent years more often), the rest during it; of those, about
    # one in nine in its last 60 days, so the "new" band has members.
    window_days = int((DATA_END - WINDOW_START).astype(int)) + 1
    before = rng.random(n) < 0.7
    age = (30 + 2_150 * rng.random(n) ** 1.6).astype(np.int64)
    cs = np.where(before, WINDOW_START - age, WINDOW_START + rng.integers(0, window_days, n))
    cs = cs.astype("datetime64[D]")
    start_month = np.maximum(_month_index(cs), -1)
    day_of_month = (cs - cs.astype("datetime64[M]").astype("datetime64[D]")).astype(np.int64) + 1
    billing_day = np.minimum(day_of_month, 28)
    cs_month = cs.astype("datetime64[M]").astype(np.int64)
    window_month0 = WINDOW_START.astype("datetime64[M]").astype(np.int64)
    renewal = ((window_month0 + np.arange(MONTHS))[None, :] - cs_month[:, None]) % 12 == 0
    renewal &= np.arange(MONTHS)[None, :] > start_month[:, None]

    mrr0 = np.round(arr0 / 12, 2)
    level = LEVEL_SD * rng.standard_normal(n)
    z = SIGMA / np.sqrt(1 - PHI**2) * rng.standard_normal(n)
    health = np.empty((n, MONTHS + 1))
    health[:, 0] = level + z
    mrr_before = np.zeros((n, MONTHS))
    mrr_after = np.zeros((n, MONTHS))
    change_day = np.broadcast_to(billing_day[:, None], (n, MONTHS)).copy()
    mrr = np.where(start_month < 0, mrr0, 0.0)
    last_paid = mrr0.copy()
    churn_noise = CHURN_NOISE * rng.standard_normal((n, MONTHS))
    for m in range(MONTHS):
        h_prev = health[:, m]  # health of the month before: what this month's decisions reflect
        mrr_before[:, m] = mrr
        starts = start_month == m
        change_day[starts, m] = day_of_month[starts]
        live = (mrr > 0) & (start_month < m)
        # Nothing changes in an account's first window month, so no date holds two MRR rows.
        can_change = live & ~((start_month < 0) & (m == 0))
        ren = renewal[:, m]
        churn_logit = (CHURN_BASE + CHURN_RENEWAL * ren + np.take(CHURN_SEGMENT, seg)
                       - CHURN_SLOPE * h_prev + churn_noise[:, m])
        churn = can_change & (rng.random(n) < sigmoid(churn_logit))
        u = rng.random(n)
        p_exp = sigmoid(EXPAND_BASE + EXPAND_RENEWAL * ren + EXPAND_SLOPE * h_prev)
        p_con = sigmoid(CONTRACT_BASE + CONTRACT_RENEWAL * ren - CONTRACT_SLOPE * h_prev)
        expand = can_change & ~churn & (u < p_exp)
        contract = can_change & ~churn & ~expand & (u < p_exp + p_con)
        comeback = (mrr == 0) & (start_month < m) & (last_paid > 0) & (m > 0) & (rng.random(n) < REACTIVATE_P)
        comeback &= mrr_before[:, max(m - 1, 0)] == 0  # never in the month right after churn
        new = mrr.copy()
        new[starts] = mrr0[starts]
        new[churn] = 0.0
        new[expand] = np.round(mrr[expand] * rng.uniform(1.1, 1.6, expand.sum()), 2)
        new[contract] = np.round(mrr[contract] * rng.uniform(0.55, 0.9, contract.sum()), 2)
        new[comeback] = np.round(last_paid[comeback] * rng.uniform(0.5, 1.0, comeback.sum()), 2)
        last_paid = np.where(new > 0, new, last_paid)
        mrr_after[:, m] = mrr = new
        # Health moves on; a shock is a champion leaving, a comeback a fresh start.
        shock = (rng.random(n) < SHOCK_P) * rng.uniform(*SHOCK_SIZE, n)
        z = PHI * z + SIGMA * rng.standard_normal(n) - shock
        z[comeback] = np.abs(z[comeback]) * 0.5
        health[:, m + 1] = level + z
    return World(
        index=np.arange(first, first + n), segment=seg, plan=plan, region=region, csm=csm,
        contract_start=cs, start_month=start_month, billing_day=billing_day, mrr0=mrr0, seats0=seats0,
        health=health, mrr_before=mrr_before, mrr_after=mrr_after, change_day=change_day,
        renewal=renewal, taste=rng.standard_normal((n, 8)), rng=rng,
    )


def month_date(m: int | np.ndarray, day: np.ndarray) -> np.ndarray:
    """The date of ``day`` (1..31) in window month ``m``."""
    return (MONTH_STARTS[m] + (np.asarray(day) - 1)).astype("datetime64[D]")
