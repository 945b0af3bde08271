"""Outreach lists as files people open in a spreadsheet or load into a CRM: CSV and XLSX.

UI-free: the pages' download buttons and ``python -m scoring export`` call the same ``render``,
so a download and a command give the same bytes for the same list. Why it is shaped so:

- **Safe in any spreadsheet.** CSV text cells that a spreadsheet would run (starting with ``=``,
  ``+``, ``-``, ``@``, tab or carriage return) get one leading ``'`` (``outputs.safe_cell``, the
  rule of every CSV this product writes), and so does text that already starts with ``'``;
  **reading back: strip exactly one leading ``'`` from a text cell**. XLSX cells are typed by xlsxwriter with
  ``strings_to_formulas``, ``strings_to_urls`` and ``strings_to_numbers`` off, so text is always
  stored as text and read back exactly, with no quote added.
- **Typed.** Numbers stay numbers (blank when unknown), dates are dates (ISO ``YYYY-MM-DD`` in
  CSV), so sorting and sums work. The XLSX data sheet has a frozen header and an autofilter, and an
  "About" sheet says what the file is: list, profile and version, filters in words, as-of date,
  time of export, notes on how numbers were made, and DEMO DATA for demo data (CSV has no second
  sheet, so demo exports carry a ``data`` column saying DEMO DATA on every row).
- **CRM presets** keyed on the CRM id (``PRESETS``): rows without a CRM id are left out (an import
  would create a record instead of updating one) and counted; only the id and generated figures
  and words go in, never text people typed (account and contact names, e-mails, flag reasons).
- Zero rows is a valid file: the header alone.
"""
from __future__ import annotations

import csv
import datetime as dt
import io
import math
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from .lists import LISTS, OutreachList
from .outputs import safe_cell

FORMATS = (".csv", ".xlsx")
DEMO_MARK = "DEMO DATA"
XLSX_OPTIONS = {"in_memory": True, "strings_to_formulas": False, "strings_to_urls": False,
                "strings_to_numbers": False}
PERCENT = {"churn_risk", "seat_utilisation", "usage_growth"}
MONEY = {"arr", "expected_arr_at_risk", "priority", "opportunity"}
SCORE = {"engagement_score", "health_score", "change_30d"}
RANKING = {"at-risk": "priority = expected ARR at risk x renewal proximity; expected ARR at risk = "
                      "arr x churn_risk (where a churn-risk model exists, else arr x (100 - health_score)"
                      " / 100); renewal proximity = 1 + max(0, 120 - days_to_renewal) / 120",
           "expansion": "opportunity = arr x seat_utilisation x (1 + usage_growth)"}


@dataclass(frozen=True)
class Preset:
    """Columns for one CRM's import: (our column, their header); the first is the CRM id."""

    name: str
    columns: tuple[tuple[str, str], ...]  # a list lacking a column (priority, opportunity) skips it
    matches_on: str


PRESETS = {
    "salesforce": Preset("salesforce", (
        ("crm_id", "Id"), ("rank", "CS_Rank__c"), ("health_score", "CS_Health_Score__c"),
        ("band", "CS_Health_Band__c"), ("flag", "CS_Flag__c"), ("churn_risk", "CS_Churn_Risk__c"),
        ("change_30d", "CS_Health_Change_30d__c"), ("priority", "CS_Priority__c"),
        ("opportunity", "CS_Expansion_Opportunity__c"), ("play", "CS_Play__c"),
        ("reasons", "CS_Reasons__c"), ("list", "CS_List__c"), ("as_of", "CS_As_Of__c")),
        "the Account record Id (Data Loader / Data Import Wizard update)"),
    "hubspot": Preset("hubspot", (
        ("crm_id", "Record ID"), ("rank", "cs_rank"), ("health_score", "cs_health_score"),
        ("band", "cs_health_band"), ("flag", "cs_flag"), ("churn_risk", "cs_churn_risk"),
        ("change_30d", "cs_health_change_30d"), ("priority", "cs_priority"),
        ("opportunity", "cs_expansion_opportunity"), ("play", "cs_play"), ("reasons", "cs_reasons"),
        ("list", "cs_list"), ("as_of", "cs_as_of")),
        "the company Record ID (companies import, update existing records)"),
}


@dataclass(frozen=True)
class Export:
    """One rendered file: its bytes, the rows written and the accounts in it."""

    data: bytes
    frame: pd.DataFrame
    account_ids: list[str]
    left_out: int  # rows a preset left out (no CRM id)
    mime: str


def preset_frame(ol: OutreachList, preset: str) -> tuple[pd.DataFrame, list[str], int]:
    """The list in a CRM preset's columns, rows without a CRM id left out; and the account ids
    written and the count left out."""
    p = PRESETS[preset]
    rows = ol.rows.assign(list=ol.settings.kind, as_of=ol.as_of)
    has_id = rows["crm_id"].notna() & rows["crm_id"].astype("str").str.strip().ne("")
    kept = rows[has_id]
    cols = [(c, h) for c, h in p.columns if c in kept.columns]
    out = pd.DataFrame({h: kept[c].to_numpy() for c, h in cols}, columns=[h for _, h in cols])
    return out.reset_index(drop=True), kept["account_id"].tolist(), int((~has_id).sum())


def about_rows(ol: OutreachList, *, demo: bool, exported_at: dt.datetime,
               preset: str | None = None, left_out: int = 0) -> list[tuple[str, str]]:
    """The About sheet: what the file is and how its numbers were made."""
    version = "" if ol.profile_version is None else str(ol.profile_version)
    rows = [("Data", DEMO_MARK + ": generated accounts, not real customers" if demo else "imported data"),
            ("List", LISTS[ol.settings.kind]), ("Profile", ol.profile), ("Profile version", version),
            ("As of", ol.as_of.isoformat()), ("Filters", ol.settings.describe()),
            ("Exported at (UTC)", exported_at.strftime("%Y-%m-%d %H:%M:%S")), ("Rows", str(len(ol.rows))),
            ("Ranking", RANKING[ol.settings.kind])]
    rows += [("Note", n) for n in ol.notes]
    rows += [("Held back", f"{k}: {v}") for k, v in ol.held_back.items() if v]
    if preset:
        rows.append(("Preset", f"{preset}: matched on {PRESETS[preset].matches_on}; "
                               f"{left_out} row(s) without a CRM id left out"))
    rows.append(("Reading CSV back", "the CSV form of this list puts ' before text starting with = + - @ "
                                     "tab, carriage return or '; strip exactly one leading ' from a text "
                                     "cell to read it back (this XLSX holds the text exactly)"))
    return rows


def _plain(value: object) -> object:
    """A cell value for CSV: NaN/None empty, dates ISO, text made inert."""
    if value is None or value is pd.NA or value is pd.NaT or (isinstance(value, float) and math.isnan(value)):
        return ""
    if isinstance(value, (dt.date, pd.Timestamp)):
        return value.strftime("%Y-%m-%d") if not isinstance(value, dt.datetime) or \
            (value.hour, value.minute, value.second) == (0, 0, 0) else value.isoformat()
    if isinstance(value, (bool, np.bool_)):
        return "true" if value else "false"
    if isinstance(value, (float, np.floating)):
        return f"{float(value):.12g}"
    return inert(value)


def inert(value: object) -> object:
    """``outputs.safe_cell``, and one more ``'`` before text that already starts with ``'``, so
    that stripping exactly one leading ``'`` gives every value back exactly."""
    if isinstance(value, str) and value.startswith("'"):
        return "'" + value
    return safe_cell(value)


def csv_bytes(frame: pd.DataFrame, *, bom: bool = False) -> bytes:
    """UTF-8 CSV as RFC 4180 has it (CRLF line ends; a field holding a comma, quote, CR or LF is
    quoted); ``bom`` adds the byte-order mark Excel uses to recognise UTF-8."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\r\n")  # with CR in the terminator, a lone CR is quoted too
    w.writerow([inert(str(c)) for c in frame.columns])
    for row in frame.itertuples(index=False, name=None):
        w.writerow([_plain(v) for v in row])
    return (b"\xef\xbb\xbf" if bom else b"") + buf.getvalue().encode("utf-8")


def _kind(series: pd.Series) -> str:
    if pd.api.types.is_bool_dtype(series):
        return "bool"
    if pd.api.types.is_numeric_dtype(series):
        return "number"
    if pd.api.types.is_datetime64_any_dtype(series):
        return "date"
    values = series.dropna()
    if len(values) and all(isinstance(v, dt.date) for v in values):
        return "date"
    return "text"


def xlsx_bytes(frame: pd.DataFrame, about: list[tuple[str, str]], *, sheet: str = "Outreach") -> bytes:
    """An XLSX workbook: the typed data sheet (frozen header, autofilter) and the About sheet."""
    import xlsxwriter

    buf = io.BytesIO()
    wb = xlsxwriter.Workbook(buf, XLSX_OPTIONS)
    head = wb.add_format({"bold": True, "bottom": 1})
    fmt = {"date": wb.add_format({"num_format": "yyyy-mm-dd"}), "pct": wb.add_format({"num_format": "0.0%"}),
           "money": wb.add_format({"num_format": "#,##0"}), "score": wb.add_format({"num_format": "0.0"}),
           "text": wb.add_format({"text_wrap": False})}
    ws = wb.add_worksheet(sheet)
    for j, col in enumerate(frame.columns):
        ws.write_string(0, j, str(col), head)
        kind = _kind(frame[col])
        cell_fmt = fmt["pct"] if col in PERCENT else fmt["money"] if col in MONEY else \
            fmt["score"] if col in SCORE else None
        width = len(str(col))
        for i, v in enumerate(frame[col].tolist(), start=1):
            if v is None or v is pd.NA or v is pd.NaT or (isinstance(v, float) and math.isnan(v)):
                ws.write_blank(i, j, None)
            elif kind == "number":
                f = float(v)
                ws.write_number(i, j, f, cell_fmt) if math.isfinite(f) else ws.write_blank(i, j, None)
            elif kind == "bool":
                ws.write_boolean(i, j, bool(v))
            elif kind == "date":
                d = v.date() if isinstance(v, (pd.Timestamp, dt.datetime)) else v
                ws.write_datetime(i, j, dt.datetime.combine(d, dt.time()), fmt["date"])
                width = max(width, 10)
            else:
                text = str(v)
                ws.write_string(i, j, text)
                width = max(width, min(len(text), 60))
        ws.set_column(j, j, min(max(width, 8) + 2, 62))
    ws.freeze_panes(1, 0)
    ws.autofilter(0, 0, max(len(frame), 0), max(len(frame.columns) - 1, 0))
    info = wb.add_worksheet("About")
    info.write_string(0, 0, "item", head)
    info.write_string(0, 1, "value", head)
    for i, (k, v) in enumerate(about, start=1):
        info.write_string(i, 0, k)
        info.write_string(i, 1, v)
    info.set_column(0, 0, 20)
    info.set_column(1, 1, 100)
    wb.close()
    return buf.getvalue()


def render(ol: OutreachList, fmt: str, *, preset: str | None = None, bom: bool = False,
           demo: bool = False, exported_at: dt.datetime | None = None) -> Export:
    """The list as ``fmt`` (``"csv"`` or ``"xlsx"``), optionally in a CRM preset's columns."""
    if fmt not in ("csv", "xlsx"):
        raise ValueError(f"format {fmt!r}: expected csv or xlsx")
    if preset is not None and preset not in PRESETS:
        raise ValueError(f"preset {preset!r}: expected one of {', '.join(PRESETS)}")
    when = exported_at or dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)
    if preset:
        frame, ids, left_out = preset_frame(ol, preset)
    else:
        frame, ids, left_out = ol.rows.copy(), ol.ids, 0
    if demo:
        frame["data"] = DEMO_MARK
    if fmt == "csv":
        return Export(csv_bytes(frame, bom=bom), frame, ids, left_out, "text/csv")
    about = about_rows(ol, demo=demo, exported_at=when, preset=preset, left_out=left_out)
    return Export(xlsx_bytes(frame, about, sheet=LISTS[ol.settings.kind]), frame, ids, left_out,
                  "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")


def file_name(ol: OutreachList, fmt: str) -> str:
    """A download's file name: list, owner (when one) and as-of date."""
    owner = "" if ol.settings.owner is None else "-" + "".join(
        ch if ch.isalnum() else "_" for ch in ol.settings.owner.split("@")[0])[:40]
    return f"{ol.settings.kind}{owner}-{ol.as_of.isoformat()}.{fmt}"


def write_file(out: Path, data: bytes) -> None:
    """Write beside the target and rename into place, so no reader sees half a file."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.{os.getpid()}.tmp")
    try:
        tmp.write_bytes(data)
        os.replace(tmp, out)
    finally:
        tmp.unlink(missing_ok=True)


def read_back(text: str) -> str:
    """The reading rule for CSV text cells: strip exactly one leading ``'``."""
    return text[1:] if text.startswith("'") else text


__all__ = ["DEMO_MARK", "Export", "FORMATS", "PRESETS", "Preset", "XLSX_OPTIONS", "about_rows",
           "csv_bytes", "file_name", "preset_frame", "read_back", "render", "write_file", "xlsx_bytes"]
