"""Import benchmark: how fast ``python -m scoring import`` loads a large usage log, and at what memory.

Why it is shaped like this:

- **Inputs are generated, seeded and cached.** Accounts (every schema column valid) and
  ``usage_events`` with N rows are written chunk by chunk with pyarrow (``ParquetWriter`` /
  ``CSVWriter``), so generating 100M rows needs no more memory than one chunk. A folder is keyed by
  format, N, accounts, seed and generator version, written under a temporary name and renamed when
  complete, so a rerun reuses it and an interrupted one never leaves a half file that looks whole.
- **Everything measured runs in its own subprocess**, waited for with ``os.wait4``, whose resource
  usage is that one child's: the peak RSS is the whole importing process (Python, DuckDB, Arrow),
  not this script, and one measurement never leaks into the next (``RUSAGE_CHILDREN`` would report
  the maximum over all children so far). Wall time is taken around the child, interpreter start
  included, for the import and the baselines alike.
- **Baselines put the figures in scale.** ``scan``: raw DuckDB aggregating the same file
  (``SELECT count(*), sum(quantity) ... GROUP BY account_id``), the floor for reading it at all.
  ``load``: raw DuckDB copying the file into a new database file and checkpointing, the floor for
  any import that stores the rows. The import does strictly more (checks every value, stages,
  swaps), so the gap to ``load`` is what its checks and staging cost.

``--smoke`` is the CI variant (50k events); ``tests/test_bench_smoke.py`` runs it. The machine-readable
summary line starts with ``result:`` and holds ``key=value`` pairs.
"""
from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pcsv
import pyarrow.parquet as pq

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_OUT = ROOT / "bench" / "out"
GENERATOR_VERSION = 1  # bump when the generated data changes, so cached inputs are rebuilt

TARGET_ROWS_PER_S = 2_000_000
TARGET_PEAK_MB = 2048
SMOKE_EVENTS = 50_000
SMOKE_ACCOUNTS = 1_000
CHUNK_ROWS = 1_000_000  # rows generated and written at a time (also the Parquet row group size)

YEAR_START = dt.datetime(2025, 1, 1)
EVENT_TYPES = (
    "login", "page_view", "dashboard_viewed", "report_generated", "report_exported",
    "search", "filter_applied", "record_created", "record_updated", "comment_added",
    "file_uploaded", "user_invited", "integration_sync", "api_call", "webhook_delivered",
    "alert_configured", "workflow_run", "share_link_created", "settings_changed", "billing_viewed",
)
USERS_PER_ACCOUNT = 50  # user ids come from a pool of this many per account


# ---------------------------------------------------------------- generating inputs


@dataclass(frozen=True)
class Inputs:
    folder: Path
    events_file: Path
    events: int
    accounts: int
    seconds: float  # spent generating now (0 when the cache was used)


def inputs_for(out: Path, *, events: int, accounts: int, fmt: str, seed: int) -> Inputs:
    """The cached input folder for these parameters, generated first when it is not there yet."""
    folder = out / "inputs" / f"{fmt}-{events}ev-{accounts}acc-seed{seed}-v{GENERATOR_VERSION}"
    events_file = folder / f"usage_events.{fmt}"
    if folder.is_dir():
        return Inputs(folder, events_file, events, accounts, 0.0)
    started = time.perf_counter()
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=folder.name + ".partial-", dir=folder.parent))
    try:
        rng = np.random.default_rng(seed)
        ids = _write_accounts(tmp / f"accounts.{fmt}", accounts, rng, fmt)
        _write_events(tmp / f"usage_events.{fmt}", events, ids, rng, fmt)
        tmp.chmod(0o755)  # mkdtemp makes it private; the inputs are not secret
        tmp.rename(folder)  # complete: only now does the cache key exist
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return Inputs(folder, events_file, events, accounts, time.perf_counter() - started)


def _write_accounts(path: Path, n: int, rng: np.random.Generator, fmt: str) -> pa.Array:
    """One valid row per account; names include the awkward cases the contract promises to keep."""
    ids = pa.array([f"ACC-{i:06d}" for i in range(n)])
    awkward = ["Müller & Söhne, GmbH", 'The "Best" Co', "株式会社テスト", "=cmd|' /C calc'!A0",
               "Tab\tand\nnewline Ltd", "+44 Holdings", "@handle Inc", "-minus SA"]
    names = [awkward[i % len(awkward)] + f" {i}" if i % 17 == 0 else f"Account {i}" for i in range(n)]
    start = np.datetime64("2021-01-01") + rng.integers(0, 4 * 365, n).astype("timedelta64[D]")
    years = rng.integers(1, 4, n)
    table = pa.table({
        "account_id": ids,
        "name": pa.array(names),
        "segment": pa.array(rng.choice(["SMB", "Mid-Market", "Enterprise"], n, p=[0.6, 0.3, 0.1])),
        "plan": pa.array(rng.choice(["starter", "pro", "business", "enterprise"], n)),
        "region": pa.array(rng.choice(["EU", "NA", "APAC", "LATAM"], n)),
        "csm_owner": pa.array([f"csm{k}@example.com" for k in rng.integers(0, 40, n)]),
        "crm_id": pa.array([None if i % 10 == 0 else f"006{i:09d}" for i in range(n)]),
        "arr": pa.array(np.round(rng.lognormal(10, 1.2, n), 2)),
        "seats": pa.array(rng.integers(0, 500, n).astype("int64")),
        "contract_start": pa.array(start),
        "renewal_date": pa.array(start + (years * 365).astype("timedelta64[D]")),
    })
    if fmt == "parquet":
        pq.write_table(table, path)
    else:
        pcsv.write_csv(table, path)
    return ids


def _write_events(path: Path, n: int, account_ids: pa.Array, rng: np.random.Generator, fmt: str) -> None:
    """``n`` valid usage events over one year, in time order, written one chunk at a time.

    Activity is skewed as in real products: a few accounts and event types make most events.
    """
    n_acc = len(account_ids)
    acc_p = rng.lognormal(0, 1.5, n_acc)
    acc_p /= acc_p.sum()
    type_p = 1 / np.arange(1, len(EVENT_TYPES) + 1) ** 1.1
    type_p /= type_p.sum()
    types = pa.array(EVENT_TYPES)
    user_pool = pa.array([f"{a}-u{k:02d}" for a in account_ids.to_pylist() for k in range(USERS_PER_ACCOUNT)])
    year_s = 365 * 86400
    t0_us = int(YEAR_START.replace(tzinfo=dt.timezone.utc).timestamp()) * 1_000_000
    n_chunks = max(1, -(-n // CHUNK_ROWS))
    writer = None
    try:
        for c in range(n_chunks):
            rows = min(CHUNK_ROWS, n - c * CHUNK_ROWS)
            acc = rng.choice(n_acc, rows, p=acc_p)
            lo, hi = c * year_s // n_chunks, (c + 1) * year_s // n_chunks  # this chunk's time slice
            secs = np.sort(rng.integers(lo, hi, rows))
            ts = pa.array(t0_us + secs * 1_000_000, type=pa.timestamp("us"))
            user_idx = acc * USERS_PER_ACCOUNT + rng.integers(0, USERS_PER_ACCOUNT, rows)
            user = pc.take(user_pool, pa.array(user_idx))
            user = pc.if_else(pa.array(rng.random(rows) < 0.03), pa.scalar(None, pa.string()), user)
            qty = np.where(rng.random(rows) < 0.8, 1.0, np.round(rng.gamma(2.0, 5.0, rows), 2))
            chunk = pa.table({
                "account_id": pc.take(account_ids, pa.array(acc)),
                "occurred_at": ts if fmt == "parquet" else _iso(ts),
                "event_type": pc.take(types, pa.array(rng.choice(len(EVENT_TYPES), rows, p=type_p))),
                "user_id": user,
                "quantity": pa.array(qty),
            })
            if writer is None:
                writer = (pq.ParquetWriter(path, chunk.schema) if fmt == "parquet"
                          else pcsv.CSVWriter(path, chunk.schema))
            if fmt == "parquet":
                writer.write_table(chunk, row_group_size=CHUNK_ROWS)
            else:
                writer.write_table(chunk)
    finally:
        if writer is not None:
            writer.close()


def _iso(ts: pa.Array) -> pa.Array:
    """Timestamps as a typical export writes them: ``2025-03-01T09:30:00Z``."""
    text = pc.replace_substring(pc.cast(ts.cast(pa.timestamp("s")), pa.string()), " ", "T")
    return pc.binary_join_element_wise(text, pa.scalar("Z"), "")


# ---------------------------------------------------------------- measuring


@dataclass(frozen=True)
class Run:
    seconds: float
    cpu_seconds: float  # user + system, all threads: steadier than wall time on a busy machine
    peak_mb: float
    status: int
    log: Path
    load_before: float  # 1-minute load average when the run started (other work on the machine)


def measure(cmd: list[str], log: Path) -> Run:
    """Run ``cmd`` as a child; its wall time and its own peak RSS (``wait4``), output to ``log``."""
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    for name in ("CS_DB", "CS_STATE", "CS_CRASH_AT"):
        env.pop(name, None)
    log.parent.mkdir(parents=True, exist_ok=True)
    os.sync()  # dirty pages of earlier runs or of generation must not be flushed on this run's clock
    load = os.getloadavg()[0]
    with open(log, "w") as fh:
        started = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=fh, stderr=subprocess.STDOUT, cwd=ROOT, env=env)
        try:
            _, status, usage = os.wait4(proc.pid, 0)
        except BaseException:  # interrupted: do not leave the child running
            proc.kill()
            proc.wait()
            raise
        seconds = time.perf_counter() - started
    proc.returncode = os.waitstatus_to_exitcode(status)  # reaped here, so Popen must not wait again
    cpu = usage.ru_utime + usage.ru_stime
    return Run(seconds, cpu, usage.ru_maxrss / 1024, proc.returncode, log, load)  # ru_maxrss: KiB on Linux


def import_cmd(folder: Path, db: Path) -> list[str]:
    # The data import alone: the weekly score-history backfill that follows an import by default
    # is scoring work, measured by bench/signals_bench.py, not loading.
    return [sys.executable, "-m", "scoring", "import", str(folder), "--db", str(db), "--no-history"]


_BASELINE = """
import sys, time, duckdb
path, kind, fmt, db = sys.argv[1:5]
lit = "'" + path.replace("'", "''") + "'"
src = f"read_parquet({lit})" if fmt == "parquet" else f"read_csv({lit}, header = true)"
con = duckdb.connect(db if kind == "load" else ":memory:")
con.execute("SET enable_progress_bar = false")  # the import draws none either when not on a terminal
t = time.perf_counter()
if kind == "scan":
    rows = con.execute(f"SELECT count(*), sum(quantity) FROM {src} GROUP BY account_id").fetchall()
    n = len(rows)
else:
    con.execute(f"CREATE TABLE usage_events AS SELECT * FROM {src}")
    con.execute("CHECKPOINT")
    n = con.execute("SELECT count(*) FROM usage_events").fetchone()[0]
print(f"{kind}: {n} rows out, {time.perf_counter() - t:.3f} s inside DuckDB")
"""


def baseline_cmd(kind: str, inputs: Inputs, fmt: str, db: Path) -> list[str]:
    return [sys.executable, "-c", _BASELINE, str(inputs.events_file), kind, fmt, str(db)]


def imported_rows(db: Path) -> int:
    import duckdb

    con = duckdb.connect(str(db), read_only=True)
    try:
        return con.execute("SELECT count(*) FROM usage_events").fetchone()[0]
    finally:
        con.close()


def _remove_db(db: Path) -> None:
    for p in db.parent.glob(db.name + "*"):  # the file, its .wal, .lock, .tmp spill folder
        shutil.rmtree(p) if p.is_dir() else p.unlink()


def run_many(label: str, make_cmd: Callable[[], list[str]], k: int, out: Path, db: Path | None, *,
             fresh: bool = True) -> list[Run]:
    """``k`` measured runs of ``make_cmd()``; each starts without ``db`` unless ``fresh`` is False."""
    runs = []
    for i in range(k):
        if db is not None and fresh:
            _remove_db(db)
        run = measure(make_cmd(), out / "logs" / f"{label}-{i + 1}.log")
        if run.status != 0:
            tail = run.log.read_text(errors="replace").strip().splitlines()[-5:]
            raise SystemExit(f"{label} run {i + 1} failed with status {run.status}:\n  " + "\n  ".join(tail))
        runs.append(run)
        print(f"  {label} run {i + 1}/{k}: {run.seconds:.2f} s, {run.cpu_seconds:.2f} cpu-s, "
              f"peak {run.peak_mb:,.0f} MB (load average before: {run.load_before:.2f})", flush=True)
    return runs


# ---------------------------------------------------------------- reporting


def _median(runs: list[Run]) -> tuple[float, float, float]:
    """Median wall seconds, cpu seconds and peak MB (each on its own)."""
    return (statistics.median(r.seconds for r in runs), statistics.median(r.cpu_seconds for r in runs),
            statistics.median(r.peak_mb for r in runs))


def report(inputs: Inputs, fmt: str, imports: list[Run], baselines: dict[str, list[Run]]) -> str:
    n = inputs.events
    secs, cpu, peak = _median(imports)
    rate = n / secs
    size_mb = inputs.events_file.stat().st_size / 2**20
    lines = [
        "",
        f"import benchmark: {n:,} events ({fmt}, {size_mb:,.0f} MB), {inputs.accounts:,} accounts, "
        f"{os.cpu_count()} cores, DuckDB {_duckdb_version()}, Python {platform.python_version()}",
        f"median of {len(imports)} run(s); wall time includes interpreter start; cpu-s = user + system "
        f"over all threads; highest load average before a run: {max(r.load_before for r in imports):.2f}",
        "",
        f"{'what':<16}{'seconds':>10}{'cpu-s':>9}{'rows/s':>14}{'peak MB':>10}{'import / it':>13}",
        f"{'import':<16}{secs:>10.2f}{cpu:>9.2f}{rate:>14,.0f}{peak:>10,.0f}{'1.00x':>13}",
    ]
    for kind, runs in baselines.items():
        b_secs, b_cpu, b_peak = _median(runs)
        lines.append(f"{'baseline ' + kind:<16}{b_secs:>10.2f}{b_cpu:>9.2f}{n / b_secs:>14,.0f}"
                     f"{b_peak:>10,.0f}{secs / b_secs:>12.2f}x")
    ok_rate, ok_peak = rate >= TARGET_ROWS_PER_S, peak < TARGET_PEAK_MB
    lines += [
        "",
        f"target rows/s >= {TARGET_ROWS_PER_S:,}: {rate / TARGET_ROWS_PER_S:.2f}x of target "
        + ("(met)" if ok_rate else f"(missed: needs {TARGET_ROWS_PER_S / rate:.2f}x faster)"),
        f"target peak < {TARGET_PEAK_MB:,} MB: {peak / TARGET_PEAK_MB:.2f}x of the limit "
        + ("(met)" if ok_peak else f"(missed by {peak - TARGET_PEAK_MB:,.0f} MB)"),
    ]
    summary = {"events": n, "format": fmt, "runs": len(imports), "seconds": f"{secs:.3f}",
               "cpu_seconds": f"{cpu:.3f}",
               "rows_per_second": f"{rate:.1f}", "peak_rss_mb": f"{peak:.1f}",
               "target_rate_ratio": f"{rate / TARGET_ROWS_PER_S:.3f}",
               "target_peak_ratio": f"{peak / TARGET_PEAK_MB:.3f}"}
    for kind, runs in baselines.items():
        summary[f"baseline_{kind}_seconds"] = f"{_median(runs)[0]:.3f}"
        summary[f"import_vs_{kind}"] = f"{secs / _median(runs)[0]:.2f}"
    lines.append("result: " + " ".join(f"{k}={v}" for k, v in summary.items()))
    return "\n".join(lines)


def _duckdb_version() -> str:
    import duckdb

    return duckdb.__version__


# ---------------------------------------------------------------- command line


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--events", type=int, default=10_000_000, help="usage events (default 10,000,000)")
    p.add_argument("--accounts", type=int, default=20_000, help="accounts (default 20,000)")
    p.add_argument("--csv", action="store_true",
                   help="write and import the input files as CSV, not Parquet")
    p.add_argument("--repeat", type=int, default=1, metavar="K",
                   help="runs of each measurement; the median is reported")
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--out", type=Path, default=DEFAULT_OUT,
                   help="scratch folder for inputs, logs and the data file (default bench/out)")
    p.add_argument("--smoke", action="store_true",
                   help=f"CI check: {SMOKE_EVENTS:,} events, {SMOKE_ACCOUNTS:,} accounts, one run")
    p.add_argument("--no-baseline", action="store_true", help="measure the import only")
    p.add_argument("--reimport", action="store_true",
                   help="keep the data file between runs, so each run replaces existing tables "
                        "(includes copying the live file); default: every run starts without one")
    p.add_argument("--clean", action="store_true", help="delete the generated inputs and data file afterwards")
    args = p.parse_args(argv)
    if args.smoke:
        args.events, args.accounts, args.repeat = SMOKE_EVENTS, SMOKE_ACCOUNTS, 1
    if args.events < 1 or args.accounts < 1 or args.repeat < 1:
        p.error("--events, --accounts and --repeat must be at least 1")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    fmt = "csv" if args.csv else "parquet"
    out = args.out.absolute()
    db = out / "cs.duckdb"
    print(f"inputs: {args.events:,} events, {args.accounts:,} accounts, {fmt}", flush=True)
    inputs = inputs_for(out, events=args.events, accounts=args.accounts, fmt=fmt, seed=args.seed)
    print(f"  {'generated in ' + format(inputs.seconds, '.1f') + ' s' if inputs.seconds else 'cached'}: "
          f"{inputs.folder}", flush=True)

    if args.reimport and not db.exists():  # the first run creates it; timed runs replace tables
        run_many("import-setup", lambda: import_cmd(inputs.folder, db), 1, out, db)
    imports = run_many("import", lambda: import_cmd(inputs.folder, db), args.repeat, out, db,
                       fresh=not args.reimport)
    got = imported_rows(db)
    if got != args.events:
        print(f"error: the data file holds {got:,} usage events, expected {args.events:,}", file=sys.stderr)
        return 1
    baselines: dict[str, list[Run]] = {}
    if not args.no_baseline:
        scratch = out / "baseline.duckdb"
        for kind in ("scan", "load"):
            baselines[kind] = run_many(f"baseline-{kind}", lambda: baseline_cmd(kind, inputs, fmt, scratch),
                                       args.repeat, out, scratch)
        _remove_db(scratch)
    print(report(inputs, fmt, imports, baselines))
    if args.clean:
        shutil.rmtree(inputs.folder)
        _remove_db(db)
    return 0


if __name__ == "__main__":
    sys.exit(main())
