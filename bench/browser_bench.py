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
- **Debian's chromium through Playwright**, one browser context per visitor, 1400x1000 window.
- **Times are taken inside the page**, so Playwright's own round trips are not counted: an init
  script notes ``performance.now()`` at every ``keydown`` and ``pointerdown`` (capture phase), and
  counts the app's finished runs as ``tests/e2e/helpers.py`` does (``RUN_COUNTER``: off
  ``data-test-script-state``, and off the page's websocket for a run whose state change React drew
  in one batch). The end of an interaction is the first animation frame in which a
  run that started after the input has finished (``[data-testid=stApp][data-test-script-state=
  notRunning]``), no element skeleton is left (element code loads lazily) and no element of the
  previous run is still marked stale: the page shows the new numbers and charts. Besides, Python
  waits for the run's ``script_finished`` on the page's own websocket, so it never reads the state
  from before the rerun. A page load runs from the navigation's start (``page.goto``; the
  document's ``performance.timeOrigin``) to that same frame.
- **Page load** per page, *cold* (the first browser to open that page on this server: the first
  page, Portfolio, scores the book; later pages share what it cached, as on a real server),
  *warm* (``--loads`` more new visitors, median; each a new browser context: no cookies, no cached
  script bundle) and *returning* (one more context opens the page, then ``--loads`` times again:
  a new document and Streamlit session each time, the app's bundle from the HTTP cache).
- **Slider move** on Tune weights: ``--moves`` key presses on the focused thumb of the weight
  sliders in turn (arrows: 0.5, Page Up/Down: 10), each giving a weight vector not seen before
  (nothing cached for it).
- **Filter change** on Portfolio: ``--changes`` changes of the Segment and CSM multiselects (pick
  an option in the open list; Backspace in the box removes the last one), a walk that prefers
  filter combinations not seen before and never one that matches no account.

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
import random
import shutil
import statistics
import sys
import tempfile
import time
import urllib.parse
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
for _p in (ROOT, ROOT / "tests", ROOT / "bench"):
    if str(_p) not in sys.path:
        sys.path.insert(0, str(_p))

from load_bench import CHROMIUM, CHROMIUM_ARGS, DONE, _finished, build_demo, pct  # noqa: E402
from wsclient import log_tail, serve  # noqa: E402
from e2e.helpers import NO_RUNS, RAN_SINCE_JS, RUN_COUNTER, RUNS_NOW_JS  # noqa: E402
from ui import plot  # noqa: E402

GOAL_LOAD_S, GOAL_SLIDER_MS, GOAL_FILTER_MS = 2.0, 300.0, 300.0
TIMEOUT_MS = 600_000  # an upper bound (a cold 1M-account page on a loaded machine), not a wait
VIEWPORT = {"width": 1400, "height": 1000}
# (label, URL path) of the pages measured; "Account" gets a deep link to an account of the store
PAGES = [("Portfolio", "/"), ("At risk", "/At_risk"), ("Expansion ready", "/Expansion"),
         ("Account", "/Account"), ("Tune weights", "/Tune_weights"), ("Validation", "/Validation"),
         ("How scores work", "/How_scores_work"), ("Audit", "/Audit"), ("Data", "/Data")]
SMOKE_PAGES = ("Portfolio", "Tune weights")

# the input's time; the finished runs are counted as the browser journeys count them
MARKS_JS = """(() => {
  if (window.__bb) return;
  const bb = window.__bb = {t0: null, t1: null};
  const mark = () => { bb.t0 = performance.now(); };
  addEventListener('keydown', mark, true);
  addEventListener('pointerdown', mark, true);
})();"""

# polled on every animation frame: the first frame that shows the finished run notes its time
SETTLED_JS = f"""n => {{
  const bb = window.__bb;
  const ok = !!bb && {RAN_SINCE_JS}(n)
    && document.querySelector('{DONE}') !== null
    && document.querySelector('[data-testid=stSkeleton]') === null
    && document.querySelector('[data-stale=true]') === null
    && {plot.DRAWN_JS};
  if (ok) bb.t1 = performance.now();
  return ok;
}}"""

# the open list shows only options holding the typed text (and at least one)
FILTERED_JS = """text => {
  const shown = [...document.querySelectorAll('[role=option]')].map(o => o.innerText.trim());
  return shown.length > 0 && shown.every(t => t.toLowerCase().includes(text.toLowerCase()));
}"""


# ---------------------------------------------------------------- one visitor


class Tab:
    """One browser context and its page: one visitor with their own Streamlit session."""

    def __init__(self, context, page, base: str) -> None:
        self.context, self.page, self.base = context, page, base
        self.ws = None
        self.finished = 0  # script_finished messages seen on the page's websocket
        self.page_errors: list[str] = []
        page.on("websocket", self._on_ws)
        page.on("pageerror", lambda exc: self.page_errors.append(str(exc)[:200]))

    @classmethod
    async def open(cls, browser, base: str) -> "Tab":
        context = await browser.new_context(viewport=VIEWPORT)
        context.set_default_timeout(TIMEOUT_MS)
        await context.add_init_script(RUN_COUNTER)
        await context.add_init_script(MARKS_JS)
        return cls(context, await context.new_page(), base)

    def _on_ws(self, ws) -> None:
        self.ws = ws

        def frame(payload: object) -> None:
            if _finished(payload):
                self.finished += 1
        ws.on("framereceived", frame)

    async def close(self) -> None:
        await self.context.close()

    async def problem(self) -> str | None:
        """What is wrong on the page (an exception box, an error, a lost connection), or None."""
        app = self.page.locator("[data-testid=stApp]")
        if (state := await app.get_attribute("data-test-connection-state")) not in (None, "CONNECTED"):
            return f"connection {state}"
        for testid in ("stException", "stAlertContentError"):
            box = self.page.locator(f"[data-testid={testid}]")
            if await box.count():
                return f"{testid}: {(await box.first.inner_text())[:200]}"
        if self.page_errors:
            return f"page error: {self.page_errors[0]}"
        return None

    async def load(self, path: str) -> tuple[float, float]:
        """Open ``path``: (seconds from the navigation's start to the page showing its numbers,
        measured in the page; the same seen from here, for comparison)."""
        started = time.perf_counter()
        await self.page.goto(self.base + path, wait_until="commit", timeout=TIMEOUT_MS)
        await self.page.wait_for_function(SETTLED_JS, arg=NO_RUNS, polling="raf", timeout=TIMEOUT_MS)
        wall = time.perf_counter() - started
        t1 = await self.page.evaluate("window.__bb.t1")
        return t1 / 1000, wall

    async def act(self, action) -> tuple[float, float]:
        """Do ``action`` (an input that reruns the script) and wait for the rerun to finish and
        show: (ms from the input event to the first frame showing it, in the page; ms from here)."""
        before = await self.page.evaluate(f"window.__bb.t0 = null; {RUNS_NOW_JS}")
        finished = self.finished
        started = time.perf_counter()
        async with self.ws.expect_event("framereceived", predicate=_finished, timeout=TIMEOUT_MS):
            await action()
            settle = asyncio.ensure_future(self.page.wait_for_function(
                SETTLED_JS, arg=before, polling="raf", timeout=TIMEOUT_MS))
        await settle
        wall = (time.perf_counter() - started) * 1000
        t0, t1 = await self.page.evaluate("[window.__bb.t0, window.__bb.t1]")
        if t0 is None or self.finished <= finished:
            raise RuntimeError("the input or the rerun was not seen")
        return t1 - t0, wall


# ---------------------------------------------------------------- what is measured


@dataclass
class Figures:
    loads: dict[str, tuple[float, list[float]]] = field(default_factory=dict)  # page: cold s, warm s
    returning: dict[str, list[float]] = field(default_factory=dict)  # page: reloads in one context, s
    slider_ms: list[float] = field(default_factory=list)
    filter_ms: list[float] = field(default_factory=list)
    slider_wall_ms: list[float] = field(default_factory=list)
    filter_wall_ms: list[float] = field(default_factory=list)
    load_wall_s: list[float] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


async def page_loads(browser, base: str, pages: list[tuple[str, str]], warm: int, fig: Figures) -> None:
    for label, path in pages:
        times = []
        for _ in range(1 + warm):
            tab = await Tab.open(browser, base)
            try:
                seconds, wall = await tab.load(path)
                if problem := await tab.problem():
                    fig.problems.append(f"load {label}: {problem}")
                times.append(seconds)
                fig.load_wall_s.append(wall)
            finally:
                await tab.close()
        fig.loads[label] = (times[0], times[1:])
        again = await returning_loads(browser, base, path, warm, label, fig) if warm else []
        fig.returning[label] = again
        print(f"  {label:<16} cold {times[0]:6.2f} s, warm {_fmt(times[1:])} s, returning {_fmt(again)} s",
              flush=True)


async def returning_loads(browser, base: str, path: str, count: int, label: str, fig: Figures) -> list[float]:
    """A returning visitor: one browser context opens the page once, then ``count`` more times
    (each a new document, websocket and Streamlit session, as a reload or a bookmark is); the
    app's script bundle then comes from the browser's HTTP cache, as it does for people who use
    the app every day."""
    tab = await Tab.open(browser, base)
    try:
        await tab.load(path)
        times = []
        for _ in range(count):
            seconds, _ = await tab.load(path)
            if problem := await tab.problem():
                fig.problems.append(f"returning load {label}: {problem}")
            times.append(seconds)
        return times
    finally:
        await tab.close()


def _fmt(values: list[float]) -> str:
    return " ".join(f"{v:.2f}" for v in values) or "-"


KEYS = {"ArrowRight": 0.5, "ArrowLeft": -0.5, "PageUp": 10.0, "PageDown": -10.0}


async def slider_moves(browser, base: str, moves: int, rng: random.Random, fig: Figures) -> None:
    tab = await Tab.open(browser, base)
    try:
        await tab.load("/Tune_weights")
        sliders = []
        for el in await tab.page.get_by_test_id("stSlider").all():
            label = await el.get_by_test_id("stWidgetLabel").inner_text()
            if not label.startswith("Blend"):  # the weight sliders, not the suggestion's blend
                sliders.append((label.strip(), el.locator("input[type=range]")))
        if not sliders:
            shown = (await tab.page.get_by_test_id("stMain").inner_text())[:1500]
            raise RuntimeError(f"no weight slider on Tune weights ({await tab.problem()}); the page shows:\n{shown}")
        top = float(await sliders[0][1].get_attribute("max") or 100)
        values = [float(await thumb.input_value()) for _, thumb in sliders]
        seen = {tuple(values)}
        for i in range(moves):
            k = i % len(sliders)
            label, thumb = sliders[k]
            options = []
            for key, step in KEYS.items():
                new = min(top, max(0.0, values[k] + step))
                vector = tuple(values[:k] + [new] + values[k + 1:])
                if new != values[k] and vector not in seen:
                    options.append((key, new, vector))
            if not options:
                fig.notes.append(f"slider {label}: no new value reachable, skipped")
                continue
            key, new, vector = rng.choice(options)
            await thumb.focus()
            ms, wall = await tab.act(lambda: thumb.press(key))
            got = float(await thumb.input_value())
            if got != new:
                fig.problems.append(f"slider {label}: {key} gave {got}, expected {new}")
            values[k] = got
            seen.add(tuple(values))
            if problem := await tab.problem():
                fig.problems.append(f"slider {label}: {problem}")
            fig.slider_ms.append(ms)
            fig.slider_wall_ms.append(wall)
            print(f"  move {i + 1:>2}: {label[:34]:<34} {key:<10} -> {got:5.1f}  {ms:7.0f} ms", flush=True)
    finally:
        await tab.close()


def filter_facts(db: Path) -> tuple[list[str], dict[str, set[str]]]:
    """Segments, and per segment the CSMs working in it (read before the server starts)."""
    import duckdb

    con = duckdb.connect(str(db), read_only=True)
    try:
        pairs = con.execute("SELECT DISTINCT segment, csm_owner FROM accounts WHERE segment <> '' "
                            "AND csm_owner <> '' AND segment IS NOT NULL AND csm_owner IS NOT NULL").fetchall()
    finally:
        con.close()
    by_segment: dict[str, set[str]] = {}
    for segment, csm in pairs:
        by_segment.setdefault(segment, set()).add(csm)
    return sorted(by_segment), by_segment


def _matches(segments: list[str], csms: list[str], by_segment: dict[str, set[str]]) -> bool:
    """Whether any account passes the filter (each multiselect: any of its values)."""
    segs = segments or list(by_segment)
    return not csms or any(c in by_segment[s] for s in segs for c in csms)


async def filter_changes(browser, base: str, changes: int, facts, rng: random.Random, fig: Figures) -> None:
    segments_all, by_segment = facts
    csms_all = sorted(set().union(*by_segment.values())) if by_segment else []
    if not segments_all or not csms_all:
        raise RuntimeError("the store has no segment or CSM to filter on")
    tab = await Tab.open(browser, base)
    page = tab.page
    try:
        await tab.load("/")

        def box(label: str):
            name = page.get_by_test_id("stWidgetLabel").get_by_text(label, exact=True)
            return page.get_by_test_id("stMultiSelect").filter(has=name)

        chosen: dict[str, list[str]] = {"Segment": [], "CSM": []}
        seen = {((), ())}
        for i in range(changes):
            moves = []  # (widget, add or None to remove the last, resulting state)
            for label, pool in (("Segment", segments_all), ("CSM", csms_all)):
                now = chosen[label]
                if len(now) < 2:
                    for value in pool:
                        if value not in now:
                            moves.append((label, value, {**chosen, label: now + [value]}))
                if now:
                    moves.append((label, None, {**chosen, label: now[:-1]}))
            moves = [m for m in moves if _matches(m[2]["Segment"], m[2]["CSM"], by_segment)]
            fresh = [m for m in moves if (tuple(sorted(m[2]["Segment"])), tuple(sorted(m[2]["CSM"]))) not in seen]
            label, value, state = rng.choice(fresh or moves)
            widget = box(label)
            entry = widget.locator("input")
            if value is None:
                await entry.focus()
                ms, wall = await tab.act(lambda: entry.press("Backspace"))
                what = f"remove {chosen[label][-1]}"
            else:
                await entry.click()  # opens the list
                await entry.fill(value)  # narrows the list (long CSM lists are virtualised)
                # the list narrows a moment after the typing: clicking before that would hit
                # whatever option (e.g. "Select all") is drawn where the wanted one was found
                await page.wait_for_function(FILTERED_JS, arg=value, polling="raf", timeout=TIMEOUT_MS)
                option = page.get_by_role("option", name=value, exact=True)
                ms, wall = await tab.act(lambda: option.click())
                what = f"add {value}"
            await page.keyboard.press("Escape")  # close the list, as a person would
            chosen = state
            seen.add((tuple(sorted(state["Segment"])), tuple(sorted(state["CSM"]))))
            if problem := await tab.problem():
                fig.problems.append(f"filter {label} {what}: {problem}")
            query = urllib.parse.parse_qs(urllib.parse.urlsplit(page.url).query)
            for lab, param in (("Segment", "segment"), ("CSM", "csm")):
                if sorted(query.get(param, [])) != sorted(chosen[lab]):
                    fig.problems.append(f"filter {label} {what}: the link has {param}={query.get(param, [])}, "
                                        f"expected {chosen[lab]}")
            fig.filter_ms.append(ms)
            fig.filter_wall_ms.append(wall)
            print(f"  change {i + 1:>2}: {label:<8}{what[:40]:<42}{ms:7.0f} ms", flush=True)
    finally:
        await tab.close()


async def measure(base: str, pages: list[tuple[str, str]], args: argparse.Namespace, facts) -> Figures:
    from playwright.async_api import async_playwright

    fig = Figures()
    rng = random.Random(args.seed)
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            phases = [("page loads (cold: the first browser on the page; warm: new visitors after it; "
                       "returning: the same visitor again, the app's bundle cached)",
                       page_loads(browser, base, pages, args.loads, fig)),
                      (f"slider moves on Tune weights ({args.moves})",
                       slider_moves(browser, base, args.moves, rng, fig)),
                      (f"filter changes on Portfolio ({args.changes})",
                       filter_changes(browser, base, args.changes, facts, rng, fig))]
            for title, phase in phases:
                print(title, flush=True)
                try:
                    await phase
                except Exception as exc:  # one phase broke: say so, measure the others
                    fig.problems.append(f"{title.split(' (')[0]} stopped: {type(exc).__name__}: "
                                        f"{str(exc)[:300]}")
                    print(f"  stopped: {type(exc).__name__}: {str(exc)[:300]}", flush=True)
        finally:
            await browser.close()
    return fig


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
