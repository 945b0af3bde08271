"""The demo's business records: accounts, MRR history, NPS, tickets, invoices, contacts, and truth.

Each function turns one simulated chunk of accounts (``demo_world.World``) into one import
table, as Arrow, with the contract's columns in the contract's order. The records read hidden
health with their own weights and noise (``HIDDEN_WEIGHTS``): NPS from the month's health,
ticket volume and urgency rising as health falls, invoices paid late more often when it is low.

A few account names are awkward on purpose (commas, quotes, tabs, newlines, non-Latin scripts,
a leading ``=``/``+``/``-``/``@``) and sit at fixed low account numbers, so every demo of 200
accounts or more has all of them and exports are exercised on every page.
"""
from __future__ import annotations

import re

import numpy as np
import pyarrow as pa

from .demo_world import (DATA_END, HIDDEN_WEIGHTS, MONTH_STARTS, MONTHS, SEGMENTS, WINDOW_START,
                         World, sigmoid, month_date)

AWKWARD_NAMES = (
    "Smith, Jones & Partners, LLP",
    'The "Quoted" Company',
    "O'Malley's Pub Supplies",
    "株式会社サンプル",
    "Müller & Söhne GmbH",
    '=HYPERLINK("http://evil.example","Click me")',
    "+49 Telecom AG",
    "-Minus Analytics",
    "@Handle Media",
    "Tabbed\tTrading Ltd",
    "Two-Line\nLogistics",
    "ООО «Ромашка»",
    "شركة المثال للتجارة",
    "Café Zoë 🚀 S.A.",
)
AWKWARD_AT = {(k + 1) ** 2: name for k, name in enumerate(AWKWARD_NAMES)}  # accounts 1, 4, 9, ... 196

_FIRST = ("Northwind", "Blue", "Silver", "Granite", "Harbor", "Summit", "Cedar", "Bright", "Nimbus",
          "Atlas", "Evergreen", "Pioneer", "Lumen", "Vertex", "Orchid", "Falcon", "Meridian", "Copper")
_SECOND = ("Peak", "River", "Field", "Stone", "Bridge", "Wave", "Point", "Works", "Gate", "Forge",
           "Lane", "Path", "Ridge", "Harbour", "Grove", "Line")
_KIND = ("Logistics", "Labs", "Health", "Foods", "Capital", "Software", "Retail", "Energy",
         "Partners", "Manufacturing", "Media", "Insurance", "Group", "Analytics", "Travel", "Bank")
_SUFFIX = ("Inc.", "LLC", "Ltd", "GmbH", "S.A.", "B.V.", "Pty Ltd", "AB", "")
_PEOPLE_FIRST = ("Alex", "Sam", "Jordan", "Chris", "Taylor", "Morgan", "Priya", "Wei", "Fatima", "Lucas",
                 "Emma", "Noah", "Olivia", "Mateo", "Yuki", "Amara", "Lars", "Ines", "Omar", "Grace")
_PEOPLE_LAST = ("Smith", "Garcia", "Chen", "Patel", "Nguyen", "Kowalski", "Andersson", "Silva", "Kim",
                "Okafor", "Martin", "Rossi", "Dubois", "Novak", "Haddad", "Murphy", "Tanaka", "Larsen")
_ROLES = ("Champion", "Admin", "Economic buyer", "Executive sponsor", "End user", "Finance")
_BASE62 = np.array(list("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"))
_PRIORITIES = ("low", "normal", "high", "urgent")
_BILLING_MONTHS = np.array([1, 3, 12])  # SMB monthly, Mid-Market quarterly, Enterprise yearly
_END_S = (DATA_END + 1).astype("datetime64[s]").astype(np.int64)  # first second after the data


def account_ids(first: int, n: int, total: int) -> np.ndarray:
    width = max(6, len(str(total)))
    return np.array([f"ACC-{i + 1:0{width}d}" for i in range(first, first + n)], dtype=object)


def _names(world: World) -> list[str]:
    rng = world.rng
    parts = [rng.integers(0, len(p), world.n) for p in (_FIRST, _SECOND, _KIND, _SUFFIX)]
    names = [" ".join(filter(None, (f"{_FIRST[a]} {_SECOND[b]}", _KIND[c], _SUFFIX[d])))
             for a, b, c, d in zip(*(p.tolist() for p in parts))]
    return [AWKWARD_AT.get(int(i) + 1, nm) for i, nm in zip(world.index, names)]


def _months_since_start(world: World) -> np.ndarray:
    """(n, MONTHS) bool: the account had started by the end of the month."""
    return np.arange(MONTHS)[None, :] >= world.start_month[:, None]


def accounts_table(world: World, ids: np.ndarray) -> tuple[pa.Table, list[str]]:
    """Accounts as they are at the end of the data; churned ones stay.

    A churned account keeps its last contracted ARR and seats: zeroing them would hand any
    seat-based signal the churn outcome in backtests (these fields have no history).
    """
    rng = world.rng
    names = _names(world)
    crm = ["001Dm00000" + "".join(c) for c in _BASE62[rng.integers(0, 62, (world.n, 8))].tolist()]
    crm = [None if missing else c for c, missing in zip(crm, rng.random(world.n) < 0.03)]
    paid = np.where(world.mrr_after > 0, world.mrr_after, 0.0)
    last_month = MONTHS - 1 - np.argmax(paid[:, ::-1] > 0, axis=1)
    rows = np.arange(world.n)
    mrr_last = paid[rows, last_month]
    # Annual terms: the next anniversary after the data end, or for a churned account the one
    # its contract ran to (on or after the churn date).
    churned = world.mrr_after[:, -1] == 0
    churn_m = np.minimum(last_month + 1, MONTHS - 1)
    ref = np.where(churned, month_date(churn_m, world.change_day[rows, churn_m]) - 1, DATA_END)
    years = np.maximum(1, (ref - world.contract_start).astype(np.int64) // 365)
    years = np.where(_add_years(world.contract_start, years) <= ref, years + 1, years)
    years = np.where(_add_years(world.contract_start, years) <= ref, years + 1, years)
    table = pa.table({
        "account_id": pa.array(ids.tolist(), pa.string()),
        "name": pa.array(names, pa.string()),
        "segment": pa.array([SEGMENTS[s] for s in world.segment], pa.string()),
        "plan": pa.array(world.plan.tolist(), pa.string()),
        "region": pa.array(world.region.tolist(), pa.string()),
        "csm_owner": pa.array(world.csm.tolist(), pa.string()),
        "crm_id": pa.array(crm, pa.string()),
        "arr": pa.array(np.round(12 * mrr_last, 2), pa.float64()),
        "seats": pa.array(world.seats_after[rows, last_month], pa.int64()),
        "contract_start": pa.array(world.contract_start, pa.date32()),
        "renewal_date": pa.array(_add_years(world.contract_start, years), pa.date32()),
    })
    return table, names


def _add_years(days: np.ndarray, years: np.ndarray) -> np.ndarray:
    """Anniversaries: the same day ``years`` later (the 28th for a 29th of February)."""
    month = days.astype("datetime64[M]")
    offset = (days - month.astype("datetime64[D]")).astype(np.int64)
    target = month + 12 * years
    length = ((target + 1).astype("datetime64[D]") - target.astype("datetime64[D]")).astype(np.int64)
    return target.astype("datetime64[D]") + np.minimum(offset, length - 1)


def mrr_table(world: World, ids: np.ndarray) -> pa.Table:
    """One row per MRR change: the window's opening level, starts, churn, moves, comebacks."""
    opening = world.start_month < 0
    acct, date, mrr = [np.flatnonzero(opening)], [np.full(opening.sum(), WINDOW_START)], [world.mrr0[opening]]
    for m in range(MONTHS):
        changed = np.flatnonzero(world.mrr_after[:, m] != world.mrr_before[:, m])
        acct.append(changed)
        date.append(month_date(m, world.change_day[changed, m]))
        mrr.append(world.mrr_after[changed, m])
    a, d, v = np.concatenate(acct), np.concatenate(date), np.concatenate(mrr)
    order = np.lexsort((d, a))
    return pa.table({
        "account_id": pa.array(ids[a[order]].tolist(), pa.string()),
        "effective_date": pa.array(d[order], pa.date32()),
        "mrr": pa.array(v[order], pa.float64()),
    })


def _live_months(world: World) -> np.ndarray:
    """(n, MONTHS) bool: the account paid for at least one day of the month."""
    return (world.mrr_before > 0) & (world.change_day > 1) | (world.mrr_after > 0)


def _random_day(world: World, a: np.ndarray, m: np.ndarray) -> np.ndarray:
    """A day of month ``m`` on which account ``a`` was paying (for rows of live months only)."""
    change = month_date(m, world.change_day[a, m])
    first = np.where(world.mrr_before[a, m] > 0, MONTH_STARTS[m], change)
    month_end = np.append(MONTH_STARTS[1:], DATA_END + 1)[m] - 1
    last = np.where(world.mrr_after[a, m] > 0, month_end, change - 1)
    span = (last - first).astype(np.int64) + 1
    return first + (world.rng.random(len(a)) * span).astype(np.int64)


def nps_table(world: World, ids: np.ndarray) -> pa.Table:
    """Quarterly surveys; a few users answer, scoring from the month's health plus much noise."""
    rng = world.rng
    phase = rng.integers(0, 3, world.n)
    due = _live_months(world) & ((np.arange(MONTHS)[None, :] - phase[:, None]) % 3 == 0)
    expected = np.where(due, 0.5 + 0.25 * world.seats0[:, None] ** 0.4, 0.0)
    count = rng.poisson(expected)
    a, m = np.divmod(np.repeat(np.arange(world.n * MONTHS), count.ravel()), MONTHS)
    h = world.health[a, m + 1]
    score = np.clip(np.rint(7.3 + HIDDEN_WEIGHTS["nps"] * h + 1.7 * rng.standard_normal(len(a))), 0, 10)
    user = np.floor(world.seats0[a] * rng.random(len(a)) ** 1.5).astype(np.int64)
    return pa.table({
        "account_id": pa.array(ids[a].tolist(), pa.string()),
        "responded_at": pa.array(_random_day(world, a, m), pa.date32()),
        "score": pa.array(score.astype(np.int64), pa.int64()),
        "user_id": pa.array([f"{ids[i]}-u{k:04d}" for i, k in zip(a.tolist(), user.tolist())], pa.string()),
    })


def tickets_table(world: World, ids: np.ndarray, first_id: int) -> pa.Table:
    """Tickets: more and more urgent as health falls; the newest and a few stale ones still open."""
    rng = world.rng
    rate = np.where(_live_months(world), 0.1 * world.seats0[:, None] ** 0.4
                    * np.exp(HIDDEN_WEIGHTS["tickets"] * world.health[:, 1:]), 0.0)
    a, m = np.divmod(np.repeat(np.arange(world.n * MONTHS), rng.poisson(rate).ravel()), MONTHS)
    h = world.health[a, m + 1]
    logits = np.log([0.32, 0.45, 0.17, 0.06])[None, :] - h[:, None] * np.array([-0.3, 0.0, 0.35, 0.7])
    cum = np.cumsum(np.exp(logits), axis=1)
    prio = (cum / cum[:, -1:] < rng.random(len(a))[:, None]).sum(1)
    day = _random_day(world, a, m)
    opened = day.astype("datetime64[s]").astype(np.int64) + rng.integers(7 * 3600, 20 * 3600, len(a))
    hours = np.array([96.0, 40.0, 12.0, 4.0])[prio] * rng.lognormal(0, 0.9, len(a))
    closed = opened + (hours * 3600).astype(np.int64)
    still_open = (closed >= _END_S) | (rng.random(len(a)) < 0.02)
    sentiment = np.clip(np.round(0.3 * h + 0.35 - 0.15 * prio + 0.4 * rng.standard_normal(len(a)), 2), -1, 1)
    no_sentiment = rng.random(len(a)) < 0.12
    return pa.table({
        "ticket_id": pa.array([f"TCK-{first_id + i:07d}" for i in range(len(a))], pa.string()),
        "account_id": pa.array(ids[a].tolist(), pa.string()),
        "opened_at": pa.array(opened, pa.timestamp("s")),
        "closed_at": pa.array(closed, pa.timestamp("s"), mask=still_open),
        "priority": pa.array([_PRIORITIES[p] for p in prio], pa.string()),
        "sentiment": pa.array(sentiment, pa.float64(), mask=no_sentiment),
    })


def invoices_table(world: World, ids: np.ndarray, first_id: int) -> pa.Table:
    """Invoices per billing period, net 30; late payers are the unhealthy; recent ones unpaid."""
    rng = world.rng
    period = _BILLING_MONTHS[world.segment]
    cs_month = world.contract_start.astype("datetime64[M]").astype(np.int64)
    abs_month = WINDOW_START.astype("datetime64[M]").astype(np.int64) + np.arange(MONTHS)
    billed = ((abs_month[None, :] - cs_month[:, None]) % period[:, None] == 0) & (world.mrr_after > 0)
    a, m = np.nonzero(billed)
    issued = np.maximum(month_date(m, world.change_day[a, m]), world.contract_start[a])
    due = issued + 30
    late = rng.random(len(a)) < sigmoid(-2.3 + HIDDEN_WEIGHTS["late_invoices"] * world.health[a, m + 1])
    paid = np.where(late, due + np.ceil(rng.lognormal(np.log(18), 0.7, len(a))).astype(np.int64),
                    issued + rng.integers(2, 30, len(a)))
    unpaid = (paid > DATA_END) | (rng.random(len(a)) < 0.005)
    return pa.table({
        "invoice_id": pa.array([f"INV-{first_id + i:08d}" for i in range(len(a))], pa.string()),
        "account_id": pa.array(ids[a].tolist(), pa.string()),
        "issued_at": pa.array(issued, pa.date32()),
        "due_at": pa.array(due, pa.date32()),
        "paid_at": pa.array(paid, pa.date32(), mask=unpaid),
        "amount": pa.array(np.round(world.mrr_after[a, m] * period[a], 2), pa.float64()),
    })


def contacts_table(world: World, ids: np.ndarray, names: list[str]) -> pa.Table:
    """People per account: one primary, except a few accounts with none or no contacts at all."""
    rng = world.rng
    count = np.minimum(8, 1 + rng.poisson(np.array([0.8, 2.0, 4.0])[world.segment]))
    count[rng.random(world.n) < 0.015] = 0
    no_primary = rng.random(world.n) < 0.02
    a = np.repeat(np.arange(world.n), count)
    rank = np.arange(len(a)) - np.repeat(np.cumsum(count) - count, count)
    first = rng.integers(0, len(_PEOPLE_FIRST), len(a)).tolist()
    last = rng.integers(0, len(_PEOPLE_LAST), len(a)).tolist()
    role = np.where(rank == 0, rng.integers(0, 2, len(a)), rng.integers(1, len(_ROLES), len(a))).tolist()
    domains = [_domain(nm, aid) for nm, aid in zip(names, ids.tolist())]
    return pa.table({
        "account_id": pa.array(ids[a].tolist(), pa.string()),
        "name": pa.array([f"{_PEOPLE_FIRST[f]} {_PEOPLE_LAST[s]}" for f, s in zip(first, last)], pa.string()),
        "email": pa.array([f"{_PEOPLE_FIRST[f]}.{_PEOPLE_LAST[s]}@{domains[i]}".lower()
                           for f, s, i in zip(first, last, a.tolist())], pa.string()),
        "role": pa.array([_ROLES[r] for r in role], pa.string()),
        "is_primary": pa.array((rank == 0) & ~no_primary[a], pa.bool_()),
    })


def _domain(name: str, account_id: str) -> str:
    slug = "-".join(re.findall(r"[a-z0-9]+", name.lower())[:3])
    return f"{slug or account_id.lower()}.example"


def truth_table(world: World, ids: np.ndarray) -> pa.Table:
    """Hidden health per account and month, from the account's first month on (never imported)."""
    a, m = np.nonzero(_months_since_start(world))
    return pa.table({
        "account_id": pa.array(ids[a].tolist(), pa.string()),
        "month": pa.array(MONTH_STARTS[m], pa.date32()),
        "hidden_health": pa.array(world.health[a, m + 1], pa.float64()),
    })
