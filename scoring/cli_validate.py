"""The ``validate`` and ``calibrate`` commands: the I/O around ``validate`` and ``calibrate``.

Both read the data store read-only (``calibrate`` writes only the state store, through
``profiles.save``), resolve the profile as ``score`` does, and pick their as-of dates per the
contract (``scoring.outcomes``). ``validate`` prints a readable report, or with ``--json`` one
JSON object (NaN written as null); ``calibrate`` prints the suggested weights beside the current
ones and saves them as a new profile version. Dates are parsed here, not by argparse, so a
mistyped date is invalid input (exit 1), like a date without a full horizon.
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import math
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

import numpy as np

from . import cli_args, paths
from .errors import DataError
from .outcomes import HORIZON_DAYS
from .profile import PROFILE_NAME_PATTERN

if TYPE_CHECKING:
    import duckdb

    from .calibrate import Calibration
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

    c = sub.add_parser("calibrate", parents=[common],
                       help="fit signal weights to outcomes, save a new version")
    _dated(c, "up to 12 monthly dates ending HORIZON days before the newest mrr_history date")
    c.add_argument("--save-as", required=True, metavar="NAME",
                   help="profile name to save the weights under")
    c.add_argument("--judge-from", metavar="DATE",
                   help="judge on the dates from DATE on, train on the earlier ones "
                        "(default: the last third)")
    c.add_argument("--flip", action="store_true",
                   help="save signals that work the other way round flipped (default: report only)")
    c.add_argument("--candidates", choices=("catalogue", "profile"), default="catalogue",
                   help="signals the fit may weigh: the profile's own plus the generic one per "
                        "dimension built from the event-type catalogue, those weighed joining the "
                        "saved profile (catalogue, the default), or the profile's own only (profile)")
    c.add_argument("--l2", type=cli_args.strength, metavar="STRENGTH",
                   help="L2 strength of the fit, above 0 (default: chosen by walking forward inside "
                        "the training dates, from 0.001, 0.01, 0.1, 1)")
    c.add_argument("--blend", type=cli_args.blend, default=1.0, metavar="B",
                   help="weights to save: the blend (1 - B) x hand-set + B x fitted, on the shares, "
                        "0..1 (default 1: the fitted weights; 0: the hand-set ones)")
    c.add_argument("--bootstrap", type=cli_args.count, default=200, metavar="N",
                   help="resamples of the training accounts to refit for the weights' stability "
                        "(default 200; 0: none)")
    c.add_argument("--seed", type=int, default=0, help="seed of the bootstrap (default 0)")
    c.add_argument("--json", action="store_true", help="print one JSON object instead of the report")
    c.set_defaults(run=_cmd_calibrate)


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
    from .validate import MIN_BAND_CHURNED, MIN_CHURNED, figures, scores_of

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


# ---------------------------------------------------------------- calibrate


def _cmd_calibrate(args: argparse.Namespace) -> int:
    from . import profiles
    from .calibrate import CALIBRATE_DATES, calibrate_store
    from .history import resolve_profile
    from .outcomes import require_mrr

    judge_from = parse_date(args.judge_from, "--judge-from") if args.judge_from else None
    if not re.fullmatch(PROFILE_NAME_PATTERN, args.save_as):  # before the work, not after it
        raise DataError(f"--save-as {args.save_as!r}: expected a profile name of letters, digits "
                        "and _ . - (starting with a letter or digit)")
    with _store(args) as (con, state):
        require_mrr(con)
        profile, cat = resolve_profile(con, state, args.profile)
        dates = _dates(con, args, profile, CALIBRATE_DATES)
        cal = calibrate_store(con, profile, cat, dates, horizon=args.horizon, save_as=args.save_as,
                              judge_from=judge_from, candidates=args.candidates, flip=args.flip,
                              l2=args.l2, blend_saved=args.blend, resamples=args.bootstrap,
                              seed=args.seed)
    version = profiles.save(state, cal.profile, author="calibrate", note=cal.note)
    if args.json:
        print(json.dumps(json_ready(calibration_json(cal, version)), allow_nan=False))
        return 0
    print(calibration_text(cal, flip=args.flip))
    print(f"saved {cal.profile.name} version {version} (author calibrate; not published)")
    return 0


def calibration_json(cal: "Calibration", version: int | None = None) -> dict:
    """What ``calibrate --json`` prints (before ``json_ready``): the split, the L2 choice, the
    weights (current, fitted, saved), the AUCs, candidates and flips, then the three parts of the
    report: ``blends`` (hand-set, fitted and blends on the judged dates), ``stability`` (the
    bootstrap; None when off) and ``gameable``; ``saved``: the profile and version written."""
    from .weight_fit import UNSTABLE_POINTS

    s, sug, c, st = cal.split, cal.suggestion, cal.l2, cal.stability
    return {
        "split": {"train": s.train, "purged": s.purged, "judged": s.judged},
        "n": sug.n, "n_churned": sug.n_churned,
        "l2": {"value": c.l2, "tried": [{"l2": l2, "auc": a} for l2, a in c.tried], "best": c.best,
               "reason": c.reason or None},
        "weights": {"current": cal.current, "fitted": sug.weights, "saved": cal.saved_weights},
        "auc": cal.auc, "candidates": cal.candidates, "added": cal.added,
        "proposed_flips": sug.proposed_flips, "flipped": sug.flipped,
        "signals": sug.signals,
        "blend": cal.blend, "blends": cal.blends,
        "stability": None if st is None else {
            "resamples": st.resamples, "fitted": st.fitted, "seed": st.seed, "l2": st.l2,
            "seconds": st.seconds, "unstable_points": UNSTABLE_POINTS, "signals": st.signals},
        "gameable": cal.gameable,
        "note": cal.note,
        "saved": {"profile": cal.profile.name, "version": version, "published": False},
    }


def calibration_text(cal: "Calibration", *, flip: bool) -> str:
    """What ``calibrate`` prints: the split, the L2 choice, the weights side by side (heaviest
    suggested first), the AUCs, the candidates added and the flips."""
    s, sug, c = cal.split, cal.suggestion, cal.l2
    out = [f"Fitted on {len(s.train)} as-of date(s) {s.train[0]}..{s.train[-1]} ({sug.n:,} account-dates, "
           f"{sug.n_churned:,} churned), judged on {len(s.judged)} date(s) {s.judged[0]}..{s.judged[-1]}; "
           f"L2-regularised logistic fit (L2 = {c.l2:g}), weights >= 0"]
    if s.purged:
        out.append(f"purged {len(s.purged)} date(s) ({', '.join(map(str, s.purged))}): their outcomes "
                   "reach into the judged period")
    if c.tried and not c.reason:
        i = c.inner
        out.append(f"L2 chosen walking forward inside the training dates (fitted on {i.train[0]}.."
                   f"{i.train[-1]}, judged on {i.judged[0]}..{i.judged[-1]}): AUC "
                   + ", ".join(f"{_num(a)} at {l2:g}" for l2, a in c.tried)
                   + f"; best {c.best:g}, chosen the strongest within one standard error of it")
    elif c.reason and c.reason != "given":
        out.append(f"L2 = {c.l2:g} (not chosen: {c.reason})")
    rows = [["signal", "current", "suggested", "AUC alone (training)", "verdict"]]
    by_name = {r["signal"]: r for r in sug.signals}
    for name in sorted(sug.weights, key=lambda n: -sug.weights[n]):  # stable: ties keep profile order
        sig = by_name[name]
        current = "candidate" if name in cal.candidates else f"{cal.current[name]:g}"
        rows.append([name + (" (flipped)" if name in sug.flipped else ""), current,
                     f"{sug.weights[name]:g}", _num(sig["auc"]), sig["verdict"] or sig.get("reason", "")])
    out += [""] + _table(rows)
    cap = cal.profile.max_signal_share
    if max(sug.weights.values()) > 100 * cap:
        out.append(f"  (scoring caps any signal at {cap:.0%} of engagement: max_signal_share)")
    if cal.candidates:
        left = [n for n in cal.candidates if n not in cal.added]
        out.append(f"  candidate: a generic signal from the event-type catalogue, not in the profile; "
                   f"added to the saved profile: {', '.join(cal.added) or 'none'}"
                   + (f"; left out (weight 0): {', '.join(left)}" if left else ""))
    a = cal.auc
    out += ["", "ROC AUC        current  suggested",
            f"  training     {_num(a['current_train']):7}  {_num(a['suggested_train'])}",
            f"  judged       {_num(a['current_judged']):7}  {_num(a['suggested_judged'])}"]
    for name in sug.proposed_flips:
        r = by_name[name]
        what = "fitted and saved flipped" if flip else "kept as it is; give --flip to save it flipped"
        out.append(f"proposed flip: {name} works the other way round on the training dates (AUC "
                   f"{_num(r['auc'])}{_ci(r['auc_ci'], _num)}): {what}")
    out += [""] + _blends_text(cal) + [""] + _stability_text(cal) + [""] + _gameable_text(cal)
    return "\n".join(out)


def _blend_name(b: float) -> str:
    return f"{b:g}" + {0.0: " hand-set", 1.0: " fitted"}.get(b, "")


def _blends_text(cal: "Calibration") -> list[str]:
    rows = [["blend", "ROC AUC (95% CI)", "at_risk lift", "recall at_risk", "recall at capacity",
             "passive weight"]]
    for r in cal.blends:
        rows.append([_blend_name(r["blend"]) + (" (saved)" if r["blend"] == cal.blend else ""),
                     _num(r["auc"]) + _ci(r["auc_ci"], _num), _lift(r["lift_at_risk"]),
                     _pct(r["recall_at_risk"]), _pct(r["recall_at_capacity"]), _pct(r["passive_share"])])
    first = cal.blends[0] if cal.blends else {"n_accounts": 0, "n_churned": 0}
    return ([f"Hand-set (blend 0) versus fitted (1) versus blends on the judged dates "
             f"({first['n_accounts']:,} account-dates, {first['n_churned']:,} churned); blend b: weights "
             "(1 - b) x hand-set + b x fitted, on the shares"] + _table(rows)
            + [f"  saved: blend {_blend_name(cal.blend)}"
               + ("" if cal.blend == 1 else ", rounded to one decimal") + " (--blend B chooses)"])


def _stability_text(cal: "Calibration") -> list[str]:
    from .weight_fit import UNSTABLE_POINTS

    st = cal.stability
    if st is None:
        return ["Weight stability: bootstrap off (--bootstrap 0)"]
    rows = [["signal", "fitted", "median", "90% interval", "weighed in", ""]]
    for r in sorted(st.signals, key=lambda r: -r["weight"]):  # as the weights above
        rows.append([r["signal"], f"{r['weight']:g}", _num(r["median"], ".0f"),
                     f"{_num(r['low'], '.0f')}-{_num(r['high'], '.0f')}",
                     _pct(r["weighed"]), "UNSTABLE" if r["unstable"] else ""])
    head = (f"Weight stability: {st.resamples} bootstrap resamples of the training accounts (an "
            f"account with all its dates; seed {st.seed}, L2 {st.l2:g} as fitted), {st.fitted} refitted "
            f"in {st.seconds:.1f} s")
    unstable = [r["signal"] for r in st.signals if r["unstable"]]
    return ([head] + _table(rows)
            + [f"  unstable (90% interval wider than {UNSTABLE_POINTS:g} points): "
               f"{', '.join(unstable) or 'none'}; weighed in: the share of resamples giving the signal weight"])


def _gameable_text(cal: "Calibration") -> list[str]:
    g = cal.gameable
    if not g or g.get("passive") is None:
        return [f"Gameable: not judged ({g.get('reason', 'no catalogue') if g else 'no catalogue'})"]
    names = ", ".join(g["passive"]) or "none"
    line = (f"Gameable: passive signals (no value action, or active days/users counted from passive "
            f"events): {names}; {_pct(g['fitted_share'])} of the fitted weight, {_pct(g['saved_share'])} "
            f"of the saved (blend {g['blend']:g})")
    if g["warning"]:
        return [line, f"  WARNING: passive signals get more than {g['limit']:.0%} of the weight: an "
                      "account can raise its score by logging in or browsing without getting value; "
                      "consider a lower blend or value-action signals"]
    return [line]
