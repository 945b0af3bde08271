"""Load benchmark, shared: the store's facts the journeys pick from, and one interaction's record.

Why a module of its own: the scripted journeys (``bench/load_bench.py``), the browser journeys
(``bench/load_browser.py``) and the reporting (``bench/load_report.py``) all use these, and
``load_bench`` imports the other two; kept here, no module imports the one that imports it.
``Facts`` is read from the store before the server starts (``Facts.of``), then told the app's
pages (``with_pages``), so a journey whose page is not in the app (yet) can be skipped.
"""
from __future__ import annotations

import urllib.parse
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Facts:
    """Filter values and account ids of the store, read before the server starts."""

    csms: tuple[str, ...]
    segments: tuple[str, ...]
    plans: tuple[str, ...]
    regions: tuple[str, ...]
    accounts: tuple[str, ...]  # a spread of ids: active and churned ones
    pages: frozenset[str] = frozenset()  # URL paths of the app's pages ("" = Portfolio)

    @classmethod
    def of(cls, db: Path, *, sample: int = 12) -> "Facts":
        from scoring.store import DataStore

        ds = DataStore(db)
        try:
            def values(column: str) -> tuple[str, ...]:
                return tuple(r[0] for r in ds.rows(
                    f"SELECT DISTINCT {column} FROM accounts WHERE {column} IS NOT NULL "
                    f"AND {column} <> '' ORDER BY 1"))

            ids = [r[0] for r in ds.rows("SELECT account_id FROM accounts ORDER BY account_id")]
            step = max(1, len(ids) // sample)
            return cls(values("csm_owner"), values("segment"), values("plan"), values("region"),
                       tuple(ids[::step][:sample]))
        finally:
            ds.close()

    def with_pages(self, pages: set[str]) -> "Facts":
        return Facts(self.csms, self.segments, self.plans, self.regions, self.accounts,
                     frozenset(pages))


def query(**params: object) -> str:
    """``?a=1&b=x&b=y`` from keyword arguments (lists repeat the key, as bound widgets do)."""
    return "?" + urllib.parse.urlencode({k: v for k, v in params.items() if v not in (None, [])},
                                        doseq=True)



@dataclass(frozen=True)
class Interaction:
    kind: str  # "browser" or "scripted"
    journey: str
    step: str
    seconds: float
    error: str | None = None
    payload_bytes: int = 0  # of the rerun(s) it caused
    reruns: int = 0
