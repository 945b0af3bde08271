"""The ``export`` command: an outreach list as a CSV or XLSX file, for people and scheduled jobs.

It reads the data store read-only, resolves the profile as ``score`` does, scores the book as of
the date, and builds the list with the very functions the pages call (``list_data.read_list_data``,
``feedback.current``, ``lists.build_list``), so the file holds the rows the page shows for the
same settings, in the same order. The export is logged in the state store (``exported``, one row
per account) unless ``--no-log``, so those accounts rest for the recent-days window.
"""
from __future__ import annotations

import argparse
import difflib
import os
import sys
from pathlib import Path

from . import cli_args, paths
from .errors import DataError


LIST_CHOICES = ("at-risk", "expansion")  # lists.LISTS; spelt out so `--help` needs no pandas (tested)


def add_commands(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    e = sub.add_parser("export", parents=[common], help="write an outreach list to .csv or .xlsx")
    e.add_argument("--list", required=True, choices=LIST_CHOICES, dest="list_kind",
                   help="which list: at-risk or expansion")
    e.add_argument("--profile", help="NAME or NAME@N (default: the published one)")
    e.add_argument("--owner", help="only this CSM's accounts (a csm_owner value)")
    e.add_argument("--limit", type=cli_args.positive_int, help="the top N only (capacity; default: all)")
    e.add_argument("--preset", help="CRM import columns: salesforce or hubspot")
    e.add_argument("--bom", action="store_true", help="CSV: start with the UTF-8 byte-order mark (Excel)")
    e.add_argument("--include-recent", action="store_true",
                   help="keep accounts contacted or exported in the last --recent-days days")
    e.add_argument("--min-days-in-band", type=cli_args.count, metavar="N",
                   help="enter only after N days in the band (default 14; 0: off)")
    e.add_argument("--min-drop", type=cli_args.points, metavar="M",
                   help="at-risk: or after falling M points in 30 days (default 10)")
    e.add_argument("--recent-days", type=cli_args.count, metavar="K",
                   help="leave out accounts contacted or exported in the last K days (default 14)")
    e.add_argument("--as-of", type=cli_args.date, help="YYYY-MM-DD (default: the day after the newest event)")
    e.add_argument("--no-log", action="store_true", help="do not log the export in the state store")
    e.add_argument("--author", help="who exports (default: $USER, else cli)")
    e.add_argument("--out", required=True, help="output file, .csv or .xlsx")
    e.set_defaults(run=_cmd_export)


def _or(value, default):
    return default if value is None else value


def _cmd_export(args: argparse.Namespace) -> int:
    from . import export, feedback, list_data, lists
    from .current import load_book
    from .engine import default_as_of
    from .history import resolve_profile
    from .scope import Scope
    from .state import StateStore
    from .store import DataStore, is_demo

    out = Path(args.out)
    if out.suffix.lower() not in export.FORMATS:
        raise DataError(f"--out {out}: expected a file name ending in .csv or .xlsx")
    if args.preset is not None and args.preset not in export.PRESETS:
        close = difflib.get_close_matches(args.preset.lower(), list(export.PRESETS), n=1)
        hint = f' — did you mean "{close[0]}"?' if close else ""
        raise DataError(f'--preset "{args.preset}" is unknown{hint}; expected one of {", ".join(export.PRESETS)}')
    db = paths.db_path(args.db)
    state = StateStore(paths.state_path(db, args.state))
    scope = Scope.everyone()
    ds = DataStore(db)
    try:
        with ds.cursor() as con:
            profile, cat = resolve_profile(con, state, args.profile)
            when = args.as_of or default_as_of(con)
            if when is None:
                raise DataError("the data store has no usage events, so there is no default as-of "
                                "date: give --as-of YYYY-MM-DD")
            book = load_book(con, profile, cat, when)
        if args.owner is not None and args.owner not in lists.owners(book, scope):
            known = lists.owners(book, scope)
            close = difflib.get_close_matches(args.owner, known, n=1)
            hint = f' — did you mean "{close[0]}"?' if close else f" ({len(known)} owners in the data)"
            raise DataError(f'--owner "{args.owner}" owns no account active on {when}{hint}')
        settings = lists.ListSettings(
            args.list_kind, owner=args.owner, limit=args.limit,
            min_days_in_band=_or(args.min_days_in_band, lists.MIN_DAYS_IN_BAND),
            min_drop=_or(args.min_drop, lists.MIN_DROP), recent_days=_or(args.recent_days, lists.RECENT_DAYS),
            include_recent=args.include_recent)
        data = list_data.read_list_data(ds, scope=scope, profile=profile, as_of=when, catalogue=cat,
                                        history_days=settings.min_days_in_band)
        demo = is_demo(ds)
    finally:
        ds.close()
    ol = lists.build_list(book, data, feedback.current(state, feedback.today_utc()), settings, scope=scope)
    result = export.render(ol, out.suffix.lower().lstrip("."), preset=args.preset, bom=args.bom, demo=demo)
    try:
        export.write_file(out, result.data)
    except OSError as exc:
        raise DataError(f"cannot write {out}: {exc.strerror or exc}") from None
    if not args.no_log and result.account_ids:
        author = args.author or os.environ.get("USER") or "cli"
        feedback.log_export(state, result.account_ids, author=author, list_name=settings.kind)
    if result.left_out:
        print(f"warning: {result.left_out} row(s) without a CRM id left out of the {args.preset} "
              "preset", file=sys.stderr)
    print(f"{'DEMO DATA: ' if demo else ''}{len(result.frame):,} account(s) on the {settings.kind} list "
          f"as of {when} (profile {profile.name}"
          f"{'' if profile.version is None else f' version {profile.version}'}): {out}"
          f"{'' if args.no_log else ' (logged as exported)'}")
    return 0
