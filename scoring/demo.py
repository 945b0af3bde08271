"""``python -m scoring demo``: a seeded, realistic B2B SaaS portfolio, built through the real import.

Why it is shaped like this:

- **Through the front door.** The demo writes the contract's eight import files as Parquet into
  ``demo_inputs/`` beside the data file and loads them with ``ingest.import_dir`` (marked as demo,
  replacing whatever store was there, build-then-swap). So the demo exercises the same rules as a
  user's import, and the files double as sample inputs to read or edit.
- **A hidden truth to check against.** Every account has a hidden, month-by-month health
  (``demo_world``) that drives its churn, contraction, expansion and comebacks, its usage (with a
  lag of about a month and noise, ``demo_usage``), NPS, tickets and late invoices
  (``demo_records``), each with its own weight (``HIDDEN_WEIGHTS``). The truth goes to
  ``demo_truth/`` beside the data file, never into the store, so validation and calibration can be
  judged against it. Hidden health alone reaches a churn ROC AUC of about 0.80 (``hidden_auc``):
  a score built from the data cannot beat it, and a good one gets close.
- **Fixed in time and by the seed.** The data spans 2025-04-01 to 2026-09-30 whatever today is
  (the app's default as-of date is then 2026-10-01); the same seed gives byte-identical input files
  and identical tables. Timestamps have no zone (UTC).
- **Big on demand.** Accounts are simulated in chunks of ``CHUNK`` with their own random stream
  (seed, chunk number), and every file is written chunk by chunk with ``ParquetWriter``, so memory
  stays bounded for 100k or 1M accounts. Usage density: rows on about a third of an account's
  live days, about 3.4 event types by 2.5 users on such a day, so about 1.6 rows per live
  account-day (see ``demo_usage``); the default 2,000 accounts give about 1.4 million usage rows.
"""
from __future__ import annotations

import json
import time
from contextlib import ExitStack
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from . import demo_records as rec
from . import paths
from .demo_usage import UNCLASSIFIED, event_types_table, usage_table
from .demo_world import DATA_END, HIDDEN_WEIGHTS, simulate
from .ingest import Progress, import_dir
from .profiles import ensure_demo_profile
from .schema import TABLES
from .state import StateStore

CHUNK = 2_000  # accounts per simulation chunk: part of what a seed means, so keep it fixed
GENERATION_SHARE = 0.6  # of the progress bar; the import takes the rest
INPUTS_DIR, TRUTH_DIR = "demo_inputs", "demo_truth"
TRUTH_FILE = "hidden_health.parquet"


def build_demo(db: Path, *, accounts: int = 2000, seed: int = 7, progress: Progress | None = None,
               state: Path | None = None) -> dict:
    """Write the demo's import files and hidden truth beside ``db``, then import them into ``db``.

    Returns ``{"accounts", "usage_rows", "seconds", "inputs"}``. Replaces any store at ``db``.
    """
    if accounts < 1:
        raise ValueError(f"accounts={accounts}: expected at least 1")
    started = time.perf_counter()
    say = progress or (lambda what, frac: None)
    db = Path(db)
    inputs, truth = db.parent / INPUTS_DIR, db.parent / TRUTH_DIR
    for folder in (inputs, truth):
        folder.mkdir(parents=True, exist_ok=True)
    for old in inputs.iterdir():  # another format's leftover would make the import ambiguous
        if old.is_file() and old.name.partition(".")[0] in TABLES:
            old.unlink()

    usage_rows = _generate(inputs, truth, accounts=accounts, seed=seed,
                           say=lambda what, f: say(what, f * GENERATION_SHARE))
    # The demo's published profile is the classic example (unless people chose another), set
    # before the import so the history it backfills is scored with it.
    state_file = Path(state) if state else paths.state_path(db)
    ensure_demo_profile(StateStore(state_file))
    import_dir(inputs, db, mark_demo=True, fresh=True, state=state_file,
               progress=lambda what, f: say(what, GENERATION_SHARE + f * (1 - GENERATION_SHARE)))
    return {"accounts": accounts, "usage_rows": usage_rows,
            "seconds": time.perf_counter() - started, "inputs": inputs}


def _generate(inputs: Path, truth: Path, *, accounts: int, seed: int, say: Progress) -> int:
    """Simulate chunk by chunk, appending each table's rows to its file; return usage rows."""
    usage_rows = tickets = invoices = 0
    with ExitStack() as stack:
        writers: dict[str, pq.ParquetWriter] = {}

        def write(path: Path, table: pa.Table) -> None:
            key = str(path)
            if key not in writers:
                writers[key] = stack.enter_context(pq.ParquetWriter(path, table.schema, compression="zstd"))
            writers[key].write_table(table)

        for first in range(0, accounts, CHUNK):
            n = min(CHUNK, accounts - first)
            say(f"simulating accounts {first + 1:,}-{first + n:,}", first / accounts)
            world = simulate(np.random.default_rng([seed % (1 << 64), first // CHUNK]), first, n)
            ids = rec.account_ids(first, n, accounts)
            account_table, names = rec.accounts_table(world, ids)
            write(inputs / "accounts.parquet", account_table)
            write(inputs / "mrr_history.parquet", rec.mrr_table(world, ids))
            write(inputs / "nps_responses.parquet", rec.nps_table(world, ids))
            ticket_table = rec.tickets_table(world, ids, tickets + 1)
            tickets += ticket_table.num_rows
            write(inputs / "support_tickets.parquet", ticket_table)
            invoice_table = rec.invoices_table(world, ids, invoices + 1)
            invoices += invoice_table.num_rows
            write(inputs / "invoices.parquet", invoice_table)
            write(inputs / "contacts.parquet", rec.contacts_table(world, ids, names))
            write(truth / TRUTH_FILE, rec.truth_table(world, ids))
            say(f"writing usage of accounts {first + 1:,}-{first + n:,}", (first + 0.3 * n) / accounts)
            usage = usage_table(world, ids)
            usage_rows += usage.num_rows
            write(inputs / "usage_events.parquet", usage)
        say("writing the event-type catalogue", 1.0)
        pq.write_table(event_types_table(), inputs / "event_types.parquet", compression="zstd")
    (truth / "about.json").write_text(json.dumps({
        "what": "the demo's hidden truth: never imported; for checking scores against",
        "data_end": str(DATA_END), "seed": seed, "accounts": accounts,
        "hidden_weights": HIDDEN_WEIGHTS, "unclassified_event_types": list(UNCLASSIFIED),
    }, indent=2) + "\n", encoding="utf-8")
    return usage_rows


def read_truth(db: Path) -> pd.DataFrame:
    """The hidden health written beside ``db`` by ``build_demo``: account_id, month, hidden_health."""
    return pd.read_parquet(Path(db).parent / TRUTH_DIR / TRUTH_FILE)


def hidden_auc(truth: pd.DataFrame, mrr: pd.DataFrame, *, horizon_days: int = 90,
               data_end: str | np.datetime64 = DATA_END) -> float:
    """Churn ROC AUC of hidden health alone, pooled over monthly as-of dates, as ``validate`` counts.

    For each month start T with T + horizon <= ``data_end``: the accounts active on T (MRR in force
    > 0), each scored by its hidden health of T's month, labelled churned when the MRR in force
    falls to 0 on a date in (T, T + horizon]. The AUC is the probability that a retained account
    has higher health than a churned one (Mann-Whitney on ranks, ties counted half).
    """
    mrr = mrr.assign(effective_date=pd.to_datetime(mrr["effective_date"])).sort_values(
        ["account_id", "effective_date"], kind="stable")
    truth = truth.assign(month=pd.to_datetime(truth["month"]))
    end = pd.Timestamp(data_end)
    scores, churned = [], []
    for as_of in sorted(truth["month"].unique()):
        as_of = pd.Timestamp(as_of)
        until = as_of + pd.Timedelta(days=horizon_days)
        if until > end:
            continue
        in_force = mrr[mrr["effective_date"] <= as_of].groupby("account_id")["mrr"].last()
        active = in_force.index[in_force > 0]
        falls = mrr[(mrr["effective_date"] > as_of) & (mrr["effective_date"] <= until) & (mrr["mrr"] == 0)]
        health = truth[truth["month"] == as_of].set_index("account_id")["hidden_health"]
        health = health.reindex(active)
        keep = health.notna().to_numpy()
        scores.append(health.to_numpy()[keep])
        churned.append(np.isin(active[keep], falls["account_id"].unique()))
    return rank_auc(np.concatenate(scores), np.concatenate(churned))


def rank_auc(score: np.ndarray, churned: np.ndarray) -> float:
    """P(score of a retained > score of a churned), ties half; NaN when one class is empty."""
    churned = np.asarray(churned, dtype=bool)
    n_churned, n_retained = int(churned.sum()), int((~churned).sum())
    if not n_churned or not n_retained:
        return float("nan")
    ranks = pd.Series(score).rank(method="average").to_numpy()
    return float((ranks[~churned].sum() - n_retained * (n_retained + 1) / 2) / (n_retained * n_churned))
