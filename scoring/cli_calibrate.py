"""The ``calibrate`` command: fit signal weights to outcomes, print them beside the current ones
and save them as a new profile version.

Only the I/O around ``scoring.calibrate``: it reads the data store read-only and writes only the
state store, through ``profiles.save``. The as-of, horizon and profile options, the stores, the
dates and the text formatters come from ``cli_validate``, the one place for them, so both commands
take, check and print them alike. Its own module because its report is its own: the split, the L2
choice, the weights side by side, the blends, the bootstrap's stability and the gameable check, as
text or (``--json``) one JSON object. The profile name is checked before the fit, not after it.
"""
from __future__ import annotations

import argparse
import json
import re
from typing import TYPE_CHECKING

from . import cli_args
from .cli_validate import _ci, _dated, _dates, _lift, _num, _pct, _store, _table, json_ready, parse_date
from .errors import DataError
from .profile import PROFILE_NAME_PATTERN

if TYPE_CHECKING:
    from .calibrate import Calibration


def add_commands(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
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
