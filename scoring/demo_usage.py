"""The demo's product usage: daily rows per account, user and event type, read off hidden health.

How a chunk of accounts becomes rows (all vectorised over account x day):

1. Each live account-day has a pool of active users (a share of its seats in force that rises
   with health) and a number of *visits*, Poisson around pool x a small daily rate that rises with
   health and with the account's own habit, far lower at weekends and ramping up in the first
   weeks after contract start. Health here is the hidden health of about 30 days earlier,
   interpolated between months, so usage lags health the way it does in life.
2. Each visit is one user (power users more often) doing 1 + Poisson(1) things; each thing is an
   event type drawn from the account's monthly mix: core passive types always, other features only
   once adopted (adoption rises with health: breadth), collaboration and integration shares tilt
   with health by their own weights, and value actions carry larger quantities when health is high
   (depth).
3. Rows with the same account, day, user and event type are summed into one row with a quantity,
   and get a time of day around business hours.

Density at the default settings: rows on about a third of an account's live days, and on such
a day about 3.4 event types by 2.5 users (about 5 rows); overall about 1.6 rows per live
account-day (small accounts a row every few days, large ones dozens), about 1.4 million rows for
2,000 accounts over the 18-month window. Two event types are used but not catalogued, so the app
has unclassified ones to show.
"""
from __future__ import annotations

import numpy as np
import pyarrow as pa

from .demo_world import DATA_END, HIDDEN_WEIGHTS, MONTH_STARTS, MONTHS, WINDOW_START, World, sigmoid

# event type, feature, dimension, value action, relative share, median quantity, adoption logit
# (None: core, used by everyone). Dimension None: not in the catalogue file (unclassified).
CATALOGUE: tuple[tuple[str, str, str | None, bool, float, float, float | None], ...] = (
    ("login", "Sign-in", "frequency", False, 10.0, 1.0, None),
    ("session_start", "Sessions", "frequency", False, 8.0, 2.0, None),
    ("mobile_session", "Mobile app", "frequency", False, 2.0, 1.5, -0.8),
    ("page_view", "Navigation", "breadth", False, 14.0, 6.0, None),
    ("search_performed", "Search", "breadth", False, 4.0, 3.0, None),
    ("record_created", "Records", "breadth", True, 6.0, 3.0, 2.0),
    ("report_generated", "Reports", "breadth", True, 4.0, 2.0, 1.5),
    ("dashboard_viewed", "Dashboards", "breadth", False, 5.0, 3.0, 1.0),
    ("forecast_run", "Forecasting", "breadth", True, 1.5, 1.0, -0.5),
    ("workflow_automated", "Automation", "depth", True, 2.5, 2.0, 0.0),
    ("data_processed", "Data pipeline", "depth", True, 2.0, 250.0, -0.2),
    ("custom_field_added", "Customisation", "depth", True, 1.0, 1.0, 0.3),
    ("bulk_edit", "Bulk editing", "depth", True, 1.2, 20.0, -0.3),
    ("teammate_invited", "Team management", "collaboration", True, 0.4, 1.0, 0.5),
    ("comment_added", "Comments", "collaboration", True, 3.0, 2.0, 0.8),
    ("dashboard_shared", "Sharing", "collaboration", True, 1.0, 1.0, 0.2),
    ("mention_notified", "Notifications", "collaboration", False, 2.0, 2.0, 0.8),
    ("integration_connected", "Integrations", "integration", True, 0.2, 1.0, -0.3),
    ("api_call", "API", "integration", True, 3.0, 400.0, -0.8),
    ("import_run", "Imports", "integration", True, 1.0, 1.0, 0.2),
    ("webhook_delivered", "Webhooks", "integration", False, 1.5, 30.0, -1.0),
    ("ai_assist_prompt", "AI assistant (beta)", None, True, 1.5, 2.0, -0.7),
    ("legacy_sync", "Legacy sync", None, False, 0.5, 5.0, -1.5),
)
EVENT_NAMES = tuple(e[0] for e in CATALOGUE)
UNCLASSIFIED = tuple(e[0] for e in CATALOGUE if e[2] is None)
_DIMS = ("frequency", "breadth", "depth", "collaboration", "integration")
_DIM = np.array([_DIMS.index(e[2]) if e[2] else 0 for e in CATALOGUE])
_VALUE = np.array([e[3] for e in CATALOGUE])
_SHARE = np.log([e[4] for e in CATALOGUE])
_QTY = np.log([e[5] for e in CATALOGUE])
_CORE = np.array([e[6] is None for e in CATALOGUE])
_ADOPT = np.array([e[6] if e[6] is not None else 0.0 for e in CATALOGUE])


def _tilt() -> np.ndarray:
    """How a mix share tilts with health: only collaboration and integration do (their own
    weights). Read from HIDDEN_WEIGHTS when the mix is drawn, so a test can switch a channel off."""
    own = {"collaboration": HIDDEN_WEIGHTS["collaboration"], "integration": HIDDEN_WEIGHTS["integration"]}
    return np.array([own.get(e[2] or "", 0.0) for e in CATALOGUE])


_INTEGRATION_BY_SEGMENT = np.array([-0.4, 0.3, 1.0])  # big customers wire the product in more

VISIT_RATE = 0.047  # visits per active user per weekday at average health
WEEKEND = 0.12
DAYS = int((DATA_END - WINDOW_START).astype(int)) + 1

SCHEMA = pa.schema([
    ("account_id", pa.dictionary(pa.int32(), pa.string())),
    ("occurred_at", pa.timestamp("s")),
    ("event_type", pa.dictionary(pa.int32(), pa.string())),
    ("user_id", pa.dictionary(pa.int32(), pa.string())),
    ("quantity", pa.float64()),
])


def _daily(world: World) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per account and day: MRR in force, seats in force, and the health usage reflects."""
    days = WINDOW_START + np.arange(DAYS)
    month = (days.astype("datetime64[M]") - WINDOW_START.astype("datetime64[M]")).astype(np.int64)
    dom = (days - MONTH_STARTS[month]).astype(np.int64) + 1
    before = dom[None, :] < world.change_day[:, month]
    mrr = np.where(before, world.mrr_before[:, month], world.mrr_after[:, month])
    seats = np.maximum(1, np.rint(world.seats0[:, None] * mrr / world.mrr0[:, None]))
    # Health column j is month j - 1 (the first column is the month before the window); each
    # month's value sits at its middle, and usage on day d reads it at d - 30 days.
    mids = np.concatenate([[-31 + 14], (MONTH_STARTS - WINDOW_START).astype(np.int64) + 14])
    x = np.interp(np.arange(DAYS) - 30, mids, np.arange(MONTHS + 1))
    lo = np.floor(x).astype(np.int64)
    hi = np.minimum(lo + 1, MONTHS)
    w = x - lo
    h_lag = world.health[:, lo] * (1 - w) + world.health[:, hi] * w
    return mrr, seats, h_lag


def _mix(world: World) -> np.ndarray:
    """Cumulative event-type probabilities per account and month, shape (n, MONTHS, types)."""
    rng = world.rng
    h = world.health[:, :MONTHS]  # month m reads the health of month m - 1
    taste = world.taste
    appetite = _ADOPT[None, None, :] + HIDDEN_WEIGHTS["breadth"] * h[:, :, None] + 0.7 * taste[:, 6, None, None]
    appetite = appetite + np.where(_DIM == 4, _INTEGRATION_BY_SEGMENT[world.segment][:, None], 0.0)[:, None, :]
    # One fixed threshold per account and type: a feature stays adopted while health holds up.
    threshold = rng.random((world.n, 1, len(CATALOGUE)))
    adopted = _CORE[None, None, :] | (sigmoid(appetite) > threshold)
    logits = (_SHARE[None, None, :] + _tilt()[None, None, :] * h[:, :, None]
              + 0.4 * taste[:, 1 + _DIM][:, None, :])
    weights = np.where(adopted, np.exp(logits), 0.0)
    cum = np.cumsum(weights, axis=2)
    return cum / cum[:, :, -1:]


def usage_table(world: World, account_ids: np.ndarray) -> pa.Table:
    """The usage rows of one chunk of accounts, in account, day, user, event type order."""
    rng = world.rng
    n = world.n
    mrr, seats, h_lag = _daily(world)
    live = mrr > 0
    weekday = ((WINDOW_START + np.arange(DAYS)).astype("datetime64[D]").view("int64") + 3) % 7 < 5
    age = (WINDOW_START + np.arange(DAYS))[None, :] - world.contract_start[:, None]
    ramp = np.clip(0.25 + age.astype(np.int64) / 60.0, 0.0, 1.0)
    pool = np.maximum(1, np.rint(seats * sigmoid(0.2 + HIDDEN_WEIGHTS["active_users"] * h_lag
                                                  + 0.5 * world.taste[:, 7, None])))
    rate = (VISIT_RATE * np.where(weekday, 1.0, WEEKEND)[None, :] * ramp
            * np.exp(HIDDEN_WEIGHTS["frequency"] * h_lag + 0.35 * world.taste[:, 0, None]
                     + 0.3 * rng.standard_normal((n, DAYS))))
    visits = rng.poisson(np.where(live, pool * rate, 0.0))

    cell = np.repeat(np.arange(n * DAYS), visits.ravel())  # one entry per visit
    a, d = np.divmod(cell, DAYS)
    user = np.floor(pool.ravel()[cell] * rng.random(len(cell)) ** 1.8).astype(np.int64)
    things = 1 + rng.poisson(1.0, len(cell))
    a, d, user = (np.repeat(v, things) for v in (a, d, user))

    # Draw each row's event type from its account-month mix in one search: shifting group g's
    # cumulative shares into (g, g + 1] makes the whole array sorted, so g + u finds the type.
    month = np.searchsorted((MONTH_STARTS - WINDOW_START).astype(np.int64), d, side="right") - 1
    group = a * MONTHS + month
    shifted = (_mix(world) + np.arange(n * MONTHS).reshape(n, MONTHS, 1)).ravel()
    pick = np.searchsorted(shifted, group + rng.random(len(a)), side="right") - group * len(CATALOGUE)
    event = np.minimum(pick, len(CATALOGUE) - 1)
    h_row = h_lag[a, d]
    depth = np.where(_VALUE[event], HIDDEN_WEIGHTS["depth"] * h_row, 0.0)
    qty = np.maximum(1.0, np.rint(np.exp(_QTY[event] + depth + 0.6 * rng.standard_normal(len(a)))))

    users = int(pool.max()) + 1
    key = ((a * DAYS + d) * users + user) * len(CATALOGUE) + event
    key, first, inverse = np.unique(key, return_index=True, return_inverse=True)
    qty = np.bincount(inverse, weights=qty)
    a, d, user, event = a[first], d[first], user[first], event[first]
    # Time of day: around business hours (UTC), tails wrapping round the clock.
    second = np.floor(rng.normal(13.5 * 3600, 3.2 * 3600, len(a))).astype(np.int64) % 86_400
    ts = (WINDOW_START.astype("datetime64[s]").astype(np.int64) + d * 86_400 + second)

    user_code, user_index = np.unique(a * users + user, return_inverse=True)
    ua, uk = np.divmod(user_code, users)
    user_names = [f"{account_ids[i]}-u{k:04d}" for i, k in zip(ua.tolist(), uk.tolist())]
    return pa.Table.from_arrays([
        pa.DictionaryArray.from_arrays(pa.array(a, pa.int32()), pa.array(account_ids.tolist(), pa.string())),
        pa.array(ts, pa.timestamp("s")),
        pa.DictionaryArray.from_arrays(pa.array(event, pa.int32()), pa.array(EVENT_NAMES, pa.string())),
        pa.DictionaryArray.from_arrays(pa.array(user_index, pa.int32()), pa.array(user_names, pa.string())),
        pa.array(qty, pa.float64()),
    ], schema=SCHEMA)


def event_types_table() -> pa.Table:
    """The catalogue file: every event type used except the unclassified ones."""
    rows = [e for e in CATALOGUE if e[2] is not None]
    return pa.table({
        "event_type": [e[0] for e in rows],
        "feature": [e[1] for e in rows],
        "dimension": [e[2] for e in rows],
        "value_action": [e[3] for e in rows],
    })
