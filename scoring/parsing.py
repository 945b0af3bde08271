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
from pathlib import Path

from .schema import Table

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


WHITESPACE = "' \t\r\n'"  # what counts as blank around a value (SQL literal)


def _blank(t: str) -> str:
    """SQL: the text ``t`` is missing, empty or only whitespace (trimmed only when it could be)."""
    return f"({t} IS NULL OR {t} = '' OR (ascii({t}) IN (9, 10, 13, 32) AND trim({t}, {WHITESPACE}) = ''))"


def _parse(kind: str, t: str) -> str:
    """SQL parsing text ``t`` as ``kind``; NULL when it does not parse.

    Casts try the text as written first and trim only when that fails: DuckDB's number casts
    skip surrounding spaces themselves, and ``trim`` on every value costs more than the parse.
    """
    def cast(sql_type: str) -> str:
        return f"coalesce(try_cast({t} AS {sql_type}), try_cast(trim({t}, {WHITESPACE}) AS {sql_type}))"
    return {
        "number": cast("DOUBLE"),
        "integer": f"try_cast(CASE WHEN {cast('DOUBLE')} = trunc({cast('DOUBLE')}) THEN {cast('DOUBLE')} END AS BIGINT)",
        "date": f"CAST(try_strptime(trim({t}, {WHITESPACE}), '%Y-%m-%d') AS DATE)",
        "timestamp": f"CAST({cast('TIMESTAMPTZ')} AS TIMESTAMP)",
        "bool": (f"CASE lower(trim({t}, {WHITESPACE})) WHEN 'true' THEN TRUE WHEN '1' THEN TRUE "
                 f"WHEN 'false' THEN FALSE WHEN '0' THEN FALSE END"),
        "choice": f"lower(trim({t}, {WHITESPACE}))",
    }[kind]


_NATIVE_PARSE = {"number": "CAST({v} AS DOUBLE)", "integer": "CAST({v} AS BIGINT)", "date": "{v}",
                 "timestamp": "CAST({v} AS TIMESTAMP)", "bool": "{v}"}

STAGE_COLUMNS = ("_err_col", "_err_val", "_err_why", "_raw")  # bookkeeping dropped after checks


def stage_sql(table: Table, source: str, source_types: dict[str, str], stage: str) -> str:
    """CREATE TABLE ``stage`` from ``source`` (a table function call built by ``ingest``).

    The stage has the table's columns typed, plus ``_err_col`` (the first column at fault),
    ``_err_val`` (its value as written), ``_err_why`` (set by whole-table rules: what was
    expected) and ``_raw`` (the row as written, JSON, only on bad rows).

    Three nested SELECTs so that each value is parsed once: the innermost parses every column
    into ``_p_<name>``, the middle one finds the first broken rule from those, the outer one
    builds the typed row and, for bad rows only, the value and row as written.
    """
    parsed, typed, rules = [], [], []
    for c in table.columns:
        v, p = _q(c.name), _q("_p_" + c.name)
        source_type = (source_types.get(c.name) or "").upper()
        if not source_type:  # an optional column the file does not have
            typed.append(f"CAST({c.default or 'NULL'} AS {c.sql_type}) AS {v}")
            continue
        t = v if source_type == "VARCHAR" else f"CAST({v} AS VARCHAR)"
        if c.kind == "text":  # kept exactly as written; empty text is simply missing
            typed.append(f"{t} AS {v}")
            continue
        native = source_type in _NATIVE.get(c.kind, set())
        if native:
            parsed.append(f"{_NATIVE_PARSE[c.kind].format(v=v)} AS {p}")
            blank = f"{v} IS NULL"
        else:
            parsed.append(f"{t if c.kind == 'id' else _parse(c.kind, t)} AS {p}")
            blank = _blank(t)
        if c.kind in ("number", "timestamp"):
            invalid = f"NOT isfinite({p})"  # no NaN, no infinity, no 'infinity'::TIMESTAMPTZ
        elif c.kind == "choice":
            invalid = f"NOT list_contains([{', '.join(_lit(x) for x in c.choices)}], {p})"
        else:
            invalid = "FALSE"
        checks = [invalid]
        if c.min is not None:
            checks.append(f"{p} < {c.min!r}")
        if c.max is not None:
            checks.append(f"{p} > {c.max!r}")
        broken = f"({p} IS NOT NULL AND ({' OR '.join(checks)}))"
        unparsed = "FALSE" if native or c.kind == "id" else f"({p} IS NULL AND NOT {blank})"
        if c.default is not None:
            typed.append(f"CASE WHEN {p} IS NULL AND {blank} THEN CAST({c.default} AS {c.sql_type}) "
                         f"ELSE {p} END AS {v}")
            rules.append((c.name, f"{unparsed} OR {broken}"))
        elif c.nullable:
            typed.append(f"{p} AS {v}")
            rules.append((c.name, f"{unparsed} OR {broken}"))
        else:
            typed.append(f"{p} AS {v}")
            missing = blank if c.kind == "id" else f"{p} IS NULL"
            rules.append((c.name, f"{missing} OR {broken}"))
    for later, earlier in table.order_checks:  # checked once both values are valid
        if later in source_types and earlier in source_types:
            rules.append((later, f"(_p_{later} < _p_{earlier})"))
    present = [c for c in table.columns if c.name in source_types]
    err_col = " ".join(f"WHEN {rule} THEN {_lit(name)}" for name, rule in rules) or "WHEN FALSE THEN NULL"
    err_val = " ".join(f"WHEN {_lit(c.name)} THEN coalesce(CAST({_q(c.name)} AS VARCHAR), '')"
                       for c in present) or "WHEN '' THEN NULL"
    raw = "json_object(" + ", ".join(f"{_lit(c.name)}, CAST({_q(c.name)} AS VARCHAR)" for c in present) + ")"
    inner = f"SELECT *{''.join(', ' + x for x in parsed)} FROM {source}"
    return (
        f"CREATE TABLE {_q(stage)} AS SELECT {', '.join(typed)}, _err_col, "
        f"CASE WHEN _err_col IS NOT NULL THEN CASE _err_col {err_val} END END AS _err_val, "
        f"CAST(NULL AS VARCHAR) AS _err_why, "
        f"CASE WHEN _err_col IS NOT NULL THEN CAST({raw} AS VARCHAR) END AS _raw "
        f"FROM (SELECT *, CASE {err_col} END AS _err_col FROM ({inner}))"
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
