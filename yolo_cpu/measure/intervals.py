"""95% confidence intervals: Student-t intervals of ratios from paired or unpaired timing slices (on
the log scale, so a ratio's interval is a ratio's), seeded bootstrap resampling weights, percentile
intervals, and where an interval stands against a budget."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

LEVEL = 0.95
# Student-t 97.5% quantiles for 1..30 degrees of freedom; beyond 30 a Cornish-Fisher expansion.
_T975 = (
    12.706,
    4.303,
    3.182,
    2.776,
    2.571,
    2.447,
    2.365,
    2.306,
    2.262,
    2.228,
    2.201,
    2.179,
    2.160,
    2.145,
    2.131,
    2.120,
    2.110,
    2.101,
    2.093,
    2.086,
    2.080,
    2.074,
    2.069,
    2.064,
    2.060,
    2.056,
    2.052,
    2.048,
    2.045,
    2.042,
)
_Z975 = 1.959964


def t975(df: float) -> float:
    """The 97.5% quantile of Student's t with df degrees of freedom (two-sided 95%)."""
    if df < 1:
        raise ValueError(f"a t interval needs at least 1 degree of freedom, got {df}")
    if df <= 30 and float(df).is_integer():
        return _T975[int(df) - 1]
    z = _Z975
    return z + (z**3 + z) / (4 * df) + (5 * z**5 + 16 * z**3 + 3 * z) / (96 * df**2)


def log_ratio_interval(num: Sequence[float], den: Sequence[float], paired: bool = True) -> tuple[float, float, float]:
    """(ratio, lo, hi): the geometric-mean ratio num/den and its 95% interval. Paired: num[i] and
    den[i] were measured in the same slice, so the interval comes from the per-slice log ratios;
    unpaired: Welch's interval of the difference of mean logs. NaN bounds with too few slices."""
    a, b = np.log(np.asarray(num, dtype=np.float64)), np.log(np.asarray(den, dtype=np.float64))
    if paired:
        if a.size != b.size:
            raise ValueError(f"paired slices differ in number: {a.size} and {b.size}")
        d = a - b
        centre = float(d.mean())
        if d.size < 2:
            return math.exp(centre), math.nan, math.nan
        half = t975(d.size - 1) * float(d.std(ddof=1)) / math.sqrt(d.size)
    else:
        centre = float(a.mean() - b.mean())
        if a.size < 2 or b.size < 2:
            return math.exp(centre), math.nan, math.nan
        va, vb = a.var(ddof=1) / a.size, b.var(ddof=1) / b.size
        se2 = va + vb
        if se2 == 0:
            return math.exp(centre), math.exp(centre), math.exp(centre)
        df = se2**2 / (va**2 / (a.size - 1) + vb**2 / (b.size - 1))
        half = t975(max(1.0, df)) * math.sqrt(se2)
    return math.exp(centre), math.exp(centre - half), math.exp(centre + half)


def relative_halfwidth(ratio: float, lo: float, hi: float) -> float:
    """Half the interval's width over the ratio (inf when the interval is undefined)."""
    if math.isnan(lo) or math.isnan(hi):
        return math.inf
    return (hi - lo) / 2 / ratio


def log_spread(values: Sequence[float]) -> float:
    """Standard deviation of the logs: the relative spread of positive figures (0.05 ~ 5%)."""
    v = np.log(np.asarray(values, dtype=np.float64))
    return float(v.std(ddof=1)) if v.size > 1 else 0.0


def resample_counts(n: int, resamples: int, seed: int) -> np.ndarray:
    """(resamples, n) multiplicities of a bootstrap: each row draws n items with replacement."""
    rng = np.random.default_rng(seed)
    return rng.multinomial(n, np.full(n, 1.0 / n), size=resamples).astype(np.float64)


def percentile_interval(samples: np.ndarray, axis: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """The 2.5th and 97.5th percentiles of bootstrap samples along `axis` (NaNs ignored)."""
    lo, hi = np.nanpercentile(samples, [100 * (1 - LEVEL) / 2, 100 * (1 + LEVEL) / 2], axis=axis)
    return lo, hi


def against_budget(lo: float, hi: float, budget: float) -> str:
    """Where an interval of a loss stands against its budget: 'within' when all of it is at or under
    the budget, 'over' when all of it is above, else 'not separable'."""
    if hi <= budget:
        return "within"
    if lo > budget:
        return "over"
    return "not separable"


def separable(lo: float, hi: float) -> bool:
    """A ratio's interval excludes 1 (no change)."""
    return not (math.isnan(lo) or math.isnan(hi)) and (hi < 1.0 or lo > 1.0)


def quantile_ranks(n: int, q: float, level: float = LEVEL) -> tuple[int | None, int | None]:
    """1-based ranks (l, u) of the distribution-free interval [x_(l), x_(u)] for the q-quantile of n
    sorted samples: P(x_(l) <= true quantile <= x_(u)) >= level, from the Binomial(n, q) count of
    samples below it, each tail at most (1 - level) / 2. None where a bound does not exist (too few
    samples: the p99 of 200 queries has no upper bound at 95%)."""
    if n < 1 or not 0 < q < 1:
        raise ValueError(f"quantile_ranks: n = {n}, q = {q}")
    k = np.arange(n + 1)
    log_pmf = (
        np.array([math.lgamma(n + 1) - math.lgamma(i + 1) - math.lgamma(n - i + 1) for i in k])
        + k * math.log(q)
        + (n - k) * math.log1p(-q)
    )
    cdf = np.cumsum(np.exp(log_pmf))  # cdf[i] = P(B <= i)
    tail = (1 - level) / 2
    below = np.nonzero(cdf <= tail)[0]  # P(B <= l - 1) <= tail: l - 1 is the last such index
    low = int(below[-1]) + 1 if below.size else None
    above = np.nonzero(1 - cdf <= tail)[0]  # P(B >= u) = 1 - P(B <= u - 1) <= tail
    high = int(above[0]) + 1 if above.size and above[0] + 1 <= n else None
    return (low if low is not None and low <= n else None), high


def quantile_interval(
    values: Sequence[float], q: float, level: float = LEVEL
) -> tuple[float, float | None, float | None]:
    """The q-quantile of `values` (the nearest-rank order statistic, as MLPerf's LoadGen reports it)
    and its distribution-free interval (None for a bound that n samples cannot give)."""
    x = np.sort(np.asarray(values, float))
    n = x.size
    est = float(x[min(n - 1, max(0, math.ceil(q * n) - 1))])
    lo_rank, hi_rank = quantile_ranks(n, q, level)
    return est, (float(x[lo_rank - 1]) if lo_rank else None), (float(x[hi_rank - 1]) if hi_rank else None)
