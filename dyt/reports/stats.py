"""The statistics every report uses: mean ± std over seeds, Welch's t-test, the equivalence test (TOST), the
significance level and the equivalence margins."""

from __future__ import annotations

import math

import numpy as np

ALPHA = 0.05  # significance level of every verdict
# "matches": the difference of means lies within +-margin, shown by two one-sided tests (TOST) at ALPHA
EQUIVALENCE_MARGIN = {"val/loss": 0.02, "val/acc1": 0.5}  # nats of loss, points of top-1 accuracy


def metric_unit(metric: str) -> str:
    """What a difference of ``metric`` is counted in: nats for a loss, points for an accuracy."""
    return "nats" if metric.endswith("loss") else "points"


def mean_std(values) -> tuple[float, float]:
    values = np.asarray([v for v in values if v is not None and math.isfinite(v)], dtype=float)
    if len(values) == 0:
        return math.nan, math.nan
    return float(values.mean()), float(values.std(ddof=1)) if len(values) > 1 else 0.0


def welch(a, b) -> tuple[float, float]:
    """Welch's t statistic and two-sided p-value of mean(b) - mean(a)."""
    from scipy import stats

    a, b = np.asarray(a, float), np.asarray(b, float)
    if len(a) < 2 or len(b) < 2:
        return math.nan, math.nan
    res = stats.ttest_ind(b, a, equal_var=False)
    return float(res.statistic), float(res.pvalue)


def tost(a, b, margin: float) -> float:
    """p-value of the two one-sided Welch tests that mean(b) - mean(a) lies within (-margin, +margin): below
    ``ALPHA`` the two arms are equivalent within the margin (nan with fewer than 2 values per arm)."""
    from scipy import stats

    a, b = np.asarray(a, float), np.asarray(b, float)
    if len(a) < 2 or len(b) < 2:
        return math.nan
    va, vb = a.var(ddof=1) / len(a), b.var(ddof=1) / len(b)
    diff = b.mean() - a.mean()
    if va + vb == 0:
        return 0.0 if abs(diff) < margin else 1.0
    se = math.sqrt(va + vb)
    df = (va + vb) ** 2 / (va ** 2 / (len(a) - 1) + vb ** 2 / (len(b) - 1))
    p_low = stats.t.sf((diff + margin) / se, df)  # H0: diff <= -margin
    p_high = stats.t.cdf((diff - margin) / se, df)  # H0: diff >= +margin
    return float(max(p_low, p_high))
