"""The walk-forward split of calibration: which as-of dates a fit trains on, which judge it, and
the leakage rule between them.

Why it is shaped like this:

- **Walk forward with a purge.** Weights are fitted on earlier dates and judged on later ones. A
  training date's outcomes run to T + H (H the horizon), so the last training date + H must not
  pass the first judged date; otherwise the judged period's outcomes would already be in the fit.
  A split given by its first judged date (``judge_from``, the command's ``--judge-from``) that
  breaks this is refused (``LeakError``), never silently trimmed; the default split (the last
  third judged) purges the training dates too close to the judged ones, and says which.
- **Apart from the fit.** The same rule splits the outer dates (``calibrate``) and the training
  dates again to choose the L2 strength (``calibrate.choose_l2``), so it lives here, on dates and
  backtests only, and knows nothing of the fit.
"""
from __future__ import annotations

import dataclasses
import datetime as dt
import math
from collections.abc import Sequence
from dataclasses import dataclass

from .errors import DataError
from .validate import Backtest

JUDGED_SHARE = 1 / 3  # default split: the last third of the dates is judged


class LeakError(DataError):
    """A walk-forward split whose training outcomes reach into the judged period."""


@dataclass(frozen=True)
class Split:
    train: tuple[dt.date, ...]
    purged: tuple[dt.date, ...]  # between the two, left out so no training outcome is judged
    judged: tuple[dt.date, ...]


def split_dates(dates: Sequence[dt.date], *, horizon: int, judge_from: dt.date | None = None) -> Split:
    """Walk-forward split. With ``judge_from``: dates on or after it are judged, the earlier ones
    trained on, and a training date with ``T + horizon > first judged date`` is refused
    (``LeakError``). Without it: the last third of the dates (at least one) is judged, and the
    earlier dates too close to it are purged (listed in ``purged``)."""
    ds = sorted(set(dates))
    if judge_from is None:
        judged = ds[len(ds) - max(1, math.ceil(len(ds) * JUDGED_SHARE)):]
        early = [d for d in ds if d < judged[0]] if judged else []
        train = [d for d in early if d + dt.timedelta(days=horizon) <= judged[0]]
        purged = [d for d in early if d not in train]
    else:
        judged = [d for d in ds if d >= judge_from]
        train, purged = [d for d in ds if d < judge_from], []
        leaky = [d for d in train if judged and d + dt.timedelta(days=horizon) > judged[0]]
        if leaky:
            raise LeakError(
                f"leaky split refused: training date {leaky[0]} + {horizon} days = "
                f"{leaky[0] + dt.timedelta(days=horizon)} passes the first judged date {judged[0]}, so "
                f"its outcomes would be judged too; train only on dates up to "
                f"{judged[0] - dt.timedelta(days=horizon)} or judge from a later date")
    if not train or not judged:
        raise DataError(f"calibration needs dates to train on and later dates to judge on, at least "
                        f"{horizon} days apart; got {len(train)} to train on and {len(judged)} to judge "
                        f"(give more --as-of dates, or a longer mrr_history)")
    return Split(tuple(train), tuple(purged), tuple(judged))


def only_dates(bt: Backtest, dates: Sequence[dt.date]) -> Backtest:
    """The backtest restricted to ``dates``."""
    keep = set(dates)
    return dataclasses.replace(bt, dates=tuple(p for p in bt.dates if p.as_of in keep))
