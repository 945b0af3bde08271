"""``python -m scoring import DIR``: load the contract's files, all or nothing.

Steps, all inside ``store.rebuild`` (copy the live file, change the copy, swap it in):

1. Find ``<table>.csv`` / ``<table>.parquet`` in DIR and check each header against the schema.
2. Read each file into a staging table (``parsing.stage_sql``): typed values, and for each bad row
   the column, value and rule it broke.
3. Check what needs the whole table: unique keys, and that every ``account_id`` is in accounts
   (the new accounts file, or the one already stored).
4. Any problem stops the import before the swap, so the live file is untouched; with
   ``skip_bad_rows`` the bad rows go to a rejects CSV beside the data file instead.
5. Replace the given tables, record the run (``import_runs``, ``import_notes``), and swap.

Crash points for tests (``CS_CRASH_AT``): those of ``store.rebuild`` plus ``mid_load`` (after the
first table has been replaced in the copy).
"""
from __future__ import annotations

import datetime as dt
import json
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import duckdb

from . import crash, paths
from .parsing import STAGE_COLUMNS, expected_text, line_of_byte, raw_json, read_csv_header, stage_sql
from .problems import ImportFailed, Problem, locate, write_rejects
from .schema import IMPORT_ORDER, TABLES, Table
from .store import DataError, rebuild

MAX_LISTED = 20  # problems kept in full per table (more are counted)
Progress = Callable[[str, float], None]  # (what is happening, fraction of the whole import done)

_CSV_OPTIONS = ("header = true, auto_detect = false, delim = ',', quote = '\"', escape = '\"', "
                "strict_mode = true, store_rejects = true, rejects_table = 'reject_errors', "
                "rejects_scan = 'reject_scans'")


@dataclass
class ImportResult:
    tables: list[str]
    rows_loaded: dict[str, int]
    rows_skipped: int = 0
    rejects_file: Path | None = None
    vanished_accounts: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    history_dates: int = 0  # weekly snapshots backfilled


def _table(name: str) -> str:
    """A quoted table identifier, only from the allow-list: contract tables and their stages."""
    if name.removeprefix("_stage_") not in TABLES:
        raise ValueError(f"not a table of the import contract: {name!r}")
    return f'"{name}"'


def find_files(folder: Path) -> tuple[dict[str, Path], list[str]]:
    """The import file for each table found in ``folder``, and warnings about other files."""
    if not folder.is_dir():
        raise DataError(f"{folder}: not a folder — expected a folder holding accounts.csv, "
                        "usage_events.csv, ... (or .parquet)")
    found: dict[str, Path] = {}
    warnings = []
    for p in sorted(folder.iterdir()):
        table, dot, ext = p.name.partition(".")
        if p.is_file() and table in TABLES and ext in ("csv", "parquet"):
            if table in found:
                raise DataError(f"{folder}: both {found[table].name} and {p.name} — expected one file per table")
            found[table] = p
        elif not p.name.startswith("."):
            warnings.append(f"{p.name}: ignored — not a table of the import contract")
    if not found:
        names = ", ".join(f"{t}.csv" for t in TABLES)
        raise DataError(f"{folder}: no import files — expected some of {names} (or .parquet)")
    return found, warnings


def import_dir(folder: str | Path, db: str | Path, *, skip_bad_rows: bool = False,
               progress: Progress | None = None, mark_demo: bool = False,
               fresh: bool = False, state: str | Path | None = None,
               history: bool | int = True) -> ImportResult:
    """Import every contract file in ``folder`` into the data file ``db``, all or nothing.

    With ``history`` (the default), weekly score snapshots are backfilled over the data's span
    (the newest ``MAX_BACKFILL_WEEKS`` weeks; an int chooses how many, 0 none) with the profile
    in use (read from the state store ``state``, default beside ``db``), and the inputs of the
    default date are stored for the pages, in the same new file, so the data and its history are
    swapped in together.
    """
    folder, db = Path(folder), Path(db)
    state_file = Path(state) if state else paths.state_path(db)
    files, warnings = find_files(folder)
    say = progress or (lambda what, frac: None)
    result = ImportResult(tables=[t for t in IMPORT_ORDER if t in files], rows_loaded={},
                          warnings=warnings)

    def build(con: duckdb.DuckDBPyConnection) -> None:
        existing = {r[0] for r in con.execute(
            "SELECT table_name FROM duckdb_tables() WHERE schema_name = 'main'").fetchall()}
        for t in ("accounts", "usage_events"):
            if t not in files and t not in existing:
                raise DataError(f"{folder}: {t}.csv (or .parquet) is missing — expected it, "
                                "because the data store does not hold that table yet")
        # The copy is private, so the tables being replaced can go now: staging then reuses
        # their space instead of growing the file (the old account ids stay for the report).
        if "accounts" in files and "accounts" in existing:
            con.execute("CREATE TEMP TABLE _old_accounts AS SELECT account_id FROM accounts")
        for name in result.tables:
            con.execute("DROP TABLE IF EXISTS " + _table(name))
        con.execute("CHECKPOINT")
        problems: list[Problem] = []
        total = 0
        # Reading takes 0..0.8 of the bar, each file a share by its size.
        sizes = [max(files[t].stat().st_size, 1) for t in result.tables]
        edges = [0.8 * sum(sizes[:i]) / sum(sizes) for i in range(len(sizes) + 1)]
        for i, name in enumerate(result.tables):
            say(f"reading {files[name].name}", edges[i])
            probs, count = _stage(con, TABLES[name], files[name], result.warnings, watch=say,
                                  span=(edges[i], edges[i + 1]))
            problems += probs
            total += count
            if total and not skip_bad_rows:
                raise ImportFailed(problems, total)
        say("checking account references", 0.82)
        ref_probs, ref_total = _check_references(con, files, "accounts" in files)
        problems += ref_probs
        total += ref_total
        if total and not skip_bad_rows:
            raise ImportFailed(problems, total)
        if skip_bad_rows:
            out = paths.rejects_path(db)
            result.rows_skipped = write_rejects(con, files, problems, out)
            result.rejects_file = out
            if result.rows_skipped:
                n = result.rows_skipped
                result.warnings.append(f"{n} bad row{'s' if n != 1 else ''} skipped; "
                                       f"written with reasons to {out}")
        say("replacing tables", 0.9)
        if "accounts" in files and "accounts" in existing:
            result.vanished_accounts = [r[0] for r in con.execute(
                "SELECT account_id FROM _old_accounts EXCEPT SELECT account_id FROM _stage_accounts "
                "ORDER BY 1").fetchall()]
        for j, name in enumerate(result.tables):
            # The staging table becomes the table: dropping its bookkeeping columns and renaming
            # it touches metadata only, where copying 10M rows would double the import's time.
            for col in STAGE_COLUMNS:
                con.execute("ALTER TABLE " + _table("_stage_" + name) + " DROP COLUMN " + col)
            con.execute("ALTER TABLE " + _table("_stage_" + name) + " RENAME TO " + _table(name))
            result.rows_loaded[name] = con.execute("SELECT count(*) FROM " + _table(name)).fetchone()[0]
            if j == 0:
                crash.point("mid_load")
        if history:
            from .history import backfill
            from .state import StateStore

            weeks = None if history is True else int(history)
            result.history_dates = backfill(
                con, StateStore(state_file), progress=lambda what, f: say(what, 0.92 + 0.07 * f),
                weeks=weeks)
        _record_run(con, folder, result, mark_demo)

    say("copying the current data", 0.0)
    rebuild(db, build, fresh=fresh)
    say("done", 1.0)
    return result


def _source(table: Table, path: Path, con: duckdb.DuckDBPyConnection,
            warnings: list[str]) -> tuple[str, dict[str, str], str]:
    """Table function reading ``path``, the type of each schema column found, and 'line'/'row'."""
    lit = "'" + str(path).replace("'", "''") + "'"
    if path.suffix == ".csv":
        try:
            header = read_csv_header(path)
        except UnicodeDecodeError:
            raise DataError(f"{path.name}, line 1: the header is not UTF-8 text — expected a UTF-8 CSV file") from None
        if not header:
            raise DataError(f"{path.name}: the file is empty — expected a header row naming the columns")
        cols = "{" + ", ".join(f"'{i}': 'VARCHAR'" for i in range(len(header))) + "}"
        names = header
        # Columns are bound by position under safe placeholder names, renamed to the header's.
        renames = ", ".join(f'"{i}" AS "{h}"' for i, h in enumerate(header) if h in table.names)
        source = f"(SELECT {renames or '1 AS _none'} FROM read_csv({lit}, {_CSV_OPTIONS}, columns = {cols}))"
        types = {h: "VARCHAR" for h in header if h in table.names}
        where = "line"
    else:
        try:
            described = con.execute("DESCRIBE SELECT * FROM read_parquet(?)", [str(path)]).fetchall()
        except duckdb.Error as exc:
            raise DataError(f"{path.name}: not a readable Parquet file — {str(exc).splitlines()[0]}") from None
        names = [r[0] for r in described]
        types = {r[0]: r[1] for r in described if r[0] in table.names}
        source = f"read_parquet({lit})"
        where = "row"
    seen = set()
    for i, h in enumerate(names):
        if h in seen:
            raise DataError(f"{path.name}, line 1, column {i + 1}: value {json.dumps(h)} — expected each column name once")
        seen.add(h)
    for c in table.columns:
        if c.required and c.name not in types:
            raise DataError(f"{path.name}, line 1, column {c.name}: missing — expected a column named "
                            f"{c.name} ({c.expected()})")
    extra = [h for h in names if h not in table.names]
    if extra:
        warnings.append(f"{path.name}: extra column{'s' if len(extra) > 1 else ''} "
                        f"{', '.join(extra)} ignored")
    return source, types, where


def _stage(con, table: Table, path: Path, warnings: list[str], *, watch: Progress,
           span: tuple[float, float]) -> tuple[list[Problem], int]:
    """Read one file into ``_stage_<table>``; return its first problems and how many there are."""
    source, types, where = _source(table, path, con, warnings)
    con.execute("DROP TABLE IF EXISTS reject_errors; DROP TABLE IF EXISTS reject_scans")
    try:
        _run_watched(con, stage_sql(table, source, types, f"_stage_{table.name}"),
                     lambda f: watch(f"reading {path.name}", span[0] + f * (span[1] - span[0])))
    except duckdb.Error as exc:
        first = str(exc).splitlines()[0]
        raise DataError(f"{path.name}: could not be read — {first}") from None
    problems: list[Problem] = []
    total = 0
    if path.suffix == ".csv":
        # DuckDB records one reject per missing column: keep the first per row.
        rejects = con.execute("SELECT line, min(line_byte_position), first(error_type ORDER BY column_idx), "
                              "first(error_message ORDER BY column_idx), first(csv_line) "
                              "FROM reject_errors GROUP BY line ORDER BY line").fetchall()
        for line, byte_pos, etype, emsg, raw in rejects:
            total += 1
            if len(problems) < MAX_LISTED:
                problems.append(Problem(path.name, line_of_byte(path, byte_pos or 0), None, None,
                                        f"a well-formed CSV row with {len(read_csv_header(path))} fields "
                                        f"({etype.lower()}: {emsg})",
                                        table=table.name, raw=json.dumps({"csv_line": raw})))
    value_probs, n = _value_problems(con, table, path, where)
    return problems + value_probs, total + n


def _value_problems(con, table: Table, path: Path, where: str) -> tuple[list[Problem], int]:
    stage = f"_stage_{table.name}"
    n = con.execute("SELECT count(*) FROM " + _table(stage) + " WHERE _err_col IS NOT NULL").fetchone()[0]
    rows = con.execute('SELECT rowid, _err_col, _err_val, _raw FROM ' + _table(stage) + ' '
                       "WHERE _err_col IS NOT NULL ORDER BY rowid LIMIT ?", [MAX_LISTED]).fetchall()
    probs = [Problem(path.name, int(r[0]), r[1], r[2], expected_text(table, r[1]),
                     table=table.name, raw=r[3], where_word=where) for r in rows]
    keys = table.unique
    if keys:
        k = ", ".join(f'"{c}"' for c in keys)
        dup_sql = (f'SELECT * FROM (SELECT rowid AS r, min(rowid) OVER (PARTITION BY {k}) AS first, '
                   f'CAST({keys[0]} AS VARCHAR) AS v, count(*) OVER (PARTITION BY {k}) AS c '
                   'FROM ' + _table(stage) + ' WHERE _err_col IS NULL) WHERE c > 1 AND r <> first ORDER BY r')
        dups = con.execute(dup_sql).fetchall()
        n += len(dups)
        keyname = " and ".join(keys)
        for r, first, v, _ in dups[:MAX_LISTED]:
            probs.append(Problem(path.name, int(r), keys[0], v, f"each {keyname} once",
                                 table=table.name, where_word=where, first=int(first)))
        if dups:  # mark them, so --skip-bad-rows skips them with this reason
            con.execute('UPDATE ' + _table(stage) + f' SET _err_col = ?, _err_val = CAST("{keys[0]}" AS VARCHAR), '
                        f'_err_why = ?, _raw = {raw_json(table)} '
                        f'WHERE rowid IN (SELECT r FROM ({dup_sql}))', [keys[0], f"each {keyname} once"])
    locate(probs, path, where)
    return probs, n


def _check_references(con, files: dict[str, Path], new_accounts: bool) -> tuple[list[Problem], int]:
    """Every account_id of the new files must be in the accounts table that will be kept."""
    accounts = "_stage_accounts" if new_accounts else "accounts"
    good_accounts = ('(SELECT account_id FROM ' + _table(accounts) + ' WHERE _err_col IS NULL)' if new_accounts
                     else '(SELECT account_id FROM ' + _table(accounts) + ')')
    problems, total = [], 0
    for name in IMPORT_ORDER:
        if name not in files or not TABLES[name].references_accounts:
            continue
        stage = f"_stage_{name}"
        # Distinct ids first: a small anti-join answers the usual "all present" fast.
        missing = con.execute('SELECT count(*) FROM (SELECT DISTINCT account_id FROM ' + _table(stage) + ' '
                              f"WHERE _err_col IS NULL) WHERE account_id NOT IN {good_accounts}").fetchone()[0]
        if not missing:
            continue
        cond = f"_err_col IS NULL AND account_id NOT IN {good_accounts}"
        n = con.execute('SELECT count(*) FROM ' + _table(stage) + ' WHERE ' + cond).fetchone()[0]
        total += n
        rows = con.execute('SELECT rowid, account_id FROM ' + _table(stage) + ' WHERE ' + cond + ' ORDER BY rowid '
                           "LIMIT ?", [MAX_LISTED]).fetchall()
        where = "line" if files[name].suffix == ".csv" else "row"
        probs = [Problem(files[name].name, int(r), "account_id", v,
                         "an account_id present in accounts", table=name, where_word=where)
                 for r, v in rows]
        locate(probs, files[name], where)
        problems += probs
        con.execute(f"UPDATE \"{stage}\" SET _err_col = 'account_id', _err_val = account_id, "
                    f"_err_why = 'an account_id present in accounts', _raw = {raw_json(TABLES[name])} "
                    f"WHERE {cond}")
    return problems, total


def _record_run(con, folder: Path, result: ImportResult, mark_demo: bool) -> None:
    run_id = con.execute("SELECT coalesce(max(run_id), 0) + 1 FROM import_runs").fetchone()[0]
    now = dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)
    con.execute("INSERT INTO import_runs VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                [run_id, now, "demo" if mark_demo else str(folder), ",".join(result.tables),
                 sum(result.rows_loaded.values()), result.rows_skipped,
                 str(result.rejects_file) if result.rejects_file else None,
                 len(result.vanished_accounts)])
    notes = [("warning", "vanished_account", a) for a in result.vanished_accounts]
    notes += [("warning", "import", w) for w in result.warnings]
    if notes:
        con.executemany("INSERT INTO import_notes VALUES (?, ?, ?, ?)",
                        [[run_id, lvl, topic, detail] for lvl, topic, detail in notes])
    facts = {"data_version": str(run_id), "last_import_at": now.isoformat(timespec="seconds")}
    if mark_demo:
        facts["is_demo"] = "true"
    elif "accounts" in result.tables:
        facts["is_demo"] = "false"  # the accounts are the user's own now
    con.executemany("INSERT OR REPLACE INTO meta VALUES (?, ?)", [[k, v] for k, v in facts.items()])


def _run_watched(con: duckdb.DuckDBPyConnection, sql: str, report: Callable[[float], None]) -> None:
    """Run one long statement, reporting DuckDB's own progress about every half second."""
    # DuckDB tracks a statement's progress only while its progress bar is on; keep it from
    # printing its own bar, ours is the one on the terminal.
    con.execute("SET enable_progress_bar = true; SET enable_progress_bar_print = false")
    done = threading.Event()

    def poll() -> None:
        while not done.wait(0.5):
            try:
                pct = con.query_progress()
            except Exception:  # the statement finished between the check and the call
                return
            if pct is not None and pct >= 0:
                report(min(pct, 100.0) / 100)
            # -1 means "not known yet" (the statement is still binding): keep polling

    watcher = threading.Thread(target=poll, daemon=True)
    watcher.start()
    try:
        con.execute(sql)
    finally:
        done.set()
        watcher.join()
