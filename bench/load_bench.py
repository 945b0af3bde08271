"""Load benchmark: a few real browsers and about twenty scripted sessions working the app at once.

Why it is shaped like this:

- **One real server, as people get it.** ``streamlit run app.py`` in a subprocess on a demo store
  built for the run in a temporary folder (``python -m scoring demo --accounts N``), the app's own
  ``.streamlit/config.toml`` (XSRF protection, host allow-list) included. Nothing reads ``data/``.
- **Two kinds of client.** Browsers (``bench/load_browser.py``: Playwright driving Debian's
  chromium) measure what a person waits for, from the click or the address bar to the page
  showing its numbers. Scripted sessions (``tests/wsclient.py``) speak the websocket protocol
  without rendering, so a 2-core machine can run twenty of them; their time is from sending the
  rerun to ``script_finished`` (plus the handshake on a page load).
- **Journeys, not single pages.** Each session repeats journeys people make: a manager filtering
  the portfolio, a CSM working the at-risk and expansion lists and opening accounts, a deep link
  to an account, a what-if on the weights, the reference pages. All read only: nothing is saved,
  marked or exported, so every session sees the same data throughout. A journey whose page is
  not in the app (yet) is skipped.
- **Figures and ratios.** Before the window every scripted journey runs once in one session,
  and the browser journey once in one browser, with nothing else running: the "alone" medians.
  The summary (``bench/load_report.py``) prints the loaded medians and 95th percentiles next to
  them, and their ratio.
- **Errors are counted, never retried:** an exception or ``st.error`` on the page, a run that does
  not finish, a closed connection, a page not found. The run exits 1 when there is any.
- **Think time** (``--think``, default 1 s, each pause 0.5x-1.5x of it, seeded) paces sessions as
  people; 0 makes it a closed loop that measures saturation instead.

The summary ends with one machine-readable line starting with ``result:`` (``key=value`` pairs).
This module keeps the scripted journeys, the command line and the run; what all parts share
(``Facts``, ``Interaction``, ``query``) is in ``bench/load_facts.py``, so no module imports the
one that imports it. ``tests/test_sessions.py`` replays the scripted journeys (``scripted_load``)
in its smoke run.
"""
from __future__ import annotations

import argparse
import asyncio
import functools
import os
import random
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
for _p in (ROOT, ROOT / "tests", ROOT / "bench"):
    if str(_p) not in sys.path:
        sys.path.insert(0, str(_p))

from scoring.portfolio import SECTIONS  # noqa: E402  (the Portfolio's tabs)
from wsclient import DONE_STATUSES, Run, Session, log_tail, serve  # noqa: E402  (needs the path above)
from load_facts import Facts, Interaction, query  # noqa: E402  (bench/, the path above)
from load_browser import browser_load  # noqa: E402
from load_report import Summary, report  # noqa: E402

REFERENCE_PAGES = ("How_scores_work", "Data", "Audit", "Validation")


# ---------------------------------------------------------------- scripted journeys

Step = tuple[str, Run]
Journey = Callable[[Session, Facts, random.Random], Iterator[Step]]


def manager(s: Session, f: Facts, rng: random.Random) -> Iterator[Step]:
    yield "portfolio", s.open("/" + query(segment=rng.choice([None, *f.segments]),
                                          by=rng.choice(["CSM", "Segment"]), view=rng.choice(SECTIONS)))
    yield "filter segment", s.set_widget("segment", rng.sample(f.segments, rng.randint(1, 2)))
    yield "filter csm", s.set_widget("csm", rng.sample(f.csms, 1))
    yield "clear csm", s.set_widget("csm", [])
    yield "account", s.goto("Account", query(account=rng.choice(f.accounts)))


def _work_list(path: str) -> Journey:
    def journey(s: Session, f: Facts, rng: random.Random) -> Iterator[Step]:
        run = s.open(f"/{path}")
        yield path.lower(), run
        owners = list(run.widgets["owner"].proto.options)
        yield "owner", s.set_widget("owner", rng.choice(owners))
        yield "capacity", s.set_widget("capacity", rng.choice([5, 10, 25, 50]))
        yield "account", s.goto("Account", query(account=rng.choice(f.accounts)))
    return journey


def deep_link(s: Session, f: Facts, rng: random.Random) -> Iterator[Step]:
    yield "account link", s.open("/Account" + query(account=rng.choice(f.accounts)))
    yield "rerun", s.rerun()
    yield "portfolio", s.goto("", query(region=rng.choice(f.regions)).lstrip("?"))


def what_if(s: Session, f: Facts, rng: random.Random) -> Iterator[Step]:
    run = s.open("/Tune_weights")
    yield "tune weights", run
    sliders = sorted(k for k, e in run.widgets.items() if e.kind == "slider")
    for key in rng.sample(sliders, min(2, len(sliders))):
        top = run.widgets[key].proto.max
        run = s.set_widget(key, round(rng.uniform(0, top) * 2) / 2)  # the slider's 0.5 steps
        yield "move weight", run


def reference(s: Session, f: Facts, rng: random.Random, *, pages: int = 2) -> Iterator[Step]:
    present = sorted(p for p in REFERENCE_PAGES if p in f.pages)
    for page in rng.sample(present, min(pages, len(present))):
        yield page.lower(), s.open(f"/{page}")


# (name, the pages it needs, journey, weight)
JOURNEYS: tuple[tuple[str, tuple[str, ...], Journey, int], ...] = (
    ("manager", ("", "Account"), manager, 3),
    ("at risk", ("At_risk", "Account"), _work_list("At_risk"), 3),
    ("expansion", ("Expansion", "Account"), _work_list("Expansion"), 2),
    ("deep link", ("Account", ""), deep_link, 2),
    ("what-if", ("Tune_weights",), what_if, 1),
    ("reference", (), reference, 1),
)


def journeys_for(facts: Facts) -> list[tuple[str, Journey, int]]:
    out = [(name, fn, w) for name, needs, fn, w in JOURNEYS if all(p in facts.pages for p in needs)]
    if sum(p in facts.pages for p in REFERENCE_PAGES) < 2:
        out = [j for j in out if j[0] != "reference"]
    return out




def check(run: Run) -> str | None:
    """Why this run counts as an error, or None."""
    if run.status not in DONE_STATUSES:
        return f"script {run.status or 'did not finish'}"
    for what in (run.exceptions, run.errors, run.problems):
        if what:
            return what[0][:200]
    return None


def run_journey(base: str, name: str, journey: Journey, facts: Facts, rng: random.Random, *,
                until: float, think: float, record: Callable[[Interaction], None]) -> None:
    """One journey in a new session, each interaction recorded; an error ends the journey."""
    session = Session(base, timeout=120)
    steps = journey(session, facts, rng)
    try:
        while time.monotonic() < until:
            started = time.perf_counter()
            try:
                step, run = next(steps)
            except StopIteration:
                break
            except Exception as exc:  # the journey broke: one error, then a new journey
                record(Interaction("scripted", name, "?", time.perf_counter() - started,
                                   f"{type(exc).__name__}: {exc}"[:200]))
                break
            record(Interaction("scripted", name, step, run.interaction_seconds, check(run),
                               run.payload_bytes, 1))
            if think:
                time.sleep(rng.uniform(0.5, 1.5) * think)  # a person reading, not a wait
    finally:
        steps.close()
        session.close()


def scripted_session(base: str, facts: Facts, *, seed: int, until: float, think: float,
                     out: list[Interaction], lock: threading.Lock) -> None:
    """One scripted session doing weighted-random journeys until ``until`` (monotonic)."""
    rng = random.Random(seed)
    names, fns, weights = zip(*journeys_for(facts))

    def record(got: Interaction) -> None:
        with lock:
            out.append(got)

    while time.monotonic() < until:
        i = rng.choices(range(len(fns)), weights)[0]
        run_journey(base, names[i], fns[i], facts, rng, until=until, think=think, record=record)


def scripted_alone(base: str, facts: Facts, *, seed: int = 7) -> list[Interaction]:
    """Every journey once, one session at a time and nothing else running: the times to
    compare the loaded ones with."""
    out: list[Interaction] = []
    rng = random.Random(seed)
    for name, fn, _ in journeys_for(facts):
        if fn is reference:  # every reference page, so each step has its time alone
            fn = functools.partial(reference, pages=len(REFERENCE_PAGES))
        run_journey(base, name, fn, facts, rng, until=float("inf"), think=0, record=out.append)
    return out


def scripted_load(base: str, facts: Facts, *, sessions: int, seconds: float, think: float = 0.0,
                  seed: int = 7) -> list[Interaction]:
    """``sessions`` scripted sessions in threads, working the journeys for ``seconds``."""
    out: list[Interaction] = []
    lock = threading.Lock()
    until = time.monotonic() + seconds
    threads = [threading.Thread(target=scripted_session, name=f"scripted-{i}", daemon=True,
                                kwargs=dict(base=base, facts=facts, seed=seed * 1000 + i, until=until,
                                            think=think, out=out, lock=lock))
               for i in range(sessions)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return out


def discover_pages(base: str) -> set[str]:
    with Session(base) as s:
        s.open("/")
        return set(s.pages)



# ---------------------------------------------------------------- command line


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seconds", type=float, default=120, help="length of the measured window (default 120)")
    p.add_argument("--accounts", type=int, default=2000, help="demo accounts (default 2,000)")
    p.add_argument("--browsers", type=int, default=4, help="real browser sessions (default 4; 0: none)")
    p.add_argument("--scripted", type=int, default=20, help="scripted sessions (default 20)")
    p.add_argument("--think", type=float, default=1.0,
                   help="mean pause between a session's interactions, seconds (default 1; 0: none)")
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--db", type=Path, help="use this data file (and the state file beside it) "
                                          "instead of building a demo store")
    p.add_argument("--keep", action="store_true", help="keep the temporary folder (store, server log)")
    args = p.parse_args(argv)
    if args.seconds <= 0 or args.accounts < 1 or args.browsers < 0 or args.scripted < 0:
        p.error("--seconds and --accounts must be positive, --browsers and --scripted at least 0")
    return args


def build_demo(folder: Path, accounts: int) -> tuple[Path, Path]:
    db, state = folder / "cs.duckdb", folder / "cs.state.sqlite"
    env = {k: v for k, v in os.environ.items() if not k.startswith("CS_")}
    env["PYTHONPATH"] = str(ROOT)
    cmd = [sys.executable, "-m", "scoring", "demo", "--accounts", str(accounts), "--db", str(db),
           "--state", str(state)]
    done = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"building the demo store failed:\n{done.stdout}{done.stderr}")
    return db, state


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    folder = Path(tempfile.mkdtemp(prefix="cs-load-"))
    log = folder / "server.log"
    try:
        if args.db:
            db = args.db.absolute()
            state = db.with_name(db.stem + ".state.sqlite")
        else:
            started = time.perf_counter()
            print(f"building a {args.accounts:,}-account demo store in {folder}", flush=True)
            db, state = build_demo(folder, args.accounts)
            print(f"  built in {time.perf_counter() - started:.1f} s", flush=True)
        if str(ROOT) not in sys.path:
            sys.path.insert(0, str(ROOT))
        facts = Facts.of(db)
        with serve(db, state, log=log) as base:
            print(f"server {base} (log {log})", flush=True)
            started = time.perf_counter()
            facts = facts.with_pages(discover_pages(base))
            with Session(base) as s:  # every page once: the first visit scores the book
                for p in sorted(facts.pages):
                    s.open(f"/{p}")
            warm_s = time.perf_counter() - started
            print(f"  pages {sorted(facts.pages)}; warm in {warm_s:.1f} s; journeys: "
                  f"{', '.join(n for n, _, _ in journeys_for(facts))}", flush=True)
            started = time.perf_counter()
            scripted_quiet = scripted_alone(base, facts, seed=args.seed)
            print(f"  every scripted journey once, alone: {time.perf_counter() - started:.1f} s", flush=True)
            browser_out: list[Interaction] = []
            browser_quiet: list[Interaction] = []
            browser_failed: list[str] = []
            ready = threading.Event()

            def drive_browsers() -> None:
                try:
                    loaded, quiet = asyncio.run(browser_load(
                        base, facts, sessions=args.browsers, seconds=args.seconds, think=args.think,
                        seed=args.seed, started=ready))
                    browser_out.extend(loaded)
                    browser_quiet.extend(quiet)
                except Exception as exc:
                    browser_failed.append(f"{type(exc).__name__}: {exc}")
                finally:
                    ready.set()

            thread = None
            if args.browsers:
                thread = threading.Thread(target=drive_browsers, name="browsers", daemon=True)
                thread.start()
                started = time.perf_counter()
                ready.wait()  # the browsers are warm: the measured window starts for everyone
                print(f"  {args.browsers} browser(s) warm, one journey alone, in "
                      f"{time.perf_counter() - started:.1f} s", flush=True)
            load_before = os.getloadavg()[0]
            print(f"working for {args.seconds:.0f} s ...", flush=True)
            scripted_out = scripted_load(base, facts, sessions=args.scripted, seconds=args.seconds,
                                         think=args.think, seed=args.seed)
            if thread is not None:
                thread.join()
            load_after = os.getloadavg()[0]
        browsers = Summary("browser", args.browsers, browser_out, browser_quiet)
        scripted = Summary("scripted", args.scripted, scripted_out, scripted_quiet)
        print(report(args, browsers, scripted, warm_s=warm_s, loads=(load_before, load_after)))
        if browsers.errors or scripted.errors:
            print(f"\nserver log (last lines):\n{log_tail(log)}", file=sys.stderr)
            return 1
        if browser_failed or (args.browsers and not browsers.interactions):
            print(f"error: the browsers did not work: {browser_failed or 'no interaction'}",
                  file=sys.stderr)
            return 1
        return 0
    finally:
        if args.keep:
            print(f"kept {folder}")
        else:
            shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
