"""Reading one import file into a checked, typed staging table, in DuckDB, streaming.

Each file is read once by DuckDB (``read_csv`` with fixed RFC 4180 settings and every column as
text, or ``read_parquet`` with its own types) into a staging table that holds the typed values
plus, for a row that breaks a rule, the first column at fault, its value as written, and the row
as written. Rows keep the file's order, so a staging row's ``rowid`` is its place in the file;
only when there are errors do we turn those places into line numbers (``csv_lines``), so the
happy path pays nothing for them.

All SQL identifiers here come from ``schema`` (never from file contents): a file's column names
are only compared against the schema's.
"""
from __future__ import annotations

import csv
import sys
from dataclasses import dataclass
from pathlib import Path

from .schema import Column, Table

# Source types that already have the right shape; any other type is read through its text form.
_NATIVE = {
    "number": {"DOUBLE", "FLOAT", "BIGINT", "INTEGER", "SMALLINT", "TINYINT", "HUGEINT",
               "UBIGINT", "UINTEGER", "USMALLINT", "UTINYINT"},
    "integer": {"BIGINT", "INTEGER", "SMALLINT", "TINYINT", "UBIGINT", "UINTEGER", "USMALLINT",
                "UTINYINT", "HUGEINT"},
    "date": {"DATE"},
    "timestamp": {"TIMESTAMP", "TIMESTAMP_NS", "TIMESTAMP_MS", "TIMESTAMP_S", "DATE",
                  "TIMESTAMP WITH TIME ZONE"},
    "bool": {"BOOLEAN"},
}


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _lit(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


@dataclass
class ColumnSQL:
    typed: str  # expression giving the typed value (NULL when empty)
    bad: str  # expression true when the value breaks the column's rule


def column_sql(col: Column, source_type: str | None) -> ColumnSQL:
    """Typed value and rule check for one column, given its type in the file (None: absent)."""
    if source_type is None:  # optional column missing from the file
        typed = f"CAST({col.default} AS {col.sql_type})" if col.default else f"CAST(NULL AS {col.sql_type})"
        return ColumnSQL(typed, "FALSE")
    v = _q(col.name)
    native = source_type.upper() in _NATIVE.get(col.kind, set())
    if native:
        empty = f"{v} IS NULL"
        parsed = {
            "number": f"CAST({v} AS DOUBLE)",
            "integer": f"CAST({v} AS BIGINT)",
            "date": v,
            "timestamp": f"CAST({v} AS TIMESTAMP)",
            "bool": v,
        }[col.kind]
        invalid = f"NOT isfinite({parsed})" if col.kind == "number" else "FALSE"
    else:
        t = v if source_type.upper() == "VARCHAR" else f"CAST({v} AS VARCHAR)"
        empty = f"({t} IS NULL OR trim({t}) = '')"
        parsed = {
            "id": t,
            "text": t,
            "number": f"try_cast(trim({t}) AS DOUBLE)",
            "integer": f"try_cast(CASE WHEN try_cast(trim({t}) AS DOUBLE) = trunc(try_cast(trim({t}) AS DOUBLE)) "
                       f"THEN try_cast(trim({t}) AS DOUBLE) END AS BIGINT)",
            "date": f"CAST(try_strptime(trim({t}), '%Y-%m-%d') AS DATE)",
            "timestamp": f"CAST(try_cast(trim({t}) AS TIMESTAMPTZ) AS TIMESTAMP)",
            "bool": (f"CASE lower(trim({t})) WHEN 'true' THEN TRUE WHEN '1' THEN TRUE "
                     f"WHEN 'false' THEN FALSE WHEN '0' THEN FALSE END"),
            "choice": f"lower(trim({t}))",
        }[col.kind]
        invalid = {
            "number": f"{parsed} IS NULL OR NOT isfinite({parsed})",
            "choice": f"NOT list_contains([{', '.join(_lit(c) for c in col.choices)}], {parsed})",
        }.get(col.kind, f"{parsed} IS NULL" if col.kind not in ("id", "text") else "FALSE")
    if col.kind == "text":  # text is kept exactly as written; empty text is simply missing
        return ColumnSQL(f"{v}" if source_type.upper() == "VARCHAR" else f"CAST({v} AS VARCHAR)", "FALSE")
    checks = [f"({invalid})"]
    if col.min is not None:
        checks.append(f"{parsed} < {col.min!r}")
    if col.max is not None:
        checks.append(f"{parsed} > {col.max!r}")
    rule = " OR ".join(checks)
    if col.default is not None:
        typed = f"CASE WHEN {empty} THEN CAST({col.default} AS {col.sql_type}) ELSE {parsed} END"
        bad = f"(NOT {empty} AND ({rule}))"
    elif col.nullable:
        typed = f"CASE WHEN {empty} THEN NULL ELSE {parsed} END"
        bad = f"(NOT {empty} AND ({rule}))"
    else:
        typed = parsed
        bad = f"({empty} OR {rule})"
    return ColumnSQL(typed, bad)


STAGE_COLUMNS = ("_err_col", "_err_val", "_err_why", "_raw")  # bookkeeping dropped after checks


def stage_sql(table: Table, source: str, source_types: dict[str, str], stage: str) -> str:
    """CREATE TABLE ``stage`` from ``source`` (a table function call built by ``ingest``).

    The stage has the table's columns typed, plus ``_err_col`` (the column at fault),
    ``_err_val`` (its value as written), ``_err_why`` (set by whole-table rules: what was
    expected) and ``_raw`` (the row as written, JSON).
    """
    parts = {c.name: column_sql(c, source_types.get(c.name)) for c in table.columns}
    present = [c for c in table.columns if c.name in source_types]
    err_col = " ".join(f"WHEN {parts[c.name].bad} THEN {_lit(c.name)}" for c in present)
    err_val = " ".join(f"WHEN {parts[c.name].bad} THEN coalesce(CAST({_q(c.name)} AS VARCHAR), '')"
                       for c in present)
    order = [(later, earlier) for later, earlier in table.order_checks
             if later in source_types and earlier in source_types]
    for later, earlier in order:  # checked once both values are valid
        cond = f"({parts[later].typed} < {parts[earlier].typed})"
        err_col += f" WHEN {cond} THEN {_lit(later)}"
        err_val += f" WHEN {cond} THEN CAST({_q(later)} AS VARCHAR)"
    raw = "json_object(" + ", ".join(f"{_lit(c.name)}, CAST({_q(c.name)} AS VARCHAR)" for c in present) + ")"
    typed = ", ".join(f"{parts[c.name].typed} AS {_q(c.name)}" for c in table.columns)
    return (
        f"CREATE TABLE {_q(stage)} AS SELECT {typed}, _err_col, _err_val, CAST(NULL AS VARCHAR) AS _err_why, "
        f"CASE WHEN _err_col IS NOT NULL THEN CAST({raw} AS VARCHAR) END AS _raw "
        f"FROM (SELECT *, CASE {err_col or 'WHEN FALSE THEN NULL'} END AS _err_col, "
        f"CASE {err_val or 'WHEN FALSE THEN NULL'} END AS _err_val FROM {source})"
    )


def raw_json(table: Table) -> str:
    """SQL for a staging row as JSON text (for rows that only a whole-table rule rejects)."""
    return ("CAST(json_object(" + ", ".join(f"{_lit(c)}, CAST({_q(c)} AS VARCHAR)" for c in table.names)
            + ") AS VARCHAR)")


def expected_text(table: Table, column: str) -> str:
    """What the rule for ``column`` expects, including the ordering rules."""
    for later, earlier in table.order_checks:
        if later == column:
            return f"{table.column(column).expected()}, not before {earlier}"
    return table.column(column).expected()


def read_csv_header(path: Path) -> list[str]:
    """The header row of a CSV file, read with the standard library's RFC 4180 reader."""
    with open(path, newline="", encoding="utf-8-sig") as fh:
        try:
            header = next(csv.reader(fh))
        except StopIteration:
            return []
    return header


def csv_lines(path: Path, records: set[int]) -> dict[int, int]:
    """Physical line (1-based, header is line 1) where each data record starts.

    ``records`` are 0-based indexes of data records in the file (header excluded). A record may
    span several lines (quoted newlines), so this walks the file once with the same RFC 4180
    rules, stopping at the last record wanted.
    """
    out: dict[int, int] = {}
    if not records:
        return out
    last = max(records)
    csv.field_size_limit(sys.maxsize)
    with open(path, newline="", encoding="utf-8-sig", errors="replace") as fh:
        reader = csv.reader(fh)
        end = 0
        index = -1  # the header
        for rec in reader:
            start, end = end + 1, reader.line_num
            if not rec:  # blank line: DuckDB skips it too
                continue
            if index in records:
                out[index] = start
            if index >= last:
                break
            index += 1
    return out


def line_of_byte(path: Path, offset: int) -> int:
    """1-based line number holding byte ``offset`` of a file."""
    line = 1
    with open(path, "rb") as fh:
        remaining = offset
        while remaining > 0:
            chunk = fh.read(min(remaining, 1 << 20))
            if not chunk:
                break
            line += chunk.count(b"\n")
            remaining -= len(chunk)
    return line
