"""Shared test fixtures: small, seeded import folders written in code.

Tests never read the real data file: every test builds its own store under ``tmp_path``, and
``CS_DB``/``CS_STATE`` are cleared so nothing falls back to ``data/cs.duckdb`` by accident.
"""
from __future__ import annotations

import csv
import hashlib
import json
import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# the project (scoring, ui, bench) and bench/ itself: the benches import their sibling modules by
# name, as they do when run as scripts, so a test may import one of them first
for _p in (ROOT, ROOT / "bench"):
    if str(_p) not in sys.path:
        sys.path.insert(0, str(_p))

ACCOUNT_COLS = ["account_id", "name", "segment", "plan", "region", "csm_owner", "crm_id", "arr",
                "seats", "contract_start", "renewal_date"]
EVENT_COLS = ["account_id", "occurred_at", "event_type", "user_id", "quantity"]


@pytest.fixture(autouse=True, scope="session")
def _readable_page_errors():
    """The app redacts error details for people (config.toml); tests want the real message."""
    from streamlit import config

    config.set_option("client.showErrorDetails", "full")
    yield


@pytest.fixture(autouse=True)
def _no_real_store(monkeypatch):
    monkeypatch.delenv("CS_DB", raising=False)
    monkeypatch.delenv("CS_STATE", raising=False)
    monkeypatch.delenv("CS_CRASH_AT", raising=False)


def write_csv(path: Path, header: list[str], rows: list[list]) -> Path:
    """Write an RFC 4180 CSV exactly as a user's export would be."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(header)
        w.writerows(rows)
    return path


def accounts_rows(n: int = 5) -> list[list]:
    return [[f"A{i}", f"Account {i}", "SMB" if i % 2 else "Enterprise", "pro", "EU",
             f"csm{i % 2}@example.com", f"006{i:05d}", 1000.0 * (i + 1), 10 + i, "2024-01-01",
             "2025-12-31"] for i in range(1, n + 1)]


def events_rows(n_accounts: int = 5, per_account: int = 4) -> list[list]:
    return [[f"A{i}", f"2024-06-{d + 1:02d}T09:00:00", "report_generated" if d % 2 else "login",
             f"u{i}", d + 1] for i in range(1, n_accounts + 1) for d in range(per_account)]


@pytest.fixture
def good_dir(tmp_path) -> Path:
    """A valid import folder: accounts and usage events for five accounts."""
    d = tmp_path / "in"
    write_csv(d / "accounts.csv", ACCOUNT_COLS, accounts_rows())
    write_csv(d / "usage_events.csv", EVENT_COLS, events_rows())
    return d


@pytest.fixture
def db(tmp_path) -> Path:
    return tmp_path / "store" / "cs.duckdb"


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def cli(*args: str, env: dict | None = None, cwd: Path | None = None):
    """Run ``python -m scoring`` in a subprocess, as a scheduled job would."""
    import subprocess

    full_env = {k: v for k, v in os.environ.items() if k not in ("CS_DB", "CS_STATE", "CS_CRASH_AT")}
    full_env["PYTHONPATH"] = str(ROOT)
    full_env.update(env or {})
    return subprocess.run([sys.executable, "-m", "scoring", *args], capture_output=True, text=True,
                          env=full_env, cwd=cwd or ROOT, timeout=300)


def chart_figures(at) -> dict[str, dict]:
    """The Plotly charts an AppTest page drew (``ui.plot.show``), by key: each figure as the
    plotly JSON the browser gets (``data``, ``layout``, ``config``)."""
    from ui import plot

    return {e.key: json.loads(json.loads(e.proto.json)["figure"]) for e in at.get("bidi_component")
            if e.proto.component_name == plot.COMPONENT and e.key != plot.PRELOAD_KEY}
