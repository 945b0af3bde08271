"""Scoring benchmark: how fast a weight change re-scores and re-bands a whole book (the what-if path).

Why it is shaped like this:

- **The measured path is the slider's path.** ``scoring.scores.whatif`` on a prepared ``Rescorer``:
  effective shares, ``X0 @ s`` (plus the rows with a missing value), health from the precomputed
  components, band codes, and band counts with the health histogram from one ``np.bincount``.
  Every run uses a new random weight vector, as a moving slider would. The figure is the median
  of many runs.
- **References measured in the same run**, so the ratios survive a busy or different machine:
  numpy ``X @ w`` alone on the same column-major matrix (with a preallocated output, the fastest
  form here), and ``np.bincount`` alone on as many band codes. The goals (issue 3): 1M accounts
  under 30 ms, 100k under 5 ms.
- **Synthetic, seeded inputs**: an inputs frame (docs/SCORING.md) with 6 signals over 4 segments,
  about 2% of signal values missing, and every health column; it is normalised with the real
  ``normalise`` (timed once per size, as is a full ``score_book``) so the matrix has the real layout.

``--smoke`` runs 1k and 10k accounts a few times (``tests/test_scores.py`` runs it). The last line
starts with ``result:`` and holds ``key=value`` pairs.
"""
from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from scoring.normalize import normalise  # noqa: E402
from scoring.profile import Normalisation, Profile, SignalDef  # noqa: E402
from scoring.scores import prepare_rescore, score_book, whatif  # noqa: E402

GOALS_MS = {100_000: 5.0, 1_000_000: 30.0}
METHODS = ("percentile", "percentile", "minmax", "logz", "logz", "grid")
GRID = ((0.0, 0.0), (2.0, 40.0), (10.0, 70.0), (50.0, 90.0), (1e9, 100.0))


def bench_profile() -> Profile:
    sigs = tuple(SignalDef(name=f"s{j}", label=f"Signal {j}", dimension="depth", kind="count",
                           weight=float(j + 1), direction="lower" if j == 3 else "higher",
                           normalisation=Normalisation(m, "book" if j == 2 else "segment",
                                                       GRID if m == "grid" else ()))
                 for j, m in enumerate(METHODS))
    return Profile(name="bench", signals=sigs)


def synthetic_inputs(n: int, seed: int = 7) -> pd.DataFrame:
    """A plausible inputs frame: skewed usage counts, 2% of signal values missing."""
    rng = np.random.default_rng(seed)
    cols: dict[str, np.ndarray] = {"segment": rng.choice(np.array(["SMB", "Mid", "Ent", "Strategic"]), n)}
    for j in range(len(METHODS)):
        v = np.floor(rng.lognormal(2.0, 1.2, n))
        v[rng.random(n) < 0.02] = np.nan
        cols[f"s{j}"] = v
    seats = rng.integers(1, 200, n).astype(float)
    usage = np.floor(rng.lognormal(5, 1, n))
    cols.update(
        seats=seats, age_days=rng.integers(0, 2000, n).astype(float),
        active_days=rng.integers(0, 31, n).astype(float),
        active_users=np.floor(seats * rng.random(n)), usage=usage,
        usage_prev=np.floor(usage * rng.uniform(0.5, 1.5, n)), value_usage=np.floor(usage * rng.random(n)),
        burst=rng.random(n) < 0.01, nps_mean=np.where(rng.random(n) < 0.4, rng.uniform(0, 10, n), np.nan),
        nps_count=rng.integers(0, 5, n).astype(float),
        tickets_open_weighted=rng.poisson(1.0, n).astype(float),
        ticket_sentiment=rng.uniform(-1, 1, n), invoices_overdue=rng.poisson(0.2, n).astype(float),
        days_overdue_max=rng.integers(0, 120, n).astype(float), mrr_now=rng.uniform(50, 5000, n),
        mrr_90d_ago=rng.uniform(0, 5000, n), has_nps=np.ones(n, bool), has_tickets=np.ones(n, bool),
        has_invoices=np.ones(n, bool), has_mrr=np.ones(n, bool))
    return pd.DataFrame(cols, index=pd.Index([f"acc{i:07d}" for i in range(n)], name="account_id"))


def median_ms(fns: dict[str, Callable[[], object]], runs: int) -> dict[str, float]:
    """Median milliseconds of each function, the functions interleaved run by run, so a burst of
    load from elsewhere hits the path and its references alike."""
    for fn in fns.values():
        fn()  # warm-up: first-touch page faults and lazy imports are not the steady state
    times: dict[str, list[float]] = {k: [] for k in fns}
    for _ in range(runs):
        for k, fn in fns.items():
            t0 = time.perf_counter()
            fn()
            times[k].append(time.perf_counter() - t0)
    return {k: 1e3 * statistics.median(v) for k, v in times.items()}


def bench_size(n: int, runs: int, rng: np.random.Generator) -> dict[str, float]:
    prof = bench_profile()
    inputs = synthetic_inputs(n)
    t0 = time.perf_counter()
    norm = normalise(inputs, prof)
    normalise_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    score_book(inputs, norm, prof)
    book_s = time.perf_counter() - t0
    r = prepare_rescore(inputs, norm, prof)
    del inputs
    weights = iter(rng.uniform(0, 10, (runs + 1, len(METHODS))))  # a new vector every run
    out = np.empty(n)
    w = rng.uniform(0, 1, len(METHODS))
    codes = rng.integers(0, 4, n).astype(np.uint8)
    ms = median_ms({"path_ms": lambda: whatif(r, next(weights)),
                    "matvec_ms": lambda: np.dot(norm.filled, w, out=out),
                    "bincount_ms": lambda: np.bincount(codes, minlength=4)}, runs)
    return {"n": n, **ms, "normalise_s": normalise_s, "book_s": book_s}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--smoke", action="store_true", help="1k and 10k accounts, a few runs (CI)")
    ap.add_argument("--runs", type=int, default=None, help="timed runs per figure (default 101; smoke 5)")
    ap.add_argument("--seed", type=int, default=11)
    args = ap.parse_args(argv)
    sizes = (1_000, 10_000) if args.smoke else (100_000, 1_000_000)
    runs = args.runs or (5 if args.smoke else 101)
    rng = np.random.default_rng(args.seed)
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    blas = os.environ.get("OPENBLAS_NUM_THREADS", "default")
    print(f"score bench: numpy {np.__version__}, pandas {pd.__version__}, "
          f"Python {platform.python_version()}, "
          f"{os.cpu_count()} CPUs, load {load:.2f}, OPENBLAS_NUM_THREADS={blas}, {len(METHODS)} signals, "
          f"median of {runs} runs")
    print(f"{'accounts':>10} | {'rescore+bands+histogram ms':>27} | {'X @ w ms':>9} | {'bincount ms':>11} | "
          f"{'path / (X@w + bincount)':>23} | {'goal ms':>7} | {'path / goal':>14} | {'normalise s':>11} | "
          f"{'score_book s':>12}")
    result = []
    for n in sizes:
        f = bench_size(n, runs, rng)
        goal = GOALS_MS.get(n)
        ratio_ref = f["path_ms"] / (f["matvec_ms"] + f["bincount_ms"])
        goal_txt = f"{goal:7.1f}" if goal else f"{'-':>7}"
        vs_goal = (f"{f['path_ms'] / goal:.2f}x ({'met' if f['path_ms'] < goal else 'MISSED'})"
                   if goal else "-")
        print(f"{n:>10,} | {f['path_ms']:27.2f} | {f['matvec_ms']:9.2f} | {f['bincount_ms']:11.2f} | "
              f"{ratio_ref:22.2f}x | {goal_txt} | {vs_goal:>14} | {f['normalise_s']:11.3f} | "
              f"{f['book_s']:12.3f}")
        result += [f"path_ms_{n}={f['path_ms']:.3f}", f"matvec_ms_{n}={f['matvec_ms']:.3f}",
                   f"bincount_ms_{n}={f['bincount_ms']:.3f}", f"normalise_s_{n}={f['normalise_s']:.3f}",
                   f"score_book_s_{n}={f['book_s']:.3f}"]
    print("result: " + " ".join(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
