"""Normalisation: each signal's raw value becomes a 0..1 score, 1 = best, within its peer group.

Why it is shaped like this:

- **A registry of methods** (``METHODS``), one function per method, its formula in its docstring.
  The profile names a method per signal; the tests run every property over every entry, so a new
  method is tested the moment it is registered.
- **Peer groups without a loop per account.** ``Normalisation.peer`` is ``"segment"`` (compared with
  the accounts of the same ``segment`` value; accounts without a segment form one group together)
  or ``"book"`` (all accounts). Every method works on the whole column at once: the values are
  sorted by (group, value) once, and per-group figures (counts, percentiles, means) come from
  segmented operations (``np.bincount``, run boundaries), so the cost is one sort per signal.
- **Missing stays missing.** A non-finite raw value (NaN, +-inf) is missing: it is left out of its
  peers' figures and its score is NaN. What a missing value does to the scores is decided in
  ``scoring.scores`` (one rule, documented there).
- **Direction.** Methods compute "higher raw is better"; for a ``direction = "lower"`` signal the
  result is ``1 - score``. For ``percentile`` and ``minmax`` that is exactly the score of ``-value``;
  for ``logz`` it is the score of the mirrored z (``-z``), which keeps the log step meaningful
  (``log1p(max(-x, 0))`` would send every positive count to the floor). ``grid`` is the exception:
  its points are written by a person as "how good" (100 = best), so they are used as written and
  the direction is not applied a second time.
- **Computed once, read many times.** ``normalise`` returns a ``Normalised`` whose arrays are
  read-only, so a cache can hand out the same object without copying it (copying 1M x 6 floats per
  read costs more than re-scoring). Alongside the matrix it keeps what re-weighting needs: the
  matrix with missing values as 0, column-major (``X @ w`` is 2.5x faster that way here), and the
  present-mask of the rows that have a missing value, as a few distinct patterns.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from .profile import Normalisation, Profile

LOGISTIC_SCALE = 1.702  # 1 / (1 + exp(-1.702 z)) is within 0.01 of the normal CDF everywhere
_STD_EPS = 1e-12  # relative: a spread below this (float noise of equal values) counts as none


@dataclass(frozen=True)
class Peers:
    """Peer groups of the rows: ``codes[i]`` in ``0..count-1`` is row i's group."""

    codes: np.ndarray
    count: int

    @classmethod
    def book(cls, n: int) -> Peers:
        return cls(np.zeros(n, dtype=np.int32), 1 if n else 0)

    @classmethod
    def of(cls, labels: pd.Series | np.ndarray) -> Peers:
        """One group per distinct label; missing labels (None/NaN) form one group together."""
        codes, uniques = pd.factorize(pd.Series(labels), use_na_sentinel=False)
        return cls(codes.astype(np.int32, copy=False), len(uniques))


@dataclass(frozen=True)
class _Sorted:
    """The finite values sorted by (group, value), with where each group starts and its size."""

    rows: np.ndarray  # original row of each sorted value
    values: np.ndarray
    groups: np.ndarray
    start: np.ndarray  # per group: first position in the sorted arrays
    size: np.ndarray  # per group: number of finite values


def _sort_by_group(x: np.ndarray, peers: Peers) -> _Sorted:
    rows = np.flatnonzero(np.isfinite(x))
    v = x[rows]
    order = np.argsort(v)
    if peers.count > 1:
        # a stable sort on the small-integer group codes keeps the value order inside each group;
        # two sorts are 2x faster than np.lexsort here
        g = peers.codes[rows][order]
        order = order[np.argsort(g, kind="stable")]
    rows, v = rows[order], v[order]
    g = peers.codes[rows]
    size = np.bincount(g, minlength=peers.count)
    start = np.concatenate(([0], np.cumsum(size)[:-1]))
    return _Sorted(rows, v, g, start, size)


def _group_quantile(s: _Sorted, q: float) -> np.ndarray:
    """Per group, the q-quantile of its finite values, linear interpolation (numpy's default):
    at position ``(n - 1) * q`` of the sorted values, between the two neighbouring values. NaN for
    an empty group."""
    out = np.full(len(s.size), np.nan)
    has = s.size > 0
    pos = (s.size[has] - 1) * q
    lo = np.floor(pos).astype(np.intp)
    hi = np.minimum(lo + 1, s.size[has] - 1)
    frac = pos - lo
    base = s.start[has]
    a, b = s.values[base + lo], s.values[base + hi]
    out[has] = a + (b - a) * frac
    return out


def percentile(x: np.ndarray, peers: Peers, spec: Normalisation) -> np.ndarray:
    """Mid-rank percentile among the peers with a value.

    ``score = (count of peers below x + 0.5 * count of peers equal to x) / n``, where the counts
    include the account itself among the equal ones and ``n`` is the number of peers with a value.
    A lone peer scores 0.5; ties share one score; scores lie in (0, 1).
    """
    out = np.full(len(x), np.nan)
    s = _sort_by_group(x, peers)
    n = len(s.values)
    if n == 0:
        return out
    run_start = np.ones(n, dtype=bool)  # a run = equal values in one group
    run_start[1:] = (s.values[1:] != s.values[:-1]) | (s.groups[1:] != s.groups[:-1])
    starts = np.flatnonzero(run_start)
    lengths = np.diff(np.append(starts, n))
    below = np.repeat(starts, lengths) - s.start[s.groups]
    equal = np.repeat(lengths, lengths)
    out[s.rows] = (below + 0.5 * equal) / s.size[s.groups]
    return out


def minmax(x: np.ndarray, peers: Peers, spec: Normalisation) -> np.ndarray:
    """Min-max scaling between the peers' 5th and 95th percentiles, capped.

    ``score = clip((x - p5) / (p95 - p5), 0, 1)``, with p5 and p95 the linearly interpolated
    percentiles of the peers' values (as ``np.percentile``). When ``p5 == p95`` (no spread) every
    peer scores 0.5. Capping at the percentiles keeps one outlier from squashing everyone else.
    """
    out = np.full(len(x), np.nan)
    s = _sort_by_group(x, peers)
    if len(s.values) == 0:
        return out
    p5, p95 = _group_quantile(s, 0.05)[s.groups], _group_quantile(s, 0.95)[s.groups]
    spread = p95 - p5
    with np.errstate(divide="ignore", invalid="ignore"):
        scaled = np.clip((s.values - p5) / spread, 0.0, 1.0)
    out[s.rows] = np.where(spread > 0, scaled, 0.5)
    return out


def _logz(x: np.ndarray, peers: Peers) -> np.ndarray:
    """The z of ``log1p(max(x, 0))`` among the peers (population std; no spread -> 0)."""
    z = np.full(len(x), np.nan)
    ok = np.isfinite(x)
    y = np.log1p(np.maximum(x[ok], 0.0))
    g = peers.codes[ok]
    n = np.bincount(g, minlength=peers.count)
    with np.errstate(divide="ignore", invalid="ignore"):
        mean = np.bincount(g, weights=y, minlength=peers.count) / n
        dev = y - mean[g]  # two passes: the one-pass E[y^2] - E[y]^2 loses small spreads
        std = np.sqrt(np.bincount(g, weights=dev * dev, minlength=peers.count) / n)
        flat = std <= _STD_EPS * np.abs(mean)
        z[ok] = np.where(flat[g], 0.0, dev / std[g])
    return z


def logz(x: np.ndarray, peers: Peers, spec: Normalisation) -> np.ndarray:
    """Log, then z-score among the peers, then a normal-CDF-like squash (Fighting Churn with Data).

    ``y = log1p(max(x, 0))``; ``z = (y - mean(y)) / std(y)`` over the peers with a value
    (population std; when the peers' values are all equal, z = 0); ``score = 1 / (1 + exp(-1.702 z))``,
    the logistic approximation of the normal CDF. The log tames the long tail of usage counts;
    negative values (trend signals) count as 0 before the log.
    """
    with np.errstate(over="ignore"):
        return 1.0 / (1.0 + np.exp(-LOGISTIC_SCALE * _logz(x, peers)))


def grid(x: np.ndarray, peers: Peers, spec: Normalisation) -> np.ndarray:
    """Threshold grid: value ranges to points, as ChurnZero and Gainsight scorecards do.

    ``spec.grid = ((b1, p1), (b2, p2), ...)`` with increasing bounds: ``x <= b1`` scores p1, else
    ``x <= b2`` scores p2, ...; above the last bound, the last points. ``score = points / 100``.
    No peers are involved. The points say how good a range is, so the direction is not applied.
    """
    if not spec.grid:
        raise ValueError("normalisation 'grid' needs at least one (upper_bound, points) pair")
    bounds = np.array([float(b) for b, _ in spec.grid])
    points = np.array([float(p) for _, p in spec.grid])
    if np.any(np.diff(bounds) <= 0) or not np.all(np.isfinite(points)) \
            or np.any((points < 0) | (points > 100)) or np.any(np.isnan(bounds)):
        raise ValueError(f"grid {spec.grid!r}: bounds must increase and points lie in 0..100")
    at = np.minimum(np.searchsorted(bounds, x, side="left"), len(bounds) - 1)
    return np.where(np.isfinite(x), points[at] / 100.0, np.nan)


NormMethod = Callable[[np.ndarray, Peers, Normalisation], np.ndarray]

METHODS: dict[str, NormMethod] = {
    "percentile": percentile,
    "minmax": minmax,
    "logz": logz,
    "grid": grid,
}
DIRECTION_APPLIES = {"percentile": True, "minmax": True, "logz": True, "grid": False}


def normalise_values(x: np.ndarray, peers: Peers, spec: Normalisation, *,
                     direction: str = "higher") -> np.ndarray:
    """One signal's raw values -> 0..1 (1 = best), NaN where the raw value is not finite.

    ``direction = "lower"`` gives ``1 - score`` (see the module docstring; not for ``grid``).
    """
    try:
        method = METHODS[spec.method]
    except KeyError:
        raise ValueError(f"unknown normalisation {spec.method!r}; known: {', '.join(METHODS)}") from None
    if direction not in ("higher", "lower"):
        raise ValueError(f"unknown direction {direction!r}; known: higher, lower")
    x = np.asarray(x, dtype=np.float64)
    if spec.method == "logz" and direction == "lower":
        with np.errstate(over="ignore"):  # mirror z rather than 1 - squash(z): the same, but exact
            return 1.0 / (1.0 + np.exp(LOGISTIC_SCALE * _logz(x, peers)))
    score = method(x, peers, spec)
    if direction == "lower" and DIRECTION_APPLIES[spec.method]:
        score = 1.0 - score
    return score


@dataclass(frozen=True)
class Normalised:
    """The 0..1 matrix of one book: rows = accounts (``index``), columns = ``signals``.

    All arrays are read-only. ``filled`` is ``matrix`` with NaN as 0 (X0), column-major. The
    present-mask M (1.0 present, 0.0 missing) is kept only where it is not all ones:
    ``missing_rows`` lists the rows with at least one NaN, ``patterns`` holds each distinct mask row
    among them (at most 2^k) and ``pattern_of`` which one each missing row has. So ``M @ s`` costs a
    product with a handful of rows and one gather, whatever the book's size.
    """

    matrix: np.ndarray
    signals: tuple[str, ...]
    index: pd.Index
    filled: np.ndarray
    missing_rows: np.ndarray
    patterns: np.ndarray
    pattern_of: np.ndarray

    @classmethod
    def from_matrix(cls, matrix: np.ndarray, signals: tuple[str, ...] | list[str],
                    index: pd.Index | None = None) -> Normalised:
        """Wrap a 0..1 matrix (NaN = missing) and precompute what re-weighting needs."""
        m = np.asfortranarray(matrix, dtype=np.float64)
        if m.ndim != 2 or m.shape[1] != len(signals):
            raise ValueError(f"matrix shape {m.shape} does not match {len(signals)} signals")
        if m is matrix:
            m = m.copy(order="F")  # never freeze the caller's array
        present = ~np.isnan(m)
        filled = np.asfortranarray(np.where(present, m, 0.0))
        missing_rows = np.flatnonzero(~present.all(axis=1))
        patterns, pattern_of = np.unique(present[missing_rows], axis=0, return_inverse=True)
        patterns = np.ascontiguousarray(patterns, dtype=np.float64).reshape(-1, m.shape[1])
        pattern_of = pattern_of.reshape(-1).astype(np.intp)
        idx = pd.RangeIndex(len(m)) if index is None else pd.Index(index)
        if len(idx) != len(m):
            raise ValueError(f"index of {len(idx)} rows for a matrix of {len(m)}")
        for a in (m, filled, missing_rows, patterns, pattern_of):
            a.flags.writeable = False
        return cls(m, tuple(signals), idx, filled, missing_rows, patterns, pattern_of)

    def frame(self) -> pd.DataFrame:
        """The matrix as a DataFrame (a copy), for display and explanations."""
        return pd.DataFrame(np.array(self.matrix), index=self.index, columns=list(self.signals))


def normalise(inputs: pd.DataFrame, profile: Profile) -> Normalised:
    """Normalise every profile signal of the inputs frame (see ``docs/SCORING.md``).

    Reads the column named after each signal (raw, direction not applied) and, for
    ``peer = "segment"``, the ``segment`` column. Returns a read-only ``Normalised`` in the row
    order of ``inputs``.
    """
    names = [s.name for s in profile.signals]
    absent = [c for c in names if c not in inputs.columns]
    if absent:
        raise ValueError(f"inputs frame lacks signal column(s): {', '.join(absent)}")
    n = len(inputs)
    book = Peers.book(n)
    segment: Peers | None = None
    m = np.empty((n, len(names)), dtype=np.float64, order="F")
    for j, sig in enumerate(profile.signals):
        spec = sig.normalisation
        if spec.peer == "segment":
            if segment is None:
                if "segment" not in inputs.columns:
                    raise ValueError("inputs frame lacks the 'segment' column (peer = 'segment')")
                segment = Peers.of(inputs["segment"])
            peers = segment
        elif spec.peer == "book":
            peers = book
        else:
            raise ValueError(f"signal {sig.name!r}: unknown peer {spec.peer!r}; known: segment, book")
        raw = pd.to_numeric(inputs[sig.name], errors="raise").to_numpy(dtype=np.float64, na_value=np.nan)
        m[:, j] = normalise_values(raw, peers, spec, direction=sig.direction)
    return Normalised.from_matrix(m, names, inputs.index)
