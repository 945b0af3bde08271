"""Page benchmark: how long one person waits for a page, a slider move and a filter change.

One real ``streamlit run app.py`` server, one scripted session at a time (``tests/wsclient.py``:
the browser's own websocket protocol, so the figure is the server's rerun plus the transport,
without a browser's rendering), on a demo store built here (``--accounts``) or a copy of a given
one (``--db``). Measured:

- **page load**, per page: a new session opening the page's URL, cold (first time the server sees
  that data version and profile: it scores the book, prepares the what-if and the backtest) and
  warm (a second session: the caches answer);
- **slider move** on Tune weights: ``--moves`` new weights, one slider at a time, each a new
  proposal (nothing cached for it): the issue's goal is a median under 50 ms, the 90th percentile
  under 100 ms, and under 100 KB sent per rerun;
- **filter change** on Portfolio (the segment filter).

Prints a table and ends with one ``result:`` line. The machine's load average is printed first:
other work on the two cores shows directly in these times.
"""
from __future__ import annotations

import argparse
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from wsclient import Session, serve  # noqa: E402

PAGES = [("Portfolio", "/"), ("At risk", "/At_risk"), ("Expansion ready", "/Expansion"),
         ("Tune weights", "/Tune_weights"), ("Validation", "/Validation"),
         ("How scores work", "/How_scores_work"), ("Data", "/Data")]
GOAL_MEDIAN_MS, GOAL_P90_MS, GOAL_KB = 50.0, 100.0, 100.0


def pct(values: list[float], q: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, int(round(q * (len(s) - 1))))]


def build(args: argparse.Namespace, folder: Path) -> Path:
    db = folder / "cs.duckdb"
    if args.db:
        shutil.copyfile(args.db, db)
        state = Path(args.db).with_name(Path(args.db).stem + ".state.sqlite")
        if state.exists():
            shutil.copyfile(state, folder / "cs.state.sqlite")
    else:
        subprocess.run([sys.executable, "-m", "scoring", "demo", "--accounts", str(args.accounts),
                        "--db", str(db)], cwd=ROOT, check=True, stdout=subprocess.DEVNULL)
    return db


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--accounts", type=int, default=2000, help="demo size to build (default 2000)")
    ap.add_argument("--db", help="measure a copy of this data file instead of a new demo")
    ap.add_argument("--moves", type=int, default=15, help="slider moves measured (default 15)")
    args = ap.parse_args(argv)
    print(f"page bench: load average {os.getloadavg()[0]:.2f}, 2 vCPUs shared with other work")
    rng = random.Random(7)
    with tempfile.TemporaryDirectory(prefix="page-bench-") as tmp:
        folder = Path(tmp)
        db = build(args, folder)
        log = folder / "server.log"
        with serve(db, folder / "cs.state.sqlite", log=log, start_timeout=300) as base:
            rows = []
            for label, url in PAGES:
                cold = warm = None
                for attempt in ("cold", "warm"):
                    with Session(base, timeout=900) as s:
                        run = s.open(url)
                        if not run.ok:
                            print(f"  {label}: page error {run.exceptions or run.errors}")
                        t = run.interaction_seconds
                        kb = run.wire_bytes / 1024
                        if attempt == "cold":
                            cold = (t, kb)
                        else:
                            warm = (t, kb)
                rows.append((label, cold, warm))
            print(f"{'page':<18}{'cold load s':>12}{'warm load s':>12}{'KB':>8}")
            for label, cold, warm in rows:
                print(f"{label:<18}{cold[0]:>12.2f}{warm[0]:>12.2f}{warm[1]:>8.1f}")

            with Session(base, timeout=600) as s:
                run = s.open("/Tune_weights")
                sliders = sorted(k for k, e in run.widgets.items() if e.kind == "slider" and k.startswith("w."))
                if not sliders:
                    sliders = sorted(k for k, e in run.widgets.items() if e.kind == "slider")
                moves, kbs = [], []
                for i in range(args.moves):
                    key = sliders[i % len(sliders)]
                    run = s.set_widget(key, round(rng.uniform(0, run.widgets[key].proto.max) * 2) / 2)
                    moves.append(run.interaction_seconds * 1000)
                    kbs.append(run.wire_bytes / 1024)
            with Session(base, timeout=600) as s:
                run = s.open("/")
                seg = next((k for k, e in run.widgets.items() if "segment" in k), None)
                filters = []
                if seg is not None:
                    options = list(run.widgets[seg].proto.options)
                    for i in range(6):
                        pick = [options[i % len(options)]] if run.widgets[seg].kind == "multiselect" else options[i % len(options)]
                        run = s.set_widget(seg, pick)
                        filters.append(run.interaction_seconds * 1000)
    med, p90, kb = statistics.median(moves), pct(moves, 0.9), statistics.median(kbs)
    print(f"slider move (Tune weights, {len(moves)} new proposals): median {med:.0f} ms, "
          f"p90 {p90:.0f} ms, {kb:.1f} KB per rerun; goals {GOAL_MEDIAN_MS:.0f} / {GOAL_P90_MS:.0f} ms, "
          f"{GOAL_KB:.0f} KB: median {med / GOAL_MEDIAN_MS:.1f}x the goal")
    if filters:
        print(f"filter change (Portfolio segment): median {statistics.median(filters):.0f} ms, "
              f"p90 {pct(filters, 0.9):.0f} ms")
    print(f"result: slider_median_ms={med:.1f} slider_p90_ms={p90:.1f} slider_kb={kb:.1f} "
          + (f"filter_median_ms={statistics.median(filters):.1f} " if filters else "")
          + " ".join(f"load_{label.replace(' ', '_').lower()}_s={warm[0]:.2f}" for label, _, warm in rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
