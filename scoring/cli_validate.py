"""The ``validate`` command, and the plumbing it shares with ``calibrate`` (``cli_calibrate``).

``validate`` reads the data store read-only, resolves the profile as ``score`` does, picks its
as-of dates per the contract (``scoring.outcomes``) and prints a readable report, or with
``--json`` one JSON object (NaN written as null). The report is built once (``build_report``,
``json_ready``) and only then rendered, so the Validation page (``ui.backtest``) shows the very
figures the command prints.

What both commands share lives here and ``cli_calibrate`` imports it (never the other way round,
so there is no import cycle): the as-of, horizon and profile options (``_dated``), the stores
(``_store``), the as-of dates (``_dates``), ``parse_date``, ``json_ready`` and the small text
formatters (``_pct``, ``_num``, ``_ci``, ``_table``, ``_lift``). Dates are parsed here, not by
argparse, so a mistyped date is invalid input (exit 1), like a date without a full horizon.
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import math
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

import numpy as np

from . import cli_args, paths
from .errors import DataError
from .outcomes import HORIZON_DAYS

if TYPE_CHECKING:
    import duckdb

    from .profile import Profile
    from .risk import ChurnRisk
    from .state import StateStore
    from .validate import Backtest, Weights


def add_commands(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    v = sub.add_parser("validate", parents=[common],
                       help="backtest a profile against what happened next")
    _dated(v, "up to 6 monthly dates ending HORIZON days before the newest mrr_history date")
    v.add_argument("--score", choices=("health", "engagement"), default="health",
                   help="the score to judge (default: health)")
    v.add_argument("--capacity", type=cli_args.positive_int, metavar="N",
                   help="CSM capacity list: the N lowest-scored accounts per date "
                        "(default: 10%% of the book)")
    v.add_argument("--json", action="store_true", help="print one JSON object instead of the report")
    v.set_defaults(run=_cmd_validate)


def _dated(p: argparse.ArgumentParser, default: str) -> None:
    p.add_argument("--as-of", nargs="+", action="extend", metavar="DATE",
                   help=f"YYYY-MM-DD (default: {default})")
    p.add_argument("--horizon", type=cli_args.positive_int, default=HORIZON_DAYS, metavar="DAYS",
                   help=f"days after each date in which churn counts (default {HORIZON_DAYS})")
    p.add_argument("--profile", help="NAME or NAME@N (default: the published one)")


def parse_date(text: str, option: str = "--as-of") -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise DataError(f"{option} {text!r}: expected a date YYYY-MM-DD") from None


@contextmanager
def _store(args: argparse.Namespace) -> Iterator[tuple["duckdb.DuckDBPyConnection", "StateStore"]]:
    """A read-only cursor on the data store and the state store, closed afterwards."""
    from .state import StateStore
    from .store import DataStore

    db = paths.db_path(args.db)
    ds = DataStore(db)
    try:
        with ds.cursor() as con:
            yield con, StateStore(paths.state_path(db, args.state))
    finally:
        ds.close()


def _dates(con: "duckdb.DuckDBPyConnection", args: argparse.Namespace, profile: "Profile",
           count: int) -> list[dt.date]:
    """The as-of dates given, else up to ``count`` default ones; checked (``outcomes.check_dates``)."""
    from .outcomes import backtest_dates

    return backtest_dates(con, window_days=profile.window_days, horizon=args.horizon, count=count,
                          given=[parse_date(t) for t in args.as_of or []])


# ---------------------------------------------------------------- validate


def _cmd_validate(args: argparse.Namespace) -> int:
    from .history import resolve_profile
    from .outcomes import require_mrr
    from .risk import fit_churn_risk
    from .validate import backtest_frame

    with _store(args) as (con, state):
        require_mrr(con)
        profile, cat = resolve_profile(con, state, args.profile)
        dates = _dates(con, args, profile, 6)
        bt = backtest_frame(con, profile, dates, horizon=args.horizon, catalogue=cat, score=args.score,
                            capacity=args.capacity)
        risk = fit_churn_risk(con, profile, args.horizon) if args.score == "health" else None
    rep = json_ready(build_report(bt, risk=risk))
    if args.json:
        print(json.dumps(rep, allow_nan=False))
    else:
        print(text_report(rep))
    return 0


def build_report(bt: "Backtest", *, risk: "ChurnRisk | None" = None,
                 weights: "Weights | None" = None) -> dict:
    """Everything ``validate --json`` prints (before ``json_ready``): the pooled figures at the top
    level, ``per_date``, ``signals`` and ``churn_risk`` (``risk``: a fitted ``risk.ChurnRisk``)."""
    from .weight_fit import signal_figures
    from .risk import risk_section
    from .backtest_figures import MIN_BAND_CHURNED, MIN_CHURNED
    from .validate import figures, scores_of

    w = bt.weights if weights is None else weights
    f = figures(bt, w)
    scores = [scores_of(p, w, score=bt.score, bands=bt.profile.bands)[0] for p in bt.dates]
    return {"profile": bt.profile.ref, "score": f"{bt.score}_score", "horizon_days": bt.horizon,
            "as_of": [p.as_of for p in bt.dates], "capacity_per_date": bt.capacity,
            "minimums": {"churned": MIN_CHURNED, "band_churned": MIN_BAND_CHURNED},
            **f["pooled"], "per_date": f["per_date"], "signals": signal_figures(bt),
            "churn_risk": risk_section(risk, scores, [p.churned for p in bt.dates], score=bt.score)}


def json_ready(value: object) -> object:
    """``value`` with NaN/inf as None, numpy scalars as Python ones, dates as ISO text, tuples as
    lists: what ``json.dumps(allow_nan=False)`` accepts."""
    if isinstance(value, dict):
        return {str(k): json_ready(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, np.ndarray)):
        return [json_ready(v) for v in value]
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return float(value) if math.isfinite(value) else None
    if isinstance(value, dt.date):
        return value.isoformat()
    return value


def _pct(x: float | None) -> str:
    return "n/a" if x is None else f"{100 * x:.1f}%"


def _num(x: float | None, fmt: str = ".3f") -> str:
    return "n/a" if x is None else format(x, fmt)


def _ci(ci: list | None, show: Callable[[float | None], str] = _pct) -> str:
    return f" ({show(ci[0])}-{show(ci[1])})" if ci else ""


def _rate(row: dict) -> str:
    if row["churn_rate"] is None:
        return "n/a"
    return f"{_pct(row['churn_rate'])}{_ci(row['churn_rate_ci'])}"


def _table(rows: list[list[str]]) -> list[str]:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return ["  " + "  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in rows]


def _lift(x: float | None) -> str:
    return "n/a" if x is None else f"{x:.1f}x"


def text_report(r: dict) -> str:
    """The readable report of ``validate`` from its JSON-ready dict."""
    out = [f"Backtest of {r['profile']} ({r['score']}), horizon {r['horizon_days']} days, "
           f"{len(r['as_of'])} as-of date(s): {', '.join(r['as_of'])}",
           f"{r['n_accounts']:,} account-dates, {r['n_churned']:,} churned: base rate "
           f"{_pct(r['base_rate'])}{_ci(r['base_rate_ci'])}", ""]
    for section in (_ranking_text, _bands_text, _floors_text, _signals_text):
        out += section(r) + [""]
    return "\n".join(out + _risk_text(r["churn_risk"]) + [""] + _per_date_text(r))


def _ranking_text(r: dict) -> list[str]:
    why = r["reasons"].get("auc")
    cap = r["capacity"]
    size = ("10% of each date's book" if r["capacity_per_date"] is None
            else f"{r['capacity_per_date']} per date")
    return ["Ranking" + (f" ({why})" if why else ""),
            f"  ROC AUC {_num(r['auc'])}{_ci(r['auc_ci'], _num)}: chance a retained account scores "
            "above a churned one (0.5 = a coin)",
            f"  PR AUC  {_num(r['pr_auc'])} (a random order scores about the base rate)",
            f"  churners that were at_risk: {_pct(r['recall_at_risk'])}",
            f"  capacity list ({size}, lowest scores, band new left out): {cap['size']:,} listed, "
            f"{cap['churned']:,} churned: precision {_pct(cap['precision'])}, "
            f"recall {_pct(cap['recall'])}"]


def _bands_text(r: dict) -> list[str]:
    rows = [["band", "accounts", "share", "ARR share", "churned", "churn rate (95% CI)", "lift",
             "expansion", "NRR"]]
    rows += [[name, f"{b['accounts']:,}", _pct(b["share"]), _pct(b["arr_share"]), str(b["churned"]),
              _rate(b), _lift(b["lift"]), _pct(b["expansion_rate"]), _pct(b["nrr"])]
             for name, b in r["bands"].items()]
    deciles = [["decile", "score", "accounts", "churned", "churn rate (95% CI)", "lift"]]
    deciles += [[str(d["decile"]), f"{d['score_min']:.1f}-{d['score_max']:.1f}", str(d["accounts"]),
                 str(d["churned"]), _rate(d), _lift(d["lift"])] for d in r["deciles"]]
    return ["Bands"] + _table(rows) + ["", "Score deciles (1 = lowest score)"] + _table(deciles)


def _floors_text(r: dict) -> list[str]:
    out = ["Floors"]
    for f in r["floors"]:
        mark = {True: "PASS", False: "FAIL", None: "n/a "}[f["passed"]]
        value = {"at_risk_lift": _lift(f["value"]), "auc": _num(f["value"])}.get(f["name"], _pct(f["value"]))
        why = f" ({f['reason']})" if f["passed"] is None else ""
        out.append(f"  {mark}  {f['floor']}: {value}{why}")
    return out


def _signals_text(r: dict) -> list[str]:
    rows = [["signal", "direction", "AUC (95% CI)", "verdict"]]
    rows += [[s["signal"], s["direction"], _num(s["auc"]) + _ci(s["auc_ci"], _num),
              s["verdict"] or s.get("reason", "")] for s in r["signals"]]
    return ["Signals, each on its own (normalised value, direction applied, as the score)"] + _table(rows)


def _per_date_text(r: dict) -> list[str]:
    rows = [["as-of", "accounts", "churned", "AUC", "at_risk lift", "healthy share", "recall at capacity"]]
    rows += [[d["as_of"], f"{d['n_accounts']:,}", str(d["n_churned"]), _num(d["auc"]),
              _lift(d["bands"]["at_risk"]["lift"]), _pct(d["bands"]["healthy"]["share"]),
              _pct(d["capacity"]["recall"])] for d in r["per_date"]]
    out = ["Per date"] + _table(rows)
    if any(d["auc"] is None for d in r["per_date"]):
        out.append(f"  n/a: not enough outcomes to judge (fewer than {r['minimums']['churned']} "
                   "churned on that date)")
    return out


def _risk_text(risk: dict) -> list[str]:
    if risk["fit"] is None:
        return [f"Churn risk: not fitted ({risk['reason']})"]
    lines = [f"Churn risk: {risk['fit']['about']}; Brier score {_num(risk['brier'], '.4f')} on the "
             "backtest (the fit's snapshots may overlap these dates)"]
    rows = [["accounts", "mean predicted", "observed (95% CI)"]]
    rows += [[str(b["accounts"]), _pct(b["mean_predicted"]), _pct(b["observed"]) + _ci(b["observed_ci"])]
             for b in risk["calibration"]]
    return lines + _table(rows)
