"""Browser benchmark, what is measured: page loads, slider moves and filter changes, each a phase.

What each phase does, and why:

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

A phase that breaks is noted as a problem and the others still run (``measure``); the figures
collect in ``Figures`` for the table in ``bench/browser_bench.py``.
"""
from __future__ import annotations

import argparse
import random
import urllib.parse
from dataclasses import dataclass, field
from pathlib import Path

from browser_tab import TIMEOUT_MS, Tab
from load_browser import CHROMIUM, CHROMIUM_ARGS

# the open list shows only options holding the typed text (and at least one)
FILTERED_JS = """text => {
  const shown = [...document.querySelectorAll('[role=option]')].map(o => o.innerText.trim());
  return shown.length > 0 && shown.every(t => t.toLowerCase().includes(text.toLowerCase()));
}"""


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

