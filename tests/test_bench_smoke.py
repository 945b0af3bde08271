"""The import benchmark still runs end to end: ``bench/import_bench.py --smoke`` in a subprocess.

It only proves that the benchmark works and that its figures are sane (a positive rate, the
imported row count), never how fast the machine is: CI timings are too noisy to assert on.
"""
from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import duckdb

ROOT = Path(__file__).resolve().parents[1]
SMOKE_EVENTS = 50_000  # what --smoke generates


def test_smoke_benchmark_imports_and_reports(tmp_path: Path) -> None:
    out = tmp_path / "bench"
    cmd = [sys.executable, str(ROOT / "bench" / "import_bench.py"), "--smoke", "--out", str(out)]
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr

    result = next(line for line in proc.stdout.splitlines() if line.startswith("result: "))
    figures = dict(pair.split("=", 1) for pair in result.removeprefix("result: ").split())
    assert float(figures["rows_per_second"]) > 0
    assert float(figures["peak_rss_mb"]) > 0
    assert int(figures["events"]) == SMOKE_EVENTS
    assert re.search(r"^import\s+[0-9.]+\s+[0-9.]+\s+[0-9,]+\s", proc.stdout, re.M)  # the table row

    con = duckdb.connect(str(out / "cs.duckdb"), read_only=True)
    try:
        assert con.execute("SELECT count(*) FROM usage_events").fetchone()[0] == SMOKE_EVENTS
    finally:
        con.close()
