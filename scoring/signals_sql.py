"""The one DuckDB query behind ``signals.compute_inputs``: how it is built, and why it is shaped so.

Signal aggregation is the product's heaviest query (the goal: 1M accounts from 100M events in
under 20 s), so it makes one pass over the events of the scanned windows, never a query per
signal or per account. Measured here, its cost is hash aggregation with millions of groups: DuckDB
updates each aggregate of a hash table column by column, so a grouping costs about (rows in) x
(aggregates it updates), and far more once its table outgrows the CPU caches (at 1M accounts a
grouping by account and window with ten aggregates cost as much as one by account and user with
three). So the query keeps the rows that reach a large table few and the aggregates on them fewer:
only passive events go through the cap's grain, each stream updates only the aggregates it feeds,
flags travel packed as bits, and everything else is reduced per account with bit masks (days in a
window and features are small, known domains). The stages:

1. ``acc``: the accounts in scope that are active on T, with the MRR in force on T.
2. ``types``: the event-type catalogue (bound lists, unnested), with one boolean per distinct
   signal filter and a feature number, evaluated once per event type instead of once per event.
3. ``ev``: events with ``occurred_at`` in [T - n x window, T), joined to ``types``.
4. ``pud`` (the cap's grain): the *passive* events grouped per account, user and day: their total
   quantity (and count), each signal's passive part, feature bit masks, and the flags of
   ``active_days`` / ``distinct_users`` signals packed as bits of UBIGINT words (``fl0``, ...).
   Value actions are never capped, so they skip this grouping.
5. Two streams, each with the day's window ``w`` (0 current, 1 previous, 2 the one before) and
   materialized, since several reductions read them: ``vs``, one row per value event (its
   quantity, its part of each signal, its flags); ``ps``, one row per passive user-day, scaled by
   ``min(1, cap / that user-day's passive total)``.
6. Reductions: ``aw`` per account and window, for each stream apart and with only the columns
   that stream can feed (sums, and bit masks of active days, slot = flag x W + the day's offset in
   its window, and of features used), pivoted to one row per account in ``a_w`` (``usage`` =
   value + passive usage there); over ``us``, the two streams' usage and flags side by side,
   ``by_day`` (current window only) gives the busiest day and ``by_user`` a bit per flag and window
   for each user and their current usage, reduced in ``a_user``. ``per_account`` puts the three
   together by one aggregation of their union, not by joins.
7. Small aggregates of the health tables (NPS, tickets, invoices, MRR 90 days ago), put together
   the same way (``signals_health``), and the first event ever, read only for accounts without
   ``contract_start``.
8. The final ``SELECT`` joins these to ``acc`` and applies per-seat / per-active-user divisors and
   trends with ``NULLIF`` on every divisor, so a zero gives NULL (NaN), never an error. It is not
   ordered: ``signals`` sorts the Arrow result.

The values are the documented formulas' whatever the shape; only the order in which doubles are
added differs from one shape to another (and, with several threads, from run to run of the same
shape): two runs of the same query on the 100k bench store differ by up to 5e-16 relative.

Measured here and rejected: one ``GROUPING SETS`` pass over ``l1`` instead of the materialized
``l1c`` (slower: every set carries every aggregate); integer account keys through a join (the
join costs what it saves); hashed user ids (about 15% off one grouping, but no longer exact); one
aggregation over the union of ``aw``, ``by_day`` and ``by_user`` (as fast as joins at best, 20%
slower here). Kept for memory: with a join per reduction and ``ORDER BY`` over 1M wide rows, the
query ran out of a 1 GB memory limit at 1M accounts; as it is, it fits by spilling.

Measured in December 2026 (2 vCPUs shared with other work, load average 2-14, so CPU seconds;
1M accounts / 100M events, classic bench profile; ``bench/README.md``, "Signals"): the previous
shape, every event through one grouping per account, user and day with every signal's value and
passive parts (eight aggregates) and all three reductions over that, against the current one, run
alternately: 42.6 / 39.4, 49.3 / 45.1, 36.0 / 33.6 cpu-s; alone in one process, 42.2 / 35.6 (peak
RSS 4.0 / 5.8 GB with no memory limit; under a 1 GB limit both spill and take 48-50 cpu-s). Steps
on the way: passive events alone through the cap's grain, value events one row each, reductions
unchanged: 12% less CPU at 100k accounts, but at 1M no better (39.5 against 40.4), because ``aw``
(16M rows into 1.6M groups, ten aggregates) then cost as much as the cap's grouping: splitting
``aw`` per stream took it from about a fifth of the query to a twentieth. Rejected: ``aw`` folded
into ``by_user`` (sums and masks per account, user and window, then per account): one pass fewer,
but 45 cpu-s at 1M against 39.5, because the wide states on 9M groups cost more than the pass
saved (and 30% more CPU at 100k); ``us`` inlined into its two readers instead of materialized:
no difference beyond the noise. The 20 s goal is still missed (30-49 s wall at 1M on the shared
machine); what is left is spread over the scan, the cap's grouping and the per-user grouping
(about a tenth of the operator time each) and many smaller per-account steps.

Every value is a bound, numbered parameter (``$1``, ``$2``, ...). Identifiers are written here
or are signal names, which ``signals.check_profile`` has matched against ``[a-z][a-z0-9_]*``;
they are quoted.
"""
from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

from .profile import Profile, SignalDef
from .scope import Scope
from .signals_health import health_sql

BURST_MIN_USAGE = 20.0  # usage below this is too little to call a burst
BURST_SHARE = 0.8  # one user or one day making more than this share of usage is a burst
WORD = 64  # bits per mask word (UBIGINT): days of a window and features are numbered in words

Catalogue = Sequence[tuple[str, str, bool]]  # (event_type, feature, value_action), every type once


class Params:
    """Numbered bound parameters collected while the SQL is written."""

    def __init__(self) -> None:
        self.values: list[object] = []

    def __call__(self, value: object) -> str:
        self.values.append(value)
        return f"${len(self.values)}"

    def adopt(self, sql: str, params: Sequence[object]) -> str:
        """Renumber a fragment written with ``?`` placeholders (``Scope.account_filter``).

        The fragment is SQL written by code, with no string literals, so each ``?`` is a placeholder.
        """
        parts = sql.split("?")
        if len(parts) != len(params) + 1:
            raise ValueError(f"fragment {sql!r} has {len(parts) - 1} placeholders for {len(params)} values")
        return parts[0] + "".join(self(v) + part for v, part in zip(params, parts[1:]))


@dataclass(frozen=True)
class _Filter:
    """Which events a signal selects: listed event types or features (empty: all), value actions only."""

    event_types: tuple[str, ...]
    features: tuple[str, ...]
    value_only: bool

    @classmethod
    def of(cls, s: SignalDef) -> "_Filter":
        return cls(tuple(sorted(set(s.event_types))), tuple(sorted(set(s.features))), s.value_only)

    def selects(self, et: str, feature: str, va: bool) -> bool:
        listed = not (self.event_types or self.features) or et in self.event_types or feature in self.features
        return listed and (va or not self.value_only)


def windows_needed(profile: Profile) -> int:
    """Windows scanned: current and previous, and the one before for trend signals' ``__prev``."""
    return 3 if any(s.trend for s in profile.signals) else 2


def _cols(items: Sequence[str]) -> str:
    return "".join(", " + c for c in items)


def _words(n: int) -> range:
    return range(max(1, -(-n // WORD)))


def inputs_query(profile: Profile, *, as_of: dt.date, scope: Scope, catalogue: Catalogue,
                 tables: set[str]) -> tuple[str, list[object]]:
    """The SQL of the inputs frame and its bound values.

    ``catalogue`` must list every event type of the scanned events (``signals`` completes it);
    ``tables`` holds the tables present in the current catalog.
    """
    p = Params()
    W, K, signals = profile.window_days, windows_needed(profile), profile.signals
    T_day, T = p(as_of), p(dt.datetime.combine(as_of, dt.time()))
    starts = [p(as_of - dt.timedelta(days=W * (k + 1))) for k in range(K - 1)]  # windows 0 .. K-2
    scan_start = p(dt.datetime.combine(as_of - dt.timedelta(days=W * K), dt.time()))
    cap = p(float(profile.passive_daily_cap))

    # -- each distinct filter as one boolean per event type, computed here ----------------------
    filters = list(dict.fromkeys(_Filter.of(s) for s in signals))
    feature_no = {feat: i for i, feat in enumerate(sorted({feat for _, feat, _ in catalogue}))}
    type_cols = [f"unnest({p([c[0] for c in catalogue])}::VARCHAR[]) AS event_type",
                 f"unnest({p([bool(c[2]) for c in catalogue])}::BOOLEAN[]) AS value_action",
                 f"unnest({p([feature_no[c[1]] for c in catalogue])}::INTEGER[]) AS fno"]
    type_cols += [f"unnest({p([f.selects(*c) for c in catalogue])}::BOOLEAN[]) AS m{i}"
                  for i, f in enumerate(filters)]

    def cond(f: _Filter) -> str:
        return f"m{filters.index(f)}"

    # -- the cap's grain: passive events per account, user and day; value events one row each ---
    pud_aggs: dict[str, str] = {}  # aggregate SQL -> alias: identical partials computed once

    def agg(sql: str) -> str:
        return pud_aggs.setdefault(sql, f"p{len(pud_aggs)}")

    def factor(kind: str) -> str:
        """What a passive part is multiplied by: min(1, cap / the user-day's passive total)."""
        total = agg("count(*)" if kind == "count" else "sum(quantity)")
        return f"CASE WHEN {total} > {cap} THEN {cap} / {total} ELSE 1.0 END"

    def any_value(f: _Filter) -> bool:
        return any(va and f.selects(et, feat, va) for et, feat, va in catalogue)

    def any_passive(f: _Filter) -> bool:
        return any(not va and f.selects(et, feat, va) for et, feat, va in catalogue)

    qp = agg("sum(quantity)")
    col: dict[tuple[str, _Filter], str] = {}  # (kind, filter) -> its name
    for s in signals:
        col.setdefault((s.kind, _Filter.of(s)), f"x{len(col)}")
    sums = [x for (kind, _), x in col.items() if kind in ("count", "sum")]
    day_flags = ["TRUE"] + [x for (kind, _), x in col.items() if kind == "active_days"]  # TRUE: active_days
    user_flags = ["TRUE"] + [x for (kind, _), x in col.items() if kind == "distinct_users"]  # TRUE: active_users
    feat_cols = [x for (kind, _), x in col.items() if kind == "distinct_features"]
    feat_words = _words(len(feature_no))
    # Flags of active_days and distinct_users signals, packed as bits of UBIGINT words fl0, fl1, ...
    flag_cols = [x for (kind, _), x in col.items() if kind in ("active_days", "distinct_users")]
    flag_words = range(-(-len(flag_cols) // WORD))

    def flag(x: str) -> str:
        if x == "TRUE":
            return "TRUE"
        i = flag_cols.index(x)
        return f"((fl{i // WORD} >> {i % WORD}) & 1 = 1)"

    v_cols: list[str] = []  # the value stream: one row per value event
    p_cols: list[str] = []  # the passive stream: one row per user-day with passive events, capped
    v_sums: list[str] = []
    p_sums: list[str] = []
    v_feats: list[str] = []
    p_feats: list[str] = []
    for (kind, f), x in col.items():
        if kind in ("count", "sum"):
            if any_value(f):
                v_cols.append(f"(CASE WHEN {cond(f)} THEN {'1' if kind == 'count' else 'quantity'} ELSE 0 END)::DOUBLE AS {x}")
                v_sums.append(x)
            if any_passive(f):
                measure = "count(*)" if kind == "count" else "sum(quantity)"
                p_cols.append(f"(coalesce({agg(f'{measure} FILTER (WHERE {cond(f)})')}, 0) * ({factor(kind)}))::DOUBLE AS {x}")
                p_sums.append(x)
        elif kind == "distinct_features":
            for j in feat_words:
                bits = f"CASE WHEN {cond(f)} AND fword = {j} THEN fbit ELSE 0 END"
                if any_value(f):
                    v_cols.append(f"{bits} AS {x}_w{j}")
                    v_feats.append(f"{x}_w{j}")
                if any_passive(f):
                    p_cols.append(f"{agg(f'bit_or({bits})')} AS {x}_w{j}")
                    p_feats.append(f"{x}_w{j}")
    for j in flag_words:
        packed = " | ".join(f"({cond(f)}::UBIGINT << {i % WORD})" for i, ((_, f), x) in enumerate(
            (k, v) for k, v in col.items() if v in flag_cols) if i // WORD == j)
        v_cols.append(f"{packed} AS fl{j}")
        p_cols.append(f"{agg(f'bit_or({packed})')} AS fl{j}")

    # -- per account and window, each stream apart: sums and bit masks --------------------------
    # Active days: bit (flag i, day offset o in its window) at slot i * W + o of words dm0, dm1, ...
    offset = f"({T_day} - day - 1 - w * {W})"
    slot_words = range(-(-len(day_flags) * W // WORD))
    day_masks = [" | ".join(f"(CASE WHEN {flag(g)} AND ({i * W} + {offset}) // {WORD} = {j} THEN "
                            f"1::UBIGINT << (({i * W} + {offset}) % {WORD})::UTINYINT ELSE 0 END)"
                            for i, g in enumerate(day_flags)) for j in slot_words]

    def slot_mask(i: int, j: int) -> int:
        """The bits of word j that hold flag i's days."""
        return sum(1 << (b % WORD) for b in range(i * W, (i + 1) * W) if b // WORD == j)

    def aw(stream: str, usage: str, xs: list[str], feats: list[str]) -> str:
        return (f"SELECT account_id, w, sum({usage}) AS {usage}{_cols([f'sum({x}) AS {x}' for x in xs])}"
                f"{_cols([f'bit_or({m}) AS dm{j}' for j, m in zip(slot_words, day_masks)])}"
                f"{_cols([f'bit_or({c}) AS {c}' for c in feats])} FROM {stream} GROUP BY account_id, w")

    def in_w(expr: str, k: int) -> str:
        return f"{expr} FILTER (WHERE w = {k})"

    def days(i: int, k: int) -> str:
        return " + ".join(f"bit_count({in_w(f'bit_or(dm{j})', k)} & {slot_mask(i, j)}::UBIGINT)"
                          for j in slot_words if slot_mask(i, j))

    def features(x: str, k: int) -> str:
        words = [f"{x}_w{j}" for j in feat_words if f"{x}_w{j}" in v_feats + p_feats]
        return " + ".join(f"bit_count({in_w(f'bit_or({c})', k)})" for c in words) or "0"

    pivot = ([f"coalesce({in_w('sum(vusage)', k)}, 0) + coalesce({in_w('sum(pusage)', k)}, 0) AS usage_{k}"
              for k in (0, 1)]
             + [f"{in_w(f'sum({c})', k)} AS {c}_{k}" for c in ("vusage", "pusage") for k in (0, 1)]
             + [f"{in_w(f'sum({x})', k) if x in v_sums + p_sums else '0::DOUBLE'} AS {x}_{k}"
                for x in sums for k in range(K)]
             + [f"{days(i, k)} AS d{i}_{k}" for i in range(len(day_flags)) for k in range(K)]
             + [f"{features(x, k)} AS {x}_{k}" for x in feat_cols for k in range(K)])
    # Users: bit (flag u, window k) at slot u * K + k of words ub0, ub1, ...; u = 0: any event.
    user_words = range(-(-len(user_flags) * K // WORD))
    user_bits = [" | ".join(f"(CASE WHEN {flag(g)} AND ({u * K} + w) // {WORD} = {j} THEN "
                            f"1::UBIGINT << (({u * K} + w) % {WORD})::UTINYINT ELSE 0 END)"
                            for u, g in enumerate(user_flags)) for j in user_words]
    user_names = ["au"] + user_flags[1:]
    user_cols = [f"count_if((ub{(u * K + k) // WORD} >> {(u * K + k) % WORD}) & 1 = 1) AS {n}_{k}"
                 for u, n in enumerate(user_names) for k in range(K)]
    per_account_cols = ([c.rsplit(" AS ", 1)[1] for c in pivot + user_cols]
                        + ["max_day", "max_user_usage", "has_users"])

    where_scope = p.adopt(*scope.account_filter("a.account_id"))
    if "mrr_history" in tables:
        mrr_join = ("LEFT JOIN (SELECT account_id, arg_max(mrr, effective_date) AS mrr FROM mrr_history "
                    f"WHERE effective_date <= {T_day} GROUP BY account_id) m ON m.account_id = a.account_id")
        active, mrr_now = "m.mrr > 0", "m.mrr"
    else:
        mrr_join, active, mrr_now = "", f"(a.contract_start IS NULL OR a.contract_start <= {T_day})", "NULL"
    scoped = "AND e.account_id IN (SELECT account_id FROM acc)" if scope.owners is not None else ""
    feature_bits = f", t.fno // {WORD} AS fword, 1::UBIGINT << (t.fno % {WORD})::UTINYINT AS fbit"
    window_of = "CASE " + " ".join(f"WHEN day >= {s} THEN {k}" for k, s in enumerate(starts)) + f" ELSE {K - 1} END"
    ctes = [
        f"""acc AS (
  SELECT a.account_id, a.name, a.segment, a.plan, a.region, a.csm_owner, a.crm_id, a.arr, a.seats,
         a.contract_start, {mrr_now}::DOUBLE AS mrr_now
  FROM accounts a {mrr_join}
  WHERE {where_scope} AND {active})""",
        f"""types AS (SELECT {', '.join(type_cols)})""",
        f"""ev AS (
  SELECT e.account_id, NULLIF(e.user_id, '') AS user_id, e.occurred_at::DATE AS day,
         coalesce(e.quantity, 1.0) AS quantity, coalesce(t.value_action, FALSE) AS va
         {feature_bits if feat_cols else ''}
         {_cols([f'coalesce(t.m{i}, FALSE) AS m{i}' for i in range(len(filters))])}
  FROM usage_events e LEFT JOIN types t ON t.event_type = e.event_type
  WHERE e.occurred_at >= {scan_start} AND e.occurred_at < {T} {scoped})""",
        # Only passive events need the cap's grain: they are grouped per account, user and day;
        # value events pass one row each (see the module docstring).
        f"""pud AS (
  SELECT account_id, user_id, day{_cols([f'{sql} AS {a}' for sql, a in pud_aggs.items()])}
  FROM ev WHERE NOT va GROUP BY account_id, user_id, day)""",
        f"""vs AS MATERIALIZED (
  SELECT account_id, user_id, day, w, quantity AS vusage{_cols(v_cols)}
  FROM (SELECT *, {window_of} AS w FROM ev WHERE va))""",
        f"""ps AS MATERIALIZED (
  SELECT account_id, user_id, day, w, {qp} * ({factor('sum')}) AS pusage{_cols(p_cols)}
  FROM (SELECT *, {window_of} AS w FROM pud))""",
        f"""aw AS ({aw('vs', 'vusage', v_sums, v_feats)} UNION ALL BY NAME {aw('ps', 'pusage', p_sums, p_feats)})""",
        f"""a_w AS (SELECT account_id{_cols(pivot)} FROM aw GROUP BY account_id)""",
        f"""us AS (
  SELECT account_id, user_id, day, w, vusage AS usage{_cols([f'fl{j}' for j in flag_words])} FROM vs
  UNION ALL SELECT account_id, user_id, day, w, pusage{_cols([f'fl{j}' for j in flag_words])} FROM ps)""",
        """by_day AS (
  SELECT account_id, max(usage) AS max_day
  FROM (SELECT account_id, day, sum(usage) AS usage FROM us WHERE w = 0 GROUP BY account_id, day)
  GROUP BY account_id)""",
        f"""by_user AS (
  SELECT account_id, user_id, sum(CASE WHEN w = 0 THEN usage ELSE 0 END) AS usage_0
         {_cols([f'bit_or({b}) AS ub{j}' for j, b in zip(user_words, user_bits)])}
  FROM us WHERE user_id IS NOT NULL GROUP BY account_id, user_id)""",
        f"""a_user AS (
  SELECT account_id, max(usage_0) AS max_user_usage, TRUE AS has_users{_cols(user_cols)}
  FROM by_user GROUP BY account_id)""",
        # One row per account from the three, by one aggregation of their union rather than two
        # more joins: the joins' hash tables did not fit a 1 GB memory limit at 1M accounts.
        f"""per_account AS (
  SELECT account_id, {', '.join(f'max({c}) AS {c}' for c in per_account_cols)}
  FROM (SELECT * FROM a_w UNION ALL BY NAME SELECT * FROM by_day UNION ALL BY NAME SELECT * FROM a_user)
  GROUP BY account_id)""",
        f"""first_ev AS (
  SELECT account_id, min(occurred_at)::DATE AS first_day FROM usage_events
  WHERE occurred_at < {T} AND account_id IN (SELECT account_id FROM accounts WHERE contract_start IS NULL)
  GROUP BY account_id)""",
    ]
    joins = ["LEFT JOIN per_account d ON d.account_id = a.account_id",
             "LEFT JOIN first_ev fe ON fe.account_id = a.account_id"]
    health_ctes, health_joins, health_cols = health_sql(p, as_of=as_of, T_day=T_day, T=T, tables=tables)

    # -- the frame ------------------------------------------------------------------------------
    known = "(d.account_id IS NULL OR d.has_users)"  # users known: see signals.py
    usage = "coalesce(d.usage_0, 0)"

    def users(k: int) -> str:
        return f"CASE WHEN {known} THEN coalesce(d.au_{k}, 0) END"

    def value(s: SignalDef, k: int) -> str:
        """The signal's value in window k: its aggregate, divided per seat or active user."""
        x = col[(s.kind, _Filter.of(s))]
        if s.kind == "distinct_users":
            base = f"CASE WHEN {known} THEN coalesce(d.{x}_{k}, 0) END"
        elif s.kind == "active_days":
            base = f"coalesce(d.d{day_flags.index(x)}_{k}, 0)"
        else:
            base = f"coalesce(d.{x}_{k}, 0)"
        divisor = {None: "", "seat": " / NULLIF(a.seats, 0)", "active_user": f" / NULLIF({users(k)}, 0)"}[s.per]
        return f"({base})::DOUBLE{divisor}"

    def signal(s: SignalDef, k: int) -> str:
        if not s.trend:
            return value(s, k)
        return f"({value(s, k)} - {value(s, k + 1)}) / NULLIF({value(s, k + 1)}, 0)"

    bus = f"CASE WHEN {usage} > 0 AND {known} THEN coalesce(d.max_user_usage, 0) / {usage} END"
    bds = f"CASE WHEN {usage} > 0 THEN d.max_day / {usage} END"
    share = p(BURST_SHARE)
    select = [
        "a.account_id", "a.name", "a.segment", "a.plan", "a.region", "a.csm_owner", "a.crm_id",
        f"{'12 * a.mrr_now' if 'mrr_history' in tables else 'a.arr'}::DOUBLE AS arr", "a.seats::DOUBLE AS seats",
        f"date_diff('day', coalesce(a.contract_start, fe.first_day), {T_day})::DOUBLE AS age_days",
        f"({users(0)})::DOUBLE AS active_users", "coalesce(d.d0_0, 0)::DOUBLE AS active_days",
        f"{usage}::DOUBLE AS usage", "coalesce(d.usage_1, 0)::DOUBLE AS usage_prev",
        "coalesce(d.vusage_0, 0)::DOUBLE AS value_usage", "coalesce(d.pusage_0, 0)::DOUBLE AS passive_usage",
        f"({bus})::DOUBLE AS burst_user_share", f"({bds})::DOUBLE AS burst_day_share",
        f"coalesce({usage} >= {p(BURST_MIN_USAGE)} AND (({bus}) > {share} OR ({bds}) > {share}), FALSE) AS burst",
    ]
    for s in signals:
        select += [f'{signal(s, 0)} AS "{s.name}"', f'{signal(s, 1)} AS "{s.name}__prev"']
    sql = ("WITH " + ",\n".join(ctes + health_ctes) + "\nSELECT " + ",\n       ".join(select + health_cols)
           + "\nFROM acc a\n" + "\n".join(joins + health_joins))  # unordered: signals sorts the result
    return sql, p.values
