"""Why an account's health moved between two dates, split into its own change, its peers' and the
profile's. Pure functions over scored books (``scoring.current``); ``scoring.account.compare``
scores the dates and words the result.

The change in health between a book before (date t0, profile p0) and after (t1, p1) is split per
signal and component into

    profile  = C(t1, p1) - C(t1, p0)             the profile change, 0 when p1 == p0
    own      = C(hybrid) - C(t0, p0)              the account's own change: the t0 book with only
                                                 this account's inputs replaced by its t1 inputs
    peers    = C(t1, p0) - C(hybrid)              the shift among its peers (normalisation moved)

``C`` being the item's contribution to health (``explain.health_contributions``); the three add
up to the change item by item, so the sum over items equals the change in health (to float
precision).
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from .current import Book, score_inputs
from .explain import COMPONENT_LABELS, health_contributions
from .normalize import Normalised, Peers, normalise_values
from .profile import Profile


def why_moved(before: Book, after: Book, account_id: str, *,
              after_old_profile: Book | None = None) -> pd.DataFrame:
    """The change in health of one account from ``before`` to ``after``, split per signal and
    component into ``own``, ``peers`` and ``profile`` (formulas: module docstring).

    ``after_old_profile``: the ``after`` date scored with ``before``'s profile; needed when the
    two profiles differ (ValueError otherwise). Columns: item, label, before, after, own, peers,
    profile, change. The ``change`` column adds up to the change in health.
    """
    if account_id not in before.scores.index:
        raise KeyError(f"account {account_id!r} was not active on {before.as_of}: no earlier score to compare")
    if account_id not in after.scores.index:
        raise KeyError(f"account {account_id!r} is not active on {after.as_of}")
    same = _same_profile(before.profile, after.profile)
    if after_old_profile is None:
        if not same:
            raise ValueError("the profiles differ: pass after_old_profile (the later date scored "
                             "with the earlier profile) to tell the profile change apart")
        after_old_profile = after
    a0 = health_contributions(before, pd.Index([account_id])).iloc[0]
    a1 = health_contributions(after, pd.Index([account_id])).iloc[0]
    a1_old = health_contributions(after_old_profile, pd.Index([account_id])).iloc[0]
    hybrid = _hybrid(before, after_old_profile, account_id)
    ah = health_contributions(hybrid, pd.Index([account_id])).iloc[0]
    items = list(dict.fromkeys([*a0.index, *a1.index]))
    labels = {s.name: s.label for s in (*before.profile.signals, *after.profile.signals)}
    labels.update(COMPONENT_LABELS)
    get = lambda s, k: float(s.get(k, 0.0))  # noqa: E731 (an item a profile lacks contributes 0)
    rows = []
    for k in items:
        rows.append({"item": k, "label": labels.get(k, k), "before": get(a0, k), "after": get(a1, k),
                     "own": get(ah, k) - get(a0, k), "peers": get(a1_old, k) - get(ah, k),
                     "profile": get(a1, k) - get(a1_old, k)})
    out = pd.DataFrame(rows)
    out["change"] = out["after"] - out["before"]
    return out


def _same_profile(a: Profile, b: Profile) -> bool:
    return a.name == b.name and a.version == b.version and a == b


def _hybrid(before: Book, after: Book, account_id: str) -> Book:
    """The ``before`` book with only ``account_id``'s inputs replaced by its ``after`` inputs, as
    a book of that one account's row (all ``why_moved`` reads of it).

    Not an approximation, and no need to re-score the whole book: once normalised, every score of
    an account is a function of its own row (``scores.score_book``), and its normalised value of a
    signal depends only on the values of its peer group (its segment, or the book), each group
    being normalised on its own (``scoring.normalize``). So each signal is normalised over the
    account's peer group alone, in book order, with the account's value replaced: the same
    arithmetic in the same order as normalising the whole hybrid book, so the same values bit for
    bit; the scores then agree up to float rounding (a one-row matrix product sums in another
    order). ``tests/test_explain.py`` holds the two equal. About 40 ms at 100,000 accounts, against
    about 140 ms for re-scoring the whole book.
    """
    inputs, profile = before.inputs, before.profile
    at = inputs.index.get_loc(account_id)
    row = after.inputs.loc[[account_id], inputs.columns].astype(inputs.dtypes.to_dict())
    group = {"book": np.arange(len(inputs)), "segment": _segment_rows(before, at)}
    m = np.empty((1, len(profile.signals)))
    for j, sig in enumerate(profile.signals):
        spec = sig.normalisation
        if spec.peer not in group:
            raise ValueError(f"signal {sig.name!r}: unknown peer {spec.peer!r}; known: {', '.join(group)}")
        rows = group[spec.peer]
        x = before.memo(("explain.numbers", sig.name), lambda: _numbers(inputs[sig.name]))[rows]  # a copy
        here = int(np.searchsorted(rows, at))
        x[here] = _numbers(row[sig.name])[0]
        m[0, j] = normalise_values(x, Peers.book(len(x)), spec, direction=sig.direction)[here]
    normalised = Normalised.from_matrix(m, [s.name for s in profile.signals], row.index)
    _, scores = score_inputs(row, profile, normalised)
    return Book(before.as_of, profile, row, normalised, scores, "hybrid", before.catalogue)


def _segment_rows(book: Book, at: int) -> np.ndarray:
    """The positions of the accounts in the same segment as the account at ``at``, in book order,
    grouped as ``normalise`` groups them (``Peers.of``); kept with the book per segment."""
    codes = book.memo("explain.segments", lambda: Peers.of(book.inputs["segment"]).codes)
    code = int(codes[at])
    return book.memo(("explain.segment", code), lambda: np.flatnonzero(codes == code))


def _numbers(values: pd.Series) -> np.ndarray:
    """A signal column as ``normalise`` reads it."""
    return pd.to_numeric(values, errors="raise").to_numpy(dtype=np.float64, na_value=np.nan)


__all__ = ["why_moved"]
