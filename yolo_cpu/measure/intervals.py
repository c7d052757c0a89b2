"""95% confidence intervals: Student-t intervals of ratios from paired or unpaired timing slices (on
the log scale, so a ratio's interval is a ratio's), seeded bootstrap resampling weights, percentile
intervals, and where an interval stands against a budget."""
from __future__ import annotations

import math
from typing import Sequence

import numpy as np

LEVEL = 0.95
# Student-t 97.5% quantiles for 1..30 degrees of freedom; beyond 30 a Cornish-Fisher expansion.
_T975 = (12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.160, 2.145,
         2.131, 2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048,
         2.045, 2.042)
_Z975 = 1.959964


def t975(df: float) -> float:
    """The 97.5% quantile of Student's t with df degrees of freedom (two-sided 95%)."""
    if df < 1:
        raise ValueError(f"a t interval needs at least 1 degree of freedom, got {df}")
    if df <= 30 and float(df).is_integer():
        return _T975[int(df) - 1]
    z = _Z975
    return z + (z**3 + z) / (4 * df) + (5 * z**5 + 16 * z**3 + 3 * z) / (96 * df**2)


def log_ratio_interval(num: Sequence[float], den: Sequence[float], paired: bool = True
                       ) -> tuple[float, float, float]:
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
