"""Security settings and bound values: each would fail if the protection were taken away."""
from __future__ import annotations

import tomllib

from conftest import ACCOUNT_COLS, EVENT_COLS, ROOT, write_csv
from scoring import account, portfolio
from scoring.ingest import import_dir
from scoring.scope import Scope
from scoring.store import DataStore

QUOTE = "A1' OR '1'='1"


def test_production_server_settings_are_committed():
    config = tomllib.loads((ROOT / ".streamlit" / "config.toml").read_text(encoding="utf-8"))
    assert config["server"]["enableXsrfProtection"] is True
    assert config["server"]["allowedHosts"], "a host allow-list guards against DNS rebinding"
    assert "*" not in config["server"]["allowedHosts"]
    assert config["client"]["showErrorDetails"] == "none"
    assert config["client"]["disableDataExport"] is True
    assert config["browser"]["gatherUsageStats"] is False
    assert "cookieSecret" not in config["server"], "the cookie secret comes from the environment"


def _store(tmp_path):
    folder = tmp_path / "in"
    rows = [[QUOTE, "Quote ' Corp", "SMB", "pro", "EU", "c'sm@example.com", "", 1000, 10, "2024-01-01", "2025-12-31"],
            ["A2", "Plain", "SMB", "pro", "EU", "other@example.com", "", 1000, 10, "2024-01-01", "2025-12-31"]]
    write_csv(folder / "accounts.csv", ACCOUNT_COLS, rows)
    write_csv(folder / "usage_events.csv", EVENT_COLS, [[r[0], "2024-06-01T09:00:00", "login", "u1", 1] for r in rows])
    db = tmp_path / "cs.duckdb"
    import_dir(folder, db, history=False)
    return DataStore(db)


def test_quotes_in_ids_names_and_owners_are_values_never_sql(tmp_path):
    ds = _store(tmp_path)
    try:
        everyone = Scope.everyone()
        # an injection attempt finds nothing and breaks nothing; the real id finds exactly itself
        assert account.find_accounts(ds, scope=everyone, text="' OR '1'='1").empty
        assert account.account_facts(ds, scope=everyone, account_id="A2' OR '1'='1") is None
        assert account.account_facts(ds, scope=everyone, account_id=QUOTE)["name"] == "Quote ' Corp"
        found = account.find_accounts(ds, scope=everyone, text="quote '")
        assert found.account_id.tolist() == [QUOTE]
        # a scope whose owner holds a quote sees their account and nobody else's
        mine = Scope.for_owners({"c'sm@example.com"})
        assert account.find_accounts(ds, scope=mine, text="plain").empty
        assert account.account_facts(ds, scope=mine, account_id=QUOTE) is not None
        attrs = portfolio.account_attributes(ds, scope=mine)
        assert attrs.index.tolist() == [QUOTE]
    finally:
        ds.close()
