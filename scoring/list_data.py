"""The outreach lists' reads from the data store: everything ``scoring.lists.build_list`` needs
besides the scored book, gathered into one ``ListData`` by ``read_list_data``.

That is the stored score history of the profile version in use (for the 30-day change and the
alert-fatigue rule of ``scoring.list_history``, read back ``lookback`` days), each account's
renewal date and primary contact, the features used in the window (breadth, for profiles without
a breadth signal) and the fitted churn-risk model (``scoring.risk``; None when there is too little
history, and the lists then use the stated stand-in).

Shape: the SQL readers take the ``DataStore`` and the viewer's ``Scope`` and bind every value;
everything after them is pure (``build_list(book, data, feedback, settings, scope=...)``), tested
without a store. ``ListData`` itself is defined in ``scoring.lists``, beside the function that
consumes it, so the dependency runs one way: this module imports ``lists``, never back.
"""
from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

import pandas as pd

from .list_history import CHANGE_DAYS, CHANGE_TOLERANCE
from .lists import MIN_DAYS_IN_BAND, ListData
from .scope import Scope

if TYPE_CHECKING:
    from .profile import Profile
    from .store import DataStore

HORIZON_DAYS = 90


def lookback(settings_days: int) -> int:
    """Days of score history a list reads: enough for the N-day rule's anchor and the 30-day change."""
    return max(settings_days, CHANGE_DAYS + CHANGE_TOLERANCE) + 35


def read_snapshots(ds: "DataStore", *, scope: Scope, profile: str, version: int,
                   since: dt.date, until: dt.date) -> pd.DataFrame:
    """Stored scores of one profile version with ``since <= as_of < until``, visible accounts."""
    where, params = scope.account_filter()
    cols = ["as_of", "account_id", "health_score", "band"]
    if "score_snapshots" not in ds.tables():
        return pd.DataFrame({c: [] for c in cols})
    return ds.df("SELECT as_of, account_id, health_score, band FROM score_snapshots "
                 "WHERE profile = ? AND profile_version = ? AND as_of >= ? AND as_of < ? AND " + where +
                 " ORDER BY as_of, account_id", [profile, version, since, until, *params])


def read_renewals(ds: "DataStore", *, scope: Scope) -> pd.Series:
    where, params = scope.account_filter()
    df = ds.df("SELECT account_id, renewal_date FROM accounts WHERE " + where, params)
    return df.set_index("account_id")["renewal_date"]


def read_contacts(ds: "DataStore", *, scope: Scope) -> pd.DataFrame:
    """Each account's primary contact: ``is_primary`` first, then by name and email; empty when
    there is no contacts table."""
    empty = pd.DataFrame({"contact_name": pd.Series(dtype="str"), "contact_email": pd.Series(dtype="str")},
                         index=pd.Index([], dtype="str", name="account_id"))
    if "contacts" not in ds.tables():
        return empty
    where, params = scope.account_filter()
    df = ds.df("SELECT account_id, name AS contact_name, email AS contact_email FROM ("
               " SELECT *, row_number() OVER (PARTITION BY account_id ORDER BY coalesce(is_primary, false) DESC,"
               " name NULLS LAST, email NULLS LAST) AS n FROM contacts WHERE " + where + ") WHERE n = 1",
               params)
    return df.set_index("account_id") if len(df) else empty


def read_features_used(ds: "DataStore", *, scope: Scope, as_of: dt.date, window_days: int,
                       catalogue: pd.DataFrame) -> pd.Series:
    """Distinct features used per account in the window ``[as_of - window, as_of)`` (breadth for
    profiles without a breadth signal); the catalogue maps event types to features."""
    where, params = scope.account_filter("e.account_id")
    start = dt.datetime.combine(as_of - dt.timedelta(days=window_days), dt.time())
    df = ds.df("WITH cat AS (SELECT unnest(?::VARCHAR[]) AS event_type, unnest(?::VARCHAR[]) AS feature) "
               "SELECT e.account_id, count(DISTINCT coalesce(cat.feature, e.event_type)) AS n "
               "FROM usage_events AS e LEFT JOIN cat USING (event_type) "
               "WHERE e.occurred_at >= ? AND e.occurred_at < ? AND " + where + " GROUP BY e.account_id",
               [catalogue["event_type"].astype("str").tolist(),
                catalogue["feature"].fillna(catalogue["event_type"]).astype("str").tolist(),
                start, dt.datetime.combine(as_of, dt.time()), *params])
    return df.set_index("account_id")["n"].astype("float64")


def fit_churn(ds: "DataStore", profile: "Profile", horizon: int = HORIZON_DAYS):
    """The churn-risk model for ``profile`` (``scoring.risk``), or None when the module is absent
    or there is too little history: the lists then use the stand-in."""
    try:
        from .risk import fit_churn_risk
    except ImportError:
        return None
    with ds.cursor() as con:
        return fit_churn_risk(con, profile, horizon=horizon)


def read_list_data(ds: "DataStore", *, scope: Scope, profile: "Profile", as_of: dt.date,
                   catalogue: pd.DataFrame, history_days: int = MIN_DAYS_IN_BAND) -> ListData:
    """Everything ``build_list`` needs from the store for one profile and date."""
    snaps = read_snapshots(ds, scope=scope, profile=profile.name, version=profile.version or 0,
                           since=as_of - dt.timedelta(days=lookback(history_days)), until=as_of)
    has_breadth = any(s.dimension == "breadth" for s in profile.signals)
    features = (pd.Series([], dtype="float64") if has_breadth else
                read_features_used(ds, scope=scope, as_of=as_of, window_days=profile.window_days,
                                   catalogue=catalogue))
    return ListData(snaps, read_renewals(ds, scope=scope), read_contacts(ds, scope=scope), features,
                    fit_churn(ds, profile))


__all__ = ["HORIZON_DAYS", "fit_churn", "lookback", "read_contacts", "read_features_used", "read_list_data",
           "read_renewals", "read_snapshots"]
