"""The one error type users see: invalid input or data (exit status 1, one line on stderr).

Kept apart from ``store`` so the pure modules (profiles, the math) can raise it without
importing DuckDB.
"""


class DataError(Exception):
    """Invalid input or data: the command line prints it as one line and exits with status 1."""
