"""Where the two stores live: ``--db`` / ``CS_DB`` and ``--state`` / ``CS_STATE``.

The default data file is ``data/cs.duckdb`` relative to the working directory; the state file
sits beside the data file, named after it (``cs.duckdb`` -> ``cs.state.sqlite``).
"""
from __future__ import annotations

import os
from pathlib import Path

DEFAULT_DB = Path("data") / "cs.duckdb"


def db_path(cli_value: str | os.PathLike | None = None) -> Path:
    """The data file: the command-line value, else ``CS_DB``, else the default."""
    value = cli_value or os.environ.get("CS_DB") or DEFAULT_DB
    return Path(value).absolute()


def state_path(db: Path, cli_value: str | os.PathLike | None = None) -> Path:
    """The state file: the command-line value, else ``CS_STATE``, else beside the data file."""
    value = cli_value or os.environ.get("CS_STATE")
    if value:
        return Path(value).absolute()
    return db.with_name(db.stem + ".state.sqlite")


def is_default_db(path: Path) -> bool:
    """True when ``path`` is the default location (the only place the app builds a demo by itself)."""
    return not os.environ.get("CS_DB") and path == DEFAULT_DB.absolute()


def rejects_path(db: Path) -> Path:
    """Where ``import --skip-bad-rows`` writes the rejected rows: beside the data file."""
    return db.with_name(db.stem + ".rejects.csv")
