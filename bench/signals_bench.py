"""Signals benchmark: how fast ``signals.compute_inputs`` turns a large usage log into the inputs frame.

The issue's goal: signals for 1M accounts from 100M events in under 20 s, i.e. at least 5M events
per second. Why the benchmark is shaped like this:

- **The events are the import benchmark's** (``bench/import_bench.py``: seeded, skewed, one year
  of 2025, cached under ``OUT/inputs/``), so both benchmarks talk about the same data. This one
  adds what the health inputs read (an event-type catalogue with two unclassified types,
  ``mrr_history`` with some churn, NPS, tickets, invoices: a few rows per account) and loads
  everything into a data file with DuckDB directly, typed as ``scoring.schema`` declares, cached
  under ``OUT/stores/``. It does not call the import: the import's own checks and history backfill
  are measured elsewhere and would only make building a 100M store slow.
- **The measurement runs in a child process** on a read-only ``DataStore``, as the app reads it;
  ``os.wait4`` gives that child's own peak RSS. Inside it: the catalogue, then
  ``compute_inputs_ds`` (``--repeat`` times, the median reported), wall and CPU seconds.
- **References in the same child, on the same file**: DuckDB's plain
  ``SELECT account_id, count(*), sum(quantity) ... GROUP BY account_id`` over the events the
  signals read (the scanned windows) and over all events (the issue's "DuckDB aggregates 100M
  events in about 13 s"). The inputs frame does far more (three groupings, caps, bit masks, the
  health tables, 1M rows to pandas), and the ratios say how much more it costs.

The default profile is demo-like ("classic" over the generator's event types, 6 signals: logins
as active days, reports, integrations and invitations as sums, API calls per active user, active
users per seat); ``--profile default`` uses ``scoring.profile.default_profile`` built from the
catalogue. ``--smoke`` is the CI variant (``tests/test_signals.py`` runs it). The summary ends with
one machine-readable line starting with ``result:``.
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "bench")]

import import_bench  # noqa: E402  (the same event generator)

DEFAULT_OUT = ROOT / "bench" / "out"
STORE_VERSION = 1  # bump when the store built here changes, so cached stores are rebuilt
GOAL_EVENTS, GOAL_SECONDS = 100_000_000, 20.0
GOAL_RATE = GOAL_EVENTS / GOAL_SECONDS
SMOKE_EVENTS, SMOKE_ACCOUNTS = 50_000, 1_000
AS_OF = dt.date(2026, 1, 1)  # the day after the generated year

# The generator's event types: (feature, dimension, value action); None: left unclassified.
CLASSES: dict[str, tuple[str, str, bool] | None] = {
    "login": ("Sign-in", "frequency", False), "page_view": ("Navigation", "breadth", False),
    "dashboard_viewed": ("Dashboards", "breadth", False), "report_generated": ("Reports", "depth", True),
    "report_exported": ("Reports", "depth", True), "search": ("Search", "breadth", False),
    "filter_applied": ("Search", "breadth", False), "record_created": ("Records", "depth", True),
    "record_updated": ("Records", "depth", True), "comment_added": ("Comments", "collaboration", True),
    "file_uploaded": ("Files", "depth", True), "user_invited": ("Team", "collaboration", True),
    "integration_sync": ("Integrations", "integration", True), "api_call": ("API", "integration", True),
    "webhook_delivered": None, "alert_configured": ("Alerts", "depth", True),
    "workflow_run": ("Automation", "depth", True), "share_link_created": ("Sharing", "collaboration", True),
    "settings_changed": ("Settings", "breadth", False), "billing_viewed": None,
}


# ---------------------------------------------------------------- the store


def store_for(out: Path, *, events: int, accounts: int, seed: int) -> tuple[Path, float]:
    """The cached data file for these parameters (built first when missing) and seconds spent building."""
    inputs = import_bench.inputs_for(out, events=events, accounts=accounts, fmt="parquet", seed=seed)
    folder = out / "stores" / f"signals-{events}ev-{accounts}acc-seed{seed}-v{STORE_VERSION}"
    db = folder / "cs.duckdb"
    if db.exists():
        return db, inputs.seconds
    started = time.perf_counter()
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=folder.name + ".partial-", dir=folder.parent))
    try:
        _build(tmp / "cs.duckdb", inputs.folder, np.random.default_rng(seed + 1))
        tmp.chmod(0o755)
        tmp.rename(folder)  # complete: only now does the cache key exist
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return db, inputs.seconds + time.perf_counter() - started


def _build(db: Path, inputs: Path, rng: np.random.Generator) -> None:
    import duckdb

    from scoring.schema import DERIVED_DDL, TABLES

    con = duckdb.connect(str(db))
    try:
        con.execute("SET TimeZone = 'UTC'")
        con.execute("SET memory_limit = '4GB'")
        for name in ("accounts", "usage_events", "event_types", "mrr_history", "nps_responses",
                     "support_tickets", "invoices"):
            cols = TABLES[name].columns
            con.execute(f'CREATE TABLE "{name}" (' + ", ".join(f'"{c.name}" {c.sql_type}' for c in cols) + ")")
        for ddl in DERIVED_DDL.values():
            con.execute(ddl)
        for name in ("accounts", "usage_events"):  # every schema column is in the generated files
            src = "read_parquet('" + str(inputs / f"{name}.parquet").replace("'", "''") + "')"
            cols = ", ".join(f'CAST("{c.name}" AS {c.sql_type})' for c in TABLES[name].columns)
            con.execute(f'INSERT INTO "{name}" SELECT {cols} FROM {src}')
        accounts = con.sql("SELECT account_id, arr, contract_start FROM accounts ORDER BY account_id").to_arrow_table()
        for name, table in _extra_tables(accounts, rng).items():
            con.register("_extra", table)
            con.execute(f'INSERT INTO "{name}" SELECT * FROM _extra')
            con.unregister("_extra")
        con.execute("INSERT INTO meta VALUES ('is_demo', 'false'), ('data_version', 'bench')")
        con.execute("CHECKPOINT")
    finally:
        con.close()


def _extra_tables(accounts: pa.Table, rng: np.random.Generator) -> dict[str, pa.Table]:
    """The optional tables, a few rows per account: catalogue, MRR with churn, NPS, tickets, invoices."""
    ids = np.asarray(accounts["account_id"].to_pylist(), dtype=object)
    n = len(ids)
    arr = accounts["arr"].to_numpy()
    start = accounts["contract_start"].to_numpy().astype("datetime64[D]")
    year = np.datetime64("2025-01-01")
    days = lambda lo, hi, k=n: year + rng.integers(lo, hi, k).astype("timedelta64[D]")  # noqa: E731
    classified = [(et, *c) for et, c in CLASSES.items() if c is not None]
    changed = rng.random(n) < 0.5
    churned = rng.random(n) < 0.08
    mrr = np.round(arr / 12, 2)
    mrr_rows = {
        "account_id": np.concatenate([ids, ids[changed], ids[churned]]),
        "effective_date": np.concatenate([start, days(0, 180)[changed], days(181, 365)[churned]]),
        "mrr": np.concatenate([mrr, np.round(mrr * rng.uniform(0.8, 1.3, n), 2)[changed], np.zeros(churned.sum())]),
    }
    opened = (year.astype("datetime64[s]") + rng.integers(0, 365 * 86400, 2 * n).astype("timedelta64[s]"))
    closed = opened + rng.integers(0, 20 * 86400, 2 * n).astype("timedelta64[s]")
    issued = np.tile(np.array(["2025-01-01", "2025-04-01", "2025-07-01", "2025-10-01"], dtype="datetime64[D]"), n)
    due = issued + np.timedelta64(30, "D")
    paid = due + rng.integers(-20, 30, 4 * n).astype("timedelta64[D]")
    return {
        "event_types": pa.table({"event_type": [c[0] for c in classified], "feature": [c[1] for c in classified],
                                 "dimension": [c[2] for c in classified], "value_action": [c[3] for c in classified]}),
        "mrr_history": pa.table(mrr_rows),
        "nps_responses": pa.table({"account_id": ids, "responded_at": days(0, 365),
                                   "score": rng.integers(0, 11, n), "user_id": pa.nulls(n, pa.string())}),
        "support_tickets": pa.table({
            "ticket_id": [f"T{i:09d}" for i in range(2 * n)], "account_id": np.repeat(ids, 2),
            "opened_at": opened, "closed_at": pa.array(closed, mask=rng.random(2 * n) < 0.2),
            "priority": rng.choice(["low", "normal", "high", "urgent"], 2 * n, p=[0.3, 0.5, 0.15, 0.05]),
            "sentiment": np.round(rng.uniform(-1, 1, 2 * n), 2)}),
        "invoices": pa.table({
            "invoice_id": [f"I{i:09d}" for i in range(4 * n)], "account_id": np.repeat(ids, 4),
            "issued_at": issued, "due_at": due, "paid_at": pa.array(paid, mask=rng.random(4 * n) < 0.05),
            "amount": np.repeat(np.round(arr / 4, 2), 4)}),
    }


# ---------------------------------------------------------------- the measurement (child process)


def bench_profile(name: str, cat: object) -> object:
    from scoring.profile import Profile, SignalDef

    if name == "default":
        from scoring.profile import default_profile  # built from the catalogue

        return default_profile(cat)
    return Profile("classic-bench", signals=(
        SignalDef("logins", "Days with a sign-in", "frequency", "active_days", 20.0, event_types=("login",)),
        SignalDef("reports_generated", "Reports generated", "depth", "sum", 30.0, event_types=("report_generated",)),
        SignalDef("integrations", "Integration syncs", "integration", "sum", 25.0, event_types=("integration_sync",)),
        SignalDef("teammates_invited", "Team members invited", "collaboration", "sum", 15.0,
                  event_types=("user_invited",)),
        SignalDef("api_calls", "API calls per active user", "integration", "sum", 10.0, event_types=("api_call",),
                  per="active_user"),
        SignalDef("users_per_seat", "Active users per seat", "collaboration", "distinct_users", 10.0, per="seat"),
    ))


def child(db: Path, *, profile_name: str, as_of: dt.date, repeat: int, reference: bool) -> dict:
    """Runs in its own process: catalogue, compute_inputs ``repeat`` times, the references."""
    from scoring import signals
    from scoring.scope import Scope
    from scoring.store import DataStore

    def timed(fn):
        wall, cpu = time.perf_counter(), time.process_time()
        value = fn()
        return value, time.perf_counter() - wall, time.process_time() - cpu

    ds = DataStore(db)
    try:
        cat, cat_s, _ = timed(lambda: signals.catalogue_ds(ds))
        profile = bench_profile(profile_name, cat)
        runs = []
        for _ in range(repeat):
            frame, wall, cpu = timed(lambda: signals.compute_inputs_ds(
                ds, profile, as_of=as_of, scope=Scope.everyone(), catalogue=cat))
            runs.append((wall, cpu))
        days = profile.window_days * signals.windows_needed(profile)
        start = dt.datetime.combine(as_of - dt.timedelta(days=days), dt.time())
        end = dt.datetime.combine(as_of, dt.time())
        events = ds.rows("SELECT count(*) FROM usage_events")[0][0]
        scanned = ds.rows("SELECT count(*) FROM usage_events WHERE occurred_at >= ? AND occurred_at < ?",
                          [start, end])[0][0]
        out = {"events": events, "scanned_events": scanned, "scanned_days": days, "accounts_out": len(frame),
               "signals": len(profile.signals), "profile": profile.name, "catalogue_seconds": cat_s,
               "seconds": statistics.median(r[0] for r in runs), "cpu_seconds": statistics.median(r[1] for r in runs),
               "runs": [r[0] for r in runs], "burst_accounts": int(frame["burst"].sum())}
        if reference:
            sql = "SELECT account_id, count(*), sum(quantity) FROM usage_events {} GROUP BY account_id"
            _, out["ref_window_seconds"], out["ref_window_cpu"] = timed(
                lambda: ds.rows(sql.format("WHERE occurred_at >= ? AND occurred_at < ?"), [start, end]))
            _, out["ref_full_seconds"], out["ref_full_cpu"] = timed(lambda: ds.rows(sql.format("")))
        return out
    finally:
        ds.close()


def measure(db: Path, args: argparse.Namespace) -> tuple[dict, float]:
    """The child's figures and its own peak RSS in MB."""
    cmd = [sys.executable, str(Path(__file__).resolve()), "--child", str(db), "--profile", args.profile,
           "--as-of", args.as_of.isoformat(), "--repeat", str(args.repeat)]
    cmd += ["--no-reference"] if args.no_reference else []
    env = {k: v for k, v in os.environ.items() if k not in ("CS_DB", "CS_STATE", "CS_CRASH_AT")}
    with tempfile.TemporaryFile("w+") as fh:
        proc = subprocess.Popen(cmd, stdout=fh, stderr=subprocess.STDOUT, cwd=ROOT, env=env)
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
        fh.seek(0)
        text = fh.read()
    if proc.returncode != 0:
        raise SystemExit(f"the measurement failed (status {proc.returncode}):\n{text[-3000:]}")
    line = next(x for x in text.splitlines() if x.startswith("child: "))
    return json.loads(line.removeprefix("child: ")), usage.ru_maxrss / 1024


# ---------------------------------------------------------------- reporting


def report(f: dict, *, accounts: int, peak_mb: float, as_of: dt.date, load: float) -> str:
    import duckdb

    rate = f["events"] / f["seconds"]
    lines = [
        "",
        f"signals benchmark: {f['events']:,} events ({f['scanned_events']:,} in the {f['scanned_days']} days "
        f"scanned), {accounts:,} accounts, {f['accounts_out']:,} active on {as_of}; profile {f['profile']} "
        f"({f['signals']} signals); {os.cpu_count()} cores, DuckDB {duckdb.__version__}, Python "
        f"{platform.python_version()}; load average before: {load:.2f}",
        f"median of {len(f['runs'])} run(s): {', '.join(f'{r:.2f}' for r in f['runs'])} s; "
        f"catalogue {f['catalogue_seconds']:.2f} s (not included); child peak RSS {peak_mb:,.0f} MB",
        "",
        f"{'what':<44}{'seconds':>9}{'cpu-s':>8}{'events/s':>14}{'vs it':>8}",
        f"{'compute_inputs (the inputs frame)':<44}{f['seconds']:>9.2f}{f['cpu_seconds']:>8.2f}{rate:>14,.0f}"
        f"{'1.00x':>8}",
    ]
    for key, label, n in (("ref_window", "reference: GROUP BY account_id, scanned", f["scanned_events"]),
                          ("ref_full", "reference: GROUP BY account_id, all events", f["events"])):
        if f"{key}_seconds" in f:
            s = f[f"{key}_seconds"]
            lines.append(f"{label:<44}{s:>9.2f}{f[f'{key}_cpu']:>8.2f}{n / s:>14,.0f}{f['seconds'] / s:>7.2f}x")
    ratio = rate / GOAL_RATE
    lines += ["", f"goal: {GOAL_EVENTS:,} events in {GOAL_SECONDS:.0f} s = {GOAL_RATE:,.0f} events/s; here "
              f"{ratio:.2f}x of it " + ("(met)" if ratio >= 1 else f"(missed: needs {1 / ratio:.2f}x faster)")]
    summary = {"events": f["events"], "scanned_events": f["scanned_events"], "accounts": accounts,
               "accounts_out": f["accounts_out"], "signals": f["signals"], "seconds": f"{f['seconds']:.3f}",
               "cpu_seconds": f"{f['cpu_seconds']:.3f}", "rows_per_second": f"{rate:.1f}",
               "goal_ratio": f"{ratio:.3f}", "peak_rss_mb": f"{peak_mb:.1f}"}
    for key in ("ref_window", "ref_full"):
        if f"{key}_seconds" in f:
            summary[f"{key}_seconds"] = f"{f[f'{key}_seconds']:.3f}"
            summary[f"vs_{key}"] = f"{f['seconds'] / f[f'{key}_seconds']:.2f}"
    lines.append("result: " + " ".join(f"{k}={v}" for k, v in summary.items()))
    return "\n".join(lines)


# ---------------------------------------------------------------- command line


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--events", type=int, default=10_000_000, help="usage events (default 10,000,000)")
    p.add_argument("--accounts", type=int, default=100_000, help="accounts (default 100,000)")
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--as-of", type=dt.date.fromisoformat, default=AS_OF, help=f"default {AS_OF}")
    p.add_argument("--profile", choices=("classic", "default"), default="classic")
    p.add_argument("--repeat", type=int, default=1, metavar="K", help="runs; the median is reported")
    p.add_argument("--out", type=Path, default=DEFAULT_OUT, help="scratch folder (default bench/out)")
    p.add_argument("--smoke", action="store_true",
                   help=f"CI check: {SMOKE_EVENTS:,} events, {SMOKE_ACCOUNTS:,} accounts")
    p.add_argument("--no-reference", action="store_true", help="skip the plain GROUP BY references")
    p.add_argument("--clean", action="store_true", help="delete the generated inputs and store afterwards")
    p.add_argument("--child", type=Path, help=argparse.SUPPRESS)  # internal: measure this data file
    args = p.parse_args(argv)
    if args.smoke:
        args.events, args.accounts, args.repeat = SMOKE_EVENTS, SMOKE_ACCOUNTS, 1
    if args.events < 1 or args.accounts < 1 or args.repeat < 1:
        p.error("--events, --accounts and --repeat must be at least 1")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.child:
        figures = child(args.child, profile_name=args.profile, as_of=args.as_of, repeat=args.repeat,
                        reference=not args.no_reference)
        print("child: " + json.dumps(figures), flush=True)
        return 0
    out = args.out.absolute()
    print(f"store: {args.events:,} events, {args.accounts:,} accounts, seed {args.seed}", flush=True)
    db, built = store_for(out, events=args.events, accounts=args.accounts, seed=args.seed)
    print(f"  {'built in ' + format(built, '.1f') + ' s' if built else 'cached'}: {db}", flush=True)
    load = os.getloadavg()[0]
    figures, peak = measure(db, args)
    print(report(figures, accounts=args.accounts, peak_mb=peak, as_of=args.as_of, load=load))
    if args.clean:
        shutil.rmtree(db.parent)
        shutil.rmtree(out / "inputs" / f"parquet-{args.events}ev-{args.accounts}acc-seed{args.seed}-v"
                      f"{import_bench.GENERATOR_VERSION}", ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
