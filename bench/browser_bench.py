"""Browser benchmark: what a person waits for in a real browser (issue 5's goals).

Goals, on a 100,000-account store: a page load under 2 s; a slider move on Tune weights to the
updated charts and figures under 300 ms; a filter change on Portfolio under 300 ms; and 1M accounts
"still usable" (the figures stated).

How it measures, and why:

- **One real server, as people get it**, started the way ``bench/load_bench.py`` does it
  (``tests/wsclient.serve``: ``streamlit run app.py`` with the app's own ``.streamlit/config.toml``)
  on a store made for the run in a temporary folder: ``python -m scoring demo --accounts N``, or a
  copy of ``--db FILE`` (and the ``.state.sqlite`` beside it). Nothing in the given store or in
  ``data/`` is written.
- **One visitor** (``bench/browser_tab.py``): Debian's chromium through Playwright, one browser
  context per visitor; times are taken inside the page, from the input event (or the
  navigation's start) to the first frame showing the finished run.
- **What is measured** (``bench/browser_measure.py``): page loads (cold, warm, returning), slider
  moves on Tune weights, filter changes on Portfolio.

Prints the load average first (two vCPUs shared with other work show directly in these times), a
table of the figures against the goals, and ends with one machine-readable ``result:`` line
(``key=value`` pairs). ``--smoke``: a 300-account demo, 2 moves, 2 changes, 1 warm load, the
Portfolio and Tune weights pages only (``tests/test_browser_bench_smoke.py``). Exits 1 when a page
shows an error or an interaction did not do what it should.
"""
from __future__ import annotations

import argparse
import asyncio
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
for _p in (ROOT, ROOT / "tests", ROOT / "bench"):
    if str(_p) not in sys.path:
        sys.path.insert(0, str(_p))

from browser_measure import Figures, filter_facts, measure  # noqa: E402
from load_bench import build_demo  # noqa: E402
from load_browser import CHROMIUM  # noqa: E402
from load_report import pct  # noqa: E402
from wsclient import log_tail, serve  # noqa: E402

GOAL_LOAD_S, GOAL_SLIDER_MS, GOAL_FILTER_MS = 2.0, 300.0, 300.0
# (label, URL path) of the pages measured; "Account" gets a deep link to an account of the store
PAGES = [("Portfolio", "/"), ("At risk", "/At_risk"), ("Expansion ready", "/Expansion"),
         ("Account", "/Account"), ("Tune weights", "/Tune_weights"), ("Validation", "/Validation"),
         ("How scores work", "/How_scores_work"), ("Audit", "/Audit"), ("Data", "/Data")]
SMOKE_PAGES = ("Portfolio", "Tune weights")


# ---------------------------------------------------------------- reporting


def report(args: argparse.Namespace, fig: Figures, loads: tuple[float, float]) -> tuple[str, dict]:
    from importlib.metadata import version

    def ratio(value: float, goal: float) -> str:
        return f"{value / goal:.2f}x" + (" (met)" if value < goal else "")

    med = statistics.median
    lines = ["", f"browser benchmark: {args.accounts_label}, chromium {args.chromium_version}, "
             f"{os.cpu_count()} cores, Streamlit {version('streamlit')}, DuckDB {version('duckdb')}, "
             f"Python {platform.python_version()}",
             f"load average (1 min) at the start {loads[0]:.2f}, at the end {loads[1]:.2f}",
             "", f"{'page load':<18}{'cold s':>8}{'warm s':>8}{'goal s':>8}{'warm / goal':>14}"
                 f"{'returning s':>13}{'returning / goal':>18}"]
    for label, (cold, warm) in fig.loads.items():
        w = med(warm) if warm else cold
        again = fig.returning.get(label) or []
        r = f"{med(again):>13.2f}{ratio(med(again), GOAL_LOAD_S):>18}" if again else f"{'-':>13}{'-':>18}"
        lines.append(f"{label:<18}{cold:>8.2f}{w:>8.2f}{GOAL_LOAD_S:>8.1f}{ratio(w, GOAL_LOAD_S):>14}{r}")
    warm_all = {label: (med(w) if w else c) for label, (c, w) in fig.loads.items()}
    worst = max(warm_all, key=warm_all.get) if warm_all else None
    lines += ["", f"{'interaction':<30}{'n':>4}{'median ms':>11}{'p90 ms':>9}{'max ms':>9}{'goal ms':>9}"
              f"{'median / goal':>15}{'p90 / goal':>13}"]
    for name, values, goal in (("slider move (Tune weights)", fig.slider_ms, GOAL_SLIDER_MS),
                               ("filter change (Portfolio)", fig.filter_ms, GOAL_FILTER_MS)):
        if values:
            lines.append(f"{name:<30}{len(values):>4}{med(values):>11.0f}{pct(values, 0.9):>9.0f}"
                         f"{max(values):>9.0f}{goal:>9.0f}{ratio(med(values), goal):>15}"
                         f"{ratio(pct(values, 0.9), goal):>13}")
    lines.append("times in the page: from the input event (navigation start for a load) to the first "
                 "frame showing the finished run; seen from Python (Playwright round trips included): "
                 f"slider median {med(fig.slider_wall_ms or [float('nan')]):.0f} ms, filter median "
                 f"{med(fig.filter_wall_ms or [float('nan')]):.0f} ms")
    for note in fig.notes:
        lines.append(f"note: {note}")
    if fig.problems:
        lines += ["", f"problems ({len(fig.problems)}; the first ten):", *(f"  {p}" for p in fig.problems[:10])]
    summary: dict[str, object] = {"accounts": args.accounts_n, "load_before": f"{loads[0]:.2f}",
                                  "load_after": f"{loads[1]:.2f}"}
    for label, (cold, warm) in fig.loads.items():
        key = label.lower().replace(" ", "_")
        summary[f"load_{key}_cold_s"] = f"{cold:.3f}"
        summary[f"load_{key}_warm_s"] = f"{warm_all[label]:.3f}"
        if fig.returning.get(label):
            summary[f"load_{key}_returning_s"] = f"{med(fig.returning[label]):.3f}"
    if worst:
        summary["load_warm_max_s"] = f"{warm_all[worst]:.3f}"
        summary["load_warm_max_page"] = worst.lower().replace(" ", "_")
    for key, values in (("slider", fig.slider_ms), ("filter", fig.filter_ms)):
        summary[f"{key}_n"] = len(values)
        summary[f"{key}_median_ms"] = f"{med(values):.1f}" if values else "nan"
        summary[f"{key}_p90_ms"] = f"{pct(values, 0.9):.1f}" if values else "nan"
    summary["problems"] = len(fig.problems)
    lines.append("result: " + " ".join(f"{k}={v}" for k, v in summary.items()))
    return "\n".join(lines), summary


# ---------------------------------------------------------------- command line


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--accounts", type=int, default=100_000, help="demo accounts to build (default 100,000)")
    p.add_argument("--db", type=Path, help="measure a copy of this data file (and the .state.sqlite "
                                          "beside it) instead of building a demo")
    p.add_argument("--moves", type=int, default=15, help="slider moves measured (default 15)")
    p.add_argument("--changes", type=int, default=15, help="filter changes measured (default 15)")
    p.add_argument("--loads", type=int, default=3, help="warm loads per page after the cold one (default 3)")
    p.add_argument("--pages", help="comma-separated page labels to load (default: all)")
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--smoke", action="store_true", help="a quick run: 300-account demo, 2 moves, "
                                                        "2 changes, 1 warm load, two pages")
    p.add_argument("--keep", action="store_true", help="keep the temporary folder (store, server log)")
    args = p.parse_args(argv)
    if args.smoke:
        args.accounts, args.moves, args.changes, args.loads = 300, 2, 2, 1
        args.pages = args.pages or ",".join(SMOKE_PAGES)
    if args.accounts < 1 or args.moves < 0 or args.changes < 0 or args.loads < 0:
        p.error("--accounts must be positive; --moves, --changes and --loads at least 0")
    return args


def copy_store(src: Path, folder: Path) -> tuple[Path, Path]:
    db, state = folder / "cs.duckdb", folder / "cs.state.sqlite"
    shutil.copyfile(src, db)
    sibling = src.with_name(src.stem + ".state.sqlite")
    if sibling.exists():
        shutil.copyfile(sibling, state)
    return db, state


def count_accounts(db: Path) -> int:
    import duckdb

    con = duckdb.connect(str(db), read_only=True)
    try:
        return con.execute("SELECT count(*) FROM accounts").fetchone()[0]
    finally:
        con.close()


def chromium_version() -> str:
    import subprocess

    try:
        out = subprocess.run([CHROMIUM, "--version"], capture_output=True, text=True, timeout=30).stdout
        return out.split()[1] if len(out.split()) > 1 else out.strip()
    except (OSError, subprocess.SubprocessError):
        return "?"


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    print(f"browser bench: load average {' '.join(f'{x:.2f}' for x in os.getloadavg())} "
          f"(1, 5, 15 min), {os.cpu_count()} vCPUs shared with other work", flush=True)
    if not Path(CHROMIUM).exists():
        print(f"error: no chromium at {CHROMIUM}", file=sys.stderr)
        return 2
    folder = Path(tempfile.mkdtemp(prefix="cs-browser-bench-"))
    log = folder / "server.log"
    try:
        started = time.perf_counter()
        if args.db:
            print(f"copying {args.db} to {folder}", flush=True)
            db, state = copy_store(args.db.absolute(), folder)
        else:
            print(f"building a {args.accounts:,}-account demo store in {folder}", flush=True)
            db, state = build_demo(folder, args.accounts)
        print(f"  ready in {time.perf_counter() - started:.1f} s", flush=True)
        args.accounts_n = count_accounts(db)
        args.accounts_label = f"{args.accounts_n:,} accounts" + (f" (copy of {args.db})" if args.db else " (demo)")
        args.chromium_version = chromium_version()
        facts = filter_facts(db)
        with serve(db, state, log=log, start_timeout=300) as base:
            import duckdb

            con = duckdb.connect(str(db), read_only=True)  # an account for the deep link
            try:
                account = con.execute("SELECT min(account_id) FROM accounts").fetchone()[0]
            finally:
                con.close()
            wanted = [x.strip() for x in args.pages.split(",")] if args.pages else [lab for lab, _ in PAGES]
            unknown = set(wanted) - {lab for lab, _ in PAGES}
            if unknown:
                raise SystemExit(f"unknown page(s) {sorted(unknown)}; pages: {[lab for lab, _ in PAGES]}")
            pages = [(lab, path + (f"?account={account}" if lab == "Account" else ""))
                     for lab, path in PAGES if lab in wanted]
            print(f"server {base} (log {log})", flush=True)
            load_before = os.getloadavg()[0]
            fig = asyncio.run(measure(base, pages, args, facts))
            load_after = os.getloadavg()[0]
        text, _ = report(args, fig, (load_before, load_after))
        print(text)
        if fig.problems:
            print(f"\nserver log (last lines):\n{log_tail(log)}", file=sys.stderr)
            return 1
        return 0
    finally:
        if args.keep:
            print(f"kept {folder}")
        else:
            shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
