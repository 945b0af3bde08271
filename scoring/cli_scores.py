"""The ``score`` and ``snapshot`` commands.

``score`` reads the data store read-only and writes one row per account active on the as-of
date. ``snapshot`` stores that day's scores in the data store's history (``score_snapshots``),
through the same build-then-swap as an import, so it can run while the app serves people.
"""
from __future__ import annotations

import argparse
from pathlib import Path

from . import cli_args, paths
from .errors import DataError


def add_commands(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    s = sub.add_parser("score", parents=[common], help="write the scores of one date to a file")
    s.add_argument("--as-of", type=cli_args.date, help="YYYY-MM-DD (default: the day after the newest event)")
    s.add_argument("--profile", help="NAME (newest version) or NAME@N (default: the published one)")
    s.add_argument("--out", required=True, help="output file, .csv or .parquet")
    s.set_defaults(run=_cmd_score)

    n = sub.add_parser("snapshot", parents=[common], help="store the scores of one date in the history")
    n.add_argument("--as-of", type=cli_args.date, help="YYYY-MM-DD (default: the day after the newest event)")
    n.add_argument("--profile", help="NAME or NAME@N (default: the published one)")
    n.set_defaults(run=_cmd_snapshot)


def _cmd_score(args: argparse.Namespace) -> int:
    from .history import scores_for_command
    from .outputs import write_table

    out = Path(args.out)
    if out.suffix not in (".csv", ".parquet"):
        raise DataError(f"--out {out}: expected a file name ending in .csv or .parquet")
    db = paths.db_path(args.db)
    frame, profile, as_of = scores_for_command(db, paths.state_path(db, args.state),
                                               profile_ref=args.profile, as_of=args.as_of)
    from .risk import churn_risk_for  # churn within 90 days, fitted on the stored score history

    frame.insert(frame.columns.get_loc("data_confidence") + 1, "churn_risk",
                 churn_risk_for(db, profile, frame["health_score"].to_numpy()))
    write_table(frame, out)
    print(f"{len(frame):,} accounts scored as of {as_of} with profile {profile.name}"
          f"{'' if profile.version is None else f' version {profile.version}'}: {out}")
    return 0


def _cmd_snapshot(args: argparse.Namespace) -> int:
    from .history import snapshot

    db = paths.db_path(args.db)
    n, profile, as_of = snapshot(db, paths.state_path(db, args.state), profile_ref=args.profile,
                                 as_of=args.as_of)
    print(f"stored {n:,} scores as of {as_of} (profile {profile.name}"
          f"{'' if profile.version is None else f' version {profile.version}'}) in {db}")
    return 0
