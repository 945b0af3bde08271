"""The data store's schema: the contract's import tables and the tables derived from them.

One declaration drives three things, so they cannot drift apart: the import validator (which
columns a file must have and what each value must look like), the DuckDB DDL of the data store,
and the schema section of the docs (``docs/SCHEMA.md`` is checked against it by a test).

Column kinds and what a value must be (the value arrives as text from CSV, or typed from Parquet):

- ``id``: text, not empty.
- ``text``: any text, kept byte for byte; empty means missing.
- ``number``: a decimal number (``12``, ``12.5``, ``1e3``), finite; stored as DOUBLE.
- ``integer``: a whole number; stored as BIGINT.
- ``date``: ISO 8601 ``YYYY-MM-DD``; stored as DATE.
- ``timestamp``: ISO 8601 date or date-time, optional ``T``, seconds, fraction and zone
  (``Z`` or ``+hh:mm``); no zone means UTC; stored as a UTC TIMESTAMP.
- ``bool``: ``true`` or ``false`` (any case; ``1``/``0`` accepted too); stored as BOOLEAN.
- ``choice``: one of a fixed set of words (lower case).
"""
from __future__ import annotations

from dataclasses import dataclass, field

DIMENSIONS = ("breadth", "frequency", "depth", "collaboration", "integration")
PRIORITIES = ("low", "normal", "high", "urgent")

SQL_TYPES = {
    "id": "VARCHAR",
    "text": "VARCHAR",
    "number": "DOUBLE",
    "integer": "BIGINT",
    "date": "DATE",
    "timestamp": "TIMESTAMP",
    "bool": "BOOLEAN",
    "choice": "VARCHAR",
}


@dataclass(frozen=True)
class Column:
    """One column of an import table and the rule its values follow."""

    name: str
    kind: str
    required: bool = True  # the column must be in the file
    nullable: bool = False  # an empty value is allowed
    default: str | None = None  # SQL literal used when the column is absent or empty
    min: float | None = None
    max: float | None = None
    choices: tuple[str, ...] = ()
    doc: str = ""

    @property
    def sql_type(self) -> str:
        return SQL_TYPES[self.kind]

    def expected(self) -> str:
        """What a valid value looks like, in words, for error messages."""
        words = {
            "id": "a non-empty text",
            "text": "text",
            "number": "a number",
            "integer": "a whole number",
            "date": "a date YYYY-MM-DD",
            "timestamp": "a date or timestamp in ISO 8601 (YYYY-MM-DD[THH:MM[:SS]][Z|+hh:mm])",
            "bool": "true or false",
            "choice": "one of " + ", ".join(self.choices),
        }[self.kind]
        if self.min is not None and self.max is not None:
            words += f" from {_num(self.min)} to {_num(self.max)}"
        elif self.min is not None:
            words += f" >= {_num(self.min)}"
        if self.default is not None:
            words += f" (empty means {self.default.strip(chr(39))})"
        elif self.nullable:
            words += " (or empty)"
        return words


def _num(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else str(x)


@dataclass(frozen=True)
class Table:
    """An import table: its columns, its key, and the account reference rule."""

    name: str
    needed: bool
    columns: tuple[Column, ...]
    unique: tuple[str, ...] = ()  # columns that together identify a row
    references_accounts: bool = True  # account_id must be in accounts
    doc: str = ""
    order_checks: tuple[tuple[str, str], ...] = field(default=())  # (later, earlier): later >= earlier

    def column(self, name: str) -> Column:
        return next(c for c in self.columns if c.name == name)

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns)


def _c(name: str, kind: str, **kw) -> Column:
    return Column(name, kind, **kw)


TABLES: dict[str, Table] = {
    t.name: t
    for t in (
        Table(
            "accounts",
            needed=True,
            references_accounts=False,
            unique=("account_id",),
            doc="One row per customer account, as it is now (no history).",
            columns=(
                _c("account_id", "id"),
                _c("name", "text", nullable=True),
                _c("segment", "text", nullable=True),
                _c("plan", "text", nullable=True),
                _c("region", "text", nullable=True),
                _c("csm_owner", "text", nullable=True, doc="the CSM's sign-in email where sign-in is used"),
                _c("crm_id", "text", required=False, nullable=True),
                _c("arr", "number", min=0),
                _c("seats", "integer", min=0),
                _c("contract_start", "date", nullable=True),
                _c("renewal_date", "date", nullable=True),
            ),
        ),
        Table(
            "usage_events",
            needed=True,
            doc="Product usage: one row per event, or per account, day and event type with a quantity.",
            columns=(
                _c("account_id", "id"),
                _c("occurred_at", "timestamp"),
                _c("event_type", "id"),
                _c("user_id", "text", required=False, nullable=True),
                _c("quantity", "number", required=False, min=0, default="1"),
            ),
        ),
        Table(
            "event_types",
            needed=False,
            references_accounts=False,
            unique=("event_type",),
            doc="The catalogue of event types: feature, dimension, and value versus passive.",
            columns=(
                _c("event_type", "id"),
                _c("feature", "text", nullable=True),
                _c("dimension", "choice", choices=DIMENSIONS),
                _c("value_action", "bool"),
            ),
        ),
        Table(
            "mrr_history",
            needed=False,
            unique=("account_id", "effective_date"),
            doc="Monthly recurring revenue; each row holds from its date until the next row.",
            columns=(
                _c("account_id", "id"),
                _c("effective_date", "date"),
                _c("mrr", "number", min=0),
            ),
        ),
        Table(
            "nps_responses",
            needed=False,
            doc="Net Promoter Score survey answers.",
            columns=(
                _c("account_id", "id"),
                _c("responded_at", "date"),
                _c("score", "integer", min=0, max=10),
                _c("user_id", "text", required=False, nullable=True),
            ),
        ),
        Table(
            "support_tickets",
            needed=False,
            unique=("ticket_id",),
            order_checks=(("closed_at", "opened_at"),),
            doc="Support tickets; open on T when closed_at is empty or on/after T.",
            columns=(
                _c("ticket_id", "id"),
                _c("account_id", "id"),
                _c("opened_at", "timestamp"),
                _c("closed_at", "timestamp", required=False, nullable=True),
                _c("priority", "choice", choices=PRIORITIES),
                _c("sentiment", "number", required=False, nullable=True, min=-1, max=1),
            ),
        ),
        Table(
            "invoices",
            needed=False,
            unique=("invoice_id",),
            order_checks=(("due_at", "issued_at"),),
            doc="Invoices; outstanding on T when paid_at is empty or on/after T.",
            columns=(
                _c("invoice_id", "id"),
                _c("account_id", "id"),
                _c("issued_at", "date"),
                _c("due_at", "date"),
                _c("paid_at", "date", required=False, nullable=True),
                _c("amount", "number", min=0),
            ),
        ),
        Table(
            "contacts",
            needed=False,
            doc="People at the account; is_primary marks the one outreach lists name.",
            columns=(
                _c("account_id", "id"),
                _c("name", "text", nullable=True),
                _c("email", "text", nullable=True),
                _c("role", "text", nullable=True),
                _c("is_primary", "bool", required=False, nullable=True, default="false"),
            ),
        ),
    )
}

IMPORT_ORDER = tuple(TABLES)  # accounts first: the others are checked against it

# Tables the product derives and keeps in the data store. Imports create them when missing and
# carry them over; later capabilities (signals, snapshots) fill them.
DERIVED_DDL: dict[str, str] = {
    "meta": """
        CREATE TABLE IF NOT EXISTS meta (
            key VARCHAR PRIMARY KEY,   -- is_demo, data_version, created_at, ...
            value VARCHAR
        )""",
    "import_runs": """
        CREATE TABLE IF NOT EXISTS import_runs (
            run_id BIGINT,             -- 1, 2, ... in order
            finished_at TIMESTAMP,     -- UTC time the new file was complete
            source VARCHAR,            -- the folder imported (or 'demo')
            tables VARCHAR,            -- comma-separated tables replaced
            rows_loaded BIGINT,
            rows_skipped BIGINT,       -- rejected by --skip-bad-rows
            rejects_file VARCHAR,      -- where the rejected rows were written, if any
            vanished_accounts BIGINT   -- accounts in the old accounts table missing from the new
        )""",
    "import_notes": """
        CREATE TABLE IF NOT EXISTS import_notes (
            run_id BIGINT,
            level VARCHAR,             -- 'warning' or 'info'
            topic VARCHAR,             -- 'vanished_account', 'extra_column', 'skipped_rows', ...
            detail VARCHAR
        )""",
    "score_snapshots": """
        CREATE TABLE IF NOT EXISTS score_snapshots (
            as_of DATE,
            profile VARCHAR,
            profile_version INTEGER,
            account_id VARCHAR,
            engagement_score DOUBLE,
            health_score DOUBLE,
            band VARCHAR,
            data_confidence DOUBLE,
            arr DOUBLE,                -- ARR on that date
            expansion_ready BOOLEAN,
            created_at TIMESTAMP
        )""",
}


def markdown() -> str:
    """The import tables as Markdown, for docs/DATA.md (a test keeps the two equal)."""
    out = []
    for t in TABLES.values():
        key = f" Key: {', '.join(t.unique)}." if t.unique else ""
        ref = " Every account_id must be in accounts." if t.references_accounts else ""
        out.append(f"### `{t.name}` ({'needed' if t.needed else 'optional'})\n\n{t.doc}{key}{ref}\n")
        out.append("| column | stored as | in the file | a value must be |")
        out.append("|---|---|---|---|")
        for c in t.columns:
            presence = "required" if c.required else "optional"
            note = f" ({c.doc})" if c.doc else ""
            cell = (c.expected() + note).replace("|", "\\|")
            out.append(f"| `{c.name}` | {c.sql_type} | {presence} | {cell} |")
        for later, earlier in t.order_checks:
            out.append(f"\n`{later}` may not be before `{earlier}`.")
        out.append("")
    return "\n".join(out).rstrip() + "\n"
