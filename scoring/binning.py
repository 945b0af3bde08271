"""Health bins: 0..100 scores counted in equal bins per band code, and which band each bin lies in.

The what-if path (``scores.whatif``) and ``scores.histogram`` count the book per (band, health
bin) on every slider move; these are the two pieces of arithmetic they share. Why apart and shaped
like this:

- **One ``np.bincount``, no loop.** A (code, bin) pair is one integer key, so the counts of every
  band's histogram come from a single pass over the book.
- **Exact edges.** A score's bin is ``floor(score / width)``: a division, not a product with
  ``1 / width``, so a whole-point threshold such as 40 or 70 lands exactly on its edge; a score of
  exactly 100 belongs to the last bin, as with ``np.histogram``. ``bin_bands`` says when both band
  thresholds lie on bin edges, so the bins can be banded instead of the accounts (exact for every
  double, argued in its docstring).
"""
from __future__ import annotations

import numpy as np

from .profile import Bands


def band_histogram(health: np.ndarray, codes: np.ndarray, bins: int, unknown: np.ndarray,
                   n_codes: int) -> np.ndarray:
    """Counts per (code ``0..n_codes - 1``, health bin) from one ``np.bincount``; column ``bins``
    counts the accounts without health (``unknown``: their positions, which the caller knows)."""
    b = np.divide(health, 100.0 / bins)  # a division, not a product: exact edges for whole points
    b[unknown] = bins + 1
    key = np.multiply(codes, bins + 2, dtype=np.intp)
    key += b.astype(np.intp)  # the floor, for values >= 0
    counts = np.bincount(key, minlength=n_codes * (bins + 2)).reshape(n_codes, bins + 2)
    counts[:, bins - 1] += counts[:, bins]  # a score of exactly 100 belongs to the last bin
    return np.delete(counts, bins, axis=1)


def bin_bands(bands: Bands, bins: int) -> np.ndarray | None:
    """The band code of each health bin ``0..bins`` (bin ``bins``: exactly 100) when both
    thresholds fall on bin edges, so every bin lies in one band; None otherwise.

    Exact for every double h: ``h < t  <=>  floor(h / width) < t / width`` holds for all h once it
    holds at ``t`` and at the double just below ``t``, because correctly rounded division is monotone.
    """
    width = 100.0 / bins
    edges = []
    for t in (bands.at_risk_below, bands.healthy_from):
        k = t / width
        if not (0 <= t <= 100 and k == np.floor(k)) or np.floor(np.nextafter(t, -np.inf) / width) >= k:
            return None
        edges.append(k)
    i = np.arange(bins + 1)
    return (i >= edges[0]).astype(np.intp) + (i >= edges[1])
