"""Means with 95 % bootstrap intervals, and paired differences between methods.

>>> import numpy as np
>>> interval = bootstrap_interval(np.arange(10.0), seed=0)
>>> interval.mean, interval.low < 4.5 < interval.high, interval.n
(4.5, True, 10)

Every method is scored on the same documents (a seeded sample, saved by id), one value
per document. An interval is the percentile bootstrap of the mean: ``resamples`` draws of
the documents with replacement from ``numpy.random.default_rng(seed)`` (one call,
``integers(0, n, size=(resamples, n))``), the ``(1 − level)/2`` and ``(1 + level)/2``
quantiles of their means. A paired difference resamples documents, not values, so both
methods are measured on the same draw each time: its interval is far narrower than the two
intervals side by side suggest when the methods agree on which documents are hard.
Documents whose value is NaN (no order changes the output, say) are left out, pairwise.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from doclrp.errors import DoclrpError

__all__ = ["Interval", "bootstrap_interval", "paired_difference", "RESAMPLES", "LEVEL"]

RESAMPLES = 2000
LEVEL = 0.95


@dataclass(frozen=True)
class Interval:
    """A mean over ``n`` documents and its bootstrap interval ``[low, high]``."""

    mean: float
    low: float
    high: float
    n: int

    def as_dict(self) -> dict[str, float | int]:
        return {"mean": self.mean, "low": self.low, "high": self.high, "n": self.n}


def bootstrap_interval(values, *, seed: int = 0, resamples: int = RESAMPLES, level: float = LEVEL) -> Interval:
    """The mean of ``values`` (NaN left out) with its percentile bootstrap interval."""
    if isinstance(resamples, bool) or int(resamples) != resamples or resamples < 1:
        raise DoclrpError(f"resamples must be a positive integer, got {resamples!r}")
    if not 0 < level < 1:
        raise DoclrpError(f"level must lie between 0 and 1, got {level!r}")
    values = np.asarray(values, dtype=np.float64).reshape(-1)
    values = values[~np.isnan(values)]
    if values.size == 0:
        return Interval(math.nan, math.nan, math.nan, 0)
    draws = np.random.default_rng(seed).integers(0, values.size, size=(int(resamples), values.size))
    means = values[draws].mean(1)
    low, high = np.quantile(means, [(1 - level) / 2, (1 + level) / 2])
    return Interval(float(values.mean()), float(low), float(high), int(values.size))


def paired_difference(a, b, *, seed: int = 0, resamples: int = RESAMPLES, level: float = LEVEL) -> Interval:
    """Mean of ``a − b`` over the documents (same order in both) with its bootstrap interval.

    >>> paired_difference([3.0, 5.0, 7.0], [1.0, 3.0, 5.0]).as_dict()
    {'mean': 2.0, 'low': 2.0, 'high': 2.0, 'n': 3}
    """
    a, b = np.asarray(a, dtype=np.float64).reshape(-1), np.asarray(b, dtype=np.float64).reshape(-1)
    if a.shape != b.shape:
        raise DoclrpError(f"paired values need the same documents: {a.size} and {b.size} values")
    return bootstrap_interval(a - b, seed=seed, resamples=resamples, level=level)
