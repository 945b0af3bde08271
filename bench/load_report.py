"""Load benchmark, the reporting: the summary table, times by journey and step, the ``result:`` line.

Why it is shaped like this: the loaded medians and 95th percentiles are printed next to the
"alone" medians (every journey once, nothing else running) and their ratio, so a slowdown reads
directly whatever the machine; errors are counted (the first ten shown), never hidden. The summary
ends with one machine-readable line starting with ``result:`` (``key=value`` pairs). ``pct`` is
nearest rank, also used by ``bench/browser_bench.py`` and ``tests/test_sessions.py``.
"""
from __future__ import annotations

import argparse
import os
import platform
import statistics
from dataclasses import dataclass, field
from importlib import metadata

from load_facts import Interaction


def pct(values: list[float], q: float) -> float:
    """The q-quantile (0..1), nearest rank: the value that q of the values do not exceed."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, int(-(-q * len(ordered) // 1)) - 1))]


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


@dataclass
class Summary:
    kind: str
    sessions: int
    interactions: list[Interaction] = field(default_factory=list)
    alone: list[Interaction] = field(default_factory=list)  # the journeys once, nothing else running

    @property
    def errors(self) -> list[Interaction]:
        return [i for i in self.interactions + self.alone if i.error]

    @property
    def times(self) -> list[float]:
        return [i.seconds for i in self.interactions if not i.error]

    @property
    def alone_times(self) -> list[float]:
        return [i.seconds for i in self.alone if not i.error]

    @property
    def slowdown(self) -> float:
        """Median under load / median alone."""
        return median(self.times) / median(self.alone_times) if self.alone_times else float("nan")

    @property
    def bytes_per_rerun(self) -> float:
        reruns = sum(i.reruns for i in self.interactions)
        return sum(i.payload_bytes for i in self.interactions) / reruns if reruns else float("nan")

    def row(self) -> str:
        t = self.times
        return (f"{self.kind:<10}{self.sessions:>9}{len(self.interactions):>14}{len(self.errors):>8}"
                f"{median(t):>10.2f}{pct(t, 0.95):>9.2f}{max(t) if t else float('nan'):>9.2f}"
                f"{median(self.alone_times):>9.2f}{self.slowdown:>9.1f}x{self.bytes_per_rerun / 1024:>11.1f}")


def by_step(items: list[Interaction], alone: list[Interaction]) -> list[str]:
    def groups(of: list[Interaction]) -> dict[str, list[float]]:
        out: dict[str, list[float]] = {}
        for i in of:
            if not i.error:
                out.setdefault(f"{i.journey} / {i.step}", []).append(i.seconds)
        return out

    loaded, quiet = groups(items), groups(alone)
    return [f"  {name:<34}{len(t):>6}{median(t):>10.2f}{pct(t, 0.95):>9.2f}"
            f"{median(quiet.get(name, [])):>9.2f}" for name, t in sorted(loaded.items())]


def report(args: argparse.Namespace, browsers: Summary, scripted: Summary, *, warm_s: float,
           loads: tuple[float, float]) -> str:
    import duckdb

    lines = [
        "",
        f"load benchmark: {args.accounts:,} accounts, {args.seconds:.0f} s, {browsers.sessions} browser + "
        f"{scripted.sessions} scripted sessions, think {args.think:g} s, {os.cpu_count()} cores, "
        f"Streamlit {metadata.version('streamlit')}, DuckDB {duckdb.__version__}, Python {platform.python_version()}",
        f"load average (1 min) at the start of the window {loads[0]:.2f}, at its end {loads[1]:.2f}; "
        f"warm-up (every page once, scoring the book): {warm_s:.1f} s",
        "times in seconds; browsers: click or address bar to numbers on screen; scripted: rerun sent "
        "to script_finished (+ handshake on a page load); alone: each journey once, nothing else "
        "running; load / alone: the medians' ratio",
        "",
        f"{'kind':<10}{'sessions':>9}{'interactions':>14}{'errors':>8}{'median':>10}{'p95':>9}{'max':>9}"
        f"{'alone':>9}{'/ alone':>10}{'KB/rerun':>11}",
        *([browsers.row()] if browsers.sessions else []),
        scripted.row(),
        "",
        f"  {'by journey / step':<34}{'n':>6}{'median':>10}{'p95':>9}{'alone':>9}",
        *(["  browsers:"] + by_step(browsers.interactions, browsers.alone) if browsers.sessions else []),
        "  scripted:", *by_step(scripted.interactions, scripted.alone),
    ]
    errors = browsers.errors + scripted.errors
    if errors:
        lines += ["", f"errors ({len(errors)}; the first ten):"]
        lines += [f"  {e.kind} {e.journey} / {e.step}: {e.error}" for e in errors[:10]]
    summary = {
        "accounts": args.accounts, "seconds": f"{args.seconds:.0f}", "think": f"{args.think:g}",
        "browsers": browsers.sessions, "scripted": scripted.sessions,
        "load_before": f"{loads[0]:.2f}", "load_after": f"{loads[1]:.2f}",
    }
    for sm in (browsers, scripted):
        summary.update({
            f"{sm.kind}_interactions": len(sm.interactions), f"{sm.kind}_errors": len(sm.errors),
            f"{sm.kind}_median_s": f"{median(sm.times):.3f}", f"{sm.kind}_p95_s": f"{pct(sm.times, 0.95):.3f}",
            f"{sm.kind}_alone_median_s": f"{median(sm.alone_times):.3f}",
            f"{sm.kind}_vs_alone": f"{sm.slowdown:.2f}",
            f"{sm.kind}_bytes_per_rerun": f"{sm.bytes_per_rerun:.0f}"})
    lines.append("result: " + " ".join(f"{k}={v}" for k, v in summary.items()))
    return "\n".join(lines)
