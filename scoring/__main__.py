"""The command line: ``python -m scoring <command>``, for people and scheduled jobs.

Exit status: 0 success, 1 invalid input or data (one clear line on stderr), 2 wrong usage.
Progress bars go to stderr and only when it is a terminal, so cron logs stay clean.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from . import paths
from .store import DataError


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


def _cmd_import(args: argparse.Namespace) -> int:
    from .ingest import import_dir

    db = paths.db_path(args.db)
    update, close = _progress(sys.stderr.isatty())
    try:
        result = import_dir(Path(args.dir), db, skip_bad_rows=args.skip_bad_rows, progress=update)
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
    if args.skip_bad_rows:
        print(f"{result.rows_skipped:,} bad row(s) skipped" +
              (f"; see {result.rejects_file}" if result.rows_skipped else ""))
    return 0


def _cmd_demo(args: argparse.Namespace) -> int:
    from .demo import build_demo

    db = paths.db_path(args.db)
    update, close = _progress(sys.stderr.isatty())
    try:
        info = build_demo(db, accounts=args.accounts, seed=args.seed, progress=update)
    finally:
        close()
    print(f"demo database at {db}: {info['accounts']:,} accounts, {info['usage_rows']:,} usage rows "
          f"({info['seconds']:.1f} s)")
    return 0


def parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--db", help="data file (default: $CS_DB, else data/cs.duckdb)")
    common.add_argument("--state", help="state file (default: $CS_STATE, else beside the data file)")
    p = argparse.ArgumentParser(prog="python -m scoring", description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="command", required=True, metavar="command")

    d = sub.add_parser("demo", parents=[common], help="build the demo database at --db")
    d.add_argument("--accounts", type=_positive_int, default=2000, help="accounts (default 2000)")
    d.add_argument("--seed", type=int, default=7, help="random seed (default 7)")
    d.set_defaults(run=_cmd_demo)

    i = sub.add_parser("import", parents=[common], help="load <table>.csv/.parquet files from DIR")
    i.add_argument("dir", help="folder holding accounts.csv, usage_events.csv, ... (or .parquet)")
    i.add_argument("--skip-bad-rows", action="store_true",
                   help="load the good rows; write the rejected ones with reasons beside the data file")
    i.set_defaults(run=_cmd_import)
    return p


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text}: expected a whole number of at least 1")
    return value


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
