"""What an import found wrong: located problems, the all-or-nothing error, the rejects file.

A ``Problem`` names the file, the line (CSV: the physical line where the record starts) or row
(Parquet: 1 = first data row), the column, the value as written and what was expected. Staging
rows carry their place in the file as ``rowid``; ``locate`` turns those places into line numbers
only when there are problems, so a clean import pays nothing for them.
"""
from __future__ import annotations

import csv
import json
from dataclasses import dataclass
from pathlib import Path

from .errors import DataError
from .parsing import csv_lines, expected_text
from .schema import IMPORT_ORDER, TABLES


@dataclass
class Problem:
    """One broken rule, located: file, line (CSV) or row (Parquet), column, value, expectation."""

    file: str
    line: int | None
    column: str | None
    value: str | None
    expected: str
    table: str = ""
    raw: str | None = None  # the row as written (JSON), for the rejects file
    where_word: str = "line"
    first: int | None = None  # for a duplicate key: where the key was first seen

    @property
    def expectation(self) -> str:
        if self.first is None:
            return self.expected
        return f"{self.expected} (first seen at {self.where_word} {self.first})"

    def message(self) -> str:
        where = f"{self.file}, {self.where_word} {self.line}" if self.line else self.file
        col = f", column {self.column}" if self.column else ""
        val = "" if self.value is None else f": value {json.dumps(self.value, ensure_ascii=False)}"
        return f"{where}{col}{val} — expected {self.expectation}"


class ImportFailed(DataError):
    """The import broke a rule; nothing was changed. ``problems`` lists what was found."""

    def __init__(self, problems: list[Problem], total: int) -> None:
        self.problems, self.total = problems, total
        more = f" (and {total - 1} more problem{'s' if total > 2 else ''})" if total > 1 else ""
        super().__init__(problems[0].message() + more)


def locate(probs: list[Problem], path: Path, where: str) -> None:
    """Turn staging row indexes into CSV line numbers (or 1-based Parquet rows), in place."""
    if where == "row":
        for p in probs:
            p.line = (p.line or 0) + 1
            p.first = None if p.first is None else p.first + 1
        return
    lines = csv_lines(path, {p.line for p in probs if p.line is not None}
                      | {p.first for p in probs if p.first is not None})
    for p in probs:
        p.line = lines.get(p.line, (p.line or 0) + 2)
        p.first = None if p.first is None else lines.get(p.first, p.first + 2)


def write_rejects(con, files: dict[str, Path], listed: list[Problem], out: Path) -> int:
    """Write every rejected row with its reason to ``out``; drop them from staging."""
    skipped = 0
    with open(out, "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["file", "where", "column", "value", "expected", "row"])
        for p in listed:  # structural CSV errors never reached staging: only listed ones are known
            if p.column is None:
                w.writerow([p.file, f"{p.where_word} {p.line}", "", "", p.expectation, p.raw or ""])
                skipped += 1
        for name in IMPORT_ORDER:
            if name not in files:
                continue
            stage = f"_stage_{name}"
            table = TABLES[name]
            where = "line" if files[name].suffix == ".csv" else "row"
            cur = con.cursor()
            cur.execute(f'SELECT rowid, _err_col, _err_val, _err_why, _raw FROM "{stage}" '
                        "WHERE _err_col IS NOT NULL ORDER BY rowid")
            batch = cur.fetchall()
            cur.close()
            probs = [Problem(files[name].name, int(r), c, v, why or expected_text(table, c),
                             table=name, raw=raw, where_word=where) for r, c, v, why, raw in batch]
            locate(probs, files[name], where)
            for p in probs:
                w.writerow([p.file, f"{where} {p.line}", p.column, p.value, p.expectation, p.raw or ""])
            skipped += len(probs)
            con.execute(f'DELETE FROM "{stage}" WHERE _err_col IS NOT NULL')
    return skipped
