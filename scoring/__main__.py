"""The command line: ``python -m scoring <command>``, for people and scheduled jobs.

Exit status: 0 success, 1 invalid input or data (one clear line on stderr), 2 wrong usage.
Progress bars go to stderr and only when it is a terminal, so cron logs stay clean.
"""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from . import cli_args, paths
from .backup import add_commands as add_backup_commands
from .cli_calibrate import add_commands as add_calibrate_commands
from .cli_export import add_commands as add_export_commands
from .cli_scores import add_commands as add_score_commands
from .cli_validate import add_commands as add_validate_commands
from .errors import DataError

if TYPE_CHECKING:
    from .profile import Profile
    from .profiles import ProfileSummary
    from .state import StateStore


def _progress(enabled: bool):
    """A progress callback drawing one terminal bar (tqdm), and a function to close it."""
    if not enabled:
        return None, lambda: None
    from tqdm import tqdm

    bar = tqdm(total=1000, file=sys.stderr, bar_format="{desc:<40.40} {percentage:3.0f}%|{bar}| {elapsed}")

    def update(what: str, frac: float) -> None:
        bar.set_description_str(what, refresh=False)
        bar.update(max(0, int(frac * 1000) - bar.n))

    return update, bar.close


def _weeks(text: str) -> int:
    from .history import ALL_WEEKS

    if text == "all":
        return ALL_WEEKS
    if not text.isdigit():
        raise argparse.ArgumentTypeError(f"{text!r}: expected a whole number of weeks or 'all'")
    return int(text)


def _history(args: argparse.Namespace) -> bool | int:
    if args.no_history:
        return False
    return True if args.history_weeks is None else args.history_weeks


def _cmd_import(args: argparse.Namespace) -> int:
    from .ingest import import_dir

    db = paths.db_path(args.db)
    update, close = _progress(sys.stderr.isatty())
    try:
        result = import_dir(Path(args.dir), db, skip_bad_rows=args.skip_bad_rows, progress=update,
                            state=paths.state_path(db, args.state), history=_history(args))
    finally:
        close()
    for w in result.warnings:
        print(f"warning: {w}", file=sys.stderr)
    if result.vanished_accounts:
        shown = ", ".join(result.vanished_accounts[:10])
        more = f" and {len(result.vanished_accounts) - 10} more" if len(result.vanished_accounts) > 10 else ""
        print(f"warning: {len(result.vanished_accounts)} account(s) in the previous data are not in the "
              f"new accounts file: {shown}{more}. Keep churned accounts in the file, or validation "
              f"loses their history.", file=sys.stderr)
    loaded = ", ".join(f"{t} {n:,}" for t, n in result.rows_loaded.items())
    print(f"imported into {db}: {loaded}")
    if result.history_dates:
        print(f"score history: {result.history_dates} weekly snapshot(s) backfilled")
    if args.skip_bad_rows:
        print(f"{result.rows_skipped:,} bad row(s) skipped" +
              (f"; see {result.rejects_file}" if result.rows_skipped else ""))
    return 0


def _cmd_demo(args: argparse.Namespace) -> int:
    from .demo import build_demo

    db = paths.db_path(args.db)
    update, close = _progress(sys.stderr.isatty())
    try:
        info = build_demo(db, accounts=args.accounts, seed=args.seed, progress=update,
                          state=paths.state_path(db, args.state))
    finally:
        close()
    print(f"demo database at {db}: {info['accounts']:,} accounts, {info['usage_rows']:,} usage rows "
          f"({info['seconds']:.1f} s)")
    return 0


def _state(args: argparse.Namespace) -> StateStore:
    from .state import StateStore

    return StateStore(paths.state_path(paths.db_path(args.db), args.state))


def _author(args: argparse.Namespace) -> str:
    return getattr(args, "author", None) or os.environ.get("USER") or "cli"


def _cmd_profiles(args: argparse.Namespace) -> int:
    """``profiles list|show|import|export|publish``: weight profiles as reviewable TOML files."""
    import sqlite3

    from . import profiles

    state = _state(args)
    try:
        if args.action == "list":
            _print_profiles(profiles.list_profiles(state))
        elif args.action == "show":
            print(profiles.to_toml(profiles.load(state, *profiles.parse_ref(args.ref))), end="")
        elif args.action == "export":
            text = profiles.to_toml(profiles.load(state, *profiles.parse_ref(args.ref)))
            try:
                Path(args.file).write_text(text, encoding="utf-8")
            except OSError as exc:
                raise DataError(f"cannot write {args.file}: {exc.strerror or exc}") from None
            print(f"wrote {args.file}")
        elif args.action == "import":
            try:
                text = Path(args.file).read_text(encoding="utf-8")
            except FileNotFoundError:
                raise DataError(f"no file at {args.file}") from None
            except (OSError, UnicodeDecodeError) as exc:
                raise DataError(f"cannot read {args.file}: {exc}") from None
            profile = profiles.from_toml(text, source=args.file)
            note = args.note if args.note is not None else f"imported from {Path(args.file).name}"
            version = profiles.save(state, profile, author=_author(args), note=note)
            print(f"saved {profile.name} version {version}")
            _warn_unknown_events(profile, paths.db_path(args.db), state)
        elif args.action == "publish":
            name, version = profiles.parse_ref(args.ref)
            version = profiles.publish(state, name, version, author=_author(args))
            print(f"published {name} version {version}")
    except sqlite3.Error as exc:
        raise DataError(f"state store {state.path}: {exc}") from None
    return 0


def _warn_unknown_events(profile: Profile, db: Path, state: StateStore) -> None:
    """Warn (not fail: the profile may be meant for data still to come) about event types and
    features the data file's catalogue lacks; their signals would be zero for everyone."""
    if not db.exists():
        return
    from .profiles import check_known_events
    from .signals import catalogue_ds
    from .store import DataStore

    ds = DataStore(db)
    try:
        cat = catalogue_ds(ds, state.classifications())
    finally:
        ds.close()
    try:
        check_known_events(profile, cat)
    except DataError as exc:
        print(f"warning: {exc}", file=sys.stderr)


def _print_profiles(rows: list[ProfileSummary]) -> None:
    if not rows:
        print("no saved profiles: scoring uses the default built from the event-type catalogue")
        return
    table = [("name", "versions", "newest", "published", "author", "saved at (UTC)", "note")]
    table += [(r.name, str(r.versions), str(r.newest), "" if r.published is None else str(r.published),
               r.author, r.created_at.replace("T", " "), " ".join(r.note.split())[:60]) for r in rows]
    widths = [max(len(row[i]) for row in table) for i in range(len(table[0]))]
    for row in table:
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip())
    if all(r.published is None for r in rows):
        print("none published: scoring uses the default built from the event-type catalogue")


def parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--db", help="data file (default: $CS_DB, else data/cs.duckdb)")
    common.add_argument("--state", help="state file (default: $CS_STATE, else beside the data file)")
    p = argparse.ArgumentParser(prog="python -m scoring", description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="command", required=True, metavar="command")

    d = sub.add_parser("demo", parents=[common], help="build the demo database at --db")
    d.add_argument("--accounts", type=cli_args.positive_int, default=2000, help="accounts (default 2000)")
    d.add_argument("--seed", type=int, default=7, help="random seed (default 7)")
    d.set_defaults(run=_cmd_demo)

    i = sub.add_parser("import", parents=[common], help="load <table>.csv/.parquet files from DIR")
    i.add_argument("dir", help="folder holding accounts.csv, usage_events.csv, ... (or .parquet)")
    i.add_argument("--skip-bad-rows", action="store_true",
                   help="load the good rows; write the rejected ones with reasons beside the data file")
    i.add_argument("--no-history", action="store_true",
                   help="skip the weekly score history backfill (run `snapshot` later)")
    i.add_argument("--history-weeks", type=_weeks, default=None, metavar="N|all",
                   help="weekly snapshots to backfill, newest first (default 26; 'all' = the data's span)")
    i.set_defaults(run=_cmd_import)
    add_score_commands(sub, common)
    add_backup_commands(sub, common)
    add_validate_commands(sub, common)
    add_calibrate_commands(sub, common)
    add_export_commands(sub, common)

    pr = sub.add_parser("profiles", help="list, show, import, export or publish weight profiles")
    acts = pr.add_subparsers(dest="action", required=True, metavar="action")
    acts.add_parser("list", parents=[common], help="the saved profiles and their versions")
    a = acts.add_parser("show", parents=[common], help="print a profile as TOML")
    a.add_argument("ref", metavar="NAME[@N]", help="a profile: its newest version, or version N")
    a = acts.add_parser("import", parents=[common], help="save a TOML file as a new version")
    a.add_argument("file", metavar="FILE", help="the profile as TOML")
    a.add_argument("--note", help="what changed (default: imported from FILE)")
    a.add_argument("--author", help="who saves it (default: $USER, else cli)")
    a = acts.add_parser("export", parents=[common], help="write a profile to a TOML file")
    a.add_argument("ref", metavar="NAME[@N]", help="a profile: its newest version, or version N")
    a.add_argument("file", metavar="FILE", help="where to write the TOML")
    a = acts.add_parser("publish", parents=[common], help="make a version the one used by default")
    a.add_argument("ref", metavar="NAME[@N]", help="a profile: its newest version, or version N")
    a.add_argument("--author", help="who publishes it (default: $USER, else cli)")
    pr.set_defaults(run=_cmd_profiles)
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)  # exits with status 2 on wrong usage
    try:
        return args.run(args)
    except DataError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("error: interrupted; the data store is unchanged", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
