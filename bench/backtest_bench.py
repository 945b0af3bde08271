"""Backtest benchmark: how long ``validate.backtest_frame`` over 12 monthly dates plus
``validate.figures`` takes on 100k accounts (what ``calibrate`` prepares by default).

The issue's goal: the 12-date backtest of 100,000 accounts in under 20 s. Why it is shaped so:

- **The signals benchmark's store** (``bench/signals_bench.py``: 10M events over 2025, 100k
  accounts, ``mrr_history`` with churn, NPS, tickets, invoices), **copied** to a scratch folder
  first (the copy is not timed), so the cached original is never opened for writing; read, as the
  commands read it, through a read-only ``DataStore`` cursor. The profile is
  ``scoring.profile.default_profile`` built from the store's catalogue.
- **The dates**: 12 monthly dates, the 1st of February 2025 to the 1st of January 2026, each with
  a full signal window of events before it (the events start on 2025-01-01). The store's
  ``mrr_history`` ends on 2025-12-31, so only the dates up to 2025-10-01 have their full 90-day
  horizon: ``validate`` would refuse the last three (the generated year is too short for 12 valid
  dates). ``backtest_frame`` does not check dates (its callers do), and the cost of a date does not
  depend on how much of its horizon exists, so this measures the cost of 12 dates; the figures'
  values are only printed as a sanity check.
- **What is timed**: ``backtest_frame`` (the outcomes query, then per date ``compute_inputs``,
  ``normalise`` and the ``Rescorer``; a date's ``normalise`` and ``Rescorer`` run on a worker
  thread while DuckDB computes the next date's inputs, so wall and CPU seconds both matter) and
  ``figures`` (pooled and per date) apart. There is no bootstrap: the AUC interval is DeLong's,
  computed in closed form inside ``figures``.
- **Wall and CPU seconds**: the machine's 2 vCPUs are shared with other work, so a run's wall time
  swings with the load average (printed at the start: 1-, 5- and 15-minute); CPU seconds (all
  threads of this process) move much less and are the figure to compare two versions by.
- **References in the same run, on the same file**: one ``signals.compute_inputs`` call on the last
  date, ``outcomes.outcomes`` over the 12 dates alone, and DuckDB's plain
  ``SELECT account_id, count(*), sum(quantity) ... GROUP BY account_id`` over the events one date
  scans and over all events. The ratios say what the backtest costs beyond its parts.

Rerun: ``python bench/backtest_bench.py [--db FILE]``. Ends with one ``result:`` line.
"""
from __future__ import annotations

import argparse
import datetime as dt
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT)]

DEFAULT_DB = ROOT / "bench" / "out" / "stores" / "signals-10000000ev-100000acc-seed7-v1" / "cs.duckdb"
GOAL_SECONDS = 20.0
HORIZON = 90
DATES = [dt.date(2025, m, 1) for m in range(2, 13)] + [dt.date(2026, 1, 1)]


def timed(fn):
    wall, cpu = time.perf_counter(), time.process_time()
    value = fn()
    return value, time.perf_counter() - wall, time.process_time() - cpu


def measure(db: Path) -> dict:
    from scoring import signals
    from scoring.outcomes import outcomes
    from scoring.profile import default_profile
    from scoring.scope import Scope
    from scoring.store import DataStore
    from scoring.validate import backtest_frame, figures

    ds = DataStore(db)
    try:
        with ds.cursor() as con:
            cat = signals.catalogue(con)
            profile = default_profile(cat)
            bt, bt_s, bt_cpu = timed(lambda: backtest_frame(con, profile, DATES, horizon=HORIZON, catalogue=cat))
            fig, fig_s, fig_cpu = timed(lambda: figures(bt))
            _, out_s, _ = timed(lambda: outcomes(con, DATES, horizon=HORIZON))
            last = DATES[-1]
            frame, one_s, one_cpu = timed(lambda: signals.compute_inputs(
                con, profile, as_of=last, scope=Scope.everyone(), catalogue=cat))
            days = profile.window_days * signals.windows_needed(profile)
            start = dt.datetime.combine(last - dt.timedelta(days=days), dt.time())
            end = dt.datetime.combine(last, dt.time())
            sql = "SELECT account_id, count(*), sum(quantity) FROM usage_events {} GROUP BY account_id"
            _, ref_win_s, _ = timed(lambda: con.execute(
                sql.format("WHERE occurred_at >= ? AND occurred_at < ?"), [start, end]).fetchall())
            _, ref_all_s, _ = timed(lambda: con.execute(sql.format("")).fetchall())
            scanned = con.execute("SELECT count(*) FROM usage_events WHERE occurred_at >= ? AND occurred_at < ?",
                                  [start, end]).fetchone()[0]
            events = con.execute("SELECT count(*) FROM usage_events").fetchone()[0]
            accounts = con.execute("SELECT count(*) FROM accounts").fetchone()[0]
    finally:
        ds.close()
    pooled = fig["pooled"]
    return {"accounts": accounts, "events": events, "scanned_events": scanned, "scanned_days": days,
            "signals": len(profile.signals), "observations": pooled["n_accounts"],
            "churned": pooled["n_churned"], "auc": pooled["auc"], "frame_accounts": len(frame),
            "backtest_seconds": bt_s, "backtest_cpu": bt_cpu, "figures_seconds": fig_s, "figures_cpu": fig_cpu,
            "outcomes_seconds": out_s, "one_inputs_seconds": one_s, "one_inputs_cpu": one_cpu,
            "ref_window_seconds": ref_win_s, "ref_full_seconds": ref_all_s}


def report(f: dict, *, load: tuple[float, float, float], db: Path) -> str:
    n = len(DATES)
    total = f["backtest_seconds"] + f["figures_seconds"]
    per_date = (f["backtest_seconds"] - f["outcomes_seconds"]) / n
    met = total < GOAL_SECONDS
    auc = "n/a" if f["auc"] is None else f"{f['auc']:.3f}"
    lines = [
        f"store: copy of {db}: {f['accounts']:,} accounts, {f['events']:,} events; profile "
        f"default_profile ({f['signals']} signals); {os.cpu_count()} CPUs, load average "
        f"{load[0]:.2f} {load[1]:.2f} {load[2]:.2f} at the start",
        f"dates: {n} monthly, {DATES[0]} .. {DATES[-1]}, horizon {HORIZON} days",
        f"  {f['observations']:,} account-dates, {f['churned']:,} churned, pooled ROC AUC {auc} (sanity only)",
        "",
        f"backtest_frame  {f['backtest_seconds']:7.2f} s wall, {f['backtest_cpu']:.2f} s CPU",
        f"figures         {f['figures_seconds']:7.2f} s wall, {f['figures_cpu']:.2f} s CPU "
        "(pooled + per date; no bootstrap: DeLong in closed form)",
        f"total           {total:7.2f} s   goal < {GOAL_SECONDS:.0f} s: {'MET' if met else 'NOT MET'}",
        f"per date        {per_date:7.2f} s  (backtest_frame minus the outcomes query, / {n})",
        "",
        "references, same run, same file:",
        f"  one compute_inputs ({DATES[-1]}, {f['frame_accounts']:,} accounts)  {f['one_inputs_seconds']:6.2f} s  "
        f"-> per date / this = {per_date / f['one_inputs_seconds']:.2f}x",
        f"  outcomes over the {n} dates                 {f['outcomes_seconds']:6.2f} s",
        f"  GROUP BY account_id, one date's {f['scanned_days']} days ({f['scanned_events']:,} events)  "
        f"{f['ref_window_seconds']:6.2f} s  -> per date / this = {per_date / f['ref_window_seconds']:.1f}x",
        f"  GROUP BY account_id, all {f['events']:,} events  {f['ref_full_seconds']:6.2f} s  "
        f"-> total / this = {total / f['ref_full_seconds']:.1f}x",
    ]
    summary = {"accounts": f["accounts"], "dates": n, "seconds": round(total, 2),
               "backtest_s": round(f["backtest_seconds"], 2), "figures_s": round(f["figures_seconds"], 2),
               "per_date_s": round(per_date, 2), "one_inputs_s": round(f["one_inputs_seconds"], 2),
               "groupby_window_s": round(f["ref_window_seconds"], 3), "load": round(load[0], 2),
               "goal_s": GOAL_SECONDS, "met": met}
    lines.append("result: " + " ".join(f"{k}={v}" for k, v in summary.items()))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--db", type=Path, default=DEFAULT_DB, help="data file to copy and measure")
    args = p.parse_args(argv)
    if not args.db.exists():
        p.error(f"{args.db} not found: build it with `python bench/signals_bench.py` first")
    with tempfile.TemporaryDirectory(prefix="backtest-bench-") as tmp:
        db = Path(tmp) / "cs.duckdb"
        shutil.copyfile(args.db, db)  # never open the cached original
        load = os.getloadavg()
        print(report(measure(db), load=load, db=args.db), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
