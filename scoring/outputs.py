"""Writing result tables to files people and scripts open: CSV or Parquet by suffix.

CSV text cells that a spreadsheet would run as a formula (starting with ``=``, ``+``, ``-``,
``@``, tab or carriage return) get one leading ``'``; read a value back by removing exactly one
leading ``'`` from such a cell. Numbers stay numbers. Parquet keeps every value exactly. Files are
written beside their target and renamed into place, so a reader never sees half a file.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pandas as pd

RISKY_START = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value: object) -> object:
    """A text value made inert for spreadsheets; other values unchanged."""
    if isinstance(value, str) and value.startswith(RISKY_START):
        return "'" + value
    return value


def write_table(frame: "pd.DataFrame", out: Path) -> None:
    """Write ``frame`` to ``out`` (.csv: UTF-8, spreadsheet-safe text; .parquet: exact)."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.{os.getpid()}.tmp")
    try:
        if out.suffix == ".parquet":
            frame.to_parquet(tmp, index=False)
        else:
            safe = frame.copy()
            for col in safe.columns:
                if safe[col].dtype == object or str(safe[col].dtype).startswith("str"):
                    safe[col] = safe[col].map(safe_cell)
            safe.to_csv(tmp, index=False, encoding="utf-8", lineterminator="\n", float_format="%.12g")
        os.replace(tmp, out)
    finally:
        tmp.unlink(missing_ok=True)
