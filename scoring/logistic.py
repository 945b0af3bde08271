"""The constrained logistic fit behind ``calibrate``, and its many refits for the bootstrap.

Per observation the model is ``P(retained) = sigmoid(b + sum_j beta_j x_j)``; the fit minimises
the L2-regularised logistic loss ``mean(log(1 + exp(z)) - r z) + (L2 / 2) sum_j beta_j^2`` (``z =
b + x . beta``, ``r`` = 1 when retained; the intercept not penalised) under ``beta_j >= 0`` with
``scipy.optimize.minimize(method="L-BFGS-B")``: a constrained fit, never an unconstrained one with
its negatives clipped (the KKT conditions hold at the optimum; a test checks them). Readable
weights are ``100 * beta / sum(beta)`` rounded by largest remainder to add up to exactly 100.
``refit_many`` refits for many observation weightings at once (a bootstrap's resamples) by a
vectorised projected Newton method, checked against L-BFGS-B.

Pure NumPy and SciPy on arrays: what the observations are (signals, dates, accounts) is
``calibrate``'s business.
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy.optimize import minimize
from scipy.special import expit

from .errors import DataError

L2 = 0.01  # on the mean loss: scikit-learn's C = 1 / (L2 * n); used when none can be chosen
NEWTON_TOL = 1e-7  # bootstrap refits stop below this projected gradient
NEWTON_EPS = 1e-6  # coefficients this close to 0 may be held there (the epsilon-active set)
NEWTON_CELLS = 2_000_000  # observations x refits per block of bootstrap refits


def loss_and_grad(params: np.ndarray, x: np.ndarray, retained: np.ndarray, l2: float,
                  weight: np.ndarray | None = None) -> tuple[float, np.ndarray]:
    """The loss of the module docstring and its gradient; ``params = (b, beta_1, ..., beta_k)``.
    ``weight``: one per observation (a bootstrap's count of its account); the mean is then the
    weighted mean ``sum_i w_i l_i / sum_i w_i``, the same as repeating each observation w_i times."""
    b, beta = params[0], params[1:]
    z = b + x @ beta
    per = np.logaddexp(0.0, z) - retained * z
    resid = 0.5 * (1.0 + np.tanh(0.5 * z)) - retained  # sigmoid(z) - r, stably
    if weight is None:
        mean, resid = float(np.mean(per)), resid / len(z)
    else:
        total = float(weight.sum())
        mean, resid = float(weight @ per) / total, resid * weight / total
    loss = mean + float(0.5 * l2 * beta @ beta)
    return loss, np.concatenate(([resid.sum()], x.T @ resid + l2 * beta))


@dataclass(frozen=True)
class LogisticFit:
    intercept: float
    coef: np.ndarray
    loss: float
    gradient: np.ndarray  # at the optimum, for (b, beta): the KKT check
    converged: bool


def fit_nonneg_logistic(x: np.ndarray, retained: np.ndarray, *, l2: float = L2,
                        sample_weight: np.ndarray | None = None, start: np.ndarray | None = None
                        ) -> LogisticFit:
    """Minimise ``loss_and_grad`` under ``beta >= 0`` (L-BFGS-B; the intercept unbounded).
    ``sample_weight``: per observation, >= 0 (those at 0 are left out before the fit); ``start``:
    ``(b, beta)`` to start from (default: the base rate's log-odds and beta = 0)."""
    r = np.asarray(retained, dtype=np.float64)
    w = None
    if sample_weight is not None:
        sw = np.asarray(sample_weight, dtype=np.float64)
        keep = sw > 0
        x, r, w = x[keep], r[keep], sw[keep]
    if start is None:
        rate = (float(np.average(r, weights=w)) if len(r) else 0.5)
        rate = min(max(rate, 1e-6), 1 - 1e-6)
        start = np.concatenate(([math.log(rate / (1 - rate))], np.zeros(x.shape[1])))
    res = minimize(loss_and_grad, start, args=(x, r, l2, w), jac=True, method="L-BFGS-B",
                   bounds=[(None, None)] + [(0.0, None)] * x.shape[1],
                   options={"maxiter": 2000, "ftol": 1e-15, "gtol": 1e-10})
    _, grad = loss_and_grad(res.x, x, r, l2, w)
    return LogisticFit(float(res.x[0]), res.x[1:].copy(), float(res.fun), grad, bool(res.success))


def readable_weights(coef: np.ndarray, names: Sequence[str]) -> dict[str, float]:
    """``100 * coef / sum(coef)`` as whole numbers adding up to 100 (largest remainder)."""
    c = np.asarray(coef, dtype=np.float64)
    if not np.isfinite(c).all() or c.sum() <= 0:
        raise DataError("no signal predicts retention on the training dates (every fitted weight "
                        "is 0): the current weights are kept; check the signals' directions")
    raw = 100.0 * c / c.sum()
    whole = np.floor(raw)
    extra = int(round(100 - whole.sum()))
    whole[np.argsort(-(raw - whole), kind="stable")[:extra]] += 1
    return {n: float(w) for n, w in zip(names, whole)}


def account_counts(accounts: np.ndarray, resamples: int, rng: np.random.Generator
                   ) -> tuple[np.ndarray, np.ndarray]:
    """Cluster bootstrap draws: the distinct accounts ``K`` of ``accounts`` (one label per row)
    are drawn ``K`` times with replacement per resample. Returns ``(counts, ids)``: ``counts`` is
    ``resamples x K``, how often each account was drawn, and ``ids`` each row's account, so
    ``counts[r][ids]`` weighs every row of an account by its account's count: all of an account's
    dates come in (or stay out) together."""
    _, ids = np.unique(np.asarray(accounts).astype(str), return_inverse=True)
    k = int(ids.max()) + 1 if len(ids) else 0
    draws = rng.integers(0, max(k, 1), size=(resamples, k))
    counts = np.zeros((resamples, k), dtype=np.int64)
    np.add.at(counts, (np.repeat(np.arange(resamples), k), draws.ravel()), 1)
    return counts, ids


def refit_many(x: np.ndarray, retained: np.ndarray, weights: np.ndarray, *, l2: float,
               start: np.ndarray, tol: float = NEWTON_TOL, max_iter: int = 50) -> np.ndarray:
    """The fit of ``fit_nonneg_logistic`` for many observation weightings at once: row ``r`` of
    ``weights`` (``resamples x n``, >= 0) weighs the observations of refit ``r``. Returns
    ``resamples x (1 + k)``: ``(b, beta)`` per refit.

    Vectorised projected Newton (Bertsekas 1982) over all refits together, every one starting at
    ``start`` (the full fit, close to each refit's optimum, so a few steps do): per step, the
    gradient and Hessian of every refit come from matrix products over the observations; the
    coefficients at (or within ``NEWTON_EPS`` of) 0 with a positive gradient stay where they are
    and the Newton step is solved on the others; the step is halved until the loss falls enough
    (Armijo, along the projection onto beta >= 0). A refit stops when its projected gradient (0
    where a coefficient at 0 is pushed outward) is below ``tol``; one that does not within
    ``max_iter`` steps, or finds no decrease, is finished by L-BFGS-B (``fit_nonneg_logistic``)
    from where it stands. Refits go in blocks so an observations x refits array stays near
    ``NEWTON_CELLS`` numbers."""
    n, k = x.shape
    y = np.asarray(retained, dtype=bool)
    xa = np.hstack([np.ones((n, 1)), x])
    xat = np.ascontiguousarray(xa.T)
    iu, ju = np.triu_indices(k + 1)
    pairs = xa[:, iu] * xa[:, ju]  # n x (pairs): the Hessians' entries as one matrix product
    pen = np.concatenate(([0.0], np.full(k, l2)))
    diag = np.arange(k + 1)
    out = np.empty((len(weights), k + 1))
    block = max(1, NEWTON_CELLS // max(n, 1))

    def at(t: np.ndarray, w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The probabilities of retention (refits x n) and the loss of each refit at ``t``: the
        loss from one log per cell, ``-log(p)`` where retained and ``-log(1 - p)`` where not."""
        p = expit(t @ xat)
        return p, -np.einsum("cn,cn->c", w, np.log(np.where(y, p, 1.0 - p))) + 0.5 * (t * t) @ pen

    for lo in range(0, len(weights), block):
        w = np.asarray(weights[lo:lo + block], dtype=np.float64)
        w = w / w.sum(axis=1, keepdims=True)  # refits x n, each refit's weights summing to 1
        th = np.tile(np.asarray(start, dtype=np.float64), (len(w), 1))
        p, f = at(th, w)
        live = np.arange(len(w))
        lbfgs: list[int] = []
        for _ in range(max_iter):
            t, wl, pl = th[live], w[live], p[live]
            g = (wl * (pl - y)) @ xa + t * pen
            pg = g.copy()
            pg[:, 1:] = np.where(t[:, 1:] <= 0.0, np.minimum(g[:, 1:], 0.0), g[:, 1:])
            size = np.abs(pg).max(axis=1)
            keep = size >= tol
            live, t, g, wl, pl, size = live[keep], t[keep], g[keep], wl[keep], pl[keep], size[keep]
            if not len(live):
                break
            hold = np.zeros_like(t, dtype=bool)
            hold[:, 1:] = (t[:, 1:] <= np.minimum(NEWTON_EPS, size)[:, None]) & (g[:, 1:] > 0)
            hv = (wl * pl * (1.0 - pl)) @ pairs
            h = np.zeros((len(live), k + 1, k + 1))
            h[:, iu, ju] = hv
            h[:, ju, iu] = hv
            h += np.diag(pen)
            h *= ~hold[:, :, None] & ~hold[:, None, :]
            h[:, diag, diag] += hold  # identity on the held coefficients: their step is 0
            d = -np.linalg.solve(h, np.where(hold, 0.0, g)[:, :, None])[:, :, 0]
            step = np.ones(len(live))
            todo = np.arange(len(live))
            for _ in range(40):
                cand = t[todo] + step[todo, None] * d[todo]
                cand[:, 1:] = np.maximum(cand[:, 1:], 0.0)
                cols = live[todo]
                pc, fc = at(cand, w[cols])
                good = fc <= f[cols] + 1e-4 * ((cand - t[todo]) * g[todo]).sum(axis=1)
                th[cols[good]], p[cols[good]], f[cols[good]] = cand[good], pc[good], fc[good]
                step[todo[~good]] *= 0.5
                todo = todo[~good]
                if not len(todo):
                    break
            if len(todo):  # no decrease found: left to L-BFGS-B
                lbfgs += live[todo].tolist()
                live = np.setdiff1d(live, live[todo])
        for c in lbfgs + live.tolist():  # not settled by Newton: finished by L-BFGS-B
            fit = fit_nonneg_logistic(x, y, l2=l2, sample_weight=w[c], start=th[c])
            th[c] = np.concatenate(([fit.intercept], fit.coef))
        out[lo:lo + block] = th
    return out
