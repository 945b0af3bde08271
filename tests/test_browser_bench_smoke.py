"""The browser benchmark still runs end to end: ``bench/browser_bench.py --smoke`` in a subprocess.

It proves that the benchmark works (a 300-account demo, a real server, Debian's chromium: page
loads, two slider moves, two filter changes) and that it reports numeric figures, never how fast
the machine is: timings here are too noisy to assert on. Skipped, with the reason, when chromium
or Playwright is missing, unless ``CS_REQUIRE_BROWSER=1`` (CI), which makes that a failure (the
rule of ``tests/test_signin_browser.py`` and ``tests/e2e``).
"""
from __future__ import annotations

import math
import os
import subprocess
import sys
from pathlib import Path

from e2e.helpers import require_browser

ROOT = Path(__file__).resolve().parents[1]


def test_smoke_browser_bench_reports_figures() -> None:
    require_browser("browser benchmark")
    env = {k: v for k, v in os.environ.items() if not k.startswith("CS_")}
    proc = subprocess.run([sys.executable, str(ROOT / "bench" / "browser_bench.py"), "--smoke"],
                          capture_output=True, text=True, cwd=ROOT, env=env, timeout=1200)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]

    results = [line for line in proc.stdout.splitlines() if line.startswith("result: ")]
    assert len(results) == 1 and proc.stdout.rstrip().endswith(results[0]), proc.stdout[-2000:]
    figures = dict(pair.split("=", 1) for pair in results[0].removeprefix("result: ").split())
    assert int(figures["accounts"]) == 300
    assert int(figures["problems"]) == 0
    assert int(figures["slider_n"]) == 2 and int(figures["filter_n"]) == 2
    timed = [k for k in figures if k.endswith(("_s", "_ms"))]
    for key in ("load_portfolio_cold_s", "load_portfolio_warm_s", "load_tune_weights_warm_s",
                "load_portfolio_returning_s", "load_tune_weights_returning_s",
                "slider_median_ms", "slider_p90_ms", "filter_median_ms", "filter_p90_ms"):
        assert key in timed, f"{key} missing from {results[0]}"
    for key in timed:
        value = float(figures[key])
        assert math.isfinite(value) and value > 0, f"{key}={figures[key]}"
    for key in ("load_before", "load_after"):
        assert float(figures[key]) >= 0
    assert "load average" in proc.stdout.splitlines()[0]  # printed first
